//! XHochschule 1.2 "Hochschulabschlusszeugnis" (HAZ): the German XÖV
//! format for a degree certificate (namespace [`NAMESPACE`], root
//! `hochschulabschlusszeugnis`, schemas in `vendor/xhochschule-1.2`).
//!
//! Owns: rendering a [`Transcript`] as one HAZ document in one language.
//! Every string typed DIN 91379 datatype C is checked first
//! ([`super::din91379`]); a value that cannot be written is refused.
//! Must not do: sign (`ds:Signature` is left out; a signer adds it to the
//! returned bytes), read the ledger, or guess code-list values the record
//! does not hold (they come from [`ExportsConfig`]).

use super::{din91379, xml_escape, ExportError, ExportsConfig, Item, Lang, Part, Transcript};

/// The XHochschule 1.2 namespace.
pub const NAMESPACE: &str = "http://xhochschule.de/def/xhochschule/1.2/xsd";
/// The XBildung 1.2 namespace (grades, places, dates).
pub const XBILDUNG_NAMESPACE: &str = "http://xbildung.de/def/xbildung/1.2/xsd";
/// Code-list URI and version of "Leistungsart" (fixed by the schema).
const LEISTUNGSART_LIST: (&str, &str) = (
    "urn:xhochschule-de:xhochschule:codeliste:leistungsart",
    "1.0",
);
/// Code-list URI and version of "Leistungsstatus".
const LEISTUNGSSTATUS_LIST: (&str, &str) = (
    "urn:xhochschule-de:xhochschule:codeliste:leistungsstatus",
    "1.0",
);
/// Code-list URI and version of "Leistungsbenotungsstatus".
const BENOTUNGSSTATUS_LIST: (&str, &str) = (
    "urn:xhochschule-de:xhochschule:codeliste:leistungsbenotungsstatus",
    "1.0",
);
/// Prefix of the code values of the XHochschule code lists.
const CODE_BASE: &str = "http://xhochschule.de/def/xhochschule/1.0/code";

/// A small XML writer: indentation and escaping in one place.
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn open(&mut self, tag: &str) {
        self.line(&format!("<{tag}>"));
        self.depth += 1;
    }
    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        self.line(&format!("</{tag}>"));
    }
    fn leaf(&mut self, tag: &str, text: &str) {
        self.line(&format!("<{tag}>{}</{tag}>", xml_escape(text)));
    }
    fn localized(&mut self, tag: &str, lang: Lang, text: &str) {
        self.line(&format!(
            "<{tag} xml:lang=\"{}\">{}</{tag}>",
            lang.tag(),
            xml_escape(text)
        ));
    }
    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }
    /// A code-list element: `<tag listURI=.. listVersionID=..><code>..</code></tag>`.
    fn code(&mut self, tag: &str, list: (&str, &str), code: &str) {
        self.line(&format!(
            "<{tag} listURI=\"{}\" listVersionID=\"{}\">",
            xml_escape(list.0),
            xml_escape(list.1)
        ));
        self.depth += 1;
        self.leaf("code", code);
        self.close(tag);
    }
}

/// Checks a value typed DIN 91379 datatype C.
fn din(t: &Transcript, field: &str, value: &str) -> Result<(), ExportError> {
    din91379::check(value).map_err(|reason| ExportError::Unrepresentable {
        code: t.code_formatted.clone(),
        field: field.to_string(),
        reason,
    })
}

