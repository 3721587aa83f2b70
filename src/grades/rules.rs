//! The grading primitives every rule set is assembled from: selection of the
//! counted modules, the credit-weighted mean, the several-examiners rule,
//! the median and mean of point totals, and the point bands of
//! multiple-choice exams.
//!
//! It owns the default tie-break of module selection and the exactness of
//! each step (means stay [`Ratio`]s). It must not parse JSON or TOML, know
//! rule-set ids, or format output; it takes checked values and returns values.

use super::decimal::{Ratio, Rounding};
use super::scale::Scale;
use rust_decimal::Decimal;
use std::cmp::Ordering;

/// One module of a transcript, already checked (LP > 0, grade admissible).
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// Module id, unique in the transcript.
    pub id: String,
    /// Credit points (LP/ECTS), > 0.
    pub lp: Decimal,
    /// Module grade.
    pub grade: Decimal,
    /// Mandatory modules always count.
    pub mandatory: bool,
    /// The thesis (Bachelor-, Master-, Magisterarbeit), as the input marks it.
    pub thesis: bool,
}

/// Which modules of a part count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Mandatory modules first, then the best further modules until the
    /// required LP are reached or crossed (Erfurt: "die Module mit den
    /// besten Modulnoten"). Order of further modules: better grade, then
    /// more LP, then module id (byte order). The module that reaches or
    /// crosses the requirement counts in full; no module is split.
    BestGrades,
    /// Every module counts (Potsdam § 9 (5): all part exams).
    All,
}

/// The order in which non-mandatory modules are considered under
/// [`Selection::BestGrades`]: better (lower) grade, then more LP, then id.
pub fn elective_order(a: &Module, b: &Module) -> Ordering {
    a.grade
        .cmp(&b.grade)
        .then_with(|| b.lp.cmp(&a.lp))
        .then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
}

/// Indices of the counted modules, in the order they were taken
/// (mandatory modules in input order, then electives in [`elective_order`]).
///
/// If the modules together have fewer LP than required, all of them are
/// returned; the caller rejects that input before calling.
pub fn select_counted(
    modules: &[Module],
    required_lp: Decimal,
    selection: Selection,
) -> Vec<usize> {
    if selection == Selection::All {
        return (0..modules.len()).collect();
    }
    let mut counted: Vec<usize> = (0..modules.len())
        .filter(|&i| modules[i].mandatory)
        .collect();
    let mut lp: Decimal = counted.iter().map(|&i| modules[i].lp).sum();
    let mut electives: Vec<usize> = (0..modules.len())
        .filter(|&i| !modules[i].mandatory)
        .collect();
    electives.sort_by(|&a, &b| elective_order(&modules[a], &modules[b]));
    for i in electives {
        if lp >= required_lp {
            break;
        }
        lp += modules[i].lp;
        counted.push(i);
    }
    counted
}

/// Sum of LP and of grade × LP over `modules`.
pub fn lp_and_weighted_sum<'a>(
    modules: impl IntoIterator<Item = &'a Module>,
) -> Option<(Decimal, Decimal)> {
    let mut lp = Decimal::ZERO;
    let mut sum = Decimal::ZERO;
    for m in modules {
        lp = lp.checked_add(m.lp)?;
        sum = sum.checked_add(m.grade.checked_mul(m.lp)?)?;
    }
    Some((lp, sum))
}

/// The credit-weighted mean sum(grade × LP) / sum(LP), exact.
///
/// `None` for an empty set or on overflow.
pub fn weighted_mean<'a>(modules: impl IntoIterator<Item = &'a Module>) -> Option<Ratio> {
    let (lp, sum) = lp_and_weighted_sum(modules)?;
    Ratio::new(sum, lp)
}

/// The weighted mean of exact part means with fixed weights,
/// sum(w × mean) / sum(w), kept exact.
pub fn weighted_ratio(parts: &[(Decimal, Ratio)]) -> Option<Ratio> {
    // Bring every part to the common denominator prod(den) · sum(w).
    let mut den_product = Decimal::ONE;
    for (_, r) in parts {
        den_product = den_product.checked_mul(r.den)?;
    }
    let mut num = Decimal::ZERO;
    let mut weights = Decimal::ZERO;
    for (w, r) in parts {
        let scale_up = den_product.checked_div(r.den)?;
        num = num.checked_add(w.checked_mul(r.num)?.checked_mul(scale_up)?)?;
        weights = weights.checked_add(*w)?;
    }
    Ratio::new(num, den_product.checked_mul(weights)?)
}

