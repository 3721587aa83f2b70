//! Batch registration on the web desk over HTTP (the real daemon): a CSV
//! export (semicolons, byte-order mark, the grade input as JSON in a cell)
//! and a JSON-lines export, each with a zip of real PDFs built here; the
//! review lists every row with its computed grade and writes nothing; the
//! commit registers every row attributed to the operator; the result page
//! and its CSV list codes the ledger knows; the same batch uploaded again
//! returns the same codes and appends nothing; a commit that stops at a
//! row (its PDF registered with another record) says which rows were
//! registered and which not, and a second try registers nothing twice; a
//! commit that takes longer than the page may wait answers with the
//! progress and the rows go on. A
//! batch with bad rows names
//! each problem with its line and commits nothing; a zip bomb, too many rows
//! and a form without the CSRF token are refused. In headless Chromium,
//! axe-core finds no WCAG 2.1 A/AA violation on the batch form, the review
//! (with and without errors) and the result page. Each failing assertion
//! prints the daemon's log.

use crate::desk::{
    add_operator, csrf_of, desk_get, desk_post, desk_post_multipart, log, signed_in, PASSWORD,
};
use crate::desk::{click, desk_screenshot, type_into};
use crate::http::{Reply, Server};
use std::io::Write;

/// The CSV header as the documentation lists the columns (`;`, German Excel).
const HEADER: &str = "institution;kind;language;given_name;family_name;birth_date;birth_place;student_id;email;degree;programme;last_exam_date;document;grades";

/// One CSV row for `given` with the PDF `document` and a grade cell.
fn csv_row(given: &str, document: &str, grades: &str) -> String {
    format!(
        "Universität Erfurt;transcript;de;{given};Mustermann;2000-02-29;Gotha;{given}-1;;Bachelor of Arts;Staatswissenschaften;2026-09-30;{document};{grades}"
    )
}

/// The grade input of `graded_record` as one CSV cell (quoted, `"` doubled).
fn grades_cell() -> String {
    let g = crate::http::graded_record("x")["grades"].to_string();
    format!("\"{}\"", g.replace('"', "\"\""))
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        w.start_file(*name, opts).expect("start");
        w.write_all(bytes).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// Posts the batch form.
fn upload(
    s: &Server,
    cookie: &str,
    csrf: Option<&str>,
    records: (&str, &[u8]),
    zip: &[u8],
) -> Reply {
    let mut parts: Vec<(&str, Option<&str>, &[u8])> = Vec::new();
    if let Some(c) = csrf {
        parts.push(("csrf", None, c.as_bytes()));
    }
    parts.push(("records", Some(records.0), records.1));
    parts.push(("documents", Some("pdfs.zip"), zip));
    desk_post_multipart(s, "/desk/register/batch", cookie, &parts)
}

fn ledger_records(s: &Server) -> serde_json::Value {
    s.admin("GET", "/admin/v1/status", &[], b"").json()["ledger_records"].clone()
}

/// The value of the first `name="NAME" value="..."` or `NAME=...` in a page.
fn value_after<'a>(page: &'a str, marker: &str, end: char) -> &'a str {
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in:\n{page}"))
        + marker.len();
    let rest = &page[at..];
    &rest[..rest.find(end).expect("end")]
}

/// Reviews and commits a batch; returns the result page and its CSV rows
/// (code, key, url, holder, student_id, document).
fn review_and_commit(
    s: &Server,
    cookie: &str,
    csrf: &str,
    records: (&str, &[u8]),
    zip: &[u8],
    expect_in_review: &[&str],
) -> (String, Vec<Vec<String>>) {
    let before = ledger_records(s);
    let review = upload(s, cookie, Some(csrf), records, zip);
    let text = review.text();
    assert_eq!(review.status, 200, "{text}\n{}", log(s));
    for e in expect_in_review {
        assert!(text.contains(e), "{e:?} not in the review:\n{text}");
    }
    assert!(text.contains("Not stored yet"), "{text}");
    assert_eq!(ledger_records(s), before, "the review writes nothing");
    let token = value_after(&text, "name=\"upload\" value=\"", '"').to_string();
    let done = desk_post(
        s,
        "/desk/register/batch/commit",
        Some(cookie),
        &[("csrf", csrf), ("upload", &token)],
    );
    let page = done.text();
    assert_eq!(done.status, 201, "{page}\n{}", log(s));
    let result = value_after(&page, "result.csv?result=", '"').to_string();
    let again = desk_get(
        s,
        &format!("/desk/register/batch/result?result={result}"),
        Some(cookie),
    );
    assert_eq!(again.status, 201, "the result page can be shown again");
    assert_eq!(
        again.text().matches("/desk/print-bundle/").count(),
        page.matches("/desk/print-bundle/").count()
    );
    let csv = desk_get(
        s,
        &format!("/desk/register/batch/result.csv?result={result}"),
        Some(cookie),
    );
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert!(csv.header("content-disposition").starts_with("attachment"));
    assert_eq!(csv.header("cache-control"), "no-store");
    assert!(csv.header("content-type").starts_with("text/csv"));
    let body = csv.body.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM");
    let mut rows = Vec::new();
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(body);
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        ["code", "key", "url", "holder", "student_id", "document"]
    );
    for r in reader.records() {
        rows.push(r.expect("row").iter().map(str::to_string).collect());
    }
    (page, rows)
}

