//! The ledger commands of the CLI contract: init, checkpoint, vkey, audit,
//! reindex, run; exit codes 0 / 1 / 2 with a one-line error naming the cause.

fn zeugnis(args: &[&str], cwd: &std::path::Path) -> (i32, String, String) {
    crate::support::zeugnis(cwd, args)
}

#[test]
fn init_checkpoint_vkey_audit_reindex() {
    let t = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = zeugnis(
        &["init", "--origin", "verify.uni-example.de/zeugnis/1"],
        t.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("initialised ledger in ledger"), "{out}");
    let format =
        std::fs::read_to_string(t.path().join("ledger/FORMAT.md")).expect("FORMAT.md copied");
    assert_eq!(format, zeugnis::ledger::FORMAT_MD);

    let (code, note, _) = zeugnis(&["checkpoint"], t.path());
    assert_eq!(code, 0);
    assert!(
        note.starts_with("verify.uni-example.de/zeugnis/1\n1\n"),
        "{note}"
    );
    let (code, vkey, _) = zeugnis(&["vkey"], t.path());
    assert_eq!(code, 0);
    assert!(
        vkey.starts_with("verify.uni-example.de/zeugnis/1+"),
        "{vkey}"
    );
    // The printed vkey verifies the printed checkpoint with an independent verifier.
    let v = signed_note::StandardVerifier::new(vkey.trim()).expect("vkey");
    let list = signed_note::VerifierList::new(vec![Box::new(v)]);
    signed_note::Note::from_bytes(note.as_bytes())
        .expect("note")
        .verify(&list)
        .expect("verifies");

    let (code, out, _) = zeugnis(&["audit"], t.path());
    assert_eq!(code, 0);
    assert!(
        out.contains("records:     1") && out.contains("checkpoints: 1"),
        "{out}"
    );
    let (code, out, _) = zeugnis(&["reindex"], t.path());
    assert_eq!(code, 0);
    assert!(out.contains("1 records, tiles and index rebuilt"), "{out}");
    // `run` (the daemon) opens the ledger (here recovering nothing), says
    // where it reads and writes, and stops cleanly on SIGTERM. Ports chosen
    // by the system: the test never depends on a free fixed port.
    let mut daemon = crate::support::Daemon::start(
        t.path(),
        "[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n",
    );
    daemon.wait_for_log("ledger open");
    daemon.terminate();
    let code = daemon.wait_exit();
    let text = daemon.log();
    assert_eq!(code, Some(0), "daemon exit after SIGTERM:\n{text}");
    assert!(text.contains("data=ledger scans=scans"), "{text}");
    assert!(text.contains("records=1"), "{text}");
    assert!(
        t.path().join("scans/quarantine").is_dir(),
        "inbox folders created"
    );

    // Second init: bad input, exit 2, one line naming the directory.
    let (code, _, err) = zeugnis(&["init"], t.path());
    assert_eq!(code, 2);
    assert!(err.contains("ledger already holds a ledger"), "{err}");
}

#[test]
fn errors_name_the_cause_with_the_contract_exit_codes() {
    let t = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = zeugnis(&["audit", "--data", "nowhere"], t.path());
    assert_eq!(code, 2);
    assert!(err.contains("nowhere holds no ledger"), "{err}");
    let (code, _, err) = zeugnis(&["init", "--origin", "has space"], t.path());
    assert_eq!(code, 2);
    assert!(err.contains("origin \"has space\""), "{err}");

    // Damage: exit 1, naming file, offset and seq.
    let (code, _, _) = zeugnis(&["init", "--data", "d"], t.path());
    assert_eq!(code, 0);
    let seg = t.path().join("d/segments/00000000000000000000.seg");
    let mut b = std::fs::read(&seg).expect("segment");
    b[56 + 20] ^= 1;
    std::fs::write(&seg, &b).expect("write");
    let (code, _, err) = zeugnis(&["audit", "--data", "d"], t.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("00000000000000000000.seg at byte 56 (record seq 0)")
            && err.contains("checksum"),
        "{err}"
    );
    let (code, _, err) = zeugnis(&["run", "--data", "d"], t.path());
    assert_eq!(code, 1);
    assert!(err.contains("at byte 56 (record seq 0)"), "{err}");
}
