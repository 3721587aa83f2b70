//! Verification service throughput and latency.
//!
//! Targets (issue 6): verification requests at 64 connections ≥ 20,000/s,
//! p99 < 10 ms, and ≥ 50 % of the rate nginx reaches serving a static file
//! of the same size on the same machine in the same run.
//!
//! - `load_vs_nginx` (the figure that counts): the real `zeugnis run`
//!   daemon (the binary cargo built, shipped configuration except for
//!   rate limits lifted so that one client may load it), over a ledger
//!   with 200 certificates; `wrk -t2 -c64 -d10s --latency` asks for
//!   `/de/CODE-KEY` (the heaviest page: holder data, key check, ledger
//!   evidence). Then, in the same run, nginx (2 workers) serves a static
//!   file of the same size to the same wrk command. Also measured: an
//!   unknown code, a failed lookup held to the 5 ms time floor (its rate
//!   is bounded by connections / floor = 12,800/s at 64 connections, by
//!   design). `wrk` and `nginx` are installed with apt-get if missing.
//! - `timing_classes`: one connection, requests in sequence, per lookup
//!   class (valid, unknown, wrong key, malformed) with the shipped floor
//!   and without it: the three failure classes must have the same
//!   distribution with the floor.
//! - `pages` and `latency`: an in-process server and a Rust client on the
//!   same runtime (criterion; p50/p99), for quick comparisons.
//!
//! Run: `cargo bench --bench http`. Figures of the last run are in
//! `docs/http.md` ("Performance").

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
/// The shipped lookup time floor, in milliseconds (checked against the default).
const SHIPPED_FLOOR_MS: u64 = 5;

/// A ledger with [`CERTIFICATES`] registered certificates; returns the
/// registry and the `CODE-KEY` of each (code without hyphens).
fn ledger_with_certificates(data: &Path) -> (Registry, Vec<(String, String)>) {
    let ledger =
        Ledger::init(data, "bench.example/zeugnis/1", LedgerOptions::default()).expect("init");
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
            bytes: zeugnis::document::text_pdf(&[vec![format!("document {i}")]], None),
        };
        items.push((rec, vec![doc]));
    }
    let issued = registry.register_batch(&items).expect("register");
    let codes = issued
        .iter()
        .map(|i| (i.code.replace('-', ""), i.key.clone()))
        .collect();
    (registry, codes)
}

/// An in-process server on its own runtime.
struct Bench {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    codes: Vec<(String, String)>,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn pages(&self) -> Vec<String> {
        self.codes
            .iter()
            .map(|(c, k)| format!("/de/{c}-{k}"))
            .collect()
    }
}

fn start(floor_ms: u64) -> Bench {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("ledger");
    let (registry, codes) = ledger_with_certificates(&data);
    let cfg = HttpConfig {
        public_addr: "127.0.0.1:0".parse().expect("addr"),
        admin_addr: "127.0.0.1:0".parse().expect("addr"),
        lookups_per_ip_per_minute: u32::MAX,
        lookup_burst: u32::MAX,
        lookups_global_per_second: u32::MAX,
        lookup_time_floor_ms: floor_ms,
        keepalive_requests_max: u64::MAX,
        // Throughput, not the overload answer: on a loaded machine 64
        // connections can keep a request waiting past the default timeout,
        // which the daemon answers 503 (by design; `tests/http.rs` checks it).
        request_timeout_ms: 120_000,
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
        codes,
        _stop: stop,
        _dir: dir,
    }
}

/// Sends one GET on a keep-alive connection and reads the whole answer;
/// returns its status.
async fn get(conn: &mut TcpStream, path: &str, buf: &mut Vec<u8>) -> u16 {
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
            let status = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("status line: {head}"));
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if buf.len() >= end + 4 + len {
                return status;
            }
        }
    }
}

