//! Status reports: what an operator reads every day (the Göttingen lesson:
//! the document system sends status mails regularly).
//!
//! Owns: the report (counts by state, registrations waiting for their scan
//! longer than a limit with their codes, quarantined scans with reasons, the
//! last fixity audit, ledger size and growth, free disk, key age), its text
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

/// The status report.
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
    pub waiting_too_long: Vec<(String, u64)>,
    /// Quarantined scans (empty if the quarantine folder does not exist).
    pub quarantined: Vec<Quarantined>,
    /// Records in the ledger.
    pub ledger_records: u64,
    /// Records appended in the last 7 days.
    pub records_last_7_days: u64,
    /// Records appended in the last 30 days.
    pub records_last_30_days: u64,
    /// Segment bytes on disk.
    pub ledger_bytes: u64,
    /// The last fixity audit: (seq, time, blobs checked, failures), if any.
    pub last_fixity: Option<(u64, i64, u64, u64)>,
    /// Free bytes on the data directory's file system.
    pub disk_free_bytes: u64,
    /// Age in days of each active signing key (key ID hex, days).
    pub key_age_days: Vec<(String, u64)>,
    /// Reserved codes not yet used and not expired (`zeugnis reserve`).
    #[serde(default)]
    pub reservations_open: u64,
    /// Reserved codes that expired unused: (code, expiry date), the
    /// latest first, at most [`REPORT_ITEMS_MAX`].
    #[serde(default)]
    pub reservations_expired: Vec<(String, String)>,
    /// Certificates awaiting their scan whose documents do not declare
    /// PDF/A (code), at most [`REPORT_ITEMS_MAX`].
    #[serde(default)]
    pub documents_without_pdfa: Vec<String>,
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
        .map(|(t, code)| (code, crate::dates::date_of_unix_secs(t)))
        .collect();
    let (mut last7, mut last30, mut last_fixity, mut ledger_bytes) = (0, 0, None, 0);
    let mut times = BTreeMap::new();
    let mut key_added: Vec<(u64, i64)> = Vec::new();
    let wanted: std::collections::BTreeSet<u64> = awaiting.iter().map(|(_, s)| *s).collect();
    ledger::read_records(ledger.dir(), 0, ledger.size(), &mut |seq, bytes| {
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
                } => last_fixity = Some((seq, time, blobs_checked, failures.len() as u64)),
                _ => key_added.push((seq, time)),
            }
        }
        Ok(())
    })?;
    let mut waiting_too_long: Vec<(String, u64)> = awaiting
        .iter()
        .filter_map(|(code, seq)| {
            let days = ((now - times.get(seq).copied().unwrap_or(now)) / DAY_S).max(0) as u64;
            (days > waiting_days_limit).then(|| (code.clone(), days))
        })
        .collect();
    waiting_too_long.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
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
            (
                format!("{:08x}", k.verifier.key_id),
                ((now - added) / DAY_S).max(0) as u64,
            )
        })
        .collect();
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
        ledger_records: ledger.size(),
        records_last_7_days: last7,
        records_last_30_days: last30,
        ledger_bytes,
        last_fixity,
        disk_free_bytes,
        key_age_days,
        reservations_open,
        reservations_expired,
        documents_without_pdfa,
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

fn quarantined(scans: &Path) -> Vec<Quarantined> {
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
        for (code, days) in &self.waiting_too_long {
            s.push_str(&format!("  {code}  {days} days\n"));
        }
        s.push_str(&format!("quarantined scans: {}\n", self.quarantined.len()));
        for q in &self.quarantined {
            s.push_str(&format!("  {}  {}\n", q.file, q.reason));
        }
        s.push_str(&format!(
            "\nledger: {} records, {} bytes; +{} in 7 days, +{} in 30 days\n",
            self.ledger_records,
            self.ledger_bytes,
            self.records_last_7_days,
            self.records_last_30_days
        ));
        match self.last_fixity {
            Some((seq, time, blobs, failures)) => s.push_str(&format!(
                "last fixity audit: record {seq}, {} days ago, {blobs} blobs, {failures} failure(s)\n",
                (self.generated_at - time) / DAY_S
            )),
            None => s.push_str("last fixity audit: never (run `zeugnis audit --fixity`)\n"),
        }
        s.push_str(&format!("disk free: {} bytes\n", self.disk_free_bytes));
        for (id, days) in &self.key_age_days {
            s.push_str(&format!("signing key {id}: {days} days old\n"));
        }
        s.push_str(&format!(
            "\nreserved codes: {} open, {} expired unused\n",
            self.reservations_open,
            self.reservations_expired.len()
        ));
        for (code, date) in &self.reservations_expired {
            s.push_str(&format!("  {code}  expired {date}\n"));
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
