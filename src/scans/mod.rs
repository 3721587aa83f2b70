//! The scan intake: from a file in `scans/` to an archived scan, a file
//! waiting for its registration, or a quarantined file with a reason.
//!
//! Owns: the pipeline (rescan, stability, claim, identify, archive in
//! batches, remove / park / quarantine), its configuration (`[intake]`) and
//! the intake-outcome objects of DESIGN.md.
//! Must not do: write the ledger except through
//! [`Registry::archive_scans`]; remove a file from the inbox before its
//! bytes and its ledger record are durable; overwrite any file.
//!
//! Crash analysis (every step is a single rename, write or unlink):
//! a file is in exactly one of `scans/`, `work/`, `waiting/`,
//! `quarantine/`; a file in `work/` is processed again at the next start,
//! and the registry's state machine (one scan per certificate, the same
//! bytes again are a duplicate) makes re-processing idempotent. A file is
//! unlinked only after `archive_scans` returned, that is after its blob and
//! its `ScanArchived` record were fsynced.

pub mod barcode;
pub mod claim;
pub mod identify;
pub mod simulate;
pub mod watch;

use crate::blobs::{sniff, BLOB_BYTES_MAX_DEFAULT};
use crate::codes::Code;
use crate::ledger::durable::fsync_dir;
use crate::ledger::LedgerError;
use crate::registry::{Registry, RegistryError, ScanDecision, ScanItem, State};
use claim::{Dirs, ReasonFile, WaitingFile};
use identify::Found;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The scan intake's limits (`[intake]` in the config file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// A file is taken once its size and mtime have been unchanged for this
    /// many milliseconds. Default 2,000; at most 3,600,000.
    pub stable_ms: u64,
    /// Full rescan of the inbox every this many seconds (file-system events
    /// only wake the intake earlier). Default 30; at least 1.
    pub rescan_secs: u64,
    /// A scan whose code is not registered waits this long in
    /// `scans/waiting/` before it is quarantined. Default 30 days.
    pub waiting_period_secs: u64,
    /// Largest scan file accepted, in bytes. Default and maximum 64 MiB
    /// (the blob store's limit).
    pub file_bytes_max: u64,
    /// Most files archived in one batch (one group commit). Default 64.
    pub batch_files_max: usize,
    /// Most bytes held in memory for one batch. Default 256 MiB; at least
    /// `file_bytes_max`.
    pub batch_bytes_max: u64,
    /// Time limit for reading the cover sheet's barcode of one file, in
    /// milliseconds. Default 20,000.
    pub decode_timeout_ms: u64,
    /// Decodes abandoned at their time limit that may still be running
    /// before further decodes are refused. Default 2.
    pub decode_abandoned_max: usize,
    /// A lone `.json`/`.txt` file (a sidecar without its scan) is
    /// quarantined after this many seconds. Default 3,600.
    pub orphan_sidecar_secs: u64,
}

impl Default for IntakeConfig {
    fn default() -> IntakeConfig {
        IntakeConfig {
            stable_ms: 2_000,
            rescan_secs: 30,
            waiting_period_secs: 30 * 86_400,
            file_bytes_max: BLOB_BYTES_MAX_DEFAULT,
            batch_files_max: 64,
            batch_bytes_max: 256 * 1024 * 1024,
            decode_timeout_ms: 20_000,
            decode_abandoned_max: 2,
            orphan_sidecar_secs: 3_600,
        }
    }
}

impl IntakeConfig {
    /// Checks the ranges; on error names the key and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.stable_ms > 3_600_000 {
            return Err(("intake.stable_ms", "at most 3600000 (one hour)".into()));
        }
        if self.rescan_secs == 0 {
            return Err(("intake.rescan_secs", "at least 1".into()));
        }
        if self.file_bytes_max == 0 || self.file_bytes_max > BLOB_BYTES_MAX_DEFAULT {
            return Err((
                "intake.file_bytes_max",
                format!("between 1 and {BLOB_BYTES_MAX_DEFAULT} (the blob store's limit)"),
            ));
        }
        if self.batch_files_max == 0 || self.batch_files_max > 10_000 {
            return Err(("intake.batch_files_max", "between 1 and 10000".into()));
        }
        if self.batch_bytes_max < self.file_bytes_max {
            return Err((
                "intake.batch_bytes_max",
                "at least intake.file_bytes_max (one file must fit)".into(),
            ));
        }
        if self.decode_timeout_ms == 0 {
            return Err(("intake.decode_timeout_ms", "at least 1".into()));
        }
        Ok(())
    }
}

