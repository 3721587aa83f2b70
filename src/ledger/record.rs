//! Ledger records and their canonical binary encoding (`ledger/FORMAT.md` §3).
//!
//! Owns: the record kinds, their fields, and the one byte representation of
//! each. Encoding is hand-written (not derived) so that every byte is pinned by
//! FORMAT.md and the golden vectors, independent of any crate's defaults.
//! Must not do: I/O, hashing, framing (see `segment`).
//!
//! Decoding is strict: any input that does not re-encode to exactly the same
//! bytes is rejected (trailing bytes, non-canonical booleans and options,
//! non-normalised decimals, invalid UTF-8, unknown kinds or versions).

pub use super::operator::OperatorId;
use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

/// The record header version of a record without an operator (FORMAT.md
/// §3.1): every record before format version 6, and every unattributed one since.
pub const RECORD_VERSION: u16 = 1;
/// The record header version of an attributed record (FORMAT.md §3.1,
/// version 6): the header is followed by the operator id, then the body.
pub const RECORD_VERSION_ATTRIBUTED: u16 = 2;
/// Largest encoded record, in bytes (FORMAT.md §3.1). Larger records are refused.
pub const RECORD_BYTES_MAX: usize = 65_535;
/// Size of the fixed record header: version, seq, time, kind, prev link.
pub const RECORD_HEADER_BYTES: usize = 2 + 8 + 8 + 2 + 32;
/// Offset of the sequence number inside the encoded record.
pub const RECORD_SEQ_OFFSET: usize = 2;
/// Offset of the previous chain link inside the encoded record.
pub const RECORD_PREV_LINK_OFFSET: usize = 2 + 8 + 8 + 2;

/// A 32-byte hash (BLAKE3 or SHA-256, as the field says).
pub type Hash32 = [u8; 32];

/// One ledger record: the fixed header plus a kind-specific body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Position in the ledger, from 0, contiguous.
    pub seq: u64,
    /// UTC seconds since 1970-01-01 when the record was appended.
    pub time_s: i64,
    /// The chain link of the previous record (32 zero bytes for seq 0).
    pub prev_link: Hash32,
    /// Who did it (FORMAT.md version 6): `Some` makes it an attributed
    /// record (header version 2); `None` is written as version 1, byte
    /// for byte as before.
    pub operator: Option<OperatorId>,
    /// What happened.
    pub body: Body,
}

/// A reference to a stored blob: both fingerprints, so the archive survives a
/// break of either hash family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef {
    /// BLAKE3 of the content: the blob's address.
    pub blake3: Hash32,
    /// SHA-256 of the content.
    pub sha256: Hash32,
    /// Content length in bytes.
    pub size_bytes: u64,
    /// Sniffed media type, e.g. `application/pdf`.
    pub media_type: String,
}

/// A grade record as stored in `Registered`: which rule computed what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GradeRecord {
    /// Rule-set id, e.g. `erfurt-ba-2019`.
    pub ruleset_id: String,
    /// BLAKE3 of the rule set's canonical text.
    pub ruleset_hash: Hash32,
    /// The final grade, if the rule set yields one (normalised decimal).
    pub final_grade: Option<Decimal>,
    /// The full result as canonical JSON text (all numbers as decimal strings).
    pub result_json: String,
}

/// One document (language version) of a registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentRef {
    /// Language tag of this version (`de`, `en`).
    pub language: String,
    /// The stored PDF.
    pub blob: BlobRef,
}

