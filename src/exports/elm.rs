//! European Learning Model 3 (Europass Digital Credentials): an unsigned
//! `EuropeanDigitalCredential` in JSON-LD that conforms to the EDC generic
//! SHACL shapes (vendor/elm-3).
//!
//! Owns: rendering a [`Transcript`] as one credential with German and
//! English text side by side (ELM is multilingual in one document), and the
//! display image ([`PageImage`]).
//! Must not do: sign. An EDC is sealed with JAdES by a qualified electronic
//! seal, which needs a trust service provider: the seam is this module's
//! output, the unsigned JSON-LD a sealing service takes as input.

use super::{din91379, ExportError, ExportsConfig, Transcript};
use serde_json::{json, Value};

/// The contexts of an ELM 3 credential, in order (resolved from vendor/ by
/// validators, never fetched).
pub const CONTEXTS: [&str; 2] = [
    "https://www.w3.org/2018/credentials/v1",
    "http://data.europa.eu/snb/model/context/edc-ap",
];
/// The SHACL shapes the credential declares (`credentialSchema`).
pub const SHAPES_ID: &str = "http://data.europa.eu/snb/model/ap/edc-generic-full";
/// Largest page image accepted, in bytes (it is embedded base64 in the JSON).
pub const PAGE_IMAGE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Pixels per QR module of the fallback display image.
const QR_PIXELS_PER_MODULE: usize = 8;
/// Quiet zone around the QR code, in modules.
const QR_QUIET_ZONE_MODULES: usize = 4;

/// The image shown for page 1 of the credential.
#[derive(Clone, Debug)]
pub struct PageImage {
    /// PNG or JPEG bytes.
    pub bytes: Vec<u8>,
    /// `PNG` or `JPEG` (the EU file-type authority code).
    pub file_type: &'static str,
}

impl PageImage {
    /// Checks an image given by the operator (`--page-image`, which
    /// replaces zeugnis' own rendering of page 1): PNG or JPEG
    /// by its signature, at most [`PAGE_IMAGE_BYTES_MAX`].
    pub fn from_file_bytes(name: &str, bytes: Vec<u8>) -> Result<PageImage, ExportError> {
        let bad = |reason: String| ExportError::Config {
            field: "page-image",
            reason: format!("{name}: {reason}"),
        };
        if bytes.len() > PAGE_IMAGE_BYTES_MAX {
            return Err(bad(format!(
                "{} bytes, more than {PAGE_IMAGE_BYTES_MAX}",
                bytes.len()
            )));
        }
        let file_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "PNG"
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "JPEG"
        } else {
            return Err(bad("not a PNG or JPEG file (by its first bytes)".into()));
        };
        Ok(PageImage { bytes, file_type })
    }

    /// The fallback when page 1 of the registered PDF could not be rendered
    /// (`super::page_render`) and no `--page-image` is given: a PNG of the
    /// QR code of the verification page (docs/exports.md).
    pub fn verification_qr(url: &str) -> Result<PageImage, ExportError> {
        let qr = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
            .map_err(|e| ExportError::Config {
                field: "base_url",
                reason: format!("QR code of {url:?}: {e}"),
            })?;
        let modules = qr.width();
        let colors = qr.to_colors();
        let side = (modules + 2 * QR_QUIET_ZONE_MODULES) * QR_PIXELS_PER_MODULE;
        let mut luma = vec![0xFF_u8; side * side];
        for y in 0..side {
            for x in 0..side {
                let my = (y / QR_PIXELS_PER_MODULE).checked_sub(QR_QUIET_ZONE_MODULES);
                let mx = (x / QR_PIXELS_PER_MODULE).checked_sub(QR_QUIET_ZONE_MODULES);
                if let (Some(mx), Some(my)) = (mx, my) {
                    if mx < modules
                        && my < modules
                        && colors[my * modules + mx] == qrcode::Color::Dark
                    {
                        luma[y * side + x] = 0;
                    }
                }
            }
        }
        let side_u32 = u32::try_from(side).map_err(|_| ExportError::Config {
            field: "base_url",
            reason: "QR code too large".into(),
        })?;
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, side_u32, side_u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .and_then(|mut w| w.write_image_data(&luma))
            .map_err(|e| ExportError::Config {
                field: "base_url",
                reason: format!("PNG encoding: {e}"),
            })?;
        Ok(PageImage {
            bytes: out,
            file_type: "PNG",
        })
    }
}

