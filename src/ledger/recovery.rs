//! Opening a ledger directory and recovering from a crash (FORMAT.md §12).
//!
//! Owns: the decision between a torn tail (truncated and logged) and damage
//! (refuse to open, naming file, offset and sequence number); the checkpoints
//! file framing; restoring tiles and index from the segments.
//! Must not do: rewrite any byte below the last signed checkpoint.
//!
//! The rule: a batch is acknowledged only after its frames *and* the
//! checkpoint covering them are durable. So every record below the latest
//! durable checkpoint's size was acknowledged and must be intact; damage
//! there is corruption. Damage of a kind a crash produces (short frame, bad
//! checksum, zero-filled tail) at or beyond the checkpoint size, in the last
//! segment, belongs to a batch that was never acknowledged and is truncated.

use super::checkpoint::{self, Checkpoint, NoteSigner, Verifier};
use super::durable::{self, AppendFile};
use super::index::{Index, Location};
use super::record::{self, Body, Hash32, Record};
use super::segment::{self, SegmentHeader, SEGMENT_HEADER_BYTES};
use super::tiles::TileStore;
use super::{
    chain, io_err, merkle, KeyEntry, Ledger, LedgerError, LedgerOptions, Tail, CHECKPOINTS_FILE,
    CHECKPOINT_FILE, INDEX_DIR, SEGMENTS_DIR, TILES_DIR,
};
use std::fs;
use std::path::{Path, PathBuf};

/// Magic bytes at the start of the checkpoints file.
pub const CHECKPOINTS_MAGIC: &[u8; 8] = b"ZGNSCKP\n";
/// Checkpoints file header: magic, version u16, reserved u16, CRC-32C.
pub const CHECKPOINTS_HEADER_BYTES: usize = 16;
/// Segments scanned at once when opening (one thread each).
pub const OPEN_SCAN_THREADS: usize = 2;

