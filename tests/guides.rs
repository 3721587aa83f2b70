//! The guides' commands and the shipped monitoring files are tested (issue 20).
//!
//! - Every fenced block marked `sh test` in `docs/operator-guide.md` and
//!   `docs/archivist-guide.md` runs, in order, in one empty temporary folder
//!   with the built binary first on `PATH` and `ZEUGNIS_SRC` set to the
//!   source checkout; a block that exits non-zero fails the test with its
//!   text and output. Each guide must keep at least the blocks it has today.
//! - Every metric the Prometheus alert rules in `docs/prometheus/` use is one
//!   a running daemon's `/metrics` exports.
//! - `promtool check rules` / `check config` accept the shipped files. When
//!   promtool is not installed the check is skipped with a note, unless
//!   `ZEUGNIS_REQUIRE_PROMTOOL` is set (`.ci/run` sets it), then it fails.

use crate::support::{bin, output, python_modules, Daemon};
use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bodies of the fenced blocks whose info string is exactly `sh test`.
fn tested_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_end() == "```sh test" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unclosed `sh test` block");
    blocks
}

/// Runs the guide's tested blocks; fails naming the block that failed.
fn run_guide(guide: &str, blocks_min: usize) {
    let text = std::fs::read_to_string(repo().join(guide)).expect("guide");
    let blocks = tested_blocks(&text);
    assert!(
        blocks.len() >= blocks_min,
        "{guide}: {} `sh test` blocks, expected at least {blocks_min}",
        blocks.len()
    );
    python_modules(&["blake3", "cryptography", "bagit"]);
    let t = tempfile::tempdir().expect("tempdir");
    let bin_dir = bin().parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (i, block) in blocks.iter().enumerate() {
        let (code, out, err) = output(
            std::process::Command::new("bash")
                .args(["-eu", "-o", "pipefail", "-c", block])
                .current_dir(t.path())
                .env("PATH", &path)
                .env("ZEUGNIS_SRC", repo())
                .env_remove("ZEUGNIS_CONFIG"),
        );
        assert_eq!(
            code,
            0,
            "{guide}, `sh test` block {} failed (exit {code}):\n{block}\n--- stdout\n{out}\n--- stderr\n{err}",
            i + 1
        );
    }
}

#[test]
fn operator_guide_commands_run() {
    run_guide("docs/operator-guide.md", 6);
}

#[test]
fn archivist_guide_commands_run() {
    run_guide("docs/archivist-guide.md", 7);
}

#[test]
fn tested_blocks_are_found_and_plain_ones_are_not() {
    let md =
        "text\n```sh test\necho a\n```\n```sh\necho no\n```\n```sh test\necho b\necho c\n```\n";
    assert_eq!(tested_blocks(md), ["echo a\n", "echo b\necho c\n"]);
}

