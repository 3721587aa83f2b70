//! Certificate codes and access keys.
//!
//! This module owns the 12-character certificate [`Code`], the 6-character
//! [`AccessKey`] with its check character, their printed forms, the lenient
//! parser for what people type or scan, and the constant-time comparison of
//! keys ([`AccessKey::ct_eq`], [`key_commitment`], [`verify_key`]).
//!
//! It must not touch the ledger, the disk, the network or the clock; its only
//! I/O is the OS CSPRNG in [`Code::generate`] and [`AccessKey::generate`].
//! It cannot know whether a code exists: a parse error only ever means "this
//! is not well formed" or "the check character does not match (typo)";
//! "unknown" is decided later by a ledger lookup, and uniqueness of a new code
//! is checked at registration.
//!
//! The alphabet, the check-character algorithm and the commitment are
//! specified in `docs/codes.md` (copied into `ledger/FORMAT.md`).

use std::fmt;
use std::str::FromStr;

use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// Crockford base32: digit value = index. No I, L, O, U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a certificate code.
pub const CODE_LEN_CHARS: usize = 12;
/// Random bits in a certificate code (5 per character).
pub const CODE_RANDOM_BITS: u32 = 60;
/// Characters in an access key, check character included.
pub const KEY_LEN_CHARS: usize = 6;
/// Random characters in an access key (the sixth is the check character).
pub const KEY_RANDOM_CHARS: usize = 5;
/// Random bits in an access key.
pub const KEY_RANDOM_BITS: u32 = 25;
/// Characters the check character is computed over: code, then the key's
/// random characters.
pub const CHECKED_LEN_CHARS: usize = CODE_LEN_CHARS + KEY_RANDOM_CHARS;
/// Characters of a code followed by its access key (the URL form without the
/// hyphen).
pub const CODE_AND_KEY_LEN_CHARS: usize = CODE_LEN_CHARS + KEY_LEN_CHARS;
/// Characters per group in the printed code `QNVC-FM3P-4VDF`.
pub const CODE_GROUP_LEN_CHARS: usize = 4;

/// BLAKE3 `derive_key` context of [`key_commitment`].
pub const KEY_COMMITMENT_CONTEXT: &str = "zeugnis access key commitment v1";

/// Reduction constant of GF(32) = GF(2)[x] / (x^5 + x^2 + 1), as bits.
const GF32_MODULUS: u8 = 0b10_0101;

/// What was being parsed when an error occurred; named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// A certificate code alone ([`Code::parse`]).
    Code,
    /// An access key alone ([`AccessKey::parse`]).
    AccessKey,
    /// A code optionally followed by its key ([`parse_code_and_key`]).
    CodeAndKey,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Code => "code",
            Part::AccessKey => "access key",
            Part::CodeAndKey => "code and access key",
        })
    }
}

/// Why a code or access key was rejected.
///
/// [`CodeError::CheckFailed`] means "well formed but probably mistyped"; every
/// other variant means "not a code/key at all". Neither says whether a code
/// exists: that is a ledger lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// A character outside the alphabet (after case folding and the O/I/L
    /// mapping), e.g. `U` or `*`.
    #[error(
        "{part}: character {character:?} at position {position} is not allowed \
         (use 0-9 and A-Z without U; spaces and hyphens are ignored)"
    )]
    InvalidCharacter {
        /// What was being parsed.
        part: Part,
        /// The offending character as typed.
        character: char,
        /// 1-based position in the input as typed, counting every character
        /// (spaces and hyphens included), so a person can find it.
        position: usize,
    },
    /// Too few or too many characters for a code or a key.
    #[error(
        "{part}: expected {expected} characters, found {found} (spaces and hyphens not counted)"
    )]
    WrongLength {
        /// What was being parsed.
        part: Part,
        /// Characters required.
        expected: usize,
        /// Characters found after dropping spaces and hyphens.
        found: usize,
    },
    /// [`parse_code_and_key`] got neither a code (12) nor a code and key (18).
    #[error(
        "{part}: expected 12 characters (code) or 18 (code and access key), \
         found {found} (spaces and hyphens not counted)"
    )]
    WrongCombinedLength {
        /// What was being parsed (always [`Part::CodeAndKey`]).
        part: Part,
        /// Characters found after dropping spaces and hyphens.
        found: usize,
    },
    /// The access key is well formed but its check character does not match
    /// the code and key: almost certainly a typo.
    #[error(
        "access key for code {code}: the check character does not match; \
         the code or the key was probably mistyped, please compare both with \
         the printed certificate"
    )]
    CheckFailed {
        /// The code the key was checked against (not secret; the key is
        /// deliberately not kept in the error, which may be logged).
        code: Code,
    },
}

