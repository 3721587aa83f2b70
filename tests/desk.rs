//! The web desk over HTTP: the real daemon (the `http` module's
//! [`Server`]) with operator accounts made by `zeugnis operator add` while
//! it runs. Covers sign-in with a CSRF-protected form, the session cookie's
//! attributes, a new session id at sign-in, CSRF refusal of every form,
//! sign-out, a disabled account losing its session, idle and absolute
//! session expiry, lock-out per account and per client address, and the
//! single-sign-on header honoured only from trusted proxies. Each failing
//! assertion prints the daemon's log.

use crate::http::{read_reply, request, Reply, Server};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// `zeugnis operator add NAME --password-stdin` with `password` on stdin;
/// returns the printed operator id.
pub(crate) fn add_operator(s: &Server, name: &str, password: &str) -> String {
    let mut child = std::process::Command::new(crate::support::bin())
        .args([
            "operator",
            "add",
            name,
            "--password-stdin",
            "--data",
            "ledger",
        ])
        .current_dir(&s.dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start zeugnis operator add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "operator add: {stderr}");
    assert!(
        !stderr.contains(password),
        "the password was echoed: {stderr}"
    );
    stdout
}

pub(crate) fn log(s: &Server) -> String {
    s.daemon.as_ref().map(|d| d.log()).unwrap_or_default()
}

/// The `name=value` of a `Set-Cookie` answer header.
fn cookie_of(r: &Reply) -> String {
    r.header("set-cookie")
        .split(';')
        .next()
        .expect("a cookie")
        .to_string()
}

/// The CSRF token in a page's first form.
pub(crate) fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in:\n{page}"));
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("end of value")].to_string()
}

pub(crate) fn desk_get(s: &Server, path: &str, cookie: Option<&str>) -> Reply {
    let mut h = vec![("Accept-Language", "en")];
    if let Some(c) = cookie {
        h.push(("Cookie", c));
    }
    request(s.admin, "GET", path, &h, b"")
}