/// Outcome of the several-examiners rule (Potsdam ZertO § 9 (9)).
#[derive(Debug, Clone, PartialEq)]
pub enum Examiners {
    /// A grade is worse than the pass limit and no third grade was given.
    NeedsThird,
    /// The grade, with every intermediate value.
    Grade {
        /// The grades that went into the mean (the two better of three).
        used: Vec<Decimal>,
        /// Their exact mean; `None` if two of three failed (Nr. 3).
        mean: Option<Ratio>,
        /// The mean cut after `cut_places`; `None` if two of three failed.
        cut: Option<Decimal>,
        /// The final scale grade.
        grade: Decimal,
        /// True if a third examiner was involved.
        third_used: bool,
    },
}

/// Why a third grade was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdNotNeeded;

/// The several-examiners rule:
/// 1. mean of the grades, cut to `cut_places` with `cut_mode`;
/// 2. on the scale → that grade, else the nearest scale grade, ties better;
/// 3. with exactly two grades of which one is worse than the pass limit a
///    third grade is needed; if two of the three fail, the worst grade of the
///    scale (5.0), otherwise the two better grades go through 1–2.
pub fn examiners(
    grades: &[Decimal],
    third: Option<Decimal>,
    scale: &Scale,
    cut_places: u32,
    cut_mode: Rounding,
) -> Result<Option<Examiners>, ThirdNotNeeded> {
    let limit = scale.pass_limit();
    let needs_third = grades.len() == 2 && grades.iter().any(|&g| g > limit);
    let used: Vec<Decimal> = match (needs_third, third) {
        (false, Some(_)) => return Err(ThirdNotNeeded),
        (true, None) => return Ok(Some(Examiners::NeedsThird)),
        (false, None) => grades.to_vec(),
        (true, Some(t)) => {
            let mut all = vec![grades[0], grades[1], t];
            let failing = all.iter().filter(|&&g| g > limit).count();
            if failing >= 2 {
                let worst = *scale.grades().last().unwrap_or(&t);
                return Ok(Some(Examiners::Grade {
                    used: all,
                    mean: None,
                    cut: None,
                    grade: worst,
                    third_used: true,
                }));
            }
            all.sort();
            all.truncate(2);
            all
        }
    };
    let Some(mean) = Ratio::new(used.iter().copied().sum(), Decimal::from(used.len())) else {
        return Ok(None);
    };
    let Some(cut) = mean.to_places(cut_places, cut_mode) else {
        return Ok(None);
    };
    let grade = scale.snap(cut);
    Ok(Some(Examiners::Grade {
        used,
        mean: Some(mean),
        cut: Some(cut),
        grade,
        third_used: needs_third,
    }))
}

/// The median of `values` (the mean of the two middle values for an even
/// count); `None` for an empty slice.
pub fn median(values: &[Decimal]) -> Option<Decimal> {
    let mut v = values.to_vec();
    v.sort();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => v[n / 2 - 1]
            .checked_add(v[n / 2])?
            .checked_div(Decimal::TWO),
    }
}

/// The exact arithmetic mean of `values`; `None` for an empty slice.
pub fn mean(values: &[Decimal]) -> Option<Ratio> {
    let mut sum = Decimal::ZERO;
    for v in values {
        sum = sum.checked_add(*v)?;
    }
    Ratio::new(sum, Decimal::from(values.len()))
}

/// One band of a point scheme: at least `min_percent` % of the points
/// above the pass mark give `grade`.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Lower bound in percent, inclusive.
    pub min_percent: Decimal,
    /// The grade of the band.
    pub grade: Decimal,
}

/// The grade of a passed candidate: the first band (bands sorted by
/// decreasing `min_percent`) whose share of the points above the pass mark
/// is reached, else `below_bands`. Decided exactly by
/// `(points − pass) · 100 ≥ min_percent · (max − pass)`; if `max == pass`
/// every passed candidate reached 100 %.
pub fn band_grade(
    points: Decimal,
    pass_mark: Decimal,
    max_points: Decimal,
    bands: &[Band],
    below_bands: Decimal,
) -> Option<Decimal> {
    band_grade_exact(
        points,
        Ratio::new(pass_mark, Decimal::ONE)?,
        max_points,
        bands,
        below_bands,
    )
}

