//! Proof bundles: export, offline verification with nothing but the folder,
//! every kind of tampering named exactly, single .tlog-proof files, and the
//! consistency of a checkpoint an archivist kept.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{add_signature, copy_dir, rewrite_last_checkpoint};

/// The digital image registered (a small real PDF).
static PDF: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| crate::support::pdf("the digital image"));

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    crate::support::zeugnis(dir, args)
}

/// A ledger with one certificate that was registered, scanned, revoked.
fn setup() -> (tempfile::TempDir, String, String) {
    let t = tempfile::tempdir().expect("tempdir");
    let d = t.path();
    assert_eq!(
        run(d, &["init", "--origin", "archive.example/zeugnis/1"]).0,
        0
    );
    std::fs::write(d.join("d.pdf"), &*PDF).expect("pdf");
    let record = serde_json::json!({
        "institution": "Universität Bremen", "kind": "degree_deed", "language": "de",
        "holder": {"given_name": "Max", "family_name": "Muster", "birth_date": "1998-05-05", "birth_place": "Bremen", "student_id": "77"},
        "programme": {"degree": "Master of Science", "name": "Physik"},
        "last_exam_date": "2026-03-31",
        "grades": {"ruleset": "potsdam-examiners-2025", "grades": ["1.0", "2.0"]}
    });
    std::fs::write(d.join("r.json"), record.to_string()).expect("record");
    let (c, out, err) = run(
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
    let mut r = zeugnis::registry::Registry::open(&d.join("ledger"), "http://x").expect("open");
    r.archive_scan(&code, b"%PDF-1.7 scan", "scan.pdf")
        .expect("scan");
    drop(r);
    assert_eq!(
        run(
            d,
            &[
                "revoke",
                &code,
                "--reason",
                "Täuschung",
                "--effective",
                "2027-01-01"
            ]
        )
        .0,
        0
    );
    let vkey = run(d, &["vkey"]).1.trim().to_string();
    (t, code, vkey)
}

fn manifests_fixed(dir: &Path) {
    // What an attacker who edits a file would also do: recompute the manifests.
    for (name, sha) in [
        ("manifest-sha256.txt", true),
        ("manifest-blake3.txt", false),
    ] {
        let text = std::fs::read_to_string(dir.join(name)).expect("manifest");
        let mut out = String::new();
        for line in text.lines() {
            let (_, rel) = line.split_once("  ").expect("line");
            let bytes = std::fs::read(dir.join(rel)).expect("file");
            let h = if sha {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(&bytes))
            } else {
                blake3::hash(&bytes).to_hex().to_string()
            };
            out.push_str(&format!("{h}  {rel}\n"));
        }
        std::fs::write(dir.join(name), out).expect("write");
    }
}

