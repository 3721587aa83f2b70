//! Rule sets: the versioned TOML files in `rulesets/` that encode one
//! regulation each, their canonical text and its BLAKE3 hash, and the typed,
//! validated form the engine runs.
//!
//! It owns the rule-set file format (documented in `docs/grades.md`) and the
//! definition of the canonical text: the file's UTF-8 bytes with every CR LF
//! replaced by LF, nothing else changed. The shipped files are embedded with
//! `include_str!`, so loading them does no I/O. It must not evaluate grades
//! or read user input.

use super::decimal::{parse_trusted, Rounding};
use super::error::GradeError;
use super::input::ItemScoring;
use super::rules::{Band, Selection};
use super::scale::{Scale, WordBand, Words};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::sync::OnceLock;

/// The shipped rule-set files, by id; the file name is `<id>.toml`.
const SHIPPED_FILES: &[(&str, &str)] = &[
    (
        "erfurt-ba-2019",
        include_str!("../../rulesets/erfurt-ba-2019.toml"),
    ),
    (
        "erfurt-ba-2012",
        include_str!("../../rulesets/erfurt-ba-2012.toml"),
    ),
    (
        "erfurt-ma-2019",
        include_str!("../../rulesets/erfurt-ma-2019.toml"),
    ),
    (
        "erfurt-ma-2012",
        include_str!("../../rulesets/erfurt-ma-2012.toml"),
    ),
    (
        "erfurt-med-2019",
        include_str!("../../rulesets/erfurt-med-2019.toml"),
    ),
    (
        "erfurt-magister",
        include_str!("../../rulesets/erfurt-magister.toml"),
    ),
    (
        "erfurt-magister-2009",
        include_str!("../../rulesets/erfurt-magister-2009.toml"),
    ),
    ("erfurt-mc", include_str!("../../rulesets/erfurt-mc.toml")),
    (
        "bremen-mc-2021",
        include_str!("../../rulesets/bremen-mc-2021.toml"),
    ),
    (
        "potsdam-examiners-2025",
        include_str!("../../rulesets/potsdam-examiners-2025.toml"),
    ),
    (
        "potsdam-mc-2025",
        include_str!("../../rulesets/potsdam-mc-2025.toml"),
    ),
    (
        "potsdam-scale-2025",
        include_str!("../../rulesets/potsdam-scale-2025.toml"),
    ),
];

/// Earlier versions of the shipped rule sets, as `<id>@<version>`: kept so
/// that a grade record made with one can be recomputed with exactly the
/// text its hash names (`zeugnis grade --ruleset <id>@<version>`). A file
/// here is never edited; a changed rule set is a new version under `rulesets/`
/// and its predecessor moves here.
const HISTORY_FILES: &[(&str, &str)] = &[
    (
        "bremen-mc-2021@1",
        include_str!("../../rulesets/history/bremen-mc-2021@1.toml"),
    ),
    (
        "erfurt-ba-2012@1",
        include_str!("../../rulesets/history/erfurt-ba-2012@1.toml"),
    ),
    (
        "erfurt-ba-2019@1",
        include_str!("../../rulesets/history/erfurt-ba-2019@1.toml"),
    ),
    (
        "erfurt-ma-2012@1",
        include_str!("../../rulesets/history/erfurt-ma-2012@1.toml"),
    ),
    (
        "erfurt-ma-2019@1",
        include_str!("../../rulesets/history/erfurt-ma-2019@1.toml"),
    ),
    (
        "erfurt-magister@1",
        include_str!("../../rulesets/history/erfurt-magister@1.toml"),
    ),
    (
        "erfurt-mc@1",
        include_str!("../../rulesets/history/erfurt-mc@1.toml"),
    ),
    (
        "erfurt-med-2019@1",
        include_str!("../../rulesets/history/erfurt-med-2019@1.toml"),
    ),
    (
        "potsdam-examiners-2025@1",
        include_str!("../../rulesets/history/potsdam-examiners-2025@1.toml"),
    ),
    (
        "potsdam-mc-2025@1",
        include_str!("../../rulesets/history/potsdam-mc-2025@1.toml"),
    ),
    (
        "potsdam-scale-2025@1",
        include_str!("../../rulesets/history/potsdam-scale-2025@1.toml"),
    ),
];

