//! Responses: the builders every route uses and the one place that adds the
//! security headers, applies the rate limits, the request timeout and the
//! lookup time floor, and counts the request.
//!
//! Owns: [`handle`], the entry point for every request on both listeners.
//! Must not do: look at certificate data (that is [`super::public`] and
//! [`super::admin`]); log anything from the request but its route label,
//! status and duration.

use super::limits::{self, Class};
use super::{admin, desk, public, AppState, Listener};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The body type of every response (answers are small or read whole).
pub type Body = Full<Bytes>;
/// A response.
pub type Resp = Response<Body>;

/// The Content-Security-Policy of every response: nothing but same-origin
/// stylesheets and images, no scripts at all, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers added to every response on both listeners.
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    // Verification URLs carry access keys: never leak them to other sites.
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    ),
];

/// A response with a body and a content type.
pub fn bytes(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("content types are ASCII constants"),
    );
    r
}

/// A plain-text response (a line ending is added).
pub fn text(status: StatusCode, message: &str) -> Resp {
    bytes(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

/// An HTML page.
pub fn html(status: StatusCode, page: String) -> Resp {
    bytes(status, "text/html; charset=utf-8", page)
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    let mut body = serde_json::to_vec_pretty(value).expect("a Value serialises");
    body.push(b'\n');
    bytes(status, "application/json", body)
}

/// A JSON error: `{"error": message, "reason": machine-readable reason}`.
pub fn json_error(status: StatusCode, reason: &str, message: &str) -> Resp {
    json(
        status,
        &serde_json::json!({"error": message, "reason": reason}),
    )
}

/// 405 with the allowed methods.
pub fn method_not_allowed(allow: &str) -> Resp {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed here; use {allow}"),
    );
    r.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_str(allow).expect("ASCII constant"),
    );
    r
}

/// A request header as text ("" when absent or not visible ASCII).
pub fn header_str<B>(req: &Request<B>, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Sets a header from a value that is known to be valid (ASCII we built).
pub fn set(r: &mut Resp, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub fn too_many_requests(wait: Duration) -> Resp {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut r = text(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("too many requests from your address; try again in {secs} s"),
    );
    set(&mut r, header::RETRY_AFTER, &secs.to_string());
    r
}

/// Whether a lookup's answer is a failure held to the time floor:
/// malformed or mistyped code (400), wrong or missing key (403), unknown
/// code, document or record (404). A successful lookup (200) answers as
/// soon as it is ready: its body already shows everything its timing
/// could reveal, and the key check itself is constant-time.
pub fn is_failed_lookup(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    )
}

/// Whether an admin-listener path belongs to the web desk (session
/// sign-in) rather than the bearer-token API.
pub fn is_desk(path: &str) -> bool {
    path == "/desk" || path.starts_with("/desk/")
}

fn secure(r: &mut Resp) {
    for (name, value) in SECURITY_HEADERS {
        r.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    r.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// Answers one request: rate limit, route, time limit, time floor,
/// security headers, metrics.
pub async fn handle(
    state: Arc<AppState>,
    which: Listener,
    peer: IpAddr,
    req: Request<Incoming>,
    last_on_connection: bool,
) -> Resp {
    let started = Instant::now();
    let (route, class) = match which {
        Listener::Public => public::classify(req.uri().path()),
        Listener::Admin if is_desk(req.uri().path()) => {
            (desk::classify(req.uri().path()), Class::Free)
        }
        Listener::Admin => (admin::classify(req.uri().path()), Class::Free),
    };
    let client = limits::client_ip(peer, req.headers(), &state.cfg.trusted_proxies);
    let timeout = Duration::from_millis(state.cfg.request_timeout_ms);
    let mut r = if let Err(wait) = state.limits.check(class, client) {
        state.metrics.rate_limited(route);
        too_many_requests(wait)
    } else {
        let answer = match which {
            Listener::Public => tokio::time::timeout(timeout, public::serve(&state, req)).await,
            Listener::Admin if is_desk(req.uri().path()) => {
                tokio::time::timeout(timeout, desk::serve(&state, peer, req)).await
            }
            Listener::Admin => tokio::time::timeout(timeout, admin::serve(&state, req)).await,
        };
        let answer = answer.unwrap_or_else(|_| {
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "the request took longer than {} ms and was aborted",
                    state.cfg.request_timeout_ms
                ),
            )
        });
        if class == Class::Lookup && is_failed_lookup(answer.status()) {
            // Unknown, wrong-key and malformed lookups all answer at the
            // floor (nothing is held while this task sleeps).
            let deadline = started + Duration::from_millis(state.cfg.lookup_time_floor_ms);
            if Instant::now() < deadline {
                tokio::time::sleep_until(deadline.into()).await;
            }
        }
        answer
    };
    secure(&mut r);
    if last_on_connection {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let status = r.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics
        .request(which, route, status, elapsed.as_secs_f64());
    tracing::debug!(
        listener = which.name(),
        route,
        status,
        micros = elapsed.as_micros() as u64,
        "http request"
    );
    r
}
