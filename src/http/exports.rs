//! `GET /api/v1/certificates/{CODE}-{KEY}/xhochschule.xml[?lang=de|en]` and
//! `GET /api/v1/certificates/{CODE}-{KEY}/elm.jsonld`: the machine-readable
//! certificates (docs/exports.md), only with the access key: they carry the
//! holder data. Rate-limited like every lookup (class `Lookup`).
//!
//! Owns: mapping [`ExportError`] to HTTP statuses. Must not do: render (the
//! library's `crate::exports` does), or answer without a valid key.

use super::response::{self, json_error, Resp};
use super::AppState;
use crate::exports::{self, ExportError, Lang, Transcript};
use crate::registry::RegistryError;
use hyper::header;
use hyper::StatusCode;

/// Which export a route asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `xhochschule.xml`.
    Xhs,
    /// `elm.jsonld`.
    Elm,
}

impl Format {
    /// The format named by the last path segment.
    pub fn from_segment(s: &str) -> Option<Format> {
        match s {
            "xhochschule.xml" => Some(Format::Xhs),
            "elm.jsonld" => Some(Format::Elm),
            _ => None,
        }
    }
}

fn error(e: &ExportError) -> Resp {
    let (status, reason) = match e {
        ExportError::Registry(RegistryError::Code(_)) => {
            (StatusCode::BAD_REQUEST, "malformed_code")
        }
        ExportError::Registry(RegistryError::UnknownCode { .. }) => {
            (StatusCode::NOT_FOUND, "unknown_code")
        }
        ExportError::Registry(RegistryError::WrongKey { .. }) => {
            (StatusCode::FORBIDDEN, "wrong_key")
        }
        ExportError::Erased { .. } => (StatusCode::GONE, "erased"),
        ExportError::NoFinalGrade { .. } | ExportError::Unrepresentable { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "not_exportable")
        }
        _ => {
            tracing::error!(error = %e, "http: export failure");
            return response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the operator has been told in the log",
            );
        }
    };
    json_error(status, reason, &e.to_string())
}

/// The display image of an ELM export: page 1 of the registered PDF,
/// rendered in a limited child process off the async workers; on failure
/// `None` (the QR code fallback) and the reason, which is logged.
async fn first_page(
    state: &AppState,
    t: &Transcript,
) -> (Option<exports::elm::PageImage>, Option<String>) {
    let blobs = state.reader.blobs().clone();
    let t2 = t.clone();
    let exe = crate::scans::worker::default_exe();
    let res = tokio::task::spawn_blocking(move || {
        exports::page_render::for_transcript(&blobs, &t2, &exe)
    })
    .await
    .unwrap_or_else(|e| Err(format!("the render task failed: {e}")));
    match res {
        Ok(i) => (Some(i), None),
        Err(reason) => {
            tracing::warn!(code = %t.code_formatted, %reason,
                "http: ELM export: page 1 of the registered PDF was not rendered; the display image is the QR code of the verification page");
            (None, Some(reason))
        }
    }
}

/// A header value from free text: printable ASCII only, at most
/// [`WARNING_HEADER_CHARS_MAX`] characters.
fn header_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(WARNING_HEADER_CHARS_MAX)
        .collect()
}

/// Longest `Zeugnis-Warning` header, in characters.
const WARNING_HEADER_CHARS_MAX: usize = 300;
/// Response header naming the ELM export's display image: `page-1` (the
/// rendered PDF) or `qr-code` (the fallback).
pub const DISPLAY_IMAGE_HEADER: &str = "zeugnis-display-image";
/// Response header with the reason of the fallback.
pub const WARNING_HEADER: &str = "zeugnis-warning";

/// Answers an export route; `code_and_key` is the path segment.
pub async fn serve(
    state: &AppState,
    code_and_key: &str,
    format: Format,
    query: Option<&str>,
) -> Resp {
    match crate::codes::parse_code_and_key(code_and_key) {
        Err(e) => return error(&ExportError::Registry(e.into())),
        Ok((_, None)) => {
            return json_error(
                StatusCode::FORBIDDEN,
                "key_required",
                "the machine-readable certificate carries the holder data: give CODE-KEY",
            )
        }
        Ok(_) => {}
    }
    let t = match Transcript::load(&state.reader, code_and_key, None) {
        Ok(t) => t,
        Err(e) => return error(&e),
    };
    let lang = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.into_owned());
    let base_url = &state.cfg.base_url;
    let (image, warning) = match format {
        Format::Elm => first_page(state, &t).await,
        Format::Xhs => (None, None),
    };
    let (body, content_type, name) = match format {
        Format::Xhs => {
            let lang = match lang.as_deref() {
                None => t.record_language,
                Some(l) => match Lang::parse(l) {
                    Some(l) => l,
                    None => {
                        return json_error(
                            StatusCode::BAD_REQUEST,
                            "bad_lang",
                            "lang must be de or en",
                        )
                    }
                },
            };
            (
                exports::xhochschule::render(&t, lang, &state.exports, base_url),
                "application/xml; charset=utf-8",
                format!("{}-{}.xml", t.code, lang.code()),
            )
        }
        Format::Elm => (
            exports::elm::render(&t, &state.exports, base_url, image),
            "application/ld+json",
            format!("{}.jsonld", t.code),
        ),
    };
    match body {
        Err(e) => error(&e),
        Ok(bytes) => {
            let mut r = response::bytes(StatusCode::OK, content_type, bytes);
            // Personal data: never stored by a shared cache.
            response::set(&mut r, header::CACHE_CONTROL, "no-store");
            response::set(
                &mut r,
                header::CONTENT_DISPOSITION,
                &format!("attachment; filename=\"{name}\""),
            );
            if format == Format::Elm {
                let shown = if warning.is_some() {
                    "qr-code"
                } else {
                    "page-1"
                };
                response::set(
                    &mut r,
                    header::HeaderName::from_static(DISPLAY_IMAGE_HEADER),
                    shown,
                );
            }
            if let Some(w) = warning {
                response::set(
                    &mut r,
                    header::HeaderName::from_static(WARNING_HEADER),
                    &header_text(&format!(
                        "display image is the QR code of the verification page: page 1 was not rendered: {w}"
                    )),
                );
            }
            r
        }
    }
}
