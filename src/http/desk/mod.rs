//! The web desk for the exam office, under `/desk/` on the admin listener:
//! sign-in (operator accounts or a trusted single-sign-on header),
//! sessions in cookies, CSRF tokens on every form, lock-out, and the pages
//! built so far (overview, status report with the fixity audit).
//!
//! Owns: the desk's routes ([`serve`]), its configuration ([`DeskConfig`],
//! the `[desk]` table), the session table and the lock-out
//! ([`session`]), and [`write`], the ONE function through which every desk
//! write reaches the registry (so that attributing writes to the signed-in
//! operator is added in one place). Must not do: answer anything but the
//! sign-in page, the stylesheet and the sign-in itself without a session;
//! accept a POST without the session's CSRF token; log a password, a
//! session id, a CSRF token or an operator's name (operators appear in the
//! log by their id).
//!
//! # Layout
//! - [`session`]: sessions, cookies, CSRF tokens, per-address lock-out; pure.
//! - [`page`]: the German and English HTML; pure.
//! - [`fix`]: revoke, void, erase with their confirmation pages.
//! - [`certificate`]: one certificate with its history, and the
//!   replacement of its scan with a confirmation page.
//! - [`register`]: upload, review with the computed grade, commit.
//! - [`batch`]: many registrations at once: a CSV or JSON-lines export
//!   and a zip of the PDFs, reviewed row by row, committed row after row.
//! - [`multipart`]: reading an upload form within its limits.
//! - [`watch`]: the four watch lists, one bounded page at a time.
//! - [`assign`]: a quarantined scan assigned to a certificate by hand,
//!   after a look at page 1 of the scan as an image.

pub mod assign;
pub mod batch;
pub mod certificate;
pub mod fix;
pub mod multipart;
pub mod page;
pub mod record_form;
pub mod register;
pub mod session;
pub mod watch;

use super::pages::{escape, Lang};
use super::response::{self, Resp};
use super::AppState;
use crate::operators::{OperatorStore, SignIn};
use crate::registry::{Registry, RegistryError};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use session::{ClientLockout, Missing, Session, Sessions};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Largest desk form body (`application/x-www-form-urlencoded`), in bytes.
pub const DESK_FORM_BYTES_MAX: usize = 64 * 1024;
/// Longest value of the single-sign-on user header, in bytes.
pub const SSO_USER_BYTES_MAX: usize = 256;

/// The `[desk]` table of the configuration (docs/operations.md, "The web desk").
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeskConfig {
    /// A session ends after this long without a request, in seconds.
    /// Default 1,800 (30 minutes).
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in whatever happens, in
    /// seconds. Default 36,000 (10 hours: one working day).
    pub session_absolute_secs: u64,
    /// Sessions open at once (signed in or showing the sign-in form); the
    /// least recently used goes first. Default 1,000.
    pub sessions_max: usize,
    /// Failed sign-ins in a row that lock an account. Default 5.
    pub account_failures_max: u32,
    /// Failed sign-ins from one client address that lock that address
    /// (whatever names were tried). Default 20.
    pub client_failures_max: u32,
    /// How long a lock-out lasts, in seconds. Default 900 (15 minutes).
    pub lockout_secs: u64,
    /// Single sign-on: the request header in which a reverse proxy
    /// (Shibboleth, an OIDC proxy) passes the signed-in user name, e.g.
    /// `X-Remote-User`. Honoured only from peers listed in
    /// `[http] trusted_proxies`; the name must be an enabled operator.
    /// Default none (password sign-in only).
    pub trusted_user_header: Option<String>,
}

impl Default for DeskConfig {
    fn default() -> DeskConfig {
        DeskConfig {
            session_idle_secs: 1_800,
            session_absolute_secs: 36_000,
            sessions_max: 1_000,
            account_failures_max: 5,
            client_failures_max: 20,
            lockout_secs: 900,
            trusted_user_header: None,
        }
    }
}

impl DeskConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive: [(&str, u64); 6] = [
            ("session_idle_secs", self.session_idle_secs),
            ("session_absolute_secs", self.session_absolute_secs),
            ("sessions_max", self.sessions_max as u64),
            ("account_failures_max", self.account_failures_max.into()),
            ("client_failures_max", self.client_failures_max.into()),
            ("lockout_secs", self.lockout_secs),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(format!("desk.{key}: must be greater than 0"));
            }
        }
        if self.session_idle_secs > self.session_absolute_secs {
            return Err(
                "desk.session_idle_secs: must not be longer than session_absolute_secs".into(),
            );
        }
        if let Some(h) = &self.trusted_user_header {
            if header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(format!(
                    "desk.trusted_user_header: {h:?} is not a header name"
                ));
            }
        }
        Ok(())
    }
}

/// The desk's state in the daemon.
pub struct Desk {
    /// The configuration.
    cfg: DeskConfig,
    /// The operator accounts (`<data>/operators.json`).
    store: OperatorStore,
    /// Open sessions.
    sessions: Mutex<Sessions>,
    /// Failed sign-ins per client address.
    clients: Mutex<ClientLockout>,
    /// Registrations uploaded and waiting for their commit.
    pending: Mutex<register::PendingTable>,
    /// Batches reviewed and waiting for their commit, and their results.
    batch: batch::Tables,
}

