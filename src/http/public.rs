//! The public routes: the code form, the verification pages and scans, the
//! JSON API, the document check, proofs, the checkpoint and tiles, health
//! and metrics (docs/design.md "HTTP"; `docs/http.md`; `docs/openapi.json`).
//!
//! Owns: mapping a path to a route, looking certificates up in the registry
//! (on the blocking pool) and turning the result into a page, JSON or file.
//! Must not do: write to the registry; show holder data or the scan without
//! the right access key; tell an unknown code from a wrong key by timing
//! (the floor is applied by [`super::response::handle`]).

use super::limits::Class;
use super::pages::{self, Lang};
use super::response::{self, json, json_error, text, Resp};
use super::AppState;
use crate::codes::{self, CodeError};
use crate::ledger::merkle;
use crate::ledger::proof::TlogProof;
use crate::ledger::record::{Body, Record};
use crate::ledger::tiles::TILE_WIDTH;
use crate::ledger::LedgerError;
use crate::registry::{Certificate, Reader, RegistryError};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde_json::Value;

/// The OpenAPI document of the JSON API (kept in the repository).
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

/// Every `/api/` route of the public router ([`serve`], [`classify`]), as
/// the OpenAPI document names it in `paths` (tests/http.rs checks both
/// ways: each is in docs/openapi.json and routed, and each `/api/` path of
/// the document is routed).
pub const API_ROUTES: [&str; 7] = [
    "/api/v1/certificates/{code}",
    "/api/v1/certificates/{code}/proof",
    "/api/v1/certificates/{code}/proof.tar",
    "/api/v1/certificates/{code}/xhochschule.xml",
    "/api/v1/certificates/{code}/elm.jsonld",
    "/api/v1/check",
    "/api/v1/openapi.json",
];

/// Media type of the metrics exposition.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Cache lifetime of full tiles, which never change, in seconds.
pub const IMMUTABLE_MAX_AGE_S: u64 = 31_536_000;

/// Route label (for metrics) and rate-limit class of a public path.
pub fn classify(path: &str) -> (&'static str, Class) {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [""] => ("index", Class::Other),
        ["de" | "en"] | ["de" | "en", ""] => ("form", Class::Other),
        ["de" | "en", "check"] => ("check_page", Class::Lookup),
        ["de" | "en", _] => ("page", Class::Lookup),
        ["de" | "en", _, "scan"] => ("scan", Class::Lookup),
        ["de" | "en", _, "document", _] => ("document", Class::Lookup),
        ["static", "style.css" | "brand.css"] => ("style", Class::Other),
        ["static", "logo"] => ("logo", Class::Other),
        ["api", "v1", "check"] => ("check", Class::Lookup),
        ["api", "v1", "certificates", _] => ("api_certificate", Class::Lookup),
        ["api", "v1", "certificates", _, "proof"] => ("api_proof", Class::Lookup),
        ["api", "v1", "certificates", _, "proof.tar"] => ("api_proof_archive", Class::Lookup),
        ["api", "v1", "certificates", _, "xhochschule.xml" | "elm.jsonld"] => {
            ("api_export", Class::Lookup)
        }
        ["api", "v1", "openapi.json"] => ("openapi", Class::Other),
        ["checkpoint"] => ("checkpoint", Class::Other),
        ["favicon.ico"] => ("favicon", Class::Other),
        ["tile", ..] => ("tile", Class::Other),
        ["healthz"] => ("healthz", Class::Free),
        ["metrics"] => ("metrics", Class::Free),
        _ => ("not_found", Class::Other),
    }
}

/// Whether the key given with a lookup was checked, and how it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// No key was given.
    Absent,
    /// The key matches: holder data and scan may be shown.
    Valid,
    /// The key does not match.
    Wrong,
    /// The holder data was erased; there is nothing left to show or check.
    Erased,
}

/// One ledger record about a certificate, as shown in the evidence section.
#[derive(Clone, Debug)]
pub struct EvidenceRecord {
    /// Sequence number.
    pub seq: u64,
    /// Record kind (`Registered`, ...).
    pub kind: String,
    /// Record time, UTC seconds.
    pub time_s: i64,
    /// The Merkle leaf hash SHA-256(0x00 || record), hex.
    pub leaf_sha256: String,
}

/// The ledger evidence of a certificate.
#[derive(Clone, Debug)]
pub struct Evidence {
    /// The records about the certificate.
    pub records: Vec<EvidenceRecord>,
    /// The latest signed checkpoint note.
    pub checkpoint_note: std::sync::Arc<str>,
    /// The verifier keys of the active signing keys when the note was
    /// read, newest first (published with it, so a key rotation shows at
    /// once).
    pub vkeys: std::sync::Arc<[String]>,
}

