//! Status reports: what an operator reads every day (the Göttingen lesson:
//! the document system sends status mails regularly).
//!
//! Owns: the report (counts by state, registrations waiting for their scan
//! longer than a limit with their codes, quarantined scans with reasons,
//! inbox entries the intake skipped or that do not settle, scans waiting
//! long for their registration, the last fixity audit, ledger size and growth, free disk, key age), its text
//! and JSON forms, the copy written to `<data>/reports/`, and the SMTP mail.
//! Must not do: change the ledger.

use crate::ledger::record::{Body, Kind, Record, RECORD_PREV_LINK_OFFSET};
use crate::ledger::{self, LedgerError};
use crate::registry::{Registry, RegistryError, State};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Default: registrations waiting for their scan longer than this are listed.
pub const WAITING_DAYS_DEFAULT: u64 = 14;
/// Most waiting codes and quarantined files listed in one report.
pub const REPORT_ITEMS_MAX: usize = 500;
/// Sub-directory of the data directory holding written reports.
pub const REPORTS_DIR: &str = "reports";

/// A quarantined scan and why.
#[derive(Clone, Debug, Serialize)]
pub struct Quarantined {
    /// File name in `scans/quarantine/`.
    pub file: String,
    /// The reason from its `.reason.json`, if readable.
    pub reason: String,
}

/// A registration waiting for its scan longer than the limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Waiting {
    /// The certificate code (12 characters, no hyphens).
    pub code: String,
    /// Whole days since it was registered.
    pub days: u64,
}

/// The latest `FixityChecked` record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastFixity {
    /// Its ledger sequence number.
    pub seq: u64,
    /// When it was recorded (UTC seconds).
    pub time: i64,
    /// Blobs re-hashed.
    pub blobs_checked: u64,
    /// Blobs found damaged or missing.
    pub failures: u64,
}

/// A reserved code that expired unused.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpiredReservation {
    /// The code (12 characters, no hyphens).
    pub code: String,
    /// The day it expired, `YYYY-MM-DD` (UTC).
    pub expired: String,
}

/// The age of an active signing key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyAge {
    /// The key ID (8 hex digits, as in the verifier key string).
    pub key_id: String,
    /// Whole days since its `Genesis` or `KeyAdded` record.
    pub days: u64,
}

