//! What a person may do with a quarantined scan (the desk's quarantine
//! list): put it back into the inbox for another try after fixing the
//! cause, or delete it with a reason.
//!
//! Owns: the checks on the file name a person names, the move back into
//! the inbox and the deletion, both through the inbox's directory handles
//! ([`super::claim::Dirs`]), reading a quarantined file's bytes for the
//! desk's preview and hand assignment ([`read`], at most a given size) and
//! removing it once it is archived ([`remove_assigned`]), and the deletion log
//! `scans/quarantine/.deleted.jsonl` (one JSON object per deletion: `at`,
//! `operator`, `file`, `reason`, `quarantine_reason`). Must not do:
//! interpret the file's content (the bytes [`read`] returns go to the
//! limited decode worker or the registry), touch the ledger (the desk's
//! assignment archives through the registry, then calls [`remove_assigned`]), follow a symlink, or act on anything but a regular file
//! directly in `quarantine/`.

use super::claim::{Dirs, Folder, REASON_SUFFIX};
use std::io::Write as _;
use std::path::Path;

/// The deletion log in `scans/quarantine/` (a dot-file: not listed as a
/// quarantined scan).
pub const DELETIONS_FILE: &str = ".deleted.jsonl";
/// Longest file name accepted, in bytes (a name longer than the file system
/// allows cannot exist anyway).
pub const NAME_BYTES_MAX: usize = 255;
/// Longest deletion reason, in characters.
pub const REASON_CHARS_MAX: usize = 500;

/// Errors of a quarantine action, each a sentence naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequeueError {
    /// The name is not a plain file name of `quarantine/`.
    #[error("{0:?} is not the name of a quarantined file")]
    BadName(String),
    /// No such regular file in `quarantine/`.
    #[error("quarantine/{0}: no such file (already moved or deleted?)")]
    Missing(String),
    /// The reason is missing or too long.
    #[error("reason: {0}")]
    Reason(String),
    /// The file is larger than the caller reads.
    #[error("quarantine/{file}: larger than {bytes_max} bytes")]
    TooLarge {
        /// The file.
        file: String,
        /// The limit, in bytes.
        bytes_max: u64,
    },
    /// A file system operation failed.
    #[error("quarantine/{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
}

fn check_name(name: &str) -> Result<(), RequeueError> {
    let bad = name.is_empty()
        || name.len() > NAME_BYTES_MAX
        || name.contains('/')
        || name.contains('\0')
        || name.starts_with('.')
        || name.ends_with(REASON_SUFFIX);
    if bad {
        return Err(RequeueError::BadName(name.to_string()));
    }
    Ok(())
}

