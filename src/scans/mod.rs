//! The scan intake: from a file in `scans/` to an archived scan, a file
//! waiting for its registration, or a quarantined file with a reason.
//!
//! Owns: the pipeline (rescan, stability, claim, identify, archive in
//! batches, remove / park / quarantine), its configuration (`[intake]`) and
//! the intake-outcome objects of docs/design.md.
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
//! its `ScanArchived` record were fsynced. A file whose inspection was
//! under way when the daemon died is retried once, then quarantined as
//! `crashed_during_processing` (the marker `work/.in-progress`).
//!
//! Hostile input: the inbox is a share that others can write. Every file
//! operation goes through the directory handles of [`claim::Dirs`]
//! (nothing outside the inbox is reached), every read is bounded, every
//! barcode decode runs in a child process with memory and CPU limits
//! ([`worker`]), only an authenticated cover sheet identifies a scan by
//! default, and one bad entry is quarantined or skipped on its own: it
//! never stops a pass (threat model: `docs/intake.md`).

pub mod barcode;
pub mod claim;
pub mod decode;
pub mod health;
pub mod identify;
pub mod preview;
pub mod requeue;
pub mod simulate;
pub mod watch;
pub mod worker;

use crate::blobs::{sniff, BLOB_BYTES_MAX_DEFAULT};
use crate::codes::Code;
use crate::coversheet::CoverSheetKey;
use crate::ledger::LedgerError;
use crate::registry::{Registry, RegistryError, ScanDecision, ScanItem, State};
use claim::{Bounded, Dirs, Folder, ReasonFile, WaitingFile};
use identify::Found;
use rustix::fs::FileType;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Smallest `decode_bytes_max`: the worker's own program and stacks need
/// this much address space before it decodes anything.
pub const DECODE_BYTES_MAX_MIN: u64 = 64 * 1024 * 1024;
/// Largest `decode_bytes_max` (a decode never needs more).
pub const DECODE_BYTES_MAX_MAX: u64 = 4 * 1024 * 1024 * 1024;

/// A way of finding a scan's code (`[intake] identify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The cover sheet's QR code with the archive's tag (`CODE:TAG`).
    CoverSheet,
    /// A `.json`/`.txt` file with the same stem (anyone who can write the
    /// inbox can write one).
    Sidecar,
    /// The file name (anyone who can write the inbox can choose it).
    FileName,
}

impl Source {
    /// The name used in the config file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::CoverSheet => "cover_sheet",
            Source::Sidecar => "sidecar",
            Source::FileName => "file_name",
        }
    }

    /// `cover_sheet,sidecar,file_name` (comma-separated, at least one, no
    /// repeats).
    pub fn parse_list(text: &str) -> Result<Vec<Source>, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim) {
            let s = match part {
                "cover_sheet" => Source::CoverSheet,
                "sidecar" => Source::Sidecar,
                "file_name" => Source::FileName,
                other => {
                    return Err(format!(
                        "{other:?} is not one of cover_sheet, sidecar, file_name"
                    ))
                }
            };
            if out.contains(&s) {
                return Err(format!("{part} is given twice"));
            }
            out.push(s);
        }
        if out.is_empty() {
            return Err("at least one source is needed".into());
        }
        Ok(out)
    }
}

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
    /// milliseconds (wall clock; the decode worker is killed after it).
    /// Default 20,000.
    pub decode_timeout_ms: u64,
    /// Memory budget of one barcode decode, in bytes: the address-space
    /// limit of the decode worker process. Default 256 MiB; between 64 MiB
    /// and 4 GiB.
    pub decode_bytes_max: u64,
    /// How a scan's code is found, tried in this order. Default
    /// `["cover_sheet"]`; `"sidecar"` and `"file_name"` trust whoever can
    /// write the inbox and are opt-in.
    pub identify: Vec<Source>,
    /// A lone `.json`/`.txt` file (a sidecar without its scan) is
    /// quarantined after this many seconds. Default 3,600.
    pub orphan_sidecar_secs: u64,
    /// An inbox file seen for longer than this many seconds without
    /// settling (still growing, or changed again and again) is listed in
    /// `zeugnis status` and counted in `/metrics`. Default 600; at least 1.
    pub unsettled_report_secs: u64,
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
            decode_bytes_max: 256 * 1024 * 1024,
            identify: vec![Source::CoverSheet],
            orphan_sidecar_secs: 3_600,
            unsettled_report_secs: health::UNSETTLED_REPORT_SECS_DEFAULT,
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
        if self.unsettled_report_secs == 0 {
            return Err(("intake.unsettled_report_secs", "at least 1".into()));
        }
        if self.decode_timeout_ms == 0 {
            return Err(("intake.decode_timeout_ms", "at least 1".into()));
        }
        if !(DECODE_BYTES_MAX_MIN..=DECODE_BYTES_MAX_MAX).contains(&self.decode_bytes_max) {
            return Err((
                "intake.decode_bytes_max",
                format!("between {DECODE_BYTES_MAX_MIN} and {DECODE_BYTES_MAX_MAX}"),
            ));
        }
        if self.identify.is_empty() {
            return Err(("intake.identify", "at least one source".into()));
        }
        let mut seen = Vec::new();
        for s in &self.identify {
            if seen.contains(s) {
                return Err(("intake.identify", format!("{} is given twice", s.as_str())));
            }
            seen.push(*s);
        }
        Ok(())
    }
}

