//! The verification pages in German and English: pure functions from a
//! lookup result to self-contained HTML, and the one stylesheet.
//!
//! Owns: wording, markup, accessibility (language attributes, labels,
//! headings, status in words and not only colour, contrast ≥ 4.5:1), the
//! operator's branding (institution name, logo, colours, legal links) and
//! the CSS. Must not do: I/O, scripts, inline styles or external resources
//! (the Content-Security-Policy forbids them), or print anything unescaped.
//!
//! What is shown (docs/http.md, "What the pages show"): without the access
//! key only the kind, the institution, the status and the public reason
//! category of a revocation; with the key also the holder, degree,
//! programme, final grade with its predicate, credit points, the date of the
//! last exam, the free-text revocation reason and the registered PDF and
//! scan. After an erasure: no holder data and no grades, key or not.

use super::public::{shows_private, Evidence, KeyCheck, Lookup};
use crate::codes::CodeError;
use crate::registry::{Certificate, State};
use rust_decimal::Decimal;
use serde_json::Value;
use std::fmt::Write;
use std::str::FromStr;

/// The stylesheet, served at `/static/style.css` (readable on a phone:
/// one column, system fonts, large tap targets). `--brand` and
/// `--brand-text` are set by the branding stylesheet (`/static/brand.css`).
pub const STYLE_CSS: &str = r#"*{box-sizing:border-box}
:root{--brand:#0b4f8a;--brand-text:#ffffff}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:100%;line-height:1.5;color:#1a1a1a;background:#fff}
body{margin:0 auto;padding:0 1rem 1rem;max-width:46rem}
.brand{display:flex;align-items:center;gap:1rem;flex-wrap:wrap;justify-content:space-between;background:var(--brand);color:var(--brand-text);padding:.75rem 1rem;margin:0 -1rem 1rem;border-bottom:4px solid #1a1a1a}
.brand a{color:var(--brand-text)}
.brand .inst{display:flex;align-items:center;gap:.75rem;margin:0;font-weight:600;font-size:1.05rem}
.brand img{height:2.5rem;width:auto;background:#fff;padding:.2rem;border-radius:.2rem}
.brand p{margin:0}
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
.checked{border-left:4px solid #1e6b30;padding:.25rem 0 .25rem .75rem;overflow-wrap:anywhere}
main{overflow-wrap:break-word}
dl{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.25rem 1rem;margin:0}
dt{font-weight:600;overflow-wrap:normal;word-break:normal;hyphens:manual}
dd{margin:0;overflow-wrap:break-word;min-width:0}
label{display:block;font-weight:600;margin-bottom:.25rem}
input[type=text]{width:100%;font-size:1.1rem;padding:.6rem;border:2px solid #555;border-radius:.3rem;font-family:ui-monospace,monospace}
input[type=file]{font-size:1rem;padding:.4rem 0;max-width:100%}
button{margin-top:.75rem;font-size:1.1rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:var(--brand);color:var(--brand-text);cursor:pointer}
.hint{color:#444;font-size:.95rem}
details{margin:1.5rem 0;border:1px solid #767676;border-radius:.3rem;padding:.5rem 1rem}
summary{cursor:pointer;font-weight:600}
pre,code{font-family:ui-monospace,monospace;font-size:.85rem;overflow-wrap:anywhere;white-space:pre-wrap}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.25rem .5rem .25rem 0;vertical-align:top;border-bottom:1px solid #ddd}
td code{word-break:break-all}
footer{margin-top:2rem;padding-top:.5rem;border-top:1px solid #767676;font-size:.9rem}
footer a{margin-right:1rem}
@media (max-width:30rem){dl{grid-template-columns:1fr}dt{margin-top:.5rem}table{font-size:.8rem}}
"#;

/// Smallest contrast ratio (WCAG 2.1 AA, normal text) between the brand
/// colour and its text colour.
pub const BRAND_CONTRAST_RATIO_MIN: f64 = 4.5;

/// The operator's branding (`[branding]` in the configuration): every field
/// optional, with a sober default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branding {
    /// The institution's name in the page header (default: none, the
    /// service name alone).
    pub institution: Option<String>,
    /// Media type of the logo served at `/static/logo` (`image/svg+xml` or
    /// `image/png`); `None`: no logo.
    pub logo_media_type: Option<&'static str>,
    /// Header background, `#rrggbb` (default `#0b4f8a`).
    pub colour: String,
    /// Header text colour, `#rrggbb` (default `#ffffff`); together with
    /// `colour` at least [`BRAND_CONTRAST_RATIO_MIN`].
    pub text_colour: String,
    /// Impressum (legal notice) link.
    pub imprint_url: Option<String>,
    /// Privacy notice (Datenschutzerklärung) link.
    pub privacy_url: Option<String>,
}

impl Default for Branding {
    fn default() -> Branding {
        Branding {
            institution: None,
            logo_media_type: None,
            colour: "#0b4f8a".into(),
            text_colour: "#ffffff".into(),
            imprint_url: None,
            privacy_url: None,
        }
    }
}

/// Parses `#rrggbb`.
pub fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = u32::from_str_radix(hex, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

/// The WCAG 2.1 contrast ratio of two colours (1 to 21).
pub fn contrast_ratio(a: [u8; 3], b: [u8; 3]) -> f64 {
    fn lum(c: [u8; 3]) -> f64 {
        let ch = |v: u8| {
            let s = f64::from(v) / 255.0;
            if s <= 0.04045 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2])
    }
    let (la, lb) = (lum(a), lum(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

impl Branding {
    /// Checks the colours: well formed and contrasting enough.
    pub fn validate(&self) -> Result<(), String> {
        let bg = parse_colour(&self.colour)
            .ok_or_else(|| format!("branding.colour {:?}: expected #rrggbb", self.colour))?;
        let fg = parse_colour(&self.text_colour).ok_or_else(|| {
            format!(
                "branding.text_colour {:?}: expected #rrggbb",
                self.text_colour
            )
        })?;
        let ratio = contrast_ratio(bg, fg);
        if ratio < BRAND_CONTRAST_RATIO_MIN {
            return Err(format!(
                "branding.colour {} and branding.text_colour {}: contrast {ratio:.2}:1 is below \
                 {BRAND_CONTRAST_RATIO_MIN}:1 (WCAG 2.1 AA); choose a darker or lighter colour",
                self.colour, self.text_colour
            ));
        }
        // The header's links and focus ring sit on the brand colour too.
        for (name, url) in [
            ("branding.imprint_url", &self.imprint_url),
            ("branding.privacy_url", &self.privacy_url),
        ] {
            if let Some(u) = url {
                if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/')) {
                    return Err(format!(
                        "{name} {u:?}: expected an http(s) URL or a path starting with /"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The branding stylesheet, served at `/static/brand.css`.
    pub fn css(&self) -> String {
        // Validated colours only (`#rrggbb`), so nothing to escape.
        let ok = |c: &str| parse_colour(c).is_some();
        let (bg, fg) = if ok(&self.colour) && ok(&self.text_colour) {
            (self.colour.as_str(), self.text_colour.as_str())
        } else {
            ("#0b4f8a", "#ffffff")
        };
        format!(":root{{--brand:{bg};--brand-text:{fg}}}\n")
    }
}

/// What every page needs besides the lookup: the service's base URL and
/// the branding. (The verifier keys printed in the instructions come with
/// each lookup's [`Evidence`], published by the writer, so that they follow
/// a key rotation without a restart.)
#[derive(Clone, Debug, Default)]
pub struct Site {
    /// Public base URL (`https://verify.uni-example.de`).
    pub base_url: String,
    /// The operator's branding.
    pub brand: Branding,
}
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
    pub revoked_category: &'static str,
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
    pub code: &'static str,
    pub status: &'static str,
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
    pub final_grade: &'static str,
    pub credit_points: &'static str,
    pub last_exam: &'static str,
    pub holder_hidden: &'static str,
    pub wrong_key_title: &'static str,
    pub wrong_key: &'static str,
    pub erased: &'static str,
    pub files_heading: &'static str,
    pub document_link: &'static str,
    pub scan_link: &'static str,
    pub scan_needs_key: &'static str,
    pub scan_erased: &'static str,
    pub scan_missing: &'static str,
    pub document_missing: &'static str,
    pub checked_heading: &'static str,
    pub evidence: &'static str,
    pub evidence_intro: &'static str,
    pub seq: &'static str,
    pub record_kind: &'static str,
    pub time: &'static str,
    pub leaf: &'static str,
    pub checkpoint: &'static str,
    pub how_to_verify: &'static str,
    /// The download link of the proof folder (with the key).
    pub proof_folder: &'static str,
    /// The instructions above the proof-folder commands (with the key).
    pub how_to_verify_folder: &'static str,
    pub another: &'static str,
    pub check_heading: &'static str,
    pub check_intro: &'static str,
    pub check_file_label: &'static str,
    pub check_code_label: &'static str,
    pub check_code_hint: &'static str,
    pub check_button: &'static str,
    pub check_result_heading: &'static str,
    pub check_registered: &'static str,
    pub check_not_registered: &'static str,
    pub check_not_registered_detail: &'static str,
    pub check_not_pdf: &'static str,
    pub check_not_pdf_detail: &'static str,
    pub check_too_large: &'static str,
    pub check_bad_upload: &'static str,
    pub check_another: &'static str,
    pub imprint: &'static str,
    pub privacy: &'static str,
}

const DE: Texts = Texts {
    lang_name: "Deutsch",
    switch_label: "English",
    title: "Zeugnisprüfung",
    form_heading: "Zeugnis prüfen",
    form_label: "Code des Zeugnisses",
    form_hint: "12 Zeichen, z. B. QNVC-FM3P-4VDF; mit dem 6-stelligen Zugangsschlüssel dahinter \
                (z. B. QNVC-FM3P-4VDF-7K2M9S) werden auch Abschluss, Note, Angaben zur Person und \
                die Dokumente gezeigt. Groß-/Kleinschreibung, Leerzeichen und Bindestriche spielen \
                keine Rolle.",
    form_button: "Prüfen",
    archived: "Gültig",
    archived_detail: "Das Zeugnis ist registriert und das unterschriebene Original ist archiviert.",
    awaiting: "Registriert – Original noch nicht archiviert",
    awaiting_detail: "Das Zeugnis ist registriert; der Scan des unterschriebenen Originals steht noch aus.",
    revoked: "Widerrufen",
    revoked_category: "Grund (Kategorie)",
    revoked_reason: "Begründung",
    revoked_date: "Widerrufen mit Wirkung vom",
    superseded: "Ersetzt",
    superseded_link: "Dieses Zeugnis wurde zurückgezogen und neu ausgestellt. Zum neuen Zeugnis:",
    voided: "Ungültig (Vorgang abgebrochen)",
    voided_detail: "Der Ausstellungsvorgang wurde abgebrochen und unter einem neuen Code neu begonnen.",
    unknown: "Unbekannter Code",
    unknown_detail: "Unter diesem Code ist kein Zeugnis registriert. Bitte vergleichen Sie den Code mit dem Dokument.",
    malformed: "Kein gültiger Code",
    typo_detail: "Das Prüfzeichen des Zugangsschlüssels passt nicht: Code oder Schlüssel wurden \
                  vermutlich vertippt. Bitte vergleichen Sie beide mit dem Dokument.",
    code: "Code",
    status: "Status",
    kind: "Dokument",
    institution: "Hochschule",
    registered: "Registriert am",
    documents: "Sprachfassungen",
    supersedes: "Ersetzt das Zeugnis",
    holder_heading: "Abschluss und Person",
    holder_name: "Name",
    birth_date: "Geburtsdatum",
    birth_place: "Geburtsort",
    programme: "Studiengang",
    degree: "Abschluss",
    final_grade: "Gesamtnote",
    credit_points: "Leistungspunkte (LP)",
    last_exam: "Datum der letzten Prüfung",
    holder_hidden: "Abschluss, Note, Angaben zur Person und die Dokumente werden nur mit dem \
                    Zugangsschlüssel gezeigt (er steht hinter dem Code auf dem Dokument).",
    wrong_key_title: "Zugangsschlüssel passt nicht",
    wrong_key: "Der Zugangsschlüssel passt nicht zu diesem Code. Angaben zur Person werden nicht \
                gezeigt. Bitte vergleichen Sie Code und Schlüssel mit dem Dokument.",
    erased: "Die Angaben zur Person und die Noten wurden auf Antrag gelöscht (DSGVO Art. 17). \
             Der Registereintrag bleibt gültig.",
    files_heading: "Dokumente",
    document_link: "Registrierte PDF-Datei ansehen oder herunterladen",
    scan_link: "Scan des unterschriebenen Originals ansehen",
    scan_needs_key: "Die Dokumente werden nur mit dem richtigen Zugangsschlüssel gezeigt.",
    scan_erased: "Die personenbezogenen Daten dieses Zeugnisses wurden gelöscht; die Dokumente werden nicht mehr gezeigt.",
    scan_missing: "Für dieses Zeugnis ist noch kein Scan archiviert.",
    document_missing: "Dieses Zeugnis hat kein Dokument mit dieser Nummer.",
    checked_heading: "Was geprüft wurde",
    evidence: "Nachweis im Register",
    evidence_intro: "Jeder Schritt steht als Eintrag im fälschungssicheren, öffentlich prüfbaren Register (Ledger).",
    seq: "Nr.",
    record_kind: "Eintrag",
    time: "Zeit (UTC)",
    leaf: "Eintrags-Hash (SHA-256-Blatt)",
    checkpoint: "Signierter Checkpoint",
    how_to_verify: "So prüfen Sie selbst (Befehle zum Kopieren; zeugnis ist das Programm der Hochschule):",
    proof_folder: "Nachweisordner als eine Datei (tar)",
    how_to_verify_folder: "So prüfen Sie selbst (Befehle zum Kopieren; zeugnis ist das Programm der Hochschule): den ganzen Nachweisordner laden, mit allen Einträgen, ihren Beweisen und dem registrierten PDF, und prüfen.",
    another: "Anderen Code prüfen",
    check_heading: "PDF-Datei prüfen",
    check_intro: "Laden Sie die PDF-Datei hoch, die Sie erhalten haben: Wir sagen Ihnen, ob sie \
                  Byte für Byte eine bei der Hochschule registrierte Datei ist. Die Datei wird nur \
                  geprüft, nicht gespeichert.",
    check_file_label: "PDF-Datei",
    check_code_label: "Code mit Zugangsschlüssel (freiwillig)",
    check_code_hint: "Nur wenn Sie auch die Angaben zur Person sehen möchten, z. B. QNVC-FM3P-4VDF-7K2M9S.",
    check_button: "Datei prüfen",
    check_result_heading: "Ergebnis der Dateiprüfung",
    check_registered: "Registrierte Datei",
    check_not_registered: "Nicht registriert",
    check_not_registered_detail: "Diese Datei ist keine bei der Hochschule registrierte Datei. \
        Schon eine einzige geänderte Stelle (auch ein erneutes Speichern oder Drucken als PDF) \
        ergibt eine andere Datei. Das heißt nicht zwingend, dass das Zeugnis gefälscht ist: \
        Prüfen Sie den Code auf dem Dokument oben im Formular, bitten Sie die Person um die \
        Originaldatei oder wenden Sie sich an die Hochschule.",
    check_not_pdf: "Keine PDF-Datei",
    check_not_pdf_detail: "Die hochgeladene Datei ist keine PDF-Datei (sie beginnt nicht mit %PDF-). \
        Registriert werden nur PDF-Dateien; bitte laden Sie die PDF-Datei des Zeugnisses hoch.",
    check_too_large: "Die Datei ist größer, als dieser Dienst prüft. Registrierte Zeugnisse sind \
                      kleiner; bitte laden Sie die PDF-Datei des Zeugnisses hoch.",
    check_bad_upload: "Die Datei kam nicht vollständig an. Bitte wählen Sie die PDF-Datei erneut aus \
                       und senden Sie das Formular noch einmal.",
    check_another: "Andere Datei prüfen",
    imprint: "Impressum",
    privacy: "Datenschutzerklärung",
};

const EN: Texts = Texts {
    lang_name: "English",
    switch_label: "Deutsch",
    title: "Certificate verification",
    form_heading: "Verify a certificate",
    form_label: "Certificate code",
    form_hint: "12 characters, e.g. QNVC-FM3P-4VDF; followed by the 6-character access key \
                (e.g. QNVC-FM3P-4VDF-7K2M9S) it also shows the degree, the grade, the holder's \
                data and the documents. Case, spaces and hyphens do not matter.",
    form_button: "Verify",
    archived: "Valid",
    archived_detail: "The certificate is registered and its signed original is archived.",
    awaiting: "Registered – original not yet archived",
    awaiting_detail:
        "The certificate is registered; the scan of the signed original has not arrived yet.",
    revoked: "Revoked",
    revoked_category: "Reason (category)",
    revoked_reason: "Statement",
    revoked_date: "Revoked with effect from",
    superseded: "Superseded",
    superseded_link: "This certificate was withdrawn and reissued. The new certificate:",
    voided: "Invalid (process ended)",
    voided_detail: "The issuing process was ended and restarted under a new code.",
    unknown: "Unknown code",
    unknown_detail:
        "No certificate is registered under this code. Please compare the code with the document.",
    malformed: "Not a valid code",
    typo_detail: "The access key's check character does not match: the code or the key was \
                  probably mistyped. Please compare both with the document.",
    code: "Code",
    status: "Status",
    kind: "Document",
    institution: "Institution",
    registered: "Registered on",
    documents: "Language versions",
    supersedes: "Replaces certificate",
    holder_heading: "Degree and holder",
    holder_name: "Name",
    birth_date: "Date of birth",
    birth_place: "Place of birth",
    programme: "Programme",
    degree: "Degree",
    final_grade: "Final grade",
    credit_points: "Credit points (ECTS)",
    last_exam: "Date of the last examination",
    holder_hidden:
        "The degree, the grade, the holder's data and the documents are shown only with \
                    the access key (it follows the code on the document).",
    wrong_key_title: "Access key does not match",
    wrong_key: "The access key does not match this code. The holder's data is not shown. Please \
                compare the code and the key with the document.",
    erased: "The holder's personal data and grades were erased on request (GDPR Art. 17). The \
             ledger entry remains valid.",
    files_heading: "Documents",
    document_link: "View or download the registered PDF",
    scan_link: "View the scan of the signed original",
    scan_needs_key: "The documents are shown only with the right access key.",
    scan_erased:
        "The personal data of this certificate was erased; the documents are no longer shown.",
    scan_missing: "No scan has been archived for this certificate yet.",
    document_missing: "This certificate has no document with this number.",
    checked_heading: "What was checked",
    evidence: "Ledger evidence",
    evidence_intro: "Every step is a record in the tamper-evident, publicly verifiable ledger.",
    seq: "No.",
    record_kind: "Record",
    time: "Time (UTC)",
    leaf: "Record hash (SHA-256 leaf)",
    checkpoint: "Signed checkpoint",
    how_to_verify: "Verify it yourself (commands to copy; zeugnis is the institution's program):",
    proof_folder: "Proof folder as one file (tar)",
    how_to_verify_folder: "Verify it yourself (commands to copy; zeugnis is the institution's program): download the whole proof folder, with every record, its proof and the registered PDF, and check it.",
    another: "Verify another code",
    check_heading: "Check a PDF file",
    check_intro: "Upload the PDF file you received: we tell you whether it is, byte for byte, a \
                  file the institution registered. The file is only checked, not stored.",
    check_file_label: "PDF file",
    check_code_label: "Code with access key (optional)",
    check_code_hint: "Only if you also want to see the holder's data, e.g. QNVC-FM3P-4VDF-7K2M9S.",
    check_button: "Check the file",
    check_result_heading: "Result of the file check",
    check_registered: "Registered file",
    check_not_registered: "Not registered",
    check_not_registered_detail: "This file is not a file the institution registered. A single \
        changed byte (even saving it again or printing it to PDF) makes a different file. This \
        does not necessarily mean the certificate is forged: check the code printed on the \
        document with the form above, ask the holder for the original file, or contact the \
        institution.",
    check_not_pdf: "Not a PDF file",
    check_not_pdf_detail: "The uploaded file is not a PDF file (it does not start with %PDF-). \
        Only PDF files are registered; please upload the certificate's PDF file.",
    check_too_large: "The file is larger than this service checks. Registered certificates are \
                      smaller; please upload the certificate's PDF file.",
    check_bad_upload: "The file did not arrive completely. Please choose the PDF file again and \
                       send the form once more.",
    check_another: "Check another file",
    imprint: "Legal notice",
    privacy: "Privacy notice",
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

/// The public wording of a revocation category (`None`: recorded before
/// categories existed; shown like `unspecified`).
pub fn category_name(lang: Lang, category: Option<&str>) -> &'static str {
    match (lang, category.unwrap_or("unspecified")) {
        (Lang::De, "withdrawn") => "von der Hochschule zurückgenommen",
        (Lang::De, "replaced") => "durch ein berichtigtes Zeugnis ersetzt",
        (Lang::De, "issued_in_error") => "irrtümlich ausgestellt",
        (Lang::De, _) => "keine öffentliche Angabe",
        (Lang::En, "withdrawn") => "withdrawn by the institution",
        (Lang::En, "replaced") => "replaced by a corrected certificate",
        (Lang::En, "issued_in_error") => "issued in error",
        (Lang::En, _) => "not stated publicly",
    }
}

/// The name of a ledger record kind in the page's language.
pub fn record_name(lang: Lang, kind: &str) -> String {
    let name = match (lang, kind) {
        (Lang::De, "Registered") => "Registriert",
        (Lang::De, "ScanArchived") => "Original archiviert",
        (Lang::De, "ScanReplaced") => "Scan des Originals ersetzt",
        (Lang::De, "Revoked" | "RevokedWithCategory") => "Widerrufen",
        (Lang::De, "Superseded") => "Ersetzt",
        (Lang::De, "Voided") => "Vorgang abgebrochen",
        (Lang::De, "Erased") => "Personendaten gelöscht",
        (Lang::De, "CodeImported") => "Code aus einem früheren System übernommen",
        (Lang::De, "DuplicateAllowed") => "Dokument bewusst ein zweites Mal registriert",
        (Lang::De, "MailDelivered") => "Digitales Zeugnis per E-Mail versandt",
        (Lang::En, "Registered") => "Registered",
        (Lang::En, "ScanArchived") => "Original archived",
        (Lang::En, "ScanReplaced") => "Scan of the original replaced",
        (Lang::En, "Revoked" | "RevokedWithCategory") => "Revoked",
        (Lang::En, "Superseded") => "Superseded",
        (Lang::En, "Voided") => "Process ended",
        (Lang::En, "Erased") => "Personal data erased",
        (Lang::En, "CodeImported") => "Code taken over from an earlier system",
        (Lang::En, "DuplicateAllowed") => "Document registered a second time on purpose",
        (Lang::En, "MailDelivered") => "Digital certificate sent by mail",
        (_, other) => return other.to_string(),
    };
    name.to_string()
}

/// The explanation of a code error in the page's language, naming the
/// offending character and its position.
pub fn code_error(lang: Lang, e: &CodeError) -> String {
    let t = texts(lang);
    match (lang, e) {
        (_, CodeError::CheckFailed { .. }) => t.typo_detail.to_string(),
        (
            Lang::De,
            CodeError::InvalidCharacter {
                character,
                position,
                ..
            },
        ) => format!(
            "Das Zeichen „{character}“ an Stelle {position} ist in Codes nicht erlaubt. Erlaubt \
             sind die Ziffern 0–9 und die Buchstaben A–Z ohne U (Leerzeichen und Bindestriche \
             werden übergangen). Bitte vergleichen Sie die Eingabe mit dem Dokument."
        ),
        (
            Lang::En,
            CodeError::InvalidCharacter {
                character,
                position,
                ..
            },
        ) => format!(
            "The character “{character}” at position {position} is not used in codes. Codes use \
             the digits 0–9 and the letters A–Z without U (spaces and hyphens are skipped). \
             Please compare your input with the document."
        ),
        (
            Lang::De,
            CodeError::WrongLength { found, .. } | CodeError::WrongCombinedLength { found, .. },
        ) => {
            format!(
                "Die Eingabe hat {found} Zeichen (ohne Leerzeichen und Bindestriche). Ein Code hat \
                 12 Zeichen, mit Zugangsschlüssel 18. Bitte vergleichen Sie die Eingabe mit dem \
                 Dokument."
            )
        }
        (
            Lang::En,
            CodeError::WrongLength { found, .. } | CodeError::WrongCombinedLength { found, .. },
        ) => {
            format!(
                "The input has {found} characters (not counting spaces and hyphens). A code has \
                 12 characters, with the access key 18. Please compare your input with the \
                 document."
            )
        }
    }
}

const MONTHS_DE: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The civil date (year, month 1-12, day) of a day count since 1970-01-01
/// (H. Hinnant's `civil_from_days`, proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn date_words(lang: Lang, y: i64, m: u32, d: u32) -> String {
    let i = (m.clamp(1, 12) - 1) as usize;
    match lang {
        Lang::De => format!("{d}. {} {y}", MONTHS_DE[i]),
        Lang::En => format!("{d} {} {y}", MONTHS_EN[i]),
    }
}

/// A `YYYY-MM-DD` date in words (`30. November 2026`, `30 November 2026`);
/// anything else is shown as it is.
pub fn local_date(lang: Lang, iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    if let [y, m, d] = parts.as_slice() {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) {
            if (1..=12).contains(&m) && (1..=31).contains(&d) && iso.len() == 10 {
                return date_words(lang, y, m, d);
            }
        }
    }
    iso.to_string()
}

/// A record time (UTC seconds) as a date in words.
pub fn local_day(lang: Lang, time_s: i64) -> String {
    let (y, m, d) = civil_from_days(time_s.div_euclid(86_400));
    date_words(lang, y, m, d)
}

/// A record time (UTC seconds) as date in words and `HH:MM:SS` UTC.
pub fn local_time(lang: Lang, time_s: i64) -> String {
    let secs = time_s.rem_euclid(86_400);
    format!(
        "{}, {:02}:{:02}:{:02}",
        local_day(lang, time_s),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A page frame: language attribute, title, branded header with the
/// language switch, stylesheets, footer with the legal links.
fn frame(site: &Site, lang: Lang, heading: &str, switch_path: &str, body: &str) -> String {
    let t = texts(lang);
    let other = lang.other();
    let title = if heading == t.title {
        escape(t.title).into_owned()
    } else {
        format!("{} – {}", escape(heading), escape(t.title))
    };
    let brand = &site.brand;
    let logo = match brand.logo_media_type {
        Some(_) => "<img src=\"/static/logo\" alt=\"\">".to_string(),
        None => String::new(),
    };
    let inst = match &brand.institution {
        Some(name) => format!("{} · {}", escape(name), escape(t.title)),
        None => escape(t.title).into_owned(),
    };
    let mut footer = String::new();
    for (label, url) in [
        (t.imprint, &brand.imprint_url),
        (t.privacy, &brand.privacy_url),
    ] {
        if let Some(u) = url {
            let _ = write!(footer, "<a href=\"{}\">{}</a>", escape(u), escape(label));
        }
    }
    let footer = if footer.is_empty() {
        String::new()
    } else {
        format!("<footer>\n<p>{footer}</p>\n</footer>\n")
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n\
<title>{title}</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n\
<link rel=\"stylesheet\" href=\"/static/brand.css\">\n</head>\n<body>\n\
<header class=\"brand\"><p class=\"inst\">{logo}<a href=\"/{code}/\">{inst}</a></p>\
<p><a href=\"/{other_code}/{switch}\" hreflang=\"{other_code}\" lang=\"{other_code}\">{switch_label}</a></p></header>\n\
<main>\n<h1>{heading}</h1>\n{body}</main>\n{footer}</body>\n</html>\n",
        code = lang.code(),
        heading = escape(heading),
        other_code = other.code(),
        switch = escape(switch_path),
        switch_label = texts(other).lang_name,
    )
}

fn form_html(lang: Lang, error: Option<&str>, typed: Option<&str>) -> String {
    let t = texts(lang);
    let mut s = String::new();
    let described = if error.is_some() {
        "code-hint code-error"
    } else {
        "code-hint"
    };
    let value = match typed {
        Some(v) => format!(" value=\"{}\"", escape(v)),
        None => String::new(),
    };
    let _ = write!(
        s,
        "<form method=\"get\" action=\"/{code}/\">\n<label for=\"code\">{label}</label>\n\
<input type=\"text\" id=\"code\" name=\"code\" required autocomplete=\"off\" autocapitalize=\"characters\" \
spellcheck=\"false\" inputmode=\"text\" aria-describedby=\"{described}\"{invalid}{value}>\n\
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

/// The PDF check form (no script: a `multipart/form-data` POST of the
/// fields `code` and `file` to `/{de,en}/check`).
fn check_form_html(lang: Lang) -> String {
    let t = texts(lang);
    format!(
        "<section aria-labelledby=\"check-heading\">\n<h2 id=\"check-heading\">{heading}</h2>\n<p>{intro}</p>\n\
<form method=\"post\" action=\"/{code}/check\" enctype=\"multipart/form-data\">\n\
<label for=\"check-code\">{code_label}</label>\n\
<input type=\"text\" id=\"check-code\" name=\"code\" autocomplete=\"off\" autocapitalize=\"characters\" \
spellcheck=\"false\" aria-describedby=\"check-code-hint\">\n<p class=\"hint\" id=\"check-code-hint\">{code_hint}</p>\n\
<label for=\"check-file\">{file_label}</label>\n\
<input type=\"file\" id=\"check-file\" name=\"file\" accept=\"application/pdf,.pdf\" required>\n\
<div><button type=\"submit\">{button}</button></div>\n</form>\n</section>\n",
        heading = escape(t.check_heading),
        intro = escape(t.check_intro),
        code = lang.code(),
        code_label = escape(t.check_code_label),
        code_hint = escape(t.check_code_hint),
        file_label = escape(t.check_file_label),
        button = escape(t.check_button),
    )
}

/// The code-entry page (`/`, `/de/`, `/en/`) with the PDF check form; with
/// an error under the field and what was typed kept in it.
pub fn form(site: &Site, lang: Lang, error: Option<&str>, typed: Option<&str>) -> String {
    let body = format!("{}{}", form_html(lang, error, typed), check_form_html(lang));
    frame(site, lang, texts(lang).form_heading, "", &body)
}

/// A short message page (scan refused, ...).
pub fn message(site: &Site, lang: Lang, text: &str) -> String {
    let t = texts(lang);
    let body = format!(
        "<p class=\"status warn\" role=\"status\">{}</p>\n<p><a href=\"/{}/\">{}</a></p>\n",
        escape(text),
        lang.code(),
        escape(t.another)
    );
    frame(site, lang, t.title, "", &body)
}

/// The status in words: (class, title, detail HTML).
fn status_parts(
    lang: Lang,
    c: &Certificate,
    private: bool,
) -> (&'static str, &'static str, String) {
    let t = texts(lang);
    match c.state {
        State::Archived => ("ok", t.archived, escape(t.archived_detail).into_owned()),
        State::AwaitingScan => ("warn", t.awaiting, escape(t.awaiting_detail).into_owned()),
        State::Revoked => {
            let r = c.revoked.as_ref();
            let date = r
                .and_then(|r| r.effective_date.as_deref())
                .map(|d| local_date(lang, d))
                .unwrap_or_default();
            let mut detail = format!(
                "{}: {}</p><p>{}: {}",
                escape(t.revoked_date),
                escape(&date),
                escape(t.revoked_category),
                escape(category_name(lang, r.and_then(|r| r.category.as_deref())))
            );
            if private {
                if let Some(r) = r {
                    let _ = write!(
                        detail,
                        "</p><p>{}: {}",
                        escape(t.revoked_reason),
                        escape(&r.reason)
                    );
                }
            }
            ("bad", t.revoked, detail)
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
        State::Voided => ("bad", t.voided, escape(t.voided_detail).into_owned()),
    }
}

fn status_box(lang: Lang, c: &Certificate, private: bool) -> String {
    let (class, title, detail) = status_parts(lang, c, private);
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

/// The final grade with its predicate (`1,7 - gut` / `1.7 - good`) from the
/// grade record's `final` object.
pub fn final_grade(lang: Lang, grade: &Value) -> Option<String> {
    let f = &grade["result"]["final"];
    let (display, word) = match lang {
        Lang::De => (f["display_de"].as_str()?, f["word_de"].as_str()),
        Lang::En => (f["display_en"].as_str()?, f["word_en"].as_str()),
    };
    Some(match word {
        Some(w) if !w.is_empty() => format!("{display} - {w}"),
        _ => display.to_string(),
    })
}

/// The credit points counted for the final grade: the sum of the parts'
/// `lp_counted` (absent for rule sets without credit points).
pub fn credit_points(lang: Lang, grade: &Value) -> Option<String> {
    let parts = grade["result"]["parts"].as_array()?;
    let mut sum = Decimal::ZERO;
    let mut any = false;
    for p in parts {
        let lp = Decimal::from_str(p["lp_counted"].as_str()?).ok()?;
        sum = sum.checked_add(lp)?;
        any = true;
    }
    if !any {
        return None;
    }
    let text = sum.normalize().to_string();
    Some(match lang {
        Lang::De => text.replace('.', ","),
        Lang::En => text,
    })
}

fn holder_section(lang: Lang, cert: &Certificate, holder: &Value) -> String {
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
    row(
        &mut s,
        t.birth_date,
        &local_date(lang, &get(&["holder", "birth_date"])),
    );
    row(&mut s, t.birth_place, &get(&["holder", "birth_place"]));
    row(&mut s, t.degree, &get(&["programme", "degree"]));
    row(&mut s, t.programme, &get(&["programme", "name"]));
    if let Some(g) = &cert.grade {
        if let Some(f) = final_grade(lang, g) {
            row(&mut s, t.final_grade, &f);
        }
        if let Some(lp) = credit_points(lang, g) {
            row(&mut s, t.credit_points, &lp);
        }
    }
    row(
        &mut s,
        t.last_exam,
        &local_date(lang, &get(&["last_exam_date"])),
    );
    s.push_str("</dl>\n");
    s
}

fn language_name(lang: Lang, tag: &str) -> String {
    match (lang, tag) {
        (Lang::De, "de") => "Deutsch".into(),
        (Lang::De, "en") => "Englisch".into(),
        (Lang::En, "de") => "German".into(),
        (Lang::En, "en") => "English".into(),
        (_, other) => other.to_string(),
    }
}

/// The registered PDFs and the scan, and the sentence of what was checked.
fn files_section(lang: Lang, cert: &Certificate, registered_day: &str, path_code: &str) -> String {
    let t = texts(lang);
    let mut s = format!("<h2>{}</h2>\n<ul>\n", escape(t.files_heading));
    for (i, d) in cert.documents.iter().enumerate() {
        let language = d
            .language
            .as_deref()
            .map(|l| format!(" ({})", language_name(lang, l)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "<li><a href=\"/{}/{}/document/{}\" type=\"application/pdf\">{}{}</a></li>",
            lang.code(),
            escape(path_code),
            i + 1,
            escape(t.document_link),
            escape(&language)
        );
    }
    if cert.scan.is_some() {
        let _ = writeln!(
            s,
            "<li><a href=\"/{}/{}/scan\">{}</a></li>",
            lang.code(),
            escape(path_code),
            escape(t.scan_link)
        );
    }
    s.push_str("</ul>\n");
    let sha = cert
        .documents
        .first()
        .map(|d| d.sha256.as_str())
        .unwrap_or("");
    let inst = &cert.institution;
    let sentence = match lang {
        Lang::De => format!(
            "Geprüft wurde: Der Code und der Zugangsschlüssel gehören zu einem Zeugnis, das die \
             {inst} am {registered_day} registriert hat, und der Registereintrag ist durch den \
             signierten Checkpoint unten belegt. Die hier angebotene PDF-Datei ist Byte für Byte \
             die Datei, die die Hochschule an diesem Tag registriert hat (SHA-256 {sha}). Ob eine \
             PDF-Datei, die Sie erhalten haben, genau diese ist, prüfen Sie unten mit „PDF-Datei \
             prüfen“."
        ),
        Lang::En => format!(
            "What was checked: the code and the access key belong to a certificate that {inst} \
             registered on {registered_day}, and the ledger entry is covered by the signed \
             checkpoint below. The PDF offered here is byte-for-byte the file the institution \
             registered on that day (SHA-256 {sha}). Whether a PDF you received is exactly this \
             file, you can check below with “Check a PDF file”."
        ),
    };
    let _ = writeln!(
        s,
        "<h2>{}</h2>\n<p class=\"checked\">{}</p>",
        escape(t.checked_heading),
        escape(&sentence)
    );
    s
}

/// The ledger evidence and the "verify it yourself" commands: with the
/// key (`proof_folder`) for the whole proof folder as one tar file, without
/// it for the proof of the latest public record.
fn evidence_section(
    site: &Site,
    lang: Lang,
    code: &str,
    path_code: &str,
    ev: &Evidence,
    proof_folder: bool,
) -> String {
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
            escape(&record_name(lang, &r.kind)),
            escape(&local_time(lang, r.time_s)),
            escape(&r.leaf_sha256)
        );
    }
    let base = site.base_url.trim_end_matches('/');
    // The newest active key: the one a rotation brought in, which signs
    // every checkpoint from now on.
    let vkey = ev
        .vkeys
        .first()
        .map(String::as_str)
        .unwrap_or("VERIFIER-KEY");
    let _ = write!(
        s,
        "</tbody>\n</table>\n<h2>{}</h2>\n<pre>{}</pre>\n",
        escape(t.checkpoint),
        escape(&ev.checkpoint_note),
    );
    if proof_folder {
        // With the key: the whole proof folder as one tar file, which
        // `verify-proof` reads as it is (tests/http.rs runs these lines).
        let _ = write!(
            s,
            "<p>{}</p>\n<p><a href=\"/api/v1/certificates/{}/proof.tar\" download=\"{}\">{}</a></p>\n\
<pre>curl -fsS -o proof.tar '{}/api/v1/certificates/{}/proof.tar'\n\
zeugnis verify-proof proof.tar --vkey '{}'</pre>\n",
            escape(t.how_to_verify_folder),
            escape(path_code),
            escape(&super::proof_archive::file_name(code)),
            escape(t.proof_folder),
            escape(base),
            escape(path_code),
            escape(vkey),
        );
    } else {
        let _ = write!(
            s,
            "<p>{}</p>\n<pre>curl -fsS -o proof.tlog-proof '{}/api/v1/certificates/{}/proof'\n\
zeugnis verify-proof proof.tlog-proof --vkey '{}'</pre>\n",
            escape(t.how_to_verify),
            escape(base),
            escape(path_code),
            escape(vkey),
        );
    }
    let _ = write!(
        s,
        "<p><a href=\"/checkpoint\">/checkpoint</a> · \
<a href=\"/api/v1/certificates/{}\">JSON</a> · <a href=\"/api/v1/openapi.json\">OpenAPI</a></p>\n</details>\n",
        escape(code),
    );
    s
}

/// The verification page for a lookup result.
pub fn certificate(site: &Site, lang: Lang, lookup: &Lookup) -> String {
    let t = texts(lang);
    match lookup {
        Lookup::Malformed(e) => {
            let body = format!(
                "<div class=\"status bad\" role=\"status\"><p><strong>{}</strong></p><p>{}</p></div>\n{}",
                escape(t.malformed),
                escape(&code_error(lang, e)),
                form_html(lang, None, None)
            );
            frame(site, lang, t.malformed, "", &body)
        }
        Lookup::Unknown(code) => {
            let body = format!(
                "<div class=\"status bad\" role=\"status\"><p><strong>{}</strong></p><p>{}</p>\
<p>{}: <code>{}</code></p></div>\n{}",
                escape(t.unknown),
                escape(t.unknown_detail),
                escape(t.code),
                escape(code),
                form_html(lang, None, None)
            );
            frame(site, lang, t.unknown, "", &body)
        }
        Lookup::Found {
            cert,
            key,
            evidence,
            path_code,
        } => {
            let private = shows_private(cert, *key);
            let mut body = String::new();
            if *key == KeyCheck::Wrong {
                // One box only: the key is wrong. The public status is a row
                // below, not a second (green) box.
                let _ = writeln!(
                    body,
                    "<div class=\"status bad\" role=\"alert\"><p><strong>{}</strong></p><p>{}</p></div>",
                    escape(t.wrong_key_title),
                    escape(t.wrong_key)
                );
            } else {
                body.push_str(&status_box(lang, cert, private));
            }
            body.push_str("<dl>\n");
            row(&mut body, t.code, &formatted(&cert.code));
            if *key == KeyCheck::Wrong {
                let (_, title, _) = status_parts(lang, cert, false);
                row(&mut body, t.status, title);
            }
            row(&mut body, t.kind, kind_name(lang, &cert.kind));
            row(&mut body, t.institution, &cert.institution);
            let registered_day = evidence
                .records
                .first()
                .map(|r| local_day(lang, r.time_s))
                .unwrap_or_default();
            row(&mut body, t.registered, &registered_day);
            let langs: Vec<String> = cert
                .documents
                .iter()
                .filter_map(|d| d.language.as_deref())
                .map(|l| language_name(lang, l))
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
                (KeyCheck::Valid, Some(h)) if private => {
                    body.push_str(&holder_section(lang, cert, h));
                    body.push_str(&files_section(lang, cert, &registered_day, path_code));
                }
                (KeyCheck::Erased, _) | (KeyCheck::Valid, _) => {
                    let _ = writeln!(body, "<p class=\"status warn\">{}</p>", escape(t.erased));
                }
                (KeyCheck::Wrong, _) => {}
                (KeyCheck::Absent, _) => {
                    let _ = writeln!(body, "<p class=\"hint\">{}</p>", escape(t.holder_hidden));
                }
            }
            let proof_folder = key == &KeyCheck::Valid && private && !cert.erased;
            body.push_str(&evidence_section(
                site,
                lang,
                &cert.code,
                path_code,
                evidence,
                proof_folder,
            ));
            body.push_str(&check_form_html(lang));
            let _ = writeln!(
                body,
                "<p><a href=\"/{}/\">{}</a></p>",
                lang.code(),
                escape(t.another)
            );
            let heading = format!("{} {}", kind_name(lang, &cert.kind), formatted(&cert.code));
            frame(site, lang, &heading, path_code, &body)
        }
    }
}

/// The outcome of a PDF check from the page's form.
#[derive(Debug)]
pub enum CheckOutcome {
    /// The upload was refused (too large, broken body): the message.
    Refused(&'static str),
    /// The upload is not a PDF.
    NotPdf,
    /// No registered document has this content.
    NotRegistered {
        /// BLAKE3 of the upload, hex.
        blake3: String,
    },
    /// The upload is a registered document of this certificate.
    Registered {
        /// The certificate.
        cert: Box<Certificate>,
        /// The key check of the `code` field (Absent without one).
        key: KeyCheck,
        /// The ledger evidence.
        evidence: Evidence,
        /// Code (and key, if valid) for links.
        path_code: String,
        /// BLAKE3 of the upload, hex.
        blake3: String,
    },
}

/// The answer page of `POST /{de,en}/check`.
pub fn check_result(site: &Site, lang: Lang, outcome: &CheckOutcome) -> String {
    let t = texts(lang);
    let mut body = String::new();
    let boxed = |body: &mut String, class: &str, title: &str, detail: &str| {
        let _ = writeln!(
            body,
            "<div class=\"status {class}\" role=\"status\"><p><strong>{}</strong></p><p>{}</p></div>",
            escape(title),
            escape(detail)
        );
    };
    match outcome {
        CheckOutcome::Refused(msg) => boxed(&mut body, "bad", t.check_not_registered, msg),
        CheckOutcome::NotPdf => boxed(&mut body, "bad", t.check_not_pdf, t.check_not_pdf_detail),
        CheckOutcome::NotRegistered { blake3 } => {
            boxed(
                &mut body,
                "bad",
                t.check_not_registered,
                t.check_not_registered_detail,
            );
            let _ = writeln!(
                body,
                "<p class=\"hint\">BLAKE3: <code>{}</code></p>",
                escape(blake3)
            );
        }
        CheckOutcome::Registered {
            cert,
            key,
            evidence,
            path_code,
            blake3,
        } => {
            let day = evidence
                .records
                .first()
                .map(|r| local_day(lang, r.time_s))
                .unwrap_or_default();
            let code = formatted(&cert.code);
            let kind = kind_name(lang, &cert.kind);
            let inst = &cert.institution;
            let sentence = match lang {
                Lang::De => format!(
                    "Diese PDF-Datei ist Byte für Byte die Datei, die die {inst} am {day} für das \
                     Dokument „{kind}“ mit dem Code {code} registriert hat."
                ),
                Lang::En => format!(
                    "This PDF is byte-for-byte the file {inst} registered on {day} for the \
                     document “{kind}” with the code {code}."
                ),
            };
            boxed(&mut body, "ok", t.check_registered, &sentence);
            let private = shows_private(cert, *key);
            let (class, title, detail) = status_parts(lang, cert, private);
            let _ = writeln!(
                body,
                "<h2>{}</h2>\n<div class=\"status {class}\"><p><strong>{}</strong></p><p>{detail}</p></div>",
                escape(t.status),
                escape(title)
            );
            if class != "ok" {
                let note = match lang {
                    Lang::De => "Die Datei ist echt, aber das Zeugnis ist nicht (mehr) gültig: Maßgeblich ist der Status oben.",
                    Lang::En => "The file is genuine, but the certificate is not (or no longer) valid: the status above is what counts.",
                };
                let _ = writeln!(body, "<p>{}</p>", escape(note));
            }
            match (key, &cert.holder) {
                (KeyCheck::Valid, Some(h)) if private => {
                    body.push_str(&holder_section(lang, cert, h));
                }
                (KeyCheck::Erased, _) => {
                    let _ = writeln!(body, "<p class=\"status warn\">{}</p>", escape(t.erased));
                }
                _ => {
                    let _ = writeln!(body, "<p class=\"hint\">{}</p>", escape(t.holder_hidden));
                }
            }
            let link = match lang {
                Lang::De => format!("Zur Prüfseite des Zeugnisses {code}"),
                Lang::En => format!("Verification page of certificate {code}"),
            };
            let _ = writeln!(
                body,
                "<p><a href=\"/{}/{}\">{}</a></p>\n<p class=\"hint\">BLAKE3: <code>{}</code></p>",
                lang.code(),
                escape(path_code),
                escape(&link),
                escape(blake3)
            );
        }
    }
    body.push_str(&check_form_html(lang));
    let _ = writeln!(
        body,
        "<p><a href=\"/{}/\">{}</a></p>",
        lang.code(),
        escape(t.another)
    );
    frame(site, lang, t.check_result_heading, "", &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_in_words() {
        assert_eq!(local_date(Lang::De, "2026-11-30"), "30. November 2026");
        assert_eq!(local_date(Lang::En, "2000-02-29"), "29 February 2000");
        assert_eq!(local_date(Lang::De, "2027-03-01"), "1. März 2027");
        assert_eq!(local_date(Lang::En, "not a date"), "not a date");
        // 2026-11-30T19:46:02Z
        assert_eq!(
            local_time(Lang::De, 1_796_067_962),
            "30. November 2026, 19:46:02"
        );
        assert_eq!(local_day(Lang::En, 0), "1 January 1970");
        assert_eq!(local_day(Lang::En, 951_782_400), "29 February 2000");
    }

    #[test]
    fn brand_colours_keep_contrast() {
        assert!(Branding::default().validate().is_ok());
        let ratio = contrast_ratio([0, 0, 0], [255, 255, 255]);
        assert!((ratio - 21.0).abs() < 1e-9, "{ratio}");
        let pale = Branding {
            colour: "#7fb2e5".into(),
            ..Branding::default()
        };
        let e = pale.validate().expect_err("white on pale blue");
        assert!(e.contains("branding.colour") && e.contains("4.5:1"), "{e}");
        let bad = Branding {
            colour: "blue".into(),
            ..Branding::default()
        };
        assert!(bad.validate().expect_err("not #rrggbb").contains("#rrggbb"));
        let link = Branding {
            imprint_url: Some("javascript:alert(1)".into()),
            ..Branding::default()
        };
        assert!(link.validate().is_err());
    }

    #[test]
    fn grade_with_predicate_and_credit_points() {
        let g = serde_json::json!({"result": {
            "parts": [{"lp_counted": "25"}, {"lp_counted": "5.5"}],
            "final": {"display_de": "1,7", "display_en": "1.7", "word_de": "gut", "word_en": "good"}
        }});
        assert_eq!(final_grade(Lang::De, &g).as_deref(), Some("1,7 - gut"));
        assert_eq!(final_grade(Lang::En, &g).as_deref(), Some("1.7 - good"));
        assert_eq!(credit_points(Lang::De, &g).as_deref(), Some("30,5"));
        assert_eq!(credit_points(Lang::En, &g).as_deref(), Some("30.5"));
        let no_parts =
            serde_json::json!({"result": {"final": {"display_de": "2,0", "display_en": "2.0"}}});
        assert_eq!(final_grade(Lang::De, &no_parts).as_deref(), Some("2,0"));
        assert_eq!(credit_points(Lang::De, &no_parts), None);
    }

    #[test]
    fn code_errors_name_the_character() {
        let e = crate::codes::parse_code_and_key("QNVC-FM3P-4UDF").expect_err("U");
        let de = code_error(Lang::De, &e);
        assert!(de.contains("„U“ an Stelle 12"), "{de}");
        let en = code_error(Lang::En, &e);
        assert!(en.contains("“U” at position 12"), "{en}");
    }

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
