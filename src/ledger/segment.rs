//! Segment files and frames (FORMAT.md §4).
//!
//! Owns: the segment header, the frame layout (length, record bytes,
//! CRC-32C), segment file names, and the scan of one segment that reports
//! exactly where and how it is damaged. Must not do: decide what damage means
//! (torn tail or corruption is `recovery`'s call), write files.

use super::chain;
use super::record::{
    Hash32, RECORD_BYTES_MAX, RECORD_HEADER_BYTES, RECORD_PREV_LINK_OFFSET, RECORD_SEQ_OFFSET,
};
use std::path::{Path, PathBuf};

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"ZGNSSEG\n";
/// Segment header format version.
pub const SEGMENT_VERSION: u16 = 1;
/// Header: magic, version, reserved, first seq, prev link, CRC-32C.
pub const SEGMENT_HEADER_BYTES: usize = 8 + 2 + 2 + 8 + 32 + 4;
/// Frame overhead: u32 length before, u32 CRC-32C after the record.
pub const FRAME_OVERHEAD_BYTES: usize = 8;
/// Suffix of segment file names.
pub const SEGMENT_SUFFIX: &str = ".seg";

/// The parsed header of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Sequence number of the first record in the segment.
    pub first_seq: u64,
    /// Chain link of the record before the first one.
    pub prev_link: Hash32,
}

impl SegmentHeader {
    /// The header bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(SEGMENT_HEADER_BYTES);
        b.extend_from_slice(SEGMENT_MAGIC);
        b.extend_from_slice(&SEGMENT_VERSION.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&self.first_seq.to_le_bytes());
        b.extend_from_slice(&self.prev_link);
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses a header; the error says what is wrong.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, String> {
        if b.len() < SEGMENT_HEADER_BYTES {
            return Err(format!(
                "header truncated: {} of {SEGMENT_HEADER_BYTES} bytes",
                b.len()
            ));
        }
        if &b[..8] != SEGMENT_MAGIC {
            return Err("bad magic (not a zeugnis segment)".into());
        }
        let crc = u32::from_le_bytes(b[52..56].try_into().expect("4 bytes"));
        if crc32c::crc32c(&b[..52]) != crc {
            return Err("header checksum mismatch".into());
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != SEGMENT_VERSION {
            return Err(format!("unsupported segment version {version}"));
        }
        if b[10..12] != [0, 0] {
            return Err("reserved header bytes are not zero".into());
        }
        Ok(SegmentHeader {
            first_seq: u64::from_le_bytes(b[12..20].try_into().expect("8 bytes")),
            prev_link: b[20..52].try_into().expect("32 bytes"),
        })
    }
}

/// Appends one frame for `record` to `out`.
pub fn push_frame(out: &mut Vec<u8>, record: &[u8]) {
    debug_assert!(!record.is_empty() && record.len() <= RECORD_BYTES_MAX);
    let len = (record.len() as u32).to_le_bytes();
    let mut crc = crc32c::crc32c(&len);
    crc = crc32c::crc32c_append(crc, record);
    out.extend_from_slice(&len);
    out.extend_from_slice(record);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// File name of the segment whose first record is `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

/// Parses a segment file name back to its first sequence number.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// How a frame is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameDamage {
    /// Fewer bytes remain than a frame header.
    ShortHeader { available: usize },
    /// The length field is 0 or above the record limit.
    BadLength { len: u32 },
    /// The frame extends beyond the end of the file.
    ShortFrame { len: u32, available: usize },
    /// The CRC-32C does not match.
    Checksum,
    /// The record is shorter than a record header.
    ShortRecord { len: u32 },
    /// The record's sequence number is not the expected one.
    SequenceGap { found: u64 },
    /// The record's previous link does not match the chain.
    Chain,
}

impl FrameDamage {
    /// True for damage a crash during an append can produce (FORMAT.md
    /// §12.3): the file ends inside the frame, a checksum fails, or the
    /// length field is garbage (any bad length: an unwritten or half-written
    /// block may hold anything). Sequence gaps and chain breaks are never a
    /// torn write.
    pub fn is_tearable(&self) -> bool {
        matches!(
            self,
            FrameDamage::ShortHeader { .. }
                | FrameDamage::ShortFrame { .. }
                | FrameDamage::Checksum
                | FrameDamage::BadLength { .. }
        )
    }

