//! Shared helpers for the integration tests.

use std::path::{Path, PathBuf};
use zeugnis::ledger::record::{BlobRef, Body, DocumentRef, GradeRecord};
use zeugnis::ledger::{Ledger, LedgerOptions};

/// Runs a program; returns (exit code, stdout, stderr).
pub fn output(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().expect("run program");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `zeugnis ARGS` in `dir`.
pub fn zeugnis(dir: &Path, args: &[&str]) -> (i32, String, String) {
    output(
        std::process::Command::new(bin())
            .args(args)
            .current_dir(dir),
    )
}

/// Makes sure the Python modules a test uses are importable (`.ci/run`
/// installs them; a test run without it installs them with pip).
pub fn python_modules(modules: &[&str]) {
    let import = format!("import {}", modules.join(", "));
    let ok = std::process::Command::new("python3")
        .args(["-c", &import])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let pip = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "-q"])
            .args(modules)
            .status()
            .expect("python3 with pip");
        assert!(pip.success(), "pip install {modules:?}");
    }
}

/// Path of the built `zeugnis` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zeugnis"))
}

/// A fresh ledger in a temp dir.
pub fn new_ledger(opts: LedgerOptions) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::init(&dir.path().join("ledger"), "test.example/zeugnis/1", opts).expect("init");
    (dir, l)
}

/// The ledger directory inside a temp dir made by [`new_ledger`].
pub fn ledger_dir(t: &tempfile::TempDir) -> PathBuf {
    t.path().join("ledger")
}

/// A deterministic body of roughly 300 encoded bytes, distinct per `n`.
pub fn sample_body(n: u64) -> Body {
    Body::Revoked {
        code: format!("{n:012}"),
        reason: format!("test record {n}: {}", "x".repeat(200)),
        effective_date: "2026-11-23".into(),
    }
}

/// One body of every kind, with fixed contents (golden vectors).
pub fn every_kind() -> Vec<Body> {
    let blob = |b: u8| BlobRef {
        blake3: [b; 32],
        sha256: [b.wrapping_add(1); 32],
        size_bytes: 123_456,
        media_type: "application/pdf".into(),
    };
    vec![
        Body::Genesis {
            origin: "verify.uni-example.de/zeugnis/1".into(),
            format: "zeugnis-ledger-v1".into(),
            public_key: [7; 32],
            predecessor_checkpoint: String::new(),
        },
        Body::KeyAdded {
            public_key: [8; 32],
            valid_from_s: 1_790_000_000,
        },
        Body::KeyRetired {
            public_key: [7; 32],
            valid_until_s: 1_800_000_000,
            reason: "rotation".into(),
        },
        Body::RulesetAdded {
            id: "erfurt-ba-2019".into(),
            version: "1".into(),
            text: blob(1),
        },
        Body::Registered {
            code: "QNVCFM3P4UDF".into(),
            document_kind: "transcript".into(),
            institution: "Universität Erfurt".into(),
            holder_commitment: [2; 32],
            key_commitment: [3; 32],
            documents: vec![
                DocumentRef {
                    language: "de".into(),
                    blob: blob(4),
                },
                DocumentRef {
                    language: "en".into(),
                    blob: blob(5),
                },
            ],
            grade: Some(GradeRecord {
                ruleset_id: "erfurt-ba-2019".into(),
                ruleset_hash: [6; 32],
                final_grade: Some("1.76".parse().expect("decimal")),
                result_json: r#"{"final":{"value":"1.76"}}"#.into(),
            }),
        },
        Body::ScanArchived {
            code: "QNVCFM3P4UDF".into(),
            scan: blob(9),
            source_name: "scan_QNVC-FM3P-4UDF_001.pdf".into(),
        },
        Body::Revoked {
            code: "QNVCFM3P4UDF".into(),
            reason: "Täuschung festgestellt".into(),
            effective_date: "2027-01-31".into(),
        },
        Body::Superseded {
            old_code: "QNVCFM3P4UDF".into(),
            new_code: "7K2M9XAB3CDE".into(),
        },
        Body::Voided {
            code: "7K2M9XAB3CDE".into(),
            reason: "scan illegible; process restarted".into(),
        },
        Body::FixityChecked {
            blobs_checked: 3,
            bytes_checked: 370_368,
            failures: vec![[10; 32]],
        },
        Body::Erased {
            code: "QNVCFM3P4UDF".into(),
            reason: "GDPR Art. 17 request".into(),
        },
    ]
}

/// A small real PDF (one A4 page showing `text`), distinct per text: what
/// tests register as a digital image (a registration refuses non-PDFs and
/// the same bytes for two valid certificates).
pub fn pdf(text: &str) -> Vec<u8> {
    zeugnis::document::text_pdf(&[vec![text.to_string()]], None)
}

