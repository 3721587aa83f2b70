//! Helpers shared by the benchmarks (included with `mod common;`).

#![allow(dead_code)]

use zeugnis::registry::RegistrationRecord;

/// Scratch directory on the same disk as the build (not tmpfs).
pub fn scratch() -> tempfile::TempDir {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch");
    std::fs::create_dir_all(&base).expect("scratch");
    tempfile::tempdir_in(base).expect("tempdir")
}

/// A valid registration record.
pub fn record() -> RegistrationRecord {
    let json = serde_json::json!({
        "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
        "holder": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "2000-01-01",
                   "birth_place": "Gotha", "student_id": "4711"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
        "last_exam_date": "2026-09-30"
    });
    RegistrationRecord::parse("bench.json", json.to_string().as_bytes()).expect("record")
}

/// A real PDF of about `len` bytes whose content (xorshift hex) differs per `seed`.
pub fn pdf(seed: u64, len: usize) -> Vec<u8> {
    // A real PDF (registrations refuse anything else): one page whose text
    // is `seed` and pseudo-random hex filling it up to about `len` bytes.
    let mut filler = String::new();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while filler.len() + 700 < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        filler.push_str(&format!("{x:016x}"));
    }
    zeugnis::document::text_pdf(&[vec![format!("document {seed}"), filler]], None)
}

/// Folder of the benchmark ledgers kept between runs.
pub const CACHED_LEDGERS_DIR: &str = "target/bench-ledgers";

/// A ledger of `records` records (filler records of about 300 bytes and,
/// at the end, one registered certificate) under
/// `target/bench-ledgers/<records>/`, built on the first call and kept for
/// later runs (building 10,000,000 records takes minutes on a loaded
/// machine). Returns the folder (with a `zeugnis.toml` for the daemon,
/// ports 0, no periodic report), the data directory inside it, and the
/// certificate's code. Delete the folder to rebuild it.
pub fn cached_ledger(records: u64) -> (std::path::PathBuf, std::path::PathBuf, String) {
    use zeugnis::ledger::record::Body;
    use zeugnis::ledger::{Ledger, LedgerOptions};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(CACHED_LEDGERS_DIR)
        .join(records.to_string());
    let data = dir.join("ledger");
    let done = dir.join("complete");
    if let Ok(code) = std::fs::read_to_string(&done) {
        return (dir, data, code);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench ledger folder");
    eprintln!(
        "building the benchmark ledger of {records} records in {} (once)",
        dir.display()
    );
    let filler = |n: u64| Body::Voided {
        code: format!("{n:012}"),
        reason: "r".repeat(260),
    };
    let mut l = Ledger::init(&data, "bench/zeugnis/1", LedgerOptions::default()).expect("init");
    // Genesis, records - 2 fillers, and the registration: `records` in all.
    let mut n = 1;
    while n < records - 1 {
        let k = (records - 1 - n).min(10_000);
        l.append_batch((n..n + k).map(filler).collect())
            .expect("append");
        n += k;
    }
    l.flush_index().expect("flush");
    drop(l);
    let mut r = zeugnis::registry::Registry::open(&data, "http://bench").expect("registry");
    let doc = zeugnis::registry::DocumentFile {
        name: "doc.pdf".into(),
        bytes: pdf(1, 1000),
    };
    let issued = r.register(&record(), &[doc], None).expect("register");
    r.ledger().flush_index().expect("flush");
    drop(r);
    std::fs::write(
        dir.join("zeugnis.toml"),
        "[report]\ninterval_secs = 0\n[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n",
    )
    .expect("config");
    assert_eq!(
        zeugnis::ledger::Ledger::open_read_only(&data)
            .expect("open")
            .size(),
        records,
        "the benchmark ledger's size"
    );
    std::fs::write(&done, &issued.code).expect("marker");
    (dir, data, issued.code)
}
