//! The desk's corrections (Korrigieren) that end a certificate: revoke
//! (Widerruf), void (Stornierung: restart the process instance under a new
//! code) and erase (Löschung der Personendaten). Each has a confirmation
//! page that says what will happen and what cannot be undone, with the
//! reason field; the POST from it does the change through
//! [`super::write`].
//!
//! Owns: the wording of the confirmation and result pages; the parsing of
//! their forms. Must not do: change anything on a GET; decide what a
//! transition may do (the registry refuses what is not allowed, and the
//! page shows its error).

use super::super::pages::{escape, Lang};
use super::page::csrf_field;
use crate::ledger::record::RevocationCategory;
use crate::registry::Certificate;
use std::fmt::Write as _;

/// Longest code text accepted from a form, in bytes.
pub const CODE_FIELD_BYTES_MAX: usize = 64;

/// What a correction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Declare the certificate invalid.
    Revoke,
    /// End the failed process instance.
    Void,
    /// Delete the holder data.
    Erase,
}

impl Action {
    /// From the form value.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "revoke" => Action::Revoke,
            "void" => Action::Void,
            "erase" => Action::Erase,
            _ => return None,
        })
    }

    /// The form value (and the admin API's action name).
    pub fn name(self) -> &'static str {
        match self {
            Action::Revoke => "revoke",
            Action::Void => "void",
            Action::Erase => "erase",
        }
    }

    /// The page heading.
    pub fn title(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Action::Revoke, Lang::De) => "Zeugnis widerrufen",
            (Action::Revoke, Lang::En) => "Revoke a certificate",
            (Action::Void, Lang::De) => "Vorgang stornieren",
            (Action::Void, Lang::En) => "Void a process instance",
            (Action::Erase, Lang::De) => "Personendaten löschen",
            (Action::Erase, Lang::En) => "Erase the holder data",
        }
    }

    /// What happens, and what cannot be undone.
    fn consequences(self, lang: Lang) -> (&'static str, &'static str) {
        match (self, lang) {
            (Action::Revoke, Lang::De) => (
                "Das Zeugnis wird ab dem Wirkungsdatum als ungültig gezeigt. Die Prüfseite nennt die öffentliche Kategorie; der Grund ist nur mit dem Zugangsschlüssel sichtbar.",
                "Ein Widerruf kann nicht zurückgenommen werden: er steht für immer im Ledger. Ein korrigiertes Zeugnis wird mit „Ersetzen“ neu registriert.",
            ),
            (Action::Revoke, Lang::En) => (
                "The certificate is shown as invalid from the effective date. The verification page names the public category; the reason is visible only with the access key.",
                "A revocation cannot be taken back: it stays in the ledger for ever. A corrected certificate is registered anew with \u{201c}supersede\u{201d}.",
            ),
            (Action::Void, Lang::De) => (
                "Der Vorgang endet; der Code ist danach verbraucht. Das Zeugnis wird unter einem neuen Code neu registriert (der Prozess beginnt von vorn).",
                "Eine Stornierung kann nicht zurückgenommen werden, und der Code wird nie wieder vergeben.",
            ),
            (Action::Void, Lang::En) => (
                "The process instance ends; the code is used up. The certificate is registered again under a new code (the process restarts from the beginning).",
                "A void cannot be taken back, and the code is never handed out again.",
            ),
            (Action::Erase, Lang::De) => (
                "Name, Geburtsdatum, Noten und die Dokumente der Person werden gelöscht (DSGVO Art. 17). Das Ledger bleibt prüfbar; die Prüfseite zeigt danach keine Personendaten mehr.",
                "Eine Löschung kann nicht rückgängig gemacht werden: die Daten sind danach auch im Archiv nicht mehr vorhanden.",
            ),
            (Action::Erase, Lang::En) => (
                "Name, birth date, grades and the person's documents are deleted (GDPR Art. 17). The ledger stays verifiable; the verification page shows no holder data afterwards.",
                "An erasure cannot be undone: the data is gone from the archive too.",
            ),
        }
    }
}

/// The category names of a revocation, in the form's order.
pub const CATEGORIES: [&str; 4] = ["unspecified", "withdrawn", "replaced", "issued_in_error"];

