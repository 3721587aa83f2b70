//! Cover sheets (Deckblätter) and reading their QR code back.
//!
//! Owns: the A4 PDF the scanning station prints and scans in front of the
//! signed original (the code as a large QR code embedded as an image, the
//! code in print, institution, document kind, instructions in German and
//! English), and the QR decoders (rxing) over a grayscale raster and over the
//! images embedded in a PDF, which the scan intake reuses.
//! Must not do: look anything up in the ledger (the caller passes the data).

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream, StringFormat};
use rxing::{BarcodeFormat, DecodeHints};
use std::collections::HashSet;

/// A4 page width in PDF points (1/72 inch).
pub const A4_WIDTH_PT: f32 = 595.28;
/// A4 page height in PDF points.
pub const A4_HEIGHT_PT: f32 = 841.89;
/// Printed side of the QR code including its quiet zone, in millimetres.
pub const QR_SIDE_MM: f32 = 80.0;
/// Quiet zone around the QR code, in modules (the standard asks for 4).
pub const QR_QUIET_MODULES: usize = 4;
/// Image pixels per QR module in the embedded image (scaled up without
/// smoothing, so the printer gets sharp edges).
pub const QR_PIXELS_PER_MODULE: usize = 8;
/// Largest embedded image decoded from a PDF, in pixels (bounds memory).
pub const PDF_IMAGE_PIXELS_MAX: u64 = 60_000_000;
/// Rasters at least this many pixels on their short side are first decoded
/// at half size (an A4 page at 150 dpi or more).
pub const HALVE_FIRST_PIXELS_MIN: u32 = 1200;
/// Largest PDF read by the decoder, in bytes.
pub const PDF_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Errors of cover sheets and QR decoding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoverSheetError {
    /// The code is not 12 Crockford base32 characters.
    #[error("cover sheet: {0:?} is not a 12-character certificate code")]
    BadCode(String),
    /// A text does not fit the page.
    #[error("cover sheet: {field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    /// The QR code could not be generated.
    #[error("cover sheet: QR code: {0}")]
    Qr(String),
    /// The PDF could not be written or read.
    #[error("PDF: {0}")]
    Pdf(String),
    /// The raster is inconsistent.
    #[error("raster of {width}x{height} needs {need} bytes, got {got}")]
    Raster {
        width: u32,
        height: u32,
        need: u64,
        got: usize,
    },
}

/// What a cover sheet shows.
pub struct CoverSheet<'a> {
    /// The code, 12 characters, no hyphens.
    pub code: &'a str,
    /// Issuing institution.
    pub institution: &'a str,
    /// Document kind (`transcript`, `degree_deed`, ...).
    pub document_kind: &'a str,
    /// Verification URL to print, if any.
    pub verify_url: Option<&'a str>,
}

/// Longest institution name printed.
pub const INSTITUTION_CHARS_MAX: usize = 120;

fn kind_words(kind: &str) -> (&str, &str) {
    match kind {
        "transcript" => ("Zeugnis", "Transcript"),
        "degree_deed" => ("Urkunde", "Degree certificate"),
        "diploma_supplement" => ("Diploma Supplement", "Diploma Supplement"),
        "certificate" => ("Zertifikat", "Certificate"),
        other => (other, other),
    }
}

/// Encodes text for Helvetica with WinAnsiEncoding: Latin-1 maps to itself
/// (WinAnsi agrees with Latin-1 there), a few typographic characters to their
/// WinAnsi slots, anything else to `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => c as u8,
            '\u{2014}' => 0x97,
            '\u{2013}' => 0x96,
            '\u{201e}' => 0x84,
            '\u{201c}' => 0x93,
            '\u{2019}' => 0x92,
            '\u{20ac}' => 0x80,
            _ => b'?',
        })
        .collect()
}

fn check_code(code: &str) -> Result<(), CoverSheetError> {
    let ok = code.len() == 12 && code.bytes().all(|b| crate::codes::ALPHABET.contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CoverSheetError::BadCode(code.to_string()))
    }
}

