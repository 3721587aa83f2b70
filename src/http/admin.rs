//! The admin API on its own listener: register, supersede (multipart:
//! record JSON + documents), revoke, void, erase (JSON), status report,
//! show with the access key, cover sheet (PDF), replace a scan (multipart:
//! the file + the reason), fixity audit (started in
//! the background, progress in `/metrics`), key rotation: what the CLI can.
//!
//! Every registry call of the admin API runs attributed to
//! `http.admin_token_operator` (default `api`; ledger/FORMAT.md §3.5), so
//! that every record written through the bearer token carries that id.
//!
//! Owns: the bearer-token check (constant time, over SHA-256 digests), the
//! multipart and JSON bodies of the admin routes, and mapping registry
//! errors to statuses. Must not do: answer anything before the token is
//! checked; log the token, codes, keys or holder data (a refused request
//! is logged with its route only).

use super::response::{self, json, json_error, Resp};
use super::AppState;
use crate::ledger::record::RevocationCategory;
use crate::registry::{DocumentFile, RegistrationRecord, RegistryError, RECORD_FILE_BYTES_MAX};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use sha2::Digest;
use subtle::ConstantTimeEq;

/// Most multipart fields an admin request may have (record + 2 documents,
/// with room for a mistake that gets a clear error instead).
pub const ADMIN_FIELDS_MAX: usize = 8;

/// Every admin route as an OpenAPI path template; `docs/openapi.json`
/// documents each (a test checks it).
pub const ADMIN_ROUTES: &[&str] = &[
    "/admin/v1/register",
    "/admin/v1/draft",
    "/admin/v1/reserve",
    "/admin/v1/status",
    "/admin/v1/fixity",
    "/admin/v1/keys",
    "/admin/v1/certificates/{code}",
    "/admin/v1/certificates/{code}/cover-sheet",
    "/admin/v1/certificates/{code}/print-bundle",
    "/admin/v1/certificates/{code}/supersede",
    "/admin/v1/certificates/{code}/revoke",
    "/admin/v1/certificates/{code}/void",
    "/admin/v1/certificates/{code}/erase",
    "/admin/v1/certificates/{code}/scan",
];

/// Largest `reason` field of a replace-scan request, in bytes (the reason
/// itself is limited to `registry::REASON_CHARS_MAX` characters).
pub const REASON_FIELD_BYTES_MAX: u64 = 16 * 1024;

/// Route label of an admin path (for metrics).
pub fn classify(path: &str) -> &'static str {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["admin", "v1", "register"] => "admin_register",
        ["admin", "v1", "draft"] => "admin_draft",
        ["admin", "v1", "reserve"] => "admin_reserve",
        ["admin", "v1", "status"] => "admin_status",
        ["admin", "v1", "fixity"] => "admin_fixity",
        ["admin", "v1", "keys"] => "admin_keys",
        ["admin", "v1", "certificates", _] => "admin_show",
        ["admin", "v1", "certificates", _, "cover-sheet"] => "admin_cover_sheet",
        ["admin", "v1", "certificates", _, "print-bundle"] => "admin_print_bundle",
        ["admin", "v1", "certificates", _, "revoke"] => "admin_revoke",
        ["admin", "v1", "certificates", _, "supersede"] => "admin_supersede",
        ["admin", "v1", "certificates", _, "void"] => "admin_void",
        ["admin", "v1", "certificates", _, "erase"] => "admin_erase",
        ["admin", "v1", "certificates", _, "scan"] => "admin_replace_scan",
        ["healthz"] => "admin_healthz",
        _ => "admin_not_found",
    }
}

