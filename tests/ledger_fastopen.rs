//! The fast open (issue 15): what it trusts, what it leaves to the
//! background verification, and the read-only open of the read commands.
//!
//! Each test builds a ledger large enough that the fast open starts its scan
//! above record 0 (more than one full tile), damages or tears it, and checks
//! the outcome named in its doc comment.

use crate::support::{new_ledger, zeugnis, Daemon};
use std::path::{Path, PathBuf};
use zeugnis::ledger::record::Body;
use zeugnis::ledger::segment::SEGMENT_HEADER_BYTES;
use zeugnis::ledger::verify::VerifyState;
use zeugnis::ledger::{Ledger, LedgerError, LedgerOptions};

/// Records appended after Genesis (four batches): the fast scan then starts
/// at record 704, far above the damaged record [`DAMAGED_SEQ`].
const FILLER_RECORDS: u64 = 1_200;
/// The record whose frame the tests damage: covered by the checkpoint,
/// below the fast scan's start.
const DAMAGED_SEQ: u64 = 300;

/// A record the registry ignores (it voids no known certificate).
fn filler(n: u64) -> Body {
    Body::Voided {
        code: format!("{n:012}"),
        reason: "r".repeat(200),
    }
}

fn append_fillers(l: &mut Ledger) {
    let mut n = 1;
    while n <= FILLER_RECORDS {
        let k = (FILLER_RECORDS + 1 - n).min(300);
        l.append_batch((n..n + k).map(filler).collect())
            .expect("append");
        n += k;
    }
}

/// The only segment file of a small ledger.
fn segment(data: &Path) -> PathBuf {
    data.join("segments")
        .join(zeugnis::ledger::segment::segment_name(0))
}

/// File offset of the frame of record `seq` in the first segment.
fn frame_offset(data: &Path, seq: u64) -> u64 {
    let bytes = std::fs::read(segment(data)).expect("segment");
    let mut pos = SEGMENT_HEADER_BYTES;
    for _ in 0..seq {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        pos += len + 8;
    }
    pos as u64
}

/// Flips one byte inside the record of `seq` (its CRC then fails); returns
/// the frame's offset.
fn damage_record(data: &Path, seq: u64) -> u64 {
    let offset = frame_offset(data, seq);
    let path = segment(data);
    let mut bytes = std::fs::read(&path).expect("segment");
    bytes[offset as usize + 60] ^= 0x01;
    std::fs::write(&path, bytes).expect("write segment");
    offset
}

/// A middle frame damaged on a closed ledger: the full open refuses it
/// naming file, offset and seq; the fast open trusts the signed checkpoint
/// and opens; the background pass then finds exactly that frame, the
/// shared state says damaged, and every later append is refused.
#[test]
fn the_background_verification_finds_a_damaged_middle_frame_and_stops_writes() {
    let (t, mut l) = new_ledger(LedgerOptions::default());
    append_fillers(&mut l);
    let data = l.dir().to_path_buf();
    drop(l);
    let offset = damage_record(&data, DAMAGED_SEQ);

    let full = Ledger::open(&data, LedgerOptions::default()).err();
    assert!(
        matches!(&full, Some(LedgerError::Corrupt { seq, offset: o, .. }) if *seq == DAMAGED_SEQ && *o == offset),
        "{full:?}"
    );

    let mut l = Ledger::open_fast(&data, LedgerOptions::default()).expect("fast open");
    assert_eq!(l.size(), FILLER_RECORDS + 1);
    let state = l.verification();
    assert!(
        matches!(state.state(), VerifyState::Pending { total, .. } if total == FILLER_RECORDS + 1),
        "{:?}",
        state.state()
    );
    // Reads of undamaged records work before (and after) the pass.
    assert!(l.read_record(DAMAGED_SEQ + 500).is_ok());
    let target = l.take_verification().expect("a pending verification");
    assert!(l.take_verification().is_none(), "taken once");
    let found = target.run(&state).err();
    assert!(
        matches!(&found, Some(LedgerError::Corrupt { path, seq, offset: o, .. })
            if *seq == DAMAGED_SEQ && *o == offset && path == &segment(&data)),
        "{found:?}"
    );
    assert!(
        matches!(state.state(), VerifyState::Damaged(ref why) if why.contains(&format!("byte {offset}"))),
        "{:?}",
        state.state()
    );
    let refused = l.append_batch(vec![filler(9_999)]).err();
    assert!(
        matches!(&refused, Some(LedgerError::Damaged(why)) if why.contains("record seq 300")),
        "{refused:?}"
    );
    assert_eq!(l.size(), FILLER_RECORDS + 1, "nothing appended");
    assert!(l.read_record(DAMAGED_SEQ + 500).is_ok(), "reads go on");
    drop(t);
}

