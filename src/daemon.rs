//! `zeugnis run`: the daemon's wiring and shutdown.
//!
//! Owns: opening (or creating) the ledger, the shared registry, the scan
//! intake thread with its wake-ups (file events, periodic rescan), the
//! periodic status report, signal handling (SIGINT/SIGTERM: finish the
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
}

impl DaemonError {
    /// Exit code: 2 for bad configuration or input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Ledger(e) => e.exit_code(),
            DaemonError::Registry(e) => e.exit_code(),
            DaemonError::Http(crate::http::HttpError::Config(_))
            | DaemonError::Http(crate::http::HttpError::AdminToken { .. }) => 2,
            DaemonError::Intake(_) | DaemonError::Start(_) | DaemonError::Http(_) => 1,
        }
    }
}

/// Opens the ledger in `data`, creating it (with `origin`) when absent.
fn open_or_init(data: &Path, origin: &str) -> Result<Ledger, LedgerError> {
    if ledger::is_initialized(data)? {
        Ledger::open(data, LedgerOptions::default())
    } else {
        tracing::info!(data = %data.display(), origin, "no ledger yet; creating one");
        Ledger::init(data, origin, LedgerOptions::default())
    }
}

/// Runs the daemon until SIGINT or SIGTERM (or a fatal ledger error).
pub fn run(data: &Path, cfg: Config, origin: &str) -> Result<(), DaemonError> {
    let data: PathBuf = cfg.data.clone().unwrap_or_else(|| data.to_path_buf());
    // Signal handlers first: a SIGTERM from now on stops cleanly.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Start(format!("tokio runtime: {e}")))?;
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
    let ledger = open_or_init(&data, origin)?;
    tracing::info!(
        records = ledger.size(),
        checkpoint_size = ledger.checkpoint().size,
        "ledger open, recovered and checkpointed"
    );
    let registry = Arc::new(Mutex::new(Registry::over(ledger, &cfg.base_url)?));
    let mut intake = Intake::new(cfg.intake.clone(), &cfg.scans, Arc::clone(&registry))?;

    let stop = Arc::new(AtomicBool::new(false));
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>();
    let _watcher = watch::watch(&cfg.scans, wake_tx.clone());

    // The HTTP service: bound before anything runs, so a busy port or a bad
    // token file stops the start with a clear error.
    let http_cfg = cfg.http_effective();
    let mut state = crate::http::AppState::new(&http_cfg, &data, Arc::clone(&registry))?;
    state.set_exports(cfg.exports.clone())?;
    let wake_on_write = wake_tx.clone();
    state.on_write(Arc::new(move || {
        // A registration may be what a waiting scan waits for.
        let _ = wake_on_write.send(Wake::Registered);
    }));
    let metrics = state.metrics();
    intake.on_outcome(Arc::new(move |o| metrics.intake(&o.outcome)));
    let bound = runtime.block_on(crate::http::bind(&http_cfg))?;
    tracing::info!(
        public = %bound.public_addr(),
        admin = %bound.admin_addr(),
        admin_api = http_cfg.admin_token_file.is_some(),
        "verification service listening"
    );
    let (http_stop_tx, http_stop_rx) = tokio::sync::watch::channel(false);
    let http_task = runtime.spawn(bound.serve(Arc::new(state), http_stop_rx));
    let rescan = Duration::from_secs(cfg.intake.rescan_secs);
    let settle =
        Duration::from_millis((cfg.intake.stable_ms / 4).clamp(SETTLE_POLL_MS.0, SETTLE_POLL_MS.1));

    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<(), IntakeError>>();

    let intake_stop = Arc::clone(&stop);
    let intake_thread = std::thread::Builder::new()
        .name("zeugnis-intake".into())
        .spawn(move || {
            let result = intake_loop(&mut intake, &intake_stop, &wake_rx, rescan, settle);
            let _ = done_tx.send(result);
        })
        .map_err(|e| DaemonError::Start(format!("intake thread: {e}")))?;

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
    stop.store(true, Ordering::SeqCst);
    let _ = wake_tx.send(Wake::Shutdown);
    let _ = http_stop_tx.send(true);
    match runtime.block_on(http_task) {
        Ok(Ok(())) => tracing::info!("verification service stopped"),
        Ok(Err(e)) => tracing::warn!(error = %e, "verification service ended with an error"),
        Err(e) => tracing::warn!(error = %e, "verification service task failed"),
    }
    let _ = intake_thread.join();
    runtime.shutdown_timeout(Duration::from_secs(5));
    let reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    reg.ledger().flush_index()?;
    tracing::info!(records = reg.ledger().size(), "stopped");
    result
}

/// The intake thread: a pass, then sleep until a wake-up, a settling file
/// needs another look, or the rescan interval is over.
fn intake_loop(
    intake: &mut Intake,
    stop: &AtomicBool,
    wake: &mpsc::Receiver<Wake>,
    rescan: Duration,
    settle: Duration,
) -> Result<(), IntakeError> {
    loop {
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
