//! The HTTP service end to end: a real server on 127.0.0.1:0 over a temp
//! ledger with one certificate in every state, driven by a small blocking
//! HTTP/1.1 client over plain TCP (so that slow and malformed clients can be
//! played too). Covers every route and status, the security headers, the
//! limits (rate, header-read timeout, body, connections, keep-alive), the
//! admin token, registration over multipart, proofs, tiles and metrics.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeugnis::http::{self, AppState, HttpConfig};
use zeugnis::ledger::merkle;
use zeugnis::ledger::proof::TlogProof;
use zeugnis::ledger::{Ledger, LedgerOptions};
use zeugnis::registry::{DocumentFile, Issued, RegistrationRecord, Registry};

const TOKEN: &str = "0123456789abcdef0123456789abcdef-test-token";

fn record(given: &str, language: &str) -> Value {
    json!({
        "institution": "Universität Erfurt",
        "kind": "transcript",
        "language": language,
        "holder": {"given_name": given, "family_name": "Mustermann", "birth_date": "2000-02-29",
                   "birth_place": "Gotha", "student_id": "4711"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
        "last_exam_date": "2026-09-30"
    })
}

fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.7\n% {tag}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n").into_bytes()
}

fn register(r: &mut Registry, given: &str) -> Issued {
    let rec = RegistrationRecord::parse("record", record(given, "de").to_string().as_bytes())
        .expect("valid record");
    r.register(
        &rec,
        &[DocumentFile {
            name: "doc.pdf".into(),
            bytes: pdf(given),
        }],
        None,
    )
    .expect("register")
}

/// One certificate in every state.
struct Certs {
    archived: Issued,
    awaiting: Issued,
    revoked: Issued,
    superseded: Issued,
    replacement: Issued,
    voided: Issued,
    erased: Issued,
}

const SCAN: &[u8] = b"%PDF-1.7\n% scan of the signed original\n%%EOF\n";

fn fixtures(r: &mut Registry) -> Certs {
    let archived = register(r, "Anna");
    r.archive_scan(&archived.code, SCAN, "scan.pdf")
        .expect("archive scan");
    let awaiting = register(r, "Berta");
    let revoked = register(r, "Clara");
    r.revoke(&revoked.code, "Täuschung festgestellt", "2027-01-31")
        .expect("revoke");
    let superseded = register(r, "Dora");
    let rec = RegistrationRecord::parse("record", record("Dora", "de").to_string().as_bytes())
        .expect("valid record");
    let replacement = r
        .supersede(
            &superseded.code,
            &rec,
            &[DocumentFile {
                name: "new.pdf".into(),
                bytes: pdf("Dora corrected"),
            }],
        )
        .expect("supersede");
    let voided = register(r, "Emil");
    r.void(&voided.code, "scan illegible").expect("void");
    let erased = register(r, "Frieda");
    r.erase(&erased.code, "GDPR Art. 17 request")
        .expect("erase");
    Certs {
        archived,
        awaiting,
        revoked,
        superseded,
        replacement,
        voided,
        erased,
    }
}

