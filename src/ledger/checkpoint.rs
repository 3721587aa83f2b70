//! Checkpoints (C2SP tlog-checkpoint) in signed notes (C2SP signed-note,
//! Ed25519), verifier keys, and the signing key file (FORMAT.md §8, §9).
//!
//! Owns: note text and signature lines, key IDs, verifier key strings, the
//! checkpoint body, the PKCS#8 key file and its permission check.
//! Must not do: decide when to sign (the ledger does, after a durable batch).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Signature algorithm byte for Ed25519 in signed notes.
pub const ALG_ED25519: u8 = 0x01;
/// Largest note accepted, in bytes (the signed-note spec's limit is 1 MiB;
/// ours are a few hundred bytes).
pub const NOTE_BYTES_MAX: usize = 65_535;
/// Largest number of signature lines accepted in a note.
pub const NOTE_SIGNATURES_MAX: usize = 100;

/// Errors of notes, checkpoints and keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note is not well-formed.
    #[error("malformed note: {0}")]
    Malformed(String),
    /// The verifier key string is not well-formed.
    #[error("malformed verifier key {key:?}: {reason}")]
    BadVerifierKey { key: String, reason: String },
    /// A signature by a known key does not verify.
    #[error("signature by {name} (key ID {key_id:08x}) does not verify")]
    BadSignature { name: String, key_id: u32 },
    /// No signature by any of the given keys.
    #[error("note has no signature by any of the {known} known key(s)")]
    NoKnownSignature { known: usize },
    /// The checkpoint body is not well-formed.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(String),
    /// The key file cannot be used.
    #[error("signing key {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

/// Key ID per signed-note: first 4 bytes (big-endian) of
/// SHA-256(name || 0x0A || 0x01 || public key).
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A, ALG_ED25519]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A key name is valid if non-empty, with no Unicode spaces and no `+`.
fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// A verifier: name, key ID and Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    /// Key name (for checkpoints: the log origin).
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// The public key.
    pub key: VerifyingKey,
}

impl Verifier {
    /// Builds a verifier for `name` and a public key.
    pub fn new(name: &str, key: VerifyingKey) -> Verifier {
        Verifier {
            name: name.to_string(),
            key_id: key_id(name, key.as_bytes()),
            key,
        }
    }

    /// The verifier key string `<name>+<hex id>+<base64(0x01 || key)>`.
    pub fn vkey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }

    /// Parses a verifier key string; checks that the ID matches the key.
    pub fn parse(vkey: &str) -> Result<Verifier, NoteError> {
        let bad = |reason: &str| NoteError::BadVerifierKey {
            key: vkey.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = vkey.splitn(3, '+');
        let (name, id, key) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(i), Some(k)) => (n, i, k),
            _ => return Err(bad("expected <name>+<id>+<key>")),
        };
        if !valid_key_name(name) {
            return Err(bad("invalid key name"));
        }
        if id.len() != 8
            || !id
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return Err(bad("key ID must be 8 lowercase hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("key ID is not hex"))?;
        let raw = B64.decode(key).map_err(|_| bad("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(bad("key is not 0x01 followed by a 32-byte Ed25519 key"));
        }
        let pk: [u8; 32] = raw[1..].try_into().expect("32 bytes");
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad("not a valid Ed25519 point"))?;
        let v = Verifier::new(name, key);
        if v.key_id != id {
            return Err(bad("key ID does not match name and key"));
        }
        Ok(v)
    }
}

/// A note signer: name plus Ed25519 signing key.
pub struct NoteSigner {
    /// The verifier half.
    pub verifier: Verifier,
    /// The private key.
    key: SigningKey,
}

impl NoteSigner {
    /// Builds a signer.
    pub fn new(name: &str, key: SigningKey) -> NoteSigner {
        NoteSigner {
            verifier: Verifier::new(name, key.verifying_key()),
            key,
        }
    }

