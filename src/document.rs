//! The digital image as a document: the checks a PDF must pass before it is
//! registered (it parses, within limits, and has pages), whether it
//! declares PDF/A, and a small text PDF maker for tests, drafts and the
//! exam office's first trials.
//!
//! Owns: [`inspect`] (what a registration accepts as a PDF) and its limits
//! ([`PDF_OBJECTS_MAX`], [`PDF_PARSE_MS_MAX`], [`XMP_BYTES_MAX`]),
//! [`declares_pdfa`], [`text_pdf`].
//! Must not do: touch the ledger or the blob store, or read scans (scans
//! are hostile input and are parsed only in the decode worker,
//! `scans::decode`). The documents checked here come from the exam office
//! (the admin API or the operator's command line); the limits still bound
//! what a broken generator can cost.

use lopdf::{dictionary, Document, LoadOptions, Object, Stream};
use std::time::Duration;

/// Most objects a registered PDF may hold (a 20-page certificate with fonts
/// and a seal has a few hundred).
pub const PDF_OBJECTS_MAX: usize = 100_000;
/// Most time parsing one PDF may take, in milliseconds. The parse runs on
/// its own thread; past this time the registration is refused and the
/// thread is left to finish on its own (bounded by the blob size limit).
pub const PDF_PARSE_MS_MAX: u64 = 10_000;
/// Largest XMP metadata stream read when looking for the PDF/A
/// declaration, in bytes (decompressed).
pub const XMP_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Largest single stream lopdf may inflate while loading, in bytes.
pub const PDF_STREAM_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Why a file is not accepted as a PDF document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DocumentError {
    /// The file does not start like a PDF (a PNG, a Word file, ...).
    #[error("{name}: not a PDF (it starts with {head}); a digital image must be a PDF")]
    NotPdf { name: String, head: String },
    /// It starts with `%PDF-` but does not parse.
    #[error("{name}: not a readable PDF: {reason}")]
    Unreadable { name: String, reason: String },
    /// It parses but has no page.
    #[error("{name}: the PDF has no page")]
    NoPages { name: String },
    /// More objects than [`PDF_OBJECTS_MAX`].
    #[error("{name}: the PDF has {objects} objects, more than {PDF_OBJECTS_MAX}")]
    TooManyObjects { name: String, objects: usize },
    /// Parsing took longer than [`PDF_PARSE_MS_MAX`].
    #[error("{name}: reading the PDF took longer than {PDF_PARSE_MS_MAX} ms")]
    Timeout { name: String },
}

/// What [`inspect`] found out about an accepted PDF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdfFacts {
    /// Pages.
    pub pages: usize,
    /// The PDF/A part and conformance declared in the XMP metadata
    /// (`pdfaid:part`, e.g. `2B`), if any.
    pub pdfa: Option<String>,
}

impl PdfFacts {
    /// The warning a registration prints for a PDF without a PDF/A
    /// declaration (`None` when it declares one).
    pub fn warning(&self, name: &str) -> Option<String> {
        match self.pdfa {
            Some(_) => None,
            None => Some(format!(
                "{name}: the PDF does not declare PDF/A (no pdfaid:part in its XMP metadata); \
                 accepted, but a 50-year archive should hold PDF/A"
            )),
        }
    }
}

