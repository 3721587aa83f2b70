//! Cover sheets (Deckblätter): the A4 PDF that the scanning station prints and
//! scans in front of a signed original, and the QR decoding that finds the code
//! on it again.
//!
//! Owns: the sheet's layout, the QR code (text = the 12-character code, error
//! correction level Q, 4-module quiet zone) embedded as a 1-bit DeviceGray image
//! XObject, WinAnsi text encoding for the standard fonts, and extracting and
//! decoding images from PDFs (`decode_qr_from_pdf`) and grayscale rasters
//! (`decode_qr_from_luma`) with `rxing`. The PDF path is the first version of
//! the intake's PDF decoder.
//!
//! Must not: touch the ledger, the file system or the clock (callers write the
//! bytes; the same sheet renders to the same bytes), parse codes leniently (the
//! `codes` module does that; here a code must already be canonical), or decide
//! what an unreadable scan means (that is the intake's job).
//!
//! Image filters decoded in PDFs: none (raw), FlateDecode (with predictors),
//! LZWDecode, RunLengthDecode, ASCIIHexDecode, ASCII85Decode (through lopdf),
//! DCTDecode (JPEG, through `jpeg-decoder`) and CCITTFaxDecode (Group 3 and 4,
//! through `hayro-ccitt`). Not decoded: JPXDecode (JPEG 2000) and JBIG2Decode;
//! such images are reported in [`CoverSheetError::ImageNotDecoded`] when no
//! other image in the file carries a QR code.

use std::collections::HashSet;
use std::fmt::Write as _;

use lopdf::{dictionary, Document, Object, ObjectId, Stream};

/// Characters of a code (Crockford base32 without check symbol).
pub const CODE_CHARS: usize = 12;
/// Most characters of the institution's name printed on the sheet.
pub const INSTITUTION_CHARS_MAX: usize = 120;
/// Most characters of the verification URL printed on the sheet.
pub const VERIFY_URL_CHARS_MAX: usize = 240;
/// Largest image (width × height) that is decoded, in a PDF or as a raster:
/// A4 at 600 dpi is 35 Mpx, so this leaves room and still bounds memory.
pub const IMAGE_PIXELS_MAX: u64 = 80_000_000;
/// Images of a PDF that are searched for a QR code, in object order; the
/// cover sheet is the first page, so a long scan need not be searched to the end.
pub const PDF_IMAGES_MAX: usize = 32;
/// Smallest image side that can hold a QR code (version 1 is 21 modules).
pub const IMAGE_SIDE_PIXELS_MIN: u32 = 21;

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

/// Crockford base32 as DESIGN.md ("Codes") defines it: 0-9, A-Z without I, L, O, U.
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
    #[error("not a readable PDF: {reason}")]
    PdfRead { reason: String },
    #[error(
        "no QR code found, and image object {object} could not be decoded \
         ({images_undecoded} undecoded in all): {reason}"
    )]
    ImageNotDecoded {
        object: String,
        images_undecoded: usize,
        reason: String,
    },
    #[error("raster {width}x{height} needs {bytes_expected} bytes of luma, got {bytes_actual}")]
    RasterSize {
        width: u32,
        height: u32,
        bytes_expected: u64,
        bytes_actual: usize,
    },
    #[error("raster {width}x{height} has more than {IMAGE_PIXELS_MAX} pixels")]
    RasterTooLarge { width: u32, height: u32 },
    #[error("QR decoder failed on a {width}x{height} raster: {reason}")]
    QrDecode {
        width: u32,
        height: u32,
        reason: String,
    },
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

/// Renders the cover sheet for `sheet` as a one-page A4 PDF.
///
/// The same sheet always renders to the same bytes (no dates, no random IDs).
pub fn render_pdf(sheet: &CoverSheet) -> Result<Vec<u8>, CoverSheetError> {
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

/// Decodes the QR code (or, failing that, a DataMatrix code) in a
/// grayscale raster (one byte per pixel, 0 = black, rows top to bottom).
/// Returns the texts found: empty when there is none; at most one per
/// raster in this version.
pub fn decode_qr_from_luma(
    width: u32,
    height: u32,
    luma: &[u8],
) -> Result<Vec<String>, CoverSheetError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > IMAGE_PIXELS_MAX {
        return Err(CoverSheetError::RasterTooLarge { width, height });
    }
    if pixels != luma.len() as u64 {
        return Err(CoverSheetError::RasterSize {
            width,
            height,
            bytes_expected: pixels,
            bytes_actual: luma.len(),
        });
    }
    if width < IMAGE_SIDE_PIXELS_MIN || height < IMAGE_SIDE_PIXELS_MIN {
        return Ok(Vec::new());
    }
    use rxing::BarcodeFormat::{DATA_MATRIX, QR_CODE};
    // A page scanned at 300 dpi has QR modules of ~35 pixels: a 2x2 box
    // average keeps them ~17 pixels wide, quarters the work and dilutes
    // salt-and-pepper noise, so it is tried first on large rasters.
    if u64::from(width) * u64::from(height) >= DOWNSAMPLE_PIXELS_MIN {
        let (w2, h2, half) = box_2x2(width as usize, height as usize, luma);
        let texts = decode_once(w2, h2, &half, QR_CODE)?;
        if !texts.is_empty() {
            return Ok(texts);
        }
    }
    let texts = decode_once(width, height, luma, QR_CODE)?;
    if !texts.is_empty() {
        return Ok(texts);
    }
    // Salt-and-pepper noise (dust, paper fibres) breaks the run lengths of
    // the finder patterns that rxing counts: 1 % of noisy pixels already hides
    // the code. A median filter removes it.
    let filtered = median_3x3(width as usize, height as usize, luma);
    let texts = decode_once(width, height, &filtered, QR_CODE)?;
    if !texts.is_empty() {
        return Ok(texts);
    }
    // Some scanning stations print their own cover sheets with a DataMatrix.
    let texts = decode_once(width, height, luma, DATA_MATRIX)?;
    if !texts.is_empty() {
        return Ok(texts);
    }
    decode_once(width, height, &filtered, DATA_MATRIX)
}

