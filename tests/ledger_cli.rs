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
    // where it reads and writes, and stops cleanly on SIGTERM.
    let log = t.path().join("run.log");
    let mut child = std::process::Command::new(crate::support::bin())
        .arg("run")
        .current_dir(t.path())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("run");
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("ledger open")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "daemon did not open the ledger: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    let text = std::fs::read_to_string(&log).expect("log");
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