/// A shipped rule set as the ledger records it (`RulesetAdded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedRuleset {
    /// Rule-set id, e.g. `erfurt-ba-2019`.
    pub id: String,
    /// Version of this id's rule set; a changed rule gets a new version.
    pub version: u32,
    /// The regulation and paragraphs the rule set encodes.
    pub citation: String,
    /// The kind: `weighted`, `examiners` or `mc`.
    pub kind: String,
    /// The canonical text (what is hashed and stored as a blob).
    pub canonical_text: String,
    /// BLAKE3 of the canonical text, lowercase hex.
    pub hash: String,
}

/// The kinds of rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Credit-weighted final grade over counted modules.
    Weighted,
    /// One grade from several examiners.
    Examiners,
    /// Multiple-choice exam: pass mark and grades from points.
    Mc,
}

impl Kind {
    /// The name used in files and output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Weighted => "weighted",
            Kind::Examiners => "examiners",
            Kind::Mc => "mc",
        }
    }
}

/// A loaded, validated rule set.
#[derive(Debug, Clone)]
pub struct Ruleset {
    /// Id, version, citation, kind, canonical text and hash.
    pub meta: ShippedRuleset,
    /// The kind, typed.
    pub kind: Kind,
    /// Every reading of an ambiguous clause, as stated in the file
    /// (version-1 files; later versions state readings per step).
    pub readings: Vec<String>,
    /// Each computation step with the sentence it implements (version 2
    /// on); empty for version-1 files.
    pub steps: Vec<Step>,
    /// The grade scale.
    pub scale: Scale,
    /// Grade words.
    pub words: Words,
    /// The kind-specific parameters.
    pub rule: Rule,
}

/// One step of a rule set's computation and the sentence it implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Step id, as the engine's trace names it (`mean`, `pass`, ...).
    pub id: String,
    /// Regulation, paragraph and sentence, e.g. "ZertO Potsdam § 9 Abs. 5 Satz 2".
    pub cites: String,
    /// What the step does, in one sentence.
    pub does: String,
    /// `Some(why)` if the step is a reading where the text is silent or
    /// ambiguous, `None` if it is the text itself.
    pub reading: Option<String>,
}

/// Kind-specific parameters.
#[derive(Debug, Clone)]
pub enum Rule {
    /// See [`WeightedRule`].
    Weighted(WeightedRule),
    /// See [`ExaminersRule`].
    Examiners(ExaminersRule),
    /// See [`McRule`].
    Mc(McRule),
}

/// How the parts of a weighted grade combine into the final grade.
#[derive(Debug, Clone, PartialEq)]
pub enum Combine {
    /// One weighted mean over the counted modules of all parts; any part ids.
    Pooled,
    /// Fixed weight per part (id, weight); exactly these parts, in this order.
    PartWeights(Vec<(String, Decimal)>),
}

/// Which module grades an input may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputGrades {
    /// Exactly the scale's grades, failing ones included.
    Scale,
    /// Any value from the best grade to the pass limit with at most
    /// `input_grade_places_max` decimals (covers means of two assessments).
    PassingRange,
}

/// Parameters of a `weighted` rule set.
#[derive(Debug, Clone)]
pub struct WeightedRule {
    /// Pooled or fixed part weights.
    pub combine: Combine,
    /// Which modules count.
    pub selection: Selection,
    /// Admissible module grades.
    pub input_grades: InputGrades,
    /// Most decimals of a module grade under [`InputGrades::PassingRange`].
    pub input_grade_places_max: u32,
    /// Decimals of the computed value ("Genauigkeit von zwei Dezimalstellen").
    pub compute_places: u32,
    /// Mode of the computation step.
    pub compute_rounding: Rounding,
    /// Whether the computed value is snapped to the scale (Potsdam).
    pub snap_to_scale: bool,
    /// Decimals shown on the certificate.
    pub display_places: u32,
    /// Mode of the display step.
    pub display_rounding: Rounding,
    /// A module marked `"thesis": true` counts first, with the mandatory
    /// modules (Erfurt BA 2012 § 22 Abs. 3 Satz 2).
    pub thesis_counted_first: bool,
}

