//! The scan intake end to end: the real `zeugnis run` daemon process on a
//! temporary directory (and `zeugnis ingest`), with slow writers, renames
//! mid-write, bursts of 2,000 files, duplicates, every quarantine reason,
//! scans before their registration, cover sheets printed and scanned, and
//! SIGKILL at random moments.

use crate::support::{Daemon, PATIENCE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use zeugnis::registry::{DocumentFile, RegistrationRecord, Registry};

struct Env {
    _t: tempfile::TempDir,
    dir: PathBuf,
    /// The daemon's configuration (TOML).
    config: String,
}

fn record_json() -> String {
    serde_json::json!({
        "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
        "holder": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "2000-02-29",
                   "birth_place": "Gotha", "student_id": "4711"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
        "last_exam_date": "2026-09-30"
    })
    .to_string()
}

/// A scan file as far as the sniffer is concerned, distinct per `tag`.
fn scan_pdf(tag: &str, size: usize) -> Vec<u8> {
    let mut b = format!("%PDF-1.7\n% scan of the signed original {tag}\n").into_bytes();
    b.resize(size.max(b.len()), b'.');
    b
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

impl Env {
    fn new(config: &str) -> Env {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().to_path_buf();
        // Ports chosen by the system, so that daemons of parallel tests
        // never collide (the log says which).
        let config = format!(
            "{config}\n[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n\
             admin_token_file = \"admin.token\"\n"
        );
        let e = Env { _t: t, dir, config };
        assert_eq!(e.run(&["init", "--origin", "test.example/zeugnis/1"]).0, 0);
        std::fs::create_dir(e.inbox()).expect("inbox");
        let token = e.dir.join("admin.token");
        std::fs::write(&token, ADMIN_TOKEN).expect("token");
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        std::fs::write(e.dir.join("r.json"), record_json()).expect("record");
        std::fs::write(e.dir.join("doc.pdf"), crate::support::pdf("digital image")).expect("doc");
        e
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        crate::support::zeugnis(&self.dir, args)
    }

    fn inbox(&self) -> PathBuf {
        self.dir.join("scans")
    }

    /// Registers `n` certificates through the library (one batch) and
    /// returns their codes.
    fn register_many(&self, n: usize) -> Vec<String> {
        let mut r = Registry::open(&self.dir.join("ledger"), "http://x").expect("open");
        let rec = RegistrationRecord::parse("r.json", record_json().as_bytes()).expect("record");
        let mut codes = Vec::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let items: Vec<_> = chunk
                .iter()
                .map(|i| {
                    let doc = DocumentFile {
                        name: format!("doc{i}.pdf"),
                        bytes: crate::support::pdf(&format!("digital image {i} {}", codes.len())),
                    };
                    (rec.clone(), vec![doc])
                })
                .collect();
            for issued in r.register_batch(&items).expect("register") {
                codes.push(issued.code.as_str().to_string());
            }
        }
        r.ledger().flush_index().expect("flush");
        codes
    }

    fn show(&self, code: &str) -> Value {
        let (c, out, err) = self.run(&["show", code, "--json"]);
        assert_eq!(c, 0, "{err}");
        serde_json::from_str(&out).expect("show --json")
    }

    fn start(&self) -> Daemon {
        Daemon::start(&self.dir, &self.config)
    }

    fn entries(&self, sub: &str) -> Vec<String> {
        crate::support::inbox_entries(&self.inbox(), sub)
    }

    /// Waits until `cond` holds (polling), or fails naming `what`.
    fn wait_for(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !cond() {
            if t0.elapsed() > PATIENCE {
                let log = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
                panic!(
                    "timed out waiting for {what}; inbox {:?}, work {:?}, waiting {:?}, quarantine {:?}\nlog tail:\n{}",
                    self.entries(""),
                    self.entries("work"),
                    self.entries("waiting"),
                    self.entries("quarantine"),
                    log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn quarantined(&self) -> BTreeMap<String, Value> {
        self.entries("quarantine")
            .into_iter()
            .filter(|n| n.ends_with(".reason.json"))
            .map(|n| {
                let v: Value = serde_json::from_slice(
                    &std::fs::read(self.inbox().join("quarantine").join(&n)).expect("reason"),
                )
                .expect("reason json");
                (v["source_name"].as_str().expect("source").to_string(), v)
            })
            .collect()
    }

    fn audit_ok(&self) -> String {
        let (c, out, err) = self.run(&["audit"]);
        assert_eq!(c, 0, "audit failed: {out}{err}");
        out
    }
}

/// The admin API's bearer token in the tests.
const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

/// Fast settling, codes taken from file names (opt-in since issue 13).
const FAST: &str = "[intake]\nstable_ms = 300\nrescan_secs = 1\nidentify = [\"file_name\"]\n[report]\ninterval_secs = 0\n";

/// Fast settling, the default identification: authenticated cover sheets only.
const FAST_COVER_SHEETS: &str =
    "[intake]\nstable_ms = 300\nrescan_secs = 1\n[report]\ninterval_secs = 0\n";

#[test]
fn slow_chunked_and_renamed_mid_write_files_are_archived_whole() {
    let e = Env::new("[intake]\nstable_ms = 800\nrescan_secs = 1\nidentify = [\"file_name\"]\n");
    let codes = e.register_many(2);
    let d = e.start();
    // Written in 6 chunks with pauses shorter than the stability wait.
    let slow = scan_pdf("slow", 600_000);
    {
        let mut f =
            std::fs::File::create(e.inbox().join(format!("{}.pdf", codes[0]))).expect("create");
        for chunk in slow.chunks(100_000) {
            f.write_all(chunk).expect("write");
            f.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    // Written under one name, renamed mid-write, finished under the new one.
    let renamed = scan_pdf("renamed", 400_000);
    {
        let tmp = e.inbox().join("upload-in-progress.pdf");
        let mut f = std::fs::File::create(&tmp).expect("create");
        f.write_all(&renamed[..150_000]).expect("write");
        std::thread::sleep(Duration::from_millis(300));
        std::fs::rename(&tmp, e.inbox().join(format!("scan_{}_001.pdf", codes[1])))
            .expect("rename");
        for chunk in renamed[150_000..].chunks(50_000) {
            std::thread::sleep(Duration::from_millis(200));
            f.write_all(chunk).expect("write");
        }
    }
    e.wait_for("both files archived", || {
        e.entries("").is_empty() && e.entries("work").is_empty()
    });
    d.stop();
    assert!(e.quarantined().is_empty(), "{:?}", e.quarantined());
    assert!(e.entries("waiting").is_empty());
    for (code, bytes) in [(&codes[0], &slow), (&codes[1], &renamed)] {
        let s = e.show(code);
        assert_eq!(s["state"], "archived", "{s}");
        assert_eq!(
            s["scan"]["sha256"],
            sha256_hex(bytes),
            "whole file archived for {code}"
        );
    }
    e.audit_ok();
}

#[test]
fn a_burst_of_2000_with_duplicates_is_archived_exactly_once() {
    let e = Env::new(FAST);
    let codes = e.register_many(2000);
    let d = e.start();
    let mut contents = BTreeMap::new();
    for (i, code) in codes.iter().enumerate() {
        let bytes = scan_pdf(&format!("{i}"), 2048);
        std::fs::write(e.inbox().join(format!("{code}.pdf")), &bytes).expect("drop");
        contents.insert(code.clone(), bytes);
    }
    // The same bytes dropped again under other names: archived once.
    for code in codes.iter().take(20) {
        std::fs::write(e.inbox().join(format!("again_{code}.pdf")), &contents[code]).expect("drop");
    }
    e.wait_for("the burst processed", || {
        e.entries("").is_empty() && e.entries("work").is_empty()
    });
    d.stop();
    assert!(
        e.quarantined().is_empty(),
        "{:?}",
        e.quarantined().keys().take(5).collect::<Vec<_>>()
    );
    let out = e.audit_ok();
    assert!(out.contains("ScanArchived   2000"), "{out}");
    let r = Registry::open(&e.dir.join("ledger"), "http://x").expect("open");
    for (code, bytes) in &contents {
        let c = r.find(code).expect("find");
        assert_eq!(
            c.scan.as_ref().expect("scan").sha256,
            sha256_hex(bytes),
            "{code}"
        );
    }
    let log = std::fs::read_to_string(e.dir.join("daemon.log")).expect("log");
    assert_eq!(
        log.matches("outcome=duplicate").count(),
        20,
        "duplicates reported"
    );
}

#[test]
fn every_quarantine_reason_is_written_beside_the_file_and_retry_works() {
    let e = Env::new(
        "[intake]\nstable_ms = 200\nrescan_secs = 1\nwaiting_period_secs = 2\nfile_bytes_max = 100000\norphan_sidecar_secs = 0\n\
         identify = [\"file_name\", \"sidecar\", \"cover_sheet\"]\n",
    );
    let codes = e.register_many(6);
    let (archived, revoked, voided, superseded) = (&codes[0], &codes[1], &codes[2], &codes[3]);
    // Prepare the states with the CLI before the daemon takes the lock.
    {
        let mut r = Registry::open(&e.dir.join("ledger"), "http://x").expect("open");
        r.archive_scan(archived, &scan_pdf("first", 100), "first.pdf")
            .expect("archive");
        r.revoke(revoked, "forged signature", "2026-11-01")
            .expect("revoke");
        r.void(voided, "wrong sheet scanned").expect("void");
        r.ledger().flush_index().expect("flush");
    }
    let (c, _, err) = e.run(&[
        "supersede",
        superseded,
        "--record",
        "r.json",
        "--document",
        "doc.pdf",
    ]);
    assert_eq!(c, 0, "{err}");
    let inbox = e.inbox();
    let put = |name: &str, bytes: &[u8]| std::fs::write(inbox.join(name), bytes).expect("drop");
    put("empty.pdf", b"");
    put(&format!("{}.pdf", codes[4]), &scan_pdf("big", 200_000));
    put("letter.docx", b"PK\x03\x04 a word document");
    put("no-code-at-all.pdf", &scan_pdf("nocode", 100));
    put(&format!("{archived}.pdf"), &scan_pdf("second", 100));
    put(&format!("{revoked}.pdf"), &scan_pdf("revoked", 100));
    put(&format!("{voided}.pdf"), &scan_pdf("voided", 100));
    put(&format!("{superseded}.pdf"), &scan_pdf("superseded", 100));
    put("ZZZZZZZZZZZZ.pdf", &scan_pdf("unknown", 100));
    put("lonely.json", br#"{"code": "ZZZZZZZZZZZZ"}"#);
    std::os::unix::fs::symlink("/etc/hostname", inbox.join("link.pdf")).expect("symlink");
    std::fs::create_dir(inbox.join("a-folder")).expect("dir");
    let fifo = inbox.join("pipe.pdf");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let d = e.start();
    let want: BTreeMap<&str, &str> = [
        ("empty.pdf", "empty"),
        ("letter.docx", "not_pdf_or_image"),
        ("no-code-at-all.pdf", "no_code"),
        ("link.pdf", "symlink"),
        ("a-folder", "special_file"),
        ("pipe.pdf", "special_file"),
        ("lonely.json", "orphan_sidecar"),
        ("ZZZZZZZZZZZZ.pdf", "unknown_code"),
    ]
    .into_iter()
    .collect();
    let by_code = [
        (format!("{}.pdf", codes[4]), "oversize"),
        (format!("{archived}.pdf"), "second_scan"),
        (format!("{revoked}.pdf"), "revoked"),
        (format!("{voided}.pdf"), "voided"),
        (format!("{superseded}.pdf"), "superseded"),
    ];
    let total = want.len() + by_code.len();
    e.wait_for("every file quarantined", || e.quarantined().len() == total);
    let q = e.quarantined();
    for (name, reason) in want
        .iter()
        .map(|(n, r)| (n.to_string(), *r))
        .chain(by_code.iter().map(|(n, r)| (n.clone(), *r)))
    {
        let v = q
            .get(&name)
            .unwrap_or_else(|| panic!("{name} not quarantined: {q:?}"));
        assert_eq!(v["reason"], reason, "{name}: {v}");
        assert!(!v["detail"].as_str().expect("detail").is_empty());
        assert!(v["at"].as_str().expect("at").ends_with('Z'));
        let file = v["file"].as_str().expect("file");
        assert!(
            std::fs::symlink_metadata(inbox.join("quarantine").join(file)).is_ok(),
            "{file} beside its reason"
        );
    }
    assert!(
        q["no-code-at-all.pdf"]["tried"]
            .as_array()
            .expect("tried")
            .len()
            >= 2,
        "what was tried is recorded"
    );
    // The symlink was moved, not followed.
    assert!(std::fs::symlink_metadata(inbox.join("quarantine/link.pdf"))
        .expect("link")
        .file_type()
        .is_symlink());
    // The operator fixes one: adds a sidecar with the code and moves the
    // quarantined scan back into the inbox.
    let fixed = &codes[5];
    std::fs::write(inbox.join("no-code-at-all.txt"), fixed).expect("sidecar");
    std::fs::rename(
        inbox.join("quarantine/no-code-at-all.pdf"),
        inbox.join("no-code-at-all.pdf"),
    )
    .expect("move back");
    e.wait_for("the retried file archived", || {
        e.entries("").is_empty() && e.entries("work").is_empty()
    });
    d.stop();
    let s = e.show(fixed);
    assert_eq!(s["state"], "archived", "{s}");
    assert_eq!(s["scan"]["sha256"], sha256_hex(&scan_pdf("nocode", 100)));
    assert!(e.entries("").is_empty(), "the sidecar went with its scan");
    e.audit_ok();
}

#[test]
fn a_scan_before_its_registration_waits_and_is_archived_when_it_arrives() {
    let e = Env::new(FAST);
    let code = "QNVCFM3P4VDF";
    let bytes = scan_pdf("early", 5000);
    std::fs::write(e.inbox().join(format!("scan_{code}.pdf")), &bytes).expect("drop");
    let d = e.start();
    e.wait_for("the scan parked", || e.entries("waiting").len() == 2);
    d.stop();
    let state: Value = serde_json::from_slice(
        &std::fs::read(
            e.inbox()
                .join(format!("waiting/scan_{code}.pdf.waiting.json")),
        )
        .expect("state"),
    )
    .expect("json");
    assert_eq!(state["code"], code);
    // The exam office registers it (the daemon is stopped: the CLI needs the writer lock).
    let (c, _, err) = e.run(&[
        "register",
        "--record",
        "r.json",
        "--document",
        "doc.pdf",
        "--code",
        code,
        "--import",
    ]);
    assert_eq!(c, 0, "{err}");
    let d = e.start();
    e.wait_for("the waiting scan archived", || {
        e.entries("waiting").is_empty() && e.entries("work").is_empty()
    });
    d.stop();
    let s = e.show(code);
    assert_eq!(s["state"], "archived");
    assert_eq!(s["scan"]["sha256"], sha256_hex(&bytes));
    // `ingest` reports the same outcomes as JSON objects.
    let other = "ABCDEFGHJKMN";
    std::fs::write(e.dir.join("x.pdf"), scan_pdf("x", 10)).expect("x");
    let (c, out, err) = e.run(&["ingest", "--json", "--identify", "file_name", "x.pdf"]);
    assert_eq!(c, 2, "quarantined -> exit 2: {err}");
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["outcome"], "quarantined");
    assert_eq!(v["reason"], "no_code");
    std::fs::write(e.dir.join(format!("{other}.pdf")), scan_pdf("y", 10)).expect("y");
    let (c, out, _) = e.run(&[
        "ingest",
        "--json",
        "--identify",
        "file_name",
        &format!("{other}.pdf"),
    ]);
    assert_eq!(c, 0);
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"file": format!("{other}.pdf"), "outcome": "waiting", "code": other, "reason": "not_registered_yet"})
    );
}

/// A JPEG of a page (quality 85).
fn jpeg(page: &zeugnis::scans::simulate::Page) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(
            &page.luma,
            page.width as u16,
            page.height as u16,
            jpeg_encoder::ColorType::Luma,
        )
        .expect("jpeg");
    out
}

/// A one-page PDF whose page is the JPEG (DCTDecode), as scanners write.
fn pdf_with_jpeg(page: &zeugnis::scans::simulate::Page) -> Vec<u8> {
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let img = doc.add_object(Stream::new(
        dictionary! {"Type" => "XObject", "Subtype" => "Image", "Width" => page.width as i64,
        "Height" => page.height as i64, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
        "Filter" => "DCTDecode"},
        jpeg(page),
    ));
    let content = doc.add_object(Stream::new(
        dictionary! {},
        b"q 595 0 0 842 0 0 cm /Im0 Do Q".to_vec(),
    ));
    let pages_id = doc.new_object_id();
    let page_id = doc.add_object(dictionary! {"Type" => "Page", "Parent" => pages_id,
    "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()], "Contents" => content,
    "Resources" => dictionary! {"XObject" => dictionary! {"Im0" => img}}});
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! {"Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1},
        ),
    );
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("pdf");
    out
}

#[test]
fn cover_sheets_printed_and_scanned_are_read_from_images_and_pdfs() {
    use zeugnis::scans::simulate::scanned_cover_page;
    let e = Env::new(FAST_COVER_SHEETS);
    let codes = e.register_many(7);
    let key =
        zeugnis::coversheet::CoverSheetKey::open_or_create(&e.dir.join("ledger")).expect("key");
    // The cover sheet PDF exactly as `zeugnis cover-sheet` writes it.
    let (c, _, err) = e.run(&["cover-sheet", &codes[0], "-o", "scans/.cover.tmp"]);
    assert_eq!(c, 0, "{err}");
    let mut expected = vec![(
        codes[0].clone(),
        std::fs::read(e.inbox().join(".cover.tmp")).expect("cover"),
    )];
    std::fs::rename(
        e.inbox().join(".cover.tmp"),
        e.inbox().join("scan-0001.pdf"),
    )
    .expect("rename");
    let cases: [(f32, f32, u64, &str); 6] = [
        (300.0, 5.0, 2, "png"),
        (300.0, -5.0, 2, "jpg"),
        (300.0, -3.0, 3, "tif"),
        (200.0, 5.0, 2, "pdf"),
        (200.0, -5.0, 2, "png"),
        (300.0, 4.0, 1, "pdf"),
    ];
    for (i, (dpi, degrees, noise, ext)) in cases.into_iter().enumerate() {
        let code = &codes[i + 1];
        let payload = zeugnis::coversheet::qr_payload(code, &key.tag(code));
        let page = scanned_cover_page(&payload, dpi, degrees, noise, i as u64 + 7);
        let bytes = match ext {
            "png" => page.png(),
            "tif" => page.tiff(),
            "jpg" => jpeg(&page),
            _ => pdf_with_jpeg(&page),
        };
        std::fs::write(e.inbox().join(format!("scan-{:04}.{ext}", i + 2)), &bytes).expect("drop");
        expected.push((code.clone(), bytes));
    }
    let d = e.start();
    e.wait_for("all scans processed", || {
        e.entries("").is_empty() && e.entries("work").is_empty()
    });
    d.stop();
    assert!(e.quarantined().is_empty(), "{:#?}", e.quarantined());
    for (code, bytes) in &expected {
        let s = e.show(code);
        assert_eq!(s["state"], "archived", "{code}: {s}");
        assert_eq!(s["scan"]["sha256"], sha256_hex(bytes), "{code}");
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_archives_each_file_once() {
    let e = Env::new("[intake]\nstable_ms = 0\nrescan_secs = 1\nbatch_files_max = 2\nidentify = [\"file_name\"]\n[report]\ninterval_secs = 0\n");
    const KILLS: usize = 100;
    const PER_ROUND: usize = 10;
    let codes = e.register_many(KILLS * PER_ROUND);
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut dropped: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // Rounds in which the kill landed after some files of the run were
    // archived and before all were: the interesting crashes.
    let (mut mid_run, mut archived_before) = (0, 0);
    for round in 0..KILLS {
        // The daemon starts, files arrive while it runs (written under a
        // dot name and renamed, as the drop protocol says), and it is killed
        // at a random moment: during start-up, while claiming, hashing,
        // committing or unlinking, or while idle.
        let mut d = None;
        let mut kill_at = Instant::now();
        for (i, code) in codes[round * PER_ROUND..(round + 1) * PER_ROUND]
            .iter()
            .enumerate()
        {
            // Half the files are a backlog found at start, half arrive later.
            if i == PER_ROUND / 2 {
                d = Some(e.start());
                kill_at = Instant::now() + Duration::from_millis(5 + next() % 100);
            }
            let bytes = scan_pdf(code, 20_000 + (next() % 50_000) as usize);
            let tmp = e.inbox().join(format!(".{code}.part"));
            std::fs::write(&tmp, &bytes).expect("drop");
            std::fs::rename(&tmp, e.inbox().join(format!("{code}.pdf"))).expect("rename");
            dropped.insert(code.clone(), bytes);
            std::thread::sleep(Duration::from_millis(next() % 8));
        }
        if let Some(left) = kill_at.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
        d.expect("started").kill9();
        // Invariant after every crash: each dropped file is archived (with
        // exactly its bytes) or still in the inbox / working folder.
        let r = Registry::open(&e.dir.join("ledger"), "http://x").expect("open after crash");
        let present: std::collections::HashSet<String> =
            e.entries("").into_iter().chain(e.entries("work")).collect();
        let mut archived = 0;
        for (code, bytes) in &dropped {
            let c = r.find(code).expect("find");
            match &c.scan {
                Some(scan) => {
                    assert_eq!(scan.sha256, sha256_hex(bytes), "{code}");
                    // It may still be in work/ if the kill came between
                    // the commit and the unlink: the next run removes it.
                    archived += 1;
                }
                None => assert!(
                    present.contains(&format!("{code}.pdf")),
                    "round {round}: {code}.pdf lost"
                ),
            }
        }
        if archived > archived_before && archived < dropped.len() {
            mid_run += 1;
        }
        archived_before = archived;
        assert!(
            e.entries("quarantine").is_empty(),
            "round {round}: {:?}",
            e.quarantined()
        );
    }
    eprintln!("{mid_run} of {KILLS} kills landed while the daemon was part-way through its files");
    assert!(
        mid_run > 0,
        "no kill landed mid-run; the test exercised only start-up crashes"
    );
    let d = e.start();
    e.wait_for("everything archived after the last crash", || {
        e.entries("").is_empty() && e.entries("work").is_empty()
    });
    d.stop();
    let out = e.audit_ok();
    assert!(
        out.contains(&format!("ScanArchived   {}", KILLS * PER_ROUND)),
        "each file archived exactly once: {out}"
    );
}

#[test]
fn the_daemon_writes_and_mails_the_periodic_status_report() {
    let smtp = crate::support::Smtp::start();
    let e = Env::new(&format!(
        "[intake]\nstable_ms = 100\nrescan_secs = 1\n[report]\ninterval_secs = 1\n\
         mail_to = [\"pruefungsamt@uni.example\"]\nmail_from = \"zeugnis@uni.example\"\n\
         smtp = \"127.0.0.1:{}\"\n",
        smtp.port
    ));
    e.register_many(1);
    std::fs::write(e.inbox().join("letter.docx"), b"PK\x03\x04").expect("drop");
    let d = e.start();
    e.wait_for("the quarantine", || e.quarantined().len() == 1);
    // A report taken after the quarantine lists it.
    let mail = smtp.wait_for("1 quarantined");
    d.stop();
    assert!(mail.contains("To: pruefungsamt@uni.example"), "{mail}");
    assert!(
        mail.contains("Subject: zeugnis status test.example/zeugnis/1"),
        "{mail}"
    );
    assert!(mail.contains("letter.docx"), "{mail}");
    let reports: Vec<_> = std::fs::read_dir(e.dir.join("ledger/reports"))
        .expect("reports written to the data directory")
        .map(|x| x.expect("entry").path())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let v: Value =
        serde_json::from_slice(&std::fs::read(&reports[0]).expect("read")).expect("json");
    assert_eq!(v["states"]["awaiting_scan"], 1, "{v}");
}

/// A minimal HTTP/1.1 exchange over a plain socket: returns (status, body).
fn http(addr: &str, request: &[u8]) -> (u16, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s.write_all(request).expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn a_registration_through_the_admin_api_archives_the_waiting_scan_at_once() {
    // A long rescan interval: only the admin write's wake-up can explain a
    // prompt archive.
    let e =
        Env::new("[intake]\nstable_ms = 100\nrescan_secs = 3600\nidentify = [\"file_name\"]\n[report]\ninterval_secs = 0\n");
    let code = "7K2M9XQNVCFM";
    let bytes = scan_pdf("arrives first", 3000);
    let mut d = e.start();
    std::fs::write(e.inbox().join(format!("{code}.pdf")), &bytes).expect("drop");
    e.wait_for("the scan parked", || e.entries("waiting").len() == 2);
    // The exam office registers it through the admin API while the daemon runs.
    let boundary = "zeugnis-test-boundary";
    let mut body = Vec::new();
    for (name, file, content) in [
        ("record", None, record_json().into_bytes()),
        ("code", None, code.as_bytes().to_vec()),
        // A code printed by an earlier system (not reserved here).
        ("import", None, b"true".to_vec()),
        (
            "document",
            Some("doc.pdf"),
            crate::support::pdf("digital image"),
        ),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(f) = file {
            body.extend_from_slice(
                format!("; filename=\"{f}\"\r\nContent-Type: application/pdf").as_bytes(),
            );
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(&content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut req = format!(
        "POST /admin/v1/register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (status, reply) = http(&d.addr("admin"), &req);
    assert_eq!(status, 201, "{reply}");
    let v: Value = serde_json::from_str(&reply).expect("json");
    assert_eq!(v["code"].as_str().expect("code").replace('-', ""), code);
    e.wait_for("the waiting scan archived", || {
        e.entries("waiting").is_empty() && e.entries("work").is_empty()
    });
    // The public API of the same daemon shows it archived.
    let (status, reply) = http(
        &d.addr("public"),
        format!("GET /api/v1/certificates/{code} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(status, 200, "{reply}");
    let v: Value = serde_json::from_str(&reply).expect("json");
    assert_eq!(v["state"], "archived", "{v}");
    // The intake's outcomes are counted in the metrics.
    let (status, metrics) = http(
        &d.addr("public"),
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("zeugnis_intake_files_total") && l.contains("archived"))
        .unwrap_or_else(|| panic!("no archived counter in:\n{metrics}"));
    assert!(line.trim_end().ends_with(" 1"), "{line}");
    d.stop();
    assert_eq!(e.show(code)["scan"]["sha256"], sha256_hex(&bytes));
}

#[path = "intake_hostile.rs"]
mod hostile;
