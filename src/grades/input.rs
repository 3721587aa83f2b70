//! Reading a grade input (JSON, all numbers as decimal strings) into typed
//! values, rejecting every bad field with its path and the reason.
//!
//! It owns the input limits and the field names of docs/design.md ("Grade
//! engine"); unknown fields are errors, never ignored. It must not compute
//! grades: it only checks what can be checked without the rule (types,
//! signs, limits, duplicate ids, grades on the scale).

use super::decimal::parse_decimal;
use super::error::GradeError;
use super::rules::Module;
use super::ruleset::{InputGrades, Rule, Ruleset};
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
    /// Number of items, if the input gave per-item answers.
    pub items: Option<usize>,
    /// Where an item's score was floored at zero (for the trace).
    pub notes: Vec<String>,
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
    let thesis_first = matches!(&rs.rule, Rule::Weighted(w) if w.thesis_counted_first);
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
            only(mo, &mat, &["id", "lp", "grade", "mandatory", "thesis"])?;
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
            let thesis = match mo.get("thesis") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(GradeError::invalid(
                        path(&mat, "thesis"),
                        "must be true or false",
                    ))
                }
            };
            modules.push(Module {
                id: mid,
                lp,
                grade,
                // A thesis that the rule set counts first is taken like a
                // mandatory module, whatever the input says.
                mandatory: mandatory || (thesis && thesis_first),
                thesis,
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

/// How an item's answer marks become points (the rule set's
/// `mc.item_scoring`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemScoring {
    /// The item's points only for exactly the key's set of marks, else 0
    /// (Erfurt, Anlage MC, Buchstabe d and g).
    ExactSet,
    /// Each correct mark earns `mark_points`, each wrong mark costs
    /// `mark_points`, within the item only and never below zero (Bremen,
    /// Anlage 3 Abs. 1: "Abzug von Punkten innerhalb einer Prüfungsaufgabe").
    PerMark,
}

/// One item (task) of a per-item multiple-choice input.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Item id.
    pub id: String,
    /// Points possible (the weight of Erfurt letter g).
    pub points: Decimal,
    /// The answer key (marks that are correct), if the item is scored by marks.
    pub key: Option<Vec<String>>,
    /// Points of one mark under [`ItemScoring::PerMark`].
    pub mark_points: Option<Decimal>,
    /// Eliminated as faulty (not counted; the maximum shrinks).
    pub eliminated: bool,
}

/// Most items of a per-item multiple-choice input.
pub const ITEMS_COUNT_MAX: usize = 2_000;
/// Most marks in one answer or key.
pub const MARKS_COUNT_MAX: usize = 64;
/// Most bytes of one mark (e.g. "A").
pub const MARK_BYTES_MAX: usize = 32;

