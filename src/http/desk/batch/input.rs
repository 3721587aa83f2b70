//! The input of a batch registration, pure: the records file (CSV or
//! JSON lines) mapped onto [`RegistrationRecord`], the zip of the PDFs read
//! in memory within the limits below, and the review of every row against
//! the zip. Must not do: write anything, touch the disk (a zip entry is
//! never extracted), or call anything async.
//!
//! Limits: [`BATCH_ROWS_MAX`] rows, [`BATCH_RECORDS_BYTES_MAX`] for the
//! records file, [`ZIP_ENTRIES_MAX`] entries, [`ZIP_ENTRY_BYTES_MAX`] per
//! entry and [`ZIP_UNCOMPRESSED_BYTES_MAX`] in all (each checked against
//! the sizes the zip declares AND against what is actually read), names of
//! at most [`ZIP_NAME_BYTES_MAX`] bytes.

use crate::registry::{DocumentFile, RegistrationRecord};
use hyper::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;

/// Rows (certificates) in one batch.
pub const BATCH_ROWS_MAX: usize = 500;
/// Size of the records file (CSV or JSON lines), in bytes.
pub const BATCH_RECORDS_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Entries in the zip (files and folders).
pub const ZIP_ENTRIES_MAX: usize = 1_000;
/// One PDF in the zip, uncompressed, in bytes.
pub const ZIP_ENTRY_BYTES_MAX: u64 = 32 * 1024 * 1024;
/// All PDFs in the zip together, uncompressed, in bytes (what a parked
/// batch holds in memory).
pub const ZIP_UNCOMPRESSED_BYTES_MAX: u64 = 160 * 1024 * 1024;
/// A zip entry's name (with its folders), in bytes.
pub const ZIP_NAME_BYTES_MAX: usize = 255;
/// The CSV columns, in the order the documentation lists them; `email` and
/// `grades` may be missing from the header or empty in a row.
pub const CSV_COLUMNS: [&str; 14] = [
    "institution",
    "kind",
    "language",
    "given_name",
    "family_name",
    "birth_date",
    "birth_place",
    "student_id",
    "email",
    "degree",
    "programme",
    "last_exam_date",
    "document",
    "grades",
];
/// The CSV columns that may be left out of the header.
const CSV_OPTIONAL: [&str; 2] = ["email", "grades"];

/// Why a whole upload is refused (a problem of one row is not an error
/// here: it is listed on the review page).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError {
    /// The records file is empty or has no rows.
    #[error("records file: no rows")]
    NoRows,
    /// More rows than [`BATCH_ROWS_MAX`].
    #[error("records file: more than {max} rows (line {line}); split the export into batches of at most {max}")]
    TooManyRows { line: u64, max: usize },
    /// The records file is not UTF-8.
    #[error("records file: not UTF-8 at byte {offset} (save the export as UTF-8)")]
    NotUtf8 { offset: usize },
    /// A required CSV column is missing from the header.
    #[error("records file: line 1: column \"{column}\" is missing (columns: {})", CSV_COLUMNS.join(", "))]
    MissingColumn { column: &'static str },
    /// A CSV header names a column that is not known (a typo).
    #[error("records file: line 1: column \"{column}\" is not known (columns: {})", CSV_COLUMNS.join(", "))]
    UnknownColumn { column: String },
    /// A CSV header names a column twice.
    #[error("records file: line 1: column \"{column}\" appears twice")]
    DuplicateColumn { column: String },
    /// The CSV cannot be read at all.
    #[error("records file: line {line}: {what}")]
    Csv { line: u64, what: String },
    /// The zip cannot be read.
    #[error("zip: {what}")]
    Zip { what: String },
    /// An entry of the zip cannot be read.
    #[error("zip: {entry}: {what}")]
    ZipEntry { entry: String, what: String },
    /// More entries than [`ZIP_ENTRIES_MAX`].
    #[error("zip: {count} entries, at most {max} are accepted")]
    TooManyEntries { count: usize, max: usize },
    /// An entry is encrypted.
    #[error("zip: {entry}: encrypted; zip the PDFs without a password")]
    Encrypted { entry: String },
    /// An entry is larger than [`ZIP_ENTRY_BYTES_MAX`] (declared or read).
    #[error("zip: {entry}: larger than {max} bytes uncompressed")]
    EntryTooLarge { entry: String, max: u64 },
    /// All entries together are larger than [`ZIP_UNCOMPRESSED_BYTES_MAX`].
    #[error("zip: the files together are larger than {max} bytes uncompressed (at {entry}); split the batch")]
    TooLarge { entry: String, max: u64 },
    /// Two entries have the same file name in different folders.
    #[error("zip: \"{first}\" and \"{second}\" have the same file name; names are compared without folders")]
    DuplicateName { first: String, second: String },
}

