//! Publishing signed checkpoints outside the data directory (issue 19,
//! `ledger/FORMAT.md` §13.1): an independently kept checkpoint is what lets
//! `zeugnis audit --checkpoint FILE` detect a ledger whose tail was cut.
//!
//! Owns: the `[publish]` configuration section, and the publisher thread
//! the daemon runs. Every [`PUBLISH_POLL_MS`] it looks at the ledger's
//! latest signed checkpoint (without waiting for the registry lock: a busy
//! ledger is looked at on the next poll) and, when it is new:
//! - writes `<dir>/checkpoint-<size>` and replaces `<dir>/latest` in every
//!   configured folder, durably (temporary file, fsync, rename, fsync of
//!   the folder);
//! - mails the checkpoint note when `mail_to` is set, at most once per
//!   `mail_interval` and only when it changed since the last mail.
//!
//! A failing place is logged, counted in `/metrics`
//! (`zeugnis_publish_failures_total{target}`) and retried on the next new
//! checkpoint or after [`PUBLISH_RETRY_SECS`], whichever comes first; it
//! never blocks the ledger, the intake or the HTTP service.
//!
//! Checkpoints signed between two polls are not published one by one: the
//! latest one is, and it is consistent with every earlier one, so it
//! detects a rollback to any of them.
//!
//! Must not do: write into the ledger or its data directory; hold the
//! registry lock while writing files or sending mail.

use crate::registry::Registry;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

/// Time between two looks at the ledger's latest checkpoint, in milliseconds.
pub const PUBLISH_POLL_MS: u64 = 250;
/// A place that failed is tried again after this many seconds even when no
/// new checkpoint came.
pub const PUBLISH_RETRY_SECS: u64 = 60;
/// Default shortest time between two checkpoint mails.
pub const MAIL_INTERVAL_DEFAULT: &str = "1d";
/// Most folders in `publish.dirs`.
pub const PUBLISH_DIRS_MAX: usize = 16;
/// Name of the file that always holds the newest published checkpoint.
pub const LATEST_FILE: &str = "latest";

/// The `[publish]` section of the daemon configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Folders, outside the data directory (best on another disk), that get
    /// `checkpoint-<size>` and `latest` for every new checkpoint.
    pub dirs: Vec<PathBuf>,
    /// Mail recipients of the latest checkpoint note; sender and SMTP relay
    /// are `report.mail_from` and `report.smtp`.
    pub mail_to: Vec<String>,
    /// Shortest time between two checkpoint mails (humantime: `1d`, `6h`,
    /// `30m`). Default `1d`.
    pub mail_interval: String,
}

impl Default for PublishConfig {
    fn default() -> PublishConfig {
        PublishConfig {
            dirs: Vec::new(),
            mail_to: Vec::new(),
            mail_interval: MAIL_INTERVAL_DEFAULT.to_string(),
        }
    }
}

impl PublishConfig {
    /// True when anything is to be published.
    pub fn enabled(&self) -> bool {
        !self.dirs.is_empty() || !self.mail_to.is_empty()
    }

    /// `mail_interval` as a duration.
    pub fn mail_interval(&self) -> Result<Duration, String> {
        humantime::parse_duration(&self.mail_interval).map_err(|e| {
            format!(
                "{:?}: {e} (expected e.g. \"1d\", \"6h\")",
                self.mail_interval
            )
        })
    }

    /// Checks the section; returns the offending field and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.mail_interval()
            .map_err(|e| ("publish.mail_interval", e))?;
        if self.dirs.len() > PUBLISH_DIRS_MAX {
            return Err((
                "publish.dirs",
                format!("at most {PUBLISH_DIRS_MAX} folders"),
            ));
        }
        if self.dirs.iter().any(|d| d.as_os_str().is_empty()) {
            return Err(("publish.dirs", "an empty path".into()));
        }
        Ok(())
    }
}

/// Errors publishing to one place.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A file in a publish folder could not be written.
    #[error("publish {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The mail could not be built or sent.
    #[error("publish mail: {0}")]
    Mail(String),
}

/// Writes `<dir>/checkpoint-<size>` and then `<dir>/latest`, both durably.
pub fn publish_to_dir(dir: &Path, size: u64, note: &str) -> Result<(), PublishError> {
    for name in [format!("checkpoint-{size}"), LATEST_FILE.to_string()] {
        let path = dir.join(name);
        crate::ledger::durable::write_atomic(&path, note.as_bytes())
            .map_err(|source| PublishError::Write { path, source })?;
    }
    Ok(())
}

