//! Issue 16: the certificate's whole journey in one test, as
//! docs/workflow.md describes it, against a running daemon, a real SMTP
//! server (aiosmtpd) and the scan simulator:
//!
//! 1. the exam office reserves a code (`zeugnis reserve --json`);
//! 2. its PDF generator writes a certificate that carries the code and the
//!    link (here the project's own small PDF writer);
//! 3. it registers that PDF with the reserved code, `--stamp` and
//!    `--print-bundle`, with the graduate's e-mail address in the record;
//! 4. the bundle's cover sheet is "printed and scanned": its last page is
//!    rendered (hayro), its QR code read (the intake's decoder), and the
//!    simulator makes the page a 300 dpi scanner would see of it, slightly
//!    rotated and noisy; the scan is dropped into the inbox;
//! 5. the intake archives it (an authenticated cover sheet, the default);
//! 6. the graduate's mail arrives: the stamped PDF attached (the bytes that
//!    were registered), the link with code and key;
//! 7. that link opens the certificate's page with the holder's data, and
//!    the stamped link (without the key) opens the public page without it.

use crate::support::{zeugnis, Daemon, SmtpSink, PATIENCE};
use serde_json::{json, Value};
use std::path::Path;

const ADDRESS: &str = "erika.musterfrau@student.uni-goettingen.example";
const BASE_URL: &str = "https://zeugnis.uni-goettingen.example";

/// The record the exam office's system exports, with the graduate's
/// address.
fn record() -> Value {
    json!({
        "institution": "Georg-August-Universität Göttingen",
        "kind": "transcript",
        "language": "de",
        "holder": {"given_name": "Erika", "family_name": "Musterfrau",
                   "birth_date": "2001-04-01", "birth_place": "Kassel",
                   "student_id": "21001234", "email": ADDRESS},
        "programme": {"degree": "Bachelor of Science", "name": "Informatik"},
        "last_exam_date": "2026-09-30"
    })
}

/// `GET path` on `addr` over plain HTTP/1.1: the whole answer.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Language: de\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

fn json_of(what: &str, out: &str, log: &dyn Fn() -> String) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{what}: {e}: {out}\n{}", log()))
}

fn run_ok(dir: &Path, args: &[&str], log: &dyn Fn() -> String) -> String {
    let (c, out, err) = zeugnis(dir, args);
    assert_eq!(
        c,
        0,
        "zeugnis {args:?}: {err}\n--- daemon log ---\n{}",
        log()
    );
    out
}

