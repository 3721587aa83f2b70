//! Table-driven tests of every shipped rule set through [`super::evaluate`],
//! with hand-computed expectations (the arithmetic is in each comment), and
//! the property tests of the weighted kind.

use super::{evaluate, GradeError, GradeRecord};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn run(input: Value) -> GradeRecord {
    match evaluate(&input) {
        Ok(r) => r,
        Err(e) => panic!("input {input} failed: {e}"),
    }
}

fn fail(input: Value) -> GradeError {
    match evaluate(&input) {
        Ok(r) => panic!("input {input} should fail but gave {:?}", r.result),
        Err(e) => e,
    }
}

/// A module as JSON: (id, lp, grade, mandatory).
fn m(id: &str, lp: &str, grade: &str, mandatory: bool) -> Value {
    json!({"id": id, "lp": lp, "grade": grade, "mandatory": mandatory})
}

fn part(id: &str, required: &str, modules: Vec<Value>) -> Value {
    json!({"id": id, "required_lp": required, "modules": modules})
}

fn weighted(ruleset: &str, parts: Vec<Value>) -> Value {
    json!({"ruleset": ruleset, "parts": parts})
}

/// The worked example of docs/domain.md R1.
fn r1_part() -> Value {
    part(
        "P",
        "30",
        vec![
            m("M1", "10", "1.3", true),
            m("M2", "10", "2.0", true),
            m("M3", "5", "1.7", true),
            m("M4", "5", "3.0", false),
            m("M5", "5", "2.3", false),
        ],
    )
}

/// (value, display_de, display_en, word_de) of the final grade.
fn final_of(r: &GradeRecord) -> (String, String, String, String) {
    let f = &r.result["final"];
    let s = |k: &str| f[k].as_str().unwrap_or("<none>").to_string();
    (s("value"), s("display_de"), s("display_en"), s("word_de"))
}

#[test]
fn domain_r1_worked_example_in_every_erfurt_bachelor_master_rule_set() {
    // 53/30 = 1.7666… → 1.76; "1,76" under 2019 rules, "1,7" under 2012 rules.
    let cases = [
        ("erfurt-ba-2019", "1,76", "1.76", "gut"),
        ("erfurt-ba-2012", "1,7", "1.7", "gut"),
        ("erfurt-ma-2019", "1,76", "1.76", "gut"),
        ("erfurt-ma-2012", "1,7", "1.7", "gut"),
        ("erfurt-med-2019", "1,76", "1.76", "gut"),
    ];
    for (id, de, en, word) in cases {
        let r = run(weighted(id, vec![r1_part()]));
        assert_eq!(r.ruleset, id);
        assert_eq!(r.kind, "weighted");
        assert_eq!(r.ruleset_hash.len(), 64);
        assert_eq!(
            final_of(&r),
            ("1.76".into(), de.into(), en.into(), word.into()),
            "{id}"
        );
        assert_eq!(
            r.result["parts"][0]["counted"],
            json!(["M1", "M2", "M3", "M5"])
        );
        assert_eq!(r.result["parts"][0]["lp_counted"], json!("30"));
        assert_eq!(r.result["parts"][0]["value"], json!("1.76"));
        assert_eq!(r.result["parts"][0]["display_de"], json!(de));
    }
}

#[test]
fn erfurt_weighted_edge_table() {
    // (rule set, parts, expected final (value, de, en, word))
    type Case = (&'static str, Vec<Value>, [&'static str; 4]);
    let cases: Vec<Case> = vec![
        // .x9 truncation: (1.3·15 + 3.3·8)/23 = 45.9/23 = 1.99565… → 1.99 (half-up would give 2.00)
        (
            "erfurt-ba-2019",
            vec![part(
                "P",
                "23",
                vec![m("A", "15", "1.3", true), m("B", "8", "3.3", true)],
            )],
            ["1.99", "1,99", "1.99", "gut"],
        ),
        (
            "erfurt-ba-2012",
            vec![part(
                "P",
                "23",
                vec![m("A", "15", "1.3", true), m("B", "8", "3.3", true)],
            )],
            ["1.99", "1,9", "1.9", "gut"],
        ),
        // word band boundary: exactly 1.50 is "sehr gut"
        (
            "erfurt-ba-2019",
            vec![part(
                "P",
                "10",
                vec![m("A", "5", "1.0", true), m("B", "5", "2.0", true)],
            )],
            ["1.50", "1,50", "1.50", "sehr gut"],
        ),
        // 23/15 = 1.5333…: 1.53 is "gut" under 2019, but displayed 1.5 is "sehr gut" under 2012
        (
            "erfurt-ba-2019",
            vec![part(
                "P",
                "15",
                vec![m("A", "10", "1.3", true), m("B", "5", "2.0", true)],
            )],
            ["1.53", "1,53", "1.53", "gut"],
        ),
        (
            "erfurt-ba-2012",
            vec![part(
                "P",
                "15",
                vec![m("A", "10", "1.3", true), m("B", "5", "2.0", true)],
            )],
            ["1.53", "1,5", "1.5", "sehr gut"],
        ),
        // overshooting LP, pooled over two parts: part B counts B3 (1.7, 5 LP) then B2
        // (2.0, 10 LP: more LP wins the tie with B1) = 15 LP ≥ 10; B1 not counted.
        // final = (1.0·10 + 1.7·5 + 2.0·10)/25 = 38.5/25 = 1.54
        (
            "erfurt-ba-2019",
            vec![
                part("A", "10", vec![m("A1", "10", "1.0", true)]),
                part(
                    "B",
                    "10",
                    vec![
                        m("B1", "5", "2.0", false),
                        m("B2", "10", "2.0", false),
                        m("B3", "5", "1.7", false),
                    ],
                ),
            ],
            ["1.54", "1,54", "1.54", "gut"],
        ),
        // mandatory modules beyond the requirement all count, no elective:
        // (4.0·20 + 3.7·20)/40 = 154/40 = 3.85; the better elective is ignored
        (
            "erfurt-ma-2019",
            vec![part(
                "P",
                "30",
                vec![
                    m("M", "20", "4.0", true),
                    m("E", "10", "1.0", false),
                    m("N", "20", "3.7", true),
                ],
            )],
            ["3.85", "3,85", "3.85", "ausreichend"],
        ),
        // master: phase + thesis as its own part, pooled:
        // phase P1 1.3·30 + P2 1.7·30 (mandatory) + P4 2.0·30 (better elective) = 150/90 = 1.666… → 1.66
        // final (150 + 1.0·30)/120 = 1.5 → 1.50 "sehr gut"; 2012: "1,5"
        (
            "erfurt-ma-2012",
            vec![
                part(
                    "phase",
                    "90",
                    vec![
                        m("P1", "30", "1.3", true),
                        m("P2", "30", "1.7", true),
                        m("P3", "30", "2.3", false),
                        m("P4", "30", "2.0", false),
                    ],
                ),
                part("thesis", "30", vec![m("T", "30", "1.0", true)]),
            ],
            ["1.50", "1,5", "1.5", "sehr gut"],
        ),
        // a thesis graded as the mean of two assessments (1.85) is accepted
        (
            "erfurt-med-2019",
            vec![part(
                "P",
                "20",
                vec![m("A", "10", "1.85", true), m("B", "10", "1.7", true)],
            )],
            ["1.77", "1,77", "1.77", "gut"],
        ),
    ];
    for (id, parts, want) in cases {
        let r = run(weighted(id, parts.clone()));
        let want = (
            want[0].to_string(),
            want[1].to_string(),
            want[2].to_string(),
            want[3].to_string(),
        );
        assert_eq!(final_of(&r), want, "{id} {}", Value::Array(parts));
    }
}

