//! The full verification a fast open leaves for later (ARCHITECTURE.md,
//! "Opening a large ledger").
//!
//! Owns: [`Verification`], the shared state of that check (pending, its
//! progress, verified, or the damage it found), and [`VerifyTarget::run`],
//! which re-reads every record the open trusted: each frame's length, CRC,
//! sequence number and chain link, the segment headers, the link at the
//! head the open found, the Merkle root against the signed checkpoint, the
//! level-0 and upper tiles against the records, and the key history the open
//! took from the derived index.
//! Must not do: write anything, or take a lock (it runs on its own thread
//! beside the writer, reading only records below the size the open found,
//! which never change).

use super::audit::{Accumulator, TileCheck};
use super::checkpoint::Checkpoint;
use super::merkle;
use super::record::{Body, Hash32, Record};
use super::recovery::{apply_key_event, is_key_record, list_segments};
use super::segment::{self, SegmentHeader};
use super::{chain, io_err, KeyEntry, LedgerError, TILES_DIR};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Where the verification of the records trusted at open stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyState {
    /// Every record was verified (by the open itself, or in the background).
    Verified,
    /// The background pass has not finished: `checked` of `total` records
    /// are verified so far.
    Pending { checked: u64, total: u64 },
    /// Not run in this process: a read-only open (a read command) checks
    /// what it trusts and each record it reads, not every record;
    /// `zeugnis audit` checks them all.
    NotRun,
    /// The background pass found damage (the error, naming file, offset and
    /// seq): writes are refused from then on.
    Damaged(String),
}

/// The verification state shared by the ledger (which refuses writes once
/// damage is found), the background thread, `status` and `/metrics`.
#[derive(Debug)]
pub struct Verification {
    /// Pending, verified or damaged.
    state: Mutex<VerifyState>,
    /// Records verified so far (progress of a pending pass).
    checked: AtomicU64,
}

impl Verification {
    /// Nothing left to verify (the open checked every record).
    pub fn verified() -> Arc<Verification> {
        Arc::new(Verification {
            state: Mutex::new(VerifyState::Verified),
            checked: AtomicU64::new(0),
        })
    }

    /// A read-only open: the full pass is not run (see [`VerifyState::NotRun`]).
    pub fn not_run() -> Arc<Verification> {
        Arc::new(Verification {
            state: Mutex::new(VerifyState::NotRun),
            checked: AtomicU64::new(0),
        })
    }

    /// A pass over `total` records is still to run.
    pub fn pending(total: u64) -> Arc<Verification> {
        Arc::new(Verification {
            state: Mutex::new(VerifyState::Pending { checked: 0, total }),
            checked: AtomicU64::new(0),
        })
    }

    /// The current state.
    pub fn state(&self) -> VerifyState {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match s {
            VerifyState::Pending { total, .. } => VerifyState::Pending {
                checked: self.checked.load(Ordering::Relaxed),
                total,
            },
            other => other,
        }
    }

    /// The damage found, if any.
    pub fn damage(&self) -> Option<String> {
        match &*self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            VerifyState::Damaged(why) => Some(why.clone()),
            _ => None,
        }
    }

    fn set(&self, next: VerifyState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = next;
    }
}

/// What a fast open trusted without reading every record, to be checked
/// by [`VerifyTarget::run`].
#[derive(Clone, Debug)]
pub struct VerifyTarget {
    /// The data directory.
    pub(super) dir: PathBuf,
    /// Records the open found (all of them are checked).
    pub(super) size: u64,
    /// Chain link after record `size - 1`, as the open found it.
    pub(super) head_link: Hash32,
    /// The latest signed checkpoint at open (its root is recomputed).
    pub(super) checkpoint: Checkpoint,
    /// The key history the open read through the derived index.
    pub(super) keys: Vec<KeyEntry>,
}

impl VerifyTarget {
    /// Records to verify.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Verifies every record below the open's size and records the outcome
    /// in `state`: [`VerifyState::Verified`], or [`VerifyState::Damaged`]
    /// with the error (also returned).
    pub fn run(&self, state: &Verification) -> Result<(), LedgerError> {
        let result = self.check(state);
        match &result {
            Ok(()) => state.set(VerifyState::Verified),
            Err(e) => state.set(VerifyState::Damaged(e.to_string())),
        }
        result
    }