/// [`band_grade`] with a pass mark that is an exact fraction `p / q` (a
/// relative pass mark such as 0.9 × mean): every comparison is multiplied
/// through by `q`, so nothing is rounded.
pub fn band_grade_exact(
    points: Decimal,
    pass_mark: Ratio,
    max_points: Decimal,
    bands: &[Band],
    below_bands: Decimal,
) -> Option<Decimal> {
    let above = points
        .checked_mul(pass_mark.den)?
        .checked_sub(pass_mark.num)?;
    let room = max_points
        .checked_mul(pass_mark.den)?
        .checked_sub(pass_mark.num)?;
    for b in bands {
        let reached = if room <= Decimal::ZERO {
            true
        } else {
            above.checked_mul(Decimal::ONE_HUNDRED)? >= b.min_percent.checked_mul(room)?
        };
        if reached {
            return Some(b.grade);
        }
    }
    Some(below_bands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn m(id: &str, lp: &str, grade: &str, mandatory: bool) -> Module {
        Module {
            thesis: false,
            id: id.into(),
            lp: d(lp),
            grade: d(grade),
            mandatory,
        }
    }

    fn ids(modules: &[Module], idx: &[usize]) -> Vec<String> {
        idx.iter().map(|&i| modules[i].id.clone()).collect()
    }

    fn scale() -> Scale {
        let g = [
            "1.0", "1.3", "1.7", "2.0", "2.3", "2.7", "3.0", "3.3", "3.7", "4.0", "5.0",
        ];
        Scale::new(g.iter().map(|s| d(s)).collect(), None, d("4.0")).unwrap()
    }

    #[test]
    fn domain_r1_worked_example_selects_m5_and_gives_1_76() {
        let modules = vec![
            m("M1", "10", "1.3", true),
            m("M2", "10", "2.0", true),
            m("M3", "5", "1.7", true),
            m("M4", "5", "3.0", false),
            m("M5", "5", "2.3", false),
        ];
        let counted = select_counted(&modules, d("30"), Selection::BestGrades);
        assert_eq!(ids(&modules, &counted), ["M1", "M2", "M3", "M5"]);
        let mean = weighted_mean(counted.iter().map(|&i| &modules[i])).unwrap();
        assert_eq!(mean.num, d("53.0"));
        assert_eq!(mean.den, d("30"));
        assert_eq!(
            mean.to_places(2, Rounding::Truncate).unwrap().to_string(),
            "1.76"
        );
        assert_eq!(
            mean.to_places(1, Rounding::Truncate).unwrap().to_string(),
            "1.7"
        );
    }

    #[test]
    fn selection_table() {
        // (modules, required, expected counted ids)
        type Case = (Vec<Module>, &'static str, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            // tie on grade: more LP first
            (
                vec![m("A", "5", "2.0", false), m("B", "10", "2.0", false)],
                "10",
                vec!["B"],
            ),
            // tie on grade and LP: module id decides
            (
                vec![m("Z", "5", "2.0", false), m("A", "5", "2.0", false)],
                "5",
                vec!["A"],
            ),
            // the crossing module counts in full, none after it
            (
                vec![
                    m("A", "10", "1.0", false),
                    m("B", "10", "1.3", false),
                    m("C", "10", "1.7", false),
                ],
                "15",
                vec!["A", "B"],
            ),
            // exactly reached: no further module
            (
                vec![m("A", "10", "1.0", false), m("B", "5", "1.3", false)],
                "10",
                vec!["A"],
            ),
            // mandatory modules count even when worse and even beyond the requirement
            (
                vec![
                    m("M", "20", "4.0", true),
                    m("E", "10", "1.0", false),
                    m("N", "20", "3.7", true),
                ],
                "30",
                vec!["M", "N"],
            ),
            // better grade beats more LP
            (
                vec![m("BIG", "20", "1.3", false), m("SMALL", "5", "1.0", false)],
                "20",
                vec!["SMALL", "BIG"],
            ),
        ];
        for (modules, req, want) in cases {
            let got = select_counted(&modules, d(req), Selection::BestGrades);
            assert_eq!(ids(&modules, &got), want, "required {req}");
        }
        let modules = vec![m("A", "5", "4.0", false), m("B", "5", "1.0", false)];
        assert_eq!(
            ids(&modules, &select_counted(&modules, d("5"), Selection::All)),
            ["A", "B"]
        );
    }

    #[test]
    fn weighted_ratio_of_magister_parts() {
        // modules 1.7666… (53/30), thesis 1.3, oral 2.0; weights 96 / 96 / 48
        let parts = [
            (d("96"), Ratio::new(d("53"), d("30")).unwrap()),
            (d("96"), Ratio::new(d("1.3"), d("1")).unwrap()),
            (d("48"), Ratio::new(d("2.0"), d("1")).unwrap()),
        ];
        let r = weighted_ratio(&parts).unwrap();
        // (169.6 + 124.8 + 96) / 240 = 390.4 / 240 = 1.62666…
        assert_eq!(
            r.to_places(2, Rounding::Truncate).unwrap().to_string(),
            "1.62"
        );
    }

    #[test]
    fn examiners_table_from_domain_r3_and_edges() {
        let s = scale();
        // (grades, third, expected grade or "third" for NeedsThird)
        let cases: &[(&[&str], Option<&str>, &str)] = &[
            (&["1.3", "2.0"], None, "1.7"),        // 1.65 → 1.6 → 1.7
            (&["1.0", "2.0"], None, "1.3"),        // 1.5 → tie → better
            (&["3.7", "5.0"], Some("4.0"), "3.7"), // 3.85 → 3.8 → 3.7
            (&["3.7", "5.0"], None, "third"),
            (&["5.0", "5.0"], None, "third"),
            (&["4.0", "5.0"], Some("5.0"), "5.0"), // two of three fail
            (&["5.0", "5.0"], Some("1.0"), "5.0"),
            (&["1.0", "5.0"], Some("1.0"), "1.0"),
            (&["2.0", "2.0"], None, "2.0"),
            (&["2.0", "2.3"], None, "2.0"), // 2.15 → 2.1 → 2.0
            (&["2.3", "2.7"], None, "2.3"), // 2.5 → tie 2.3/2.7 → 2.3
            (&["3.7", "4.0"], None, "3.7"), // 3.85 → 3.8 → 3.7
            (&["4.0", "4.0"], None, "4.0"),
            (&["1.0", "1.3", "1.7"], None, "1.3"), // 1.333… → 1.3
        ];
        for (grades, third, want) in cases {
            let g: Vec<Decimal> = grades.iter().map(|s| d(s)).collect();
            let got = examiners(&g, third.map(d), &s, 1, Rounding::Truncate)
                .unwrap()
                .unwrap();
            let got = match got {
                Examiners::NeedsThird => "third".to_string(),
                Examiners::Grade { grade, .. } => grade.to_string(),
            };
            assert_eq!(got, *want, "grades {grades:?} third {third:?}");
        }
        assert_eq!(
            examiners(
                &[d("1.0"), d("2.0")],
                Some(d("3.0")),
                &s,
                1,
                Rounding::Truncate
            ),
            Err(ThirdNotNeeded)
        );
    }

    #[test]
    fn median_and_mean() {
        let v = |xs: &[&str]| xs.iter().map(|s| d(s)).collect::<Vec<_>>();
        assert_eq!(median(&v(&["3", "1", "2"])), Some(d("2")));
        assert_eq!(median(&v(&["4", "1", "2", "3"])), Some(d("2.5")));
        assert_eq!(median(&[]), None);
        let m = mean(&v(&["10", "20", "40"])).unwrap();
        assert_eq!(m.show(), "23.333333…");
    }

    #[test]
    fn band_boundaries_are_inclusive() {
        let bands = vec![
            Band {
                min_percent: d("75"),
                grade: d("1.0"),
            },
            Band {
                min_percent: d("50"),
                grade: d("2.0"),
            },
            Band {
                min_percent: d("25"),
                grade: d("3.0"),
            },
        ];
        // pass mark 60 of 100: 40 points above it
        let cases = [
            ("100", "1.0"),
            ("90", "1.0"), // exactly 75 %
            ("89.9", "2.0"),
            ("80", "2.0"), // exactly 50 %
            ("70", "3.0"), // exactly 25 %
            ("69.9", "4.0"),
            ("60", "4.0"),
        ];
        for (p, want) in cases {
            let g = band_grade(d(p), d("60"), d("100"), &bands, d("4.0")).unwrap();
            assert_eq!(g.to_string(), want, "points {p}");
        }
        // no room above the pass mark: full marks
        assert_eq!(
            band_grade(d("10"), d("10"), d("10"), &bands, d("4.0")),
            Some(d("1.0"))
        );
    }
}