/// A SKOS concept of a controlled vocabulary.
fn concept(id: &str, scheme: &str, label_en: &str) -> Value {
    json!({"id": id, "type": "Concept",
           "inScheme": {"id": scheme, "type": "ConceptScheme"},
           "prefLabel": {"en": label_en}})
}

fn language(code: &str) -> Value {
    let label = match code {
        "DEU" => "German",
        _ => "English",
    };
    let mut c = concept(
        &format!("http://publications.europa.eu/resource/authority/language/{code}"),
        "http://publications.europa.eu/resource/authority/language",
        label,
    );
    c["notation"] = json!("language");
    c
}

fn country(code: &str) -> Value {
    let mut c = concept(
        &format!("http://publications.europa.eu/resource/authority/country/{code}"),
        "http://publications.europa.eu/resource/authority/country",
        code,
    );
    c["notation"] = json!("country");
    c
}

fn ects() -> Value {
    concept(
        "http://data.europa.eu/snb/education-credit/6fcec5c5af",
        "http://data.europa.eu/snb/education-credit/25831c2",
        "European Credit Transfer System",
    )
}

/// `YYYY-MM-DD` as an `xsd:dateTime` at midnight UTC.
fn midnight(date: &str) -> String {
    format!("{date}T00:00:00Z")
}

