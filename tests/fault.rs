//! The I/O fault model (issue 14; ARCHITECTURE.md "Fault model") checked
//! against a simulated disk.
//!
//! The ledger's append files (segments, `checkpoints`) run on
//! `durable::SyncFault`, which counts every file-system call they make
//! (create, append, fdatasync, truncate), fails a chosen one with EIO or
//! ENOSPC (or every call from it on: a crash), and on a power cut drops or
//! tears what no successful fsync covered and zeroes what a failed fsync
//! covered even if a later one "succeeded" (Linux's fsyncgate behaviour).
//!
//! [`every_fault_point_of_every_operation`] enumerates, for register,
//! revoke, archive_scans, rotate-key (add and retire) and recovery itself,
//! every call of the operation as the failing one, in three modes (EIO,
//! ENOSPC, crash), each followed by a reopen in the same boot (which may
//! sign and serve a checkpoint) and then a power cut, and checks after each:
//! the reopened ledger opens and passes `audit`; every checkpoint served
//! before the cut is still backed by the records; an operation reported done
//! is there; one reported failed is not; one reported unconfirmed may be
//! either; and a retry converges (the same certificate and key, the same
//! revocation, the same scan record; no duplicate, no refusal).

use crate::support::ledger_dir;
use std::path::Path;
use zeugnis::codes::Code;
use zeugnis::ledger::durable::{PowerLoss, SyncFault};
use zeugnis::ledger::{audit, Ledger, LedgerError, LedgerOptions};
use zeugnis::registry::{
    DocumentFile, Issued, RegistrationRecord, Registry, RegistryError, ScanItem, State,
};

/// The digital image registered (a small real PDF).
static PDF: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| crate::support::pdf("digital image"));
const SCAN: &[u8] = b"%PDF-1.7\nscan of the signed original\n%%EOF\n";
const REASON: &str = "issued in error";
const DATE: &str = "2026-11-30";

fn record() -> RegistrationRecord {
    let json = serde_json::json!({
        "institution": "Universität Erfurt",
        "kind": "transcript",
        "language": "de",
        "holder": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "2000-02-29",
                   "birth_place": "Gotha", "student_id": "4711"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
        "last_exam_date": "2026-09-30"
    });
    RegistrationRecord::parse("r.json", json.to_string().as_bytes()).expect("record")
}

fn documents() -> Vec<DocumentFile> {
    vec![DocumentFile {
        name: "doc.pdf".into(),
        bytes: PDF.to_vec(),
    }]
}

/// Register options for the test's chosen code: imported (a code printed
/// by an earlier system), so no reservation record is needed first.
fn imported(code: &Code) -> zeugnis::registry::RegisterOptions<'_> {
    zeugnis::registry::RegisterOptions {
        code: Some(code.as_str()),
        import: true,
        allow_duplicate: false,
    }
}

fn opts(fault: &SyncFault) -> LedgerOptions {
    LedgerOptions {
        sync_fault: Some(fault.clone()),
        ..LedgerOptions::default()
    }
}

fn open_registry(dir: &Path, fault: &SyncFault) -> Result<Registry, RegistryError> {
    Registry::over(Ledger::open(dir, opts(fault))?, "http://127.0.0.1:8080")
}

/// How an operation ended, as its caller was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    Done,
    Failed,
    Unconfirmed,
}