/// The QR code of `text` as a grayscale image (0 = black, 255 = white) with
/// its quiet zone: (side in pixels, pixels).
fn qr_image(text: &str) -> Result<(usize, Vec<u8>), CoverSheetError> {
    let qr = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::Q)
        .map_err(|e| CoverSheetError::Qr(e.to_string()))?;
    let modules = qr.width();
    let colors = qr.to_colors();
    let side_modules = modules + 2 * QR_QUIET_MODULES;
    let side = side_modules * QR_PIXELS_PER_MODULE;
    let mut px = vec![255u8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            if colors[y * modules + x] == qrcode::Color::Dark {
                for dy in 0..QR_PIXELS_PER_MODULE {
                    let row = (y + QR_QUIET_MODULES) * QR_PIXELS_PER_MODULE + dy;
                    let start = row * side + (x + QR_QUIET_MODULES) * QR_PIXELS_PER_MODULE;
                    px[start..start + QR_PIXELS_PER_MODULE].fill(0);
                }
            }
        }
    }
    Ok((side, px))
}

fn mm(v: f32) -> f32 {
    v / 25.4 * 72.0
}

/// Renders the cover sheet as a one-page A4 PDF.
pub fn render_pdf(sheet: &CoverSheet) -> Result<Vec<u8>, CoverSheetError> {
    check_code(sheet.code)?;
    if sheet.institution.chars().count() > INSTITUTION_CHARS_MAX {
        return Err(CoverSheetError::TooLong {
            field: "institution",
            max: INSTITUTION_CHARS_MAX,
        });
    }
    let pdf_err = |e: lopdf::Error| CoverSheetError::Pdf(e.to_string());
    let formatted = format!(
        "{}-{}-{}",
        &sheet.code[..4],
        &sheet.code[4..8],
        &sheet.code[8..]
    );
    let (side, pixels) = qr_image(sheet.code)?;
    let (kind_de, kind_en) = kind_words(sheet.document_kind);

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let regular = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let bold = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica-Bold", "Encoding" => "WinAnsiEncoding",
    });
    let mut image = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image",
            "Width" => side as i64, "Height" => side as i64,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
        },
        pixels,
    );
    image.compress().map_err(pdf_err)?;
    let image_id = doc.add_object(image);
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => regular, "F2" => bold },
        "XObject" => dictionary! { "Im1" => image_id },
    });

    let mut ops = Vec::new();
    let mut text = |font: &str, size: f32, x: f32, y: f32, s: &str| {
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec![font.into(), size.into()]));
        ops.push(Operation::new("Td", vec![x.into(), y.into()]));
        ops.push(Operation::new(
            "Tj",
            vec![Object::String(win_ansi(s), StringFormat::Literal)],
        ));
        ops.push(Operation::new("ET", vec![]));
    };
    let left = mm(20.0);
    let top = A4_HEIGHT_PT - mm(25.0);
    text(
        "F2",
        20.0,
        left,
        top,
        "Deckblatt für den Scan / Scan cover sheet",
    );
    text("F1", 13.0, left, top - 28.0, sheet.institution);
    text(
        "F1",
        13.0,
        left,
        top - 46.0,
        &format!("{kind_de} / {kind_en}"),
    );
    let qr_side = mm(QR_SIDE_MM);
    let qr_x = (A4_WIDTH_PT - qr_side) / 2.0;
    let qr_y = top - 70.0 - qr_side;
    let code_y = qr_y - 40.0;
    text(
        "F2",
        30.0,
        (A4_WIDTH_PT - 30.0 * 0.6 * 14.0) / 2.0,
        code_y,
        &formatted,
    );
    let mut y = code_y - 36.0;
    if let Some(url) = sheet.verify_url {
        text(
            "F1",
            10.0,
            left,
            y,
            &format!("Prüfung / Verification: {url}"),
        );
        y -= 24.0;
    }
    let instructions = [
        ("F2", "Anleitung für die Scanstelle"),
        (
            "F1",
            "1. Dieses Blatt ausdrucken und vor das unterschriebene Original legen.",
        ),
        (
            "F1",
            "2. Deckblatt und Original zusammen in eine Datei scannen (mind. 200 dpi).",
        ),
        (
            "F1",
            "3. Die Datei in den Scan-Eingang legen. QR-Code nicht knicken oder verdecken.",
        ),
        ("F2", "Instructions for the scanning station"),
        (
            "F1",
            "1. Print this sheet and place it in front of the signed original.",
        ),
        (
            "F1",
            "2. Scan the cover sheet and the original together into one file (200 dpi or more).",
        ),
        (
            "F1",
            "3. Drop the file into the scan inbox. Do not fold or cover the QR code.",
        ),
    ];
    for (font, line) in instructions {
        if font == "F2" {
            y -= 8.0;
        }
        text(font, 11.0, left, y, line);
        y -= 16.0;
    }
    ops.push(Operation::new("q", vec![]));
    ops.push(Operation::new(
        "cm",
        vec![
            qr_side.into(),
            0.into(),
            0.into(),
            qr_side.into(),
            qr_x.into(),
            qr_y.into(),
        ],
    ));
    ops.push(Operation::new("Do", vec!["Im1".into()]));
    ops.push(Operation::new("Q", vec![]));
    let content = Content { operations: ops }.encode().map_err(pdf_err)?;
    let content_id = doc.add_object(Stream::new(dictionary! {}, content));
    let page = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), A4_WIDTH_PT.into(), A4_HEIGHT_PT.into()],
        "Contents" => content_id,
        "Resources" => resources,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| CoverSheetError::Pdf(e.to_string()))?;
    Ok(out)
}

