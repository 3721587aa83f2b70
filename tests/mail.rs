//! Issue 16, "Mail to the graduate": end to end against a real SMTP
//! server (aiosmtpd, `support::SmtpSink`). A registration with
//! `holder.email` queues the mail; when the scan is archived the daemon
//! sends it, retries a relay that answers `451`, gives up after
//! `attempts_max`, resumes after a restart, records `MailDelivered` once,
//! and never puts the address into the ledger.

use crate::support::{zeugnis, Daemon, SmtpSink, PATIENCE};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const ADDRESS: &str = "erika.mustermann@student.uni.example";

/// A folder with a ledger, a record with `holder.email` (`r.json`, German)
/// and one without (`plain.json`).
fn setup() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().to_path_buf();
    let (code, _, err) = zeugnis(&dir, &["init", "--origin", "test.example/zeugnis/1"]);
    assert_eq!(code, 0, "{err}");
    for (file, email) in [("r.json", Some(ADDRESS)), ("plain.json", None)] {
        let mut holder = json!({"given_name": "Erika", "family_name": "Mustermann",
            "birth_date": "2000-02-29", "birth_place": "Gotha", "student_id": "4711"});
        if let Some(a) = email {
            holder["email"] = json!(a);
        }
        let record = json!({
            "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
            "holder": holder,
            "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
            "last_exam_date": "2026-09-30"
        });
        std::fs::write(dir.join(file), serde_json::to_vec(&record).expect("json")).expect("rec");
    }
    (t, dir)
}

fn config(port: u16, extra: &str) -> String {
    format!(
        "scans = \"inbox\"\n[intake]\nstable_ms = 100\nrescan_secs = 1\nidentify = [\"file_name\"]\n\
         [http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n\
         [report]\ninterval_secs = 0\n\
         [mail]\nsmtp = \"127.0.0.1:{port}\"\nfrom = \"zeugnis@uni.example\"\n\
         retry_first_secs = 1\nretry_max_secs = 1\npoll_ms = 100\n{extra}"
    )
}

/// Registers `doc` with `record`; returns (code, key, url).
fn register(
    dir: &Path,
    record: &str,
    doc: &str,
    log: &dyn Fn() -> String,
) -> (String, String, String) {
    let (code, out, err) = zeugnis(
        dir,
        &["register", "--record", record, "--document", doc, "--json"],
    );
    assert_eq!(code, 0, "{err}\n{}", log());
    let v: Value = serde_json::from_str(out.trim()).expect("register json");
    let field = |k: &str| v[k].as_str().expect(k).to_string();
    (field("code"), field("key"), field("url"))
}

/// Drops a scan for `code` into the inbox (named by its code).
fn drop_scan(dir: &Path, code: &str) {
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let tmp = dir.join("scan.tmp");
    std::fs::write(
        &tmp,
        crate::support::pdf(&format!("signed original {code}")),
    )
    .expect("scan");
    std::fs::rename(&tmp, inbox.join(format!("scan_{code}.pdf"))).expect("drop scan");
}

fn show(dir: &Path, code: &str) -> Value {
    let (c, out, err) = zeugnis(dir, &["show", code, "--json"]);
    assert_eq!(c, 0, "{err}");
    serde_json::from_str(&out).expect("show json")
}

fn status(dir: &Path) -> Value {
    let (c, out, err) = zeugnis(dir, &["status", "--json"]);
    assert_eq!(c, 0, "{err}");
    serde_json::from_str(&out).expect("status json")
}

fn canonical(code: &str) -> String {
    code.replace('-', "")
}

/// Every file under `root` whose bytes contain `needle`.
fn files_containing(root: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)
            .expect("read dir")
            .map(|e| e.expect("entry"))
        {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
            {
                hits.push(p);
            }
        }
    }
    hits
}

/// `GET path` over plain HTTP/1.1; the whole answer.
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