/// Rasters of at least this many pixels are first decoded at half size.
const DOWNSAMPLE_PIXELS_MIN: u64 = 4_000_000;

/// Halves a raster in both directions (mean of each 2x2 block).
fn box_2x2(width: usize, height: usize, luma: &[u8]) -> (u32, u32, Vec<u8>) {
    let (w2, h2) = (width / 2, height / 2);
    let mut out = Vec::with_capacity(w2 * h2);
    for y in 0..h2 {
        let (r0, r1) = (&luma[2 * y * width..], &luma[(2 * y + 1) * width..]);
        for x in 0..w2 {
            let sum = u16::from(r0[2 * x])
                + u16::from(r0[2 * x + 1])
                + u16::from(r1[2 * x])
                + u16::from(r1[2 * x + 1]);
            out.push((sum / 4) as u8);
        }
    }
    (w2 as u32, h2 as u32, out)
}

/// One rxing pass for one symbology over a raster whose size has been
/// checked.
fn decode_once(
    width: u32,
    height: u32,
    luma: &[u8],
    format: rxing::BarcodeFormat,
) -> Result<Vec<String>, CoverSheetError> {
    let mut hints = rxing::DecodeHints {
        TryHarder: Some(true),
        ..Default::default()
    };
    match rxing::helpers::detect_in_luma_slice_with_hints(
        luma,
        width,
        height,
        Some(format),
        &mut hints,
    ) {
        Ok(result) => Ok(vec![result.getText().to_owned()]),
        // Nothing that looks like a code, or one too damaged to read: both
        // mean "no code on this raster", which the caller handles.
        Err(
            rxing::Exceptions::NotFoundException(_)
            | rxing::Exceptions::ChecksumException(_)
            | rxing::Exceptions::FormatException(_)
            | rxing::Exceptions::ReedSolomonException(_),
        ) => Ok(Vec::new()),
        Err(error) => Err(CoverSheetError::QrDecode {
            width,
            height,
            reason: error.to_string(),
        }),
    }
}

/// Median of three.
fn median_3(a: u8, b: u8, c: u8) -> u8 {
    a.min(b).max(a.max(b).min(c))
}

/// Separable 3×3 median filter (a 3×1 median of each row, then a 1×3 median
/// of each column): removes isolated dark and light pixels while keeping the
/// straight edges of QR modules, at a fraction of a full 3×3 median's cost.
/// The border pixels keep their values.
fn median_3x3(width: usize, height: usize, luma: &[u8]) -> Vec<u8> {
    let mut rows = luma.to_vec();
    if width < 3 || height < 3 {
        return rows;
    }
    for (row, out) in luma.chunks_exact(width).zip(rows.chunks_exact_mut(width)) {
        for x in 1..width - 1 {
            out[x] = median_3(row[x - 1], row[x], row[x + 1]);
        }
    }
    let mut filtered = rows.clone();
    for y in 1..height - 1 {
        let above = &rows[(y - 1) * width..y * width];
        let row = &rows[y * width..(y + 1) * width];
        let below = &rows[(y + 1) * width..(y + 2) * width];
        let out = &mut filtered[y * width..(y + 1) * width];
        for x in 0..width {
            out[x] = median_3(above[x], row[x], below[x]);
        }
    }
    filtered
}