/// The series names `/metrics` can carry, from its `# TYPE` lines: a
/// counter `x` is exposed as `x_total`, a histogram as `x_bucket`, `x_sum`
/// and `x_count`, a gauge as `x`.
fn exported_series(metrics: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in metrics.lines() {
        let mut w = l.split_whitespace();
        if (w.next(), w.next()) != (Some("#"), Some("TYPE")) {
            continue;
        }
        let (Some(name), Some(kind)) = (w.next(), w.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                out.insert(format!("{}_total", name.trim_end_matches("_total")));
            }
            "histogram" => {
                for s in ["bucket", "sum", "count"] {
                    out.insert(format!("{name}_{s}"));
                }
            }
            _ => {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// `zeugnis_...` names used in a rules file.
fn used_metrics(rules: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in rules.match_indices("zeugnis_") {
        if rules[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let name: String = rules[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.insert(name);
    }
    out
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(crate::support::PATIENCE))
        .expect("timeout");
    // A refused connection may be closed before the request is written:
    // whatever arrived is the answer.
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

/// A daemon whose every metric family gets a sample: a scan is quarantined
/// (intake), a lookup is rate limited (burst 1), a connection over the
/// per-client limit is refused (limit 2), a checkpoint cannot be published
/// (a folder below a regular file), and requests are answered. Families
/// without a sample are not in `/metrics` at all, so each is triggered.
#[test]
fn alert_rules_use_only_metrics_the_daemon_exports() {
    let t = tempfile::tempdir().expect("tempdir");
    std::fs::write(t.path().join("not-a-folder"), b"x").expect("write");
    std::fs::create_dir_all(t.path().join("scans")).expect("inbox");
    let mut d = Daemon::start(
        t.path(),
        "[http]\npublic_addr = \"127.0.0.1:0\"\nadmin_addr = \"127.0.0.1:0\"\n\
         lookup_burst = 1\nlookups_per_ip_per_minute = 1\nconnections_per_client_max = 2\n\
         [intake]\nstable_ms = 0\nrescan_secs = 1\n\
         [publish]\ndirs = [\"not-a-folder/sub\"]\n[report]\ninterval_secs = 0\n",
    );
    let addr = d.addr("public");
    std::fs::write(t.path().join("scans/notes.bin"), b"not a scan").expect("drop");
    for _ in 0..3 {
        http_get(&addr, "/api/v1/certificates/QNVCFM3P4VDF");
    }
    let wanted = [
        "zeugnis_http_requests_total",
        "zeugnis_http_rate_limited_total",
        "zeugnis_intake_files_total",
        "zeugnis_publish_failures_total",
        "zeugnis_http_connections_refused_total",
    ];
    let t0 = std::time::Instant::now();
    let metrics = loop {
        {
            // Two idle connections fill the per-client limit; the third is refused.
            let _a = std::net::TcpStream::connect(&addr).expect("connect");
            let _b = std::net::TcpStream::connect(&addr).expect("connect");
            let _ = http_get(&addr, "/healthz");
        }
        let m = http_get(&addr, "/metrics");
        let exported = exported_series(&m);
        if wanted.iter().all(|w| exported.contains(*w)) {
            break m;
        }
        assert!(
            t0.elapsed() < crate::support::PATIENCE,
            "not every family got a sample:\n{m}\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    d.stop();
    let exported = exported_series(&metrics);
    let rules =
        std::fs::read_to_string(repo().join("docs/prometheus/zeugnis-alerts.yml")).expect("rules");
    let used = used_metrics(&rules);
    assert!(used.len() >= 6, "{used:?}");
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the alert rules use metrics /metrics does not export: {unknown:?}\nexported: {exported:?}"
    );
    // The check can fail: a misspelt name is caught.
    assert!(!exported.contains("zeugnis_http_request_total"));
}

#[test]
fn promtool_accepts_the_shipped_rules_and_scrape_config() {
    let dir = repo().join("docs/prometheus");
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("ZEUGNIS_REQUIRE_PROMTOOL").is_none(),
            "promtool is required (ZEUGNIS_REQUIRE_PROMTOOL is set): apt-get install prometheus"
        );
        eprintln!("note: promtool not installed; the rules are not checked here (CI checks them)");
        return;
    }
    for args in [
        ["check", "rules", "zeugnis-alerts.yml"],
        ["check", "config", "prometheus.yml"],
    ] {
        let (code, out, err) = output(
            std::process::Command::new("promtool")
                .args(args)
                .current_dir(&dir),
        );
        assert_eq!(code, 0, "promtool {args:?}:\n{out}{err}");
    }
    // promtool can fail: a rule with a broken expression is refused.
    let t = tempfile::tempdir().expect("tempdir");
    let bad = t.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(zeugnis_http_requests_total[5m] > 1\n",
    )
    .expect("write");
    let (code, _, _) = output(
        std::process::Command::new("promtool")
            .args(["check", "rules"])
            .arg(&bad),
    );
    assert_ne!(code, 0, "promtool must refuse a broken expression");
}

#[test]
fn rules_scan_finds_names_and_ignores_prefixed_words() {
    let used = used_metrics("expr: rate(zeugnis_a_total[5m]) + my_zeugnis_b + zeugnis_c\n");
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        ["zeugnis_a_total", "zeugnis_c"]
    );
}