/// Waits (at most [`PATIENCE`]) until `f` holds.
fn wait_until(what: &str, d: &Daemon, f: &dyn Fn() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(t0.elapsed() < PATIENCE, "never: {what}\n{}", d.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The whole way: queued at registration (0600, outside the ledger), not
/// sent before the scan, refused twice with 451, accepted on the third
/// attempt, exactly one message with the registered PDF attached and the
/// link with code and key, one `MailDelivered` record, the queue entry
/// gone, and the address in no file of the data directory.
#[test]
fn a_refusing_relay_gets_the_mail_once_it_accepts() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, dir) = setup();
    let sink = SmtpSink::start(&dir.join("sink"), 2);
    let pdf = crate::support::pdf("digital image for the graduate");
    std::fs::write(dir.join("doc.pdf"), &pdf).expect("doc");
    let mut d = Daemon::start(&dir, &config(sink.port, ""));
    d.wait_for_log("sending mails to graduates");
    let (code, key, url) = register(&dir, "r.json", "doc.pdf", &|| d.log());
    let entry = dir
        .join("ledger/mail")
        .join(format!("{}.json", canonical(&code)));
    let mode = std::fs::metadata(&entry)
        .expect("queue entry")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the entry holds the key and the address"
    );
    let st = status(&dir);
    assert_eq!(st["mail_pending"], 1, "{st}");

    drop_scan(&dir, &code);
    let messages = sink.wait_for_messages(1, &|| d.log());
    d.wait_for_log("mail to the graduate delivered and recorded");
    assert_eq!(sink.attempts(), 3, "two refusals, then the accepted one");
    assert!(
        d.log().contains("451"),
        "the refusal is logged:\n{}",
        d.log()
    );

    let parts = SmtpSink::parts(&messages[0]);
    assert_eq!(parts["to"], ADDRESS);
    assert_eq!(parts["from"], "zeugnis@uni.example");
    assert!(
        parts["subject"].as_str().expect("subject").contains(&code),
        "{parts}"
    );
    let body = parts["body"].as_str().expect("body");
    assert!(
        body.contains("Guten Tag Erika Mustermann"),
        "German text: {body}"
    );
    assert!(body.contains(&url), "the link with the key: {body}");
    assert!(
        url.contains(&canonical(&code)) && url.contains(&key),
        "{url}"
    );
    let attachments = parts["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1, "{parts}");
    assert_eq!(attachments[0]["type"], "application/pdf");
    assert_eq!(
        attachments[0]["hex"],
        hex::encode(&pdf),
        "the registered PDF, byte for byte"
    );

    wait_until("the queue entry is deleted", &d, &|| !entry.exists());
    let shown = show(&dir, &code);
    let deliveries = shown["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 1, "{shown}");
    assert_eq!(
        deliveries[0]["documents"][0],
        blake3::hash(&pdf).to_hex().as_str()
    );
    assert_eq!(deliveries[0]["language"], "de");
    assert_eq!(deliveries[0]["template"], "builtin");
    let (c, text, err) = zeugnis(&dir, &["show", &code]);
    assert_eq!(c, 0, "{err}");
    assert!(text.contains("mailed to the graduate"), "{text}");
    let st = status(&dir);
    assert_eq!(st["mail_pending"], 0, "{st}");
    assert_eq!(st["mail_failed"], json!([]), "{st}");
    let metrics = http_get(&d.addr("public"), "/metrics");
    for series in [
        "zeugnis_mail_attempts_total{outcome=\"refused\"} 2",
        "zeugnis_mail_attempts_total{outcome=\"sent\"} 1",
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }
    d.stop();
    let leaks = files_containing(&dir.join("ledger"), ADDRESS.as_bytes());
    assert!(leaks.is_empty(), "the address is in {leaks:?}");
    assert_eq!(sink.messages().len(), 1, "exactly one mail");
}

/// A relay that keeps refusing: the mail is given up after
/// `attempts_max` and shown as failed in `status` (text and JSON); the
/// daemon stopped with it pending and started again against a relay that
/// accepts sends it once; after another restart it is not sent again (a
/// second certificate's mail goes out, the first one's does not).
#[test]
fn a_pending_mail_survives_a_restart_and_is_sent_once() {
    let (_t, dir) = setup();
    let refusing = SmtpSink::start(&dir.join("refusing"), u32::MAX / 2);
    std::fs::write(dir.join("doc.pdf"), crate::support::pdf("image one")).expect("doc");
    std::fs::write(dir.join("doc2.pdf"), crate::support::pdf("image two")).expect("doc");
    let mut d = Daemon::start(&dir, &config(refusing.port, "attempts_max = 2\n"));
    d.wait_for_log("sending mails to graduates");
    let (code, _, _) = register(&dir, "r.json", "doc.pdf", &|| d.log());
    drop_scan(&dir, &code);
    d.wait_for_log("given up");
    d.stop();
    assert_eq!(refusing.attempts(), 2);
    let st = status(&dir);
    assert_eq!(st["mail_failed"][0]["code"], canonical(&code), "{st}");
    assert_eq!(st["mail_failed"][0]["attempts"], 2, "{st}");
    assert!(
        st["mail_failed"][0]["last_error"]
            .as_str()
            .expect("error")
            .contains("451"),
        "{st}"
    );
    let (c, text, err) = zeugnis(&dir, &["status"]);
    assert_eq!(c, 0, "{err}");
    assert!(text.contains("GIVEN UP after 2 attempt(s)"), "{text}");
    drop(refusing);

    let sink = SmtpSink::start(&dir.join("accepting"), 0);
    let mut d = Daemon::start(&dir, &config(sink.port, ""));
    d.wait_for_log("mail to the graduate delivered and recorded");
    assert_eq!(sink.messages().len(), 1);
    d.stop();
    assert_eq!(
        show(&dir, &code)["deliveries"].as_array().map(Vec::len),
        Some(1)
    );

    let mut d = Daemon::start(&dir, &config(sink.port, ""));
    d.wait_for_log("sending mails to graduates");
    let (second, _, _) = register(&dir, "r.json", "doc2.pdf", &|| d.log());
    drop_scan(&dir, &second);
    let messages = sink.wait_for_messages(2, &|| d.log());
    d.stop();
    assert_eq!(messages.len(), 2, "the first mail is not sent again");
    let subject = |m: &Path| {
        SmtpSink::parts(m)["subject"]
            .as_str()
            .expect("s")
            .to_string()
    };
    assert!(subject(&messages[0]).contains(&code));
    assert!(subject(&messages[1]).contains(&second));
    assert_eq!(
        show(&dir, &code)["deliveries"].as_array().map(Vec::len),
        Some(1)
    );
}

/// Erasure drops a mail that is not sent yet; the address is not in the
/// holder data (`show --key`) nor anywhere in the ledger; a registration
/// without an address queues nothing.
#[test]
fn erase_drops_the_pending_mail() {
    let (_t, dir) = setup();
    std::fs::write(dir.join("doc.pdf"), crate::support::pdf("image e")).expect("doc");
    std::fs::write(dir.join("doc2.pdf"), crate::support::pdf("image f")).expect("doc");
    let (code, key, _) = register(&dir, "r.json", "doc.pdf", &String::new);
    let (plain, _, _) = register(&dir, "plain.json", "doc2.pdf", &String::new);
    let queue = dir.join("ledger/mail");
    let entry = queue.join(format!("{}.json", canonical(&code)));
    assert!(entry.exists());
    assert!(!queue.join(format!("{}.json", canonical(&plain))).exists());
    let (c, out, err) = zeugnis(&dir, &["show", &code, "--key", &key, "--json"]);
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("Mustermann") && !out.contains(ADDRESS),
        "{out}"
    );
    let leaks: Vec<PathBuf> = files_containing(&dir.join("ledger"), ADDRESS.as_bytes())
        .into_iter()
        .filter(|p| p != &entry)
        .collect();
    assert!(
        leaks.is_empty(),
        "the address is only in the queue entry: {leaks:?}"
    );
    let (c, _, err) = zeugnis(&dir, &["erase", &code, "--reason", "GDPR Art. 17"]);
    assert_eq!(c, 0, "{err}");
    assert!(
        !entry.exists(),
        "the pending mail is dropped with the holder data"
    );
    assert_eq!(status(&dir)["mail_pending"], 0);
}

