//! `continuo train`, `eval`, `generate` and `info`, run as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

use continuo::midi::{read_file, ReadOptions};

mod common;

use common::{chorale_folder, CHORALE_FIXTURES};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn continuo(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_continuo"))
        .args(args)
        .output()
        .unwrap();
    out
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

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

#[test]
fn generate_is_seeded_and_has_the_asked_length() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.mid"),
        dir.path().join("b.mid"),
        dir.path().join("c.mid"),
    );
    let prompt = fixture("bwv66.6.mid");
    let run = |out: &Path, seed: &str| {
        ok(&[
            "generate",
            "--model",
            "builtin:chorale-seed",
            "--prompt",
            &prompt,
            "-o",
            out.to_str().unwrap(),
            "--steps",
            "32",
            "--seed",
            seed,
            "--top-k",
            "50",
            "--device",
            "cpu",
        ])
    };
    run(&a, "4");
    run(&b, "4");
    run(&c, "5");
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same seed, same file"
    );
    assert_ne!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&c).unwrap(),
        "another seed, another file"
    );
    let song = read_file(&a, ReadOptions::default()).unwrap();
    let prompt_song = read_file(Path::new(&prompt), ReadOptions::default()).unwrap();
    assert!(!song.notes.is_empty());
    // 32 steps of 16ths = 8 beats from beat 0, in the prompt's tempo and metre.
    assert!(song
        .notes
        .iter()
        .all(|n| n.start_beats >= 0.0 && n.end_beats <= 8.0 + 1e-9));
    assert_eq!(song.time_signature, prompt_song.time_signature);
    assert!((song.tempo_bpm - prompt_song.tempo_bpm).abs() < 0.01);
    assert!(song.notes.iter().all(|n| n.velocity == 80));

    // --with-prompt: the prompt first, then the continuation after its last step.
    let d = dir.path().join("d.mid");
    ok(&[
        "generate",
        "--model",
        "builtin:chorale-seed",
        "--prompt",
        &prompt,
        "-o",
        d.to_str().unwrap(),
        "--bars",
        "1",
        "--with-prompt",
        "--velocity",
        "99",
    ]);
    let with = read_file(&d, ReadOptions::default()).unwrap();
    let prompt_end = prompt_song
        .notes
        .iter()
        .map(|n| n.end_beats)
        .fold(0.0, f64::max);
    assert!(with.notes.len() > prompt_song.notes.len());
    assert!(with
        .notes
        .iter()
        .filter(|n| n.velocity == 99)
        .all(|n| n.start_beats >= prompt_end - 0.125));
}

#[test]
fn info_describes_the_built_in_models() {
    let out = ok(&["info", "--model", "builtin:chorale-seed"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BiGRU(128)"), "{text}");
    assert!(text.contains("parameters:"));
    assert!(text.contains("vocabulary:"));
    // The default is the piano step model.
    let text = String::from_utf8_lossy(&ok(&["info"]).stdout).into_owned();
    assert!(text.contains("piano-step (built in)"), "{text}");
    assert!(text.contains("kind:         step"), "{text}");
    let text = String::from_utf8_lossy(&ok(&["info", "--model", "builtin:piano-seed"]).stdout)
        .into_owned();
    assert!(text.contains("corpus-piano"), "{text}");
    let out = continuo(&["info", "--model", "builtin:harpsichord"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("piano-step, piano-seed, chorale-seed"),
        "{err}"
    );
}

#[test]
fn eval_json_has_the_documented_keys() {
    let out = ok(&[
        "eval",
        "--model",
        "builtin:chorale-seed",
        "--data",
        chorale_folder(),
        "--baseline-data",
        chorale_folder(),
        "--json",
        "--device",
        "cpu",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["nll_per_step", "top1", "top5", "oov_rate"] {
        assert!(r[key].as_f64().unwrap().is_finite(), "{key}");
    }
    assert!(r["top5"].as_f64().unwrap() >= r["top1"].as_f64().unwrap());
    let oov = r["oov_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&oov));
    assert!(r["nll_per_step"].as_f64().unwrap() > 0.0);
    assert!(r["baselines"]["unigram"]["nll_per_step"].as_f64().unwrap() > 0.0);
    assert!(r["baselines"]["bigram"]["nll_per_step"].as_f64().unwrap() > 0.0);
    let steps: usize = CHORALE_FIXTURES
        .iter()
        .map(|f| {
            continuo::roll::notes_to_roll(
                &read_file(Path::new(&fixture(f)), ReadOptions::default())
                    .unwrap()
                    .notes,
                continuo::roll::Grid::default(),
            )
            .steps
            .len()
        })
        .sum();
    assert_eq!(r["steps"].as_u64().unwrap() as usize, steps);
}

#[test]
fn train_then_info_and_eval_on_the_held_out_piece() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.safetensors");
    let m = model.to_str().unwrap();
    ok(&[
        "train",
        "--data",
        chorale_folder(),
        "-o",
        m,
        "--epochs",
        "1",
        "--window",
        "8",
        "--hidden",
        "8",
        "--embedding",
        "8",
        "--dense",
        "8",
        "--batch",
        "64",
        "--val-fraction",
        "0.25",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]);
    for ext in ["csv", "png", "checkpoint.safetensors"] {
        assert!(model.with_extension(ext).exists(), "{ext} beside the model");
    }
    let info = ok(&["info", "--model", m]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("BiGRU(8)"));
    // Held-out evaluation: exactly the one piece the model did not see; the baselines default to
    // the three it did.
    let out = ok(&["eval", "--model", m, "--held-out", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["pieces"], 1);
    assert!(r["baselines"]["fit_steps"].as_u64().unwrap() > 0);
}

#[test]
fn a_broken_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, b"not a model at all").unwrap();
    let out = continuo(&["info", "--model", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("error:") && l.contains("broken.safetensors")),
        "{err}"
    );
}
