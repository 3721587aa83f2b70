//! The certificate lifecycle end to end through the CLI contract: register,
//! show, revoke, supersede, void, erase, cover sheet; every validation error
//! and refused transition; orphan blobs after an interrupted registration.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A PDF as far as the sniffer is concerned.
/// The digital image registered (a small real PDF).
static PDF: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| crate::support::pdf("digital image"));

struct Env {
    _t: tempfile::TempDir,
    dir: PathBuf,
    /// Registrations made with [`Env::register`].
    registered: std::cell::Cell<u32>,
}

impl Env {
    fn new() -> Env {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().to_path_buf();
        let e = Env {
            _t: t,
            dir,
            registered: std::cell::Cell::new(0),
        };
        assert_eq!(e.run(&["init", "--origin", "test.example/zeugnis/1"]).0, 0);
        e.write("doc.pdf", &PDF);
        e.write("doc-en.pdf", &crate::support::pdf("English version"));
        e.write_json("r.json", &record());
        e
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, bytes).expect("write fixture");
        p
    }

    fn write_json(&self, name: &str, v: &Value) -> PathBuf {
        self.write(
            name,
            serde_json::to_string_pretty(v).expect("json").as_bytes(),
        )
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        crate::support::zeugnis(&self.dir, args)
    }

    /// Registers `record` with its own digital image: `doc.pdf` for the
    /// first registration of the test (retries name it), a fresh PDF for
    /// every later one (the same bytes are refused for a second valid
    /// certificate).
    fn register(&self, record: &str) -> Value {
        let n = self.registered.get();
        self.registered.set(n + 1);
        let doc = if n == 0 {
            "doc.pdf".to_string()
        } else {
            let name = format!("doc-{n}.pdf");
            self.write(&name, &crate::support::fresh_pdf());
            name
        };
        let (code, out, err) =
            self.run(&["register", "--record", record, "--document", &doc, "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).expect("register --json")
    }

    fn show(&self, code: &str) -> Value {
        let (c, out, err) = self.run(&["show", code, "--json"]);
        assert_eq!(c, 0, "{err}");
        serde_json::from_str(&out).expect("show --json")
    }

    fn ledger_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut v = Vec::new();
        for sub in ["ledger/segments", "ledger/blobs"] {
            collect(&self.dir.join(sub), &mut v);
        }
        v.sort();
        v
    }
}

fn collect(p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd {
            let p = e.expect("entry").path();
            if p.is_dir() {
                collect(&p, out);
            } else {
                out.push((p.clone(), std::fs::read(&p).expect("read")));
            }
        }
    }
}

fn record() -> Value {
    json!({
        "institution": "Universität Erfurt",
        "kind": "transcript",
        "language": "de",
        "holder": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "2000-02-29",
                   "birth_place": "Gotha", "student_id": "4711"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
        "last_exam_date": "2026-09-30",
        "grades": {"ruleset": "erfurt-ba-2019", "parts": [{"id": "all", "required_lp": "30", "modules": [
            {"id": "M1", "lp": "10", "grade": "1.3", "mandatory": true},
            {"id": "M2", "lp": "10", "grade": "2.0", "mandatory": true},
            {"id": "M3", "lp": "5", "grade": "1.7", "mandatory": true},
            {"id": "M4", "lp": "5", "grade": "3.0", "mandatory": false},
            {"id": "M5", "lp": "5", "grade": "2.3", "mandatory": false}]}]}
    })
}