/// A small real PDF that no other call in this process returns (for tests
/// that register many certificates: the same bytes are refused for a
/// second valid certificate).
pub fn fresh_pdf() -> Vec<u8> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    pdf(&format!("digital image {n}"))
}

/// Reads a whole file.
pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// A real SMTP server for mail tests (Python's aiosmtpd, printing every
/// message it receives); killed when dropped.
pub struct Smtp {
    child: std::process::Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    received: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Smtp {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Smtp {
        python_modules(&["aiosmtpd"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut child = std::process::Command::new("python3")
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd");
        let received = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (sink, out) = (received.clone(), child.stdout.take().expect("stdout"));
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let mut s = sink.lock().expect("lock");
                // Unfold RFC 5322 header lines.
                if line.starts_with(' ') || line.starts_with('\t') {
                    s.push(' ');
                    s.push_str(line.trim_start());
                } else {
                    s.push('\n');
                    s.push_str(&line);
                }
            }
        });
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Smtp {
            child,
            port,
            received,
        }
    }

    /// Everything received so far (header lines unfolded).
    pub fn received(&self) -> String {
        self.received.lock().expect("lock").clone()
    }

    /// Waits (at most a minute) until a whole message containing `what`
    /// has been received (aiosmtpd's end-of-message line follows it).
    pub fn wait_for(&self, what: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            let text = self.received();
            let complete = text
                .find(what)
                .is_some_and(|at| text[at..].contains("END MESSAGE"));
            if complete {
                return text;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "no mail with {what:?} arrived; received:\n{text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Longest a test waits for a daemon to reach an expected state. This is a
/// liveness bound, not a speed check: normal runs take a fraction of it.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(180);

/// A `zeugnis run --config FILE` process started by a test, its stderr (the
/// log, at `info`) going to `daemon.log` beside the config. Dropping the
/// handle kills it, so no daemon outlives its test, whatever happens.
pub struct Daemon {
    child: std::process::Child,
    log: PathBuf,
}

impl Daemon {
    /// Writes `config` (TOML) to `DIR/zeugnis.toml` and starts
    /// `zeugnis run --config zeugnis.toml` in `dir`, its log truncated.
    pub fn start(dir: &Path, config: &str) -> Daemon {
        Daemon::start_with_env(dir, config, &[])
    }

    /// As [`Daemon::start`], with extra environment variables (test hooks).
    pub fn start_with_env(dir: &Path, config: &str, env: &[(&str, &Path)]) -> Daemon {
        std::fs::write(dir.join("zeugnis.toml"), config).expect("write config");
        let log = dir.join("daemon.log");
        let child = std::process::Command::new(bin())
            .args(["run", "--config", "zeugnis.toml"])
            .current_dir(dir)
            .envs(env.iter().copied())
            .env("ZEUGNIS_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start daemon");
        Daemon { child, log }
    }

    /// The daemon's process id (for `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most [`PATIENCE`]) until the log contains `what`; fails
    /// with the log if the daemon exits first or the time is up.
    pub fn wait_for_log(&mut self, what: &str) -> String {
        let t0 = std::time::Instant::now();
        loop {
            let log = self.log();
            if log.contains(what) {
                return log;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // It may have written the line just before exiting.
                let log = self.log();
                assert!(
                    log.contains(what),
                    "the daemon exited ({status}) without logging {what:?}:\n{log}"
                );
                return log;
            }
            assert!(
                t0.elapsed() < PATIENCE,
                "the daemon never logged {what:?}:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The address a listener (`public` or `admin`) is bound to, from the
    /// daemon's log line `verification service listening public=… admin=…`.
    pub fn addr(&mut self, which: &str) -> String {
        let log = self.wait_for_log("verification service listening");
        let line = log
            .lines()
            .find(|l| l.contains("verification service listening"))
            .expect("the listening line");
        let key = format!("{which}=");
        let at = line.find(&key).expect("address in the log line") + key.len();
        line[at..]
            .split_whitespace()
            .next()
            .expect("addr")
            .to_string()
    }

    /// Sends SIGTERM, once the daemon has installed its handlers (which it
    /// does before its first log line).
    pub fn terminate(&mut self) {
        self.wait_for_log("starting");
        let pid = self.child.id().to_string();
        let st = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(st.success(), "kill -TERM {pid}");
    }

    /// Waits (at most [`PATIENCE`]) for the process to end; its exit code
    /// (`None` if killed by a signal). Fails with the log if it keeps running.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                t0.elapsed() < PATIENCE,
                "the daemon did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// `None` while the process runs; once it has ended, its exit code
    /// (`None` inside if killed by a signal).
    pub fn exited(&mut self) -> Option<Option<i32>> {
        self.child
            .try_wait()
            .expect("try_wait")
            .map(|status| status.code())
    }

    /// SIGTERM, then waits for a clean exit (code 0).
    pub fn stop(mut self) {
        self.terminate();
        let code = self.wait_exit();
        assert_eq!(code, Some(0), "daemon exit after SIGTERM:\n{}", self.log());
    }

    /// SIGKILL (a crash at this instant).
    pub fn kill9(self) {
        drop(self);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// File names in a folder of the inbox (`""`: the inbox itself, without
/// its subfolders; `work/` without the `.` names the intake keeps there
/// for itself and never takes for scans: its state file
/// `.intake-status.json`, which is there whenever a daemon ran, and the
/// temporary file it is written through).
pub fn inbox_entries(inbox: &Path, sub: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(inbox.join(sub))
        .map(|rd| {
            rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|n| !matches!(n.as_str(), "work" | "waiting" | "quarantine"));
    if sub == "work" {
        v.retain(|n| !n.starts_with('.'));
    }
    v.sort();
    v
}

/// Copies a directory tree (test fixtures: ledgers, proof bundles).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read") {
        let p = e.expect("entry").path();
        let target = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).expect("copy");
        }
    }
}

/// Rewrites both manifests of a proof bundle (FORMAT.md §10.1) so that they
/// list every file present with its hash: what an attacker who edits, adds
/// or removes a file would also do.
pub fn bundle_manifests_rewritten(dir: &Path) {
    fn walk(base: &Path, p: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).expect("read") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).expect("inside").to_string_lossy();
                if !rel.starts_with("manifest-") {
                    out.push(rel.replace('\\', "/"));
                }
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let (mut sha, mut b3) = (String::new(), String::new());
    for rel in &files {
        use sha2::Digest;
        let bytes = std::fs::read(dir.join(rel)).expect("file");
        sha.push_str(&format!(
            "{}  {rel}\n",
            hex::encode(sha2::Sha256::digest(&bytes))
        ));
        b3.push_str(&format!("{}  {rel}\n", blake3::hash(&bytes).to_hex()));
    }
    std::fs::write(dir.join("manifest-sha256.txt"), sha).expect("write");
    std::fs::write(dir.join("manifest-blake3.txt"), b3).expect("write");
}

/// Appends a signature line by `key` over the checkpoint text of `note`;
/// `valid` false signs other bytes.
pub fn add_signature(
    note: &str,
    key: &ed25519_dalek::SigningKey,
    origin: &str,
    valid: bool,
) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let split = note.rfind("\n\n").expect("note") + 1;
    let text = &note[..split];
    let id = zeugnis::ledger::checkpoint::key_id(origin, key.verifying_key().as_bytes());
    let msg = if valid {
        text.to_string()
    } else {
        format!("{text}x")
    };
    let mut raw = id.to_be_bytes().to_vec();
    raw.extend_from_slice(&key.sign(msg.as_bytes()).to_bytes());
    format!(
        "{note}\u{2014} {origin} {}\n",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Replaces the last frame of a checkpoints file (offset `offset`) with
/// `note`, framed as FORMAT.md §8.4 says (u32 length, note, CRC-32C).
pub fn rewrite_last_checkpoint(path: &Path, offset: u64, note: &str) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes.truncate(offset as usize);
    let len = (note.len() as u32).to_le_bytes();
    bytes.extend_from_slice(&len);
    bytes.extend_from_slice(note.as_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), note.as_bytes());
    bytes.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(path, bytes).expect("write");
}

/// Deletes the blob file of `bytes` (named by its BLAKE3) anywhere under
/// `dir`, to simulate a lost blob; returns how many files were removed.
pub fn remove_blob(dir: &std::path::Path, bytes: &[u8]) -> usize {
    let name = blake3::hash(bytes).to_hex().to_string();
    let mut removed = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.file_name().and_then(|n| n.to_str()) == Some(name.as_str()) {
                std::fs::remove_file(&path).expect("remove blob");
                removed += 1;
            }
        }
    }
    removed
}

/// A real SMTP server (aiosmtpd) that keeps every accepted message as a
/// file and can refuse the first attempts with `451` (a temporary error),
/// for tests of the mail to the graduate. Killed when dropped.
///
/// Files in its folder: `attempts.log` (one line per DATA attempt,
/// accepted or not: `N RCPT`), `msg-NNN.eml` (each accepted message, as
/// received).
pub struct SmtpSink {
    child: std::process::Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Where it writes.
    pub dir: PathBuf,
}

const SMTP_SINK_PY: &str = r#"
import os, sys, time
from aiosmtpd.controller import Controller
port, out, refuse = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
class Handler:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Handler.n += 1
        with open(os.path.join(out, "attempts.log"), "a") as f:
            f.write("%d %s\n" % (Handler.n, ",".join(envelope.rcpt_tos)))
        if Handler.n <= refuse:
            return "451 4.3.0 mailbox busy, try again later"
        tmp = os.path.join(out, ".msg")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(out, "msg-%03d.eml" % Handler.n))
        return "250 OK"
