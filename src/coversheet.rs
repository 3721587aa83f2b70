//! Cover sheets (Deckblätter): the A4 PDF that the scanning station prints and
//! scans in front of a signed original, and the key that authenticates it.
//!
//! Owns: the sheet's layout, the QR code (text `CODE:TAG`, error correction
//! level Q, 4-module quiet zone) embedded as a 1-bit DeviceGray image
//! XObject, WinAnsi text encoding for the standard fonts, and the
//! cover-sheet key (`<data>/coversheet.key`) with its tag.
//!
//! Must not: parse PDFs or images from outside (reading a scanned sheet
//! back is the intake's job: `scans::decode`, in the decode worker), touch
//! the ledger or the clock (callers write the bytes; the same sheet renders
//! to the same bytes), parse codes leniently (the `codes` module does that;
//! here a code must already be canonical).

use std::fmt::Write as _;

use lopdf::{dictionary, Document, Object, Stream};

/// Characters of a code (Crockford base32 without check symbol).
pub const CODE_CHARS: usize = 12;
/// Most characters of the institution's name printed on the sheet.
pub const INSTITUTION_CHARS_MAX: usize = 120;
/// Most characters of the verification URL printed on the sheet.
pub const VERIFY_URL_CHARS_MAX: usize = 240;
/// A4 in PDF points (1/72 inch).
pub const PAGE_WIDTH_PT: f32 = 595.0;
pub const PAGE_HEIGHT_PT: f32 = 842.0;
/// The QR code's square on the page, quiet zone included (250 pt = 8.8 cm).
pub const QR_SIDE_PT: f32 = 250.0;
pub const QR_LEFT_PT: f32 = (PAGE_WIDTH_PT - QR_SIDE_PT) / 2.0;
pub const QR_BOTTOM_PT: f32 = 420.0;
/// Modules of light margin around the QR code (the standard's minimum).
pub const QR_QUIET_ZONE_MODULES: usize = 4;
/// Image pixels per QR module: nearest-neighbour scaling so every module is a
/// sharp square even in viewers and printers that interpolate images.
pub const QR_PIXELS_PER_MODULE: usize = 8;

/// Crockford base32 as docs/design.md ("Codes") defines it: 0-9, A-Z without I, L, O, U.
const CROCKFORD_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

const MARGIN_LEFT_PT: f32 = 60.0;
const TEXT_WIDTH_PT: f32 = PAGE_WIDTH_PT - 2.0 * MARGIN_LEFT_PT;
/// Courier's advance width is 600/1000 em for every glyph, which lets the
/// code be centred without a font metrics table.
const COURIER_ADVANCE_EM: f32 = 0.6;
const CODE_FONT_PT: f32 = 36.0;

/// What goes on one cover sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoverSheet<'a> {
    /// The canonical code: 12 characters, upper case, no hyphens.
    pub code: &'a str,
    /// The institution's name as the sheet prints it, so the station can see
    /// that the sheet belongs to the original in front of it.
    pub institution: &'a str,
    /// `transcript`, `degree_deed`, `diploma_supplement` or `certificate`.
    pub document_kind: &'a str,
    /// Printed under the instructions when given, so a reader of the paper can
    /// find the verification page.
    pub verify_url: Option<&'a str>,
    /// The cover-sheet tag of the code ([`CoverSheetKey::tag`]); when
    /// given, the QR code carries `CODE:TAG` and the intake accepts the
    /// sheet as authentic. Without it, the QR code carries the bare code,
    /// which the intake does not accept by default.
    pub authenticator: Option<&'a str>,
}

