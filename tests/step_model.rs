//! The step model on real piano music (tests/fixtures/piano): the batch-1 CPU path computes
//! exactly what the candle network trains, its probabilities sum to one over a step, the file
//! names its kind, sampling honours its constraints, and a short training run learns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use continuo::model::file::{self, ModelError};
use continuo::model::step::data::{fill_batch, read_piece, Chunk};
use continuo::model::step::network::{Batch, StepNetwork};
use continuo::model::step::{
    self, Config, StepMeta, StepModel, StepSampling, HELD, KEYS, OFF, STRUCK,
};
use continuo::model::{AnyModel, TrainingSummary};
use continuo::roll::Grid;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/piano")
        .join(name)
}

fn small_config() -> Config {
    Config {
        input: 16,
        hidden: 24,
        decoder: 12,
        prev_span: 5,
        below_span: 4,
        dropout: 0.0,
        ..Config::default()
    }
}

/// A random network, its weights by name, and the model built from them.
fn random_model(config: &Config) -> (StepNetwork, HashMap<String, Tensor>, StepModel) {
    let varmap = VarMap::new();
    let net = StepNetwork::new(
        config,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap();
    // Make every weight matter (biases start at 0).
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let t = v.as_tensor();
            let noise = Tensor::randn(0f32, 0.3, t.shape(), &Device::Cpu).unwrap();
            (k.clone(), (t + noise).unwrap())
        })
        .collect();
    let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
    let net = StepNetwork::new(&net.config, vb).unwrap();
    let meta = StepMeta {
        config: config.clone(),
        grid: Grid::default(),
        summary: TrainingSummary::default(),
        benchmark: None,
    };
    let model = StepModel::from_parts(meta, tensors.clone(), "test").unwrap();
    (net, tensors, model)
}

/// The candle network (what training optimises) and the plain-Rust batch-1 path (what
/// generation and evaluation run) give the same NLL for every step of a real piece, heard from
/// its start, including a transposed chunk and padding.
#[test]
fn fast_path_matches_the_candle_network() {
    let config = small_config();
    let (net, _, model) = random_model(&config);
    let piece = read_piece(&fixture("bach_prelude_bwv_846.mid"), Grid::default()).unwrap();
    let len = 70;
    let chunks = [
        Chunk {
            piece: 0,
            start: 0,
            len: len as u32,
            shift: 0,
        },
        Chunk {
            piece: 0,
            start: 0,
            len: 50,
            shift: 3,
        },
    ];
    let pieces = vec![piece.clone(), piece.clone()];
    let mut batch = Batch::default();
    fill_batch(&config, &pieces, &chunks, len, &mut batch);
    let nll = net
        .step_nll(&batch, &Device::Cpu, false)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (c, chunk) in chunks.iter().enumerate() {
        let shifted = piece.transposed(chunk.shift as i32);
        let mut state = model.start(0);
        for t in 0..chunk.len as usize {
            let lp = model.observe(
                &mut state,
                &shifted.steps[t],
                piece.meter.position(t as u64),
            );
            let want = nll[c * len + t] as f64;
            assert!(
                (-lp - want).abs() < 2e-3 * want.max(1.0),
                "chunk {c} step {t}: fast path {} vs candle {want}",
                -lp
            );
        }
    }
    // The loss weighs only real steps.
    let loss = net
        .loss(&batch, &Device::Cpu, false)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    let real: Vec<f64> = (0..len)
        .map(|t| nll[t] as f64)
        .chain((0..50).map(|t| nll[len + t] as f64))
        .collect();
    let mean = real.iter().sum::<f64>() / real.len() as f64;
    assert!((loss - mean).abs() < 1e-3 * mean);
}

/// Each key's conditional sums to one over the states it can take (so the step's probability,
/// their product, sums to one over every step that can follow), and a held key silent the step
/// before is scored as struck (never impossible).
#[test]
fn probabilities_are_normalised_per_key() {
    let config = small_config();
    let (_, _, model) = random_model(&config);
    let piece = read_piece(&fixture("beethoven_sonata_21-2.mid"), Grid::default()).unwrap();
    let mut base = model.start(0);
    for t in 0..20 {
        model.observe(&mut base, &piece.steps[t], piece.meter.position(t as u64));
    }
    let prev = *base.last();
    let next = piece.steps[20];
    for k in [0, 20, 39, 43, 60, 87] {
        let states: &[u8] = if prev[k] == OFF {
            &[OFF, STRUCK]
        } else {
            &[OFF, HELD, STRUCK]
        };
        let mut total = 0f64;
        for &s in states {
            let mut step = next;
            step[k] = s;
            let mut st = base.clone();
            let terms = model.observe_terms(&mut st, &step, piece.meter.position(20));
            let mut again = base.clone();
            let sum = model.observe(&mut again, &step, piece.meter.position(20));
            assert!((terms.iter().sum::<f64>() - sum).abs() < 1e-9);
            total += terms[k].exp();
        }
        assert!((total - 1.0).abs() < 1e-5, "key {k} sums to {total}");
    }
    let mut held = [OFF; KEYS];
    let mut struck = [OFF; KEYS];
    let silent = (0..KEYS).find(|&k| prev[k] == OFF).unwrap();
    held[silent] = HELD;
    struck[silent] = STRUCK;
    let x = model.observe(&mut base.clone(), &held, piece.meter.position(20));
    let y = model.observe(&mut base.clone(), &struck, piece.meter.position(20));
    assert!(x.is_finite() && (x - y).abs() < 1e-9);
}

