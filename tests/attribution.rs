//! The audit trail (issue 18, ledger/FORMAT.md §3.5): every record written
//! through the admin API or by a command line with `--operator` /
//! `ZEUGNIS_OPERATOR` carries that operator id; the intake's records and a
//! command line without an operator stay unattributed; `show`, the admin
//! API, `audit` and the proof bundle show the ids; the public listener never
//! does; `verify-proof` and the Python verifier accept the ledger.

use crate::support::{output, zeugnis, Daemon};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use zeugnis::registry::{DocumentFile, OperatorId, RegistrationRecord, Registry};

const TOKEN: &str = "a-test-admin-token-of-at-least-32-bytes-0123456789";

/// Free ports, the admin token, and the admin API's writes attributed to a
/// configured id instead of the default `api`.
const CONFIG: &str = "base_url = \"https://zeugnisse.example.de\"\n\
scans = \"inbox\"\n\
[intake]\nstable_ms = 100\n\
[report]\ninterval_secs = 0\n\
[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n\
admin_token_file = \"admin.token\"\nadmin_token_operator = \"exam-system\"\n";

fn record(given: &str) -> Value {
    json!({
        "institution": "Universität Erfurt",
        "kind": "transcript",
        "language": "de",
        "holder": {"given_name": given, "family_name": "Mustermann", "birth_date": "2000-02-29",
                   "birth_place": "Gotha", "student_id": "4711"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
        "last_exam_date": "2026-09-30"
    })
}

/// One request to `addr`; (status, body).
fn http(addr: &str, method: &str, path: &str, token: &str, body: &[u8]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head");
    s.write_all(body).expect("body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `zeugnis ARGS` in `dir` with `ZEUGNIS_OPERATOR` set.
fn zeugnis_as(dir: &Path, operator: &str, args: &[&str]) -> (i32, String, String) {
    output(
        std::process::Command::new(crate::support::bin())
            .args(args)
            .current_dir(dir)
            .env("ZEUGNIS_OPERATOR", operator),
    )
}

/// The operator of each event of `show --json`, by kind.
fn operators_by_kind(cert: &Value) -> Vec<(String, Value)> {
    cert["events"]
        .as_array()
        .unwrap_or_else(|| panic!("events in {cert}"))
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().expect("kind").to_string(),
                e["operator"].clone(),
            )
        })
        .collect()
}

