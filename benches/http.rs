//! Verification page throughput, in process: the real server on
//! 127.0.0.1:0 over a ledger with 200 certificates, 64 keep-alive
//! connections each asking for `/de/CODE-KEY` (the heaviest page: holder
//! data, key check, ledger evidence) in a loop.
//!
//! Targets (issue 6): ≥ 20,000 requests/s and p99 < 10 ms at 64
//! connections. `page_no_floor` measures the service itself
//! (`lookup_time_floor_ms = 0`); `page_default_floor` the shipped
//! configuration, where every lookup is held to the 5 ms floor so that
//! unknown, wrong-key and malformed lookups are indistinguishable — its
//! throughput is bounded by connections / floor (64 / 5 ms = 12,800/s).
//! `latency` prints p50/p99 for both configurations. `load_vs_nginx` runs
//! `wrk` (64 connections, 2 threads, 10 s; installed with apt-get if
//! missing, like `nginx`) against the server and, in the same run, against
//! nginx serving a static file of the same size on the same machine
//! (target: ≥ 50 % of nginx's rate).
//!
//! Run: `cargo bench --bench http`. Figures of the last run are in
//! `docs/http.md` ("Performance"): ~25,000 req/s without the floor,
//! ~9,800 with it, nginx ~81,000 (targets: rate and p99 met without the
//! floor; 50 % of nginx not met).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeugnis::http::{self, AppState, HttpConfig};
use zeugnis::ledger::{Ledger, LedgerOptions};
use zeugnis::registry::{DocumentFile, RegistrationRecord, Registry};

/// Concurrent keep-alive connections.
const CONNECTIONS: usize = 64;
/// Certificates in the ledger.
const CERTIFICATES: usize = 200;

struct Bench {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    paths: Vec<String>,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn start(floor_ms: u64) -> Bench {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let ledger =
        Ledger::init(&data, "bench.example/zeugnis/1", LedgerOptions::default()).expect("init");
    let mut registry = Registry::over(ledger, "http://bench").expect("registry");
    let mut items = Vec::new();
    for i in 0..CERTIFICATES {
        let record = serde_json::json!({
            "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
            "holder": {"given_name": format!("Name{i}"), "family_name": "Mustermann",
                       "birth_date": "2000-02-29", "birth_place": "Gotha", "student_id": "4711"},
            "programme": {"degree": "Bachelor of Arts", "name": "Staatswissenschaften"},
            "last_exam_date": "2026-09-30"
        });
        let rec =
            RegistrationRecord::parse("record", record.to_string().as_bytes()).expect("record");
        let doc = DocumentFile {
            name: "doc.pdf".into(),
            bytes: format!("%PDF-1.7\n% {i}\n%%EOF\n").into_bytes(),
        };
        items.push((rec, vec![doc]));
    }
    let issued = registry.register_batch(&items).expect("register");
    let paths = issued
        .iter()
        .map(|i| format!("/de/{}-{}", i.code.replace('-', ""), i.key))
        .collect();
    let cfg = HttpConfig {
        public_addr: "127.0.0.1:0".parse().expect("addr"),
        admin_addr: "127.0.0.1:0".parse().expect("addr"),
        lookups_per_ip_per_minute: u32::MAX,
        lookup_burst: u32::MAX,
        lookups_global_per_second: u32::MAX,
        lookup_time_floor_ms: floor_ms,
        keepalive_requests_max: u64::MAX,
        ..HttpConfig::default()
    };
    let state =
        Arc::new(AppState::new(&cfg, &data, Arc::new(Mutex::new(registry))).expect("state"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bound = rt.block_on(http::bind(&cfg)).expect("bind");
    let addr = bound.public_addr();
    let (stop, rx) = tokio::sync::watch::channel(false);
    rt.spawn(bound.serve(state, rx));
    Bench {
        rt,
        addr,
        paths,
        _stop: stop,
        _dir: dir,
    }
}

/// Sends one GET on a keep-alive connection and reads the whole answer.
async fn get(conn: &mut TcpStream, path: &str, buf: &mut Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    conn.write_all(req.as_bytes()).await.expect("write");
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut chunk).await.expect("read");
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if buf.len() >= end + 4 + len {
                return;
            }
        }
    }
}

