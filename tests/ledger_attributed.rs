//! Format version 6 (FORMAT.md §3.1, §16): attributed records.
//!
//! A record with an operator is written with header version 2: the 52-byte
//! header, the operator id as a `string`, then the body exactly as in
//! version 1. `tests/golden/records-v6.txt` pins the bytes of one attributed
//! record of every kind a person can cause (bless with
//! `ZEUGNIS_BLESS=1 cargo test --release --test tests golden_version_6`;
//! a diff is a format change). Unattributed records stay version 1 byte for
//! byte, so every older golden line decodes as before.

use crate::support::every_kind;
use zeugnis::ledger::record::{
    BlobRef, Body, DecodeError, OperatorId, Record, RevocationCategory, RECORD_BYTES_MAX,
};

fn sample(seq: u64, operator: Option<&str>, body: Body) -> Record {
    Record {
        seq,
        time_s: 1_795_000_000 + seq as i64,
        prev_link: [seq as u8; 32],
        operator: operator.map(|o| OperatorId::parse(o).expect("valid id")),
        body,
    }
}

/// Every kind but Genesis (which no operator writes: `zeugnis init` runs
/// unattributed), including the kinds of format versions 2 to 4.
fn attributable_bodies() -> Vec<Body> {
    let mut bodies: Vec<Body> = every_kind().into_iter().skip(1).collect();
    bodies.extend([
        Body::RevokedWithCategory {
            code: "QNVCFM3P4VDF".into(),
            category: RevocationCategory::IssuedInError,
            reason: "Täuschung festgestellt".into(),
            effective_date: "2027-01-31".into(),
        },
        Body::ScanReplaced {
            code: "QNVCFM3P4VDF".into(),
            scan: BlobRef {
                blake3: [0xB3; 32],
                sha256: [0x5A; 32],
                size_bytes: 2_097_152,
                media_type: "application/pdf".into(),
            },
            replaced_seq: 7,
            replaced_blake3: [0x0D; 32],
            reason: "Falsches Deckblatt".into(),
            source_name: "QNVCFM3P4VDF-neu.pdf".into(),
        },
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
    ]);
    bodies
}

/// The operator of the i-th golden record: desk-style ids, the admin API's
/// `api`, and the shortest and longest ids the pattern allows.
fn operator_of(i: usize) -> String {
    match i % 4 {
        0 => "op-k3m9x2b7qa".to_string(),
        1 => "api".to_string(),
        2 => "ab".to_string(),
        _ => format!("z{}", "9-".repeat(31) + "x"),
    }
}

#[test]
fn golden_version_6_bytes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let path = dir.join("records-v6.txt");
    let mut text = String::new();
    for (i, body) in attributable_bodies().into_iter().enumerate() {
        let op = operator_of(i);
        assert!(op.len() <= 64, "{op}");
        let seq = 40 + i as u64;
        let attributed = sample(seq, Some(&op), body.clone());
        let plain = sample(seq, None, body);
        let bytes = attributed.encode().expect("encode");
        let v1 = plain.encode().expect("encode");
        // The layout of FORMAT.md §3.1: version 2, the version-1 header
        // fields, the operator string at byte 52, then the unchanged body.
        assert_eq!(&bytes[0..2], &[2, 0], "header version 2");
        assert_eq!(&v1[0..2], &[1, 0], "unattributed stays version 1");
        assert_eq!(&bytes[2..52], &v1[2..52], "seq, time, kind, prev link");
        assert_eq!(&bytes[52..56], &(op.len() as u32).to_le_bytes());
        assert_eq!(&bytes[56..56 + op.len()], op.as_bytes());
        assert_eq!(&bytes[56 + op.len()..], &v1[52..], "body as in version 1");
        assert_eq!(Record::decode(&bytes).expect("decode"), attributed);
        assert_eq!(Record::decode(&v1).expect("decode"), plain);
        let json = attributed.to_json();
        assert_eq!(json["version"], 2);
        assert_eq!(json["operator"], op.as_str());
        assert_eq!(plain.to_json()["operator"], serde_json::Value::Null);
        text.push_str(&format!(
            "{} {} {}\n",
            attributed.body.kind().name(),
            op,
            hex::encode(&bytes)
        ));
    }
    if std::env::var_os("ZEUGNIS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("bless");
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (bless with ZEUGNIS_BLESS=1)");
    assert_eq!(golden, text);
    assert_eq!(golden.lines().count(), 15, "every kind but Genesis");
}