pub(crate) fn desk_post(
    s: &Server,
    path: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> Reply {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut h = vec![
        ("Accept-Language", "en"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    if let Some(c) = cookie {
        h.push(("Cookie", c));
    }
    request(s.admin, "POST", path, &h, body.as_bytes())
}

/// Posts a multipart desk form (`Accept-Language: en`) with the session
/// cookie.
pub(crate) fn desk_post_multipart(
    s: &Server,
    path: &str,
    cookie: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> Reply {
    let (ct, body) = crate::http::multipart(parts);
    let h = [
        ("Accept-Language", "en"),
        ("Content-Type", ct.as_str()),
        ("Cookie", cookie),
    ];
    request(s.admin, "POST", path, &h, &body)
}

/// Opens the sign-in form: (pre-sign-in cookie, its CSRF token).
fn signin_form(s: &Server) -> (String, String) {
    let r = desk_get(s, "/desk/signin", None);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), log(s));
    (cookie_of(&r), csrf_of(&r.text()))
}

/// Signs in; returns the reply (303 and the session cookie when right).
fn sign_in(s: &Server, name: &str, password: &str) -> Reply {
    let (cookie, csrf) = signin_form(s);
    desk_post(
        s,
        "/desk/signin",
        Some(&cookie),
        &[("csrf", &csrf), ("name", name), ("password", password)],
    )
}

/// Signs in and returns the session cookie and the CSRF token of its forms.
pub(crate) fn signed_in(s: &Server, name: &str) -> (String, String) {
    let r = sign_in(s, name, PASSWORD);
    assert_eq!(r.status, 303, "{}\n{}", r.text(), log(s));
    let cookie = cookie_of(&r);
    let home = desk_get(s, "/desk/", Some(&cookie));
    assert_eq!(home.status, 200, "{}\n{}", home.text(), log(s));
    (cookie.clone(), csrf_of(&home.text()))
}

#[test]
fn desk_sign_in_forms_need_the_csrf_token_and_sign_out_ends_the_session() {
    let mut s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    assert!(
        id.len() == 13
            && id.starts_with("op-")
            && id[3..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
        "operator id {id:?}"
    );
    let (code, list, _) = s.cli(&["operator", "list"]);
    assert_eq!(code, 0);
    assert!(
        list.contains(&id) && list.contains("active") && list.contains("erika"),
        "{list}"
    );
    let stored = std::fs::read_to_string(s.dir.join("ledger/operators.json")).expect("store");
    assert!(stored.contains("$argon2id$") && !stored.contains(PASSWORD));

    // Without a session: to the sign-in form, in the language asked for.
    let r = desk_get(&s, "/desk/", None);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/desk/signin");
    let form = desk_get(&s, "/desk/signin", None);
    assert!(
        form.text().contains("<html lang=\"en\">"),
        "{}",
        form.text()
    );
    let de = request(s.admin, "GET", "/desk/signin?lang=de", &[], b"");
    assert!(de.text().contains("<html lang=\"de\">") && de.text().contains("Anmelden"));
    let set = form.header("set-cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/desk"] {
        assert!(set.contains(attribute), "cookie {set:?} lacks {attribute}");
    }
    assert!(form
        .header("content-security-policy")
        .contains("default-src 'none'"));
    assert!(!form.text().contains("<script"));
    // The desk does not answer the bearer-token API's 401.
    assert_eq!(desk_get(&s, "/admin/v1/status", None).status, 401);

    // The sign-in form itself is CSRF-protected.
    let (pre, csrf) = signin_form(&s);
    let r = desk_post(
        &s,
        "/desk/signin",
        Some(&pre),
        &[("name", "erika"), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("Form refused"));
    let r = desk_post(
        &s,
        "/desk/signin",
        None,
        &[("csrf", &csrf), ("name", "erika"), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 403, "a token without its session cookie");
    let r = desk_post(
        &s,
        "/desk/signin",
        Some(&pre),
        &[
            ("csrf", &csrf),
            ("name", "erika"),
            ("password", "wrong password!"),
        ],
    );
    assert_eq!(r.status, 401);
    assert!(r.text().contains("wrong"), "{}", r.text());
    let r = desk_post(
        &s,
        "/desk/signin",
        Some(&pre),
        &[("csrf", &csrf), ("name", "erika"), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 303, "{}\n{}", r.text(), log(&s));
    assert_eq!(r.header("location"), "/desk/");
    let session = cookie_of(&r);
    assert_ne!(session, pre, "signing in must issue a new session id");
    assert_eq!(
        desk_get(&s, "/desk/", Some(&pre)).status,
        303,
        "the pre-sign-in id is dead"
    );

    let home = desk_get(&s, "/desk/", Some(&session));
    assert_eq!(home.status, 200);
    assert!(home.text().contains("erika"));
    let token = csrf_of(&home.text());
    let status = desk_get(&s, "/desk/status", Some(&session));
    assert_eq!(status.status, 200, "{}", status.text());
    assert!(
        status.text().contains("Ledger records"),
        "{}",
        status.text()
    );

    // Every form refuses a missing or wrong token, and nothing happens.
    for fields in [vec![], vec![("csrf", "0".repeat(64))]] {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for path in ["/desk/signout", "/desk/fixity"] {
            let r = desk_post(&s, path, Some(&session), &f);
            assert_eq!(r.status, 403, "{path} {f:?}: {}", r.text());
            assert!(r.text().contains("Nothing was changed"));
        }
    }
    assert_eq!(
        desk_get(&s, "/desk/", Some(&session)).status,
        200,
        "still signed in"
    );
    let fixity = s.admin("GET", "/admin/v1/fixity", &[], b"").json();
    assert!(
        fixity["last"].is_null() && fixity["running"] == false,
        "{fixity}"
    );

    // With the token the fixity audit starts and the page reports it.
    let r = desk_post(&s, "/desk/fixity", Some(&session), &[("csrf", &token)]);
    assert_eq!(r.status, 303, "{}", r.text());
    s.wait_for("the desk's fixity audit", |s| {
        !s.admin("GET", "/admin/v1/fixity", &[], b"").json()["last"].is_null()
    });
    let page = desk_get(&s, "/desk/status", Some(&session)).text();
    assert!(page.contains("files checked, all intact"), "{page}");

    let r = desk_post(&s, "/desk/signout", Some(&session), &[("csrf", &token)]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("You are signed out"));
    assert_eq!(desk_get(&s, "/desk/", Some(&session)).status, 303);

    let log = log(&s);
    for line in [
        "desk: signed in",
        "desk: signed out",
        "desk: sign-in failed",
        "desk: fixity audit started",
    ] {
        assert!(
            log.lines().any(|l| l.contains(line) && l.contains(&id)),
            "no {line:?} with {id} in the log:\n{log}"
        );
    }
    assert!(
        !log.contains(PASSWORD) && !log.contains("wrong password!"),
        "{log}"
    );
    assert!(
        !log.contains(&session[session.find('=').expect("=") + 1..]),
        "session id logged"
    );
}

#[test]
fn desk_disabled_operator_loses_the_session() {
    let mut s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    let (cookie, _) = signed_in(&s, "erika");
    let (code, out, err) = s.cli(&["operator", "disable", "erika"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id));
    let r = desk_get(&s, "/desk/", Some(&cookie));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("disabled"));
    assert_eq!(sign_in(&s, "erika", PASSWORD).status, 403);
    let (_, list, _) = s.cli(&["operator", "list"]);
    assert!(list.contains("disabled"), "{list}");
    assert!(s.daemon().log().contains("account disabled"));
}

#[test]
fn desk_sessions_end_when_idle_and_when_too_old() {
    let s = Server::start("[desk]\nsession_idle_secs = 1\nsession_absolute_secs = 3");
    add_operator(&s, "erika", PASSWORD);
    let (cookie, _) = signed_in(&s, "erika");
    std::thread::sleep(Duration::from_millis(2_200));
    let r = desk_get(&s, "/desk/", Some(&cookie));
    assert_eq!(r.status, 303, "{}", log(&s));
    assert_eq!(r.header("location"), "/desk/signin?ended=idle");
    let page = desk_get(&s, "/desk/signin?ended=idle", None).text();
    assert!(page.contains("without activity"), "{page}");

    // Kept busy, a session still ends at the absolute timeout.
    let (cookie, _) = signed_in(&s, "erika");
    let t0 = std::time::Instant::now();
    let ended = loop {
        std::thread::sleep(Duration::from_millis(400));
        let r = desk_get(&s, "/desk/", Some(&cookie));
        if r.status != 200 {
            break r;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the session never ended"
        );
    };
    assert_eq!(ended.status, 303);
    assert_eq!(ended.header("location"), "/desk/signin?ended=expired");
}

/// Sessions live in the daemon's memory only: after a restart the old
/// cookie names no session, and the desk says so on the sign-in page.
#[test]
fn desk_restart_ends_sessions_and_says_so() {
    let mut s = Server::start("");
    add_operator(&s, "erika", PASSWORD);
    let (cookie, _) = signed_in(&s, "erika");
    assert_eq!(desk_get(&s, "/desk/", Some(&cookie)).status, 200);
    s.restart("");
    let r = desk_get(&s, "/desk/", Some(&cookie));
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), "/desk/signin?ended=unknown");
    let page = desk_get(&s, "/desk/signin?ended=unknown", None).text();
    assert!(page.contains("the archive was restarted"), "{page}");
    let (again, _) = signed_in(&s, "erika");
    assert_eq!(desk_get(&s, "/desk/", Some(&again)).status, 200);
}

#[test]
fn desk_locks_out_an_account_and_a_client_address() {
    let s = Server::start(
        "[desk]\naccount_failures_max = 3\nclient_failures_max = 5\nlockout_secs = 600",
    );
    add_operator(&s, "erika", PASSWORD);
    add_operator(&s, "max", PASSWORD);
    assert_eq!(sign_in(&s, "erika", "wrong one").status, 401);
    assert_eq!(sign_in(&s, "erika", "wrong two").status, 401);
    let third = sign_in(&s, "erika", "wrong three");
    assert_eq!(third.status, 429, "{}", third.text());
    assert!(third.text().contains("Too many failed sign-ins"));
    // Locked: the right password does not help during the cool-down.
    assert_eq!(sign_in(&s, "erika", PASSWORD).status, 429);
    let (_, list, _) = s.cli(&["operator", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("erika") && l.contains("locked")),
        "{list}"
    );
    // Another account still works from another address... but this
    // address has failed 4 times; one more failure locks it for every name.
    assert_eq!(sign_in(&s, "max", "wrong again").status, 401);
    let r = sign_in(&s, "max", PASSWORD);
    assert_eq!(r.status, 429, "the client address is locked: {}", r.text());
    let log = log(&s);
    assert!(log.contains("account locked out"), "{log}");
    assert!(log.contains("client address locked out"), "{log}");
}

/// One request from the local address `from` (any 127.0.0.0/8 address is
/// this machine).
fn request_from(from: &str, to: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut stream = rt
        .block_on(async {
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.bind(format!("{from}:0").parse().expect("addr"))?;
            sock.connect(to).await?.into_std()
        })
        .expect("connect");
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    read_reply(&mut stream)
}

#[test]
fn desk_single_sign_on_header_counts_only_from_trusted_proxies() {
    let s = Server::start(
        "trusted_proxies = [\"127.0.0.2\"]\n[desk]\ntrusted_user_header = \"X-Remote-User\"",
    );
    let id = add_operator(&s, "erika", PASSWORD);
    // From an address that is not a trusted proxy: the header is ignored.
    let r = request_from(
        "127.0.0.1",
        s.admin,
        "/desk/",
        &[("X-Remote-User", "erika")],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), "/desk/signin");
    // From the trusted proxy: signed in as that operator, with a session.
    let r = request_from(
        "127.0.0.2",
        s.admin,
        "/desk/",
        &[("X-Remote-User", "erika")],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), log(&s));
    assert!(r.text().contains("erika"));
    assert!(r.header("set-cookie").contains("HttpOnly"));
    // A user the proxy vouches for who is no operator: refused.
    let r = request_from(
        "127.0.0.2",
        s.admin,
        "/desk/",
        &[("X-Remote-User", "mallory")],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let log = log(&s);
    assert!(log.contains("not a trusted proxy ignored"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("single sign-on") && l.contains(&id)),
        "{log}"
    );
}

#[test]
fn desk_watch_lists_filter_and_show_quarantine_reasons_in_words() {
    let mut s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    let (cookie, _) = signed_in(&s, "erika");
    let awaiting = s.certs.awaiting.code.clone();
    let archived = s.certs.archived.code.clone();

    let page = desk_get(&s, "/desk/watch/awaiting", Some(&cookie));
    assert_eq!(page.status, 200, "{}\n{}", page.text(), log(&s));
    assert!(page.text().contains(&awaiting), "{}", page.text());
    assert!(
        !page.text().contains(&archived),
        "an archived certificate is not awaiting its scan"
    );
    assert!(page.text().contains("0 days"), "{}", page.text());
    // Filtered by a code typed in lower case without hyphens: only that one.
    let typed = awaiting.replace('-', "").to_lowercase();
    let filtered = desk_get(
        &s,
        &format!("/desk/watch/awaiting?q={typed}"),
        Some(&cookie),
    )
    .text();
    assert!(filtered.contains(&awaiting));
    assert_eq!(filtered.matches("<tr><td>").count(), 1, "{filtered}");
    let none = desk_get(&s, "/desk/watch/awaiting?q=ZZZZZZZZZZZZ", Some(&cookie)).text();
    assert!(none.contains("No entries."), "{none}");

    let recent = desk_get(&s, "/desk/watch/archived", Some(&cookie)).text();
    assert!(
        recent.contains(&archived) && recent.contains("scan.pdf"),
        "{recent}"
    );

    // A file that is no scan goes to quarantine; the desk says why in words.
    std::fs::write(
        s.dir.join("scans/notes.txt.bin"),
        b"just some text, not a scan",
    )
    .expect("drop");
    s.wait_for("the file in quarantine", |s| {
        s.dir.join("scans/quarantine/notes.txt.bin").exists()
    });
    let q = desk_get(&s, "/desk/watch/quarantine", Some(&cookie)).text();
    assert!(
        q.contains("notes.txt.bin") && q.contains("Neither a PDF nor an image"),
        "{q}"
    );
    let de = desk_get(&s, "/desk/watch/quarantine?lang=de", Some(&cookie)).text();
    assert!(de.contains("Kein PDF und kein Bild"), "{de}");
    // Its page offers retry and delete; delete needs the token and a reason.
    let page = desk_get(
        &s,
        "/desk/quarantine?file=notes.txt.bin&lang=en",
        Some(&cookie),
    );
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Cannot be undone"), "{}", page.text());
    let token = csrf_of(&page.text());
    let fields = [
        ("file", "notes.txt.bin"),
        ("action", "delete"),
        ("reason", "a note, not a scan"),
    ];
    assert_eq!(
        desk_post(&s, "/desk/quarantine", Some(&cookie), &fields).status,
        403
    );
    assert!(
        s.dir.join("scans/quarantine/notes.txt.bin").exists(),
        "refused: still there"
    );
    let no_reason = [
        ("csrf", token.as_str()),
        ("file", "notes.txt.bin"),
        ("action", "delete"),
        ("reason", ""),
    ];
    assert_eq!(
        desk_post(&s, "/desk/quarantine", Some(&cookie), &no_reason).status,
        400
    );
    let outside = [
        ("csrf", token.as_str()),
        ("file", "../../ledger/operators.json"),
        ("action", "delete"),
        ("reason", "x"),
    ];
    assert_eq!(
        desk_post(&s, "/desk/quarantine", Some(&cookie), &outside).status,
        400
    );
    assert!(s.dir.join("ledger/operators.json").exists());
    let mut with_token = fields.to_vec();
    with_token.push(("csrf", &token));
    let r = desk_post(&s, "/desk/quarantine", Some(&cookie), &with_token);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!s.dir.join("scans/quarantine/notes.txt.bin").exists());
    let deletions =
        std::fs::read_to_string(s.dir.join("scans/quarantine/.deleted.jsonl")).expect("log");
    assert!(
        deletions.contains(&id) && deletions.contains("a note, not a scan"),
        "{deletions}"
    );
    let after = desk_get(&s, "/desk/watch/quarantine", Some(&cookie)).text();
    assert!(!after.contains("notes.txt.bin"), "{after}");
    assert_eq!(
        desk_get(&s, "/desk/watch/nonsense", Some(&cookie)).status,
        404
    );
    assert_eq!(
        desk_get(&s, "/desk/watch/awaiting", None).status,
        303,
        "signed-out"
    );
}

#[test]
fn desk_revoke_goes_through_a_confirmation_page_and_the_csrf_token() {
    let s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    let (cookie, token) = signed_in(&s, "erika");
    let code = s.certs.awaiting.code.clone();
    let confirm = desk_get(
        &s,
        &format!("/desk/fix?code={code}&action=revoke"),
        Some(&cookie),
    );
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    let text = confirm.text();
    assert!(
        text.contains("What will happen") && text.contains("Cannot be undone"),
        "{text}"
    );
    assert!(text.contains("name=\"reason\"") && text.contains("required"));
    let state = |s: &Server| {
        s.admin("GET", &format!("/admin/v1/certificates/{code}"), &[], b"")
            .json()["state"]
            .clone()
    };
    assert_eq!(state(&s), "awaiting_scan", "a GET changes nothing");

    let fields = [
        ("action", "revoke"),
        ("code", code.as_str()),
        ("reason", "issued twice"),
        ("category", "issued_in_error"),
    ];
    let refused = desk_post(&s, "/desk/fix", Some(&cookie), &fields);
    assert_eq!(refused.status, 403);
    assert_eq!(state(&s), "awaiting_scan", "refused without the token");

    let mut with_token = fields.to_vec();
    with_token.push(("csrf", &token));
    let done = desk_post(&s, "/desk/fix", Some(&cookie), &with_token);
    assert_eq!(done.status, 200, "{}\n{}", done.text(), log(&s));
    assert!(
        done.text().contains("The certificate is revoked"),
        "{}",
        done.text()
    );
    assert_eq!(state(&s), "revoked");
    let cert = s
        .admin("GET", &format!("/admin/v1/certificates/{code}"), &[], b"")
        .json();
    assert_eq!(cert["revoked"]["category"], "issued_in_error", "{cert}");

    // The registry's refusal is shown on the confirmation page again.
    let mut again = with_token.clone();
    again[0] = ("action", "void");
    let r = desk_post(&s, "/desk/fix", Some(&cookie), &again);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("role=\"alert\""));
    let log = log(&s);
    assert!(
        log.lines()
            .any(|l| l.contains("desk: write") && l.contains(&id) && l.contains("revoke")),
        "{log}"
    );
}

