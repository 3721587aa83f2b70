//! `zeugnis run`: the daemon's wiring and shutdown.
//!
//! Owns: opening (or creating) the ledger, the shared registry, the scan
//! intake thread with its wake-ups (file events, periodic rescan), the
//! periodic status report, the checkpoint publisher thread
//! (`crate::publish`), signal handling (SIGINT/SIGTERM: finish the
//! current batch, leave the rest in `scans/work/` for the next start).
//! Must not do: domain logic; anything the library modules own.

use crate::config::Config;
use crate::ledger::{self, Ledger, LedgerError, LedgerOptions};
use crate::registry::{Registry, RegistryError};
use crate::scans::watch::{self, Wake};
use crate::scans::{Intake, IntakeError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shortest and longest sleep between passes while a file is settling.
const SETTLE_POLL_MS: (u64, u64) = (20, 1_000);

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The ledger could not be opened or written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The intake failed in a way that must stop the daemon.
    #[error(transparent)]
    Intake(#[from] IntakeError),
    /// The HTTP service could not start (bad token file, address in use...).
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    /// Starting a thread or the runtime failed.
    #[error("{0}")]
    Start(String),
    /// A graduate-mail template is refused (names the file and why).
    #[error(transparent)]
    MailTemplate(#[from] crate::mail::template::TemplateError),
}

impl DaemonError {
    /// Exit code: 2 for bad configuration or input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Ledger(e) => e.exit_code(),
            DaemonError::Registry(e) => e.exit_code(),
            DaemonError::Http(crate::http::HttpError::Config(_))
            | DaemonError::Http(crate::http::HttpError::AdminToken { .. })
            | DaemonError::MailTemplate(_) => 2,
            DaemonError::Intake(_) | DaemonError::Start(_) | DaemonError::Http(_) => 1,
        }
    }
}

/// Opens the ledger in `data`, creating it (with `origin`) when absent.
fn open_or_init(data: &Path, origin: &str) -> Result<Ledger, LedgerError> {
    if ledger::is_initialized(data)? {
        // Trusts the signed checkpoint and checks the rest in the
        // background (`start_verification`): ready at a cost that does not
        // grow with the ledger.
        Ledger::open_fast(data, LedgerOptions::default())
    } else {
        tracing::info!(data = %data.display(), origin, "no ledger yet; creating one");
        Ledger::init(data, origin, LedgerOptions::default())
    }
}

/// Test hook: when this environment variable names a file, the daemon,
/// once it has received SIGTERM/SIGINT and refuses control requests, waits
/// until that file exists before it goes on stopping (at most
/// [`SHUTDOWN_GATE_WAIT_MS_MAX`]). Lets a test send a command while the
/// daemon is shutting down, without timing.
pub const SHUTDOWN_GATE_ENV: &str = "ZEUGNIS_TEST_SHUTDOWN_GATE";
/// Longest wait at the shutdown gate, in milliseconds.
pub const SHUTDOWN_GATE_WAIT_MS_MAX: u64 = 180_000;

/// The environment variable systemd sets for a `Type=notify` service.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Tells systemd the service's state (`READY=1`, `STOPPING=1`, ...) when it
/// runs as a `Type=notify` unit (the `sd_notify` protocol: one datagram to
/// the Unix socket named by `NOTIFY_SOCKET`, `@` for the abstract
/// namespace). Without that variable it does nothing; a failure is logged,
/// never fatal.
pub fn sd_notify(state: &str) {
    let Some(target) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
        return;
    };
    let sent = (|| -> std::io::Result<()> {
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str());
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), &target)?;
        }
        Ok(())
    })();
    if let Err(e) = sent {
        tracing::warn!(error = %e, state, "sd_notify failed");
    }
}

/// A scan-intake job sent by a control request (`zeugnis ingest` while
/// the daemon runs): run on the intake thread, which owns the inbox.
struct IngestJob {
    /// Absolute paths of the files.
    files: Vec<PathBuf>,
    /// Where the outcomes go.
    reply: mpsc::Sender<Result<Vec<crate::scans::Outcome>, IntakeError>>,
}

