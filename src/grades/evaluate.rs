//! Running one rule set on one input: the `weighted`, `examiners` and `mc`
//! kinds, each producing the result object of docs/design.md and a trace of
//! every intermediate value for the human report.
//!
//! It owns the order of the steps of each kind and the result field names.
//! It must not read files or print; input parsing lives in `input`, the
//! arithmetic in `rules` and `decimal`.

use super::decimal::{display_de, display_en, plain, round_to, Ratio, Rounding};
use super::error::GradeError;
use super::input;
use super::rules::{self, Examiners, Module};
use super::ruleset::{
    Combine, ExaminersRule, InputGrades, McRule, MeanOver, PassMarkRule, RelativeWhen, Rule,
    Ruleset, WeightedRule,
};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

/// One line of a computation's trace and the rule-set step it belongs to
/// (the step ids of [`super::ruleset::steps_used`], which the rule set cites).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    /// Step id, e.g. `mean`, `pass`.
    pub step: &'static str,
    /// The line.
    pub text: String,
}

/// The steps of a computation, recorded only when a report is wanted
/// (formatting every step costs more than the arithmetic).
#[derive(Debug, Default)]
pub struct Trace(Option<Vec<TraceLine>>);

impl Trace {
    /// A trace that records (`true`) or ignores (`false`) its steps.
    pub fn new(record: bool) -> Trace {
        Trace(record.then(Vec::new))
    }

    /// Records the line `line()` builds under `step`, if recording.
    fn add(&mut self, step: &'static str, line: impl FnOnce() -> String) {
        if let Some(lines) = &mut self.0 {
            lines.push(TraceLine { step, text: line() });
        }
    }

    /// The recorded lines (empty if not recording).
    pub fn into_lines(self) -> Vec<TraceLine> {
        self.0.unwrap_or_default()
    }
}

/// A result and the steps that led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The `result` object.
    pub result: Value,
    /// One line per intermediate step, for the human report.
    pub trace: Vec<TraceLine>,
}