/// A running server over a temp ledger.
struct Server {
    rt: tokio::runtime::Runtime,
    public: SocketAddr,
    admin: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    done: Option<tokio::task::JoinHandle<Result<(), http::HttpError>>>,
    state: Arc<AppState>,
    registry: Arc<Mutex<Registry>>,
    certs: Certs,
    vkey: String,
    writes: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

/// A test configuration: free ports, an admin token, generous rate limits.
fn test_config(dir: &Path) -> HttpConfig {
    let token_file = dir.join("admin-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    HttpConfig {
        public_addr: "127.0.0.1:0".parse().expect("addr"),
        admin_addr: "127.0.0.1:0".parse().expect("addr"),
        admin_token_file: Some(token_file),
        scans_dir: dir.join("scans"),
        lookups_per_ip_per_minute: 100_000,
        lookup_burst: 100_000,
        lookups_global_per_second: 100_000,
        requests_per_ip_per_second: 100_000,
        request_burst: 100_000,
        requests_global_per_second: 100_000,
        ..HttpConfig::default()
    }
}

impl Server {
    fn start(tweak: impl FnOnce(&mut HttpConfig)) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("ledger");
        let ledger =
            Ledger::init(&data, "test.example/zeugnis/1", LedgerOptions::default()).expect("init");
        let vkey = ledger.verifiers()[0].vkey();
        let mut registry = Registry::over(ledger, "http://verify.test").expect("registry");
        let certs = fixtures(&mut registry);
        let registry = Arc::new(Mutex::new(registry));
        let mut cfg = test_config(dir.path());
        tweak(&mut cfg);
        let mut state = AppState::new(&cfg, &data, registry.clone()).expect("state");
        let writes = Arc::new(AtomicUsize::new(0));
        let w = writes.clone();
        state.on_write(Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        let state = Arc::new(state);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let bound = rt.block_on(http::bind(&cfg)).expect("bind");
        let (public, admin) = (bound.public_addr(), bound.admin_addr());
        let (stop, rx) = tokio::sync::watch::channel(false);
        let done = rt.spawn(bound.serve(state.clone(), rx));
        Server {
            rt,
            public,
            admin,
            stop,
            done: Some(done),
            state,
            registry,
            certs,
            vkey,
            writes,
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> Reply {
        request(self.public, "GET", path, &[], b"")
    }

    fn admin(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let auth = format!("Bearer {TOKEN}");
        let mut h = vec![("Authorization", auth.as_str())];
        h.extend_from_slice(headers);
        request(self.admin, method, path, &h, body)
    }

    /// POSTs a registration (record JSON + one document) as multipart.
    fn admin_multipart(&self, path: &str, record: &[u8], document: &[u8]) -> Reply {
        let (ct, body) = multipart(&[
            ("record", None, record),
            ("document", Some("doc.pdf"), document),
        ]);
        self.admin("POST", path, &[("Content-Type", &ct)], &body)
    }

    /// Requests shutdown and waits for `serve` to return.
    fn shutdown(mut self) -> Result<(), http::HttpError> {
        let _ = self.stop.send(true);
        let done = self.done.take().expect("running");
        self.rt.block_on(done).expect("serve task")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(done) = self.done.take() {
            let _ = self.rt.block_on(done);
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no header {name}: {:?}", self.headers))
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head: {}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// One request on a fresh connection (`Connection: close`), read to EOF.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    read_reply(&mut s)
}

/// Reads one answer: to the end of its `Content-Length` if it has one
/// (some peers keep the connection open despite `Connection: close`),
/// else to EOF. A reset after the answer (a refused body) still leaves the
/// answer read.
fn read_reply(s: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = parse_reply(&raw[..end + 4]);
            if let Some(len) = head
                .headers
                .get("content-length")
                .and_then(|v| v.parse::<usize>().ok())
            {
                if raw.len() >= end + 4 + len {
                    return parse_reply(&raw[..end + 4 + len]);
                }
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return parse_reply(&raw),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
}

fn plain(code: &str) -> String {
    code.replace('-', "")
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "zeugnis-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/pdf\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn pages_show_every_state_in_both_languages() {
    let s = Server::start(|_| {});
    let c = &s.certs;
    let cases: [(&str, &Issued, u16, &str, &str); 6] = [
        ("archived", &c.archived, 200, "Gültig", "Valid"),
        (
            "awaiting",
            &c.awaiting,
            200,
            "Original noch nicht archiviert",
            "original not yet archived",
        ),
        ("revoked", &c.revoked, 200, "Widerrufen", "Revoked"),
        ("superseded", &c.superseded, 200, "Ersetzt", "Superseded"),
        (
            "voided",
            &c.voided,
            200,
            "Ungültig",
            "Invalid (process ended)",
        ),
        (
            "erased",
            &c.erased,
            200,
            "Original noch nicht archiviert",
            "original not yet archived",
        ),
    ];
    for (what, cert, status, de, en) in cases {
        for (lang, want) in [("de", de), ("en", en)] {
            let r = s.get(&format!("/{lang}/{}", plain(&cert.code)));
            assert_eq!(r.status, status, "{what} {lang}: {}", r.text());
            let page = r.text();
            assert!(page.contains(want), "{what} {lang}: missing {want:?}");
            assert!(
                page.contains(&format!("<html lang=\"{lang}\">")),
                "{what} {lang}"
            );
            assert!(page.contains("<details>"), "{what} {lang}: ledger evidence");
            assert!(!page.contains("<script"), "{what} {lang}: no scripts");
            assert!(
                !page.contains("style=\""),
                "{what} {lang}: no inline styles"
            );
            assert!(
                !page.contains("Mustermann"),
                "{what} {lang}: no holder without key"
            );
        }
    }
    // Revoked: reason and date; superseded: link to the replacement.
    let r = s.get(&format!("/en/{}", plain(&c.revoked.code))).text();
    assert!(
        r.contains("Täuschung festgestellt") && r.contains("2027-01-31"),
        "{r}"
    );
    let r = s.get(&format!("/de/{}", plain(&c.superseded.code))).text();
    assert!(
        r.contains(&format!("href=\"/de/{}\"", plain(&c.replacement.code))),
        "{r}"
    );
    // Unknown, malformed, typo.
    let r = s.get("/de/QNVCFM3P4VDF");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("Unbekannter Code"), "{}", r.text());
    let r = s.get("/en/NOT-A-CODE");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("probably a typo"), "{}", r.text());
    let code = plain(&c.archived.code);
    let mut key: Vec<char> = c.archived.key.chars().collect();
    key[5] = if key[5] == '0' { '1' } else { '0' };
    let typo: String = key.into_iter().collect();
    let r = s.get(&format!("/de/{code}-{typo}"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("vermutlich vertippt"), "{}", r.text());
}

/// A well-formed key (check character right) that is not `right`.
fn other_key(code: &str, right: &str) -> String {
    for a in zeugnis::codes::ALPHABET {
        for check in zeugnis::codes::ALPHABET {
            let k = format!("{}2345{}", *a as char, *check as char);
            if k != right && zeugnis::codes::parse_code_and_key(&format!("{code}{k}")).is_ok() {
                return k;
            }
        }
    }
    panic!("no other well-formed key for {code}");
}

#[test]
fn holder_data_and_scan_only_with_the_key() {
    let s = Server::start(|_| {});
    let c = &s.certs;
    let code = plain(&c.archived.code);
    let with_key = format!("{code}-{}", c.archived.key);
    let r = s.get(&format!("/de/{with_key}"));
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains("Anna Mustermann") && page.contains("2000-02-29"),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"/de/{with_key}/scan\"")),
        "{page}"
    );
    let scan = s.get(&format!("/de/{with_key}/scan"));
    assert_eq!(scan.status, 200);
    assert_eq!(scan.body, SCAN);
    assert_eq!(scan.header("content-type"), "application/pdf");
    // Without the key, or with a wrong one: no scan, no holder data.
    assert_eq!(s.get(&format!("/de/{code}/scan")).status, 403);
    let wrong = other_key(&code, &c.archived.key);
    let r = s.get(&format!("/en/{code}-{wrong}"));
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("does not match") && !r.text().contains("Anna"),
        "{}",
        r.text()
    );
    assert_eq!(s.get(&format!("/en/{code}-{wrong}/scan")).status, 403);
    // Awaiting its scan: nothing to show yet.
    let awaiting = format!("{}-{}", plain(&c.awaiting.code), c.awaiting.key);
    assert_eq!(s.get(&format!("/en/{awaiting}/scan")).status, 404);
    // Erased: the page says so, and the scan is gone.
    let erased = format!("{}-{}", plain(&c.erased.code), c.erased.key);
    let r = s.get(&format!("/en/{erased}"));
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("erased on request") && !r.text().contains("Frieda"),
        "{}",
        r.text()
    );
    assert_eq!(s.get(&format!("/en/{erased}/scan")).status, 410);
}

