//! The sender thread of the graduate mail (see [`crate::mail`]).
//!
//! Every `[mail] poll_ms` it looks at each queue entry:
//! - `sent`: the relay accepted it before; append `MailDelivered` (unless
//!   the certificate already has that delivery) and delete the entry;
//! - `failed`: given up; left for the operator (tried again at the next
//!   start of the daemon);
//! - `waiting` and due: if the certificate is archived, send it; if it is
//!   still awaiting its scan, wait; if it was revoked, voided, superseded
//!   or erased, drop the entry (no mail); if the code is not in the ledger
//!   [`super::ORPHAN_SECS`] after the entry was written, drop it (its
//!   registration never reached the ledger).
//!
//! Must not do: hold the registry lock while talking to the relay; send an
//! entry that is marked `sent`.

use super::queue::{Entry, EntryState, Queue, SentFacts};
use super::template::{Template, Templates, Values};
use super::{MailConfig, Relay};
use crate::registry::{Registry, State};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The sender: configuration, templates and the shared registry.
pub struct Sender {
    /// Backoff and poll settings.
    cfg: MailConfig,
    /// Where mails go out.
    relay: Relay,
    /// The checked texts.
    templates: Templates,
    /// The registry's data directory.
    data: std::path::PathBuf,
    /// The queue in it.
    queue: Queue,
    /// The registry: only for appending the delivery record.
    registry: Arc<Mutex<Registry>>,
    /// Certificate states, read without the registry lock (a queue of
    /// entries awaiting their scan is looked at every pass).
    reader: crate::registry::Reader,
    /// The documents to attach.
    blobs: crate::blobs::BlobStore,
    /// `/metrics` counters and gauges, when the HTTP service runs.
    metrics: Option<Arc<crate::http::metrics::Metrics>>,
}

/// What one look at an entry did (for the log and the tests).
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Not due, still awaiting its scan, or given up.
    Wait,
    /// Sent, recorded and deleted.
    Delivered,
    /// The relay refused (or the mail could not be built); retried later.
    Refused,
    /// Refused for the last allowed time: given up.
    GaveUp,
    /// Dropped without a mail (the certificate is no longer valid, or was
    /// never registered).
    Dropped,
}

fn now_s() -> i64 {
    crate::ledger::now_s()
}

impl Sender {
    /// A sender for the queue of the registry's data directory.
    pub fn new(
        cfg: MailConfig,
        relay: Relay,
        templates: Templates,
        registry: Arc<Mutex<Registry>>,
        metrics: Option<Arc<crate::http::metrics::Metrics>>,
    ) -> Sender {
        let (data, reader, blobs) = {
            let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
            (
                reg.ledger().dir().to_path_buf(),
                reg.reader(),
                reg.blobs().clone(),
            )
        };
        Sender {
            reader,
            blobs,
            queue: Queue::new(&data),
            data,
            cfg,
            relay,
            templates,
            registry,
            metrics,
        }
    }

    /// Gives every failed mail a fresh start (called when the daemon
    /// starts: the operator restarts it after fixing the relay or the
    /// address). Returns how many.
    pub fn restart_failed(&self) -> usize {
        let mut n = 0;
        for mut e in self.queue.list().unwrap_or_default().into_iter().flatten() {
            if e.state == EntryState::Failed {
                e.state = EntryState::Waiting;
                e.attempts = 0;
                e.next_attempt_s = now_s();
                match self.queue.put(&e) {
                    Ok(()) => n += 1,
                    Err(err) => tracing::warn!(error = %err, "could not restart a failed mail"),
                }
            }
        }
        n
    }

