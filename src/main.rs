//! The `zeugnis` binary: parse arguments, run, map the outcome to an exit code.

fn main() {
    std::process::exit(zeugnis::cli::main());
}
