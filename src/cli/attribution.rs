//! `--operator ID` / `ZEUGNIS_OPERATOR`: who the command line's writes are
//! attributed to (ledger/FORMAT.md §3.5, docs/operations.md "Who did it").
//!
//! Owns: choosing the id (the flag over the environment), validating it,
//! and refusing the reserved ids. Must not do: attribute anything itself
//! (`control::Request::attributed` wraps the request, the registry writes).

use crate::registry::{OperatorId, API_OPERATOR};

/// The environment variable read when `--operator` is not given.
pub const OPERATOR_ENV: &str = "ZEUGNIS_OPERATOR";

/// The operator of this command: `--operator` if given, else
/// `$ZEUGNIS_OPERATOR` if set and not empty, else none (unattributed).
/// An invalid or reserved id is an error naming where it came from.
pub fn resolve(flag: Option<&str>) -> Result<Option<OperatorId>, String> {
    let env = std::env::var(OPERATOR_ENV).ok();
    choose(flag, env.as_deref())
}

/// [`resolve`] without the environment (a table test checks it).
fn choose(flag: Option<&str>, env: Option<&str>) -> Result<Option<OperatorId>, String> {
    let (source, id) = match (flag, env) {
        (Some(f), _) => ("--operator", f),
        (None, Some(e)) if !e.is_empty() => (OPERATOR_ENV, e),
        _ => return Ok(None),
    };
    let op = OperatorId::parse(id).map_err(|e| format!("{source}: {e}"))?;
    if op.is_reserved() {
        return Err(format!(
            "{source}: the operator id {op:?} is reserved ({API_OPERATOR:?} is the admin API's \
             bearer token); give your own id",
            op = op.as_str()
        ));
    }
    Ok(Some(op))
}

/// What `ingest` says when an operator is set: the intake's records are
/// never attributed.
pub fn ingest_note(op: &OperatorId) -> String {
    format!(
        "operator {op} does not apply to ingest: the scans the intake archives are unattributed \
         (the cover sheet's code decides, not a person; docs/operations.md)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_and_bad_ids_are_named() {
        let id = |s: &str| Some(OperatorId::parse(s).expect("valid"));
        assert_eq!(choose(None, None), Ok(None));
        assert_eq!(choose(None, Some("")), Ok(None));
        assert_eq!(choose(None, Some("op-env")), Ok(id("op-env")));
        assert_eq!(choose(Some("op-flag"), Some("op-env")), Ok(id("op-flag")));
        let e = choose(Some("Op Flag"), None).expect_err("invalid");
        assert!(e.starts_with("--operator: operator id"), "{e}");
        let e = choose(None, Some("x")).expect_err("too short");
        assert!(e.starts_with("ZEUGNIS_OPERATOR: "), "{e}");
        let e = choose(Some("api"), None).expect_err("reserved");
        assert!(e.contains("reserved"), "{e}");
    }
}
