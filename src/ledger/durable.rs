//! Durable file operations: the one place that decides how bytes reach the disk.
//!
//! Owns: atomic replacement (temp, fsync, rename, fsync dir), directory fsync,
//! and the append handle used for segment and checkpoint files, including the
//! fault-injection hook used by the crash and poisoning tests.
//! Must not do: interpret the bytes it writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// As [`write_atomic`] but without fsyncs, for derived files (tiles, the
/// latest-checkpoint copy) that are rebuilt from the ledger when damaged.
pub fn write_replace_derived(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replace(path, bytes, false)
}

fn write_replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    {
        let mut f = File::create(&tmp)?;
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

/// Test hook: when set, the next data sync of an [`AppendFile`] fails with an
/// I/O error as a dying disk would, and the flag clears itself.
#[derive(Clone, Debug, Default)]
pub struct SyncFault(Arc<AtomicBool>);

impl SyncFault {
    /// Makes the next `sync_data` fail.
    pub fn fail_next_sync(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// An append-only file handle: writes go to the end; `sync_data` is fdatasync.
#[derive(Debug)]
pub struct AppendFile {
    /// The open file, positioned at its end.
    file: File,
    /// Fault injection for tests; `None` in production.
    fault: Option<SyncFault>,
}

impl AppendFile {
    /// Opens an existing file for appending.
    pub fn open(path: &Path, fault: Option<SyncFault>) -> io::Result<AppendFile> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(AppendFile { file, fault })
    }

    /// Creates a new file (it must not exist), writes `header`, fsyncs the
    /// file and its directory.
    pub fn create(path: &Path, header: &[u8], fault: Option<SyncFault>) -> io::Result<AppendFile> {
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        file.write_all(header)?;
        file.sync_all()?;
        if let Some(dir) = path.parent() {
            fsync_dir(dir)?;
        }
        Ok(AppendFile { file, fault })
    }

    /// Appends all bytes (not yet durable).
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// fdatasync: after it returns Ok, every appended byte is durable.
    pub fn sync_data(&mut self) -> io::Result<()> {
        if self.fault.as_ref().is_some_and(SyncFault::take) {
            return Err(io::Error::other("injected fsync failure (test fault)"));
        }
        self.file.sync_data()
    }
}

/// Truncates a file to `len` bytes and makes the truncation durable.
pub fn truncate_durable(path: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}