/// The operator of the `Registered` event of `code` (`zeugnis show --json`).
fn registered_by(s: &Server, code: &str) -> String {
    let (c, out, err) = s.cli(&["show", code, "--json"]);
    assert_eq!(c, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).expect("show --json");
    let event = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "Registered")
        .unwrap_or_else(|| panic!("no Registered event: {shown}"))
        .clone();
    event["operator"].as_str().unwrap_or_default().to_string()
}

#[test]
fn desk_batch_registers_a_csv_and_a_json_lines_export_once() {
    let s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    let (cookie, csrf) = signed_in(&s, "erika");
    // The forms link to each other and to the batch form.
    let home = desk_get(&s, "/desk/", Some(&cookie)).text();
    assert!(home.contains("href=\"/desk/register/batch\""), "{home}");
    let single = desk_get(&s, "/desk/register", Some(&cookie)).text();
    assert!(single.contains("href=\"/desk/register/batch\""), "{single}");
    let form = desk_get(&s, "/desk/register/batch", Some(&cookie));
    assert_eq!(form.status, 200);
    assert_eq!(csrf_of(&form.text()), csrf);

    // CSV: a byte-order mark, semicolons, CRLF, the PDFs in a folder.
    let (a, b) = (crate::support::fresh_pdf(), crate::support::fresh_pdf());
    let csv = format!(
        "\u{feff}{HEADER}\r\n{}\r\n{}\r\n",
        csv_row("Greta", "greta.pdf", &grades_cell()),
        csv_row("Hanna", "hanna.pdf", ""),
    );
    let zip = zip_of(&[("export/greta.pdf", &a), ("export/hanna.pdf", &b)]);
    let (page, rows) = review_and_commit(
        &s,
        &cookie,
        &csrf,
        ("export.csv", csv.as_bytes()),
        &zip,
        &[
            "Greta Mustermann",
            "1.76 - good",
            "Hanna Mustermann",
            "no grade input",
            "greta.pdf (",
        ],
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][3], "Greta Mustermann");
    assert_eq!(rows[0][4], "Greta-1");
    assert_eq!(rows[1][5], "hanna.pdf");
    for r in &rows {
        assert!(page.contains(&r[0]) && page.contains(&r[1]), "{page}");
        assert!(r[2].starts_with("http://verify.test/de/"), "{r:?}");
        let plain = r[0].replace('-', "");
        assert!(
            page.contains(&format!("/desk/print-bundle/{plain}")),
            "{page}"
        );
        assert!(
            page.contains(&format!("/desk/cover-sheet/{plain}")),
            "{page}"
        );
        let cert = s
            .admin("GET", &format!("/admin/v1/certificates/{}", r[0]), &[], b"")
            .json();
        assert_eq!(cert["state"], "awaiting_scan", "{cert}");
    }
    let bundle = desk_get(
        &s,
        &format!("/desk/print-bundle/{}", rows[0][0].replace('-', "")),
        Some(&cookie),
    );
    assert!(bundle.status == 200 && bundle.body.starts_with(b"%PDF-"));

    // The same batch again: the same codes and keys, nothing appended.
    let before = ledger_records(&s);
    let (again_page, again) = review_and_commit(
        &s,
        &cookie,
        &csrf,
        ("export.csv", csv.as_bytes()),
        &zip,
        &[
            "Greta Mustermann",
            "this PDF is already registered (certificate",
        ],
    );
    assert_eq!(
        again, rows,
        "re-uploading returns the existing codes and keys"
    );
    assert!(again_page.contains("registered earlier"), "{again_page}");
    assert_eq!(ledger_records(&s), before, "nothing registered twice");

    // JSON lines: the record schema plus "document"; blank lines ignored.
    let c = crate::support::fresh_pdf();
    let mut ida = crate::http::graded_record("Ida");
    ida["document"] = "ida.pdf".into();
    let jsonl = format!("{ida}\n\n");
    let (_, json_rows) = review_and_commit(
        &s,
        &cookie,
        &csrf,
        ("export.jsonl", jsonl.as_bytes()),
        &zip_of(&[("ida.pdf", &c)]),
        &["Ida Mustermann", "1.76 - good"],
    );
    assert_eq!(json_rows.len(), 1);

    // A commit that stops at a row: the second row's PDF is Greta's with
    // another record. The first row is registered, the rest is not, and
    // the page says so; uploading the same batch again is safe.
    let (d, e) = (crate::support::fresh_pdf(), crate::support::fresh_pdf());
    let csv = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        csv_row("Jana", "jana.pdf", ""),
        csv_row("Karl", "greta.pdf", ""),
        csv_row("Lena", "lena.pdf", ""),
    );
    let zip = zip_of(&[("jana.pdf", &d), ("greta.pdf", &a), ("lena.pdf", &e)]);
    for round in ["first", "again"] {
        let before = ledger_records(&s);
        let review = upload(&s, &cookie, Some(&csrf), ("stop.csv", csv.as_bytes()), &zip);
        let text = review.text();
        assert_eq!(review.status, 200, "{round}: {text}");
        assert!(
            text.contains(&format!(
                "line 3: this PDF is already registered (certificate {})",
                rows[0][0]
            )),
            "{round}: {text}"
        );
        let token = value_after(&text, "name=\"upload\" value=\"", '"').to_string();
        let stopped = desk_post(
            &s,
            "/desk/register/batch/commit",
            Some(&cookie),
            &[("csrf", &csrf), ("upload", &token)],
        );
        let page = stopped.text();
        assert_ne!(stopped.status, 201, "{round}: {page}");
        for words in [
            "Line 3 could not be registered",
            "Rows registered (below): 1; not registered: 2.",
            "Uploading the same batch again is safe",
            "Line 3: Karl Mustermann (greta.pdf)",
            "Line 4: Lena Mustermann (lena.pdf)",
            "Jana Mustermann",
        ] {
            assert!(page.contains(words), "{round}: {words:?} not in:\n{page}");
        }
        let appended =
            ledger_records(&s).as_u64().expect("count") - before.as_u64().expect("count");
        match round {
            "first" => assert!(appended > 0, "Jana is registered"),
            _ => {
                assert_eq!(appended, 0, "nothing registered twice");
                assert!(page.contains("registered earlier"), "{page}");
            }
        }
    }

    let log = log(&s);
    for code in rows.iter().chain(&json_rows).map(|r| r[0].clone()) {
        assert_eq!(registered_by(&s, &code), id, "attributed\n{log}");
    }
    assert!(!log.contains("Greta"), "holder data in the log: {log}");
}

