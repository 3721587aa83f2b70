//! Command-line interface: parses arguments, calls the library, maps typed
//! errors to exit codes (0 success, 2 bad input, 1 internal failure, 3 done
//! but unconfirmed: the change is durable, its checkpoint or its report
//! could not be written).
//! It must not contain domain logic.
//!
//! Every command reads one configuration ([`Config::resolve`]: `--config`,
//! `ZEUGNIS_CONFIG`, `./zeugnis.toml`, the defaults). Commands that need
//! the ledger's writer or its index are built as a [`Request`] and sent to
//! the running daemon over its control socket ([`crate::control`]); when no
//! daemon runs they open the ledger here and run the same
//! [`control::execute`]. `checkpoint`, `vkey` and the checking part of
//! `audit` read the files without any lock; `verify-proof` and `grade`
//! need no ledger.

use crate::config::Config;
use crate::control::{self, Registration, Reply, Request};
use crate::ledger::{self, recovery, Ledger, LedgerError, LedgerOptions};
use crate::registry::{Registry, RegistryError};
use clap::{Parser, Subcommand};

mod draft;
mod exports;
mod replace_scan;
mod reserve;
use std::path::{Path, PathBuf};

/// Set by systemd when stderr is connected to the journal.
const JOURNAL_STREAM_ENV: &str = "JOURNAL_STREAM";
/// Set when writing to standard output failed (a redirection onto a full
/// disk, a closed pipe). The CLI never panics on it (issue 14, F4): the
/// command finishes, and [`main`] turns a clean exit into
/// [`ledger::EXIT_UNCONFIRMED`] (done, but the report was not delivered).
static STDOUT_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

// `println!`/`print!`/`eprintln!` of the standard library panic when the
// stream cannot be written, which after a committed write would hide the
// code and key (exit 101). In this module they are shadowed by versions
// that record the failure instead.
macro_rules! println {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($t)*).is_err() {
            STDOUT_FAILED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }};
}
macro_rules! print {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if write!(std::io::stdout().lock(), $($t)*).is_err() {
            STDOUT_FAILED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }};
}
macro_rules! eprintln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        // Nowhere left to report a failure to write the error report.
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}

// After the macros above, so that the demo's output cannot panic either.
mod attribution;
mod demo;
mod operator;

/// The origin used by `zeugnis init` and `zeugnis run` when none is given.
pub const DEFAULT_ORIGIN: &str = "localhost/zeugnis/1";

