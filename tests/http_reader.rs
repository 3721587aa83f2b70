//! The read side of the registry ([`Registry::reader`]) that the public
//! verification routes use: it sees every committed change, never shows a
//! record the published checkpoint does not cover, forgets erased holder
//! data, and lets lookups answer while the writer holds the registry lock.

use super::http::register;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeugnis::http::{self, AppState, HttpConfig};
use zeugnis::ledger::{Ledger, LedgerOptions};
use zeugnis::registry::Registry;

fn registry(dir: &std::path::Path) -> Registry {
    let ledger = Ledger::init(
        &dir.join("ledger"),
        "test.example/zeugnis/1",
        LedgerOptions::default(),
    )
    .expect("init");
    Registry::over(ledger, "http://verify.test").expect("registry")
}

#[test]
fn the_reader_follows_the_writer_and_forgets_erased_holders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut r = registry(dir.path());
    let reader = r.reader();
    let before = reader.published();
    assert_eq!(before.size, r.ledger().size());

    let issued = register(&mut r, "Erika");
    // Published with the append: size, and the checkpoint note that covers it.
    let now = reader.published();
    assert_eq!(now.size, r.ledger().size());
    assert!(now.size > before.size);
    assert_eq!(&*now.checkpoint_note, r.ledger().checkpoint_note());
    let cert = reader.find(&issued.code).expect("registered certificate");
    for &seq in &cert.seqs {
        assert!(seq < now.size, "state refers to unpublished record {seq}");
        assert_eq!(
            reader.read_record(seq).expect("record"),
            r.ledger().read_record(seq).expect("record")
        );
    }
    let err = reader
        .read_record(now.size)
        .expect_err("beyond the published size");
    assert!(err.to_string().contains("does not exist"), "{err}");

    // Holder data with the key (read once, then cached) ...
    let shown = reader
        .show(&issued.code, Some(&issued.key))
        .expect("show with key");
    assert_eq!(
        shown.holder.expect("holder")["holder"]["given_name"],
        "Erika"
    );
    assert_eq!(reader.holders_cached(), 1);
    let again = reader.show(&issued.code, Some(&issued.key)).expect("again");
    assert_eq!(
        again.holder.expect("holder")["holder"]["given_name"],
        "Erika"
    );
    assert_eq!(reader.holders_cached(), 1);
    // ... is gone after the erasure, for the same reader handle.
    assert!(r
        .erase(&issued.code, "request of the holder")
        .expect("erase"));
    let erased = reader
        .show(&issued.code, Some(&issued.key))
        .expect("erased");
    assert_eq!(erased.holder, Some(serde_json::json!({"erased": true})));
    let json = serde_json::to_string(&erased).expect("serialises");
    assert!(!json.contains("Erika"), "{json}");
    // Nor is it kept in memory.
    assert_eq!(reader.holders_cached(), 0);
}

/// The intake holds the registry lock through its fsyncs; a verification
/// page must not wait for it. The lock is held by this test for the whole
/// request: if the lookup took it, the request would never be answered and
/// the read below would time out (a liveness check, not a speed limit).
#[test]
fn lookups_answer_while_the_writer_holds_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut r = registry(dir.path());
    let issued = register(&mut r, "Erika");
    let registry = Arc::new(Mutex::new(r));
    let cfg = HttpConfig {
        public_addr: "127.0.0.1:0".parse().expect("addr"),
        admin_addr: "127.0.0.1:0".parse().expect("addr"),
        ..HttpConfig::default()
    };
    let state =
        Arc::new(AppState::new(&cfg, &dir.path().join("ledger"), registry.clone()).expect("state"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let bound = rt.block_on(http::bind(&cfg)).expect("bind");
    let addr = bound.public_addr();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let served = rt.spawn(bound.serve(state, rx));

    let guard = registry.lock().expect("lock");
    let code = issued.code.replace('-', "");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET /en/{code}-{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        issued.key
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .expect("answered while the writer lock was held");
    drop(guard);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("Erika"), "holder data shown with the key");

    let _ = stop.send(true);
    rt.block_on(served).expect("task").expect("serve");
}
