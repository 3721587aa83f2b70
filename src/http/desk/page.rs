//! The desk's HTML in German and English: pure functions from what a page
//! shows to self-contained markup, and the desk's stylesheet.
//!
//! Owns: wording, markup and accessibility of the desk pages (language
//! attributes, labels, one `h1`, status in words, visible focus). Must not
//! do: I/O, scripts, inline styles or external resources (the
//! Content-Security-Policy forbids them), or print anything unescaped.

use super::super::pages::{escape, Lang, STYLE_CSS};
use std::fmt::Write as _;

/// The desk's additions to the public stylesheet (served together at
/// `/desk/static/desk.css`).
pub const DESK_CSS: &str = r#"body{max-width:60rem}
nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:1rem;margin:0;padding:0}
nav form{display:inline}
nav button,.brand button{margin:0;font-size:1rem;padding:.3rem .8rem;background:#fff;color:#1a1a1a;border:2px solid #1a1a1a}
input[type=password],input[type=text].plain{width:100%;font-size:1.1rem;padding:.6rem;border:2px solid #555;border-radius:.3rem}
input[type=password]{font-family:inherit}
.field{margin:0 0 1rem}
select{font-size:1rem;padding:.4rem;border:2px solid #555;border-radius:.3rem;background:#fff;color:#1a1a1a}
select:focus{outline:3px solid #b35900;outline-offset:2px}
[aria-current=page]{font-weight:700}
caption{text-align:left;font-weight:600;padding:.25rem 0}
"#;

/// The desk's icon, served at `/desk/static/icon.svg` (so the browser asks
/// for no `/favicon.ico`, which the admin listener would refuse).
pub const ICON_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" fill=\"#0b4f8a\"/><path d=\"M4 4h8v2H7l5 6v0H4v-2h5L4 4z\" fill=\"#fff\"/></svg>\n";

/// The stylesheet served at `/desk/static/desk.css`.
pub fn stylesheet() -> String {
    format!("{STYLE_CSS}{DESK_CSS}")
}

/// Every text of the desk's frame and sign-in, in one language.
pub struct DeskTexts {
    /// The language's own name (the switch link).
    pub lang_name: &'static str,
    /// The desk's name.
    pub title: &'static str,
    pub signin_heading: &'static str,
    pub name_label: &'static str,
    pub password_label: &'static str,
    pub signin_button: &'static str,
    pub signout_button: &'static str,
    pub signed_in_as: &'static str,
    pub wrong: &'static str,
    pub locked: &'static str,
    pub disabled: &'static str,
    pub ended_idle: &'static str,
    pub ended_expired: &'static str,
    /// The notice after a session the desk no longer knows (a restart).
    pub ended_unknown: &'static str,
    pub signed_out: &'static str,
    pub csrf_heading: &'static str,
    pub csrf_text: &'static str,
    pub back_to_desk: &'static str,
    pub home_heading: &'static str,
    pub home_intro: &'static str,
    pub nav_home: &'static str,
    pub nav_status: &'static str,
    pub sso_unknown: &'static str,
    pub nav_label: &'static str,
}

const DE: DeskTexts = DeskTexts {
    lang_name: "Deutsch",
    title: "Zeugnisarchiv – Prüfungsamt",
    signin_heading: "Anmelden",
    name_label: "Benutzername",
    password_label: "Passwort",
    signin_button: "Anmelden",
    signout_button: "Abmelden",
    signed_in_as: "Angemeldet als",
    wrong: "Benutzername oder Passwort ist falsch.",
    locked: "Zu viele fehlgeschlagene Anmeldungen. Die Anmeldung ist vorübergehend gesperrt; bitte später erneut versuchen.",
    disabled: "Dieses Konto ist gesperrt. Bitte wenden Sie sich an die Archivverwaltung.",
    ended_idle: "Ihre Sitzung wurde wegen Inaktivität beendet. Bitte melden Sie sich erneut an.",
    ended_expired: "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.",
    ended_unknown: "Ihre Sitzung ist beendet (zum Beispiel wurde das Archiv neu gestartet). Bitte melden Sie sich erneut an; Registrierungen, die noch nicht gespeichert waren, bitte erneut eingeben.",
    signed_out: "Sie sind abgemeldet.",
    csrf_heading: "Formular abgelehnt",
    csrf_text: "Das Formular ist abgelaufen oder stammt nicht von dieser Seite (fehlendes oder falsches Sicherheitsmerkmal). Es wurde nichts geändert. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
    back_to_desk: "Zurück zum Prüfungsamt",
    home_heading: "Übersicht",
    home_intro: "Hier registrieren, drucken, überwachen und korrigieren Sie Zeugnisse.",
    nav_home: "Übersicht",
    nav_status: "Statusbericht",
    sso_unknown: "Ihr Benutzer aus der zentralen Anmeldung ist hier nicht als Sachbearbeiter*in eingetragen oder gesperrt.",
    nav_label: "Hauptmenü",
};

const EN: DeskTexts = DeskTexts {
    lang_name: "English",
    title: "Certificate archive – exam office",
    signin_heading: "Sign in",
    name_label: "User name",
    password_label: "Password",
    signin_button: "Sign in",
    signout_button: "Sign out",
    signed_in_as: "Signed in as",
    wrong: "The user name or the password is wrong.",
    locked: "Too many failed sign-ins. Signing in is locked for a while; please try again later.",
    disabled: "This account is disabled. Please ask the archive's administrator.",
    ended_idle: "Your session ended after a time without activity. Please sign in again.",
    ended_expired: "Your session has expired. Please sign in again.",
    ended_unknown: "Your session has ended (for example, the archive was restarted). Please sign in again; registrations that were not stored yet need to be entered again.",
    signed_out: "You are signed out.",
    csrf_heading: "Form refused",
    csrf_text: "The form has expired or did not come from this desk (missing or wrong security token). Nothing was changed. Please reload the page and try again.",
    back_to_desk: "Back to the desk",
    home_heading: "Overview",
    home_intro: "Register, print, watch and correct certificates here.",
    nav_home: "Overview",
    nav_status: "Status report",
    sso_unknown: "Your single sign-on user is not a desk operator here, or the account is disabled.",
    nav_label: "Main menu",
};

/// The texts of one language.
pub fn texts(lang: Lang) -> &'static DeskTexts {
    match lang {
        Lang::De => &DE,
        Lang::En => &EN,
    }
}

/// Who is signed in, for the frame (the name shown, the CSRF token of the
/// sign-out form).
pub struct Who<'a> {
    /// The operator's name (shown only to them).
    pub name: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
}

/// The hidden CSRF field of a form.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(token)
    )
}