impl BatchError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            BatchError::TooManyRows { .. }
            | BatchError::TooManyEntries { .. }
            | BatchError::EntryTooLarge { .. }
            | BatchError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// One row of the records file, before it is checked.
#[derive(Debug)]
pub struct ParsedRow {
    /// The line of the records file on which the row starts (1-based).
    pub line: u64,
    /// The PDF's file name in the zip, as the row gives it.
    pub document: Option<String>,
    /// The checked record, or the problem (naming the line and field).
    pub record: Result<RegistrationRecord, String>,
}

/// One CSV row by column, mapped onto the record schema by
/// [`BatchRow::record_json`] (the JSON-lines format is that schema already).
#[derive(Debug, Default)]
pub struct BatchRow {
    /// Cells by column name; empty cells are absent.
    cells: BTreeMap<&'static str, String>,
}

impl BatchRow {
    /// The record JSON of the row (without `document`), or the problem
    /// with the grade input cell.
    pub fn record_json(&self) -> Result<Value, String> {
        let mut record = super::super::record_form::record_json(|c| {
            self.cells.get(c).cloned().unwrap_or_default()
        });
        if let Some(grades) = self.cells.get("grades") {
            let input: Value = serde_json::from_str(grades)
                .map_err(|e| format!("grades: the cell is not JSON ({e})"))?;
            record["grades"] = input;
        }
        Ok(record)
    }
}

/// Checks one record JSON of the batch; errors start with `line N:`.
fn record_of(line: u64, json: &Value) -> Result<RegistrationRecord, String> {
    let bytes = serde_json::to_vec(json).map_err(|e| format!("line {line}: {e}"))?;
    RegistrationRecord::parse(&format!("line {line}"), &bytes).map_err(|e| e.to_string())
}

/// Parses a records file: JSON lines when the first character that is not
/// white space is `{`, CSV otherwise. A UTF-8 byte-order mark is skipped.
pub fn parse_records(bytes: &[u8]) -> Result<Vec<ParsedRow>, BatchError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| BatchError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let rows = if text.trim_start().starts_with('{') {
        parse_json_lines(text)?
    } else {
        parse_csv(text)?
    };
    if rows.is_empty() {
        return Err(BatchError::NoRows);
    }
    Ok(rows)
}

fn too_many(line: u64, rows: &[ParsedRow]) -> Result<(), BatchError> {
    if rows.len() >= BATCH_ROWS_MAX {
        return Err(BatchError::TooManyRows {
            line,
            max: BATCH_ROWS_MAX,
        });
    }
    Ok(())
}

fn parse_json_lines(text: &str) -> Result<Vec<ParsedRow>, BatchError> {
    let mut rows = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if l.trim().is_empty() {
            continue;
        }
        too_many(line, &rows)?;
        let parsed = match serde_json::from_str::<Value>(l) {
            Ok(Value::Object(mut m)) => match m.remove("document") {
                Some(Value::String(d)) if !d.trim().is_empty() => {
                    let record = record_of(line, &Value::Object(m));
                    (Some(d.trim().to_string()), record)
                }
                _ => (
                    None,
                    Err(format!(
                        "line {line}: document: missing (the PDF's file name in the zip)"
                    )),
                ),
            },
            Ok(_) => (None, Err(format!("line {line}: not a JSON object"))),
            Err(e) => (None, Err(format!("line {line}: not JSON ({e})"))),
        };
        rows.push(ParsedRow {
            line,
            document: parsed.0,
            record: parsed.1,
        });
    }
    Ok(rows)
}

