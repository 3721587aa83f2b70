//! Property tests of the Merkle tree: for random sizes up to 10,000, every
//! inclusion and consistency proof verifies and a flipped bit fails.

use proptest::prelude::*;
use zeugnis::ledger::merkle::{self, leaf_hash, MemoryTree, NodeSource, TreeHash};
use zeugnis::ledger::tiles::TileStore;

fn tree(n: u64) -> MemoryTree {
    MemoryTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect())
}

fn vecs(p: &[TreeHash]) -> Vec<Vec<u8>> {
    p.iter().map(|h| h.to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_proof_verifies_and_a_flipped_bit_fails(size in 1u64..=10_000, bit in 0usize..256) {
        let t = tree(size);
        let root = merkle::root(&t, size).expect("root");
        for index in 0..size {
            let p = vecs(&merkle::inclusion_proof(&t, index, size).expect("proof"));
            let leaf = t.node(0, index).expect("leaf");
            prop_assert!(merkle::verify_inclusion(index, size, &leaf, &p, &root).is_ok());
            let mut bad_leaf = leaf;
            bad_leaf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(merkle::verify_inclusion(index, size, &bad_leaf, &p, &root).is_err());
            if !p.is_empty() {
                let mut bad = p.clone();
                let k = (index as usize + bit) % bad.len();
                bad[k][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(merkle::verify_inclusion(index, size, &leaf, &bad, &root).is_err());
            }
        }
        // Roots of every prefix, computed incrementally from the same tree.
        for size1 in 1..=size {
            let root1 = merkle::root(&t, size1).expect("root1");
            let p = vecs(&merkle::consistency_proof(&t, size1, size).expect("proof"));
            prop_assert!(merkle::verify_consistency(size1, size, &p, &root1, &root).is_ok(), "{} -> {}", size1, size);
            if !p.is_empty() {
                let mut bad = p.clone();
                let k = (size1 as usize + bit) % bad.len();
                bad[k][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(merkle::verify_consistency(size1, size, &bad, &root1, &root).is_err());
            }
            let mut bad_root = root1;
            bad_root[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(merkle::verify_consistency(size1, size, &p, &bad_root, &root).is_err());
        }
    }

    #[test]
    fn tiles_give_the_same_proofs_as_memory(size in 1u64..=5_000, appends in 1usize..6) {
        let dir = tempfile::tempdir().expect("tempdir");
        let leaves: Vec<TreeHash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut store = TileStore::open(dir.path(), 0).expect("open");
        let chunk = (size as usize).div_ceil(appends);
        for c in leaves.chunks(chunk) {
            store.append(c).expect("append");
        }
        let t = MemoryTree::from_leaf_hashes(leaves);
        for index in (0..size).step_by(97) {
            prop_assert_eq!(merkle::inclusion_proof(&store, index, size), merkle::inclusion_proof(&t, index, size));
        }
        for size1 in (1..=size).step_by(89) {
            prop_assert_eq!(merkle::consistency_proof(&store, size1, size), merkle::consistency_proof(&t, size1, size));
        }
    }
}
