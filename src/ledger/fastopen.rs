//! The open whose cost does not grow with the ledger (ARCHITECTURE.md,
//! "Opening a large ledger").
//!
//! Owns: [`scan_fast`], which trusts the latest signed checkpoint and the
//! derived index and tiles where they agree with it, and reads only the
//! records from the last indexed position before the older of (tiles,
//! index, checkpoint) to the end of the segments; and
//! [`open_read_only`], the open of the read commands, which takes no lock
//! and writes nothing but the derived index.
//! Must not do: trust anything it did not check against the signed
//! checkpoint, or report damage on the strength of derived data alone:
//! whenever the derived data disagrees, it returns the reason and the
//! caller falls back to the full open (`recovery::open`), which rebuilds it.
//!
//! What is checked here: the checkpoint's signature by a key of the key
//! history active at its size; the key records (read through the index's key
//! tree, each frame's CRC and sequence number, and its leaf hash against the
//! tiles); the tiles' root at the checkpoint's size against the signed root;
//! the index head's chain link against the records; and every frame from the
//! scan's start to the end of the last segment (CRC, sequence, chain), with
//! the torn-tail rule of FORMAT.md §12.3 beyond the checkpoint. What is not
//! (every frame below the scan's start) is left to
//! [`verify::VerifyTarget::run`](super::verify::VerifyTarget::run).

use super::checkpoint::{self, Checkpoint};
use super::index::{self, Index, Location};
use super::merkle::{self, NodeSource};
use super::record::{Hash32, Record};
use super::recovery::{
    apply_key_event, is_key_record, list_segments, read_checkpoints, verifiers_for_size,
    ScanOutcome,
};
use super::segment::{self, SegmentHeader, SEGMENT_HEADER_BYTES};
use super::tiles::TileStore;
use super::verify::{Verification, VerifyTarget};
use super::{
    chain, durable, io_err, Ledger, LedgerError, LedgerOptions, RecordReader, Tail,
    CHECKPOINTS_FILE, INDEX_DIR, TILES_DIR,
};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What the fast scan produced.
pub(super) struct FastScan {
    /// As the full scan's outcome (size, head link, tail length, key
    /// history).
    pub(super) outcome: ScanOutcome,
    /// Tiles restored and fed up to the size.
    pub(super) tiles: TileStore,
    /// The first record whose frame the scan checked; the records below it
    /// are left to the background verification.
    pub(super) scanned_from: u64,
}

/// Whether the scan may repair (writer) or only read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Holds the writer lock: truncates a torn tail, indexes every record.
    Writer,
    /// No lock: stops at the checkpoint's size, changes no ledger file.
    ReadOnly,
}

/// Reads a segment's header and its bytes from `offset` to the end.
fn read_tail(path: &Path, offset: u64) -> Result<(SegmentHeader, Vec<u8>), LedgerError> {
    let mut f = File::open(path).map_err(io_err("open", path))?;
    let mut head = [0u8; SEGMENT_HEADER_BYTES];
    f.read_exact(&mut head).map_err(io_err("read", path))?;
    let header = SegmentHeader::decode(&head).map_err(|why| LedgerError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        seq: 0,
        what: format!("segment header: {why}"),
    })?;
    f.seek(SeekFrom::Start(offset))
        .map_err(io_err("seek", path))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io_err("read", path))?;
    Ok((header, bytes))
}

