//! FORMAT.md is enough to verify a ledger: `tools/verify_ledger.py`, written
//! from the specification alone in Python, agrees with zeugnis on every
//! record, the head link, the root and every checkpoint, and fails on damage;
//! on a table of tampered ledgers and proof bundles it and zeugnis (`audit`,
//! `verify-proof`) agree: both accept or both reject.

use crate::support::sample_body;
use std::process::Command;
use zeugnis::registry::{DocumentFile, RegisterOptions, RegistrationRecord, Registry};

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
    let doc = |n: u32| {
        vec![DocumentFile {
            name: "d.pdf".into(),
            bytes: crate::support::pdf(&format!("document {n}")),
        }]
    };
    let a = r.register(&rec, &doc(1), None).expect("register").code;
    r.archive_scan(&a, b"%PDF-1.7 scan", "s.pdf").expect("scan");
    // Kind 13 (format version 3): the scan replaced, twice.
    for (n, bytes) in [&b"%PDF-1.7 right scan"[..], b"%PDF-1.7 right scan, again"]
        .into_iter()
        .enumerate()
    {
        let done = r
            .replace_scan(&a, bytes, "new.pdf", "wrong cover sheet", u64::MAX)
            .expect("replace scan");
        assert!(!done.retry, "replacement {n}");
    }
    let b = r.register(&rec, &doc(2), None).expect("register").code;
    // Format version 6: attributed records (header version 2) beside
    // unattributed ones, under two operators.
    let op = |id: &str| Some(zeugnis::registry::OperatorId::parse(id).expect("id"));
    r.with_operator(op("op-k3m9x2b7qa"), |r| r.supersede(&b, &rec, &doc(3)))
        .expect("supersede");
    r.with_operator(op("api"), |r| r.revoke(&a, "cheating", "2027-01-01"))
        .expect("revoke");
    r.erase(&a, "GDPR").expect("erase");
    // Format version 4: kinds 14 (Reserved), 15 (CodeImported) and 16
    // (DuplicateAllowed) decode in the Python verifier too.
    let reserved = r.reserve(2, "de").expect("reserve");
    let with = |code: Option<&'static str>, import, allow_duplicate| RegisterOptions {
        code,
        import,
        allow_duplicate,
    };
    let code: &'static str = Box::leak(reserved[0].code.clone().into_boxed_str());
    r.register_with(&rec, &doc(4), &with(Some(code), false, false))
        .expect("register a reserved code");
    r.register_with(&rec, &doc(5), &with(Some("ABCD-EFGH-JKMN"), true, false))
        .expect("import");
    r.register_with(&rec, &doc(4), &with(None, false, true))
        .expect("duplicate on purpose");
    // Format version 5: kind 17 (MailDelivered).
    r.record_mail_delivery(zeugnis::registry::MailDelivery {
        code: zeugnis::codes::Code::parse(&b)
            .expect("code")
            .as_str()
            .to_string(),
        language: "de".into(),
        template: "builtin".into(),
        template_blake3: [7; 32],
        documents: vec![[8; 32]],
        address_hash: [9; 32],
        delivered_s: 1_800_000_000,
    })
    .expect("mail delivery");
    // Format version 7: kind 18 (Stamped), from a real stamp.
    let stamp = zeugnis::stamp::StampRequest {
        base_url: "https://verify.example".into(),
        place: Default::default(),
    };
    r.register_stamped(&rec, &doc(6), &with(None, false, false), Some(&stamp))
        .expect("register stamped");
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
        v["checkpoints"], 16,
        "genesis, 14 registry batches, 1 bulk batch"
    );
    assert_eq!(v["scans_replaced"], 2, "{out}");
    // Supersede writes Superseded + Registered; the revocation one record.
    assert_eq!(
        v["attributed"],
        serde_json::json!({"op-k3m9x2b7qa": 2, "api": 1}),
        "{out}"
    );

    // A key that did not sign: refused.
    let other = zeugnis::ledger::checkpoint::NoteSigner::new(
        "py.example/zeugnis/1",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    );
    let (code, _, err) = verify(&dir, &other.verifier.vkey());
    assert_eq!(code, 1);
    assert!(err.contains("no signature by a known key"), "{err}");

    // A stored full tile that does not match the recomputed hashes is a
    // failure for both verifiers (FORMAT.md §13 item 7).
    let (c, out, err) =
        crate::support::zeugnis(t.path(), &["audit", "--data", dir.to_str().expect("utf-8")]);
    assert_eq!(c, 0, "zeugnis audit of the untouched ledger: {out}{err}");
    let tile = dir.join("tiles/tile/0/001");
    let good_tile = std::fs::read(&tile).expect("a full tile (600 records)");
    assert_eq!(good_tile.len(), 256 * 32);
    let mut bad_tile = good_tile.clone();
    bad_tile[100] ^= 1;
    std::fs::write(&tile, &bad_tile).expect("write");
    let (code, _, err) = verify(&dir, &vkey);
    assert_eq!(code, 1, "verify_ledger.py accepted a wrong tile");
    assert!(
        err.contains("tiles/tile/0/001: does not match the recomputed tree hashes"),
        "{err}"
    );
    let (c, out, err) =
        crate::support::zeugnis(t.path(), &["audit", "--data", dir.to_str().expect("utf-8")]);
    assert_eq!(c, 1, "zeugnis audit accepted a wrong tile: {out}{err}");
    std::fs::write(&tile, &good_tile).expect("restore");
    assert_eq!(verify(&dir, &vkey).0, 0, "the restored tile verifies");

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

