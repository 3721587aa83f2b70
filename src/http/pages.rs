//! The verification pages in German and English: pure functions from a
//! lookup result to self-contained HTML, and the one stylesheet.
//!
//! Owns: wording, markup, accessibility (language attributes, labels,
//! headings, status in words and not only colour, contrast ≥ 4.5:1) and the
//! CSS. Must not do: I/O, scripts, inline styles or external resources (the
//! Content-Security-Policy forbids them), or print anything unescaped.

use super::public::{Evidence, KeyCheck, Lookup};
use crate::codes::CodeError;
use crate::registry::{Certificate, State};
use serde_json::Value;
use std::fmt::Write;

/// The stylesheet, served at `/static/style.css` (readable on a phone:
/// one column, system fonts, large tap targets).
pub const STYLE_CSS: &str = r#"*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:100%;line-height:1.5;color:#1a1a1a;background:#fff}
body{margin:0 auto;padding:1rem;max-width:42rem}
header{display:flex;justify-content:space-between;align-items:baseline;gap:1rem;border-bottom:1px solid #767676;margin-bottom:1rem}
header p{margin:.5rem 0}
a{color:#0645ad}
a:focus,input:focus,button:focus,summary:focus{outline:3px solid #b35900;outline-offset:2px}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
.status{border:2px solid;border-radius:.5rem;padding:1rem;margin:1rem 0}
.status p{margin:.25rem 0}
.status strong{font-size:1.2rem}
.ok{border-color:#1e6b30;background:#eaf6ec}
.warn{border-color:#8a5a00;background:#fff6e0}
.bad{border-color:#a4161a;background:#fdecec}
dl{display:grid;grid-template-columns:minmax(8rem,auto) 1fr;gap:.25rem 1rem;margin:0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
label{display:block;font-weight:600;margin-bottom:.25rem}
input[type=text]{width:100%;font-size:1.1rem;padding:.6rem;border:2px solid #555;border-radius:.3rem;font-family:ui-monospace,monospace}
button{margin-top:.75rem;font-size:1.1rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#0b4f8a;color:#fff;cursor:pointer}
.hint{color:#444;font-size:.95rem}
details{margin:1.5rem 0;border:1px solid #767676;border-radius:.3rem;padding:.5rem 1rem}
summary{cursor:pointer;font-weight:600}
pre,code{font-family:ui-monospace,monospace;font-size:.85rem;overflow-wrap:anywhere;white-space:pre-wrap}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.25rem .5rem .25rem 0;vertical-align:top;border-bottom:1px solid #ddd}
td code{word-break:break-all}
"#;

/// A page language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// German.
    De,
    /// English.
    En,
}

impl Lang {
    /// `de` or `en` from a path segment.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// The other language (for the switch link).
    pub fn other(self) -> Lang {
        match self {
            Lang::De => Lang::En,
            Lang::En => Lang::De,
        }
    }

    /// The better of German and English for an `Accept-Language` header
    /// (highest q wins; German when neither is named or on a tie).
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best = (Lang::De, -1.0f32);
        for item in header.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "de" => Lang::De,
                "en" => Lang::En,
                _ => continue,
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }
}

/// Every text of the pages, in one language.
pub struct Texts {
    pub lang_name: &'static str,
    pub switch_label: &'static str,
    pub title: &'static str,
    pub form_heading: &'static str,
    pub form_label: &'static str,
    pub form_hint: &'static str,
    pub form_button: &'static str,
    pub archived: &'static str,
    pub archived_detail: &'static str,
    pub awaiting: &'static str,
    pub awaiting_detail: &'static str,
    pub revoked: &'static str,
    pub revoked_reason: &'static str,
    pub revoked_date: &'static str,
    pub superseded: &'static str,
    pub superseded_link: &'static str,
    pub voided: &'static str,
    pub voided_detail: &'static str,
    pub unknown: &'static str,
    pub unknown_detail: &'static str,
    pub malformed: &'static str,
    pub typo_detail: &'static str,
    pub malformed_detail: &'static str,
    pub code: &'static str,
    pub kind: &'static str,
    pub institution: &'static str,
    pub registered: &'static str,
    pub documents: &'static str,
    pub supersedes: &'static str,
    pub holder_heading: &'static str,
    pub holder_name: &'static str,
    pub birth_date: &'static str,
    pub birth_place: &'static str,
    pub programme: &'static str,
    pub degree: &'static str,
    pub last_exam: &'static str,
    pub holder_hidden: &'static str,
    pub wrong_key: &'static str,
    pub erased: &'static str,
    pub scan_link: &'static str,
    pub scan_needs_key: &'static str,
    pub scan_erased: &'static str,
    pub scan_missing: &'static str,
    pub evidence: &'static str,
    pub evidence_intro: &'static str,
    pub seq: &'static str,
    pub record_kind: &'static str,
    pub time: &'static str,
    pub leaf: &'static str,
    pub checkpoint: &'static str,
    pub how_to_verify: &'static str,
    pub another: &'static str,
}

const DE: Texts = Texts {
    lang_name: "Deutsch",
    switch_label: "English",
    title: "Zeugnisprüfung",
    form_heading: "Zeugnis prüfen",
    form_label: "Code des Zeugnisses",
    form_hint: "12 Zeichen, z. B. QNVC-FM3P-4UDF; mit dem 6-stelligen Zugangsschlüssel dahinter \
                werden auch die Angaben zur Person und der Scan gezeigt. Groß-/Kleinschreibung, \
                Leerzeichen und Bindestriche spielen keine Rolle.",
    form_button: "Prüfen",
    archived: "Gültig",
    archived_detail: "Das Zeugnis ist registriert und das unterschriebene Original ist archiviert.",
    awaiting: "Registriert – Original noch nicht archiviert",
    awaiting_detail: "Das Zeugnis ist registriert; der Scan des unterschriebenen Originals steht noch aus.",
    revoked: "Widerrufen",
    revoked_reason: "Grund",
    revoked_date: "Wirksam ab",
    superseded: "Ersetzt",
    superseded_link: "Dieses Zeugnis wurde zurückgezogen und neu ausgestellt. Zum neuen Zeugnis:",
    voided: "Ungültig (Vorgang abgebrochen)",
    voided_detail: "Der Ausstellungsvorgang wurde abgebrochen und unter einem neuen Code neu begonnen.",
    unknown: "Unbekannter Code",
    unknown_detail: "Unter diesem Code ist kein Zeugnis registriert. Bitte vergleichen Sie den Code mit dem Dokument.",
    malformed: "Kein gültiger Code",
    typo_detail: "Das Prüfzeichen des Zugangsschlüssels passt nicht: Code oder Schlüssel wurden \
                  vermutlich vertippt. Bitte vergleichen Sie beide mit dem Dokument.",
    malformed_detail: "Die Eingabe hat nicht die Form eines Codes (12 Zeichen, optional gefolgt von \
                       6 Zeichen Zugangsschlüssel) – vermutlich ein Tippfehler.",
    code: "Code",
    kind: "Dokument",
    institution: "Hochschule",
    registered: "Registriert am",
    documents: "Sprachfassungen",
    supersedes: "Ersetzt das Zeugnis",
    holder_heading: "Angaben zur Person",
    holder_name: "Name",
    birth_date: "Geburtsdatum",
    birth_place: "Geburtsort",
    programme: "Studiengang",
    degree: "Abschluss",
    last_exam: "Datum der letzten Prüfung",
    holder_hidden: "Angaben zur Person und der Scan werden nur mit dem Zugangsschlüssel gezeigt.",
    wrong_key: "Der Zugangsschlüssel passt nicht zu diesem Code; Angaben zur Person werden nicht gezeigt.",
    erased: "Die Angaben zur Person wurden auf Antrag gelöscht (DSGVO Art. 17). Der Registereintrag bleibt gültig.",
    scan_link: "Scan des unterschriebenen Originals ansehen",
    scan_needs_key: "Der Scan wird nur mit dem richtigen Zugangsschlüssel gezeigt.",
    scan_erased: "Die personenbezogenen Daten dieses Zeugnisses wurden gelöscht; der Scan wird nicht mehr gezeigt.",
    scan_missing: "Für dieses Zeugnis ist noch kein Scan archiviert.",
    evidence: "Nachweis im Register",
    evidence_intro: "Jeder Schritt steht als Eintrag im fälschungssicheren, öffentlich prüfbaren Register (Ledger).",
    seq: "Nr.",
    record_kind: "Eintrag",
    time: "Zeit (UTC)",
    leaf: "Eintrags-Hash (SHA-256-Blatt)",
    checkpoint: "Signierter Checkpoint",
    how_to_verify: "So prüfen Sie selbst: Beweis laden und mit dem veröffentlichten Prüfschlüssel der Hochschule prüfen:",
    another: "Anderen Code prüfen",
};

const EN: Texts = Texts {
    lang_name: "English",
    switch_label: "Deutsch",
    title: "Certificate verification",
    form_heading: "Verify a certificate",
    form_label: "Certificate code",
    form_hint: "12 characters, e.g. QNVC-FM3P-4UDF; followed by the 6-character access key it also \
                shows the holder's data and the scan. Case, spaces and hyphens do not matter.",
    form_button: "Verify",
    archived: "Valid",
    archived_detail: "The certificate is registered and its signed original is archived.",
    awaiting: "Registered – original not yet archived",
    awaiting_detail: "The certificate is registered; the scan of the signed original has not arrived yet.",
    revoked: "Revoked",
    revoked_reason: "Reason",
    revoked_date: "Effective",
    superseded: "Superseded",
    superseded_link: "This certificate was withdrawn and reissued. The new certificate:",
    voided: "Invalid (process ended)",
    voided_detail: "The issuing process was ended and restarted under a new code.",
    unknown: "Unknown code",
    unknown_detail: "No certificate is registered under this code. Please compare the code with the document.",
    malformed: "Not a valid code",
    typo_detail: "The access key's check character does not match: the code or the key was \
                  probably mistyped. Please compare both with the document.",
    malformed_detail: "The input is not shaped like a code (12 characters, optionally followed by a \
                       6-character access key) – probably a typo.",
    code: "Code",
    kind: "Document",
    institution: "Institution",
    registered: "Registered on",
    documents: "Language versions",
    supersedes: "Replaces certificate",
    holder_heading: "Holder",
    holder_name: "Name",
    birth_date: "Date of birth",
    birth_place: "Place of birth",
    programme: "Programme",
    degree: "Degree",
    last_exam: "Date of the last examination",
    holder_hidden: "The holder's data and the scan are shown only with the access key.",
    wrong_key: "The access key does not match this code; the holder's data is not shown.",
    erased: "The holder's personal data was erased on request (GDPR Art. 17). The ledger entry remains valid.",
    scan_link: "View the scan of the signed original",
    scan_needs_key: "The scan is shown only with the right access key.",
    scan_erased: "The personal data of this certificate was erased; the scan is no longer shown.",
    scan_missing: "No scan has been archived for this certificate yet.",
    evidence: "Ledger evidence",
    evidence_intro: "Every step is a record in the tamper-evident, publicly verifiable ledger.",
    seq: "No.",
    record_kind: "Record",
    time: "Time (UTC)",
    leaf: "Record hash (SHA-256 leaf)",
    checkpoint: "Signed checkpoint",
    how_to_verify: "Verify it yourself: fetch the proof and check it with the institution's published verifier key:",
    another: "Verify another code",
};

/// The texts of a language.
pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::De => &DE,
        Lang::En => &EN,
    }
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    let special = |b: &u8| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    let Some(first) = s.bytes().position(|b| special(&b)) else {
        // Most texts need nothing: no copy.
        return std::borrow::Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + s.len() / 8 + 8);
    out.push_str(&s[..first]);
    let mut plain = first;
    // Copies runs of unescaped text at once: only the five ASCII bytes
    // below are replaced, and none of them occurs inside a UTF-8 sequence.
    for (i, b) in s.bytes().enumerate().skip(first) {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        out.push_str(entity);
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    std::borrow::Cow::Owned(out)
}

fn kind_name(lang: Lang, kind: &str) -> &'static str {
    match (lang, kind) {
        (Lang::De, "transcript") => "Zeugnis",
        (Lang::De, "degree_deed") => "Urkunde",
        (Lang::De, "diploma_supplement") => "Diploma Supplement",
        (Lang::De, _) => "Zertifikat",
        (Lang::En, "transcript") => "Transcript",
        (Lang::En, "degree_deed") => "Degree certificate",
        (Lang::En, "diploma_supplement") => "Diploma Supplement",
        (Lang::En, _) => "Certificate",
    }
}

/// The explanation of a code error in the page's language.
pub fn code_error(lang: Lang, e: &CodeError) -> String {
    let t = texts(lang);
    let main = if matches!(e, CodeError::CheckFailed { .. }) {
        t.typo_detail
    } else {
        t.malformed_detail
    };
    match lang {
        // The parser's own message names the position; it is English.
        Lang::En => format!("{main} ({e})"),
        Lang::De => main.to_string(),
    }
}

/// A page frame: language attribute, title, switch link, stylesheet.
fn frame(lang: Lang, heading: &str, switch_path: &str, body: &str) -> String {
    let t = texts(lang);
    let other = lang.other();
    format!(
        "<!DOCTYPE html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n\
<title>{heading} – {title}</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n</head>\n<body>\n\
<header><p><a href=\"/{code}/\">{title}</a></p>\
<p><a href=\"/{other_code}/{switch}\" hreflang=\"{other_code}\" lang=\"{other_code}\">{switch_label}</a></p></header>\n\
<main>\n<h1>{heading}</h1>\n{body}</main>\n</body>\n</html>\n",
        code = lang.code(),
        title = escape(t.title),
        heading = escape(heading),
        other_code = other.code(),
        switch = escape(switch_path),
        switch_label = texts(other).lang_name,
    )
}

fn form_html(lang: Lang, error: Option<&str>) -> String {
    let t = texts(lang);
    let mut s = String::new();
    let described = if error.is_some() {
        "code-hint code-error"
    } else {
        "code-hint"
    };
    let _ = write!(
        s,
        "<form method=\"get\" action=\"/{code}/\">\n<label for=\"code\">{label}</label>\n\
<input type=\"text\" id=\"code\" name=\"code\" required autocomplete=\"off\" autocapitalize=\"characters\" \
spellcheck=\"false\" inputmode=\"text\" aria-describedby=\"{described}\"{invalid}>\n\
<p class=\"hint\" id=\"code-hint\">{hint}</p>\n",
        code = lang.code(),
        label = escape(t.form_label),
        hint = escape(t.form_hint),
        invalid = if error.is_some() {
            " aria-invalid=\"true\""
        } else {
            ""
        },
    );
    if let Some(e) = error {
        let _ = writeln!(
            s,
            "<p class=\"status bad\" id=\"code-error\" role=\"alert\">{}</p>",
            escape(e)
        );
    }
    let _ = writeln!(
        s,
        "<button type=\"submit\">{}</button>\n</form>",
        escape(t.form_button)
    );
    s
}

/// The code-entry page (`/`, `/de/`, `/en/`), with an error under the field.
pub fn form(lang: Lang, error: Option<&str>) -> String {
    frame(lang, texts(lang).form_heading, "", &form_html(lang, error))
}

/// A short message page (scan refused, ...).
pub fn message(lang: Lang, text: &str) -> String {
    let t = texts(lang);
    let body = format!(
        "<p class=\"status warn\" role=\"status\">{}</p>\n<p><a href=\"/{}/\">{}</a></p>\n",
        escape(text),
        lang.code(),
        escape(t.another)
    );
    frame(lang, t.title, "", &body)
}

/// An HTTP date for a record time (RFC 9110 IMF-fixdate, UTC).
fn utc_time(time_s: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(time_s.max(0) as u64);
    httpdate::fmt_http_date(t)
}

fn status_box(lang: Lang, c: &Certificate) -> String {
    let t = texts(lang);
    let (class, title, detail) = match c.state {
        State::Archived => ("ok", t.archived, t.archived_detail.to_string()),
        State::AwaitingScan => ("warn", t.awaiting, t.awaiting_detail.to_string()),
        State::Revoked => {
            let (reason, date) = c
                .revoked
                .as_ref()
                .map(|r| (r.reason.as_str(), r.effective_date.as_deref().unwrap_or("")))
                .unwrap_or(("", ""));
            (
                "bad",
                t.revoked,
                format!(
                    "{}: {}</p><p>{}: {}",
                    escape(t.revoked_reason),
                    escape(reason),
                    escape(t.revoked_date),
                    escape(date)
                ),
            )
        }
        State::Superseded => {
            let new = c.superseded_by.as_deref().unwrap_or("");
            (
                "bad",
                t.superseded,
                format!(
                    "{} <a href=\"/{}/{}\">{}</a>",
                    escape(t.superseded_link),
                    lang.code(),
                    escape(new),
                    escape(&formatted(new))
                ),
            )
        }
        State::Voided => ("bad", t.voided, t.voided_detail.to_string()),
    };
    // Details built from our own texts are escaped above or are constants.
    let detail = if matches!(c.state, State::Revoked | State::Superseded) {
        detail
    } else {
        escape(&detail).into_owned()
    };
    format!(
        "<div class=\"status {class}\" role=\"status\"><p><strong>{}</strong></p><p>{detail}</p></div>\n",
        escape(title)
    )
}

/// `QNVCFM3P4UDF` -> `QNVC-FM3P-4UDF`.
fn formatted(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn row(s: &mut String, term: &str, value: &str) {
    let _ = writeln!(s, "<dt>{}</dt><dd>{}</dd>", escape(term), escape(value));
}

fn holder_section(lang: Lang, holder: &Value) -> String {
    let t = texts(lang);
    let get = |path: &[&str]| {
        let mut v = holder;
        for p in path {
            v = &v[*p];
        }
        v.as_str().unwrap_or("").to_string()
    };
    let mut s = format!("<h2>{}</h2>\n<dl>\n", escape(t.holder_heading));
    row(
        &mut s,
        t.holder_name,
        &format!(
            "{} {}",
            get(&["holder", "given_name"]),
            get(&["holder", "family_name"])
        ),
    );
    row(&mut s, t.birth_date, &get(&["holder", "birth_date"]));
    row(&mut s, t.birth_place, &get(&["holder", "birth_place"]));
    row(&mut s, t.degree, &get(&["programme", "degree"]));
    row(&mut s, t.programme, &get(&["programme", "name"]));
    row(&mut s, t.last_exam, &get(&["last_exam_date"]));
    s.push_str("</dl>\n");
    s
}

fn evidence_section(lang: Lang, code: &str, ev: &Evidence, base_url: &str) -> String {
    let t = texts(lang);
    let mut s = format!(
        "<details>\n<summary>{}</summary>\n<p>{}</p>\n<table>\n<thead><tr><th scope=\"col\">{}</th>\
<th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
        escape(t.evidence),
        escape(t.evidence_intro),
        escape(t.seq),
        escape(t.record_kind),
        escape(t.time),
        escape(t.leaf)
    );
    for r in &ev.records {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            r.seq,
            escape(&r.kind),
            escape(&utc_time(r.time_s)),
            escape(&r.leaf_sha256)
        );
    }
    let base = base_url.trim_end_matches('/');
    let last = ev.records.last().map(|r| r.seq).unwrap_or(0);
    let _ = write!(
        s,
        "</tbody>\n</table>\n<h2>{}</h2>\n<pre>{}</pre>\n<p>{}</p>\n<pre>curl -o {last}.tlog-proof {}/api/v1/certificates/{}/proof\n\
zeugnis verify-proof {last}.tlog-proof --vkey KEY</pre>\n<p><a href=\"/checkpoint\">/checkpoint</a> · \
<a href=\"/api/v1/certificates/{}\">JSON</a> · <a href=\"/api/v1/openapi.json\">OpenAPI</a></p>\n</details>\n",
        escape(t.checkpoint),
        escape(&ev.checkpoint_note),
        escape(t.how_to_verify),
        escape(base),
        escape(code),
        escape(code),
    );
    s
}

/// The verification page for a lookup result.
pub fn certificate(lang: Lang, lookup: &Lookup, base_url: &str) -> String {
    let t = texts(lang);
    match lookup {
        Lookup::Malformed(e) => {
            let body = format!(
                "<div class=\"status bad\" role=\"status\"><p><strong>{}</strong></p><p>{}</p></div>\n{}",
                escape(t.malformed),
                escape(&code_error(lang, e)),
                form_html(lang, None)
            );
            frame(lang, t.malformed, "", &body)
        }
        Lookup::Unknown(code) => {
            let body = format!(
                "<div class=\"status bad\" role=\"status\"><p><strong>{}</strong></p><p>{}</p>\
<p>{}: <code>{}</code></p></div>\n{}",
                escape(t.unknown),
                escape(t.unknown_detail),
                escape(t.code),
                escape(code),
                form_html(lang, None)
            );
            frame(lang, t.unknown, "", &body)
        }
        Lookup::Found {
            cert,
            key,
            evidence,
            path_code,
        } => {
            let mut body = status_box(lang, cert);
            body.push_str("<dl>\n");
            row(&mut body, t.code, &formatted(&cert.code));
            row(&mut body, t.kind, kind_name(lang, &cert.kind));
            row(&mut body, t.institution, &cert.institution);
            if let Some(first) = evidence.records.first() {
                row(&mut body, t.registered, &utc_time(first.time_s));
            }
            let langs: Vec<&str> = cert
                .documents
                .iter()
                .filter_map(|d| d.language.as_deref())
                .collect();
            row(&mut body, t.documents, &langs.join(", "));
            if let Some(old) = &cert.supersedes {
                let _ = writeln!(
                    body,
                    "<dt>{}</dt><dd><a href=\"/{}/{}\">{}</a></dd>",
                    escape(t.supersedes),
                    lang.code(),
                    escape(old),
                    escape(&formatted(old))
                );
            }
            body.push_str("</dl>\n");
            match (key, &cert.holder) {
                (KeyCheck::Valid, Some(h)) => {
                    body.push_str(&holder_section(lang, h));
                    if cert.scan.is_some() {
                        let _ = writeln!(
                            body,
                            "<p><a href=\"/{}/{}/scan\">{}</a></p>",
                            lang.code(),
                            escape(path_code),
                            escape(t.scan_link)
                        );
                    }
                }
                (KeyCheck::Erased, _) => {
                    let _ = writeln!(body, "<p class=\"status warn\">{}</p>", escape(t.erased));
                }
                (KeyCheck::Wrong, _) => {
                    let _ = writeln!(
                        body,
                        "<p class=\"status bad\" role=\"alert\">{}</p>",
                        escape(t.wrong_key)
                    );
                }
                _ => {
                    let _ = writeln!(body, "<p class=\"hint\">{}</p>", escape(t.holder_hidden));
                }
            }
            body.push_str(&evidence_section(lang, &cert.code, evidence, base_url));
            let _ = writeln!(
                body,
                "<p><a href=\"/{}/\">{}</a></p>",
                lang.code(),
                escape(t.another)
            );
            frame(lang, t.title, path_code, &body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape;
    use proptest::prelude::*;

    #[test]
    fn escape_replaces_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">Müller & 'Söhne'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Müller &amp; &#39;Söhne&#39;&lt;/a&gt;"
        );
        assert_eq!(escape(""), "");
        assert_eq!(escape("&"), "&amp;");
    }

    proptest! {
        /// Escaping then unescaping gives the input back, and the escaped
        /// text has no markup characters left.
        #[test]
        fn escape_round_trips(s in "\\PC{0,64}") {
            let e = escape(&s);
            prop_assert!(!e.contains(['<', '>', '"', '\'']));
            let back = e
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            prop_assert_eq!(back, s);
        }
    }
}