/// Decodes the QR codes in the images embedded in `pdf` (image XObjects in
/// object order, at most [`PDF_IMAGES_MAX`]). Returns each text once, in the
/// order found; empty when the PDF has no image with a QR code.
///
/// An image that cannot be decoded (an unsupported filter, corrupt data) is
/// skipped; only when no QR code was found at all is the first such image
/// reported as [`CoverSheetError::ImageNotDecoded`], so the caller knows the
/// search was incomplete.
pub fn decode_qr_from_pdf(pdf: &[u8]) -> Result<Vec<String>, CoverSheetError> {
    let images = pdf_images(pdf)?;
    let mut texts = Vec::new();
    let mut seen = HashSet::new();
    let mut undecoded: Option<(ObjectId, String)> = None;
    let mut images_undecoded = 0;
    for image in images {
        match image {
            Ok(raster) => {
                for text in decode_qr_from_luma(raster.width, raster.height, &raster.luma)? {
                    if seen.insert(text.clone()) {
                        texts.push(text);
                    }
                }
            }
            Err((id, reason)) => {
                images_undecoded += 1;
                undecoded.get_or_insert((id, reason));
            }
        }
    }
    match undecoded {
        Some(((number, generation), reason)) if texts.is_empty() => {
            Err(CoverSheetError::ImageNotDecoded {
                object: format!("{number} {generation} R"),
                images_undecoded,
                reason,
            })
        }
        _ => Ok(texts),
    }
}

/// A decoded image: one luma byte per pixel, 0 = black.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LumaRaster {
    width: u32,
    height: u32,
    luma: Vec<u8>,
}

/// An image of a PDF decoded to luma, or its object id and why not.
type PdfImage = Result<LumaRaster, (ObjectId, String)>;

/// The image XObjects of `pdf`, in object order, decoded to luma. Images
/// too small to hold a QR code are left out.
fn pdf_images(pdf: &[u8]) -> Result<Vec<PdfImage>, CoverSheetError> {
    let doc = Document::load_mem(pdf).map_err(|error| CoverSheetError::PdfRead {
        reason: error.to_string(),
    })?;
    let mut images = Vec::new();
    for (id, object) in &doc.objects {
        let Ok(stream) = object.as_stream() else {
            continue;
        };
        let subtype = stream.dict.get(b"Subtype").and_then(Object::as_name);
        if subtype.ok() != Some(b"Image".as_slice()) {
            continue;
        }
        if images.len() == PDF_IMAGES_MAX {
            break;
        }
        match image_to_luma(&doc, stream) {
            Ok(Some(raster)) => images.push(Ok(raster)),
            Ok(None) => {}
            Err(reason) => images.push(Err((*id, reason))),
        }
    }
    Ok(images)
}

/// Integer entry of a dictionary, or `default` when absent.
fn dict_int(dict: &lopdf::Dictionary, key: &[u8], default: i64) -> Result<i64, String> {
    match dict.get(key) {
        Ok(object) => object
            .as_i64()
            .map_err(|error| format!("/{}: {error}", String::from_utf8_lossy(key))),
        Err(_) => Ok(default),
    }
}

fn dict_bool(dict: &lopdf::Dictionary, key: &[u8], default: bool) -> bool {
    dict.get(key).and_then(Object::as_bool).unwrap_or(default)
}

/// How the components of an image map to luma.
enum ColorModel {
    /// Gray (1), RGB (3) or CMYK (4) components per pixel.
    Direct { components: usize },
    /// One index per pixel into a palette of `base_components`-sized entries.
    Indexed {
        base_components: usize,
        palette: Vec<u8>,
    },
}

/// The number of components of a colour space that is not Indexed.
fn base_components(doc: &Document, space: &Object) -> Result<usize, String> {
    let space = doc.dereference(space).map_err(|error| error.to_string())?.1;
    let name = match space {
        Object::Name(name) => name.as_slice(),
        Object::Array(array) => match array.first() {
            Some(Object::Name(name)) => name.as_slice(),
            _ => return Err("malformed /ColorSpace array".to_owned()),
        },
        _ => return Err("malformed /ColorSpace".to_owned()),
    };
    match name {
        b"DeviceGray" | b"CalGray" | b"G" => Ok(1),
        b"DeviceRGB" | b"CalRGB" | b"Lab" | b"RGB" => Ok(3),
        b"DeviceCMYK" | b"CMYK" => Ok(4),
        b"ICCBased" => {
            let stream = match space {
                Object::Array(array) => array.get(1),
                _ => None,
            }
            .ok_or("ICCBased without a profile")?;
            let profile = doc
                .dereference(stream)
                .map_err(|error| error.to_string())?
                .1
                .as_stream()
                .map_err(|error| error.to_string())?;
            match dict_int(&profile.dict, b"N", 0)? {
                components @ (1 | 3 | 4) => Ok(components as usize),
                other => Err(format!("ICCBased profile with /N {other}")),
            }
        }
        other => Err(format!(
            "colour space /{} not supported",
            String::from_utf8_lossy(other)
        )),
    }
}

fn color_model(doc: &Document, dict: &lopdf::Dictionary) -> Result<ColorModel, String> {
    let Ok(space) = dict.get(b"ColorSpace") else {
        // Image masks and JPEG/JPX images may leave the colour space out.
        return Ok(ColorModel::Direct { components: 1 });
    };
    let space = doc.dereference(space).map_err(|error| error.to_string())?.1;
    let indexed = match space {
        Object::Array(array) => match array.first() {
            Some(Object::Name(name)) if name == b"Indexed" || name == b"I" => Some(array),
            _ => None,
        },
        _ => None,
    };
    let Some(array) = indexed else {
        return Ok(ColorModel::Direct {
            components: base_components(doc, space)?,
        });
    };
    let [_, base, _, lookup] = array.as_slice() else {
        return Err("/Indexed colour space without 4 entries".to_owned());
    };
    let base_components = base_components(doc, base)?;
    let palette = match doc
        .dereference(lookup)
        .map_err(|error| error.to_string())?
        .1
    {
        Object::String(bytes, _) => bytes.clone(),
        Object::Stream(stream) => stream
            .decompressed_content_with_limit(256 * 4)
            .or_else(|_| stream.get_plain_content_with_limit(256 * 4))
            .map_err(|error| format!("palette: {error}"))?,
        _ => return Err("malformed /Indexed lookup".to_owned()),
    };
    Ok(ColorModel::Indexed {
        base_components,
        palette,
    })
}

