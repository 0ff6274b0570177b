//! The one-file model format: a `.safetensors` file whose tensors are the network's weights and
//! whose metadata holds everything else a model needs (config, vocabulary, grid, training summary,
//! the per-pitch fallback for scoring unknown chords, and the format version). A user passes one
//! file around; loading checks all of it and answers with a [`ModelError`], never a panic.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::{Dtype, SafeTensors};

use super::seed::network::Network;
use super::Config;
use crate::roll::{Chord, Grid, Vocab};

/// The format this code writes. Files with a higher version are refused (they may mean something
/// this code does not know); lower versions are read.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "continuo-model";

/// The kinds of model a file can hold (metadata `kind`; files without it are seed models, the
/// only kind before there were two).
pub const KIND_SEED: &str = "seed";
pub const KIND_STEP: &str = "step";
pub const KINDS: [&str; 2] = [KIND_SEED, KIND_STEP];

/// Metadata keys every model file has, whatever its kind.
pub(crate) const RESERVED_KEYS: [&str; 3] = ["format", "format_version", "kind"];

/// Why a model could not be loaded or run. Every variant names the model (its file or
/// "default (embedded)").
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{name}: cannot read the model file: {source}")]
    Io {
        name: String,
        source: std::io::Error,
    },
    #[error("{name}: not a readable safetensors file (truncated or corrupt?): {reason}")]
    Corrupt { name: String, reason: String },
    #[error("{name}: a safetensors file but not a Continuo model (no `format: {FORMAT_NAME}` in its metadata)")]
    NotAModel { name: String },
    #[error("{name}: model format version {found} is newer than this program understands ({FORMAT_VERSION}); update Continuo")]
    NewerVersion { name: String, found: u32 },
    #[error("{name}: metadata `{key}` is missing or invalid: {reason}")]
    BadMetadata {
        name: String,
        key: String,
        reason: String,
    },
    #[error("{name}: tensor `{tensor}` is missing")]
    MissingTensor { name: String, tensor: String },
    #[error("{name}: tensor `{tensor}` has shape {found:?}, the config needs {expected:?}")]
    WrongShape {
        name: String,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{name}: tensor `{tensor}` is {found}, expected F32")]
    WrongDtype {
        name: String,
        tensor: String,
        found: String,
    },
    #[error("{name}: the vocabulary has {vocab} ids but the output layer has {output}")]
    VocabMismatch {
        name: String,
        vocab: usize,
        output: usize,
    },
    #[error("{name}: tensor `{tensor}` holds NaN or infinite values")]
    NotFinite { name: String, tensor: String },
    #[error("{name}: {what}: {source}")]
    Candle {
        name: String,
        what: String,
        source: Box<candle_core::Error>,
    },
    #[error("{name}: a model of kind `{found}`, which this program does not know (it knows: seed, step); update Continuo")]
    UnknownKind { name: String, found: String },
    #[error("{name}: a {found} model, but a {expected} model is needed here")]
    WrongKind {
        name: String,
        found: String,
        expected: String,
    },
    #[error("{name}: {reason}")]
    Invalid { name: String, reason: String },
}

impl ModelError {
    pub(crate) fn candle(name: &str, what: &str) -> impl FnOnce(candle_core::Error) -> ModelError {
        let (name, what) = (name.to_string(), what.to_string());
        move |source| ModelError::Candle {
            name,
            what,
            source: Box::new(source),
        }
    }
}

/// JSON has no NaN or infinity (serde_json writes `null`): read `null` back as NaN.
pub(crate) fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::Deserialize;
    Option::<f64>::deserialize(d).map(|v| v.unwrap_or(f64::NAN))
}

/// How a model was trained, for `continuo info`, the README and the plugin's UI.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrainingSummary {
    /// The folders or files trained on, as given.
    pub data: Vec<String>,
    pub train_files: usize,
    /// The held-out pieces (paths as found), so evaluation can use exactly them.
    pub val_files: Vec<String>,
    #[serde(deserialize_with = "nan_if_null")]
    pub val_fraction: f64,
    pub seed: u64,
    pub stride: usize,
    pub transpose: u32,
    pub max_vocab: usize,
    pub batch: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub lr: f64,
    pub train_windows: usize,
    pub val_windows: usize,
    /// Epochs completed (a fraction when training stopped inside one).
    #[serde(deserialize_with = "nan_if_null")]
    pub epochs: f64,
    pub best_epoch: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub train_loss: f64,
    /// Mean cross-entropy over held-out windows in nats (UNK counted as a class).
    #[serde(deserialize_with = "nan_if_null")]
    pub val_loss: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub val_accuracy: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub val_top5: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub wall_seconds: f64,
    pub date: String,
    pub command: String,
}