/// Parameters of an `examiners` rule set.
#[derive(Debug, Clone)]
pub struct ExaminersRule {
    /// Decimals the mean is cut to (1).
    pub cut_places: u32,
    /// Mode of the cut (truncate).
    pub cut_rounding: Rounding,
    /// Fewest examiners' grades.
    pub grades_min: usize,
    /// Most examiners' grades.
    pub grades_max: usize,
}

/// Which candidates' mean a relative pass mark uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeanOver {
    /// All candidates (Bremen).
    All,
    /// Candidates at their first attempt (Potsdam).
    FirstAttempt,
}

/// When a relative pass mark applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelativeWhen {
    /// Always as an alternative (Potsdam: "oder").
    Always,
    /// Only if the mean is below the absolute pass mark (Bremen).
    MeanBelowAbsolute,
}

/// How the pass mark of a multiple-choice exam is set.
#[derive(Debug, Clone, PartialEq)]
pub enum PassMarkRule {
    /// Erfurt: M preset in the input; if the median of all totals is ≤ M,
    /// M' = M·b/G rounded to an integer, not below G/3 (rounded), never above M.
    PresetWithMedian {
        /// Mode of "Rundung auf die nächste ganze Zahl".
        rounding: Rounding,
        /// The floor is G / `floor_divisor` (3).
        floor_divisor: Decimal,
    },
    /// Bremen/Potsdam: `absolute_percent` % of G, or `relative_factor` × mean.
    AbsoluteOrRelative {
        /// Absolute pass mark in percent of the maximum (50).
        absolute_percent: Decimal,
        /// Relative pass mark as a factor of the mean (0.85, 0.9).
        relative_factor: Decimal,
        /// When the relative mark applies.
        relative_when: RelativeWhen,
        /// Whose mean.
        mean_over: MeanOver,
        /// Decimals and mode a relative pass mark is cut to; `None`: the
        /// relative pass mark is the exact fraction (compared exactly).
        cut: Option<(u32, Rounding)>,
    },
}

/// Parameters of an `mc` rule set.
#[derive(Debug, Clone)]
pub struct McRule {
    /// How the pass mark is set.
    pub pass_mark: PassMarkRule,
    /// Repeat the exam if eliminated points exceed this percentage of the
    /// maximum (Bremen: 20); `None` if the regulation has no such rule.
    pub repeat_if_eliminated_over_percent: Option<Decimal>,
    /// Bands, by decreasing `min_percent`.
    pub bands: Vec<Band>,
    /// Grade of a passed candidate below every band.
    pub below_bands_grade: Decimal,
    /// Grade of a failed candidate.
    pub fail_grade: Decimal,
    /// Whether every candidate must state `first_attempt`.
    pub first_attempt_required: bool,
    /// How per-item answer marks become points (default: exact set).
    pub item_scoring: ItemScoring,
}

