//! The commands that need the ledger's writer (or its derived index), as
//! values: what the CLI sends to the running daemon over the control
//! socket, and what it runs itself when no daemon runs.
//!
//! Owns: [`Request`] (one variant per command, with its inputs read by the
//! client, so the daemon never reads the operator's files), [`Reply`] (the
//! exact stdout, stderr and exit code the command prints) and [`execute`],
//! the one implementation both the daemon and the CLI call.
//! Must not do: open the ledger, print, or know whether it runs in the
//! daemon or in the CLI (that is [`Context`]'s job).

use crate::registry::{DocumentFile, RegistrationRecord, Registry, RegistryError};
use crate::scans::{IntakeError, Outcome};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::PathBuf;

/// A command that needs the writer or the derived index.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Request {
    /// `zeugnis register`.
    Register {
        /// The record and documents, as read by the client.
        registration: Registration,
        /// A chosen code instead of a random one.
        code: Option<String>,
        /// Print `{"code", "key", "url"}`.
        json: bool,
        /// Base URL for the printed link (`--base-url`); the configured one
        /// when absent.
        base_url: Option<String>,
        /// `--import`: the code was printed by an earlier system.
        #[serde(default)]
        import: bool,
        /// `--allow-duplicate`: the same PDF bytes may already be registered.
        #[serde(default)]
        allow_duplicate: bool,
        /// `--print-bundle`: the reply carries the print bundle PDF
        /// (print version + cover sheet), which the client writes.
        #[serde(default)]
        print_bundle: bool,
        /// `--stamp`: the link, QR code and code go onto page 1 of each
        /// document before it is registered (`crate::stamp`).
        #[serde(default)]
        stamp: Option<crate::stamp::StampRequest>,
    },
    /// `zeugnis reserve`.
    Reserve {
        /// How many codes.
        count: usize,
        /// The language of the verification URLs (`de` or `en`).
        language: String,
        /// Print one `{"code", "key", "url"}` per line.
        json: bool,
        /// Base URL for the printed links.
        base_url: Option<String>,
    },
    /// `zeugnis show`.
    Show {
        /// The code, any spelling.
        code: String,
        /// The access key (holder data).
        key: Option<String>,
        /// Print JSON.
        json: bool,
    },
    /// `zeugnis revoke`.
    Revoke {
        /// The code.
        code: String,
        /// The public reason category (`RevocationCategory::name`).
        category: String,
        /// Why (private: shown only with the key).
        reason: String,
        /// Effective date (default: today, UTC, where it runs).
        effective: Option<String>,
    },
    /// `zeugnis supersede`.
    Supersede {
        /// The code of the certificate to withdraw.
        old: String,
        /// The corrected record and documents.
        registration: Registration,
        /// Print `{"code", "key", "url"}`.
        json: bool,
        /// Base URL for the printed link.
        base_url: Option<String>,
    },
    /// `zeugnis void`.
    Void {
        /// The code.
        code: String,
        /// Why.
        reason: String,
    },
    /// `zeugnis erase`.
    Erase {
        /// The code.
        code: String,
        /// Why.
        reason: String,
    },
    /// `zeugnis replace-scan`: the new scan file, read by the client
    /// (bounded by `intake.file_bytes_max`).
    ReplaceScan {
        /// The code.
        code: String,
        /// The file's name (its last path component goes into the record).
        file_name: String,
        /// The file's bytes.
        #[serde(with = "base64_bytes")]
        bytes: Vec<u8>,
        /// Why the archived scan is replaced (private: shown only with the key).
        reason: String,
        /// Print the outcome as JSON.
        json: bool,
    },
    /// `zeugnis cover-sheet`: the PDF comes back in the reply and the
    /// client writes it (the daemon may not see the operator's folders).
    CoverSheet {
        /// The code.
        code: String,
        /// Where the client will write it (named in the message only).
        output: PathBuf,
    },
    /// `zeugnis print-bundle` (and `register --print-bundle`): the print
    /// version and its cover sheet in one PDF, written by the client.
    PrintBundle {
        /// The code.
        code: String,
        /// Where the client will write it (named in the message only).
        output: PathBuf,
    },
    /// `zeugnis export-proof` (the folder is written where the command
    /// runs: an absolute path the daemon can write to).
    ExportProof {
        /// The code.
        code: String,
        /// Output folder (absolute).
        output: PathBuf,
        /// Also copy the documents and the scan.
        with_files: bool,
        /// Also copy the holder-data blob.
        with_personal_data: bool,
    },
    /// `zeugnis export-archive` (written where the command runs).
    ExportArchive {
        /// Output folder (absolute).
        output: PathBuf,
        /// Show a progress bar (only when run in the operator's terminal).
        progress: bool,
        /// Leave the holder record blobs (personal data) out.
        #[serde(default)]
        without_personal_data: bool,
    },
    /// `zeugnis consistency`: the notes are read by the client.
    Consistency {
        /// The old checkpoint note.
        old_note: String,
        /// A newer note (default: the ledger's latest).
        new_note: Option<String>,
    },
    /// `zeugnis rotate-key`.
    RotateKey {
        /// Retire this key instead of adding one.
        retire: Option<String>,
        /// Why it is retired.
        reason: String,
    },
    /// `zeugnis status`.
    Status {
        /// Print JSON.
        json: bool,
        /// Waiting threshold in days (default: the configured one).
        waiting_days: Option<u64>,
        /// The scan inbox (default: the configured one).
        scans: Option<PathBuf>,
        /// Also write the report to `<data>/reports/`.
        write: bool,
        /// Mail recipients.
        mail_to: Vec<String>,
        /// Mail sender.
        mail_from: Option<String>,
        /// SMTP relay `HOST:PORT`.
        smtp: Option<String>,
    },
    /// The recording part of `zeugnis audit --fixity`.
    Fixity {
        /// Show a progress bar (only when run in the operator's terminal).
        progress: bool,
    },
    /// `zeugnis export-xhs` and `zeugnis export-elm`: the file comes back
    /// in the reply (`pdf`) and the client writes it, as for the cover
    /// sheet.
    Export {
        /// Which format.
        format: crate::exports::file::Format,
        /// The code, any spelling.
        code: String,
        /// `--lang`.
        lang: Option<String>,
        /// The base URL for the link (`--base-url`, else the client's
        /// configured one).
        base_url: String,
        /// `--page-image`, read by the client.
        page_image: Option<Document>,
        /// The client's `[exports]` table (the one configuration).
        config: crate::exports::ExportsConfig,
        /// Where the client will write it (named in the message only).
        output: PathBuf,
    },
    /// `zeugnis ingest` (absolute paths; the files are moved into the
    /// inbox's work folder by whoever runs it).
    Ingest {
        /// The scan files.
        files: Vec<PathBuf>,
        /// The inbox given with `--scans` (absolute); the configured one
        /// when absent. The daemon refuses one that is not its own inbox.
        scans: Option<PathBuf>,
        /// One JSON object per line.
        json: bool,
        /// `--identify` for this run (comma-separated sources); the daemon
        /// refuses it (it identifies as its configuration says).
        identify: Option<String>,
    },
    /// Another request, with every record it appends attributed to
    /// `operator` (`--operator ID` / `ZEUGNIS_OPERATOR`; ledger/FORMAT.md
    /// §3.5). Not nested, and never around `Ingest` (the intake's records
    /// are unattributed).
    As {
        /// Who the records are written for.
        operator: crate::registry::OperatorId,
        /// The request itself.
        request: Box<Request>,
    },
}

