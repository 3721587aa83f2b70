//! Reading barcodes back from hostile input: the images embedded in a PDF
//! and grayscale rasters, decoded with `rxing`.
//!
//! Owns: extracting and decoding images from PDFs (`decode_qr_from_pdf`)
//! and finding QR / DataMatrix codes in grayscale rasters
//! (`decode_qr_from_luma`), with their limits (`IMAGE_PIXELS_MAX`,
//! `PDF_IMAGES_MAX`).
//! Must not: run in the daemon's process (the intake calls it only inside
//! the decode worker, [`super::worker`], under its memory and CPU limits),
//! interpret the texts (that is `identify`), touch files.
//!
//! Image filters decoded in PDFs: none (raw), FlateDecode (with predictors),
//! LZWDecode, RunLengthDecode, ASCIIHexDecode, ASCII85Decode (through lopdf),
//! DCTDecode (JPEG, through `jpeg-decoder`) and CCITTFaxDecode (Group 3 and 4,
//! through `hayro-ccitt`). Not decoded: JPXDecode (JPEG 2000) and JBIG2Decode;
//! such images are reported in [`DecodeError::ImageNotDecoded`] when no
//! other image in the file carries a QR code.

use std::collections::HashSet;

use lopdf::{Document, Object, ObjectId, Stream};

/// Largest image (width × height) that is decoded, in a PDF or as a raster:
/// A4 at 600 dpi is 35 Mpx, so this leaves room and still bounds memory.
pub const IMAGE_PIXELS_MAX: u64 = 80_000_000;
/// Images of a PDF that are searched for a QR code, in object order; the
/// cover sheet is the first page, so a long scan need not be searched to the end.
pub const PDF_IMAGES_MAX: usize = 32;
/// Smallest image side that can hold a QR code (version 1 is 21 modules).
pub const IMAGE_SIDE_PIXELS_MIN: u32 = 21;

/// Why a PDF or a raster could not be searched for a barcode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("not a readable PDF: {reason}")]
    PdfRead { reason: String },
    #[error(
        "no QR code found, and image object {object} could not be decoded \
         ({images_undecoded} undecoded in all): {reason}"
    )]
    ImageNotDecoded {
        object: String,
        images_undecoded: usize,
        reason: String,
    },
    #[error("raster {width}x{height} needs {bytes_expected} bytes of luma, got {bytes_actual}")]
    RasterSize {
        width: u32,
        height: u32,
        bytes_expected: u64,
        bytes_actual: usize,
    },
    #[error("raster {width}x{height} has more than {IMAGE_PIXELS_MAX} pixels")]
    RasterTooLarge { width: u32, height: u32 },
    #[error("QR decoder failed on a {width}x{height} raster: {reason}")]
    QrDecode {
        width: u32,
        height: u32,
        reason: String,
    },
}

/// Decodes the QR code (or, failing that, a DataMatrix code) in a
/// grayscale raster (one byte per pixel, 0 = black, rows top to bottom).
/// Returns the texts found: empty when there is none; at most one per
/// raster in this version.
pub fn decode_qr_from_luma(
    width: u32,
    height: u32,
    luma: &[u8],
) -> Result<Vec<String>, DecodeError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > IMAGE_PIXELS_MAX {
        return Err(DecodeError::RasterTooLarge { width, height });
    }
    if pixels != luma.len() as u64 {
        return Err(DecodeError::RasterSize {
            width,
            height,
            bytes_expected: pixels,
            bytes_actual: luma.len(),
        });
    }
    if width < IMAGE_SIDE_PIXELS_MIN || height < IMAGE_SIDE_PIXELS_MIN {
        return Ok(Vec::new());
    }
    use rxing::BarcodeFormat::{DATA_MATRIX, QR_CODE};
    // A page scanned at 300 dpi has QR modules of ~35 pixels: a 2x2 box
    // average keeps them ~17 pixels wide, quarters the work and dilutes
    // salt-and-pepper noise, so it is tried first on large rasters.
    if u64::from(width) * u64::from(height) >= DOWNSAMPLE_PIXELS_MIN {
        let (w2, h2, half) = box_2x2(width as usize, height as usize, luma);
        let texts = decode_once(w2, h2, &half, QR_CODE)?;
        if !texts.is_empty() {
            return Ok(texts);
        }
    }
    let texts = decode_once(width, height, luma, QR_CODE)?;
    if !texts.is_empty() {
        return Ok(texts);
    }
    // Salt-and-pepper noise (dust, paper fibres) breaks the run lengths of
    // the finder patterns that rxing counts: 1 % of noisy pixels already hides
    // the code. A median filter removes it.
    let filtered = median_3x3(width as usize, height as usize, luma);
    let texts = decode_once(width, height, &filtered, QR_CODE)?;
    if !texts.is_empty() {
        return Ok(texts);
    }
    // Some scanning stations print their own cover sheets with a DataMatrix.
    let texts = decode_once(width, height, luma, DATA_MATRIX)?;
    if !texts.is_empty() {
        return Ok(texts);
    }
    decode_once(width, height, &filtered, DATA_MATRIX)
}

