//! `continuo judge` on the piano fixtures (tests/fixtures/piano), run as a user runs it: the
//! piano step model keeps the bass of real piano music where the round-1 chorale model lost it,
//! and the report is reproducible.

use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn judge(model: &str, extra: &[&str]) -> serde_json::Value {
    let piano = format!("{ROOT}/tests/fixtures/piano");
    let chorales = format!("{ROOT}/tests/fixtures");
    let model = format!("{ROOT}/models/{model}");
    let mut args = vec![
        "judge",
        "--model",
        &model,
        "--data",
        &piano,
        "--train-data",
        &chorales,
        "--prompts",
        "12",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out: Output = Command::new(env!("CARGO_BIN_EXE_continuo"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "continuo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("judge --json prints JSON")
}

fn f(v: &serde_json::Value, set: &str, field: &str) -> f64 {
    v[set][field]
        .as_f64()
        .unwrap_or_else(|| panic!("{set}.{field} in {v}"))
}

#[test]
fn the_piano_model_keeps_the_bass_the_chorale_model_lost() {
    let step = judge("piano-step.safetensors", &[]);
    let chorale = judge("chorale-seed.safetensors", &[]);
    assert_eq!(step["cuts"].as_array().unwrap().len(), 12);
    // The real continuations are the same music for both models.
    assert_eq!(step["real"], chorale["real"]);
    let real_bass = f(&step, "real", "bass_share");
    assert!(real_bass > 0.3, "the fixtures have a bass: {real_bass}");
    let step_bass = f(&step, "model", "bass_share");
    let chorale_bass = f(&chorale, "model", "bass_share");
    assert!(
        (step_bass - real_bass).abs() <= 0.25 * real_bass,
        "piano step model: bass on {step_bass:.3} of steps, the real music {real_bass:.3}"
    );
    assert!(
        chorale_bass < 0.75 * real_bass,
        "the chorale model was expected to lose the bass: {chorale_bass:.3} vs {real_bass:.3}"
    );
    // The texture stays chords, not one wandering line.
    let step_single = f(&step, "model", "single_share");
    let chorale_single = f(&chorale, "model", "single_share");
    assert!(
        step_single < chorale_single,
        "{step_single} vs {chorale_single}"
    );
    for v in [&step, &chorale] {
        for set in ["model", "real"] {
            for field in [
                "bass_share",
                "single_share",
                "same_key_share",
                "pitch_class_similarity",
            ] {
                let x = f(v, set, field);
                assert!((0.0..=1.0).contains(&x), "{set}.{field} = {x}");
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let a = judge("piano-step.safetensors", &["--seed", "7"]);
    let b = judge("piano-step.safetensors", &["--seed", "7"]);
    let c = judge("piano-step.safetensors", &["--seed", "8"]);
    assert_eq!(a, b);
    assert_ne!(a["model"], c["model"]);
    assert_eq!(a["real"], c["real"]);
}