#[derive(Parser, Debug)]
#[command(
    name = "zeugnis",
    version,
    about = "Certificate archive: signed append-only ledger, grade engine"
)]
struct Cli {
    /// Data directory (the ledger). Default: `data` from the configuration,
    /// else ./ledger.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Configuration file (TOML, see docs/configuration.md). Default: the
    /// file named by $ZEUGNIS_CONFIG, else ./zeugnis.toml if present, else
    /// the embedded defaults.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Say on stderr whether the command ran in the running daemon or
    /// opened the ledger itself.
    #[arg(long, global = true)]
    verbose: bool,
    /// Attribute the records this command writes to operator ID
    /// (`^[a-z][a-z0-9-]{1,63}$`, a pseudonym, never a name; ledger/FORMAT.md
    /// §3.5). Default: $ZEUGNIS_OPERATOR if set, else unattributed.
    #[arg(long, global = true, value_name = "ID")]
    operator: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Try zeugnis in one command: a demo folder (temporary, or --data DIR)
    /// with sample certificates registered, scanned, revoked and
    /// superseded, and the daemon running on it; Ctrl-C ends it.
    Demo(demo::DemoArgs),
    /// Create a new ledger: signing key (0600), FORMAT.md, genesis, first checkpoint.
    Init {
        /// Log name used as checkpoint origin and key name.
        #[arg(long, default_value = DEFAULT_ORIGIN)]
        origin: String,
    },
    /// The daemon: open (or create) the ledger, watch the scan inbox and
    /// archive scans, write periodic status reports; stops on SIGINT/SIGTERM.
    Run,
    /// Run files through the scan intake once (through the running daemon's
    /// intake when it runs).
    Ingest {
        /// The scan files (each is moved into the pipeline).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The scan inbox whose work/, waiting/ and quarantine/ folders are
        /// used (default: `scans` of the configuration). While the daemon
        /// runs, its own inbox is used.
        #[arg(long)]
        scans: Option<PathBuf>,
        /// Print one intake-outcome JSON object per line.
        #[arg(long)]
        json: bool,
        /// How codes are found for this run, comma-separated from
        /// cover_sheet, sidecar, file_name (default: `[intake] identify`).
        #[arg(long)]
        identify: Option<String>,
    },
    /// Print the latest signed checkpoint note.
    Checkpoint,
    /// Print the verifier key string(s) of the active signing key(s).
    Vkey,
    /// Re-verify every record, the chain, the tree and every checkpoint.
    Audit {
        /// Also re-hash every blob against both fingerprints and record the
        /// result in the ledger (`FixityChecked`).
        #[arg(long)]
        fixity: bool,
        /// A checkpoint kept outside the data directory (signed note file);
        /// it must be consistent with the ledger and no newer than it
        /// (detects a rollback). May be given several times.
        #[arg(long = "checkpoint", value_name = "FILE")]
        kept: Vec<PathBuf>,
    },
    /// Rebuild the derived tiles and index from the ledger.
    Reindex,
    /// Register a certificate: record JSON + its PDF(s); prints code and key.
    Register {
        /// The registration record (JSON, see README).
        #[arg(long)]
        record: PathBuf,
        /// The digital image(s): one PDF per language version, in order.
        #[arg(long = "document", required = true)]
        documents: Vec<PathBuf>,
        /// Use this reserved code (`zeugnis reserve`) and its key instead of
        /// a random one; it must be unused and unexpired.
        #[arg(long)]
        code: Option<String>,
        /// The --code was printed by an earlier system (migration): accept
        /// it although it was not reserved here; recorded in the ledger.
        #[arg(long, requires = "code")]
        import: bool,
        /// Accept a document whose exact bytes are already registered for
        /// another certificate that is still valid; recorded in the ledger.
        #[arg(long)]
        allow_duplicate: bool,
        /// Also write the print bundle to this file: the print version (the
        /// first document) followed by its cover sheet with the holder's
        /// name, birth date, student number, kind and programme.
        #[arg(long, value_name = "FILE.pdf")]
        print_bundle: Option<PathBuf>,
        /// Add the verification link (without the key), a QR code of it and
        /// the code to page 1 of each document, as an incremental update
        /// (a signature stays valid), at `[stamp]` of the configuration;
        /// the stamped file is what is registered.
        #[arg(long)]
        stamp: bool,
        /// Print `{"code", "key", "url"}`.
        #[arg(long)]
        json: bool,
        /// Base URL of the verification service, for the printed link
        /// (default: `base_url` of the configuration).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Write a copy of a document with an "ENTWURF / DRAFT" watermark on
    /// every page after checking its record as `register` would; records
    /// nothing (no ledger, no daemon needed).
    Draft(draft::DraftArgs),
    /// Hand out fresh codes with their keys and verification URLs before
    /// the documents exist (recorded, so they are never handed out twice).
    Reserve(reserve::ReserveArgs),
    /// Show a certificate's state, documents, grade record and ledger seqs.
    Show {
        /// The code (any spelling: case, spaces and hyphens do not matter).
        code: String,
        /// The access key: also show the holder data.
        #[arg(long)]
        key: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Declare a certificate invalid (category, reason and effective date go into the ledger).
    Revoke {
        /// The code.
        code: String,
        /// Why (private text: shown only with the access key).
        #[arg(long)]
        reason: String,
        /// Public reason category: unspecified (default), withdrawn, replaced, issued_in_error.
        #[arg(long, default_value = "unspecified", value_parser = parse_category)]
        category: crate::ledger::record::RevocationCategory,
        /// Effective date YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        effective: Option<String>,
    },
    /// Withdraw a certificate and register its corrected replacement under a new code.
    Supersede {
        /// The code of the certificate to withdraw.
        old: String,
        /// The corrected registration record.
        #[arg(long)]
        record: PathBuf,
        /// The corrected digital image(s).
        #[arg(long = "document", required = true)]
        documents: Vec<PathBuf>,
        /// Print `{"code", "key", "url"}`.
        #[arg(long)]
        json: bool,
        /// Base URL of the verification service (default: `base_url` of
        /// the configuration).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// End a failed process instance so it can restart under a new code.
    Void {
        /// The code.
        code: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Delete the holder data (GDPR Art. 17); the ledger stays valid.
    Erase {
        /// The code.
        code: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Replace a wrongly archived scan; the old one is kept (ledger kind 13).
    ReplaceScan(replace_scan::ReplaceScanArgs),
    /// The web desk's operator accounts (add, disable, list); stored in
    /// <data>/operators.json, outside the ledger.
    Operator(operator::OperatorArgs),
    /// Write the A4 cover sheet (QR code) for the scanning station.
    CoverSheet {
        /// The code.
        code: String,
        /// Output PDF file.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Write the print bundle: the print version followed by its cover sheet
    /// (with the holder's data to check the pairing), one PDF.
    PrintBundle {
        /// The code.
        code: String,
        /// Output PDF file.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Export a self-contained, offline-verifiable proof folder for one certificate.
    ExportProof {
        /// The code.
        code: String,
        /// Output folder (must not exist).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Also copy the digital images and the scan.
        #[arg(long)]
        with_files: bool,
        /// Also copy the personal-data record blob (holder data).
        #[arg(long)]
        with_personal_data: bool,
    },
    /// Export the XHochschule 1.2 "Hochschulabschlusszeugnis" XML of a
    /// certificate (unsigned; docs/exports.md).
    ExportXhs(exports::ExportArgs),
    /// Export the European Learning Model (EDC) JSON-LD of a certificate
    /// (unsigned; docs/exports.md).
    ExportElm(exports::ExportArgs),
    /// Verify a proof folder, the same folder as one tar file (the
    /// verification page's proof.tar) or a single .tlog-proof offline (no
    /// ledger, no network).
    VerifyProof {
        /// The folder from export-proof, its tar file (read without
        /// unpacking), or a records/<seq>.tlog-proof file.
        path: PathBuf,
        /// The verifier key the institution publishes (any key of its
        /// history: trust carries forward through the key records).
        #[arg(long)]
        vkey: Option<String>,
        /// Accept the key bundled in the folder instead (says so in the
        /// output); without --vkey or this, nothing is reported as verified.
        #[arg(long, conflicts_with = "vkey")]
        trust_bundled_key: bool,
    },
    /// Export the whole archive as a BagIt bag (resumable).
    ExportArchive {
        /// Output folder (a bag; an interrupted export can be resumed into it).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Leave out the holder record blobs (names, birth dates, grade
        /// inputs: personal data); they are listed by address in
        /// data/PERSONAL-DATA-LEFT-OUT.
        #[arg(long)]
        without_personal_data: bool,
    },
    /// Prove that an old checkpoint is a prefix of today's ledger (or of NEW).
    Consistency {
        /// A checkpoint note kept earlier.
        old: PathBuf,
        /// A newer checkpoint note (default: the ledger's latest).
        new: Option<PathBuf>,
    },
    /// Rotate the signing key: add a new key (both sign during the overlap),
    /// or with --retire retire an old one.
    RotateKey {
        /// Retire this key (8-hex key ID or verifier key string) instead of adding one.
        #[arg(long)]
        retire: Option<String>,
        /// Why the key is retired.
        #[arg(long, default_value = "scheduled rotation")]
        reason: String,
    },
    /// The status report: counts by state, long waits, quarantine, fixity,
    /// ledger growth, disk, key age; optionally written and mailed.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// List registrations waiting for their scan longer than this many
        /// days (default: `[report] waiting_days` of the configuration, 14).
        #[arg(long)]
        waiting_days: Option<u64>,
        /// The scan inbox, for its quarantine folder (default: `scans` of
        /// the configuration).
        #[arg(long)]
        scans: Option<PathBuf>,
        /// Also write the JSON report to <data>/reports/status-<date>.json.
        #[arg(long)]
        write: bool,
        /// Mail the report to this address (repeatable); needs --smtp and --mail-from.
        #[arg(long = "mail-to")]
        mail_to: Vec<String>,
        /// Sender address of the mail.
        #[arg(long)]
        mail_from: Option<String>,
        /// SMTP relay as HOST:PORT.
        #[arg(long)]
        smtp: Option<String>,
    },
    /// Compute a grade record with a shipped rule set.
    Grade {
        /// Rule-set id, e.g. erfurt-ba-2019.
        #[arg(long)]
        ruleset: Option<String>,
        /// Grade input JSON file.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Print JSON instead of the human-readable report.
        #[arg(long)]
        json: bool,
        /// List the shipped rule sets with their citation.
        #[arg(long)]
        list: bool,
        /// Cite, per step, the sentence of the regulation it implements and
        /// mark the steps that are a reading (with --input: beside the
        /// computation; without: the rule set's steps).
        #[arg(long)]
        explain: bool,
    },
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    // The decode worker (a child of the intake, never typed by a person)
    // starts before argument parsing and logging: it only decodes.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(crate::scans::worker::SUBCOMMAND) {
        return crate::scans::worker::main(&args[2..]);
    }
    let code = dispatch();
    let flushed = std::io::Write::flush(&mut std::io::stdout()).is_ok();
    if !flushed || STDOUT_FAILED.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "zeugnis: error: standard output could not be written; the command ran \
             (a change it made is committed: check with `zeugnis show CODE` or `zeugnis status`)"
        );
        if code == 0 {
            return ledger::EXIT_UNCONFIRMED;
        }
    }
    code
}

fn dispatch() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let log = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZEUGNIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    // Under systemd (stderr connected to the journal) the journal adds the
    // time itself: lines without it read better in `journalctl`.
    let _ = if std::env::var_os(JOURNAL_STREAM_ENV).is_some() {
        log.without_time().try_init()
    } else {
        log.try_init()
    };
    // `grade`, `draft` and `verify-proof` need neither the ledger nor the configuration;
    // `demo` makes its own.
    match cli.command {
        Command::Demo(args) => return demo::run(cli.data.as_deref(), args),
        Command::Draft(args) => return draft::run(args),
        Command::Grade {
            ruleset,
            input,
            json,
            list,
            explain,
        } => {
            return match crate::grades::grade_command(
                ruleset.as_deref(),
                input.as_deref(),
                crate::grades::GradeOutput {
                    json,
                    list,
                    explain,
                },
            ) {
                Ok(out) => {
                    print!("{out}");
                    0
                }
                Err(e) => {
                    eprintln!("zeugnis grade: error: {e}");
                    e.exit_code()
                }
            }
        }
        Command::VerifyProof {
            path,
            vkey,
            trust_bundled_key,
        } => {
            let trust = match (&vkey, trust_bundled_key) {
                (Some(k), _) => crate::export::Trust::Vkey(k),
                (None, true) => crate::export::Trust::BundledKey,
                (None, false) => crate::export::Trust::None,
            };
            return match crate::export::verify_proof(&path, trust) {
                Ok(lines) => {
                    for l in lines {
                        println!("OK  {l}");
                    }
                    if trust_bundled_key {
                        println!(
                            "verified: {} -- against the key bundled in it, NOT against an independently obtained key",
                            path.display()
                        );
                    } else {
                        println!("verified: {}", path.display());
                    }
                    0
                }
                Err(e) => {
                    eprintln!("zeugnis verify-proof: {e}");
                    e.exit_code()
                }
            };
        }
        _ => {}
    }
    let (cfg, cfg_path) = match Config::resolve(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zeugnis: error: {e}");
            return 2;
        }
    };
    if cli.verbose {
        match &cfg_path {
            Some(p) => eprintln!("zeugnis: configuration {}", p.display()),
            None => eprintln!("zeugnis: no configuration file; embedded defaults"),
        }
    }
    let data = cli
        .data
        .clone()
        .or_else(|| cfg.data.clone())
        .unwrap_or_else(|| PathBuf::from("ledger"));
    let data = data.as_path();
    let operator = match attribution::resolve(cli.operator.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("zeugnis: error: {e}");
            return 2;
        }
    };
    let run = Runner {
        data,
        cfg: &cfg,
        verbose: cli.verbose,
        operator: operator.as_ref(),
    };
    let result = match cli.command {
        Command::Grade { .. } | Command::VerifyProof { .. } | Command::Demo(_) => {
            unreachable!("handled above")
        }
        Command::Init { origin } => init(data, &origin),
        Command::Run => {
            return match crate::daemon::run(data, cfg, DEFAULT_ORIGIN) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("zeugnis run: error: {e}");
                    e.exit_code()
                }
            };
        }
        Command::ExportXhs(args) => return exports::run(&run, exports::Format::Xhs, args),
        Command::ExportElm(args) => return exports::run(&run, exports::Format::Elm, args),
        Command::Checkpoint => print_checkpoint(data),
        Command::Vkey => vkey(data),
        Command::Reindex => reindex(data),
        Command::Audit { fixity, kept } => {
            let kept = match read_kept_checkpoints(&kept) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("zeugnis: error: {e}");
                    return 2;
                }
            };
            match audit(data, &kept) {
                Ok(()) => {}
                // Missing blobs are what the fixity audit reports in detail.
                Err(LedgerError::Archive(_)) if fixity => {}
                Err(e) => {
                    eprintln!("zeugnis: error: {e}");
                    return e.exit_code();
                }
            }
            if !fixity {
                return 0;
            }
            return run.request(Request::Fixity {
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            });
        }
        Command::CoverSheet { code, output } => {
            return run.cover_sheet(code, output);
        }
        Command::ReplaceScan(args) => {
            return match replace_scan::request(args, &cfg) {
                Ok(req) => run.request(req),
                Err(e) => {
                    eprintln!("zeugnis: error: {e}");
                    e.exit_code()
                }
            }
        }
        Command::Reserve(args) => return reserve::run(&run, args),
        Command::Operator(args) => return operator::run(data, args),
        Command::PrintBundle { code, output } => {
            let req = Request::PrintBundle {
                code,
                output: output.clone(),
            };
            return run.request_writing_pdf(req, &output);
        }
        command => {
            let bundle = match &command {
                Command::Register { print_bundle, .. } => print_bundle.clone(),
                _ => None,
            };
            return match request_of(command, &cfg) {
                Ok(req) => match bundle {
                    Some(output) => run.request_writing_pdf(req, &output),
                    None => run.request(req),
                },
                Err(e) => {
                    eprintln!("zeugnis: error: {e}");
                    e.exit_code()
                }
            };
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("zeugnis: error: {e}");
            e.exit_code()
        }
    }
}