/// The intake-outcome object of docs/design.md (`ingest --json`, one per file).
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
    /// The cover-sheet key cannot be read or created.
    #[error(transparent)]
    Key(#[from] crate::coversheet::KeyError),
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
    /// Entries that could not be handled in this pass (name, why); the
    /// pass went on without them.
    pub skipped: Vec<(String, String)>,
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
    /// Its name in `work/`.
    name: String,
    /// Its sidecar's name in `work/`, if any.
    sidecar: Option<String>,
    bytes: Vec<u8>,
    media_type: &'static str,
    code: Code,
    found_by: String,
    tried: Vec<String>,
}

/// Called with every outcome (metrics, logs).
pub type OutcomeHook = Arc<dyn Fn(&Outcome) + Send + Sync>;
/// Called with the intake's state after a pass that changed it (metrics).
pub type HealthHook = Arc<dyn Fn(&health::InboxHealth) + Send + Sync>;

/// The marker in `work/` naming the file whose content is being inspected
/// (and whether this is its retry after a crash).
pub const IN_PROGRESS_MARKER: &str = ".in-progress";
/// Largest marker read, in bytes.
const MARKER_BYTES_MAX: u64 = 4096;

/// The intake over one inbox and one registry.
pub struct Intake {
    cfg: IntakeConfig,
    /// The inbox path; its folders are opened again (and checked) at every
    /// pass, see [`claim::Dirs::open`].
    inbox: PathBuf,
    registry: Arc<Mutex<Registry>>,
    stability: watch::Stability,
    on_outcome: Option<OutcomeHook>,
    /// Authenticates cover sheets.
    key: CoverSheetKey,
    /// The program run as `decode-worker` (this program).
    worker_exe: PathBuf,
    /// Whether the crash marker was looked at (once, at the first pass).
    marker_checked: bool,
    /// The file being retried after a crash, if any (its marker says so).
    retrying: Option<String>,
    /// Entries that could not be handled, with why; logged once each.
    stuck: BTreeMap<String, String>,
    /// When each stuck entry was first skipped (UTC seconds).
    stuck_since: BTreeMap<String, i64>,
    /// When each long-unsettled file was first listed as such (UTC
    /// seconds, from its first sighting on the monotonic clock).
    unsettled_since: BTreeMap<String, i64>,
    /// The state last written to `work/` ([`health::HEALTH_FILE`]), if any.
    health: Option<health::InboxHealth>,
    on_health: Option<HealthHook>,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// `text` with control characters escaped (`\n`, `\u{1b}`), so that a file
/// name can never forge a log line.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .flat_map(|c| {
            let v: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            v
        })
        .collect()
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

fn extension(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => e,
        _ => "",
    }
}

/// The sidecar of `name` among `names` (entries of the same folder).
fn sidecar_among<'a>(name: &str, names: &'a [String]) -> Option<&'a String> {
    if is_sidecar_name(name) {
        return None;
    }
    identify::SIDECAR_EXTENSIONS.iter().find_map(|ext| {
        let want = format!("{}.{ext}", stem(name));
        names.iter().find(|n| **n == want)
    })
}

/// What an entry that is not a regular file is, for its quarantine reason.
fn special_kind(kind: FileType) -> Option<(&'static str, &'static str)> {
    match kind {
        FileType::RegularFile => None,
        FileType::Symlink => Some(("symlink", "a symbolic link (never followed)")),
        FileType::Directory => Some(("special_file", "a directory")),
        _ => Some((
            "special_file",
            "not a regular file (a device, FIFO or socket)",
        )),
    }
}

impl Intake {
    /// The intake over `scans` (its folders are created) and `registry`.
    /// The cover-sheet key is read from (or created in) the registry's
    /// data directory.
    pub fn new(
        cfg: IntakeConfig,
        scans: &Path,
        registry: Arc<Mutex<Registry>>,
    ) -> Result<Intake, IntakeError> {
        let data = registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ledger()
            .dir()
            .to_path_buf();
        let key = CoverSheetKey::open_or_create(&data)?;
        let mut intake = Intake {
            cfg,
            inbox: scans.to_path_buf(),
            registry,
            stability: watch::Stability::default(),
            on_outcome: None,
            key,
            worker_exe: worker::default_exe(),
            marker_checked: false,
            retrying: None,
            stuck: BTreeMap::new(),
            stuck_since: BTreeMap::new(),
            unsettled_since: BTreeMap::new(),
            health: None,
            on_health: None,
        };
        intake.open_dirs()?;
        Ok(intake)
    }

    /// Calls `hook` for every outcome (metrics).
    pub fn on_outcome(&mut self, hook: OutcomeHook) {
        self.on_outcome = Some(hook);
    }

    /// Calls `hook` with the intake's state after every pass that changed
    /// it (metrics).
    pub fn on_health(&mut self, hook: HealthHook) {
        self.on_health = Some(hook);
    }

    /// Runs decode workers with `exe` instead of this program (benches and
    /// tests, whose own executable is not `zeugnis`).
    pub fn set_worker_exe(&mut self, exe: PathBuf) {
        self.worker_exe = exe;
    }

    /// The inbox path.
    pub fn inbox(&self) -> &Path {
        &self.inbox
    }