impl Request {
    /// `self`, attributed to `operator` when it writes and is not `ingest`
    /// (the intake's records are unattributed, docs/operations.md); reads
    /// and `ingest` are returned unchanged.
    pub fn attributed(self, operator: Option<&crate::registry::OperatorId>) -> Request {
        match operator {
            Some(op)
                if self.writes()
                    && !matches!(self, Request::Ingest { .. } | Request::As { .. }) =>
            {
                Request::As {
                    operator: op.clone(),
                    request: Box::new(self),
                }
            }
            _ => self,
        }
    }

    /// The command's name as typed (for logs and `--verbose`).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::Reserve { .. } => "reserve",
            Request::Show { .. } => "show",
            Request::Revoke { .. } => "revoke",
            Request::Supersede { .. } => "supersede",
            Request::Void { .. } => "void",
            Request::Erase { .. } => "erase",
            Request::ReplaceScan { .. } => "replace-scan",
            Request::CoverSheet { .. } => "cover-sheet",
            Request::PrintBundle { .. } => "print-bundle",
            Request::ExportProof { .. } => "export-proof",
            Request::ExportArchive { .. } => "export-archive",
            Request::Consistency { .. } => "consistency",
            Request::RotateKey { .. } => "rotate-key",
            Request::Status { .. } => "status",
            Request::Fixity { .. } => "audit --fixity",
            Request::Ingest { .. } => "ingest",
            Request::Export { format, .. } => format.command(),
            Request::As { request, .. } => request.name(),
        }
    }

    /// The request with progress bars off (the daemon has no terminal).
    pub fn without_progress(mut self) -> Request {
        if let Request::As { operator, request } = self {
            return Request::As {
                operator,
                request: Box::new(request.without_progress()),
            };
        }
        if let Request::ExportArchive { progress, .. } | Request::Fixity { progress } = &mut self {
            *progress = false;
        }
        self
    }

    /// True if the command appends to the ledger or changes stored files
    /// (`status --write` writes a report, not the ledger: counted as a read).
    pub fn writes(&self) -> bool {
        if let Request::As { request, .. } = self {
            return request.writes();
        }
        matches!(
            self,
            Request::Register { .. }
                | Request::Reserve { .. }
                | Request::Revoke { .. }
                | Request::Supersede { .. }
                | Request::Void { .. }
                | Request::Erase { .. }
                | Request::ReplaceScan { .. }
                | Request::RotateKey { .. }
                | Request::Fixity { .. }
                | Request::Ingest { .. }
        )
    }
}

