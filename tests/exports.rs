//! Machine-readable exports (issue 21) end to end through the binary:
//! every shipped weighted rule set's certificate, exported as XHochschule 1.2
//! in German and English, validates with `xmllint --nonet --schema` through
//! the vendored OASIS catalog and with the XHochschule Schematron rules
//! (tools/xhs_schematron.py on saxonche); the ELM JSON-LD conforms to the
//! EDC SHACL shapes under pyshacl with a local document loader. The
//! validators are shown to fail on broken input, names outside DIN 91379 are
//! refused, erased certificates are not exported. All offline.

use crate::support::{output, python_modules, zeugnis};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The digital image registered (a small real PDF).
static PDF: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| crate::support::pdf("digital image"));

/// A data directory with a fresh ledger.
fn ledger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, _, err) = zeugnis(dir.path(), &["init"]);
    assert_eq!(c, 0, "init: {err}");
    std::fs::write(dir.path().join("doc.pdf"), &*PDF).expect("write pdf");
    dir
}

fn record(family_name: &str, grades: Value) -> Value {
    json!({"institution": "Universität Erfurt", "kind": "degree_deed", "language": "de",
        "holder": {"given_name": "Berta", "family_name": family_name, "birth_date": "2000-02-29",
                   "birth_place": "Gotha", "student_id": "E-12345"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften & Recht"},
        "last_exam_date": "2026-07-15", "grades": grades})
}

/// Registers `rec` with a digital image of its own; returns the code.
fn register(dir: &Path, rec: &Value) -> String {
    register_pdf(dir, rec, &crate::support::fresh_pdf())
}

/// Registers `rec` with `pdf` as its digital image; returns the code.
fn register_pdf(dir: &Path, rec: &Value, pdf: &[u8]) -> String {
    std::fs::write(dir.join("rec.json"), rec.to_string()).expect("write record");
    std::fs::write(dir.join("doc.pdf"), pdf).expect("write pdf");
    let (c, out, err) = zeugnis(
        dir,
        &[
            "register",
            "--record",
            "rec.json",
            "--document",
            "doc.pdf",
            "--json",
        ],
    );
    assert_eq!(c, 0, "register: {err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    v["code"].as_str().expect("code").to_string()
}

fn m(id: &str, lp: &str, grade: &str, mandatory: bool) -> Value {
    json!({"id": id, "lp": lp, "grade": grade, "mandatory": mandatory})
}

/// A valid grade input for each shipped weighted rule set.
fn weighted_input(ruleset: &str) -> Option<Value> {
    let pooled = |id: &str| {
        json!({"ruleset": id, "parts": [
            {"id": "Hauptfach", "required_lp": "20", "modules": [
                m("HF-1", "10", "1.3", true), m("HF-2", "10", "2.0", true), m("HF-3", "5", "3.0", false)]},
            {"id": "Nebenfach", "required_lp": "10", "modules": [
                m("NF-1", "5", "1.7", true), m("BA", "5", "2.3", true)]}
        ]})
    };
    Some(match ruleset {
        "erfurt-ba-2019" | "erfurt-ba-2012" | "erfurt-ma-2019" | "erfurt-ma-2012"
        | "erfurt-med-2019" | "potsdam-scale-2025" => pooled(ruleset),
        "erfurt-magister" => json!({"ruleset": ruleset, "parts": [
            {"id": "modules", "required_lp": "96", "modules": [
                m("K1", "48", "1.3", true), m("K2", "48", "2.0", true), m("K3", "8", "1.0", false)]},
            {"id": "thesis", "required_lp": "24", "modules": [m("MA", "24", "1.7", true)]},
            {"id": "oral", "required_lp": "48", "modules": [m("AP", "48", "2.3", true)]}
        ]}),
        "erfurt-magister-2009" => json!({"ruleset": ruleset, "parts": [
            {"id": "modules", "required_lp": "48", "modules": [
                m("L1", "24", "1.0", true), m("L2", "24", "2.0", true), m("L3", "24", "3.0", false)]},
            {"id": "thesis", "required_lp": "24", "modules": [m("MA", "24", "2.3", true)]},
            {"id": "final_exams", "required_lp": "48", "modules": [
                m("A1", "24", "1.3", true), m("A2", "24", "1.7", true)]}
        ]}),
        _ => return None,
    })
}

/// `xmllint --nonet --schema` through the vendored catalog; returns (ok, output).
pub(crate) fn xmllint(file: &Path) -> (bool, String) {
    let (c, out, err) = output(
        std::process::Command::new("xmllint")
            .env("XML_CATALOG_FILES", repo().join("vendor/catalog.xml"))
            .args(["--nonet", "--noout", "--schema"])
            .arg(repo().join("vendor/xhochschule-1.2/xhochschule.xsd"))
            .arg(file),
    );
    (c == 0, format!("{out}{err}"))
}

/// The XHochschule Schematron rules through tools/xhs_schematron.py.
fn schematron(file: &Path, extra: &[&str]) -> (bool, String) {
    python_modules(&["saxonche"]);
    let (c, out, err) = output(
        std::process::Command::new("python3")
            .arg(repo().join("tools/xhs_schematron.py"))
            .arg(repo().join("vendor/xhochschule-1.2/xhochschule-schematron.sch"))
            .arg(file)
            .args(extra),
    );
    assert!(c == 0 || c == 1, "runner failed to run: {out}{err}");
    (c == 0, format!("{out}{err}"))
}

const CONFIG: &str =
    "[exports]\nhochschulsignatur = \"1450\"\nhochschulsignatur_list_version = \"2025-11\"\n\
faecherschluessel = \"079\"\nfaecherschluessel_list_version = \"2025-11\"\n\
legal_identifier = \"DE150546536\"\n";

#[test]
fn every_weighted_ruleset_exports_schema_and_schematron_valid_xhs_in_both_languages() {
    let weighted: Vec<String> = zeugnis::grades::shipped_rulesets()
        .expect("shipped")
        .into_iter()
        .filter(|r| r.kind == "weighted")
        .map(|r| r.id)
        .collect();
    assert!(weighted.len() >= 8, "{weighted:?}");
    let dir = ledger();
    std::fs::write(dir.path().join("z.toml"), CONFIG).expect("config");
    for id in &weighted {
        let input = weighted_input(id)
            .unwrap_or_else(|| panic!("no test input for the weighted rule set {id}: add one"));
        let code = register(dir.path(), &record("Müller-Łukasiewicz", input));
        let (_, shown, _) = zeugnis(dir.path(), &["show", &code, "--json"]);
        let fin = serde_json::from_str::<Value>(&shown).expect("json")["grade"]["result"]["final"]
            .clone();
        for lang in ["de", "en"] {
            let file = dir.path().join(format!("{id}-{lang}.xml"));
            let f = file.to_str().expect("utf-8");
            let (c, _, err) = zeugnis(
                dir.path(),
                &[
                    "export-xhs",
                    &code,
                    "-o",
                    f,
                    "--lang",
                    lang,
                    "--config",
                    "z.toml",
                ],
            );
            assert_eq!(c, 0, "{id} {lang}: {err}");
            let (ok, msg) = xmllint(&file);
            assert!(ok && msg.contains("validates"), "{id} {lang}: {msg}");
            let (ok, msg) = schematron(&file, &[]);
            assert!(ok, "{id} {lang}: {msg}");
            let xml = std::fs::read_to_string(&file).expect("read");
            let (note, word) = (
                fin[format!("display_{lang}")].as_str().expect("display"),
                fin[format!("word_{lang}")].as_str().expect("word"),
            );
            let gesamt = xml.split("<xhs:gesamtnote>").nth(1).expect("gesamtnote");
            assert!(
                gesamt.contains(&format!("<xbd:note>{note}</xbd:note>"))
                    && gesamt.contains(&format!(">{word}</xbd:wortbezeichnung>")),
                "{id} {lang}: {gesamt}"
            );
            assert!(xml.contains(&format!("<xhs:id>{code}</xhs:id>")), "{xml}");
            assert!(xml.contains("<code>1450</code>") && xml.contains("<code>079</code>"));
            assert!(
                xml.contains("leistungsart/thesis</code>"),
                "{id}: no thesis"
            );
            assert!(xml.contains("Staatswissenschaften &amp; Recht"));
        }
    }
}

/// The validators can fail: a document without its holder is refused by
/// the XSD, a grade word in `note` by the Schematron, and without the local
/// patch the published rule XHS-0031 rejects a subject key on the programme
/// (the upstream defect docs/exports.md describes).
#[test]
fn validators_reject_broken_documents_and_show_the_upstream_defect() {
    let dir = ledger();
    std::fs::write(dir.path().join("z.toml"), CONFIG).expect("config");
    let code = register(
        dir.path(),
        &record("Muster", weighted_input("erfurt-ba-2019").expect("input")),
    );
    let (c, _, err) = zeugnis(
        dir.path(),
        &["export-xhs", &code, "-o", "good.xml", "--config", "z.toml"],
    );
    assert_eq!(c, 0, "{err}");
    let good = std::fs::read_to_string(dir.path().join("good.xml")).expect("read");

    let start = good.find("<xhs:studierender>").expect("holder");
    let end = good.find("</xhs:studierender>").expect("holder end") + "</xhs:studierender>".len();
    let no_holder = dir.path().join("no-holder.xml");
    std::fs::write(&no_holder, format!("{}{}", &good[..start], &good[end..])).expect("write");
    let (ok, msg) = xmllint(&no_holder);
    assert!(!ok && msg.contains("ausstellendeHochschule"), "{msg}");

    let bad_note = dir.path().join("bad-note.xml");
    std::fs::write(
        &bad_note,
        good.replacen("<xbd:note>1,76</xbd:note>", "<xbd:note>gut</xbd:note>", 1),
    )
    .expect("write");
    let (ok, msg) = schematron(&bad_note, &[]);
    assert!(!ok && msg.contains("SCH-XHS-0018"), "{msg}");

    let (ok, msg) = schematron(&dir.path().join("good.xml"), &["--no-patch"]);
    assert!(!ok && msg.contains("SCH-XHS-0031"), "{msg}");
}

/// pyshacl over the EDC shapes (both the generic shapes and the full set
/// with the vocabulary checks), contexts from vendor/ only.
pub(crate) fn shacl(file: &Path) -> (bool, String) {
    python_modules(&["pyshacl"]);
    let (c, out, err) = output(
        std::process::Command::new("python3")
            .arg(repo().join("tools/elm_shacl.py"))
            .arg(file)
            .args(["--shapes", "full"]),
    );
    assert!(c == 0 || c == 1, "validator failed to run: {out}{err}");
    (c == 0, format!("{out}{err}"))
}

/// Every weighted rule set's certificate exports as an ELM credential that
/// conforms to the EDC shapes, with the final grade in German and English,
/// ECTS credit points and every module as a part; the validator refuses a
/// credential without its validity date or its display parameters.
#[test]
fn elm_credentials_conform_to_the_edc_shapes() {
    let dir = ledger();
    std::fs::write(dir.path().join("z.toml"), CONFIG).expect("config");
    for id in [
        "erfurt-ba-2019",
        "erfurt-magister-2009",
        "potsdam-scale-2025",
    ] {
        let code = register(
            dir.path(),
            &record("Nguyễn", weighted_input(id).expect("input")),
        );
        let file = dir.path().join(format!("{id}.jsonld"));
        let f = file.to_str().expect("utf-8");
        let (c, _, err) = zeugnis(
            dir.path(),
            &["export-elm", &code, "-o", f, "--config", "z.toml"],
        );
        assert_eq!(c, 0, "{id}: {err}");
        let (ok, msg) = shacl(&file);
        assert!(ok && msg.contains("conforms"), "{id}: {msg}");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        let (_, shown, _) = zeugnis(dir.path(), &["show", &code, "--json"]);
        let fin = serde_json::from_str::<Value>(&shown).expect("json")["grade"]["result"]["final"]
            .clone();
        let claim = &v["credentialSubject"]["hasClaim"];
        let note = &claim["provenBy"]["grade"]["noteLiteral"];
        assert_eq!(
            note["de"],
            json!(format!(
                "{} ({})",
                fin["display_de"].as_str().unwrap(),
                fin["word_de"].as_str().unwrap()
            ))
        );
        assert_eq!(
            note["en"],
            json!(format!(
                "{} ({})",
                fin["display_en"].as_str().unwrap(),
                fin["word_en"].as_str().unwrap()
            ))
        );
        let modules = weighted_input(id).expect("input")["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .map(|p| p["modules"].as_array().expect("modules").len())
            .sum::<usize>();
        assert_eq!(claim["hasPart"].as_array().map(Vec::len), Some(modules));
        assert_eq!(
            v["issuer"]["http://data.europa.eu/snb/model/elm/eidasLegalIdentifier"]["notation"],
            json!("DE150546536")
        );
        assert_eq!(v["identifier"]["notation"], json!(code));
        let image = v["displayParameter"]["individualDisplay"]["displayDetail"]["image"]["content"]
            .as_str()
            .expect("image");
        assert!(image.starts_with("iVBORw0KGgo"), "a PNG: {}", &image[..20]);
    }
    // The validator can fail: without `validFrom` (required once) and
    // without the display image (the organisation is embedded in several
    // places with one id, so a field dropped from one copy would still be
    // there in the others).
    let file = dir.path().join("erfurt-ba-2019.jsonld");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    for (drop, expect) in [
        ("validFrom", "validFrom"),
        ("displayParameter", "displayParameter"),
    ] {
        let mut broken = v.clone();
        broken.as_object_mut().expect("object").remove(drop);
        let path = dir.path().join("broken.jsonld");
        std::fs::write(&path, broken.to_string()).expect("write");
        let (ok, msg) = shacl(&path);
        assert!(!ok && msg.contains(expect), "{drop}: {msg}");
    }
}

/// `--page-image` embeds the operator's rendering of page 1 (PNG or JPEG by
/// signature); anything else is refused naming the file.
#[test]
fn elm_page_image_is_embedded_or_refused() {
    let dir = ledger();
    let code = register(
        dir.path(),
        &record("Muster", weighted_input("erfurt-ba-2019").expect("input")),
    );
    let jpeg = [0xFF_u8, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
    std::fs::write(dir.path().join("page1.jpg"), jpeg).expect("write");
    let (c, _, err) = zeugnis(
        dir.path(),
        &[
            "export-elm",
            &code,
            "-o",
            "a.jsonld",
            "--page-image",
            "page1.jpg",
        ],
    );
    assert_eq!(c, 0, "{err}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a.jsonld")).expect("read"))
            .expect("json");
    let image = &v["displayParameter"]["individualDisplay"]["displayDetail"]["image"];
    assert_eq!(image["content"], json!("/9j/4AAQSkZJRg=="));
    assert!(image["contentType"]["id"]
        .as_str()
        .expect("id")
        .ends_with("/JPEG"));
    let (c, _, err) = zeugnis(
        dir.path(),
        &[
            "export-elm",
            &code,
            "-o",
            "b.jsonld",
            "--page-image",
            "doc.pdf",
        ],
    );
    assert_eq!(c, 2, "{err}");
    assert!(
        err.contains("doc.pdf") && err.contains("not a PNG or JPEG"),
        "{err}"
    );
    assert!(!dir.path().join("b.jsonld").exists());
}

/// DIN 91379: a Cyrillic name is refused with the field, the code point and
/// the offset, and no file is written.
#[test]
fn a_name_outside_din_91379_is_refused_naming_field_and_offset() {
    let dir = ledger();
    let code = register(
        dir.path(),
        &record("Иванова", weighted_input("erfurt-ba-2019").expect("input")),
    );
    for cmd in ["export-xhs", "export-elm"] {
        let (c, _, err) = zeugnis(dir.path(), &[cmd, &code, "-o", "out"]);
        assert_eq!(c, 2, "{cmd}: {err}");
        assert!(
            err.contains("holder.family_name")
                && err.contains("U+0418")
                && err.contains("offset 0"),
            "{cmd}: {err}"
        );
        assert!(!dir.path().join("out").exists(), "{cmd} wrote a file");
    }
}

/// After erasure (GDPR) there is no holder data, so nothing is exported;
/// a revoked certificate and one without a weighted grade are refused too.
#[test]
fn erased_revoked_and_ungraded_certificates_are_not_exported() {
    let dir = ledger();
    let input = weighted_input("erfurt-ba-2019").expect("input");
    let erased = register(dir.path(), &record("Muster", input.clone()));
    let (c, _, err) = zeugnis(dir.path(), &["erase", &erased, "--reason", "GDPR Art. 17"]);
    assert_eq!(c, 0, "{err}");
    let revoked = register(dir.path(), &record("Muster", input));
    let (c, _, err) = zeugnis(
        dir.path(),
        &["revoke", &revoked, "--reason", "error in the grade"],
    );
    assert_eq!(c, 0, "{err}");
    let examiners = register(
        dir.path(),
        &record(
            "Muster",
            json!({"ruleset": "potsdam-examiners-2025", "grades": ["1.3", "2.0"]}),
        ),
    );
    let cases = [
        (&erased, "erased"),
        (&revoked, "revoked"),
        (&examiners, "weighted"),
    ];
    for (code, why) in cases {
        for cmd in ["export-xhs", "export-elm"] {
            let (c, _, err) = zeugnis(dir.path(), &[cmd, code, "-o", "out"]);
            assert_eq!(c, 2, "{cmd} {why}: {err}");
            assert!(err.contains(why), "{cmd} {why}: {err}");
            assert!(!dir.path().join("out").exists());
        }
    }
}

/// `export-xhs` and `export-elm` while `zeugnis run` holds the ledger (issue
/// 15): they go through the daemon's control socket and print, exit and
/// write exactly what they do with the daemon stopped (then a read-only
/// open), for a good export, a page image, a refused option and an
/// unknown code.
#[test]
fn exports_run_through_the_daemon_with_the_same_output_as_stopped() {
    let dir = ledger();
    let code = register(
        dir.path(),
        &record("Muster", weighted_input("erfurt-ba-2019").expect("input")),
    );
    let jpeg = [0xFF_u8, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
    std::fs::write(dir.path().join("page1.jpg"), jpeg).expect("write");
    let cases: Vec<Vec<&str>> = vec![
        vec!["export-xhs", &code, "-o", "out.xml"],
        vec!["export-xhs", &code, "--lang", "en", "-o", "out.xml"],
        vec![
            "export-elm",
            &code,
            "-o",
            "out.jsonld",
            "--page-image",
            "page1.jpg",
        ],
        vec!["export-elm", &code, "--lang", "de", "-o", "out.jsonld"],
        vec!["export-xhs", "AAAA-AAAA-AAAA", "-o", "out.xml"],
    ];
    let run_all = || -> Vec<(i32, String, String, Option<Vec<u8>>)> {
        cases
            .iter()
            .map(|args| {
                let (c, out, err) = zeugnis(dir.path(), args);
                let file = dir
                    .path()
                    .join(args[args.iter().position(|a| *a == "-o").expect("-o") + 1]);
                let bytes = std::fs::read(&file).ok();
                let _ = std::fs::remove_file(&file);
                (c, out, err, bytes)
            })
            .collect()
    };
    let mut d = crate::support::Daemon::start(
        dir.path(),
        "[report]\ninterval_secs = 0\n[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n",
    );
    d.wait_for_log("control socket listening");
    let (c, _, err) = zeugnis(
        dir.path(),
        &["--verbose", "export-xhs", &code, "-o", "v.xml"],
    );
    assert_eq!(c, 0, "{err}\n{}", d.log());
    assert!(err.contains("export-xhs runs in the daemon"), "{err}");
    let running = run_all();
    d.stop();
    let stopped = run_all();
    assert_eq!(running, stopped);
    let exits: Vec<i32> = running.iter().map(|r| r.0).collect();
    assert_eq!(exits, [0, 0, 0, 2, 2], "{running:?}");
    assert!(
        running[0].1.contains("wrote the XHochschule 1.2 export"),
        "{running:?}"
    );
    assert!(running[0]
        .3
        .as_ref()
        .is_some_and(|b| b.starts_with(b"<?xml")));
    assert!(running[2].3.is_some() && running[3].3.is_none() && running[4].3.is_none());
    assert!(running[4].2.contains("AAAA-AAAA-AAAA"), "{running:?}");
}

/// A one-page PDF of `w` × `h` pt whose content stream is `content`, with
/// `resources` as the page's resource dictionary and `extra` as objects
/// 5, 6, … (all uncompressed, with a correct cross-reference table).
pub(crate) fn one_page_pdf(
    w: u32,
    h: u32,
    content: &[u8],
    resources: &str,
    extra: &[Vec<u8>],
) -> Vec<u8> {
    let mut objs: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Resources {resources} /Contents 4 0 R >>"
        )
        .into_bytes(),
        stream(&format!("<< /Length {} >>", content.len()), content),
    ];
    objs.extend(extra.iter().cloned());
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut s = format!("{dict}\nstream\n").into_bytes();
    s.extend_from_slice(data);
    s.extend_from_slice(b"\nendstream");
    s
}

/// A4 with a black rectangle over the left half of the lower half (PDF y
/// grows upwards: x 0..297, y 0..421 pt).
pub(crate) fn black_rectangle_pdf() -> Vec<u8> {
    one_page_pdf(595, 842, b"0 0 0 rg 0 0 297 421 re f", "<< >>", &[])
}

/// The embedded display image of an ELM credential, decoded: (width,
/// height, RGB or grey pixels, channels).
pub(crate) fn display_image(credential: &Value) -> (u32, u32, Vec<u8>, usize) {
    let b64 = credential["displayParameter"]["individualDisplay"]["displayDetail"]["image"]
        ["content"]
        .as_str()
        .expect("image content");
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).expect("base64");
    let mut r = png::Decoder::new(bytes.as_slice())
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).expect("PNG frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type.samples())
}

