//! `zeugnis operator add|disable|list`: the web desk's operator accounts.
//!
//! Works the same whether the daemon runs or not: the accounts live in
//! `<data>/operators.json` (see [`crate::operators`]), changed under a file
//! lock, and the daemon reads the file on every sign-in and desk request.
//! Must not do: echo or log a password; take one from the command line
//! (it would show in `ps` and the shell history).

use super::STDOUT_FAILED;
use crate::operators::{OperatorStore, PASSWORD_BYTES_MAX};
use std::io::Read as _;
use std::path::Path;

/// The subcommands of `zeugnis operator`.
#[derive(clap::Subcommand, Debug)]
pub enum OperatorCommand {
    /// Add an account; prints its operator id. The password is read from
    /// standard input (one line).
    Add {
        /// The name the person signs in with (or the single-sign-on user name).
        name: String,
        /// Read the password from standard input (required: passwords are
        /// never taken from the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable an account: it can no longer sign in, and its open sessions
    /// end at their next request.
    Disable {
        /// The account's name.
        name: String,
    },
    /// List the accounts: id, state, failed sign-ins, name.
    List {
        /// Print one JSON object per line (`id`, `name`, `disabled`,
        /// `failed_signins`, `locked_until_s`, `created_s`; never the hash).
        #[arg(long)]
        json: bool,
    },
}

/// The arguments of `zeugnis operator`.
#[derive(clap::Args, Debug)]
pub struct OperatorArgs {
    #[command(subcommand)]
    command: OperatorCommand,
}

/// Reads the password: one line of standard input, without its line end.
fn password_from_stdin() -> Result<String, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .take(PASSWORD_BYTES_MAX as u64 + 2)
        .read_to_end(&mut buf)
        .map_err(|e| format!("standard input: {e}"))?;
    let text = String::from_utf8(buf).map_err(|_| "the password is not UTF-8".to_string())?;
    let line = text.lines().next().unwrap_or("");
    Ok(line.to_string())
}

/// Runs `zeugnis operator`; returns the exit code.
pub(super) fn run(data: &Path, args: OperatorArgs) -> i32 {
    if !data.is_dir() {
        eprintln!(
            "zeugnis operator: error: data directory {} does not exist (zeugnis init, or --data)",
            data.display()
        );
        return 2;
    }
    let store = OperatorStore::new(data);
    let result = match args.command {
        OperatorCommand::Add { name, .. } => {
            let password = match password_from_stdin() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("zeugnis operator add: error: {e}");
                    return 2;
                }
            };
            store.add(&name, &password).map(|op| {
                tracing::info!(operator = %op.id, "operator added");
                println!("{}", op.id);
            })
        }
        OperatorCommand::Disable { name } => store.disable(&name).map(|op| {
            tracing::info!(operator = %op.id, "operator disabled");
            println!("{} disabled", op.id);
        }),
        OperatorCommand::List { json } => store.list().map(|ops| {
            let now = crate::operators::now_s();
            for op in ops {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": op.id,
                            "name": op.name,
                            "disabled": op.disabled,
                            "failed_signins": op.failed_signins,
                            "locked_until_s": op.locked_until_s,
                            "created_s": op.created_s,
                        })
                    );
                } else {
                    let state = if op.disabled {
                        "disabled"
                    } else if op.locked_until_s.is_some_and(|u| u > now) {
                        "locked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}\t{state}\t{} failed\t{}",
                        op.id, op.failed_signins, op.name
                    );
                }
            }
        }),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("zeugnis operator: error: {e}");
            e.exit_code()
        }
    }
}
