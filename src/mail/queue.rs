//! The graduate-mail queue: one JSON file per certificate under
//! `<data>/mail/`, written at registration time (the only moment the access
//! key is known) and deleted once the mail is delivered and recorded.
//!
//! Owns: the entry format (`zeugnis-mail-v1`), its crash-safe storage
//! (temporary file, fsync, rename, fsync of the folder; mode 0600 in a
//! folder of mode 0700) and listing it.
//! Must not do: send mail, touch the ledger or the registry. The entries
//! hold a **secret** (the verification link with the access key) and
//! **personal data** (the address and the holder's name); nothing else in
//! zeugnis keeps either after registration.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The queue folder inside the data directory.
pub const MAIL_DIR: &str = "mail";
/// The `format` of an entry.
pub const ENTRY_FORMAT: &str = "zeugnis-mail-v1";
/// Largest entry file that is read, in bytes (an entry is < 2 KiB).
pub const ENTRY_BYTES_MAX: u64 = 64 * 1024;

/// Errors of the queue store; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// Reading, writing or deleting an entry failed.
    #[error("mail queue {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An entry file is not a valid entry.
    #[error("mail queue {path}: {reason}")]
    Bad { path: PathBuf, reason: String },
}

/// Where an entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Waits for the scan to be archived, or for its next attempt.
    Waiting,
    /// Given up after `[mail] attempts_max` refused attempts; tried again
    /// from the start when the daemon starts.
    Failed,
    /// The relay accepted it; the `MailDelivered` record and the deletion
    /// of the entry are still to be done.
    Sent,
}

/// What the sender needs to deliver one mail, fixed at registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// [`ENTRY_FORMAT`].
    pub format: String,
    /// The certificate code (12 characters, no hyphens).
    pub code: String,
    /// `de` or `en`: the registration record's language.
    pub language: String,
    /// The holder's address (personal data).
    pub to: String,
    /// The holder's name as it appears in the mail (personal data).
    pub name: String,
    /// The verification URL **with the access key** (secret).
    pub url: String,
    /// Keyed hash of the address for the `MailDelivered` record (hex;
    /// FORMAT.md §3.3 kind 17), computed at registration with the holder salt.
    pub address_hash: String,
    /// BLAKE3 (hex) of the documents to attach, in registration order.
    pub documents: Vec<String>,
    /// When the entry was written (UTC seconds).
    pub created_s: i64,
    /// Refused attempts so far.
    pub attempts: u32,
    /// Not tried before this time (UTC seconds).
    pub next_attempt_s: i64,
    /// The relay's (or the sender's) last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Where it stands.
    pub state: EntryState,
    /// When the relay accepted it, with the template used (set with
    /// [`EntryState::Sent`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<SentFacts>,
}

/// What was sent, kept between the relay's acceptance and the ledger record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentFacts {
    /// When the relay accepted the mail (UTC seconds).
    pub at_s: i64,
    /// `builtin` or `operator`.
    pub template: String,
    /// BLAKE3 (hex) of the template text.
    pub template_blake3: String,
}

/// The keyed hash of an address that a `MailDelivered` record carries:
/// `BLAKE3-derive_key("zeugnis 2026 mail address v1", salt || address)`
/// with the holder salt (32 raw bytes, FORMAT.md §14.2) and the address in
/// ASCII lowercase. Without the salt (secret, erased with the holder data)
/// no dictionary of addresses can be tested against it.
pub fn address_hash(salt: &[u8; 32], address: &str) -> [u8; 32] {
    let mut input = salt.to_vec();
    input.extend_from_slice(address.to_ascii_lowercase().as_bytes());
    blake3::derive_key("zeugnis 2026 mail address v1", &input)
}

/// The queue folder of one data directory.
#[derive(Clone, Debug)]
pub struct Queue {
    dir: PathBuf,
}

impl Queue {
    /// The queue of the data directory `data` (the folder is made on the
    /// first [`Queue::put`]).
    pub fn new(data: &Path) -> Queue {
        Queue {
            dir: data.join(MAIL_DIR),
        }
    }