/// Maps a registry error to a status and a JSON error naming the problem.
pub fn registry_error(e: &RegistryError) -> Resp {
    if let RegistryError::Unconfirmed { code, issued, .. } = e {
        // Durable but unconfirmed (issue 14, F2): not a plain failure. The
        // body carries the code (and key) so the client can check, or
        // retry with the same code and get the same certificate and key.
        tracing::error!(error = %e, "http admin: change durable but unconfirmed");
        let mut body = serde_json::json!({
            "error": e.to_string(),
            "reason": "unconfirmed",
            "code": code,
        });
        if let Some(i) = issued {
            body["key"] = i.key.clone().into();
            body["url"] = i.url.clone().into();
        }
        return json(StatusCode::INTERNAL_SERVER_ERROR, &body);
    }
    let (status, reason) = match e {
        RegistryError::UnknownCode { .. } => (StatusCode::NOT_FOUND, "unknown_code"),
        RegistryError::Transition { .. } => (StatusCode::CONFLICT, "transition"),
        RegistryError::Code(_) => (StatusCode::BAD_REQUEST, "malformed_code"),
        RegistryError::WrongKey { .. } => (StatusCode::FORBIDDEN, "wrong_key"),
        e if e.exit_code() == 2 => (StatusCode::BAD_REQUEST, "invalid"),
        _ => {
            tracing::error!(error = %e, "http admin: registry failure");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    json_error(status, reason, &e.to_string())
}

fn authorised(state: &AppState, req: &Request<Incoming>) -> Result<(), Box<Resp>> {
    let Some(want) = &state.admin_token_sha256 else {
        return Err(Box::new(json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin_disabled",
            "the admin API is disabled: set http.admin_token_file",
        )));
    };
    let given = response::header_str(req, header::AUTHORIZATION).strip_prefix("Bearer ");
    let ok = given.is_some_and(|g| {
        let digest: [u8; 32] = sha2::Sha256::digest(g.trim().as_bytes()).into();
        bool::from(digest.ct_eq(want))
    });
    if ok {
        return Ok(());
    }
    let why = if given.is_some() {
        "wrong bearer token"
    } else {
        "missing bearer token"
    };
    tracing::warn!(
        route = classify(req.uri().path()),
        "http admin: refused: {why}"
    );
    let mut r = json_error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &format!("{why}; send Authorization: Bearer <token from http.admin_token_file>"),
    );
    response::set(
        &mut r,
        header::WWW_AUTHENTICATE,
        "Bearer realm=\"zeugnis admin\"",
    );
    Err(Box::new(r))
}

/// Answers an admin request.
pub async fn serve(state: &AppState, req: Request<Incoming>) -> Resp {
    if let Err(r) = authorised(state, &req) {
        return *r;
    }
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    let post = |m: &Method| *m == Method::POST;
    match segs.as_slice() {
        ["healthz"] => response::text(StatusCode::OK, "ok"),
        ["admin", "v1", "status"] => {
            if method != Method::GET {
                return response::method_not_allowed("GET");
            }
            status(state).await
        }
        ["admin", "v1", "fixity"] if method == Method::GET => fixity_state(state),
        ["admin", "v1", "fixity"] if post(&method) => fixity_start(state),
        ["admin", "v1", "keys"] if post(&method) => rotate_key(state, req).await,
        ["admin", "v1", "certificates", code] if method == Method::GET => {
            let key = req.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "key")
                    .map(|(_, v)| v.into_owned())
            });
            show(state, code.to_string(), key).await
        }
        ["admin", "v1", "certificates", code, "cover-sheet"] if method == Method::GET => {
            cover_sheet(state, code.to_string()).await
        }
        ["admin", "v1", "certificates", code, "print-bundle"] if method == Method::GET => {
            print_bundle(state, code.to_string()).await
        }
        ["admin", "v1", "certificates", _]
        | ["admin", "v1", "certificates", _, "cover-sheet" | "print-bundle"] => {
            response::method_not_allowed("GET")
        }
        ["admin", "v1", "register"] if post(&method) => register(state, None, req).await,
        ["admin", "v1", "draft"] if post(&method) => draft(state, req).await,
        ["admin", "v1", "reserve"] if post(&method) => reserve(state, req).await,
        ["admin", "v1", "certificates", code, "supersede"] if post(&method) => {
            register(state, Some(code.to_string()), req).await
        }
        ["admin", "v1", "certificates", code, "scan"] if post(&method) => {
            replace_scan(state, code.to_string(), req).await
        }
        ["admin", "v1", "certificates", code, action @ ("revoke" | "void" | "erase")]
            if post(&method) =>
        {
            ending(state, code.to_string(), action, req).await
        }
        ["admin", "v1", ..] if !post(&method) => response::method_not_allowed("POST"),
        _ => json_error(
            StatusCode::NOT_FOUND,
            "no_route",
            "no such admin route; see docs/http.md",
        ),
    }
}

