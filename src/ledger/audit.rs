//! The offline audit of a ledger directory (`zeugnis audit`, FORMAT.md §13).
//!
//! Owns: re-walking every record (framing, canonical decoding, sequence,
//! chain), recomputing the Merkle tree from the records, checking every
//! checkpoint (origin, signature by a key valid at its size, root equal to
//! the records' root at its size, sizes never shrinking, hence each one
//! consistent with the one before) and comparing the derived tiles.
//! Must not do: write anything, or take the writer lock (it runs beside a
//! live daemon; records beyond the latest checkpoint may be in flight).

use super::checkpoint::{self, Checkpoint};
use super::merkle::{self, node_hash, TreeHash};
use super::record::{Body, Kind, Record};
use super::recovery::{apply_key_event, list_segments, read_checkpoints, verify_with_policy};
use super::segment::{self, SegmentHeader};
use super::tiles::{tile_path, TILE_WIDTH};
use super::{chain, io_err, KeyEntry, LedgerError, CHECKPOINTS_FILE, SEGMENTS_DIR, TILES_DIR};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// What the audit checked.
#[derive(Clone, Debug, Default)]
pub struct AuditReport {
    /// Segment files read.
    pub segments: u64,
    /// Records verified.
    pub records: u64,
    /// Records per kind.
    pub kinds: BTreeMap<&'static str, u64>,
    /// Attributed records per operator id (FORMAT.md §3.5, version 6);
    /// the others are unattributed.
    pub operators: BTreeMap<String, u64>,
    /// Checkpoints verified.
    pub checkpoints: u64,
    /// Size of the latest checkpoint.
    pub checkpoint_size: u64,
    /// Root of the latest checkpoint (hex).
    pub checkpoint_root: String,
    /// Keys in the key history.
    pub keys: u64,
    /// Full tiles compared with the records.
    pub tiles_checked: u64,
    /// Independently kept checkpoints checked (`audit --checkpoint`).
    pub kept_checkpoints: u64,
    /// Things that are not damage to the ledger but worth knowing.
    pub warnings: Vec<String>,
}

/// Streaming Merkle accumulator: O(log n) memory.
#[derive(Default)]
pub(super) struct Accumulator {
    /// (height, hash) of complete subtrees, left to right.
    stack: Vec<(u32, TreeHash)>,
    size: u64,
}

impl Accumulator {
    pub(super) fn push(&mut self, leaf: TreeHash) {
        let mut node = (0u32, leaf);
        while let Some(top) = self.stack.last() {
            if top.0 != node.0 {
                break;
            }
            let (h, left) = self.stack.pop().expect("non-empty");
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.stack.push(node);
        self.size += 1;
    }

    pub(super) fn size(&self) -> u64 {
        self.size
    }

    pub(super) fn root(&self) -> TreeHash {
        let mut it = self.stack.iter().rev();
        match it.next() {
            None => merkle::empty_root(),
            Some(first) => it.fold(first.1, |acc, (_, left)| node_hash(left, &acc)),
        }
    }
}

/// Compares the tiles on disk with the hashes recomputed from the records.
pub(super) struct TileCheck<'a> {
    pub(super) root: &'a Path,
    pub(super) rows: Vec<Vec<TreeHash>>,
    pub(super) completed: Vec<u64>,
    pub(super) checked: u64,
    pub(super) wrong: Vec<String>,
}

impl TileCheck<'_> {
    pub(super) fn push(&mut self, level: usize, h: TreeHash) {
        if self.rows.len() <= level {
            self.rows.push(Vec::new());
            self.completed.push(0);
        }
        self.rows[level].push(h);
        if self.rows[level].len() as u64 == TILE_WIDTH {
            let row = std::mem::take(&mut self.rows[level]);
            let index = self.completed[level];
            self.completed[level] += 1;
            let rel = tile_path(level as u8, index, None);
            match fs::read(self.root.join(&rel)) {
                Ok(b) if b == row.concat() => {}
                Ok(_) => self.wrong.push(format!("{rel} differs from the records")),
                Err(_) => self.wrong.push(format!("{rel} is missing")),
            }
            self.checked += 1;
            let mut level_row = row;
            while level_row.len() > 1 {
                level_row = level_row
                    .chunks_exact(2)
                    .map(|p| node_hash(&p[0], &p[1]))
                    .collect();
            }
            self.push(level + 1, level_row[0]);
        }
    }
}

/// Audits the ledger in `dir`; returns the report or the first problem.
pub fn audit(dir: &Path) -> Result<AuditReport, LedgerError> {
    audit_with_kept(dir, &[])
}