#[test]
fn export_then_verify_offline_and_every_tampering_is_named() {
    let (t, code, vkey) = setup();
    let d = t.path();
    let (c, out, err) = run(d, &["export-proof", &code, "-o", "proof", "--with-files"]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("2 file(s)"), "document and scan: {out}");
    let proof = d.join("proof");
    for f in [
        "records/0.bin",
        "records/0.tlog-proof",
        "checkpoint",
        "vkey",
        "FORMAT.md",
        "README.md",
    ] {
        assert!(proof.join(f).is_file(), "{f}");
    }
    let readme = std::fs::read_to_string(proof.join("README.md")).expect("readme");
    assert!(readme.contains("## Deutsch") && readme.contains("## English"));
    assert!(
        !std::fs::read_dir(proof.join("files"))
            .expect("files")
            .any(|e| e
                .expect("e")
                .path()
                .extension()
                .is_some_and(|x| x == "json")),
        "no holder data without the flag"
    );

    // Offline: move the bundle away and delete the ledger.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let bundle = elsewhere.path().join("bundle");
    copy_dir(&proof, &bundle);
    std::fs::remove_dir_all(d.join("ledger")).expect("rm ledger");
    let (c, out, err) = run(
        elsewhere.path(),
        &["verify-proof", "bundle", "--vkey", &vkey],
    );
    assert_eq!(c, 0, "{err}");
    for want in [
        "manifests:",
        "SHA-256 and BLAKE3 match",
        "trust anchor: --vkey",
        "checkpoint: origin archive.example/zeugnis/1",
        "Genesis",
        "RulesetAdded",
        "Registered",
        "ScanArchived",
        "Revoked",
        "the signing key was valid",
        "2 file(s) match their fingerprints",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // Without a trust anchor nothing is reported as verified (fail closed);
    // --trust-bundled-key accepts the bundled key and says so on the last line.
    let (c, out, err) = run(elsewhere.path(), &["verify-proof", "bundle"]);
    assert_eq!(c, 1, "{out}");
    assert!(!out.contains("verified"), "{out}");
    assert!(
        err.contains("signature not checked against a trusted key"),
        "{err}"
    );
    let (c, out, _) = run(
        elsewhere.path(),
        &["verify-proof", "bundle", "--trust-bundled-key"],
    );
    assert_eq!(c, 0);
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .contains("against the key bundled in it, NOT against an independently obtained key"),
        "{out}"
    );

    // A single .tlog-proof beside its .bin.
    let registered_seq = {
        let b: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(bundle.join("bundle.json")).expect("json"),
        )
        .expect("json");
        b["records"].as_array().expect("seqs")[2]
            .as_u64()
            .expect("seq")
    };
    let single = format!("bundle/records/{registered_seq}.tlog-proof");
    let (c, out, err) = run(
        elsewhere.path(),
        &["verify-proof", &single, "--vkey", &vkey],
    );
    assert_eq!(c, 0, "{err}");
    assert!(out.contains(&format!("at index {registered_seq}")), "{out}");

    let check = |name: &str, tamper: &dyn Fn(&Path), want: &str| {
        let case = elsewhere.path().join(name);
        copy_dir(&bundle, &case);
        tamper(&case);
        let (c, _, err) = run(elsewhere.path(), &["verify-proof", name, "--vkey", &vkey]);
        assert_eq!(c, 1, "{name}: {err}");
        assert!(err.contains(want), "{name}: want {want:?} in {err}");
    };
    let rec = format!("records/{registered_seq}.bin");
    check(
        "edited-record",
        &|p| {
            let mut b = std::fs::read(p.join(&rec)).expect("bin");
            b[70] ^= 1;
            std::fs::write(p.join(&rec), b).expect("write");
        },
        &format!("{rec}: manifest-sha256.txt says"),
    );
    check(
        "edited-record-and-manifests",
        &|p| {
            let mut b = std::fs::read(p.join(&rec)).expect("bin");
            b[70] ^= 1;
            std::fs::write(p.join(&rec), b).expect("write");
            manifests_fixed(p);
        },
        &format!("record {registered_seq} is not in the tree of the checkpoint"),
    );
    check(
        "swapped-scan",
        &|p| {
            let files: Vec<PathBuf> = std::fs::read_dir(p.join("files"))
                .expect("files")
                .map(|e| e.expect("e").path())
                .collect();
            let scan = files
                .iter()
                .find(|f| {
                    std::fs::read(f)
                        .expect("read")
                        .starts_with(b"%PDF-1.7 scan")
                })
                .expect("scan");
            std::fs::write(scan, b"%PDF-1.7 forged scan").expect("write");
            manifests_fixed(p);
        },
        "does not match any file fingerprint in the records",
    );
    check(
        "missing-file",
        &|p| std::fs::remove_file(p.join("records/0.json")).expect("rm"),
        "records/0.json is listed in manifest-sha256.txt but missing",
    );
    check(
        "extra-file",
        &|p| std::fs::write(p.join("note.txt"), "hi").expect("write"),
        "note.txt is not listed",
    );
    check(
        "edited-checkpoint",
        &|p| {
            let cp = std::fs::read_to_string(p.join("checkpoint")).expect("cp");
            let mut lines: Vec<String> = cp.lines().map(str::to_string).collect();
            // flip one byte of the signature: every inclusion still holds
            let last = lines.len() - 1;
            let sig = lines[last].clone();
            let at = sig.len() - 6;
            let flipped = if &sig[at..at + 1] == "A" { "B" } else { "A" };
            lines[last] = format!("{}{flipped}{}", &sig[..at], &sig[at + 1..]);
            let edited = lines.join("\n") + "\n";
            // the attacker also rewrites the copies of the note in every proof
            for e in std::fs::read_dir(p.join("records")).expect("records") {
                let f = e.expect("e").path();
                if f.extension().is_some_and(|x| x == "tlog-proof") {
                    let text = std::fs::read_to_string(&f).expect("proof");
                    std::fs::write(&f, text.replace(&cp, &edited)).expect("proof");
                }
            }
            std::fs::write(p.join("checkpoint"), edited).expect("write");
            manifests_fixed(p);
        },
        "does not verify",
    );

    // Another log's key is refused.
    let other = zeugnis::ledger::checkpoint::NoteSigner::new(
        "archive.example/zeugnis/1",
        ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
    );
    let (c, _, err) = run(
        elsewhere.path(),
        &["verify-proof", "bundle", "--vkey", &other.verifier.vkey()],
    );
    assert_eq!(c, 1);
    assert!(err.contains("is not a key of this log's history"), "{err}");
}

