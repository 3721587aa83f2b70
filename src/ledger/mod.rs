//! Ledger (in progress).