/// What a case gives to both verifiers.
enum Target {
    /// `zeugnis audit --data DIR [--checkpoint FILE]` and
    /// `verify_ledger.py DIR --vkey KEY [--checkpoint FILE]`.
    Ledger(std::path::PathBuf, Option<std::path::PathBuf>),
    /// `zeugnis verify-proof DIR --vkey KEY` and
    /// `verify_ledger.py --bundle DIR --vkey KEY`.
    Bundle(std::path::PathBuf, String),
}

/// Issue 19: zeugnis and the Python verifier written from FORMAT.md alone
/// agree on the signature policy (§8.5), the key path (§10.2), rollback with
/// a kept checkpoint (§13.1) and damage, case by case.
#[test]
fn python_verifier_and_zeugnis_agree_on_tampered_ledgers_and_bundles() {
    use crate::support::{
        add_signature, bundle_manifests_rewritten, copy_dir, rewrite_last_checkpoint, zeugnis,
    };
    python_ready();
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path();
    let origin = "agree.example/zeugnis/1";
    assert_eq!(zeugnis(d, &["init", "--origin", origin]).0, 0);
    std::fs::write(d.join("d.pdf"), crate::support::pdf("x")).expect("pdf");
    let record = serde_json::json!({
        "institution": "Universität Bremen", "kind": "degree_deed", "language": "de",
        "holder": {"given_name": "Max", "family_name": "Muster", "birth_date": "1998-05-05", "birth_place": "Bremen", "student_id": "77"},
        "programme": {"degree": "Master of Science", "name": "Physik"},
        "last_exam_date": "2026-03-31",
        "grades": {"ruleset": "potsdam-examiners-2025", "grades": ["1.0", "2.0"]}
    });
    std::fs::write(d.join("r.json"), record.to_string()).expect("record");
    let (c, out, err) = zeugnis(
        d,
        &[
            "register",
            "--record",
            "r.json",
            "--document",
            "d.pdf",
            "--json",
        ],
    );
    assert_eq!(c, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let code = v["code"].as_str().expect("code").to_string();
    let first_key_file = std::fs::read_dir(d.join("ledger/keys"))
        .expect("keys")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .expect("key file");
    let first_key = zeugnis::ledger::checkpoint::read_key_file(&first_key_file).expect("key");
    let mut vkeys = vec![zeugnis(d, &["vkey"]).1.trim().to_string()];
    for _ in 0..3 {
        let (c, out, err) = zeugnis(d, &["rotate-key"]);
        assert_eq!(c, 0, "{err}");
        let new = out
            .lines()
            .find_map(|l| l.strip_prefix("new vkey: "))
            .expect("new vkey")
            .to_string();
        let old_id = vkeys
            .last()
            .expect("key")
            .split('+')
            .nth(1)
            .expect("id")
            .to_string();
        let (c, _, err) = zeugnis(d, &["rotate-key", "--retire", &old_id]);
        assert_eq!(c, 0, "{err}");
        vkeys.push(new);
    }
    let (first_vkey, last_vkey) = (vkeys[0].clone(), vkeys[3].clone());
    assert_eq!(zeugnis(d, &["export-proof", &code, "-o", "b"]).0, 0);
    let kept = d.join("kept.cp");
    std::fs::write(&kept, zeugnis(d, &["checkpoint"]).1).expect("kept");
    let note = std::fs::read_to_string(d.join("b/checkpoint")).expect("checkpoint");
    let unknown = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);

    let mut cases: Vec<(String, Target, bool, &str)> = vec![
        (
            "untouched ledger, kept checkpoint".into(),
            Target::Ledger(d.join("ledger"), Some(kept.clone())),
            true,
            "",
        ),
        (
            "untouched bundle, newest key".into(),
            Target::Bundle(d.join("b"), last_vkey.clone()),
            true,
            "",
        ),
        (
            "bundle verified with the first key after three rotations (key path)".into(),
            Target::Bundle(d.join("b"), first_vkey.clone()),
            true,
            "",
        ),
    ];
    // Extra signature lines on the newest checkpoint, in a bundle and in a ledger.
    for (what, forged, accept, reason) in [
        (
            "extra valid signature by an unknown key",
            add_signature(&note, &unknown, origin, true),
            true,
            "",
        ),
        (
            "extra valid signature by a retired key",
            add_signature(&note, &first_key, origin, true),
            false,
            "which is not active at tree size",
        ),
        (
            "extra invalid signature by a retired key",
            add_signature(&note, &first_key, origin, false),
            false,
            "of this log does not verify",
        ),
    ] {
        let slug = what.replace(' ', "-");
        let bundle = d.join(format!("b-{slug}"));
        copy_dir(&d.join("b"), &bundle);
        std::fs::write(bundle.join("checkpoint"), &forged).expect("write");
        for e in std::fs::read_dir(bundle.join("records")).expect("records") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "tlog-proof") {
                let text = std::fs::read_to_string(&p).expect("proof");
                std::fs::write(&p, text.replace(&note, &forged)).expect("proof");
            }
        }
        bundle_manifests_rewritten(&bundle);
        cases.push((
            format!("bundle, {what}"),
            Target::Bundle(bundle, last_vkey.clone()),
            accept,
            reason,
        ));
        let ledger = d.join(format!("ledger-{slug}"));
        copy_dir(&d.join("ledger"), &ledger);
        let mut scan =
            zeugnis::ledger::recovery::read_checkpoints(&ledger.join("checkpoints"), true)
                .expect("checkpoints");
        let (offset, last) = scan.notes.pop().expect("a checkpoint");
        assert_eq!(last, note, "the bundle's checkpoint is the newest");
        rewrite_last_checkpoint(&ledger.join("checkpoints"), offset, &forged);
        let _ = std::fs::remove_file(ledger.join("checkpoint"));
        cases.push((
            format!("ledger, {what}"),
            Target::Ledger(ledger, None),
            accept,
            reason,
        ));
    }
    // The key path loses its first checkpoint: the first key vouches for nothing.
    let bundle = d.join("b-key-path-cut");
    copy_dir(&d.join("b"), &bundle);
    let mut path_sizes: Vec<u64> = std::fs::read_dir(bundle.join("keys"))
        .expect("keys")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.strip_suffix(".checkpoint")
                .and_then(|s| s.parse().ok())
        })
        .collect();
    path_sizes.sort();
    assert_eq!(path_sizes.len(), 3, "one key-path checkpoint per added key");
    for ext in ["checkpoint", "consistency"] {
        std::fs::remove_file(bundle.join(format!("keys/{}.{ext}", path_sizes[0]))).expect("rm");
    }
    bundle_manifests_rewritten(&bundle);
    cases.push((
        "bundle with its first key-path checkpoint removed, first key".into(),
        Target::Bundle(bundle.clone(), first_vkey.clone()),
        false,
        "no signature by a known key that is trusted",
    ));
    cases.push((
        "bundle with its first key-path checkpoint removed, newest key".into(),
        Target::Bundle(bundle, last_vkey.clone()),
        true,
        "",
    ));
    // Rollback: the newest checkpoint frame cut off, the derived copy deleted.
    let ledger = d.join("ledger-rolled-back");
    copy_dir(&d.join("ledger"), &ledger);
    let scan = zeugnis::ledger::recovery::read_checkpoints(&ledger.join("checkpoints"), true)
        .expect("checkpoints");
    let (offset, _) = scan.notes.last().expect("last").clone();
    let bytes = std::fs::read(ledger.join("checkpoints")).expect("read");
    std::fs::write(ledger.join("checkpoints"), &bytes[..offset as usize]).expect("cut");
    let _ = std::fs::remove_file(ledger.join("checkpoint"));
    cases.push((
        "checkpoints tail cut, no kept checkpoint (looks like a crash)".into(),
        Target::Ledger(ledger.clone(), None),
        true,
        "",
    ));
    cases.push((
        "checkpoints tail cut, with a kept checkpoint".into(),
        Target::Ledger(ledger, Some(kept.clone())),
        false,
        "(checkpoints cut, rollback)",
    ));
    // A flipped byte in a record, in the ledger and in a bundle.
    let ledger = d.join("ledger-flipped");
    copy_dir(&d.join("ledger"), &ledger);
    let seg = ledger.join("segments/00000000000000000000.seg");
    let mut bytes = std::fs::read(&seg).expect("segment");
    bytes[300] ^= 1;
    std::fs::write(&seg, &bytes).expect("write");
    cases.push((
        "ledger, flipped byte in a record".into(),
        Target::Ledger(ledger, None),
        false,
        "damaged frame",
    ));
    let bundle = d.join("b-flipped");
    copy_dir(&d.join("b"), &bundle);
    let bin = bundle.join("records/1.bin");
    let mut bytes = std::fs::read(&bin).expect("record");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&bin, &bytes).expect("write");
    bundle_manifests_rewritten(&bundle);
    cases.push((
        "bundle, flipped byte in a record".into(),
        Target::Bundle(bundle, last_vkey.clone()),
        false,
        "records/1.tlog-proof: inclusion proof does not verify",
    ));

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_ledger.py");
    for (what, target, accept, reason) in &cases {
        let (z, p) = match target {
            Target::Ledger(dir, kept) => {
                let mut za = vec![
                    "audit".to_string(),
                    "--data".into(),
                    dir.display().to_string(),
                ];
                let mut pa = vec![
                    dir.display().to_string(),
                    "--vkey".into(),
                    last_vkey.clone(),
                ];
                if let Some(k) = kept {
                    za.extend(["--checkpoint".into(), k.display().to_string()]);
                    pa.extend(["--checkpoint".into(), k.display().to_string()]);
                }
                let za: Vec<&str> = za.iter().map(String::as_str).collect();
                (
                    zeugnis(d, &za),
                    crate::support::output(Command::new("python3").arg(&script).args(&pa)),
                )
            }
            Target::Bundle(dir, vkey) => {
                let dir = dir.display().to_string();
                (
                    zeugnis(d, &["verify-proof", &dir, "--vkey", vkey]),
                    crate::support::output(
                        Command::new("python3")
                            .arg(&script)
                            .args(["--bundle", &dir, "--vkey", vkey]),
                    ),
                )
            }
        };
        assert_eq!(
            z.0 == 0,
            *accept,
            "zeugnis, {what}: exit {}\n{}{}",
            z.0,
            z.1,
            z.2
        );
        assert_eq!(
            p.0 == 0,
            *accept,
            "verify_ledger.py, {what}: exit {}\n{}{}",
            p.0,
            p.1,
            p.2
        );
        if !accept {
            assert_eq!(
                p.0, 1,
                "verify_ledger.py, {what}: a rejection, not a crash: {}",
                p.2
            );
            assert!(
                p.2.contains(reason),
                "verify_ledger.py, {what}: rejected for another reason than {reason:?}: {}",
                p.2
            );
        }
    }
}

