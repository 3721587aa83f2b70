//! Crash consistency under SIGKILL.
//!
//! Proves: whatever instant a writer dies at (during open/recovery, between
//! write and fsync, during a segment roll, while signing a checkpoint), every
//! batch it acknowledged is present afterwards with exactly the bytes it
//! wrote, and the ledger opens and audits clean.
//!
//! How: this one test re-executes its own test binary as a child (selected by
//! the `ZEUGNIS_CRASH_CHILD` environment variable) that appends batches of
//! 1..=20 records in a loop and prints `ack <size>` after each acknowledged
//! batch. The parent kills it with SIGKILL after a random delay, 200 times,
//! and after each kill opens the ledger, checks every acknowledged record and
//! runs the audit. Small segments (64 KiB) make segment rolls frequent.

use crate::support::sample_body;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeugnis::ledger::{audit, Ledger, LedgerOptions};

const KILLS: usize = 200;
const SEGMENT_BYTES: u64 = 64 * 1024;

fn opts() -> LedgerOptions {
    LedgerOptions {
        segment_bytes_max: SEGMENT_BYTES,
        ..LedgerOptions::default()
    }
}

/// xorshift64*: deterministic delays from a printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn child(dir: &str) -> ! {
    let mut l = Ledger::open(std::path::Path::new(dir), opts()).expect("child opens");
    let mut rng = Rng(l.size() | 1);
    let mut out = std::io::stdout().lock();
    writeln!(out, "open").expect("stdout");
    out.flush().expect("flush");
    loop {
        let n = 1 + rng.next() % 20;
        let first = l.size();
        let batch = (first..first + n).map(sample_body).collect();
        l.append_batch(batch).expect("child appends");
        writeln!(out, "ack {}", l.size()).expect("stdout");
        out.flush().expect("flush");
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_batch() {
    if let Ok(dir) = std::env::var("ZEUGNIS_CRASH_CHILD") {
        child(&dir);
    }
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("ledger");
    drop(Ledger::init(&dir, "crash.example/zeugnis/1", opts()).expect("init"));
    let seed = std::env::var("ZEUGNIS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    eprintln!("crash test seed {seed} (set ZEUGNIS_CRASH_SEED to replay)");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().expect("test binary");
    let mut checked = 1u64; // records verified against their expected bytes
    let mut acked_total = 0u64;
    let mut killed_before_first_ack = 0;
    for kill in 0..KILLS {
        let mut c = Command::new(&exe)
            .args([
                "--exact",
                "ledger_crash::sigkill_at_random_moments_loses_no_acknowledged_batch",
                "--nocapture",
            ])
            .env("ZEUGNIS_CRASH_CHILD", &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let acked = Arc::new(Mutex::new(0u64));
        let stdout = c.stdout.take().expect("stdout");
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let reader = {
            let acked = acked.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line == "open" {
                        let _ = opened_tx.send(());
                    }
                    if let Some(n) = line
                        .strip_prefix("ack ")
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        *acked.lock().expect("lock") = n;
                    }
                }
            })
        };
        // One kill in four lands anywhere from process start (often inside
        // open/recovery); the others land while batches are being appended.
        if !rng.next().is_multiple_of(4) {
            let _ = opened_rx.recv_timeout(Duration::from_secs(30));
        }
        std::thread::sleep(Duration::from_millis(rng.next() % 40));
        c.kill().expect("SIGKILL");
        c.wait().expect("reap");
        reader.join().expect("reader");
        let acked = *acked.lock().expect("lock");
        if acked == 0 {
            killed_before_first_ack += 1;
        }
        let l =
            Ledger::open(&dir, opts()).unwrap_or_else(|e| panic!("kill {kill}: open failed: {e}"));
        assert!(
            l.size() >= acked,
            "kill {kill}: acknowledged {acked} records, ledger has {}",
            l.size()
        );
        assert_eq!(
            l.checkpoint().size,
            l.size(),
            "kill {kill}: checkpoint covers the ledger"
        );
        for seq in checked..l.size() {
            let r = l
                .record(seq)
                .unwrap_or_else(|e| panic!("kill {kill}: record {seq}: {e}"));
            assert_eq!(
                r.body,
                sample_body(seq),
                "kill {kill}: record {seq} differs"
            );
        }
        checked = l.size();
        acked_total = acked_total.max(acked);
        drop(l);
        audit::audit(&dir).unwrap_or_else(|e| panic!("kill {kill}: audit failed: {e}"));
    }
    eprintln!(
        "crash test: {KILLS} kills, {checked} records, {killed_before_first_ack} kills before the child's first ack"
    );
    assert!(acked_total > 0, "the child acknowledged batches");
    assert!(
        killed_before_first_ack < KILLS / 2,
        "most kills must land while batches are being appended"
    );
}