/// Checks that `bytes` (the file `name`) is a PDF that parses within the
/// limits and has at least one page; reports its pages and PDF/A
/// declaration.
pub fn inspect(name: &str, bytes: &[u8]) -> Result<PdfFacts, DocumentError> {
    let start = bytes.iter().take(1024).position(|&b| b == b'%');
    if !matches!(start, Some(i) if bytes[i..].starts_with(b"%PDF-")) {
        return Err(DocumentError::NotPdf {
            name: name.into(),
            head: format!(
                "{:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(8)])
            ),
        });
    }
    let owned = bytes.to_vec();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("pdf-inspect".into())
        .spawn(move || {
            let _ = tx.send(inspect_parsed(&owned));
        });
    if let Err(e) = spawned {
        return Err(DocumentError::Unreadable {
            name: name.into(),
            reason: format!("cannot start the parser thread: {e}"),
        });
    }
    match rx.recv_timeout(Duration::from_millis(PDF_PARSE_MS_MAX)) {
        Ok(Ok(facts)) => Ok(facts),
        Ok(Err(e)) => Err(e.named(name)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            Err(DocumentError::Timeout { name: name.into() })
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(DocumentError::Unreadable {
            name: name.into(),
            reason: "the parser stopped without an answer".into(),
        }),
    }
}

impl DocumentError {
    fn named(self, name: &str) -> DocumentError {
        match self {
            DocumentError::Unreadable { reason, .. } => DocumentError::Unreadable {
                name: name.into(),
                reason,
            },
            DocumentError::NoPages { .. } => DocumentError::NoPages { name: name.into() },
            DocumentError::TooManyObjects { objects, .. } => DocumentError::TooManyObjects {
                name: name.into(),
                objects,
            },
            other => other,
        }
    }
}

fn load(bytes: &[u8]) -> Result<Document, DocumentError> {
    let options = LoadOptions {
        strict: false,
        max_decompressed_size: Some(PDF_STREAM_BYTES_MAX),
        ..LoadOptions::default()
    };
    Document::load_mem_with_options(bytes, options).map_err(|e| DocumentError::Unreadable {
        name: String::new(),
        reason: e.to_string(),
    })
}

fn inspect_parsed(bytes: &[u8]) -> Result<PdfFacts, DocumentError> {
    let doc = load(bytes)?;
    if doc.objects.len() > PDF_OBJECTS_MAX {
        return Err(DocumentError::TooManyObjects {
            name: String::new(),
            objects: doc.objects.len(),
        });
    }
    let pages = doc.get_pages().len();
    if pages == 0 {
        return Err(DocumentError::NoPages {
            name: String::new(),
        });
    }
    Ok(PdfFacts {
        pages,
        pdfa: pdfa_of(&doc),
    })
}

/// The PDF/A declaration of `bytes` (`pdfaid:part` + `pdfaid:conformance`,
/// e.g. `2B`), `None` if it declares none or does not parse. Used by the
/// status report for registered documents.
pub fn declares_pdfa(bytes: &[u8]) -> Option<String> {
    load(bytes).ok().as_ref().and_then(pdfa_of)
}

fn pdfa_of(doc: &Document) -> Option<String> {
    let catalog = doc.catalog().ok()?;
    let id = catalog.get(b"Metadata").ok()?.as_reference().ok()?;
    let stream = doc.get_object(id).ok()?.as_stream().ok()?;
    let xmp = match stream.filters() {
        Ok(f) if !f.is_empty() => stream.decompressed_content_with_limit(XMP_BYTES_MAX).ok()?,
        _ => stream.content.clone(),
    };
    let text = String::from_utf8_lossy(&xmp[..xmp.len().min(XMP_BYTES_MAX)]);
    let part = xmp_value(&text, "pdfaid:part")?;
    let conformance = xmp_value(&text, "pdfaid:conformance").unwrap_or_default();
    Some(format!("{part}{conformance}"))
}

/// The value of an XMP property written either as an attribute
/// (`pdfaid:part="2"`) or as an element (`<pdfaid:part>2</pdfaid:part>`).
fn xmp_value(xmp: &str, name: &str) -> Option<String> {
    let attr = format!("{name}=");
    if let Some(i) = xmp.find(&attr) {
        let rest = &xmp[i + attr.len()..];
        let quote = rest.chars().next()?;
        if quote == '"' || quote == '\'' {
            let value = rest[1..].split(quote).next()?;
            return Some(value.trim().to_string());
        }
    }
    let open = format!("<{name}>");
    let i = xmp.find(&open)?;
    let rest = &xmp[i + open.len()..];
    let value = rest.split('<').next()?;
    Some(value.trim().to_string())
}

/// One PDF with the pages of `first` followed by the pages of `second`
/// (the print bundle: print version, then its cover sheet). Inherited page
/// attributes (`Resources`, `MediaBox`, `CropBox`, `Rotate`) are copied onto
/// each page so nothing depends on the page tree it came from. Both inputs
/// must pass [`inspect`]-like parsing; errors name `first_name` or
/// `second_name`.
pub fn concatenate(
    first_name: &str,
    first: &[u8],
    second_name: &str,
    second: &[u8],
) -> Result<Vec<u8>, DocumentError> {
    let mut a = load(first).map_err(|e| e.named(first_name))?;
    let mut b = load(second).map_err(|e| e.named(second_name))?;
    let unreadable = |name: &str, reason: String| DocumentError::Unreadable {
        name: name.into(),
        reason,
    };
    let a_pages = a
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(Object::as_reference)
        .map_err(|e| unreadable(first_name, format!("no page tree: {e}")))?;
    b.renumber_objects_with(a.max_id + 1);
    let b_page_ids: Vec<lopdf::ObjectId> = b.get_pages().into_values().collect();
    if b_page_ids.is_empty() {
        return Err(DocumentError::NoPages {
            name: second_name.into(),
        });
    }
    let mut flattened = Vec::new();
    for id in &b_page_ids {
        let mut page = b
            .get_dictionary(*id)
            .map_err(|e| unreadable(second_name, format!("page {id:?}: {e}")))?
            .clone();
        for key in [&b"Resources"[..], b"MediaBox", b"CropBox", b"Rotate"] {
            if page.get(key).is_err() {
                if let Some(v) = inherited(&b, &page, key) {
                    page.set(key.to_vec(), v);
                }
            }
        }
        page.set("Parent", a_pages);
        flattened.push((*id, page));
    }
    a.max_id = b.max_id;
    a.objects.extend(b.objects);
    for (id, page) in flattened {
        a.objects.insert(id, Object::Dictionary(page));
    }
    let pages = a
        .get_dictionary_mut(a_pages)
        .map_err(|e| unreadable(first_name, format!("page tree: {e}")))?;
    let mut kids = pages
        .get(b"Kids")
        .and_then(Object::as_array)
        .cloned()
        .map_err(|e| unreadable(first_name, format!("page tree: {e}")))?;
    kids.extend(b_page_ids.iter().map(|id| Object::Reference(*id)));
    let count = pages.get(b"Count").and_then(Object::as_i64).unwrap_or(0);
    pages.set("Kids", kids);
    pages.set("Count", count + b_page_ids.len() as i64);
    a.prune_objects();
    let mut out = Vec::new();
    a.save_to(&mut out)
        .map_err(|e| unreadable(first_name, format!("cannot write the bundle: {e}")))?;
    Ok(out)
}

/// The value of an inheritable page attribute from the page's ancestors.
fn inherited(doc: &Document, page: &lopdf::Dictionary, key: &[u8]) -> Option<Object> {
    let mut parent = page.get(b"Parent").and_then(Object::as_reference).ok();
    for _ in 0..32 {
        let node = doc.get_dictionary(parent?).ok()?;
        if let Ok(v) = node.get(key) {
            return Some(v.clone());
        }
        parent = node.get(b"Parent").and_then(Object::as_reference).ok();
    }
    None
}

/// An A4 PDF with one page per entry of `pages`, each line of an entry
/// printed in Helvetica 12 pt from the top; with `pdfa`, an XMP metadata
/// stream declaring that PDF/A part (e.g. `"2B"`; only the declaration:
/// the file is not made conforming). For tests, drafts and trials; the
/// text is written in WinAnsi (characters outside it print as `?`).
pub fn text_pdf(pages: &[Vec<String>], pdfa: Option<&str>) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
    let mut kids = Vec::new();
    for lines in pages {
        let mut content = String::from("BT /F1 12 Tf 14 TL 60 780 Td\n");
        for line in lines {
            content.push_str(&format!("({}) '\n", pdf_string(line)));
        }
        content.push_str("ET\n");
        let stream = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        kids.push(Object::Reference(doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => stream,
            "Resources" => resources,
        })));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
    if let Some(part) = pdfa {
        let (number, conformance) = part.split_at(part.len().min(1));
        let xmp = format!(
            "<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
             <x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
             <rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\
             <pdfaid:part>{number}</pdfaid:part><pdfaid:conformance>{conformance}</pdfaid:conformance>\
             </rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
        );
        let meta = doc.add_object(Stream::new(
            dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
            xmp.into_bytes(),
        ));
        catalog.set("Metadata", meta);
    }
    let catalog_id = doc.add_object(catalog);
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .expect("writing a PDF to memory does not fail");
    out
}