/// Issue 20: `show` prints the grade record as a table (final grade with
/// its predicate, credit points, the parts), not a JSON line; with the
/// access key also one row per module with grade, credit points and
/// whether it counted. `show --json` keeps the stored record.
#[test]
fn show_prints_the_grade_record_as_a_table() {
    let e = Env::new();
    let issued = e.register("r.json");
    let code = issued["code"].as_str().expect("code");
    let key = issued["key"].as_str().expect("key");
    let (c, out, err) = e.run(&["show", code]);
    assert_eq!(c, 0, "{err}");
    let grade: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "grade record")
        .take_while(|l| l.starts_with("grade record") || l.starts_with("  "))
        .collect();
    assert_eq!(grade.len(), 7, "{out}");
    assert!(
        grade[1].starts_with("  rule set       erfurt-ba-2019 (blake3:"),
        "{out}"
    );
    assert_eq!(
        grade[2], "  final grade    1,76 - gut / 1.76 - good",
        "{out}"
    );
    assert_eq!(grade[3], "  credit points  30", "{out}");
    assert_eq!(
        grade[4], "  part  grade  LP counted  modules counted",
        "{out}"
    );
    assert_eq!(
        grade[5], "  all   1,76   30          M1, M2, M3, M5",
        "{out}"
    );
    assert!(grade[6].contains("give --key KEY"), "{out}");
    assert!(!out.contains("{\""), "no raw JSON: {out}");

    let (c, out, err) = e.run(&["show", code, "--key", key]);
    assert_eq!(c, 0, "{err}");
    let modules: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("  module (part)"))
        .take(6)
        .collect();
    assert_eq!(
        modules,
        [
            "  module (part)  grade  LP  counted",
            "  M1 (all)       1.3    10  yes",
            "  M2 (all)       2.0    10  yes",
            "  M3 (all)       1.7    5   yes",
            "  M4 (all)       3.0    5   no",
            "  M5 (all)       2.3    5   yes",
        ],
        "{out}"
    );
    assert!(
        out.contains("holder       Erika Mustermann, born 2000-02-29 in Gotha, student ID 4711\n")
            && out.contains(
                "programme    Bachelor of Arts, Staatswissenschaften (last exam 2026-09-30)\n"
            ),
        "the holder data as lines, not JSON: {out}"
    );
    let s = e.show(code);
    assert_eq!(s["grade"]["result"]["final"]["display_de"], "1,76");
}

#[test]
fn register_show_and_holder_data_only_with_the_key() {
    let e = Env::new();
    let issued = e.register("r.json");
    let code = issued["code"].as_str().expect("code");
    let key = issued["key"].as_str().expect("key");
    assert_eq!(code.len(), 14, "QNVC-FM3P-4VDF: {code}");
    assert_eq!(key.len(), 6, "{key}");
    let compact = code.replace('-', "");
    assert_eq!(
        issued["url"].as_str().expect("url"),
        format!("http://127.0.0.1:8080/de/{compact}-{key}")
    );
    let s = e.show(code);
    assert_eq!(s["code"], compact.as_str());
    assert_eq!(s["state"], "awaiting_scan");
    assert_eq!(s["erased"], false);
    assert_eq!(s["documents"][0]["language"], "de");
    assert_eq!(s["grade"]["ruleset"], "erfurt-ba-2019");
    assert_eq!(s["grade"]["result"]["final"]["value"], "1.76");
    assert_eq!(
        s["seqs"],
        json!([2]),
        "RulesetAdded (seq 1) belongs to no certificate; Registered is seq 2"
    );
    assert!(s.get("holder").is_none(), "no holder data without the key");
    assert!(!serde_json::to_string(&s)
        .expect("json")
        .contains("Mustermann"));

    // Lenient code spelling, and the key shows the holder data.
    let lower = compact.to_lowercase();
    let (c, out, err) = e.run(&["show", &lower, "--key", key, "--json"]);
    assert_eq!(c, 0, "{err}");
    let s: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(s["holder"]["holder"]["family_name"], "Mustermann");

    // Wrong key (valid check character for another key) vs typo (bad check character).
    let mut typo: Vec<char> = key.chars().collect();
    typo[5] = if typo[5] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    let (c, _, err) = e.run(&["show", code, "--key", &typo]);
    assert_eq!(c, 2);
    assert!(
        err.contains("probably mistyped"),
        "a bad check character is reported as a typo: {err}"
    );
    let other = e.register("r.json");
    let (c, _, err) = e.run(&["show", code, "--key", other["key"].as_str().expect("key")]);
    assert_eq!(c, 2);
    assert!(
        err.contains("probably mistyped") || err.contains("does not match"),
        "a key of another certificate is refused: {err}"
    );

    // The ledger holds no personal data.
    for (path, bytes) in e
        .ledger_files()
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("segments"))
    {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("Mustermann") && !text.contains("4711") && !text.contains("2000-02-29"),
            "{}",
            path.display()
        );
    }
    let (c, out, _) = e.run(&["audit"]);
    assert_eq!(c, 0);
    assert!(out.contains("blobs:       0 finding(s)"), "{out}");
}

