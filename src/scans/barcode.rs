//! Reading the cover sheet's QR or DataMatrix code from a scan file.
//!
//! Owns: turning PNG, JPEG and TIFF files into grayscale rasters (PDFs are
//! handled by [`crate::decode::decode_qr_from_pdf`], which reads the
//! images embedded in them).
//! Must not do: interpret the decoded text (that is `identify`), touch files,
//! run in the daemon's process: it runs inside the decode worker
//! ([`super::worker`]), under its memory and CPU limits.

use super::decode::{self, IMAGE_PIXELS_MAX};

/// Why no barcode text could be produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeFailure {
    /// The file could not be decoded as an image (names the reason).
    Image(String),
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeFailure::Image(r) => write!(f, "{r}"),
        }
    }
}

/// A grayscale raster (0 = black), row-major.
struct Luma {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

fn check_size(width: u32, height: u32) -> Result<(), String> {
    if u64::from(width) * u64::from(height) > IMAGE_PIXELS_MAX {
        return Err(format!(
            "image of {width}x{height} pixels is above the limit of {IMAGE_PIXELS_MAX} pixels"
        ));
    }
    Ok(())
}

/// Mean of the colour channels, ignoring alpha (good enough for black
/// codes on white paper).
fn gray(px: &[u8], channels: usize) -> u8 {
    let c = channels.min(3);
    (px[..c].iter().map(|&v| u32::from(v)).sum::<u32>() / c as u32) as u8
}

fn png_luma(bytes: &[u8]) -> Result<Luma, String> {
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(bytes),
        png::Limits {
            bytes: (IMAGE_PIXELS_MAX * 4) as usize,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| format!("PNG: {e}"))?;
    let (width, height) = (reader.info().width, reader.info().height);
    check_size(width, height)?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("PNG: {e}"))?;
    let channels = frame.color_type.samples();
    let pixels = buf[..frame.buffer_size()]
        .chunks_exact(channels)
        .map(|p| gray(p, channels))
        .collect();
    Ok(Luma {
        width,
        height,
        pixels,
    })
}

fn jpeg_luma(bytes: &[u8]) -> Result<Luma, String> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size((IMAGE_PIXELS_MAX * 4) as usize);
    decoder.read_info().map_err(|e| format!("JPEG: {e}"))?;
    let info = decoder.info().ok_or("JPEG without a frame header")?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_size(width, height)?;
    let data = decoder.decode().map_err(|e| format!("JPEG: {e}"))?;
    let pixels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => data,
        jpeg_decoder::PixelFormat::L16 => data.chunks_exact(2).map(|p| p[0]).collect(),
        jpeg_decoder::PixelFormat::RGB24 => data.chunks_exact(3).map(|p| gray(p, 3)).collect(),
        jpeg_decoder::PixelFormat::CMYK32 => data
            .chunks_exact(4)
            .map(|p| 255 - p[3].max(gray(p, 3)))
            .collect(),
    };
    Ok(Luma {
        width,
        height,
        pixels,
    })
}

fn tiff_luma(bytes: &[u8]) -> Result<Luma, String> {
    use tiff::decoder::{Decoder, DecodingResult, Limits};
    use tiff::ColorType;
    let mut limits = Limits::default();
    limits.decoding_buffer_size = (IMAGE_PIXELS_MAX * 4) as usize;
    let mut d = Decoder::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("TIFF: {e}"))?
        .with_limits(limits);
    let (width, height) = d.dimensions().map_err(|e| format!("TIFF: {e}"))?;
    check_size(width, height)?;
    let color = d.colortype().map_err(|e| format!("TIFF: {e}"))?;
    let DecodingResult::U8(data) = d.read_image().map_err(|e| format!("TIFF: {e}"))? else {
        return Err(format!(
            "TIFF: {color:?} samples wider than 8 bits are not supported"
        ));
    };
    let (w, h) = (width as usize, height as usize);
    let pixels = match color {
        ColorType::Gray(8) => data,
        ColorType::Gray(1) => {
            let row = w.div_ceil(8);
            let mut out = Vec::with_capacity(w * h);
            for y in 0..h {
                for x in 0..w {
                    let bit = data
                        .get(y * row + x / 8)
                        .map_or(1, |b| (b >> (7 - x % 8)) & 1);
                    out.push(if bit == 1 { 255 } else { 0 });
                }
            }
            out
        }
        ColorType::GrayA(8) => data.chunks_exact(2).map(|p| p[0]).collect(),
        ColorType::RGB(8) => data.chunks_exact(3).map(|p| gray(p, 3)).collect(),
        ColorType::RGBA(8) => data.chunks_exact(4).map(|p| gray(p, 4)).collect(),
        other => return Err(format!("TIFF: colour type {other:?} is not supported")),
    };
    if pixels.len() != w * h {
        return Err(format!(
            "TIFF: {} samples for {width}x{height} pixels",
            pixels.len()
        ));
    }
    Ok(Luma {
        width,
        height,
        pixels,
    })
}