/// Runs `per_conn` requests on each of the connections; returns the
/// elapsed time and every request's latency.
fn run(b: &Bench, per_conn: u64) -> (Duration, Vec<Duration>) {
    b.rt.block_on(async {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            let addr = b.addr;
            let paths = b.paths.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = TcpStream::connect(addr).await.expect("connect");
                conn.set_nodelay(true).expect("nodelay");
                let mut buf = Vec::new();
                let mut lat = Vec::with_capacity(per_conn as usize);
                for i in 0..per_conn {
                    let path = &paths[(c + i as usize * CONNECTIONS) % paths.len()];
                    let t = Instant::now();
                    get(&mut conn, path, &mut buf).await;
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        (started.elapsed(), all)
    })
}

fn pages(c: &mut Criterion) {
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(CONNECTIONS as u64));
    g.sample_size(20);
    for (name, floor) in [("page_no_floor", 0), ("page_default_floor", 5)] {
        let b = start(floor);
        g.bench_function(name, |bench| bench.iter_custom(|iters| run(&b, iters).0));
    }
    g.finish();
}

fn latency(_c: &mut Criterion) {
    for (name, floor) in [("no floor", 0), ("default 5 ms floor", 5)] {
        let b = start(floor);
        let _ = run(&b, 20); // warm up
        let (elapsed, mut lat) = run(&b, 300);
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!(
            "http latency ({name}), {CONNECTIONS} connections, {} requests: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            lat.len(),
            lat.len() as f64 / elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
        );
    }
}

/// Installs Debian packages whose program is missing.
fn ensure(programs: &[(&str, &str)]) {
    for (program, package) in programs {
        let have = std::process::Command::new("which")
            .arg(program)
            .output()
            .is_ok_and(|o| o.status.success());
        if !have {
            let ok = std::process::Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", package])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "apt-get install {package} failed");
        }
    }
}

/// Runs wrk against `url`; returns (requests/s, p99 in ms).
fn wrk(url: &str) -> (f64, f64) {
    let out = std::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{CONNECTIONS}"),
            "-d10s",
            "--latency",
            url,
        ])
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk output: {text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| {
            let v = v.trim();
            let (num, factor) = if let Some(n) = v.strip_suffix("us") {
                (n, 1e-3)
            } else if let Some(n) = v.strip_suffix("ms") {
                (n, 1.0)
            } else if let Some(n) = v.strip_suffix('s') {
                (n, 1e3)
            } else {
                (v, f64::NAN)
            };
            num.parse::<f64>().unwrap_or(f64::NAN) * factor
        })
        .unwrap_or(f64::NAN);
    assert!(!text.contains("Non-2xx"), "wrk saw errors: {text}");
    (rate, p99)
}

fn load_vs_nginx(_c: &mut Criterion) {
    ensure(&[("wrk", "wrk"), ("nginx", "nginx-light")]);
    let mut size = 0;
    for (name, floor) in [("no floor", 0), ("default 5 ms floor", 5)] {
        let b = start(floor);
        let path = &b.paths[0];
        size = b.rt.block_on(async {
            let mut conn = TcpStream::connect(b.addr).await.expect("connect");
            let mut buf = Vec::new();
            get(&mut conn, path, &mut buf).await;
            buf.len()
        });
        let (rate, p99) = wrk(&format!("http://{}{path}", b.addr));
        println!("wrk zeugnis ({name}): {rate:.0} req/s, p99 {p99:.2} ms");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("page.html"), vec![b'x'; size]).expect("page");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "user root; worker_processes 2; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; keepalive_requests 100000;\n\
             server {{ listen 127.0.0.1:{port}; root {d}/www; }} }}\n",
            d = dir.path().display()
        ),
    )
    .expect("nginx.conf");
    let mut nginx = std::process::Command::new("nginx")
        .args([
            "-c",
            &conf.to_string_lossy(),
            "-p",
            &dir.path().to_string_lossy(),
        ])
        .spawn()
        .expect("start nginx");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (rate, p99) = wrk(&format!("http://127.0.0.1:{port}/page.html"));
    println!("wrk nginx (static file of {size} bytes): {rate:.0} req/s, p99 {p99:.2} ms");
    // SIGQUIT lets the master stop its workers (SIGKILL would orphan them).
    let _ = std::process::Command::new("kill")
        .args(["-QUIT", &nginx.id().to_string()])
        .status();
    let _ = nginx.wait();
}

criterion_group!(benches, pages, latency, load_vs_nginx);
criterion_main!(benches);
