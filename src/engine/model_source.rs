//! The real generators behind the engine's [`PhraseGenerator`] trait, one per model kind:
//! - the seed model ([`crate::model::Model`]): chords go to ids with `model::data::prompt_ids`
//!   (live input outside the vocabulary maps to its nearest chord), the model samples ids, ids
//!   come back as chords;
//! - the step model ([`StepModel`]): it hears the context's 88 keys step by step at their places
//!   in the host's bars and samples the continuation key by key; any chord in, any chord out.
//!
//! A model file names its kind; [`ModelSource::load`] opens either.
//!
//! Models are shared per process: the built-in ones through [`Builtin::shared`], user files
//! through a path-keyed cache of weak references, so every instance that uses one file holds
//! one copy of its weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};

use super::controls::Controls;
use super::running::{RunningGenerator, StepRunning};
use super::snapshot::ModelInfo;
use super::worker::{BarPlacement, ChordSink, GeneratorSource, PhraseGenerator};
use crate::model::builtin::{self, Builtin};
use crate::model::step::{chord_of, keys_of, Meter, StepModel};
use crate::model::{AnyModel, Model, SamplingOptions};
use crate::roll::{Chord, Grid};

/// Wraps a loaded model.
pub struct ModelGenerator {
    model: Arc<Model>,
}

impl ModelGenerator {
    pub fn new(model: Arc<Model>) -> Self {
        Self { model }
    }
}

impl PhraseGenerator for ModelGenerator {
    fn info(&self) -> ModelInfo {
        let m = &self.model;
        let c = m.config();
        ModelInfo {
            name: m.name().to_string(),
            architecture: m.architecture(),
            parameter_count: m.parameter_count(),
            vocab_size: m.vocab().len(),
            grid: m.grid(),
            window: c.window,
            training_summary: m.summary().to_string(),
            device: m.device_name().to_string(),
        }
    }
    fn grid(&self) -> Grid {
        self.model.grid()
    }
    fn window(&self) -> usize {
        self.model.config().window
    }
    fn generate_streaming(
        &self,
        context: &[Chord],
        _placement: BarPlacement,
        steps: usize,
        temperature: f32,
        controls: &Controls,
        seed: u64,
        out: &mut ChordSink<'_>,
    ) -> Result<(), String> {
        let vocab = self.model.vocab();
        // Nearest chord for anything the vocabulary lacks (never UNK), as the CLI does.
        let ids = crate::model::seed::data::prompt_ids(context, vocab);
        let sampling = SamplingOptions {
            temperature,
            top_k: None,
            seed,
        };
        let bias = chord_bias(vocab, controls, &controls.key_bias(context));
        self.model
            .generate_streaming(&ids, steps, &sampling, Some(&bias), &mut |id| {
                out(vocab.chord(id))
            })
            .map_err(|e| e.to_string())
    }
}

/// Wraps a loaded step model.
pub struct StepGenerator {
    model: Arc<StepModel>,
}

/// How much context the step model hears: everything the engine keeps (its running state has no
/// window; 16 bars of 4/4).
pub const STEP_CONTEXT: usize = super::snapshot::MAX_CONTEXT_STEPS;

impl PhraseGenerator for StepGenerator {
    fn info(&self) -> ModelInfo {
        let m = &self.model;
        ModelInfo {
            name: m.name().to_string(),
            architecture: m.architecture(),
            parameter_count: m.parameter_count(),
            vocab_size: 0,
            grid: m.grid(),
            window: STEP_CONTEXT,
            training_summary: m.summary().to_string(),
            device: format!("CPU ({})", m.kernels()),
        }
    }
    fn grid(&self) -> Grid {
        self.model.grid()
    }
    fn window(&self) -> usize {
        STEP_CONTEXT
    }
    fn running(&self, seed: u64) -> Option<Box<dyn RunningGenerator>> {
        Some(Box::new(StepRunning::new(self.model.clone(), seed)))
    }
    fn generate_streaming(
        &self,
        context: &[Chord],
        placement: BarPlacement,
        steps: usize,
        temperature: f32,
        controls: &Controls,
        seed: u64,
        out: &mut ChordSink<'_>,
    ) -> Result<(), String> {
        let m = &self.model;
        let meter = Meter {
            steps_per_beat: m.grid().steps_per_beat.max(1),
            steps_per_bar: placement.steps_per_bar.max(1),
        };
        let first = placement.first_step_in_bar as u64;
        let opts = controls.step_sampling(temperature, context);
        // Leading silence is not heard: the running state starts where the player did.
        let heard = context
            .iter()
            .position(|c| !c.is_rest())
            .unwrap_or(context.len());
        let mut state = m.start(seed);
        for (t, chord) in context.iter().enumerate().skip(heard) {
            m.hear(
                &mut state,
                &keys_of(chord),
                meter.position(first + t as u64),
            );
        }
        let from = first + context.len() as u64;
        for i in 0..steps as u64 {
            if !out(chord_of(&m.sample(
                &mut state,
                meter.position(from + i),
                &opts,
            ))) {
                break;
            }
        }
        Ok(())
    }
}

