//! The derived index in sled (FORMAT.md §11): sequence number -> segment and
//! offset (every 64th record and each segment's first), the sequence numbers
//! of the key records (so an open finds the key history without reading
//! every record), plus the ledger head it was built from.
//!
//! Owns: the sled database under `<data>/index`. Everything in it can be
//! rebuilt from the segments (`zeugnis reindex`); it is checked against the
//! ledger head on open and rebuilt when missing, stale or corrupt.
//! Must not do: be trusted for anything a verifier checks.

use super::record::Hash32;
use std::path::Path;

/// Index schema version; a different stored version triggers a rebuild.
/// Version 3 added the key-record tree (`keys`).
pub const INDEX_VERSION: u64 = 3;
/// How long opening the index waits for sled's own file lock (held by
/// another process that has the index open), in milliseconds.
pub const INDEX_LOCK_WAIT_MS_MAX: u64 = 2_000;
/// Every this many records one location is indexed (plus the first record of
/// every segment); a read scans at most this many frames forward. Indexing
/// every record made sled the most expensive step of an append.
pub const INDEX_STRIDE_RECORDS: u64 = 64;

/// Whether record `seq` in the segment starting at `segment_first` gets an
/// index entry.
pub fn indexed(seq: u64, segment_first: u64) -> bool {
    seq.is_multiple_of(INDEX_STRIDE_RECORDS) || seq == segment_first
}

/// The sled index (a cheap handle: clones share the database).
#[derive(Clone)]
pub struct Index {
    /// The database (kept open for the ledger's lifetime).
    db: sled::Db,
    /// seq (u64 BE) -> segment first seq (u64 LE) || frame offset (u64 LE).
    records: sled::Tree,
    /// seq (u64 BE) -> empty, for every key record (Genesis, KeyAdded,
    /// KeyRetired): the fast open reads the key history from these.
    keys: sled::Tree,
}

/// Where a record is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// First seq of the segment file (its name).
    pub segment: u64,
    /// Byte offset of the frame.
    pub offset: u64,
}

/// True if `e` is sled's report that another process holds the database.
fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

impl Index {
    /// Opens the index; a database sled cannot open is deleted and recreated.
    /// Returns the index and whether it had to be recreated. A database
    /// another process holds open (sled's own file lock) is waited for up to
    /// [`INDEX_LOCK_WAIT_MS_MAX`] and then reported, never deleted.
    pub fn open(dir: &Path) -> Result<(Index, bool), sled::Error> {
        match Index::open_waiting(dir) {
            Ok(i) => Ok((i, false)),
            Err(e) if is_lock_error(&e) => Err(e),
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "index unreadable; recreating it from the ledger");
                let _ = std::fs::remove_dir_all(dir);
                Ok((Index::open_once(dir)?, true))
            }
        }
    }

    /// Opens the index for a reader: waits for sled's lock like
    /// [`Index::open`], but never deletes anything.
    pub fn open_existing(dir: &Path) -> Result<Index, sled::Error> {
        if !dir.join("db").exists() && !dir.join("conf").exists() {
            return Err(sled::Error::Unsupported(format!(
                "no index database in {}",
                dir.display()
            )));
        }
        Index::open_waiting(dir)
    }

    fn open_waiting(dir: &Path) -> Result<Index, sled::Error> {
        let started = std::time::Instant::now();
        loop {
            match Index::open_once(dir) {
                Err(e)
                    if is_lock_error(&e)
                        && started.elapsed().as_millis() < u128::from(INDEX_LOCK_WAIT_MS_MAX) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    fn open_once(dir: &Path) -> Result<Index, sled::Error> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::LowSpace)
            .open()?;
        let records = db.open_tree("records")?;
        let keys = db.open_tree("keys")?;
        Ok(Index { db, records, keys })
    }

    /// The head the index was built up to: (ledger size, link of the last record).
    pub fn head(&self) -> Result<Option<(u64, Hash32)>, sled::Error> {
        if self.db.get("version")?.as_deref() != Some(&INDEX_VERSION.to_le_bytes()[..]) {
            return Ok(None);
        }
        Ok(self.db.get("head")?.and_then(|v| {
            let size = u64::from_le_bytes(v.get(..8)?.try_into().ok()?);
            let link: Hash32 = v.get(8..40)?.try_into().ok()?;
            Some((size, link))
        }))
    }

    /// Removes everything.
    pub fn clear(&self) -> Result<(), sled::Error> {
        self.records.clear()?;
        self.keys.clear()?;
        self.db.remove("head")?;
        Ok(())
    }

    /// Adds record locations and key records and moves the head, in one
    /// atomic batch per tree.
    pub fn apply(
        &self,
        locations: &[(u64, Location)],
        key_seqs: &[u64],
        size: u64,
        link: &Hash32,
    ) -> Result<(), sled::Error> {
        if !key_seqs.is_empty() {
            let mut batch = sled::Batch::default();
            for seq in key_seqs {
                batch.insert(&seq.to_be_bytes(), &[]);
            }
            self.keys.apply_batch(batch)?;
        }
        let mut batch = sled::Batch::default();
        for (seq, loc) in locations {
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&loc.segment.to_le_bytes());
            v[8..].copy_from_slice(&loc.offset.to_le_bytes());
            batch.insert(&seq.to_be_bytes(), &v);
        }
        self.records.apply_batch(batch)?;
        let mut head = size.to_le_bytes().to_vec();
        head.extend_from_slice(link);
        self.db.insert("version", &INDEX_VERSION.to_le_bytes())?;
        self.db.insert("head", head)?;
        Ok(())
    }

    /// The nearest indexed record at or before `seq` and where it is stored;
    /// it lies in the same segment as `seq` (every segment's first record is
    /// indexed).
    pub fn location_at_or_before(&self, seq: u64) -> Result<Option<(u64, Location)>, sled::Error> {
        let Some((k, v)) = self
            .records
            .range(..=seq.to_be_bytes())
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        let parse = || {
            Some((
                u64::from_be_bytes(k.as_ref().try_into().ok()?),
                Location {
                    segment: u64::from_le_bytes(v.get(..8)?.try_into().ok()?),
                    offset: u64::from_le_bytes(v.get(8..16)?.try_into().ok()?),
                },
            ))
        };
        Ok(parse())
    }

    /// Sequence numbers of the key records below `size`, ascending.
    pub fn key_seqs(&self, size: u64) -> Result<Vec<u64>, sled::Error> {
        let mut out = Vec::new();
        for kv in self.keys.range(..size.to_be_bytes()) {
            let (k, _) = kv?;
            if let Ok(b) = <[u8; 8]>::try_from(k.as_ref()) {
                out.push(u64::from_be_bytes(b));
            }
        }
        Ok(out)
    }

    /// A named tree in the same database, for derived state kept by layers
    /// above the ledger (e.g. certificate states). Cleared with the index.
    pub fn tree(&self, name: &str) -> Result<sled::Tree, sled::Error> {
        self.db.open_tree(name)
    }

    /// Flushes to disk (not needed for correctness; shortens the next open).
    pub fn flush(&self) -> Result<(), sled::Error> {
        self.db.flush().map(|_| ())
    }
}