#[test]
fn personal_data_only_on_request_and_export_refuses_existing_folders() {
    let (t, code, vkey) = setup();
    let d = t.path();
    let (c, _, err) = run(
        d,
        &[
            "export-proof",
            &code,
            "-o",
            "p",
            "--with-files",
            "--with-personal-data",
        ],
    );
    assert_eq!(c, 0, "{err}");
    let holder = std::fs::read_dir(d.join("p/files"))
        .expect("files")
        .map(|e| e.expect("e").path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("holder blob exported");
    assert!(std::fs::read_to_string(holder)
        .expect("read")
        .contains("Muster"));
    assert_eq!(run(d, &["verify-proof", "p", "--vkey", &vkey]).0, 0);
    let (c, _, err) = run(d, &["export-proof", &code, "-o", "p"]);
    assert_eq!(c, 2);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn a_kept_checkpoint_is_proved_a_prefix_or_the_evidence_is_shown() {
    let (t, code, _) = setup();
    let d = t.path();
    std::fs::copy(d.join("ledger/checkpoint"), d.join("kept.cp")).expect("keep");
    assert_eq!(
        run(d, &["void", &code, "--reason", "x"]).0,
        2,
        "revoked cannot be voided"
    );
    assert_eq!(
        run(
            d,
            &["register", "--record", "r.json", "--document", "d.pdf"]
        )
        .0,
        0
    );
    let (c, out, err) = run(d, &["consistency", "kept.cp"]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("is a prefix of size"), "{out}");

    // A checkpoint signed with the log's own key but for a different tree:
    // the command shows both roots as evidence.
    let keys: Vec<PathBuf> = std::fs::read_dir(d.join("ledger/keys"))
        .expect("keys")
        .map(|e| e.expect("e").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .collect();
    let key = zeugnis::ledger::checkpoint::read_key_file(&keys[0]).expect("key");
    let signer = zeugnis::ledger::checkpoint::NoteSigner::new("archive.example/zeugnis/1", key);
    let forged = zeugnis::ledger::checkpoint::Checkpoint {
        origin: "archive.example/zeugnis/1".into(),
        size: 3,
        root: [7; 32],
    };
    let note = zeugnis::ledger::checkpoint::sign_note(&forged.text(), &[&signer]).expect("sign");
    std::fs::write(d.join("forged.cp"), note).expect("write");
    let (c, _, err) = run(d, &["consistency", "forged.cp"]);
    assert_eq!(c, 1);
    assert!(
        err.contains("EVIDENCE: a checkpoint signed for size 3 says root 0707")
            && err.contains("this ledger's root at that size is"),
        "{err}"
    );
}

/// Key rotation: both keys sign during the overlap; after the old key is
/// retired, bundles exported before keep verifying with the old key, new
/// ones verify with the new key, and the last key cannot be retired.
#[test]
fn key_rotation_keeps_old_proofs_verifying() {
    let (t, code, old_vkey) = setup();
    let d = t.path();
    assert_eq!(run(d, &["export-proof", &code, "-o", "before"]).0, 0);
    let (c, out, err) = run(d, &["rotate-key"]);
    assert_eq!(c, 0, "{err}");
    let new_vkey = out
        .lines()
        .find_map(|l| l.strip_prefix("new vkey: "))
        .expect("new vkey printed")
        .to_string();
    let note = run(d, &["checkpoint"]).1;
    assert_eq!(
        note.matches('\u{2014}').count(),
        2,
        "both keys sign during the overlap: {note}"
    );
    for vk in [&old_vkey, &new_vkey] {
        let v = signed_note::StandardVerifier::new(vk).expect("vkey");
        let list = signed_note::VerifierList::new(vec![Box::new(v)]);
        signed_note::Note::from_bytes(note.as_bytes())
            .expect("note")
            .verify(&list)
            .expect("verifies");
    }
    assert_eq!(run(d, &["export-proof", &code, "-o", "overlap"]).0, 0);
    let old_id = old_vkey.split('+').nth(1).expect("id").to_string();
    let (c, _, err) = run(
        d,
        &[
            "rotate-key",
            "--retire",
            &old_id,
            "--reason",
            "annual rotation",
        ],
    );
    assert_eq!(c, 0, "{err}");
    let note = run(d, &["checkpoint"]).1;
    assert_eq!(
        note.matches('\u{2014}').count(),
        1,
        "only the new key signs: {note}"
    );
    assert_eq!(run(d, &["vkey"]).1.trim(), new_vkey);
    assert_eq!(run(d, &["export-proof", &code, "-o", "after"]).0, 0);

    assert_eq!(
        run(d, &["verify-proof", "before", "--vkey", &old_vkey]).0,
        0,
        "old proofs keep verifying"
    );
    assert_eq!(
        run(d, &["verify-proof", "overlap", "--vkey", &old_vkey]).0,
        0
    );
    assert_eq!(
        run(d, &["verify-proof", "overlap", "--vkey", &new_vkey]).0,
        0
    );
    // The key history as a C2SP tlog-policy: every key ever used as a `log`
    // line (each a valid verifier key), its validity in the comment above,
    // exactly one quorum line, nothing else.
    let policy = std::fs::read_to_string(d.join("after/tlog-policy")).expect("tlog-policy");
    let mut logs = Vec::new();
    let mut quorums = 0;
    for line in policy
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
        match fields.as_slice() {
            ["log", vkey] => {
                signed_note::StandardVerifier::new(vkey).expect("log line carries a valid vkey");
                logs.push(vkey.to_string());
            }
            ["quorum", "none"] => quorums += 1,
            other => panic!("unexpected tlog-policy line {other:?}"),
        }
    }
    assert_eq!(logs, vec![old_vkey.clone(), new_vkey.clone()], "{policy}");
    assert_eq!(quorums, 1, "{policy}");
    assert!(
        policy.contains(&format!(
            "# key {old_id}: added by record 0, retired by record"
        )),
        "{policy}"
    );
    let (c, out, err) = run(d, &["verify-proof", "after", "--vkey", &new_vkey]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("2 key(s); the signing key was valid"), "{out}");
    // The retired key did not sign the new checkpoint, but trust carries
    // forward from it through the key path (FORMAT.md §10.2).
    let (c, out, err) = run(d, &["verify-proof", "after", "--vkey", &old_vkey]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("key path: checkpoint"), "{out}");

    let new_id = new_vkey.split('+').nth(1).expect("id").to_string();
    let (c, _, err) = run(d, &["rotate-key", "--retire", &new_id]);
    assert_eq!(c, 2);
    assert!(
        err.contains("cannot retire the only active signing key"),
        "{err}"
    );
    let (c, out, err) = run(d, &["audit"]);
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("KeyAdded       1") && out.contains("KeyRetired     1"),
        "{out}"
    );
}

/// The whole archive as a BagIt bag: valid for an independent BagIt
/// validator (the Library of Congress's bagit-python), its `data/` verifies
/// with the independent ledger verifier, no private key is in it, and an
/// interrupted export resumes.
#[test]
fn whole_archive_is_a_valid_resumable_bag() {
    let (t, _code, vkey) = setup();
    let d = t.path();
    crate::support::python_modules(&["bagit", "blake3", "cryptography"]);
    let (c, out, err) = run(d, &["export-archive", "-o", "bag"]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("(0 reused"), "{out}");
    let validate = |dir: &str| {
        let out = Command::new("python3")
            .args([
                "-c",
                &format!("import bagit; bagit.Bag({dir:?}).validate(); print('valid')"),
            ])
            .current_dir(d)
            .output()
            .expect("python3");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = validate("bag");
    assert!(ok, "bagit-python rejects the bag: {err}");
    let info = std::fs::read_to_string(d.join("bag/bag-info.txt")).expect("bag-info");
    assert!(
        info.contains("Source-Organization: archive.example/zeugnis/1")
            && info.contains("Payload-Oxum: "),
        "{info}"
    );
    let mut all = Vec::new();
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).expect("dir") {
            let p = e.expect("e").path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    walk(&d.join("bag"), &mut all);
    assert!(
        !all.iter().any(|p| p.to_string_lossy().contains(".pem")),
        "no private key in the bag"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_ledger.py");
    let v = Command::new("python3")
        .arg(script)
        .arg(d.join("bag/data"))
        .args(["--vkey", &vkey])
        .output()
        .expect("python3");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));

    // Interrupted: manifests not yet written, one blob not yet copied.
    std::fs::remove_file(d.join("bag/tagmanifest-sha256.txt")).expect("rm");
    std::fs::remove_file(d.join("bag/manifest-sha256.txt")).expect("rm");
    let blob = all
        .iter()
        .find(|p| p.to_string_lossy().contains("/data/blobs/"))
        .expect("a blob");
    std::fs::remove_file(blob).expect("rm blob");
    let (c, out, err) = run(d, &["export-archive", "-o", "bag"]);
    assert_eq!(c, 0, "{err}");
    assert!(!out.contains("(0 reused"), "resumed: {out}");
    assert!(validate("bag").0);
    let (c, _, err) = run(d, &["export-archive", "-o", "bag"]);
    assert_eq!(c, 2);
    assert!(err.contains("already holds a complete bag"), "{err}");
}

/// Issue 19, trust through rotations: an archivist who kept the first key
/// verifies a bundle whose checkpoint is signed only by the fourth key,
/// after three rotations; the output names the path of key records. A key
/// of another log is refused.
#[test]
fn trust_carries_forward_through_three_rotations() {
    let (t, code, first_vkey) = setup();
    let d = t.path();
    let mut vkeys = vec![first_vkey.clone()];
    for _ in 0..3 {
        let (c, out, err) = run(d, &["rotate-key"]);
        assert_eq!(c, 0, "{err}");
        let new = out
            .lines()
            .find_map(|l| l.strip_prefix("new vkey: "))
            .expect("new vkey")
            .to_string();
        let old_id = vkeys.last().unwrap().split('+').nth(1).unwrap().to_string();
        let (c, _, err) = run(d, &["rotate-key", "--retire", &old_id]);
        assert_eq!(c, 0, "{err}");
        vkeys.push(new);
    }
    let note = run(d, &["checkpoint"]).1;
    assert_eq!(note.matches('\u{2014}').count(), 1, "{note}");
    assert_eq!(run(d, &["export-proof", &code, "-o", "b"]).0, 0);
    for vk in &vkeys {
        let (c, out, err) = run(d, &["verify-proof", "b", "--vkey", vk]);
        assert_eq!(c, 0, "{vk}: {err}");
        let hops = out.matches("key path: checkpoint").count();
        let pos = vkeys.iter().position(|v| v == vk).unwrap();
        assert_eq!(hops, 3 - pos, "{vk}: {out}");
    }
    let other = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        run(
            other.path(),
            &["init", "--origin", "archive.example/zeugnis/1"]
        )
        .0,
        0
    );
    let foreign = run(other.path(), &["vkey"]).1.trim().to_string();
    let (c, _, err) = run(d, &["verify-proof", "b", "--vkey", &foreign]);
    assert_eq!(c, 1);
    assert!(err.contains("is not a key of this log's history"), "{err}");
}