/// The kind-specific part of a record. Tags are fixed forever (FORMAT.md §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// First record of every ledger.
    Genesis {
        /// The log's origin line, e.g. `verify.uni-example.de/zeugnis/1`.
        origin: String,
        /// Format identifier, `zeugnis-ledger-v1`.
        format: String,
        /// Ed25519 public key of the first checkpoint signing key.
        public_key: Hash32,
        /// Final checkpoint note of a predecessor log (epochs), empty if none.
        predecessor_checkpoint: String,
    },
    /// A signing key becomes valid.
    KeyAdded {
        /// Ed25519 public key.
        public_key: Hash32,
        /// Valid from (UTC seconds).
        valid_from_s: i64,
    },
    /// A signing key stops being valid.
    KeyRetired {
        /// Ed25519 public key.
        public_key: Hash32,
        /// Valid until (UTC seconds).
        valid_until_s: i64,
        /// Why (rotation, compromise, ...).
        reason: String,
    },
    /// A rule set is used for the first time; its text is stored as a blob.
    RulesetAdded {
        /// Rule-set id.
        id: String,
        /// Rule-set version.
        version: String,
        /// The canonical text as a blob (BLAKE3 is the rule-set hash).
        text: BlobRef,
    },
    /// A certificate is registered.
    Registered {
        /// The 12-character certificate code (Crockford base32, no hyphens).
        code: String,
        /// Document kind (`transcript`, `degree_deed`, ...).
        document_kind: String,
        /// Issuing institution.
        institution: String,
        /// Salted commitment to the personal-data blob (no personal data here).
        holder_commitment: Hash32,
        /// Commitment to the access key.
        key_commitment: Hash32,
        /// The digital images, in the order given.
        documents: Vec<DocumentRef>,
        /// The computed grade record, if grades were given.
        grade: Option<GradeRecord>,
    },
    /// The scan of the signed paper original is archived.
    ScanArchived {
        /// Certificate code.
        code: String,
        /// The scan file.
        scan: BlobRef,
        /// File name as dropped by the scanning station.
        source_name: String,
    },
    /// A certificate is declared invalid.
    Revoked {
        /// Certificate code.
        code: String,
        /// Why.
        reason: String,
        /// Effective date, `YYYY-MM-DD`.
        effective_date: String,
    },
    /// A certificate is declared invalid, with a public reason category
    /// (kind 12, FORMAT.md version 2; written by every revocation since).
    /// The free-text `reason` is private: shown only with the access key.
    RevokedWithCategory {
        /// Certificate code.
        code: String,
        /// The public reason category.
        category: RevocationCategory,
        /// Why (private text).
        reason: String,
        /// Effective date, `YYYY-MM-DD`.
        effective_date: String,
    },
    /// An incorrect certificate is withdrawn and reissued under a new code.
    Superseded {
        /// The withdrawn certificate.
        old_code: String,
        /// Its replacement.
        new_code: String,
    },
    /// A failed process instance ends so it can restart under a new code.
    Voided {
        /// Certificate code.
        code: String,
        /// Why.
        reason: String,
    },
    /// A fixity audit ran over the blob store.
    FixityChecked {
        /// Blobs re-hashed.
        blobs_checked: u64,
        /// Bytes re-hashed.
        bytes_checked: u64,
        /// BLAKE3 addresses of damaged or missing blobs.
        failures: Vec<Hash32>,
    },
    /// Personal data of a certificate was deleted (GDPR); the chain stays valid.
    Erased {
        /// Certificate code.
        code: String,
        /// Why.
        reason: String,
    },
    /// An operator replaced a wrongly archived scan (kind 13, FORMAT.md
    /// version 3). The replaced scan's blob is kept; this record names it
    /// by the record that archived it and its BLAKE3. The free-text
    /// `reason` is private, like a revocation's.
    ScanReplaced {
        /// Certificate code.
        code: String,
        /// The new scan, from now on the certificate's scan.
        scan: BlobRef,
        /// Seq of the record that archived the replaced scan (a
        /// `ScanArchived` or an earlier `ScanReplaced` of the same code).
        replaced_seq: u64,
        /// BLAKE3 of the replaced scan (its blob address).
        replaced_blake3: Hash32,
        /// Why (private text).
        reason: String,
        /// File name the operator gave (its last path component).
        source_name: String,
    },
    /// A code is handed out before its document exists (kind 14, FORMAT.md
    /// version 4): it cannot be handed out again, and `register --code`
    /// accepts it until `expires_s`.
    Reserved {
        /// The 12-character code.
        code: String,
        /// Commitment to the reserved access key, salted with a secret
        /// only the archive knows (the key itself is never stored).
        key_commitment: Hash32,
        /// An unused reservation expires at this time (UTC seconds).
        expires_s: i64,
    },
    /// The registration under `code` uses a code printed by an earlier
    /// system (`register --import`; kind 15, version 4).
    CodeImported {
        /// The imported code.
        code: String,
    },
    /// The registration under `code` holds a document whose exact bytes are
    /// already registered under `other_code` (`register --allow-duplicate`;
    /// kind 16, version 4).
    DuplicateAllowed {
        /// The new certificate.
        code: String,
        /// BLAKE3 of the document both hold.
        document: Hash32,
        /// The still-valid certificate that holds it too.
        other_code: String,
    },
    /// The mail to the graduate with the certificate's digital image was
    /// accepted by the SMTP relay (kind 17, version 5; FORMAT.md §3.3).
    MailDelivered {
        /// The certificate.
        code: String,
        /// Language of the text sent, `de` or `en`.
        language: String,
        /// Which template: `builtin` or `operator` (a file of `[mail]
        /// templates`).
        template: String,
        /// BLAKE3 of the template text (before the placeholders were
        /// filled in: the filled-in text holds the access key).
        template_blake3: Hash32,
        /// BLAKE3 of each attached document, in order.
        documents: Vec<Hash32>,
        /// Keyed hash of the address (FORMAT.md §3.3): the address cannot be
        /// recovered from it without the holder salt.
        address_hash: Hash32,
        /// When the relay accepted the mail (UTC seconds).
        delivered_s: i64,
    },
    /// A document of the registration under `code` was stamped by zeugnis
    /// (`register --stamp`) before it was hashed: `document` is what is
    /// registered, `original` the exam office's file before the stamp, so
    /// that the same original cannot be registered again unnoticed (kind
    /// 18, version 7; FORMAT.md §3.3).
    Stamped {
        /// The certificate.
        code: String,
        /// BLAKE3 of the document as registered (stamped).
        document: Hash32,
        /// BLAKE3 of the document before the stamp.
        original: Hash32,
    },
}