impl Desk {
    /// The desk over the data directory `data`.
    pub fn new(cfg: DeskConfig, data: &Path) -> Desk {
        Desk {
            sessions: Mutex::new(Sessions::new(
                Duration::from_secs(cfg.session_idle_secs),
                Duration::from_secs(cfg.session_absolute_secs),
                cfg.sessions_max,
            )),
            clients: Mutex::new(ClientLockout::new(
                cfg.client_failures_max,
                Duration::from_secs(cfg.lockout_secs),
            )),
            store: OperatorStore::new(data),
            pending: Mutex::default(),
            batch: batch::Tables::default(),
            cfg,
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, ClientLockout> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Route label of a desk path (for metrics).
pub fn classify(path: &str) -> &'static str {
    match path {
        "/desk" | "/desk/" => "desk_home",
        "/desk/signin" => "desk_signin",
        "/desk/signout" => "desk_signout",
        "/desk/static/desk.css" | "/desk/static/icon.svg" => "desk_static",
        "/desk/status" => "desk_status",
        "/desk/fixity" => "desk_fixity",
        "/desk/fix" => "desk_fix",
        "/desk/quarantine" => "desk_quarantine",
        "/desk/quarantine/page1" | "/desk/quarantine/registered-page1" => "desk_quarantine_preview",
        "/desk/quarantine/assign" => "desk_quarantine_assign",
        "/desk/register" | "/desk/register/commit" => "desk_register",
        "/desk/register/batch"
        | "/desk/register/batch/commit"
        | "/desk/register/batch/result"
        | "/desk/register/batch/result.csv" => "desk_register_batch",
        p if p.starts_with("/desk/print-bundle/") => "desk_print_bundle",
        p if p.starts_with("/desk/cover-sheet/") => "desk_cover_sheet",
        "/desk/watch" => "desk_watch",
        "/desk/replace-scan" => "desk_replace_scan",
        p if p.starts_with("/desk/certificate/") => "desk_certificate",
        p if p.starts_with("/desk/watch/") => "desk_watch",
        _ => "desk_not_found",
    }
}

/// A signed-in operator, as the handlers see them.
pub struct Signed {
    /// The session id (from the cookie, or new).
    id: String,
    /// The session.
    session: Session,
    /// The operator's id.
    pub operator_id: String,
    /// The operator's name (shown on the pages, never logged).
    name: String,
    /// A `Set-Cookie` to send with the answer (a new single-sign-on session).
    set_cookie: Option<String>,
}

impl Signed {
    fn who(&self) -> page::Who<'_> {
        page::Who {
            name: &self.name,
            csrf: &self.session.csrf,
        }
    }
}

/// Runs a desk write on the registry for the signed-in operator: THE one
/// way desk handlers change the archive. Logs the action with the
/// operator id and runs the write hooks (the intake retries waiting scans).
/// Every record the write appends carries `signed.operator_id` (the audit
/// trail, ledger/FORMAT.md §3.5).
pub(crate) async fn write<T, F>(
    state: &AppState,
    signed: &Signed,
    action: &'static str,
    f: F,
) -> Result<T, RegistryError>
where
    T: Send + 'static,
    F: FnOnce(&mut Registry) -> Result<T, RegistryError> + Send + 'static,
{
    let result = match crate::registry::OperatorId::parse(&signed.operator_id) {
        Ok(op) => state.with_registry_as(Some(op), f).await,
        Err(e) => Err(RegistryError::External(format!(
            "the signed-in account's operator id is not valid ({e}); see `zeugnis operator list`"
        ))),
    };
    match &result {
        Ok(_) => {
            tracing::info!(operator = %signed.operator_id, action, "desk: write");
            state.written();
        }
        Err(e) => {
            tracing::warn!(operator = %signed.operator_id, action, error = %e, "desk: write refused")
        }
    }
    result
}

/// The language of a request: `?lang=`, else the session's choice, else
/// `Accept-Language`.
fn language<B>(req: &Request<B>, session: Option<&Session>) -> (Lang, Option<Lang>) {
    let asked = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| Lang::parse(&v))
    });
    let lang = asked.or(session.and_then(|s| s.lang)).unwrap_or_else(|| {
        Lang::from_accept_language(response::header_str(req, header::ACCEPT_LANGUAGE))
    });
    (lang, asked)
}

fn with_cookie(mut r: Resp, cookie: Option<&str>) -> Resp {
    if let Some(c) = cookie {
        response::set(&mut r, header::SET_COOKIE, c);
    }
    r
}

fn see_other(location: &str) -> Resp {
    let mut r = response::bytes(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
    response::set(&mut r, header::LOCATION, location);
    r
}

/// Reads an `application/x-www-form-urlencoded` body (at most
/// [`DESK_FORM_BYTES_MAX`]) into name/value pairs.
async fn form_body(req: Request<Incoming>) -> Result<Vec<(String, String)>, String> {
    let body = Limited::new(req.into_body(), DESK_FORM_BYTES_MAX)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                format!("the form is larger than {DESK_FORM_BYTES_MAX} bytes")
            } else {
                format!("request body: {e}")
            }
        })?
        .to_bytes();
    Ok(form_urlencoded::parse(&body).into_owned().collect())
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// 403 with the page that says the form was refused (nothing changed).
fn csrf_refused(lang: Lang, who: Option<&page::Who>) -> Resp {
    let t = page::texts(lang);
    response::html(
        StatusCode::FORBIDDEN,
        page::message(lang, t.csrf_heading, t.csrf_text, who, "bad"),
    )
}

/// The session behind the request's cookie, or why there is none.
fn cookie_session(desk: &Desk, req: &Request<Incoming>) -> (Option<(String, Session)>, Missing) {
    let cookie = response::header_str(req, header::COOKIE);
    let Some(id) = session::cookie_id(cookie) else {
        return (None, Missing::None);
    };
    match desk.sessions().touch(id, Instant::now()) {
        Ok(s) => (Some((id.to_string(), s)), Missing::None),
        Err(why) => (None, why),
    }
}

/// The operator of a single-sign-on request: `Ok(None)` when single sign-on
/// is off or the request does not carry the header from a trusted proxy;
/// `Err` when it names no enabled operator.
fn sso_operator(
    state: &AppState,
    desk: &Desk,
    peer: IpAddr,
    req: &Request<Incoming>,
) -> Result<Option<crate::operators::Operator>, ()> {
    let Some(h) = &desk.cfg.trusted_user_header else {
        return Ok(None);
    };
    let Some(value) = req.headers().get(h.as_str()) else {
        return Ok(None);
    };
    let peer = peer.to_canonical();
    if !state
        .cfg
        .trusted_proxies
        .iter()
        .any(|t| t.0.contains(&peer))
    {
        // Anyone can send the header: only the proxy's copy counts.
        tracing::warn!(
            "desk: single-sign-on header from a peer that is not a trusted proxy ignored"
        );
        return Ok(None);
    }
    let user = value.to_str().map_err(|_| ())?.trim();
    if user.is_empty() || user.len() > SSO_USER_BYTES_MAX {
        return Err(());
    }
    match desk.store.by_name(user) {
        Ok(Some(op)) if !op.disabled => Ok(Some(op)),
        Ok(_) => {
            tracing::warn!("desk: single-sign-on user is no enabled operator; refused");
            Err(())
        }
        Err(e) => {
            tracing::error!(error = %e, "desk: operator store unreadable");
            Err(())
        }
    }
}

