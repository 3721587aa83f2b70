//! Simulated scans of a printed cover sheet, for the intake's end-to-end
//! tests and benchmarks (and for an operator who wants to try the intake
//! without a scanner).
//!
//! Owns: rendering an A4 page raster at a resolution with the cover sheet's
//! QR code where `zeugnis cover-sheet` prints it, rotated, on grey paper,
//! with salt-and-pepper noise; rendering page 1 of a PDF the caller made
//! (the printed certificate behind the cover sheet) the same way; and
//! wrapping rasters as PNG / TIFF files or as a multi-page scanned PDF
//! ([`scan_pdf`], one image per page, as a document scanner writes it).
//! Must not do: anything the intake relies on (it is test equipment), or
//! render a PDF from outside (hostile PDFs are rendered only in a worker
//! child, `crate::exports::page_render`).

use crate::coversheet::{
    PAGE_HEIGHT_PT, PAGE_WIDTH_PT, QR_BOTTOM_PT, QR_LEFT_PT, QR_QUIET_ZONE_MODULES, QR_SIDE_PT,
};

/// A grayscale page (0 = black), row-major.
pub struct Page {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// One byte per pixel.
    pub luma: Vec<u8>,
}

/// Deterministic pseudo-random numbers (xorshift64*).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The page a scanner at `dpi` sees of a printed cover sheet carrying
/// `text` as its QR code (error correction Q, as printed): rotated by
/// `degrees` around the centre, paper 235 and toner 35, and
/// `noise_percent` % of the pixels turned black or white at random
/// (`seed` makes it repeatable).
pub fn scanned_cover_page(
    text: &str,
    dpi: f32,
    degrees: f32,
    noise_percent: u64,
    seed: u64,
) -> Page {
    let qr = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::Q)
        .expect("a code fits a QR code");
    let modules = qr.width();
    let colors = qr.to_colors();
    let side_modules = (modules + 2 * QR_QUIET_ZONE_MODULES) as f32;
    let px_per_pt = dpi / 72.0;
    let width = (PAGE_WIDTH_PT * px_per_pt).round() as u32;
    let height = (PAGE_HEIGHT_PT * px_per_pt).round() as u32;
    let qr_left = QR_LEFT_PT * px_per_pt;
    let qr_top = (PAGE_HEIGHT_PT - QR_BOTTOM_PT - QR_SIDE_PT) * px_per_pt;
    let qr_side = QR_SIDE_PT * px_per_pt;
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let mut noise = Noise(seed | 1);
    let mut luma = Vec::with_capacity((width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let sx = cos * dx + sin * dy + cx - qr_left;
            let sy = -sin * dx + cos * dy + cy - qr_top;
            let mut value = 235u8;
            if (0.0..qr_side).contains(&sx) && (0.0..qr_side).contains(&sy) {
                let mx = (sx / qr_side * side_modules) as usize;
                let my = (sy / qr_side * side_modules) as usize;
                let q = QR_QUIET_ZONE_MODULES;
                if mx >= q
                    && my >= q
                    && mx - q < modules
                    && my - q < modules
                    && colors[(my - q) * modules + (mx - q)] == qrcode::Color::Dark
                {
                    value = 35;
                }
            }
            let roll = noise.next() % 1000;
            if roll < noise_percent * 5 {
                value = 0;
            } else if roll < noise_percent * 10 {
                value = 255;
            }
            luma.push(value);
        }
    }
    Page {
        width,
        height,
        luma,
    }
}

