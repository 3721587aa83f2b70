//! `zeugnis export-xhs` and `zeugnis export-elm`: the machine-readable
//! certificates (docs/exports.md). Reads the `[exports]` table of the
//! configuration file for the operator's code-list values and the
//! `--page-image` file, sends the export to the running daemon (control
//! socket) or runs it on a read-only open when none runs, like `show`,
//! and writes the file it gets back.

use super::Runner;
use crate::control::{command::Document, Request};
pub use crate::exports::file::Format;
use std::path::PathBuf;

/// The arguments both export subcommands share.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The code (any spelling); `CODE-KEY` also checks the access key.
    code: String,
    /// Output file.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Language of the document: de or en (default: the record's language;
    /// export-elm writes both languages into one credential and refuses --lang).
    #[arg(long)]
    lang: Option<String>,
    /// Base URL of the verification service, for the link in the document
    /// (default: the configuration's `base_url`).
    #[arg(long)]
    base_url: Option<String>,
    /// export-elm: a PNG or JPEG of the certificate's first page for the
    /// display parameters (default: page 1 of the registered PDF rendered
    /// in a limited child process; if that fails, with a warning, the QR
    /// code of the verification page).
    #[arg(long)]
    page_image: Option<PathBuf>,
}

/// Runs one export; returns the exit code. The configuration is the one of
/// every command (`--config`, `ZEUGNIS_CONFIG`, `./zeugnis.toml`); its
/// `[exports]` table holds the code-list values (Hochschulsignatur,
/// Fächerschlüssel, country, legal identifier) and goes with the request,
/// so the output is the same whether the daemon or this process renders.
pub(super) fn run(runner: &Runner<'_>, format: Format, args: ExportArgs) -> i32 {
    let page_image = match &args.page_image {
        None => None,
        Some(p) => match std::fs::read(p) {
            Ok(bytes) => Some(Document {
                name: p.display().to_string(),
                bytes,
            }),
            Err(e) => {
                eprintln!("zeugnis: error: [exports] page-image: {}: {e}", p.display());
                return 2;
            }
        },
    };
    let req = Request::Export {
        format,
        code: args.code,
        lang: args.lang,
        base_url: args.base_url.unwrap_or_else(|| runner.cfg.base_url.clone()),
        page_image,
        config: runner.cfg.exports.clone(),
        output: args.output.clone(),
    };
    let mut reply = runner.reply(req);
    if let Some(bytes) = reply.pdf.take() {
        if let Err(e) = crate::ledger::durable::write_atomic(&args.output, &bytes) {
            eprintln!(
                "zeugnis: error: cannot write {}: {e}",
                args.output.display()
            );
            return 2;
        }
    }
    super::finish(reply)
}