/// The kind tag of a body, as stored (u16, FORMAT.md §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    Genesis = 1,
    KeyAdded = 2,
    KeyRetired = 3,
    RulesetAdded = 4,
    Registered = 5,
    ScanArchived = 6,
    Revoked = 7,
    Superseded = 8,
    Voided = 9,
    FixityChecked = 10,
    Erased = 11,
    RevokedWithCategory = 12,
    ScanReplaced = 13,
    Reserved = 14,
    CodeImported = 15,
    DuplicateAllowed = 16,
    MailDelivered = 17,
    Stamped = 18,
}

/// The public reason category of a revocation (FORMAT.md §3.3, kind 12).
/// Stored as its name; a decoder rejects any other string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationCategory {
    /// No public reason (the neutral default).
    Unspecified,
    /// Withdrawn by the institution.
    Withdrawn,
    /// Replaced by a corrected certificate.
    Replaced,
    /// Issued in error.
    IssuedInError,
}

impl RevocationCategory {
    /// Every category, in documentation order.
    pub const ALL: [RevocationCategory; 4] = [
        RevocationCategory::Unspecified,
        RevocationCategory::Withdrawn,
        RevocationCategory::Replaced,
        RevocationCategory::IssuedInError,
    ];

    /// The stored name (`unspecified`, `withdrawn`, `replaced`, `issued_in_error`).
    pub fn name(self) -> &'static str {
        match self {
            RevocationCategory::Unspecified => "unspecified",
            RevocationCategory::Withdrawn => "withdrawn",
            RevocationCategory::Replaced => "replaced",
            RevocationCategory::IssuedInError => "issued_in_error",
        }
    }

    /// The category of a stored name.
    pub fn parse(s: &str) -> Option<RevocationCategory> {
        RevocationCategory::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl fmt::Display for RevocationCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Kind {
    /// Every kind, in tag order.
    pub const ALL: [Kind; 18] = [
        Kind::Genesis,
        Kind::KeyAdded,
        Kind::KeyRetired,
        Kind::RulesetAdded,
        Kind::Registered,
        Kind::ScanArchived,
        Kind::Revoked,
        Kind::Superseded,
        Kind::Voided,
        Kind::FixityChecked,
        Kind::Erased,
        Kind::RevokedWithCategory,
        Kind::ScanReplaced,
        Kind::Reserved,
        Kind::CodeImported,
        Kind::DuplicateAllowed,
        Kind::MailDelivered,
        Kind::Stamped,
    ];

    fn from_tag(tag: u16) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u16 == tag)
    }

    /// The name used in FORMAT.md and in JSON renderings.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Genesis => "Genesis",
            Kind::KeyAdded => "KeyAdded",
            Kind::KeyRetired => "KeyRetired",
            Kind::RulesetAdded => "RulesetAdded",
            Kind::Registered => "Registered",
            Kind::ScanArchived => "ScanArchived",
            Kind::Revoked => "Revoked",
            Kind::Superseded => "Superseded",
            Kind::Voided => "Voided",
            Kind::FixityChecked => "FixityChecked",
            Kind::Erased => "Erased",
            Kind::RevokedWithCategory => "RevokedWithCategory",
            Kind::ScanReplaced => "ScanReplaced",
            Kind::Reserved => "Reserved",
            Kind::CodeImported => "CodeImported",
            Kind::DuplicateAllowed => "DuplicateAllowed",
            Kind::MailDelivered => "MailDelivered",
            Kind::Stamped => "Stamped",
        }
    }
}

