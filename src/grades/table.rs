//! The grade record as a readable table for the terminal (`zeugnis show`).
//!
//! Owns: turning a stored grade record (`{"ruleset", "ruleset_hash",
//! "result"}`, see docs/design.md "Grade engine") and, when the access key
//! was given, the grade input from the holder record into aligned text:
//! the final grade with its predicate, the credit points, one row per part
//! and one row per module (grade and credit points).
//! Must not do: compute or round a grade (every figure printed is one the
//! grade engine stored or the exam office entered), or read anything but
//! the values it is given.

use serde_json::Value;
use std::fmt::Write as _;

/// The table, every line indented by `indent` spaces and ending in a
/// newline. `input` is the registration's grade input (holder data, only
/// known with the access key); without it the module rows are replaced by
/// one line saying how to see them.
pub fn record_table(grade: &Value, input: Option<&Value>, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut s = String::new();
    let ruleset = grade["ruleset"].as_str().unwrap_or("?");
    let hash = grade["ruleset_hash"].as_str().unwrap_or("");
    let short = hash.get(..16).unwrap_or(hash);
    let _ = writeln!(s, "{pad}rule set       {ruleset} (blake3:{short}…)");
    let result = &grade["result"];
    let fin = &result["final"];
    if fin.is_object() {
        let _ = writeln!(s, "{pad}final grade    {}", final_with_predicate(fin));
        if let Some(lp) = credit_points(result) {
            let _ = writeln!(s, "{pad}credit points  {lp}");
        }
        if let Some(parts) = result["parts"].as_array().filter(|p| !p.is_empty()) {
            let rows: Vec<[String; 4]> = parts
                .iter()
                .map(|p| {
                    [
                        text(&p["id"]),
                        text(&p["display_de"]),
                        text(&p["lp_counted"]),
                        p["counted"]
                            .as_array()
                            .map(|m| m.iter().map(text).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            table(
                &mut s,
                &pad,
                ["part", "grade", "LP counted", "modules counted"],
                &rows,
            );
        }
    } else if let Some(obj) = result.as_object() {
        // The examiners and multiple-choice kinds: a flat result object.
        for (k, v) in obj {
            let _ = writeln!(s, "{pad}{:<14} {}", k.replace('_', " "), text(v));
        }
    }
    match input.and_then(|i| i["parts"].as_array()) {
        Some(parts) => {
            let counted: Vec<&str> = result["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|p| p["counted"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            let rows: Vec<[String; 4]> = parts
                .iter()
                .flat_map(|p| {
                    let part = text(&p["id"]);
                    p["modules"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |m| (part.clone(), m))
                })
                .map(|(part, m)| {
                    let id = text(&m["id"]);
                    let used = if counted.contains(&id.as_str()) {
                        "yes"
                    } else {
                        "no"
                    };
                    [
                        format!("{id} ({part})"),
                        text(&m["grade"]),
                        text(&m["lp"]),
                        used.to_string(),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                table(
                    &mut s,
                    &pad,
                    ["module (part)", "grade", "LP", "counted"],
                    &rows,
                );
            }
        }
        None if fin.is_object() => {
            let _ = writeln!(
                s,
                "{pad}modules        grades and credit points per module are holder data: give --key KEY"
            );
        }
        None => {}
    }
    s
}

/// `1,76 - gut / 1.76 - good` (the predicate is absent for scales without words).
fn final_with_predicate(fin: &Value) -> String {
    let one = |display: &str, word: &str| match fin[word].as_str() {
        Some(w) if !w.is_empty() => format!("{} - {w}", text(&fin[display])),
        _ => text(&fin[display]),
    };
    let mut s = format!(
        "{} / {}",
        one("display_de", "word_de"),
        one("display_en", "word_en")
    );
    if let Some(letter) = fin["letter"].as_str() {
        let _ = write!(s, " (letter {letter})");
    }
    if fin["passed"] == Value::Bool(false) {
        s.push_str(" (not passed)");
    }
    s
}

/// The sum of the parts' `lp_counted` as the engine wrote them (decimal
/// strings), added exactly; `None` without parts or with one unreadable.
fn credit_points(result: &Value) -> Option<String> {
    let mut sum = rust_decimal::Decimal::ZERO;
    let parts = result["parts"].as_array()?;
    if parts.is_empty() {
        return None;
    }
    for p in parts {
        let lp: rust_decimal::Decimal = p["lp_counted"].as_str()?.parse().ok()?;
        sum = sum.checked_add(lp)?;
    }
    Some(sum.normalize().to_string())
}

/// A JSON scalar as plain text (strings without quotes).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Appends a header and rows, columns padded to their widest cell.
fn table(s: &mut String, pad: &str, header: [&str; 4], rows: &[[String; 4]]) {
    let mut width = header.map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut l = pad.to_string();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(s, "{}", line(header));
    for r in rows {
        let _ = writeln!(s, "{}", line([&r[0], &r[1], &r[2], &r[3]]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn weighted() -> Value {
        json!({"ruleset": "erfurt-ba-2019", "ruleset_hash": "3f5a8d881c6cd1e906c83c78ac0d6b9b",
            "result": {"final": {"display_de": "1,76", "display_en": "1.76", "passed": true,
                "value": "1.76", "word_de": "gut", "word_en": "good"},
            "parts": [
                {"counted": ["HF-1", "HF-2"], "display_de": "1,65", "id": "Hauptfach", "lp_counted": "20"},
                {"counted": ["NF-1"], "display_de": "2,00", "id": "Nebenfach", "lp_counted": "10.5"}]}})
    }

    #[test]
    fn without_the_key_final_grade_predicate_credit_points_and_parts() {
        let t = record_table(&weighted(), None, 0);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "rule set       erfurt-ba-2019 (blake3:3f5a8d881c6cd1e9…)"
        );
        assert_eq!(lines[1], "final grade    1,76 - gut / 1.76 - good");
        assert_eq!(lines[2], "credit points  30.5");
        assert_eq!(lines[3], "part       grade  LP counted  modules counted");
        assert_eq!(lines[4], "Hauptfach  1,65   20          HF-1, HF-2");
        assert_eq!(lines[5], "Nebenfach  2,00   10.5        NF-1");
        assert!(lines[6].contains("give --key KEY"), "{t}");
        assert_eq!(lines.len(), 7, "{t}");
    }

    #[test]
    fn with_the_input_one_row_per_module() {
        let input = json!({"ruleset": "erfurt-ba-2019", "parts": [
            {"id": "Hauptfach", "modules": [
                {"id": "HF-1", "lp": "10", "grade": "1.3"}, {"id": "HF-2", "lp": "10", "grade": "2.0"}]},
            {"id": "Nebenfach", "modules": [
                {"id": "NF-1", "lp": "10.5", "grade": "2.0"}, {"id": "NF-2", "lp": "5", "grade": "3.7"}]}]});
        let t = record_table(&weighted(), Some(&input), 2);
        assert!(!t.contains("give --key"), "{t}");
        let modules: Vec<&str> = t
            .lines()
            .skip_while(|l| !l.starts_with("  module"))
            .collect();
        assert_eq!(
            modules,
            [
                "  module (part)     grade  LP    counted",
                "  HF-1 (Hauptfach)  1.3    10    yes",
                "  HF-2 (Hauptfach)  2.0    10    yes",
                "  NF-1 (Nebenfach)  2.0    10.5  yes",
                "  NF-2 (Nebenfach)  3.7    5     no",
            ]
        );
    }

    #[test]
    fn examiners_kind_prints_its_flat_result_and_a_failed_final_says_so() {
        let g = json!({"ruleset": "potsdam-examiners-2025", "ruleset_hash": "ab",
            "result": {"grade": "2.3", "needs_third_examiner": false}});
        let t = record_table(&g, None, 0);
        assert!(t.contains("grade          2.3\n"), "{t}");
        assert!(t.contains("needs third examiner false\n"), "{t}");
        assert!(!t.contains("--key"), "{t}");
        let mut failed = weighted();
        failed["result"]["final"]["passed"] = json!(false);
        failed["result"]["final"]["word_de"] = json!("");
        failed["result"]["final"]["word_en"] = json!("");
        assert!(
            record_table(&failed, None, 0).contains("final grade    1,76 / 1.76 (not passed)\n"),
            "{}",
            record_table(&failed, None, 0)
        );
    }
}
