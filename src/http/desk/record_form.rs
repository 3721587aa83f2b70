//! The registration form's fields (Registrieren, "Angaben eingeben"): what
//! a clerk types instead of uploading a record JSON, turned into the same
//! [`RegistrationRecord`], and the form itself, refilled with what was
//! typed and every problem shown at its field.
//!
//! Owns: the form's field names and labels, the mapping of fields onto the
//! record (one function, [`record_from_form`]), and the grade input's line
//! format ([`grade_input`]): the module table as a clerk copies it out of a
//! spreadsheet. Must not do: compute grades or check records itself (the
//! grade engine and [`RegistrationRecord::problems`] do), or write
//! anything.

use super::super::pages::{escape, Lang};
use super::page::csrf_field;
use crate::registry::RegistrationRecord;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Lines of the grade input (the module table) at most.
pub const GRADE_LINES_MAX: usize = 2_000;
/// Characters of one grade input line at most.
pub const GRADE_LINE_CHARS_MAX: usize = 512;

/// What the clerk typed, by field name (for the record, and to refill the
/// form after an error).
pub type Values = HashMap<String, String>;

/// A problem with one field: the field's name (the input's id) and the
/// message in words (English or German, as the check gives it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The form field (`given_name`, `grades`, ...), or `""` for the form
    /// as a whole.
    pub field: String,
    /// What is wrong, naming the field (and the line of the grade input).
    pub message: String,
}

/// The text fields of the form: name, German label, English label, input
/// type, the record's path (as the record's checks name it), required.
const TEXT_FIELDS: [(&str, &str, &str, &str, &str, bool); 11] = [
    (
        "institution",
        "Hochschule",
        "Institution",
        "text",
        "institution",
        true,
    ),
    (
        "given_name",
        "Vorname(n)",
        "Given name(s)",
        "text",
        "holder.given_name",
        true,
    ),
    (
        "family_name",
        "Familienname",
        "Family name",
        "text",
        "holder.family_name",
        true,
    ),
    (
        "birth_date",
        "Geburtsdatum",
        "Date of birth",
        "date",
        "holder.birth_date",
        true,
    ),
    (
        "birth_place",
        "Geburtsort",
        "Place of birth",
        "text",
        "holder.birth_place",
        true,
    ),
    (
        "student_id",
        "Matrikelnummer",
        "Student number",
        "text",
        "holder.student_id",
        true,
    ),
    (
        "email",
        "E-Mail-Adresse für die Mail an die Absolventin / den Absolventen (optional)",
        "E-mail address for the mail to the graduate (optional)",
        "email",
        "holder.email",
        false,
    ),
    (
        "degree",
        "Abschluss (z. B. Bachelor of Arts)",
        "Degree (e.g. Bachelor of Arts)",
        "text",
        "programme.degree",
        true,
    ),
    (
        "programme",
        "Studiengang",
        "Programme",
        "text",
        "programme.name",
        true,
    ),
    (
        "last_exam_date",
        "Datum der letzten Prüfung",
        "Date of the last exam",
        "date",
        "last_exam_date",
        true,
    ),
    (
        "supersedes",
        "Ersetzt das Zeugnis mit dem Code (nur bei einer Berichtigung)",
        "Supersedes the certificate with the code (corrections only)",
        "text",
        "supersedes",
        false,
    ),
];

/// The document kinds with their labels.
const KINDS: [(&str, &str, &str); 4] = [
    ("transcript", "Zeugnis", "Transcript"),
    ("degree_deed", "Urkunde", "Degree deed"),
    (
        "diploma_supplement",
        "Diploma Supplement",
        "Diploma Supplement",
    ),
    ("certificate", "Bescheinigung", "Certificate"),
];

fn value<'a>(values: &'a Values, name: &str) -> &'a str {
    values.get(name).map(|v| v.trim()).unwrap_or("")
}

