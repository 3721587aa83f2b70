//! Command-line interface: parses arguments, calls the library, maps typed
//! errors to exit codes (0 success, 2 bad input, 1 internal failure).
//! It must not contain domain logic.

use crate::ledger::{self, recovery, Ledger, LedgerError, LedgerOptions};
use crate::registry::{DocumentFile, RegistrationRecord, Registry, RegistryError};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// The origin used by `zeugnis init` and `zeugnis run` when none is given.
pub const DEFAULT_ORIGIN: &str = "localhost/zeugnis/1";

#[derive(Parser, Debug)]
#[command(
    name = "zeugnis",
    version,
    about = "Certificate archive: signed append-only ledger, grade engine"
)]
struct Cli {
    /// Data directory (the ledger).
    #[arg(long, global = true, default_value = "ledger")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new ledger: signing key (0600), FORMAT.md, genesis, first checkpoint.
    Init {
        /// Log name used as checkpoint origin and key name.
        #[arg(long, default_value = DEFAULT_ORIGIN)]
        origin: String,
    },
    /// The daemon: open (or create) the ledger, watch the scan inbox and
    /// archive scans, write periodic status reports; stops on SIGINT/SIGTERM.
    Run {
        /// Configuration file (TOML, see docs/configuration.md); without it
        /// the embedded defaults are used (./ledger, ./scans).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run files through the scan intake once (the daemon must not be running).
    Ingest {
        /// The scan files (each is moved into the pipeline).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The scan inbox whose work/, waiting/ and quarantine/ folders are used.
        #[arg(long, default_value = "scans")]
        scans: PathBuf,
        /// Configuration file for the [intake] limits.
        #[arg(long)]
        config: Option<PathBuf>,
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
        /// Use this code instead of a random one (must be unused).
        #[arg(long)]
        code: Option<String>,
        /// Print `{"code", "key", "url"}`.
        #[arg(long)]
        json: bool,
        /// Base URL of the verification service, for the printed link.
        #[arg(long, default_value = crate::registry::BASE_URL_DEFAULT)]
        base_url: String,
    },
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
    /// Declare a certificate invalid (reason and effective date go into the ledger).
    Revoke {
        /// The code.
        code: String,
        /// Why.
        #[arg(long)]
        reason: String,
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
        /// Base URL of the verification service.
        #[arg(long, default_value = crate::registry::BASE_URL_DEFAULT)]
        base_url: String,
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
    /// Write the A4 cover sheet (QR code) for the scanning station.
    CoverSheet {
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
    /// Verify a proof folder or a single .tlog-proof offline (no ledger, no network).
    VerifyProof {
        /// The folder from export-proof, or a records/<seq>.tlog-proof file.
        path: PathBuf,
        /// The verifier key the institution publishes (recommended).
        #[arg(long)]
        vkey: Option<String>,
    },
    /// Export the whole archive as a BagIt bag (resumable).
    ExportArchive {
        /// Output folder (a bag; an interrupted export can be resumed into it).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
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
        /// List registrations waiting for their scan longer than this many days.
        #[arg(long, default_value_t = crate::report::WAITING_DAYS_DEFAULT)]
        waiting_days: u64,
        /// The scan inbox (for its quarantine folder).
        #[arg(long, default_value = "scans")]
        scans: PathBuf,
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZEUGNIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let data = cli.data.as_path();
    let result = match cli.command {
        Command::Grade {
            ruleset,
            input,
            json,
            list,
        } => {
            return match crate::grades::grade_command(
                ruleset.as_deref(),
                input.as_deref(),
                json,
                list,
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
        Command::Register {
            record,
            documents,
            code,
            json,
            base_url,
        } => {
            return lifecycle(data, &base_url, |r| {
                let rec = read_record(&record)?;
                let docs = read_documents(&documents)?;
                print_issued(&r.register(&rec, &docs, code.as_deref())?, json);
                Ok(())
            })
        }
        Command::Show { code, key, json } => {
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                print_certificate(&r.show(&code, key.as_deref())?, json);
                Ok(())
            })
        }
        Command::Revoke {
            code,
            reason,
            effective,
        } => {
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                let date = effective.unwrap_or_else(today_utc);
                let seq = r.revoke(&code, &reason, &date)?;
                println!(
                    "revoked {} effective {date} (ledger seq {seq})",
                    r.find(&code)?.code
                );
                Ok(())
            })
        }
        Command::Supersede {
            old,
            record,
            documents,
            json,
            base_url,
        } => {
            return lifecycle(data, &base_url, |r| {
                let rec = read_record(&record)?;
                let docs = read_documents(&documents)?;
                let issued = r.supersede(&old, &rec, &docs)?;
                if !json {
                    println!(
                        "superseded {} by the new certificate below",
                        r.find(&old)?.code
                    );
                }
                print_issued(&issued, json);
                Ok(())
            })
        }
        Command::Void { code, reason } => {
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                let seq = r.void(&code, &reason)?;
                println!(
                    "voided {} (ledger seq {seq}); register the certificate again to restart",
                    r.find(&code)?.code
                );
                Ok(())
            })
        }
        Command::Erase { code, reason } => {
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                r.erase(&code, &reason)?;
                println!(
                    "erased the holder data of {}; the ledger stays valid",
                    r.find(&code)?.code
                );
                Ok(())
            })
        }
        Command::CoverSheet { code, output } => {
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                let c = r.find(&code)?;
                let key = crate::coversheet::CoverSheetKey::open_or_create(data)
                    .map_err(|e| RegistryError::Invalid(e.to_string()))?;
                let tag = key.tag(&c.code);
                let pdf = crate::coversheet::render_pdf(&crate::coversheet::CoverSheet {
                    code: &c.code,
                    institution: &c.institution,
                    document_kind: &c.kind,
                    verify_url: None,
                    authenticator: Some(&tag),
                })
                .map_err(|e| RegistryError::Invalid(format!("cover sheet: {e}")))?;
                crate::ledger::durable::write_atomic(&output, &pdf).map_err(|e| {
                    RegistryError::Invalid(format!("cannot write {}: {e}", output.display()))
                })?;
                println!(
                    "wrote the cover sheet of {} to {}",
                    c.code,
                    output.display()
                );
                Ok(())
            })
        }
        Command::ExportProof {
            code,
            output,
            with_files,
            with_personal_data,
        } => {
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                let s =
                    crate::export::export_proof(r, &code, &output, with_files, with_personal_data)
                        .map_err(|e| match e {
                            crate::export::ExportError::Registry(inner) => inner,
                            other => RegistryError::Invalid(other.to_string()),
                        })?;
                println!(
                    "exported {} record(s) and {} file(s) of {} to {}, proved against the checkpoint of size {}",
                    s.records,
                    s.files,
                    r.find(&code)?.code,
                    output.display(),
                    s.checkpoint_size
                );
                Ok(())
            })
        }
        Command::ExportArchive { output } => {
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
                let s =
                    crate::export::export_archive(r, &output, progress).map_err(|e| match e {
                        crate::export::ExportError::Registry(inner) => inner,
                        other => RegistryError::Invalid(other.to_string()),
                    })?;
                println!(
                    "exported a BagIt bag to {}: {} payload file(s), {} bytes ({} reused from an earlier run), ledger of {} records",
                    output.display(),
                    s.files,
                    s.bytes,
                    s.reused,
                    s.records
                );
                Ok(())
            })
        }
        Command::VerifyProof { path, vkey } => {
            return match crate::export::verify_proof(&path, vkey.as_deref()) {
                Ok(lines) => {
                    for l in lines {
                        println!("OK  {l}");
                    }
                    println!("verified: {}", path.display());
                    0
                }
                Err(e) => {
                    eprintln!("zeugnis verify-proof: {e}");
                    e.exit_code()
                }
            }
        }
        Command::Consistency { old, new } => {
            let read = |p: &Path| {
                std::fs::read_to_string(p)
                    .map_err(|e| LedgerError::Invalid(format!("{}: {e}", p.display())))
            };
            let result = (|| {
                let old_note = read(&old)?;
                let new_note = new.as_deref().map(read).transpose()?;
                let l = Ledger::open(data, LedgerOptions::default())?;
                Ok::<_, LedgerError>(crate::export::consistency(
                    &l,
                    &old_note,
                    new_note.as_deref(),
                ))
            })();
            return match result {
                Ok(Ok(lines)) => {
                    for l in lines {
                        println!("OK  {l}");
                    }
                    0
                }
                Ok(Err(e)) => {
                    eprintln!("zeugnis consistency: {e}");
                    e.exit_code()
                }
                Err(e) => {
                    eprintln!("zeugnis: error: {e}");
                    e.exit_code()
                }
            };
        }
        Command::RotateKey { retire, reason } => rotate_key(data, retire.as_deref(), &reason),
        Command::Status {
            json,
            waiting_days,
            scans,
            write,
            mail_to,
            mail_from,
            smtp,
        } => {
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                let mail = if mail_to.is_empty() {
                    None
                } else {
                    let (Some(from), Some(smtp)) = (mail_from.as_deref(), smtp.as_deref()) else {
                        return Err(RegistryError::Invalid(
                            "--mail-to needs --mail-from and --smtp HOST:PORT".into(),
                        ));
                    };
                    let (host, port) = smtp
                        .rsplit_once(':')
                        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                        .ok_or_else(|| {
                            RegistryError::Invalid(format!("--smtp {smtp}: expected HOST:PORT"))
                        })?;
                    Some(crate::report::MailConfig {
                        host,
                        port,
                        from: from.to_string(),
                        to: mail_to.clone(),
                    })
                };
                let report = crate::report::status(r, &scans, waiting_days)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
                } else {
                    print!("{}", report.text());
                }
                if write {
                    let path = report.write(data)?;
                    eprintln!("wrote {}", path.display());
                }
                if let Some(cfg) = mail {
                    crate::report::mail(&report, &cfg)?;
                    eprintln!("mailed to {}", cfg.to.join(", "));
                }
                Ok(())
            })
        }
        Command::Init { origin } => init(data, &origin),
        Command::Run { config } => {
            let cfg = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            return match crate::daemon::run(data, cfg, DEFAULT_ORIGIN) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("zeugnis run: error: {e}");
                    e.exit_code()
                }
            };
        }
        Command::Ingest {
            files,
            scans,
            config,
            json,
            identify,
        } => {
            let mut cfg = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if let Some(list) = identify {
                match crate::scans::Source::parse_list(&list) {
                    Ok(v) => cfg.intake.identify = v,
                    Err(e) => {
                        eprintln!("zeugnis ingest: error: --identify: {e}");
                        return 2;
                    }
                }
            }
            return ingest(data, &cfg, &scans, &files, json);
        }
        Command::Checkpoint => print_checkpoint(data),
        Command::Vkey => vkey(data),
        Command::Audit { fixity } => {
            match audit(data) {
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
            return lifecycle(data, crate::registry::BASE_URL_DEFAULT, |r| {
                let rep = r.fixity_audit(std::io::IsTerminal::is_terminal(&std::io::stderr()))?;
                println!(
                    "fixity: {} blob(s), {} bytes re-hashed (BLAKE3 and SHA-256); {} problem(s); recorded as ledger seq {}",
                    rep.blobs_checked,
                    rep.bytes_checked,
                    rep.failures.len(),
                    rep.seq
                );
                for f in &rep.failures {
                    println!(
                        "  blob {} {}; certificate(s): {}",
                        f.blob,
                        f.problem,
                        if f.certificates.is_empty() {
                            "-".to_string()
                        } else {
                            f.certificates.join(", ")
                        }
                    );
                }
                if rep.failures.is_empty() {
                    Ok(())
                } else {
                    Err(RegistryError::Ledger(LedgerError::Archive(format!(
                        "{} blob(s) damaged or missing (see above)",
                        rep.failures.len()
                    ))))
                }
            });
        }
        Command::Reindex => reindex(data),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("zeugnis: error: {e}");
            e.exit_code()
        }
    }
}

