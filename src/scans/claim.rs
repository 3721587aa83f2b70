//! The folders of the scan inbox and the moves between them.
//!
//! Owns: the layout (`scans/` inbox, `scans/work/` claimed files being
//! processed, `scans/waiting/` files whose code is not registered yet,
//! `scans/quarantine/` refused files with a `.reason.json` beside each), moving
//! a file between them by rename without ever replacing another file, and the
//! small JSON files that describe a waiting or quarantined file.
//! Must not do: decide outcomes, read file contents, touch the ledger.
//!
//! Every file is at every instant in exactly one of the four folders (a
//! rename is atomic), so a crash can neither lose a scan nor duplicate it.

use crate::ledger::durable::{fsync_dir, write_atomic};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// Claimed files being processed.
pub const WORK_DIR: &str = "work";
/// Files whose code is not registered yet.
pub const WAITING_DIR: &str = "waiting";
/// Refused files with their reason files.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Suffix of the reason file beside a quarantined file.
pub const REASON_SUFFIX: &str = ".reason.json";
/// Suffix of the state file beside a waiting file.
pub const WAITING_SUFFIX: &str = ".waiting.json";
/// Most renamed variants (`name~N.ext`) tried when a name is taken.
const NAME_VARIANTS_MAX: u32 = 10_000;

/// The four folders of one inbox.
#[derive(Clone, Debug)]
pub struct Dirs {
    /// Where the scanning station drops files.
    pub inbox: PathBuf,
    /// Claimed, being processed.
    pub work: PathBuf,
    /// Waiting for their registration.
    pub waiting: PathBuf,
    /// Refused.
    pub quarantine: PathBuf,
}

impl Dirs {
    /// The layout under `inbox` (nothing is created).
    pub fn new(inbox: &Path) -> Dirs {
        Dirs {
            inbox: inbox.to_path_buf(),
            work: inbox.join(WORK_DIR),
            waiting: inbox.join(WAITING_DIR),
            quarantine: inbox.join(QUARANTINE_DIR),
        }
    }

    /// Creates the folders that are missing (durably).
    pub fn create(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.inbox)?;
        for d in [&self.work, &self.waiting, &self.quarantine] {
            if !d.is_dir() {
                std::fs::create_dir(d)?;
            }
        }
        fsync_dir(&self.inbox)
    }

    /// Whether `name` (an entry of the inbox) is one of zeugnis' own entries
    /// or documentation rather than a dropped file.
    pub fn is_reserved(name: &str) -> bool {
        matches!(
            name,
            WORK_DIR | WAITING_DIR | QUARANTINE_DIR | "README.md" | ".gitignore"
        )
    }
}

/// `name` with `~n` inserted before its extension (`a.pdf` -> `a~1.pdf`).
fn variant(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}~{n}.{ext}"),
        _ => format!("{name}~{n}"),
    }
}

/// Moves `from` into `to_dir` under `name` (or `name~N.ext` when taken),
/// never replacing an existing entry (`RENAME_NOREPLACE`). Returns the new
/// path. The caller fsyncs the directories when the move must be durable.
///
/// When `from` is on another file system (`zeugnis ingest` of a file
/// elsewhere), it is copied, the copy fsynced, and then the original removed.
pub fn move_into(from: &Path, to_dir: &Path, name: &str) -> io::Result<PathBuf> {
    for n in 0..NAME_VARIANTS_MAX {
        let to = to_dir.join(variant(name, n));
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            from,
            rustix::fs::CWD,
            &to,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => return Ok(to),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(rustix::io::Errno::XDEV) => return copy_across(from, &to),
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{}: {NAME_VARIANTS_MAX} names like {name} are taken",
            to_dir.display()
        ),
    ))
}

fn copy_across(from: &Path, to: &Path) -> io::Result<PathBuf> {
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    io::copy(&mut src, &mut dst)?;
    dst.sync_all()?;
    if let Some(d) = to.parent() {
        fsync_dir(d)?;
    }
    std::fs::remove_file(from)?;
    Ok(to.to_path_buf())
}

/// The reason file beside a quarantined file (`<file>.reason.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonFile {
    /// The quarantined file's name in `quarantine/`.
    pub file: String,
    /// The name it was dropped under.
    pub source_name: String,
    /// Machine-readable reason (see `docs/intake.md`).
    pub reason: String,
    /// What went wrong, for a person.
    pub detail: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The code, if one was found.
    pub code: Option<String>,
    /// Every way of finding the code that was tried, with its result.
    pub tried: Vec<String>,
    /// Size in bytes, if it could be read.
    pub size_bytes: Option<u64>,
    /// BLAKE3 (hex) of the content, if it could be read.
    pub blake3: Option<String>,
}