impl CodeError {
    /// Every code error is bad input: exit code 2.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// A certificate code: 12 Crockford base32 characters, 60 random bits.
///
/// Holds the canonical upper-case ASCII characters; ordering is the numeric
/// order of the 60-bit value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code([u8; CODE_LEN_CHARS]);

impl Code {
    /// A fresh code with 60 bits from the OS CSPRNG.
    ///
    /// Uniqueness is not guaranteed here (collisions are ~n²/2⁶¹); the
    /// registry checks a new code against the ledger.
    ///
    /// # Panics
    /// If the operating system's random number generator fails, as
    /// [`OsRng`] does; there is no safe way to continue without it.
    pub fn generate() -> Code {
        Code::from_bits(OsRng.next_u64())
    }

    /// The code whose 60-bit value is the low 60 bits of `bits`, most
    /// significant character first.
    fn from_bits(bits: u64) -> Code {
        let mut chars = [0u8; CODE_LEN_CHARS];
        for (i, c) in chars.iter_mut().enumerate() {
            let shift = 5 * (CODE_LEN_CHARS - 1 - i);
            *c = ALPHABET[((bits >> shift) & 0x1F) as usize];
        }
        Code(chars)
    }

    /// Parses a code leniently: case-insensitive, spaces and hyphens ignored,
    /// `O` read as `0`, `I` and `L` as `1`.
    pub fn parse(input: &str) -> Result<Code, CodeError> {
        let n = Normalised::of(input, Part::Code)?;
        if n.len != CODE_LEN_CHARS {
            return Err(CodeError::WrongLength {
                part: Part::Code,
                expected: CODE_LEN_CHARS,
                found: n.len,
            });
        }
        Ok(n.code())
    }

    /// The 12 canonical characters without hyphens (`QNVCFM3P4VDF`), as used
    /// in URLs and file names.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("Code holds only ASCII alphabet characters")
    }

    /// The printed form in groups of four (`QNVC-FM3P-4VDF`); same as
    /// `Display`.
    pub fn formatted(&self) -> String {
        self.to_string()
    }

    /// Symbol values 0..32 of the 12 characters.
    fn values(&self) -> [u8; CODE_LEN_CHARS] {
        self.0.map(symbol_value_canonical)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self
            .as_str()
            .as_bytes()
            .chunks(CODE_GROUP_LEN_CHARS)
            .enumerate()
        {
            if i > 0 {
                f.write_str("-")?;
            }
            // The chunks are ASCII slices of an ASCII string.
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({})", self.as_str())
    }
}

impl FromStr for Code {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Code, CodeError> {
        Code::parse(s)
    }
}

/// An access key: 5 random Crockford base32 characters and 1 check character
/// over the code and those 5 (see `docs/codes.md`).
///
/// A secret: it has no `PartialEq` (use [`AccessKey::ct_eq`]) and its `Debug`
/// output is redacted. `Display` prints it (`7K2M9S`) for the holder.
#[derive(Clone, Copy)]
pub struct AccessKey([u8; KEY_LEN_CHARS]);

impl AccessKey {
    /// A fresh key for `code`: 25 bits from the OS CSPRNG plus the check
    /// character.
    ///
    /// # Panics
    /// If the operating system's random number generator fails, as
    /// [`OsRng`] does.
    pub fn generate(code: &Code) -> AccessKey {
        AccessKey::from_bits(code, OsRng.next_u32())
    }

    /// The key for `code` whose random part is taken from `seed`, a secret
    /// pseudo-random value (a keyed hash): the same seed gives the same key,
    /// so a retried registration gets back the key it was first given.
    pub fn derive(code: &Code, seed: &[u8; 32]) -> AccessKey {
        AccessKey::from_bits(
            code,
            u32::from_le_bytes([seed[0], seed[1], seed[2], seed[3]]),
        )
    }