/// The intake-outcome object of DESIGN.md (`ingest --json`, one per file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The file name as dropped.
    pub file: String,
    /// `archived`, `waiting`, `quarantined` or `duplicate`.
    pub outcome: String,
    /// The code (12 characters, no hyphens), if one was found.
    pub code: Option<String>,
    /// Why it was quarantined (a reason id, see `docs/intake.md`), or why it
    /// waits; null when archived.
    pub reason: Option<String>,
    /// A sentence for a person (not part of the JSON contract).
    #[serde(skip)]
    pub detail: String,
}

/// Errors of the intake that are not about one file.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// A folder of the inbox cannot be used.
    #[error("scan inbox {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The registry (ledger) failed; for a poisoned writer this is fatal.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl IntakeError {
    /// Whether the daemon must stop (the ledger writer is unusable).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            IntakeError::Registry(
                RegistryError::Ledger(LedgerError::Poisoned(_) | LedgerError::Io { .. })
                    // Durable but unconfirmed: the writer is poisoned; the
                    // restart confirms the batch and finds the scan a duplicate.
                    | RegistryError::Unconfirmed { .. }
            )
        )
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IntakeError + '_ {
    move |source| IntakeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// One outcome per file finished in this pass.
    pub outcomes: Vec<Outcome>,
    /// Inbox files seen but not yet stable.
    pub unstable: usize,
}

/// How a file's code was resolved.
enum Identified {
    /// A registered code.
    Known(Code, String),
    /// A well-formed code that is not registered (yet).
    Unknown(Code, String),
    /// No usable code: quarantine with this reason id and detail.
    Failed(&'static str, String),
}

/// A claimed file ready to archive.
struct Ready {
    path: PathBuf,
    source_name: String,
    sidecar: Option<PathBuf>,
    bytes: Vec<u8>,
    media_type: &'static str,
    code: Code,
    found_by: String,
    tried: Vec<String>,
}

/// Called with every outcome (metrics, logs).
pub type OutcomeHook = Arc<dyn Fn(&Outcome) + Send + Sync>;

/// The intake over one inbox and one registry.
pub struct Intake {
    cfg: IntakeConfig,
    dirs: Dirs,
    registry: Arc<Mutex<Registry>>,
    stability: watch::Stability,
    abandoned: Arc<AtomicUsize>,
    on_outcome: Option<OutcomeHook>,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_sidecar_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && identify::SIDECAR_EXTENSIONS
                .iter()
                .any(|e| ext.eq_ignore_ascii_case(e))
    })
}

fn stem(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => name,
    }
}

/// The sidecar of `file` in the same folder, if any.
fn sidecar_of(file: &Path) -> Option<PathBuf> {
    let name = file_name(file);
    let dir = file.parent()?;
    identify::SIDECAR_EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{}.{ext}", stem(&name))))
        .find(|p| p.as_path() != file && p.is_file())
}

impl Intake {
    /// The intake over `scans` (its folders are created) and `registry`.
    pub fn new(
        cfg: IntakeConfig,
        scans: &Path,
        registry: Arc<Mutex<Registry>>,
    ) -> Result<Intake, IntakeError> {
        let dirs = Dirs::new(scans);
        dirs.create().map_err(io_err(scans))?;
        Ok(Intake {
            cfg,
            dirs,
            registry,
            stability: watch::Stability::default(),
            abandoned: Arc::new(AtomicUsize::new(0)),
            on_outcome: None,
        })
    }

