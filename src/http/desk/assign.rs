//! Assigning a quarantined scan to a certificate by hand (Quarantäne →
//! „Einem Zeugnis zuordnen“): a look at page 1 of the scan as an image,
//! the code typed in, a confirmation page with what the clerk needs to
//! check the pairing (the certificate's code, state, institution, kind,
//! registration date and page 1 of its registered PDF, which names the
//! holder), then the commit.
//!
//! Owns: the routes `GET /desk/quarantine/page1?file=` (page 1 of the
//! quarantined file), `GET /desk/quarantine/registered-page1?code=`
//! (page 1 of a certificate's registered PDF), `GET
//! /desk/quarantine/assign?file=&code=` (the confirmation page; nothing
//! changes) and `POST /desk/quarantine/assign` (the commit), and their
//! HTML. Both pictures are PNGs made by the limited decode worker
//! ([`crate::scans::preview`]), or, when none can be made, a placeholder
//! SVG saying why ([`placeholder_svg`]); the file's own bytes never reach
//! the browser. Must not do: write except through [`super::write`] (the
//! `ScanArchived` record carries the operator id); remove the quarantined
//! file before the ledger record is durable (crash-safe order: a crash in
//! between leaves the file in quarantine, and assigning it again finds the
//! same scan already archived and only removes it); archive a file other
//! than the one the clerk looked at (the confirmation carries its BLAKE3).
//!
//! Limits: files are read up to [`ASSIGN_FILE_BYTES_MAX`] (the registry
//! then applies `intake.file_bytes_max` / the blob limit); the pictures
//! follow [`crate::scans::preview`]'s limits.

use super::super::pages::{escape, local_time, Lang};
use super::super::response::{self, Resp};
use super::super::AppState;
use super::{field, page, watch, write, Signed};
use crate::registry::{Certificate, RegistryError, State};
use crate::scans::requeue::{self, RequeueError};
use hyper::{header, StatusCode};
use std::fmt::Write as _;

/// Largest quarantined file read for an assignment, in bytes (the ceiling
/// of `intake.file_bytes_max`).
pub const ASSIGN_FILE_BYTES_MAX: u64 = crate::blobs::BLOB_BYTES_MAX_DEFAULT;

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn png(bytes: Vec<u8>) -> Resp {
    let mut r = response::bytes(StatusCode::OK, "image/png", bytes);
    response::set(&mut r, header::CACHE_CONTROL, "no-store");
    response::set(&mut r, header::CONTENT_DISPOSITION, "inline");
    r
}

/// Characters per line of the placeholder's reason.
const PLACEHOLDER_LINE_CHARS_MAX: usize = 46;
/// Lines of the placeholder's reason (the rest is cut with "…").
const PLACEHOLDER_LINES_MAX: usize = 12;

