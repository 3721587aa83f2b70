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

/// Answers an export route; `code_and_key` is the path segment.
pub fn serve(state: &AppState, code_and_key: &str, format: Format, query: Option<&str>) -> Resp {
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
            exports::elm::render(&t, &state.exports, base_url, None),
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
            r
        }
    }
}