/// Luma of one colour with components scaled to 0..=255.
fn luma_of(components: &[u8]) -> u8 {
    match *components {
        [gray] => gray,
        [r, g, b] => ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8,
        [c, m, y, k] => {
            let gray = (u32::from(c) * 299 + u32::from(m) * 587 + u32::from(y) * 114) / 1000;
            255 - (gray + u32::from(k)).min(255) as u8
        }
        _ => 255,
    }
}

/// Decodes one image XObject to luma. `Ok(None)` for images too small to
/// hold a QR code.
fn image_to_luma(doc: &Document, stream: &Stream) -> Result<Option<LumaRaster>, String> {
    let dict = &stream.dict;
    let width = dict_int(dict, b"Width", 0)?;
    let height = dict_int(dict, b"Height", 0)?;
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(format!("image size {width}x{height}"));
    };
    if u64::from(width) * u64::from(height) > IMAGE_PIXELS_MAX {
        return Err(format!(
            "image {width}x{height} has more than {IMAGE_PIXELS_MAX} pixels"
        ));
    }
    if width < IMAGE_SIDE_PIXELS_MIN || height < IMAGE_SIDE_PIXELS_MIN {
        return Ok(None);
    }
    let filters: Vec<Vec<u8>> = match dict.get(b"Filter") {
        Ok(Object::Name(name)) => vec![name.clone()],
        Ok(Object::Array(names)) => names
            .iter()
            .map(|name| name.as_name().map(<[u8]>::to_vec))
            .collect::<Result<_, _>>()
            .map_err(|error| format!("/Filter: {error}"))?,
        Ok(_) => return Err("malformed /Filter".to_owned()),
        Err(_) => Vec::new(),
    };
    // Generous bound for the generic filters' output: 4 bytes per pixel plus
    // compressed image data (JPEG, fax) that is never larger than that.
    let bytes_max = (u64::from(width) * u64::from(height) * 4 + 4096) as usize;
    let image_filter = match filters.last().map(Vec::as_slice) {
        Some(
            name @ (b"DCTDecode" | b"DCT" | b"CCITTFaxDecode" | b"CCF" | b"JPXDecode"
            | b"JBIG2Decode"),
        ) => Some(name.to_vec()),
        _ => None,
    };
    let params_of = |index: usize| -> Option<&lopdf::Dictionary> {
        let params = dict.get(b"DecodeParms").ok()?;
        let params = doc.dereference(params).ok()?.1;
        match params {
            Object::Array(array) => array
                .get(index)
                .and_then(|param| doc.dereference(param).ok())
                .and_then(|(_, param)| param.as_dict().ok()),
            Object::Dictionary(params) => (index == 0).then_some(params),
            _ => None,
        }
    };
    let data = if image_filter.is_some() && filters.len() == 1 {
        if stream.content.len() > bytes_max {
            return Err("image data larger than its pixels".to_owned());
        }
        stream.content.clone()
    } else {
        let mut generic = stream.clone();
        if image_filter.is_some() {
            let kept = filters.len() - 1;
            generic.dict.set(
                "Filter",
                Object::Array(
                    filters[..kept]
                        .iter()
                        .map(|name| Object::Name(name.clone()))
                        .collect(),
                ),
            );
            let params: Vec<Object> = (0..kept)
                .map(|index| {
                    params_of(index)
                        .map_or(Object::Null, |params| Object::Dictionary(params.clone()))
                })
                .collect();
            generic.dict.set("DecodeParms", Object::Array(params));
        }
        generic
            .decompressed_content_with_limit(bytes_max)
            .map_err(|error| format!("decompressing: {error}"))?
    };

    let image_mask = dict_bool(dict, b"ImageMask", false) || dict_bool(dict, b"IM", false);
    // /Decode [1 0] for one-component images inverts the samples (common
    // for CCITT scans and image masks).
    let inverted = match dict.get(b"Decode").and_then(Object::as_array) {
        Ok(decode) => matches!(
            decode.first().map(Object::as_float),
            Some(Ok(first)) if first > 0.5
        ),
        Err(_) => false,
    };
    let width_px = width as usize;
    let height_px = height as usize;
    let luma = match image_filter.as_deref() {
        Some(b"DCTDecode" | b"DCT") => jpeg_luma(&data, width_px, height_px)?,
        Some(b"CCITTFaxDecode" | b"CCF") => {
            let params = params_of(filters.len() - 1);
            ccitt_luma(&data, params, width, height)?
        }
        Some(other) => {
            return Err(format!(
                "filter /{} not supported",
                String::from_utf8_lossy(other)
            ))
        }
        None => {
            let (model, bits) = if image_mask {
                (ColorModel::Direct { components: 1 }, 1)
            } else {
                (
                    color_model(doc, dict)?,
                    dict_int(dict, b"BitsPerComponent", 8)?,
                )
            };
            samples_luma(&data, &model, bits, width_px, height_px)?
        }
    };
    let luma = if inverted && !matches!(image_filter.as_deref(), Some(b"DCTDecode" | b"DCT")) {
        luma.into_iter().map(|value| 255 - value).collect()
    } else {
        luma
    };
    Ok(Some(LumaRaster {
        width,
        height,
        luma,
    }))
}