/// The page a scanner at `dpi` sees of page 1 of `pdf` printed: the page
/// rendered with `hayro`, on grey paper (235) with toner (35), and
/// `noise_percent` % of the pixels turned black or white at random (`seed`
/// makes it repeatable). Only for a PDF the caller made itself (the
/// renderer runs in this process, without the worker's limits).
pub fn scanned_document_page(
    pdf: &[u8],
    dpi: f32,
    noise_percent: u64,
    seed: u64,
) -> Result<Page, String> {
    use hayro::hayro_interpret::InterpreterSettings;
    use hayro::hayro_syntax::Pdf;
    use hayro::vello_cpu::color::palette::css::WHITE;
    use hayro::{PixmapSettings, RenderCache, RenderSettings};

    let doc = Pdf::new(pdf.to_vec()).map_err(|e| format!("not a readable PDF (hayro: {e:?})"))?;
    let pages = doc.pages();
    let page = pages.first().ok_or("the PDF has no pages")?;
    let scale = dpi / 72.0;
    let settings = PixmapSettings {
        x_scale: scale,
        y_scale: scale,
        bg_color: WHITE,
    };
    let pixmap = hayro::render(
        page,
        &RenderCache::new(),
        &InterpreterSettings::default(),
        &RenderSettings::default(),
        &settings,
    );
    let (width, height) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    if width == 0 || height == 0 {
        return Err("page 1 rendered to no pixels".into());
    }
    let mut noise = Noise(seed | 1);
    // Opaque white background: the premultiplied colour is the colour.
    let luma = pixmap
        .data_as_u8_slice()
        .chunks_exact(4)
        .map(|p| {
            let white =
                (u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000;
            let roll = noise.next() % 1000;
            if roll < noise_percent * 5 {
                0
            } else if roll < noise_percent * 10 {
                255
            } else {
                (35 + white * 200 / 255) as u8
            }
        })
        .collect();
    Ok(Page {
        width,
        height,
        luma,
    })
}

/// The zlib stream of a PNG (its IDAT chunks joined): Flate-compressed
/// rows, each led by its PNG filter byte, which is what a PDF image with
/// `/Predictor 15` holds.
fn png_idat(png: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 8; // the signature
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..(at + 8 + len).min(png.len())];
        if kind == b"IDAT" {
            out.extend_from_slice(data);
        }
        at += 12 + len;
    }
    out
}

/// A scanned PDF as a document scanner writes it: one page per raster, in
/// order, each page the size the raster has at `dpi` and showing it as an
/// 8-bit DeviceGray image (Flate with PNG predictors). The first page's
/// image is the PDF's first image object, so a cover sheet scanned first
/// is found first.
pub fn scan_pdf(pages: &[Page], dpi: f32) -> Vec<u8> {
    use std::io::Write as _;
    // Objects: 1 catalog, 2 page tree, then per page: page, content, image.
    let first = 3;
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            (0..pages.len())
                .map(|i| format!("{} 0 R", first + 3 * i))
                .collect::<Vec<_>>()
                .join(" "),
            pages.len()
        )
        .into_bytes(),
    ];
    for (i, p) in pages.iter().enumerate() {
        let id = first + 3 * i;
        let (w_pt, h_pt) = (p.width as f32 * 72.0 / dpi, p.height as f32 * 72.0 / dpi);
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.2} {h_pt:.2}] /Contents {} 0 R /Resources << /XObject << /Im1 {} 0 R >> >> >>",
                id + 1,
                id + 2
            )
            .into_bytes(),
        );
        let content = format!("q {w_pt:.2} 0 0 {h_pt:.2} 0 0 cm /Im1 Do Q\n");
        objects.push(
            format!(
                "<< /Length {} >>\nstream\n{content}endstream",
                content.len()
            )
            .into_bytes(),
        );
        let data = png_idat(&p.png_with(png::Compression::Fast));
        let mut image = format!(
            "<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns {} >> /Length {} >>\nstream\n",
            p.width,
            p.height,
            p.width,
            data.len()
        )
        .into_bytes();
        image.extend_from_slice(&data);
        image.extend_from_slice(b"\nendstream");
        objects.push(image);
    }
    let mut pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        let _ = writeln!(pdf, "{} 0 obj", i + 1);
        pdf.extend_from_slice(o);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    let _ = write!(pdf, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        let _ = writeln!(pdf, "{o:010} 00000 n ");
    }
    let _ = write!(
        pdf,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    pdf
}

impl Page {
    /// The page as an 8-bit grayscale PNG.
    pub fn png(&self) -> Vec<u8> {
        self.png_with(png::Compression::Default)
    }

    /// The page as an 8-bit grayscale PNG at a compression level.
    fn png_with(&self, compression: png::Compression) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(compression);
        enc.write_header()
            .and_then(|mut w| w.write_image_data(&self.luma))
            .expect("PNG encoding to memory");
        out
    }

    /// The page as an 8-bit grayscale TIFF (Deflate).
    pub fn tiff(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        tiff::encoder::TiffEncoder::new(&mut out)
            .map(|e| e.with_compression(tiff::encoder::Compression::Deflate(Default::default())))
            .and_then(|mut e| {
                e.write_image::<tiff::encoder::colortype::Gray8>(
                    self.width,
                    self.height,
                    &self.luma,
                )
            })
            .expect("TIFF encoding to memory");
        out.into_inner()
    }
}
