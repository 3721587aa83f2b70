//! The desk's watch lists (Eingang): certificates awaiting their scan
//! (oldest first, with age), scans waiting for a registration, quarantined
//! scans with their reason in words, recent archivings. Each list filters
//! by code (or file name) and pages.
//!
//! Owns: reading the four lists one page at a time. Bounds: a page has at
//! most [`WATCH_ROWS_MAX`] rows and there are at most [`WATCH_PAGES_MAX`]
//! pages; the awaiting list keeps at most `WATCH_ROWS_MAX × WATCH_PAGES_MAX`
//! entries while it passes over the derived states
//! ([`crate::registry::Reader::awaiting_scan_page`]); the waiting and
//! quarantine lists come from the inbox folders as the status report reads
//! them (at most `HEALTH_ITEMS_MAX` / `REPORT_ITEMS_MAX` entries); recent
//! archivings read at most [`ARCHIVED_RECORDS_SCANNED_MAX`] records
//! backwards from the newest. Must not do: write anything or take the
//! registry lock (everything goes through the lock-free `Reader` and the
//! folders).

use super::super::pages::{escape, local_time, Lang};
use super::super::AppState;
use crate::ledger::record::{Body, Record};
use crate::registry::RegistryError;
use std::fmt::Write as _;

/// Rows on one page of a watch list.
pub const WATCH_ROWS_MAX: usize = 50;
/// Pages of a watch list that can be asked for (page numbers 1 to this).
pub const WATCH_PAGES_MAX: usize = 200;
/// Records read backwards from the newest for one page of recent archivings.
pub const ARCHIVED_RECORDS_SCANNED_MAX: u64 = 20_000;
/// Longest filter text, in characters.
pub const FILTER_CHARS_MAX: usize = 64;

/// Which list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    /// Registered, no scan yet.
    Awaiting,
    /// Scans in `scans/waiting/` (code not registered yet).
    Waiting,
    /// Scans in `scans/quarantine/`.
    Quarantine,
    /// The latest `ScanArchived` records.
    Archived,
}

impl List {
    /// By its path segment.
    pub fn parse(s: &str) -> Option<List> {
        Some(match s {
            "awaiting" => List::Awaiting,
            "waiting" => List::Waiting,
            "quarantine" => List::Quarantine,
            "archived" => List::Archived,
            _ => return None,
        })
    }

    /// The path segment.
    pub fn slug(self) -> &'static str {
        match self {
            List::Awaiting => "awaiting",
            List::Waiting => "waiting",
            List::Quarantine => "quarantine",
            List::Archived => "archived",
        }
    }

    fn title(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (List::Awaiting, Lang::De) => "Warten auf den Scan",
            (List::Awaiting, Lang::En) => "Awaiting their scan",
            (List::Waiting, Lang::De) => "Scans ohne Registrierung",
            (List::Waiting, Lang::En) => "Scans waiting for a registration",
            (List::Quarantine, Lang::De) => "Quarantäne",
            (List::Quarantine, Lang::En) => "Quarantine",
            (List::Archived, Lang::De) => "Zuletzt archiviert",
            (List::Archived, Lang::En) => "Recently archived",
        }
    }
}

/// The query of a list page: `q` (filter) and `page` (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The filter as typed (shown back in the field).
    pub typed: String,
    /// The filter normalised: upper case, no spaces or hyphens.
    pub filter: String,
    /// Page number, 1 to [`WATCH_PAGES_MAX`].
    pub page: usize,
}

impl Query {
    /// From a URL query string; out-of-range values are clamped.
    pub fn parse(query: Option<&str>) -> Query {
        let mut typed = String::new();
        let mut page = 1;
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "q" => typed = v.chars().take(FILTER_CHARS_MAX).collect(),
                "page" => page = v.parse().unwrap_or(1),
                _ => {}
            }
        }
        let filter = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect();
        Query {
            typed,
            filter,
            page: page.clamp(1, WATCH_PAGES_MAX),
        }
    }

    fn skip(&self) -> usize {
        (self.page - 1) * WATCH_ROWS_MAX
    }
}

/// One row: cells already escaped HTML.
type Row = Vec<String>;