/// The status report. Its JSON form (`zeugnis status --json`,
/// `GET /admin/v1/status`, the written copies) is documented field by field
/// in docs/operations.md ("The status report").
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// The log's origin.
    pub origin: String,
    /// When the report was made (UTC seconds).
    pub generated_at: i64,
    /// Certificates by state.
    pub states: BTreeMap<String, u64>,
    /// Certificates whose holder data was erased.
    pub erased: u64,
    /// The waiting limit, in days.
    pub waiting_days_limit: u64,
    /// Codes awaiting their scan longer than the limit, with days waited.
    pub waiting_too_long: Vec<Waiting>,
    /// Quarantined scans (empty if the quarantine folder does not exist).
    pub quarantined: Vec<Quarantined>,
    /// When the intake last wrote its state (`scans/work/.intake-status.json`,
    /// after a pass that changed it), UTC seconds; absent when no intake
    /// ran on this inbox yet. The two lists below are as of that time.
    pub inbox_checked_at: Option<i64>,
    /// Why the intake's state could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox_state_error: Option<String>,
    /// Inbox entries the intake cannot handle and skips at every pass (it
    /// cannot claim, move or quarantine them), with why and since when.
    pub inbox_skipped: Vec<crate::scans::health::SkippedEntry>,
    /// Inbox files seen for more than `[intake] unsettled_report_secs`
    /// (default 10 minutes) that have not settled (still growing or
    /// changing), with since when.
    pub inbox_unsettled: Vec<crate::scans::health::UnsettledEntry>,
    /// That limit, as the intake applied it, in seconds.
    pub inbox_unsettled_after_s: Option<u64>,
    /// Scans in `scans/waiting/` (their code is not registered yet).
    pub scans_waiting: u64,
    /// Those waiting longer than a day, oldest first: name, code, since.
    pub scans_waiting_long: Vec<crate::scans::health::WaitingScan>,
    /// Records in the ledger.
    pub ledger_records: u64,
    /// Records appended in the last 7 days.
    pub records_last_7_days: u64,
    /// Records appended in the last 30 days.
    pub records_last_30_days: u64,
    /// Segment bytes on disk.
    pub ledger_bytes: u64,
    /// The last fixity audit, if any (`null` if never).
    pub last_fixity: Option<LastFixity>,
    /// Free bytes on the data directory's file system.
    pub disk_free_bytes: u64,
    /// Age in days of each active signing key.
    pub key_age_days: Vec<KeyAge>,
    /// Where the verification of the records stands (a daemon's fast open
    /// verifies them in the background; damage found there stops writes).
    pub ledger_verification: LedgerVerification,
    /// Reserved codes not yet used and not expired (`zeugnis reserve`).
    #[serde(default)]
    pub reservations_open: u64,
    /// Reserved codes that expired unused, the latest first, at most
    /// [`REPORT_ITEMS_MAX`].
    #[serde(default)]
    pub reservations_expired: Vec<ExpiredReservation>,
    /// Certificates awaiting their scan whose documents do not declare
    /// PDF/A (code), at most [`REPORT_ITEMS_MAX`].
    #[serde(default)]
    pub documents_without_pdfa: Vec<String>,
    /// The mail to the graduate: the queue's state (`mail_pending`,
    /// `mail_retrying`, `mail_failed`, `mail_queue_errors`).
    #[serde(flatten)]
    pub mail: MailFields,
}

/// The graduate-mail fields of the report (flattened into it).
#[derive(Clone, Debug, Default, Serialize)]
pub struct MailFields {
    /// Mails in the queue that are not given up.
    pub mail_pending: u64,
    /// Mails a relay refused at least once, with the next attempt.
    pub mail_retrying: Vec<crate::mail::MailProblem>,
    /// Mails given up after `[mail] attempts_max` refusals.
    pub mail_failed: Vec<crate::mail::MailProblem>,
    /// Queue files that cannot be read.
    pub mail_queue_errors: Vec<String>,
}

impl MailFields {
    fn of(s: crate::mail::MailStatus) -> MailFields {
        MailFields {
            mail_pending: s.pending,
            mail_retrying: s.retrying,
            mail_failed: s.failed,
            mail_queue_errors: s.errors,
        }
    }

    fn text(&self) -> String {
        let mut s = format!(
            "mails to graduates pending: {}; refused and retried: {}; given up: {}\n",
            self.mail_pending,
            self.mail_retrying.len(),
            self.mail_failed.len()
        );
        for p in &self.mail_retrying {
            s.push_str(&format!(
                "  {}  {} attempt(s), next at {}: {}\n",
                p.code,
                p.attempts,
                p.next_attempt.unwrap_or(0),
                p.last_error
            ));
        }
        for p in &self.mail_failed {
            s.push_str(&format!(
                "  {}  GIVEN UP after {} attempt(s): {}\n",
                p.code, p.attempts, p.last_error
            ));
        }
        for e in &self.mail_queue_errors {
            s.push_str(&format!("  unreadable: {e}\n"));
        }
        s
    }
}

/// The `ledger_verification` part of the report.
#[derive(Clone, Debug, Serialize)]
pub struct LedgerVerification {
    /// `verified`, `pending`, `damaged` or `not_run` (a read-only command
    /// checks what it trusts and each record it reads; `zeugnis audit`
    /// checks every record).
    pub state: &'static str,
    /// Records checked so far (while pending).
    pub checked: u64,
    /// Records to check (while pending).
    pub total: u64,
    /// The damage found (file, offset, seq), if any.
    pub damage: Option<String>,
}