/// Answers a request under `/desk`. `peer` is the TCP peer (for the
/// single-sign-on header and, with `X-Forwarded-For` from trusted
/// proxies, the lock-out).
pub async fn serve(state: &AppState, peer: IpAddr, req: Request<Incoming>) -> Resp {
    let desk = &state.desk;
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path == "/desk/static/desk.css" {
        let mut r = response::bytes(
            StatusCode::OK,
            "text/css; charset=utf-8",
            page::stylesheet(),
        );
        response::set(&mut r, header::CACHE_CONTROL, "no-cache");
        return r;
    }
    if path == "/desk/static/icon.svg" {
        return response::bytes(StatusCode::OK, "image/svg+xml", page::ICON_SVG);
    }
    if path == "/desk" {
        return see_other("/desk/");
    }
    let (mut current, missing) = cookie_session(desk, &req);
    // Single sign-on: the proxy's header names the operator on every request.
    let sso = match sso_operator(state, desk, peer, &req) {
        Ok(op) => op,
        Err(()) => {
            let (lang, _) = language(&req, None);
            let t = page::texts(lang);
            return response::html(
                StatusCode::FORBIDDEN,
                page::message(lang, t.signin_heading, t.sso_unknown, None, "bad"),
            );
        }
    };
    let mut set_cookie = None;
    if let Some(op) = &sso {
        let same = current
            .as_ref()
            .is_some_and(|(_, s)| s.operator.as_deref() == Some(op.id.as_str()));
        if !same {
            let (lang, _) = language(&req, None);
            let (id, s) = desk
                .sessions()
                .start(Some(op.id.clone()), Some(lang), Instant::now());
            tracing::info!(operator = %op.id, "desk: signed in (single sign-on)");
            set_cookie = Some(session::set_cookie(&id, desk.cfg.session_absolute_secs));
            current = Some((id, s));
        }
    }
    let (lang, asked) = language(&req, current.as_ref().map(|(_, s)| s));
    if let (Some(l), Some((id, _))) = (asked, &current) {
        desk.sessions().set_lang(id, l);
    }
    if path == "/desk/signin" {
        let ended = req.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "ended")
                .map(|(_, v)| v.into_owned())
        });
        let t = page::texts(lang);
        let notice = match ended.as_deref() {
            Some("idle") => Some((t.ended_idle, true)),
            Some("expired") => Some((t.ended_expired, true)),
            Some("unknown") => Some((t.ended_unknown, true)),
            _ => None,
        };
        return match method {
            Method::GET => signin_form(desk, lang, current, notice),
            Method::POST => signin(state, peer, lang, current, req).await,
            _ => response::method_not_allowed("GET, POST"),
        };
    }
    // Everything else needs a signed-in operator.
    let signed = match current {
        Some((id, s)) if s.operator.is_some() => {
            let op_id = s.operator.clone().unwrap_or_default();
            match desk.store.by_id(&op_id) {
                Ok(Some(op)) if !op.disabled => Signed {
                    id,
                    session: s,
                    operator_id: op.id,
                    name: op.name,
                    set_cookie,
                },
                Ok(_) => {
                    desk.sessions().end_operator(&op_id);
                    tracing::info!(operator = %op_id, "desk: session ended: account disabled");
                    let t = page::texts(lang);
                    return with_cookie(
                        response::html(
                            StatusCode::FORBIDDEN,
                            page::message(lang, t.signin_heading, t.disabled, None, "bad"),
                        ),
                        Some(&session::clear_cookie()),
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "desk: operator store unreadable");
                    return response::text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the operator store cannot be read; see the daemon's log",
                    );
                }
            }
        }
        _ => {
            if method == Method::POST {
                // A form posted without a live session has no valid token.
                return csrf_refused(lang, None);
            }
            let notice = match missing {
                Missing::Idle => "?ended=idle",
                Missing::Expired => "?ended=expired",
                Missing::Unknown => "?ended=unknown",
                Missing::None => "",
            };
            return see_other(&format!("/desk/signin{notice}"));
        }
    };
    let answer = match (method.clone(), path.as_str()) {
        (Method::POST, "/desk/register") => register_upload(state, lang, &signed, req).await,
        (Method::POST, "/desk/register/batch") => batch::upload(state, lang, &signed, req).await,
        (Method::POST, "/desk/replace-scan") => replace_scan_post(state, lang, &signed, req).await,
        (Method::POST, _) => {
            let form = match form_body(req).await {
                Ok(f) => f,
                Err(e) => return response::text(StatusCode::BAD_REQUEST, &e),
            };
            if !session::csrf_ok(&signed.session, field(&form, "csrf")) {
                tracing::warn!(operator = %signed.operator_id, route = classify(&path), "desk: form without a valid CSRF token refused");
                return csrf_refused(lang, Some(&signed.who()));
            }
            match path.as_str() {
                "/desk/signout" => signout(desk, lang, &signed),
                "/desk/fixity" => fixity_start(state, &signed),
                "/desk/fix" => fix_post(state, lang, &signed, &form).await,
                "/desk/quarantine" => quarantine_post(state, lang, &signed, &form).await,
                "/desk/quarantine/assign" => assign::commit(state, lang, &signed, &form).await,
                "/desk/register/commit" => register_commit(state, lang, &signed, &form).await,
                "/desk/register/batch/commit" => batch::commit(state, lang, &signed, &form).await,
                _ => not_found(lang, &signed),
            }
        }
        (Method::GET, "/desk/") => home(lang, &signed),
        (Method::GET, "/desk/status") => status_page(state, lang, &signed).await,
        (Method::GET, "/desk/register") => register_edit(state, lang, &signed, req.uri().query()),
        (Method::GET, "/desk/register/batch") => {
            batch::form_page(lang, &signed, None, StatusCode::OK)
        }
        (Method::GET, "/desk/register/batch/result") => {
            batch::result_page_again(state, lang, &signed, req.uri().query())
        }
        (Method::GET, "/desk/register/batch/result.csv") => {
            batch::result_download(state, lang, &signed, req.uri().query())
        }
        (Method::GET, p) if p.starts_with("/desk/print-bundle/") => {
            pdf_download(
                state,
                &signed,
                "print-bundle",
                p["/desk/print-bundle/".len()..].to_string(),
            )
            .await
        }
        (Method::GET, p) if p.starts_with("/desk/cover-sheet/") => {
            pdf_download(
                state,
                &signed,
                "cover-sheet",
                p["/desk/cover-sheet/".len()..].to_string(),
            )
            .await
        }
        (Method::GET, "/desk/quarantine") => {
            quarantine_page(state, lang, &signed, req.uri().query())
        }
        (Method::GET, "/desk/quarantine/page1") => {
            assign::preview(state, lang, &signed, req.uri().query()).await
        }
        (Method::GET, "/desk/quarantine/registered-page1") => {
            assign::registered_preview(state, lang, &signed, req.uri().query()).await
        }
        (Method::GET, "/desk/quarantine/assign") => {
            assign::confirm(state, lang, &signed, req.uri().query()).await
        }
        (Method::GET, "/desk/fix") => fix_confirm(state, lang, &signed, req.uri().query()),
        (Method::GET, p) if p.starts_with("/desk/certificate/") => certificate_page(
            state,
            lang,
            &signed,
            &p["/desk/certificate/".len()..],
            None,
            StatusCode::OK,
        ),
        (Method::GET, "/desk/replace-scan") => {
            replace_scan_confirm(state, lang, &signed, req.uri().query())
        }
        (Method::GET, "/desk/watch") => see_other("/desk/watch/awaiting"),
        (Method::GET, p) if p.starts_with("/desk/watch/") => {
            match watch::List::parse(&p["/desk/watch/".len()..]) {
                Some(list) => watch_page(state, lang, &signed, list, req.uri().query()),
                None => not_found(lang, &signed),
            }
        }
        (Method::GET, _) => not_found(lang, &signed),
        _ => response::method_not_allowed("GET, POST"),
    };
    with_cookie(answer, signed.set_cookie.as_deref())
}

fn not_found(lang: Lang, signed: &Signed) -> Resp {
    let text = match lang {
        Lang::De => "Diese Seite gibt es nicht.",
        Lang::En => "There is no such page.",
    };
    response::html(
        StatusCode::NOT_FOUND,
        page::message(lang, text, text, Some(&signed.who()), "warn"),
    )
}

/// `GET /desk/signin`: the form, in a fresh pre-sign-in session (its CSRF
/// token protects the sign-in form too).
fn signin_form(
    desk: &Desk,
    lang: Lang,
    current: Option<(String, Session)>,
    message: Option<(&str, bool)>,
) -> Resp {
    let (cookie, session) = match current {
        Some((_, s)) if s.operator.is_some() => return see_other("/desk/"),
        Some((_, s)) => (None, s),
        None => {
            let (id, s) = desk.sessions().start(None, Some(lang), Instant::now());
            (
                Some(session::set_cookie(&id, desk.cfg.session_absolute_secs)),
                s,
            )
        }
    };
    with_cookie(
        response::html(
            StatusCode::OK,
            page::signin(lang, &session.csrf, message, ""),
        ),
        cookie.as_deref(),
    )
}