/// A quarantine reason in words.
pub fn quarantine_reason_words(lang: Lang, reason: &str) -> String {
    let (code, detail) = match reason.split_once(": ") {
        Some((c, d)) => (c, Some(d)),
        None => (reason, None),
    };
    let (de, en) = match code {
        "empty" => ("Die Datei ist leer.", "The file is empty."),
        "oversize" => ("Die Datei ist zu groß.", "The file is too large."),
        "unreadable" => (
            "Die Datei kann nicht gelesen werden.",
            "The file cannot be read.",
        ),
        "not_pdf_or_image" => (
            "Kein PDF und kein Bild (PNG, JPEG, TIFF).",
            "Neither a PDF nor an image (PNG, JPEG, TIFF).",
        ),
        "symlink" | "special_file" => ("Keine gewöhnliche Datei.", "Not an ordinary file."),
        "no_code" => (
            "Kein Code gefunden (Deckblatt fehlt oder ist unlesbar).",
            "No code found (cover sheet missing or unreadable).",
        ),
        "unauthenticated_code" => (
            "Der Barcode trägt kein gültiges Deckblatt-Merkmal dieses Archivs.",
            "The barcode carries no valid cover-sheet tag of this archive.",
        ),
        "conflicting_codes" => (
            "Zwei Quellen nennen verschiedene Zeugnisse.",
            "Two sources name different certificates.",
        ),
        "decode_over_budget" | "decode_timeout" | "decode_crashed" => (
            "Der Barcode konnte nicht gelesen werden (Grenze der Dekodierung).",
            "The barcode could not be read (decoding limit).",
        ),
        "crashed_during_processing" => (
            "Die Verarbeitung brach zweimal ab.",
            "Processing failed twice.",
        ),
        "bad_file_name" => ("Der Dateiname ist ungültig.", "The file name is invalid."),
        "code_typo" => (
            "Der Code hat einen Tippfehler (Prüfzeichen falsch).",
            "The code has a typo (check character wrong).",
        ),
        "ambiguous_code" => (
            "Der Code passt zu mehreren Zeugnissen.",
            "The code matches several certificates.",
        ),
        "unknown_code" => (
            "Der Code wurde in der Wartezeit nie registriert.",
            "The code was never registered within the waiting period.",
        ),
        "second_scan" => (
            "Für dieses Zeugnis ist schon ein anderer Scan archiviert.",
            "A different scan is already archived for this certificate.",
        ),
        "revoked" => ("Das Zeugnis ist widerrufen.", "The certificate is revoked."),
        "superseded" => ("Das Zeugnis ist ersetzt.", "The certificate is superseded."),
        "voided" => ("Das Zeugnis ist storniert.", "The certificate is voided."),
        "orphan_sidecar" => ("Begleitdatei ohne Scan.", "Sidecar file without a scan."),
        _ => ("Unbekannter Grund.", "Unknown reason."),
    };
    let words = match lang {
        Lang::De => de,
        Lang::En => en,
    };
    match detail {
        Some(d) => format!("{words} ({d})"),
        None => format!("{words} ({code})"),
    }
}

fn days_since(now_s: i64, then_s: i64, lang: Lang) -> String {
    let days = (now_s - then_s).max(0) / 86_400;
    match lang {
        Lang::De if days == 1 => "1 Tag".into(),
        Lang::De => format!("{days} Tage"),
        Lang::En if days == 1 => "1 day".into(),
        Lang::En => format!("{days} days"),
    }
}