impl fmt::Display for TrainingSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.data.is_empty() && self.epochs == 0.0 {
            return f.write_str("untrained or without a training summary");
        }
        if !self.val_loss.is_finite() {
            return write!(
                f,
                "Trained on {} ({} pieces, {} held out) for {:.2} epochs so far (no validation yet); {:.0} min of training, saved {}.",
                self.data.join(", "),
                self.train_files,
                self.val_files.len(),
                self.epochs,
                self.wall_seconds / 60.0,
                self.date
            );
        }
        write!(
            f,
            "Trained on {} ({} pieces, {} held out) for {:.1} epochs ({} {} each, transposed ±{}), best epoch {}: ",
            self.data.join(", "),
            self.train_files,
            self.val_files.len(),
            self.epochs,
            self.train_windows,
            if self.val_top5.is_nan() { "steps" } else { "windows" },
            self.transpose,
            self.best_epoch,
        )?;
        if self.val_top5.is_nan() {
            // The step model: exact NLL of the whole step; "accuracy" is greedy-exact steps.
            write!(
                f,
                "held-out NLL {:.3} nats/step of the full 88-key state, {:.1}% of steps exactly what greedy decoding plays",
                self.val_loss,
                100.0 * self.val_accuracy
            )?;
        } else {
            write!(
                f,
                "validation loss {:.3} nats/step over the vocabulary's ids (UNK is one id, no fallback), \
                 token top-1 {:.1}%, top-5 {:.1}% (an out-of-vocabulary step predicted as UNK counts as right; \
                 `continuo eval` counts it as a miss)",
                self.val_loss,
                100.0 * self.val_accuracy,
                100.0 * self.val_top5
            )?;
        }
        write!(
            f,
            "; {:.0} min of training, finished {}.",
            self.wall_seconds / 60.0,
            self.date
        )
    }
}

/// What probability to give a chord the vocabulary lacks, after the model has put `P(UNK)` on
/// "something else": independent per-pitch Bernoulli variables for "sounds" and, for a sounding
/// pitch, "is struck", fitted on the out-of-vocabulary steps of the training data. It is a proper
/// distribution over all chords, so `P(UNK) × fallback(chord)` never over-counts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PitchFallback {
    /// P(pitch sounds), 128 values.
    pub sounding: Vec<f64>,
    /// P(pitch struck | it sounds), 128 values.
    pub struck: Vec<f64>,
}

impl Default for PitchFallback {
    fn default() -> Self {
        Self {
            sounding: vec![0.5; 128],
            struck: vec![0.5; 128],
        }
    }
}

impl PitchFallback {
    /// Fits the statistics on chords (normally the out-of-vocabulary steps of the training data),
    /// with add-one smoothing so no chord gets probability 0.
    pub fn fit<'a>(chords: impl IntoIterator<Item = &'a Chord>) -> Self {
        let (mut n, mut sounding, mut struck) = (0f64, [0f64; 128], [0f64; 128]);
        for chord in chords {
            n += 1.0;
            for p in chord.pitches() {
                sounding[p as usize] += 1.0;
                if chord.is_struck(p) {
                    struck[p as usize] += 1.0;
                }
            }
        }
        Self {
            sounding: sounding.iter().map(|&c| (c + 1.0) / (n + 2.0)).collect(),
            struck: sounding
                .iter()
                .zip(struck.iter())
                .map(|(&s, &k)| (k + 1.0) / (s + 2.0))
                .collect(),
        }
    }

    /// ln P(chord) under the fallback; struck marks count only when the grid has them.
    pub fn log_prob(&self, chord: &Chord, onsets: bool) -> f64 {
        let mut lp = 0.0;
        for p in 0..128u8 {
            let q = self.sounding[p as usize].clamp(1e-12, 1.0 - 1e-12);
            if chord.contains(p) {
                lp += q.ln();
                if onsets {
                    let s = self.struck[p as usize].clamp(1e-12, 1.0 - 1e-12);
                    lp += if chord.is_struck(p) {
                        s.ln()
                    } else {
                        (1.0 - s).ln()
                    };
                }
            } else {
                lp += (1.0 - q).ln();
            }
        }
        lp
    }

    fn check(&self) -> Result<(), String> {
        let ok =
            |v: &[f64]| v.len() == 128 && v.iter().all(|x| x.is_finite() && *x > 0.0 && *x < 1.0);
        if ok(&self.sounding) && ok(&self.struck) {
            Ok(())
        } else {
            Err("needs 128 probabilities in (0, 1) for `sounding` and for `struck`".into())
        }
    }
}

/// Everything in a model file besides the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMeta {
    pub config: Config,
    pub vocab: Vocab,
    pub grid: Grid,
    pub summary: TrainingSummary,
    pub fallback: PitchFallback,
}

