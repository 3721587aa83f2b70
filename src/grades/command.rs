//! `zeugnis grade`: reads the input file, runs the engine and renders the
//! JSON record, the human-readable report or the list of rule sets.
//!
//! This is the grade engine's only I/O edge (reading one input file, with a
//! size limit). It must not compute grades itself and must not print: it
//! returns the text, and `cli` prints it and maps errors to exit codes.

use super::error::GradeError;
use super::evaluate::TraceLine;
use super::ruleset::Ruleset;
use super::{evaluate_with, input, ruleset, GradeRecord};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

/// Largest input file accepted.
pub const INPUT_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// `zeugnis grade`: returns the text to print on success.
///
/// - `list`: the shipped rule sets with version, kind, hash and citation
///   (as a JSON array with `json`).
/// - otherwise `input` is required; the rule set is `ruleset` or the input's
///   `ruleset` field (both given: they must agree). With `json` the output
///   is `{"ruleset", "ruleset_hash", "kind", "result"}` on one line,
///   otherwise a report of every intermediate step.
pub fn grade_command(
    ruleset: Option<&str>,
    input: Option<&Path>,
    out: GradeOutput,
) -> Result<String, GradeError> {
    let GradeOutput {
        json,
        list,
        explain,
    } = out;
    if list {
        return list_rulesets(json, explain);
    }
    if explain && input.is_none() {
        if let Some(id) = ruleset {
            return Ok(steps_text(ruleset::find("--ruleset", id)?));
        }
    }
    let path = input.ok_or_else(|| GradeError::MissingArgument {
        argument: "--input FILE.json".into(),
        hint:
            "; or use --list to see the rule sets, or --explain --ruleset ID for a rule set's steps"
                .into(),
    })?;
    let value = read_input(path)?;
    let id = match (ruleset, input::ruleset_id(&value)?) {
        (Some(arg), Some(inp)) if arg != inp => {
            return Err(GradeError::RulesetMismatch {
                argument: arg.to_string(),
                input: inp.to_string(),
            })
        }
        (Some(arg), _) => {
            // The id must be known even if the input names none.
            ruleset::find("--ruleset", arg)?;
            arg.to_string()
        }
        (None, Some(inp)) => inp.to_string(),
        (None, None) => {
            return Err(GradeError::MissingArgument {
                argument: "--ruleset ID".into(),
                hint: "; or a \"ruleset\" field in the input".into(),
            })
        }
    };
    let (record, trace) = evaluate_with(&id, &value, !json)?;
    if json {
        let mut out = serde_json::to_string(&record).map_err(|e| GradeError::Ruleset {
            id: id.clone(),
            reason: format!("cannot serialise the result: {e}"),
        })?;
        out.push('\n');
        return Ok(out);
    }
    let rs = ruleset::find("ruleset", &id)?;
    Ok(report(&record, rs, &trace, explain))
}

/// What `zeugnis grade` prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradeOutput {
    /// `{"ruleset", "ruleset_hash", "kind", "result"}` on one line.
    pub json: bool,
    /// The shipped rule sets instead of a grade.
    pub list: bool,
    /// Per step, the sentence of the regulation it implements.
    pub explain: bool,
}

/// A rule set's steps with what each implements, readings marked.
pub fn steps_text(rs: &Ruleset) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} v{} ({}), blake3:{}",
        rs.meta.id, rs.meta.version, rs.meta.kind, rs.meta.hash
    );
    let _ = writeln!(out, "  {}", rs.meta.citation);
    if rs.steps.is_empty() {
        let _ = writeln!(
            out,
            "  readings (version-1 rule set, no per-step citations):"
        );
        for r in &rs.readings {
            let _ = writeln!(out, "  - {r}");
        }
        return out;
    }
    for s in &rs.steps {
        let _ = writeln!(out, "  [{}] {}", s.id, step_header(s));
        let _ = writeln!(out, "      {}", s.does);
        if let Some(why) = &s.reading {
            let _ = writeln!(out, "      why this reading: {why}");
        }
    }
    out
}

fn step_header(s: &ruleset::Step) -> String {
    match &s.reading {
        Some(_) => format!("READING (the text is silent or ambiguous): {}", s.cites),
        None => format!("text: {}", s.cites),
    }
}