/// The record JSON (without `grades`) of fields named as the form's
/// inputs and the batch CSV's columns (`given_name`, `degree`,
/// `programme`, ...): `value(name)` gives a field's text, `""` when it is
/// absent; an empty `email` is no address. The record's own checks judge
/// the result.
pub fn record_json(value: impl Fn(&str) -> String) -> Value {
    let mut holder = json!({
        "given_name": value("given_name"),
        "family_name": value("family_name"),
        "birth_date": value("birth_date"),
        "birth_place": value("birth_place"),
        "student_id": value("student_id"),
    });
    let email = value("email");
    if !email.is_empty() {
        holder["email"] = Value::String(email);
    }
    json!({
        "institution": value("institution"),
        "kind": value("kind"),
        "language": value("language"),
        "holder": holder,
        "programme": {"degree": value("degree"), "name": value("programme")},
        "last_exam_date": value("last_exam_date"),
    })
}

/// The record the form describes, or every problem with it: the record's
/// own checks ([`RegistrationRecord::problems`]) mapped onto the form's
/// fields, and the grade input's ([`grade_input`]). The grade input is only
/// read here, not evaluated (the review evaluates it).
pub fn record_from_form(values: &Values) -> Result<RegistrationRecord, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let grades = match grade_input(value(values, "ruleset"), value(values, "grades")) {
        Ok(g) => g,
        Err(message) => {
            problems.push(FieldProblem {
                field: "grades".into(),
                message,
            });
            None
        }
    };
    let mut record = record_json(|name| value(values, name).to_string());
    if let Some(g) = grades {
        record["grades"] = g;
    }
    let parsed: RegistrationRecord = match serde_json::from_value(record) {
        Ok(r) => r,
        Err(e) => {
            problems.push(FieldProblem {
                field: String::new(),
                message: e.to_string(),
            });
            return Err(problems);
        }
    };
    for message in parsed.problems() {
        let path = message.split(':').next().unwrap_or("");
        let field = TEXT_FIELDS
            .iter()
            .find(|f| f.4 == path)
            .map(|f| f.0)
            .or_else(|| ["kind", "language"].into_iter().find(|k| *k == path))
            .unwrap_or("");
        problems.push(FieldProblem {
            field: field.to_string(),
            message,
        });
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

/// The form's values for a record (to change it after the review).
pub fn values_of(record: &RegistrationRecord, supersedes: Option<&str>) -> Values {
    let h = &record.holder;
    let mut v: Values = [
        ("institution", record.institution.as_str()),
        ("kind", &record.kind),
        ("language", &record.language),
        ("given_name", &h.given_name),
        ("family_name", &h.family_name),
        ("birth_date", &h.birth_date),
        ("birth_place", &h.birth_place),
        ("student_id", &h.student_id),
        ("email", h.email.as_deref().unwrap_or("")),
        ("degree", &record.programme.degree),
        ("programme", &record.programme.name),
        ("last_exam_date", &record.last_exam_date),
        ("supersedes", supersedes.unwrap_or("")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(g) = &record.grades {
        let ruleset = g["ruleset"].as_str().unwrap_or("").to_string();
        let mut rest = g.clone();
        if let Some(o) = rest.as_object_mut() {
            o.remove("ruleset");
        }
        v.insert("ruleset".into(), ruleset);
        v.insert(
            "grades".into(),
            serde_json::to_string_pretty(&rest).unwrap_or_default(),
        );
    }
    v
}

/// A decimal as the grade engine reads it: digits with at most one
/// decimal point; a German decimal comma is read as the point (`1,3` is
/// `1.3`), nothing else is changed (the engine checks the rest).
fn decimal(line: usize, what: &str, text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("grades, line {line}: the {what} is missing"));
    }
    let d = t.replace(',', ".");
    if d.chars().all(|c| c.is_ascii_digit() || c == '.') && d.matches('.').count() <= 1 {
        Ok(d)
    } else {
        Err(format!(
            "grades, line {line}: the {what} {t:?} is not a number like 1,3 or 10"
        ))
    }
}

/// The grade input from the form's rule set and text, `None` without a
/// rule set and text. The text is either the input as JSON (an object; its
/// `ruleset` may be left out, the selected one is used) or lines, one per
/// row, cells separated by `;` or a tab:
///
/// - weighted rule sets: `part;ID;REQUIRED_LP` (or `Teil;...`) starts a
///   part; `MODULE;LP;GRADE[;FLAG...]` is a module of the part above, with
///   the flags `mandatory`/`Pflicht` and `thesis`/`Arbeit`;
/// - examiners rule sets: one examiner's grade per line, and
///   `third;GRADE` (or `Dritt;...`) for the third examiner;
/// - MC rule sets take JSON only.
///
/// Blank lines and lines starting with `#` are skipped. Errors name the
/// line.
pub fn grade_input(ruleset: &str, text: &str) -> Result<Option<Value>, String> {
    let text = text.trim();
    if ruleset.is_empty() && text.is_empty() {
        return Ok(None);
    }
    if text.starts_with('{') {
        let mut v: Value = serde_json::from_str(text).map_err(|e| format!("grades (JSON): {e}"))?;
        let o = v.as_object_mut().ok_or("grades (JSON): not an object")?;
        match (o.get("ruleset").and_then(Value::as_str), ruleset) {
            (None, "") => return Err("grades: choose a rule set".into()),
            (None, r) => {
                o.insert("ruleset".into(), Value::String(r.to_string()));
            }
            (Some(inner), r) if !r.is_empty() && inner != r => {
                return Err(format!(
                    "grades: the JSON names the rule set {inner:?}, the form {r:?}"
                ))
            }
            _ => {}
        }
        return Ok(Some(v));
    }
    if ruleset.is_empty() {
        return Err("grades: choose a rule set for the grade input".into());
    }
    let kind = crate::grades::shipped_rulesets()
        .map_err(|e| format!("grades: {e}"))?
        .into_iter()
        .find(|r| r.id == ruleset)
        .map(|r| r.kind)
        .ok_or_else(|| format!("grades: {ruleset:?} is not a shipped rule set"))?;
    if text.is_empty() {
        return Err(format!(
            "grades: the rule set {ruleset} needs the grades (one line per module or examiner)"
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if n > GRADE_LINES_MAX {
            return Err(format!("grades: more than {GRADE_LINES_MAX} lines"));
        }
        if line.chars().count() > GRADE_LINE_CHARS_MAX {
            return Err(format!(
                "grades, line {n}: longer than {GRADE_LINE_CHARS_MAX} characters"
            ));
        }
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = l.split([';', '\t']).map(str::trim).collect();
        rows.push((n, cells));
    }
    let mut input = Map::new();
    input.insert("ruleset".into(), Value::String(ruleset.to_string()));
    match kind.as_str() {
        "weighted" => {
            let mut parts: Vec<Value> = Vec::new();
            for (n, cells) in rows {
                let head = cells[0].to_lowercase();
                if head == "part" || head == "teil" {
                    if cells.len() != 3 || cells[1].is_empty() {
                        return Err(format!(
                            "grades, line {n}: a part line is part;ID;REQUIRED_LP"
                        ));
                    }
                    parts.push(json!({"id": cells[1], "required_lp": decimal(n, "required LP", cells[2])?, "modules": []}));
                    continue;
                }
                if cells.len() < 3 {
                    return Err(format!(
                        "grades, line {n}: a module line is MODULE;LP;GRADE[;mandatory][;thesis]"
                    ));
                }
                let mut module = json!({
                    "id": cells[0],
                    "lp": decimal(n, "LP", cells[1])?,
                    "grade": decimal(n, "grade", cells[2])?,
                    "mandatory": false,
                });
                for flag in &cells[3..] {
                    match flag.to_lowercase().as_str() {
                        "" => {}
                        "mandatory" | "pflicht" | "p" => module["mandatory"] = Value::Bool(true),
                        "thesis" | "arbeit" => module["thesis"] = Value::Bool(true),
                        other => {
                            return Err(format!(
                                "grades, line {n}: {other:?} is not a flag (mandatory/Pflicht, thesis/Arbeit)"
                            ))
                        }
                    }
                }
                let Some(part) = parts.last_mut() else {
                    return Err(format!(
                        "grades, line {n}: a module before any part; begin with part;ID;REQUIRED_LP"
                    ));
                };
                if let Some(m) = part["modules"].as_array_mut() {
                    m.push(module);
                }
            }
            input.insert("parts".into(), Value::Array(parts));
        }
        "examiners" => {
            let mut grades = Vec::new();
            for (n, cells) in rows {
                let head = cells[0].to_lowercase();
                if head == "third" || head == "dritt" {
                    let g = cells.get(1).copied().unwrap_or("");
                    input.insert("third".into(), Value::String(decimal(n, "third grade", g)?));
                } else if cells.len() == 1 {
                    grades.push(Value::String(decimal(n, "grade", cells[0])?));
                } else {
                    return Err(format!(
                        "grades, line {n}: one grade per line, or third;GRADE"
                    ));
                }
            }
            input.insert("grades".into(), Value::Array(grades));
        }
        other => {
            return Err(format!(
                "grades: the rule set {ruleset} ({other}) takes its input as JSON only"
            ))
        }
    }
    Ok(Some(Value::Object(input)))
}

fn problem_for<'a>(problems: &'a [FieldProblem], field: &str) -> Option<&'a FieldProblem> {
    problems.iter().find(|p| p.field == field)
}

/// Opens a group of fields with its legend.
fn open_fieldset(b: &mut String, legend: &str) {
    let _ = writeln!(b, "<fieldset><legend>{}</legend>", escape(legend));
}

/// The problem of field `name` under it (the input names it in its
/// `aria-describedby`).
fn error_note(b: &mut String, name: &str, problem: Option<&FieldProblem>) {
    if let Some(p) = problem {
        let _ = writeln!(
            b,
            "<p class=\"status bad\" id=\"{name}-error\">{}</p>",
            escape(&p.message)
        );
    }
}

/// One labelled input, marked invalid with its message when it has a
/// problem.
fn input(
    b: &mut String,
    name: &str,
    label: &str,
    kind: &str,
    required: bool,
    value: &str,
    problem: Option<&FieldProblem>,
) {
    let (invalid, described) = match problem {
        Some(_) => (
            " aria-invalid=\"true\"",
            format!(" aria-describedby=\"{name}-error\""),
        ),
        None => ("", String::new()),
    };
    let class = if kind == "text" || kind == "email" || kind == "date" {
        " class=\"plain\""
    } else {
        ""
    };
    let _ = writeln!(
        b,
        "<div class=\"field\"><label for=\"{name}\">{label}</label>\n<input type=\"{kind}\"{class} id=\"{name}\" name=\"{name}\" value=\"{value}\" autocomplete=\"off\" maxlength=\"512\"{req}{invalid}{described}>",
        label = escape(label),
        value = escape(value),
        req = if required { " required" } else { "" },
    );
    error_note(b, name, problem);
    b.push_str("</div>\n");
}

fn select(
    b: &mut String,
    name: &str,
    label: &str,
    options: &[(String, String)],
    chosen: &str,
    problem: Option<&FieldProblem>,
) {
    let _ = writeln!(
        b,
        "<div class=\"field\"><label for=\"{name}\">{}</label>\n<select id=\"{name}\" name=\"{name}\"{}>",
        escape(label),
        if problem.is_some() {
            format!(" aria-invalid=\"true\" aria-describedby=\"{name}-error\"")
        } else {
            String::new()
        }
    );
    for (v, text) in options {
        let _ = writeln!(
            b,
            "<option value=\"{}\"{}>{}</option>",
            escape(v),
            if v == chosen { " selected" } else { "" },
            escape(text)
        );
    }
    b.push_str("</select>\n");
    error_note(b, name, problem);
    b.push_str("</div>\n");
}

/// The form with the record's fields: `values` refill it (after an error
/// or to change the data after the review), `problems` are shown at their
/// fields and listed on top. `kept_document` names the PDF of an upload
/// being changed (the file input is then optional, and `upload` carries
/// its token).
pub fn form(
    lang: Lang,
    csrf: &str,
    values: &Values,
    problems: &[FieldProblem],
    kept: Option<(&str, &str)>,
) -> String {
    let de = lang == Lang::De;
    let mut b = String::new();
    if !problems.is_empty() {
        let _ = writeln!(
            b,
            "<div class=\"status bad\" role=\"alert\"><p>{}</p><ul>",
            escape(if de {
                "Bitte korrigieren Sie:"
            } else {
                "Please correct:"
            })
        );
        for p in problems {
            if p.field.is_empty() {
                let _ = writeln!(b, "<li>{}</li>", escape(&p.message));
            } else {
                let _ = writeln!(
                    b,
                    "<li><a href=\"#{}\">{}</a></li>",
                    escape(&p.field),
                    escape(&p.message)
                );
            }
        }
        b.push_str("</ul></div>\n");
    }
    let _ = writeln!(
        b,
        "<form method=\"post\" action=\"/desk/register\" enctype=\"multipart/form-data\">\n{}\n<input type=\"hidden\" name=\"mode\" value=\"fields\">",
        csrf_field(csrf)
    );
    if let Some((token, _)) = kept {
        let _ = writeln!(
            b,
            "<input type=\"hidden\" name=\"upload\" value=\"{}\">",
            escape(token)
        );
    }
    let kinds: Vec<(String, String)> = KINDS
        .iter()
        .map(|(v, d, e)| (v.to_string(), (if de { d } else { e }).to_string()))
        .collect();
    let langs: Vec<(String, String)> = [("de", "Deutsch", "German"), ("en", "Englisch", "English")]
        .iter()
        .map(|(v, d, e)| (v.to_string(), (if de { d } else { e }).to_string()))
        .collect();
    open_fieldset(&mut b, if de { "Dokument" } else { "Document" });
    select(
        &mut b,
        "kind",
        if de { "Art" } else { "Kind" },
        &kinds,
        value(values, "kind"),
        problem_for(problems, "kind"),
    );
    select(
        &mut b,
        "language",
        if de {
            "Sprache des Dokuments"
        } else {
            "Language of the document"
        },
        &langs,
        value(values, "language"),
        problem_for(problems, "language"),
    );
    let field = |b: &mut String, i: usize| {
        let (name, l_de, l_en, kind, _, required) = TEXT_FIELDS[i];
        input(
            b,
            name,
            if de { l_de } else { l_en },
            kind,
            required,
            value(values, name),
            problem_for(problems, name),
        );
    };
    field(&mut b, 0);
    b.push_str("</fieldset>\n");
    open_fieldset(
        &mut b,
        if de {
            "Absolventin / Absolvent"
        } else {
            "Graduate"
        },
    );
    for i in 1..=6 {
        field(&mut b, i);
    }
    b.push_str("</fieldset>\n");
    open_fieldset(&mut b, if de { "Studium" } else { "Studies" });
    for i in 7..=9 {
        field(&mut b, i);
    }
    b.push_str("</fieldset>\n");
    let mut rulesets = vec![(
        String::new(),
        (if de {
            "keine Note (ohne Noteneingabe)"
        } else {
            "no grade (no grade input)"
        })
        .to_string(),
    )];
    if let Ok(shipped) = crate::grades::shipped_rulesets() {
        for r in shipped {
            rulesets.push((r.id.clone(), format!("{} ({})", r.id, r.kind)));
        }
    }
    open_fieldset(&mut b, if de { "Noten" } else { "Grades" });
    select(
        &mut b,
        "ruleset",
        if de {
            "Regelwerk (Prüfungsordnung)"
        } else {
            "Rule set (examination regulations)"
        },
        &rulesets,
        value(values, "ruleset"),
        problem_for(problems, "ruleset"),
    );
    let grade_problem = problem_for(problems, "grades");
    let _ = writeln!(
        b,
        "<div class=\"field\"><label for=\"grades\">{label}</label>\n<textarea id=\"grades\" name=\"grades\" rows=\"9\" spellcheck=\"false\" aria-describedby=\"grades-hint{err}\"{invalid}>{value}</textarea>\n<p class=\"hint\" id=\"grades-hint\">{hint}</p>",
        label = if de { "Noteneingabe" } else { "Grade input" },
        err = if grade_problem.is_some() { " grades-error" } else { "" },
        invalid = if grade_problem.is_some() { " aria-invalid=\"true\"" } else { "" },
        value = escape(values.get("grades").map(String::as_str).unwrap_or("")),
        hint = escape(if de {
            "Eine Zeile je Modul, Zellen mit ; oder Tabulator getrennt (aus der Tabelle kopiert): zuerst „Teil;ID;Pflicht-LP“, dann „Modul;LP;Note;Pflicht“ (Pflicht und Arbeit sind optionale Merkmale; Dezimalkomma erlaubt). Bei Prüferinnen-Regelwerken eine Note je Zeile, „Dritt;Note“ für die dritte. Oder die Noteneingabe als JSON."
        } else {
            "One line per module, cells separated by ; or a tab (copied from a spreadsheet): first \u{201c}part;ID;REQUIRED_LP\u{201d}, then \u{201c}MODULE;LP;GRADE;mandatory\u{201d} (mandatory and thesis are optional flags; a decimal comma is fine). For examiners rule sets one grade per line, \u{201c}third;GRADE\u{201d} for the third. Or the grade input as JSON."
        }),
    );
    error_note(&mut b, "grades", grade_problem);
    b.push_str("</div>\n</fieldset>\n");
    open_fieldset(&mut b, if de { "Zeugnis-PDF" } else { "Certificate PDF" });
    let doc_problem = problem_for(problems, "document");
    let _ = writeln!(
        b,
        "<div class=\"field\"><label for=\"document\">{label}</label>\n<input type=\"file\" id=\"document\" name=\"document\" accept=\"application/pdf,.pdf\"{req}{invalid}>",
        label = match (kept, de) {
            (Some((_, name)), true) => format!("PDF (leer lassen, um {} zu behalten)", escape(name)),
            (Some((_, name)), false) => format!("PDF (leave empty to keep {})", escape(name)),
            (None, true) => "PDF".to_string(),
            (None, false) => "PDF".to_string(),
        },
        req = if kept.is_some() { "" } else { " required" },
        invalid = if doc_problem.is_some() { " aria-invalid=\"true\" aria-describedby=\"document-error\"" } else { "" },
    );
    error_note(&mut b, "document", doc_problem);
    b.push_str("</div>\n");
    field(&mut b, 10);
    b.push_str("</fieldset>\n");
    let _ = writeln!(
        b,
        "<button type=\"submit\">{}</button>\n</form>",
        if de {
            "Weiter zur Prüfung"
        } else {
            "Continue to the review"
        }
    );
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> Values {
        [
            ("institution", "Universität Erfurt"),
            ("kind", "transcript"),
            ("language", "de"),
            ("given_name", "Greta"),
            ("family_name", "Muster"),
            ("birth_date", "2000-01-02"),
            ("birth_place", "Erfurt"),
            ("student_id", "123456"),
            ("email", ""),
            ("degree", "Bachelor of Arts"),
            ("programme", "Geschichte"),
            ("last_exam_date", "2026-07-01"),
            ("ruleset", "erfurt-ba-2019"),
            (
                "grades",
                "# copied from the exam system\npart;all;30\nM1;10;1,3;Pflicht\nM2\t10\t2,0\tmandatory\nM3;5;1.7;P\nM4;5;3,0\nM5;5;2,3\n",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The form's fields give the record the JSON upload gives, and the
    /// module table the same grade (the JSON of `tests/http.rs`'s graded
    /// record: 1.76).
    #[test]
    fn the_form_gives_the_record_and_grade_of_the_json_upload() {
        let r = record_from_form(&filled()).expect("valid form");
        assert_eq!(r.holder.given_name, "Greta");
        assert_eq!(r.programme.name, "Geschichte");
        assert!(r.holder.email.is_none(), "an empty e-mail is no address");
        let g = r.grades.as_ref().expect("grade input");
        assert_eq!(g["ruleset"], "erfurt-ba-2019");
        let modules = &g["parts"][0]["modules"];
        assert_eq!(modules[0]["grade"], "1.3", "decimal comma read as point");
        assert_eq!(modules[1]["mandatory"], true, "tab-separated, English flag");
        assert_eq!(modules[3]["mandatory"], false);
        let grade = crate::grades::evaluate(g).expect("evaluates");
        let v = serde_json::to_value(&grade).expect("json");
        assert_eq!(v["result"]["final"]["display_en"], "1.76", "{v}");
        // Back to the form after the review: the same record again.
        let again = record_from_form(&values_of(&r, None)).expect("refilled form");
        assert_eq!(again.grades, r.grades);
        assert_eq!(again.holder.birth_date, r.holder.birth_date);
    }

    /// Every problem is reported at once, each at its field.
    #[test]
    fn every_problem_is_reported_at_its_field() {
        let mut v = filled();
        v.insert("given_name".into(), " ".into());
        v.insert("birth_date".into(), "02.01.2000".into());
        v.insert("email".into(), "greta at example".into());
        v.insert("kind".into(), "poster".into());
        v.insert("grades".into(), "part;all;30\nM1;10;eins,drei".into());
        let problems = record_from_form(&v).expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        for want in ["grades", "kind", "given_name", "birth_date", "email"] {
            assert!(fields.contains(&want), "{want} missing in {problems:?}");
        }
        let g = problem_for(&problems, "grades").expect("grades problem");
        assert!(g.message.contains("line 2"), "{g:?}");
    }

    #[test]
    fn grade_lines_name_their_problem_and_line() {
        for (text, want) in [
            ("M1;10;1,3", "line 1: a module before any part"),
            ("part;all", "line 1: a part line is part;ID;REQUIRED_LP"),
            ("part;all;30\nM1;10", "line 2: a module line is"),
            (
                "part;all;30\n\nM1;10;1,3;wichtig",
                "line 3: \"wichtig\" is not a flag",
            ),
            (
                "part;all;1e3",
                "line 1: the required LP \"1e3\" is not a number",
            ),
        ] {
            let e = grade_input("erfurt-ba-2019", text).expect_err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
        assert!(grade_input("", "M1;10;1,3")
            .expect_err("no rule set")
            .contains("choose a rule set"));
        assert!(grade_input("no-such-set", "x")
            .expect_err("unknown")
            .contains("not a shipped rule set"));
        assert_eq!(grade_input("", "").expect("nothing"), None);
        let json = grade_input("erfurt-ba-2019", "{\"parts\": []}").expect("json");
        assert_eq!(json.expect("some")["ruleset"], "erfurt-ba-2019");
        let ex = grade_input("potsdam-examiners-2025", "1,3\n5,0\nthird;2,0")
            .expect("examiners lines")
            .expect("some");
        assert_eq!(ex["grades"], serde_json::json!(["1.3", "5.0"]));
        assert_eq!(ex["third"], "2.0");
        crate::grades::evaluate(&ex).expect("the engine takes the examiners input");
        assert!(grade_input("potsdam-mc-2025", "1")
            .expect_err("mc lines")
            .contains("JSON only"));
        assert!(grade_input("erfurt-ba-2019", "{\"ruleset\": \"other\"}")
            .expect_err("two rule sets")
            .contains("the form"));
    }
}