#[test]
fn security_headers_on_every_response() {
    let s = Server::start(|_| {});
    let code = plain(&s.certs.archived.code);
    let mut replies = Vec::new();
    for path in [
        "/",
        "/de/",
        "/en/?code=x",
        &format!("/de/{code}"),
        "/de/QNVCFM3P4VDF",
        "/en/garbage",
        &format!("/api/v1/certificates/{code}"),
        &format!("/api/v1/certificates/{code}/proof"),
        "/api/v1/openapi.json",
        "/checkpoint",
        "/tile/0/000.p/1",
        "/healthz",
        "/metrics",
        "/static/style.css",
        "/nope",
    ] {
        replies.push((path.to_string(), s.get(path)));
    }
    replies.push((
        "POST /de/x".into(),
        request(s.public, "POST", "/de/x", &[], b""),
    ));
    replies.push((
        "admin 401".into(),
        request(s.admin, "GET", "/admin/v1/status", &[], b""),
    ));
    replies.push((
        "admin ok".into(),
        s.admin("GET", "/admin/v1/status", &[], b""),
    ));
    for (what, r) in &replies {
        let csp = r.header("content-security-policy");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{what}: {csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{what}: {csp}"
        );
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(r.header("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(r.header("x-frame-options"), "DENY", "{what}");
    }
    let statuses: Vec<u16> = replies.iter().map(|(_, r)| r.status).collect();
    assert_eq!(
        statuses,
        [
            200, 200, 400, 200, 404, 400, 200, 200, 200, 200, 200, 200, 200, 200, 404, 405, 401,
            200
        ]
    );
}

#[test]
fn index_follows_accept_language_and_the_form_redirects() {
    let s = Server::start(|_| {});
    let en = request(
        s.public,
        "GET",
        "/",
        &[("Accept-Language", "fr-FR, en-GB;q=0.8, de;q=0.5")],
        b"",
    );
    assert_eq!(en.status, 200);
    assert!(en.text().contains("<html lang=\"en\">") && en.text().contains("<label for=\"code\">"));
    assert_eq!(en.header("vary"), "Accept-Language");
    let de = request(
        s.public,
        "GET",
        "/",
        &[("Accept-Language", "de-DE,de;q=0.9,en;q=0.8")],
        b"",
    );
    assert!(de.text().contains("<html lang=\"de\">"));
    let code = &s.certs.archived.code;
    let r = s.get(&format!(
        "/en/?code={}+{}",
        code.to_lowercase(),
        s.certs.archived.key
    ));
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        format!("/en/{}-{}", plain(code), s.certs.archived.key)
    );
    // The language switch keeps the code.
    let page = s.get(&format!("/de/{}", plain(code))).text();
    assert!(
        page.contains(&format!("href=\"/en/{}\"", plain(code))),
        "{page}"
    );
}

#[test]
fn json_api_states_and_errors() {
    let s = Server::start(|_| {});
    let c = &s.certs;
    let cases: [(&Issued, &str); 6] = [
        (&c.archived, "archived"),
        (&c.awaiting, "awaiting_scan"),
        (&c.revoked, "revoked"),
        (&c.superseded, "superseded"),
        (&c.voided, "voided"),
        (&c.replacement, "awaiting_scan"),
    ];
    for (cert, state) in cases {
        let r = s.get(&format!("/api/v1/certificates/{}", plain(&cert.code)));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), "application/json");
        let v = r.json();
        assert_eq!(v["state"], state, "{v}");
        assert!(v.get("holder").is_none(), "{v}");
        assert!(
            v["ledger"]["records"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{v}"
        );
        assert!(v["ledger"]["checkpoint"]
            .as_str()
            .is_some_and(|n| n.starts_with("test.example/zeugnis/1\n")));
    }
    let v = s
        .get(&format!(
            "/api/v1/certificates/{}",
            plain(&c.superseded.code)
        ))
        .json();
    assert_eq!(v["superseded_by"], plain(&c.replacement.code));
    let v = s
        .get(&format!("/api/v1/certificates/{}", plain(&c.revoked.code)))
        .json();
    assert_eq!(v["revoked"]["reason"], "Täuschung festgestellt");
    assert_eq!(v["revoked"]["effective_date"], "2027-01-31");
    let v = s
        .get(&format!("/api/v1/certificates/{}", plain(&c.erased.code)))
        .json();
    assert_eq!(v["erased"], true);
    let v = s
        .get(&format!(
            "/api/v1/certificates/{}-{}",
            plain(&c.archived.code),
            c.archived.key
        ))
        .json();
    assert_eq!(v["holder"]["holder"]["given_name"], "Anna", "{v}");
    let r = s.get("/api/v1/certificates/QNVCFM3P4VDF");
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (404, json!("unknown_code"))
    );
    let r = s.get("/api/v1/certificates/123");
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (400, json!("malformed_code"))
    );
    let wrong = other_key(&plain(&c.archived.code), &c.archived.key);
    let r = s.get(&format!(
        "/api/v1/certificates/{}-{wrong}",
        plain(&c.archived.code)
    ));
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (403, json!("wrong_key"))
    );
}

