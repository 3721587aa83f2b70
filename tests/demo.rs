//! `zeugnis demo` end to end (issue 20): the command a new user runs first.
//! It runs in a fresh folder on free ports; the test waits for the guide it
//! prints, fetches every printed URL from the real daemon and checks each
//! certificate's state (valid, revoked, superseded, awaiting its scan), that
//! the holder data shows only with the key and that the admin API answers
//! with the printed token file, that the printed web-desk account signs in
//! with the desk's CSRF-protected form (and a wrong password does not), and
//! that each scan the intake archived is a two-page PDF (cover sheet, then
//! the printed certificate) whose QR code is the certificate's; then it
//! sends SIGINT and checks the closing message, the exit code, and that the
//! ledger left behind passes `audit`.

use crate::support::{bin, zeugnis, PATIENCE};
use serde_json::Value;
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc;

/// One GET over HTTP/1.0 (no chunked bodies); (status, body).
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// One certificate as the guide prints it.
#[derive(Debug, Default)]
struct Printed {
    state: String,
    code: String,
    without_key: String,
    with_key: String,
    json: String,
}

/// The per-state blocks of the guide.
fn parse_guide(lines: &[String]) -> Vec<Printed> {
    let mut out: Vec<Printed> = Vec::new();
    for l in lines {
        let t = l.trim();
        if let Some(url) = t.strip_prefix("without key") {
            out.last_mut().expect("a state line first").without_key = url.trim().into();
        } else if let Some(url) = t.strip_prefix("with key") {
            out.last_mut().expect("a state line first").with_key = url.trim().into();
        } else if let Some(url) = t.strip_prefix("JSON") {
            out.last_mut().expect("a state line first").json = url.trim().into();
        } else if l.starts_with("  ") && !l.starts_with("   ") {
            let mut words = t.split_whitespace();
            if let (Some(state), Some(code)) = (words.next(), words.next()) {
                if let Some(state) = state.strip_suffix(':') {
                    if ["valid", "revoked", "superseded", "awaiting_scan"].contains(&state) {
                        out.push(Printed {
                            state: state.into(),
                            code: code.into(),
                            ..Printed::default()
                        });
                    }
                }
            }
        }
    }
    out
}

/// The `name=value` of a reply's `Set-Cookie` header.
fn cookie_of(r: &crate::http::Reply) -> String {
    r.header("set-cookie")
        .split(';')
        .next()
        .expect("a cookie")
        .to_string()
}

/// The CSRF token of a desk page's first form.
fn csrf_of(page: &str) -> String {
    let field = "name=\"csrf\" value=\"";
    let at = page
        .find(field)
        .unwrap_or_else(|| panic!("no CSRF field in:\n{page}"));
    let rest = &page[at + field.len()..];
    rest[..rest.find('"').expect("end of value")].to_string()
}

/// Opens the desk's sign-in form and sends it with `name` and `password`;
/// returns the answer to the POST.
fn desk_sign_in(admin: SocketAddr, name: &str, password: &str) -> crate::http::Reply {
    let form = crate::http::request(
        admin,
        "GET",
        "/desk/signin",
        &[("Accept-Language", "en")],
        b"",
    );
    assert_eq!(form.status, 200, "{}", form.text());
    let cookie = cookie_of(&form);
    let csrf = csrf_of(&form.text());
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("csrf", csrf.as_str()),
            ("name", name),
            ("password", password),
        ])
        .finish();
    crate::http::request(
        admin,
        "POST",
        "/desk/signin",
        &[
            ("Accept-Language", "en"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &cookie),
        ],
        body.as_bytes(),
    )
}

/// The value after `label` on the guide's line that starts with it (after
/// the indent).
fn labelled<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{}", lines.join("\n")))
        .split_whitespace()
        .next()
        .unwrap_or_default()
}

/// The demo's process, killed when the test ends before it did (a failed
/// assertion must not leave the daemon running).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The API's state name of a state the guide prints.
fn json_state(printed: &str) -> &str {
    match printed {
        "valid" => "archived",
        other => other,
    }
}