/// Saves a screenshot of the browser's page as `target/desk-screenshots/NAME`.
pub(crate) fn desk_screenshot(wd: &crate::http::WebDriver, name: &str) {
    use base64::Engine;
    let png = wd.cmd("GET", "/screenshot", None);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png.as_str().expect("base64"))
        .expect("PNG");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/desk-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(name), bytes).expect("write screenshot");
}

/// Types `text` into the element `css`.
pub(crate) fn type_into(wd: &crate::http::WebDriver, css: &str, text: &str) {
    let el = wd.find(css);
    wd.cmd(
        "POST",
        &format!("/element/{el}/value"),
        Some(&serde_json::json!({"text": text})),
    );
}

pub(crate) fn click(wd: &crate::http::WebDriver, css: &str) {
    let el = wd.find(css);
    wd.cmd(
        "POST",
        &format!("/element/{el}/click"),
        Some(&serde_json::json!({})),
    );
}

/// The clerk's day as far as the desk goes today, in headless Chromium
/// (the public pages' WebDriver setup): sign in through the form, look at
/// the overview and the four watch lists, register a certificate (the
/// form's fields with a module table as grade input and a PDF; a mistake
/// shown at its field; review of the computed grade; a change after the
/// review; commit), download its print bundle, the status page, revoke a
/// certificate through its confirmation page, sign out; between register
/// and status the scan of the new certificate is dropped into the inbox
/// and the walk waits until the list of recent archivings shows it, and a
/// scan without a cover sheet is assigned from quarantine to its
/// certificate after a look at its first page. On every page
/// axe-core's WCAG 2.1 A/AA rules find nothing, the browser console has no
/// errors (a CSP violation would be one), and a screenshot goes to
/// `target/desk-screenshots/`. A quarantined file is put back into the
/// inbox from its page.
#[test]
fn desk_browser_walk_with_axe_and_screenshots() {
    let mut s = Server::start("[intake]\nidentify = [\"cover_sheet\", \"file_name\"]");
    add_operator(&s, "erika", PASSWORD);
    let axe = crate::http::axe_source();
    let wd = crate::http::WebDriver::start();
    wd.resize(1280, 900);
    let base = format!("http://{}", s.admin);
    let revoke = s.certs.archived.code.clone();
    let assign = s.certs.awaiting.code.clone();
    let audit = |name: &str| {
        let violations = wd.axe(&axe);
        assert!(violations.is_empty(), "{name}: {violations:#?}");
        desk_screenshot(&wd, &format!("{name}.png"));
    };
    // Drops `name` into the inbox, waits until the intake quarantines it,
    // and opens its page from the quarantine list.
    let quarantined = |name: &str, bytes: &[u8]| {
        std::fs::write(s.dir.join("scans").join(name), bytes).expect("drop into the inbox");
        let t0 = std::time::Instant::now();
        while !s.dir.join("scans/quarantine").join(name).exists() {
            assert!(
                t0.elapsed() < crate::support::PATIENCE,
                "{name} never quarantined"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        wd.goto(&format!("{base}/desk/watch/quarantine"));
        wd.wait_for_source(name);
        click(&wd, &format!("a[href='/desk/quarantine?file={name}']"));
    };
    let steps = || {
        for (lang, heading) in [("de", "Anmelden"), ("en", "Sign in")] {
            wd.goto(&format!("{base}/desk/signin?lang={lang}"));
            wd.wait_for_source(heading);
            audit(&format!("01-signin-{lang}"));
        }
        type_into(&wd, "#name", "erika");
        type_into(&wd, "#password", PASSWORD);
        click(&wd, "main button[type=submit]");
        wd.wait_for_url("/desk/");
        wd.wait_for_source("Signed in as");
        audit("02-overview-en");
        for (i, list) in ["awaiting", "waiting", "quarantine", "archived"]
            .iter()
            .enumerate()
        {
            wd.goto(&format!("{base}/desk/watch/{list}"));
            wd.wait_for_source("Filter");
            audit(&format!("03-watch-{i}-{list}-en"));
        }
        // Register: fill in the form (the module table as copied from a
        // spreadsheet, German decimal commas), review the computed grade,
        // change a field after the review (the PDF is kept), commit.
        let files = tempfile::tempdir().expect("tempdir");
        let pdf_file = files.path().join("greta.pdf");
        std::fs::write(&pdf_file, crate::support::fresh_pdf()).expect("pdf");
        wd.goto(&format!("{base}/desk/register?lang=de"));
        wd.wait_for_source("Noteneingabe");
        audit("04-register-form-de");
        wd.goto(&format!("{base}/desk/register?lang=en"));
        wd.wait_for_source("Grade input");
        audit("04-register-form-en");
        let institution = wd.find("#institution");
        wd.cmd(
            "POST",
            &format!("/element/{institution}/clear"),
            Some(&serde_json::json!({})),
        );
        for (css, text) in [
            ("#institution", "Universität Erfurt"),
            ("#given_name", "Greta"),
            ("#family_name", "Mustermann"),
            ("#birth_place", "Erfurt"),
            ("#student_id", "4711"),
            ("#degree", "Bachelor of Arts"),
            ("#programme", "Geschichte"),
        ] {
            type_into(&wd, css, text);
        }
        // Dates through script: a date input's typed form follows the
        // browser's locale; the value property is always YYYY-MM-DD.
        let set_date = |id: &str, date: &str| {
            wd.cmd(
                "POST",
                "/execute/sync",
                Some(&serde_json::json!({"script": "document.getElementById(arguments[0]).value = arguments[1];", "args": [id, date]})),
            );
        };
        set_date("birth_date", "2001-03-04");
        let ruleset = wd.find("#ruleset option[value='erfurt-ba-2019']");
        wd.cmd(
            "POST",
            &format!("/element/{ruleset}/click"),
            Some(&serde_json::json!({})),
        );
        type_into(
            &wd,
            "#grades",
            "part;all;30\nM1;10;1,3;Pflicht\nM2;10;2,0;Pflicht\nM3;5;1,7;Pflicht\nM4;5;3,0\nM5;5;2,3\n",
        );
        type_into(&wd, "#document", pdf_file.to_str().expect("utf-8 path"));
        // First with a mistake the browser cannot see (the last exam
        // before the birth): the form comes back refilled, the problem at
        // its field; the PDF is chosen again.
        set_date("last_exam_date", "1999-07-01");
        click(
            &wd,
            "main form[action='/desk/register'] button[type=submit]",
        );
        wd.wait_for_source("Please correct");
        let source = wd.text("/source");
        assert!(
            source.contains("id=\"last_exam_date-error\"") && source.contains("value=\"Greta\""),
            "the problem at its field, the form refilled: {source}"
        );
        audit("04b-register-form-problem-en");
        set_date("last_exam_date", "2026-07-01");
        type_into(&wd, "#document", pdf_file.to_str().expect("utf-8 path"));
        click(
            &wd,
            "main form[action='/desk/register'] button[type=submit]",
        );
        wd.wait_for_source("Review the data");
        wd.wait_for_source("1.76 - good");
        assert!(wd.text("/source").contains("M1, M2, M3"), "the parts table");
        audit("05-register-review-en");
        click(&wd, "main a[href^='/desk/register?edit=']");
        wd.wait_for_source("leave empty to keep greta.pdf");
        let given = wd.find("#given_name");
        wd.cmd(
            "POST",
            &format!("/element/{given}/clear"),
            Some(&serde_json::json!({})),
        );
        type_into(&wd, "#given_name", "Greta Maria");
        click(
            &wd,
            "main form[action='/desk/register'] button[type=submit]",
        );
        wd.wait_for_source("Greta Maria Mustermann");
        click(
            &wd,
            "main form[action='/desk/register/commit'] button[type=submit]",
        );
        wd.wait_for_source("Certificate registered");
        audit("06-register-done-en");
        // The print bundle, downloaded by the browser as the clerk would.
        let downloads = files.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("download dir");
        wd.cmd(
            "POST",
            "/chromium/send_command",
            Some(&serde_json::json!({"cmd": "Page.setDownloadBehavior",
                "params": {"behavior": "allow", "downloadPath": downloads.to_str().expect("utf-8 path")}})),
        );
        click(&wd, "main a[href^='/desk/print-bundle/']");
        let t0 = std::time::Instant::now();
        let bundle = loop {
            let done: Vec<_> = std::fs::read_dir(&downloads)
                .expect("read downloads")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "pdf")
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("print-bundle-"))
                })
                .collect();
            if let Some(p) = done.first() {
                break p.clone();
            }
            assert!(
                t0.elapsed() < crate::support::PATIENCE,
                "the print bundle was never downloaded"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let pdf = std::fs::read(&bundle).expect("read the bundle");
        let doc = lopdf::Document::load_mem(&pdf).expect("the bundle is a PDF");
        assert!(
            doc.get_pages().len() >= 2,
            "certificate and cover sheet: {} pages",
            doc.get_pages().len()
        );
        // The scan of the signed original, named after its code (the test
        // daemon also identifies by file name), is archived by the intake
        // and shows in the list of recent archivings.
        let source = wd.text("/source");
        let at = source.find("id=\"out-code\" value=\"").expect("code field")
            + "id=\"out-code\" value=\"".len();
        let registered = source[at..at + 14].to_string();
        let scan_name = format!("{}.pdf", registered.replace('-', ""));
        std::fs::write(
            s.dir.join("scans").join(&scan_name),
            crate::support::fresh_pdf(),
        )
        .expect("drop scan");
        wd.goto(&format!("{base}/desk/watch/archived"));
        let t0 = std::time::Instant::now();
        while !wd.text("/source").contains(&scan_name) {
            assert!(
                t0.elapsed() < crate::support::PATIENCE,
                "{scan_name} never archived"
            );
            std::thread::sleep(Duration::from_millis(200));
            wd.goto(&format!("{base}/desk/watch/archived"));
        }
        assert!(wd.text("/source").contains(&registered));
        audit("06b-archived-en");
        // The certificate page, from the archived list's link, with its
        // history; then the scan's replacement through its confirmation.
        let plain = registered.replace('-', "");
        click(&wd, &format!("a[href='/desk/certificate/{plain}']"));
        wd.wait_for_source("Every ledger record about this certificate");
        audit("06e-certificate-en");
        wd.goto(&format!("{base}/desk/certificate/{plain}?lang=de"));
        wd.wait_for_source("Verlauf");
        audit("06e-certificate-de");
        wd.goto(&format!("{base}/desk/certificate/{plain}?lang=en"));
        wd.wait_for_source("Replace the scan");
        click(&wd, &format!("a[href='/desk/replace-scan?code={plain}']"));
        wd.wait_for_source("Cannot be undone");
        audit("06f-replace-scan-confirm-en");
        let rescan = files.path().join("rescan.pdf");
        std::fs::write(&rescan, crate::support::fresh_pdf()).expect("rescan");
        type_into(&wd, "#scan", rescan.to_str().expect("utf-8 path"));
        type_into(&wd, "#reason", "page 2 was missing");
        click(
            &wd,
            "main form[action='/desk/replace-scan'] button[type=submit]",
        );
        wd.wait_for_source("The scan is replaced");
        audit("06g-scan-replaced-en");
        // A file that is no scan lands in quarantine; its page offers the
        // actions, and "back into the inbox" retries it.
        quarantined("junk.bin", b"not a scan at all");
        wd.wait_for_source("Cannot be undone");
        audit("06c-quarantine-actions-en");
        click(&wd, "main form input[value=retry] ~ button");
        wd.wait_for_source("back in the inbox");
        audit("06d-quarantine-retried-en");
        // A scan without a cover sheet lands in quarantine; the clerk looks
        // at its first page, types the code of the certificate it belongs
        // to, checks the confirmation and assigns it.
        quarantined("loose.pdf", &crate::support::fresh_pdf());
        wd.wait_for_source("Assign to a certificate");
        audit("06h-quarantine-assign-form-en");
        type_into(&wd, "#assign-code", &assign);
        click(
            &wd,
            "main form[action='/desk/quarantine/assign'] button[type=submit]",
        );
        wd.wait_for_source("What will happen");
        audit("06i-quarantine-assign-confirm-en");
        click(
            &wd,
            "main form[method='post'][action='/desk/quarantine/assign'] button[type=submit]",
        );
        wd.wait_for_source("removed from quarantine");
        audit("06j-quarantine-assigned-en");
        wd.goto(&format!("{base}/desk/status?lang=de"));
        wd.wait_for_source("Bestandsprüfung");
        audit("07-status-de");
        wd.goto(&format!("{base}/desk/status?lang=en"));
        wd.wait_for_source("Fixity audit");
        audit("07-status-en");
        wd.goto(&format!("{base}/desk/fix?code={revoke}&action=revoke"));
        wd.wait_for_source("Cannot be undone");
        audit("08-revoke-confirm-en");
        type_into(&wd, "#reason", "issued twice");
        click(&wd, "main form[action='/desk/fix'] button[type=submit]");
        wd.wait_for_source("The certificate is revoked");
        audit("09-revoked-en");
        click(&wd, "nav form[action='/desk/signout'] button");
        wd.wait_for_source("You are signed out");
        audit("10-signed-out-en");
        // The form sent back with its problems answers 400 on purpose
        // (the submission was refused); Chromium logs that status. Every
        // other console error (a CSP violation would be one) fails.
        let errors: Vec<String> = wd
            .console_errors()
            .into_iter()
            .filter(|e| {
                !e.contains("/desk/register - Failed to load resource: the server responded with a status of 400")
            })
            .collect();
        assert!(errors.is_empty(), "console errors: {errors:?}");
    };
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(steps)) {
        let d = s.daemon();
        eprintln!("daemon exited: {:?}; its log:\n{}", d.exited(), d.log());
        std::panic::resume_unwind(panic);
    }
    let cert = s
        .admin("GET", &format!("/admin/v1/certificates/{revoke}"), &[], b"")
        .json();
    assert_eq!(cert["state"], "revoked", "{cert}");
    let cert = s
        .admin("GET", &format!("/admin/v1/certificates/{assign}"), &[], b"")
        .json();
    assert_eq!(cert["state"], "archived", "assigned in the browser: {cert}");
}