/// The result of a certificate lookup.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// The input is not a code (or the key's check character fails).
    Malformed(CodeError),
    /// No certificate has this code (formatted `XXXX-XXXX-XXXX`).
    Unknown(String),
    /// The certificate, with `holder` filled in only for a valid key.
    Found {
        /// The derived state.
        cert: Box<Certificate>,
        /// The access-key outcome.
        key: KeyCheck,
        /// The ledger evidence.
        evidence: Evidence,
        /// The code and key as typed back into links (`CODE-KEY` or `CODE`).
        path_code: String,
    },
}

/// Evidence rows kept in memory (about 150 bytes each, so at most ~15 MB).
pub const EVIDENCE_CACHE_RECORDS_MAX: usize = 100_000;

/// Evidence rows by sequence number. A committed record never changes
/// (append-only), so an entry never goes stale; the cache is emptied when
/// it is full.
#[derive(Default)]
pub struct EvidenceCache(std::sync::Mutex<std::collections::HashMap<u64, EvidenceRecord>>);

impl EvidenceCache {
    fn row(&self, r: &Reader, seq: u64) -> Result<EvidenceRecord, RegistryError> {
        if let Some(row) = self.0.lock().ok().and_then(|m| m.get(&seq).cloned()) {
            return Ok(row);
        }
        let bytes = r.read_record(seq)?;
        let rec = Record::decode(&bytes)
            .map_err(|e| LedgerError::Invalid(format!("record {seq} does not decode: {e}")))?;
        let row = EvidenceRecord {
            seq,
            kind: format!("{:?}", rec.body.kind()),
            time_s: rec.time_s,
            leaf_sha256: hex::encode(merkle::leaf_hash(&bytes)),
        };
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= EVIDENCE_CACHE_RECORDS_MAX {
                m.clear();
            }
            m.insert(seq, row.clone());
        }
        Ok(row)
    }
}

fn evidence(
    cache: &EvidenceCache,
    r: &Reader,
    cert: &Certificate,
) -> Result<Evidence, RegistryError> {
    // The note is read first: it covers every record the state refers to
    // (the writer publishes before it applies).
    let published = r.published();
    let checkpoint_note = published.checkpoint_note.clone();
    let vkeys = published.active_vkeys.clone();
    let mut records = Vec::with_capacity(cert.seqs.len());
    for &seq in &cert.seqs {
        records.push(cache.row(r, seq)?);
    }
    Ok(Evidence {
        records,
        checkpoint_note,
        vkeys,
    })
}

/// Looks up `code_and_key` as typed in a URL (`CODE` or `CODE-KEY`).
///
/// Runs on the calling (async) thread through the registry's [`Reader`]:
/// one sled read, for a key one holder blob of about a kilobyte, and
/// evidence rows that are cached after their first read. It never takes the
/// registry lock, so lookups do not wait while the intake fsyncs; a trip to
/// the blocking pool cost more than the lookup itself (docs/http.md,
/// "Performance").
pub fn lookup(state: &AppState, code_and_key: &str) -> Result<Lookup, RegistryError> {
    let (code, key) = match codes::parse_code_and_key(code_and_key) {
        Ok(x) => x,
        Err(e) => return Ok(Lookup::Malformed(e)),
    };
    let r = &state.reader;
    // One read of the state; the key (already parsed) is checked against it.
    let Some(mut cert) = r.get(code.as_str())? else {
        return Ok(Lookup::Unknown(code.formatted()));
    };
    let check = match &key {
        None => KeyCheck::Absent,
        Some(k) => match r.holder_data(&code, k, &cert) {
            Ok(holder) => {
                let erased = holder.get("erased") == Some(&Value::Bool(true));
                cert.holder = Some(holder);
                if erased {
                    KeyCheck::Erased
                } else {
                    KeyCheck::Valid
                }
            }
            Err(RegistryError::WrongKey { .. }) => KeyCheck::Wrong,
            Err(e) => return Err(e),
        },
    };
    let evidence = evidence(&state.evidence, r, &cert)?;
    let path_code = match (&key, check) {
        (Some(k), KeyCheck::Valid) => format!("{}-{}", code.as_str(), k.as_str()),
        _ => code.as_str().to_string(),
    };
    Ok(Lookup::Found {
        cert: Box::new(cert),
        key: check,
        evidence,
        path_code,
    })
}

/// Maps an internal failure to a 500 without details for the client (the
/// log gets the error, which names no code or key).
fn internal(e: &RegistryError) -> Resp {
    tracing::error!(error = %e, "http: registry failure");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; the operator has been told in the log",
    )
}

