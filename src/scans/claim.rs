//! The folders of the scan inbox and the moves between them, through
//! directory handles.
//!
//! Owns: the layout (`scans/` inbox, `scans/work/` claimed files being
//! processed, `scans/waiting/` files whose code is not registered yet,
//! `scans/quarantine/` refused files with a `.reason.json` beside each), moving
//! a file between them by rename without ever replacing another file, bounded
//! reads of a claimed file, the names zeugnis gives to files (variants,
//! shortening), and the small JSON files that describe a waiting or
//! quarantined file.
//! Must not do: decide outcomes, parse file contents, touch the ledger.
//!
//! **Every operation is relative to an opened directory handle**
//! (`openat`, `renameat2`, `unlinkat`, `O_NOFOLLOW`), never to a path
//! string resolved again at each step: whoever can write the inbox (a
//! network share) can replace `work/` with a symlink between two steps, and
//! a handle keeps pointing at the folder that was checked. Each subfolder is
//! opened with `O_DIRECTORY | O_NOFOLLOW` and must be a real directory
//! owned by the daemon's user; otherwise it is renamed aside (it is then an
//! ordinary foreign entry of the inbox, quarantined as `symlink` or
//! `special_file`) and a fresh folder is made ([`Dirs::open`]).
//!
//! Every file is at every instant in exactly one of the four folders (a
//! rename is atomic), so a crash can neither lose a scan nor duplicate it.

use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};

/// Claimed files being processed.
pub const WORK_DIR: &str = "work";
/// Files whose code is not registered yet.
pub const WAITING_DIR: &str = "waiting";
/// Refused files with their reason files.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Suffix of the reason file beside a quarantined file.
pub const REASON_SUFFIX: &str = ".reason.json";
/// Suffix of the state file beside a waiting file.
pub const WAITING_SUFFIX: &str = ".waiting.json";
/// Longest file name the file systems zeugnis runs on take (`NAME_MAX`).
pub const NAME_BYTES_MAX: usize = 255;
/// Numbered variants (`name~N.ext`) tried when a name is taken, before
/// random hash suffixes are used (an attacker can pre-fill any number of
/// numbered names; a random suffix cannot be guessed).
const NAME_VARIANTS_NUMBERED_MAX: u32 = 16;
/// Random-suffix variants tried after the numbered ones.
const NAME_VARIANTS_RANDOM_MAX: u32 = 16;
/// Longest extension kept when a name is shortened.
const EXTENSION_BYTES_MAX: usize = 16;
/// Mode of the subfolders zeugnis creates: only the daemon's user can add,
/// rename or remove entries in them.
const SUBFOLDER_MODE: u32 = 0o750;

/// The folders of one inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    /// `scans/` itself.
    Inbox,
    /// `scans/work/`.
    Work,
    /// `scans/waiting/`.
    Waiting,
    /// `scans/quarantine/`.
    Quarantine,
}

/// The four folders of one inbox, as opened and checked directory handles.
#[derive(Debug)]
pub struct Dirs {
    /// The inbox path (for messages; never used to reach a file).
    pub inbox: PathBuf,
    inbox_fd: OwnedFd,
    work_fd: OwnedFd,
    waiting_fd: OwnedFd,
    quarantine_fd: OwnedFd,
}

/// An entry of the inbox's subfolder that was not a real directory owned
/// by the daemon, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `work`, `waiting` or `quarantine`.
    pub folder: &'static str,
    /// What it was (`a symbolic link`, `owned by uid 1001`, ...).
    pub what: String,
    /// The name it was renamed to in the inbox.
    pub renamed_to: String,
}

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

