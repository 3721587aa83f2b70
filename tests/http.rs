//! The HTTP service end to end: the real daemon (`zeugnis run --config
//! FILE`, listening on 127.0.0.1:0) over a temp ledger with one certificate
//! in every state, driven by a small blocking HTTP/1.1 client over plain TCP
//! (so that slow and malformed clients can be played too). Covers every route and status, the security headers, the
//! limits (rate, header-read timeout, body, connections, keep-alive), the
//! admin token, registration over multipart, proofs, tiles and metrics.

use crate::support::{inbox_entries as entries, Daemon, PATIENCE};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeugnis::http::{self, HttpConfig};
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
    crate::support::pdf(tag)
}

/// The registration record with module grades (Erfurt BA 2019: final
/// 1.76, shown as "1,76 - gut" (two places), 30 credit points counted).
pub(crate) fn graded_record(given: &str) -> Value {
    let mut v = record(given, "de");
    v["grades"] = json!({"ruleset": "erfurt-ba-2019", "parts": [{"id": "all", "required_lp": "30", "modules": [
        {"id": "M1", "lp": "10", "grade": "1.3", "mandatory": true},
        {"id": "M2", "lp": "10", "grade": "2.0", "mandatory": true},
        {"id": "M3", "lp": "5", "grade": "1.7", "mandatory": true},
        {"id": "M4", "lp": "5", "grade": "3.0", "mandatory": false},
        {"id": "M5", "lp": "5", "grade": "2.3", "mandatory": false}]}]});
    v
}

fn register_graded(r: &mut Registry, given: &str) -> Issued {
    let rec = RegistrationRecord::parse("record", graded_record(given).to_string().as_bytes())
        .expect("valid graded record");
    r.register(
        &rec,
        &[DocumentFile {
            name: "doc.pdf".into(),
            bytes: pdf(given),
        }],
        None,
    )
    .expect("register graded")
}