    /// Parses a Go-style signer key `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
    pub fn parse_skey(skey: &str) -> Result<NoteSigner, NoteError> {
        let bad = |reason: &str| NoteError::BadVerifierKey {
            key: "PRIVATE+KEY+...".into(),
            reason: reason.to_string(),
        };
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("missing PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (name, id, key) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(i), Some(k)) => (n, i, k),
            _ => return Err(bad("expected <name>+<id>+<key>")),
        };
        let raw = B64.decode(key).map_err(|_| bad("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(bad("key is not 0x01 followed by a 32-byte seed"));
        }
        let seed: [u8; 32] = raw[1..].try_into().expect("32 bytes");
        let signer = NoteSigner::new(name, SigningKey::from_bytes(&seed));
        if format!("{:08x}", signer.verifier.key_id) != id {
            return Err(bad("key ID does not match"));
        }
        Ok(signer)
    }

    /// The signature line for `text`.
    fn signature_line(&self, text: &str) -> String {
        let sig: Signature = self.key.sign(text.as_bytes());
        let mut raw = self.verifier.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("\u{2014} {} {}\n", self.verifier.name, B64.encode(raw))
    }

    /// The private key, for writing the key file.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

/// Signs a note text (which must end in a newline) with every signer.
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String, NoteError> {
    check_text(text)?;
    let mut note = format!("{text}\n");
    for s in signers {
        note.push_str(&s.signature_line(text));
    }
    Ok(note)
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "text does not end in a newline".into(),
        ));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(NoteError::Malformed("text contains a blank line".into()));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "text contains control characters".into(),
        ));
    }
    Ok(())
}

/// A signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// The signature bytes (64 for Ed25519).
    pub signature: Vec<u8>,
}

/// A parsed note: text and signature lines (not yet verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub text: String,
    /// Signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

/// Splits a note into text and signatures.
pub fn parse_note(note: &str) -> Result<Note, NoteError> {
    if note.len() > NOTE_BYTES_MAX {
        return Err(NoteError::Malformed(format!(
            "note exceeds {NOTE_BYTES_MAX} bytes"
        )));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
    let text = &note[..split + 1];
    check_text(text)?;
    let sigs = &note[split + 2..];
    if !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "signature block does not end in a newline".into(),
        ));
    }
    let mut signatures = Vec::new();
    for line in sigs[..sigs.len() - 1].split('\n') {
        let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| {
            NoteError::Malformed(format!(
                "signature line does not start with an em dash: {line:?}"
            ))
        })?;
        let (name, sig) = rest.split_once(' ').ok_or_else(|| {
            NoteError::Malformed(format!("signature line without a space: {line:?}"))
        })?;
        if !valid_key_name(name) {
            return Err(NoteError::Malformed(format!("invalid key name {name:?}")));
        }
        let raw = B64
            .decode(sig)
            .map_err(|_| NoteError::Malformed(format!("signature is not base64: {line:?}")))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed("signature too short".into()));
        }
        signatures.push(NoteSignature {
            name: name.to_string(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        });
        if signatures.len() > NOTE_SIGNATURES_MAX {
            return Err(NoteError::Malformed(format!(
                "more than {NOTE_SIGNATURES_MAX} signatures"
            )));
        }
    }
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signature lines".into()));
    }
    Ok(Note {
        text: text.to_string(),
        signatures,
    })
}

/// Verifies a note against known verifiers: every signature by a known key
/// must verify (`verify_strict`), and at least one must be present.
/// Signatures by unknown keys are ignored, as the spec says. Returns the
/// parsed note and the verifiers whose signatures were checked.
pub fn verify_note<'a>(
    note: &str,
    known: &'a [Verifier],
) -> Result<(Note, Vec<&'a Verifier>), NoteError> {
    let parsed = parse_note(note)?;
    let mut verified = Vec::new();
    for sig in &parsed.signatures {
        let Some(v) = known
            .iter()
            .find(|v| v.name == sig.name && v.key_id == sig.key_id)
        else {
            continue;
        };
        let bad = || NoteError::BadSignature {
            name: sig.name.clone(),
            key_id: sig.key_id,
        };
        let bytes: [u8; 64] = sig.signature.as_slice().try_into().map_err(|_| bad())?;
        v.key
            .verify_strict(parsed.text.as_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| bad())?;
        verified.push(v);
    }
    if verified.is_empty() {
        return Err(NoteError::NoKnownSignature { known: known.len() });
    }
    Ok((parsed, verified))
}