/// A registration record and its documents, read by the client.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The record file's name (for error messages).
    pub record_name: String,
    /// The record file's bytes.
    #[serde(with = "base64_bytes")]
    pub record: Vec<u8>,
    /// The documents, in the order given.
    pub documents: Vec<Document>,
}

/// One document of a [`Registration`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The file name as given (for error messages).
    pub name: String,
    /// Its bytes.
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
}

/// What a command printed and how it ended.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Exit code: 0 success, 2 bad input, 1 failure.
    pub exit: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The file the client writes: the cover sheet or print bundle PDF, or an export.
    #[serde(with = "base64_opt", default)]
    pub pdf: Option<Vec<u8>>,
}

impl Reply {
    /// A reply that only reports `error` with exit code `exit`.
    pub fn error(exit: i32, error: &str) -> Reply {
        Reply {
            exit,
            stderr: format!("zeugnis: error: {error}\n"),
            ..Reply::default()
        }
    }
}

/// Where a command runs: what it takes from the configuration when the
/// request leaves a value open.
#[derive(Clone, Debug)]
pub struct Context {
    /// The data directory (for `status --write`).
    pub data: PathBuf,
    /// The scan inbox (for `status`).
    pub scans: PathBuf,
    /// `[report] waiting_days`.
    pub waiting_days: u64,
    /// `[intake] file_bytes_max`: the largest scan `replace-scan` takes.
    pub scan_bytes_max: u64,
}

/// Runs `req` on `registry` and returns what it prints. `Ingest` is not
/// run here (the intake owns it): see [`ingest_reply`].
pub fn execute(req: Request, registry: &mut Registry, ctx: &Context) -> Reply {
    if let Request::As { operator, request } = req {
        if let Request::As { .. } | Request::Ingest { .. } = *request {
            return Reply::error(
                2,
                &format!(
                    "operator {operator}: {} cannot be attributed (the intake's records are \
                     unattributed; requests are not nested)",
                    request.name()
                ),
            );
        }
        return registry.with_operator(Some(operator), |r| execute(*request, r, ctx));
    }
    if let Request::Export {
        format,
        code,
        lang,
        base_url,
        page_image,
        config,
        output,
    } = req
    {
        let page_image = page_image.map(|d| (d.name, d.bytes));
        return match crate::exports::file::render_file(
            &registry.reader(),
            format,
            &code,
            lang.as_deref(),
            &base_url,
            page_image.as_ref().map(|(n, b)| (n.as_str(), b.clone())),
            &config,
            &output.display().to_string(),
        ) {
            Ok(r) => Reply {
                exit: 0,
                stdout: format!("{}\n", r.message),
                stderr: r
                    .warning
                    .map(|w| format!("zeugnis: warning: {w}\n"))
                    .unwrap_or_default(),
                pdf: Some(r.bytes),
            },
            Err(e) => Reply::error(e.exit_code(), &e.to_string()),
        };
    }
    let mut reply = Reply::default();
    let result = run(req, registry, ctx, &mut reply);
    if let Err(e) = result {
        reply.exit = e.exit_code();
        let _ = writeln!(reply.stderr, "zeugnis: error: {e}");
    }
    reply
}

