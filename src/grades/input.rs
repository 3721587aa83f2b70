//! Reading a grade input (JSON, all numbers as decimal strings) into typed
//! values, rejecting every bad field with its path and the reason.
//!
//! It owns the input limits and the field names of DESIGN.md ("Grade
//! engine"); unknown fields are errors, never ignored. It must not compute
//! grades: it only checks what can be checked without the rule (types,
//! signs, limits, duplicate ids, grades on the scale).

use super::decimal::parse_decimal;
use super::error::GradeError;
use super::rules::Module;
use super::ruleset::{InputGrades, Ruleset};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Most parts in a weighted input.
pub const PARTS_COUNT_MAX: usize = 32;
/// Most modules in one part.
pub const MODULES_COUNT_MAX: usize = 1_000;
/// Most credit points of one module or one requirement.
pub const LP_MAX: u32 = 1_000;
/// Most bytes of an id (module, part, candidate).
pub const ID_BYTES_MAX: usize = 200;
/// Most candidates of a multiple-choice exam.
pub const CANDIDATES_COUNT_MAX: usize = 100_000;
/// Most points of a multiple-choice exam.
pub const POINTS_MAX: u32 = 1_000_000;

/// A checked `weighted` input part.
#[derive(Debug, Clone, PartialEq)]
pub struct PartInput {
    /// Part id.
    pub id: String,
    /// Required credit points.
    pub required_lp: Decimal,
    /// The modules, in input order.
    pub modules: Vec<Module>,
}

/// A checked `examiners` input.
#[derive(Debug, Clone, PartialEq)]
pub struct ExaminersInput {
    /// The examiners' grades.
    pub grades: Vec<Decimal>,
    /// The third examiner's grade, if given.
    pub third: Option<Decimal>,
}

/// One candidate of a multiple-choice exam.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Candidate id (pseudonym).
    pub id: String,
    /// Total points (after eliminated items were removed).
    pub points: Decimal,
    /// First attempt at this exam, if stated.
    pub first_attempt: Option<bool>,
}

/// A checked `mc` input.
#[derive(Debug, Clone, PartialEq)]
pub struct McInput {
    /// Maximum points of the exam as set.
    pub max_points: Decimal,
    /// Preset pass mark M, if given.
    pub pass_mark: Option<Decimal>,
    /// Points of eliminated faulty items.
    pub eliminated_points: Decimal,
    /// The candidates.
    pub candidates: Vec<Candidate>,
}

/// The top-level `ruleset` field of an input.
pub fn ruleset_id(input: &Value) -> Result<Option<&str>, GradeError> {
    let obj = object(input, "")?;
    match obj.get("ruleset") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(GradeError::invalid("ruleset", "must be a string")),
    }
}

fn path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, GradeError> {
    v.as_object().ok_or_else(|| {
        GradeError::invalid(
            if at.is_empty() { "input" } else { at },
            "must be a JSON object",
        )
    })
}

/// Rejects keys outside `allowed`, naming the first one (in key order).
fn only(obj: &Map<String, Value>, at: &str, allowed: &[&str]) -> Result<(), GradeError> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(GradeError::UnknownField {
                field: path(at, key),
                hint: format!("; expected only: {}", allowed.join(", ")),
            });
        }
    }
    Ok(())
}

fn required<'a>(obj: &'a Map<String, Value>, at: &str, key: &str) -> Result<&'a Value, GradeError> {
    obj.get(key).ok_or_else(|| GradeError::MissingField {
        field: path(at, key),
    })
}

fn string(v: &Value, field: &str) -> Result<String, GradeError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| GradeError::invalid(field, "must be a string"))
}

fn id(v: &Value, field: &str) -> Result<String, GradeError> {
    let s = string(v, field)?;
    if s.is_empty() {
        return Err(GradeError::invalid(field, "must not be empty"));
    }
    if s.len() > ID_BYTES_MAX {
        return Err(GradeError::invalid(
            field,
            format!("is longer than {ID_BYTES_MAX} bytes"),
        ));
    }
    Ok(s)
}

/// A decimal given as a JSON string; JSON numbers are refused because a
/// reader may have turned them into binary floating point already.
fn decimal(v: &Value, field: &str) -> Result<Decimal, GradeError> {
    match v {
        Value::String(s) => parse_decimal(s).map_err(|e| GradeError::invalid(field, e.0)),
        Value::Number(n) => Err(GradeError::invalid(
            field,
            format!("must be a decimal string like \"{n}\", not a JSON number"),
        )),
        _ => Err(GradeError::invalid(field, "must be a decimal string")),
    }
}