impl Body {
    /// The kind tag of this body.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Genesis { .. } => Kind::Genesis,
            Body::KeyAdded { .. } => Kind::KeyAdded,
            Body::KeyRetired { .. } => Kind::KeyRetired,
            Body::RulesetAdded { .. } => Kind::RulesetAdded,
            Body::Registered { .. } => Kind::Registered,
            Body::ScanArchived { .. } => Kind::ScanArchived,
            Body::Revoked { .. } => Kind::Revoked,
            Body::Superseded { .. } => Kind::Superseded,
            Body::Voided { .. } => Kind::Voided,
            Body::FixityChecked { .. } => Kind::FixityChecked,
            Body::Erased { .. } => Kind::Erased,
            Body::RevokedWithCategory { .. } => Kind::RevokedWithCategory,
            Body::ScanReplaced { .. } => Kind::ScanReplaced,
            Body::Reserved { .. } => Kind::Reserved,
            Body::CodeImported { .. } => Kind::CodeImported,
            Body::DuplicateAllowed { .. } => Kind::DuplicateAllowed,
            Body::MailDelivered { .. } => Kind::MailDelivered,
            Body::Stamped { .. } => Kind::Stamped,
        }
    }
}

/// Why bytes are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("record truncated at byte {offset} while reading {field}")]
    Truncated { offset: usize, field: &'static str },
    /// Bytes remain after the body.
    #[error("{extra} trailing bytes after the record body at byte {offset}")]
    TrailingBytes { offset: usize, extra: usize },
    /// The format version is not one this build reads.
    #[error("unsupported record format version {version}")]
    UnsupportedVersion { version: u16 },
    /// The kind tag is unknown.
    #[error("unknown record kind tag {tag}")]
    UnknownKind { tag: u16 },
    /// A field holds a value that has no canonical encoding.
    #[error("field {field} at byte {offset}: {reason}")]
    NonCanonical {
        offset: usize,
        field: &'static str,
        reason: String,
    },
    /// The record is larger than [`RECORD_BYTES_MAX`].
    #[error("record of {size_bytes} bytes exceeds the limit of {RECORD_BYTES_MAX} bytes")]
    TooLarge { size_bytes: usize },
}

/// Why a record could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded record would exceed [`RECORD_BYTES_MAX`].
    #[error("{kind} record of {size_bytes} bytes exceeds the limit of {RECORD_BYTES_MAX} bytes")]
    TooLarge {
        kind: &'static str,
        size_bytes: usize,
    },
}

impl Record {
    /// The record header version this record is written with:
    /// [`RECORD_VERSION_ATTRIBUTED`] with an operator, else [`RECORD_VERSION`].
    pub fn version(&self) -> u16 {
        if self.operator.is_some() {
            RECORD_VERSION_ATTRIBUTED
        } else {
            RECORD_VERSION
        }
    }

    /// Encodes the record canonically. Refuses records above [`RECORD_BYTES_MAX`].
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer(Vec::with_capacity(256));
        w.u16(self.version());
        w.u64(self.seq);
        w.i64(self.time_s);
        w.u16(self.body.kind() as u16);
        w.hash(&self.prev_link);
        if let Some(op) = &self.operator {
            w.str(op.as_str());
        }
        self.body.encode_into(&mut w);
        let bytes = w.0;
        if bytes.len() > RECORD_BYTES_MAX {
            return Err(EncodeError::TooLarge {
                kind: self.body.kind().name(),
                size_bytes: bytes.len(),
            });
        }
        Ok(bytes)
    }

    /// Decodes a record; rejects anything that would not re-encode identically.
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        if bytes.len() > RECORD_BYTES_MAX {
            return Err(DecodeError::TooLarge {
                size_bytes: bytes.len(),
            });
        }
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u16("version")?;
        if version != RECORD_VERSION && version != RECORD_VERSION_ATTRIBUTED {
            return Err(DecodeError::UnsupportedVersion { version });
        }
        let seq = r.u64("seq")?;
        let time_s = r.i64("time")?;
        let tag = r.u16("kind")?;
        let kind = Kind::from_tag(tag).ok_or(DecodeError::UnknownKind { tag })?;
        let prev_link = r.hash("prev_link")?;
        let operator = if version == RECORD_VERSION_ATTRIBUTED {
            let at = r.pos;
            let id = r.str("operator")?;
            Some(
                OperatorId::parse(&id).map_err(|e| DecodeError::NonCanonical {
                    offset: at,
                    field: "operator",
                    reason: e.to_string(),
                })?,
            )
        } else {
            None
        };
        let body = Body::decode_from(kind, &mut r)?;
        if r.pos != bytes.len() {
            return Err(DecodeError::TrailingBytes {
                offset: r.pos,
                extra: bytes.len() - r.pos,
            });
        }
        let record = Record {
            seq,
            time_s,
            prev_link,
            operator,
            body,
        };
        // Belt and braces: the field-level checks above should already make
        // this impossible; a mismatch here is a bug in this file.
        match record.encode() {
            Ok(again) if again == bytes => Ok(record),
            _ => Err(DecodeError::NonCanonical {
                offset: 0,
                field: "record",
                reason: "does not re-encode to the same bytes".into(),
            }),
        }
    }
}