/// A canonical code in groups of four (`QNVC-FM3P-4VDF`).
pub fn formatted(code: &str) -> String {
    let c: Vec<char> = code.chars().collect();
    c.chunks(4)
        .map(|g| g.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The rows of one page and whether a next page exists.
pub fn rows(
    state: &AppState,
    list: List,
    query: &Query,
    lang: Lang,
) -> Result<(Vec<Row>, bool), RegistryError> {
    let now = crate::operators::now_s();
    let skip = query.skip();
    let matches = |text: &str| {
        query.filter.is_empty()
            || text
                .chars()
                .filter(|c| *c != '-')
                .flat_map(char::to_uppercase)
                .collect::<String>()
                .contains(&query.filter)
    };
    match list {
        List::Awaiting => {
            let (certs, total) =
                state
                    .reader
                    .awaiting_scan_page(&query.filter, skip, WATCH_ROWS_MAX)?;
            let mut out = Vec::new();
            for c in certs {
                let registered = match c.seqs.first() {
                    Some(seq) => state.reader.record_time(*seq)?,
                    None => now,
                };
                out.push(vec![
                    super::certificate::code_link(&c.code),
                    escape(&local_time(lang, registered)).into_owned(),
                    escape(&days_since(now, registered, lang)).into_owned(),
                ]);
            }
            Ok((out, (skip + WATCH_ROWS_MAX) < total as usize))
        }
        List::Waiting => {
            let (_, scans) = crate::scans::health::waiting(&state.cfg.scans_dir, now, -1);
            let hits: Vec<_> = scans
                .into_iter()
                .filter(|w| matches(&w.code) || matches(&w.name))
                .collect();
            let more = hits.len() > skip + WATCH_ROWS_MAX;
            let out = hits
                .into_iter()
                .skip(skip)
                .take(WATCH_ROWS_MAX)
                .map(|w| {
                    vec![
                        escape(&w.name).into_owned(),
                        format!("<code>{}</code>", escape(&formatted(&w.code))),
                        escape(&days_since(now, w.since_s, lang)).into_owned(),
                    ]
                })
                .collect();
            Ok((out, more))
        }
        List::Quarantine => {
            let hits: Vec<_> = crate::report::quarantined(&state.cfg.scans_dir)
                .into_iter()
                .filter(|q| matches(&q.file) || matches(&q.reason))
                .collect();
            let more = hits.len() > skip + WATCH_ROWS_MAX;
            let out = hits
                .into_iter()
                .skip(skip)
                .take(WATCH_ROWS_MAX)
                .map(|q| {
                    let link: String = form_urlencoded::Serializer::new(String::new())
                        .append_pair("file", &q.file)
                        .finish();
                    vec![
                        escape(&q.file).into_owned(),
                        escape(&quarantine_reason_words(lang, &q.reason)).into_owned(),
                        format!(
                            "<a href=\"/desk/quarantine?{}\">{}</a>",
                            escape(&link),
                            match lang {
                                Lang::De => "Erneut versuchen oder löschen",
                                Lang::En => "Retry or delete",
                            }
                        ),
                    ]
                })
                .collect();
            Ok((out, more))
        }
        List::Archived => {
            let size = state.reader.published().size;
            let oldest = size.saturating_sub(ARCHIVED_RECORDS_SCANNED_MAX);
            let mut seen = 0usize;
            let mut out = Vec::new();
            let mut more = false;
            let mut seq = size;
            while seq > oldest {
                seq -= 1;
                let bytes = state.reader.read_record(seq)?;
                let at = crate::ledger::record::RECORD_PREV_LINK_OFFSET;
                let kind = bytes
                    .get(at - 2..at)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .unwrap_or(0);
                if kind != crate::ledger::record::Kind::ScanArchived as u16 {
                    continue;
                }
                let record = Record::decode(&bytes)
                    .map_err(|e| RegistryError::Invalid(format!("record {seq}: {e}")))?;
                let Body::ScanArchived {
                    code, source_name, ..
                } = record.body
                else {
                    continue;
                };
                if !(matches(&code) || matches(&source_name)) {
                    continue;
                }
                seen += 1;
                if seen <= skip {
                    continue;
                }
                if out.len() == WATCH_ROWS_MAX {
                    more = true;
                    break;
                }
                out.push(vec![
                    super::certificate::code_link(&code),
                    escape(&crate::scans::printable(&source_name)).into_owned(),
                    escape(&local_time(lang, record.time_s)).into_owned(),
                ]);
            }
            Ok((out, more))
        }
    }
}

/// The body of a watch page: the list tabs, the filter form, the table,
/// the page links.
pub fn body(list: List, query: &Query, lang: Lang, rows: &[Row], more: bool) -> String {
    let de = lang == Lang::De;
    let mut b = String::new();
    let _ = write!(
        b,
        "<nav aria-label=\"{}\"><ul>",
        if de { "Listen" } else { "Lists" }
    );
    for l in [
        List::Awaiting,
        List::Waiting,
        List::Quarantine,
        List::Archived,
    ] {
        let current = if l == list {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            b,
            "<li><a href=\"/desk/watch/{}\"{current}>{}</a></li>",
            l.slug(),
            escape(l.title(lang))
        );
    }
    b.push_str("</ul></nav>\n");
    let _ = writeln!(
        b,
        "<form method=\"get\" action=\"/desk/watch/{slug}\">\n<div class=\"field\"><label for=\"q\">{label}</label>\n\
<input type=\"text\" class=\"plain\" id=\"q\" name=\"q\" value=\"{typed}\" maxlength=\"{FILTER_CHARS_MAX}\" autocomplete=\"off\"></div>\n\
<button type=\"submit\">{button}</button>\n</form>",
        slug = list.slug(),
        label = if de { "Filter (Code oder Dateiname)" } else { "Filter (code or file name)" },
        typed = escape(&query.typed),
        button = if de { "Filtern" } else { "Filter" },
    );
    let headers: &[&str] = match (list, de) {
        (List::Awaiting, true) => &["Code", "Registriert (UTC)", "Wartet seit"],
        (List::Awaiting, false) => &["Code", "Registered (UTC)", "Waiting for"],
        (List::Waiting, true) => &["Datei", "Code", "Wartet seit"],
        (List::Waiting, false) => &["File", "Code", "Waiting for"],
        (List::Quarantine, true) => &["Datei", "Grund", "Aktion"],
        (List::Quarantine, false) => &["File", "Reason", "Action"],
        (List::Archived, true) => &["Code", "Scan-Datei", "Archiviert (UTC)"],
        (List::Archived, false) => &["Code", "Scan file", "Archived (UTC)"],
    };
    if rows.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"status ok\" role=\"status\">{}</p>",
            if de {
                "Keine Einträge."
            } else {
                "No entries."
            }
        );
    } else {
        let _ = write!(
            b,
            "<table>\n<caption>{} – {} {}</caption>\n<thead><tr>",
            escape(list.title(lang)),
            if de { "Seite" } else { "page" },
            query.page
        );
        for h in headers {
            let _ = write!(b, "<th scope=\"col\">{}</th>", escape(h));
        }
        b.push_str("</tr></thead>\n<tbody>\n");
        for r in rows {
            b.push_str("<tr>");
            for cell in r {
                let _ = write!(b, "<td>{cell}</td>");
            }
            b.push_str("</tr>\n");
        }
        b.push_str("</tbody>\n</table>\n");
    }
    let link = |page: usize, text: &str, rel: &str| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &query.typed)
            .append_pair("page", &page.to_string())
            .finish();
        format!(
            "<a href=\"/desk/watch/{}?{}\" rel=\"{rel}\">{}</a>",
            list.slug(),
            escape(&q),
            escape(text)
        )
    };
    let mut pager = Vec::new();
    if query.page > 1 {
        pager.push(link(
            query.page - 1,
            if de {
                "Vorherige Seite"
            } else {
                "Previous page"
            },
            "prev",
        ));
    }
    if more && query.page < WATCH_PAGES_MAX {
        pager.push(link(
            query.page + 1,
            if de { "Nächste Seite" } else { "Next page" },
            "next",
        ));
    }
    if !pager.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", pager.join(" · "));
    }
    b
}

