//! The grade engine: computes grade records from grade inputs with
//! versioned rule sets, in exact decimal arithmetic.
//!
//! It owns the regulations as rule sets (`rulesets/*.toml`, embedded at build
//! time), the arithmetic of grading and the grade record that names the rule
//! set by id and content hash, so that a grade can be recomputed decades
//! later. It must not touch the ledger, the network or the clock; the only
//! I/O is reading the input file in [`grade_command`] (the CLI edge).
//!
//! # Layout
//! - [`decimal`]: parsing decimal strings, exact fractions, named rounding
//!   modes, display strings.
//! - [`scale`]: grade scales, snapping, letters, grade words.
//! - [`rules`]: module selection, weighted means, the several-examiners
//!   rule, multiple-choice bands.
//! - [`ruleset`]: the rule-set file format, canonical text and hash.
//! - `table`: a stored grade record as a readable table (`zeugnis show`).
//! - `input`, `evaluate`, `command`: reading inputs, running a rule set,
//!   the `zeugnis grade` command.
//!
//! The rule-set format and every reading of an ambiguous clause are
//! documented in `docs/grades.md`.

mod command;
pub mod decimal;
mod error;
mod evaluate;
mod input;
pub mod rules;
pub mod ruleset;
pub mod scale;
mod table;
#[cfg(test)]
mod tests;

pub use command::{grade_command, GradeOutput};
pub use error::GradeError;
pub use ruleset::ShippedRuleset;
pub use table::record_table;

use serde::Serialize;
use serde_json::Value;

/// A computed grade: what the registration stores and the ledger refers to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradeRecord {
    /// Rule-set id, e.g. `erfurt-ba-2019`.
    pub ruleset: String,
    /// BLAKE3 of the rule set's canonical text, lowercase hex.
    pub ruleset_hash: String,
    /// `weighted`, `examiners` or `mc`.
    pub kind: String,
    /// The kind-specific result object (see docs/design.md, "Grade engine").
    pub result: Value,
}

/// Evaluates a grade input; the input's `ruleset` field names the rule set.
pub fn evaluate(input: &Value) -> Result<GradeRecord, GradeError> {
    let id = input::ruleset_id(input)?.ok_or_else(|| GradeError::MissingField {
        field: "ruleset".into(),
    })?;
    evaluate_with(id, input, false).map(|(record, _)| record)
}

/// Evaluates with the named rule set; with `with_trace` also returns the
/// steps for the human report.
fn evaluate_with(
    id: &str,
    input: &Value,
    with_trace: bool,
) -> Result<(GradeRecord, Vec<evaluate::TraceLine>), GradeError> {
    let rs = ruleset::find("ruleset", id)?;
    let ev = evaluate::evaluate(rs, input, with_trace)?;
    Ok((
        GradeRecord {
            ruleset: rs.meta.id.clone(),
            ruleset_hash: rs.meta.hash.clone(),
            kind: rs.meta.kind.clone(),
            result: ev.result,
        },
        ev.trace,
    ))
}

/// The shipped rule sets: id, version, citation, kind, canonical text, hash.
pub fn shipped_rulesets() -> Result<Vec<ShippedRuleset>, GradeError> {
    Ok(ruleset::shipped()?.iter().map(|r| r.meta.clone()).collect())
}