    /// The key for `code` whose random part is the low 25 bits of `bits`.
    fn from_bits(code: &Code, bits: u32) -> AccessKey {
        let mut random = [0u8; KEY_RANDOM_CHARS];
        for (i, v) in random.iter_mut().enumerate() {
            let shift = 5 * (KEY_RANDOM_CHARS - 1 - i);
            *v = ((bits >> shift) & 0x1F) as u8;
        }
        AccessKey::with_check(code, random)
    }

    /// Appends the check character to the random symbol values.
    fn with_check(code: &Code, random: [u8; KEY_RANDOM_CHARS]) -> AccessKey {
        let mut checked = [0u8; CHECKED_LEN_CHARS];
        checked[..CODE_LEN_CHARS].copy_from_slice(&code.values());
        checked[CODE_LEN_CHARS..].copy_from_slice(&random);
        let check = check_value(&checked);
        let mut chars = [0u8; KEY_LEN_CHARS];
        for (c, v) in chars.iter_mut().zip(random.iter().chain([&check])) {
            *c = ALPHABET[usize::from(*v)];
        }
        AccessKey(chars)
    }

    /// Parses the access key of `code` leniently (as [`Code::parse`]) and
    /// checks its check character.
    ///
    /// [`CodeError::CheckFailed`] means the key (or the code) was probably
    /// mistyped; it does not say whether this is the right key, which only a
    /// comparison with the registered commitment ([`verify_key`]) can.
    pub fn parse(code: &Code, input: &str) -> Result<AccessKey, CodeError> {
        let n = Normalised::of(input, Part::AccessKey)?;
        if n.len != KEY_LEN_CHARS {
            return Err(CodeError::WrongLength {
                part: Part::AccessKey,
                expected: KEY_LEN_CHARS,
                found: n.len,
            });
        }
        key_checked(code, &n.values[..KEY_LEN_CHARS])
    }

    /// The 6 canonical characters (`7K2M9S`).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("AccessKey holds only ASCII alphabet characters")
    }

    /// Whether two keys are equal, in time independent of where they differ.
    pub fn ct_eq(&self, other: &AccessKey) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}

impl fmt::Display for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(<redacted>)")
    }
}

/// Parses a code optionally followed by its access key, as typed or taken
/// from a URL: `QNVCFM3P4VDF-7K2M9S`, `qnvc fm3p 4vdf 7k2m 9s`, ...
///
/// After dropping spaces and hyphens, 12 characters are a code alone and 18
/// are a code followed by its key (whose check character must match);
/// anything else is [`CodeError::WrongCombinedLength`].
pub fn parse_code_and_key(input: &str) -> Result<(Code, Option<AccessKey>), CodeError> {
    let n = Normalised::of(input, Part::CodeAndKey)?;
    match n.len {
        CODE_LEN_CHARS => Ok((n.code(), None)),
        CODE_AND_KEY_LEN_CHARS => {
            let code = n.code();
            let key = key_checked(&code, &n.values[CODE_LEN_CHARS..CODE_AND_KEY_LEN_CHARS])?;
            Ok((code, Some(key)))
        }
        found => Err(CodeError::WrongCombinedLength {
            part: Part::CodeAndKey,
            found,
        }),
    }
}

/// The commitment to `code`'s access key stored in the ledger: BLAKE3
/// `derive_key` with context [`KEY_COMMITMENT_CONTEXT`] over
/// `salt || code (12 ASCII bytes) || key (6 ASCII bytes)`.
pub fn key_commitment(code: &Code, key: &AccessKey, salt: &[u8; 32]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(KEY_COMMITMENT_CONTEXT);
    hasher.update(salt);
    hasher.update(&code.0);
    hasher.update(&key.0);
    hasher.finalize().into()
}

/// Whether `key` is the access key committed to by `commitment`; the
/// comparison takes the same time wherever the commitments differ.
pub fn verify_key(code: &Code, key: &AccessKey, salt: &[u8; 32], commitment: &[u8; 32]) -> bool {
    key_commitment(code, key, salt).ct_eq(commitment).into()
}

/// Builds a key from 6 parsed symbol values, checking the check character.
fn key_checked(code: &Code, key_values: &[u8]) -> Result<AccessKey, CodeError> {
    let mut random = [0u8; KEY_RANDOM_CHARS];
    random.copy_from_slice(&key_values[..KEY_RANDOM_CHARS]);
    let key = AccessKey::with_check(code, random);
    if symbol_value_canonical(key.0[KEY_RANDOM_CHARS]) != key_values[KEY_RANDOM_CHARS] {
        return Err(CodeError::CheckFailed { code: *code });
    }
    Ok(key)
}

