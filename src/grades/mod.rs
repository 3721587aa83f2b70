//! The grade engine (placeholder until issue 3 lands).

use std::path::Path;

/// Errors of the grade engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GradeError {
    /// The grade engine is not built yet.
    #[error("the grade engine is not available yet")]
    Unavailable,
}

impl GradeError {
    /// Exit code for the CLI: 2 for bad input, 1 for internal failure.
    pub fn exit_code(&self) -> i32 {
        1
    }
}

/// `zeugnis grade`: returns the text to print on success.
pub fn grade_command(
    _ruleset: Option<&str>,
    _input: Option<&Path>,
    _json: bool,
    _list: bool,
) -> Result<String, GradeError> {
    Err(GradeError::Unavailable)
}
