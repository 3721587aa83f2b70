//! Command-line interface: parses arguments, calls the library, maps typed
//! errors to exit codes (0 success, 2 bad input, 1 internal failure).
//! It must not contain domain logic.

use crate::ledger::{self, recovery, Ledger, LedgerError, LedgerOptions};
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
    /// Open the ledger (creating it if absent), recover, sign, report. The
    /// scan intake and HTTP service join this command in later releases.
    Run {
        /// Configuration file (not read yet: only the embedded defaults exist).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the latest signed checkpoint note.
    Checkpoint,
    /// Print the verifier key string(s) of the active signing key(s).
    Vkey,
    /// Re-verify every record, the chain, the tree and every checkpoint.
    Audit,
    /// Rebuild the derived tiles and index from the ledger.
    Reindex,
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
        Command::Init { origin } => init(data, &origin),
        Command::Run { config } => run(data, config.as_deref()),
        Command::Checkpoint => print_checkpoint(data),
        Command::Vkey => vkey(data),
        Command::Audit => audit(data),
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

fn init(data: &Path, origin: &str) -> Result<(), LedgerError> {
    let l = Ledger::init(data, origin, LedgerOptions::default())?;
    l.flush_index()?;
    println!("initialised ledger in {}", data.display());
    println!("origin: {}", l.origin());
    for v in l.verifiers() {
        println!("vkey: {}", v.vkey());
    }
    Ok(())
}

fn run(data: &Path, config: Option<&Path>) -> Result<(), LedgerError> {
    if let Some(c) = config {
        return Err(LedgerError::Invalid(format!(
            "--config {}: configuration files are not supported yet; run without --config to use the embedded defaults",
            c.display()
        )));
    }
    let l = if ledger::is_initialized(data)? {
        Ledger::open(data, LedgerOptions::default())?
    } else {
        tracing::info!(data = %data.display(), origin = DEFAULT_ORIGIN, "no ledger yet; creating one");
        Ledger::init(data, DEFAULT_ORIGIN, LedgerOptions::default())?
    };
    l.flush_index()?;
    tracing::info!(
        data = %data.display(),
        records = l.size(),
        checkpoint_size = l.checkpoint().size,
        "ledger open, recovered and checkpointed"
    );
    println!("ledger: {} ({} records)", data.display(), l.size());
    print!("{}", l.checkpoint_note());
    Ok(())
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