/// Opens the registry, runs `f`, maps the error to an exit code.
fn lifecycle(
    data: &Path,
    base_url: &str,
    f: impl FnOnce(&mut Registry) -> Result<(), RegistryError>,
) -> i32 {
    let result = Registry::open(data, base_url).and_then(|mut r| {
        let out = f(&mut r);
        r.ledger().flush_index()?;
        out
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("zeugnis: error: {e}");
            e.exit_code()
        }
    }
}

/// Reads at most `bytes_max` bytes of `path` (`flag` names the option in
/// errors): a larger file, or an endless one (`/dev/zero`), is refused
/// after `bytes_max + 1` bytes, never read to the end.
fn read_bounded(flag: &str, path: &Path, bytes_max: u64) -> Result<Vec<u8>, RegistryError> {
    use std::io::Read;
    let err = |e: std::io::Error| RegistryError::Invalid(format!("{flag} {}: {e}", path.display()));
    let f = std::fs::File::open(path).map_err(err)?;
    let mut bytes = Vec::new();
    f.take(bytes_max + 1).read_to_end(&mut bytes).map_err(err)?;
    if bytes.len() as u64 > bytes_max {
        return Err(RegistryError::Invalid(format!(
            "{flag} {}: more than {bytes_max} bytes, above the limit",
            path.display()
        )));
    }
    Ok(bytes)
}