#[test]
fn proof_verifies_offline_with_the_export_verifier() {
    let s = Server::start(|_| {});
    let code = plain(&s.certs.revoked.code);
    let r = s.get(&format!("/api/v1/certificates/{code}/proof"));
    assert_eq!(r.status, 200, "{}", r.text());
    let proof = TlogProof::parse(&r.text()).expect("a tlog-proof");
    let record = proof.extra.clone().expect("record bytes in extra");
    let dir = tempfile::tempdir().expect("tempdir");
    let seq = proof.index;
    std::fs::write(dir.path().join(format!("{seq}.bin")), &record).expect("write");
    let path = dir.path().join(format!("{seq}.tlog-proof"));
    std::fs::write(&path, r.text()).expect("write");
    let checked = zeugnis::export::verify_proof(&path, Some(&s.vkey)).expect("proof verifies");
    assert!(!checked.is_empty());
    // Each record about the certificate can be asked for; others cannot.
    let seqs: Vec<u64> = s.get(&format!("/api/v1/certificates/{code}")).json()["seqs"]
        .as_array()
        .expect("seqs")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let first = s.get(&format!(
        "/api/v1/certificates/{code}/proof?seq={}",
        seqs[0]
    ));
    assert_eq!(
        TlogProof::parse(&first.text()).expect("proof").index,
        seqs[0]
    );
    let r = s.get(&format!("/api/v1/certificates/{code}/proof?seq=0"));
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (404, json!("unknown_seq"))
    );
    let r = s.get(&format!("/api/v1/certificates/{code}/proof?seq=x"));
    assert_eq!(r.status, 400);
}