/// Decodes every QR and DataMatrix code rxing finds in a grayscale raster
/// (one byte per pixel, row-major, 0 = black). An empty list if none.
///
/// Scans are noisy: if the raster as given yields nothing, it is tried again
/// halved with a 2x2 box filter (isolated specks average out, and the code
/// still has 9 or more pixels per module at 200 dpi), then with a 3x3
/// median filter at full size.
pub fn decode_qr_from_luma(
    width: u32,
    height: u32,
    luma: &[u8],
) -> Result<Vec<String>, CoverSheetError> {
    let need = u64::from(width) * u64::from(height);
    if need != luma.len() as u64 || need == 0 {
        return Err(CoverSheetError::Raster {
            width,
            height,
            need,
            got: luma.len(),
        });
    }
    // Large rasters (a page at 300 dpi) are tried halved first: four times
    // fewer pixels to search, and specks average out.
    let large = width.min(height) >= HALVE_FIRST_PIXELS_MIN;
    let halved = || {
        (width >= 4 && height >= 4).then(|| {
            let (hw, hh, half) = halve(width as usize, height as usize, luma);
            detect(hw as u32, hh as u32, &half)
        })?
    };
    if large {
        if let Some(t) = halved() {
            return Ok(vec![t]);
        }
    }
    if let Some(t) = detect(width, height, luma) {
        return Ok(vec![t]);
    }
    if !large {
        if let Some(t) = halved() {
            return Ok(vec![t]);
        }
    }
    if let Some(t) = detect(
        width,
        height,
        &median3(width as usize, height as usize, luma),
    ) {
        return Ok(vec![t]);
    }
    Ok(Vec::new())
}

fn detect(width: u32, height: u32, luma: &[u8]) -> Option<String> {
    let mut hints = DecodeHints {
        TryHarder: Some(true),
        PossibleFormats: Some(HashSet::from([
            BarcodeFormat::QR_CODE,
            BarcodeFormat::DATA_MATRIX,
        ])),
        ..Default::default()
    };
    rxing::helpers::detect_in_luma_slice_with_hints(luma, width, height, None, &mut hints)
        .ok()
        .map(|r| r.getText().to_string())
}

/// Halves a raster with a 2x2 box filter.
fn halve(w: usize, h: usize, luma: &[u8]) -> (usize, usize, Vec<u8>) {
    let (hw, hh) = (w / 2, h / 2);
    let mut out = Vec::with_capacity(hw * hh);
    for y in 0..hh {
        let (r0, r1) = (&luma[2 * y * w..], &luma[(2 * y + 1) * w..]);
        for x in 0..hw {
            let sum = u32::from(r0[2 * x])
                + u32::from(r0[2 * x + 1])
                + u32::from(r1[2 * x])
                + u32::from(r1[2 * x + 1]);
            out.push((sum / 4) as u8);
        }
    }
    (hw, hh, out)
}

/// 3x3 median filter (edges copied).
fn median3(w: usize, h: usize, luma: &[u8]) -> Vec<u8> {
    let mut out = luma.to_vec();
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let mut v = [0u8; 9];
            for (i, (dy, dx)) in (0..3)
                .flat_map(|dy| (0..3).map(move |dx| (dy, dx)))
                .enumerate()
            {
                v[i] = luma[(y + dy - 1) * w + x + dx - 1];
            }
            v.sort_unstable();
            out[y * w + x] = v[4];
        }
    }
    out
}