impl LedgerVerification {
    fn of(state: &ledger::verify::VerifyState) -> LedgerVerification {
        use ledger::verify::VerifyState;
        let (name, checked, total, damage) = match state {
            VerifyState::Verified => ("verified", 0, 0, None),
            VerifyState::Pending { checked, total } => ("pending", *checked, *total, None),
            VerifyState::Damaged(why) => ("damaged", 0, 0, Some(why.clone())),
            VerifyState::NotRun => ("not_run", 0, 0, None),
        };
        LedgerVerification {
            state: name,
            checked,
            total,
            damage,
        }
    }

    fn text(&self) -> String {
        match (self.state, &self.damage) {
            (_, Some(why)) => {
                format!("ledger verification: DAMAGE FOUND, writes are refused: {why}\n")
            }
            ("pending", _) => format!(
                "ledger verification: running in the background, {} of {} records checked\n",
                self.checked, self.total
            ),
            ("not_run", _) => "ledger verification: not run by this read-only command \
                               (`zeugnis audit` checks every record)\n"
                .into(),
            _ => "ledger verification: every record verified\n".into(),
        }
    }
}

const DAY_S: i64 = 86_400;

/// Builds the report from the registry's derived states and one pass over
/// the ledger records (times are in the record headers).
pub fn status(
    registry: &Registry,
    scans: &Path,
    waiting_days_limit: u64,
) -> Result<StatusReport, RegistryError> {
    let ledger = registry.ledger();
    let now = ledger::now_s();
    let mut states: BTreeMap<String, u64> = [
        State::AwaitingScan,
        State::Archived,
        State::Revoked,
        State::Superseded,
        State::Voided,
    ]
    .iter()
    .map(|s| (s.name().to_string(), 0))
    .collect();
    let mut erased = 0;
    let mut awaiting: Vec<(String, u64)> = Vec::new();
    let mut documents_without_pdfa = Vec::new();
    for c in registry.all()? {
        *states.entry(c.state.name().to_string()).or_default() += 1;
        erased += u64::from(c.erased);
        if c.state == State::AwaitingScan {
            if let Some(seq) = c.seqs.first() {
                awaiting.push((c.code.clone(), *seq));
            }
            if documents_without_pdfa.len() < REPORT_ITEMS_MAX && !declares_pdfa(registry, &c) {
                documents_without_pdfa.push(c.code.clone());
            }
        }
    }
    let mut reservations_open = 0;
    let mut reservations_expired = Vec::new();
    for (r, used) in registry.reservations()? {
        if used {
            continue;
        }
        if r.expires_s < now {
            reservations_expired.push((r.expires_s, r.code));
        } else {
            reservations_open += 1;
        }
    }
    reservations_expired.sort_by(|a, b| b.cmp(a));
    reservations_expired.truncate(REPORT_ITEMS_MAX);
    let reservations_expired = reservations_expired
        .into_iter()
        .map(|(t, code)| ExpiredReservation {
            code,
            expired: crate::dates::date_of_unix_secs(t),
        })
        .collect();
    let (mut last7, mut last30, mut last_fixity, mut ledger_bytes) = (0, 0, None, 0);
    let mut times = BTreeMap::new();
    let mut key_added: Vec<(u64, i64)> = Vec::new();
    let wanted: std::collections::BTreeSet<u64> = awaiting.iter().map(|(_, s)| *s).collect();
    let pass = ledger::read_records(ledger.dir(), 0, ledger.size(), &mut |seq, bytes| {
        let time = i64::from_le_bytes(bytes[10..18].try_into().expect("header"));
        ledger_bytes += bytes.len() as u64 + 8;
        if now - time <= 7 * DAY_S {
            last7 += 1;
        }
        if now - time <= 30 * DAY_S {
            last30 += 1;
        }
        if wanted.contains(&seq) {
            times.insert(seq, time);
        }
        let kind = u16::from_le_bytes([
            bytes[RECORD_PREV_LINK_OFFSET - 2],
            bytes[RECORD_PREV_LINK_OFFSET - 1],
        ]);
        if kind == Kind::FixityChecked as u16
            || kind == Kind::Genesis as u16
            || kind == Kind::KeyAdded as u16
        {
            let r = Record::decode(bytes)
                .map_err(|e| LedgerError::Invalid(format!("record {seq}: {e}")))?;
            match r.body {
                Body::FixityChecked {
                    blobs_checked,
                    failures,
                    ..
                } => {
                    last_fixity = Some(LastFixity {
                        seq,
                        time,
                        blobs_checked,
                        failures: failures.len() as u64,
                    })
                }
                _ => key_added.push((seq, time)),
            }
        }
        Ok(())
    });
    // Damage met on this pass is reported, not a reason to send no report
    // (the periodic report is how an operator hears of it); the counts then
    // cover the records before it.
    let mut verification = LedgerVerification::of(&ledger.verification().state());
    match pass {
        Ok(()) => {}
        Err(e @ (LedgerError::Corrupt { .. } | LedgerError::Segments { .. })) => {
            if verification.damage.is_none() {
                verification.state = "damaged";
                verification.damage = Some(e.to_string());
            }
        }
        Err(e) => return Err(e.into()),
    }
    let mut waiting_too_long: Vec<Waiting> = awaiting
        .iter()
        .filter_map(|(code, seq)| {
            let days = ((now - times.get(seq).copied().unwrap_or(now)) / DAY_S).max(0) as u64;
            (days > waiting_days_limit).then(|| Waiting {
                code: code.clone(),
                days,
            })
        })
        .collect();
    waiting_too_long.sort_by(|a, b| b.days.cmp(&a.days).then(a.code.cmp(&b.code)));
    waiting_too_long.truncate(REPORT_ITEMS_MAX);
    let key_age_days = ledger
        .keys()
        .iter()
        .filter(|k| k.retired_seq.is_none())
        .map(|k| {
            let added = key_added
                .iter()
                .find(|(s, _)| *s == k.added_seq)
                .map_or(now, |(_, t)| *t);
            KeyAge {
                key_id: format!("{:08x}", k.verifier.key_id),
                days: ((now - added) / DAY_S).max(0) as u64,
            }
        })
        .collect();
    let (inbox, inbox_state_error) = match crate::scans::health::read(scans) {
        Ok(h) => (h, None),
        Err(e) => (None, Some(e)),
    };
    let (scans_waiting, scans_waiting_long) =
        crate::scans::health::waiting(scans, now, crate::scans::health::WAITING_LISTED_SECS);
    let disk_free_bytes = rustix::fs::statvfs(ledger.dir())
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(0);
    Ok(StatusReport {
        origin: ledger.origin().to_string(),
        generated_at: now,
        states,
        erased,
        waiting_days_limit,
        waiting_too_long,
        quarantined: quarantined(scans),
        inbox_checked_at: inbox.as_ref().map(|h| h.written_at_s),
        inbox_unsettled_after_s: inbox.as_ref().map(|h| h.unsettled_after_s),
        inbox_state_error,
        inbox_skipped: inbox
            .as_ref()
            .map(|h| h.skipped.clone())
            .unwrap_or_default(),
        inbox_unsettled: inbox.map(|h| h.unsettled).unwrap_or_default(),
        scans_waiting,
        scans_waiting_long,
        ledger_records: ledger.size(),
        records_last_7_days: last7,
        records_last_30_days: last30,
        ledger_bytes,
        last_fixity,
        disk_free_bytes,
        key_age_days,
        ledger_verification: verification,
        reservations_open,
        reservations_expired,
        documents_without_pdfa,
        mail: MailFields::of(crate::mail::status(ledger.dir())),
    })
}

