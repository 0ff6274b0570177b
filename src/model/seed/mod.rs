//! The seed model: the reference design's chord-token network (Embedding → [BiGRU →
//! SeqSelfAttention → Dropout] × 2 → BiGRU → Dense → softmax over a chord vocabulary), its
//! config, its fast batch-1 CPU path, its data windows, training loop and evaluation. Shared
//! parts (file format, sampling, GRU layers, CPU kernels, optimizer and training logs) live one
//! level up in `model`.

pub mod arithmetic;
pub mod attention;
pub mod attention_op;
mod config;
pub mod data;
pub mod eval;
pub mod fast;
pub mod network;
pub mod train;

use std::path::Path;

use candle_core::{Device, Module, Tensor};
use rand::SeedableRng;

pub use arithmetic::Arithmetic;
pub use config::Config;
pub use network::Network;

use crate::model::file::{self, ModelError, PitchFallback, TrainingSummary};
use crate::model::sampler::{self, SamplingOptions};
use crate::roll::{Grid, Vocab};

/// A loaded model: network + config + vocab + grid + training summary. Send + Sync, shared by Arc.
pub struct Model {
    network: Network,
    meta: file::ModelMeta,
    device: Device,
    name: String,
    parameters: usize,
    /// The plain-Rust CPU path for batch-1 inference (see [`fast`]); `None` on a GPU.
    fast: Option<fast::FastNetwork>,
}

impl Model {
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Model, ModelError> {
        Self::from_bytes_named(bytes, "model", device)
    }

    /// Like [`Model::from_bytes`], with the name errors and the UI use.
    pub fn from_bytes_named(
        bytes: &[u8],
        name: &str,
        device: &Device,
    ) -> Result<Model, ModelError> {
        let loaded = file::decode(bytes, name, device)?;
        Self::from_parts(loaded.meta, loaded.tensors, name, device)
    }

    pub fn from_file(path: &Path, device: &Device) -> Result<Model, ModelError> {
        let loaded = file::read(path, device)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Self::from_parts(loaded.meta, loaded.tensors, &name, device)
    }

    /// Builds a model from checked metadata and weights.
    pub fn from_parts(
        meta: file::ModelMeta,
        tensors: std::collections::HashMap<String, Tensor>,
        name: &str,
        device: &Device,
    ) -> Result<Model, ModelError> {
        let parameters = tensors.values().map(|t| t.elem_count()).sum();
        let vb = candle_nn::VarBuilder::from_tensors(tensors, candle_core::DType::F32, device);
        let network = Network::new(&meta.config, vb)
            .map_err(ModelError::candle(name, "cannot build the network"))?;
        let fast = if device.is_cpu() {
            Some(
                fast::FastNetwork::new(&network)
                    .map_err(ModelError::candle(name, "cannot prepare CPU inference"))?,
            )
        } else {
            None
        };
        Ok(Model {
            network,
            meta,
            device: device.clone(),
            name: name.to_string(),
            parameters,
            fast,
        })
    }

    /// A short description of the layers, for `continuo info` and the UI.
    pub fn architecture(&self) -> String {
        let c = &self.meta.config;
        format!(
            "Embedding({v}, {e}) → [BiGRU({h}) → SeqSelfAttention(width {w}) → Dropout({d})] × 2 → BiGRU({h}, last states) → Dropout({d}) → Dense({dense}) → LeakyReLU({s}) → Dense({v}) → softmax; window {win}",
            v = c.vocab_size,
            e = c.embedding,
            h = c.hidden,
            w = c.attention_width,
            d = c.dropout,
            dense = c.dense,
            s = c.leaky_slope,
            win = c.window
        )
    }

    pub fn config(&self) -> &Config {
        &self.meta.config
    }
    pub fn vocab(&self) -> &Vocab {
        &self.meta.vocab
    }
    pub fn grid(&self) -> Grid {
        self.meta.grid
    }
    pub fn summary(&self) -> &TrainingSummary {
        &self.meta.summary
    }
    pub fn fallback(&self) -> &PitchFallback {
        &self.meta.fallback
    }
    pub fn meta(&self) -> &file::ModelMeta {
        &self.meta
    }
    pub fn network(&self) -> &Network {
        &self.network
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn parameter_count(&self) -> usize {
        self.parameters
    }
    pub fn device_name(&self) -> &'static str {
        crate::model::device::name(&self.device)
    }
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The context the network sees for a history of ids: its last `window` ids, left-padded
    /// with REST.
    pub fn context_window(&self, context: &[u32]) -> Vec<u32> {
        let w = self.meta.config.window;
        let mut out = Vec::with_capacity(w);
        crate::roll::window_at(context, context.len(), w, &mut out);
        out
    }