#[test]
fn desk_batch_with_bad_rows_names_each_and_commits_nothing() {
    let s = Server::start("");
    add_operator(&s, "erika", PASSWORD);
    let (cookie, csrf) = signed_in(&s, "erika");
    let before = ledger_records(&s);
    let good = crate::support::fresh_pdf();
    let csv = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n{}\n",
        csv_row("Anna", "anna.pdf", ""),
        csv_row("Bert", "bert.pdf", "").replace(";Gotha;", ";;"),
        csv_row(
            "Carl",
            "carl.pdf",
            "\"{\"\"ruleset\"\": \"\"no-such-rules\"\"}\""
        ),
        csv_row("Dora", "dora.pdf", ""),
        csv_row("Emil", "emil.pdf", ""),
    );
    let zip = zip_of(&[
        ("anna.pdf", &good),
        ("bert.pdf", &crate::support::fresh_pdf()),
        ("carl.pdf", &crate::support::fresh_pdf()),
        ("emil.pdf", b"\x89PNG\r\n\x1a\n not a pdf"),
        ("extra.pdf", &crate::support::fresh_pdf()),
    ]);
    let records = ("export.csv", csv.as_bytes());

    // Without the CSRF token, or with a wrong one: refused.
    assert_eq!(upload(&s, &cookie, None, records, &zip).status, 403);
    assert_eq!(
        upload(&s, &cookie, Some(&"0".repeat(64)), records, &zip).status,
        403
    );

    let review = upload(&s, &cookie, Some(&csrf), records, &zip);
    let text = review.text();
    assert_eq!(review.status, 422, "{text}\n{}", log(&s));
    for problem in [
        "4 of 5 rows have errors",
        "line 3: holder.birth_place: must not be empty",
        "line 4: grades: ",
        "line 5: document: dora.pdf is not in the zip",
        "line 6: document: emil.pdf: not a PDF",
        "zip: extra.pdf is named by no row",
    ] {
        assert!(text.contains(problem), "{problem:?} not in:\n{text}");
    }
    assert!(
        !text.contains("name=\"upload\""),
        "no commit is offered: {text}"
    );
    assert_eq!(ledger_records(&s), before, "nothing written");

    // A zip bomb: one entry inflating beyond the per-file limit.
    let bomb = zip_of(&[(
        "anna.pdf",
        &vec![0u8; zeugnis::http::desk::batch::ZIP_ENTRY_BYTES_MAX as usize + 1],
    )]);
    assert!(bomb.len() < 1024 * 1024, "it compresses: {}", bomb.len());
    let one = format!("{HEADER}\n{}\n", csv_row("Anna", "anna.pdf", ""));
    let refused = upload(&s, &cookie, Some(&csrf), ("one.csv", one.as_bytes()), &bomb);
    assert_eq!(refused.status, 413, "{}", refused.text());
    assert!(
        refused
            .text()
            .contains("zip: anna.pdf: larger than 33554432 bytes uncompressed"),
        "{}",
        refused.text()
    );

    // Too many rows.
    let max = zeugnis::http::desk::batch::BATCH_ROWS_MAX;
    let mut many = format!("{HEADER}\n");
    for i in 0..=max {
        many.push_str(&csv_row(&format!("P{i}"), &format!("{i}.pdf"), ""));
        many.push('\n');
    }
    let refused = upload(
        &s,
        &cookie,
        Some(&csrf),
        ("many.csv", many.as_bytes()),
        &zip,
    );
    assert_eq!(refused.status, 413, "{}", refused.text());
    assert!(
        refused.text().contains(&format!("more than {max} rows")),
        "{}",
        refused.text()
    );

    // A result that is not this operator's (or expired) is not served.
    let none = desk_get(
        &s,
        "/desk/register/batch/result.csv?result=00112233445566778899aabbccddeeff",
        Some(&cookie),
    );
    assert_eq!(none.status, 404);
    assert_eq!(ledger_records(&s), before, "nothing written at all");
}