/// FORMAT.md §3.3, kind 13: a `ScanReplaced` must name the code's current
/// scan (the seq and BLAKE3 of the latest scan record). The ledger layer
/// appends whatever it is given, so a wrong one is written here directly;
/// the Python verifier and `zeugnis audit` refuse it, naming the record.
#[test]
fn python_verifier_refuses_a_scan_replacement_of_another_scan() {
    use zeugnis::ledger::record::{BlobRef, Body};
    python_ready();
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("ledger");
    let mut l = zeugnis::ledger::Ledger::init(&dir, "py.example/zeugnis/1", Default::default())
        .expect("init");
    let blob = |b: u8| BlobRef {
        blake3: [b; 32],
        sha256: [b; 32],
        size_bytes: 1,
        media_type: "application/pdf".into(),
    };
    let replaced = |seq: u64, b: u8| Body::ScanReplaced {
        code: "QNVCFM3P4VDF".into(),
        scan: blob(9),
        replaced_seq: seq,
        replaced_blake3: [b; 32],
        reason: "wrong sheet".into(),
        source_name: "x.pdf".into(),
    };
    let archived = Body::ScanArchived {
        code: "QNVCFM3P4VDF".into(),
        scan: blob(1),
        source_name: "s.pdf".into(),
    };
    // Record 1 archives scan 1; record 2 correctly replaces it.
    l.append_batch(vec![archived, replaced(1, 1)])
        .expect("append");
    let vkey = l.verifiers()[0].vkey();
    drop(l);
    let (code, out, err) = verify(&dir, &vkey);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"scans_replaced\": 1"), "{out}");
    // Record 3 claims to replace scan 1 of record 1, which is no longer current.
    let mut l = zeugnis::ledger::Ledger::open(&dir, Default::default()).expect("open");
    l.append_batch(vec![replaced(1, 1)]).expect("append");
    drop(l);
    let (code, _, err) = verify(&dir, &vkey);
    assert_eq!(
        code, 1,
        "a replacement of a scan that was not current was accepted"
    );
    assert!(
        err.contains("(seq 3)") && err.contains("ScanReplaced of QNVCFM3P4VDF names record 1"),
        "{err}"
    );
    // zeugnis audit agrees, naming the record.
    let (code, out, err) =
        crate::support::zeugnis(t.path(), &["audit", "--data", dir.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "zeugnis audit accepted it: {out}{err}");
    assert!(
        err.contains("(record seq 3)")
            && err.contains("ScanReplaced of QNVCFM3P4VDF names record 1"),
        "{err}"
    );
}
