//! Grade scales: the admissible grades of a regulation, snapping a computed
//! value onto them, letter grades, and the German and English grade words.
//!
//! It owns "which grade is better" (a lower number is better, as on every
//! German scale) and the tie rule of snapping (the better grade wins). It
//! must not parse rule-set files or inputs; it is built from checked values.

use rust_decimal::Decimal;

/// A grade scale, best grade first (e.g. 1.0 1.3 … 4.0 5.0).
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    /// The grades, strictly increasing (best first).
    grades: Vec<Decimal>,
    /// Letters in the same order as `grades`, if the regulation has them.
    letters: Option<Vec<String>>,
    /// The worst grade that still passes (4.0).
    pass_limit: Decimal,
}

/// One band of grade words: every value ≤ `max` (and above the previous
/// band's `max`) gets these words.
#[derive(Debug, Clone, PartialEq)]
pub struct WordBand {
    /// Upper bound, inclusive.
    pub max: Decimal,
    /// German word ("sehr gut").
    pub de: String,
    /// English word ("very good").
    pub en: String,
}

/// Grade words for every value of a scale, bands in increasing `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Words {
    bands: Vec<WordBand>,
}

impl Scale {
    /// A scale from its grades (best first), optional letters and pass limit.
    ///
    /// Errors name the defect; they are rule-set defects, not user errors.
    pub fn new(
        grades: Vec<Decimal>,
        letters: Option<Vec<String>>,
        pass_limit: Decimal,
    ) -> Result<Scale, String> {
        if grades.is_empty() {
            return Err("scale.grades is empty".into());
        }
        if grades.windows(2).any(|w| w[0] >= w[1]) {
            return Err("scale.grades must be strictly increasing (best first)".into());
        }
        if let Some(l) = &letters {
            if l.len() != grades.len() {
                return Err(format!(
                    "scale.letters has {} entries but scale.grades has {}",
                    l.len(),
                    grades.len()
                ));
            }
        }
        if !grades.contains(&pass_limit) {
            return Err(format!("scale.pass_limit {pass_limit} is not on the scale"));
        }
        Ok(Scale {
            grades,
            letters,
            pass_limit,
        })
    }

    /// The grades, best first.
    pub fn grades(&self) -> &[Decimal] {
        &self.grades
    }

    /// The worst passing grade.
    pub fn pass_limit(&self) -> Decimal {
        self.pass_limit
    }

    /// Whether `grade` is one of the scale's grades (numerically: 1.30 = 1.3).
    pub fn contains(&self, grade: Decimal) -> bool {
        self.grades.contains(&grade)
    }

    /// Whether `grade` passes (is not worse than the pass limit).
    pub fn passes(&self, grade: Decimal) -> bool {
        grade <= self.pass_limit
    }

    /// The best grade of the scale that does not pass (5.0), if the scale
    /// has one.
    pub fn first_failing(&self) -> Option<Decimal> {
        self.grades.iter().copied().find(|&g| g > self.pass_limit)
    }

    /// The scale grade nearest to `value`; on equal distance the better
    /// (lower) grade, as Potsdam ZertO § 9 (9) Nr. 2 prescribes.
    pub fn snap(&self, value: Decimal) -> Decimal {
        let mut best = self.grades[0];
        let mut best_distance = (value - best).abs();
        for &g in &self.grades[1..] {
            let distance = (value - g).abs();
            // Strictly smaller only: the earlier (better) grade keeps a tie.
            if distance < best_distance {
                best = g;
                best_distance = distance;
            }
        }
        best
    }

    /// The letter of a scale grade, if the scale has letters.
    pub fn letter(&self, grade: Decimal) -> Option<&str> {
        let letters = self.letters.as_ref()?;
        let i = self.grades.iter().position(|&g| g == grade)?;
        Some(letters[i].as_str())
    }

    /// Whether the scale has letters.
    pub fn has_letters(&self) -> bool {
        self.letters.is_some()
    }