#[test]
fn demo_serves_every_state_and_ends_on_sigint() {
    let t = tempfile::tempdir().expect("tempdir");
    let folder = t.path().join("demo");
    let log = t.path().join("demo.log");
    let mut child = KillOnDrop(
        std::process::Command::new(bin())
            .args(["demo", "--data"])
            .arg(&folder)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .current_dir(t.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start zeugnis demo"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(l) => {
                let end = l.starts_with("Ctrl-C ends the demo");
                lines.push(l);
                if end {
                    break;
                }
            }
            Err(e) => {
                let _ = child.0.kill();
                panic!(
                    "the demo never printed its guide ({e}):\n{}\nlog:\n{}",
                    lines.join("\n"),
                    log_text()
                );
            }
        }
    }
    let all = lines.join("\n");
    let printed = parse_guide(&lines);
    let states: Vec<&str> = printed.iter().map(|p| p.state.as_str()).collect();
    assert_eq!(
        states,
        ["valid", "revoked", "superseded", "awaiting_scan", "valid"],
        "{all}"
    );
    for p in &printed {
        assert!(p.without_key.starts_with("http://127.0.0.1:"), "{all}");
        let (status, body) = get(&p.json, &[]);
        assert_eq!(status, 200, "{}: {body}\nlog:\n{}", p.json, log_text());
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["state"], json_state(&p.state), "{}: {v}", p.code);
        assert!(v.get("holder").is_none(), "{v}");
        let (status, page) = get(&p.without_key, &[]);
        assert_eq!(status, 200, "{}", p.without_key);
        let (status, with_key) = get(&p.with_key, &[]);
        assert_eq!(status, 200, "{}", p.with_key);
        assert!(
            with_key.len() > page.len(),
            "{}: the key adds the holder data",
            p.code
        );
    }
    let (_, page) = get(&printed[0].without_key, &[]);
    assert!(
        !page.contains("Mustermann"),
        "no holder data without the key"
    );
    let (_, page) = get(&printed[0].with_key, &[]);
    assert!(page.contains("Mustermann"), "{page}");
    let superseded: Value = serde_json::from_str(&get(&printed[2].json, &[]).1).expect("json");
    assert_eq!(
        superseded["superseded_by"].as_str(),
        Some(printed[4].code.replace('-', "").as_str()),
        "{superseded}"
    );
    // The admin API with the token file the guide names.
    let admin = all
        .lines()
        .find_map(|l| l.strip_prefix("Admin API: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the admin line");
    let token = std::fs::read_to_string(folder.join("admin.token")).expect("token");
    let auth = format!("Bearer {}", token.trim());
    let (status, body) = get(&format!("{admin}status"), &[("Authorization", &auth)]);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("status json");
    assert_eq!(v["states"]["archived"], 2, "{v}");
    assert_eq!(v["states"]["revoked"], 1, "{v}");
    assert_eq!(v["states"]["superseded"], 1, "{v}");
    assert_eq!(v["states"]["awaiting_scan"], 1, "{v}");
    let (status, _) = get(&format!("{admin}status"), &[]);
    assert_eq!(status, 401, "the admin API needs the token");

    // The web desk with the account the guide prints.
    let desk_url = all
        .lines()
        .find_map(|l| l.strip_prefix("Web desk for the exam office: "))
        .expect("the desk line")
        .trim();
    let desk: SocketAddr = desk_url
        .strip_prefix("http://")
        .and_then(|r| r.strip_suffix("/desk/"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("desk address {desk_url:?}"));
    let user = labelled(&lines, "user name");
    let password = labelled(&lines, "password");
    assert_eq!(user, "demo", "{all}");
    assert!(password.len() >= 12, "{all}");
    assert_eq!(
        std::fs::read_to_string(folder.join("desk.password")).expect("desk.password"),
        password
    );
    assert!(
        all.lines()
            .any(|l| l.contains(desk_url) && l.contains("sign in as demo")),
        "what to try next names the desk: {all}"
    );
    let wrong = desk_sign_in(desk, user, "not the demo password");
    assert_eq!(wrong.status, 401, "{}\nlog:\n{}", wrong.text(), log_text());
    let signed = desk_sign_in(desk, user, password);
    assert_eq!(
        signed.status,
        303,
        "{}\nlog:\n{}",
        signed.text(),
        log_text()
    );
    let session = cookie_of(&signed);
    let home = crate::http::request(
        desk,
        "GET",
        "/desk/",
        &[("Accept-Language", "en"), ("Cookie", &session)],
        b"",
    );
    assert_eq!(home.status, 200, "{}\nlog:\n{}", home.text(), log_text());
    assert!(home.text().contains("Signed in as"), "{}", home.text());

    // Each archived scan: the cover sheet, then the printed certificate, in
    // one PDF (the intake took the files; the archive keeps their bytes).
    let mut scans = 0;
    for p in printed.iter().filter(|p| p.state != "awaiting_scan") {
        let plain = p.code.replace('-', "");
        let name = format!("scan-{plain}.pdf");
        assert!(
            all.lines()
                .any(|l| l.trim_start().starts_with(&name) && l.contains(" archived ")),
            "{name} archived: {all}"
        );
        let (status, body) = get(
            &format!("{admin}certificates/{plain}"),
            &[("Authorization", &auth)],
        );
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("show json");
        let blake3 = v["scan"]["blake3"]
            .as_str()
            .unwrap_or_else(|| panic!("{plain}: no scan in {v}"));
        let bytes = std::fs::read(folder.join("ledger/blobs").join(&blake3[..2]).join(blake3))
            .expect("the archived scan");
        let pdf = lopdf::Document::load_mem(&bytes).expect("a PDF");
        assert_eq!(
            pdf.get_pages().len(),
            2,
            "{name}: cover sheet and certificate"
        );
        let texts = zeugnis::scans::decode::decode_qr_from_pdf(&bytes).expect("decodes");
        assert_eq!(texts.len(), 1, "{name}: {texts:?}");
        assert!(
            texts[0].starts_with(&format!("{plain}:")),
            "{name}: {texts:?}"
        );
        scans += 1;
    }
    assert_eq!(scans, 4, "three scans before the corrections, one after");

    // Ctrl-C.
    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    let mut rest = Vec::new();
    while let Ok(l) = rx.recv_timeout(PATIENCE) {
        rest.push(l);
    }
    let status = child.0.wait().expect("wait");
    let rest = rest.join("\n");
    assert_eq!(status.code(), Some(0), "{rest}\nlog:\n{}", log_text());
    assert!(
        rest.contains(&format!(
            "demo stopped. The data is in {}",
            folder.display()
        )),
        "{rest}"
    );
    let (c, out, err) = zeugnis(Path::new(&folder), &["--data", "ledger", "audit"]);
    assert_eq!(c, 0, "{out}{err}");
}

/// A folder that is in use is refused (exit 2) before anything is written.
#[test]
fn demo_refuses_a_folder_that_is_not_empty() {
    let t = tempfile::tempdir().expect("tempdir");
    std::fs::write(t.path().join("keep.txt"), b"mine").expect("write");
    let (c, out, err) = zeugnis(
        t.path(),
        &[
            "demo",
            "--data",
            ".",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(c, 2, "{out}{err}");
    assert!(err.contains("not empty"), "{err}");
    let left: Vec<_> = std::fs::read_dir(t.path()).expect("dir").collect();
    assert_eq!(left.len(), 1, "nothing written");
}
