//! Durable file operations: the one place that decides how bytes reach the disk.
//!
//! Owns: atomic replacement (temp, fsync, rename, fsync dir), directory fsync,
//! and the append handle used for segment and checkpoint files, including the
//! simulated faulty disk ([`SyncFault`]) used by the crash, poisoning and
//! `fault::` tests.
//! Must not do: interpret the bytes it writes.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Metadata of a secret file (signing key, admin token), refusing one that
/// group or others may read or write. The error is a reason for a person.
pub fn private_file_metadata(path: &Path) -> Result<fs::Metadata, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {mode:04o} gives access to group or others; refusing to use it (chmod 600 it)"
        ));
    }
    Ok(meta)
}

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in the
/// same directory is written and fsynced, renamed over `path`, then the
/// directory is fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replace(path, bytes, true)
}

/// As [`write_atomic`] for a secret: the file is created with mode 0600.
pub fn write_atomic_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replace_mode(path, bytes, true, 0o600)
}

/// As [`write_atomic`] but without fsyncs, for derived files (tiles, the
/// latest-checkpoint copy) that are rebuilt from the ledger when damaged.
pub fn write_replace_derived(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replace(path, bytes, false)
}

fn write_replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    write_replace_mode(path, bytes, durable, 0o666)
}

fn write_replace_mode(path: &Path, bytes: &[u8], durable: bool, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path)?;
    if durable {
        fsync_dir(dir)?;
    }
    Ok(())
}

/// Test hook: a simulated faulty disk under the ledger's append files
/// (segments, `checkpoints`). `None` in production.
///
/// It counts every call an [`AppendFile`] makes to the file system
/// (create, append, data sync, truncate), can fail one of them (or every
/// call from one on, as a dying disk or a killed process would) with EIO or
/// ENOSPC, and remembers per file how many bytes a successful sync made
/// durable and which ranges a failed sync left in doubt. [`SyncFault::power_loss`]
/// then does to the files what a power cut does to a page cache: unsynced
/// bytes are dropped (or torn), bytes whose sync failed are zeroed even if a
/// later sync "succeeded" (Linux marks such pages clean: the fsyncgate
/// behaviour).
#[derive(Clone, Debug, Default)]
pub struct SyncFault(Arc<FaultState>);

/// Shared state of a [`SyncFault`].
#[derive(Debug, Default)]
struct FaultState {
    /// Fail the next data sync (the original single-shot hook).
    next_sync: AtomicBool,
    /// Calls made so far.
    calls: AtomicU64,
    /// The call number that fails (`u64::MAX` = none; 0 = no plan set).
    fail_at: AtomicU64,
    /// Whether every call after `fail_at` fails too (a crash).
    sticky: AtomicBool,
    /// Whether the injected error is ENOSPC rather than EIO.
    enospc: AtomicBool,
    /// Durability per file.
    files: Mutex<HashMap<PathBuf, FileDurability>>,
}

/// What the simulated disk knows about one file.
#[derive(Clone, Debug, Default)]
struct FileDurability {
    /// Bytes from the start proven durable by a successful sync.
    synced_bytes: u64,
    /// Ranges whose sync failed: lost at a power cut whatever happens later.
    failed: Vec<(u64, u64)>,
}

/// How a power cut treats the bytes written since the last successful sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerLoss {
    /// Every unsynced byte is lost.
    DropUnsynced,
    /// Unsynced bytes survive (the page cache happened to be written back).
    KeepUnsynced,
    /// Half of the unsynced bytes survive (a torn write).
    TearUnsynced,
}

impl SyncFault {
    /// Makes the next `sync_data` fail.
    pub fn fail_next_sync(&self) {
        self.0.next_sync.store(true, Ordering::SeqCst);
    }

    /// Fails call number `n` (counted from 1 since the last [`SyncFault::reset_calls`])
    /// with EIO, or ENOSPC with `enospc`. With `sticky` the process crashes
    /// there: that call and every later one fail without touching the disk
    /// (nothing is left "in doubt"; unsynced bytes wait for the power cut).
    pub fn fail_call(&self, n: u64, enospc: bool, sticky: bool) {
        self.0.fail_at.store(n, Ordering::SeqCst);
        self.0.enospc.store(enospc, Ordering::SeqCst);
        self.0.sticky.store(sticky, Ordering::SeqCst);
    }

    /// Clears a planned failure and restarts the call count.
    pub fn reset_calls(&self) {
        self.0.fail_at.store(0, Ordering::SeqCst);
        self.0.sticky.store(false, Ordering::SeqCst);
        self.0.calls.store(0, Ordering::SeqCst);
    }

    /// Calls counted since the last reset.
    pub fn calls(&self) -> u64 {
        self.0.calls.load(Ordering::SeqCst)
    }

    /// Whether a failure has been injected since the last reset.
    pub fn fired(&self) -> bool {
        let at = self.0.fail_at.load(Ordering::SeqCst);
        at != 0 && self.calls() >= at
    }

    /// Counts one call; the error to return if this call is to fail.
    fn call(&self, what: &str) -> io::Result<()> {
        let n = self.0.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let at = self.0.fail_at.load(Ordering::SeqCst);
        let fails = at != 0 && (n == at || (n > at && self.0.sticky.load(Ordering::SeqCst)));
        if fails {
            let code = if self.0.enospc.load(Ordering::SeqCst) {
                28 // ENOSPC
            } else {
                5 // EIO
            };
            let e = io::Error::from_raw_os_error(code);
            return Err(io::Error::new(
                e.kind(),
                format!("{e} (injected into {what}, call {n})"),
            ));
        }
        Ok(())
    }

