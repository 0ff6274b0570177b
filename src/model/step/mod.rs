//! The step model: a causal network over the 88 piano keys. Each step's state is every key off,
//! held or struck; the model reads only the past through a running state (a GRU over time), so
//! its context is everything heard since it started and generation streams one step at a time.
//! Within a step the keys are decoded from low to high, each conditioned on the running state, on
//! the keys already decoded and on the step before (see [`network`]), so its probabilities are
//! exact over the whole step state: no vocabulary, no unknown chords.
//!
//! - [`network`]: the candle network (training).
//! - [`fast`]: the same arithmetic in plain Rust for batch-1 inference on the CPU.
//! - [`data`]: pieces as key states with their meter, training chunks and batches.
//! - [`train`], [`eval`]: training (checkpoints, resume) and evaluation with the per-key Markov
//!   baseline.

pub mod arithmetic;
pub mod benchmark;
pub mod data;
pub mod eval;
pub mod fast;
pub mod network;
pub mod train;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};

pub use arithmetic::StepArithmetic;
pub use data::{chord_of, keys_of, Keys, Meter, Position, StepPiece};
pub use network::StepNetwork;

use super::file::{self, ModelError, TrainingSummary};
use crate::roll::{Chord, Grid};

/// The piano's keys: MIDI 21 (A0) to 108 (C8).
pub const KEYS: usize = 88;
pub const LOWEST_PITCH: u8 = 21;
pub const HIGHEST_PITCH: u8 = 108;
/// A key's states.
pub const OFF: u8 = 0;
pub const HELD: u8 = 1;
pub const STRUCK: u8 = 2;
pub const STATES: usize = 3;
/// Rows of the beat-in-bar and beats-per-bar tables (longer bars are clamped).
pub const MAX_BEATS: usize = 16;

/// The sizes of the step network, stored in each model file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Config {
    /// Rows of the step-in-beat table: the grid's steps per beat.
    pub steps_per_beat: usize,
    /// Width of the step embedding the time GRU reads.
    pub input: usize,
    /// Hidden size of the time GRU (the running state).
    pub hidden: usize,
    /// Width of the within-step (NADE) decoder.
    pub decoder: usize,
    /// Each key sees the keys within this many semitones of it the step before.
    pub prev_span: usize,
    /// Each key sees this many keys just below it, already decoded in this step.
    pub below_span: usize,
    /// Dropout on the running state before the decoder (training only).
    pub dropout: f32,
    /// Binary keys: each key on or off, never "held" (the benchmark's piano rolls cannot tell a
    /// held key from a re-struck one). Every sounding key is then marked struck, so the network
    /// is unchanged and its probabilities are exact over the 2^88 on/off frames.
    pub binary: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            steps_per_beat: 4,
            input: 128,
            hidden: 256,
            decoder: 64,
            prev_span: 12,
            below_span: 12,
            dropout: 0.1,
            binary: false,
        }
    }
}

impl Config {
    /// Local features per key: (sounding, struck) of `2·prev_span + 1` keys the step before and
    /// of `below_span` keys below it in this step.
    pub fn features(&self) -> usize {
        2 * (2 * self.prev_span + 1) + 2 * self.below_span
    }

    /// Whether "held" can follow the state `prev` of a key (never in a binary model).
    pub fn held_ok(&self, prev: u8) -> bool {
        !self.binary && prev != OFF
    }

