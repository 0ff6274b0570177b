//! Learning and sampling: a tiny network memorises a chorale, `train` writes its files and
//! resumes, sampling follows the temperature, and the seed fixes the output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use continuo::model::file::{self, ModelMeta};
use continuo::model::sampler::sample;
use continuo::model::seed::data::{Encoder, Examples};
use continuo::model::seed::train::{self, ResumeChanges, TrainOptions};
use continuo::model::training::{checkpoint_path, sidecar, AdamW};
use continuo::model::{Config, Model, Network, PitchFallback, SamplingOptions, TrainingSummary};
use continuo::roll::{notes_to_roll, Grid, Vocab, VocabOptions, UNK_ID};
use rand::SeedableRng;

fn chorale(name: &str) -> Vec<continuo::roll::Chord> {
    let song =
        continuo::midi::read_file(&Path::new("tests/fixtures").join(name), Default::default())
            .unwrap();
    notes_to_roll(&song.notes, Grid::default()).steps
}

fn tiny_config(vocab: usize) -> Config {
    Config {
        vocab_size: vocab,
        window: 8,
        embedding: 12,
        hidden: 16,
        attention_width: 8,
        dense: 16,
        dropout: 0.0,
        leaky_slope: 0.3,
    }
}

#[test]
fn tiny_model_memorises_a_chorale() {
    let steps = chorale("bwv66.6.mid");
    let vocab = Vocab::build(
        &steps,
        true,
        VocabOptions {
            max_vocab: None,
            min_count: 1,
        },
    );
    let config = tiny_config(vocab.len());
    let examples = Examples::new(vec![Encoder::new(&vocab).encode(&steps)], config.window, 1);
    let (mut ctx, mut tgt) = (Vec::new(), Vec::new());
    examples.batch(0..examples.len(), &mut ctx, &mut tgt);
    let dev = Device::Cpu;
    let ids = Tensor::from_slice(&ctx, (tgt.len(), config.window), &dev).unwrap();
    let targets = Tensor::from_slice(&tgt, tgt.len(), &dev).unwrap();
    let varmap = VarMap::new();
    let net = Network::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
    let mut opt = AdamW::new(&varmap, 1e-2, 0.0, 5.0).unwrap();
    let loss_of = |net: &Network| {
        candle_nn::loss::cross_entropy(&net.forward_t(&ids, true).unwrap(), &targets).unwrap()
    };
    let first = loss_of(&net).to_scalar::<f32>().unwrap();
    let mut last = first;
    for _ in 0..300 {
        let loss = loss_of(&net);
        last = loss.to_scalar::<f32>().unwrap();
        opt.update(&loss).unwrap();
        if last < 0.05 {
            break;
        }
    }
    assert!(
        first > 2.0,
        "an untrained network should not know the chorale (loss {first})"
    );
    assert!(
        last < 0.1,
        "{} windows of one chorale not memorised: loss {first} -> {last}",
        tgt.len()
    );
}

fn copy_fixtures(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["bwv66.6.mid", "bwv281.mid", "bwv323.mid", "bwv165.6.mid"] {
        std::fs::copy(Path::new("tests/fixtures").join(f), data.join(f)).unwrap();
    }
    data
}