fn uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Opens `name` in `dir` as a directory without following a symlink, and
/// checks that it is a real directory owned by the daemon's user.
/// `Err(Some(what))`: exists but unusable; `Err(None)`: absent.
fn open_subfolder(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Option<String>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => {
            let st = rustix::fs::fstat(&fd).map_err(|e| Some(e.to_string()))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                return Err(Some("not a directory".into()));
            }
            if st.st_uid != uid() {
                return Err(Some(format!(
                    "owned by uid {}, not by the daemon's uid {}",
                    st.st_uid,
                    uid()
                )));
            }
            Ok(fd)
        }
        Err(rustix::io::Errno::NOENT) => Err(None),
        Err(e) => {
            // With O_DIRECTORY | O_NOFOLLOW a symlink gives ENOTDIR or ELOOP;
            // say what the entry is.
            let kind = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode));
            Err(Some(match kind {
                Ok(FileType::Symlink) => "a symbolic link (never followed)".into(),
                Ok(FileType::Directory) => format!("a directory that cannot be opened: {e}"),
                Ok(_) => "not a directory".into(),
                Err(_) => e.to_string(),
            }))
        }
    }
}

impl Dirs {
    /// Opens the inbox at `inbox` (created if missing; it may itself be a
    /// symlink set up by the operator) and its three subfolders through
    /// the inbox's handle. A subfolder that is missing is created; one that
    /// is a symlink, not a directory, or not owned by the daemon's user is
    /// renamed aside in the inbox (`work.refused~1`) and replaced by a fresh
    /// folder; each such case is returned so that the caller reports it.
    pub fn open(inbox: &Path) -> io::Result<(Dirs, Vec<Refused>)> {
        std::fs::create_dir_all(inbox)?;
        let inbox_fd = rustix::fs::open(
            inbox,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let mut refused = Vec::new();
        let mut created = false;
        let mut sub = |name: &'static str| -> io::Result<OwnedFd> {
            for _ in 0..3 {
                match open_subfolder(inbox_fd.as_fd(), name) {
                    Ok(fd) => return Ok(fd),
                    Err(None) => {
                        match rustix::fs::mkdirat(
                            &inbox_fd,
                            name,
                            Mode::from_raw_mode(SUBFOLDER_MODE),
                        ) {
                            Ok(()) | Err(rustix::io::Errno::EXIST) => created = true,
                            Err(e) => return Err(errno(e)),
                        }
                    }
                    Err(Some(what)) => {
                        let aside = format!("{name}.refused");
                        let renamed_to = rename_noreplace(
                            inbox_fd.as_fd(),
                            OsStr::new(name),
                            inbox_fd.as_fd(),
                            &aside,
                        )?;
                        refused.push(Refused {
                            folder: name,
                            what,
                            renamed_to,
                        });
                    }
                }
            }
            Err(io::Error::other(format!(
                "{}: the folder {name} keeps being replaced; not used",
                inbox.display()
            )))
        };
        let quarantine_fd = sub(QUARANTINE_DIR)?;
        let work_fd = sub(WORK_DIR)?;
        let waiting_fd = sub(WAITING_DIR)?;
        if created || !refused.is_empty() {
            rustix::fs::fsync(&inbox_fd).map_err(errno)?;
        }
        Ok((
            Dirs {
                inbox: inbox.to_path_buf(),
                inbox_fd,
                work_fd,
                waiting_fd,
                quarantine_fd,
            },
            refused,
        ))
    }