/// Rasters of at least this many pixels are first decoded at half size.
const DOWNSAMPLE_PIXELS_MIN: u64 = 4_000_000;

/// Halves a raster in both directions (mean of each 2x2 block).
fn box_2x2(width: usize, height: usize, luma: &[u8]) -> (u32, u32, Vec<u8>) {
    let (w2, h2) = (width / 2, height / 2);
    let mut out = Vec::with_capacity(w2 * h2);
    for y in 0..h2 {
        let (r0, r1) = (&luma[2 * y * width..], &luma[(2 * y + 1) * width..]);
        for x in 0..w2 {
            let sum = u16::from(r0[2 * x])
                + u16::from(r0[2 * x + 1])
                + u16::from(r1[2 * x])
                + u16::from(r1[2 * x + 1]);
            out.push((sum / 4) as u8);
        }
    }
    (w2 as u32, h2 as u32, out)
}

/// One rxing pass for one symbology over a raster whose size has been
/// checked.
fn decode_once(
    width: u32,
    height: u32,
    luma: &[u8],
    format: rxing::BarcodeFormat,
) -> Result<Vec<String>, DecodeError> {
    let mut hints = rxing::DecodeHints {
        TryHarder: Some(true),
        ..Default::default()
    };
    match rxing::helpers::detect_in_luma_slice_with_hints(
        luma,
        width,
        height,
        Some(format),
        &mut hints,
    ) {
        Ok(result) => Ok(vec![result.getText().to_owned()]),
        // Nothing that looks like a code, or one too damaged to read: both
        // mean "no code on this raster", which the caller handles.
        Err(
            rxing::Exceptions::NotFoundException(_)
            | rxing::Exceptions::ChecksumException(_)
            | rxing::Exceptions::FormatException(_)
            | rxing::Exceptions::ReedSolomonException(_),
        ) => Ok(Vec::new()),
        Err(error) => Err(DecodeError::QrDecode {
            width,
            height,
            reason: error.to_string(),
        }),
    }
}

/// Median of three.
fn median_3(a: u8, b: u8, c: u8) -> u8 {
    a.min(b).max(a.max(b).min(c))
}

/// Separable 3×3 median filter (a 3×1 median of each row, then a 1×3 median
/// of each column): removes isolated dark and light pixels while keeping the
/// straight edges of QR modules, at a fraction of a full 3×3 median's cost.
/// The border pixels keep their values.
fn median_3x3(width: usize, height: usize, luma: &[u8]) -> Vec<u8> {
    let mut rows = luma.to_vec();
    if width < 3 || height < 3 {
        return rows;
    }
    for (row, out) in luma.chunks_exact(width).zip(rows.chunks_exact_mut(width)) {
        for x in 1..width - 1 {
            out[x] = median_3(row[x - 1], row[x], row[x + 1]);
        }
    }
    let mut filtered = rows.clone();
    for y in 1..height - 1 {
        let above = &rows[(y - 1) * width..y * width];
        let row = &rows[y * width..(y + 1) * width];
        let below = &rows[(y + 1) * width..(y + 2) * width];
        let out = &mut filtered[y * width..(y + 1) * width];
        for x in 0..width {
            out[x] = median_3(above[x], row[x], below[x]);
        }
    }
    filtered
}

/// Decodes the QR codes in the images embedded in `pdf` (image XObjects in
/// object order, at most [`PDF_IMAGES_MAX`]). Returns each text once, in the
/// order found; empty when the PDF has no image with a QR code.
///
/// An image that cannot be decoded (an unsupported filter, corrupt data) is
/// skipped; only when no QR code was found at all is the first such image
/// reported as [`DecodeError::ImageNotDecoded`], so the caller knows the
/// search was incomplete.
pub fn decode_qr_from_pdf(pdf: &[u8]) -> Result<Vec<String>, DecodeError> {
    let images = pdf_images(pdf)?;
    let mut texts = Vec::new();
    let mut seen = HashSet::new();
    let mut undecoded: Option<(ObjectId, String)> = None;
    let mut images_undecoded = 0;
    for image in images {
        match image {
            Ok(raster) => {
                for text in decode_qr_from_luma(raster.width, raster.height, &raster.luma)? {
                    if seen.insert(text.clone()) {
                        texts.push(text);
                    }
                }
            }
            Err((id, reason)) => {
                images_undecoded += 1;
                undecoded.get_or_insert((id, reason));
            }
        }
    }
    match undecoded {
        Some(((number, generation), reason)) if texts.is_empty() => {
            Err(DecodeError::ImageNotDecoded {
                object: format!("{number} {generation} R"),
                images_undecoded,
                reason,
            })
        }
        _ => Ok(texts),
    }
}

/// A decoded image: one luma byte per pixel, 0 = black.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LumaRaster {
    width: u32,
    height: u32,
    luma: Vec<u8>,
}

