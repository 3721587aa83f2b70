//! The read side of the registry: certificate states, holder data and
//! records as published by the writer, readable from any thread while the
//! [`Registry`](super::Registry) writes.
//!
//! Owns: the published ledger state and the holder-blob cache.
//! Must not do: write anything; show a state whose records the published
//! checkpoint does not cover.

use super::record::{HolderBlob, RegistrationRecord};
use super::{Certificate, RegistryError};
use crate::blobs::BlobStore;
use crate::codes::{self, AccessKey, Code};
use crate::ledger::record::Hash32;
use crate::ledger::{self, Ledger};
use serde_json::Value;

/// The committed ledger state readers may show: published by the writer
/// after each append, before the derived states refer to the new records.
#[derive(Clone, Debug)]
pub struct Published {
    /// Records in the ledger.
    pub size: u64,
    /// The latest signed checkpoint note (covers `size` records).
    pub checkpoint_note: std::sync::Arc<str>,
    /// The verifier keys of the active signing keys, newest first (the
    /// key a rotation added leads as soon as it is published): what the
    /// verification pages print for `verify-proof --vkey`.
    pub active_vkeys: std::sync::Arc<[String]>,
}

impl Published {
    /// The published state of `ledger`.
    fn of(ledger: &Ledger) -> Published {
        let mut active: Vec<_> = ledger
            .keys()
            .iter()
            .filter(|k| k.retired_seq.is_none())
            .collect();
        active.sort_by_key(|k| std::cmp::Reverse(k.added_seq));
        Published {
            size: ledger.size(),
            checkpoint_note: ledger.checkpoint_note().into(),
            active_vkeys: active.iter().map(|k| k.verifier.vkey()).collect(),
        }
    }
}

/// Reads certificate states, holder data and records from any thread while
/// the [`Registry`] writes (sled trees and blob files are safe to read
/// concurrently; committed records never change). The verification service
/// uses it so that lookups never wait for the writer, which holds its lock
/// through fsyncs. Obtained from [`Registry::reader`]; clones are cheap.
#[derive(Clone)]
pub struct Reader {
    /// code -> Certificate JSON (the registry's tree).
    certs: sled::Tree,
    /// The blob store.
    blobs: BlobStore,
    /// Committed records.
    records: ledger::RecordReader,
    /// The latest [`Published`] state.
    published: std::sync::Arc<std::sync::RwLock<std::sync::Arc<Published>>>,
    /// Holder blobs already read and checked, by address (see
    /// [`HOLDER_CACHE_ENTRIES_MAX`]).
    holders: std::sync::Arc<std::sync::Mutex<HolderCache>>,
    /// The ledger's verification state (a fast open's background pass),
    /// for `/metrics`.
    verification: std::sync::Arc<ledger::verify::Verification>,
}

/// Holder blobs the [`Reader`] keeps after their first read (a blob is
/// content-addressed, so an entry never goes stale; an erased certificate's
/// entry is dropped when the erasure is applied). About 1 KB each; the
/// cache is emptied when it is full.
pub const HOLDER_CACHE_ENTRIES_MAX: usize = 4096;

/// The holder-blob cache of a [`Reader`].
#[derive(Default)]
struct HolderCache {
    /// Blobs by address.
    blobs: std::collections::HashMap<Hash32, std::sync::Arc<HolderBlob>>,
    /// Addresses of erased holder blobs, never cached again: a reader that
    /// read a blob just before its erasure was applied must not put it
    /// back afterwards. 32 bytes per erasure in the daemon's lifetime.
    erased: std::collections::HashSet<Hash32>,
}