/// The controls in a seed model's terms, one logit bias per vocabulary id: a chord outside the
/// register or with too many notes is ruled out; Density adds its bias once per struck note and
/// Follow key its class bias once per note, as the step model adds them per key.
fn chord_bias(vocab: &crate::roll::Vocab, controls: &Controls, key_bias: &[f32; 12]) -> Vec<f32> {
    (0..vocab.len() as u32)
        .map(|id| {
            let chord = vocab.chord(id);
            if !controls.allows(&chord) {
                return f32::NEG_INFINITY;
            }
            let struck = chord.struck_mask().count_ones() as f32;
            controls.density * struck
                + chord
                    .pitches()
                    .map(|p| key_bias[p as usize % 12])
                    .sum::<f32>()
        })
        .collect()
}

/// The plugin's source of models.
pub struct ModelSource;

impl GeneratorSource for ModelSource {
    fn default_generator(&self) -> Result<Arc<dyn PhraseGenerator>, String> {
        builtin_generator(builtin::DEFAULT)
    }
    /// `builtin:NAME` or a file path.
    fn load(&self, reference: &str) -> Result<Arc<dyn PhraseGenerator>, String> {
        match Builtin::named_by(reference) {
            Some(b) => builtin_generator(b.map_err(|e| e.to_string())?),
            None => shared_generator(Path::new(reference)),
        }
    }
}

fn builtin_generator(b: &'static Builtin) -> Result<Arc<dyn PhraseGenerator>, String> {
    Ok(match b.shared().map_err(|e| e.to_string())? {
        builtin::Shared::Seed(model) => Arc::new(ModelGenerator::new(model)),
        builtin::Shared::Step(model) => Arc::new(StepGenerator { model }),
    })
}

/// A loaded model of either kind, shared by every instance in the process.
#[derive(Clone)]
enum Loaded {
    Seed(Arc<Model>),
    Step(Arc<StepModel>),
}

#[derive(Clone)]
enum WeakLoaded {
    Seed(Weak<Model>),
    Step(Weak<StepModel>),
}

impl WeakLoaded {
    fn upgrade(&self) -> Option<Loaded> {
        match self {
            WeakLoaded::Seed(w) => w.upgrade().map(Loaded::Seed),
            WeakLoaded::Step(w) => w.upgrade().map(Loaded::Step),
        }
    }
    fn alive(&self) -> bool {
        match self {
            WeakLoaded::Seed(w) => w.strong_count() > 0,
            WeakLoaded::Step(w) => w.strong_count() > 0,
        }
    }
}

fn generator_of(loaded: Loaded) -> Arc<dyn PhraseGenerator> {
    match loaded {
        Loaded::Seed(model) => Arc::new(ModelGenerator::new(model)),
        Loaded::Step(model) => Arc::new(StepGenerator { model }),
    }
}

/// Opens a model file of any kind the file names (an unknown kind is a clear error).
fn load_file(path: &Path) -> Result<Loaded, String> {
    match AnyModel::from_file(path, &candle_core::Device::Cpu).map_err(|e| e.to_string())? {
        AnyModel::Seed(model) => Ok(Loaded::Seed(Arc::new(model))),
        AnyModel::Step(model) => Ok(Loaded::Step(Arc::new(model))),
    }
}

/// One copy of a model file's weights per process.
fn shared_generator(path: &Path) -> Result<Arc<dyn PhraseGenerator>, String> {
    static CACHE: OnceLock<parking_lot::Mutex<HashMap<PathBuf, WeakLoaded>>> = OnceLock::new();
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(loaded) = cache.lock().get(&key).and_then(WeakLoaded::upgrade) {
        return Ok(generator_of(loaded));
    }
    // Loaded outside the lock: another instance may load the same file at the same time, and
    // one of the two copies is then dropped, which is harmless.
    let loaded = load_file(path)?;
    let weak = match &loaded {
        Loaded::Seed(m) => WeakLoaded::Seed(Arc::downgrade(m)),
        Loaded::Step(m) => WeakLoaded::Step(Arc::downgrade(m)),
    };
    let mut cache = cache.lock();
    cache.retain(|_, weak| weak.alive());
    cache.insert(key, weak);
    Ok(generator_of(loaded))
}