/// An image of a PDF decoded to luma, or its object id and why not.
type PdfImage = Result<LumaRaster, (ObjectId, String)>;

/// The image XObjects of `pdf`, in object order, decoded to luma. Images
/// too small to hold a QR code are left out.
fn pdf_images(pdf: &[u8]) -> Result<Vec<PdfImage>, DecodeError> {
    let doc = Document::load_mem(pdf).map_err(|error| DecodeError::PdfRead {
        reason: error.to_string(),
    })?;
    let mut images = Vec::new();
    for (id, object) in &doc.objects {
        let Ok(stream) = object.as_stream() else {
            continue;
        };
        let subtype = stream.dict.get(b"Subtype").and_then(Object::as_name);
        if subtype.ok() != Some(b"Image".as_slice()) {
            continue;
        }
        if images.len() == PDF_IMAGES_MAX {
            break;
        }
        match image_to_luma(&doc, stream) {
            Ok(Some(raster)) => images.push(Ok(raster)),
            Ok(None) => {}
            Err(reason) => images.push(Err((*id, reason))),
        }
    }
    Ok(images)
}

/// Integer entry of a dictionary, or `default` when absent.
fn dict_int(dict: &lopdf::Dictionary, key: &[u8], default: i64) -> Result<i64, String> {
    match dict.get(key) {
        Ok(object) => object
            .as_i64()
            .map_err(|error| format!("/{}: {error}", String::from_utf8_lossy(key))),
        Err(_) => Ok(default),
    }
}

fn dict_bool(dict: &lopdf::Dictionary, key: &[u8], default: bool) -> bool {
    dict.get(key).and_then(Object::as_bool).unwrap_or(default)
}

/// How the components of an image map to luma.
enum ColorModel {
    /// Gray (1), RGB (3) or CMYK (4) components per pixel.
    Direct { components: usize },
    /// One index per pixel into a palette of `base_components`-sized entries.
    Indexed {
        base_components: usize,
        palette: Vec<u8>,
    },
}

/// The number of components of a colour space that is not Indexed.
fn base_components(doc: &Document, space: &Object) -> Result<usize, String> {
    let space = doc.dereference(space).map_err(|error| error.to_string())?.1;
    let name = match space {
        Object::Name(name) => name.as_slice(),
        Object::Array(array) => match array.first() {
            Some(Object::Name(name)) => name.as_slice(),
            _ => return Err("malformed /ColorSpace array".to_owned()),
        },
        _ => return Err("malformed /ColorSpace".to_owned()),
    };
    match name {
        b"DeviceGray" | b"CalGray" | b"G" => Ok(1),
        b"DeviceRGB" | b"CalRGB" | b"Lab" | b"RGB" => Ok(3),
        b"DeviceCMYK" | b"CMYK" => Ok(4),
        b"ICCBased" => {
            let stream = match space {
                Object::Array(array) => array.get(1),
                _ => None,
            }
            .ok_or("ICCBased without a profile")?;
            let profile = doc
                .dereference(stream)
                .map_err(|error| error.to_string())?
                .1
                .as_stream()
                .map_err(|error| error.to_string())?;
            match dict_int(&profile.dict, b"N", 0)? {
                components @ (1 | 3 | 4) => Ok(components as usize),
                other => Err(format!("ICCBased profile with /N {other}")),
            }
        }
        other => Err(format!(
            "colour space /{} not supported",
            String::from_utf8_lossy(other)
        )),
    }
}

fn color_model(doc: &Document, dict: &lopdf::Dictionary) -> Result<ColorModel, String> {
    let Ok(space) = dict.get(b"ColorSpace") else {
        // Image masks and JPEG/JPX images may leave the colour space out.
        return Ok(ColorModel::Direct { components: 1 });
    };
    let space = doc.dereference(space).map_err(|error| error.to_string())?.1;
    let indexed = match space {
        Object::Array(array) => match array.first() {
            Some(Object::Name(name)) if name == b"Indexed" || name == b"I" => Some(array),
            _ => None,
        },
        _ => None,
    };
    let Some(array) = indexed else {
        return Ok(ColorModel::Direct {
            components: base_components(doc, space)?,
        });
    };
    let [_, base, _, lookup] = array.as_slice() else {
        return Err("/Indexed colour space without 4 entries".to_owned());
    };
    let base_components = base_components(doc, base)?;
    let palette = match doc
        .dereference(lookup)
        .map_err(|error| error.to_string())?
        .1
    {
        Object::String(bytes, _) => bytes.clone(),
        Object::Stream(stream) => stream
            .decompressed_content_with_limit(256 * 4)
            .or_else(|_| stream.get_plain_content_with_limit(256 * 4))
            .map_err(|error| format!("palette: {error}"))?,
        _ => return Err("malformed /Indexed lookup".to_owned()),
    };
    Ok(ColorModel::Indexed {
        base_components,
        palette,
    })
}