/// Why a cover sheet could not be rendered or a QR code not be searched for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoverSheetError {
    #[error(
        "code {code:?} is not {CODE_CHARS} Crockford base32 characters \
         (0-9 and A-Z without I, L, O, U; upper case, no hyphens)"
    )]
    InvalidCode { code: String },
    #[error(
        "unknown document kind {kind:?} (expected transcript, degree_deed, \
         diploma_supplement or certificate)"
    )]
    UnknownDocumentKind { kind: String },
    #[error("{field} is empty")]
    EmptyField { field: &'static str },
    #[error("{field} has {chars} characters; at most {chars_max} fit on the sheet")]
    FieldTooLong {
        field: &'static str,
        chars: usize,
        chars_max: usize,
    },
    #[error("{field} contains {character:?} (U+{:04X}), which the sheet's standard fonts (WinAnsi) cannot print", *character as u32)]
    Unprintable {
        field: &'static str,
        character: char,
    },
    #[error("QR code for {code}: {reason}")]
    QrEncode { code: String, reason: String },
    #[error("writing the PDF: {reason}")]
    PdfWrite { reason: String },
}

/// The German and English names of a document kind.
fn document_kind_names(kind: &str) -> Option<(&'static str, &'static str)> {
    match kind {
        "transcript" => Some(("Zeugnis", "Transcript")),
        "degree_deed" => Some(("Urkunde", "Degree deed")),
        "diploma_supplement" => Some(("Diploma Supplement", "Diploma Supplement")),
        "certificate" => Some(("Zertifikat", "Certificate")),
        _ => None,
    }
}

/// Checks that `code` is canonical: exactly 12 upper-case Crockford characters.
fn check_code(code: &str) -> Result<(), CoverSheetError> {
    let canonical =
        code.len() == CODE_CHARS && code.bytes().all(|byte| CROCKFORD_ALPHABET.contains(&byte));
    if canonical {
        Ok(())
    } else {
        Err(CoverSheetError::InvalidCode {
            code: code.to_owned(),
        })
    }
}

/// `QNVCFM3P4VDF` → `QNVC-FM3P-4VDF`; `code` must have passed [`check_code`].
fn code_printed(code: &str) -> String {
    let mut printed = String::with_capacity(CODE_CHARS + 2);
    for (index, character) in code.chars().enumerate() {
        if index > 0 && index % 4 == 0 {
            printed.push('-');
        }
        printed.push(character);
    }
    printed
}

/// The WinAnsiEncoding byte for `character` (PDF 32000-1, Annex D.2), or None
/// for characters the standard fonts cannot print.
fn winansi_byte(character: char) -> Option<u8> {
    let code = character as u32;
    match code {
        0x20..=0x7E => Some(code as u8),
        0xA0..=0xFF => Some(code as u8),
        _ => {
            // 0x80..=0x9F of WinAnsi (Windows-1252); 0x81, 0x8D, 0x8F, 0x90 and 0x9D are unused.
            const HIGH: [(char, u8); 27] = [
                ('€', 0x80),
                ('‚', 0x82),
                ('ƒ', 0x83),
                ('„', 0x84),
                ('…', 0x85),
                ('†', 0x86),
                ('‡', 0x87),
                ('ˆ', 0x88),
                ('‰', 0x89),
                ('Š', 0x8A),
                ('‹', 0x8B),
                ('Œ', 0x8C),
                ('Ž', 0x8E),
                ('‘', 0x91),
                ('’', 0x92),
                ('“', 0x93),
                ('”', 0x94),
                ('•', 0x95),
                ('–', 0x96),
                ('—', 0x97),
                ('˜', 0x98),
                ('™', 0x99),
                ('š', 0x9A),
                ('›', 0x9B),
                ('œ', 0x9C),
                ('ž', 0x9E),
                ('Ÿ', 0x9F),
            ];
            HIGH.iter()
                .find(|(known, _)| *known == character)
                .map(|(_, byte)| *byte)
        }
    }
}

/// Encodes `text` to WinAnsi bytes, refusing what the standard fonts cannot print.
fn winansi_bytes(field: &'static str, text: &str) -> Result<Vec<u8>, CoverSheetError> {
    text.chars()
        .map(|character| {
            winansi_byte(character).ok_or(CoverSheetError::Unprintable { field, character })
        })
        .collect()
}

