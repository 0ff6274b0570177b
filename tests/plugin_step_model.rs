//! The plugin loads either model kind: a step-model file chosen as the model (through the saved
//! state, as a project or the editor sets it) generates in the plugin, hears where the context
//! sits in the host's bars, and a file of an unknown kind leaves the current model in use.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use common::*;
use continuo::engine::controls::Controls;
use continuo::engine::model_source::{ModelSource, STEP_CONTEXT};
use continuo::engine::worker::{BarPlacement, GeneratorSource};
use continuo::model::step::{self, Config, StepMeta, StepNetwork};
use continuo::model::TrainingSummary;
use continuo::roll::{notes_to_roll, Grid};

/// Writes a small step model with freshly initialised weights.
fn write_step_model(path: &Path) {
    let config = Config {
        input: 16,
        hidden: 24,
        decoder: 12,
        dropout: 0.0,
        ..Config::default()
    };
    let varmap = VarMap::new();
    StepNetwork::new(
        &config,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let mut named: Vec<_> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = StepMeta {
        config,
        grid: Grid::default(),
        summary: TrainingSummary::default(),
        benchmark: None,
    };
    std::fs::write(path, step::encode(&meta, &named, &HashMap::new()).unwrap()).unwrap();
}

#[test]
fn a_step_model_file_loads_and_hears_the_bar() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("piano-step.safetensors");
    write_step_model(&path);
    let generator = ModelSource
        .load(path.to_str().unwrap())
        .expect("a step model loads");
    let info = generator.info();
    assert_eq!(info.name, "piano-step");
    assert_eq!(generator.window(), STEP_CONTEXT);
    assert!(info.parameter_count > 0);

    // A real prompt: the opening of a chorale.
    let song = continuo::midi::read_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bwv66.6.mid"),
        Default::default(),
    )
    .unwrap();
    let context = notes_to_roll(&song.notes, Grid::default()).steps[..32].to_vec();
    let bar = |first| BarPlacement {
        steps_per_bar: 16,
        first_step_in_bar: first,
    };
    let a = generator
        .generate(&context, bar(0), 48, 1.0, &Controls::default(), 7)
        .unwrap();
    assert_eq!(a.len(), 48);
    assert_eq!(
        a,
        generator
            .generate(&context, bar(0), 48, 1.0, &Controls::default(), 7)
            .unwrap()
    );
    // The same notes heard a beat later in the bar are heard differently.
    let shifted = generator
        .generate(&context, bar(4), 48, 1.0, &Controls::default(), 7)
        .unwrap();
    assert_ne!(a, shifted, "the step model ignores where the bar starts");
    // Every chord it plays lies on the piano.
    assert!(a
        .iter()
        .flat_map(|c| c.pitches())
        .all(|p| (21..=108).contains(&p)));
}

#[test]
fn an_unknown_kind_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.safetensors");
    let mut metadata = HashMap::new();
    metadata.insert("kind".to_string(), "quantum".to_string());
    let tensor = candle_core::Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
    let raw = continuo::model::file::encode_raw("quantum", metadata, &[("x".into(), tensor)]);
    std::fs::write(&path, raw.unwrap()).unwrap();
    let err = ModelSource
        .load(path.to_str().unwrap())
        .err()
        .expect("refused");
    assert!(err.contains("quantum"), "{err}");
}

#[test]
fn the_plugin_generates_with_a_step_model_chosen_in_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("piano-step.safetensors");
    write_step_model(&path);
    let mut host = Host::new();
    let mut state: serde_json::Value =
        serde_json::from_str(&state_text(&host.save_state())).unwrap();
    state["fields"]["model-path"] =
        serde_json::Value::String(serde_json::to_string(path.to_str().unwrap()).unwrap());
    host.load_state(&state_from_text(&serde_json::to_string(&state).unwrap()))
        .unwrap();
    let mut transport = Transport::default();
    let generated = host.audio(&mut transport, |audio| {
        let param = |name, value| In::Param {
            time: 0,
            name,
            value,
        };
        audio.block(512, &[param("Output channel", 2.0), param("Seed", 5.0)]);
        // Let the model load, play two beats of a chorale, press Generate.
        for _ in 0..40 {
            audio.block(512, &[]);
            std::thread::sleep(Duration::from_millis(5));
        }
        let notes = chorale("bwv66.6.mid", 2.0, 120.0, audio.steady_time);
        let end = notes.last().unwrap().0 + 1;
        while audio.steady_time < end {
            let at = audio.steady_time;
            audio.block(512, &events_in(&notes, at, 512));
        }
        audio.block(512, &[param("Generate", 1.0)]);
        audio.block(512, &[param("Generate", 0.0)]);
        let started = Instant::now();
        let mut generated = Vec::new();
        while generated.len() < 4 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "nothing generated"
            );
            let b = audio.block(512, &[]);
            generated.extend(
                b.events
                    .iter()
                    .filter(|e| e.channel == 2 && e.on)
                    .map(|e| e.key),
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        generated
    });
    // An untrained step model strikes keys all over the piano; the default model, trained on
    // chorales, never leaves 36..=99: the notes came from the step model.
    assert!(
        generated.iter().any(|&k| !(30..=100).contains(&k)),
        "no key outside the chorale range: {generated:?}"
    );
}
