//! Durable file operations: the one place that decides how bytes reach the disk.
//!
//! Owns: atomic replacement (temp, fsync, rename, fsync dir), directory fsync,
//! whole-file writes (blobs, key files, tiles, the derived checkpoint copy),
//! renames and removals, and the append handle used for segment and
//! checkpoint files, including the simulated faulty disk ([`SyncFault`]) under
//! all of them, used by the crash, poisoning and `fault::` tests.
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
    fsync_dir_on(dir, None)
}

/// As [`fsync_dir`] on the simulated disk `fault` (`None`: the real one).
pub fn fsync_dir_on(dir: &Path, fault: Option<&SyncFault>) -> io::Result<()> {
    if let Some(f) = fault {
        f.call("fsync dir")?;
    }
    File::open(dir)?.sync_all()?;
    if let Some(f) = fault {
        f.dir_synced(dir);
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in the
/// same directory is written and fsynced, renamed over `path`, then the
/// directory is fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_on(path, bytes, None)
}

/// As [`write_atomic`] on the simulated disk `fault` (`None`: the real one).
pub fn write_atomic_on(path: &Path, bytes: &[u8], fault: Option<&SyncFault>) -> io::Result<()> {
    write_replace_mode(path, bytes, true, 0o666, fault)
}

/// As [`write_atomic`] for a secret: the file is created with mode 0600.
pub fn write_atomic_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_private_on(path, bytes, None)
}

/// As [`write_atomic_private`] on the simulated disk `fault`.
pub fn write_atomic_private_on(
    path: &Path,
    bytes: &[u8],
    fault: Option<&SyncFault>,
) -> io::Result<()> {
    write_replace_mode(path, bytes, true, 0o600, fault)
}

/// As [`write_atomic`] but without fsyncs, for derived files (tiles, the
/// latest-checkpoint copy) that are rebuilt from the ledger when damaged.
pub fn write_replace_derived(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replace_derived_on(path, bytes, None)
}

/// As [`write_replace_derived`] on the simulated disk `fault`.
pub fn write_replace_derived_on(
    path: &Path,
    bytes: &[u8],
    fault: Option<&SyncFault>,
) -> io::Result<()> {
    write_replace_mode(path, bytes, false, 0o666, fault)
}

fn write_replace_mode(
    path: &Path,
    bytes: &[u8],
    durable: bool,
    mode: u32,
    fault: Option<&SyncFault>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    write_file_on(&tmp, bytes, mode, false, durable, fault)?;
    rename_on(&tmp, path, fault)?;
    if durable {
        fsync_dir_on(dir, fault)?;
    }
    Ok(())
}

/// Writes a whole file: creates it with `mode` (refusing an existing one
/// with `create_new`, else truncating it), writes `bytes` and, with `sync`,
/// fsyncs it. Its directory entry is not made durable here (see
/// [`fsync_dir_on`]). On the simulated disk `fault` a failed write leaves
/// half of the bytes behind, as a short write into the page cache would.
pub fn write_file_on(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    create_new: bool,
    sync: bool,
    fault: Option<&SyncFault>,
) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(f) = fault {
        f.call("create")?;
        f.before_change(path);
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(!create_new)
        .create_new(create_new)
        .truncate(!create_new)
        .mode(mode)
        .open(path)?;
    if let Some(f) = fault {
        f.node_written(path);
        if let Err(e) = f.call("write") {
            file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(e);
        }
    }
    file.write_all(bytes)?;
    if sync {
        if let Some(f) = fault {
            if let Err(e) = f.call("fsync") {
                f.node_sync_failed(path);
                return Err(e);
            }
        }
        file.sync_all()?;
        if let Some(f) = fault {
            f.node_synced(path, bytes);
        }
    }
    Ok(())
}

/// Renames `from` to `to` (not durable until the directory is fsynced).
pub fn rename_on(from: &Path, to: &Path, fault: Option<&SyncFault>) -> io::Result<()> {
    if let Some(f) = fault {
        f.call("rename")?;
        f.before_change(from);
        f.before_change(to);
    }
    fs::rename(from, to)?;
    if let Some(f) = fault {
        f.node_renamed(from, to);
    }
    Ok(())
}