/// The page of one quarantined file: what is wrong, and the two actions
/// (retry after fixing the cause; delete with a reason), each a POST with
/// the CSRF token.
pub fn quarantine_actions(lang: Lang, csrf: &str, file: &str, reason: &str) -> String {
    let de = lang == Lang::De;
    let csrf = super::page::csrf_field(csrf);
    format!(
        "<dl><dt>{file_label}</dt><dd>{file}</dd><dt>{reason_label}</dt><dd>{reason}</dd></dl>\n\
<h2>{retry_heading}</h2>\n<p>{retry_text}</p>\n\
<form method=\"post\" action=\"/desk/quarantine\">{csrf}<input type=\"hidden\" name=\"file\" value=\"{file}\">\
<input type=\"hidden\" name=\"action\" value=\"retry\"><button type=\"submit\">{retry_button}</button></form>\n\
<h2>{delete_heading}</h2>\n<p class=\"status warn\"><strong>{undone}</strong> {delete_text}</p>\n\
<form method=\"post\" action=\"/desk/quarantine\">{csrf}<input type=\"hidden\" name=\"file\" value=\"{file}\">\
<input type=\"hidden\" name=\"action\" value=\"delete\">\
<div class=\"field\"><label for=\"delete-reason\">{reason_field}</label>\
<input type=\"text\" class=\"plain\" id=\"delete-reason\" name=\"reason\" required maxlength=\"500\"></div>\
<button type=\"submit\">{delete_button}</button></form>\n\
<p><a href=\"/desk/watch/quarantine\">{back}</a></p>\n",
        file_label = if de { "Datei" } else { "File" },
        file = escape(file),
        reason_label = if de { "Grund der Quarantäne" } else { "Why it is in quarantine" },
        reason = escape(&quarantine_reason_words(lang, reason)),
        retry_heading = if de { "Erneut versuchen" } else { "Retry" },
        retry_text = if de {
            "Beheben Sie zuerst die Ursache (z. B. das Zeugnis registrieren). Die Datei wird dann zurück in den Eingang gelegt und noch einmal verarbeitet."
        } else {
            "Fix the cause first (e.g. register the certificate). The file is then put back into the inbox and processed again."
        },
        retry_button = if de { "Zurück in den Eingang" } else { "Back into the inbox" },
        delete_heading = if de { "Löschen" } else { "Delete" },
        undone = if de { "Nicht umkehrbar:" } else { "Cannot be undone:" },
        delete_text = if de {
            "Die Datei wird endgültig gelöscht. Sie war nie archiviert; wer, wann und warum wird in quarantine/.deleted.jsonl vermerkt."
        } else {
            "The file is deleted for good. It was never archived; who, when and why are noted in quarantine/.deleted.jsonl."
        },
        reason_field = if de { "Grund der Löschung (Pflichtfeld)" } else { "Why it is deleted (required)" },
        delete_button = if de { "Endgültig löschen" } else { "Delete for good" },
        back = if de { "Zurück zur Quarantäne" } else { "Back to the quarantine" },
    )
}