/// The batch pages in headless Chromium (the desk walk's WebDriver setup):
/// sign in, the batch form, a review with errors, a review without, the
/// result page; axe-core's WCAG 2.1 A/AA rules find nothing on each, and a
/// screenshot of each goes to `target/desk-screenshots/`.
#[test]
fn desk_batch_pages_pass_axe_in_the_browser() {
    let s = Server::start("");
    add_operator(&s, "erika", PASSWORD);
    let axe = crate::http::axe_source();
    let wd = crate::http::WebDriver::start();
    wd.resize(1280, 900);
    let base = format!("http://{}", s.admin);
    let audit = |name: &str| {
        let violations = wd.axe(&axe);
        assert!(violations.is_empty(), "{name}: {violations:#?}");
        desk_screenshot(&wd, &format!("{name}.png"));
    };
    let files = tempfile::tempdir().expect("tempdir");
    let csv_file = files.path().join("export.csv");
    let csv = format!(
        "{HEADER}\n{}\n{}\n",
        csv_row("Greta", "greta.pdf", &grades_cell()),
        csv_row("Hanna", "hanna.pdf", ""),
    );
    std::fs::write(&csv_file, csv).expect("csv");
    let bad_zip = files.path().join("bad.zip");
    std::fs::write(
        &bad_zip,
        zip_of(&[("greta.pdf", &crate::support::fresh_pdf())]),
    )
    .expect("zip");
    let good_zip = files.path().join("good.zip");
    let (a, b) = (crate::support::fresh_pdf(), crate::support::fresh_pdf());
    std::fs::write(&good_zip, zip_of(&[("greta.pdf", &a), ("hanna.pdf", &b)])).expect("zip");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_string();
    let steps = || {
        wd.goto(&format!("{base}/desk/signin?lang=en"));
        wd.wait_for_source("Sign in");
        type_into(&wd, "#name", "erika");
        type_into(&wd, "#password", PASSWORD);
        click(&wd, "main button[type=submit]");
        wd.wait_for_source("Signed in as");
        for (zip, heading, name) in [
            (&bad_zip, "is not in the zip", "b2-batch-review-errors-en"),
            (&good_zip, "Register all (2)", "b3-batch-review-en"),
        ] {
            wd.goto(&format!("{base}/desk/register/batch"));
            wd.wait_for_source("Records (CSV or JSON lines)");
            audit("b1-batch-form-en");
            type_into(&wd, "#records", &path(&csv_file));
            type_into(&wd, "#documents", &path(zip));
            click(&wd, "main button[type=submit]");
            wd.wait_for_source(heading);
            audit(name);
        }
        click(
            &wd,
            "main form[action='/desk/register/batch/commit'] button[type=submit]",
        );
        wd.wait_for_source("Batch registered");
        audit("b4-batch-result-en");
    };
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(steps)) {
        eprintln!("daemon log:\n{}", log(&s));
        std::panic::resume_unwind(panic);
    }
}

