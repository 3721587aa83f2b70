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
/// Longest accepted `holder.email`, in bytes (RFC 5321 §4.5.3.1.3: a path
/// is at most 256 octets, so an address at most 254).
pub const EMAIL_BYTES_MAX: usize = 254;
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
    /// The holder's e-mail address for the mail to the graduate
    /// (`docs/workflow.md` step 5), optional. It never reaches the ledger,
    /// the holder record blob or a page: registration moves it into the
    /// mail queue entry (`crate::mail::queue`) and strips it from the
    /// record that is stored ([`RegistrationRecord::without_email`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
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

/// Checks an e-mail address for the mail to the graduate: at most
/// [`EMAIL_BYTES_MAX`] bytes, exactly one `@` with a non-empty local part
/// and a domain that has a dot, no whitespace, control characters (CR/LF
/// would inject mail headers) or characters that end an address in a
/// header (`<>,;"()[]\`). Deliverability is the SMTP relay's to judge.
pub fn check_email(field: &str, v: &str) -> Result<(), RegistryError> {
    let bad = |why: &str| RegistryError::Invalid(format!("{field}: {v:?} {why}"));
    if v.len() > EMAIL_BYTES_MAX {
        return Err(RegistryError::Invalid(format!(
            "{field}: longer than {EMAIL_BYTES_MAX} bytes"
        )));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(RegistryError::Invalid(format!(
            "{field}: contains control characters (CR/LF are not allowed in an address)"
        )));
    }
    if v.chars()
        .any(|c| c.is_whitespace() || "<>,;\"()[]\\".contains(c))
    {
        return Err(bad("contains a space or one of <>,;\"()[]\\"));
    }
    let mut parts = v.split('@');
    let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(d), None) => (l, d),
        _ => return Err(bad("is not an address with exactly one @")),
    };
    if local.is_empty() || local.len() > 64 {
        return Err(bad(
            "has an empty or too long (over 64 bytes) part before the @",
        ));
    }
    if !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad("has no domain like example.org after the @"));
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

    /// The record as it is stored in the holder record blob: without
    /// `holder.email` (which lives only in the mail queue until the mail
    /// is sent; ARCHITECTURE.md "The graduate mail").
    pub fn without_email(&self) -> RegistrationRecord {
        let mut r = self.clone();
        r.holder.email = None;
        r
    }

    fn validate(&self) -> Result<(), RegistryError> {
        match self.problems().into_iter().next() {
            Some(m) => Err(RegistryError::Invalid(m)),
            None => Ok(()),
        }
    }

    /// Every problem of the record, in field order, each message starting
    /// with the field's path (`holder.birth_date: ...`); empty when the
    /// record is valid. The desk's form marks each field named here.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |r: Result<(), RegistryError>| {
            if let Err(e) = r {
                out.push(match e {
                    RegistryError::Invalid(m) => m,
                    other => other.to_string(),
                });
            }
        };
        note(check_text(
            "institution",
            &self.institution,
            FIELD_CHARS_MAX,
        ));
        if !DOCUMENT_KINDS.contains(&self.kind.as_str()) {
            note(Err(RegistryError::Invalid(format!(
                "kind: {:?} is not one of {}",
                self.kind,
                DOCUMENT_KINDS.join(", ")
            ))));
        }
        if !["de", "en"].contains(&self.language.as_str()) {
            note(Err(RegistryError::Invalid(format!(
                "language: {:?} is not \"de\" or \"en\"",
                self.language
            ))));
        }
        let h = &self.holder;
        note(check_text(
            "holder.given_name",
            &h.given_name,
            FIELD_CHARS_MAX,
        ));
        note(check_text(
            "holder.family_name",
            &h.family_name,
            FIELD_CHARS_MAX,
        ));
        let birth = check_date("holder.birth_date", &h.birth_date);
        let birth_ok = birth.is_ok();
        note(birth);
        note(check_text(
            "holder.birth_place",
            &h.birth_place,
            FIELD_CHARS_MAX,
        ));
        note(check_text(
            "holder.student_id",
            &h.student_id,
            FIELD_CHARS_MAX,
        ));
        if let Some(email) = &h.email {
            note(check_email("holder.email", email));
        }
        note(check_text(
            "programme.degree",
            &self.programme.degree,
            FIELD_CHARS_MAX,
        ));
        note(check_text(
            "programme.name",
            &self.programme.name,
            FIELD_CHARS_MAX,
        ));
        let last = check_date("last_exam_date", &self.last_exam_date);
        let last_ok = last.is_ok();
        note(last);
        if birth_ok && last_ok && h.birth_date >= self.last_exam_date {
            note(Err(RegistryError::Invalid(format!(
                "last_exam_date: {} is not after holder.birth_date {}",
                self.last_exam_date, h.birth_date
            ))));
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `holder.email` is checked as documented: each bad address is
    /// refused with the field named and the reason.
    #[test]
    fn email_addresses_are_checked() {
        let long = format!("{}@example.org", "a".repeat(250));
        let cases: &[(&str, Option<&str>)] = &[
            ("anna.muster@uni-goettingen.de", None),
            ("a+b@x.example", None),
            ("no-at.example.org", Some("exactly one @")),
            ("a@b@example.org", Some("exactly one @")),
            (
                "a@example.org\r\nBcc: x@evil.example",
                Some("control characters"),
            ),
            ("a@example.org\n", Some("control characters")),
            ("a b@example.org", Some("a space")),
            ("<a@example.org>", Some("a space or one of")),
            ("@example.org", Some("empty or too long")),
            ("a@localhost", Some("no domain")),
            ("a@example..org", Some("no domain")),
            (&long, Some("longer than 254 bytes")),
        ];
        for (address, want) in cases {
            let got = check_email("holder.email", address);
            match want {
                None => assert!(got.is_ok(), "{address:?}: {got:?}"),
                Some(w) => {
                    let e = got.expect_err(address).to_string();
                    assert!(
                        e.contains("holder.email") && e.contains(w),
                        "{address:?}: {e}"
                    );
                }
            }
        }
    }

    /// The stored record never carries the address.
    #[test]
    fn the_stored_record_has_no_email() {
        let json = r#"{"institution":"U","kind":"transcript","language":"de",
            "holder":{"given_name":"A","family_name":"B","birth_date":"2000-01-01",
            "birth_place":"C","student_id":"1","email":"a@b.example"},
            "programme":{"degree":"BA","name":"X"},"last_exam_date":"2024-01-01"}"#;
        let r = RegistrationRecord::parse("r.json", json.as_bytes()).unwrap();
        assert_eq!(r.holder.email.as_deref(), Some("a@b.example"));
        let stored = serde_json::to_string(&r.without_email()).unwrap();
        assert!(
            !stored.contains("email") && !stored.contains("a@b.example"),
            "{stored}"
        );
        let bad = json.replace("a@b.example", "a@b.example\\r\\nX: y");
        let e = RegistrationRecord::parse("r.json", bad.as_bytes()).unwrap_err();
        assert!(e.to_string().starts_with("r.json: holder.email"), "{e}");
    }
}
