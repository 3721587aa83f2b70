//! Shared helpers for the integration tests.

use std::path::{Path, PathBuf};
use zeugnis::ledger::record::{BlobRef, Body, DocumentRef, GradeRecord};
use zeugnis::ledger::{Ledger, LedgerOptions};

/// Runs a program; returns (exit code, stdout, stderr).
pub fn output(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().expect("run program");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `zeugnis ARGS` in `dir`.
pub fn zeugnis(dir: &Path, args: &[&str]) -> (i32, String, String) {
    output(
        std::process::Command::new(bin())
            .args(args)
            .current_dir(dir),
    )
}

/// Makes sure the Python modules a test uses are importable (`.ci/run`
/// installs them; a test run without it installs them with pip).
pub fn python_modules(modules: &[&str]) {
    let import = format!("import {}", modules.join(", "));
    let ok = std::process::Command::new("python3")
        .args(["-c", &import])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let pip = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "-q"])
            .args(modules)
            .status()
            .expect("python3 with pip");
        assert!(pip.success(), "pip install {modules:?}");
    }
}

/// Path of the built `zeugnis` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zeugnis"))
}

/// A fresh ledger in a temp dir.
pub fn new_ledger(opts: LedgerOptions) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::init(&dir.path().join("ledger"), "test.example/zeugnis/1", opts).expect("init");
    (dir, l)
}

/// The ledger directory inside a temp dir made by [`new_ledger`].
pub fn ledger_dir(t: &tempfile::TempDir) -> PathBuf {
    t.path().join("ledger")
}

/// A deterministic body of roughly 300 encoded bytes, distinct per `n`.
pub fn sample_body(n: u64) -> Body {
    Body::Revoked {
        code: format!("{n:012}"),
        reason: format!("test record {n}: {}", "x".repeat(200)),
        effective_date: "2026-11-23".into(),
    }
}

/// One body of every kind, with fixed contents (golden vectors).
pub fn every_kind() -> Vec<Body> {
    let blob = |b: u8| BlobRef {
        blake3: [b; 32],
        sha256: [b.wrapping_add(1); 32],
        size_bytes: 123_456,
        media_type: "application/pdf".into(),
    };
    vec![
        Body::Genesis {
            origin: "verify.uni-example.de/zeugnis/1".into(),
            format: "zeugnis-ledger-v1".into(),
            public_key: [7; 32],
            predecessor_checkpoint: String::new(),
        },
        Body::KeyAdded {
            public_key: [8; 32],
            valid_from_s: 1_790_000_000,
        },
        Body::KeyRetired {
            public_key: [7; 32],
            valid_until_s: 1_800_000_000,
            reason: "rotation".into(),
        },
        Body::RulesetAdded {
            id: "erfurt-ba-2019".into(),
            version: "1".into(),
            text: blob(1),
        },
        Body::Registered {
            code: "QNVCFM3P4UDF".into(),
            document_kind: "transcript".into(),
            institution: "Universität Erfurt".into(),
            holder_commitment: [2; 32],
            key_commitment: [3; 32],
            documents: vec![
                DocumentRef {
                    language: "de".into(),
                    blob: blob(4),
                },
                DocumentRef {
                    language: "en".into(),
                    blob: blob(5),
                },
            ],
            grade: Some(GradeRecord {
                ruleset_id: "erfurt-ba-2019".into(),
                ruleset_hash: [6; 32],
                final_grade: Some("1.76".parse().expect("decimal")),
                result_json: r#"{"final":{"value":"1.76"}}"#.into(),
            }),
        },
        Body::ScanArchived {
            code: "QNVCFM3P4UDF".into(),
            scan: blob(9),
            source_name: "scan_QNVC-FM3P-4UDF_001.pdf".into(),
        },
        Body::Revoked {
            code: "QNVCFM3P4UDF".into(),
            reason: "Täuschung festgestellt".into(),
            effective_date: "2027-01-31".into(),
        },
        Body::Superseded {
            old_code: "QNVCFM3P4UDF".into(),
            new_code: "7K2M9XAB3CDE".into(),
        },
        Body::Voided {
            code: "7K2M9XAB3CDE".into(),
            reason: "scan illegible; process restarted".into(),
        },
        Body::FixityChecked {
            blobs_checked: 3,
            bytes_checked: 370_368,
            failures: vec![[10; 32]],
        },
        Body::Erased {
            code: "QNVCFM3P4UDF".into(),
            reason: "GDPR Art. 17 request".into(),
        },
    ]
}

/// Reads a whole file.
pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}