fn marks(v: &Value, field: &str) -> Result<Vec<String>, GradeError> {
    let a = v
        .as_array()
        .ok_or_else(|| GradeError::invalid(field, "must be an array of marks"))?;
    if a.len() > MARKS_COUNT_MAX {
        return Err(GradeError::invalid(
            field,
            format!("has more than {MARKS_COUNT_MAX} marks"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(a.len());
    for (i, m) in a.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let text = string(m, &f)?;
        if text.is_empty() || text.len() > MARK_BYTES_MAX {
            return Err(GradeError::invalid(
                f,
                format!("a mark has 1 to {MARK_BYTES_MAX} bytes"),
            ));
        }
        if out.contains(&text) {
            return Err(GradeError::invalid(f, format!("mark {text:?} given twice")));
        }
        out.push(text);
    }
    Ok(out)
}

fn items(list: &[Value], scoring: ItemScoring) -> Result<Vec<Item>, GradeError> {
    let mut ids = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, it) in list.iter().enumerate() {
        let at = format!("items[{i}]");
        let o = object(it, &at)?;
        only(
            o,
            &at,
            &["id", "points", "key", "mark_points", "eliminated"],
        )?;
        let iid = id(required(o, &at, "id")?, &path(&at, "id"))?;
        if !ids.insert(iid.clone()) {
            return Err(GradeError::DuplicateId {
                field: path(&at, "id"),
                id: iid,
            });
        }
        let points = non_negative_points(required(o, &at, "points")?, &path(&at, "points"))?;
        if points <= Decimal::ZERO {
            return Err(GradeError::invalid(
                path(&at, "points"),
                "must be greater than zero",
            ));
        }
        let key = o
            .get("key")
            .map(|k| marks(k, &path(&at, "key")))
            .transpose()?;
        if key.as_ref().is_some_and(Vec::is_empty) {
            return Err(GradeError::invalid(path(&at, "key"), "must not be empty"));
        }
        let eliminated = match o.get("eliminated") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(GradeError::invalid(
                    path(&at, "eliminated"),
                    "must be true or false",
                ))
            }
        };
        let mark_points = match (scoring, &key, o.get("mark_points")) {
            (ItemScoring::PerMark, Some(k), given) => {
                let mp = match given {
                    Some(v) => non_negative_points(v, &path(&at, "mark_points"))?,
                    None => {
                        // points / |key| must be exact, or the input must say it.
                        let n = Decimal::from(k.len());
                        let q = points
                            .checked_div(n)
                            .filter(|q| q.checked_mul(n) == Some(points));
                        q.ok_or_else(|| {
                            GradeError::invalid(
                                path(&at, "mark_points"),
                                format!(
                                    "needed: {points} points over {} correct marks is not an exact decimal",
                                    k.len()
                                ),
                            )
                        })?
                    }
                };
                if mp.checked_mul(Decimal::from(k.len())) != Some(points) {
                    return Err(GradeError::invalid(
                        path(&at, "mark_points"),
                        format!(
                            "{mp} x {} correct marks is not the item's {points} points",
                            k.len()
                        ),
                    ));
                }
                Some(mp)
            }
            (_, _, Some(_)) => {
                return Err(GradeError::UnknownField {
                    field: path(&at, "mark_points"),
                    hint: "; only for items with a key under per-mark scoring".into(),
                })
            }
            _ => None,
        };
        out.push(Item {
            id: iid,
            points,
            key,
            mark_points,
            eliminated,
        });
    }
    Ok(out)
}

/// Scores one item for one candidate: returns the points and, if the
/// answer was clamped, a note for the trace.
fn score_item(
    item: &Item,
    answer: Option<&Value>,
    field: &str,
    scoring: ItemScoring,
) -> Result<(Decimal, Option<String>), GradeError> {
    let Some(answer) = answer else {
        return Ok((Decimal::ZERO, None));
    };
    match (answer, &item.key) {
        (Value::Array(_), Some(key)) => {
            let given = marks(answer, field)?;
            match scoring {
                ItemScoring::ExactSet => {
                    let exact = given.len() == key.len() && given.iter().all(|g| key.contains(g));
                    Ok((if exact { item.points } else { Decimal::ZERO }, None))
                }
                ItemScoring::PerMark => {
                    let mp = item.mark_points.unwrap_or(Decimal::ZERO);
                    let right = given.iter().filter(|g| key.contains(g)).count();
                    let wrong = given.len() - right;
                    let raw = mp * Decimal::from(right) - mp * Decimal::from(wrong);
                    if raw < Decimal::ZERO {
                        Ok((
                            Decimal::ZERO,
                            Some(format!(
                                "{field}: deductions {raw} within the item floored at 0"
                            )),
                        ))
                    } else {
                        Ok((raw, None))
                    }
                }
            }
        }
        (Value::Array(_), None) => Err(GradeError::invalid(
            field,
            format!(
                "item {:?} has no key, so its answer must be the points given",
                item.id
            ),
        )),
        (v, _) => {
            let p = decimal(v, field)?;
            if p > item.points {
                return Err(GradeError::invalid(
                    field,
                    format!(
                        "{p} exceeds the item's {} points (points are given only within an item)",
                        item.points
                    ),
                ));
            }
            if p < Decimal::ZERO {
                return Ok((
                    Decimal::ZERO,
                    Some(format!(
                        "{field}: {p} (deductions) floored at 0 within the item"
                    )),
                ));
            }
            Ok((p, None))
        }
    }
}