/// Issue 19, signature policy (FORMAT.md §8.5, C2SP): an extra line by an
/// unknown key is ignored; a line by a key of the log's history that is not
/// active at that size (valid or not), or an invalid line by an active key,
/// is rejected, by `verify-proof` and `audit` alike.
#[test]
fn signature_policy_unknown_ignored_retired_or_invalid_rejected() {
    let (t, code, old_vkey) = setup();
    let d = t.path();
    let origin = "archive.example/zeugnis/1";
    let old_key_file = std::fs::read_dir(d.join("ledger/keys"))
        .expect("keys")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .expect("key file");
    let old_key = zeugnis::ledger::checkpoint::read_key_file(&old_key_file).expect("key");
    let (c, out, err) = run(d, &["rotate-key"]);
    assert_eq!(c, 0, "{err}");
    let new_vkey = out
        .lines()
        .find_map(|l| l.strip_prefix("new vkey: "))
        .expect("vkey")
        .to_string();
    let old_id = old_vkey.split('+').nth(1).unwrap().to_string();
    assert_eq!(run(d, &["rotate-key", "--retire", &old_id]).0, 0);
    assert_eq!(run(d, &["export-proof", &code, "-o", "b"]).0, 0);
    let note = std::fs::read_to_string(d.join("b/checkpoint")).expect("checkpoint");
    let unknown = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let cases: Vec<(&str, String, bool)> = vec![
        (
            "unknown key, valid signature",
            add_signature(&note, &unknown, origin, true),
            true,
        ),
        (
            "retired key, valid signature",
            add_signature(&note, &old_key, origin, true),
            false,
        ),
        (
            "retired key, invalid signature",
            add_signature(&note, &old_key, origin, false),
            false,
        ),
    ];
    for (what, forged, accept) in cases {
        let case_dir = d.join(format!("case-{}", what.replace([' ', ','], "-")));
        copy_dir(&d.join("b"), &case_dir);
        std::fs::write(case_dir.join("checkpoint"), &forged).expect("write");
        // keep the record proofs pointing at the same note, and the manifests right
        for e in std::fs::read_dir(case_dir.join("records")).expect("records") {
            let p = e.expect("e").path();
            if p.extension().is_some_and(|x| x == "tlog-proof") {
                let text = std::fs::read_to_string(&p).expect("proof");
                std::fs::write(&p, text.replace(&note, &forged)).expect("proof");
            }
        }
        manifests_fixed(&case_dir);
        let (c, out, err) = run(
            d,
            &[
                "verify-proof",
                case_dir.to_str().unwrap(),
                "--vkey",
                &new_vkey,
            ],
        );
        assert_eq!(c == 0, accept, "verify-proof, {what}: {out}{err}");
        if !accept {
            assert!(
                err.contains("does not verify") || err.contains("not active at tree size"),
                "{what}: {err}"
            );
        }
        // The same note as the latest checkpoint of the ledger, for audit.
        let ledger_copy = d.join(format!("ledger-{}", what.replace([' ', ','], "-")));
        copy_dir(&d.join("ledger"), &ledger_copy);
        let mut note_frames =
            zeugnis::ledger::recovery::read_checkpoints(&ledger_copy.join("checkpoints"), true)
                .expect("checkpoints");
        let (offset, last) = note_frames.notes.pop().expect("a checkpoint");
        assert_eq!(last, note);
        rewrite_last_checkpoint(&ledger_copy.join("checkpoints"), offset, &forged);
        let _ = std::fs::remove_file(ledger_copy.join("checkpoint"));
        let (c, out, err) = run(d, &["audit", "--data", ledger_copy.to_str().unwrap()]);
        assert_eq!(c == 0, accept, "audit, {what}: {out}{err}");
    }
}