/// Answers a public request.
pub async fn serve(state: &AppState, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    let read_only = method == Method::GET || method == Method::HEAD;
    match segs.as_slice() {
        ["api", "v1", "check"] => {
            if method != Method::POST {
                return response::method_not_allowed("POST");
            }
            check(state, req).await
        }
        [lang, "check"] if Lang::parse(lang).is_some() => {
            if method != Method::POST {
                return response::method_not_allowed("POST");
            }
            let lang = Lang::parse(lang).expect("checked");
            check_page(state, lang, req).await
        }
        _ if !read_only => response::method_not_allowed("GET, HEAD"),
        [""] => {
            let lang =
                Lang::from_accept_language(response::header_str(&req, header::ACCEPT_LANGUAGE));
            let mut r = response::html(StatusCode::OK, pages::form(&state.site, lang, None, None));
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept-Language"));
            r
        }
        [lang] | [lang, ""] if Lang::parse(lang).is_some() => {
            let lang = Lang::parse(lang).expect("checked");
            form(&state.site, lang, req.uri().query())
        }
        [lang, code] if Lang::parse(lang).is_some() => {
            let lang = Lang::parse(lang).expect("checked");
            page(state, lang, code).await
        }
        [lang, code, "scan"] if Lang::parse(lang).is_some() => {
            let lang = Lang::parse(lang).expect("checked");
            scan(state, lang, code, None).await
        }
        [lang, code, "document", n] if Lang::parse(lang).is_some() => {
            let lang = Lang::parse(lang).expect("checked");
            // Canonical decimal from 1: `/document/01` is not a document.
            match n.parse::<usize>() {
                Ok(k) if k >= 1 && k.to_string() == *n => {
                    scan(state, lang, code, Some(k - 1)).await
                }
                _ => text(
                    StatusCode::NOT_FOUND,
                    "no such document; documents are numbered from 1 (/de/CODE-KEY/document/1)",
                ),
            }
        }
        ["static", "brand.css"] => {
            let mut r = response::bytes(
                StatusCode::OK,
                "text/css; charset=utf-8",
                state.site.brand.css(),
            );
            response::set(&mut r, header::CACHE_CONTROL, "public, max-age=3600");
            r
        }
        ["static", "logo"] => match &state.logo {
            Some(logo) => {
                let mut r = response::bytes(StatusCode::OK, logo.0, logo.1.clone());
                response::set(&mut r, header::CACHE_CONTROL, "public, max-age=3600");
                r
            }
            None => text(StatusCode::NOT_FOUND, "no logo is configured"),
        },
        ["static", "style.css"] => {
            let mut r =
                response::bytes(StatusCode::OK, "text/css; charset=utf-8", pages::STYLE_CSS);
            response::set(&mut r, header::CACHE_CONTROL, "public, max-age=86400");
            r
        }
        ["api", "v1", "certificates", code] => api_certificate(state, code).await,
        ["api", "v1", "certificates", code, "proof"] => {
            api_proof(state, code, req.uri().query()).await
        }
        ["api", "v1", "certificates", code, "proof.tar"] => {
            super::proof_archive::serve(state, code).await
        }
        ["api", "v1", "certificates", code, last]
            if super::exports::Format::from_segment(last).is_some() =>
        {
            let format = super::exports::Format::from_segment(last).expect("checked");
            super::exports::serve(state, code, format, req.uri().query()).await
        }
        ["api", "v1", "openapi.json"] => {
            response::bytes(StatusCode::OK, "application/json", OPENAPI_JSON)
        }
        ["checkpoint"] => checkpoint(state),
        ["favicon.ico"] => {
            // No icon, but no failed load in the browser's console either.
            let mut r = response::bytes(StatusCode::NO_CONTENT, "image/x-icon", Bytes::new());
            response::set(&mut r, header::CACHE_CONTROL, "public, max-age=86400");
            r
        }
        ["tile", rest @ ..] => tile(state, rest).await,
        ["healthz"] => {
            if state.registry.is_poisoned() {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "registry lock poisoned; restart the daemon",
                )
            } else {
                text(StatusCode::OK, "ok")
            }
        }
        ["metrics"] => response::bytes(StatusCode::OK, METRICS_CONTENT_TYPE, {
            let (running, done, total) = state.fixity.progress();
            state.metrics.fixity(running, done, total);
            state.metrics.verification(&state.reader.verification());
            state.metrics.encode(state.reader.published().size)
        }),
        _ => text(
            StatusCode::NOT_FOUND,
            "no such page; verification pages are /de/CODE and /en/CODE",
        ),
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /{de|en}/[?code=...]`: the form, or a redirect to the page for the
/// code typed into it.
fn form(site: &pages::Site, lang: Lang, query: Option<&str>) -> Resp {
    let Some(typed) = query_param(query, "code") else {
        return response::html(StatusCode::OK, pages::form(site, lang, None, None));
    };
    match codes::parse_code_and_key(&typed) {
        Ok((code, key)) => {
            let target = match key {
                Some(k) => format!("/{}/{}-{}", lang.code(), code.as_str(), k.as_str()),
                None => format!("/{}/{}", lang.code(), code.as_str()),
            };
            let mut r = text(StatusCode::SEE_OTHER, &format!("see {target}"));
            response::set(&mut r, header::LOCATION, &target);
            r
        }
        Err(e) => response::html(
            StatusCode::BAD_REQUEST,
            pages::form(site, lang, Some(&pages::code_error(lang, &e)), Some(&typed)),
        ),
    }
}

/// The HTTP status of a lookup outcome.
fn lookup_status(l: &Lookup) -> StatusCode {
    match l {
        Lookup::Malformed(_) => StatusCode::BAD_REQUEST,
        Lookup::Unknown(_) => StatusCode::NOT_FOUND,
        Lookup::Found {
            key: KeyCheck::Wrong,
            ..
        } => StatusCode::FORBIDDEN,
        Lookup::Found { .. } => StatusCode::OK,
    }
}

async fn page(state: &AppState, lang: Lang, code: &str) -> Resp {
    match lookup(state, code) {
        Ok(l) => response::html(lookup_status(&l), pages::certificate(&state.site, lang, &l)),
        Err(e) => internal(&e),
    }
}

/// `GET /{lang}/{CODE-KEY}/scan` (`document: None`) and
/// `GET /{lang}/{CODE-KEY}/document/{n}` (`document: Some(n - 1)`): the scan
/// of the signed original or the n-th registered digital image, only with
/// the right key and never after an erasure.
async fn scan(state: &AppState, lang: Lang, code: &str, document: Option<usize>) -> Resp {
    let l = match lookup(state, code) {
        Ok(l) => l,
        Err(e) => return internal(&e),
    };
    let (cert, key) = match &l {
        Lookup::Found { cert, key, .. } => (cert, *key),
        other => {
            return response::html(
                lookup_status(other),
                pages::certificate(&state.site, lang, other),
            )
        }
    };
    let refuse = |status, msg: &str| response::html(status, pages::message(&state.site, lang, msg));
    match key {
        KeyCheck::Valid => {}
        KeyCheck::Absent | KeyCheck::Wrong => {
            return refuse(StatusCode::FORBIDDEN, pages::texts(lang).scan_needs_key)
        }
        KeyCheck::Erased => return refuse(StatusCode::GONE, pages::texts(lang).scan_erased),
    }
    let file = match document {
        None => cert.scan.as_ref(),
        Some(i) => cert.documents.get(i),
    };
    let Some(scan) = file else {
        let msg = match document {
            None => pages::texts(lang).scan_missing,
            Some(_) => pages::texts(lang).document_missing,
        };
        return refuse(StatusCode::NOT_FOUND, msg);
    };
    let Ok(addr) = <[u8; 32]>::try_from(hex::decode(&scan.blake3).unwrap_or_default()) else {
        return internal(&RegistryError::Invalid(format!(
            "scan address of {} is not a BLAKE3 hash",
            cert.code
        )));
    };
    let path = state.blobs.path(&addr);
    // Read outside the registry lock: scans can be tens of megabytes.
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) if blake3::hash(&b).as_bytes() == &addr => b,
        Ok(_) => {
            return internal(&RegistryError::Invalid(format!(
                "scan blob {} does not match its BLAKE3 address; run zeugnis audit --fixity",
                scan.blake3
            )))
        }
        Err(e) => {
            return internal(&RegistryError::Invalid(format!(
                "scan blob {}: {e}",
                scan.blake3
            )))
        }
    };
    let ext = match scan.media_type.as_str() {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/tiff" => "tif",
        _ => "bin",
    };
    let name = match document {
        None => format!("{}-scan.{ext}", cert.code),
        Some(i) => match scan.language.as_deref() {
            Some(l) if l.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                format!("{}-{l}.{ext}", cert.code)
            }
            _ => format!("{}-{}.{ext}", cert.code, i + 1),
        },
    };
    let mut r = response::bytes(StatusCode::OK, &scan.media_type, bytes);
    response::set(
        &mut r,
        header::CONTENT_DISPOSITION,
        &format!("inline; filename=\"{name}\""),
    );
    r
}

/// Whether the private parts of a certificate (grade record, free-text
/// revocation reason) may be shown: only with the right key, never after
/// an erasure.
pub fn shows_private(cert: &Certificate, key: KeyCheck) -> bool {
    key == KeyCheck::Valid && !cert.erased
}

/// Removes what only the key holder may see from a certificate's JSON: the
/// grade record (final and module grades), the free-text revocation
/// reason and the reasons scans were replaced for. The public reason
/// category stays, and so do the replaced scans' fingerprints.
pub fn redact(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        obj.remove("grade");
        obj.remove("holder");
        if let Some(revoked) = obj.get_mut("revoked").and_then(Value::as_object_mut) {
            revoked.remove("reason");
        }
        if let Some(replaced) = obj.get_mut("replaced_scans").and_then(Value::as_array_mut) {
            for r in replaced.iter_mut().filter_map(Value::as_object_mut) {
                r.remove("reason");
            }
        }
    }
}

/// The JSON of a found certificate, with its ledger evidence; without
/// `private` (see [`shows_private`]) [`redact`]ed.
pub fn certificate_json(cert: &Certificate, evidence: &Evidence, private: bool) -> Value {
    let mut v = serde_json::to_value(cert).expect("a certificate serialises");
    if !private {
        redact(&mut v);
    }
    // Staff privacy: who wrote a record is never public (FORMAT.md §3.5).
    if let Some(obj) = v.as_object_mut() {
        obj.remove("events");
    }
    v["ledger"] = serde_json::json!({
        "records": evidence.records.iter().map(|r| serde_json::json!({
            "seq": r.seq,
            "kind": r.kind,
            "time_s": r.time_s,
            "leaf_sha256": r.leaf_sha256,
        })).collect::<Vec<_>>(),
        "checkpoint": &*evidence.checkpoint_note,
    });
    v
}

fn code_error_json(e: &CodeError) -> Resp {
    let reason = if matches!(e, CodeError::CheckFailed { .. }) {
        "typo"
    } else {
        "malformed_code"
    };
    json_error(StatusCode::BAD_REQUEST, reason, &e.to_string())
}

async fn api_certificate(state: &AppState, code: &str) -> Resp {
    match lookup(state, code) {
        Ok(Lookup::Malformed(e)) => code_error_json(&e),
        Ok(Lookup::Unknown(c)) => json_error(
            StatusCode::NOT_FOUND,
            "unknown_code",
            &format!("no certificate has the code {c}"),
        ),
        Ok(Lookup::Found {
            key: KeyCheck::Wrong,
            cert,
            ..
        }) => json_error(
            StatusCode::FORBIDDEN,
            "wrong_key",
            &format!("the access key does not match certificate {}", cert.code),
        ),
        Ok(Lookup::Found {
            cert,
            evidence,
            key,
            ..
        }) => json(
            StatusCode::OK,
            &certificate_json(&cert, &evidence, shows_private(&cert, key)),
        ),
        Err(e) => internal(&e),
    }
}

/// `GET /api/v1/certificates/{CODE}/proof[?seq=N]`: a C2SP tlog-proof of
/// one record about the certificate (default: its latest), with the
/// record's exact bytes as the proof's `extra` data.
///
/// Records that hold private data (a `Registered` record with a grade
/// record, a revocation with its free-text reason) are proven only with the
/// right key (`CODE-KEY`) and never after an erasure; without one, the
/// default is the latest record that holds none.
async fn api_proof(state: &AppState, code_text: &str, query: Option<&str>) -> Resp {
    let code = match codes::parse_code_and_key(code_text) {
        Ok((c, _)) => c,
        Err(e) => return code_error_json(&e),
    };
    let private = match lookup(state, code_text) {
        Ok(Lookup::Found {
            key: KeyCheck::Wrong,
            cert,
            ..
        }) => {
            return json_error(
                StatusCode::FORBIDDEN,
                "wrong_key",
                &format!("the access key does not match certificate {}", cert.code),
            )
        }
        Ok(Lookup::Found { cert, key, .. }) => shows_private(&cert, key),
        Ok(_) => false,
        Err(e) => return internal(&e),
    };
    let wanted = match query_param(query, "seq").map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad_seq",
                "seq: must be a record sequence number (decimal)",
            )
        }
    };
    let result = state
        .with_registry(move |r| {
            let cert = match r.find(code.as_str()) {
                Ok(c) => c,
                Err(RegistryError::UnknownCode { .. }) => return Ok(Err(ProofMiss::UnknownCode)),
                Err(e) => return Err(e),
            };
            let is_private = |seq: u64| -> Result<bool, RegistryError> {
                let bytes = r.ledger().read_record(seq)?;
                let rec = Record::decode(&bytes).map_err(|e| {
                    LedgerError::Invalid(format!("record {seq} does not decode: {e}"))
                })?;
                Ok(record_is_private(&rec))
            };
            let seq = match wanted {
                Some(n) if cert.seqs.contains(&n) => n,
                Some(n) => return Ok(Err(ProofMiss::UnknownSeq(n))),
                None if private => *cert
                    .seqs
                    .last()
                    .expect("a certificate has its Registered record"),
                None => {
                    let mut public = None;
                    for &n in cert.seqs.iter().rev() {
                        if !is_private(n)? {
                            public = Some(n);
                            break;
                        }
                    }
                    match public {
                        Some(n) => n,
                        None => return Ok(Err(ProofMiss::KeyRequired)),
                    }
                }
            };
            if !private && is_private(seq)? {
                return Ok(Err(ProofMiss::KeyRequired));
            }
            let mut proof: TlogProof = r.ledger().tlog_proof(seq)?;
            proof.extra = Some(r.ledger().read_record(seq)?);
            Ok(Ok((seq, proof.encode())))
        })
        .await;
    match result {
        Ok(Ok((seq, text_body))) => {
            let mut r = response::bytes(StatusCode::OK, "text/plain; charset=utf-8", text_body);
            response::set(
                &mut r,
                header::CONTENT_DISPOSITION,
                &format!("attachment; filename=\"{seq}.tlog-proof\""),
            );
            r
        }
        Ok(Err(ProofMiss::UnknownCode)) => json_error(
            StatusCode::NOT_FOUND,
            "unknown_code",
            &format!("no certificate has the code {}", code.formatted()),
        ),
        Ok(Err(ProofMiss::KeyRequired)) => json_error(
            StatusCode::FORBIDDEN,
            "key_required",
            &format!(
                "this record of certificate {} holds private data (grades, the revocation \
                 text or why a scan was replaced): its proof is given only with the access key (CODE-KEY), and not at \
                 all after an erasure",
                code.formatted()
            ),
        ),
        Ok(Err(ProofMiss::UnknownSeq(n))) => json_error(
            StatusCode::NOT_FOUND,
            "unknown_seq",
            &format!("record {n} is not about certificate {}", code.formatted()),
        ),
        Err(e) => internal(&e),
    }
}

/// Why a proof is not given.
enum ProofMiss {
    UnknownCode,
    UnknownSeq(u64),
    KeyRequired,
}

/// Whether a record holds data only the key holder may see: the grade
/// record of a registration, the free-text reason of a revocation or of a
/// scan replacement.
pub fn record_is_private(rec: &Record) -> bool {
    match &rec.body {
        Body::Registered { grade, .. } => grade.is_some(),
        Body::Revoked { .. } | Body::RevokedWithCategory { .. } | Body::ScanReplaced { .. } => true,
        _ => false,
    }
}

fn checkpoint(state: &AppState) -> Resp {
    let note = state.reader.published().checkpoint_note.to_string();
    let mut r = response::bytes(StatusCode::OK, "text/plain; charset=utf-8", note);
    response::set(&mut r, header::CACHE_CONTROL, "no-cache");
    r
}

/// Parses the part of a tile path after `tile/`: `<L>/<N>[.p/<W>]` with N
/// in `x`-prefixed groups of three digits (C2SP tlog-tiles). Returns
/// (level, index, width) with width 256 for a full tile.
pub fn parse_tile_path(rest: &[&str]) -> Result<(u8, u64, u64), String> {
    let (level, groups) = rest
        .split_first()
        .ok_or("tile path: expected tile/<L>/<N>[.p/<W>]")?;
    if *level == "entries" {
        return Err("entry bundles are not served: the records are in the proof bundles".into());
    }
    let three_digits = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit());
    let level: u8 = match level.parse() {
        Ok(l) if level.len() <= 2 && level.bytes().all(|b| b.is_ascii_digit()) && l < 64 => l,
        _ => return Err(format!("tile level {level:?}: expected a number below 64")),
    };
    let (groups, width) = match groups {
        [g @ .., last, w] if last.ends_with(".p") => {
            let canonical = !w.starts_with('0') && w.bytes().all(|b| b.is_ascii_digit());
            let w: u64 = match w.parse() {
                Ok(w) if canonical && (1..TILE_WIDTH).contains(&w) => w,
                _ => return Err(format!("partial tile width {w:?}: expected 1..255")),
            };
            let mut all = g.to_vec();
            all.push(last.trim_end_matches(".p"));
            (all, w)
        }
        g => (g.to_vec(), TILE_WIDTH),
    };
    let Some((last, prefix)) = groups.split_last() else {
        return Err("tile path: missing the tile index".into());
    };
    let mut index: u64 = 0;
    for g in prefix {
        let digits = g
            .strip_prefix('x')
            .filter(|d| three_digits(d))
            .ok_or_else(|| format!("tile index group {g:?}: expected x and three digits"))?;
        index = index
            .checked_mul(1000)
            .and_then(|i| i.checked_add(digits.parse::<u64>().unwrap_or(0)))
            .ok_or("tile index out of range")?;
    }
    if !three_digits(last) {
        return Err(format!("tile index group {last:?}: expected three digits"));
    }
    index = index
        .checked_mul(1000)
        .and_then(|i| i.checked_add(last.parse::<u64>().unwrap_or(0)))
        .ok_or("tile index out of range")?;
    Ok((level, index, width))
}

async fn tile(state: &AppState, rest: &[&str]) -> Resp {
    let (level, index, width) = match parse_tile_path(rest) {
        Ok(x) => x,
        Err(msg) => return text(StatusCode::NOT_FOUND, &msg),
    };
    match state
        .with_registry(move |r| Ok(r.ledger().tile(level, index, width)?))
        .await
    {
        Ok(Some(bytes)) => {
            let mut r = response::bytes(
                StatusCode::OK,
                "application/octet-stream",
                Bytes::from(bytes),
            );
            let cache = if width == TILE_WIDTH {
                format!("public, max-age={IMMUTABLE_MAX_AGE_S}, immutable")
            } else {
                "no-cache".to_string()
            };
            response::set(&mut r, header::CACHE_CONTROL, &cache);
            r
        }
        Ok(None) => text(
            StatusCode::NOT_FOUND,
            "no such tile at the current tree size",
        ),
        Err(e) => internal(&e),
    }
}

/// The upload of `POST /api/v1/check` and `POST /{de,en}/check`: hashed as
/// it streams in.
struct Upload {
    blake3: [u8; 32],
    size_bytes: u64,
    is_pdf: bool,
    /// The optional multipart text field `code` (code, or code and key).
    code: Option<String>,
}

/// Largest value of the `code` field of a check upload, in bytes (a code
/// and key with hyphens and spaces is about 25).
pub const CHECK_CODE_FIELD_BYTES_MAX: usize = 100;

/// Why an upload was refused: status, JSON reason, message.
struct Refused(StatusCode, &'static str, String);

impl Refused {
    fn json(self) -> Resp {
        json_error(self.0, self.1, &self.2)
    }
}

/// Hashes a stream of chunks, refusing more than `max` bytes.
struct Hashing {
    hasher: blake3::Hasher,
    size: u64,
    head: Vec<u8>,
    max: u64,
}

impl Hashing {
    fn new(max: u64) -> Hashing {
        Hashing {
            hasher: blake3::Hasher::new(),
            size: 0,
            head: Vec::new(),
            max,
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), Refused> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(too_large(self.max));
        }
        if self.head.len() < 5 {
            let take = (5 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        Ok(())
    }

    fn finish(self, code: Option<String>) -> Upload {
        Upload {
            blake3: *self.hasher.finalize().as_bytes(),
            size_bytes: self.size,
            is_pdf: self.head == b"%PDF-",
            code,
        }
    }
}

fn too_large(max: u64) -> Refused {
    Refused(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the upload is larger than the limit of {max} bytes (http.check_bytes_max)"),
    )
}

fn bad_upload(msg: &str) -> Refused {
    Refused(StatusCode::BAD_REQUEST, "bad_upload", msg.to_string())
}

/// Streams the upload (a raw PDF body, or the field `file` of a
/// `multipart/form-data` body, beside an optional text field `code`)
/// through BLAKE3 without keeping it.
async fn receive(state: &AppState, req: Request<Incoming>) -> Result<Upload, Refused> {
    let max = state.cfg.check_bytes_max;
    let declared = response::header_str(&req, header::CONTENT_LENGTH)
        .parse::<u64>()
        .ok();
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let mut code = None;
    let mut seen_file = false;
    let content_type = response::header_str(&req, header::CONTENT_TYPE).to_string();
    let mut hashing = Hashing::new(max);
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type)
            .map_err(|e| bad_upload(&format!("Content-Type: {e}")))?;
        let stream = http_body_util::BodyDataStream::new(req.into_body());
        let mut mp = multer::Multipart::new(stream, boundary);
        loop {
            let field = mp
                .next_field()
                .await
                .map_err(|e| bad_upload(&format!("multipart body: {e}")))?;
            let Some(mut field) = field else {
                if seen_file {
                    break;
                }
                return Err(bad_upload(
                    "multipart body: no file field; send the PDF as the field \"file\"",
                ));
            };
            match field.name() {
                Some("file") if !seen_file => {
                    seen_file = true;
                    while let Some(chunk) = field
                        .chunk()
                        .await
                        .map_err(|e| bad_upload(&format!("multipart body: {e}")))?
                    {
                        hashing.push(&chunk)?;
                    }
                }
                Some("code") if code.is_none() => {
                    let mut value = Vec::new();
                    while let Some(chunk) = field
                        .chunk()
                        .await
                        .map_err(|e| bad_upload(&format!("multipart body: {e}")))?
                    {
                        value.extend_from_slice(&chunk);
                        if value.len() > CHECK_CODE_FIELD_BYTES_MAX {
                            return Err(bad_upload(&format!(
                                "multipart field \"code\": longer than {CHECK_CODE_FIELD_BYTES_MAX} bytes"
                            )));
                        }
                    }
                    let text = String::from_utf8(value)
                        .map_err(|_| bad_upload("multipart field \"code\": not UTF-8 text"))?;
                    if !text.trim().is_empty() {
                        code = Some(text);
                    }
                }
                _ => {}
            }
        }
    } else {
        let mut body = req.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| bad_upload(&format!("request body: {e}")))?;
            if let Some(chunk) = frame.data_ref() {
                hashing.push(chunk)?;
            }
        }
    }
    let upload = hashing.finish(code);
    if upload.size_bytes == 0 {
        return Err(bad_upload(
            "the upload is empty; send the PDF as the request body",
        ));
    }
    Ok(upload)
}

/// `POST /api/v1/check`: is the uploaded PDF a registered digital image,
/// and what is the state of its certificate?
async fn check(state: &AppState, req: Request<Incoming>) -> Resp {
    let upload = match receive(state, req).await {
        Ok(u) => u,
        Err(r) => return r.json(),
    };
    if !upload.is_pdf {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_pdf",
            "the upload is not a PDF (it does not start with %PDF-); registered digital images are PDFs",
        );
    }
    let hash = upload.blake3;
    let found = state
        .with_registry(move |r| match r.code_of_document(&hash)? {
            Some(code) => Ok(Some(r.find(&code)?)),
            None => Ok(None),
        })
        .await;
    let mut v = serde_json::json!({
        "blake3": hex::encode(upload.blake3),
        "size_bytes": upload.size_bytes,
    });
    match found {
        Ok(Some(cert)) => {
            v["registered"] = Value::Bool(true);
            let mut c = serde_json::to_value(&cert).expect("a certificate serialises");
            redact(&mut c);
            v["certificate"] = c;
            json(StatusCode::OK, &v)
        }
        Ok(None) => {
            v["registered"] = Value::Bool(false);
            json(StatusCode::OK, &v)
        }
        Err(e) => internal(&e),
    }
}

/// `POST /{de,en}/check` (the form on the pages, no script): the check of
/// an uploaded PDF as a page in words. With a `code` field holding the
/// certificate's code and key, the holder data is shown too.
async fn check_page(state: &AppState, lang: Lang, req: Request<Incoming>) -> Resp {
    let upload = match receive(state, req).await {
        Ok(u) => u,
        Err(Refused(status, reason, _)) => {
            let t = pages::texts(lang);
            let msg = match reason {
                "too_large" => t.check_too_large,
                _ => t.check_bad_upload,
            };
            return response::html(
                status,
                pages::check_result(&state.site, lang, &pages::CheckOutcome::Refused(msg)),
            );
        }
    };
    if !upload.is_pdf {
        return response::html(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            pages::check_result(&state.site, lang, &pages::CheckOutcome::NotPdf),
        );
    }
    let hash = upload.blake3;
    let found = state
        .with_registry(move |r| r.code_of_document(&hash))
        .await;
    let code = match found {
        Ok(Some(code)) => code,
        Ok(None) => {
            return response::html(
                StatusCode::OK,
                pages::check_result(
                    &state.site,
                    lang,
                    &pages::CheckOutcome::NotRegistered {
                        blake3: hex::encode(hash),
                    },
                ),
            )
        }
        Err(e) => return internal(&e),
    };
    // The key helps only if it belongs to the certificate the PDF is from.
    let typed = upload
        .code
        .as_deref()
        .and_then(|t| codes::parse_code_and_key(t).ok())
        .filter(|(c, k)| c.as_str() == code && k.is_some())
        .map(|(c, k)| {
            format!(
                "{}{}",
                c.as_str(),
                k.map(|k| k.as_str().to_string()).unwrap_or_default()
            )
        });
    let l = match lookup(state, typed.as_deref().unwrap_or(&code)) {
        Ok(l) => l,
        Err(e) => return internal(&e),
    };
    match l {
        Lookup::Found {
            cert,
            key,
            evidence,
            path_code,
        } => response::html(
            StatusCode::OK,
            pages::check_result(
                &state.site,
                lang,
                &pages::CheckOutcome::Registered {
                    cert,
                    key,
                    evidence,
                    path_code,
                    blake3: hex::encode(hash),
                },
            ),
        ),
        _ => internal(&RegistryError::Invalid(format!(
            "document index names {code}, which does not look up"
        ))),
    }
}
