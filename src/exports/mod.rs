//! Machine-readable certificates: the XHochschule "Hochschulabschlusszeugnis"
//! 1.2 XML ([`xhochschule`]) and the European Learning Model JSON-LD
//! ([`elm`]), both built from one [`Transcript`], the shared mapping of a
//! registered certificate (registration record + grade record + the rule
//! set's scale). `docs/exports.md` has the field-by-field mapping.
//!
//! Owns: the mapping, the DIN 91379 check of names ([`din91379`]), the
//! operator's code-list values ([`ExportsConfig`]).
//! Must not do: write the ledger, sign (JAdES/XAdES need a trust service
//! provider; the seam is [`xhochschule::render`] / [`elm::render`] returning
//! unsigned bytes), or reach the network.

pub mod din91379;
pub mod elm;
pub mod file;
pub mod page_render;
pub mod xhochschule;

use crate::codes::{self, Code};
use crate::registry::{Holder, Programme, Reader, RegistryError, State};
use serde::Deserialize;
use serde_json::Value;

/// Longest code-list value or identifier accepted from the configuration, in characters.
pub const CONFIG_VALUE_CHARS_MAX: usize = 200;

/// Errors of the exports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The certificate could not be read (unknown code, wrong key, storage).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The holder data was erased (GDPR): there is nothing to export.
    #[error("certificate {code}: the holder data was erased; it cannot be exported")]
    Erased { code: String },
    /// The certificate has no grade record of a `weighted` rule set, which
    /// both formats need for the final grade and the modules.
    #[error("certificate {code}: {reason}")]
    NoFinalGrade { code: String, reason: String },
    /// A value cannot be written in the format (e.g. a name outside DIN 91379).
    #[error("certificate {code}: {field}: {reason}")]
    Unrepresentable {
        code: String,
        field: String,
        reason: String,
    },
    /// A value of the `[exports]` configuration is invalid.
    #[error("[exports] {field}: {reason}")]
    Config { field: &'static str, reason: String },
}

impl ExportError {
    /// Exit code for the CLI: 2 for input the operator can fix, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExportError::Registry(e) => e.exit_code(),
            _ => 2,
        }
    }
}

/// The operator's values that are not in the registration record
/// (`[exports]` in the configuration file, docs/exports.md). All optional:
/// a missing value leaves its optional element out (XHochschule) or is
/// replaced as documented (ELM).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ExportsConfig {
    /// Destatis "Hochschulsignatur" (key of the university), e.g. `1440`.
    pub hochschulsignatur: Option<String>,
    /// Version of the Destatis university list the signature is from
    /// (the schema requires one with the code), e.g. `2025-WS`.
    pub hochschulsignatur_list_version: Option<String>,
    /// Destatis "Fächerschlüssel" (subject key) of the programme, e.g. `079`.
    pub faecherschluessel: Option<String>,
    /// Version of the Destatis subject list.
    pub faecherschluessel_list_version: Option<String>,
    /// The issuer's country, ISO 3166-1 alpha-3 as in the EU country
    /// authority table (ELM `legalIdentifier.spatial`). Default `DEU`.
    pub country: Option<String>,
    /// The issuer's legal identifier (ELM `registration`), e.g. a VAT or
    /// register number. Default: the Hochschulsignatur, else the institution name.
    pub legal_identifier: Option<String>,
}

impl ExportsConfig {
    /// Checks every value: no control characters, not empty, at most
    /// [`CONFIG_VALUE_CHARS_MAX`]; a code-list value needs its list version.
    pub fn validate(&self) -> Result<(), ExportError> {
        let fields: [(&'static str, &Option<String>); 6] = [
            ("hochschulsignatur", &self.hochschulsignatur),
            (
                "hochschulsignatur_list_version",
                &self.hochschulsignatur_list_version,
            ),
            ("faecherschluessel", &self.faecherschluessel),
            (
                "faecherschluessel_list_version",
                &self.faecherschluessel_list_version,
            ),
            ("country", &self.country),
            ("legal_identifier", &self.legal_identifier),
        ];
        for (field, v) in fields {
            let Some(v) = v else { continue };
            if v.trim().is_empty() || v.trim() != v {
                return Err(ExportError::Config {
                    field,
                    reason: format!("{v:?} is empty or has leading/trailing spaces"),
                });
            }
            if v.chars().count() > CONFIG_VALUE_CHARS_MAX || v.chars().any(char::is_control) {
                return Err(ExportError::Config {
                    field,
                    reason: format!(
                        "longer than {CONFIG_VALUE_CHARS_MAX} characters or has control characters"
                    ),
                });
            }
        }
        let pairs = [
            (
                "hochschulsignatur_list_version",
                &self.hochschulsignatur,
                &self.hochschulsignatur_list_version,
            ),
            (
                "faecherschluessel_list_version",
                &self.faecherschluessel,
                &self.faecherschluessel_list_version,
            ),
        ];
        for (field, value, version) in pairs {
            if value.is_some() && version.is_none() {
                return Err(ExportError::Config {
                    field,
                    reason: "required with the code (XHochschule requires listVersionID)".into(),
                });
            }
        }
        if let Some(c) = &self.country {
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ExportError::Config {
                    field: "country",
                    reason: format!("{c:?} is not three capital letters (ISO 3166-1 alpha-3)"),
                });
            }
        }
        Ok(())
    }
}

