//! The draft (Entwurf): a copy of a document with a diagonal
//! "ENTWURF / DRAFT" watermark on every page, so a student can check the
//! data before the final version is signed (`zeugnis draft`, issue 16).
//!
//! Owns: [`make_draft`] (the record checked as a registration checks it,
//! then the watermarked copy) and [`watermark_every_page`] (bytes in,
//! bytes out), and the watermark's text.
//! Must not do: touch the ledger, the blob store or the registry: a draft
//! is never recorded. The copy is a full rewrite (not an incremental
//! update): a draft is not the archived file and carries no signature
//! worth keeping.

use crate::stamp::{attribute, page_box, resolved_dict, unused_name, Bytes};
use lopdf::{dictionary, Document, LoadOptions, Object, Stream};
use std::fmt::Write as _;

/// The first watermark line.
pub const WATERMARK_LINE_1: &str = "ENTWURF / DRAFT";
/// The second watermark line, in WinAnsi ("nicht gültig – not valid").
const WATERMARK_LINE_2_WINANSI: &[u8] = b"nicht g\xfcltig \x96 not valid";
/// The second watermark line as text (what [`WATERMARK_LINE_2_WINANSI`] shows).
pub const WATERMARK_LINE_2: &str = "nicht gültig – not valid";
/// Opacity of the watermark (fill and stroke), 0 to 1: the text under it
/// stays readable.
const WATERMARK_OPACITY: f32 = 0.3;
/// Courier's advance per glyph, in ems.
const COURIER_ADVANCE_EM: f32 = 0.6;
/// Share of the page diagonal the first line spans.
const DIAGONAL_SHARE: f32 = 0.75;