#[test]
fn every_validation_error_names_the_field_and_writes_nothing() {
    let e = Env::new();
    let before = e.ledger_files();
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let with = |path: &[&str], v: Value| {
        let mut r = record();
        let mut at = &mut r;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = v;
        r
    };
    cases.push((with(&["kind"], json!("zeugnis")), "kind"));
    cases.push((with(&["language"], json!("fr")), "language"));
    cases.push((
        with(&["institution"], json!("  ")),
        "institution: must not be empty",
    ));
    cases.push((
        with(&["holder", "birth_date"], json!("2001-02-29")),
        "holder.birth_date",
    ));
    cases.push((
        with(&["holder", "birth_date"], json!("29.02.2000")),
        "holder.birth_date",
    ));
    cases.push((
        with(&["holder", "given_name"], json!("x".repeat(400))),
        "holder.given_name",
    ));
    cases.push((
        with(&["last_exam_date"], json!("1999-01-01")),
        "last_exam_date",
    ));
    cases.push((
        with(&["programme", "name"], json!("a\u{7}b")),
        "programme.name",
    ));
    cases.push((
        with(&["holder", "nickname"], json!("Eri")),
        "unknown field `nickname`",
    ));
    cases.push((
        with(&["grades", "ruleset"], json!("erfurt-ba-1999")),
        "erfurt-ba-1999",
    ));
    let mut missing = record();
    missing.as_object_mut().expect("object").remove("programme");
    cases.push((missing, "missing field `programme`"));
    for (i, (rec, want)) in cases.iter().enumerate() {
        let name = format!("bad{i}.json");
        e.write_json(&name, rec);
        let (c, _, err) = e.run(&["register", "--record", &name, "--document", "doc.pdf"]);
        assert_eq!(c, 2, "case {i} ({want}): {err}");
        assert!(err.contains(want), "case {i}: want {want:?} in {err:?}");
        assert!(
            err.contains(&name) || want.contains("erfurt"),
            "case {i}: names the file: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    // Documents: not a PDF/image, empty, missing.
    e.write("notes.txt", b"hello");
    e.write("empty.pdf", b"");
    for (doc, want) in [
        ("notes.txt", "notes.txt is not a PDF, PNG, JPEG or TIFF"),
        ("empty.pdf", "empty.pdf is empty"),
        ("nowhere.pdf", "--document nowhere.pdf"),
    ] {
        let (c, _, err) = e.run(&["register", "--record", "r.json", "--document", doc]);
        assert_eq!(c, 2, "{doc}: {err}");
        assert!(err.contains(want), "{doc}: {err}");
    }
    let (c, _, err) = e.run(&[
        "register",
        "--record",
        "r.json",
        "--document",
        "doc.pdf",
        "--document",
        "doc.pdf",
        "--document",
        "doc.pdf",
    ]);
    assert_eq!(c, 2);
    assert!(err.contains("at most 2 language versions"), "{err}");
    assert_eq!(e.ledger_files(), before, "nothing written on any error");
}

#[test]
fn transitions_and_refusals() {
    let e = Env::new();
    let a = e.register("r.json");
    let a_code = a["code"].as_str().expect("code");
    // Revoke with reason and date.
    // An unknown category is refused before anything is written.
    let (c, _, err) = e.run(&["revoke", a_code, "--reason", "x", "--category", "fraud"]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("\"fraud\" is not a category"), "{err}");
    assert_eq!(e.show(a_code)["state"], "awaiting_scan");
    let (c, out, err) = e.run(&[
        "revoke",
        a_code,
        "--reason",
        "Täuschung",
        "--category",
        "withdrawn",
        "--effective",
        "2027-01-31",
    ]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("effective 2027-01-31"), "{out}");
    let s = e.show(a_code);
    assert_eq!(s["state"], "revoked");
    assert_eq!(s["revoked"]["reason"], "Täuschung");
    assert_eq!(s["revoked"]["category"], "withdrawn");
    assert_eq!(s["revoked"]["effective_date"], "2027-01-31");
    // Revoked: cannot be revoked, superseded or voided again.
    for args in [
        vec!["revoke", a_code, "--reason", "again"],
        vec![
            "supersede",
            a_code,
            "--record",
            "r.json",
            "--document",
            "doc.pdf",
        ],
        vec!["void", a_code, "--reason", "x"],
    ] {
        let (c, _, err) = e.run(&args);
        assert_eq!(c, 2, "{args:?}: {err}");
        assert!(
            err.contains("it is revoked (Täuschung, effective 2027-01-31)"),
            "{err}"
        );
    }

    // Supersede: old -> new, linked both ways; twice is refused.
    let b = e.register("r.json");
    let b_code = b["code"].as_str().expect("code");
    let (c, out, err) = e.run(&[
        "supersede",
        b_code,
        "--record",
        "r.json",
        "--document",
        "doc-en.pdf",
        "--json",
    ]);
    assert_eq!(c, 0, "{err}");
    let new: Value = serde_json::from_str(&out).expect("json");
    let new_code = new["code"].as_str().expect("code");
    let old = e.show(b_code);
    assert_eq!(old["state"], "superseded");
    assert_eq!(old["superseded_by"], new_code.replace('-', ""));
    let newer = e.show(new_code);
    assert_eq!(newer["state"], "awaiting_scan");
    assert_eq!(newer["supersedes"], b_code.replace('-', ""));
    let (c, _, err) = e.run(&[
        "supersede",
        b_code,
        "--record",
        "r.json",
        "--document",
        "doc.pdf",
    ]);
    assert_eq!(c, 2);
    assert!(
        err.contains("cannot supersede") && err.contains("it is superseded (by"),
        "{err}"
    );

    // Void: ends the instance; revoking a voided certificate is refused.
    let (c, _, err) = e.run(&["void", new_code, "--reason", "scan illegible"]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(e.show(new_code)["state"], "voided");
    let (c, _, err) = e.run(&["revoke", new_code, "--reason", "x"]);
    assert_eq!(c, 2);
    assert!(
        err.contains("cannot revoke") && err.contains("it is voided (scan illegible)"),
        "{err}"
    );

    // Unknown and malformed codes.
    let (c, _, err) = e.run(&["show", "0000-0000-0000"]);
    assert_eq!(c, 2);
    assert!(
        err.contains("no certificate has the code 0000-0000-0000"),
        "{err}"
    );
    let (c, _, err) = e.run(&["show", "QNVC-FM3P-4UDU"]);
    assert_eq!(c, 2);
    assert!(err.contains('U'), "{err}");
    // Empty reason.
    let c2 = e.register("r.json");
    let (c, _, err) = e.run(&[
        "revoke",
        c2["code"].as_str().expect("code"),
        "--reason",
        " ",
    ]);
    assert_eq!(c, 2);
    assert!(err.contains("--reason: must not be empty"), "{err}");

    // A code given explicitly must be unused, unless it is a retry of the
    // very same registration (issue 14): then the same code comes back.
    let (c, _, err) = e.run(&[
        "register",
        "--record",
        "r.json",
        "--document",
        "doc-en.pdf",
        "--code",
        a_code,
    ]);
    assert_eq!(c, 2);
    assert!(err.contains("already used"), "{err}");
    let (c, out, err) = e.run(&[
        "register",
        "--record",
        "r.json",
        "--document",
        "doc.pdf",
        "--code",
        a_code,
        "--json",
    ]);
    assert_eq!(c, 0, "{err}");
    let again: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(again["key"], a["key"], "the retry gives the same key");
    let (c, _, _) = e.run(&["audit"]);
    assert_eq!(c, 0);
}

#[test]
fn erasure_deletes_holder_data_and_keeps_the_ledger_valid() {
    let e = Env::new();
    let a = e.register("r.json");
    let code = a["code"].as_str().expect("code");
    let blob = e.show(code)["holder_blob"]
        .as_str()
        .expect("blob")
        .to_string();
    let blob_path = e.dir.join("ledger/blobs").join(&blob[..2]).join(&blob);
    assert!(blob_path.exists());
    let (c, _, err) = e.run(&["erase", code, "--reason", "GDPR Art. 17 request"]);
    assert_eq!(c, 0, "{err}");
    assert!(!blob_path.exists(), "holder blob deleted");
    let s = e.show(code);
    assert_eq!(s["erased"], true);
    assert_eq!(
        s["state"], "awaiting_scan",
        "erasure does not change validity"
    );
    let (c, out, _) = e.run(&["show", code]);
    assert_eq!(c, 0);
    assert!(out.contains("holder data  erased"), "{out}");
    let (c, out, err) = e.run(&["audit"]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("blobs:       0 finding(s)"), "{out}");
    let (c, _, err) = e.run(&["erase", code, "--reason", "again"]);
    assert_eq!(c, 2);
    assert!(err.contains("already erased"), "{err}");
}

#[test]
fn orphans_of_an_interrupted_registration_are_reported_never_referenced() {
    let e = Env::new();
    e.register("r.json");
    // A registration that died after writing its blobs, before its ledger append.
    let store = zeugnis::blobs::BlobStore::open(&e.dir.join("ledger"), 1 << 20).expect("blobs");
    let orphan = store
        .put(b"%PDF-1.7 never registered", "application/pdf")
        .expect("put");
    let (c, out, err) = e.run(&["audit"]);
    assert_eq!(c, 0, "an orphan is not damage: {err}");
    assert!(
        out.contains(&format!(
            "blob {} is not referenced by any record",
            hex::encode(orphan.blake3)
        )),
        "{out}"
    );
    // A referenced blob that disappears is damage.
    let s = e.show(e.register("r.json")["code"].as_str().expect("code"));
    let doc = s["documents"][0]["blake3"]
        .as_str()
        .expect("doc")
        .to_string();
    std::fs::remove_file(e.dir.join("ledger/blobs").join(&doc[..2]).join(&doc)).expect("rm");
    let (c, out, err) = e.run(&["audit"]);
    assert_eq!(c, 1, "{out}");
    assert!(err.contains("referenced blob(s) missing"), "{err}");
    assert!(
        out.contains(&format!("blob {doc} referenced by record")),
        "{out}"
    );
}

#[test]
fn scans_archive_once_and_state_survives_reindex() {
    let e = Env::new();
    let a = e.register("r.json");
    let code = a["code"].as_str().expect("code").to_string();
    {
        let mut r =
            zeugnis::registry::Registry::open(&e.dir.join("ledger"), "http://x").expect("open");
        r.archive_scan(&code, b"%PDF-1.7 scan of the signed original", "scan.pdf")
            .expect("archive");
        let again = r
            .archive_scan(&code, b"%PDF-1.7 another scan", "scan2.pdf")
            .expect_err("second scan");
        assert!(again.to_string().contains("it is archived"), "{again}");
        let bad = r
            .archive_scan(&code, b"GIF89a", "scan.gif")
            .expect_err("not an image we take");
        assert!(
            bad.to_string()
                .contains("scan.gif is not a PDF, PNG, JPEG or TIFF"),
            "{bad}"
        );
    }
    let before = e.show(&code);
    assert_eq!(before["state"], "archived");
    assert_eq!(before["scan"]["media_type"], "application/pdf");
    let (c, _, err) = e.run(&["reindex"]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(
        e.show(&code),
        before,
        "derived state rebuilt identically from the ledger"
    );
    // Deleting the whole index also rebuilds it.
    std::fs::remove_dir_all(e.dir.join("ledger/index")).expect("rm index");
    assert_eq!(e.show(&code), before);
}

#[test]
fn grade_rule_set_is_recorded_once() {
    let e = Env::new();
    e.register("r.json");
    e.register("r.json");
    let (c, out, _) = e.run(&["audit"]);
    assert_eq!(c, 0);
    assert!(out.contains("RulesetAdded   1"), "{out}");
    assert!(out.contains("Registered     2"), "{out}");
}

#[test]
fn cover_sheet_carries_the_code_as_a_decodable_qr_code() {
    let e = Env::new();
    let a = e.register("r.json");
    let code = a["code"].as_str().expect("code");
    let (c, out, err) = e.run(&["cover-sheet", code, "-o", "cover.pdf"]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("cover.pdf"), "{out}");
    let pdf = std::fs::read(e.dir.join("cover.pdf")).expect("pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let found = zeugnis::scans::decode::decode_qr_from_pdf(&pdf).expect("decode");
    // The QR code carries the code and its tag under the archive's key.
    let key =
        zeugnis::coversheet::CoverSheetKey::open_or_create(&e.dir.join("ledger")).expect("key");
    let plain = code.replace('-', "");
    assert_eq!(
        found,
        vec![zeugnis::coversheet::qr_payload(&plain, &key.tag(&plain))]
    );
    let (c, _, err) = e.run(&["cover-sheet", "0000-0000-0000", "-o", "x.pdf"]);
    assert_eq!(c, 2);
    assert!(err.contains("no certificate has the code"), "{err}");
}

/// Every action from every state: allowed exactly where the lifecycle says.
#[test]
fn transition_matrix() {
    use zeugnis::registry::{DocumentFile, RegistrationRecord, Registry, RegistryError};
    let e = Env::new();
    let mut r = Registry::open(&e.dir.join("ledger"), "http://x").expect("open");
    let rec = RegistrationRecord::parse("r.json", record().to_string().as_bytes()).expect("record");
    let doc = || {
        vec![DocumentFile {
            name: "d.pdf".into(),
            bytes: crate::support::fresh_pdf(),
        }]
    };
    let other_doc = || {
        vec![DocumentFile {
            name: "e.pdf".into(),
            bytes: crate::support::fresh_pdf(),
        }]
    };
    let states = [
        "awaiting_scan",
        "archived",
        "revoked",
        "superseded",
        "voided",
    ];
    let actions = ["revoke", "supersede", "void", "archive", "erase"];
    // Allowed: revoke/supersede/void from awaiting_scan and archived;
    // archive only from awaiting_scan; erase from every state.
    let allowed = |state: &str, action: &str| match action {
        "erase" => true,
        "archive" => state == "awaiting_scan",
        _ => state == "awaiting_scan" || state == "archived",
    };
    for state in states {
        for action in actions {
            let code = r.register(&rec, &doc(), None).expect("register").code;
            match state {
                "awaiting_scan" => {}
                "archived" => {
                    r.archive_scan(&code, b"%PDF-1.7 scan", "s.pdf")
                        .expect("archive");
                }
                "revoked" => {
                    r.revoke(&code, "setup", "2027-01-01").expect("revoke");
                }
                "superseded" => {
                    let replacement = doc();
                    let first = r.supersede(&code, &rec, &replacement).expect("supersede");
                    // The very same request again is a retry (issue 14): it
                    // converges to the same replacement instead of a refusal.
                    let again = r.supersede(&code, &rec, &replacement).expect("retry");
                    assert_eq!((again.code, again.key), (first.code, first.key));
                }
                "voided" => {
                    r.void(&code, "setup").expect("void");
                }
                _ => unreachable!(),
            }
            assert_eq!(r.show(&code, None).expect("show").state.name(), state);
            let result = match action {
                "revoke" => r.revoke(&code, "test", "2027-02-01").map(|_| ()),
                // Another replacement than the setup's (a retry converges).
                "supersede" => r.supersede(&code, &rec, &other_doc()).map(|_| ()),
                "void" => r.void(&code, "test").map(|_| ()),
                "archive" => r
                    .archive_scan(&code, b"%PDF-1.7 another scan", "t.pdf")
                    .map(|_| ()),
                "erase" => r.erase(&code, "test").map(|_| ()),
                _ => unreachable!(),
            };
            if allowed(state, action) {
                assert!(result.is_ok(), "{action} from {state}: {result:?}");
            } else {
                let err = result.expect_err("refused");
                assert!(
                    matches!(&err, RegistryError::Transition { state: s, .. } if *s == state),
                    "{action} from {state}: {err}"
                );
                assert_eq!(err.exit_code(), 2);
            }
        }
    }
    drop(r);
    let (c, _, err) = e.run(&["audit"]);
    assert_eq!(c, 0, "{err}");
}

#[test]
fn fixity_audit_rehashes_every_blob_and_names_the_certificates_of_damage() {
    let e = Env::new();
    let a = e.register("r.json");
    let code = a["code"].as_str().expect("code").replace('-', "");
    let (c, out, err) = e.run(&["audit", "--fixity"]);
    assert_eq!(c, 0, "{err}");
    // Rule-set text, holder blob, document.
    assert!(
        out.contains("fixity: 3 blob(s)") && out.contains("0 problem(s)"),
        "{out}"
    );
    let (_, out, _) = e.run(&["audit"]);
    assert!(
        out.contains("FixityChecked  1"),
        "recorded in the ledger: {out}"
    );

    // Damage the document (same size) and delete nothing else.
    let doc = e.show(&code)["documents"][0]["blake3"]
        .as_str()
        .expect("doc")
        .to_string();
    let path = e.dir.join("ledger/blobs").join(&doc[..2]).join(&doc);
    let mut bytes = std::fs::read(&path).expect("doc");
    bytes[10] ^= 1;
    std::fs::write(&path, bytes).expect("damage");
    let (c, out, err) = e.run(&["audit", "--fixity"]);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains(&format!(
            "blob {doc} BLAKE3 and SHA-256 differ; certificate(s): {code}"
        )),
        "{out}"
    );
    assert!(err.contains("1 blob(s) damaged or missing"), "{err}");
    // The failure itself is in the ledger.
    let (_, out, _) = e.run(&["audit"]);
    assert!(out.contains("FixityChecked  2"), "{out}");
    // A missing blob is named too.
    std::fs::remove_file(&path).expect("rm");
    let (c, out, _) = e.run(&["audit", "--fixity"]);
    assert_eq!(c, 1);
    assert!(
        out.contains(&format!("blob {doc} missing; certificate(s): {code}")),
        "{out}"
    );
}

/// The status report lists long waits with their codes and is mailed through
/// a real SMTP server (Python's aiosmtpd, started by this test).
#[test]
fn status_report_lists_long_waits_and_is_mailed() {
    use zeugnis::ledger::{Ledger, LedgerOptions};
    use zeugnis::registry::{DocumentFile, RegistrationRecord, Registry};
    let e = Env::new();
    let rec = RegistrationRecord::parse("r.json", record().to_string().as_bytes()).expect("record");
    let doc = || {
        vec![DocumentFile {
            name: "d.pdf".into(),
            bytes: crate::support::fresh_pdf(),
        }]
    };
    // A registration made 20 days ago (simulated clock) and one made today.
    let old_code = {
        let opts = LedgerOptions {
            clock_offset_s: -20 * 86_400,
            ..LedgerOptions::default()
        };
        let mut r = Registry::over(
            Ledger::open(&e.dir.join("ledger"), opts).expect("open"),
            "http://x",
        )
        .expect("registry");
        r.register(&rec, &doc(), None).expect("register").code
    };
    e.register("r.json");
    // A quarantined scan with its reason file.
    std::fs::create_dir_all(e.dir.join("scans/quarantine")).expect("mkdir");
    std::fs::write(e.dir.join("scans/quarantine/x.docx"), b"PK").expect("write");
    std::fs::write(
        e.dir.join("scans/quarantine/x.docx.reason.json"),
        r#"{"reason": "not a PDF or image"}"#,
    )
    .expect("write");

    let (c, out, err) = e.run(&["status", "--json", "--write"]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["states"]["awaiting_scan"], 2);
    assert_eq!(
        v["waiting_too_long"],
        json!([{"code": old_code.replace('-', ""), "days": 20}])
    );
    assert_eq!(v["quarantined"][0]["reason"], "not a PDF or image");
    assert_eq!(
        v["ledger_records"], 4,
        "genesis, rule set, two registrations"
    );
    assert!(v["disk_free_bytes"].as_u64().expect("disk") > 0);
    assert!(err.contains("wrote "), "{err}");
    let written = std::fs::read_dir(e.dir.join("ledger/reports"))
        .expect("reports")
        .count();
    assert_eq!(written, 1);

    // Mail it through a real SMTP server.
    let server = crate::support::Smtp::start();
    let port = server.port;
    let smtp = format!("127.0.0.1:{port}");
    let (c, _, err) = e.run(&[
        "status",
        "--smtp",
        &smtp,
        "--mail-from",
        "zeugnis@uni.example",
        "--mail-to",
        "pruefungsamt@uni.example",
    ]);
    assert_eq!(c, 0, "{err}");
    let received = server.wait_for("Subject: zeugnis status");
    assert!(
        received.contains("To: pruefungsamt@uni.example"),
        "{received}"
    );
    assert!(
        received.contains(
            "Subject: zeugnis status test.example/zeugnis/1: 1 waiting too long, 1 quarantined"
        ),
        "{received}"
    );
    assert!(
        received.contains(&format!("{}  20 days", old_code.replace('-', ""))),
        "{received}"
    );
    // A relay that is not there: exit 1 naming it.
    drop(server);
    let (c, _, err) = e.run(&[
        "status",
        "--smtp",
        &smtp,
        "--mail-from",
        "a@b.example",
        "--mail-to",
        "c@d.example",
    ]);
    assert_eq!(c, 1);
    assert!(err.contains(&format!("mail to 127.0.0.1:{port}")), "{err}");
    let (c, _, err) = e.run(&["status", "--mail-to", "c@d.example"]);
    assert_eq!(c, 2);
    assert!(
        err.contains("--mail-to needs --mail-from and --smtp"),
        "{err}"
    );
    // Every field is named (issue 20): the fixity audit and the key ages
    // are objects, not arrays.
    assert_eq!(v["last_fixity"], Value::Null, "no fixity audit yet");
    let keys = v["key_age_days"].as_array().expect("key ages");
    assert_eq!(keys.len(), 1, "{v}");
    assert_eq!(keys[0]["key_id"].as_str().map(str::len), Some(8), "{v}");
    assert_eq!(keys[0]["days"], 0, "{v}");
    let (c, _, err) = e.run(&["audit", "--fixity"]);
    assert_eq!(c, 0, "{err}");
    let (c, out, err) = e.run(&["status", "--json"]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    let f = &v["last_fixity"];
    assert!(
        f["seq"].as_u64().expect("seq") >= 4,
        "after the four records: {v}"
    );
    assert!(
        f["blobs_checked"].as_u64().expect("blobs_checked") >= 3,
        "{v}"
    );
    assert_eq!(f["failures"], 0, "{v}");
    assert!(f["time"].as_i64().expect("time") > 0, "{v}");
}
