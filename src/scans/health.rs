//! What the intake could not finish, for the status report: inbox entries
//! it skipped (it cannot claim, move or quarantine them), files that have
//! not settled for a long time, and scans waiting long in `waiting/` for
//! their registration.
//!
//! Owns: [`InboxHealth`] and its file `work/.intake-status.json` (written
//! by the intake after a pass whenever its content changed, read by
//! `zeugnis status` whether the daemon runs or not), and the reading of
//! `waiting/`'s state files for the report.
//! Must not do: change anything in the inbox besides that file; trust what
//! it reads (every read is bounded, never follows a symbolic link, and a
//! file that does not parse is reported as such).

use serde::{Deserialize, Serialize};
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The intake's state file in `work/` (a `.` name: never taken for a scan).
pub const HEALTH_FILE: &str = ".intake-status.json";
/// Largest state or waiting file read, in bytes.
pub const HEALTH_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// Default of `[intake] unsettled_report_secs`: a file seen in the inbox
/// for longer than this without settling (still growing, or changed again
/// and again) is listed, in seconds.
pub const UNSETTLED_REPORT_SECS_DEFAULT: u64 = 600;
/// A scan waiting in `waiting/` for longer than this is listed, in seconds.
pub const WAITING_LISTED_SECS: i64 = 86_400;
/// Most entries of each list kept in the state file and the report.
pub const HEALTH_ITEMS_MAX: usize = 500;

/// An inbox entry the intake skipped: every pass tries it again and goes on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEntry {
    /// Its name in `scans/` or `work/` (control characters escaped).
    pub name: String,
    /// Why it cannot be handled.
    pub why: String,
    /// Since when (UTC seconds, the first pass that skipped it).
    pub since_s: i64,
}

/// An inbox file that has not settled (size or mtime still changing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsettledEntry {
    /// Its name in `scans/` (control characters escaped).
    pub name: String,
    /// Since when it is seen (UTC seconds).
    pub since_s: i64,
}

/// A scan in `waiting/` whose code is not registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitingScan {
    /// Its name in `waiting/`.
    pub name: String,
    /// The code it waits for (empty if its state file is unreadable).
    pub code: String,
    /// Since when it waits (UTC seconds; 0 if unknown).
    pub since_s: i64,
}

/// What the intake wrote after its latest pass that changed something.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxHealth {
    /// When it was written (UTC seconds).
    pub written_at_s: i64,
    /// `[intake] unsettled_report_secs` of the intake that wrote it.
    pub unsettled_after_s: u64,
    /// Entries skipped, by name.
    pub skipped: Vec<SkippedEntry>,
    /// Files not settled for more than `unsettled_after_s`, longest first.
    pub unsettled: Vec<UnsettledEntry>,
}

impl InboxHealth {
    /// Same entries (the time it was written aside).
    pub fn same_entries(&self, other: &InboxHealth) -> bool {
        self.skipped == other.skipped && self.unsettled == other.unsettled
    }
}

/// Reads at most [`HEALTH_FILE_BYTES_MAX`] bytes of `path`, never through a
/// symbolic link.
fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nofollow() | libc_o_nonblock())
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    f.take(HEALTH_FILE_BYTES_MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > HEALTH_FILE_BYTES_MAX {
        return Err(std::io::Error::other(format!(
            "larger than {HEALTH_FILE_BYTES_MAX} bytes"
        )));
    }
    Ok(bytes)
}

fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

fn libc_o_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

/// The intake's latest state of `inbox`: `Ok(None)` when no intake has
/// written one (no daemon ran on this inbox yet), `Err` naming the file and
/// the problem when it cannot be read or parsed.
pub fn read(inbox: &Path) -> Result<Option<InboxHealth>, String> {
    let path = inbox.join("work").join(HEALTH_FILE);
    match read_small(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The scans in `inbox/waiting/` (how many), and those waiting since
/// before `now_s - longer_than_s`, oldest first (at most
/// [`HEALTH_ITEMS_MAX`]).
pub fn waiting(inbox: &Path, now_s: i64, longer_than_s: i64) -> (u64, Vec<WaitingScan>) {
    let dir = inbox.join("waiting");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (0, Vec::new());
    };
    let state_suffix = ".waiting.json";
    let mut count = 0;
    let mut long = Vec::new();
    for name in entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with(state_suffix))
    {
        count += 1;
        let state = read_small(&dir.join(format!("{name}{state_suffix}")))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let code = state
            .as_ref()
            .and_then(|v| v["code"].as_str())
            .unwrap_or_default()
            .to_string();
        let since_s = state
            .as_ref()
            .and_then(|v| v["since_s"].as_i64())
            .unwrap_or(0);
        if now_s.saturating_sub(since_s) > longer_than_s {
            long.push(WaitingScan {
                name: super::printable(&name),
                code,
                since_s,
            });
        }
    }
    long.sort_by(|a, b| a.since_s.cmp(&b.since_s).then_with(|| a.name.cmp(&b.name)));
    long.truncate(HEALTH_ITEMS_MAX);
    (count, long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_lists_the_long_waits_oldest_first_and_survives_bad_state_files() {
        let t = tempfile::tempdir().expect("tempdir");
        let w = t.path().join("waiting");
        std::fs::create_dir(&w).expect("mkdir");
        for (name, since) in [("a.pdf", 1_000), ("b.pdf", 500), ("c.pdf", 99_000)] {
            std::fs::write(w.join(name), b"%PDF-").expect("scan");
            std::fs::write(
                w.join(format!("{name}.waiting.json")),
                serde_json::json!({"code": "QNVCFM3P4VDF", "since_s": since}).to_string(),
            )
            .expect("state");
        }
        std::fs::write(w.join("d.pdf"), b"%PDF-").expect("scan");
        std::fs::write(w.join("d.pdf.waiting.json"), b"{not json").expect("state");
        let (count, long) = waiting(t.path(), 100_000, 86_400);
        assert_eq!(count, 4);
        let names: Vec<&str> = long.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["d.pdf", "b.pdf", "a.pdf"], "{long:?}");
        assert_eq!(long[0].code, "", "unreadable state: no code");
        assert_eq!(long[1].since_s, 500);
    }

    #[test]
    fn the_state_file_is_read_bounded_and_never_through_a_link() {
        let t = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(t.path()), Ok(None), "no intake ran yet");
        let work = t.path().join("work");
        std::fs::create_dir(&work).expect("mkdir");
        let h = InboxHealth {
            written_at_s: 7,
            unsettled_after_s: 600,
            skipped: vec![SkippedEntry {
                name: "x".into(),
                why: "cannot move it".into(),
                since_s: 5,
            }],
            unsettled: vec![],
        };
        std::fs::write(
            work.join(HEALTH_FILE),
            serde_json::to_vec(&h).expect("json"),
        )
        .expect("write");
        assert_eq!(read(t.path()), Ok(Some(h)));
        std::fs::remove_file(work.join(HEALTH_FILE)).expect("rm");
        std::fs::write(t.path().join("elsewhere.json"), b"{}").expect("write");
        std::os::unix::fs::symlink(t.path().join("elsewhere.json"), work.join(HEALTH_FILE))
            .expect("symlink");
        let err = read(t.path()).expect_err("a link is not followed");
        assert!(err.contains(HEALTH_FILE), "{err}");
    }
}