/// Removes a file (not durable until the directory is fsynced).
pub fn remove_file_on(path: &Path, fault: Option<&SyncFault>) -> io::Result<()> {
    if let Some(f) = fault {
        f.call("unlink")?;
        f.before_change(path);
    }
    fs::remove_file(path)?;
    if let Some(f) = fault {
        f.node_removed(path);
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
    /// How many calls from `fail_at` on fail (1 = one call; `sticky`
    /// overrides it: every later call).
    fail_count: AtomicU64,
    /// Durability per append file.
    files: Mutex<HashMap<PathBuf, FileDurability>>,
    /// Durability of whole files and directory entries.
    whole: Mutex<WholeFiles>,
}

/// What the simulated disk knows about files written whole (blobs, key
/// files, tiles, atomic replacements) and about directory entries.
/// Directories themselves are assumed durable once created.
#[derive(Clone, Debug, Default)]
struct WholeFiles {
    /// Files written through the disk, by their current name.
    nodes: HashMap<PathBuf, Node>,
    /// Names changed (created, renamed over or away, removed) since their
    /// directory was last fsynced: what a power cut leaves there (`None`:
    /// no file).
    undo: HashMap<PathBuf, Option<Vec<u8>>>,
}

/// One file written whole.
#[derive(Clone, Debug, Default)]
struct Node {
    /// The content a successful fsync proved durable (`None`: none did;
    /// a power cut leaves the file empty).
    synced: Option<Vec<u8>>,
    /// An fsync of this file failed: its content is lost at a power cut
    /// even if a later fsync "succeeded" (fsyncgate). Only writing the
    /// content anew clears it.
    failed: bool,
}

impl WholeFiles {
    /// What a power cut would leave at `path` now (DropUnsynced).
    fn image(&self, path: &Path) -> Option<Vec<u8>> {
        if let Some(u) = self.undo.get(path) {
            return u.clone();
        }
        match self.nodes.get(path) {
            Some(n) if n.failed => {
                Some(vec![0; fs::metadata(path).map_or(0, |m| m.len() as usize)])
            }
            Some(n) => Some(n.synced.clone().unwrap_or_default()),
            // Not written by this fault: on the disk since the last cut.
            None => fs::read(path).ok(),
        }
    }
}

/// What the simulated disk knows about one file.
#[derive(Clone, Debug, Default)]
struct FileDurability {
    /// Bytes from the start proven durable by a successful sync.
    synced_bytes: u64,
    /// Ranges whose sync failed: lost at a power cut whatever happens later.
    failed: Vec<(u64, u64)>,
}

impl FileDurability {
    /// Bytes `from..len` were written anew and synced: durable, and no
    /// longer in doubt from an earlier failed sync.
    fn proved(&mut self, from: u64, len: u64) {
        if from <= self.synced_bytes {
            self.synced_bytes = self.synced_bytes.max(len);
        }
        let mut kept = Vec::new();
        for (a, b) in self.failed.drain(..) {
            if a < from {
                kept.push((a, b.min(from)));
            }
            if b > len {
                kept.push((a.max(len), b));
            }
        }
        self.failed = kept;
    }
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
        self.0.fail_count.store(1, Ordering::SeqCst);
        self.0.fail_at.store(n, Ordering::SeqCst);
        self.0.enospc.store(enospc, Ordering::SeqCst);
        self.0.sticky.store(sticky, Ordering::SeqCst);
    }

    /// Fails `count` calls in a row from call number `n` on with EIO, then
    /// lets the disk work again: a double fault (an fsync fails and so does
    /// the truncation that was to cut off its bytes).
    pub fn fail_calls(&self, n: u64, count: u64) {
        self.fail_call(n, false, false);
        self.0.fail_count.store(count.max(1), Ordering::SeqCst);
    }

    /// Clears a planned failure and restarts the call count.
    pub fn reset_calls(&self) {
        self.0.fail_count.store(1, Ordering::SeqCst);
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
        let count = self.0.fail_count.load(Ordering::SeqCst).max(1);
        let fails = at != 0 && n >= at && (n - at < count || self.0.sticky.load(Ordering::SeqCst));
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

    fn with_whole<T>(&self, f: impl FnOnce(&mut WholeFiles) -> T) -> T {
        let mut w = self.0.whole.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut w)
    }

    /// Remembers what a power cut leaves at `path` before its entry changes.
    fn before_change(&self, path: &Path) {
        self.with_whole(|w| {
            if !w.undo.contains_key(path) {
                let image = w.image(path);
                w.undo.insert(path.to_path_buf(), image);
            }
        });
    }

    fn node_written(&self, path: &Path) {
        self.with_whole(|w| w.nodes.insert(path.to_path_buf(), Node::default()));
    }

    fn node_sync_failed(&self, path: &Path) {
        if self.0.sticky.load(Ordering::SeqCst) {
            return; // a crash: the fsync never ran, nothing is in doubt
        }
        self.with_whole(|w| {
            w.nodes.entry(path.to_path_buf()).or_default().failed = true;
        });
    }

    fn node_synced(&self, path: &Path, bytes: &[u8]) {
        self.with_whole(|w| {
            w.nodes.entry(path.to_path_buf()).or_default().synced = Some(bytes.to_vec());
        });
    }

    fn node_renamed(&self, from: &Path, to: &Path) {
        self.with_whole(|w| {
            let node = w.nodes.remove(from).unwrap_or_else(|| Node {
                // A file this fault did not write was on the disk whole.
                synced: fs::read(to).ok(),
                failed: false,
            });
            w.nodes.insert(to.to_path_buf(), node);
        });
    }

    fn node_removed(&self, path: &Path) {
        self.with_whole(|w| w.nodes.remove(path));
    }

    fn dir_synced(&self, dir: &Path) {
        self.with_whole(|w| w.undo.retain(|p, _| p.parent() != Some(dir)));
    }

    /// The content a power cut would leave in a file written whole (or
    /// `None`: no file there); for tests that check a file's durability.
    pub fn image_of(&self, path: &Path) -> Option<Vec<u8>> {
        self.with_whole(|w| w.image(path))
    }

    /// Applies a power cut to the files written whole and to directory
    /// entries; returns the number of paths that changed.
    fn whole_power_loss(&self, mode: PowerLoss) -> io::Result<u64> {
        let w = self.with_whole(std::mem::take);
        let mut paths: Vec<&PathBuf> = w.undo.keys().chain(w.nodes.keys()).collect();
        paths.sort();
        paths.dedup();
        let mut changed = 0;
        for path in paths {
            let now = fs::read(path).ok();
            let node = w.nodes.get(path.as_path());
            let after = match mode {
                PowerLoss::DropUnsynced => w.image(path),
                PowerLoss::KeepUnsynced => match node {
                    Some(n) if n.failed => w.image(path),
                    _ => now.clone(),
                },
                PowerLoss::TearUnsynced => match (w.undo.get(path.as_path()), node, &now) {
                    (Some(u), _, _) => u.clone(),
                    (None, Some(n), Some(cur)) if !n.failed && n.synced.as_ref() != Some(cur) => {
                        Some(cur[..cur.len() / 2].to_vec())
                    }
                    _ => w.image(path),
                },
            };
            if after == now {
                continue;
            }
            changed += 1;
            match after {
                Some(bytes) => {
                    if let Some(d) = path.parent() {
                        fs::create_dir_all(d)?;
                    }
                    let mut f = File::create(path)?;
                    f.write_all(&bytes)?;
                    f.sync_all()?;
                }
                None => fs::remove_file(path)?,
            }
        }
        Ok(changed)
    }

    /// Applies a power cut to every file this fault has seen (see the type
    /// doc). Returns the number of bytes (append files) and files (written
    /// whole) that changed.
    pub fn power_loss(&self, mode: PowerLoss) -> io::Result<u64> {
        let mut changed = self.whole_power_loss(mode)?;
        let files = self
            .0
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
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

    /// Writes bytes `from..` again and fdatasyncs them (see
    /// [`rewrite_and_sync`]): after it returns Ok they are durable even if an
    /// earlier fsync of them failed.
    pub fn rewrite_from(&mut self, from: u64) -> io::Result<()> {
        if let Some(f) = &self.fault {
            f.call("rewrite")?;
        }
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        rewrite_and_sync(&file, from)?;
        if let Some(f) = &self.fault {
            let len = self.len;
            f.with_file(&self.path, |d| d.proved(from, len));
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

/// fdatasync of an existing file by path.
pub fn fsync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_data()
}

/// Writes the bytes of `file` from offset `from` to its end again, in
/// place, and fdatasyncs them: the way recovery makes records it is about to
/// sign durable. A plain fsync would not do: after a failed writeback Linux
/// marks the pages clean (fsyncgate), so a later fsync "succeeds" without
/// writing them, and what recovery read from the page cache may never have
/// reached the disk. Rewriting dirties every page again, so a successful
/// fdatasync here proves exactly these bytes durable.
fn rewrite_and_sync(file: &File, from: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut at = from.min(len);
    let mut buf = vec![0u8; REWRITE_CHUNK_BYTES];
    while at < len {
        let n = ((len - at) as usize).min(REWRITE_CHUNK_BYTES);
        file.read_exact_at(&mut buf[..n], at)?;
        file.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    file.sync_data()
}

/// Bytes read and written back at a time by the rewrite of unsigned records.
pub const REWRITE_CHUNK_BYTES: usize = 1024 * 1024;

/// As [`AppendFile::rewrite_from`] for a file that is not open (a sealed
/// segment), on the simulated disk `fault`.
pub fn rewrite_file_on(path: &Path, from: u64, fault: Option<&SyncFault>) -> io::Result<()> {
    if let Some(f) = fault {
        f.call("rewrite")?;
    }
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    rewrite_and_sync(&file, from)?;
    if let Some(f) = fault {
        let len = file.metadata()?.len();
        f.with_file(path, |d| d.proved(from, len));
    }
    Ok(())
}

/// Truncates a file to `len` bytes and makes the truncation durable.
pub fn truncate_durable(path: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}
