//! Proof bundles for archivists and their offline verification.
//!
//! Owns: `export-proof` (a self-contained folder proving every ledger record
//! about one certificate against a signed checkpoint), `verify-proof` (which
//! needs nothing but that folder, or a single `.tlog-proof` beside its `.bin`),
//! and `consistency` (an old checkpoint is a prefix of today's ledger).
//! Must not do: write into the ledger, or trust anything in a bundle that
//! its signatures, proofs and hashes do not establish.

use crate::blobs::BlobStore;
use crate::ledger::checkpoint::{self, Checkpoint, Verifier};
use crate::ledger::merkle;
use crate::ledger::proof::TlogProof;
use crate::ledger::record::{Body, Kind, Record};
use crate::ledger::recovery::{apply_key_event, verifiers_for_size, verify_with_policy};
use crate::ledger::{Ledger, LedgerError, FORMAT_MD};
use crate::registry::{Registry, RegistryError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub mod archive;

/// Name of the SHA-256 manifest (BagIt-style: `<hex>  <path>` per line).
pub const MANIFEST_SHA256: &str = "manifest-sha256.txt";
/// Name of the BLAKE3 manifest.
pub const MANIFEST_BLAKE3: &str = "manifest-blake3.txt";
/// Largest file a verifier reads from a bundle, in bytes.
pub const BUNDLE_FILE_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// Errors of export and offline verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A registry or ledger problem while exporting.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A file could not be written or read.
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// Bad input (existing output folder, missing key, ...).
    #[error("{0}")]
    Invalid(String),
    /// Verification failed: exactly what did not match.
    #[error("verification FAILED: {0}")]
    Mismatch(String),
    /// A proof archive (tar) holds an entry `verify-proof` refuses: a link,
    /// a path outside the archive, a duplicate, one over a limit
    /// (`archive::ARCHIVE_*_MAX`).
    #[error("{archive}: entry {entry}: {reason}")]
    Archive {
        archive: String,
        entry: String,
        reason: String,
    },
    /// No trust anchor was given: nothing was checked against a trusted key,
    /// so nothing is reported as verified (fail closed).
    #[error("signature not checked against a trusted key: pass --vkey with the key the institution publishes (any key of its history), or --trust-bundled-key to accept the key in the bundle")]
    Untrusted,
}

impl ExportError {
    /// Exit code: 2 bad input, 1 for failures and mismatches.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExportError::Registry(e) => e.exit_code(),
            ExportError::Invalid(_) => 2,
            _ => 1,
        }
    }
}

impl From<LedgerError> for ExportError {
    fn from(e: LedgerError) -> Self {
        ExportError::Registry(RegistryError::Ledger(e))
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    }
    fs::write(path, bytes).map_err(|e| file_err(path, e))
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn extension(media_type: &str) -> &'static str {
    match media_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/tiff" => "tif",
        "application/json" => "json",
        _ => "bin",
    }
}

const BUNDLE_README: &str = "# Nachweis / Proof — zeugnis\n\n\
## Deutsch\n\n\
Dieser Ordner weist nach, dass die Einträge in `records/` im Register (Ledger) der Hochschule\n\
stehen. Jede Datei `records/<n>.bin` ist ein Eintrag, byte-genau; `records/<n>.json` ist eine\n\
lesbare Darstellung; `records/<n>.tlog-proof` ist ein Merkle-Inklusionsbeweis (C2SP tlog-proof)\n\
gegen den signierten Checkpoint in `checkpoint`. `FORMAT.md` beschreibt jedes Byte.\n\
Alle Signaturschlüssel des Registers mit ihrer Gültigkeit: `keys.json` und `tlog-policy`\n\
(C2SP tlog-policy, für Standardwerkzeuge).\n\n\
Prüfen mit dem Werkzeug: `zeugnis verify-proof ORDNER --vkey SCHLÜSSEL`, wobei SCHLÜSSEL der von\n\
der Hochschule veröffentlichte Prüfschlüssel ist (nicht nur die Datei `vkey` in diesem Ordner).\n\
Die Datei `proof-….tar` von der Prüfseite prüft `zeugnis verify-proof` so, wie sie ist (ohne Entpacken).\n\
Prüfen von Hand: (1) Prüfsummen in `manifest-sha256.txt` nachrechnen (`sha256sum -c`);\n\
(2) die Signatur des Checkpoints mit dem veröffentlichten Schlüssel prüfen (FORMAT.md §8);\n\
(3) für jeden Eintrag SHA-256(0x00 || Eintrag) bilden und mit dem Pfad im `.tlog-proof` bis zur\n\
Wurzel im Checkpoint hochrechnen (RFC 9162 §2.1.3.2, FORMAT.md §10).\n\
SCHLÜSSEL darf jeder frühere Schlüssel der Hochschule sein: über die Schlüsselwechsel in `keys/`\n\
(FORMAT.md §10.2) wird das Vertrauen weitergegeben; die Ausgabe nennt den Weg.\n\n\
Was dieser Ordner NICHT beweist: Vollständigkeit. Ein weggelassener Eintrag (etwa ein späterer\n\
Widerruf) fällt hier nicht auf. Den aktuellen Stand zeigt die Prüfseite der Hochschule\n\
(oder `GET /api/v1/certificates/CODE`) mit den Nummern aller Einträge; vergleichen Sie sie mit\n\
`records` in `bundle.json` (FORMAT.md §10.3).\n\n\
## English\n\n\
This folder proves that the records in `records/` are in the institution's ledger. Each\n\
`records/<n>.bin` is one record, byte for byte; `records/<n>.json` is a readable rendering;\n\
`records/<n>.tlog-proof` is a Merkle inclusion proof (C2SP tlog-proof) against the signed\n\
checkpoint in `checkpoint`. `FORMAT.md` specifies every byte.\n\
Every signing key of the ledger with its validity: `keys.json` and `tlog-policy`\n\
(C2SP tlog-policy, for standard tooling).\n\n\
Verify with the tool: `zeugnis verify-proof FOLDER --vkey KEY`, where KEY is the verifier key\n\
the institution publishes (not only the `vkey` file in this folder).\n\
`zeugnis verify-proof` checks the `proof-….tar` file from the verification page as it is (no unpacking).\n\
Verify by hand: (1) recompute the checksums in `manifest-sha256.txt` (`sha256sum -c`);\n\
(2) check the checkpoint's signature with the published key (FORMAT.md §8);\n\
(3) for each record compute SHA-256(0x00 || record) and hash it up the path in its\n\
`.tlog-proof` to the root in the checkpoint (RFC 9162 §2.1.3.2, FORMAT.md §10).\n\
KEY may be any earlier key of the institution: trust carries forward through the key\n\
rotations recorded in `keys/` (FORMAT.md §10.2); the output names the path.\n\n\
What this folder does NOT prove: completeness. A record left out (for example a later\n\
revocation) goes unnoticed here. The institution's verification page (or\n\
`GET /api/v1/certificates/CODE`) shows the current state with the sequence numbers of all the\n\
certificate's records; compare them with `records` in `bundle.json` (FORMAT.md §10.3).\n";

