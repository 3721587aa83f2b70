//! The stamp (Prüfvermerk): the verification link, a small QR code of it
//! and the code in print, added to the first page of a PDF by an
//! incremental update (`register --stamp`, issue 16).
//!
//! Owns: [`stamp_first_page`] (bytes in, bytes out), the placement
//! ([`StampPlace`], the `[stamp]` table of the configuration) and its
//! limits. The original bytes stay a byte-exact prefix of the output: the
//! changed page 1 (a new `/Contents` array and `/Annots`, its own
//! `/Resources`), two new content streams, a font and a Link annotation are
//! appended with a cross-reference section whose `/Prev` points to the
//! original one (ISO 32000-1, 7.5.6), so a signature or seal over the
//! original byte range stays valid. Objects are serialised by lopdf's
//! `IncrementalDocument`, which also writes the xref section (a table or a
//! stream, as the original has).
//! Must not do: touch the ledger or the blob store, put the access key on
//! the page (the URL stamped is the one without the key), or rewrite any
//! byte of the original.

use lopdf::{dictionary, Dictionary, Document, IncrementalDocument, LoadOptions, Object, Stream};
use serde::Deserialize;
use std::fmt::Write as _;

/// Millimetres to PDF points.
const PT_PER_MM: f32 = 72.0 / 25.4;
/// Smallest QR code side, in millimetres (below it a phone camera
/// struggles with a URL-sized code printed at 300 dpi).
pub const QR_SIZE_MM_MIN: f32 = 12.0;
/// Largest QR code side, in millimetres.
pub const QR_SIZE_MM_MAX: f32 = 60.0;
/// Largest offset of the stamp from the page edges, in millimetres.
pub const OFFSET_MM_MAX: f32 = 150.0;
/// Longest URL stamped, in characters (a base URL, a language and a code
/// are far shorter; the limit bounds the QR code's version).
pub const URL_CHARS_MAX: usize = 200;
/// Light modules around the QR code, part of its side (ISO/IEC 18004
/// asks for 4).
pub const QR_QUIET_ZONE_MODULES: usize = 4;
/// Gap between the QR code and the printed code, in millimetres.
const TEXT_GAP_MM: f32 = 2.0;
/// Size of the printed code (Courier-Bold), in points.
const CODE_FONT_PT: f32 = 9.0;
/// Size of the label above the code (Courier), in points.
const LABEL_FONT_PT: f32 = 7.0;
/// Courier's advance per glyph, in ems (every glyph).
const COURIER_ADVANCE_EM: f32 = 0.6;
/// The label printed above the code, in WinAnsi ("Prüfen / Verify").
const LABEL_WINANSI: &[u8] = b"Pr\xfcfen / Verify";

/// The page corner the stamp sits in.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Corner {
    /// Bottom left.
    BottomLeft,
    /// Bottom right (the default).
    #[default]
    BottomRight,
    /// Top left.
    TopLeft,
    /// Top right.
    TopRight,
}

/// Where the stamp goes on page 1 (`[stamp]` in the configuration,
/// `docs/configuration.md`): the corner, the distance of the QR code from
/// the two edges of that corner, and the QR code's side.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StampPlace {
    /// The corner. Default `bottom-right`.
    pub corner: Corner,
    /// Distance from the left or right edge, in millimetres. Default 15.
    pub offset_x_mm: f32,
    /// Distance from the bottom or top edge, in millimetres. Default 15.
    pub offset_y_mm: f32,
    /// Side of the QR code (quiet zone included), in millimetres. Default 20.
    pub qr_size_mm: f32,
}

impl Default for StampPlace {
    fn default() -> StampPlace {
        StampPlace {
            corner: Corner::BottomRight,
            offset_x_mm: 15.0,
            offset_y_mm: 15.0,
            qr_size_mm: 20.0,
        }
    }
}

