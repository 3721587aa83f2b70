//! Offline proofs in the C2SP `tlog-proof@v1` text format (FORMAT.md §10).
//!
//! Owns: writing and parsing `.tlog-proof` files: an inclusion proof for one
//! leaf plus the signed checkpoint it refers to. Must not do: I/O, deciding
//! which keys to trust (the caller passes verifiers).

use super::checkpoint::{verify_note, Checkpoint, NoteError, Verifier};
use super::merkle::{self, ProofError, TreeHash};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// First line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most hashes an inclusion proof can have (a tree of 2^63 leaves).
pub const PROOF_HASHES_MAX: usize = 64;

/// A parsed `.tlog-proof`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Optional unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// Leaf index.
    pub index: u64,
    /// Inclusion path, leaf sibling first.
    pub path: Vec<TreeHash>,
    /// The checkpoint note, verbatim, with signatures.
    pub checkpoint_note: String,
}

/// Why a `.tlog-proof` is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofError {
    /// Not in the tlog-proof format.
    #[error("malformed tlog-proof, line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    /// The checkpoint note does not verify.
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
    /// The inclusion proof does not verify.
    #[error("inclusion: {0}")]
    Inclusion(#[from] ProofError),
}

impl TlogProof {
    /// The file text.
    pub fn encode(&self) -> String {
        let mut s = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            s.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.path {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint_note);
        s
    }

    /// Parses the file text.
    pub fn parse(text: &str) -> Result<TlogProof, TlogProofError> {
        let bad = |line: usize, reason: &str| TlogProofError::Malformed {
            line,
            reason: reason.to_string(),
        };
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| bad(0, "no blank line before the checkpoint"))?;
        let mut lines = head
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .peekable();
        match lines.next() {
            Some((_, TLOG_PROOF_HEADER)) => {}
            _ => return Err(bad(1, "first line is not c2sp.org/tlog-proof@v1")),
        }
        let mut extra = None;
        if let Some((n, l)) = lines.peek().copied() {
            if let Some(e) = l.strip_prefix("extra ") {
                extra = Some(B64.decode(e).map_err(|_| bad(n, "extra is not base64"))?);
                lines.next();
            }
        }
        let (n, l) = lines.next().ok_or_else(|| bad(2, "missing index line"))?;
        let idx = l
            .strip_prefix("index ")
            .ok_or_else(|| bad(n, "expected `index <n>`"))?;
        if idx.is_empty()
            || !idx.bytes().all(|c| c.is_ascii_digit())
            || (idx.len() > 1 && idx.starts_with('0'))
        {
            return Err(bad(n, "index is not a decimal without leading zeros"));
        }
        let index = idx.parse().map_err(|_| bad(n, "index out of range"))?;
        let mut path = Vec::new();
        for (n, l) in lines {
            let h = B64.decode(l).map_err(|_| bad(n, "hash is not base64"))?;
            path.push(h.try_into().map_err(|_| bad(n, "hash is not 32 bytes"))?);
            if path.len() > PROOF_HASHES_MAX {
                return Err(bad(n, "too many hashes"));
            }
        }
        Ok(TlogProof {
            extra,
            index,
            path,
            checkpoint_note: note.to_string(),
        })
    }

    /// Verifies the proof for `record` (the leaf's exact bytes): the
    /// checkpoint signature by one of `known`, then inclusion against its root.
    /// Returns the verified checkpoint.
    pub fn verify(&self, record: &[u8], known: &[Verifier]) -> Result<Checkpoint, TlogProofError> {
        let (note, _) = verify_note(&self.checkpoint_note, known)?;
        let cp = Checkpoint::parse(&note.text)?;
        let path: Vec<Vec<u8>> = self.path.iter().map(|h| h.to_vec()).collect();
        merkle::verify_inclusion(
            self.index,
            cp.size,
            &merkle::leaf_hash(record),
            &path,
            &cp.root,
        )?;
        Ok(cp)
    }
}