/// The delimiter of a CSV file: `;` when its first line has more
/// semicolons than commas (German Excel), `,` otherwise.
fn csv_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    let count = |c| first.chars().filter(|x| *x == c).count();
    if count(';') > count(',') {
        b';'
    } else {
        b','
    }
}

/// The 1-based line on which the record at byte `offset` of `text` starts
/// (the reader's offset can point at the line end before the record, as
/// after a `\r\n`; a record never starts with a line end).
fn line_at(text: &str, offset: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    while end < bytes.len() && (bytes[end] == b'\r' || bytes[end] == b'\n') {
        end += 1;
    }
    bytes[..end].iter().filter(|b| **b == b'\n').count() as u64 + 1
}

fn parse_csv(text: &str) -> Result<Vec<ParsedRow>, BatchError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(csv_delimiter(text))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| BatchError::Csv {
        line: e.position().map(|p| line_at(text, p.byte())).unwrap_or(1),
        what: e.to_string(),
    };
    let header = reader.headers().map_err(csv_error)?.clone();
    let mut columns: Vec<&'static str> = Vec::new();
    for h in &header {
        let name = h.to_ascii_lowercase();
        let Some(known) = CSV_COLUMNS.iter().find(|c| **c == name) else {
            return Err(BatchError::UnknownColumn {
                column: h.to_string(),
            });
        };
        if columns.contains(known) {
            return Err(BatchError::DuplicateColumn {
                column: h.to_string(),
            });
        }
        columns.push(known);
    }
    if let Some(missing) = CSV_COLUMNS
        .iter()
        .find(|c| !CSV_OPTIONAL.contains(c) && !columns.contains(c))
    {
        return Err(BatchError::MissingColumn { column: missing });
    }
    let mut rows = Vec::new();
    for result in reader.records() {
        let cells = result.map_err(csv_error)?;
        // The line from the byte offset: the reader's own line count is
        // one short after a `\r\n` line end.
        let line = cells
            .position()
            .map(|p| line_at(text, p.byte()))
            .unwrap_or(0);
        if cells.iter().all(str::is_empty) {
            continue; // a spreadsheet's empty row (";;;;")
        }
        too_many(line, &rows)?;
        let mut row = BatchRow::default();
        for (column, cell) in columns.iter().zip(cells.iter()) {
            if !cell.is_empty() {
                row.cells.insert(column, cell.to_string());
            }
        }
        let document = row.cells.get("document").cloned();
        let record = if cells.len() != columns.len() {
            Err(format!(
                "line {line}: {} cells, the header has {} columns",
                cells.len(),
                columns.len()
            ))
        } else if document.is_none() {
            Err(format!(
                "line {line}: document: empty (the PDF's file name in the zip)"
            ))
        } else {
            row.record_json()
                .map_err(|e| format!("line {line}: {e}"))
                .and_then(|json| record_of(line, &json))
        };
        rows.push(ParsedRow {
            line,
            document,
            record,
        });
    }
    Ok(rows)
}

/// A file name without its folders (zip names use `/`; some Windows tools
/// write `\`).
pub fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// One PDF from the zip.
pub struct ZipEntry {
    /// The entry's full name (with folders), for messages.
    pub name: String,
    /// The uncompressed content.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for ZipEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes)", self.name, self.bytes.len())
    }
}

