//! Noticing new files in the inbox: `notify` events as wake-up hints and
//! the stability rule (size and mtime unchanged for the configured time).
//!
//! Owns: the file-system watcher and the per-file stability bookkeeping.
//! Must not do: claim or read files; rely on events for correctness (a
//! network share sends none: the periodic rescan is what guarantees that
//! every file is seen).

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

/// Why the intake loop woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Something changed in the inbox (a hint only).
    Files,
    /// A certificate was registered: scans waiting for a code may now match.
    Registered,
    /// Shut down after the current batch.
    Shutdown,
}

/// Starts watching `inbox` (not recursively); each event sends
/// [`Wake::Files`]. Returns `None` with a logged warning when the folder
/// cannot be watched (some network mounts): the rescan still finds every
/// file.
pub fn watch(inbox: &Path, tx: Sender<Wake>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Only changes wake the intake: access events (the intake's own
        // directory reads open the folder) would make it wake itself forever.
        if let Ok(e) = event {
            if is_change(&e.kind) {
                let _ = tx.send(Wake::Files);
            }
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "no file-system events; relying on the periodic rescan");
            return None;
        }
    };
    match w.watch(inbox, notify::RecursiveMode::NonRecursive) {
        Ok(()) => Some(w),
        Err(e) => {
            tracing::warn!(inbox = %inbox.display(), error = %e,
                "cannot watch the inbox; relying on the periodic rescan");
            None
        }
    }
}

/// Whether an event kind says the folder's contents may have changed.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    matches!(
        kind,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    )
}

/// What was last seen of one file.
#[derive(Debug, Clone, Copy)]
struct Seen {
    size: u64,
    mtime: SystemTime,
    since: Instant,
    /// The first observation of this name (kept while it changes).
    first: Instant,
}

/// Per-file stability: a file is ready when its size and mtime have not
/// changed for the wait, measured on this machine's monotonic clock from
/// the first observation with those values (so a skewed clock on a network
/// share cannot make a file look older than it is).
#[derive(Debug, Default)]
pub struct Stability {
    seen: HashMap<String, Seen>,
}

impl Stability {
    /// Records an observation of `name`; true when it has been stable for
    /// at least `wait`.
    pub fn observe(
        &mut self,
        name: &str,
        size: u64,
        mtime: SystemTime,
        now: Instant,
        wait: Duration,
    ) -> bool {
        let e = self.seen.entry(name.to_string()).or_insert(Seen {
            size,
            mtime,
            since: now,
            first: now,
        });
        if e.size != size || e.mtime != mtime {
            *e = Seen {
                size,
                mtime,
                since: now,
                first: e.first,
            };
        }
        now.duration_since(e.since) >= wait
    }

    /// Forgets `name` (claimed, or gone).
    pub fn forget(&mut self, name: &str) {
        self.seen.remove(name);
    }

    /// Keeps only the names for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.seen.retain(|k, _| keep(k));
    }

    /// Files being watched for stability.
    pub fn pending(&self) -> usize {
        self.seen.len()
    }

    /// Files first seen more than `limit` before `now` that have not
    /// settled since (still growing, or changed again and again), with how
    /// long they have been seen, longest first.
    pub fn unsettled(&self, now: Instant, limit: Duration) -> Vec<(String, Duration)> {
        let mut v: Vec<(String, Duration)> = self
            .seen
            .iter()
            .map(|(name, s)| (name.clone(), now.saturating_duration_since(s.first)))
            .filter(|(_, age)| *age > limit)
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_keeps_changing_is_unsettled_from_its_first_sighting() {
        let mut s = Stability::default();
        let t0 = Instant::now();
        let wait = Duration::from_millis(500);
        let limit = Duration::from_secs(60);
        let m0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        for i in 0..10u64 {
            // Grows every 10 s: never stable for the wait.
            let t = t0 + Duration::from_secs(10 * i);
            assert!(!s.observe("growing", i, m0, t, wait));
            assert!(!s.observe("quiet", 1, m0, t, Duration::from_secs(3600)));
        }
        let now = t0 + Duration::from_secs(90);
        s.observe("new", 1, m0, now, wait);
        let u = s.unsettled(now, limit);
        assert_eq!(
            u,
            vec![
                ("growing".to_string(), Duration::from_secs(90)),
                ("quiet".to_string(), Duration::from_secs(90)),
            ]
        );
        s.forget("growing");
        assert_eq!(s.unsettled(now, limit).len(), 1);
        assert!(s.unsettled(now, Duration::from_secs(90)).is_empty());
    }

    #[test]
    fn a_file_is_ready_only_after_an_unchanged_wait() {
        let mut s = Stability::default();
        let t0 = Instant::now();
        let wait = Duration::from_millis(500);
        let m0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let m1 = m0 + Duration::from_secs(1);
        assert!(!s.observe("a", 10, m0, t0, wait));
        assert!(!s.observe("a", 10, m0, t0 + Duration::from_millis(499), wait));
        // It grew: the wait starts again.
        assert!(!s.observe("a", 20, m0, t0 + Duration::from_millis(600), wait));
        assert!(!s.observe("a", 20, m0, t0 + Duration::from_millis(1000), wait));
        // Same size, new mtime (rewritten in place): starts again.
        assert!(!s.observe("a", 20, m1, t0 + Duration::from_millis(1100), wait));
        assert!(s.observe("a", 20, m1, t0 + Duration::from_millis(1600), wait));
        assert_eq!(s.pending(), 1);
        s.forget("a");
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn reading_the_inbox_does_not_wake_the_intake() {
        let d = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let _w = watch(d.path(), tx).expect("inotify works on a temp dir");
        // Opening and listing the folder (what every pass does) and reading
        // a file's metadata: no wake-up.
        for _ in 0..3 {
            let _ = std::fs::read_dir(d.path()).unwrap().count();
        }
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(300)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        // A new file: woken.
        std::fs::write(d.path().join("a.pdf"), b"x").unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Wake::Files));
    }

    #[test]
    fn a_zero_wait_takes_a_file_at_first_sight() {
        let mut s = Stability::default();
        assert!(s.observe("a", 1, SystemTime::now(), Instant::now(), Duration::ZERO));
    }
}
