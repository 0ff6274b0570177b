//! The step model on the polyphonic-music benchmark (Boulanger-Lewandowski et al. 2012), run as
//! anyone checking the table would: `continuo train --kind step --benchmark`, `continuo eval
//! --benchmark --split test --json`, `continuo info`. The fixture is a slice of the JSB chorale
//! set (its first 4 train, 2 valid and 2 test pieces, tests/fixtures/boulanger2012); the full
//! sets in ../shared are checked when present.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use continuo::model::file::TrainingSummary;
use continuo::model::step::{self, Config, StepMeta, StepNetwork, KEYS};
use continuo::roll::Grid;

const SLICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/boulanger2012/JSB_Chorales.json"
);

fn continuo(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_continuo"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "continuo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// Trains a tiny binary model (input 8, hidden 12, decoder 8, one thread) on the slice into
/// `model`, with `settings` added.
fn train_tiny(model: &str, settings: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--kind",
        "step",
        "--benchmark",
        SLICE,
        "-o",
        model,
        "--input",
        "8",
        "--hidden",
        "12",
        "--decoder",
        "8",
        "--threads",
        "1",
    ];
    args.extend_from_slice(settings);
    continuo(&args)
}

fn tiny_config() -> Config {
    Config {
        steps_per_beat: 1,
        input: 8,
        hidden: 12,
        decoder: 8,
        prev_span: 3,
        below_span: 3,
        dropout: 0.0,
        binary: true,
    }
}

/// The logit of "on" minus that of "off" the tiny model below gives key `k`.
fn on_logit(k: usize) -> f64 {
    (k as f64 - 44.0) / 20.0
}

/// A binary model whose every weight is zero but the decoder's direct biases: its running state
/// stays 0 (a GRU with zero weights keeps a zero state), so every key's logits are those biases
/// whatever was heard, and a frame's probability is a product over the keys that can be worked
/// out by hand. "Held" gets a large bias: a binary model must never give it probability.
fn write_bias_only_model(path: &Path) {
    let config = tiny_config();
    let varmap = VarMap::new();
    StepNetwork::new(
        &config,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let t = var.as_tensor();
        let value = if name == "decoder.direct.bias" {
            let b: Vec<f32> = (0..KEYS * 3)
                .map(|i| match i % 3 {
                    0 => 0.0,
                    1 => 5.0,
                    _ => on_logit(i / 3) as f32,
                })
                .collect();
            Tensor::from_vec(b, t.shape(), &Device::Cpu).unwrap()
        } else {
            t.zeros_like().unwrap()
        };
        named.push((name.clone(), value));
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = StepMeta {
        config,
        grid: Grid {
            steps_per_beat: 1,
            onsets: true,
        },
        summary: TrainingSummary::default(),
        benchmark: Some("hand".into()),
    };
    std::fs::write(path, step::encode(&meta, &named, &HashMap::new()).unwrap()).unwrap();
}

/// `eval --benchmark` scores a 2-frame piece exactly as the hand-computed likelihood: each key on
/// with probability σ(on_logit), independently, first frame included.
#[test]
fn eval_benchmark_scores_a_two_frame_piece_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bias.safetensors");
    write_bias_only_model(&model);
    let frames: [&[u8]; 2] = [&[48, 60, 64, 67], &[21, 60, 108]];
    let set = dir.path().join("Hand.json");
    std::fs::write(
        &set,
        format!(
            r#"{{"train": [[[60]]], "valid": [], "test": [[{:?}, {:?}]]}}"#,
            frames[0], frames[1]
        ),
    )
    .unwrap();
    let report = json(&continuo(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--benchmark",
        set.to_str().unwrap(),
        "--split",
        "test",
        "--json",
    ]));
    let mut nll = 0f64;
    for frame in frames {
        for k in 0..KEYS {
            let on = frame.contains(&(21 + k as u8));
            let x = if on { on_logit(k) } else { -on_logit(k) };
            nll += (1.0 + (-x).exp()).ln(); // −ln σ(x)
        }
    }
    let expected = nll / 2.0;
    let got = report["nll_per_frame"].as_f64().unwrap();
    assert_eq!(report["frames"], 2);
    assert_eq!(report["pieces"], 1);
    assert_eq!(report["set"], "Hand");
    assert_eq!(report["first_frames_included"], true);
    assert!(
        (got - expected).abs() < 1e-4,
        "nll_per_frame {got}, by hand {expected}"
    );
    // The Markov chain beside it, fitted on the one-frame train piece (key 60 on once after
    // silence): worked out by hand too, add-0.5 on and off.
    let markov = report["markov"]["nll_per_step"].as_f64().unwrap();
    let (p_on_after_off_60, p_on_after_off) = (1.5 / 2.0, 0.5 / 2.0);
    let mut by_hand = 0f64;
    let mut prev = [false; KEYS];
    for frame in frames {
        for k in 0..KEYS {
            let on = frame.contains(&(21 + k as u8));
            let p = if prev[k] {
                0.5 // never seen after "on": add-0.5 over two states
            } else if k == 60 - 21 {
                if on {
                    p_on_after_off_60
                } else {
                    1.0 - p_on_after_off_60
                }
            } else if on {
                p_on_after_off
            } else {
                1.0 - p_on_after_off
            };
            by_hand -= f64::ln(p);
            prev[k] = on;
        }
    }
    assert!(
        (markov - by_hand / 2.0).abs() < 1e-9,
        "markov {markov}, by hand {}",
        by_hand / 2.0
    );
}

