//! Exact decimal arithmetic for grades: parsing decimal strings, exact
//! fractions, rounding to a number of decimals with a named mode, and the
//! German and English display strings.
//!
//! It owns the rule that no grade computation ever sees a binary float: a
//! value is parsed from its decimal string, fractions stay exact
//! ([`Ratio`]) until the one explicit rounding step, and that step always
//! names its [`Rounding`] mode. It must not know about scales, rule sets or
//! JSON.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use std::fmt;

/// Longest decimal string accepted from a user (digits, sign and point).
pub const DECIMAL_CHARS_MAX: usize = 24;

/// Most decimal places accepted in a user-supplied decimal.
pub const DECIMAL_PLACES_MAX: u32 = 6;

/// How a value is brought to a number of decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Drop the further digits ("ohne Rundung gestrichen", "abgeschnitten").
    Truncate,
    /// Round to nearest; exactly half goes away from zero (kaufmännisch).
    HalfUp,
    /// Round to nearest; exactly half goes to the even digit (banker's).
    HalfEven,
}

impl Rounding {
    /// The name used in rule-set files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Rounding::Truncate => "truncate",
            Rounding::HalfUp => "half_up",
            Rounding::HalfEven => "half_even",
        }
    }

    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::Truncate => RoundingStrategy::ToZero,
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a decimal string was rejected (the caller adds the field name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalSyntaxError(pub String);

/// Parses a plain decimal string such as `"1.3"`, `"30"` or `"-5"`.
///
/// Accepted: an optional `-`, digits, optionally `.` and digits. Rejected
/// with a reason: empty strings, a decimal comma, exponents, `+`, spaces,
/// more than [`DECIMAL_PLACES_MAX`] decimals, more than
/// [`DECIMAL_CHARS_MAX`] characters. The value keeps its written scale
/// (`"1.30"` has two decimals).
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalSyntaxError> {
    if text.is_empty() {
        return Err(DecimalSyntaxError("empty string is not a number".into()));
    }
    if text.len() > DECIMAL_CHARS_MAX {
        return Err(DecimalSyntaxError(format!(
            "{text:?} is longer than {DECIMAL_CHARS_MAX} characters"
        )));
    }
    if text.contains(',') {
        return Err(DecimalSyntaxError(format!(
            "{text:?} uses a decimal comma; write a decimal point, e.g. \"1.3\""
        )));
    }
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only(int_part) || frac_part.is_some_and(|f| !digits_only(f)) {
        return Err(DecimalSyntaxError(format!(
            "{text:?} is not a plain decimal number like \"1.3\" or \"30\""
        )));
    }
    if let Some(f) = frac_part {
        if f.len() > DECIMAL_PLACES_MAX as usize {
            return Err(DecimalSyntaxError(format!(
                "{text:?} has more than {DECIMAL_PLACES_MAX} decimal places"
            )));
        }
    }
    Decimal::from_str_exact(text).map_err(|e| DecimalSyntaxError(format!("{text:?}: {e}")))
}

/// Parses a decimal from a trusted, shipped rule-set file; `None` if invalid.
pub fn parse_trusted(text: &str) -> Option<Decimal> {
    parse_decimal(text).ok()
}

/// Brings an exact decimal to `places` decimal places with `mode`.
///
/// The result always has exactly `places` decimals (`1.7` at 2 → `1.70`).
pub fn round_to(value: Decimal, places: u32, mode: Rounding) -> Decimal {
    let mut r = value.round_dp_with_strategy(places, mode.strategy());
    r.rescale(places);
    r
}

/// An exact non-negative fraction `num / den` of decimals.
///
/// Means are kept as fractions so that 53/30 is never 1.76666…67 before
/// it is truncated: [`Ratio::to_places`] decides every digit by exact
/// multiplication, not by trusting a rounded quotient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    /// Numerator, ≥ 0.
    pub num: Decimal,
    /// Denominator, > 0.
    pub den: Decimal,
}