/// A desk page: language attribute, title, header with the language switch
/// (`switch_path`: this page's path, to which `?lang=` is added), the
/// menu and sign-out button when signed in, the body.
pub fn frame(
    lang: Lang,
    heading: &str,
    switch_path: &str,
    who: Option<&Who>,
    body: &str,
) -> String {
    let t = texts(lang);
    let other = lang.other();
    let nav = match who {
        Some(w) => format!(
            "<nav aria-label=\"{nav_label}\"><ul>\
<li><a href=\"/desk/\">{home}</a></li>\
<li><a href=\"/desk/status\">{status}</a></li>\
<li>{signed_in_as} <strong>{name}</strong> \
<form method=\"post\" action=\"/desk/signout\">{csrf}<button type=\"submit\">{signout}</button></form></li>\
</ul></nav>\n",
            nav_label = escape(t.nav_label),
            home = escape(t.nav_home),
            status = escape(t.nav_status),
            signed_in_as = escape(t.signed_in_as),
            name = escape(w.name),
            csrf = csrf_field(w.csrf),
            signout = escape(t.signout_button),
        ),
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n\
<title>{heading} – {title}</title>\n<link rel=\"icon\" href=\"/desk/static/icon.svg\" type=\"image/svg+xml\">\n<link rel=\"stylesheet\" href=\"/desk/static/desk.css\">\n</head>\n<body>\n\
<header class=\"brand\"><p class=\"inst\"><a href=\"/desk/\">{title}</a></p>\
<p><a href=\"{switch}?lang={other_code}\" hreflang=\"{other_code}\" lang=\"{other_code}\">{switch_label}</a></p></header>\n\
{nav}<main>\n<h1>{heading}</h1>\n{body}</main>\n</body>\n</html>\n",
        code = lang.code(),
        heading = escape(heading),
        title = escape(t.title),
        switch = escape(switch_path),
        other_code = other.code(),
        switch_label = escape(texts(other).lang_name),
    )
}