fn array<'a>(v: &'a Value, field: &str, max: usize) -> Result<&'a Vec<Value>, GradeError> {
    let a = v
        .as_array()
        .ok_or_else(|| GradeError::invalid(field, "must be an array"))?;
    if a.is_empty() {
        return Err(GradeError::invalid(field, "must not be empty"));
    }
    if a.len() > max {
        return Err(GradeError::invalid(
            field,
            format!("has more than {max} entries"),
        ));
    }
    Ok(a)
}

fn positive_lp(v: &Value, field: &str) -> Result<Decimal, GradeError> {
    let lp = decimal(v, field)?;
    if lp <= Decimal::ZERO {
        return Err(GradeError::NonPositiveLp {
            field: field.to_string(),
            lp: lp.to_string(),
        });
    }
    if lp > Decimal::from(LP_MAX) {
        return Err(GradeError::invalid(
            field,
            format!("{lp} exceeds {LP_MAX} LP"),
        ));
    }
    Ok(lp)
}

fn non_negative_points(v: &Value, field: &str) -> Result<Decimal, GradeError> {
    let p = decimal(v, field)?;
    if p < Decimal::ZERO {
        return Err(GradeError::invalid(
            field,
            format!("must not be negative, got {p}"),
        ));
    }
    if p > Decimal::from(POINTS_MAX) {
        return Err(GradeError::invalid(
            field,
            format!("{p} exceeds {POINTS_MAX} points"),
        ));
    }
    Ok(p)
}

/// A grade that must be one of the scale's grades.
pub fn scale_grade(v: &Value, field: &str, rs: &Ruleset) -> Result<Decimal, GradeError> {
    let g = decimal(v, field)?;
    if rs.scale.contains(g) {
        Ok(g)
    } else {
        Err(GradeError::NotOnScale {
            field: field.to_string(),
            grade: g.to_string(),
            allowed: rs.scale.describe(),
        })
    }
}

fn module_grade(
    v: &Value,
    field: &str,
    rs: &Ruleset,
    kind: InputGrades,
    places: u32,
) -> Result<Decimal, GradeError> {
    match kind {
        InputGrades::Scale => scale_grade(v, field, rs),
        InputGrades::PassingRange => {
            let g = decimal(v, field)?;
            let best = rs.scale.grades()[0];
            let limit = rs.scale.pass_limit();
            if !(best..=limit).contains(&g) || g.normalize().scale() > places {
                return Err(GradeError::NotOnScale {
                    field: field.to_string(),
                    grade: g.to_string(),
                    allowed: format!(
                        "a passing module grade from {best} to {limit} with at most {places} decimals; failed modules are never counted"
                    ),
                });
            }
            Ok(g)
        }
    }
}

/// Reads the `parts` of a `weighted` input.
pub fn weighted(
    input: &Value,
    rs: &Ruleset,
    grades: InputGrades,
    places: u32,
) -> Result<Vec<PartInput>, GradeError> {
    let obj = object(input, "")?;
    only(obj, "", &["ruleset", "parts"])?;
    let parts = array(required(obj, "", "parts")?, "parts", PARTS_COUNT_MAX)?;
    let mut part_ids = HashSet::new();
    let mut module_ids = HashSet::new();
    let mut out = Vec::with_capacity(parts.len());
    for (pi, p) in parts.iter().enumerate() {
        let at = format!("parts[{pi}]");
        let po = object(p, &at)?;
        only(po, &at, &["id", "required_lp", "modules"])?;
        let pid = id(required(po, &at, "id")?, &path(&at, "id"))?;
        if !part_ids.insert(pid.clone()) {
            return Err(GradeError::DuplicateId {
                field: path(&at, "id"),
                id: pid,
            });
        }
        let required_lp =
            positive_lp(required(po, &at, "required_lp")?, &path(&at, "required_lp"))?;
        let mods_field = path(&at, "modules");
        let mods = array(
            required(po, &at, "modules")?,
            &mods_field,
            MODULES_COUNT_MAX,
        )?;
        let mut modules = Vec::with_capacity(mods.len());
        for (mi, m) in mods.iter().enumerate() {
            let mat = format!("{mods_field}[{mi}]");
            let mo = object(m, &mat)?;
            only(mo, &mat, &["id", "lp", "grade", "mandatory"])?;
            let mid = id(required(mo, &mat, "id")?, &path(&mat, "id"))?;
            if !module_ids.insert(mid.clone()) {
                return Err(GradeError::DuplicateId {
                    field: path(&mat, "id"),
                    id: mid,
                });
            }
            let lp = positive_lp(required(mo, &mat, "lp")?, &path(&mat, "lp"))?;
            let grade = module_grade(
                required(mo, &mat, "grade")?,
                &path(&mat, "grade"),
                rs,
                grades,
                places,
            )?;
            let mandatory = match required(mo, &mat, "mandatory")? {
                Value::Bool(b) => *b,
                _ => {
                    return Err(GradeError::invalid(
                        path(&mat, "mandatory"),
                        "must be true or false",
                    ))
                }
            };
            modules.push(Module {
                id: mid,
                lp,
                grade,
                mandatory,
            });
        }
        let available: Decimal = modules.iter().map(|m| m.lp).sum();
        if available < required_lp {
            return Err(GradeError::InsufficientLp {
                field: at,
                required: required_lp.to_string(),
                available: available.to_string(),
            });
        }
        out.push(PartInput {
            id: pid,
            required_lp,
            modules,
        });
    }
    Ok(out)
}

