//! Commands while the daemon runs and while it is stopped, and the
//! daemon's start, on large ledgers. Run: `cargo bench --bench control`.
//!
//! What it measures (each a whole `zeugnis` process, as an operator runs it):
//! - `control/show_running_<N>`: `zeugnis show CODE` while `zeugnis run` holds
//!   the ledger: the command goes over the control socket and the daemon
//!   answers from its index. Target < 50 ms, independent of the ledger size.
//! - `control/show_stopped_<N>`: the same command with the daemon stopped:
//!   a read-only open (no writer lock; the signed checkpoint, the derived
//!   data's agreement with it and the tail are checked, not every frame),
//!   so it no longer grows with the ledger. Target < 100 ms (the open
//!   itself is `open/read_only_1M` in benches/ledger.rs, < 50 ms).
//! - `control/daemon_ready_<N>`: from starting `zeugnis run` to its control
//!   socket answering (listeners bound, ledger opened the fast way), then
//!   SIGTERM. Target < 1 s at 10,000,000 records; the full verification
//!   runs afterwards in the background.
//!
//! `ZEUGNIS_BENCH_SIZES=1000000,10000000` picks the ledger sizes (default
//! 1M); the ledgers are built once and kept under `target/bench-ledgers/`.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::{Duration, Instant};

fn zeugnis(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zeugnis"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run zeugnis")
}

/// Starts the daemon and waits until its control socket answers.
fn start(dir: &Path) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_zeugnis"))
        .arg("run")
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start daemon");
    let t0 = Instant::now();
    while std::os::unix::net::UnixStream::connect(dir.join("ledger/control.sock")).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(600), "daemon not ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

fn stop(mut child: std::process::Child) {
    let st = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    assert!(child.wait().expect("wait").success());
}

/// The ledger sizes (see the module doc).
fn sizes() -> Vec<u64> {
    std::env::var("ZEUGNIS_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000])
}

fn control(c: &mut Criterion) {
    let mut g = c.benchmark_group("control");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for n in sizes() {
        let (dir, _, code) = common::cached_ledger(n);
        let dir = dir.as_path();
        let label = if n.is_multiple_of(1_000_000) {
            format!("{}M", n / 1_000_000)
        } else {
            n.to_string()
        };
        g.bench_function(format!("show_stopped_{label}"), |b| {
            b.iter(|| assert!(zeugnis(dir, &["show", &code]).status.success()))
        });
        g.bench_function(format!("daemon_ready_{label}"), |b| {
            b.iter(|| stop(start(dir)))
        });
        let daemon = start(dir);
        g.bench_function(format!("show_running_{label}"), |b| {
            b.iter(|| assert!(zeugnis(dir, &["show", &code]).status.success()))
        });
        stop(daemon);
    }
    g.finish();
}

criterion_group!(benches, control);
criterion_main!(benches);
