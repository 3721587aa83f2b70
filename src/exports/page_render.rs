//! Page 1 of the registered PDF as a PNG: the ELM export's display image
//! ("an image of the first page of the digital certificate", issue 21).
//!
//! Owns: the limits of one rendering (named constants below), the
//! rendering itself with the pure-Rust `hayro` rasteriser ([`render_png`],
//! run only inside a worker child), and the parent side
//! ([`first_page_image`]) that runs it in a child `zeugnis decode-worker`
//! with `RLIMIT_AS`, `RLIMIT_CPU` and a wall-clock limit, the same child
//! the scan intake uses for hostile decodes (`crate::scans::worker`).
//! Must not do: fall back silently. A failed rendering is an error with a
//! reason; the callers (`zeugnis export-elm`, the HTTP ELM route) fall back
//! to the QR code of the verification page and say so.
//!
//! Why a child: the registered PDF was uploaded by an operator or the
//! intake and may be hostile (a page 14 400 inches wide, content streams
//! nested thousands deep, a 100-megapixel image). The child dies of its
//! limits instead of the daemon.

use super::elm::{PageImage, PAGE_IMAGE_BYTES_MAX};
use crate::scans::worker::{self, Limits, WorkerFailure};
use std::path::Path;

/// Longest side of the rendered page, in pixels (A4 portrait becomes
/// 877 × 1240, about 106 dpi: legible, and a few hundred kilobytes).
pub const PAGE_IMAGE_SIDE_PX_MAX: u32 = 1240;
/// Address-space limit of the rendering child (`RLIMIT_AS`), in bytes.
pub const PAGE_RENDER_MEMORY_BYTES_MAX: u64 = 512 * 1024 * 1024;
/// Wall-clock limit of one rendering, in milliseconds; the child is killed
/// after it. Its CPU limit is this rounded up to whole seconds.
pub const PAGE_RENDER_TIMEOUT_MS: u64 = 20_000;
/// Largest PDF handed to the renderer, in bytes (larger ones fall back).
pub const PAGE_RENDER_INPUT_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The limits of one rendering in a worker child.
pub fn limits() -> Limits {
    Limits {
        bytes_max: PAGE_RENDER_MEMORY_BYTES_MAX,
        timeout_ms: PAGE_RENDER_TIMEOUT_MS,
        input_bytes_max: PAGE_RENDER_INPUT_BYTES_MAX,
    }
}

/// Renders page 1 of `pdf` on white, scaled so that its longest side is
/// [`PAGE_IMAGE_SIDE_PX_MAX`] pixels, as an 8-bit RGB PNG. Runs in the
/// worker child (unbounded otherwise); the error is a reason for people.
pub fn render_png(pdf: &[u8]) -> Result<Vec<u8>, String> {
    use hayro::hayro_interpret::InterpreterSettings;
    use hayro::hayro_syntax::Pdf;
    use hayro::vello_cpu::color::palette::css::WHITE;
    use hayro::{PixmapSettings, RenderCache, RenderSettings};

    let doc = Pdf::new(pdf.to_vec()).map_err(|e| format!("not a readable PDF (hayro: {e:?})"))?;
    let pages = doc.pages();
    let page = pages.first().ok_or("the PDF has no pages")?;
    let (w, h) = page.render_dimensions();
    if !(w.is_finite() && h.is_finite() && w > 0.0 && h > 0.0) {
        return Err(format!("page 1 has no usable size ({w} × {h} pt)"));
    }
    // hayro truncates width × scale to whole pixels: aim half a pixel
    // higher so that the longest side is exactly the limit, not one less.
    let scale = (PAGE_IMAGE_SIDE_PX_MAX as f32 + 0.5) / w.max(h);
    let settings = PixmapSettings {
        x_scale: scale,
        y_scale: scale,
        bg_color: WHITE,
    };
    let cache = RenderCache::new();
    let pixmap = hayro::render(
        page,
        &cache,
        &InterpreterSettings::default(),
        &RenderSettings::default(),
        &settings,
    );
    let (pw, ph) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    if pw == 0 || ph == 0 || pw.max(ph) > PAGE_IMAGE_SIDE_PX_MAX {
        return Err(format!(
            "page 1 rendered to {pw} × {ph} pixels (from {w} × {h} pt), not 1 to {PAGE_IMAGE_SIDE_PX_MAX} a side"
        ));
    }
    // The background is opaque white, so every pixel is opaque and the
    // premultiplied colour is the colour: keep R, G, B.
    let rgb: Vec<u8> = pixmap
        .data_as_u8_slice()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, pw, ph);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Best);
    enc.write_header()
        .and_then(|mut wr| wr.write_image_data(&rgb))
        .map_err(|e| format!("PNG encoding: {e}"))?;
    if out.len() > PAGE_IMAGE_BYTES_MAX {
        return Err(format!(
            "the PNG of page 1 has {} bytes, more than {PAGE_IMAGE_BYTES_MAX}",
            out.len()
        ));
    }
    Ok(out)
}