/// A bad address in the record is refused naming the field; an operator
/// template with an unknown placeholder stops the start naming the file
/// and the placeholder (exit code 2).
#[test]
fn bad_addresses_and_templates_are_refused() {
    let (_t, dir) = setup();
    std::fs::write(dir.join("doc.pdf"), crate::support::pdf("image g")).expect("doc");
    let text = std::fs::read_to_string(dir.join("r.json")).expect("r");
    std::fs::write(
        dir.join("bad.json"),
        text.replace(ADDRESS, "two@at@uni.example"),
    )
    .expect("w");
    let (c, _, err) = zeugnis(
        &dir,
        &["register", "--record", "bad.json", "--document", "doc.pdf"],
    );
    assert_eq!(c, 2, "{err}");
    assert!(
        err.contains("bad.json: holder.email") && err.contains("exactly one @"),
        "{err}"
    );

    std::fs::create_dir_all(dir.join("tpl")).expect("tpl");
    std::fs::write(
        dir.join("tpl/en.txt"),
        "Subject: {code}\n\nDear {name}: {url} {grade}\n",
    )
    .expect("template");
    let mut d = Daemon::start(&dir, &config(1, "templates = \"tpl\"\n"));
    assert_eq!(d.wait_exit(), Some(2), "{}", d.log());
    let log = d.log();
    assert!(
        log.contains("tpl/en.txt") && log.contains("unknown placeholder {grade}"),
        "{log}"
    );
}