fn checkpoints_header() -> Vec<u8> {
    let mut h = CHECKPOINTS_MAGIC.to_vec();
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Creates an empty checkpoints file (header only), durably.
pub fn create_checkpoints_file(dir: &Path) -> Result<(), LedgerError> {
    let path = dir.join(CHECKPOINTS_FILE);
    AppendFile::create(&path, &checkpoints_header(), None).map_err(io_err("create", &path))?;
    Ok(())
}

/// The frame of one checkpoint note in the checkpoints file.
pub fn checkpoint_frame(note: &str) -> Vec<u8> {
    let mut f = Vec::with_capacity(note.len() + 8);
    segment::push_frame(&mut f, note.as_bytes());
    f
}

/// The notes in a checkpoints file, and where a torn tail starts.
pub struct CheckpointsScan {
    /// (offset, note) of every valid frame, if collected; else only the last.
    pub notes: Vec<(u64, String)>,
    /// Number of valid notes.
    pub count: u64,
    /// Offset where damage starts (a torn tail), if any.
    pub torn_at: Option<u64>,
    /// The torn tail is a whole frame (sane length, every byte present, not
    /// zeros) whose checksum fails: more likely a damaged checkpoint that was
    /// written whole, and so may have been served, than a torn write.
    /// Recovery treats it as FORMAT.md §12.3 says; `audit` reports it as
    /// damage (issue 14, F8).
    pub torn_whole_frame: bool,
}

/// Reads the checkpoints file. Damage that reaches the end of the file is a
/// torn tail (reported, not fixed); any other damage is an error.
pub fn read_checkpoints(path: &Path, keep_all: bool) -> Result<CheckpointsScan, LedgerError> {
    let bytes = fs::read(path).map_err(io_err("read", path))?;
    let corrupt = |offset: u64, seq: u64, what: String| LedgerError::Corrupt {
        path: path.to_path_buf(),
        offset,
        seq,
        what,
    };
    if bytes.len() < CHECKPOINTS_HEADER_BYTES
        || bytes[..CHECKPOINTS_HEADER_BYTES] != checkpoints_header()[..]
    {
        return Err(corrupt(
            0,
            0,
            "checkpoints file header is missing or wrong".into(),
        ));
    }
    let mut pos = CHECKPOINTS_HEADER_BYTES;
    let mut notes = Vec::new();
    let mut count = 0u64;
    let mut torn_at = None;
    let mut torn_whole_frame = false;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let len = rest
            .get(..4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
        let ok = match len {
            Some(n) if n > 0 && n <= checkpoint::NOTE_BYTES_MAX && rest.len() >= n + 8 => {
                let crc = u32::from_le_bytes(rest[n + 4..n + 8].try_into().expect("4 bytes"));
                (crc32c::crc32c(&rest[..n + 4]) == crc).then_some(n)
            }
            _ => None,
        };
        match ok {
            Some(n) => {
                let note = String::from_utf8(rest[4..n + 4].to_vec()).map_err(|_| {
                    corrupt(pos as u64, count, "checkpoint note is not UTF-8".into())
                })?;
                if keep_all || notes.is_empty() {
                    notes.push((pos as u64, note));
                } else {
                    notes[0] = (pos as u64, note);
                }
                count += 1;
                pos += n + 8;
            }
            None => {
                let reaches_end = match len {
                    None => true,
                    Some(n) => rest.len() <= n + 8 || rest.iter().all(|b| *b == 0),
                };
                if !reaches_end {
                    return Err(corrupt(
                        pos as u64,
                        count,
                        format!("checkpoint frame {count} is damaged and more data follows it"),
                    ));
                }
                torn_at = Some(pos as u64);
                torn_whole_frame = matches!(len, Some(n) if n > 0
                    && n <= checkpoint::NOTE_BYTES_MAX
                    && rest.len() >= n + 8
                    && rest.iter().any(|b| *b != 0));
                break;
            }
        }
    }
    Ok(CheckpointsScan {
        notes,
        count,
        torn_at,
        torn_whole_frame,
    })
}

/// Updates the key history with a key record.
pub fn apply_key_event(keys: &mut Vec<KeyEntry>, origin: &str, seq: u64, body: &Body) {
    match body {
        Body::Genesis { public_key, .. } | Body::KeyAdded { public_key, .. } => {
            if let Ok(k) = ed25519_dalek::VerifyingKey::from_bytes(public_key) {
                keys.push(KeyEntry {
                    verifier: Verifier::new(origin, k),
                    added_seq: seq,
                    retired_seq: None,
                });
            }
        }
        Body::KeyRetired { public_key, .. } => {
            for k in keys.iter_mut() {
                if k.verifier.key.as_bytes() == public_key && k.retired_seq.is_none() {
                    k.retired_seq = Some(seq);
                }
            }
        }
        _ => {}
    }
}

/// Keys that may sign a checkpoint of `size`: added by a record inside the
/// tree and not retired by a record inside the tree.
pub fn verifiers_for_size(keys: &[KeyEntry], size: u64) -> Vec<Verifier> {
    keys.iter()
        .filter(|k| k.added_seq < size && k.retired_seq.is_none_or(|r| r >= size))
        .map(|k| k.verifier.clone())
        .collect()
}

/// The signature policy of FORMAT.md §8.5 (C2SP signed-note semantics over
/// the log's key history), for a checkpoint note of tree size `size`:
///
/// - a signature line whose key (name and key ID) is no key of `history` is
///   ignored;
/// - a line by a key of `history` must verify, and that key must be active
///   at `size` (§9.2); a retired or not-yet-added key, or a bad signature,
///   rejects the note;
/// - at least one valid line must be by a key in `trusted` (the verifier's
///   trust anchors; `None`: any active key of the history).
///
/// Returns the keys whose lines verified.
pub fn verify_with_policy(
    note: &str,
    size: u64,
    history: &[KeyEntry],
    trusted: Option<&[Verifier]>,
) -> Result<Vec<Verifier>, String> {
    let parsed = checkpoint::parse_note(note).map_err(|e| e.to_string())?;
    let active = verifiers_for_size(history, size);
    let mut verified: Vec<Verifier> = Vec::new();
    for sig in &parsed.signatures {
        let Some(entry) = history
            .iter()
            .find(|k| k.verifier.name == sig.name && k.verifier.key_id == sig.key_id)
        else {
            continue; // unknown key: ignored (C2SP signed-note)
        };
        let v = &entry.verifier;
        let bytes: Option<[u8; 64]> = sig.signature.as_slice().try_into().ok();
        let valid = bytes.is_some_and(|b| {
            v.key
                .verify_strict(
                    parsed.text.as_bytes(),
                    &ed25519_dalek::Signature::from_bytes(&b),
                )
                .is_ok()
        });
        if !valid {
            return Err(format!(
                "the signature by key {} ({:08x}), a key of this log, does not verify",
                v.vkey(),
                v.key_id
            ));
        }
        if !active.contains(v) {
            return Err(format!(
                "key {:08x} of this log signed, but it is not active at tree size {size} (added by record {}, {}); FORMAT.md §8.5",
                v.key_id,
                entry.added_seq,
                match entry.retired_seq {
                    Some(r) => format!("retired by record {r}"),
                    None => "never retired".into(),
                }
            ));
        }
        verified.push(v.clone());
    }
    let anchored = match trusted {
        None => !verified.is_empty(),
        Some(t) => verified.iter().any(|v| t.contains(v)),
    };
    if !anchored {
        return Err(match trusted {
            None => "no valid signature by a key of this log active at this size".into(),
            Some(t) => format!(
                "no valid signature by a trusted key ({})",
                t.iter()
                    .map(|v| format!("{:08x}", v.key_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(verified)
}

/// True if the record bytes are a key record (Genesis, KeyAdded, KeyRetired).
pub fn is_key_record(bytes: &[u8]) -> bool {
    let at = record::RECORD_PREV_LINK_OFFSET - 2;
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .is_some_and(|k| (1..=3).contains(&k))
}

/// Segment files in a directory, ascending by first seq.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LedgerError> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let mut segs = Vec::new();
    for entry in fs::read_dir(&seg_dir).map_err(io_err("list", &seg_dir))? {
        let entry = entry.map_err(io_err("list", &seg_dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        match segment::parse_segment_name(&name) {
            Some(first) => segs.push((first, entry.path())),
            None if name.starts_with('.') => {}
            None => {
                return Err(LedgerError::Segments {
                    what: format!(
                        "unexpected file {} in the segments directory",
                        entry.path().display()
                    ),
                })
            }
        }
    }
    segs.sort();
    Ok(segs)
}

/// What the open scan found.
pub(super) struct ScanOutcome {
    /// Records in the ledger after truncating a torn tail.
    pub(super) size: u64,
    /// Link of the last record.
    pub(super) head_link: Hash32,
    /// Length of the last segment after truncation.
    pub(super) tail_len: u64,
    /// Link after record `probe_seq`, if reached.
    pub(super) probe_link: Option<Hash32>,
    /// Key records, in order.
    pub(super) key_events: Vec<(u64, Body)>,
}

/// Per-segment results collected by a scan thread.
struct SegmentResult {
    scan: segment::SegmentScan,
    leaves: Vec<merkle::TreeHash>,
    locations: Vec<(u64, Location)>,
    probe_link: Option<Hash32>,
    key_records: Vec<(u64, Vec<u8>)>,
}

fn scan_one(
    path: &Path,
    first: u64,
    last: bool,
    floor: u64,
    leaf_from: u64,
    locate_from: u64,
) -> Result<Option<SegmentResult>, LedgerError> {
    let bytes = fs::read(path).map_err(io_err("read", path))?;
    let header = match SegmentHeader::decode(&bytes) {
        Ok(h) => h,
        Err(why) => {
            if last && first >= floor && bytes.len() <= SEGMENT_HEADER_BYTES {
                // A segment whose creation was cut short: it holds no record.
                tracing::warn!(path = %path.display(), %why, "removing a segment torn during creation");
                fs::remove_file(path).map_err(io_err("remove", path))?;
                if let Some(d) = path.parent() {
                    durable::fsync_dir(d).map_err(io_err("fsync", d))?;
                }
                return Ok(None);
            }
            return Err(LedgerError::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                seq: first,
                what: format!("segment header: {why}"),
            });
        }
    };
    if header.first_seq != first {
        return Err(LedgerError::Corrupt {
            path: path.to_path_buf(),
            offset: 12,
            seq: first,
            what: format!(
                "header says first seq {}, file name says {first}",
                header.first_seq
            ),
        });
    }
    let mut leaves = Vec::new();
    let mut locations = Vec::new();
    let mut probe_link = None;
    let mut key_records = Vec::new();
    let probe_seq = locate_from.checked_sub(1);
    let scan = segment::scan_segment(path, &bytes, header, &mut |v| {
        if v.seq >= leaf_from {
            leaves.push(merkle::leaf_hash(v.record));
        }
        if v.seq >= locate_from && super::index::indexed(v.seq, first) {
            locations.push((
                v.seq,
                Location {
                    segment: first,
                    offset: v.offset,
                },
            ));
        }
        if Some(v.seq) == probe_seq {
            probe_link = Some(*v.link);
        }
        if is_key_record(v.record) {
            key_records.push((v.seq, v.record.to_vec()));
        }
    });
    Ok(Some(SegmentResult {
        scan,
        leaves,
        locations,
        probe_link,
        key_records,
    }))
}

/// Scans every segment, truncates a torn tail, feeds tiles and index.
fn scan_all(
    dir: &Path,
    floor: u64,
    tiles: &mut TileStore,
    index: &Index,
    locate_from: u64,
) -> Result<ScanOutcome, LedgerError> {
    let segs = list_segments(dir)?;
    if segs.is_empty() {
        return Err(LedgerError::NotInitialized {
            path: dir.to_path_buf(),
        });
    }
    let leaf_from = tiles.size();
    let mut out = ScanOutcome {
        size: 0,
        head_link: chain::GENESIS_PREV_LINK,
        tail_len: 0,
        probe_link: None,
        key_events: Vec::new(),
    };
    let count = segs.len();
    for (chunk_no, chunk) in segs.chunks(OPEN_SCAN_THREADS).enumerate() {
        let results: Vec<Result<Option<SegmentResult>, LedgerError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, (first, path))| {
                    let last = chunk_no * OPEN_SCAN_THREADS + i + 1 == count;
                    s.spawn(move || scan_one(path, *first, last, floor, leaf_from, locate_from))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LedgerError::Invalid("scan thread panicked".into()))
                    })
                })
                .collect()
        });
        for (i, result) in results.into_iter().enumerate() {
            let (first, path) = &chunk[i];
            let last = chunk_no * OPEN_SCAN_THREADS + i + 1 == count;
            let Some(r) = result? else { continue };
            if *first != out.size {
                return Err(LedgerError::Segments {
                    what: format!(
                        "segment {} starts at seq {first} but the records before it end at seq {} \
                         (a segment is missing or out of place)",
                        path.display(),
                        out.size
                    ),
                });
            }
            if r.scan.header.prev_link != out.head_link {
                return Err(LedgerError::Corrupt {
                    path: path.clone(),
                    offset: 20,
                    seq: *first,
                    what:
                        "segment header prev_link does not match the previous segment's last link"
                            .into(),
                });
            }
            let mut valid_len = r.scan.valid_bytes;
            if let Some(d) = &r.scan.damage {
                let tearable = d.what.is_tearable() || d.zero_tail;
                if last && tearable && d.seq >= floor {
                    tracing::warn!(
                        path = %path.display(),
                        offset = d.offset,
                        seq = d.seq,
                        dropped_bytes = r.scan.file_bytes - d.offset,
                        what = %d.what.describe(),
                        "truncating torn tail (an unacknowledged batch)"
                    );
                    durable::truncate_durable(path, d.offset).map_err(io_err("truncate", path))?;
                    valid_len = d.offset;
                } else {
                    return Err(damage_error(path, d, floor, last));
                }
            }
            tiles
                .append(&r.leaves)
                .map_err(io_err("write tile", &dir.join(TILES_DIR)))?;
            let key_seqs: Vec<u64> = r.key_records.iter().map(|(seq, _)| *seq).collect();
            index
                .apply(
                    &r.locations,
                    &key_seqs,
                    first + r.scan.records,
                    &r.scan.end_link,
                )
                .map_err(|source| LedgerError::Index {
                    path: dir.join(INDEX_DIR),
                    source,
                })?;
            for (seq, bytes) in r.key_records {
                let rec = Record::decode(&bytes).map_err(|e| LedgerError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    seq,
                    what: e.to_string(),
                })?;
                out.key_events.push((seq, rec.body));
            }
            out.probe_link = out.probe_link.or(r.probe_link);
            out.size = first + r.scan.records;
            out.head_link = r.scan.end_link;
            out.tail_len = valid_len;
        }
    }
    Ok(out)
}

