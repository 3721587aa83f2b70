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
