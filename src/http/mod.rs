//! The verification service and the admin API over HTTP/1.1 (hyper 1 +
//! hyper-util, tokio).
//!
//! Owns: the configuration of both listeners ([`HttpConfig`]), binding them
//! ([`bind`]), the accept loops with their limits (connections, header-read
//! timeout, keep-alive requests, graceful shutdown) and the shared state the
//! request handlers read ([`AppState`]). See `docs/http.md` for the routes,
//! limits and security headers, and `docs/openapi.json` for the JSON API.
//!
//! Must not do: write to the ledger except through [`Registry`] (admin
//! routes only); hold the registry lock across an `.await`; log codes, keys,
//! client addresses or anything else personal.
//!
//! # Layout
//! - [`limits`]: per-IP and global rate limits, client address behind proxies.
//! - [`metrics`]: the Prometheus counters and histograms.
//! - [`pages`]: the German and English HTML pages; pure rendering.
//! - [`public`]: the public routes (pages, JSON API, check, proofs, tiles).
//! - [`admin`]: the admin routes behind the bearer token.
//! - [`desk`]: the exam office's web desk under `/desk/` on the admin
//!   listener (operator sign-in, sessions, CSRF).
//! - [`response`]: response builders and the security headers on every response.

pub mod admin;
pub mod desk;
pub mod exports;
pub mod limits;
pub mod metrics;
pub mod pages;
pub mod proof_archive;
pub mod public;
pub mod response;

pub use metrics::Metrics;

use crate::registry::{Registry, RegistryError, BASE_URL_DEFAULT};
use crate::report::WAITING_DAYS_DEFAULT;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use limits::RateLimits;
use serde::Deserialize;
use sha2::Digest;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Shortest accepted admin token, in bytes (after trimming whitespace).
pub const ADMIN_TOKEN_BYTES_MIN: usize = 32;
/// Largest accepted admin token file, in bytes.
pub const ADMIN_TOKEN_FILE_BYTES_MAX: u64 = 4096;
/// Smallest header buffer hyper accepts, in bytes.
pub const HEADER_BYTES_MIN: usize = 8192;
/// How long a refused connection (over the connection limit) may take to
/// receive its 503 answer before it is dropped, in milliseconds.
pub const REFUSAL_WRITE_MS_MAX: u64 = 1_000;
/// Pause after a failed `accept` (e.g. out of file descriptors), in milliseconds.
pub const ACCEPT_RETRY_MS: u64 = 100;
/// How often idle per-IP rate-limit entries are dropped, in milliseconds.
pub const RATE_LIMIT_SWEEP_MS: u64 = 60_000;

