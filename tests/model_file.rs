//! The one-file model format: save → load gives the same network, and each kind of bad file is
//! refused with its own clear error.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use continuo::model::file::{self, ModelMeta, FORMAT_VERSION};
use continuo::model::{
    Config, Model, ModelError, Network, PitchFallback, SamplingOptions, TrainingSummary,
};
use continuo::roll::{notes_to_roll, Grid, Vocab, VocabOptions};

fn fixture_vocab() -> Vocab {
    let song =
        continuo::midi::read_file(Path::new("tests/fixtures/bwv66.6.mid"), Default::default())
            .unwrap();
    let roll = notes_to_roll(&song.notes, Grid::default());
    Vocab::build(&roll.steps, true, VocabOptions::default())
}

struct Parts {
    meta: ModelMeta,
    tensors: Vec<(String, Tensor)>,
}

fn tiny_parts() -> Parts {
    let vocab = fixture_vocab();
    let config = Config {
        vocab_size: vocab.len(),
        window: 8,
        embedding: 6,
        hidden: 5,
        attention_width: 4,
        dense: 7,
        dropout: 0.0,
        leaky_slope: 0.3,
    };
    let varmap = VarMap::new();
    Network::new(
        &config,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let mut tensors: Vec<(String, Tensor)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let summary = TrainingSummary {
        data: vec!["tests/fixtures".into()],
        epochs: 1.0,
        val_loss: 2.5,
        ..TrainingSummary::default()
    };
    Parts {
        meta: ModelMeta {
            config,
            vocab,
            grid: Grid::default(),
            summary,
            fallback: PitchFallback::default(),
        },
        tensors,
    }
}

fn encode(parts: &Parts) -> Vec<u8> {
    file::encode(&parts.meta, &parts.tensors, &HashMap::new()).unwrap()
}

fn load(bytes: &[u8]) -> Result<Model, ModelError> {
    Model::from_bytes_named(bytes, "test.safetensors", &Device::Cpu)
}

fn replace_tensor(parts: &mut Parts, name: &str, t: Tensor) {
    let slot = parts
        .tensors
        .iter_mut()
        .find(|(n, _)| n == name)
        .expect("tensor exists");
    slot.1 = t;
}

#[test]
fn save_then_load_gives_identical_outputs() {
    let parts = tiny_parts();
    let bytes = encode(&parts);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let a = load(&bytes).unwrap();
    let b = Model::from_file(&path, &Device::Cpu).unwrap();
    assert_eq!(b.name(), "tiny");
    assert_eq!(a.vocab(), &parts.meta.vocab);
    assert_eq!(a.config(), &parts.meta.config);
    assert_eq!(a.summary(), &parts.meta.summary);
    let window: Vec<u32> = (0..8).map(|i| i % a.vocab().len() as u32).collect();
    assert_eq!(
        a.next_logits(&window).unwrap(),
        b.next_logits(&window).unwrap()
    );
    // And the weights are the ones saved: the candle forward on the original tensors agrees.
    let original: HashMap<String, Tensor> = parts.tensors.iter().cloned().collect();
    let net = Network::new(
        &parts.meta.config,
        VarBuilder::from_tensors(original, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let ids = Tensor::from_slice(&window, (1, 8), &Device::Cpu).unwrap();
    let want = net
        .forward_t(&ids, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let got = a.next_logits(&window).unwrap();
    assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-4));
    let sampling = SamplingOptions {
        temperature: 1.0,
        top_k: None,
        seed: 3,
    };
    assert_eq!(
        a.generate(&window, 20, &sampling).unwrap(),
        b.generate(&window, 20, &sampling).unwrap()
    );
}

#[test]
fn truncated_file_is_refused() {
    let bytes = encode(&tiny_parts());
    for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = load(&bytes[..cut]).err().expect("truncated file must fail");
        assert!(
            matches!(err, ModelError::Corrupt { .. }),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().contains("test.safetensors"));
    }
}

#[test]
fn wrong_shape_is_refused() {
    let mut parts = tiny_parts();
    replace_tensor(
        &mut parts,
        "dense.weight",
        Tensor::zeros((7, 9), DType::F32, &Device::Cpu).unwrap(),
    );
    let err = load(&encode(&parts)).err().unwrap();
    assert!(
        matches!(&err, ModelError::WrongShape { tensor, .. } if tensor == "dense.weight"),
        "{err}"
    );
}

#[test]
fn missing_tensor_is_refused() {
    let mut parts = tiny_parts();
    parts.tensors.retain(|(n, _)| n != "gru2.bwd.weight_hh");
    let err = load(&encode(&parts)).err().unwrap();
    assert!(
        matches!(&err, ModelError::MissingTensor { tensor, .. } if tensor == "gru2.bwd.weight_hh"),
        "{err}"
    );
}

#[test]
fn vocabulary_not_matching_the_output_layer_is_refused() {
    let mut parts = tiny_parts();
    let fewer: Vec<_> = parts.meta.vocab.chords()[2..parts.meta.vocab.len() - 3].to_vec();
    parts.meta.vocab = Vocab::from_chords(fewer, true);
    let err = load(&encode(&parts)).err().unwrap();
    assert!(matches!(err, ModelError::VocabMismatch { .. }), "{err}");
}

#[test]
fn nan_weights_are_refused() {
    let mut parts = tiny_parts();
    let mut values = vec![0.1f32; 100];
    values[42] = f32::NAN;
    replace_tensor(
        &mut parts,
        "attention1.wa",
        Tensor::from_vec(values, (10, 10), &Device::Cpu).unwrap(),
    );
    let err = load(&encode(&parts)).err().unwrap();
    assert!(
        matches!(&err, ModelError::NotFinite { tensor, .. } if tensor == "attention1.wa"),
        "{err}"
    );
}

#[test]
fn newer_format_version_is_refused() {
    // `encode` always writes the current version; patch the header to claim a newer one.
    let bytes = encode(&tiny_parts());
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(text.contains(&format!("\"format_version\":\"{FORMAT_VERSION}\"")));
    let patched = patch_header(
        &bytes,
        &format!("\"format_version\":\"{FORMAT_VERSION}\""),
        &format!("\"format_version\":\"{}\"", FORMAT_VERSION + 1),
    );
    let err = load(&patched).err().unwrap();
    assert!(
        matches!(err, ModelError::NewerVersion { found, .. } if found == FORMAT_VERSION + 1),
        "{err}"
    );
    assert!(err.to_string().contains("newer"));
}

#[test]
fn plain_safetensors_without_metadata_is_not_a_model() {
    let parts = tiny_parts();
    let bytes = encode(&parts);
    let patched = patch_header(
        &bytes,
        "\"format\":\"continuo-model\"",
        "\"format\":\"something-else\"",
    );
    assert!(matches!(
        load(&patched).err().unwrap(),
        ModelError::NotAModel { .. }
    ));
}

#[test]
fn missing_file_is_an_io_error() {
    let err = Model::from_file(
        Path::new("tests/fixtures/no-such-model.safetensors"),
        &Device::Cpu,
    )
    .err()
    .unwrap();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
}

/// Replaces text inside the JSON header (same length keeps the offsets valid; otherwise the
/// header length prefix is rewritten).
fn patch_header(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(header.contains(from), "header lacks {from}");
    let mut new_header = header.replacen(from, to, 1);
    while !new_header.len().is_multiple_of(8) {
        new_header.push(' ');
    }
    let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(new_header.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// A model built into the binary loads once per process and generates.
#[test]
fn a_built_in_seed_model_loads_is_shared_and_generates() {
    let a = chorale_seed();
    let b = chorale_seed();
    assert!(std::sync::Arc::ptr_eq(&a, &b), "loaded once per process");
    assert_eq!(a.name(), "chorale-seed (built in)");
    assert_eq!(a.vocab().len(), a.config().vocab_size);
    assert_eq!(a.device_name(), "CPU");
    assert!(a.parameter_count() > 100_000);
    let context = continuo::model::seed::data::prompt_ids(
        &continuo::roll::notes_to_roll(
            &continuo::midi::read_file(Path::new("tests/fixtures/bwv281.mid"), Default::default())
                .unwrap()
                .notes,
            a.grid(),
        )
        .steps,
        a.vocab(),
    );
    let out = a
        .generate(
            &context,
            16,
            &SamplingOptions {
                temperature: 1.0,
                top_k: Some(20),
                seed: 1,
            },
        )
        .unwrap();
    assert_eq!(out.len(), 16);
}

/// The plugin shares one loaded model between threads.
#[test]
fn model_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Model>();
    shared::<std::sync::Arc<Model>>();
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