/// Evaluates `input` with `rs`; `with_trace` records the steps for a report.
pub fn evaluate(rs: &Ruleset, input: &Value, with_trace: bool) -> Result<Evaluation, GradeError> {
    let mut trace = Trace::new(with_trace);
    trace.add("scale", || {
        format!(
            "scale {}; pass limit {}",
            rs.scale.describe(),
            rs.scale.pass_limit()
        )
    });
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

/// One unit in the last of `places` decimals.
fn ulp(places: u32) -> Decimal {
    Decimal::new(1, places)
}

/// Computed value of a mean: cut/round to the computation precision, snap
/// to the scale if the rule says so, and then the pass decision on the
/// *exact* mean: a mean worse than the pass limit never becomes a passing
/// value (Potsdam ZertO § 9 Abs. 5 Satz 1; issue: 3.7 and 5.0 gave 4.0).
/// Returns the value and whether it passed.
fn finish(
    rs: &Ruleset,
    w: &WeightedRule,
    mean: &Ratio,
    (what, num_name, den_name): (&str, &str, &str),
    trace: &mut Trace,
) -> Result<(Decimal, bool), GradeError> {
    let limit = rs.scale.pass_limit();
    let passed =
        mean.cmp_decimal(limit).ok_or_else(|| overflow(what))? != std::cmp::Ordering::Greater;
    let computed = mean
        .to_places(w.compute_places, w.compute_rounding)
        .ok_or_else(|| overflow(what))?;
    trace.add("mean", || {
        format!(
            "  {what}: {num_name} {} / {den_name} {} = {}",
            plain(mean.num),
            plain(mean.den),
            mean.show(),
        )
    });
    trace.add("compute", || {
        format!(
            "  {what}: {} -> {computed} ({}, {})",
            mean.show(),
            w.compute_rounding,
            places(w.compute_places)
        )
    });
    let mut value = computed;
    if w.snap_to_scale {
        value = rs.scale.snap(computed);
        trace.add("snap", || format!(
            "  {what}: {computed} snapped to the scale -> {value} (nearest; on a tie the better grade)"
        ));
    }
    if !passed && value <= limit {
        let forced = match (w.snap_to_scale, rs.scale.first_failing()) {
            (true, Some(f)) => f,
            _ => limit + ulp(w.compute_places),
        };
        trace.add("pass", || {
            format!(
                "  {what}: the exact mean {} is worse than the pass limit {limit}: NOT PASSED; \
                 {value} would read as a pass, so the value is {forced}",
                mean.show()
            )
        });
        value = forced;
    } else if passed && value > limit {
        trace.add("pass", || {
            format!(
                "  {what}: the exact mean {} is not worse than the pass limit {limit}: passed; \
                 {value} would read as a fail, so the value is {limit}",
                mean.show()
            )
        });
        value = limit;
    } else {
        trace.add("pass", || {
            format!(
                "  {what}: the exact mean {} is {} the pass limit {limit}: {}",
                mean.show(),
                if passed {
                    "not worse than"
                } else {
                    "worse than"
                },
                if passed { "passed" } else { "NOT PASSED" }
            )
        });
    }
    if w.snap_to_scale {
        value.rescale(w.display_places.max(1));
    }
    Ok((value, passed))
}

/// The displayed value (German, English, decimal): rounded with the display
/// rule, but never across the pass limit (a failed value is never shown
/// as a passing one, nor the reverse).
fn display(
    rs: &Ruleset,
    w: &WeightedRule,
    value: Decimal,
    passed: bool,
) -> (String, String, Decimal) {
    let limit = rs.scale.pass_limit();
    let mut shown = round_to(value, w.display_places, w.display_rounding);
    if !passed && shown <= limit {
        shown = round_to(
            limit + ulp(w.display_places),
            w.display_places,
            Rounding::Truncate,
        );
    } else if passed && shown > limit {
        shown = round_to(limit, w.display_places, Rounding::Truncate);
    }
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
    trace.add("inputs", || {
        format!(
            "{} part(s), {} module(s); admissible module grades: {}",
            parts.len(),
            parts.iter().map(|p| p.modules.len()).sum::<usize>(),
            match w.input_grades {
                InputGrades::Scale => "the scale's grades".to_string(),
                InputGrades::PassingRange => format!(
                    "{} to {} with at most {}",
                    rs.scale.grades()[0],
                    rs.scale.pass_limit(),
                    places(w.input_grade_places_max)
                ),
            }
        )
    });
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
        trace.add("selection", || {
            format!("part {} (required {} LP)", p.id, p.required_lp)
        });
        let counted = rules::select_counted(&p.modules, p.required_lp, w.selection);
        for (i, m) in p.modules.iter().enumerate() {
            let status = if counted.contains(&i) {
                "counted"
            } else {
                "not counted"
            };
            trace.add("selection", || {
                format!(
                    "  {status:<11} {:<12} {:>6} LP  grade {:<5} {}",
                    m.id,
                    m.lp,
                    m.grade,
                    match (m.thesis, m.mandatory) {
                        (true, true) => "thesis, counted first",
                        (true, false) => "thesis",
                        (false, true) => "mandatory",
                        (false, false) => "elective",
                    }
                )
            });
        }
        let counted_modules: Vec<&Module> = counted.iter().map(|&i| &p.modules[i]).collect();
        let (lp, _) = rules::lp_and_weighted_sum(counted_modules.iter().copied())
            .ok_or_else(|| overflow("part LP"))?;
        let mean = rules::weighted_mean(counted_modules.iter().copied())
            .ok_or_else(|| overflow("part mean"))?;
        let (value, part_passed) = finish(rs, w, &mean, ("part value", LP_NUM, LP_DEN), trace)?;
        let (de, en, _) = display(rs, w, value, part_passed);
        trace.add("display", || {
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
        obj.insert("passed".into(), json!(part_passed));
        part_results.push((p.id.clone(), Value::Object(obj)));
        part_means.push((p.id.clone(), mean));
        all_counted.extend(counted_modules);
    }
    trace.add("mean", || "final".into());
    let final_mean = match &w.combine {
        Combine::Pooled => {
            trace.add("mean", || {
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
                trace.add("combine", || {
                    format!("  part {id}: weight {weight}, exact mean {}", mean.show())
                });
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
    let (value, passed) = finish(rs, w, &final_mean, names, trace)?;
    let (de, en, shown) = display(rs, w, value, passed);
    let word = rs.words.of(shown);
    trace.add("display", || {
        format!(
            "  final display: {de} / {en} ({}, {})",
            w.display_rounding,
            places(w.display_places),
        )
    });
    trace.add("word", || {
        format!(
            "  word of the displayed value {shown}: {} / {}",
            word.de, word.en
        )
    });
    let mut fin = Map::new();
    fin.insert("value".into(), json!(value.to_string()));
    fin.insert("display_de".into(), json!(de));
    fin.insert("display_en".into(), json!(en));
    fin.insert("word_de".into(), json!(word.de));
    fin.insert("word_en".into(), json!(word.en));
    fin.insert("passed".into(), json!(passed));
    if let Some(letter) = rs.scale.letter(value) {
        fin.insert("letter".into(), json!(letter));
        trace.add("letter", || format!("  letter of {value}: {letter}"));
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
    trace.add("inputs", || {
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
        trace.add("third", || format!("third examiner: {t}"));
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
            trace.add("third", || {
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
                trace.add("third", || match (&mean, &cut) {
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
            let mut grade = grade;
            if let (Some(mean), Some(cut)) = (mean, cut) {
                trace.add("mean", || {
                    format!("mean of {} grades = {}", used.len(), mean.show())
                });
                trace.add("cut", || {
                    format!(
                        "mean {} -> {cut} ({}, {})",
                        mean.show(),
                        e.cut_rounding,
                        places(e.cut_places)
                    )
                });
                trace.add("snap", || {
                    if rs.scale.contains(cut) {
                        format!("{cut} is on the scale -> {grade}")
                    } else {
                        format!(
                        "{cut} is not on the scale -> nearest grade {grade} (on a tie the better)"
                    )
                    }
                });
                obj.insert("mean_cut".into(), json!(cut.to_string()));
                let limit = rs.scale.pass_limit();
                let failed = mean
                    .cmp_decimal(limit)
                    .ok_or_else(|| overflow("examiners' mean"))?
                    == std::cmp::Ordering::Greater;
                if failed && grade <= limit {
                    let forced = rs.scale.first_failing().unwrap_or(grade);
                    trace.add("pass", || {
                        format!(
                            "the exact mean {} is worse than the pass limit {limit}: NOT PASSED; \
                             {grade} would read as a pass, so the grade is {forced}",
                            mean.show()
                        )
                    });
                    grade = forced;
                } else {
                    trace.add("pass", || {
                        format!(
                            "grade {grade}: {}",
                            if rs.scale.passes(grade) {
                                "passed"
                            } else {
                                "NOT PASSED"
                            }
                        )
                    });
                }
            } else {
                trace.add("pass", || format!("grade {grade}: NOT PASSED"));
            }
            let word = rs.words.of(grade);
            trace.add("word", || {
                format!("word of {grade}: {} / {}", word.de, word.en)
            });
            obj.insert("grade".into(), json!(grade.to_string()));
            if let Some(l) = rs.scale.letter(grade) {
                obj.insert("letter".into(), json!(l));
                trace.add("letter", || format!("letter of {grade}: {l}"));
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
    let inp = input::mc(raw, preset, m.first_attempt_required, m.item_scoring)?;
    trace.add("inputs", || {
        format!("{} candidate(s)", inp.candidates.len())
    });
    match inp.items {
        Some(n) => {
            trace.add("items", || {
                format!(
                    "{n} item(s): totals computed from the answers ({}); eliminated items count for no one",
                    match m.item_scoring {
                        input::ItemScoring::ExactSet =>
                            "an item's points only for exactly the key's marks, else 0",
                        input::ItemScoring::PerMark =>
                            "+mark points per correct mark, -mark points per wrong mark, never below 0 within the item",
                    }
                )
            });
            for note in &inp.notes {
                trace.add("items", || format!("  {note}"));
            }
        }
        None => trace.add("items", || {
            "no items in the input: the candidates' totals are taken as given".into()
        }),
    }
    let g = inp.max_points - inp.eliminated_points;
    trace.add("eliminated", || {
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
        trace.add("repeat", || {
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
                "notes": [],
                "candidates": [],
            }));
        }
    }
    let points: Vec<Decimal> = inp.candidates.iter().map(|c| c.points).collect();
    let mut notes: Vec<String> = Vec::new();
    // The applied pass mark, exact (a relative mark is a fraction).
    let (pass, rule_text): (Ratio, String) = match &m.pass_mark {
        PassMarkRule::PresetWithMedian {
            rounding,
            floor_divisor,
        } => {
            let preset_m = inp.pass_mark.ok_or_else(|| GradeError::MissingField {
                field: "pass_mark".into(),
            })?;
            let med = rules::median(&points).ok_or_else(|| overflow("median"))?;
            let applied = if med > preset_m {
                let t = format!(
                    "median of all totals {} > M {}: the preset pass mark M = {} applies",
                    plain(med),
                    plain(preset_m),
                    plain(preset_m)
                );
                trace.add("pass_mark", || t.clone());
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
                let mut t = format!(
                    "median of all totals {} <= M {}: M' = M x b / G = {} x {} / {} = {} -> {} ({}); G/{} = {} -> {}",
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
                // Letter m: "Sollte M' ... kleiner als G/3 werden, wird M' auf
                // G/3 festgesetzt" -- compared with the exact G/3, then rounded.
                let below_floor = scaled
                    .num
                    .checked_mul(floor_ratio.den)
                    .ok_or_else(|| overflow("G/3"))?
                    < floor_ratio
                        .num
                        .checked_mul(scaled.den)
                        .ok_or_else(|| overflow("G/3"))?;
                let applied = if below_floor {
                    t.push_str(&format!(
                        "; M x b / G is below G/{} -> M' = {}",
                        plain(*floor_divisor),
                        plain(floor)
                    ));
                    floor
                } else {
                    m_new
                };
                if applied > preset_m {
                    let note = format!(
                        "the pass mark M' = {} is ABOVE the announced M = {}: letter m sets M' to G/3 when M x b / G falls below G/3, even where G/3 exceeds M; this rule set follows the text",
                        plain(applied),
                        plain(preset_m)
                    );
                    t.push_str(&format!("; {note}"));
                    notes.push(note);
                }
                t.push_str(&format!("; applied pass mark {}", plain(applied)));
                trace.add("pass_mark", || t.clone());
                (applied, t)
            };
            (
                Ratio::new(applied.0, Decimal::ONE).ok_or_else(|| overflow("pass mark"))?,
                applied.1,
            )
        }
        PassMarkRule::AbsoluteOrRelative {
            absolute_percent,
            relative_factor,
            relative_when,
            mean_over,
            cut,
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
            let mut applied =
                Ratio::new(absolute, Decimal::ONE).ok_or_else(|| overflow("pass mark"))?;
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
                        let relative = match cut {
                            Some((places, rounding)) => {
                                let c = rel_ratio
                                    .to_places(*places, *rounding)
                                    .ok_or_else(|| overflow("relative"))?;
                                t.push_str(&format!(
                                    "; relative pass mark {} x mean = {} -> {} ({}, {})",
                                    relative_factor,
                                    rel_ratio.show(),
                                    plain(c),
                                    rounding,
                                    self::places(*places)
                                ));
                                Ratio::new(c, Decimal::ONE).ok_or_else(|| overflow("relative"))?
                            }
                            None => {
                                t.push_str(&format!(
                                    "; relative pass mark {} x mean = {} (exact, not rounded)",
                                    relative_factor,
                                    rel_ratio.show(),
                                ));
                                rel_ratio
                            }
                        };
                        let lower = relative
                            .num
                            .checked_mul(applied.den)
                            .ok_or_else(|| overflow("relative"))?
                            < applied
                                .num
                                .checked_mul(relative.den)
                                .ok_or_else(|| overflow("relative"))?;
                        if lower {
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
            t.push_str(&format!("; applied pass mark {}", applied.show()));
            trace.add("pass_mark", || t.clone());
            (applied, t)
        }
    };
    let mut cands = Vec::with_capacity(inp.candidates.len());
    for c in &inp.candidates {
        // points >= p / q  <=>  points * q >= p: decided exactly.
        let passed = c
            .points
            .checked_mul(pass.den)
            .ok_or_else(|| overflow("pass"))?
            >= pass.num;
        let grade = if passed {
            rules::band_grade_exact(c.points, pass, g, &m.bands, m.below_bands_grade)
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
        trace.add(if passed { "bands" } else { "pass" }, || {
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
    trace.add("word", || {
        "words: the grade's band of the rule set's word list".into()
    });
    if rs.scale.has_letters() {
        trace.add("letter", || {
            "letters: the scale's letter of each grade".into()
        });
    }
    let mut result = Map::new();
    match pass.exact(6) {
        Some(e) => {
            result.insert("pass_mark".into(), json!(plain(e)));
        }
        None => {
            let shown = pass
                .to_places(6, Rounding::Truncate)
                .ok_or_else(|| overflow("pass mark"))?;
            result.insert("pass_mark".into(), json!(plain(shown)));
            result.insert(
                "pass_mark_fraction".into(),
                json!(format!("{}/{}", plain(pass.num), plain(pass.den))),
            );
        }
    }
    result.insert("pass_mark_rule".into(), json!(rule_text));
    result.insert("repeat_required".into(), json!(false));
    result.insert("notes".into(), json!(notes));
    result.insert("candidates".into(), Value::Array(cands));
    Ok(Value::Object(result))
}
