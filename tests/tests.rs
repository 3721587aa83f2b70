//! The one integration-test binary: each module covers one area end to end.

mod demo;
mod desk;
mod docs;
mod export;
mod exports;
mod fault;
mod grades;
mod guides;
mod http;
mod http_reader;
mod intake;
mod journey;
mod ledger_cli;
mod ledger_crash;
mod ledger_damage;
mod ledger_fastopen;
mod ledger_notes;
mod ledger_props;
mod ledger_python;
mod ledger_records;
mod ledger_vectors;
mod publish;
mod registry;
mod replace_scan;
mod running;
mod support;
