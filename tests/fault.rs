//! The I/O fault model (issue 14; ARCHITECTURE.md "Fault model") checked
//! against a simulated disk.
//!
//! Every durable write of the ledger and the registry runs on
//! `durable::SyncFault`: the append files (segments, `checkpoints`), blob
//! files, key files, the registration secret, tiles, the derived
//! `checkpoint` copy and every other atomic replacement, with their renames,
//! removals and directory fsyncs. It counts every file-system call (create,
//! write, append, fsync, fdatasync, rename, unlink, directory fsync,
//! truncate, rewrite), fails a chosen one with EIO or ENOSPC (or every call
//! from it on: a crash; or two in a row: a double fault), and on a power cut
//! drops or tears what no successful fsync covered (file contents, and
//! directory entries no directory fsync covered) and zeroes what a failed
//! fsync covered even if a later one "succeeded" (Linux's fsyncgate
//! behaviour). The sled index is not on it (its faults are in the sled
//! wrapper's tests).
//!
//! [`every_fault_point_of`] (one test per operation) enumerates, for register,
//! revoke, supersede, erase, archive_scans, rotate-key (add and retire) and
//! recovery itself, every call of the operation as the failing one, in
//! several modes (EIO, ENOSPC, crash, double fault), each followed by a
//! reopen in the same boot (which may sign and serve a checkpoint) and then
//! a power cut, and checks after each: the reopened ledger opens and passes
//! `audit`; every checkpoint served before the cut is still backed by the
//! records; an operation reported done is there, with its blobs intact (an
//! erasure: its holder data gone); one reported failed is not; one reported
//! unconfirmed may be either; and a retry converges (the same certificate
//! and key, the same revocation, replacement, erasure or scan record; no
//! duplicate, no refusal).

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

/// The corrected replacement of [`record`] for `supersede`.
fn corrected() -> RegistrationRecord {
    let mut r = record();
    r.kind = "diploma".into();
    r
}

/// The corrected digital image (a small real PDF).
static CORRECTED_PDF: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| crate::support::pdf("corrected digital image"));