fn told<T>(r: &Result<T, RegistryError>) -> Told {
    match r {
        Ok(_) => Told::Done,
        Err(RegistryError::Unconfirmed { .. })
        | Err(RegistryError::Ledger(LedgerError::Unconfirmed { .. })) => Told::Unconfirmed,
        Err(_) => Told::Failed,
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Register,
    Revoke,
    ArchiveScan,
    AddKey,
    RetireKey,
    Recovery,
}

/// A fresh ledger with what `op` needs: for `Revoke` and `ArchiveScan` a
/// registered certificate, for `RetireKey` a second key, for `Recovery` a
/// registration whose checkpoint was never written (a crash left it).
fn setup(op: Op, dir: &Path, code: &Code, fault: &SyncFault) -> Option<Issued> {
    Ledger::init(dir, "test.example/zeugnis/1", opts(fault)).expect("init");
    let mut r = open_registry(dir, fault).expect("open");
    let issued = match op {
        Op::Register => None,
        Op::Recovery => {
            // Calls of a registration: segment append, fdatasync,
            // checkpoint append (fails from here on: the process dies).
            fault.reset_calls();
            fault.fail_call(3, false, true);
            let i = r.register_with(&record(), &documents(), &imported(code));
            assert!(
                matches!(i, Err(RegistryError::Unconfirmed { .. })),
                "setup: {i:?}"
            );
            fault.reset_calls();
            None
        }
        _ => Some(
            r.register_with(&record(), &documents(), &imported(code))
                .expect("setup register"),
        ),
    };
    drop(r);
    if let Op::RetireKey = op {
        let mut l = Ledger::open(dir, opts(fault)).expect("open");
        l.add_key().expect("setup add key");
    }
    issued
}

/// The key ID of the first (Genesis) key.
fn first_key(dir: &Path) -> String {
    let l = Ledger::open(dir, LedgerOptions::default()).expect("open");
    format!("{:08x}", l.keys()[0].verifier.key_id)
}

/// Runs `op` once; what the caller was told and, for a registration, the key.
fn run(op: Op, dir: &Path, code: &Code, fault: &SyncFault) -> (Told, Option<String>) {
    match op {
        Op::Register => match open_registry(dir, fault) {
            Ok(mut r) => {
                let out = r.register_with(&record(), &documents(), &imported(code));
                let key = match &out {
                    Ok(i) => Some(i.key.clone()),
                    Err(RegistryError::Unconfirmed { issued, .. }) => {
                        issued.as_ref().map(|i| i.key.clone())
                    }
                    Err(_) => None,
                };
                (told(&out), key)
            }
            Err(e) => (told::<()>(&Err(e)), None),
        },
        Op::Revoke => {
            let out =
                open_registry(dir, fault).and_then(|mut r| r.revoke(code.as_str(), REASON, DATE));
            (told(&out), None)
        }
        Op::ArchiveScan => {
            let out = open_registry(dir, fault).and_then(|mut r| {
                r.archive_scans(&[ScanItem {
                    code: *code,
                    bytes: SCAN,
                    media_type: "application/pdf",
                    source_name: "scan.pdf",
                }])
            });
            (told(&out), None)
        }
        Op::AddKey => {
            let out = Ledger::open(dir, opts(fault))
                .and_then(|mut l| l.add_key())
                .map_err(RegistryError::from);
            (told(&out), None)
        }
        Op::RetireKey => {
            let first = first_key(dir);
            let out = Ledger::open(dir, opts(fault))
                .and_then(|mut l| l.retire_key(&first, "rotation"))
                .map_err(RegistryError::from);
            (told(&out), None)
        }
        Op::Recovery => {
            let out = Ledger::open(dir, opts(fault)).map_err(RegistryError::from);
            (told(&out), None)
        }
    }
}

/// Whether the effect of `op` is in the (reopened) ledger.
fn effect_present(op: Op, r: &Registry, code: &Code) -> bool {
    let cert = r.find(code.as_str());
    match op {
        Op::Register | Op::Recovery => cert.is_ok(),
        Op::Revoke => cert.expect("registered").state == State::Revoked,
        Op::ArchiveScan => cert.expect("registered").state == State::Archived,
        Op::AddKey => r.ledger().keys().len() == 2,
        Op::RetireKey => r.ledger().keys()[0].retired_seq.is_some(),
    }
}

/// One fault case: returns false when the operation made fewer calls than
/// `n` (the enumeration of this mode is complete).
fn case(op: Op, n: u64, enospc: bool, sticky: bool, loss: PowerLoss) -> bool {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = ledger_dir(&t);
    let code = Code::generate();
    let fault = SyncFault::default();
    let setup_issued = setup(op, &dir, &code, &fault);
    fault.reset_calls();
    fault.fail_call(n, enospc, sticky);
    let (told, key) = run(op, &dir, &code, &fault);
    let fired = fault.fired();
    let what = format!("{op:?}, failing call {n} (enospc {enospc}, crash {sticky}, {loss:?})");
    if !fired {
        assert_eq!(told, Told::Done, "{what}: no fault fired, yet not done");
        return false;
    }
    // The process ends; the next one opens the ledger in the same boot
    // (recovery may sign what it finds) and may serve that checkpoint;
    // then the power goes.
    fault.reset_calls();
    let served = {
        let l = Ledger::open(&dir, opts(&fault))
            .unwrap_or_else(|e| panic!("{what}: reopen before the power cut: {e}"));
        l.checkpoint().clone()
    };
    fault.power_loss(loss).expect("power loss");
    let clean = SyncFault::default();
    let r = open_registry(&dir, &clean).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    audit::audit(&dir).unwrap_or_else(|e| panic!("{what}: audit after the fault: {e}"));
    // Every checkpoint that was served stays a true statement of the log.
    assert!(
        r.ledger().size() >= served.size,
        "{what}: a served checkpoint of size {} outlived its records ({} left)",
        served.size,
        r.ledger().size()
    );
    assert_eq!(
        r.ledger().root(served.size).expect("root"),
        served.root,
        "{what}: the log forked from a served checkpoint"
    );
    let present = effect_present(op, &r, &code);
    // For recovery, `told` is the open's outcome; the registration it
    // recovers was reported unconfirmed, so either outcome is allowed.
    let told = match op {
        Op::Recovery => Told::Unconfirmed,
        _ => told,
    };
    match told {
        Told::Done => assert!(present, "{what}: reported done, but lost"),
        Told::Failed => assert!(!present, "{what}: reported failed, but committed"),
        Told::Unconfirmed => {}
    }
    if let (Op::Register, true, Some(k)) = (op, present, &key) {
        r.show(code.as_str(), Some(k))
            .unwrap_or_else(|e| panic!("{what}: the key given out does not open it: {e}"));
    }
    drop(r);
    // The retry converges.
    let (again, retry_key) = match op {
        Op::Recovery => (Told::Done, None),
        _ => run(op, &dir, &code, &clean),
    };
    assert_eq!(again, Told::Done, "{what}: the retry did not succeed");
    let r = open_registry(&dir, &clean).expect("reopen after retry");
    assert!(
        effect_present(op, &r, &code),
        "{what}: retry left no effect"
    );
    if let Op::Register = op {
        if let (Some(first), Some(second)) = (&key, &retry_key) {
            assert_eq!(first, second, "{what}: the retry gave another key");
        }
        assert_eq!(
            r.all().expect("all").len(),
            1,
            "{what}: a duplicate registration"
        );
    }
    if let (Op::Revoke, Some(i)) = (op, &setup_issued) {
        let c = r.show(&i.code, Some(&i.key)).expect("show");
        let revocations = c
            .seqs
            .iter()
            .filter(|s| {
                matches!(
                    r.ledger().record(**s).map(|x| x.body),
                    Ok(zeugnis::ledger::record::Body::Revoked { .. }
                        | zeugnis::ledger::record::Body::RevokedWithCategory { .. })
                )
            })
            .count();
        assert_eq!(revocations, 1, "{what}: revoked twice");
    }
    drop(r);
    audit::audit(&dir).unwrap_or_else(|e| panic!("{what}: audit after the retry: {e}"));
    true
}

/// Enumerates every fault point of every operation (see the module doc).
#[test]
fn every_fault_point_of_every_operation() {
    let mut cases = 0;
    for op in [
        Op::Register,
        Op::Revoke,
        Op::ArchiveScan,
        Op::AddKey,
        Op::RetireKey,
        Op::Recovery,
    ] {
        for (enospc, sticky, loss) in [
            (false, false, PowerLoss::DropUnsynced),
            (true, false, PowerLoss::KeepUnsynced),
            (false, true, PowerLoss::DropUnsynced),
            (false, true, PowerLoss::TearUnsynced),
            (false, true, PowerLoss::KeepUnsynced),
        ] {
            let mut n = 1;
            while case(op, n, enospc, sticky, loss) {
                n += 1;
                cases += 1;
                assert!(n < 50, "{op:?} never stops making calls");
            }
            assert!(
                n > 1,
                "{op:?} made no file-system call through the simulated disk"
            );
        }
    }
    eprintln!("fault: {cases} fault cases checked");
}

/// Regression (issue 14, F1): a batch whose segment fdatasync failed must
/// never be signed by the next open. Before the fix the frames stayed in the
/// page cache, the next process's fdatasync "succeeded" (Linux reports a
/// writeback error once) and it signed them; after a power cut the ledger
/// refused to open ("the checkpoint covers 3 records but the segments hold
/// only 2").
#[test]
fn records_whose_fsync_failed_are_never_signed_f1() {
    let fault = SyncFault::default();
    let t = tempfile::tempdir().expect("tempdir");
    let dir = ledger_dir(&t);
    let mut l = Ledger::init(&dir, "test.example/zeugnis/1", opts(&fault)).expect("init");
    l.append_batch(vec![crate::support::sample_body(1)])
        .expect("append");
    fault.fail_next_sync();
    let err = l
        .append_batch(vec![crate::support::sample_body(2)])
        .expect_err("fsync fails");
    assert!(matches!(err, LedgerError::Poisoned(_)), "{err}");
    drop(l);
    // Same boot: the next process opens the ledger.
    let l = Ledger::open(&dir, opts(&fault)).expect("reopen");
    assert_eq!(l.size(), 2, "the failed batch is gone, not signed");
    assert_eq!(l.checkpoint().size, 2);
    drop(l);
    fault
        .power_loss(PowerLoss::DropUnsynced)
        .expect("power loss");
    let l = Ledger::open(&dir, LedgerOptions::default()).expect("opens after the power cut");
    assert_eq!(l.size(), 2);
    drop(l);
    audit::audit(&dir).expect("audit");
}

/// Regression (issue 14, F2): a failure after the segment is durable is
/// reported as "registered, but unconfirmed" with the code and key, and a
/// retry with the same record, documents and code gives the same
/// certificate and key (not a refusal, not a duplicate).
#[test]
fn unconfirmed_registration_gives_its_key_and_a_retry_converges_f2() {
    let fault = SyncFault::default();
    let t = tempfile::tempdir().expect("tempdir");
    let dir = ledger_dir(&t);
    Ledger::init(&dir, "test.example/zeugnis/1", opts(&fault)).expect("init");
    let mut r = open_registry(&dir, &fault).expect("open");
    let code = Code::generate();
    // Call 3 of a registration is the checkpoint append: ENOSPC.
    fault.reset_calls();
    fault.fail_call(3, true, false);
    let err = r
        .register_with(&record(), &documents(), &imported(&code))
        .expect_err("checkpoint write fails");
    let msg = err.to_string();
    assert_eq!(err.exit_code(), zeugnis::ledger::EXIT_UNCONFIRMED, "{msg}");
    let RegistryError::Unconfirmed {
        issued: Some(first),
        ..
    } = err
    else {
        panic!("not unconfirmed: {msg}");
    };
    assert!(
        msg.contains("registered") && msg.contains("zeugnis show") && msg.contains(&first.code),
        "{msg}"
    );
    drop(r);
    fault.reset_calls();
    let mut r = open_registry(&dir, &fault).expect("reopen confirms");
    assert_eq!(
        r.ledger().checkpoint().size,
        r.ledger().size(),
        "the reopen signed the durable records"
    );
    let again = r
        .register_with(&record(), &documents(), &imported(&code))
        .expect("retry");
    assert_eq!(
        (again.code.as_str(), again.key.as_str()),
        (first.code.as_str(), first.key.as_str())
    );
    assert_eq!(r.all().expect("all").len(), 1, "no duplicate");
    r.show(code.as_str(), Some(&first.key))
        .expect("the key opens it");
    // A different record under the same code is still refused.
    let mut other = record();
    other.kind = "diploma".into();
    let refused = r
        .register_with(&other, &documents(), &imported(&code))
        .expect_err("code in use");
    assert!(refused.to_string().contains("already used"), "{refused}");
}

/// A ledger with two acknowledged batches; returns its directory's holder.
fn two_batches() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = ledger_dir(&t);
    let mut l =
        Ledger::init(&dir, "test.example/zeugnis/1", LedgerOptions::default()).expect("init");
    l.append_batch(vec![crate::support::sample_body(1)])
        .expect("append");
    l.append_batch(vec![crate::support::sample_body(2)])
        .expect("append");
    drop(l);
    (t, dir)
}