/// A checkpoint body (C2SP tlog-checkpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash at that size.
    pub root: [u8; 32],
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, each ending in a newline.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint text (extension lines are accepted and ignored).
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |r: &str| NoteError::BadCheckpoint(r.to_string());
        let mut lines = text.split_terminator('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("missing origin line"))?;
        let size = lines.next().ok_or_else(|| bad("missing size line"))?;
        if size.is_empty()
            || !size.bytes().all(|c| c.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad("size is not a decimal without leading zeros"));
        }
        let size: u64 = size.parse().map_err(|_| bad("size out of range"))?;
        let root = lines.next().ok_or_else(|| bad("missing root line"))?;
        let root = B64.decode(root).map_err(|_| bad("root is not base64"))?;
        let root: [u8; 32] = root.try_into().map_err(|_| bad("root is not 32 bytes"))?;
        if lines.any(str::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// Writes a new signing key as PKCS#8 PEM with mode 0600 (the file must not exist).
pub fn write_key_file(path: &Path, key: &SigningKey) -> Result<(), NoteError> {
    write_key_file_on(path, key, None)
}

/// As [`write_key_file`] on the simulated disk `fault` (`None`: the real one).
/// The file is fsynced; its directory entry is not (the caller fsyncs `keys/`).
pub fn write_key_file_on(
    path: &Path,
    key: &SigningKey,
    fault: Option<&crate::ledger::durable::SyncFault>,
) -> Result<(), NoteError> {
    let err = |reason: String| NoteError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    // PKCS#8 v1 (RFC 8410 OneAsymmetricKey without the optional public key):
    // OpenSSL 3.0 rejects the v2 form with the embedded public key.
    let v1 = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    let pem = v1
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| err(format!("encoding PKCS#8: {e}")))?;
    crate::ledger::durable::write_file_on(path, pem.as_bytes(), 0o600, true, true, fault)
        .map_err(|e| err(format!("creating, writing or fsyncing: {e}")))?;
    Ok(())
}

/// Reads a PKCS#8 PEM signing key; refuses files readable or writable by
/// group or others.
pub fn read_key_file(path: &Path) -> Result<SigningKey, NoteError> {
    let err = |reason: String| NoteError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    crate::ledger::durable::private_file_metadata(path).map_err(err)?;
    let pem = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| err(format!("not a PKCS#8 Ed25519 key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR1_VKEY: &str =
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const VECTOR1_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    const VECTOR2_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VECTOR2_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn vector1_verifies() {
        let v = Verifier::parse(VECTOR1_VKEY).expect("vkey");
        assert_eq!(v.key_id, 0x530d903a);
        assert_eq!(v.vkey(), VECTOR1_VKEY);
        let (note, by) = verify_note(VECTOR1_NOTE, std::slice::from_ref(&v)).expect("verifies");
        assert_eq!(note.text, "This is an example message.\n");
        assert_eq!(by.len(), 1);
    }

    #[test]
    fn vector1_tampered_fails() {
        let v = Verifier::parse(VECTOR1_VKEY).expect("vkey");
        let tampered = VECTOR1_NOTE.replace("example message", "example massage");
        assert!(matches!(
            verify_note(&tampered, std::slice::from_ref(&v)),
            Err(NoteError::BadSignature {
                key_id: 0x530d903a,
                ..
            })
        ));
    }

    #[test]
    fn vector2_signer_matches_vkey_and_round_trips() {
        let s = NoteSigner::parse_skey(VECTOR2_SKEY).expect("skey");
        assert_eq!(s.verifier.vkey(), VECTOR2_VKEY);
        let note = sign_note("If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n", &[&s]).expect("sign");
        let v = Verifier::parse(VECTOR2_VKEY).expect("vkey");
        assert!(verify_note(&note, &[v]).is_ok());
    }

    #[test]
    fn unknown_key_is_not_enough() {
        let v = Verifier::parse(VECTOR2_VKEY).expect("vkey");
        assert!(matches!(
            verify_note(VECTOR1_NOTE, &[v]),
            Err(NoteError::NoKnownSignature { known: 1 })
        ));
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let cases = [
            ("no signatures", "text\n\n"),
            ("no blank line", "text\n\u{2014} a AAAAAAAA\n"),
            ("no final newline", "text\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="),
            ("hyphen not em dash", "text\n\n- example.com/foo Uw2QOkn8\n"),
        ];
        for (what, note) in cases {
            assert!(
                matches!(parse_note(note), Err(NoteError::Malformed(_))),
                "{what}"
            );
        }
    }

    #[test]
    fn checkpoint_text_round_trip_and_strictness() {
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse(body).expect("parse");
        assert_eq!(cp.size, 20852163);
        assert_eq!(cp.text(), body);
        for bad in [
            "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n1\nAAAA\n",
            "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