/// The status report as `GET /admin/v1/status` and the desk's status page
/// show it.
pub(super) async fn status_report(
    state: &AppState,
) -> Result<crate::report::StatusReport, RegistryError> {
    let scans = state.cfg.scans_dir.clone();
    let days = state.cfg.waiting_days;
    state
        .with_registry(move |r| crate::report::status(r, &scans, days))
        .await
}

async fn status(state: &AppState) -> Resp {
    match status_report(state).await {
        Ok(report) => json(
            StatusCode::OK,
            &serde_json::to_value(&report).expect("a report serialises"),
        ),
        Err(e) => registry_error(&e),
    }
}

fn bad(msg: &str) -> Resp {
    json_error(StatusCode::BAD_REQUEST, "bad_request", msg)
}

/// What a register / supersede request carries: record, documents, a
/// chosen code, and the flags `import`, `allow_duplicate` and `stamp`.
type RegistrationParts = (
    RegistrationRecord,
    Vec<DocumentFile>,
    Option<String>,
    (bool, bool, bool),
);

/// Reads the multipart body of register / supersede: one field `record`
/// (the registration record JSON), one or two fields `document`, and for
/// register an optional field `code` (a code chosen in advance, as
/// `zeugnis register --code`).
async fn registration_parts(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<RegistrationParts, Box<Resp>> {
    let content_type = response::header_str(&req, header::CONTENT_TYPE).to_string();
    let boundary = multer::parse_boundary(&content_type).map_err(|e| {
        Box::new(bad(&format!(
            "Content-Type must be multipart/form-data with fields record and document ({e})"
        )))
    })?;
    let max = state.cfg.admin_body_bytes_max;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max)
            .for_field("record", RECORD_FILE_BYTES_MAX as u64),
    );
    let stream = http_body_util::BodyDataStream::new(req.into_body());
    let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut record = None;
    let mut documents = Vec::new();
    let mut code = None;
    let mut flags = (false, false, false);
    let mut fields = 0;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(&e, max)),
        };
        fields += 1;
        if fields > ADMIN_FIELDS_MAX {
            return Err(Box::new(bad(&format!(
                "more than {ADMIN_FIELDS_MAX} multipart fields"
            ))));
        }
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(|e| multipart_error(&e, max))?;
        match name.as_str() {
            "record" => {
                let r = RegistrationRecord::parse("record", &bytes)
                    .map_err(|e| Box::new(registry_error(&e)))?;
                record = Some(r);
            }
            "code" => {
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| Box::new(bad("multipart field \"code\" is not UTF-8")))?;
                code = Some(text.trim().to_string());
            }
            "document" => documents.push(DocumentFile {
                name: file_name.unwrap_or_else(|| format!("document {}", documents.len() + 1)),
                bytes: bytes.to_vec(),
            }),
            flag @ ("import" | "allow_duplicate" | "stamp") => {
                let on = match bytes.as_ref() {
                    b"true" => true,
                    b"false" => false,
                    _ => {
                        return Err(Box::new(bad(&format!(
                            "multipart field {flag:?}: expected true or false"
                        ))))
                    }
                };
                match flag {
                    "import" => flags.0 = on,
                    "allow_duplicate" => flags.1 = on,
                    _ => flags.2 = on,
                }
            }
            other => {
                return Err(Box::new(bad(&format!(
                    "multipart field {other:?}: expected \"record\", \"document\", \"code\", \
                     \"import\", \"allow_duplicate\" or \"stamp\""
                ))))
            }
        }
    }
    let record = record.ok_or_else(|| Box::new(bad("multipart field \"record\" is missing")))?;
    Ok((record, documents, code, flags))
}