/// Reads the origin and key history without opening the ledger for writing
/// (no lock, no recovery; stops quietly at a torn tail).
pub fn key_history(dir: &Path) -> Result<(String, Vec<KeyEntry>), LedgerError> {
    let mut origin: Option<String> = None;
    let mut keys = Vec::new();
    let mut link = chain::GENESIS_PREV_LINK;
    for (first, path) in list_segments(dir)? {
        let bytes = fs::read(&path).map_err(io_err("read", &path))?;
        let Ok(header) = SegmentHeader::decode(&bytes) else {
            break;
        };
        if header.first_seq != first || header.prev_link != link {
            break;
        }
        let scan = segment::scan_segment(&path, &bytes, header, &mut |v| {
            if is_key_record(v.record) {
                if let Ok(r) = Record::decode(v.record) {
                    if let Body::Genesis { origin: o, .. } = &r.body {
                        origin = Some(o.clone());
                    }
                    apply_key_event(
                        &mut keys,
                        origin.as_deref().unwrap_or_default(),
                        v.seq,
                        &r.body,
                    );
                }
            }
        });
        link = scan.end_link;
    }
    let origin = origin.ok_or_else(|| LedgerError::NotInitialized {
        path: dir.to_path_buf(),
    })?;
    Ok((origin, keys))
}

