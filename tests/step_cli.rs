//! `continuo train --kind step`, `eval`, `generate` and `info` on a step model, run as a user
//! runs them, on the piano fixtures (tests/fixtures/piano).

use std::path::Path;
use std::process::{Command, Output};

use continuo::midi::{read_file, ReadOptions};

const PIANO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/piano");

fn continuo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_continuo"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> Output {
    let out = continuo(args);
    assert!(
        out.status.success(),
        "continuo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Trains a tiny step model for `epochs` on the fixtures into `dir/m.safetensors`.
fn train(dir: &Path, epochs: &str, resume: bool) -> Output {
    let model = dir.join("m.safetensors");
    let mut args = vec![
        "train",
        "--kind",
        "step",
        "--data",
        PIANO,
        "-o",
        model.to_str().unwrap(),
        "--epochs",
        epochs,
        "--hidden",
        "16",
        "--input",
        "8",
        "--decoder",
        "8",
        "--chunk",
        "64",
        "--batch",
        "4",
        "--val-fraction",
        "0.34",
        "--threads",
        "1",
        "--lr",
        "5e-3",
    ];
    if resume {
        args.push("--resume");
    }
    ok(&args)
}

/// Train, resume, info, eval (with the Markov baseline, held-out pieces kept out of it),
/// generate with constraints: the whole life of a step model from the command line.
#[test]
fn step_model_trains_resumes_evaluates_and_generates() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let m = model.to_str().unwrap();
    train(dir.path(), "1", false);
    assert!(model.exists());
    assert!(dir.path().join("m.checkpoint.safetensors").exists());
    let csv = std::fs::read_to_string(dir.path().join("m.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // Resuming continues from epoch 2 and the held-out NLL goes down.
    train(dir.path(), "3", true);
    let csv = std::fs::read_to_string(dir.path().join("m.csv")).unwrap();
    let val: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(val.len(), 3, "{csv}");
    assert!(val[2] < val[0], "held-out NLL did not fall: {val:?}");

    let info = text(&ok(&["info", "--model", m]));
    assert!(info.contains("kind:         step"), "{info}");
    assert!(info.contains("GRU(16)"), "{info}");
    assert!(
        !info.contains(env!("CARGO_BIN_EXE_continuo")),
        "the command names the binary's path: {info}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&ok(&["info", "--model", m, "--json"]).stdout).unwrap();
    assert_eq!(json["kind"], "step");
    // The arithmetic of the network it was trained with, by name as the tools read it.
    let config: continuo::model::step::Config =
        serde_json::from_value(json["config"].clone()).unwrap();
    let counted = continuo::model::step::StepArithmetic::of(&config);
    assert_eq!(
        json["multiply_adds_per_generated_step"].as_u64(),
        Some(counted.generated_step)
    );
    assert_eq!(
        json["multiply_adds_per_trained_step"].as_u64(),
        Some(counted.trained_step)
    );
    assert!(info.contains("multiply-adds per generated step"), "{info}");
    let held_out = json["summary"]["val_files"].as_array().unwrap().clone();
    assert_eq!(held_out.len(), 1);

    let eval: serde_json::Value = serde_json::from_slice(
        &ok(&[
            "eval",
            "--model",
            m,
            "--held-out",
            "--json",
            "--threads",
            "1",
        ])
        .stdout,
    )
    .unwrap();
    let nll = eval["nll_per_step"].as_f64().unwrap();
    let markov = eval["baselines"]["markov"]["nll_per_step"]
        .as_f64()
        .unwrap();
    assert!(nll.is_finite() && nll > 0.0, "{eval}");
    assert!(markov.is_finite() && markov > 0.0, "{eval}");
    // The baseline was fitted on the two training pieces only, even with the held-out piece in
    // --baseline-data.
    let fit = eval["baselines"]["markov"]["fit_pieces"].as_u64().unwrap();
    assert_eq!(fit, 2, "{eval}");
    let eval2: serde_json::Value = serde_json::from_slice(
        &ok(&[
            "eval",
            "--model",
            m,
            "--held-out",
            "--baseline-data",
            PIANO,
            "--json",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(
        eval2["baselines"]["markov"]["fit_pieces"].as_u64().unwrap(),
        2
    );
    let plain = text(&ok(&["eval", "--model", m, "--held-out"]));
    assert!(plain.contains("per-key Markov"), "{plain}");

    let prompt = format!("{PIANO}/bach_prelude_bwv_868.mid");
    let (a, b) = (dir.path().join("a.mid"), dir.path().join("b.mid"));
    for out in [&a, &b] {
        ok(&[
            "generate",
            "--model",
            m,
            "--prompt",
            &prompt,
            "-o",
            out.to_str().unwrap(),
            "--steps",
            "48",
            "--seed",
            "3",
            "--temperature",
            "1.5",
            "--lowest",
            "48",
            "--highest",
            "84",
            "--max-keys",
            "2",
        ]);
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let song = read_file(&a, ReadOptions::default()).unwrap();
    assert!(!song.notes.is_empty(), "a hot random model plays something");
    for n in &song.notes {
        assert!(
            (48..=84).contains(&n.pitch),
            "pitch {} outside the range",
            n.pitch
        );
    }
    // At most two keys at once: count overlaps at every note start.
    for n in &song.notes {
        let sounding = song
            .notes
            .iter()
            .filter(|o| o.start_beats <= n.start_beats && o.end_beats > n.start_beats)
            .count();
        assert!(sounding <= 2, "{sounding} notes at beat {}", n.start_beats);
    }
}

/// `train --kind` refuses a kind it does not know, naming it.
#[test]
fn unknown_kind_is_refused() {
    let out = continuo(&[
        "train",
        "--kind",
        "quantum",
        "--data",
        PIANO,
        "-o",
        "/dev/null",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("quantum"));
}