/// Why a draft cannot be made. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DraftError {
    /// The registration record is invalid, or its grade cannot be
    /// computed (the same errors `register` gives).
    #[error(transparent)]
    Record(#[from] crate::registry::RegistryError),
    /// The document is not a PDF that passes the registration's checks.
    #[error(transparent)]
    Document(#[from] crate::document::DocumentError),
    /// Encrypted PDFs are refused (the copy could not be written readable).
    #[error("{name}: cannot make a draft of an encrypted PDF")]
    Encrypted { name: String },
    /// A page could not be read or changed.
    #[error("{name}: cannot make a draft: page {page}: {reason}")]
    Page {
        name: String,
        page: u32,
        reason: String,
    },
    /// Writing the copy failed.
    #[error("{name}: cannot write the draft: {reason}")]
    Write { name: String, reason: String },
}

impl DraftError {
    /// Exit code: 2 for bad input (every draft error is about the input),
    /// as the registry maps its own.
    pub fn exit_code(&self) -> i32 {
        match self {
            DraftError::Record(e) => e.exit_code(),
            _ => 2,
        }
    }
}

/// A draft made by [`make_draft`].
#[derive(Debug)]
pub struct Draft {
    /// The watermarked copy.
    pub pdf: Vec<u8>,
    /// Its pages (each watermarked).
    pub pages: usize,
    /// The final grade computed from the record's `grades` (as registered),
    /// with its rule set: `("1.7", "erfurt-ba-2019")`.
    pub grade: Option<(String, String)>,
}

/// Checks the registration record (`record_name`, `record`) as `register`
/// does (fields, limits, the grade computed by the shipped rule set) and
/// watermarks the document. Records nothing anywhere.
pub fn make_draft(
    record_name: &str,
    record: &[u8],
    document_name: &str,
    document: &[u8],
) -> Result<Draft, DraftError> {
    let rec = crate::registry::RegistrationRecord::parse(record_name, record)?;
    make_draft_of(&rec, document_name, document)
}

/// [`make_draft`] for a record already parsed (and so checked) by
/// [`crate::registry::RegistrationRecord::parse`].
pub fn make_draft_of(
    rec: &crate::registry::RegistrationRecord,
    document_name: &str,
    document: &[u8],
) -> Result<Draft, DraftError> {
    let grade = match &rec.grades {
        None => None,
        Some(input) => {
            let g = crate::grades::evaluate(input).map_err(crate::registry::RegistryError::from)?;
            let value = [&g.result["final"]["value"], &g.result["grade"]]
                .iter()
                .find_map(|v| v.as_str())
                .unwrap_or("-")
                .to_string();
            Some((value, g.ruleset))
        }
    };
    let (pdf, pages) = watermark_every_page(document_name, document)?;
    Ok(Draft { pdf, pages, grade })
}

/// A copy of `bytes` (the file `name`) with the watermark on every page.
/// `bytes` is first checked like a registered document
/// ([`crate::document::inspect`]: a PDF with pages, bounded in time and
/// objects). Returns the copy and its page count.
pub fn watermark_every_page(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, usize), DraftError> {
    crate::document::inspect(name, bytes)?;
    let options = LoadOptions {
        strict: false,
        max_decompressed_size: Some(crate::document::PDF_STREAM_BYTES_MAX),
        ..LoadOptions::default()
    };
    let mut doc = Document::load_mem_with_options(bytes, options).map_err(|e| {
        crate::document::DocumentError::Unreadable {
            name: name.into(),
            reason: e.to_string(),
        }
    })?;
    if doc.is_encrypted() || doc.encryption_state.is_some() || doc.trailer.has(b"Encrypt") {
        return Err(DraftError::Encrypted { name: name.into() });
    }
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Courier-Bold",
        "Encoding" => "WinAnsiEncoding",
    });
    let gs_id = doc.add_object(dictionary! {
        "Type" => "ExtGState",
        "CA" => WATERMARK_OPACITY,
        "ca" => WATERMARK_OPACITY,
    });
    let pages = doc.get_pages();
    for (&number, &page_id) in &pages {
        let failed = |reason: String| DraftError::Page {
            name: name.into(),
            page: number,
            reason,
        };
        let mut page = doc
            .get_dictionary(page_id)
            .map_err(|e| failed(e.to_string()))?
            .clone();
        let visible = attribute(&doc, &page, b"CropBox")
            .or_else(|| attribute(&doc, &page, b"MediaBox"))
            .and_then(|o| page_box(&doc, &o))
            .ok_or_else(|| failed("no MediaBox".into()))?;
        let mut resources = attribute(&doc, &page, b"Resources")
            .and_then(|o| resolved_dict(&doc, &o))
            .unwrap_or_default();
        let mut fonts = resources
            .get(b"Font")
            .ok()
            .and_then(|o| resolved_dict(&doc, o))
            .unwrap_or_default();
        let mut states = resources
            .get(b"ExtGState")
            .ok()
            .and_then(|o| resolved_dict(&doc, o))
            .unwrap_or_default();
        let font = unused_name(&fonts, "ZgDraftFont");
        let gs = unused_name(&states, "ZgDraftGS");
        fonts.set(font.clone(), font_id);
        states.set(gs.clone(), gs_id);
        resources.set("Font", fonts);
        resources.set("ExtGState", states);

        let open_id = doc.add_object(Stream::new(dictionary! {}, b"q\n".to_vec()));
        let mark_id = doc.add_object(Stream::new(
            dictionary! {},
            watermark_content(visible, &font, &gs),
        ));
        let mut contents = vec![Object::Reference(open_id)];
        match page.get(b"Contents") {
            Ok(Object::Reference(id)) => match doc.get_object(*id) {
                Ok(Object::Array(items)) => contents.extend(items.iter().cloned()),
                _ => contents.push(Object::Reference(*id)),
            },
            Ok(Object::Array(items)) => contents.extend(items.iter().cloned()),
            Ok(_) => return Err(failed("invalid /Contents".into())),
            Err(_) => {}
        }
        contents.push(Object::Reference(mark_id));
        page.set("Resources", resources);
        page.set("Contents", contents);
        doc.objects.insert(page_id, Object::Dictionary(page));
    }
    let mut out = Vec::new();
    doc.save_to(&mut out).map_err(|e| DraftError::Write {
        name: name.into(),
        reason: e.to_string(),
    })?;
    Ok((out, pages.len()))
}