fn segment0(dir: &Path) -> std::path::PathBuf {
    dir.join("segments").join("00000000000000000000.seg")
}

/// Regression (issue 14, F5): any bad frame length beyond the latest
/// checkpoint in the last segment is a torn tail (FORMAT.md §12.3), not
/// damage: the garbage is cut and the ledger opens.
#[test]
fn garbage_length_beyond_the_checkpoint_is_a_torn_tail_f5() {
    let (_t, dir) = two_batches();
    let seg = segment0(&dir);
    let clean = std::fs::read(&seg).expect("read");
    let mut garbage = clean.clone();
    garbage.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8]);
    std::fs::write(&seg, &garbage).expect("write");
    let report = audit::audit(&dir).expect("audit tolerates it");
    assert!(
        report.warnings.iter().any(|w| w.contains("torn tail")),
        "{:?}",
        report.warnings
    );
    let l = Ledger::open(&dir, LedgerOptions::default()).expect("opens");
    assert_eq!(l.size(), 3);
    drop(l);
    assert_eq!(
        std::fs::read(&seg).expect("read"),
        clean,
        "the garbage was cut"
    );
}

/// Regression (issue 14, F6): a segment cut at a frame boundary below the
/// checkpoint is refused with the file, the byte offset and the seq.
#[test]
fn segment_cut_below_the_checkpoint_names_file_offset_and_seq_f6() {
    let (_t, dir) = two_batches();
    let seg = segment0(&dir);
    let bytes = std::fs::read(&seg).expect("read");
    // Drop the last frame exactly.
    let mut pos = 56;
    let mut starts = Vec::new();
    while pos < bytes.len() {
        starts.push(pos);
        let n = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4")) as usize;
        pos += n + 8;
    }
    let cut = *starts.last().expect("frames") as u64;
    std::fs::write(&seg, &bytes[..cut as usize]).expect("write");
    let err = Ledger::open(&dir, LedgerOptions::default())
        .err()
        .expect("refused");
    match &err {
        LedgerError::Corrupt {
            path,
            offset,
            seq,
            what,
        } => {
            assert_eq!(path, &seg, "{err}");
            assert_eq!((*offset, *seq), (cut, 2), "{err}");
            assert!(what.contains("covers 3 records"), "{err}");
        }
        other => panic!("not a Corrupt error naming the file: {other}"),
    }
}

