//! Simulated scans of a printed cover sheet, for the intake's end-to-end
//! tests and benchmarks (and for an operator who wants to try the intake
//! without a scanner).
//!
//! Owns: rendering an A4 page raster at a resolution with the cover sheet's
//! QR code where `zeugnis cover-sheet` prints it, rotated, on grey paper,
//! with salt-and-pepper noise; and wrapping rasters as PNG / TIFF files.
//! Must not do: anything the intake relies on (it is test equipment).

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

impl Page {
    /// The page as an 8-bit grayscale PNG.
    pub fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
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