#[test]
fn desk_register_shows_the_computed_grade_for_review_before_it_commits() {
    let s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    let (cookie, token) = signed_in(&s, "erika");
    let record = crate::http::graded_record("Greta").to_string();
    let pdf = crate::support::fresh_pdf();
    let upload = |csrf: &str| {
        desk_post_multipart(
            &s,
            "/desk/register",
            &cookie,
            &[
                ("csrf", None, csrf.as_bytes()),
                ("record", Some("greta.json"), record.as_bytes()),
                ("document", Some("greta.pdf"), &pdf),
            ],
        )
    };
    let records_before =
        s.admin("GET", "/admin/v1/status", &[], b"").json()["ledger_records"].clone();
    assert_eq!(
        upload(&"0".repeat(64)).status,
        403,
        "a wrong token is refused"
    );
    let preview = upload(&token);
    assert_eq!(preview.status, 200, "{}\n{}", preview.text(), log(&s));
    let text = preview.text();
    assert!(
        text.contains("Greta Mustermann") && text.contains("1.76 - good"),
        "{text}"
    );
    assert!(text.contains("Not stored yet"), "{text}");
    assert_eq!(
        s.admin("GET", "/admin/v1/status", &[], b"").json()["ledger_records"],
        records_before,
        "the preview writes nothing"
    );
    let at = text.find("name=\"upload\" value=\"").expect("upload token")
        + "name=\"upload\" value=\"".len();
    let upload_token = &text[at..at + 32];
    let refused = desk_post(
        &s,
        "/desk/register/commit",
        Some(&cookie),
        &[("upload", upload_token)],
    );
    assert_eq!(refused.status, 403, "the commit needs the CSRF token too");
    let done = desk_post(
        &s,
        "/desk/register/commit",
        Some(&cookie),
        &[("csrf", &token), ("upload", upload_token)],
    );
    assert_eq!(done.status, 201, "{}\n{}", done.text(), log(&s));
    let page = done.text();
    let at =
        page.find("id=\"out-code\" value=\"").expect("code") + "id=\"out-code\" value=\"".len();
    let code = page[at..at + 14].to_string();
    assert!(
        page.contains("id=\"out-key\"") && page.contains("http://verify.test/"),
        "{page}"
    );
    let cert = s
        .admin("GET", &format!("/admin/v1/certificates/{code}"), &[], b"")
        .json();
    assert_eq!(cert["state"], "awaiting_scan", "{cert}");
    // The upload is used up: a second commit registers nothing.
    let again = desk_post(
        &s,
        "/desk/register/commit",
        Some(&cookie),
        &[("csrf", &token), ("upload", upload_token)],
    );
    assert_eq!(again.status, 409);
    let plain = code.replace('-', "");
    let bundle = desk_get(&s, &format!("/desk/print-bundle/{plain}"), Some(&cookie));
    assert_eq!(bundle.status, 200);
    assert!(bundle.body.starts_with(b"%PDF-"));
    assert!(bundle
        .header("content-disposition")
        .contains("print-bundle"));
    assert_eq!(
        desk_get(&s, &format!("/desk/print-bundle/{plain}"), None).status,
        303,
        "signed out"
    );
    let log = log(&s);
    assert!(
        log.lines()
            .any(|l| l.contains("desk: write") && l.contains(&id) && l.contains("register")),
        "{log}"
    );
    assert!(!log.contains("Greta"), "holder data in the log: {log}");
}