    fn with_file(&self, path: &Path, f: impl FnOnce(&mut FileDurability)) {
        let mut files = self.0.files.lock().unwrap_or_else(|p| p.into_inner());
        f(files.entry(path.to_path_buf()).or_default());
    }

    /// Applies a power cut to every file this fault has seen (see the type
    /// doc). Returns the number of bytes that changed.
    pub fn power_loss(&self, mode: PowerLoss) -> io::Result<u64> {
        let files = self
            .0
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut changed = 0;
        for (path, d) in files {
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let len = meta.len();
            let keep = match mode {
                PowerLoss::DropUnsynced => d.synced_bytes.min(len),
                PowerLoss::KeepUnsynced => len,
                PowerLoss::TearUnsynced => {
                    let s = d.synced_bytes.min(len);
                    s + (len - s) / 2
                }
            };
            let f = OpenOptions::new().write(true).open(&path)?;
            if keep < len {
                f.set_len(keep)?;
                changed += len - keep;
            }
            for (a, b) in d.failed {
                let (a, b) = (a.min(keep), b.min(keep));
                if a < b {
                    use std::os::unix::fs::FileExt;
                    f.write_all_at(&vec![0u8; (b - a) as usize], a)?;
                    changed += b - a;
                }
            }
            f.sync_all()?;
        }
        self.0
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(changed)
    }
}

/// An append-only file handle: writes go to the end; `sync_data` is fdatasync.
#[derive(Debug)]
pub struct AppendFile {
    /// The open file, positioned at its end.
    file: File,
    /// Its path (for the fault model).
    path: PathBuf,
    /// Its length: bytes appended so far, durable or not.
    len: u64,
    /// Fault injection for tests; `None` in production.
    fault: Option<SyncFault>,
}

impl AppendFile {
    /// Opens an existing file for appending.
    pub fn open(path: &Path, fault: Option<SyncFault>) -> io::Result<AppendFile> {
        let file = OpenOptions::new().append(true).open(path)?;
        let len = file.metadata()?.len();
        if let Some(f) = &fault {
            // A file first seen now survived the last (simulated) power cut:
            // its bytes are on the disk. One seen before keeps its history.
            let mut files = f.0.files.lock().unwrap_or_else(|p| p.into_inner());
            files.entry(path.to_path_buf()).or_insert(FileDurability {
                synced_bytes: len,
                failed: Vec::new(),
            });
        }
        Ok(AppendFile {
            file,
            path: path.to_path_buf(),
            len,
            fault,
        })
    }

    /// Creates a new file (it must not exist), writes `header`, fsyncs the
    /// file and its directory.
    pub fn create(path: &Path, header: &[u8], fault: Option<SyncFault>) -> io::Result<AppendFile> {
        if let Some(f) = &fault {
            f.call("create")?;
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        file.write_all(header)?;
        file.sync_all()?;
        if let Some(dir) = path.parent() {
            fsync_dir(dir)?;
        }
        if let Some(f) = &fault {
            f.with_file(path, |d| d.synced_bytes = header.len() as u64);
        }
        Ok(AppendFile {
            file,
            path: path.to_path_buf(),
            len: header.len() as u64,
            fault,
        })
    }

    /// Appends all bytes (not yet durable).
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(f) = &self.fault {
            if let Err(e) = f.call("append") {
                // A failed write may still have put part of the bytes into
                // the page cache: model the worst case.
                let half = &bytes[..bytes.len() / 2];
                self.file.write_all(half)?;
                self.len += half.len() as u64;
                return Err(e);
            }
        }
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// fdatasync: after it returns Ok, every appended byte is durable.
    pub fn sync_data(&mut self) -> io::Result<()> {
        if let Some(f) = &self.fault {
            let injected = if f.0.next_sync.swap(false, Ordering::SeqCst) {
                Err(io::Error::other("injected fsync failure (test fault)"))
            } else {
                f.call("fdatasync")
            };
            if let Err(e) = injected {
                // A sync that failed (EIO, ENOSPC) leaves its bytes in
                // doubt for good; in a crash (sticky) it simply never ran,
                // and the bytes stay unsynced page cache.
                if !f.0.sticky.load(Ordering::SeqCst) {
                    let len = self.len;
                    f.with_file(&self.path, |d| {
                        if len > d.synced_bytes {
                            d.failed.push((d.synced_bytes, len));
                        }
                    });
                }
                return Err(e);
            }
        }
        self.file.sync_data()?;
        if let Some(f) = &self.fault {
            let len = self.len;
            f.with_file(&self.path, |d| d.synced_bytes = d.synced_bytes.max(len));
        }
        Ok(())
    }

    /// Bytes in the file (appended, durable or not).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Cuts the file back to `len` bytes and makes that durable: after a
    /// failed append or sync, the bytes that were never proven durable are
    /// removed from the file (and from the page cache) instead of being
    /// trusted by the next reader.
    pub fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        if let Some(f) = &self.fault {
            f.call("truncate")?;
        }
        self.file.set_len(len)?;
        self.file.sync_all()?;
        self.len = len;
        if let Some(f) = &self.fault {
            f.with_file(&self.path, |d| {
                d.synced_bytes = d.synced_bytes.min(len);
                d.failed.retain_mut(|r| {
                    r.1 = r.1.min(len);
                    r.0 < r.1
                });
            });
        }
        Ok(())
    }
}

/// fdatasync of an existing file by path (recovery makes records it is about
/// to sign durable this way).
pub fn fsync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_data()
}

/// Truncates a file to `len` bytes and makes the truncation durable.
pub fn truncate_durable(path: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}