impl Body {
    fn encode_into(&self, w: &mut Writer) {
        match self {
            Body::Genesis {
                origin,
                format,
                public_key,
                predecessor_checkpoint,
            } => {
                w.str(origin);
                w.str(format);
                w.hash(public_key);
                w.str(predecessor_checkpoint);
            }
            Body::KeyAdded {
                public_key,
                valid_from_s,
            } => {
                w.hash(public_key);
                w.i64(*valid_from_s);
            }
            Body::KeyRetired {
                public_key,
                valid_until_s,
                reason,
            } => {
                w.hash(public_key);
                w.i64(*valid_until_s);
                w.str(reason);
            }
            Body::RulesetAdded { id, version, text } => {
                w.str(id);
                w.str(version);
                w.blob(text);
            }
            Body::Registered {
                code,
                document_kind,
                institution,
                holder_commitment,
                key_commitment,
                documents,
                grade,
            } => {
                w.str(code);
                w.str(document_kind);
                w.str(institution);
                w.hash(holder_commitment);
                w.hash(key_commitment);
                w.u32(documents.len() as u32);
                for d in documents {
                    w.str(&d.language);
                    w.blob(&d.blob);
                }
                match grade {
                    None => w.u8(0),
                    Some(g) => {
                        w.u8(1);
                        w.str(&g.ruleset_id);
                        w.hash(&g.ruleset_hash);
                        match &g.final_grade {
                            None => w.u8(0),
                            Some(d) => {
                                w.u8(1);
                                w.decimal(d);
                            }
                        }
                        w.str(&g.result_json);
                    }
                }
            }
            Body::ScanArchived {
                code,
                scan,
                source_name,
            } => {
                w.str(code);
                w.blob(scan);
                w.str(source_name);
            }
            Body::Revoked {
                code,
                reason,
                effective_date,
            } => {
                w.str(code);
                w.str(reason);
                w.str(effective_date);
            }
            Body::RevokedWithCategory {
                code,
                category,
                reason,
                effective_date,
            } => {
                w.str(code);
                w.str(category.name());
                w.str(reason);
                w.str(effective_date);
            }
            Body::Superseded { old_code, new_code } => {
                w.str(old_code);
                w.str(new_code);
            }
            Body::ScanReplaced {
                code,
                scan,
                replaced_seq,
                replaced_blake3,
                reason,
                source_name,
            } => {
                w.str(code);
                w.blob(scan);
                w.u64(*replaced_seq);
                w.hash(replaced_blake3);
                w.str(reason);
                w.str(source_name);
            }
            Body::Voided { code, reason } | Body::Erased { code, reason } => {
                w.str(code);
                w.str(reason);
            }
            Body::FixityChecked {
                blobs_checked,
                bytes_checked,
                failures,
            } => {
                w.u64(*blobs_checked);
                w.u64(*bytes_checked);
                w.u32(failures.len() as u32);
                for f in failures {
                    w.hash(f);
                }
            }
            Body::Reserved {
                code,
                key_commitment,
                expires_s,
            } => {
                w.str(code);
                w.hash(key_commitment);
                w.i64(*expires_s);
            }
            Body::CodeImported { code } => w.str(code),
            Body::DuplicateAllowed {
                code,
                document,
                other_code,
            } => {
                w.str(code);
                w.hash(document);
                w.str(other_code);
            }
            Body::Stamped {
                code,
                document,
                original,
            } => {
                w.str(code);
                w.hash(document);
                w.hash(original);
            }
            Body::MailDelivered {
                code,
                language,
                template,
                template_blake3,
                documents,
                address_hash,
                delivered_s,
            } => {
                w.str(code);
                w.str(language);
                w.str(template);
                w.hash(template_blake3);
                w.u32(documents.len() as u32);
                for d in documents {
                    w.hash(d);
                }
                w.hash(address_hash);
                w.i64(*delivered_s);
            }
        }
    }