/// Whether every document of `c` declares PDF/A (a missing or unreadable
/// blob counts as not declaring it; the fixity audit reports the blob).
fn declares_pdfa(registry: &Registry, c: &crate::registry::Certificate) -> bool {
    c.documents.iter().all(|d| {
        let Some(hash) = hex::decode(&d.blake3)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
        else {
            return false;
        };
        registry
            .blobs()
            .get(&hash)
            .ok()
            .and_then(|bytes| crate::document::declares_pdfa(&bytes))
            .is_some()
    })
}

/// The quarantined scans of the inbox `scans` with their reasons, by file
/// name, at most [`REPORT_ITEMS_MAX`] (also the desk's quarantine list).
pub fn quarantined(scans: &Path) -> Vec<Quarantined> {
    let dir = scans.join("quarantine");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<Quarantined> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.ends_with(".reason.json") && !n.starts_with('.'))
        .map(|file| {
            let reason = std::fs::read_to_string(dir.join(format!("{file}.reason.json")))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| {
                    let reason = v["reason"].as_str()?;
                    Some(match v["detail"].as_str() {
                        Some(detail) => format!("{reason}: {detail}"),
                        None => reason.to_string(),
                    })
                })
                .unwrap_or_else(|| "no reason file".into());
            Quarantined { file, reason }
        })
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out.truncate(REPORT_ITEMS_MAX);
    out
}