#[test]
fn overshooting_part_reports_its_counted_modules() {
    let r = run(weighted(
        "erfurt-ma-2012",
        vec![part(
            "phase",
            "90",
            vec![
                m("P1", "30", "1.3", true),
                m("P2", "30", "1.7", true),
                m("P3", "30", "2.3", false),
                m("P4", "30", "2.0", false),
            ],
        )],
    ));
    let p = &r.result["parts"][0];
    assert_eq!(p["counted"], json!(["P1", "P2", "P4"]));
    assert_eq!(p["value"], json!("1.66"));
    assert_eq!(p["display_de"], json!("1,6"));
}

fn magister(modules: Vec<Value>, thesis: &str, oral: &str) -> Value {
    weighted(
        "erfurt-magister",
        vec![
            part("modules", "96", modules),
            part("thesis", "24", vec![m("MA", "24", thesis, true)]),
            part("oral", "48", vec![m("AP", "48", oral, true)]),
        ],
    )
}

#[test]
fn magister_weights_parts_96_96_48() {
    // modules: K1 1.3·48 + K2 2.0·48 = 158.4/96 = 1.65 (K3 not needed: mandatory reach 96)
    // final (96·1.65 + 96·1.7 + 48·2.3)/240 = 432/240 = 1.80 → "1,8"
    let r = run(magister(
        vec![
            m("K1", "48", "1.3", true),
            m("K2", "48", "2.0", true),
            m("K3", "8", "1.0", false),
        ],
        "1.7",
        "2.3",
    ));
    assert_eq!(
        final_of(&r),
        ("1.80".into(), "1,8".into(), "1.8".into(), "gut".into())
    );
    let parts = r.result["parts"].as_array().unwrap();
    assert_eq!(parts[0]["counted"], json!(["K1", "K2"]));
    assert_eq!(parts[0]["value"], json!("1.65"));
    assert_eq!(parts[0]["display_de"], json!("1,6"));
    assert_eq!(parts[0]["weight"], json!("96"));
    assert_eq!(parts[1]["display_de"], json!("1,7"));
    assert_eq!(parts[2]["weight"], json!("48"));

    // exact part means enter the final: modules 1.3·64 + 2.3·32 = 156.8/96 = 1.6333…;
    // (156.8 + 96·1.0 + 48·1.3)/240 = 315.2/240 = 1.31333… → 1.31 → "1,3", sehr gut
    let r = run(magister(
        vec![m("K1", "64", "1.3", true), m("K2", "32", "2.3", true)],
        "1.0",
        "1.3",
    ));
    assert_eq!(
        final_of(&r),
        ("1.31".into(), "1,3".into(), "1.3".into(), "sehr gut".into())
    );
}

#[test]
fn magister_needs_exactly_its_three_parts() {
    let missing = fail(weighted(
        "erfurt-magister",
        vec![
            part("modules", "10", vec![m("K", "10", "1.0", true)]),
            part("thesis", "24", vec![m("MA", "24", "1.0", true)]),
        ],
    ));
    assert!(
        matches!(&missing, GradeError::MissingField { field } if field.contains("oral")),
        "{missing}"
    );
    let unknown = fail(weighted(
        "erfurt-magister",
        vec![
            part("modules", "10", vec![m("K", "10", "1.0", true)]),
            part("thesis", "24", vec![m("MA", "24", "1.0", true)]),
            part("oral", "48", vec![m("AP", "48", "1.0", true)]),
            part("extra", "5", vec![m("X", "5", "1.0", true)]),
        ],
    ));
    assert!(
        unknown
            .to_string()
            .starts_with("parts[3].id: unknown part \"extra\""),
        "{unknown}"
    );
}

#[test]
fn potsdam_scale_table() {
    // (part exams (lp, grade), final value, letter, word)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str, &'a str);
    let cases: &[Case] = &[
        (&[("3", "1.3"), ("3", "2.0")], "1.7", "B+", "gut"), // 1.65 → 1.6 → 1.7
        (&[("5", "1.0"), ("5", "2.0")], "1.3", "A-", "sehr gut"), // 1.5 → tie → 1.3
        (&[("2", "5.0"), ("2", "3.0")], "4.0", "D", "ausreichend"), // 4.0 on scale
        // ZertO § 9 Abs. 5 Satz 1: the exact mean 4.5 is worse than 4.0: a fail,
        // although cutting and snapping (tie 4.0/5.0 → the better) gave 4.0 in v1
        (
            &[("1", "5.0"), ("1", "4.0")],
            "5.0",
            "F",
            "nicht ausreichend",
        ),
        (
            &[("3", "5.0"), ("1", "4.0")],
            "5.0",
            "F",
            "nicht ausreichend",
        ), // 4.75 → 4.7 → 5.0
        (&[("1", "1.0"), ("2", "1.3")], "1.3", "A-", "sehr gut"), // 3.6/3 = 1.2 → 1.3
        (&[("4", "2.7")], "2.7", "C+", "befriedigend"),
    ];
    for (exams, value, letter, word) in cases {
        let modules: Vec<Value> = exams
            .iter()
            .enumerate()
            .map(|(i, (lp, g))| m(&format!("T{i}"), lp, g, false))
            .collect();
        // required 1 LP: every part exam counts anyway
        let r = run(weighted(
            "potsdam-scale-2025",
            vec![part("Z", "1", modules)],
        ));
        let f = &r.result["final"];
        assert_eq!(f["value"], json!(value), "{exams:?}");
        assert_eq!(f["letter"], json!(letter), "{exams:?}");
        assert_eq!(f["word_de"], json!(word), "{exams:?}");
        assert_eq!(f["display_de"], json!(value.replace('.', ",")));
        assert_eq!(
            r.result["parts"][0]["counted"].as_array().map(Vec::len),
            Some(exams.len())
        );
    }
    let e = fail(weighted(
        "potsdam-scale-2025",
        vec![part("Z", "1", vec![m("T", "1", "1.5", false)])],
    ));
    assert!(matches!(e, GradeError::NotOnScale { .. }), "{e}");
}

fn examiners(grades: &[&str], third: Option<&str>) -> Value {
    let mut v = json!({"ruleset": "potsdam-examiners-2025", "grades": grades});
    if let Some(t) = third {
        v["third"] = json!(t);
    }
    v
}