/// Why page 1 could not be rendered: one sentence naming the limit or the
/// renderer's reason (shown by the CLI, logged and sent as a header by the
/// HTTP route).
pub fn failure_reason(f: &WorkerFailure) -> String {
    match f {
        WorkerFailure::Image(r) => format!("the PDF could not be rendered: {r}"),
        WorkerFailure::OverBudget { bytes_max } => format!(
            "rendering needed more than {bytes_max} bytes of memory (PAGE_RENDER_MEMORY_BYTES_MAX)"
        ),
        WorkerFailure::TimedOut { timeout_ms } => format!(
            "rendering took longer than {timeout_ms} ms (PAGE_RENDER_TIMEOUT_MS); the renderer was stopped"
        ),
        WorkerFailure::Crashed(r) => format!("the renderer crashed: {r}"),
        WorkerFailure::Spawn(r) => format!("cannot start the render worker: {r}"),
    }
}

/// Renders page 1 of `pdf` in a child `exe decode-worker` under
/// [`limits`]; `Err` is the reason to show when falling back.
pub fn first_page_image(exe: &Path, pdf: &[u8]) -> Result<PageImage, String> {
    if pdf.len() as u64 > PAGE_RENDER_INPUT_BYTES_MAX {
        return Err(format!(
            "the PDF has {} bytes, more than {PAGE_RENDER_INPUT_BYTES_MAX} (PAGE_RENDER_INPUT_BYTES_MAX)",
            pdf.len()
        ));
    }
    let png = worker::render_first_page(exe, pdf, limits()).map_err(|f| failure_reason(&f))?;
    PageImage::from_file_bytes("rendered page 1", png).map_err(|e| e.to_string())
}

/// Renders page 1 of the certificate's registered PDF (its first digital
/// document, read from `blobs` and checked against its address) in a
/// child `exe decode-worker`; `Err` is the reason to show when falling
/// back.
pub fn for_transcript(
    blobs: &crate::blobs::BlobStore,
    t: &super::Transcript,
    exe: &Path,
) -> Result<PageImage, String> {
    let Some(hex_addr) = &t.document_blake3 else {
        return Err("the certificate has no registered PDF".into());
    };
    let addr: crate::ledger::record::Hash32 = hex::decode(hex_addr)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| format!("the document address {hex_addr:?} is not 32 bytes of hex"))?;
    let pdf = blobs
        .get(&addr)
        .map_err(|e| format!("the registered PDF cannot be read: {e}"))?;
    if !pdf.starts_with(b"%PDF-") {
        return Err("the registered document is not a PDF (by its first bytes)".into());
    }
    first_page_image(exe, &pdf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF of `w` × `h` pt whose content stream is `content`.
    fn pdf(w: u32, h: u32, content: &str) -> Vec<u8> {
        let objs = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Contents 4 0 R >>"),
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            ),
        ];
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes(),
        );
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objs.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(png_bytes);
        let mut r = dec.read_info().expect("png header");
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).expect("png frame");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn a_black_rectangle_lands_where_the_pdf_puts_it() {
        // A4; black rectangle over the left half of the lower half (PDF
        // y grows upwards): x 0..297, y 0..421 pt.
        let png_bytes = render_png(&pdf(595, 842, "0 0 0 rg 0 0 297 421 re f")).expect("render");
        let (w, h, rgb) = decode(&png_bytes);
        assert_eq!(h, PAGE_IMAGE_SIDE_PX_MAX);
        assert_eq!(w, (595.0_f32 * 1240.0 / 842.0) as u32);
        let at = |x: u32, y: u32| rgb[((y * w + x) * 3) as usize];
        assert!(at(w / 4, h * 3 / 4) < 32, "lower left is dark");
        assert!(at(w * 3 / 4, h * 3 / 4) > 224, "lower right is light");
        assert!(at(w / 4, h / 4) > 224, "upper left is light");
    }

    #[test]
    fn a_huge_page_is_scaled_down_to_the_limit() {
        let png_bytes =
            render_png(&pdf(14_400, 200, "0 0 0 rg 0 0 7200 200 re f")).expect("render");
        let (w, h, rgb) = decode(&png_bytes);
        assert_eq!(w, PAGE_IMAGE_SIDE_PX_MAX);
        assert!((1..30).contains(&h), "{h}");
        assert!(rgb[((h / 2 * w + w / 4) * 3) as usize] < 32);
        assert!(rgb[((h / 2 * w + w * 3 / 4) * 3) as usize] > 224);
    }

    #[test]
    fn not_a_pdf_or_no_page_is_a_reason() {
        let e = render_png(b"hello").expect_err("not a pdf");
        assert!(e.contains("not a readable PDF"), "{e}");
    }
}
