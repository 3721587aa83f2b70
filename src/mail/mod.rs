//! The mail to the graduate (issue 16, `docs/workflow.md` step 5): when
//! the signed original's scan is archived, the digital image goes to the
//! holder's address with the verification link and its access key.
//!
//! # Layout
//! - [`queue`]: the crash-safe queue under `<data>/mail/`, one entry per
//!   certificate, written at registration (the registry calls
//!   [`queue::Queue::put`]); the entry holds a secret and personal data.
//! - [`template`]: the German and English texts, replaceable by files.
//! - [`sender`]: the daemon's sender thread: sends when the scan is
//!   archived, retries with exponential backoff, gives up after
//!   `attempts_max`, records `MailDelivered` (kind 17) and deletes the entry.
//! - this file: the `[mail]` configuration section and the queue's part of
//!   the status report.
//!
//! Delivery is **at least once** around one crash window: between the
//! relay's acceptance and the durable `sent` mark on the entry (one fsynced
//! write, milliseconds) a crash makes the next start send the mail again.
//! Every other crash point sends nothing twice: an entry marked `sent` is
//! only recorded and deleted, never sent again. ARCHITECTURE.md "The
//! graduate mail" gives the reasons.
//!
//! Must not do: put the address, the name or the key into the ledger, a
//! blob or a page; hold the registry lock while talking to the relay.

pub mod queue;
pub mod sender;
pub mod template;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Default wait before the second attempt, in seconds; it doubles with
/// every refused attempt.
pub const RETRY_FIRST_SECS_DEFAULT: u64 = 60;
/// Default longest wait between two attempts, in seconds (6 hours).
pub const RETRY_MAX_SECS_DEFAULT: u64 = 6 * 3600;
/// Default number of refused attempts after which a mail is given up
/// (with the defaults: about 2.5 days of trying).
pub const ATTEMPTS_MAX_DEFAULT: u32 = 20;
/// Most attempts that can be configured.
pub const ATTEMPTS_MAX_LIMIT: u32 = 1_000;
/// Default time between two looks at the queue, in milliseconds.
pub const POLL_MS_DEFAULT: u64 = 1_000;
/// Allowed range of `poll_ms`.
pub const POLL_MS_RANGE: (u64, u64) = (50, 60_000);
/// An entry whose certificate is not in the ledger this long after it was
/// written is dropped: its registration failed before its records were
/// appended. In seconds (one day).
pub const ORPHAN_SECS: i64 = 86_400;
/// Time the relay gets per SMTP command, in seconds.
pub const SMTP_TIMEOUT_SECS: u64 = 30;

/// The `[mail]` section: the mail to the graduate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// SMTP relay `HOST:PORT`; default `report.smtp`. Plain SMTP without
    /// TLS or login, as for the report mails: use a relay on the host or
    /// the internal network.
    pub smtp: Option<String>,
    /// Sender address; default `report.mail_from`.
    pub from: Option<String>,
    /// Wait before the second attempt, in seconds (1 to 86,400); doubles
    /// with every refusal up to `retry_max_secs`.
    pub retry_first_secs: u64,
    /// Longest wait between two attempts, in seconds (at least
    /// `retry_first_secs`, at most 7 days).
    pub retry_max_secs: u64,
    /// Refused attempts after which a mail is given up and listed as failed
    /// in the status report (1 to [`ATTEMPTS_MAX_LIMIT`]).
    pub attempts_max: u32,
    /// Folder with operator templates `de.txt` and `en.txt` (either may be
    /// missing: the built-in one is used); checked at start.
    pub templates: Option<PathBuf>,
    /// Time between two looks at the queue, in milliseconds.
    pub poll_ms: u64,
}

impl Default for MailConfig {
    fn default() -> MailConfig {
        MailConfig {
            smtp: None,
            from: None,
            retry_first_secs: RETRY_FIRST_SECS_DEFAULT,
            retry_max_secs: RETRY_MAX_SECS_DEFAULT,
            attempts_max: ATTEMPTS_MAX_DEFAULT,
            templates: None,
            poll_ms: POLL_MS_DEFAULT,
        }
    }
}

/// Where graduate mails go out: relay and sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    /// Relay host.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Sender address.
    pub from: String,
}

impl MailConfig {
    /// Checks the section; returns the offending field and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=86_400).contains(&self.retry_first_secs) {
            return Err((
                "mail.retry_first_secs",
                format!("{} is not between 1 and 86400", self.retry_first_secs),
            ));
        }
        if !(self.retry_first_secs..=7 * 86_400).contains(&self.retry_max_secs) {
            return Err((
                "mail.retry_max_secs",
                format!(
                    "{} is not between mail.retry_first_secs ({}) and 604800",
                    self.retry_max_secs, self.retry_first_secs
                ),
            ));
        }
        if !(1..=ATTEMPTS_MAX_LIMIT).contains(&self.attempts_max) {
            return Err((
                "mail.attempts_max",
                format!(
                    "{} is not between 1 and {ATTEMPTS_MAX_LIMIT}",
                    self.attempts_max
                ),
            ));
        }
        if !(POLL_MS_RANGE.0..=POLL_MS_RANGE.1).contains(&self.poll_ms) {
            return Err((
                "mail.poll_ms",
                format!(
                    "{} is not between {} and {}",
                    self.poll_ms, POLL_MS_RANGE.0, POLL_MS_RANGE.1
                ),
            ));
        }
        if let Some(s) = &self.smtp {
            parse_host_port(s).ok_or(("mail.smtp", format!("{s:?}: expected HOST:PORT")))?;
        }
        Ok(())
    }

    /// Relay and sender, each from `[mail]` or else from `[report]`;
    /// `None` when either is missing (graduate mails then wait in the
    /// queue and the status report says so).
    pub fn relay(&self, report: &crate::config::ReportConfig) -> Option<Relay> {
        let smtp = self.smtp.as_ref().or(report.smtp.as_ref())?;
        let from = self.from.as_ref().or(report.mail_from.as_ref())?;
        let (host, port) = parse_host_port(smtp)?;
        Some(Relay {
            host,
            port,
            from: from.clone(),
        })
    }

    /// The wait after the `attempts`-th refusal, in seconds:
    /// `retry_first_secs * 2^(attempts-1)`, at most `retry_max_secs`.
    pub fn backoff_secs(&self, attempts: u32) -> u64 {
        let doublings = attempts.saturating_sub(1).min(40);
        self.retry_first_secs
            .saturating_mul(1u64 << doublings)
            .min(self.retry_max_secs)
    }
}

