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
//!   1,000,000-record ledger < 1 s. `zeugnis reindex` and a CLI write on a
//!   stopped ledger still open this way.
//! - `open/read_only_1M`: the read commands' open without a daemon
//!   (`Ledger::open_read_only`: no lock, the signed checkpoint, key records,
//!   tiles' root and index head checked, the tail scanned) < 50 ms.
//! - `open/fast_<N>`: the daemon's open (`Ledger::open_fast`, writer lock,
//!   the same checks plus the torn-tail rule) at 1M, 3M and 10M records:
//!   part of "daemon ready < 1 s at 10,000,000 records" (the whole start is
//!   `control/daemon_ready_<N>` in benches/control.rs); it must not grow
//!   with the ledger (the tiles present are found by bisection; what is
//!   left depends on where the end falls in the tile tree, at most 255
//!   tiles hashed per level). Measured 2026-12-01: read-only 1M 18-26 ms,
//!   fast 100,000 / 1M / 3M: 29 / 24 / 51 ms (docs/operations.md).
//! - `verify/background_1M`: the full verification the daemon then runs in
//!   the background (reported, no target; compare with `open/recover_1M`).
//!
//! The large ledgers are built once and kept under `target/bench-ledgers/`
//! (`common::cached_ledger`); `ZEUGNIS_BENCH_SIZES=1000000,3000000` limits
//! the sizes of `open/fast_<N>` (default 1M, 3M and 10M).

mod common;

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
        operator: None,
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

/// The sizes of `open/fast_<N>` (see the module doc).
fn large_sizes() -> Vec<u64> {
    std::env::var("ZEUGNIS_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000, 3_000_000, 10_000_000])
}

/// "1M", "3M", "10M", or the number.
fn label(n: u64) -> String {
    if n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else {
        n.to_string()
    }
}

fn large(c: &mut Criterion) {
    let (_, dir, _) = common::cached_ledger(1_000_000);
    let mut g = c.benchmark_group("open");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("recover_1M", |b| {
        b.iter(|| {
            let l = Ledger::open(&dir, LedgerOptions::default()).expect("open");
            assert_eq!(l.size(), 1_000_000);
        })
    });
    g.bench_function("read_only_1M", |b| {
        b.iter(|| {
            let l = Ledger::open_read_only(&dir).expect("open read-only");
            assert_eq!(l.size(), 1_000_000);
        })
    });
    for n in large_sizes() {
        let (_, dir, _) = common::cached_ledger(n);
        g.bench_function(format!("fast_{}", label(n)), |b| {
            b.iter(|| {
                let mut l = Ledger::open_fast(&dir, LedgerOptions::default()).expect("open");
                assert_eq!(l.size(), n);
                assert!(l.take_verification().is_some(), "the fast path was taken");
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("verify");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("background_1M", |b| {
        b.iter(|| {
            let mut l = Ledger::open_fast(&dir, LedgerOptions::default()).expect("open");
            let target = l.take_verification().expect("pending");
            target.run(&l.verification()).expect("verified");
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