/// Two ids write, one through the admin API (configured
/// `admin_token_operator`) and one with `--operator` through the control
/// socket, a third with `ZEUGNIS_OPERATOR` on a stopped ledger, and one
/// command line without an operator; each record carries the right id (or
/// none), the public listener shows none of them, and the ledger and the
/// proof bundle verify (zeugnis and the Python verifier).
#[test]
fn each_record_carries_who_wrote_it_and_the_public_never_sees_it() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let (code, _, err) = zeugnis(dir, &["init", "--origin", "attr.example/zeugnis/1"]);
    assert_eq!(code, 0, "{err}");
    let token_file = dir.join("admin.token");
    std::fs::write(&token_file, TOKEN).expect("token");
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    for (name, given) in [("a.json", "Erika"), ("b.json", "Max"), ("c.json", "Lena")] {
        std::fs::write(dir.join(name), record(given).to_string()).expect("record");
    }
    for n in 1..=3 {
        std::fs::write(
            dir.join(format!("d{n}.pdf")),
            crate::support::pdf(&format!("digital image {n}")),
        )
        .expect("pdf");
    }
    let mut d = Daemon::start(dir, CONFIG);
    d.wait_for_log("control socket listening");
    let (admin, public) = (d.addr("admin"), d.addr("public"));
    let ok = |out: (i32, String, String), d: &Daemon| {
        assert_eq!(out.0, 0, "{}\n{}", out.2, d.log());
        out.1
    };

    // A clerk registers through the daemon with --operator.
    let a: Value = serde_json::from_str(&ok(
        zeugnis(
            dir,
            &[
                "register",
                "--record",
                "a.json",
                "--document",
                "d1.pdf",
                "--json",
                "--operator",
                "op-clerk1",
            ],
        ),
        &d,
    ))
    .expect("json");
    // Another registration without an operator: unattributed.
    let b: Value = serde_json::from_str(&ok(
        zeugnis(
            dir,
            &[
                "register",
                "--record",
                "b.json",
                "--document",
                "d2.pdf",
                "--json",
            ],
        ),
        &d,
    ))
    .expect("json");
    let (code_a, key_a) = (
        a["code"].as_str().expect("code"),
        a["key"].as_str().expect("key"),
    );
    let code_b = b["code"].as_str().expect("code");
    // The exam system revokes A and voids B through the admin API.
    let (status, body) = http(
        &admin,
        "POST",
        &format!("/admin/v1/certificates/{code_a}/revoke"),
        TOKEN,
        br#"{"reason": "issued in error", "category": "issued_in_error"}"#,
    );
    assert_eq!(status, 200, "{body}\n{}", d.log());
    let (status, body) = http(
        &admin,
        "POST",
        &format!("/admin/v1/certificates/{code_b}/void"),
        TOKEN,
        br#"{"reason": "wrong programme"}"#,
    );
    assert_eq!(status, 200, "{body}\n{}", d.log());

    // A bad or reserved id is refused before anything is sent.
    let (code, _, err) = zeugnis(
        dir,
        &["void", code_a, "--reason", "x", "--operator", "Op One"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--operator: operator id"), "{err}");
    let (code, _, err) = zeugnis_as(dir, "api", &["void", code_a, "--reason", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ZEUGNIS_OPERATOR") && err.contains("reserved"),
        "{err}"
    );

    // show --json (CLI, through the daemon) lists who wrote each record.
    let shown: Value =
        serde_json::from_str(&ok(zeugnis(dir, &["show", code_a, "--json"]), &d)).expect("json");
    assert_eq!(
        operators_by_kind(&shown),
        vec![
            ("Registered".to_string(), json!("op-clerk1")),
            ("RevokedWithCategory".to_string(), json!("exam-system")),
        ],
        "{shown}"
    );
    let shown: Value =
        serde_json::from_str(&ok(zeugnis(dir, &["show", code_b, "--json"]), &d)).expect("json");
    assert_eq!(
        operators_by_kind(&shown),
        vec![
            ("Registered".to_string(), Value::Null),
            ("Voided".to_string(), json!("exam-system")),
        ],
        "{shown}"
    );
    let text = ok(zeugnis(dir, &["show", code_a]), &d);
    assert!(text.contains("Registered by op-clerk1"), "{text}");
    assert!(
        text.contains("RevokedWithCategory by exam-system"),
        "{text}"
    );
    // The admin API shows them too.
    let (status, body) = http(
        &admin,
        "GET",
        &format!("/admin/v1/certificates/{code_a}"),
        TOKEN,
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        operators_by_kind(&v),
        vec![
            ("Registered".to_string(), json!("op-clerk1")),
            ("RevokedWithCategory".to_string(), json!("exam-system")),
        ],
        "{v}"
    );

    // The public listener never shows an operator id: the JSON, the page
    // and the check of a PDF, with and without the key.
    let pdf = std::fs::read(dir.join("d1.pdf")).expect("pdf");
    for (what, status, body) in [
        (
            "json",
            get(&public, &format!("/api/v1/certificates/{code_a}")),
        ),
        (
            "json+key",
            get(&public, &format!("/api/v1/certificates/{code_a}-{key_a}")),
        ),
        ("page", get(&public, &format!("/de/{code_a}"))),
        ("page+key", get(&public, &format!("/de/{code_a}-{key_a}"))),
        ("check", post_pdf(&public, &pdf)),
    ]
    .map(|(w, (s, b))| (w, s, b))
    {
        assert_eq!(status, 200, "{what}: {body}");
        assert!(body.contains(&code_a[..4]), "{what} is about A: {body}");
        for id in ["op-clerk1", "exam-system", "\"events\"", "\"operator\""] {
            assert!(!body.contains(id), "{what} shows {id}: {body}");
        }
    }
    d.stop();

    // A stopped ledger: the command line writes itself, attributed by
    // ZEUGNIS_OPERATOR.
    let c: Value = serde_json::from_str(&ok_local(zeugnis_as(
        dir,
        "op-clerk2",
        &[
            "register",
            "--record",
            "c.json",
            "--document",
            "d3.pdf",
            "--json",
        ],
    )))
    .expect("json");
    let code_c = c["code"].as_str().expect("code");
    let shown: Value =
        serde_json::from_str(&ok_local(zeugnis(dir, &["show", code_c, "--json"]))).expect("json");
    assert_eq!(
        operators_by_kind(&shown),
        vec![("Registered".to_string(), json!("op-clerk2"))],
        "{shown}"
    );

    // audit counts the records per operator.
    let audit = ok_local(zeugnis(dir, &["audit"]));
    let line = |id: &str| {
        audit
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no line for {id} in {audit}"))
            .to_string()
    };
    assert_eq!(line("op-clerk1"), "1", "{audit}");
    assert_eq!(line("op-clerk2"), "1", "{audit}");
    assert_eq!(line("exam-system"), "2", "{audit}");
    assert!(audit.contains("4 attributed record(s)"), "{audit}");

    // The proof bundle carries the ids in its records and verifies.
    let vkey = ok_local(zeugnis(dir, &["vkey"])).trim().to_string();
    ok_local(zeugnis(dir, &["export-proof", code_a, "-o", "proof-a"]));
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir.join("proof-a/records")).expect("records") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
            seen.push((
                v["kind"].as_str().expect("kind").to_string(),
                v["operator"].clone(),
            ));
            let want_version = if v["operator"].is_null() { 1 } else { 2 };
            assert_eq!(v["version"], want_version, "{v}");
        }
    }
    assert!(
        seen.contains(&("Registered".into(), json!("op-clerk1"))),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("RevokedWithCategory".into(), json!("exam-system"))),
        "{seen:?}"
    );
    let out = ok_local(zeugnis(dir, &["verify-proof", "proof-a", "--vkey", &vkey]));
    assert!(out.contains("verified"), "{out}");

    // The Python verifier, written from FORMAT.md, agrees.
    crate::support::python_modules(&["blake3", "cryptography"]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_ledger.py");
    let (code, out, err) = output(
        std::process::Command::new("python3")
            .arg(&script)
            .arg(dir.join("ledger"))
            .args(["--vkey", &vkey]),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["attributed"],
        json!({"op-clerk1": 1, "op-clerk2": 1, "exam-system": 2}),
        "{out}"
    );
    let (code, _, err) = output(
        std::process::Command::new("python3")
            .arg(&script)
            .args(["--bundle"])
            .arg(dir.join("proof-a"))
            .args(["--vkey", &vkey]),
    );
    assert_eq!(code, 0, "{err}");
}