fn corrected_documents() -> Vec<DocumentFile> {
    vec![DocumentFile {
        name: "corrected.pdf".into(),
        bytes: CORRECTED_PDF.to_vec(),
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

/// More file-system calls than any one operation makes on the simulated disk.
const CALLS_PER_OPERATION_MAX: u64 = 80;

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
    Supersede,
    Erase,
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
            // The process dies at the first call after the segment is
            // durable (the checkpoint append).
            fault.reset_calls();
            fault.fail_call(first_unconfirmed_call(true), false, true);
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

/// The first call of a first registration in a fresh ledger whose failure
/// leaves it unconfirmed and durable in the segment, without a checkpoint
/// (the checkpoint append): found by trying, once per mode, in a scratch
/// ledger.
fn first_unconfirmed_call(crash: bool) -> u64 {
    static FOUND: [std::sync::OnceLock<u64>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    *FOUND[usize::from(crash)].get_or_init(|| {
        for n in 1..CALLS_PER_OPERATION_MAX {
            let t = tempfile::tempdir().expect("tempdir");
            let dir = ledger_dir(&t);
            let fault = SyncFault::default();
            Ledger::init(&dir, "test.example/zeugnis/1", opts(&fault)).expect("init");
            let mut r = open_registry(&dir, &fault).expect("open");
            fault.reset_calls();
            fault.fail_call(n, true, crash);
            let out = r.register_with(&record(), &documents(), &imported(&Code::generate()));
            drop(r);
            // Unconfirmed, and durable: a crash in the segment append or
            // its fdatasync also reports "may or may not be there", but
            // leaves the records to a power cut.
            if matches!(out, Err(RegistryError::Unconfirmed { .. })) {
                fault
                    .power_loss(PowerLoss::DropUnsynced)
                    .expect("power loss");
                let l = Ledger::open(&dir, LedgerOptions::default()).expect("reopen");
                if l.size() > 1 {
                    return n;
                }
            }
        }
        panic!("no failing call leaves a registration unconfirmed");
    })
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
        Op::Supersede => match open_registry(dir, fault) {
            Ok(mut r) => {
                let out = r.supersede(code.as_str(), &corrected(), &corrected_documents());
                let key = match &out {
                    Ok(i) => Some(format!("{} {}", i.code, i.key)),
                    Err(RegistryError::Unconfirmed { issued, .. }) => {
                        issued.as_ref().map(|i| format!("{} {}", i.code, i.key))
                    }
                    Err(_) => None,
                };
                (told(&out), key)
            }
            Err(e) => (told::<()>(&Err(e)), None),
        },
        Op::Erase => {
            let out = open_registry(dir, fault).and_then(|mut r| r.erase(code.as_str(), REASON));
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
        Op::Supersede => cert.expect("registered").state == State::Superseded,
        Op::Erase => cert.expect("registered").erased,
        Op::ArchiveScan => cert.expect("registered").state == State::Archived,
        Op::AddKey => r.ledger().keys().len() == 2,
        Op::RetireKey => r.ledger().keys()[0].retired_seq.is_some(),
    }
}

/// The blobs an operation reported done must have made durable are there
/// and intact (documents of a registration or replacement, the scan); an
/// erasure's holder data is gone.
fn blobs_of_the_effect_intact(op: Op, r: &Registry, code: &Code, what: &str) {
    let cert = |c: &str| r.find(c).unwrap_or_else(|e| panic!("{what}: {c}: {e}"));
    let check = |view: &zeugnis::registry::FileView| {
        let h: [u8; 32] = hex::decode(&view.blake3)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        r.blobs()
            .get(&h)
            .unwrap_or_else(|e| panic!("{what}: blob {}: {e}", view.blake3));
    };
    match op {
        Op::Register => cert(code.as_str()).documents.iter().for_each(check),
        Op::Supersede => {
            let new = cert(code.as_str()).superseded_by.expect("superseded");
            cert(&new).documents.iter().for_each(check);
        }
        Op::ArchiveScan => cert(code.as_str()).scan.iter().for_each(check),
        Op::Erase => {
            let c = cert(code.as_str());
            let h: [u8; 32] = hex::decode(&c.holder_blob)
                .expect("hex")
                .try_into()
                .expect("32 bytes");
            assert!(
                !r.blobs().exists(&h),
                "{what}: erasure reported done, but the holder data is back"
            );
        }
        _ => {}
    }
}

/// One fault case: returns false when the operation made fewer calls than
/// `n` (the enumeration of this mode is complete).
fn case(op: Op, n: u64, mode: Mode, loss: PowerLoss) -> bool {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = ledger_dir(&t);
    let code = Code::generate();
    let fault = SyncFault::default();
    let setup_issued = setup(op, &dir, &code, &fault);
    fault.reset_calls();
    match mode {
        Mode::Eio => fault.fail_call(n, false, false),
        Mode::Enospc => fault.fail_call(n, true, false),
        Mode::Crash => fault.fail_call(n, false, true),
        Mode::Double => fault.fail_calls(n, 2),
    }
    let (told, key) = run(op, &dir, &code, &fault);
    let fired = fault.fired();
    let what = format!("{op:?}, failing call {n} ({mode:?}, {loss:?})");
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
    if told == Told::Done {
        blobs_of_the_effect_intact(op, &r, &code, &what);
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
    if let Op::Register | Op::Supersede = op {
        // A registration is retried under its code; a replacement is found
        // through the old certificate, so only one that is there converges
        // to the same code and key.
        if let (true, Some(first), Some(second)) = (present, &key, &retry_key) {
            assert_eq!(first, second, "{what}: the retry gave another key");
        }
        let want = if let Op::Supersede = op { 2 } else { 1 };
        assert_eq!(
            r.all().expect("all").len(),
            want,
            "{what}: a duplicate registration"
        );
    }
    blobs_of_the_effect_intact(op, &r, &code, &what);
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

/// How the failing call fails.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// EIO once.
    Eio,
    /// ENOSPC once.
    Enospc,
    /// The process dies there: this call and every later one fail.
    Crash,
    /// EIO twice in a row (a failed fsync, then the failed truncation
    /// that was to cut its bytes off).
    Double,
}

/// Enumerates every fault point of `op` in every mode (see the module doc);
/// one test per operation, so the harness runs them side by side.
fn every_fault_point_of(op: Op) {
    let mut cases = 0;
    for (mode, loss) in [
        (Mode::Eio, PowerLoss::DropUnsynced),
        (Mode::Enospc, PowerLoss::KeepUnsynced),
        (Mode::Double, PowerLoss::DropUnsynced),
        (Mode::Crash, PowerLoss::DropUnsynced),
        (Mode::Crash, PowerLoss::TearUnsynced),
        (Mode::Crash, PowerLoss::KeepUnsynced),
    ] {
        let mut n = 1;
        while case(op, n, mode, loss) {
            n += 1;
            cases += 1;
            assert!(
                n < CALLS_PER_OPERATION_MAX,
                "{op:?} never stops making calls"
            );
        }
        assert!(
            n > 1,
            "{op:?} made no file-system call through the simulated disk"
        );
    }
    eprintln!("fault: {op:?}: {cases} fault cases checked");
}

#[test]
fn every_fault_point_of_register() {
    every_fault_point_of(Op::Register);
}

#[test]
fn every_fault_point_of_revoke() {
    every_fault_point_of(Op::Revoke);
}

#[test]
fn every_fault_point_of_supersede() {
    every_fault_point_of(Op::Supersede);
}

#[test]
fn every_fault_point_of_erase() {
    every_fault_point_of(Op::Erase);
}

#[test]
fn every_fault_point_of_archive_scans() {
    every_fault_point_of(Op::ArchiveScan);
}

#[test]
fn every_fault_point_of_rotate_key_add() {
    every_fault_point_of(Op::AddKey);
}

#[test]
fn every_fault_point_of_rotate_key_retire() {
    every_fault_point_of(Op::RetireKey);
}

#[test]
fn every_fault_point_of_recovery() {
    every_fault_point_of(Op::Recovery);
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
    // The first call after the segment is durable (the checkpoint
    // append): ENOSPC.
    fault.reset_calls();
    fault.fail_call(first_unconfirmed_call(false), true, false);
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

/// Regression (issue 14, F3): a blob whose directory fsync failed was
/// trusted by the next run, which found the file intact and acknowledged a
/// record referring to it; a power cut then took the file away. Now a blob
/// this process did not write and fsync itself is written anew: the retry
/// fails while its own fsync fails, and once it succeeds the blob survives
/// the power cut.
#[test]
fn a_blob_whose_directory_fsync_failed_is_written_anew_f3() {
    use zeugnis::blobs::BlobStore;
    let t = tempfile::tempdir().expect("tempdir");
    let fault = SyncFault::default();
    let store = || {
        BlobStore::open(t.path(), 1 << 20)
            .expect("open")
            .with_fault(Some(fault.clone()))
    };
    // Calls of a new blob: create, write, fsync (file), rename, fsync (shard
    // directory), fsync (blobs/).
    fault.reset_calls();
    fault.fail_call(5, false, false);
    let err = store()
        .put(&PDF, "application/pdf")
        .expect_err("the shard fsync fails");
    assert!(err.to_string().contains("fsync"), "{err}");
    let blob = BlobStore::reference(&PDF, "application/pdf");
    let path = store().path(&blob.blake3);
    assert_eq!(std::fs::read(&path).expect("in the page cache"), *PDF);
    assert_eq!(fault.image_of(&path), None, "not durable yet");

    // The next process: its retry must not acknowledge while its own fsync
    // of the blob fails.
    fault.reset_calls();
    fault.fail_call(3, false, false);
    let retry = store().put(&PDF, "application/pdf");
    assert!(retry.is_err(), "acknowledged an unproven blob: {retry:?}");

    // The next one succeeds, and the blob outlives a power cut.
    fault.reset_calls();
    store().put(&PDF, "application/pdf").expect("put");
    assert_eq!(fault.image_of(&path).as_deref(), Some(PDF.as_slice()));
    fault
        .power_loss(PowerLoss::DropUnsynced)
        .expect("power loss");
    assert_eq!(store().get(&blob.blake3).expect("survives"), *PDF);

    // Stored by this process already: not written again (no call at all).
    let s = store();
    s.put(&PDF, "application/pdf").expect("put");
    fault.reset_calls();
    s.put(&PDF, "application/pdf").expect("put again");
    assert_eq!(fault.calls(), 0, "a blob proven by this process is skipped");
}

/// Regression (issue 14, double fault): the segment fdatasync fails *and*
/// the truncation that was to cut the batch off fails too. The batch is
/// reported unconfirmed, the writer stays poisoned (nothing more is
/// acknowledged), and the next open, which finds the frames in the page
/// cache, writes them anew and fdatasyncs them before it signs: after a power
/// cut every served checkpoint is still backed by the records. Before,
/// recovery only fdatasynced (which "succeeds" on pages Linux marked clean
/// after the failure) and a power cut left a checkpoint over lost records.
#[test]
fn a_failed_fsync_and_a_failed_truncation_are_recovered_double_fault() {
    let fault = SyncFault::default();
    let t = tempfile::tempdir().expect("tempdir");
    let dir = ledger_dir(&t);
    let mut l = Ledger::init(&dir, "test.example/zeugnis/1", opts(&fault)).expect("init");
    l.append_batch(vec![crate::support::sample_body(1)])
        .expect("append");
    // Calls of a batch: segment append, fdatasync (fails), truncate (fails).
    fault.reset_calls();
    fault.fail_calls(2, 2);
    let err = l
        .append_batch(vec![crate::support::sample_body(2)])
        .expect_err("fsync fails");
    assert!(
        matches!(err, LedgerError::Unconfirmed { .. }),
        "not unconfirmed: {err}"
    );
    assert_eq!(fault.calls(), 3, "append, fdatasync, truncate");
    fault.reset_calls();
    let again = l.append_batch(vec![crate::support::sample_body(3)]);
    assert!(
        matches!(again, Err(LedgerError::Poisoned(_))),
        "the writer acknowledged after a double fault: {again:?}"
    );
    assert_eq!(fault.calls(), 0, "a poisoned writer touches nothing");
    drop(l);
    // Same boot: the next process signs what it proved durable itself.
    let served = {
        let l = Ledger::open(&dir, opts(&fault)).expect("reopen");
        assert_eq!(l.size(), 3, "the frames were still in the page cache");
        assert_eq!(l.checkpoint().size, 3);
        l.checkpoint().clone()
    };
    fault
        .power_loss(PowerLoss::DropUnsynced)
        .expect("power loss");
    let l = Ledger::open(&dir, LedgerOptions::default()).expect("opens after the power cut");
    assert!(
        l.size() >= served.size,
        "a served checkpoint outlived its records"
    );
    assert_eq!(l.root(served.size).expect("root"), served.root);
    drop(l);
    audit::audit(&dir).expect("audit");
}

/// Issue 14: `supersede` and `erase` retried after an uncertain outcome
/// (the first attempt is in the ledger) converge: the same replacement code
/// and key, the erasure done; not "already superseded" or "already erased".
/// A *different* request is still refused.
#[test]
fn supersede_and_erase_retries_converge() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = ledger_dir(&t);
    let fault = SyncFault::default();
    Ledger::init(&dir, "test.example/zeugnis/1", opts(&fault)).expect("init");
    let mut r = open_registry(&dir, &fault).expect("open");
    let old = r.register(&record(), &documents(), None).expect("register");
    let first = r
        .supersede(&old.code, &corrected(), &corrected_documents())
        .expect("supersede");
    drop(r);
    let mut r = open_registry(&dir, &fault).expect("a new process");
    let again = r
        .supersede(&old.code, &corrected(), &corrected_documents())
        .expect("the retry converges");
    assert_eq!((&again.code, &again.key), (&first.code, &first.key));
    assert_eq!(r.all().expect("all").len(), 2, "no second replacement");
    let mut other = corrected();
    other.kind = "certificate".into();
    let refused = r
        .supersede(&old.code, &other, &corrected_documents())
        .expect_err("another replacement is refused");
    assert!(refused.to_string().contains("superseded"), "{refused}");

    assert!(r.erase(&first.code, REASON).expect("erase"));
    drop(r);
    let mut r = open_registry(&dir, &fault).expect("a new process");
    assert!(!r.erase(&first.code, REASON).expect("the retry converges"));
    let refused = r
        .erase(&first.code, "another reason")
        .expect_err("another erasure is refused");
    assert!(refused.to_string().contains("already erased"), "{refused}");
}

/// Most fsync or fdatasync calls of one `zeugnis register` process that
/// [`cli_register_under_injected_fsync_failures_reports_the_truth`] fails in
/// turn (a registration makes fewer).
const CLI_SYNC_CALLS_MAX: u32 = 14;

/// Issue 14 (F4 and the sled wrapper): the real binary, with `strace`
/// failing its N-th `fsync` or `fdatasync` with EIO, for every N, including
/// those of the sled index (whose `Drop` panics when its last fsync fails).
/// Checks that no run ends in a panic's exit code (101), that exit 0 means
/// registered (and the printed key opens it), exit 1 or 2 means not
/// registered, and that after exit 3 (unconfirmed) a retry with the same
/// code succeeds with the same key; finally `audit` passes.
#[test]
fn cli_register_under_injected_fsync_failures_reports_the_truth() {
    let have_strace = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(have_strace, "this test needs strace (.ci/run installs it)");
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
    let key_of = |out: &str| -> Option<String> {
        serde_json::from_str::<serde_json::Value>(out)
            .ok()
            .and_then(|v| v["key"].as_str().map(str::to_string))
    };
    let mut injected = 0;
    for syscall in ["fsync", "fdatasync"] {
        for n in 1..=CLI_SYNC_CALLS_MAX {
            let code = Code::generate();
            let args = [
                "register",
                "--record",
                "r.json",
                "--document",
                "doc.pdf",
                "--code",
                code.as_str(),
                "--import",
                "--allow-duplicate",
                "--json",
            ];
            let (rc, out, err) = crate::support::output(
                std::process::Command::new("strace")
                    .args(["-f", "-qq", "-o", "/dev/null", "-e"])
                    .arg(format!("inject={syscall}:error=EIO:when={n}"))
                    .arg(crate::support::bin())
                    .args(args)
                    .current_dir(dir),
            );
            let what = format!("{syscall} #{n} fails: exit {rc}, stderr {err}");
            assert_ne!(rc, 101, "{what}");
            let (shown, _, show_err) = crate::support::zeugnis(dir, &["show", code.as_str()]);
            assert!(shown == 0 || shown == 2, "{what}; show: {show_err}");
            let present = shown == 0;
            match rc {
                0 => {
                    let key = key_of(&out).unwrap_or_else(|| panic!("{what}: no key in {out}"));
                    let (c, _, e) =
                        crate::support::zeugnis(dir, &["show", code.as_str(), "--key", &key]);
                    assert_eq!(c, 0, "{what}: acknowledged, but: {e}");
                }
                3 => {
                    injected += 1;
                    let (c, again, e) = crate::support::zeugnis(dir, &args);
                    assert_eq!(c, 0, "{what}: the retry: {e}");
                    if let (Some(first), Some(second)) = (key_of(&out), key_of(&again)) {
                        assert_eq!(first, second, "{what}: the retry gave another key");
                    }
                }
                _ => {
                    injected += 1;
                    assert!(!present, "{what}: reported failed, but registered");
                }
            }
        }
    }
    assert!(injected > 0, "no injected failure changed an outcome");
    let (c, _, e) = crate::support::zeugnis(dir, &["audit"]);
    assert_eq!(c, 0, "{e}");
}
