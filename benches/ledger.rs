//! Ledger benchmarks. Run: `cargo bench --bench ledger`.
//!
//! Targets (2-core machine; compare ratios inside one run, the disk is noisy):
//! - `append/batch_1000x300B`: batched durable append ≥ 100,000 records/s of
//!   300 bytes, and ≥ 20× the rate of `append/single_300B` (one record per
//!   batch, i.e. one fsync pair per record).
//! - `raw/fdatasync_300B`: a raw write + fdatasync loop on the same disk, the
//!   floor every durable append pays; reported beside the append figures.
//! - `proof/inclusion_1M`: inclusion proof at 1,000,000 records from warm
//!   tiles < 50 µs.
//! - `open/recover_1M`: open (full CRC + chain verification of every record,
//!   tiles and index checked against the signed checkpoint) of a
//!   1,000,000-record ledger < 1 s.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::io::Write;
use std::time::Duration;
use zeugnis::ledger::record::Body;
use zeugnis::ledger::{Ledger, LedgerOptions};

/// A body that encodes to exactly 300 bytes.
fn body_300(n: u64) -> Body {
    let b = Body::Voided {
        code: format!("{n:012}"),
        reason: String::new(),
    };
    let base = zeugnis::ledger::record::Record {
        seq: n,
        time_s: 0,
        prev_link: [0; 32],
        body: b,
    }
    .encode()
    .expect("encode")
    .len();
    Body::Voided {
        code: format!("{n:012}"),
        reason: "r".repeat(300 - base),
    }
}

/// Scratch directory on the same disk as the build (not tmpfs).
fn scratch() -> tempfile::TempDir {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch");
    std::fs::create_dir_all(&base).expect("scratch");
    tempfile::tempdir_in(base).expect("tempdir")
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    let t = scratch();
    let mut l = Ledger::init(
        &t.path().join("l"),
        "bench/zeugnis/1",
        LedgerOptions::default(),
    )
    .expect("init");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("batch_1000x300B", |b| {
        b.iter_batched(
            || (0..1000).map(body_300).collect::<Vec<_>>(),
            |batch| l.append_batch(batch).expect("append"),
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_300B", |b| {
        b.iter(|| l.append_batch(vec![body_300(1)]).expect("append"))
    });
    g.finish();

    let mut g = c.benchmark_group("raw");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));
    let path = t.path().join("raw.bin");
    let mut f = std::fs::File::create(&path).expect("raw file");
    let buf = [7u8; 300];
    g.bench_function("fdatasync_300B", |b| {
        b.iter(|| {
            f.write_all(&buf).expect("write");
            f.sync_data().expect("fdatasync");
        })
    });
    g.finish();
}

/// Builds (once) a ledger of 1,000,000 records of 300 bytes.
fn million() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = scratch();
    let dir = t.path().join("l");
    let mut l = Ledger::init(&dir, "bench/zeugnis/1", LedgerOptions::default()).expect("init");
    let mut n = 1;
    while n < 1_000_000 {
        let k = (1_000_000 - n).min(10_000);
        l.append_batch((n..n + k).map(body_300).collect())
            .expect("append");
        n += k;
    }
    l.flush_index().expect("flush");
    (t, dir)
}

fn large(c: &mut Criterion) {
    let (_t, dir) = million();
    let mut g = c.benchmark_group("open");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("recover_1M", |b| {
        b.iter(|| {
            let l = Ledger::open(&dir, LedgerOptions::default()).expect("open");
            assert_eq!(l.size(), 1_000_000);
        })
    });
    g.finish();

    let l = Ledger::open(&dir, LedgerOptions::default()).expect("open");
    let mut g = c.benchmark_group("proof");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    // Warm the tile cache once over the whole tree.
    for i in (0..1_000_000).step_by(256) {
        l.inclusion_proof(i, 1_000_000).expect("proof");
    }
    g.bench_function("inclusion_1M", |b| {
        b.iter(|| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            l.inclusion_proof(x % 1_000_000, 1_000_000).expect("proof")
        })
    });
    g.finish();
}

criterion_group!(benches, append, large);
criterion_main!(benches);
