//! The certificate lifecycle: register, archive a scan, revoke, supersede,
//! void, erase; and the derived certificate states.
//!
//! Owns: validation of the registration record (docs/design.md "Contracts"), the
//! personal-data record blob and the commitments to it, the allowed state
//! transitions, and the `certs` / `documents` / `rulesets` trees of the
//! derived index (rebuilt from the ledger records whenever they lag behind).
//! Must not do: put personal data into a ledger record; change state
//! anywhere but by appending a record and applying it.
//!
//! Rooms: this file is the writer ([`Registry`]) and the certificate states;
//! `record` is the registration-record contract; `reader` is the read side
//! the verification service and the read-only CLI use.

use crate::blobs::{BlobError, BlobStore, BLOB_BYTES_MAX_DEFAULT};
use crate::codes::{self, AccessKey, Code, CodeError};
use crate::grades::{self, GradeError};
use crate::ledger::record::{
    BlobRef, Body, DocumentRef, GradeRecord, Hash32, Record, RevocationCategory,
};
use crate::ledger::{self, Ledger, LedgerError, LedgerOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use std::path::Path;

mod bundle;
mod operator;
mod reader;
mod record;
mod replace_scan;
mod reservation;

pub use operator::{OperatorId, OperatorIdError, OperatorScope, API_OPERATOR};
use reader::parse_hash;
pub use reader::{Published, Reader, HOLDER_CACHE_ENTRIES_MAX};
pub use record::{
    check_date, Holder, Programme, RegistrationRecord, DOCUMENT_KINDS, FIELD_CHARS_MAX,
    RECORD_FILE_BYTES_MAX,
};
use record::{check_text, HolderBlob};
pub use replace_scan::ScanReplacement;
pub use reservation::{
    Reservation, RESERVATIONS_TREE, RESERVATION_DAYS_DEFAULT, RESERVATION_DAYS_MAX,
    RESERVE_COUNT_MAX,
};

/// Derived tree: code -> certificate state (JSON).
pub const CERTS_TREE: &str = "certs";
/// Derived tree: document BLAKE3 -> code.
pub const DOCUMENTS_TREE: &str = "documents";
/// Derived tree: rule-set hash -> seq of its `RulesetAdded`.
pub const RULESETS_TREE: &str = "rulesets";
/// Derived tree: bookkeeping (records applied).
pub const REGISTRY_META_TREE: &str = "registry";
/// Longest accepted revocation / void / erasure reason, in characters.
pub const REASON_CHARS_MAX: usize = 1000;
/// Language versions per registration (German and English).
pub const DOCUMENTS_MAX: usize = 2;
/// Attempts to draw a code that is not yet used before giving up.
pub const CODE_DRAWS_MAX: usize = 16;
/// Most threads re-hashing blobs in the fixity audit.
pub const FIXITY_THREADS_MAX: usize = 4;
/// The registration secret under `<data>/keys/`: 32 random bytes from which
/// each registration's access key and holder salt are derived (a keyed
/// BLAKE3 of code, record and documents), so that retrying a registration
/// whose outcome was uncertain returns the same certificate and key.
pub const REGISTRATION_SECRET_FILE: &str = "registration.secret";
/// Default base URL of the verification service.
pub const BASE_URL_DEFAULT: &str = "http://127.0.0.1:8080";

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Invalid input, naming the field or file and the reason.
    #[error("{0}")]
    Invalid(String),
    /// A code or key that does not parse.
    #[error(transparent)]
    Code(#[from] CodeError),
    /// No certificate has this code.
    #[error("no certificate has the code {code}")]
    UnknownCode { code: String },
    /// The access key does not belong to the certificate.
    #[error("the access key does not match certificate {code}")]
    WrongKey { code: String },
    /// An impossible state transition.
    #[error("cannot {action} certificate {code}: it is {state}{detail}")]
    Transition {
        code: String,
        action: &'static str,
        state: &'static str,
        detail: String,
    },
    /// The grade input is invalid.
    #[error("grades: {0}")]
    Grade(#[from] GradeError),
    /// A blob problem.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A ledger problem.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The derived index failed.
    #[error("certificate index: {0}")]
    Index(#[from] sled::Error),
    /// An outside service failed (e.g. the SMTP relay).
    #[error("{0}")]
    External(String),
    /// The change is durable in the ledger but its confirmation (the
    /// checkpoint) could not be written: not a failure. The next open
    /// confirms it; a retry with the same input returns the same outcome.
    #[error(
        "{action} {code}, but the confirmation could not be written: check with \
         `zeugnis show {code}` ({why})"
    )]
    Unconfirmed {
        /// What was done: "registered", "revoked", ...
        action: &'static str,
        /// The certificate code (formatted).
        code: String,
        /// Code, key and URL of a registration, for the person to keep
        /// (boxed: keeps every `Result<_, RegistryError>` small).
        issued: Option<Box<Issued>>,
        /// The ledger's account of what failed.
        why: String,
    },
}

impl RegistryError {
    /// Turns the ledger's "durable but unconfirmed" into the registry's,
    /// naming the certificate (and its key, for a registration).
    fn unconfirmed(self, action: &'static str, code: &str, issued: Option<&Issued>) -> Self {
        match self {
            RegistryError::Ledger(LedgerError::Unconfirmed { why, .. }) => {
                RegistryError::Unconfirmed {
                    action,
                    code: code.to_string(),
                    issued: issued.cloned().map(Box::new),
                    why,
                }
            }
            other => other,
        }
    }
}

impl RegistryError {
    /// Exit code for the CLI: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            RegistryError::Invalid(_)
            | RegistryError::Code(_)
            | RegistryError::UnknownCode { .. }
            | RegistryError::WrongKey { .. }
            | RegistryError::Transition { .. } => 2,
            RegistryError::Grade(e) => e.exit_code(),
            RegistryError::Blob(e) => e.exit_code(),
            RegistryError::Ledger(e) => e.exit_code(),
            RegistryError::Index(_) | RegistryError::External(_) => 1,
            RegistryError::Unconfirmed { .. } => ledger::EXIT_UNCONFIRMED,
        }
    }
}

/// The lifecycle state of a certificate (docs/design.md "State").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Registered; the scan of the signed original has not arrived.
    AwaitingScan,
    /// The scan is archived: the process instance is complete.
    Archived,
    /// Declared invalid and withdrawn.
    Revoked,
    /// Withdrawn and reissued under a new code.
    Superseded,
    /// The process instance was ended; it restarts under a new code.
    Voided,
}

impl State {
    /// The contract name (`awaiting_scan`, ...).
    pub fn name(self) -> &'static str {
        match self {
            State::AwaitingScan => "awaiting_scan",
            State::Archived => "archived",
            State::Revoked => "revoked",
            State::Superseded => "superseded",
            State::Voided => "voided",
        }
    }
}

/// A stored file as shown to users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileView {
    /// Language version (documents only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language: Option<String>,
    /// BLAKE3 (hex): the blob address.
    pub blake3: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Media type.
    pub media_type: String,
}

impl FileView {
    fn of(b: &BlobRef, language: Option<&str>) -> FileView {
        FileView {
            language: language.map(str::to_string),
            blake3: hex::encode(b.blake3),
            sha256: hex::encode(b.sha256),
            size_bytes: b.size_bytes,
            media_type: b.media_type.clone(),
        }
    }
}

/// Why and when something ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    /// The reason given (for a revocation: the private text, shown only
    /// with the access key).
    pub reason: String,
    /// Revocations only: the public reason category (`unspecified`,
    /// `withdrawn`, `replaced`, `issued_in_error`); absent for revocations
    /// recorded before ledger format version 2 (kind 7).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub category: Option<String>,
    /// Effective date (`YYYY-MM-DD`), for revocations.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub effective_date: Option<String>,
    /// Ledger seq of the record.
    pub seq: u64,
}

/// A scan that was replaced by an operator (ledger kind 13, `ScanReplaced`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplacedScan {
    /// The replaced scan (its blob is kept).
    pub scan: FileView,
    /// Seq of the record that had archived it (`ScanArchived` or an
    /// earlier `ScanReplaced`).
    pub archived_by: u64,
    /// Seq of the `ScanReplaced` record that replaced it.
    pub replaced_by: u64,
    /// Why it was replaced (private text, like a revocation's reason:
    /// shown only with the access key).
    pub reason: String,
}

/// The derived state of one certificate (the JSON of `show --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// The code (12 characters, no hyphens).
    pub code: String,
    /// Lifecycle state.
    pub state: State,
    /// Issuing institution.
    pub institution: String,
    /// Document kind.
    pub kind: String,
    /// The digital images, in registration order.
    pub documents: Vec<FileView>,
    /// The archived scan, if any: after a replacement, the current one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scan: Option<FileView>,
    /// Ledger seq of the record that archived the current scan (a
    /// `ScanArchived`, or the `ScanReplaced` of the latest replacement).
    /// Absent in states derived before ledger format version 3.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scan_seq: Option<u64>,
    /// Scans an operator replaced (`zeugnis replace-scan`), oldest first.
    /// Their blobs are kept.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub replaced_scans: Vec<ReplacedScan>,
    /// The grade record, if grades were registered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grade: Option<Value>,
    /// Revocation details.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub revoked: Option<Ending>,
    /// Void details.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub voided: Option<Ending>,
    /// The replacement certificate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub superseded_by: Option<String>,
    /// The certificate this one replaces.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub supersedes: Option<String>,
    /// True after GDPR erasure of the holder data.
    pub erased: bool,
    /// Every ledger seq about this certificate, ascending.
    pub seqs: Vec<u64>,
    /// BLAKE3 (hex) of the personal-data record blob.
    pub holder_blob: String,
    /// Access-key commitment (hex).
    #[serde(skip_serializing, default)]
    pub key_commitment: String,
    /// Holder data: only filled in by [`Registry::show`] with the right key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub holder: Option<Value>,
    /// The code was printed by an earlier system (`register --import`).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub imported: bool,
    /// Certificates that held the same document bytes when this one was
    /// registered with `--allow-duplicate`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub duplicate_of: Vec<String>,
    /// Every record about the certificate with who wrote it (the audit
    /// trail, ledger/FORMAT.md §3.5): only filled in by
    /// [`Registry::show`] (the CLI and the admin API), never stored in the
    /// derived index and never shown by the public listener.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub events: Vec<Event>,
    /// Mails of the digital image to the graduate (`MailDelivered`
    /// records), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub deliveries: Vec<DeliveryView>,
}

