//! Canonical record encoding: golden bytes for every kind, strict decoding.
//!
//! The golden file `tests/golden/records.txt` pins every byte. It is
//! regenerated only by `ZEUGNIS_BLESS=1 cargo test --release golden_record_bytes`,
//! and a diff in it is a format change: review it like code and record it in
//! FORMAT.md's version history.

use crate::support::every_kind;
use zeugnis::ledger::record::{Body, DecodeError, EncodeError, Record, RECORD_BYTES_MAX};

fn sample(seq: u64, body: Body) -> Record {
    Record {
        seq,
        time_s: 1_795_000_000 + seq as i64,
        prev_link: [seq as u8; 32],
        operator: None,
        body,
    }
}

#[test]
fn golden_record_bytes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/records.txt");
    let mut text = String::new();
    for (i, body) in every_kind().into_iter().enumerate() {
        let r = sample(i as u64, body);
        let bytes = r.encode().expect("encode");
        assert_eq!(Record::decode(&bytes).expect("decode"), r);
        text.push_str(&format!(
            "{} {}\n",
            r.body.kind().name(),
            hex::encode(&bytes)
        ));
    }
    if std::env::var_os("ZEUGNIS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("bless");
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (bless with ZEUGNIS_BLESS=1)");
    for (want, got) in golden.lines().zip(text.lines()) {
        assert_eq!(got, want);
    }
    assert_eq!(golden.lines().count(), 11, "one golden line per kind");
}

#[test]
fn header_layout_is_fixed() {
    let r = sample(0x0102030405060708, every_kind().remove(7));
    let b = r.encode().expect("encode");
    assert_eq!(&b[0..2], &[1, 0], "version 1, little-endian");
    assert_eq!(&b[2..10], &0x0102030405060708u64.to_le_bytes(), "seq");
    assert_eq!(&b[10..18], &r.time_s.to_le_bytes(), "time");
    assert_eq!(&b[18..20], &[8, 0], "kind Superseded = 8");
    assert_eq!(&b[20..52], &[8u8; 32], "prev link");
    assert_eq!(&b[52..56], &12u32.to_le_bytes(), "first string length");
}

#[test]
fn non_canonical_inputs_are_rejected() {
    let registered = sample(4, every_kind().remove(4)).encode().expect("encode");
    let revoked = sample(6, every_kind().remove(6)).encode().expect("encode");

    let mut trailing = revoked.clone();
    trailing.push(0);
    assert!(matches!(
        Record::decode(&trailing),
        Err(DecodeError::TrailingBytes { extra: 1, .. })
    ));

    let truncated = &revoked[..revoked.len() - 1];
    assert!(matches!(
        Record::decode(truncated),
        Err(DecodeError::Truncated { .. })
    ));

    // Version 2 is an attributed record (format version 6,
    // tests/ledger_attributed.rs): the code's bytes are read as an
    // operator id and refused. Version 3 does not exist.
    let mut version = revoked.clone();
    version[0] = 2;
    assert!(matches!(
        Record::decode(&version),
        Err(DecodeError::NonCanonical {
            field: "operator",
            ..
        })
    ));
    version[0] = 3;
    assert_eq!(
        Record::decode(&version),
        Err(DecodeError::UnsupportedVersion { version: 3 })
    );

    let mut kind = revoked.clone();
    kind[18] = 99;
    assert_eq!(
        Record::decode(&kind),
        Err(DecodeError::UnknownKind { tag: 99 })
    );

    // The grade option tag: find "1.76" and step back over its length and tag.
    let pos = registered
        .windows(4)
        .position(|w| w == b"1.76")
        .expect("decimal present");
    let mut tag = registered.clone();
    tag[pos - 5] = 2;
    assert!(matches!(
        Record::decode(&tag),
        Err(DecodeError::NonCanonical {
            field: "grade.final_grade",
            ..
        })
    ));
    // A non-normalised decimal ("1.70" for 1.7) of the same length.
    let mut body = every_kind().remove(4);
    if let Body::Registered { grade: Some(g), .. } = &mut body {
        g.final_grade = Some("1.7".parse().expect("decimal"));
    }
    let canonical = sample(4, body).encode().expect("encode");
    let pos = canonical
        .windows(3)
        .position(|w| w == b"1.7")
        .expect("decimal present");
    let mut padded = canonical[..pos - 4].to_vec();
    padded.extend_from_slice(&4u32.to_le_bytes());
    padded.extend_from_slice(b"1.70");
    padded.extend_from_slice(&canonical[pos + 3..]);
    assert!(matches!(
        Record::decode(&padded),
        Err(DecodeError::NonCanonical {
            field: "grade.final_grade",
            ..
        })
    ));

    let mut utf8 = revoked.clone();
    let pos = utf8.windows(3).position(|w| w == b"QNV").expect("code");
    utf8[pos] = 0xff;
    assert!(matches!(
        Record::decode(&utf8),
        Err(DecodeError::NonCanonical { field: "code", .. })
    ));
}

