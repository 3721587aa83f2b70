//! The proof folder as one file: a POSIX tar archive (ustar, with GNU long
//! names where a path needs them) that the verification page offers for
//! download and that `verify-proof` reads as it is.
//!
//! Owns: packing a bundle's files (relative path -> bytes) into a tar under
//! one top folder, and reading such an archive back into memory with
//! explicit limits (entries, bytes per entry, bytes in all) while refusing
//! anything that is not a plain file or folder below the top folder.
//! Must not do: unpack onto the file system, follow or create links, or
//! decide what the files prove (that is `verify_bundle`'s job).
//!
//! Why tar and not zip: every Unix, macOS and Windows 10+ ships `tar`; the
//! format is read front to back (no central directory that can disagree
//! with the entries), and the `tar` crate is the one cargo itself uses for
//! `.crate` files. The bundle is not compressed: the PDFs in it already are.

use super::ExportError;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Most entries (files and folders) `verify-proof` accepts in an archive.
/// A bundle has five files per record plus the key history and the
/// documents: a few dozen.
pub const ARCHIVE_ENTRIES_MAX: usize = 10_000;
/// Largest single file in an archive, in bytes (as for a bundle folder).
pub const ARCHIVE_ENTRY_BYTES_MAX: u64 = super::BUNDLE_FILE_BYTES_MAX;
/// Largest archive `verify-proof` reads, in bytes: its files are held in
/// memory while they are checked.
pub const ARCHIVE_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// Longest path of an entry, in bytes.
pub const ARCHIVE_PATH_BYTES_MAX: usize = 1024;

/// The limits [`read_tar`] enforces (the constants above unless a test
/// asks for smaller ones).
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    /// Most entries, folders included.
    pub entries_max: usize,
    /// Largest file, in bytes.
    pub entry_bytes_max: u64,
    /// Largest sum of the files, and largest archive, in bytes.
    pub total_bytes_max: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            entries_max: ARCHIVE_ENTRIES_MAX,
            entry_bytes_max: ARCHIVE_ENTRY_BYTES_MAX,
            total_bytes_max: ARCHIVE_BYTES_MAX,
        }
    }
}

/// Packs `files` (relative paths with `/`) into a tar archive below the
/// folder `top` (`top/records/1.bin`, ...): regular files, mode 0644,
/// modification time `mtime_s`, owner 0.
pub fn write_tar(
    top: &str,
    files: &BTreeMap<String, Vec<u8>>,
    mtime_s: u64,
) -> Result<Vec<u8>, ExportError> {
    let total: usize = files.values().map(Vec::len).sum();
    let mut builder = tar::Builder::new(Vec::with_capacity(total + 1024 * (files.len() + 2)));
    let err = |rel: &str, e: std::io::Error| ExportError::Archive {
        archive: format!("{top}.tar"),
        entry: rel.to_string(),
        reason: e.to_string(),
    };
    for (rel, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime_s);
        header.set_uid(0);
        header.set_gid(0);
        let path = format!("{top}/{rel}");
        builder
            .append_data(&mut header, &path, bytes.as_slice())
            .map_err(|e| err(&path, e))?;
    }
    builder.into_inner().map_err(|e| err("(end)", e))
}