/// An undamaged ledger: the fast open leaves a pending verification that
/// passes; a ledger whose derived index was deleted opens the slow way
/// (every record verified at open, nothing pending) and the next open is
/// fast again.
#[test]
fn the_fast_open_verifies_in_the_background_and_falls_back_without_an_index() {
    let (_t, mut l) = new_ledger(LedgerOptions::default());
    append_fillers(&mut l);
    let data = l.dir().to_path_buf();
    let root = l.checkpoint().root;
    drop(l);

    let mut l = Ledger::open_fast(&data, LedgerOptions::default()).expect("fast open");
    let state = l.verification();
    let target = l.take_verification().expect("pending");
    target.run(&state).expect("verified");
    assert_eq!(state.state(), VerifyState::Verified);
    l.append_batch(vec![filler(5_000)])
        .expect("append after the pass");
    drop(l);

    std::fs::remove_dir_all(data.join("index")).expect("remove index");
    let mut l = Ledger::open_fast(&data, LedgerOptions::default()).expect("open");
    assert!(
        l.take_verification().is_none(),
        "the slow open verified all"
    );
    assert_eq!(l.verification().state(), VerifyState::Verified);
    assert_eq!(l.size(), FILLER_RECORDS + 2);
    assert_eq!(l.root(FILLER_RECORDS + 1).expect("root"), root);
    drop(l);
    let mut l = Ledger::open_fast(&data, LedgerOptions::default()).expect("open");
    assert!(l.take_verification().is_some(), "fast again");
}

/// A torn tail beyond the checkpoint (half a frame appended, as a crash
/// during a batch leaves it): the read-only open reads at the checkpoint,
/// takes no writer lock (the test holds it meanwhile), changes no ledger
/// file (the tail is left for the writer to cut) and refuses writes; the
/// CLI's `show` on the stopped ledger works the same way.
#[test]
fn a_read_only_open_reads_at_the_checkpoint_despite_a_torn_tail() {
    let (t, mut l) = new_ledger(LedgerOptions::default());
    append_fillers(&mut l);
    let data = l.dir().to_path_buf();
    let size = l.size();
    drop(l);
    let seg = segment(&data);
    let mut bytes = std::fs::read(&seg).expect("segment");
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&seg, &bytes).expect("tear");

    let lock = std::fs::File::options()
        .write(true)
        .open(data.join("lock"))
        .expect("lock file");
    lock.try_lock().expect("the test holds the writer lock");
    let mut l = Ledger::open_read_only(&data).expect("read-only open");
    assert!(l.is_read_only());
    assert_eq!(l.size(), size);
    assert_eq!(l.verification().state(), VerifyState::NotRun);
    assert!(l.read_record(size - 1).is_ok());
    assert!(l.tlog_proof(size / 2).is_ok(), "proofs from the tiles");
    let refused = l.append_batch(vec![filler(7)]).err();
    assert!(
        matches!(refused, Some(LedgerError::ReadOnly { .. })),
        "{refused:?}"
    );
    drop(l);
    assert_eq!(
        std::fs::read(&seg).expect("segment").len(),
        bytes.len(),
        "the torn tail is left for the writer"
    );
    drop(lock);

    // The CLI: `checkpoint` and `status` on the stopped ledger, read-only.
    let (code, out, err) = zeugnis(t.path(), &["--verbose", "status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("ledger: {size} records")), "{out}");
    assert!(out.contains("not run by this read-only command"), "{out}");
    assert!(!err.contains("opening the ledger as its writer"), "{err}");
    assert_eq!(
        std::fs::read(&seg).expect("segment").len(),
        bytes.len(),
        "the CLI read did not cut the tail either"
    );
    // The writer's open cuts it.
    let l = Ledger::open(&data, LedgerOptions::default()).expect("writer open");
    assert_eq!(l.size(), size);
    drop(l);
    assert!(std::fs::read(&seg).expect("segment").len() < bytes.len());
}

/// A registration record the registry accepts.
fn registration() -> zeugnis::registry::RegistrationRecord {
    let json = serde_json::json!({
        "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
        "holder": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "2000-01-01",
                   "birth_place": "Gotha", "student_id": "4711"},
        "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
        "last_exam_date": "2026-09-30"
    });
    zeugnis::registry::RegistrationRecord::parse("r.json", json.to_string().as_bytes())
        .expect("record")
}

