//! `GET /api/v1/certificates/{CODE}-{KEY}/proof.tar`: the certificate's
//! whole proof folder (`export-proof` with the registered PDFs, without the
//! scan and the holder data) as one tar file that `zeugnis verify-proof
//! proof.tar --vkey KEY` verifies as it is (`crate::export::archive`).
//!
//! Only with the right access key and not after an erasure: the folder
//! holds every record about the certificate, the grade record and the
//! revocation text among them, and the PDFs. Rate-limited like every
//! lookup (class `Lookup`, metrics route `api_proof_archive`).
//!
//! Owns: the key check and the mapping of failures to HTTP statuses, and
//! the bound on archives built at once. Must not do: assemble the bundle
//! itself (`crate::export::proof_bundle` does, for the CLI too).

use super::public::{self, KeyCheck, Lookup};
use super::response::{self, json_error, Resp};
use super::AppState;
use crate::export::{self, BundleBlobs};
use hyper::header;
use hyper::StatusCode;

/// Proof archives built at the same time. Each is held in memory while it
/// is built and sent: the records and proofs (kilobytes) and the registered
/// PDFs (at most `registry::DOCUMENTS_MAX` blobs of at most
/// `blobs::BLOB_BYTES_MAX_DEFAULT` bytes), so two take at most about
/// 260 MiB. More at once get 503 with `Retry-After: 1`.
pub const PROOF_ARCHIVE_BUILDS_MAX: usize = 2;

/// The archive's top folder: `proof-` and the code as printed
/// (`proof-QNVC-FM3P-4VDF`).
pub fn top_folder(code: &str) -> String {
    match crate::codes::Code::parse(code) {
        Ok(c) => format!("proof-{}", c.formatted()),
        Err(_) => format!("proof-{code}"),
    }
}

/// The file name a download is offered under (`proof-QNVC-FM3P-4VDF.tar`).
pub fn file_name(code: &str) -> String {
    format!("{}.tar", top_folder(code))
}

/// Answers the route; `code_and_key` is the path segment.
pub async fn serve(state: &AppState, code_and_key: &str) -> Resp {
    let lookup = match public::lookup(state, code_and_key) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "http: registry failure");
            return response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the operator has been told in the log",
            );
        }
    };
    let cert = match lookup {
        Lookup::Malformed(e) => {
            return json_error(StatusCode::BAD_REQUEST, "malformed_code", &e.to_string())
        }
        Lookup::Unknown(code) => {
            return json_error(
                StatusCode::NOT_FOUND,
                "unknown_code",
                &format!("no certificate has the code {code}"),
            )
        }
        Lookup::Found { cert, key, .. } => match key {
            KeyCheck::Valid if !cert.erased => cert,
            KeyCheck::Valid | KeyCheck::Erased => {
                return json_error(
                    StatusCode::GONE,
                    "erased",
                    &format!(
                        "the holder data of certificate {} was erased: its proof folder, which \
                         holds the grade record and the documents, is no longer given",
                        cert.code
                    ),
                )
            }
            KeyCheck::Wrong => {
                return json_error(
                    StatusCode::FORBIDDEN,
                    "wrong_key",
                    &format!("the access key does not match certificate {}", cert.code),
                )
            }
            KeyCheck::Absent => {
                return json_error(
                    StatusCode::FORBIDDEN,
                    "key_required",
                    &format!(
                        "the proof folder of certificate {} holds private data (grades, the \
                         revocation text, the documents): give CODE-KEY; without the key \
                         /api/v1/certificates/CODE/proof gives the proof of a public record",
                        cert.code
                    ),
                )
            }
        },
    };
    let Ok(_permit) = state.proof_archives.clone().try_acquire_owned() else {
        let mut r = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "other proof folders are being packed; try again in a second",
        );
        response::set(&mut r, header::RETRY_AFTER, "1");
        return r;
    };
    let code = cert.code.clone();
    let built = state
        .with_registry(move |r| {
            Ok(
                export::proof_bundle(r, &code, BundleBlobs::Documents, false).and_then(
                    |(files, _)| {
                        let mtime_s = u64::try_from(crate::ledger::now_s()).unwrap_or(0);
                        export::archive::write_tar(&top_folder(&code), &files, mtime_s)
                    },
                ),
            )
        })
        .await;
    match built {
        Ok(Ok(tar)) => {
            let mut r = response::bytes(StatusCode::OK, "application/x-tar", tar);
            // Private data: never stored by a shared cache.
            response::set(&mut r, header::CACHE_CONTROL, "no-store");
            response::set(
                &mut r,
                header::CONTENT_DISPOSITION,
                &format!("attachment; filename=\"{}\"", file_name(&cert.code)),
            );
            r
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "http: proof archive failure");
            response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the operator has been told in the log",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "http: registry failure");
            response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the operator has been told in the log",
            )
        }
    }
}