/// Luma of one colour with components scaled to 0..=255.
fn luma_of(components: &[u8]) -> u8 {
    match *components {
        [gray] => gray,
        [r, g, b] => ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8,
        [c, m, y, k] => {
            let gray = (u32::from(c) * 299 + u32::from(m) * 587 + u32::from(y) * 114) / 1000;
            255 - (gray + u32::from(k)).min(255) as u8
        }
        _ => 255,
    }
}

/// Decodes one image XObject to luma. `Ok(None)` for images too small to
/// hold a QR code.
fn image_to_luma(doc: &Document, stream: &Stream) -> Result<Option<LumaRaster>, String> {
    let dict = &stream.dict;
    let width = dict_int(dict, b"Width", 0)?;
    let height = dict_int(dict, b"Height", 0)?;
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(format!("image size {width}x{height}"));
    };
    if u64::from(width) * u64::from(height) > IMAGE_PIXELS_MAX {
        return Err(format!(
            "image {width}x{height} has more than {IMAGE_PIXELS_MAX} pixels"
        ));
    }
    if width < IMAGE_SIDE_PIXELS_MIN || height < IMAGE_SIDE_PIXELS_MIN {
        return Ok(None);
    }
    let filters: Vec<Vec<u8>> = match dict.get(b"Filter") {
        Ok(Object::Name(name)) => vec![name.clone()],
        Ok(Object::Array(names)) => names
            .iter()
            .map(|name| name.as_name().map(<[u8]>::to_vec))
            .collect::<Result<_, _>>()
            .map_err(|error| format!("/Filter: {error}"))?,
        Ok(_) => return Err("malformed /Filter".to_owned()),
        Err(_) => Vec::new(),
    };
    // Generous bound for the generic filters' output: 4 bytes per pixel plus
    // compressed image data (JPEG, fax) that is never larger than that.
    let bytes_max = (u64::from(width) * u64::from(height) * 4 + 4096) as usize;
    let image_filter = match filters.last().map(Vec::as_slice) {
        Some(
            name @ (b"DCTDecode" | b"DCT" | b"CCITTFaxDecode" | b"CCF" | b"JPXDecode"
            | b"JBIG2Decode"),
        ) => Some(name.to_vec()),
        _ => None,
    };
    let params_of = |index: usize| -> Option<&lopdf::Dictionary> {
        let params = dict.get(b"DecodeParms").ok()?;
        let params = doc.dereference(params).ok()?.1;
        match params {
            Object::Array(array) => array
                .get(index)
                .and_then(|param| doc.dereference(param).ok())
                .and_then(|(_, param)| param.as_dict().ok()),
            Object::Dictionary(params) => (index == 0).then_some(params),
            _ => None,
        }
    };
    let data = if image_filter.is_some() && filters.len() == 1 {
        if stream.content.len() > bytes_max {
            return Err("image data larger than its pixels".to_owned());
        }
        stream.content.clone()
    } else {
        let mut generic = stream.clone();
        if image_filter.is_some() {
            let kept = filters.len() - 1;
            generic.dict.set(
                "Filter",
                Object::Array(
                    filters[..kept]
                        .iter()
                        .map(|name| Object::Name(name.clone()))
                        .collect(),
                ),
            );
            let params: Vec<Object> = (0..kept)
                .map(|index| {
                    params_of(index)
                        .map_or(Object::Null, |params| Object::Dictionary(params.clone()))
                })
                .collect();
            generic.dict.set("DecodeParms", Object::Array(params));
        }
        generic
            .decompressed_content_with_limit(bytes_max)
            .map_err(|error| format!("decompressing: {error}"))?
    };

    let image_mask = dict_bool(dict, b"ImageMask", false) || dict_bool(dict, b"IM", false);
    // /Decode [1 0] for one-component images inverts the samples (common
    // for CCITT scans and image masks).
    let inverted = match dict.get(b"Decode").and_then(Object::as_array) {
        Ok(decode) => matches!(
            decode.first().map(Object::as_float),
            Some(Ok(first)) if first > 0.5
        ),
        Err(_) => false,
    };
    let width_px = width as usize;
    let height_px = height as usize;
    let luma = match image_filter.as_deref() {
        Some(b"DCTDecode" | b"DCT") => jpeg_luma(&data, width_px, height_px)?,
        Some(b"CCITTFaxDecode" | b"CCF") => {
            let params = params_of(filters.len() - 1);
            ccitt_luma(&data, params, width, height)?
        }
        Some(other) => {
            return Err(format!(
                "filter /{} not supported",
                String::from_utf8_lossy(other)
            ))
        }
        None => {
            let (model, bits) = if image_mask {
                (ColorModel::Direct { components: 1 }, 1)
            } else {
                (
                    color_model(doc, dict)?,
                    dict_int(dict, b"BitsPerComponent", 8)?,
                )
            };
            samples_luma(&data, &model, bits, width_px, height_px)?
        }
    };
    let luma = if inverted && !matches!(image_filter.as_deref(), Some(b"DCTDecode" | b"DCT")) {
        luma.into_iter().map(|value| 255 - value).collect()
    } else {
        luma
    };
    Ok(Some(LumaRaster {
        width,
        height,
        luma,
    }))
}

