//! Finding the certificate code of a scan: in the cover sheet's barcode
//! text (authenticated by its tag), and where the operator allows it in a
//! sidecar file with the same stem or in the file name.
//!
//! Owns: reading codes out of names, sidecar contents and barcode texts,
//! and the record of what was tried (it goes into quarantine reasons).
//! Must not do: decode images (that is `barcode`), move files, look codes up.

use crate::codes::{self, Code, CodeError};
use crate::coversheet::CoverSheetKey;

/// Sidecar extensions, in the order they are looked for.
pub const SIDECAR_EXTENSIONS: [&str; 2] = ["json", "txt"];
/// Largest sidecar file read, in bytes.
pub const SIDECAR_BYTES_MAX: u64 = 4096;

/// What one source said about the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Candidate codes, distinct, in the order found (codes carry no check
    /// character of their own, so a 12-letter word is a candidate too; the
    /// pipeline prefers the registered one).
    Codes(Vec<Code>),
    /// Nothing code-like.
    Nothing,
    /// A code followed by an access key whose check character does not
    /// match (probably a typo), with the text.
    Typo(String),
    /// The source could not be read (names why).
    Unreadable(String),
    /// Barcodes that name codes without a valid cover-sheet tag: not
    /// accepted (anyone can print a QR code with a code in it).
    Unauthenticated(Vec<Code>),
}

impl Found {
    /// A one-line description for the `tried` list of a reason file.
    pub fn describe(&self, source: &str) -> String {
        match self {
            Found::Codes(v) => format!(
                "{source}: {} {}",
                if v.len() == 1 { "code" } else { "candidate codes" },
                v.iter().map(Code::formatted).collect::<Vec<_>>().join(", ")
            ),
            Found::Nothing => format!("{source}: no code"),
            Found::Typo(t) => format!(
                "{source}: {t:?} looks like a code and access key but the check character does not match (a typo?)"
            ),
            Found::Unreadable(r) => format!("{source}: {r}"),
            Found::Unauthenticated(v) => format!(
                "{source}: {} without a valid cover-sheet tag (not accepted)",
                v.iter().map(Code::formatted).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// Collects the results of several candidate texts.
fn combine(candidates: impl IntoIterator<Item = Result<Code, (String, CodeError)>>) -> Found {
    let mut valid: Vec<Code> = Vec::new();
    let mut typo = None;
    for c in candidates {
        match c {
            Ok(code) => {
                if !valid.iter().any(|v| v.as_str() == code.as_str()) {
                    valid.push(code);
                }
            }
            Err((text, CodeError::CheckFailed { .. })) => {
                typo.get_or_insert(text);
            }
            Err(_) => {}
        }
    }
    match (valid.is_empty(), typo) {
        (false, _) => Found::Codes(valid),
        (true, Some(t)) => Found::Typo(t),
        (true, None) => Found::Nothing,
    }
}

/// Parses one candidate text (a code, possibly with its access key).
fn candidate(text: &str) -> Result<Code, (String, CodeError)> {
    codes::parse_code_and_key(text)
        .map(|(c, _)| c)
        .map_err(|e| (text.to_string(), e))
}

/// The code in a file name: every run of letters, digits and hyphens in
/// the stem that is 12 symbols long without hyphens (optionally followed by
/// the 6-symbol access key) is a candidate (`QNVCFM3P4VDF.pdf`,
/// `scan_QNVC-FM3P-4VDF_001.tif`).
pub fn from_name(name: &str) -> Found {
    let stem = match name.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => name,
    };
    combine(
        stem.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|t| {
                let n = t.chars().filter(|&c| c != '-').count();
                n == 12 || n == 18
            })
            .map(candidate),
    )
}

/// The code in a sidecar: `.json` with a `code` field, or `.txt` whose first
/// non-empty line is the code.
pub fn from_sidecar(name: &str, bytes: &[u8]) -> Found {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => return Found::Unreadable(format!("{name} is not UTF-8")),
    };
    let is_json = name
        .rsplit_once('.')
        .is_some_and(|(_, e)| e.eq_ignore_ascii_case("json"));
    let code_text = if is_json {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => match v.get("code").and_then(|c| c.as_str()) {
                Some(c) => c.to_string(),
                None => return Found::Unreadable(format!("{name}: no string field \"code\"")),
            },
            Err(e) => return Found::Unreadable(format!("{name}: {e}")),
        }
    } else {
        match text.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(l) => l.to_string(),
            None => return Found::Nothing,
        }
    };
    combine([candidate(code_text.trim())])
}

/// The code in barcode texts: the text itself, or the last path segment of
/// a URL (`https://…/de/QNVC-FM3P-4VDF`).
pub fn from_barcodes(texts: &[String]) -> Found {
    combine(texts.iter().map(|t| {
        let t = t.trim();
        let last = t.trim_end_matches('/').rsplit('/').next().unwrap_or(t);
        candidate(last)
    }))
}

