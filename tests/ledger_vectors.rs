//! Every RFC 6962 vector in `tests/vectors/rfc6962` (from transparency-dev/merkle):
//! happy paths verify, every `wantErr` case is rejected.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::path::{Path, PathBuf};
use zeugnis::ledger::merkle;

fn vector_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("vector dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            vector_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap_or("")).expect("vector base64")
}

fn proof(v: &serde_json::Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(|a| a.iter().map(b64).collect())
        .unwrap_or_default()
}

fn check(kind: &str) -> (usize, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/rfc6962")
        .join(kind);
    let mut files = Vec::new();
    vector_files(&root, &mut files);
    files.sort();
    let (mut ok, mut rejected) = (0, 0);
    for f in &files {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).expect("read")).expect("json");
        let want_err = v["wantErr"].as_bool().expect("wantErr");
        let got = if kind == "inclusion" {
            merkle::verify_inclusion(
                v["leafIdx"].as_u64().expect("leafIdx"),
                v["treeSize"].as_u64().expect("treeSize"),
                &b64(&v["leafHash"]),
                &proof(&v["proof"]),
                &b64(&v["root"]),
            )
        } else {
            merkle::verify_consistency(
                v["size1"].as_u64().expect("size1"),
                v["size2"].as_u64().expect("size2"),
                &proof(&v["proof"]),
                &b64(&v["root1"]),
                &b64(&v["root2"]),
            )
        };
        assert_eq!(got.is_err(), want_err, "{}: {:?}", f.display(), got);
        if want_err {
            rejected += 1
        } else {
            ok += 1
        }
    }
    (ok, rejected)
}

#[test]
fn every_inclusion_vector() {
    let (ok, rejected) = check("inclusion");
    // Counts pin that the whole folder was read.
    assert_eq!((ok, rejected), (6, 92));
}

#[test]
fn every_consistency_vector() {
    let (ok, rejected) = check("consistency");
    assert_eq!((ok, rejected), (6, 92));
}
