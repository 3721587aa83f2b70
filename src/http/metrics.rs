//! Prometheus metrics of the daemon, served at `GET /metrics`.
//!
//! Owns: the metric families (requests by listener, route and status,
//! latency histogram by route, connections, rate-limit refusals, intake
//! outcomes, ledger size, admin fixity-audit progress) and their text encoding. Must not do: use a label
//! whose values come from a request (codes, paths, addresses): every label
//! value is from a fixed set, so the number of series is bounded.

use super::Listener;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency buckets, in seconds (1 ms .. 10 s).
pub const LATENCY_BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Intake outcomes counted under their own name; anything else is `other`.
pub const INTAKE_OUTCOMES: [&str; 4] = ["archived", "waiting", "quarantined", "duplicate"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InboxLabels {
    kind: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The daemon's metrics.
pub struct Metrics {
    /// Holds every family for encoding.
    registry: Registry,
    /// `zeugnis_http_requests_total{listener,route,status}`.
    requests: Family<RequestLabels, Counter>,
    /// `zeugnis_http_request_duration_seconds{route}`.
    latency: HistogramFamily,
    /// `zeugnis_http_rate_limited_total{route}`.
    rate_limited: Family<RouteLabels, Counter>,
    /// `zeugnis_http_connections_refused_total{listener}` (over the limit).
    refused: Family<ListenerLabels, Counter>,
    /// `zeugnis_http_connections_open{listener}`.
    open: Family<ListenerLabels, Gauge>,
    /// `zeugnis_intake_files_total{outcome}`.
    intake: Family<OutcomeLabels, Counter>,
    /// `zeugnis_ledger_records`: set when `/metrics` is scraped.
    ledger_records: Gauge,
    /// `zeugnis_intake_inbox_entries{kind}`: skipped and unsettled entries.
    inbox: Family<InboxLabels, Gauge>,
    /// `zeugnis_publish_checkpoints_total{target}` (`dir`, `mail`).
    published: Family<TargetLabels, Counter>,
    /// `zeugnis_publish_failures_total{target}` (`dir`, `mail`).
    publish_failures: Family<TargetLabels, Counter>,
    /// `zeugnis_fixity_running`: 1 while an admin-started fixity audit runs.
    fixity_running: Gauge,
    /// `zeugnis_fixity_checked_bytes`: bytes re-hashed by the running (or
    /// last) admin-started fixity audit.
    fixity_checked: Gauge,
    /// `zeugnis_fixity_total_bytes`: bytes that audit has to re-hash.
    fixity_total: Gauge,
    /// `zeugnis_ledger_verification_pending`: 1 while the background
    /// verification after a fast open runs.
    verification_pending: Gauge,
    /// `zeugnis_ledger_verified_records`: records it has verified so far.
    verification_checked: Gauge,
    /// `zeugnis_ledger_damaged`: 1 once it found damage (writes refused).
    ledger_damaged: Gauge,
    /// `zeugnis_mail_queue_entries{kind}`: graduate mails `pending`, of
    /// those `retrying`, and `failed` (given up).
    mail_queue: Family<InboxLabels, Gauge>,
    /// `zeugnis_mail_attempts_total{outcome}`: `sent` or `refused`.
    mail_attempts: Family<OutcomeLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_S)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics, registered under their names.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let rate_limited = Family::<RouteLabels, Counter>::default();
        let refused = Family::<ListenerLabels, Counter>::default();
        let open = Family::<ListenerLabels, Gauge>::default();
        let intake = Family::<OutcomeLabels, Counter>::default();
        let ledger_records = Gauge::default();
        let inbox = Family::<InboxLabels, Gauge>::default();
        registry.register(
            "zeugnis_intake_inbox_entries",
            "Inbox entries the intake cannot finish, by kind: skipped (cannot be claimed, moved or quarantined), unsettled (not settled for more than 10 minutes)",
            inbox.clone(),
        );
        let published = Family::<TargetLabels, Counter>::default();
        let publish_failures = Family::<TargetLabels, Counter>::default();
        registry.register(
            "zeugnis_publish_checkpoints",
            "Checkpoints published outside the data directory, by target (dir, mail)",
            published.clone(),
        );
        registry.register(
            "zeugnis_publish_failures",
            "Failed attempts to publish a checkpoint, by target (dir, mail)",
            publish_failures.clone(),
        );
        let (fixity_running, fixity_checked, fixity_total) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "zeugnis_http_requests",
            "HTTP requests answered, by listener, route and status",
            requests.clone(),
        );
        registry.register(
            "zeugnis_http_request_duration_seconds",
            "Time from request head to answer, by route",
            latency.clone(),
        );
        registry.register(
            "zeugnis_http_rate_limited",
            "Requests refused with 429 by the rate limits, by route",
            rate_limited.clone(),
        );
        registry.register(
            "zeugnis_http_connections_refused",
            "Connections refused with 503 over the connection limit",
            refused.clone(),
        );
        registry.register(
            "zeugnis_http_connections_open",
            "Connections currently open",
            open.clone(),
        );
        registry.register(
            "zeugnis_intake_files",
            "Scan files handled by the intake, by outcome",
            intake.clone(),
        );
        registry.register(
            "zeugnis_ledger_records",
            "Records in the ledger",
            ledger_records.clone(),
        );
        registry.register(
            "zeugnis_fixity_running",
            "1 while a fixity audit started through the admin API runs",
            fixity_running.clone(),
        );
        registry.register(
            "zeugnis_fixity_checked_bytes",
            "Bytes re-hashed so far by the running (or last) admin fixity audit",
            fixity_checked.clone(),
        );
        registry.register(
            "zeugnis_fixity_total_bytes",
            "Bytes the running (or last) admin fixity audit re-hashes in all",
            fixity_total.clone(),
        );
        let (verification_pending, verification_checked, ledger_damaged) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "zeugnis_ledger_verification_pending",
            "1 while the full verification of the ledger after a fast open runs in the background",
            verification_pending.clone(),
        );
        registry.register(
            "zeugnis_ledger_verified_records",
            "Records the background verification has checked so far",
            verification_checked.clone(),
        );
        registry.register(
            "zeugnis_ledger_damaged",
            "1 once the background verification found damage (writes are refused)",
            ledger_damaged.clone(),
        );
        let mail_queue = Family::<InboxLabels, Gauge>::default();
        registry.register(
            "zeugnis_mail_queue_entries",
            "Mails to graduates in the queue, by kind: pending (not given up), retrying (refused at least once), failed (given up after mail.attempts_max)",
            mail_queue.clone(),
        );
        let mail_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "zeugnis_mail_attempts",
            "Attempts to hand a mail to a graduate to the SMTP relay, by outcome (sent, refused)",
            mail_attempts.clone(),
        );
        Metrics {
            mail_queue,
            mail_attempts,
            verification_pending,
            verification_checked,
            ledger_damaged,
            registry,
            requests,
            latency,
            rate_limited,
            refused,
            open,
            intake,
            ledger_records,
            inbox,
            published,
            publish_failures,
            fixity_running,
            fixity_checked,
            fixity_total,
        }
    }

    /// Sets the fixity-audit gauges (called when `/metrics` is scraped).
    pub fn fixity(&self, running: bool, checked_bytes: u64, total_bytes: u64) {
        self.fixity_running.set(i64::from(running));
        self.fixity_checked
            .set(i64::try_from(checked_bytes).unwrap_or(i64::MAX));
        self.fixity_total
            .set(i64::try_from(total_bytes).unwrap_or(i64::MAX));
    }

    /// Sets the ledger-verification gauges (called when `/metrics` is
    /// scraped).
    pub fn verification(&self, state: &crate::ledger::verify::VerifyState) {
        use crate::ledger::verify::VerifyState;
        let (pending, checked, damaged) = match state {
            VerifyState::Pending { checked, .. } => (1, *checked, 0),
            VerifyState::Damaged(_) => (0, 0, 1),
            VerifyState::Verified | VerifyState::NotRun => (0, 0, 0),
        };
        self.verification_pending.set(pending);
        self.verification_checked
            .set(i64::try_from(checked).unwrap_or(i64::MAX));
        self.ledger_damaged.set(damaged);
    }

    /// Counts one checkpoint publication attempt to a `target` (`dir` or
    /// `mail`; anything else counts as `other`).
    pub fn publish(&self, target: &str, ok: bool) {
        let target = ["dir", "mail"]
            .into_iter()
            .find(|t| *t == target)
            .unwrap_or("other");
        let family = if ok {
            &self.published
        } else {
            &self.publish_failures
        };
        family.get_or_create(&TargetLabels { target }).inc();
    }

    /// Sets the graduate-mail queue gauges (after each pass of the sender).
    pub fn mail_queue(&self, pending: u64, retrying: u64, failed: u64) {
        for (kind, n) in [
            ("pending", pending),
            ("retrying", retrying),
            ("failed", failed),
        ] {
            self.mail_queue
                .get_or_create(&InboxLabels { kind })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts one attempt to hand a graduate mail to the relay.
    pub fn mail_attempt(&self, sent: bool) {
        let outcome = if sent { "sent" } else { "refused" };
        self.mail_attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Sets the inbox gauges from the intake's state after a pass.
    pub fn inbox(&self, skipped: usize, unsettled: usize) {
        for (kind, n) in [("skipped", skipped), ("unsettled", unsettled)] {
            self.inbox
                .get_or_create(&InboxLabels { kind })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts one scan file handled by the intake (`archived`, `waiting`,
    /// `quarantined`, `duplicate`; other values count as `other`).
    pub fn intake(&self, outcome: &str) {
        let outcome = INTAKE_OUTCOMES
            .iter()
            .find(|o| **o == outcome)
            .copied()
            .unwrap_or("other");
        self.intake.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts one answered request and its latency.
    pub(crate) fn request(
        &self,
        listener: Listener,
        route: &'static str,
        status: u16,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                listener: listener.name(),
                route,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    pub(crate) fn rate_limited(&self, route: &'static str) {
        self.rate_limited
            .get_or_create(&RouteLabels { route })
            .inc();
    }

    pub(crate) fn connection_refused(&self, listener: Listener) {
        self.refused
            .get_or_create(&ListenerLabels {
                listener: listener.name(),
            })
            .inc();
    }

    pub(crate) fn connection_opened(&self, listener: Listener) {
        self.open
            .get_or_create(&ListenerLabels {
                listener: listener.name(),
            })
            .inc();
    }

    pub(crate) fn connection_closed(&self, listener: Listener) {
        self.open
            .get_or_create(&ListenerLabels {
                listener: listener.name(),
            })
            .dec();
    }

    /// The exposition text (OpenMetrics text format, which Prometheus reads),
    /// after setting the ledger size.
    pub fn encode(&self, ledger_records: u64) -> String {
        self.ledger_records
            .set(i64::try_from(ledger_records).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