/// Issue 19, rollback: cutting the newest checkpoints off `checkpoints` at a
/// frame boundary (and deleting the derived copy) looks like a crash to an
/// audit without outside knowledge; with a checkpoint kept elsewhere
/// (`audit --checkpoint FILE`) it is reported as a rollback. A kept
/// checkpoint from another log, or with another root, is refused too.
#[test]
fn audit_with_a_kept_checkpoint_detects_a_rollback() {
    let (t, _code, _vkey) = setup();
    let d = t.path();
    let kept = run(d, &["checkpoint"]).1;
    std::fs::write(d.join("kept.cp"), &kept).expect("kept");
    let (c, out, err) = run(d, &["audit", "--checkpoint", "kept.cp"]);
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("1 independently kept checkpoint(s) consistent"),
        "{out}"
    );
    // Roll back: drop the last checkpoint frame, delete the derived copy.
    let cps = d.join("ledger/checkpoints");
    let scan = zeugnis::ledger::recovery::read_checkpoints(&cps, true).expect("scan");
    let (offset, _) = scan.notes.last().expect("last").clone();
    let bytes = std::fs::read(&cps).expect("read");
    std::fs::write(&cps, &bytes[..offset as usize]).expect("cut");
    let _ = std::fs::remove_file(d.join("ledger/checkpoint"));
    let (c, _, err) = run(d, &["audit"]);
    assert_eq!(
        c, 0,
        "without outside knowledge a cut tail looks like a crash: {err}"
    );
    let (c, _, err) = run(d, &["audit", "--checkpoint", "kept.cp"]);
    assert_eq!(c, 1);
    assert!(err.contains("checkpoints were cut (rollback)"), "{err}");
    // A checkpoint with another root at a size the ledger has.
    let forged = kept.replacen(
        kept.lines().nth(2).unwrap(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        1,
    );
    std::fs::write(d.join("forged.cp"), forged).expect("forged");
    let (c, _, err) = run(d, &["audit", "--checkpoint", "forged.cp"]);
    assert_eq!(c, 1, "{err}");
}