/// The state file beside a waiting file (`<file>.waiting.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingFile {
    /// The code the file carries.
    pub code: String,
    /// The name it was dropped under.
    pub source_name: String,
    /// Since when it waits (seconds since the Unix epoch).
    pub since_s: i64,
    /// How the code was found.
    pub found_by: String,
}

/// Quarantines `file` (in `work/`): writes the reason file, then moves the
/// file, then fsyncs the quarantine folder. Returns the new path.
pub fn quarantine(dirs: &Dirs, file: &Path, mut reason: ReasonFile) -> io::Result<PathBuf> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Pick the target name first so the reason file sits beside it.
    let mut n = 0;
    let target = loop {
        let candidate = variant(&name, n);
        let exists = |p: PathBuf| std::fs::symlink_metadata(p).is_ok();
        if !exists(dirs.quarantine.join(&candidate))
            && !exists(dirs.quarantine.join(format!("{candidate}{REASON_SUFFIX}")))
        {
            break candidate;
        }
        n += 1;
        if n >= NAME_VARIANTS_MAX {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("quarantine: {NAME_VARIANTS_MAX} names like {name} are taken"),
            ));
        }
    };
    reason.file = target.clone();
    let json = serde_json::to_vec_pretty(&reason).map_err(io::Error::other)?;
    write_atomic(
        &dirs.quarantine.join(format!("{target}{REASON_SUFFIX}")),
        &json,
    )?;
    let to = move_into(file, &dirs.quarantine, &target)?;
    fsync_dir(&dirs.quarantine)?;
    Ok(to)
}

/// Puts `file` (in `work/`) into `waiting/` with its state file.
pub fn park(dirs: &Dirs, file: &Path, state: &WaitingFile) -> io::Result<PathBuf> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = move_into(file, &dirs.waiting, &name)?;
    let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    write_atomic(&waiting_state_path(&to), &json)?;
    Ok(to)
}

/// The state file of a waiting file.
pub fn waiting_state_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(WAITING_SUFFIX);
    PathBuf::from(s)
}

/// Reads the state file of a waiting file (`None` if absent or unreadable:
/// the file is then treated as newly claimed).
pub fn read_waiting(file: &Path) -> Option<WaitingFile> {
    let bytes = std::fs::read(waiting_state_path(file)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Names of the entries of `dir`, sorted (errors other than "not found"
/// are returned).
pub fn list(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e),
    };
    for e in entries {
        names.push(e?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_keep_the_extension() {
        assert_eq!(variant("a.pdf", 0), "a.pdf");
        assert_eq!(variant("a.pdf", 2), "a~2.pdf");
        assert_eq!(variant("noext", 1), "noext~1");
        assert_eq!(variant(".hidden", 1), ".hidden~1");
    }

    #[test]
    fn a_move_never_replaces_a_file() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::new(d.path());
        dirs.create().unwrap();
        std::fs::write(dirs.work.join("a.pdf"), b"first").unwrap();
        std::fs::write(d.path().join("a.pdf"), b"second").unwrap();
        let to = move_into(&d.path().join("a.pdf"), &dirs.work, "a.pdf").unwrap();
        assert_eq!(to, dirs.work.join("a~1.pdf"));
        assert_eq!(std::fs::read(dirs.work.join("a.pdf")).unwrap(), b"first");
        assert_eq!(std::fs::read(&to).unwrap(), b"second");
        assert!(!d.path().join("a.pdf").exists());
    }

    #[test]
    fn quarantine_writes_the_reason_beside_the_file() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::new(d.path());
        dirs.create().unwrap();
        let f = dirs.work.join("x.bin");
        std::fs::write(&f, b"junk").unwrap();
        let reason = ReasonFile {
            file: String::new(),
            source_name: "x.bin".into(),
            reason: "not_pdf_or_image".into(),
            detail: "d".into(),
            at: "2026-11-23T00:00:00Z".into(),
            code: None,
            tried: vec![],
            size_bytes: Some(4),
            blake3: None,
        };
        let to = quarantine(&dirs, &f, reason.clone()).unwrap();
        assert_eq!(to, dirs.quarantine.join("x.bin"));
        let back: ReasonFile = serde_json::from_slice(
            &std::fs::read(dirs.quarantine.join("x.bin.reason.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(back.reason, "not_pdf_or_image");
        assert_eq!(back.file, "x.bin");
        // A second file of the same name gets its own name and reason file.
        std::fs::write(&f, b"junk2").unwrap();
        let to2 = quarantine(&dirs, &f, reason).unwrap();
        assert_eq!(to2, dirs.quarantine.join("x~1.bin"));
        assert!(dirs.quarantine.join("x~1.bin.reason.json").exists());
    }
}
