//! The ledger: append-only, hash-chained, Merkle-proved, signed.
//!
//! Owns: everything inside a ledger data directory (`ledger/FORMAT.md` is the
//! byte-level specification). The [`Ledger`] is the single writer: it frames
//! records into segments, fsyncs once per batch, extends the Merkle tree,
//! signs a checkpoint covering only durable records, and keeps the derived
//! tiles and index up to date.
//! Must not do: async I/O, HTTP, or anything that knows what a certificate is
//! beyond the record kinds (so it can become its own crate).
//!
//! Life of a batch: `append_batch` encodes every record (refusing any above
//! 65,535 bytes before writing anything), writes all frames with one write,
//! `fdatasync`s the segment, feeds leaf hashes to the tiles, signs a
//! checkpoint, appends it to `checkpoints` and `fdatasync`s that, and only
//! then returns the sequence numbers. A failed write or sync poisons the
//! writer: nothing more is appended until the ledger is reopened, which
//! re-reads the files and recovers.

pub mod audit;
pub mod chain;
pub mod checkpoint;
pub mod durable;
mod fastopen;
pub mod index;
pub mod merkle;
pub mod operator;
pub mod proof;
pub mod record;
pub mod recovery;
pub mod segment;
pub mod tiles;
pub mod verify;

use checkpoint::{Checkpoint, NoteError, NoteSigner, Verifier};
use durable::{AppendFile, SyncFault};
use ed25519_dalek::SigningKey;
use index::{Index, Location};
use merkle::{ProofError, TreeHash};
use proof::TlogProof;
use record::{Body, EncodeError, Hash32, Record};
use segment::{SegmentHeader, SEGMENT_HEADER_BYTES};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use tiles::TileStore;

/// The format identifier written into every Genesis record.
pub const FORMAT_ID: &str = "zeugnis-ledger-v1";
/// The byte-level specification copied into every new data directory.
pub const FORMAT_MD: &str = include_str!("../../ledger/FORMAT.md");
/// Default soft limit of a segment file; a batch never spans segments, so a
/// segment can exceed this by at most one batch.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 * 1024 * 1024;
/// Most records in one batch.
pub const BATCH_RECORDS_MAX: usize = 10_000;
/// How long opening waits for the writer lock before reporting that
/// another process holds it, in milliseconds.
pub const LOCK_WAIT_MS_MAX: u128 = 2_000;
/// Longest accepted origin (log name), in bytes.
pub const ORIGIN_BYTES_MAX: usize = 255;

/// Sub-directory of segment files.
pub const SEGMENTS_DIR: &str = "segments";
/// Sub-directory of signing keys.
pub const KEYS_DIR: &str = "keys";
/// Sub-directory of tiles.
pub const TILES_DIR: &str = "tiles";
/// Sub-directory of the sled index.
pub const INDEX_DIR: &str = "index";
/// The append-only checkpoints file.
pub const CHECKPOINTS_FILE: &str = "checkpoints";
/// The latest checkpoint note, as text (derived copy).
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// The lock file held by the writer.
pub const LOCK_FILE: &str = "lock";

/// Exit code of a command whose change is durable but whose confirmation
/// (the checkpoint, or its report) could not be written: neither success
/// (0) nor failure (1).
pub const EXIT_UNCONFIRMED: i32 = 3;

/// Errors of the ledger. Each carries what a person needs to act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// An operating-system error on a file.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The directory holds no ledger.
    #[error("{path} holds no ledger (no segments); run `zeugnis init --data {path}` first")]
    NotInitialized { path: PathBuf },
    /// `init` on a directory that already holds a ledger.
    #[error("{path} already holds a ledger")]
    AlreadyInitialized { path: PathBuf },
    /// Another process holds the writer lock.
    #[error(
        "{path} is locked by another zeugnis process (another command still running, or a \
         daemon that is starting or stopping: a running daemon takes commands through \
         {path}/control.sock); try again in a moment"
    )]
    Locked { path: PathBuf },
    /// Bad input to the ledger (origin, batch size, ...).
    #[error("{0}")]
    Invalid(String),
    /// A record could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Stored data is damaged: names file, offset and sequence number.
    #[error("ledger damaged: {path} at byte {offset} (record seq {seq}): {what}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        seq: u64,
        what: String,
    },
    /// A segment file is missing or out of place.
    #[error("ledger damaged: {what}")]
    Segments { what: String },
    /// The signed checkpoint does not match the records.
    #[error(
        "ledger damaged: checkpoint for size {size} says root {expected}, records give {computed}"
    )]
    CheckpointMismatch {
        size: u64,
        expected: String,
        computed: String,
    },
    /// A note, checkpoint or key problem.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A proof could not be produced.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The index database failed.
    #[error("index {path}: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// Damage outside the ledger files (e.g. a missing blob).
    #[error("archive damaged: {0}")]
    Archive(String),
    /// An earlier write or fsync failed; nothing more is appended.
    #[error("ledger writer is poisoned after a failed write or fsync ({0}); restart to recover")]
    Poisoned(String),
    /// The batch's records are durable in their segment, but a later step
    /// (tiles, index, key files, the checkpoint or its fsync) failed: the
    /// outcome is not failure. The next open signs a checkpoint over these
    /// records; a caller must report the operation as done but unconfirmed.
    #[error(
        "records {first}..{end} are durable, but the checkpoint covering them could not be \
         written ({why}); they are confirmed when the ledger is next opened"
    )]
    Unconfirmed { first: u64, end: u64, why: String },
    /// The ledger was opened for reading only (no writer lock).
    #[error("the ledger at {path} was opened for reading only; this needs the writer")]
    ReadOnly { path: PathBuf },
    /// The background verification found damage: nothing more is appended.
    #[error(
        "ledger damaged (found by the verification that runs after a fast open): {0}; writes \
         are refused until the damage is repaired; run `zeugnis audit` for details"
    )]
    Damaged(String),
    /// A read-only open found the derived index or tiles missing, stale
    /// or not matching the checkpoint; only a writer may rebuild them.
    #[error("a read-only open is not possible ({0}); the writer open rebuilds the derived data")]
    NeedsWriter(String),
}