/// Reads an `mc` input; `wants_pass_mark` says whether the rule needs a
/// preset M (then it is required, else it is refused). With `items`, the
/// maximum, the eliminated points and every candidate's total are computed
/// from the items and the candidates' `answers`; the returned `notes` say
/// where an item's score was floored at zero.
pub fn mc(
    input: &Value,
    wants_pass_mark: bool,
    first_attempt_required: bool,
    scoring: ItemScoring,
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
            "items",
            "candidates",
        ],
    )?;
    let item_list = match obj.get("items") {
        None => None,
        Some(v) => {
            for f in ["max_points", "eliminated_points"] {
                if obj.contains_key(f) {
                    return Err(GradeError::UnknownField {
                        field: f.into(),
                        hint: "; with items it is computed from the items".into(),
                    });
                }
            }
            Some(items(array(v, "items", ITEMS_COUNT_MAX)?, scoring)?)
        }
    };
    let (max_points, eliminated_points) = match &item_list {
        Some(list) => {
            let mut max = Decimal::ZERO;
            let mut elim = Decimal::ZERO;
            for it in list {
                max = max
                    .checked_add(it.points)
                    .ok_or_else(|| GradeError::overflow("items"))?;
                if it.eliminated {
                    elim += it.points;
                }
            }
            if max > Decimal::from(POINTS_MAX) {
                return Err(GradeError::invalid(
                    "items",
                    format!("{max} points exceed {POINTS_MAX}"),
                ));
            }
            (max, elim)
        }
        None => {
            let max = non_negative_points(required(obj, "", "max_points")?, "max_points")?;
            let elim = match obj.get("eliminated_points") {
                None => Decimal::ZERO,
                Some(v) => non_negative_points(v, "eliminated_points")?,
            };
            (max, elim)
        }
    };
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
    let mut notes = Vec::new();
    let mut candidates = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let at = format!("candidates[{i}]");
        let co = object(c, &at)?;
        only(co, &at, &["id", "points", "answers", "first_attempt"])?;
        let cid = id(required(co, &at, "id")?, &path(&at, "id"))?;
        if !ids.insert(cid.clone()) {
            return Err(GradeError::DuplicateId {
                field: path(&at, "id"),
                id: cid,
            });
        }
        let points = match &item_list {
            None => {
                if co.contains_key("answers") {
                    return Err(GradeError::UnknownField {
                        field: path(&at, "answers"),
                        hint: "; answers need the exam's items".into(),
                    });
                }
                non_negative_points(required(co, &at, "points")?, &path(&at, "points"))?
            }
            Some(list) => {
                if co.contains_key("points") {
                    return Err(GradeError::UnknownField {
                        field: path(&at, "points"),
                        hint: "; with items the total is computed from the answers".into(),
                    });
                }
                let af = path(&at, "answers");
                let answers = object(required(co, &at, "answers")?, &af)?;
                for k in answers.keys() {
                    if !list.iter().any(|it| &it.id == k) {
                        return Err(GradeError::invalid(
                            format!("{af}.{k}"),
                            "no item has this id",
                        ));
                    }
                }
                let mut total = Decimal::ZERO;
                for it in list {
                    let f = format!("{af}.{}", it.id);
                    let (p, note) = score_item(it, answers.get(&it.id), &f, scoring)?;
                    if let Some(n) = note {
                        notes.push(n);
                    }
                    if !it.eliminated {
                        total += p;
                    }
                }
                total
            }
        };
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
        items: item_list.map(|l| l.len()),
        notes,
    })
}