/// Builds the request of a command that needs the writer or the index,
/// reading its input files here (bad input: exit 2, naming the file).
fn request_of(command: Command, cfg: &Config) -> Result<Request, RegistryError> {
    let absolute = |p: &Path| {
        std::path::absolute(p).map_err(|e| RegistryError::Invalid(format!("{}: {e}", p.display())))
    };
    Ok(match command {
        Command::Register {
            record,
            documents,
            code,
            import,
            allow_duplicate,
            print_bundle,
            stamp,
            json,
            base_url,
        } => Request::Register {
            registration: Registration::read(&record, &documents)?,
            code,
            json,
            stamp: stamp.then(|| crate::stamp::StampRequest {
                base_url: base_url.clone().unwrap_or_else(|| cfg.base_url.clone()),
                place: cfg.stamp,
            }),
            base_url,
            import,
            allow_duplicate,
            print_bundle: print_bundle.is_some(),
        },
        Command::Show { code, key, json } => Request::Show { code, key, json },
        Command::Revoke {
            code,
            category,
            reason,
            effective,
        } => Request::Revoke {
            code,
            category: category.name().to_string(),
            reason,
            effective,
        },
        Command::Supersede {
            old,
            record,
            documents,
            json,
            base_url,
        } => Request::Supersede {
            old,
            registration: Registration::read(&record, &documents)?,
            json,
            base_url,
        },
        Command::Void { code, reason } => Request::Void { code, reason },
        Command::Erase { code, reason } => Request::Erase { code, reason },
        Command::ExportProof {
            code,
            output,
            with_files,
            with_personal_data,
        } => Request::ExportProof {
            code,
            output: absolute(&output)?,
            with_files,
            with_personal_data,
        },
        Command::ExportArchive {
            output,
            without_personal_data,
        } => Request::ExportArchive {
            output: absolute(&output)?,
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            without_personal_data,
        },
        Command::Consistency { old, new } => {
            let read = |p: &Path| {
                std::fs::read_to_string(p)
                    .map_err(|e| RegistryError::Invalid(format!("{}: {e}", p.display())))
            };
            Request::Consistency {
                old_note: read(&old)?,
                new_note: new.as_deref().map(read).transpose()?,
            }
        }
        Command::RotateKey { retire, reason } => Request::RotateKey { retire, reason },
        Command::Status {
            json,
            waiting_days,
            scans,
            write,
            mail_to,
            mail_from,
            smtp,
        } => Request::Status {
            json,
            waiting_days,
            scans: scans.as_deref().map(absolute).transpose()?,
            write,
            mail_to,
            mail_from,
            smtp,
        },
        Command::Ingest {
            files,
            scans,
            json,
            identify,
        } => Request::Ingest {
            files: files
                .iter()
                .map(|f| absolute(f))
                .collect::<Result<_, _>>()?,
            scans: scans.as_deref().map(absolute).transpose()?,
            json,
            identify,
        },
        other => {
            return Err(RegistryError::Invalid(format!(
                "{other:?} is not a ledger request"
            )))
        }
    })
}