#[test]
fn potsdam_examiners_table() {
    // (grades, third, grade, letter, mean_cut)
    type Case<'a> = (
        &'a [&'a str],
        Option<&'a str>,
        &'a str,
        &'a str,
        Option<&'a str>,
    );
    let cases: &[Case] = &[
        (&["1.3", "2.0"], None, "1.7", "B+", Some("1.6")),
        (&["1.0", "2.0"], None, "1.3", "A-", Some("1.5")),
        (&["3.7", "5.0"], Some("4.0"), "3.7", "D+", Some("3.8")),
        (&["4.0", "5.0"], Some("5.0"), "5.0", "F", None),
        (&["5.0", "5.0"], Some("2.0"), "5.0", "F", None),
        (&["5.0", "1.0"], Some("1.3"), "1.0", "A", Some("1.1")), // 1.0 & 1.3 → 1.15 → 1.1 → 1.0
        (&["2.7", "3.0"], None, "2.7", "C+", Some("2.8")),       // 2.85 → 2.8 → 2.7
        (&["3.0", "3.3"], None, "3.0", "C", Some("3.1")),        // 3.15 → 3.1 → 3.0
        (&["1.7", "2.0"], None, "1.7", "B+", Some("1.8")), // 1.85 → 1.8 → 1.7 (never 1.84999…)
        (&["1.0", "1.3", "1.7"], None, "1.3", "A-", Some("1.3")), // three regular examiners
    ];
    for (grades, third, grade, letter, cut) in cases {
        let r = run(examiners(grades, *third));
        let res = &r.result;
        assert_eq!(res["needs_third_examiner"], json!(false), "{grades:?}");
        assert_eq!(res["grade"], json!(grade), "{grades:?} {third:?}");
        assert_eq!(res["letter"], json!(letter), "{grades:?} {third:?}");
        assert_eq!(
            res.get("mean_cut").and_then(Value::as_str),
            *cut,
            "{grades:?}"
        );
    }
    let r = run(examiners(&["3.7", "5.0"], None));
    assert_eq!(r.result, json!({"needs_third_examiner": true}));
    let e = fail(examiners(&["1.0", "2.0"], Some("3.0")));
    assert!(matches!(e, GradeError::ThirdNotNeeded { .. }), "{e}");
    assert_eq!(e.exit_code(), 2);
    let e = fail(examiners(&["1.0", "1.5"], None));
    assert!(
        e.to_string()
            .starts_with("grades[1]: grade 1.5 is not on the scale"),
        "{e}"
    );
    let e = fail(examiners(&["1.0"], None));
    assert!(e.to_string().starts_with("grades: needs at least 2"), "{e}");
}

fn mc(ruleset: &str, max: &str, pass: Option<&str>, elim: Option<&str>, points: &[&str]) -> Value {
    let candidates: Vec<Value> = points
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": format!("c{i}"), "points": p, "first_attempt": true}))
        .collect();
    let mut v = json!({"ruleset": ruleset, "max_points": max, "candidates": candidates});
    if let Some(p) = pass {
        v["pass_mark"] = json!(p);
    }
    if let Some(e) = elim {
        v["eliminated_points"] = json!(e);
    }
    v
}

