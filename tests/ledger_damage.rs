//! Recovery and damage: a torn tail is truncated; every other kind of damage
//! refuses to open with an error naming file, offset and sequence number.
//! Derived data (tiles, index) is rebuilt; a failed fsync poisons the writer.

use crate::support::{ledger_dir, new_ledger, read, sample_body};
use std::path::{Path, PathBuf};
use zeugnis::ledger::durable::SyncFault;
use zeugnis::ledger::record::{Body, Record};
use zeugnis::ledger::{audit, Ledger, LedgerError, LedgerOptions};

const HEADER: usize = 56;

/// (offset, record bytes) of every frame in a segment file.
fn frames(seg: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = HEADER;
    while pos + 4 <= seg.len() {
        let n = u32::from_le_bytes(seg[pos..pos + 4].try_into().expect("4")) as usize;
        if pos + n + 8 > seg.len() {
            break;
        }
        out.push((pos, seg[pos + 4..pos + 4 + n].to_vec()));
        pos += n + 8;
    }
    out
}

fn segment0(dir: &Path) -> PathBuf {
    dir.join("segments").join("00000000000000000000.seg")
}

fn open(dir: &Path) -> Result<Ledger, LedgerError> {
    Ledger::open(dir, LedgerOptions::default())
}

/// A ledger with 1 + 3×10 records in batches of 10, closed.
fn ledger_with_batches() -> (tempfile::TempDir, PathBuf) {
    let (t, mut l) = new_ledger(LedgerOptions::default());
    for b in 0..3 {
        l.append_batch((b * 10..b * 10 + 10).map(sample_body).collect())
            .expect("append");
    }
    drop(l);
    let dir = ledger_dir(&t);
    (t, dir)
}

fn corrupt_err(r: Result<Ledger, LedgerError>) -> (PathBuf, u64, u64, String) {
    match r {
        Err(LedgerError::Corrupt {
            path,
            offset,
            seq,
            what,
        }) => (path, offset, seq, what),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, opened fine"),
    }
}

#[test]
fn torn_partial_frame_is_truncated_and_nothing_acknowledged_is_lost() {
    let (_t, dir) = ledger_with_batches();
    let seg = segment0(&dir);
    let clean = read(&seg);
    for cut in [1usize, 3, 4, 17, 200] {
        // A frame of a new batch that was only partly written.
        let mut torn = clean.clone();
        let mut frame = Vec::new();
        let rec = Record {
            seq: 31,
            time_s: 0,
            prev_link: [0; 32],
            operator: None,
            body: sample_body(99),
        }
        .encode()
        .expect("encode");
        frame.extend_from_slice(&(rec.len() as u32).to_le_bytes());
        frame.extend_from_slice(&rec);
        frame.extend_from_slice(&[0; 4]);
        torn.extend_from_slice(&frame[..cut.min(frame.len() - 1)]);
        std::fs::write(&seg, &torn).expect("write");
        let report = audit::audit(&dir).expect("audit tolerates a torn tail");
        assert!(
            report.warnings.iter().any(|w| w.contains("torn tail")),
            "{:?}",
            report.warnings
        );
        let l = open(&dir).expect("opens after truncating");
        assert_eq!(l.size(), 31);
        drop(l);
        assert_eq!(
            read(&seg),
            clean,
            "cut {cut}: truncated back to the last full frame"
        );
    }
    // A zero-filled tail (file extended, data never written) is torn too.
    let mut zeros = clean.clone();
    zeros.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&seg, &zeros).expect("write");
    assert_eq!(open(&dir).expect("opens").size(), 31);
    assert_eq!(read(&seg), clean);
}