#[test]
fn records_above_the_limit_are_refused() {
    let big = Record {
        seq: 1,
        time_s: 0,
        prev_link: [0; 32],
        operator: None,
        body: Body::Voided {
            code: "X".into(),
            reason: "y".repeat(RECORD_BYTES_MAX),
        },
    };
    assert!(matches!(
        big.encode(),
        Err(EncodeError::TooLarge { kind: "Voided", size_bytes }) if size_bytes > RECORD_BYTES_MAX
    ));
    assert!(matches!(
        Record::decode(&vec![0u8; RECORD_BYTES_MAX + 1]),
        Err(DecodeError::TooLarge { .. })
    ));
    // Exactly at the limit is accepted.
    let header_and_lengths = 52 + 4 + 1 + 4;
    let exact = Record {
        seq: 1,
        time_s: 0,
        prev_link: [0; 32],
        operator: None,
        body: Body::Voided {
            code: "X".into(),
            reason: "y".repeat(RECORD_BYTES_MAX - header_and_lengths),
        },
    };
    assert_eq!(
        exact.encode().expect("at the limit").len(),
        RECORD_BYTES_MAX
    );
}

/// Format version 2 (FORMAT.md §16): kind 12 `RevokedWithCategory`. Its
/// bytes are pinned by `tests/golden/records-v2.txt` (bless as above); the
/// kind-7 `Revoked` line of `records.txt` stays decodable beside it.
#[test]
fn golden_revoked_with_category_bytes() {
    use zeugnis::ledger::record::RevocationCategory;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/records-v2.txt");
    let mut text = String::new();
    for (i, category) in RevocationCategory::ALL.into_iter().enumerate() {
        let r = sample(
            12 + i as u64,
            Body::RevokedWithCategory {
                code: "QNVCFM3P4VDF".into(),
                category,
                reason: "Täuschung festgestellt".into(),
                effective_date: "2027-01-31".into(),
            },
        );
        let bytes = r.encode().expect("encode");
        assert_eq!(&bytes[18..20], &[12, 0], "kind 12");
        assert_eq!(Record::decode(&bytes).expect("decode"), r);
        text.push_str(&format!(
            "{} {} {}\n",
            r.body.kind().name(),
            category,
            hex::encode(&bytes)
        ));
    }
    if std::env::var_os("ZEUGNIS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("bless");
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (bless with ZEUGNIS_BLESS=1)");
    assert_eq!(golden, text);
    // The old kind-7 record still decodes, as `Revoked` without a category.
    let old = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/records.txt"),
    )
    .expect("records.txt");
    let line = old
        .lines()
        .find(|l| l.starts_with("Revoked "))
        .expect("a Revoked line");
    let bytes = hex::decode(line.split(' ').nth(1).expect("hex")).expect("hex");
    assert!(matches!(
        Record::decode(&bytes).expect("old Revoked decodes").body,
        Body::Revoked { .. }
    ));
}