fn multipart_error(e: &multer::Error, max: u64) -> Box<Resp> {
    Box::new(match e {
        multer::Error::StreamSizeExceeded { .. } => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!("the request body is larger than {max} bytes (http.admin_body_bytes_max)"),
        ),
        multer::Error::FieldSizeExceeded { field_name, .. } => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!(
                "multipart field {:?} is larger than {RECORD_FILE_BYTES_MAX} bytes",
                field_name.as_deref().unwrap_or("")
            ),
        ),
        e => bad(&format!("multipart body: {e}")),
    })
}

/// `POST /admin/v1/register` and `POST /admin/v1/certificates/{CODE}/supersede`.
async fn register(state: &AppState, old: Option<String>, req: Request<Incoming>) -> Resp {
    let (record, documents, code, (import, allow_duplicate, stamp)) =
        match registration_parts(state, req).await {
            Ok(x) => x,
            Err(r) => return *r,
        };
    if old.is_some() && (code.is_some() || import || allow_duplicate) {
        return bad(
            "multipart fields \"code\", \"import\", \"allow_duplicate\": a replacement always gets a new random code",
        );
    }
    if old.is_some() && stamp {
        return bad("multipart field \"stamp\": only POST /admin/v1/register stamps documents");
    }
    let stamp = stamp.then(|| crate::stamp::StampRequest {
        base_url: state.cfg.base_url.clone(),
        place: state.cfg.stamp,
    });
    let result = state
        .with_registry_admin(move |r| match &old {
            None => r.register_stamped(
                &record,
                &documents,
                &crate::registry::RegisterOptions {
                    code: code.as_deref(),
                    import,
                    allow_duplicate,
                },
                stamp.as_ref(),
            ),
            Some(old) => r.supersede(old, &record, &documents),
        })
        .await;
    match result {
        Ok(issued) => {
            state.written();
            json(
                StatusCode::CREATED,
                &serde_json::to_value(&issued).expect("issued serialises"),
            )
        }
        Err(e) => registry_error(&e),
    }
}

/// `POST /admin/v1/draft` (`zeugnis draft`): multipart with the fields
/// `record` and one `document`; answers the watermarked copy
/// (`application/pdf`) and records nothing. The registry is not locked:
/// a draft needs no ledger.
async fn draft(state: &AppState, req: Request<Incoming>) -> Resp {
    let (record, mut documents, code, flags) = match registration_parts(state, req).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if code.is_some() || flags != (false, false, false) {
        return bad("a draft takes only the multipart fields \"record\" and \"document\"");
    }
    if documents.len() != 1 {
        return bad(&format!(
            "a draft takes exactly one multipart field \"document\", got {}",
            documents.len()
        ));
    }
    let doc = documents.remove(0);
    let made = tokio::task::spawn_blocking(move || {
        crate::draft::make_draft_of(&record, &doc.name, &doc.bytes)
    })
    .await;
    match made {
        Ok(Ok(d)) => {
            let mut r = response::bytes(StatusCode::OK, "application/pdf", d.pdf);
            response::set(
                &mut r,
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"draft.pdf\"",
            );
            r
        }
        Ok(Err(crate::draft::DraftError::Record(e))) => registry_error(&e),
        Ok(Err(e)) => json_error(StatusCode::BAD_REQUEST, "invalid", &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "http admin: the draft task failed");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "making the draft failed",
            )
        }
    }
}

