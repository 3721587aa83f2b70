//! The control socket: how a command reaches the running daemon.
//!
//! While `zeugnis run` holds the ledger's writer lock (and sled's lock on the
//! derived index), every command that needs either is sent to it over a Unix
//! domain socket in the data directory, `<data>/control.sock` (mode 0600;
//! the daemon also refuses a peer whose user ID is not its own). The daemon
//! runs it with the same library code ([`command::execute`]) the CLI runs
//! on a stopped ledger, so the output and the exit code are the same. When
//! no daemon answers, the CLI opens the ledger itself.
//!
//! Owns: the socket's life (bind with the right mode, remove at exit), the
//! framing (a 4-byte little-endian length, then one JSON message; one
//! request and one reply per connection) and its limits, the peer check.
//! Must not do: run commands itself (the daemon's [`Handler`] does), hold
//! the registry lock across an `.await`.
//!
//! # Layout
//! - [`command`]: the requests, the replies, and `execute`.

pub mod command;

pub use command::{execute, ingest_reply, Context, Registration, Reply, Request};

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};

/// The socket's file name inside the data directory.
pub const SOCKET_FILE: &str = "control.sock";
/// The socket file's mode: owner read and write only.
pub const SOCKET_MODE: u32 = 0o600;
/// Largest request: two documents of the largest blob size and a record
/// file, base64-encoded (4/3), plus room for the JSON around them, in bytes.
pub const REQUEST_BYTES_MAX: u64 = (crate::registry::DOCUMENTS_MAX as u64
    * crate::blobs::BLOB_BYTES_MAX_DEFAULT
    + crate::registry::RECORD_FILE_BYTES_MAX as u64)
    / 3
    * 4
    + 1024 * 1024;
/// Largest reply (printed text and a cover-sheet PDF), in bytes.
pub const REPLY_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Requests served at once; more wait for a free slot.
pub const CONNECTIONS_MAX: usize = 8;
/// Time a client has to send its whole request, in milliseconds.
pub const REQUEST_READ_MS_MAX: u64 = 60_000;

/// Errors of the control channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// An operating-system error on the socket.
    #[error("control socket {path}: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The socket.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The socket exists and a daemon listens, but this user may not use it.
    #[error(
        "control socket {path}: permission denied: the running daemon accepts commands only \
         from its own user (the owner of {path}); run the command as that user, e.g. \
         `sudo -u <daemon user> zeugnis ...`"
    )]
    PermissionDenied {
        /// The socket.
        path: PathBuf,
    },
    /// A message broke the framing or its limits.
    #[error("control socket {path}: {what}")]
    Protocol {
        /// The socket.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
}

/// The socket's path for a data directory.
pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET_FILE)
}

/// The client side: connects to the daemon of `data`. `Ok(None)` when no
/// daemon listens (no socket file, or a stale one left by a crash): the
/// caller then opens the ledger itself.
pub fn connect(data: &Path) -> Result<Option<std::os::unix::net::UnixStream>, ControlError> {
    let path = socket_path(data);
    match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(ControlError::PermissionDenied { path })
        }
        Err(source) => Err(ControlError::Io {
            op: "connect",
            path,
            source,
        }),
    }
}

/// Sends `req` over `stream` and waits for the reply (blocking: a fixity
/// audit or an archive export takes as long as it takes).
pub fn send(
    data: &Path,
    mut stream: std::os::unix::net::UnixStream,
    req: &Request,
) -> Result<Reply, ControlError> {
    let path = socket_path(data);
    let io = |op: &'static str| {
        let path = path.clone();
        move |source| ControlError::Io { op, path, source }
    };
    let body = serde_json::to_vec(req).map_err(|e| ControlError::Protocol {
        path: path.clone(),
        what: format!("cannot encode the request: {e}"),
    })?;
    if body.len() as u64 > REQUEST_BYTES_MAX {
        return Err(ControlError::Protocol {
            path,
            what: format!(
                "the request has {} bytes, above the limit of {REQUEST_BYTES_MAX} bytes",
                body.len()
            ),
        });
    }
    let sent = stream
        .write_all(&frame_header(body.len()))
        .and_then(|()| stream.write_all(&body));
    if let Err(e) = sent {
        // The daemon may have answered (a refusal) and closed before
        // reading everything: its answer says more than the broken pipe.
        return read_reply(&path, &mut stream).map_err(|_| io("send")(e));
    }
    read_reply(&path, &mut stream)
}

fn read_reply(
    path: &Path,
    stream: &mut std::os::unix::net::UnixStream,
) -> Result<Reply, ControlError> {
    let path = path.to_path_buf();
    let io = |op: &'static str| {
        let path = path.clone();
        move |source| ControlError::Io { op, path, source }
    };
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(ControlError::Protocol {
                path,
                what: "the daemon closed the connection without an answer (did it stop or \
                       crash?); check with `zeugnis show` or `zeugnis status` whether the \
                       command took effect"
                    .into(),
            })
        }
        Err(e) => return Err(io("receive")(e)),
    }
    let n = u64::from(u32::from_le_bytes(len));
    if n > REPLY_BYTES_MAX {
        return Err(ControlError::Protocol {
            path,
            what: format!("a reply of {n} bytes is above the limit of {REPLY_BYTES_MAX} bytes"),
        });
    }
    let mut body = vec![0u8; n as usize];
    stream.read_exact(&mut body).map_err(io("receive"))?;
    serde_json::from_slice(&body).map_err(|e| ControlError::Protocol {
        path,
        what: format!("the reply does not parse: {e}"),
    })
}

fn frame_header(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes()
}