impl StampPlace {
    /// Checks the limits; the error names the configuration key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(QR_SIZE_MM_MIN..=QR_SIZE_MM_MAX).contains(&self.qr_size_mm) {
            return Err((
                "stamp.qr_size_mm",
                format!(
                    "{} is not between {QR_SIZE_MM_MIN} and {QR_SIZE_MM_MAX}",
                    self.qr_size_mm
                ),
            ));
        }
        for (key, v) in [
            ("stamp.offset_x_mm", self.offset_x_mm),
            ("stamp.offset_y_mm", self.offset_y_mm),
        ] {
            if !(0.0..=OFFSET_MM_MAX).contains(&v) {
                return Err((key, format!("{v} is not between 0 and {OFFSET_MM_MAX}")));
            }
        }
        Ok(())
    }
}

/// What a registration with `--stamp` needs besides the documents: the
/// base of the verification URL and the placement.
#[derive(Clone, Debug, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StampRequest {
    /// Base URL of the verification service (`https://zeugnis.example`).
    pub base_url: String,
    /// Where on page 1.
    #[serde(with = "place_serde")]
    pub place: StampPlace,
}

/// The URL stamped on a document: the verification page of `code` in
/// `language`, without the access key.
pub fn verification_url(base_url: &str, language: &str, code_compact: &str) -> String {
    format!(
        "{}/{language}/{code_compact}",
        base_url.trim_end_matches('/')
    )
}

/// Why a PDF cannot be stamped. Every variant names the file.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum StampError {
    /// The PDF does not parse.
    #[error("{name}: cannot stamp: not a readable PDF: {reason}")]
    Unreadable { name: String, reason: String },
    /// The PDF is encrypted: an update would have to be encrypted with its
    /// key, and a protected file is not what a graduate should get.
    #[error("{name}: cannot stamp an encrypted PDF; register it without --stamp or give an unencrypted one")]
    Encrypted { name: String },
    /// lopdf found no cross-reference section to chain the update to (the
    /// file was reconstructed by scanning): an update would be broken.
    #[error("{name}: cannot stamp: the PDF has no readable cross-reference section (startxref) to append an update to")]
    NoXref { name: String },
    /// The PDF carries a certification signature (`/Perms /DocMDP`): any
    /// change to page content breaks it (ISO 32000-1, 12.8.2.2), even at
    /// its most permissive level.
    #[error("{name}: cannot stamp a certified PDF (a DocMDP certification signature forbids changing page content); register it without --stamp")]
    Certified { name: String },
    /// Page 1 is missing or not a page dictionary.
    #[error("{name}: cannot stamp: page 1 not found: {reason}")]
    NoFirstPage { name: String, reason: String },
    /// Page 1 is rotated (`/Rotate`), which the placement does not handle.
    #[error("{name}: cannot stamp: page 1 is rotated by {degrees} degrees; only unrotated pages are stamped")]
    Rotated { name: String, degrees: i64 },
    /// The stamp does not fit on page 1 at the configured place.
    #[error("{name}: cannot stamp: the stamp ({need_w_pt:.0} x {need_h_pt:.0} pt with its offsets) does not fit on page 1 ({page_w_pt:.0} x {page_h_pt:.0} pt); change [stamp] in the configuration")]
    DoesNotFit {
        name: String,
        need_w_pt: f32,
        need_h_pt: f32,
        page_w_pt: f32,
        page_h_pt: f32,
    },
    /// The URL is longer than [`URL_CHARS_MAX`] or not printable ASCII.
    #[error("cannot stamp the URL {url:?}: it must be printable ASCII of at most {URL_CHARS_MAX} characters")]
    BadUrl { url: String },
    /// The QR code could not be made.
    #[error("cannot stamp: QR code of the URL: {reason}")]
    Qr { reason: String },
    /// Writing the update failed.
    #[error("{name}: cannot write the stamped PDF: {reason}")]
    Write { name: String, reason: String },
}

/// What is stamped: the verification URL (without the key) and the code
/// as printed (`QNVC-FM3P-4VDF`).
#[derive(Clone, Copy, Debug)]
pub struct Stamp<'a> {
    /// The link target and QR code content.
    pub url: &'a str,
    /// The code printed beside the QR code.
    pub code_printed: &'a str,
}