    /// `step` as the model hears it after `prev`: a key held but silent the step before is
    /// struck, and in a binary model every sounding key is.
    pub fn canonical(&self, step: &Keys, prev: &Keys) -> Keys {
        if self.binary {
            return data::binary_keys(step);
        }
        data::canonical(step, prev)
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("steps_per_beat", self.steps_per_beat),
            ("input", self.input),
            ("hidden", self.hidden),
            ("decoder", self.decoder),
        ] {
            if value == 0 {
                return Err(format!("config {name} is 0"));
            }
            if value > 1 << 16 {
                return Err(format!("config {name} = {value} is absurdly large"));
            }
        }
        if self.steps_per_beat > 48 {
            return Err(format!(
                "config steps_per_beat {} is not in 1..=48",
                self.steps_per_beat
            ));
        }
        if self.prev_span >= KEYS || self.below_span >= KEYS {
            return Err("config prev_span and below_span must be below 88".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("config dropout {} is not in [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// Everything in a step model file besides the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMeta {
    pub config: Config,
    pub grid: Grid,
    pub summary: TrainingSummary,
    /// The benchmark set a binary model was trained on (e.g. `Piano-midi.de`), if any.
    pub benchmark: Option<String>,
}

/// A decoded step model file.
pub struct LoadedStep {
    pub meta: StepMeta,
    pub tensors: HashMap<String, Tensor>,
    pub extra: HashMap<String, String>,
}

/// The name and shape of every tensor the network of `config` needs, in name order.
pub fn expected_tensors(config: &Config) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    StepNetwork::new(config, vb)?;
    let data = varmap.data().lock().expect("varmap lock");
    let mut out: Vec<(String, Vec<usize>)> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.dims().to_vec()))
        .collect();
    out.sort();
    Ok(out)
}

/// Encodes a step model's weights + metadata as safetensors bytes (kind `step`).
pub fn encode(
    meta: &StepMeta,
    tensors: &[(String, Tensor)],
    extra: &HashMap<String, String>,
) -> Result<Vec<u8>, String> {
    let mut metadata = extra.clone();
    let json = |v: &dyn file::Json| v.to_json();
    metadata.insert("config".into(), json(&meta.config)?);
    metadata.insert("grid".into(), json(&meta.grid)?);
    metadata.insert("summary".into(), json(&meta.summary)?);
    if let Some(set) = &meta.benchmark {
        metadata.insert("benchmark".into(), set.clone());
    }
    file::encode_raw(file::KIND_STEP, metadata, tensors)
}

/// Parses and checks a step model file's bytes.
pub fn decode(bytes: &[u8], name: &str, device: &Device) -> Result<LoadedStep, ModelError> {
    let (st, mut metadata) = file::header(bytes, name, file::KIND_STEP)?;
    let bad = |key: &str, reason: String| ModelError::BadMetadata {
        name: name.to_string(),
        key: key.to_string(),
        reason,
    };
    let config: Config = file::field(&metadata, "config").map_err(|r| bad("config", r))?;
    config.validate().map_err(|r| bad("config", r))?;
    let grid: Grid = file::field(&metadata, "grid").map_err(|r| bad("grid", r))?;
    if grid.steps_per_beat as usize != config.steps_per_beat {
        return Err(bad(
            "grid",
            format!(
                "{} steps per beat but the network has {}",
                grid.steps_per_beat, config.steps_per_beat
            ),
        ));
    }
    if !grid.onsets {
        return Err(bad(
            "grid",
            "a step model needs struck marks (onsets)".into(),
        ));
    }
    let summary: TrainingSummary = match metadata.get("summary") {
        Some(_) => file::field(&metadata, "summary").map_err(|r| bad("summary", r))?,
        None => TrainingSummary::default(),
    };
    let expected = expected_tensors(&config).map_err(ModelError::candle(
        name,
        "cannot lay out the network of this config",
    ))?;
    let tensors = file::load_tensors(&st, expected, name, device)?;
    let benchmark = metadata.get("benchmark").cloned();
    for key in file::RESERVED_KEYS
        .iter()
        .chain(&["config", "grid", "summary", "benchmark"])
    {
        metadata.remove(*key);
    }
    Ok(LoadedStep {
        meta: StepMeta {
            config,
            grid,
            summary,
            benchmark,
        },
        tensors,
        extra: metadata,
    })
}