/// Checks a free-text field: not blank, not too long, printable.
fn check_text(
    field: &'static str,
    text: &str,
    chars_max: usize,
) -> Result<Vec<u8>, CoverSheetError> {
    if text.trim().is_empty() {
        return Err(CoverSheetError::EmptyField { field });
    }
    let chars = text.chars().count();
    if chars > chars_max {
        return Err(CoverSheetError::FieldTooLong {
            field,
            chars,
            chars_max,
        });
    }
    winansi_bytes(field, text)
}

/// Splits WinAnsi text into lines of at most `line_chars_max` bytes, at
/// spaces where possible (the standard fonts' widths are not measured here,
/// so the limit is chosen for the widest glyphs of the font size used).
fn wrap_lines(text: &[u8], line_chars_max: usize) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut rest = text;
    while rest.len() > line_chars_max {
        let cut = rest[..=line_chars_max]
            .iter()
            .rposition(|byte| *byte == b' ')
            .filter(|position| *position > 0)
            .unwrap_or(line_chars_max);
        lines.push(rest[..cut].to_vec());
        rest = &rest[cut..];
        while rest.first() == Some(&b' ') {
            rest = &rest[1..];
        }
    }
    if !rest.is_empty() {
        lines.push(rest.to_vec());
    }
    lines
}

/// Page content: text and the QR image, built as operators in a byte string.
struct Content {
    bytes: Vec<u8>,
}

impl Content {
    /// One line of text at (`x_pt`, `y_pt`) in font resource `font` (F1
    /// Helvetica, F2 Helvetica-Bold, F3 Courier-Bold, F4 Courier).
    fn text(&mut self, font: &str, size_pt: f32, x_pt: f32, y_pt: f32, winansi: &[u8]) {
        let _ = write!(
            Pdf(&mut self.bytes),
            "BT /{font} {size_pt} Tf {x_pt:.2} {y_pt:.2} Td ("
        );
        for byte in winansi {
            if matches!(byte, b'(' | b')' | b'\\') {
                self.bytes.push(b'\\');
            }
            self.bytes.push(*byte);
        }
        self.bytes.extend_from_slice(b") Tj ET\n");
    }

    /// Text that is known to be printable (the sheet's fixed wording).
    fn fixed(&mut self, font: &str, size_pt: f32, x_pt: f32, y_pt: f32, text: &str) {
        let winansi: Vec<u8> = text
            .chars()
            .map(|character| winansi_byte(character).unwrap_or(b'?'))
            .collect();
        self.text(font, size_pt, x_pt, y_pt, &winansi);
    }
}

/// `fmt::Write` into a byte vector (content streams are bytes, not UTF-8).
struct Pdf<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Pdf<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// The file in the data directory that holds the cover-sheet key.
pub const KEY_FILE: &str = "coversheet.key";
/// Bytes of the cover-sheet tag (128 bits; 32 hex digits in the QR code).
pub const TAG_BYTES: usize = 16;
/// Largest key file read, in bytes (64 hex digits and a newline fit).
const KEY_FILE_BYTES_MAX: u64 = 1024;
/// The context string of the tag; a new tag format gets a new string.
const TAG_CONTEXT: &[u8] = b"zeugnis cover sheet tag v1\0";

/// The QR payload of an authenticated cover sheet: `CODE:TAG`.
pub fn qr_payload(code: &str, tag: &str) -> String {
    format!("{code}:{tag}")
}

/// Why the cover-sheet key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("cover-sheet key {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cover-sheet key {path}: {reason}")]
    Invalid {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// The per-archive secret that authenticates cover sheets: only the
/// archive that holds it can print a QR code the intake accepts as the
/// cover sheet of a code (a keyed BLAKE3 tag over the code).
#[derive(Clone)]
pub struct CoverSheetKey([u8; 32]);

impl std::fmt::Debug for CoverSheetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoverSheetKey(..)")
    }
}

impl CoverSheetKey {
    /// A key from its 32 bytes (tests, benches).
    pub fn from_bytes(bytes: [u8; 32]) -> CoverSheetKey {
        CoverSheetKey(bytes)
    }