/// A model of held and struck keys is refused: it cannot be scored on on/off frames.
#[test]
fn eval_benchmark_refuses_a_model_that_is_not_binary() {
    let out = Command::new(env!("CARGO_BIN_EXE_continuo"))
        .args(["eval", "--benchmark", SLICE, "--split", "test"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a binary step model"), "{err}");
}

/// Trains a tiny binary model on the slice of the train split for a few epochs: the epoch is
/// chosen on valid, the model learns (valid NLL falls, and test NLL is far below the uniform 88 ln
/// 2), `eval --benchmark` counts every test frame, and `info` names the set.
#[test]
fn trains_a_tiny_binary_model_on_a_slice_of_the_train_split() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("jsb.safetensors");
    let m = model.to_str().unwrap();
    train_tiny(
        m,
        &[
            "--epochs",
            "6",
            "--batch",
            "2",
            "--lr",
            "0.01",
            "--prev-span",
            "3",
            "--below-span",
            "3",
        ],
    );
    let csv = std::fs::read_to_string(dir.path().join("jsb.csv")).unwrap();
    let val: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(val.len(), 6, "{csv}");
    assert!(val[5] < val[0], "valid NLL did not fall: {val:?}");
    let report = json(&continuo(&[
        "eval",
        "--model",
        m,
        "--benchmark",
        SLICE,
        "--split",
        "test",
        "--json",
    ]));
    let set = continuo::model::step::benchmark::BenchmarkSet::read(Path::new(SLICE)).unwrap();
    let frames: usize = set.test.iter().map(|p| p.steps.len()).sum();
    assert_eq!(report["frames"].as_u64().unwrap() as usize, frames);
    let nll = report["nll_per_frame"].as_f64().unwrap();
    assert!(nll < 0.5 * 61.0, "test NLL {nll} is not far below uniform");
    let info = json(&continuo(&["info", "--model", m, "--json"]));
    assert_eq!(info["benchmark"], "JSB_Chorales");
    assert_eq!(info["config"]["binary"], true);
    let text = String::from_utf8_lossy(&continuo(&["info", "--model", m]).stdout).into_owned();
    assert!(text.contains("benchmark:    JSB_Chorales"), "{text}");
}

fn shared_set(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/benchmarks/boulanger2012")
        .join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} not found", path.display());
        None
    }
}

/// The full sets read as the benchmark's README says (pieces and frames per split), and the
/// per-key Markov chain fitted on train reproduces its reference points on test (8.26, 10.48).
#[test]
fn full_sets_read_with_their_frame_counts_and_markov_reference() {
    use continuo::model::baseline::KeyMarkov;
    for (name, pieces, frames, markov) in [
        (
            "Piano-midi.de.json",
            [87, 12, 25],
            [75_911, 8_540, 19_036],
            8.26,
        ),
        (
            "JSB_Chorales.json",
            [229, 76, 77],
            [13_807, 4_602, 4_725],
            10.48,
        ),
    ] {
        let Some(path) = shared_set(name) else {
            return;
        };
        let set = continuo::model::step::benchmark::BenchmarkSet::read(&path).unwrap();
        for (i, split) in [&set.train, &set.valid, &set.test].into_iter().enumerate() {
            assert_eq!(split.len(), pieces[i], "{name} split {i}");
            let n: usize = split.iter().map(|p| p.steps.len()).sum();
            assert_eq!(n, frames[i], "{name} split {i}");
        }
        let chain = KeyMarkov::fit_binary(set.train.iter().map(|p| p.steps.as_slice()), 0.5);
        let (nll, n) = chain.nll_per_step(set.test.iter().map(|p| p.steps.as_slice()));
        assert_eq!(n, frames[2]);
        assert!((nll - markov).abs() < 0.005, "{name}: Markov {nll}");
    }
}

/// `--patience N` ends training N epochs after the best held-out epoch: with a learning rate of
/// 0 the weights never change, so epoch 1 stays the best and a run of 10 epochs with patience 2
/// stops after epoch 3, its model file being epoch 1.
#[test]
fn patience_stops_training_after_epochs_without_improvement() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("still.safetensors");
    let m = model.to_str().unwrap();
    let out = train_tiny(m, &["--epochs", "10", "--patience", "2", "--lr", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stopping early"), "{err}");
    let csv = std::fs::read_to_string(dir.path().join("still.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    let info = json(&continuo(&["info", "--model", m, "--json"]));
    assert_eq!(info["summary"]["best_epoch"], 1);
}