    /// One look at every entry.
    pub fn pass(&self) -> Vec<(String, Step)> {
        let listed = match self.queue.list() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "mail queue unreadable");
                return Vec::new();
            }
        };
        let mut steps = Vec::new();
        for item in listed {
            match item {
                Ok(e) => {
                    let code = e.code.clone();
                    steps.push((code, self.step(e)));
                }
                Err(e) => tracing::warn!(error = %e, "mail queue entry unreadable; left in place"),
            }
        }
        self.gauges();
        steps
    }

    fn gauges(&self) {
        if let Some(m) = &self.metrics {
            let s = super::status(&self.data);
            m.mail_queue(s.pending, s.retrying.len() as u64, s.failed.len() as u64);
        }
    }

    fn step(&self, mut e: Entry) -> Step {
        match e.state {
            EntryState::Failed => return Step::Wait,
            EntryState::Sent => return self.finish(&e),
            EntryState::Waiting if e.next_attempt_s > now_s() => return Step::Wait,
            EntryState::Waiting => {}
        }
        let cert = match self.reader.get(&e.code) {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(code = %e.code, error = %err, "mail: certificate state unreadable; retried");
                return Step::Wait;
            }
        };
        match cert {
            None if now_s() - e.created_s > super::ORPHAN_SECS => {
                return self.drop_entry(&e, "its code never reached the ledger");
            }
            None => return Step::Wait,
            Some(c) if c.erased => return self.drop_entry(&e, "the holder data was erased"),
            Some(c) if c.state == State::AwaitingScan => return Step::Wait,
            Some(c) if c.state != State::Archived => {
                return self.drop_entry(&e, &format!("the certificate is {}", c.state.name()))
            }
            Some(_) => {}
        }
        let template = self.templates.for_language(&e.language);
        let outcome = self.send(&e, template, &self.blobs);
        match outcome {
            Ok(()) => {
                e.state = EntryState::Sent;
                e.sent = Some(SentFacts {
                    at_s: now_s(),
                    template: template.origin.to_string(),
                    template_blake3: hex::encode(template.blake3),
                });
                self.count(true);
                // The mark is durable before anything else happens: from
                // here on the entry is never sent again.
                if let Err(err) = self.queue.put(&e) {
                    tracing::error!(code = %e.code, error = %err,
                        "mail accepted by the relay but the sent mark could not be written; \
                         it may be sent again after a restart");
                    return Step::Refused;
                }
                tracing::info!(code = %e.code, "mail to the graduate accepted by the relay");
                self.finish(&e)
            }
            Err(why) => {
                // The relay's answer may quote the address; the status
                // report and the log are not the place for it.
                let why = redact(&why, &e.to);
                self.count(false);
                e.attempts = e.attempts.saturating_add(1);
                e.last_error = Some(why.clone());
                let gave_up = e.attempts >= self.cfg.attempts_max;
                if gave_up {
                    e.state = EntryState::Failed;
                    tracing::error!(code = %e.code, attempts = e.attempts, error = %why,
                        "mail to the graduate given up; listed as failed in the status report, \
                         tried again when the daemon starts");
                } else {
                    let wait = self.cfg.backoff_secs(e.attempts);
                    e.next_attempt_s = now_s().saturating_add(wait as i64);
                    tracing::warn!(code = %e.code, attempts = e.attempts, retry_in_s = wait,
                        error = %why, "mail to the graduate refused; retried");
                }
                if let Err(err) = self.queue.put(&e) {
                    tracing::warn!(code = %e.code, error = %err, "could not note the refused attempt");
                }
                if gave_up {
                    Step::GaveUp
                } else {
                    Step::Refused
                }
            }
        }
    }

    fn count(&self, ok: bool) {
        if let Some(m) = &self.metrics {
            m.mail_attempt(ok);
        }
    }

    fn drop_entry(&self, e: &Entry, why: &str) -> Step {
        match self.queue.remove(&e.code) {
            Ok(_) => {
                tracing::info!(code = %e.code, why, "mail to the graduate dropped, not sent");
                Step::Dropped
            }
            Err(err) => {
                tracing::warn!(code = %e.code, error = %err, "could not drop a mail entry");
                Step::Wait
            }
        }
    }

    /// Records the delivery of an entry marked `sent`, then deletes it.
    fn finish(&self, e: &Entry) -> Step {
        let Some(sent) = &e.sent else {
            tracing::warn!(code = %e.code, "mail entry marked sent without its facts; left for the operator");
            return Step::Wait;
        };
        let hash = |h: &str| {
            hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
        };
        let documents: Option<Vec<[u8; 32]>> = e.documents.iter().map(|d| hash(d)).collect();
        let (Some(documents), Some(template_blake3), Some(address_hash)) = (
            documents,
            hash(&sent.template_blake3),
            hash(&e.address_hash),
        ) else {
            tracing::warn!(code = %e.code, "mail entry with a bad hash; left for the operator");
            return Step::Wait;
        };
        let recorded = {
            let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
            reg.record_mail_delivery(crate::registry::MailDelivery {
                code: e.code.clone(),
                language: e.language.clone(),
                template: sent.template.clone(),
                template_blake3,
                documents,
                address_hash,
                delivered_s: sent.at_s,
            })
        };
        if let Err(err) = recorded {
            tracing::warn!(code = %e.code, error = %err, "mail sent, but its delivery record failed; retried");
            return Step::Wait;
        }
        if let Err(err) = self.queue.remove(&e.code) {
            tracing::warn!(code = %e.code, error = %err, "mail recorded, but its queue entry could not be deleted; retried");
            return Step::Wait;
        }
        Step::Delivered
    }

    /// Builds the mail of `e` and hands it to the relay.
    fn send(
        &self,
        e: &Entry,
        template: &Template,
        blobs: &crate::blobs::BlobStore,
    ) -> Result<(), String> {
        use lettre::message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart};
        use lettre::{Message, SmtpTransport, Transport};
        let code = crate::codes::Code::parse(&e.code)
            .map(|c| c.formatted())
            .unwrap_or_else(|_| e.code.clone());
        let (subject, body) = template.render(&Values {
            code: &code,
            url: &e.url,
            name: &e.name,
        });
        let from: Mailbox = self
            .relay
            .from
            .parse()
            .map_err(|err| format!("sender {:?}: {err}", self.relay.from))?;
        let to: Mailbox =
            e.to.parse()
                .map_err(|err| format!("holder.email of {}: {err}", e.code))?;
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(body));
        let pdf = ContentType::parse("application/pdf").map_err(|err| err.to_string())?;
        for (i, d) in e.documents.iter().enumerate() {
            let hash: [u8; 32] = hex::decode(d)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("document {d:?} is not a BLAKE3 hash"))?;
            let bytes = blobs
                .get(&hash)
                .map_err(|err| format!("document {d}: {err}"))?;
            let name = if i == 0 {
                format!("{}.pdf", e.code)
            } else {
                format!("{}-{}.pdf", e.code, i + 1)
            };
            parts = parts.singlepart(Attachment::new(name).body(bytes, pdf.clone()));
        }
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .multipart(parts)
            .map_err(|err| format!("message: {err}"))?;
        SmtpTransport::builder_dangerous(&self.relay.host)
            .port(self.relay.port)
            .timeout(Some(Duration::from_secs(super::SMTP_TIMEOUT_SECS)))
            .build()
            .send(&message)
            .map(|_| ())
            .map_err(|err| format!("relay {}:{}: {err}", self.relay.host, self.relay.port))
    }
}

