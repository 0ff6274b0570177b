//! Training: data preparation, AdamW, validation, checkpoints that `--resume` continues, the best
//! epoch kept as the model file, a CSV log and a PNG plot of the loss curves beside it.
//!
//! Files beside `<out>.safetensors`: `<out>.checkpoint.safetensors` (weights, optimizer moments and
//! the training state; written every epoch, every few minutes inside an epoch and on Ctrl-C; it
//! is itself a loadable model), `<out>.csv` and `<out>.png`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::data::{self, Encoder, Examples};
use super::{Config, Network};
use crate::model::file::{self, ModelMeta, PitchFallback, TrainingSummary};
use crate::model::training::{
    checkpoint_path, keep_freed_memory, named_tensors, plot, sidecar, AdamW, EpochRow,
};
use crate::model::workers::{Share, Workers};
use crate::roll::{split_pieces, transpositions, Chord, Grid, Vocab, VocabOptions, UNK_ID};

/// What to train on and how.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub data: Vec<PathBuf>,
    pub output: PathBuf,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = off).
    pub clip_norm: f64,
    pub stride: usize,
    pub max_vocab: usize,
    pub transpose: u32,
    pub val_fraction: f64,
    /// At most this many validation windows per epoch (evenly spread over the held-out pieces).
    pub max_val_windows: usize,
    pub seed: u64,
    pub resume: bool,
    pub grid: Grid,
    /// Network sizes; `vocab_size` is set from the data.
    pub config: Config,
    /// Minutes between checkpoints inside an epoch.
    pub checkpoint_minutes: f64,
    /// The command line, for the summary.
    pub command: String,
    /// With `resume`: settings to change from the checkpoint's.
    pub changes: ResumeChanges,
    /// Data-parallel workers a batch is split over (0 or 1: one). Each runs its share of the
    /// batch on one core; run with `device::set_threads(1)` so the products inside stay serial.
    pub workers: usize,
    /// Stop when the held-out loss has not improved for this many epochs (0 = run all epochs).
    pub patience: usize,
}

/// Most windows a worker puts through the network at once; a larger share is done in chunks
/// with the gradients added up. Why: per window, a step at batch 500 took 38 % longer than at
/// 128 (the activations of 250 windows per worker no longer fit the caches: 2,055 ms against
/// 380 ms × 500/128 on this machine).
const MAX_CHUNK: usize = 64;

/// One AdamW step on the batch `ctx` (windows of `window` ids, row by row) → `tgt`, split over
/// `workers` (each share in chunks of at most [`MAX_CHUNK`] windows); returns the batch's mean
/// loss.
///
/// Why data-parallel: at the reference sizes the products are small (batch × 128 by 384) and
/// most of a step is 50 sequential recurrence steps per layer; splitting each product over two
/// cores made the threads wait for each other at every one of them (candle's pool spin ≈ 18 %
/// of a step), while halves of the batch need no hand-off until the gradients are summed.
pub fn batch_step(
    workers: &Workers,
    net: &Network,
    opt: &mut AdamW,
    ctx: &[u32],
    tgt: &[u32],
    window: usize,
    device: &Device,
) -> candle_core::Result<f64> {
    let n = tgt.len();
    let k = workers.count().min(n).max(1);
    workers.step(opt, k, |i| {
        let (a, b) = (i * n / k, (i + 1) * n / k);
        let mut out = Vec::new();
        let mut from = a;
        while from < b {
            let to = (from + MAX_CHUNK).min(b);
            let ids = Tensor::from_slice(
                &ctx[from * window..to * window],
                (to - from, window),
                device,
            )?;
            let targets = Tensor::from_slice(&tgt[from..to], to - from, device)?;
            let logits = net.forward_t(&ids, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
            let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            out.push(Share {
                loss: value,
                grads: loss.backward()?,
                weight: (to - from) as f64 / n as f64,
            });
            from = to;
        }
        Ok(out)
    })
}

/// Settings a resumed run may change; everything else (data, split, vocabulary, grid, batch size,
/// sizes) comes from the checkpoint. Why: a model can be trained in stages while keeping its
/// optimiser state, e.g. first on the reference window, then on a shorter window with transposed
/// copies of the pieces (how the default model was trained; see README).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeChanges {
    /// Context length in steps (the weights do not depend on it).
    pub window: Option<usize>,
    pub stride: Option<usize>,
    pub transpose: Option<u32>,
}