/// Decodes every QR / DataMatrix text in a scan file of `media_type`
/// (`application/pdf`, `image/png`, `image/jpeg`, `image/tiff`), without a
/// time limit. Empty when there is none.
pub fn decode(bytes: &[u8], media_type: &str) -> Result<Vec<String>, DecodeFailure> {
    let luma = match media_type {
        "application/pdf" => {
            return decode::decode_qr_from_pdf(bytes)
                .map_err(|e| DecodeFailure::Image(e.to_string()))
        }
        "image/png" => png_luma(bytes),
        "image/jpeg" => jpeg_luma(bytes),
        "image/tiff" => tiff_luma(bytes),
        other => Err(format!("{other} is not an image type zeugnis decodes")),
    }
    .map_err(DecodeFailure::Image)?;
    decode::decode_qr_from_luma(luma.width, luma.height, &luma.pixels)
        .map_err(|e| DecodeFailure::Image(e.to_string()))
}

/// A scan image (PNG, JPEG or TIFF, told by its signature) decoded to gray,
/// shrunk so that its longest side is at most `side_px_max` pixels (box
/// average; never enlarged) and encoded afresh as an 8-bit grayscale PNG:
/// the desk's preview of a quarantined image scan. Runs in the worker
/// child only ([`super::worker::RENDER_IMAGE_JOB`]); the error is a reason
/// for people.
pub fn preview_png(bytes: &[u8], side_px_max: u32) -> Result<Vec<u8>, String> {
    let luma = match crate::blobs::sniff(bytes) {
        Some("image/png") => png_luma(bytes),
        Some("image/jpeg") => jpeg_luma(bytes),
        Some("image/tiff") => tiff_luma(bytes),
        Some(other) => Err(format!("{other} is not an image")),
        None => Err("neither PNG, JPEG nor TIFF".into()),
    }?;
    let (w, h) = (luma.width.max(1), luma.height.max(1));
    if luma.pixels.len() as u64 != u64::from(w) * u64::from(h) {
        return Err(format!("{w}x{h} pixels but {} samples", luma.pixels.len()));
    }
    let side = side_px_max.max(1);
    // Output size: the longest side at most `side`, the ratio kept.
    let (ow, oh) = if w.max(h) <= side {
        (w, h)
    } else if w >= h {
        (
            side,
            ((u64::from(h) * u64::from(side)) / u64::from(w)).max(1) as u32,
        )
    } else {
        (
            ((u64::from(w) * u64::from(side)) / u64::from(h)).max(1) as u32,
            side,
        )
    };
    let mut out_px = Vec::with_capacity(ow as usize * oh as usize);
    for oy in 0..oh {
        let y0 = (u64::from(oy) * u64::from(h) / u64::from(oh)) as usize;
        let y1 = ((u64::from(oy + 1) * u64::from(h) / u64::from(oh)) as usize).max(y0 + 1);
        for ox in 0..ow {
            let x0 = (u64::from(ox) * u64::from(w) / u64::from(ow)) as usize;
            let x1 = ((u64::from(ox + 1) * u64::from(w) / u64::from(ow)) as usize).max(x0 + 1);
            let mut sum = 0u64;
            for y in y0..y1 {
                let row = &luma.pixels[y * w as usize..(y + 1) * w as usize];
                sum += row[x0..x1].iter().map(|&v| u64::from(v)).sum::<u64>();
            }
            out_px.push((sum / ((y1 - y0) * (x1 - x0)) as u64) as u8);
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, ow, oh);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut wr| wr.write_image_data(&out_px))
        .map_err(|e| format!("PNG encoding: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A white raster of `cols` x `rows` modules of `px` pixels each plus
    /// a quiet zone of `quiet` modules, with the modules `dark` says black.
    fn paint(
        (cols, rows): (usize, usize),
        quiet: usize,
        px: usize,
        dark: impl Fn(usize, usize) -> bool,
    ) -> (u32, u32, Vec<u8>) {
        let (w, h) = ((cols + 2 * quiet) * px, (rows + 2 * quiet) * px);
        let mut out = vec![255u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (mx, my) = ((x / px).checked_sub(quiet), (y / px).checked_sub(quiet));
                if let (Some(mx), Some(my)) = (mx, my) {
                    if mx < cols && my < rows && dark(mx, my) {
                        out[y * w + x] = 0;
                    }
                }
            }
        }
        (w as u32, h as u32, out)
    }

    #[test]
    fn previews_are_shrunk_reencoded_pngs() {
        // A 3000 x 1000 PNG with a black left half becomes 1240 x 413.
        let (w, h) = (3000u32, 1000u32);
        let px: Vec<u8> = (0..h)
            .flat_map(|_| (0..w).map(|x| if x < w / 2 { 0 } else { 255 }))
            .collect();
        let mut src = Vec::new();
        let mut enc = png::Encoder::new(&mut src, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.write_header().unwrap().write_image_data(&px).unwrap();
        let out = preview_png(&src, 1240).expect("preview");
        let mut r = png::Decoder::new(std::io::Cursor::new(&out))
            .read_info()
            .expect("a PNG");
        assert_eq!((r.info().width, r.info().height), (1240, 413));
        let mut buf = vec![0; r.output_buffer_size()];
        r.next_frame(&mut buf).expect("frame");
        assert_eq!((buf[0], buf[1239]), (0, 255));
        // Small images are not enlarged; other content is refused.
        let small = preview_png(&src, 5000).expect("preview");
        let r = png::Decoder::new(std::io::Cursor::new(&small))
            .read_info()
            .expect("a PNG");
        assert_eq!((r.info().width, r.info().height), (3000, 1000));
        assert!(preview_png(b"%PDF-1.4", 100).is_err());
        assert!(preview_png(b"plain text", 100).is_err());
    }

    fn qr_page(text: &str, module_px: usize) -> (u32, u32, Vec<u8>) {
        let qr = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let (m, colors) = (qr.width(), qr.to_colors());
        paint((m, m), 4, module_px, |x, y| {
            colors[y * m + x] == qrcode::Color::Dark
        })
    }

    #[test]
    fn png_and_tiff_images_are_decoded() {
        let (w, h, px) = qr_page("QNVCFM3P4VDF", 6);
        let mut png_bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png_bytes, w, h);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            enc.write_header().unwrap().write_image_data(&px).unwrap();
        }
        assert_eq!(decode(&png_bytes, "image/png").unwrap(), ["QNVCFM3P4VDF"]);
        let mut tiff_bytes = std::io::Cursor::new(Vec::new());
        tiff::encoder::TiffEncoder::new(&mut tiff_bytes)
            .unwrap()
            .write_image::<tiff::encoder::colortype::Gray8>(w, h, &px)
            .unwrap();
        assert_eq!(
            decode(tiff_bytes.get_ref(), "image/tiff").unwrap(),
            ["QNVCFM3P4VDF"]
        );
    }

    #[test]
    fn a_datamatrix_code_is_read_too() {
        use rxing::Writer;
        let m = rxing::MultiFormatWriter
            .encode("QNVCFM3P4VDF", &rxing::BarcodeFormat::DATA_MATRIX, 0, 0)
            .unwrap();
        let size = (m.getWidth() as usize, m.getHeight() as usize);
        let (side_w, side_h, px) = paint(size, 2, 8, |x, y| m.get(x as u32, y as u32));
        let texts = decode::decode_qr_from_luma(side_w, side_h, &px).unwrap();
        assert_eq!(texts, ["QNVCFM3P4VDF"]);
    }

    #[test]
    fn a_broken_image_is_named_not_hidden() {
        let e = decode(b"\x89PNG\r\n\x1a\nbroken", "image/png").unwrap_err();
        assert!(
            matches!(&e, DecodeFailure::Image(r) if r.starts_with("PNG")),
            "{e}"
        );
    }
}