    /// The file of `code`'s entry.
    pub fn path(&self, code: &str) -> PathBuf {
        self.dir.join(format!("{code}.json"))
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
        move |source| QueueError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Writes `entry` durably (replacing an older version), mode 0600.
    pub fn put(&self, entry: &Entry) -> Result<(), QueueError> {
        if !self.dir.is_dir() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(&self.dir)
                .map_err(Self::io(&self.dir))?;
            if let Some(parent) = self.dir.parent() {
                crate::ledger::durable::fsync_dir(parent).map_err(Self::io(parent))?;
            }
        }
        let path = self.path(&entry.code);
        let bytes = serde_json::to_vec_pretty(entry).map_err(|e| QueueError::Bad {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::ledger::durable::write_atomic_private(&path, &bytes).map_err(Self::io(&path))
    }

    /// Reads `code`'s entry, `None` when there is none.
    pub fn get(&self, code: &str) -> Result<Option<Entry>, QueueError> {
        let path = self.path(code);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&path)(e)),
            Ok(_) => Self::read(&path).map(Some),
        }
    }

    fn read(path: &Path) -> Result<Entry, QueueError> {
        let bad = |reason: String| QueueError::Bad {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::symlink_metadata(path).map_err(Self::io(path))?;
        if !meta.is_file() {
            return Err(bad("not a regular file".into()));
        }
        if meta.len() > ENTRY_BYTES_MAX {
            return Err(bad(format!("larger than {ENTRY_BYTES_MAX} bytes")));
        }
        let bytes = std::fs::read(path).map_err(Self::io(path))?;
        let entry: Entry = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if entry.format != ENTRY_FORMAT {
            return Err(bad(format!(
                "format {:?} is not {ENTRY_FORMAT:?}",
                entry.format
            )));
        }
        let stem = path.file_stem().and_then(|s| s.to_str());
        if stem != Some(entry.code.as_str()) {
            return Err(bad(format!(
                "holds code {:?}, not the file's name",
                entry.code
            )));
        }
        Ok(entry)
    }

    /// Every entry, sorted by code; an unreadable file is returned as its
    /// error (and left in place for the operator), never skipped silently.
    pub fn list(&self) -> Result<Vec<Result<Entry, QueueError>>, QueueError> {
        let read_dir = match std::fs::read_dir(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            r => r.map_err(Self::io(&self.dir))?,
        };
        let mut paths = Vec::new();
        for item in read_dir {
            let path = item.map_err(Self::io(&self.dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // `.`-prefixed files are the atomic writer's temporary files.
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            paths.push(path);
        }
        paths.sort();
        Ok(paths.iter().map(|p| Self::read(p)).collect())
    }

    /// What erasure (GDPR Art. 17) does to `code`'s entry: a mail not sent
    /// yet is deleted; a mail the relay already accepted keeps its entry
    /// until its `MailDelivered` record is written, but without the
    /// address, the name and the link (the record needs none of them).
    /// `true` when it deleted or changed something.
    pub fn forget(&self, code: &str) -> Result<bool, QueueError> {
        match self.get(code) {
            Ok(Some(mut e)) if e.state == EntryState::Sent => {
                if e.to.is_empty() && e.name.is_empty() && e.url.is_empty() {
                    return Ok(false);
                }
                e.to.clear();
                e.name.clear();
                e.url.clear();
                self.put(&e)?;
                Ok(true)
            }
            // An unreadable entry is deleted too: it may hold the address.
            Ok(_) | Err(QueueError::Bad { .. }) => self.remove(code),
            Err(e) => Err(e),
        }
    }

    /// Deletes `code`'s entry durably; `false` when there was none.
    pub fn remove(&self, code: &str) -> Result<bool, QueueError> {
        let path = self.path(code);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Self::io(&path)(e)),
            Ok(()) => {
                crate::ledger::durable::fsync_dir(&self.dir).map_err(Self::io(&self.dir))?;
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: &str) -> Entry {
        Entry {
            format: ENTRY_FORMAT.into(),
            code: code.into(),
            language: "de".into(),
            to: "a@b.example".into(),
            name: "Anna Muster".into(),
            url: "https://z.example/de/QNVCFM3P4VDF-7K2M9S".into(),
            address_hash: "00".repeat(32),
            documents: vec!["11".repeat(32)],
            created_s: 1,
            attempts: 0,
            next_attempt_s: 1,
            last_error: None,
            state: EntryState::Waiting,
            sent: None,
        }
    }

    /// An entry survives a round trip, is private (0600 in a 0700 folder),
    /// and is gone after `remove`.
    #[test]
    fn entries_are_private_and_round_trip() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::new(dir.path());
        assert!(q.list().unwrap().is_empty());
        q.put(&entry("QNVCFM3P4VDF")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&q.path("QNVCFM3P4VDF")), 0o600);
        assert_eq!(mode(&dir.path().join(MAIL_DIR)), 0o700);
        assert_eq!(q.get("QNVCFM3P4VDF").unwrap(), Some(entry("QNVCFM3P4VDF")));
        assert!(q.remove("QNVCFM3P4VDF").unwrap());
        assert!(!q.remove("QNVCFM3P4VDF").unwrap());
        assert_eq!(q.get("QNVCFM3P4VDF").unwrap(), None);
    }

    /// A damaged or misnamed entry is listed as an error naming its file.
    #[test]
    fn a_bad_entry_is_reported_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::new(dir.path());
        q.put(&entry("QNVCFM3P4VDF")).unwrap();
        std::fs::write(q.path("AAAAAAAAAAAA"), b"{not json").unwrap();
        let copy = std::fs::read(q.path("QNVCFM3P4VDF")).unwrap();
        std::fs::write(q.path("BBBBBBBBBBBB"), copy).unwrap();
        let listed = q.list().unwrap();
        assert_eq!(listed.len(), 3);
        let errors: Vec<String> = listed
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("AAAAAAAAAAAA.json"), "{errors:?}");
        assert!(
            errors[1].contains("BBBBBBBBBBBB.json") && errors[1].contains("not the file's name")
        );
    }

    /// Erasure deletes a pending entry, and strips a sent one of the
    /// address, name and link while keeping what its record needs.
    #[test]
    fn forget_deletes_pending_and_strips_sent_entries() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::new(dir.path());
        q.put(&entry("QNVCFM3P4VDF")).unwrap();
        assert!(q.forget("QNVCFM3P4VDF").unwrap());
        assert_eq!(q.get("QNVCFM3P4VDF").unwrap(), None);
        let mut sent = entry("QNVCFM3P4VDF");
        sent.state = EntryState::Sent;
        sent.sent = Some(SentFacts {
            at_s: 5,
            template: "builtin".into(),
            template_blake3: "22".repeat(32),
        });
        q.put(&sent).unwrap();
        assert!(q.forget("QNVCFM3P4VDF").unwrap());
        let kept = q.get("QNVCFM3P4VDF").unwrap().unwrap();
        assert!(kept.to.is_empty() && kept.name.is_empty() && kept.url.is_empty());
        assert_eq!(
            (kept.address_hash, kept.sent),
            (sent.address_hash, sent.sent)
        );
        let text = std::fs::read_to_string(q.path("QNVCFM3P4VDF")).unwrap();
        assert!(
            !text.contains("a@b.example") && !text.contains("Muster"),
            "{text}"
        );
        assert!(!q.forget("QNVCFM3P4VDF").unwrap(), "nothing left to forget");
        std::fs::write(q.path("AAAAAAAAAAAA"), b"{damaged").unwrap();
        assert!(q.forget("AAAAAAAAAAAA").unwrap());
        assert!(!q.forget("AAAAAAAAAAAA").unwrap());
    }

    /// The address hash is keyed by the salt and ignores ASCII case.
    #[test]
    fn address_hash_is_keyed_and_case_blind() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(
            address_hash(&a, "X@B.example"),
            address_hash(&a, "x@b.example")
        );
        assert_ne!(
            address_hash(&a, "x@b.example"),
            address_hash(&b, "x@b.example")
        );
        assert_ne!(
            address_hash(&a, "x@b.example"),
            address_hash(&a, "y@b.example")
        );
    }
}