impl StatusReport {
    /// The plain-text form (mail body, terminal).
    pub fn text(&self) -> String {
        let mut s = format!("zeugnis status report for {}\n", self.origin);
        s.push_str(&format!(
            "generated {} (UTC seconds {})\n\n",
            crate::dates::today_utc(),
            self.generated_at
        ));
        s.push_str("certificates by state:\n");
        for (state, n) in &self.states {
            s.push_str(&format!("  {state:<14} {n}\n"));
        }
        s.push_str(&format!("  holder data erased: {}\n\n", self.erased));
        s.push_str(&format!(
            "waiting for their scan longer than {} days: {}\n",
            self.waiting_days_limit,
            self.waiting_too_long.len()
        ));
        for w in &self.waiting_too_long {
            s.push_str(&format!("  {}  {} days\n", w.code, w.days));
        }
        s.push_str(&format!("quarantined scans: {}\n", self.quarantined.len()));
        for q in &self.quarantined {
            s.push_str(&format!("  {}  {}\n", q.file, q.reason));
        }
        s.push_str(&self.inbox_text());
        s.push_str(&self.mail.text());
        s.push_str(&format!(
            "\nledger: {} records, {} bytes; +{} in 7 days, +{} in 30 days\n",
            self.ledger_records,
            self.ledger_bytes,
            self.records_last_7_days,
            self.records_last_30_days
        ));
        s.push_str(&self.ledger_verification.text());
        match &self.last_fixity {
            Some(f) => s.push_str(&format!(
                "last fixity audit: record {}, {} days ago, {} blobs, {} failure(s)\n",
                f.seq,
                (self.generated_at - f.time) / DAY_S,
                f.blobs_checked,
                f.failures
            )),
            None => s.push_str("last fixity audit: never (run `zeugnis audit --fixity`)\n"),
        }
        s.push_str(&format!("disk free: {} bytes\n", self.disk_free_bytes));
        for k in &self.key_age_days {
            s.push_str(&format!("signing key {}: {} days old\n", k.key_id, k.days));
        }
        s
    }