/// `POST /desk/signin`: checks the CSRF token, the lock-outs and the
/// password; on success a new session id (no fixation) for the operator.
async fn signin(
    state: &AppState,
    peer: IpAddr,
    lang: Lang,
    current: Option<(String, Session)>,
    req: Request<Incoming>,
) -> Resp {
    let desk = &state.desk;
    let client = super::limits::client_ip(peer, req.headers(), &state.cfg.trusted_proxies);
    let Some((old_id, session)) = current else {
        return csrf_refused(lang, None);
    };
    let form = match form_body(req).await {
        Ok(f) => f,
        Err(e) => return response::text(StatusCode::BAD_REQUEST, &e),
    };
    if !session::csrf_ok(&session, field(&form, "csrf")) {
        tracing::warn!("desk: sign-in form without a valid CSRF token refused");
        return csrf_refused(lang, None);
    }
    let lang = field(&form, "lang").and_then(Lang::parse).unwrap_or(lang);
    let t = page::texts(lang);
    let name = field(&form, "name").unwrap_or("").trim().to_string();
    let password = field(&form, "password").unwrap_or("").to_string();
    let again = |status: StatusCode, text: &str| {
        response::html(
            status,
            page::signin(lang, &session.csrf, Some((text, true)), &name),
        )
    };
    if desk.clients().locked(client, Instant::now()).is_some() {
        tracing::warn!("desk: sign-in refused: client address locked out");
        return again(StatusCode::TOO_MANY_REQUESTS, t.locked);
    }
    let store = desk.store.clone();
    let (max, lockout_s) = (desk.cfg.account_failures_max, desk.cfg.lockout_secs as i64);
    let checked = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = store.sign_in(&name, &password, max, lockout_s);
            let id = store.by_name(&name).ok().flatten().map(|o| o.id);
            (outcome, id)
        })
        .await
    };
    let (outcome, op_id) = match checked {
        Ok((Ok(o), id)) => (o, id),
        Ok((Err(e), _)) => {
            tracing::error!(error = %e, "desk: operator store unreadable");
            return response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the operator store cannot be read; see the daemon's log",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "desk: sign-in task failed");
            return response::text(StatusCode::INTERNAL_SERVER_ERROR, "sign-in failed");
        }
    };
    let op = op_id.as_deref().unwrap_or("-");
    match outcome {
        SignIn::Ok(id) => {
            desk.clients().succeeded(client);
            let mut sessions = desk.sessions();
            sessions.end(&old_id);
            let (new_id, _) = sessions.start(Some(id.clone()), Some(lang), Instant::now());
            drop(sessions);
            tracing::info!(operator = %id, "desk: signed in");
            with_cookie(
                see_other("/desk/"),
                Some(&session::set_cookie(
                    &new_id,
                    desk.cfg.session_absolute_secs,
                )),
            )
        }
        SignIn::Wrong => {
            let locked = desk.clients().failed(client, Instant::now());
            tracing::warn!(
                operator = op,
                "desk: sign-in failed: wrong name or password"
            );
            if locked {
                tracing::warn!("desk: client address locked out after repeated failed sign-ins");
            }
            again(StatusCode::UNAUTHORIZED, t.wrong)
        }
        SignIn::Locked(_) => {
            desk.clients().failed(client, Instant::now());
            tracing::warn!(operator = op, "desk: sign-in refused: account locked out");
            again(StatusCode::TOO_MANY_REQUESTS, t.locked)
        }
        SignIn::Disabled => {
            desk.clients().failed(client, Instant::now());
            tracing::warn!(operator = op, "desk: sign-in refused: account disabled");
            again(StatusCode::FORBIDDEN, t.disabled)
        }
    }
}

/// `POST /desk/signout`.
fn signout(desk: &Desk, lang: Lang, signed: &Signed) -> Resp {
    desk.sessions().end(&signed.id);
    tracing::info!(operator = %signed.operator_id, "desk: signed out");
    let t = page::texts(lang);
    let (id, s) = desk.sessions().start(None, Some(lang), Instant::now());
    with_cookie(
        response::html(
            StatusCode::OK,
            page::signin(lang, &s.csrf, Some((t.signed_out, false)), ""),
        ),
        Some(&session::set_cookie(&id, desk.cfg.session_absolute_secs)),
    )
}

/// `GET /desk/`: the overview.
fn home(lang: Lang, signed: &Signed) -> Resp {
    let t = page::texts(lang);
    let mut body = format!("<p>{}</p>\n<ul>\n", escape(t.home_intro));
    for list in [
        watch::List::Awaiting,
        watch::List::Waiting,
        watch::List::Quarantine,
        watch::List::Archived,
    ] {
        let slug = list.slug();
        body.push_str(&format!(
            "<li><a href=\"/desk/watch/{slug}\">{}</a></li>\n",
            escape(watch::title(list, lang))
        ));
    }
    body.push_str(&format!(
        "<li><a href=\"/desk/status\">{}</a></li>\n<li><a href=\"/desk/register\">{}</a></li>\n<li><a href=\"/desk/register/batch\">{}</a></li>\n</ul>\n<h2>{}</h2>\n{}",
        escape(t.nav_status),
        match lang {
            Lang::De => "Zeugnis registrieren",
            Lang::En => "Register a certificate",
        },
        match lang {
            Lang::De => "Stapel registrieren (CSV oder JSON Lines und Zip der PDFs)",
            Lang::En => "Register a batch (CSV or JSON lines and a zip of the PDFs)",
        },
        match lang {
            Lang::De => "Korrigieren",
            Lang::En => "Correct",
        },
        fix::chooser(lang)
    ));
    response::html(
        StatusCode::OK,
        page::frame(lang, t.home_heading, "/desk/", Some(&signed.who()), &body),
    )
}

/// What the registration page shows: the form's values and problems,
/// the PDF kept from an upload being changed, an error from the last try.
#[derive(Default)]
struct RegisterView {
    /// The field form's values.
    values: record_form::Values,
    /// Problems at the field form's fields.
    problems: Vec<record_form::FieldProblem>,
    /// The token and PDF name of the upload being changed.
    kept: Option<(String, String)>,
    /// An error of the record-file upload or of the commit.
    error: Option<String>,
    /// A notice above the form (a correction in progress).
    notice: Option<String>,
}

impl RegisterView {
    /// An empty form: the institution from the branding, a German
    /// transcript.
    fn fresh(state: &AppState) -> RegisterView {
        let mut values = record_form::Values::new();
        if let Some(i) = &state.cfg.branding.institution {
            values.insert("institution".into(), i.clone());
        }
        values.insert("kind".into(), "transcript".into());
        values.insert("language".into(), "de".into());
        RegisterView {
            values,
            ..RegisterView::default()
        }
    }

    fn error(state: &AppState, e: impl Into<String>) -> RegisterView {
        RegisterView {
            error: Some(e.into()),
            ..RegisterView::fresh(state)
        }
    }
}