/// `text` with every occurrence of `address` (ASCII case ignored) replaced
/// by `<holder.email>`.
pub fn redact(text: &str, address: &str) -> String {
    if address.is_empty() {
        return text.to_string();
    }
    let (lower, needle) = (text.to_ascii_lowercase(), address.to_ascii_lowercase());
    let mut out = String::new();
    let mut at = 0;
    // ASCII lowercasing keeps every byte offset, so offsets in `lower`
    // are offsets in `text`.
    while let Some(i) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + i]);
        out.push_str("<holder.email>");
        at += i + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

/// The sender thread: a pass every `poll_ms` until `stop`.
pub fn run(sender: Sender, stop: Arc<AtomicBool>) {
    let restarted = sender.restart_failed();
    if restarted > 0 {
        tracing::info!(
            mails = restarted,
            "failed graduate mails are tried again from the start"
        );
    }
    let poll = Duration::from_millis(sender.cfg.poll_ms);
    while !stop.load(Ordering::SeqCst) {
        for (code, step) in sender.pass() {
            if step == Step::Delivered {
                tracing::info!(code, "mail to the graduate delivered and recorded");
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
        // Sleep in short steps so a stop is seen quickly.
        let mut slept = Duration::ZERO;
        while slept < poll && !stop.load(Ordering::SeqCst) {
            let step = Duration::from_millis(50).min(poll - slept);
            std::thread::sleep(step);
            slept += step;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_address_is_redacted_from_relay_answers() {
        assert_eq!(
            super::redact(
                "550 5.1.1 <Erika@Uni.example>: unknown; erika@uni.example",
                "erika@uni.example"
            ),
            "550 5.1.1 <<holder.email>>: unknown; <holder.email>"
        );
        assert_eq!(super::redact("451 busy", "a@b.example"), "451 busy");
    }
}
