//! Running one rule set on one input: the `weighted`, `examiners` and `mc`
//! kinds, each producing the result object of DESIGN.md and a trace of
//! every intermediate value for the human report.
//!
//! It owns the order of the steps of each kind and the result field names.
//! It must not read files or print; input parsing lives in `input`, the
//! arithmetic in `rules` and `decimal`.

use super::decimal::{display_de, display_en, plain, round_to, Ratio};
use super::error::GradeError;
use super::input;
use super::rules::{self, Examiners, Module};
use super::ruleset::{
    Combine, ExaminersRule, McRule, MeanOver, PassMarkRule, RelativeWhen, Rule, Ruleset,
    WeightedRule,
};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

/// The steps of a computation, recorded only when a report is wanted
/// (formatting every step costs more than the arithmetic).
#[derive(Debug, Default)]
pub struct Trace(Option<Vec<String>>);

impl Trace {
    /// A trace that records (`true`) or ignores (`false`) its steps.
    pub fn new(record: bool) -> Trace {
        Trace(record.then(Vec::new))
    }

    /// Records the line `line()` builds, if recording.
    fn add(&mut self, line: impl FnOnce() -> String) {
        if let Some(lines) = &mut self.0 {
            lines.push(line());
        }
    }

    /// The recorded lines (empty if not recording).
    pub fn into_lines(self) -> Vec<String> {
        self.0.unwrap_or_default()
    }
}

/// A result and the steps that led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The `result` object.
    pub result: Value,
    /// One line per intermediate step, for the human report.
    pub trace: Vec<String>,
}

/// Evaluates `input` with `rs`; `with_trace` records the steps for a report.
pub fn evaluate(rs: &Ruleset, input: &Value, with_trace: bool) -> Result<Evaluation, GradeError> {
    let mut trace = Trace::new(with_trace);
    let result = match &rs.rule {
        Rule::Weighted(w) => weighted(rs, w, input, &mut trace),
        Rule::Examiners(e) => examiners(rs, e, input, &mut trace),
        Rule::Mc(m) => mc(rs, m, input, &mut trace),
    }?;
    Ok(Evaluation {
        result,
        trace: trace.into_lines(),
    })
}

/// Names of the numerator and denominator of a credit-weighted mean.
const LP_NUM: &str = "sum(grade x LP)";
const LP_DEN: &str = "sum(LP)";

/// "1 decimal", "2 decimals".
fn places(n: u32) -> String {
    if n == 1 {
        "1 decimal".into()
    } else {
        format!("{n} decimals")
    }
}

fn overflow(step: &str) -> GradeError {
    GradeError::overflow(step)
}

/// Computed value of a mean: cut/round to the computation precision, then
/// snap to the scale if the rule says so.
fn finish(
    rs: &Ruleset,
    w: &WeightedRule,
    mean: &Ratio,
    (what, num_name, den_name): (&str, &str, &str),
    trace: &mut Trace,
) -> Result<Decimal, GradeError> {
    let computed = mean
        .to_places(w.compute_places, w.compute_rounding)
        .ok_or_else(|| overflow(what))?;
    trace.add(|| {
        format!(
            "  {what}: {num_name} {} / {den_name} {} = {} -> {} ({}, {})",
            plain(mean.num),
            plain(mean.den),
            mean.show(),
            computed,
            w.compute_rounding,
            places(w.compute_places)
        )
    });
    if w.snap_to_scale {
        let snapped = rs.scale.snap(computed);
        trace.add(|| format!(
            "  {what}: {computed} snapped to the scale -> {snapped} (nearest; on a tie the better grade)"
        ));
        let mut s = snapped;
        s.rescale(w.display_places.max(1));
        return Ok(s);
    }
    Ok(computed)
}

fn display(w: &WeightedRule, value: Decimal) -> (String, String, Decimal) {
    let shown = round_to(value, w.display_places, w.display_rounding);
    (
        display_de(shown, w.display_places),
        display_en(shown, w.display_places),
        shown,
    )
}