/// Unpacks raw samples (1, 2, 4, 8 or 16 bits per component, rows padded to
/// whole bytes) to luma.
fn samples_luma(
    data: &[u8],
    model: &ColorModel,
    bits: i64,
    width: usize,
    height: usize,
) -> Result<Vec<u8>, String> {
    let bits = match bits {
        1 | 2 | 4 | 8 | 16 => bits as usize,
        other => return Err(format!("/BitsPerComponent {other}")),
    };
    let samples_per_pixel = match model {
        ColorModel::Direct { components } => *components,
        ColorModel::Indexed { .. } => 1,
    };
    let row_bytes = (width * samples_per_pixel * bits).div_ceil(8);
    if data.len() < row_bytes * height {
        return Err(format!(
            "image data has {} bytes, {width}x{height} needs {}",
            data.len(),
            row_bytes * height
        ));
    }
    let max_sample = (1_u32 << bits.min(8)) - 1;
    let sample = |row: &[u8], index: usize| -> u32 {
        match bits {
            8 => u32::from(row[index]),
            16 => u32::from(row[index * 2]),
            _ => {
                let bit = index * bits;
                let byte = row[bit / 8];
                let shift = 8 - bits - bit % 8;
                (u32::from(byte) >> shift) & max_sample
            }
        }
    };
    let mut luma = Vec::with_capacity(width * height);
    let mut color = [0_u8; 4];
    for row in data.chunks(row_bytes).take(height) {
        for x in 0..width {
            let value = match model {
                ColorModel::Direct { components } => {
                    for (component, slot) in color.iter_mut().enumerate().take(*components) {
                        let raw = sample(row, x * components + component);
                        *slot = (raw * 255 / max_sample) as u8;
                    }
                    luma_of(&color[..*components])
                }
                ColorModel::Indexed {
                    base_components,
                    palette,
                } => {
                    let index = sample(row, x) as usize * base_components;
                    match palette.get(index..index + base_components) {
                        Some(entry) => luma_of(entry),
                        None => 255,
                    }
                }
            };
            luma.push(value);
        }
    }
    Ok(luma)
}

/// Decodes a JPEG (DCTDecode) stream to luma.
fn jpeg_luma(data: &[u8], width: usize, height: usize) -> Result<Vec<u8>, String> {
    let mut decoder = jpeg_decoder::Decoder::new(data);
    decoder.set_max_decoding_buffer_size(width * height * 4 + 4096);
    let pixels = decoder.decode().map_err(|error| format!("JPEG: {error}"))?;
    let info = decoder.info().ok_or("JPEG without a frame header")?;
    if usize::from(info.width) != width || usize::from(info.height) != height {
        return Err(format!(
            "JPEG is {}x{}, the image dictionary says {width}x{height}",
            info.width, info.height
        ));
    }
    let bytes_per_pixel = info.pixel_format.pixel_bytes();
    let luma = pixels
        .chunks_exact(bytes_per_pixel)
        .map(|pixel| match info.pixel_format {
            jpeg_decoder::PixelFormat::L16 => pixel[0],
            // Adobe writes CMYK JPEGs inverted; scanners rarely produce them at all.
            jpeg_decoder::PixelFormat::CMYK32 => luma_of(&[
                255 - pixel[0],
                255 - pixel[1],
                255 - pixel[2],
                255 - pixel[3],
            ]),
            _ => luma_of(pixel),
        })
        .collect();
    Ok(luma)
}

/// Collects CCITT output as luma (white = 255).
struct CcittSink {
    luma: Vec<u8>,
    width: usize,
    height: usize,
    /// Pixels of the current row pushed so far, to pad short rows.
    column: usize,
}

impl hayro_ccitt::Decoder for CcittSink {
    fn push_pixel(&mut self, white: bool) {
        if self.column < self.width && self.luma.len() < self.width * self.height {
            self.luma.push(if white { 255 } else { 0 });
            self.column += 1;
        }
    }

    fn push_pixel_chunk(&mut self, white: bool, chunk_count: u32) {
        for _ in 0..chunk_count as usize * 8 {
            self.push_pixel(white);
        }
    }