/// Converts an image XObject to a grayscale raster, if it is a kind this
/// decoder reads: DeviceGray or DeviceRGB, 1 or 8 bits per component,
/// uncompressed or with a filter lopdf decodes (FlateDecode, LZWDecode).
/// DCTDecode (JPEG) and CCITTFaxDecode images are not read here yet.
fn image_luma(stream: &Stream) -> Option<(u32, u32, Vec<u8>)> {
    let d = &stream.dict;
    let int = |k: &[u8]| d.get(k).ok().and_then(|o| o.as_i64().ok());
    let (w, h) = (int(b"Width")?, int(b"Height")?);
    let bpc = int(b"BitsPerComponent").unwrap_or(8);
    if w <= 0 || h <= 0 || (w as u64) * (h as u64) > PDF_IMAGE_PIXELS_MAX {
        return None;
    }
    let channels = match d.get(b"ColorSpace").ok().and_then(|o| o.as_name().ok()) {
        Some(b"DeviceGray") | None => 1,
        Some(b"DeviceRGB") => 3,
        _ => return None,
    };
    let data = if d.get(b"Filter").is_ok() {
        stream.decompressed_content().ok()?
    } else {
        stream.content.clone()
    };
    let (w, h) = (w as usize, h as usize);
    let luma = match (bpc, channels) {
        (8, 1) => data.get(..w * h)?.to_vec(),
        (8, 3) => data
            .get(..w * h * 3)?
            .chunks_exact(3)
            .map(|p| {
                ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000)
                    as u8
            })
            .collect(),
        (1, 1) => {
            let row_bytes = w.div_ceil(8);
            let rows = data.get(..row_bytes * h)?;
            let mut out = Vec::with_capacity(w * h);
            for row in rows.chunks_exact(row_bytes) {
                for x in 0..w {
                    out.push(if row[x / 8] & (0x80 >> (x % 8)) != 0 {
                        255
                    } else {
                        0
                    });
                }
            }
            out
        }
        _ => return None,
    };
    Some((w as u32, h as u32, luma))
}

