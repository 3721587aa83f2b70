//! The registration-record contract (docs/design.md "Contracts that scripts
//! rely on"): the JSON record an exam office submits, its validation, and
//! the personal-data record blob it is stored in (FORMAT.md §14.2).
//!
//! Owns: every rule a record must meet before it is registered.
//! Must not do: touch the ledger, the blob store or the derived index.

use super::RegistryError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest accepted text field of a registration record, in characters.
pub const FIELD_CHARS_MAX: usize = 300;
/// Largest registration record file, in bytes.
pub const RECORD_FILE_BYTES_MAX: usize = 256 * 1024;

/// Validated registration record (docs/design.md "Contracts that scripts rely on").
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRecord {
    /// Issuing institution.
    pub institution: String,
    /// `transcript` | `degree_deed` | `diploma_supplement` | `certificate`.
    pub kind: String,
    /// `de` | `en`: the language of the first document.
    pub language: String,
    /// The holder (personal data).
    pub holder: Holder,
    /// The programme.
    pub programme: Programme,
    /// Date of the last exam, `YYYY-MM-DD`.
    pub last_exam_date: String,
    /// Optional grade input (see the grade engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grades: Option<Value>,
}

/// Holder data (personal).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Place of birth.
    pub birth_place: String,
    /// Matriculation number.
    pub student_id: String,
}

/// The programme.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Programme {
    /// Degree, e.g. `Bachelor of Arts`.
    pub degree: String,
    /// Programme name.
    pub name: String,
}

/// Accepted document kinds.
pub const DOCUMENT_KINDS: [&str; 4] = [
    "transcript",
    "degree_deed",
    "diploma_supplement",
    "certificate",
];

pub(super) fn check_text(field: &str, v: &str, max: usize) -> Result<(), RegistryError> {
    if v.trim().is_empty() {
        return Err(RegistryError::Invalid(format!(
            "{field}: must not be empty"
        )));
    }
    if v.chars().count() > max {
        return Err(RegistryError::Invalid(format!(
            "{field}: longer than {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(RegistryError::Invalid(format!(
            "{field}: contains control characters"
        )));
    }
    Ok(())
}

/// Checks a `YYYY-MM-DD` calendar date (years 1900–2199).
pub fn check_date(field: &str, v: &str) -> Result<(), RegistryError> {
    let bad = || RegistryError::Invalid(format!("{field}: {v:?} is not a date YYYY-MM-DD"));
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
    if !v[..4]
        .bytes()
        .chain(v[5..7].bytes())
        .chain(v[8..].bytes())
        .all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let (y, m, d) = (num(&v[..4])?, num(&v[5..7])?, num(&v[8..])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1900..=2199).contains(&y) || d == 0 || d > days {
        return Err(bad());
    }
    Ok(())
}

impl RegistrationRecord {
    /// Parses and fully validates a registration record; `name` (the file)
    /// prefixes every error.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<RegistrationRecord, RegistryError> {
        if bytes.len() > RECORD_FILE_BYTES_MAX {
            return Err(RegistryError::Invalid(format!(
                "{name}: larger than {RECORD_FILE_BYTES_MAX} bytes"
            )));
        }
        let r: RegistrationRecord = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::Invalid(format!("{name}: {e}")))?;
        r.validate().map_err(|e| match e {
            RegistryError::Invalid(m) => RegistryError::Invalid(format!("{name}: {m}")),
            other => other,
        })?;
        Ok(r)
    }

    fn validate(&self) -> Result<(), RegistryError> {
        check_text("institution", &self.institution, FIELD_CHARS_MAX)?;
        if !DOCUMENT_KINDS.contains(&self.kind.as_str()) {
            return Err(RegistryError::Invalid(format!(
                "kind: {:?} is not one of {}",
                self.kind,
                DOCUMENT_KINDS.join(", ")
            )));
        }
        if !["de", "en"].contains(&self.language.as_str()) {
            return Err(RegistryError::Invalid(format!(
                "language: {:?} is not \"de\" or \"en\"",
                self.language
            )));
        }
        check_text(
            "holder.given_name",
            &self.holder.given_name,
            FIELD_CHARS_MAX,
        )?;
        check_text(
            "holder.family_name",
            &self.holder.family_name,
            FIELD_CHARS_MAX,
        )?;
        check_date("holder.birth_date", &self.holder.birth_date)?;
        check_text(
            "holder.birth_place",
            &self.holder.birth_place,
            FIELD_CHARS_MAX,
        )?;
        check_text(
            "holder.student_id",
            &self.holder.student_id,
            FIELD_CHARS_MAX,
        )?;
        check_text("programme.degree", &self.programme.degree, FIELD_CHARS_MAX)?;
        check_text("programme.name", &self.programme.name, FIELD_CHARS_MAX)?;
        check_date("last_exam_date", &self.last_exam_date)?;
        if self.holder.birth_date >= self.last_exam_date {
            return Err(RegistryError::Invalid(format!(
                "last_exam_date: {} is not after holder.birth_date {}",
                self.last_exam_date, self.holder.birth_date
            )));
        }
        Ok(())
    }
}

/// The personal-data record blob (FORMAT.md §14.2). Field order is fixed.
#[derive(Serialize, Deserialize)]
pub(super) struct HolderBlob {
    pub(super) format: String,
    pub(super) salt: String,
    pub(super) code: String,
    pub(super) record: RegistrationRecord,
}