/// Mails the checkpoint note as plain text.
pub fn mail_note(
    origin_size: (&str, u64),
    note: &str,
    cfg: &crate::report::MailConfig,
) -> Result<(), PublishError> {
    use lettre::{Message, SmtpTransport, Transport};
    let bad = |what: &str, e: &dyn std::fmt::Display| PublishError::Mail(format!("{what}: {e}"));
    let mut builder = Message::builder()
        .from(cfg.from.parse().map_err(|e| bad("report.mail_from", &e))?)
        .subject(format!(
            "zeugnis checkpoint {} size {}",
            origin_size.0, origin_size.1
        ));
    for to in &cfg.to {
        builder = builder.to(to.parse().map_err(|e| bad("publish.mail_to", &e))?);
    }
    let message = builder
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        // lettre picks quoted-printable for the non-ASCII `—` of the
        // signature lines; a mail client shows (and saves) the note as is.
        .body(note.to_string())
        .map_err(|e| bad("message", &e))?;
    SmtpTransport::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .timeout(Some(Duration::from_secs(30)))
        .build()
        .send(&message)
        .map_err(|e| PublishError::Mail(format!("to {}:{}: {e}", cfg.host, cfg.port)))?;
    Ok(())
}

/// Where one place stands.
#[derive(Debug, Default)]
struct PlaceState {
    /// Size of the checkpoint last published here successfully.
    done: Option<u64>,
    /// The size whose publication failed last, and when.
    failed: Option<(u64, Instant)>,
}

impl PlaceState {
    /// True if the checkpoint of `size` is to be tried now: it is not
    /// published here yet, and it did not fail here within the retry
    /// interval.
    fn due(&self, size: u64) -> bool {
        self.done != Some(size)
            && match self.failed {
                Some((s, t)) if s == size => t.elapsed() >= Duration::from_secs(PUBLISH_RETRY_SECS),
                _ => true,
            }
    }
}

/// The publisher: state of every place, run by [`run`] on its own thread.
pub struct Publisher {
    cfg: PublishConfig,
    mail: Option<crate::report::MailConfig>,
    mail_interval: Duration,
    dirs: Vec<PlaceState>,
    /// Size of the checkpoint last mailed, and when the last mail attempt
    /// was made (success or not).
    mailed: Option<u64>,
    mail_tried: Option<(Instant, bool)>,
    metrics: Option<Arc<crate::http::metrics::Metrics>>,
}

impl Publisher {
    /// A publisher for `cfg`; `mail` is the relay and sender from `[report]`
    /// with the recipients of `publish.mail_to`.
    pub fn new(
        cfg: PublishConfig,
        mail: Option<crate::report::MailConfig>,
        metrics: Option<Arc<crate::http::metrics::Metrics>>,
    ) -> Result<Publisher, String> {
        let mail_interval = cfg.mail_interval()?;
        let dirs = cfg.dirs.iter().map(|_| PlaceState::default()).collect();
        Ok(Publisher {
            cfg,
            mail,
            mail_interval,
            dirs,
            mailed: None,
            mail_tried: None,
            metrics,
        })
    }

    fn count(&self, target: &'static str, ok: bool) {
        if let Some(m) = &self.metrics {
            m.publish(target, ok);
        }
    }

    /// Publishes the checkpoint `note` of `size` wherever it is due.
    pub fn publish(&mut self, origin: &str, size: u64, note: &str) {
        for i in 0..self.dirs.len() {
            if !self.dirs[i].due(size) {
                continue;
            }
            let dir = &self.cfg.dirs[i];
            match publish_to_dir(dir, size, note) {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), size, "checkpoint published");
                    self.dirs[i] = PlaceState {
                        done: Some(size),
                        failed: None,
                    };
                    self.count("dir", true);
                }
                Err(e) => {
                    tracing::warn!(error = %e, size, "checkpoint not published to a folder; retried with the next checkpoint");
                    self.dirs[i].failed = Some((size, Instant::now()));
                    self.count("dir", false);
                }
            }
        }
        self.publish_mail(origin, size, note);
    }

    fn publish_mail(&mut self, origin: &str, size: u64, note: &str) {
        let Some(mail) = &self.mail else { return };
        if self.mailed == Some(size) {
            return;
        }
        if let Some((at, ok)) = self.mail_tried {
            let wait = if ok {
                self.mail_interval
            } else {
                self.mail_interval
                    .min(Duration::from_secs(PUBLISH_RETRY_SECS))
            };
            if at.elapsed() < wait {
                return;
            }
        }
        let r = mail_note((origin, size), note, mail);
        let ok = r.is_ok();
        match r {
            Ok(()) => {
                tracing::info!(size, to = ?mail.to, "checkpoint mailed");
                self.mailed = Some(size);
            }
            Err(e) => tracing::warn!(error = %e, size, "checkpoint mail failed; retried later"),
        }
        self.mail_tried = Some((Instant::now(), ok));
        self.count("mail", ok);
    }
}

