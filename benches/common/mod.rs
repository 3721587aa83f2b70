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