impl LedgerError {
    /// Exit code for the CLI: 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            LedgerError::NotInitialized { .. }
            | LedgerError::AlreadyInitialized { .. }
            | LedgerError::Invalid(_)
            | LedgerError::Encode(_) => 2,
            LedgerError::Unconfirmed { .. } => EXIT_UNCONFIRMED,
            _ => 1,
        }
    }
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> LedgerError + 'a {
    move |source| LedgerError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Tunables of a ledger. The defaults are the production values.
#[derive(Clone, Debug)]
pub struct LedgerOptions {
    /// Soft size limit of one segment file.
    pub segment_bytes_max: u64,
    /// Test hook: fail a data sync on demand.
    pub sync_fault: Option<SyncFault>,
    /// Test hook: seconds added to the clock for record times (simulates
    /// records made in the past, e.g. registrations waiting for weeks).
    pub clock_offset_s: i64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            segment_bytes_max: SEGMENT_BYTES_MAX_DEFAULT,
            sync_fault: None,
            clock_offset_s: 0,
        }
    }
}

/// A key in the ledger's key history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    /// The verifier (name = origin).
    pub verifier: Verifier,
    /// Seq of the record that added it (Genesis or KeyAdded).
    pub added_seq: u64,
    /// Seq of the record that retired it, if any.
    pub retired_seq: Option<u64>,
}

/// The open segment being appended to.
struct Tail {
    /// The segment's first seq.
    first_seq: u64,
    /// Its path.
    path: PathBuf,
    /// Its append handle (`None` when opened for reading only).
    file: Option<AppendFile>,
    /// Its length in bytes.
    len: u64,
}

/// The single writer of a ledger directory.
pub struct Ledger {
    /// The data directory.
    dir: PathBuf,
    /// The log's origin line.
    origin: String,
    /// Tunables.
    opts: LedgerOptions,
    /// First seq of every segment, ascending (one entry per 64 MiB).
    segments: Vec<u64>,
    /// The segment being appended to.
    tail: Tail,
    /// Records in the ledger (= next seq).
    size: u64,
    /// Chain link of the last record.
    head_link: Hash32,
    /// Tree hashes.
    tiles: TileStore,
    /// Key history from the ledger.
    keys: Vec<KeyEntry>,
    /// Signers for the currently active keys.
    signers: Vec<NoteSigner>,
    /// The latest checkpoint and its note.
    checkpoint: (Checkpoint, String),
    /// Append handle of the checkpoints file (`None`: read-only).
    checkpoints_file: Option<AppendFile>,
    /// The derived index.
    index: Index,
    /// Set after a failed write or sync.
    poisoned: Option<String>,
    /// Held for the ledger's lifetime: one writer per directory (`None`
    /// when opened for reading only).
    _lock: Option<File>,
    /// The verification of the records a fast open trusted (shared with
    /// the background thread): damage found there stops writes.
    verification: std::sync::Arc<verify::Verification>,
    /// What a fast open left to verify, until taken by
    /// [`Ledger::take_verification`].
    pending_verification: Option<verify::VerifyTarget>,
    /// Who the records appended now are attributed to (FORMAT.md §3.1,
    /// version 6); `None` writes unattributed version-1 records. Set only
    /// for the span of one operation ([`Ledger::set_operator`]).
    operator: Option<record::OperatorId>,
}

/// Reads committed records from any thread (a clone of the index handle and
/// the directory); the writer keeps appending meanwhile. Obtained from
/// [`Ledger::record_reader`].
#[derive(Clone)]
pub struct RecordReader {
    /// The ledger directory.
    dir: PathBuf,
    /// The record index (shared with the writer).
    index: Index,
}

fn corrupt_at(path: &Path, offset: u64, seq: u64, what: String) -> LedgerError {
    LedgerError::Corrupt {
        path: path.to_path_buf(),
        offset,
        seq,
        what,
    }
}