/// The page title of a list.
pub fn title(list: List, lang: Lang) -> &'static str {
    list.title(lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_normalised_and_clamped() {
        let q = Query::parse(Some("q=qnvc-fm3p%204vdf&page=0"));
        assert_eq!(q.filter, "QNVCFM3P4VDF");
        assert_eq!(q.page, 1);
        assert_eq!(Query::parse(Some("page=999999")).page, WATCH_PAGES_MAX);
        assert_eq!(Query::parse(Some("page=x")).page, 1);
        assert_eq!(Query::parse(None).skip(), 0);
        assert_eq!(Query::parse(Some("page=3")).skip(), 2 * WATCH_ROWS_MAX);
        let long = format!("q={}", "a".repeat(500));
        assert_eq!(Query::parse(Some(&long)).typed.len(), FILTER_CHARS_MAX);
    }

    #[test]
    fn quarantine_reasons_read_as_words_in_both_languages() {
        let de = quarantine_reason_words(Lang::De, "no_code: no cover sheet found");
        assert!(
            de.starts_with("Kein Code gefunden") && de.contains("no cover sheet found"),
            "{de}"
        );
        let en = quarantine_reason_words(Lang::En, "second_scan");
        assert!(
            en.starts_with("A different scan") && en.ends_with("(second_scan)"),
            "{en}"
        );
        assert!(quarantine_reason_words(Lang::En, "new_reason").contains("Unknown reason"));
    }

    #[test]
    fn page_links_keep_the_filter_and_escape_it() {
        let q = Query::parse(Some("q=%3Cx%3E&page=2"));
        let html = body(
            List::Waiting,
            &q,
            Lang::En,
            &[vec!["a".into(), "b".into(), "c".into()]],
            true,
        );
        assert!(html.contains("value=\"&lt;x&gt;\""), "{html}");
        assert!(html.contains("rel=\"prev\"") && html.contains("rel=\"next\""));
        assert!(html.contains("q=%3Cx%3E&amp;page=3"), "{html}");
        assert!(!html.contains("<x>"));
    }
}
