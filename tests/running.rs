//! One running system: every command works while `zeugnis run` holds the
//! ledger (through its control socket) and with the daemon stopped (opening
//! the ledger itself), with the same output and exit codes; one
//! configuration for every command; a command during shutdown is refused
//! and changes nothing; the control socket admits only the daemon's user;
//! the daemon binds its listeners before it creates anything on disk.

use crate::support::{zeugnis, Daemon};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A PDF as far as the sniffer is concerned.
/// The digital image registered (a small real PDF).
static PDF: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| crate::support::pdf("digital image"));

/// The configuration of these tests: free ports, a configured base URL
/// (which `register` must print), an inbox that is not `./scans` (which
/// `status` must find without `--scans`), no periodic report.
const CONFIG: &str = "base_url = \"https://zeugnisse.example.de\"\n\
scans = \"inbox\"\n\
[intake]\nstable_ms = 100\n\
[report]\ninterval_secs = 0\n\
[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n";

struct Env {
    _t: tempfile::TempDir,
    dir: PathBuf,
}

impl Env {
    /// A fresh folder with a ledger, fixtures and `zeugnis.toml` (so that
    /// every command finds the configuration by itself).
    fn new() -> Env {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().to_path_buf();
        let e = Env { _t: t, dir };
        std::fs::write(e.dir.join("zeugnis.toml"), CONFIG).expect("config");
        let (code, _, err) = e.run(&["init", "--origin", "test.example/zeugnis/1"]);
        assert_eq!(code, 0, "{err}");
        std::fs::write(e.dir.join("doc.pdf"), &*PDF).expect("doc");
        std::fs::write(
            e.dir.join("r.json"),
            serde_json::to_vec(&record("Erika")).expect("json"),
        )
        .expect("record");
        std::fs::write(
            e.dir.join("r2.json"),
            serde_json::to_vec(&record("Max")).expect("json"),
        )
        .expect("record");
        e
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        zeugnis(&self.dir, args)
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str], daemon: Option<&Daemon>) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code,
            0,
            "zeugnis {args:?}: {err}\n{}",
            daemon.map(Daemon::log).unwrap_or_default()
        );
        out
    }

    fn start(&self) -> Daemon {
        let mut d = Daemon::start(&self.dir, CONFIG);
        d.wait_for_log("control socket listening");
        d
    }

    /// Records in the ledger, from `audit` (lock-free; works either way).
    fn records(&self) -> u64 {
        let out = self.ok(&["audit"], None);
        out.lines()
            .find_map(|l| l.trim().strip_prefix("records:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no record count in {out}"))
    }
}

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