    /// Reads `<data>/coversheet.key` (64 hex digits, mode 0600), creating
    /// it with a random key when absent.
    pub fn open_or_create(data: &std::path::Path) -> Result<CoverSheetKey, KeyError> {
        use std::io::{Read, Write};
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let path = data.join(KEY_FILE);
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                let key: [u8; 32] = rand::random();
                f.write_all(format!("{}\n", hex::encode(key)).as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(io)?;
                crate::ledger::durable::fsync_dir(data).map_err(io)?;
                return Ok(CoverSheetKey(key));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc_o_nofollow())
            .open(&path)
            .map_err(io)?;
        let meta = f.metadata().map_err(io)?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyError::Invalid {
                path: path.clone(),
                reason: format!(
                    "mode {:o}: readable by others; chmod 600 it",
                    meta.permissions().mode() & 0o777
                ),
            });
        }
        let mut text = String::new();
        f.take(KEY_FILE_BYTES_MAX)
            .read_to_string(&mut text)
            .map_err(io)?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).map_err(|e| KeyError::Invalid {
            path: path.clone(),
            reason: format!("expected 64 hex digits: {e}"),
        })?;
        Ok(CoverSheetKey(key))
    }

    /// The tag of `code` (32 upper-case hex digits). The code is taken in
    /// its canonical form (`QNVC-fm3p-4vdf` and `QNVCFM3P4VDF` have the
    /// same tag).
    pub fn tag(&self, code: &str) -> String {
        let canonical = crate::codes::Code::parse(code)
            .map(|c| c.as_str().to_string())
            .unwrap_or_else(|_| code.to_string());
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(TAG_CONTEXT);
        h.update(canonical.as_bytes());
        hex::encode_upper(&h.finalize().as_bytes()[..TAG_BYTES])
    }

    /// Whether `tag` is the tag of `code` (compared in constant time).
    pub fn verify(&self, code: &str, tag: &str) -> bool {
        use subtle::ConstantTimeEq;
        let want = self.tag(code);
        let got = tag.trim().to_ascii_uppercase();
        want.len() == got.len() && bool::from(want.as_bytes().ct_eq(got.as_bytes()))
    }
}

/// `O_NOFOLLOW` (the key file is never read through a symlink).
fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// The QR code of `code` as a 1-bit raster (1 = light, as DeviceGray reads
/// it), quiet zone included and scaled with nearest-neighbour. Returns
/// (side in pixels, packed rows).
fn qr_bitmap(code: &str) -> Result<(usize, Vec<u8>), CoverSheetError> {
    let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::Q)
        .map_err(|error| CoverSheetError::QrEncode {
            code: code.to_owned(),
            reason: error.to_string(),
        })?;
    let modules = qr.width();
    let colors = qr.to_colors();
    let side_modules = modules + 2 * QR_QUIET_ZONE_MODULES;
    let side_pixels = side_modules * QR_PIXELS_PER_MODULE;
    let row_bytes = side_pixels.div_ceil(8);
    let mut bits = vec![0xFF_u8; row_bytes * side_pixels];
    for y in 0..side_pixels {
        let module_y = (y / QR_PIXELS_PER_MODULE).checked_sub(QR_QUIET_ZONE_MODULES);
        for x in 0..side_pixels {
            let module_x = (x / QR_PIXELS_PER_MODULE).checked_sub(QR_QUIET_ZONE_MODULES);
            let dark = match (module_x, module_y) {
                (Some(mx), Some(my)) if mx < modules && my < modules => {
                    colors[my * modules + mx] == qrcode::Color::Dark
                }
                _ => false,
            };
            if dark {
                bits[y * row_bytes + x / 8] &= !(0x80 >> (x % 8));
            }
        }
    }
    Ok((side_pixels, bits))
}

/// What the clerk checks the pairing of sheet and original with (issue 16):
/// printed on the sheet of a print bundle. Personal data: the sheet is an
/// internal paper, scanned into the archive and never published without
/// the key. Characters outside WinAnsi print as `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheetHolder<'a> {
    /// Given and family name.
    pub name: &'a str,
    /// Date of birth, `YYYY-MM-DD`.
    pub birth_date: &'a str,
    /// Student number (Matrikelnummer).
    pub student_id: &'a str,
    /// Degree and programme name.
    pub programme: &'a str,
}

