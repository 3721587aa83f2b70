//! `zeugnis reserve`: codes before documents. Hands out fresh codes with
//! their access keys and verification URLs (recorded in the ledger as
//! `Reserved`, through the daemon when it runs) and, with `--qr`, writes a
//! QR code of each URL for the exam office's PDF generator.
//!
//! Owns: the QR image files (PNG or SVG), written on the client side.
//! Must not do: derive keys or touch the ledger (the registry does, in
//! `registry::reservation`).

use super::Runner;
use crate::control::Request;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Pixels per QR module in the PNG files.
pub const QR_PNG_PIXELS_PER_MODULE: usize = 8;
/// Light modules around the QR code (the standard's minimum).
pub const QR_QUIET_ZONE_MODULES: usize = 4;

/// The arguments of `zeugnis reserve`.
#[derive(clap::Args, Debug)]
pub struct ReserveArgs {
    /// How many codes (1 to 1000).
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Print one `{"code", "key", "url"}` object per line.
    #[arg(long)]
    json: bool,
    /// Language of the verification URLs: de or en.
    #[arg(long, default_value = "de")]
    language: String,
    /// Base URL of the verification service (default: `base_url` of the
    /// configuration).
    #[arg(long)]
    base_url: Option<String>,
    /// Also write a QR code of each URL, as `png` or `svg`, into the folder
    /// given with -o (one file per code, named `CODE.png` / `CODE.svg`).
    #[arg(long, value_parser = ["png", "svg"], requires = "output")]
    qr: Option<String>,
    /// The folder for the QR files (created if missing).
    #[arg(short = 'o', long = "output", requires = "qr")]
    output: Option<PathBuf>,
}

/// Runs `zeugnis reserve`; returns the exit code.
pub(super) fn run(runner: &Runner, args: ReserveArgs) -> i32 {
    let request = Request::Reserve {
        count: args.count,
        language: args.language.clone(),
        json: true,
        base_url: args.base_url.clone(),
    };
    let mut reply = runner.reply(request);
    if reply.exit != 0 {
        return super::finish(reply);
    }
    let mut issued = Vec::new();
    for line in reply.stdout.lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => issued.push((
                v["code"].as_str().unwrap_or_default().to_string(),
                v["key"].as_str().unwrap_or_default().to_string(),
                v["url"].as_str().unwrap_or_default().to_string(),
            )),
            Err(e) => {
                reply.stderr.push_str(&format!(
                    "zeugnis: error: the reservation reply is not JSON ({e}): {line}\n"
                ));
                reply.exit = 1;
                return super::finish(reply);
            }
        }
    }
    if !args.json {
        let mut text = String::new();
        for (code, key, url) in &issued {
            let _ = writeln!(text, "code: {code}\nkey:  {key}\nurl:  {url}\n");
        }
        reply.stdout = text;
    }
    if let (Some(format), Some(dir)) = (&args.qr, &args.output) {
        if let Err(e) = write_qr_files(dir, format, &issued) {
            // The codes are reserved already: print them before the error.
            reply.exit = 2;
            reply.stderr.push_str(&format!("zeugnis: error: {e}\n"));
        }
    }
    super::finish(reply)
}

fn write_qr_files(
    dir: &Path,
    format: &str,
    issued: &[(String, String, String)],
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("-o {}: {e}", dir.display()))?;
    for (code, _, url) in issued {
        let bytes = match format {
            "svg" => qr_svg(url)?.into_bytes(),
            _ => qr_png(url)?,
        };
        let path = dir.join(format!("{}.{format}", code.replace('-', "")));
        crate::ledger::durable::write_atomic(&path, &bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The QR code's modules (dark = true), quiet zone included, row by row.
fn qr_modules(text: &str) -> Result<(usize, Vec<bool>), String> {
    let qr = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| format!("QR code of {text}: {e}"))?;
    let n = qr.width();
    let colors = qr.to_colors();
    let side = n + 2 * QR_QUIET_ZONE_MODULES;
    let mut out = vec![false; side * side];
    for y in 0..n {
        for x in 0..n {
            out[(y + QR_QUIET_ZONE_MODULES) * side + x + QR_QUIET_ZONE_MODULES] =
                colors[y * n + x] == qrcode::Color::Dark;
        }
    }
    Ok((side, out))
}

/// A QR code of `text` as an SVG (one path, one unit per module).
pub fn qr_svg(text: &str) -> Result<String, String> {
    let (side, modules) = qr_modules(text)?;
    let mut path = String::new();
    for (i, dark) in modules.iter().enumerate() {
        if *dark {
            let _ = write!(path, "M{} {}h1v1h-1z", i % side, i / side);
        }
    }
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n"
    ))
}

/// A QR code of `text` as an 8-bit grayscale PNG.
pub fn qr_png(text: &str) -> Result<Vec<u8>, String> {
    let (side, modules) = qr_modules(text)?;
    let px = side * QR_PNG_PIXELS_PER_MODULE;
    let mut raster = vec![255u8; px * px];
    for y in 0..px {
        for x in 0..px {
            let m = (y / QR_PNG_PIXELS_PER_MODULE) * side + x / QR_PNG_PIXELS_PER_MODULE;
            if modules[m] {
                raster[y * px + x] = 0;
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, px as u32, px as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| format!("PNG: {e}"))?;
        w.write_image_data(&raster)
            .map_err(|e| format!("PNG: {e}"))?;
    }
    Ok(out)
}
