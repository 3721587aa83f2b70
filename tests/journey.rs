//! The certificate's journey (issue 16, docs/workflow.md): codes reserved
//! before the documents exist, and no mix-ups when registering (a document
//! must be a PDF, PDF/A is asked for, the same bytes belong to one valid
//! certificate).

use crate::support::{pdf, zeugnis};
use serde_json::Value;
use std::path::{Path, PathBuf};
use zeugnis::ledger::record::{Body, Record};
use zeugnis::ledger::{Ledger, LedgerOptions};
use zeugnis::registry::{DocumentFile, RegisterOptions, RegistrationRecord, Registry};

fn record_json() -> Value {
    serde_json::json!({
        "institution": "Georg-August-Universität Göttingen",
        "kind": "transcript",
        "language": "de",
        "holder": {"given_name": "Erika", "family_name": "Musterfrau",
                   "birth_date": "2001-04-01", "birth_place": "Kassel", "student_id": "21001234"},
        "programme": {"degree": "Bachelor of Science", "name": "Informatik"},
        "last_exam_date": "2026-09-30"
    })
}

/// A data directory with a ledger, a record file and a configuration.
struct Env {
    _t: tempfile::TempDir,
    dir: PathBuf,
}

impl Env {
    fn new() -> Env {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().to_path_buf();
        std::fs::write(
            dir.join("zeugnis.toml"),
            "base_url = \"https://verify.test\"\n",
        )
        .expect("config");
        let e = Env { _t: t, dir };
        e.ok(&["init", "--origin", "journey.test/zeugnis/1"]);
        std::fs::write(
            e.dir.join("r.json"),
            serde_json::to_vec(&record_json()).expect("json"),
        )
        .expect("record");
        e
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        zeugnis(&self.dir, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (c, out, err) = self.run(args);
        assert_eq!(c, 0, "zeugnis {args:?}: {out}{err}");
        out
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.dir.join(name), bytes).expect("write");
        name.to_string()
    }