/// `POST /admin/v1/certificates/{CODE}/scan` (`zeugnis replace-scan`):
/// multipart with a field `scan` (the file; its file name goes into the
/// record) and a field `reason`. 201 with the outcome, or 200 when this
/// replacement was already in the ledger (`"retry": true`).
async fn replace_scan(state: &AppState, code: String, req: Request<Incoming>) -> Resp {
    let content_type = response::header_str(&req, header::CONTENT_TYPE).to_string();
    let boundary = match multer::parse_boundary(&content_type) {
        Ok(b) => b,
        Err(e) => {
            return bad(&format!(
                "Content-Type must be multipart/form-data with fields scan and reason ({e})"
            ))
        }
    };
    let max = state.cfg.admin_body_bytes_max;
    let scan_max = state.cfg.scan_bytes_max;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max)
            .for_field("scan", scan_max)
            .for_field("reason", REASON_FIELD_BYTES_MAX),
    );
    let stream = http_body_util::BodyDataStream::new(req.into_body());
    let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
    let (mut scan, mut reason) = (None, None);
    let mut fields = 0;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return *scan_multipart_error(&e, max, scan_max),
        };
        fields += 1;
        if fields > ADMIN_FIELDS_MAX {
            return bad(&format!("more than {ADMIN_FIELDS_MAX} multipart fields"));
        }
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => return *scan_multipart_error(&e, max, scan_max),
        };
        match name.as_str() {
            "scan" if scan.is_none() => {
                scan = Some((file_name.unwrap_or_else(|| "scan".to_string()), bytes))
            }
            "reason" if reason.is_none() => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => reason = Some(text),
                Err(_) => return bad("multipart field \"reason\" is not UTF-8"),
            },
            "scan" | "reason" => return bad(&format!("multipart field {name:?} given twice")),
            other => {
                return bad(&format!(
                    "multipart field {other:?}: expected \"scan\" and \"reason\""
                ))
            }
        }
    }
    let Some((file_name, bytes)) = scan else {
        return bad("multipart field \"scan\" (the file) is missing");
    };
    let Some(reason) = reason else {
        return bad("multipart field \"reason\" is missing");
    };
    let result = state
        .with_registry_admin(move |r| r.replace_scan(&code, &bytes, &file_name, &reason, scan_max))
        .await;
    match result {
        Ok(rep) => {
            let status = if rep.retry {
                StatusCode::OK
            } else {
                state.written();
                StatusCode::CREATED
            };
            json(
                status,
                &serde_json::to_value(&rep).expect("a replacement serialises"),
            )
        }
        Err(e) => registry_error(&e),
    }
}

/// Reads a JSON request body of at most `http.admin_json_bytes_max` bytes;
/// with `empty_is_default`, an empty (or all-whitespace) body is `T`'s
/// default. The error is the response to send (413 or 400).
async fn json_body<T: serde::de::DeserializeOwned + Default>(
    state: &AppState,
    req: Request<Incoming>,
    empty_is_default: bool,
) -> Result<T, Box<Resp>> {
    let max = state.cfg.admin_json_bytes_max;
    let body = match Limited::new(req.into_body(), usize::try_from(max).unwrap_or(usize::MAX))
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Box::new(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                &format!("the JSON body is larger than {max} bytes (http.admin_json_bytes_max)"),
            )))
        }
        Err(e) => return Err(Box::new(bad(&format!("request body: {e}")))),
    };
    if empty_is_default && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body).map_err(|e| Box::new(bad(&format!("JSON body: {e}"))))
}

/// Body of `POST /admin/v1/reserve`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReserveBody {
    /// How many codes (default 1).
    #[serde(default)]
    count: Option<usize>,
    /// Language of the URLs, `de` (default) or `en`.
    #[serde(default)]
    language: Option<String>,
}