/// Opens a ledger directory (see the module doc for the recovery rule).
/// With `rebuild`, the derived tiles and index are deleted first and rebuilt
/// from the segments (`zeugnis reindex`).
///
/// With `fast`, the open trusts the latest signed checkpoint and the derived
/// data that agrees with it and reads only the records beyond them
/// (`fastopen`); the ledger then carries a pending verification of the rest
/// ([`Ledger::take_verification`]). Without it, every record is verified
/// here.
pub fn open(
    dir: &Path,
    opts: LedgerOptions,
    rebuild: bool,
    fast: bool,
) -> Result<Ledger, LedgerError> {
    if !super::is_initialized(dir)? {
        return Err(LedgerError::NotInitialized {
            path: dir.to_path_buf(),
        });
    }
    let lock = super::lock_dir(dir)?;
    if rebuild {
        for sub in [INDEX_DIR, TILES_DIR] {
            let p = dir.join(sub);
            match fs::remove_dir_all(&p) {
                Ok(()) => tracing::info!(path = %p.display(), "deleted derived data for rebuild"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &p)(e)),
            }
        }
    }
    let cp_path = dir.join(CHECKPOINTS_FILE);
    let cps = read_checkpoints(&cp_path, false)?;
    if let Some(at) = cps.torn_at {
        tracing::warn!(path = %cp_path.display(), offset = at, "truncating torn checkpoint tail");
        durable::truncate_durable(&cp_path, at).map_err(io_err("truncate", &cp_path))?;
    }
    let latest = match cps.notes.last() {
        Some((offset, note)) => {
            let parsed = checkpoint::parse_note(note)?;
            let cp = Checkpoint::parse(&parsed.text)?;
            Some((*offset, cp, note.clone()))
        }
        None => None,
    };
    let floor = latest.as_ref().map_or(0, |(_, cp, _)| cp.size);

    let tiles_dir = dir.join(TILES_DIR);
    let index_dir = dir.join(INDEX_DIR);
    let (index, _) = Index::open(&index_dir).map_err(|source| LedgerError::Index {
        path: index_dir.clone(),
        source,
    })?;
    let index_err = |source| LedgerError::Index {
        path: index_dir.clone(),
        source,
    };
    let origin_cp = latest.as_ref().map(|(_, cp, _)| cp.clone());
    let fast = if fast && !rebuild {
        match super::fastopen::scan_fast(
            dir,
            latest.as_ref(),
            &index,
            super::fastopen::Mode::Writer,
        )? {
            Ok(f) => Some(f),
            Err(why) => {
                tracing::info!(%why, "the fast open is not possible; verifying every record now");
                None
            }
        }
    } else {
        None
    };
    let (tiles, outcome, scanned_from) = match fast {
        Some(f) => (f.tiles, f.outcome, f.scanned_from),
        None => {
            let head = index.head().map_err(index_err)?;
            let mut tiles: TileStore =
                TileStore::open(&tiles_dir, floor).map_err(io_err("open tiles", &tiles_dir))?;
            let mut outcome = scan_all(dir, floor, &mut tiles, &index, head.map_or(0, |h| h.0))?;

            let index_ok = match head {
                None => true, // built from scratch by the scan
                Some((0, _)) => true,
                Some((size, link)) => size <= outcome.size && outcome.probe_link == Some(link),
            };
            let tree_ok = |tiles: &TileStore, size: u64| -> Result<bool, LedgerError> {
                match &origin_cp {
                    Some(cp) if size >= cp.size => Ok(merkle::root(tiles, cp.size)? == cp.root),
                    Some(_) => Ok(false),
                    None => Ok(true),
                }
            };
            if !index_ok || !tree_ok(&tiles, outcome.size)? {
                tracing::warn!(
                    index_ok,
                    "derived tiles or index disagree with the ledger; rebuilding them"
                );
                index.clear().map_err(index_err)?;
                tiles = TileStore::reset(&tiles_dir).map_err(io_err("reset tiles", &tiles_dir))?;
                outcome = scan_all(dir, floor, &mut tiles, &index, 0)?;
            }
            (tiles, outcome, 0)
        }
    };
    if outcome.size < floor {
        // Name where the missing records should have been: the end of the
        // last segment, and the checkpoint that covers them.
        let tail = list_segments(dir)?
            .last()
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| dir.join(SEGMENTS_DIR));
        let cp_offset = latest.as_ref().map_or(0, |(o, _, _)| *o);
        return Err(LedgerError::Corrupt {
            path: tail,
            offset: outcome.tail_len,
            seq: outcome.size,
            what: format!(
                "the segments end here, at record {}, but the latest signed checkpoint \
                 ({} at byte {cp_offset}) covers {floor} records (records were lost)",
                outcome.size,
                cp_path.display()
            ),
        });
    }
    if let Some(cp) = &origin_cp {
        let computed = merkle::root(&tiles, cp.size)?;
        if computed != cp.root {
            return Err(LedgerError::CheckpointMismatch {
                size: cp.size,
                expected: hex::encode(cp.root),
                computed: hex::encode(computed),
            });
        }
    }

    // Origin and key history from the records.
    let mut origin = None;
    let mut keys = Vec::new();
    for (seq, body) in &outcome.key_events {
        if let Body::Genesis { origin: o, .. } = body {
            if *seq != 0 {
                return Err(LedgerError::Segments {
                    what: format!("a Genesis record at seq {seq}"),
                });
            }
            origin = Some(o.clone());
        }
        let o = origin.clone().unwrap_or_default();
        apply_key_event(&mut keys, &o, *seq, body);
    }
    let origin = origin.ok_or_else(|| LedgerError::Segments {
        what: "record 0 is not a Genesis record".into(),
    })?;
    if let Some((offset, cp, note)) = &latest {
        if cp.origin != origin {
            return Err(LedgerError::Corrupt {
                path: cp_path.clone(),
                offset: *offset,
                seq: cp.size,
                what: format!(
                    "checkpoint origin {:?} is not the ledger's origin {origin:?}",
                    cp.origin
                ),
            });
        }
        checkpoint::verify_note(note, &verifiers_for_size(&keys, cp.size))?;
    }
    let mut signers = Vec::new();
    for k in keys.iter().filter(|k| k.retired_seq.is_none()) {
        let path = super::key_path(dir, &k.verifier);
        let key = checkpoint::read_key_file(&path)?;
        if key.verifying_key() != k.verifier.key {
            return Err(LedgerError::Note(checkpoint::NoteError::KeyFile {
                path: path.display().to_string(),
                reason: "holds a different key than the ledger's key history".into(),
            }));
        }
        signers.push(NoteSigner::new(&origin, key));
    }
    if signers.is_empty() {
        return Err(LedgerError::Invalid(
            "the key history has no active signing key".into(),
        ));
    }
    let segs = list_segments(dir)?;
    let (tail_first, tail_path) = segs.last().cloned().ok_or(LedgerError::NotInitialized {
        path: dir.to_path_buf(),
    })?;
    let tail_file = AppendFile::open(&tail_path, opts.sync_fault.clone())
        .map_err(io_err("open", &tail_path))?;
    let checkpoints_file =
        AppendFile::open(&cp_path, opts.sync_fault.clone()).map_err(io_err("open", &cp_path))?;
    let (cp, note) = match latest {
        Some((_, cp, note)) => (cp, note),
        None => (
            Checkpoint {
                origin: origin.clone(),
                size: 0,
                root: merkle::empty_root(),
            },
            String::new(),
        ),
    };
    let mut ledger = Ledger {
        dir: dir.to_path_buf(),
        origin,
        opts,
        segments: segs.iter().map(|(f, _)| *f).collect(),
        tail: Tail {
            first_seq: tail_first,
            path: tail_path,
            file: Some(tail_file),
            len: outcome.tail_len,
        },
        size: outcome.size,
        head_link: outcome.head_link,
        tiles,
        keys,
        signers,
        checkpoint: (cp, note),
        checkpoints_file: Some(checkpoints_file),
        index,
        poisoned: None,
        _lock: Some(lock),
        verification: super::verify::Verification::verified(),
        pending_verification: None,
        operator: None,
    };
    if scanned_from > 0 {
        // The records below the fast scan's start were trusted through the
        // signed checkpoint and the tiles; the full check of them is left
        // to the caller (the daemon runs it in the background).
        ledger.pending_verification = Some(super::fastopen::verify_target(&ledger));
        ledger.verification = super::verify::Verification::pending(ledger.size);
    }
    if ledger.size > ledger.checkpoint.0.size {
        // Records beyond the checkpoint were written by a process that
        // crashed or failed before its checkpoint. Whether they reached the
        // disk is known only after an fdatasync that succeeds here: never
        // sign bytes read from the page cache.
        sync_unsigned_segments(&mut ledger, &segs, floor)?;
        tracing::info!(
            from = ledger.checkpoint.0.size,
            to = ledger.size,
            "signing a checkpoint for durable records a crash left uncovered"
        );
        if let Err(e) = ledger.sign_checkpoint() {
            // Reads go on from the previous checkpoint (the writer is
            // poisoned, so nothing is appended); a full disk must not stop
            // `show` or `status`.
            tracing::warn!(error = %e, "could not sign a checkpoint for the uncovered records; the ledger is open for reading only");
            ledger
                .poisoned
                .get_or_insert_with(|| format!("signing the checkpoint at open: {e}"));
        }
    } else {
        // The plain `checkpoint` copy is derived: failing to refresh it
        // (a full disk) must not block reads.
        let latest_path = dir.join(CHECKPOINT_FILE);
        if let Err(e) = durable::write_replace_derived_on(
            &latest_path,
            ledger.checkpoint.1.as_bytes(),
            ledger.opts.sync_fault.as_ref(),
        ) {
            tracing::warn!(path = %latest_path.display(), error = %e, "could not refresh the derived checkpoint copy");
        }
    }
    Ok(ledger)
}