/// A batch whose rows take longer than the page may wait (60 % of
/// `[http] request_timeout_ms`, here 1.5 s, so 0.9 s) answers 202 with the
/// progress and a link at once; the rows go on after the answer, and the
/// link shows the finished result with every row registered once.
#[test]
fn desk_batch_commit_answers_with_the_progress_and_goes_on() {
    let s = Server::start("request_timeout_ms = 1500");
    add_operator(&s, "erika", PASSWORD);
    let (cookie, csrf) = signed_in(&s, "erika");
    // The most rows a batch may have: at about 17 ms each
    // (benches/desk_batch.rs; each row is a durable registration) some 8 s
    // here, and well beyond the 0.9 s the page waits even on a disk whose
    // fsync is ten times faster.
    let rows = 500;
    let pdfs: Vec<(String, Vec<u8>)> = (0..rows)
        .map(|i| {
            (
                format!("p{i}.pdf"),
                crate::support::pdf(&format!("row {i}")),
            )
        })
        .collect();
    let mut csv = format!("{HEADER}\n");
    for (i, (name, _)) in pdfs.iter().enumerate() {
        csv.push_str(&csv_row(&format!("P{i}"), name, ""));
        csv.push('\n');
    }
    let files: Vec<(&str, &[u8])> = pdfs
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let zip = zip_of(&files);
    let before = ledger_records(&s);
    let review = upload(&s, &cookie, Some(&csrf), ("rows.csv", csv.as_bytes()), &zip);
    assert_eq!(review.status, 200, "{}\n{}", review.text(), log(&s));
    let token = value_after(&review.text(), "name=\"upload\" value=\"", '"').to_string();
    let answer = desk_post(
        &s,
        "/desk/register/batch/commit",
        Some(&cookie),
        &[("csrf", &csrf), ("upload", &token)],
    );
    let page = answer.text();
    assert_eq!(answer.status, 202, "{page}\n{}", log(&s));
    assert!(
        page.contains("Registering:") && page.contains(&format!("of {rows} rows")),
        "{page}"
    );
    let result = value_after(&page, "/desk/register/batch/result?result=", '"').to_string();
    let t0 = std::time::Instant::now();
    let done = loop {
        let r = desk_get(
            &s,
            &format!("/desk/register/batch/result?result={result}"),
            Some(&cookie),
        );
        if r.status != 202 {
            break r;
        }
        assert!(
            t0.elapsed() < crate::support::PATIENCE,
            "the batch never finished\n{}",
            log(&s)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(done.status, 201, "{}\n{}", done.text(), log(&s));
    assert_eq!(
        done.text().matches("/desk/print-bundle/").count(),
        rows,
        "every row registered"
    );
    let after = ledger_records(&s);
    assert!(
        after.as_u64().expect("count") >= before.as_u64().expect("count") + rows as u64,
        "{before} -> {after}"
    );
}
