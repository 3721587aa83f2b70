//! Checkpoints interoperate: an independent signed-note implementation
//! (Cloudflare's `signed_note`, a port of Go's sumdb/note) accepts them;
//! `.tlog-proof` files verify; key files are PKCS#8 with mode 0600.

use crate::support::{ledger_dir, new_ledger, sample_body};
use std::os::unix::fs::PermissionsExt;
use zeugnis::ledger::checkpoint::{read_key_file, Checkpoint};
use zeugnis::ledger::proof::TlogProof;
use zeugnis::ledger::{Ledger, LedgerError, LedgerOptions};

#[test]
fn independent_verifier_accepts_our_checkpoint() {
    let (_t, mut l) = new_ledger(LedgerOptions::default());
    l.append_batch((0..5).map(sample_body).collect())
        .expect("append");
    let vkey = l.verifiers()[0].vkey();
    let verifier =
        signed_note::StandardVerifier::new(&vkey).expect("their parser accepts our vkey");
    let list = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    let note = signed_note::Note::from_bytes(l.checkpoint_note().as_bytes())
        .expect("their parser accepts our note");
    let (verified, unverified) = note
        .verify(&list)
        .expect("their verifier accepts our signature");
    assert_eq!((verified.len(), unverified.len()), (1, 0));
    let cp =
        Checkpoint::parse(std::str::from_utf8(note.text()).expect("utf8")).expect("checkpoint");
    assert_eq!(cp.size, 6);
    assert_eq!(cp.root, l.root(6).expect("root"));
    // And a tampered note is rejected by it.
    let tampered = l.checkpoint_note().replacen("\n6\n", "\n7\n", 1);
    let note = signed_note::Note::from_bytes(tampered.as_bytes()).expect("parses");
    assert!(note.verify(&list).is_err());
}

#[test]
fn tlog_proofs_verify_for_every_record_and_fail_when_tampered() {
    let (_t, mut l) = new_ledger(LedgerOptions::default());
    for b in 0..4 {
        l.append_batch((b * 10..b * 10 + 10).map(sample_body).collect())
            .expect("append");
    }
    let known = l.verifiers();
    for seq in 0..l.size() {
        let record = l.read_record(seq).expect("record");
        let text = l.tlog_proof(seq).expect("proof").encode();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex "));
        let parsed = TlogProof::parse(&text).expect("parse");
        let cp = parsed.verify(&record, &known).expect("verifies");
        assert_eq!(cp.size, l.size());
        let mut wrong = record.clone();
        wrong[60] ^= 1;
        assert!(
            parsed.verify(&wrong, &known).is_err(),
            "seq {seq}: wrong record accepted"
        );
        let mut wrong_index = parsed.clone();
        wrong_index.index = (seq + 1) % l.size();
        assert!(
            wrong_index.verify(&record, &known).is_err(),
            "seq {seq}: wrong index accepted"
        );
    }
    let malformed = [
        "c2sp.org/tlog-proof@v2\nindex 0\n\nx\n",
        "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
        "c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\nx\n",
        "c2sp.org/tlog-proof@v1\nindex 0\n",
    ];
    for m in malformed {
        assert!(TlogProof::parse(m).is_err(), "{m:?}");
    }
}

#[test]
fn consistency_between_every_pair_of_checkpoints() {
    let (_t, mut l) = new_ledger(LedgerOptions::default());
    let mut cps = vec![l.checkpoint().clone()];
    for b in 0..6u64 {
        l.append_batch((0..=b).map(sample_body).collect())
            .expect("append");
        cps.push(l.checkpoint().clone());
    }
    for a in &cps {
        for b in cps.iter().filter(|b| b.size >= a.size) {
            let p: Vec<Vec<u8>> = l
                .consistency_proof(a.size, b.size)
                .expect("proof")
                .iter()
                .map(|h| h.to_vec())
                .collect();
            zeugnis::ledger::merkle::verify_consistency(a.size, b.size, &p, &a.root, &b.root)
                .unwrap_or_else(|e| panic!("{} -> {}: {e}", a.size, b.size));
        }
    }
}

#[test]
fn key_file_is_pkcs8_0600_and_loose_permissions_are_refused() {
    let (t, l) = new_ledger(LedgerOptions::default());
    let dir = ledger_dir(&t);
    let key_path = dir
        .join("keys")
        .join(format!("{:08x}.pem", l.verifiers()[0].key_id));
    drop(l);
    let mode = std::fs::metadata(&key_path)
        .expect("key")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let pem = std::fs::read_to_string(&key_path).expect("read");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    // OpenSSL reads it and derives the same public key.
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key_path)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = read_key_file(&key_path).expect("read key");
    assert!(out.stdout.ends_with(key.verifying_key().as_bytes()));

    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = Ledger::open(&dir, LedgerOptions::default())
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, LedgerError::Note(_)), "{msg}");
    assert!(
        msg.contains("mode 0640") && msg.contains(&key_path.display().to_string()),
        "{msg}"
    );
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(Ledger::open(&dir, LedgerOptions::default()).is_ok());
}
