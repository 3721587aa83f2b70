//! The RFC 6962 / RFC 9162 Merkle tree over record bytes (FORMAT.md §6).
//!
//! Owns: leaf and node hashing, inclusion and consistency proof generation
//! (over any [`NodeSource`] of complete-subtree hashes) and verification.
//! Must not do: I/O. Storage of hashes lives in `tiles`.
//!
//! Verification follows the reference algorithm of transparency-dev/merkle
//! (decomposition into inner and border proof parts) so that it accepts and
//! rejects exactly what the ecosystem's verifiers do, with one deliberate
//! strictness: a consistency proof from an empty tree (size 0) is refused,
//! because a size-0 checkpoint commits to nothing and such a "proof" proves
//! nothing (the conformance vectors in `tests/vectors/rfc6962` require this).

use sha2::{Digest, Sha256};

/// A SHA-256 tree hash.
pub type TreeHash = [u8; 32];

/// Hash of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> TreeHash {
    Sha256::digest([]).into()
}

/// Leaf hash: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> TreeHash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Why a proof could not be produced or did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    /// The sizes cannot be related by a consistency proof.
    #[error("cannot prove consistency from size {size1} to size {size2}: {reason}")]
    BadSizes {
        size1: u64,
        size2: u64,
        reason: &'static str,
    },
    /// A hash has the wrong length.
    #[error("{what} has {len} bytes, expected 32")]
    BadHashLength { what: &'static str, len: usize },
    /// The proof has the wrong number of hashes.
    #[error("proof has {got} hashes, expected {want}")]
    WrongProofLength { got: usize, want: usize },
    /// The recomputed root differs from the expected root.
    #[error("root mismatch: computed {computed}, expected {expected}")]
    RootMismatch { computed: String, expected: String },
    /// A node the proof needs could not be read.
    #[error("tree node at level {level} index {index} unavailable: {reason}")]
    NodeUnavailable {
        level: u8,
        index: u64,
        reason: String,
    },
}

/// Anything that can return the hash of a complete, aligned subtree:
/// the node at `level` (0 = leaves) and `index` covers leaves
/// `[index << level, (index + 1) << level)`.
pub trait NodeSource {
    /// Returns the hash of a complete subtree that lies inside the tree.
    fn node(&self, level: u8, index: u64) -> Result<TreeHash, ProofError>;
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Hash of leaves `[lo, hi)`, where the range is a subtree of some tree:
/// `lo` is aligned to the largest power of two not above `hi - lo`.
pub fn subtree_hash<S: NodeSource + ?Sized>(
    src: &S,
    lo: u64,
    hi: u64,
) -> Result<TreeHash, ProofError> {
    let n = hi - lo;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return src.node(level, lo >> level);
    }
    let k = split_point(n);
    let left = subtree_hash(src, lo, lo + k)?;
    let right = subtree_hash(src, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of `size` leaves.
pub fn root<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<TreeHash, ProofError> {
    subtree_hash(src, 0, size)
}

/// RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size`
/// leaves, leaf sibling first.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<TreeHash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    let mut path = Vec::new();
    inclusion_path(src, index, 0, size, &mut path)?;
    Ok(path)
}

fn inclusion_path<S: NodeSource + ?Sized>(
    src: &S,
    m: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<TreeHash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        inclusion_path(src, m, lo, lo + k, out)?;
        out.push(subtree_hash(src, lo + k, hi)?);
    } else {
        inclusion_path(src, m - k, lo + k, hi, out)?;
        out.push(subtree_hash(src, lo, lo + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.1 consistency proof from `size1` to `size2` leaves.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    src: &S,
    size1: u64,
    size2: u64,
) -> Result<Vec<TreeHash>, ProofError> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::BadSizes {
            size1,
            size2,
            reason: "need 0 < size1 <= size2",
        });
    }
    let mut path = Vec::new();
    if size1 < size2 {
        subproof(src, size1, 0, size2, true, &mut path)?;
    }
    Ok(path)
}

fn subproof<S: NodeSource + ?Sized>(
    src: &S,
    m: u64,
    lo: u64,
    hi: u64,
    complete: bool,
    out: &mut Vec<TreeHash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if m == n {
        if !complete {
            out.push(subtree_hash(src, lo, hi)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, lo, lo + k, complete, out)?;
        out.push(subtree_hash(src, lo + k, hi)?);
    } else {
        subproof(src, m - k, lo + k, hi, false, out)?;
        out.push(subtree_hash(src, lo, lo + k)?);
    }
    Ok(())
}

fn check_len<'a>(what: &'static str, h: &'a [u8]) -> Result<&'a [u8; 32], ProofError> {
    h.try_into()
        .map_err(|_| ProofError::BadHashLength { what, len: h.len() })
}

fn mismatch(computed: &[u8], expected: &[u8]) -> ProofError {
    ProofError::RootMismatch {
        computed: hex::encode(computed),
        expected: hex::encode(expected),
    }
}

/// (inner, border) sizes of an inclusion proof, as in transparency-dev/merkle.
fn decompose(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index >> inner).count_ones() as usize;
    (inner, border)
}

fn chain_inner(mut seed: TreeHash, proof: &[TreeHash], index: u64) -> TreeHash {
    for (i, h) in proof.iter().enumerate() {
        seed = if (index >> i) & 1 == 0 {
            node_hash(&seed, h)
        } else {
            node_hash(h, &seed)
        };
    }
    seed
}