/// The form's fields (as a clerk types them, the module table with
/// decimal commas): each problem comes back at its field with the form
/// refilled; after the review the data can be changed with the PDF kept;
/// the commit registers what the last review showed.
#[test]
fn desk_register_form_fields_show_problems_at_their_fields_and_can_be_changed() {
    let s = Server::start("");
    add_operator(&s, "erika", PASSWORD);
    let (cookie, token) = signed_in(&s, "erika");
    let pdf = crate::support::fresh_pdf();
    let grades =
        "part;all;30\nM1;10;1,3;Pflicht\nM2;10;2,0;Pflicht\nM3;5;1,7;Pflicht\nM4;5;3,0\nM5;5;2,3";
    let good: Vec<(&str, &str)> = vec![
        ("mode", "fields"),
        ("institution", "Universität Erfurt"),
        ("kind", "transcript"),
        ("language", "de"),
        ("given_name", "Greta"),
        ("family_name", "Mustermann"),
        ("birth_date", "2001-03-04"),
        ("birth_place", "Erfurt"),
        ("student_id", "4711"),
        ("email", ""),
        ("degree", "Bachelor of Arts"),
        ("programme", "Geschichte"),
        ("last_exam_date", "2026-07-01"),
        ("ruleset", "erfurt-ba-2019"),
        ("grades", grades),
    ];
    let post = |fields: &[(&str, &str)], document: Option<&[u8]>| {
        let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("csrf", None, token.as_bytes())];
        parts.extend(fields.iter().map(|(k, v)| (*k, None, v.as_bytes())));
        if let Some(d) = document {
            parts.push(("document", Some("greta.pdf"), d));
        }
        desk_post_multipart(&s, "/desk/register", &cookie, &parts)
    };
    let with = |changes: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        good.iter()
            .map(|(k, v)| {
                let v = changes
                    .iter()
                    .find(|(ck, _)| ck == k)
                    .map_or(*v, |(_, cv)| *cv);
                (*k, v)
            })
            .collect()
    };
    // Four mistakes at once: each at its field, the form refilled.
    let bad = with(&[
        ("given_name", " "),
        ("birth_date", "04.03.2001"),
        ("email", "greta at example"),
        ("grades", "part;all;30\nM1;10;eins"),
    ]);
    let r = post(&bad, Some(&pdf));
    assert_eq!(r.status, 400, "{}\n{}", r.text(), log(&s));
    let text = r.text();
    for (field, words) in [
        ("given_name", "holder.given_name: must not be empty"),
        ("birth_date", "is not a date YYYY-MM-DD"),
        ("email", "holder.email"),
        ("grades", "is not a number like 1,3"),
    ] {
        assert!(
            text.contains(&format!("id=\"{field}\""))
                && text.contains(&format!("id=\"{field}-error\""))
                && text.contains(words),
            "{field}: {words}\n{text}"
        );
    }
    assert!(
        text.contains("value=\"Mustermann\"") && text.contains("M1;10;eins"),
        "the form comes back refilled: {text}"
    );
    // A grade input the engine refuses, and no PDF: named too.
    let r = post(
        &with(&[("grades", "part;all;30\nM1;10;1,3;Pflicht\nM1;5;2,0")]),
        Some(&pdf),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("id=\"grades-error\""), "{}", r.text());
    let r = post(&good, None);
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("id=\"document-error\"") && r.text().contains("no PDF chosen"),
        "{}",
        r.text()
    );
    let r = post(&good, Some(b"not a pdf"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("id=\"document-error\""), "{}", r.text());
    let records_before =
        s.admin("GET", "/admin/v1/status", &[], b"").json()["ledger_records"].clone();

    // The review: the computed grade and the parts table.
    let review = post(&good, Some(&pdf));
    assert_eq!(review.status, 200, "{}\n{}", review.text(), log(&s));
    let text = review.text();
    assert!(
        text.contains("Greta Mustermann")
            && text.contains("1.76 - good")
            && text.contains("M1, M2, M3, M5"),
        "{text}"
    );
    let upload = hidden_of(&text, "upload");
    // Change after the review: the form refilled as typed, the PDF kept.
    let edit = desk_get(&s, &format!("/desk/register?edit={upload}"), Some(&cookie));
    assert_eq!(edit.status, 200, "{}", edit.text());
    let et = edit.text();
    assert!(
        et.contains("value=\"Greta\"")
            && et.contains("M1;10;1,3;Pflicht")
            && et.contains("leave empty to keep greta.pdf"),
        "{et}"
    );
    assert_eq!(
        desk_get(&s, "/desk/register?edit=0123456789abcdef", Some(&cookie)).status,
        409,
        "an unknown upload"
    );
    let mut changed = with(&[("given_name", "Greta Maria")]);
    changed.push(("upload", upload.as_str()));
    let review = post(&changed, None);
    assert_eq!(review.status, 200, "{}\n{}", review.text(), log(&s));
    assert!(review.text().contains("Greta Maria Mustermann"));
    let upload2 = hidden_of(&review.text(), "upload");
    assert_ne!(upload, upload2);
    assert_eq!(
        s.admin("GET", "/admin/v1/status", &[], b"").json()["ledger_records"],
        records_before,
        "nothing written before the commit"
    );
    // The older upload is gone; the changed one commits.
    let stale = desk_post(
        &s,
        "/desk/register/commit",
        Some(&cookie),
        &[("csrf", &token), ("upload", &upload)],
    );
    assert_eq!(stale.status, 409);
    let done = desk_post(
        &s,
        "/desk/register/commit",
        Some(&cookie),
        &[("csrf", &token), ("upload", &upload2)],
    );
    assert_eq!(done.status, 201, "{}\n{}", done.text(), log(&s));
    let page = done.text();
    let at =
        page.find("id=\"out-code\" value=\"").expect("code") + "id=\"out-code\" value=\"".len();
    let code = page[at..at + 14].replace('-', "");
    let key = {
        let pat = "id=\"out-key\" value=\"";
        let rest = &page[page.find(pat).expect("key") + pat.len()..];
        rest[..rest.find('"').expect("end of key")].to_string()
    };
    let (c, out, err) = s.cli(&["show", &code, "--json", "--key", &key]);
    assert_eq!(c, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).expect("show --json");
    assert_eq!(shown["state"], "awaiting_scan", "{shown}");
    assert!(
        out.contains("Greta Maria"),
        "the changed name was registered: {out}"
    );
}

