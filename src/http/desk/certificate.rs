//! The desk's certificate page (Zeugnisseite, `GET /desk/certificate/{code}`):
//! state, documents, scans and the audit trail (Verlauf) of one
//! certificate, and the replacement of its scan (Scan ersetzen) with a
//! confirmation page that says what happens and what cannot be undone.
//!
//! Owns: the wording and markup of these pages; how an operator id is
//! shown (the name from the operator store when it knows the id, else the
//! id; an unattributed record as "automatisch / automatic").
//! Must not do: I/O, show holder data (the page is built from
//! `Reader::find` and `Reader::events`, the admin API's show without
//! `?key=`), or change anything on a GET.

use super::super::pages::{escape, local_time, Lang};
use super::page::{csrf_field, state_name};
use super::watch::formatted;
use crate::registry::{Certificate, FileView, ScanReplacement};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The link to the certificate page of `code` (any spelling the registry
/// accepts; the canonical code has no hyphens).
pub fn href(code: &str) -> String {
    let plain: String = code.chars().filter(|c| *c != '-').collect();
    format!("/desk/certificate/{}", escape(&plain))
}

/// A code as a link to its certificate page.
pub fn code_link(code: &str) -> String {
    format!(
        "<a href=\"{}\"><code>{}</code></a>",
        href(code),
        escape(&formatted(code))
    )
}

/// The page heading.
pub fn title(lang: Lang) -> &'static str {
    match lang {
        Lang::De => "Zeugnis",
        Lang::En => "Certificate",
    }
}

/// The heading of the replace-scan confirmation and result pages.
pub fn replace_title(lang: Lang) -> &'static str {
    match lang {
        Lang::De => "Scan ersetzen",
        Lang::En => "Replace the scan",
    }
}

/// Who wrote a record, as the page shows it: the operator's name and id
/// when `names` (id → name, from the operator store) knows the id, the id
/// alone when it does not (e.g. `api`, the admin API's bearer token), and
/// "automatisch / automatic" for an unattributed record (the intake, the
/// scheduler, a command line without `--operator`, records before format
/// version 6).
pub fn operator_cell(
    lang: Lang,
    operator: Option<&str>,
    names: &HashMap<String, String>,
) -> String {
    match operator {
        None => match lang {
            Lang::De => "automatisch".into(),
            Lang::En => "automatic".into(),
        },
        Some(id) => match names.get(id) {
            Some(name) => format!("{} (<code>{}</code>)", escape(name), escape(id)),
            None => format!("<code>{}</code>", escape(id)),
        },
    }
}

/// A record kind's name in words.
fn kind_words(lang: Lang, kind: &str) -> String {
    let (de, en) = match kind {
        "Registered" => ("Registriert", "Registered"),
        "ScanArchived" => ("Scan archiviert", "Scan archived"),
        "ScanReplaced" => ("Scan ersetzt", "Scan replaced"),
        "Revoked" | "RevokedWithCategory" => ("Widerrufen", "Revoked"),
        "Reserved" => ("Code reserviert", "Code reserved"),
        "CodeImported" => ("Code übernommen", "Code imported"),
        "DuplicateAllowed" => ("Duplikat zugelassen", "Duplicate allowed"),
        "Voided" => ("Storniert", "Voided"),
        "Superseded" => ("Ersetzt", "Superseded"),
        "Erased" => ("Personendaten gelöscht", "Holder data erased"),
        "MailDelivered" => ("Mail an die Person zugestellt", "Mailed to the graduate"),
        other => return other.to_string(),
    };
    match lang {
        Lang::De => de.into(),
        Lang::En => en.into(),
    }
}

fn file_row(b: &mut String, lang: Lang, label: &str, f: &FileView) {
    let _ = writeln!(
        b,
        "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
        escape(label),
        escape(&f.media_type),
        escape(f.language.as_deref().unwrap_or("–")),
        escape(&size_words(lang, f.size_bytes)),
        escape(f.blake3.get(..16).unwrap_or(&f.blake3)),
    );
}

fn size_words(lang: Lang, bytes: u64) -> String {
    match lang {
        Lang::De => format!("{bytes} Bytes"),
        Lang::En => format!("{bytes} bytes"),
    }
}