/// Opens the inbox's folders and checks that `name` is a regular file of
/// `quarantine/`.
fn quarantined(inbox: &Path, name: &str) -> Result<Dirs, RequeueError> {
    check_name(name)?;
    let io = |source| RequeueError::Io {
        file: name.to_string(),
        source,
    };
    let (dirs, _) = Dirs::open(inbox).map_err(io)?;
    match dirs.stat(Folder::Quarantine, name) {
        Ok(e) if e.kind == rustix::fs::FileType::RegularFile => Ok(dirs),
        Ok(_) => Err(RequeueError::Missing(name.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(RequeueError::Missing(name.to_string()))
        }
        Err(e) => Err(io(e)),
    }
}

/// Moves quarantined `name` back into the inbox (under a variant of the
/// name if the inbox has one already) and removes its reason file; the
/// intake then processes it again. Returns the name it got in the inbox.
pub fn retry(inbox: &Path, name: &str) -> Result<String, RequeueError> {
    let dirs = quarantined(inbox, name)?;
    let io = |source| RequeueError::Io {
        file: name.to_string(),
        source,
    };
    let new = dirs
        .rename(Folder::Quarantine, name, Folder::Inbox, name)
        .map_err(io)?;
    match dirs.unlink(Folder::Quarantine, &format!("{name}{REASON_SUFFIX}")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    dirs.fsync(Folder::Inbox).map_err(io)?;
    dirs.fsync(Folder::Quarantine).map_err(io)?;
    Ok(new)
}

/// The bytes of quarantined `name` (a regular file directly in
/// `quarantine/`, opened without following a symlink), at most
/// `bytes_max` bytes.
pub fn read(inbox: &Path, name: &str, bytes_max: u64) -> Result<Vec<u8>, RequeueError> {
    use std::io::Read as _;
    let dirs = quarantined(inbox, name)?;
    let io = |source| RequeueError::Io {
        file: name.to_string(),
        source,
    };
    let fd = rustix::fs::openat(
        dirs.fd(Folder::Quarantine),
        name,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(RequeueError::Missing(name.to_string()));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(bytes_max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > bytes_max {
        return Err(RequeueError::TooLarge {
            file: name.to_string(),
            bytes_max,
        });
    }
    Ok(bytes)
}

/// Removes quarantined `name` and its reason file after the desk archived
/// it as a certificate's scan (call only once the ledger record is
/// durable: until then the quarantined copy is the only one).
pub fn remove_assigned(inbox: &Path, name: &str) -> Result<(), RequeueError> {
    let dirs = quarantined(inbox, name)?;
    let io = |source| RequeueError::Io {
        file: name.to_string(),
        source,
    };
    dirs.unlink(Folder::Quarantine, name).map_err(io)?;
    match dirs.unlink(Folder::Quarantine, &format!("{name}{REASON_SUFFIX}")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    dirs.fsync(Folder::Quarantine).map_err(io)?;
    Ok(())
}

/// Deletes quarantined `name` and its reason file, after appending who,
/// when, why and the quarantine reason to [`DELETIONS_FILE`].
pub fn delete(
    inbox: &Path,
    name: &str,
    operator: &str,
    reason: &str,
    quarantine_reason: &str,
) -> Result<(), RequeueError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RequeueError::Reason("a deletion needs a reason".into()));
    }
    if reason.chars().count() > REASON_CHARS_MAX {
        return Err(RequeueError::Reason(format!(
            "longer than {REASON_CHARS_MAX} characters"
        )));
    }
    let dirs = quarantined(inbox, name)?;
    let io = |source| RequeueError::Io {
        file: name.to_string(),
        source,
    };
    let line = serde_json::json!({
        "at": crate::operators::now_s(),
        "operator": operator,
        "file": name,
        "reason": reason,
        "quarantine_reason": quarantine_reason,
    });
    let fd = rustix::fs::openat(
        dirs.fd(Folder::Quarantine),
        DELETIONS_FILE,
        rustix::fs::OFlags::WRONLY
            | rustix::fs::OFlags::APPEND
            | rustix::fs::OFlags::CREATE
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::from_raw_mode(0o640),
    )
    .map_err(|e| io(e.into()))?;
    let mut log = std::fs::File::from(fd);
    log.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
    log.sync_all().map_err(io)?;
    dirs.unlink(Folder::Quarantine, name).map_err(io)?;
    match dirs.unlink(Folder::Quarantine, &format!("{name}{REASON_SUFFIX}")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    dirs.fsync(Folder::Quarantine).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_quarantine_are_refused() {
        for bad in [
            "",
            ".hidden",
            "a/b",
            "../scans",
            "x.pdf.reason.json",
            &"x".repeat(256),
        ] {
            assert!(
                matches!(check_name(bad), Err(RequeueError::BadName(_))),
                "{bad:?}"
            );
        }
        assert!(check_name("scan 1.pdf").is_ok());
    }

    #[test]
    fn retry_moves_back_and_delete_logs_the_reason() {
        let t = tempfile::tempdir().expect("tempdir");
        let inbox = t.path().join("scans");
        std::fs::create_dir(&inbox).expect("inbox");
        let (_dirs, _) = Dirs::open(&inbox).expect("dirs");
        let q = inbox.join("quarantine");
        std::fs::write(q.join("a.pdf"), b"a").expect("a");
        std::fs::write(q.join("a.pdf.reason.json"), b"{}").expect("reason");
        std::fs::write(q.join("b.pdf"), b"b").expect("b");
        assert_eq!(read(&inbox, "a.pdf", 1).expect("read"), b"a");
        assert!(matches!(
            read(&inbox, "b.pdf", 0),
            Err(RequeueError::TooLarge { bytes_max: 0, .. })
        ));
        std::os::unix::fs::symlink(q.join("a.pdf"), q.join("link.pdf")).expect("symlink");
        assert!(
            read(&inbox, "link.pdf", 10).is_err(),
            "a symlink is not read"
        );
        assert!(matches!(
            read(&inbox, "../a.pdf", 10),
            Err(RequeueError::BadName(_))
        ));
        assert_eq!(retry(&inbox, "a.pdf").expect("retry"), "a.pdf");
        assert!(inbox.join("a.pdf").exists());
        assert!(!q.join("a.pdf").exists() && !q.join("a.pdf.reason.json").exists());
        assert!(matches!(
            retry(&inbox, "a.pdf"),
            Err(RequeueError::Missing(_))
        ));
        assert!(matches!(
            delete(&inbox, "b.pdf", "op-a", " ", "empty"),
            Err(RequeueError::Reason(_))
        ));
        std::fs::write(q.join("c.pdf"), b"c").expect("c");
        std::fs::write(q.join("c.pdf.reason.json"), b"{}").expect("reason");
        remove_assigned(&inbox, "c.pdf").expect("remove");
        assert!(!q.join("c.pdf").exists() && !q.join("c.pdf.reason.json").exists());
        delete(&inbox, "b.pdf", "op-abc", "blank page", "no_code").expect("delete");
        assert!(!q.join("b.pdf").exists());
        let log = std::fs::read_to_string(q.join(DELETIONS_FILE)).expect("log");
        assert!(
            log.contains("\"operator\":\"op-abc\"") && log.contains("blank page"),
            "{log}"
        );
    }
}