impl Ratio {
    /// `num / den`; `None` if the denominator is not positive or the
    /// numerator is negative.
    pub fn new(num: Decimal, den: Decimal) -> Option<Ratio> {
        if den <= Decimal::ZERO || num < Decimal::ZERO {
            return None;
        }
        Some(Ratio { num, den })
    }

    /// The exact value if it has at most `places` decimals.
    pub fn exact(&self, places: u32) -> Option<Decimal> {
        let t = self.to_places(places, Rounding::Truncate)?;
        (t.checked_mul(self.den)? == self.num).then_some(t)
    }

    /// Whether the fraction equals `value` exactly.
    pub fn equals(&self, value: Decimal) -> Option<bool> {
        Some(value.checked_mul(self.den)? == self.num)
    }

    /// Compares the fraction with `value` exactly.
    pub fn cmp_decimal(&self, value: Decimal) -> Option<std::cmp::Ordering> {
        Some(self.num.cmp(&value.checked_mul(self.den)?))
    }

    /// The fraction at `places` decimals with `mode`, decided exactly.
    ///
    /// `None` only on arithmetic overflow.
    pub fn to_places(&self, places: u32, mode: Rounding) -> Option<Decimal> {
        let ulp = Decimal::new(1, places);
        let approx = self.num.checked_div(self.den)?;
        let mut t = approx.round_dp_with_strategy(places, RoundingStrategy::ToZero);
        // The quotient above is rounded at the 28th digit; correct the
        // truncated candidate by exact products until t·den ≤ num < (t+ulp)·den.
        while t.checked_mul(self.den)? > self.num {
            t = t.checked_sub(ulp)?;
        }
        while t.checked_add(ulp)?.checked_mul(self.den)? <= self.num {
            t = t.checked_add(ulp)?;
        }
        let rest = self.num.checked_sub(t.checked_mul(self.den)?)?;
        let half_cmp = rest
            .checked_mul(Decimal::TWO)?
            .cmp(&ulp.checked_mul(self.den)?);
        let up = match mode {
            Rounding::Truncate => false,
            Rounding::HalfUp => half_cmp != std::cmp::Ordering::Less,
            Rounding::HalfEven => match half_cmp {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => {
                    let last = t.checked_div(ulp)?;
                    last.checked_rem(Decimal::TWO)? != Decimal::ZERO
                }
            },
        };
        if up {
            t = t.checked_add(ulp)?;
        }
        t.rescale(places);
        Some(t)
    }

    /// A short human rendering: the exact decimal if it has at most six
    /// places, else the first six places followed by "…".
    pub fn show(&self) -> String {
        const SHOWN_PLACES: u32 = 6;
        if let Some(e) = self.exact(SHOWN_PLACES) {
            return e.normalize().to_string();
        }
        match self.to_places(SHOWN_PLACES, Rounding::Truncate) {
            Some(t) => format!("{t}…"),
            None => format!("{}/{}", self.num, self.den),
        }
    }
}

/// `value` with exactly `places` decimals and a decimal point (`"1.7"`).
///
/// The value must already have been brought to `places` decimals by an
/// explicit [`round_to`]; this only pads with zeros.
pub fn display_en(value: Decimal, places: u32) -> String {
    let mut v = value;
    debug_assert!(v.scale() <= places || v.normalize().scale() <= places);
    v = v.normalize();
    v.rescale(places);
    v.to_string()
}

/// `value` with exactly `places` decimals and a decimal comma (`"1,7"`).
pub fn display_de(value: Decimal, places: u32) -> String {
    display_en(value, places).replace('.', ",")
}