/// Renders the unsigned HAZ document of `t` in `lang` (UTF-8 bytes).
pub fn render(
    t: &Transcript,
    lang: Lang,
    cfg: &ExportsConfig,
    base_url: &str,
) -> Result<Vec<u8>, ExportError> {
    cfg.validate()?;
    din(t, "holder.family_name", &t.holder.family_name)?;
    din(t, "holder.given_name", &t.holder.given_name)?;
    din(t, "holder.birth_place", &t.holder.birth_place)?;
    din(t, "holder.student_id", &t.holder.student_id)?;
    din(t, "programme.degree", &t.programme.degree)?;
    let mut x = Xml {
        out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        depth: 0,
    };
    x.line(&format!(
        "<!-- zeugnis export of certificate {} (ledger seq {}, rule set {} blake3:{}); unsigned -->",
        t.code_formatted, t.registered_seq, t.ruleset.0, t.ruleset.1
    ));
    x.line(&format!(
        "<xhs:hochschulabschlusszeugnis xmlns:xhs=\"{NAMESPACE}\" xmlns:xbd=\"{XBILDUNG_NAMESPACE}\">"
    ));
    x.depth += 1;
    // Dokument
    x.localized(
        "xhs:titel",
        lang,
        match lang {
            Lang::De => "Hochschulabschlusszeugnis",
            Lang::En => "Degree certificate",
        },
    );
    x.code(
        "xhs:sprache",
        (
            "urn:xbildung-de:publicationsoffice-eu:codeliste:language",
            "20240925-0",
        ),
        lang.eu_code(),
    );
    x.leaf("xhs:abschluss", &t.programme.degree);
    // Studierender
    x.open("xhs:studierender");
    x.open("xhs:nameNatuerlichePerson");
    x.open("xhs:familienname");
    x.leaf("xhs:name", &t.holder.family_name);
    x.close("xhs:familienname");
    x.open("xhs:vorname");
    x.leaf("xhs:name", &t.holder.given_name);
    x.close("xhs:vorname");
    x.close("xhs:nameNatuerlichePerson");
    x.open("xhs:geburt");
    x.open("xhs:datum");
    x.leaf("xbd:jahrMonatTag", &t.holder.birth_date);
    x.close("xhs:datum");
    x.open("xhs:geburtsort");
    x.leaf("xbd:ort", &t.holder.birth_place);
    x.close("xhs:geburtsort");
    x.close("xhs:geburt");
    x.open("xhs:matrikelnummer");
    x.leaf("xhs:id", &t.holder.student_id);
    x.leaf(
        "xhs:beschreibung",
        match lang {
            Lang::De => "Matrikelnummer",
            Lang::En => "Student number",
        },
    );
    x.close("xhs:matrikelnummer");
    x.close("xhs:studierender");
    // Hochschule
    x.open("xhs:ausstellendeHochschule");
    if let (Some(sig), Some(version)) =
        (&cfg.hochschulsignatur, &cfg.hochschulsignatur_list_version)
    {
        x.code(
            "xhs:hochschulsignatur",
            (
                "urn:xhochschule-de:destatis:codeliste:hochschulsignatur",
                version,
            ),
            sig,
        );
    }
    x.localized("xhs:name", lang, &t.institution);
    x.close("xhs:ausstellendeHochschule");
    x.leaf("xhs:datumDesErwerbs", &t.last_exam_date);
    // The programme, with the parts and modules nested in it.
    programme(&mut x, t, lang, cfg, base_url)?;
    x.open("xhs:benotung");
    x.open("xhs:gesamtnote");
    let (note, word) = match lang {
        Lang::De => (&t.final_grade.display_de, &t.final_grade.word_de),
        Lang::En => (&t.final_grade.display_en, &t.final_grade.word_en),
    };
    grade_body(&mut x, t, lang, note, Some(word));
    x.close("xhs:gesamtnote");
    x.close("xhs:benotung");
    x.close("xhs:hochschulabschlusszeugnis");
    Ok(x.out.into_bytes())
}

/// The content of an `xbd:Benotung`: note, word (final grades only), scale
/// (its rule set named on the final grade only).
fn grade_body(x: &mut Xml, t: &Transcript, lang: Lang, note: &str, word: Option<&str>) {
    x.leaf("xbd:note", note);
    if let Some(w) = word {
        x.localized("xbd:wortbezeichnung", lang, w);
    }
    if let Some(s) = &t.scale {
        x.open("xbd:bewertungsschemaNote");
        if word.is_some() {
            let described = match (&t.citation, lang) {
                (Some(c), Lang::De) => format!("Regel {} ({c})", t.ruleset.0),
                (Some(c), Lang::En) => format!("Rule set {} ({c})", t.ruleset.0),
                (None, _) => t.ruleset.0.clone(),
            };
            x.localized("xbd:beschreibung", lang, &described);
        }
        x.leaf("xbd:besteBewertung", &lang.decimal(&s.best));
        x.leaf("xbd:bestandenAbBewertung", &lang.decimal(&s.pass_limit));
        x.leaf("xbd:schlechtesteBewertung", &lang.decimal(&s.worst));
        x.close("xbd:bewertungsschemaNote");
    }
}

/// `leistungsart` of the programme, a part or an item.
fn leistungsart(x: &mut Xml, code: &str) {
    x.open("xhs:leistungsart");
    x.code(
        "xhs:code",
        LEISTUNGSART_LIST,
        &format!("{CODE_BASE}/leistungsart/{code}"),
    );
    x.close("xhs:leistungsart");
}

/// `leistungsstatus` + `leistungsbenotungsstatus` + `benotet`.
fn status(x: &mut Xml, passed: bool) {
    x.open("xhs:leistungsstatus");
    x.code(
        "xhs:code",
        LEISTUNGSSTATUS_LIST,
        &format!(
            "{CODE_BASE}/leistungsstatus/{}",
            if passed {
                "bestanden"
            } else {
                "nicht_bestanden"
            }
        ),
    );
    x.close("xhs:leistungsstatus");
    x.open("xhs:leistungsbenotungsstatus");
    x.code(
        "xhs:code",
        BENOTUNGSSTATUS_LIST,
        &format!("{CODE_BASE}/leistungsbenotungsstatus/finale_note"),
    );
    x.close("xhs:leistungsbenotungsstatus");
    x.leaf("xhs:benotet", "true");
}