    fn decode_from(kind: Kind, r: &mut Reader) -> Result<Body, DecodeError> {
        Ok(match kind {
            Kind::Genesis => Body::Genesis {
                origin: r.str("origin")?,
                format: r.str("format")?,
                public_key: r.hash("public_key")?,
                predecessor_checkpoint: r.str("predecessor_checkpoint")?,
            },
            Kind::KeyAdded => Body::KeyAdded {
                public_key: r.hash("public_key")?,
                valid_from_s: r.i64("valid_from")?,
            },
            Kind::KeyRetired => Body::KeyRetired {
                public_key: r.hash("public_key")?,
                valid_until_s: r.i64("valid_until")?,
                reason: r.str("reason")?,
            },
            Kind::RulesetAdded => Body::RulesetAdded {
                id: r.str("id")?,
                version: r.str("version")?,
                text: r.blob("text")?,
            },
            Kind::Registered => {
                let code = r.str("code")?;
                let document_kind = r.str("document_kind")?;
                let institution = r.str("institution")?;
                let holder_commitment = r.hash("holder_commitment")?;
                let key_commitment = r.hash("key_commitment")?;
                let count = r.count("documents", 32 + 32 + 8 + 4 + 4)?;
                let mut documents = Vec::with_capacity(count);
                for _ in 0..count {
                    documents.push(DocumentRef {
                        language: r.str("documents.language")?,
                        blob: r.blob("documents.blob")?,
                    });
                }
                let grade = if r.flag("grade")? {
                    let ruleset_id = r.str("grade.ruleset_id")?;
                    let ruleset_hash = r.hash("grade.ruleset_hash")?;
                    let final_grade = if r.flag("grade.final_grade")? {
                        Some(r.decimal("grade.final_grade")?)
                    } else {
                        None
                    };
                    Some(GradeRecord {
                        ruleset_id,
                        ruleset_hash,
                        final_grade,
                        result_json: r.str("grade.result_json")?,
                    })
                } else {
                    None
                };
                Body::Registered {
                    code,
                    document_kind,
                    institution,
                    holder_commitment,
                    key_commitment,
                    documents,
                    grade,
                }
            }
            Kind::ScanArchived => Body::ScanArchived {
                code: r.str("code")?,
                scan: r.blob("scan")?,
                source_name: r.str("source_name")?,
            },
            Kind::Revoked => Body::Revoked {
                code: r.str("code")?,
                reason: r.str("reason")?,
                effective_date: r.str("effective_date")?,
            },
            Kind::RevokedWithCategory => {
                let code = r.str("code")?;
                let at = r.pos;
                let name = r.str("category")?;
                let category =
                    RevocationCategory::parse(&name).ok_or_else(|| DecodeError::NonCanonical {
                        offset: at,
                        field: "category",
                        reason: format!(
                            "unknown revocation category {name:?} (expected one of unspecified, \
                             withdrawn, replaced, issued_in_error)"
                        ),
                    })?;
                Body::RevokedWithCategory {
                    code,
                    category,
                    reason: r.str("reason")?,
                    effective_date: r.str("effective_date")?,
                }
            }
            Kind::Superseded => Body::Superseded {
                old_code: r.str("old_code")?,
                new_code: r.str("new_code")?,
            },
            Kind::Voided => Body::Voided {
                code: r.str("code")?,
                reason: r.str("reason")?,
            },
            Kind::FixityChecked => {
                let blobs_checked = r.u64("blobs_checked")?;
                let bytes_checked = r.u64("bytes_checked")?;
                let count = r.count("failures", 32)?;
                let mut failures = Vec::with_capacity(count);
                for _ in 0..count {
                    failures.push(r.hash("failures")?);
                }
                Body::FixityChecked {
                    blobs_checked,
                    bytes_checked,
                    failures,
                }
            }
            Kind::Erased => Body::Erased {
                code: r.str("code")?,
                reason: r.str("reason")?,
            },
            Kind::ScanReplaced => Body::ScanReplaced {
                code: r.str("code")?,
                scan: r.blob("scan")?,
                replaced_seq: r.u64("replaced_seq")?,
                replaced_blake3: r.hash("replaced_blake3")?,
                reason: r.str("reason")?,
                source_name: r.str("source_name")?,
            },
            Kind::Reserved => Body::Reserved {
                code: r.str("code")?,
                key_commitment: r.hash("key_commitment")?,
                expires_s: r.i64("expires")?,
            },
            Kind::CodeImported => Body::CodeImported {
                code: r.str("code")?,
            },
            Kind::DuplicateAllowed => Body::DuplicateAllowed {
                code: r.str("code")?,
                document: r.hash("document")?,
                other_code: r.str("other_code")?,
            },
            Kind::Stamped => Body::Stamped {
                code: r.str("code")?,
                document: r.hash("document")?,
                original: r.hash("original")?,
            },
            Kind::MailDelivered => Body::MailDelivered {
                code: r.str("code")?,
                language: r.str("language")?,
                template: r.str("template")?,
                template_blake3: r.hash("template_blake3")?,
                documents: {
                    let count = r.count("documents", 32)?;
                    let mut v = Vec::with_capacity(count);
                    for _ in 0..count {
                        v.push(r.hash("documents")?);
                    }
                    v
                },
                address_hash: r.hash("address_hash")?,
                delivered_s: r.i64("delivered")?,
            },
        })
    }
}

