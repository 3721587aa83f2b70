//! The operator accounts of the web desk: who may sign in, with what
//! password, and whether the account is disabled or locked out.
//!
//! Owns: `<data>/operators.json` (outside the ledger: names are personal
//! data the ledger could never forget; the ledger only ever sees the
//! operator id), its lock file `<data>/operators.lock`, the Argon2id
//! password hashes and the per-account failed sign-in counter.
//!
//! Storage: one JSON file, replaced atomically (temporary file, fsync,
//! rename, fsync of the folder) with mode 0600. Every change is a
//! read-modify-write under an exclusive `flock` on the lock file, so the
//! CLI (`zeugnis operator ...`) and the running daemon (sign-ins update
//! the failed-attempt counter) can both change it without losing each
//! other's writes. The daemon reads the file on every sign-in and on every
//! desk request (a small file): a disabled account is refused at once,
//! without a restart and without the control socket.
//!
//! Must not do: log or store a password, or put a name where an id goes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file holding the accounts, in the data directory.
pub const OPERATORS_FILE: &str = "operators.json";
/// The lock file serialising changes to [`OPERATORS_FILE`].
pub const OPERATORS_LOCK_FILE: &str = "operators.lock";
/// Largest accepted operators file, in bytes (about 10,000 accounts).
pub const OPERATORS_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Most accounts in one store.
pub const OPERATORS_MAX: usize = 10_000;
/// Version of the file layout written now.
pub const OPERATORS_FILE_VERSION: u32 = 1;

/// Argon2id memory cost, in KiB (19 MiB: the OWASP password storage
/// cheat sheet's first recommended setting).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Argon2id passes over the memory.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2id parallel lanes.
pub const ARGON2_LANES: u32 = 1;

/// Shortest accepted password, in characters.
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Longest accepted password, in bytes (bounds the hashing work a sign-in
/// form can ask for).
pub const PASSWORD_BYTES_MAX: usize = 1024;
/// Longest operator name, in characters.
pub const NAME_CHARS_MAX: usize = 64;
/// Random base32 characters after `op-` in a new operator id.
pub const ID_RANDOM_CHARS: usize = 10;

/// Errors of the operator store; each names the file or the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// The file or its lock cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid operators file.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the JSON line and column when it is JSON).
        reason: String,
    },
    /// A name, password or id is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// `name`, `password` or `id`.
        field: &'static str,
        /// The rule broken.
        reason: String,
    },
    /// No account has that name.
    #[error("no operator named {0:?} (see `zeugnis operator list`)")]
    Unknown(String),
    /// An account with that name exists already.
    #[error("an operator named {0:?} exists already")]
    Exists(String),
    /// Hashing failed (out of memory; never for a wrong password).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl OperatorError {
    /// 2 for bad input, 1 for failures of the machine.
    pub fn exit_code(&self) -> i32 {
        match self {
            OperatorError::Io { .. } | OperatorError::Hash(_) => 1,
            _ => 2,
        }
    }
}

/// One account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// `op-` and random base32: what logs (and, after the merge, the
    /// ledger) carry. Never derived from the name.
    pub id: String,
    /// The name the person signs in with (or the single-sign-on user name).
    pub name: String,
    /// Argon2id PHC string (`$argon2id$v=19$m=...`).
    pub hash: String,
    /// A disabled account cannot sign in, and its sessions end.
    pub disabled: bool,
    /// Failed sign-ins since the last successful one.
    pub failed_signins: u32,
    /// Unix seconds until which sign-ins are refused (lock-out), if locked.
    #[serde(default)]
    pub locked_until_s: Option<i64>,
    /// Unix seconds of creation.
    pub created_s: i64,
}

/// The file layout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    /// [`OPERATORS_FILE_VERSION`].
    version: u32,
    /// The accounts, in creation order.
    operators: Vec<Operator>,
}

/// The outcome of a sign-in attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum SignIn {
    /// Password right, account enabled and not locked: the operator id.
    Ok(String),
    /// Unknown name or wrong password (not told apart to the client).
    Wrong,
    /// The account is disabled.
    Disabled,
    /// The account is locked until this Unix second.
    Locked(i64),
}

/// The operators file of one data directory.
#[derive(Clone, Debug)]
pub struct OperatorStore {
    /// `<data>/operators.json`.
    path: PathBuf,
    /// `<data>/operators.lock`.
    lock_path: PathBuf,
}

/// Unix seconds now.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The Argon2id hasher with the documented parameters.
fn argon2() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .expect("the Argon2 parameter constants are valid");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password (after checking its length) as a PHC string.
pub fn hash_password(password: &str) -> Result<String, OperatorError> {
    check_password(password)?;
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| OperatorError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (false for a hash
/// that does not parse).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > PASSWORD_BYTES_MAX {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), OperatorError> {
    let bad = |reason: String| OperatorError::Invalid {
        field: "password",
        reason,
    };
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(bad(format!("longer than {PASSWORD_BYTES_MAX} bytes")));
    }
    let chars = password.chars().count();
    if chars < PASSWORD_CHARS_MIN {
        return Err(bad(format!(
            "{chars} characters; use at least {PASSWORD_CHARS_MIN}"
        )));
    }
    Ok(())
}