/// A loaded file: metadata, the checked weights, and any further metadata keys (training state in
/// checkpoints).
pub struct LoadedFile {
    pub meta: ModelMeta,
    pub tensors: HashMap<String, Tensor>,
    pub extra: HashMap<String, String>,
}

/// The name and shape of every tensor the network of `config` needs, in name order.
pub fn expected_tensors(config: &Config) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Network::new(config, vb)?;
    let data = varmap.data().lock().expect("varmap lock");
    let mut out: Vec<(String, Vec<usize>)> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.dims().to_vec()))
        .collect();
    out.sort();
    Ok(out)
}

/// Encodes weights + metadata as safetensors bytes. `extra` adds metadata keys.
pub fn encode(
    meta: &ModelMeta,
    tensors: &[(String, Tensor)],
    extra: &HashMap<String, String>,
) -> Result<Vec<u8>, String> {
    let mut metadata: HashMap<String, String> = extra.clone();
    let json = |v: &dyn Json| v.to_json();
    metadata.insert("config".into(), json(&meta.config)?);
    metadata.insert("vocab".into(), json(&meta.vocab)?);
    metadata.insert("grid".into(), json(&meta.grid)?);
    metadata.insert("summary".into(), json(&meta.summary)?);
    metadata.insert("fallback".into(), json(&meta.fallback)?);
    encode_raw(KIND_SEED, metadata, tensors)
}

/// Safetensors bytes of a model of `kind`: the format keys are added to `metadata`.
pub fn encode_raw(
    kind: &str,
    mut metadata: HashMap<String, String>,
    tensors: &[(String, Tensor)],
) -> Result<Vec<u8>, String> {
    metadata.insert("format".into(), FORMAT_NAME.into());
    metadata.insert("format_version".into(), FORMAT_VERSION.to_string());
    metadata.insert("kind".into(), kind.into());
    let mut raw: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let values = t
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| format!("tensor {name}: {e}"))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        raw.push((name.clone(), t.dims().to_vec(), bytes));
    }
    let views = raw
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| e.to_string())
}

/// Model files and checkpoints are written like every file a user keeps (`crate::fs_safe`).
pub use crate::fs_safe::write_atomically;

/// The kind a model file's bytes hold (`seed` when the file names none), after checking that it
/// is a Continuo model of a version and kind this program reads.
pub fn kind(bytes: &[u8], name: &str) -> Result<String, ModelError> {
    let (_, metadata) = parse_header(bytes, name)?;
    let kind = metadata
        .get("kind")
        .cloned()
        .unwrap_or_else(|| KIND_SEED.to_string());
    if !KINDS.contains(&kind.as_str()) {
        return Err(ModelError::UnknownKind {
            name: name.to_string(),
            found: kind,
        });
    }
    Ok(kind)
}