/// Makes every segment holding records beyond the latest checkpoint durable
/// before a checkpoint is signed over them (issue 14, F1): their bytes are
/// written again and fdatasynced ([`durable::rewrite_file_on`]), so what is
/// signed is what this process proved durable even after an earlier failed
/// fsync whose pages Linux then marked clean (the double fault: that fsync
/// and the truncation cutting its bytes off both failed).
fn sync_unsigned_segments(
    ledger: &mut Ledger,
    segs: &[(u64, PathBuf)],
    floor: u64,
) -> Result<(), LedgerError> {
    // Rewrite from the indexed record at or before the floor (at most
    // `index::INDEX_STRIDE_RECORDS` records early), or from the segment's first frame.
    let near = ledger.index.location_at_or_before(floor).ok().flatten();
    for (i, (first, path)) in segs.iter().enumerate() {
        let end = segs.get(i + 1).map_or(u64::MAX, |s| s.0);
        if end <= floor {
            continue;
        }
        let from = match near {
            Some((_, loc)) if loc.segment == *first => loc.offset,
            _ => SEGMENT_HEADER_BYTES as u64,
        };
        let synced = if *first == ledger.tail.first_seq {
            match ledger.tail.file.as_mut() {
                Some(f) => f.rewrite_from(from),
                None => Ok(()),
            }
        } else {
            durable::rewrite_file_on(path, from, ledger.opts.sync_fault.as_ref())
        };
        synced.map_err(|e| LedgerError::Io {
            op: "rewrite and fdatasync (before signing records beyond the checkpoint)",
            path: path.clone(),
            source: e,
        })?;
    }
    Ok(())
}

/// The refusal for damage that is not a torn tail: names the file, the
/// offset and the sequence number, and why it cannot be cut (below `floor`,
/// the latest checkpoint's size, or in a sealed segment, not the `last`).
pub(super) fn damage_error(
    path: &Path,
    d: &super::segment::Damage,
    floor: u64,
    last: bool,
) -> LedgerError {
    let why = if d.seq < floor {
        format!(
            "{} (record is covered by a signed checkpoint)",
            d.what.describe()
        )
    } else if !last {
        format!("{} (in a sealed segment)", d.what.describe())
    } else {
        d.what.describe()
    };
    LedgerError::Corrupt {
        path: path.to_path_buf(),
        offset: d.offset,
        seq: d.seq,
        what: why,
    }
}