/// Issue 20: `export-archive --without-personal-data` leaves every holder
/// record blob out of the bag and lists it in `data/PERSONAL-DATA-LEFT-OUT`;
/// the bag is still valid BagIt, its ledger still verifies with the
/// independent verifier, and `zeugnis audit` of its `data/` passes, naming
/// the blob as left out on purpose. Without the list the same absence is a
/// missing blob (exit 1), so the audit can fail.
#[test]
fn archive_without_personal_data_has_no_holder_blob_and_still_verifies() {
    let (t, code, vkey) = setup();
    let d = t.path();
    crate::support::python_modules(&["bagit", "blake3", "cryptography"]);
    let (c, out, err) = run(d, &["show", &code, "--json"]);
    assert_eq!(c, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let holder = v["holder_blob"].as_str().expect("holder_blob").to_string();
    assert_eq!(holder.len(), 64, "{v}");
    let holder_file = format!("bag/data/blobs/{}/{holder}", &holder[..2]);

    // The default export says that it carries personal data, and does.
    let (c, out, err) = run(d, &["export-archive", "-o", "full"]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("the bag contains personal data"), "{out}");
    assert!(d.join(holder_file.replacen("bag/", "full/", 1)).is_file());
    let info = std::fs::read_to_string(d.join("full/bag-info.txt")).expect("bag-info");
    assert!(info.contains("Personal-Data: included"), "{info}");

    let (c, out, err) = run(
        d,
        &["export-archive", "-o", "bag", "--without-personal-data"],
    );
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("personal data left out: 1 holder record blob(s)"),
        "{out}"
    );
    assert!(
        !d.join(&holder_file).exists(),
        "the holder blob is not in the bag"
    );
    let list = std::fs::read_to_string(d.join("bag/data/PERSONAL-DATA-LEFT-OUT")).expect("list");
    assert_eq!(
        list.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        [holder.as_str()]
    );
    let info = std::fs::read_to_string(d.join("bag/bag-info.txt")).expect("bag-info");
    assert!(info.contains("Personal-Data: left out"), "{info}");
    let bag = Command::new("python3")
        .args(["-c", "import bagit; bagit.Bag('bag').validate()"])
        .current_dir(d)
        .output()
        .expect("python3");
    assert!(
        bag.status.success(),
        "{}",
        String::from_utf8_lossy(&bag.stderr)
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_ledger.py");
    let py = Command::new("python3")
        .arg(script)
        .arg(d.join("bag/data"))
        .args(["--vkey", &vkey])
        .output()
        .expect("python3");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let (c, out, err) = run(d, &["--data", "bag/data", "audit"]);
    assert_eq!(c, 0, "audit of the bag: {out}{err}");
    assert!(
        out.contains(&format!("holder blob {holder} of record"))
            && out.contains("left out of this export on purpose"),
        "{out}"
    );
    // The same absence without the list is damage.
    std::fs::remove_file(d.join("bag/data/PERSONAL-DATA-LEFT-OUT")).expect("rm");
    let (c, out, err) = run(d, &["--data", "bag/data", "audit"]);
    assert_eq!(c, 1, "{out}{err}");
    assert!(
        out.contains(&format!("blob {holder} referenced by record")),
        "{out}"
    );
}