/// Little-endian, fixed-width writer (FORMAT.md §3.2).
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn hash(&mut self, h: &Hash32) {
        self.0.extend_from_slice(h);
    }
    fn str(&mut self, s: &str) {
        // Lengths above u32 cannot occur: the record limit is far smaller and
        // `encode` refuses oversized records after writing.
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn decimal(&mut self, d: &Decimal) {
        self.str(&canonical_decimal(d));
    }
    fn blob(&mut self, b: &BlobRef) {
        self.hash(&b.blake3);
        self.hash(&b.sha256);
        self.u64(b.size_bytes);
        self.str(&b.media_type);
    }
}

/// The normalised decimal string of FORMAT.md §3.2: no exponent, no trailing
/// zeros after the point, no point if integral, `-` only for negatives, no `+`.
pub fn canonical_decimal(d: &Decimal) -> String {
    d.normalize().to_string()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(DecodeError::Truncated {
                offset: self.pos,
                field,
            }),
        }
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }
    fn hash(&mut self, field: &'static str) -> Result<Hash32, DecodeError> {
        self.array(field)
    }
    fn flag(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let at = self.pos;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::NonCanonical {
                offset: at,
                field,
                reason: format!("option tag must be 0 or 1, found {other}"),
            }),
        }
    }
    /// A count of items that take at least `item_bytes_min` each; rejects
    /// counts that cannot fit in the rest of the record before allocating.
    fn count(&mut self, field: &'static str, item_bytes_min: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.u32(field)? as usize;
        let left = self.bytes.len() - self.pos;
        if n.saturating_mul(item_bytes_min) > left {
            return Err(DecodeError::Truncated { offset: at, field });
        }
        Ok(n)
    }
    fn str(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let at = self.pos;
        let n = self.u32(field)? as usize;
        let raw = self.take(n, field)?;
        String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::NonCanonical {
            offset: at,
            field,
            reason: "not valid UTF-8".into(),
        })
    }
    fn decimal(&mut self, field: &'static str) -> Result<Decimal, DecodeError> {
        let at = self.pos;
        let s = self.str(field)?;
        let d = Decimal::from_str(&s).map_err(|e| DecodeError::NonCanonical {
            offset: at,
            field,
            reason: format!("not a decimal ({e}): {s:?}"),
        })?;
        if canonical_decimal(&d) != s {
            return Err(DecodeError::NonCanonical {
                offset: at,
                field,
                reason: format!("decimal {s:?} is not normalised"),
            });
        }
        Ok(d)
    }
    fn blob(&mut self, field: &'static str) -> Result<BlobRef, DecodeError> {
        Ok(BlobRef {
            blake3: self.hash(field)?,
            sha256: self.hash(field)?,
            size_bytes: self.u64(field)?,
            media_type: self.str(field)?,
        })
    }
}

fn blob_json(b: &BlobRef) -> serde_json::Value {
    serde_json::json!({
        "blake3": hex::encode(b.blake3),
        "sha256": hex::encode(b.sha256),
        "size_bytes": b.size_bytes,
        "media_type": b.media_type,
    })
}

