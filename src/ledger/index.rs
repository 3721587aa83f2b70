//! The derived index in sled (FORMAT.md §11): sequence number -> segment and
//! offset (every 64th record and each segment's first), plus the ledger head
//! it was built from.
//!
//! Owns: the sled database under `<data>/index`. Everything in it can be
//! rebuilt from the segments (`zeugnis reindex`); it is checked against the
//! ledger head on open and rebuilt when missing, stale or corrupt.
//! Must not do: be trusted for anything a verifier checks.

use super::record::Hash32;
use std::path::Path;

/// Index schema version; a different stored version triggers a rebuild.
pub const INDEX_VERSION: u64 = 2;
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
}

/// Where a record is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// First seq of the segment file (its name).
    pub segment: u64,
    /// Byte offset of the frame.
    pub offset: u64,
}

impl Index {
    /// Opens the index; a database sled cannot open is deleted and recreated.
    /// Returns the index and whether it had to be recreated.
    pub fn open(dir: &Path) -> Result<(Index, bool), sled::Error> {
        match Index::open_once(dir) {
            Ok(i) => Ok((i, false)),
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "index unreadable; recreating it from the ledger");
                let _ = std::fs::remove_dir_all(dir);
                Ok((Index::open_once(dir)?, true))
            }
        }
    }

    fn open_once(dir: &Path) -> Result<Index, sled::Error> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::LowSpace)
            .open()?;
        let records = db.open_tree("records")?;
        Ok(Index { db, records })
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
        self.db.remove("head")?;
        Ok(())
    }

    /// Adds record locations and moves the head, in one atomic batch per tree.
    pub fn apply(
        &self,
        locations: &[(u64, Location)],
        size: u64,
        link: &Hash32,
    ) -> Result<(), sled::Error> {
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