/// Reads the files of a zip into memory, by file name without folders.
/// Folders and macOS metadata (`__MACOSX/`) are skipped; encrypted entries,
/// links, too many or too large entries and two files with the same name
/// refuse the whole zip.
pub fn read_zip(bytes: &[u8]) -> Result<BTreeMap<String, ZipEntry>, BatchError> {
    let zip_error = |e: zip::result::ZipError| BatchError::Zip {
        what: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_error)?;
    if archive.len() > ZIP_ENTRIES_MAX {
        return Err(BatchError::TooManyEntries {
            count: archive.len(),
            max: ZIP_ENTRIES_MAX,
        });
    }
    let mut out: BTreeMap<String, ZipEntry> = BTreeMap::new();
    let (mut declared_total, mut read_total) = (0u64, 0u64);
    for i in 0..archive.len() {
        let entry_error = |entry: &str, e: &dyn std::fmt::Display| BatchError::ZipEntry {
            entry: entry.to_string(),
            what: e.to_string(),
        };
        // First the metadata only (nothing is decompressed).
        let (name, declared) = {
            let f = archive.by_index_raw(i).map_err(zip_error)?;
            let name = f
                .name()
                .map_err(|e| entry_error(&format!("entry {}", i + 1), &e))?
                .into_owned();
            if name.len() > ZIP_NAME_BYTES_MAX {
                return Err(entry_error(
                    &format!("entry {}", i + 1),
                    &format!("the name is longer than {ZIP_NAME_BYTES_MAX} bytes"),
                ));
            }
            if f.is_dir() || name.starts_with("__MACOSX/") {
                continue;
            }
            if f.encrypted() {
                return Err(BatchError::Encrypted { entry: name });
            }
            if f.is_symlink() {
                return Err(entry_error(&name, &"a link, not a file"));
            }
            (name, f.size())
        };
        if declared > ZIP_ENTRY_BYTES_MAX {
            return Err(BatchError::EntryTooLarge {
                entry: name,
                max: ZIP_ENTRY_BYTES_MAX,
            });
        }
        declared_total = declared_total.saturating_add(declared);
        if declared_total > ZIP_UNCOMPRESSED_BYTES_MAX {
            return Err(BatchError::TooLarge {
                entry: name,
                max: ZIP_UNCOMPRESSED_BYTES_MAX,
            });
        }
        // Then the content, never more than the limit whatever the header
        // declared (a zip bomb lies about its sizes).
        let mut content = Vec::new();
        archive
            .by_index(i)
            .map_err(|e| entry_error(&name, &e))?
            .take(ZIP_ENTRY_BYTES_MAX + 1)
            .read_to_end(&mut content)
            .map_err(|e| entry_error(&name, &e))?;
        let got = content.len() as u64;
        if got > ZIP_ENTRY_BYTES_MAX {
            return Err(BatchError::EntryTooLarge {
                entry: name,
                max: ZIP_ENTRY_BYTES_MAX,
            });
        }
        if got != declared {
            return Err(entry_error(
                &name,
                &format!("declares {declared} bytes but holds {got}"),
            ));
        }
        read_total += got;
        if read_total > ZIP_UNCOMPRESSED_BYTES_MAX {
            return Err(BatchError::TooLarge {
                entry: name,
                max: ZIP_UNCOMPRESSED_BYTES_MAX,
            });
        }
        let base = base_name(&name).to_string();
        if base.is_empty() {
            continue;
        }
        if let Some(first) = out.get(&base) {
            return Err(BatchError::DuplicateName {
                first: first.name.clone(),
                second: name,
            });
        }
        out.insert(
            base,
            ZipEntry {
                name,
                bytes: content,
            },
        );
    }
    Ok(out)
}

/// One row as the review page shows it.
#[derive(Debug)]
pub struct ReviewRow {
    /// The line in the records file.
    pub line: u64,
    /// Given and family name (empty when the record is not valid).
    pub holder: String,
    /// Degree and programme (empty when the record is not valid).
    pub programme: String,
    /// The computed grade record (JSON, as the single registration shows it).
    pub grade: Option<Value>,
    /// The PDF's name as the row gives it.
    pub document: String,
    /// The PDF's size, when it is in the zip.
    pub size: Option<usize>,
    /// The PDF's BLAKE3 hash, when it is in the zip (to ask the registry
    /// whether it is registered already).
    pub hash: Option<[u8; 32]>,
    /// What prevents the registration, in words.
    pub problems: Vec<String>,
    /// What is accepted but worth a look (no PDF/A declaration).
    pub warnings: Vec<String>,
}