/// Runs the requests that arrive on the socket (the daemon implements it).
pub trait Handler: Send + Sync + 'static {
    /// Runs one request to its end; called on the blocking pool.
    fn handle(&self, req: Request) -> Reply;
}

/// The bound socket of a running daemon.
pub struct Server {
    /// The listener.
    listener: tokio::net::UnixListener,
    /// Its path, removed when the server ends.
    path: PathBuf,
    /// The daemon's user ID (the socket file's owner): the only peer served.
    owner_uid: u32,
}

/// Binds `<data>/control.sock` with mode 0600. The caller holds the
/// ledger's writer lock, so a socket file already there is a crashed
/// daemon's leftover and is replaced. Must run inside a tokio runtime.
pub fn bind(data: &Path) -> Result<Server, ControlError> {
    let path = socket_path(data);
    let io = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| ControlError::Io {
            op,
            path: p,
            source,
        }
    };
    // Bound under a temporary name, given its mode, then renamed into
    // place: no client ever sees the socket with a wider mode.
    let tmp = data.join(format!(".{SOCKET_FILE}.{}", std::process::id()));
    for p in [&tmp, &path] {
        match std::fs::remove_file(p) {
            Ok(()) => tracing::info!(path = %p.display(), "removed a stale control socket"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove stale", p)(e)),
        }
    }
    let std_listener = std::os::unix::net::UnixListener::bind(&tmp).map_err(io("bind", &tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(io("chmod", &tmp))?;
    let owner_uid = std::fs::metadata(&tmp).map_err(io("stat", &tmp))?.uid();
    std::fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
    std_listener
        .set_nonblocking(true)
        .map_err(io("set non-blocking", &path))?;
    let listener = tokio::net::UnixListener::from_std(std_listener).map_err(io("listen", &path))?;
    Ok(Server {
        listener,
        path,
        owner_uid,
    })
}

/// True if a peer with `peer_uid` may use the socket of a daemon running
/// as `owner_uid`: only the same user (root included only when the daemon
/// runs as root), so a socket whose mode was widened by mistake still
/// admits no one else.
pub fn peer_allowed(peer_uid: u32, owner_uid: u32) -> bool {
    peer_uid == owner_uid
}

impl Server {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until `shutdown` becomes true, then waits for the requests
    /// in progress and removes the socket file.
    pub async fn serve(self, handler: Arc<dyn Handler>, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
        loop {
            let accepted = tokio::select! {
                r = self.listener.accept() => r,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control: accept failed");
                    tokio::time::sleep(Duration::from_millis(crate::http::ACCEPT_RETRY_MS)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (handler, owner_uid) = (handler.clone(), self.owner_uid);
            tokio::spawn(async move {
                if let Err(e) = serve_one(stream, handler, owner_uid).await {
                    tracing::warn!(error = %e, "control: request failed");
                }
                drop(permit);
            });
        }
        // Requests in progress finish (they hold permits) before the
        // socket file goes away.
        let _ = permits.acquire_many(CONNECTIONS_MAX as u32).await;
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "control: cannot remove the socket");
        }
    }
}

async fn serve_one(
    mut stream: tokio::net::UnixStream,
    handler: Arc<dyn Handler>,
    owner_uid: u32,
) -> Result<(), std::io::Error> {
    let peer_uid = stream.peer_cred()?.uid();
    let received = tokio::time::timeout(
        Duration::from_millis(REQUEST_READ_MS_MAX),
        read_request(&mut stream),
    )
    .await;
    let reply = if !peer_allowed(peer_uid, owner_uid) {
        // The request was read (and dropped unread) first, so that the
        // refusal reaches a client still sending it.
        drop(received);
        tracing::warn!(
            peer_uid,
            owner_uid,
            "control: refused a request from another user"
        );
        Reply::error(
            1,
            &format!(
                "the running daemon accepts commands only from user ID {owner_uid} \
                 (its own); you are user ID {peer_uid}; nothing was changed"
            ),
        )
    } else {
        match received {
            Err(_) => Reply::error(
                2,
                &format!("the request was not received within {REQUEST_READ_MS_MAX} ms"),
            ),
            Ok(Err(why)) => Reply::error(2, &why),
            Ok(Ok(req)) => {
                let name = req.name();
                tracing::info!(command = name, "control: running a command");
                match tokio::task::spawn_blocking(move || handler.handle(req)).await {
                    Ok(r) => r,
                    Err(e) => Reply::error(1, &format!("the command {name} failed: {e}")),
                }
            }
        }
    };
    let body = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    stream.write_all(&frame_header(body.len())).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

async fn read_request(stream: &mut tokio::net::UnixStream) -> Result<Request, String> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| format!("reading the request: {e}"))?;
    let n = u64::from(u32::from_le_bytes(len));
    if n > REQUEST_BYTES_MAX {
        return Err(format!(
            "a request of {n} bytes is above the limit of {REQUEST_BYTES_MAX} bytes"
        ));
    }
    let mut body = vec![0u8; n as usize];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| format!("reading the request: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("the request does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_daemons_own_user_is_served() {
        for (peer, owner, allowed) in [
            (1000, 1000, true),
            (0, 0, true),
            (0, 1000, false),
            (1000, 0, false),
            (1001, 1000, false),
        ] {
            assert_eq!(
                peer_allowed(peer, owner),
                allowed,
                "peer {peer} owner {owner}"
            );
        }
    }

    #[test]
    fn the_request_limit_admits_two_largest_documents() {
        let docs = crate::registry::DOCUMENTS_MAX as u64 * crate::blobs::BLOB_BYTES_MAX_DEFAULT;
        assert!(REQUEST_BYTES_MAX > docs / 3 * 4);
        assert!(REQUEST_BYTES_MAX < u64::from(u32::MAX));
    }
}