impl ResumeChanges {
    /// Applies the changes, telling on stderr what changed. An epoch in progress starts over when
    /// its order changes (stride or transposition), since its batch index no longer means anything.
    fn apply(&self, state: &mut TrainState, config: &mut Config) {
        if let Some(w) = self.window.filter(|&w| w != config.window) {
            eprintln!("changing the window from {} to {w} steps", config.window);
            config.window = w;
        }
        let mut reorder = false;
        if let Some(s) = self.stride.filter(|&s| s != state.stride) {
            eprintln!("changing the stride from {} to {s}", state.stride);
            state.stride = s;
            reorder = true;
        }
        if let Some(t) = self.transpose.filter(|&t| t != state.transpose) {
            eprintln!(
                "changing the transpositions from ±{} to ±{t}",
                state.transpose
            );
            state.transpose = t;
            reorder = true;
        }
        if reorder && state.batch > 0 {
            eprintln!(
                "epoch {} starts over (its order depends on the stride and transpositions)",
                state.epoch + 1
            );
            state.batch = 0;
            state.loss_sum = 0.0;
            state.loss_count = 0;
        }
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            output: PathBuf::from("model.safetensors"),
            epochs: 10,
            batch: 256,
            lr: 2e-3,
            weight_decay: 0.01,
            clip_norm: 5.0,
            stride: 1,
            max_vocab: 4096,
            transpose: 0,
            val_fraction: 0.05,
            max_val_windows: 20_000,
            seed: 1,
            resume: false,
            grid: Grid::default(),
            config: Config::default(),
            checkpoint_minutes: 5.0,
            command: String::new(),
            changes: ResumeChanges::default(),
            workers: 1,
            patience: 0,
        }
    }
}

/// Everything `--resume` needs besides weights and moments (stored as checkpoint metadata).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct TrainState {
    /// The epoch in progress (0-based) and the next batch in it.
    epoch: usize,
    batch: usize,
    /// Optimizer steps so far.
    step: usize,
    /// Sum and count of training losses in the epoch in progress.
    #[serde(deserialize_with = "crate::model::file::nan_if_null")]
    loss_sum: f64,
    loss_count: usize,
    #[serde(deserialize_with = "crate::model::file::nan_if_null")]
    best_val: f64,
    best_epoch: usize,
    history: Vec<EpochRow>,
    /// (epochs, mean training loss since the last point): the curve of the plot.
    curve: Vec<(f64, f64)>,
    #[serde(deserialize_with = "crate::model::file::nan_if_null")]
    wall_seconds: f64,
    // What defines the data, so a resumed run sees the same windows in the same order.
    data: Vec<PathBuf>,
    stride: usize,
    transpose: u32,
    max_vocab: usize,
    #[serde(deserialize_with = "crate::model::file::nan_if_null")]
    val_fraction: f64,
    max_val_windows: usize,
    seed: u64,
    batch_size: usize,
    grid: Grid,
}

/// What a finished (or interrupted) run reports.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub summary: TrainingSummary,
    pub history: Vec<EpochRow>,
    pub interrupted: bool,
    pub model: PathBuf,
    pub checkpoint: PathBuf,
}

/// The prepared data of a run.
pub struct Prepared {
    pub vocab: Vocab,
    pub fallback: PitchFallback,
    pub train: Examples,
    pub val: Examples,
    pub train_files: Vec<PathBuf>,
    pub val_files: Vec<PathBuf>,
}