/// A certificate voided before its scan gets no mail: the running sender
/// drops the entry (logged) and the relay never sees an attempt; a
/// certificate without `holder.email` is archived without any mail.
#[test]
fn a_voided_certificate_gets_no_mail() {
    let (_t, dir) = setup();
    let sink = SmtpSink::start(&dir.join("sink"), 0);
    std::fs::write(dir.join("doc.pdf"), crate::support::pdf("image v")).expect("doc");
    std::fs::write(dir.join("doc2.pdf"), crate::support::pdf("image w")).expect("doc");
    let mut d = Daemon::start(&dir, &config(sink.port, ""));
    d.wait_for_log("sending mails to graduates");
    let (code, _, _) = register(&dir, "r.json", "doc.pdf", &|| d.log());
    let entry = dir
        .join("ledger/mail")
        .join(format!("{}.json", canonical(&code)));
    assert!(entry.exists());
    let (c, _, err) = zeugnis(&dir, &["void", &code, "--reason", "process restarted"]);
    assert_eq!(c, 0, "{err}\n{}", d.log());
    d.wait_for_log("mail to the graduate dropped, not sent");
    assert!(!entry.exists());
    let (plain, _, _) = register(&dir, "plain.json", "doc2.pdf", &|| d.log());
    drop_scan(&dir, &plain);
    wait_until("the scan is archived", &d, &|| {
        show(&dir, &plain)["state"] == "archived"
    });
    d.stop();
    assert_eq!(
        sink.attempts(),
        0,
        "no mail for a voided certificate or one without address"
    );
    assert!(show(&dir, &plain).get("deliveries").is_none());
}

/// A daemon killed (SIGKILL, a crash) while a mail is being retried: the
/// next start resumes the entry from the queue and sends it once.
#[test]
fn a_mail_being_retried_survives_a_crash() {
    let (_t, dir) = setup();
    let refusing = SmtpSink::start(&dir.join("refusing"), u32::MAX / 2);
    std::fs::write(dir.join("doc.pdf"), crate::support::pdf("image k")).expect("doc");
    let mut d = Daemon::start(&dir, &config(refusing.port, ""));
    d.wait_for_log("sending mails to graduates");
    let (code, _, _) = register(&dir, "r.json", "doc.pdf", &|| d.log());
    drop_scan(&dir, &code);
    d.wait_for_log("mail to the graduate refused; retried");
    d.kill9();
    let entry = dir
        .join("ledger/mail")
        .join(format!("{}.json", canonical(&code)));
    assert!(entry.exists(), "the queue entry survives the crash");
    drop(refusing);

    let sink = SmtpSink::start(&dir.join("accepting"), 0);
    let mut d = Daemon::start(&dir, &config(sink.port, ""));
    d.wait_for_log("mail to the graduate delivered and recorded");
    d.stop();
    assert_eq!(sink.messages().len(), 1);
    assert!(!entry.exists());
    assert_eq!(
        show(&dir, &code)["deliveries"].as_array().map(Vec::len),
        Some(1)
    );
}