fn read_record(path: &Path) -> Result<RegistrationRecord, RegistryError> {
    let bytes = read_bounded(
        "--record",
        path,
        crate::registry::RECORD_FILE_BYTES_MAX as u64,
    )?;
    RegistrationRecord::parse(&path.display().to_string(), &bytes)
}

fn read_documents(paths: &[PathBuf]) -> Result<Vec<DocumentFile>, RegistryError> {
    paths
        .iter()
        .map(|p| {
            let bytes = read_bounded("--document", p, crate::blobs::BLOB_BYTES_MAX_DEFAULT)?;
            Ok(DocumentFile {
                name: p.display().to_string(),
                bytes,
            })
        })
        .collect()
}

fn print_issued(i: &crate::registry::Issued, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"code": i.code, "key": i.key, "url": i.url})
        );
    } else {
        println!("code: {}", i.code);
        println!("key:  {}", i.key);
        println!("url:  {}", i.url);
    }
}

fn print_certificate(c: &crate::registry::Certificate, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(c).expect("json"));
        return;
    }
    println!("certificate  {}", c.code);
    println!("state        {}", c.state.name());
    println!("institution  {}", c.institution);
    println!("kind         {}", c.kind);
    for d in &c.documents {
        println!(
            "document     {} {} {} bytes blake3:{} sha256:{}",
            d.language.as_deref().unwrap_or("-"),
            d.media_type,
            d.size_bytes,
            d.blake3,
            d.sha256
        );
    }
    match &c.scan {
        Some(s) => println!(
            "scan         {} {} bytes blake3:{}",
            s.media_type, s.size_bytes, s.blake3
        ),
        None => println!("scan         not yet archived"),
    }
    if let Some(g) = &c.grade {
        println!(
            "grade        {} {}",
            g["ruleset"].as_str().unwrap_or("?"),
            g["result"]
        );
    }
    if let Some(r) = &c.revoked {
        println!(
            "revoked      {} (effective {}, ledger seq {})",
            r.reason,
            r.effective_date.as_deref().unwrap_or("?"),
            r.seq
        );
    }
    if let Some(v) = &c.voided {
        println!("voided       {} (ledger seq {})", v.reason, v.seq);
    }
    if let Some(n) = &c.superseded_by {
        println!("superseded by {n}");
    }
    if let Some(o) = &c.supersedes {
        println!("supersedes   {o}");
    }
    if c.erased {
        println!("holder data  erased");
    } else if let Some(h) = &c.holder {
        println!("holder data  {h}");
    }
    let seqs: Vec<String> = c.seqs.iter().map(u64::to_string).collect();
    println!("ledger seqs  {}", seqs.join(", "));
}