    /// Logits `[vocab]` for the next step after one window of exactly `window` ids.
    pub fn next_logits(&self, window: &[u32]) -> Result<Vec<f32>, ModelError> {
        self.check_ids(window)?;
        if window.len() != self.meta.config.window {
            return Err(ModelError::Invalid {
                name: self.name.clone(),
                reason: format!(
                    "a window has {} ids, the model needs {}",
                    window.len(),
                    self.meta.config.window
                ),
            });
        }
        if let Some(fast) = &self.fast {
            let mut scratch = fast::Scratch::default();
            let mut logits = vec![0.0; self.meta.config.vocab_size];
            fast.logits(window, &mut scratch, &mut logits);
            return Ok(logits);
        }
        let logits = self.batch_logits(window, 1)?;
        logits
            .get(0)
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(ModelError::candle(&self.name, "inference failed"))
    }

    /// Logits `[n, vocab]` for `n` windows laid end to end in `windows` (the candle network, any
    /// device; used by evaluation).
    pub fn batch_logits(&self, windows: &[u32], n: usize) -> Result<Tensor, ModelError> {
        self.check_ids(windows)?;
        let w = self.meta.config.window;
        let err = ModelError::candle(&self.name, "inference failed");
        let run = || -> candle_core::Result<Tensor> {
            let ids = Tensor::from_slice(windows, (n, w), &self.device)?;
            self.network.forward(&ids)
        };
        run().map_err(err)
    }

    fn check_ids(&self, ids: &[u32]) -> Result<(), ModelError> {
        match ids
            .iter()
            .find(|&&id| id as usize >= self.meta.config.vocab_size)
        {
            Some(id) => Err(ModelError::Invalid {
                name: self.name.clone(),
                reason: format!(
                    "token id {id} is outside the vocabulary of {}",
                    self.meta.config.vocab_size
                ),
            }),
            None => Ok(()),
        }
    }

    /// Samples `steps` ids continuing `context` (ids; its last `window` are used, left-padded with
    /// REST). Same seed → same output. Temperature → 0 is argmax. Never returns UNK, and strikes
    /// a note at least once every `window + 1` steps.
    pub fn generate(
        &self,
        context: &[u32],
        steps: usize,
        sampling: &SamplingOptions,
    ) -> Result<Vec<u32>, ModelError> {
        self.generate_biased(context, steps, sampling, None)
    }

    /// [`Model::generate`] with `bias[id]` added to every step's logits (one per id;
    /// `-inf` rules an id out): how the plugin's controls steer a seed model.
    pub fn generate_biased(
        &self,
        context: &[u32],
        steps: usize,
        sampling: &SamplingOptions,
        bias: Option<&[f32]>,
    ) -> Result<Vec<u32>, ModelError> {
        let mut out = Vec::with_capacity(steps);
        self.generate_streaming(context, steps, sampling, bias, &mut |id| {
            out.push(id);
            true
        })?;
        Ok(out)
    }

    /// [`Model::generate_biased`] that hands each id to `out` as soon as it is sampled (the
    /// plugin plays a phrase while it is generated); `out` returning `false` stops early.
    pub fn generate_streaming(
        &self,
        context: &[u32],
        steps: usize,
        sampling: &SamplingOptions,
        bias: Option<&[f32]>,
        out: &mut dyn FnMut(u32) -> bool,
    ) -> Result<(), ModelError> {
        self.check_ids(context)?;
        let w = self.meta.config.window;
        let mut window = self.context_window(context);
        let mut rng = rand::rngs::StdRng::seed_from_u64(sampling.seed);
        let mut pairs = Vec::new();
        let mut scratch = fast::Scratch::default();
        let mut logits = vec![0.0; self.meta.config.vocab_size];
        // Which ids strike a note. Without struck marks in the vocabulary every chord counts as
        // struck, except that the id held through the whole window does not (below).
        let vocab = &self.meta.vocab;
        let mut struck: Vec<bool> = (0..self.meta.config.vocab_size as u32)
            .map(|id| !vocab.onsets() || vocab.chord(id).struck_mask() != 0)
            .collect();
        for _ in 0..steps {
            if !vocab.onsets() {
                let last = window[w - 1];
                let held = window.iter().all(|&id| id == last);
                for (id, s) in struck.iter_mut().enumerate() {
                    *s = !(held && id as u32 == last) && id as u32 != crate::roll::REST_ID;
                }
            }
            match &self.fast {
                Some(fast) => fast.logits(&window, &mut scratch, &mut logits),
                None => logits = self.next_logits(&window)?,
            }
            if let Some(bias) = bias {
                for (l, b) in logits.iter_mut().zip(bias) {
                    *l += b;
                }
            }
            // Nothing struck in the whole window (a chord held, or silence, for longer than the
            // model can see) gives the same prediction at every further step, so the sound could
            // be held for ever: the corpus ends pieces on long final chords, which teaches "keep
            // holding" (measured: one seed held a chord for 44 beats). The model cannot see when
            // that sound began, so the next step must strike something.
            if window.iter().all(|&id| !struck[id as usize]) {
                for (l, &s) in logits.iter_mut().zip(&struck) {
                    if !s {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            let id = sampler::sample(&logits, sampling, &mut rng, &mut pairs);
            debug_assert_ne!(id, crate::roll::UNK_ID);
            if !out(id) {
                break;
            }
            window.rotate_left(1);
            window[w - 1] = id;
        }
        Ok(())
    }
}