/// The registration page: the form with the record's fields, and the
/// upload of a record file (JSON) below it.
fn register_page(lang: Lang, signed: &Signed, view: &RegisterView, status: StatusCode) -> Resp {
    let title = match lang {
        Lang::De => "Zeugnis registrieren",
        Lang::En => "Register a certificate",
    };
    let mut body = String::new();
    if let Some(n) = &view.notice {
        body.push_str(&format!(
            "<p class=\"status warn\" role=\"status\">{}</p>\n",
            escape(n)
        ));
    }
    if let Some(e) = &view.error {
        body.push_str(&format!(
            "<p class=\"status bad\" role=\"alert\">{}</p>\n",
            escape(e)
        ));
    }
    body.push_str(&record_form::form(
        lang,
        &signed.session.csrf,
        &view.values,
        &view.problems,
        view.kept.as_ref().map(|(t, n)| (t.as_str(), n.as_str())),
    ));
    body.push_str(&register::upload_form(lang, &signed.session.csrf));
    body.push_str(&batch::link(lang));
    response::html(
        status,
        page::frame(lang, title, "/desk/register", Some(&signed.who()), &body),
    )
}

/// `GET /desk/register` (`?edit=TOKEN`: the form refilled from an upload
/// under review, to change it; its PDF is kept unless another is chosen).
fn register_edit(state: &AppState, lang: Lang, signed: &Signed, query: Option<&str>) -> Resp {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    if let Some(old) = field(&pairs, "supersedes") {
        return register_correction(state, lang, signed, old);
    }
    let token = field(&pairs, "edit").unwrap_or("");
    if token.is_empty() {
        return register_page(lang, signed, &RegisterView::fresh(state), StatusCode::OK);
    }
    let pending = state.desk.pending.lock().unwrap_or_else(|p| p.into_inner());
    match pending.peek(&signed.operator_id, token, Instant::now()) {
        Some(p) => {
            let view = RegisterView {
                values: p
                    .form
                    .clone()
                    .unwrap_or_else(|| record_form::values_of(&p.record, p.supersedes.as_deref())),
                kept: p
                    .documents
                    .first()
                    .map(|d| (token.to_string(), d.name.clone())),
                ..RegisterView::default()
            };
            register_page(lang, signed, &view, StatusCode::OK)
        }
        None => register_page(
            lang,
            signed,
            &RegisterView::error(state, expired_text(lang)),
            StatusCode::CONFLICT,
        ),
    }
}

/// `GET /desk/register?supersedes=CODE` (the certificate page's
/// "Correct"): the form filled with the record as registered and the
/// code to supersede, for the clerk to correct and add the corrected PDF.
fn register_correction(state: &AppState, lang: Lang, signed: &Signed, old: &str) -> Resp {
    let cert = match state.reader.find(old) {
        Ok(c) => c,
        Err(e) => return registry_failure(lang, signed, &e),
    };
    let record = crate::codes::Code::parse(&cert.code).ok().and_then(|c| {
        state
            .reader
            .registration_record(&c, None, &cert)
            .ok()
            .flatten()
    });
    let code = watch::formatted(&cert.code);
    let mut view = match &record {
        Some(r) => RegisterView {
            values: record_form::values_of(r, Some(&code)),
            ..RegisterView::default()
        },
        None => {
            let mut v = RegisterView::fresh(state);
            v.values.insert("supersedes".into(), code.clone());
            v
        }
    };
    view.notice = Some(match lang {
        Lang::De => format!("Berichtigung von {code}: korrigieren Sie die Angaben und wählen Sie das berichtigte PDF. Das alte Zeugnis wird als ersetzt markiert und verweist auf das neue, das einen neuen Code bekommt."),
        Lang::En => format!("Correction of {code}: correct the data and choose the corrected PDF. The old certificate is marked superseded and points to the new one, which gets a new code."),
    });
    register_page(lang, signed, &view, StatusCode::OK)
}

fn expired_text(lang: Lang) -> &'static str {
    match lang {
        Lang::De => {
            "Diese Registrierung ist abgelaufen oder schon gespeichert; bitte erneut hochladen."
        }
        Lang::En => "This registration expired or was already stored; please upload it again.",
    }
}

/// The text fields of the registration's multipart form (each at most
/// [`crate::registry::RECORD_FILE_BYTES_MAX`] bytes).
const REGISTER_TEXT_FIELDS: [&str; 18] = [
    "csrf",
    "mode",
    "upload",
    "supersedes",
    "institution",
    "kind",
    "language",
    "given_name",
    "family_name",
    "birth_date",
    "birth_place",
    "student_id",
    "email",
    "degree",
    "programme",
    "last_exam_date",
    "ruleset",
    "grades",
];

/// Parts of the registration's multipart form at most: its text fields
/// and up to [`super::admin::ADMIN_FIELDS_MAX`] files.
const REGISTER_FIELDS_MAX: usize = REGISTER_TEXT_FIELDS.len() + super::admin::ADMIN_FIELDS_MAX;

/// The checks between the record and the review: the grade computed, the
/// certificate to supersede found, every PDF parsed. Gives the grade
/// record and the warnings, or the problem at its field.
fn review_checks(
    state: &AppState,
    lang: Lang,
    record: &crate::registry::RegistrationRecord,
    supersedes: Option<&str>,
    documents: &[crate::registry::DocumentFile],
) -> Result<(Option<serde_json::Value>, Vec<String>), record_form::FieldProblem> {
    let problem = |field: &str, message: String| record_form::FieldProblem {
        field: field.into(),
        message,
    };
    let grade = match &record.grades {
        None => None,
        Some(input) => match crate::grades::evaluate(input) {
            Ok(g) => Some(serde_json::to_value(&g).expect("a grade record serialises")),
            Err(e) => return Err(problem("grades", format!("grades: {e}"))),
        },
    };
    let mut warnings = Vec::new();
    if let Some(old) = supersedes {
        let cert = state
            .reader
            .find(old)
            .map_err(|e| problem("supersedes", format!("supersedes: {e}")))?;
        let code = watch::formatted(&cert.code);
        warnings.push(match lang {
            Lang::De => format!("Ersetzt {code}: das alte Zeugnis wird als ersetzt markiert und verweist auf das neue; das neue bekommt einen neuen Code. Nicht umkehrbar."),
            Lang::En => format!("Supersedes {code}: the old certificate is marked superseded and points to the new one, which gets a new code. Cannot be undone."),
        });
    }
    if documents.is_empty() {
        return Err(problem("document", "document: no PDF chosen".into()));
    }
    for d in documents {
        match crate::document::inspect(&d.name, &d.bytes) {
            Ok(facts) => warnings.extend(facts.warning(&d.name)),
            Err(e) => return Err(problem("document", e.to_string())),
        }
    }
    Ok((grade, warnings))
}