/// Reads, splits by piece, augments the training pieces by transposition, builds the vocabulary
/// (unless given) and the per-pitch fallback from the training pieces only, and cuts windows.
/// Every step is a training example here; [`train`] picks one phase of the stride per epoch.
/// `progress` is called after each file read.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    paths: &[PathBuf],
    grid: Grid,
    window: usize,
    transpose: u32,
    max_vocab: usize,
    val_fraction: f64,
    max_val_windows: usize,
    seed: u64,
    vocab: Option<Vocab>,
    progress: &mut dyn FnMut(&Path),
) -> Result<Prepared, String> {
    let pieces = data::read_pieces(paths, grid, progress)?;
    let (train_idx, val_idx) = split_pieces(pieces.len(), val_fraction, seed);
    let train_rolls: Vec<Vec<Chord>> = train_idx
        .iter()
        .flat_map(|&i| transpositions(&pieces[i].roll.steps, transpose))
        .collect();
    let vocab = match vocab {
        Some(v) => v,
        None => Vocab::build(
            train_rolls.iter().flatten(),
            grid.onsets,
            VocabOptions {
                max_vocab: Some(max_vocab),
                min_count: 1,
            },
        ),
    };
    let fallback = PitchFallback::fit(
        train_rolls
            .iter()
            .flatten()
            .filter(|c| !c.is_rest() && vocab.id(c) == UNK_ID),
    );
    let mut encoder = Encoder::new(&vocab);
    let train_encoded: Vec<_> = train_rolls
        .iter()
        .map(|steps| encoder.encode(steps))
        .collect();
    let val_encoded: Vec<_> = val_idx
        .iter()
        .map(|&i| encoder.encode(&pieces[i].roll.steps))
        .collect();
    let train = Examples::new(train_encoded, window, 1);
    let mut val = Examples::new(val_encoded, window, 1);
    if val.examples.len() > max_val_windows && max_val_windows > 0 {
        let n = val.examples.len();
        val.examples = (0..max_val_windows)
            .map(|i| val.examples[i * n / max_val_windows])
            .collect();
    }
    Ok(Prepared {
        train_files: train_idx.iter().map(|&i| pieces[i].path.clone()).collect(),
        val_files: val_idx.iter().map(|&i| pieces[i].path.clone()).collect(),
        vocab,
        fallback,
        train,
        val,
    })
}

/// Loss, top-1 and top-5 accuracy of the network on examples (no dropout).
pub fn validate(
    net: &Network,
    examples: &Examples,
    device: &Device,
    batch: usize,
) -> candle_core::Result<(f64, f64, f64)> {
    let (mut ctx, mut tgt) = (Vec::new(), Vec::new());
    let (mut loss, mut top1, mut top5, mut n) = (0f64, 0usize, 0usize, 0usize);
    let w = examples.window;
    for start in (0..examples.len()).step_by(batch.max(1)) {
        let end = (start + batch).min(examples.len());
        examples.batch(start..end, &mut ctx, &mut tgt);
        let logits = net.forward_t(&Tensor::from_slice(&ctx, (end - start, w), device)?, false)?;
        let logp = candle_nn::ops::log_softmax(&logits, 1)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?;
        for (row, &t) in logp.iter().zip(&tgt) {
            let lt = row[t as usize];
            loss -= lt as f64;
            let better = row.iter().filter(|&&l| l > lt).count();
            top1 += (better == 0) as usize;
            top5 += (better < 5) as usize;
        }
        n += end - start;
    }
    let n = n.max(1) as f64;
    Ok((loss / n, top1 as f64 / n, top5 as f64 / n))
}

