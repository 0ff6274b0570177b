//! The real generator: a [`crate::model::Model`] behind the engine's [`PhraseGenerator`] trait.
//! Chords go to ids with `model::data::prompt_ids` (live input outside the vocabulary maps to its
//! nearest chord), the model samples ids, ids come back as chords.
//!
//! Models are shared per process: the embedded default through [`Model::embedded`], user files
//! through a path-keyed cache of weak references, so every instance that uses one file holds
//! one copy of its weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};

use super::snapshot::ModelInfo;
use super::worker::{GeneratorSource, PhraseGenerator};
use crate::model::{Model, SamplingOptions};
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
    fn generate(
        &self,
        context: &[Chord],
        steps: usize,
        temperature: f32,
        seed: u64,
    ) -> Result<Vec<Chord>, String> {
        let vocab = self.model.vocab();
        // Nearest chord for anything the vocabulary lacks (never UNK), as the CLI does.
        let ids = crate::model::data::prompt_ids(context, vocab);
        let sampling = SamplingOptions {
            temperature,
            top_k: None,
            seed,
        };
        let out = self
            .model
            .generate(&ids, steps, &sampling)
            .map_err(|e| e.to_string())?;
        Ok(out.iter().map(|&id| vocab.chord(id)).collect())
    }
}

/// The plugin's source of models.
pub struct ModelSource;

impl GeneratorSource for ModelSource {
    fn default_generator(&self) -> Result<Arc<dyn PhraseGenerator>, String> {
        let model = Model::embedded().map_err(|e| e.to_string())?;
        Ok(Arc::new(ModelGenerator::new(model)))
    }
    fn load(&self, path: &str) -> Result<Arc<dyn PhraseGenerator>, String> {
        Ok(Arc::new(ModelGenerator::new(shared_model(Path::new(
            path,
        ))?)))
    }
}

/// One copy of a model file's weights per process.
fn shared_model(path: &Path) -> Result<Arc<Model>, String> {
    static CACHE: OnceLock<parking_lot::Mutex<HashMap<PathBuf, Weak<Model>>>> = OnceLock::new();
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(model) = cache.lock().get(&key).and_then(Weak::upgrade) {
        return Ok(model);
    }
    // Loaded outside the lock: another instance may load the same file at the same time, and
    // one of the two copies is then dropped, which is harmless.
    let model =
        Arc::new(Model::from_file(path, &candle_core::Device::Cpu).map_err(|e| e.to_string())?);
    let mut cache = cache.lock();
    cache.retain(|_, weak| weak.strong_count() > 0);
    cache.insert(key, Arc::downgrade(&model));
    Ok(model)
}
