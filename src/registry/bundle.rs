//! The print bundle (issue 16): one PDF for the printer with the print
//! version (the first registered document) followed by its cover sheet, so
//! the clerk cannot pair a sheet with the wrong original. The sheet shows
//! the holder's name, date of birth, student number, kind of document and
//! programme beside the QR code (`coversheet::SheetHolder`).
//!
//! Owns: choosing what goes into the bundle.
//! Must not do: write anything (the caller writes the bytes; nothing is
//! recorded: the bundle is derived from what is registered).

use super::{reader::parse_hash, Registry, RegistryError};
use crate::codes::Code;
use crate::coversheet::{CoverSheet, CoverSheetKey, SheetHolder};

impl Registry {
    /// The print bundle of a certificate and its formatted code. Refused
    /// after an erasure (the sheet would need the erased holder data).
    pub fn print_bundle(&self, code_text: &str) -> Result<(String, Vec<u8>), RegistryError> {
        let c = self.find(code_text)?;
        let code = Code::parse(&c.code)?;
        let record = self
            .reader
            .registration_record(&code, None, &c)?
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "{}: the holder data is erased; a print bundle needs it",
                    code.formatted()
                ))
            })?;
        let first = c.documents.first().ok_or_else(|| {
            RegistryError::Invalid(format!("{}: no document registered", code.formatted()))
        })?;
        let addr = parse_hash(&first.blake3).ok_or_else(|| {
            RegistryError::Invalid(format!("{}: document address is not hex", code.formatted()))
        })?;
        let print = self.blobs.get(&addr)?;
        let key = CoverSheetKey::open_or_create(self.ledger().dir())
            .map_err(|e| RegistryError::Invalid(format!("cover sheet key: {e}")))?;
        let tag = key.tag(&c.code);
        let name = format!("{} {}", record.holder.given_name, record.holder.family_name);
        let programme = format!("{}, {}", record.programme.degree, record.programme.name);
        let sheet = crate::coversheet::render_pdf_for(
            &CoverSheet {
                code: &c.code,
                institution: &c.institution,
                document_kind: &c.kind,
                verify_url: None,
                authenticator: Some(&tag),
            },
            Some(&SheetHolder {
                name: &name,
                birth_date: &record.holder.birth_date,
                student_id: &record.holder.student_id,
                programme: &programme,
            }),
        )
        .map_err(|e| RegistryError::External(format!("cover sheet: {e}")))?;
        let bundle =
            crate::document::concatenate("the print version", &print, "the cover sheet", &sheet)
                .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        Ok((code.formatted(), bundle))
    }
}
