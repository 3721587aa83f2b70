//! Scan intake benchmark. Run: `cargo bench --bench intake`.
//!
//! Targets (issue 5), on this 2-core machine:
//! - archiving 2 MB PDF scans (code in the file name) through the intake
//!   pipeline (`Intake::ingest`: claim by rename, read, sniff, identify,
//!   blob write + fsync + rename + dir fsync, one `ScanArchived` group
//!   commit per batch, unlink) reaches **≥ 40 %** of the raw rate of `cp`
//!   of the same files followed by one `sync`, on the same disk in the same
//!   run (`raw/cp_sync` vs `intake/ingest`; compare the MB/s).
//! - reading the cover sheet's QR code from a 300 dpi A4 page (2480×3508
//!   pixels, rotated 3°, 2 % noise) takes **< 100 ms** per page
//!   (`decode/a4_300dpi`); 200 dpi for comparison.
//!
//! Issue 13 (decodes in a child process, authenticated cover sheets):
//! `intake/ingest` identifies by file name (`identify = ["file_name"]`, no
//! decode, the path of the figures above); `intake/ingest_cover_sheet`
//! takes the default `identify = ["cover_sheet"]` on 200 dpi PNG scans of
//! authenticated cover sheets, each decoded in its own `decode-worker`
//! process (spawn, rlimits, decode, answer).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeugnis::registry::{DocumentFile, Registry};
use zeugnis::scans::{Intake, IntakeConfig, Source};

/// Scans per measured iteration (one ingest call; batches of 64 inside).
const FILES: usize = 32;
/// Size of one scan.
const SCAN_BYTES: usize = 2 * 1024 * 1024;

mod common;
use common::{record, scratch};

/// Distinct incompressible 2 MB "PDF" scans.
fn scan(seed: u64) -> Vec<u8> {
    common::pdf(seed, SCAN_BYTES)
}

/// Writes the files (not timed) and returns their paths.
fn drop_files(dir: &Path, names: &[String], seed: u64) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("dir");
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = dir.join(n);
            std::fs::write(&p, scan(seed + i as u64)).expect("write");
            p
        })
        .collect()
}

fn intake(c: &mut Criterion) {
    let mut g = c.benchmark_group("scans");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes((FILES * SCAN_BYTES) as u64));

    // Raw floor: cp of the same files into another folder, then one sync.
    let raw = scratch();
    g.bench_function("raw/cp_sync", |b| {
        let mut round = 0u64;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let names: Vec<String> = (0..FILES).map(|i| format!("s{round}_{i}.pdf")).collect();
                let src = drop_files(
                    &raw.path().join(format!("src{round}")),
                    &names,
                    round * 1000,
                );
                let dst = raw.path().join(format!("dst{round}"));
                std::fs::create_dir_all(&dst).expect("dst");
                let t0 = Instant::now();
                let ok = std::process::Command::new("cp")
                    .args(&src)
                    .arg(&dst)
                    .status()
                    .expect("cp")
                    .success()
                    && std::process::Command::new("sync")
                        .status()
                        .expect("sync")
                        .success();
                total += t0.elapsed();
                assert!(ok, "cp + sync failed");
                let _ = std::fs::remove_dir_all(raw.path().join(format!("src{round}")));
                let _ = std::fs::remove_dir_all(&dst);
            }
            total
        })
    });

    // The intake: every file goes through the whole pipeline.
    let t = scratch();
    let data = t.path().join("ledger");
    zeugnis::ledger::Ledger::init(&data, "bench/zeugnis", Default::default()).expect("init");
    let registry = Arc::new(Mutex::new(Registry::open(&data, "http://x").expect("open")));
    let mut intake = Intake::new(
        IntakeConfig {
            identify: vec![Source::FileName],
            ..IntakeConfig::default()
        },
        &t.path().join("scans"),
        Arc::clone(&registry),
    )
    .expect("intake");
    let mut round = 0u64;
    g.bench_function("intake/ingest", |b| {
        b.iter_batched(
            || {
                round += 1;
                let items: Vec<_> = (0..FILES)
                    .map(|i| {
                        let doc = DocumentFile {
                            name: "d.pdf".into(),
                            bytes: zeugnis::document::text_pdf(
                                &[vec![format!("digital image {round} {i}")]],
                                None,
                            ),
                        };
                        (record(), vec![doc])
                    })
                    .collect();
                let issued = registry
                    .lock()
                    .expect("lock")
                    .register_batch(&items)
                    .expect("register");
                let names: Vec<String> = issued
                    .iter()
                    .map(|x| format!("{}.pdf", x.code.as_str()))
                    .collect();
                drop_files(&t.path().join(format!("drop{round}")), &names, round * 1000)
            },
            |files| {
                let out = intake.ingest(&files).expect("ingest");
                assert!(out.iter().all(|o| o.outcome == "archived"), "{out:?}");
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // The default identification: authenticated cover sheets, decoded in
    // worker processes.
    let mut g = c.benchmark_group("scans");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    const SHEETS: usize = 8;
    g.throughput(Throughput::Elements(SHEETS as u64));
    let mut intake = Intake::new(
        IntakeConfig::default(),
        &t.path().join("scans"),
        Arc::clone(&registry),
    )
    .expect("intake");
    intake.set_worker_exe(PathBuf::from(env!("CARGO_BIN_EXE_zeugnis")));
    let key = zeugnis::coversheet::CoverSheetKey::open_or_create(&data).expect("key");
    g.bench_function("intake/ingest_cover_sheet", |b| {
        b.iter_batched(
            || {
                round += 1;
                let items: Vec<_> = (0..SHEETS)
                    .map(|i| {
                        let doc = DocumentFile {
                            name: "d.pdf".into(),
                            bytes: zeugnis::document::text_pdf(
                                &[vec![format!("digital image {round} {i}")]],
                                None,
                            ),
                        };
                        (record(), vec![doc])
                    })
                    .collect();
                let issued = registry
                    .lock()
                    .expect("lock")
                    .register_batch(&items)
                    .expect("register");
                let dir = t.path().join(format!("sheets{round}"));
                std::fs::create_dir_all(&dir).expect("dir");
                issued
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        let code = x.code.as_str();
                        let payload = zeugnis::coversheet::qr_payload(code, &key.tag(code));
                        let page = zeugnis::scans::simulate::scanned_cover_page(
                            &payload,
                            200.0,
                            2.0,
                            1,
                            round * 100 + i as u64,
                        );
                        let p = dir.join(format!("scan-{i:04}.png"));
                        std::fs::write(&p, page.png()).expect("write");
                        p
                    })
                    .collect::<Vec<_>>()
            },
            |files| {
                let out = intake.ingest(&files).expect("ingest");
                assert!(out.iter().all(|o| o.outcome == "archived"), "{out:?}");
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    use zeugnis::scans::simulate::scanned_cover_page;
    let mut g = c.benchmark_group("decode");
    g.sample_size(20);
    for (name, dpi) in [("a4_300dpi", 300.0), ("a4_200dpi", 200.0)] {
        let page = scanned_cover_page("QNVCFM3P4VDF", dpi, 3.0, 2, 11);
        g.bench_function(name, |b| {
            b.iter(|| {
                let texts = zeugnis::scans::decode::decode_qr_from_luma(
                    page.width,
                    page.height,
                    &page.luma,
                )
                .expect("decode");
                assert_eq!(texts, ["QNVCFM3P4VDF"]);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, intake, decode);
criterion_main!(benches);