/// How to pick each key's state when generating. The constraints hold while sampling: a key
/// they rule out is off, and the probabilities of the others are renormalised.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepSampling {
    /// Softmax temperature of each key's conditional; at or below
    /// [`crate::model::sampler::ARGMAX_BELOW`] the most likely state is taken.
    pub temperature: f32,
    /// Nucleus sampling on each key's conditional: keep the most likely states whose
    /// probabilities add up to at least this (1 = all).
    pub top_p: f32,
    /// Lowest and highest MIDI pitch that may sound.
    pub lowest: u8,
    pub highest: u8,
    /// Most keys sounding at once (held ones included).
    pub max_sounding: usize,
    /// Added to every key's "struck" logit, in nats: above 0 more onsets per beat than the
    /// model's own tendency, below 0 fewer.
    pub density: f32,
    /// Added to the "held" and "struck" logits of each pitch class (index 0 = C), in nats: a bias
    /// toward the classes a player played ([`StepSampling::follow`]); all 0 is free.
    pub key_bias: [f32; 12],
}

impl Default for StepSampling {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            lowest: LOWEST_PITCH,
            highest: HIGHEST_PITCH,
            max_sounding: KEYS,
            density: 0.0,
            key_bias: [0.0; 12],
        }
    }
}

impl StepSampling {
    /// The key bias that follows `histogram` (duration-weighted pitch classes of what the player
    /// played) with `strength` (0 = free, 1 = a class played k times as much as an average one
    /// is k times as likely to sound, before renormalisation). A silent histogram gives no bias.
    pub fn follow(histogram: &[f64; 12], strength: f32) -> [f32; 12] {
        let total: f64 = histogram.iter().sum();
        if total <= 0.0 || strength == 0.0 || !strength.is_finite() {
            return [0.0; 12];
        }
        // A class never played still keeps 2 % of an average class's weight.
        let floor = 0.02 * total / 12.0;
        std::array::from_fn(|pc| {
            let share = (histogram[pc] + floor) / (total + 12.0 * floor);
            (strength as f64 * (12.0 * share).ln()) as f32
        })
    }

    /// Whether key `k` may sound when `sounding` keys already do.
    fn allows(&self, k: usize, sounding: usize) -> bool {
        let pitch = LOWEST_PITCH as usize + k;
        pitch >= self.lowest as usize
            && pitch <= self.highest as usize
            && sounding < self.max_sounding
    }
}

/// A running generation or scoring: the network's state after the steps it has heard, the last
/// step, and the random generator (seeded) that sampling draws from. Cheap to clone (e.g. to try
/// several continuations from one context).
#[derive(Debug, Clone)]
pub struct StepState {
    h: Vec<f32>,
    last: Keys,
    /// Steps heard or generated so far.
    pub steps: u64,
    rng: rand::rngs::StdRng,
    scratch: fast::Scratch,
}

impl StepState {
    /// The last step heard or generated.
    pub fn last(&self) -> &Keys {
        &self.last
    }
    /// The running state (the GRU's hidden vector).
    pub fn hidden(&self) -> &[f32] {
        &self.h
    }
}

/// A loaded step model. Send + Sync; share it with `Arc`.
pub struct StepModel {
    network: StepNetwork,
    meta: StepMeta,
    runner: fast::Runner,
    name: String,
    parameters: usize,
}

impl StepModel {
    pub fn from_bytes_named(bytes: &[u8], name: &str) -> Result<StepModel, ModelError> {
        let loaded = decode(bytes, name, &Device::Cpu)?;
        Self::from_parts(loaded.meta, loaded.tensors, name)
    }