/// Reads an `examiners` input.
pub fn examiners(
    input: &Value,
    rs: &Ruleset,
    min: usize,
    max: usize,
) -> Result<ExaminersInput, GradeError> {
    let obj = object(input, "")?;
    only(obj, "", &["ruleset", "grades", "third"])?;
    let list = array(required(obj, "", "grades")?, "grades", max)?;
    if list.len() < min {
        return Err(GradeError::invalid(
            "grades",
            format!("needs at least {min} examiners' grades, got {}", list.len()),
        ));
    }
    let grades = list
        .iter()
        .enumerate()
        .map(|(i, g)| scale_grade(g, &format!("grades[{i}]"), rs))
        .collect::<Result<Vec<_>, _>>()?;
    let third = match obj.get("third") {
        None | Some(Value::Null) => None,
        Some(t) => Some(scale_grade(t, "third", rs)?),
    };
    Ok(ExaminersInput { grades, third })
}

/// Reads an `mc` input; `wants_pass_mark` says whether the rule needs a
/// preset M (then it is required, else it is refused).
pub fn mc(
    input: &Value,
    wants_pass_mark: bool,
    first_attempt_required: bool,
) -> Result<McInput, GradeError> {
    let obj = object(input, "")?;
    only(
        obj,
        "",
        &[
            "ruleset",
            "max_points",
            "pass_mark",
            "eliminated_points",
            "candidates",
        ],
    )?;
    let max_points = non_negative_points(required(obj, "", "max_points")?, "max_points")?;
    if max_points <= Decimal::ZERO {
        return Err(GradeError::invalid(
            "max_points",
            "must be greater than zero",
        ));
    }
    let pass_mark = match (wants_pass_mark, obj.get("pass_mark")) {
        (true, None) => {
            return Err(GradeError::MissingField {
                field: "pass_mark".into(),
            })
        }
        (true, Some(v)) => Some(non_negative_points(v, "pass_mark")?),
        (false, None) => None,
        (false, Some(_)) => {
            return Err(GradeError::UnknownField {
                field: "pass_mark".into(),
                hint: "; this rule set derives the pass mark itself".into(),
            })
        }
    };
    let eliminated_points = match obj.get("eliminated_points") {
        None => Decimal::ZERO,
        Some(v) => non_negative_points(v, "eliminated_points")?,
    };
    if eliminated_points >= max_points {
        return Err(GradeError::invalid(
            "eliminated_points",
            format!("{eliminated_points} leaves no points of max_points {max_points}"),
        ));
    }
    let effective_max = max_points - eliminated_points;
    if let Some(m) = pass_mark {
        if m > effective_max {
            return Err(GradeError::invalid(
                "pass_mark",
                format!("{m} exceeds the reachable maximum {effective_max}"),
            ));
        }
    }
    let list = array(
        required(obj, "", "candidates")?,
        "candidates",
        CANDIDATES_COUNT_MAX,
    )?;
    let mut ids = HashSet::new();
    let mut candidates = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let at = format!("candidates[{i}]");
        let co = object(c, &at)?;
        only(co, &at, &["id", "points", "first_attempt"])?;
        let cid = id(required(co, &at, "id")?, &path(&at, "id"))?;
        if !ids.insert(cid.clone()) {
            return Err(GradeError::DuplicateId {
                field: path(&at, "id"),
                id: cid,
            });
        }
        let points = non_negative_points(required(co, &at, "points")?, &path(&at, "points"))?;
        if points > effective_max {
            return Err(GradeError::invalid(
                path(&at, "points"),
                format!("{points} exceeds the reachable maximum {effective_max}"),
            ));
        }
        let first_attempt = match co.get("first_attempt") {
            None if first_attempt_required => {
                return Err(GradeError::MissingField {
                    field: path(&at, "first_attempt"),
                })
            }
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(GradeError::invalid(
                    path(&at, "first_attempt"),
                    "must be true or false",
                ))
            }
        };
        candidates.push(Candidate {
            id: cid,
            points,
            first_attempt,
        });
    }
    Ok(McInput {
        max_points,
        pass_mark,
        eliminated_points,
        candidates,
    })
}