/// Most characters of one holder line on the sheet.
pub const HOLDER_LINE_CHARS_MAX: usize = 90;

/// Renders the cover sheet for `sheet` as a one-page A4 PDF.
///
/// The same sheet always renders to the same bytes (no dates, no random IDs).
pub fn render_pdf(sheet: &CoverSheet) -> Result<Vec<u8>, CoverSheetError> {
    render_pdf_for(sheet, None)
}

/// Renders the cover sheet, with the holder's data for checking the pairing
/// when `holder` is given (the print bundle's sheet).
pub fn render_pdf_for(
    sheet: &CoverSheet,
    holder: Option<&SheetHolder>,
) -> Result<Vec<u8>, CoverSheetError> {
    check_code(sheet.code)?;
    let (kind_de, kind_en) = document_kind_names(sheet.document_kind).ok_or_else(|| {
        CoverSheetError::UnknownDocumentKind {
            kind: sheet.document_kind.to_owned(),
        }
    })?;
    let institution = check_text("institution", sheet.institution, INSTITUTION_CHARS_MAX)?;
    let verify_url = match sheet.verify_url {
        Some(url) => Some(check_text("verify_url", url, VERIFY_URL_CHARS_MAX)?),
        None => None,
    };
    let printed = code_printed(sheet.code);
    let payload = match sheet.authenticator {
        Some(tag) => qr_payload(sheet.code, tag),
        None => sheet.code.to_string(),
    };
    let (qr_side_pixels, qr_bits) = qr_bitmap(&payload)?;

    let mut content = Content { bytes: Vec::new() };
    let left = MARGIN_LEFT_PT;
    content.fixed(
        "F2",
        20.0,
        left,
        790.0,
        "Deckblatt für den Scan / Scan cover sheet",
    );
    let mut y = 760.0;
    // Helvetica-Bold at 14 pt: about 55 of the widest common glyphs per line.
    for line in wrap_lines(&institution, 55).iter().take(3) {
        content.text("F2", 14.0, left, y, line);
        y -= 18.0;
    }
    content.fixed(
        "F1",
        12.0,
        left,
        y - 4.0,
        &format!("Dokument: {kind_de}  /  Document: {kind_en}"),
    );

    let _ = writeln!(
        Pdf(&mut content.bytes),
        "q {QR_SIDE_PT} 0 0 {QR_SIDE_PT} {QR_LEFT_PT:.2} {QR_BOTTOM_PT} cm /Im1 Do Q"
    );
    let code_width_pt = printed.len() as f32 * COURIER_ADVANCE_EM * CODE_FONT_PT;
    content.fixed(
        "F3",
        CODE_FONT_PT,
        (PAGE_WIDTH_PT - code_width_pt) / 2.0,
        QR_BOTTOM_PT - 40.0,
        &printed,
    );

    let instructions: [(&str, [&str; 5]); 2] = [
        (
            "Anleitung für die Scanstation",
            [
                "1. Dieses Blatt ausdrucken.",
                "2. Das Blatt vor das unterschriebene Original legen.",
                "3. Deckblatt und Original zusammen in eine Datei scannen.",
                "4. Die Datei in den Eingangsordner (scans/) legen.",
                "Den QR-Code nicht knicken, falten, beschriften oder verdecken.",
            ],
        ),
        (
            "Instructions for the scanning station",
            [
                "1. Print this sheet.",
                "2. Place it in front of the signed original.",
                "3. Scan the cover sheet and the original together into one file.",
                "4. Drop the file into the inbox (scans/).",
                "Do not crease, fold, write on or cover the QR code.",
            ],
        ),
    ];
    let mut y = QR_BOTTOM_PT - 80.0;
    for (heading, lines) in instructions {
        content.fixed("F2", 11.0, left, y, heading);
        y -= 15.0;
        for line in lines {
            content.fixed("F1", 10.0, left + 10.0, y, line);
            y -= 13.0;
        }
        y -= 10.0;
    }
    if let Some(url) = verify_url {
        content.fixed("F2", 10.0, left, y, "Prüfen / Verify:");
        y -= 13.0;
        // Courier at 9 pt advances 5.4 pt per glyph: 84 fit in the text width.
        let line_chars = (TEXT_WIDTH_PT / (COURIER_ADVANCE_EM * 9.0)) as usize;
        for chunk in url.chunks(line_chars) {
            content.text("F4", 9.0, left + 10.0, y, chunk);
            y -= 11.0;
        }
    }
    if let Some(h) = holder {
        let kind_line = format!("{kind_de} / {kind_en}");
        y -= 4.0;
        content.fixed(
            "F2",
            10.0,
            left,
            y,
            "Zuordnung prüfen / Check the pairing with the original:",
        );
        y -= 13.0;
        for (label, value) in [
            ("Name", h.name),
            ("Geburtsdatum / Date of birth", h.birth_date),
            ("Matrikelnummer / Student number", h.student_id),
            ("Dokument / Document", kind_line.as_str()),
            ("Studiengang / Programme", h.programme),
        ] {
            let line: String = format!("{label}: {value}")
                .chars()
                .take(HOLDER_LINE_CHARS_MAX)
                .collect();
            content.fixed("F1", 10.0, left + 10.0, y, &line);
            y -= 12.0;
        }
    }
    content.fixed(
        "F1",
        8.0,
        left,
        40.0,
        "Nur für die Scanstation – kein Teil des Dokuments.  /  For the scanning station only – not part of the document.",
    );

    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = |base: &str| {
        Object::Dictionary(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => Object::Name(base.as_bytes().to_vec()),
            "Encoding" => "WinAnsiEncoding",
        })
    };
    let fonts = dictionary! {
        "F1" => doc.add_object(font("Helvetica")),
        "F2" => doc.add_object(font("Helvetica-Bold")),
        "F3" => doc.add_object(font("Courier-Bold")),
        "F4" => doc.add_object(font("Courier")),
    };
    let side = qr_side_pixels as i64;
    let mut image = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => side,
            "Height" => side,
            "ColorSpace" => "DeviceGray",
            "BitsPerComponent" => 1,
            "Interpolate" => false,
        },
        qr_bits,
    );
    let mut page_content = Stream::new(dictionary! {}, content.bytes);
    for stream in [&mut image, &mut page_content] {
        stream
            .compress()
            .map_err(|error| CoverSheetError::PdfWrite {
                reason: error.to_string(),
            })?;
    }
    let image_id = doc.add_object(image);
    let content_id = doc.add_object(page_content);
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), PAGE_WIDTH_PT.into(), PAGE_HEIGHT_PT.into()],
        "Contents" => content_id,
        "Resources" => dictionary! {
            "Font" => fonts,
            "XObject" => dictionary! { "Im1" => image_id },
        },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal(format!("Deckblatt {printed}")),
        "Producer" => Object::string_literal("zeugnis"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes)
        .map_err(|error| CoverSheetError::PdfWrite {
            reason: error.to_string(),
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::ObjectId;

    const INSTITUTION: &str = "Universität Erfurt";

    fn sheet<'a>(code: &'a str, document_kind: &'a str) -> CoverSheet<'a> {
        CoverSheet {
            code,
            institution: INSTITUTION,
            document_kind,
            verify_url: Some("https://zeugnisse.uni-erfurt.example/de/"),
            authenticator: None,
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    /// The only page's id and its decompressed content.
    fn single_page(pdf: &[u8]) -> (Document, ObjectId, Vec<u8>) {
        let doc = Document::load_mem(pdf).expect("rendered PDF parses");
        let pages = doc.get_pages();
        assert_eq!(pages.len(), 1, "one page");
        let page_id = pages[&1];
        let content = doc.get_page_content(page_id);
        (doc, page_id, content)
    }

    #[test]
    fn rendered_sheet_is_one_a4_page_whose_qr_code_decodes_to_the_code() {
        let cases = [
            ("QNVCFM3P4VDF", "transcript", "QNVC-FM3P-4VDF", "Zeugnis"),
            ("0123456789AB", "degree_deed", "0123-4567-89AB", "Urkunde"),
            (
                "CDEFGHJKMNPQ",
                "diploma_supplement",
                "CDEF-GHJK-MNPQ",
                "Diploma Supplement",
            ),
            (
                "RSTVWXYZ0000",
                "certificate",
                "RSTV-WXYZ-0000",
                "Zertifikat",
            ),
            ("ZZZZZZZZZZZZ", "transcript", "ZZZZ-ZZZZ-ZZZZ", "Zeugnis"),
        ];
        for (code, kind, printed, kind_de) in cases {
            let pdf = render_pdf(&sheet(code, kind)).expect("renders");
            let (doc, page_id, content) = single_page(&pdf);
            let page = doc.get_dictionary(page_id).expect("page dictionary");
            let media_box: Vec<f32> = page
                .get(b"MediaBox")
                .and_then(Object::as_array)
                .expect("MediaBox")
                .iter()
                .map(|value| value.as_float().expect("number"))
                .collect();
            assert_eq!(media_box, [0.0, 0.0, 595.0, 842.0], "{code}: A4");
            assert!(
                contains(&content, format!("({printed}) Tj").as_bytes()),
                "{code}: printed code"
            );
            assert!(contains(&content, kind_de.as_bytes()), "{code}: {kind_de}");
            assert!(contains(&content, b"Universit\xe4t Erfurt"), "{code}");
            assert_eq!(
                crate::scans::decode::decode_qr_from_pdf(&pdf).expect("decodes"),
                vec![code.to_owned()],
                "{code}"
            );
        }
    }

    #[test]
    fn qr_code_is_at_least_6_cm_wide_with_a_quiet_zone() {
        let side_cm = QR_SIDE_PT / 72.0 * 2.54;
        assert!(side_cm >= 6.0, "{side_cm} cm");
        let (side_pixels, bits) = qr_bitmap("QNVCFM3P4VDF").expect("encodes");
        // Version 1 (21 modules) at level Q, plus 4 light modules on each side.
        assert_eq!(side_pixels, (21 + 2 * 4) * QR_PIXELS_PER_MODULE);
        let row_bytes = side_pixels.div_ceil(8);
        let quiet_pixels = QR_QUIET_ZONE_MODULES * QR_PIXELS_PER_MODULE;
        let light = |x: usize, y: usize| bits[y * row_bytes + x / 8] & (0x80 >> (x % 8)) != 0;
        for offset in 0..quiet_pixels {
            for along in 0..side_pixels {
                assert!(light(offset, along) && light(along, offset), "quiet zone");
                let far = side_pixels - 1 - offset;
                assert!(light(far, along) && light(along, far), "quiet zone");
            }
        }
        // The finder pattern's corner module, just inside the quiet zone, is dark.
        assert!(!light(quiet_pixels, quiet_pixels));
    }

    #[test]
    fn same_sheet_renders_to_the_same_bytes() {
        let first = render_pdf(&sheet("QNVCFM3P4VDF", "transcript")).expect("renders");
        let second = render_pdf(&sheet("QNVCFM3P4VDF", "transcript")).expect("renders");
        assert_eq!(first, second);
    }

    #[test]
    fn german_text_is_encoded_as_winansi() {
        let cases = [
            ('A', Some(0x41)),
            ('ä', Some(0xE4)),
            ('ö', Some(0xF6)),
            ('ü', Some(0xFC)),
            ('Ä', Some(0xC4)),
            ('ß', Some(0xDF)),
            ('é', Some(0xE9)),
            ('€', Some(0x80)),
            ('–', Some(0x96)),
            ('„', Some(0x84)),
            ('“', Some(0x93)),
            ('\n', None),
            ('→', None),
            ('Ł', None),
        ];
        for (character, expected) in cases {
            assert_eq!(winansi_byte(character), expected, "{character:?}");
        }
        let pdf = render_pdf(&CoverSheet {
            institution: "Julius-Maximilians-Universität Würzburg (Prüfungsamt), Maße & Gewichte",
            ..sheet("QNVCFM3P4VDF", "transcript")
        })
        .expect("renders");
        let (_, _, content) = single_page(&pdf);
        assert!(contains(
            &content,
            b"(Julius-Maximilians-Universit\xe4t W\xfcrzburg \\(Pr\xfcfungsamt\\)," // wrapped here
        ));
        assert!(contains(&content, b"(Ma\xdfe & Gewichte) Tj"));
        assert!(contains(&content, b"Deckblatt f\xfcr den Scan"));
        assert!(contains(&content, b"Pr\xfcfen / Verify:"));
    }

    #[test]
    fn long_lines_wrap_at_spaces() {
        let cases: [(&str, usize, &[&str]); 5] = [
            ("kurz", 10, &["kurz"]),
            ("eins zwei drei", 9, &["eins zwei", "drei"]),
            ("eins zwei drei", 8, &["eins", "zwei", "drei"]),
            ("abcdefghijkl", 5, &["abcde", "fghij", "kl"]),
            ("a  b", 1, &["a", "b"]),
        ];
        for (text, line_chars_max, expected) in cases {
            let lines = wrap_lines(text.as_bytes(), line_chars_max);
            let expected: Vec<Vec<u8>> = expected
                .iter()
                .map(|line| line.as_bytes().to_vec())
                .collect();
            assert_eq!(lines, expected, "{text:?}");
        }
    }

    #[test]
    fn invalid_codes_are_refused_and_named() {
        let cases = [
            "",
            "QNVCFM3P4VD",
            "QNVCFM3P4VDFX",
            "QNVC-FM3P-4VDF",
            "qnvcfm3p4vdf",
            // U, I, L and O are not Crockford base32 characters.
            "QNVCFM3P4UDF",
            "QNVCFM3P4IDF",
            "QNVCFM3P4LDF",
            "QNVCFM3P4ODF",
            "QNVCFM3P4ÄD",
            "QNVCFM3P4 DF",
        ];
        for code in cases {
            let error = render_pdf(&sheet(code, "transcript")).expect_err(code);
            assert!(
                matches!(&error, CoverSheetError::InvalidCode { code: named } if named == code),
                "{code:?}: {error:?}"
            );
            assert!(error.to_string().contains(&format!("{code:?}")), "{error}");
        }
    }

    #[test]
    fn invalid_sheet_fields_are_refused_with_the_field_named() {
        let long_institution = "x".repeat(INSTITUTION_CHARS_MAX + 1);
        let cases: [(CoverSheet, &str); 6] = [
            (
                sheet("QNVCFM3P4VDF", "zeugnis"),
                "unknown document kind \"zeugnis\"",
            ),
            (
                CoverSheet {
                    institution: " ",
                    ..sheet("QNVCFM3P4VDF", "transcript")
                },
                "institution is empty",
            ),
            (
                CoverSheet {
                    institution: &long_institution,
                    ..sheet("QNVCFM3P4VDF", "transcript")
                },
                "institution has 121 characters",
            ),
            (
                CoverSheet {
                    institution: "Uniwersytet Łódzki",
                    ..sheet("QNVCFM3P4VDF", "transcript")
                },
                "institution contains 'Ł' (U+0141)",
            ),
            (
                CoverSheet {
                    institution: "Uni\nErfurt",
                    ..sheet("QNVCFM3P4VDF", "transcript")
                },
                "institution contains '\\n'",
            ),
            (
                CoverSheet {
                    verify_url: Some(""),
                    authenticator: None,
                    ..sheet("QNVCFM3P4VDF", "transcript")
                },
                "verify_url is empty",
            ),
        ];
        for (cover, expected) in cases {
            let error = render_pdf(&cover).expect_err(expected);
            assert!(
                error.to_string().contains(expected),
                "{error} lacks {expected}"
            );
        }
    }
}
