//! Page 1 of a quarantined scan as a PNG, for the desk's look before a
//! person assigns the scan to a certificate by hand.
//!
//! Owns: choosing the job by the file's signature and running it in a
//! limited `zeugnis decode-worker` child: a PDF is rendered with hayro
//! (the ELM export's [`RENDER_JOB`](super::worker::RENDER_JOB), same
//! limits as `crate::exports::page_render`), a PNG, JPEG or TIFF is decoded
//! and encoded afresh as a shrunk grayscale PNG
//! ([`RENDER_IMAGE_JOB`](super::worker::RENDER_IMAGE_JOB)); and checking
//! what comes back (PNG signature, at most [`PREVIEW_PNG_BYTES_MAX`]).
//! Must not do: parse or decode the file in the daemon's process, or hand
//! the file's own bytes to a browser: only a PNG the child made is served.
//!
//! Limits: input at most [`PREVIEW_INPUT_BYTES_MAX`]; the child runs under
//! `page_render::limits()` (memory `PAGE_RENDER_MEMORY_BYTES_MAX`, wall
//! clock `PAGE_RENDER_TIMEOUT_MS`); the picture is at most
//! `PAGE_IMAGE_SIDE_PX_MAX` pixels a side (an image scan also at most
//! `decode::IMAGE_PIXELS_MAX` pixels before shrinking).

use super::worker;
use crate::exports::page_render;
use std::path::Path;

/// Largest quarantined file previewed, in bytes (the renderer's input limit).
pub const PREVIEW_INPUT_BYTES_MAX: u64 = page_render::PAGE_RENDER_INPUT_BYTES_MAX;
/// Largest preview PNG accepted from the child, in bytes.
pub const PREVIEW_PNG_BYTES_MAX: usize = crate::exports::elm::PAGE_IMAGE_BYTES_MAX;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Renders page 1 of `bytes` (a PDF, PNG, JPEG or TIFF) to a PNG in a
/// child `exe decode-worker`; `Err` is the reason to show instead.
pub fn first_page_png(exe: &Path, bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.len() as u64 > PREVIEW_INPUT_BYTES_MAX {
        return Err(format!(
            "the file has {} bytes, more than {PREVIEW_INPUT_BYTES_MAX} (PREVIEW_INPUT_BYTES_MAX)",
            bytes.len()
        ));
    }
    let limits = page_render::limits();
    let png = match crate::blobs::sniff(bytes) {
        Some("application/pdf") => worker::render_first_page(exe, bytes, limits),
        Some(_) => worker::render_image(exe, bytes, limits),
        None => return Err("the file is neither a PDF nor a PNG, JPEG or TIFF image".into()),
    }
    .map_err(|f| match f {
        worker::WorkerFailure::Image(r) => format!("the file could not be rendered: {r}"),
        other => page_render::failure_reason(&other),
    })?;
    if !png.starts_with(PNG_SIGNATURE) {
        return Err("the renderer's answer is not a PNG".into());
    }
    if png.len() > PREVIEW_PNG_BYTES_MAX {
        return Err(format!(
            "the preview has {} bytes, more than {PREVIEW_PNG_BYTES_MAX} (PREVIEW_PNG_BYTES_MAX)",
            png.len()
        ));
    }
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_no_pdf_or_image_is_refused_before_any_child() {
        let e =
            first_page_png(Path::new("/nonexistent/zeugnis"), b"just text").expect_err("refused");
        assert!(e.contains("neither a PDF"), "{e}");
        let big = vec![0u8; PREVIEW_INPUT_BYTES_MAX as usize + 1];
        let e = first_page_png(Path::new("/nonexistent/zeugnis"), &big).expect_err("refused");
        assert!(e.contains("PREVIEW_INPUT_BYTES_MAX"), "{e}");
    }
}