/// Configuration of the HTTP service (the `[http]` table of the daemon's
/// config file). Every limit names its unit; `docs/http.md` lists them all.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Public listener address. Default `127.0.0.1:8080`.
    pub public_addr: SocketAddr,
    /// Admin listener address; keep it on loopback or a private network.
    /// Default `127.0.0.1:8081`.
    pub admin_addr: SocketAddr,
    /// File holding the admin bearer token (at least 32 bytes), mode 0600.
    /// Default none: every admin request is refused with 503.
    pub admin_token_file: Option<PathBuf>,
    /// The operator id every write through the admin bearer token is
    /// attributed to (ledger/FORMAT.md §3.5). Default `api`.
    pub admin_token_operator: crate::registry::OperatorId,
    /// Public base URL, used in the "how to verify" instructions of the
    /// pages. Not read from `[http]`: the daemon sets it from the
    /// top-level `base_url`. Default `http://127.0.0.1:8080`.
    #[serde(skip)]
    pub base_url: String,
    /// The scan inbox, read by the admin status route for quarantined
    /// files. Not read from `[http]`: the daemon sets it from the top-level
    /// `scans`. Default `scans`.
    #[serde(skip)]
    pub scans_dir: PathBuf,
    /// Days a registration may wait for its scan before the status report
    /// lists it. Not read from `[http]`: the daemon sets it from
    /// `[report] waiting_days`. Default 14.
    #[serde(skip)]
    pub waiting_days: u64,
    /// Largest scan the admin API's replace-scan route takes, in bytes.
    /// Not read from `[http]`: the daemon sets it from `[intake]
    /// file_bytes_max`. Default 64 MiB.
    #[serde(skip)]
    pub scan_bytes_max: u64,
    /// Where the admin register route's `stamp=true` puts the link on page
    /// 1. Not read from `[http]`: the daemon sets it from `[stamp]`.
    #[serde(skip)]
    pub stamp: crate::stamp::StampPlace,
    /// Time a client has to send a complete request head (also the idle
    /// time allowed between keep-alive requests), in milliseconds. Default 10,000.
    pub header_read_timeout_ms: u64,
    /// Time one request may take from its head to the end of its answer
    /// (bounds slow uploads), in milliseconds; 503 when exceeded. Default 30,000.
    pub request_timeout_ms: u64,
    /// Largest request head (request line and headers), in bytes; at least
    /// 8,192. Default 16,384.
    pub header_bytes_max: usize,
    /// Open connections on the public listener; more are answered 503 and
    /// closed. Default 1,024.
    pub connections_max: usize,
    /// Open connections on the admin listener. Default 16.
    pub admin_connections_max: usize,
    /// Open connections from one client address (the TCP peer) on each
    /// listener; more are answered 503 and closed, so that one client's
    /// idle connections cannot take every slot. Default 64. Behind a
    /// reverse proxy every client is the proxy: set it to the proxy's
    /// connection pool size or more.
    pub connections_per_client_max: usize,
    /// Requests served on one connection before it is closed
    /// (`Connection: close`). Default 1,000.
    pub keepalive_requests_max: u64,
    /// Time connections get to finish after shutdown is requested, in
    /// milliseconds. Default 10,000.
    pub shutdown_grace_ms: u64,
    /// Largest PDF accepted by `POST /api/v1/check`, in bytes. Default 64 MiB.
    pub check_bytes_max: u64,
    /// Largest admin multipart body (record and documents), in bytes.
    /// Default 129 MiB (two 64 MiB documents and the record).
    pub admin_body_bytes_max: u64,
    /// Largest admin JSON body (revoke, void, erase), in bytes. Default 65,536.
    pub admin_json_bytes_max: u64,
    /// Certificate lookups (pages, scans, JSON, proofs, checks) one client
    /// address may make per minute, sustained. Default 60.
    pub lookups_per_ip_per_minute: u32,
    /// Lookups one client address may make in a burst. Default 30.
    pub lookup_burst: u32,
    /// Lookups per second over all clients together. Default 500.
    pub lookups_global_per_second: u32,
    /// Other public requests (form, tiles, checkpoint, stylesheet, OpenAPI)
    /// one client address may make per second, sustained. Default 50.
    pub requests_per_ip_per_second: u32,
    /// Other public requests one client address may make in a burst. Default 200.
    pub request_burst: u32,
    /// Other public requests per second over all clients. Default 5,000.
    pub requests_global_per_second: u32,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies): single
    /// addresses or CIDR ranges (`"10.0.0.0/8"`). Default none.
    pub trusted_proxies: Vec<limits::TrustedProxy>,
    /// Every failed certificate lookup (malformed code, unknown code,
    /// wrong key: 400, 403, 404) answers no sooner than this after its head
    /// arrived, so that the failures cannot be told apart by timing, in
    /// milliseconds. Successful lookups are not held. Default 5.
    pub lookup_time_floor_ms: u64,
    /// The operator's branding of the public pages (`[http.branding]`).
    pub branding: BrandingConfig,
}

/// Largest logo file, in bytes (256 KiB).
pub const LOGO_BYTES_MAX: u64 = 262_144;

/// The `[http.branding]` table: how the public pages look. Every key is
/// optional; the default is a sober blue header with the service name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrandingConfig {
    /// The institution's name in the page header.
    pub institution: Option<String>,
    /// Logo file (SVG or PNG, at most [`LOGO_BYTES_MAX`]), served at
    /// `/static/logo`; relative to the config file's folder.
    pub logo_file: Option<PathBuf>,
    /// Header colour `#rrggbb` (default `#0b4f8a`).
    pub colour: Option<String>,
    /// Header text colour `#rrggbb` (default `#ffffff`); contrast with
    /// `colour` at least 4.5:1.
    pub text_colour: Option<String>,
    /// Impressum (legal notice) URL.
    pub imprint_url: Option<String>,
    /// Privacy notice (Datenschutzerklärung) URL.
    pub privacy_url: Option<String>,
}