    /// Calls `hook` for every outcome (metrics).
    pub fn on_outcome(&mut self, hook: OutcomeHook) {
        self.on_outcome = Some(hook);
    }

    /// The folders.
    pub fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    /// The configuration.
    pub fn config(&self) -> &IntakeConfig {
        &self.cfg
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One full pass: scans waiting for a code whose registration arrived
    /// (or whose waiting period ended), the inbox (stability, claim), and
    /// everything in `work/` (leftovers of a crash included). Stops between
    /// batches when `stop` is set; unfinished files stay in `work/`.
    pub fn pass(&mut self, stop: &AtomicBool) -> Result<PassReport, IntakeError> {
        let mut report = PassReport::default();
        self.check_waiting(&mut report.outcomes)?;
        report.unstable = self.claim_stable(&mut report.outcomes)?;
        let names: Vec<String> = claim::list(&self.dirs.work)
            .map_err(io_err(&self.dirs.work))?
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        self.process(&names, stop, &mut report.outcomes)?;
        Ok(report)
    }

    /// `zeugnis ingest`: claims the given files (from anywhere; the caller
    /// says they are complete, so no stability wait) and runs them through
    /// the pipeline once.
    pub fn ingest(&mut self, files: &[PathBuf]) -> Result<Vec<Outcome>, IntakeError> {
        let mut outcomes = Vec::new();
        let mut names = Vec::new();
        for f in files {
            let name = file_name(f);
            let meta = match std::fs::symlink_metadata(f) {
                Ok(m) => m,
                Err(e) => {
                    return Err(IntakeError::Io {
                        path: f.clone(),
                        source: e,
                    })
                }
            };
            if let Some(o) = self.refuse_special(f, &name, &meta)? {
                self.emit(&mut outcomes, o);
                continue;
            }
            let sidecar = sidecar_of(f);
            let to = claim::move_into(f, &self.dirs.work, &name).map_err(io_err(f))?;
            if let Some(s) = sidecar {
                let sname = format!("{}.{}", stem(&file_name(&to)), extension(&s));
                claim::move_into(&s, &self.dirs.work, &sname).map_err(io_err(&s))?;
            }
            names.push(file_name(&to));
        }
        fsync_dir(&self.dirs.work).map_err(io_err(&self.dirs.work))?;
        self.process(&names, &AtomicBool::new(false), &mut outcomes)?;
        Ok(outcomes)
    }

    fn emit(&self, outcomes: &mut Vec<Outcome>, o: Outcome) {
        tracing::info!(
            file = %o.file,
            outcome = %o.outcome,
            code = o.code.as_deref().unwrap_or("-"),
            reason = o.reason.as_deref().unwrap_or("-"),
            "{}",
            o.detail
        );
        if let Some(h) = &self.on_outcome {
            h(&o);
        }
        outcomes.push(o);
    }

    /// Symlinks, directories and special files are quarantined as they are
    /// (a symlink is moved, never followed).
    fn refuse_special(
        &self,
        path: &Path,
        name: &str,
        meta: &std::fs::Metadata,
    ) -> Result<Option<Outcome>, IntakeError> {
        let ft = meta.file_type();
        let (reason, what) = if ft.is_symlink() {
            ("symlink", "a symbolic link (never followed)")
        } else if ft.is_dir() {
            ("special_file", "a directory")
        } else if !ft.is_file() {
            (
                "special_file",
                "not a regular file (a device, FIFO or socket)",
            )
        } else {
            return Ok(None);
        };
        let detail = format!("{name} is {what}");
        self.quarantine(path, name, reason, &detail, None, vec![], None)?;
        Ok(Some(Outcome {
            file: name.to_string(),
            outcome: "quarantined".into(),
            code: None,
            reason: Some(reason.into()),
            detail,
        }))
    }

    #[allow(clippy::too_many_arguments)]
    fn quarantine(
        &self,
        path: &Path,
        source_name: &str,
        reason: &str,
        detail: &str,
        code: Option<&Code>,
        tried: Vec<String>,
        content: Option<&[u8]>,
    ) -> Result<(), IntakeError> {
        let r = ReasonFile {
            file: String::new(),
            source_name: source_name.to_string(),
            reason: reason.to_string(),
            detail: detail.to_string(),
            at: now_rfc3339(),
            code: code.map(|c| c.as_str().to_string()),
            tried,
            size_bytes: content.map(|c| c.len() as u64),
            blake3: content.map(|c| blake3::hash(c).to_hex().to_string()),
        };
        claim::quarantine(&self.dirs, path, r).map_err(io_err(path))?;
        Ok(())
    }

    /// Waiting files: back to `work/` when their code is registered,
    /// quarantined when the waiting period is over.
    fn check_waiting(&mut self, outcomes: &mut Vec<Outcome>) -> Result<(), IntakeError> {
        let now = crate::ledger::now_s();
        for name in claim::list(&self.dirs.waiting).map_err(io_err(&self.dirs.waiting))? {
            if name.ends_with(claim::WAITING_SUFFIX) || name.starts_with('.') {
                continue;
            }
            let path = self.dirs.waiting.join(&name);
            let state = claim::read_waiting(&path);
            let known = match &state {
                Some(s) => match Code::parse(&s.code) {
                    Ok(c) => self.registry().find(c.as_str()).is_ok(),
                    Err(_) => true,
                },
                None => true,
            };
            let expired = state.as_ref().is_some_and(|s| {
                now.saturating_sub(s.since_s) >= self.cfg.waiting_period_secs as i64
            });
            if known {
                claim::move_into(&path, &self.dirs.work, &name).map_err(io_err(&path))?;
                let _ = std::fs::remove_file(claim::waiting_state_path(&path));
            } else if expired {
                let s = state.expect("expired implies a state");
                let days = self.cfg.waiting_period_secs as f64 / 86_400.0;
                let detail = format!(
                    "no certificate has the code {} after waiting {days:.1} day(s) (found by {})",
                    s.code, s.found_by
                );
                let code = Code::parse(&s.code).ok();
                self.quarantine(
                    &path,
                    &s.source_name,
                    "unknown_code",
                    &detail,
                    code.as_ref(),
                    vec![format!("{}: code {}", s.found_by, s.code)],
                    None,
                )?;
                let _ = std::fs::remove_file(claim::waiting_state_path(&path));
                self.emit(
                    outcomes,
                    Outcome {
                        file: s.source_name,
                        outcome: "quarantined".into(),
                        code: code.map(|c| c.as_str().to_string()),
                        reason: Some("unknown_code".into()),
                        detail,
                    },
                );
            }
        }
        Ok(())
    }

    /// Scans the inbox, claims stable files (and their sidecars) into
    /// `work/`. Returns how many files are not yet stable.
    fn claim_stable(&mut self, outcomes: &mut Vec<Outcome>) -> Result<usize, IntakeError> {
        let inbox = self.dirs.inbox.clone();
        let names: Vec<String> = claim::list(&inbox)
            .map_err(io_err(&inbox))?
            .into_iter()
            .filter(|n| !n.starts_with('.') && !Dirs::is_reserved(n))
            .collect();
        let stems: std::collections::HashSet<&str> = names
            .iter()
            .filter(|n| !is_sidecar_name(n))
            .map(|n| stem(n))
            .collect();
        let now = Instant::now();
        let wait = Duration::from_millis(self.cfg.stable_ms);
        let mut unstable = 0;
        let mut claimed = 0;
        for name in &names {
            let path = inbox.join(name);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue; // gone meanwhile
            };
            if let Some(o) = self.refuse_special(&path, name, &meta)? {
                self.emit(outcomes, o);
                continue;
            }
            let sidecar = is_sidecar_name(name);
            if sidecar && stems.contains(stem(name)) {
                continue; // claimed together with its scan
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if !self.stability.observe(name, meta.len(), mtime, now, wait) {
                unstable += 1;
                continue;
            }
            if sidecar {
                let age = SystemTime::now().duration_since(mtime).unwrap_or_default();
                if age.as_secs() < self.cfg.orphan_sidecar_secs {
                    continue; // its scan may still come
                }
            }
            self.stability.forget(name);
            let side = if sidecar { None } else { sidecar_of(&path) };
            let to = match claim::move_into(&path, &self.dirs.work, name) {
                Ok(to) => to,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            if let Some(s) = side {
                let sname = format!("{}.{}", stem(&file_name(&to)), extension(&s));
                match claim::move_into(&s, &self.dirs.work, &sname) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&s)(e)),
                }
            }
            claimed += 1;
        }
        let present: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        self.stability.retain(|n| present.contains(n));
        if claimed > 0 {
            fsync_dir(&self.dirs.work).map_err(io_err(&self.dirs.work))?;
            fsync_dir(&inbox).map_err(io_err(&inbox))?;
        }
        Ok(unstable)
    }

    /// Resolves the code of a claimed file: name, sidecar, barcode, in
    /// this order; the first source that names a registered code wins; a
    /// single well-formed unregistered code is kept in case none does.
    fn identify(
        &self,
        source_name: &str,
        sidecar: Option<&Path>,
        bytes: &Arc<Vec<u8>>,
        media_type: &'static str,
        tried: &mut Vec<String>,
    ) -> Identified {
        let mut unknown: Option<(Code, String)> = None;
        let mut typo = false;
        let mut consider = |this: &Self, found: Found, by: &str, tried: &mut Vec<String>| {
            tried.push(found.describe(by));
            match found {
                Found::Codes(v) => {
                    let known: Vec<&Code> = v
                        .iter()
                        .filter(|c| this.registry().find(c.as_str()).is_ok())
                        .collect();
                    match known.len() {
                        1 => return Some(Identified::Known(*known[0], by.to_string())),
                        0 if v.len() == 1 => {
                            unknown.get_or_insert((v[0], by.to_string()));
                        }
                        0 => {}
                        _ => {
                            return Some(Identified::Failed(
                                "ambiguous_code",
                                format!(
                                    "{by} names several registered certificates: {}",
                                    known
                                        .iter()
                                        .map(|c| c.formatted())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ))
                        }
                    }
                }
                Found::Typo(_) => typo = true,
                Found::Nothing | Found::Unreadable(_) => {}
            }
            None
        };
        if let Some(r) = consider(self, identify::from_name(source_name), "file name", tried) {
            return r;
        }
        if let Some(s) = sidecar {
            let found = match std::fs::metadata(s) {
                Ok(m) if m.len() > identify::SIDECAR_BYTES_MAX => {
                    Found::Unreadable(format!("larger than {} bytes", identify::SIDECAR_BYTES_MAX))
                }
                Ok(_) => match std::fs::read(s) {
                    Ok(b) => identify::from_sidecar(s, &b),
                    Err(e) => Found::Unreadable(e.to_string()),
                },
                Err(e) => Found::Unreadable(e.to_string()),
            };
            let by = format!("sidecar {}", file_name(s));
            if let Some(r) = consider(self, found, &by, tried) {
                return r;
            }
        }
        let found = match barcode::decode_with_limit(
            Arc::clone(bytes),
            media_type,
            Duration::from_millis(self.cfg.decode_timeout_ms),
            &self.abandoned,
            self.cfg.decode_abandoned_max,
        ) {
            Ok(texts) => identify::from_barcodes(&texts),
            Err(e) => Found::Unreadable(e.to_string()),
        };
        if let Some(r) = consider(self, found, "cover-sheet barcode", tried) {
            return r;
        }
        match unknown {
            Some((c, by)) => Identified::Unknown(c, by),
            None if typo => Identified::Failed(
                "code_typo",
                "a code with an access key was found but its check character does not match (a typo?)"
                    .into(),
            ),
            None => Identified::Failed(
                "no_code",
                "no certificate code in the file name, a sidecar or a readable cover-sheet barcode"
                    .into(),
            ),
        }
    }

    /// Processes claimed files of `work/` in batches.
    fn process(
        &mut self,
        names: &[String],
        stop: &AtomicBool,
        outcomes: &mut Vec<Outcome>,
    ) -> Result<(), IntakeError> {
        let present: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut batch: Vec<Ready> = Vec::new();
        let mut batch_bytes = 0u64;
        for name in names {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if is_sidecar_name(name) {
                let has_scan = present
                    .iter()
                    .any(|n| !is_sidecar_name(n) && stem(n) == stem(name));
                if has_scan {
                    continue;
                }
            }
            if let Some(ready) = self.prepare(name, outcomes)? {
                batch_bytes += ready.bytes.len() as u64;
                batch.push(ready);
            }
            if batch.len() >= self.cfg.batch_files_max
                || batch_bytes + self.cfg.file_bytes_max > self.cfg.batch_bytes_max
            {
                self.archive(std::mem::take(&mut batch), outcomes)?;
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.archive(batch, outcomes)?;
        }
        Ok(())
    }

    /// Reads and identifies one claimed file; quarantines or parks it when
    /// it cannot be archived now. `Some` when it is ready to archive.
    fn prepare(
        &mut self,
        name: &str,
        outcomes: &mut Vec<Outcome>,
    ) -> Result<Option<Ready>, IntakeError> {
        let path = self.dirs.work.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return Ok(None);
        };
        if let Some(o) = self.refuse_special(&path, name, &meta)? {
            self.emit(outcomes, o);
            return Ok(None);
        }
        let sidecar = if is_sidecar_name(name) {
            None
        } else {
            sidecar_of(&path)
        };
        let fail = |this: &Self,
                    outcomes: &mut Vec<Outcome>,
                    reason: &'static str,
                    detail: String,
                    code: Option<&Code>,
                    tried: Vec<String>,
                    content: Option<&[u8]>|
         -> Result<Option<Ready>, IntakeError> {
            this.quarantine(&path, name, reason, &detail, code, tried, content)?;
            if let Some(s) = &sidecar {
                let sname = file_name(s);
                claim::move_into(s, &this.dirs.quarantine, &sname).map_err(io_err(s))?;
            }
            this.emit(
                outcomes,
                Outcome {
                    file: name.to_string(),
                    outcome: "quarantined".into(),
                    code: code.map(|c| c.as_str().to_string()),
                    reason: Some(reason.into()),
                    detail,
                },
            );
            Ok(None)
        };
        if is_sidecar_name(name) {
            return fail(
                self,
                outcomes,
                "orphan_sidecar",
                format!("{name} is a sidecar file without a scan of the same name"),
                None,
                vec![],
                None,
            );
        }
        if meta.len() == 0 {
            return fail(
                self,
                outcomes,
                "empty",
                format!("{name} is empty"),
                None,
                vec![],
                None,
            );
        }
        if meta.len() > self.cfg.file_bytes_max {
            return fail(
                self,
                outcomes,
                "oversize",
                format!(
                    "{name} has {} bytes, above the limit of {} (intake.file_bytes_max)",
                    meta.len(),
                    self.cfg.file_bytes_max
                ),
                None,
                vec![],
                None,
            );
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                return fail(
                    self,
                    outcomes,
                    "unreadable",
                    format!("{name} cannot be read: {e}"),
                    None,
                    vec![],
                    None,
                )
            }
        };
        let Some(media_type) = sniff(&bytes) else {
            return fail(
                self,
                outcomes,
                "not_pdf_or_image",
                format!("{name} is not a PDF, PNG, JPEG or TIFF file"),
                None,
                vec![],
                Some(&bytes),
            );
        };
        let bytes = Arc::new(bytes);
        let mut tried = Vec::new();
        match self.identify(name, sidecar.as_deref(), &bytes, media_type, &mut tried) {
            Identified::Known(code, found_by) => Ok(Some(Ready {
                path: path.clone(),
                source_name: name.to_string(),
                sidecar,
                bytes: Arc::try_unwrap(bytes).unwrap_or_else(|a| (*a).clone()),
                media_type,
                code,
                found_by,
                tried,
            })),
            Identified::Unknown(code, found_by) => {
                let state = WaitingFile {
                    code: code.as_str().to_string(),
                    source_name: name.to_string(),
                    since_s: crate::ledger::now_s(),
                    found_by: found_by.clone(),
                };
                claim::park(&self.dirs, &path, &state).map_err(io_err(&path))?;
                if let Some(s) = &sidecar {
                    let _ = std::fs::remove_file(s);
                }
                fsync_dir(&self.dirs.waiting).map_err(io_err(&self.dirs.waiting))?;
                self.emit(
                    outcomes,
                    Outcome {
                        file: name.to_string(),
                        outcome: "waiting".into(),
                        code: Some(code.as_str().to_string()),
                        reason: Some("not_registered_yet".into()),
                        detail: format!(
                            "no certificate has the code {} yet (found by {found_by}); waiting in {}",
                            code.formatted(),
                            self.dirs.waiting.display()
                        ),
                    },
                );
                Ok(None)
            }
            Identified::Failed(reason, detail) => {
                fail(self, outcomes, reason, detail, None, tried, Some(&bytes))
            }
        }
    }

    /// Archives a batch (one group commit), then removes the archived and
    /// duplicate files and quarantines the refused ones.
    fn archive(
        &mut self,
        batch: Vec<Ready>,
        outcomes: &mut Vec<Outcome>,
    ) -> Result<(), IntakeError> {
        let decisions = {
            let items: Vec<ScanItem> = batch
                .iter()
                .map(|r| ScanItem {
                    code: r.code,
                    bytes: &r.bytes,
                    media_type: r.media_type,
                    source_name: &r.source_name,
                })
                .collect();
            self.registry().archive_scans(&items)?
        };
        let mut removed = false;
        for (r, d) in batch.into_iter().zip(decisions) {
            let code = Some(r.code.as_str().to_string());
            match d {
                ScanDecision::Archived { seq } | ScanDecision::Duplicate { seq } => {
                    let dup = matches!(d, ScanDecision::Duplicate { .. });
                    std::fs::remove_file(&r.path).map_err(io_err(&r.path))?;
                    if let Some(s) = &r.sidecar {
                        let _ = std::fs::remove_file(s);
                    }
                    removed = true;
                    self.emit(
                        outcomes,
                        Outcome {
                            file: r.source_name,
                            outcome: if dup { "duplicate" } else { "archived" }.into(),
                            code,
                            reason: None,
                            detail: if dup {
                                format!(
                                    "the same bytes are already archived for {} (ledger seq {seq}); file removed",
                                    r.code.formatted()
                                )
                            } else {
                                format!(
                                    "archived for {} as ledger seq {seq} (code found by {})",
                                    r.code.formatted(),
                                    r.found_by
                                )
                            },
                        },
                    );
                }
                ScanDecision::Unknown => {
                    // Registered a moment ago and gone? Cannot happen with
                    // the lock held; keep the file for the next pass.
                    tracing::warn!(file = %r.source_name, "code vanished between lookup and archive; retrying later");
                }
                ScanDecision::Refused { state, error } => {
                    let reason = match state {
                        State::Archived => "second_scan",
                        State::Revoked => "revoked",
                        State::Superseded => "superseded",
                        State::Voided => "voided",
                        State::AwaitingScan => "refused",
                    };
                    let detail = error.to_string();
                    self.quarantine(
                        &r.path,
                        &r.source_name,
                        reason,
                        &detail,
                        Some(&r.code),
                        r.tried,
                        Some(&r.bytes),
                    )?;
                    if let Some(s) = &r.sidecar {
                        let sname = file_name(s);
                        claim::move_into(s, &self.dirs.quarantine, &sname).map_err(io_err(s))?;
                    }
                    self.emit(
                        outcomes,
                        Outcome {
                            file: r.source_name,
                            outcome: "quarantined".into(),
                            code,
                            reason: Some(reason.into()),
                            detail,
                        },
                    );
                }
            }
        }
        if removed {
            fsync_dir(&self.dirs.work).map_err(io_err(&self.dirs.work))?;
        }
        Ok(())
    }
}

fn extension(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default()
}