    fn check(&self, state: &Verification) -> Result<(), LedgerError> {
        let tiles_root = self.dir.join(TILES_DIR);
        let mut tiles = TileCheck {
            root: &tiles_root,
            rows: Vec::new(),
            completed: Vec::new(),
            checked: 0,
            wrong: Vec::new(),
        };
        let mut acc = Accumulator::default();
        let mut keys: Vec<KeyEntry> = Vec::new();
        let mut origin = String::new();
        let mut link = chain::GENESIS_PREV_LINK;
        let mut head_link = None;
        let mut root_at_checkpoint = None;
        let mut next = 0u64;
        for (first, path) in list_segments(&self.dir)? {
            if first >= self.size {
                break;
            }
            if first != next {
                return Err(LedgerError::Segments {
                    what: format!(
                        "segment {} starts at seq {first} but the records before it end at seq \
                         {next} (a segment is missing or out of place)",
                        path.display()
                    ),
                });
            }
            let bytes = fs::read(&path).map_err(io_err("read", &path))?;
            let header = SegmentHeader::decode(&bytes).map_err(|why| LedgerError::Corrupt {
                path: path.clone(),
                offset: 0,
                seq: first,
                what: format!("segment header: {why}"),
            })?;
            if header.first_seq != first || header.prev_link != link {
                return Err(LedgerError::Corrupt {
                    path: path.clone(),
                    offset: 20,
                    seq: first,
                    what: "segment header does not continue the chain of the previous segment"
                        .into(),
                });
            }
            let mut failure = None;
            let scan = segment::scan_segment(&path, &bytes, header, &mut |v| {
                if v.seq >= self.size || failure.is_some() {
                    return;
                }
                let leaf = merkle::leaf_hash(v.record);
                acc.push(leaf);
                tiles.push(0, leaf);
                if v.seq + 1 == self.checkpoint.size {
                    root_at_checkpoint = Some(acc.root());
                }
                if v.seq + 1 == self.size {
                    head_link = Some(*v.link);
                }
                if is_key_record(v.record) {
                    match Record::decode(v.record) {
                        Ok(r) => {
                            if let Body::Genesis { origin: o, .. } = &r.body {
                                origin = o.clone();
                            }
                            apply_key_event(&mut keys, &origin, v.seq, &r.body);
                        }
                        Err(e) => {
                            failure = Some(LedgerError::Corrupt {
                                path: path.clone(),
                                offset: v.offset,
                                seq: v.seq,
                                what: format!("key record does not decode: {e}"),
                            })
                        }
                    }
                }
                if v.seq % 65_536 == 0 {
                    state.checked.store(v.seq, Ordering::Relaxed);
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
            if let Some(d) = scan.damage {
                if d.seq < self.size {
                    return Err(LedgerError::Corrupt {
                        path: path.clone(),
                        offset: d.offset,
                        seq: d.seq,
                        what: format!(
                            "{} (found by the background verification; the record is below \
                             the ledger size the open found)",
                            d.what.describe()
                        ),
                    });
                }
            }
            link = scan.end_link;
            next = first + scan.records;
        }
        state
            .checked
            .store(acc_size(&acc, self.size), Ordering::Relaxed);
        if next < self.size {
            return Err(LedgerError::Segments {
                what: format!(
                    "the segments end at record {next}, but the open found {} records",
                    self.size
                ),
            });
        }
        if self.size > 0 && head_link != Some(self.head_link) {
            return Err(LedgerError::Segments {
                what: format!(
                    "the chain link after record {} differs from the one the open found \
                     (a record below it was changed)",
                    self.size - 1
                ),
            });
        }
        let computed = match root_at_checkpoint {
            Some(r) => r,
            None if self.checkpoint.size == 0 => merkle::empty_root(),
            None => {
                return Err(LedgerError::Segments {
                    what: format!(
                        "the records end before the checkpoint's size {}",
                        self.checkpoint.size
                    ),
                })
            }
        };
        if computed != self.checkpoint.root {
            return Err(LedgerError::CheckpointMismatch {
                size: self.checkpoint.size,
                expected: hex::encode(self.checkpoint.root),
                computed: hex::encode(computed),
            });
        }
        if keys != self.keys {
            return Err(LedgerError::Segments {
                what: format!(
                    "the key history in the records ({} keys) differs from the one the open \
                     read through the index ({} keys)",
                    keys.len(),
                    self.keys.len()
                ),
            });
        }
        if let Some(w) = tiles.wrong.first() {
            return Err(LedgerError::Segments {
                what: format!(
                    "derived tile {w} ({} tile(s) wrong in all): proofs served from it would not \
                     verify; run `zeugnis reindex` (daemon stopped) to rebuild the tiles",
                    tiles.wrong.len()
                ),
            });
        }
        Ok(())
    }
}

/// Records the accumulator took in (at most `size`).
fn acc_size(acc: &Accumulator, size: u64) -> u64 {
    acc.size().min(size)
}
