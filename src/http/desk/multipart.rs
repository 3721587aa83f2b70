//! Reading a desk upload form (`multipart/form-data`) into its parts, with
//! a limit on the whole body, on named fields and on the number of fields.
//!
//! Owns: nothing but the reading. Must not do: judge the CSRF token or the
//! content (the caller does, token first); keep more than the limits allow
//! in memory.

use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use hyper::Request;

/// One part of a multipart form.
pub struct Part {
    /// The field name (`""` when the part has none).
    pub name: String,
    /// The file name the browser sent, for file fields.
    pub file_name: Option<String>,
    /// The content.
    pub bytes: bytes::Bytes,
}

/// The limits of one form.
pub struct Limits<'a> {
    /// The whole body, in bytes.
    pub body_bytes_max: u64,
    /// Named fields with their own limit, in bytes.
    pub field_bytes_max: &'a [(&'a str, u64)],
    /// Parts in all.
    pub fields_max: usize,
}

/// Why a form could not be read.
#[derive(Debug)]
pub struct FormError {
    /// A limit was passed (413), rather than a malformed body (400).
    pub too_large: bool,
    /// What went wrong, with the limit.
    pub message: String,
}

impl FormError {
    fn of(e: &multer::Error, message: String) -> FormError {
        FormError {
            too_large: matches!(
                e,
                multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. }
            ),
            message,
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> hyper::StatusCode {
        if self.too_large {
            hyper::StatusCode::PAYLOAD_TOO_LARGE
        } else {
            hyper::StatusCode::BAD_REQUEST
        }
    }
}

/// Reads every part of the form in `req`. `Ok(None)` when the request is not
/// `multipart/form-data` (no boundary: such a form cannot carry the CSRF
/// token either); the error says which limit was passed.
pub async fn parts(
    req: Request<Incoming>,
    limits: &Limits<'_>,
) -> Result<Option<Vec<Part>>, FormError> {
    let content_type = super::response::header_str(&req, hyper::header::CONTENT_TYPE).to_string();
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        return Ok(None);
    };
    let mut size = multer::SizeLimit::new().whole_stream(limits.body_bytes_max);
    for (name, max) in limits.field_bytes_max {
        size = size.for_field(*name, *max);
    }
    let constraints = multer::Constraints::new().size_limit(size);
    let stream = BodyDataStream::new(req.into_body());
    let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
    let whole = limits.body_bytes_max;
    let mut out = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(FormError::of(
                    &e,
                    format!("{e} (at most {whole} bytes in all)"),
                ))
            }
        };
        if out.len() >= limits.fields_max {
            return Err(FormError {
                too_large: true,
                message: format!("more than {} form fields", limits.fields_max),
            });
        }
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(|e| {
            FormError::of(&e, format!("{name}: {e} (at most {whole} bytes in all)"))
        })?;
        out.push(Part {
            name,
            file_name,
            bytes,
        });
    }
    Ok(Some(out))
}