/// Sampling honours the range and polyphony constraints and is repeatable by seed.
#[test]
fn sampling_constraints_and_seed() {
    let config = small_config();
    let (_, _, model) = random_model(&config);
    let piece = read_piece(&fixture("bach_prelude_bwv_868.mid"), Grid::default()).unwrap();
    let prompt: Vec<_> = piece.steps[..32].iter().map(step::chord_of).collect();
    let opts = StepSampling {
        temperature: 1.3,
        top_p: 0.95,
        lowest: 48,
        highest: 72,
        max_sounding: 3,
        ..StepSampling::default()
    };
    let a = model.generate(&prompt, piece.meter, 64, &opts, 7);
    let b = model.generate(&prompt, piece.meter, 64, &opts, 7);
    assert_eq!(a, b);
    assert!(
        a.iter().any(|c| !c.is_rest()),
        "a random model strikes something"
    );
    for c in &a {
        assert!(c.len() <= 3);
        assert!(c.pitches().all(|p| (48..=72).contains(&p)));
    }
    // Another seed, another continuation. Checked with the trained piano model: a model with
    // random weights can be so sure of "off" that every seed gives the same steps.
    let trained = match continuo::model::builtin::Builtin::find("piano-step")
        .unwrap()
        .shared()
        .unwrap()
    {
        continuo::model::builtin::Shared::Step(m) => m,
        _ => unreachable!("piano-step is a step model"),
    };
    let a = trained.generate(&prompt, piece.meter, 64, &opts, 7);
    assert_eq!(a, trained.generate(&prompt, piece.meter, 64, &opts, 7));
    assert_ne!(a, trained.generate(&prompt, piece.meter, 64, &opts, 8));
    // Greedy is deterministic whatever the seed.
    let greedy = StepSampling {
        temperature: 0.0,
        ..StepSampling::default()
    };
    assert_eq!(
        model.generate(&prompt, piece.meter, 16, &greedy, 1),
        model.generate(&prompt, piece.meter, 16, &greedy, 2)
    );
}

/// A step model file names its kind; loading it as the other kind, or a file of an unknown
/// kind, fails with a clear error.
#[test]
fn file_names_its_kind() {
    let config = small_config();
    let (_, tensors, _) = random_model(&config);
    let meta = StepMeta {
        config,
        grid: Grid::default(),
        summary: TrainingSummary::default(),
        benchmark: None,
    };
    let mut named: Vec<(String, Tensor)> = tensors.into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let bytes = step::encode(&meta, &named, &HashMap::new()).unwrap();
    assert_eq!(file::kind(&bytes, "x").unwrap(), "step");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    match AnyModel::from_file(&path, &Device::Cpu).unwrap() {
        AnyModel::Step(m) => assert_eq!(m.meta().config, meta.config),
        AnyModel::Seed(_) => panic!("loaded a step file as a seed model"),
    }
    let err = continuo::model::Model::from_file(&path, &Device::Cpu)
        .err()
        .expect("a step file is not a seed model");
    assert!(matches!(err, ModelError::WrongKind { .. }), "{err}");
    assert!(err.to_string().contains("step"), "{err}");
    // The embedded seed model's kind.
    let seed = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/chorale-seed.safetensors"),
    )
    .unwrap();
    assert_eq!(file::kind(&seed, "default").unwrap(), "seed");
    // An unknown kind.
    let mut metadata = HashMap::new();
    metadata.insert("kind".to_string(), "quantum".to_string());
    let raw = file::encode_raw("quantum", metadata, &named).unwrap();
    let path = dir.path().join("q.safetensors");
    std::fs::write(&path, &raw).unwrap();
    let err = AnyModel::from_file(&path, &Device::Cpu)
        .err()
        .expect("unknown kind refused");
    assert!(matches!(err, ModelError::UnknownKind { .. }), "{err}");
    assert!(err.to_string().contains("quantum"), "{err}");
}

/// The per-key Markov baseline: each key's conditional sums to one, a step's log-probability
/// is the sum of its keys' terms, and it scores the fixtures.
#[test]
fn markov_baseline_scores_music() {
    use continuo::model::baseline::KeyMarkov;
    let pieces: Vec<_> = ["bach_prelude_bwv_846.mid", "beethoven_sonata_21-2.mid"]
        .iter()
        .map(|f| read_piece(&fixture(f), Grid::default()).unwrap())
        .collect();
    let markov = KeyMarkov::fit(pieces.iter().map(|p| p.steps.as_slice()), 0.5);
    let (nll, n) = markov.nll_per_step(pieces.iter().map(|p| p.steps.as_slice()));
    assert_eq!(n, pieces.iter().map(|p| p.steps.len()).sum::<usize>());
    assert!(nll.is_finite() && nll > 0.0 && nll < 88.0 * 3f64.ln());
    for key in [0, 39, 87] {
        for prev in [OFF, HELD, STRUCK] {
            let total: f64 = [OFF, HELD, STRUCK]
                .iter()
                .map(|&s| markov.key_log_prob(key, prev, s).exp())
                .sum();
            assert!(
                (total - 1.0).abs() < 1e-12,
                "key {key} after {prev}: {total}"
            );
        }
    }
    let (prev, step) = (pieces[0].steps[10], pieces[0].steps[11]);
    let sum: f64 = (0..KEYS)
        .map(|k| markov.key_log_prob(k, prev[k], step[k]))
        .sum();
    assert!((sum - markov.log_prob(&prev, &step)).abs() < 1e-9);
}