    /// The scale as text, e.g. "1.0, 1.3, …, 5.0".
    pub fn describe(&self) -> String {
        self.grades
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Words {
    /// Word bands in strictly increasing `max`.
    pub fn new(bands: Vec<WordBand>) -> Result<Words, String> {
        if bands.is_empty() {
            return Err("words is empty".into());
        }
        if bands.windows(2).any(|w| w[0].max >= w[1].max) {
            return Err("words: max must be strictly increasing".into());
        }
        Ok(Words { bands })
    }

    /// The band of `value`: the first whose `max` is ≥ value; values above
    /// the last band get the last band.
    pub fn of(&self, value: Decimal) -> &WordBand {
        self.bands
            .iter()
            .find(|b| value <= b.max)
            .unwrap_or_else(|| &self.bands[self.bands.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn potsdam() -> Scale {
        let grades = [
            "1.0", "1.3", "1.7", "2.0", "2.3", "2.7", "3.0", "3.3", "3.7", "4.0", "5.0",
        ]
        .iter()
        .map(|s| d(s))
        .collect();
        let letters = ["A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "F"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Scale::new(grades, Some(letters), d("4.0")).unwrap()
    }

    #[test]
    fn snap_picks_nearest_and_the_better_grade_on_a_tie() {
        let s = potsdam();
        let cases = [
            ("1.6", "1.7"),
            ("1.5", "1.3"), // tie 1.3 / 1.7 → better
            ("1.0", "1.0"),
            ("1.1", "1.0"),
            ("1.2", "1.3"),
            ("1.4", "1.3"),
            ("1.8", "1.7"),
            ("1.9", "2.0"),
            ("2.5", "2.3"), // tie 2.3 / 2.7
            ("2.8", "2.7"),
            ("3.5", "3.3"), // tie 3.3 / 3.7
            ("3.8", "3.7"),
            ("3.9", "4.0"),
            ("4.5", "4.0"), // tie 4.0 / 5.0
            ("4.6", "5.0"),
            ("0.5", "1.0"),
        ];
        for (v, want) in cases {
            assert_eq!(s.snap(d(v)).to_string(), want, "snap {v}");
        }
    }

    #[test]
    fn letters_follow_the_scale_order() {
        let s = potsdam();
        let cases = [
            ("1.0", "A"),
            ("1.3", "A-"),
            ("1.7", "B+"),
            ("2.0", "B"),
            ("2.3", "B-"),
            ("2.7", "C+"),
            ("3.0", "C"),
            ("3.3", "C-"),
            ("3.7", "D+"),
            ("4.0", "D"),
            ("5.0", "F"),
        ];
        for (g, want) in cases {
            assert_eq!(s.letter(d(g)), Some(want), "letter of {g}");
        }
        assert_eq!(s.letter(d("1.5")), None);
    }

    #[test]
    fn contains_and_passes() {
        let s = potsdam();
        assert!(s.contains(d("1.30")));
        assert!(!s.contains(d("1.5")));
        assert!(s.passes(d("4.0")));
        assert!(!s.passes(d("4.1")));
    }

    #[test]
    fn scale_rejects_unordered_grades_and_letter_mismatch() {
        assert!(Scale::new(vec![d("2.0"), d("1.0")], None, d("2.0")).is_err());
        assert!(Scale::new(vec![d("1.0")], Some(vec![]), d("1.0")).is_err());
        assert!(Scale::new(vec![d("1.0")], None, d("4.0")).is_err());
    }

    #[test]
    fn words_use_inclusive_upper_bounds() {
        let w = Words::new(vec![
            WordBand {
                max: d("1.5"),
                de: "sehr gut".into(),
                en: "very good".into(),
            },
            WordBand {
                max: d("2.5"),
                de: "gut".into(),
                en: "good".into(),
            },
        ])
        .unwrap();
        assert_eq!(w.of(d("1.5")).de, "sehr gut");
        assert_eq!(w.of(d("1.51")).de, "gut");
        assert_eq!(w.of(d("9")).en, "good");
    }
}