// ---- the file format ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleset {
    id: String,
    version: u32,
    citation: String,
    kind: Kind,
    #[serde(default)]
    readings: Vec<String>,
    #[serde(default)]
    steps: Vec<RawStep>,
    scale: RawScale,
    words: Vec<RawWord>,
    weighted: Option<RawWeighted>,
    examiners: Option<RawExaminers>,
    mc: Option<RawMc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    cites: String,
    does: String,
    #[serde(default)]
    reading: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScale {
    grades: Vec<String>,
    letters: Option<Vec<String>>,
    pass_limit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWord {
    max: String,
    de: String,
    en: String,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawCombine {
    Pooled,
    PartWeights,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawSelection {
    BestGrades,
    All,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartWeight {
    id: String,
    weight: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeighted {
    combine: RawCombine,
    selection: RawSelection,
    input_grades: InputGrades,
    input_grade_places_max: u32,
    compute_places: u32,
    compute_rounding: Rounding,
    snap_to_scale: bool,
    display_places: u32,
    display_rounding: Rounding,
    #[serde(default)]
    thesis_counted_first: bool,
    #[serde(default)]
    parts: Vec<RawPartWeight>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExaminers {
    cut_places: u32,
    cut_rounding: Rounding,
    grades_min: usize,
    grades_max: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "rule", rename_all = "snake_case")]
enum RawPassMark {
    PresetWithMedian {
        rounding: Rounding,
        floor_divisor: String,
    },
    AbsoluteOrRelative {
        absolute_percent: String,
        relative_factor: String,
        relative_when: RelativeWhen,
        mean_over: MeanOver,
        #[serde(default)]
        places: Option<u32>,
        #[serde(default)]
        rounding: Option<Rounding>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    min_percent: String,
    grade: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMc {
    pass_mark: RawPassMark,
    repeat_if_eliminated_over_percent: Option<String>,
    bands: Vec<RawBand>,
    below_bands_grade: String,
    fail_grade: String,
    #[serde(default)]
    item_scoring: Option<ItemScoring>,
}

/// From this version on a rule set must document its steps in `[[steps]]`
/// (a new id may do so from its version 1).
pub const STEPS_FROM_VERSION: u32 = 2;

/// The step ids the engine reports for `rule` (in the order it runs them);
/// a rule set from [`STEPS_FROM_VERSION`] on documents exactly these.
pub fn steps_used(rule: &Rule, scale: &Scale) -> Vec<&'static str> {
    let mut v = vec!["scale", "inputs"];
    match rule {
        Rule::Weighted(w) => {
            v.push("selection");
            v.push("mean");
            if matches!(w.combine, Combine::PartWeights(_)) {
                v.push("combine");
            }
            v.push("compute");
            if w.snap_to_scale {
                v.push("snap");
            }
            v.extend(["pass", "display", "word"]);
        }
        Rule::Examiners(_) => {
            v.extend(["third", "mean", "cut", "snap", "pass", "word"]);
        }
        Rule::Mc(m) => {
            v.push("items");
            v.push("eliminated");
            if m.repeat_if_eliminated_over_percent.is_some() {
                v.push("repeat");
            }
            v.extend(["pass_mark", "pass", "bands", "word"]);
        }
    }
    if scale.has_letters() {
        v.push("letter");
    }
    v
}

/// Most decimals any rule set may ask for.
const RULESET_PLACES_MAX: u32 = 6;

/// The canonical text of a rule-set file: CR LF → LF, nothing else.
pub fn canonical_text(file_text: &str) -> String {
    file_text.replace("\r\n", "\n")
}

/// BLAKE3 of the canonical text, lowercase hex.
pub fn hash_hex(canonical: &str) -> String {
    blake3::hash(canonical.as_bytes()).to_hex().to_string()
}

/// Loads and validates one rule-set file; `expected_id` is the id its file
/// name promises.
pub fn load(expected_id: &str, file_text: &str) -> Result<Ruleset, GradeError> {
    let err = |reason: String| GradeError::Ruleset {
        id: expected_id.to_string(),
        reason,
    };
    let canonical = canonical_text(file_text);
    let raw: RawRuleset = toml::from_str(&canonical).map_err(|e| err(e.to_string()))?;
    if raw.id != expected_id {
        return Err(err(format!("id {:?} does not match the file name", raw.id)));
    }
    let dec = |field: &str, s: &str| {
        parse_trusted(s).ok_or_else(|| err(format!("{field}: {s:?} is not a decimal")))
    };
    let grades = raw
        .scale
        .grades
        .iter()
        .map(|g| dec("scale.grades", g))
        .collect::<Result<Vec<_>, _>>()?;
    let scale = Scale::new(
        grades,
        raw.scale.letters.clone(),
        dec("scale.pass_limit", &raw.scale.pass_limit)?,
    )
    .map_err(err)?;
    let words = Words::new(
        raw.words
            .iter()
            .map(|w| {
                Ok(WordBand {
                    max: dec("words.max", &w.max)?,
                    de: w.de.clone(),
                    en: w.en.clone(),
                })
            })
            .collect::<Result<Vec<_>, GradeError>>()?,
    )
    .map_err(err)?;
    let on_scale = |field: &str, g: Decimal| {
        if scale.contains(g) {
            Ok(g)
        } else {
            Err(err(format!("{field}: {g} is not on the scale")))
        }
    };
    let places_ok = |field: &str, p: u32| {
        if p <= RULESET_PLACES_MAX {
            Ok(p)
        } else {
            Err(err(format!(
                "{field}: more than {RULESET_PLACES_MAX} places"
            )))
        }
    };
    let sections = [
        raw.weighted.is_some(),
        raw.examiners.is_some(),
        raw.mc.is_some(),
    ];
    if sections.iter().filter(|&&s| s).count() != 1 {
        return Err(err(
            "exactly one of [weighted], [examiners], [mc] must be present".into(),
        ));
    }
    let rule = match (raw.kind, raw.weighted, raw.examiners, raw.mc) {
        (Kind::Weighted, Some(w), None, None) => {
            let combine = match w.combine {
                RawCombine::Pooled => {
                    if !w.parts.is_empty() {
                        return Err(err("weighted.parts given for combine = pooled".into()));
                    }
                    Combine::Pooled
                }
                RawCombine::PartWeights => {
                    if w.parts.is_empty() {
                        return Err(err("weighted.parts missing for part_weights".into()));
                    }
                    let mut parts = Vec::new();
                    for p in &w.parts {
                        let weight = dec("weighted.parts.weight", &p.weight)?;
                        if weight <= Decimal::ZERO {
                            return Err(err("weighted.parts.weight must be > 0".into()));
                        }
                        parts.push((p.id.clone(), weight));
                    }
                    Combine::PartWeights(parts)
                }
            };
            Rule::Weighted(WeightedRule {
                combine,
                selection: match w.selection {
                    RawSelection::BestGrades => Selection::BestGrades,
                    RawSelection::All => Selection::All,
                },
                input_grades: w.input_grades,
                input_grade_places_max: places_ok(
                    "weighted.input_grade_places_max",
                    w.input_grade_places_max,
                )?,
                compute_places: places_ok("weighted.compute_places", w.compute_places)?,
                compute_rounding: w.compute_rounding,
                snap_to_scale: w.snap_to_scale,
                display_places: places_ok("weighted.display_places", w.display_places)?,
                display_rounding: w.display_rounding,
                thesis_counted_first: w.thesis_counted_first,
            })
        }
        (Kind::Examiners, None, Some(e), None) => {
            if e.grades_min < 2 || e.grades_max < e.grades_min {
                return Err(err("examiners: need 2 ≤ grades_min ≤ grades_max".into()));
            }
            Rule::Examiners(ExaminersRule {
                cut_places: places_ok("examiners.cut_places", e.cut_places)?,
                cut_rounding: e.cut_rounding,
                grades_min: e.grades_min,
                grades_max: e.grades_max,
            })
        }
        (Kind::Mc, None, None, Some(m)) => {
            let pass_mark =
                match m.pass_mark {
                    RawPassMark::PresetWithMedian {
                        rounding,
                        floor_divisor,
                    } => PassMarkRule::PresetWithMedian {
                        rounding,
                        floor_divisor: dec("mc.pass_mark.floor_divisor", &floor_divisor)?,
                    },
                    RawPassMark::AbsoluteOrRelative {
                        absolute_percent,
                        relative_factor,
                        relative_when,
                        mean_over,
                        places,
                        rounding,
                    } => PassMarkRule::AbsoluteOrRelative {
                        absolute_percent: dec("mc.pass_mark.absolute_percent", &absolute_percent)?,
                        relative_factor: dec("mc.pass_mark.relative_factor", &relative_factor)?,
                        relative_when,
                        mean_over,
                        cut: match (places, rounding) {
                            (None, None) => None,
                            (Some(p), Some(r)) => Some((places_ok("mc.pass_mark.places", p)?, r)),
                            _ => return Err(err(
                                "mc.pass_mark: places and rounding go together (both or neither)"
                                    .into(),
                            )),
                        },
                    },
                };
            let mut bands = Vec::new();
            for b in &m.bands {
                bands.push(Band {
                    min_percent: dec("mc.bands.min_percent", &b.min_percent)?,
                    grade: on_scale("mc.bands.grade", dec("mc.bands.grade", &b.grade)?)?,
                });
            }
            if bands
                .windows(2)
                .any(|w| w[0].min_percent <= w[1].min_percent)
            {
                return Err(err("mc.bands: min_percent must decrease".into()));
            }
            let first_attempt_required = matches!(
                pass_mark,
                PassMarkRule::AbsoluteOrRelative {
                    mean_over: MeanOver::FirstAttempt,
                    ..
                }
            );
            Rule::Mc(McRule {
                pass_mark,
                repeat_if_eliminated_over_percent: m
                    .repeat_if_eliminated_over_percent
                    .as_deref()
                    .map(|p| dec("mc.repeat_if_eliminated_over_percent", p))
                    .transpose()?,
                bands,
                below_bands_grade: on_scale(
                    "mc.below_bands_grade",
                    dec("mc.below_bands_grade", &m.below_bands_grade)?,
                )?,
                fail_grade: on_scale("mc.fail_grade", dec("mc.fail_grade", &m.fail_grade)?)?,
                first_attempt_required,
                item_scoring: m.item_scoring.unwrap_or(ItemScoring::ExactSet),
            })
        }
        (kind, ..) => {
            return Err(err(format!(
                "kind = {:?} needs a [{}] section and no other",
                kind.name(),
                kind.name()
            )))
        }
    };
    let steps: Vec<Step> = raw
        .steps
        .into_iter()
        .map(|s| Step {
            id: s.id,
            cites: s.cites,
            does: s.does,
            reading: s.reading,
        })
        .collect();
    if steps.is_empty() {
        if raw.version >= STEPS_FROM_VERSION {
            return Err(err(format!(
                "steps: from version {STEPS_FROM_VERSION} on, every step cites what it implements in [[steps]]"
            )));
        }
        if raw.readings.is_empty() {
            return Err(err(
                "readings is empty: state every reading of an ambiguous clause".into(),
            ));
        }
    } else {
        if !raw.readings.is_empty() {
            return Err(err(format!(
                "readings: from version {STEPS_FROM_VERSION} on, readings are stated per step in [[steps]]"
            )));
        }
        let needed = steps_used(&rule, &scale);
        for s in &steps {
            if !needed.contains(&s.id.as_str()) {
                return Err(err(format!(
                    "steps: {:?} is not a step of this rule set (its steps: {})",
                    s.id,
                    needed.join(", ")
                )));
            }
            if s.cites.trim().is_empty() || s.does.trim().is_empty() {
                return Err(err(format!("steps: {:?} needs cites and does", s.id)));
            }
        }
        for id in &needed {
            if !steps.iter().any(|s| s.id == *id) {
                return Err(err(format!(
                    "steps: the step {id:?} is not documented (cite what it implements)"
                )));
            }
        }
    }
    let hash = hash_hex(&canonical);
    Ok(Ruleset {
        meta: ShippedRuleset {
            id: raw.id,
            version: raw.version,
            citation: raw.citation,
            kind: raw.kind.name().to_string(),
            canonical_text: canonical,
            hash,
        },
        kind: raw.kind,
        readings: raw.readings,
        steps,
        scale,
        words,
        rule,
    })
}

/// Loads a list of embedded files once; history names are `<id>@<version>`.
fn load_all(
    files: &'static [(&'static str, &'static str)],
) -> Result<Vec<Ruleset>, (String, String)> {
    files
        .iter()
        .map(|(name, text)| {
            let (id, version) = match name.split_once('@') {
                Some((id, v)) => (id, v.parse::<u32>().ok()),
                None => (*name, None),
            };
            let r = load(id, text).map_err(|e| match e {
                GradeError::Ruleset { id, reason } => (id, reason),
                other => (id.to_string(), other.to_string()),
            })?;
            if let Some(v) = version {
                if r.meta.version != v {
                    return Err((
                        name.to_string(),
                        format!("the file says version {}", r.meta.version),
                    ));
                }
            }
            Ok(r)
        })
        .collect()
}

fn loaded(
    cell: &'static OnceLock<Result<Vec<Ruleset>, (String, String)>>,
    files: &'static [(&'static str, &'static str)],
) -> Result<&'static [Ruleset], GradeError> {
    match cell.get_or_init(|| load_all(files)) {
        Ok(v) => Ok(v.as_slice()),
        Err((id, reason)) => Err(GradeError::Ruleset {
            id: id.clone(),
            reason: reason.clone(),
        }),
    }
}

/// All shipped rule sets (the current version of each id), loaded once.
pub fn shipped() -> Result<&'static [Ruleset], GradeError> {
    static LOADED: OnceLock<Result<Vec<Ruleset>, (String, String)>> = OnceLock::new();
    loaded(&LOADED, SHIPPED_FILES)
}

/// The earlier versions of the shipped rule sets, loaded once.
pub fn history() -> Result<&'static [Ruleset], GradeError> {
    static LOADED: OnceLock<Result<Vec<Ruleset>, (String, String)>> = OnceLock::new();
    loaded(&LOADED, HISTORY_FILES)
}

/// The rule set with exactly this hash, current or earlier version.
pub fn by_hash(hash: &str) -> Result<Option<&'static Ruleset>, GradeError> {
    Ok(shipped()?
        .iter()
        .chain(history()?.iter())
        .find(|r| r.meta.hash == hash))
}

/// The shipped rule set with this id (its current version), or
/// `<id>@<version>` for an earlier version.
pub fn find(field: &str, id: &str) -> Result<&'static Ruleset, GradeError> {
    let all = shipped()?;
    let found = match id.split_once('@') {
        None => all.iter().find(|r| r.meta.id == id),
        Some((base, version)) => all
            .iter()
            .chain(history()?.iter())
            .find(|r| r.meta.id == base && version.parse() == Ok(r.meta.version)),
    };
    found.ok_or_else(|| GradeError::UnknownRuleset {
        field: field.to_string(),
        id: id.to_string(),
        known: all
            .iter()
            .map(|r| format!("{} (v{})", r.meta.id, r.meta.version))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_rule_set_loads_under_its_exact_id() {
        let ids: Vec<&str> = shipped()
            .unwrap()
            .iter()
            .map(|r| r.meta.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "erfurt-ba-2019",
                "erfurt-ba-2012",
                "erfurt-ma-2019",
                "erfurt-ma-2012",
                "erfurt-med-2019",
                "erfurt-magister",
                "erfurt-magister-2009",
                "erfurt-mc",
                "bremen-mc-2021",
                "potsdam-examiners-2025",
                "potsdam-mc-2025",
                "potsdam-scale-2025",
            ]
        );
    }

    #[test]
    fn shipped_files_are_lf_only_and_hash_their_exact_bytes() {
        for (id, text) in SHIPPED_FILES {
            assert!(!text.contains('\r'), "{id} contains CR");
            let r = find("ruleset", id).unwrap();
            assert_eq!(r.meta.canonical_text, *text);
            assert_eq!(
                r.meta.hash,
                blake3::hash(text.as_bytes()).to_hex().to_string()
            );
            assert_eq!(r.meta.hash.len(), 64);
            assert!(!r.meta.citation.is_empty());
            assert!(r.meta.citation.contains('§') || r.meta.citation.contains("Anlage"));
        }
    }

    #[test]
    fn canonical_text_maps_crlf_to_lf_and_nothing_else() {
        assert_eq!(canonical_text("a\r\nb\n\r"), "a\nb\n\r");
        let lf = find("ruleset", "erfurt-mc").unwrap();
        let crlf = load("erfurt-mc", &lf.meta.canonical_text.replace('\n', "\r\n")).unwrap();
        assert_eq!(crlf.meta.hash, lf.meta.hash);
    }

    #[test]
    fn a_changed_byte_changes_the_hash() {
        let r = find("ruleset", "erfurt-ba-2019").unwrap();
        let changed = r
            .meta
            .canonical_text
            .replacen("version = 2", "version = 3", 1);
        let other = load("erfurt-ba-2019", &changed).unwrap();
        assert_ne!(other.meta.hash, r.meta.hash);
    }

    #[test]
    fn invalid_rule_sets_are_internal_errors() {
        let cases = [
            ("x", "id = \"y\""),
            ("erfurt-ba-2019", "not toml ["),
            (
                "erfurt-ba-2019",
                "id = \"erfurt-ba-2019\"\nversion = 1\ncitation = \"§\"\nkind = \"weighted\"\nreadings = []\nsurprise = 1",
            ),
        ];
        for (id, text) in cases {
            let e = load(id, text).unwrap_err();
            assert!(matches!(e, GradeError::Ruleset { .. }), "{id}: {e}");
            assert_eq!(e.exit_code(), 1);
        }
    }

    #[test]
    fn unknown_id_lists_the_shipped_ones() {
        let e = find("ruleset", "erfurt-ba-2099").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("erfurt-ba-2099"), "{text}");
        assert!(text.contains("potsdam-scale-2025"), "{text}");
        assert_eq!(e.exit_code(), 2);
    }
}
