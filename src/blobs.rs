//! The content-addressed blob store (FORMAT.md §14).
//!
//! Owns: `<data>/blobs/<2 hex>/<64 hex>` files addressed by the BLAKE3 of
//! their content and fingerprinted with SHA-256 too; durable writes (temp,
//! fsync, rename, fsync dir, through `ledger::durable` so the simulated
//! disk covers them); content sniffing for documents and scans; the size
//! limit. The same bytes are stored once. A blob file is trusted as durable
//! only if this process wrote and fsynced it (issue 14, F3): one found on
//! disk is written anew before a record may refer to it.
//! Must not do: decide what a blob means (the registry and the ledger do),
//! delete anything except through [`BlobStore::delete`] (GDPR erasure).

use crate::ledger::durable::{self, SyncFault};
use crate::ledger::record::{BlobRef, Hash32};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Runs `f` over `items` on up to [`FSYNC_THREADS_MAX`] threads (on the
/// calling thread without `parallel`); the first error wins.
fn in_parallel<T: Sync>(
    parallel: bool,
    items: &[T],
    f: impl Fn(&T) -> Result<(), BlobError> + Sync,
) -> Result<(), BlobError> {
    if items.len() <= 1 || !parallel {
        return items.iter().try_for_each(&f);
    }
    let threads = items.len().clamp(1, FSYNC_THREADS_MAX);
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().try_for_each(f)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join().unwrap_or_else(|_| {
                Err(BlobError::Io {
                    op: "fsync",
                    path: PathBuf::new(),
                    source: io::Error::other("fsync thread panicked"),
                })
            })
        })
    })
}

/// Most threads hashing a batch.
pub const HASH_THREADS_MAX: usize = 4;
/// Batches smaller than this are hashed on the calling thread.
pub const PARALLEL_HASH_BYTES_MIN: usize = 1024 * 1024;
/// Default largest blob accepted, in bytes (a 300 dpi colour scan of a few
/// pages stays well below).
pub const BLOB_BYTES_MAX_DEFAULT: u64 = 64 * 1024 * 1024;
/// Most threads used to fsync a group of new blobs.
pub const FSYNC_THREADS_MAX: usize = 8;
/// Sub-directory of the data directory holding blobs.
pub const BLOBS_DIR: &str = "blobs";
/// Most blob addresses (and shard directories) a store remembers as proven
/// durable by this process; when full the memory is cleared, which only
/// means that blobs stored again are written again.
pub const PROVEN_ENTRIES_MAX: usize = 65_536;

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// An operating-system error.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Empty content.
    #[error("{what} is empty")]
    Empty { what: String },
    /// Content above the size limit.
    #[error("{what} has {size_bytes} bytes, above the limit of {limit_bytes} bytes")]
    TooLarge {
        what: String,
        size_bytes: u64,
        limit_bytes: u64,
    },
    /// Content of a type that is not accepted.
    #[error("{what} is not a PDF, PNG, JPEG or TIFF file (starts with {head})")]
    UnsupportedType { what: String, head: String },
    /// A stored blob does not match its address (damage).
    #[error("blob {path} is damaged: its BLAKE3 is {actual}")]
    Damaged { path: PathBuf, actual: String },
    /// A blob that should exist does not.
    #[error("blob {address} is missing")]
    Missing { address: String },
}

impl BlobError {
    /// Exit code for the CLI: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            BlobError::Empty { .. }
            | BlobError::TooLarge { .. }
            | BlobError::UnsupportedType { .. } => 2,
            _ => 1,
        }
    }
}

/// The media type of a document or scan, by its first bytes; `None` if it is
/// none of PDF, PNG, JPEG, TIFF.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else {
        None
    }
}

/// The content-addressed store under `<data>/blobs`.
#[derive(Clone, Debug)]
pub struct BlobStore {
    /// `<data>/blobs`.
    root: PathBuf,
    /// Largest accepted blob.
    size_bytes_max: u64,
    /// Blobs and shard directories this process wrote and fsynced (shared
    /// by clones): only these are trusted without writing them anew.
    proven: Arc<Mutex<Proven>>,
    /// The simulated disk (tests; `None` in production).
    fault: Option<SyncFault>,
}

/// What a [`BlobStore`] proved durable itself.
#[derive(Debug, Default)]
struct Proven {
    /// Blob addresses.
    blobs: HashSet<Hash32>,
    /// Shard directories whose entry in `blobs/` was fsynced.
    shards: HashSet<PathBuf>,
}