/// Runs control-socket requests against the daemon's registry.
struct ControlHandler {
    /// The registry shared with the intake and the HTTP service.
    registry: Arc<Mutex<Registry>>,
    /// Defaults for the requests (inbox, data directory, waiting days).
    ctx: crate::control::Context,
    /// Set on SIGTERM/SIGINT: from then on every request is refused.
    stopping: Arc<AtomicBool>,
    /// Ingest jobs for the intake thread.
    jobs: Mutex<mpsc::Sender<IngestJob>>,
    /// Wakes the intake (after a registration, or for an ingest job).
    wake: Mutex<mpsc::Sender<Wake>>,
}

/// True if `a` and `b` name the same existing folder.
fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The refusal while stopping: nothing was done.
fn stopping_reply() -> crate::control::Reply {
    crate::control::Reply::error(
        1,
        "the daemon is shutting down; the command was not run and nothing was changed. \
         Run it again once the daemon has stopped (the command then opens the ledger \
         itself) or has been restarted",
    )
}

impl crate::control::Handler for ControlHandler {
    fn handle(&self, req: crate::control::Request) -> crate::control::Reply {
        use crate::control::Request;
        if self.stopping.load(Ordering::SeqCst) {
            return stopping_reply();
        }
        let writes = req.writes();
        let reply = match req.without_progress() {
            Request::Ingest {
                scans: Some(asked), ..
            } if !same_folder(&asked, &self.ctx.scans) => crate::control::Reply::error(
                2,
                &format!(
                    "--scans {}: the running daemon takes scans from its inbox {}; \
                     leave out --scans, or stop the daemon to use another inbox",
                    asked.display(),
                    self.ctx.scans.display()
                ),
            ),
            Request::Ingest {
                identify: Some(_), ..
            } => crate::control::Reply::error(
                2,
                "--identify: the running daemon identifies scans as its [intake] identify says; \
                 change the configuration and restart it, or stop the daemon to ingest with --identify",
            ),
            Request::Ingest { files, json, .. } => {
                let (tx, rx) = mpsc::channel();
                let sent = self
                    .jobs
                    .lock()
                    .map(|j| j.send(IngestJob { files, reply: tx }).is_ok())
                    .unwrap_or(false);
                if let Ok(w) = self.wake.lock() {
                    let _ = w.send(Wake::Files);
                }
                match (sent, rx.recv()) {
                    (true, Ok(result)) => crate::control::ingest_reply(result, json),
                    // The intake thread ended before it took the job: it
                    // never ran.
                    _ => stopping_reply(),
                }
            }
            req => {
                let mut reg =
                    match self.registry.lock() {
                        Ok(r) => r,
                        Err(_) => return crate::control::Reply::error(
                            1,
                            "the registry lock is poisoned (a writer panicked); restart the daemon",
                        ),
                    };
                // The signal may have come while this request waited for
                // the lock (e.g. behind an intake batch).
                if self.stopping.load(Ordering::SeqCst) {
                    return stopping_reply();
                }
                crate::control::execute(req, &mut reg, &self.ctx)
            }
        };
        if writes && reply.exit != 2 {
            // A registration may be what a waiting scan waits for.
            if let Ok(w) = self.wake.lock() {
                let _ = w.send(Wake::Registered);
            }
        }
        reply
    }
}

