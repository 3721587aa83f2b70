//! zeugnis: the certificate archive.
//!
//! # Layout
//! - [`ledger`]: the append-only, hash-chained, Merkle-proved, signed ledger;
//!   no tokio, no HTTP.
//! - [`grades`]: the grade engine; pure, exact decimals.
//! - [`cli`]: argument parsing and the mapping of typed errors to exit codes.
//!
//! See `ARCHITECTURE.md` for the bird's-eye view and `ledger/FORMAT.md` for
//! the byte format.

pub mod cli;
pub mod grades;
pub mod ledger;
