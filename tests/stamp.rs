//! The stamp and the draft (issue 16, docs/workflow.md): `register
//! --stamp` adds the verification link, a QR code and the code to page 1
//! as an incremental update and registers the stamped file, keeping a
//! signature valid; `zeugnis draft` watermarks every page and records
//! nothing.

use crate::support::{pdf, zeugnis, Daemon};
use serde_json::Value;
use std::path::{Path, PathBuf};

const BASE_URL: &str = "https://verify.test";

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

/// A data directory (`ledger`) with a configuration and a record file.
struct Env {
    _t: tempfile::TempDir,
    dir: PathBuf,
}

impl Env {
    fn new(config_extra: &str) -> Env {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().to_path_buf();
        std::fs::write(
            dir.join("zeugnis.toml"),
            format!("base_url = \"{BASE_URL}\"\n{config_extra}"),
        )
        .expect("config");
        let e = Env { _t: t, dir };
        e.ok(&["init", "--origin", "stamp.test/zeugnis/1"]);
        e.write("r.json", &serde_json::to_vec(&record_json()).expect("json"));
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

    /// The bytes registered as the first document of `code`.
    fn registered_document(&self, code: &str) -> Vec<u8> {
        let show: Value =
            serde_json::from_str(&self.ok(&["show", code, "--json"])).expect("show --json");
        let hex = show["documents"][0]["blake3"]
            .as_str()
            .expect("documents[0].blake3");
        let hash: [u8; 32] = hex::decode(hex).expect("hex").try_into().expect("32 bytes");
        zeugnis::blobs::BlobStore::open(
            &self.dir.join("ledger"),
            zeugnis::blobs::BLOB_BYTES_MAX_DEFAULT,
        )
        .expect("blob store")
        .get(&hash)
        .expect("the registered document's blob")
    }

    /// Bytes of the blob store and of the ledger's segments (what a
    /// registration adds to).
    fn stored_bytes(&self) -> (u64, u64) {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| {
                            let m = e.metadata().expect("metadata");
                            if m.is_dir() {
                                walk(&e.path())
                            } else {
                                m.len()
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        let data = self.dir.join("ledger");
        let segments = walk(&data.join("segments"));
        assert!(segments > 0, "no ledger segments under {}", data.display());
        (walk(&data.join("blobs")), segments)
    }
}

fn code_compact(code: &str) -> String {
    code.replace('-', "")
}

/// The URI and rectangle of every Link annotation on page 1.
fn page_one_links(pdf: &[u8]) -> Vec<(String, Vec<f32>)> {
    let doc = lopdf::Document::load_mem(pdf).expect("the stamped PDF parses (lopdf)");
    let page = doc.get_pages()[&1];
    let page = doc.get_dictionary(page).expect("page 1");
    let annots = match page.get(b"Annots") {
        Ok(lopdf::Object::Array(a)) => a.clone(),
        Ok(lopdf::Object::Reference(id)) => doc
            .get_object(*id)
            .and_then(lopdf::Object::as_array)
            .expect("Annots array")
            .clone(),
        _ => Vec::new(),
    };
    annots
        .iter()
        .filter_map(|a| {
            let d = doc.get_dictionary(a.as_reference().ok()?).ok()?;
            if d.get(b"Subtype").ok()?.as_name().ok()? != b"Link" {
                return None;
            }
            let action = d.get(b"A").ok()?.as_dict().ok()?;
            let uri = String::from_utf8_lossy(action.get(b"URI").ok()?.as_str().ok()?).into_owned();
            let rect = d
                .get(b"Rect")
                .ok()?
                .as_array()
                .ok()?
                .iter()
                .filter_map(|o| o.as_float().ok())
                .collect();
            Some((uri, rect))
        })
        .collect()
}

/// The QR codes on page 1.
fn page_one_qr_texts(pdf: &[u8]) -> Vec<String> {
    crate::support::qr_texts_on_page(pdf, crate::support::PdfPage::First)
}

#[test]
fn register_stamp_links_page_one_to_the_verification_page_without_the_key() {
    let e = Env::new("");
    let original = pdf("Zeugnis mit Prüfvermerk");
    let doc = e.write("z.pdf", &original);
    let out = e.ok(&[
        "register",
        "--record",
        "r.json",
        "--document",
        &doc,
        "--stamp",
        "--json",
        "--print-bundle",
        "bundle.pdf",
    ]);
    let issued: Value = serde_json::from_str(out.trim()).expect("register --json");
    assert_eq!(issued["stamped"], Value::Bool(true), "{out}");
    let code = issued["code"].as_str().expect("code");
    let key = issued["key"].as_str().expect("key");
    let stamped = e.registered_document(code);
    assert!(
        stamped.starts_with(&original),
        "the original is not a byte prefix of the registered file"
    );
    assert!(stamped.len() > original.len());
    let url = format!("{BASE_URL}/de/{}", code_compact(code));
    let links = page_one_links(&stamped);
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].0, url);
    let update = String::from_utf8_lossy(&stamped[original.len()..]).into_owned();
    assert!(
        update.contains(&format!("({code}) Tj")),
        "the code is not printed"
    );
    assert!(
        !update.contains(&format!("-{key}")) && !update.contains(&format!("({key})")),
        "the access key is on the page: {update}"
    );
    assert_eq!(page_one_qr_texts(&stamped), vec![url.clone()]);
    // The print bundle prints the stamped version.
    let bundle = std::fs::read(e.dir.join("bundle.pdf")).expect("bundle");
    assert_eq!(
        page_one_links(&bundle)
            .into_iter()
            .map(|l| l.0)
            .collect::<Vec<_>>(),
        vec![url]
    );
    // The stamped file is what is registered: the public check finds it,
    // and the unstamped original is not a registered document.
    let text = e.ok(&["show", code]);
    assert!(
        text.contains(&hex::encode(blake3::hash(&stamped).as_bytes())),
        "{text}"
    );
}

#[test]
fn register_stamp_with_a_reserved_code_retries_to_the_same_certificate() {
    let e = Env::new("");
    let reserved: Value =
        serde_json::from_str(e.ok(&["reserve", "--json"]).trim()).expect("reserve --json");
    let code = reserved["code"].as_str().expect("code").to_string();
    let doc = e.write("z.pdf", &pdf("reserviert und gestempelt"));
    let args = [
        "register",
        "--record",
        "r.json",
        "--document",
        &doc,
        "--code",
        &code,
        "--stamp",
        "--json",
    ];
    let first: Value = serde_json::from_str(e.ok(&args).trim()).expect("json");
    assert_eq!(first["code"], reserved["code"]);
    assert_eq!(first["key"], reserved["key"]);
    let stamped = e.registered_document(&code);
    // The stamp is deterministic: a retry (an uncertain outcome) stamps
    // the same bytes and gets the same certificate, not a refusal.
    let again: Value = serde_json::from_str(e.ok(&args).trim()).expect("json");
    assert_eq!(again["code"], first["code"]);
    assert_eq!(again["stamped"], Value::Bool(true));
    assert_eq!(e.registered_document(&code), stamped);
}

#[test]
fn register_stamp_refuses_a_document_it_cannot_stamp_and_records_nothing() {
    let e = Env::new("[stamp]\noffset_x_mm = 150\noffset_y_mm = 150\nqr_size_mm = 60\n");
    let doc = e.write("z.pdf", &pdf("zu klein"));
    let before = e.stored_bytes();
    let (c, out, err) = e.run(&[
        "register",
        "--record",
        "r.json",
        "--document",
        &doc,
        "--stamp",
    ]);
    assert_eq!(c, 2, "{out}{err}");
    assert!(
        err.contains("z.pdf: cannot stamp: the stamp") && err.contains("does not fit on page 1"),
        "{err}"
    );
    assert_eq!(
        e.stored_bytes(),
        before,
        "a refused stamp changed the store"
    );
}

/// The one-certificate-per-document check looks at the original too:
/// the stamped bytes are always new.
#[test]
fn register_stamp_refuses_an_original_registered_without_the_stamp() {
    let e = Env::new("");
    let doc = e.write("z.pdf", &pdf("einmal ohne Stempel"));
    let first = e.ok(&[
        "register",
        "--record",
        "r.json",
        "--document",
        &doc,
        "--json",
    ]);
    let first: Value = serde_json::from_str(first.trim()).expect("json");
    let before = e.stored_bytes();
    let (c, out, err) = e.run(&[
        "register",
        "--record",
        "r.json",
        "--document",
        &doc,
        "--stamp",
    ]);
    assert_eq!(c, 2, "{out}{err}");
    let other = first["code"].as_str().expect("code");
    assert!(
        err.contains("the same PDF bytes are already registered for certificate")
            && err.contains(other),
        "{err}"
    );
    assert_eq!(e.stored_bytes(), before);
    // With --allow-duplicate it is accepted and recorded.
    let out = e.ok(&[
        "register",
        "--record",
        "r.json",
        "--document",
        &doc,
        "--stamp",
        "--allow-duplicate",
        "--json",
    ]);
    let second: Value = serde_json::from_str(out.trim()).expect("json");
    let show: Value =
        serde_json::from_str(&e.ok(&["show", second["code"].as_str().expect("code"), "--json"]))
            .expect("show --json");
    assert_eq!(
        show["duplicate_of"],
        serde_json::json!([code_compact(other)]),
        "{show}"
    );
}

/// The same original stamped twice (two certificates, so two different
/// stamped files): the second is refused naming the first, because the
/// `Stamped` record (kind 18) maps the original to its certificate; with
/// `--allow-duplicate` it is accepted and recorded. A reindex rebuilds
/// that mapping from the ledger alone.
#[test]
fn the_same_original_stamped_twice_is_refused() {
    let e = Env::new("");
    let doc = e.write("z.pdf", &pdf("zweimal mit Stempel"));
    let register = |extra: &[&str]| {
        let mut args = vec![
            "register",
            "--record",
            "r.json",
            "--document",
            &doc,
            "--stamp",
        ];
        args.extend_from_slice(extra);
        e.run(&args)
    };
    let (c, first, err) = register(&["--json"]);
    assert_eq!(c, 0, "{err}");
    let first: Value = serde_json::from_str(first.trim()).expect("json");
    let other = first["code"].as_str().expect("code");
    let refused = |e: &Env| {
        let before = e.stored_bytes();
        let (c, out, err) = register(&[]);
        assert_eq!(c, 2, "{out}{err}");
        assert!(
            err.contains("the same PDF bytes are already registered for certificate")
                && err.contains(other),
            "{err}"
        );
        assert_eq!(e.stored_bytes(), before, "nothing stored");
    };
    refused(&e);
    // The mapping is derived data, rebuilt from the Stamped record.
    e.ok(&["reindex"]);
    refused(&e);
    let (c, out, err) = register(&["--allow-duplicate", "--json"]);
    assert_eq!(c, 0, "{err}");
    let second: Value = serde_json::from_str(out.trim()).expect("json");
    let show: Value =
        serde_json::from_str(&e.ok(&["show", second["code"].as_str().expect("code"), "--json"]))
            .expect("show --json");
    assert_eq!(
        show["duplicate_of"],
        serde_json::json!([code_compact(other)]),
        "{show}"
    );
}

#[test]
fn a_bad_stamp_place_is_refused_naming_the_key() {
    let e = Env::new("");
    std::fs::write(
        e.dir.join("zeugnis.toml"),
        format!("base_url = \"{BASE_URL}\"\n[stamp]\nqr_size_mm = 5\n"),
    )
    .expect("config");
    let (c, out, err) = e.run(&["status"]);
    assert_eq!(c, 2, "{out}{err}");
    assert!(err.contains("stamp.qr_size_mm"), "{err}");
}

/// Whether `pdfsig` and pyHanko are here; in CI (`ZEUGNIS_REQUIRE_PDFSIG`
/// set by `.ci/run`) their absence fails the test instead of skipping it.
fn signature_tools() -> bool {
    let pdfsig = std::process::Command::new("pdfsig")
        .arg("-v")
        .output()
        .is_ok();
    let pyhanko = std::process::Command::new("python3")
        .args(["-c", "import pyhanko, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if pdfsig && pyhanko {
        return true;
    }
    let missing = format!(
        "{}{}",
        if pdfsig {
            ""
        } else {
            "pdfsig (poppler-utils) "
        },
        if pyhanko { "" } else { "pyhanko (pip)" }
    );
    assert!(
        std::env::var_os("ZEUGNIS_REQUIRE_PDFSIG").is_none(),
        "ZEUGNIS_REQUIRE_PDFSIG is set but {missing} is missing"
    );
    eprintln!("SKIPPED: the signature check needs {missing}; .ci/run installs them");
    false
}

/// Proves the point of the incremental update: a PDF signed with pyHanko
/// (a self-signed seal made at test time), stamped by `register --stamp`,
/// still has a valid signature for `pdfsig` (poppler) and for pyHanko,
/// which both see that the signature covers the original revision only.
#[test]
fn a_signed_pdf_keeps_a_valid_signature_after_register_stamp() {
    if !signature_tools() {
        return;
    }
    let e = Env::new("");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pdf_signature");
    let original = e.write("unsigned.pdf", &pdf("Gesiegeltes Zeugnis"));
    let signed = e.dir.join("signed.pdf");
    let cert = e.dir.join("seal.pem");
    let (c, out, err) = crate::support::output(
        std::process::Command::new("python3")
            .arg(scripts.join("sign.py"))
            .arg(e.dir.join(&original))
            .arg(&signed)
            .arg(&cert),
    );
    assert_eq!(c, 0, "signing with pyHanko failed: {out}{err}");
    let signed_bytes = std::fs::read(&signed).expect("signed.pdf");
    let pdfsig = |p: &Path| {
        let (c, out, err) = crate::support::output(std::process::Command::new("pdfsig").arg(p));
        assert_eq!(c, 0, "pdfsig {}: {out}{err}", p.display());
        out
    };
    let before = pdfsig(&signed);
    assert!(before.contains("Signature is Valid."), "{before}");

    let out = e.ok(&[
        "register",
        "--record",
        "r.json",
        "--document",
        "signed.pdf",
        "--stamp",
        "--json",
    ]);
    let issued: Value = serde_json::from_str(out.trim()).expect("json");
    let code = issued["code"].as_str().expect("code");
    let stamped = e.registered_document(code);
    assert!(
        stamped.starts_with(&signed_bytes),
        "the signed file is not a prefix"
    );
    let stamped_path = e.dir.join("stamped.pdf");
    std::fs::write(&stamped_path, &stamped).expect("write");
    assert_eq!(
        page_one_links(&stamped).last().map(|l| l.0.clone()),
        Some(format!("{BASE_URL}/de/{}", code_compact(code)))
    );

    let after = pdfsig(&stamped_path);
    assert!(
        after.contains("Signature is Valid."),
        "pdfsig no longer validates the signature:\n{after}"
    );
    assert!(
        !after.contains("Total document signed"),
        "pdfsig should see the appended revision:\n{after}"
    );
    let (c, out, err) = crate::support::output(
        std::process::Command::new("python3")
            .arg(scripts.join("validate.py"))
            .arg(&stamped_path)
            .arg(&cert),
    );
    assert_eq!(c, 0, "pyHanko validation: {out}{err}");
    assert!(
        out.contains("intact=True valid=True"),
        "pyHanko: the signature is not intact and valid: {out}"
    );
    assert!(
        out.contains("coverage=ENTIRE_REVISION"),
        "pyHanko: the signature should cover the signed revision: {out}"
    );
}

#[test]
fn draft_watermarks_every_page_and_records_nothing() {
    let e = Env::new("");
    let pages: Vec<Vec<String>> = (1..=2).map(|i| vec![format!("Seite {i}")]).collect();
    let doc = e.write("z.pdf", &zeugnis::document::text_pdf(&pages, None));
    let before = e.stored_bytes();
    let out = e.ok(&[
        "draft",
        "--record",
        "r.json",
        "--document",
        &doc,
        "-o",
        "entwurf.pdf",
    ]);
    assert!(
        out.contains("2 pages") && out.contains("nothing was recorded"),
        "{out}"
    );
    assert_eq!(e.stored_bytes(), before, "a draft changed the store");
    let draft = std::fs::read(e.dir.join("entwurf.pdf")).expect("draft");
    let d = lopdf::Document::load_mem(&draft).expect("the draft parses");
    for (n, id) in d.get_pages() {
        let content = d.get_page_content(id);
        let text = String::from_utf8_lossy(&content);
        assert!(text.contains("(ENTWURF / DRAFT) Tj"), "page {n}: {text}");
        assert!(
            text.contains(&format!("Seite {n}")),
            "page {n} lost its text"
        );
    }
    // Refusals name the problem; nothing is written.
    e.write("bad.json", br#"{"institution": "X", "kind": "zeugnis"}"#);
    let (c, _, err) = e.run(&[
        "draft",
        "--record",
        "bad.json",
        "--document",
        &doc,
        "-o",
        "x.pdf",
    ]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("bad.json"), "{err}");
    assert!(!e.dir.join("x.pdf").exists());
    e.write("photo.png", b"\x89PNG\r\n\x1a\n0000");
    let (c, _, err) = e.run(&[
        "draft",
        "--record",
        "r.json",
        "--document",
        "photo.png",
        "-o",
        "x.pdf",
    ]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("photo.png: not a PDF"), "{err}");
    let (c, _, err) = e.run(&[
        "draft",
        "--record",
        "r.json",
        "--document",
        &doc,
        "-o",
        &doc,
    ]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("that is the --document itself"), "{err}");
    // The measure sees a registration (so "unchanged" above means something).
    e.ok(&["register", "--record", "r.json", "--document", &doc]);
    let (blobs, segments) = e.stored_bytes();
    assert!(blobs > before.0 && segments > before.1, "{before:?}");
}

#[test]
fn draft_shows_the_grade_computed_from_the_record() {
    let e = Env::new("");
    let mut rec = record_json();
    // Erfurt BA 2019, final 1.76 (as in tests/http.rs).
    rec["grades"] = serde_json::json!({"ruleset": "erfurt-ba-2019", "parts": [{"id": "all", "required_lp": "30", "modules": [
        {"id": "M1", "lp": "10", "grade": "1.3", "mandatory": true},
        {"id": "M2", "lp": "10", "grade": "2.0", "mandatory": true},
        {"id": "M3", "lp": "5", "grade": "1.7", "mandatory": true},
        {"id": "M4", "lp": "5", "grade": "3.0", "mandatory": false},
        {"id": "M5", "lp": "5", "grade": "2.3", "mandatory": false}]}]});
    e.write("g.json", &serde_json::to_vec(&rec).expect("json"));
    let doc = e.write("z.pdf", &pdf("mit Noten"));
    let out = e.ok(&[
        "draft",
        "--record",
        "g.json",
        "--document",
        &doc,
        "-o",
        "entwurf.pdf",
    ]);
    assert!(
        out.contains("grade: 1.76 (rule set erfurt-ba-2019)"),
        "{out}"
    );
    // A grade the rule set refuses is refused by the draft too.
    rec["grades"]["parts"][0]["modules"][0]["grade"] = Value::from("7.0");
    e.write("g.json", &serde_json::to_vec(&rec).expect("json"));
    let (c, out, err) = e.run(&[
        "draft",
        "--record",
        "g.json",
        "--document",
        &doc,
        "-o",
        "entwurf2.pdf",
    ]);
    assert_ne!(c, 0, "{out}{err}");
    assert!(err.contains("M1") || err.contains("grade"), "{err}");
    assert!(!e.dir.join("entwurf2.pdf").exists());
}

/// The daemon holds the writer: `register --stamp` goes through the
/// control socket with the client's `[stamp]` place, and `draft` works
/// beside it without touching the ledger.
#[test]
fn stamp_and_draft_with_a_running_daemon() {
    let e = Env::new("");
    std::fs::create_dir(e.dir.join("scans")).expect("inbox");
    let config = format!(
        "base_url = \"{BASE_URL}\"\n\
         [http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n\
         [stamp]\ncorner = \"top-left\"\noffset_x_mm = 10\noffset_y_mm = 10\nqr_size_mm = 25\n"
    );
    let mut daemon = Daemon::start(&e.dir, &config);
    daemon.wait_for_log("verification service listening");
    let original = pdf("Zeugnis über den Daemon");
    let doc = e.write("z.pdf", &original);
    let (c, out, err) = e.run(&[
        "register",
        "--record",
        "r.json",
        "--document",
        &doc,
        "--stamp",
        "--json",
        "--verbose",
    ]);
    assert_eq!(c, 0, "{out}{err}\ndaemon log:\n{}", daemon.log());
    assert!(err.contains("runs in the daemon"), "{err}");
    let issued: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(issued["stamped"], Value::Bool(true));
    let code = issued["code"].as_str().expect("code").to_string();

    let (c, out, err) = e.run(&[
        "draft",
        "--record",
        "r.json",
        "--document",
        &doc,
        "-o",
        "entwurf.pdf",
    ]);
    assert_eq!(c, 0, "{out}{err}\ndaemon log:\n{}", daemon.log());
    assert!(e.dir.join("entwurf.pdf").exists());
    daemon.stop();

    let stamped = e.registered_document(&code);
    assert!(stamped.starts_with(&original));
    let links = page_one_links(&stamped);
    assert_eq!(links.len(), 1, "{links:?}");
    let mm = 72.0 / 25.4;
    let rect = &links[0].1;
    // Top left, 10 mm from the edges of A4 (595 x 842 pt), 25 mm high.
    assert!((rect[0] - 10.0 * mm).abs() < 0.01, "{rect:?}");
    assert!((rect[3] - (842.0 - 10.0 * mm)).abs() < 0.5, "{rect:?}");
    assert!((rect[3] - rect[1] - 25.0 * mm).abs() < 0.01, "{rect:?}");
}