/// Today's date in UTC as `YYYY-MM-DD` (civil-from-days, proleptic Gregorian).
pub fn today_utc() -> String {
    let days = ledger::now_s().div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
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
    Ok(())
}

/// Loads `--config` (or the embedded defaults); on error prints it and
/// returns exit code 2.
fn load_config(path: Option<&Path>) -> Result<crate::config::Config, i32> {
    match path {
        None => Ok(crate::config::Config::default()),
        Some(p) => crate::config::Config::load(p).map_err(|e| {
            eprintln!("zeugnis: error: {e}");
            2
        }),
    }
}

/// `zeugnis ingest`: exit 0 when every file was archived, found to be a
/// duplicate or parked waiting; 2 when any was quarantined; 1 on failure.
fn ingest(
    data: &Path,
    cfg: &crate::config::Config,
    scans: &Path,
    files: &[PathBuf],
    json: bool,
) -> i32 {
    let data = cfg.data.clone().unwrap_or_else(|| data.to_path_buf());
    let registry = match Registry::open(&data, &cfg.base_url) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zeugnis ingest: error: {e}");
            return e.exit_code();
        }
    };
    let registry = std::sync::Arc::new(std::sync::Mutex::new(registry));
    let result = crate::scans::Intake::new(cfg.intake.clone(), scans, registry.clone())
        .and_then(|mut intake| intake.ingest(files));
    let flushed = registry
        .lock()
        .map_err(|_| ())
        .and_then(|r| r.ledger().flush_index().map_err(|_| ()));
    match result {
        Ok(outcomes) => {
            for o in &outcomes {
                if json {
                    println!("{}", serde_json::to_string(o).expect("json"));
                } else {
                    println!(
                        "{}: {}{} - {}",
                        o.file,
                        o.outcome,
                        o.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default(),
                        o.detail
                    );
                }
            }
            if flushed.is_err() {
                eprintln!("zeugnis ingest: warning: the derived index was not flushed; it is rebuilt at the next open");
            }
            if outcomes.iter().any(|o| o.outcome == "quarantined") {
                2
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("zeugnis ingest: error: {e}");
            1
        }
    }
}