/// A decimal without trailing zeros, for pass marks and point sums.
pub fn plain(value: Decimal) -> String {
    value.normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn parse_accepts_plain_decimals_and_rejects_everything_else() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1.3", Some("1.3")),
            ("30", Some("30")),
            ("1.30", Some("1.30")),
            ("-5", Some("-5")),
            ("0", Some("0")),
            ("1,3", None),
            ("", None),
            ("1e2", None),
            ("+1", None),
            (" 1", None),
            (".5", None),
            ("5.", None),
            ("1.2345678", None),
            ("NaN", None),
            ("1111111111111111111111111", None),
        ];
        for (text, want) in cases {
            let got = parse_decimal(text).ok().map(|v| v.to_string());
            assert_eq!(got.as_deref(), *want, "input {text:?}");
        }
    }

    #[test]
    fn ratio_to_places_is_exact_in_every_mode() {
        // (num, den, places, mode, expected)
        let cases = [
            ("53", "30", 2, Rounding::Truncate, "1.76"),
            ("53", "30", 2, Rounding::HalfUp, "1.77"),
            ("53", "30", 1, Rounding::Truncate, "1.7"),
            ("3.7", "2", 1, Rounding::Truncate, "1.8"),
            ("3.3", "2", 1, Rounding::Truncate, "1.6"),
            ("3.7", "1", 1, Rounding::Truncate, "3.7"),
            // 1.85 must never be seen as 1.8499…: truncation keeps 1.8, half-up gives 1.9.
            ("1.85", "1", 1, Rounding::Truncate, "1.8"),
            ("1.85", "1", 1, Rounding::HalfUp, "1.9"),
            ("1.85", "1", 1, Rounding::HalfEven, "1.8"),
            ("1.75", "1", 1, Rounding::HalfEven, "1.8"),
            ("37", "2", 0, Rounding::HalfUp, "19"),
            ("37", "2", 0, Rounding::HalfEven, "18"),
            ("100", "3", 0, Rounding::HalfUp, "33"),
            ("200", "3", 0, Rounding::HalfUp, "67"),
            // .x9 boundary: 1.999… truncates to 1.99, never 2.00.
            ("5.99", "3", 2, Rounding::Truncate, "1.99"),
            ("6", "3", 2, Rounding::Truncate, "2.00"),
            (
                "2",
                "3",
                28,
                Rounding::Truncate,
                "0.6666666666666666666666666666",
            ),
        ];
        for (num, den, places, mode, want) in cases {
            let r = Ratio::new(d(num), d(den)).unwrap();
            assert_eq!(
                r.to_places(places, mode).unwrap().to_string(),
                want,
                "{num}/{den} at {places} with {mode}"
            );
        }
    }

    #[test]
    fn round_to_pads_and_names_the_mode() {
        let cases = [
            ("1.76", 1, Rounding::Truncate, "1.7"),
            ("1.76", 1, Rounding::HalfUp, "1.8"),
            ("1.7", 2, Rounding::Truncate, "1.70"),
            ("1.05", 1, Rounding::HalfEven, "1.0"),
            ("1.05", 1, Rounding::HalfUp, "1.1"),
        ];
        for (v, places, mode, want) in cases {
            assert_eq!(round_to(d(v), places, mode).to_string(), want);
        }
    }

    #[test]
    fn display_strings_use_comma_in_german_and_point_in_english() {
        assert_eq!(display_de(d("1.76"), 2), "1,76");
        assert_eq!(display_en(d("1.76"), 2), "1.76");
        assert_eq!(display_de(d("1.7"), 1), "1,7");
        assert_eq!(display_en(d("2"), 1), "2.0");
        assert_eq!(display_de(d("1.70"), 2), "1,70");
        assert_eq!(plain(d("50.00")), "50");
        assert_eq!(plain(d("37.80")), "37.8");
    }

    #[test]
    fn ratio_show_marks_inexact_values() {
        assert_eq!(Ratio::new(d("53"), d("30")).unwrap().show(), "1.766666…");
        assert_eq!(Ratio::new(d("3.3"), d("2")).unwrap().show(), "1.65");
    }
}
