//! FORMAT.md is enough to verify a ledger: `tools/verify_ledger.py`, written
//! from the specification alone in Python, agrees with zeugnis on every
//! record, the head link, the root and every checkpoint, and fails on damage.

use crate::support::sample_body;
use std::process::Command;
use zeugnis::registry::{DocumentFile, RegistrationRecord, Registry};

fn python_ready() {
    crate::support::python_modules(&["blake3", "cryptography"]);
}

fn verify(dir: &std::path::Path, vkey: &str) -> (i32, String, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_ledger.py");
    crate::support::output(
        Command::new("python3")
            .arg(script)
            .arg(dir)
            .args(["--vkey", vkey]),
    )
}

#[test]
fn python_verifier_from_the_spec_agrees_and_detects_damage() {
    python_ready();
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("ledger");
    let ledger = zeugnis::ledger::Ledger::init(&dir, "py.example/zeugnis/1", Default::default())
        .expect("init");
    let mut r = Registry::over(ledger, "http://x").expect("registry");
    let record = serde_json::json!({
        "institution": "Universität Potsdam", "kind": "certificate", "language": "en",
        "holder": {"given_name": "A", "family_name": "B", "birth_date": "1999-12-31", "birth_place": "C", "student_id": "9"},
        "programme": {"degree": "Micro-credential", "name": "Data"},
        "last_exam_date": "2026-07-01",
        "grades": {"ruleset": "potsdam-examiners-2025", "grades": ["1.3", "2.0"]}
    });
    let rec = RegistrationRecord::parse("r.json", record.to_string().as_bytes()).expect("record");
    let doc = || {
        vec![DocumentFile {
            name: "d.pdf".into(),
            bytes: b"%PDF-1.7 x".to_vec(),
        }]
    };
    let a = r.register(&rec, &doc(), None).expect("register").code;
    r.archive_scan(&a, b"%PDF-1.7 scan", "s.pdf").expect("scan");
    let b = r.register(&rec, &doc(), None).expect("register").code;
    r.supersede(&b, &rec, &doc()).expect("supersede");
    r.revoke(&a, "cheating", "2027-01-01").expect("revoke");
    r.erase(&a, "GDPR").expect("erase");
    drop(r);
    let mut l = zeugnis::ledger::Ledger::open(&dir, Default::default()).expect("open");
    l.append_batch((0..600).map(sample_body).collect())
        .expect("append");
    let (size, root, link, vkey) = (
        l.size(),
        l.root(l.size()).expect("root"),
        l.head_link(),
        l.verifiers()[0].vkey(),
    );
    drop(l);

    let (code, out, err) = verify(&dir, &vkey);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["records"], size);
    assert_eq!(v["root"], hex::encode(root));
    assert_eq!(v["head_link"], hex::encode(link));
    assert_eq!(v["origin"], "py.example/zeugnis/1");
    assert_eq!(
        v["checkpoints"], 8,
        "genesis, 6 registry batches, 1 bulk batch"
    );

    // A key that did not sign: refused.
    let other = zeugnis::ledger::checkpoint::NoteSigner::new(
        "py.example/zeugnis/1",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    );
    let (code, _, err) = verify(&dir, &other.verifier.vkey());
    assert_eq!(code, 1);
    assert!(err.contains("no signature by a known key"), "{err}");

    // A flipped byte in an acknowledged record: refused, with file and offset.
    let seg = dir.join("segments/00000000000000000000.seg");
    let mut bytes = std::fs::read(&seg).expect("segment");
    bytes[300] ^= 1;
    std::fs::write(&seg, &bytes).expect("write");
    let (code, _, err) = verify(&dir, &vkey);
    assert_eq!(code, 1);
    assert!(
        err.contains("00000000000000000000.seg at byte") && err.contains("damaged frame"),
        "{err}"
    );
}