/// The watermark's content stream: two lines of outlined, semi-transparent
/// Courier-Bold along the page's diagonal, centred. Rotation is in the
/// page's own space; a page with `/Rotate` gets its watermark along the
/// other diagonal as seen, which still crosses the whole page.
fn watermark_content(visible: [f32; 4], font: &str, gs: &str) -> Vec<u8> {
    let [x0, y0, x1, y1] = visible;
    let (w, h) = (x1 - x0, y1 - y0);
    let diagonal = (w * w + h * h).sqrt();
    let (sin, cos) = (h / diagonal, w / diagonal);
    let size1 = diagonal * DIAGONAL_SHARE / (WATERMARK_LINE_1.len() as f32 * COURIER_ADVANCE_EM);
    let size2 = size1 * 0.45;
    let width1 = WATERMARK_LINE_1.len() as f32 * COURIER_ADVANCE_EM * size1;
    let width2 = WATERMARK_LINE_2_WINANSI.len() as f32 * COURIER_ADVANCE_EM * size2;
    let mut s = String::new();
    let _ = writeln!(s, "Q\nq\n/{gs} gs");
    let _ = writeln!(s, "0.8 0 0 rg 0.8 0 0 RG 2 w");
    // Move the origin to the page centre and turn it along the diagonal.
    let _ = writeln!(
        s,
        "{cos:.5} {sin:.5} {:.5} {cos:.5} {:.3} {:.3} cm",
        -sin,
        x0 + w / 2.0,
        y0 + h / 2.0
    );
    // Text render mode 2: fill and stroke (outlined and filled).
    let _ = writeln!(
        s,
        "BT 2 Tr /{font} {size1:.2} Tf {:.3} {:.3} Td ({WATERMARK_LINE_1}) Tj ET",
        -width1 / 2.0,
        size1 * 0.1
    );
    let mut bytes = s.into_bytes();
    let _ = write!(
        Bytes(&mut bytes),
        "BT 2 Tr /{font} {size2:.2} Tf {:.3} {:.3} Td (",
        -width2 / 2.0,
        -size2 * 1.2
    );
    bytes.extend_from_slice(WATERMARK_LINE_2_WINANSI);
    bytes.extend_from_slice(b") Tj ET\nQ\n");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoded content of every page, concatenated per page.
    fn page_contents(pdf: &[u8]) -> Vec<Vec<u8>> {
        let doc = Document::load_mem(pdf).expect("draft parses");
        doc.get_pages()
            .values()
            .map(|id| doc.get_page_content(*id))
            .collect()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn every_page_gets_the_watermark_and_keeps_its_text() {
        let pages: Vec<Vec<String>> = (1..=3).map(|i| vec![format!("Seite {i}")]).collect();
        let pdf = crate::document::text_pdf(&pages, None);
        let (draft, n) = watermark_every_page("z.pdf", &pdf).unwrap();
        assert_eq!(n, 3);
        let contents = page_contents(&draft);
        assert_eq!(contents.len(), 3);
        for (i, c) in contents.iter().enumerate() {
            assert!(contains(c, b"(ENTWURF / DRAFT) Tj"), "page {}", i + 1);
            assert!(contains(c, WATERMARK_LINE_2_WINANSI), "page {}", i + 1);
            assert!(
                contains(c, format!("Seite {}", i + 1).as_bytes()),
                "page {}",
                i + 1
            );
            assert!(contains(c, b" gs\n"), "no transparency on page {}", i + 1);
        }
        let doc = Document::load_mem(&draft).unwrap();
        let gs = doc
            .objects
            .values()
            .find_map(|o| {
                let d = o.as_dict().ok()?;
                (d.get(b"Type").ok()?.as_name().ok()? == b"ExtGState").then(|| d.clone())
            })
            .expect("an ExtGState");
        assert_eq!(
            gs.get(b"ca").unwrap().as_float().unwrap(),
            WATERMARK_OPACITY
        );
    }

    #[test]
    fn the_second_line_is_what_the_constant_says() {
        let decoded: String = WATERMARK_LINE_2_WINANSI
            .iter()
            .map(|&b| match b {
                0x96 => '–',
                b => b as char,
            })
            .collect();
        assert_eq!(decoded, WATERMARK_LINE_2);
    }

    #[test]
    fn an_encrypted_pdf_is_refused() {
        let pdf = crate::stamp::tests::encrypted(&crate::document::text_pdf(&[vec![]], None));
        let r = watermark_every_page("secret.pdf", &pdf);
        assert!(
            matches!(&r, Err(DraftError::Encrypted { name }) if name == "secret.pdf"),
            "{r:?}"
        );
    }

    #[test]
    fn a_bad_record_is_refused_naming_the_field() {
        let pdf = crate::document::text_pdf(&[vec![]], None);
        let r = make_draft("r.json", br#"{"institution": "X"}"#, "z.pdf", &pdf);
        let e = r.expect_err("an incomplete record");
        assert!(e.to_string().starts_with("r.json: "), "{e}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_non_pdf_is_refused_naming_the_file() {
        let r = watermark_every_page("photo.png", b"\x89PNG\r\n\x1a\n");
        assert!(
            matches!(&r, Err(DraftError::Document(crate::document::DocumentError::NotPdf { name, .. })) if name == "photo.png"),
            "{r:?}"
        );
    }
}