/// Asserts that `img` is the rendering of [`black_rectangle_pdf`]: A4 with
/// its longest side at 1240 px, dark in the lower left quarter, light in
/// the other three.
pub(crate) fn assert_black_rectangle(img: &(u32, u32, Vec<u8>, usize)) {
    let (w, h, px, ch) = img;
    assert_eq!((*w, *h), (876, 1240), "A4 scaled to 1240 px high");
    let at = |x: u32, y: u32| px[((y * w + x) as usize) * ch];
    for (x, y, dark) in [
        (w / 4, h * 3 / 4, true),
        (10, h - 10, true),
        (w / 2 - 10, h / 2 + 10, true),
        (w * 3 / 4, h * 3 / 4, false),
        (w / 4, h / 4, false),
        (w * 3 / 4, h / 4, false),
        (w / 2 + 10, h / 2 + 10, false),
    ] {
        let v = at(x, y);
        if dark {
            assert!(v < 32, "({x}, {y}) should be dark: {v}");
        } else {
            assert!(v > 224, "({x}, {y}) should be light: {v}");
        }
    }
}

/// The display image is page 1 of the registered PDF, rendered by zeugnis:
/// a PNG whose pixels are dark exactly where the PDF draws its black
/// rectangle; the credential still conforms to the EDC shapes and the CLI
/// says which image it embedded.
#[test]
fn elm_display_image_is_the_rendered_first_page() {
    let dir = ledger();
    std::fs::write(dir.path().join("z.toml"), CONFIG).expect("config");
    let code = register_pdf(
        dir.path(),
        &record("Muster", weighted_input("erfurt-ba-2019").expect("input")),
        &black_rectangle_pdf(),
    );
    let (c, out, err) = zeugnis(
        dir.path(),
        &["export-elm", &code, "-o", "r.jsonld", "--config", "z.toml"],
    );
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("(display image: page 1 of the registered PDF, rendered)"),
        "{out}"
    );
    assert!(!err.contains("warning"), "{err}");
    let file = dir.path().join("r.jsonld");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    assert!(
        v["displayParameter"]["individualDisplay"]["displayDetail"]["image"]["contentType"]["id"]
            .as_str()
            .expect("id")
            .ends_with("/PNG")
    );
    assert_black_rectangle(&display_image(&v));
    let (ok, msg) = shacl(&file);
    assert!(ok && msg.contains("conforms"), "{msg}");
}