/// What an export wrote.
#[derive(Debug)]
pub struct ExportSummary {
    /// Records exported (certificate records, key history, rule set).
    pub records: usize,
    /// Blob files copied.
    pub files: usize,
    /// The checkpoint size the proofs refer to.
    pub checkpoint_size: u64,
}

/// The bundle format this version writes (`bundle.json` `format`; FORMAT.md §10.1).
pub const BUNDLE_FORMAT: &str = "zeugnis-proof-bundle-v1";
/// First line of a `keys/<size>.consistency` file.
pub const CONSISTENCY_HEADER: &str = "zeugnis consistency proof v1";

/// The key history as a C2SP tlog-policy file (https://c2sp.org/tlog-policy).
pub const POLICY_FILE: &str = "tlog-policy";

/// The key history of `ledger` as `keys.json` (every signing key with the
/// records that added and retired it) and as a C2SP tlog-policy: one `log`
/// line per key the log has ever signed with (the validity of each, by
/// ledger sequence number, in the comment above it; the format has no field
/// for it) and `quorum none` (no witnesses cosign this log yet).
pub fn key_history_files(ledger: &crate::ledger::Ledger) -> (Vec<u8>, Vec<u8>) {
    let keys: Vec<serde_json::Value> = ledger
        .keys()
        .iter()
        .map(|k| {
            serde_json::json!({"vkey": k.verifier.vkey(), "added_by_record": k.added_seq,
                               "retired_by_record": k.retired_seq})
        })
        .collect();
    let mut policy = format!(
        "# C2SP tlog-policy (https://c2sp.org/tlog-policy) of the log {}\n\
         # Every key the log has signed checkpoints with. A checkpoint is valid\n\
         # if signed by a key that was active at its size: added by a record\n\
         # below that size and not retired by one (see keys.json, FORMAT.md).\n",
        ledger.origin()
    );
    for k in ledger.keys() {
        policy.push_str(&format!(
            "# key {:08x}: added by record {}, {}\nlog {}\n",
            k.verifier.key_id,
            k.added_seq,
            match k.retired_seq {
                Some(r) => format!("retired by record {r}"),
                None => "active".to_string(),
            },
            k.verifier.vkey()
        ));
    }
    policy.push_str("quorum none\n");
    (
        serde_json::to_vec_pretty(&keys).expect("json"),
        policy.into_bytes(),
    )
}

/// Exports the proof bundle of one certificate into `out` (which must not exist).
pub fn export_proof(
    registry: &Registry,
    code_text: &str,
    out: &Path,
    with_files: bool,
    with_personal_data: bool,
) -> Result<ExportSummary, ExportError> {
    if out.exists() {
        return Err(ExportError::Invalid(format!(
            "-o {}: already exists; choose a new folder",
            out.display()
        )));
    }
    let files = if with_files {
        BundleBlobs::DocumentsAndScans
    } else {
        BundleBlobs::None
    };
    let (bundle, summary) = proof_bundle(registry, code_text, files, with_personal_data)?;
    let tmp = out.with_extension("partial");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| file_err(&tmp, e))?;
    }
    for (rel, bytes) in &bundle {
        write(&tmp.join(rel), bytes)?;
    }
    fs::rename(&tmp, out).map_err(|e| file_err(out, e))?;
    Ok(summary)
}

/// Which archived files a proof bundle carries besides the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleBlobs {
    /// Records and proofs only.
    None,
    /// The registered digital images (PDFs), not the scans: what the
    /// verification page's download carries (the scan can be large and has
    /// its own link).
    Documents,
    /// The digital images and the archived scans (`export-proof --with-files`).
    DocumentsAndScans,
}