/// The certificate page's body. `names`: operator id → name.
pub fn body(
    lang: Lang,
    cert: &Certificate,
    names: &HashMap<String, String>,
    notice: Option<&str>,
) -> String {
    let de = lang == Lang::De;
    let mut b = String::new();
    if let Some(n) = notice {
        let _ = writeln!(
            b,
            "<p class=\"status ok\" role=\"status\">{}</p>",
            escape(n)
        );
    }
    let _ = writeln!(
        b,
        "<dl><dt>Code</dt><dd><code>{}</code></dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        escape(&formatted(&cert.code)),
        if de { "Zustand" } else { "State" },
        escape(&state_name(lang, cert.state.name())),
        if de { "Art" } else { "Kind" },
        escape(&cert.kind),
        if de { "Hochschule" } else { "Institution" },
        escape(&cert.institution),
    );
    let mut facts = Vec::new();
    if let Some(r) = &cert.revoked {
        facts.push(format!(
            "{} {} ({})",
            if de { "Widerrufen ab" } else { "Revoked from" },
            escape(r.effective_date.as_deref().unwrap_or("–")),
            escape(&r.reason)
        ));
    }
    if let Some(v) = &cert.voided {
        facts.push(format!(
            "{} ({})",
            if de { "Storniert" } else { "Voided" },
            escape(&v.reason)
        ));
    }
    if let Some(new) = &cert.superseded_by {
        facts.push(format!(
            "{} {}",
            if de { "Ersetzt durch" } else { "Superseded by" },
            code_link(new)
        ));
    }
    if let Some(old) = &cert.supersedes {
        facts.push(format!(
            "{} {}",
            if de { "Ersetzt" } else { "Supersedes" },
            code_link(old)
        ));
    }
    if cert.erased {
        facts.push(
            if de {
                "Die Personendaten sind gelöscht."
            } else {
                "The holder data is erased."
            }
            .into(),
        );
    }
    if !facts.is_empty() {
        b.push_str("<ul>\n");
        for f in facts {
            let _ = writeln!(b, "<li>{f}</li>");
        }
        b.push_str("</ul>\n");
    }

    // Files: the documents, the current scan, the replaced scans.
    let _ = writeln!(
        b,
        "<h2>{}</h2>\n<table>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">BLAKE3</th></tr></thead>\n<tbody>",
        if de { "Dokumente und Scans" } else { "Documents and scans" },
        if de { "Datei" } else { "File" },
        if de { "Medientyp" } else { "Media type" },
        if de { "Sprache" } else { "Language" },
        if de { "Größe" } else { "Size" },
    );
    for (i, d) in cert.documents.iter().enumerate() {
        let label = format!("{} {}", if de { "Dokument" } else { "Document" }, i + 1);
        file_row(&mut b, lang, &label, d);
    }
    match &cert.scan {
        Some(s) => file_row(
            &mut b,
            lang,
            if de {
                "Scan (aktuell)"
            } else {
                "Scan (current)"
            },
            s,
        ),
        None => {
            let _ = writeln!(
                b,
                "<tr><th scope=\"row\">Scan</th><td colspan=\"4\">{}</td></tr>",
                if de {
                    "noch nicht archiviert"
                } else {
                    "not archived yet"
                }
            );
        }
    }
    for r in &cert.replaced_scans {
        let label = format!(
            "{} {}",
            if de {
                "Ersetzter Scan, Ledger-Eintrag"
            } else {
                "Replaced scan, ledger record"
            },
            r.replaced_by
        );
        file_row(&mut b, lang, &label, &r.scan);
    }
    b.push_str("</tbody>\n</table>\n");
    if cert.scan.is_some() {
        let _ = writeln!(
            b,
            "<p><a href=\"/desk/replace-scan?code={}\">{}</a></p>",
            escape(&cert.code),
            if de {
                "Scan ersetzen …"
            } else {
                "Replace the scan …"
            }
        );
    }

    // The audit trail.
    let _ = writeln!(
        b,
        "<h2>{}</h2>\n<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>",
        if de { "Verlauf" } else { "History" },
        if de {
            "Jeder Ledger-Eintrag zu diesem Zeugnis und wer ihn geschrieben hat"
        } else {
            "Every ledger record about this certificate, with who wrote it"
        },
        if de { "Eintrag" } else { "Record" },
        if de { "Zeit" } else { "Time" },
        if de { "Vorgang" } else { "Event" },
        if de { "Durch" } else { "By" },
    );
    for e in &cert.events {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            escape(&local_time(lang, e.time_s)),
            escape(&kind_words(lang, &e.kind)),
            operator_cell(lang, e.operator.as_ref().map(|o| o.as_str()), names),
        );
    }
    b.push_str("</tbody>\n</table>\n");
    // The corrections, each to its confirmation page (the registry
    // refuses what the state does not allow, and the page says why).
    b.push_str("<ul>\n");
    for a in [
        super::fix::Action::Revoke,
        super::fix::Action::Void,
        super::fix::Action::Erase,
    ] {
        let _ = writeln!(
            b,
            "<li><a href=\"/desk/fix?code={}&amp;action={}\">{} …</a></li>",
            escape(&cert.code),
            a.name(),
            escape(a.title(lang)),
        );
    }
    if matches!(
        cert.state,
        crate::registry::State::AwaitingScan | crate::registry::State::Archived
    ) {
        let _ = writeln!(
            b,
            "<li><a href=\"/desk/register?supersedes={}\">{} …</a></li>",
            escape(&cert.code),
            if de {
                "Berichtigen (durch ein neues Zeugnis ersetzen)"
            } else {
                "Correct (supersede with a new certificate)"
            },
        );
    }
    let _ = writeln!(
        b,
        "</ul>\n<p><a href=\"/desk/\">{}</a></p>",
        if de {
            "Zur Übersicht"
        } else {
            "To the overview"
        },
    );
    b
}