    /// The handle of `folder`.
    pub fn fd(&self, folder: Folder) -> BorrowedFd<'_> {
        match folder {
            Folder::Inbox => self.inbox_fd.as_fd(),
            Folder::Work => self.work_fd.as_fd(),
            Folder::Waiting => self.waiting_fd.as_fd(),
            Folder::Quarantine => self.quarantine_fd.as_fd(),
        }
    }

    /// The path of `folder` (for messages only).
    pub fn path(&self, folder: Folder) -> PathBuf {
        match folder {
            Folder::Inbox => self.inbox.clone(),
            Folder::Work => self.inbox.join(WORK_DIR),
            Folder::Waiting => self.inbox.join(WAITING_DIR),
            Folder::Quarantine => self.inbox.join(QUARANTINE_DIR),
        }
    }

    /// Whether `name` (an entry of the inbox) is one of zeugnis' own entries
    /// or documentation rather than a dropped file.
    pub fn is_reserved(name: &str) -> bool {
        matches!(
            name,
            WORK_DIR | WAITING_DIR | QUARANTINE_DIR | "README.md" | ".gitignore"
        )
    }

    /// The entries of `folder`, sorted; names that are not UTF-8 apart.
    pub fn list(&self, folder: Folder) -> io::Result<Listing> {
        let mut listing = Listing::default();
        let dir = rustix::fs::Dir::read_from(self.fd(folder)).map_err(errno)?;
        for entry in dir {
            let entry = entry.map_err(errno)?;
            let raw = entry.file_name().to_bytes();
            if raw == b"." || raw == b".." {
                continue;
            }
            match std::str::from_utf8(raw) {
                Ok(s) => listing.names.push(s.to_string()),
                Err(_) => listing.not_utf8.push(raw.to_vec()),
            }
        }
        listing.names.sort();
        listing.not_utf8.sort();
        Ok(listing)
    }

    /// What `name` in `folder` is, without following a symlink.
    pub fn stat(&self, folder: Folder, name: impl AsRef<OsStr>) -> io::Result<Entry> {
        let st = rustix::fs::statat(self.fd(folder), name.as_ref(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(errno)?;
        Ok(Entry::of(&st))
    }

    /// Moves `name` from `from` into `to` under `target` (or a variant of
    /// it when taken), never replacing an existing entry. Returns the name
    /// it got. The caller fsyncs the folders when the move must be durable.
    pub fn rename(
        &self,
        from: Folder,
        name: impl AsRef<OsStr>,
        to: Folder,
        target: &str,
    ) -> io::Result<String> {
        rename_noreplace(self.fd(from), name.as_ref(), self.fd(to), target)
    }

    /// Moves a file from anywhere (`zeugnis ingest FILE`, named by the
    /// operator) into `to`. On another file system it is copied, the copy
    /// fsynced, and the original removed.
    pub fn take_from_path(&self, from: &Path, to: Folder, target: &str) -> io::Result<String> {
        match rename_noreplace(rustix::fs::CWD, from.as_os_str(), self.fd(to), target) {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
                let mut src = std::fs::File::open(from)?;
                for name in variants(target) {
                    let fd = match rustix::fs::openat(
                        self.fd(to),
                        name.as_str(),
                        OFlags::WRONLY
                            | OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o640),
                    ) {
                        Ok(fd) => fd,
                        Err(rustix::io::Errno::EXIST) => continue,
                        Err(e) => return Err(errno(e)),
                    };
                    let mut dst = std::fs::File::from(fd);
                    io::copy(&mut src, &mut dst)?;
                    dst.sync_all()?;
                    self.fsync(to)?;
                    std::fs::remove_file(from)?;
                    return Ok(name);
                }
                Err(taken(target))
            }
            other => other,
        }
    }

    /// Opens the regular file `name` in `folder` for reading: no symlink
    /// followed, no blocking on a FIFO, and checked to be a regular file
    /// through the opened handle.
    pub fn open_file(&self, folder: Folder, name: impl AsRef<OsStr>) -> io::Result<std::fs::File> {
        let fd = rustix::fs::openat(
            self.fd(folder),
            name.as_ref(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(errno)?;
        let st = rustix::fs::fstat(&fd).map_err(errno)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(std::fs::File::from(fd))
    }

    /// Reads the regular file `name` of `folder`, at most `bytes_max`
    /// bytes, and checks that it did not change while being read.
    pub fn read_bounded(&self, folder: Folder, name: &str, bytes_max: u64) -> io::Result<Bounded> {
        let mut f = self.open_file(folder, name)?;
        let before = Entry::of(&rustix::fs::fstat(&f).map_err(errno)?);
        if before.size > bytes_max {
            return Ok(Bounded::TooLarge { size: before.size });
        }
        let mut bytes = Vec::with_capacity(before.size as usize);
        (&mut f).take(bytes_max + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > bytes_max {
            return Ok(Bounded::TooLarge {
                size: bytes.len() as u64,
            });
        }
        let after = Entry::of(&rustix::fs::fstat(&f).map_err(errno)?);
        if after.size != before.size
            || after.mtime != before.mtime
            || bytes.len() as u64 != after.size
        {
            return Ok(Bounded::Changed);
        }
        Ok(Bounded::Bytes(bytes))
    }

    /// Removes the file `name` of `folder`.
    pub fn unlink(&self, folder: Folder, name: &str) -> io::Result<()> {
        rustix::fs::unlinkat(self.fd(folder), name, AtFlags::empty()).map_err(errno)
    }

    /// Writes `bytes` to `name` in `folder`: a temporary file, fsynced,
    /// renamed over `name`; the folder is fsynced by the caller.
    pub fn write_atomic(&self, folder: Folder, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = format!(".{}.tmp", shorten(name, 6));
        let dir = self.fd(folder);
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
        let fd = rustix::fs::openat(
            dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o640),
        )
        .map_err(errno)?;
        let mut f = std::fs::File::from(fd);
        f.write_all(bytes)?;
        f.sync_all()?;
        rustix::fs::renameat(dir, tmp.as_str(), dir, name).map_err(errno)
    }

    /// Fsyncs `folder` (its entries are then durable).
    pub fn fsync(&self, folder: Folder) -> io::Result<()> {
        rustix::fs::fsync(self.fd(folder)).map_err(errno)
    }
}

/// A directory listing.
#[derive(Debug, Default)]
pub struct Listing {
    /// UTF-8 names, sorted.
    pub names: Vec<String>,
    /// Names that are not UTF-8 (raw bytes), sorted.
    pub not_utf8: Vec<Vec<u8>>,
}

/// What an entry is, from `lstat`/`fstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Its type (a symlink is reported as such, never followed).
    pub kind: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub mtime: SystemTime,
}