fn grades_of(r: &GradeRecord) -> Vec<String> {
    r.result["candidates"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|c| c["grade"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn erfurt_mc_table() {
    // (max, M, eliminated, points, applied pass mark, grades)
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Vec<&'static str>,
        &'static str,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        // median 75 > M 50: M stays; bands over 50 remaining points:
        // 62.5 = 25 % → 3.0, 75 = 50 % → 2.0, 87.5 = 75 % → 1.0, 87 = 74 % → 2.0
        (
            "100",
            "50",
            None,
            vec!["40", "62.5", "75", "87.5", "87", "90", "50"],
            "50",
            vec!["5.0", "3.0", "2.0", "1.0", "2.0", "1.0", "4.0"],
        ),
        // median 50 ≤ M 60: M' = 60·80/100 = 48 (≥ floor 33); 45 fails;
        // 50: 2/52 → 4.0; 60: 12/52 = 23 % → 4.0; 80: 32/52 = 61.5 % → 2.0
        (
            "100",
            "60",
            None,
            vec!["30", "45", "50", "60", "80"],
            "48",
            vec!["5.0", "5.0", "4.0", "4.0", "2.0"],
        ),
        // median equal to M triggers; M' = 50·60/100 = 30 < G/3 = 33.3 → 33 (the floor)
        // 40: 7/67 → 4.0; 50: 17/67 = 25.4 % → 3.0; 60: 27/67 = 40.3 % → 3.0
        (
            "100",
            "50",
            None,
            vec!["40", "50", "60"],
            "33",
            vec!["4.0", "3.0", "3.0"],
        ),
        // half up: M' = 15·27/30 = 13.5 → 14; floor 10. 27: 13/16 = 81 % → 1.0
        (
            "30",
            "15",
            None,
            vec!["5", "10", "27"],
            "14",
            vec!["5.0", "5.0", "1.0"],
        ),
        // letter m read literally (v2): M x b / G = 13.3 is below G/3 = 30, so
        // M' = 30 although that is above the announced M = 20 (said in notes);
        // 60: 30/60 = 50 % → 2.0
        (
            "90",
            "20",
            None,
            vec!["10", "15", "60"],
            "30",
            vec!["5.0", "5.0", "2.0"],
        ),
        // faulty items: G = 100 − 10 = 90; median 80 > 45; 80: 35/45 = 77.8 % → 1.0
        (
            "100",
            "45",
            Some("10"),
            vec!["45", "90", "80"],
            "45",
            vec!["4.0", "1.0", "1.0"],
        ),
    ];
    for (max, pass, elim, points, applied, grades) in cases {
        let r = run(mc("erfurt-mc", max, Some(pass), elim, &points));
        assert_eq!(
            r.result["pass_mark"],
            json!(applied),
            "{points:?}: {}",
            r.result["pass_mark_rule"]
        );
        assert_eq!(grades_of(&r), grades, "{points:?}");
        assert_eq!(r.result["repeat_required"], json!(false));
        for c in r.result["candidates"].as_array().unwrap() {
            assert_eq!(c["passed"], json!(c["grade"] != json!("5.0")));
        }
    }
    let e = fail(mc("erfurt-mc", "100", None, None, &["50"]));
    assert!(
        matches!(&e, GradeError::MissingField { field } if field == "pass_mark"),
        "{e}"
    );
    let e = fail(mc("erfurt-mc", "100", Some("50"), Some("10"), &["95"]));
    assert!(
        e.to_string()
            .starts_with("candidates[0].points: 95 exceeds"),
        "{e}"
    );
}

#[test]
fn bremen_mc_table() {
    // (max, eliminated, points, pass mark, grades)
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<&'static str>,
        &'static str,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        // mean 65 ≥ 50: pass 50; 62.5 = 25 % → 3.0, 70 = 40 % → 3.0, 75 = 50 % → 2.0, 100 → 1.0
        (
            "100",
            None,
            vec!["40", "50", "62.5", "70", "75", "100"],
            "50",
            vec!["5.0", "4.0", "3.0", "3.0", "2.0", "1.0"],
        ),
        // mean 160/4 = 40 < 50: pass 0.85·40 = 34; 34 passes exactly, 33.9 fails;
        // 42.1: 8.1/66 = 12.3 % → 4.0; 50: 16/66 = 24.2 % → 4.0 (just below 25 %)
        (
            "100",
            None,
            vec!["34", "33.9", "42.1", "50"],
            "34",
            vec!["4.0", "5.0", "4.0", "4.0"],
        ),
        // mean 31/3 = 10.333…; 0.85·mean = 8.78333… kept exact (v2: no cut);
        // shown to six places, the fraction beside it
        (
            "100",
            None,
            vec!["10", "10", "11"],
            "8.783333",
            vec!["4.0", "4.0", "4.0"],
        ),
        // exactly 20 % eliminated: no repeat; G = 80, pass 40; 80 → 1.0, 60 = 50 % → 2.0
        (
            "100",
            Some("20"),
            vec!["80", "60", "40"],
            "40",
            vec!["1.0", "2.0", "4.0"],
        ),
    ];
    for (max, elim, points, pass, grades) in cases {
        let r = run(mc("bremen-mc-2021", max, None, elim, &points));
        assert_eq!(
            r.result["pass_mark"],
            json!(pass),
            "{points:?}: {}",
            r.result["pass_mark_rule"]
        );
        assert_eq!(grades_of(&r), grades, "{points:?}");
    }
    // more than 20 % eliminated: the exam must be repeated, no results
    let r = run(mc("bremen-mc-2021", "100", None, Some("20.5"), &["50"]));
    assert_eq!(r.result["repeat_required"], json!(true));
    assert_eq!(r.result["pass_mark"], Value::Null);
    assert_eq!(r.result["candidates"], json!([]));
    // a preset pass mark is refused
    let e = fail(mc("bremen-mc-2021", "100", Some("50"), None, &["50"]));
    assert!(
        matches!(&e, GradeError::UnknownField { field, .. } if field == "pass_mark"),
        "{e}"
    );
}

#[test]
fn potsdam_mc_table() {
    // first-attempt mean 70 → 0.9·70 = 63 > 50: pass 50; share = (p − 50)/50
    // 60 = 20 % → 3.3; 80 = 60 % → 2.0; 95 = 90 % → 1.0; 94 = 88 % → 1.3; 55 = 10 % → 3.7;
    // 54.9 = 9.8 % → 4.0; 50 → 4.0
    let candidates = json!([
        {"id": "a", "points": "60", "first_attempt": true},
        {"id": "b", "points": "80", "first_attempt": true},
        {"id": "r", "points": "30", "first_attempt": false},
        {"id": "c", "points": "95", "first_attempt": false},
        {"id": "d", "points": "94", "first_attempt": false},
        {"id": "e", "points": "55", "first_attempt": false},
        {"id": "f", "points": "54.9", "first_attempt": false},
        {"id": "g", "points": "50", "first_attempt": false},
    ]);
    let r =
        run(json!({"ruleset": "potsdam-mc-2025", "max_points": "100", "candidates": candidates}));
    assert_eq!(r.result["pass_mark"], json!("50"));
    assert_eq!(
        grades_of(&r),
        ["3.3", "2.0", "5.0", "1.0", "1.3", "3.7", "4.0", "4.0"]
    );
    let letters: Vec<&str> = r.result["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["letter"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(letters, ["C-", "B", "F", "A", "A-", "D+", "D", "D"]);

    // relative: first-attempt mean 35 → 31.5 < 50; the repeater's 90 is not in the mean
    // 31.5 passes (4.0), 31 fails; 90: 58.5/68.5 = 85.4 % → 1.3
    let candidates = json!([
        {"id": "a", "points": "30", "first_attempt": true},
        {"id": "b", "points": "40", "first_attempt": true},
        {"id": "r", "points": "90", "first_attempt": false},
        {"id": "x", "points": "31.5", "first_attempt": false},
        {"id": "y", "points": "31", "first_attempt": false},
    ]);
    let r =
        run(json!({"ruleset": "potsdam-mc-2025", "max_points": "100", "candidates": candidates}));
    assert_eq!(r.result["pass_mark"], json!("31.5"));
    assert_eq!(grades_of(&r), ["5.0", "3.7", "1.3", "4.0", "5.0"]);

    // no first-attempt candidate: only 50 %
    let candidates = json!([{"id": "r", "points": "10", "first_attempt": false}]);
    let r =
        run(json!({"ruleset": "potsdam-mc-2025", "max_points": "40", "candidates": candidates}));
    assert_eq!(r.result["pass_mark"], json!("20"));

    let e = fail(json!({"ruleset": "potsdam-mc-2025", "max_points": "40",
        "candidates": [{"id": "r", "points": "10"}]}));
    assert!(
        matches!(&e, GradeError::MissingField { field } if field == "candidates[0].first_attempt"),
        "{e}"
    );
}

#[test]
fn bad_weighted_input_names_field_and_reason() {
    // (input, expected message prefix)
    let p = |modules: Vec<Value>| weighted("erfurt-ba-2019", vec![part("P", "10", modules)]);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"parts": []}), "ruleset: missing field"),
        (
            json!({"ruleset": "erfurt-ba-1999", "parts": []}),
            "ruleset: unknown rule set \"erfurt-ba-1999\"",
        ),
        (json!({"ruleset": 7}), "ruleset: must be a string"),
        (
            weighted("erfurt-ba-2019", vec![]),
            "parts: must not be empty",
        ),
        (json!({"ruleset": "erfurt-ba-2019"}), "parts: missing field"),
        (
            p(vec![m("A", "5", "1.0", true)]),
            "parts[0]: the modules have 5 LP in total but 10 LP are required",
        ),
        (
            p(vec![m("A", "10", "5.0", true)]),
            "parts[0].modules[0].grade: grade 5.0 is not on the scale",
        ),
        (
            p(vec![m("A", "10", "0.7", true)]),
            "parts[0].modules[0].grade: grade 0.7 is not on the scale",
        ),
        (
            p(vec![m("A", "10", "1.234", true)]),
            "parts[0].modules[0].grade: grade 1.234 is not on the scale",
        ),
        (
            p(vec![m("A", "10", "1,3", true)]),
            "parts[0].modules[0].grade: \"1,3\" uses a decimal comma",
        ),
        (
            p(vec![m("A", "0", "1.3", true)]),
            "parts[0].modules[0].lp: credit points must be greater than zero, got 0",
        ),
        (
            p(vec![m("A", "-5", "1.3", true)]),
            "parts[0].modules[0].lp: credit points must be greater than zero, got -5",
        ),
        (
            p(vec![m("A", "10", "1.3", true), m("A", "5", "1.0", false)]),
            "parts[0].modules[1].id: duplicate id \"A\"",
        ),
        (
            p(vec![
                json!({"id": "A", "lp": "10", "grade": "1.3", "mandatory": true, "note": "x"}),
            ]),
            "parts[0].modules[0].note: unknown field",
        ),
        (
            p(vec![json!({"id": "A", "lp": "10", "grade": "1.3"})]),
            "parts[0].modules[0].mandatory: missing field",
        ),
        (
            p(vec![
                json!({"id": "A", "lp": "10", "grade": 1.3, "mandatory": true}),
            ]),
            "parts[0].modules[0].grade: must be a decimal string like \"1.3\", not a JSON number",
        ),
        (
            json!({"ruleset": "erfurt-ba-2019", "parts": [part("P", "10", vec![m("A", "10", "1.0", true)])], "extra": 1}),
            "extra: unknown field",
        ),
        (
            weighted(
                "erfurt-ba-2019",
                vec![
                    part("P", "10", vec![m("A", "10", "1.0", true)]),
                    part("P", "10", vec![m("B", "10", "1.0", true)]),
                ],
            ),
            "parts[1].id: duplicate id \"P\"",
        ),
        (
            weighted(
                "erfurt-ba-2019",
                vec![
                    part("P", "10", vec![m("A", "10", "1.0", true)]),
                    part("Q", "10", vec![m("A", "10", "1.0", true)]),
                ],
            ),
            "parts[1].modules[0].id: duplicate id \"A\"",
        ),
    ];
    for (input, want) in cases {
        let e = fail(input.clone());
        assert!(
            e.to_string().starts_with(want),
            "input {input}\n got: {e}\nwant: {want}"
        );
        assert_eq!(e.exit_code(), 2, "{e}");
    }
}