Controller(Handler(), hostname="127.0.0.1", port=port).start()
while True:
    time.sleep(3600)
"#;

/// Reads a received message with Python's `email` package (a parser that
/// is not the sender's): the JSON has `to`, `subject`, `body` (decoded
/// text) and `attachments` (file name and the decoded bytes as hex).
const MAIL_PARTS_PY: &str = r#"
import email, email.policy, json, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
body = m.get_body(preferencelist=("plain",)).get_content()
att = [{"filename": p.get_filename(), "type": p.get_content_type(), "hex": p.get_content().hex()}
       for p in m.iter_attachments()]
print(json.dumps({"to": str(m["To"]), "from": str(m["From"]), "subject": str(m["Subject"]),
                  "body": body, "attachments": att}))
"#;

impl SmtpSink {
    /// Starts the server in `dir` (created) and waits until it accepts
    /// connections; it answers the first `refuse_first` messages with
    /// `451 4.3.0` and accepts every later one.
    pub fn start(dir: &Path, refuse_first: u32) -> SmtpSink {
        python_modules(&["aiosmtpd"]);
        std::fs::create_dir_all(dir).expect("sink dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let child = std::process::Command::new("python3")
            .args(["-u", "-c", SMTP_SINK_PY, &port.to_string()])
            .arg(dir)
            .arg(refuse_first.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("sink.log")).expect("sink log"))
            .spawn()
            .expect("python3 aiosmtpd sink");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "the SMTP sink did not start: {}",
                std::fs::read_to_string(dir.join("sink.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        SmtpSink {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// DATA attempts so far (accepted or refused).
    pub fn attempts(&self) -> usize {
        std::fs::read_to_string(self.dir.join("attempts.log"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// The accepted messages so far, oldest first (their files).
    pub fn messages(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("sink dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        v.sort();
        v
    }

    /// Waits (at most [`PATIENCE`]) until `n` messages were accepted; the
    /// `log` closure gives the daemon's log for the failure message.
    pub fn wait_for_messages(&self, n: usize, log: &dyn Fn() -> String) -> Vec<PathBuf> {
        let t0 = std::time::Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(
                t0.elapsed() < PATIENCE,
                "{} of {n} messages accepted after {} attempts; daemon log:\n{}",
                m.len(),
                self.attempts(),
                log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// A received message's parts, read by Python's `email` package.
    pub fn parts(message: &Path) -> serde_json::Value {
        let (code, out, err) = output(
            std::process::Command::new("python3")
                .args(["-c", MAIL_PARTS_PY])
                .arg(message),
        );
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).expect("mail parts json")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which page of a PDF [`qr_texts_on_page`] renders.
pub enum PdfPage {
    /// Page 1.
    First,
    /// The last page (a print bundle's cover sheet).
    Last,
}

/// Renders one page of `pdf` with hayro at 4 pixels per point and decodes
/// the QR codes on it with the intake's decoder (rxing).
pub fn qr_texts_on_page(pdf: &[u8], which: PdfPage) -> Vec<String> {
    use hayro::hayro_interpret::InterpreterSettings;
    use hayro::hayro_syntax::Pdf;
    use hayro::vello_cpu::color::palette::css::WHITE;
    use hayro::{PixmapSettings, RenderCache, RenderSettings};
    let doc = Pdf::new(pdf.to_vec()).expect("hayro reads the PDF");
    let pages = doc.pages();
    let page = match which {
        PdfPage::First => pages.first(),
        PdfPage::Last => pages.last(),
    }
    .expect("the page");
    let settings = PixmapSettings {
        x_scale: 4.0,
        y_scale: 4.0,
        bg_color: WHITE,
    };
    let pixmap = hayro::render(
        page,
        &RenderCache::new(),
        &InterpreterSettings::default(),
        &RenderSettings::default(),
        &settings,
    );
    let (w, h) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    let luma: Vec<u8> = pixmap
        .data_as_u8_slice()
        .chunks_exact(4)
        .map(|p| {
            ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8
        })
        .collect();
    zeugnis::scans::decode::decode_qr_from_luma(w, h, &luma).expect("decode")
}