/// The placeholder picture in place of page 1: an A4-shaped SVG that says
/// in words that no preview could be made and why. Pure text and shapes
/// (an SVG in an `<img>` runs no script and loads nothing).
pub fn placeholder_svg(lang: Lang, reason: &str) -> String {
    let heading = match lang {
        Lang::De => "Keine Vorschau möglich",
        Lang::En => "No preview possible",
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in reason.split_whitespace() {
        for piece in word
            .chars()
            .collect::<Vec<_>>()
            .chunks(PLACEHOLDER_LINE_CHARS_MAX)
        {
            let piece: String = piece.iter().collect();
            if !line.is_empty()
                && line.chars().count() + 1 + piece.chars().count() > PLACEHOLDER_LINE_CHARS_MAX
            {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&piece);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if lines.len() > PLACEHOLDER_LINES_MAX {
        lines.truncate(PLACEHOLDER_LINES_MAX);
        if let Some(last) = lines.last_mut() {
            last.push_str(" …");
        }
    }
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"440\" height=\"622\" viewBox=\"0 0 440 622\">\
<rect x=\"1\" y=\"1\" width=\"438\" height=\"620\" fill=\"#f4f4f4\" stroke=\"#555\" stroke-width=\"2\"/>",
    );
    let _ = write!(
        svg,
        "<text x=\"24\" y=\"60\" font-family=\"sans-serif\" font-size=\"22\" font-weight=\"bold\" fill=\"#111\">{}</text>",
        escape(heading)
    );
    for (i, l) in lines.iter().enumerate() {
        let _ = write!(
            svg,
            "<text x=\"24\" y=\"{}\" font-family=\"sans-serif\" font-size=\"15\" fill=\"#222\">{}</text>",
            100 + 22 * i,
            escape(l)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A picture that could not be made: the placeholder (200, so that the
/// page shows it in the picture's place); the reason is logged too.
fn no_picture(lang: Lang, signed: &Signed, what: &str, reason: &str) -> Resp {
    tracing::info!(operator = %signed.operator_id, what, reason, "desk: no preview");
    let mut r = response::bytes(
        StatusCode::OK,
        "image/svg+xml; charset=utf-8",
        placeholder_svg(lang, reason),
    );
    response::set(&mut r, header::CACHE_CONTROL, "no-store");
    r
}

fn requeue_status(e: &RequeueError) -> StatusCode {
    match e {
        RequeueError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        RequeueError::Missing(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// `GET /desk/quarantine/page1?file=`: page 1 of the quarantined file
/// as a PNG rendered by the decode worker, or the placeholder SVG that
/// says why there is none.
pub async fn preview(state: &AppState, lang: Lang, signed: &Signed, query: Option<&str>) -> Resp {
    let file = field(&query_pairs(query), "file").unwrap_or("").to_string();
    let inbox = state.cfg.scans_dir.clone();
    let name = file.clone();
    let done = tokio::task::spawn_blocking(move || {
        let bytes = requeue::read(&inbox, &name, ASSIGN_FILE_BYTES_MAX)?;
        Ok::<_, RequeueError>(crate::scans::preview::first_page_png(
            &crate::scans::worker::default_exe(),
            &bytes,
        ))
    })
    .await;
    match done {
        Ok(Ok(Ok(bytes))) => png(bytes),
        Ok(Ok(Err(reason))) => no_picture(lang, signed, "quarantined file", &reason),
        Ok(Err(e)) => response::text(requeue_status(&e), &e.to_string()),
        Err(e) => response::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("task failed: {e}"),
        ),
    }
}

/// `GET /desk/quarantine/registered-page1?code=`: page 1 of the
/// certificate's (first) registered PDF, read from the blob store and
/// checked against its address, rendered by the decode worker (or the
/// placeholder).
pub async fn registered_preview(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    query: Option<&str>,
) -> Resp {
    let code = field(&query_pairs(query), "code").unwrap_or("").to_string();
    let cert = match state.reader.find(&code) {
        Ok(c) => c,
        Err(e) => return response::text(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let Some(doc) = cert.documents.first() else {
        return no_picture(lang, signed, "registered PDF", "no registered PDF");
    };
    let addr: Option<crate::ledger::record::Hash32> = hex::decode(&doc.blake3)
        .ok()
        .and_then(|v| v.try_into().ok());
    let Some(addr) = addr else {
        return no_picture(lang, signed, "registered PDF", "bad document address");
    };
    let blobs = state.reader.blobs().clone();
    let done = tokio::task::spawn_blocking(move || {
        let pdf = blobs
            .get(&addr)
            .map_err(|e| format!("the registered PDF cannot be read: {e}"))?;
        crate::scans::preview::first_page_png(&crate::scans::worker::default_exe(), &pdf)
    })
    .await;
    match done {
        Ok(Ok(bytes)) => png(bytes),
        Ok(Err(reason)) => no_picture(lang, signed, "registered PDF", &reason),
        Err(e) => response::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("task failed: {e}"),
        ),
    }
}

/// The section of the quarantine entry's page: the picture of page 1 and
/// the form that names the certificate (a GET to the confirmation page).
pub fn section(lang: Lang, file: &str) -> String {
    let de = lang == Lang::De;
    let link: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("file", file)
        .finish();
    format!(
        "<h2>{heading}</h2>\n<figure><img src=\"/desk/quarantine/page1?{link}\" alt=\"{alt}\" width=\"440\">\
<figcaption>{caption}</figcaption></figure>\n\
<form method=\"get\" action=\"/desk/quarantine/assign\"><input type=\"hidden\" name=\"file\" value=\"{file}\">\
<div class=\"field\"><label for=\"assign-code\">{label}</label>\
<input type=\"text\" class=\"plain\" id=\"assign-code\" name=\"code\" required maxlength=\"64\" autocomplete=\"off\" aria-describedby=\"assign-hint\">\
<p class=\"hint\" id=\"assign-hint\">{hint}</p></div>\
<button type=\"submit\">{button}</button></form>\n",
        heading = if de { "Einem Zeugnis zuordnen" } else { "Assign to a certificate" },
        link = escape(&link),
        alt = if de {
            "Seite 1 der Datei. Erscheint hier kein Bild, konnte die Datei nicht als Bild dargestellt werden (beschädigt, zu groß oder kein Scan)."
        } else {
            "Page 1 of the file. If no picture appears here, the file could not be shown as an image (damaged, too large or not a scan)."
        },
        caption = if de { "Seite 1 der Datei (Vorschau, verkleinert)" } else { "Page 1 of the file (preview, reduced)" },
        file = escape(file),
        label = if de { "Code des Zeugnisses" } else { "Code of the certificate" },
        hint = if de {
            "Der Code vom Deckblatt oder aus der Liste „Warten auf den Scan“, z. B. QNVC-FM3P-4VDF. Auf der nächsten Seite prüfen Sie die Zuordnung, bevor etwas gespeichert wird."
        } else {
            "The code from the cover sheet or the list “Awaiting their scan”, e.g. QNVC-FM3P-4VDF. The next page lets you check the pairing before anything is stored."
        },
        button = if de { "Zuordnung prüfen" } else { "Check the pairing" },
    )
}

/// Why `cert` cannot take a scan by hand, in words (`None`: it can).
fn refusal(lang: Lang, cert: &Certificate) -> Option<String> {
    let de = lang == Lang::De;
    let code = watch::formatted(&cert.code);
    if cert.erased {
        return Some(if de {
            format!("{code} ist gelöscht (DSGVO); ein Scan kann nicht mehr zugeordnet werden.")
        } else {
            format!("{code} is erased (GDPR); no scan can be assigned to it any more.")
        });
    }
    match cert.state {
        State::AwaitingScan => None,
        State::Archived => Some(if de {
            format!("{code} hat schon einen archivierten Scan. Ist er falsch, ersetzen Sie ihn (Scan ersetzen: zeugnis replace-scan {code} DATEI --reason TEXT oder POST /admin/v1/certificates/{code}/scan); diese Datei bleibt so lange in der Quarantäne.")
        } else {
            format!("{code} already has an archived scan. If it is wrong, replace it (replace scan: zeugnis replace-scan {code} FILE --reason TEXT or POST /admin/v1/certificates/{code}/scan); this file stays in quarantine meanwhile.")
        }),
        State::Revoked => Some(if de {
            format!("{code} ist widerrufen; ein Scan wird nicht mehr archiviert.")
        } else {
            format!("{code} is revoked; no scan is archived for it any more.")
        }),
        State::Superseded => Some(if de {
            format!(
                "{code} ist ersetzt; ordnen Sie den Scan dem neuen Zeugnis zu ({}).",
                cert.superseded_by
                    .as_deref()
                    .map(watch::formatted)
                    .unwrap_or_default()
            )
        } else {
            format!(
                "{code} is superseded; assign the scan to the new certificate ({}).",
                cert.superseded_by
                    .as_deref()
                    .map(watch::formatted)
                    .unwrap_or_default()
            )
        }),
        State::Voided => Some(if de {
            format!("{code} ist storniert (der Vorgang beginnt unter einem neuen Code); ein Scan wird nicht mehr archiviert.")
        } else {
            format!("{code} is voided (the process restarts under a new code); no scan is archived for it any more.")
        }),
    }
}

fn title(lang: Lang) -> &'static str {
    match lang {
        Lang::De => "Scan einem Zeugnis zuordnen",
        Lang::En => "Assign a scan to a certificate",
    }
}

fn message(lang: Lang, signed: &Signed, status: StatusCode, text: &str, class: &str) -> Resp {
    response::html(
        status,
        page::message(lang, title(lang), text, Some(&signed.who()), class),
    )
}

/// The confirmation page's body.
#[allow(clippy::too_many_arguments)]
fn confirm_body(
    lang: Lang,
    csrf: &str,
    file: &str,
    reason: &str,
    blake3: &str,
    cert: &Certificate,
    registered: &str,
    holder: Option<&crate::registry::RegistrationRecord>,
) -> String {
    let de = lang == Lang::De;
    let code = watch::formatted(&cert.code);
    let mut b = String::new();
    if let Some(r) = holder {
        let h = &r.holder;
        let _ = writeln!(
            b,
            "<h2>{}</h2>\n<dl><dt>Name</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
            if de { "Registriert für" } else { "Registered for" },
            escape(&format!("{} {}", h.given_name, h.family_name)),
            if de { "Geburtsdatum" } else { "Date of birth" },
            escape(&h.birth_date),
            if de { "Matrikelnummer" } else { "Student number" },
            escape(&h.student_id),
            if de { "Abschluss, Studiengang" } else { "Degree, programme" },
            escape(&format!("{}, {}", r.programme.degree, r.programme.name)),
        );
    }
    let _ = writeln!(
        b,
        "<dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>Code</dt><dd><code>{}</code></dd>\
<dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        if de { "Datei" } else { "File" },
        escape(file),
        if de {
            "Grund der Quarantäne"
        } else {
            "Why it is in quarantine"
        },
        escape(&watch::quarantine_reason_words(lang, reason)),
        escape(&code),
        if de { "Zustand" } else { "State" },
        escape(&page::state_name(lang, cert.state.name())),
        if de { "Hochschule" } else { "Institution" },
        escape(&cert.institution),
        if de { "Art" } else { "Kind" },
        escape(&cert.kind),
        if de {
            "Registriert (UTC)"
        } else {
            "Registered (UTC)"
        },
        escape(registered),
    );
    let file_link: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("file", file)
        .finish();
    let code_link: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &cert.code)
        .finish();
    let _ = writeln!(
        b,
        "<p>{}</p>\n<div class=\"pair\"><figure><img src=\"/desk/quarantine/page1?{}\" alt=\"{}\" width=\"400\"><figcaption>{}</figcaption></figure>\n\
<figure><img src=\"/desk/quarantine/registered-page1?{}\" alt=\"{}\" width=\"400\"><figcaption>{}</figcaption></figure></div>",
        if de {
            "Vergleichen Sie den Scan mit dem registrierten Zeugnis: mit Name, Geburtsdatum und Studiengang oben und mit Seite 1 des registrierten PDF."
        } else {
            "Compare the scan with the registered certificate: with the name, date of birth and programme above, and with page 1 of the registered PDF."
        },
        escape(&file_link),
        if de { "Seite 1 des Scans (keine Vorschau möglich, falls kein Bild erscheint)" } else { "Page 1 of the scan (no preview possible if no picture appears)" },
        if de { "Der Scan aus der Quarantäne" } else { "The scan from quarantine" },
        escape(&code_link),
        if de { "Seite 1 des registrierten PDF (keine Vorschau möglich, falls kein Bild erscheint)" } else { "Page 1 of the registered PDF (no preview possible if no picture appears)" },
        if de { "Das registrierte Zeugnis" } else { "The registered certificate" },
    );
    b.push_str(&page::consequences(
        lang,
        &if de {
            format!("Die Datei wird als Scan des unterschriebenen Originals von {code} archiviert, wie es der Eingang bei einem erkannten Deckblatt tut: ein Eintrag im Ledger mit Ihrer Bearbeiter-Kennung. Danach wird sie aus der Quarantäne entfernt; {code} ist dann archiviert.")
        } else {
            format!("The file is archived as the scan of the signed original of {code}, as the intake does for a recognised cover sheet: one ledger record with your operator id. Then it is removed from quarantine; {code} is then archived.")
        },
        if de {
            "Der Ledger-Eintrag bleibt für immer. Eine falsche Zuordnung lässt sich nur durch „Scan ersetzen“ korrigieren (der falsche Scan bleibt dabei aufbewahrt)."
        } else {
            "The ledger record stays for ever. A wrong pairing can only be corrected with “replace scan” (the wrong scan is kept)."
        },
    ));
    let _ = writeln!(
        b,
        "<form method=\"post\" action=\"/desk/quarantine/assign\">{}<input type=\"hidden\" name=\"file\" value=\"{}\">\
<input type=\"hidden\" name=\"code\" value=\"{}\"><input type=\"hidden\" name=\"blake3\" value=\"{}\">\
<button type=\"submit\">{}</button></form>\n<p><a href=\"/desk/quarantine?{}\">{}</a></p>",
        page::csrf_field(csrf),
        escape(file),
        escape(&cert.code),
        escape(blake3),
        escape(&if de { format!("Scan {code} zuordnen und archivieren") } else { format!("Assign to {code} and archive") }),
        escape(&file_link),
        if de { "Abbrechen, zurück zur Datei" } else { "Cancel, back to the file" },
    );
    b
}

/// `GET /desk/quarantine/assign?file=&code=`: the confirmation page
/// (nothing changes), or the refusal in words.
pub async fn confirm(state: &AppState, lang: Lang, signed: &Signed, query: Option<&str>) -> Resp {
    let pairs = query_pairs(query);
    let file = field(&pairs, "file").unwrap_or("").to_string();
    let code = field(&pairs, "code").unwrap_or("").trim().to_string();
    let Some(reason) = super::quarantine_reason(state, &file) else {
        return message(
            lang,
            signed,
            StatusCode::NOT_FOUND,
            &RequeueError::Missing(file).to_string(),
            "bad",
        );
    };
    let cert = match state.reader.find(&code) {
        Ok(c) => c,
        Err(e) => return super::registry_failure(lang, signed, &e),
    };
    if let Some(why) = refusal(lang, &cert) {
        return message(lang, signed, StatusCode::CONFLICT, &why, "bad");
    }
    let inbox = state.cfg.scans_dir.clone();
    let name = file.clone();
    let read = tokio::task::spawn_blocking(move || {
        requeue::read(&inbox, &name, ASSIGN_FILE_BYTES_MAX)
            .map(|bytes| blake3::hash(&bytes).to_hex().to_string())
    })
    .await;
    let blake3 = match read {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return message(lang, signed, requeue_status(&e), &e.to_string(), "bad"),
        Err(e) => {
            return response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("task failed: {e}"),
            )
        }
    };
    let registered = match cert.seqs.first() {
        Some(seq) => match state.reader.record_time(*seq) {
            Ok(t) => local_time(lang, t),
            Err(e) => return super::registry_failure(lang, signed, &e),
        },
        None => String::new(),
    };
    // The holder data as registered (what the cover sheet prints): the
    // exam office's own data, read without the key as the print bundle
    // reads it; none after an erasure.
    let holder = crate::codes::Code::parse(&cert.code).ok().and_then(|c| {
        state
            .reader
            .registration_record(&c, None, &cert)
            .ok()
            .flatten()
    });
    response::html(
        StatusCode::OK,
        page::frame(
            lang,
            title(lang),
            "/desk/watch/quarantine",
            Some(&signed.who()),
            &confirm_body(
                lang,
                &signed.session.csrf,
                &file,
                &reason,
                &blake3,
                &cert,
                &registered,
                holder.as_ref(),
            ),
        ),
    )
}

/// What the assignment under the writer came to.
enum Done {
    /// Archived as ledger record `seq`; then removed from quarantine, or
    /// why not.
    Archived {
        seq: u64,
        removed: Result<(), String>,
    },
    /// The file is not (or no longer) in quarantine.
    Gone(RequeueError),
    /// The file is not what the confirmation page showed.
    Changed,
}

/// `POST /desk/quarantine/assign` (`file`, `code`, `blake3` from the
/// confirmation page): archives the file as the certificate's scan through
/// [`write`] (`Registry::archive_scan`, as the intake archives a matched
/// scan), then removes it from quarantine.
pub async fn commit(
    state: &AppState,
    lang: Lang,
    signed: &Signed,
    form: &[(String, String)],
) -> Resp {
    let de = lang == Lang::De;
    let file = field(form, "file").unwrap_or("").to_string();
    let code = field(form, "code").unwrap_or("").trim().to_string();
    let seen = field(form, "blake3").unwrap_or("").to_string();
    let changed = || {
        let text = if de {
            "Die Datei hat sich geändert, seit Sie sie angesehen haben; nichts wurde gespeichert. Bitte die Zuordnung erneut prüfen."
        } else {
            "The file changed since you looked at it; nothing was stored. Please check the pairing again."
        };
        message(lang, signed, StatusCode::CONFLICT, text, "bad")
    };
    let cert = match state.reader.find(&code) {
        Ok(c) => c,
        Err(e) => return super::registry_failure(lang, signed, &e),
    };
    if let Some(why) = refusal(lang, &cert) {
        // A duplicate of the archived scan (a crash after the ledger write,
        // before the removal) is let through: archive_scan answers with
        // the existing record and the file is removed below.
        let same = cert
            .scan
            .as_ref()
            .is_some_and(|s| s.blake3 == seen && cert.state == State::Archived);
        if !same {
            return message(lang, signed, StatusCode::CONFLICT, &why, "bad");
        }
    }
    let source = file.clone();
    let target = cert.code.clone();
    let inbox = state.cfg.scans_dir.clone();
    // All under the writer (desk writes run one at a time): read the file
    // and compare it with what the clerk saw, archive it, and only then
    // remove it from quarantine, so that two clerks assigning the same
    // file cannot both archive it.
    let result = write(state, signed, "assign_scan", move |r| {
        let bytes = match requeue::read(&inbox, &source, ASSIGN_FILE_BYTES_MAX) {
            Ok(b) => b,
            Err(e) => return Ok(Done::Gone(e)),
        };
        if blake3::hash(&bytes).to_hex().as_str() != seen {
            return Ok(Done::Changed);
        }
        // Checked again under the writer: the certificate may have changed.
        let c = r.find(&target)?;
        if c.erased {
            return Err(RegistryError::Transition {
                code: c.code.clone(),
                action: "archive a scan for",
                state: "erased",
                detail: String::new(),
            });
        }
        let seq = r.archive_scan(&target, &bytes, &source)?;
        let removed = requeue::remove_assigned(&inbox, &source).map_err(|e| e.to_string());
        Ok(Done::Archived { seq, removed })
    })
    .await;
    let (seq, removed) = match result {
        Ok(Done::Archived { seq, removed }) => (seq, removed),
        Ok(Done::Changed) => return changed(),
        Ok(Done::Gone(e)) => {
            return message(lang, signed, requeue_status(&e), &e.to_string(), "bad")
        }
        Err(e) => return super::registry_failure(lang, signed, &e),
    };
    let code = watch::formatted(&cert.code);
    tracing::info!(operator = %signed.operator_id, seq, "desk: quarantined scan assigned");
    match removed {
        Ok(()) => message(
            lang,
            signed,
            StatusCode::OK,
            &if de {
                format!("Der Scan ist für {code} archiviert (Ledger-Eintrag {seq}) und aus der Quarantäne entfernt.")
            } else {
                format!("The scan is archived for {code} (ledger record {seq}) and removed from quarantine.")
            },
            "ok",
        ),
        Err(e) => {
            tracing::warn!(operator = %signed.operator_id, error = %e, "desk: assigned scan not removed from quarantine");
            message(
                lang,
                signed,
                StatusCode::OK,
                &if de {
                    format!("Der Scan ist für {code} archiviert (Ledger-Eintrag {seq}), aber die Datei konnte nicht aus der Quarantäne entfernt werden ({e}); sie kann dort gelöscht werden.")
                } else {
                    format!("The scan is archived for {code} (ledger record {seq}), but the file could not be removed from quarantine ({e}); it can be deleted there.")
                },
                "warn",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_escapes_the_file_name_in_the_link_and_the_field() {
        let html = section(Lang::En, "a\"<b>&c.pdf");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("page1?file=a%22%3Cb%3E%26c.pdf"), "{html}");
        assert!(
            html.contains("value=\"a&quot;&lt;b&gt;&amp;c.pdf\""),
            "{html}"
        );
        assert!(section(Lang::De, "x.pdf").contains("Einem Zeugnis zuordnen"));
    }

    #[test]
    fn the_placeholder_says_why_escaped_wrapped_and_cut() {
        let svg = placeholder_svg(Lang::En, "the PDF could not be rendered: <script> & more");
        assert!(
            svg.starts_with("<svg ") && svg.contains("No preview possible"),
            "{svg}"
        );
        assert!(
            svg.contains("&lt;script&gt; &amp; more") && !svg.contains("<script>"),
            "{svg}"
        );
        let long = "word ".repeat(500) + &"x".repeat(200);
        let svg = placeholder_svg(Lang::De, &long);
        assert!(
            svg.contains("Keine Vorschau möglich") && svg.contains(" …"),
            "{svg}"
        );
        assert_eq!(svg.matches("<text").count(), 1 + PLACEHOLDER_LINES_MAX);
        for line in svg.split("<text").skip(2) {
            let text = &line[line.find('>').expect("tag") + 1..line.find("</text>").expect("end")];
            assert!(
                text.chars().count() <= PLACEHOLDER_LINE_CHARS_MAX + 2,
                "{text}"
            );
        }
    }
}
