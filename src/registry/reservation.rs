//! Codes before documents: reservations (ledger kind 14, FORMAT.md §3.3).
//!
//! The exam office's PDF generator needs the code, the access key and the
//! verification URL *before* it produces the PDF that is registered.
//! `zeugnis reserve` appends one `Reserved` record per code; the record
//! holds the code, a commitment to its key and the expiry time. The key is
//! never stored: it is derived again from the registration secret and the
//! code (`reservation_seed`), and the commitment is salted with a value
//! derived from the same secret, so the public ledger does not let anyone
//! try the 2^25 possible keys against it.
//!
//! Why the ledger and not a separate store: the ledger is already the one
//! crash-safe, fsynced, audited source of truth; a code reserved there can
//! never be drawn again (the derived `reservations` tree is rebuilt from the
//! records by `reindex`), an archivist can see when a code was handed out,
//! and a reservation needs no personal data.
//!
//! Owns: the `reservations` tree, the reserved key, expiry.
//! Must not do: register (that is `Registry::register_with`, which asks
//! here for the reserved key).

use super::{Issued, Registry, RegistryError};
use crate::codes::{self, AccessKey, Code};
use crate::ledger::{self, record::Body, record::Hash32};
use serde::{Deserialize, Serialize};

/// Derived tree: reserved code -> [`Reservation`] (JSON).
pub const RESERVATIONS_TREE: &str = "reservations";
/// Most codes one `reserve` hands out.
pub const RESERVE_COUNT_MAX: usize = 1000;
/// Days an unused reservation stays valid unless configured
/// (`[reserve] expiry_days`).
pub const RESERVATION_DAYS_DEFAULT: u64 = 90;
/// Longest configurable reservation, in days (ten years).
pub const RESERVATION_DAYS_MAX: u64 = 3653;

const DAY_S: i64 = 86_400;

/// A reservation as the derived tree holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The code (12 characters, no hyphens).
    pub code: String,
    /// Ledger seq of the `Reserved` record.
    pub seq: u64,
    /// When it expires unless used (UTC seconds).
    pub expires_s: i64,
    /// The key commitment of the record (hex).
    pub key_commitment: String,
}

/// Per-code seed of a reservation: BLAKE3 keyed by the registration secret.
fn reservation_seed(secret: &[u8; 32], code: &Code) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(secret);
    h.update(b"zeugnis reservation seed v1\0");
    h.update(code.as_str().as_bytes());
    h.finalize().into()
}

/// The reserved key of `code` and the commitment the `Reserved` record holds.
fn reserved_key_and_commitment(secret: &[u8; 32], code: &Code) -> (AccessKey, Hash32) {
    let seed = reservation_seed(secret, code);
    let key = AccessKey::derive(code, &seed);
    let salt: Hash32 = blake3::derive_key("zeugnis 2026 reservation salt v1", &seed);
    let commitment = codes::key_commitment(code, &key, &salt);
    (key, commitment)
}

impl Registry {
    /// Sets how long an unused reservation stays valid (`[reserve]
    /// expiry_days`, 1 to [`RESERVATION_DAYS_MAX`]).
    pub fn set_reservation_days(&mut self, days: u64) {
        self.reservation_days = days.clamp(1, RESERVATION_DAYS_MAX);
    }

    /// Hands out `count` fresh codes with their keys and verification URLs
    /// (in `language`), each recorded as `Reserved` before it is returned.
    pub fn reserve(&mut self, count: usize, language: &str) -> Result<Vec<Issued>, RegistryError> {
        if count == 0 || count > RESERVE_COUNT_MAX {
            return Err(RegistryError::Invalid(format!(
                "--count: {count} is not between 1 and {RESERVE_COUNT_MAX}"
            )));
        }
        if !["de", "en"].contains(&language) {
            return Err(RegistryError::Invalid(format!(
                "--language: {language:?} is not de or en"
            )));
        }
        self.refresh_derived()?;
        let secret = self.registration_secret()?;
        let expires_s = ledger::now_s() + self.reservation_days as i64 * DAY_S;
        let mut drawn = std::collections::BTreeSet::new();
        let mut bodies = Vec::new();
        let mut issued = Vec::new();
        while drawn.len() < count {
            let code = self.draw_code()?;
            if !drawn.insert(code) {
                continue;
            }
            let (key, key_commitment) = reserved_key_and_commitment(&secret, &code);
            bodies.push(Body::Reserved {
                code: code.as_str().to_string(),
                key_commitment,
                expires_s,
            });
            issued.push(Issued {
                code: code.formatted(),
                key: key.to_string(),
                url: format!("{}/{language}/{}-{key}", self.base_url, code.as_str()),
                stamped: false,
                warnings: Vec::new(),
            });
        }
        for chunk in bodies.chunks(ledger::BATCH_RECORDS_MAX) {
            self.commit(chunk.to_vec()).map_err(|e| {
                let codes: Vec<&str> = issued.iter().map(|i| i.code.as_str()).collect();
                e.unconfirmed("reserved", &codes.join(", "), None)
            })?;
        }
        Ok(issued)
    }