#[test]
fn train_writes_model_log_plot_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_fixtures(dir.path());
    let output = dir.path().join("out").join("tiny.safetensors");
    std::fs::create_dir_all(output.parent().unwrap()).unwrap();
    let mut opts = TrainOptions {
        data: vec![data],
        output: output.clone(),
        epochs: 1,
        batch: 64,
        lr: 5e-3,
        stride: 2,
        max_vocab: 300,
        transpose: 1,
        val_fraction: 0.25,
        seed: 5,
        config: tiny_config(0),
        checkpoint_minutes: 100.0,
        ..TrainOptions::default()
    };
    let report = train::train(&opts, &Device::Cpu, &AtomicBool::new(false)).unwrap();
    assert!(!report.interrupted);
    assert_eq!(report.history.len(), 1);
    for ext in ["csv", "png", "checkpoint.safetensors"] {
        assert!(sidecar(&output, ext).exists(), "{ext} missing");
    }
    let model = Model::from_file(&output, &Device::Cpu).unwrap();
    let summary = model.summary();
    assert_eq!(summary.val_files.len(), 1, "one of four pieces held out");
    assert_eq!(summary.train_files, 3);
    assert!(summary.val_loss.is_finite());
    assert_eq!(summary.best_epoch, 1);

    // Resuming continues with epoch 2 and keeps the log of epoch 1.
    opts.epochs = 2;
    opts.resume = true;
    let report = train::train(&opts, &Device::Cpu, &AtomicBool::new(false)).unwrap();
    assert_eq!(report.history.len(), 2);
    let csv = std::fs::read_to_string(sidecar(&output, "csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(report.history[1].train_loss < report.history[0].train_loss * 1.5);
}

#[test]
fn a_resumed_run_can_change_window_stride_and_transpositions() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_fixtures(dir.path());
    let output = dir.path().join("staged.safetensors");
    let mut opts = TrainOptions {
        data: vec![data],
        output: output.clone(),
        epochs: 1,
        batch: 64,
        stride: 2,
        max_vocab: 300,
        val_fraction: 0.25,
        config: tiny_config(0),
        checkpoint_minutes: 100.0,
        ..TrainOptions::default()
    };
    train::train(&opts, &Device::Cpu, &AtomicBool::new(false)).unwrap();
    let first = Model::from_file(&output, &Device::Cpu).unwrap();
    assert_eq!(first.config().window, 8);

    // Stage 2: a shorter window and transposed copies; the vocabulary and split stay.
    opts.epochs = 2;
    opts.resume = true;
    opts.changes = ResumeChanges {
        window: Some(6),
        stride: Some(3),
        transpose: Some(1),
    };
    let report = train::train(&opts, &Device::Cpu, &AtomicBool::new(false)).unwrap();
    assert_eq!(report.history.len(), 2);
    let second = Model::from_file(&output, &Device::Cpu).unwrap();
    assert_eq!(second.config().window, 6);
    assert_eq!(second.summary().stride, 3);
    assert_eq!(second.summary().transpose, 1);
    assert_eq!(second.vocab(), first.vocab());
    assert_eq!(second.summary().val_files, first.summary().val_files);
    assert_eq!(second.context_window(&[5]).len(), 6);
}

#[test]
fn interrupted_training_leaves_a_usable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_fixtures(dir.path());
    let output = dir.path().join("stop.safetensors");
    let opts = TrainOptions {
        data: vec![data],
        output: output.clone(),
        epochs: 1,
        batch: 32,
        config: tiny_config(0),
        ..TrainOptions::default()
    };
    // Ctrl-C already pressed: the run stops after its first batch.
    let report = train::train(&opts, &Device::Cpu, &AtomicBool::new(true)).unwrap();
    assert!(report.interrupted);
    // Both the checkpoint and the model file load as models.
    Model::from_file(&checkpoint_path(&output), &Device::Cpu).unwrap();
    let model = Model::from_file(&output, &Device::Cpu).unwrap();
    assert!(model.summary().epochs > 0.0 && model.summary().epochs < 1.0);
    let resumed = train::train(
        &TrainOptions {
            resume: true,
            ..opts
        },
        &Device::Cpu,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(!resumed.interrupted);
    assert_eq!(resumed.history.len(), 1);
}