fn transcript(grades: &[(u32, u32, bool)], required: u32) -> Value {
    // grades as tenths from a scale index
    const SCALE: [&str; 10] = [
        "1.0", "1.3", "1.7", "2.0", "2.3", "2.7", "3.0", "3.3", "3.7", "4.0",
    ];
    let modules: Vec<Value> = grades
        .iter()
        .enumerate()
        .map(|(i, &(g, lp, mand))| {
            m(
                &format!("M{i:02}"),
                &lp.to_string(),
                SCALE[g as usize],
                mand,
            )
        })
        .collect();
    weighted(
        "erfurt-ba-2012",
        vec![part("P", &required.to_string(), modules)],
    )
}

fn value_of(r: &GradeRecord, key: &str) -> Decimal {
    Decimal::from_str_exact(r.result["final"][key].as_str().unwrap_or("9")).unwrap_or(Decimal::MAX)
}

fn counted_ids(r: &GradeRecord) -> Vec<String> {
    r.result["parts"][0]["counted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Regression (found by the property test below): under the default reading
/// of docs/domain.md R1 (best grades first, until the required LP are reached or
/// crossed) a better grade can make the final grade *worse*, because the
/// improved module now reaches the requirement alone and pushes a good module
/// out, so a bad mandatory module weighs more. Before: B 4.0·40 (mandatory),
/// X 1.3·9, Y 1.7·10, required 50: X then Y count, (160 + 11.7 + 17)/59 =
/// 3.198… → 3.19. After Y improves to 1.0: Y alone reaches 50, X is dropped,
/// (160 + 10)/50 = 3.40. This pins the behaviour of the reading; whether the
/// regulation wants it is for the exam office to decide (see docs/grades.md).
#[test]
fn greedy_selection_can_punish_an_improvement() {
    let input = |y: &str| {
        weighted(
            "erfurt-ba-2019",
            vec![part(
                "P",
                "50",
                vec![
                    m("B", "40", "4.0", true),
                    m("X", "9", "1.3", false),
                    m("Y", "10", y, false),
                ],
            )],
        )
    };
    let before = run(input("1.7"));
    assert_eq!(counted_ids(&before), ["B", "X", "Y"]);
    assert_eq!(final_of(&before).0, "3.19");
    let after = run(input("1.0"));
    assert_eq!(counted_ids(&after), ["B", "Y"]);
    assert_eq!(final_of(&after).0, "3.40");
}

proptest! {
    /// Improving one counted module's grade never worsens the final grade
    /// (computed or displayed) as long as the same modules count. (When the
    /// improvement changes the selection it can; see
    /// `greedy_selection_can_punish_an_improvement`.)
    #[test]
    fn improving_a_counted_grade_never_worsens_the_final_under_the_same_selection(
        modules in prop::collection::vec((1u32..10, 1u32..15, any::<bool>()), 1..12),
        pick in any::<prop::sample::Index>(),
        better in 1u32..10,
    ) {
        let total: u32 = modules.iter().map(|m| m.1).sum();
        let required = (total / 2).max(1);
        let before = run(transcript(&modules, required));
        let counted = counted_ids(&before);
        let i: usize = counted[pick.index(counted.len())][1..].parse().unwrap();
        let mut improved = modules.clone();
        improved[i].0 = improved[i].0.saturating_sub(better);
        let after = run(transcript(&improved, required));
        let mut same_before = counted.clone();
        let mut same_after = counted_ids(&after);
        same_before.sort();
        same_after.sort();
        prop_assume!(same_before == same_after);
        prop_assert!(value_of(&after, "value") <= value_of(&before, "value"));
        prop_assert!(value_of(&after, "display_en") <= value_of(&before, "display_en"));
    }

    /// Improving a mandatory module's grade never changes the selection, so it
    /// never worsens the final grade.
    #[test]
    fn improving_a_mandatory_grade_never_worsens_the_final(
        modules in prop::collection::vec((1u32..10, 1u32..15, any::<bool>()), 1..12),
        pick in any::<prop::sample::Index>(),
        better in 1u32..10,
    ) {
        let mandatory: Vec<usize> = (0..modules.len()).filter(|&i| modules[i].2).collect();
        prop_assume!(!mandatory.is_empty());
        let total: u32 = modules.iter().map(|m| m.1).sum();
        let required = (total / 2).max(1);
        let i = mandatory[pick.index(mandatory.len())];
        let before = run(transcript(&modules, required));
        let mut improved = modules.clone();
        improved[i].0 = improved[i].0.saturating_sub(better);
        let after = run(transcript(&improved, required));
        prop_assert_eq!(counted_ids(&after), counted_ids(&before));
        prop_assert!(value_of(&after, "value") <= value_of(&before, "value"));
        prop_assert!(value_of(&after, "display_en") <= value_of(&before, "display_en"));
    }

    /// Where the rule truncates, the displayed value never exceeds the
    /// computed value, and the computed value never exceeds the exact mean.
    #[test]
    fn truncated_display_never_exceeds_the_computed_value(
        modules in prop::collection::vec((0u32..10, 1u32..15, any::<bool>()), 1..12),
    ) {
        let total: u32 = modules.iter().map(|m| m.1).sum();
        let r = run(transcript(&modules, total));
        let value = value_of(&r, "value");
        let shown = value_of(&r, "display_en");
        prop_assert!(shown <= value);
        prop_assert!(value - shown < Decimal::new(1, 1));
        // exact mean over all modules (required = total: everything counts)
        const SCALE: [&str; 10] = ["1.0", "1.3", "1.7", "2.0", "2.3", "2.7", "3.0", "3.3", "3.7", "4.0"];
        let sum: Decimal = modules.iter()
            .map(|&(g, lp, _)| Decimal::from_str_exact(SCALE[g as usize]).unwrap() * Decimal::from(lp))
            .sum();
        let lp = Decimal::from(total);
        prop_assert!(value * lp <= sum);
        prop_assert!((value + Decimal::new(1, 2)) * lp > sum);
    }
}

// ---- issue 12: the letter of the regulations ----------------------------

/// Regression (issue 12): potsdam-scale-2025 with two part exams of 3 LP,
/// 3.7 and 5.0. The weighted mean 4.35 is not passed (ZertO Potsdam § 9
/// Abs. 5 Satz 1); v1 cut it to 4.3, snapped it to 4.0 and printed
/// "4,0 ausreichend (D)".
#[test]
fn potsdam_zerto_9_5_a_failed_mean_of_3_7_and_5_0_is_5_0_not_4_0() {
    let r = run(weighted(
        "potsdam-scale-2025",
        vec![part(
            "Z",
            "6",
            vec![m("T1", "3", "3.7", false), m("T2", "3", "5.0", false)],
        )],
    ));
    let f = &r.result["final"];
    assert_eq!(f["value"], json!("5.0"));
    assert_eq!(f["display_de"], json!("5,0"));
    assert_eq!(f["word_de"], json!("nicht ausreichend"));
    assert_eq!(f["word_en"], json!("not sufficient"));
    assert_eq!(f["letter"], json!("F"));
    assert_eq!(f["passed"], json!(false));
    assert_eq!(r.result["parts"][0]["passed"], json!(false));
    // exactly 4.0 still passes: 3.0 and 5.0 → 4.0
    let r = run(weighted(
        "potsdam-scale-2025",
        vec![part(
            "Z",
            "2",
            vec![m("T1", "1", "3.0", false), m("T2", "1", "5.0", false)],
        )],
    ));
    assert_eq!(r.result["final"]["value"], json!("4.0"));
    assert_eq!(r.result["final"]["passed"], json!(true));
    assert_eq!(r.result["final"]["word_de"], json!("ausreichend"));
}

/// ZertO Potsdam § 9 Abs. 9 Nr. 1–3 with Abs. 5: a mean of three regular
/// examiners that is worse than 4.0 is a fail, never a snapped 4.0.
#[test]
fn potsdam_zerto_9_9_three_examiners_failing_mean_is_5_0() {
    let r = run(json!({"ruleset": "potsdam-examiners-2025", "grades": ["4.0", "4.0", "5.0"]}));
    assert_eq!(r.result["mean_cut"], json!("4.3"));
    assert_eq!(r.result["grade"], json!("5.0"));
    assert_eq!(r.result["passed"], json!(false));
    assert_eq!(r.result["letter"], json!("F"));
    // docs/domain.md R3 examples unchanged
    let r =
        run(json!({"ruleset": "potsdam-examiners-2025", "grades": ["3.7", "5.0"], "third": "4.0"}));
    assert_eq!(r.result["grade"], json!("3.7"));
}

/// Erfurt RPO Bachelor 2012 § 22 Abs. 3 Satz 3: "Anrechnung finden
/// zunächst die ... Pflichtmodule und die Bachelorarbeit": a thesis counts
/// first even when the input does not mark it mandatory; under 2019 (which
/// names only the Pflichtmodule) it is selected like any other module.
#[test]
fn erfurt_ba_2012_22_3_the_bachelor_thesis_counts_first() {
    let modules = || {
        vec![
            m("M1", "10", "1.0", true),
            json!({"id": "BA", "lp": "10", "grade": "3.0", "mandatory": false, "thesis": true}),
            m("E1", "10", "1.0", false),
        ]
    };
    let r = run(weighted("erfurt-ba-2012", vec![part("P", "20", modules())]));
    assert_eq!(r.result["parts"][0]["counted"], json!(["M1", "BA"]));
    assert_eq!(r.result["final"]["value"], json!("2.00"));
    let r = run(weighted("erfurt-ba-2019", vec![part("P", "20", modules())]));
    assert_eq!(r.result["parts"][0]["counted"], json!(["M1", "E1"]));
    let e = fail(weighted(
        "erfurt-ba-2012",
        vec![part(
            "P",
            "1",
            vec![
                json!({"id": "BA", "lp": "1", "grade": "1.0", "mandatory": false, "thesis": "yes"}),
            ],
        )],
    ));
    assert!(
        e.to_string().starts_with("parts[0].modules[0].thesis"),
        "{e}"
    );
}

/// Erfurt Magister-PO 2009 § 27 Abs. 3, 4, 6 and Anlage 2: 48 PP course
/// exams, 24 PP thesis, 48 PP partial final exams (40/20/40); one decimal,
/// the second struck.
#[test]
fn erfurt_magister_2009_27_4_weights_48_24_48() {
    let input = json!({"ruleset": "erfurt-magister-2009", "parts": [
        part("modules", "48", vec![m("L1", "24", "1.0", true), m("L2", "24", "2.0", true), m("L3", "24", "3.0", false)]),
        part("thesis", "24", vec![m("MA", "24", "2.3", true)]),
        part("final_exams", "48", vec![m("A1", "24", "1.3", true), m("A2", "24", "1.7", true)]),
    ]});
    let r = run(input);
    // modules: L3 is not needed (mandatory 48 PP reach 48): (24 + 48)/48 = 1.5
    // final exams: (31.2 + 40.8)/48 = 1.5; final: (48·1.5 + 24·2.3 + 48·1.5)/120
    // = (72 + 55.2 + 72)/120 = 199.2/120 = 1.66 → "1,6"
    assert_eq!(r.result["parts"][0]["counted"], json!(["L1", "L2"]));
    assert_eq!(
        final_of(&r),
        ("1.66".into(), "1,6".into(), "1.6".into(), "gut".into())
    );
    // the 2021 Magister weighs the thesis 96 of 240 (40 %) with other part names
    let e = fail(json!({"ruleset": "erfurt-magister", "parts": [
        part("modules", "48", vec![m("L1", "48", "1.0", true)]),
        part("thesis", "24", vec![m("MA", "24", "2.3", true)]),
        part("final_exams", "48", vec![m("A1", "48", "1.3", true)]),
    ]}));
    assert!(e.to_string().contains("final_exams"), "{e}");
}

fn mc_items(ruleset: &str, pass: Option<&str>, items: Value, candidates: Value) -> Value {
    let mut v = json!({"ruleset": ruleset, "items": items, "candidates": candidates});
    if let Some(p) = pass {
        v["pass_mark"] = json!(p);
    }
    v
}

/// Erfurt Anlage MC Buchstabe d, g, l: per-item answers are scored by the
/// engine: the weight only for exactly the key's marks, else 0; an
/// eliminated item counts for no one and shrinks G.
#[test]
fn erfurt_mc_d_g_l_per_item_answers() {
    let items = json!([
        {"id": "Q1", "points": "2", "key": ["A", "C"]},
        {"id": "Q2", "points": "1", "key": ["B"]},
        {"id": "Q3", "points": "1", "key": ["D"], "eliminated": true},
        {"id": "Q4", "points": "4"}
    ]);
    let candidates = json!([
        {"id": "exact", "answers": {"Q1": ["C", "A"], "Q2": ["B"], "Q3": ["D"], "Q4": "4"}},
        {"id": "partial", "answers": {"Q1": ["A"], "Q2": ["B", "C"], "Q4": "2.5"}},
        {"id": "blank", "answers": {}}
    ]);
    let r = run(mc_items("erfurt-mc", Some("3"), items.clone(), candidates));
    let c = r.result["candidates"].as_array().unwrap();
    // G = 8 − 1 = 7; exact: 2 + 1 + 4 = 7 (Q3 eliminated); partial: 0 + 0 + 2.5
    assert_eq!(c[0]["points"], json!("7"));
    assert_eq!(c[1]["points"], json!("2.5"));
    assert_eq!(c[2]["points"], json!("0"));
    // median 2.5 <= M 3: M' = 3 x 7 / 7 = 3 with the corrected G = 7
    assert_eq!(r.result["pass_mark"], json!("3"));
    assert!(
        r.result["pass_mark_rule"]
            .as_str()
            .unwrap()
            .contains("3 x 7 / 7"),
        "{}",
        r.result["pass_mark_rule"]
    );
    // points above an item's maximum, unknown items and totals beside items are refused
    let bad = [
        (
            json!([{"id": "x", "answers": {"Q4": "5"}}]),
            "candidates[0].answers.Q4",
        ),
        (
            json!([{"id": "x", "answers": {"Q9": ["A"]}}]),
            "candidates[0].answers.Q9",
        ),
        (
            json!([{"id": "x", "points": "3", "answers": {}}]),
            "candidates[0].points",
        ),
        (
            json!([{"id": "x", "answers": {"Q4": ["A"]}}]),
            "candidates[0].answers.Q4",
        ),
    ];
    for (cands, field) in bad {
        let e = fail(mc_items("erfurt-mc", Some("3"), items.clone(), cands));
        assert!(e.to_string().starts_with(field), "{field}: {e}");
    }
    let mut with_max = mc_items(
        "erfurt-mc",
        Some("3"),
        items,
        json!([{"id": "x", "answers": {}}]),
    );
    with_max["max_points"] = json!("8");
    assert!(fail(with_max).to_string().starts_with("max_points"));
}

/// DigiPrüfO Bremen Anlage 3 Abs. 1 Satz 6: deductions within a task, never
/// below zero and never into another task; Abs. 5: eliminated items.
#[test]
fn bremen_anlage_3_1_deductions_within_a_task_never_below_zero() {
    let items = json!([
        {"id": "Q1", "points": "2", "key": ["A", "B"]},
        {"id": "Q2", "points": "3", "key": ["A", "B", "C"], "mark_points": "1"},
        {"id": "Q3", "points": "5"}
    ]);
    let candidates = json!([
        // Q1: 2 right → 2; Q2: 2 right 1 wrong → 1; Q3: 5 → 8
        {"id": "a", "answers": {"Q1": ["A", "B"], "Q2": ["A", "B", "D"], "Q3": "5"}},
        // Q1: 0 right 2 wrong → −2 floored to 0 (not taken from Q2); Q2: 3 → 3; Q3: −1 → 0
        {"id": "b", "answers": {"Q1": ["C", "D"], "Q2": ["A", "B", "C"], "Q3": "-1"}},
    ]);
    let r = run(mc_items("bremen-mc-2021", None, items.clone(), candidates));
    let c = r.result["candidates"].as_array().unwrap();
    assert_eq!(c[0]["points"], json!("8"));
    assert_eq!(c[1]["points"], json!("3"));
    // 3 points: mark points of an item with 3 correct marks of 2 points is not exact
    let e = fail(mc_items(
        "bremen-mc-2021",
        None,
        json!([{"id": "Q", "points": "2", "key": ["A", "B", "C"]}]),
        json!([{"id": "x", "answers": {}}]),
    ));
    assert!(e.to_string().starts_with("items[0].mark_points"), "{e}");
    // more than 20 % of the points eliminated through items: repeat
    let r = run(mc_items(
        "bremen-mc-2021",
        None,
        json!([{"id": "Q1", "points": "3", "key": ["A"], "eliminated": true}, {"id": "Q2", "points": "7"}]),
        json!([{"id": "x", "answers": {"Q2": "7"}}]),
    ));
    assert_eq!(r.result["repeat_required"], json!(true));
}

/// ZertO Potsdam § 9 Abs. 3 Satz 1: 0.9 × the first-attempt mean is exact.
/// First-attempt totals six × 10 and 11: mean 71/7, 0.9 × 71/7 =
/// 9.128571…; v1 cut it to 9.1285, which passed a repeater with 9.12855.
#[test]
fn potsdam_zerto_9_3_relative_pass_mark_is_exact() {
    let mut cands: Vec<Value> = (0..6)
        .map(|i| json!({"id": format!("f{i}"), "points": "10", "first_attempt": true}))
        .collect();
    cands.push(json!({"id": "f6", "points": "11", "first_attempt": true}));
    cands.push(json!({"id": "x", "points": "9.12855", "first_attempt": false}));
    cands.push(json!({"id": "y", "points": "9.1286", "first_attempt": false}));
    let r = run(json!({"ruleset": "potsdam-mc-2025", "max_points": "100", "candidates": cands}));
    assert_eq!(r.result["pass_mark"], json!("9.128571"));
    assert_eq!(r.result["pass_mark_fraction"], json!("63.9/7"));
    assert_eq!(grades_of(&r)[7..], ["5.0", "4.0"]);
    // v1 (cut after four places) passed x: the old rule set is still there to replay it
    let v1 = super::ruleset::find("ruleset", "potsdam-mc-2025@1").unwrap();
    let mut input = json!({"ruleset": "potsdam-mc-2025", "max_points": "100"});
    input["candidates"] = r.result["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!({"id": c["id"], "points": c["points"], "first_attempt": !c["id"].as_str().unwrap().starts_with(['x', 'y'])}))
        .collect();
    let old = super::evaluate::evaluate(v1, &input, false).unwrap();
    assert_eq!(old.result["pass_mark"], json!("9.1285"));
    // Bremen: 0.85 × 31/3 is not a finite decimal: the fraction is reported
    let r = run(mc("bremen-mc-2021", "100", None, None, &["10", "10", "11"]));
    assert_eq!(r.result["pass_mark"], json!("8.783333"));
    assert_eq!(r.result["pass_mark_fraction"], json!("26.35/3"));
}

/// Every v2 rule set documents every step the engine reports for it with a
/// citation; a step left out or unknown is refused when the file loads.
#[test]
fn every_step_is_cited_and_a_missing_citation_is_refused() {
    for rs in super::ruleset::shipped().unwrap() {
        let needed = super::ruleset::steps_used(&rs.rule, &rs.scale);
        let documented: Vec<&str> = rs.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(documented.len(), needed.len(), "{}", rs.meta.id);
        for n in &needed {
            assert!(documented.contains(n), "{}: {n}", rs.meta.id);
        }
        assert!(
            rs.steps.iter().all(|s| !s.cites.is_empty()),
            "{}",
            rs.meta.id
        );
    }
    let rs = super::ruleset::find("ruleset", "potsdam-scale-2025").unwrap();
    let without_pass = rs
        .meta
        .canonical_text
        .replacen("id = \"pass\"", "id = \"passing\"", 1);
    let e = super::ruleset::load("potsdam-scale-2025", &without_pass).unwrap_err();
    assert!(e.to_string().contains("\"passing\" is not a step"), "{e}");
}

/// Old records keep their rule set: every v1 text is still embedded under
/// `<id>@1`, hashes to what v1 grade records name, and differs from v2.
#[test]
fn earlier_versions_stay_loadable_by_id_and_version_and_by_hash() {
    for old in super::ruleset::history().unwrap() {
        let cur = super::ruleset::find("ruleset", &old.meta.id).unwrap();
        assert_ne!(old.meta.hash, cur.meta.hash, "{}", old.meta.id);
        assert!(old.meta.version < cur.meta.version);
        let by_name =
            super::ruleset::find("ruleset", &format!("{}@{}", old.meta.id, old.meta.version))
                .unwrap();
        assert_eq!(by_name.meta.hash, old.meta.hash);
        assert_eq!(
            super::ruleset::by_hash(&old.meta.hash)
                .unwrap()
                .unwrap()
                .meta
                .hash,
            old.meta.hash
        );
    }
    // v1 of potsdam-scale-2025 (hash pinned: what the ledger recorded) still computes
    let v1 = super::ruleset::find("ruleset", "potsdam-scale-2025@1").unwrap();
    assert_eq!(
        v1.meta.hash,
        blake3::hash(include_bytes!(
            "../../rulesets/history/potsdam-scale-2025@1.toml"
        ))
        .to_hex()
        .to_string()
    );
}

/// Exact mean of a weighted input where every module counts.
fn exact_mean(modules: &[(usize, u32)], scale: &[&str]) -> (Decimal, Decimal) {
    let mut num = Decimal::ZERO;
    let mut den = Decimal::ZERO;
    for &(g, lp) in modules {
        num += Decimal::from_str_exact(scale[g]).unwrap() * Decimal::from(lp);
        den += Decimal::from(lp);
    }
    (num, den)
}

const FULL_SCALE: [&str; 11] = [
    "1.0", "1.3", "1.7", "2.0", "2.3", "2.7", "3.0", "3.3", "3.7", "4.0", "5.0",
];

proptest! {
    /// Issue 12, over every shipped weighted rule set: the displayed grade is
    /// never better than the pass limit when the exact mean is worse, and
    /// never worse when it is better (or equal); word, letter and `passed`
    /// agree with it. Every module counts (required = all LP, all mandatory),
    /// so the exact mean is known here independently of the selection.
    #[test]
    fn weighted_display_never_crosses_the_pass_limit(
        modules in prop::collection::vec((0usize..11, 1u32..31), 1..8),
    ) {
        let limit = Decimal::from_str_exact("4.0").unwrap();
        for rs in super::ruleset::shipped().unwrap() {
            let super::ruleset::Rule::Weighted(w) = &rs.rule else { continue };
            let scale_input = w.input_grades == super::ruleset::InputGrades::Scale;
            // passing-range rule sets admit only 1.0 … 4.0
            let mods: Vec<(usize, u32)> = modules
                .iter()
                .map(|&(g, lp)| (if scale_input { g } else { g.min(9) }, lp))
                .collect();
            let (num, den) = exact_mean(&mods, &FULL_SCALE);
            let lp_total: u32 = mods.iter().map(|m| m.1).sum();
            let module_json: Vec<Value> = mods
                .iter()
                .enumerate()
                .map(|(i, &(g, lp))| m(&format!("M{i}"), &lp.to_string(), FULL_SCALE[g], true))
                .collect();
            let parts = match &w.combine {
                super::ruleset::Combine::Pooled => vec![part("P", &lp_total.to_string(), module_json)],
                super::ruleset::Combine::PartWeights(ws) => ws
                    .iter()
                    .map(|(id, _)| part(id, &lp_total.to_string(), module_json.iter().enumerate()
                        .map(|(i, v)| { let mut v = v.clone(); v["id"] = json!(format!("{id}{i}")); v })
                        .collect()))
                    .collect(),
            };
            // with fixed part weights every part has the same modules, so the
            // final exact mean is the same as one part's
            let r = run(weighted(&rs.meta.id, parts));
            let f = &r.result["final"];
            let shown = Decimal::from_str_exact(f["display_en"].as_str().unwrap()).unwrap();
            let worse = num > limit * den;
            if worse {
                prop_assert!(shown > limit, "{}: exact {}/{} shown {}", rs.meta.id, num, den, shown);
                prop_assert_eq!(&f["passed"], &json!(false));
                prop_assert_eq!(&f["word_de"], &json!("nicht ausreichend"));
                if rs.scale.has_letters() {
                    prop_assert_eq!(&f["letter"], &json!("F"));
                }
            } else {
                prop_assert!(shown <= limit, "{}: exact {}/{} shown {}", rs.meta.id, num, den, shown);
                prop_assert_eq!(&f["passed"], &json!(true));
                prop_assert_ne!(&f["word_de"], &json!("nicht ausreichend"));
            }
        }
    }

    /// Issue 12 for the examiners rule: a failing exact mean of the grades
    /// that count is never a passing grade, a passing one never a failing.
    #[test]
    fn examiners_grade_never_crosses_the_pass_limit(
        grades in prop::collection::vec(0usize..11, 2..6),
        third in 0usize..11,
    ) {
        let gs: Vec<&str> = grades.iter().map(|&g| FULL_SCALE[g]).collect();
        let mut input = json!({"ruleset": "potsdam-examiners-2025", "grades": gs});
        let needs_third = gs.len() == 2 && gs.contains(&"5.0");
        if needs_third {
            input["third"] = json!(FULL_SCALE[third]);
        }
        let r = run(input);
        let used: Vec<Decimal> = r.result["grades_used"].as_array().unwrap().iter()
            .map(|g| Decimal::from_str_exact(g.as_str().unwrap()).unwrap()).collect();
        let grade = Decimal::from_str_exact(r.result["grade"].as_str().unwrap()).unwrap();
        let limit = Decimal::from_str_exact("4.0").unwrap();
        let sum: Decimal = used.iter().copied().sum();
        // § 9 Abs. 9 Nr. 3: two of the three (with a third examiner) fail → 5.0
        let two_of_three_fail = needs_third && used.iter().filter(|&&g| g > limit).count() >= 2;
        if two_of_three_fail || sum > limit * Decimal::from(used.len()) {
            prop_assert!(grade > limit);
            prop_assert_eq!(&r.result["passed"], &json!(false));
        } else {
            prop_assert!(grade <= limit);
            prop_assert_eq!(&r.result["passed"], &json!(true));
        }
    }

    /// Issue 12 for every MC rule set: a candidate below the applied pass
    /// mark (compared exactly, with the fraction where there is one) gets the
    /// failing grade; one at or above it a passing grade.
    #[test]
    fn mc_grade_follows_the_exact_pass_mark(
        points in prop::collection::vec(0u32..=200, 1..12),
        preset in 1u32..100,
    ) {
        for id in ["erfurt-mc", "bremen-mc-2021", "potsdam-mc-2025"] {
            let cands: Vec<Value> = points.iter().enumerate().map(|(i, p)| json!({
                "id": format!("c{i}"),
                "points": Decimal::new(i64::from(*p), 1).to_string(),
                "first_attempt": i % 2 == 0,
            })).collect();
            let mut input = json!({"ruleset": id, "max_points": "20", "candidates": cands});
            if id == "erfurt-mc" {
                input["pass_mark"] = json!(Decimal::new(i64::from(preset), 1).min(Decimal::from(20)).to_string());
            }
            let r = run(input);
            let (pn, pd) = match r.result["pass_mark_fraction"].as_str() {
                Some(f) => {
                    let (n, d) = f.split_once('/').unwrap();
                    (Decimal::from_str_exact(n).unwrap(), Decimal::from_str_exact(d).unwrap())
                }
                None => (Decimal::from_str_exact(r.result["pass_mark"].as_str().unwrap()).unwrap(), Decimal::ONE),
            };
            for c in r.result["candidates"].as_array().unwrap() {
                let p = Decimal::from_str_exact(c["points"].as_str().unwrap()).unwrap();
                let g = Decimal::from_str_exact(c["grade"].as_str().unwrap()).unwrap();
                let passes = p * pd >= pn;
                prop_assert_eq!(&c["passed"], &json!(passes), "{} {}", id, p);
                prop_assert_eq!(g <= Decimal::from_str_exact("4.0").unwrap(), passes, "{} {}", id, p);
            }
        }
    }
}