/// The fast scan (see the module doc). `Ok(Err(why))`: the derived data
/// cannot be trusted as it is (missing, behind, ahead, or not matching the
/// checkpoint); the caller opens the slow way. `Err`: damage the full open
/// would report too (a bad frame in the records scanned), or an I/O error.
pub(super) fn scan_fast(
    dir: &Path,
    latest: Option<&(u64, Checkpoint, String)>,
    index: &Index,
    mode: Mode,
) -> Result<Result<FastScan, String>, LedgerError> {
    let Some((_, cp, note)) = latest else {
        return Ok(Err("no signed checkpoint yet".into()));
    };
    let floor = cp.size;
    let index_err = |source| LedgerError::Index {
        path: dir.join(INDEX_DIR),
        source,
    };
    let Some((head_size, head_link)) = index.head().map_err(index_err)? else {
        return Ok(Err(
            "the derived index is missing or of another version".into()
        ));
    };
    let tiles_dir = dir.join(TILES_DIR);
    let mut tiles =
        TileStore::open_bisect(&tiles_dir, floor).map_err(io_err("open tiles", &tiles_dir))?;
    let start = tiles.size().min(head_size).min(floor);
    // Start at or before the record before `start`, so that the record the
    // index head's link follows is among those scanned.
    let Some((at, loc)) = index
        .location_at_or_before(start.saturating_sub(1))
        .map_err(index_err)?
    else {
        return Ok(Err("the derived index has no record locations".into()));
    };
    let segs = list_segments(dir)?;
    let Some(first_pos) = segs.iter().position(|(f, _)| *f == loc.segment) else {
        return Ok(Err(format!(
            "the derived index names segment {} which does not exist",
            loc.segment
        )));
    };
    let tiles_from = tiles.size();
    let writer = mode == Mode::Writer;
    let mut seq = at;
    let mut link: Option<Hash32> = (at == 0).then_some(chain::GENESIS_PREV_LINK);
    let mut tail_len = 0;
    let mut leaves = Vec::new();
    let mut locations: Vec<(u64, Location)> = Vec::new();
    let mut new_key_seqs = Vec::new();
    let mut scanned_keys: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut probe = None;
    let mut floor_link = None;
    for (j, (first, path)) in segs[first_pos..].iter().enumerate() {
        let last = first_pos + j + 1 == segs.len();
        let (header, bytes, base, from) = if j == 0 {
            let (h, b) = read_tail(path, loc.offset)?;
            (h, b, loc.offset, 0)
        } else {
            let bytes = fs::read(path).map_err(io_err("read", path))?;
            let header = match SegmentHeader::decode(&bytes) {
                Ok(h) => h,
                Err(_) if last && *first >= floor && bytes.len() <= SEGMENT_HEADER_BYTES => {
                    // A segment whose creation was cut short; the full open
                    // removes it.
                    return Ok(Err(format!(
                        "segment {} was torn during its creation",
                        path.display()
                    )));
                }
                Err(why) => {
                    return Err(LedgerError::Corrupt {
                        path: path.clone(),
                        offset: 0,
                        seq: *first,
                        what: format!("segment header: {why}"),
                    })
                }
            };
            if *first != seq || header.first_seq != *first {
                return Err(LedgerError::Segments {
                    what: format!(
                        "segment {} starts at seq {first} but the records before it end at seq \
                         {seq} (a segment is missing or out of place)",
                        path.display()
                    ),
                });
            }
            if Some(header.prev_link) != link {
                return Err(LedgerError::Corrupt {
                    path: path.clone(),
                    offset: 20,
                    seq: *first,
                    what: "segment header prev_link does not match the previous segment's last \
                           link"
                        .into(),
                });
            }
            (header, bytes, 0, SEGMENT_HEADER_BYTES)
        };
        if header.first_seq != *first {
            return Err(LedgerError::Corrupt {
                path: path.clone(),
                offset: 12,
                seq: *first,
                what: format!(
                    "header says first seq {}, file name says {first}",
                    header.first_seq
                ),
            });
        }
        let seg_first = *first;
        let scan = segment::scan_from(path, &bytes, (base, from), header, seq, link, &mut |v| {
            let keep = writer || v.seq < floor;
            if keep && v.seq >= tiles_from {
                leaves.push(merkle::leaf_hash(v.record));
            }
            if keep && v.seq >= head_size && index::indexed(v.seq, seg_first) {
                locations.push((
                    v.seq,
                    Location {
                        segment: seg_first,
                        offset: v.offset,
                    },
                ));
            }
            if v.seq + 1 == head_size {
                probe = Some(*v.link);
            }
            if v.seq + 1 == floor {
                floor_link = Some(*v.link);
            }
            if keep && is_key_record(v.record) {
                if v.seq >= head_size {
                    new_key_seqs.push(v.seq);
                }
                scanned_keys.push((v.seq, v.record.to_vec()));
            }
        });
        let mut valid_len = scan.valid_bytes;
        if let Some(d) = &scan.damage {
            if j == 0 && d.offset == loc.offset {
                // The index led to something that is not record `at`: the
                // derived data is wrong, not (as far as this shows) the ledger.
                return Ok(Err(format!(
                    "the derived index's location of record {at} does not hold it ({})",
                    d.what.describe()
                )));
            }
            let tearable = d.what.is_tearable() || d.zero_tail;
            if last && tearable && d.seq >= floor {
                if writer {
                    tracing::warn!(
                        path = %path.display(),
                        offset = d.offset,
                        seq = d.seq,
                        dropped_bytes = scan.file_bytes - d.offset,
                        what = %d.what.describe(),
                        "truncating torn tail (an unacknowledged batch)"
                    );
                    durable::truncate_durable(path, d.offset).map_err(io_err("truncate", path))?;
                } else {
                    tracing::info!(
                        path = %path.display(),
                        offset = d.offset,
                        seq = d.seq,
                        "torn tail beyond the latest checkpoint (read-only: left for the writer to cut)"
                    );
                }
                valid_len = d.offset;
            } else {
                return Err(super::recovery::damage_error(path, d, floor, last));
            }
        }
        seq = seg_first + scan.records;
        link = Some(scan.end_link);
        tail_len = valid_len;
    }
    let end_link = link.unwrap_or(chain::GENESIS_PREV_LINK);
    if seq < floor {
        // Records are missing: the full open names where.
        return Ok(Err(format!(
            "the segments end at record {seq}, below the checkpoint's {floor}"
        )));
    }
    if head_size > seq {
        return Ok(Err(format!(
            "the derived index claims {head_size} records, the segments hold {seq}"
        )));
    }
    if head_size > 0 && probe != Some(head_link) {
        return Ok(Err(
            "the derived index head's chain link differs from the records".into(),
        ));
    }
    let (size, size_link) = if writer {
        (seq, end_link)
    } else {
        (floor, floor_link.unwrap_or(chain::GENESIS_PREV_LINK))
    };
    tiles
        .append(&leaves)
        .map_err(io_err("write tile", &tiles_dir))?;
    if tiles.size() != size {
        return Ok(Err(format!(
            "the tiles hold {} leaves after the scan, the ledger {size}",
            tiles.size()
        )));
    }
    if head_size < size {
        index
            .apply(&locations, &new_key_seqs, size, &size_link)
            .map_err(index_err)?;
    }
    if merkle::root(&tiles, floor)? != cp.root {
        return Ok(Err(
            "the derived tiles do not reproduce the signed checkpoint's root".into(),
        ));
    }
    // The key history: records below the scan through the index's key tree,
    // each checked (frame, seq, leaf hash against the tiles just matched
    // with the signed root); the rest from the scan.
    let reader = RecordReader {
        dir: dir.to_path_buf(),
        index: index.clone(),
    };
    let mut key_records = Vec::new();
    for k in index.key_seqs(at).map_err(index_err)? {
        let bytes = match reader.read_record(k, size) {
            Ok(b) => b,
            Err(e) => return Ok(Err(format!("key record {k} from the index: {e}"))),
        };
        if !is_key_record(&bytes) || tiles.node(0, k)? != merkle::leaf_hash(&bytes) {
            return Ok(Err(format!(
                "the derived index names record {k} as a key record, but it is not one"
            )));
        }
        key_records.push((k, bytes));
    }
    key_records.extend(scanned_keys);
    let mut key_events = Vec::new();
    for (k, bytes) in key_records {
        match Record::decode(&bytes) {
            Ok(r) => key_events.push((k, r.body)),
            Err(e) => return Ok(Err(format!("key record {k} does not decode: {e}"))),
        }
    }
    let origin = match key_events.first() {
        Some((0, super::record::Body::Genesis { origin, .. })) => origin.clone(),
        _ => {
            return Ok(Err(
                "the derived index does not lead to the Genesis record".into()
            ))
        }
    };
    let mut keys = Vec::new();
    for (k, body) in &key_events {
        apply_key_event(&mut keys, &origin, *k, body);
    }
    if cp.origin != origin
        || checkpoint::verify_note(note, &verifiers_for_size(&keys, floor)).is_err()
    {
        return Ok(Err(
            "the checkpoint does not verify with the key history read through the index".into(),
        ));
    }
    Ok(Ok(FastScan {
        outcome: ScanOutcome {
            size,
            head_link: size_link,
            tail_len,
            probe_link: probe,
            key_events,
        },
        tiles,
        scanned_from: at,
    }))
}