/// Decodes the QR / DataMatrix codes in the images embedded in a PDF (a
/// scanned PDF is a stack of page images). An empty list if there are none.
pub fn decode_qr_from_pdf(pdf: &[u8]) -> Result<Vec<String>, CoverSheetError> {
    if pdf.len() > PDF_BYTES_MAX {
        return Err(CoverSheetError::Pdf(format!(
            "larger than {PDF_BYTES_MAX} bytes"
        )));
    }
    let doc = Document::load_mem(pdf)
        .map_err(|e| CoverSheetError::Pdf(format!("not a readable PDF: {e}")))?;
    let mut found = Vec::new();
    for object in doc.objects.values() {
        let Object::Stream(stream) = object else {
            continue;
        };
        let is_image = stream
            .dict
            .get(b"Subtype")
            .ok()
            .and_then(|o| o.as_name().ok())
            .is_some_and(|n| n == b"Image");
        if !is_image {
            continue;
        }
        if let Some((w, h, luma)) = image_luma(stream) {
            for text in decode_qr_from_luma(w, h, &luma)? {
                if !found.contains(&text) {
                    found.push(text);
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(code: &str) -> CoverSheet<'_> {
        CoverSheet {
            code,
            institution: "Universität Erfurt",
            document_kind: "transcript",
            verify_url: Some("https://verify.uni-erfurt.de"),
        }
    }

    #[test]
    fn rendered_sheet_is_one_a4_page_and_its_qr_decodes_to_the_code() {
        for code in [
            "QNVCFM3P4VDF",
            "000000000000",
            "ZZZZZZZZZZZZ",
            "7K2M9XAB3CDE",
        ] {
            let pdf = render_pdf(&sheet(code)).expect("render");
            let doc = Document::load_mem(&pdf).expect("parses");
            let pages = doc.get_pages();
            assert_eq!(pages.len(), 1);
            let page_id = *pages.values().next().expect("page");
            let text = doc.extract_text(&[1]).unwrap_or_default();
            let formatted = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]);
            assert!(text.contains(&formatted), "{code}: {text}");
            let page = doc.get_dictionary(page_id).expect("page dict");
            let media: Vec<f32> = page
                .get(b"MediaBox")
                .expect("MediaBox")
                .as_array()
                .expect("array")
                .iter()
                .map(|o| o.as_float().expect("number"))
                .collect();
            assert_eq!(media, vec![0.0, 0.0, A4_WIDTH_PT, A4_HEIGHT_PT]);
            assert_eq!(
                decode_qr_from_pdf(&pdf).expect("decode"),
                vec![code.to_string()]
            );
        }
    }

    #[test]
    fn umlauts_are_encoded_for_win_ansi() {
        assert_eq!(
            win_ansi("Universität Größe"),
            b"Universit\xe4t Gr\xf6\xdfe".to_vec()
        );
        assert_eq!(win_ansi("a\u{2014}b\u{1F600}"), b"a\x97b?".to_vec());
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        for code in ["QNVC-FM3P-4VDF", "QNVCFM3P4UDF", "short", "qnvcfm3p4vdf"] {
            let e = render_pdf(&sheet(code)).expect_err("refused");
            assert!(e.to_string().contains(code), "{e}");
        }
        let long = "x".repeat(INSTITUTION_CHARS_MAX + 1);
        let s = CoverSheet {
            institution: &long,
            ..sheet("QNVCFM3P4VDF")
        };
        assert!(matches!(
            render_pdf(&s),
            Err(CoverSheetError::TooLong {
                field: "institution",
                ..
            })
        ));
        assert!(matches!(
            decode_qr_from_pdf(b"not a pdf"),
            Err(CoverSheetError::Pdf(_))
        ));
        assert!(matches!(
            decode_qr_from_luma(10, 10, &[0u8; 99]),
            Err(CoverSheetError::Raster {
                need: 100,
                got: 99,
                ..
            })
        ));
        // A PDF without images has no codes.
        let mut doc = Document::with_version("1.5");
        let pages = doc.new_object_id();
        let page = doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages });
        doc.objects.insert(
            pages,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let cat = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        doc.trailer.set("Root", cat);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).expect("save");
        assert_eq!(
            decode_qr_from_pdf(&bytes).expect("decode"),
            Vec::<String>::new()
        );
    }

    /// xorshift for deterministic noise.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Simulates printing the sheet and scanning it: the QR code is placed
    /// on a white A4 page raster at `dpi` (as printed at QR_SIDE_MM), the page
    /// is rotated by `degrees` (nearest neighbour), and `noise_permille` of
    /// the pixels are flipped to black or white.
    fn scanned_page(
        code: &str,
        dpi: f32,
        degrees: f32,
        noise_permille: u64,
    ) -> (u32, u32, Vec<u8>) {
        let (side, qr) = qr_image(code).expect("qr");
        let w = (210.0 / 25.4 * dpi) as usize;
        let h = (297.0 / 25.4 * dpi) as usize;
        let printed = (QR_SIDE_MM / 25.4 * dpi) as usize;
        let (ox, oy) = ((w - printed) / 2, (30.0 / 25.4 * dpi) as usize);
        let (s, c) = degrees.to_radians().sin_cos();
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut page = vec![255u8; w * h];
        for y in 0..h {
            for x in 0..w {
                // Inverse rotation: which point of the unrotated page lands here?
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let (ux, uy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
                let (ux, uy) = (ux as isize - ox as isize, uy as isize - oy as isize);
                if ux >= 0 && uy >= 0 && (ux as usize) < printed && (uy as usize) < printed {
                    let qx = ux as usize * side / printed;
                    let qy = uy as usize * side / printed;
                    page[y * w + x] = qr[qy * side + qx];
                }
                if rng.next() % 1000 < noise_permille {
                    page[y * w + x] = if rng.next().is_multiple_of(2) { 0 } else { 255 };
                }
            }
        }
        (w as u32, h as u32, page)
    }

    #[test]
    fn printed_and_scanned_sheets_still_decode() {
        let code = "QNVCFM3P4VDF";
        for (dpi, degrees) in [
            (300.0, 0.0),
            (300.0, 5.0),
            (300.0, -5.0),
            (200.0, 5.0),
            (200.0, -5.0),
        ] {
            let (w, h, page) = scanned_page(code, dpi, degrees, 30);
            let started = std::time::Instant::now();
            let found = decode_qr_from_luma(w, h, &page).expect("decode");
            eprintln!(
                "decode {w}x{h} ({dpi} dpi, {degrees}°, 3% noise): {:?}",
                started.elapsed()
            );
            assert_eq!(found, vec![code.to_string()], "{dpi} dpi, {degrees}°");
        }
    }
}