pub(crate) fn register(r: &mut Registry, given: &str) -> Issued {
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
pub(crate) struct Certs {
    pub(crate) archived: Issued,
    pub(crate) awaiting: Issued,
    pub(crate) revoked: Issued,
    superseded: Issued,
    replacement: Issued,
    voided: Issued,
    erased: Issued,
}

const SCAN: &[u8] = b"%PDF-1.7\n% scan of the signed original\n%%EOF\n";

fn fixtures(r: &mut Registry) -> Certs {
    let archived = register_graded(r, "Anna");
    r.archive_scan(&archived.code, SCAN, "scan.pdf")
        .expect("archive scan");
    let awaiting = register(r, "Berta");
    let revoked = register(r, "Clara");
    r.revoke_with_category(
        &revoked.code,
        zeugnis::ledger::record::RevocationCategory::Withdrawn,
        "Täuschung festgestellt",
        "2027-01-31",
    )
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
    let erased = register_graded(r, "Frieda");
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

/// The daemon's configuration in the tests, section by section (`""` is the
/// top level): free ports, the admin token, generous rate limits, a quick
/// intake, no periodic report. A test's overrides replace or add keys.
fn base_config() -> Vec<(String, Vec<(String, String)>)> {
    let section = |name: &str, keys: &[(&str, &str)]| {
        (
            name.to_string(),
            keys.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    vec![
        section(
            "",
            &[
                ("data", "\"ledger\""),
                ("scans", "\"scans\""),
                ("base_url", "\"http://verify.test\""),
            ],
        ),
        section("intake", &[("stable_ms", "100")]),
        section("report", &[("interval_secs", "0")]),
        section(
            "http",
            &[
                ("public_addr", "\"127.0.0.1:0\""),
                ("admin_addr", "\"127.0.0.1:0\""),
                ("admin_token_file", "\"admin-token\""),
                ("lookups_per_ip_per_minute", "100000"),
                ("lookup_burst", "100000"),
                ("lookups_global_per_second", "100000"),
                ("requests_per_ip_per_second", "100000"),
                ("request_burst", "100000"),
                ("requests_global_per_second", "100000"),
                // Set, not left to the default (which may change).
                ("lookup_time_floor_ms", "5"),
            ],
        ),
    ]
}

/// The TOML text of [`base_config`] with `overrides` applied: lines
/// `key = value`, in `[http]` unless a `[section]` line says otherwise.
fn config_text(overrides: &str) -> String {
    let mut sections = base_config();
    let mut current = "http".to_string();
    for line in overrides.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("override {line:?} is not key = value"));
        let (key, value) = (key.trim().to_string(), value.trim().to_string());
        let at = match sections.iter().position(|(n, _)| *n == current) {
            Some(at) => at,
            None => {
                sections.push((current.clone(), Vec::new()));
                sections.len() - 1
            }
        };
        let keys = &mut sections[at].1;
        keys.retain(|(k, _)| *k != key);
        keys.push((key, value));
    }
    let mut text = String::new();
    for (name, keys) in &sections {
        if !name.is_empty() {
            text.push_str(&format!("\n[{name}]\n"));
        }
        for (k, v) in keys {
            text.push_str(&format!("{k} = {v}\n"));
        }
    }
    text
}

/// Writes the admin token file (mode 0600) into `dir`.
fn write_token(dir: &Path) {
    let token_file = dir.join("admin-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// A running `zeugnis run` daemon over a temp ledger holding [`Certs`].
pub(crate) struct Server {
    pub(crate) daemon: Option<Daemon>,
    public: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) certs: Certs,
    vkey: String,
    pub(crate) dir: PathBuf,
    _t: tempfile::TempDir,
}

impl Server {
    /// Creates the ledger and the fixtures with the library, then starts
    /// the daemon on them with the test configuration plus `overrides`
    /// (see [`config_text`]) and waits until it listens.
    pub(crate) fn start(overrides: &str) -> Server {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().to_path_buf();
        let ledger = Ledger::init(
            &dir.join("ledger"),
            "test.example/zeugnis/1",
            LedgerOptions::default(),
        )
        .expect("init");
        let vkey = ledger.verifiers()[0].vkey();
        let mut registry = Registry::over(ledger, "http://verify.test").expect("registry");
        let certs = fixtures(&mut registry);
        registry.ledger().flush_index().expect("flush index");
        // The registry holds the ledger's writer lock: the daemon needs it.
        drop(registry);
        write_token(&dir);
        std::fs::create_dir(dir.join("scans")).expect("inbox");
        let mut daemon = Daemon::start(&dir, &config_text(overrides));
        let addr = |d: &mut Daemon, which: &str| -> SocketAddr {
            d.addr(which).parse().expect("a socket address")
        };
        let (public, admin) = (addr(&mut daemon, "public"), addr(&mut daemon, "admin"));
        Server {
            daemon: Some(daemon),
            public,
            admin,
            certs,
            vkey,
            dir,
            _t: t,
        }
    }

    pub(crate) fn daemon(&mut self) -> &mut Daemon {
        self.daemon.as_mut().expect("the daemon runs")
    }

    /// Stops the daemon (SIGTERM, exit 0) and starts it again on the same
    /// folder with the test configuration plus `overrides`; the listeners'
    /// addresses change (port 0).
    pub(crate) fn restart(&mut self, overrides: &str) {
        self.stop();
        let mut daemon = Daemon::start(&self.dir, &config_text(overrides));
        self.public = daemon.addr("public").parse().expect("a socket address");
        self.admin = daemon.addr("admin").parse().expect("a socket address");
        self.daemon = Some(daemon);
    }

    /// SIGTERM; the daemon must exit with code 0.
    pub(crate) fn stop(&mut self) {
        self.daemon.take().expect("the daemon runs").stop();
    }

    /// Runs `zeugnis ARGS --data ledger` in the server's folder.
    pub(crate) fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = args.to_vec();
        all.extend(["--data", "ledger"]);
        crate::support::zeugnis(&self.dir, &all)
    }

    /// The ledger, opened with the library (the daemon must be stopped).
    pub(crate) fn ledger(&self) -> Ledger {
        assert!(self.daemon.is_none(), "stop the daemon first");
        Ledger::open(&self.dir.join("ledger"), LedgerOptions::default()).expect("open ledger")
    }

    fn inbox(&self) -> PathBuf {
        self.dir.join("scans")
    }

    fn get(&self, path: &str) -> Reply {
        request(self.public, "GET", path, &[], b"")
    }

    pub(crate) fn admin(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
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

    /// Waits (at most [`PATIENCE`]) until `cond` holds, or fails naming `what`.
    pub(crate) fn wait_for(&mut self, what: &str, mut cond: impl FnMut(&Server) -> bool) {
        let t0 = std::time::Instant::now();
        while !cond(self) {
            let log = self.daemon.as_ref().map(Daemon::log).unwrap_or_default();
            assert!(
                t0.elapsed() < PATIENCE,
                "timed out waiting for {what}; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs the daemon on `config` in `dir`, which must refuse to start:
/// returns its exit code and its log (the error included).
fn refused_start(dir: &Path, config: &str) -> (Option<i32>, String) {
    let mut d = Daemon::start(dir, config);
    let t0 = std::time::Instant::now();
    loop {
        if let Some(code) = d.exited() {
            return (code, d.log());
        }
        let log = d.log();
        assert!(
            !log.contains("verification service listening"),
            "the daemon started:\n{log}"
        );
        assert!(
            t0.elapsed() < PATIENCE,
            "the daemon neither started nor exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Overrides for a daemon whose write hooks are shown with [`Probe`]s: the
/// intake rescans once an hour, and a scan for an unregistered code waits
/// `PROBE_WAITING_S` seconds.
const PROBE_CONFIG: &str =
    "[intake]\nrescan_secs = 3600\nwaiting_period_secs = 2\nidentify = [\"file_name\"]\n";

/// The waiting period of [`PROBE_CONFIG`], in seconds.
const PROBE_WAITING_S: i64 = 2;

/// A scan parked in `scans/waiting/` for a code nobody registered, whose
/// waiting period is over but which no intake pass has looked at since. The
/// next pass quarantines it (`unknown_code`); with [`PROBE_CONFIG`] and
/// nothing else changing in the inbox only a wake-up starts one, such as
/// the one the daemon's write hook sends after a successful admin write.
struct Probe {
    name: String,
}

impl Server {
    /// Parks a fresh [`Probe`] and waits until its waiting period is over.
    fn arm_probe(&mut self) -> Probe {
        for _ in 0..5 {
            let code = zeugnis::codes::Code::generate();
            let name = format!("{}.pdf", code.as_str());
            std::fs::write(
                self.inbox().join(&name),
                format!("%PDF-1.7\n% probe {}\n", code.as_str()),
            )
            .expect("drop");
            let waiting = self.inbox().join("waiting");
            let state = waiting.join(format!("{name}.waiting.json"));
            self.wait_for("the probe parked", |s| {
                state.exists() || s.quarantine_reason(&name).is_some()
            });
            let Some(since) = std::fs::read(&state)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v["since_s"].as_i64())
            else {
                continue; // quarantined already by a late pass: try again
            };
            // Past the waiting period on the intake's clock (whole seconds).
            while zeugnis::ledger::now_s() < since + PROBE_WAITING_S + 1 {
                std::thread::sleep(Duration::from_millis(100));
            }
            if waiting.join(&name).exists() {
                return Probe { name };
            }
            // A pass came after the waiting period (a slow machine): again.
        }
        panic!("no probe stayed parked past its waiting period");
    }

    /// The reason a file of this name was quarantined with, if it was.
    fn quarantine_reason(&self, name: &str) -> Option<String> {
        let dir = self.inbox().join("quarantine");
        entries(&self.inbox(), "quarantine")
            .into_iter()
            .filter(|n| n.ends_with(".reason.json"))
            .filter_map(|n| std::fs::read(dir.join(n)).ok())
            .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
            .find(|v| v["source_name"] == name)
            .map(|v| v["reason"].as_str().unwrap_or("").to_string())
    }

    /// Waits until an intake pass has quarantined the probe: something woke
    /// the intake after `what`.
    fn wait_fired(&mut self, p: &Probe, what: &str) {
        self.wait_for(&format!("the intake woken by {what}"), |s| {
            s.quarantine_reason(&p.name).is_some()
        });
        assert_eq!(
            self.quarantine_reason(&p.name).as_deref(),
            Some("unknown_code")
        );
    }

    /// The probe is still parked a while after `what`: nothing woke the
    /// intake. (A wake-up that comes later than this is not seen, so this
    /// can miss a wrong wake-up on a slow machine, never invent one.)
    fn assert_not_fired(&self, p: &Probe, what: &str) {
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            self.inbox().join("waiting").join(&p.name).exists(),
            "the intake was woken after {what}: {:?}",
            self.quarantine_reason(&p.name)
        );
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub(crate) fn header(&self, name: &str) -> &str {
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
pub(crate) fn request(
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
pub(crate) fn read_reply(s: &mut TcpStream) -> Reply {
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

pub(crate) fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
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
    let mut s = Server::start("");
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
    // Revoked: the date in words and the public category; the free-text
    // reason only with the key. Superseded: link to the replacement.
    let r = s.get(&format!("/en/{}", plain(&c.revoked.code))).text();
    assert!(
        r.contains("31 January 2027") && r.contains("withdrawn by the institution"),
        "{r}"
    );
    assert!(!r.contains("Täuschung"), "the reason is private: {r}");
    let r = s.get(&format!("/de/{}", plain(&c.revoked.code))).text();
    assert!(
        r.contains("31. Januar 2027") && r.contains("von der Hochschule zurückgenommen"),
        "{r}"
    );
    assert!(!r.contains("Täuschung"), "the reason is private: {r}");
    let r = s
        .get(&format!("/de/{}-{}", plain(&c.revoked.code), c.revoked.key))
        .text();
    assert!(r.contains("Täuschung festgestellt"), "{r}");
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
    assert!(r.text().contains("has 8 characters"), "{}", r.text());
    // The form names the wrong character and keeps what was typed.
    let r = s.get("/de/?code=QNVC-FM3P-4UDF");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("Das Zeichen „U“ an Stelle 12")
            && r.text().contains("value=\"QNVC-FM3P-4UDF\""),
        "{}",
        r.text()
    );
    let r = s.get("/en/?code=QNVC-FM3P-4UDF");
    assert!(
        r.text().contains("The character “U” at position 12"),
        "{}",
        r.text()
    );
    // The example code of the hint is a valid code (unknown here: 404, not 400).
    for lang in ["de", "en"] {
        let form = s.get(&format!("/{lang}/")).text();
        assert!(
            form.contains("QNVC-FM3P-4VDF") && !form.contains("4UDF"),
            "{form}"
        );
        assert!(
            zeugnis::codes::parse_code_and_key("QNVC-FM3P-4VDF-7K2M9S").is_ok(),
            "the example with key is valid"
        );
        assert_eq!(s.get(&format!("/{lang}/QNVCFM3P4VDF")).status, 404);
    }
    let code = plain(&c.archived.code);
    let mut key: Vec<char> = c.archived.key.chars().collect();
    key[5] = if key[5] == '0' { '1' } else { '0' };
    let typo: String = key.into_iter().collect();
    let r = s.get(&format!("/de/{code}-{typo}"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("vermutlich vertippt"), "{}", r.text());
    s.stop();
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
    let mut s = Server::start("");
    let c = &s.certs;
    let code = plain(&c.archived.code);
    let with_key = format!("{code}-{}", c.archived.key);
    let r = s.get(&format!("/de/{with_key}"));
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains("Anna Mustermann") && page.contains("29. Februar 2000"),
        "{page}"
    );
    // What the employer came for: degree, programme, final grade with its
    // predicate, credit points, last exam, the registered PDF, the sentence.
    for want in [
        "Bachelor of Arts",
        "Staatswissenschaften",
        "<dt>Gesamtnote</dt><dd>1,76 - gut</dd>",
        "<dt>Leistungspunkte (LP)</dt><dd>30</dd>",
        "30. September 2026",
        "Byte für Byte",
    ] {
        assert!(page.contains(want), "missing {want:?} in {page}");
    }
    let en = s.get(&format!("/en/{with_key}")).text();
    assert!(
        en.contains("<dt>Final grade</dt><dd>1.76 - good</dd>"),
        "{en}"
    );
    assert!(en.contains("byte-for-byte"), "{en}");
    assert!(
        page.contains(&format!("href=\"/de/{with_key}/scan\"")),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"/de/{with_key}/document/1\"")),
        "{page}"
    );
    let doc = s.get(&format!("/de/{with_key}/document/1"));
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body, pdf("Anna"));
    assert_eq!(doc.header("content-type"), "application/pdf");
    assert_eq!(s.get(&format!("/de/{with_key}/document/2")).status, 404);
    assert_eq!(s.get(&format!("/de/{with_key}/document/01")).status, 404);
    assert_eq!(s.get(&format!("/de/{code}/document/1")).status, 403);
    // Without the key: no grade, no degree, no documents.
    let public = s.get(&format!("/de/{code}")).text();
    for hidden in ["1,76", "Gesamtnote", "Bachelor", "/document/"] {
        assert!(!public.contains(hidden), "{hidden:?} without key: {public}");
    }
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
    // One red box, no green "Valid" box beside it; the status is a row.
    assert!(
        !r.text().contains("status ok") && r.text().contains("<dt>Status</dt><dd>Valid</dd>"),
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
    assert!(
        !r.text().contains("Final grade") && !r.text().contains("1.76"),
        "no grades after an erasure: {}",
        r.text()
    );
    assert_eq!(s.get(&format!("/en/{erased}/scan")).status, 410);
    assert_eq!(s.get(&format!("/en/{erased}/document/1")).status, 410);
    s.stop();
}

#[test]
fn security_headers_on_every_response() {
    let mut s = Server::start("");
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
        "/favicon.ico",
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
            200, 200, 400, 200, 404, 400, 200, 200, 200, 200, 200, 200, 200, 200, 204, 404, 405,
            401, 200
        ]
    );
    s.stop();
}

#[test]
fn index_follows_accept_language_and_the_form_redirects() {
    let mut s = Server::start("");
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
    s.stop();
}

#[test]
fn json_api_states_and_errors() {
    let mut s = Server::start("");
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
    assert!(v["revoked"].get("reason").is_none(), "private: {v}");
    assert_eq!(v["revoked"]["category"], "withdrawn");
    assert_eq!(v["revoked"]["effective_date"], "2027-01-31");
    let v = s
        .get(&format!(
            "/api/v1/certificates/{}-{}",
            plain(&c.revoked.code),
            c.revoked.key
        ))
        .json();
    assert_eq!(v["revoked"]["reason"], "Täuschung festgestellt", "{v}");
    // Grades (final and per module) only with the key, never after an erasure.
    let v = s
        .get(&format!("/api/v1/certificates/{}", plain(&c.archived.code)))
        .json();
    assert!(v.get("grade").is_none(), "no grades without the key: {v}");
    assert!(
        !v.to_string().contains("\"counted\""),
        "no module list: {v}"
    );
    let v = s
        .get(&format!("/api/v1/certificates/{}", plain(&c.erased.code)))
        .json();
    assert_eq!(v["erased"], true);
    assert!(v.get("grade").is_none(), "{v}");
    let v = s
        .get(&format!(
            "/api/v1/certificates/{}-{}",
            plain(&c.erased.code),
            c.erased.key
        ))
        .json();
    assert!(
        v.get("grade").is_none() && !v.to_string().contains("Frieda"),
        "nothing after an erasure, key or not: {v}"
    );
    let v = s
        .get(&format!(
            "/api/v1/certificates/{}-{}",
            plain(&c.archived.code),
            c.archived.key
        ))
        .json();
    assert_eq!(v["holder"]["holder"]["given_name"], "Anna", "{v}");
    assert_eq!(v["grade"]["result"]["final"]["display_de"], "1,76", "{v}");
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
    s.stop();
}

#[test]
fn proof_verifies_offline_with_the_export_verifier() {
    let mut s = Server::start("");
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
    let checked = zeugnis::export::verify_proof(&path, zeugnis::export::Trust::Vkey(&s.vkey))
        .expect("proof verifies");
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
    // The revocation record holds the private reason: its proof only with
    // the key. Without one the default is the latest public record.
    assert_eq!(proof.index, seqs[0], "default without key: Registered");
    let last = seqs[seqs.len() - 1];
    let r = s.get(&format!("/api/v1/certificates/{code}/proof?seq={last}"));
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (403, json!("key_required"))
    );
    let key = s.certs.revoked.key.clone();
    let r = s.get(&format!("/api/v1/certificates/{code}-{key}/proof"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(TlogProof::parse(&r.text()).expect("proof").index, last);
    // A Registered record with a grade record: only with the key, and not
    // after an erasure.
    let graded = plain(&s.certs.archived.code);
    let gkey = s.certs.archived.key.clone();
    let gseqs: Vec<u64> = s.get(&format!("/api/v1/certificates/{graded}")).json()["seqs"]
        .as_array()
        .expect("seqs")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let r = s.get(&format!(
        "/api/v1/certificates/{graded}/proof?seq={}",
        gseqs[0]
    ));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.get(&format!(
        "/api/v1/certificates/{graded}-{gkey}/proof?seq={}",
        gseqs[0]
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let erased = plain(&s.certs.erased.code);
    let ekey = s.certs.erased.key.clone();
    let eseq0 = s.get(&format!("/api/v1/certificates/{erased}")).json()["seqs"][0]
        .as_u64()
        .expect("seq");
    let r = s.get(&format!(
        "/api/v1/certificates/{erased}-{ekey}/proof?seq={eseq0}"
    ));
    assert_eq!(r.status, 403, "after an erasure: {}", r.text());
    let r = s.get(&format!("/api/v1/certificates/{code}/proof?seq=x"));
    assert_eq!(r.status, 400);
    s.stop();
}

/// The "verify it yourself" commands of a verification page, as a person
/// copies them: the text of the page's `<pre>curl ...</pre>` block with
/// the HTML entities undone and the page's base URL pointed at the test
/// daemon.
fn page_commands(s: &Server, page: &str) -> String {
    let start = page.find("<pre>curl ").expect("the commands") + "<pre>".len();
    let end = start + page[start..].find("</pre>").expect("end of commands");
    page[start..end]
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace("http://verify.test", &format!("http://{}", s.public))
}

/// Runs `commands` in `sh -e` in `dir`, with the built `zeugnis` first on
/// `PATH`.
fn run_commands(commands: &str, dir: &Path) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_zeugnis"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    std::process::Command::new("sh")
        .arg("-ec")
        .arg(commands)
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .expect("sh")
}

/// The "verify it yourself" commands printed on the page, run as they are
/// (in `sh`, with the page's base URL pointed at the test daemon and the
/// built `zeugnis` first on `PATH`): without the access key the downloaded
/// proof of the latest public record verifies against the printed verifier
/// key; with the key the whole proof folder, downloaded as one tar file,
/// does.
#[test]
fn proof_commands_on_the_page_verify() {
    let mut s = Server::start("");
    let c = &s.certs;
    for (path, download) in [
        (
            format!("/en/{}", plain(&c.revoked.code)),
            "proof.tlog-proof",
        ),
        (
            format!("/de/{}-{}", plain(&c.revoked.code), c.revoked.key),
            "proof.tar",
        ),
        (
            format!("/en/{}-{}", plain(&c.archived.code), c.archived.key),
            "proof.tar",
        ),
    ] {
        let page = s.get(&path).text();
        let commands = page_commands(&s, &page);
        assert!(
            commands.contains(&s.vkey),
            "the verifier key is printed: {commands}"
        );
        assert!(
            commands.contains(&format!("-o {download} ")),
            "{path}: {commands}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_commands(&commands, dir.path());
        assert!(
            out.status.success(),
            "{path}: {commands}\nstdout: {}\nstderr: {}\nlog: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            s.daemon().log()
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("verified:"));
    }
    s.stop();
}

/// Issue 17: the proof folder as one download. The page with the key links
/// `proof.tar` and prints the two commands; run as printed they download it
/// from the running daemon and `verify-proof` checks it as it is (records,
/// proofs, key history, the registered PDF). A record changed inside the
/// archive, and an archive with a link added, fail with the entry named.
/// Without the key, with a wrong one and after an erasure there is no
/// archive.
#[test]
fn proof_folder_downloads_as_one_tar_that_verify_proof_accepts() {
    let mut s = Server::start("");
    let c = &s.certs;
    let code = plain(&c.archived.code);
    let path = format!("/en/{code}-{}", c.archived.key);
    let page = s.get(&path).text();
    let href = format!(
        "href=\"/api/v1/certificates/{code}-{}/proof.tar\"",
        c.archived.key
    );
    assert!(page.contains(&href), "the download link: {page}");
    let commands = page_commands(&s, &page);
    assert_eq!(
        commands,
        format!(
            "curl -fsS -o proof.tar 'http://{}/api/v1/certificates/{code}-{}/proof.tar'\n\
             zeugnis verify-proof proof.tar --vkey '{}'",
            s.public, c.archived.key, s.vkey
        )
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_commands(&commands, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{commands}\nstdout: {stdout}\nstderr: {}\nlog: {}",
        String::from_utf8_lossy(&out.stderr),
        s.daemon().log()
    );
    assert!(stdout.contains("OK  archive proof.tar"), "{stdout}");
    assert!(
        stdout.contains("1 file(s) match their fingerprints"),
        "{stdout}"
    );
    assert!(stdout.contains("verified: proof.tar"), "{stdout}");

    // The route itself: a tar file with one top folder, never cached.
    let r = s.get(&format!(
        "/api/v1/certificates/{code}-{}/proof.tar",
        c.archived.key
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/x-tar");
    assert_eq!(r.header("cache-control"), "no-store");
    let formatted = s.certs.archived.code.clone();
    assert!(
        r.header("content-disposition")
            .contains(&format!("proof-{formatted}.tar")),
        "{:?}",
        r.headers
    );
    let files =
        zeugnis::export::archive::read_tar(r.body.as_slice(), "download", &Default::default())
            .expect("a tar the reader accepts");
    for name in [
        "bundle.json",
        "checkpoint",
        "manifest-sha256.txt",
        "FORMAT.md",
    ] {
        assert!(files.contains_key(name), "{name}: {:?}", files.keys());
    }
    assert_eq!(
        files.keys().filter(|k| k.starts_with("files/")).count(),
        1,
        "the registered PDF, not the scan: {:?}",
        files.keys()
    );

    // Tampered: one byte of a record changed inside the archive.
    let vkey = s.vkey.clone();
    let verify =
        |name: &str| crate::support::zeugnis(dir.path(), &["verify-proof", name, "--vkey", &vkey]);
    let mut bad = files.clone();
    let rel = bad
        .keys()
        .find(|k| k.starts_with("records/") && k.ends_with(".bin"))
        .expect("a record")
        .clone();
    bad.get_mut(&rel).expect("record")[10] ^= 1;
    let tar = zeugnis::export::archive::write_tar("proof", &bad, 0).expect("tar");
    std::fs::write(dir.path().join("tampered.tar"), tar).expect("write");
    let (code_, out, err) = verify("tampered.tar");
    assert_eq!(code_, 1, "{out}{err}");
    assert!(
        err.contains("verification FAILED") && err.contains(&rel),
        "{err}"
    );

    // A link added to the archive: refused, naming the entry.
    let mut b = tar::Builder::new(Vec::new());
    for (rel, bytes) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("proof/{rel}"), bytes.as_slice())
            .expect("append");
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "proof/files/extra.pdf", "/etc/passwd")
        .expect("link");
    std::fs::write(dir.path().join("link.tar"), b.into_inner().expect("tar")).expect("write");
    let (code_, out, err) = verify("link.tar");
    assert_eq!(code_, 1, "{out}{err}");
    assert!(
        err.contains("entry proof/files/extra.pdf") && err.contains("symbolic link"),
        "{err}"
    );

    // No archive without the key, with a wrong key, after an erasure.
    let r = s.get(&format!("/api/v1/certificates/{code}/proof.tar"));
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (403, json!("key_required"))
    );
    let r = s.get(&format!(
        "/api/v1/certificates/{code}-{}/proof.tar",
        other_key(&code, &c.archived.key)
    ));
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (403, json!("wrong_key"))
    );
    let r = s.get(&format!(
        "/api/v1/certificates/{}-{}/proof.tar",
        plain(&c.erased.code),
        c.erased.key
    ));
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (410, json!("erased"))
    );
    let page = s
        .get(&format!("/en/{}-{}", plain(&c.erased.code), c.erased.key))
        .text();
    assert!(!page.contains("proof.tar"), "no download after an erasure");
    s.stop();
}

/// Issue 17: after `rotate-key` through the running daemon (a new key, then
/// the old one retired) the pages print the new verifier key at once, no
/// restart, and their commands verify against it; the retired key is
/// gone from them.
#[test]
fn key_rotation_shows_on_the_pages_without_a_restart() {
    let mut s = Server::start("");
    let old = s.vkey.clone();
    let c = &s.certs;
    let public_page = format!("/en/{}", plain(&c.revoked.code));
    let key_page = format!("/de/{}-{}", plain(&c.archived.code), c.archived.key);
    assert!(s.get(&public_page).text().contains(&old));
    let (rc, out, err) = s.cli(&["rotate-key"]);
    assert_eq!(rc, 0, "{out}{err}");
    let new = out
        .lines()
        .find_map(|l| l.strip_prefix("new vkey: "))
        .unwrap_or_else(|| panic!("new vkey in {out}"))
        .to_string();
    assert_ne!(new, old);
    // Both keys sign while the rotation is under way; the page names the new one.
    for path in [&public_page, &key_page] {
        let commands = page_commands(&s, &s.get(path).text());
        assert!(commands.contains(&new), "{path}: {commands}");
    }
    let old_id = old.split('+').nth(1).expect("key id").to_string();
    let (rc, out, err) = s.cli(&["rotate-key", "--retire", &old_id]);
    assert_eq!(rc, 0, "{out}{err}");
    for path in [&public_page, &key_page] {
        let page = s.get(path).text();
        assert!(!page.contains(&old), "{path}: the retired key is shown");
        let commands = page_commands(&s, &page);
        assert!(commands.contains(&new), "{path}: {commands}");
        let dir = tempfile::tempdir().expect("tempdir");
        let run = run_commands(&commands, dir.path());
        assert!(
            run.status.success(),
            "{path}: {commands}\nstdout: {}\nstderr: {}\nlog: {}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr),
            s.daemon().log()
        );
    }
    s.stop();
}

/// `[http.branding]`: the institution's name, its logo served by the
/// daemon, the colours and the legal links, with no external resource.
#[test]
fn branding_names_the_institution_and_serves_its_logo() {
    let logo_dir = tempfile::tempdir().expect("tempdir");
    let logo = logo_dir.path().join("logo.svg");
    let svg = br##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="#1a1a1a"/></svg>"##;
    std::fs::write(&logo, svg).expect("logo");
    let mut s = Server::start(&format!(
        "[http.branding]\ninstitution = \"Universität Erfurt\"\nlogo_file = \"{}\"\n\
         colour = \"#1a1a1a\"\ntext_colour = \"#ffffff\"\n\
         imprint_url = \"https://www.uni-erfurt.de/impressum\"\n\
         privacy_url = \"https://www.uni-erfurt.de/datenschutz\"",
        logo.display()
    ));
    for lang in ["de", "en"] {
        let page = s
            .get(&format!("/{lang}/{}", plain(&s.certs.archived.code)))
            .text();
        for want in [
            "Universität Erfurt · ",
            "<img src=\"/static/logo\" alt=\"\">",
            "href=\"https://www.uni-erfurt.de/impressum\"",
            "href=\"https://www.uni-erfurt.de/datenschutz\"",
            "href=\"/static/brand.css\"",
        ] {
            assert!(page.contains(want), "{lang}: missing {want:?} in {page}");
        }
        assert!(
            !page.contains("src=\"http") && !page.contains("<script"),
            "{page}"
        );
    }
    let r = s.get("/static/logo");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "image/svg+xml");
    assert_eq!(r.body, svg);
    let css = s.get("/static/brand.css");
    assert_eq!(css.status, 200);
    assert!(css.text().contains("--brand:#1a1a1a"), "{}", css.text());
    s.stop();
    // The default: no logo route, the sober blue.
    let mut d = Server::start("");
    assert_eq!(d.get("/static/logo").status, 404);
    assert!(d
        .get("/static/brand.css")
        .text()
        .contains("--brand:#0b4f8a"));
    d.stop();
}

#[test]
fn check_form_answers_in_words() {
    let mut s = Server::start("check_bytes_max = 4096");
    let c = &s.certs;
    let post = |lang: &str, fields: &[(&str, Option<&str>, &[u8])]| {
        let (ct, body) = multipart(fields);
        request(
            s.public,
            "POST",
            &format!("/{lang}/check"),
            &[("Content-Type", &ct)],
            &body,
        )
    };
    // The form is on the start page and on every certificate page.
    for path in [
        "/de/".to_string(),
        format!("/en/{}", plain(&c.archived.code)),
    ] {
        let page = s.get(&path).text();
        assert!(
            page.contains("enctype=\"multipart/form-data\"")
                && page.contains("name=\"file\"")
                && page.contains("/check\""),
            "{page}"
        );
    }
    // Registered, no key: which certificate and its status, no holder data.
    let anna = pdf("Anna");
    let r = post("de", &[("file", Some("a.pdf"), &anna)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(
        t.contains("Registrierte Datei")
            && t.contains("Byte für Byte")
            && t.contains(&c.archived.code)
            && t.contains("Gültig")
            && !t.contains("Mustermann"),
        "{t}"
    );
    // With the code and key too: the holder data and grade.
    let code_key = format!("{}-{}", c.archived.code, c.archived.key);
    let r = post(
        "en",
        &[
            ("code", None, code_key.as_bytes()),
            ("file", Some("a.pdf"), &anna),
        ],
    );
    let t = r.text();
    assert!(
        t.contains("byte-for-byte") && t.contains("Anna Mustermann") && t.contains("1.76 - good"),
        "{t}"
    );
    // A key of another certificate does not open this one.
    let other = format!("{}-{}", c.awaiting.code, c.awaiting.key);
    let t = post(
        "en",
        &[
            ("code", None, other.as_bytes()),
            ("file", Some("a.pdf"), &anna),
        ],
    )
    .text();
    assert!(
        t.contains("Registered file") && !t.contains("Mustermann"),
        "{t}"
    );
    // Modified by one byte: not registered, with what that means.
    let mut modified = anna.clone();
    modified[10] ^= 1;
    let r = post("en", &[("file", Some("a.pdf"), &modified)]);
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("Not registered") && r.text().contains("does not necessarily mean"),
        "{}",
        r.text()
    );
    let r = post("de", &[("file", Some("a.pdf"), &modified)]);
    assert!(r.text().contains("Nicht registriert"), "{}", r.text());
    // Not a PDF.
    let r = post("de", &[("file", Some("x.png"), b"\x89PNG\r\n\x1a\n")]);
    assert_eq!(r.status, 415);
    assert!(r.text().contains("Keine PDF-Datei"), "{}", r.text());
    // Revoked and superseded: genuine file, but the status says it all.
    let t = post("en", &[("file", Some("c.pdf"), &pdf("Clara"))]).text();
    assert!(
        t.contains("Registered file") && t.contains("Revoked") && !t.contains("Täuschung"),
        "{t}"
    );
    let t = post("de", &[("file", Some("d.pdf"), &pdf("Dora"))]).text();
    assert!(t.contains("Ersetzt"), "{t}");
    // Too large: a page, not JSON.
    let r = post("en", &[("file", Some("big.pdf"), &vec![b'x'; 5000])]);
    assert_eq!(r.status, 413);
    assert!(
        r.text().contains("larger than this service checks"),
        "{}",
        r.text()
    );
    // Only POST.
    assert_eq!(s.get("/de/check").status, 405);
    s.stop();
}

#[test]
fn checkpoint_and_tiles_follow_c2sp() {
    let mut s = Server::start("");
    // The latest checkpoint as the CLI reads it from the ledger's files
    // (it needs no writer lock, so the daemon keeps running).
    let (c, note, err) = s.cli(&["checkpoint"]);
    assert_eq!(c, 0, "{err}");
    let size: u64 = note
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no size line in {note}"));
    let r = s.get("/checkpoint");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), note);
    assert!(size < 256, "the fixture fits one partial tile");
    let tile = s.get(&format!("/tile/0/000.p/{size}"));
    assert_eq!(tile.status, 200);
    assert_eq!(tile.body.len() as u64, size * 32);
    assert_eq!(tile.header("content-type"), "application/octet-stream");
    // A narrower partial tile is a prefix; a full tile does not exist yet.
    let r = s.get("/tile/0/000.p/2");
    assert_eq!(r.body.len(), 64);
    assert_eq!(r.body[..], tile.body[..64]);
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
    s.stop();
    // The ledger itself agrees: its size, its checkpoint, its record 0.
    let l = s.ledger();
    assert_eq!(l.size(), size);
    assert_eq!(l.checkpoint_note(), note);
    assert_eq!(
        tile.body[..32],
        merkle::leaf_hash(&l.read_record(0).expect("record 0"))
    );
}

#[test]
fn check_upload_finds_registered_digital_images() {
    let mut s = Server::start("check_bytes_max = 4096");
    let post = |body: &[u8], headers: &[(&str, &str)]| {
        request(s.public, "POST", "/api/v1/check", headers, body)
    };
    let r = post(&pdf("Anna"), &[("Content-Type", "application/pdf")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["registered"], true);
    assert_eq!(v["certificate"]["code"], plain(&s.certs.archived.code));
    assert_eq!(v["certificate"]["state"], "archived");
    assert!(v["certificate"].get("grade").is_none(), "no grades: {v}");
    let v = post(&pdf("never registered"), &[]).json();
    assert_eq!(v["registered"], false);
    let (ct, body) = multipart(&[("file", Some("x.pdf"), &pdf("Clara"))]);
    let v = post(&body, &[("Content-Type", &ct)]).json();
    assert_eq!(v["certificate"]["state"], "revoked", "{v}");
    assert!(v["certificate"]["revoked"].get("reason").is_none(), "{v}");
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
    s.stop();
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let mut s = Server::start("lookups_per_ip_per_minute = 1\nlookup_burst = 2");
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
    s.stop();
}

#[test]
fn forwarded_for_counts_only_from_trusted_proxies() {
    let limit = "lookups_per_ip_per_minute = 1\nlookup_burst = 1\n";
    let path = "/api/v1/certificates/QNVCFM3P4VDF";
    let from = |s: &Server, client: &str| {
        request(s.public, "GET", path, &[("X-Forwarded-For", client)], b"").status
    };
    // Untrusted peer: the header is ignored, both requests are the peer's.
    let mut s = Server::start(limit);
    assert_eq!(from(&s, "203.0.113.1"), 404);
    assert_eq!(from(&s, "203.0.113.2"), 429);
    s.stop();
    // Trusted proxy, as an address or as a CIDR range that holds the
    // peer: each forwarded client has its own budget.
    for proxies in ["\"127.0.0.1\"", "\"10.0.0.0/8\", \"127.0.0.0/8\""] {
        let mut s = Server::start(&format!("{limit}trusted_proxies = [{proxies}]"));
        assert_eq!(from(&s, "203.0.113.1"), 404, "{proxies}");
        assert_eq!(from(&s, "203.0.113.2"), 404, "{proxies}");
        assert_eq!(from(&s, "203.0.113.1"), 429, "{proxies}");
        s.stop();
    }
    // A range that does not hold the peer trusts nobody here.
    let mut s = Server::start(&format!("{limit}trusted_proxies = [\"10.0.0.0/8\"]"));
    assert_eq!(from(&s, "203.0.113.1"), 404);
    assert_eq!(from(&s, "203.0.113.2"), 429);
    s.stop();
}

/// Proves that a client dribbling its headers is cut off: with a 300 ms
/// header-read timeout, a client sending one header line every 100 ms for
/// 10 s must find the connection closed before it is done.
#[test]
fn header_read_timeout_cuts_off_a_slow_client() {
    let mut s = Server::start("header_read_timeout_ms = 300");
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
    s.stop();
}

#[test]
fn connection_limit_refuses_with_503_and_keepalive_limit_closes() {
    let mut s = Server::start("keepalive_requests_max = 2");
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
    s.stop();
    let mut s = Server::start("connections_max = 2");
    // Two idle connections hold both slots; the third is refused.
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.public).expect("connect"))
        .collect();
    // The server has accepted them once one request on each is answered.
    for mut c in idle.iter() {
        c.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
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
    // Once the idle connections are gone, their slots are free again, and
    // the refusal was counted.
    s.wait_for("a free connection slot", |s| {
        s.get("/healthz").status == 200
    });
    let metrics = s.get("/metrics").text();
    let refused: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("zeugnis_http_connections_refused_total{listener=\"public\"} ")
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no refusal counter in\n{metrics}"));
    assert!(refused >= 1, "{metrics}");
    s.stop();
}

/// A connection to `to` from the local address `from` (any 127.0.0.0/8
/// address is this machine), after one answered request.
fn connect_from(from: &str, to: SocketAddr) -> (TcpStream, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = rt
        .block_on(async {
            let s = tokio::net::TcpSocket::new_v4()?;
            s.bind(format!("{from}:0").parse().expect("addr"))?;
            s.connect(to).await?.into_std()
        })
        .expect("connect");
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut c = &stream;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    (stream, head)
}

/// Regression (issue 13): 1,100 idle connections from one address made
/// every other client get 503. One client now holds at most
/// `connections_per_client_max` connections; others still get in.
#[test]
fn one_client_s_idle_connections_cannot_lock_others_out() {
    let mut s = Server::start("connections_per_client_max = 3");
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| {
            let (c, head) = connect_from("127.0.0.1", s.public);
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            c
        })
        .collect();
    let (_, head) = connect_from("127.0.0.1", s.public);
    assert!(
        head.starts_with("HTTP/1.1 503"),
        "the same client, over its cap: {head}"
    );
    let (_, head) = connect_from("127.0.0.2", s.public);
    assert!(head.starts_with("HTTP/1.1 200"), "another client: {head}");
    drop(idle);
    s.wait_for("the client's slots free again", |s| {
        connect_from("127.0.0.1", s.public)
            .1
            .starts_with("HTTP/1.1 200")
    });
    s.stop();
}

#[test]
fn admin_needs_the_token() {
    let mut s = Server::start("");
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
    s.stop();
}

#[test]
fn admin_token_file_must_be_private_and_long() {
    // The daemon refuses to start (exit 2, the reason in its error) on a
    // token file others can read, a short token, or a missing file.
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    std::fs::create_dir(dir.join("scans")).expect("inbox");
    let file = dir.join("admin-token");
    let config = config_text("");
    std::fs::write(&file, TOKEN).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, log) = refused_start(dir, &config);
    assert_eq!(code, Some(2), "0644 is refused: {log}");
    assert!(log.contains("chmod 600"), "{log}");
    std::fs::write(&file, "short").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (code, log) = refused_start(dir, &config);
    assert_eq!(code, Some(2), "a short token is refused: {log}");
    assert!(log.contains("at least 32"), "{log}");
    std::fs::remove_file(&file).expect("remove");
    let (code, log) = refused_start(dir, &config);
    assert_eq!(code, Some(2), "a missing token file is refused: {log}");
    assert!(log.contains("cannot read"), "{log}");
    // The same rules in the library function the daemon uses.
    std::fs::write(&file, TOKEN).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = http::read_admin_token(&file).expect_err("0644 is refused");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    std::fs::write(&file, "short").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let e = http::read_admin_token(&file).expect_err("short token is refused");
    assert!(e.to_string().contains("at least 32"), "{e}");
    let e = http::read_admin_token(&dir.join("missing")).expect_err("missing");
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn admin_register_revoke_void_erase_then_lookup() {
    // Each successful admin write runs the daemon's write hook, which wakes
    // the scan intake; refused requests do not. Probes (see [`Probe`]) show
    // each wake-up: the intake rescans only once an hour here.
    let mut s = Server::start(PROBE_CONFIG);
    let rec = record("Greta", "en").to_string();
    let doc = pdf("Greta");
    let probe = s.arm_probe();
    let r = s.admin_multipart("/admin/v1/register", rec.as_bytes(), &doc);
    assert_eq!(r.status, 201, "{}", r.text());
    let issued = r.json();
    let code = plain(issued["code"].as_str().expect("code"));
    let key = issued["key"].as_str().expect("key").to_string();
    s.wait_fired(&probe, "register");
    let probe = s.arm_probe();
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
    s.assert_not_fired(&probe, "refused registrations");
    // Revoke, then void is refused (409), then erase.
    let json_ct = [("Content-Type", "application/json")];
    for (action, body) in [
        ("revoke", &br#"{"reason": "x", "category": "fraud"}"#[..]),
        ("void", &br#"{"reason": "x", "category": "withdrawn"}"#[..]),
    ] {
        let r = s.admin(
            "POST",
            &format!("/admin/v1/certificates/{code}/{action}"),
            &json_ct,
            body,
        );
        assert_eq!(r.status, 400, "{action}: {}", r.text());
        assert!(r.text().contains("category"), "{}", r.text());
    }
    let r = s.admin(
        "POST",
        &format!("/admin/v1/certificates/{code}/revoke"),
        &json_ct,
        br#"{"reason": "error in the transcript", "effective_date": "2027-02-01", "category": "replaced"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "revoked");
    assert_eq!(r.json()["revoked"]["category"], "replaced");
    s.wait_fired(&probe, "revoke");
    let page = s.get(&format!("/en/{code}")).text();
    assert!(
        page.contains("replaced by a corrected certificate")
            && page.contains("1 February 2027")
            && !page.contains("error in the transcript"),
        "{page}"
    );
    let probe = s.arm_probe();
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
    s.assert_not_fired(&probe, "a refused void and a refused erase");
    let r = s.admin(
        "POST",
        &format!("/admin/v1/certificates/{code}/erase"),
        &json_ct,
        br#"{"reason": "GDPR"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["erased"], true);
    s.wait_fired(&probe, "erase");
    let probe = s.arm_probe();
    let r = s.admin(
        "POST",
        "/admin/v1/certificates/QNVCFM3P4VDF/void",
        &json_ct,
        br#"{"reason": "x"}"#,
    );
    assert_eq!(r.status, 404);
    s.assert_not_fired(&probe, "a void of an unknown code");
    // Supersede over multipart links old and new.
    let old = plain(&s.certs.awaiting.code);
    let r = s.admin_multipart(
        &format!("/admin/v1/certificates/{old}/supersede"),
        rec.as_bytes(),
        &pdf("Greta 2"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let new = plain(r.json()["code"].as_str().expect("code"));
    s.wait_fired(&probe, "supersede");
    assert_eq!(
        s.get(&format!("/api/v1/certificates/{old}")).json()["superseded_by"],
        new
    );
    s.stop();
}

#[test]
fn admin_bodies_are_limited() {
    let mut s = Server::start("admin_json_bytes_max = 64\nadmin_body_bytes_max = 2048");
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
    s.stop();
}

#[test]
fn metrics_count_requests_intake_and_ledger_size() {
    let mut s = Server::start("[intake]\nrescan_secs = 1\nidentify = [\"file_name\"]");
    assert_eq!(
        s.get(&format!("/de/{}", plain(&s.certs.archived.code)))
            .status,
        200
    );
    assert_eq!(s.get("/de/QNVCFM3P4VDF").status, 404);
    // Real scans through the daemon's intake, one for each outcome: the
    // scan of the certificate awaiting it (archived), the archived
    // certificate's scan again (duplicate), a Word file (quarantined), a
    // scan whose code is not registered yet (waiting).
    let inbox = s.inbox();
    let put = |name: &str, bytes: &[u8]| std::fs::write(inbox.join(name), bytes).expect("drop");
    put(
        &format!("{}.pdf", plain(&s.certs.awaiting.code)),
        b"%PDF-1.7\n% scan of Berta's signed original\n%%EOF\n",
    );
    put(
        &format!("again_{}.pdf", plain(&s.certs.archived.code)),
        SCAN,
    );
    put("letter.docx", b"PK\x03\x04 a word document");
    put("QNVCFM3P4VDF.pdf", b"%PDF-1.7\n% scan, registered later\n");
    let counted = [
        "zeugnis_intake_files_total{outcome=\"archived\"} 1\n",
        "zeugnis_intake_files_total{outcome=\"duplicate\"} 1\n",
        "zeugnis_intake_files_total{outcome=\"quarantined\"} 1\n",
        "zeugnis_intake_files_total{outcome=\"waiting\"} 1\n",
    ];
    s.wait_for("the intake outcomes counted", |s| {
        let text = s.get("/metrics").text();
        counted.iter().all(|c| text.contains(c))
    });
    s.wait_for("the inbox handled", |s| {
        let inbox = s.inbox();
        entries(&inbox, "").is_empty() && entries(&inbox, "work").is_empty()
    });
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    let text = r.text();
    for want in [
        "zeugnis_http_requests_total{listener=\"public\",route=\"page\",status=\"200\"} 1",
        "zeugnis_http_requests_total{listener=\"public\",route=\"page\",status=\"404\"} 1",
        "zeugnis_http_request_duration_seconds_bucket{le=\"0.005\",route=\"page\"}",
        "zeugnis_ledger_records ",
    ]
    .into_iter()
    .chain(counted)
    {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("outcome=\"other\""), "{text}");
    let served: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("zeugnis_ledger_records "))
        .and_then(|n| n.trim().parse().ok())
        .expect("ledger size");
    s.stop();
    let l = s.ledger();
    assert_eq!(served, l.size(), "{text}");
    drop(l);
    let (c, out, err) = s.cli(&["show", &plain(&s.certs.awaiting.code), "--json"]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("show --json");
    assert_eq!(v["state"], "archived", "{v}");
    // An outcome the intake does not name is counted as `other`: the
    // daemon's intake only reports the four above, so that mapping can only
    // be shown on the metrics type itself.
    let m = http::Metrics::new();
    m.intake("something else");
    m.intake("archived");
    let text = m.encode(7);
    for want in [
        "zeugnis_intake_files_total{outcome=\"other\"} 1\n",
        "zeugnis_intake_files_total{outcome=\"archived\"} 1\n",
        "zeugnis_ledger_records 7\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

/// docs/openapi.json against the router: every API route of the public
/// router (`API_ROUTES`) is in the document and answered by its handler on
/// the running daemon (not by the fallback 404), and every path of the
/// document is routed by the public or the admin router.
#[test]
fn openapi_document_names_every_api_route() {
    let mut s = Server::start("");
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
    let with_key = format!("{}-{}", plain(&s.certs.archived.code), s.certs.archived.key);
    for route in http::public::API_ROUTES {
        assert!(
            doc["paths"].get(route).is_some(),
            "{route} missing from docs/openapi.json"
        );
        let path = route.replace("{code}", &with_key);
        let r = s.get(&path);
        assert!(
            !r.text().contains("no such page"),
            "{route}: answered by the fallback: {} {}",
            r.status,
            r.text()
        );
        // 200, or 405 for the POST-only check, or 422 for an export the
        // fixture cannot fill: never 404.
        assert_ne!(r.status, 404, "{route}: {}", r.text());
    }
    let paths = doc["paths"].as_object().expect("paths");
    for path in paths.keys() {
        let concrete = path.replace("{code}", "QNVCFM3P4VDF");
        if path.starts_with("/admin/") {
            assert_ne!(
                http::admin::classify(&concrete),
                "admin_not_found",
                "{path} is in docs/openapi.json but not routed"
            );
        } else {
            assert!(
                http::public::API_ROUTES.contains(&path.as_str()),
                "{path} is in docs/openapi.json but not in API_ROUTES"
            );
            assert_ne!(
                http::public::classify(&concrete).0,
                "not_found",
                "{path} is in docs/openapi.json but not routed"
            );
        }
    }
    s.stop();
}

#[test]
fn shutdown_drains_and_returns() {
    // A long grace time, and idle connections never timed out: only the
    // shutdown can close them.
    let mut s = Server::start("shutdown_grace_ms = 120000\nheader_read_timeout_ms = 600000");
    assert_eq!(s.get("/healthz").status, 200);
    // An idle keep-alive connection...
    let mut idle = TcpStream::connect(s.public).expect("connect");
    idle.set_read_timeout(Some(PATIENCE)).expect("timeout");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("write");
    assert_eq!(read_reply(&mut idle).status, 200);
    // ...and a request in flight: its head is read and its handler waits
    // for the body (the server asked for it with 100 Continue).
    let body = pdf("Anna");
    let mut busy = expect_continue(s.public, body.len());
    s.daemon().terminate();
    s.daemon().wait_for_log("SIGTERM");
    // The listeners close at once, the idle connection is closed...
    let public = s.public;
    s.wait_for("the listener closed", |_| {
        TcpStream::connect(public).is_err()
    });
    let mut buf = [0u8; 256];
    match idle.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!(
            "the idle connection got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the idle connection was kept open: {e}"
        ),
    }
    // ...and the daemon waits for the request in flight, which is answered.
    assert_eq!(s.daemon().exited(), None, "{}", s.daemon().log());
    busy.write_all(&body).expect("send the body");
    let r = read_reply(&mut busy);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["registered"], true);
    assert_eq!(s.daemon().wait_exit(), Some(0), "{}", s.daemon().log());
    let log = s.daemon().log();
    assert!(log.contains("http: all connections closed"), "{log}");
    assert!(!log.contains("after the grace period"), "{log}");
    assert!(
        TcpStream::connect(public).is_err(),
        "the listener is closed"
    );
    // A client that never finishes its request holds the daemon no longer
    // than the grace time; then it is cut off and the daemon exits cleanly.
    let mut s = Server::start("shutdown_grace_ms = 500");
    let mut stuck = expect_continue(s.public, 1000);
    s.daemon().terminate();
    assert_eq!(s.daemon().wait_exit(), Some(0), "{}", s.daemon().log());
    let log = s.daemon().log();
    assert!(
        log.contains("connections still open after the grace period"),
        "{log}"
    );
    let mut buf = [0u8; 256];
    assert!(
        matches!(stuck.read(&mut buf), Ok(0) | Err(_)),
        "the stuck connection is closed"
    );
}

/// Sends the head of a `POST /api/v1/check` of `len` bytes with `Expect:
/// 100-continue` and waits for the `100 Continue`: from then on the request
/// is in the server's hands, waiting for its body.
fn expect_continue(addr: SocketAddr, len: usize) -> TcpStream {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(PATIENCE)).expect("timeout");
    c.write_all(
        format!(
            "POST /api/v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: application/pdf\r\n\
             Content-Length: {len}\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .expect("write head");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = c.read(&mut byte).expect("read 100 Continue");
        assert_eq!(n, 1, "closed before 100 Continue: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 100"), "{head}");
    c
}

/// Proves that every kind of failed lookup is held to the time floor: with
/// a 300 ms floor, no unknown, wrong-key, malformed or mistyped lookup
/// answers sooner (successful lookups are not held; docs/http.md, "Timing"). Only a lower bound is asserted: the floor is a sleep
/// until a deadline, which never returns early, so the test cannot flake.
#[test]
fn every_failed_lookup_answers_no_sooner_than_the_floor() {
    let mut s = Server::start("lookup_time_floor_ms = 300");
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
    s.stop();
}

#[test]
fn head_has_no_body_and_oversized_heads_are_refused() {
    let mut s = Server::start("header_bytes_max = 8192");
    let head = request(s.public, "HEAD", "/de/", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "{}", head.text());
    assert!(head
        .header("content-security-policy")
        .contains("default-src 'none'"));
    let big = "x".repeat(10_000);
    let r = request(s.public, "GET", "/", &[("X-Big", &big)], b"");
    assert_eq!(r.status, 431);
    s.stop();
}

#[test]
fn toml_config_rejects_unknown_keys_and_zero_limits() {
    // The daemon: a misspelt key or a zero limit in `[http]` stops it at
    // once with exit 2 and an error naming the key.
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    std::fs::create_dir(dir.join("scans")).expect("inbox");
    write_token(dir);
    let (code, log) = refused_start(dir, &config_text("conections_max = 5"));
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("conections_max"), "{log}");
    assert!(log.contains("zeugnis.toml"), "names the file: {log}");
    let (code, log) = refused_start(dir, &config_text("connections_max = 0"));
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("http.connections_max"), "{log}");
    // A trusted proxy that is neither an address nor a range, or a range
    // with host bits set, is refused with the entry named.
    for (bad, says) in [
        ("10.0.0.0/33", "not a CIDR range"),
        ("proxy.example", "neither an IP address nor a CIDR range"),
        ("10.0.0.1/8", "did you mean \"10.0.0.0/8\""),
    ] {
        let (code, log) =
            refused_start(dir, &config_text(&format!("trusted_proxies = [\"{bad}\"]")));
        assert_eq!(code, Some(2), "{bad}: {log}");
        assert!(
            log.contains("trusted_proxies") && log.contains(says),
            "{bad}: {log}"
        );
    }
    // A valid `[http]` is taken as written: a burst of exactly 5 lookups
    // (with a trusted proxy listed that is not this client).
    let mut s = Server::start(
        "lookups_per_ip_per_minute = 1\nlookup_burst = 5\ntrusted_proxies = [\"10.0.0.1\"]",
    );
    for i in 0..5 {
        assert_eq!(
            s.get("/api/v1/certificates/QNVCFM3P4VDF").status,
            404,
            "{i}"
        );
    }
    assert_eq!(s.get("/api/v1/certificates/QNVCFM3P4VDF").status, 429);
    s.stop();
    // The same rules on the parsed `[http]` table.
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
pub(crate) struct WebDriver {
    child: std::process::Child,
    addr: SocketAddr,
    session: String,
}

impl WebDriver {
    /// Starts chromedriver (installing Debian's `chromium` and
    /// `chromium-driver` with apt-get if it is missing) and a headless
    /// session with a phone-sized window that keeps the browser console log.
    pub(crate) fn start() -> WebDriver {
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

    pub(crate) fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let v = webdriver(
            self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        );
        assert!(v["value"].get("error").is_none(), "{method} {path}: {v}");
        v["value"].clone()
    }

    pub(crate) fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({"url": url})));
    }

    /// Waits until the current URL ends with `suffix` (a click returns
    /// when the navigation has started, not when it is done).
    pub(crate) fn wait_for_url(&self, suffix: &str) {
        let t0 = std::time::Instant::now();
        loop {
            let url = self.text("/url");
            if url.ends_with(suffix) {
                return;
            }
            assert!(t0.elapsed() < PATIENCE, "{url} does not end with {suffix}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the page's source contains `what` (the source can lag
    /// behind a navigation, e.g. away from the browser's PDF viewer).
    pub(crate) fn wait_for_source(&self, what: &str) {
        let t0 = std::time::Instant::now();
        loop {
            let source = self.text("/source");
            if source.contains(what) {
                return;
            }
            assert!(t0.elapsed() < PATIENCE, "no {what:?} in {source}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A string-valued GET command (`/url`, `/source`).
    pub(crate) fn text(&self, path: &str) -> String {
        let v = self.cmd("GET", path, None);
        v.as_str()
            .unwrap_or_else(|| panic!("{path}: {v}"))
            .to_string()
    }

    pub(crate) fn find(&self, css: &str) -> String {
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
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("screenshot dir");
        }
        std::fs::write(&path, bytes).expect("write screenshot");
        path
    }

    /// Console messages at level SEVERE (CSP violations, failed loads, errors).
    pub(crate) fn console_errors(&self) -> Vec<String> {
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
    let mut s = Server::start("");
    let wd = WebDriver::start();
    // The daemon's public listener, as a browser reaches it.
    let base = format!("http://{}", s.public);
    let steps = || {
        let code = &s.certs.archived.code;
        let key = &s.certs.archived.key;
        for (lang, heading) in [("de", "Zeugnis prüfen"), ("en", "Verify a certificate")] {
            wd.goto(&format!("{base}/{lang}/"));
            wd.wait_for_source(heading);
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
            wd.wait_for_url(&format!("/{lang}/{}-{key}", plain(code)));
            wd.wait_for_source("Anna Mustermann");
            let shot = wd.screenshot(&format!("verification-{lang}.png"));
            assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000));
            let link = wd.find("a[href$='/scan']");
            wd.cmd("POST", &format!("/element/{link}/click"), Some(&json!({})));
            wd.wait_for_url(&format!("/{lang}/{}-{key}/scan", plain(code)));
            wd.screenshot(&format!("scan-{lang}.png"));
        }
        let errors = wd.console_errors();
        assert!(errors.is_empty(), "console errors: {errors:?}");
    };
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(steps)) {
        let d = s.daemon();
        eprintln!("daemon exited: {:?}; its log:\n{}", d.exited(), d.log());
        std::panic::resume_unwind(panic);
    }
    s.stop();
}

/// axe-core (npm registry, `tools/a11y/package.json`), installed by
/// `.ci/run` (`npm ci --prefix tools/a11y`) or here if missing.
/// Two audits run in parallel: one installs, the other waits for it.
pub(crate) fn axe_source() -> String {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/a11y");
    let js = dir.join("node_modules/axe-core/axe.min.js");
    if !js.is_file() {
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "npm ci --prefix tools/a11y failed (axe-core)");
    }
    std::fs::read_to_string(&js).expect("axe.min.js")
}

/// The WCAG 2.1 A and AA rules of axe-core.
const AXE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

impl WebDriver {
    /// Sets the window size (CSS pixels).
    pub(crate) fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height})),
        );
    }

    /// Runs axe-core on the current page; the WCAG 2.1 A/AA violations as
    /// `rule: help [targets]` lines.
    pub(crate) fn axe(&self, axe: &str) -> Vec<String> {
        self.cmd("POST", "/timeouts", Some(&json!({"script": 60_000})));
        let script = format!(
            "{axe}\n;const done = arguments[arguments.length - 1];\n\
             axe.run(document, {{runOnly: {{type: 'tag', values: {tags}}}, resultTypes: ['violations']}})\
             .then(r => done(JSON.stringify(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' ' + \
             JSON.stringify(v.nodes.map(n => n.target.join(' ')))))))\
             .catch(e => done(JSON.stringify(['axe failed: ' + e])));",
            tags = serde_json::to_string(&AXE_TAGS).expect("tags"),
        );
        let v = self.cmd(
            "POST",
            "/execute/async",
            Some(&json!({"script": script, "args": []})),
        );
        serde_json::from_str(v.as_str().unwrap_or_else(|| panic!("axe result: {v}")))
            .expect("axe JSON")
    }
}

/// Every page state in both languages at desktop (1280 × 900) and phone
/// (390 × 844) size through axe-core's WCAG 2.1 A/AA rules in headless
/// Chromium: zero violations. Screenshots of every state at both sizes go
/// to `target/tmp/http-browser/a11y/` for a reviewer.
#[test]
fn accessibility_audit_of_every_page_state() {
    let mut s = Server::start("check_bytes_max = 4096");
    audit_every_page_state(&mut s, "a11y");
    s.stop();
}

/// The audit of [`accessibility_audit_of_every_page_state`] with the
/// operator's branding configured: a long institution name, an SVG logo,
/// the brand colour and its text colour at the contrast limit (#767676 on
/// white text: 4.54:1, just above `BRAND_CONTRAST_RATIO_MIN` 4.5:1), the
/// Impressum and privacy links; every state, both languages, desktop and
/// phone, zero violations. Screenshots go to
/// `target/tmp/http-browser/a11y-branded/`.
#[test]
fn accessibility_audit_with_operator_branding() {
    let logo_dir = tempfile::tempdir().expect("tempdir");
    let logo = logo_dir.path().join("logo.svg");
    std::fs::write(
        &logo,
        br##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40"><rect width="120" height="40" fill="#767676"/><text x="8" y="27" font-size="20" fill="#ffffff">HAW MB</text></svg>"##,
    )
    .expect("logo");
    let (bg, fg) = ([0x76, 0x76, 0x76], [0xff, 0xff, 0xff]);
    let ratio = zeugnis::http::pages::contrast_ratio(bg, fg);
    assert!(
        (zeugnis::http::pages::BRAND_CONTRAST_RATIO_MIN..4.6).contains(&ratio),
        "the colours sit at the limit: {ratio}"
    );
    let mut s = Server::start(&format!(
        "check_bytes_max = 4096
[http.branding]
\
         institution = \"Hochschule für angewandte Wissenschaften Musterstadt-Beispielhausen\"
\
         logo_file = \"{}\"
colour = \"#767676\"
text_colour = \"#ffffff\"
\
         imprint_url = \"https://www.hochschule.example/impressum\"
\
         privacy_url = \"/datenschutz\"",
        logo.display()
    ));
    let page = s.get("/en/").text();
    for want in [
        "Musterstadt-Beispielhausen",
        "/static/logo",
        "impressum",
        "/datenschutz",
    ] {
        assert!(page.contains(want), "branding on the page: {want}: {page}");
    }
    audit_every_page_state(&mut s, "a11y-branded");
    s.stop();
}

/// Runs axe-core over every page state of `s` (both languages, desktop
/// and phone) and requires zero WCAG 2.1 A/AA violations; screenshots go
/// to `target/tmp/http-browser/<shots>/`.
fn audit_every_page_state(s: &mut Server, shots: &str) {
    let wd = WebDriver::start();
    let axe = axe_source();
    let base = format!("http://{}", s.public);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        ("check-registered", pdf("Anna")),
        ("check-modified", {
            let mut p = pdf("Anna");
            p[10] ^= 1;
            p
        }),
        ("check-not-pdf", b"GIF89a not a pdf".to_vec()),
        ("check-revoked", pdf("Clara")),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(format!("{name}.pdf")), bytes).expect("write");
    }
    let steps = || {
        // The audit can fail: a page without language, title and image
        // text has violations.
        wd.goto("data:text/html,<html><body><img src='x.png'></body></html>");
        let bad = wd.axe(&axe);
        assert!(
            bad.iter().any(|v| v.starts_with("image-alt"))
                && bad.iter().any(|v| v.starts_with("html-has-lang")),
            "{bad:?}"
        );
        let c = &s.certs;
        let with_key = |i: &Issued| format!("{}-{}", plain(&i.code), i.key);
        let wrong = format!(
            "{}-{}",
            plain(&c.archived.code),
            other_key(&plain(&c.archived.code), &c.archived.key)
        );
        let gets: Vec<(&str, String)> = vec![
            ("form", "/".into()),
            ("form-error", "/?code=QNVC-FM3P-4UDF".into()),
            ("archived", plain(&c.archived.code)),
            ("archived-key", with_key(&c.archived)),
            ("wrong-key", wrong),
            ("awaiting", plain(&c.awaiting.code)),
            ("revoked", plain(&c.revoked.code)),
            ("revoked-key", with_key(&c.revoked)),
            ("superseded", plain(&c.superseded.code)),
            ("replacement", with_key(&c.replacement)),
            ("voided", plain(&c.voided.code)),
            ("erased-key", with_key(&c.erased)),
            ("unknown", "QNVCFM3P4VDF".into()),
            ("malformed", "NOT-A-CODE".into()),
            ("scan-refused", format!("{}/scan", plain(&c.archived.code))),
        ];
        let mut failures = Vec::new();
        let mut audited = 0;
        for (size, w, h) in [("desktop", 1280, 900), ("phone", 390, 844)] {
            wd.resize(w, h);
            for lang in ["de", "en"] {
                let mut audit = |state: &str| {
                    wd.screenshot(&format!("{shots}/{state}-{lang}-{size}.png"));
                    for v in wd.axe(&axe) {
                        failures.push(format!("{state} {lang} {size}: {v}"));
                    }
                    audited += 1;
                };
                for (state, path) in &gets {
                    let url = if path.starts_with('/') {
                        format!("{base}/{lang}{path}")
                    } else {
                        format!("{base}/{lang}/{path}")
                    };
                    wd.goto(&url);
                    wd.wait_for_source("</html>");
                    audit(state);
                }
                // The PDF check form: upload each file, audit the answer.
                for (name, _) in &files {
                    wd.goto(&format!("{base}/{lang}/"));
                    wd.wait_for_source("</html>");
                    let input = wd.find("#check-file");
                    let path = dir.path().join(format!("{name}.pdf"));
                    wd.cmd(
                        "POST",
                        &format!("/element/{input}/value"),
                        Some(&json!({"text": path.to_string_lossy()})),
                    );
                    let button = wd.find("form[action$='/check'] button");
                    wd.cmd(
                        "POST",
                        &format!("/element/{button}/click"),
                        Some(&json!({})),
                    );
                    wd.wait_for_url(&format!("/{lang}/check"));
                    wd.wait_for_source("</html>");
                    audit(name);
                }
            }
        }
        assert_eq!(audited, 2 * 2 * (gets.len() + files.len()));
        assert!(
            failures.is_empty(),
            "{} WCAG 2.1 AA violations:\n{}",
            failures.len(),
            failures.join("\n")
        );
        // The error states answer 4xx on purpose, which the console logs
        // for the page itself; a failed stylesheet or logo is still an error.
        let errors: Vec<String> = wd
            .console_errors()
            .into_iter()
            .filter(|e| {
                !e.contains("the server responded with a status of") || e.contains("/static/")
            })
            .collect();
        assert!(errors.is_empty(), "console errors: {errors:?}");
    };
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(steps)) {
        let d = s.daemon();
        eprintln!("daemon exited: {:?}; its log:\n{}", d.exited(), d.log());
        std::panic::resume_unwind(panic);
    }
}

/// Issue 21: the machine-readable certificates over HTTP, only with the
/// key: 200 with a schema-valid XHochschule document (in the language asked
/// for) and a conforming ELM credential; 403 without or with a wrong key,
/// 410 once erased, 422 for a certificate without a weighted grade record.
#[test]
fn exports_only_with_the_key() {
    let s = Server::start("");
    let mut rec = record("Greta", "de");
    rec["grades"] = json!({"ruleset": "erfurt-ba-2019", "parts": [{"id": "P", "required_lp": "20",
        "modules": [{"id": "M1", "lp": "10", "grade": "1.3", "mandatory": true},
                    {"id": "BA", "lp": "10", "grade": "2.0", "mandatory": true}]}]});
    let r = s.admin_multipart(
        "/admin/v1/register",
        rec.to_string().as_bytes(),
        &pdf("Greta"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let issued = r.json();
    let code = plain(issued["code"].as_str().expect("code"));
    let key = issued["key"].as_str().expect("key").to_string();

    let xml = s.get(&format!(
        "/api/v1/certificates/{code}-{key}/xhochschule.xml?lang=en"
    ));
    assert_eq!(xml.status, 200, "{}", xml.text());
    assert_eq!(xml.header("content-type"), "application/xml; charset=utf-8");
    assert_eq!(xml.header("cache-control"), "no-store");
    assert!(
        xml.text().contains("<xbd:note>1.65</xbd:note>"),
        "{}",
        xml.text()
    );
    let file = s.dir.join("export.xml");
    std::fs::write(&file, &xml.body).expect("write");
    let (ok, msg) = crate::exports::xmllint(&file);
    assert!(ok, "{msg}");

    let elm = s.get(&format!("/api/v1/certificates/{code}-{key}/elm.jsonld"));
    assert_eq!(elm.status, 200, "{}", elm.text());
    assert_eq!(elm.header("content-type"), "application/ld+json");
    let file = s.dir.join("export.jsonld");
    std::fs::write(&file, &elm.body).expect("write");
    let (ok, msg) = crate::exports::shacl(&file);
    assert!(ok, "{msg}");
    // Its PDF has a page: the rendering of page 1 is the display image.
    assert_eq!(elm.header("zeugnis-display-image"), "page-1");
    // The blob of that PDF lost: the QR-code fallback, said in the headers
    // (and the daemon's log).
    assert_eq!(crate::support::remove_blob(&s.dir, &pdf("Greta")), 1);
    let elm = s.get(&format!("/api/v1/certificates/{code}-{key}/elm.jsonld"));
    assert_eq!(elm.status, 200, "{}", elm.text());
    assert_eq!(elm.header("zeugnis-display-image"), "qr-code");
    assert!(
        elm.header("zeugnis-warning")
            .contains("page 1 was not rendered: the registered PDF cannot be read"),
        "{}",
        elm.header("zeugnis-warning")
    );
    // A PDF with a black rectangle: its rendering is the display image.
    let mut rec2 = rec.clone();
    rec2["holder"]["given_name"] = json!("Hanna");
    let r = s.admin_multipart(
        "/admin/v1/register",
        rec2.to_string().as_bytes(),
        &crate::exports::black_rectangle_pdf(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (code2, key2) = (
        plain(r.json()["code"].as_str().expect("code")),
        r.json()["key"].as_str().expect("key").to_string(),
    );
    let elm2 = s.get(&format!("/api/v1/certificates/{code2}-{key2}/elm.jsonld"));
    assert_eq!(elm2.status, 200, "{}", elm2.text());
    assert_eq!(elm2.header("zeugnis-display-image"), "page-1");
    assert!(
        !elm2.headers.contains_key("zeugnis-warning"),
        "{:?}",
        elm2.headers
    );
    crate::exports::assert_black_rectangle(&crate::exports::display_image(&elm2.json()));

    let wrong = other_key(&code, &key);
    let c = &s.certs;
    let cases = [
        (format!("{code}/xhochschule.xml"), 403, "key_required"),
        (format!("{code}-{wrong}/elm.jsonld"), 403, "wrong_key"),
        (
            format!("{code}-{key}/xhochschule.xml?lang=fr"),
            400,
            "bad_lang",
        ),
        (
            format!(
                "{}/elm.jsonld",
                c.erased.url.rsplit('/').next().expect("path")
            ),
            410,
            "erased",
        ),
        (
            format!(
                "{}/xhochschule.xml",
                c.awaiting.url.rsplit('/').next().expect("path")
            ),
            422,
            "not_exportable",
        ),
    ];
    for (path, status, reason) in cases {
        let r = s.get(&format!("/api/v1/certificates/{path}"));
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert_eq!(r.json()["reason"], json!(reason), "{path}: {}", r.text());
    }
}

/// Issue 13: `POST /admin/v1/certificates/{CODE}/scan` replaces a wrongly
/// archived scan like `zeugnis replace-scan` (ledger kind 13): 201, a retry
/// 200 with the same record, 409 for a certificate without a scan (pointing
/// to the inbox) or a voided/erased one, 400 for a bad body, 401 without
/// the token. The public JSON shows both scans' fingerprints but the reason
/// only with the key; the scan page serves the new scan; the record's proof
/// needs the key, like a revocation's.
#[test]
fn admin_replace_scan_keeps_the_old_scan_and_the_reason_private() {
    let s = Server::start("");
    let c = &s.certs;
    let code = plain(&c.archived.code);
    let right = b"%PDF-1.7\n% the right scan of the signed original\n%%EOF\n";
    let post = |code: &str, parts: &[(&str, Option<&str>, &[u8])]| {
        let (ct, body) = multipart(parts);
        s.admin(
            "POST",
            &format!("/admin/v1/certificates/{code}/scan"),
            &[("Content-Type", &ct)],
            &body,
        )
    };
    let good: [(&str, Option<&str>, &[u8]); 2] = [
        ("scan", Some("right.pdf"), right),
        ("reason", None, b"Deckblatt eines anderen Zeugnisses"),
    ];
    let r = post(&code, &good);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let seq = v["seq"].as_u64().expect("seq");
    assert_eq!(v["retry"], false);
    assert_eq!(v["replaced_blake3"], blake3::hash(SCAN).to_hex().as_str());
    assert_eq!(v["scan"]["blake3"], blake3::hash(right).to_hex().as_str());
    let r = post(&code, &good);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["retry"], true);
    assert_eq!(r.json()["seq"], seq);
    // Refusals.
    let r = post(&plain(&c.awaiting.code), &good);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("not a replacement"), "{}", r.text());
    for cert in [&c.voided, &c.erased] {
        let r = post(&plain(&cert.code), &good);
        assert_eq!(r.status, 409, "{}: {}", cert.code, r.text());
    }
    let r = post(&code, &good[..1]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("reason"), "{}", r.text());
    let junk: [(&str, Option<&str>, &[u8]); 2] = [("scan", Some("x.txt"), b"plain text"), good[1]];
    let r = post(&code, &junk);
    assert_eq!(r.status, 400, "{}", r.text());
    let (ct, body) = multipart(&good);
    let r = request(
        s.admin,
        "POST",
        &format!("/admin/v1/certificates/{code}/scan"),
        &[("Content-Type", &ct)],
        &body,
    );
    assert_eq!(r.status, 401);
    // Public JSON: both fingerprints, the reason only with the key.
    let v = s.get(&format!("/api/v1/certificates/{code}")).json();
    assert_eq!(
        v["scan"]["blake3"],
        blake3::hash(right).to_hex().as_str(),
        "{v}"
    );
    assert_eq!(
        v["replaced_scans"][0]["scan"]["blake3"],
        blake3::hash(SCAN).to_hex().as_str(),
        "{v}"
    );
    assert!(
        v["replaced_scans"][0].get("reason").is_none(),
        "private: {v}"
    );
    let with_key = format!("{code}-{}", c.archived.key);
    let v = s.get(&format!("/api/v1/certificates/{with_key}")).json();
    assert_eq!(
        v["replaced_scans"][0]["reason"], "Deckblatt eines anderen Zeugnisses",
        "{v}"
    );
    // The scan page serves the new scan.
    let r = s.get(&format!("/de/{with_key}/scan"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, right.to_vec());
    // The record's proof holds the reason: only with the key.
    let r = s.get(&format!("/api/v1/certificates/{code}/proof?seq={seq}"));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.get(&format!("/api/v1/certificates/{with_key}/proof?seq={seq}"));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Issue 16 through the admin API: reserve codes, register under a
/// reserved one (its key comes back), refuse an unreserved code, accept an
/// imported one, refuse a duplicate document, and fetch the print bundle.
#[test]
fn admin_reserve_register_reserved_code_and_print_bundle() {
    let s = Server::start("");
    let json_ct = [("Content-Type", "application/json")];
    let r = s.admin(
        "POST",
        "/admin/v1/reserve",
        &json_ct,
        br#"{"count": 2, "language": "en"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let reserved = r.json()["reserved"].clone();
    assert_eq!(reserved.as_array().map(Vec::len), Some(2), "{reserved}");
    let first = &reserved[0];
    assert!(
        first["url"].as_str().is_some_and(|u| u.contains("/en/")),
        "{first}"
    );
    let r = s.admin("POST", "/admin/v1/reserve", &json_ct, br#"{"count": 0}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.admin(
        "POST",
        "/admin/v1/reserve",
        &json_ct,
        br#"{"count": 1, "x": 1}"#,
    );
    assert_eq!(r.status, 400, "unknown fields are refused: {}", r.text());

    let rec = record("Hanna", "en").to_string();
    let doc = pdf("Hanna reserved");
    fn register(s: &Server, rec: &str, code: &str, import: bool, doc: &[u8]) -> Reply {
        let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![
            ("record", None, rec.as_bytes()),
            ("document", Some("doc.pdf"), doc),
            ("code", None, code.as_bytes()),
        ];
        if import {
            parts.push(("import", None, b"true"));
        }
        let (ct, body) = multipart(&parts);
        s.admin(
            "POST",
            "/admin/v1/register",
            &[("Content-Type", &ct)],
            &body,
        )
    }
    let code = first["code"].as_str().expect("code");
    let r = register(&s, &rec, code, false, &doc);
    assert_eq!(r.status, 201, "{}", r.text());
    let issued = r.json();
    assert_eq!(issued["key"], first["key"], "the reserved key");
    assert!(
        issued["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("does not declare PDF/A")),
        "{issued}"
    );
    let r = register(&s, &rec, "ABCD-EFGH-JKMN", false, &pdf("Hanna other"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not a reserved code"), "{}", r.text());
    let r = register(&s, &rec, "ABCD-EFGH-JKMN", true, &pdf("Hanna other"));
    assert_eq!(r.status, 201, "{}", r.text());
    let second = reserved[1]["code"].as_str().expect("code");
    let r = register(&s, &rec, second, false, &doc);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text()
            .contains(&format!("already registered for certificate {code}")),
        "{}",
        r.text()
    );

    let r = s.admin(
        "GET",
        &format!("/admin/v1/certificates/{}/print-bundle", plain(code)),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let bundle = lopdf::Document::load_mem(&r.body).expect("a PDF");
    assert_eq!(bundle.get_pages().len(), 2, "print version + cover sheet");
    let sheet = bundle.extract_text(&[2]).expect("text");
    assert!(sheet.contains("Hanna"), "{sheet}");
}

/// Issue 16: `stamp=true` on the admin register route stamps page 1 at the
/// daemon's `[stamp]` place and registers the stamped file (its public
/// check answers for it); `POST /admin/v1/draft` answers a watermarked
/// copy and records nothing.
#[test]
fn admin_register_with_stamp_and_draft() {
    let mut s = Server::start("[stamp]\ncorner = \"bottom-left\"");
    let rec = record("Stella", "de").to_string();
    let doc = pdf("Stella");
    let (ct, body) = multipart(&[
        ("record", None, rec.as_bytes()),
        ("document", Some("doc.pdf"), &doc),
        ("stamp", None, b"true"),
    ]);
    let r = s.admin(
        "POST",
        "/admin/v1/register",
        &[("Content-Type", &ct)],
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let issued = r.json();
    assert_eq!(issued["stamped"], Value::Bool(true), "{}", r.text());
    let code = plain(issued["code"].as_str().expect("code"));

    // A draft: a PDF back, watermarked on its page.
    let (ct, body) = multipart(&[
        ("record", None, rec.as_bytes()),
        ("document", Some("doc.pdf"), &doc),
    ]);
    let r = s.admin("POST", "/admin/v1/draft", &[("Content-Type", &ct)], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/pdf")
    );
    let draft = lopdf::Document::load_mem(&r.body).expect("the draft parses");
    let content = draft.get_page_content(draft.get_pages()[&1]);
    assert!(
        String::from_utf8_lossy(&content).contains("(ENTWURF / DRAFT) Tj"),
        "no watermark"
    );
    // A draft refuses what it cannot take, naming it.
    let (ct, body) = multipart(&[
        ("record", None, rec.as_bytes()),
        ("document", Some("doc.pdf"), &doc),
        ("stamp", None, b"true"),
    ]);
    let r = s.admin("POST", "/admin/v1/draft", &[("Content-Type", &ct)], &body);
    assert_eq!(r.status, 400, "{}", r.text());
    let bad = record("Stella", "fr").to_string();
    let (ct, body) = multipart(&[
        ("record", None, bad.as_bytes()),
        ("document", Some("doc.pdf"), &doc),
    ]);
    let r = s.admin("POST", "/admin/v1/draft", &[("Content-Type", &ct)], &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("language"), "{}", r.text());

    s.stop();
    // The stamped file is registered, linked in the bottom-left corner.
    let reg = Registry::open(&s.dir.join("ledger"), "http://verify.test").expect("registry");
    let c = reg.find(&code).expect("the stamped registration");
    let hash: [u8; 32] = hex::decode(&c.documents[0].blake3)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let stamped = zeugnis::blobs::BlobStore::open(
        &s.dir.join("ledger"),
        zeugnis::blobs::BLOB_BYTES_MAX_DEFAULT,
    )
    .expect("blobs")
    .get(&hash)
    .expect("blob");
    assert!(stamped.starts_with(&doc), "the original is not a prefix");
    let d = lopdf::Document::load_mem(&stamped).expect("stamped parses");
    let page = d.get_dictionary(d.get_pages()[&1]).expect("page 1");
    let annot = page
        .get(b"Annots")
        .expect("Annots")
        .as_array()
        .expect("array")[0]
        .as_reference()
        .expect("reference");
    let link = d.get_dictionary(annot).expect("link");
    let uri = link
        .get(b"A")
        .and_then(lopdf::Object::as_dict)
        .and_then(|a| a.get(b"URI"))
        .and_then(lopdf::Object::as_str)
        .expect("URI");
    assert_eq!(uri, format!("http://verify.test/de/{code}").as_bytes());
    let x0 = link.get(b"Rect").expect("Rect").as_array().expect("array")[0]
        .as_float()
        .expect("number");
    assert!(
        (x0 - 15.0 * 72.0 / 25.4).abs() < 0.01,
        "not bottom-left: {x0}"
    );
    // What is hashed is the stamped file, not the original.
    assert_eq!(
        reg.code_of_document(blake3::hash(&stamped).as_bytes())
            .expect("lookup")
            .map(|c| plain(&c)),
        Some(code.clone())
    );
    let registered = reg.find(&code).expect("find");
    assert_eq!(
        registered.documents[0].blake3,
        blake3::hash(&stamped).to_hex().as_str(),
        "the registered document is the stamped file"
    );
    // The original is indexed too, through its `Stamped` record (kind 18),
    // so that it cannot be registered again for another certificate.
    assert_eq!(
        reg.code_of_document(blake3::hash(&doc).as_bytes())
            .expect("lookup")
            .map(|c| plain(&c)),
        Some(code.clone())
    );
}