    /// The inbox part of [`StatusReport::text`]: what the intake skips, what
    /// does not settle, what waits long for its registration.
    fn inbox_text(&self) -> String {
        let ago = |since: i64| {
            let secs = (self.generated_at - since).max(0);
            if secs >= DAY_S {
                format!("{} days", secs / DAY_S)
            } else if secs >= 3600 {
                format!("{} hours", secs / 3600)
            } else {
                format!("{} minutes", secs / 60)
            }
        };
        let mut s = String::new();
        match (self.inbox_checked_at, &self.inbox_state_error) {
            (_, Some(e)) => s.push_str(&format!("inbox: the intake's state is unreadable: {e}\n")),
            (None, None) => s.push_str("inbox: no intake has run on this inbox yet\n"),
            (Some(at), None) => {
                s.push_str(&format!("inbox (as the intake saw it {} ago):\n", ago(at)))
            }
        }
        s.push_str(&format!(
            "  entries the intake cannot handle (skipped at every pass): {}\n",
            self.inbox_skipped.len()
        ));
        for e in &self.inbox_skipped {
            s.push_str(&format!(
                "    {}  {} (for {})\n",
                e.name,
                e.why,
                ago(e.since_s)
            ));
        }
        s.push_str(&format!(
            "  files not settled for more than {} seconds: {}\n",
            self.inbox_unsettled_after_s
                .unwrap_or(crate::scans::health::UNSETTLED_REPORT_SECS_DEFAULT),
            self.inbox_unsettled.len()
        ));
        for e in &self.inbox_unsettled {
            s.push_str(&format!(
                "    {}  changing for {}\n",
                e.name,
                ago(e.since_s)
            ));
        }
        s.push_str(&format!(
            "scans waiting for their registration: {}, longer than a day: {}\n",
            self.scans_waiting,
            self.scans_waiting_long.len()
        ));
        for w in &self.scans_waiting_long {
            s.push_str(&format!(
                "  {}  code {}  waiting {}\n",
                w.name,
                if w.code.is_empty() { "?" } else { &w.code },
                ago(w.since_s)
            ));
        }
        s.push_str(&format!(
            "\nreserved codes: {} open, {} expired unused\n",
            self.reservations_open,
            self.reservations_expired.len()
        ));
        for r in &self.reservations_expired {
            s.push_str(&format!("  {}  expired {}\n", r.code, r.expired));
        }
        s.push_str(&format!(
            "awaiting their scan without a PDF/A declaration: {}\n",
            self.documents_without_pdfa.len()
        ));
        for code in &self.documents_without_pdfa {
            s.push_str(&format!("  {code}\n"));
        }
        s
    }

    /// Writes the JSON report to `<data>/reports/status-<date>.json`
    /// (atomically) and returns its path.
    pub fn write(&self, data: &Path) -> Result<std::path::PathBuf, RegistryError> {
        let dir = data.join(REPORTS_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| RegistryError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(format!("status-{}.json", crate::dates::today_utc()));
        let json = serde_json::to_vec_pretty(self).expect("json");
        ledger::durable::write_atomic(&path, &json)
            .map_err(|e| RegistryError::Invalid(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }
}

/// Where and how to mail reports (plain SMTP to a relay, as from a
/// university's internal mail host; TLS comes with the configuration file).
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// SMTP relay host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// Sender address.
    pub from: String,
    /// Recipient addresses.
    pub to: Vec<String>,
}

/// Mails the report as plain text.
pub fn mail(report: &StatusReport, cfg: &MailConfig) -> Result<(), RegistryError> {
    use lettre::{Message, SmtpTransport, Transport};
    let bad =
        |what: &str, e: &dyn std::fmt::Display| RegistryError::Invalid(format!("mail {what}: {e}"));
    let mut builder = Message::builder()
        .from(cfg.from.parse().map_err(|e| bad("--mail-from", &e))?)
        .subject(format!(
            "zeugnis status {}: {} waiting too long, {} quarantined",
            report.origin,
            report.waiting_too_long.len(),
            report.quarantined.len()
        ));
    for to in &cfg.to {
        builder = builder.to(to.parse().map_err(|e| bad("--mail-to", &e))?);
    }
    let message = builder
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(report.text())
        .map_err(|e| bad("message", &e))?;
    let transport = SmtpTransport::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build();
    transport
        .send(&message)
        .map_err(|e| RegistryError::External(format!("mail to {}:{}: {e}", cfg.host, cfg.port)))?;
    Ok(())
}
