//! The desk's batch registration (Stapel registrieren): a records file as
//! exported by the exam administration system (CSV or JSON lines) and a zip
//! of the PDFs; a review page with every row, its computed final grade and
//! its problems in words; then the commit, row after row, and a result
//! page with code, key and link per row and a CSV list for mail merge.
//!
//! Owns: the routes' handlers, the parked batches and results
//! ([`Tables`], bound to the operator, with a lifetime and a count limit),
//! the registration of one row ([`register_row`]) and the wording of the
//! three pages; the formats, the zip and the review are [`input`]'s. Must
//! not do: write anything before the commit (every write goes through
//! [`super::write`], one registration per row); commit a batch in which
//! any row has a problem (all or nothing, docs/desk.md "Stapel
//! registrieren").
//!
//! Limits (docs/desk.md lists them): those of [`input`], at most
//! [`BATCHES_PENDING_MAX`] reviewed batches in memory for at most
//! [`BATCH_PENDING_SECS_MAX`], results for the CSV download for
//! [`BATCH_RESULT_SECS_MAX`]; the whole upload is capped by
//! `http.admin_body_bytes_max`.

pub mod input;

pub use input::{
    base_name, parse_records, read_zip, review, BatchError, ReadyRow, Review, ReviewRow,
    BATCH_RECORDS_BYTES_MAX, BATCH_ROWS_MAX, CSV_COLUMNS, ZIP_ENTRY_BYTES_MAX,
    ZIP_UNCOMPRESSED_BYTES_MAX,
};

use super::super::pages::{escape, final_grade, Lang};
use super::page::csrf_field;
use super::Signed;
use crate::http::response::{self, Resp};
use crate::http::AppState;
use crate::registry::{DocumentFile, Issued, RegisterOptions, RegistrationRecord, Registry};
use crate::registry::{RegistryError, State};
use hyper::body::Incoming;
use hyper::{header, Request, StatusCode};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Batches reviewed and waiting for their commit, over all operators
/// (each operator has at most one): at most this many times
/// [`ZIP_UNCOMPRESSED_BYTES_MAX`] in memory.
pub const BATCHES_PENDING_MAX: usize = 2;
/// How long a reviewed batch waits for its commit, in seconds.
pub const BATCH_PENDING_SECS_MAX: u64 = 1_800;
/// Batch results kept for the CSV download, over all operators (each
/// operator has the last one; a result holds codes, keys and names, no PDF).
pub const BATCH_RESULTS_MAX: usize = 16;
/// How long a batch result can be downloaded as CSV, in seconds.
pub const BATCH_RESULT_SECS_MAX: u64 = 3_600;
/// Random bytes of a parked batch's or result's token.
pub const BATCH_TOKEN_BYTES: usize = 16;
/// Parts of the upload form (`csrf`, `records`, `documents`).
pub const BATCH_FORM_FIELDS_MAX: usize = 8;

/// Registers one row: a retry of a row that is already registered (the
/// same record and PDF, e.g. the batch uploaded again after a failure)
/// returns the existing code and key and appends nothing; `true` then.
pub fn register_row(
    r: &mut Registry,
    record: &RegistrationRecord,
    document: DocumentFile,
) -> Result<(Issued, bool), RegistryError> {
    let documents = [document];
    let hash = *blake3::hash(&documents[0].bytes).as_bytes();
    if let Some(code) = r.code_of_document(&hash)? {
        let valid = matches!(
            r.find(&code).map(|c| c.state),
            Ok(State::AwaitingScan | State::Archived)
        );
        if valid {
            let opts = RegisterOptions {
                code: Some(&code),
                ..RegisterOptions::default()
            };
            // Returns the existing registration when it is this one;
            // otherwise it refuses ("code already used") before writing,
            // and the plain registration below names the real problem.
            if let Ok(issued) = r.register_with(record, &documents, &opts) {
                return Ok((issued, true));
            }
        }
    }
    r.register_with(record, &documents, &RegisterOptions::default())
        .map(|issued| (issued, false))
}

/// A table of items bound to the operator who parked them, with a token,
/// a lifetime and a count limit (the oldest goes first when full; an
/// operator's newer item replaces their older one).
pub struct Parked<T> {
    /// By token: operator id, when parked, the item.
    by_token: HashMap<String, (String, Instant, T)>,
    /// At most this many items.
    max: usize,
    /// For at most this long.
    ttl: Duration,
}

impl<T> Parked<T> {
    /// An empty table.
    pub fn new(max: usize, ttl_secs: u64) -> Parked<T> {
        Parked {
            by_token: HashMap::new(),
            max,
            ttl: Duration::from_secs(ttl_secs),
        }
    }