    pub fn from_file(path: &Path) -> Result<StepModel, ModelError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            name: name.clone(),
            source,
        })?;
        let loaded = decode(&bytes, &name, &Device::Cpu)?;
        let short = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(name);
        Self::from_parts(loaded.meta, loaded.tensors, &short)
    }

    /// Builds a model (on the CPU) from checked metadata and weights.
    pub fn from_parts(
        meta: StepMeta,
        tensors: HashMap<String, Tensor>,
        name: &str,
    ) -> Result<StepModel, ModelError> {
        let parameters = tensors.values().map(|t| t.elem_count()).sum();
        let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let network = StepNetwork::new(&meta.config, vb)
            .map_err(ModelError::candle(name, "cannot build the network"))?;
        let runner = fast::Runner::new(&network)
            .map_err(ModelError::candle(name, "cannot prepare CPU inference"))?;
        Ok(StepModel {
            network,
            meta,
            runner,
            name: name.to_string(),
            parameters,
        })
    }

    pub fn architecture(&self) -> String {
        let c = &self.meta.config;
        let states = if c.binary {
            "off/on per key (binary)"
        } else {
            "off/held/struck per key"
        };
        format!(
            "causal step model over the 88 keys: step (held/struck key embeddings + meter) → Embedding({i}) → GRU({h}) over time → NADE decoder over the keys low→high (width {d}; local features: ±{p} keys the step before, {b} keys below) → {states}",
            i = c.input,
            h = c.hidden,
            d = c.decoder,
            p = c.prev_span,
            b = c.below_span
        )
    }

    pub fn config(&self) -> &Config {
        &self.meta.config
    }
    pub fn grid(&self) -> Grid {
        self.meta.grid
    }
    pub fn summary(&self) -> &TrainingSummary {
        &self.meta.summary
    }
    pub fn meta(&self) -> &StepMeta {
        &self.meta
    }
    pub fn network(&self) -> &StepNetwork {
        &self.network
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn parameter_count(&self) -> usize {
        self.parameters
    }
    /// Which CPU kernels batch-1 inference uses.
    pub fn kernels(&self) -> &'static str {
        self.runner.kernels()
    }

    /// A fresh state: silence heard so far; sampling seeded with `seed`.
    pub fn start(&self, seed: u64) -> StepState {
        StepState {
            h: vec![0.0; self.meta.config.hidden],
            last: [OFF; KEYS],
            steps: 0,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            scratch: fast::Scratch::new(&self.meta.config),
        }
    }

    /// Hears one step (at metrical position `pos`) and returns its log-probability in nats
    /// under the model given everything heard before. A key marked held that was silent the
    /// step before counts as struck.
    pub fn observe(&self, state: &mut StepState, step: &Keys, pos: Position) -> f64 {
        self.observe_scored(state, step, pos).0
    }

    /// [`StepModel::observe`], also saying whether every key of the step was the most likely
    /// state given the keys below it (what greedy decoding would have played).
    pub fn observe_scored(&self, state: &mut StepState, step: &Keys, pos: Position) -> (f64, bool) {
        let step = self.meta.config.canonical(step, &state.last);
        let mut lp = 0f64;
        let mut greedy = true;
        self.runner
            .advance(&mut state.h, &state.last, pos, &mut state.scratch);
        self.runner
            .decode(&state.last, &mut state.scratch, |k, logits, held_ok| {
                let s = step[k];
                lp += fast::log_prob(logits, held_ok, s);
                let best = (0..STATES)
                    .filter(|&x| x != HELD as usize || held_ok)
                    .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                    .unwrap_or(0);
                greedy &= best == s as usize;
                s
            });
        state.last = step;
        state.steps += 1;
        (lp, greedy)
    }

    /// [`StepModel::observe`], returning each key's log-probability (given the keys below it).
    pub fn observe_terms(&self, state: &mut StepState, step: &Keys, pos: Position) -> Vec<f64> {
        let step = self.meta.config.canonical(step, &state.last);
        let mut terms = Vec::with_capacity(KEYS);
        self.runner
            .advance(&mut state.h, &state.last, pos, &mut state.scratch);
        self.runner
            .decode(&state.last, &mut state.scratch, |k, logits, held_ok| {
                terms.push(fast::log_prob(logits, held_ok, step[k]));
                step[k]
            });
        state.last = step;
        state.steps += 1;
        terms
    }

    /// Hears a step without scoring it: the running state moves on exactly as with
    /// [`StepModel::observe`], without the within-step decoding (a third of the cost), for
    /// re-hearing steps whose input changed (Continuous mode hears the player after the fact).
    pub fn hear(&self, state: &mut StepState, step: &Keys, pos: Position) {
        let step = self.meta.config.canonical(step, &state.last);
        self.runner
            .advance(&mut state.h, &state.last, pos, &mut state.scratch);
        state.last = step;
        state.steps += 1;
    }

    /// Gives `state` the random generator of `other` and `other` that of `state`, so a trial
    /// copy of a state can sample with the generator that goes on.
    pub fn swap_rng(state: &mut StepState, other: &mut StepState) {
        std::mem::swap(&mut state.rng, &mut other.rng);
    }

    /// Hears a chord (pitches outside the piano are left out).
    pub fn observe_chord(&self, state: &mut StepState, chord: &Chord, pos: Position) -> f64 {
        self.observe(state, &keys_of(chord), pos)
    }

    /// Samples the next step at metrical position `pos` and hears it.
    pub fn sample(&self, state: &mut StepState, pos: Position, opts: &StepSampling) -> Keys {
        self.runner
            .advance(&mut state.h, &state.last, pos, &mut state.scratch);
        let mut sounding = 0usize;
        let rng = &mut state.rng;
        let step = self
            .runner
            .decode(&state.last, &mut state.scratch, |k, logits, held_ok| {
                let s = if opts.allows(k, sounding) {
                    let bias = opts.key_bias[(LOWEST_PITCH as usize + k) % 12];
                    let mut biased = *logits;
                    biased[HELD as usize] += bias;
                    biased[STRUCK as usize] += bias + opts.density;
                    sample_key(&biased, held_ok, opts, rng)
                } else {
                    OFF
                };
                sounding += (s != OFF) as usize;
                s
            });
        state.last = step;
        state.steps += 1;
        step
    }

    /// Continues `prompt` (heard from step 0 of `meter`) by `steps` sampled steps, seeded.
    pub fn generate(
        &self,
        prompt: &[Chord],
        meter: Meter,
        steps: usize,
        opts: &StepSampling,
        seed: u64,
    ) -> Vec<Chord> {
        let mut state = self.start(seed);
        for (t, chord) in prompt.iter().enumerate() {
            self.hear(&mut state, &keys_of(chord), meter.position(t as u64));
        }
        (0..steps)
            .map(|i| {
                let pos = meter.position((prompt.len() + i) as u64);
                chord_of(&self.sample(&mut state, pos, opts))
            })
            .collect()
    }
}