/// `POST /admin/v1/reserve`: fresh codes with keys and URLs, recorded as
/// `Reserved` (`zeugnis reserve`). 201 with `{"reserved": [{"code", "key", "url"}]}`.
async fn reserve(state: &AppState, req: Request<Incoming>) -> Resp {
    let parsed: ReserveBody = match json_body(state, req, true).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let count = parsed.count.unwrap_or(1);
    let language = parsed.language.unwrap_or_else(|| "de".into());
    match state
        .with_registry_admin(move |r| r.reserve(count, &language))
        .await
    {
        Ok(issued) => {
            state.written();
            json(
                StatusCode::CREATED,
                &serde_json::json!({ "reserved": issued }),
            )
        }
        Err(e) => registry_error(&e),
    }
}

fn scan_multipart_error(e: &multer::Error, max: u64, scan_max: u64) -> Box<Resp> {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. }
            if field_name.as_deref() == Some("scan") =>
        {
            Box::new(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                &format!("the scan is larger than {scan_max} bytes (intake.file_bytes_max)"),
            ))
        }
        multer::Error::FieldSizeExceeded { .. } => Box::new(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!("multipart field \"reason\" is larger than {REASON_FIELD_BYTES_MAX} bytes"),
        )),
        e => multipart_error(e, max),
    }
}

/// Body of revoke, void and erase.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndingBody {
    /// Why (goes into the ledger; no personal data, please).
    reason: String,
    /// Revocations only: effective date `YYYY-MM-DD` (default today, UTC).
    #[serde(default)]
    effective_date: Option<String>,
    /// Revocations only: the public reason category (default `unspecified`).
    #[serde(default)]
    category: Option<String>,
}

/// `POST /admin/v1/certificates/{CODE}/{revoke|void|erase}` with `{"reason": ...}`.
async fn ending(state: &AppState, code: String, action: &str, req: Request<Incoming>) -> Resp {
    let parsed: EndingBody = match json_body(state, req, false).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if action != "revoke" && parsed.effective_date.is_some() {
        return bad("effective_date: only a revocation has an effective date");
    }
    if action != "revoke" && parsed.category.is_some() {
        return bad("category: only a revocation has a public reason category");
    }
    let category = match parsed.category.as_deref() {
        None => RevocationCategory::Unspecified,
        Some(name) => match RevocationCategory::parse(name) {
            Some(c) => c,
            None => {
                return bad(&format!(
                    "category {name:?}: expected one of unspecified, withdrawn, replaced, issued_in_error"
                ))
            }
        },
    };
    let action = action.to_string();
    let result = state
        .with_registry_admin(move |r| {
            end_certificate(
                r,
                &code,
                &action,
                &parsed.reason,
                parsed.effective_date.as_deref(),
                category,
            )
        })
        .await;
    match result {
        Ok((cert, seq)) => {
            state.written();
            let mut v = serde_json::to_value(&cert).expect("a certificate serialises");
            if let Some(seq) = seq {
                v["seq"] = seq.into();
            }
            json(StatusCode::OK, &v)
        }
        Err(e) => registry_error(&e),
    }
}

/// Revokes (`action` `revoke`, with `effective_date`, default today UTC,
/// and `category`), voids (`void`) or erases (any other action) a
/// certificate; returns its new state and the seq of the record (none for
/// an erasure). Shared by the admin API and the desk.
pub(super) fn end_certificate(
    r: &mut crate::registry::Registry,
    code: &str,
    action: &str,
    reason: &str,
    effective_date: Option<&str>,
    category: RevocationCategory,
) -> Result<(crate::registry::Certificate, Option<u64>), RegistryError> {
    let seq = match action {
        "revoke" => {
            let date = effective_date
                .map(str::to_string)
                .unwrap_or_else(crate::dates::today_utc);
            Some(r.revoke_with_category(code, category, reason, &date)?)
        }
        "void" => Some(r.void(code, reason)?),
        _ => {
            r.erase(code, reason)?;
            None
        }
    };
    Ok((r.find(code)?, seq))
}