/// `s` as the inside of a PDF literal string: WinAnsi bytes, with `(`, `)`
/// and `\` escaped.
fn pdf_string(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (' '..='~').contains(&c) => out.push(c),
            c if (c as u32) >= 0xA0 && (c as u32) <= 0xFF => {
                out.push_str(&format!("\\{:03o}", c as u32));
            }
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> Vec<Vec<String>> {
        vec![vec![text.to_string()]]
    }

    #[test]
    fn a_text_pdf_is_accepted_and_counts_its_pages() {
        let pdf = text_pdf(&[vec!["one".into()], vec!["two".into()]], None);
        let facts = inspect("a.pdf", &pdf).expect("accepted");
        assert_eq!(facts.pages, 2);
        assert_eq!(facts.pdfa, None);
        assert!(facts.warning("a.pdf").expect("warns").contains("a.pdf"));
    }

    #[test]
    fn a_pdfa_declaration_is_found() {
        let pdf = text_pdf(&page("Zeugnis"), Some("2B"));
        assert_eq!(
            inspect("a.pdf", &pdf).expect("ok").pdfa.as_deref(),
            Some("2B")
        );
        assert_eq!(declares_pdfa(&pdf).as_deref(), Some("2B"));
    }

    #[test]
    fn xmp_values_as_attribute_or_element() {
        let cases = [
            (
                "<x pdfaid:part=\"3\" pdfaid:conformance='A'/>",
                Some("3"),
                Some("A"),
            ),
            ("<pdfaid:part> 1 </pdfaid:part>", Some("1"), None),
            ("<dc:title>x</dc:title>", None, None),
        ];
        for (xmp, part, conf) in cases {
            assert_eq!(xmp_value(xmp, "pdfaid:part").as_deref(), part, "{xmp}");
            assert_eq!(
                xmp_value(xmp, "pdfaid:conformance").as_deref(),
                conf,
                "{xmp}"
            );
        }
    }

    #[test]
    fn non_pdfs_are_refused_naming_the_file() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let e = inspect("photo.png", png).expect_err("a PNG");
        assert!(
            matches!(&e, DocumentError::NotPdf { name, .. } if name == "photo.png"),
            "{e}"
        );
        assert!(e.to_string().starts_with("photo.png: not a PDF"), "{e}");
        for bare in [
            &b"%PDF-1.7\n"[..],
            b"%PDF-1.7\nthe digital image\n%%EOF\n",
            b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
        ] {
            let e = inspect("bare.pdf", bare).expect_err("no pages");
            assert!(
                matches!(&e, DocumentError::Unreadable { name, .. } | DocumentError::NoPages { name } if name == "bare.pdf"),
                "{e}"
            );
        }
    }

    #[test]
    fn concatenation_keeps_every_page_in_order() {
        let a = text_pdf(
            &[vec!["print 1".into()], vec!["print 2".into()]],
            Some("2B"),
        );
        let b = text_pdf(&page("cover sheet"), None);
        let both = concatenate("a.pdf", &a, "b.pdf", &b).expect("bundle");
        let facts = inspect("bundle.pdf", &both).expect("a PDF");
        assert_eq!(facts.pages, 3);
        assert_eq!(
            facts.pdfa.as_deref(),
            Some("2B"),
            "the first file's catalog is kept"
        );
        let doc = Document::load_mem(&both).expect("load");
        let texts: Vec<String> = doc
            .get_pages()
            .keys()
            .map(|n| doc.extract_text(&[*n]).expect("text"))
            .collect();
        assert!(
            texts[0].contains("print 1") && texts[1].contains("print 2"),
            "{texts:?}"
        );
        assert!(texts[2].contains("cover sheet"), "{texts:?}");
        let e = concatenate("a.pdf", b"%PDF-1.7\n", "b.pdf", &b).expect_err("bad first");
        assert!(e.to_string().starts_with("a.pdf: "), "{e}");
    }

    #[test]
    fn latin1_text_is_escaped() {
        assert_eq!(pdf_string("Jörg (x)\\"), "J\\366rg \\(x\\)\\\\");
        assert_eq!(pdf_string("€"), "?");
    }
}