/// Trains as `opts` says until done or `stop` is set (Ctrl-C), leaving a checkpoint either way.
pub fn train(
    opts: &TrainOptions,
    device: &Device,
    stop: &AtomicBool,
) -> Result<TrainReport, String> {
    let started = Instant::now();
    keep_freed_memory();
    let ckpt_path = checkpoint_path(&opts.output);
    let ckpt_bytes = if opts.resume {
        Some(
            std::fs::read(&ckpt_path)
                .map_err(|e| format!("--resume: cannot read {}: {e}", ckpt_path.display()))?,
        )
    } else {
        None
    };
    let resumed = match &ckpt_bytes {
        Some(bytes) => Some(
            file::decode(bytes, &ckpt_path.display().to_string(), device)
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let mut state: TrainState = match &resumed {
        Some(loaded) => {
            let text = loaded.extra.get("train_state").ok_or_else(|| {
                format!(
                    "{}: not a training checkpoint (no train_state)",
                    ckpt_path.display()
                )
            })?;
            serde_json::from_str(text)
                .map_err(|e| format!("{}: bad train_state: {e}", ckpt_path.display()))?
        }
        None => TrainState {
            epoch: 0,
            batch: 0,
            step: 0,
            loss_sum: 0.0,
            loss_count: 0,
            best_val: f64::INFINITY,
            best_epoch: 0,
            history: Vec::new(),
            curve: Vec::new(),
            wall_seconds: 0.0,
            data: opts.data.clone(),
            stride: opts.stride,
            transpose: opts.transpose,
            max_vocab: opts.max_vocab,
            val_fraction: opts.val_fraction,
            max_val_windows: opts.max_val_windows,
            seed: opts.seed,
            batch_size: opts.batch,
            grid: opts.grid,
        },
    };
    if resumed.is_some() {
        eprintln!(
            "resuming {} at epoch {} batch {} (data, split, stride, transposition, vocabulary and batch size come from the checkpoint unless changed)",
            ckpt_path.display(),
            state.epoch + 1,
            state.batch
        );
    }
    let mut config = match &resumed {
        Some(loaded) => loaded.meta.config.clone(),
        None => opts.config.clone(),
    };
    if resumed.is_some() {
        opts.changes.apply(&mut state, &mut config);
    }
    let prepared = prepare(
        &state.data,
        state.grid,
        config.window,
        state.transpose,
        state.max_vocab,
        state.val_fraction,
        state.max_val_windows,
        state.seed,
        resumed.as_ref().map(|l| l.meta.vocab.clone()),
        &mut |_| {},
    )?;
    config.vocab_size = prepared.vocab.len();
    config.validate()?;
    if prepared.train.is_empty() {
        return Err("no training windows: the data has no steps".into());
    }
    eprintln!(
        "data: {} training pieces ({} windows per epoch with transpositions ±{}, stride {}), {} held-out pieces ({} validation windows); vocabulary {} ids",
        prepared.train_files.len(),
        prepared.train.len() / state.stride.max(1),
        state.transpose,
        state.stride,
        prepared.val_files.len(),
        prepared.val.len(),
        prepared.vocab.len()
    );

    let workers = Workers::new(opts.workers)?;
    if workers.count() > 1 {
        eprintln!(
            "each batch is split over {} workers (one core each)",
            workers.count()
        );
    }
    let mut varmap = VarMap::new();
    let net = Network::new(
        &config,
        VarBuilder::from_varmap(&varmap, DType::F32, device),
    )
    .map_err(|e| e.to_string())?;
    let mut opt = AdamW::new(&varmap, opts.lr, opts.weight_decay, opts.clip_norm)
        .map_err(|e| e.to_string())?;
    if let (Some(loaded), Some(bytes)) = (&resumed, &ckpt_bytes) {
        for (name, t) in &loaded.tensors {
            varmap
                .set_one(name, t)
                .map_err(|e| format!("checkpoint tensor {name}: {e}"))?;
        }
        let moments =
            file::read_prefixed(bytes, "adamw.", &ckpt_path.display().to_string(), device)
                .map_err(|e| e.to_string())?;
        opt.restore(&moments, state.step)?;
    }
    eprintln!(
        "network: {} parameters",
        named_tensors(&varmap)
            .iter()
            .map(|(_, t)| t.elem_count())
            .sum::<usize>()
    );

    let base_meta = ModelMeta {
        config: config.clone(),
        vocab: prepared.vocab.clone(),
        grid: state.grid,
        summary: TrainingSummary::default(),
        fallback: prepared.fallback.clone(),
    };
    let summary_for =
        |state: &TrainState, epochs: f64, row: Option<&EpochRow>, wall: f64| TrainingSummary {
            data: state.data.iter().map(|p| p.display().to_string()).collect(),
            train_files: prepared.train_files.len(),
            val_files: prepared
                .val_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            val_fraction: state.val_fraction,
            seed: state.seed,
            stride: state.stride,
            transpose: state.transpose,
            max_vocab: state.max_vocab,
            batch: state.batch_size,
            lr: opts.lr,
            train_windows: prepared.train.len() / state.stride.max(1),
            val_windows: prepared.val.len(),
            epochs,
            best_epoch: row.map(|r| r.epoch).unwrap_or(0),
            train_loss: row.map(|r| r.train_loss).unwrap_or(f64::NAN),
            val_loss: row.map(|r| r.val_loss).unwrap_or(f64::NAN),
            val_accuracy: row.map(|r| r.val_accuracy).unwrap_or(f64::NAN),
            val_top5: row.map(|r| r.val_top5).unwrap_or(f64::NAN),
            wall_seconds: wall,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            command: opts.command.clone(),
        };
    let save_model = |path: &Path, summary: TrainingSummary| -> Result<(), String> {
        let meta = ModelMeta {
            summary,
            ..base_meta.clone()
        };
        let bytes = file::encode(&meta, &named_tensors(&varmap), &HashMap::new())?;
        file::write_atomically(path, &bytes)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))
    };
    let save_checkpoint =
        |state: &TrainState, opt: &AdamW, summary: TrainingSummary| -> Result<(), String> {
            let meta = ModelMeta {
                summary,
                ..base_meta.clone()
            };
            let mut tensors = named_tensors(&varmap);
            tensors.extend(opt.state());
            let mut extra = HashMap::new();
            extra.insert(
                "train_state".to_string(),
                serde_json::to_string(state).map_err(|e| e.to_string())?,
            );
            let bytes = file::encode(&meta, &tensors, &extra)?;
            file::write_atomically(&ckpt_path, &bytes)
                .map_err(|e| format!("{}: cannot write: {e}", ckpt_path.display()))
        };

    // Each epoch trains on the targets of one phase of the stride (epoch e: steps t ≡ e mod
    // stride), so successive epochs cover all of the data.
    let stride = state.stride.max(1);
    let epoch_examples = |epoch: usize| -> Vec<usize> {
        (0..prepared.train.len())
            .filter(|&i| prepared.train.examples[i].1 as usize % stride == epoch % stride)
            .collect()
    };
    let n = epoch_examples(state.epoch).len();
    let batch = state.batch_size.max(1);
    let batches = n.div_ceil(batch);
    let window = config.window;
    let (mut ctx, mut tgt) = (
        Vec::with_capacity(batch * window),
        Vec::with_capacity(batch),
    );
    let wall_before = state.wall_seconds;
    let mut interrupted = false;
    let mut last_checkpoint = Instant::now();
    let mut last_log = Instant::now();
    let (mut log_sum, mut log_count) = (0f64, 0usize);
    let best_row = |state: &TrainState| {
        state
            .history
            .iter()
            .find(|r| r.epoch == state.best_epoch)
            .cloned()
    };

    while state.epoch < opts.epochs {
        let epoch = state.epoch;
        let mut order = epoch_examples(epoch);
        let n = order.len();
        let batches = n.div_ceil(batch);
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(
            state
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(epoch as u64),
        ));
        let bar = epoch_bar(n as u64, epoch, opts.epochs);
        bar.set_position((state.batch * batch).min(n) as u64);
        let epoch_started = Instant::now();
        let mut epoch_windows = 0usize;
        while state.batch < batches {
            let b = state.batch;
            let which = &order[b * batch..((b + 1) * batch).min(n)];
            prepared
                .train
                .batch(which.iter().copied(), &mut ctx, &mut tgt);
            let loss = batch_step(&workers, &net, &mut opt, &ctx, &tgt, window, device)
                .map_err(|e| format!("training step failed: {e}"))?;
            if !loss.is_finite() {
                return Err(format!(
                    "the training loss became {loss} at epoch {} batch {b}; try a lower --lr",
                    epoch + 1
                ));
            }
            state.batch += 1;
            state.step = opt.step;
            state.loss_sum += loss;
            state.loss_count += 1;
            log_sum += loss;
            log_count += 1;
            epoch_windows += which.len();
            bar.inc(which.len() as u64);
            bar.set_message(format!(
                "loss {:.3}",
                state.loss_sum / state.loss_count as f64
            ));
            let elapsed = started.elapsed().as_secs_f64();
            state.wall_seconds = wall_before + elapsed;
            if last_log.elapsed().as_secs_f64() >= 60.0 {
                let rate = epoch_windows as f64 / epoch_started.elapsed().as_secs_f64();
                state.curve.push((
                    epoch as f64 + state.batch as f64 / batches as f64,
                    log_sum / log_count as f64,
                ));
                if bar.is_hidden() {
                    let eta = (n - (state.batch * batch).min(n)) as f64 / rate.max(1e-9);
                    eprintln!(
                        "epoch {}/{} batch {}/{} loss {:.4} (last minute {:.4}) {:.0} windows/s, epoch eta {:.1} min",
                        epoch + 1,
                        opts.epochs,
                        state.batch,
                        batches,
                        state.loss_sum / state.loss_count as f64,
                        log_sum / log_count as f64,
                        rate,
                        eta / 60.0
                    );
                }
                (log_sum, log_count) = (0.0, 0);
                last_log = Instant::now();
            }
            let stopping = stop.load(Ordering::Relaxed);
            if stopping || last_checkpoint.elapsed().as_secs_f64() >= opts.checkpoint_minutes * 60.0
            {
                let epochs_done = epoch as f64 + state.batch as f64 / batches as f64;
                let best = best_row(&state);
                save_checkpoint(
                    &state,
                    &opt,
                    summary_for(&state, epochs_done, best.as_ref(), state.wall_seconds),
                )?;
                if best.is_none() {
                    // No epoch finished yet: the current weights are the best there is.
                    save_model(
                        &opts.output,
                        summary_for(&state, epochs_done, None, state.wall_seconds),
                    )?;
                }
                last_checkpoint = Instant::now();
                if stopping {
                    bar.abandon_with_message("interrupted");
                    interrupted = true;
                    break;
                }
            }
        }
        if interrupted {
            break;
        }
        bar.finish_and_clear();
        let train_seconds = epoch_started.elapsed().as_secs_f64();
        eprintln!(
            "epoch {}: validating on {} windows",
            epoch + 1,
            prepared.val.len()
        );
        let (val_loss, val_acc, val_top5) = if prepared.val.is_empty() {
            (f64::NAN, f64::NAN, f64::NAN)
        } else {
            validate(&net, &prepared.val, device, 256)
                .map_err(|e| format!("validation failed: {e}"))?
        };
        let row = EpochRow {
            epoch: epoch + 1,
            train_loss: state.loss_sum / state.loss_count.max(1) as f64,
            val_loss,
            val_accuracy: val_acc,
            val_top5,
            windows_per_second: epoch_windows as f64 / train_seconds.max(1e-9),
            seconds: train_seconds,
        };
        eprintln!(
            "epoch {}: train loss {:.4}, val loss {:.4}, val top-1 {:.1}%, top-5 {:.1}%, {:.0} windows/s, {:.1} min",
            row.epoch,
            row.train_loss,
            row.val_loss,
            100.0 * row.val_accuracy,
            100.0 * row.val_top5,
            row.windows_per_second,
            row.seconds / 60.0
        );
        state.history.push(row.clone());
        state.epoch += 1;
        state.batch = 0;
        state.loss_sum = 0.0;
        state.loss_count = 0;
        state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
        // Without validation data every epoch counts as the best so far.
        if val_loss.is_nan() || state.best_val.is_nan() || val_loss < state.best_val {
            state.best_val = val_loss;
            state.best_epoch = row.epoch;
            save_model(
                &opts.output,
                summary_for(&state, state.epoch as f64, Some(&row), state.wall_seconds),
            )?;
            eprintln!(
                "epoch {}: best so far, saved {}",
                row.epoch,
                opts.output.display()
            );
        }
        let best = best_row(&state);
        save_checkpoint(
            &state,
            &opt,
            summary_for(
                &state,
                state.epoch as f64,
                best.as_ref(),
                state.wall_seconds,
            ),
        )?;
        last_checkpoint = Instant::now();
        write_csv(&sidecar(&opts.output, "csv"), &state.history)?;
        if let Err(e) = plot(&sidecar(&opts.output, "png"), &state.curve, &state.history) {
            eprintln!("warning: cannot draw the loss plot: {e}");
        }
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if crate::model::training::patience_exhausted(state.epoch, state.best_epoch, opts.patience)
        {
            eprintln!(
                "stopping early: no better held-out loss for {} epochs since epoch {} (--patience)",
                opts.patience, state.best_epoch
            );
            break;
        }
    }
    if !state.history.is_empty() {
        write_csv(&sidecar(&opts.output, "csv"), &state.history)?;
        if let Err(e) = plot(&sidecar(&opts.output, "png"), &state.curve, &state.history) {
            eprintln!("warning: cannot draw the loss plot: {e}");
        }
    }
    let best = best_row(&state);
    let epochs_done = state.epoch as f64
        + if state.batch > 0 {
            state.batch as f64 / batches as f64
        } else {
            0.0
        };
    Ok(TrainReport {
        summary: summary_for(&state, epochs_done, best.as_ref(), state.wall_seconds),
        history: state.history.clone(),
        interrupted,
        model: opts.output.clone(),
        checkpoint: ckpt_path,
    })
}