/// The proof bundle of one certificate as files in memory (relative path ->
/// bytes, the two manifests included): what `export-proof` writes into its
/// folder and what the verification page's download packs into one tar
/// file ([`archive`]). FORMAT.md §10.1 describes the layout.
pub fn proof_bundle(
    registry: &Registry,
    code_text: &str,
    blobs: BundleBlobs,
    with_personal_data: bool,
) -> Result<(BTreeMap<String, Vec<u8>>, ExportSummary), ExportError> {
    let cert = registry.find(code_text)?;
    let ledger = registry.ledger();
    let mut seqs: Vec<u64> = cert.seqs.clone();
    for k in ledger.keys() {
        seqs.push(k.added_seq);
        seqs.extend(k.retired_seq);
    }
    // The rule set that computed the grade, so its hash is proven too.
    if let Some(hash) = cert.grade.as_ref().and_then(|g| g["ruleset_hash"].as_str()) {
        ledger.for_each_record(0, &mut |seq, bytes| {
            if let Ok(r) = Record::decode(bytes) {
                if matches!(&r.body, Body::RulesetAdded { text, .. } if hex::encode(text.blake3) == hash) {
                    seqs.push(seq);
                }
            }
            Ok(())
        })?;
    }
    seqs.sort_unstable();
    seqs.dedup();
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut blobs_to_copy = Vec::new();
    let mut scans: Vec<serde_json::Value> = Vec::new();
    let mut replaced_files: std::collections::BTreeSet<Vec<u8>> = Default::default();
    for &seq in &seqs {
        let bytes = ledger.read_record(seq)?;
        let record = Record::decode(&bytes)
            .map_err(|e| ExportError::Mismatch(format!("record {seq}: {e}")))?;
        let json = serde_json::to_string_pretty(&record.to_json()).expect("json");
        out.insert(format!("records/{seq}.json"), json.into_bytes());
        out.insert(
            format!("records/{seq}.tlog-proof"),
            ledger.tlog_proof(seq)?.encode().into_bytes(),
        );
        out.insert(format!("records/{seq}.bin"), bytes);
        match &record.body {
            Body::Registered {
                documents,
                holder_commitment,
                ..
            } => {
                blobs_to_copy.extend(
                    documents
                        .iter()
                        .map(|d| (d.blob.blake3, d.blob.media_type.clone())),
                );
                if with_personal_data && !cert.erased {
                    blobs_to_copy.push((*holder_commitment, "application/json".to_string()));
                }
            }
            Body::ScanArchived { scan, .. } => {
                if blobs == BundleBlobs::DocumentsAndScans {
                    blobs_to_copy.push((scan.blake3, scan.media_type.clone()));
                }
                scans.push(
                    serde_json::json!({"blake3": hex::encode(scan.blake3), "archived_by": seq}),
                );
            }
            Body::ScanReplaced {
                scan, replaced_seq, ..
            } => {
                if blobs == BundleBlobs::DocumentsAndScans {
                    blobs_to_copy.push((scan.blake3, scan.media_type.clone()));
                }
                for s in scans
                    .iter_mut()
                    .filter(|s| s["archived_by"] == *replaced_seq)
                {
                    s["replaced_by"] = seq.into();
                }
                scans.push(
                    serde_json::json!({"blake3": hex::encode(scan.blake3), "archived_by": seq}),
                );
            }
            _ => {}
        }
    }
    // Every scan the certificate ever had, current or replaced (FORMAT.md
    // §10.1): a replaced scan's file is marked in its name.
    for s in &mut scans {
        let current = s.get("replaced_by").is_none();
        s["current"] = current.into();
        if !current {
            if let Some(addr) = s["blake3"].as_str().and_then(|h| hex::decode(h).ok()) {
                replaced_files.insert(addr);
            }
        }
    }
    if let Some(current) = scans.iter().find(|s| s["current"] == true) {
        if let Some(addr) = current["blake3"].as_str().and_then(|h| hex::decode(h).ok()) {
            replaced_files.remove(&addr); // a scan put back is current
        }
    }
    let mut files = 0;
    if blobs != BundleBlobs::None {
        let store: &BlobStore = registry.blobs();
        let mut copied = std::collections::BTreeSet::new();
        for (addr, media) in &blobs_to_copy {
            if !copied.insert(*addr) {
                continue;
            }
            let bytes = store.get(addr).map_err(RegistryError::from)?;
            let mark = if replaced_files.contains(addr.as_slice()) {
                ".replaced"
            } else {
                ""
            };
            out.insert(
                format!("files/{}{mark}.{}", hex::encode(addr), extension(media)),
                bytes,
            );
            files += 1;
        }
    }
    out.insert(
        "checkpoint".into(),
        ledger.checkpoint_note().as_bytes().to_vec(),
    );
    let cp_size = ledger.checkpoint().size;
    let vkeys: Vec<String> = verifiers_for_size(ledger.keys(), cp_size)
        .iter()
        .map(Verifier::vkey)
        .collect();
    out.insert(
        "vkey".into(),
        format!("{}\n", vkeys.join("\n")).into_bytes(),
    );
    // The key path (FORMAT.md §10.2): for every key added after Genesis, the
    // first checkpoint that covers its KeyAdded record (signed while the
    // previous key was still active) and a consistency proof from it to the
    // bundle's checkpoint, so that trust carries forward from any key the
    // archivist kept.
    let all_cps = crate::ledger::recovery::read_checkpoints(
        &ledger.dir().join(crate::ledger::CHECKPOINTS_FILE),
        true,
    )?;
    for k in ledger.keys().iter().filter(|k| k.added_seq > 0) {
        let found = all_cps.notes.iter().find_map(|(_, note)| {
            let text = checkpoint::parse_note(note).ok()?.text;
            let cp = Checkpoint::parse(&text).ok()?;
            (cp.size > k.added_seq && cp.size <= cp_size).then_some((cp.size, note.clone()))
        });
        if let Some((size, note)) = found {
            out.insert(format!("keys/{size}.checkpoint"), note.into_bytes());
            let proof = ledger.consistency_proof(size, cp_size)?;
            let mut text = format!("{CONSISTENCY_HEADER}\nold {size}\nnew {cp_size}\n");
            for h in &proof {
                text.push_str(&B64.encode(h));
                text.push('\n');
            }
            out.insert(format!("keys/{size}.consistency"), text.into_bytes());
        }
    }
    let (keys_json, policy) = key_history_files(ledger);
    out.insert("keys.json".into(), keys_json);
    out.insert(POLICY_FILE.into(), policy);
    let mut bundle = serde_json::json!({"format": BUNDLE_FORMAT, "code": cert.code, "origin": ledger.origin(),
                                    "checkpoint_size": cp_size, "records": seqs,
                                    "completeness": "not proven: see README.md and FORMAT.md §10.3"});
    if scans.iter().any(|s| s["current"] == false) {
        bundle["scans"] = scans.into();
    }
    out.insert(
        "bundle.json".into(),
        serde_json::to_string_pretty(&bundle)
            .expect("json")
            .into_bytes(),
    );
    out.insert("FORMAT.md".into(), FORMAT_MD.as_bytes().to_vec());
    out.insert("README.md".into(), BUNDLE_README.as_bytes().to_vec());
    let (sha, b3) = manifests(&out);
    out.insert(MANIFEST_SHA256.into(), sha.into_bytes());
    out.insert(MANIFEST_BLAKE3.into(), b3.into_bytes());
    Ok((
        out,
        ExportSummary {
            records: seqs.len(),
            files,
            checkpoint_size: cp_size,
        },
    ))
}