    /// The reservation of `code`, if it was reserved (used or not).
    pub fn reservation(&self, code: &Code) -> Result<Option<Reservation>, RegistryError> {
        Ok(match self.reservations.get(code.as_str())? {
            None => None,
            Some(v) => Some(serde_json::from_slice(&v).map_err(|e| {
                RegistryError::Invalid(format!(
                    "reservation index entry of {}: {e} (run `zeugnis reindex`)",
                    code.formatted()
                ))
            })?),
        })
    }

    /// Every reservation with whether it is used (a certificate holds the
    /// code), in code order.
    pub fn reservations(&self) -> Result<Vec<(Reservation, bool)>, RegistryError> {
        let mut out = Vec::new();
        for entry in self.reservations.iter() {
            let (k, v) = entry?;
            let r: Reservation = serde_json::from_slice(&v).map_err(|e| {
                RegistryError::Invalid(format!(
                    "reservation index entry {}: {e} (run `zeugnis reindex`)",
                    String::from_utf8_lossy(&k)
                ))
            })?;
            let used = self.certs.contains_key(&k)?;
            out.push((r, used));
        }
        Ok(out)
    }

    /// The reserved key of `code`, checked against its record's commitment
    /// (a replaced registration secret would give another key); with
    /// `unexpired`, an expired reservation is refused.
    pub(super) fn reserved_key(
        &mut self,
        code: &Code,
        r: &Reservation,
        unexpired: bool,
    ) -> Result<AccessKey, RegistryError> {
        if unexpired && ledger::now_s() > r.expires_s {
            return Err(RegistryError::Invalid(format!(
                "--code {}: the reservation expired on {} (unused reservations expire after \
                 [reserve] expiry_days); reserve a new code and make the document again",
                code.formatted(),
                crate::dates::date_of_unix_secs(r.expires_s)
            )));
        }
        let secret = self.registration_secret()?;
        let (key, commitment) = reserved_key_and_commitment(&secret, code);
        if hex::encode(commitment) != r.key_commitment {
            return Err(RegistryError::Invalid(format!(
                "--code {}: the reserved key cannot be derived again (the registration secret \
                 under keys/ is not the one that reserved it)",
                code.formatted()
            )));
        }
        Ok(key)
    }

    /// Applies a `Reserved` record to the derived tree.
    pub(super) fn apply_reserved(
        &self,
        seq: u64,
        code: &str,
        key_commitment: &Hash32,
        expires_s: i64,
    ) -> Result<(), RegistryError> {
        let r = Reservation {
            code: code.to_string(),
            seq,
            expires_s,
            key_commitment: hex::encode(key_commitment),
        };
        self.reservations
            .insert(code.as_bytes(), serde_json::to_vec(&r).expect("json"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_key_depends_on_secret_and_code_only() {
        let code = Code::parse("QNVCFM3P4VDF").expect("code");
        let other = Code::parse("ABCDEFGHJKMN").expect("code");
        let (k1, c1) = reserved_key_and_commitment(&[1; 32], &code);
        let (k2, c2) = reserved_key_and_commitment(&[1; 32], &code);
        assert_eq!((k1.to_string(), c1), (k2.to_string(), c2));
        let (_, c3) = reserved_key_and_commitment(&[2; 32], &code);
        assert_ne!(c1, c3, "another secret, another commitment");
        let (_, c4) = reserved_key_and_commitment(&[1; 32], &other);
        assert_ne!(c1, c4, "another code, another commitment");
        assert!(AccessKey::parse(&code, k1.as_str()).is_ok(), "a valid key");
    }
}
