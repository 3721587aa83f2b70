//! `zeugnis export-xhs` and `zeugnis export-elm`: the machine-readable
//! certificates (docs/exports.md). Reads the `[exports]` table of the
//! configuration file for the operator's code-list values.

use crate::exports::{self, ExportError, Lang, Transcript};
use crate::registry::Registry;
use std::path::{Path, PathBuf};

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

/// Which format.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// XHochschule 1.2 Hochschulabschlusszeugnis (XML).
    Xhs,
    /// European Learning Model (JSON-LD).
    Elm,
}

/// Runs one export; returns the exit code.
/// `cfg` is the one configuration of every command (`--config`,
/// `ZEUGNIS_CONFIG`, `./zeugnis.toml`); its `[exports]` table holds the
/// code-list values (Hochschulsignatur, Fächerschlüssel, country, legal
/// identifier).
pub fn run(data: &Path, cfg: &crate::config::Config, format: Format, args: ExportArgs) -> i32 {
    match export(data, cfg, format, &args) {
        Ok(msg) => {
            println!("{msg}");
            0
        }
        Err(e) => {
            eprintln!("zeugnis: error: {e}");
            e.exit_code()
        }
    }
}

fn export(
    data: &Path,
    config: &crate::config::Config,
    format: Format,
    args: &ExportArgs,
) -> Result<String, ExportError> {
    let cfg = config.exports.clone();
    let cfg_base_url = config.base_url.clone();
    let base_url = args.base_url.clone().unwrap_or(cfg_base_url);
    let registry = Registry::open(data, &base_url)?;
    let t = Transcript::load(&registry.reader(), &args.code, None)?;
    let lang = match &args.lang {
        None => None,
        Some(l) => Some(Lang::parse(l).ok_or_else(|| ExportError::Config {
            field: "lang",
            reason: format!("--lang {l:?} is not \"de\" or \"en\""),
        })?),
    };
    if matches!(format, Format::Elm) && lang.is_some() {
        return Err(ExportError::Config {
            field: "lang",
            reason: "export-elm writes German and English into one credential; drop --lang".into(),
        });
    }
    if matches!(format, Format::Xhs) && args.page_image.is_some() {
        return Err(ExportError::Config {
            field: "page-image",
            reason: "only export-elm embeds a page image".into(),
        });
    }
    // export-elm: which display image was embedded (said in the output).
    let mut shown = "";
    let bytes = match format {
        Format::Xhs => {
            let lang = lang.unwrap_or(t.record_language);
            exports::xhochschule::render(&t, lang, &cfg, &base_url)?
        }
        Format::Elm => {
            let image = match &args.page_image {
                None => match exports::page_render::for_transcript(
                    registry.blobs(),
                    &t,
                    &crate::scans::worker::default_exe(),
                ) {
                    Ok(i) => {
                        shown = "page 1 of the registered PDF, rendered";
                        Some(i)
                    }
                    Err(reason) => {
                        eprintln!(
                            "zeugnis: warning: page 1 of the registered PDF was not rendered: {reason}; \
                             the display image is the QR code of the verification page instead \
                             (give --page-image FILE to supply one)"
                        );
                        shown = "the QR code of the verification page (fallback)";
                        None
                    }
                },
                Some(p) => {
                    shown = "the --page-image file";
                    let bytes = std::fs::read(p).map_err(|e| ExportError::Config {
                        field: "page-image",
                        reason: format!("{}: {e}", p.display()),
                    })?;
                    Some(exports::elm::PageImage::from_file_bytes(
                        &p.display().to_string(),
                        bytes,
                    )?)
                }
            };
            exports::elm::render(&t, &cfg, &base_url, image)?
        }
    };
    crate::ledger::durable::write_atomic(&args.output, &bytes).map_err(|e| {
        ExportError::Registry(crate::registry::RegistryError::Invalid(format!(
            "cannot write {}: {e}",
            args.output.display()
        )))
    })?;
    Ok(format!(
        "wrote the {} export of {} to {}{}",
        match format {
            Format::Xhs => "XHochschule 1.2",
            Format::Elm => "European Learning Model",
        },
        t.code_formatted,
        args.output.display(),
        match format {
            Format::Xhs => String::new(),
            Format::Elm => format!(" (display image: {shown})"),
        }
    ))
}