/// The golden records of versions 1 to 4 still decode, unattributed, and
/// re-encode to the same bytes: old ledgers are untouched by version 6.
#[test]
fn older_golden_records_decode_unattributed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut n = 0;
    for file in [
        "records.txt",
        "records-v2.txt",
        "records-v3.txt",
        "records-v4.txt",
    ] {
        let old = std::fs::read_to_string(dir.join(file)).expect("older golden file");
        for line in old.lines() {
            let hex_text = line.rsplit(' ').next().expect("hex");
            let bytes = hex::decode(hex_text).expect("hex");
            let rec = Record::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {line}: {e}"));
            assert_eq!(rec.operator, None, "{file}");
            assert_eq!(rec.version(), 1, "{file}");
            assert_eq!(rec.encode().expect("encode"), bytes, "{file}");
            n += 1;
        }
    }
    assert_eq!(n, 11 + 4 + 1 + 3);
}

/// Strict decoding (FORMAT.md §3.4): a version-2 record must carry a valid
/// operator id; other versions are refused.
#[test]
fn attributed_records_are_decoded_strictly() {
    let body = every_kind().remove(8); // Voided
    let good = sample(3, Some("op-abc"), body.clone())
        .encode()
        .expect("encode");
    let v1 = sample(3, None, body).encode().expect("encode");
    let with_operator = |id: &[u8]| {
        let mut b = good[..52].to_vec();
        b.extend_from_slice(&(id.len() as u32).to_le_bytes());
        b.extend_from_slice(id);
        b.extend_from_slice(&v1[52..]);
        b
    };
    assert!(Record::decode(&with_operator(b"op-abc")).is_ok());
    for bad in [
        &b""[..],
        b"a",
        b"Op-abc",
        b"1op",
        b"-op",
        b"op_abc",
        b"op abc",
        b"op\xc3\xa9",
        &[b'a'; 65][..],
    ] {
        let err = Record::decode(&with_operator(bad)).expect_err("invalid id refused");
        assert!(
            matches!(
                err,
                DecodeError::NonCanonical {
                    offset: 52,
                    field: "operator",
                    ..
                }
            ),
            "{:?}: {err}",
            String::from_utf8_lossy(bad)
        );
    }
    // Not UTF-8 at all.
    assert!(matches!(
        Record::decode(&with_operator(&[0xff, 0xfe])),
        Err(DecodeError::NonCanonical {
            field: "operator",
            ..
        })
    ));
    // A version-1 body read as version 2: the code's length is taken for
    // the operator's, and the record no longer parses.
    let mut relabelled = v1.clone();
    relabelled[0] = 2;
    assert!(Record::decode(&relabelled).is_err());
    // The operator string cut short.
    assert!(matches!(
        Record::decode(&good[..58]),
        Err(DecodeError::Truncated {
            field: "operator",
            ..
        })
    ));
    // Unknown versions, below and above.
    for version in [0u16, 3, 0xffff] {
        let mut b = good.clone();
        b[0..2].copy_from_slice(&version.to_le_bytes());
        assert_eq!(
            Record::decode(&b),
            Err(DecodeError::UnsupportedVersion { version })
        );
    }
    // The record limit counts the operator's bytes too.
    let near = sample(
        1,
        Some(&format!("o{}", "p".repeat(63))),
        Body::Voided {
            code: "X".into(),
            reason: "y".repeat(RECORD_BYTES_MAX - (52 + 4 + 1 + 4)),
        },
    );
    assert!(near.encode().is_err());
}