fn softmax(logits: &[f32], t: f32) -> Vec<f64> {
    let w: Vec<f64> = logits.iter().map(|&l| ((l / t) as f64).exp()).collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

#[test]
fn sampling_follows_the_temperature() {
    // id 1 is UNK: it has the highest logit but must never be drawn.
    let logits = [0.0f32, 5.0, 1.0, 2.0, 0.5, -1.0];
    let allowed: Vec<usize> = vec![0, 2, 3, 4, 5];
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut scratch = Vec::new();
    let n = 40_000;
    for t in [0.5f32, 1.0, 2.0] {
        let options = SamplingOptions {
            temperature: t,
            top_k: None,
            seed: 0,
        };
        let mut counts = [0usize; 6];
        for _ in 0..n {
            counts[sample(&logits, &options, &mut rng, &mut scratch) as usize] += 1;
        }
        assert_eq!(counts[UNK_ID as usize], 0);
        let kept: Vec<f32> = allowed.iter().map(|&i| logits[i]).collect();
        let want = softmax(&kept, t);
        for (k, &i) in allowed.iter().enumerate() {
            let got = counts[i] as f64 / n as f64;
            assert!(
                (got - want[k]).abs() < 0.012,
                "T={t} id {i}: {got} vs {}",
                want[k]
            );
        }
    }
    // T → 0 is argmax; top-k keeps only the k best.
    let argmax = SamplingOptions {
        temperature: 0.0,
        top_k: None,
        seed: 0,
    };
    assert!((0..100).all(|_| sample(&logits, &argmax, &mut rng, &mut scratch) == 3));
    let top2 = SamplingOptions {
        temperature: 1.0,
        top_k: Some(2),
        seed: 0,
    };
    assert!((0..1000).all(|_| matches!(sample(&logits, &top2, &mut rng, &mut scratch), 2 | 3)));
}

fn random_model(seed: u64) -> Model {
    let steps = chorale("bwv281.mid");
    let vocab = Vocab::build(&steps, true, VocabOptions::default());
    let config = tiny_config(vocab.len());
    let dev = Device::Cpu;
    dev.set_seed(seed).ok();
    let varmap = VarMap::new();
    Network::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
    let tensors: Vec<(String, Tensor)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let meta = ModelMeta {
        config,
        vocab,
        grid: Grid::default(),
        summary: TrainingSummary::default(),
        fallback: PitchFallback::default(),
    };
    Model::from_bytes(
        &file::encode(&meta, &tensors, &HashMap::new()).unwrap(),
        &dev,
    )
    .unwrap()
}

#[test]
fn same_seed_same_output() {
    let model = random_model(1);
    let context: Vec<u32> = (0..20).map(|i| 2 + i % 10).collect();
    let hot = |seed| SamplingOptions {
        temperature: 1.5,
        top_k: None,
        seed,
    };
    let a = model.generate(&context, 40, &hot(7)).unwrap();
    assert_eq!(a, model.generate(&context, 40, &hot(7)).unwrap());
    assert_ne!(
        a,
        model.generate(&context, 40, &hot(8)).unwrap(),
        "different seeds should differ"
    );
    assert!(a
        .iter()
        .all(|&id| id != UNK_ID && (id as usize) < model.vocab().len()));
    let cold = |seed| SamplingOptions {
        temperature: 0.0,
        top_k: None,
        seed,
    };
    assert_eq!(
        model.generate(&context, 10, &cold(1)).unwrap(),
        model.generate(&context, 10, &cold(2)).unwrap()
    );
    // An id outside the vocabulary is an error, not a panic.
    assert!(model.generate(&[100_000], 1, &hot(1)).is_err());
}

#[test]
fn the_chorale_seed_model_never_holds_a_sound_longer_than_its_window() {
    // Seeds 2, 3 and 4 held one sound for tens of beats before the rule in `Model::generate`.
    let model = chorale_seed();
    let song =
        continuo::midi::read_file(Path::new("tests/fixtures/bwv66.6.mid"), Default::default())
            .unwrap();
    let context = continuo::model::seed::data::prompt_ids(
        &notes_to_roll(&song.notes, model.grid()).steps,
        model.vocab(),
    );
    let w = model.config().window;
    for seed in 1..=6 {
        let sampling = SamplingOptions {
            temperature: 1.0,
            top_k: None,
            seed,
        };
        let out = model.generate(&context, 192, &sampling).unwrap();
        let struck: Vec<bool> = out
            .iter()
            .map(|&id| model.vocab().chord(id).struck_mask() != 0)
            .collect();
        // Every `w + 1` generated steps strike something.
        for (i, steps) in struck.windows(w + 1).enumerate() {
            assert!(
                steps.iter().any(|&s| s),
                "seed {seed}: nothing struck from step {i}"
            );
        }
    }
}

/// The built-in round-1 seed model (chorales), the process's shared copy.
fn chorale_seed() -> std::sync::Arc<Model> {
    match continuo::model::builtin::Builtin::find("chorale-seed")
        .expect("built in")
        .shared()
        .expect("loads")
    {
        continuo::model::builtin::Shared::Seed(m) => m,
        _ => panic!("chorale-seed is a seed model"),
    }
}