/// Runs the daemon until SIGINT or SIGTERM (or a fatal ledger error).
///
/// Start-up order: the configuration is already validated (by
/// [`Config::load`]); the signal handlers are installed and both HTTP
/// listeners are bound *before* anything is created on disk, so a busy
/// port stops the start with nothing left behind. Then the ledger is opened
/// (or created), the control socket bound, and the services started.
pub fn run(data: &Path, cfg: Config, origin: &str) -> Result<(), DaemonError> {
    let data: PathBuf = data.to_path_buf();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Start(format!("tokio runtime: {e}")))?;
    // Signal handlers first: a SIGTERM from now on stops cleanly.
    let (mut term, mut int) = {
        let _guard = runtime.enter();
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate())
                .map_err(|e| DaemonError::Start(format!("SIGTERM handler: {e}")))?,
            signal(SignalKind::interrupt())
                .map_err(|e| DaemonError::Start(format!("SIGINT handler: {e}")))?,
        )
    };
    tracing::info!(
        data = %data.display(),
        scans = %cfg.scans.display(),
        quarantine = %cfg.scans.join(crate::scans::claim::QUARANTINE_DIR).display(),
        "zeugnis {} starting: ledger and blobs in the data directory, scans read from the inbox",
        env!("CARGO_PKG_VERSION")
    );
    // The listeners are bound before anything touches the disk: a busy
    // port or a bad token file stops the start with a clear error and
    // leaves no fresh ledger behind.
    let http_cfg = cfg.http_effective();
    if let Some(p) = &http_cfg.admin_token_file {
        crate::http::read_admin_token(p)?;
    }
    // Templates are checked before anything touches the disk, too.
    let mail_templates = crate::mail::template::Templates::load(cfg.mail.templates.as_deref())?;
    let bound = runtime.block_on(crate::http::bind(&http_cfg))?;
    let mut ledger = open_or_init(&data, origin)?;
    let verification = ledger.take_verification();
    tracing::info!(
        records = ledger.size(),
        checkpoint_size = ledger.checkpoint().size,
        verification = if verification.is_some() {
            "in the background"
        } else {
            "done at open"
        },
        "ledger open, recovered and checkpointed"
    );
    if let Some(target) = verification {
        start_verification(target, ledger.verification())?;
    }
    let mut registry = Registry::over(ledger, &cfg.base_url)?;
    registry.set_reservation_days(cfg.reserve.expiry_days);
    let registry = Arc::new(Mutex::new(registry));
    let mut intake = Intake::new(cfg.intake.clone(), &cfg.scans, Arc::clone(&registry))?;

    let stop = Arc::new(AtomicBool::new(false));
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>();
    let (jobs_tx, jobs_rx) = mpsc::channel::<IngestJob>();
    let _watcher = watch::watch(&cfg.scans, wake_tx.clone());

    let mut state = crate::http::AppState::new(&http_cfg, &data, Arc::clone(&registry))?;
    state.set_exports(cfg.exports.clone())?;
    state.set_desk(cfg.desk.clone(), &data)?;
    let wake_on_write = wake_tx.clone();
    state.on_write(Arc::new(move || {
        // A registration may be what a waiting scan waits for.
        let _ = wake_on_write.send(Wake::Registered);
    }));
    let metrics = state.metrics();
    let publish_metrics = Arc::clone(&metrics);
    let mail_metrics = Arc::clone(&metrics);
    let inbox_metrics = Arc::clone(&metrics);
    intake.on_outcome(Arc::new(move |o| metrics.intake(&o.outcome)));
    intake.on_health(Arc::new(move |h| {
        inbox_metrics.inbox(h.skipped.len(), h.unsettled.len())
    }));
    let control = {
        let _guard = runtime.enter();
        crate::control::bind(&data).map_err(|e| DaemonError::Start(e.to_string()))?
    };
    tracing::info!(
        public = %bound.public_addr(),
        admin = %bound.admin_addr(),
        admin_api = http_cfg.admin_token_file.is_some(),
        "verification service listening"
    );
    tracing::info!(socket = %control.path().display(), "control socket listening (mode 0600): CLI commands run here while the daemon runs");
    let (http_stop_tx, http_stop_rx) = tokio::sync::watch::channel(false);
    let http_task = runtime.spawn(bound.serve(Arc::new(state), http_stop_rx.clone()));
    let stopping = Arc::new(AtomicBool::new(false));
    let handler = Arc::new(ControlHandler {
        registry: Arc::clone(&registry),
        ctx: crate::control::Context {
            data: data.clone(),
            scans: cfg.scans.clone(),
            waiting_days: cfg.report.waiting_days,
            scan_bytes_max: cfg.intake.file_bytes_max,
        },
        stopping: Arc::clone(&stopping),
        jobs: Mutex::new(jobs_tx),
        wake: Mutex::new(wake_tx.clone()),
    });
    let control_task = runtime.spawn(control.serve(handler, http_stop_rx));
    let rescan = Duration::from_secs(cfg.intake.rescan_secs);
    let settle =
        Duration::from_millis((cfg.intake.stable_ms / 4).clamp(SETTLE_POLL_MS.0, SETTLE_POLL_MS.1));

    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<(), IntakeError>>();

    let intake_stop = Arc::clone(&stop);
    let intake_thread = std::thread::Builder::new()
        .name("zeugnis-intake".into())
        .spawn(move || {
            let result = intake_loop(
                &mut intake,
                &intake_stop,
                &wake_rx,
                &jobs_rx,
                rescan,
                settle,
            );
            let _ = done_tx.send(result);
        })
        .map_err(|e| DaemonError::Start(format!("intake thread: {e}")))?;

    // Checkpoints published outside the data directory (FORMAT.md §13.1).
    let publish_thread = if cfg.publish.enabled() {
        let publisher = crate::publish::Publisher::new(
            cfg.publish.clone(),
            cfg.publish_mail(),
            Some(publish_metrics),
        )
        .map_err(|e| DaemonError::Start(format!("publish.mail_interval: {e}")))?;
        tracing::info!(dirs = ?cfg.publish.dirs, mail_to = ?cfg.publish.mail_to, "publishing checkpoints");
        let (reg, stop) = (Arc::clone(&registry), Arc::clone(&stop));
        Some(
            std::thread::Builder::new()
                .name("zeugnis-publish".into())
                .spawn(move || crate::publish::run(publisher, reg, stop))
                .map_err(|e| DaemonError::Start(format!("publish thread: {e}")))?,
        )
    } else {
        None
    };

    // The mail to the graduate (crate::mail): entries wait in the queue
    // until relay and sender are configured.
    let mail_thread = match cfg.mail.relay(&cfg.report) {
        Some(relay) => {
            tracing::info!(relay = %format!("{}:{}", relay.host, relay.port), "sending mails to graduates");
            let sender = crate::mail::sender::Sender::new(
                cfg.mail.clone(),
                relay,
                mail_templates,
                Arc::clone(&registry),
                Some(mail_metrics),
            );
            let stop = Arc::clone(&stop);
            Some(
                std::thread::Builder::new()
                    .name("zeugnis-mail".into())
                    .spawn(move || crate::mail::sender::run(sender, stop))
                    .map_err(|e| DaemonError::Start(format!("mail thread: {e}")))?,
            )
        }
        None => {
            let queued = crate::mail::status(&data).pending;
            if queued > 0 {
                tracing::warn!(mails = queued, "mails to graduates are queued but no relay is configured ([mail] smtp/from or [report] smtp/mail_from); they wait");
            }
            None
        }
    };

    // Listeners bound, ledger open, control socket and services started.
    sd_notify("READY=1\nSTATUS=serving");
    let report_cfg = cfg.report.clone();
    let (report_registry, report_data, report_scans) =
        (Arc::clone(&registry), data.clone(), cfg.scans.clone());
    let result = runtime.block_on(async move {
        if report_cfg.interval_secs > 0 {
            tokio::spawn(periodic_report(
                report_cfg,
                report_registry,
                report_data,
                report_scans,
            ));
        }
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: finishing the current batch, then stopping"),
            _ = int.recv() => tracing::info!("SIGINT: finishing the current batch, then stopping"),
            r = done_rx => {
                // The intake ended by itself: only a fatal error does that.
                return match r {
                    Ok(Err(e)) => Err(DaemonError::Intake(e)),
                    _ => Ok(()),
                };
            }
        }
        Ok(())
    });
    stopping.store(true, Ordering::SeqCst);
    sd_notify("STOPPING=1");
    tracing::info!("shutting down: control requests are refused from now on");
    shutdown_gate();
    stop.store(true, Ordering::SeqCst);
    let _ = wake_tx.send(Wake::Shutdown);
    let _ = http_stop_tx.send(true);
    match runtime.block_on(http_task) {
        Ok(Ok(())) => tracing::info!("verification service stopped"),
        Ok(Err(e)) => tracing::warn!(error = %e, "verification service ended with an error"),
        Err(e) => tracing::warn!(error = %e, "verification service task failed"),
    }
    if let Err(e) = runtime.block_on(control_task) {
        tracing::warn!(error = %e, "control socket task failed");
    }
    let _ = intake_thread.join();
    if let Some(t) = mail_thread {
        // It finishes the mail it is sending (bounded by the SMTP timeout).
        let _ = t.join();
    }
    if let Some(t) = publish_thread {
        // It publishes the last batch's checkpoint once more, then ends.
        let _ = t.join();
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    // The index is derived: failing to flush it is a warning (issue 14).
    if let Err(e) = reg.ledger().flush_index() {
        tracing::warn!(error = %e, "could not flush the derived index; it is checked and rebuilt at the next open");
    }
    tracing::info!(records = reg.ledger().size(), "stopped");
    drop(reg);
    // sled panics in its `Drop` when its last fsync fails (issue 14, F4);
    // every outcome has been reported by now.
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(registry))).is_err() {
        tracing::warn!(
            "closing the derived index failed; it is checked and rebuilt at the next open"
        );
    }
    result
}