/// Input after case folding, the O/I/L mapping and dropping spaces and
/// hyphens.
struct Normalised {
    /// Symbol values of the first [`CODE_AND_KEY_LEN_CHARS`] characters.
    values: [u8; CODE_AND_KEY_LEN_CHARS],
    /// Number of characters, including any beyond `values` (so a length
    /// error can say how many there were without allocating).
    len: usize,
}

impl Normalised {
    fn of(input: &str, part: Part) -> Result<Normalised, CodeError> {
        let mut values = [0u8; CODE_AND_KEY_LEN_CHARS];
        let mut len = 0;
        for (i, character) in input.chars().enumerate() {
            if matches!(character, ' ' | '-') {
                continue;
            }
            let value = symbol_value_lenient(character).ok_or(CodeError::InvalidCharacter {
                part,
                character,
                position: i + 1,
            })?;
            if let Some(slot) = values.get_mut(len) {
                *slot = value;
            }
            len += 1;
        }
        Ok(Normalised { values, len })
    }

    /// The code in the first 12 values; the caller has checked the length.
    fn code(&self) -> Code {
        let mut chars = [0u8; CODE_LEN_CHARS];
        for (c, v) in chars.iter_mut().zip(&self.values) {
            *c = ALPHABET[usize::from(*v)];
        }
        Code(chars)
    }
}

/// The value of a typed character: case-insensitive, `O`→0, `I`/`L`→1;
/// `None` for `U` and anything outside the alphabet.
fn symbol_value_lenient(character: char) -> Option<u8> {
    let upper = match character.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    if !upper.is_ascii() {
        return None;
    }
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == upper)
        .and_then(|p| u8::try_from(p).ok())
}

/// The value of a canonical alphabet byte held by [`Code`] or [`AccessKey`].
fn symbol_value_canonical(byte: u8) -> u8 {
    match ALPHABET.iter().position(|&a| a == byte) {
        Some(p) => p as u8,
        None => unreachable!("codes and keys hold only alphabet characters"),
    }
}

/// Multiplication by x in GF(32) = GF(2)[x] / (x^5 + x^2 + 1).
fn gf32_times_x(a: u8) -> u8 {
    let shifted = a << 1;
    if shifted & 0x20 != 0 {
        shifted ^ GF32_MODULUS
    } else {
        shifted
    }
}

/// Horner evaluation over GF(32): `acc = acc·x + v` for each value.
fn gf32_horner(values: &[u8]) -> u8 {
    values.iter().fold(0, |acc, &v| gf32_times_x(acc) ^ v)
}