impl Entry {
    fn of(st: &rustix::fs::Stat) -> Entry {
        let mtime = if st.st_mtime >= 0 {
            SystemTime::UNIX_EPOCH
                + std::time::Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32)
        } else {
            SystemTime::UNIX_EPOCH
        };
        Entry {
            kind: FileType::from_raw_mode(st.st_mode),
            size: st.st_size.max(0) as u64,
            mtime,
        }
    }
}

/// The result of [`Dirs::read_bounded`].
#[derive(Debug)]
pub enum Bounded {
    /// The whole content.
    Bytes(Vec<u8>),
    /// Larger than the limit (the size seen, or limit + 1 when it grew).
    TooLarge { size: u64 },
    /// Its size or mtime changed while it was read: not stable yet.
    Changed,
}

fn taken(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("every variant of the name {name:?} is taken"),
    )
}

fn rename_noreplace(
    from_dir: BorrowedFd<'_>,
    name: &OsStr,
    to_dir: BorrowedFd<'_>,
    target: &str,
) -> io::Result<String> {
    for candidate in variants(target) {
        match rustix::fs::renameat_with(
            from_dir,
            name,
            to_dir,
            candidate.as_str(),
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => return Ok(candidate),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
    Err(taken(target))
}

/// `name` with `~n` inserted before its extension (`a.pdf` -> `a~1.pdf`).
fn variant(name: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        return name.to_string();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}~{suffix}.{ext}"),
        _ => format!("{name}~{suffix}"),
    }
}

/// The names tried for `name`, in order: itself, `~1` .. `~16`, then 16
/// random 16-hex-digit suffixes (all within [`NAME_BYTES_MAX`]).
pub fn variants(name: &str) -> impl Iterator<Item = String> + '_ {
    let numbered = (0..=NAME_VARIANTS_NUMBERED_MAX).map(move |n| {
        let s = if n == 0 { String::new() } else { n.to_string() };
        variant(&shorten(name, s.len() + 1), &s)
    });
    let random = (0..NAME_VARIANTS_RANDOM_MAX).map(move |_| {
        let s = format!("{:016x}", rand::random::<u64>());
        variant(&shorten(name, s.len() + 1), &s)
    });
    numbered.chain(random)
}