fn weighted(
    rs: &Ruleset,
    w: &WeightedRule,
    raw: &Value,
    trace: &mut Trace,
) -> Result<Value, GradeError> {
    let parts = input::weighted(raw, rs, w.input_grades, w.input_grade_places_max)?;
    if let Combine::PartWeights(weights) = &w.combine {
        let expected: Vec<&str> = weights.iter().map(|(id, _)| id.as_str()).collect();
        for (i, p) in parts.iter().enumerate() {
            if !expected.contains(&p.id.as_str()) {
                return Err(GradeError::invalid(
                    format!("parts[{i}].id"),
                    format!(
                        "unknown part {:?}; this rule set expects the parts {}",
                        p.id,
                        expected.join(", ")
                    ),
                ));
            }
        }
        for id in &expected {
            if !parts.iter().any(|p| p.id == *id) {
                return Err(GradeError::MissingField {
                    field: format!("parts[id = {id:?}]"),
                });
            }
        }
    }
    let mut part_results = Vec::new();
    let mut part_means: Vec<(String, Ratio)> = Vec::new();
    let mut all_counted: Vec<&Module> = Vec::new();
    for p in &parts {
        trace.add(|| format!("part {} (required {} LP)", p.id, p.required_lp));
        let counted = rules::select_counted(&p.modules, p.required_lp, w.selection);
        for (i, m) in p.modules.iter().enumerate() {
            let status = if counted.contains(&i) {
                "counted"
            } else {
                "not counted"
            };
            trace.add(|| {
                format!(
                    "  {status:<11} {:<12} {:>6} LP  grade {:<5} {}",
                    m.id,
                    m.lp,
                    m.grade,
                    if m.mandatory { "mandatory" } else { "elective" }
                )
            });
        }
        let counted_modules: Vec<&Module> = counted.iter().map(|&i| &p.modules[i]).collect();
        let (lp, _) = rules::lp_and_weighted_sum(counted_modules.iter().copied())
            .ok_or_else(|| overflow("part LP"))?;
        let mean = rules::weighted_mean(counted_modules.iter().copied())
            .ok_or_else(|| overflow("part mean"))?;
        let value = finish(rs, w, &mean, ("part value", LP_NUM, LP_DEN), trace)?;
        let (de, en, _) = display(w, value);
        trace.add(|| {
            format!(
                "  part display: {de} / {en} ({}, {})",
                w.display_rounding,
                places(w.display_places)
            )
        });
        let mut obj = Map::new();
        obj.insert("id".into(), json!(p.id));
        obj.insert(
            "counted".into(),
            json!(counted_modules
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()),
        );
        obj.insert("lp_counted".into(), json!(plain(lp)));
        if let Combine::PartWeights(weights) = &w.combine {
            if let Some((_, weight)) = weights.iter().find(|(id, _)| *id == p.id) {
                obj.insert("weight".into(), json!(plain(*weight)));
            }
        }
        obj.insert("value".into(), json!(value.to_string()));
        obj.insert("display_de".into(), json!(de));
        obj.insert("display_en".into(), json!(en));
        part_results.push((p.id.clone(), Value::Object(obj)));
        part_means.push((p.id.clone(), mean));
        all_counted.extend(counted_modules);
    }
    trace.add(|| "final".into());
    let final_mean = match &w.combine {
        Combine::Pooled => {
            trace.add(|| {
                format!(
                    "  pooled over the {} counted modules of all parts",
                    all_counted.len()
                )
            });
            rules::weighted_mean(all_counted.iter().copied())
                .ok_or_else(|| overflow("final mean"))?
        }
        Combine::PartWeights(weights) => {
            let mut weighted_parts = Vec::new();
            for (id, weight) in weights {
                let (_, mean) = part_means
                    .iter()
                    .find(|(pid, _)| pid == id)
                    .ok_or_else(|| GradeError::MissingField {
                        field: format!("parts[id = {id:?}]"),
                    })?;
                trace.add(|| format!("  part {id}: weight {weight}, exact mean {}", mean.show()));
                weighted_parts.push((*weight, *mean));
            }
            rules::weighted_ratio(&weighted_parts).ok_or_else(|| overflow("final mean"))?
        }
    };
    let names = match &w.combine {
        Combine::Pooled => ("final value", LP_NUM, LP_DEN),
        Combine::PartWeights(_) => (
            "final value",
            "sum(weight x exact part mean)",
            "sum(weight)",
        ),
    };
    let value = finish(rs, w, &final_mean, names, trace)?;
    let (de, en, shown) = display(w, value);
    let word = rs.words.of(shown);
    trace.add(|| {
        format!(
            "  final display: {de} / {en} ({}, {}); words from the displayed value: {} / {}",
            w.display_rounding,
            places(w.display_places),
            word.de,
            word.en
        )
    });
    let mut fin = Map::new();
    fin.insert("value".into(), json!(value.to_string()));
    fin.insert("display_de".into(), json!(de));
    fin.insert("display_en".into(), json!(en));
    fin.insert("word_de".into(), json!(word.de));
    fin.insert("word_en".into(), json!(word.en));
    if let Some(letter) = rs.scale.letter(value) {
        fin.insert("letter".into(), json!(letter));
        trace.add(|| format!("  letter: {letter}"));
    }
    // Parts in input order; for fixed weights the input order too (ids checked above).
    let parts_json: Vec<Value> = part_results.into_iter().map(|(_, v)| v).collect();
    Ok(json!({ "parts": parts_json, "final": Value::Object(fin) }))
}