/// `POST /desk/register` (multipart, `csrf` first): either the form's
/// fields (`mode=fields`, the record's fields, `ruleset`, `grades`, a
/// `document` or the `upload` being changed) or a record file (`record`,
/// `document`). Checks the token, then the record, the grade and the PDF,
/// and shows them for review; a problem with the fields sends the form
/// back refilled, with each problem at its field. Nothing is written.
async fn register_upload(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    req: Request<Incoming>,
) -> Resp {
    let text_max = crate::registry::RECORD_FILE_BYTES_MAX as u64;
    let field_limits: Vec<(&str, u64)> = std::iter::once("record")
        .chain(REGISTER_TEXT_FIELDS)
        .map(|n| (n, text_max))
        .collect();
    let limits = multipart::Limits {
        body_bytes_max: state.cfg.admin_body_bytes_max,
        field_bytes_max: &field_limits,
        fields_max: REGISTER_FIELDS_MAX,
    };
    let parts = match multipart::parts(req, &limits).await {
        Ok(Some(p)) => p,
        Ok(None) => return csrf_refused(lang, Some(&signed.who())),
        Err(e) => {
            return register_page(
                lang,
                signed,
                &RegisterView::error(state, e.message.clone()),
                e.status(),
            )
        }
    };
    let failed = |e: String| {
        register_page(
            lang,
            signed,
            &RegisterView::error(state, e),
            StatusCode::BAD_REQUEST,
        )
    };
    let (mut record, mut documents) = (None, Vec::new());
    let mut values = record_form::Values::new();
    for part in parts {
        match part.name.as_str() {
            "record" if !part.bytes.is_empty() => record = Some(part.bytes),
            "document" if !part.bytes.is_empty() => documents.push(crate::registry::DocumentFile {
                name: part.file_name.unwrap_or_else(|| "document.pdf".into()),
                bytes: part.bytes.to_vec(),
            }),
            n if REGISTER_TEXT_FIELDS.contains(&n) => {
                values.insert(part.name, String::from_utf8_lossy(&part.bytes).into_owned());
            }
            _ => {}
        }
    }
    if !session::csrf_ok(&signed.session, values.get("csrf").map(String::as_str)) {
        tracing::warn!(operator = %signed.operator_id, route = "desk_register", "desk: form without a valid CSRF token refused");
        return csrf_refused(lang, Some(&signed.who()));
    }
    values.remove("csrf");
    let supersedes = values
        .get("supersedes")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let by_fields = values.get("mode").map(String::as_str) == Some("fields");
    let (record, form, grade, warnings) = if by_fields {
        // The PDF of the upload being changed, unless another was chosen.
        let token = values.get("upload").cloned().unwrap_or_default();
        let kept = (!token.is_empty())
            .then(|| {
                let pending = state.desk.pending.lock().unwrap_or_else(|p| p.into_inner());
                pending
                    .peek(&signed.operator_id, &token, Instant::now())
                    .and_then(|p| {
                        p.documents
                            .first()
                            .map(|d| (token.clone(), d.name.clone(), p.documents.clone()))
                    })
            })
            .flatten();
        if documents.is_empty() {
            if let Some((_, _, kept_documents)) = &kept {
                documents = kept_documents.clone();
            }
        }
        let checked = record_form::record_from_form(&values).and_then(|r| {
            review_checks(state, lang, &r, supersedes.as_deref(), &documents)
                .map(|(grade, warnings)| (r, grade, warnings))
                .map_err(|p| vec![p])
        });
        match checked {
            Ok((r, grade, warnings)) => (r, Some(values), grade, warnings),
            Err(problems) => {
                let view = RegisterView {
                    kept: kept.map(|(t, n, _)| (t, n)),
                    values,
                    problems,
                    ..RegisterView::default()
                };
                return register_page(lang, signed, &view, StatusCode::BAD_REQUEST);
            }
        }
    } else {
        let Some(record) = record else {
            return failed("record: no file".into());
        };
        let record = match crate::registry::RegistrationRecord::parse("record", &record) {
            Ok(r) => r,
            Err(e) => return failed(e.to_string()),
        };
        match review_checks(state, lang, &record, supersedes.as_deref(), &documents) {
            Ok((grade, warnings)) => (record, None, grade, warnings),
            Err(p) => return failed(p.message),
        }
    };
    let title = match lang {
        Lang::De => "Angaben prüfen",
        Lang::En => "Review the data",
    };
    let sizes: Vec<(String, usize)> = documents
        .iter()
        .map(|d| (d.name.clone(), d.bytes.len()))
        .collect();
    let body_record = record.clone();
    let token = state
        .desk
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .put(
            &signed.operator_id,
            register::Upload {
                record,
                documents,
                supersedes,
                form,
            },
            Instant::now(),
        );
    response::html(
        StatusCode::OK,
        page::frame(
            lang,
            title,
            "/desk/register",
            Some(&signed.who()),
            &register::preview(
                lang,
                &signed.session.csrf,
                &token,
                &body_record,
                grade.as_ref(),
                &sizes,
                &warnings,
            ),
        ),
    )
}

/// `POST /desk/register/commit` (`csrf`, `upload`): registers the reviewed
/// upload through [`write`]; then code, key, link and the downloads.
async fn register_commit(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    form: &[(String, String)],
) -> Resp {
    let token = field(form, "upload").unwrap_or("");
    let pending = state
        .desk
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take(&signed.operator_id, token, Instant::now());
    let Some(p) = pending else {
        return register_page(
            lang,
            signed,
            &RegisterView::error(state, expired_text(lang)),
            StatusCode::CONFLICT,
        );
    };
    let action = if p.supersedes.is_some() {
        "supersede"
    } else {
        "register"
    };
    let result = write(state, signed, action, move |r| match &p.supersedes {
        Some(old) => r.supersede(old, &p.record, &p.documents),
        None => r.register_with(
            &p.record,
            &p.documents,
            &crate::registry::RegisterOptions::default(),
        ),
    })
    .await;
    let title = match lang {
        Lang::De => "Zeugnis registriert",
        Lang::En => "Certificate registered",
    };
    match result {
        Ok(issued) => response::html(
            StatusCode::CREATED,
            page::frame(
                lang,
                title,
                "/desk/register",
                Some(&signed.who()),
                &register::done(lang, &issued),
            ),
        ),
        Err(e) => register_page(
            lang,
            signed,
            &RegisterView::error(state, e.to_string()),
            super::admin::registry_error(&e).status(),
        ),
    }
}

/// `GET /desk/print-bundle/{code}` and `GET /desk/cover-sheet/{code}`: the
/// PDFs of the admin API's routes of the same name.
async fn pdf_download(state: &AppState, signed: &Signed, what: &'static str, code: String) -> Resp {
    let result = state
        .with_registry(move |r| {
            if what == "print-bundle" {
                r.print_bundle(&code)
            } else {
                r.cover_sheet(&code)
            }
        })
        .await;
    match result {
        Ok((code, pdf)) => {
            tracing::info!(operator = %signed.operator_id, what, "desk: PDF downloaded");
            let mut r = response::bytes(StatusCode::OK, "application/pdf", pdf);
            response::set(
                &mut r,
                header::CONTENT_DISPOSITION,
                &format!("attachment; filename=\"{what}-{code}.pdf\""),
            );
            r
        }
        Err(e) => super::admin::registry_error(&e),
    }
}

/// The quarantine reason of `file`, as the status report reads it.
fn quarantine_reason(state: &AppState, file: &str) -> Option<String> {
    crate::report::quarantined(&state.cfg.scans_dir)
        .into_iter()
        .find(|q| q.file == file)
        .map(|q| q.reason)
}

fn quarantine_title(lang: Lang) -> &'static str {
    match lang {
        Lang::De => "Scan in Quarantäne",
        Lang::En => "Quarantined scan",
    }
}

