//! The desk's sessions and sign-in lock-out, in memory.
//!
//! Owns: the session table (random 256-bit ids, only their SHA-256 kept as
//! keys; idle and absolute timeouts; a synchroniser CSRF token per
//! session), the cookie that carries the id, and the per-client-address
//! failed sign-in counter with its cool-down. Pure apart from randomness:
//! every function takes the time `now` as an argument, so the tests play
//! the clock.
//!
//! Must not do: know passwords or accounts (that is
//! [`crate::operators`]); log a session id or a CSRF token.

use super::super::pages::Lang;
use sha2::Digest;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "zeugnis_desk";
/// Random bytes of a session id (256 bits).
pub const SESSION_ID_BYTES: usize = 32;
/// Random bytes of a CSRF token (256 bits).
pub const CSRF_TOKEN_BYTES: usize = 32;
/// Client addresses whose failed sign-ins are remembered at once; when
/// full, the entries with no lock-out running are forgotten first.
pub const CLIENTS_TRACKED_MAX: usize = 10_000;

/// One session: before sign-in it only carries the CSRF token of the
/// sign-in form (so that form is protected too); after, the operator id.
#[derive(Clone, Debug)]
pub struct Session {
    /// The signed-in operator's id; `None` before sign-in.
    pub operator: Option<String>,
    /// The synchroniser token every form of this session carries.
    pub csrf: String,
    /// The language chosen with the switch, if any.
    pub lang: Option<Lang>,
    /// When the session began (absolute timeout).
    created: Instant,
    /// The last request (idle timeout).
    seen: Instant,
}

/// Why a session cookie did not lead to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No cookie.
    None,
    /// A cookie naming no session this daemon knows: the daemon was
    /// restarted (sessions live in memory only), or the session was
    /// dropped (ended, or the table was full).
    Unknown,
    /// The session ended: idle longer than the idle timeout.
    Idle,
    /// The session ended: older than the absolute timeout.
    Expired,
}

/// The session table.
pub struct Sessions {
    /// Sessions by the SHA-256 of their id (the id itself is not kept).
    by_id: HashMap<[u8; 32], Session>,
    /// Idle timeout.
    idle: Duration,
    /// Absolute timeout.
    absolute: Duration,
    /// Most sessions at once; the least recently used goes first.
    max: usize,
}

fn digest(id: &str) -> [u8; 32] {
    sha2::Sha256::digest(id.as_bytes()).into()
}

/// `n` random bytes from the OS, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Sessions {
    /// An empty table.
    pub fn new(idle: Duration, absolute: Duration, max: usize) -> Sessions {
        Sessions {
            by_id: HashMap::new(),
            idle,
            absolute,
            max: max.max(1),
        }
    }

    /// Starts a session; returns its id (for the cookie) and the session.
    pub fn start(
        &mut self,
        operator: Option<String>,
        lang: Option<Lang>,
        now: Instant,
    ) -> (String, Session) {
        self.sweep(now);
        while self.by_id.len() >= self.max {
            let Some(oldest) = self
                .by_id
                .iter()
                .min_by_key(|(_, s)| (s.operator.is_some(), s.seen))
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.by_id.remove(&oldest);
        }
        let id = random_hex(SESSION_ID_BYTES);
        let s = Session {
            operator,
            csrf: random_hex(CSRF_TOKEN_BYTES),
            lang,
            created: now,
            seen: now,
        };
        self.by_id.insert(digest(&id), s.clone());
        (id, s)
    }

    /// The session of `id`, touched (its idle clock restarts), or why not.
    pub fn touch(&mut self, id: &str, now: Instant) -> Result<Session, Missing> {
        let key = digest(id);
        let Some(s) = self.by_id.get_mut(&key) else {
            return Err(Missing::Unknown);
        };
        if now.saturating_duration_since(s.created) > self.absolute {
            self.by_id.remove(&key);
            return Err(Missing::Expired);
        }
        if now.saturating_duration_since(s.seen) > self.idle {
            self.by_id.remove(&key);
            return Err(Missing::Idle);
        }
        s.seen = now;
        Ok(s.clone())
    }

    /// Sets the language of a session.
    pub fn set_lang(&mut self, id: &str, lang: Lang) {
        if let Some(s) = self.by_id.get_mut(&digest(id)) {
            s.lang = Some(lang);
        }
    }

    /// Ends a session.
    pub fn end(&mut self, id: &str) {
        self.by_id.remove(&digest(id));
    }

    /// Ends every session of an operator (a disabled account).
    pub fn end_operator(&mut self, operator: &str) {
        self.by_id
            .retain(|_, s| s.operator.as_deref() != Some(operator));
    }

    /// Drops ended sessions.
    pub fn sweep(&mut self, now: Instant) {
        let (idle, absolute) = (self.idle, self.absolute);
        self.by_id.retain(|_, s| {
            now.saturating_duration_since(s.created) <= absolute
                && now.saturating_duration_since(s.seen) <= idle
        });
    }

    /// Sessions open now (signed in or not).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Whether a submitted CSRF token is the session's (constant time).
pub fn csrf_ok(session: &Session, given: Option<&str>) -> bool {
    given.is_some_and(|g| {
        g.len() == session.csrf.len() && bool::from(g.as_bytes().ct_eq(session.csrf.as_bytes()))
    })
}

