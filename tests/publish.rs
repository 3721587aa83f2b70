//! Issue 19, publishing checkpoints (`[publish]`, FORMAT.md §13.1): a real
//! `zeugnis run` writes every new checkpoint to folders outside the data
//! directory and mails it; a published checkpoint makes
//! `zeugnis audit --checkpoint FILE` detect a cut `checkpoints` tail; an
//! unwritable publish folder does not stop the daemon.

use crate::support::{zeugnis, Daemon, Smtp, PATIENCE};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The digital image registered (a small real PDF).
static PDF: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| crate::support::pdf("digital image"));

const BASE: &str = "scans = \"inbox\"\n[intake]\nstable_ms = 100\n\
[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n";

/// A folder with a ledger and two registrations to make.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().to_path_buf();
    let (code, _, err) = zeugnis(&dir, &["init", "--origin", "test.example/zeugnis/1"]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(dir.join("doc.pdf"), &*PDF).expect("doc");
    for (file, given) in [("r.json", "Erika"), ("r2.json", "Max")] {
        let record = json!({
            "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
            "holder": {"given_name": given, "family_name": "Mustermann",
                       "birth_date": "2000-02-29", "birth_place": "Gotha", "student_id": "4711"},
            "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
            "last_exam_date": "2026-09-30"
        });
        std::fs::write(dir.join(file), serde_json::to_vec(&record).expect("json")).expect("rec");
    }
    (t, dir)
}

/// The ledger's latest checkpoint note (`zeugnis checkpoint`).
fn checkpoint(dir: &Path, d: &Daemon) -> String {
    let (code, out, err) = zeugnis(dir, &["checkpoint"]);
    assert_eq!(code, 0, "{err}\n{}", d.log());
    out
}

/// Waits (at most [`PATIENCE`]) until `path` holds `text`.
fn wait_for_file(path: &Path, text: &str, d: &Daemon) {
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        assert!(
            t0.elapsed() < PATIENCE,
            "{} never held the checkpoint {text:?}:\n{}",
            path.display(),
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn size_of(note: &str) -> u64 {
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no size in {note}"))
}

#[test]
fn published_checkpoints_detect_a_rollback_and_a_bad_folder_does_not_stop_the_daemon() {
    let (_t, dir) = setup();
    // A folder below a regular file cannot be created or written, even by root.
    std::fs::write(dir.join("blocker"), b"not a folder").expect("blocker");
    let config = format!(
        "{BASE}[report]\ninterval_secs = 0\n\
         [publish]\ndirs = [\"blocker/checkpoints\", \"other-disk\"]\n"
    );
    std::fs::create_dir(dir.join("other-disk")).expect("publish dir");
    let mut d = Daemon::start(&dir, &config);
    d.wait_for_log("control socket listening");
    let published = dir.join("other-disk");
    // The checkpoint the daemon started with is published.
    let first = checkpoint(&dir, &d);
    wait_for_file(&published.join("latest"), &first, &d);
    // Registrations through the CLI (sent to the daemon over the control
    // socket) make new checkpoints, which are published.
    for rec in ["r.json", "r2.json"] {
        std::fs::write(dir.join("doc.pdf"), crate::support::fresh_pdf()).expect("doc");
        let (code, _, err) = zeugnis(
            &dir,
            &["register", "--record", rec, "--document", "doc.pdf"],
        );
        assert_eq!(code, 0, "{err}\n{}", d.log());
    }
    let last = checkpoint(&dir, &d);
    assert!(size_of(&last) > size_of(&first), "{first}\n{last}");
    wait_for_file(&published.join("latest"), &last, &d);
    wait_for_file(
        &published.join(format!("checkpoint-{}", size_of(&last))),
        &last,
        &d,
    );
    assert_eq!(
        std::fs::read_to_string(published.join(format!("checkpoint-{}", size_of(&first))))
            .expect("first checkpoint kept"),
        first
    );
    // The unwritable folder was logged and counted, and the daemon serves.
    let log = d.wait_for_log("checkpoint not published to a folder");
    assert!(log.contains("blocker/checkpoints"), "{log}");
    assert_eq!(d.exited(), None, "the daemon keeps running:\n{log}");
    let public = d.addr("public");
    let metrics = http_get(&public, "/metrics");
    assert!(
        metrics.contains("zeugnis_publish_failures_total{target=\"dir\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("zeugnis_publish_checkpoints_total{target=\"dir\"}"),
        "{metrics}"
    );
    d.stop();

    let latest = published.join("latest");
    let latest = latest.to_str().expect("utf-8 path");
    let (code, out, err) = zeugnis(&dir, &["audit", "--checkpoint", latest]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 independently kept checkpoint(s) consistent"),
        "{out}"
    );
    // Roll back: drop the newest checkpoint frame, delete the derived copy.
    let cps = dir.join("ledger/checkpoints");
    let scan = zeugnis::ledger::recovery::read_checkpoints(&cps, true).expect("scan");
    let (offset, _) = scan.notes.last().expect("a checkpoint").clone();
    let bytes = std::fs::read(&cps).expect("read");
    std::fs::write(&cps, &bytes[..offset as usize]).expect("cut");
    let _ = std::fs::remove_file(dir.join("ledger/checkpoint"));
    let (code, _, err) = zeugnis(&dir, &["audit"]);
    assert_eq!(
        code, 0,
        "without the published checkpoint it looks like a crash: {err}"
    );
    let (code, _, err) = zeugnis(&dir, &["audit", "--checkpoint", latest]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rollback"), "{err}");
}

#[test]
fn the_daemon_mails_the_checkpoint_note() {
    let smtp = Smtp::start();
    let (_t, dir) = setup();
    let config = format!(
        "{BASE}[report]\ninterval_secs = 0\nmail_from = \"zeugnis@uni.example\"\n\
         smtp = \"127.0.0.1:{}\"\n\
         [publish]\nmail_to = [\"archiv@uni.example\"]\nmail_interval = \"1s\"\n",
        smtp.port
    );
    let mut d = Daemon::start(&dir, &config);
    d.wait_for_log("control socket listening");
    let first = checkpoint(&dir, &d);
    let mail = qp_decode(&smtp.wait_for(&format!("size {}", size_of(&first))));
    assert!(mail.contains("To: archiv@uni.example"), "{mail}");
    for line in first.lines().filter(|l| !l.is_empty()) {
        assert!(
            mail.contains(line),
            "the mail carries the note line {line:?}:\n{mail}"
        );
    }
    // A changed checkpoint is mailed once the interval is over.
    let (code, _, err) = zeugnis(
        &dir,
        &["register", "--record", "r.json", "--document", "doc.pdf"],
    );
    assert_eq!(code, 0, "{err}\n{}", d.log());
    let last = checkpoint(&dir, &d);
    let mail = qp_decode(&smtp.wait_for(&format!(
        "Subject: zeugnis checkpoint test.example/zeugnis/1 size {}",
        size_of(&last)
    )));
    for line in last.lines().filter(|l| !l.is_empty()) {
        assert!(mail.contains(line), "{line:?}:\n{mail}");
    }
    d.stop();
}

/// Undoes the quoted-printable encoding of the mail body as far as a note
/// needs it (soft line breaks, `=`, the em dash of signature lines).
fn qp_decode(text: &str) -> String {
    text.replace("=\n", "")
        .replace("=E2=80=94", "—")
        .replace("=3D", "=")
}

/// `GET path` over plain HTTP/1.1; the body.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}