#[test]
fn desk_register_with_a_code_to_supersede_marks_the_old_certificate() {
    let s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    let (cookie, token) = signed_in(&s, "erika");
    let old = s.certs.archived.code.clone();
    let record = crate::http::graded_record("Anna").to_string();
    let pdf = crate::support::fresh_pdf();
    let upload = |supersedes: &str| {
        desk_post_multipart(
            &s,
            "/desk/register",
            &cookie,
            &[
                ("csrf", None, token.as_bytes()),
                ("record", Some("anna.json"), record.as_bytes()),
                ("document", Some("anna-corrected.pdf"), &pdf),
                ("supersedes", None, supersedes.as_bytes()),
            ],
        )
    };
    let unknown = upload("ZZZZ-ZZZZ-ZZZZ");
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    assert!(unknown.text().contains("supersedes"), "{}", unknown.text());
    let preview = upload(&old.to_lowercase());
    assert_eq!(preview.status, 200, "{}\n{}", preview.text(), log(&s));
    let text = preview.text();
    assert!(text.contains(&format!("Supersedes {old}")), "{text}");
    let at = text.find("name=\"upload\" value=\"").expect("upload token")
        + "name=\"upload\" value=\"".len();
    let upload_token = &text[at..at + 32];
    let done = desk_post(
        &s,
        "/desk/register/commit",
        Some(&cookie),
        &[("csrf", &token), ("upload", upload_token)],
    );
    assert_eq!(done.status, 201, "{}\n{}", done.text(), log(&s));
    let cert = s
        .admin("GET", &format!("/admin/v1/certificates/{old}"), &[], b"")
        .json();
    assert_eq!(cert["state"], "superseded", "{cert}");
    let log = log(&s);
    assert!(
        log.lines()
            .any(|l| l.contains("desk: write") && l.contains(&id) && l.contains("supersede")),
        "{log}"
    );
}

/// The values a desk form would send as it is shown: every text input's
/// `value`, each `select`'s selected option, each `textarea`'s text
/// (entities decoded); hidden inputs too, except `csrf`.
fn form_values(page: &str) -> Vec<(String, String)> {
    let unescape = |v: &str| {
        v.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let attr = |tag: &str, name: &str| -> Option<String> {
        let pat = format!(" {name}=\"");
        let at = tag.find(&pat)? + pat.len();
        Some(unescape(&tag[at..at + tag[at..].find('"')?]))
    };
    let mut out = Vec::new();
    for tag in page.split('<').skip(1) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if tag.starts_with("input ") && !tag.contains("type=\"file\"") {
            if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                if n != "csrf" {
                    out.push((n, v));
                }
            }
        }
    }
    for (open, close) in [("<textarea ", "</textarea>"), ("<select ", "</select>")] {
        let mut rest = page;
        while let Some(at) = rest.find(open) {
            let el = &rest[at..];
            let end = el.find(close).expect("closed element");
            let name = attr(el, "name").expect("named element");
            let body = &el[..end];
            let value = if open == "<select " {
                body.split("<option ")
                    .find(|o| o.contains(" selected>"))
                    .and_then(|o| attr(&format!(" {o}"), "value"))
                    .unwrap_or_default()
            } else {
                unescape(&body[body.find('>').expect("open tag") + 1..])
            };
            out.push((name, value));
            rest = &el[end..];
        }
    }
    out
}

/// "Correct" on a certificate's page opens the form filled with the
/// record as registered and the code to supersede; sent back with one
/// field changed and the corrected PDF, it supersedes the old certificate
/// with the corrected record (grade input included).
#[test]
fn desk_correction_starts_from_the_registered_record() {
    let s = Server::start("");
    add_operator(&s, "erika", PASSWORD);
    let (cookie, token) = signed_in(&s, "erika");
    let old = s.certs.archived.code.clone();
    let plain = old.replace('-', "");
    let page = desk_get(&s, &format!("/desk/certificate/{plain}"), Some(&cookie)).text();
    let link = format!("/desk/register?supersedes={plain}");
    assert!(page.contains(&link), "{page}");
    let revoked = s.certs.revoked.code.replace('-', "");
    let page = desk_get(&s, &format!("/desk/certificate/{revoked}"), Some(&cookie)).text();
    assert!(
        !page.contains("/desk/register?supersedes="),
        "no correction offered for a revoked certificate: {page}"
    );
    let form = desk_get(&s, &link, Some(&cookie));
    assert_eq!(form.status, 200, "{}\n{}", form.text(), log(&s));
    let ft = form.text();
    assert!(ft.contains(&format!("Correction of {old}")), "{ft}");
    let mut values = form_values(&ft);
    let get = |values: &[(String, String)], k: &str| {
        values
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} in {values:?}"))
    };
    assert_eq!(get(&values, "given_name"), "Anna");
    assert_eq!(get(&values, "supersedes"), old);
    assert_eq!(get(&values, "ruleset"), "erfurt-ba-2019");
    assert!(get(&values, "grades").contains("\"M5\""), "{values:?}");
    for (n, v) in values.iter_mut() {
        if n == "given_name" {
            *v = "Anna Lena".into();
        }
    }
    let pdf = crate::support::fresh_pdf();
    let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("csrf", None, token.as_bytes())];
    parts.extend(values.iter().map(|(k, v)| (k.as_str(), None, v.as_bytes())));
    parts.push(("document", Some("anna-corrected.pdf"), &pdf));
    let review = desk_post_multipart(&s, "/desk/register", &cookie, &parts);
    assert_eq!(review.status, 200, "{}\n{}", review.text(), log(&s));
    let rt = review.text();
    assert!(
        rt.contains(&format!("Supersedes {old}"))
            && rt.contains("Anna Lena Mustermann")
            && rt.contains("1.76 - good"),
        "{rt}"
    );
    let done = desk_post(
        &s,
        "/desk/register/commit",
        Some(&cookie),
        &[("csrf", &token), ("upload", &hidden_of(&rt, "upload"))],
    );
    assert_eq!(done.status, 201, "{}\n{}", done.text(), log(&s));
    let cert = s
        .admin("GET", &format!("/admin/v1/certificates/{old}"), &[], b"")
        .json();
    assert_eq!(cert["state"], "superseded", "{cert}");
}

/// The `<tr>` of `page`'s history table whose event is `kind_words`.
fn history_row<'a>(page: &'a str, kind_words: &str) -> &'a str {
    let at = page
        .find(&format!("<td>{kind_words}</td>"))
        .unwrap_or_else(|| panic!("no {kind_words} row in:\n{page}"));
    let start = page[..at].rfind("<tr>").expect("row start");
    let end = at + page[at..].find("</tr>").expect("row end");
    &page[start..end]
}