/// `GET path` on the daemon's public listener; the whole response.
fn get(daemon: &mut Daemon, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = daemon.addr("public");
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("response");
    raw
}

/// Damage injected into a middle frame of a closed ledger, then the daemon
/// started on it: it serves at once (the fast open), its background
/// verification finds the frame (log: file, offset, seq); from then on
/// writes are refused with a clear error, reads of undamaged certificates
/// keep working (CLI through the control socket and HTTP), and `status` and
/// `/metrics` report the damage.
#[test]
fn a_daemon_started_on_a_damaged_ledger_serves_reads_and_refuses_writes() {
    let t = tempfile::tempdir().expect("tempdir");
    let data = t.path().join("ledger");
    let mut l =
        Ledger::init(&data, "test.example/zeugnis/1", LedgerOptions::default()).expect("init");
    append_fillers(&mut l);
    drop(l);
    let mut r = zeugnis::registry::Registry::open(&data, "http://test").expect("registry");
    let doc = zeugnis::registry::DocumentFile {
        name: "doc.pdf".into(),
        bytes: crate::support::pdf("digital image"),
    };
    let issued = r.register(&registration(), &[doc], None).expect("register");
    r.ledger().flush_index().expect("flush");
    drop(r);
    let offset = damage_record(&data, DAMAGED_SEQ);

    let mut d = Daemon::start(
        t.path(),
        "[report]\ninterval_secs = 0\n[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n",
    );
    let log = d.wait_for_log("background verification found damage");
    assert!(
        log.contains(&format!("at byte {offset} (record seq {DAMAGED_SEQ})")),
        "{log}"
    );
    d.wait_for_log("control socket listening");

    let (code, out, err) = zeugnis(t.path(), &["show", &issued.code]);
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert!(out.contains("awaiting_scan"), "{out}");
    let page = get(&mut d, &format!("/api/v1/certificates/{}", issued.code));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}\n{}", d.log());

    let (code, _, err) = zeugnis(t.path(), &["void", &issued.code, "--reason", "test"]);
    assert_eq!(code, 1, "{err}\n{}", d.log());
    assert!(
        err.contains("ledger damaged") && err.contains("writes are refused"),
        "{err}"
    );
    let (code, out, err) = zeugnis(t.path(), &["show", &issued.code]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("awaiting_scan"), "nothing changed: {out}");

    let (code, out, err) = zeugnis(t.path(), &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("DAMAGE FOUND, writes are refused"), "{out}");
    assert!(out.contains(&format!("record seq {DAMAGED_SEQ}")), "{out}");
    let metrics = get(&mut d, "/metrics");
    assert!(metrics.contains("zeugnis_ledger_damaged 1"), "{metrics}");
    assert!(
        metrics.contains("zeugnis_ledger_verification_pending 0"),
        "{metrics}"
    );
    d.stop();
}