    /// Human description for error messages.
    pub fn describe(&self) -> String {
        match self {
            FrameDamage::ShortHeader { available } => {
                format!("partial frame header ({available} bytes before end of file)")
            }
            FrameDamage::BadLength { len } => {
                format!("frame length {len} outside 1..={RECORD_BYTES_MAX}")
            }
            FrameDamage::ShortFrame { len, available } => {
                format!("frame of {len} bytes but only {available} bytes before end of file")
            }
            FrameDamage::Checksum => "frame checksum (CRC-32C) mismatch".into(),
            FrameDamage::ShortRecord { len } => {
                format!("record of {len} bytes is shorter than a record header")
            }
            FrameDamage::SequenceGap { found } => {
                format!("sequence gap: record carries seq {found}")
            }
            FrameDamage::Chain => {
                "chain link mismatch: prev_link does not match the previous record".into()
            }
        }
    }
}

/// Where a scan stopped on damage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the damaged frame in the file.
    pub offset: u64,
    /// The sequence number the damaged frame should carry.
    pub seq: u64,
    /// What is wrong.
    pub what: FrameDamage,
    /// True if every byte from `offset` to the end of the file is zero
    /// (a file extended by the file system but never written).
    pub zero_tail: bool,
}

/// The result of scanning one segment file.
#[derive(Clone, Debug)]
pub struct SegmentScan {
    /// The segment file.
    pub path: PathBuf,
    /// Its header.
    pub header: SegmentHeader,
    /// Number of valid records.
    pub records: u64,
    /// Chain link after the last valid record.
    pub end_link: Hash32,
    /// Byte length of the valid prefix (header + valid frames).
    pub valid_bytes: u64,
    /// File length.
    pub file_bytes: u64,
    /// The first damage found, if any.
    pub damage: Option<Damage>,
}

/// One valid record met by a scan.
pub struct Visit<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// Offset of its frame in the segment file.
    pub offset: u64,
    /// The record bytes.
    pub record: &'a [u8],
    /// The chain link after this record.
    pub link: &'a Hash32,
}

/// Scans a whole segment already read into memory: checks every frame's
/// length and CRC, the sequence numbers and the chain, and calls `visit` for
/// each valid record in order. Stops at the first damage.
pub fn scan_segment(
    path: &Path,
    bytes: &[u8],
    header: SegmentHeader,
    visit: &mut dyn FnMut(Visit),
) -> SegmentScan {
    let (first, prev) = (header.first_seq, header.prev_link);
    scan_from(
        path,
        bytes,
        (0, SEGMENT_HEADER_BYTES),
        header,
        first,
        Some(prev),
        visit,
    )
}