/// Draws one key's state from its logits (`held_ok`: "held" is possible).
fn sample_key(logits: &[f32; 3], held_ok: bool, opts: &StepSampling, rng: &mut impl Rng) -> u8 {
    let allowed = |s: usize| s != HELD as usize || held_ok;
    let t = opts.temperature;
    if t.is_nan() || t <= crate::model::sampler::ARGMAX_BELOW {
        let mut best = OFF as usize;
        for s in 0..STATES {
            if allowed(s) && logits[s] > logits[best] {
                best = s;
            }
        }
        return best as u8;
    }
    let max = (0..STATES)
        .filter(|&s| allowed(s))
        .map(|s| logits[s])
        .fold(f32::NEG_INFINITY, f32::max);
    let mut p = [0f64; STATES];
    for s in 0..STATES {
        if allowed(s) {
            p[s] = (((logits[s] - max) / t) as f64).exp();
        }
    }
    let total: f64 = p.iter().sum();
    if opts.top_p < 1.0 {
        // Keep the most likely states until their mass reaches top_p.
        let mut order = [0usize, 1, 2];
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let mut mass = 0.0;
        let mut keep = [false; STATES];
        for &s in &order {
            if mass >= opts.top_p.max(0.0) as f64 * total && mass > 0.0 {
                break;
            }
            keep[s] = true;
            mass += p[s];
        }
        for s in 0..STATES {
            if !keep[s] {
                p[s] = 0.0;
            }
        }
    }
    let total: f64 = p.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (s, &w) in p.iter().enumerate() {
        if w > 0.0 {
            u -= w;
            if u <= 0.0 {
                return s as u8;
            }
        }
    }
    OFF
}