impl BrandingConfig {
    /// The page branding (without the logo's media type, known only once
    /// the file is read).
    pub fn branding(&self) -> pages::Branding {
        let d = pages::Branding::default();
        pages::Branding {
            institution: self.institution.clone().filter(|s| !s.trim().is_empty()),
            logo_media_type: None,
            colour: self.colour.clone().unwrap_or(d.colour),
            text_colour: self.text_colour.clone().unwrap_or(d.text_colour),
            imprint_url: self.imprint_url.clone(),
            privacy_url: self.privacy_url.clone(),
        }
    }

    /// Reads and sniffs the logo file: (media type, bytes).
    pub fn read_logo(&self) -> Result<Option<(&'static str, Vec<u8>)>, HttpError> {
        let Some(path) = &self.logo_file else {
            return Ok(None);
        };
        let bad = |reason: String| {
            HttpError::Config(format!(
                "http.branding.logo_file {}: {reason}",
                path.display()
            ))
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        if meta.len() > LOGO_BYTES_MAX {
            return Err(bad(format!(
                "{} bytes is larger than the limit of {LOGO_BYTES_MAX} bytes",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let media_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else {
            let head =
                String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
            if head.contains("<svg") {
                "image/svg+xml"
            } else {
                return Err(bad("not a PNG or SVG file (by its first bytes)".into()));
            }
        };
        Ok(Some((media_type, bytes)))
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            public_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            admin_token_file: None,
            admin_token_operator: crate::registry::OperatorId::api(),
            base_url: BASE_URL_DEFAULT.to_string(),
            scans_dir: PathBuf::from("scans"),
            waiting_days: WAITING_DAYS_DEFAULT,
            scan_bytes_max: crate::blobs::BLOB_BYTES_MAX_DEFAULT,
            stamp: crate::stamp::StampPlace::default(),
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            header_bytes_max: 16_384,
            connections_max: 1_024,
            admin_connections_max: 16,
            connections_per_client_max: 64,
            keepalive_requests_max: 1_000,
            shutdown_grace_ms: 10_000,
            check_bytes_max: crate::blobs::BLOB_BYTES_MAX_DEFAULT,
            admin_body_bytes_max: 2 * crate::blobs::BLOB_BYTES_MAX_DEFAULT + 1024 * 1024,
            admin_json_bytes_max: 65_536,
            lookups_per_ip_per_minute: 60,
            lookup_burst: 30,
            lookups_global_per_second: 500,
            requests_per_ip_per_second: 50,
            request_burst: 200,
            requests_global_per_second: 5_000,
            trusted_proxies: Vec::new(),
            lookup_time_floor_ms: 5,
            branding: BrandingConfig::default(),
        }
    }
}

impl HttpConfig {
    /// Checks every limit; the error names the key and the rule.
    pub fn validate(&self) -> Result<(), HttpError> {
        let bad = |key: &str, rule: &str| Err(HttpError::Config(format!("http.{key}: {rule}")));
        self.branding
            .branding()
            .validate()
            .map_err(|e| HttpError::Config(format!("http.{e}")))?;
        if self.header_bytes_max < HEADER_BYTES_MIN {
            return bad("header_bytes_max", "must be at least 8192");
        }
        let positive: [(&str, u64); 15] = [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("connections_max", self.connections_max as u64),
            ("admin_connections_max", self.admin_connections_max as u64),
            (
                "connections_per_client_max",
                self.connections_per_client_max as u64,
            ),
            ("keepalive_requests_max", self.keepalive_requests_max),
            ("check_bytes_max", self.check_bytes_max),
            ("admin_body_bytes_max", self.admin_body_bytes_max),
            ("admin_json_bytes_max", self.admin_json_bytes_max),
            (
                "lookups_per_ip_per_minute",
                self.lookups_per_ip_per_minute.into(),
            ),
            ("lookup_burst", self.lookup_burst.into()),
            (
                "lookups_global_per_second",
                self.lookups_global_per_second.into(),
            ),
            (
                "requests_per_ip_per_second",
                self.requests_per_ip_per_second.into(),
            ),
            ("request_burst", self.request_burst.into()),
            (
                "requests_global_per_second",
                self.requests_global_per_second.into(),
            ),
        ];
        for (key, v) in positive {
            if v == 0 {
                return bad(key, "must be greater than 0");
            }
        }
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            return bad("base_url", "must start with https:// or http://");
        }
        Ok(())
    }
}

/// Errors of the HTTP service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// A configuration value is invalid (names the key).
    #[error("{0}")]
    Config(String),
    /// A listener could not be bound.
    #[error(
        "cannot listen on {addr} ({which}): {source}; if another program holds that port, \
         stop it or set `{which}_addr` in the [http] section of the configuration to a free address"
    )]
    Bind {
        /// `public` or `admin`.
        which: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The admin token file is missing, unreadable, too open or too short.
    #[error("admin token file {path}: {reason}")]
    AdminToken {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry failed while preparing the service.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Reads the admin token; refuses files readable or writable by group or
/// others (like the signing key) and tokens shorter than 32 bytes.
/// Returns the SHA-256 of the token, which is all that is kept in memory.
pub fn read_admin_token(path: &Path) -> Result<[u8; 32], HttpError> {
    let err = |reason: String| HttpError::AdminToken {
        path: path.to_path_buf(),
        reason,
    };
    let meta = crate::ledger::durable::private_file_metadata(path).map_err(err)?;
    if meta.len() > ADMIN_TOKEN_FILE_BYTES_MAX {
        return Err(err(format!(
            "larger than {ADMIN_TOKEN_FILE_BYTES_MAX} bytes; it should hold one token"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let token = text.trim();
    if token.len() < ADMIN_TOKEN_BYTES_MIN {
        return Err(err(format!(
            "the token has {} bytes; use at least {ADMIN_TOKEN_BYTES_MIN} random bytes \
             (e.g. `openssl rand -hex 32`)",
            token.len()
        )));
    }
    Ok(sha2::Sha256::digest(token.as_bytes()).into())
}

/// A callback run after each successful admin write.
pub type WriteHook = Arc<dyn Fn() + Send + Sync>;

/// Everything the request handlers share.
pub struct AppState {
    /// The configuration the service was started with.
    cfg: HttpConfig,
    /// The blob store of the data directory, to read scans outside the
    /// registry lock (only `path` is used: reads, never writes).
    blobs: crate::blobs::BlobStore,
    /// Shared with the scan intake, which holds the lock while it archives.
    registry: Arc<Mutex<Registry>>,
    /// The registry's read side: certificate lookups never take the lock.
    reader: crate::registry::Reader,
    /// SHA-256 of the admin token; `None` disables the admin API.
    admin_token_sha256: Option<[u8; 32]>,
    /// Called after each successful admin write (the intake retries scans
    /// waiting for a code).
    write_hooks: Vec<WriteHook>,
    /// Counters and histograms for `/metrics`.
    metrics: Arc<Metrics>,
    /// Rate limiters of the public listener.
    limits: RateLimits,
    /// Ledger evidence rows by sequence number (immutable, so cacheable).
    evidence: Arc<public::EvidenceCache>,
    /// The fixity audit started through the admin API: its progress and
    /// its last result.
    fixity: Arc<admin::FixityRun>,
    /// Base URL and branding for the pages (the verifier keys are read
    /// with each lookup's evidence, so a key rotation shows at once).
    site: Arc<pages::Site>,
    /// The logo (media type, bytes), if one is configured.
    logo: Option<Arc<(&'static str, bytes::Bytes)>>,
    /// Code-list values of the machine-readable exports (`[exports]`).
    exports: crate::exports::ExportsConfig,
    /// Permits for proof archives built at once
    /// ([`proof_archive::PROOF_ARCHIVE_BUILDS_MAX`]).
    proof_archives: Arc<Semaphore>,
    /// The web desk: sessions, lock-out, operator store (`[desk]`).
    desk: Arc<desk::Desk>,
}

impl AppState {
    /// `registry` is shared with the scan intake, which holds the lock while it archives.
    pub fn new(
        cfg: &HttpConfig,
        data_dir: &Path,
        registry: Arc<Mutex<Registry>>,
    ) -> Result<AppState, HttpError> {
        cfg.validate()?;
        let admin_token_sha256 = match &cfg.admin_token_file {
            Some(p) => Some(read_admin_token(p)?),
            None => None,
        };
        let reader = registry
            .lock()
            .map_err(|_| RegistryError::External("the registry lock is poisoned".into()))?
            .reader();
        let logo = cfg.branding.read_logo()?;
        let mut brand = cfg.branding.branding();
        brand.logo_media_type = logo.as_ref().map(|(t, _)| *t);
        let site = pages::Site {
            base_url: cfg.base_url.clone(),
            brand,
        };
        Ok(AppState {
            cfg: cfg.clone(),
            reader,
            blobs: crate::blobs::BlobStore::open(data_dir, crate::blobs::BLOB_BYTES_MAX_DEFAULT)
                .map_err(RegistryError::from)?,
            registry,
            admin_token_sha256,
            write_hooks: Vec::new(),
            metrics: Arc::new(Metrics::new()),
            limits: RateLimits::new(cfg)?,
            evidence: Arc::default(),
            fixity: Arc::default(),
            site: Arc::new(site),
            logo: logo.map(|(t, b)| Arc::new((t, bytes::Bytes::from(b)))),
            exports: crate::exports::ExportsConfig::default(),
            proof_archives: Arc::new(Semaphore::new(proof_archive::PROOF_ARCHIVE_BUILDS_MAX)),
            desk: Arc::new(desk::Desk::new(desk::DeskConfig::default(), data_dir)),
        })
    }

    /// Called after every successful admin write (register/supersede/...), so the intake can retry scans waiting for a code.
    pub fn on_write(&mut self, hook: Arc<dyn Fn() + Send + Sync>) {
        self.write_hooks.push(hook);
    }

    /// The code-list values of the export routes (`[exports]`, docs/exports.md).
    pub fn set_exports(&mut self, exports: crate::exports::ExportsConfig) -> Result<(), HttpError> {
        exports
            .validate()
            .map_err(|e| HttpError::Config(e.to_string()))?;
        self.exports = exports;
        Ok(())
    }

    /// The web desk's configuration (`[desk]`, docs/operations.md); the
    /// operator accounts are read from `data_dir`.
    pub fn set_desk(&mut self, cfg: desk::DeskConfig, data_dir: &Path) -> Result<(), HttpError> {
        cfg.validate().map_err(HttpError::Config)?;
        self.desk = Arc::new(desk::Desk::new(cfg, data_dir));
        Ok(())
    }

    /// The metrics (the intake counts its outcomes with [`Metrics::intake`]).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// Runs `f` with the registry on the blocking pool, taking the lock
    /// there (sled and fsync block; the lock is never held across an await).
    pub(crate) async fn with_registry<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Registry) -> Result<T, RegistryError> + Send + 'static,
    {
        let registry = self.registry.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = registry.lock().map_err(|_| {
                RegistryError::External(
                    "the registry lock is poisoned (a writer panicked); restart the daemon".into(),
                )
            })?;
            f(&mut guard)
        })
        .await
        .map_err(|e| RegistryError::External(format!("registry task failed: {e}")))?
    }

    /// Like [`AppState::with_registry`], with every record `f` appends
    /// attributed to `operator` (ledger/FORMAT.md §3.5).
    pub(crate) async fn with_registry_as<T, F>(
        &self,
        operator: Option<crate::registry::OperatorId>,
        f: F,
    ) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Registry) -> Result<T, RegistryError> + Send + 'static,
    {
        self.with_registry(move |r| r.with_operator(operator, f))
            .await
    }

    /// A write through the admin bearer token: attributed to
    /// `http.admin_token_operator` (default `api`).
    pub(crate) async fn with_registry_admin<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Registry) -> Result<T, RegistryError> + Send + 'static,
    {
        self.with_registry_as(Some(self.cfg.admin_token_operator.clone()), f)
            .await
    }

    /// What a write that outlives its request needs (the desk's batch
    /// commit): the registry, to lock once per step, and the write hooks,
    /// to run when it is done.
    pub(crate) fn detached_writer(&self) -> (Arc<Mutex<Registry>>, Vec<WriteHook>) {
        (self.registry.clone(), self.write_hooks.clone())
    }

    fn written(&self) {
        for hook in &self.write_hooks {
            hook();
        }
    }
}

/// Which listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The public verification service.
    Public,
    /// The admin API.
    Admin,
}

impl Listener {
    /// The metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Listener::Public => "public",
            Listener::Admin => "admin",
        }
    }
}

