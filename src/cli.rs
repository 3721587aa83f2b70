//! Command-line interface: parses arguments, calls the library, maps typed
//! errors to exit codes (0 success, 2 bad input, 1 internal failure).
//! It must not contain domain logic.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "zeugnis", version, about = "Certificate archive")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    match cli.command {
        Command::Grade {
            ruleset,
            input,
            json,
            list,
        } => match crate::grades::grade_command(ruleset.as_deref(), input.as_deref(), json, list) {
            Ok(out) => {
                print!("{out}");
                0
            }
            Err(e) => {
                eprintln!("zeugnis grade: error: {e}");
                e.exit_code()
            }
        },
    }
}