/// Regression (issue 14, F7): the derived `checkpoint` copy cannot be
/// written (here: a directory stands in its way, as a full disk would fail
/// it), and the ledger still opens for reading.
#[test]
fn an_unwritable_derived_checkpoint_copy_does_not_block_open_f7() {
    let (_t, dir) = two_batches();
    let copy = dir.join("checkpoint");
    std::fs::remove_file(&copy).expect("remove");
    std::fs::create_dir(&copy).expect("block it");
    std::fs::write(copy.join("x"), b"x").expect("non-empty");
    let l = Ledger::open(&dir, LedgerOptions::default()).expect("opens despite the copy");
    assert_eq!(l.size(), 3);
    assert_eq!(l.record(2).expect("read").seq, 2);
}

/// Regression (issue 14, F8): a flipped byte inside the latest (whole)
/// checkpoint frame, and a damaged active key file, make `audit` fail
/// (exit non-zero) instead of passing with a warning.
#[test]
fn audit_fails_on_a_damaged_checkpoint_or_active_key_f8() {
    let (t, dir) = two_batches();
    let cps = dir.join("checkpoints");
    let good = std::fs::read(&cps).expect("read");
    let mut bad = good.clone();
    let at = bad.len() - 20;
    bad[at] ^= 0x01;
    std::fs::write(&cps, &bad).expect("write");
    let err = audit::audit(&dir).expect_err("audit fails");
    assert!(err.to_string().contains("checkpoints"), "{err}");
    let (code, _, stderr) = crate::support::zeugnis(t.path(), &["audit"]);
    assert_ne!(code, 0, "{stderr}");
    let (code, out, stderr) = crate::support::zeugnis(t.path(), &["checkpoint"]);
    assert_ne!(code, 0, "printed an older checkpoint instead: {out}");
    assert!(stderr.contains("damaged"), "{stderr}");
    std::fs::write(&cps, &good).expect("restore");
    audit::audit(&dir).expect("audit passes again");

    let key = std::fs::read_dir(dir.join("keys"))
        .expect("keys")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .expect("key file");
    let mut pem = std::fs::read(&key).expect("read");
    let mid = pem.len() / 2;
    pem[mid] = if pem[mid] == b'A' { b'B' } else { b'A' };
    std::fs::write(&key, &pem).expect("write");
    let err = audit::audit(&dir).expect_err("audit fails on the key file");
    assert!(
        err.to_string().contains(&key.display().to_string()),
        "{err}"
    );
}