/// Runs the full verification a fast open left (every record the open
/// trusted through the signed checkpoint) on its own thread. Damage it finds
/// is logged, refuses every later write (the ledger checks the shared
/// state before each append) and shows in `status` and `/metrics`; reads
/// go on. The thread only reads; it is not waited for at shutdown.
fn start_verification(
    target: ledger::verify::VerifyTarget,
    state: Arc<ledger::verify::Verification>,
) -> Result<(), DaemonError> {
    std::thread::Builder::new()
        .name("zeugnis-verify".into())
        .spawn(move || {
            tracing::info!(
                records = target.size(),
                "verifying every record in the background (the open trusted the signed checkpoint)"
            );
            let t0 = std::time::Instant::now();
            match target.run(&state) {
                Ok(()) => tracing::info!(
                    records = target.size(),
                    elapsed_ms = t0.elapsed().as_millis() as u64,
                    "background verification passed: every record verified"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "background verification found damage: writes are refused from now on, reads go on; run `zeugnis audit` (daemon may keep running) for the whole picture"
                ),
            }
        })
        .map(|_| ())
        .map_err(|e| DaemonError::Start(format!("verification thread: {e}")))
}

/// See [`SHUTDOWN_GATE_ENV`].
fn shutdown_gate() {
    let Some(gate) = std::env::var_os(SHUTDOWN_GATE_ENV).map(PathBuf::from) else {
        return;
    };
    tracing::info!(gate = %gate.display(), "test hook: waiting at the shutdown gate");
    let t0 = std::time::Instant::now();
    while !gate.exists() && t0.elapsed() < Duration::from_millis(SHUTDOWN_GATE_WAIT_MS_MAX) {
        std::thread::sleep(Duration::from_millis(SETTLE_POLL_MS.0));
    }
}