/// A PDF of forms that each draw the next one twice, `depth` deep: 2^depth
/// draws from a few kilobytes (the "billion laughs" of PDF).
fn laughing_forms_pdf(depth: usize) -> Vec<u8> {
    let extra: Vec<Vec<u8>> = (0..depth)
        .map(|i| {
            let (content, res) = if i + 1 < depth {
                (
                    b"/X Do /X Do".to_vec(),
                    format!("<< /XObject << /X {} 0 R >> >>", 6 + i),
                )
            } else {
                (b"0 0 0 rg 0 0 10 10 re f".to_vec(), "<< >>".to_string())
            };
            stream(
                &format!(
                    "<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources {res} /Length {} >>",
                    content.len()
                ),
                &content,
            )
        })
        .collect();
    one_page_pdf(595, 842, b"/X Do", "<< /XObject << /X 5 0 R >> >>", &extra)
}

/// A registered PDF that cannot be rendered within the limits (2^40 form
/// draws: the time limit), or not at all (its blob is lost), ends in the
/// QR-code fallback with a warning naming the reason: the export still
/// succeeds, with a conforming credential, and never hangs.
#[test]
fn elm_display_image_falls_back_to_the_qr_code_with_a_warning() {
    for (name, pdf, lose_blob, reason) in [
        (
            "lost blob",
            crate::support::pdf("lost"),
            true,
            "the registered PDF cannot be read",
        ),
        (
            "laughing forms",
            laughing_forms_pdf(40),
            false,
            "rendering took longer than 20000 ms (PAGE_RENDER_TIMEOUT_MS)",
        ),
    ] {
        let dir = ledger();
        std::fs::write(dir.path().join("z.toml"), CONFIG).expect("config");
        let code = register_pdf(
            dir.path(),
            &record("Muster", weighted_input("erfurt-ba-2019").expect("input")),
            &pdf,
        );
        if lose_blob {
            assert_eq!(crate::support::remove_blob(dir.path(), &pdf), 1, "{name}");
        }
        let (c, out, err) = zeugnis(
            dir.path(),
            &["export-elm", &code, "-o", "f.jsonld", "--config", "z.toml"],
        );
        assert_eq!(c, 0, "{name}: {err}");
        assert!(
            err.contains("warning: page 1 of the registered PDF was not rendered")
                && err.contains(reason)
                && err.contains("QR code of the verification page"),
            "{name}: {err}"
        );
        assert!(
            out.contains("(display image: the QR code of the verification page (fallback))"),
            "{name}: {out}"
        );
        let file = dir.path().join("f.jsonld");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        // The QR fallback: a square greyscale PNG.
        let (w, h, _, ch) = display_image(&v);
        assert_eq!((w == h, ch), (true, 1), "{name}");
        let (ok, msg) = shacl(&file);
        assert!(ok && msg.contains("conforms"), "{name}: {msg}");
    }
}