impl RecordReader {
    /// The exact bytes of record `seq` (the Merkle leaf input), if `seq`
    /// is below `size` (the ledger size the caller knows to be committed).
    pub fn read_record(&self, seq: u64, size: u64) -> Result<Vec<u8>, LedgerError> {
        if seq >= size {
            return Err(LedgerError::Invalid(format!(
                "record {seq} does not exist (ledger size {size})"
            )));
        }
        let (mut at_seq, loc) = self
            .index
            .location_at_or_before(seq)
            .map_err(|source| LedgerError::Index {
                path: self.dir.join(INDEX_DIR),
                source,
            })?
            .ok_or_else(|| {
                LedgerError::Invalid(format!(
                    "record {seq} is not in the index; run zeugnis reindex"
                ))
            })?;
        let path = self
            .dir
            .join(SEGMENTS_DIR)
            .join(segment::segment_name(loc.segment));
        let mut f = io::BufReader::new(File::open(&path).map_err(io_err("open", &path))?);
        f.seek(SeekFrom::Start(loc.offset))
            .map_err(io_err("seek", &path))?;
        let mut offset = loc.offset;
        // Reads are checked like the open scan: length, CRC, sequence number.
        loop {
            let mut len = [0u8; 4];
            f.read_exact(&mut len).map_err(io_err("read", &path))?;
            let n = u32::from_le_bytes(len) as usize;
            if !(record::RECORD_HEADER_BYTES..=record::RECORD_BYTES_MAX).contains(&n) {
                return Err(corrupt_at(
                    &path,
                    offset,
                    at_seq,
                    format!("frame length {n}"),
                ));
            }
            let mut frame = vec![0u8; n + 8];
            frame[..4].copy_from_slice(&len);
            f.read_exact(&mut frame[4..])
                .map_err(io_err("read", &path))?;
            let crc = u32::from_le_bytes(frame[n + 4..].try_into().expect("4 bytes"));
            if crc32c::crc32c(&frame[..n + 4]) != crc {
                return Err(corrupt_at(
                    &path,
                    offset,
                    at_seq,
                    "frame checksum mismatch".into(),
                ));
            }
            let at = record::RECORD_SEQ_OFFSET + 4;
            let found = u64::from_le_bytes(frame[at..at + 8].try_into().expect("8 bytes"));
            if found != at_seq {
                return Err(corrupt_at(
                    &path,
                    offset,
                    at_seq,
                    format!("index leads to record {found}"),
                ));
            }
            if found == seq {
                frame.truncate(n + 4);
                frame.drain(..4);
                return Ok(frame);
            }
            offset += (n + 8) as u64;
            at_seq += 1;
        }
    }
}

/// A callback over (seq, record bytes).
pub type RecordVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), LedgerError> + 'a;