    /// Keeps `item` for `operator`; returns its token.
    pub fn put(&mut self, operator: &str, item: T, now: Instant) -> String {
        let ttl = self.ttl;
        self.by_token
            .retain(|_, (op, at, _)| op != operator && now.saturating_duration_since(*at) <= ttl);
        while self.by_token.len() >= self.max {
            let oldest = self
                .by_token
                .iter()
                .min_by_key(|(_, (_, at, _))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.by_token.remove(&k),
                None => break,
            };
        }
        let token = super::session::random_hex(BATCH_TOKEN_BYTES);
        self.by_token
            .insert(token.clone(), (operator.to_string(), now, item));
        token
    }

    fn live(&self, operator: &str, token: &str, now: Instant) -> bool {
        self.by_token.get(token).is_some_and(|(op, at, _)| {
            op == operator && now.saturating_duration_since(*at) <= self.ttl
        })
    }

    /// Takes the item `token` of `operator` (once), if it is still there.
    pub fn take(&mut self, operator: &str, token: &str, now: Instant) -> Option<T> {
        if !self.live(operator, token, now) {
            return None;
        }
        self.by_token.remove(token).map(|(_, _, item)| item)
    }

    /// The item `token` of `operator`, if it is still there.
    pub fn get(&self, operator: &str, token: &str, now: Instant) -> Option<&T> {
        if !self.live(operator, token, now) {
            return None;
        }
        self.by_token.get(token).map(|(_, _, item)| item)
    }