/// The intake thread: a pass, then sleep until a wake-up, a settling file
/// needs another look, or the rescan interval is over.
fn intake_loop(
    intake: &mut Intake,
    stop: &AtomicBool,
    wake: &mpsc::Receiver<Wake>,
    jobs: &mpsc::Receiver<IngestJob>,
    rescan: Duration,
    settle: Duration,
) -> Result<(), IntakeError> {
    loop {
        // `zeugnis ingest` sent through the control socket.
        while let Ok(job) = jobs.try_recv() {
            let _ = job.reply.send(intake.ingest(&job.files));
        }
        let unstable = match intake.pass(stop) {
            Ok(report) => report.unstable,
            Err(e) if e.is_fatal() => {
                tracing::error!(error = %e, "the ledger cannot be written; stopping the intake");
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(error = %e, "intake pass failed; retrying at the next rescan");
                0
            }
        };
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let timeout = if unstable > 0 { settle } else { rescan };
        match wake.recv_timeout(timeout) {
            Ok(Wake::Shutdown) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
        }
        // Coalesce a burst of events into one pass.
        while let Ok(w) = wake.try_recv() {
            if w == Wake::Shutdown {
                return Ok(());
            }
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
}

/// Writes (and mails, when configured) the status report every interval.
async fn periodic_report(
    cfg: crate::config::ReportConfig,
    registry: Arc<Mutex<Registry>>,
    data: PathBuf,
    scans: PathBuf,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.interval_secs));
    tick.tick().await; // the first tick is immediate: skip it
    loop {
        tick.tick().await;
        let (registry, data, scans, cfg) = (
            Arc::clone(&registry),
            data.clone(),
            scans.clone(),
            cfg.clone(),
        );
        let r = tokio::task::spawn_blocking(move || -> Result<PathBuf, RegistryError> {
            let report = {
                let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
                crate::report::status(&reg, &scans, cfg.waiting_days)?
            };
            let path = report.write(&data)?;
            if let Some(mail) = cfg.mail() {
                crate::report::mail(&report, &mail)?;
            }
            Ok(path)
        })
        .await;
        match r {
            Ok(Ok(path)) => tracing::info!(report = %path.display(), "status report written"),
            Ok(Err(e)) => tracing::warn!(error = %e, "status report failed"),
            Err(e) => tracing::warn!(error = %e, "status report task failed"),
        }
    }
}
