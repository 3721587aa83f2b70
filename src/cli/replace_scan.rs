//! `zeugnis replace-scan CODE FILE --reason TEXT`: replaces a wrongly
//! archived scan (ledger kind 13, `ScanReplaced`; docs/intake.md). Reads
//! the file here, bounded by `[intake] file_bytes_max`, and sends it as a
//! [`Request::ReplaceScan`] (to the daemon when one runs).
//! Must not do: decide anything about the certificate (the registry does).

use crate::config::Config;
use crate::control::Request;
use crate::registry::RegistryError;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The arguments of `replace-scan`.
#[derive(clap::Args, Debug)]
pub struct ReplaceScanArgs {
    /// The code (any spelling).
    code: String,
    /// The correct scan: a PDF, PNG, JPEG or TIFF, at most
    /// `[intake] file_bytes_max` bytes.
    file: PathBuf,
    /// Why the archived scan is replaced (private text: shown only with
    /// the access key).
    #[arg(long)]
    reason: String,
    /// Print the outcome as JSON (`code`, `seq`, `scan`, `replaced_blake3`,
    /// `replaced_seq`, `retry`).
    #[arg(long)]
    json: bool,
}

/// Reads the file (at most `[intake] file_bytes_max` bytes) and builds the request.
pub fn request(args: ReplaceScanArgs, cfg: &Config) -> Result<Request, RegistryError> {
    let bytes = read_bounded(&args.file, cfg.intake.file_bytes_max)?;
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.file.display().to_string());
    Ok(Request::ReplaceScan {
        code: args.code,
        file_name,
        bytes,
        reason: args.reason,
        json: args.json,
    })
}

/// Reads at most `limit + 1` bytes, so that a file that grows or a device
/// (`/dev/zero`) is refused at the limit instead of filling the memory.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, RegistryError> {
    let what = |e: std::io::Error| RegistryError::Invalid(format!("FILE {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(what)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(what)?;
    if bytes.len() as u64 > limit {
        return Err(RegistryError::Invalid(format!(
            "FILE {}: larger than the scan limit of {limit} bytes (intake.file_bytes_max)",
            path.display()
        )));
    }
    Ok(bytes)
}