/// What a confirmation page says will happen, and what cannot be undone
/// (the revoke, void, erase, replace-scan and assignment pages).
pub fn consequences(lang: Lang, what: &str, irreversible: &str) -> String {
    let (heading, warning) = match lang {
        Lang::De => ("Was geschieht", "Nicht umkehrbar:"),
        Lang::En => ("What will happen", "Cannot be undone:"),
    };
    format!(
        "<h2>{heading}</h2>\n<p>{}</p>\n<p class=\"status warn\"><strong>{warning}</strong> {}</p>\n",
        escape(what),
        escape(irreversible)
    )
}

/// The sign-in page, with a message (error or notice) above the form.
pub fn signin(lang: Lang, csrf: &str, message: Option<(&str, bool)>, typed_name: &str) -> String {
    let t = texts(lang);
    let mut body = String::new();
    if let Some((text, is_error)) = message {
        let (class, role) = if is_error {
            ("status bad", "alert")
        } else {
            ("status ok", "status")
        };
        let _ = writeln!(
            body,
            "<p class=\"{class}\" role=\"{role}\" id=\"signin-message\">{}</p>",
            escape(text)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/desk/signin\">\n{csrf}\n\
<input type=\"hidden\" name=\"lang\" value=\"{code}\">\n\
<div class=\"field\"><label for=\"name\">{name_label}</label>\n\
<input type=\"text\" class=\"plain\" id=\"name\" name=\"name\" required autocomplete=\"username\" \
autocapitalize=\"none\" spellcheck=\"false\" value=\"{typed}\"></div>\n\
<div class=\"field\"><label for=\"password\">{password_label}</label>\n\
<input type=\"password\" id=\"password\" name=\"password\" required autocomplete=\"current-password\"></div>\n\
<button type=\"submit\">{button}</button>\n</form>\n",
        csrf = csrf_field(csrf),
        code = lang.code(),
        name_label = escape(t.name_label),
        typed = escape(typed_name),
        password_label = escape(t.password_label),
        button = escape(t.signin_button),
    );
    frame(lang, t.signin_heading, "/desk/signin", None, &body)
}

/// A page with a message and a link back to the desk.
pub fn message(lang: Lang, heading: &str, text: &str, who: Option<&Who>, class: &str) -> String {
    let t = texts(lang);
    let body = format!(
        "<p class=\"status {class}\" role=\"alert\">{}</p>\n<p><a href=\"/desk/\">{}</a></p>\n",
        escape(text),
        escape(t.back_to_desk)
    );
    frame(lang, heading, "/desk/", who, &body)
}

/// The fixity audit as the status page shows it.
pub struct FixityView {
    /// Whether an audit runs now.
    pub running: bool,
    /// Bytes checked (of the running audit, else of the last one).
    pub checked_bytes: u64,
    /// Bytes in all.
    pub total_bytes: u64,
    /// The last finished audit started from the daemon: its error, if it failed.
    pub last_error: Option<String>,
}

/// A certificate state in words.
pub fn state_name(lang: Lang, state: &str) -> String {
    let (de, en) = match state {
        "awaiting_scan" => ("wartet auf den Scan", "awaiting its scan"),
        "archived" => ("vollständig archiviert", "fully archived"),
        "revoked" => ("widerrufen", "revoked"),
        "superseded" => ("ersetzt", "superseded"),
        "voided" => ("storniert", "voided"),
        other => (other, other),
    };
    match lang {
        Lang::De => de.to_string(),
        Lang::En => en.to_string(),
    }
}

/// Bytes in words (GiB/MiB with one decimal).
pub fn bytes_words(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let f = n as f64;
    if f >= 1024.0 * MIB {
        format!("{:.1} GiB", f / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", f / MIB)
    }
}

/// The status page: the status report in words, the fixity audit's last
/// result and progress, and the button that starts one.
pub fn status(
    lang: Lang,
    who: &Who,
    report: &crate::report::StatusReport,
    fixity: &FixityView,
) -> String {
    let de = lang == Lang::De;
    let pick = |d: &'static str, e: &'static str| if de { d } else { e };
    let mut b = String::new();
    let verification = &report.ledger_verification;
    let (class, words) = match verification.state {
        "verified" => (
            "ok",
            pick("Ledger geprüft: in Ordnung.", "Ledger verified: intact."),
        ),
        "pending" => (
            "warn",
            pick(
                "Ledger wird noch geprüft.",
                "Ledger verification in progress.",
            ),
        ),
        "damaged" => (
            "bad",
            pick(
                "Ledger BESCHÄDIGT: Schreiben ist angehalten.",
                "Ledger DAMAGED: writes are stopped.",
            ),
        ),
        _ => (
            "warn",
            pick(
                "Ledger noch nicht vollständig geprüft.",
                "Ledger not fully verified yet.",
            ),
        ),
    };
    let _ = writeln!(
        b,
        "<p class=\"status {class}\" role=\"status\">{}</p>",
        escape(words)
    );
    if let Some(d) = &verification.damage {
        let _ = writeln!(b, "<p>{}</p>", escape(d));
    }
    let _ = writeln!(b, "<h2>{}</h2>\n<table>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>",
        pick("Zeugnisse", "Certificates"), pick("Zustand", "State"), pick("Anzahl", "Count"));
    for (state, n) in &report.states {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{n}</td></tr>",
            escape(&state_name(lang, state))
        );
    }
    let _ = writeln!(
        b,
        "<tr><td>{}</td><td>{}</td></tr>\n</tbody>\n</table>",
        pick("Personendaten gelöscht", "Holder data erased"),
        report.erased
    );
    let _ = writeln!(b, "<h2>{}</h2>\n<dl>", pick("Eingang", "Inbox"));
    let rows: Vec<(&str, String)> = vec![
        (
            pick(
                "Länger als die Frist ohne Scan",
                "Waiting for their scan longer than the limit",
            ),
            format!(
                "{} ({} {})",
                report.waiting_too_long.len(),
                report.waiting_days_limit,
                pick("Tage", "days")
            ),
        ),
        (
            pick("Scans in Quarantäne", "Quarantined scans"),
            report.quarantined.len().to_string(),
        ),
        (
            pick(
                "Scans ohne Registrierung",
                "Scans waiting for a registration",
            ),
            report.scans_waiting.to_string(),
        ),
        (
            pick("Offene Reservierungen", "Open reservations"),
            report.reservations_open.to_string(),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(b, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    let _ = writeln!(b, "</dl>\n<h2>{}</h2>\n<dl>", pick("Archiv", "Archive"));
    let mut rows: Vec<(&str, String)> = vec![
        (
            pick("Ledger-Einträge", "Ledger records"),
            format!(
                "{} ({} {})",
                report.ledger_records,
                report.records_last_7_days,
                pick("in den letzten 7 Tagen", "in the last 7 days")
            ),
        ),
        (
            pick("Ledger-Größe", "Ledger size"),
            bytes_words(report.ledger_bytes),
        ),
        (
            pick("Freier Speicher", "Free disk space"),
            bytes_words(report.disk_free_bytes),
        ),
    ];
    for k in &report.key_age_days {
        rows.push((
            pick("Alter des Signaturschlüssels", "Signing key age"),
            format!("{}: {} {}", k.key_id, k.days, pick("Tage", "days")),
        ));
    }
    for (k, v) in rows {
        let _ = writeln!(b, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    let _ = writeln!(
        b,
        "</dl>\n<h2 id=\"fixity\">{}</h2>",
        pick("Bestandsprüfung (Fixity)", "Fixity audit")
    );
    match &report.last_fixity {
        Some(f) => {
            let (class, words) = if f.failures == 0 {
                (
                    "ok",
                    format!(
                        "{} {} {}, {} {}.",
                        pick("Letzte Prüfung:", "Last audit:"),
                        super::super::pages::local_time(lang, f.time),
                        pick("UTC", "UTC"),
                        f.blobs_checked,
                        pick(
                            "Dateien geprüft, alle unversehrt",
                            "files checked, all intact"
                        )
                    ),
                )
            } else {
                (
                    "bad",
                    format!(
                        "{} {} UTC: {} {} {}.",
                        pick("Letzte Prüfung:", "Last audit:"),
                        super::super::pages::local_time(lang, f.time),
                        f.failures,
                        pick("von", "of"),
                        f.blobs_checked
                    ),
                )
            };
            let _ = writeln!(b, "<p class=\"status {class}\">{}</p>", escape(&words));
        }
        None => {
            let _ = writeln!(
                b,
                "<p class=\"status warn\">{}</p>",
                pick("Noch nie geprüft.", "Never audited.")
            );
        }
    }
    if let Some(e) = &fixity.last_error {
        let _ = writeln!(
            b,
            "<p class=\"status bad\" role=\"alert\">{} {}</p>",
            pick("Die letzte Prüfung schlug fehl:", "The last audit failed:"),
            escape(e)
        );
    }
    if fixity.running {
        let _ = writeln!(b, "<p><label for=\"fixity-progress\">{}</label> <progress id=\"fixity-progress\" max=\"{}\" value=\"{}\">{} / {}</progress> {} / {}</p>\n<p class=\"hint\">{}</p>",
            pick("Prüfung läuft:", "Audit running:"), fixity.total_bytes.max(1), fixity.checked_bytes,
            bytes_words(fixity.checked_bytes), bytes_words(fixity.total_bytes),
            bytes_words(fixity.checked_bytes), bytes_words(fixity.total_bytes),
            pick("Die Seite lädt sich alle 5 Sekunden neu.", "This page reloads every 5 seconds."));
    } else {
        let _ = writeln!(b, "<form method=\"post\" action=\"/desk/fixity\">{}<p class=\"hint\">{}</p><button type=\"submit\">{}</button></form>",
            csrf_field(who.csrf),
            pick("Liest jede archivierte Datei und vergleicht ihre Prüfsummen; das Ergebnis wird im Ledger vermerkt. Schreibvorgänge warten so lange.", "Reads every archived file and compares its checksums; the result is recorded in the ledger. Writes wait meanwhile."),
            pick("Bestandsprüfung starten", "Start a fixity audit"));
    }
    let heading = texts(lang).nav_status;
    let page = frame(lang, heading, "/desk/status", Some(who), &b);
    if fixity.running {
        // No script: the browser reloads the page while the audit runs.
        page.replacen(
            "<meta charset=\"utf-8\">",
            "<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"5\">",
            1,
        )
    } else {
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signin_form_carries_the_token_and_escapes_what_was_typed() {
        let page = signin(Lang::En, "tok\"en", Some(("wrong <b>", true)), "<erika>");
        assert!(
            page.contains("name=\"csrf\" value=\"tok&quot;en\""),
            "{page}"
        );
        assert!(page.contains("value=\"&lt;erika&gt;\""));
        assert!(page.contains("wrong &lt;b&gt;"));
        assert!(page.contains("<html lang=\"en\">"));
        assert!(page.contains("href=\"/desk/signin?lang=de\""));
        assert!(!page.contains("<script"));
        assert!(!page.contains("style="));
    }

    #[test]
    fn every_text_exists_in_both_languages() {
        for lang in [Lang::De, Lang::En] {
            let t = texts(lang);
            for s in [t.title, t.signin_heading, t.wrong, t.locked, t.csrf_text] {
                assert!(!s.is_empty());
            }
        }
        assert_ne!(texts(Lang::De).wrong, texts(Lang::En).wrong);
    }
}