/// Both listeners, bound.
pub struct Bound {
    /// The public listener.
    public: TcpListener,
    /// The admin listener.
    admin: TcpListener,
}

/// Binds both listeners (`127.0.0.1:0` picks free ports, for tests).
pub async fn bind(cfg: &HttpConfig) -> Result<Bound, HttpError> {
    cfg.validate()?;
    async fn listen(which: &'static str, addr: SocketAddr) -> Result<TcpListener, HttpError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind {
                which,
                addr,
                source,
            })
    }
    Ok(Bound {
        public: listen("public", cfg.public_addr).await?,
        admin: listen("admin", cfg.admin_addr).await?,
    })
}

impl Bound {
    /// The bound public address.
    pub fn public_addr(&self) -> SocketAddr {
        self.public
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` becomes true, then drains connections (bounded by a grace period from the config) and returns.
    pub async fn serve(
        self,
        state: Arc<AppState>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), HttpError> {
        let graceful = GracefulShutdown::new();
        let sweeper = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(RATE_LIMIT_SWEEP_MS));
                loop {
                    tick.tick().await;
                    state.limits.sweep();
                }
            })
        };
        tokio::join!(
            accept_loop(
                self.public,
                Listener::Public,
                state.clone(),
                shutdown.clone(),
                &graceful
            ),
            accept_loop(
                self.admin,
                Listener::Admin,
                state.clone(),
                shutdown,
                &graceful
            ),
        );
        sweeper.abort();
        let grace = Duration::from_millis(state.cfg.shutdown_grace_ms);
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("http: all connections closed"),
            () = tokio::time::sleep(grace) => tracing::warn!(
                grace_ms = state.cfg.shutdown_grace_ms,
                "http: connections still open after the grace period; dropping them"
            ),
        }
        Ok(())
    }
}

async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    // A dropped sender also means shutdown.
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn accept_loop(
    listener: TcpListener,
    which: Listener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
    graceful: &GracefulShutdown,
) {
    let cfg = &state.cfg;
    let connections_max = match which {
        Listener::Public => cfg.connections_max,
        Listener::Admin => cfg.admin_connections_max,
    };
    let permits = Arc::new(Semaphore::new(connections_max));
    let per_client = Arc::new(PerClient {
        open: std::sync::Mutex::new(std::collections::HashMap::new()),
        max: cfg.connections_per_client_max,
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(cfg.header_read_timeout_ms))
        .max_buf_size(cfg.header_bytes_max)
        .keep_alive(true);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown_requested(&mut shutdown) => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(listener = which.name(), error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        let Some(slot) = per_client.take(peer.ip()) else {
            state.metrics.connection_refused(which);
            tokio::spawn(refuse(stream));
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            state.metrics.connection_refused(which);
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let served = Arc::new(AtomicU64::new(0));
        let conn_state = state.clone();
        let service = service_fn(move |req| {
            let state = conn_state.clone();
            let n = served.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                let last = n >= state.cfg.keepalive_requests_max;
                Ok::<_, std::convert::Infallible>(
                    response::handle(state, which, peer.ip(), req, last).await,
                )
            }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        state.metrics.connection_opened(which);
        let metrics = state.metrics.clone();
        tokio::spawn(async move {
            // Errors here are client-side (resets, header timeouts): not ours to log loudly.
            if let Err(e) = conn.await {
                tracing::debug!(listener = which.name(), error = %e, "http: connection ended");
            }
            metrics.connection_closed(which);
            drop(permit);
            drop(slot);
        });
    }
}

/// Open connections per client address on one listener.
struct PerClient {
    /// Open connections by peer address (absent: none).
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    /// `connections_per_client_max`.
    max: usize,
}

/// One open connection of a client; gives its place back when dropped.
struct ClientSlot {
    table: Arc<PerClient>,
    ip: std::net::IpAddr,
}

impl PerClient {
    /// A place for one more connection from `ip`, if it has fewer than
    /// the maximum open.
    fn take(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Answers a connection over the limit with 503 and closes it, reading
/// what the client sent meanwhile so that the close does not turn into a
/// reset that destroys the answer before the client reads it.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let answer = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 44\r\n\r\n\
too many open connections; try again later\r\n";
    let _ = tokio::time::timeout(Duration::from_millis(REFUSAL_WRITE_MS_MAX), async {
        let _ = stream.write_all(answer).await;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}