/// The session id from a `Cookie` header, if it carries one of ours.
pub fn cookie_id(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.trim())
        .filter(|v| v.len() == 2 * SESSION_ID_BYTES && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that stores a session id (`max_age_s`: the
/// absolute timeout, so the browser forgets it no later than we do).
pub fn set_cookie(id: &str, max_age_s: u64) -> String {
    format!(
        "{COOKIE_NAME}={id}; Path=/desk; Max-Age={max_age_s}; HttpOnly; Secure; SameSite=Strict"
    )
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/desk; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// Failed sign-ins of one client address.
#[derive(Clone, Copy, Debug)]
struct ClientFailures {
    /// Failures since the last success or lock-out.
    count: u32,
    /// Refused until then.
    locked_until: Option<Instant>,
}

/// The per-client-address lock-out.
pub struct ClientLockout {
    /// By client address.
    by_ip: HashMap<IpAddr, ClientFailures>,
    /// Failures that lock the address.
    failures_max: u32,
    /// How long the lock lasts.
    cool_down: Duration,
}

impl ClientLockout {
    /// An empty table.
    pub fn new(failures_max: u32, cool_down: Duration) -> ClientLockout {
        ClientLockout {
            by_ip: HashMap::new(),
            failures_max: failures_max.max(1),
            cool_down,
        }
    }

    /// `Some(remaining)` while `ip` is locked out.
    pub fn locked(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let f = self.by_ip.get_mut(&ip)?;
        match f.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                self.by_ip.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Counts a failure; true when it locked the address.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.by_ip.len() >= CLIENTS_TRACKED_MAX && !self.by_ip.contains_key(&ip) {
            self.by_ip
                .retain(|_, f| f.locked_until.is_some_and(|u| u > now));
            if self.by_ip.len() >= CLIENTS_TRACKED_MAX {
                return false;
            }
        }
        let f = self.by_ip.entry(ip).or_insert(ClientFailures {
            count: 0,
            locked_until: None,
        });
        f.count += 1;
        if f.count >= self.failures_max {
            f.count = 0;
            f.locked_until = Some(now + self.cool_down);
            return true;
        }
        false
    }

    /// Forgets the failures of `ip` (after a successful sign-in).
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.by_ip.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_too_old() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut table = Sessions::new(s(10), s(30), 100);
        let (id, first) = table.start(Some("op-a".into()), None, t0);
        assert_eq!(id.len(), 64);
        let again = table.touch(&id, t0 + s(9)).expect("within idle");
        assert_eq!(again.csrf, first.csrf);
        assert_eq!(table.touch(&id, t0 + s(18)).map(|_| ()), Ok(()));
        assert_eq!(table.touch(&id, t0 + s(27)).map(|_| ()), Ok(()));
        assert_eq!(
            table.touch(&id, t0 + s(31)).map(|_| ()),
            Err(Missing::Expired)
        );
        let (id2, _) = table.start(None, None, t0);
        assert_eq!(
            table.touch(&id2, t0 + s(11)).map(|_| ()),
            Err(Missing::Idle)
        );
        assert_eq!(table.touch(&id2, t0).map(|_| ()), Err(Missing::Unknown));
        assert_eq!(
            table.touch("nonsense", t0).map(|_| ()),
            Err(Missing::Unknown)
        );
    }

    #[test]
    fn full_table_drops_the_least_recently_used_anonymous_session_first() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut table = Sessions::new(s(100), s(100), 2);
        let (signed, _) = table.start(Some("op-a".into()), None, t0);
        let (anon, _) = table.start(None, None, t0 + s(1));
        let (_third, _) = table.start(None, None, t0 + s(2));
        assert_eq!(table.len(), 2);
        assert!(table.touch(&signed, t0 + s(3)).is_ok());
        assert_eq!(
            table.touch(&anon, t0 + s(3)).map(|_| ()),
            Err(Missing::Unknown)
        );
    }

    #[test]
    fn csrf_and_cookie_parsing() {
        let mut table = Sessions::new(Duration::from_secs(5), Duration::from_secs(5), 10);
        let (id, s) = table.start(None, None, Instant::now());
        assert!(csrf_ok(&s, Some(&s.csrf)));
        assert!(!csrf_ok(&s, None));
        assert!(!csrf_ok(&s, Some("")));
        assert!(!csrf_ok(&s, Some(&random_hex(CSRF_TOKEN_BYTES))));
        let header = format!("other=1; {COOKIE_NAME}={id}; x=y");
        assert_eq!(cookie_id(&header), Some(id.as_str()));
        assert_eq!(cookie_id("zeugnis_desk=short"), None);
        assert_eq!(cookie_id(""), None);
        let c = set_cookie(&id, 60);
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/desk",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{c}");
        }
    }

    #[test]
    fn client_lockout_counts_and_cools_down() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let mut l = ClientLockout::new(3, Duration::from_secs(60));
        assert!(!l.failed(ip, t0));
        assert!(!l.failed(ip, t0));
        assert!(l.failed(ip, t0));
        assert!(l.locked(ip, t0 + Duration::from_secs(59)).is_some());
        assert!(l.locked(ip, t0 + Duration::from_secs(61)).is_none());
        assert!(!l.failed(ip, t0 + Duration::from_secs(61)));
        l.succeeded(ip);
        assert!(l.locked(ip, t0 + Duration::from_secs(61)).is_none());
    }
}
