//! The one error type of the grade engine. It owns the wording a person
//! reads when an input is rejected (every variant names the field and the
//! reason) and the split between bad input and internal failure. It must not
//! know about exit codes beyond [`GradeError::exit_code`], nor print anything.

use std::path::PathBuf;

/// Errors of the grade engine.
///
/// Every bad-input variant carries the JSON path of the offending field
/// (e.g. `parts[0].modules[2].grade`) so the exam office can fix the record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GradeError {
    /// The rule-set id is not one of the shipped rule sets.
    #[error("{field}: unknown rule set {id:?}; shipped rule sets: {known}")]
    UnknownRuleset {
        /// Where the id came from (`ruleset` or `--ruleset`).
        field: String,
        /// The id that was asked for.
        id: String,
        /// Comma-separated shipped ids, so the reader sees the choices.
        known: String,
    },
    /// `--ruleset` and the input's `ruleset` field name different rule sets.
    #[error("ruleset: the input names {input:?} but --ruleset names {argument:?}")]
    RulesetMismatch {
        /// The id given on the command line.
        argument: String,
        /// The id given in the input file.
        input: String,
    },
    /// A required field is absent.
    #[error("{field}: missing field")]
    MissingField {
        /// Path of the missing field.
        field: String,
    },
    /// A field the rule set does not know (a typo must not be ignored silently).
    #[error("{field}: unknown field{hint}")]
    UnknownField {
        /// Path of the unexpected field.
        field: String,
        /// Optional hint, starting with "; ".
        hint: String,
    },
    /// A field has the wrong type or an unparseable or out-of-range value.
    #[error("{field}: {reason}")]
    InvalidField {
        /// Path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A grade that is not allowed by the rule set's scale.
    #[error("{field}: grade {grade} is not on the scale ({allowed})")]
    NotOnScale {
        /// Path of the grade.
        field: String,
        /// The grade as given.
        grade: String,
        /// Description of the allowed grades.
        allowed: String,
    },
    /// Credit points that are zero or negative.
    #[error("{field}: credit points must be greater than zero, got {lp}")]
    NonPositiveLp {
        /// Path of the LP field.
        field: String,
        /// The value as given.
        lp: String,
    },
    /// A part whose modules together have fewer credit points than required.
    #[error("{field}: the modules have {available} LP in total but {required} LP are required")]
    InsufficientLp {
        /// Path of the part (`parts[0]`).
        field: String,
        /// Required LP of the part.
        required: String,
        /// Sum of the LP of all its modules.
        available: String,
    },
    /// Two modules, parts or candidates share an id.
    #[error("{field}: duplicate id {id:?}")]
    DuplicateId {
        /// Path of the second occurrence.
        field: String,
        /// The duplicated id.
        id: String,
    },
    /// A third examiner's grade although the first two do not call for one.
    #[error(
        "{field}: a third grade was given but none is needed (no grade is worse than {limit})"
    )]
    ThirdNotNeeded {
        /// Path of the field (`third`).
        field: String,
        /// The grade above which a third examiner is needed.
        limit: String,
    },
    /// A command-line argument is missing.
    #[error("{argument} is required{hint}")]
    MissingArgument {
        /// The argument, e.g. `--input`.
        argument: String,
        /// Optional hint, starting with "; ".
        hint: String,
    },
    /// The input file could not be read.
    #[error("{path}: cannot read input: {source}")]
    ReadInput {
        /// The input path.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The input file is not JSON or too large.
    #[error("{path}: {reason}")]
    ParseInput {
        /// The input path.
        path: PathBuf,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// A shipped rule set does not load: a defect of this build, not of the input.
    #[error("rule set {id}: invalid rule-set file: {reason}")]
    Ruleset {
        /// The rule-set id (or file name if the id is unreadable).
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// An arithmetic step overflowed although the input limits should
    /// prevent it: an internal failure.
    #[error("{context}: arithmetic overflow")]
    Overflow {
        /// The computation step.
        context: String,
    },
}

impl GradeError {
    /// Exit code for the CLI: 2 for bad input, 1 for internal failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            GradeError::Ruleset { .. } | GradeError::Overflow { .. } => 1,
            _ => 2,
        }
    }

    /// Shorthand for [`GradeError::InvalidField`].
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        GradeError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`GradeError::Overflow`].
    pub(crate) fn overflow(context: impl Into<String>) -> Self {
        GradeError::Overflow {
            context: context.into(),
        }
    }
}