#[test]
fn checkpoint_and_tiles_follow_c2sp() {
    let s = Server::start(|_| {});
    let (note, size, leaf0) = {
        let r = s.registry.lock().expect("lock");
        let l = r.ledger();
        (
            l.checkpoint_note().to_string(),
            l.size(),
            merkle::leaf_hash(&l.read_record(0).expect("record 0")),
        )
    };
    let r = s.get("/checkpoint");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), note);
    assert!(size < 256, "the fixture fits one partial tile");
    let r = s.get(&format!("/tile/0/000.p/{size}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len() as u64, size * 32);
    assert_eq!(&r.body[..32], &leaf0);
    assert_eq!(r.header("content-type"), "application/octet-stream");
    // A narrower partial tile is a prefix; a full tile does not exist yet.
    let r = s.get("/tile/0/000.p/2");
    assert_eq!(r.body.len(), 64);
    for bad in [
        "/tile/0/000",
        "/tile/0/001.p/1",
        "/tile/0/000.p/0",
        "/tile/0/00.p/1",
        "/tile/entries/000",
        "/tile/x/000",
    ] {
        assert_eq!(s.get(bad).status, 404, "{bad}");
    }
}

#[test]
fn check_upload_finds_registered_digital_images() {
    let s = Server::start(|c| c.check_bytes_max = 4096);
    let post = |body: &[u8], headers: &[(&str, &str)]| {
        request(s.public, "POST", "/api/v1/check", headers, body)
    };
    let r = post(&pdf("Anna"), &[("Content-Type", "application/pdf")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["registered"], true);
    assert_eq!(v["certificate"]["code"], plain(&s.certs.archived.code));
    assert_eq!(v["certificate"]["state"], "archived");
    let v = post(&pdf("never registered"), &[]).json();
    assert_eq!(v["registered"], false);
    let (ct, body) = multipart(&[("file", Some("x.pdf"), &pdf("Clara"))]);
    let v = post(&body, &[("Content-Type", &ct)]).json();
    assert_eq!(v["certificate"]["state"], "revoked", "{v}");
    assert_eq!(post(b"GIF89a", &[]).status, 415);
    assert_eq!(post(b"", &[]).status, 400);
    // Over the limit: declared, and streamed without a length.
    let big = vec![b'x'; 5000];
    let r = post(&big, &[]);
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (413, json!("too_large"))
    );
    let mut chunked = TcpStream::connect(s.public).expect("connect");
    let mut req = b"POST /api/v1/check HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        req.extend_from_slice(b"400\r\n");
        req.extend_from_slice(&[b'%'; 1024]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    chunked.write_all(&req).expect("write");
    let mut raw = Vec::new();
    let _ = chunked.read_to_end(&mut raw);
    assert_eq!(parse_reply(&raw).status, 413);
    assert_eq!(s.get("/api/v1/check").status, 405);
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let s = Server::start(|c| {
        c.lookups_per_ip_per_minute = 1;
        c.lookup_burst = 2;
    });
    let path = format!("/de/{}", plain(&s.certs.archived.code));
    assert_eq!(s.get(&path).status, 200);
    assert_eq!(s.get(&path).status, 200);
    let r = s.get(&path);
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // Other routes have their own budget; health is never limited.
    assert_eq!(s.get("/checkpoint").status, 200);
    assert_eq!(s.get("/healthz").status, 200);
}

#[test]
fn forwarded_for_counts_only_from_trusted_proxies() {
    let limit = |c: &mut HttpConfig| {
        c.lookups_per_ip_per_minute = 1;
        c.lookup_burst = 1;
    };
    let path = "/api/v1/certificates/QNVCFM3P4VDF";
    let from = |s: &Server, client: &str| {
        request(s.public, "GET", path, &[("X-Forwarded-For", client)], b"").status
    };
    // Untrusted peer: the header is ignored, both requests are the peer's.
    let s = Server::start(limit);
    assert_eq!(from(&s, "203.0.113.1"), 404);
    assert_eq!(from(&s, "203.0.113.2"), 429);
    drop(s);
    // Trusted proxy: each forwarded client has its own budget.
    let s = Server::start(|c| {
        limit(c);
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    });
    assert_eq!(from(&s, "203.0.113.1"), 404);
    assert_eq!(from(&s, "203.0.113.2"), 404);
    assert_eq!(from(&s, "203.0.113.1"), 429);
}

/// Proves that a client dribbling its headers is cut off: with a 300 ms
/// header-read timeout, a client sending one header line every 100 ms for
/// 10 s must find the connection closed before it is done.
#[test]
fn header_read_timeout_cuts_off_a_slow_client() {
    let s = Server::start(|c| c.header_read_timeout_ms = 300);
    let mut conn = TcpStream::connect(s.public).expect("connect");
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        .expect("write");
    let mut closed = false;
    for i in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        if conn
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .is_err()
        {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match conn.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {
                // hyper may answer 408 before closing; then it closes.
                closed = true;
                break;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "the server kept a dribbling client for 10 s");
}

#[test]
fn connection_limit_refuses_with_503_and_keepalive_limit_closes() {
    let s = Server::start(|c| c.keepalive_requests_max = 2);
    // Two requests on one connection: the second answer closes it.
    let mut conn = TcpStream::connect(s.public).expect("connect");
    conn.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .expect("write");
    let mut raw = Vec::new();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    conn.read_to_end(&mut raw)
        .expect("server closes after two requests");
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    drop(s);
    let s = Server::start(|c| c.connections_max = 2);
    // Two idle connections hold both slots; the third is refused.
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.public).expect("connect"))
        .collect();
    // The server has accepted them once one request on each is answered.
    for mut c in idle.iter() {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("write");
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).expect("answer");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    let r = s.get("/healthz");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), "1");
    drop(idle);
}