    /// The configuration.
    pub fn config(&self) -> &IntakeConfig {
        &self.cfg
    }

    /// Entries that could not be handled (name, why), until they can.
    pub fn stuck(&self) -> &BTreeMap<String, String> {
        &self.stuck
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens and checks the inbox's folders; a subfolder that was replaced
    /// (symlink, file, foreign owner) is renamed aside and reported.
    fn open_dirs(&mut self) -> Result<Dirs, IntakeError> {
        let (dirs, refused) = Dirs::open(&self.inbox).map_err(io_err(&self.inbox))?;
        for r in refused {
            tracing::error!(
                inbox = %self.inbox.display(),
                folder = r.folder,
                renamed_to = %printable(&r.renamed_to),
                "the inbox folder {} was {}; not used (renamed aside, a fresh folder made); someone who can write the inbox replaced it",
                r.folder,
                printable(&r.what)
            );
        }
        Ok(dirs)
    }

    /// Notes an entry that could not be handled; the pass goes on.
    fn skip(&mut self, report: &mut PassReport, name: &str, why: String) {
        if self.stuck.get(name) != Some(&why) {
            tracing::warn!(file = %printable(name), error = %printable(&why),
                "cannot handle this entry; skipped (the pass goes on)");
            self.stuck.insert(name.to_string(), why.clone());
            self.stuck_since
                .entry(name.to_string())
                .or_insert_with(crate::ledger::now_s);
        }
        report.skipped.push((name.to_string(), why));
    }

    /// One full pass: scans waiting for a code whose registration arrived
    /// (or whose waiting period ended), the inbox (stability, claim), and
    /// everything in `work/` (leftovers of a crash included). Stops between
    /// batches when `stop` is set; unfinished files stay in `work/`.
    pub fn pass(&mut self, stop: &AtomicBool) -> Result<PassReport, IntakeError> {
        let mut report = PassReport::default();
        let dirs = self.open_dirs()?;
        if !self.marker_checked {
            self.marker_checked = true;
            self.check_marker(&dirs, &mut report)?;
        }
        self.check_waiting(&dirs, &mut report)?;
        report.unstable = self.claim_stable(&dirs, &mut report)?;
        let names: Vec<String> = dirs
            .list(Folder::Work)
            .map_err(io_err(&dirs.path(Folder::Work)))?
            .names
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        self.process(&dirs, &names, stop, &mut report)?;
        let present: HashSet<&str> = names.iter().map(String::as_str).collect();
        let inbox_now = dirs
            .list(Folder::Inbox)
            .map(|l| l.names)
            .unwrap_or_default();
        self.stuck
            .retain(|n, _| present.contains(n.as_str()) || inbox_now.iter().any(|m| m == n));
        self.publish_health(&dirs);
        Ok(report)
    }

    /// Writes the entries this intake cannot finish to `work/`
    /// ([`health::HEALTH_FILE`], read by `zeugnis status`) when they
    /// changed, and tells the health hook. A failed write is logged; the
    /// intake goes on.
    fn publish_health(&mut self, dirs: &Dirs) {
        let now = crate::ledger::now_s();
        let stuck = &self.stuck;
        self.stuck_since.retain(|n, _| stuck.contains_key(n));
        let skipped = self
            .stuck
            .iter()
            .take(health::HEALTH_ITEMS_MAX)
            .map(|(name, why)| health::SkippedEntry {
                name: printable(name),
                why: printable(why),
                since_s: self.stuck_since.get(name).copied().unwrap_or(now),
            })
            .collect();
        let long = self.stability.unsettled(
            Instant::now(),
            Duration::from_secs(self.cfg.unsettled_report_secs),
        );
        self.unsettled_since
            .retain(|n, _| long.iter().any(|(m, _)| m == n));
        let unsettled = long
            .into_iter()
            .take(health::HEALTH_ITEMS_MAX)
            .map(|(name, age)| {
                let since = now.saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
                health::UnsettledEntry {
                    since_s: *self.unsettled_since.entry(name.clone()).or_insert(since),
                    name: printable(&name),
                }
            })
            .collect();
        let state = health::InboxHealth {
            written_at_s: now,
            unsettled_after_s: self.cfg.unsettled_report_secs,
            skipped,
            unsettled,
        };
        if self.health.as_ref().is_some_and(|h| h.same_entries(&state)) {
            return;
        }
        let json = serde_json::to_vec_pretty(&state).expect("the state serialises");
        if let Err(e) = dirs.write_atomic(Folder::Work, health::HEALTH_FILE, &json) {
            tracing::warn!(error = %e, "cannot write the intake state for `zeugnis status`; retrying after the next pass");
            return;
        }
        if let Some(hook) = &self.on_health {
            hook(&state);
        }
        self.health = Some(state);
    }

    /// `zeugnis ingest`: claims the given files (from anywhere; the caller
    /// says they are complete, so no stability wait) and runs them through
    /// the pipeline once.
    pub fn ingest(&mut self, files: &[PathBuf]) -> Result<Vec<Outcome>, IntakeError> {
        let mut report = PassReport::default();
        let dirs = self.open_dirs()?;
        let mut names = Vec::new();
        for f in files {
            let name = file_name(f);
            let meta = std::fs::symlink_metadata(f).map_err(io_err(f))?;
            let sidecar = if meta.file_type().is_file() && !is_sidecar_name(&name) {
                identify::SIDECAR_EXTENSIONS
                    .iter()
                    .filter_map(|ext| {
                        let p = f.with_file_name(format!("{}.{ext}", stem(&name)));
                        std::fs::symlink_metadata(&p)
                            .ok()
                            .filter(|m| m.file_type().is_file())
                            .map(|_| p)
                    })
                    .next()
            } else {
                None
            };
            let to = dirs
                .take_from_path(f, Folder::Work, &name)
                .map_err(io_err(f))?;
            if let Some(s) = sidecar {
                let sname = format!("{}.{}", stem(&to), extension(&file_name(&s)));
                dirs.take_from_path(&s, Folder::Work, &sname)
                    .map_err(io_err(&s))?;
            }
            names.push(to);
        }
        dirs.fsync(Folder::Work)
            .map_err(io_err(&dirs.path(Folder::Work)))?;
        self.process(&dirs, &names, &AtomicBool::new(false), &mut report)?;
        for (name, why) in &report.skipped {
            eprintln!(
                "zeugnis ingest: {}: skipped: {}",
                printable(name),
                printable(why)
            );
        }
        Ok(report.outcomes)
    }

    fn emit(&self, outcomes: &mut Vec<Outcome>, o: Outcome) {
        tracing::info!(
            file = %printable(&o.file),
            outcome = %o.outcome,
            code = o.code.as_deref().unwrap_or("-"),
            reason = o.reason.as_deref().unwrap_or("-"),
            "{}",
            printable(&o.detail)
        );
        if let Some(h) = &self.on_outcome {
            h(&o);
        }
        outcomes.push(o);
    }

    /// Quarantines entry `name` of `from` with its reason file; the target
    /// name is `wanted`, shortened and varied as needed.
    #[allow(clippy::too_many_arguments)]
    fn quarantine(
        &self,
        dirs: &Dirs,
        from: Folder,
        name: &OsStr,
        wanted: &str,
        source_name: &str,
        reason: &str,
        detail: &str,
        code: Option<&Code>,
        tried: Vec<String>,
        content: Option<&[u8]>,
    ) -> std::io::Result<String> {
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
        claim::quarantine(dirs, from, name, wanted, r)
    }

    /// Quarantines a symlink, directory or special file of `from` as it
    /// is (a symlink is moved, never followed). `Ok(false)`: a regular file.
    fn refuse_special(
        &mut self,
        dirs: &Dirs,
        from: Folder,
        name: &str,
        kind: FileType,
        report: &mut PassReport,
    ) -> Result<bool, IntakeError> {
        let Some((reason, what)) = special_kind(kind) else {
            return Ok(false);
        };
        let detail = format!("{name} is {what}");
        match self.quarantine(
            dirs,
            from,
            OsStr::new(name),
            name,
            name,
            reason,
            &detail,
            None,
            vec![],
            None,
        ) {
            Ok(_) => self.emit(
                &mut report.outcomes,
                Outcome {
                    file: name.to_string(),
                    outcome: "quarantined".into(),
                    code: None,
                    reason: Some(reason.into()),
                    detail,
                },
            ),
            Err(e) => self.skip(
                report,
                name,
                format!("{what} that cannot be quarantined: {e}"),
            ),
        }
        Ok(true)
    }

    /// At the first pass: a file named by the crash marker was being
    /// inspected when the daemon died. The first time it is retried; if
    /// the marker says it was already the retry, it is quarantined.
    fn check_marker(&mut self, dirs: &Dirs, report: &mut PassReport) -> Result<(), IntakeError> {
        let marker = match dirs.read_bounded(Folder::Work, IN_PROGRESS_MARKER, MARKER_BYTES_MAX) {
            Ok(Bounded::Bytes(b)) => b,
            _ => return Ok(()),
        };
        let text = String::from_utf8_lossy(&marker);
        let (attempt, name) = text.split_once('\n').unwrap_or(("0", ""));
        let name = name.trim_end_matches('\n').to_string();
        let _ = dirs.unlink(Folder::Work, IN_PROGRESS_MARKER);
        if name.is_empty()
            || !matches!(dirs.stat(Folder::Work, &name), Ok(e) if e.kind == FileType::RegularFile)
        {
            return Ok(());
        }
        if attempt.trim() == "0" {
            tracing::warn!(file = %printable(&name),
                "the daemon stopped while inspecting this file; retrying it once");
            self.retrying = Some(name);
            return Ok(());
        }
        let detail = format!(
            "the daemon stopped twice while inspecting {name} (a crash or a kill); not tried again"
        );
        let sidecar = {
            let names = dirs.list(Folder::Work).map(|l| l.names).unwrap_or_default();
            sidecar_among(&name, &names).cloned()
        };
        self.fail(
            dirs,
            report,
            &name,
            sidecar.as_deref(),
            "crashed_during_processing",
            detail,
            None,
            vec![],
            None,
        );
        Ok(())
    }

    /// Writes the crash marker for `name` (not fsynced: it is about the
    /// process dying, not the machine).
    fn mark(&self, dirs: &Dirs, name: &str) {
        let attempt = u8::from(self.retrying.as_deref() == Some(name));
        let fd = rustix::fs::openat(
            dirs.fd(Folder::Work),
            IN_PROGRESS_MARKER,
            rustix::fs::OFlags::WRONLY
                | rustix::fs::OFlags::CREATE
                | rustix::fs::OFlags::TRUNC
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::from_raw_mode(0o600),
        );
        if let Ok(fd) = fd {
            let _ = rustix::io::write(&fd, format!("{attempt}\n{name}\n").as_bytes());
        }
    }

    fn unmark(&mut self, dirs: &Dirs) {
        let _ = dirs.unlink(Folder::Work, IN_PROGRESS_MARKER);
        self.retrying = None;
    }

    /// Waiting files: back to `work/` when their code is registered,
    /// quarantined when the waiting period is over.
    fn check_waiting(&mut self, dirs: &Dirs, report: &mut PassReport) -> Result<(), IntakeError> {
        let now = crate::ledger::now_s();
        let listing = dirs
            .list(Folder::Waiting)
            .map_err(io_err(&dirs.path(Folder::Waiting)))?;
        for name in listing.names {
            if name.ends_with(claim::WAITING_SUFFIX) || name.starts_with('.') {
                continue;
            }
            let state = claim::read_waiting(dirs, &name);
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
            let state_name = claim::waiting_state_name(&name);
            if known {
                if let Err(e) = dirs.rename(Folder::Waiting, &name, Folder::Work, &name) {
                    self.skip(report, &name, format!("cannot move it back to work/: {e}"));
                    continue;
                }
                let _ = dirs.unlink(Folder::Waiting, &state_name);
            } else if let (true, Some(s)) = (expired, state) {
                let days = self.cfg.waiting_period_secs as f64 / 86_400.0;
                let detail = format!(
                    "no certificate has the code {} after waiting {days:.1} day(s) (found by {})",
                    s.code, s.found_by
                );
                let code = Code::parse(&s.code).ok();
                if let Err(e) = self.quarantine(
                    dirs,
                    Folder::Waiting,
                    OsStr::new(&name),
                    &name,
                    &s.source_name,
                    "unknown_code",
                    &detail,
                    code.as_ref(),
                    vec![format!("{}: code {}", s.found_by, s.code)],
                    None,
                ) {
                    self.skip(report, &name, format!("cannot quarantine it: {e}"));
                    continue;
                }
                let _ = dirs.unlink(Folder::Waiting, &state_name);
                self.emit(
                    &mut report.outcomes,
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
    fn claim_stable(&mut self, dirs: &Dirs, report: &mut PassReport) -> Result<usize, IntakeError> {
        let listing = dirs.list(Folder::Inbox).map_err(io_err(&self.inbox))?;
        let names: Vec<String> = listing
            .names
            .into_iter()
            .filter(|n| !n.starts_with('.') && !Dirs::is_reserved(n))
            .collect();
        let stems: HashSet<&str> = names
            .iter()
            .filter(|n| !is_sidecar_name(n))
            .map(|n| stem(n))
            .collect();
        let now = Instant::now();
        let wait = Duration::from_millis(self.cfg.stable_ms);
        let mut unstable = 0;
        let mut claimed = 0;
        // Names that are not UTF-8: quarantined once stable, under a name
        // made printable; the reason file keeps the original (escaped).
        for raw in &listing.not_utf8 {
            let shown = claim::escape_bytes(raw);
            let Ok(entry) = dirs.stat(Folder::Inbox, claim::os(raw)) else {
                continue;
            };
            if !self
                .stability
                .observe(&shown, entry.size, entry.mtime, now, wait)
            {
                unstable += 1;
                continue;
            }
            self.stability.forget(&shown);
            let detail = format!(
                "the file name {shown} is not valid UTF-8; rename the file (the name was kept in source_name)"
            );
            match self.quarantine(
                dirs,
                Folder::Inbox,
                claim::os(raw),
                &claim::name_from_bytes(raw),
                &shown,
                "bad_file_name",
                &detail,
                None,
                vec![],
                None,
            ) {
                Ok(_) => self.emit(
                    &mut report.outcomes,
                    Outcome {
                        file: shown,
                        outcome: "quarantined".into(),
                        code: None,
                        reason: Some("bad_file_name".into()),
                        detail,
                    },
                ),
                Err(e) => self.skip(report, &shown, format!("cannot quarantine it: {e}")),
            }
        }
        for name in &names {
            let Ok(entry) = dirs.stat(Folder::Inbox, name) else {
                continue; // gone meanwhile
            };
            if self.stuck.contains_key(name) && entry.kind != FileType::RegularFile {
                report
                    .skipped
                    .push((name.clone(), self.stuck[name].clone()));
                continue;
            }
            if self.refuse_special(dirs, Folder::Inbox, name, entry.kind, report)? {
                continue;
            }
            let sidecar = is_sidecar_name(name);
            if sidecar && stems.contains(stem(name)) {
                continue; // claimed together with its scan
            }
            if !self
                .stability
                .observe(name, entry.size, entry.mtime, now, wait)
            {
                unstable += 1;
                continue;
            }
            if sidecar {
                let age = SystemTime::now()
                    .duration_since(entry.mtime)
                    .unwrap_or_default();
                if age.as_secs() < self.cfg.orphan_sidecar_secs {
                    continue; // its scan may still come
                }
            }
            self.stability.forget(name);
            let side = if sidecar {
                None
            } else {
                sidecar_among(name, &names)
            };
            let to = match dirs.rename(Folder::Inbox, name, Folder::Work, name) {
                Ok(to) => to,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.skip(report, name, format!("cannot claim it into work/: {e}"));
                    continue;
                }
            };
            if let Some(s) = side {
                let sname = format!("{}.{}", stem(&to), extension(s));
                match dirs.rename(Folder::Inbox, s, Folder::Work, &sname) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => self.skip(report, s, format!("cannot claim the sidecar: {e}")),
                }
            }
            claimed += 1;
        }
        let present: HashSet<String> = names
            .iter()
            .cloned()
            .chain(listing.not_utf8.iter().map(|r| claim::escape_bytes(r)))
            .collect();
        self.stability.retain(|n| present.contains(n));
        if claimed > 0 {
            dirs.fsync(Folder::Work)
                .map_err(io_err(&dirs.path(Folder::Work)))?;
            dirs.fsync(Folder::Inbox).map_err(io_err(&self.inbox))?;
        }
        Ok(unstable)
    }

    /// Reads a sidecar of `work/` (bounded, never through a symlink).
    fn read_sidecar(&self, dirs: &Dirs, sname: &str) -> Found {
        match dirs.read_bounded(Folder::Work, sname, identify::SIDECAR_BYTES_MAX) {
            Ok(Bounded::Bytes(b)) => identify::from_sidecar(sname, &b),
            Ok(Bounded::TooLarge { .. }) => Found::Unreadable(format!(
                "{sname} is larger than {} bytes",
                identify::SIDECAR_BYTES_MAX
            )),
            Ok(Bounded::Changed) => Found::Unreadable(format!("{sname} changed while read")),
            Err(e) => Found::Unreadable(format!("{sname}: {e}")),
        }
    }

    /// Resolves the code of a claimed file from the configured sources
    /// (`[intake] identify`). Every source is asked; registered codes win
    /// over unregistered ones; two sources naming different registered
    /// codes is `conflicting_codes`; a single well-formed unregistered
    /// code makes the scan wait.
    fn identify(
        &self,
        dirs: &Dirs,
        name: &str,
        sidecar: Option<&str>,
        bytes: &[u8],
        media_type: &'static str,
        tried: &mut Vec<String>,
    ) -> Identified {
        let mut results: Vec<(String, Found)> = Vec::new();
        let mut worker_failure: Option<worker::WorkerFailure> = None;
        for source in &self.cfg.identify {
            let (by, found) = match source {
                Source::CoverSheet => {
                    let limits = worker::Limits {
                        bytes_max: self.cfg.decode_bytes_max,
                        timeout_ms: self.cfg.decode_timeout_ms,
                        input_bytes_max: self.cfg.file_bytes_max,
                    };
                    let found = match worker::decode(&self.worker_exe, bytes, media_type, limits) {
                        Ok(texts) => identify::from_cover_sheet(&texts, &self.key),
                        Err(f) => {
                            let d = f.to_string();
                            if f.reason().is_some() {
                                worker_failure = Some(f);
                            } else if let worker::WorkerFailure::Spawn(_) = f {
                                tracing::error!(error = %d, "cannot run the decode worker");
                            }
                            Found::Unreadable(d)
                        }
                    };
                    ("cover-sheet barcode".to_string(), found)
                }
                Source::Sidecar => match sidecar {
                    Some(s) => (format!("sidecar {s}"), self.read_sidecar(dirs, s)),
                    None => ("sidecar".to_string(), Found::Nothing),
                },
                Source::FileName => ("file name".to_string(), identify::from_name(name)),
            };
            tried.push(found.describe(&by));
            results.push((by, found));
        }
        let mut known: Vec<(Code, String)> = Vec::new();
        let mut unknown: Option<(Code, String)> = None;
        let (mut typo, mut unauthenticated) = (false, false);
        for (by, found) in results {
            match found {
                Found::Codes(v) => {
                    let registered: Vec<Code> = v
                        .iter()
                        .copied()
                        .filter(|c| self.registry().find(c.as_str()).is_ok())
                        .collect();
                    match registered.len() {
                        0 if v.len() == 1 => {
                            unknown.get_or_insert((v[0], by));
                        }
                        0 => {}
                        1 => {
                            if !known
                                .iter()
                                .any(|(c, _)| c.as_str() == registered[0].as_str())
                            {
                                known.push((registered[0], by));
                            }
                        }
                        _ => {
                            return Identified::Failed(
                                "ambiguous_code",
                                format!(
                                    "{by} names several registered certificates: {}",
                                    registered
                                        .iter()
                                        .map(Code::formatted)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            )
                        }
                    }
                }
                Found::Typo(_) => typo = true,
                Found::Unauthenticated(_) => unauthenticated = true,
                Found::Nothing | Found::Unreadable(_) => {}
            }
        }
        match known.len() {
            1 => {
                let (c, by) = known.remove(0);
                return Identified::Known(c, by);
            }
            0 => {}
            _ => {
                return Identified::Failed(
                    "conflicting_codes",
                    format!(
                        "the sources name different certificates ({}); archived under neither",
                        known
                            .iter()
                            .map(|(c, by)| format!("{by}: {}", c.formatted()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }
        }
        if let Some((c, by)) = unknown {
            return Identified::Unknown(c, by);
        }
        if let Some(f) = worker_failure {
            if let Some(reason) = f.reason() {
                return Identified::Failed(reason, f.to_string());
            }
        }
        if unauthenticated {
            return Identified::Failed(
                "unauthenticated_code",
                "the barcode names a code but carries no valid cover-sheet tag of this archive \
                 (print the cover sheet with `zeugnis cover-sheet`)"
                    .into(),
            );
        }
        if typo {
            return Identified::Failed(
                "code_typo",
                "a code with an access key was found but its check character does not match (a typo?)"
                    .into(),
            );
        }
        let sources: Vec<&str> = self.cfg.identify.iter().map(|s| s.as_str()).collect();
        Identified::Failed(
            "no_code",
            format!(
                "no certificate code found (intake.identify = {})",
                sources.join(", ")
            ),
        )
    }

    /// Processes claimed files of `work/` in batches.
    fn process(
        &mut self,
        dirs: &Dirs,
        names: &[String],
        stop: &AtomicBool,
        report: &mut PassReport,
    ) -> Result<(), IntakeError> {
        let mut batch: Vec<Ready> = Vec::new();
        let mut batch_bytes = 0u64;
        for name in names {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if is_sidecar_name(name) {
                let has_scan = names
                    .iter()
                    .any(|n| !is_sidecar_name(n) && stem(n) == stem(name));
                if has_scan {
                    continue;
                }
            }
            if let Some(ready) = self.prepare(dirs, name, names, report)? {
                batch_bytes += ready.bytes.len() as u64;
                batch.push(ready);
            }
            if batch.len() >= self.cfg.batch_files_max
                || batch_bytes + self.cfg.file_bytes_max > self.cfg.batch_bytes_max
            {
                self.archive(dirs, std::mem::take(&mut batch), report)?;
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.archive(dirs, batch, report)?;
        }
        Ok(())
    }

    /// Quarantines a claimed file of `work/` (and its sidecar) and emits
    /// the outcome; a file that cannot be moved is skipped and reported.
    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        dirs: &Dirs,
        report: &mut PassReport,
        name: &str,
        sidecar: Option<&str>,
        reason: &'static str,
        detail: String,
        code: Option<&Code>,
        tried: Vec<String>,
        content: Option<&[u8]>,
    ) {
        if let Err(e) = self.quarantine(
            dirs,
            Folder::Work,
            OsStr::new(name),
            name,
            name,
            reason,
            &detail,
            code,
            tried,
            content,
        ) {
            self.skip(
                report,
                name,
                format!("cannot quarantine it ({reason}): {e}"),
            );
            return;
        }
        if let Some(s) = sidecar {
            if let Err(e) = dirs.rename(Folder::Work, s, Folder::Quarantine, s) {
                self.skip(report, s, format!("cannot quarantine the sidecar: {e}"));
            }
        }
        self.emit(
            &mut report.outcomes,
            Outcome {
                file: name.to_string(),
                outcome: "quarantined".into(),
                code: code.map(|c| c.as_str().to_string()),
                reason: Some(reason.into()),
                detail,
            },
        );
    }

    /// Reads and identifies one claimed file; quarantines or parks it when
    /// it cannot be archived now. `Some` when it is ready to archive.
    fn prepare(
        &mut self,
        dirs: &Dirs,
        name: &str,
        names: &[String],
        report: &mut PassReport,
    ) -> Result<Option<Ready>, IntakeError> {
        let Ok(entry) = dirs.stat(Folder::Work, name) else {
            return Ok(None);
        };
        if self.refuse_special(dirs, Folder::Work, name, entry.kind, report)? {
            return Ok(None);
        }
        let sidecar = sidecar_among(name, names).cloned();
        let side = sidecar.as_deref();
        if is_sidecar_name(name) {
            self.fail(
                dirs,
                report,
                name,
                None,
                "orphan_sidecar",
                format!("{name} is a sidecar file without a scan of the same name"),
                None,
                vec![],
                None,
            );
            return Ok(None);
        }
        if entry.size == 0 {
            self.fail(
                dirs,
                report,
                name,
                side,
                "empty",
                format!("{name} is empty"),
                None,
                vec![],
                None,
            );
            return Ok(None);
        }
        let max = self.cfg.file_bytes_max;
        let bytes = match dirs.read_bounded(Folder::Work, name, max) {
            Ok(Bounded::Bytes(b)) => b,
            Ok(Bounded::TooLarge { size }) => {
                self.fail(
                    dirs,
                    report,
                    name,
                    side,
                    "oversize",
                    format!(
                        "{name} has {}{size} bytes, above the limit of {max} (intake.file_bytes_max)",
                        if size == max + 1 { "at least " } else { "" }
                    ),
                    None,
                    vec![],
                    None,
                );
                return Ok(None);
            }
            Ok(Bounded::Changed) => {
                // Still being written (through a handle opened before the
                // claim): back to the inbox, where it must settle again.
                match dirs.rename(Folder::Work, name, Folder::Inbox, name) {
                    Ok(_) => tracing::info!(file = %printable(name),
                        "changed while being read; back to the inbox until it is stable"),
                    Err(e) => self.skip(
                        report,
                        name,
                        format!("changed while read, cannot move it back: {e}"),
                    ),
                }
                return Ok(None);
            }
            Err(e) => {
                self.fail(
                    dirs,
                    report,
                    name,
                    side,
                    "unreadable",
                    format!("{name} cannot be read: {e}"),
                    None,
                    vec![],
                    None,
                );
                return Ok(None);
            }
        };
        self.mark(dirs, name);
        let Some(media_type) = sniff(&bytes) else {
            self.unmark(dirs);
            self.fail(
                dirs,
                report,
                name,
                side,
                "not_pdf_or_image",
                format!("{name} is not a PDF, PNG, JPEG or TIFF file"),
                None,
                vec![],
                Some(&bytes),
            );
            return Ok(None);
        };
        let mut tried = Vec::new();
        let identified = self.identify(dirs, name, side, &bytes, media_type, &mut tried);
        self.unmark(dirs);
        match identified {
            Identified::Known(code, found_by) => Ok(Some(Ready {
                name: name.to_string(),
                sidecar,
                bytes,
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
                if let Err(e) = claim::park(dirs, name, &state) {
                    self.skip(report, name, format!("cannot move it to waiting/: {e}"));
                    return Ok(None);
                }
                if let Some(s) = side {
                    let _ = dirs.unlink(Folder::Work, s);
                }
                dirs.fsync(Folder::Waiting)
                    .map_err(io_err(&dirs.path(Folder::Waiting)))?;
                self.emit(
                    &mut report.outcomes,
                    Outcome {
                        file: name.to_string(),
                        outcome: "waiting".into(),
                        code: Some(code.as_str().to_string()),
                        reason: Some("not_registered_yet".into()),
                        detail: format!(
                            "no certificate has the code {} yet (found by {found_by}); waiting in {}",
                            code.formatted(),
                            dirs.path(Folder::Waiting).display()
                        ),
                    },
                );
                Ok(None)
            }
            Identified::Failed(reason, detail) => {
                self.fail(
                    dirs,
                    report,
                    name,
                    side,
                    reason,
                    detail,
                    None,
                    tried,
                    Some(&bytes),
                );
                Ok(None)
            }
        }
    }

    /// Archives a batch (one group commit), then removes the archived and
    /// duplicate files and quarantines the refused ones.
    fn archive(
        &mut self,
        dirs: &Dirs,
        batch: Vec<Ready>,
        report: &mut PassReport,
    ) -> Result<(), IntakeError> {
        let decisions = {
            let items: Vec<ScanItem> = batch
                .iter()
                .map(|r| ScanItem {
                    code: r.code,
                    bytes: &r.bytes,
                    media_type: r.media_type,
                    source_name: &r.name,
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
                    if let Err(e) = dirs.unlink(Folder::Work, &r.name) {
                        // Archived; the next pass finds it a duplicate.
                        self.skip(
                            report,
                            &r.name,
                            format!("archived, but cannot remove it from work/: {e}"),
                        );
                    }
                    if let Some(s) = &r.sidecar {
                        let _ = dirs.unlink(Folder::Work, s);
                    }
                    removed = true;
                    self.emit(
                        &mut report.outcomes,
                        Outcome {
                            file: r.name,
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
                    tracing::warn!(file = %printable(&r.name), "code vanished between lookup and archive; retrying later");
                }
                ScanDecision::Refused { state, error } => {
                    let reason = match state {
                        State::Archived => "second_scan",
                        State::Revoked => "revoked",
                        State::Superseded => "superseded",
                        State::Voided => "voided",
                        State::AwaitingScan => "refused",
                    };
                    self.fail(
                        dirs,
                        report,
                        &r.name,
                        r.sidecar.as_deref(),
                        reason,
                        error.to_string(),
                        Some(&r.code),
                        r.tried,
                        Some(&r.bytes),
                    );
                }
            }
        }
        if removed {
            dirs.fsync(Folder::Work)
                .map_err(io_err(&dirs.path(Folder::Work)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_names_cannot_forge_log_lines() {
        assert_eq!(printable("a.pdf"), "a.pdf");
        assert_eq!(
            printable("a.pdf\n2026-11-30T00:00:00Z INFO archived"),
            "a.pdf\\n2026-11-30T00:00:00Z INFO archived"
        );
        assert_eq!(printable("x\u{1b}[31m\r"), "x\\u{1b}[31m\\r");
        assert_eq!(printable("Prüfung.pdf"), "Prüfung.pdf");
    }

    #[test]
    fn identify_lists_are_parsed_and_checked() {
        assert_eq!(
            Source::parse_list("cover_sheet,sidecar, file_name").unwrap(),
            [Source::CoverSheet, Source::Sidecar, Source::FileName]
        );
        assert!(Source::parse_list("cover_sheet,cover_sheet").is_err());
        assert!(Source::parse_list("name").unwrap_err().contains("\"name\""));
        let cfg = IntakeConfig {
            identify: vec![],
            ..IntakeConfig::default()
        };
        assert_eq!(cfg.validate().unwrap_err().0, "intake.identify");
        let cfg = IntakeConfig {
            decode_bytes_max: 1024,
            ..IntakeConfig::default()
        };
        assert_eq!(cfg.validate().unwrap_err().0, "intake.decode_bytes_max");
        assert_eq!(IntakeConfig::default().identify, [Source::CoverSheet]);
    }
}