/// A row ready to be registered.
pub struct ReadyRow {
    /// The line in the records file.
    pub line: u64,
    /// The checked record.
    pub record: RegistrationRecord,
    /// The PDF.
    pub document: DocumentFile,
}

/// The review of a batch.
pub struct Review {
    /// Every row, in the file's order.
    pub rows: Vec<ReviewRow>,
    /// Zip entries that no row names (a warning: perhaps a row is missing).
    pub unused: Vec<String>,
    /// The rows to register: all of them when no row has a problem, else
    /// none (all or nothing).
    pub ready: Vec<ReadyRow>,
}

/// Checks every row against the zip: the record, the grade input, the
/// PDF (in the zip, a PDF that parses, not used by another row). Writes
/// nothing.
pub fn review(parsed: Vec<ParsedRow>, mut zip: BTreeMap<String, ZipEntry>) -> Review {
    let mut rows = Vec::new();
    let mut ready = Vec::new();
    let mut used_by: HashMap<String, u64> = HashMap::new();
    let mut hashes: HashMap<[u8; 32], u64> = HashMap::new();
    for p in parsed {
        let line = p.line;
        let mut row = ReviewRow {
            line,
            holder: String::new(),
            programme: String::new(),
            grade: None,
            document: p.document.clone().unwrap_or_default(),
            size: None,
            hash: None,
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        let record = match p.record {
            Ok(r) => {
                row.holder = format!("{} {}", r.holder.given_name, r.holder.family_name);
                row.programme = format!("{} {}", r.programme.degree, r.programme.name);
                if let Some(input) = &r.grades {
                    match crate::grades::evaluate(input)
                        .map_err(|e| e.to_string())
                        .and_then(|g| serde_json::to_value(&g).map_err(|e| e.to_string()))
                    {
                        Ok(g) => row.grade = Some(g),
                        Err(e) => row.problems.push(format!("line {line}: grades: {e}")),
                    }
                }
                Some(r)
            }
            Err(e) => {
                row.problems.push(e);
                None
            }
        };
        let mut document = None;
        if let Some(name) = &p.document {
            let base = base_name(name).to_string();
            match (zip.remove(&base), used_by.get(&base)) {
                (Some(entry), _) => {
                    row.size = Some(entry.bytes.len());
                    used_by.insert(base.clone(), line);
                    let hash = *blake3::hash(&entry.bytes).as_bytes();
                    row.hash = Some(hash);
                    match crate::document::inspect(&entry.name, &entry.bytes) {
                        Err(e) => row.problems.push(format!("line {line}: document: {e}")),
                        Ok(facts) => row.warnings.extend(facts.warning(&entry.name)),
                    }
                    if let Some(first) = hashes.insert(hash, line) {
                        row.problems.push(format!(
                            "line {line}: document: {name} has the same content as the PDF of line {first}; a PDF belongs to one certificate"
                        ));
                    }
                    document = Some(DocumentFile {
                        name: entry.name,
                        bytes: entry.bytes,
                    });
                }
                (None, Some(first)) => row.problems.push(format!(
                    "line {line}: document: {name} is already the PDF of line {first}; a PDF belongs to one certificate"
                )),
                (None, None) => row
                    .problems
                    .push(format!("line {line}: document: {name} is not in the zip")),
            }
        }
        if let (Some(record), Some(document), true) = (record, document, row.problems.is_empty()) {
            ready.push(ReadyRow {
                line,
                record,
                document,
            });
        }
        rows.push(row);
    }
    let unused = zip.into_values().map(|e| e.name).collect();
    if rows.iter().any(|r| !r.problems.is_empty()) {
        ready.clear();
    }
    Review {
        rows,
        unused,
        ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "institution;kind;language;given_name;family_name;birth_date;birth_place;student_id;email;degree;programme;last_exam_date;document;grades";

    fn csv_row(given: &str, document: &str) -> String {
        format!("Universität Erfurt;transcript;de;{given};Muster;2000-01-02;Erfurt;123;;B.A.;Geschichte;2026-07-01;{document};")
    }

    fn pdf(text: &str) -> Vec<u8> {
        crate::document::text_pdf(&[vec![text.to_string()]], None)
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            w.start_file(*name, opts).expect("start");
            std::io::Write::write_all(&mut w, bytes).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn csv_with_semicolons_a_bom_and_a_quoted_cell_with_a_newline() {
        let text = format!(
            "\u{feff}{HEADER}\r\n{}\r\n\"Universität Erfurt\";transcript;de;\"Anna\nMaria\";Muster;2000-01-02;Erfurt;124;a@example.org;B.A.;Geschichte;2026-07-01;b.pdf;\"{{\"\"ruleset\"\": \"\"x\"\"}}\"\r\n;;;;;;;;;;;;;\r\n",
            csv_row("Anna", "a.pdf")
        );
        let rows = parse_records(text.as_bytes()).expect("parses");
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].document.as_deref(), Some("a.pdf"));
        let first = rows[0].record.as_ref().expect("valid");
        assert_eq!(first.institution, "Universität Erfurt");
        assert_eq!(first.holder.given_name, "Anna");
        assert_eq!(first.programme.name, "Geschichte");
        assert!(first.grades.is_none() && first.holder.email.is_none());
        assert_eq!(rows[1].line, 3, "the row starts on line 3");
        // The control character (a newline) in a name is the record's error.
        let second = rows[1].record.as_ref().expect_err("newline in a name");
        assert!(second.starts_with("line 3: holder.given_name"), "{second}");
    }

    #[test]
    fn csv_with_commas_and_grades_as_json_in_one_cell() {
        let text = "kind,institution,language,given_name,family_name,birth_date,birth_place,student_id,degree,programme,last_exam_date,document,grades\n\
transcript,Uni,en,Ada,Lovelace,1999-12-10,London,7,B.Sc.,Maths,2026-06-30,ada.pdf,\"{\"\"ruleset\"\":\"\"erfurt-ba-2019\"\",\"\"parts\"\":[]}\"\n";
        let rows = parse_records(text.as_bytes()).expect("parses");
        let r = rows[0].record.as_ref().expect("valid");
        assert_eq!(r.kind, "transcript");
        assert_eq!(
            r.grades.as_ref().expect("grades")["ruleset"],
            "erfurt-ba-2019"
        );
        let bad = text.replace("\"\"parts\"\":[]}", "\"\"parts\"\":[");
        let rows = parse_records(bad.as_bytes()).expect("parses");
        let e = rows[0].record.as_ref().expect_err("bad grades cell");
        assert!(e.starts_with("line 2: grades: the cell is not JSON"), "{e}");
    }

    #[test]
    fn csv_header_errors_name_the_column() {
        let missing = HEADER.replace("birth_place;", "");
        assert_eq!(
            parse_records(format!("{missing}\n").as_bytes()).expect_err("missing"),
            BatchError::MissingColumn {
                column: "birth_place"
            }
        );
        let err = parse_records(format!("{missing}\n").as_bytes())
            .expect_err("missing")
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("\"birth_place\""),
            "{err}"
        );
        let typo = HEADER.replace("programme", "programm");
        assert!(matches!(
            parse_records(typo.as_bytes()),
            Err(BatchError::UnknownColumn { column }) if column == "programm"
        ));
        let twice = format!("{HEADER};kind");
        assert!(matches!(
            parse_records(twice.as_bytes()),
            Err(BatchError::DuplicateColumn { .. })
        ));
        assert!(matches!(
            parse_records(format!("{HEADER}\n").as_bytes()),
            Err(BatchError::NoRows)
        ));
        assert!(matches!(
            parse_records(b"institution;kind\xff"),
            Err(BatchError::NotUtf8 { offset: 16 })
        ));
    }

    #[test]
    fn csv_row_errors_name_the_line_and_the_field() {
        let short = "Uni;transcript;de;Anna";
        let no_doc = csv_row("Bert", "");
        let bad_date = csv_row("Carl", "c.pdf").replace("2000-01-02", "2000-02-30");
        let text = format!("{HEADER}\n{short}\n{no_doc}\n{bad_date}\n");
        let rows = parse_records(text.as_bytes()).expect("parses");
        let errors: Vec<String> = rows
            .iter()
            .map(|r| r.record.as_ref().expect_err("bad").clone())
            .collect();
        assert!(errors[0].starts_with("line 2: 4 cells"), "{errors:?}");
        assert!(errors[1].starts_with("line 3: document"), "{errors:?}");
        assert!(
            errors[2].starts_with("line 4: holder.birth_date"),
            "{errors:?}"
        );
    }

    #[test]
    fn json_lines_skip_blank_lines_and_need_the_document_field() {
        let record = |given: &str, doc: Option<&str>| {
            let mut v = serde_json::json!({
                "institution": "Uni", "kind": "transcript", "language": "de",
                "holder": {"given_name": given, "family_name": "M", "birth_date": "2000-01-02",
                           "birth_place": "E", "student_id": "1"},
                "programme": {"degree": "B.A.", "name": "G"}, "last_exam_date": "2026-07-01"});
            if let Some(d) = doc {
                v["document"] = d.into();
            }
            v.to_string()
        };
        let text = format!(
            "{}\n\n   \n{}\n{{\"document\": \"x.pdf\", \"kind\": \"transcript\"}}\nnot json\n",
            record("A", Some("dir/a.pdf")),
            record("B", None)
        );
        let rows = parse_records(text.as_bytes()).expect("parses");
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].line, 1);
        assert_eq!(rows[0].document.as_deref(), Some("dir/a.pdf"));
        assert!(rows[0].record.is_ok());
        assert_eq!(rows[1].line, 4);
        assert!(rows[1]
            .record
            .as_ref()
            .expect_err("no document")
            .starts_with("line 4: document: missing"));
        assert!(rows[2]
            .record
            .as_ref()
            .expect_err("fields")
            .starts_with("line 5: "));
        assert!(rows[3]
            .record
            .as_ref()
            .expect_err("json")
            .starts_with("line 6: not JSON"));
    }

    #[test]
    fn too_many_rows_are_refused() {
        let row = csv_row("Anna", "a.pdf");
        let mut text = format!("{HEADER}\n");
        for _ in 0..=BATCH_ROWS_MAX {
            text.push_str(&row);
            text.push('\n');
        }
        assert_eq!(
            parse_records(text.as_bytes()).expect_err("too many"),
            BatchError::TooManyRows {
                line: BATCH_ROWS_MAX as u64 + 2,
                max: BATCH_ROWS_MAX
            }
        );
    }

    #[test]
    fn zip_entries_are_read_by_file_name_without_folders() {
        let a = pdf("a");
        let zip = zip_of(&[
            ("export/a.pdf", &a),
            ("__MACOSX/export/._a.pdf", b"junk"),
            ("b.pdf", b"not a pdf"),
        ]);
        let files = read_zip(&zip).expect("reads");
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a.pdf", "b.pdf"]);
        assert_eq!(files["a.pdf"].bytes, a);
        assert_eq!(files["a.pdf"].name, "export/a.pdf");
        let twice = zip_of(&[("x/a.pdf", &a), ("y/a.pdf", &a)]);
        assert!(matches!(
            read_zip(&twice),
            Err(BatchError::DuplicateName { .. })
        ));
        assert!(matches!(
            read_zip(b"PK not a zip"),
            Err(BatchError::Zip { .. })
        ));
    }

    /// A zip bomb: an entry that declares a small size but inflates to
    /// more than [`ZIP_ENTRY_BYTES_MAX`] is refused, and reading stops at
    /// the limit (the declared sizes in the local header and the central
    /// directory are patched after writing).
    #[test]
    fn an_entry_that_inflates_beyond_its_declared_size_is_refused() {
        let big = vec![0u8; ZIP_ENTRY_BYTES_MAX as usize + 4096];
        let mut zip = zip_of(&[("bomb.pdf", &big)]);
        let patch = |zip: &mut Vec<u8>, signature: &[u8], offset: usize| {
            let at = zip.windows(4).position(|w| w == signature).expect("header");
            zip[at + offset..at + offset + 4].copy_from_slice(&100u32.to_le_bytes());
        };
        patch(&mut zip, b"PK\x03\x04", 22);
        patch(&mut zip, b"PK\x01\x02", 24);
        let e = read_zip(&zip).expect_err("bomb");
        assert!(
            matches!(&e, BatchError::ZipEntry { entry, .. } | BatchError::EntryTooLarge { entry, .. } if entry == "bomb.pdf"),
            "{e}"
        );
        // Declared honestly, it is refused before anything is inflated.
        let honest = zip_of(&[("bomb.pdf", &big)]);
        assert_eq!(
            read_zip(&honest).expect_err("too large"),
            BatchError::EntryTooLarge {
                entry: "bomb.pdf".into(),
                max: ZIP_ENTRY_BYTES_MAX
            }
        );
    }

    /// An entry marked encrypted (the flag set by hand: the writer here
    /// has no password support) and a link are refused by name.
    #[test]
    fn encrypted_entries_and_links_are_refused() {
        let mut zip = zip_of(&[("secret.pdf", &pdf("s"))]);
        let flag = |zip: &mut Vec<u8>, signature: &[u8], offset: usize| {
            let at = zip.windows(4).position(|w| w == signature).expect("header");
            zip[at + offset] |= 1;
        };
        flag(&mut zip, b"PK\x03\x04", 6);
        flag(&mut zip, b"PK\x01\x02", 8);
        assert_eq!(
            read_zip(&zip).expect_err("encrypted"),
            BatchError::Encrypted {
                entry: "secret.pdf".into()
            }
        );
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.add_symlink(
            "link.pdf",
            "/etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .expect("link");
        let linked = w.finish().expect("finish").into_inner();
        let e = read_zip(&linked).expect_err("a link");
        assert!(
            matches!(&e, BatchError::ZipEntry { entry, what } if entry == "link.pdf" && what.contains("a link")),
            "{e}"
        );
    }

    #[test]
    fn the_review_names_every_problem_and_keeps_nothing_ready_then() {
        let good = pdf("good");
        let text = format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            csv_row("Anna", "a.pdf"),
            csv_row("Bert", "missing.pdf"),
            csv_row("Carl", "c.pdf"),
            csv_row("Dora", "a.pdf"),
        );
        let zip = zip_of(&[
            ("a.pdf", &good),
            ("c.pdf", b"%PNG not a pdf"),
            ("extra.pdf", &pdf("x")),
        ]);
        let r = review(
            parse_records(text.as_bytes()).expect("rows"),
            read_zip(&zip).expect("zip"),
        );
        assert!(r.rows[0].problems.is_empty(), "{:?}", r.rows[0]);
        assert_eq!(r.rows[0].size, Some(good.len()));
        assert_eq!(
            r.rows[1].problems,
            ["line 3: document: missing.pdf is not in the zip"]
        );
        assert!(
            r.rows[2].problems[0].starts_with("line 4: document: c.pdf: not a PDF"),
            "{:?}",
            r.rows[2]
        );
        assert!(
            r.rows[3].problems[0].contains("already the PDF of line 2"),
            "{:?}",
            r.rows[3]
        );
        assert_eq!(r.unused, ["extra.pdf"]);
        assert!(r.ready.is_empty(), "all or nothing");
        let ok = review(
            parse_records(format!("{HEADER}\n{}\n", csv_row("Anna", "a.pdf")).as_bytes())
                .expect("rows"),
            read_zip(&zip_of(&[("a.pdf", &good)])).expect("zip"),
        );
        assert_eq!(ok.ready.len(), 1);
        assert!(ok.unused.is_empty());
    }
}