impl BlobStore {
    /// Opens (creating if needed) the store in a data directory.
    pub fn open(data_dir: &Path, size_bytes_max: u64) -> Result<BlobStore, BlobError> {
        let root = data_dir.join(BLOBS_DIR);
        fs::create_dir_all(&root).map_err(|source| BlobError::Io {
            op: "create",
            path: root.clone(),
            source,
        })?;
        Ok(BlobStore {
            root,
            size_bytes_max,
            proven: Arc::default(),
            fault: None,
        })
    }

    /// The same store on the simulated disk `fault` (tests).
    pub fn with_fault(mut self, fault: Option<SyncFault>) -> BlobStore {
        self.fault = fault;
        self
    }

    fn proven(&self) -> std::sync::MutexGuard<'_, Proven> {
        self.proven.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Path of a blob by its BLAKE3 address.
    pub fn path(&self, blake3: &Hash32) -> PathBuf {
        let hex = hex::encode(blake3);
        self.root.join(&hex[..2]).join(hex)
    }

    /// Checks a document or scan (`what` names it in errors): not empty,
    /// within the limit, a PDF/PNG/JPEG/TIFF. Returns its media type.
    pub fn check_document(&self, what: &str, bytes: &[u8]) -> Result<&'static str, BlobError> {
        if bytes.is_empty() {
            return Err(BlobError::Empty { what: what.into() });
        }
        if bytes.len() as u64 > self.size_bytes_max {
            return Err(BlobError::TooLarge {
                what: what.into(),
                size_bytes: bytes.len() as u64,
                limit_bytes: self.size_bytes_max,
            });
        }
        sniff(bytes).ok_or_else(|| BlobError::UnsupportedType {
            what: what.into(),
            head: format!(
                "{:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(8)])
            ),
        })
    }

    /// The reference (both fingerprints) of content, without storing it.
    pub fn reference(bytes: &[u8], media_type: &str) -> BlobRef {
        BlobRef {
            blake3: *blake3::hash(bytes).as_bytes(),
            sha256: Sha256::digest(bytes).into(),
            size_bytes: bytes.len() as u64,
            media_type: media_type.to_string(),
        }
    }

    /// Stores many blobs durably as one group: every new file is written to
    /// a temporary name and fsynced (on up to [`FSYNC_THREADS_MAX`] threads,
    /// so the file system can commit them together), renamed into place, and each touched directory is fsynced
    /// once. Content this process already stored (and finds intact) is
    /// skipped; content found on disk but not stored by this process is
    /// written anew. When this returns Ok, every blob is durable.
    pub fn put_batch(&self, items: &[(&[u8], &str)]) -> Result<Vec<BlobRef>, BlobError> {
        let refs = BlobStore::references(items);
        let pairs: Vec<(&[u8], &BlobRef)> = items.iter().map(|(b, _)| *b).zip(&refs).collect();
        self.put_referenced(&pairs)?;
        Ok(refs)
    }

    /// The references of many contents, hashed on up to
    /// [`HASH_THREADS_MAX`] threads when there is enough to hash.
    pub fn references(items: &[(&[u8], &str)]) -> Vec<BlobRef> {
        let total: usize = items.iter().map(|(b, _)| b.len()).sum();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(HASH_THREADS_MAX)
            .min(items.len());
        if threads <= 1 || total < PARALLEL_HASH_BYTES_MIN {
            return items
                .iter()
                .map(|(b, m)| BlobStore::reference(b, m))
                .collect();
        }
        let per = items.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = items
                .chunks(per)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|(b, m)| BlobStore::reference(b, m))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("hashing thread panicked"))
                .collect()
        })
    }

    /// As [`BlobStore::put_batch`] for contents whose references are
    /// already computed (by [`BlobStore::references`]).
    pub fn put_referenced(&self, items: &[(&[u8], &BlobRef)]) -> Result<(), BlobError> {
        let io = |op: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| BlobError::Io {
                op,
                path: p,
                source,
            }
        };
        let mut pending: Vec<(&[u8], PathBuf, PathBuf)> = Vec::new();
        let mut dirs = std::collections::BTreeSet::new();
        let mut sync_root = false;
        let mut fresh: Vec<Hash32> = Vec::new();
        for (bytes, r) in items {
            let path = self.path(&r.blake3);
            if pending.iter().any(|(_, _, p)| *p == path) {
                continue;
            }
            if self.proven().blobs.contains(&r.blake3) {
                // Written and fsynced by this process; re-read it, so a
                // damaged copy is repaired by storing the bytes again.
                let intact = match fs::metadata(&path) {
                    Ok(m) if m.len() == bytes.len() as u64 => {
                        let existing = fs::read(&path).map_err(io("read", &path))?;
                        blake3::hash(&existing).as_bytes() == &r.blake3
                    }
                    _ => false,
                };
                if intact {
                    continue;
                }
            }
            // Not proven durable by this process: even a file with the right
            // content may be what a failed fsync (of it or of its directory)
            // left in the page cache, and after a failed writeback Linux
            // reports a later fsync as successful without writing the pages
            // (issue 14, F3). Write it anew.
            let dir = path.parent().unwrap_or(&self.root).to_path_buf();
            if !dir.exists() {
                fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            }
            if !self.proven().shards.contains(&dir) {
                sync_root = true;
            }
            let tmp = dir.join(format!(".{}.tmp", hex::encode(r.blake3)));
            dirs.insert(dir);
            pending.push((bytes, tmp, path));
            fresh.push(r.blake3);
        }
        let fault = self.fault.as_ref();
        // Without a simulated disk the files are written and fsynced on
        // several threads: the copies into the page cache run on both cores
        // and overlap with the device writes. On it, in order, so that its
        // call numbers are the same in every run.
        let parallel = fault.is_none();
        in_parallel(parallel, &pending, |(bytes, tmp, _)| {
            durable::write_file_on(tmp, bytes, 0o666, false, true, fault)
                .map_err(io("write and fsync", tmp))
        })?;
        for (_, tmp, path) in &pending {
            durable::rename_on(tmp, path, fault).map_err(io("rename", path))?;
        }
        // Directory fsyncs are journal commits on ext4: issued together
        // they share commits instead of queueing one after another.
        let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
        if sync_root {
            dirs.push(self.root.clone());
        }
        in_parallel(parallel, &dirs, |dir| {
            durable::fsync_dir_on(dir, fault).map_err(io("fsync", dir))
        })?;
        let mut proven = self.proven();
        if proven.blobs.len() + fresh.len() > PROVEN_ENTRIES_MAX
            || proven.shards.len() + dirs.len() > PROVEN_ENTRIES_MAX
        {
            proven.blobs.clear();
            proven.shards.clear();
        }
        proven.blobs.extend(fresh);
        proven
            .shards
            .extend(dirs.into_iter().filter(|d| *d != self.root));
        Ok(())
    }

    /// Stores bytes durably (or finds them already stored) and returns the
    /// reference with both fingerprints.
    pub fn put(&self, bytes: &[u8], media_type: &str) -> Result<BlobRef, BlobError> {
        let mut refs = self.put_batch(&[(bytes, media_type)])?;
        Ok(refs.remove(0))
    }

    /// Reads a blob and checks it against its address.
    pub fn get(&self, blake3: &Hash32) -> Result<Vec<u8>, BlobError> {
        let path = self.path(blake3);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::Missing {
                    address: hex::encode(blake3),
                })
            }
            Err(source) => {
                return Err(BlobError::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        let actual = blake3::hash(&bytes);
        if actual.as_bytes() != blake3 {
            return Err(BlobError::Damaged {
                path,
                actual: actual.to_hex().to_string(),
            });
        }
        Ok(bytes)
    }

    /// True if the blob file exists.
    pub fn exists(&self, blake3: &Hash32) -> bool {
        self.path(blake3).is_file()
    }

    /// Deletes a blob durably (GDPR erasure). Deleting a missing blob is fine.
    pub fn delete(&self, blake3: &Hash32) -> Result<bool, BlobError> {
        let path = self.path(blake3);
        self.proven().blobs.remove(blake3);
        let fault = self.fault.as_ref();
        match durable::remove_file_on(&path, fault) {
            Ok(()) => {
                let dir = path.parent().unwrap_or(&self.root).to_path_buf();
                durable::fsync_dir_on(&dir, fault).map_err(|source| BlobError::Io {
                    op: "fsync",
                    path: dir,
                    source,
                })?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(BlobError::Io {
                op: "delete",
                path,
                source,
            }),
        }
    }

    /// Every stored blob address (for the orphan check of `audit`).
    pub fn list(&self) -> Result<Vec<Hash32>, BlobError> {
        let mut out = Vec::new();
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| BlobError::Io {
                op: "list",
                path: p,
                source,
            }
        };
        for shard in fs::read_dir(&self.root).map_err(io(&self.root))? {
            let shard = shard.map_err(io(&self.root))?.path();
            if !shard.is_dir() {
                continue;
            }
            for f in fs::read_dir(&shard).map_err(io(&shard))? {
                let name = f
                    .map_err(io(&shard))?
                    .file_name()
                    .to_string_lossy()
                    .to_string();
                if let Ok(raw) = hex::decode(&name) {
                    if let Ok(h) = raw.try_into() {
                        out.push(h);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_table() {
        let cases: [(&[u8], Option<&str>); 7] = [
            (b"%PDF-1.7\n", Some("application/pdf")),
            (b"\x89PNG\r\n\x1a\n....", Some("image/png")),
            (&[0xFF, 0xD8, 0xFF, 0xE0], Some("image/jpeg")),
            (b"II*\0....", Some("image/tiff")),
            (b"MM\0*....", Some("image/tiff")),
            (b"PK\x03\x04", None),
            (b"%PD", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn put_get_dedupe_delete() {
        let t = tempfile::tempdir().expect("tempdir");
        let s = BlobStore::open(t.path(), 1000).expect("open");
        let a = s.put(b"%PDF-1.7 hello", "application/pdf").expect("put");
        let b = s
            .put(b"%PDF-1.7 hello", "application/pdf")
            .expect("put again");
        assert_eq!(a, b);
        assert_eq!(s.list().expect("list"), vec![a.blake3]);
        assert_eq!(
            a.sha256,
            <[u8; 32]>::from(Sha256::digest(b"%PDF-1.7 hello"))
        );
        assert_eq!(s.get(&a.blake3).expect("get"), b"%PDF-1.7 hello");
        // Damage is detected on read and repaired by the next put of the same bytes.
        fs::write(s.path(&a.blake3), b"%PDF-1.7 hellO").expect("damage");
        assert!(matches!(s.get(&a.blake3), Err(BlobError::Damaged { .. })));
        s.put(b"%PDF-1.7 hello", "application/pdf").expect("repair");
        assert_eq!(s.get(&a.blake3).expect("get"), b"%PDF-1.7 hello");
        assert!(s.delete(&a.blake3).expect("delete"));
        assert!(!s.delete(&a.blake3).expect("delete again"));
        assert!(matches!(s.get(&a.blake3), Err(BlobError::Missing { .. })));
    }

    #[test]
    fn put_batch_stores_each_once_and_durably_named() {
        let t = tempfile::tempdir().expect("tempdir");
        let s = BlobStore::open(t.path(), 1000).expect("open");
        let a: &[u8] = b"%PDF-1.7 a";
        let b: &[u8] = b"%PDF-1.7 b";
        let first = s.put(a, "application/pdf").expect("put");
        let refs = s
            .put_batch(&[
                (a, "application/pdf"),
                (b, "application/pdf"),
                (b, "application/pdf"),
            ])
            .expect("batch");
        assert_eq!(refs[0], first);
        assert_eq!(refs[1], refs[2]);
        assert_eq!(refs[1], BlobStore::reference(b, "application/pdf"));
        assert_eq!(s.list().expect("list").len(), 2);
        assert_eq!(s.get(&refs[1].blake3).expect("get"), b);
        // No temporary files are left behind.
        let shard = s.path(&refs[1].blake3).parent().expect("dir").to_path_buf();
        assert!(fs::read_dir(shard).expect("dir").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with('.')));
    }

    #[test]
    fn documents_are_checked() {
        let t = tempfile::tempdir().expect("tempdir");
        let s = BlobStore::open(t.path(), 16).expect("open");
        assert!(matches!(
            s.check_document("a.pdf", b""),
            Err(BlobError::Empty { .. })
        ));
        assert!(matches!(
            s.check_document("a.pdf", b"%PDF-1.7 0123456789"),
            Err(BlobError::TooLarge {
                size_bytes: 19,
                limit_bytes: 16,
                ..
            })
        ));
        let e = s
            .check_document("a.docx", b"PK\x03\x04")
            .expect_err("refused");
        assert!(
            e.to_string()
                .contains("a.docx is not a PDF, PNG, JPEG or TIFF"),
            "{e}"
        );
        assert_eq!(
            s.check_document("a.pdf", b"%PDF-1.4").expect("ok"),
            "application/pdf"
        );
    }
}