fn category_words(lang: Lang, name: &str) -> &'static str {
    match (name, lang) {
        ("withdrawn", Lang::De) => "von der Hochschule zurückgezogen",
        ("withdrawn", Lang::En) => "withdrawn by the institution",
        ("replaced", Lang::De) => "durch ein berichtigtes Zeugnis ersetzt",
        ("replaced", Lang::En) => "replaced by a corrected certificate",
        ("issued_in_error", Lang::De) => "irrtümlich ausgestellt",
        ("issued_in_error", Lang::En) => "issued in error",
        (_, Lang::De) => "ohne Angabe",
        (_, Lang::En) => "not specified",
    }
}

/// A form's correction request, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The action.
    pub action: Action,
    /// The code as typed (the registry parses it leniently).
    pub code: String,
    /// The reason (required).
    pub reason: String,
    /// Revocations: the effective date `YYYY-MM-DD`, if given.
    pub effective_date: Option<String>,
    /// Revocations: the public category.
    pub category: RevocationCategory,
}

/// Reads a correction form (fields `action`, `code`, `reason`, and for a
/// revocation `category` and `effective_date`); the error is a sentence
/// for the page.
pub fn parse_form(lang: Lang, form: &[(String, String)]) -> Result<Request, String> {
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    };
    let de = lang == Lang::De;
    let action = Action::parse(get("action")).ok_or_else(|| {
        if de {
            "Unbekannte Aktion."
        } else {
            "Unknown action."
        }
        .to_string()
    })?;
    let code = get("code");
    if code.is_empty() || code.len() > CODE_FIELD_BYTES_MAX {
        return Err(if de {
            "Bitte den Code angeben."
        } else {
            "Please give the code."
        }
        .into());
    }
    let reason = get("reason");
    if reason.is_empty() {
        return Err(if de {
            "Bitte einen Grund angeben."
        } else {
            "Please give a reason."
        }
        .into());
    }
    let (effective_date, category) = if action == Action::Revoke {
        let date = Some(get("effective_date"))
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let category =
            RevocationCategory::parse(get("category")).unwrap_or(RevocationCategory::Unspecified);
        (date, category)
    } else {
        (None, RevocationCategory::Unspecified)
    };
    Ok(Request {
        action,
        code: code.to_string(),
        reason: reason.to_string(),
        effective_date,
        category,
    })
}

/// The form to pick a certificate and an action (on the overview).
pub fn chooser(lang: Lang) -> String {
    let de = lang == Lang::De;
    let mut b = String::new();
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/desk/fix\">\n<div class=\"field\"><label for=\"fix-code\">{code}</label>\n\
<input type=\"text\" class=\"plain\" id=\"fix-code\" name=\"code\" required autocomplete=\"off\" spellcheck=\"false\" maxlength=\"{CODE_FIELD_BYTES_MAX}\"></div>\n\
<div class=\"field\"><label for=\"fix-action\">{what}</label>\n<select id=\"fix-action\" name=\"action\">",
        code = if de { "Code des Zeugnisses" } else { "Certificate code" },
        what = if de { "Korrektur" } else { "Correction" },
    );
    for a in [Action::Revoke, Action::Void, Action::Erase] {
        let _ = write!(
            b,
            "<option value=\"{}\">{}</option>",
            a.name(),
            escape(a.title(lang))
        );
    }
    let _ = write!(
        b,
        "</select></div>\n<button type=\"submit\">{}</button>\n</form>\n",
        if de {
            "Weiter zur Bestätigung"
        } else {
            "Continue to the confirmation"
        }
    );
    b
}