impl Record {
    /// A readable JSON rendering (for exports; the bytes are authoritative).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let body = match &self.body {
            Body::Genesis {
                origin,
                format,
                public_key,
                predecessor_checkpoint,
            } => json!({"origin": origin, "format": format, "public_key": hex::encode(public_key),
                        "predecessor_checkpoint": predecessor_checkpoint}),
            Body::KeyAdded {
                public_key,
                valid_from_s,
            } => json!({"public_key": hex::encode(public_key), "valid_from": valid_from_s}),
            Body::KeyRetired {
                public_key,
                valid_until_s,
                reason,
            } => {
                json!({"public_key": hex::encode(public_key), "valid_until": valid_until_s, "reason": reason})
            }
            Body::RulesetAdded { id, version, text } => {
                json!({"id": id, "version": version, "text": blob_json(text)})
            }
            Body::Registered {
                code,
                document_kind,
                institution,
                holder_commitment,
                key_commitment,
                documents,
                grade,
            } => json!({
                "code": code, "document_kind": document_kind, "institution": institution,
                "holder_commitment": hex::encode(holder_commitment),
                "key_commitment": hex::encode(key_commitment),
                "documents": documents.iter().map(|d| json!({"language": d.language, "blob": blob_json(&d.blob)})).collect::<Vec<_>>(),
                "grade": grade.as_ref().map(|g| json!({
                    "ruleset_id": g.ruleset_id, "ruleset_hash": hex::encode(g.ruleset_hash),
                    "final_grade": g.final_grade.as_ref().map(canonical_decimal),
                    "result": serde_json::from_str::<serde_json::Value>(&g.result_json).unwrap_or(serde_json::Value::Null),
                })),
            }),
            Body::ScanArchived {
                code,
                scan,
                source_name,
            } => json!({"code": code, "scan": blob_json(scan), "source_name": source_name}),
            Body::Revoked {
                code,
                reason,
                effective_date,
            } => json!({"code": code, "reason": reason, "effective_date": effective_date}),
            Body::RevokedWithCategory {
                code,
                category,
                reason,
                effective_date,
            } => json!({"code": code, "category": category.name(), "reason": reason,
                        "effective_date": effective_date}),
            Body::Superseded { old_code, new_code } => {
                json!({"old_code": old_code, "new_code": new_code})
            }
            Body::ScanReplaced {
                code,
                scan,
                replaced_seq,
                replaced_blake3,
                reason,
                source_name,
            } => json!({"code": code, "scan": blob_json(scan), "replaced_seq": replaced_seq,
                        "replaced_blake3": hex::encode(replaced_blake3), "reason": reason,
                        "source_name": source_name}),
            Body::Voided { code, reason } | Body::Erased { code, reason } => {
                json!({"code": code, "reason": reason})
            }
            Body::FixityChecked {
                blobs_checked,
                bytes_checked,
                failures,
            } => json!({"blobs_checked": blobs_checked, "bytes_checked": bytes_checked,
                        "failures": failures.iter().map(hex::encode).collect::<Vec<_>>()}),
            Body::Reserved {
                code,
                key_commitment,
                expires_s,
            } => json!({"code": code, "key_commitment": hex::encode(key_commitment),
                        "expires": expires_s}),
            Body::CodeImported { code } => json!({"code": code}),
            Body::DuplicateAllowed {
                code,
                document,
                other_code,
            } => json!({"code": code, "document": hex::encode(document), "other_code": other_code}),
            Body::Stamped {
                code,
                document,
                original,
            } => json!({"code": code, "document": hex::encode(document),
                        "original": hex::encode(original)}),
            Body::MailDelivered {
                code,
                language,
                template,
                template_blake3,
                documents,
                address_hash,
                delivered_s,
            } => json!({"code": code, "language": language, "template": template,
                        "template_blake3": hex::encode(template_blake3),
                        "documents": documents.iter().map(hex::encode).collect::<Vec<_>>(),
                        "address_hash": hex::encode(address_hash), "delivered": delivered_s}),
        };
        json!({
            "version": self.version(),
            "operator": self.operator.as_ref().map(OperatorId::as_str),
            "seq": self.seq,
            "time": self.time_s,
            "kind": self.body.kind().name(),
            "prev_link": hex::encode(self.prev_link),
            "body": body,
        })
    }

    /// The certificate codes this record is about (empty for log-level records).
    pub fn codes(&self) -> Vec<&str> {
        match &self.body {
            Body::Registered { code, .. }
            | Body::ScanArchived { code, .. }
            | Body::Revoked { code, .. }
            | Body::RevokedWithCategory { code, .. }
            | Body::ScanReplaced { code, .. }
            | Body::Voided { code, .. }
            | Body::Erased { code, .. }
            | Body::Reserved { code, .. }
            | Body::CodeImported { code }
            | Body::DuplicateAllowed { code, .. }
            | Body::MailDelivered { code, .. }
            | Body::Stamped { code, .. } => vec![code.as_str()],
            Body::Superseded { old_code, new_code } => vec![old_code.as_str(), new_code.as_str()],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