fn ok_local(out: (i32, String, String)) -> String {
    assert_eq!(out.0, 0, "{}", out.2);
    out.1
}

/// `GET path` on the public listener; (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    http(addr, "GET", path, "", b"")
}

/// `POST /api/v1/check` with a PDF (raw body); (status, body).
fn post_pdf(addr: &str, pdf: &[u8]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "POST /api/v1/check HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/pdf\r\nContent-Length: {}\r\n\r\n",
        pdf.len()
    )
    .expect("head");
    s.write_all(pdf).expect("body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The attribution is set for one operation only: after an attributed
/// operation (also a failed one) the next write, e.g. the intake's, is
/// unattributed again.
#[test]
fn the_attribution_ends_with_the_operation() {
    let (_t, ledger) = crate::support::new_ledger(Default::default());
    let mut r = Registry::over(ledger, "http://x").expect("registry");
    let rec = RegistrationRecord::parse("r.json", record("Erika").to_string().as_bytes())
        .expect("record");
    let doc = |n: u32| {
        vec![DocumentFile {
            name: "d.pdf".into(),
            bytes: crate::support::pdf(&format!("document {n}")),
        }]
    };
    let op = OperatorId::parse("op-abc").expect("id");
    let a = r
        .with_operator(Some(op.clone()), |r| r.register(&rec, &doc(1), None))
        .expect("register")
        .code;
    assert_eq!(r.operator(), None, "restored after success");
    let refused = r.with_operator(Some(op.clone()), |r| r.void("0000-0000-0000", "x"));
    assert!(refused.is_err(), "an unknown code is refused");
    assert_eq!(r.operator(), None, "restored after an error");
    // A nested scope restores the outer one.
    r.with_operator(Some(op.clone()), |r| {
        let inner = OperatorId::parse("op-inner").expect("id");
        r.with_operator(Some(inner.clone()), |r| {
            assert_eq!(r.operator(), Some(&inner));
        });
        assert_eq!(r.operator(), Some(&op));
    });
    // The unscoped setter returns what it replaced, for the caller to restore.
    assert_eq!(r.set_operator(Some(op.clone())), None);
    assert_eq!(r.set_operator(None), Some(op.clone()));
    r.archive_scan(&a, &crate::support::pdf("scan"), "s.pdf")
        .expect("scan");
    let c = r.show(&a, None).expect("show");
    let ops: Vec<(String, Option<String>)> = c
        .events
        .iter()
        .map(|e| (e.kind.clone(), e.operator.as_ref().map(|o| o.to_string())))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("Registered".to_string(), Some("op-abc".to_string())),
            ("ScanArchived".to_string(), None),
        ]
    );
    // The derived state (what the public listener serialises) holds no
    // events; only `show` reads them from the ledger.
    let found = r.find(&a).expect("find");
    assert!(found.events.is_empty());
    let json = serde_json::to_string(&found).expect("json");
    assert!(!json.contains("op-abc"), "{json}");
}