/// As [`scan_segment`], from the frame at byte `pos`, which must hold
/// record `seq`. `prev` is the chain link before that record; `None` takes
/// it from the record's own `prev_link` field (the frame's checksum is
/// still checked), leaving the chain *into* it to be checked by whoever
/// verifies the records before it (the background verification of a fast
/// open). `records` in the result counts from the header's first seq.
/// `(base, start)`: `bytes[0]` is byte `base` of the file (a tail read from
/// an offset), and the scan starts at `bytes[start]`; every offset reported
/// is a file offset.
pub fn scan_from(
    path: &Path,
    bytes: &[u8],
    (base, start): (u64, usize),
    header: SegmentHeader,
    first_seq: u64,
    prev: Option<Hash32>,
    visit: &mut dyn FnMut(Visit),
) -> SegmentScan {
    let mut pos = start;
    let mut seq = first_seq;
    let mut link = match prev {
        Some(l) => l,
        None => bytes
            .get(pos + 4 + RECORD_PREV_LINK_OFFSET..pos + 4 + RECORD_PREV_LINK_OFFSET + 32)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 32]),
    };
    let mut damage = None;
    while pos < bytes.len() {
        match check_frame(bytes, pos, seq, &link) {
            Ok(record) => {
                link = chain::link(&link, record);
                visit(Visit {
                    seq,
                    offset: base + pos as u64,
                    record,
                    link: &link,
                });
                pos += record.len() + FRAME_OVERHEAD_BYTES;
                seq += 1;
            }
            Err(what) => {
                damage = Some(Damage {
                    offset: base + pos as u64,
                    seq,
                    what,
                    zero_tail: bytes[pos..].iter().all(|b| *b == 0),
                });
                break;
            }
        }
    }
    SegmentScan {
        path: path.to_path_buf(),
        header: header.clone(),
        records: seq - header.first_seq,
        end_link: link,
        valid_bytes: base + pos as u64,
        file_bytes: base + bytes.len() as u64,
        damage,
    }
}

/// Checks the frame at `pos`; returns the record bytes.
pub fn check_frame<'a>(
    bytes: &'a [u8],
    pos: usize,
    seq: u64,
    prev: &Hash32,
) -> Result<&'a [u8], FrameDamage> {
    let rest = &bytes[pos..];
    if rest.len() < 4 {
        return Err(FrameDamage::ShortHeader {
            available: rest.len(),
        });
    }
    let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
    if len == 0 || len as usize > RECORD_BYTES_MAX {
        return Err(FrameDamage::BadLength { len });
    }
    let total = len as usize + FRAME_OVERHEAD_BYTES;
    if rest.len() < total {
        return Err(FrameDamage::ShortFrame {
            len,
            available: rest.len(),
        });
    }
    let record = &rest[4..4 + len as usize];
    let want = u32::from_le_bytes(rest[4 + len as usize..total].try_into().expect("4 bytes"));
    if crc32c::crc32c_append(crc32c::crc32c(&rest[..4]), record) != want {
        return Err(FrameDamage::Checksum);
    }
    if record.len() < RECORD_HEADER_BYTES {
        return Err(FrameDamage::ShortRecord { len });
    }
    let found = u64::from_le_bytes(
        record[RECORD_SEQ_OFFSET..RECORD_SEQ_OFFSET + 8]
            .try_into()
            .expect("8 bytes"),
    );
    if found != seq {
        return Err(FrameDamage::SequenceGap { found });
    }
    if &record[RECORD_PREV_LINK_OFFSET..RECORD_PREV_LINK_OFFSET + 32] != prev {
        return Err(FrameDamage::Chain);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_is_castagnoli_as_format_md_says() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn segment_names_round_trip_and_reject_strays() {
        assert_eq!(segment_name(1_048_576), "00000000000001048576.seg");
        assert_eq!(
            parse_segment_name("00000000000001048576.seg"),
            Some(1_048_576)
        );
        for bad in [
            "1048576.seg",
            "00000000000001048576.seg.tmp",
            "0000000000000104857x.seg",
            "x.log",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_round_trip_and_each_defect_named() {
        let h = SegmentHeader {
            first_seq: 42,
            prev_link: [9; 32],
        };
        let b = h.encode();
        assert_eq!(b.len(), SEGMENT_HEADER_BYTES);
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        let mut magic = b.clone();
        magic[0] = b'X';
        assert!(SegmentHeader::decode(&magic).is_err_and(|e| e.contains("magic")));
        let mut crc = b.clone();
        crc[30] ^= 1;
        assert!(SegmentHeader::decode(&crc).is_err_and(|e| e.contains("checksum")));
        assert!(SegmentHeader::decode(&b[..20]).is_err_and(|e| e.contains("truncated")));
    }
}