/// Runs the publisher until `stop` is set, then publishes once more (the
/// checkpoint of the last batch). Never takes the registry lock while
/// another holds it.
pub fn run(mut publisher: Publisher, registry: Arc<Mutex<Registry>>, stop: Arc<AtomicBool>) {
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let latest = match registry.try_lock() {
            Ok(reg) => Some(latest(&reg)),
            Err(TryLockError::Poisoned(p)) => Some(latest(&p.into_inner())),
            Err(TryLockError::WouldBlock) if stopping => {
                let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
                Some(latest(&reg))
            }
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some((origin, size, note)) = latest {
            publisher.publish(&origin, size, &note);
        }
        if stopping {
            return;
        }
        std::thread::sleep(Duration::from_millis(PUBLISH_POLL_MS));
    }
}

fn latest(reg: &Registry) -> (String, u64, String) {
    let l = reg.ledger();
    let cp = l.checkpoint();
    (cp.origin.clone(), cp.size, l.checkpoint_note().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "test.example/zeugnis/1\n7\nAAAA\n\n— k sig\n";

    #[test]
    fn a_folder_gets_the_checkpoint_file_and_latest() {
        let t = tempfile::tempdir().unwrap();
        publish_to_dir(t.path(), 7, NOTE).unwrap();
        publish_to_dir(t.path(), 9, "newer\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("checkpoint-7")).unwrap(),
            NOTE
        );
        assert_eq!(
            std::fs::read_to_string(t.path().join(LATEST_FILE)).unwrap(),
            "newer\n"
        );
        // No temporary files are left behind.
        let mut names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["checkpoint-7", "checkpoint-9", "latest"]);
    }

    #[test]
    fn a_failing_folder_is_counted_does_not_stop_the_others_and_is_retried() {
        let t = tempfile::tempdir().unwrap();
        let good = t.path().join("good");
        std::fs::create_dir(&good).unwrap();
        // A folder below a regular file cannot be written, even by root.
        std::fs::write(t.path().join("file"), b"x").unwrap();
        let bad = t.path().join("file/sub");
        let cfg = PublishConfig {
            dirs: vec![bad.clone(), good.clone()],
            ..PublishConfig::default()
        };
        let metrics = Arc::new(crate::http::metrics::Metrics::new());
        let mut p = Publisher::new(cfg, None, Some(Arc::clone(&metrics))).unwrap();
        p.publish("o", 7, NOTE);
        assert!(good.join("checkpoint-7").exists());
        let text = metrics.encode(0);
        assert!(
            text.contains("zeugnis_publish_failures_total{target=\"dir\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("zeugnis_publish_checkpoints_total{target=\"dir\"} 1"),
            "{text}"
        );
        // The same checkpoint again: nothing is tried (no new failure, the
        // good folder is not rewritten) until the retry interval is over.
        p.publish("o", 7, NOTE);
        let text = metrics.encode(0);
        assert!(
            text.contains("zeugnis_publish_failures_total{target=\"dir\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("zeugnis_publish_checkpoints_total{target=\"dir\"} 1"),
            "{text}"
        );
        // A new checkpoint: the failed folder is tried again; once it can be
        // written it gets the new checkpoint.
        std::fs::remove_file(t.path().join("file")).unwrap();
        std::fs::create_dir_all(&bad).unwrap();
        p.publish("o", 9, "nine\n");
        assert_eq!(
            std::fs::read_to_string(bad.join(LATEST_FILE)).unwrap(),
            "nine\n"
        );
        assert!(good.join("checkpoint-9").exists());
        let text = metrics.encode(0);
        assert!(
            text.contains("zeugnis_publish_checkpoints_total{target=\"dir\"} 3"),
            "{text}"
        );
    }

    #[test]
    fn retry_waits_for_a_new_checkpoint_or_the_interval() {
        let fresh = PlaceState::default();
        assert!(fresh.due(1));
        let done = PlaceState {
            done: Some(5),
            failed: None,
        };
        assert!(!done.due(5));
        assert!(done.due(6));
        let failed_now = PlaceState {
            done: Some(5),
            failed: Some((6, Instant::now())),
        };
        assert!(!failed_now.due(6));
        assert!(failed_now.due(7));
        if let Some(long_ago) =
            Instant::now().checked_sub(Duration::from_secs(PUBLISH_RETRY_SECS + 1))
        {
            let failed_long_ago = PlaceState {
                done: Some(5),
                failed: Some((6, long_ago)),
            };
            assert!(failed_long_ago.due(6));
        }
    }

    #[test]
    fn the_section_is_validated() {
        assert!(PublishConfig::default().validate().is_ok());
        assert!(!PublishConfig::default().enabled());
        let bad = PublishConfig {
            mail_interval: "often".into(),
            ..PublishConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "publish.mail_interval");
        let many = PublishConfig {
            dirs: vec![PathBuf::from("/x"); PUBLISH_DIRS_MAX + 1],
            ..PublishConfig::default()
        };
        assert_eq!(many.validate().unwrap_err().0, "publish.dirs");
    }
}
