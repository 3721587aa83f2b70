//! The BLAKE3 hash chain over records (FORMAT.md §5).
//!
//! Owns: `link(n) = BLAKE3-derive_key("zeugnis ledger link v1", link(n-1) || record(n))`,
//! with `link(-1)` = 32 zero bytes. Must not do: I/O.

use super::record::Hash32;

/// The BLAKE3 key-derivation context string of the chain (FORMAT.md §5).
pub const LINK_CONTEXT: &str = "zeugnis ledger link v1";

/// The link before the first record.
pub const GENESIS_PREV_LINK: Hash32 = [0u8; 32];

/// Computes the chain link of a record from the previous link and the record bytes.
pub fn link(prev: &Hash32, record_bytes: &[u8]) -> Hash32 {
    let mut h = blake3::Hasher::new_derive_key(LINK_CONTEXT);
    h.update(prev);
    h.update(record_bytes);
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values pin the construction: a change here breaks every ledger.
    /// They agree with the one-shot `blake3::derive_key` over the concatenation
    /// and were computed independently with the Python `blake3` package.
    #[test]
    fn link_golden_values() {
        let cases: [(Hash32, &[u8], &str); 2] = [
            (
                GENESIS_PREV_LINK,
                b"",
                "1825c113e105131db7810e2cd77a5d604d35dcc116b224decd604475af58a09e",
            ),
            (
                [0xffu8; 32],
                b"record",
                "9a70fab76fe6bf3e704e9c09ff777056cab6b7a9b1f31d3b2e7bf99caa484b8d",
            ),
        ];
        for (prev, bytes, want_hex) in cases {
            let got = link(&prev, bytes);
            let mut input = prev.to_vec();
            input.extend_from_slice(bytes);
            assert_eq!(got, blake3::derive_key(LINK_CONTEXT, &input));
            assert_eq!(hex::encode(got), want_hex);
        }
    }
}
