//! `zeugnis replace-scan CODE FILE --reason TEXT` (issue 13): a wrongly
//! archived scan is replaced by a ledger record of kind 13 (`ScanReplaced`);
//! the old blob is kept and both scans are visible in `show`, in proof
//! bundles (which `verify-proof` and the Python verifier check) and to
//! `audit`. Refused for a certificate without an archived scan (pointing to
//! the inbox) and for voided ones; a retry answers with the existing record.
//! Through the running daemon it answers exactly as without it.

use crate::support::{zeugnis, Daemon};
use std::path::{Path, PathBuf};

/// No daemon-independent `./scans`: the inbox is `inbox/`.
const CONFIG: &str = "scans = \"inbox\"\n\
[intake]\nstable_ms = 100\n\
[report]\ninterval_secs = 0\n\
[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n";

/// The scan the intake archived (wrong: another certificate's paper).
const WRONG: &[u8] = b"%PDF-1.7\n% the scan of somebody else's certificate\n%%EOF\n";
/// The right scan.
const RIGHT: &[u8] = b"%PDF-1.7\n% the scan of the signed original\n%%EOF\n";

struct Env {
    _t: tempfile::TempDir,
    dir: PathBuf,
}

impl Env {
    fn new() -> Env {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().to_path_buf();
        std::fs::write(dir.join("zeugnis.toml"), CONFIG).expect("config");
        let e = Env { _t: t, dir };
        assert_eq!(
            e.run(&["init", "--origin", "replace.example/zeugnis/1"]).0,
            0
        );
        let record = serde_json::json!({
            "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
            "holder": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "2000-02-29",
                       "birth_place": "Gotha", "student_id": "4711"},
            "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
            "last_exam_date": "2026-09-30"
        });
        std::fs::write(e.dir.join("r.json"), record.to_string()).expect("record");
        for (name, bytes) in [
            ("wrong.pdf", WRONG),
            ("right.pdf", RIGHT),
            ("junk.txt", &b"not a scan"[..]),
        ] {
            std::fs::write(e.dir.join(name), bytes).expect("fixture");
        }
        e
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        zeugnis(&self.dir, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "zeugnis {args:?}: {out}{err}");
        out
    }

    /// Registers a certificate; its code without hyphens.
    fn register(&self) -> String {
        // Each certificate gets its own digital image (the same PDF bytes
        // are refused for a second valid certificate).
        std::fs::write(self.dir.join("doc.pdf"), crate::support::fresh_pdf()).expect("doc");
        let out = self.ok(&[
            "register",
            "--record",
            "r.json",
            "--document",
            "doc.pdf",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v["code"].as_str().expect("code").replace('-', "")
    }

    /// Archives `bytes` as the scan of `code` through the intake (named
    /// after the code, identified by its file name for this run).
    fn archive(&self, code: &str, bytes: &[u8]) {
        let file = self.dir.join(format!("{code}.pdf"));
        std::fs::write(&file, bytes).expect("scan");
        let out = self.ok(&[
            "ingest",
            file.to_str().expect("utf-8"),
            "--identify",
            "file_name",
        ]);
        assert!(out.contains("archived"), "{out}");
    }

    fn records(&self) -> u64 {
        let out = self.ok(&["audit"]);
        out.lines()
            .find_map(|l| l.trim().strip_prefix("records:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no record count in {out}"))
    }

    fn show_json(&self, code: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["show", code, "--json"])).expect("show --json")
    }
}