/// `GET /admin/v1/certificates/{CODE}[?key=KEY]`: the certificate as
/// `zeugnis show --json` prints it (holder data only with the right key).
async fn show(state: &AppState, code: String, key: Option<String>) -> Resp {
    match state
        .with_registry_admin(move |r| r.show(&code, key.as_deref()))
        .await
    {
        Ok(cert) => json(
            StatusCode::OK,
            &serde_json::to_value(&cert).expect("a certificate serialises"),
        ),
        Err(e) => registry_error(&e),
    }
}

/// `GET /admin/v1/certificates/{CODE}/cover-sheet`: the A4 cover sheet PDF
/// (`zeugnis cover-sheet`).
async fn cover_sheet(state: &AppState, code: String) -> Resp {
    let result = state
        .with_registry_admin(move |r| r.cover_sheet(&code))
        .await;
    match result {
        Ok((code, pdf)) => {
            let mut r = response::bytes(StatusCode::OK, "application/pdf", pdf);
            response::set(
                &mut r,
                header::CONTENT_DISPOSITION,
                &format!("attachment; filename=\"cover-sheet-{code}.pdf\""),
            );
            r
        }
        Err(e) => registry_error(&e),
    }
}

/// `GET /admin/v1/certificates/{code}/print-bundle`: the print version
/// followed by its cover sheet with the holder's data, one PDF
/// (`zeugnis register --print-bundle`).
async fn print_bundle(state: &AppState, code: String) -> Resp {
    match state
        .with_registry_admin(move |r| r.print_bundle(&code))
        .await
    {
        Ok((code, pdf)) => {
            let mut r = response::bytes(StatusCode::OK, "application/pdf", pdf);
            response::set(
                &mut r,
                header::CONTENT_DISPOSITION,
                &format!("attachment; filename=\"print-bundle-{code}.pdf\""),
            );
            r
        }
        Err(e) => registry_error(&e),
    }
}

/// The fixity audit started through the admin API (one at a time).
#[derive(Default)]
pub struct FixityRun {
    /// The progress bar of the running audit (hidden; it only counts).
    running: std::sync::Mutex<Option<indicatif::ProgressBar>>,
    /// Bytes checked and total of the last finished audit.
    finished: std::sync::Mutex<(u64, u64)>,
    /// The last finished audit's report, or its error.
    last: std::sync::Mutex<Option<serde_json::Value>>,
}

impl FixityRun {
    /// The last finished audit's report, or `{"error": ...}`.
    pub fn last(&self) -> Option<serde_json::Value> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// (running, bytes checked, bytes in all) of the running audit, else of
    /// the last one.
    pub fn progress(&self) -> (bool, u64, u64) {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match running.as_ref() {
            Some(bar) => (true, bar.position(), bar.length().unwrap_or(0)),
            None => {
                let (done, total) = *self.finished.lock().unwrap_or_else(|p| p.into_inner());
                (false, done, total)
            }
        }
    }
}

/// `POST /admin/v1/fixity`: starts a fixity audit (`zeugnis audit --fixity`,
/// recorded as a `FixityChecked` record) in the background: 202, or 409
/// while one runs. Progress: `GET /admin/v1/fixity` and `/metrics`
/// (`zeugnis_fixity_*`). Writes wait while it runs (it holds the registry);
/// lookups do not.
fn fixity_start(state: &AppState) -> Resp {
    if !start_fixity(state, None) {
        return json_error(
            StatusCode::CONFLICT,
            "running",
            "a fixity audit is already running; see GET /admin/v1/fixity",
        );
    }
    json(
        StatusCode::ACCEPTED,
        &serde_json::json!({"started": true, "progress": "/admin/v1/fixity"}),
    )
}