#[test]
fn unacknowledged_batch_beyond_the_checkpoint_is_truncated_from_its_first_bad_frame() {
    let (_t, dir) = ledger_with_batches();
    // Roll the checkpoints file back to before the last batch: that batch is
    // now "written but never acknowledged" (crash before its checkpoint).
    let cps = dir.join("checkpoints");
    let bytes = read(&cps);
    let mut pos = 16;
    let mut ends = Vec::new();
    while pos < bytes.len() {
        let n = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4")) as usize;
        pos += n + 8;
        ends.push(pos);
    }
    assert_eq!(ends.len(), 4, "genesis + 3 batches");
    std::fs::write(&cps, &bytes[..ends[2]]).expect("roll back");
    let seg = segment0(&dir);
    let mut s = read(&seg);
    let f = frames(&s);
    // Damage the 3rd frame of the last batch (seq 23): frames after it are dropped too.
    let (off, _) = f[23];
    s[off + 10] ^= 0xff;
    std::fs::write(&seg, &s).expect("write");
    let l = open(&dir).expect("opens");
    assert_eq!(l.size(), 23);
    assert_eq!(
        l.checkpoint().size,
        23,
        "a new checkpoint covers the surviving durable records"
    );
    drop(l);
    let report = audit::audit(&dir).expect("audit");
    assert_eq!(report.records, 23);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn bad_checksum_under_the_checkpoint_refuses_to_open() {
    let (_t, dir) = ledger_with_batches();
    let seg = segment0(&dir);
    let mut s = read(&seg);
    let (off, _) = frames(&s)[12];
    s[off + 30] ^= 0x01;
    std::fs::write(&seg, &s).expect("write");
    let (path, offset, seq, what) = corrupt_err(open(&dir));
    assert_eq!((path, offset, seq), (seg.clone(), off as u64, 12));
    assert!(
        what.contains("checksum") && what.contains("covered by a signed checkpoint"),
        "{what}"
    );
    // Audit names the same place.
    let err = audit::audit(&dir).expect_err("audit fails");
    assert!(
        err.to_string()
            .contains(&format!("at byte {off} (record seq 12)")),
        "{err}"
    );
    // Even on the very last frame: it is acknowledged, so it is not "torn".
    let mut s = read(&seg);
    s[off + 30] ^= 0x01; // repair
    let (last, _) = *frames(&s).last().expect("frames");
    s[last + 30] ^= 0x01;
    std::fs::write(&seg, &s).expect("write");
    let (_, offset, seq, _) = corrupt_err(open(&dir));
    assert_eq!((offset, seq), (last as u64, 30));
}

#[test]
fn rewritten_record_with_valid_checksum_breaks_the_chain() {
    let (_t, dir) = ledger_with_batches();
    let seg = segment0(&dir);
    let s = read(&seg);
    let f = frames(&s);
    // Re-encode record 5 with a different body, fix its CRC: the next
    // record's prev_link no longer matches.
    let mut r = Record::decode(&f[5].1).expect("decode");
    r.body = sample_body(7);
    let new = r.encode().expect("encode");
    assert_eq!(new.len(), f[5].1.len(), "same length so offsets stay");
    let mut s2 = s[..f[5].0].to_vec();
    s2.extend_from_slice(&(new.len() as u32).to_le_bytes());
    s2.extend_from_slice(&new);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&(new.len() as u32).to_le_bytes()), &new);
    s2.extend_from_slice(&crc.to_le_bytes());
    s2.extend_from_slice(&s[f[6].0..]);
    std::fs::write(&seg, &s2).expect("write");
    let (_, offset, seq, what) = corrupt_err(open(&dir));
    assert_eq!((offset, seq), (f[6].0 as u64, 6));
    assert!(what.contains("chain link mismatch"), "{what}");
}

#[test]
fn sequence_gap_is_named() {
    let (_t, dir) = ledger_with_batches();
    let seg = segment0(&dir);
    let s = read(&seg);
    let f = frames(&s);
    // Drop frame 7 entirely: record 8 now sits where 7 should be.
    let mut s2 = s[..f[7].0].to_vec();
    s2.extend_from_slice(&s[f[8].0..]);
    std::fs::write(&seg, &s2).expect("write");
    let (_, offset, seq, what) = corrupt_err(open(&dir));
    assert_eq!((offset, seq), (f[7].0 as u64, 7));
    assert!(
        what.contains("sequence gap: record carries seq 8"),
        "{what}"
    );
}

