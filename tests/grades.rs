//! Grade engine CLI tests (issue 3): `zeugnis grade` end to end through the
//! real binary: JSON output, the human report, `--list`, and every class of
//! bad input with exit code 2.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `zeugnis grade` with `args`; returns (exit code, stdout, stderr).
fn zeugnis(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_zeugnis"))
        .arg("grade")
        .args(args)
        .output()
        .expect("the zeugnis binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `input` to a fresh temporary file; the directory lives as long as
/// the returned guard.
fn input_file(input: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("input.json");
    std::fs::write(&path, input).expect("write input");
    (dir, path)
}

fn r1(ruleset: &str) -> String {
    json!({"ruleset": ruleset, "parts": [{"id": "P", "required_lp": "30", "modules": [
        {"id": "M1", "lp": "10", "grade": "1.3", "mandatory": true},
        {"id": "M2", "lp": "10", "grade": "2.0", "mandatory": true},
        {"id": "M3", "lp": "5", "grade": "1.7", "mandatory": true},
        {"id": "M4", "lp": "5", "grade": "3.0", "mandatory": false},
        {"id": "M5", "lp": "5", "grade": "2.3", "mandatory": false}
    ]}]})
    .to_string()
}

#[test]
fn json_output_has_the_contract_shape() {
    let (_d, path) = input_file(&r1("erfurt-ba-2019"));
    let p = path.to_str().unwrap();
    let (code, out, err) = zeugnis(&["--ruleset", "erfurt-ba-2019", "--input", p, "--json"]);
    assert_eq!(code, 0, "stderr: {err}");
    let v: Value = serde_json::from_str(&out).expect("stdout is JSON");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert_eq!(v["ruleset"], json!("erfurt-ba-2019"));
    assert_eq!(v["kind"], json!("weighted"));
    let hash = v["ruleset_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(hash
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let f = &v["result"]["final"];
    assert_eq!(f["value"], json!("1.76"));
    assert_eq!(f["display_de"], json!("1,76"));
    assert_eq!(f["display_en"], json!("1.76"));
    assert_eq!(f["word_de"], json!("gut"));
    assert_eq!(f["word_en"], json!("good"));
    assert_eq!(
        v["result"]["parts"][0]["counted"],
        json!(["M1", "M2", "M3", "M5"])
    );
    // the hash is the one --list shows for this rule set
    let (_, list, _) = zeugnis(&["--list"]);
    assert!(list.contains(&format!("blake3:{hash}")), "{list}");
}

#[test]
fn ruleset_may_come_from_the_input_alone() {
    let (_d, path) = input_file(&r1("erfurt-ba-2012"));
    let (code, out, err) = zeugnis(&["--input", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "stderr: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["result"]["final"]["display_de"], json!("1,7"));
}

#[test]
fn human_report_shows_counted_modules_and_every_step() {
    let (_d, path) = input_file(&r1("erfurt-ba-2012"));
    let (code, out, err) = zeugnis(&[
        "--ruleset",
        "erfurt-ba-2012",
        "--input",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    for needle in [
        "rule set  erfurt-ba-2012",
        "hash      blake3:",
        "§ 22",
        "not counted M4",
        "counted     M5",
        "[mean]       final value: sum(grade x LP) 53 / sum(LP) 30 = 1.766666…",
        "[compute]    final value: 1.766666… -> 1.76 (truncate, 2 decimals)",
        "final display: 1,7 / 1.7 (truncate, 1 decimal)",
        "final grade  1,7 / 1.7  gut / good",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn human_report_of_examiners_and_mc() {
    let (_d, path) = input_file(
        &json!({"ruleset": "potsdam-examiners-2025", "grades": ["3.7", "5.0"], "third": "4.0"})
            .to_string(),
    );
    let (code, out, _) = zeugnis(&["--input", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("the two better grades count: 3.7, 4.0"),
        "{out}"
    );
    assert!(out.contains("mean 3.85 -> 3.8"), "{out}");
    assert!(
        out.contains("grade  3.7 (D+)  ausreichend / sufficient"),
        "{out}"
    );

    let (_d2, path) = input_file(
        &json!({"ruleset": "erfurt-mc", "max_points": "100", "pass_mark": "50", "candidates": [
            {"id": "a", "points": "40"}, {"id": "b", "points": "50"}, {"id": "c", "points": "60"}]})
        .to_string(),
    );
    let (code, out, _) = zeugnis(&["--input", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("G/3 = 33.333333… -> 33"), "{out}");
    assert!(out.contains("M x b / G is below G/3 -> M' = 33"), "{out}");
    assert!(
        out.contains("pass mark  33; 3 of 3 candidates passed"),
        "{out}"
    );
}

#[test]
fn list_names_every_shipped_rule_set_with_its_citation() {
    let (code, out, err) = zeugnis(&["--list"]);
    assert_eq!(code, 0, "stderr: {err}");
    for id in [
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
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(id)),
            "{id} missing:\n{out}"
        );
    }
    assert!(out.contains("Anlage 3"), "{out}");
    assert!(out.contains("§ 9 Abs. 9"), "{out}");
    let (code, out, _) = zeugnis(&["--list", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(12));
    assert_eq!(v[0]["id"], json!("erfurt-ba-2019"));
    assert!(v[0]["citation"].as_str().unwrap().contains("§ 22"));
}

/// Every class of bad input: exit code 2 and a one-line error naming the field.
#[test]
fn bad_input_exits_2_naming_the_field() {
    let part = |modules: Value, required: &str| {
        json!({"ruleset": "erfurt-ba-2019", "parts": [{"id": "P", "required_lp": required, "modules": modules}]})
            .to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            json!({"ruleset": "nope-2000", "parts": []}).to_string(),
            "ruleset: unknown rule set \"nope-2000\"",
        ),
        (
            json!({"ruleset": "erfurt-ba-2019"}).to_string(),
            "parts: missing field",
        ),
        (
            part(
                json!([{"id": "A", "lp": "10", "grade": "6.0", "mandatory": true}]),
                "10",
            ),
            "parts[0].modules[0].grade: grade 6.0 is not on the scale",
        ),
        (
            part(
                json!([{"id": "A", "lp": "-3", "grade": "1.0", "mandatory": true}]),
                "10",
            ),
            "parts[0].modules[0].lp: credit points must be greater than zero, got -3",
        ),
        (
            part(
                json!([{"id": "A", "lp": "0", "grade": "1.0", "mandatory": true}]),
                "10",
            ),
            "parts[0].modules[0].lp: credit points must be greater than zero, got 0",
        ),
        (
            part(
                json!([{"id": "A", "lp": "5", "grade": "1.0", "mandatory": true}]),
                "10",
            ),
            "parts[0]: the modules have 5 LP in total but 10 LP are required",
        ),
        (
            part(
                json!([{"id": "A", "lp": "5", "grade": "1.0", "mandatory": true},
                       {"id": "A", "lp": "5", "grade": "1.0", "mandatory": true}]),
                "10",
            ),
            "parts[0].modules[1].id: duplicate id \"A\"",
        ),
        (
            part(
                json!([{"id": "A", "lp": "10", "grade": "1.0", "mandatory": true, "weight": "2"}]),
                "10",
            ),
            "parts[0].modules[0].weight: unknown field",
        ),
        (
            json!({"ruleset": "potsdam-examiners-2025", "grades": ["1.0", "2.0"], "third": "3.0"})
                .to_string(),
            "third: a third grade was given but none is needed",
        ),
        (
            json!({"ruleset": "potsdam-examiners-2025", "grades": ["1.0", "1.5"]}).to_string(),
            "grades[1]: grade 1.5 is not on the scale",
        ),
        (
            json!({"ruleset": "bremen-mc-2021", "max_points": "100", "pass_mark": "50",
                   "candidates": [{"id": "a", "points": "10"}]})
            .to_string(),
            "pass_mark: unknown field; this rule set derives the pass mark itself",
        ),
        ("{not json".to_string(), "not valid JSON"),
    ];
    for (input, want) in cases {
        let (_d, path) = input_file(&input);
        let (code, out, err) = zeugnis(&["--input", path.to_str().unwrap(), "--json"]);
        assert_eq!(code, 2, "{input}: stdout {out} stderr {err}");
        assert!(out.is_empty(), "{input}: stdout {out}");
        assert!(err.starts_with("zeugnis grade: error: "), "{err}");
        assert!(err.contains(want), "{input}\n got: {err}\nwant: {want}");
        assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");
    }
}

#[test]
fn argument_errors_exit_2() {
    let (code, _, err) = zeugnis(&["--ruleset", "erfurt-ba-2019"]);
    assert_eq!(code, 2);
    assert!(err.contains("--input FILE.json is required"), "{err}");

    let (_d, path) = input_file(&r1("erfurt-ba-2019"));
    let p = path.to_str().unwrap();
    let (code, _, err) = zeugnis(&["--ruleset", "erfurt-ma-2019", "--input", p]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the input names \"erfurt-ba-2019\" but --ruleset names \"erfurt-ma-2019\""),
        "{err}"
    );

    let (code, _, err) = zeugnis(&[
        "--ruleset",
        "erfurt-xx",
        "--input",
        "/nonexistent/zeugnis.json",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/zeugnis.json: cannot read input"),
        "{err}"
    );

    let (_d2, path) = input_file(&json!({"parts": []}).to_string());
    let (code, _, err) = zeugnis(&["--input", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--ruleset ID is required"), "{err}");
    let (code, _, err) = zeugnis(&["--ruleset", "erfurt-xx", "--input", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--ruleset: unknown rule set \"erfurt-xx\""),
        "{err}"
    );
}

#[test]
fn works_from_any_directory() {
    // The rule sets are embedded: a run from an empty directory still finds them.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zeugnis"))
        .args(["grade", "--list"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("potsdam-mc-2025"));
}

/// Issue 12: `grade --explain` cites, per step, the sentence it implements
/// and marks readings; without an input it prints the rule set's steps.
#[test]
fn explain_cites_each_step_and_marks_readings() {
    let (_d, path) = input_file(
        &json!({"ruleset": "potsdam-scale-2025", "parts": [{"id": "Z", "required_lp": "6", "modules": [
            {"id": "T1", "lp": "3", "grade": "3.7", "mandatory": false},
            {"id": "T2", "lp": "3", "grade": "5.0", "mandatory": false}]}]})
        .to_string(),
    );
    let (code, out, err) = zeugnis(&["--input", path.to_str().unwrap(), "--explain"]);
    assert_eq!(code, 0, "stderr: {err}");
    for needle in [
        "[mean] text: § 9 Abs. 5 Satz 2",
        "[snap] READING (the text is silent or ambiguous): § 9 Abs. 9 Nr. 2, by analogy",
        "the exact mean 4.35 is worse than the pass limit 4.0: NOT PASSED",
        "final grade  5,0 / 5.0 (F)  nicht ausreichend / not sufficient",
        "readings this rule set relies on:",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let (code, out, _) = zeugnis(&["--explain", "--ruleset", "erfurt-mc"]);
    assert_eq!(code, 0);
    assert!(out.contains("[pass_mark] READING"), "{out}");
    assert!(out.contains("Buchstabe m"), "{out}");
    let (code, out, _) = zeugnis(&["--explain", "--list"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("blake3:").count(), 12, "{out}");
    // an earlier version is named id@version
    let (code, out, _) = zeugnis(&["--explain", "--ruleset", "potsdam-scale-2025@1"]);
    assert_eq!(code, 0);
    assert!(out.contains("potsdam-scale-2025 v1"), "{out}");
    assert!(out.contains("readings (version-1 rule set"), "{out}");
}

/// docs/grades.md carries every rule set's steps, citations and readings
/// (generated by `scripts/grades-readings-table --write`); this fails when a
/// rule set changed and the document was not regenerated.
#[test]
fn grades_doc_lists_every_reading() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grades.md"))
        .expect("docs/grades.md");
    for rs in zeugnis::grades::ruleset::shipped().unwrap() {
        let heading = format!("### `{}` (version {}, ", rs.meta.id, rs.meta.version);
        assert!(
            doc.contains(&heading),
            "docs/grades.md lacks {heading:?}: run scripts/grades-readings-table --write"
        );
        for s in &rs.steps {
            let cell = |t: &str| t.replace('|', "\\|");
            let row = format!("| `{}` | {} | {} |", s.id, cell(&s.cites), cell(&s.does));
            assert!(
                doc.contains(&row),
                "docs/grades.md lacks the row {row:?}: run scripts/grades-readings-table --write"
            );
        }
    }
}