#[test]
fn the_whole_journey_end_to_end() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let (c, _, err) = zeugnis(
        dir,
        &["init", "--origin", "uni-goettingen.example/zeugnis/1"],
    );
    assert_eq!(c, 0, "{err}");
    let sink = SmtpSink::start(&dir.join("sink"), 0);
    let config = format!(
        "base_url = \"{BASE_URL}\"\nscans = \"inbox\"\n\
         [intake]\nstable_ms = 100\nrescan_secs = 1\n\
         [http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n\
         [report]\ninterval_secs = 0\n\
         [mail]\nsmtp = \"127.0.0.1:{}\"\nfrom = \"pruefungsamt@uni-goettingen.example\"\n\
         retry_first_secs = 1\nretry_max_secs = 1\npoll_ms = 100\n",
        sink.port
    );
    let mut d = Daemon::start(dir, &config);
    let public = d.addr("public");
    d.wait_for_log("sending mails to graduates");
    let log = || d.log();

    // 1. A code before the document.
    let out = run_ok(dir, &["reserve", "--json"], &log);
    let reserved = json_of("reserve --json", &out, &log);
    let code = reserved["code"].as_str().expect("code").to_string();
    let key = reserved["key"].as_str().expect("key").to_string();
    let url = reserved["url"].as_str().expect("url").to_string();
    assert!(url.starts_with(BASE_URL), "{url}");

    // 2. The exam office's PDF, carrying the code and the link.
    let pdf = crate::support::pdf(&format!(
        "Zeugnis Erika Musterfrau - Informatik B.Sc. - Pruefcode {code} - {url}"
    ));
    std::fs::write(dir.join("zeugnis.pdf"), &pdf).expect("pdf");
    std::fs::write(
        dir.join("r.json"),
        serde_json::to_vec(&record()).expect("record"),
    )
    .expect("record");

    // 3. Registered with the reserved code, stamped, with the print bundle.
    let out = run_ok(
        dir,
        &[
            "register",
            "--record",
            "r.json",
            "--document",
            "zeugnis.pdf",
            "--code",
            &code,
            "--stamp",
            "--print-bundle",
            "bundle.pdf",
            "--json",
        ],
        &log,
    );
    let issued = json_of("register --json", &out, &log);
    assert_eq!(issued["code"], code.as_str(), "the reserved code: {issued}");
    assert_eq!(issued["key"], key.as_str(), "the reserved key: {issued}");
    assert_eq!(issued["stamped"], true, "{issued}");
    let shown = json_of(
        "show --json",
        &run_ok(dir, &["show", &code, "--json"], &log),
        &log,
    );
    assert_eq!(shown["state"], "awaiting_scan", "{shown}");
    let registered_blake3 = shown["documents"][0]["blake3"]
        .as_str()
        .expect("document blake3")
        .to_string();
    assert_ne!(
        registered_blake3,
        blake3::hash(&pdf).to_hex().as_str(),
        "what is registered is the stamped file, not the original"
    );
    assert!(
        sink.messages().is_empty(),
        "no mail before the scan is archived"
    );

    // 4. Print the bundle, scan its cover sheet.
    let bundle = std::fs::read(dir.join("bundle.pdf")).expect("bundle");
    assert!(
        lopdf::Document::load_mem(&bundle)
            .expect("bundle parses")
            .get_pages()
            .len()
            >= 2,
        "print version and cover sheet"
    );
    let payloads = crate::support::qr_texts_on_page(&bundle, crate::support::PdfPage::Last);
    assert_eq!(
        payloads.len(),
        1,
        "one QR code on the cover sheet: {payloads:?}"
    );
    let page = zeugnis::scans::simulate::scanned_cover_page(&payloads[0], 300.0, 2.0, 2, 1616);
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    std::fs::write(dir.join("scan.tmp"), page.png()).expect("scan");
    std::fs::rename(dir.join("scan.tmp"), inbox.join("scan-0001.png")).expect("drop the scan");

    // 5. Archived by the intake.
    let t0 = std::time::Instant::now();
    let archived = loop {
        let (c, out, _) = zeugnis(dir, &["show", &code, "--json"]);
        if c == 0 {
            let v: Value = serde_json::from_str(&out).expect("show json");
            if v["state"] == "archived" {
                break v;
            }
        }
        assert!(
            t0.elapsed() < PATIENCE,
            "the scan was never archived\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(
        archived["scan"]["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(page.png())),
        "{archived}"
    );

    // 6. The mail: the registered (stamped) PDF attached, the link with
    //    code and key.
    let messages = sink.wait_for_messages(1, &log);
    let parts = SmtpSink::parts(&messages[0]);
    assert_eq!(parts["to"], ADDRESS, "{parts}");
    let body = parts["body"].as_str().expect("body");
    let link = url.clone();
    assert!(body.contains(&link), "the link with the key in: {body}");
    assert!(
        link.contains(&key) && link.contains(&code.replace('-', "")),
        "{link}"
    );
    let attachments = parts["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1, "{parts}");
    let attached = hex::decode(attachments[0]["hex"].as_str().expect("hex")).expect("hex");
    assert_eq!(
        blake3::hash(&attached).to_hex().as_str(),
        registered_blake3,
        "the attachment is the registered, stamped PDF"
    );
    assert!(
        attached.starts_with(&pdf),
        "the stamp is an incremental update of the exam office's PDF"
    );

    // 7. The link opens the certificate's page, with the holder's data;
    //    the stamped link (no key) opens it without.
    let path = link.strip_prefix(BASE_URL).expect("link under base_url");
    let page_with_key = http_get(&public, path);
    assert!(page_with_key.starts_with("HTTP/1.1 200"), "{page_with_key}");
    assert!(
        page_with_key.contains("Musterfrau"),
        "the holder's name with the key: {page_with_key}"
    );
    let stamped = zeugnis::stamp::verification_url(BASE_URL, "de", &code.replace('-', ""));
    let public_path = stamped
        .strip_prefix(BASE_URL)
        .expect("under base_url")
        .to_string();
    let page_without_key = http_get(&public, &public_path);
    assert!(
        page_without_key.starts_with("HTTP/1.1 200"),
        "{public_path}: {page_without_key}"
    );
    assert!(
        !page_without_key.contains("Musterfrau"),
        "no holder data without the key: {page_without_key}"
    );

    // The delivery is recorded once, and nothing is sent twice.
    let t0 = std::time::Instant::now();
    loop {
        let v = json_of(
            "show --json",
            &run_ok(dir, &["show", &code, "--json"], &log),
            &log,
        );
        if v["deliveries"].as_array().map(Vec::len) == Some(1) {
            assert_eq!(
                v["deliveries"][0]["documents"][0],
                registered_blake3.as_str()
            );
            break;
        }
        assert!(t0.elapsed() < PATIENCE, "no delivery record\n{}", d.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    d.stop();
    assert_eq!(sink.messages().len(), 1, "exactly one mail");
}
