//! `zeugnis draft --record R.json --document F.pdf -o DRAFT.pdf`: checks
//! the record as `register` would and writes a copy of the document with
//! the "ENTWURF / DRAFT" watermark on every page (docs/workflow.md, step
//! 0). Needs neither the ledger nor the daemon: it records nothing.
//! Must not do: open the data directory or the control socket.

use std::path::{Path, PathBuf};

/// The arguments of `draft`.
#[derive(clap::Args, Debug)]
pub struct DraftArgs {
    /// The registration record (JSON, as for `register`).
    #[arg(long)]
    record: PathBuf,
    /// The document to watermark (a PDF).
    #[arg(long)]
    document: PathBuf,
    /// Where to write the draft; not the document itself.
    #[arg(short = 'o', long = "output", value_name = "DRAFT.pdf")]
    output: PathBuf,
}

/// Runs `draft`; returns the exit code (2: bad input, 1: cannot write).
pub fn run(args: DraftArgs) -> i32 {
    match draft(&args) {
        Ok(lines) => {
            print!("{lines}");
            0
        }
        Err((code, e)) => {
            eprintln!("zeugnis draft: error: {e}");
            code
        }
    }
}

fn draft(args: &DraftArgs) -> Result<String, (i32, String)> {
    let same = match (
        std::fs::canonicalize(&args.document),
        std::fs::canonicalize(&args.output),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err((
            2,
            format!(
                "-o {}: that is the --document itself; write the draft to another file",
                args.output.display()
            ),
        ));
    }
    let record = read_bounded(
        "--record",
        &args.record,
        crate::registry::RECORD_FILE_BYTES_MAX as u64,
    )?;
    let document = read_bounded(
        "--document",
        &args.document,
        crate::blobs::BLOB_BYTES_MAX_DEFAULT,
    )?;
    let d = crate::draft::make_draft(
        &args.record.display().to_string(),
        &record,
        &args.document.display().to_string(),
        &document,
    )
    .map_err(|e| (e.exit_code(), e.to_string()))?;
    crate::ledger::durable::write_atomic(&args.output, &d.pdf)
        .map_err(|e| (1, format!("cannot write {}: {e}", args.output.display())))?;
    let mut out = format!(
        "draft: {} ({} page{}, each marked \"{} - {}\"); nothing was recorded\n",
        args.output.display(),
        d.pages,
        if d.pages == 1 { "" } else { "s" },
        crate::draft::WATERMARK_LINE_1,
        crate::draft::WATERMARK_LINE_2,
    );
    if let Some((grade, ruleset)) = d.grade {
        out.push_str(&format!("grade: {grade} (rule set {ruleset})\n"));
    }
    Ok(out)
}

/// Reads `p`, refusing a file above `limit` bytes (naming the flag).
fn read_bounded(flag: &str, p: &Path, limit: u64) -> Result<Vec<u8>, (i32, String)> {
    let bad = |e: std::io::Error| (2, format!("{flag} {}: {e}", p.display()));
    let len = std::fs::metadata(p).map_err(bad)?.len();
    if len > limit {
        return Err((
            2,
            format!(
                "{flag} {}: {len} bytes, above the limit of {limit} bytes",
                p.display()
            ),
        ));
    }
    std::fs::read(p).map_err(bad)
}