/// The target of the background verification after a fast open.
pub(super) fn verify_target(ledger: &Ledger) -> VerifyTarget {
    VerifyTarget {
        dir: ledger.dir.clone(),
        size: ledger.size,
        head_link: ledger.head_link,
        checkpoint: ledger.checkpoint.0.clone(),
        keys: ledger.keys.clone(),
    }
}

/// Opens a ledger for reading only (see [`Ledger::open_read_only`]).
pub(super) fn open_read_only(dir: &Path) -> Result<Ledger, LedgerError> {
    if !super::is_initialized(dir)? {
        return Err(LedgerError::NotInitialized {
            path: dir.to_path_buf(),
        });
    }
    let cp_path = dir.join(CHECKPOINTS_FILE);
    let cps = read_checkpoints(&cp_path, false)?;
    let latest = match cps.notes.last() {
        Some((offset, note)) => {
            let parsed = checkpoint::parse_note(note)?;
            let cp = Checkpoint::parse(&parsed.text)?;
            Some((*offset, cp, note.clone()))
        }
        None => None,
    };
    let index_dir = dir.join(INDEX_DIR);
    let index = Index::open_existing(&index_dir)
        .map_err(|e| LedgerError::NeedsWriter(format!("index {}: {e}", index_dir.display())))?;
    let fast = scan_fast(dir, latest.as_ref(), &index, Mode::ReadOnly)?
        .map_err(LedgerError::NeedsWriter)?;
    let Some((_, cp, note)) = latest else {
        return Err(LedgerError::NeedsWriter("no signed checkpoint".into()));
    };
    let origin = cp.origin.clone();
    let mut keys = Vec::new();
    for (seq, body) in &fast.outcome.key_events {
        apply_key_event(&mut keys, &origin, *seq, body);
    }
    let segs = list_segments(dir)?;
    let (tail_first, tail_path) = segs.last().cloned().ok_or(LedgerError::NotInitialized {
        path: dir.to_path_buf(),
    })?;
    Ok(Ledger {
        dir: dir.to_path_buf(),
        origin,
        opts: LedgerOptions::default(),
        segments: segs.iter().map(|(f, _)| *f).collect(),
        tail: Tail {
            first_seq: tail_first,
            path: tail_path,
            file: None,
            len: fast.outcome.tail_len,
        },
        size: fast.outcome.size,
        head_link: fast.outcome.head_link,
        tiles: fast.tiles,
        keys,
        signers: Vec::new(),
        checkpoint: (cp, note),
        checkpoints_file: None,
        index,
        poisoned: None,
        _lock: None,
        verification: Verification::not_run(),
        pending_verification: None,
        operator: None,
    })
}