/// Page 1 of `bytes` (the file `name`) with the stamp, as an incremental
/// update: the result starts with exactly `bytes`. The same input always
/// gives the same output (no dates, no random IDs), so a retried
/// registration hashes the same. Call [`crate::document::inspect`] first:
/// it bounds the parse in time and objects.
pub fn stamp_first_page(
    name: &str,
    bytes: &[u8],
    stamp: &Stamp,
    place: &StampPlace,
) -> Result<Vec<u8>, StampError> {
    if stamp.url.len() > URL_CHARS_MAX || !stamp.url.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(StampError::BadUrl {
            url: stamp.url.chars().take(URL_CHARS_MAX).collect(),
        });
    }
    let named = |reason: String| StampError::Unreadable {
        name: name.into(),
        reason,
    };
    let options = LoadOptions {
        strict: false,
        max_decompressed_size: Some(crate::document::PDF_STREAM_BYTES_MAX),
        ..LoadOptions::default()
    };
    let doc = Document::load_mem_with_options(bytes, options).map_err(|e| named(e.to_string()))?;
    if doc.is_encrypted() || doc.encryption_state.is_some() || doc.trailer.has(b"Encrypt") {
        return Err(StampError::Encrypted { name: name.into() });
    }
    if doc.xref_start == 0 {
        return Err(StampError::NoXref { name: name.into() });
    }
    let certified = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"Perms").ok())
        .and_then(|p| resolved_dict(&doc, p))
        .is_some_and(|perms| perms.has(b"DocMDP"));
    if certified {
        return Err(StampError::Certified { name: name.into() });
    }
    let no_page = |reason: String| StampError::NoFirstPage {
        name: name.into(),
        reason,
    };
    let page_id = *doc
        .get_pages()
        .get(&1)
        .ok_or_else(|| no_page("the page tree lists no page".into()))?;
    let mut page = doc
        .get_dictionary(page_id)
        .map_err(|e| no_page(format!("object {} {}: {e}", page_id.0, page_id.1)))?
        .clone();
    let rotate = attribute(&doc, &page, b"Rotate")
        .and_then(|o| o.as_i64().ok())
        .unwrap_or(0);
    if rotate.rem_euclid(360) != 0 {
        return Err(StampError::Rotated {
            name: name.into(),
            degrees: rotate,
        });
    }
    let visible = attribute(&doc, &page, b"CropBox")
        .or_else(|| attribute(&doc, &page, b"MediaBox"))
        .and_then(|o| page_box(&doc, &o))
        .ok_or_else(|| no_page("page 1 has no MediaBox".into()))?;

    let layout = Layout::new(name, visible, stamp, place)?;
    let qr = qr_modules(stamp.url)?;

    let mut inc = IncrementalDocument::create_from(bytes.to_vec(), doc);
    // The update's trailer is the original's with /Prev; an original xref
    // stream's filter parameters and a hybrid file's /XRefStm do not
    // describe the new section.
    for key in [&b"XRefStm"[..], b"DecodeParms", b"Filter"] {
        inc.new_document.trailer.remove(key);
    }
    let prev = inc.get_prev_documents().clone();

    // Resources of page 1 alone, with the stamp's font added under a name
    // the page does not use yet.
    let mut resources = attribute(&prev, &page, b"Resources")
        .and_then(|o| resolved_dict(&prev, &o))
        .unwrap_or_default();
    let mut fonts = resources
        .get(b"Font")
        .ok()
        .and_then(|o| resolved_dict(&prev, o))
        .unwrap_or_default();
    let code_font = unused_name(&fonts, "ZgStampCode");
    let label_font = unused_name(&fonts, "ZgStampLabel");
    let courier = |base: &str| {
        dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => Object::Name(base.as_bytes().to_vec()),
            "Encoding" => "WinAnsiEncoding",
        }
    };
    let code_font_id = inc.new_document.add_object(courier("Courier-Bold"));
    let label_font_id = inc.new_document.add_object(courier("Courier"));
    fonts.set(code_font.clone(), code_font_id);
    fonts.set(label_font.clone(), label_font_id);
    resources.set("Font", fonts);

    // The original content runs inside q ... Q, so whatever graphics state
    // it leaves behind does not move or colour the stamp.
    let open_id = inc
        .new_document
        .add_object(Stream::new(dictionary! {}, b"q\n".to_vec()));
    let content = layout.content(&qr, stamp, &code_font, &label_font);
    let stamp_id = inc
        .new_document
        .add_object(Stream::new(dictionary! {}, content));
    let mut contents = vec![Object::Reference(open_id)];
    match page.get(b"Contents") {
        Ok(Object::Reference(id)) => match prev.get_object(*id) {
            Ok(Object::Array(items)) => contents.extend(items.iter().cloned()),
            _ => contents.push(Object::Reference(*id)),
        },
        Ok(Object::Array(items)) => contents.extend(items.iter().cloned()),
        Ok(_) => return Err(no_page("page 1 has an invalid /Contents".into())),
        Err(_) => {}
    }
    contents.push(Object::Reference(stamp_id));

    let link = dictionary! {
        "Type" => "Annot",
        "Subtype" => "Link",
        "Rect" => layout.link_rect().iter().map(|v| Object::Real(*v)).collect::<Vec<_>>(),
        "Border" => vec![0.into(), 0.into(), 0.into()],
        "F" => 4,
        "P" => page_id,
        "A" => dictionary! {
            "Type" => "Action",
            "S" => "URI",
            "URI" => Object::string_literal(stamp.url),
        },
    };
    let link_id = inc.new_document.add_object(link);
    let mut annots = match page.get(b"Annots") {
        Ok(Object::Reference(id)) => prev
            .get_object(*id)
            .and_then(Object::as_array)
            .cloned()
            .unwrap_or_default(),
        Ok(Object::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    annots.push(Object::Reference(link_id));

    page.set("Resources", resources);
    page.set("Contents", contents);
    page.set("Annots", annots);
    inc.new_document
        .set_object(page_id, Object::Dictionary(page));

    let mut out = Vec::with_capacity(bytes.len() + 16 * 1024);
    inc.save_to(&mut out).map_err(|e| StampError::Write {
        name: name.into(),
        reason: e.to_string(),
    })?;
    debug_assert!(out.starts_with(bytes));
    Ok(out)
}

/// A page attribute, from the page or (inheritable ones) its ancestors;
/// references resolved.
pub(crate) fn attribute(doc: &Document, page: &Dictionary, key: &[u8]) -> Option<Object> {
    let resolve = |o: &Object| match o {
        Object::Reference(id) => doc.get_object(*id).ok().cloned(),
        other => Some(other.clone()),
    };
    if let Ok(v) = page.get(key) {
        return resolve(v);
    }
    let mut parent = page.get(b"Parent").and_then(Object::as_reference).ok();
    // The page tree is shallow; the bound stops a cycle.
    for _ in 0..32 {
        let node = doc.get_dictionary(parent?).ok()?;
        if let Ok(v) = node.get(key) {
            return resolve(v);
        }
        parent = node.get(b"Parent").and_then(Object::as_reference).ok();
    }
    None
}

/// A dictionary, inline or behind a reference.
pub(crate) fn resolved_dict(doc: &Document, o: &Object) -> Option<Dictionary> {
    match o {
        Object::Reference(id) => doc.get_dictionary(*id).ok().cloned(),
        Object::Dictionary(d) => Some(d.clone()),
        _ => None,
    }
}

/// `[x0 y0 x1 y1]` of a page box, normalised so x0 < x1 and y0 < y1.
pub(crate) fn page_box(doc: &Document, o: &Object) -> Option<[f32; 4]> {
    let items = o.as_array().ok()?;
    if items.len() != 4 {
        return None;
    }
    let mut v = [0.0_f32; 4];
    for (slot, item) in v.iter_mut().zip(items) {
        let item = match item {
            Object::Reference(id) => doc.get_object(*id).ok()?,
            other => other,
        };
        *slot = match item {
            Object::Integer(i) => *i as f32,
            Object::Real(r) => *r,
            _ => return None,
        };
    }
    Some([
        v[0].min(v[2]),
        v[1].min(v[3]),
        v[0].max(v[2]),
        v[1].max(v[3]),
    ])
}

/// `base`, or `base2`, `base3`, ...: the first name `dict` does not have.
pub(crate) fn unused_name(dict: &Dictionary, base: &str) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while dict.has(name.as_bytes()) {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// The dark modules of the QR code of `url` (error correction M), row by
/// row, without quiet zone: (modules per side, dark flags).
fn qr_modules(url: &str) -> Result<(usize, Vec<bool>), StampError> {
    let qr = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| StampError::Qr {
            reason: e.to_string(),
        })?;
    let n = qr.width();
    let dark = qr
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok((n, dark))
}

/// Positions of the stamp's parts on page 1, in points of the page's
/// default user space.
struct Layout {
    /// Lower-left corner of the QR code (quiet zone included).
    qr_x: f32,
    qr_y: f32,
    /// Side of the QR code.
    side: f32,
    /// Left end of the text lines.
    text_x: f32,
    /// Width of the widest text line.
    text_w: f32,
}

impl Layout {
    fn new(
        name: &str,
        visible: [f32; 4],
        stamp: &Stamp,
        place: &StampPlace,
    ) -> Result<Layout, StampError> {
        let [x0, y0, x1, y1] = visible;
        let side = place.qr_size_mm * PT_PER_MM;
        let (off_x, off_y) = (place.offset_x_mm * PT_PER_MM, place.offset_y_mm * PT_PER_MM);
        let gap = TEXT_GAP_MM * PT_PER_MM;
        let code_w = stamp.code_printed.len() as f32 * COURIER_ADVANCE_EM * CODE_FONT_PT;
        let label_w = LABEL_WINANSI.len() as f32 * COURIER_ADVANCE_EM * LABEL_FONT_PT;
        let text_w = code_w.max(label_w);
        let need_w = off_x + side + gap + text_w;
        let need_h = off_y + side;
        if need_w > x1 - x0 || need_h > y1 - y0 {
            return Err(StampError::DoesNotFit {
                name: name.into(),
                need_w_pt: need_w,
                need_h_pt: need_h,
                page_w_pt: x1 - x0,
                page_h_pt: y1 - y0,
            });
        }
        let (qr_x, text_x) = match place.corner {
            Corner::BottomRight | Corner::TopRight => {
                let qr_x = x1 - off_x - side;
                (qr_x, qr_x - gap - text_w)
            }
            Corner::BottomLeft | Corner::TopLeft => {
                let qr_x = x0 + off_x;
                (qr_x, qr_x + side + gap)
            }
        };
        let qr_y = match place.corner {
            Corner::BottomRight | Corner::BottomLeft => y0 + off_y,
            Corner::TopRight | Corner::TopLeft => y1 - off_y - side,
        };
        Ok(Layout {
            qr_x,
            qr_y,
            side,
            text_x,
            text_w,
        })
    }

    /// The Link annotation's rectangle: QR code and text.
    fn link_rect(&self) -> [f32; 4] {
        let left = self.qr_x.min(self.text_x);
        let right = (self.qr_x + self.side).max(self.text_x + self.text_w);
        [left, self.qr_y, right, self.qr_y + self.side]
    }

    /// The stamp's content stream (it starts by closing the `q` around the
    /// original content).
    fn content(
        &self,
        (n, dark): &(usize, Vec<bool>),
        stamp: &Stamp,
        code_font: &str,
        label_font: &str,
    ) -> Vec<u8> {
        let mut s = String::new();
        let total = n + 2 * QR_QUIET_ZONE_MODULES;
        let m = self.side / total as f32;
        let _ = writeln!(s, "Q\nq\n1 1 1 rg");
        let _ = writeln!(
            s,
            "{:.3} {:.3} {:.3} {:.3} re f",
            self.qr_x, self.qr_y, self.side, self.side
        );
        let _ = writeln!(s, "0 0 0 rg");
        // One rectangle per horizontal run of dark modules.
        for row in 0..*n {
            let mut col = 0;
            while col < *n {
                if !dark[row * n + col] {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < *n && dark[row * n + col] {
                    col += 1;
                }
                let x = self.qr_x + (QR_QUIET_ZONE_MODULES + start) as f32 * m;
                let y = self.qr_y + self.side - (QR_QUIET_ZONE_MODULES + row + 1) as f32 * m;
                let _ = writeln!(s, "{x:.3} {y:.3} {:.3} {m:.3} re", (col - start) as f32 * m);
            }
        }
        let _ = writeln!(s, "f");
        let mid = self.qr_y + self.side / 2.0;
        let mut bytes = s.into_bytes();
        let mut text = |font: &str, size: f32, y: f32, winansi: &[u8]| {
            let _ = write!(
                Bytes(&mut bytes),
                "BT /{font} {size} Tf {:.3} {y:.3} Td (",
                self.text_x
            );
            for &b in winansi {
                if matches!(b, b'(' | b')' | b'\\') {
                    bytes.push(b'\\');
                }
                bytes.push(b);
            }
            bytes.extend_from_slice(b") Tj ET\n");
        };
        text(label_font, LABEL_FONT_PT, mid + 2.0, LABEL_WINANSI);
        text(
            code_font,
            CODE_FONT_PT,
            mid - CODE_FONT_PT - 1.0,
            stamp.code_printed.as_bytes(),
        );
        bytes.extend_from_slice(b"Q\n");
        bytes
    }
}

/// `write!` into a byte vector (also used by `draft`).
pub(crate) struct Bytes<'a>(pub(crate) &'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// [`StampPlace`] over the control socket: the same fields as in the
/// configuration.
mod place_serde {
    use super::{Corner, StampPlace};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wire {
        corner: String,
        offset_x_mm: f32,
        offset_y_mm: f32,
        qr_size_mm: f32,
    }

    pub fn serialize<S: Serializer>(p: &StampPlace, s: S) -> Result<S::Ok, S::Error> {
        let corner = match p.corner {
            Corner::BottomLeft => "bottom-left",
            Corner::BottomRight => "bottom-right",
            Corner::TopLeft => "top-left",
            Corner::TopRight => "top-right",
        };
        Wire {
            corner: corner.into(),
            offset_x_mm: p.offset_x_mm,
            offset_y_mm: p.offset_y_mm,
            qr_size_mm: p.qr_size_mm,
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StampPlace, D::Error> {
        let w = Wire::deserialize(d)?;
        let corner = match w.corner.as_str() {
            "bottom-left" => Corner::BottomLeft,
            "bottom-right" => Corner::BottomRight,
            "top-left" => Corner::TopLeft,
            "top-right" => Corner::TopRight,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "corner {other:?}: expected bottom-left, bottom-right, top-left or top-right"
                )))
            }
        };
        let place = StampPlace {
            corner,
            offset_x_mm: w.offset_x_mm,
            offset_y_mm: w.offset_y_mm,
            qr_size_mm: w.qr_size_mm,
        };
        place
            .validate()
            .map_err(|(key, reason)| serde::de::Error::custom(format!("{key}: {reason}")))?;
        Ok(place)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const URL: &str = "https://verify.test/de/QNVCFM3P4VDF";

    fn stamp() -> Stamp<'static> {
        Stamp {
            url: URL,
            code_printed: "QNVC-FM3P-4VDF",
        }
    }

    fn original() -> Vec<u8> {
        crate::document::text_pdf(&[vec!["Zeugnis".into()], vec!["Seite 2".into()]], None)
    }

    /// The URI of every Link annotation on page 1.
    fn link_uris(pdf: &[u8]) -> Vec<String> {
        let doc = Document::load_mem(pdf).expect("stamped PDF parses");
        let page = doc.get_pages()[&1];
        let page = doc.get_dictionary(page).expect("page 1");
        let annots = match page.get(b"Annots").expect("Annots") {
            Object::Array(a) => a.clone(),
            Object::Reference(id) => doc.get_object(*id).unwrap().as_array().unwrap().clone(),
            other => panic!("Annots is {other:?}"),
        };
        annots
            .iter()
            .filter_map(|a| {
                let d = doc.get_dictionary(a.as_reference().ok()?).ok()?;
                let action = d.get(b"A").ok()?.as_dict().ok()?;
                Some(String::from_utf8_lossy(action.get(b"URI").ok()?.as_str().ok()?).into_owned())
            })
            .collect()
    }

    #[test]
    fn the_original_is_a_prefix_and_page_one_links_to_the_url() {
        let pdf = original();
        let out = stamp_first_page("z.pdf", &pdf, &stamp(), &StampPlace::default()).unwrap();
        assert!(out.starts_with(&pdf));
        assert_eq!(link_uris(&out), vec![URL.to_string()]);
        let tail = String::from_utf8_lossy(&out[pdf.len()..]).into_owned();
        assert!(tail.contains("/Prev "), "no /Prev in the update: {tail}");
        assert!(tail.contains("(QNVC-FM3P-4VDF) Tj"), "code not printed");
        assert!(!tail.contains("%PDF-"), "a second header in the update");
        let doc = Document::load_mem(&out).unwrap();
        assert_eq!(doc.get_pages().len(), 2);
        // Page 2 is untouched: no Annots.
        let p2 = doc.get_dictionary(doc.get_pages()[&2]).unwrap();
        assert!(!p2.has(b"Annots"));
    }

    #[test]
    fn stamping_is_deterministic() {
        let pdf = original();
        let a = stamp_first_page("z.pdf", &pdf, &stamp(), &StampPlace::default()).unwrap();
        let b = stamp_first_page("z.pdf", &pdf, &stamp(), &StampPlace::default()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn an_xref_stream_original_gets_an_xref_stream_update() {
        let mut doc = Document::load_mem(&original()).unwrap();
        let mut modern = Vec::new();
        doc.save_modern(&mut modern).unwrap();
        let out = stamp_first_page("m.pdf", &modern, &stamp(), &StampPlace::default()).unwrap();
        assert!(out.starts_with(&modern));
        assert_eq!(link_uris(&out), vec![URL.to_string()]);
    }

    #[test]
    fn a_second_stamp_keeps_the_first_link() {
        let pdf = original();
        let once = stamp_first_page("z.pdf", &pdf, &stamp(), &StampPlace::default()).unwrap();
        let other = "https://verify.test/en/QNVCFM3P4VDF";
        let s2 = Stamp {
            url: other,
            ..stamp()
        };
        let place = StampPlace {
            corner: Corner::TopLeft,
            ..StampPlace::default()
        };
        let twice = stamp_first_page("z.pdf", &once, &s2, &place).unwrap();
        assert!(twice.starts_with(&once));
        assert_eq!(link_uris(&twice), vec![URL.to_string(), other.to_string()]);
    }

    #[test]
    fn the_link_sits_in_the_configured_corner() {
        let pdf = original(); // A4: 595 x 842 pt
        for (corner, left, bottom) in [
            (Corner::BottomRight, false, true),
            (Corner::BottomLeft, true, true),
            (Corner::TopRight, false, false),
            (Corner::TopLeft, true, false),
        ] {
            let place = StampPlace {
                corner,
                ..StampPlace::default()
            };
            let out = stamp_first_page("z.pdf", &pdf, &stamp(), &place).unwrap();
            let doc = Document::load_mem(&out).unwrap();
            let page = doc.get_dictionary(doc.get_pages()[&1]).unwrap();
            let annot = page.get(b"Annots").unwrap().as_array().unwrap()[0]
                .as_reference()
                .unwrap();
            let rect: Vec<f32> = doc
                .get_dictionary(annot)
                .unwrap()
                .get(b"Rect")
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_float().unwrap())
                .collect();
            let margin = 15.0 * PT_PER_MM;
            let side = 20.0 * PT_PER_MM;
            if left {
                assert!((rect[0] - margin).abs() < 0.01, "{corner:?}: {rect:?}");
            } else {
                assert!(
                    (rect[2] - (595.0 - margin)).abs() < 0.5,
                    "{corner:?}: {rect:?}"
                );
            }
            if bottom {
                assert!((rect[1] - margin).abs() < 0.01, "{corner:?}: {rect:?}");
            } else {
                assert!(
                    (rect[3] - (842.0 - margin)).abs() < 0.5,
                    "{corner:?}: {rect:?}"
                );
            }
            assert!((rect[3] - rect[1] - side).abs() < 0.01);
        }
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_file() {
        let not = stamp_first_page(
            "x.pdf",
            b"%PDF-1.7 nothing",
            &stamp(),
            &StampPlace::default(),
        );
        assert!(
            matches!(&not, Err(StampError::Unreadable { name, .. }) if name == "x.pdf"),
            "{not:?}"
        );
        let long = "https://verify.test/".to_string() + &"a".repeat(URL_CHARS_MAX);
        let s = Stamp {
            url: &long,
            ..stamp()
        };
        assert!(matches!(
            stamp_first_page("x.pdf", &original(), &s, &StampPlace::default()),
            Err(StampError::BadUrl { .. })
        ));
        let huge = StampPlace {
            offset_x_mm: 150.0,
            offset_y_mm: 150.0,
            qr_size_mm: 60.0,
            ..StampPlace::default()
        };
        let tiny = crate::document::text_pdf(&[vec![]], None);
        // A4 is 210 mm wide: 150 + 60 mm and the text do not fit.
        let r = stamp_first_page("t.pdf", &tiny, &stamp(), &huge);
        assert!(
            matches!(&r, Err(StampError::DoesNotFit { name, .. }) if name == "t.pdf"),
            "{r:?}"
        );
    }

    #[test]
    fn a_rotated_first_page_is_refused() {
        let mut doc = Document::load_mem(&original()).unwrap();
        let p1 = doc.get_pages()[&1];
        doc.get_dictionary_mut(p1).unwrap().set("Rotate", 90);
        let mut rotated = Vec::new();
        doc.save_to(&mut rotated).unwrap();
        let r = stamp_first_page("r.pdf", &rotated, &stamp(), &StampPlace::default());
        assert!(
            matches!(r, Err(StampError::Rotated { degrees: 90, .. })),
            "{r:?}"
        );
    }

    /// `original()` encrypted with an owner password only (the common
    /// "protected" PDF: it opens without a password).
    pub(crate) fn encrypted(pdf: &[u8]) -> Vec<u8> {
        let mut doc = Document::load_mem(pdf).unwrap();
        doc.trailer.set(
            "ID",
            vec![
                Object::string_literal(b"0123456789abcdef".to_vec()),
                Object::string_literal(b"0123456789abcdef".to_vec()),
            ],
        );
        let state = lopdf::EncryptionState::try_from(lopdf::EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password: "",
            key_length: 128,
            permissions: lopdf::Permissions::all(),
        })
        .unwrap();
        doc.encrypt(&state).unwrap();
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn an_encrypted_pdf_is_refused() {
        let pdf = encrypted(&original());
        let r = stamp_first_page("secret.pdf", &pdf, &stamp(), &StampPlace::default());
        assert!(
            matches!(&r, Err(StampError::Encrypted { name }) if name == "secret.pdf"),
            "{r:?}"
        );
    }

    #[test]
    fn a_certified_pdf_is_refused() {
        let mut doc = Document::load_mem(&original()).unwrap();
        let sig = doc.add_object(dictionary! { "Type" => "Sig" });
        let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        doc.get_dictionary_mut(root)
            .unwrap()
            .set("Perms", dictionary! { "DocMDP" => sig });
        let mut certified = Vec::new();
        doc.save_to(&mut certified).unwrap();
        let r = stamp_first_page("cert.pdf", &certified, &stamp(), &StampPlace::default());
        assert!(
            matches!(&r, Err(StampError::Certified { name }) if name == "cert.pdf"),
            "{r:?}"
        );
    }

    #[test]
    fn place_limits_name_the_key() {
        let p = StampPlace {
            qr_size_mm: 5.0,
            ..StampPlace::default()
        };
        assert_eq!(p.validate().unwrap_err().0, "stamp.qr_size_mm");
        let p = StampPlace {
            offset_y_mm: -1.0,
            ..StampPlace::default()
        };
        assert_eq!(p.validate().unwrap_err().0, "stamp.offset_y_mm");
        assert!(StampPlace::default().validate().is_ok());
    }
}