/// Checks an operator name: 1 to [`NAME_CHARS_MAX`] characters, no
/// control characters, no leading or trailing space.
pub fn check_name(name: &str) -> Result<(), OperatorError> {
    let bad = |reason: &str| OperatorError::Invalid {
        field: "name",
        reason: format!("{name:?}: {reason}"),
    };
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_CHARS_MAX {
        return Err(bad(&format!("must have 1 to {NAME_CHARS_MAX} characters")));
    }
    if name.trim() != name {
        return Err(bad("must not begin or end with a space"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("must not contain control characters"));
    }
    Ok(())
}

/// Whether `id` has the operator id form `^[a-z][a-z0-9-]{1,63}$`.
pub fn is_operator_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A fresh operator id: `op-` and [`ID_RANDOM_CHARS`] random lowercase
/// base32 characters (RFC 4648 alphabet, 50 bits).
pub fn new_operator_id() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::rngs::OsRng;
    let tail: String = (0..ID_RANDOM_CHARS)
        .map(|_| ALPHABET[rng.gen_range(0..32)] as char)
        .collect();
    format!("op-{tail}")
}

/// A hash of a random password, verified against when the name is unknown
/// so that unknown names take as long as wrong passwords.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: String = new_operator_id() + &new_operator_id();
        hash_password(&random).unwrap_or_default()
    })
}