/// Runs requests: in the daemon when one answers on the control socket,
/// else on a ledger opened here.
struct Runner<'a> {
    /// The data directory.
    data: &'a Path,
    /// The configuration.
    cfg: &'a Config,
    /// `--verbose`.
    verbose: bool,
    /// `--operator` / `ZEUGNIS_OPERATOR`: who the writes are attributed to.
    operator: Option<&'a crate::registry::OperatorId>,
}

impl Runner<'_> {
    /// Runs `req`, prints its reply, returns its exit code.
    fn request(&self, req: Request) -> i32 {
        finish(self.reply(req))
    }

    fn reply(&self, req: Request) -> Reply {
        if let (Some(op), Request::Ingest { .. }) = (self.operator, &req) {
            eprintln!("zeugnis: note: {}", attribution::ingest_note(op));
        }
        let req = req.attributed(self.operator);
        let socket = control::socket_path(self.data);
        match control::connect(self.data) {
            Err(e) => Reply::error(1, &e.to_string()),
            Ok(Some(stream)) => {
                if self.verbose {
                    eprintln!(
                        "zeugnis: {} runs in the daemon (control socket {})",
                        req.name(),
                        socket.display()
                    );
                }
                control::send(self.data, stream, &req)
                    .unwrap_or_else(|e| Reply::error(1, &e.to_string()))
            }
            Ok(None) => {
                if self.verbose {
                    eprintln!(
                        "zeugnis: no daemon answers on {}; {} opens the ledger itself",
                        socket.display(),
                        req.name()
                    );
                }
                self.local(req)
            }
        }
    }

    /// Runs `req` on a ledger opened here (no daemon runs).
    fn local(&self, req: Request) -> Reply {
        if let Request::Ingest {
            files,
            scans,
            json,
            identify,
        } = req
        {
            let scans = scans.unwrap_or_else(|| self.cfg.scans.clone());
            let mut cfg = self.cfg.clone();
            if let Some(list) = identify {
                match crate::scans::Source::parse_list(&list) {
                    Ok(v) => cfg.intake.identify = v,
                    Err(e) => return Reply::error(2, &format!("--identify: {e}")),
                }
            }
            return Runner { cfg: &cfg, ..*self }.ingest(&files, &scans, json);
        }
        let mut registry = match self.open_registry(!req.writes()) {
            Ok(r) => r,
            Err(e) => return Reply::error(e.exit_code(), &e.to_string()),
        };
        registry.set_reservation_days(self.cfg.reserve.expiry_days);
        let ctx = control::Context {
            data: self.data.to_path_buf(),
            scans: self.cfg.scans.clone(),
            waiting_days: self.cfg.report.waiting_days,
            scan_bytes_max: self.cfg.intake.file_bytes_max,
        };
        let mut reply = control::execute(req, &mut registry, &ctx);
        // The index is derived: failing to flush it after a committed change
        // is a warning, never the command's failure (issue 14).
        if let Err(e) = registry.ledger().flush_index() {
            reply.stderr.push_str(&format!(
                "zeugnis: warning: {e} (the derived index is checked and rebuilt at the next open)\n"
            ));
        }
        // sled panics in its `Drop` when its final fsync fails (issue 14,
        // F4); by now the outcome is decided and in the reply.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(registry))).is_err() {
            reply.stderr.push_str("zeugnis: warning: closing the derived index failed; it is checked and rebuilt at the next open\n");
        }
        reply
    }

    /// Opens the registry here (no daemon runs). A read command opens it
    /// read-only (no writer lock; the latest signed checkpoint; a cost that
    /// does not grow with the ledger) and falls back to the writer's open
    /// only when the derived data needs rebuilding.
    fn open_registry(&self, read: bool) -> Result<Registry, RegistryError> {
        if read {
            match Registry::open_read_only(self.data, &self.cfg.base_url) {
                Err(RegistryError::Ledger(LedgerError::NeedsWriter(why))) => {
                    if self.verbose {
                        eprintln!("zeugnis: {why}; opening the ledger as its writer");
                    }
                }
                other => return other,
            }
        }
        Registry::open(self.data, &self.cfg.base_url)
    }

    fn ingest(&self, files: &[PathBuf], scans: &Path, json: bool) -> Reply {
        let registry = match Registry::open(self.data, &self.cfg.base_url) {
            Ok(r) => r,
            Err(e) => {
                return Reply {
                    exit: e.exit_code(),
                    stderr: format!("zeugnis ingest: error: {e}\n"),
                    ..Reply::default()
                }
            }
        };
        let registry = std::sync::Arc::new(std::sync::Mutex::new(registry));
        let result = crate::scans::Intake::new(self.cfg.intake.clone(), scans, registry.clone())
            .and_then(|mut intake| intake.ingest(files));
        let flushed = registry
            .lock()
            .map_err(|_| ())
            .and_then(|r| r.ledger().flush_index().map_err(|_| ()));
        let mut reply = control::ingest_reply(result, json);
        if flushed.is_err() {
            reply.stderr.push_str("zeugnis ingest: warning: the derived index was not flushed; it is rebuilt at the next open\n");
        }
        // sled panics in its `Drop` when its last fsync fails (issue 14,
        // F4); the scans archived are in the reply by now.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(registry))).is_err() {
            reply.stderr.push_str("zeugnis ingest: warning: closing the derived index failed; it is checked and rebuilt at the next open\n");
        }
        reply
    }

    /// `cover-sheet`: the PDF is rendered where the ledger is and written here.
    fn cover_sheet(&self, code: String, output: PathBuf) -> i32 {
        let req = Request::CoverSheet {
            code,
            output: output.clone(),
        };
        self.request_writing_pdf(req, &output)
    }

    /// Runs `req` and writes the PDF its reply carries (a cover sheet or a
    /// print bundle) to `output`, before printing the reply.
    fn request_writing_pdf(&self, req: Request, output: &Path) -> i32 {
        let mut reply = self.reply(req);
        if let Some(pdf) = reply.pdf.take() {
            if let Err(e) = crate::ledger::durable::write_atomic(output, &pdf) {
                // What the command printed (a registration's code and key)
                // is still printed.
                reply.exit = 2;
                reply.stderr.push_str(&format!(
                    "zeugnis: error: cannot write {}: {e}\n",
                    output.display()
                ));
            }
        }
        finish(reply)
    }
}