    /// `register --record r.json --document DOC [extra...] --json`.
    fn register(&self, doc: &str, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec![
            "register",
            "--record",
            "r.json",
            "--document",
            doc,
            "--json",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn show(&self, code: &str) -> Value {
        serde_json::from_str(&self.ok(&["show", code, "--json"])).expect("show --json")
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status --json")
    }
}

fn lines_json(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn reserved_codes_are_registered_with_their_reserved_key_and_never_handed_out_twice() {
    let e = Env::new();
    let reserved = lines_json(&e.ok(&["reserve", "--count", "3", "--json"]));
    assert_eq!(reserved.len(), 3);
    let codes: std::collections::BTreeSet<&str> = reserved
        .iter()
        .map(|v| v["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes.len(), 3, "three different codes");
    for v in &reserved {
        let (code, key) = (
            v["code"].as_str().expect("code"),
            v["key"].as_str().expect("key"),
        );
        assert_eq!(
            v["url"].as_str(),
            Some(format!("https://verify.test/de/{}-{key}", code.replace('-', "")).as_str())
        );
    }
    assert_eq!(e.status()["reservations_open"], 3);

    // The PDF the exam office makes contains the code and the URL.
    let first = &reserved[0];
    let code = first["code"].as_str().expect("code");
    let doc = e.write(
        "zeugnis.pdf",
        &zeugnis::document::text_pdf(
            &[vec![
                "Zeugnis".into(),
                format!("Code: {code}"),
                format!("Prüfen: {}", first["url"].as_str().expect("url")),
            ]],
            Some("2B"),
        ),
    );
    let (c, out, err) = e.register(&doc, &["--code", code]);
    assert_eq!(c, 0, "{err}");
    assert!(
        !err.contains("warning"),
        "a PDF/A document gives no warning: {err}"
    );
    let issued: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(issued["code"], first["code"]);
    assert_eq!(issued["key"], first["key"], "the reserved key is used");
    assert_eq!(issued["url"], first["url"], "the printed link works");
    let shown = e.ok(&[
        "show",
        code,
        "--key",
        first["key"].as_str().expect("key"),
        "--json",
    ]);
    assert!(
        shown.contains("Musterfrau"),
        "the key opens the holder data: {shown}"
    );
    assert_eq!(
        e.status()["reservations_open"],
        2,
        "a used reservation is not open"
    );

    // A used code is refused; so is a well-formed code that was never reserved.
    let other = e.write("other.pdf", &pdf("another certificate"));
    let (c, _, err) = e.register(&other, &["--code", code]);
    assert_eq!(c, 2);
    assert!(err.contains("already used"), "{err}");
    let (c, _, err) = e.register(&other, &["--code", "ABCD-EFGH-JKMN"]);
    assert_eq!(c, 2, "{err}");
    assert!(
        err.contains("ABCD-EFGH-JKMN: not a reserved code") && err.contains("--import"),
        "{err}"
    );
    // A retry of the same registration (uncertain outcome) returns it again.
    let (c, out, err) = e.register(&doc, &["--code", code]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json")["key"],
        first["key"]
    );

    // Migration: a code printed by an earlier system, recorded as imported.
    let (c, out, err) = e.register(&other, &["--code", "ABCD-EFGH-JKMN", "--import"]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json")["code"],
        "ABCD-EFGH-JKMN"
    );
    let shown = e.show("ABCDEFGHJKMN");
    assert_eq!(shown["imported"], true, "{shown}");
    // --import is not a way round a reservation.
    let third = e.write("third.pdf", &pdf("third"));
    let (c, _, err) = e.register(
        &third,
        &[
            "--code",
            reserved[1]["code"].as_str().expect("code"),
            "--import",
        ],
    );
    assert_eq!(c, 2);
    assert!(err.contains("was reserved here"), "{err}");

    // New random codes never collide with reservations; the ledger audits.
    let (c, out, err) = e.register(&third, &[]);
    assert_eq!(c, 0, "{err}");
    let fresh: Value = serde_json::from_str(&out).expect("json");
    assert!(!codes.contains(fresh["code"].as_str().expect("code")));
    e.ok(&["audit"]);
}

/// Decodes a grayscale PNG and reads its QR code.
fn qr_of_png(path: &Path) -> Vec<String> {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("open png"));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    zeugnis::scans::decode::decode_qr_from_luma(info.width, info.height, &buf[..info.buffer_size()])
        .expect("decode")
}

#[test]
fn reserve_writes_qr_codes_of_the_urls() {
    let e = Env::new();
    let out = e.ok(&["reserve", "--count", "2", "--qr", "png", "-o", "qr"]);
    let urls: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("url:  "))
        .collect();
    let codes: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("code: "))
        .map(|c| c.replace('-', ""))
        .collect();
    assert_eq!((urls.len(), codes.len()), (2, 2), "{out}");
    for (code, url) in codes.iter().zip(&urls) {
        let found = qr_of_png(&e.dir.join("qr").join(format!("{code}.png")));
        assert_eq!(found, vec![url.to_string()]);
    }
    let out = e.ok(&[
        "reserve",
        "--qr",
        "svg",
        "-o",
        "svg",
        "--language",
        "en",
        "--json",
    ]);
    let v = &lines_json(&out)[0];
    assert!(v["url"].as_str().expect("url").contains("/en/"), "{v}");
    let svg = std::fs::read_to_string(e.dir.join("svg").join(format!(
        "{}.svg",
        v["code"].as_str().expect("code").replace('-', "")
    )))
    .expect("svg file");
    assert!(svg.starts_with("<?xml") && svg.contains("<path"), "{svg}");
    // Bad counts are refused before anything is recorded.
    let (c, _, err) = e.run(&["reserve", "--count", "0"]);
    assert_eq!(c, 2);
    assert!(
        err.contains("--count: 0 is not between 1 and 1000"),
        "{err}"
    );
    assert_eq!(e.status()["reservations_open"], 3);
}

/// An expired reservation is refused and listed in the status report. The
/// `Reserved` record is appended directly with an expiry in the past (the
/// expiry is part of the record, so no clock needs to be faked).
#[test]
fn an_expired_reservation_is_refused_and_reported() {
    let e = Env::new();
    let data = e.dir.join("ledger");
    let reserved = lines_json(&e.ok(&["reserve", "--json"]));
    let code = reserved[0]["code"].as_str().expect("code").to_string();
    // Copy the record of the real reservation, with an expiry in the past,
    // under another code: registering it must fail on the expiry before it
    // looks at the key.
    let mut l = Ledger::open(&data, LedgerOptions::default()).expect("open");
    let last = l.size() - 1;
    let rec = Record::decode(&l.read_record(last).expect("read")).expect("decode");
    let Body::Reserved { key_commitment, .. } = rec.body else {
        panic!("the last record is the reservation: {:?}", rec.body);
    };
    let stale = "QNVCFM3P4VDF";
    l.append_batch(vec![Body::Reserved {
        code: stale.into(),
        key_commitment,
        expires_s: 1_700_000_000,
    }])
    .expect("append");
    l.flush_index().expect("flush");
    drop(l);
    let doc = e.write("z.pdf", &pdf("stale"));
    let (c, _, err) = e.register(&doc, &["--code", stale]);
    assert_eq!(c, 2, "{err}");
    assert!(
        err.contains("QNVC-FM3P-4VDF: the reservation expired on 2023-11-14"),
        "{err}"
    );
    let status = e.status();
    assert_eq!(status["reservations_open"], 1, "{status}");
    assert_eq!(
        status["reservations_expired"],
        serde_json::json!([{"code": "QNVCFM3P4VDF", "expired": "2023-11-14"}])
    );
    let text = e.ok(&["status"]);
    assert!(text.contains("1 open, 1 expired unused"), "{text}");
    // The real reservation still registers.
    let mut r = Registry::open(&data, "https://verify.test").expect("open");
    let rec =
        RegistrationRecord::parse("r.json", record_json().to_string().as_bytes()).expect("record");
    let issued = r
        .register_with(
            &rec,
            &[DocumentFile {
                name: "fresh.pdf".into(),
                bytes: pdf("fresh"),
            }],
            &RegisterOptions {
                code: Some(&code),
                ..RegisterOptions::default()
            },
        )
        .expect("register the live reservation");
    assert_eq!(issued.key, reserved[0]["key"].as_str().expect("key"));
}

#[test]
fn documents_must_be_pdfs_and_belong_to_one_valid_certificate() {
    let e = Env::new();
    // Not PDFs: refused, naming the file.
    let png = e.write(
        "photo.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\0\0\0\0",
    );
    let (c, _, err) = e.register(&png, &[]);
    assert_eq!(c, 2);
    assert!(err.contains("photo.png: not a PDF"), "{err}");
    let bare = e.write(
        "bare.pdf",
        b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
    );
    let (c, _, err) = e.register(&bare, &[]);
    assert_eq!(c, 2);
    assert!(err.contains("bare.pdf: "), "{err}");
    assert_eq!(
        e.status()["states"]["awaiting_scan"],
        0,
        "nothing registered"
    );

    // A PDF without a PDF/A declaration: accepted, with a warning here and
    // in the status report.
    let plain = e.write("plain.pdf", &pdf("no PDF/A"));
    let (c, out, err) = e.register(&plain, &[]);
    assert_eq!(c, 0, "{err}");
    assert!(
        err.contains("warning: plain.pdf: the PDF does not declare PDF/A"),
        "{err}"
    );
    let first: Value = serde_json::from_str(&out).expect("stdout stays {code, key, url}");
    let first_code = first["code"].as_str().expect("code").replace('-', "");
    assert_eq!(
        e.status()["documents_without_pdfa"],
        serde_json::json!([first_code])
    );

    // The same bytes for a second certificate: refused, naming the first.
    let (c, _, err) = e.register(&plain, &[]);
    assert_eq!(c, 2);
    assert!(
        err.contains(&format!(
            "plain.pdf: the same PDF bytes are already registered for certificate {}",
            first["code"].as_str().expect("code")
        )) && err.contains("--allow-duplicate"),
        "{err}"
    );
    // On purpose: accepted and recorded.
    let (c, out, err) = e.register(&plain, &["--allow-duplicate"]);
    assert_eq!(c, 0, "{err}");
    let second: Value = serde_json::from_str(&out).expect("json");
    let shown = e.show(second["code"].as_str().expect("code"));
    assert_eq!(
        shown["duplicate_of"],
        serde_json::json!([first_code]),
        "{shown}"
    );

    // Once the other certificates are void, the document is free again.
    for code in [
        &first_code,
        &second["code"].as_str().expect("code").replace('-', ""),
    ] {
        e.ok(&["void", code, "--reason", "wrong document"]);
    }
    let (c, _, err) = e.register(&plain, &[]);
    assert_eq!(c, 0, "{err}");
    e.ok(&["audit"]);
}

#[test]
fn the_print_bundle_is_the_print_version_then_its_cover_sheet_with_the_holder() {
    let e = Env::new();
    let doc = e.write(
        "zeugnis.pdf",
        &zeugnis::document::text_pdf(
            &[
                vec!["Zeugnis, Seite 1".into()],
                vec!["Zeugnis, Seite 2".into()],
            ],
            Some("2B"),
        ),
    );
    let (c, out, err) = e.register(&doc, &["--print-bundle", "bundle.pdf"]);
    assert_eq!(c, 0, "{err}");
    let issued: Value = serde_json::from_str(&out).expect("json");
    let code = issued["code"].as_str().expect("code").replace('-', "");
    let bundle = std::fs::read(e.dir.join("bundle.pdf")).expect("bundle written");
    let pdf = lopdf::Document::load_mem(&bundle).expect("the bundle is a PDF");
    let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
    assert_eq!(
        pages.len(),
        3,
        "two pages of the print version, one cover sheet"
    );
    let text = |n: u32| pdf.extract_text(&[n]).expect("text");
    assert!(text(1).contains("Seite 1") && text(2).contains("Seite 2"));
    let sheet = text(3);
    for wanted in [
        "Erika Musterfrau",
        "2001-04-01",
        "21001234",
        "Zeugnis / Transcript",
        "Bachelor of Science, Informatik",
    ] {
        assert!(
            sheet.contains(wanted),
            "{wanted:?} missing from the sheet: {sheet}"
        );
    }
    // The sheet's QR code is the authenticated one the intake accepts.
    let found = zeugnis::scans::decode::decode_qr_from_pdf(&bundle).expect("decode");
    assert!(
        found.iter().any(|t| t.starts_with(&format!("{code}:"))),
        "{found:?}"
    );
    // The same bundle again, by code.
    e.ok(&["print-bundle", &code, "-o", "again.pdf"]);
    assert_eq!(
        std::fs::read(e.dir.join("again.pdf")).expect("again"),
        bundle
    );
}
