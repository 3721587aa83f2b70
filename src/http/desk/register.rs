//! The desk's registration (Registrieren), in two steps: upload the record
//! JSON (as exported by the exam administration system) and the PDF, see
//! the record and the computed grade for review, then commit; afterwards
//! the code, key and link to copy and the print bundle to download.
//!
//! Owns: the pending uploads between the two steps (in memory, bound to the
//! session that uploaded them, at most [`PENDING_MAX`] at once, for at most
//! [`PENDING_SECS_MAX`]), and the wording of the three pages. Must not do:
//! write anything before the commit (the commit goes through
//! [`super::write`]); keep an upload after it was committed or replaced.

use super::super::pages::{escape, final_grade, Lang};
use super::page::csrf_field;
use crate::registry::{DocumentFile, Issued, RegistrationRecord};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Uploads waiting for their commit, over all sessions (each session has
/// at most one: a new upload replaces its older one).
pub const PENDING_MAX: usize = 8;
/// How long an upload waits for its commit, in seconds.
pub const PENDING_SECS_MAX: u64 = 1_800;
/// Random bytes of a pending upload's token.
pub const PENDING_TOKEN_BYTES: usize = 16;

/// What a clerk uploaded or typed for one registration.
pub struct Upload {
    /// The parsed record.
    pub record: RegistrationRecord,
    /// The PDF(s).
    pub documents: Vec<DocumentFile>,
    /// The code of the certificate this one supersedes (corrects), if any.
    pub supersedes: Option<String>,
    /// The form's fields as typed (to refill the form when the clerk
    /// changes the data after the review); `None` for a record file.
    pub form: Option<super::record_form::Values>,
}

/// One upload between preview and commit.
pub struct Pending {
    /// The session (SHA-256 of its id is not needed: the operator id and
    /// the token are checked together).
    pub operator: String,
    /// The upload.
    pub upload: Upload,
    /// When it was uploaded.
    at: Instant,
}

impl std::ops::Deref for Pending {
    type Target = Upload;
    fn deref(&self) -> &Upload {
        &self.upload
    }
}

/// The pending uploads.
#[derive(Default)]
pub struct PendingTable {
    /// By token.
    by_token: HashMap<String, Pending>,
}

impl PendingTable {
    /// Keeps an upload; returns its token. The operator's older upload and
    /// uploads older than [`PENDING_SECS_MAX`] are dropped; when the table
    /// is full, the oldest goes.
    pub fn put(&mut self, operator: &str, upload: Upload, now: Instant) -> String {
        let ttl = Duration::from_secs(PENDING_SECS_MAX);
        self.by_token
            .retain(|_, p| p.operator != operator && now.saturating_duration_since(p.at) <= ttl);
        while self.by_token.len() >= PENDING_MAX {
            let Some(oldest) = self
                .by_token
                .iter()
                .min_by_key(|(_, p)| p.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.by_token.remove(&oldest);
        }
        let token = super::session::random_hex(PENDING_TOKEN_BYTES);
        self.by_token.insert(
            token.clone(),
            Pending {
                operator: operator.to_string(),
                upload,
                at: now,
            },
        );
        token
    }

    /// The upload `token` of `operator`, left in place (to change it).
    pub fn peek(&self, operator: &str, token: &str, now: Instant) -> Option<&Pending> {
        let p = self.by_token.get(token)?;
        (p.operator == operator
            && now.saturating_duration_since(p.at) <= Duration::from_secs(PENDING_SECS_MAX))
        .then_some(p)
    }

    /// Takes the upload `token` of `operator` (once), if it is still there.
    pub fn take(&mut self, operator: &str, token: &str, now: Instant) -> Option<Pending> {
        let p = self.by_token.get(token)?;
        if p.operator != operator {
            return None;
        }
        let p = self.by_token.remove(token)?;
        (now.saturating_duration_since(p.at) <= Duration::from_secs(PENDING_SECS_MAX)).then_some(p)
    }
}

/// The upload of a record file (JSON as exported by the exam
/// administration system) with its PDF, below the field form.
pub fn upload_form(lang: Lang, csrf: &str) -> String {
    let de = lang == Lang::De;
    let mut b = String::new();
    let _ = write!(
        b,
        "<h2>{heading}</h2>\n<p>{intro}</p>\n<form method=\"post\" action=\"/desk/register\" enctype=\"multipart/form-data\">\n{csrf}\n\
<div class=\"field\"><label for=\"record\">{record}</label>\n<input type=\"file\" id=\"record\" name=\"record\" accept=\"application/json,.json\" required aria-describedby=\"record-hint\">\n\
<p class=\"hint\" id=\"record-hint\">{record_hint}</p></div>\n\
<div class=\"field\"><label for=\"record-document\">{document}</label>\n<input type=\"file\" id=\"record-document\" name=\"document\" accept=\"application/pdf,.pdf\" required></div>\n\
<div class=\"field\"><label for=\"record-supersedes\">{supersedes}</label>\n<input type=\"text\" class=\"plain\" id=\"record-supersedes\" name=\"supersedes\" autocomplete=\"off\" spellcheck=\"false\" maxlength=\"64\" aria-describedby=\"supersedes-hint\">\n\
<p class=\"hint\" id=\"supersedes-hint\">{supersedes_hint}</p></div>\n\
<button type=\"submit\">{button}</button>\n</form>\n",
        heading = if de {
            "Oder: Datensatz-Datei hochladen"
        } else {
            "Or: upload a record file"
        },
        intro = if de {
            "Statt die Felder auszufüllen: den Datensatz (JSON aus der Prüfungsverwaltung) und das PDF hochladen. Auch dann sehen Sie alles zur Prüfung, bevor etwas gespeichert wird."
        } else {
            "Instead of filling in the fields: upload the record (JSON from the exam administration system) and the PDF. You then also see everything for review before anything is stored."
        },
        csrf = csrf_field(csrf),
        record = if de { "Datensatz (JSON)" } else { "Record (JSON)" },
        record_hint = if de {
            "Felder: institution, kind, language, holder, programme, last_exam_date, grades (Noteneingabe, optional)."
        } else {
            "Fields: institution, kind, language, holder, programme, last_exam_date, grades (grade input, optional)."
        },
        document = if de { "Zeugnis (PDF)" } else { "Certificate (PDF)" },
        supersedes = if de {
            "Ersetzt das Zeugnis mit dem Code (nur bei einer Berichtigung)"
        } else {
            "Supersedes the certificate with the code (corrections only)"
        },
        supersedes_hint = if de {
            "Leer lassen für ein neues Zeugnis. Mit Code: das alte Zeugnis wird als ersetzt markiert und verweist auf das neue."
        } else {
            "Leave empty for a new certificate. With a code: the old certificate is marked superseded and points to the new one."
        },
        button = if de { "Weiter zur Prüfung" } else { "Continue to the review" },
    );
    b
}

/// The review page: the record, the grade as computed, the document; the
/// commit button (a POST with the CSRF and the upload's token).
pub fn preview(
    lang: Lang,
    csrf: &str,
    token: &str,
    record: &RegistrationRecord,
    grade: Option<&serde_json::Value>,
    documents: &[(String, usize)],
    warnings: &[String],
) -> String {
    let de = lang == Lang::De;
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p class=\"status warn\" role=\"status\">{}</p>",
        escape(if de {
            "Noch nicht gespeichert. Bitte prüfen Sie die Angaben; mit „Registrieren“ werden sie unveränderlich im Archiv festgehalten."
        } else {
            "Not stored yet. Please check the data; \u{201c}Register\u{201d} records it in the archive for good."
        })
    );
    let h = &record.holder;
    let mut rows: Vec<(&str, String)> = vec![
        ("Name", format!("{} {}", h.given_name, h.family_name)),
        (
            if de { "Geburtsdatum" } else { "Date of birth" },
            h.birth_date.clone(),
        ),
        (
            if de { "Geburtsort" } else { "Place of birth" },
            h.birth_place.clone(),
        ),
        (
            if de {
                "Matrikelnummer"
            } else {
                "Student number"
            },
            h.student_id.clone(),
        ),
        (
            if de {
                "E-Mail-Adresse"
            } else {
                "E-mail address"
            },
            h.email.clone().unwrap_or_else(|| "–".into()),
        ),
        (
            if de { "Abschluss" } else { "Degree" },
            record.programme.degree.clone(),
        ),
        (
            if de { "Studiengang" } else { "Programme" },
            record.programme.name.clone(),
        ),
        (
            if de { "Letzte Prüfung" } else { "Last exam" },
            record.last_exam_date.clone(),
        ),
        (if de { "Art" } else { "Kind" }, record.kind.clone()),
        (
            if de { "Sprache" } else { "Language" },
            record.language.clone(),
        ),
        (
            if de { "Hochschule" } else { "Institution" },
            record.institution.clone(),
        ),
    ];
    match grade {
        Some(g) => rows.push((
            if de {
                "Gesamtnote (berechnet)"
            } else {
                "Final grade (computed)"
            },
            final_grade(lang, g).unwrap_or_else(|| g["result"].to_string()),
        )),
        None => rows.push((
            if de { "Gesamtnote" } else { "Final grade" },
            (if de {
                "keine Noteneingabe"
            } else {
                "no grade input"
            })
            .to_string(),
        )),
    }
    for (name, size) in documents {
        rows.push((
            if de { "Dokument" } else { "Document" },
            format!("{name} ({} KiB)", size.div_ceil(1024)),
        ));
    }
    b.push_str("<dl>\n");
    for (k, v) in rows {
        let _ = writeln!(b, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    b.push_str("</dl>\n");
    if let Some(g) = grade {
        parts_table(&mut b, lang, g);
    }
    for w in warnings {
        let _ = writeln!(b, "<p class=\"status warn\">{}</p>", escape(w));
    }
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/desk/register/commit\">\n{}\n<input type=\"hidden\" name=\"upload\" value=\"{}\">\n\
<button type=\"submit\">{}</button>\n</form>\n<ul>\n<li><a href=\"/desk/register?edit={}\">{}</a></li>\n<li><a href=\"/desk/register\">{}</a></li>\n</ul>\n",
        csrf_field(csrf),
        escape(token),
        if de { "Registrieren" } else { "Register" },
        escape(token),
        if de { "Angaben ändern" } else { "Change the data" },
        if de { "Abbrechen, neu beginnen" } else { "Cancel, start again" },
    );
    b
}

/// The parts of a computed grade as a table (what counted, with how many
/// LP, the part's grade): what the clerk compares with the paper before
/// the commit. Nothing for grades without parts.
fn parts_table(b: &mut String, lang: Lang, grade: &serde_json::Value) {
    let Some(parts) = grade["result"]["parts"]
        .as_array()
        .filter(|p| !p.is_empty())
    else {
        return;
    };
    let de = lang == Lang::De;
    let _ = writeln!(
        b,
        "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">LP</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>",
        if de { "Berechnung je Teil" } else { "Computation per part" },
        if de { "Teil" } else { "Part" },
        if de { "Gezählte Module (in dieser Reihenfolge)" } else { "Modules counted (in this order)" },
        if de { "Note" } else { "Grade" },
    );
    for p in parts {
        let counted: Vec<&str> = p["counted"]
            .as_array()
            .map(|c| c.iter().filter_map(|m| m.as_str()).collect())
            .unwrap_or_default();
        let display = if de {
            &p["display_de"]
        } else {
            &p["display_en"]
        };
        let lp = p["lp_counted"].as_str().unwrap_or("");
        let _ = writeln!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(p["id"].as_str().unwrap_or("")),
            escape(&counted.join(", ")),
            escape(&if de {
                lp.replace('.', ",")
            } else {
                lp.to_string()
            }),
            escape(display.as_str().unwrap_or("")),
        );
    }
    b.push_str("</tbody>\n</table>\n");
}

/// The page after the commit: code, key and link to copy, the print
/// bundle and the cover sheet to download.
pub fn done(lang: Lang, issued: &Issued) -> String {
    let de = lang == Lang::De;
    let code_plain: String = issued.code.chars().filter(|c| *c != '-').collect();
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p class=\"status ok\" role=\"status\">{}</p>",
        escape(if de {
            "Registriert. Das Zeugnis wartet jetzt auf den Scan des unterschriebenen Originals."
        } else {
            "Registered. The certificate now awaits the scan of the signed original."
        })
    );
    for (id, label, value) in [
        ("out-code", "Code", issued.code.as_str()),
        (
            "out-key",
            if de {
                "Zugangsschlüssel"
            } else {
                "Access key"
            },
            issued.key.as_str(),
        ),
        (
            "out-url",
            if de {
                "Link zur Prüfseite"
            } else {
                "Verification link"
            },
            issued.url.as_str(),
        ),
    ] {
        let _ = writeln!(
            b,
            "<div class=\"field\"><label for=\"{id}\">{}</label>\n<input type=\"text\" class=\"plain\" id=\"{id}\" value=\"{}\" readonly></div>",
            escape(label),
            escape(value)
        );
    }
    for w in &issued.warnings {
        let _ = writeln!(b, "<p class=\"status warn\">{}</p>", escape(w));
    }
    let _ = writeln!(
        b,
        "<ul>\n<li><a href=\"/desk/print-bundle/{code}\" download>{bundle}</a></li>\n<li><a href=\"/desk/cover-sheet/{code}\" download>{sheet}</a></li>\n<li><a href=\"/desk/certificate/{code}\">{page}</a></li>\n<li><a href=\"/desk/register\">{again}</a></li>\n</ul>",
        code = escape(&code_plain),
        page = if de { "Zur Seite des Zeugnisses" } else { "To the certificate's page" },
        bundle = if de { "Druckpaket herunterladen (Zeugnis und Deckblatt, PDF)" } else { "Download the print bundle (certificate and cover sheet, PDF)" },
        sheet = if de { "Nur das Deckblatt herunterladen (PDF)" } else { "Download the cover sheet only (PDF)" },
        again = if de { "Nächstes Zeugnis registrieren" } else { "Register the next certificate" },
    );
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RegistrationRecord {
        let json = serde_json::json!({
            "institution": "Universität Erfurt", "kind": "transcript", "language": "de",
            "holder": {"given_name": "Anna", "family_name": "Muster", "birth_date": "2000-01-02",
                       "birth_place": "Erfurt", "student_id": "123"},
            "programme": {"degree": "B.A.", "name": "Geschichte"},
            "last_exam_date": "2026-07-01"
        });
        RegistrationRecord::parse("record", json.to_string().as_bytes()).expect("record")
    }

    fn upload() -> Upload {
        Upload {
            record: record(),
            documents: Vec::new(),
            supersedes: None,
            form: None,
        }
    }

    #[test]
    fn an_upload_is_taken_once_and_only_by_its_operator() {
        let t0 = Instant::now();
        let mut table = PendingTable::default();
        let token = table.put("op-a", upload(), t0);
        assert!(table.take("op-b", &token, t0).is_none(), "another operator");
        assert!(table.take("op-a", &token, t0).is_some());
        assert!(table.take("op-a", &token, t0).is_none(), "only once");
        let old = table.put("op-a", upload(), t0);
        let new = table.put("op-a", upload(), t0);
        assert!(table.peek("op-a", &new, t0).is_some(), "peek leaves it");
        assert!(
            table.peek("op-b", &new, t0).is_none(),
            "peek: another operator"
        );
        assert!(
            table.take("op-a", &old, t0).is_none(),
            "replaced by the newer upload"
        );
        let late = t0 + Duration::from_secs(PENDING_SECS_MAX + 1);
        assert!(table.take("op-a", &new, late).is_none(), "expired");
        for i in 0..PENDING_MAX + 3 {
            table.put(&format!("op-{i}"), upload(), t0);
        }
        assert_eq!(table.by_token.len(), PENDING_MAX);
    }
}