/// Unpacks raw samples (1, 2, 4, 8 or 16 bits per component, rows padded to
/// whole bytes) to luma.
fn samples_luma(
    data: &[u8],
    model: &ColorModel,
    bits: i64,
    width: usize,
    height: usize,
) -> Result<Vec<u8>, String> {
    let bits = match bits {
        1 | 2 | 4 | 8 | 16 => bits as usize,
        other => return Err(format!("/BitsPerComponent {other}")),
    };
    let samples_per_pixel = match model {
        ColorModel::Direct { components } => *components,
        ColorModel::Indexed { .. } => 1,
    };
    let row_bytes = (width * samples_per_pixel * bits).div_ceil(8);
    if data.len() < row_bytes * height {
        return Err(format!(
            "image data has {} bytes, {width}x{height} needs {}",
            data.len(),
            row_bytes * height
        ));
    }
    let max_sample = (1_u32 << bits.min(8)) - 1;
    let sample = |row: &[u8], index: usize| -> u32 {
        match bits {
            8 => u32::from(row[index]),
            16 => u32::from(row[index * 2]),
            _ => {
                let bit = index * bits;
                let byte = row[bit / 8];
                let shift = 8 - bits - bit % 8;
                (u32::from(byte) >> shift) & max_sample
            }
        }
    };
    let mut luma = Vec::with_capacity(width * height);
    let mut color = [0_u8; 4];
    for row in data.chunks(row_bytes).take(height) {
        for x in 0..width {
            let value = match model {
                ColorModel::Direct { components } => {
                    for (component, slot) in color.iter_mut().enumerate().take(*components) {
                        let raw = sample(row, x * components + component);
                        *slot = (raw * 255 / max_sample) as u8;
                    }
                    luma_of(&color[..*components])
                }
                ColorModel::Indexed {
                    base_components,
                    palette,
                } => {
                    let index = sample(row, x) as usize * base_components;
                    match palette.get(index..index + base_components) {
                        Some(entry) => luma_of(entry),
                        None => 255,
                    }
                }
            };
            luma.push(value);
        }
    }
    Ok(luma)
}

/// Decodes a JPEG (DCTDecode) stream to luma.
fn jpeg_luma(data: &[u8], width: usize, height: usize) -> Result<Vec<u8>, String> {
    let mut decoder = jpeg_decoder::Decoder::new(data);
    decoder.set_max_decoding_buffer_size(width * height * 4 + 4096);
    let pixels = decoder.decode().map_err(|error| format!("JPEG: {error}"))?;
    let info = decoder.info().ok_or("JPEG without a frame header")?;
    if usize::from(info.width) != width || usize::from(info.height) != height {
        return Err(format!(
            "JPEG is {}x{}, the image dictionary says {width}x{height}",
            info.width, info.height
        ));
    }
    let bytes_per_pixel = info.pixel_format.pixel_bytes();
    let luma = pixels
        .chunks_exact(bytes_per_pixel)
        .map(|pixel| match info.pixel_format {
            jpeg_decoder::PixelFormat::L16 => pixel[0],
            // Adobe writes CMYK JPEGs inverted; scanners rarely produce them at all.
            jpeg_decoder::PixelFormat::CMYK32 => luma_of(&[
                255 - pixel[0],
                255 - pixel[1],
                255 - pixel[2],
                255 - pixel[3],
            ]),
            _ => luma_of(pixel),
        })
        .collect();
    Ok(luma)
}

/// Collects CCITT output as luma (white = 255).
struct CcittSink {
    luma: Vec<u8>,
    width: usize,
    height: usize,
    /// Pixels of the current row pushed so far, to pad short rows.
    column: usize,
}

impl hayro_ccitt::Decoder for CcittSink {
    fn push_pixel(&mut self, white: bool) {
        if self.column < self.width && self.luma.len() < self.width * self.height {
            self.luma.push(if white { 255 } else { 0 });
            self.column += 1;
        }
    }

    fn push_pixel_chunk(&mut self, white: bool, chunk_count: u32) {
        for _ in 0..chunk_count as usize * 8 {
            self.push_pixel(white);
        }
    }

    fn next_line(&mut self) {
        while self.column < self.width && self.luma.len() < self.width * self.height {
            self.luma.push(255);
            self.column += 1;
        }
        self.column = 0;
    }
}

