//! DIN 91379 "datatype C" (the string type of XHochschule names, places and
//! identifiers): which characters may be written.
//!
//! Owns: the check of one string. It accepts the single code points of
//! datatype C (vendor/din-91379-2022-08/din-norm-91379-datatypes.xsd,
//! `datatypeC`); the norm's combining sequences (e.g. `C` + U+0300) are
//! refused, which is stricter than the norm but never writes an invalid
//! value. Must not do: transliterate silently. A name in another script
//! (Cyrillic, Greek, ...) is refused with the field and the offset, so the
//! exam office registers the Latin form the passport gives.

/// The code-point ranges of DIN 91379 datatype C (inclusive), in order.
const DATATYPE_C_RANGES: [(u32, u32); 45] = [
    (0x0009, 0x000A),
    (0x000D, 0x000D),
    (0x0020, 0x007E),
    (0x00A0, 0x00AC),
    (0x00AE, 0x017E),
    (0x0187, 0x0188),
    (0x018F, 0x018F),
    (0x0197, 0x0197),
    (0x01A0, 0x01A1),
    (0x01AF, 0x01B0),
    (0x01B7, 0x01B7),
    (0x01CD, 0x01DC),
    (0x01DE, 0x01DF),
    (0x01E2, 0x01F0),
    (0x01F4, 0x01F5),
    (0x01F8, 0x01FF),
    (0x0212, 0x0213),
    (0x0218, 0x021B),
    (0x021E, 0x021F),
    (0x0227, 0x0233),
    (0x0259, 0x0259),
    (0x0268, 0x0268),
    (0x0292, 0x0292),
    (0x02B9, 0x02BA),
    (0x02BE, 0x02BF),
    (0x02C8, 0x02C8),
    (0x02CC, 0x02CC),
    (0x1E02, 0x1E03),
    (0x1E06, 0x1E07),
    (0x1E0A, 0x1E11),
    (0x1E17, 0x1E17),
    (0x1E1C, 0x1E2B),
    (0x1E2F, 0x1E37),
    (0x1E3A, 0x1E3B),
    (0x1E40, 0x1E49),
    (0x1E52, 0x1E5B),
    (0x1E5E, 0x1E63),
    (0x1E6A, 0x1E6F),
    (0x1E80, 0x1E87),
    (0x1E8C, 0x1E97),
    (0x1E9E, 0x1E9E),
    (0x1EA0, 0x1EF9),
    (0x2019, 0x2019),
    (0x2021, 0x2021),
    (0x20AC, 0x20AC),
];

/// Whether one character is a single-code-point character of datatype C.
pub fn is_datatype_c(ch: char) -> bool {
    let c = ch as u32;
    DATATYPE_C_RANGES
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The first character outside datatype C: (character offset, character).
pub fn first_outside(s: &str) -> Option<(usize, char)> {
    s.chars().enumerate().find(|&(_, ch)| !is_datatype_c(ch))
}

/// `Ok` if `value` is datatype C; otherwise a message naming the character,
/// its code point and its offset (counted in characters from 0).
pub fn check(value: &str) -> Result<(), String> {
    match first_outside(value) {
        None => Ok(()),
        Some((offset, ch)) => Err(format!(
            "{value:?} has {ch:?} (U+{:04X}) at character offset {offset}, which DIN 91379 \
             datatype C does not allow; register the Latin form of the name (as in the \
             passport's machine-readable zone) to export this certificate",
            ch as u32
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_names_with_diacritics_pass_and_other_scripts_fail_at_their_offset() {
        let cases: [(&str, Option<(usize, char)>); 7] = [
            ("Amélie Duval", None),
            ("Łukasz Żółć-Ærøskøbing", None),
            ("Straße ẞ Nguyễn", None),
            ("O’Brien", None),
            ("Мария", Some((0, 'М'))),
            ("Anna Σοφία", Some((5, 'Σ'))),
            ("A\u{0301}", Some((1, '\u{0301}'))),
        ];
        for (s, want) in cases {
            assert_eq!(first_outside(s), want, "{s}");
            assert_eq!(check(s).is_ok(), want.is_none(), "{s}");
        }
        let e = check("Иван").expect_err("Cyrillic is refused");
        assert!(e.contains("U+0418") && e.contains("offset 0"), "{e}");
    }
}