    fn next_line(&mut self) {
        while self.column < self.width && self.luma.len() < self.width * self.height {
            self.luma.push(255);
            self.column += 1;
        }
        self.column = 0;
    }
}

/// Decodes a CCITTFaxDecode stream to luma, before /Decode is applied.
fn ccitt_luma(
    data: &[u8],
    params: Option<&lopdf::Dictionary>,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, String> {
    let empty = lopdf::Dictionary::new();
    let params = params.unwrap_or(&empty);
    let k = dict_int(params, b"K", 0)?;
    let columns = dict_int(params, b"Columns", 1728)?;
    let rows = dict_int(params, b"Rows", i64::from(height))?;
    if columns != i64::from(width) {
        return Err(format!("CCITT /Columns {columns}, image /Width {width}"));
    }
    let rows = u32::try_from(rows)
        .ok()
        .filter(|rows| *rows > 0)
        .unwrap_or(height)
        .min(height);
    let settings = hayro_ccitt::DecodeSettings {
        columns: width,
        rows,
        end_of_block: dict_bool(params, b"EndOfBlock", true),
        end_of_line: dict_bool(params, b"EndOfLine", false),
        rows_are_byte_aligned: dict_bool(params, b"EncodedByteAlign", false),
        encoding: match k {
            k if k < 0 => hayro_ccitt::EncodingMode::Group4,
            0 => hayro_ccitt::EncodingMode::Group3_1D,
            k => hayro_ccitt::EncodingMode::Group3_2D {
                k: u32::try_from(k).unwrap_or(u32::MAX),
            },
        },
        invert_black: false,
    };
    let width_px = width as usize;
    let height_px = height as usize;
    let mut sink = CcittSink {
        luma: Vec::with_capacity(width_px * height_px),
        width: width_px,
        height: height_px,
        column: 0,
    };
    let mut context = hayro_ccitt::DecoderContext::new(settings);
    let decoded = hayro_ccitt::decode(data, &mut sink, &mut context);
    // A damaged tail still leaves the rows before it usable (the QR code is
    // usually near the top of a cover sheet), so only an empty result fails.
    if let Err(error) = decoded {
        if sink.luma.is_empty() {
            return Err(format!("CCITT: {error}"));
        }
    }
    sink.luma.resize(width_px * height_px, 255);
    // BlackIs1 false (the default): decoded black is sample 0, which
    // DeviceGray shows black; true: black is sample 1, shown white.
    if dict_bool(params, b"BlackIs1", false) {
        for value in &mut sink.luma {
            *value = 255 - *value;
        }
    }
    Ok(sink.luma)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

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
                decode_qr_from_pdf(&pdf).expect("decodes"),
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
    fn median_filter_removes_isolated_pixels_and_keeps_edges() {
        let cases: [(&str, [u8; 25], [u8; 25]); 3] = [
            (
                "isolated dark pixel",
                {
                    let mut luma = [255; 25];
                    luma[12] = 0;
                    luma
                },
                [255; 25],
            ),
            (
                "isolated light pixel in a dark field",
                {
                    let mut luma = [0; 25];
                    luma[12] = 255;
                    luma
                },
                [0; 25],
            ),
            (
                "vertical edge",
                {
                    let mut luma = [255; 25];
                    for y in 0..5 {
                        luma[y * 5] = 0;
                        luma[y * 5 + 1] = 0;
                    }
                    luma
                },
                {
                    let mut luma = [255; 25];
                    for y in 0..5 {
                        luma[y * 5] = 0;
                        luma[y * 5 + 1] = 0;
                    }
                    luma
                },
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(median_3x3(5, 5, &input), expected, "{name}");
        }
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

    /// A one-page PDF whose page shows `image` (when given) as Im1.
    fn pdf_with_image(image: Option<Stream>) -> Vec<u8> {
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let mut resources = lopdf::Dictionary::new();
        let mut content = b"BT /F1 12 Tf 72 720 Td (no code here) Tj ET\n".to_vec();
        if let Some(image) = image {
            let image_id = doc.add_object(image);
            resources.set("XObject", dictionary! { "Im1" => image_id });
            content.extend_from_slice(b"q 300 0 0 300 100 300 cm /Im1 Do Q\n");
        }
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => content_id,
            "Resources" => resources,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).expect("test PDF saves");
        bytes
    }

    /// The QR image embedded in the rendered sheet for `code`, as luma.
    fn sheet_qr_raster(code: &str) -> LumaRaster {
        let pdf = render_pdf(&sheet(code, "transcript")).expect("renders");
        let mut images = pdf_images(&pdf).expect("parses");
        assert_eq!(images.len(), 1, "one image on the sheet");
        images.remove(0).expect("QR image decodes")
    }

    fn image_dict(raster: &LumaRaster, color_space: &str, bits: i64) -> lopdf::Dictionary {
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => i64::from(raster.width),
            "Height" => i64::from(raster.height),
            "ColorSpace" => Object::Name(color_space.as_bytes().to_vec()),
            "BitsPerComponent" => bits,
        }
    }

    fn packed_bits(raster: &LumaRaster, dark_bit: bool) -> Vec<u8> {
        let row_bytes = (raster.width as usize).div_ceil(8);
        let mut bits = vec![0_u8; row_bytes * raster.height as usize];
        for (index, value) in raster.luma.iter().enumerate() {
            let (x, y) = (index % raster.width as usize, index / raster.width as usize);
            if (*value < 128) == dark_bit {
                bits[y * row_bytes + x / 8] |= 0x80 >> (x % 8);
            }
        }
        bits
    }

    fn jpeg(raster: &LumaRaster, color: jpeg_encoder::ColorType, data: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        jpeg_encoder::Encoder::new(&mut bytes, 85)
            .encode(data, raster.width as u16, raster.height as u16, color)
            .expect("JPEG encodes");
        assert_eq!(raster.width, raster.width as u16 as u32);
        bytes
    }

    fn group4(raster: &LumaRaster) -> Vec<u8> {
        let mut encoder = fax::encoder::Encoder::new(fax::VecWriter::new());
        for row in raster.luma.chunks(raster.width as usize) {
            let pels = row.iter().map(|value| {
                if *value < 128 {
                    fax::Color::Black
                } else {
                    fax::Color::White
                }
            });
            let Ok(()) = encoder.encode_line(pels, raster.width as u16);
        }
        let Ok(writer) = encoder.finish();
        writer.finish()
    }

    fn compressed(mut stream: Stream) -> Stream {
        stream.compress().expect("compresses");
        assert!(stream.dict.get(b"Filter").is_ok(), "compression applied");
        stream
    }

    #[test]
    fn qr_codes_are_found_in_images_of_every_supported_encoding() {
        let code = "7K2M9XQNVCFM";
        let raster = sheet_qr_raster(code);
        let rgb: Vec<u8> = raster.luma.iter().flat_map(|value| [*value; 3]).collect();
        let inverted: Vec<u8> = raster.luma.iter().map(|value| 255 - value).collect();
        let cases: Vec<(&str, Stream)> = vec![
            (
                "raw 8-bit gray",
                Stream::new(image_dict(&raster, "DeviceGray", 8), raster.luma.clone()),
            ),
            (
                "Flate 8-bit RGB",
                compressed(Stream::new(
                    image_dict(&raster, "DeviceRGB", 8),
                    rgb.clone(),
                )),
            ),
            ("1-bit image mask, /Decode [1 0]", {
                let mut dict = image_dict(&raster, "DeviceGray", 1);
                dict.remove(b"ColorSpace");
                dict.set("ImageMask", true);
                dict.set("Decode", vec![1.into(), 0.into()]);
                Stream::new(dict, packed_bits(&raster, true))
            }),
            ("1-bit indexed", {
                let mut dict = image_dict(&raster, "DeviceGray", 1);
                dict.set(
                    "ColorSpace",
                    vec![
                        "Indexed".into(),
                        "DeviceRGB".into(),
                        1.into(),
                        Object::String(
                            vec![255, 255, 255, 0, 0, 0],
                            lopdf::StringFormat::Hexadecimal,
                        ),
                    ],
                );
                Stream::new(dict, packed_bits(&raster, true))
            }),
            ("8-bit gray, Flate with PNG predictors", {
                let mut dict = image_dict(&raster, "DeviceGray", 8);
                dict.set("DecodeParms", dictionary! { "Predictor" => 15, "Colors" => 1, "BitsPerComponent" => 8, "Columns" => i64::from(raster.width) });
                // PNG filter type 0 (none) before each row.
                let rows: Vec<u8> = raster
                    .luma
                    .chunks(raster.width as usize)
                    .flat_map(|row| std::iter::once(0).chain(row.iter().copied()))
                    .collect();
                compressed(Stream::new(dict, rows))
            }),
            (
                "DCT gray",
                Stream::new(
                    dictionary! { "Filter" => "DCTDecode" }.into_iter().fold(
                        image_dict(&raster, "DeviceGray", 8),
                        |mut dict, (key, value)| {
                            dict.set(key, value);
                            dict
                        },
                    ),
                    jpeg(&raster, jpeg_encoder::ColorType::Luma, &raster.luma),
                ),
            ),
            ("ASCIIHex then DCT RGB", {
                let mut dict = image_dict(&raster, "DeviceRGB", 8);
                dict.set("Filter", vec!["ASCIIHexDecode".into(), "DCTDecode".into()]);
                let hex: String = jpeg(&raster, jpeg_encoder::ColorType::Rgb, &rgb)
                    .iter()
                    .map(|byte| format!("{byte:02X}"))
                    .collect::<String>()
                    + ">";
                Stream::new(dict, hex.into_bytes())
            }),
            ("CCITT Group 4", {
                let mut dict = image_dict(&raster, "DeviceGray", 1);
                dict.set("Filter", "CCITTFaxDecode");
                dict.set(
                    "DecodeParms",
                    dictionary! { "K" => -1, "Columns" => i64::from(raster.width), "Rows" => i64::from(raster.height) },
                );
                Stream::new(dict, group4(&raster))
            }),
            ("CCITT Group 4, BlackIs1 with /Decode [1 0]", {
                let mut dict = image_dict(&raster, "DeviceGray", 1);
                dict.set("Filter", "CCITTFaxDecode");
                dict.set(
                    "DecodeParms",
                    dictionary! { "K" => -1, "Columns" => i64::from(raster.width), "BlackIs1" => true },
                );
                dict.set("Decode", vec![1.into(), 0.into()]);
                Stream::new(dict, group4(&raster))
            }),
            ("white-on-black 8-bit gray with /Decode [1 0]", {
                let mut dict = image_dict(&raster, "DeviceGray", 8);
                dict.set("Decode", vec![1.into(), 0.into()]);
                Stream::new(dict, inverted)
            }),
        ];
        for (name, image) in cases {
            let pdf = pdf_with_image(Some(image));
            assert_eq!(
                decode_qr_from_pdf(&pdf).map_err(|error| error.to_string()),
                Ok(vec![code.to_owned()]),
                "{name}"
            );
        }
    }

    #[test]
    fn unsupported_image_filter_is_reported_when_no_code_is_found() {
        let raster = sheet_qr_raster("QNVCFM3P4VDF");
        let mut dict = image_dict(&raster, "DeviceGray", 8);
        dict.set("Filter", "JPXDecode");
        let pdf = pdf_with_image(Some(Stream::new(dict, vec![0; 64])));
        let error = decode_qr_from_pdf(&pdf).expect_err("JPX is not decoded");
        assert!(
            matches!(&error, CoverSheetError::ImageNotDecoded { images_undecoded: 1, reason, .. } if reason.contains("JPXDecode")),
            "{error:?}"
        );
    }

    #[test]
    fn pdf_without_images_has_no_codes() {
        assert_eq!(
            decode_qr_from_pdf(&pdf_with_image(None)).expect("parses"),
            Vec::<String>::new()
        );
        // An image without a QR code.
        let blank = LumaRaster {
            width: 200,
            height: 100,
            luma: vec![255; 200 * 100],
        };
        let pdf = pdf_with_image(Some(Stream::new(
            image_dict(&blank, "DeviceGray", 8),
            blank.luma,
        )));
        assert_eq!(
            decode_qr_from_pdf(&pdf).expect("parses"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn garbage_is_not_a_readable_pdf() {
        let cases: [&[u8]; 4] = [b"", b"hello, world", b"%PDF-1.7\n%%EOF", &[0xFF; 4096]];
        for bytes in cases {
            let error = decode_qr_from_pdf(bytes).expect_err("not a PDF");
            assert!(
                matches!(error, CoverSheetError::PdfRead { .. }),
                "{error:?}"
            );
            assert!(
                error.to_string().starts_with("not a readable PDF"),
                "{error}"
            );
        }
    }

    #[test]
    fn raster_of_the_wrong_size_is_refused() {
        let cases = [
            (10, 10, 99, "needs 100 bytes of luma, got 99"),
            (10, 10, 101, "needs 100 bytes of luma, got 101"),
            (100_000, 100_000, 0, "more than 80000000 pixels"),
        ];
        for (width, height, bytes, expected) in cases {
            let error = decode_qr_from_luma(width, height, &vec![255; bytes]).expect_err(expected);
            assert!(error.to_string().contains(expected), "{error}");
        }
        assert_eq!(
            decode_qr_from_luma(0, 0, &[]).expect("empty raster"),
            Vec::<String>::new()
        );
        assert_eq!(
            decode_qr_from_luma(300, 300, &[255; 90_000]).expect("blank"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn printed_and_scanned_sheet_still_decodes() {
        let cases = [
            ("QNVCFM3P4VDF", 300.0, 5.0, 3),
            ("QNVCFM3P4VDF", 300.0, -5.0, 3),
            ("0123456789AB", 300.0, 0.0, 5),
            ("7K2M9XQNVCFM", 300.0, -5.0, 0),
            ("RSTVWXYZ0000", 200.0, 5.0, 3),
            ("RSTVWXYZ0000", 200.0, -5.0, 3),
            ("CDEFGHJKMNPQ", 200.0, 2.5, 5),
        ];
        for (index, (code, dpi, degrees, noise_percent)) in cases.into_iter().enumerate() {
            // The page rendered where the sheet prints its QR code (the same
            // symbol: EC level Q, the same quiet zone), rotated and noisy.
            let page = crate::scans::simulate::scanned_cover_page(
                code,
                dpi,
                degrees,
                noise_percent,
                index as u64 + 1,
            );
            let (width, height, luma) = (page.width, page.height, page.luma);
            let started = Instant::now();
            let texts = decode_qr_from_luma(width, height, &luma).expect("decodes");
            let elapsed = started.elapsed();
            println!(
                "decode {width}x{height} page ({dpi} dpi, {degrees:+}°, {noise_percent}% noise): {:.1} ms",
                elapsed.as_secs_f64() * 1000.0
            );
            assert_eq!(texts, vec![code.to_owned()], "{dpi} dpi, {degrees}°");
        }
    }
}