/// Decodes a CCITTFaxDecode stream to luma, before /Decode is applied.
fn ccitt_luma(
    data: &[u8],
    params: Option<&lopdf::Dictionary>,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, String> {
    let empty = lopdf::Dictionary::new();
    let params = params.unwrap_or(&empty);
    let k = dict_int(params, b"K", 0)?;
    let columns = dict_int(params, b"Columns", 1728)?;
    let rows = dict_int(params, b"Rows", i64::from(height))?;
    if columns != i64::from(width) {
        return Err(format!("CCITT /Columns {columns}, image /Width {width}"));
    }
    let rows = u32::try_from(rows)
        .ok()
        .filter(|rows| *rows > 0)
        .unwrap_or(height)
        .min(height);
    let settings = hayro_ccitt::DecodeSettings {
        columns: width,
        rows,
        end_of_block: dict_bool(params, b"EndOfBlock", true),
        end_of_line: dict_bool(params, b"EndOfLine", false),
        rows_are_byte_aligned: dict_bool(params, b"EncodedByteAlign", false),
        encoding: match k {
            k if k < 0 => hayro_ccitt::EncodingMode::Group4,
            0 => hayro_ccitt::EncodingMode::Group3_1D,
            k => hayro_ccitt::EncodingMode::Group3_2D {
                k: u32::try_from(k).unwrap_or(u32::MAX),
            },
        },
        invert_black: false,
    };
    let width_px = width as usize;
    let height_px = height as usize;
    let mut sink = CcittSink {
        luma: Vec::with_capacity(width_px * height_px),
        width: width_px,
        height: height_px,
        column: 0,
    };
    let mut context = hayro_ccitt::DecoderContext::new(settings);
    let decoded = hayro_ccitt::decode(data, &mut sink, &mut context);
    // A damaged tail still leaves the rows before it usable (the QR code is
    // usually near the top of a cover sheet), so only an empty result fails.
    if let Err(error) = decoded {
        if sink.luma.is_empty() {
            return Err(format!("CCITT: {error}"));
        }
    }
    sink.luma.resize(width_px * height_px, 255);
    // BlackIs1 false (the default): decoded black is sample 0, which
    // DeviceGray shows black; true: black is sample 1, shown white.
    if dict_bool(params, b"BlackIs1", false) {
        for value in &mut sink.luma {
            *value = 255 - *value;
        }
    }
    Ok(sink.luma)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coversheet::{render_pdf, CoverSheet};
    use lopdf::dictionary;
    use std::time::Instant;

    fn sheet<'a>(code: &'a str, document_kind: &'a str) -> CoverSheet<'a> {
        CoverSheet {
            code,
            institution: "Universität Erfurt",
            document_kind,
            verify_url: Some("https://zeugnisse.uni-erfurt.example/de/"),
            authenticator: None,
        }
    }

    #[test]
    fn median_filter_removes_isolated_pixels_and_keeps_edges() {
        let cases: [(&str, [u8; 25], [u8; 25]); 3] = [
            (
                "isolated dark pixel",
                {
                    let mut luma = [255; 25];
                    luma[12] = 0;
                    luma
                },
                [255; 25],
            ),
            (
                "isolated light pixel in a dark field",
                {
                    let mut luma = [0; 25];
                    luma[12] = 255;
                    luma
                },
                [0; 25],
            ),
            (
                "vertical edge",
                {
                    let mut luma = [255; 25];
                    for y in 0..5 {
                        luma[y * 5] = 0;
                        luma[y * 5 + 1] = 0;
                    }
                    luma
                },
                {
                    let mut luma = [255; 25];
                    for y in 0..5 {
                        luma[y * 5] = 0;
                        luma[y * 5 + 1] = 0;
                    }
                    luma
                },
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(median_3x3(5, 5, &input), expected, "{name}");
        }
    }

    /// A one-page PDF whose page shows `image` (when given) as Im1.
    fn pdf_with_image(image: Option<Stream>) -> Vec<u8> {
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let mut resources = lopdf::Dictionary::new();
        let mut content = b"BT /F1 12 Tf 72 720 Td (no code here) Tj ET\n".to_vec();
        if let Some(image) = image {
            let image_id = doc.add_object(image);
            resources.set("XObject", dictionary! { "Im1" => image_id });
            content.extend_from_slice(b"q 300 0 0 300 100 300 cm /Im1 Do Q\n");
        }
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => content_id,
            "Resources" => resources,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).expect("test PDF saves");
        bytes
    }

    /// The QR image embedded in the rendered sheet for `code`, as luma.
    fn sheet_qr_raster(code: &str) -> LumaRaster {
        let pdf = render_pdf(&sheet(code, "transcript")).expect("renders");
        let mut images = pdf_images(&pdf).expect("parses");
        assert_eq!(images.len(), 1, "one image on the sheet");
        images.remove(0).expect("QR image decodes")
    }

    fn image_dict(raster: &LumaRaster, color_space: &str, bits: i64) -> lopdf::Dictionary {
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => i64::from(raster.width),
            "Height" => i64::from(raster.height),
            "ColorSpace" => Object::Name(color_space.as_bytes().to_vec()),
            "BitsPerComponent" => bits,
        }
    }

    fn packed_bits(raster: &LumaRaster, dark_bit: bool) -> Vec<u8> {
        let row_bytes = (raster.width as usize).div_ceil(8);
        let mut bits = vec![0_u8; row_bytes * raster.height as usize];
        for (index, value) in raster.luma.iter().enumerate() {
            let (x, y) = (index % raster.width as usize, index / raster.width as usize);
            if (*value < 128) == dark_bit {
                bits[y * row_bytes + x / 8] |= 0x80 >> (x % 8);
            }
        }
        bits
    }

    fn jpeg(raster: &LumaRaster, color: jpeg_encoder::ColorType, data: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        jpeg_encoder::Encoder::new(&mut bytes, 85)
            .encode(data, raster.width as u16, raster.height as u16, color)
            .expect("JPEG encodes");
        assert_eq!(raster.width, raster.width as u16 as u32);
        bytes
    }

    fn group4(raster: &LumaRaster) -> Vec<u8> {
        let mut encoder = fax::encoder::Encoder::new(fax::VecWriter::new());
        for row in raster.luma.chunks(raster.width as usize) {
            let pels = row.iter().map(|value| {
                if *value < 128 {
                    fax::Color::Black
                } else {
                    fax::Color::White
                }
            });
            let Ok(()) = encoder.encode_line(pels, raster.width as u16);
        }
        let Ok(writer) = encoder.finish();
        writer.finish()
    }

    fn compressed(mut stream: Stream) -> Stream {
        stream.compress().expect("compresses");
        assert!(stream.dict.get(b"Filter").is_ok(), "compression applied");
        stream
    }

    #[test]
    fn qr_codes_are_found_in_images_of_every_supported_encoding() {
        let code = "7K2M9XQNVCFM";
        let raster = sheet_qr_raster(code);
        let rgb: Vec<u8> = raster.luma.iter().flat_map(|value| [*value; 3]).collect();
        let inverted: Vec<u8> = raster.luma.iter().map(|value| 255 - value).collect();
        let cases: Vec<(&str, Stream)> = vec![
            (
                "raw 8-bit gray",
                Stream::new(image_dict(&raster, "DeviceGray", 8), raster.luma.clone()),
            ),
            (
                "Flate 8-bit RGB",
                compressed(Stream::new(
                    image_dict(&raster, "DeviceRGB", 8),
                    rgb.clone(),
                )),
            ),
            ("1-bit image mask, /Decode [1 0]", {
                let mut dict = image_dict(&raster, "DeviceGray", 1);
                dict.remove(b"ColorSpace");
                dict.set("ImageMask", true);
                dict.set("Decode", vec![1.into(), 0.into()]);
                Stream::new(dict, packed_bits(&raster, true))
            }),
            ("1-bit indexed", {
                let mut dict = image_dict(&raster, "DeviceGray", 1);
                dict.set(
                    "ColorSpace",
                    vec![
                        "Indexed".into(),
                        "DeviceRGB".into(),
                        1.into(),
                        Object::String(
                            vec![255, 255, 255, 0, 0, 0],
                            lopdf::StringFormat::Hexadecimal,
                        ),
                    ],
                );
                Stream::new(dict, packed_bits(&raster, true))
            }),
            ("8-bit gray, Flate with PNG predictors", {
                let mut dict = image_dict(&raster, "DeviceGray", 8);
                dict.set("DecodeParms", dictionary! { "Predictor" => 15, "Colors" => 1, "BitsPerComponent" => 8, "Columns" => i64::from(raster.width) });
                // PNG filter type 0 (none) before each row.
                let rows: Vec<u8> = raster
                    .luma
                    .chunks(raster.width as usize)
                    .flat_map(|row| std::iter::once(0).chain(row.iter().copied()))
                    .collect();
                compressed(Stream::new(dict, rows))
            }),
            (
                "DCT gray",
                Stream::new(
                    dictionary! { "Filter" => "DCTDecode" }.into_iter().fold(
                        image_dict(&raster, "DeviceGray", 8),
                        |mut dict, (key, value)| {
                            dict.set(key, value);
                            dict
                        },
                    ),
                    jpeg(&raster, jpeg_encoder::ColorType::Luma, &raster.luma),
                ),
            ),
            ("ASCIIHex then DCT RGB", {
                let mut dict = image_dict(&raster, "DeviceRGB", 8);
                dict.set("Filter", vec!["ASCIIHexDecode".into(), "DCTDecode".into()]);
                let hex: String = jpeg(&raster, jpeg_encoder::ColorType::Rgb, &rgb)
                    .iter()
                    .map(|byte| format!("{byte:02X}"))
                    .collect::<String>()
                    + ">";
                Stream::new(dict, hex.into_bytes())
            }),
            ("CCITT Group 4", {
                let mut dict = image_dict(&raster, "DeviceGray", 1);
                dict.set("Filter", "CCITTFaxDecode");
                dict.set(
                    "DecodeParms",
                    dictionary! { "K" => -1, "Columns" => i64::from(raster.width), "Rows" => i64::from(raster.height) },
                );
                Stream::new(dict, group4(&raster))
            }),
            ("CCITT Group 4, BlackIs1 with /Decode [1 0]", {
                let mut dict = image_dict(&raster, "DeviceGray", 1);
                dict.set("Filter", "CCITTFaxDecode");
                dict.set(
                    "DecodeParms",
                    dictionary! { "K" => -1, "Columns" => i64::from(raster.width), "BlackIs1" => true },
                );
                dict.set("Decode", vec![1.into(), 0.into()]);
                Stream::new(dict, group4(&raster))
            }),
            ("white-on-black 8-bit gray with /Decode [1 0]", {
                let mut dict = image_dict(&raster, "DeviceGray", 8);
                dict.set("Decode", vec![1.into(), 0.into()]);
                Stream::new(dict, inverted)
            }),
        ];
        for (name, image) in cases {
            let pdf = pdf_with_image(Some(image));
            assert_eq!(
                decode_qr_from_pdf(&pdf).map_err(|error| error.to_string()),
                Ok(vec![code.to_owned()]),
                "{name}"
            );
        }
    }

    #[test]
    fn unsupported_image_filter_is_reported_when_no_code_is_found() {
        let raster = sheet_qr_raster("QNVCFM3P4VDF");
        let mut dict = image_dict(&raster, "DeviceGray", 8);
        dict.set("Filter", "JPXDecode");
        let pdf = pdf_with_image(Some(Stream::new(dict, vec![0; 64])));
        let error = decode_qr_from_pdf(&pdf).expect_err("JPX is not decoded");
        assert!(
            matches!(&error, DecodeError::ImageNotDecoded { images_undecoded: 1, reason, .. } if reason.contains("JPXDecode")),
            "{error:?}"
        );
    }

    #[test]
    fn pdf_without_images_has_no_codes() {
        assert_eq!(
            decode_qr_from_pdf(&pdf_with_image(None)).expect("parses"),
            Vec::<String>::new()
        );
        // An image without a QR code.
        let blank = LumaRaster {
            width: 200,
            height: 100,
            luma: vec![255; 200 * 100],
        };
        let pdf = pdf_with_image(Some(Stream::new(
            image_dict(&blank, "DeviceGray", 8),
            blank.luma,
        )));
        assert_eq!(
            decode_qr_from_pdf(&pdf).expect("parses"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn garbage_is_not_a_readable_pdf() {
        let cases: [&[u8]; 4] = [b"", b"hello, world", b"%PDF-1.7\n%%EOF", &[0xFF; 4096]];
        for bytes in cases {
            let error = decode_qr_from_pdf(bytes).expect_err("not a PDF");
            assert!(matches!(error, DecodeError::PdfRead { .. }), "{error:?}");
            assert!(
                error.to_string().starts_with("not a readable PDF"),
                "{error}"
            );
        }
    }

    #[test]
    fn raster_of_the_wrong_size_is_refused() {
        let cases = [
            (10, 10, 99, "needs 100 bytes of luma, got 99"),
            (10, 10, 101, "needs 100 bytes of luma, got 101"),
            (100_000, 100_000, 0, "more than 80000000 pixels"),
        ];
        for (width, height, bytes, expected) in cases {
            let error = decode_qr_from_luma(width, height, &vec![255; bytes]).expect_err(expected);
            assert!(error.to_string().contains(expected), "{error}");
        }
        assert_eq!(
            decode_qr_from_luma(0, 0, &[]).expect("empty raster"),
            Vec::<String>::new()
        );
        assert_eq!(
            decode_qr_from_luma(300, 300, &[255; 90_000]).expect("blank"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn printed_and_scanned_sheet_still_decodes() {
        let cases = [
            ("QNVCFM3P4VDF", 300.0, 5.0, 3),
            ("QNVCFM3P4VDF", 300.0, -5.0, 3),
            ("0123456789AB", 300.0, 0.0, 5),
            ("7K2M9XQNVCFM", 300.0, -5.0, 0),
            ("RSTVWXYZ0000", 200.0, 5.0, 3),
            ("RSTVWXYZ0000", 200.0, -5.0, 3),
            ("CDEFGHJKMNPQ", 200.0, 2.5, 5),
        ];
        for (index, (code, dpi, degrees, noise_percent)) in cases.into_iter().enumerate() {
            // The page rendered where the sheet prints its QR code (the same
            // symbol: EC level Q, the same quiet zone), rotated and noisy.
            let page = crate::scans::simulate::scanned_cover_page(
                code,
                dpi,
                degrees,
                noise_percent,
                index as u64 + 1,
            );
            let (width, height, luma) = (page.width, page.height, page.luma);
            let started = Instant::now();
            let texts = decode_qr_from_luma(width, height, &luma).expect("decodes");
            let elapsed = started.elapsed();
            println!(
                "decode {width}x{height} page ({dpi} dpi, {degrees:+}°, {noise_percent}% noise): {:.1} ms",
                elapsed.as_secs_f64() * 1000.0
            );
            assert_eq!(texts, vec![code.to_owned()], "{dpi} dpi, {degrees}°");
        }
    }
}