fn chain_inner_right(mut seed: TreeHash, proof: &[TreeHash], index: u64) -> TreeHash {
    for (i, h) in proof.iter().enumerate() {
        if (index >> i) & 1 == 1 {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

fn chain_border_right(mut seed: TreeHash, proof: &[TreeHash]) -> TreeHash {
    for h in proof {
        seed = node_hash(h, &seed);
    }
    seed
}

fn to_hashes(proof: &[Vec<u8>]) -> Result<Vec<TreeHash>, ProofError> {
    proof
        .iter()
        .map(|h| check_len("proof hash", h).copied())
        .collect()
}

/// Recomputes the root from an inclusion proof.
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
) -> Result<TreeHash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    let leaf = *check_len("leaf hash", leaf)?;
    let proof = to_hashes(proof)?;
    let (inner, border) = decompose(index, size);
    if proof.len() != inner + border {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want: inner + border,
        });
    }
    let res = chain_inner(leaf, &proof[..inner], index);
    Ok(chain_border_right(res, &proof[inner..]))
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size`
/// leaves with root `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if computed.as_slice() != root {
        return Err(mismatch(&computed, root));
    }
    Ok(())
}

/// Verifies that the tree (`size1`, `root1`) is a prefix of (`size2`, `root2`).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Vec<u8>],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    if size2 < size1 {
        return Err(ProofError::BadSizes {
            size1,
            size2,
            reason: "size2 is smaller than size1",
        });
    }
    if size1 == 0 {
        return Err(ProofError::BadSizes {
            size1,
            size2,
            reason: "an empty tree commits to nothing; nothing to prove",
        });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if root1 != root2 {
            return Err(mismatch(root2, root1));
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::WrongProofLength { got: 0, want: 1 });
    }
    let root1 = check_len("root1", root1)?;
    let root2 = check_len("root2", root2)?;
    let proof = to_hashes(proof)?;
    let (inner, border) = decompose(size1 - 1, size2);
    let shift = size1.trailing_zeros() as usize;
    let inner = inner - shift;
    let (seed, rest) = if size1 == 1u64 << shift {
        (*root1, &proof[..])
    } else {
        (proof[0], &proof[1..])
    };
    if rest.len() != inner + border {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want: proof.len() - rest.len() + inner + border,
        });
    }
    let mask = (size1 - 1) >> shift;
    let hash1 = chain_border_right(
        chain_inner_right(seed, &rest[..inner], mask),
        &rest[inner..],
    );
    if &hash1 != root1 {
        return Err(mismatch(&hash1, root1));
    }
    let hash2 = chain_border_right(chain_inner(seed, &rest[..inner], mask), &rest[inner..]);
    if &hash2 != root2 {
        return Err(mismatch(&hash2, root2));
    }
    Ok(())
}

/// A [`NodeSource`] over leaf hashes held in memory: for tests, small trees
/// and offline verification tools.
pub struct MemoryTree {
    /// `levels[0]` = leaf hashes; `levels[l][i]` = hash of the complete
    /// subtree at level `l`, index `i`.
    levels: Vec<Vec<TreeHash>>,
}

impl MemoryTree {
    /// Builds all complete-subtree hashes over the given leaf hashes.
    pub fn from_leaf_hashes(leaves: Vec<TreeHash>) -> MemoryTree {
        let mut levels = vec![leaves];
        loop {
            let below = levels.last().map(Vec::as_slice).unwrap_or(&[]);
            if below.len() < 2 {
                break;
            }
            let next: Vec<TreeHash> = below
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        MemoryTree { levels }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }
}

impl NodeSource for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<TreeHash, ProofError> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or(ProofError::NodeUnavailable {
                level,
                index,
                reason: "outside the tree".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 reference test leaves (transparency-dev/merkle testonly).
    pub(crate) fn reference_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| hex::decode(h).expect("static hex"))
        .collect()
    }

    fn tree(n: usize) -> MemoryTree {
        MemoryTree::from_leaf_hashes(
            reference_leaves()[..n]
                .iter()
                .map(|l| leaf_hash(l))
                .collect(),
        )
    }

    #[test]
    fn reference_roots() {
        // Roots from RFC 6962 test data (transparency-dev/merkle testonly/constants.go).
        let want = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (i, w) in want.iter().enumerate() {
            let t = tree(i + 1);
            assert_eq!(
                hex::encode(root(&t, t.size()).expect("root")),
                *w,
                "size {}",
                i + 1
            );
        }
    }

    #[test]
    fn generated_proofs_verify_and_tampered_fail() {
        for size in 1..=8u64 {
            let t = tree(size as usize);
            let r = root(&t, size).expect("root");
            for index in 0..size {
                let p: Vec<Vec<u8>> = inclusion_proof(&t, index, size)
                    .expect("proof")
                    .iter()
                    .map(|h| h.to_vec())
                    .collect();
                let leaf = t.node(0, index).expect("leaf");
                assert_eq!(verify_inclusion(index, size, &leaf, &p, &r), Ok(()));
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    let mut h = first.clone();
                    h[0] ^= 1;
                    bad[0] = h;
                    assert!(verify_inclusion(index, size, &leaf, &bad, &r).is_err());
                }
            }
            for size1 in 1..=size {
                let t1 = tree(size1 as usize);
                let r1 = root(&t1, size1).expect("root");
                let p: Vec<Vec<u8>> = consistency_proof(&t, size1, size)
                    .expect("proof")
                    .iter()
                    .map(|h| h.to_vec())
                    .collect();
                assert_eq!(
                    verify_consistency(size1, size, &p, &r1, &r),
                    Ok(()),
                    "{size1}->{size}"
                );
            }
        }
    }
}