/// One record about a certificate, as `show` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Ledger seq of the record.
    pub seq: u64,
    /// UTC seconds when it was appended.
    pub time_s: i64,
    /// The record kind's name (`Registered`, `ScanArchived`, ...).
    pub kind: String,
    /// Who wrote it; `null` for an unattributed record (the intake, the
    /// scheduler, a command-line write without `--operator`, and every
    /// record written before format version 6).
    pub operator: Option<OperatorId>,
}

/// One mail to the graduate, as `show` lists it (no address: only its
/// keyed hash, FORMAT.md §3.3 kind 17).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// Ledger seq of the `MailDelivered` record.
    pub seq: u64,
    /// When the relay accepted the mail (UTC seconds).
    pub delivered: i64,
    /// Language of the text.
    pub language: String,
    /// `builtin` or `operator`.
    pub template: String,
    /// BLAKE3 (hex) of the template text.
    pub template_blake3: String,
    /// BLAKE3 (hex) of each attached document.
    pub documents: Vec<String>,
    /// Keyed hash (hex) of the address.
    pub address_hash: String,
}

/// What [`Registry::record_mail_delivery`] records (the body of kind 17).
#[derive(Clone, Debug)]
pub struct MailDelivery {
    /// The certificate code (12 characters).
    pub code: String,
    /// Language of the text.
    pub language: String,
    /// `builtin` or `operator`.
    pub template: String,
    /// BLAKE3 of the template text.
    pub template_blake3: Hash32,
    /// BLAKE3 of each attached document.
    pub documents: Vec<Hash32>,
    /// Keyed hash of the address.
    pub address_hash: Hash32,
    /// When the relay accepted it (UTC seconds).
    pub delivered_s: i64,
}

/// What a registration returns.
#[derive(Clone, Debug, Serialize)]
pub struct Issued {
    /// The code, formatted `QNVC-FM3P-4VDF`.
    pub code: String,
    /// The access key, `7K2M9X`.
    pub key: String,
    /// The verification URL with the key.
    pub url: String,
    /// `register --stamp`: page 1 of every document carries the
    /// verification link (without the key), and the stamped file is what
    /// was hashed and stored.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stamped: bool,
    /// Accepted, but worth a look (a document without a PDF/A
    /// declaration); printed on standard error, listed in the admin API's
    /// answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// How [`Registry::register_with`] treats a chosen code and a document
/// that is already registered.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterOptions<'a> {
    /// A reserved code (`register --code`), instead of a random one.
    pub code: Option<&'a str>,
    /// The chosen code is not reserved: it was printed by an earlier system
    /// (`--import`); recorded as `CodeImported`.
    pub import: bool,
    /// A document whose bytes are already registered for a still-valid
    /// certificate is accepted (`--allow-duplicate`); recorded as
    /// `DuplicateAllowed`.
    pub allow_duplicate: bool,
}

/// What [`Registry::prepare`] may accept about documents already registered.
#[derive(Clone, Copy, Debug, Default)]
struct DuplicatePolicy<'a> {
    /// Record and accept instead of refusing.
    allow: bool,
    /// The certificate being superseded: its documents may be reused.
    replacing: Option<&'a str>,
}

/// A document given to `register`: a name for error messages and its bytes.
#[derive(Clone)]
pub struct DocumentFile {
    /// File name (for errors).
    pub name: String,
    /// Content.
    pub bytes: Vec<u8>,
}

/// One scan to archive (see [`Registry::archive_scans`]).
pub struct ScanItem<'a> {
    /// The certificate code found for the scan.
    pub code: Code,
    /// The file's bytes.
    pub bytes: &'a [u8],
    /// Its sniffed media type (see [`crate::blobs::sniff`]).
    pub media_type: &'static str,
    /// The file name as dropped by the scanning station.
    pub source_name: &'a str,
}

/// What [`Registry::archive_scans`] decided for one scan.
#[derive(Debug)]
pub enum ScanDecision {
    /// A `ScanArchived` record at `seq` is durable.
    Archived { seq: u64 },
    /// The same bytes are already archived for this code (record at `seq`).
    Duplicate { seq: u64 },
    /// No certificate has this code (yet).
    Unknown,
    /// The certificate is in `state`, which takes no (further) scan.
    Refused { state: State, error: RegistryError },
}

/// The registry over one ledger.
pub struct Registry {
    /// The ledger (single writer).
    ledger: Ledger,
    /// The blob store in the same data directory.
    blobs: BlobStore,
    /// code -> Certificate JSON.
    certs: sled::Tree,
    /// document BLAKE3 -> code.
    documents: sled::Tree,
    /// rule-set hash -> seq.
    rulesets: sled::Tree,
    /// reserved code -> [`Reservation`] JSON.
    reservations: sled::Tree,
    /// Days an unused reservation stays valid (`[reserve] expiry_days`).
    reservation_days: u64,
    /// "applied" -> records applied (u64 LE).
    meta: sled::Tree,
    /// Base URL of the verification service.
    base_url: String,
    /// The read side, shared with the verification service.
    reader: Reader,
    /// Set when applying committed records to the derived trees failed:
    /// the next write brings them up to the ledger first.
    derived_stale: bool,
    /// The secret registrations derive their access key and holder salt
    /// from (loaded on first use; see [`REGISTRATION_SECRET_FILE`]).
    secret: Option<[u8; 32]>,
}

/// The BLAKE3 key-derivation context of the holder salt (FORMAT.md §14.2).
const HOLDER_SALT_CONTEXT: &str = "zeugnis 2026 holder salt v1";

/// The mail-queue entry of a registration whose record has `holder.email`
/// (`crate::mail`): what the mail needs, fixed now that the key is known.
fn mail_entry(
    code: &Code,
    record: &RegistrationRecord,
    to: &str,
    url: &str,
    salt: &Hash32,
    documents: &[DocumentFile],
) -> crate::mail::queue::Entry {
    let now = ledger::now_s();
    crate::mail::queue::Entry {
        format: crate::mail::queue::ENTRY_FORMAT.into(),
        code: code.as_str().to_string(),
        language: record.language.clone(),
        to: to.to_string(),
        name: format!("{} {}", record.holder.given_name, record.holder.family_name),
        url: url.to_string(),
        address_hash: hex::encode(crate::mail::queue::address_hash(salt, to)),
        documents: documents
            .iter()
            .map(|d| blake3::hash(&d.bytes).to_hex().to_string())
            .collect(),
        created_s: now,
        attempts: 0,
        next_attempt_s: now,
        last_error: None,
        state: crate::mail::queue::EntryState::Waiting,
        sent: None,
    }
}

/// The per-registration seed: a BLAKE3 keyed by the registration secret
/// over the code, the canonical JSON of the record and the documents' hashes.
fn registration_seed(
    secret: &[u8; 32],
    code: &Code,
    record: &RegistrationRecord,
    documents: &[DocumentFile],
) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(secret);
    h.update(b"zeugnis registration seed v1\0");
    h.update(code.as_str().as_bytes());
    let json = serde_json::to_vec(record).expect("a record serialises");
    h.update(&(json.len() as u64).to_le_bytes());
    h.update(&json);
    h.update(&(documents.len() as u64).to_le_bytes());
    for d in documents {
        h.update(blake3::hash(&d.bytes).as_bytes());
    }
    h.finalize().into()
}

impl Registry {
    /// Opens the registry over an existing ledger and brings the derived
    /// certificate states up to the ledger head.
    pub fn open(data: &Path, base_url: &str) -> Result<Registry, RegistryError> {
        let ledger = Ledger::open(data, LedgerOptions::default())?;
        Registry::over(ledger, base_url)
    }

    /// Opens the registry for the read commands when no daemon runs:
    /// over [`Ledger::open_read_only`] (no writer lock; the latest signed
    /// checkpoint's records). Every write is refused
    /// ([`LedgerError::ReadOnly`]); [`LedgerError::NeedsWriter`] when only
    /// a writer's open can bring the derived data up to date.
    pub fn open_read_only(data: &Path, base_url: &str) -> Result<Registry, RegistryError> {
        Registry::over(Ledger::open_read_only(data)?, base_url)
    }