fn run(
    req: Request,
    r: &mut Registry,
    ctx: &Context,
    reply: &mut Reply,
) -> Result<(), RegistryError> {
    let out = &mut reply.stdout;
    let req_name = req.name();
    match req {
        Request::Register {
            registration,
            code,
            json,
            base_url,
            import,
            allow_duplicate,
            print_bundle,
            stamp,
        } => {
            let (rec, docs) = registration.parse()?;
            let opts = crate::registry::RegisterOptions {
                code: code.as_deref(),
                import,
                allow_duplicate,
            };
            match r.register_stamped(&rec, &docs, &opts, stamp.as_ref()) {
                Ok(issued) => {
                    for w in &issued.warnings {
                        let _ = writeln!(reply.stderr, "zeugnis: warning: {w}");
                    }
                    if print_bundle {
                        // Registered either way: a failed bundle is reported
                        // after the code and key are printed.
                        match r.print_bundle(&issued.code) {
                            Ok((_, pdf)) => reply.pdf = Some(pdf),
                            Err(e) => {
                                reply.exit = e.exit_code();
                                let _ = writeln!(
                                    reply.stderr,
                                    "zeugnis: error: registered {}, but the print bundle failed: {e} \
                                     (retry with `zeugnis print-bundle`)",
                                    issued.code
                                );
                            }
                        }
                    }
                    print_issued(
                        &mut reply.stdout,
                        &with_base_url(issued, base_url.as_deref()),
                        json,
                    )
                }
                // Durable but unconfirmed (issue 14, F2): the person needs
                // the code and key now; the error says to check with `show`.
                Err(RegistryError::Unconfirmed {
                    action,
                    code,
                    issued: Some(issued),
                    why,
                }) => {
                    print_issued(
                        out,
                        &with_base_url((*issued).clone(), base_url.as_deref()),
                        json,
                    );
                    return Err(RegistryError::Unconfirmed {
                        action,
                        code,
                        issued: Some(issued),
                        why,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Request::Reserve {
            count,
            language,
            json,
            base_url,
        } => {
            for issued in r.reserve(count, &language)? {
                print_issued(out, &with_base_url(issued, base_url.as_deref()), json);
            }
        }
        Request::Show { code, key, json } => {
            let c = r.show(&code, key.as_deref())?;
            let input = if json { None } else { r.grade_input(&c)? };
            print_certificate(out, &c, json, input.as_ref());
        }
        Request::Revoke {
            code,
            category,
            reason,
            effective,
        } => {
            let category =
                crate::ledger::record::RevocationCategory::parse(&category).ok_or_else(|| {
                    RegistryError::Invalid(format!("--category: {category:?} is not a category"))
                })?;
            let date = effective.unwrap_or_else(crate::dates::today_utc);
            let seq = r.revoke_with_category(&code, category, &reason, &date)?;
            let _ = writeln!(
                out,
                "revoked {} effective {date} (ledger seq {seq})",
                r.find(&code)?.code
            );
        }
        Request::Supersede {
            old,
            registration,
            json,
            base_url,
        } => {
            let (rec, docs) = registration.parse()?;
            let issued = r.supersede(&old, &rec, &docs)?;
            if !json {
                let _ = writeln!(
                    out,
                    "superseded {} by the new certificate below",
                    r.find(&old)?.code
                );
            }
            print_issued(out, &with_base_url(issued, base_url.as_deref()), json);
        }
        Request::Void { code, reason } => {
            let seq = r.void(&code, &reason)?;
            let _ = writeln!(
                out,
                "voided {} (ledger seq {seq}); register the certificate again to restart",
                r.find(&code)?.code
            );
        }
        Request::Erase { code, reason } => {
            r.erase(&code, &reason)?;
            let _ = writeln!(
                out,
                "erased the holder data of {}; the ledger stays valid",
                r.find(&code)?.code
            );
        }
        Request::ReplaceScan {
            code,
            file_name,
            bytes,
            reason,
            json,
        } => {
            let rep = r.replace_scan(&code, &bytes, &file_name, &reason, ctx.scan_bytes_max)?;
            print_replacement(out, &rep, json);
        }
        Request::CoverSheet { code, output } => {
            let (code, pdf) = r.cover_sheet(&code)?;
            reply.pdf = Some(pdf);
            let _ = writeln!(
                out,
                "wrote the cover sheet of {} to {}",
                code,
                output.display()
            );
        }
        Request::PrintBundle { code, output } => {
            let (code, pdf) = r.print_bundle(&code)?;
            reply.pdf = Some(pdf);
            let _ = writeln!(
                out,
                "wrote the print bundle of {code} (print version + cover sheet) to {}",
                output.display()
            );
        }
        Request::ExportProof {
            code,
            output,
            with_files,
            with_personal_data,
        } => {
            let s = crate::export::export_proof(r, &code, &output, with_files, with_personal_data)
                .map_err(export_error)?;
            let _ = writeln!(
                out,
                "exported {} record(s) and {} file(s) of {} to {}, proved against the checkpoint of size {}",
                s.records,
                s.files,
                r.find(&code)?.code,
                output.display(),
                s.checkpoint_size
            );
        }
        Request::ExportArchive {
            output,
            progress,
            without_personal_data,
        } => {
            let s = crate::export::export_archive(r, &output, progress, without_personal_data)
                .map_err(export_error)?;
            let _ = writeln!(
                out,
                "exported a BagIt bag to {}: {} payload file(s), {} bytes ({} reused from an earlier run), ledger of {} records",
                output.display(),
                s.files,
                s.bytes,
                s.reused,
                s.records
            );
            let _ = if without_personal_data {
                writeln!(
                    out,
                    "personal data left out: {} holder record blob(s), listed in data/{}",
                    s.holder_blobs_left_out,
                    crate::export::PERSONAL_DATA_LEFT_OUT_FILE
                )
            } else {
                writeln!(
                    out,
                    "the bag contains personal data (the holder record blobs); --without-personal-data leaves them out"
                )
            };
        }
        Request::Consistency { old_note, new_note } => {
            match crate::export::consistency(r.ledger(), &old_note, new_note.as_deref()) {
                Ok(lines) => {
                    for l in lines {
                        let _ = writeln!(out, "OK  {l}");
                    }
                }
                Err(e) => {
                    // The evidence of a conflict is the whole message.
                    reply.exit = e.exit_code();
                    let _ = writeln!(reply.stderr, "zeugnis consistency: {e}");
                }
            }
        }
        Request::RotateKey { retire, reason } => {
            let v = r.rotate_key(retire.as_deref(), &reason)?;
            match retire {
                None => {
                    let _ = writeln!(
                        out,
                        "added signing key {:08x}; checkpoints are now signed by every active key",
                        v.key_id
                    );
                    let _ = writeln!(out, "new vkey: {}", v.vkey());
                    let _ = writeln!(
                        out,
                        "publish it, then retire the old key: zeugnis rotate-key --retire <old key ID>"
                    );
                }
                Some(_) => {
                    let _ = writeln!(out, "retired signing key {:08x} ({reason})", v.key_id);
                }
            }
            let l = r.ledger();
            for v in crate::ledger::recovery::verifiers_for_size(l.keys(), l.size()) {
                let _ = writeln!(out, "active: {}", v.vkey());
            }
        }
        Request::Status {
            json,
            waiting_days,
            scans,
            write,
            mail_to,
            mail_from,
            smtp,
        } => {
            let mail = mail_config(&mail_to, mail_from.as_deref(), smtp.as_deref())?;
            let scans = scans.unwrap_or_else(|| ctx.scans.clone());
            let report =
                crate::report::status(r, &scans, waiting_days.unwrap_or(ctx.waiting_days))?;
            if json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&report).expect("json")
                );
            } else {
                out.push_str(&report.text());
            }
            if write {
                let path = report.write(&ctx.data)?;
                let _ = writeln!(reply.stderr, "wrote {}", path.display());
            }
            if let Some(cfg) = mail {
                crate::report::mail(&report, &cfg)?;
                let _ = writeln!(reply.stderr, "mailed to {}", cfg.to.join(", "));
            }
        }
        Request::Fixity { progress } => {
            let rep = r.fixity_audit(progress)?;
            let _ = writeln!(
                out,
                "fixity: {} blob(s), {} bytes re-hashed (BLAKE3 and SHA-256); {} problem(s); recorded as ledger seq {}",
                rep.blobs_checked,
                rep.bytes_checked,
                rep.failures.len(),
                rep.seq
            );
            for f in &rep.failures {
                let _ = writeln!(
                    out,
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
            if !rep.failures.is_empty() {
                return Err(RegistryError::Ledger(crate::ledger::LedgerError::Archive(
                    format!(
                        "{} blob(s) damaged or missing (see above)",
                        rep.failures.len()
                    ),
                )));
            }
        }
        Request::Ingest { .. } => {
            return Err(RegistryError::Invalid(
                "ingest runs through the scan intake, not the registry".into(),
            ))
        }
        Request::Export { .. } | Request::As { .. } => {
            return Err(RegistryError::Invalid(format!(
                "{} is run by `execute` itself",
                req_name
            )))
        }
    }
    Ok(())
}

/// The reply of `zeugnis ingest`: one line per outcome; exit 0 when every
/// file was archived, a duplicate or parked waiting, 2 when any was
/// quarantined, 1 when the intake failed.
pub fn ingest_reply(result: Result<Vec<Outcome>, IntakeError>, json: bool) -> Reply {
    let mut reply = Reply::default();
    match result {
        Ok(outcomes) => {
            for o in &outcomes {
                if json {
                    let _ = writeln!(reply.stdout, "{}", serde_json::to_string(o).expect("json"));
                } else {
                    let _ = writeln!(
                        reply.stdout,
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
            if outcomes.iter().any(|o| o.outcome == "quarantined") {
                reply.exit = 2;
            }
        }
        Err(e) => {
            reply.exit = 1;
            let _ = writeln!(reply.stderr, "zeugnis ingest: error: {e}");
        }
    }
    reply
}

impl Registration {
    /// Reads `--record` and the `--document`s (bad input names the flag and file).
    pub fn read(record: &std::path::Path, documents: &[PathBuf]) -> Result<Self, RegistryError> {
        let record_bytes = read_limited(
            "--record",
            record,
            crate::registry::RECORD_FILE_BYTES_MAX as u64,
        )?;
        let documents = documents
            .iter()
            .map(|p| {
                Ok(Document {
                    name: p.display().to_string(),
                    bytes: read_limited("--document", p, crate::blobs::BLOB_BYTES_MAX_DEFAULT)?,
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        Ok(Registration {
            record_name: record.display().to_string(),
            record: record_bytes,
            documents,
        })
    }

    fn parse(self) -> Result<(RegistrationRecord, Vec<DocumentFile>), RegistryError> {
        let rec = RegistrationRecord::parse(&self.record_name, &self.record)?;
        let docs = self
            .documents
            .into_iter()
            .map(|d| DocumentFile {
                name: d.name,
                bytes: d.bytes,
            })
            .collect();
        Ok((rec, docs))
    }
}

fn read_limited(flag: &str, p: &std::path::Path, limit: u64) -> Result<Vec<u8>, RegistryError> {
    let meta = std::fs::metadata(p)
        .map_err(|e| RegistryError::Invalid(format!("{flag} {}: {e}", p.display())))?;
    if meta.len() > limit {
        return Err(RegistryError::Invalid(format!(
            "{flag} {}: {} bytes, above the limit of {limit} bytes",
            p.display(),
            meta.len(),
        )));
    }
    std::fs::read(p).map_err(|e| RegistryError::Invalid(format!("{flag} {}: {e}", p.display())))
}

/// Replaces the base of the registry's link `<base>/<lang>/<code>-<key>`.
fn with_base_url(
    mut i: crate::registry::Issued,
    base_url: Option<&str>,
) -> crate::registry::Issued {
    if let Some(base) = base_url {
        let mut parts = i.url.rsplitn(3, '/');
        if let (Some(last), Some(lang), Some(_)) = (parts.next(), parts.next(), parts.next()) {
            i.url = format!("{}/{lang}/{last}", base.trim_end_matches('/'));
        }
    }
    i
}

fn mail_config(
    to: &[String],
    from: Option<&str>,
    smtp: Option<&str>,
) -> Result<Option<crate::report::MailConfig>, RegistryError> {
    if to.is_empty() {
        return Ok(None);
    }
    let (Some(from), Some(smtp)) = (from, smtp) else {
        return Err(RegistryError::Invalid(
            "--mail-to needs --mail-from and --smtp HOST:PORT".into(),
        ));
    };
    let (host, port) = smtp
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| RegistryError::Invalid(format!("--smtp {smtp}: expected HOST:PORT")))?;
    Ok(Some(crate::report::MailConfig {
        host,
        port,
        from: from.to_string(),
        to: to.to_vec(),
    }))
}

fn export_error(e: crate::export::ExportError) -> RegistryError {
    match e {
        crate::export::ExportError::Registry(inner) => inner,
        other => RegistryError::Invalid(other.to_string()),
    }
}

fn print_issued(out: &mut String, i: &crate::registry::Issued, json: bool) {
    if json {
        let mut v = serde_json::json!({"code": i.code, "key": i.key, "url": i.url});
        if i.stamped {
            v["stamped"] = serde_json::Value::Bool(true);
        }
        let _ = writeln!(out, "{v}");
    } else {
        let _ = writeln!(out, "code: {}", i.code);
        let _ = writeln!(out, "key:  {}", i.key);
        let _ = writeln!(out, "url:  {}", i.url);
        if i.stamped {
            let _ = writeln!(
                out,
                "stamped: page 1 of each document links to the verification page (without the key)"
            );
        }
    }
}

fn print_replacement(out: &mut String, rep: &crate::registry::ScanReplacement, json: bool) {
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string(rep).expect("json"));
    } else if rep.retry {
        let _ = writeln!(
            out,
            "the scan of {} was already replaced by this file (ledger seq {}); nothing was appended",
            rep.code, rep.seq
        );
    } else {
        let _ = writeln!(
            out,
            "replaced the scan of {} (ledger seq {}): new scan {} {} bytes blake3:{}",
            rep.code, rep.seq, rep.scan.media_type, rep.scan.size_bytes, rep.scan.blake3
        );
        let _ = writeln!(
            out,
            "the replaced scan blake3:{} (ledger seq {}) is kept",
            rep.replaced_blake3, rep.replaced_seq
        );
    }
}

/// `show`: JSON unchanged with `--json`; else aligned lines, the grade
/// record as a table ([`crate::grades::record_table`]; `grade_input`, the
/// module grades, only with the access key).
fn print_certificate(
    out: &mut String,
    c: &crate::registry::Certificate,
    json: bool,
    grade_input: Option<&serde_json::Value>,
) {
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(c).expect("json"));
        return;
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = |s: String| lines.push(s);
    line(format!("certificate  {}", c.code));
    line(format!("state        {}", c.state.name()));
    line(format!("institution  {}", c.institution));
    line(format!("kind         {}", c.kind));
    for d in &c.documents {
        line(format!(
            "document     {} {} {} bytes blake3:{} sha256:{}",
            d.language.as_deref().unwrap_or("-"),
            d.media_type,
            d.size_bytes,
            d.blake3,
            d.sha256
        ));
    }
    line(match &c.scan {
        Some(s) => format!(
            "scan         {} {} bytes blake3:{}",
            s.media_type, s.size_bytes, s.blake3
        ),
        None => "scan         not yet archived".to_string(),
    });
    for old in &c.replaced_scans {
        line(format!(
            "replaced     {} {} bytes blake3:{} (archived seq {}, replaced seq {}: {})",
            old.scan.media_type,
            old.scan.size_bytes,
            old.scan.blake3,
            old.archived_by,
            old.replaced_by,
            old.reason
        ));
    }
    for m in &c.deliveries {
        line(format!(
            "mailed to the graduate {} ({} UTC s; {} template, {}; {} document(s); address hash {}; ledger seq {})",
            crate::dates::date_of_unix_secs(m.delivered),
            m.delivered,
            m.template,
            m.language,
            m.documents.len(),
            &m.address_hash[..m.address_hash.len().min(16)],
            m.seq
        ));
    }
    if let Some(g) = &c.grade {
        line("grade record".to_string());
        crate::grades::record_table(g, grade_input, 2)
            .lines()
            .for_each(|l| line(l.to_string()));
    }
    if let Some(r) = &c.revoked {
        line(format!(
            "revoked      {} (effective {}, ledger seq {})",
            r.reason,
            r.effective_date.as_deref().unwrap_or("?"),
            r.seq
        ));
    }
    if let Some(v) = &c.voided {
        line(format!("voided       {} (ledger seq {})", v.reason, v.seq));
    }
    if let Some(n) = &c.superseded_by {
        line(format!("superseded by {n}"));
    }
    if let Some(o) = &c.supersedes {
        line(format!("supersedes   {o}"));
    }
    if c.erased {
        line("holder data  erased".to_string());
    } else if let Some(h) = &c.holder {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
        let p = &h["holder"];
        line(format!(
            "holder       {} {}, born {} in {}, student ID {}",
            text(&p["given_name"]),
            text(&p["family_name"]),
            text(&p["birth_date"]),
            text(&p["birth_place"]),
            text(&p["student_id"])
        ));
        line(format!(
            "programme    {}, {} (last exam {})",
            text(&h["programme"]["degree"]),
            text(&h["programme"]["name"]),
            text(&h["last_exam_date"])
        ));
    }
    let seqs: Vec<String> = c.seqs.iter().map(u64::to_string).collect();
    line(format!("ledger seqs  {}", seqs.join(", ")));
    for e in &c.events {
        line(format!(
            "event        seq {} {} {} by {}",
            e.seq,
            crate::dates::date_of_unix_secs(e.time_s),
            e.kind,
            e.operator.as_ref().map_or("(unattributed)", |o| o.as_str())
        ));
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
}

/// Bytes as standard base64 text in the JSON messages.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// Optional bytes as base64 text (or null).
mod base64_opt {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_some(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(url: &str) -> crate::registry::Issued {
        crate::registry::Issued {
            code: "QNVC-FM3P-4VDF".into(),
            key: "7K2M9X".into(),
            url: url.into(),
            stamped: false,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn base_url_override_keeps_language_code_and_key() {
        for (url, base, want) in [
            (
                "http://127.0.0.1:8080/de/QNVCFM3P4VDF-7K2M9X",
                Some("https://z.uni-erfurt.de/"),
                "https://z.uni-erfurt.de/de/QNVCFM3P4VDF-7K2M9X",
            ),
            (
                "https://a.example/zeugnis/en/QNVCFM3P4VDF-7K2M9X",
                Some("https://b.example"),
                "https://b.example/en/QNVCFM3P4VDF-7K2M9X",
            ),
            (
                "https://a.example/de/QNVCFM3P4VDF-7K2M9X",
                None,
                "https://a.example/de/QNVCFM3P4VDF-7K2M9X",
            ),
        ] {
            assert_eq!(with_base_url(issued(url), base).url, want, "{url} {base:?}");
        }
    }

    #[test]
    fn requests_round_trip_and_refuse_unknown_fields() {
        let r = Request::Register {
            registration: Registration {
                record_name: "r.json".into(),
                record: b"{}".to_vec(),
                documents: vec![Document {
                    name: "a.pdf".into(),
                    bytes: vec![0, 255, 7],
                }],
            },
            code: None,
            json: true,
            base_url: None,
            import: false,
            allow_duplicate: false,
            print_bundle: false,
            stamp: Some(crate::stamp::StampRequest {
                base_url: "https://v.example".into(),
                place: crate::stamp::StampPlace {
                    corner: crate::stamp::Corner::TopLeft,
                    offset_x_mm: 10.0,
                    offset_y_mm: 12.5,
                    qr_size_mm: 25.0,
                },
            }),
        };
        let text = serde_json::to_string(&r).expect("json");
        assert!(text.contains("\"command\":\"register\""), "{text}");
        let back: Request = serde_json::from_str(&text).expect("parse");
        match back {
            Request::Register {
                registration,
                stamp,
                ..
            } => {
                assert_eq!(registration.documents[0].bytes, vec![0, 255, 7]);
                let stamp = stamp.expect("stamp survives the control socket");
                assert_eq!(stamp.place.corner, crate::stamp::Corner::TopLeft);
                assert_eq!(stamp.place.offset_y_mm, 12.5);
            }
            other => panic!("wrong variant {other:?}"),
        }
        let bad = r#"{"command":"show","code":"X","key":null,"json":false,"extra":1}"#;
        assert!(serde_json::from_str::<Request>(bad).is_err());
        let reply = Reply {
            exit: 2,
            stdout: "a\n".into(),
            stderr: String::new(),
            pdf: Some(b"%PDF".to_vec()),
        };
        let back: Reply =
            serde_json::from_str(&serde_json::to_string(&reply).expect("json")).expect("parse");
        assert_eq!(back, reply);
    }
}