fn epoch_bar(len: u64, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} windows, {msg}, {per_sec}, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
    bar
}

/// The CSV log: one line per epoch.
pub fn write_csv(path: &Path, rows: &[EpochRow]) -> Result<(), String> {
    let mut text = String::from(
        "epoch,train_loss,val_loss,val_accuracy,val_top5,windows_per_second,seconds\n",
    );
    for r in rows {
        text += &format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.1},{:.1}\n",
            r.epoch,
            r.train_loss,
            r.val_loss,
            r.val_accuracy,
            r.val_top5,
            r.windows_per_second,
            r.seconds
        );
    }
    crate::fs_safe::write_atomically(path, text.as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data-parallel workers, each in chunks, compute the same step as one pass over the whole
    /// batch: the loss and, after three AdamW steps, every weight agree to rounding (dropout off,
    /// so all see the same network).
    #[test]
    fn two_workers_train_as_one_does() {
        let dev = Device::Cpu;
        let config = Config {
            vocab_size: 40,
            window: 12,
            embedding: 8,
            hidden: 6,
            attention_width: 6,
            dense: 10,
            dropout: 0.0,
            ..Config::default()
        };
        let first = VarMap::new();
        let _ = Network::new(&config, VarBuilder::from_varmap(&first, DType::F32, &dev)).unwrap();
        let weights = named_tensors(&first);
        // More windows than a chunk, so one worker does three chunks and two do two each.
        let n = 2 * MAX_CHUNK + 22;
        let ids: Vec<u32> = (0..n * config.window)
            .map(|i| (i * 7 % 40) as u32)
            .collect();
        let targets: Vec<u32> = (0..n).map(|i| (i * 11 % 40) as u32).collect();
        let run = |workers: usize| {
            let mut varmap = VarMap::new();
            let net =
                Network::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
            for (name, t) in &weights {
                varmap.set_one(name, t).unwrap();
            }
            let mut opt = AdamW::new(&varmap, 1e-2, 0.01, 5.0).unwrap();
            let pool = Workers::new(workers).unwrap();
            let losses: Vec<f64> = (0..3)
                .map(|_| {
                    if workers == 0 {
                        // The whole batch in one pass, as training did before workers.
                        let x = Tensor::from_slice(&ids, (n, config.window), &dev).unwrap();
                        let t = Tensor::from_slice(&targets, n, &dev).unwrap();
                        let loss =
                            candle_nn::loss::cross_entropy(&net.forward_t(&x, true).unwrap(), &t)
                                .unwrap();
                        let value = loss.to_scalar::<f32>().unwrap() as f64;
                        opt.update(&loss).unwrap();
                        value
                    } else {
                        batch_step(&pool, &net, &mut opt, &ids, &targets, config.window, &dev)
                            .unwrap()
                    }
                })
                .collect();
            (losses, named_tensors(&varmap))
        };
        let (whole, w0) = run(0);
        let (one, w1) = run(1);
        let (two, w2) = run(2);
        // The same losses and, after three steps, the same weights, to rounding.
        let agree = |(la, wa): (&[f64], &[(String, Tensor)]),
                     (lb, wb): (&[f64], &[(String, Tensor)])| {
            for (a, b) in la.iter().zip(lb) {
                assert!((a - b).abs() < 1e-5, "losses {la:?} vs {lb:?}");
            }
            crate::model::training::assert_same_weights(wa, wb, 1e-4);
        };
        agree((&whole, &w0), (&one, &w1));
        agree((&one, &w1), (&two, &w2));
        assert_eq!(Workers::new(2).unwrap().count(), 2);
        assert!(one[2] < one[0], "it did not learn: {one:?}");
    }

    /// Two variables with the same initial values in two var maps, and a loss on them.
    fn setup(clip_norm: f64) -> Vec<(VarMap, AdamW)> {
        let dev = Device::Cpu;
        let a = Tensor::randn(0f32, 1.0, (7, 5), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 5, &dev).unwrap();
        (0..2)
            .map(|_| {
                let varmap = VarMap::new();
                let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
                vb.get_with_hints((7, 5), "a", candle_nn::Init::Const(0.0))
                    .unwrap();
                vb.get_with_hints(5, "b", candle_nn::Init::Const(0.0))
                    .unwrap();
                let mut varmap = varmap;
                varmap.set_one("a", &a).unwrap();
                varmap.set_one("b", &b).unwrap();
                let opt = AdamW::new(&varmap, 1e-2, 0.1, clip_norm).unwrap();
                (varmap, opt)
            })
            .collect()
    }

    fn loss(varmap: &VarMap, x: &Tensor) -> Tensor {
        let data = varmap.data().lock().unwrap();
        let (a, b) = (data["a"].as_tensor(), data["b"].as_tensor());
        x.matmul(a)
            .unwrap()
            .broadcast_add(b)
            .unwrap()
            .tanh()
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
    }

    /// The fused CPU update and the candle-op update agree over several steps, with the clip
    /// active (tiny clip norm) and not.
    #[test]
    fn fused_adamw_matches_candle_ops() {
        for clip_norm in [1e-3, 0.0] {
            let mut runs = setup(clip_norm);
            // A copy: the variables are updated in place.
            let start = named_tensors(&runs[0].0)[0].1.copy().unwrap();
            for _ in 0..4 {
                let x = Tensor::randn(0f32, 1.0, (3, 7), &Device::Cpu).unwrap();
                let mut norms = Vec::new();
                for (fused, (varmap, opt)) in [true, false].into_iter().zip(runs.iter_mut()) {
                    let grads = loss(varmap, &x).backward().unwrap();
                    norms.push(opt.apply(&grads, fused).unwrap());
                }
                assert!((norms[0] - norms[1]).abs() <= 1e-6 * norms[1].max(1.0));
            }
            let (fused, plain) = (named_tensors(&runs[0].0), named_tensors(&runs[1].0));
            let (fused_state, plain_state) = (runs[0].1.state(), runs[1].1.state());
            for ((name, f), (_, p)) in fused
                .iter()
                .chain(&fused_state)
                .zip(plain.iter().chain(&plain_state))
            {
                let diff = crate::model::max_diff(f, p);
                assert!(diff < 1e-6, "clip {clip_norm}: {name} differs by {diff}");
            }
            // The variables did move.
            let moved = (&start - &fused[0].1)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(moved > 0.0);
        }
    }
}