    /// Wraps an open ledger.
    pub fn over(ledger: Ledger, base_url: &str) -> Result<Registry, RegistryError> {
        let blobs = BlobStore::open(ledger.dir(), BLOB_BYTES_MAX_DEFAULT)?
            .with_fault(ledger.sync_fault().cloned());
        let certs = ledger.index_tree(CERTS_TREE)?;
        let reader = Reader::new(certs.clone(), blobs.clone(), &ledger);
        let r = Registry {
            certs,
            reader,
            documents: ledger.index_tree(DOCUMENTS_TREE)?,
            rulesets: ledger.index_tree(RULESETS_TREE)?,
            reservations: ledger.index_tree(RESERVATIONS_TREE)?,
            reservation_days: RESERVATION_DAYS_DEFAULT,
            meta: ledger.index_tree(REGISTRY_META_TREE)?,
            ledger,
            blobs,
            base_url: base_url.trim_end_matches('/').to_string(),
            derived_stale: false,
            secret: None,
        };
        r.catch_up()?;
        Ok(r)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Key rotation (`zeugnis rotate-key`, the admin API): adds a signing
    /// key, or with `retire` retires that one (8-hex key ID or vkey) for
    /// `reason`. Readers see the new checkpoint at once; key records change
    /// no certificate state, but the derived trees count them as applied.
    pub fn rotate_key(
        &mut self,
        retire: Option<&str>,
        reason: &str,
    ) -> Result<ledger::checkpoint::Verifier, RegistryError> {
        let v = match retire {
            None => self.ledger.add_key()?,
            Some(which) => self.ledger.retire_key(which, reason)?,
        };
        self.reader.publish(&self.ledger);
        self.catch_up()?;
        Ok(v)
    }

    fn applied(&self) -> Result<u64, RegistryError> {
        Ok(self
            .meta
            .get("applied")?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0))
    }

