//! What a person may do with a quarantined scan (the desk's quarantine
//! list): put it back into the inbox for another try after fixing the
//! cause, or delete it with a reason.
//!
//! Owns: the checks on the file name a person names, the move back into
//! the inbox and the deletion, both through the inbox's directory handles
//! ([`super::claim::Dirs`]), and the deletion log
//! `scans/quarantine/.deleted.jsonl` (one JSON object per deletion: `at`,
//! `operator`, `file`, `reason`, `quarantine_reason`). Must not do: read
//! the file's content, touch the ledger (a quarantined file was never
//! archived), follow a symlink, or act on anything but a regular file
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
        delete(&inbox, "b.pdf", "op-abc", "blank page", "no_code").expect("delete");
        assert!(!q.join("b.pdf").exists());
        let log = std::fs::read_to_string(q.join(DELETIONS_FILE)).expect("log");
        assert!(
            log.contains("\"operator\":\"op-abc\"") && log.contains("blank page"),
            "{log}"
        );
    }
}