    /// How many items are parked.
    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    /// Whether nothing is parked.
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

/// One registered row of a batch result.
pub struct DoneRow {
    /// The line in the records file.
    pub line: u64,
    /// Given and family name.
    pub holder: String,
    /// Matriculation number.
    pub student_id: String,
    /// The PDF's name in the zip.
    pub document: String,
    /// Code, key, link.
    pub issued: Issued,
    /// Registered by an earlier upload of the same batch.
    pub earlier: bool,
}

/// What a batch commit did.
pub struct BatchResult {
    /// Rows in the batch.
    pub total: usize,
    /// Still registering (the page shows the progress).
    pub running: bool,
    /// The answer's status once done: 201, or the failed row's.
    pub status: StatusCode,
    /// The rows registered (or found registered), in order.
    pub done: Vec<DoneRow>,
    /// The row that failed and why; the commit stopped there.
    pub failed: Option<(u64, String)>,
    /// The rows not registered (the failed one and those after it):
    /// line, holder, document.
    pub not_done: Vec<(u64, String, String)>,
}

/// A batch result while it grows: the registration runs on the blocking
/// pool and goes on when the commit request gives up waiting.
pub type Progress = Arc<Mutex<BatchResult>>;

/// How long the commit request waits for the registrations, as a share
/// of `http.request_timeout_ms`, in percent; then it answers with the
/// progress and a link to the result, and the registrations go on.
pub const COMMIT_WAIT_PERCENT: u64 = 60;

/// The desk's parked batches and results.
pub struct Tables {
    /// Reviewed batches waiting for their commit.
    pending: Mutex<Parked<Vec<ReadyRow>>>,
    /// Results of commits, for the CSV download.
    results: Mutex<Parked<Progress>>,
}

impl Default for Tables {
    fn default() -> Tables {
        Tables {
            pending: Mutex::new(Parked::new(BATCHES_PENDING_MAX, BATCH_PENDING_SECS_MAX)),
            results: Mutex::new(Parked::new(BATCH_RESULTS_MAX, BATCH_RESULT_SECS_MAX)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A cell as a spreadsheet shows it as text: a cell that starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return would be read as a formula
/// (CSV injection) and gets a leading `'`, the spreadsheet's own mark for
/// text. Codes, keys and links never start so; a name or file name from
/// the export might.
fn as_text(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The result as CSV for mail merge: UTF-8 with a byte-order mark, `;`
/// between the cells (what German Excel opens directly), one row per
/// registered certificate; cells that a spreadsheet would take for a
/// formula are marked as text ([`as_text`]).
pub fn result_csv(result: &BatchResult) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(["code", "key", "url", "holder", "student_id", "document"])?;
    for d in &result.done {
        w.write_record(
            [
                as_text(&d.issued.code),
                as_text(&d.issued.key),
                as_text(&d.issued.url),
                as_text(&d.holder),
                as_text(&d.student_id),
                as_text(&d.document),
            ]
            .iter()
            .map(|c| c.as_bytes()),
        )?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn title(lang: Lang) -> &'static str {
    match lang {
        Lang::De => "Stapel registrieren",
        Lang::En => "Register a batch",
    }
}

/// A link to the batch form (for the single registration page).
pub fn link(lang: Lang) -> String {
    format!(
        "<p><a href=\"/desk/register/batch\">{}</a></p>\n",
        match lang {
            Lang::De => "Viele Zeugnisse auf einmal: Stapel registrieren (CSV oder JSON Lines und ein Zip der PDFs)",
            Lang::En => "Many certificates at once: register a batch (CSV or JSON lines and a zip of the PDFs)",
        }
    )
}

fn page(lang: Lang, signed: &Signed, heading: &str, status: StatusCode, body: &str) -> Resp {
    response::html(
        status,
        super::page::frame(
            lang,
            heading,
            "/desk/register/batch",
            Some(&signed.who()),
            body,
        ),
    )
}

/// `GET /desk/register/batch`: the upload form, with the error of the
/// last try.
pub(super) fn form_page(
    lang: Lang,
    signed: &Signed,
    error: Option<&str>,
    status: StatusCode,
) -> Resp {
    let de = lang == Lang::De;
    let mut b = String::new();
    if let Some(e) = error {
        let _ = writeln!(
            b,
            "<p class=\"status bad\" role=\"alert\">{}</p>",
            escape(e)
        );
    }
    let _ = write!(
        b,
        "<p>{intro}</p>\n<form method=\"post\" action=\"/desk/register/batch\" enctype=\"multipart/form-data\">\n{csrf}\n\
<div class=\"field\"><label for=\"records\">{records}</label>\n<input type=\"file\" id=\"records\" name=\"records\" accept=\".csv,.jsonl,.ndjson,.json,text/csv,application/json\" required aria-describedby=\"records-hint\">\n\
<p class=\"hint\" id=\"records-hint\">{records_hint}</p></div>\n\
<div class=\"field\"><label for=\"documents\">{documents}</label>\n<input type=\"file\" id=\"documents\" name=\"documents\" accept=\".zip,application/zip\" required aria-describedby=\"documents-hint\">\n\
<p class=\"hint\" id=\"documents-hint\">{documents_hint}</p></div>\n\
<button type=\"submit\">{button}</button>\n</form>\n<p><a href=\"/desk/register\">{single}</a></p>\n",
        intro = if de {
            "Laden Sie den Export der Prüfungsverwaltung (eine Zeile je Zeugnis) und ein Zip mit den PDFs hoch. Sie sehen danach jede Zeile mit der berechneten Gesamtnote zur Prüfung, bevor etwas gespeichert wird."
        } else {
            "Upload the export of the exam administration system (one row per certificate) and a zip of the PDFs. You then see every row with its computed final grade for review before anything is stored."
        },
        csrf = csrf_field(&signed.session.csrf),
        records = if de { "Datensätze (CSV oder JSON Lines)" } else { "Records (CSV or JSON lines)" },
        records_hint = if de {
            format!("CSV mit Kopfzeile, Trennzeichen ; oder , (UTF-8): {}. JSON Lines: ein Datensatz je Zeile mit dem Feld document. Höchstens {BATCH_ROWS_MAX} Zeilen.", CSV_COLUMNS.join(", "))
        } else {
            format!("CSV with a header row, separated by ; or , (UTF-8): {}. JSON lines: one record per line with the field document. At most {BATCH_ROWS_MAX} rows.", CSV_COLUMNS.join(", "))
        },
        documents = if de { "PDFs (Zip)" } else { "PDFs (zip)" },
        documents_hint = if de {
            format!("Die Spalte document nennt den Dateinamen im Zip (Ordner zählen nicht). Höchstens {} MiB je PDF und {} MiB zusammen, ohne Passwort.", ZIP_ENTRY_BYTES_MAX >> 20, ZIP_UNCOMPRESSED_BYTES_MAX >> 20)
        } else {
            format!("The column document names the file in the zip (folders do not count). At most {} MiB per PDF and {} MiB in all, without a password.", ZIP_ENTRY_BYTES_MAX >> 20, ZIP_UNCOMPRESSED_BYTES_MAX >> 20)
        },
        button = if de { "Weiter zur Prüfung" } else { "Continue to the review" },
        single = if de { "Ein einzelnes Zeugnis registrieren" } else { "Register a single certificate" },
    );
    page(lang, signed, title(lang), status, &b)
}

/// `POST /desk/register/batch` (multipart: `csrf`, `records`,
/// `documents`): the token first, then the records, the zip and every
/// row, shown for review. Nothing is written.
pub(super) async fn upload(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    req: Request<Incoming>,
) -> Resp {
    let limits = super::multipart::Limits {
        body_bytes_max: state.cfg.admin_body_bytes_max,
        field_bytes_max: &[("csrf", 256), ("records", BATCH_RECORDS_BYTES_MAX as u64)],
        fields_max: BATCH_FORM_FIELDS_MAX,
    };
    let failed = |e: &str, status| form_page(lang, signed, Some(e), status);
    let parts = match super::multipart::parts(req, &limits).await {
        Ok(Some(p)) => p,
        Ok(None) => return refused(lang, signed),
        Err(e) => {
            return failed(
                &format!("{} (http.admin_body_bytes_max)", e.message),
                e.status(),
            )
        }
    };
    let part = |name: &str| parts.iter().find(|p| p.name == name);
    let csrf = part("csrf").map(|p| String::from_utf8_lossy(&p.bytes).into_owned());
    if !super::session::csrf_ok(&signed.session, csrf.as_deref()) {
        return refused(lang, signed);
    }
    let (Some(records), Some(zip)) = (
        part("records").filter(|p| !p.bytes.is_empty()),
        part("documents").filter(|p| !p.bytes.is_empty()),
    ) else {
        return failed(
            "records and documents: both files are needed (the records file and the zip of the PDFs)",
            StatusCode::BAD_REQUEST,
        );
    };
    let (records, zip) = (records.bytes.clone(), zip.bytes.clone());
    drop(parts);
    // Unzipping and parsing hundreds of PDFs takes a while: off the
    // runtime's threads.
    let checked = tokio::task::spawn_blocking(move || {
        let rows = parse_records(&records)?;
        let files = read_zip(&zip)?;
        drop(zip); // the compressed bytes are not needed any more
        Ok::<_, BatchError>(review(rows, files))
    })
    .await;
    let review = match checked {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return failed(&e.to_string(), e.status()),
        Err(e) => {
            tracing::error!(error = %e, "desk: batch review failed");
            return failed(
                "the review failed; see the daemon's log",
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    };
    let Review {
        mut rows,
        unused,
        ready,
    } = review;
    registered_already(state, &mut rows).await;
    let token = (!ready.is_empty())
        .then(|| lock(&state.desk.batch.pending).put(&signed.operator_id, ready, Instant::now()));
    let status = if token.is_some() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = review_page(lang, &signed.session.csrf, token.as_deref(), &rows, &unused);
    let heading = match lang {
        Lang::De => "Stapel prüfen",
        Lang::En => "Review the batch",
    };
    page(lang, signed, heading, status, &body)
}

/// Adds a warning to each row whose PDF is already registered for a valid
/// certificate: the commit then shows that certificate's code and key if
/// the record is the same (the batch uploaded again), and stops at the row
/// otherwise. Only reads.
async fn registered_already(state: &AppState, rows: &mut [ReviewRow]) {
    let hashes: Vec<(usize, [u8; 32])> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.hash.map(|h| (i, h)))
        .collect();
    let known = state
        .with_registry(move |r| {
            let mut out = Vec::new();
            for (i, hash) in hashes {
                if let Some(code) = r.code_of_document(&hash)? {
                    let state = r.find(&code)?.state;
                    if matches!(state, State::AwaitingScan | State::Archived) {
                        out.push((i, code));
                    }
                }
            }
            Ok(out)
        })
        .await;
    match known {
        Ok(known) => {
            for (i, code) in known {
                let row = &mut rows[i];
                row.warnings.push(format!(
                    "line {}: this PDF is already registered (certificate {}): if the record is the same \
                     (the batch uploaded again), the commit shows that certificate's code and key and \
                     registers nothing; otherwise the commit stops at this row",
                    row.line,
                    super::watch::formatted(&code)
                ));
            }
        }
        Err(e) => tracing::warn!(error = %e, "desk: batch review: registered PDFs not looked up"),
    }
}

fn refused(lang: Lang, signed: &Signed) -> Resp {
    tracing::warn!(operator = %signed.operator_id, route = "desk_register_batch", "desk: form without a valid CSRF token refused");
    super::csrf_refused(lang, Some(&signed.who()))
}

/// The review table; the commit form only with `token` (no row has a
/// problem).
fn review_page(
    lang: Lang,
    csrf: &str,
    token: Option<&str>,
    rows: &[ReviewRow],
    unused: &[String],
) -> String {
    let de = lang == Lang::De;
    let bad = rows.iter().filter(|r| !r.problems.is_empty()).count();
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p class=\"status {}\" role=\"{}\">{}</p>",
        if bad > 0 { "bad" } else { "warn" },
        if bad > 0 { "alert" } else { "status" },
        escape(&match (de, bad) {
            (true, 0) => format!("Noch nicht gespeichert. {} Zeilen ohne Fehler. Bitte prüfen Sie die Angaben; mit „Alle registrieren“ werden sie unveränderlich im Archiv festgehalten.", rows.len()),
            (false, 0) => format!("Not stored yet. {} rows without errors. Please check the data; \u{201c}Register all\u{201d} records them in the archive for good.", rows.len()),
            (true, n) => format!("{n} von {} Zeilen haben Fehler. Es wird nichts registriert: bitte den Export korrigieren und beide Dateien erneut hochladen.", rows.len()),
            (false, n) => format!("{n} of {} rows have errors. Nothing will be registered: please correct the export and upload both files again.", rows.len()),
        })
    );
    let heads: [&str; 6] = if de {
        [
            "Zeile",
            "Name",
            "Studiengang",
            "Gesamtnote (berechnet)",
            "Dokument",
            "Befund",
        ]
    } else {
        [
            "Line",
            "Name",
            "Programme",
            "Final grade (computed)",
            "Document",
            "Findings",
        ]
    };
    let _ = write!(
        b,
        "<table>\n<caption>{}</caption>\n<thead><tr>",
        escape(if de {
            "Zeilen des Stapels"
        } else {
            "Rows of the batch"
        })
    );
    for h in heads {
        let _ = write!(b, "<th scope=\"col\">{}</th>", escape(h));
    }
    b.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        let grade = match &r.grade {
            Some(g) => final_grade(lang, g).unwrap_or_else(|| g["result"].to_string()),
            None if r.holder.is_empty() => String::new(),
            None => (if de {
                "keine Noteneingabe"
            } else {
                "no grade input"
            })
            .to_string(),
        };
        let document = match r.size {
            Some(s) => format!("{} ({} KiB)", r.document, s.div_ceil(1024)),
            None => r.document.clone(),
        };
        let mut findings = String::new();
        for p in &r.problems {
            let _ = write!(findings, "<p class=\"status bad\">{}</p>", escape(p));
        }
        for w in &r.warnings {
            let _ = write!(findings, "<p class=\"status warn\">{}</p>", escape(w));
        }
        if findings.is_empty() {
            findings = escape("OK").to_string();
        }
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{findings}</td></tr>",
            r.line,
            escape(&r.holder),
            escape(&r.programme),
            escape(&grade),
            escape(&document),
        );
    }
    b.push_str("</tbody>\n</table>\n");
    for name in unused {
        let _ = writeln!(
            b,
            "<p class=\"status warn\">{}</p>",
            escape(&if de {
                format!("zip: {name} wird von keiner Zeile genannt (fehlt eine Zeile im Export?)")
            } else {
                format!("zip: {name} is named by no row (is a row missing from the export?)")
            })
        );
    }
    if let Some(token) = token {
        let _ = write!(
            b,
            "<form method=\"post\" action=\"/desk/register/batch/commit\">\n{}\n<input type=\"hidden\" name=\"upload\" value=\"{}\">\n<button type=\"submit\">{}</button>\n</form>\n",
            csrf_field(csrf),
            escape(token),
            escape(&if de { format!("Alle registrieren ({})", rows.len()) } else { format!("Register all ({})", rows.len()) }),
        );
    }
    let _ = writeln!(
        b,
        "<p><a href=\"/desk/register/batch\">{}</a></p>",
        if de {
            "Abbrechen, anderen Stapel hochladen"
        } else {
            "Cancel, upload another batch"
        }
    );
    b
}

/// `POST /desk/register/batch/commit` (`csrf`, `upload`): registers the
/// reviewed rows one after the other through [`super::write`]; stops at the
/// first failure. Then the result page.
pub(super) async fn commit(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    form: &[(String, String)],
) -> Resp {
    let token = super::field(form, "upload").unwrap_or("");
    let taken = lock(&state.desk.batch.pending).take(&signed.operator_id, token, Instant::now());
    let Some(rows) = taken else {
        let e = match lang {
            Lang::De => "Dieser Stapel ist abgelaufen oder schon gespeichert; bitte erneut hochladen (das ist sicher: schon registrierte Zeilen behalten ihren Code).",
            Lang::En => "This batch expired or was already stored; please upload it again (that is safe: rows already registered keep their code).",
        };
        return form_page(lang, signed, Some(e), StatusCode::CONFLICT);
    };
    let progress: Progress = Arc::new(Mutex::new(BatchResult {
        total: rows.len(),
        running: true,
        status: StatusCode::CREATED,
        done: Vec::new(),
        failed: None,
        not_done: Vec::new(),
    }));
    let result_token =
        lock(&state.desk.batch.results).put(&signed.operator_id, progress.clone(), Instant::now());
    // One registration (its ledger records attributed to the operator) per
    // row, row after row in a task of its own: the registry is locked for
    // one row at a time, so the intake and other clerks' writes go on
    // between rows, and a commit request that gives up waiting does not
    // stop the rows (the task runs to its end and then runs the write
    // hooks, as every desk write does).
    let operator = match crate::registry::OperatorId::parse(&signed.operator_id) {
        Ok(op) => op,
        Err(e) => {
            let mut p = lock(&progress);
            p.running = false;
            p.status = StatusCode::FORBIDDEN;
            p.failed = Some((0, format!("the signed-in account's operator id is not valid ({e}); see `zeugnis operator list`")));
            drop(p);
            return result_view(lang, signed, &progress, &result_token);
        }
    };
    let (registry, hooks) = state.detached_writer();
    let shared = progress.clone();
    let registering = tokio::task::spawn_blocking(move || {
        register_rows(&registry, &operator, rows, &shared);
        for hook in &hooks {
            hook();
        }
    });
    let wait = Duration::from_millis(state.cfg.request_timeout_ms * COMMIT_WAIT_PERCENT / 100);
    if let Ok(Err(e)) = tokio::time::timeout(wait, registering).await {
        // The task itself failed (a panic); the rows so far are in the result.
        let mut p = lock(&progress);
        p.running = false;
        p.status = StatusCode::INTERNAL_SERVER_ERROR;
        p.failed
            .get_or_insert((0, format!("the batch task failed: {e}")));
    }
    result_view(lang, signed, &progress, &result_token)
}

/// Registers `rows` one after the other into `progress`, each in its own
/// turn of the registry lock, attributed to `operator`; stops at the first
/// failure and lists the rest as not registered.
fn register_rows(
    registry: &Mutex<Registry>,
    operator: &crate::registry::OperatorId,
    rows: Vec<ReadyRow>,
    progress: &Progress,
) {
    let op = operator.as_str();
    for row in rows {
        let holder = format!(
            "{} {}",
            row.record.holder.given_name, row.record.holder.family_name
        );
        let document = base_name(&row.document.name).to_string();
        if lock(progress).failed.is_some() {
            lock(progress).not_done.push((row.line, holder, document));
            continue;
        }
        let student_id = row.record.holder.student_id.clone();
        let line = row.line;
        let outcome = match registry.lock() {
            Ok(mut r) => r.with_operator(Some(operator.clone()), |r| {
                register_row(r, &row.record, row.document)
            }),
            Err(_) => Err(RegistryError::External(
                "the registry lock is poisoned (a writer panicked); restart the daemon".into(),
            )),
        };
        let mut p = lock(progress);
        match outcome {
            Ok((issued, earlier)) => {
                tracing::info!(
                    operator = op,
                    line,
                    action = "register_batch",
                    "desk: write"
                );
                p.done.push(DoneRow {
                    line,
                    holder,
                    student_id,
                    document,
                    issued,
                    earlier,
                })
            }
            Err(e) => {
                tracing::warn!(operator = op, line, error = %e, "desk: batch row refused; the rows after it are not registered");
                p.status = crate::http::admin::registry_error(&e).status();
                p.failed = Some((line, e.to_string()));
                p.not_done.push((line, holder, document));
            }
        }
    }
    let mut p = lock(progress);
    p.running = false;
    tracing::info!(
        operator = op,
        registered = p.done.len(),
        not_registered = p.not_done.len(),
        "desk: batch registered"
    );
}

/// The result page of `progress` (still running: the rows so far and a
/// link to look again).
fn result_view(lang: Lang, signed: &Signed, progress: &Progress, token: &str) -> Resp {
    let result = lock(progress);
    let body = result_page(lang, &result, token);
    let (heading, status) = match (lang, result.running) {
        (Lang::De, true) => ("Stapel wird registriert", StatusCode::ACCEPTED),
        (Lang::En, true) => ("Registering the batch", StatusCode::ACCEPTED),
        (Lang::De, false) => ("Stapel registriert", result.status),
        (Lang::En, false) => ("Batch registered", result.status),
    };
    page(lang, signed, heading, status, &body)
}

/// The token in `?result=`.
fn result_token(query: Option<&str>) -> String {
    query
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "result")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default()
}

/// The result `token` of the operator, if it is still kept.
fn parked_result(state: &AppState, signed: &Signed, token: &str) -> Option<Progress> {
    lock(&state.desk.batch.results)
        .get(&signed.operator_id, token, Instant::now())
        .cloned()
}

fn result_expired(lang: Lang, signed: &Signed) -> Resp {
    let e = match lang {
        Lang::De => "Dieses Ergebnis ist abgelaufen (eine Stunde nach der Registrierung). Denselben Stapel erneut hochzuladen zeigt Codes und Schlüssel wieder, ohne etwas doppelt zu registrieren.",
        Lang::En => "This result expired (one hour after the registration). Uploading the same batch again shows the codes and keys again without registering anything twice.",
    };
    form_page(lang, signed, Some(e), StatusCode::NOT_FOUND)
}

/// `GET /desk/register/batch/result?result=TOKEN`: the result page again
/// (while the rows are registered: the progress).
pub(super) fn result_page_again(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    query: Option<&str>,
) -> Resp {
    let token = result_token(query);
    match parked_result(state, signed, &token) {
        Some(progress) => result_view(lang, signed, &progress, &token),
        None => result_expired(lang, signed),
    }
}

/// The result page; `token` names the parked result for the CSV link.
fn result_page(lang: Lang, result: &BatchResult, token: &str) -> String {
    let de = lang == Lang::De;
    let mut b = String::new();
    match &result.failed {
        None if result.running => {
            let _ = writeln!(
                b,
                "<p class=\"status warn\" role=\"status\">{}</p>\n<p><a href=\"/desk/register/batch/result?result={}\">{}</a></p>",
                escape(&if de {
                    format!("Wird registriert: {} von {} Zeilen sind registriert. Die Registrierung läuft weiter, auch wenn Sie diese Seite verlassen.", result.done.len(), result.total)
                } else {
                    format!("Registering: {} of {} rows are registered. The registration goes on even if you leave this page.", result.done.len(), result.total)
                }),
                escape(token),
                if de { "Stand neu laden" } else { "Reload the progress" },
            );
        }
        None => {
            let _ = writeln!(
                b,
                "<p class=\"status ok\" role=\"status\">{}</p>",
                escape(&if de {
                    format!("{} Zeugnisse registriert. Sie warten jetzt auf den Scan der unterschriebenen Originale.", result.done.len())
                } else {
                    format!("{} certificates registered. They now await the scans of the signed originals.", result.done.len())
                })
            );
        }
        Some((line, e)) => {
            let _ = writeln!(
                b,
                "<p class=\"status bad\" role=\"alert\">{}</p>",
                escape(&if de {
                    format!("Zeile {line} konnte nicht registriert werden: {e}. Zeilen registriert (unten): {}; nicht registriert: {}. Denselben Stapel erneut hochzuladen ist sicher: schon registrierte Zeilen behalten Code und Schlüssel, nichts wird doppelt registriert.", result.done.len(), result.not_done.len())
                } else {
                    format!("Line {line} could not be registered: {e}. Rows registered (below): {}; not registered: {}. Uploading the same batch again is safe: rows already registered keep their code and key, nothing is registered twice.", result.done.len(), result.not_done.len())
                })
            );
        }
    }
    if !result.done.is_empty() && !result.running {
        let _ = writeln!(
            b,
            "<p><a href=\"/desk/register/batch/result.csv?result={}\" download>{}</a></p>",
            escape(token),
            if de {
                "Liste als CSV herunterladen (Code, Schlüssel, Link, Name, Matrikelnummer, Dokument; für den Serienbrief)"
            } else {
                "Download the list as CSV (code, key, link, name, student number, document; for mail merge)"
            }
        );
        let heads: [&str; 6] = if de {
            [
                "Zeile",
                "Name",
                "Code",
                "Zugangsschlüssel",
                "Link zur Prüfseite",
                "Drucken",
            ]
        } else {
            [
                "Line",
                "Name",
                "Code",
                "Access key",
                "Verification link",
                "Print",
            ]
        };
        let _ = write!(
            b,
            "<table>\n<caption>{}</caption>\n<thead><tr>",
            escape(if de {
                "Registrierte Zeugnisse"
            } else {
                "Registered certificates"
            })
        );
        for h in heads {
            let _ = write!(b, "<th scope=\"col\">{}</th>", escape(h));
        }
        b.push_str("</tr></thead>\n<tbody>\n");
        for d in &result.done {
            let plain: String = d.issued.code.chars().filter(|c| *c != '-').collect();
            let earlier = if d.earlier {
                if de {
                    " (schon früher registriert)"
                } else {
                    " (registered earlier)"
                }
            } else {
                ""
            };
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}{}</td><td><a href=\"/desk/certificate/{plain}\">{}</a></td><td>{}</td><td>{}</td>\
<td><a href=\"/desk/print-bundle/{plain}\" download>{}</a> · <a href=\"/desk/cover-sheet/{plain}\" download>{}</a></td></tr>",
                d.line,
                escape(&d.holder),
                escape(earlier),
                escape(&d.issued.code),
                escape(&d.issued.key),
                escape(&d.issued.url),
                if de { "Druckpaket" } else { "Print bundle" },
                if de { "Deckblatt" } else { "Cover sheet" },
            );
        }
        b.push_str("</tbody>\n</table>\n");
    }
    if !result.not_done.is_empty() {
        let _ = writeln!(
            b,
            "<h2>{}</h2>\n<ul>",
            if de {
                "Nicht registriert"
            } else {
                "Not registered"
            }
        );
        for (line, holder, document) in &result.not_done {
            let _ = writeln!(
                b,
                "<li>{} {line}: {} ({})</li>",
                if de { "Zeile" } else { "Line" },
                escape(holder),
                escape(document)
            );
        }
        b.push_str("</ul>\n");
    }
    let _ = writeln!(
        b,
        "<p><a href=\"/desk/register/batch\">{}</a></p>",
        if de {
            "Nächsten Stapel registrieren"
        } else {
            "Register the next batch"
        }
    );
    b
}

/// `GET /desk/register/batch/result.csv?result=TOKEN`: the last result of
/// this operator as CSV (`Cache-Control: no-store`: it holds the keys).
pub(super) fn result_download(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    query: Option<&str>,
) -> Resp {
    let token = result_token(query);
    let Some(progress) = parked_result(state, signed, &token) else {
        return result_expired(lang, signed);
    };
    if lock(&progress).running {
        return result_view(lang, signed, &progress, &token);
    }
    let result = lock(&progress);
    match result_csv(&result) {
        Ok(csv) => {
            tracing::info!(operator = %signed.operator_id, rows = result.done.len(), "desk: batch result downloaded");
            let mut r = response::bytes(StatusCode::OK, "text/csv; charset=utf-8", csv);
            response::set(
                &mut r,
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"zeugnis-batch.csv\"",
            );
            response::set(&mut r, header::CACHE_CONTROL, "no-store");
            r
        }
        Err(e) => response::text(StatusCode::INTERNAL_SERVER_ERROR, &format!("CSV: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_items_are_bound_to_their_operator_and_expire() {
        let t0 = Instant::now();
        let mut t: Parked<u32> = Parked::new(2, 10);
        let a = t.put("op-a", 1, t0);
        assert!(t.get("op-b", &a, t0).is_none(), "another operator");
        assert_eq!(t.get("op-a", &a, t0), Some(&1));
        let a2 = t.put("op-a", 2, t0);
        assert!(t.get("op-a", &a, t0).is_none(), "replaced");
        assert_eq!(t.take("op-a", &a2, t0), Some(2));
        assert!(t.take("op-a", &a2, t0).is_none(), "once");
        let b = t.put("op-b", 3, t0);
        assert!(
            t.get("op-b", &b, t0 + Duration::from_secs(11)).is_none(),
            "expired"
        );
        t.put("op-c", 4, t0);
        t.put("op-d", 5, t0 + Duration::from_secs(1));
        assert_eq!(t.len(), 2, "at most max");
    }

    #[test]
    fn the_result_page_and_csv_list_every_row_and_the_progress_while_running() {
        let result = BatchResult {
            done: vec![DoneRow {
                line: 2,
                holder: "Anna \"Nina\" Muster".into(),
                student_id: "123".into(),
                document: "a;b.pdf".into(),
                issued: Issued {
                    code: "QNVC-FM3P-4VDF".into(),
                    key: "7K2M9X".into(),
                    url: "http://verify.test/de/QNVCFM3P4VDF-7K2M9X".into(),
                    stamped: false,
                    warnings: Vec::new(),
                },
                earlier: false,
            }],
            failed: None,
            not_done: Vec::new(),
            total: 1,
            running: false,
            status: StatusCode::CREATED,
        };
        let page = result_page(Lang::En, &result, "t0k3n");
        assert!(page.contains("result.csv?result=t0k3n"), "{page}");
        assert!(
            page.contains("QNVC-FM3P-4VDF") && page.contains("/desk/print-bundle/QNVCFM3P4VDF")
        );
        let running = BatchResult {
            running: true,
            total: 3,
            done: Vec::new(),
            failed: None,
            not_done: Vec::new(),
            status: StatusCode::CREATED,
        };
        let page = result_page(Lang::En, &running, "t0k3n");
        assert!(page.contains("Registering: 0 of 3 rows"), "{page}");
        assert!(
            page.contains("/desk/register/batch/result?result=t0k3n"),
            "{page}"
        );
        assert!(
            !page.contains("result.csv"),
            "no list before the end: {page}"
        );
        let csv = result_csv(&result).expect("csv");
        let text = String::from_utf8(csv).expect("utf-8");
        assert_eq!(
            text,
            "\u{feff}code;key;url;holder;student_id;document\nQNVC-FM3P-4VDF;7K2M9X;http://verify.test/de/QNVCFM3P4VDF-7K2M9X;\"Anna \"\"Nina\"\" Muster\";123;\"a;b.pdf\"\n"
        );
        assert_eq!(as_text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(as_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(as_text("-1+2"), "'-1+2");
        assert_eq!(as_text("Anna"), "Anna");
    }
}