/// The code in cover-sheet barcode texts: only `CODE:TAG` with the tag
/// that `key` makes for the code is accepted; any other code-like text
/// (a bare code, a verification URL, a wrong tag) is reported as
/// [`Found::Unauthenticated`].
pub fn from_cover_sheet(texts: &[String], key: &CoverSheetKey) -> Found {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for t in texts {
        let t = t.trim();
        if let Some((code_text, tag)) = t.split_once(':') {
            if let Ok(code) = Code::parse(code_text) {
                if key.verify(code.as_str(), tag) {
                    good.push(Ok(code));
                    continue;
                }
            }
        }
        if let Found::Codes(v) = from_barcodes(std::slice::from_ref(&t.to_string())) {
            bad.extend(v);
        } else if let Some((code_text, _)) = t.split_once(':') {
            if let Ok(code) = Code::parse(code_text) {
                bad.push(code);
            }
        }
    }
    match combine(good) {
        Found::Nothing if !bad.is_empty() => {
            bad.dedup_by(|a, b| a.as_str() == b.as_str());
            Found::Unauthenticated(bad)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }

    #[test]
    fn codes_are_read_from_names_in_the_documented_shapes() {
        let want = code("QNVCFM3P4VDF");
        for name in [
            "QNVCFM3P4VDF.pdf",
            "scan_QNVC-FM3P-4VDF_001.tif",
            "qnvc-fm3p-4vdf.PNG",
            "QNVC FM3P 4VDF.jpg",
            "2026-11-23_QNVCFM3P4VDF.pdf",
        ] {
            let f = if name.contains(' ') {
                // Spaces split the code: not found from the name.
                assert_eq!(from_name(name), Found::Nothing, "{name}");
                continue;
            } else {
                from_name(name)
            };
            assert_eq!(f, Found::Codes(vec![want]), "{name}");
        }
        assert_eq!(from_name("scan_001.pdf"), Found::Nothing);
        assert_eq!(from_name("QNVCFM3P4VDF"), Found::Codes(vec![want]));
    }

    #[test]
    fn a_key_typo_in_the_name_is_told_apart() {
        let c = code("QNVCFM3P4VDF");
        let key = crate::codes::AccessKey::generate(&c);
        let good = format!("QNVCFM3P4VDF-{}.pdf", key.as_str());
        assert_eq!(from_name(&good), Found::Codes(vec![c]));
        // Change the key's last (check) character.
        let mut bad = key.as_str().to_string();
        let last = bad.pop().unwrap();
        bad.push(if last == '0' { '1' } else { '0' });
        match from_name(&format!("QNVCFM3P4VDF-{bad}.pdf")) {
            Found::Typo(t) => assert!(t.ends_with(&bad), "{t}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn several_candidates_are_all_returned_once() {
        let other = Code::generate();
        let name = format!("QNVCFM3P4VDF_{}.pdf", other.as_str());
        assert!(matches!(from_name(&name), Found::Codes(v) if v.len() == 2));
        // The same code twice is one candidate.
        assert!(matches!(
            from_name("QNVCFM3P4VDF_QNVC-FM3P-4VDF.pdf"),
            Found::Codes(v) if v.len() == 1
        ));
    }

    #[test]
    fn sidecars_in_json_and_text() {
        let want = Found::Codes(vec![code("QNVCFM3P4VDF")]);
        assert_eq!(
            from_sidecar("a.json", br#"{"code": "qnvc-fm3p-4vdf"}"#),
            want
        );
        assert_eq!(from_sidecar("a.txt", b"\n  QNVCFM3P4VDF \n"), want);
        assert!(matches!(
            from_sidecar("a.json", br#"{"kode": "x"}"#),
            Found::Unreadable(r) if r.contains("\"code\"")
        ));
        assert!(matches!(from_sidecar("a.json", b"{"), Found::Unreadable(_)));
        assert_eq!(from_sidecar("a.txt", b""), Found::Nothing);
        assert!(matches!(
            from_sidecar("a.txt", b"\xff"),
            Found::Unreadable(_)
        ));
    }

    #[test]
    fn barcode_texts_may_be_urls() {
        let want = Found::Codes(vec![code("QNVCFM3P4VDF")]);
        assert_eq!(from_barcodes(&["QNVCFM3P4VDF".into()]), want);
        assert_eq!(
            from_barcodes(&["https://z.example/de/QNVC-FM3P-4VDF/".into()]),
            want
        );
        assert_eq!(from_barcodes(&["hello".into()]), Found::Nothing);
        assert_eq!(from_barcodes(&[]), Found::Nothing);
    }

    #[test]
    fn only_a_cover_sheet_with_the_archive_s_tag_is_accepted() {
        let key = CoverSheetKey::from_bytes([7; 32]);
        let other = CoverSheetKey::from_bytes([8; 32]);
        let c = code("QNVCFM3P4VDF");
        let good = crate::coversheet::qr_payload(c.as_str(), &key.tag(c.as_str()));
        assert_eq!(
            from_cover_sheet(std::slice::from_ref(&good), &key),
            Found::Codes(vec![c])
        );
        // Lower-case tag: the same tag.
        assert_eq!(
            from_cover_sheet(&[good.to_ascii_lowercase()], &key),
            Found::Codes(vec![c])
        );
        for bad in [
            "QNVCFM3P4VDF".to_string(),
            "https://z.example/de/QNVC-FM3P-4VDF".to_string(),
            crate::coversheet::qr_payload(c.as_str(), &other.tag(c.as_str())),
            format!("QNVCFM3P4VDF:{}", "0".repeat(32)),
            "QNVCFM3P4VDF:".to_string(),
        ] {
            assert_eq!(
                from_cover_sheet(std::slice::from_ref(&bad), &key),
                Found::Unauthenticated(vec![c]),
                "{bad}"
            );
        }
        // A tag made for another code does not carry over.
        let d = Code::generate();
        let moved = crate::coversheet::qr_payload(d.as_str(), &key.tag(c.as_str()));
        assert_eq!(
            from_cover_sheet(&[moved], &key),
            Found::Unauthenticated(vec![d])
        );
        assert_eq!(from_cover_sheet(&["hello".into()], &key), Found::Nothing);
    }
}
