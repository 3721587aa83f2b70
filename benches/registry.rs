//! Registration benchmark. Run: `cargo bench --bench registry`.
//!
//! Target: ≥ 500 registrations/s batched (50 per ledger batch), each with a
//! distinct 200 KB PDF, on this 2-core machine. Every registration writes
//! two blobs durably (the PDF and the personal-data record blob: write,
//! fsync, rename, fsync dir), so the bound is the disk's fsync rate; the
//! `raw/fsync_200KB_pair` figure in the same run shows that floor.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::io::Write;
use std::time::Duration;
use zeugnis::registry::{DocumentFile, Registry};

mod common;
use common::{record, scratch};

const BATCH: usize = 50;

fn pdf(n: u64) -> Vec<u8> {
    common::pdf(n, 200 * 1024)
}

fn registration(c: &mut Criterion) {
    let t = scratch();
    let dir = t.path().join("l");
    drop(zeugnis::ledger::Ledger::init(&dir, "bench/zeugnis/1", Default::default()).expect("init"));
    let mut r = Registry::open(&dir, "http://127.0.0.1:8080").expect("open");
    let rec = record();
    let mut n = 0u64;
    let mut g = c.benchmark_group("register");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("batch_50x200KB", |b| {
        b.iter_batched(
            || {
                (0..BATCH)
                    .map(|_| {
                        n += 1;
                        let doc = DocumentFile {
                            name: "d.pdf".into(),
                            bytes: pdf(n),
                        };
                        (rec.clone(), vec![doc])
                    })
                    .collect::<Vec<_>>()
            },
            |items| r.register_batch(&items).expect("register"),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("raw");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));
    let raw = t.path().join("raw");
    std::fs::create_dir_all(&raw).expect("raw dir");
    let body = pdf(0);
    let mut i = 0u64;
    g.bench_function("fsync_200KB_pair", |b| {
        b.iter(|| {
            // What one registration's blobs cost at minimum: two files
            // written and fsynced, and their directory fsynced.
            for _ in 0..2 {
                i += 1;
                let p = raw.join(format!("{i}"));
                let mut f = std::fs::File::create(&p).expect("create");
                f.write_all(&body).expect("write");
                f.sync_all().expect("fsync");
            }
            std::fs::File::open(&raw)
                .expect("dir")
                .sync_all()
                .expect("fsync dir");
        })
    });
    g.finish();
}

criterion_group!(benches, registration);
criterion_main!(benches);
