//! One export file as the commands make it (`zeugnis export-xhs`,
//! `zeugnis export-elm`): the same function whether the running daemon
//! makes it (over the control socket) or the CLI does on a read-only open.
//!
//! Owns: [`Format`] and [`render_file`] (checks the options, loads the
//! [`Transcript`] through a [`Reader`], renders, and names what it made).
//! Must not do: read the operator's files or write the output (the client
//! does both, so the daemon never touches the operator's folders).

use super::{elm, xhochschule, ExportError, ExportsConfig, Lang, Transcript};
use crate::registry::Reader;
use serde::{Deserialize, Serialize};

/// Which format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// XHochschule 1.2 Hochschulabschlusszeugnis (XML).
    Xhs,
    /// European Learning Model (JSON-LD).
    Elm,
}

impl Format {
    /// The command's name.
    pub fn command(self) -> &'static str {
        match self {
            Format::Xhs => "export-xhs",
            Format::Elm => "export-elm",
        }
    }
}

/// What [`render_file`] made.
#[derive(Debug)]
pub struct Rendered {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The line the command prints (`wrote the … export of CODE to OUTPUT`,
    /// for export-elm with the display image it embedded).
    pub message: String,
    /// A warning for standard error: page 1 of the registered PDF could not
    /// be rendered, so the display image is the QR code (export-elm).
    pub warning: Option<String>,
}

/// Renders the export of `code` in `format`.
/// `page_image` is (file name, bytes) of `--page-image`, read by the client;
/// without it, export-elm renders page 1 of the registered PDF in a limited
/// child process (`exports::page_render`), falling back to the QR code of
/// the verification page with a warning.
#[allow(clippy::too_many_arguments)]
pub fn render_file(
    reader: &Reader,
    format: Format,
    code: &str,
    lang: Option<&str>,
    base_url: &str,
    page_image: Option<(&str, Vec<u8>)>,
    cfg: &ExportsConfig,
    output_name: &str,
) -> Result<Rendered, ExportError> {
    let t = Transcript::load(reader, code, None)?;
    let lang = match lang {
        None => None,
        Some(l) => Some(Lang::parse(l).ok_or_else(|| ExportError::Config {
            field: "lang",
            reason: format!("--lang {l:?} is not \"de\" or \"en\""),
        })?),
    };
    if format == Format::Elm && lang.is_some() {
        return Err(ExportError::Config {
            field: "lang",
            reason: "export-elm writes German and English into one credential; drop --lang".into(),
        });
    }
    if format == Format::Xhs && page_image.is_some() {
        return Err(ExportError::Config {
            field: "page-image",
            reason: "only export-elm embeds a page image".into(),
        });
    }
    // export-elm: which display image was embedded (said in the output).
    let mut shown = "";
    let mut warning = None;
    let bytes = match format {
        Format::Xhs => {
            let lang = lang.unwrap_or(t.record_language);
            xhochschule::render(&t, lang, cfg, base_url)?
        }
        Format::Elm => {
            let image = match page_image {
                None => match super::page_render::for_transcript(
                    reader.blobs(),
                    &t,
                    &crate::scans::worker::default_exe(),
                ) {
                    Ok(i) => {
                        shown = "page 1 of the registered PDF, rendered";
                        Some(i)
                    }
                    Err(reason) => {
                        warning = Some(format!(
                            "page 1 of the registered PDF was not rendered: {reason}; \
                             the display image is the QR code of the verification page instead \
                             (give --page-image FILE to supply one)"
                        ));
                        shown = "the QR code of the verification page (fallback)";
                        None
                    }
                },
                Some((name, bytes)) => {
                    shown = "the --page-image file";
                    Some(elm::PageImage::from_file_bytes(name, bytes)?)
                }
            };
            elm::render(&t, cfg, base_url, image)?
        }
    };
    let message = format!(
        "wrote the {} export of {} to {output_name}{}",
        match format {
            Format::Xhs => "XHochschule 1.2",
            Format::Elm => "European Learning Model",
        },
        t.code_formatted,
        match format {
            Format::Xhs => String::new(),
            Format::Elm => format!(" (display image: {shown})"),
        }
    );
    Ok(Rendered {
        bytes,
        message,
        warning,
    })
}