/// Issue 18's audit-trail test: operator A revokes through the desk;
/// operator B opens the certificate page and sees A's name and id on the
/// revocation (and "automatic" on the unattributed registration);
/// `zeugnis show --json` names A's id on the record, and the ledger record
/// itself is a version-2 record carrying A's id (FORMAT.md §3.5).
#[test]
fn desk_second_operator_sees_the_first_ones_actions_with_their_id() {
    let mut s = Server::start("");
    let id_a = add_operator(&s, "erika", PASSWORD);
    let id_b = add_operator(&s, "max", PASSWORD);
    assert_ne!(id_a, id_b);
    let code: String = s
        .certs
        .awaiting
        .code
        .chars()
        .filter(|c| *c != '-')
        .collect();

    let (cookie_a, token_a) = signed_in(&s, "erika");
    let done = desk_post(
        &s,
        "/desk/fix",
        Some(&cookie_a),
        &[
            ("csrf", &token_a),
            ("action", "revoke"),
            ("code", &code),
            ("reason", "issued twice"),
            ("category", "issued_in_error"),
        ],
    );
    assert_eq!(done.status, 200, "{}\n{}", done.text(), log(&s));
    assert!(
        done.text()
            .contains(&format!("href=\"/desk/certificate/{code}\"")),
        "the result links to the certificate page: {}",
        done.text()
    );

    let (cookie_b, _) = signed_in(&s, "max");
    let page = desk_get(&s, &format!("/desk/certificate/{code}"), Some(&cookie_b));
    assert_eq!(page.status, 200, "{}\n{}", page.text(), log(&s));
    let text = page.text();
    assert!(text.contains("Signed in as <strong>max</strong>"), "{text}");
    let revoked = history_row(&text, "Revoked");
    assert!(
        revoked.contains(&format!("erika (<code>{id_a}</code>)")),
        "B sees A's name and id on the revocation: {revoked}"
    );
    assert!(!revoked.contains(&id_b), "{revoked}");
    let registered = history_row(&text, "Registered");
    assert!(
        registered.contains("automatic"),
        "the fixture's registration is unattributed: {registered}"
    );
    let german = desk_get(
        &s,
        &format!("/desk/certificate/{code}?lang=de"),
        Some(&cookie_b),
    );
    assert!(
        history_row(&german.text(), "Widerrufen").contains(&id_a),
        "{}",
        german.text()
    );
    let unknown = desk_get(&s, "/desk/certificate/ZZZZZZZZZZZZ", Some(&cookie_b));
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    let (c, out, err) = s.cli(&["show", &code, "--json"]);
    assert_eq!(c, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).expect("show --json");
    let event = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "RevokedWithCategory")
        .unwrap_or_else(|| panic!("no Revoked event: {shown}"))
        .clone();
    assert_eq!(event["operator"], id_a.as_str(), "{shown}");
    let seq = event["seq"].as_u64().expect("seq");

    s.stop();
    let record = s.ledger().record(seq).expect("the revocation record");
    assert_eq!(
        record.operator.as_ref().map(|o| o.as_str()),
        Some(id_a.as_str())
    );
    assert_eq!(record.version(), 2, "an attributed record is version 2");
}

/// Replacing a scan from the desk: the certificate page links to the
/// confirmation page, which says what happens and what cannot be undone;
/// a POST without (or with a wrong) CSRF token is refused and changes
/// nothing; a missing reason is refused on the confirmation page; with the
/// token the new file becomes the current scan, the old one is listed as
/// replaced, and the ScanReplaced record carries the operator's id.
#[test]
fn desk_replace_scan_goes_through_a_confirmation_page_and_the_csrf_token() {
    let s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    let (cookie, token) = signed_in(&s, "erika");
    let code: String = s
        .certs
        .archived
        .code
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let cert = |s: &Server| {
        s.admin("GET", &format!("/admin/v1/certificates/{code}"), &[], b"")
            .json()
    };
    let before = cert(&s);
    let old_scan = before["scan"]["blake3"].clone();
    assert!(old_scan.is_string(), "{before}");

    let page = desk_get(&s, &format!("/desk/certificate/{code}"), Some(&cookie));
    assert_eq!(page.status, 200, "{}\n{}", page.text(), log(&s));
    assert!(
        page.text()
            .contains(&format!("href=\"/desk/replace-scan?code={code}\"")),
        "{}",
        page.text()
    );
    let confirm = desk_get(
        &s,
        &format!("/desk/replace-scan?code={code}"),
        Some(&cookie),
    );
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    let text = confirm.text();
    assert!(
        text.contains("What will happen")
            && text.contains("The old scan is not deleted")
            && text.contains("Cannot be undone"),
        "{text}"
    );
    assert!(text.contains("enctype=\"multipart/form-data\"") && text.contains("name=\"reason\""));

    let pdf = crate::support::fresh_pdf();
    let post = |csrf: Option<&str>, reason: &str| {
        let mut parts: Vec<(&str, Option<&str>, &[u8])> = Vec::new();
        if let Some(t) = csrf {
            parts.push(("csrf", None, t.as_bytes()));
        }
        parts.push(("code", None, code.as_bytes()));
        parts.push(("scan", Some("rescan.pdf"), &pdf));
        parts.push(("reason", None, reason.as_bytes()));
        desk_post_multipart(&s, "/desk/replace-scan", &cookie, &parts)
    };
    let refused = post(None, "page 2 was missing");
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("Form refused"),
        "{}",
        refused.text()
    );
    let wrong = post(Some("not-the-token"), "page 2 was missing");
    assert_eq!(wrong.status, 403, "{}", wrong.text());
    assert_eq!(
        cert(&s)["scan"]["blake3"],
        old_scan,
        "refused: nothing changed"
    );

    let no_reason = post(Some(&token), "");
    assert_eq!(no_reason.status, 400, "{}", no_reason.text());
    assert!(no_reason.text().contains("role=\"alert\""));
    assert_eq!(cert(&s)["scan"]["blake3"], old_scan);

    let done = post(Some(&token), "page 2 was missing");
    assert_eq!(done.status, 201, "{}\n{}", done.text(), log(&s));
    assert!(
        done.text().contains("The scan is replaced"),
        "{}",
        done.text()
    );
    assert!(done.text().contains("Scan replaced"), "history row");
    let after = cert(&s);
    assert_ne!(after["scan"]["blake3"], old_scan, "{after}");
    assert_eq!(
        after["replaced_scans"][0]["scan"]["blake3"], old_scan,
        "{after}"
    );
    assert_eq!(after["state"], before["state"], "the state stays");
    let event = after["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "ScanReplaced")
        .unwrap_or_else(|| panic!("no ScanReplaced event: {after}"))
        .clone();
    assert_eq!(event["operator"], id.as_str(), "{after}");
    assert!(
        history_row(&done.text(), "Scan replaced").contains(&format!("erika (<code>{id}</code>)")),
        "{}",
        done.text()
    );
    // The same file again appends nothing and says so.
    let again = post(Some(&token), "page 2 was missing");
    assert_eq!(again.status, 200, "{}\n{}", again.text(), log(&s));
    assert!(
        again.text().contains("already in the ledger"),
        "{}",
        again.text()
    );
    assert_eq!(cert(&s)["replaced_scans"].as_array().map(Vec::len), Some(1));
    // A certificate without a scan: no link, and the registry's refusal
    // comes back on the confirmation page.
    let awaiting: String = s
        .certs
        .awaiting
        .code
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let page = desk_get(&s, &format!("/desk/certificate/{awaiting}"), Some(&cookie));
    assert!(
        !page.text().contains("/desk/replace-scan"),
        "{}",
        page.text()
    );
    let german = desk_get(
        &s,
        &format!("/desk/replace-scan?code={awaiting}&lang=de"),
        Some(&cookie),
    );
    assert!(
        german.text().contains("Was geschieht") && german.text().contains("Nicht umkehrbar"),
        "{}",
        german.text()
    );
    let refused = desk_post_multipart(
        &s,
        "/desk/replace-scan",
        &cookie,
        &[
            ("csrf", None, token.as_bytes()),
            ("code", None, awaiting.as_bytes()),
            ("scan", Some("rescan.pdf"), &pdf),
            ("reason", None, b"no scan yet"),
        ],
    );
    assert!(
        refused.status >= 400 && refused.text().contains("role=\"alert\""),
        "{} {}",
        refused.status,
        refused.text()
    );
    assert!(cert(&s)["replaced_scans"].as_array().map(Vec::len) == Some(1));
    let log = log(&s);
    assert!(
        log.lines()
            .any(|l| l.contains("desk: write") && l.contains(&id) && l.contains("replace-scan")),
        "{log}"
    );
}