#[test]
fn missing_segments_are_named() {
    let opts = LedgerOptions {
        segment_bytes_max: 2_000,
        ..LedgerOptions::default()
    };
    let (t, mut l) = new_ledger(opts);
    for b in 0..12 {
        l.append_batch((b * 3..b * 3 + 3).map(sample_body).collect())
            .expect("append");
    }
    drop(l);
    let dir = ledger_dir(&t);
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    segs.sort();
    assert!(segs.len() >= 4, "small segments roll: {}", segs.len());
    // A missing middle segment.
    let middle = segs[2].clone();
    let saved = read(&middle);
    std::fs::remove_file(&middle).expect("rm");
    match open(&dir) {
        Err(LedgerError::Segments { what }) => {
            assert!(what.contains("a segment is missing"), "{what}");
            assert!(what.contains(&segs[3].display().to_string()), "{what}");
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened with a missing segment"),
    }
    std::fs::write(&middle, &saved).expect("restore");
    // A missing last segment: the checkpoint covers records that are gone.
    let last = segs.last().expect("segs").clone();
    std::fs::remove_file(&last).expect("rm");
    // Named by the file where the records end, its length and the first
    // missing seq (issue 14, F6).
    match open(&dir) {
        Err(LedgerError::Corrupt {
            path, seq, what, ..
        }) => {
            assert!(what.contains("records were lost"), "{what}");
            assert_eq!(path, segs[segs.len() - 2], "{what}");
            assert!(seq > 0, "{what}");
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened with a missing last segment"),
    }
}

#[test]
fn derived_tiles_and_index_are_rebuilt_when_missing_or_wrong() {
    let (t, mut l) = new_ledger(LedgerOptions::default());
    for b in 0..3u64 {
        l.append_batch((b * 300..b * 300 + 300).map(sample_body).collect())
            .expect("append");
    }
    let root = l.root(l.size()).expect("root");
    let proof = l.inclusion_proof(700, l.size()).expect("proof");
    let rec = l.read_record(700).expect("record");
    drop(l);
    let dir = ledger_dir(&t);
    let tile = dir.join("tiles/tile/0/001");
    assert_eq!(read(&tile).len(), 8192);
    // Wrong content of a full tile: detected by the checkpoint root, rebuilt.
    let mut bytes = read(&tile);
    bytes[5] ^= 1;
    std::fs::write(&tile, &bytes).expect("write");
    let l = open(&dir).expect("opens");
    assert_eq!(l.root(l.size()).expect("root"), root);
    drop(l);
    assert_ne!(read(&tile), bytes, "tile rewritten");
    // Missing tiles and index.
    std::fs::remove_dir_all(dir.join("tiles")).expect("rm tiles");
    std::fs::remove_dir_all(dir.join("index")).expect("rm index");
    let l = open(&dir).expect("opens");
    assert_eq!(l.inclusion_proof(700, l.size()).expect("proof"), proof);
    assert_eq!(l.read_record(700).expect("record"), rec);
    drop(l);
    // Explicit reindex gives the same.
    let l = Ledger::reindex(&dir, LedgerOptions::default()).expect("reindex");
    assert_eq!(l.read_record(700).expect("record"), rec);
    assert_eq!(l.root(901).expect("root"), root);
}

#[test]
fn failed_fsync_poisons_the_writer_until_reopen() {
    let fault = SyncFault::default();
    let opts = LedgerOptions {
        sync_fault: Some(fault.clone()),
        ..LedgerOptions::default()
    };
    let (t, mut l) = new_ledger(opts);
    l.append_batch(vec![sample_body(1)]).expect("append");
    fault.fail_next_sync();
    let err = l
        .append_batch(vec![sample_body(2)])
        .expect_err("sync fails");
    assert!(
        matches!(err, LedgerError::Poisoned(ref why) if why.contains("injected fsync failure")),
        "{err}"
    );
    assert_eq!(l.size(), 2, "the failed batch is not acknowledged");
    let again = l
        .append_batch(vec![sample_body(3)])
        .expect_err("still poisoned");
    assert!(matches!(again, LedgerError::Poisoned(_)), "{again}");
    drop(l);
    // After a restart the files are re-read; the ledger verifies.
    let dir = ledger_dir(&t);
    let mut l = open(&dir).expect("reopen");
    assert!(l.size() >= 2);
    l.append_batch(vec![sample_body(4)])
        .expect("append after reopen");
    drop(l);
    audit::audit(&dir).expect("audit");
}

#[test]
fn oversized_record_rejects_the_whole_batch_before_writing() {
    let (t, mut l) = new_ledger(LedgerOptions::default());
    let seg = segment0(&ledger_dir(&t));
    let before = read(&seg);
    let err = l
        .append_batch(vec![
            sample_body(1),
            Body::Voided {
                code: "X".into(),
                reason: "y".repeat(70_000),
            },
        ])
        .expect_err("too large");
    assert!(
        err.to_string().contains("exceeds the limit of 65535 bytes"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 2);
    assert_eq!(read(&seg), before, "nothing written");
    assert_eq!(l.size(), 1);
    l.append_batch(vec![sample_body(1)])
        .expect("writer still usable");
}

#[test]
fn a_second_writer_is_refused() {
    let (t, _l) = new_ledger(LedgerOptions::default());
    let err = open(&ledger_dir(&t)).err().expect("locked");
    assert!(matches!(err, LedgerError::Locked { .. }), "{err}");
}

#[test]
fn an_interrupted_init_can_be_run_again() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("ledger");
    drop(Ledger::init(&dir, "a.example/z/1", LedgerOptions::default()).expect("init"));
    // Simulate a crash after the segment header but before the Genesis record.
    let seg = segment0(&dir);
    let header = read(&seg)[..HEADER].to_vec();
    std::fs::write(&seg, &header).expect("write");
    std::fs::write(
        dir.join("checkpoints"),
        &read(&dir.join("checkpoints"))[..16],
    )
    .expect("write");
    let r = open(&dir);
    assert!(
        matches!(r, Err(LedgerError::NotInitialized { .. })),
        "{:?}",
        r.err()
    );
    let l = Ledger::init(&dir, "a.example/z/1", LedgerOptions::default()).expect("init again");
    assert_eq!(l.size(), 1);
    drop(l);
    assert!(matches!(
        Ledger::init(&dir, "a.example/z/1", LedgerOptions::default()),
        Err(LedgerError::AlreadyInitialized { .. })
    ));
    audit::audit(&dir).expect("audit");
}

#[test]
fn an_unreadable_index_is_recreated_from_the_ledger() {
    let (_t, dir) = ledger_with_batches();
    let index = dir.join("index");
    let mut names: Vec<_> = std::fs::read_dir(&index)
        .expect("index dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "sled wrote files");
    for f in &names {
        std::fs::write(f, b"this is not a sled database").expect("garble");
    }
    let l = open(&dir).expect("opens with a recreated index");
    assert_eq!(l.size(), 31);
    assert_eq!(
        Record::decode(&l.read_record(17).expect("read"))
            .expect("decode")
            .body,
        sample_body(16)
    );
}