/// `name` shortened so that `reserve_bytes` more bytes still fit in
/// [`NAME_BYTES_MAX`]: the stem is cut (on a character boundary) and a
/// 12-hex-digit hash of the whole name keeps shortened names apart; the
/// extension is kept (up to 16 bytes). Unchanged when it fits.
pub fn shorten(name: &str, reserve_bytes: usize) -> String {
    let limit = NAME_BYTES_MAX.saturating_sub(reserve_bytes);
    if name.len() <= limit {
        return name.to_string();
    }
    let hash = blake3::hash(name.as_bytes()).to_hex();
    let hash = &hash.as_str()[..12];
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() && e.len() <= EXTENSION_BYTES_MAX => (s, Some(e)),
        _ => (name, None),
    };
    let tail = 1 + hash.len() + ext.map_or(0, |e| e.len() + 1);
    let mut keep = limit.saturating_sub(tail);
    while keep > 0 && !stem.is_char_boundary(keep) {
        keep -= 1;
    }
    match ext {
        Some(e) => format!("{}~{hash}.{e}", &stem[..keep]),
        None => format!("{}~{hash}", &stem[..keep]),
    }
}

/// A name for a file whose name is not UTF-8: its bytes with every
/// non-UTF-8 sequence replaced by `_`, shortened.
pub fn name_from_bytes(raw: &[u8]) -> String {
    let lossy = String::from_utf8_lossy(raw).replace(char::REPLACEMENT_CHARACTER, "_");
    shorten(&lossy, 0)
}

/// The printable form of a raw name (`\xff` for a byte that is not UTF-8,
/// control characters escaped).
pub fn escape_bytes(raw: &[u8]) -> String {
    raw.escape_ascii().to_string()
}

/// The raw bytes of a not-UTF-8 name as an `OsStr` (for the system calls).
pub fn os(raw: &[u8]) -> &OsStr {
    OsStr::from_bytes(raw)
}

/// The reason file beside a quarantined file (`<file>.reason.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonFile {
    /// The quarantined file's name in `quarantine/`.
    pub file: String,
    /// The name it was dropped under (control characters and bytes that
    /// are not UTF-8 escaped).
    pub source_name: String,
    /// Machine-readable reason (see `docs/intake.md`).
    pub reason: String,
    /// What went wrong, for a person.
    pub detail: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The code, if one was found.
    pub code: Option<String>,
    /// Every way of finding the code that was tried, with its result.
    pub tried: Vec<String>,
    /// Size in bytes, if it could be read.
    pub size_bytes: Option<u64>,
    /// BLAKE3 (hex) of the content, if it could be read.
    pub blake3: Option<String>,
}

/// The state file beside a waiting file (`<file>.waiting.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingFile {
    /// The code the file carries.
    pub code: String,
    /// The name it was dropped under.
    pub source_name: String,
    /// Since when it waits (seconds since the Unix epoch).
    pub since_s: i64,
    /// How the code was found.
    pub found_by: String,
}

/// Quarantines `name` of `from`: picks a free name in `quarantine/` (short
/// enough for its reason file), writes the reason file, moves the entry,
/// fsyncs the quarantine folder. Returns the name it got.
pub fn quarantine(
    dirs: &Dirs,
    from: Folder,
    name: &OsStr,
    wanted: &str,
    mut reason: ReasonFile,
) -> io::Result<String> {
    let base = shorten(wanted, REASON_SUFFIX.len());
    let mut last = None;
    for candidate in variants(&base) {
        let free = |n: &str| {
            matches!(
                dirs.stat(Folder::Quarantine, n),
                Err(e) if e.kind() == io::ErrorKind::NotFound
            )
        };
        if !free(&candidate) || !free(&format!("{candidate}{REASON_SUFFIX}")) {
            continue;
        }
        reason.file = candidate.clone();
        let json = serde_json::to_vec_pretty(&reason).map_err(io::Error::other)?;
        dirs.write_atomic(
            Folder::Quarantine,
            &format!("{candidate}{REASON_SUFFIX}"),
            &json,
        )?;
        match rustix::fs::renameat_with(
            dirs.fd(from),
            name,
            dirs.fd(Folder::Quarantine),
            candidate.as_str(),
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {
                dirs.fsync(Folder::Quarantine)?;
                return Ok(candidate);
            }
            Err(e) => {
                // Taken meanwhile, or the entry cannot be moved: the reason
                // file must not stay without its file.
                let _ = dirs.unlink(Folder::Quarantine, &format!("{candidate}{REASON_SUFFIX}"));
                if e != rustix::io::Errno::EXIST {
                    return Err(errno(e));
                }
                last = Some(errno(e));
            }
        }
    }
    Err(last.unwrap_or_else(|| taken(&base)))
}