/// Prints a reply and returns its exit code.
fn finish(reply: Reply) -> i32 {
    use std::io::Write as _;
    let written = std::io::stdout()
        .write_all(reply.stdout.as_bytes())
        .and_then(|()| std::io::stdout().flush());
    if written.is_err() {
        // Issue 14, F4: never lose a code and key that were committed:
        // what standard output could not take goes to standard error, and
        // `main` reports the outcome as unconfirmed (exit 3).
        STDOUT_FAILED.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::io::stderr().write_all(reply.stdout.as_bytes());
    }
    let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
    reply.exit
}

fn init(data: &Path, origin: &str) -> Result<(), LedgerError> {
    let l = Ledger::init(data, origin, LedgerOptions::default())?;
    l.flush_index()?;
    if let Err(e) = crate::coversheet::CoverSheetKey::open_or_create(data) {
        eprintln!("zeugnis init: warning: {e} (it is created again at the next start)");
    }
    println!("initialised ledger in {}", data.display());
    println!("origin: {}", l.origin());
    for v in l.verifiers() {
        println!("vkey: {}", v.vkey());
    }
    // The ledger is initialised: sled's panic in its `Drop` when its last
    // fsync fails must not turn that into a failure (issue 14, F4).
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(l))).is_err() {
        eprintln!("zeugnis init: warning: closing the derived index failed; it is checked and rebuilt at the next open");
    }
    Ok(())
}