fn programme(
    x: &mut Xml,
    t: &Transcript,
    lang: Lang,
    cfg: &ExportsConfig,
    base_url: &str,
) -> Result<(), ExportError> {
    x.open("xhs:leistung");
    x.localized("xhs:bezeichnung", lang, &t.programme.name);
    if let (Some(key), Some(version)) =
        (&cfg.faecherschluessel, &cfg.faecherschluessel_list_version)
    {
        x.code(
            "xhs:faecherschluesselDESTATIS",
            (
                "urn:xhochschule-de:destatis:codeliste:faecherschluessel",
                version,
            ),
            key,
        );
    }
    leistungsart(x, "studiengang");
    // The link back to the archive: the certificate code and its ledger record.
    x.open("xhs:id");
    x.leaf("xhs:id", &t.code_formatted);
    x.leaf(
        "xhs:beschreibung",
        &match lang {
            Lang::De => format!(
                "Code des Zeugnisses im Archiv (zeugnis), Ledger-Eintrag {}",
                t.registered_seq
            ),
            Lang::En => format!(
                "Certificate code in the archive (zeugnis), ledger record {}",
                t.registered_seq
            ),
        },
    );
    x.close("xhs:id");
    x.open("xhs:beschreibung");
    x.leaf(
        "xhs:weitereInformationen",
        &format!(
            "{}/{}/{}",
            base_url.trim_end_matches('/'),
            lang.code(),
            t.code
        ),
    );
    x.close("xhs:beschreibung");
    status(x, t.final_grade.passed);
    x.open("xhs:benotung");
    let (note, word) = match lang {
        Lang::De => (&t.final_grade.display_de, &t.final_grade.word_de),
        Lang::En => (&t.final_grade.display_en, &t.final_grade.word_en),
    };
    grade_body(x, t, lang, note, Some(word));
    x.close("xhs:benotung");
    x.leaf("xhs:erbrachteLeistungspunkteECTS", &t.counted_lp());
    x.leaf("xhs:datumDerLeistungserbringung", &t.last_exam_date);
    for p in &t.parts {
        part(x, t, lang, p)?;
    }
    x.close("xhs:leistung");
    Ok(())
}

/// A part of the grade input: its own `leistung` when the result grades it
/// separately, else its items directly under the programme.
fn part(x: &mut Xml, t: &Transcript, lang: Lang, p: &Part) -> Result<(), ExportError> {
    let Some((de, en)) = &p.display else {
        for i in &p.items {
            item(x, t, lang, i)?;
        }
        return Ok(());
    };
    x.open("xhs:leistung");
    x.localized(
        "xhs:bezeichnung",
        lang,
        &match lang {
            Lang::De => format!("Teil {}", p.id),
            Lang::En => format!("Part {}", p.id),
        },
    );
    // Not in the code list: a part is a block of the grade computation.
    x.open("xhs:leistungsart");
    x.code(
        "xhs:code",
        LEISTUNGSART_LIST,
        &format!("{CODE_BASE}/leistungsart/~wert_nicht_in_liste"),
    );
    x.localized(
        "xhs:nichtGelisteterWert",
        lang,
        match lang {
            Lang::De => "Teil der Gesamtnote",
            Lang::En => "Part of the final grade",
        },
    );
    x.close("xhs:leistungsart");
    status(x, p.passed);
    x.open("xhs:benotung");
    grade_body(x, t, lang, if lang == Lang::De { de } else { en }, None);
    x.close("xhs:benotung");
    if let Some(lp) = &p.required_lp {
        x.leaf("xhs:erforderlicheLeistungspunkteECTS", lp);
    }
    for i in &p.items {
        item(x, t, lang, i)?;
    }
    x.close("xhs:leistung");
    Ok(())
}

/// Whether a module grade is a pass: not worse than the scale's pass limit
/// (German scales: a lower number is better). Without a known scale the
/// grade counts as passed, as every shipped weighted rule set admits only
/// passing module grades.
fn item_passed(t: &Transcript, i: &Item) -> bool {
    let Some(s) = &t.scale else { return true };
    match (
        i.grade.parse::<rust_decimal::Decimal>(),
        s.pass_limit.parse::<rust_decimal::Decimal>(),
    ) {
        (Ok(g), Ok(limit)) => g <= limit,
        _ => true,
    }
}

/// A module or the thesis.
fn item(x: &mut Xml, t: &Transcript, lang: Lang, i: &Item) -> Result<(), ExportError> {
    x.open("xhs:leistung");
    x.localized("xhs:bezeichnung", lang, &i.id);
    leistungsart(x, if i.thesis { "thesis" } else { "modul" });
    if !i.counted {
        x.open("xhs:beschreibung");
        x.localized(
            "xhs:beschreibung",
            lang,
            match lang {
                Lang::De => "nicht in die Gesamtnote eingerechnet",
                Lang::En => "not counted in the final grade",
            },
        );
        x.close("xhs:beschreibung");
    }
    status(x, item_passed(t, i));
    x.open("xhs:benotung");
    grade_body(x, t, lang, &lang.decimal(&i.grade), None);
    x.close("xhs:benotung");
    x.leaf("xhs:erbrachteLeistungspunkteECTS", &i.lp);
    x.close("xhs:leistung");
    Ok(())
}