fn b3(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn replace_scan_keeps_the_old_scan_in_show_proofs_and_audit() {
    let e = Env::new();
    let code = e.register();
    let awaiting = e.register();
    e.archive(&code, WRONG);
    let before = e.records();

    // Not a replacement: no scan archived yet. The message points to the inbox.
    let (c, _, err) = e.run(&["replace-scan", &awaiting, "right.pdf", "--reason", "x"]);
    assert_eq!(c, 2, "{err}");
    assert!(
        err.contains("has no archived scan: this is not a replacement") && err.contains("scans/"),
        "{err}"
    );
    // Checked like an inbox scan: content, not name; and a reason is required.
    let (c, _, err) = e.run(&["replace-scan", &code, "junk.txt", "--reason", "x"]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("junk.txt"), "{err}");
    let (c, _, err) = e.run(&["replace-scan", &code, "right.pdf", "--reason", " "]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("--reason"), "{err}");
    // The archived scan is no replacement of itself.
    let (c, _, err) = e.run(&["replace-scan", &code, "wrong.pdf", "--reason", "x"]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("is already the archived scan"), "{err}");
    assert_eq!(e.records(), before, "refusals append nothing");

    let out = e.ok(&[
        "replace-scan",
        &code,
        "right.pdf",
        "--reason",
        "wrong cover sheet",
    ]);
    let seq = before; // the next record
    assert!(
        out.contains(&format!("replaced the scan of {code} (ledger seq {seq})"))
            && out.contains(&format!("the replaced scan blake3:{}", b3(WRONG))),
        "{out}"
    );
    assert_eq!(e.records(), before + 1);
    // A retry (same code, same file) answers with the same record.
    let again = e.ok(&[
        "replace-scan",
        &code,
        "right.pdf",
        "--reason",
        "wrong cover sheet",
    ]);
    assert!(
        again.contains(&format!("already replaced by this file (ledger seq {seq})")),
        "{again}"
    );
    let json = e.ok(&[
        "replace-scan",
        &code,
        "right.pdf",
        "--reason",
        "x",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["retry"], true, "{json}");
    assert_eq!(v["seq"], seq, "{json}");
    assert_eq!(v["replaced_blake3"], b3(WRONG), "{json}");
    assert_eq!(e.records(), before + 1, "retries append nothing");

    // show: the current scan and the replaced one, with the reason.
    let text = e.ok(&["show", &code]);
    assert!(text.contains(&format!("blake3:{}", b3(RIGHT))), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("replaced")
            && l.contains(&b3(WRONG))
            && l.contains("wrong cover sheet")),
        "{text}"
    );
    let v = e.show_json(&code);
    assert_eq!(v["state"], "archived");
    assert_eq!(v["scan"]["blake3"], b3(RIGHT));
    assert_eq!(v["scan_seq"], seq);
    assert_eq!(v["replaced_scans"][0]["scan"]["blake3"], b3(WRONG));
    assert_eq!(v["replaced_scans"][0]["replaced_by"], seq);
    assert_eq!(v["replaced_scans"][0]["reason"], "wrong cover sheet");
    let archived_by = v["replaced_scans"][0]["archived_by"].as_u64().expect("seq");
    assert!(v["seqs"]
        .as_array()
        .expect("seqs")
        .contains(&archived_by.into()));

    // The old blob is kept: audit finds both referenced, none orphaned.
    let audit = e.ok(&["audit"]);
    assert!(audit.contains("blobs:       0 finding(s)"), "{audit}");
    assert!(e
        .dir
        .join("ledger/blobs")
        .join(&b3(WRONG)[..2])
        .join(b3(WRONG))
        .is_file());

    // The proof bundle has both records and both files, the replaced one marked.
    let out_dir = e.dir.join("proof");
    e.ok(&["export-proof", &code, "-o", "proof", "--with-files"]);
    let files = files_in(&out_dir.join("files"));
    assert!(
        files.contains(&format!("{}.replaced.pdf", b3(WRONG))),
        "{files:?}"
    );
    assert!(files.contains(&format!("{}.pdf", b3(RIGHT))), "{files:?}");
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("bundle.json")).expect("bundle"))
            .expect("json");
    assert_eq!(bundle["scans"][0]["blake3"], b3(WRONG), "{bundle}");
    assert_eq!(bundle["scans"][0]["current"], false, "{bundle}");
    assert_eq!(bundle["scans"][1]["current"], true, "{bundle}");
    let kinds = std::fs::read_to_string(out_dir.join(format!("records/{seq}.json"))).expect("json");
    assert!(kinds.contains("\"ScanReplaced\""), "{kinds}");
    let (c, out, err) = e.run(&["verify-proof", "proof", "--trust-bundled-key"]);
    assert_eq!(c, 0, "{out}{err}");
    assert!(out.contains("scan replacements: 1"), "{out}");
    // The independent verifier agrees.
    crate::support::python_modules(&["blake3", "cryptography"]);
    let vkey = std::fs::read_to_string(out_dir.join("vkey")).expect("vkey");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_ledger.py");
    let (c, out, err) =
        crate::support::output(std::process::Command::new("python3").arg(&script).args([
            "--bundle",
            out_dir.to_str().expect("utf-8"),
            "--vkey",
            vkey.trim(),
        ]));
    assert_eq!(c, 0, "{out}{err}");
    let (c, out, err) = crate::support::output(
        std::process::Command::new("python3")
            .arg(&script)
            .arg(e.dir.join("ledger"))
            .args(["--vkey", vkey.trim()]),
    );
    assert_eq!(c, 0, "{out}{err}");
    assert!(out.contains("\"scans_replaced\": 1"), "{out}");

    // A voided certificate takes no scan, replacement or not.
    e.ok(&["void", &code, "--reason", "process restarted"]);
    std::fs::write(e.dir.join("third.pdf"), b"%PDF-1.7\n% third\n").expect("third");
    let (c, _, err) = e.run(&["replace-scan", &code, "third.pdf", "--reason", "x"]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("it is voided"), "{err}");
}

/// The same command answers the same through the daemon's control socket
/// and without a daemon: refusal, replacement and retry (exit code, stdout
/// and stderr).
#[test]
fn replace_scan_through_the_daemon_answers_like_the_cli() {
    let e = Env::new();
    let code = e.register();
    let awaiting = e.register();
    e.archive(&code, WRONG);
    let refuse = [
        "replace-scan",
        awaiting.as_str(),
        "right.pdf",
        "--reason",
        "x",
    ];
    let local_refusal = e.run(&refuse);
    assert_eq!(local_refusal.0, 2, "{local_refusal:?}");

    let mut d = Daemon::start(&e.dir, CONFIG);
    d.wait_for_log("control socket listening");
    let (c, _, err) = e.run(&[&refuse[..], &["--verbose"][..]].concat());
    assert_eq!(c, 2, "{err}\n{}", d.log());
    assert!(err.contains("runs in the daemon"), "{err}");
    assert_eq!(e.run(&refuse), local_refusal, "daemon log:\n{}", d.log());
    let replace = [
        "replace-scan",
        code.as_str(),
        "right.pdf",
        "--reason",
        "wrong cover sheet",
    ];
    let (c, out, err) = e.run(&replace);
    assert_eq!(c, 0, "{err}\n{}", d.log());
    assert!(out.contains("replaced the scan of"), "{out}");
    let daemon_retry = e.run(&replace);
    assert_eq!(daemon_retry.0, 0, "{daemon_retry:?}");
    assert!(
        daemon_retry.1.contains("already replaced by this file"),
        "{daemon_retry:?}"
    );
    d.stop();
    assert_eq!(
        e.run(&replace),
        daemon_retry,
        "the retry without the daemon"
    );
    assert_eq!(e.show_json(&code)["scan"]["blake3"], b3(RIGHT));
}