/// Runs `per_conn` requests on each of the connections; returns the
/// elapsed time and every request's latency.
fn run(b: &Bench, per_conn: u64) -> (Duration, Vec<Duration>) {
    let paths = b.pages();
    b.rt.block_on(async {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            let addr = b.addr;
            let paths = paths.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = TcpStream::connect(addr).await.expect("connect");
                conn.set_nodelay(true).expect("nodelay");
                let mut buf = Vec::new();
                let mut lat = Vec::with_capacity(per_conn as usize);
                for i in 0..per_conn {
                    let path = &paths[(c + i as usize * CONNECTIONS) % paths.len()];
                    let t = Instant::now();
                    assert_eq!(get(&mut conn, path, &mut buf).await, 200, "{path}");
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

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e3
}

fn pages(c: &mut Criterion) {
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(CONNECTIONS as u64));
    g.sample_size(20);
    let b = start(SHIPPED_FLOOR_MS);
    g.bench_function("page_in_process", |bench| {
        bench.iter_custom(|iters| run(&b, iters).0)
    });
    g.finish();
}

fn latency(_c: &mut Criterion) {
    let b = start(SHIPPED_FLOOR_MS);
    let _ = run(&b, 20); // warm up
    let (elapsed, mut lat) = run(&b, 300);
    lat.sort_unstable();
    println!(
        "http in process, {CONNECTIONS} connections, {} requests: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
    );
}

/// Per lookup class, on one connection: the failures must be alike with
/// the floor (and show how unalike they are without it).
fn timing_classes(_c: &mut Criterion) {
    assert_eq!(HttpConfig::default().lookup_time_floor_ms, SHIPPED_FLOOR_MS);
    for floor in [SHIPPED_FLOOR_MS, 0] {
        let b = start(floor);
        let (code, key) = b.codes[0].clone();
        let (_, other) = b.codes[1].clone();
        let classes = [
            ("valid", format!("/de/{code}-{key}"), 200),
            ("unknown", "/de/QNVCFM3P4VDF".to_string(), 404),
            // Another certificate's key: its check character is right for
            // a different code, so this is a typo (400) or a wrong key (403).
            ("wrong key", format!("/de/{code}-{other}"), 0),
            ("malformed", "/de/QNVC".to_string(), 400),
        ];
        let per_class = 200;
        let results = b.rt.block_on(async {
            let mut conn = TcpStream::connect(b.addr).await.expect("connect");
            conn.set_nodelay(true).expect("nodelay");
            let mut buf = Vec::new();
            let mut lat = vec![Vec::new(); classes.len()];
            // Interleaved, so that drift hits every class alike.
            for _ in 0..per_class {
                for (i, (_, path, want)) in classes.iter().enumerate() {
                    let t = Instant::now();
                    let status = get(&mut conn, path, &mut buf).await;
                    lat[i].push(t.elapsed());
                    assert!(*want == 0 || status == *want, "{path}: {status}");
                }
            }
            lat
        });
        for ((name, _, _), mut lat) in classes.iter().zip(results) {
            lat.sort_unstable();
            println!(
                "http timing, floor {floor} ms, {name:>9}: p10 {:.3} ms, p50 {:.3} ms, p90 {:.3} ms",
                percentile(&lat, 0.10),
                percentile(&lat, 0.50),
                percentile(&lat, 0.90),
            );
        }
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

/// Runs wrk against `url`; returns (requests/s, p99 in ms). Non-2xx
/// answers fail the run unless `failures_expected`.
fn wrk(url: &str, failures_expected: bool) -> (f64, f64) {
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
    assert!(
        failures_expected || !text.contains("Non-2xx"),
        "wrk saw errors: {text}"
    );
    (rate, p99)
}

/// The real daemon over a ledger with [`CERTIFICATES`] certificates.
struct Daemon {
    child: std::process::Child,
    public: SocketAddr,
    codes: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("ledger");
        // The registry holds the ledger's writer lock: dropped before the daemon starts.
        let (registry, codes) = ledger_with_certificates(&data);
        drop(registry);
        let config = dir.path().join("zeugnis.toml");
        std::fs::write(
            &config,
            "data = \"ledger\"\nscans = \"scans\"\n[report]\ninterval_secs = 0\n\
             [http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n\
             lookups_per_ip_per_minute = 4000000000\nlookup_burst = 4000000000\n\
             lookups_global_per_second = 4000000000\nkeepalive_requests_max = 100000000\n",
        )
        .expect("config");
        let log = dir.path().join("daemon.log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_zeugnis"))
            .args(["run", "--config", &config.to_string_lossy()])
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(std::fs::File::create(dir.path().join("daemon.err")).expect("log"))
            .spawn()
            .expect("start the daemon");
        let public = listening(&[log, dir.path().join("daemon.err")]);
        Daemon {
            child,
            public,
            codes,
            _dir: dir,
        }
    }
}

/// The public address from the daemon's "listening" log line.
fn listening(logs: &[PathBuf]) -> SocketAddr {
    let t0 = Instant::now();
    loop {
        for log in logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(line) = text
                .lines()
                .find(|l| l.contains("verification service listening"))
            {
                let at = line.find("public=").expect("public=") + "public=".len();
                return line[at..]
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.parse().ok())
                    .expect("address");
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Size of the answer to `GET path` (head and body), as wrk receives it.
fn answer_bytes(addr: SocketAddr, path: &str) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        let mut buf = Vec::new();
        assert_eq!(get(&mut conn, path, &mut buf).await, 200);
        buf.len()
    })
}

fn load_vs_nginx(_c: &mut Criterion) {
    ensure(&[("wrk", "wrk"), ("nginx", "nginx-light")]);
    let d = Daemon::start();
    let (code, key) = &d.codes[0];
    let path = format!("/de/{code}-{key}");
    let size = answer_bytes(d.public, &path);
    let (rate, p99) = wrk(&format!("http://{}{path}", d.public), false);
    println!("wrk zeugnis daemon, valid /de/CODE-KEY ({size} bytes with head): {rate:.0} req/s, p99 {p99:.2} ms");
    let (rate_unknown, p99_unknown) = wrk(&format!("http://{}/de/QNVCFM3P4VDF", d.public), true);
    println!(
        "wrk zeugnis daemon, unknown code (held to the {SHIPPED_FLOOR_MS} ms floor): {rate_unknown:.0} req/s, p99 {p99_unknown:.2} ms"
    );
    drop(d);

    let dir = tempfile::tempdir().expect("tempdir");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("www");
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
    // Same size on the wire: nginx's head is shorter than ours, so the file
    // makes up the difference.
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
    let nginx_addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    std::fs::write(www.join("page.html"), vec![b'x'; size]).expect("page");
    let head = answer_bytes(nginx_addr, "/page.html") - size;
    std::fs::write(www.join("page.html"), vec![b'x'; size.saturating_sub(head)]).expect("page");
    let (nginx_rate, nginx_p99) = wrk(&format!("http://127.0.0.1:{port}/page.html"), false);
    println!(
        "wrk nginx, static file ({} bytes with head): {nginx_rate:.0} req/s, p99 {nginx_p99:.2} ms",
        answer_bytes(nginx_addr, "/page.html")
    );
    println!(
        "zeugnis / nginx: {:.0} % (target ≥ 50 %); zeugnis {rate:.0} req/s (target ≥ 20,000), p99 {p99:.2} ms (target < 10 ms)",
        100.0 * rate / nginx_rate
    );
    // SIGQUIT lets the master stop its workers (SIGKILL would orphan them).
    let _ = std::process::Command::new("kill")
        .args(["-QUIT", &nginx.id().to_string()])
        .status();
    let _ = nginx.wait();
}

criterion_group!(benches, load_vs_nginx, timing_classes, latency, pages);
criterion_main!(benches);