/// Puts `name` (in `work/`) into `waiting/` with its state file. Returns
/// the name it got.
pub fn park(dirs: &Dirs, name: &str, state: &WaitingFile) -> io::Result<String> {
    let to = dirs.rename(
        Folder::Work,
        name,
        Folder::Waiting,
        &shorten(name, WAITING_SUFFIX.len()),
    )?;
    let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    dirs.write_atomic(Folder::Waiting, &waiting_state_name(&to), &json)?;
    Ok(to)
}

/// The state file's name of a waiting file.
pub fn waiting_state_name(name: &str) -> String {
    format!("{name}{WAITING_SUFFIX}")
}

/// Largest waiting state file read, in bytes.
const WAITING_STATE_BYTES_MAX: u64 = 64 * 1024;

/// Reads the state file of a waiting file (`None` if absent or unreadable:
/// the file is then treated as newly claimed).
pub fn read_waiting(dirs: &Dirs, name: &str) -> Option<WaitingFile> {
    match dirs
        .read_bounded(
            Folder::Waiting,
            &waiting_state_name(name),
            WAITING_STATE_BYTES_MAX,
        )
        .ok()?
    {
        Bounded::Bytes(b) => serde_json::from_slice(&b).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> (tempfile::TempDir, Dirs) {
        let d = tempfile::tempdir().unwrap();
        let (dirs, refused) = Dirs::open(d.path()).unwrap();
        assert!(refused.is_empty());
        (d, dirs)
    }

    #[test]
    fn variants_keep_the_extension_and_end_in_random_suffixes() {
        let v: Vec<String> = variants("a.pdf").collect();
        assert_eq!(v[0], "a.pdf");
        assert_eq!(v[2], "a~2.pdf");
        assert_eq!(v.len(), 33);
        assert!(v[32].starts_with("a~") && v[32].ends_with(".pdf") && v[32].len() == 22);
        let v: Vec<String> = variants("noext").take(2).collect();
        assert_eq!(v[1], "noext~1");
        let v: Vec<String> = variants(".hidden").take(2).collect();
        assert_eq!(v[1], ".hidden~1");
    }

    #[test]
    fn long_names_are_shortened_with_a_hash_and_keep_their_extension() {
        let long = format!("{}.pdf", "ä".repeat(120)); // 244 bytes
        let s = shorten(&long, REASON_SUFFIX.len());
        assert!(
            s.len() + REASON_SUFFIX.len() <= NAME_BYTES_MAX,
            "{}",
            s.len()
        );
        assert!(s.ends_with(".pdf"), "{s}");
        assert_ne!(shorten(&format!("{long}x"), 12), s);
        assert_eq!(shorten("a.pdf", 12), "a.pdf");
        for v in variants(&s) {
            assert!(
                v.len() + REASON_SUFFIX.len() <= NAME_BYTES_MAX + 1 + 16,
                "{v}"
            );
        }
    }

    #[test]
    fn a_move_never_replaces_a_file() {
        let (d, dirs) = dirs();
        std::fs::write(d.path().join("work/a.pdf"), b"first").unwrap();
        std::fs::write(d.path().join("a.pdf"), b"second").unwrap();
        let to = dirs
            .rename(Folder::Inbox, "a.pdf", Folder::Work, "a.pdf")
            .unwrap();
        assert_eq!(to, "a~1.pdf");
        assert_eq!(
            std::fs::read(d.path().join("work/a.pdf")).unwrap(),
            b"first"
        );
        assert_eq!(
            std::fs::read(d.path().join("work/a~1.pdf")).unwrap(),
            b"second"
        );
        assert!(!d.path().join("a.pdf").exists());
    }

    #[test]
    fn a_subfolder_replaced_by_a_symlink_is_renamed_aside_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim.pdf"), b"%PDF-1.7 outside").unwrap();
        std::fs::create_dir(d.path().join("waiting")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("work")).unwrap();
        std::fs::write(d.path().join("quarantine"), b"a file, not a folder").unwrap();
        let (dirs, refused) = Dirs::open(d.path()).unwrap();
        let mut folders: Vec<&str> = refused.iter().map(|r| r.folder).collect();
        folders.sort();
        assert_eq!(folders, ["quarantine", "work"]);
        let work = refused.iter().find(|r| r.folder == "work").unwrap();
        assert!(work.what.contains("symbolic link"), "{work:?}");
        assert_eq!(work.renamed_to, "work.refused");
        assert!(std::fs::symlink_metadata(d.path().join("work"))
            .unwrap()
            .is_dir());
        assert!(dirs.list(Folder::Work).unwrap().names.is_empty());
        // The outside folder was neither listed nor touched.
        assert_eq!(
            std::fs::read(outside.path().join("victim.pdf")).unwrap(),
            b"%PDF-1.7 outside"
        );
    }

    #[test]
    fn a_symlink_is_never_opened_as_a_file() {
        let (d, dirs) = dirs();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"QNVCFM3P4VDF").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            d.path().join("work/a.txt"),
        )
        .unwrap();
        assert!(dirs.open_file(Folder::Work, "a.txt").is_err());
        assert!(dirs.read_bounded(Folder::Work, "a.txt", 100).is_err());
    }

    #[test]
    fn a_bounded_read_stops_at_the_limit() {
        let (d, dirs) = dirs();
        std::fs::write(d.path().join("work/a.pdf"), vec![b'x'; 1000]).unwrap();
        assert!(matches!(
            dirs.read_bounded(Folder::Work, "a.pdf", 999).unwrap(),
            Bounded::TooLarge { size: 1000 }
        ));
        assert!(matches!(
            dirs.read_bounded(Folder::Work, "a.pdf", 1000).unwrap(),
            Bounded::Bytes(b) if b.len() == 1000
        ));
    }

    #[test]
    fn quarantine_writes_the_reason_beside_the_file() {
        let (d, dirs) = dirs();
        std::fs::write(d.path().join("work/x.bin"), b"junk").unwrap();
        let reason = ReasonFile {
            file: String::new(),
            source_name: "x.bin".into(),
            reason: "not_pdf_or_image".into(),
            detail: "d".into(),
            at: "2026-11-23T00:00:00Z".into(),
            code: None,
            tried: vec![],
            size_bytes: Some(4),
            blake3: None,
        };
        let to = quarantine(
            &dirs,
            Folder::Work,
            OsStr::new("x.bin"),
            "x.bin",
            reason.clone(),
        )
        .unwrap();
        assert_eq!(to, "x.bin");
        let q = d.path().join("quarantine");
        let back: ReasonFile =
            serde_json::from_slice(&std::fs::read(q.join("x.bin.reason.json")).unwrap()).unwrap();
        assert_eq!(back.reason, "not_pdf_or_image");
        assert_eq!(back.file, "x.bin");
        // A second file of the same name gets its own name and reason file.
        std::fs::write(d.path().join("work/x.bin"), b"junk2").unwrap();
        let to2 = quarantine(&dirs, Folder::Work, OsStr::new("x.bin"), "x.bin", reason).unwrap();
        assert_eq!(to2, "x~1.bin");
        assert!(q.join("x~1.bin.reason.json").exists());
    }
}
