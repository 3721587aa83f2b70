//! Operator ids: who wrote an attributed record (`ledger/FORMAT.md` §3.1,
//! version 6).
//!
//! Owns: [`OperatorId`], the validated id an attributed record carries, and
//! the reserved ids zeugnis itself hands out. An id is a pseudonym: never a
//! name (the ledger cannot forget, and staff have privacy rights too); the
//! mapping from id to person lives outside the ledger (the desk's operator
//! store, or the exam office's own list).
//! Must not do: I/O, or know who an id belongs to.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Shortest operator id, in bytes (`^[a-z][a-z0-9-]{1,63}$`).
pub const OPERATOR_ID_BYTES_MIN: usize = 2;
/// Longest operator id, in bytes.
pub const OPERATOR_ID_BYTES_MAX: usize = 64;

/// The id the admin API's bearer token writes under unless
/// `http.admin_token_operator` names another one (docs/operations.md).
pub const API_OPERATOR: &str = "api";

/// Ids with a fixed meaning; a person's id (`--operator`, the desk) is
/// never one of these.
pub const RESERVED_OPERATOR_IDS: [&str; 1] = [API_OPERATOR];

/// Who wrote a record: `^[a-z][a-z0-9-]{1,63}$` (lowercase ASCII letter,
/// then 1 to 63 lowercase letters, digits or hyphens). The desk makes ids
/// such as `op-` and 10 random base32 characters; [`API_OPERATOR`] is the
/// admin API's bearer token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OperatorId(String);

/// Why a string is not an operator id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorIdError {
    /// Shorter than [`OPERATOR_ID_BYTES_MIN`] or longer than [`OPERATOR_ID_BYTES_MAX`].
    #[error(
        "operator id {id:?} has {len} bytes; an id has {OPERATOR_ID_BYTES_MIN} to \
         {OPERATOR_ID_BYTES_MAX} (pattern ^[a-z][a-z0-9-]{{1,63}}$)"
    )]
    Length {
        /// The id as given (cut to 80 characters).
        id: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside the pattern.
    #[error(
        "operator id {id:?}: character {ch:?} at byte {at} is not allowed (pattern \
         ^[a-z][a-z0-9-]{{1,63}}$: a lowercase letter first, then lowercase letters, digits, \
         hyphens)"
    )]
    Character {
        /// The id as given (cut to 80 characters).
        id: String,
        /// The offending character.
        ch: char,
        /// Its byte offset in the id.
        at: usize,
    },
}

impl OperatorId {
    /// Validates `id` against `^[a-z][a-z0-9-]{1,63}$`.
    pub fn parse(id: &str) -> Result<OperatorId, OperatorIdError> {
        let shown = || id.chars().take(80).collect::<String>();
        if !(OPERATOR_ID_BYTES_MIN..=OPERATOR_ID_BYTES_MAX).contains(&id.len()) {
            return Err(OperatorIdError::Length {
                id: shown(),
                len: id.len(),
            });
        }
        for (at, ch) in id.char_indices() {
            let ok = if at == 0 {
                ch.is_ascii_lowercase()
            } else {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'
            };
            if !ok {
                return Err(OperatorIdError::Character {
                    id: shown(),
                    ch,
                    at,
                });
            }
        }
        Ok(OperatorId(id.to_string()))
    }

    /// The admin API's default id, [`API_OPERATOR`].
    pub fn api() -> OperatorId {
        OperatorId(API_OPERATOR.to_string())
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for an id in [`RESERVED_OPERATOR_IDS`].
    pub fn is_reserved(&self) -> bool {
        RESERVED_OPERATOR_IDS.contains(&self.0.as_str())
    }
}

impl TryFrom<String> for OperatorId {
    type Error = OperatorIdError;
    fn try_from(s: String) -> Result<OperatorId, OperatorIdError> {
        OperatorId::parse(&s)
    }
}

impl From<OperatorId> for String {
    fn from(id: OperatorId) -> String {
        id.0
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for OperatorId {
    type Err = OperatorIdError;
    fn from_str(s: &str) -> Result<OperatorId, OperatorIdError> {
        OperatorId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_pattern() {
        for (id, ok) in [
            ("api", true),
            ("op-abcdefghij", true),
            ("op-2345672345", true),
            ("ab", true),
            ("a-", true),
            (&*format!("a{}", "b".repeat(63)), true),
            (&*format!("a{}", "b".repeat(64)), false),
            ("a", false),
            ("", false),
            ("1op", false),
            ("-op", false),
            ("Op-x", false),
            ("op_x", false),
            ("op x", false),
            ("op.x", false),
            ("opé", false),
            ("op-\u{0}", false),
        ] {
            assert_eq!(OperatorId::parse(id).is_ok(), ok, "{id:?}");
        }
    }

    #[test]
    fn errors_name_the_character_and_its_offset() {
        assert_eq!(
            OperatorId::parse("op_x"),
            Err(OperatorIdError::Character {
                id: "op_x".into(),
                ch: '_',
                at: 2
            })
        );
        assert!(matches!(
            OperatorId::parse("x"),
            Err(OperatorIdError::Length { len: 1, .. })
        ));
    }

    #[test]
    fn serde_validates() {
        let ok: OperatorId = serde_json::from_str("\"op-abc\"").expect("valid");
        assert_eq!(ok.as_str(), "op-abc");
        assert!(serde_json::from_str::<OperatorId>("\"Op\"").is_err());
        assert_eq!(serde_json::to_string(&ok).expect("json"), "\"op-abc\"");
        assert!(OperatorId::api().is_reserved());
        assert!(!ok.is_reserved());
    }
}