/// `GET path` on the daemon's public listener; (status, body).
fn get(daemon: &mut Daemon, path: &str) -> (u16, String) {
    let addr = daemon.addr("public");
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("response");
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

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every command while a real daemon runs: read commands see its latest
/// state, write commands take effect and the daemon serves the result at
/// once; then the same read commands with the daemon stopped print exactly
/// the same.
#[test]
fn every_command_works_while_the_daemon_runs_and_after_it_stopped() {
    let e = Env::new();
    let mut d = e.start();
    let socket = e.dir.join("ledger/control.sock");
    assert_eq!(mode(&socket), 0o600, "control socket mode");

    // register: through the daemon (`--verbose` says so), with the
    // configured base URL in the printed link.
    let (code, out, err) = e.run(&[
        "--verbose",
        "register",
        "--record",
        "r.json",
        "--document",
        "doc.pdf",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert!(err.contains("register runs in the daemon"), "{err}");
    let issued: Value = serde_json::from_str(&out).expect("register --json");
    let code_text = issued["code"].as_str().expect("code").to_string();
    let key = issued["key"].as_str().expect("key").to_string();
    let compact = code_text.replace('-', "");
    assert_eq!(
        issued["url"],
        format!("https://zeugnisse.example.de/de/{compact}-{key}")
    );
    // The daemon serves it at once.
    let (status, body) = get(&mut d, &format!("/api/v1/certificates/{compact}"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"awaiting_scan\""), "{body}");

    // Read commands see the daemon's latest state.
    let shown: Value =
        serde_json::from_str(&e.ok(&["show", &code_text, "--json"], Some(&d))).expect("json");
    assert_eq!(shown["state"], "awaiting_scan");
    assert!(shown.get("holder").is_none());
    let with_key = e.ok(&["show", &code_text, "--key", &key], Some(&d));
    assert!(with_key.contains("Erika"), "{with_key}");
    let (code, _, err) = e.run(&["show", "0000-0000-0000"]);
    assert_eq!(code, 2, "unknown code is bad input: {err}");
    assert!(err.contains("zeugnis: error:"), "{err}");

    let out = e.ok(&["cover-sheet", &code_text, "-o", "sheet.pdf"], Some(&d));
    assert!(out.contains("wrote the cover sheet"), "{out}");
    let sheet = std::fs::read(e.dir.join("sheet.pdf")).expect("cover sheet written");
    assert!(sheet.starts_with(b"%PDF"), "a PDF");

    // ingest through the daemon's intake: the cover sheet itself carries
    // the code, so it is archived as the scan.
    std::fs::write(e.dir.join("scan.pdf"), &sheet).expect("scan");
    let out = e.ok(&["ingest", "scan.pdf", "--json"], Some(&d));
    let outcome: Value = serde_json::from_str(out.trim()).expect("outcome");
    assert_eq!(outcome["outcome"], "archived", "{out}\n{}", d.log());
    let (_, body) = get(&mut d, &format!("/api/v1/certificates/{compact}"));
    assert!(body.contains("\"archived\""), "{body}");

    // An empty file is quarantined (exit 2), and status finds the inbox
    // of the configuration without --scans.
    std::fs::write(e.dir.join("empty.pdf"), b"").expect("empty");
    let (code, out, err) = e.run(&["ingest", "empty.pdf"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("quarantined"), "{out}");
    let status: Value =
        serde_json::from_str(&e.ok(&["status", "--json"], Some(&d))).expect("status");
    assert_eq!(
        status["quarantined"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
    assert!(
        e.dir.join("inbox/quarantine").is_dir(),
        "the configured inbox is used"
    );

    // --scans naming another inbox than the daemon's is refused.
    std::fs::create_dir(e.dir.join("other")).expect("other inbox");
    let (code, _, err) = e.run(&["ingest", "--scans", "other", "scan.pdf"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("takes scans from its inbox"), "{err}");

    // export-proof and verify-proof.
    let out = e.ok(&["export-proof", &code_text, "-o", "proof"], Some(&d));
    assert!(out.contains("exported"), "{out}");
    let vkey = std::fs::read_to_string(e.dir.join("proof/vkey")).expect("bundled vkey");
    let out = e.ok(
        &[
            "verify-proof",
            "proof",
            "--vkey",
            vkey.lines().next().expect("a key"),
        ],
        Some(&d),
    );
    assert!(out.contains("verified: proof"), "{out}");

    // checkpoint, vkey and audit read the files without any lock.
    let old_note = e.ok(&["checkpoint"], Some(&d));
    std::fs::write(e.dir.join("old.note"), &old_note).expect("note");
    assert!(e
        .ok(&["vkey"], Some(&d))
        .starts_with("test.example/zeugnis/1+"));
    let before = e.records();

    // audit --fixity records FixityChecked through the daemon.
    let out = e.ok(&["audit", "--fixity"], Some(&d));
    assert!(
        out.contains("0 problem(s); recorded as ledger seq"),
        "{out}"
    );
    assert_eq!(e.records(), before + 1);

    // Key rotation; the consistency of the old checkpoint with the new.
    let out = e.ok(&["rotate-key"], Some(&d));
    assert!(out.contains("added signing key"), "{out}");
    assert_eq!(out.matches("active: ").count(), 2, "{out}");
    let out = e.ok(&["consistency", "old.note"], Some(&d));
    assert!(out.contains("is a prefix of size"), "{out}");
    let (_, cp) = get(&mut d, "/checkpoint");
    assert_eq!(
        cp.matches("\u{2014} test.example/zeugnis/1 ").count(),
        2,
        "two signatures served at once: {cp}"
    );

    // Lifecycle writes.
    let (code, out, err) = e.run(&[
        "supersede",
        &code_text,
        "--record",
        "r2.json",
        "--document",
        "doc.pdf",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let new: Value = serde_json::from_str(&out).expect("supersede --json");
    let new_code = new["code"].as_str().expect("code").to_string();
    assert!(new["url"]
        .as_str()
        .expect("url")
        .starts_with("https://zeugnisse.example.de/de/"));
    let out = e.ok(&["void", &new_code, "--reason", "restarted"], Some(&d));
    assert!(out.contains("voided"), "{out}");
    let (code, _, err) = e.run(&["void", &new_code, "--reason", "again"]);
    assert_eq!(
        code, 2,
        "a refused transition is bad input, as on a stopped ledger"
    );
    assert!(err.contains("cannot void"), "{err}");
    let third = e.ok(
        &[
            "register",
            "--record",
            "r.json",
            "--document",
            "doc.pdf",
            "--json",
        ],
        Some(&d),
    );
    let third: Value = serde_json::from_str(&third).expect("json");
    let third = third["code"].as_str().expect("code").to_string();
    let out = e.ok(
        &[
            "revoke",
            &third,
            "--reason",
            "issued in error",
            "--effective",
            "2026-10-01",
        ],
        Some(&d),
    );
    assert!(out.contains("effective 2026-10-01"), "{out}");
    let out = e.ok(&["erase", &third, "--reason", "Art. 17"], Some(&d));
    assert!(out.contains("erased the holder data"), "{out}");
    let (_, body) = get(
        &mut d,
        &format!("/api/v1/certificates/{}", third.replace('-', "")),
    );
    assert!(body.contains("\"revoked\""), "{body}");

    let out = e.ok(&["export-archive", "-o", "bag"], Some(&d));
    assert!(out.contains("exported a BagIt bag"), "{out}");
    assert!(e.dir.join("bag/bagit.txt").is_file());
    let out = e.ok(&["grade", "--list"], Some(&d));
    assert!(out.contains("erfurt-ba-2019"), "{out}");

    // The same read commands while running and stopped print the same.
    let reads: Vec<Vec<String>> = vec![
        vec!["show".into(), code_text.clone(), "--json".into()],
        vec![
            "show".into(),
            code_text.clone(),
            "--key".into(),
            key.clone(),
        ],
        vec!["show".into(), new_code.clone()],
        vec!["show".into(), third.clone(), "--json".into()],
        vec!["checkpoint".into()],
        vec!["vkey".into()],
    ];
    let run_all = |e: &Env| -> Vec<(i32, String)> {
        reads
            .iter()
            .map(|args| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (code, out, _) = e.run(&args);
                (code, out)
            })
            .collect()
    };
    let running = run_all(&e);
    let records_running = e.records();
    d.stop();
    assert!(!socket.exists(), "the socket is removed at exit");
    let stopped = run_all(&e);
    assert_eq!(running, stopped);
    assert!(running.iter().all(|(c, _)| *c == 0), "{running:?}");

    // With the daemon stopped, commands open the ledger themselves.
    let (code, _, err) = e.run(&["--verbose", "show", &code_text]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("opens the ledger itself"), "{err}");
    let out = e.ok(&["audit", "--fixity"], None);
    assert!(out.contains("recorded as ledger seq"), "{out}");
    assert_eq!(e.records(), records_running + 1);
    let out = e.ok(&["cover-sheet", &third, "-o", "sheet2.pdf"], None);
    assert!(out.contains("wrote the cover sheet"), "{out}");
    let status: Value = serde_json::from_str(&e.ok(&["status", "--json"], None)).expect("status");
    assert_eq!(
        status["quarantined"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
}

/// A write sent while the daemon is shutting down is refused with a clear
/// error and changes nothing. The daemon is held at its shutdown gate (a
/// test hook: it waits for a file after it has started refusing), so the
/// command arrives during the shutdown without any timing.
#[test]
fn a_write_during_shutdown_is_refused_and_changes_nothing() {
    let e = Env::new();
    let gate = e.dir.join("gate");
    let mut d = Daemon::start_with_env(
        &e.dir,
        CONFIG,
        &[(zeugnis::daemon::SHUTDOWN_GATE_ENV, gate.as_path())],
    );
    d.wait_for_log("control socket listening");
    let records = e.records();
    let blobs_before = blob_count(&e.dir);
    d.terminate();
    d.wait_for_log("waiting at the shutdown gate");
    let (code, out, err) = e.run(&["register", "--record", "r.json", "--document", "doc.pdf"]);
    assert_eq!(code, 1, "{out}{err}\n{}", d.log());
    assert!(
        err.contains("shutting down") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    let (code, _, err) = e.run(&["ingest", "doc.pdf"]);
    assert_eq!(code, 1);
    assert!(err.contains("shutting down"), "{err}");
    assert!(e.dir.join("doc.pdf").is_file(), "the file was not taken");
    std::fs::write(&gate, b"").expect("open the gate");
    assert_eq!(d.wait_exit(), Some(0), "{}", d.log());
    assert_eq!(e.records(), records, "no record was appended");
    assert_eq!(blob_count(&e.dir), blobs_before, "no blob was written");
}

fn blob_count(dir: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.map(|e| {
                    let p = e.expect("entry").path();
                    if p.is_dir() {
                        walk(&p)
                    } else {
                        1
                    }
                })
                .sum()
            })
            .unwrap_or(0)
    }
    walk(&dir.join("ledger/blobs"))
}

/// The control socket is mode 0600 and another user cannot use it: as
/// root, the test runs the CLI as `nobody` (uid 65534), which the socket's
/// mode keeps out; then it widens the mode by hand (an operator's mistake)
/// and the daemon still refuses the peer by its user ID. Without root only
/// the mode is checked (say so on stderr).
#[test]
fn another_user_cannot_write_through_the_control_socket() {
    use std::os::unix::process::CommandExt;
    let e = Env::new();
    let d = e.start();
    let socket = e.dir.join("ledger/control.sock");
    assert_eq!(mode(&socket), 0o600);
    let records = e.records();
    if !is_root() {
        eprintln!("not root: cannot run the CLI as another user; checked the socket mode only");
        d.stop();
        return;
    }
    // Let `nobody` reach the folder (tempdirs are 0700), so that the socket
    // itself is what keeps it out.
    for p in [e.dir.as_path(), &e.dir.join("ledger")] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let as_nobody = |args: &[&str]| {
        crate::support::output(
            std::process::Command::new(crate::support::bin())
                .args(args)
                .current_dir(&e.dir)
                .uid(65_534)
                .gid(65_534),
        )
    };
    let register = ["register", "--record", "r.json", "--document", "doc.pdf"];
    let (code, out, err) = as_nobody(&register);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("permission denied"), "{err}");
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .expect("widen the mode");
    let (code, out, err) = as_nobody(&register);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("accepts commands only from user ID 0") && err.contains("nothing was changed"),
        "{err}\n{}",
        d.log()
    );
    assert!(d.log().contains("refused a request from another user"));
    assert_eq!(e.records(), records, "nothing was appended");
    d.stop();
}

fn is_root() -> bool {
    crate::support::output(std::process::Command::new("id").arg("-u"))
        .1
        .trim()
        == "0"
}

/// `zeugnis run` binds its listeners before it creates anything on disk:
/// a busy port is an error naming the address and the key to change, and
/// no ledger is left behind.
#[test]
fn a_busy_port_stops_the_start_before_anything_is_created() {
    let t = tempfile::tempdir().expect("tempdir");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr");
    let config = format!(
        "[http]\npublic_addr = \"{addr}\"\nadmin_addr = \"127.0.0.1:0\"\n[report]\ninterval_secs = 0\n"
    );
    let mut d = Daemon::start(t.path(), &config);
    let code = d.wait_exit();
    let log = d.log();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("cannot listen on {addr}")) && log.contains("public_addr"),
        "{log}"
    );
    assert!(
        !t.path().join("ledger").exists(),
        "no ledger created: {log}"
    );
    assert!(!t.path().join("scans").exists(), "no inbox created: {log}");
    drop(busy);
}

/// Every command finds the configuration by itself: `--config FILE`, else
/// `ZEUGNIS_CONFIG`, else `./zeugnis.toml`; a bad one is exit 2 naming it.
#[test]
fn the_configuration_is_found_by_flag_environment_or_working_directory() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    std::fs::create_dir(dir.join("etc")).expect("etc");
    // Relative `data` in the file is relative to the file's folder.
    std::fs::write(dir.join("etc/rel.toml"), "data = \"../store\"\n").expect("config");
    let (code, _, err) = zeugnis(dir, &["--config", "etc/rel.toml", "init"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        dir.join("store/segments").is_dir(),
        "init used data from --config"
    );
    let (code, out, _) = crate::support::output(
        std::process::Command::new(crate::support::bin())
            .args(["vkey"])
            .current_dir(dir)
            .env(zeugnis::config::CONFIG_ENV, "etc/rel.toml"),
    );
    assert_eq!(code, 0, "ZEUGNIS_CONFIG names the file");
    assert!(out.starts_with("localhost/zeugnis/1+"), "{out}");
    // ./zeugnis.toml is read when present; --data still wins over it.
    std::fs::write(dir.join("zeugnis.toml"), "data = \"store\"\n").expect("config");
    let (code, _, err) = zeugnis(dir, &["checkpoint"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = zeugnis(dir, &["checkpoint", "--data", "elsewhere"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("elsewhere holds no ledger"), "{err}");
    std::fs::write(dir.join("zeugnis.toml"), "colour = \"blue\"\n").expect("config");
    let (code, _, err) = zeugnis(dir, &["status"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("zeugnis.toml") && err.contains("colour"),
        "{err}"
    );
    // grade needs no configuration.
    let (code, _, err) = zeugnis(dir, &["grade", "--list"]);
    assert_eq!(code, 0, "{err}");
}

/// Under systemd (`Type=notify`) the daemon says `READY=1` once its
/// listeners, ledger and control socket are up, and `STOPPING=1` when it
/// begins to stop.
#[test]
fn the_daemon_tells_systemd_when_it_is_ready_and_stopping() {
    let e = Env::new();
    let notify = e.dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&notify).expect("bind notify socket");
    sock.set_read_timeout(Some(crate::support::PATIENCE))
        .expect("timeout");
    let mut d = Daemon::start_with_env(
        &e.dir,
        CONFIG,
        &[(zeugnis::daemon::NOTIFY_SOCKET_ENV, notify.as_path())],
    );
    let mut buf = [0u8; 256];
    let n = sock
        .recv(&mut buf)
        .unwrap_or_else(|err| panic!("no READY=1 ({err}):\n{}", d.log()));
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    assert!(
        e.dir.join("ledger/control.sock").exists(),
        "ready only once the control socket is bound"
    );
    let (code, _, err) = e.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    d.terminate();
    let n = sock.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert_eq!(d.wait_exit(), Some(0), "{}", d.log());
}

/// The systemd unit in docs/ is hardened and passes `systemd-analyze
/// verify` (with `ExecStart` pointed at the binary under test, since
/// verify checks that it exists).
#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/zeugnis.service"))
            .expect("docs/zeugnis.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/zeugnis run",
        "User=zeugnis",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/zeugnis /srv/zeugnis/scans",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "Environment=ZEUGNIS_CONFIG=/etc/zeugnis/zeugnis.toml ZEUGNIS_LOG=info",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line:?}");
    }
    let have = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!(
            "systemd-analyze is not installed (.ci/run installs it): checked the unit's lines only"
        );
        return;
    }
    let t = tempfile::tempdir().expect("tempdir");
    let bin = crate::support::bin();
    let path = t.path().join("zeugnis.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/zeugnis", &bin.display().to_string()),
    )
    .expect("write unit");
    let (code, out, err) = crate::support::output(
        std::process::Command::new("systemd-analyze")
            .args(["verify"])
            .arg(&path),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.trim().is_empty() && out.trim().is_empty(),
        "systemd-analyze verify warns:\n{out}{err}"
    );
}

/// One request to `addr`; (status, head, body).
fn http(addr: &str, method: &str, path: &str, token: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
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
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head end: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status in {head}"));
    (status, head, raw[split + 4..].to_vec())
}

/// The admin API can do what the CLI can: show with the key, the cover
/// sheet PDF, a fixity audit started in the background with its progress
/// in `/metrics`, key rotation.
#[test]
fn the_admin_api_shows_prints_audits_and_rotates() {
    let e = Env::new();
    let token = "a-test-admin-token-of-at-least-32-bytes-0123456789";
    let token_file = e.dir.join("admin.token");
    std::fs::write(&token_file, token).expect("token");
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let config = format!("{CONFIG}admin_token_file = \"admin.token\"\n");
    let mut d = Daemon::start(&e.dir, &config);
    let admin = d.addr("admin");
    let public = d.addr("public");
    let issued: Value = serde_json::from_str(&e.ok(
        &[
            "register",
            "--record",
            "r.json",
            "--document",
            "doc.pdf",
            "--json",
        ],
        Some(&d),
    ))
    .expect("json");
    let (code, key) = (
        issued["code"].as_str().expect("code"),
        issued["key"].as_str().expect("key"),
    );

    let (status, _, body) = http(
        &admin,
        "GET",
        &format!("/admin/v1/certificates/{code}?key={key}"),
        token,
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let cert: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(cert["holder"]["holder"]["given_name"], "Erika", "{cert}");
    let (status, _, body) = http(
        &admin,
        "GET",
        &format!("/admin/v1/certificates/{code}"),
        token,
        b"",
    );
    assert_eq!(status, 200);
    let cert: Value = serde_json::from_slice(&body).expect("json");
    assert!(
        cert.get("holder").is_none(),
        "no holder data without the key: {cert}"
    );
    let (status, _, _) = http(
        &admin,
        "GET",
        &format!("/admin/v1/certificates/{code}?key=AAAAAA"),
        token,
        b"",
    );
    assert!(
        status == 400 || status == 403,
        "a wrong key is refused: {status}"
    );
    let (status, _, _) = http(
        &admin,
        "GET",
        &format!("/admin/v1/certificates/{code}"),
        "wrong-token",
        b"",
    );
    assert_eq!(status, 401);

    let (status, head, pdf) = http(
        &admin,
        "GET",
        &format!("/admin/v1/certificates/{code}/cover-sheet"),
        token,
        b"",
    );
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/pdf"),
        "{head}"
    );
    assert!(pdf.starts_with(b"%PDF"));
    let cli_pdf_out = e.ok(&["cover-sheet", code, "-o", "cli.pdf"], Some(&d));
    assert!(cli_pdf_out.contains("wrote"), "{cli_pdf_out}");

    let records = e.records();
    let (status, _, body) = http(&admin, "POST", "/admin/v1/fixity", token, b"");
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let t0 = std::time::Instant::now();
    let last = loop {
        let (status, _, body) = http(&admin, "GET", "/admin/v1/fixity", token, b"");
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).expect("json");
        if v["running"] == false && !v["last"].is_null() {
            break v;
        }
        assert!(
            t0.elapsed() < crate::support::PATIENCE,
            "fixity never finished: {v}\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(last["last"]["failures"], json!([]), "{last}");
    assert_eq!(
        last["last"]["blobs_checked"], 2,
        "document + holder blob: {last}"
    );
    assert_eq!(last["checked_bytes"], last["total_bytes"], "{last}");
    assert_eq!(e.records(), records + 1, "FixityChecked recorded");
    let (_, _, metrics) = http(&public, "GET", "/metrics", "", b"");
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("zeugnis_fixity_running 0"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "zeugnis_fixity_total_bytes {}",
            last["total_bytes"]
        )),
        "{metrics}"
    );

    let (status, _, body) = http(&admin, "POST", "/admin/v1/keys", token, b"{}");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["action"], "added");
    assert_eq!(v["active"].as_array().map(Vec::len), Some(2), "{v}");
    let (_, cp) = get(&mut d, "/checkpoint");
    assert_eq!(
        cp.matches("\u{2014} test.example/zeugnis/1 ").count(),
        2,
        "{cp}"
    );
    let (status, _, _) = http(
        &admin,
        "POST",
        "/admin/v1/keys",
        token,
        br#"{"reason": "x"}"#,
    );
    assert_eq!(status, 400, "a reason without retire is bad input");
    d.stop();
}

/// `docs/openapi.json` covers the admin API: every admin route, with the
/// bearer-token security scheme.
#[test]
fn openapi_covers_every_admin_route() {
    let doc: Value =
        serde_json::from_str(zeugnis::http::public::OPENAPI_JSON).expect("OpenAPI is JSON");
    assert_eq!(
        doc["components"]["securitySchemes"]["adminToken"]["scheme"],
        "bearer"
    );
    for route in zeugnis::http::admin::ADMIN_ROUTES {
        let path = &doc["paths"][route];
        assert!(path.is_object(), "{route} missing from docs/openapi.json");
        let ops: Vec<&Value> = ["get", "post"]
            .iter()
            .filter_map(|m| path.get(*m))
            .collect();
        assert!(!ops.is_empty(), "{route} has no operation");
        for op in ops {
            assert_eq!(op["security"][0]["adminToken"], json!([]), "{route}");
        }
        // Each documented template is really routed (not a 404 label).
        let concrete = route.replace("{code}", "QNVCFM3P4VDF");
        assert_ne!(
            zeugnis::http::admin::classify(&concrete),
            "admin_not_found",
            "{route}"
        );
    }
}

/// nginx from `docs/nginx-zeugnis.conf` (ports, upstream and certificate
/// substituted) terminates TLS in front of the daemon, which lists it in
/// `trusted_proxies`: the per-client lookup limit counts the real client
/// (clients on 127.0.0.2 and 127.0.0.3, the proxy on 127.0.0.1), and an
/// `X-Forwarded-For` a client sends itself is dropped by nginx.
#[test]
fn nginx_in_front_limits_the_real_client() {
    let conf_doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/nginx-zeugnis.conf"),
    )
    .expect("docs/nginx-zeugnis.conf");
    let tools = ["nginx", "curl", "openssl"].iter().all(|t| {
        std::process::Command::new(t)
            .arg(if *t == "nginx" { "-v" } else { "--version" })
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(
        conf_doc.contains("proxy_set_header X-Forwarded-For $remote_addr;"),
        "the proxy must replace X-Forwarded-For"
    );
    if !tools {
        eprintln!("nginx, curl or openssl missing (.ci/run installs them): checked the file only");
        return;
    }
    let e = Env::new();
    let config = CONFIG.replace(
        "[http]\n",
        "[http]\ntrusted_proxies = [\"127.0.0.1\"]\nlookups_per_ip_per_minute = 1\nlookup_burst = 2\n",
    );
    let mut d = Daemon::start(&e.dir, &config);
    let upstream = d.addr("public");
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port()
    };
    let (tls_port, plain_port) = (free(), free());
    let ngx = e.dir.join("nginx");
    std::fs::create_dir(&ngx).expect("nginx dir");
    let (code, _, err) = crate::support::output(
        std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=zeugnisse.uni-example.de",
            ])
            .args(["-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(&ngx),
    );
    assert_eq!(code, 0, "{err}");
    let mut site = conf_doc.clone();
    for (from, to) in [
        ("server 127.0.0.1:8080;", format!("server {upstream};")),
        (
            "listen 443 ssl;",
            format!("listen 127.0.0.1:{tls_port} ssl;"),
        ),
        ("listen [::]:443 ssl;", String::new()),
        ("listen 80;", format!("listen 127.0.0.1:{plain_port};")),
        ("listen [::]:80;", String::new()),
        (
            "/etc/ssl/zeugnis/fullchain.pem",
            ngx.join("cert.pem").display().to_string(),
        ),
        (
            "/etc/ssl/zeugnis/privkey.pem",
            ngx.join("key.pem").display().to_string(),
        ),
    ] {
        assert!(
            site.contains(from),
            "docs/nginx-zeugnis.conf lacks {from:?}"
        );
        site = site.replace(from, &to);
    }
    std::fs::write(ngx.join("zeugnis.conf"), site).expect("site");
    let n = ngx.display();
    std::fs::write(
        ngx.join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\npid {n}/nginx.pid;\nerror_log {n}/error.log;\n\
             events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {n}/body;\n\
             proxy_temp_path {n}/proxy;\n fastcgi_temp_path {n}/fastcgi;\n uwsgi_temp_path {n}/uwsgi;\n\
             scgi_temp_path {n}/scgi;\n include {n}/zeugnis.conf;\n}}\n"
        ),
    )
    .expect("nginx.conf");
    struct Nginx(std::process::Child);
    impl Drop for Nginx {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut nginx = Nginx(
        std::process::Command::new("nginx")
            .args(["-p", &n.to_string(), "-e", &format!("{n}/error.log"), "-c"])
            .arg(ngx.join("nginx.conf"))
            .stderr(std::fs::File::create(ngx.join("stderr.log")).expect("log"))
            .spawn()
            .expect("start nginx"),
    );
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        let logs = || {
            std::fs::read_to_string(ngx.join("error.log")).unwrap_or_default()
                + &std::fs::read_to_string(ngx.join("stderr.log")).unwrap_or_default()
        };
        assert!(
            nginx.0.try_wait().expect("wait").is_none(),
            "nginx exited: {}",
            logs()
        );
        assert!(
            t0.elapsed() < crate::support::PATIENCE,
            "nginx never listened: {}",
            logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // One lookup from `from` over TLS through nginx; its status.
    let lookup = |from: &str, extra: &[&str]| -> u16 {
        let (code, out, err) = crate::support::output(
            std::process::Command::new("curl")
                .args([
                    "-sS",
                    "-k",
                    "--interface",
                    from,
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                ])
                .args([
                    "--resolve",
                    &format!("zeugnisse.uni-example.de:{tls_port}:127.0.0.1"),
                ])
                .args(extra)
                .arg(format!(
                    "https://zeugnisse.uni-example.de:{tls_port}/api/v1/certificates/QNVCFM3P4VDF"
                )),
        );
        assert_eq!(code, 0, "curl: {err}");
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("status {out:?}"))
    };
    // The burst of 2 lookups, then 429 for client 127.0.0.2...
    assert_eq!(lookup("127.0.0.2", &[]), 404, "{}", d.log());
    assert_eq!(lookup("127.0.0.2", &[]), 404);
    assert_eq!(lookup("127.0.0.2", &[]), 429, "the real client is limited");
    // ...while 127.0.0.3 has its own budget, even when it claims to be
    // 127.0.0.2 (nginx replaces the header).
    assert_eq!(
        lookup("127.0.0.3", &["-H", "X-Forwarded-For: 127.0.0.2"]),
        404,
        "a spoofed X-Forwarded-For must not count against another client"
    );
    // And 127.0.0.2 cannot escape its limit by claiming another address.
    assert_eq!(
        lookup("127.0.0.2", &["-H", "X-Forwarded-For: 198.51.100.7"]),
        429
    );
    // Plain HTTP is redirected to HTTPS.
    let (code, out, err) = crate::support::output(
        std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{redirect_url}",
            ])
            .args(["-H", "Host: zeugnisse.uni-example.de"])
            .arg(format!("http://127.0.0.1:{plain_port}/de/X")),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("301 https://zeugnisse.uni-example.de/de/X"),
        "{out}"
    );
    drop(nginx);
    d.stop();
}