impl OperatorStore {
    /// The store of the data directory `data` (nothing is read yet).
    pub fn new(data: &Path) -> OperatorStore {
        OperatorStore {
            path: data.join(OPERATORS_FILE),
            lock_path: data.join(OPERATORS_LOCK_FILE),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> OperatorError + '_ {
        let path = path.to_path_buf();
        move |source| OperatorError::Io {
            path: path.clone(),
            source,
        }
    }

    /// Every account (an absent file: none).
    pub fn list(&self) -> Result<Vec<Operator>, OperatorError> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&self.path)(e)),
        };
        let corrupt = |reason: String| OperatorError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        if meta.len() > OPERATORS_FILE_BYTES_MAX {
            return Err(corrupt(format!(
                "{} bytes is larger than the limit of {OPERATORS_FILE_BYTES_MAX} bytes",
                meta.len()
            )));
        }
        let bytes = std::fs::read(&self.path).map_err(self.io(&self.path))?;
        let file: StoreFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.version != OPERATORS_FILE_VERSION {
            return Err(corrupt(format!(
                "field version: {} is not the supported version {OPERATORS_FILE_VERSION}",
                file.version
            )));
        }
        for (i, op) in file.operators.iter().enumerate() {
            if !is_operator_id(&op.id) {
                return Err(corrupt(format!(
                    "operators[{i}].id {:?} is not an operator id",
                    op.id
                )));
            }
        }
        Ok(file.operators)
    }

    /// The account named `name`, if any.
    pub fn by_name(&self, name: &str) -> Result<Option<Operator>, OperatorError> {
        Ok(self.list()?.into_iter().find(|o| o.name == name))
    }

    /// The account with id `id`, if any.
    pub fn by_id(&self, id: &str) -> Result<Option<Operator>, OperatorError> {
        Ok(self.list()?.into_iter().find(|o| o.id == id))
    }

    /// Runs `change` on the accounts under the exclusive lock and writes
    /// the result back atomically (mode 0600) when `change` returns `Ok`.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<Operator>) -> Result<T, OperatorError>,
    ) -> Result<T, OperatorError> {
        use std::os::unix::fs::OpenOptionsExt;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.lock_path)
            .map_err(self.io(&self.lock_path))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| self.io(&self.lock_path)(e.into()))?;
        let mut ops = self.list()?;
        let out = change(&mut ops)?;
        if ops.len() > OPERATORS_MAX {
            return Err(OperatorError::Invalid {
                field: "name",
                reason: format!("the store holds at most {OPERATORS_MAX} operators"),
            });
        }
        let file = StoreFile {
            version: OPERATORS_FILE_VERSION,
            operators: ops,
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("the store serialises");
        bytes.push(b'\n');
        crate::ledger::durable::write_atomic_private(&self.path, &bytes)
            .map_err(self.io(&self.path))?;
        // The lock is released when `lock` is closed.
        drop(lock);
        Ok(out)
    }

    /// Adds an account; returns it (with its new id).
    pub fn add(&self, name: &str, password: &str) -> Result<Operator, OperatorError> {
        check_name(name)?;
        let hash = hash_password(password)?;
        self.update(|ops| {
            if ops.iter().any(|o| o.name == name) {
                return Err(OperatorError::Exists(name.to_string()));
            }
            let mut id = new_operator_id();
            while ops.iter().any(|o| o.id == id) {
                id = new_operator_id();
            }
            let op = Operator {
                id,
                name: name.to_string(),
                hash,
                disabled: false,
                failed_signins: 0,
                locked_until_s: None,
                created_s: now_s(),
            };
            ops.push(op.clone());
            Ok(op)
        })
    }

    /// Disables an account (its sessions end at their next request).
    pub fn disable(&self, name: &str) -> Result<Operator, OperatorError> {
        self.update(|ops| {
            let op = ops
                .iter_mut()
                .find(|o| o.name == name)
                .ok_or_else(|| OperatorError::Unknown(name.to_string()))?;
            op.disabled = true;
            Ok(op.clone())
        })
    }

    /// Checks a sign-in and counts it: a wrong password adds one to the
    /// account's failed counter and, at `failures_max`, locks the account
    /// for `lockout_s` seconds; a right one resets the counter.
    pub fn sign_in(
        &self,
        name: &str,
        password: &str,
        failures_max: u32,
        lockout_s: i64,
    ) -> Result<SignIn, OperatorError> {
        let Some(found) = self.by_name(name)? else {
            // Same work as a wrong password: names cannot be probed by timing.
            let _ = verify_password(password, dummy_hash());
            return Ok(SignIn::Wrong);
        };
        let now = now_s();
        if found.disabled {
            let _ = verify_password(password, dummy_hash());
            return Ok(SignIn::Disabled);
        }
        if let Some(until) = found.locked_until_s.filter(|u| *u > now) {
            return Ok(SignIn::Locked(until));
        }
        let right = verify_password(password, &found.hash);
        self.update(|ops| {
            let Some(op) = ops.iter_mut().find(|o| o.id == found.id) else {
                return Ok(SignIn::Wrong);
            };
            if right {
                op.failed_signins = 0;
                op.locked_until_s = None;
                return Ok(SignIn::Ok(op.id.clone()));
            }
            op.failed_signins = op.failed_signins.saturating_add(1);
            if op.failed_signins >= failures_max {
                op.failed_signins = 0;
                op.locked_until_s = Some(now + lockout_s);
                return Ok(SignIn::Locked(now + lockout_s));
            }
            Ok(SignIn::Wrong)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_operator_id_form_and_no_name() {
        for _ in 0..100 {
            let id = new_operator_id();
            assert!(is_operator_id(&id), "{id}");
            assert_eq!(id.len(), 3 + ID_RANDOM_CHARS);
            assert!(id.starts_with("op-"));
        }
        for (id, ok) in [
            ("op-abc", true),
            ("a1", true),
            ("a", false),
            ("1op", false),
            ("Op-abc", false),
            ("op_abc", false),
            (&"a".repeat(64), true),
            (&"a".repeat(65), false),
        ] {
            assert_eq!(is_operator_id(id), ok, "{id}");
        }
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_name("Erika Mustermann").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" erika").is_err());
        assert!(check_name("er\nika").is_err());
        assert!(check_name(&"x".repeat(NAME_CHARS_MAX + 1)).is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pass").is_ok());
        assert!(check_password(&"x".repeat(PASSWORD_BYTES_MAX + 1)).is_err());
    }

    #[test]
    fn add_sign_in_lock_out_and_disable() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().expect("tempdir");
        let store = OperatorStore::new(t.path());
        let erika = store.add("erika", "correct horse battery").expect("add");
        assert!(is_operator_id(&erika.id));
        assert!(erika.hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let mode = std::fs::metadata(store.path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            store.add("erika", "another long password"),
            Err(OperatorError::Exists(_))
        ));
        assert_eq!(
            store
                .sign_in("erika", "correct horse battery", 3, 60)
                .expect("sign in"),
            SignIn::Ok(erika.id.clone())
        );
        assert_eq!(
            store.sign_in("nobody", "whatever", 3, 60).expect("sign in"),
            SignIn::Wrong
        );
        assert_eq!(
            store.sign_in("erika", "wrong", 3, 60).expect("1"),
            SignIn::Wrong
        );
        assert_eq!(
            store.sign_in("erika", "wrong", 3, 60).expect("2"),
            SignIn::Wrong
        );
        assert!(matches!(
            store.sign_in("erika", "wrong", 3, 60).expect("3"),
            SignIn::Locked(_)
        ));
        // Locked: even the right password is refused during the cool-down.
        assert!(matches!(
            store
                .sign_in("erika", "correct horse battery", 3, 60)
                .expect("locked"),
            SignIn::Locked(_)
        ));
        store.disable("erika").expect("disable");
        assert!(
            store
                .by_name("erika")
                .expect("read")
                .expect("exists")
                .disabled
        );
        assert!(matches!(
            store.disable("nobody"),
            Err(OperatorError::Unknown(_))
        ));
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = OperatorStore::new(t.path());
        std::fs::write(store.path(), b"{\"version\": 1, \"operators\": [ {").expect("write");
        let e = store.list().expect_err("corrupt");
        assert!(e.to_string().contains("operators.json"), "{e}");
    }
}