/// The confirmation page's body: the certificate, what will happen, what
/// cannot be undone, the reason field and the button (a POST carrying the
/// CSRF token). `error`: why the last attempt was refused.
pub fn confirm(
    lang: Lang,
    csrf: &str,
    action: Action,
    cert: &Certificate,
    error: Option<&str>,
) -> String {
    let de = lang == Lang::De;
    let (what, irreversible) = action.consequences(lang);
    let mut b = String::new();
    if let Some(e) = error {
        let _ = writeln!(
            b,
            "<p class=\"status bad\" role=\"alert\">{}</p>",
            escape(e)
        );
    }
    let _ = writeln!(
        b,
        "<dl><dt>Code</dt><dd><code>{}</code></dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        escape(&super::watch::formatted(&cert.code)),
        if de { "Zustand" } else { "State" },
        escape(&super::page::state_name(lang, cert.state.name())),
        if de { "Art" } else { "Kind" },
        escape(&cert.kind),
    );
    b.push_str(&super::page::consequences(lang, what, irreversible));
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/desk/fix\">\n{}\n<input type=\"hidden\" name=\"action\" value=\"{}\">\n\
<input type=\"hidden\" name=\"code\" value=\"{}\">\n\
<div class=\"field\"><label for=\"reason\">{}</label>\n<input type=\"text\" class=\"plain\" id=\"reason\" name=\"reason\" required aria-describedby=\"reason-hint\">\n\
<p class=\"hint\" id=\"reason-hint\">{}</p></div>\n",
        csrf_field(csrf),
        action.name(),
        escape(&cert.code),
        if de { "Grund (Pflichtfeld)" } else { "Reason (required)" },
        if de {
            "Steht für immer im Ledger: bitte keine Personendaten."
        } else {
            "Stays in the ledger for ever: no personal data, please."
        },
    );
    if action == Action::Revoke {
        let _ = write!(
            b,
            "<div class=\"field\"><label for=\"category\">{}</label>\n<select id=\"category\" name=\"category\">",
            if de { "Öffentliche Kategorie" } else { "Public category" }
        );
        for c in CATEGORIES {
            let _ = write!(
                b,
                "<option value=\"{c}\">{}</option>",
                escape(category_words(lang, c))
            );
        }
        let _ = write!(
            b,
            "</select></div>\n<div class=\"field\"><label for=\"effective_date\">{}</label>\n\
<input type=\"text\" class=\"plain\" id=\"effective_date\" name=\"effective_date\" placeholder=\"{}\" inputmode=\"numeric\" aria-describedby=\"date-hint\">\n\
<p class=\"hint\" id=\"date-hint\">{}</p></div>\n",
            if de { "Wirksam ab" } else { "Effective from" },
            crate::dates::today_utc(),
            if de { "JJJJ-MM-TT; leer: heute (UTC)." } else { "YYYY-MM-DD; empty: today (UTC)." },
        );
    }
    let _ = write!(
        b,
        "<button type=\"submit\">{}</button>\n</form>\n<p><a href=\"/desk/\">{}</a></p>\n",
        escape(action.title(lang)),
        if de {
            "Abbrechen, nichts ändern"
        } else {
            "Cancel, change nothing"
        }
    );
    b
}

/// The result page's body after a correction.
pub fn done(lang: Lang, action: Action, cert: &Certificate, seq: Option<u64>) -> String {
    let de = lang == Lang::De;
    let what = match (action, de) {
        (Action::Revoke, true) => "Das Zeugnis ist widerrufen.",
        (Action::Revoke, false) => "The certificate is revoked.",
        (Action::Void, true) => "Der Vorgang ist storniert.",
        (Action::Void, false) => "The process instance is voided.",
        (Action::Erase, true) => "Die Personendaten sind gelöscht.",
        (Action::Erase, false) => "The holder data is erased.",
    };
    let seq = match seq {
        Some(s) => format!(
            " ({} {s})",
            if de {
                "Ledger-Eintrag"
            } else {
                "ledger record"
            }
        ),
        None => String::new(),
    };
    format!(
        "<p class=\"status ok\" role=\"status\">{}{}</p>\n<dl><dt>Code</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>\n<p><a href=\"/desk/\">{}</a></p>\n",
        escape(what),
        escape(&seq),
        super::certificate::code_link(&cert.code),
        if de { "Zustand" } else { "State" },
        escape(&super::page::state_name(lang, cert.state.name())),
        if de { "Zur Übersicht" } else { "To the overview" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn forms_need_action_code_and_reason() {
        let ok = parse_form(
            Lang::En,
            &form(&[
                ("action", "revoke"),
                ("code", "QNVC-FM3P-4VDF"),
                ("reason", "copied"),
                ("category", "withdrawn"),
                ("effective_date", ""),
            ]),
        )
        .expect("valid");
        assert_eq!(ok.action, Action::Revoke);
        assert_eq!(ok.category, RevocationCategory::Withdrawn);
        assert_eq!(ok.effective_date, None);
        let void = parse_form(
            Lang::En,
            &form(&[
                ("action", "void"),
                ("code", "X"),
                ("reason", "r"),
                ("category", "withdrawn"),
            ]),
        )
        .expect("void");
        assert_eq!(
            void.category,
            RevocationCategory::Unspecified,
            "only revocations have a category"
        );
        for bad in [
            form(&[("action", "delete"), ("code", "X"), ("reason", "r")]),
            form(&[("action", "void"), ("code", ""), ("reason", "r")]),
            form(&[("action", "void"), ("code", "X"), ("reason", "  ")]),
        ] {
            assert!(parse_form(Lang::De, &bad).is_err(), "{bad:?}");
        }
    }
}
