//! Replacing a wrongly archived scan (`zeugnis replace-scan`, the admin
//! API): the ledger's kind 13 `ScanReplaced` (FORMAT.md §3.3, version 3).
//!
//! Owns: which certificates take a replacement, the checks on the new file
//! (size, sniffed media type), the idempotent retry, and the record that
//! names the replaced scan by its record's seq and its BLAKE3.
//! Must not do: delete or overwrite any blob (the replaced scan stays in
//! the store and in every proof), or decode the file (the operator names
//! the code; nothing is read out of the file).

use super::{parse_hash, Certificate, FileView, Registry, RegistryError, State, REASON_CHARS_MAX};
use crate::blobs::BlobStore;
use crate::ledger::record::{Body, Hash32};
use serde::Serialize;

/// What [`Registry::replace_scan`] did.
#[derive(Clone, Debug, Serialize)]
pub struct ScanReplacement {
    /// The certificate code (12 characters, no hyphens).
    pub code: String,
    /// Seq of the `ScanReplaced` record.
    pub seq: u64,
    /// The new (now current) scan.
    pub scan: FileView,
    /// BLAKE3 (hex) of the replaced scan; its blob is kept.
    pub replaced_blake3: String,
    /// Seq of the record that had archived the replaced scan.
    pub replaced_seq: u64,
    /// True when this exact replacement was already in the ledger (a
    /// retry): nothing was appended, `seq` is the existing record.
    pub retry: bool,
}

impl Registry {
    /// Replaces the archived scan of a certificate with `bytes` (file name
    /// `source_name`, at most `bytes_max` bytes, a PDF, PNG, JPEG or TIFF by
    /// content) and records why. Allowed for a certificate whose scan is
    /// archived and which is not voided or erased; a revoked or superseded
    /// certificate keeps its state. The same file for the same code again
    /// returns the existing record (`retry`), never a second one.
    pub fn replace_scan(
        &mut self,
        code_text: &str,
        bytes: &[u8],
        source_name: &str,
        reason: &str,
        bytes_max: u64,
    ) -> Result<ScanReplacement, RegistryError> {
        self.refresh_derived()?;
        super::record::check_text("--reason", reason, REASON_CHARS_MAX)?;
        let c = self.find(code_text)?;
        if bytes.len() as u64 > bytes_max {
            return Err(RegistryError::Invalid(format!(
                "{source_name}: {} bytes, above the scan limit of {bytes_max} bytes \
                 (intake.file_bytes_max)",
                bytes.len()
            )));
        }
        let media = self.blobs.check_document(source_name, bytes)?;
        let new = BlobStore::reference(bytes, media);
        // A retry is answered whatever happened since (the same file for
        // the same code is never a second record).
        if let (Some(current), Some(current_seq)) = (&c.scan, self.current_scan_seq(&c)) {
            if hex::encode(new.blake3) == current.blake3 {
                return self.replaced_already(&c, current.clone(), current_seq, source_name);
            }
        }
        let refuse = |state: &'static str, detail: String| RegistryError::Transition {
            code: c.code.clone(),
            action: "replace the scan of",
            state,
            detail,
        };
        if c.erased {
            return Err(refuse(
                "erased",
                " (its holder data was erased; an erased certificate takes no scan)".into(),
            ));
        }
        if c.state == State::Voided {
            return Err(refuse(
                State::Voided.name(),
                " (a voided certificate takes no scan)".into(),
            ));
        }
        let (Some(current), Some(current_seq)) = (c.scan.clone(), self.current_scan_seq(&c)) else {
            return Err(refuse(
                c.state.name(),
                " and has no archived scan: this is not a replacement; put the scan with its \
                 cover sheet into the scan inbox (scans/) or use `zeugnis ingest`"
                    .into(),
            ));
        };
        let replaced_blake3: Hash32 = parse_hash(&current.blake3).ok_or_else(|| {
            RegistryError::Invalid(format!(
                "derived state of {}: scan address is not hex; run zeugnis reindex",
                c.code
            ))
        })?;
        // The blob is durable before the record that references it.
        self.blobs.put_referenced(&[(bytes, &new)])?;
        let scan = FileView::of(&new, None);
        let code = c.code.clone();
        let seq = self
            .commit(vec![Body::ScanReplaced {
                code: c.code.clone(),
                scan: new,
                replaced_seq: current_seq,
                replaced_blake3,
                reason: reason.to_string(),
                source_name: source_name.to_string(),
            }])
            .map_err(|e| e.unconfirmed("replaced the scan of", &code, None))?
            .start;
        tracing::info!(code = %code, seq, replaced_seq = current_seq, "scan replaced");
        Ok(ScanReplacement {
            code,
            seq,
            scan,
            replaced_blake3: current.blake3,
            replaced_seq: current_seq,
            retry: false,
        })
    }

    /// The file is already the current scan: a retry of a replacement
    /// answers with its record; the originally archived scan is no
    /// replacement of itself.
    fn replaced_already(
        &self,
        c: &Certificate,
        current: FileView,
        current_seq: u64,
        source_name: &str,
    ) -> Result<ScanReplacement, RegistryError> {
        let Some(last) = c
            .replaced_scans
            .iter()
            .rev()
            .find(|r| r.replaced_by == current_seq)
        else {
            return Err(RegistryError::Invalid(format!(
                "{source_name} is already the archived scan of {} (ledger seq {current_seq}): \
                 nothing to replace",
                c.code
            )));
        };
        Ok(ScanReplacement {
            code: c.code.clone(),
            seq: current_seq,
            scan: current,
            replaced_blake3: last.scan.blake3.clone(),
            replaced_seq: last.archived_by,
            retry: true,
        })
    }
}