fn read_input(path: &Path) -> Result<Value, GradeError> {
    let read_err = |source| GradeError::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut text = String::new();
    file.take(INPUT_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > INPUT_BYTES_MAX {
        return Err(GradeError::ParseInput {
            path: path.to_path_buf(),
            reason: format!("input is larger than {INPUT_BYTES_MAX} bytes"),
        });
    }
    serde_json::from_str(&text).map_err(|e| GradeError::ParseInput {
        path: path.to_path_buf(),
        reason: format!("not valid JSON: {e}"),
    })
}

fn list_rulesets(json: bool, explain: bool) -> Result<String, GradeError> {
    let all = ruleset::shipped()?;
    if explain && !json {
        return Ok(all.iter().map(steps_text).collect::<Vec<_>>().join("\n"));
    }
    if json {
        let items: Vec<Value> = all
            .iter()
            .map(|r| {
                json!({
                    "id": r.meta.id,
                    "version": r.meta.version,
                    "kind": r.meta.kind,
                    "hash": r.meta.hash,
                    "citation": r.meta.citation,
                    "steps": r.steps.iter().map(|s| json!({
                        "id": s.id,
                        "cites": s.cites,
                        "does": s.does,
                        "reading": s.reading,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return Ok(format!("{}\n", Value::Array(items)));
    }
    let mut out = String::new();
    for r in all {
        let _ = writeln!(
            out,
            "{:<24} v{}  {:<9}  blake3:{}",
            r.meta.id, r.meta.version, r.meta.kind, r.meta.hash
        );
        let _ = writeln!(out, "    {}", r.meta.citation);
    }
    Ok(out)
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "-".into(),
    }
}

fn report(record: &GradeRecord, rs: &Ruleset, trace: &[TraceLine], explain: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rule set  {} (version {}, kind {})",
        record.ruleset, rs.meta.version, record.kind
    );
    let _ = writeln!(out, "hash      blake3:{}", record.ruleset_hash);
    let _ = writeln!(out, "citation  {}", rs.meta.citation);
    let _ = writeln!(out);
    let mut current = "";
    for line in trace {
        if explain && line.step != current {
            current = line.step;
            match rs.steps.iter().find(|s| s.id == line.step) {
                Some(s) => {
                    let _ = writeln!(out, "[{}] {}", s.id, step_header(s));
                }
                None => {
                    let _ = writeln!(out, "[{}]", line.step);
                }
            }
        }
        if explain {
            let _ = writeln!(out, "    {}", line.text);
        } else {
            let _ = writeln!(out, "{:<10} {}", format!("[{}]", line.step), line.text);
        }
    }
    if explain {
        let readings: Vec<&ruleset::Step> =
            rs.steps.iter().filter(|s| s.reading.is_some()).collect();
        if !readings.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "readings this rule set relies on:");
            for s in readings {
                let _ = writeln!(
                    out,
                    "  [{}] {} -- {}",
                    s.id,
                    s.does,
                    s.reading.as_deref().unwrap_or_default()
                );
            }
        }
    }
    let _ = writeln!(out);
    let r = &record.result;
    match record.kind.as_str() {
        "weighted" => {
            let f = &r["final"];
            let letter = f
                .get("letter")
                .and_then(Value::as_str)
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "final grade  {} / {}{}  {} / {}",
                text(f, "display_de"),
                text(f, "display_en"),
                letter,
                text(f, "word_de"),
                text(f, "word_en")
            );
        }
        "examiners" => {
            if r["needs_third_examiner"] == json!(true) {
                let _ = writeln!(out, "result  a third examiner is needed; no grade yet");
            } else {
                let letter = r.get("letter").and_then(Value::as_str).unwrap_or("-");
                let _ = writeln!(
                    out,
                    "grade  {} ({})  {} / {}",
                    text(r, "grade"),
                    letter,
                    text(r, "word_de"),
                    text(r, "word_en")
                );
            }
        }
        _ => {
            if r["repeat_required"] == json!(true) {
                let _ = writeln!(out, "result  the exam must be repeated");
            } else {
                let cands = r["candidates"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let passed = cands.iter().filter(|c| c["passed"] == json!(true)).count();
                let _ = writeln!(
                    out,
                    "pass mark  {}; {} of {} candidates passed",
                    text(r, "pass_mark"),
                    passed,
                    cands.len()
                );
            }
        }
    }
    out
}