/// A checkpoint kept outside the data directory (`audit --checkpoint FILE`):
/// where it came from, and the signed note.
#[derive(Debug, Clone)]
pub struct KeptCheckpoint {
    /// File name or other label, for messages.
    pub label: String,
    /// The signed note as kept.
    pub note: String,
}

/// [`audit`], also checking independently kept checkpoints (FORMAT.md
/// §13.1): each must be signed under the signature policy by a key of this
/// log, its root must equal the ledger's root at its size, and it must be no
/// newer than the ledger, neither than its segments nor than its
/// `checkpoints` file (a newer one proves a rollback).
pub fn audit_with_kept(dir: &Path, kept: &[KeptCheckpoint]) -> Result<AuditReport, LedgerError> {
    if !dir.join(SEGMENTS_DIR).is_dir() {
        return Err(LedgerError::NotInitialized {
            path: dir.to_path_buf(),
        });
    }
    let mut report = AuditReport::default();
    let cp_path = dir.join(CHECKPOINTS_FILE);
    let cps = read_checkpoints(&cp_path, true)?;
    if let (Some(at), true) = (cps.torn_at, cps.torn_whole_frame) {
        return Err(LedgerError::Corrupt {
            path: cp_path.clone(),
            offset: at,
            seq: cps.count,
            what: format!(
                "checkpoint frame {} is complete but its checksum fails: a checkpoint that was \
                 written whole (and may have been served) is damaged",
                cps.count
            ),
        });
    }
    if let Some(at) = cps.torn_at {
        report.warnings.push(format!(
            "{} has a torn tail at byte {at} (an unacknowledged checkpoint; truncated on next open)",
            cp_path.display()
        ));
    }
    let mut parsed = Vec::new();
    for (offset, note) in &cps.notes {
        let text = checkpoint::parse_note(note)?.text;
        let cp = Checkpoint::parse(&text).map_err(|e| LedgerError::Corrupt {
            path: cp_path.clone(),
            offset: *offset,
            seq: 0,
            what: e.to_string(),
        })?;
        parsed.push((*offset, cp, note.as_str()));
    }
    for w in parsed.windows(2) {
        if w[1].1.size < w[0].1.size {
            return Err(LedgerError::Corrupt {
                path: cp_path.clone(),
                offset: w[1].0,
                seq: w[1].1.size,
                what: format!(
                    "checkpoint size {} is smaller than the previous {}",
                    w[1].1.size, w[0].1.size
                ),
            });
        }
    }
    let floor = parsed.last().map_or(0, |p| p.1.size);
    let kept_fail = |k: &KeptCheckpoint, what: String| LedgerError::Segments {
        what: format!("kept checkpoint {}: {what}", k.label),
    };
    let mut kept_parsed: Vec<(&KeptCheckpoint, Checkpoint)> = Vec::new();
    for k in kept {
        let text = checkpoint::parse_note(&k.note)
            .map_err(|e| kept_fail(k, e.to_string()))?
            .text;
        let cp = Checkpoint::parse(&text).map_err(|e| kept_fail(k, e.to_string()))?;
        kept_parsed.push((k, cp));
    }
    kept_parsed.sort_by_key(|(_, cp)| cp.size);
    let mut next_kept = 0usize;
    // Signatures are checked after the scan, against the whole key history
    // (a key added later or retired earlier must not sign: FORMAT.md §8.5).
    let mut sig_checks: Vec<(String, u64, String)> = Vec::new();

    let mut acc = Accumulator::default();
    let mut keys: Vec<KeyEntry> = Vec::new();
    let mut origin: Option<String> = None;
    let mut next_cp = 0usize;
    let mut link = chain::GENESIS_PREV_LINK;
    let mut tiles = TileCheck {
        root: &dir.join(TILES_DIR),
        rows: Vec::new(),
        completed: Vec::new(),
        checked: 0,
        wrong: Vec::new(),
    };
    // Checks every checkpoint whose size the accumulator has just reached.
    let mut check_cps = |acc: &Accumulator,
                         keys: &[KeyEntry],
                         origin: &Option<String>,
                         report: &mut AuditReport| {
        while next_cp < parsed.len() && parsed[next_cp].1.size == acc.size {
            let (offset, cp, note) = &parsed[next_cp];
            let fail = |what: String| LedgerError::Corrupt {
                path: cp_path.clone(),
                offset: *offset,
                seq: cp.size,
                what,
            };
            if Some(&cp.origin) != origin.as_ref() {
                return Err(fail(format!(
                    "checkpoint origin {:?} differs from the ledger origin",
                    cp.origin
                )));
            }
            if cp.root != acc.root() {
                return Err(LedgerError::CheckpointMismatch {
                    size: cp.size,
                    expected: hex::encode(cp.root),
                    computed: hex::encode(acc.root()),
                });
            }
            let _ = keys;
            sig_checks.push((
                format!(
                    "{} offset {offset} (checkpoint {next_cp})",
                    cp_path.display()
                ),
                cp.size,
                note.to_string(),
            ));
            report.checkpoints += 1;
            report.checkpoint_size = cp.size;
            report.checkpoint_root = hex::encode(cp.root);
            next_cp += 1;
        }
        while next_kept < kept_parsed.len() && kept_parsed[next_kept].1.size == acc.size {
            let (k, cp) = &kept_parsed[next_kept];
            if Some(&cp.origin) != origin.as_ref() {
                return Err(kept_fail(
                    k,
                    format!("origin {:?} is not this log's origin", cp.origin),
                ));
            }
            if cp.root != acc.root() {
                return Err(kept_fail(
                    k,
                    format!(
                        "its root {} at size {} differs from the ledger's root {} (the ledger was rewritten, or this is another log)",
                        hex::encode(cp.root),
                        cp.size,
                        hex::encode(acc.root())
                    ),
                ));
            }
            sig_checks.push((
                format!("kept checkpoint {}", k.label),
                cp.size,
                k.note.clone(),
            ));
            report.kept_checkpoints += 1;
            next_kept += 1;
        }
        Ok::<(), LedgerError>(())
    };
    check_cps(&acc, &keys, &origin, &mut report)?;

    // Per code, the record and BLAKE3 of its current scan: a ScanReplaced
    // must name it (FORMAT.md §3.3, kind 13). About 100 bytes per
    // certificate with a scan (a 12-byte code, a seq and a hash).
    let mut scans: std::collections::HashMap<Vec<u8>, (u64, [u8; 32])> = Default::default();
    let segs = list_segments(dir)?;
    let count = segs.len();
    for (i, (first, path)) in segs.iter().enumerate() {
        let bytes = fs::read(path).map_err(io_err("read", path))?;
        let header = SegmentHeader::decode(&bytes).map_err(|why| LedgerError::Corrupt {
            path: path.clone(),
            offset: 0,
            seq: *first,
            what: format!("segment header: {why}"),
        })?;
        if header.first_seq != *first || *first != acc.size {
            return Err(LedgerError::Segments {
                what: format!(
                    "segment {} starts at seq {} but seq {} was expected (missing segment or gap)",
                    path.display(),
                    header.first_seq,
                    acc.size
                ),
            });
        }
        if header.prev_link != link {
            return Err(LedgerError::Corrupt {
                path: path.clone(),
                offset: 20,
                seq: *first,
                what: "segment header prev_link does not match the chain".into(),
            });
        }
        let mut failure: Option<LedgerError> = None;
        let scan = segment::scan_segment(path, &bytes, header, &mut |v| {
            if failure.is_some() {
                return;
            }
            let record = match Record::decode(v.record) {
                Ok(r) => r,
                Err(e) => {
                    failure = Some(LedgerError::Corrupt {
                        path: path.clone(),
                        offset: v.offset,
                        seq: v.seq,
                        what: format!("record does not decode canonically: {e}"),
                    });
                    return;
                }
            };
            let kind = record.body.kind();
            if (kind == Kind::Genesis) != (v.seq == 0) {
                failure = Some(LedgerError::Corrupt {
                    path: path.clone(),
                    offset: v.offset,
                    seq: v.seq,
                    what: "record 0 and only record 0 must be Genesis".into(),
                });
                return;
            }
            if let Body::Genesis { origin: o, .. } = &record.body {
                origin = Some(o.clone());
            }
            match &record.body {
                Body::ScanArchived { code, scan, .. } => {
                    scans.insert(code.as_bytes().to_vec(), (v.seq, scan.blake3));
                }
                Body::ScanReplaced {
                    code,
                    scan,
                    replaced_seq,
                    replaced_blake3,
                    ..
                } => {
                    let current = scans.get(code.as_bytes()).copied();
                    if current != Some((*replaced_seq, *replaced_blake3)) {
                        failure = Some(LedgerError::Corrupt {
                            path: path.clone(),
                            offset: v.offset,
                            seq: v.seq,
                            what: format!(
                                "ScanReplaced of {code} names record {replaced_seq} with scan {} as the replaced scan, but the current scan was {} (FORMAT.md §3.3, kind 13)",
                                hex::encode(replaced_blake3),
                                current.map_or("none".to_string(), |(seq, h)| format!(
                                    "record {seq} with scan {}",
                                    hex::encode(h)
                                ))
                            ),
                        });
                        return;
                    }
                    scans.insert(code.as_bytes().to_vec(), (v.seq, scan.blake3));
                }
                _ => {}
            }
            *report.kinds.entry(kind.name()).or_default() += 1;
            if let Some(op) = &record.operator {
                *report.operators.entry(op.to_string()).or_default() += 1;
            }
            apply_key_event(
                &mut keys,
                origin.as_deref().unwrap_or_default(),
                v.seq,
                &record.body,
            );
            let leaf = merkle::leaf_hash(v.record);
            acc.push(leaf);
            tiles.push(0, leaf);
            if let Err(e) = check_cps(&acc, &keys, &origin, &mut report) {
                failure = Some(e);
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        link = scan.end_link;
        if let Some(d) = scan.damage {
            let last = i + 1 == count;
            if last && d.seq >= floor && (d.what.is_tearable() || d.zero_tail) {
                report.warnings.push(format!(
                    "{} has a torn tail at byte {} (seq {}: {}); an unacknowledged batch, truncated on next open",
                    path.display(),
                    d.offset,
                    d.seq,
                    d.what.describe()
                ));
            } else {
                return Err(LedgerError::Corrupt {
                    path: path.clone(),
                    offset: d.offset,
                    seq: d.seq,
                    what: d.what.describe(),
                });
            }
        }
        report.segments += 1;
    }
    report.records = acc.size;
    if let Some((k, cp)) = kept_parsed.get(next_kept) {
        return Err(kept_fail(
            k,
            format!(
                "it is for tree size {} but the ledger holds only {} records: the ledger was rolled back (records cut) or is an old copy",
                cp.size, acc.size
            ),
        ));
    }
    if let Some((k, cp)) = kept_parsed.iter().rev().find(|(_, cp)| cp.size > floor) {
        return Err(kept_fail(
            k,
            format!(
                "it was issued for tree size {} but the ledger's checkpoints file ends at size {floor}: checkpoints were cut (rollback)",
                cp.size
            ),
        ));
    }
    for (what, size, note) in &sig_checks {
        verify_with_policy(note, *size, &keys, None).map_err(|e| LedgerError::Segments {
            what: format!("{what}, tree size {size}: {e}"),
        })?;
    }
    if next_cp < parsed.len() {
        return Err(LedgerError::Segments {
            what: format!(
                "checkpoint for size {} but the segments hold only {} records (records were lost)",
                parsed[next_cp].1.size, acc.size
            ),
        });
    }
    if acc.size > floor {
        report.warnings.push(format!(
            "{} record(s) beyond the latest checkpoint (in flight, or signed on next open)",
            acc.size - floor
        ));
    }
    // Every open needs the active keys' files: a damaged one is damage.
    // An export (`export-archive`: `keys.json` beside the segments, no
    // `keys/` folder) never carries the private keys; its signatures are
    // checked above against the key history, which is all a verifier needs.
    let export = dir.join("keys.json").is_file() && !dir.join(super::KEYS_DIR).exists();
    if export {
        report.warnings.push(
            "an export (keys.json, no keys/ folder): the private signing key files are not part of it and were not checked".into(),
        );
    }
    for k in keys
        .iter()
        .filter(|k| k.retired_seq.is_none())
        .filter(|_| !export)
    {
        let path = super::key_path(dir, &k.verifier);
        let key = checkpoint::read_key_file(&path)?;
        if key.verifying_key() != k.verifier.key {
            return Err(LedgerError::Note(checkpoint::NoteError::KeyFile {
                path: path.display().to_string(),
                reason: "holds a different key than the ledger's key history".into(),
            }));
        }
    }
    report.keys = keys.len() as u64;
    report.tiles_checked = tiles.checked;
    if let Some(w) = tiles.wrong.first() {
        // FORMAT.md §7: a tile that does not match the records is a failure
        // for a verifier (it may have been served); the derived copy here is
        // rebuilt by `zeugnis reindex` or on the next open.
        return Err(LedgerError::Segments {
            what: format!(
                "derived tile {w} ({} tile(s) wrong in all); a verifier must not trust it: run `zeugnis reindex` (or restart the daemon) to rebuild the tiles",
                tiles.wrong.len()
            ),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::merkle::{leaf_hash, MemoryTree};

    #[test]
    fn accumulator_matches_tree_root_at_every_size() {
        let mut acc = Accumulator::default();
        let mut leaves = Vec::new();
        assert_eq!(acc.root(), merkle::empty_root());
        for i in 0..300u32 {
            let l = leaf_hash(&i.to_le_bytes());
            leaves.push(l);
            acc.push(l);
            let t = MemoryTree::from_leaf_hashes(leaves.clone());
            assert_eq!(
                acc.root(),
                merkle::root(&t, t.size()).expect("root"),
                "size {}",
                i + 1
            );
        }
    }
}