/// The SHA-256 and BLAKE3 manifests (`<hex>  <path>` per line, sorted by
/// path) of the files of a bundle, the manifests themselves excluded.
fn manifests(files: &BTreeMap<String, Vec<u8>>) -> (String, String) {
    let (mut sha, mut b3) = (String::new(), String::new());
    for (rel, bytes) in files
        .iter()
        .filter(|(rel, _)| *rel != MANIFEST_SHA256 && *rel != MANIFEST_BLAKE3)
    {
        sha.push_str(&format!("{}  {rel}\n", hex::encode(Sha256::digest(bytes))));
        b3.push_str(&format!("{}  {rel}\n", blake3::hash(bytes).to_hex()));
    }
    (sha, b3)
}

/// Every file below `dir` (relative paths, sorted), manifests excluded.
fn list_files(dir: &Path) -> Result<Vec<String>, ExportError> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), ExportError> {
        for e in fs::read_dir(dir).map_err(|e| file_err(dir, e))? {
            let p = e.map_err(|e| file_err(dir, e))?.path();
            if p.is_dir() {
                walk(base, &p, out)?;
            } else {
                let rel = p
                    .strip_prefix(base)
                    .expect("below base")
                    .to_string_lossy()
                    .replace('\\', "/");
                if rel != MANIFEST_SHA256 && rel != MANIFEST_BLAKE3 {
                    out.push(rel);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn read_limited(path: &Path) -> Result<Vec<u8>, ExportError> {
    let meta = fs::metadata(path).map_err(|e| file_err(path, e))?;
    if meta.len() > BUNDLE_FILE_BYTES_MAX {
        return Err(file_err(
            path,
            format!("larger than {BUNDLE_FILE_BYTES_MAX} bytes"),
        ));
    }
    fs::read(path).map_err(|e| file_err(path, e))
}

fn read_text(path: &Path) -> Result<String, ExportError> {
    String::from_utf8(read_limited(path)?).map_err(|_| file_err(path, "not UTF-8"))
}

fn mismatch(s: String) -> ExportError {
    ExportError::Mismatch(s)
}

/// How `verify-proof` may decide whom to trust.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// A verifier key string obtained independently (any key of the log's
    /// history: trust carries forward through the key records).
    Vkey(&'a str),
    /// The user explicitly accepted the key(s) bundled in `vkey`.
    BundledKey,
    /// No trust anchor: signatures cannot be checked, so verification fails
    /// closed (issue 20).
    None,
}

/// Verifies a proof bundle folder, or a single `.tlog-proof` (with its
/// `.bin` beside it), fully offline. Returns the list of what was checked;
/// fails with exactly what did not match.
pub fn verify_proof(path: &Path, trust: Trust) -> Result<Vec<String>, ExportError> {
    if path.is_dir() {
        verify_bundle(&BundleSource::Dir(path), trust)
    } else if archive::is_tar(path)? {
        let files = archive::read_tar_file(path, &archive::ArchiveLimits::default())?;
        let mut checked = verify_bundle(&BundleSource::Archive { path, files }, trust)?;
        checked.insert(
            0,
            format!(
                "archive {}: read without unpacking (no links, no paths outside it, no duplicates)",
                path.display()
            ),
        );
        Ok(checked)
    } else {
        verify_single(path, trust)
    }
}

/// Where [`verify_bundle`] reads a bundle's files: the folder `export-proof`
/// wrote, or the files of a tar archive read into memory.
enum BundleSource<'a> {
    /// A folder.
    Dir(&'a Path),
    /// An archive's files by relative path (checked by [`archive::read_tar`]).
    Archive {
        /// The archive, for messages.
        path: &'a Path,
        /// Its files.
        files: BTreeMap<String, Vec<u8>>,
    },
}

impl BundleSource<'_> {
    /// Every file (relative paths, sorted), the manifests excluded.
    fn list(&self) -> Result<Vec<String>, ExportError> {
        match self {
            BundleSource::Dir(dir) => list_files(dir),
            BundleSource::Archive { files, .. } => Ok(files
                .keys()
                .filter(|rel| *rel != MANIFEST_SHA256 && *rel != MANIFEST_BLAKE3)
                .cloned()
                .collect()),
        }
    }

    fn has(&self, rel: &str) -> bool {
        match self {
            BundleSource::Dir(dir) => dir.join(rel).is_file(),
            BundleSource::Archive { files, .. } => files.contains_key(rel),
        }
    }

    /// How a file is named in messages.
    fn name(&self, rel: &str) -> String {
        match self {
            BundleSource::Dir(dir) => dir.join(rel).display().to_string(),
            BundleSource::Archive { path, .. } => format!("{}:{rel}", path.display()),
        }
    }

    fn bytes(&self, rel: &str) -> Result<std::borrow::Cow<'_, [u8]>, ExportError> {
        match self {
            BundleSource::Dir(dir) => Ok(read_limited(&dir.join(rel))?.into()),
            BundleSource::Archive { files, path } => match files.get(rel) {
                Some(b) => Ok(b.as_slice().into()),
                None => Err(ExportError::File {
                    path: path.to_path_buf(),
                    reason: format!("{rel}: not in the archive"),
                }),
            },
        }
    }

    fn text(&self, rel: &str) -> Result<String, ExportError> {
        let bytes = self.bytes(rel)?;
        String::from_utf8(bytes.into_owned()).map_err(|_| ExportError::File {
            path: PathBuf::from(self.name(rel)),
            reason: "not UTF-8".into(),
        })
    }
}

fn trust_anchor(
    trust: Trust,
    bundled: Option<(String, String)>,
    checked: &mut Vec<String>,
) -> Result<Vec<Verifier>, ExportError> {
    match (trust, bundled) {
        (Trust::Vkey(k), _) => {
            let v = Verifier::parse(k).map_err(|e| ExportError::Invalid(format!("--vkey: {e}")))?;
            checked.push(format!("trust anchor: --vkey {}", v.vkey()));
            Ok(vec![v])
        }
        (Trust::BundledKey, Some((file, text))) => {
            let keys = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| Verifier::parse(l.trim()).map_err(|e| mismatch(format!("{file}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            checked.push(format!(
                "trust anchor: the bundled {file} (accepted with --trust-bundled-key; compare it with the key the institution publishes)"
            ));
            Ok(keys)
        }
        (Trust::BundledKey, None) => Err(ExportError::Invalid(
            "--trust-bundled-key: the bundle has no vkey file".into(),
        )),
        (Trust::None, _) => Err(ExportError::Untrusted),
    }
}

fn verify_single(path: &Path, trust: Trust) -> Result<Vec<String>, ExportError> {
    let mut checked = Vec::new();
    let proof = TlogProof::parse(&read_text(path)?)
        .map_err(|e| mismatch(format!("{}: {e}", path.display())))?;
    // The record beside the proof (an export's records/<seq>.bin), or else
    // the record bytes the proof carries as its extra data (a proof
    // downloaded from the verification page alone).
    let bin = path.with_extension("bin");
    let (record, what) = match (bin.is_file(), &proof.extra) {
        (false, Some(extra)) => (extra.clone(), "the record in the proof".to_string()),
        _ => (read_limited(&bin)?, bin.display().to_string()),
    };
    let bundled = match path
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("vkey"))
        .filter(|p| p.is_file())
    {
        Some(p) => Some((p.display().to_string(), read_text(&p)?)),
        None => None,
    };
    let keys = trust_anchor(trust, bundled, &mut checked)?;
    let cp = proof
        .verify(&record, &keys)
        .map_err(|e| mismatch(format!("{}: {e}", path.display())))?;
    checked.push(format!(
        "checkpoint signature and inclusion of {} at index {} in tree size {} (root {})",
        what,
        proof.index,
        cp.size,
        hex::encode(cp.root)
    ));
    Ok(checked)
}

fn verify_bundle(dir: &BundleSource, trust: Trust) -> Result<Vec<String>, ExportError> {
    let mut checked = Vec::new();
    // 1. Manifests: every file listed, both fingerprints match, nothing extra.
    let files = dir.list()?;
    for (name, hash) in [(MANIFEST_SHA256, true), (MANIFEST_BLAKE3, false)] {
        let text = dir.text(name)?;
        let mut listed = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let (h, rel) = line
                .split_once("  ")
                .ok_or_else(|| mismatch(format!("{name} line {}: not `<hash>  <path>`", i + 1)))?;
            listed.insert(rel.to_string(), h.to_string());
        }
        for rel in &files {
            let want = listed
                .remove(rel)
                .ok_or_else(|| mismatch(format!("{rel} is not listed in {name}")))?;
            let bytes = dir.bytes(rel)?;
            let got = if hash {
                hex::encode(Sha256::digest(&bytes))
            } else {
                blake3::hash(&bytes).to_hex().to_string()
            };
            if got != want {
                return Err(mismatch(format!(
                    "{rel}: {name} says {want}, the file hashes to {got}"
                )));
            }
        }
        if let Some(missing) = listed.keys().next() {
            return Err(mismatch(format!(
                "{missing} is listed in {name} but missing"
            )));
        }
    }
    checked.push(format!(
        "manifests: {} files, SHA-256 and BLAKE3 match",
        files.len()
    ));

    // 2. The checkpoint (its signatures are checked in step 4, against the
    //    key history the bundle proves and the trust anchor).
    let note = dir.text("checkpoint")?;
    let bundled = match dir.has("vkey") {
        true => Some((dir.name("vkey"), dir.text("vkey")?)),
        false => None,
    };
    let anchor = trust_anchor(trust, bundled, &mut checked)?;
    let parsed = checkpoint::parse_note(&note).map_err(|e| mismatch(format!("checkpoint: {e}")))?;
    let cp = Checkpoint::parse(&parsed.text).map_err(|e| mismatch(format!("checkpoint: {e}")))?;
    checked.push(format!(
        "checkpoint: origin {}, size {}, root {}",
        cp.origin,
        cp.size,
        hex::encode(cp.root),
    ));

    // 3. Every record: its proof refers to this checkpoint and includes it.
    let bundle: serde_json::Value = serde_json::from_str(&dir.text("bundle.json")?)
        .map_err(|e| mismatch(format!("bundle.json: {e}")))?;
    let code = bundle["code"]
        .as_str()
        .ok_or_else(|| mismatch("bundle.json: no code".into()))?
        .to_string();
    let mut records = Vec::new();
    for rel in files
        .iter()
        .filter(|f| f.starts_with("records/") && f.ends_with(".bin"))
    {
        let seq: u64 = rel["records/".len()..rel.len() - 4]
            .parse()
            .map_err(|_| mismatch(format!("{rel}: name is not records/<seq>.bin")))?;
        let bytes = dir.bytes(rel)?;
        let proof_rel = format!("records/{seq}.tlog-proof");
        let proof = TlogProof::parse(&dir.text(&proof_rel)?)
            .map_err(|e| mismatch(format!("{}: {e}", dir.name(&proof_rel))))?;
        if proof.checkpoint_note != note {
            return Err(mismatch(format!(
                "records/{seq}.tlog-proof refers to another checkpoint"
            )));
        }
        if proof.index != seq {
            return Err(mismatch(format!(
                "records/{seq}.tlog-proof is for index {}",
                proof.index
            )));
        }
        let path: Vec<Vec<u8>> = proof.path.iter().map(|h| h.to_vec()).collect();
        merkle::verify_inclusion(seq, cp.size, &merkle::leaf_hash(&bytes), &path, &cp.root)
            .map_err(|e| {
                mismatch(format!(
                    "record {seq} is not in the tree of the checkpoint: {e}"
                ))
            })?;
        let record = Record::decode(&bytes).map_err(|e| mismatch(format!("{rel}: {e}")))?;
        if record.seq != seq {
            return Err(mismatch(format!("{rel} holds record {}", record.seq)));
        }
        records.push(record);
    }
    records.sort_by_key(|r| r.seq);
    checked.push(format!(
        "records: {} included in the checkpoint's tree ({})",
        records.len(),
        records
            .iter()
            .map(|r| format!("{} {}", r.seq, r.body.kind()))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // 4. Key validity: the signer was a valid key of this log at the checkpoint's size.
    let mut keys = Vec::new();
    let origin = records
        .iter()
        .find_map(|r| match &r.body {
            Body::Genesis { origin, .. } => Some(origin.clone()),
            _ => None,
        })
        .ok_or_else(|| mismatch("the bundle lacks the Genesis record (key history)".into()))?;
    for r in &records {
        apply_key_event(&mut keys, &origin, r.seq, &r.body);
    }
    if cp.origin != origin {
        return Err(mismatch(format!(
            "checkpoint origin {} is not the log's origin {origin}",
            cp.origin
        )));
    }
    // Trust: the anchors must be keys of this log; trust carries forward
    // through the key path (FORMAT.md §10.2); the final checkpoint must then
    // pass the signature policy (§8.5) with a trusted signer.
    let mut trusted: Vec<Verifier> = Vec::new();
    for a in &anchor {
        if keys.iter().any(|k| &k.verifier == a) {
            trusted.push(a.clone());
        }
    }
    if trusted.is_empty() {
        return Err(mismatch(format!(
            "the trusted key {} is not a key of this log's history ({} key(s) in the bundle's key records): this bundle is not from the log you trust",
            anchor.iter().map(Verifier::vkey).collect::<Vec<_>>().join(", "),
            keys.len()
        )));
    }
    let mut path_lines = vec![format!(
        "key path: start at the trusted key {:08x}",
        trusted[0].key_id
    )];
    let mut steps: Vec<(u64, String)> = Vec::new();
    for rel in files
        .iter()
        .filter(|f| f.starts_with("keys/") && f.ends_with(".checkpoint"))
    {
        let size: u64 = rel["keys/".len()..rel.len() - ".checkpoint".len()]
            .parse()
            .map_err(|_| mismatch(format!("{rel}: name is not keys/<size>.checkpoint")))?;
        steps.push((size, rel.clone()));
    }
    steps.sort();
    for (size, rel) in steps {
        let step_note = dir.text(&rel)?;
        let step_cp = Checkpoint::parse(
            &checkpoint::parse_note(&step_note)
                .map_err(|e| mismatch(format!("{rel}: {e}")))?
                .text,
        )
        .map_err(|e| mismatch(format!("{rel}: {e}")))?;
        if step_cp.size != size || step_cp.origin != origin || size > cp.size {
            return Err(mismatch(format!(
                "{rel}: size {} / origin {} do not fit the bundle (size {size}, origin {origin}, at most {})",
                step_cp.size, step_cp.origin, cp.size
            )));
        }
        let signers = verify_with_policy(&step_note, size, &keys, None)
            .map_err(|e| mismatch(format!("{rel}: {e}")))?;
        // The step checkpoint is a prefix of the bundle's checkpoint.
        let cons_rel = format!("keys/{size}.consistency");
        let cons = dir.text(&cons_rel)?;
        let mut lines = cons.lines();
        let header_ok = lines.next() == Some(CONSISTENCY_HEADER)
            && lines.next() == Some(format!("old {size}").as_str())
            && lines.next() == Some(format!("new {}", cp.size).as_str());
        if !header_ok {
            return Err(mismatch(format!(
                "{cons_rel}: not a consistency proof from size {size} to {}",
                cp.size
            )));
        }
        let proof = lines
            .map(|l| {
                B64.decode(l)
                    .map_err(|_| mismatch(format!("{cons_rel}: not base64: {l:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        merkle::verify_consistency(size, cp.size, &proof, &step_cp.root, &cp.root)
            .map_err(|e| mismatch(format!("{cons_rel}: {e}")))?;
        if !signers.iter().any(|v| trusted.contains(v)) {
            continue; // not (yet) signed by a trusted key
        }
        // Trust only moves forward: keys added after the newest trusted key.
        let newest = keys
            .iter()
            .filter(|k| trusted.contains(&k.verifier))
            .map(|k| k.added_seq)
            .max()
            .unwrap_or(0);
        for k in &keys {
            if k.added_seq < size && k.added_seq > newest && !trusted.contains(&k.verifier) {
                trusted.push(k.verifier.clone());
                path_lines.push(format!(
                    "key path: checkpoint {size} (signed by {}, a prefix of the bundle's checkpoint) includes record {} adding key {:08x}",
                    signers
                        .iter()
                        .filter(|v| trusted.contains(v))
                        .map(|v| format!("{:08x}", v.key_id))
                        .collect::<Vec<_>>()
                        .join(", "),
                    k.added_seq,
                    k.verifier.key_id
                ));
            }
        }
    }
    let signers = verify_with_policy(&note, cp.size, &keys, None)
        .map_err(|e| mismatch(format!("checkpoint: {e}")))?;
    let Some(signer) = signers.iter().find(|v| trusted.contains(v)).cloned() else {
        return Err(mismatch(format!(
            "checkpoint: signed by {}, which no path of key records leads to from the trusted key {:08x}",
            signers
                .iter()
                .map(|v| format!("{:08x}", v.key_id))
                .collect::<Vec<_>>()
                .join(", "),
            anchor[0].key_id
        )));
    };
    checked.extend(path_lines);
    checked.push(format!(
        "key history: {} key(s); the signing key was valid at size {} ({}); every signature by a key of the log verifies (FORMAT.md §8.5)",
        keys.len(),
        cp.size,
        signer.vkey(),
    ));

    // 5. The certificate's records: all about this code, starting with its registration.
    let own: Vec<&Record> = records.iter().filter(|r| !r.codes().is_empty()).collect();
    if !own
        .iter()
        .any(|r| matches!(&r.body, Body::Registered { code: c, .. } if *c == code))
    {
        return Err(mismatch(format!("no Registered record for {code}")));
    }
    for r in &own {
        if !r.codes().contains(&code.as_str()) {
            return Err(mismatch(format!(
                "record {} ({}) is about another certificate",
                r.seq,
                r.body.kind()
            )));
        }
    }
    // 5b. A scan replacement names the scan current before it: the record
    // that archived it (in the bundle, about this code) and its BLAKE3.
    let mut replacements = 0;
    let mut current: Option<(u64, [u8; 32])> = None;
    for r in &own {
        match &r.body {
            Body::ScanArchived { scan, .. } => current = Some((r.seq, scan.blake3)),
            Body::ScanReplaced {
                scan,
                replaced_seq,
                replaced_blake3,
                ..
            } => {
                if current != Some((*replaced_seq, *replaced_blake3)) {
                    return Err(mismatch(format!(
                        "record {} (ScanReplaced) names record {replaced_seq} with scan {} as the \
                         replaced scan, but the scan of {code} before it was {}",
                        r.seq,
                        hex::encode(replaced_blake3),
                        current.map_or("none in the bundle".to_string(), |(seq, h)| format!(
                            "record {seq} with scan {}",
                            hex::encode(h)
                        ))
                    )));
                }
                current = Some((r.seq, scan.blake3));
                replacements += 1;
            }
            _ => {}
        }
    }
    if replacements > 0 {
        checked.push(format!(
            "scan replacements: {replacements}; each names the earlier record and the BLAKE3 of the scan it replaced (kept)"
        ));
    }
    // 6. Copied files match the fingerprints in the records.
    let mut verified_files = 0;
    for rel in files.iter().filter(|f| f.starts_with("files/")) {
        let name = &rel["files/".len()..];
        let addr = name.split('.').next().unwrap_or_default();
        let bytes = dir.bytes(rel)?;
        let referenced = records.iter().any(|r| match &r.body {
            Body::Registered {
                documents,
                holder_commitment,
                ..
            } => {
                documents.iter().any(|d| {
                    hex::encode(d.blob.blake3) == addr
                        && hex::encode(d.blob.sha256) == hex::encode(Sha256::digest(&bytes))
                }) || hex::encode(holder_commitment) == addr
            }
            Body::ScanArchived { scan, .. } | Body::ScanReplaced { scan, .. } => {
                hex::encode(scan.blake3) == addr
                    && hex::encode(scan.sha256) == hex::encode(Sha256::digest(&bytes))
            }
            _ => false,
        });
        if !referenced || blake3::hash(&bytes).to_hex().as_str() != addr {
            return Err(mismatch(format!(
                "{rel} does not match any file fingerprint in the records"
            )));
        }
        verified_files += 1;
    }
    let kinds: Vec<Kind> = own.iter().map(|r| r.body.kind()).collect();
    checked.push(format!(
        "certificate {code}: {} record(s) ({}); {verified_files} file(s) match their fingerprints (BLAKE3 and SHA-256)",
        own.len(),
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    ));
    Ok(checked)
}

/// Proves that the checkpoint in `old_note` is a prefix of `new_note` (or of
/// the ledger's latest checkpoint): both signed by a key of the log, roots
/// equal to the ledger's at those sizes, and an RFC 9162 consistency proof
/// that verifies. On failure the error shows the conflicting evidence.
pub fn consistency(
    ledger: &Ledger,
    old_note: &str,
    new_note: Option<&str>,
) -> Result<Vec<String>, ExportError> {
    let mut checked = Vec::new();
    let keys = ledger.verifiers();
    let parse = |what: &str, note: &str| -> Result<Checkpoint, ExportError> {
        let (parsed, _) =
            checkpoint::verify_note(note, &keys).map_err(|e| mismatch(format!("{what}: {e}")))?;
        Checkpoint::parse(&parsed.text).map_err(|e| mismatch(format!("{what}: {e}")))
    };
    let old = parse("old checkpoint", old_note)?;
    let new = match new_note {
        Some(n) => parse("new checkpoint", n)?,
        None => ledger.checkpoint().clone(),
    };
    checked.push(format!(
        "old checkpoint signed by the log: size {}, root {}",
        old.size,
        hex::encode(old.root)
    ));
    checked.push(format!(
        "new checkpoint: size {}, root {}",
        new.size,
        hex::encode(new.root)
    ));
    if old.origin != ledger.origin() || new.origin != ledger.origin() {
        return Err(mismatch(format!(
            "origins differ from this ledger's {}",
            ledger.origin()
        )));
    }
    if new.size > ledger.size() {
        return Err(mismatch(format!(
            "new checkpoint size {} is beyond this ledger ({})",
            new.size,
            ledger.size()
        )));
    }
    for cp in [&old, &new] {
        let ours = ledger.root(cp.size)?;
        if ours != cp.root {
            return Err(mismatch(format!(
                "EVIDENCE: a checkpoint signed for size {} says root {}, this ledger's root at that size is {}",
                cp.size,
                hex::encode(cp.root),
                hex::encode(ours)
            )));
        }
    }
    let proof = ledger.consistency_proof(old.size.max(1), new.size)?;
    let path: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
    merkle::verify_consistency(old.size, new.size, &path, &old.root, &new.root).map_err(|e| {
        mismatch(format!(
            "consistency proof {} -> {}: {e}",
            old.size, new.size
        ))
    })?;
    checked.push(format!(
        "consistency proof ({} hashes) verifies: size {} is a prefix of size {}",
        proof.len(),
        old.size,
        new.size
    ));
    for h in &proof {
        checked.push(format!("  {}", hex::encode(h)));
    }
    Ok(checked)
}

pub use crate::registry::PERSONAL_DATA_LEFT_OUT_FILE;

/// What `export-archive` did.
#[derive(Debug, Default)]
pub struct ArchiveSummary {
    /// Payload files in the bag.
    pub files: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Files already present from an interrupted earlier run (not copied again).
    pub reused: u64,
    /// Ledger size of the snapshot.
    pub records: u64,
    /// Holder record blobs (personal data) left out by `--without-personal-data`.
    pub holder_blobs_left_out: u64,
}

fn copy_if_changed(src: &Path, dst: &Path, reused: &mut u64) -> Result<u64, ExportError> {
    let len = fs::metadata(src).map_err(|e| file_err(src, e))?.len();
    if fs::metadata(dst).is_ok_and(|m| m.len() == len) {
        let (a, b) = (read_limited(src)?, read_limited(dst)?);
        if a == b {
            *reused += 1;
            return Ok(len);
        }
    }
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    }
    let tmp = dst.with_extension("part");
    fs::copy(src, &tmp).map_err(|e| file_err(src, e))?;
    fs::rename(&tmp, dst).map_err(|e| file_err(dst, e))?;
    Ok(len)
}

/// Exports the whole archive as a BagIt bag (RFC 8493) into `out`: the
/// ledger segments, checkpoints, blobs, FORMAT.md and the public key history
/// (never the private keys or derived data). Resumable: files an interrupted
/// run already copied intact are kept; the manifests are written last, so a
/// bag without them is incomplete. The ledger is held open (locked) so the
/// snapshot is consistent.
///
/// The holder record blobs are personal data (name, birth date, grades).
/// With `without_personal_data` they are left out (a copy from an earlier
/// run into the same folder is deleted) and listed by address in
/// [`PERSONAL_DATA_LEFT_OUT_FILE`]; everything else still verifies.
pub fn export_archive(
    registry: &Registry,
    out: &Path,
    progress: bool,
    without_personal_data: bool,
) -> Result<ArchiveSummary, ExportError> {
    let ledger = registry.ledger();
    let src = ledger.dir().to_path_buf();
    if out.join("bagit.txt").exists() && out.join("tagmanifest-sha256.txt").exists() {
        return Err(ExportError::Invalid(format!(
            "-o {}: already holds a complete bag; choose a new folder",
            out.display()
        )));
    }
    let data = out.join("data");
    let mut payload: Vec<(PathBuf, String)> = Vec::new();
    for (_, seg) in crate::ledger::recovery::list_segments(&src)? {
        let name = seg.file_name().expect("name").to_string_lossy().to_string();
        payload.push((seg, format!("segments/{name}")));
    }
    payload.push((
        src.join(crate::ledger::CHECKPOINTS_FILE),
        "checkpoints".into(),
    ));
    let holder_blobs: std::collections::BTreeSet<String> = if without_personal_data {
        registry
            .all()?
            .into_iter()
            .filter(|c| !c.erased)
            .map(|c| c.holder_blob)
            .collect()
    } else {
        Default::default()
    };
    let mut left_out = Vec::new();
    for addr in registry.blobs().list().map_err(RegistryError::from)? {
        let hexa = hex::encode(addr);
        if holder_blobs.contains(&hexa) {
            let stale = data.join(format!("blobs/{}/{hexa}", &hexa[..2]));
            if stale.exists() {
                fs::remove_file(&stale).map_err(|e| file_err(&stale, e))?;
            }
            left_out.push(hexa);
            continue;
        }
        payload.push((
            registry.blobs().path(&addr),
            format!("blobs/{}/{hexa}", &hexa[..2]),
        ));
    }
    let total: u64 = payload
        .iter()
        .map(|(p, _)| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = if progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("export {bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut summary = ArchiveSummary {
        records: ledger.size(),
        ..Default::default()
    };
    let mut manifest = String::new();
    for (from, rel) in &payload {
        let dst = data.join(rel);
        let len = copy_if_changed(from, &dst, &mut summary.reused)?;
        let bytes = read_limited(&dst)?;
        manifest.push_str(&format!(
            "{}  data/{rel}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
        summary.files += 1;
        summary.bytes += len;
        bar.inc(len);
    }
    // Small payload files written from memory.
    let (keys_json, policy) = key_history_files(ledger);
    let marker = data.join(PERSONAL_DATA_LEFT_OUT_FILE);
    let mut small = Vec::new();
    if without_personal_data {
        let mut text = String::from(
            "# zeugnis export-archive --without-personal-data: the holder record blobs\n\
             # (personal data, FORMAT.md section 14.2) below were left out on purpose.\n",
        );
        for h in &left_out {
            text.push_str(h);
            text.push('\n');
        }
        small.push((PERSONAL_DATA_LEFT_OUT_FILE.to_string(), text.into_bytes()));
        summary.holder_blobs_left_out = left_out.len() as u64;
    } else if marker.exists() {
        fs::remove_file(&marker).map_err(|e| file_err(&marker, e))?;
    }
    for (rel, bytes) in small.into_iter().chain([
        ("FORMAT.md".to_string(), FORMAT_MD.as_bytes().to_vec()),
        (
            "checkpoint".to_string(),
            ledger.checkpoint_note().as_bytes().to_vec(),
        ),
        ("keys.json".to_string(), keys_json),
        (POLICY_FILE.to_string(), policy),
    ]) {
        write(&data.join(&rel), &bytes)?;
        manifest.push_str(&format!(
            "{}  data/{rel}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
        summary.files += 1;
        summary.bytes += bytes.len() as u64;
    }
    bar.finish_and_clear();
    let bagit = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
    let info = format!(
        "Source-Organization: {}\nBagging-Date: {}\nPayload-Oxum: {}.{}\nExternal-Description: zeugnis certificate archive: ledger of {} records (checkpoint size {}), blobs and FORMAT.md; verify with FORMAT.md section 13\nBag-Software-Agent: zeugnis {}\nPersonal-Data: {}\n",
        ledger.origin(),
        crate::dates::today_utc(),
        summary.bytes,
        summary.files,
        ledger.size(),
        ledger.checkpoint().size,
        env!("CARGO_PKG_VERSION"),
        if without_personal_data {
            "left out (the holder record blobs listed in data/PERSONAL-DATA-LEFT-OUT)"
        } else {
            "included (holder record blobs in data/blobs: handle as personal data)"
        },
    );
    write(&out.join("bagit.txt"), bagit.as_bytes())?;
    write(&out.join("bag-info.txt"), info.as_bytes())?;
    write(&out.join("manifest-sha256.txt"), manifest.as_bytes())?;
    let mut tag = String::new();
    for name in ["bagit.txt", "bag-info.txt", "manifest-sha256.txt"] {
        let bytes = read_limited(&out.join(name))?;
        tag.push_str(&format!(
            "{}  {name}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
    }
    write(&out.join("tagmanifest-sha256.txt"), tag.as_bytes())?;
    Ok(summary)
}