/// Language of an exported document (one per document, as XHochschule demands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// German.
    De,
    /// English.
    En,
}

impl Lang {
    /// Parses `de` or `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// `de` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// The EU language authority code (`DEU`, `ENG`).
    pub fn eu_code(self) -> &'static str {
        match self {
            Lang::De => "DEU",
            Lang::En => "ENG",
        }
    }

    /// The `xml:lang` tag.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::De => "de-DE",
            Lang::En => "en",
        }
    }

    /// A decimal string (`"1.30"`) written as this language writes grades
    /// (`"1,30"` in German).
    pub fn decimal(self, v: &str) -> String {
        match self {
            Lang::De => v.replace('.', ","),
            Lang::En => v.to_string(),
        }
    }
}

/// One graded item: a module or the thesis.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The module id as registered.
    pub id: String,
    /// Credit points (ECTS), a decimal string.
    pub lp: String,
    /// The grade, a decimal string with a point (`"1.3"`).
    pub grade: String,
    /// Whether the module is mandatory.
    pub mandatory: bool,
    /// Whether the final grade counts it.
    pub counted: bool,
    /// Whether it is the thesis (see [`is_thesis`]).
    pub thesis: bool,
}

/// One part of the grade input with its items.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// The part id as registered (`P`, `modules`, `thesis`, ...).
    pub id: String,
    /// The part's grade (`display_de`, `display_en`), if the result has one.
    pub display: Option<(String, String)>,
    /// Whether the part passed.
    pub passed: bool,
    /// Credit points required in the part.
    pub required_lp: Option<String>,
    /// Its modules.
    pub items: Vec<Item>,
}

/// The final grade as the regulations write it.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalGrade {
    /// Computation value (`"1.76"`).
    pub value: String,
    /// As printed in German (`"1,76"`).
    pub display_de: String,
    /// As printed in English (`"1.76"`).
    pub display_en: String,
    /// Grade word in German.
    pub word_de: String,
    /// Grade word in English.
    pub word_en: String,
    /// Whether the final grade is a pass.
    pub passed: bool,
}

/// The rule set's grading scale (best, pass limit, worst), when known.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleBounds {
    /// Best grade (`"1.0"`).
    pub best: String,
    /// Worst passing grade (`"4.0"`).
    pub pass_limit: String,
    /// Worst grade (`"5.0"`).
    pub worst: String,
}

/// The shared mapping: everything both formats take from a certificate.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// The code, canonical (12 characters).
    pub code: String,
    /// The code as printed (`QNVC-FM3P-4VDF`).
    pub code_formatted: String,
    /// Lifecycle state (only `archived` and `awaiting_scan` are exported).
    pub state: State,
    /// Issuing institution.
    pub institution: String,
    /// The holder.
    pub holder: Holder,
    /// The programme.
    pub programme: Programme,
    /// Date of the last exam.
    pub last_exam_date: String,
    /// The language of the registered record (the default export language).
    pub record_language: Lang,
    /// Ledger sequence number of the `Registered` record.
    pub registered_seq: u64,
    /// When the `Registered` record was appended (RFC 3339, UTC), if read.
    pub registered_at: Option<String>,
    /// BLAKE3 (hex) of the first digital image (the registered PDF).
    pub document_blake3: Option<String>,
    /// Rule-set id and hash of the grade record.
    pub ruleset: (String, String),
    /// The regulation the rule set cites.
    pub citation: Option<String>,
    /// The final grade.
    pub final_grade: FinalGrade,
    /// The grade scale.
    pub scale: Option<ScaleBounds>,
    /// The parts with their modules.
    pub parts: Vec<Part>,
}

/// Part ids and module ids (compared case-insensitively) that mark the thesis.
pub const THESIS_IDS: [&str; 6] = [
    "thesis",
    "ba",
    "ma",
    "bachelorarbeit",
    "masterarbeit",
    "magisterarbeit",
];

/// Whether a module is the thesis: its part or its own id is one of [`THESIS_IDS`].
pub fn is_thesis(part_id: &str, module_id: &str) -> bool {
    THESIS_IDS
        .iter()
        .any(|t| t.eq_ignore_ascii_case(part_id) || t.eq_ignore_ascii_case(module_id))
}

fn text<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