/// Regression (issue 14, F4): `register` with standard output on a full
/// disk (`/dev/full`) neither panics (exit 101) nor loses the key: the code
/// and key go to standard error and the exit code is 3 (done, unconfirmed);
/// a retry with `--code` gives the same key.
#[test]
fn register_with_stdout_on_a_full_disk_shows_the_key_on_stderr_f4() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    assert_eq!(crate::support::zeugnis(dir, &["init"]).0, 0);
    std::fs::write(dir.join("doc.pdf"), &*PDF).expect("doc");
    let json = serde_json::json!({
        "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
        "holder": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "2000-02-29",
                   "birth_place": "Gotha", "student_id": "4711"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
        "last_exam_date": "2026-09-30"
    });
    std::fs::write(dir.join("r.json"), json.to_string()).expect("record");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = std::process::Command::new(crate::support::bin())
        .current_dir(dir)
        .args(["register", "--record", "r.json", "--document", "doc.pdf"])
        .stdout(full)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let code = stderr
        .lines()
        .find_map(|l| l.strip_prefix("code: "))
        .unwrap_or_else(|| panic!("no code on stderr: {stderr}"))
        .to_string();
    let key = stderr
        .lines()
        .find_map(|l| l.strip_prefix("key:  "))
        .unwrap_or_else(|| panic!("no key on stderr: {stderr}"))
        .to_string();
    let (c, out, err) = crate::support::zeugnis(
        dir,
        &[
            "register",
            "--record",
            "r.json",
            "--document",
            "doc.pdf",
            "--code",
            &code,
            "--import",
            "--json",
        ],
    );
    assert_eq!(c, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["key"].as_str(),
        Some(key.as_str()),
        "the retry gives the same key"
    );
}
