//! Archivists' tools benchmark. Run: `cargo bench --bench export`
//! (the fixity comparison needs `b3sum`: `cargo install b3sum`; without it
//! that comparison is skipped with a message).
//!
//! Targets (issue 7), on this 2-core machine:
//! - `fixity/audit_256MiB`: `audit --fixity` (`Registry::fixity_audit`,
//!   which re-hashes every blob with BLAKE3 **and** SHA-256) reaches
//!   ≥ 80 % of the throughput of `fixity/b3sum_256MiB`, `b3sum` over the
//!   same blob files in the same run. Measured twice: with the files in the
//!   page cache (CPU-bound: b3sum does one hash on all cores, the audit two)
//!   and, when the bench may drop the page cache (root), from the disk
//!   (`*_cold`, the case of an archive larger than memory).
//! - `export/proof_at_1M`: `export-proof` of one certificate in a ledger of
//!   1,000,000 records < 50 ms.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeugnis::ledger::record::Body;
use zeugnis::registry::{DocumentFile, Registry};

/// Blob bytes re-hashed per fixity iteration.
const FIXITY_BYTES: usize = 256 * 1024 * 1024;
/// Size of one document in the fixity set.
const DOC_BYTES: usize = 4 * 1024 * 1024;

mod common;
use common::{pdf, record, scratch};

fn blob_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(dir.join("blobs")).expect("blobs") {
        for f in std::fs::read_dir(shard.expect("shard").path()).expect("shard dir") {
            out.push(f.expect("file").path());
        }
    }
    out
}

/// Writes back dirty pages and drops the page cache (needs root).
fn drop_page_cache() -> bool {
    std::process::Command::new("sync")
        .status()
        .is_ok_and(|s| s.success())
        && std::fs::write("/proc/sys/vm/drop_caches", b"3\n").is_ok()
}

fn fixity(c: &mut Criterion) {
    let t = scratch();
    let data = t.path().join("ledger");
    zeugnis::ledger::Ledger::init(&data, "bench/zeugnis", Default::default()).expect("init");
    let mut r = Registry::open(&data, "http://x").expect("open");
    let items: Vec<_> = (0..FIXITY_BYTES / DOC_BYTES)
        .map(|i| {
            let doc = DocumentFile {
                name: "d.pdf".into(),
                bytes: pdf(i as u64, DOC_BYTES),
            };
            (record(), vec![doc])
        })
        .collect();
    r.register_batch(&items).expect("register");
    let files = blob_files(&data);
    let mut g = c.benchmark_group("fixity");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(FIXITY_BYTES as u64));
    let have_b3sum = std::process::Command::new("b3sum")
        .arg("--version")
        .output()
        .is_ok();
    if have_b3sum {
        g.bench_function("b3sum_256MiB", |b| {
            b.iter(|| {
                let out = std::process::Command::new("b3sum")
                    .args(&files)
                    .output()
                    .expect("b3sum");
                assert!(out.status.success());
            })
        });
    } else {
        eprintln!("b3sum not found (cargo install b3sum): the comparison is skipped");
    }
    g.bench_function("audit_256MiB", |b| {
        b.iter(|| {
            let rep = r.fixity_audit(false).expect("fixity");
            assert!(rep.failures.is_empty());
        })
    });
    if drop_page_cache() {
        let cold = |b: &mut criterion::Bencher, f: &mut dyn FnMut()| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    assert!(drop_page_cache());
                    let t0 = std::time::Instant::now();
                    f();
                    total += t0.elapsed();
                }
                total
            })
        };
        if have_b3sum {
            g.bench_function("b3sum_256MiB_cold", |b| {
                cold(b, &mut || {
                    let ok = std::process::Command::new("b3sum")
                        .args(&files)
                        .output()
                        .expect("b3sum")
                        .status
                        .success();
                    assert!(ok);
                })
            });
        }
        g.bench_function("audit_256MiB_cold", |b| {
            cold(b, &mut || {
                assert!(r.fixity_audit(false).expect("fixity").failures.is_empty());
            })
        });
    } else {
        eprintln!("cannot drop the page cache (not root): the cold-cache comparison is skipped");
    }
    g.finish();
}

fn export_at_million(c: &mut Criterion) {
    let t = scratch();
    let data = t.path().join("ledger");
    {
        let mut l = zeugnis::ledger::Ledger::init(&data, "bench/zeugnis", Default::default())
            .expect("init");
        // 1,000,000 records of a kind the certificate index does not track.
        let mut n = l.size();
        while n < 1_000_000 {
            let k = (1_000_000 - n).min(10_000);
            let bodies = (0..k)
                .map(|_| Body::FixityChecked {
                    blobs_checked: 0,
                    bytes_checked: 0,
                    failures: Vec::new(),
                })
                .collect();
            n = l.append_batch(bodies).expect("append").end;
        }
        l.flush_index().expect("flush");
    }
    let mut r = Registry::open(&data, "http://x").expect("open");
    let issued = r
        .register(
            &record(),
            &[DocumentFile {
                name: "d.pdf".into(),
                bytes: pdf(1, 200_000),
            }],
            None,
        )
        .expect("register");
    r.archive_scan(issued.code.as_str(), &pdf(2, 500_000), "scan.pdf")
        .expect("scan");
    let size = r.ledger().size();
    assert!(size >= 1_000_000, "{size}");
    let out = t.path().join("out");
    let mut round = 0u32;
    let mut g = c.benchmark_group("export");
    g.sample_size(20);
    g.bench_function("proof_at_1M", |b| {
        b.iter_batched(
            || {
                round += 1;
                out.join(format!("p{round}"))
            },
            |dir| {
                zeugnis::export::export_proof(&r, issued.code.as_str(), &dir, false, false)
                    .expect("export")
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, fixity, export_at_million);
criterion_main!(benches);