    /// Applies every record the derived trees have not seen yet. If the
    /// trees claim more than the ledger holds they are rebuilt.
    fn catch_up(&self) -> Result<(), RegistryError> {
        let mut from = self.applied()?;
        if from > self.ledger.size() {
            for t in [
                &self.certs,
                &self.documents,
                &self.rulesets,
                &self.reservations,
                &self.meta,
            ] {
                t.clear()?;
            }
            from = 0;
        }
        let mut err = None;
        self.ledger.for_each_record(from, &mut |seq, bytes| {
            match Record::decode(bytes) {
                Ok(rec) => {
                    if let Err(e) = self.apply(seq, &rec.body) {
                        err = Some(e);
                    }
                }
                Err(e) => {
                    return Err(LedgerError::Invalid(format!(
                        "record {seq} does not decode: {e}"
                    )));
                }
            }
            Ok(())
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        self.meta
            .insert("applied", &self.ledger.size().to_le_bytes())?;
        Ok(())
    }

    fn get(&self, code: &str) -> Result<Option<Certificate>, RegistryError> {
        self.reader.get(code)
    }

    fn put(&self, c: &Certificate) -> Result<(), RegistryError> {
        // `key_commitment` is not part of the public JSON; the stored form keeps it.
        let mut full = serde_json::to_value(c).expect("certificate serialises");
        full["key_commitment"] = Value::String(c.key_commitment.clone());
        self.certs
            .insert(c.code.as_bytes(), serde_json::to_vec(&full).expect("json"))?;
        Ok(())
    }

    /// Applies one record to the derived trees (pure function of the records).
    fn apply(&self, seq: u64, body: &Body) -> Result<(), RegistryError> {
        let with = |code: &str, f: &mut dyn FnMut(&mut Certificate)| -> Result<(), RegistryError> {
            if let Some(mut c) = self.get(code)? {
                if c.seqs.contains(&seq) {
                    return Ok(()); // already applied (replay after a crash)
                }
                f(&mut c);
                c.seqs.push(seq);
                self.put(&c)?;
            }
            Ok(())
        };
        match body {
            Body::RulesetAdded { text, .. } => {
                self.rulesets.insert(text.blake3, &seq.to_le_bytes())?;
            }
            Body::Registered {
                code,
                document_kind,
                institution,
                holder_commitment,
                key_commitment,
                documents,
                grade,
            } => {
                for d in documents {
                    self.documents.insert(d.blob.blake3, code.as_bytes())?;
                }
                let c = Certificate {
                    code: code.clone(),
                    state: State::AwaitingScan,
                    institution: institution.clone(),
                    kind: document_kind.clone(),
                    documents: documents.iter().map(|d| FileView::of(&d.blob, Some(&d.language))).collect(),
                    scan: None,
                    scan_seq: None,
                    replaced_scans: Vec::new(),
                    grade: grade.as_ref().map(|g| {
                        serde_json::json!({
                            "ruleset": g.ruleset_id,
                            "ruleset_hash": hex::encode(g.ruleset_hash),
                            "result": serde_json::from_str::<Value>(&g.result_json).unwrap_or(Value::Null),
                        })
                    }),
                    revoked: None,
                    voided: None,
                    superseded_by: None,
                    supersedes: None,
                    erased: false,
                    seqs: vec![seq],
                    holder_blob: hex::encode(holder_commitment),
                    key_commitment: hex::encode(key_commitment),
                    holder: None,
                    imported: false,
                    duplicate_of: Vec::new(),
                    events: Vec::new(),
                    deliveries: Vec::new(),
                };
                self.put(&c)?;
            }
            Body::Reserved {
                code,
                key_commitment,
                expires_s,
            } => self.apply_reserved(seq, code, key_commitment, *expires_s)?,
            Body::CodeImported { code } => with(code, &mut |c| c.imported = true)?,
            Body::DuplicateAllowed {
                code, other_code, ..
            } => with(code, &mut |c| {
                if !c.duplicate_of.contains(other_code) {
                    c.duplicate_of.push(other_code.clone());
                }
            })?,
            Body::MailDelivered {
                code,
                language,
                template,
                template_blake3,
                documents,
                address_hash,
                delivered_s,
            } => with(code, &mut |c| {
                c.deliveries.push(DeliveryView {
                    seq,
                    delivered: *delivered_s,
                    language: language.clone(),
                    template: template.clone(),
                    template_blake3: hex::encode(template_blake3),
                    documents: documents.iter().map(hex::encode).collect(),
                    address_hash: hex::encode(address_hash),
                })
            })?,
            Body::ScanArchived { code, scan, .. } => with(code, &mut |c| {
                c.state = State::Archived;
                c.scan = Some(FileView::of(scan, None));
                c.scan_seq = Some(seq);
            })?,
            Body::ScanReplaced {
                code,
                scan,
                replaced_seq,
                reason,
                ..
            } => with(code, &mut |c| {
                // The state does not change: a revoked or superseded
                // certificate keeps its state with the corrected scan.
                if let Some(old) = c.scan.take() {
                    c.replaced_scans.push(ReplacedScan {
                        scan: old,
                        archived_by: *replaced_seq,
                        replaced_by: seq,
                        reason: reason.clone(),
                    });
                }
                c.scan = Some(FileView::of(scan, None));
                c.scan_seq = Some(seq);
            })?,
            Body::Revoked {
                code,
                reason,
                effective_date,
            } => with(code, &mut |c| {
                c.state = State::Revoked;
                c.revoked = Some(Ending {
                    reason: reason.clone(),
                    category: None,
                    effective_date: Some(effective_date.clone()),
                    seq,
                });
            })?,
            Body::RevokedWithCategory {
                code,
                category,
                reason,
                effective_date,
            } => with(code, &mut |c| {
                c.state = State::Revoked;
                c.revoked = Some(Ending {
                    reason: reason.clone(),
                    category: Some(category.name().to_string()),
                    effective_date: Some(effective_date.clone()),
                    seq,
                });
            })?,
            Body::Superseded { old_code, new_code } => {
                with(old_code, &mut |c| {
                    c.state = State::Superseded;
                    c.superseded_by = Some(new_code.clone());
                })?;
                with(new_code, &mut |c| c.supersedes = Some(old_code.clone()))?;
            }
            Body::Voided { code, reason } => with(code, &mut |c| {
                c.state = State::Voided;
                c.voided = Some(Ending {
                    reason: reason.clone(),
                    category: None,
                    effective_date: None,
                    seq,
                });
            })?,
            Body::Erased { code, .. } => with(code, &mut |c| {
                c.erased = true;
                if let Some(addr) = parse_hash(&c.holder_blob) {
                    self.reader.forget_holder(&addr);
                }
            })?,
            Body::Stamped { code, original, .. } => {
                self.documents.insert(original, code.as_bytes())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Appends a batch and applies it to the derived trees. Once the ledger
    /// acknowledged the batch the operation has succeeded: a failure to
    /// update the derived trees is logged and repaired before the next write
    /// (and at every open), never reported as the operation's failure.
    fn commit(&mut self, bodies: Vec<Body>) -> Result<std::ops::Range<u64>, RegistryError> {
        self.refresh_derived()?;
        let range = self.ledger.append_batch(bodies.clone())?;
        // Readers may see the new records before the derived states refer
        // to them, never the other way round.
        self.reader.publish(&self.ledger);
        let applied = range
            .clone()
            .zip(&bodies)
            .try_for_each(|(seq, body)| self.apply(seq, body))
            .and_then(|()| {
                Ok(self
                    .meta
                    .insert("applied", &range.end.to_le_bytes())
                    .map(|_| ())?)
            });
        if let Err(e) = applied {
            tracing::warn!(error = %e, "committed, but the derived certificate index could not be updated; it is rebuilt before the next write");
            self.derived_stale = true;
        }
        Ok(range)
    }

    /// Brings the derived trees up to the ledger after a failed update.
    fn refresh_derived(&mut self) -> Result<(), RegistryError> {
        if self.derived_stale {
            self.catch_up()?;
            self.derived_stale = false;
        }
        Ok(())
    }

    /// The registration secret (created durably, mode 0600, on first use).
    /// One found on disk is written anew (atomically, fsynced) once per
    /// process before a registration derives anything from it: a secret
    /// another process wrote may be what a failed fsync left in the page
    /// cache (issue 14), and losing it would make a retry after an uncertain
    /// outcome derive another key.
    fn registration_secret(&mut self) -> Result<[u8; 32], RegistryError> {
        if let Some(s) = self.secret {
            return Ok(s);
        }
        let path = self
            .ledger
            .dir()
            .join(ledger::KEYS_DIR)
            .join(REGISTRATION_SECRET_FILE);
        let secret = match std::fs::read(&path) {
            Ok(bytes) => {
                ledger::durable::private_file_metadata(&path)
                    .map_err(|why| RegistryError::Invalid(format!("{}: {why}", path.display())))?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    RegistryError::Invalid(format!(
                        "{}: {} bytes, expected exactly 32 (the registration secret is damaged)",
                        path.display(),
                        bytes.len()
                    ))
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => rand::random(),
            Err(source) => {
                return Err(LedgerError::Io {
                    op: "read",
                    path,
                    source,
                }
                .into())
            }
        };
        ledger::durable::write_atomic_private_on(&path, &secret, self.ledger.sync_fault())
            .map_err(|source| LedgerError::Io {
                op: "write",
                path: path.clone(),
                source,
            })?;
        self.secret = Some(secret);
        Ok(secret)
    }

    /// Whether `code` is taken: registered or reserved.
    fn code_known(&self, code: &Code) -> Result<bool, RegistryError> {
        Ok(self.certs.contains_key(code.as_str())?
            || self.reservations.contains_key(code.as_str())?)
    }

    /// The A4 cover sheet of a certificate (PDF) with the QR code's tag
    /// under the archive's cover-sheet key, and the formatted code; shared
    /// by `zeugnis cover-sheet` and the admin API.
    pub fn cover_sheet(&self, code_text: &str) -> Result<(String, Vec<u8>), RegistryError> {
        let c = self.find(code_text)?;
        let key = crate::coversheet::CoverSheetKey::open_or_create(self.ledger().dir())
            .map_err(|e| RegistryError::Invalid(format!("cover sheet key: {e}")))?;
        let tag = key.tag(&c.code);
        let pdf = crate::coversheet::render_pdf(&crate::coversheet::CoverSheet {
            code: &c.code,
            institution: &c.institution,
            document_kind: &c.kind,
            verify_url: None,
            authenticator: Some(&tag),
        })
        .map_err(|e| RegistryError::External(format!("cover sheet: {e}")))?;
        Ok((c.code, pdf))
    }

    /// Looks a certificate up by a (leniently parsed) code.
    pub fn find(&self, code_text: &str) -> Result<Certificate, RegistryError> {
        self.reader.find(code_text)
    }

    /// Shows a certificate; with the right access key, also the holder data.
    pub fn show(
        &self,
        code_text: &str,
        key_text: Option<&str>,
    ) -> Result<Certificate, RegistryError> {
        self.reader.show(code_text, key_text)
    }

    /// The registered grade input, see [`Reader::grade_input`].
    pub fn grade_input(&self, c: &Certificate) -> Result<Option<Value>, RegistryError> {
        self.reader.grade_input(c)
    }

    /// The read side, for threads that must not wait for the writer.
    pub fn reader(&self) -> Reader {
        self.reader.clone()
    }

    /// The code of a new registration: the chosen one if it is reserved,
    /// unused and unexpired (with its reserved key) or imported, else a
    /// fresh random one.
    fn choose_code(
        &mut self,
        opts: &RegisterOptions,
    ) -> Result<(Code, Option<AccessKey>), RegistryError> {
        let Some(text) = opts.code else {
            if opts.import {
                return Err(RegistryError::Invalid(
                    "--import: give the earlier system's code with --code".into(),
                ));
            }
            return Ok((self.draw_code()?, None));
        };
        let (code, key) = codes::parse_code_and_key(text)?;
        if key.is_some() {
            return Err(RegistryError::Invalid(format!(
                "--code {text}: give the 12-character code only, not a key"
            )));
        }
        if self.certs.contains_key(code.as_str())? {
            return Err(RegistryError::Invalid(format!(
                "--code {}: this code is already used (codes are unique for the ledger's lifetime)",
                code.formatted()
            )));
        }
        match (self.reservation(&code)?, opts.import) {
            (Some(_), true) => Err(RegistryError::Invalid(format!(
                "--code {}: this code was reserved here; --import is only for codes printed by an earlier system",
                code.formatted()
            ))),
            (Some(r), false) => Ok((code, Some(self.reserved_key(&code, &r, true)?))),
            (None, true) => Ok((code, None)),
            (None, false) => Err(RegistryError::Invalid(format!(
                "--code {}: not a reserved code; reserve codes with `zeugnis reserve` (or the admin API), \
                 or give --import for a code printed by an earlier system",
                code.formatted()
            ))),
        }
    }

    /// A fresh random code, neither registered nor reserved.
    fn draw_code(&self) -> Result<Code, RegistryError> {
        for _ in 0..CODE_DRAWS_MAX {
            let code = Code::generate();
            if !self.code_known(&code)? {
                return Ok(code);
            }
        }
        Err(RegistryError::Invalid(format!(
            "no unused code in {CODE_DRAWS_MAX} draws (the random source is broken)"
        )))
    }

    /// Builds the bodies of a registration and collects the blobs they
    /// reference into `pending`; the caller stores those durably
    /// ([`Registry::store_blobs`]) before appending the records, so a crash in
    /// between leaves at most an unreferenced blob (reported by `audit`).
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        record: &RegistrationRecord,
        documents: &[DocumentFile],
        code: Code,
        reserved_key: Option<AccessKey>,
        duplicates: DuplicatePolicy,
        secret: &[u8; 32],
        pending: &mut Vec<(Vec<u8>, &'static str)>,
    ) -> Result<(Vec<Body>, Issued), RegistryError> {
        if documents.is_empty() {
            return Err(RegistryError::Invalid(
                "--document: at least one PDF is required".into(),
            ));
        }
        if documents.len() > DOCUMENTS_MAX {
            return Err(RegistryError::Invalid(format!(
                "--document: at most {DOCUMENTS_MAX} language versions (de, en), got {}",
                documents.len()
            )));
        }
        let mut media = Vec::new();
        let mut warnings = Vec::new();
        for d in documents {
            media.push(self.blobs.check_document(&d.name, &d.bytes)?);
            let facts = crate::document::inspect(&d.name, &d.bytes)
                .map_err(|e| RegistryError::Invalid(e.to_string()))?;
            warnings.extend(facts.warning(&d.name));
        }
        let duplicate_bodies = self.duplicates(&code, documents, duplicates)?;
        let mut bodies = Vec::new();
        let grade = match &record.grades {
            None => None,
            Some(input) => {
                let g = grades::evaluate(input)?;
                let hash = parse_hash(&g.ruleset_hash).ok_or_else(|| {
                    RegistryError::Invalid("grades: rule-set hash is not hex".into())
                })?;
                if !self.rulesets.contains_key(hash)? {
                    let shipped = grades::shipped_rulesets()?;
                    let rs = shipped
                        .iter()
                        .find(|r| r.hash == g.ruleset_hash)
                        .ok_or_else(|| {
                            RegistryError::Invalid(format!(
                                "grades: rule set {} not shipped",
                                g.ruleset
                            ))
                        })?;
                    let text = self
                        .blobs
                        .put(rs.canonical_text.as_bytes(), "text/plain; charset=utf-8")?;
                    bodies.push(Body::RulesetAdded {
                        id: rs.id.clone(),
                        version: rs.version.to_string(),
                        text,
                    });
                }
                let final_grade = [&g.result["final"]["value"], &g.result["grade"]]
                    .iter()
                    .find_map(|v| v.as_str())
                    .and_then(|s| s.parse().ok());
                Some(GradeRecord {
                    ruleset_id: g.ruleset.clone(),
                    ruleset_hash: hash,
                    final_grade,
                    result_json: serde_json::to_string(&g.result).expect("json"),
                })
            }
        };
        // Key and salt are secret and pseudo-random, but a function of the
        // input: a retry of the same registration gets the same ones.
        let seed = registration_seed(secret, &code, record, documents);
        let key = reserved_key.unwrap_or_else(|| AccessKey::derive(&code, &seed));
        let salt: Hash32 = blake3::derive_key(HOLDER_SALT_CONTEXT, &seed);
        let holder = HolderBlob {
            format: "zeugnis-holder-v1".into(),
            salt: hex::encode(salt),
            code: code.as_str().to_string(),
            // The e-mail address goes to the mail queue only (FORMAT.md
            // §14.2 stays as it is; ARCHITECTURE.md "The graduate mail").
            record: record.without_email(),
        };
        let holder_bytes = serde_json::to_vec(&holder).expect("json");
        let holder_ref = BlobStore::reference(&holder_bytes, "application/json");
        pending.push((holder_bytes, "application/json"));
        let other = if record.language == "de" { "en" } else { "de" };
        let mut docs = Vec::new();
        for (i, d) in documents.iter().enumerate() {
            docs.push(DocumentRef {
                language: if i == 0 {
                    record.language.clone()
                } else {
                    other.into()
                },
                blob: BlobStore::reference(&d.bytes, media[i]),
            });
            pending.push((d.bytes.clone(), media[i]));
        }
        bodies.push(Body::Registered {
            code: code.as_str().to_string(),
            document_kind: record.kind.clone(),
            institution: record.institution.clone(),
            holder_commitment: holder_ref.blake3,
            key_commitment: codes::key_commitment(&code, &key, &salt),
            documents: docs,
            grade,
        });
        bodies.extend(duplicate_bodies);
        let issued = Issued {
            code: code.formatted(),
            key: key.to_string(),
            url: format!(
                "{}/{}/{}-{}",
                self.base_url,
                record.language,
                code.as_str(),
                key
            ),
            stamped: false,
            warnings,
        };
        Ok((bodies, issued))
    }

    /// The `DuplicateAllowed` records for documents of `code` whose bytes
    /// are registered for another certificate that is still valid (awaiting
    /// its scan or archived); without `policy.allow`, a refusal naming it.
    fn duplicates(
        &self,
        code: &Code,
        documents: &[DocumentFile],
        policy: DuplicatePolicy,
    ) -> Result<Vec<Body>, RegistryError> {
        let mut bodies = Vec::new();
        for d in documents {
            let hash = *blake3::hash(&d.bytes).as_bytes();
            let Some(other) = self.documents.get(hash)? else {
                continue;
            };
            let other = String::from_utf8_lossy(&other).into_owned();
            if other == code.as_str() || policy.replacing == Some(other.as_str()) {
                continue;
            }
            let Some(held) = self.get(&other)? else {
                continue;
            };
            if !matches!(held.state, State::AwaitingScan | State::Archived) {
                continue;
            }
            let shown = Code::parse(&other)
                .map(|c| c.formatted())
                .unwrap_or(other.clone());
            if !policy.allow {
                return Err(RegistryError::Invalid(format!(
                    "{}: the same PDF bytes are already registered for certificate {shown} ({}); \
                     a document belongs to one certificate (give --allow-duplicate if this is \
                     intended: it is recorded in the ledger)",
                    d.name,
                    held.state.name()
                )));
            }
            bodies.push(Body::DuplicateAllowed {
                code: code.as_str().to_string(),
                document: hash,
                other_code: other,
            });
        }
        Ok(bodies)
    }

    /// Registers a certificate (docs/design.md `zeugnis register`).
    ///
    /// Idempotent with `code`: if that code already holds a registration of
    /// exactly this record and these documents (a retry after an uncertain
    /// outcome), its code and key are returned and nothing is appended.
    pub fn register(
        &mut self,
        record: &RegistrationRecord,
        documents: &[DocumentFile],
        code: Option<&str>,
    ) -> Result<Issued, RegistryError> {
        self.register_with(
            record,
            documents,
            &RegisterOptions {
                code,
                ..RegisterOptions::default()
            },
        )
    }

    /// Registers a certificate with the options of `zeugnis register`: a
    /// reserved code (or, with `import`, an earlier system's code) and
    /// whether a document already registered may be registered again.
    pub fn register_with(
        &mut self,
        record: &RegistrationRecord,
        documents: &[DocumentFile],
        opts: &RegisterOptions,
    ) -> Result<Issued, RegistryError> {
        self.register_stamped(record, documents, opts, None)
    }

    /// [`Registry::register_with`], and with `stamp` (`register --stamp`)
    /// each document gets the verification link, QR code and code on page
    /// 1 ([`crate::stamp`]) once its code is chosen and before it is
    /// checked, hashed and stored: what is registered is the stamped file.
    pub fn register_stamped(
        &mut self,
        record: &RegistrationRecord,
        documents: &[DocumentFile],
        opts: &RegisterOptions,
        stamp: Option<&crate::stamp::StampRequest>,
    ) -> Result<Issued, RegistryError> {
        self.refresh_derived()?;
        let secret = self.registration_secret()?;
        let retry = match stamp {
            None => self.registered_already(record, documents, opts, &secret)?,
            Some(s) => match opts.code.map(codes::parse_code_and_key) {
                Some(Ok((code, None))) => {
                    let stamped = stamp_documents(record, documents, &code, s)?;
                    self.registered_already(record, &stamped, opts, &secret)?
                }
                _ => None,
            },
        };
        if let Some(mut issued) = retry {
            issued.stamped = stamp.is_some();
            return Ok(issued);
        }
        let (code, reserved_key) = self.choose_code(opts)?;
        let policy = DuplicatePolicy {
            allow: opts.allow_duplicate,
            replacing: None,
        };
        let stamped;
        let mut original_duplicates = Vec::new();
        let original_hashes: Vec<Hash32> = documents
            .iter()
            .map(|d| *blake3::hash(&d.bytes).as_bytes())
            .collect();
        let documents = match stamp {
            None => documents,
            Some(s) => {
                // The stamped bytes are new (they carry the code): the
                // original is checked against what is registered too.
                original_duplicates = self.duplicates(&code, documents, policy)?;
                stamped = stamp_documents(record, documents, &code, s)?;
                &stamped[..]
            }
        };
        let mut pending = Vec::new();
        let (mut bodies, issued) = self.prepare(
            record,
            documents,
            code,
            reserved_key,
            policy,
            &secret,
            &mut pending,
        )?;
        bodies.extend(original_duplicates);
        // Which original each stamped document came from (kind 18): the
        // derived document index maps the original to this code too, so
        // the same original is refused for another certificate later.
        if stamp.is_some() {
            let stamped_from = original_hashes.iter().zip(documents);
            bodies.extend(stamped_from.map(|(original, d)| Body::Stamped {
                code: code.as_str().to_string(),
                document: *blake3::hash(&d.bytes).as_bytes(),
                original: *original,
            }));
        }
        if opts.import {
            bodies.push(Body::CodeImported {
                code: code.as_str().to_string(),
            });
        }
        self.enqueue_mail(&secret, &code, record, documents, &issued)?;
        self.store_blobs(&pending)?;
        let issued = Issued {
            stamped: stamp.is_some(),
            ..issued
        };
        self.commit(bodies)
            .map_err(|e| e.unconfirmed("registered", &issued.code, Some(&issued)))?;
        Ok(issued)
    }

    /// A retry of a registration under `code`: the issued code and key if
    /// the certificate under `code` was registered with exactly this record
    /// and these documents (same holder commitment, key commitment and
    /// documents), `None` otherwise.
    fn registered_already(
        &mut self,
        record: &RegistrationRecord,
        documents: &[DocumentFile],
        opts: &RegisterOptions,
        secret: &[u8; 32],
    ) -> Result<Option<Issued>, RegistryError> {
        let Some(text) = opts.code else {
            return Ok(None);
        };
        let Ok((code, None)) = codes::parse_code_and_key(text) else {
            return Ok(None); // draw_code names the problem
        };
        let Some(existing) = self.get(code.as_str())? else {
            return Ok(None);
        };
        let reserved_key = match self.reservation(&code)? {
            Some(r) => Some(self.reserved_key(&code, &r, false)?),
            None => None,
        };
        let policy = DuplicatePolicy {
            allow: opts.allow_duplicate,
            replacing: None,
        };
        let mut pending = Vec::new();
        let (bodies, issued) = self.prepare(
            record,
            documents,
            code,
            reserved_key,
            policy,
            secret,
            &mut pending,
        )?;
        let same = bodies.iter().any(|b| {
            matches!(b, Body::Registered { holder_commitment, key_commitment, documents, .. }
                if hex::encode(holder_commitment) == existing.holder_blob
                    && hex::encode(key_commitment) == existing.key_commitment
                    && documents.len() == existing.documents.len()
                    && documents.iter().zip(&existing.documents)
                        .all(|(d, e)| hex::encode(d.blob.blake3) == e.blake3))
        });
        if !same {
            return Ok(None);
        }
        // The first attempt made them durable before its record; make sure
        // again (a blob whose fsync failed then is not trusted now).
        self.store_blobs(&pending)?;
        tracing::info!(code = %issued.code, "retry of a registration that is already in the ledger");
        Ok(Some(issued))
    }

    /// Registers several certificates with one ledger batch (one fsync pair
    /// for all their records); their blobs are each made durable first.
    /// All or nothing: any invalid item rejects the whole batch before a
    /// record is written.
    pub fn register_batch(
        &mut self,
        items: &[(RegistrationRecord, Vec<DocumentFile>)],
    ) -> Result<Vec<Issued>, RegistryError> {
        self.refresh_derived()?;
        let secret = self.registration_secret()?;
        let mut bodies = Vec::new();
        let mut issued = Vec::new();
        let mut drawn = std::collections::BTreeSet::new();
        let mut mails = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut pending = Vec::new();
        for (record, docs) in items {
            let code = loop {
                let c = self.draw_code()?;
                if drawn.insert(c) {
                    break c;
                }
            };
            for d in docs {
                if !seen.insert(*blake3::hash(&d.bytes).as_bytes()) {
                    return Err(RegistryError::Invalid(format!(
                        "{}: the same PDF bytes are given twice in this batch; a document belongs to one certificate",
                        d.name
                    )));
                }
            }
            let policy = DuplicatePolicy::default();
            let (b, i) = self.prepare(record, docs, code, None, policy, &secret, &mut pending)?;
            mails.push((code, record, docs, i.clone()));
            // A rule set first used by two items of one batch is added once.
            for body in b {
                let dup = matches!(&body, Body::RulesetAdded { text, .. }
                    if bodies.iter().any(|x| matches!(x, Body::RulesetAdded { text: t, .. } if t.blake3 == text.blake3)));
                if !dup {
                    bodies.push(body);
                }
            }
            issued.push(i);
        }
        for (code, record, docs, i) in &mails {
            self.enqueue_mail(&secret, code, record, docs, i)?;
        }
        self.store_blobs(&pending)?;
        for chunk in bodies.chunks(ledger::BATCH_RECORDS_MAX) {
            self.commit(chunk.to_vec()).map_err(|e| {
                let codes: Vec<&str> = issued.iter().map(|i| i.code.as_str()).collect();
                e.unconfirmed("registered", &codes.join(", "), None)
            })?;
        }
        Ok(issued)
    }

    /// Writes the mail-queue entry of a registration with `holder.email`,
    /// durably, *before* its records are appended: a crash in between
    /// leaves an entry without a certificate, which the sender drops after
    /// [`crate::mail::ORPHAN_SECS`]; the other order could lose the mail
    /// (the key is never stored, so it could not be written later).
    fn enqueue_mail(
        &self,
        secret: &[u8; 32],
        code: &Code,
        record: &RegistrationRecord,
        documents: &[DocumentFile],
        issued: &Issued,
    ) -> Result<(), RegistryError> {
        let Some(to) = &record.holder.email else {
            return Ok(());
        };
        // The holder salt, derived as `prepare` derives it.
        let seed = registration_seed(secret, code, record, documents);
        let salt: Hash32 = blake3::derive_key(HOLDER_SALT_CONTEXT, &seed);
        let entry = mail_entry(code, record, to, &issued.url, &salt, documents);
        crate::mail::queue::Queue::new(self.ledger.dir())
            .put(&entry)
            .map_err(|e| RegistryError::Invalid(format!("{e} (nothing was registered)")))
    }

    /// Appends the `MailDelivered` record of a mail the relay accepted
    /// (`crate::mail::sender`). Idempotent: a delivery with the same time
    /// and address hash that is already recorded returns its seq.
    pub fn record_mail_delivery(&mut self, d: MailDelivery) -> Result<u64, RegistryError> {
        let c = self.find(&d.code)?;
        let hash = hex::encode(d.address_hash);
        if let Some(done) = c
            .deliveries
            .iter()
            .find(|v| v.delivered == d.delivered_s && v.address_hash == hash)
        {
            return Ok(done.seq);
        }
        let code = c.code.clone();
        let range = self
            .commit(vec![Body::MailDelivered {
                code: c.code,
                language: d.language,
                template: d.template,
                template_blake3: d.template_blake3,
                documents: d.documents,
                address_hash: d.address_hash,
                delivered_s: d.delivered_s,
            }])
            .map_err(|e| e.unconfirmed("mail delivery recorded for", &code, None))?;
        Ok(range.start)
    }

    /// Makes every blob of a prepared registration durable (one group)
    /// before any record referencing them is appended.
    fn store_blobs(&self, pending: &[(Vec<u8>, &'static str)]) -> Result<(), RegistryError> {
        let items: Vec<(&[u8], &str)> = pending.iter().map(|(b, m)| (b.as_slice(), *m)).collect();
        self.blobs.put_batch(&items)?;
        Ok(())
    }

    fn refuse(c: &Certificate, action: &'static str) -> RegistryError {
        let detail = match (&c.superseded_by, &c.revoked, &c.voided) {
            (Some(n), _, _) => format!(" (by {n})"),
            (_, Some(r), _) => format!(
                " ({}, effective {})",
                r.reason,
                r.effective_date.clone().unwrap_or_default()
            ),
            (_, _, Some(v)) => format!(" ({})", v.reason),
            _ => String::new(),
        };
        RegistryError::Transition {
            code: c.code.clone(),
            action,
            state: c.state.name(),
            detail,
        }
    }

    /// Declares a certificate invalid with the neutral public category
    /// (`unspecified`); see [`Registry::revoke_with_category`].
    pub fn revoke(
        &mut self,
        code_text: &str,
        reason: &str,
        effective_date: &str,
    ) -> Result<u64, RegistryError> {
        self.revoke_with_category(
            code_text,
            RevocationCategory::Unspecified,
            reason,
            effective_date,
        )
    }

    /// Declares a certificate invalid. Allowed while it is awaiting its scan
    /// or archived. `category` is public; `reason` is the private text.
    pub fn revoke_with_category(
        &mut self,
        code_text: &str,
        category: RevocationCategory,
        reason: &str,
        effective_date: &str,
    ) -> Result<u64, RegistryError> {
        check_text("--reason", reason, REASON_CHARS_MAX)?;
        check_date("--effective", effective_date)?;
        let c = self.find(code_text)?;
        if let (State::Revoked, Some(r)) = (c.state, &c.revoked) {
            // A retry after an uncertain outcome: the same revocation is
            // already in the ledger.
            if r.reason == reason && r.effective_date.as_deref() == Some(effective_date) {
                return Ok(r.seq);
            }
        }
        if !matches!(c.state, State::AwaitingScan | State::Archived) {
            return Err(Self::refuse(&c, "revoke"));
        }
        let code = c.code.clone();
        Ok(self
            .commit(vec![Body::RevokedWithCategory {
                code: c.code,
                category,
                reason: reason.to_string(),
                effective_date: effective_date.to_string(),
            }])
            .map_err(|e| e.unconfirmed("revoked", &code, None))?
            .start)
    }

    /// Withdraws a certificate and registers its corrected replacement under
    /// a new code, linking old -> new (Potsdam §15). Allowed while the old one
    /// is awaiting its scan or archived.
    pub fn supersede(
        &mut self,
        old_text: &str,
        record: &RegistrationRecord,
        documents: &[DocumentFile],
    ) -> Result<Issued, RegistryError> {
        let old = self.find(old_text)?;
        let secret = self.registration_secret()?;
        if let (State::Superseded, Some(new_code)) = (old.state, &old.superseded_by) {
            // A retry after an uncertain outcome: the very same replacement
            // (this record and these documents) is in the ledger already;
            // its code and key are derived again, nothing is appended.
            if let Some(issued) = self.registered_already(
                record,
                documents,
                &RegisterOptions {
                    code: Some(new_code.as_str()),
                    ..RegisterOptions::default()
                },
                &secret,
            )? {
                return Ok(issued);
            }
        }
        if !matches!(old.state, State::AwaitingScan | State::Archived) {
            return Err(Self::refuse(&old, "supersede"));
        }
        let code = self.draw_code()?;
        let policy = DuplicatePolicy {
            allow: false,
            replacing: Some(old.code.as_str()),
        };
        let mut pending = Vec::new();
        let (mut bodies, issued) =
            self.prepare(record, documents, code, None, policy, &secret, &mut pending)?;
        self.enqueue_mail(&secret, &code, record, documents, &issued)?;
        self.store_blobs(&pending)?;
        bodies.push(Body::Superseded {
            old_code: old.code,
            new_code: code.as_str().to_string(),
        });
        self.commit(bodies)
            .map_err(|e| e.unconfirmed("superseded by", &issued.code, Some(&issued)))?;
        Ok(issued)
    }

    /// Ends a failed process instance (it restarts under a new code).
    /// Allowed while awaiting the scan or archived.
    pub fn void(&mut self, code_text: &str, reason: &str) -> Result<u64, RegistryError> {
        check_text("--reason", reason, REASON_CHARS_MAX)?;
        let c = self.find(code_text)?;
        if let (State::Voided, Some(v)) = (c.state, &c.voided) {
            if v.reason == reason {
                return Ok(v.seq); // a retry: already voided for this reason
            }
        }
        if !matches!(c.state, State::AwaitingScan | State::Archived) {
            return Err(Self::refuse(&c, "void"));
        }
        let code = c.code.clone();
        Ok(self
            .commit(vec![Body::Voided {
                code: c.code,
                reason: reason.to_string(),
            }])
            .map_err(|e| e.unconfirmed("voided", &code, None))?
            .start)
    }

    /// Deletes the holder data (GDPR Art. 17): the `Erased` record is
    /// appended first, then the record blob is deleted, so a crash in between
    /// leaves a blob that the next `erase` (or `audit`) finds. Allowed in any
    /// state; erasing twice only finishes a deletion a crash interrupted.
    pub fn erase(&mut self, code_text: &str, reason: &str) -> Result<bool, RegistryError> {
        check_text("--reason", reason, REASON_CHARS_MAX)?;
        let c = self.find(code_text)?;
        let addr = parse_hash(&c.holder_blob).ok_or_else(|| {
            RegistryError::Invalid(format!("certificate {}: bad holder blob address", c.code))
        })?;
        if c.erased {
            let mail_dropped = crate::mail::queue::Queue::new(self.ledger.dir())
                .forget(&c.code)
                .map_err(|e| RegistryError::Invalid(e.to_string()))?;
            if self.blobs.delete(&addr)? || mail_dropped {
                return Ok(true);
            }
            // A retry of the very same erasure after an uncertain outcome:
            // done already, nothing left to delete.
            if self.erasure_reason(&c)?.as_deref() == Some(reason) {
                return Ok(false);
            }
            return Err(Self::refuse(&c, "erase (already erased)"));
        }
        let code = c.code.clone();
        self.commit(vec![Body::Erased {
            code: c.code,
            reason: reason.to_string(),
        }])
        .map_err(|e| e.unconfirmed("erased", &code, None))?;
        // A mail not sent yet is dropped with the holder data (its entry
        // holds the address and the name).
        let dropped = crate::mail::queue::Queue::new(self.ledger.dir()).forget(&code);
        if let Err(e) = dropped {
            return Err(RegistryError::Unconfirmed {
                action: "erased",
                code,
                issued: None,
                why: format!(
                    "the erasure is in the ledger, but deleting the pending mail failed: {e};                      run the same `zeugnis erase` again to finish it"
                ),
            });
        }
        // The erasure is committed: a failure to delete the file now is not
        // the command's failure (a retry finishes the deletion).
        if let Err(e) = self.blobs.delete(&addr) {
            return Err(RegistryError::Unconfirmed {
                action: "erased",
                code,
                issued: None,
                why: format!(
                    "the erasure is in the ledger, but deleting the holder data failed: {e}; \
                     run the same `zeugnis erase` again to finish it"
                ),
            });
        }
        Ok(true)
    }

    /// The reason of the `Erased` record of an erased certificate.
    fn erasure_reason(&self, c: &Certificate) -> Result<Option<String>, RegistryError> {
        for seq in c.seqs.iter().rev() {
            if let Body::Erased { reason, .. } = self.ledger.record(*seq)?.body {
                return Ok(Some(reason));
            }
        }
        Ok(None)
    }

    /// Archives the scan of the signed original. Allowed only while awaiting
    /// the scan; the same bytes again are reported as a duplicate (`Ok`
    /// without a new record, seq of the existing `ScanArchived`).
    pub fn archive_scan(
        &mut self,
        code_text: &str,
        bytes: &[u8],
        source_name: &str,
    ) -> Result<u64, RegistryError> {
        let (code, _) = codes::parse_code_and_key(code_text)?;
        let media = self.blobs.check_document(source_name, bytes)?;
        let item = ScanItem {
            code,
            bytes,
            media_type: media,
            source_name,
        };
        match self.archive_scans(&[item])?.remove(0) {
            ScanDecision::Archived { seq } | ScanDecision::Duplicate { seq } => Ok(seq),
            ScanDecision::Unknown => Err(RegistryError::UnknownCode {
                code: codes::parse_code_and_key(code_text)?.0.formatted(),
            }),
            ScanDecision::Refused { error, .. } => Err(error),
        }
    }

    /// Archives a batch of scans (the scan intake): decides each item in
    /// order against the certificate states (and the items before it in the
    /// batch), stores the blobs of the accepted ones (parallel fsync), and
    /// appends their `ScanArchived` records in one group commit. When this
    /// returns `Ok`, every `Archived` decision is durable. On `Err` nothing
    /// of the batch is acknowledged (blobs may remain; they are
    /// content-addressed and reused on retry).
    pub fn archive_scans(
        &mut self,
        items: &[ScanItem],
    ) -> Result<Vec<ScanDecision>, RegistryError> {
        // code -> (scan BLAKE3, seq or None while pending in this batch)
        let mut taken: std::collections::HashMap<String, (Hash32, Option<u64>)> =
            std::collections::HashMap::new();
        let mut decisions = Vec::with_capacity(items.len());
        let mut accepted = Vec::new();
        let contents: Vec<(&[u8], &str)> = items.iter().map(|i| (i.bytes, i.media_type)).collect();
        let mut refs: Vec<Option<BlobRef>> = BlobStore::references(&contents)
            .into_iter()
            .map(Some)
            .collect();
        for (i, item) in items.iter().enumerate() {
            let blake3: Hash32 = refs[i].as_ref().expect("computed above").blake3;
            let Some(c) = self.get(item.code.as_str())? else {
                decisions.push(ScanDecision::Unknown);
                continue;
            };
            let existing = match (taken.get(&c.code), &c.scan) {
                (Some(&(hash, seq)), _) => Some((hash, seq)),
                (None, Some(scan)) => {
                    parse_hash(&scan.blake3).map(|h| (h, self.current_scan_seq(&c)))
                }
                (None, None) => None,
            };
            let decision = match existing {
                Some((hash, seq)) if hash == blake3 => ScanDecision::Duplicate {
                    seq: seq.unwrap_or(u64::MAX),
                },
                Some(_) => ScanDecision::Refused {
                    state: State::Archived,
                    error: RegistryError::Transition {
                        code: c.code.clone(),
                        action: "archive a different second scan for",
                        state: State::Archived.name(),
                        detail: format!(
                            " (if the archived scan is wrong, replace it: zeugnis replace-scan {} FILE --reason TEXT)",
                            c.code
                        ),
                    },
                },
                None if c.state == State::AwaitingScan => {
                    taken.insert(c.code.clone(), (blake3, None));
                    accepted.push(i);
                    ScanDecision::Archived { seq: u64::MAX }
                }
                None => ScanDecision::Refused {
                    state: c.state,
                    error: Self::refuse(&c, "archive a scan for"),
                },
            };
            decisions.push(decision);
        }
        if accepted.is_empty() {
            return Ok(decisions);
        }
        let scans: Vec<BlobRef> = accepted
            .iter()
            .map(|&i| refs[i].take().expect("each item once"))
            .collect();
        let blobs: Vec<(&[u8], &BlobRef)> = accepted
            .iter()
            .map(|&i| items[i].bytes)
            .zip(&scans)
            .collect();
        self.blobs.put_referenced(&blobs)?;
        let bodies = accepted
            .iter()
            .zip(scans)
            .map(|(&i, scan)| Body::ScanArchived {
                code: items[i].code.as_str().to_string(),
                scan,
                source_name: items[i].source_name.to_string(),
            })
            .collect();
        let range = self.commit(bodies).map_err(|e| {
            let codes: Vec<String> = accepted
                .iter()
                .map(|&i| items[i].code.formatted())
                .collect();
            e.unconfirmed("archived the scan(s) of", &codes.join(", "), None)
        })?;
        let seqs: std::collections::HashMap<&str, u64> = accepted
            .iter()
            .zip(range)
            .map(|(&i, seq)| (items[i].code.as_str(), seq))
            .collect();
        for (item, d) in items.iter().zip(decisions.iter_mut()) {
            if let ScanDecision::Archived { seq } | ScanDecision::Duplicate { seq } = d {
                if *seq == u64::MAX {
                    *seq = seqs.get(item.code.as_str()).copied().unwrap_or(u64::MAX);
                }
            }
        }
        Ok(decisions)
    }

    /// Whether the record at `seq` archived a scan (`ScanArchived` or
    /// `ScanReplaced`).
    fn is_scan_seq(&self, seq: u64) -> bool {
        matches!(
            self.ledger.record(seq).map(|r| r.body),
            Ok(Body::ScanArchived { .. } | Body::ScanReplaced { .. })
        )
    }

    /// The seq of the record that archived `c`'s current scan: from the
    /// derived state, or (states derived before format version 3) the
    /// latest scan record among its seqs.
    fn current_scan_seq(&self, c: &Certificate) -> Option<u64> {
        c.scan_seq
            .or_else(|| c.seqs.iter().rev().copied().find(|s| self.is_scan_seq(*s)))
    }

    /// The fixity audit (`zeugnis audit --fixity`): re-hashes every blob a
    /// record references against both fingerprints (holder record blobs,
    /// which only have their BLAKE3 address, against that), skipping the
    /// holder blobs of erased certificates, and records the result as a
    /// `FixityChecked` record. Damaged or missing blobs are reported with the
    /// certificates they belong to.
    pub fn fixity_audit(&mut self, progress: bool) -> Result<FixityReport, RegistryError> {
        let bar = if progress {
            indicatif::ProgressBar::new(0)
        } else {
            indicatif::ProgressBar::hidden()
        };
        self.fixity_audit_with(bar)
    }

    /// [`Registry::fixity_audit`] reporting its progress (bytes re-hashed of
    /// the total) on `bar`, which the caller may watch from another thread
    /// (the admin API shows it in `/metrics`; a hidden bar still counts).
    pub fn fixity_audit_with(
        &mut self,
        bar: indicatif::ProgressBar,
    ) -> Result<FixityReport, RegistryError> {
        struct Expect {
            sha256: Option<Hash32>,
            size: Option<u64>,
            codes: Vec<String>,
        }
        let mut expected: std::collections::BTreeMap<Hash32, Expect> = Default::default();
        let mut erased = std::collections::BTreeSet::new();
        let mut holder_of = std::collections::BTreeMap::new();
        self.ledger.for_each_record(0, &mut |seq, bytes| {
            let r = Record::decode(bytes)
                .map_err(|e| LedgerError::Invalid(format!("record {seq}: {e}")))?;
            let mut add =
                |h: Hash32, sha: Option<Hash32>, size: Option<u64>, code: Option<&str>| {
                    let e = expected.entry(h).or_insert(Expect {
                        sha256: sha,
                        size,
                        codes: Vec::new(),
                    });
                    if let Some(c) = code {
                        if !e.codes.iter().any(|x| x == c) {
                            e.codes.push(c.to_string());
                        }
                    }
                };
            match &r.body {
                Body::RulesetAdded { text, .. } => {
                    add(text.blake3, Some(text.sha256), Some(text.size_bytes), None)
                }
                Body::Registered {
                    code,
                    holder_commitment,
                    documents,
                    ..
                } => {
                    holder_of.insert(code.clone(), *holder_commitment);
                    add(*holder_commitment, None, None, Some(code));
                    for d in documents {
                        add(
                            d.blob.blake3,
                            Some(d.blob.sha256),
                            Some(d.blob.size_bytes),
                            Some(code),
                        );
                    }
                }
                Body::ScanArchived { code, scan, .. } | Body::ScanReplaced { code, scan, .. } => {
                    add(
                        scan.blake3,
                        Some(scan.sha256),
                        Some(scan.size_bytes),
                        Some(code),
                    )
                }
                Body::Erased { code, .. } => {
                    erased.insert(code.clone());
                }
                _ => {}
            }
            Ok(())
        })?;
        for code in &erased {
            if let Some(h) = holder_of.get(code) {
                expected.remove(h);
            }
        }
        let total: u64 = expected.values().filter_map(|e| e.size).sum();
        bar.set_length(total);
        bar.set_position(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("fixity {bar:40} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        // Blobs are checked on up to FIXITY_THREADS_MAX threads (both
        // hashes of one blob on one thread); results are reported in address
        // order whatever the threads' timing.
        let items: Vec<(&Hash32, &Expect)> = expected.iter().collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, FIXITY_THREADS_MAX)
            .min(items.len().max(1));
        let blobs = &self.blobs;
        let check = |addr: &Hash32, e: &Expect| -> (u64, Option<String>) {
            match std::fs::read(blobs.path(addr)) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    (0, Some("missing".to_string()))
                }
                Err(err) => (0, Some(format!("unreadable: {err}"))),
                Ok(bytes) => {
                    bar.inc(bytes.len() as u64);
                    let b3_ok = blake3::hash(&bytes).as_bytes() == addr;
                    let sha_ok = e
                        .sha256
                        .is_none_or(|want| <[u8; 32]>::from(sha2::Sha256::digest(&bytes)) == want);
                    let problem = match (b3_ok, sha_ok) {
                        (true, true) => None,
                        (false, true) => Some("BLAKE3 differs".into()),
                        (true, false) => Some("SHA-256 differs".into()),
                        (false, false) => Some("BLAKE3 and SHA-256 differ".into()),
                    };
                    (bytes.len() as u64, problem)
                }
            }
        };
        let mut results: Vec<(usize, u64, Option<String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (items, check) = (&items, &check);
                    s.spawn(move || {
                        (t..items.len())
                            .step_by(threads)
                            .map(|i| {
                                let (len, problem) = check(items[i].0, items[i].1);
                                (i, len, problem)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("fixity thread panicked"))
                .collect()
        });
        results.sort_by_key(|r| r.0);
        let mut report = FixityReport::default();
        for (i, len, problem) in results {
            report.blobs_checked += 1;
            report.bytes_checked += len;
            if let Some(p) = problem {
                report.failures.push(FixityFailure {
                    blob: hex::encode(items[i].0),
                    problem: p,
                    certificates: items[i].1.codes.clone(),
                });
            }
        }
        bar.finish_and_clear();
        let failures: Vec<Hash32> = report
            .failures
            .iter()
            .filter_map(|f| parse_hash(&f.blob))
            .collect();
        report.seq = self
            .commit(vec![Body::FixityChecked {
                blobs_checked: report.blobs_checked,
                bytes_checked: report.bytes_checked,
                failures,
            }])?
            .start;
        Ok(report)
    }

    /// Every certificate's derived state, in code order.
    pub fn all(&self) -> Result<Vec<Certificate>, RegistryError> {
        let mut out = Vec::new();
        for item in self.certs.iter() {
            let (code, _) = item?;
            if let Some(c) = self.get(&String::from_utf8_lossy(&code))? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Which certificate a registered digital image belongs to.
    pub fn code_of_document(&self, blake3: &Hash32) -> Result<Option<String>, RegistryError> {
        Ok(self
            .documents
            .get(blake3)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
}

/// The result of a fixity audit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FixityReport {
    /// Blobs re-hashed (or found missing).
    pub blobs_checked: u64,
    /// Bytes re-hashed.
    pub bytes_checked: u64,
    /// Damaged or missing blobs.
    pub failures: Vec<FixityFailure>,
    /// Seq of the `FixityChecked` record.
    pub seq: u64,
}

/// One damaged or missing blob.
#[derive(Clone, Debug, Serialize)]
pub struct FixityFailure {
    /// BLAKE3 address (hex).
    pub blob: String,
    /// What is wrong.
    pub problem: String,
    /// The certificates it belongs to.
    pub certificates: Vec<String>,
}

/// Read-only blob checks for `audit` (no writer lock): blobs no record
/// references (left by a registration interrupted between its blob writes
/// and its ledger append), referenced blobs that are missing, and holder
/// blobs of erased certificates that still exist (an interrupted erasure).
pub fn blob_findings(data: &Path, ledger_size: u64) -> Result<Vec<String>, RegistryError> {
    let blobs = BlobStore::open(data, BLOB_BYTES_MAX_DEFAULT)?;
    let mut referenced = std::collections::BTreeMap::new();
    let mut holder_of = std::collections::BTreeMap::new();
    let mut erased = Vec::new();
    ledger::read_records(data, 0, ledger_size, &mut |seq, bytes| {
        let r = Record::decode(bytes)
            .map_err(|e| LedgerError::Invalid(format!("record {seq}: {e}")))?;
        match r.body {
            Body::RulesetAdded { text, .. } => {
                referenced.insert(text.blake3, seq);
            }
            Body::Registered {
                code,
                holder_commitment,
                documents,
                ..
            } => {
                referenced.insert(holder_commitment, seq);
                holder_of.insert(code, holder_commitment);
                for d in documents {
                    referenced.insert(d.blob.blake3, seq);
                }
            }
            Body::ScanArchived { scan, .. } | Body::ScanReplaced { scan, .. } => {
                referenced.insert(scan.blake3, seq);
            }
            Body::Erased { code, .. } => erased.push(code),
            _ => {}
        }
        Ok(())
    })?;
    let mut findings = Vec::new();
    let erased_blobs: std::collections::BTreeSet<Hash32> = erased
        .iter()
        .filter_map(|c| holder_of.get(c).copied())
        .collect();
    for code in &erased {
        if let Some(h) = holder_of.get(code) {
            if blobs.exists(h) {
                findings.push(format!(
                    "certificate {code} is erased but its holder blob {} still exists; run `zeugnis erase {code} --reason ...` again",
                    hex::encode(h)
                ));
            }
        }
    }
    let stored: std::collections::BTreeSet<Hash32> = blobs.list()?.into_iter().collect();
    let left_out = holder_blobs_left_out(data, &holder_of);
    for (b, seq) in &referenced {
        if !stored.contains(b) && left_out.contains(b) {
            findings.push(format!(
                "holder blob {} of record {seq} was left out of this export on purpose (export-archive --without-personal-data)",
                hex::encode(b)
            ));
        } else if !stored.contains(b) && !erased_blobs.contains(b) {
            findings.push(format!(
                "blob {} referenced by record {seq} is missing",
                hex::encode(b)
            ));
        }
    }
    for b in &stored {
        if !referenced.contains_key(b) {
            findings.push(format!(
                "blob {} is not referenced by any record (orphan of an interrupted registration)",
                hex::encode(b)
            ));
        }
    }
    Ok(findings)
}

/// The payload file of a bag made with `--without-personal-data`: the
/// BLAKE3 (hex) of every holder record blob left out, one per line after
/// `#` comment lines (FORMAT.md §14.4). Its presence tells `zeugnis audit` ([`blob_findings`])
/// that those blobs are absent on purpose.
pub const PERSONAL_DATA_LEFT_OUT_FILE: &str = "PERSONAL-DATA-LEFT-OUT";

/// The holder record blobs an `export-archive --without-personal-data`
/// left out on purpose: those listed in its `PERSONAL-DATA-LEFT-OUT` file
/// (FORMAT.md §14.4) that are the holder blob of a registration. Any other
/// address in the file is ignored, so the file cannot excuse a missing
/// document or scan.
fn holder_blobs_left_out(
    data: &Path,
    holder_of: &std::collections::BTreeMap<String, Hash32>,
) -> std::collections::BTreeSet<Hash32> {
    let holders: std::collections::BTreeSet<&Hash32> = holder_of.values().collect();
    std::fs::read_to_string(data.join(PERSONAL_DATA_LEFT_OUT_FILE))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| parse_hash(l.trim()))
        .filter(|h| holders.contains(h))
        .collect()
}

/// Convenience for the CLI: `true` if the data directory holds a ledger.
pub fn ledger_exists(data: &Path) -> Result<bool, RegistryError> {
    Ok(ledger::is_initialized(data)?)
}

/// The documents of a registration with the stamp of `code` on page 1 of
/// each: the first in the record's language, the second in the other one
/// (as [`DocumentRef::language`] is assigned), each linking to the
/// verification page in its language. Each document is first checked like
/// any registered one ([`crate::document::inspect`]: bounded in time and
/// objects), so a stamp never parses an unchecked file.
fn stamp_documents(
    record: &RegistrationRecord,
    documents: &[DocumentFile],
    code: &Code,
    stamp: &crate::stamp::StampRequest,
) -> Result<Vec<DocumentFile>, RegistryError> {
    let other = if record.language == "de" { "en" } else { "de" };
    documents
        .iter()
        .enumerate()
        .map(|(i, d)| {
            crate::document::inspect(&d.name, &d.bytes)
                .map_err(|e| RegistryError::Invalid(e.to_string()))?;
            let language = if i == 0 {
                record.language.as_str()
            } else {
                other
            };
            let url = crate::stamp::verification_url(&stamp.base_url, language, code.as_str());
            let printed = code.formatted();
            let bytes = crate::stamp::stamp_first_page(
                &d.name,
                &d.bytes,
                &crate::stamp::Stamp {
                    url: &url,
                    code_printed: &printed,
                },
                &stamp.place,
            )
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
            Ok(DocumentFile {
                name: d.name.clone(),
                bytes,
            })
        })
        .collect()
}