fn print_checkpoint(data: &Path) -> Result<(), LedgerError> {
    if !data.join(ledger::SEGMENTS_DIR).is_dir() {
        return Err(LedgerError::NotInitialized {
            path: data.to_path_buf(),
        });
    }
    let cps_path = data.join(ledger::CHECKPOINTS_FILE);
    let cps = recovery::read_checkpoints(&cps_path, false)?;
    if let (Some(at), true) = (cps.torn_at, cps.torn_whole_frame) {
        // Printing the one before would hide that the latest is damaged.
        return Err(LedgerError::Corrupt {
            path: cps_path,
            offset: at,
            seq: cps.count,
            what: "the latest checkpoint frame is damaged (run `zeugnis audit`)".into(),
        });
    }
    let (_, note) = cps
        .notes
        .last()
        .ok_or_else(|| LedgerError::Invalid("the ledger has no checkpoint yet".into()))?;
    print!("{note}");
    Ok(())
}

fn vkey(data: &Path) -> Result<(), LedgerError> {
    if !data.join(ledger::SEGMENTS_DIR).is_dir() {
        return Err(LedgerError::NotInitialized {
            path: data.to_path_buf(),
        });
    }
    let (_, keys) = recovery::key_history(data)?;
    for k in keys.iter().filter(|k| k.retired_seq.is_none()) {
        println!("{}", k.verifier.vkey());
    }
    Ok(())
}