/// The check value for the 17 checked symbol values: the value `c` that makes
/// the Horner evaluation of all 18 values zero, i.e. `c = horner(17)·x`.
fn check_value(checked: &[u8; CHECKED_LEN_CHARS]) -> u8 {
    gf32_times_x(gf32_horner(checked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashSet;

    /// Symbol values of the 18 characters of code followed by key.
    fn values_of(code: &Code, key: &AccessKey) -> [u8; CODE_AND_KEY_LEN_CHARS] {
        let mut v = [0u8; CODE_AND_KEY_LEN_CHARS];
        for (slot, b) in v.iter_mut().zip(code.0.iter().chain(key.0.iter())) {
            *slot = symbol_value_canonical(*b);
        }
        v
    }

    /// Whether 18 symbol values pass the check (Horner sum is zero).
    fn passes(values: &[u8; CODE_AND_KEY_LEN_CHARS]) -> bool {
        gf32_horner(values) == 0
    }

    fn code(s: &str) -> Code {
        Code::parse(s).expect("test code is well formed")
    }

    #[test]
    fn alphabet_is_crockford_without_i_l_o_u() {
        let expected: Vec<u8> = (b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .filter(|c| !b"ILOU".contains(c))
            .collect();
        assert_eq!(ALPHABET.as_slice(), expected.as_slice());
        assert_eq!(CODE_RANDOM_BITS, 5 * CODE_LEN_CHARS as u32);
        assert_eq!(KEY_RANDOM_BITS, 5 * KEY_RANDOM_CHARS as u32);
    }

    /// x^5 + x^2 + 1 is primitive: x has order 31, so the 18 weights
    /// x^17 .. x^0 are distinct and non-zero (the detection proof needs it).
    #[test]
    fn gf32_x_has_order_31() {
        let mut seen = HashSet::new();
        let mut p = 1u8;
        for _ in 0..31 {
            assert!(p != 0 && p < 32);
            assert!(seen.insert(p), "x^i repeats early");
            p = gf32_times_x(p);
        }
        assert_eq!(p, 1);
    }

    /// The worked examples of `docs/codes.md`.
    #[test]
    fn worked_examples_match_docs() {
        let cases = [
            ("000000000000", "00001", "000012"),
            ("QNVCFM3P4VDF", "7K2M9", "7K2M9S"),
            ("0123456789AB", "CDEFG", "CDEFGC"),
        ];
        for (code_text, random, key_text) in cases {
            let c = code(code_text);
            let mut r = [0u8; KEY_RANDOM_CHARS];
            for (slot, ch) in r.iter_mut().zip(random.chars()) {
                *slot = symbol_value_lenient(ch).expect("alphabet character");
            }
            let key = AccessKey::with_check(&c, r);
            assert_eq!(key.as_str(), key_text, "code {code_text}");
            assert!(AccessKey::parse(&c, key_text).is_ok());
        }
    }

    #[test]
    fn formatting() {
        let cases = [
            ("QNVCFM3P4VDF", "QNVCFM3P4VDF", "QNVC-FM3P-4VDF"),
            ("000000000000", "000000000000", "0000-0000-0000"),
            ("ZZZZZZZZZZZZ", "ZZZZZZZZZZZZ", "ZZZZ-ZZZZ-ZZZZ"),
        ];
        for (input, plain, printed) in cases {
            let c = code(input);
            assert_eq!(c.as_str(), plain);
            assert_eq!(c.formatted(), printed);
            assert_eq!(c.to_string(), printed);
            assert_eq!(format!("{c:?}"), format!("Code({plain})"));
        }
        let key = AccessKey::parse(&code("QNVCFM3P4VDF"), "7K2M9S").expect("valid key");
        assert_eq!(key.to_string(), "7K2M9S");
        assert_eq!(format!("{key:?}"), "AccessKey(<redacted>)");
        assert_eq!(Code::from_bits(0).as_str(), "000000000000");
        assert_eq!(Code::from_bits(u64::MAX).as_str(), "ZZZZZZZZZZZZ");
        assert_eq!(Code::from_bits(1 << 59).as_str(), "G00000000000");
    }

    #[test]
    fn code_parsing() {
        use CodeError::*;
        let ok =
            |s: &str| -> Result<Code, CodeError> { Ok(Code(s.as_bytes().try_into().expect("12"))) };
        let thousand_zeros = "0".repeat(1000);
        let cases: Vec<(&str, Result<Code, CodeError>)> = vec![
            ("QNVCFM3P4VDF", ok("QNVCFM3P4VDF")),
            ("qnvcfm3p4vdf", ok("QNVCFM3P4VDF")),
            ("QNVC-FM3P-4VDF", ok("QNVCFM3P4VDF")),
            (" qnvc fm3p 4vdf ", ok("QNVCFM3P4VDF")),
            ("Q-N-V-C--FM3P  4VDF", ok("QNVCFM3P4VDF")),
            ("OOOO-oooo-0000", ok("000000000000")),
            ("IiLl-1111-ilIL", ok("111111111111")),
            ("ABCD-EFGH-JKMN", ok("ABCDEFGHJKMN")),
            ("PQRS-TVWX-YZ00", ok("PQRSTVWXYZ00")),
            (
                "QNVC-FM3P-4UDF",
                Err(InvalidCharacter {
                    part: Part::Code,
                    character: 'U',
                    position: 12,
                }),
            ),
            (
                "qnvc-fm3p-4udf",
                Err(InvalidCharacter {
                    part: Part::Code,
                    character: 'u',
                    position: 12,
                }),
            ),
            (
                "QNVC_FM3P_4VDF",
                Err(InvalidCharacter {
                    part: Part::Code,
                    character: '_',
                    position: 5,
                }),
            ),
            (
                "QNVC.FM3P",
                Err(InvalidCharacter {
                    part: Part::Code,
                    character: '.',
                    position: 5,
                }),
            ),
            (
                "ÄNVCFM3P4VDF",
                Err(InvalidCharacter {
                    part: Part::Code,
                    character: 'Ä',
                    position: 1,
                }),
            ),
            (
                "QNVC\tFM3P4VDF",
                Err(InvalidCharacter {
                    part: Part::Code,
                    character: '\t',
                    position: 5,
                }),
            ),
            (
                "",
                Err(WrongLength {
                    part: Part::Code,
                    expected: 12,
                    found: 0,
                }),
            ),
            (
                " - ",
                Err(WrongLength {
                    part: Part::Code,
                    expected: 12,
                    found: 0,
                }),
            ),
            (
                "QNVC-FM3P-4VD",
                Err(WrongLength {
                    part: Part::Code,
                    expected: 12,
                    found: 11,
                }),
            ),
            (
                "QNVC-FM3P-4VDF-0",
                Err(WrongLength {
                    part: Part::Code,
                    expected: 12,
                    found: 13,
                }),
            ),
            (
                "QNVCFM3P4VDF7K2M9S",
                Err(WrongLength {
                    part: Part::Code,
                    expected: 12,
                    found: 18,
                }),
            ),
            (
                &thousand_zeros,
                Err(WrongLength {
                    part: Part::Code,
                    expected: 12,
                    found: 1000,
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(Code::parse(input), expected, "input {input:?}");
            assert_eq!(input.parse::<Code>(), expected, "FromStr {input:?}");
        }
    }

    /// Keys compared as strings (AccessKey has no PartialEq on purpose).
    fn key_result(r: Result<AccessKey, CodeError>) -> Result<String, CodeError> {
        r.map(|k| k.to_string())
    }

    #[test]
    fn key_parsing() {
        use CodeError::*;
        let c = code("QNVCFM3P4VDF");
        let ok = |s: &str| -> Result<String, CodeError> { Ok(s.to_string()) };
        let cases = [
            ("7K2M9S", ok("7K2M9S")),
            ("7k2m9s", ok("7K2M9S")),
            (" 7K2-M9S ", ok("7K2M9S")),
            ("7K2M9T", Err(CheckFailed { code: c })),
            ("7K2N9S", Err(CheckFailed { code: c })),
            ("K72M9S", Err(CheckFailed { code: c })),
            (
                "7K2M9U",
                Err(InvalidCharacter {
                    part: Part::AccessKey,
                    character: 'U',
                    position: 6,
                }),
            ),
            (
                "7K2M9",
                Err(WrongLength {
                    part: Part::AccessKey,
                    expected: 6,
                    found: 5,
                }),
            ),
            (
                "7K2M9SS",
                Err(WrongLength {
                    part: Part::AccessKey,
                    expected: 6,
                    found: 7,
                }),
            ),
            (
                "",
                Err(WrongLength {
                    part: Part::AccessKey,
                    expected: 6,
                    found: 0,
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                key_result(AccessKey::parse(&c, input)),
                expected,
                "input {input:?}"
            );
        }
        // O/I/L mapping in keys: the key of the zero code with random part 00001.
        let zero = code("000000000000");
        assert_eq!(key_result(AccessKey::parse(&zero, "oOoOi2")), ok("000012"));
        assert_eq!(key_result(AccessKey::parse(&zero, "0000L2")), ok("000012"));
        // The same key against another code fails the check.
        assert_eq!(
            key_result(AccessKey::parse(&zero, "7K2M9S")),
            Err(CheckFailed { code: zero })
        );
    }

    /// A parsed code and key with the key shown as text.
    type CodeAndKeyResult = Result<(Code, Option<String>), CodeError>;

    #[test]
    fn code_and_key_parsing() {
        use CodeError::*;
        let c = code("QNVCFM3P4VDF");
        let cases: Vec<(&str, CodeAndKeyResult)> = vec![
            ("QNVCFM3P4VDF", Ok((c, None))),
            ("qnvc-fm3p-4vdf", Ok((c, None))),
            ("QNVCFM3P4VDF-7K2M9S", Ok((c, Some("7K2M9S".into())))),
            ("QNVC-FM3P-4VDF-7K2M-9S", Ok((c, Some("7K2M9S".into())))),
            ("qnvc fm3p 4vdf 7k2m9s", Ok((c, Some("7K2M9S".into())))),
            ("QNVCFM3P4VDF7K2M9S", Ok((c, Some("7K2M9S".into())))),
            ("QNVCFM3P4VDF-7K2M9T", Err(CheckFailed { code: c })),
            (
                "QNVCFM3P4VFD-7K2M9S",
                Err(CheckFailed {
                    code: code("QNVCFM3P4VFD"),
                }),
            ),
            (
                "QNVCFM3P4VDF-7K2M9",
                Err(WrongCombinedLength {
                    part: Part::CodeAndKey,
                    found: 17,
                }),
            ),
            (
                "QNVCFM3P4VD",
                Err(WrongCombinedLength {
                    part: Part::CodeAndKey,
                    found: 11,
                }),
            ),
            (
                "QNVCFM3P4VDF-7K2M9SX",
                Err(WrongCombinedLength {
                    part: Part::CodeAndKey,
                    found: 19,
                }),
            ),
            (
                "",
                Err(WrongCombinedLength {
                    part: Part::CodeAndKey,
                    found: 0,
                }),
            ),
            (
                "QNVCFM3P4VDF/7K2M9S",
                Err(InvalidCharacter {
                    part: Part::CodeAndKey,
                    character: '/',
                    position: 13,
                }),
            ),
            (
                "QNVCFM3P4VDF-7K2MUS",
                Err(InvalidCharacter {
                    part: Part::CodeAndKey,
                    character: 'U',
                    position: 18,
                }),
            ),
        ];
        for (input, expected) in cases {
            let got = parse_code_and_key(input).map(|(c, k)| (c, k.map(|k| k.to_string())));
            assert_eq!(got, expected, "input {input:?}");
        }
    }

    #[test]
    fn error_messages_name_what_to_do() {
        let c = code("QNVCFM3P4VDF");
        let cases = [
            (
                CodeError::CheckFailed { code: c },
                "access key for code QNVC-FM3P-4VDF: the check character does not match; \
                 the code or the key was probably mistyped, please compare both with the \
                 printed certificate",
            ),
            (
                CodeError::InvalidCharacter {
                    part: Part::Code,
                    character: 'U',
                    position: 12,
                },
                "code: character 'U' at position 12 is not allowed (use 0-9 and A-Z without U; \
                 spaces and hyphens are ignored)",
            ),
            (
                CodeError::WrongLength {
                    part: Part::AccessKey,
                    expected: 6,
                    found: 5,
                },
                "access key: expected 6 characters, found 5 (spaces and hyphens not counted)",
            ),
            (
                CodeError::WrongCombinedLength {
                    part: Part::CodeAndKey,
                    found: 17,
                },
                "code and access key: expected 12 characters (code) or 18 (code and access key), \
                 found 17 (spaces and hyphens not counted)",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.exit_code(), 2);
        }
    }

    /// Issue 4: uniqueness under 100,000 generated codes, and 100,000 keys for
    /// one code all parse back with a matching check character.
    #[test]
    fn uniqueness_under_100000_generated_codes() {
        const GENERATED_COUNT: usize = 100_000;
        let codes: HashSet<Code> = (0..GENERATED_COUNT).map(|_| Code::generate()).collect();
        assert_eq!(codes.len(), GENERATED_COUNT);
        for c in codes.iter().take(1_000) {
            assert_eq!(Code::parse(c.as_str()), Ok(*c));
            assert_eq!(Code::parse(&c.formatted()), Ok(*c));
        }
        let c = Code::generate();
        for _ in 0..GENERATED_COUNT {
            let key = AccessKey::generate(&c);
            let parsed =
                AccessKey::parse(&c, key.as_str()).expect("generated key passes its check");
            assert!(parsed.ct_eq(&key));
            let url = format!("{}-{}", c.as_str(), key);
            let (pc, pk) = parse_code_and_key(&url).expect("URL form parses");
            assert_eq!(pc, c);
            assert!(pk.is_some_and(|k| k.ct_eq(&key)));
        }
    }

    /// Every single substitution (18 positions x 31 other symbols) and every
    /// adjacent transposition of two different symbols in 10,000 random
    /// code+key strings fails the check; there are no exceptions.
    #[test]
    fn check_detects_substitutions_and_adjacent_transpositions_in_10000_strings() {
        let mut rng = StdRng::seed_from_u64(0x5a65_7567_6e69_7304);
        let mut transpositions = 0usize;
        for _ in 0..10_000 {
            let c = Code::from_bits(rng.gen());
            let key = AccessKey::from_bits(&c, rng.gen());
            let v = values_of(&c, &key);
            assert!(passes(&v));
            for i in 0..CODE_AND_KEY_LEN_CHARS {
                for s in 0..32u8 {
                    if s != v[i] {
                        let mut w = v;
                        w[i] = s;
                        assert!(!passes(&w), "substitution at {i} undetected");
                    }
                }
            }
            for i in 0..CODE_AND_KEY_LEN_CHARS - 1 {
                if v[i] != v[i + 1] {
                    let mut w = v;
                    w.swap(i, i + 1);
                    assert!(!passes(&w), "transposition at {i} undetected");
                    transpositions += 1;
                }
            }
        }
        // 17 adjacent pairs, each different with probability 31/32.
        assert!(transpositions > 160_000);
    }

    /// The check is linear, so a change is detected iff its own syndrome is
    /// non-zero, whatever the other symbols are. This tries every error
    /// pattern of the two classes exhaustively, plus swaps at any distance.
    #[test]
    fn check_detects_every_substitution_and_any_transposition_exhaustively() {
        let zero = [0u8; CODE_AND_KEY_LEN_CHARS];
        for i in 0..CODE_AND_KEY_LEN_CHARS {
            for e in 1..32u8 {
                let mut w = zero;
                w[i] = e;
                assert!(!passes(&w), "error {e} at {i}");
            }
        }
        for i in 0..CODE_AND_KEY_LEN_CHARS {
            for j in i + 1..CODE_AND_KEY_LEN_CHARS {
                for a in 0..32u8 {
                    for b in 0..32u8 {
                        // Swapping a (at i) and b (at j) adds (a^b) at both.
                        let mut w = zero;
                        w[i] = a ^ b;
                        w[j] = a ^ b;
                        assert_eq!(passes(&w), a == b, "swap {a},{b} at {i},{j}");
                    }
                }
            }
        }
    }

    /// Issue 4: constant-time comparison used for keys. `ct_eq` and
    /// `verify_key` (subtle's `ConstantTimeEq`) accept the right key and
    /// reject a key differing in any single position.
    #[test]
    fn constant_time_comparison_used_for_keys() {
        let c = code("QNVCFM3P4VDF");
        let key = AccessKey::parse(&c, "7K2M9S").expect("valid key");
        let salt = [7u8; 32];
        let commitment = key_commitment(&c, &key, &salt);
        assert!(key.ct_eq(&key));
        assert!(verify_key(&c, &key, &salt, &commitment));
        for i in 0..KEY_LEN_CHARS {
            for &s in ALPHABET.iter() {
                if s == key.0[i] {
                    continue;
                }
                let mut other = key;
                other.0[i] = s;
                assert!(!key.ct_eq(&other), "ct_eq position {i}");
                assert!(
                    !verify_key(&c, &other, &salt, &commitment),
                    "verify_key position {i}"
                );
            }
        }
        // Every position of the commitment matters too.
        for i in 0..32 {
            let mut wrong = commitment;
            wrong[i] ^= 1;
            assert!(!verify_key(&c, &key, &salt, &wrong), "commitment byte {i}");
        }
        // Salt and code are bound in.
        assert!(!verify_key(&c, &key, &[8u8; 32], &commitment));
        assert!(!verify_key(&code("QNVCFM3P4VDG"), &key, &salt, &commitment));
    }

    /// The commitment is BLAKE3 derive_key over salt || code || key, as
    /// documented; pinned so a change shows up as a diff.
    #[test]
    fn key_commitment_is_derive_key_over_salt_code_key() {
        let c = code("QNVCFM3P4VDF");
        let key = AccessKey::parse(&c, "7K2M9S").expect("valid key");
        let salt = [0u8; 32];
        let mut material = Vec::new();
        material.extend_from_slice(&salt);
        material.extend_from_slice(b"QNVCFM3P4VDF7K2M9S");
        assert_eq!(
            key_commitment(&c, &key, &salt),
            blake3::derive_key(KEY_COMMITMENT_CONTEXT, &material)
        );
    }
}