/// Starts the background fixity audit unless one runs (false then).
/// `operator`: the desk operator who started it (the `FixityChecked`
/// record is attributed to them), `None` for the bearer-token API
/// (attributed to `http.admin_token_operator`).
pub(super) fn start_fixity(state: &AppState, operator: Option<&str>) -> bool {
    let bar = indicatif::ProgressBar::hidden();
    {
        let mut running = state
            .fixity
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if running.is_some() {
            return false;
        }
        *running = Some(bar.clone());
    }
    // The desk's operator, else the bearer token's id. A desk id that is
    // not valid (the operator store makes only valid ones) leaves the
    // record unattributed rather than attributing it to someone else.
    let operator = match operator {
        None => Some(state.config().admin_token_operator.clone()),
        Some(id) => crate::registry::OperatorId::parse(id)
            .inspect_err(|e| tracing::warn!(error = %e, "desk: fixity audit left unattributed"))
            .ok(),
    };
    let (registry, run) = (state.registry.clone(), state.fixity.clone());
    tokio::task::spawn_blocking(move || {
        let who = operator.as_ref().map_or("-", |o| o.as_str()).to_string();
        tracing::info!(operator = %who, "http admin: fixity audit started");
        let result = match registry.lock() {
            Ok(mut r) => r.with_operator(operator, |r| r.fixity_audit_with(bar.clone())),
            Err(_) => Err(RegistryError::External(
                "the registry lock is poisoned (a writer panicked); restart the daemon".into(),
            )),
        };
        let last = match &result {
            Ok(rep) => {
                tracing::info!(
                    blobs = rep.blobs_checked,
                    failures = rep.failures.len(),
                    seq = rep.seq,
                    "http admin: fixity audit finished"
                );
                serde_json::to_value(rep).expect("a report serialises")
            }
            Err(e) => {
                tracing::error!(error = %e, "http admin: fixity audit failed");
                serde_json::json!({"error": e.to_string()})
            }
        };
        *run.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(last);
        *run.finished.lock().unwrap_or_else(|p| p.into_inner()) =
            (bar.position(), bar.length().unwrap_or(0));
        *run.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
    });
    true
}

/// `GET /admin/v1/fixity`: whether an audit runs, its progress in bytes,
/// and the last finished audit's report (`blobs_checked`, `bytes_checked`,
/// `failures`, `seq`) or its error.
fn fixity_state(state: &AppState) -> Resp {
    let (running, done, total) = state.fixity.progress();
    let last = state
        .fixity
        .last
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "running": running,
            "checked_bytes": done,
            "total_bytes": total,
            "last": last,
        }),
    )
}

/// Body of `POST /admin/v1/keys`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// Retire this key (8-hex key ID or vkey) instead of adding one.
    #[serde(default)]
    retire: Option<String>,
    /// Why it is retired.
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /admin/v1/keys` with `{}` (add a signing key) or
/// `{"retire": KEY_ID, "reason": TEXT}` (`zeugnis rotate-key`): the key
/// and the verifier keys active now.
async fn rotate_key(state: &AppState, req: Request<Incoming>) -> Resp {
    let parsed: RotateBody = match json_body(state, req, true).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if parsed.retire.is_none() && parsed.reason.is_some() {
        return bad("reason: only a retirement has a reason");
    }
    let result = state
        .with_registry_admin(move |r| {
            let reason = parsed
                .reason
                .unwrap_or_else(|| "scheduled rotation".to_string());
            let v = r.rotate_key(parsed.retire.as_deref(), &reason)?;
            let l = r.ledger();
            let active: Vec<String> =
                crate::ledger::recovery::verifiers_for_size(l.keys(), l.size())
                    .iter()
                    .map(|v| v.vkey())
                    .collect();
            Ok((v, active, parsed.retire.is_some()))
        })
        .await;
    match result {
        Ok((v, active, retired)) => {
            state.written();
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "key_id": format!("{:08x}", v.key_id),
                    "vkey": v.vkey(),
                    "action": if retired { "retired" } else { "added" },
                    "active": active,
                }),
            )
        }
        Err(e) => registry_error(&e),
    }
}