fn print_checkpoint(data: &Path) -> Result<(), LedgerError> {
    if !data.join(ledger::SEGMENTS_DIR).is_dir() {
        return Err(LedgerError::NotInitialized {
            path: data.to_path_buf(),
        });
    }
    let cps = recovery::read_checkpoints(&data.join(ledger::CHECKPOINTS_FILE), false)?;
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

fn audit(data: &Path) -> Result<(), LedgerError> {
    let r = ledger::audit::audit(data)?;
    println!("audit of {}: OK", data.display());
    println!("  segments:    {}", r.segments);
    println!(
        "  records:     {} (chain and canonical encoding verified)",
        r.records
    );
    for (kind, n) in &r.kinds {
        println!("    {kind:<14} {n}");
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

fn rotate_key(data: &Path, retire: Option<&str>, reason: &str) -> Result<(), LedgerError> {
    let mut l = Ledger::open(data, LedgerOptions::default())?;
    match retire {
        None => {
            let v = l.add_key()?;
            println!(
                "added signing key {:08x}; checkpoints are now signed by every active key",
                v.key_id
            );
            println!("new vkey: {}", v.vkey());
            println!(
                "publish it, then retire the old key: zeugnis rotate-key --retire <old key ID>"
            );
        }
        Some(which) => {
            let v = l.retire_key(which, reason)?;
            println!("retired signing key {:08x} ({reason})", v.key_id);
        }
    }
    for v in ledger::recovery::verifiers_for_size(l.keys(), l.size()) {
        println!("active: {}", v.vkey());
    }
    l.flush_index()
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