#[test]
fn admin_needs_the_token() {
    let s = Server::start(|_| {});
    let r = request(s.admin, "GET", "/admin/v1/status", &[], b"");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").starts_with("Bearer"));
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("missing bearer token")));
    let r = request(
        s.admin,
        "GET",
        "/admin/v1/status",
        &[("Authorization", "Bearer wrong")],
        b"",
    );
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("wrong bearer token")));
    let r = s.admin("GET", "/admin/v1/status", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["origin"], "test.example/zeugnis/1");
    assert_eq!(v["states"]["archived"], 1, "{v}");
    // The admin routes are not on the public listener.
    assert_eq!(s.get("/admin/v1/status").status, 404);
}

#[test]
fn admin_token_file_must_be_private_and_long() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, TOKEN).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = http::read_admin_token(&file).expect_err("0644 is refused");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    std::fs::write(&file, "short").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let e = http::read_admin_token(&file).expect_err("short token is refused");
    assert!(e.to_string().contains("at least 32"), "{e}");
    let e = http::read_admin_token(&dir.path().join("missing")).expect_err("missing");
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn admin_register_revoke_void_erase_then_lookup() {
    let s = Server::start(|_| {});
    let rec = record("Greta", "en").to_string();
    let doc = pdf("Greta");
    let r = s.admin_multipart("/admin/v1/register", rec.as_bytes(), &doc);
    assert_eq!(r.status, 201, "{}", r.text());
    let issued = r.json();
    let code = plain(issued["code"].as_str().expect("code"));
    let key = issued["key"].as_str().expect("key").to_string();
    assert_eq!(s.writes.load(Ordering::SeqCst), 1, "write hook ran");
    let page = s.get(&format!("/en/{code}-{key}"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Greta Mustermann"), "{}", page.text());
    // Bad records are named.
    let bad = record("Greta", "fr").to_string();
    let r = s.admin_multipart("/admin/v1/register", bad.as_bytes(), &doc);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("language")),
        "{}",
        r.text()
    );
    let r = s.admin(
        "POST",
        "/admin/v1/register",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 400);
    // Revoke, then void is refused (409), then erase.
    let json_ct = [("Content-Type", "application/json")];
    let r = s.admin(
        "POST",
        &format!("/admin/v1/certificates/{code}/revoke"),
        &json_ct,
        br#"{"reason": "error in the transcript", "effective_date": "2027-02-01"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "revoked");
    let page = s.get(&format!("/en/{code}")).text();
    assert!(page.contains("error in the transcript") && page.contains("2027-02-01"));
    let r = s.admin(
        "POST",
        &format!("/admin/v1/certificates/{code}/void"),
        &json_ct,
        br#"{"reason": "x"}"#,
    );
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (409, json!("transition"))
    );
    let r = s.admin(
        "POST",
        &format!("/admin/v1/certificates/{code}/erase"),
        &json_ct,
        br#"{"reason": "GDPR", "extra": 1}"#,
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("extra"), "{}", r.text());
    let r = s.admin(
        "POST",
        &format!("/admin/v1/certificates/{code}/erase"),
        &json_ct,
        br#"{"reason": "GDPR"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["erased"], true);
    let r = s.admin(
        "POST",
        "/admin/v1/certificates/QNVCFM3P4VDF/void",
        &json_ct,
        br#"{"reason": "x"}"#,
    );
    assert_eq!(r.status, 404);
    // Supersede over multipart links old and new.
    let old = plain(&s.certs.awaiting.code);
    let r = s.admin_multipart(
        &format!("/admin/v1/certificates/{old}/supersede"),
        rec.as_bytes(),
        &pdf("Greta 2"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let new = plain(r.json()["code"].as_str().expect("code"));
    assert_eq!(
        s.get(&format!("/api/v1/certificates/{old}")).json()["superseded_by"],
        new
    );
    assert_eq!(
        s.writes.load(Ordering::SeqCst),
        4,
        "register, revoke, erase, supersede"
    );
}

#[test]
fn admin_bodies_are_limited() {
    let s = Server::start(|c| {
        c.admin_json_bytes_max = 64;
        c.admin_body_bytes_max = 2048;
    });
    let code = plain(&s.certs.awaiting.code);
    let long = format!("{{\"reason\": \"{}\"}}", "x".repeat(100));
    let r = s.admin(
        "POST",
        &format!("/admin/v1/certificates/{code}/void"),
        &[("Content-Type", "application/json")],
        long.as_bytes(),
    );
    assert_eq!(r.status, 413);
    let (ct, body) = multipart(&[
        ("record", None, b"{}"),
        ("document", Some("big.pdf"), &vec![b'%'; 4096]),
    ]);
    let r = s.admin(
        "POST",
        "/admin/v1/register",
        &[("Content-Type", &ct)],
        &body,
    );
    assert_eq!(r.status, 413, "{}", r.text());
}

#[test]
fn metrics_count_requests_intake_and_ledger_size() {
    let s = Server::start(|_| {});
    assert_eq!(
        s.get(&format!("/de/{}", plain(&s.certs.archived.code)))
            .status,
        200
    );
    assert_eq!(s.get("/de/QNVCFM3P4VDF").status, 404);
    s.state.metrics().intake("archived");
    s.state.metrics().intake("something else");
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    let text = r.text();
    for want in [
        "zeugnis_http_requests_total{listener=\"public\",route=\"page\",status=\"200\"} 1",
        "zeugnis_http_requests_total{listener=\"public\",route=\"page\",status=\"404\"} 1",
        "zeugnis_http_request_duration_seconds_bucket{le=\"0.005\",route=\"page\"}",
        "zeugnis_intake_files_total{outcome=\"archived\"} 1",
        "zeugnis_intake_files_total{outcome=\"other\"} 1",
        "zeugnis_ledger_records ",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let size = s.registry.lock().expect("lock").ledger().size();
    assert!(
        text.contains(&format!("zeugnis_ledger_records {size}\n")),
        "{text}"
    );
}

#[test]
fn openapi_document_names_every_json_route() {
    let s = Server::start(|_| {});
    let served = s.get("/api/v1/openapi.json");
    assert_eq!(served.status, 200);
    let doc: Value = serde_json::from_str(http::public::OPENAPI_JSON).expect("OpenAPI is JSON");
    assert_eq!(served.json(), doc);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
            .expect("read"),
    )
    .expect("json");
    assert_eq!(on_disk, doc);
    for route in http::public::JSON_ROUTES {
        assert!(
            doc["paths"].get(route).is_some(),
            "{route} missing from docs/openapi.json"
        );
    }
}

#[test]
fn shutdown_drains_and_returns() {
    let s = Server::start(|c| c.shutdown_grace_ms = 5_000);
    assert_eq!(s.get("/healthz").status, 200);
    let public = s.public;
    s.shutdown().expect("serve returns Ok");
    assert!(
        TcpStream::connect(public).is_err(),
        "the listener is closed"
    );
}

/// Proves that every kind of lookup is held to the time floor: with a
/// 300 ms floor, no unknown, wrong-key, malformed, mistyped or valid lookup
/// answers sooner. Only a lower bound is asserted: the floor is a sleep
/// until a deadline, which never returns early, so the test cannot flake.
#[test]
fn every_lookup_answers_no_sooner_than_the_floor() {
    let s = Server::start(|c| c.lookup_time_floor_ms = 300);
    let code = plain(&s.certs.archived.code);
    let wrong = other_key(&code, &s.certs.archived.key);
    let mut typo: Vec<char> = s.certs.archived.key.chars().collect();
    typo[5] = if typo[5] == '0' { '1' } else { '0' };
    let typo: String = typo.into_iter().collect();
    for (what, path, status) in [
        ("unknown", "/de/QNVCFM3P4VDF".to_string(), 404),
        ("wrong key", format!("/de/{code}-{wrong}"), 403),
        ("malformed", "/de/QNVC".to_string(), 400),
        ("typo", format!("/de/{code}-{typo}"), 400),
        (
            "json unknown",
            "/api/v1/certificates/QNVCFM3P4VDF".to_string(),
            404,
        ),
        (
            "json wrong key",
            format!("/api/v1/certificates/{code}-{wrong}"),
            403,
        ),
    ] {
        let started = std::time::Instant::now();
        let r = s.get(&path);
        let took = started.elapsed();
        assert_eq!(r.status, status, "{what}");
        assert!(
            took >= Duration::from_millis(300),
            "{what} answered after {took:?}"
        );
    }
}

#[test]
fn head_has_no_body_and_oversized_heads_are_refused() {
    let s = Server::start(|c| c.header_bytes_max = 8192);
    let head = request(s.public, "HEAD", "/de/", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "{}", head.text());
    assert!(head
        .header("content-security-policy")
        .contains("default-src 'none'"));
    let big = "x".repeat(10_000);
    let r = request(s.public, "GET", "/", &[("X-Big", &big)], b"");
    assert_eq!(r.status, 431);
}

#[test]
fn toml_config_rejects_unknown_keys_and_zero_limits() {
    let cfg: HttpConfig = toml::from_str(
        "public_addr = \"0.0.0.0:8443\"\ntrusted_proxies = [\"10.0.0.1\"]\nlookup_burst = 5\n",
    )
    .expect("valid config");
    assert_eq!(cfg.public_addr.port(), 8443);
    assert_eq!(cfg.lookup_burst, 5);
    assert_eq!(cfg.connections_max, HttpConfig::default().connections_max);
    let e = toml::from_str::<HttpConfig>("conections_max = 5\n").expect_err("typo in a key");
    assert!(e.to_string().contains("conections_max"), "{e}");
    let zero = HttpConfig {
        connections_max: 0,
        ..HttpConfig::default()
    };
    let e = zero.validate().expect_err("zero limit");
    assert!(e.to_string().contains("http.connections_max"), "{e}");
}

/// The W3C WebDriver endpoint of a running chromedriver.
struct WebDriver {
    child: std::process::Child,
    addr: SocketAddr,
    session: String,
}

impl WebDriver {
    /// Starts chromedriver (installing Debian's `chromium` and
    /// `chromium-driver` with apt-get if it is missing) and a headless
    /// session with a phone-sized window that keeps the browser console log.
    fn start() -> WebDriver {
        let have = |p: &str| {
            std::process::Command::new("which")
                .arg(p)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !have("chromedriver") {
            let ok = std::process::Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "--no-install-recommends",
                    "chromium",
                    "chromium-driver",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "apt-get install chromium chromium-driver failed");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut ready = false;
        for _ in 0..100 {
            if TcpStream::connect(addr).is_ok()
                && webdriver(addr, "GET", "/status", None)["value"]["ready"] == true
            {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ready, "chromedriver did not become ready");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                            "--disable-dev-shm-usage", "--window-size=412,915"]},
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let v = webdriver(addr, "POST", "/session", Some(&caps));
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        WebDriver {
            child,
            addr,
            session,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let v = webdriver(
            self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        );
        assert!(v["value"].get("error").is_none(), "{method} {path}: {v}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({"url": url})));
    }

    /// A string-valued GET command (`/url`, `/source`).
    fn text(&self, path: &str) -> String {
        let v = self.cmd("GET", path, None);
        v.as_str()
            .unwrap_or_else(|| panic!("{path}: {v}"))
            .to_string()
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("element id")
            .to_string()
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let png = self.cmd("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("PNG");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("http-browser");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write screenshot");
        path
    }

    /// Console messages at level SEVERE (CSP violations, failed loads, errors).
    fn console_errors(&self) -> Vec<String> {
        let v = webdriver(
            self.addr,
            "POST",
            &format!("/session/{}/se/log", self.session),
            Some(&json!({"type": "browser"})),
        );
        v["value"]
            .as_array()
            .unwrap_or_else(|| panic!("browser log: {v}"))
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        let _ = webdriver(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn webdriver(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let headers: &[(&str, &str)] = if body.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    let r = request(addr, method, path, headers, body.as_bytes());
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// Proves in a real headless browser (Debian's chromium through
/// chromedriver's W3C WebDriver API) that the pages work as served, under
/// their Content-Security-Policy: in both languages it loads the form,
/// types a code and key into it, submits, sees the holder's data, follows
/// the link to the scan, saves screenshots, and the browser's console has
/// no errors (a CSP violation or failed load would be one).
#[test]
fn browser_enters_a_code_and_follows_the_scan_link_without_console_errors() {
    let s = Server::start(|_| {});
    let wd = WebDriver::start();
    let base = format!("http://{}", s.public);
    let code = &s.certs.archived.code;
    let key = &s.certs.archived.key;
    for (lang, heading) in [("de", "Zeugnis prüfen"), ("en", "Verify a certificate")] {
        wd.goto(&format!("{base}/{lang}/"));
        let form = wd.text("/source");
        assert!(form.contains(heading), "{lang}: {form}");
        let input = wd.find("#code");
        wd.cmd(
            "POST",
            &format!("/element/{input}/value"),
            Some(&json!({"text": format!("{} {key}", code.to_lowercase())})),
        );
        let button = wd.find("button[type=submit]");
        wd.cmd(
            "POST",
            &format!("/element/{button}/click"),
            Some(&json!({})),
        );
        let page_url = wd.text("/url");
        assert!(
            page_url.ends_with(&format!("/{lang}/{}-{key}", plain(code))),
            "{page_url}"
        );
        let page = wd.text("/source");
        assert!(page.contains("Anna Mustermann"), "{lang}: {page}");
        let shot = wd.screenshot(&format!("verification-{lang}.png"));
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000));
        let link = wd.find("a[href$='/scan']");
        wd.cmd("POST", &format!("/element/{link}/click"), Some(&json!({})));
        let scan_url = wd.text("/url");
        assert!(
            scan_url.ends_with(&format!("/{lang}/{}-{key}/scan", plain(code))),
            "{scan_url}"
        );
        wd.screenshot(&format!("scan-{lang}.png"));
    }
    let errors = wd.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