/// `GET /desk/quarantine?file=`: one quarantined file and its actions.
fn quarantine_page(state: &AppState, lang: Lang, signed: &Signed, query: Option<&str>) -> Resp {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let file = field(&pairs, "file").unwrap_or("").to_string();
    let Some(reason) = quarantine_reason(state, &file) else {
        return not_found(lang, signed);
    };
    response::html(
        StatusCode::OK,
        page::frame(
            lang,
            quarantine_title(lang),
            "/desk/watch/quarantine",
            Some(&signed.who()),
            &with_assign_section(
                &watch::quarantine_actions(lang, &signed.session.csrf, &file, &reason),
                &assign::section(lang, &file),
            ),
        ),
    )
}

/// The quarantine entry's page: what is wrong (the first `<dl>`), then the
/// assignment (picture and code form), then retry and delete.
fn with_assign_section(actions: &str, section: &str) -> String {
    let at = actions.find("</dl>\n").map_or(0, |i| i + "</dl>\n".len());
    format!("{}{section}{}", &actions[..at], &actions[at..])
}

/// `POST /desk/quarantine` (`file`, `action` `retry` or `delete`,
/// `reason` for a deletion): moves the file back into the inbox, or
/// deletes it and notes who, when and why.
async fn quarantine_post(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    form: &[(String, String)],
) -> Resp {
    let file = field(form, "file").unwrap_or("").to_string();
    let action = field(form, "action").unwrap_or("").to_string();
    let reason = field(form, "reason").unwrap_or("").to_string();
    let quarantine_reason = quarantine_reason(state, &file).unwrap_or_default();
    let inbox = state.cfg.scans_dir.clone();
    let operator = signed.operator_id.clone();
    let act = action.clone();
    let done = tokio::task::spawn_blocking(move || match act.as_str() {
        "retry" => crate::scans::requeue::retry(&inbox, &file).map(|_| ()),
        "delete" => {
            crate::scans::requeue::delete(&inbox, &file, &operator, &reason, &quarantine_reason)
        }
        other => Err(crate::scans::requeue::RequeueError::BadName(format!(
            "action {other}"
        ))),
    })
    .await;
    let de = lang == Lang::De;
    match done {
        Ok(Ok(())) => {
            tracing::info!(operator = %signed.operator_id, action = %action, "desk: quarantined scan handled");
            let text = match (action.as_str(), de) {
                ("retry", true) => {
                    "Die Datei liegt wieder im Eingang und wird gleich noch einmal verarbeitet."
                }
                ("retry", false) => {
                    "The file is back in the inbox and will be processed again shortly."
                }
                (_, true) => "Die Datei ist gelöscht.",
                (_, false) => "The file is deleted.",
            };
            response::html(
                StatusCode::OK,
                page::message(
                    lang,
                    quarantine_title(lang),
                    text,
                    Some(&signed.who()),
                    "ok",
                ),
            )
        }
        Ok(Err(e)) => {
            let status = match e {
                crate::scans::requeue::RequeueError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                crate::scans::requeue::RequeueError::Missing(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            response::html(
                status,
                page::message(
                    lang,
                    quarantine_title(lang),
                    &e.to_string(),
                    Some(&signed.who()),
                    "bad",
                ),
            )
        }
        Err(e) => response::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("task failed: {e}"),
        ),
    }
}

/// `GET /desk/fix?code=&action=`: the confirmation page (nothing changes).
fn fix_confirm(state: &AppState, lang: Lang, signed: &Signed, query: Option<&str>) -> Resp {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let Some(action) = field(&pairs, "action").and_then(fix::Action::parse) else {
        return not_found(lang, signed);
    };
    let code = field(&pairs, "code").unwrap_or("").trim().to_string();
    let cert = match state.reader.find(&code) {
        Ok(c) => c,
        Err(e) => return registry_failure(lang, signed, &e),
    };
    let body = fix::confirm(lang, &signed.session.csrf, action, &cert, None);
    response::html(
        StatusCode::OK,
        page::frame(
            lang,
            action.title(lang),
            "/desk/",
            Some(&signed.who()),
            &body,
        ),
    )
}

/// `POST /desk/fix` from the confirmation page: the correction, through
/// [`write`]; a refusal shows the confirmation page again with the error.
async fn fix_post(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    form: &[(String, String)],
) -> Resp {
    let request = match fix::parse_form(lang, form) {
        Ok(r) => r,
        Err(e) => {
            return response::html(
                StatusCode::BAD_REQUEST,
                page::message(lang, &e, &e, Some(&signed.who()), "bad"),
            )
        }
    };
    let action = request.action;
    let code = request.code.clone();
    let result = write(state, signed, action.name(), move |r| {
        super::admin::end_certificate(
            r,
            &request.code,
            request.action.name(),
            &request.reason,
            request.effective_date.as_deref(),
            request.category,
        )
    })
    .await;
    match result {
        Ok((cert, seq)) => response::html(
            StatusCode::OK,
            page::frame(
                lang,
                action.title(lang),
                "/desk/",
                Some(&signed.who()),
                &fix::done(lang, action, &cert, seq),
            ),
        ),
        Err(e) => match state.reader.find(&code) {
            Ok(cert) => {
                let status = super::admin::registry_error(&e).status();
                let body = fix::confirm(
                    lang,
                    &signed.session.csrf,
                    action,
                    &cert,
                    Some(&e.to_string()),
                );
                response::html(
                    status,
                    page::frame(
                        lang,
                        action.title(lang),
                        "/desk/",
                        Some(&signed.who()),
                        &body,
                    ),
                )
            }
            Err(_) => registry_failure(lang, signed, &e),
        },
    }
}

/// `GET /desk/watch/{awaiting|waiting|quarantine|archived}?q=&page=`.
fn watch_page(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    list: watch::List,
    query: Option<&str>,
) -> Resp {
    let query = watch::Query::parse(query);
    let (rows, more) = match watch::rows(state, list, &query, lang) {
        Ok(x) => x,
        Err(e) => return registry_failure(lang, signed, &e),
    };
    let body = watch::body(list, &query, lang, &rows, more);
    let path = format!("/desk/watch/{}", list.slug());
    response::html(
        StatusCode::OK,
        page::frame(
            lang,
            watch::title(list, lang),
            &path,
            Some(&signed.who()),
            &body,
        ),
    )
}

/// `GET /desk/status`: the status report (as `GET /admin/v1/status`),
/// the fixity audit's last result, its progress and the start button.
async fn status_page(state: &AppState, lang: Lang, signed: &Signed) -> Resp {
    let report = match super::admin::status_report(state).await {
        Ok(r) => r,
        Err(e) => return registry_failure(lang, signed, &e),
    };
    let (running, checked_bytes, total_bytes) = state.fixity.progress();
    let last_error = state
        .fixity
        .last()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string));
    let view = page::FixityView {
        running,
        checked_bytes,
        total_bytes,
        last_error,
    };
    response::html(
        StatusCode::OK,
        page::status(lang, &signed.who(), &report, &view),
    )
}

/// A registry error as a page (the message names the problem).
fn registry_failure(lang: Lang, signed: &Signed, e: &RegistryError) -> Resp {
    let status = super::admin::registry_error(e).status();
    let heading = match lang {
        Lang::De => "Nicht möglich",
        Lang::En => "Not possible",
    };
    response::html(
        status,
        page::message(lang, heading, &e.to_string(), Some(&signed.who()), "bad"),
    )
}

