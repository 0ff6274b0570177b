//! The models, one kind per module, and what the kinds share. Two kinds: the seed model (the
//! reference design's chord-token network, [`seed::Model`]) and the causal step model over the 88
//! keys ([`step::StepModel`]); [`AnyModel`] loads either from a file that names its kind.
//! Shared: the one-file format (`file`), sampling (`sampler`), devices, the GRU layers
//! (`layers`), the CPU kernels (`kernels`), the optimizer and training logs (`training`), the
//! per-key Markov baseline every kind is measured against (`baseline`), and the
//! built-in models (`builtin`). Knows nothing of plugins; the plugin and the CLI use these types.

pub mod baseline;
pub mod builtin;
pub mod device;
pub mod file;
pub mod kernels;
pub mod layers;
pub mod sampler;
pub mod seed;
pub mod step;
pub mod training;
pub mod workers;

use std::path::Path;

use candle_core::Device;
#[cfg(test)]
use candle_core::Tensor;

pub use file::{ModelError, PitchFallback, TrainingSummary};
pub use sampler::SamplingOptions;
pub use seed::{Config, Model, Network};

use crate::roll::Grid;

/// A model of either kind, as a file names it.
pub enum AnyModel {
    Seed(Model),
    Step(step::StepModel),
}

impl AnyModel {
    /// Opens what a model reference names: `builtin:NAME` (or nothing, for the default) from
    /// the models built into the binary, else a model file.
    pub fn open(reference: &str, device: &Device) -> Result<AnyModel, ModelError> {
        match builtin::Builtin::named_by(reference) {
            Some(b) => b?.load(device),
            None => AnyModel::from_file(Path::new(reference.trim()), device),
        }
    }

    /// Loads a model file of any kind this program knows; the seed kind on `device`, the step
    /// kind on the CPU (its inference is the plain-Rust path).
    pub fn from_file(path: &Path, device: &Device) -> Result<AnyModel, ModelError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            name: name.clone(),
            source,
        })?;
        match file::kind(&bytes, &name)?.as_str() {
            file::KIND_STEP => step::StepModel::from_file(path).map(AnyModel::Step),
            _ => Model::from_file(path, device).map(AnyModel::Seed),
        }
    }

    /// `seed` or `step`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyModel::Seed(_) => file::KIND_SEED,
            AnyModel::Step(_) => file::KIND_STEP,
        }
    }
    pub fn name(&self) -> &str {
        match self {
            AnyModel::Seed(m) => m.name(),
            AnyModel::Step(m) => m.name(),
        }
    }
    pub fn grid(&self) -> Grid {
        match self {
            AnyModel::Seed(m) => m.grid(),
            AnyModel::Step(m) => m.grid(),
        }
    }
    pub fn summary(&self) -> &TrainingSummary {
        match self {
            AnyModel::Seed(m) => m.summary(),
            AnyModel::Step(m) => m.summary(),
        }
    }
    pub fn architecture(&self) -> String {
        match self {
            AnyModel::Seed(m) => m.architecture(),
            AnyModel::Step(m) => m.architecture(),
        }
    }
    pub fn parameter_count(&self) -> usize {
        match self {
            AnyModel::Seed(m) => m.parameter_count(),
            AnyModel::Step(m) => m.parameter_count(),
        }
    }
}

/// The largest absolute difference between two tensors of one shape (the model's unit tests
/// compare fused ops with candle's this way).
#[cfg(test)]
pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