fn parse_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}

/// A mail that is retried or was given up, for the status report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MailProblem {
    /// The certificate code (12 characters, no hyphens).
    pub code: String,
    /// Refused attempts so far.
    pub attempts: u32,
    /// The next attempt (UTC seconds); absent once given up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<i64>,
    /// The last error (the relay's answer).
    pub last_error: String,
}

/// The mail queue's part of the status report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MailStatus {
    /// Entries in the queue that are not given up: waiting for their scan,
    /// for their first or next attempt, or for their delivery record.
    pub pending: u64,
    /// Of those, the ones a relay refused at least once, with the next
    /// attempt and the last error (at most
    /// [`crate::report::REPORT_ITEMS_MAX`]).
    pub retrying: Vec<MailProblem>,
    /// Mails given up after `attempts_max` refusals (tried again from the
    /// start when the daemon starts), at most
    /// [`crate::report::REPORT_ITEMS_MAX`].
    pub failed: Vec<MailProblem>,
    /// Queue files that cannot be read, with why (file named).
    pub errors: Vec<String>,
}

/// Reads the queue of data directory `data` for the status report.
pub fn status(data: &Path) -> MailStatus {
    use queue::EntryState;
    let mut s = MailStatus::default();
    let limit = crate::report::REPORT_ITEMS_MAX;
    let listed = match queue::Queue::new(data).list() {
        Ok(l) => l,
        Err(e) => {
            s.errors.push(e.to_string());
            return s;
        }
    };
    for item in listed {
        let e = match item {
            Ok(e) => e,
            Err(err) => {
                if s.errors.len() < limit {
                    s.errors.push(err.to_string());
                }
                continue;
            }
        };
        let problem = |next| MailProblem {
            code: e.code.clone(),
            attempts: e.attempts,
            next_attempt: next,
            last_error: e.last_error.clone().unwrap_or_default(),
        };
        match e.state {
            EntryState::Failed => {
                if s.failed.len() < limit {
                    s.failed.push(problem(None));
                }
            }
            EntryState::Waiting | EntryState::Sent => {
                s.pending += 1;
                if e.state == EntryState::Waiting && e.attempts > 0 && s.retrying.len() < limit {
                    s.retrying.push(problem(Some(e.next_attempt_s)));
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let c = MailConfig {
            retry_first_secs: 60,
            retry_max_secs: 600,
            ..MailConfig::default()
        };
        let waits: Vec<u64> = (1..=6).map(|n| c.backoff_secs(n)).collect();
        assert_eq!(waits, [60, 120, 240, 480, 600, 600]);
        assert_eq!(c.backoff_secs(u32::MAX), 600);
    }

    #[test]
    fn relay_falls_back_to_the_report_section() {
        let report = crate::config::ReportConfig {
            smtp: Some("relay:25".into()),
            mail_from: Some("z@u.example".into()),
            ..crate::config::ReportConfig::default()
        };
        let own = MailConfig {
            smtp: Some("mx:2525".into()),
            ..MailConfig::default()
        };
        assert_eq!(
            own.relay(&report),
            Some(Relay {
                host: "mx".into(),
                port: 2525,
                from: "z@u.example".into()
            })
        );
        assert_eq!(
            MailConfig::default().relay(&report).map(|r| r.port),
            Some(25)
        );
        assert_eq!(
            MailConfig::default().relay(&crate::config::ReportConfig::default()),
            None
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let bad = [
            (
                MailConfig {
                    retry_first_secs: 0,
                    ..MailConfig::default()
                },
                "mail.retry_first_secs",
            ),
            (
                MailConfig {
                    retry_first_secs: 100,
                    retry_max_secs: 50,
                    ..MailConfig::default()
                },
                "mail.retry_max_secs",
            ),
            (
                MailConfig {
                    attempts_max: 0,
                    ..MailConfig::default()
                },
                "mail.attempts_max",
            ),
            (
                MailConfig {
                    poll_ms: 1,
                    ..MailConfig::default()
                },
                "mail.poll_ms",
            ),
            (
                MailConfig {
                    smtp: Some("relay".into()),
                    ..MailConfig::default()
                },
                "mail.smtp",
            ),
        ];
        for (c, field) in bad {
            assert_eq!(c.validate().unwrap_err().0, field);
        }
        assert!(MailConfig::default().validate().is_ok());
    }
}