/// The replace-scan confirmation page's body: the certificate, what will
/// happen, what cannot be undone, and the form (file, reason, CSRF token)
/// that POSTs the replacement. `error`: why the last attempt was refused.
pub fn replace_confirm(
    lang: Lang,
    csrf: &str,
    cert: &Certificate,
    scan_bytes_max: u64,
    error: Option<&str>,
) -> String {
    let de = lang == Lang::De;
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
        "<dl><dt>Code</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        code_link(&cert.code),
        if de { "Zustand" } else { "State" },
        escape(&state_name(lang, cert.state.name())),
    );
    let (what, irreversible) = if de {
        (
            "Die neue Datei wird der aktuelle Scan dieses Zeugnisses. Der bisherige Scan wird nicht gelöscht: er bleibt im Archiv und in jedem Nachweis, als ersetzt markiert, mit dem Grund. Der Zustand des Zeugnisses ändert sich nicht.",
            "Der Austausch steht für immer im Ledger und kann nicht rückgängig gemacht werden; ein Fehler wird nur durch einen weiteren Austausch korrigiert.",
        )
    } else {
        (
            "The new file becomes this certificate's current scan. The old scan is not deleted: it stays in the archive and in every proof, marked as replaced, with the reason. The certificate's state does not change.",
            "The replacement stays in the ledger for ever and cannot be undone; a mistake can only be corrected by another replacement.",
        )
    };
    b.push_str(&super::page::consequences(lang, what, irreversible));
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/desk/replace-scan\" enctype=\"multipart/form-data\">\n{}\n\
<input type=\"hidden\" name=\"code\" value=\"{}\">\n\
<div class=\"field\"><label for=\"scan\">{}</label>\n<input type=\"file\" id=\"scan\" name=\"scan\" required accept=\"application/pdf,image/png,image/jpeg,image/tiff\" aria-describedby=\"scan-hint\">\n\
<p class=\"hint\" id=\"scan-hint\">{}</p></div>\n\
<div class=\"field\"><label for=\"reason\">{}</label>\n<input type=\"text\" class=\"plain\" id=\"reason\" name=\"reason\" required aria-describedby=\"reason-hint\">\n\
<p class=\"hint\" id=\"reason-hint\">{}</p></div>\n\
<button type=\"submit\">{}</button>\n</form>\n<p><a href=\"{}\">{}</a></p>\n",
        csrf_field(csrf),
        escape(&cert.code),
        if de { "Neuer Scan" } else { "New scan" },
        escape(&if de {
            format!("PDF, PNG, JPEG oder TIFF, höchstens {scan_bytes_max} Bytes.")
        } else {
            format!("PDF, PNG, JPEG or TIFF, at most {scan_bytes_max} bytes.")
        }),
        if de { "Grund (Pflichtfeld)" } else { "Reason (required)" },
        if de {
            "Steht für immer im Ledger: bitte keine Personendaten."
        } else {
            "Stays in the ledger for ever: no personal data, please."
        },
        replace_title(lang),
        href(&cert.code),
        if de {
            "Abbrechen, nichts ändern"
        } else {
            "Cancel, change nothing"
        },
    );
    b
}

/// The notice on the certificate page after a replacement.
pub fn replaced_notice(lang: Lang, rep: &ScanReplacement) -> String {
    match (lang, rep.retry) {
        (Lang::De, false) => format!(
            "Der Scan ist ersetzt (Ledger-Eintrag {}); der bisherige Scan bleibt im Archiv.",
            rep.seq
        ),
        (Lang::En, false) => format!(
            "The scan is replaced (ledger record {}); the old scan stays in the archive.",
            rep.seq
        ),
        (Lang::De, true) => format!(
            "Genau dieser Austausch stand schon im Ledger (Eintrag {}); nichts wurde geändert.",
            rep.seq
        ),
        (Lang::En, true) => format!(
            "This exact replacement was already in the ledger (record {}); nothing was changed.",
            rep.seq
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_shown_by_name_else_by_id_else_as_automatic() {
        let names: HashMap<String, String> =
            [("op-abc".to_string(), "Erika <M>".to_string())].into();
        let known = operator_cell(Lang::En, Some("op-abc"), &names);
        assert_eq!(known, "Erika &lt;M&gt; (<code>op-abc</code>)");
        assert_eq!(
            operator_cell(Lang::De, Some("api"), &names),
            "<code>api</code>"
        );
        assert_eq!(operator_cell(Lang::De, None, &names), "automatisch");
        assert_eq!(operator_cell(Lang::En, None, &names), "automatic");
    }

    #[test]
    fn both_revocation_kinds_read_as_revoked() {
        assert_eq!(kind_words(Lang::En, "RevokedWithCategory"), "Revoked");
        assert_eq!(kind_words(Lang::De, "Revoked"), "Widerrufen");
        assert_eq!(kind_words(Lang::En, "SomethingNew"), "SomethingNew");
    }

    #[test]
    fn links_use_the_canonical_code() {
        assert_eq!(href("QNVC-FM3P-4VDF"), "/desk/certificate/QNVCFM3P4VDF");
        assert!(code_link("QNVCFM3P4VDF").contains("<code>QNVC-FM3P-4VDF</code>"));
    }
}