/// Whether the file at `path` is a tar archive (the `ustar` magic at byte
/// 257, which both POSIX and GNU archives carry).
pub fn is_tar(path: &Path) -> Result<bool, ExportError> {
    let mut head = [0u8; 263];
    let mut f = std::fs::File::open(path).map_err(|e| ExportError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(ExportError::File {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(got == head.len() && &head[257..262] == b"ustar")
}

/// Reads the tar archive at `path` with [`read_tar`].
pub fn read_tar_file(
    path: &Path,
    limits: &ArchiveLimits,
) -> Result<BTreeMap<String, Vec<u8>>, ExportError> {
    let file_err = |reason: String| ExportError::File {
        path: path.to_path_buf(),
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| file_err(e.to_string()))?
        .len();
    if len > archive_bytes_max(limits) {
        return Err(file_err(format!(
            "{len} bytes: larger than an archive verify-proof reads ({} bytes)",
            archive_bytes_max(limits)
        )));
    }
    let f = std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
    read_tar(f, &path.display().to_string(), limits)
}

/// The largest archive for `limits`: the files plus a header and padding
/// (at most 1,536 bytes with a GNU long name) per entry and the end marker.
fn archive_bytes_max(limits: &ArchiveLimits) -> u64 {
    limits
        .total_bytes_max
        .saturating_add((limits.entries_max as u64 + 2).saturating_mul(4096))
}

/// Reads a tar archive into memory: relative path -> bytes. If every entry
/// lies below one top folder (as [`write_tar`] writes), that folder is
/// taken off the paths. Refused, naming the entry: links and every other
/// entry that is not a plain file or folder, absolute paths, `..`, paths
/// that are not UTF-8 or longer than [`ARCHIVE_PATH_BYTES_MAX`], a path
/// that appears twice, more entries than `entries_max`, a file larger than
/// `entry_bytes_max`, files adding up to more than `total_bytes_max`.
/// `name` names the archive in errors.
pub fn read_tar(
    reader: impl Read,
    name: &str,
    limits: &ArchiveLimits,
) -> Result<BTreeMap<String, Vec<u8>>, ExportError> {
    let refuse = |entry: &str, reason: String| ExportError::Archive {
        archive: name.to_string(),
        entry: entry.to_string(),
        reason,
    };
    // Headers of entries that are not yielded (GNU long names, PAX
    // extensions) count against the archive's size, not the entry limits.
    let mut archive = tar::Archive::new(reader.take(archive_bytes_max(limits)));
    let entries = archive
        .entries()
        .map_err(|e| refuse("(start)", e.to_string()))?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut folders: std::collections::BTreeSet<String> = Default::default();
    let mut total: u64 = 0;
    for (i, entry) in entries.enumerate() {
        let at = format!("entry {}", i + 1);
        let mut entry = entry.map_err(|e| refuse(&at, e.to_string()))?;
        if i >= limits.entries_max {
            return Err(refuse(
                &at,
                format!("more than {} entries", limits.entries_max),
            ));
        }
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw)
            .map_err(|e| refuse(&at, format!("path is not UTF-8: {:?}", e.as_bytes())))?;
        let kind = entry.header().entry_type();
        let is_folder = kind.is_dir();
        let rel = clean_path(&path, is_folder).map_err(|reason| refuse(&path, reason))?;
        if !(kind.is_file() || is_folder) {
            return Err(refuse(
                &path,
                format!(
                    "a {} entry: a proof archive holds only plain files and folders (no links)",
                    kind_name(kind)
                ),
            ));
        }
        if is_folder {
            if !folders.insert(rel) {
                return Err(refuse(&path, "appears twice in the archive".into()));
            }
            continue;
        }
        let size = entry.size();
        if size > limits.entry_bytes_max {
            return Err(refuse(
                &path,
                format!("{size} bytes: larger than {} bytes", limits.entry_bytes_max),
            ));
        }
        total = total.saturating_add(size);
        if total > limits.total_bytes_max {
            return Err(refuse(
                &path,
                format!(
                    "the files add up to more than {} bytes",
                    limits.total_bytes_max
                ),
            ));
        }
        if files.contains_key(&rel) {
            return Err(refuse(&path, "appears twice in the archive".into()));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| refuse(&path, e.to_string()))?;
        if bytes.len() as u64 != size {
            return Err(refuse(
                &path,
                format!("truncated: {} of {size} bytes", bytes.len()),
            ));
        }
        files.insert(rel, bytes);
    }
    if files.is_empty() {
        return Err(refuse("(all)", "the archive holds no files".into()));
    }
    Ok(strip_top_folder(files))
}

/// `path` as a relative path with `/`: a leading `./` is dropped, a
/// trailing `/` too for a folder; refused: empty, absolute, `.` or `..`
/// components, backslashes, over-long.
fn clean_path(path: &str, is_folder: bool) -> Result<String, String> {
    if path.len() > ARCHIVE_PATH_BYTES_MAX {
        return Err(format!("path longer than {ARCHIVE_PATH_BYTES_MAX} bytes"));
    }
    if path.starts_with('/') {
        return Err("absolute path".into());
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("backslash or NUL in the path".into());
    }
    let mut rest = path;
    while let Some(r) = rest.strip_prefix("./") {
        rest = r;
    }
    if is_folder {
        rest = rest.strip_suffix('/').unwrap_or(rest);
    }
    if rest.is_empty() || rest == "." {
        return if is_folder {
            Ok(String::new())
        } else {
            Err("empty path".into())
        };
    }
    for part in rest.split('/') {
        match part {
            ".." => return Err("`..` in the path: it would point outside the archive".into()),
            "" | "." => return Err("empty or `.` component in the path".into()),
            _ => {}
        }
    }
    Ok(rest.to_string())
}

/// Takes off the one top folder every file lies below, if there is one.
fn strip_top_folder(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    let top = |rel: &str| rel.split_once('/').map(|(t, _)| t.to_string());
    let first = files.keys().next().and_then(|k| top(k));
    match first {
        Some(t) if files.keys().all(|k| top(k).as_deref() == Some(t.as_str())) => files
            .into_iter()
            .map(|(k, v)| (k[t.len() + 1..].to_string(), v))
            .collect(),
        _ => files,
    }
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::XGlobalHeader => "PAX global header",
        _ => "special",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect()
    }

    /// An archive with one raw entry (any type, any path), built with the
    /// tar crate's raw header setters so that hostile names survive.
    fn raw(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut h = tar::Header::new_ustar();
            {
                let name = &mut h.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
            }
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if kind.is_symlink() || kind.is_hard_link() {
                h.set_link_name("/etc/passwd").expect("link name");
            }
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn read(bytes: &[u8], limits: ArchiveLimits) -> Result<BTreeMap<String, Vec<u8>>, String> {
        read_tar(bytes, "t.tar", &limits).map_err(|e| e.to_string())
    }

    #[test]
    fn round_trip_takes_off_the_top_folder() {
        let long = format!("files/{}.pdf", "a".repeat(120));
        let mut f = files(&[("records/1.bin", b"one"), ("README.md", b"hi")]);
        f.insert(long.clone(), b"%PDF".to_vec());
        let tar = write_tar("proof-ABCD", &f, 1).expect("write");
        let back = read(&tar, ArchiveLimits::default()).expect("read");
        assert_eq!(back, f);
    }

    #[test]
    fn hostile_entries_are_refused_naming_the_entry() {
        use tar::EntryType::*;
        let cases: &[(&str, tar::EntryType, &str)] = &[
            ("../evil", Regular, "`..`"),
            ("a/../../evil", Regular, "`..`"),
            ("/etc/passwd", Regular, "absolute path"),
            ("a/link", Symlink, "symbolic link"),
            ("a/hard", Link, "hard link"),
            ("a/dev", Char, "character device"),
            ("a/fifo", Fifo, "FIFO"),
            ("a\\b", Regular, "backslash"),
            ("a//b", Regular, "empty or `.` component"),
        ];
        for (path, kind, want) in cases {
            let tar = raw(&[("a/ok", Regular, b"x"), (path, *kind, b"")]);
            let e = read(&tar, ArchiveLimits::default()).expect_err(path);
            assert!(
                e.contains(want) && e.contains(&format!("entry {path}")),
                "{path}: {e}"
            );
        }
    }

    #[test]
    fn duplicates_and_limits_are_refused() {
        use tar::EntryType::*;
        let dup = raw(&[("a/x", Regular, b"1"), ("./a/x", Regular, b"2")]);
        let e = read(&dup, ArchiveLimits::default()).expect_err("duplicate");
        assert!(e.contains("appears twice") && e.contains("./a/x"), "{e}");

        let three = raw(&[
            ("a/1", Regular, b"1"),
            ("a/2", Regular, b"22"),
            ("a/3", Regular, b"333"),
        ]);
        let small = |entries_max, entry_bytes_max, total_bytes_max| ArchiveLimits {
            entries_max,
            entry_bytes_max,
            total_bytes_max,
        };
        assert_eq!(
            read(&three, small(3, 3, 6)).expect("at the limits").len(),
            3
        );
        let e = read(&three, small(2, 3, 6)).expect_err("entries");
        assert!(
            e.contains("more than 2 entries") && e.contains("entry 3"),
            "{e}"
        );
        let e = read(&three, small(3, 2, 6)).expect_err("entry size");
        assert!(
            e.contains("entry a/3") && e.contains("larger than 2 bytes"),
            "{e}"
        );
        let e = read(&three, small(3, 3, 5)).expect_err("total");
        assert!(
            e.contains("entry a/3") && e.contains("more than 5 bytes"),
            "{e}"
        );
    }

    #[test]
    fn garbage_and_empty_archives_are_refused() {
        let e = read(&[0u8; 1024], ArchiveLimits::default()).expect_err("empty");
        assert!(e.contains("no files"), "{e}");
        let mut tar = write_tar("p", &files(&[("a", &[7u8; 2000])]), 0).expect("write");
        tar.truncate(1200);
        let e = read(&tar, ArchiveLimits::default()).expect_err("truncated");
        assert!(e.contains("entry p/a"), "{e}");
    }
}