fn examiners(
    rs: &Ruleset,
    e: &ExaminersRule,
    raw: &Value,
    trace: &mut Trace,
) -> Result<Value, GradeError> {
    let inp = input::examiners(raw, rs, e.grades_min, e.grades_max)?;
    trace.add(|| {
        format!(
            "grades: {}",
            inp.grades
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    if let Some(t) = inp.third {
        trace.add(|| format!("third examiner: {t}"));
    }
    let outcome = rules::examiners(
        &inp.grades,
        inp.third,
        &rs.scale,
        e.cut_places,
        e.cut_rounding,
    )
    .map_err(|_| GradeError::ThirdNotNeeded {
        field: "third".into(),
        limit: rs.scale.pass_limit().to_string(),
    })?
    .ok_or_else(|| overflow("examiners' mean"))?;
    let result = match outcome {
        Examiners::NeedsThird => {
            trace.add(|| {
                format!(
                    "a grade is worse than {}: a third examiner must be appointed; no grade yet",
                    rs.scale.pass_limit()
                )
            });
            json!({ "needs_third_examiner": true })
        }
        Examiners::Grade {
            used,
            mean,
            cut,
            grade,
            third_used,
        } => {
            if third_used {
                trace.add(|| match (&mean, &cut) {
                    (None, _) | (_, None) => format!(
                        "two of the three grades are worse than {}: the grade is {grade}",
                        rs.scale.pass_limit()
                    ),
                    _ => format!(
                        "the two better grades count: {}",
                        used.iter()
                            .map(|g| g.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            let mut obj = Map::new();
            obj.insert("needs_third_examiner".into(), json!(false));
            obj.insert(
                "grades_used".into(),
                json!(used.iter().map(|g| g.to_string()).collect::<Vec<_>>()),
            );
            if let (Some(mean), Some(cut)) = (mean, cut) {
                trace.add(|| {
                    format!(
                        "mean {} -> {cut} ({}, {})",
                        mean.show(),
                        e.cut_rounding,
                        places(e.cut_places)
                    )
                });
                trace.add(|| {
                    if rs.scale.contains(cut) {
                        format!("{cut} is on the scale -> {grade}")
                    } else {
                        format!(
                        "{cut} is not on the scale -> nearest grade {grade} (on a tie the better)"
                    )
                    }
                });
                obj.insert("mean_cut".into(), json!(cut.to_string()));
            }
            let word = rs.words.of(grade);
            obj.insert("grade".into(), json!(grade.to_string()));
            if let Some(l) = rs.scale.letter(grade) {
                obj.insert("letter".into(), json!(l));
                trace.add(|| format!("letter {l}"));
            }
            obj.insert("passed".into(), json!(rs.scale.passes(grade)));
            obj.insert("word_de".into(), json!(word.de));
            obj.insert("word_en".into(), json!(word.en));
            Value::Object(obj)
        }
    };
    Ok(result)
}

fn mc(rs: &Ruleset, m: &McRule, raw: &Value, trace: &mut Trace) -> Result<Value, GradeError> {
    let preset = matches!(m.pass_mark, PassMarkRule::PresetWithMedian { .. });
    let inp = input::mc(raw, preset, m.first_attempt_required)?;
    let g = inp.max_points - inp.eliminated_points;
    trace.add(|| {
        format!(
            "max_points {}, eliminated {} -> reachable maximum G = {}",
            plain(inp.max_points),
            plain(inp.eliminated_points),
            plain(g)
        )
    });
    if let Some(pct) = m.repeat_if_eliminated_over_percent {
        let over = inp
            .eliminated_points
            .checked_mul(Decimal::ONE_HUNDRED)
            .ok_or_else(|| overflow("eliminated share"))?
            > pct
                .checked_mul(inp.max_points)
                .ok_or_else(|| overflow("eliminated share"))?;
        trace.add(|| {
            format!(
                "eliminated points {} of {}: {} {}% -> {}",
                plain(inp.eliminated_points),
                plain(inp.max_points),
                if over { "more than" } else { "not more than" },
                pct,
                if over {
                    "the exam must be repeated"
                } else {
                    "no repeat"
                }
            )
        });
        if over {
            return Ok(json!({
                "pass_mark": Value::Null,
                "pass_mark_rule": format!(
                    "eliminated faulty items carry {} of {} points, more than {}%: the exam must be repeated, no results",
                    plain(inp.eliminated_points), plain(inp.max_points), pct
                ),
                "repeat_required": true,
                "candidates": [],
            }));
        }
    }
    let points: Vec<Decimal> = inp.candidates.iter().map(|c| c.points).collect();
    let (pass, rule_text) = match &m.pass_mark {
        PassMarkRule::PresetWithMedian {
            rounding,
            floor_divisor,
        } => {
            let preset_m = inp.pass_mark.ok_or_else(|| GradeError::MissingField {
                field: "pass_mark".into(),
            })?;
            let med = rules::median(&points).ok_or_else(|| overflow("median"))?;
            if med > preset_m {
                let t = format!(
                    "median of all totals {} > M {}: the preset pass mark M = {} applies",
                    plain(med),
                    plain(preset_m),
                    plain(preset_m)
                );
                trace.add(|| t.clone());
                (preset_m, t)
            } else {
                let best = points.iter().copied().max().unwrap_or(Decimal::ZERO);
                let scaled = Ratio::new(
                    preset_m
                        .checked_mul(best)
                        .ok_or_else(|| overflow("M x b"))?,
                    g,
                )
                .ok_or_else(|| overflow("M x b / G"))?;
                let m_new = scaled
                    .to_places(0, *rounding)
                    .ok_or_else(|| overflow("M'"))?;
                let floor_ratio = Ratio::new(g, *floor_divisor).ok_or_else(|| overflow("G/3"))?;
                let floor = floor_ratio
                    .to_places(0, *rounding)
                    .ok_or_else(|| overflow("G/3"))?;
                let mut applied = m_new.max(floor);
                let mut t = format!(
                    "median of all totals {} <= M {}: M' = M x b / G = {} x {} / {} = {} -> {} ({}); floor G/{} = {} -> {}",
                    plain(med),
                    plain(preset_m),
                    plain(preset_m),
                    plain(best),
                    plain(g),
                    scaled.show(),
                    plain(m_new),
                    rounding,
                    plain(*floor_divisor),
                    floor_ratio.show(),
                    plain(floor)
                );
                if m_new < floor {
                    t.push_str(&format!("; M' below the floor -> M' = {}", plain(floor)));
                }
                if applied > preset_m {
                    applied = preset_m;
                    t.push_str(&format!(
                        "; the median rule never raises the pass mark -> M = {}",
                        plain(preset_m)
                    ));
                }
                t.push_str(&format!("; applied pass mark {}", plain(applied)));
                trace.add(|| t.clone());
                (applied, t)
            }
        }
        PassMarkRule::AbsoluteOrRelative {
            absolute_percent,
            relative_factor,
            relative_when,
            mean_over,
            places,
            rounding,
        } => {
            let absolute = absolute_percent
                .checked_mul(g)
                .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
                .ok_or_else(|| overflow("absolute pass mark"))?;
            let (pool, pool_name): (Vec<Decimal>, &str) = match mean_over {
                MeanOver::All => (points.clone(), "all candidates"),
                MeanOver::FirstAttempt => (
                    inp.candidates
                        .iter()
                        .filter(|c| c.first_attempt == Some(true))
                        .map(|c| c.points)
                        .collect(),
                    "first-attempt candidates",
                ),
            };
            let mut t = format!(
                "{}% of G {} = {}",
                absolute_percent,
                plain(g),
                plain(absolute)
            );
            let mut applied = absolute;
            match rules::mean(&pool) {
                None => t.push_str(&format!(
                    "; no {pool_name}: only the absolute pass mark applies"
                )),
                Some(mean) => {
                    let below = mean.cmp_decimal(absolute).ok_or_else(|| overflow("mean"))?
                        == std::cmp::Ordering::Less;
                    let applies = match relative_when {
                        RelativeWhen::Always => true,
                        RelativeWhen::MeanBelowAbsolute => below,
                    };
                    t.push_str(&format!("; mean of {pool_name} {}", mean.show()));
                    if applies {
                        let rel_ratio = Ratio::new(
                            mean.num
                                .checked_mul(*relative_factor)
                                .ok_or_else(|| overflow("relative"))?,
                            mean.den,
                        )
                        .ok_or_else(|| overflow("relative"))?;
                        let relative = rel_ratio
                            .to_places(*places, *rounding)
                            .ok_or_else(|| overflow("relative"))?;
                        t.push_str(&format!(
                            "; relative pass mark {} x mean = {} -> {} ({}, {})",
                            relative_factor,
                            rel_ratio.show(),
                            plain(relative),
                            rounding,
                            self::places(*places)
                        ));
                        if relative < absolute {
                            applied = relative;
                            t.push_str("; the relative pass mark is lower and applies");
                        } else {
                            t.push_str("; the absolute pass mark is lower and applies");
                        }
                    } else {
                        t.push_str(&format!(
                            " is not below {}: only the absolute pass mark applies",
                            plain(absolute)
                        ));
                    }
                }
            }
            t.push_str(&format!("; applied pass mark {}", plain(applied)));
            trace.add(|| t.clone());
            (applied, t)
        }
    };
    let mut cands = Vec::with_capacity(inp.candidates.len());
    for c in &inp.candidates {
        let passed = c.points >= pass;
        let grade = if passed {
            rules::band_grade(c.points, pass, g, &m.bands, m.below_bands_grade)
                .ok_or_else(|| overflow("band"))?
        } else {
            m.fail_grade
        };
        let word = rs.words.of(grade);
        let mut obj = Map::new();
        obj.insert("id".into(), json!(c.id));
        obj.insert("points".into(), json!(plain(c.points)));
        obj.insert("passed".into(), json!(passed));
        obj.insert("grade".into(), json!(grade.to_string()));
        if let Some(l) = rs.scale.letter(grade) {
            obj.insert("letter".into(), json!(l));
        }
        obj.insert("word_de".into(), json!(word.de));
        obj.insert("word_en".into(), json!(word.en));
        trace.add(|| {
            format!(
                "  {:<12} {:>8} points  {}  {}  {}",
                c.id,
                plain(c.points),
                if passed { "passed" } else { "failed" },
                grade,
                word.de
            )
        });
        cands.push(Value::Object(obj));
    }
    Ok(json!({
        "pass_mark": plain(pass),
        "pass_mark_rule": rule_text,
        "repeat_required": false,
        "candidates": cands,
    }))
}