/// The value of the hidden field `name` in a page.
fn hidden_of(page: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&pat)
        .unwrap_or_else(|| panic!("no field {name} in:\n{page}"));
    let rest = &page[at + pat.len()..];
    rest[..rest.find('"').expect("end of value")].to_string()
}

/// A preview answer is a PNG (by signature and by decoding it) at most
/// 1240 pixels a side; returns its size.
fn assert_png(r: &Reply, what: &str, log: &str) -> (u32, u32) {
    assert_eq!(r.status, 200, "{what}: {}\n{log}", r.text());
    assert_eq!(r.header("content-type"), "image/png", "{what}");
    assert!(
        r.body.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{what}: not a PNG signature"
    );
    let mut reader = png::Decoder::new(std::io::Cursor::new(&r.body))
        .read_info()
        .unwrap_or_else(|e| panic!("{what}: the PNG does not decode: {e}"));
    let mut buf = vec![0; reader.output_buffer_size()];
    reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{what}: the PNG's pixels do not decode: {e}"));
    let (w, h) = (reader.info().width, reader.info().height);
    assert!(w > 0 && h > 0 && w.max(h) <= 1240, "{what}: {w} x {h}");
    (w, h)
}

#[test]
fn desk_assigns_a_quarantined_scan_after_a_look_at_page_one() {
    let mut s = Server::start("");
    let id = add_operator(&s, "erika", PASSWORD);
    let (cookie, _) = signed_in(&s, "erika");
    let awaiting = s.certs.awaiting.code.clone();
    let plain = awaiting.replace('-', "");
    // A PDF scan without a cover sheet and an image scan without one: both
    // land in quarantine (no code).
    std::fs::write(s.dir.join("scans/loose.pdf"), crate::support::fresh_pdf()).expect("drop");
    let (w, h) = (300u32, 200u32);
    let mut photo = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut photo, w, h);
        enc.set_color(png::ColorType::Rgb);
        let px: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        enc.write_header()
            .and_then(|mut wr| wr.write_image_data(&px))
            .expect("encode the photo");
    }
    std::fs::write(s.dir.join("scans/photo.png"), &photo).expect("drop");
    std::fs::write(s.dir.join("scans/notes.bin"), b"no scan, just text").expect("drop");
    s.wait_for("the three files in quarantine", |s| {
        ["loose.pdf", "photo.png", "notes.bin"]
            .iter()
            .all(|f| s.dir.join("scans/quarantine").join(f).exists())
    });

    // The entry's page shows page 1 and the assignment form.
    let page = desk_get(&s, "/desk/quarantine?file=loose.pdf", Some(&cookie));
    assert_eq!(page.status, 200, "{}\n{}", page.text(), log(&s));
    let text = page.text();
    assert!(
        text.contains("<img src=\"/desk/quarantine/page1?file=loose.pdf\"")
            && text.contains("Assign to a certificate")
            && text.contains("No code found"),
        "{text}"
    );
    let token = csrf_of(&text);
    // The previews are PNGs the worker made: the PDF rendered, the image
    // re-encoded (never the file's own bytes).
    let pdf_preview = desk_get(&s, "/desk/quarantine/page1?file=loose.pdf", Some(&cookie));
    let (pw, ph) = assert_png(&pdf_preview, "PDF preview", &log(&s));
    assert!(ph > pw, "A4 portrait: {pw} x {ph}");
    let img_preview = desk_get(&s, "/desk/quarantine/page1?file=photo.png", Some(&cookie));
    assert_eq!(assert_png(&img_preview, "image preview", &log(&s)), (w, h));
    assert!(
        img_preview.body != photo,
        "the image is re-encoded (grayscale), not passed through"
    );
    // What cannot be shown gets a placeholder picture saying why.
    let none = desk_get(&s, "/desk/quarantine/page1?file=notes.bin", Some(&cookie));
    assert_eq!(none.status, 200, "{}", none.text());
    assert_eq!(none.header("content-type"), "image/svg+xml; charset=utf-8");
    assert!(
        none.text().contains("No preview possible") && none.text().contains("neither a PDF"),
        "{}",
        none.text()
    );
    // Names outside quarantine are refused; without a session, nothing.
    for bad in [
        "../../ledger/operators.json",
        ".deleted.jsonl",
        "loose.pdf.reason.json",
    ] {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("file", bad)
            .finish();
        let r = desk_get(&s, &format!("/desk/quarantine/page1?{q}"), Some(&cookie));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        let r = desk_get(
            &s,
            &format!("/desk/quarantine/assign?{q}&code={plain}"),
            Some(&cookie),
        );
        assert_eq!(r.status, 404, "{bad}: {}", r.text());
    }
    assert_eq!(
        desk_get(&s, "/desk/quarantine/page1?file=loose.pdf", None).status,
        303
    );

    // Certificates that cannot take a scan are refused in words.
    let archived = s.certs.archived.code.replace('-', "");
    let r = desk_get(
        &s,
        &format!("/desk/quarantine/assign?file=loose.pdf&code={archived}"),
        Some(&cookie),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("replace-scan"), "{}", r.text());
    let revoked = s.certs.revoked.code.replace('-', "");
    let r = desk_get(
        &s,
        &format!("/desk/quarantine/assign?file=loose.pdf&code={revoked}"),
        Some(&cookie),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("is revoked"), "{}", r.text());

    // The confirmation page: the certificate's facts, both pictures, what
    // will happen; nothing changed yet.
    let confirm = desk_get(
        &s,
        &format!(
            "/desk/quarantine/assign?file=loose.pdf&code={}",
            plain.to_lowercase()
        ),
        Some(&cookie),
    );
    assert_eq!(confirm.status, 200, "{}\n{}", confirm.text(), log(&s));
    let ct = confirm.text();
    assert!(
        ct.contains(&awaiting)
            && ct.contains("What will happen")
            && ct.contains("Cannot be undone")
            && ct.contains(&format!("registered-page1?code={plain}")),
        "{ct}"
    );
    // The holder as registered (the fixture's Berta), to compare with the
    // name on the scan.
    assert!(
        ct.contains("Registered for") && ct.contains("Berta Mustermann"),
        "{ct}"
    );
    let registered = desk_get(
        &s,
        &format!("/desk/quarantine/registered-page1?code={plain}"),
        Some(&cookie),
    );
    assert_png(&registered, "registered PDF preview", &log(&s));
    let blake3 = hidden_of(&ct, "blake3");
    let show = |s: &Server| -> serde_json::Value {
        let (c, out, err) = s.cli(&["show", &plain, "--json"]);
        assert_eq!(c, 0, "{err}");
        serde_json::from_str(&out).expect("show --json")
    };
    assert_eq!(show(&s)["state"], "awaiting_scan");

    // A wrong CSRF token is refused; a changed file digest too.
    let fields = |csrf: &str, digest: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf),
            ("file", "loose.pdf"),
            ("code", plain.as_str()),
            ("blake3", digest),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let post = |f: &[(String, String)]| {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        desk_post(&s, "/desk/quarantine/assign", Some(&cookie), &pairs)
    };
    assert_eq!(post(&fields("not-the-token", &blake3)).status, 403);
    let r = post(&fields(&token, &"0".repeat(64)));
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.text().contains("changed since you looked"),
        "{}",
        r.text()
    );
    assert_eq!(
        show(&s)["state"],
        "awaiting_scan",
        "refused: nothing stored"
    );
    assert!(s.dir.join("scans/quarantine/loose.pdf").exists());

    // The commit archives the scan as the operator and empties quarantine.
    let r = post(&fields(&token, &blake3));
    assert_eq!(r.status, 200, "{}\n{}", r.text(), log(&s));
    assert!(r.text().contains("removed from quarantine"), "{}", r.text());
    assert!(!s.dir.join("scans/quarantine/loose.pdf").exists());
    assert!(!s
        .dir
        .join("scans/quarantine/loose.pdf.reason.json")
        .exists());
    let cert = show(&s);
    assert_eq!(cert["state"], "archived", "{cert}");
    assert_eq!(cert["scan"]["blake3"], blake3.as_str(), "{cert}");
    let last = cert["events"]
        .as_array()
        .and_then(|e| e.last())
        .unwrap_or_else(|| panic!("events in {cert}"))
        .clone();
    assert_eq!(last["kind"], "ScanArchived", "{cert}");
    assert_eq!(last["operator"], id.as_str(), "{cert}");
    let list = desk_get(&s, "/desk/watch/quarantine", Some(&cookie)).text();
    assert!(
        !list.contains("loose.pdf") && list.contains("photo.png"),
        "{list}"
    );
    // Posting again finds no such file: nothing twice.
    assert_eq!(post(&fields(&token, &blake3)).status, 404);
}