fn parse_header<'a>(
    bytes: &'a [u8],
    name: &str,
) -> Result<(SafeTensors<'a>, HashMap<String, String>), ModelError> {
    let corrupt = |reason: String| ModelError::Corrupt {
        name: name.to_string(),
        reason,
    };
    let st = SafeTensors::deserialize(bytes).map_err(|e| corrupt(format!("{e:?}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(format!("{e:?}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    if metadata.get("format").map(String::as_str) != Some(FORMAT_NAME) {
        return Err(ModelError::NotAModel {
            name: name.to_string(),
        });
    }
    let version: u32 = metadata
        .get("format_version")
        .ok_or_else(|| ModelError::BadMetadata {
            name: name.to_string(),
            key: "format_version".into(),
            reason: "missing".into(),
        })?
        .parse()
        .map_err(|e| ModelError::BadMetadata {
            name: name.to_string(),
            key: "format_version".into(),
            reason: format!("{e}"),
        })?;
    if version > FORMAT_VERSION {
        return Err(ModelError::NewerVersion {
            name: name.to_string(),
            found: version,
        });
    }
    Ok((st, metadata))
}

/// The parsed file and its metadata, checked to be a model of kind `expected`.
pub(crate) fn header<'a>(
    bytes: &'a [u8],
    name: &str,
    expected: &str,
) -> Result<(SafeTensors<'a>, HashMap<String, String>), ModelError> {
    let found = kind(bytes, name)?;
    if found != expected {
        return Err(ModelError::WrongKind {
            name: name.to_string(),
            found,
            expected: expected.to_string(),
        });
    }
    parse_header(bytes, name)
}

/// One metadata value as JSON.
pub(crate) fn field<T: serde::de::DeserializeOwned>(
    metadata: &HashMap<String, String>,
    key: &str,
) -> Result<T, String> {
    let text = metadata.get(key).ok_or_else(|| "missing".to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// The expected tensors of a file, checked for presence, dtype, shape and finiteness.
pub(crate) fn load_tensors(
    st: &SafeTensors,
    expected: Vec<(String, Vec<usize>)>,
    name: &str,
    device: &Device,
) -> Result<HashMap<String, Tensor>, ModelError> {
    let mut tensors = HashMap::with_capacity(expected.len());
    for (tensor, shape) in expected {
        let view = st.tensor(&tensor).map_err(|_| ModelError::MissingTensor {
            name: name.to_string(),
            tensor: tensor.clone(),
        })?;
        if view.dtype() != Dtype::F32 {
            return Err(ModelError::WrongDtype {
                name: name.to_string(),
                tensor,
                found: format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != shape.as_slice() {
            return Err(ModelError::WrongShape {
                name: name.to_string(),
                tensor,
                expected: shape,
                found: view.shape().to_vec(),
            });
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::NotFinite {
                name: name.to_string(),
                tensor,
            });
        }
        let t = Tensor::from_vec(values, shape, device).map_err(ModelError::candle(
            name,
            "cannot place a tensor on the device",
        ))?;
        tensors.insert(tensor, t);
    }
    Ok(tensors)
}

/// Parses and checks a seed model file's bytes. `name` is used in every error.
pub fn decode(bytes: &[u8], name: &str, device: &Device) -> Result<LoadedFile, ModelError> {
    let (st, mut metadata) = header(bytes, name, KIND_SEED)?;
    let bad = |key: &str, reason: String| ModelError::BadMetadata {
        name: name.to_string(),
        key: key.to_string(),
        reason,
    };
    let config: Config = field(&metadata, "config").map_err(|r| bad("config", r))?;
    config.validate().map_err(|r| bad("config", r))?;
    let vocab: Vocab = field(&metadata, "vocab").map_err(|r| bad("vocab", r))?;
    let grid: Grid = field(&metadata, "grid").map_err(|r| bad("grid", r))?;
    if grid.steps_per_beat == 0 || grid.steps_per_beat > 48 {
        return Err(bad(
            "grid",
            format!("steps_per_beat {} is not in 1..=48", grid.steps_per_beat),
        ));
    }
    if grid.onsets != vocab.onsets() {
        return Err(bad(
            "grid",
            "the grid's struck marks disagree with the vocabulary's".into(),
        ));
    }
    let summary: TrainingSummary = match metadata.get("summary") {
        Some(_) => field(&metadata, "summary").map_err(|r| bad("summary", r))?,
        None => TrainingSummary::default(),
    };
    let fallback: PitchFallback = match metadata.get("fallback") {
        Some(_) => field(&metadata, "fallback").map_err(|r| bad("fallback", r))?,
        None => PitchFallback::default(),
    };
    fallback.check().map_err(|r| bad("fallback", r))?;

    let expected = expected_tensors(&config).map_err(ModelError::candle(
        name,
        "cannot lay out the network of this config",
    ))?;
    let tensors = load_tensors(&st, expected, name, device)?;
    if vocab.len() != config.vocab_size {
        return Err(ModelError::VocabMismatch {
            name: name.to_string(),
            vocab: vocab.len(),
            output: config.vocab_size,
        });
    }
    for key in RESERVED_KEYS
        .iter()
        .chain(&["config", "vocab", "grid", "summary", "fallback"])
    {
        metadata.remove(*key);
    }
    Ok(LoadedFile {
        meta: ModelMeta {
            config,
            vocab,
            grid,
            summary,
            fallback,
        },
        tensors,
        extra: metadata,
    })
}

/// Reads a file; see [`decode`].
pub fn read(path: &Path, device: &Device) -> Result<LoadedFile, ModelError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        name: name.clone(),
        source,
    })?;
    decode(&bytes, &name, device)
}

/// serde_json for the metadata values, behind one object-safe method.
pub(crate) trait Json {
    fn to_json(&self) -> Result<String, String>;
}
impl<T: serde::Serialize> Json for T {
    fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }
}

/// The tensors of a file whose names start with `prefix` (prefix removed), unchecked beyond
/// dtype: a checkpoint's optimizer state.
pub fn read_prefixed(
    bytes: &[u8],
    prefix: &str,
    name: &str,
    device: &Device,
) -> Result<HashMap<String, Tensor>, ModelError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Corrupt {
        name: name.to_string(),
        reason: format!("{e:?}"),
    })?;
    let mut out = HashMap::new();
    for (tensor, view) in st.tensors() {
        let Some(short) = tensor.strip_prefix(prefix) else {
            continue;
        };
        if view.dtype() != Dtype::F32 {
            return Err(ModelError::WrongDtype {
                name: name.to_string(),
                tensor,
                found: format!("{:?}", view.dtype()),
            });
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let t = Tensor::from_vec(values, view.shape(), device).map_err(ModelError::candle(
            name,
            "cannot place a tensor on the device",
        ))?;
        out.insert(short.to_string(), t);
    }
    Ok(out)
}