/// Renders the unsigned credential (UTF-8 JSON-LD, pretty-printed).
pub fn render(
    t: &Transcript,
    cfg: &ExportsConfig,
    base_url: &str,
    page_image: Option<PageImage>,
) -> Result<Vec<u8>, ExportError> {
    cfg.validate()?;
    for (field, v) in [
        ("holder.family_name", &t.holder.family_name),
        ("holder.given_name", &t.holder.given_name),
    ] {
        din91379::check(v).map_err(|reason| ExportError::Unrepresentable {
            code: t.code_formatted.clone(),
            field: field.into(),
            reason,
        })?;
    }
    let code = &t.code;
    let verify_url = format!(
        "{}/{}/{}",
        base_url.trim_end_matches('/'),
        t.record_language.code(),
        code
    );
    let image = match page_image {
        Some(i) => i,
        None => PageImage::verification_qr(&verify_url)?,
    };
    let country_code = cfg.country.clone().unwrap_or_else(|| "DEU".into());
    let legal_id = cfg
        .legal_identifier
        .clone()
        .or_else(|| cfg.hochschulsignatur.clone())
        .unwrap_or_else(|| t.institution.clone());
    let org = json!({
        "id": format!("urn:zeugnis:org:{}", blake3::hash(t.institution.as_bytes()).to_hex()),
        "type": "Organisation",
        "legalName": {"de": t.institution, "en": t.institution},
        "location": {"id": format!("urn:zeugnis:location:{code}"), "type": "Location",
            "address": {"id": format!("urn:zeugnis:address:{code}"), "type": "Address",
                        "countryCode": country(&country_code)}},
        // Not a term of the EDC context: written as the full IRI the shapes require.
        "http://data.europa.eu/snb/model/elm/eidasLegalIdentifier": {"id": format!("urn:zeugnis:legalIdentifier:{code}"),
            "type": "LegalIdentifier", "notation": legal_id, "spatial": country(&country_code)},
        "homepage": {"id": format!("urn:zeugnis:webResource:{code}"), "type": "WebResource",
            "contentURL": base_url}
    });
    let awarding = json!({
        "id": format!("urn:zeugnis:awardingProcess:{code}"), "type": "AwardingProcess",
        "awardingBody": org.clone(), "awardingDate": midnight(&t.last_exam_date)
    });
    let f = &t.final_grade;
    let final_assessment = json!({
        "id": format!("urn:zeugnis:assessment:{code}:final"), "type": "LearningAssessment",
        "title": {"de": "Gesamtnote", "en": "Final grade"},
        "grade": {"id": format!("urn:zeugnis:note:{code}:final"), "type": "Note",
            "noteLiteral": {"de": format!("{} ({})", f.display_de, f.word_de),
                            "en": format!("{} ({})", f.display_en, f.word_en)}},
        "awardedBy": awarding.clone()
    });
    let mut parts = Vec::new();
    for (n, item) in t.parts.iter().flat_map(|p| &p.items).enumerate() {
        let id = format!("urn:zeugnis:achievement:{code}:{n}");
        let de = super::Lang::De.decimal(&item.grade);
        parts.push(json!({
            "id": id, "type": "LearningAchievement",
            "title": {"de": item.id, "en": item.id},
            "description": {
                "de": if item.thesis { "Abschlussarbeit" } else { "Modul" },
                "en": if item.thesis { "Thesis" } else { "Module" }},
            "awardedBy": awarding.clone(),
            "provenBy": {"id": format!("urn:zeugnis:assessment:{code}:{n}"), "type": "LearningAssessment",
                "title": {"de": item.id, "en": item.id},
                "grade": {"id": format!("urn:zeugnis:note:{code}:{n}"), "type": "Note",
                          "noteLiteral": {"de": de, "en": item.grade}},
                "awardedBy": awarding.clone()},
            "creditReceived": {"id": format!("urn:zeugnis:creditPoint:{code}:{n}"), "type": "CreditPoint",
                "framework": ects(), "point": item.lp}
        }));
    }
    let title_de = format!("{} {}", t.programme.degree, t.programme.name);
    let achievement = json!({
        "id": format!("urn:zeugnis:achievement:{code}"), "type": "LearningAchievement",
        "title": {"de": title_de, "en": title_de},
        "awardedBy": awarding,
        "provenBy": final_assessment,
        "creditReceived": {"id": format!("urn:zeugnis:creditPoint:{code}"), "type": "CreditPoint",
            "framework": ects(), "point": t.counted_lp()},
        "hasPart": parts
    });
    let subject = json!({
        "id": format!("urn:zeugnis:person:{code}"), "type": "Person",
        "givenName": {"de": t.holder.given_name},
        "familyName": {"de": t.holder.family_name},
        "dateOfBirth": midnight(&t.holder.birth_date),
        "identifier": {"id": format!("urn:zeugnis:studentId:{code}"), "type": "Identifier",
            "schemeName": "Matrikelnummer", "notation": t.holder.student_id},
        "hasClaim": achievement
    });
    let primary = t.record_language.eu_code();
    let display = json!({
        "id": format!("urn:zeugnis:displayParameter:{code}"), "type": "DisplayParameter",
        "title": {"de": "Hochschulabschlusszeugnis", "en": "Degree certificate"},
        "language": [language("DEU"), language("ENG")],
        "primaryLanguage": language(primary),
        "individualDisplay": {"id": format!("urn:zeugnis:individualDisplay:{code}"), "type": "IndividualDisplay",
            "language": language(primary),
            "displayDetail": {"id": format!("urn:zeugnis:displayDetail:{code}"), "type": "DisplayDetail",
                "page": 1,
                "image": {"id": format!("urn:zeugnis:mediaObject:{code}"), "type": "MediaObject",
                    "content": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &image.bytes),
                    "contentEncoding": concept("http://data.europa.eu/snb/encoding/6146cde7dd",
                        "http://data.europa.eu/snb/encoding/25831c2", "base64"),
                    "contentType": concept(
                        &format!("http://publications.europa.eu/resource/authority/file-type/{}", image.file_type),
                        "http://publications.europa.eu/resource/authority/file-type", image.file_type)}}}
    });
    let issued = t
        .registered_at
        .clone()
        .unwrap_or_else(|| midnight(&t.last_exam_date));
    let credential = json!({
        "@context": CONTEXTS,
        "id": format!("urn:zeugnis:credential:{code}"),
        "type": ["VerifiableCredential", "EuropeanDigitalCredential"],
        "credentialProfiles": concept("http://data.europa.eu/snb/credential/e34929035b",
            "http://data.europa.eu/snb/credential/25831c2", "Generic"),
        "credentialSchema": {"id": SHAPES_ID, "type": "ShaclValidator2017"},
        "identifier": {"id": format!("urn:zeugnis:identifier:{code}"), "type": "Identifier",
            "schemeName": format!("zeugnis certificate code (ledger record {}; verify at {verify_url})", t.registered_seq),
            "notation": t.code_formatted},
        "issuer": org,
        "https://www.w3.org/2018/credentials#issued": {"@value": issued, "@type": "http://www.w3.org/2001/XMLSchema#dateTime"},
        "validFrom": midnight(&t.last_exam_date),
        "credentialSubject": subject,
        "displayParameter": display
    });
    let mut out = serde_json::to_vec_pretty(&credential).map_err(|e| ExportError::Config {
        field: "format",
        reason: format!("JSON encoding: {e}"),
    })?;
    out.push(b'\n');
    Ok(out)
}