/// Most bytes of a kept checkpoint file (a note is at most 64 KiB).
const KEPT_CHECKPOINT_BYTES_MAX: u64 = 65_536;

fn read_kept_checkpoints(files: &[PathBuf]) -> Result<Vec<ledger::audit::KeptCheckpoint>, String> {
    use std::io::Read as _;
    files
        .iter()
        .map(|f| {
            let mut text = String::new();
            std::fs::File::open(f)
                .and_then(|h| h.take(KEPT_CHECKPOINT_BYTES_MAX + 1).read_to_string(&mut text))
                .map_err(|e| format!("--checkpoint {}: {e}", f.display()))?;
            if text.len() as u64 > KEPT_CHECKPOINT_BYTES_MAX {
                return Err(format!(
                    "--checkpoint {}: larger than {KEPT_CHECKPOINT_BYTES_MAX} bytes, not a checkpoint note",
                    f.display()
                ));
            }
            Ok(ledger::audit::KeptCheckpoint {
                label: f.display().to_string(),
                note: text,
            })
        })
        .collect()
}

fn audit(data: &Path, kept: &[ledger::audit::KeptCheckpoint]) -> Result<(), LedgerError> {
    let r = ledger::audit::audit_with_kept(data, kept)?;
    println!("audit of {}: OK", data.display());
    println!("  segments:    {}", r.segments);
    println!(
        "  records:     {} (chain and canonical encoding verified)",
        r.records
    );
    for (kind, n) in &r.kinds {
        println!("    {kind:<14} {n}");
    }
    let attributed: u64 = r.operators.values().sum();
    println!(
        "  operators:   {attributed} attributed record(s), {} unattributed",
        r.records - attributed
    );
    for (op, n) in &r.operators {
        println!("    {op:<14} {n}");
    }
    println!(
        "  checkpoints: {} (signatures, roots and consistency verified)",
        r.checkpoints
    );
    println!(
        "  latest:      size {} root {}",
        r.checkpoint_size, r.checkpoint_root
    );
    println!("  keys:        {}", r.keys);
    if !kept.is_empty() {
        println!(
            "  kept:        {} independently kept checkpoint(s) consistent, none newer than the ledger",
            r.kept_checkpoints
        );
    }
    println!("  tiles:       {} full tiles compared", r.tiles_checked);
    for w in &r.warnings {
        println!("  warning: {w}");
    }
    let findings = crate::registry::blob_findings(data, r.records).map_err(|e| match e {
        RegistryError::Ledger(l) => l,
        other => LedgerError::Invalid(other.to_string()),
    })?;
    println!("  blobs:       {} finding(s)", findings.len());
    for f in &findings {
        println!("  blob: {f}");
    }
    if findings.iter().any(|f| f.contains("is missing")) {
        return Err(LedgerError::Archive(format!(
            "{} referenced blob(s) missing (see above)",
            findings.iter().filter(|f| f.contains("is missing")).count()
        )));
    }
    Ok(())
}

fn reindex(data: &Path) -> Result<(), LedgerError> {
    let l = Ledger::reindex(data, LedgerOptions::default())?;
    l.flush_index()?;
    println!(
        "reindexed {}: {} records, tiles and index rebuilt",
        data.display(),
        l.size()
    );
    Ok(())
}

/// `--category` of `revoke`: one of the public reason categories.
fn parse_category(s: &str) -> Result<crate::ledger::record::RevocationCategory, String> {
    crate::ledger::record::RevocationCategory::parse(s).ok_or_else(|| {
        format!("{s:?} is not a category; expected one of unspecified, withdrawn, replaced, issued_in_error")
    })
}