#[test]
fn unknown_revocation_category_is_rejected() {
    use zeugnis::ledger::record::RevocationCategory;
    let r = sample(
        12,
        Body::RevokedWithCategory {
            code: "QNVCFM3P4VDF".into(),
            category: RevocationCategory::Replaced,
            reason: String::new(),
            effective_date: "2027-01-31".into(),
        },
    );
    let mut bytes = r.encode().expect("encode");
    // The category string "replaced" follows the code (4 + 12 bytes).
    let at = 52 + 4 + 12;
    assert_eq!(&bytes[at + 4..at + 12], b"replaced");
    bytes[at + 4] = b'R';
    let err = Record::decode(&bytes).expect_err("unknown category");
    assert!(
        matches!(err, DecodeError::NonCanonical { field: "category", offset, .. } if offset == at),
        "{err}"
    );
}

/// Format version 4 (FORMAT.md §16): kinds 14 `Reserved`, 15
/// `CodeImported`, 16 `DuplicateAllowed`. Their bytes are pinned by
/// `tests/golden/records-v4.txt` (bless as above, with
/// `golden_version_4_bytes`); each decodes back to itself.
#[test]
fn golden_version_4_bytes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/records-v4.txt");
    let bodies = [
        Body::Reserved {
            code: "QNVCFM3P4VDF".into(),
            key_commitment: [14; 32],
            expires_s: 1_800_000_000,
        },
        Body::CodeImported {
            code: "ABCDEFGHJKMN".into(),
        },
        Body::DuplicateAllowed {
            code: "7K2M9XAB3CDE".into(),
            document: [16; 32],
            other_code: "QNVCFM3P4VDF".into(),
        },
    ];
    let mut text = String::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let tag = body.kind() as u16;
        let r = sample(20 + i as u64, body);
        let bytes = r.encode().expect("encode");
        assert_eq!(&bytes[18..20], &tag.to_le_bytes(), "kind tag");
        assert_eq!(Record::decode(&bytes).expect("decode"), r);
        text.push_str(&format!(
            "{} {}\n",
            r.body.kind().name(),
            hex::encode(&bytes)
        ));
    }
    if std::env::var_os("ZEUGNIS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("bless");
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (bless with ZEUGNIS_BLESS=1)");
    assert_eq!(golden, text);
}