impl Transcript {
    /// Reads certificate `code_text` (a code, or `CODE-KEY`). With a key
    /// (in `code_text` or `key_text`) the key must match; without one the
    /// caller is the operator (the CLI) who holds the data directory.
    pub fn load(
        reader: &Reader,
        code_text: &str,
        key_text: Option<&str>,
    ) -> Result<Transcript, ExportError> {
        let (code, key_in_code) =
            codes::parse_code_and_key(code_text).map_err(RegistryError::from)?;
        let key = match (key_text, key_in_code) {
            (Some(k), _) => Some(codes::AccessKey::parse(&code, k).map_err(RegistryError::from)?),
            (None, k) => k,
        };
        let c = reader
            .get(code.as_str())?
            .ok_or_else(|| RegistryError::UnknownCode {
                code: code.formatted(),
            })?;
        let record = reader
            .registration_record(&code, key.as_ref(), &c)?
            .ok_or_else(|| ExportError::Erased {
                code: code.formatted(),
            })?;
        let mut t = Transcript::build(&code, &c, record)?;
        let bytes = reader.read_record(t.registered_seq)?;
        let rec = crate::ledger::record::Record::decode(&bytes).map_err(|e| {
            RegistryError::Invalid(format!("ledger record {}: {e}", t.registered_seq))
        })?;
        let secs = u64::try_from(rec.time_s).unwrap_or(0);
        t.registered_at = Some(
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            )
            .to_string(),
        );
        Ok(t)
    }

    /// The mapping itself (pure): certificate state + registration record.
    pub fn build(
        code: &Code,
        c: &crate::registry::Certificate,
        record: crate::registry::RegistrationRecord,
    ) -> Result<Transcript, ExportError> {
        let formatted = code.formatted();
        let no_grade = |reason: &str| ExportError::NoFinalGrade {
            code: formatted.clone(),
            reason: reason.to_string(),
        };
        if !matches!(c.state, State::Archived | State::AwaitingScan) {
            return Err(ExportError::Unrepresentable {
                code: formatted.clone(),
                field: "state".into(),
                reason: format!(
                    "the certificate is {}; only valid certificates are exported",
                    c.state.name()
                ),
            });
        }
        let grade = c.grade.as_ref().ok_or_else(|| {
            no_grade("no grade record was registered; both formats need the final grade")
        })?;
        let result = &grade["result"];
        let fin = &result["final"];
        let field = |v: &Value, name: &str| -> Result<String, ExportError> {
            text(v, name).map(str::to_string).ok_or_else(|| {
                no_grade(&format!(
                    "the grade record has no final.{name}: only rule sets of kind \"weighted\" \
                     (a final grade over modules) can be exported"
                ))
            })
        };
        let final_grade = FinalGrade {
            value: field(fin, "value")?,
            display_de: field(fin, "display_de")?,
            display_en: field(fin, "display_en")?,
            word_de: field(fin, "word_de")?,
            word_en: field(fin, "word_en")?,
            passed: fin.get("passed").and_then(Value::as_bool).unwrap_or(false),
        };
        let ruleset_id = text(grade, "ruleset").unwrap_or_default().to_string();
        let ruleset_hash = text(grade, "ruleset_hash").unwrap_or_default().to_string();
        let shipped = crate::grades::shipped_rulesets().ok();
        let rs = shipped
            .as_ref()
            .and_then(|all| all.iter().find(|r| r.hash == ruleset_hash));
        let scale = rs.and_then(|r| scale_of(&r.canonical_text));
        let input_parts = record
            .grades
            .as_ref()
            .and_then(|g| g.get("parts"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let result_parts = result
            .get("parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut parts = Vec::new();
        for p in &input_parts {
            let pid = text(p, "id").unwrap_or_default().to_string();
            let rp = result_parts.iter().find(|r| text(r, "id") == Some(&pid));
            let counted: Vec<&str> = rp
                .and_then(|r| r.get("counted"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut items = Vec::new();
            for m in p
                .get("modules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = text(m, "id").unwrap_or_default().to_string();
                items.push(Item {
                    counted: counted.contains(&id.as_str()),
                    thesis: is_thesis(&pid, &id),
                    lp: text(m, "lp").unwrap_or_default().to_string(),
                    grade: text(m, "grade").unwrap_or_default().to_string(),
                    mandatory: m.get("mandatory").and_then(Value::as_bool).unwrap_or(false),
                    id,
                });
            }
            parts.push(Part {
                display: rp.and_then(|r| {
                    Some((
                        text(r, "display_de")?.to_string(),
                        text(r, "display_en")?.to_string(),
                    ))
                }),
                passed: rp
                    .and_then(|r| r.get("passed"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                required_lp: text(p, "required_lp").map(str::to_string),
                id: pid,
                items,
            });
        }
        if parts.iter().all(|p| p.items.is_empty()) {
            return Err(no_grade("the grade input has no modules"));
        }
        Ok(Transcript {
            code: code.as_str().to_string(),
            code_formatted: formatted,
            state: c.state,
            institution: c.institution.clone(),
            holder: record.holder,
            programme: record.programme,
            last_exam_date: record.last_exam_date,
            record_language: Lang::parse(&record.language).unwrap_or(Lang::De),
            registered_seq: c.seqs.first().copied().unwrap_or(0),
            registered_at: None,
            document_blake3: c.documents.first().map(|d| d.blake3.clone()),
            ruleset: (ruleset_id, ruleset_hash),
            citation: rs.map(|r| r.citation.clone()),
            final_grade,
            scale,
            parts,
        })
    }

    /// Sum of the credit points of the counted modules, a decimal string.
    pub fn counted_lp(&self) -> String {
        let mut sum = rust_decimal::Decimal::ZERO;
        for i in self
            .parts
            .iter()
            .flat_map(|p| &p.items)
            .filter(|i| i.counted)
        {
            sum += i.lp.parse::<rust_decimal::Decimal>().unwrap_or_default();
        }
        sum.normalize().to_string()
    }
}

/// The `[scale]` of a rule set's canonical text: first, pass limit, last.
fn scale_of(canonical_text: &str) -> Option<ScaleBounds> {
    let v: toml::Value = toml::from_str(canonical_text).ok()?;
    let scale = v.get("scale")?;
    let grades = scale.get("grades")?.as_array()?;
    Some(ScaleBounds {
        best: grades.first()?.as_str()?.to_string(),
        pass_limit: scale.get("pass_limit")?.as_str()?.to_string(),
        worst: grades.last()?.as_str()?.to_string(),
    })
}

/// Escapes text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_checked_naming_the_key() {
        let ok = ExportsConfig {
            hochschulsignatur: Some("1450".into()),
            hochschulsignatur_list_version: Some("2025".into()),
            country: Some("DEU".into()),
            ..ExportsConfig::default()
        };
        assert!(ok.validate().is_ok());
        assert!(ExportsConfig::default().validate().is_ok());
        let cases: [(ExportsConfig, &str); 5] = [
            (
                ExportsConfig {
                    hochschulsignatur: Some("1450".into()),
                    ..ExportsConfig::default()
                },
                "hochschulsignatur_list_version",
            ),
            (
                ExportsConfig {
                    faecherschluessel: Some("079".into()),
                    ..ExportsConfig::default()
                },
                "faecherschluessel_list_version",
            ),
            (
                ExportsConfig {
                    country: Some("de".into()),
                    ..ExportsConfig::default()
                },
                "country",
            ),
            (
                ExportsConfig {
                    legal_identifier: Some("DE\n1".into()),
                    ..ExportsConfig::default()
                },
                "legal_identifier",
            ),
            (
                ExportsConfig {
                    legal_identifier: Some(" DE1".into()),
                    ..ExportsConfig::default()
                },
                "legal_identifier",
            ),
        ];
        for (cfg, field) in cases {
            let e = cfg.validate().expect_err(field);
            assert!(
                matches!(&e, ExportError::Config { field: f, .. } if *f == field),
                "{field}: {e}"
            );
        }
    }

    #[test]
    fn thesis_is_found_by_part_or_module_id() {
        let cases = [
            ("thesis", "MA", true),
            ("P", "BA", true),
            ("Hauptfach", "Masterarbeit", true),
            ("P", "ma", true),
            ("modules", "K1", false),
            ("P", "BA-Seminar", false),
        ];
        for (part, module, want) in cases {
            assert_eq!(is_thesis(part, module), want, "{part}/{module}");
        }
    }

    #[test]
    fn grades_are_written_as_each_language_writes_them_and_text_is_escaped() {
        assert_eq!(Lang::De.decimal("1.76"), "1,76");
        assert_eq!(Lang::En.decimal("1.76"), "1.76");
        assert_eq!(
            xml_escape("A & B <c> \"d\" 'e'"),
            "A &amp; B &lt;c&gt; &quot;d&quot; &apos;e&apos;"
        );
    }

    #[test]
    fn the_scale_of_every_shipped_weighted_rule_set_is_read() {
        let shipped = crate::grades::shipped_rulesets().expect("shipped");
        let weighted: Vec<_> = shipped.iter().filter(|r| r.kind == "weighted").collect();
        assert!(!weighted.is_empty());
        for r in weighted {
            let s = scale_of(&r.canonical_text).unwrap_or_else(|| panic!("{}", r.id));
            assert_eq!(
                (s.best.as_str(), s.pass_limit.as_str()),
                ("1.0", "4.0"),
                "{}",
                r.id
            );
            assert!(s.worst == "5.0", "{}: {s:?}", r.id);
        }
    }
}