/// Calls `f` with (seq, record bytes) for every record in `from..until`, in
/// order, reading each segment once, without the writer lock (read-only
/// commands). Damage below `until` is an error naming file, offset and seq.
pub fn read_records(
    dir: &Path,
    from: u64,
    until: u64,
    f: &mut RecordVisitor<'_>,
) -> Result<(), LedgerError> {
    let corrupt = corrupt_at;
    if from >= until {
        return Ok(());
    }
    let segs = recovery::list_segments(dir)?;
    for (i, (first, path)) in segs.iter().enumerate() {
        let next_first = segs.get(i + 1).map_or(u64::MAX, |s| s.0);
        if next_first <= from || *first >= until {
            continue;
        }
        let bytes = fs::read(path).map_err(io_err("read", path))?;
        let header =
            SegmentHeader::decode(&bytes).map_err(|what| corrupt(path, 0, *first, what))?;
        let mut failure = None;
        let scan = segment::scan_segment(path, &bytes, header, &mut |v| {
            if failure.is_none() && v.seq >= from && v.seq < until {
                if let Err(e) = f(v.seq, v.record) {
                    failure = Some(e);
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(d) = scan.damage {
            if d.seq < until {
                return Err(corrupt(path, d.offset, d.seq, d.what.describe()));
            }
        }
    }
    Ok(())
}

/// Current UTC time in seconds.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// True if `dir` holds a ledger: a signed checkpoint or at least one record.
/// A directory with only the leftovers of an interrupted `init` is not one.
pub fn is_initialized(dir: &Path) -> Result<bool, LedgerError> {
    let cps = dir.join(CHECKPOINTS_FILE);
    if cps.exists() && recovery::read_checkpoints(&cps, false)?.count > 0 {
        return Ok(true);
    }
    let seg_dir = dir.join(SEGMENTS_DIR);
    if !seg_dir.is_dir() {
        return Ok(false);
    }
    for (_, path) in recovery::list_segments(dir)? {
        let len = fs::metadata(&path).map_err(io_err("stat", &path))?.len();
        if len > SEGMENT_HEADER_BYTES as u64 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks an origin (log name): a valid signed-note key name.
pub fn check_origin(origin: &str) -> Result<(), LedgerError> {
    if origin.is_empty()
        || origin.len() > ORIGIN_BYTES_MAX
        || origin
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(LedgerError::Invalid(format!(
            "origin {origin:?} must be 1..={ORIGIN_BYTES_MAX} bytes without spaces, control characters or '+' \
             (e.g. verify.uni-example.de/zeugnis/1)"
        )));
    }
    Ok(())
}

fn lock_dir(dir: &Path) -> Result<File, LedgerError> {
    let path = dir.join(LOCK_FILE);
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    // A lock can be held for an instant after its owner let go: a process
    // forked in that moment shares the descriptor until it execs. Wait a
    // little before concluding that another writer is running.
    let started = std::time::Instant::now();
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(fs::TryLockError::WouldBlock)
                if started.elapsed().as_millis() < LOCK_WAIT_MS_MAX =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(LedgerError::Locked {
                    path: dir.to_path_buf(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
        }
    }
}

/// The sequence numbers of the key records in a batch starting at `first`.
fn key_seqs_of(first: u64, is_key: &[bool]) -> Vec<u64> {
    is_key
        .iter()
        .enumerate()
        .filter(|(_, k)| **k)
        .map(|(i, _)| first + i as u64)
        .collect()
}

pub(crate) fn key_path(dir: &Path, v: &Verifier) -> PathBuf {
    dir.join(KEYS_DIR).join(format!("{:08x}.pem", v.key_id))
}

impl Ledger {
    /// Creates a new ledger in `dir`: directories, a signing key (0600),
    /// FORMAT.md, the Genesis record and the first checkpoint.
    pub fn init(dir: &Path, origin: &str, opts: LedgerOptions) -> Result<Ledger, LedgerError> {
        check_origin(origin)?;
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let seg_dir = dir.join(SEGMENTS_DIR);
        let lock = lock_dir(dir)?;
        if is_initialized(dir)? {
            return Err(LedgerError::AlreadyInitialized {
                path: dir.to_path_buf(),
            });
        }
        // Leftovers of an init that was interrupted before its first record
        // was durable hold nothing acknowledged: start over.
        for stale in [dir.join(CHECKPOINTS_FILE), seg_dir.clone()] {
            let gone = if stale.is_dir() {
                fs::remove_dir_all(&stale)
            } else {
                fs::remove_file(&stale)
            };
            match gone {
                Ok(()) => {
                    tracing::warn!(path = %stale.display(), "removed leftover of an interrupted init")
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &stale)(e)),
            }
        }
        let keys_dir = dir.join(KEYS_DIR);
        fs::create_dir_all(&keys_dir).map_err(io_err("create", &keys_dir))?;
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&keys_dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err("chmod", &keys_dir))?;
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let signer = NoteSigner::new(origin, key);
        let fault = opts.sync_fault.as_ref();
        checkpoint::write_key_file_on(
            &key_path(dir, &signer.verifier),
            signer.signing_key(),
            fault,
        )?;
        durable::fsync_dir_on(&keys_dir, fault).map_err(io_err("fsync", &keys_dir))?;
        durable::write_atomic_on(&dir.join("FORMAT.md"), FORMAT_MD.as_bytes(), fault)
            .map_err(io_err("write", dir))?;
        recovery::create_checkpoints_file(dir)?;
        fs::create_dir_all(&seg_dir).map_err(io_err("create", &seg_dir))?;
        durable::fsync_dir_on(dir, fault).map_err(io_err("fsync", dir))?;
        let path = seg_dir.join(segment::segment_name(0));
        let header = SegmentHeader {
            first_seq: 0,
            prev_link: chain::GENESIS_PREV_LINK,
        };
        let file = AppendFile::create(&path, &header.encode(), opts.sync_fault.clone())
            .map_err(io_err("create", &path))?;
        let checkpoints_path = dir.join(CHECKPOINTS_FILE);
        let checkpoints_file = AppendFile::open(&checkpoints_path, opts.sync_fault.clone())
            .map_err(io_err("open", &checkpoints_path))?;
        let index_dir = dir.join(INDEX_DIR);
        let (index, _) = Index::open(&index_dir).map_err(|source| LedgerError::Index {
            path: index_dir,
            source,
        })?;
        let tiles = TileStore::reset(&dir.join(TILES_DIR)).map_err(io_err("open tiles", dir))?;
        let public_key = signer.verifier.key.to_bytes();
        let mut ledger = Ledger {
            dir: dir.to_path_buf(),
            origin: origin.to_string(),
            opts,
            segments: vec![0],
            tail: Tail {
                first_seq: 0,
                path,
                file: Some(file),
                len: SEGMENT_HEADER_BYTES as u64,
            },
            size: 0,
            head_link: chain::GENESIS_PREV_LINK,
            tiles,
            keys: Vec::new(),
            signers: vec![signer],
            checkpoint: (
                Checkpoint {
                    origin: origin.to_string(),
                    size: 0,
                    root: merkle::empty_root(),
                },
                String::new(),
            ),
            checkpoints_file: Some(checkpoints_file),
            index,
            poisoned: None,
            _lock: Some(lock),
            verification: verify::Verification::verified(),
            pending_verification: None,
            operator: None,
        };
        ledger.append_batch(vec![Body::Genesis {
            origin: origin.to_string(),
            format: FORMAT_ID.to_string(),
            public_key,
            predecessor_checkpoint: String::new(),
        }])?;
        Ok(ledger)
    }

    /// Opens an existing ledger, recovering from a crash (see `recovery`),
    /// and verifies every record before it returns.
    pub fn open(dir: &Path, opts: LedgerOptions) -> Result<Ledger, LedgerError> {
        let mut ledger = recovery::open(dir, opts, false, false)?;
        ledger.tiles.set_fault(ledger.opts.sync_fault.clone());
        Ok(ledger)
    }

    /// Opens an existing ledger for writing at a cost that does not grow
    /// with it (`fastopen`): the latest signed checkpoint, the derived data
    /// that agrees with it and the records beyond it are checked; the full
    /// verification of the records below is left to
    /// [`Ledger::take_verification`] (the daemon runs it in the background;
    /// until it has passed, damage there is unknown). Falls back to
    /// [`Ledger::open`]'s full verification when the derived data does not
    /// agree.
    pub fn open_fast(dir: &Path, opts: LedgerOptions) -> Result<Ledger, LedgerError> {
        let mut ledger = recovery::open(dir, opts, false, true)?;
        ledger.tiles.set_fault(ledger.opts.sync_fault.clone());
        Ok(ledger)
    }

    /// Opens a ledger for reading only, without the writer lock and without
    /// changing any ledger file (only the derived index may be brought up
    /// to the checkpoint): it sees exactly the latest signed checkpoint's
    /// records. [`LedgerError::NeedsWriter`] when the derived index or
    /// tiles are missing, stale or disagree with the checkpoint (a writer's
    /// open rebuilds them); every write is refused with
    /// [`LedgerError::ReadOnly`].
    pub fn open_read_only(dir: &Path) -> Result<Ledger, LedgerError> {
        fastopen::open_read_only(dir)
    }

    /// Opens the ledger after deleting its derived tiles and index, which
    /// are rebuilt from the segments.
    pub fn reindex(dir: &Path, opts: LedgerOptions) -> Result<Ledger, LedgerError> {
        recovery::open(dir, opts, true, false)
    }

    /// True if opened with [`Ledger::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.checkpoints_file.is_none()
    }

    /// The state of the verification of the records the open trusted
    /// (shared: it changes when the background pass ends).
    pub fn verification(&self) -> std::sync::Arc<verify::Verification> {
        std::sync::Arc::clone(&self.verification)
    }

    /// What a fast open left to verify, once (`None` if nothing was left,
    /// or it was taken already). Run it with
    /// [`VerifyTarget::run`](verify::VerifyTarget::run) on the state from
    /// [`Ledger::verification`]: damage it finds refuses every later write.
    pub fn take_verification(&mut self) -> Option<verify::VerifyTarget> {
        self.pending_verification.take()
    }

    /// Attributes every record appended from now on to `operator`
    /// (`None`: unattributed) and returns the previous setting, so that a
    /// caller can restore it (`registry::OperatorScope` does).
    pub fn set_operator(
        &mut self,
        operator: Option<record::OperatorId>,
    ) -> Option<record::OperatorId> {
        std::mem::replace(&mut self.operator, operator)
    }

    /// Who records appended now are attributed to.
    pub fn operator(&self) -> Option<&record::OperatorId> {
        self.operator.as_ref()
    }

    /// Appends a batch of records durably; returns their sequence numbers.
    /// Either every record of the batch is durable and covered by a new
    /// signed checkpoint when this returns Ok, or the batch was not
    /// acknowledged (and the writer may be poisoned).
    pub fn append_batch(&mut self, bodies: Vec<Body>) -> Result<Range<u64>, LedgerError> {
        if let Some(why) = &self.poisoned {
            return Err(LedgerError::Poisoned(why.clone()));
        }
        if let Some(why) = self.verification.damage() {
            return Err(LedgerError::Damaged(why));
        }
        if self.tail.file.is_none() || self.checkpoints_file.is_none() {
            return Err(LedgerError::ReadOnly {
                path: self.dir.clone(),
            });
        }
        if bodies.is_empty() || bodies.len() > BATCH_RECORDS_MAX {
            return Err(LedgerError::Invalid(format!(
                "a batch holds 1..={BATCH_RECORDS_MAX} records, got {}",
                bodies.len()
            )));
        }
        if self.size > 0 && bodies.iter().any(|b| matches!(b, Body::Genesis { .. })) {
            return Err(LedgerError::Invalid("Genesis may only be record 0".into()));
        }
        // Encode everything first: a record that cannot be encoded rejects
        // the whole batch before a byte is written.
        let time_s = now_s() + self.opts.clock_offset_s;
        let mut frames = Vec::with_capacity(bodies.len() * 320);
        let mut leaves = Vec::with_capacity(bodies.len());
        let mut locations = Vec::with_capacity(bodies.len());
        let mut link = self.head_link;
        let first = self.size;
        let roll = self.tail.len > SEGMENT_HEADER_BYTES as u64
            && self.tail.len >= self.opts.segment_bytes_max;
        let base = if roll {
            SEGMENT_HEADER_BYTES as u64
        } else {
            self.tail.len
        };
        let segment = if roll { first } else { self.tail.first_seq };
        let mut key_events = Vec::new();
        for (i, body) in bodies.into_iter().enumerate() {
            let seq = first + i as u64;
            let record = Record {
                seq,
                time_s,
                prev_link: link,
                operator: self.operator.clone(),
                body,
            };
            let bytes = record.encode()?;
            if index::indexed(seq, segment) {
                locations.push((
                    seq,
                    Location {
                        segment,
                        offset: base + frames.len() as u64,
                    },
                ));
            }
            segment::push_frame(&mut frames, &bytes);
            link = chain::link(&link, &bytes);
            leaves.push(merkle::leaf_hash(&bytes));
            key_events.push((seq, record.body));
        }
        if roll {
            self.roll_segment(first)?;
        }
        let tail_file = self.tail.file.as_mut().expect("checked above: a writer");
        if let Err(e) = tail_file
            .append(&frames)
            .and_then(|()| tail_file.sync_data())
        {
            // Never trust bytes whose write or fsync failed (after a failed
            // fsync Linux may report a later one as successful without
            // writing them): cut them off, durably, so no later open signs
            // them. If even that fails, the outcome is unknown.
            let path = self.tail.path.clone();
            let err = self.poison("segment write/fsync", &path, e);
            let tail_file = self.tail.file.as_mut().expect("checked above: a writer");
            return Err(match tail_file.truncate_to(self.tail.len) {
                Ok(()) => err,
                Err(t) => LedgerError::Unconfirmed {
                    first,
                    end: first + leaves.len() as u64,
                    why: format!(
                        "{err}; cutting {} back to byte {} failed too ({t}), so these records \
                         may or may not be there after the next open",
                        path.display(),
                        self.tail.len
                    ),
                },
            });
        }
        // Durable from here on.
        self.tail.len += frames.len() as u64;
        self.size += leaves.len() as u64;
        self.head_link = link;
        let mut keys_changed = false;
        let key_kinds: Vec<bool> = key_events
            .iter()
            .map(|(_, b)| {
                matches!(
                    b,
                    Body::Genesis { .. } | Body::KeyAdded { .. } | Body::KeyRetired { .. }
                )
            })
            .collect();
        for (seq, body) in key_events {
            keys_changed |= matches!(body, Body::KeyAdded { .. } | Body::KeyRetired { .. });
            recovery::apply_key_event(&mut self.keys, &self.origin, seq, &body);
        }
        // The batch is durable but not yet acknowledged: a failure from here
        // to the checkpoint leaves derived state unknown, so it poisons the
        // writer and reports the batch as unconfirmed (not as failed); the
        // reopen rebuilds tiles and index and signs the checkpoint.
        let unconfirmed = |e: LedgerError| match e {
            LedgerError::Poisoned(why) => LedgerError::Unconfirmed {
                first,
                end: first + leaves.len() as u64,
                why,
            },
            other => LedgerError::Unconfirmed {
                first,
                end: first + leaves.len() as u64,
                why: other.to_string(),
            },
        };
        if keys_changed {
            // The checkpoint for this batch is signed by every key the
            // history now allows: both keys during a rotation's overlap.
            if let Err(e) = self.sync_signers() {
                let why = e.to_string();
                let keys = self.dir.join(KEYS_DIR);
                return Err(unconfirmed(self.poison(
                    "load signing keys",
                    &keys,
                    io::Error::other(why),
                )));
            }
        }
        if let Err(e) = self.tiles.append(&leaves) {
            let tiles = self.dir.join(TILES_DIR);
            return Err(unconfirmed(self.poison("write tile", &tiles, e)));
        }
        let key_seqs: Vec<u64> = key_seqs_of(first, &key_kinds);
        if let Err(e) = self
            .index
            .apply(&locations, &key_seqs, self.size, &self.head_link)
        {
            let index = self.dir.join(INDEX_DIR);
            return Err(unconfirmed(self.poison(
                "update index",
                &index,
                io::Error::other(e),
            )));
        }
        self.sign_checkpoint().map_err(unconfirmed)?;
        Ok(first..self.size)
    }

    /// Makes the signer set equal to the active keys of the history,
    /// loading key files of newly added keys.
    fn sync_signers(&mut self) -> Result<(), LedgerError> {
        let active: Vec<Verifier> = self
            .keys
            .iter()
            .filter(|k| k.retired_seq.is_none())
            .map(|k| k.verifier.clone())
            .collect();
        self.signers.retain(|s| active.contains(&s.verifier));
        for v in active {
            if !self.signers.iter().any(|s| s.verifier == v) {
                let key = checkpoint::read_key_file(&key_path(&self.dir, &v))?;
                self.signers.push(NoteSigner::new(&self.origin, key));
            }
        }
        Ok(())
    }

    /// Key rotation, step 1: generates a new signing key (file mode 0600)
    /// and appends `KeyAdded`. From this batch on, checkpoints carry the
    /// signatures of the old and the new key.
    ///
    /// Idempotent while a rotation is in progress: with two active keys
    /// already (a retry after an uncertain outcome, or step 1 run twice),
    /// the newest one is returned and nothing is added.
    pub fn add_key(&mut self) -> Result<Verifier, LedgerError> {
        let active: Vec<&KeyEntry> = self
            .keys
            .iter()
            .filter(|k| k.retired_seq.is_none())
            .collect();
        if active.len() >= 2 {
            if let Some(newest) = active.iter().max_by_key(|k| k.added_seq) {
                tracing::info!(
                    key_id = format!("{:08x}", newest.verifier.key_id),
                    "a rotation is in progress already; retire the old key next"
                );
                return Ok(newest.verifier.clone());
            }
        }
        let signer = NoteSigner::new(&self.origin, SigningKey::generate(&mut rand::rngs::OsRng));
        let fault = self.opts.sync_fault.as_ref();
        checkpoint::write_key_file_on(
            &key_path(&self.dir, &signer.verifier),
            signer.signing_key(),
            fault,
        )?;
        durable::fsync_dir_on(&self.dir.join(KEYS_DIR), fault)
            .map_err(io_err("fsync", &self.dir.join(KEYS_DIR)))?;
        self.append_batch(vec![Body::KeyAdded {
            public_key: signer.verifier.key.to_bytes(),
            valid_from_s: now_s(),
        }])?;
        Ok(signer.verifier)
    }

    /// Key rotation, step 2: retires a key (by its 8-hex key ID or its
    /// verifier key string). The last active key cannot be retired. The
    /// key file stays on disk (renamed `*.retired`) for the record.
    pub fn retire_key(&mut self, which: &str, reason: &str) -> Result<Verifier, LedgerError> {
        let named = |k: &&KeyEntry| {
            format!("{:08x}", k.verifier.key_id) == which || k.verifier.vkey() == which
        };
        if let Some(k) = self
            .keys
            .iter()
            .find(|k| named(k) && k.retired_seq.is_some())
        {
            // A retry after an uncertain outcome: the key is retired in the
            // ledger already; only finish the rename of its file.
            let v = k.verifier.clone();
            self.set_key_file_aside(&v);
            return Ok(v);
        }
        let active: Vec<&KeyEntry> = self
            .keys
            .iter()
            .filter(|k| k.retired_seq.is_none())
            .collect();
        let k = active
            .iter()
            .find(|k| format!("{:08x}", k.verifier.key_id) == which || k.verifier.vkey() == which)
            .ok_or_else(|| {
                LedgerError::Invalid(format!(
                    "{which:?} is not an active signing key of this ledger"
                ))
            })?;
        if active.len() == 1 {
            return Err(LedgerError::Invalid(
                "cannot retire the only active signing key; run `zeugnis rotate-key` first".into(),
            ));
        }
        let v = k.verifier.clone();
        self.append_batch(vec![Body::KeyRetired {
            public_key: v.key.to_bytes(),
            valid_until_s: now_s(),
            reason: reason.to_string(),
        }])?;
        self.set_key_file_aside(&v);
        Ok(v)
    }

    /// Renames a retired key's file to `*.pem.retired`. The retirement is
    /// committed by then, so a failure is a warning, not the command's
    /// failure (the file of a retired key is never loaded again).
    fn set_key_file_aside(&self, v: &Verifier) {
        let path = key_path(&self.dir, v);
        let retired = path.with_extension("pem.retired");
        let fault = self.opts.sync_fault.as_ref();
        let keys = self.dir.join(KEYS_DIR);
        match durable::rename_on(&path, &retired, fault)
            .and_then(|()| durable::fsync_dir_on(&keys, fault))
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "the key is retired, but its file could not be renamed")
            }
        }
    }

    fn poison(&mut self, what: &str, path: &Path, e: io::Error) -> LedgerError {
        let why = format!("{what} {}: {e}", path.display());
        tracing::error!(%why, "ledger writer poisoned");
        self.poisoned = Some(why.clone());
        LedgerError::Poisoned(why)
    }

    fn roll_segment(&mut self, first_seq: u64) -> Result<(), LedgerError> {
        let path = self
            .dir
            .join(SEGMENTS_DIR)
            .join(segment::segment_name(first_seq));
        let header = SegmentHeader {
            first_seq,
            prev_link: self.head_link,
        };
        let file = match AppendFile::create(&path, &header.encode(), self.opts.sync_fault.clone()) {
            Ok(f) => f,
            Err(e) => return Err(self.poison("create segment", &path, e)),
        };
        tracing::info!(path = %path.display(), first_seq, "new segment");
        self.segments.push(first_seq);
        self.tail = Tail {
            first_seq,
            path,
            file: Some(file),
            len: SEGMENT_HEADER_BYTES as u64,
        };
        Ok(())
    }

    /// Signs a checkpoint for the current size with every active key and
    /// appends it durably. Only called when every record is durable.
    pub(crate) fn sign_checkpoint(&mut self) -> Result<(), LedgerError> {
        let root = match merkle::root(&self.tiles, self.size) {
            Ok(r) => r,
            Err(e) => {
                let tiles = self.dir.join(TILES_DIR);
                return Err(self.poison("tree root", &tiles, io::Error::other(e.to_string())));
            }
        };
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: self.size,
            root,
        };
        let signers: Vec<&NoteSigner> = self.signers.iter().collect();
        let note = checkpoint::sign_note(&cp.text(), &signers)?;
        let frame = recovery::checkpoint_frame(&note);
        let Some(checkpoints_file) = self.checkpoints_file.as_mut() else {
            return Err(LedgerError::ReadOnly {
                path: self.dir.clone(),
            });
        };
        let before = checkpoints_file.len();
        if let Err(e) = checkpoints_file
            .append(&frame)
            .and_then(|()| checkpoints_file.sync_data())
        {
            let path = self.dir.join(CHECKPOINTS_FILE);
            // A checkpoint whose fsync failed is never served: cut it off
            // (best effort; a torn one is cut by the next open, and a whole
            // one can only cover records this process made durable, which
            // the next open signs again with the same size and root).
            if let Err(t) = checkpoints_file.truncate_to(before) {
                tracing::warn!(path = %path.display(), error = %t, "could not cut back a checkpoint whose write failed");
            }
            return Err(self.poison("checkpoint write/fsync", &path, e));
        }
        // The checkpoint is durable in `checkpoints`; the plain copy is
        // derived, so failing to refresh it must not fail the batch.
        let latest = self.dir.join(CHECKPOINT_FILE);
        if let Err(e) = durable::write_replace_derived_on(
            &latest,
            note.as_bytes(),
            self.opts.sync_fault.as_ref(),
        ) {
            tracing::warn!(path = %latest.display(), error = %e, "could not refresh the derived checkpoint copy");
        }
        self.checkpoint = (cp, note);
        Ok(())
    }

    /// The simulated disk this ledger runs on (tests; `None` in production),
    /// for the layers above that write into the same data directory.
    pub fn sync_fault(&self) -> Option<&SyncFault> {
        self.opts.sync_fault.as_ref()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Records in the ledger.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Chain link of the last record.
    pub fn head_link(&self) -> Hash32 {
        self.head_link
    }

    /// The latest signed checkpoint note.
    pub fn checkpoint_note(&self) -> &str {
        &self.checkpoint.1
    }

    /// The latest checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint.0
    }

    /// The key history.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// Verifier keys of every key in the history.
    pub fn verifiers(&self) -> Vec<Verifier> {
        self.keys.iter().map(|k| k.verifier.clone()).collect()
    }

    /// The tree root at `size` (<= current size).
    pub fn root(&self, size: u64) -> Result<TreeHash, LedgerError> {
        Ok(merkle::root(&self.tiles, size)?)
    }

    /// Inclusion proof of record `seq` in the tree of `size` records.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<TreeHash>, LedgerError> {
        self.check_size(size)?;
        Ok(merkle::inclusion_proof(&self.tiles, seq, size)?)
    }

    /// Consistency proof between two tree sizes.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<TreeHash>, LedgerError> {
        self.check_size(size2)?;
        Ok(merkle::consistency_proof(&self.tiles, size1, size2)?)
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        if size > self.size {
            return Err(LedgerError::Invalid(format!(
                "tree size {size} is beyond the ledger size {}",
                self.size
            )));
        }
        Ok(())
    }

    /// A C2SP `.tlog-proof` of record `seq` against the latest checkpoint.
    pub fn tlog_proof(&self, seq: u64) -> Result<TlogProof, LedgerError> {
        let (cp, note) = &self.checkpoint;
        Ok(TlogProof {
            extra: None,
            index: seq,
            path: self.inclusion_proof(seq, cp.size)?,
            checkpoint_note: note.clone(),
        })
    }

    /// A tile as served under its C2SP path (`None` if it does not exist).
    pub fn tile(&self, level: u8, index: u64, width: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.tiles.tile_bytes(level, index, width)?)
    }

    /// The exact bytes of record `seq` (the Merkle leaf input), checked
    /// when read: frame checksum and sequence number, and its leaf hash
    /// against the tiles (which reproduce the signed root), so a record
    /// changed on disk is not served even before a background verification
    /// has reached it.
    pub fn read_record(&self, seq: u64) -> Result<Vec<u8>, LedgerError> {
        let bytes = self.record_reader().read_record(seq, self.size)?;
        if seq < self.tiles.size() {
            let tile = merkle::NodeSource::node(&self.tiles, 0, seq)?;
            if merkle::leaf_hash(&bytes) != tile {
                return Err(corrupt_at(
                    &self.dir.join(SEGMENTS_DIR),
                    0,
                    seq,
                    "the record's leaf hash differs from the tree's (the record or the derived \
                     tile was changed; `zeugnis audit` tells which)"
                        .into(),
                ));
            }
        }
        Ok(bytes)
    }

    /// A handle that reads committed records from other threads, without
    /// the writer (the public verification pages use it).
    pub fn record_reader(&self) -> RecordReader {
        RecordReader {
            dir: self.dir.clone(),
            index: self.index.clone(),
        }
    }

    /// Decodes record `seq`.
    pub fn record(&self, seq: u64) -> Result<Record, LedgerError> {
        let bytes = self.read_record(seq)?;
        Record::decode(&bytes).map_err(|e| {
            let path = self.dir.join(SEGMENTS_DIR);
            corrupt_at(&path, 0, seq, e.to_string())
        })
    }

    /// A named tree in the derived index database (for layers above the
    /// ledger that keep derived state; they must be able to rebuild it from
    /// the records, because `reindex` deletes the whole database).
    pub fn index_tree(&self, name: &str) -> Result<sled::Tree, LedgerError> {
        self.index.tree(name).map_err(|source| LedgerError::Index {
            path: self.dir.join(INDEX_DIR),
            source,
        })
    }

    /// Calls `f` with (seq, record bytes) for every record from `from` to the
    /// end, in order, reading each segment once.
    pub fn for_each_record(&self, from: u64, f: &mut RecordVisitor<'_>) -> Result<(), LedgerError> {
        read_records(&self.dir, from, self.size, f)
    }

    /// Flushes the derived index (shortens the next open; not needed for safety).
    pub fn flush_index(&self) -> Result<(), LedgerError> {
        self.index.flush().map_err(|source| LedgerError::Index {
            path: self.dir.join(INDEX_DIR),
            source,
        })
    }
}