/// Format version 5 (FORMAT.md §16): kind 17 `MailDelivered`. Its bytes
/// are pinned by `tests/golden/records-v5.txt` (bless with
/// `ZEUGNIS_BLESS=1 cargo test --release --test tests golden_version_5_bytes`);
/// it decodes back to itself, and a count of documents that cannot fit is
/// refused before anything is allocated.
#[test]
fn golden_version_5_bytes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/records-v5.txt");
    let r = sample(
        30,
        Body::MailDelivered {
            code: "QNVCFM3P4VDF".into(),
            language: "de".into(),
            template: "builtin".into(),
            template_blake3: [0x17; 32],
            documents: vec![[0xD1; 32], [0xD2; 32]],
            address_hash: [0xA4; 32],
            delivered_s: 1_800_000_123,
        },
    );
    let bytes = r.encode().expect("encode");
    assert_eq!(&bytes[18..20], &17u16.to_le_bytes(), "kind tag");
    assert_eq!(Record::decode(&bytes).expect("decode"), r);
    let text = format!("{} {}\n", r.body.kind().name(), hex::encode(&bytes));
    if std::env::var_os("ZEUGNIS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("bless");
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (bless with ZEUGNIS_BLESS=1)");
    assert_eq!(golden, text);
    // The documents count follows code, language, template and the hash.
    let at = 52 + (4 + 12) + (4 + 2) + (4 + 7) + 32;
    assert_eq!(&bytes[at..at + 4], &2u32.to_le_bytes());
    let mut bad = bytes.clone();
    bad[at..at + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert!(
        Record::decode(&bad).is_err(),
        "an impossible count must be refused"
    );
}

/// Format version 7 (FORMAT.md §16): kind 18 `Stamped`. Its bytes are
/// pinned by `tests/golden/records-v7.txt` (bless with
/// `ZEUGNIS_BLESS=1 cargo test --release --test tests golden_version_7_bytes`),
/// plainly and attributed, and decode back to themselves.
#[test]
fn golden_version_7_bytes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/records-v7.txt");
    let body = Body::Stamped {
        code: "QNVCFM3P4VDF".into(),
        document: [0x5A; 32],
        original: [0x0A; 32],
    };
    let plain = sample(31, body.clone());
    let mut attributed = sample(32, body);
    attributed.operator = Some(zeugnis::registry::OperatorId::parse("op-k3m9x2b7qa").expect("id"));
    let mut text = String::new();
    for r in [&plain, &attributed] {
        let bytes = r.encode().expect("encode");
        assert_eq!(&bytes[18..20], &18u16.to_le_bytes(), "kind tag");
        assert_eq!(Record::decode(&bytes).expect("decode"), *r);
        text.push_str(&format!(
            "{} {}\n",
            r.body.kind().name(),
            hex::encode(&bytes)
        ));
    }
    if std::env::var_os("ZEUGNIS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("bless");
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (bless with ZEUGNIS_BLESS=1)");
    assert_eq!(golden, text);
}

/// Format version 3 (FORMAT.md §16): kind 13 `ScanReplaced`. Its bytes are
/// pinned by `tests/golden/records-v3.txt` (bless as above:
/// `ZEUGNIS_BLESS=1 cargo test --release --test tests golden_scan_replaced`);
/// the golden lines of versions 1 and 2 still decode as before.
#[test]
fn golden_scan_replaced_bytes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let path = dir.join("records-v3.txt");
    let r = sample(
        13,
        Body::ScanReplaced {
            code: "QNVCFM3P4VDF".into(),
            scan: zeugnis::ledger::record::BlobRef {
                blake3: [0xB3; 32],
                sha256: [0x5A; 32],
                size_bytes: 2_097_152,
                media_type: "application/pdf".into(),
            },
            replaced_seq: 7,
            replaced_blake3: [0x0D; 32],
            reason: "Falsches Deckblatt: Scan eines anderen Zeugnisses".into(),
            source_name: "QNVCFM3P4VDF-neu.pdf".into(),
        },
    );
    let bytes = r.encode().expect("encode");
    assert_eq!(&bytes[18..20], &[13, 0], "kind 13");
    assert_eq!(Record::decode(&bytes).expect("decode"), r);
    // The layout of FORMAT.md §3.3: code, blobref, u64 replaced seq, hash,
    // reason, source name.
    let at = 52 + 4 + 12 + 32 + 32 + 8 + 4 + "application/pdf".len();
    assert_eq!(&bytes[at..at + 8], &7u64.to_le_bytes(), "replaced seq");
    assert_eq!(&bytes[at + 8..at + 40], &[0x0D; 32], "replaced BLAKE3");
    let text = format!("{} {}\n", r.body.kind().name(), hex::encode(&bytes));
    if std::env::var_os("ZEUGNIS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("bless");
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (bless with ZEUGNIS_BLESS=1)");
    assert_eq!(golden, text);
    // Every line of the older golden files still decodes to its kind.
    for (file, lines) in [("records.txt", 11), ("records-v2.txt", 4)] {
        let old = std::fs::read_to_string(dir.join(file)).expect("older golden file");
        assert_eq!(old.lines().count(), lines, "{file}");
        for line in old.lines() {
            let (name, rest) = line.split_once(' ').expect("name and hex");
            let hex_text = rest.rsplit(' ').next().expect("hex");
            let rec = Record::decode(&hex::decode(hex_text).expect("hex")).expect(name);
            assert_eq!(rec.body.kind().name(), name, "{file}");
        }
    }
    // A cut ScanReplaced names the field it ends in.
    let err = Record::decode(&bytes[..at + 20]).expect_err("truncated");
    assert!(
        matches!(err, DecodeError::Truncated { field: "replaced_blake3", offset } if offset == at + 8),
        "{err}"
    );
}
