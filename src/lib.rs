//! zeugnis: the certificate archive.
//!
//! # Layout
//! - [`ledger`]: the append-only, hash-chained, Merkle-proved, signed ledger;
//!   no tokio, no HTTP.
//! - [`grades`]: the grade engine; pure, exact decimals.
//! - [`blobs`]: the content-addressed file store.
//! - [`registry`]: the certificate lifecycle (register, revoke, supersede,
//!   void, erase, archive a scan) and the derived certificate states.
//! - [`codes`]: certificate codes and access keys; pure.
//! - [`coversheet`]: the A4 PDF cover sheet with the code as a QR code.
//! - [`document`]: what a registered PDF must be (parses, has pages, PDF/A
//!   declared or warned), and a small text PDF maker.
//! - [`stamp`]: the verification link, QR code and code added to page 1 of
//!   a PDF by an incremental update (`register --stamp`).
//! - [`draft`]: the "ENTWURF / DRAFT" watermark on every page (`zeugnis draft`).
//! - [`export`]: proof bundles, offline verification, consistency of old checkpoints.
//! - [`exports`]: machine-readable certificates (XHochschule 1.2 XML,
//!   European Learning Model JSON-LD) from one shared mapping.
//! - [`report`]: status reports (text, JSON file, SMTP mail).
//! - [`scans`]: the scan intake (watch, claim, identify, archive, quarantine).
//! - [`dates`]: today's date in UTC (`YYYY-MM-DD`).
//! - [`control`]: the daemon's control socket and the commands sent over it.
//! - [`operators`]: the web desk's operator accounts (Argon2id hashes,
//!   outside the ledger).
//! - [`config`], [`daemon`]: `zeugnis run`'s configuration and wiring.
//! - [`http`]: the verification service and the admin API (hyper 1, tokio).
//! - [`cli`]: argument parsing and the mapping of typed errors to exit codes.
//!
//! See `ARCHITECTURE.md` for the bird's-eye view and `ledger/FORMAT.md` for
//! the byte format.

pub mod blobs;
pub mod cli;
pub mod codes;
pub mod config;
pub mod control;
pub mod coversheet;
pub mod daemon;
pub mod dates;
pub mod document;
pub mod draft;
pub mod export;
pub mod exports;
pub mod grades;
pub mod http;
pub mod ledger;
pub mod mail;
pub mod operators;
pub mod publish;
pub mod registry;
pub mod report;
pub mod scans;
pub mod stamp;