/// `POST /desk/fixity`: starts a fixity audit (the same background run as
/// `POST /admin/v1/fixity`), then back to the status page, which shows
/// its progress.
fn fixity_start(state: &AppState, signed: &Signed) -> Resp {
    if super::admin::start_fixity(state, Some(&signed.operator_id)) {
        tracing::info!(operator = %signed.operator_id, action = "fixity", "desk: fixity audit started");
    }
    see_other("/desk/status#fixity")
}

/// Operator id → name, from the operator store (empty, and logged, when
/// the store cannot be read: the page then shows ids).
fn operator_names(desk: &Desk) -> std::collections::HashMap<String, String> {
    match desk.store.list() {
        Ok(ops) => ops.into_iter().map(|o| (o.id, o.name)).collect(),
        Err(e) => {
            tracing::error!(error = %e, "desk: operator store unreadable; the history shows ids");
            std::collections::HashMap::new()
        }
    }
}

/// `GET /desk/certificate/{code}`: state, documents, scans and the history
/// with who wrote each record (no holder data: read without a key).
fn certificate_page(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    code: &str,
    notice: Option<&str>,
    status: StatusCode,
) -> Resp {
    if code.is_empty() || code.len() > fix::CODE_FIELD_BYTES_MAX {
        return not_found(lang, signed);
    }
    // `find`, not `show`: a key typed after the code is ignored, so the
    // page never even decrypts holder data.
    let cert = match state.reader.find(code).and_then(|mut c| {
        c.events = state.reader.events(&c)?;
        Ok(c)
    }) {
        Ok(c) => c,
        Err(e) => return registry_failure(lang, signed, &e),
    };
    let names = operator_names(&state.desk);
    let path = certificate::href(&cert.code);
    response::html(
        status,
        page::frame(
            lang,
            &format!(
                "{} {}",
                certificate::title(lang),
                watch::formatted(&cert.code)
            ),
            &path,
            Some(&signed.who()),
            &certificate::body(lang, &cert, &names, notice),
        ),
    )
}

/// `GET /desk/replace-scan?code=`: the confirmation page with the upload
/// form (nothing changes).
fn replace_scan_confirm(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    query: Option<&str>,
) -> Resp {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let code = field(&pairs, "code").unwrap_or("").trim().to_string();
    if code.is_empty() || code.len() > fix::CODE_FIELD_BYTES_MAX {
        return not_found(lang, signed);
    }
    let cert = match state.reader.find(&code) {
        Ok(c) => c,
        Err(e) => return registry_failure(lang, signed, &e),
    };
    replace_scan_page(state, lang, signed, &cert, None, StatusCode::OK)
}

fn replace_scan_page(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    cert: &crate::registry::Certificate,
    error: Option<&str>,
    status: StatusCode,
) -> Resp {
    response::html(
        status,
        page::frame(
            lang,
            certificate::replace_title(lang),
            "/desk/replace-scan",
            Some(&signed.who()),
            &certificate::replace_confirm(
                lang,
                &signed.session.csrf,
                cert,
                state.cfg.scan_bytes_max,
                error,
            ),
        ),
    )
}

/// `POST /desk/replace-scan` (multipart: `csrf`, `code`, `scan`, `reason`)
/// from the confirmation page: checks the CSRF token before anything
/// else, then replaces the scan through [`write`] (`Registry::replace_scan`,
/// the admin API's `POST /admin/v1/certificates/{code}/scan`) and shows the
/// certificate page; a refusal shows the confirmation page again with the
/// error.
async fn replace_scan_post(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    req: Request<Incoming>,
) -> Resp {
    let content_type = response::header_str(&req, header::CONTENT_TYPE).to_string();
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        tracing::warn!(operator = %signed.operator_id, route = "desk_replace_scan", "desk: form without a valid CSRF token refused");
        return csrf_refused(lang, Some(&signed.who()));
    };
    let max = state.cfg.admin_body_bytes_max;
    let scan_max = state.cfg.scan_bytes_max;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max)
            .for_field("csrf", 256)
            .for_field("code", fix::CODE_FIELD_BYTES_MAX as u64)
            .for_field("scan", scan_max)
            .for_field("reason", super::admin::REASON_FIELD_BYTES_MAX),
    );
    let stream = http_body_util::BodyDataStream::new(req.into_body());
    let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
    let (mut csrf, mut code, mut scan, mut reason) = (None, None, None, None);
    let mut fields = 0;
    let mut problem = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                problem = Some(format!(
                    "{e} (the scan at most {scan_max} bytes, the form at most {max} bytes)"
                ));
                break;
            }
        };
        fields += 1;
        if fields > super::admin::ADMIN_FIELDS_MAX {
            problem = Some(format!(
                "more than {} form fields",
                super::admin::ADMIN_FIELDS_MAX
            ));
            break;
        }
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => {
                problem = Some(format!(
                    "{name}: {e} (the scan at most {scan_max} bytes, the form at most {max} bytes)"
                ));
                break;
            }
        };
        let text = || String::from_utf8_lossy(&bytes).trim().to_string();
        match name.as_str() {
            "csrf" => csrf = Some(text()),
            "code" => code = Some(text()),
            "reason" => reason = Some(text()),
            "scan" if !bytes.is_empty() => {
                scan = Some((file_name.unwrap_or_else(|| "scan".into()), bytes.to_vec()))
            }
            _ => {}
        }
    }
    // The token comes first in the form; a form without it is refused
    // whatever else is wrong with it.
    if !session::csrf_ok(&signed.session, csrf.as_deref()) {
        tracing::warn!(operator = %signed.operator_id, route = "desk_replace_scan", "desk: form without a valid CSRF token refused");
        return csrf_refused(lang, Some(&signed.who()));
    }
    let code = code.unwrap_or_default();
    let cert = match state.reader.find(&code) {
        Ok(c) => c,
        Err(e) => return registry_failure(lang, signed, &e),
    };
    let de = lang == Lang::De;
    let missing = match (&scan, reason.as_deref()) {
        _ if problem.is_some() => problem,
        (None, _) => Some(
            if de {
                "Bitte die Datei des neuen Scans wählen."
            } else {
                "Please choose the new scan's file."
            }
            .to_string(),
        ),
        (_, None | Some("")) => Some(
            if de {
                "Bitte einen Grund angeben."
            } else {
                "Please give a reason."
            }
            .to_string(),
        ),
        _ => None,
    };
    if let Some(e) = missing {
        return replace_scan_page(
            state,
            lang,
            signed,
            &cert,
            Some(&e),
            StatusCode::BAD_REQUEST,
        );
    }
    let (Some((file_name, bytes)), Some(reason)) = (scan, reason) else {
        return replace_scan_page(state, lang, signed, &cert, None, StatusCode::BAD_REQUEST);
    };
    let target = cert.code.clone();
    let result = write(state, signed, "replace-scan", move |r| {
        r.replace_scan(&target, &bytes, &file_name, &reason, scan_max)
    })
    .await;
    match result {
        Ok(rep) => {
            let notice = certificate::replaced_notice(lang, &rep);
            let status = if rep.retry {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            certificate_page(state, lang, signed, &rep.code, Some(&notice), status)
        }
        Err(e) => {
            let status = super::admin::registry_error(&e).status();
            replace_scan_page(state, lang, signed, &cert, Some(&e.to_string()), status)
        }
    }
}