impl Reader {
    /// A reader over the writer's trees and blob store, with the ledger's
    /// current state published.
    pub(super) fn new(certs: sled::Tree, blobs: BlobStore, ledger: &Ledger) -> Reader {
        Reader {
            certs,
            blobs,
            records: ledger.record_reader(),
            published: std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(
                Published::of(ledger),
            ))),
            holders: std::sync::Arc::default(),
            verification: ledger.verification(),
        }
    }

    /// Where the verification of the records the open trusted stands.
    pub fn verification(&self) -> ledger::verify::VerifyState {
        self.verification.state()
    }

    /// The latest published ledger state.
    pub fn published(&self) -> std::sync::Arc<Published> {
        match self.published.read() {
            Ok(p) => p.clone(),
            // A panic while publishing cannot leave a torn Arc behind.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(super) fn publish(&self, ledger: &Ledger) {
        let next = std::sync::Arc::new(Published::of(ledger));
        match self.published.write() {
            Ok(mut p) => *p = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The exact bytes of committed record `seq`.
    pub fn read_record(&self, seq: u64) -> Result<Vec<u8>, RegistryError> {
        Ok(self.records.read_record(seq, self.published().size)?)
    }

    /// The derived state of a certificate by its canonical code.
    pub fn get(&self, code: &str) -> Result<Option<Certificate>, RegistryError> {
        match self.certs.get(code)? {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(|e| {
                RegistryError::Invalid(format!(
                    "derived state of {code} unreadable ({e}); run zeugnis reindex"
                ))
            })?)),
        }
    }

    /// One page of the certificates awaiting their scan, oldest
    /// registration first: those whose code contains `filter` (canonical
    /// code characters; empty: all), skipping `skip`, at most `rows`; and
    /// how many match in all. Reads the derived states one at a time and
    /// keeps only `skip + rows` of them (a bounded heap), so memory does not
    /// grow with the archive; the time does (one pass over the states).
    pub fn awaiting_scan_page(
        &self,
        filter: &str,
        skip: usize,
        rows: usize,
    ) -> Result<(Vec<Certificate>, u64), RegistryError> {
        use std::collections::BinaryHeap;
        let keep = skip.saturating_add(rows);
        // Max-heap on the first seq: the newest kept entry is on top.
        let mut heap: BinaryHeap<(u64, String)> = BinaryHeap::new();
        let mut total = 0u64;
        for item in self.certs.iter() {
            let (code, value) = item?;
            let code = String::from_utf8_lossy(&code).into_owned();
            if !filter.is_empty() && !code.contains(filter) {
                continue;
            }
            let c: Certificate = serde_json::from_slice(&value).map_err(|e| {
                RegistryError::Invalid(format!(
                    "derived state of {code} unreadable ({e}); run zeugnis reindex"
                ))
            })?;
            if c.state != super::State::AwaitingScan {
                continue;
            }
            total += 1;
            let first = c.seqs.first().copied().unwrap_or(u64::MAX);
            if heap.len() < keep {
                heap.push((first, code));
            } else if heap.peek().is_some_and(|(top, _)| first < *top) {
                heap.pop();
                heap.push((first, code));
            }
        }
        let mut kept = heap.into_sorted_vec();
        let page: Vec<(u64, String)> = kept.drain(skip.min(kept.len())..).collect();
        let mut out = Vec::with_capacity(page.len());
        for (_, code) in page {
            if let Some(c) = self.get(&code)? {
                out.push(c);
            }
        }
        Ok((out, total))
    }

    /// The time (UTC seconds) of committed record `seq`.
    pub fn record_time(&self, seq: u64) -> Result<i64, RegistryError> {
        let bytes = self.read_record(seq)?;
        let time: [u8; 8] = bytes
            .get(10..18)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                RegistryError::Invalid(format!("record {seq}: shorter than its header"))
            })?;
        Ok(i64::from_le_bytes(time))
    }

    /// Looks a certificate up by a (leniently parsed) code.
    pub fn find(&self, code_text: &str) -> Result<Certificate, RegistryError> {
        let (code, _) = codes::parse_code_and_key(code_text)?;
        self.get(code.as_str())?
            .ok_or_else(|| RegistryError::UnknownCode {
                code: code.formatted(),
            })
    }

    /// Shows a certificate; with the right access key, also the holder data.
    pub fn show(
        &self,
        code_text: &str,
        key_text: Option<&str>,
    ) -> Result<Certificate, RegistryError> {
        let (code, key_in_code) = codes::parse_code_and_key(code_text)?;
        let mut c = self
            .get(code.as_str())?
            .ok_or_else(|| RegistryError::UnknownCode {
                code: code.formatted(),
            })?;
        let key = match (key_text, key_in_code) {
            (Some(k), _) => Some(AccessKey::parse(&code, k)?),
            (None, k) => k,
        };
        if let Some(key) = key {
            c.holder = Some(self.holder_data(&code, &key, &c)?);
        }
        c.events = self.events(&c)?;
        Ok(c)
    }

    /// The records about `c` with who wrote each (the audit trail), read
    /// from the ledger: one record read per seq of the certificate.
    pub fn events(&self, c: &Certificate) -> Result<Vec<super::Event>, RegistryError> {
        let mut events = Vec::with_capacity(c.seqs.len());
        for &seq in &c.seqs {
            let bytes = self.read_record(seq)?;
            let rec = crate::ledger::record::Record::decode(&bytes).map_err(|e| {
                ledger::LedgerError::Invalid(format!("record {seq} does not decode: {e}"))
            })?;
            events.push(super::Event {
                seq,
                time_s: rec.time_s,
                kind: rec.body.kind().name().to_string(),
                operator: rec.operator,
            });
        }
        Ok(events)
    }

    /// The grade input the exam office registered (module grades and
    /// credit points: holder data) of a certificate whose holder data
    /// [`Registry::show`](super::Registry::show) let through with the right access key; `None`
    /// without it, after erasure, or when no grades were registered.
    pub fn grade_input(&self, c: &Certificate) -> Result<Option<Value>, RegistryError> {
        if c.holder.is_none() || c.erased {
            return Ok(None);
        }
        let Some(addr) = parse_hash(&c.holder_blob) else {
            return Ok(None);
        };
        Ok(self.holder_blob(&addr, c)?.record.grades.clone())
    }

    /// A holder blob, from the cache or read (and fixity-checked) from the store.
    fn holder_blob(
        &self,
        addr: &Hash32,
        c: &Certificate,
    ) -> Result<std::sync::Arc<HolderBlob>, RegistryError> {
        if let Some(b) = self
            .holders
            .lock()
            .ok()
            .and_then(|m| m.blobs.get(addr).cloned())
        {
            return Ok(b);
        }
        let blob: HolderBlob = serde_json::from_slice(&self.blobs.get(addr)?).map_err(|e| {
            RegistryError::Invalid(format!("holder record blob of {} unreadable: {e}", c.code))
        })?;
        let blob = std::sync::Arc::new(blob);
        if let Ok(mut m) = self.holders.lock() {
            if !m.erased.contains(addr) {
                if m.blobs.len() >= HOLDER_CACHE_ENTRIES_MAX {
                    m.blobs.clear();
                }
                m.blobs.insert(*addr, blob.clone());
            }
        }
        Ok(blob)
    }

    /// How many holder blobs are cached (erased ones never are).
    pub fn holders_cached(&self) -> usize {
        self.holders.lock().map_or(0, |m| m.blobs.len())
    }

    /// Drops a holder blob from the cache (its certificate was erased).
    pub(super) fn forget_holder(&self, addr: &Hash32) {
        if let Ok(mut m) = self.holders.lock() {
            m.blobs.remove(addr);
            m.erased.insert(*addr);
        }
    }

    /// The holder data of certificate `c`, if `key` is its access key
    /// (`{"erased": true}` once erased); [`RegistryError::WrongKey`] if not.
    pub fn holder_data(
        &self,
        code: &Code,
        key: &AccessKey,
        c: &Certificate,
    ) -> Result<Value, RegistryError> {
        let wrong = || RegistryError::WrongKey {
            code: code.formatted(),
        };
        if c.erased {
            // The salt went with the erased blob; nothing to show or check.
            return Ok(serde_json::json!({"erased": true}));
        }
        let addr = parse_hash(&c.holder_blob).ok_or_else(wrong)?;
        let blob = self.holder_blob(&addr, c)?;
        let salt = parse_hash(&blob.salt).ok_or_else(wrong)?;
        let commitment = parse_hash(&c.key_commitment).ok_or_else(wrong)?;
        if !codes::verify_key(code, key, &salt, &commitment) {
            return Err(wrong());
        }
        let r = &blob.record;
        Ok(serde_json::json!({
            "holder": r.holder,
            "programme": r.programme,
            "last_exam_date": r.last_exam_date,
            "language": r.language,
        }))
    }
}

impl Reader {
    /// The registration record of certificate `c`, for the machine-readable
    /// exports (`crate::exports`). With `key`, only if it is the access key
    /// ([`RegistryError::WrongKey`] if not); without a key only for the
    /// operator who holds the data directory (the CLI). `None` once erased.
    pub fn registration_record(
        &self,
        code: &Code,
        key: Option<&AccessKey>,
        c: &Certificate,
    ) -> Result<Option<RegistrationRecord>, RegistryError> {
        if c.erased {
            return Ok(None);
        }
        if let Some(key) = key {
            // Checks the key (the same check as for the holder data).
            self.holder_data(code, key, c)?;
        }
        let addr = parse_hash(&c.holder_blob).ok_or_else(|| {
            RegistryError::Invalid(format!("holder record address of {} is not hex", c.code))
        })?;
        Ok(Some(self.holder_blob(&addr, c)?.record.clone()))
    }
}

pub(super) fn parse_hash(hex_str: &str) -> Option<Hash32> {
    hex::decode(hex_str).ok()?.try_into().ok()
}
