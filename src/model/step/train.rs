//! Training the step model: pieces split by piece (held-out pieces never trained on), each epoch
//! every training piece once in chunks with a random transposition each, AdamW, validation as the
//! exact NLL of the whole held-out pieces with the running state, checkpoints that `--resume`
//! continues exactly, the best epoch kept as the model file, a CSV log and a PNG plot.
//!
//! Files beside `<out>.safetensors`: `<out>.checkpoint.safetensors` (weights, optimizer moments,
//! training state; a loadable model itself), `<out>.csv`, `<out>.png`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::data::{epoch_chunks, fill_batch, read_files, Chunk, StepPiece};
use super::network::{Batch, StepNetwork};
use super::{Config, StepMeta, StepModel};
use crate::model::file::{self, TrainingSummary};
use crate::model::training::{checkpoint_path, named_tensors, plot, sidecar, AdamW, EpochRow};
use crate::model::workers::{Share, Workers};
use crate::roll::{split_pieces, Grid};

/// What to train on and how.
#[derive(Debug, Clone)]
pub struct StepTrainOptions {
    pub data: Vec<PathBuf>,
    /// A benchmark set's JSON ([`super::benchmark`]) instead of `data`: trains on its `train`
    /// split and chooses the epoch on `valid` (the model must be binary).
    pub benchmark: Option<PathBuf>,
    pub output: PathBuf,
    pub epochs: usize,
    /// Chunks per optimizer step.
    pub batch: usize,
    /// Steps per chunk (each chunk starts from a zero running state).
    pub chunk_len: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub clip_norm: f64,
    /// Random transposition of each chunk within ±this many semitones (staying on the piano).
    pub transpose: u32,
    pub val_fraction: f64,
    /// At most this many held-out steps scored per validation (whole pieces, in order; 0 = all).
    pub max_val_steps: usize,
    pub seed: u64,
    pub resume: bool,
    pub grid: Grid,
    pub config: Config,
    pub checkpoint_minutes: f64,
    pub command: String,
    /// With `resume`: a new learning rate is `lr` itself; these change the checkpoint's.
    pub change_transpose: Option<u32>,
    pub change_chunk_len: Option<usize>,
    /// Data-parallel workers the chunks of a batch are split over (0 or 1: one); see
    /// [`crate::model::workers`].
    pub workers: usize,
    /// Stop when the held-out NLL has not improved for this many epochs (0 = run all epochs).
    pub patience: usize,
}

impl Default for StepTrainOptions {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            benchmark: None,
            output: PathBuf::from("model.safetensors"),
            epochs: 10,
            batch: 8,
            chunk_len: 256,
            lr: 2e-3,
            weight_decay: 0.01,
            clip_norm: 5.0,
            transpose: 6,
            val_fraction: 0.05,
            max_val_steps: 0,
            seed: 1,
            resume: false,
            grid: Grid::default(),
            config: Config::default(),
            checkpoint_minutes: 5.0,
            command: String::new(),
            change_transpose: None,
            change_chunk_len: None,
            workers: 1,
            patience: 0,
        }
    }
}

/// Everything `--resume` needs besides weights and moments.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct State {
    epoch: usize,
    batch: usize,
    step: usize,
    #[serde(deserialize_with = "crate::model::file::nan_if_null")]
    loss_sum: f64,
    loss_count: usize,
    #[serde(deserialize_with = "crate::model::file::nan_if_null")]
    best_val: f64,
    best_epoch: usize,
    history: Vec<EpochRow>,
    curve: Vec<(f64, f64)>,
    #[serde(deserialize_with = "crate::model::file::nan_if_null")]
    wall_seconds: f64,
    data: Vec<PathBuf>,
    transpose: u32,
    chunk_len: usize,
    #[serde(deserialize_with = "crate::model::file::nan_if_null")]
    val_fraction: f64,
    max_val_steps: usize,
    seed: u64,
    batch_size: usize,
    grid: Grid,
    #[serde(default)]
    benchmark: Option<PathBuf>,
}

/// What a finished (or interrupted) run reports.
#[derive(Debug, Clone)]
pub struct StepTrainReport {
    pub summary: TrainingSummary,
    pub history: Vec<EpochRow>,
    pub interrupted: bool,
    pub model: PathBuf,
    pub checkpoint: PathBuf,
}

/// The pieces of a run, split by piece as the seed model's training splits them (same files and
/// seed give the same held-out pieces).
pub struct Split {
    pub train: Vec<StepPiece>,
    pub val: Vec<StepPiece>,
}

pub fn split(paths: &[PathBuf], grid: Grid, val_fraction: f64, seed: u64) -> Result<Split, String> {
    let files = crate::corpus::find_midi_files(paths)?;
    let pieces = read_files(&files, grid, |_| {});
    if pieces.is_empty() {
        return Err(format!(
            "no readable MIDI file among the {} found under {}",
            files.len(),
            crate::corpus::display_paths(paths)
        ));
    }
    let (train_idx, val_idx) = split_pieces(pieces.len(), val_fraction, seed);
    Ok(Split {
        train: train_idx.iter().map(|&i| pieces[i].clone()).collect(),
        val: val_idx.iter().map(|&i| pieces[i].clone()).collect(),
    })
}

/// A benchmark set's `train` and `valid` splits as a run's pieces.
pub fn benchmark_split(path: &Path) -> Result<(Split, String), String> {
    let set = super::benchmark::BenchmarkSet::read(path)?;
    Ok((
        Split {
            train: set.train,
            val: set.valid,
        },
        set.name,
    ))
}

/// The chunks of epoch `epoch`, in training order.
fn epoch_order(pieces: &[StepPiece], state: &State, epoch: usize) -> Vec<super::data::Chunk> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        state
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(epoch as u64)
            .wrapping_add(0x57e9),
    );
    let mut chunks = epoch_chunks(pieces, state.chunk_len, state.transpose, &mut rng);
    chunks.shuffle(&mut rng);
    chunks
}

/// One AdamW step on the chunks `which` (teacher forcing), split over `workers` by chunks; returns
/// the mean loss per real step. Each share's loss is its own mean over its real steps, so it
/// weighs by its share of them.
pub fn chunks_step(
    workers: &Workers,
    net: &StepNetwork,
    opt: &mut AdamW,
    config: &Config,
    pieces: &[StepPiece],
    which: &[Chunk],
    device: &Device,
) -> candle_core::Result<f64> {
    let real: usize = which.iter().map(|c| c.len as usize).sum();
    let k = workers.count().min(which.len()).max(1);
    workers.step(opt, k, |i| {
        let part = &which[i * which.len() / k..(i + 1) * which.len() / k];
        let len = part.iter().map(|c| c.len as usize).max().unwrap_or(1);
        let mut batch = Batch::default();
        fill_batch(config, pieces, part, len, &mut batch);
        let loss = net.loss(&batch, device, true)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let steps: usize = part.iter().map(|c| c.len as usize).sum();
        Ok(vec![Share {
            loss: value,
            grads: loss.backward()?,
            weight: steps as f64 / real.max(1) as f64,
        }])
    })
}

/// Trains until done or `stop` is set, leaving a checkpoint either way.
pub fn train(
    opts: &StepTrainOptions,
    device: &Device,
    stop: &AtomicBool,
) -> Result<StepTrainReport, String> {
    let started = Instant::now();
    crate::model::training::keep_freed_memory();
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
            super::decode(bytes, &ckpt_path.display().to_string(), device)
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let mut state: State = match &resumed {
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
        None => State {
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
            transpose: opts.transpose,
            chunk_len: opts.chunk_len,
            val_fraction: opts.val_fraction,
            max_val_steps: opts.max_val_steps,
            seed: opts.seed,
            batch_size: opts.batch,
            grid: opts.grid,
            benchmark: opts.benchmark.clone(),
        },
    };
    let config = match &resumed {
        Some(loaded) => loaded.meta.config.clone(),
        None => Config {
            steps_per_beat: opts.grid.steps_per_beat as usize,
            ..opts.config.clone()
        },
    };
    config.validate()?;
    if !state.grid.onsets {
        return Err("the step model needs struck marks (do not pass --no-onsets)".into());
    }
    if resumed.is_some() {
        eprintln!(
            "resuming {} at epoch {} batch {}",
            ckpt_path.display(),
            state.epoch + 1,
            state.batch
        );
        let mut reorder = false;
        if let Some(t) = opts.change_transpose.filter(|&t| t != state.transpose) {
            eprintln!(
                "changing the transpositions from ±{} to ±{t}",
                state.transpose
            );
            state.transpose = t;
            reorder = true;
        }
        if let Some(c) = opts.change_chunk_len.filter(|&c| c != state.chunk_len) {
            eprintln!("changing the chunk length from {} to {c}", state.chunk_len);
            state.chunk_len = c;
            reorder = true;
        }
        if reorder && state.batch > 0 {
            eprintln!("epoch {} starts over (its order changed)", state.epoch + 1);
            state.batch = 0;
            state.loss_sum = 0.0;
            state.loss_count = 0;
        }
    }
    let (data, benchmark) = match &state.benchmark {
        Some(path) => {
            if !config.binary {
                return Err("a benchmark set trains a binary model (config binary)".into());
            }
            let (data, name) = benchmark_split(path)?;
            (data, Some(name))
        }
        None => (
            split(&state.data, state.grid, state.val_fraction, state.seed)?,
            None,
        ),
    };
    let train_steps: usize = data.train.iter().map(|p| p.steps.len()).sum();
    if train_steps == 0 {
        return Err("no training steps: the data has no music".into());
    }
    let mut val = data.val.clone();
    if state.max_val_steps > 0 {
        let mut left = state.max_val_steps;
        val.retain_mut(|p| {
            if left == 0 {
                return false;
            }
            p.steps.truncate(left);
            left -= p.steps.len();
            true
        });
    }
    let val_steps: usize = val.iter().map(|p| p.steps.len()).sum();
    eprintln!(
        "data: {} training pieces ({} steps per epoch, each chunk of {} steps transposed at random within ±{}), {} held-out pieces ({} steps scored)",
        data.train.len(),
        train_steps,
        state.chunk_len,
        state.transpose,
        data.val.len(),
        val_steps
    );

    let mut varmap = VarMap::new();
    let net = StepNetwork::new(
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
    let parameters: usize = named_tensors(&varmap)
        .iter()
        .map(|(_, t)| t.elem_count())
        .sum();
    eprintln!("network: {parameters} parameters");

    let train_files = data.train.len();
    let val_files: Vec<String> = data
        .val
        .iter()
        .map(|p| p.path.display().to_string())
        .collect();
    let summary_for = |state: &State, epochs: f64, row: Option<&EpochRow>| TrainingSummary {
        data: state
            .benchmark
            .iter()
            .chain(&state.data)
            .map(|p| p.display().to_string())
            .collect(),
        train_files,
        val_files: val_files.clone(),
        val_fraction: state.val_fraction,
        seed: state.seed,
        stride: 1,
        transpose: state.transpose,
        max_vocab: 0,
        batch: state.batch_size,
        lr: opts.lr,
        train_windows: train_steps,
        val_windows: val_steps,
        epochs,
        best_epoch: row.map(|r| r.epoch).unwrap_or(0),
        train_loss: row.map(|r| r.train_loss).unwrap_or(f64::NAN),
        val_loss: row.map(|r| r.val_loss).unwrap_or(f64::NAN),
        val_accuracy: row.map(|r| r.val_accuracy).unwrap_or(f64::NAN),
        val_top5: f64::NAN,
        wall_seconds: state.wall_seconds,
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        command: opts.command.clone(),
    };
    let meta_with = |summary: TrainingSummary| StepMeta {
        config: config.clone(),
        grid: state.grid,
        summary,
        benchmark: benchmark.clone(),
    };
    let save_model = |path: &Path, summary: TrainingSummary| -> Result<(), String> {
        let bytes = super::encode(
            &meta_with(summary),
            &named_tensors(&varmap),
            &HashMap::new(),
        )?;
        file::write_atomically(path, &bytes)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))
    };
    let save_checkpoint =
        |state: &State, opt: &AdamW, summary: TrainingSummary| -> Result<(), String> {
            let mut tensors = named_tensors(&varmap);
            tensors.extend(opt.state());
            let mut extra = HashMap::new();
            extra.insert(
                "train_state".to_string(),
                serde_json::to_string(state).map_err(|e| e.to_string())?,
            );
            let bytes = super::encode(&meta_with(summary), &tensors, &extra)?;
            file::write_atomically(&ckpt_path, &bytes)
                .map_err(|e| format!("{}: cannot write: {e}", ckpt_path.display()))
        };
    let validate = || -> Result<(f64, f64), String> {
        let tensors: HashMap<String, Tensor> = named_tensors(&varmap)
            .into_iter()
            .map(|(k, t)| t.to_device(&Device::Cpu).map(|t| (k, t)))
            .collect::<candle_core::Result<_>>()
            .map_err(|e| e.to_string())?;
        let model =
            StepModel::from_parts(meta_with(TrainingSummary::default()), tensors, "validation")
                .map_err(|e| e.to_string())?;
        let (nll, exact, _) = super::eval::model_nll(&model, &val, |_| {});
        Ok((nll, exact))
    };
    let best_row = |state: &State| {
        state
            .history
            .iter()
            .find(|r| r.epoch == state.best_epoch)
            .cloned()
    };

    let batch_size = state.batch_size.max(1);
    let wall_before = state.wall_seconds;
    let mut interrupted = false;
    let mut last_checkpoint = Instant::now();
    let mut last_log = Instant::now();
    let (mut log_sum, mut log_count) = (0f64, 0usize);
    let workers = Workers::new(opts.workers)?;
    while state.epoch < opts.epochs {
        let epoch = state.epoch;
        let order = epoch_order(&data.train, &state, epoch);
        let batches = order.len().div_ceil(batch_size);
        let epoch_started = Instant::now();
        let mut epoch_steps = 0usize;
        while state.batch < batches {
            let b = state.batch;
            let which = &order[b * batch_size..((b + 1) * batch_size).min(order.len())];
            let real: usize = which.iter().map(|c| c.len as usize).sum();
            let loss = chunks_step(
                &workers,
                &net,
                &mut opt,
                &config,
                &data.train,
                which,
                device,
            )
            .map_err(|e| format!("training step failed: {e}"))?;
            if !loss.is_finite() {
                return Err(format!(
                    "the training loss became {loss} at epoch {} batch {b}; try a lower --lr",
                    epoch + 1
                ));
            }
            state.batch += 1;
            state.step = opt.step;
            state.loss_sum += loss * real as f64;
            state.loss_count += real;
            log_sum += loss * real as f64;
            log_count += real;
            epoch_steps += real;
            state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
            if last_log.elapsed().as_secs_f64() >= 60.0 {
                let rate = epoch_steps as f64 / epoch_started.elapsed().as_secs_f64();
                state.curve.push((
                    epoch as f64 + state.batch as f64 / batches as f64,
                    log_sum / log_count.max(1) as f64,
                ));
                eprintln!(
                    "epoch {}/{} batch {}/{} loss {:.4} nats/step (last minute {:.4}) {:.0} steps/s, epoch eta {:.1} min",
                    epoch + 1,
                    opts.epochs,
                    state.batch,
                    batches,
                    state.loss_sum / state.loss_count.max(1) as f64,
                    log_sum / log_count.max(1) as f64,
                    rate,
                    (train_steps.saturating_sub(epoch_steps)) as f64 / rate.max(1e-9) / 60.0
                );
                (log_sum, log_count) = (0.0, 0);
                last_log = Instant::now();
            }
            let stopping = stop.load(Ordering::Relaxed);
            if stopping || last_checkpoint.elapsed().as_secs_f64() >= opts.checkpoint_minutes * 60.0
            {
                let done = epoch as f64 + state.batch as f64 / batches as f64;
                let best = best_row(&state);
                save_checkpoint(&state, &opt, summary_for(&state, done, best.as_ref()))?;
                if best.is_none() {
                    save_model(&opts.output, summary_for(&state, done, None))?;
                }
                last_checkpoint = Instant::now();
                if stopping {
                    interrupted = true;
                    break;
                }
            }
        }
        if interrupted {
            break;
        }
        let train_seconds = epoch_started.elapsed().as_secs_f64();
        let (val_loss, val_exact) = if val.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            validate()?
        };
        let row = EpochRow {
            epoch: epoch + 1,
            train_loss: state.loss_sum / state.loss_count.max(1) as f64,
            val_loss,
            val_accuracy: val_exact,
            val_top5: f64::NAN,
            windows_per_second: epoch_steps as f64 / train_seconds.max(1e-9),
            seconds: train_seconds,
        };
        eprintln!(
            "epoch {}: train loss {:.4}, held-out NLL {:.4} nats/step ({:.1}% of steps exactly greedy), {:.0} steps/s, {:.1} min",
            row.epoch,
            row.train_loss,
            row.val_loss,
            100.0 * row.val_accuracy,
            row.windows_per_second,
            row.seconds / 60.0
        );
        state.curve.push((row.epoch as f64, row.train_loss));
        state.history.push(row.clone());
        state.epoch += 1;
        state.batch = 0;
        state.loss_sum = 0.0;
        state.loss_count = 0;
        state.wall_seconds = wall_before + started.elapsed().as_secs_f64();
        if val_loss.is_nan() || state.best_val.is_nan() || val_loss < state.best_val {
            state.best_val = val_loss;
            state.best_epoch = row.epoch;
            save_model(
                &opts.output,
                summary_for(&state, state.epoch as f64, Some(&row)),
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
            summary_for(&state, state.epoch as f64, best.as_ref()),
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
    let best = best_row(&state);
    let order_len = epoch_order(&data.train, &state, state.epoch).len();
    let batches = order_len.div_ceil(batch_size).max(1);
    let done = state.epoch as f64 + state.batch as f64 / batches as f64;
    Ok(StepTrainReport {
        summary: summary_for(&state, done, best.as_ref()),
        history: state.history.clone(),
        interrupted,
        model: opts.output.clone(),
        checkpoint: ckpt_path,
    })
}

/// The CSV log: one line per epoch (loss in nats per step; `val_greedy_exact` is the share of
/// held-out steps greedy decoding gets exactly right).
pub fn write_csv(path: &Path, rows: &[EpochRow]) -> Result<(), String> {
    let mut text =
        String::from("epoch,train_loss,val_loss,val_greedy_exact,steps_per_second,seconds\n");
    for r in rows {
        text += &format!(
            "{},{:.6},{:.6},{:.6},{:.1},{:.1}\n",
            r.epoch, r.train_loss, r.val_loss, r.val_accuracy, r.windows_per_second, r.seconds
        );
    }
    crate::fs_safe::write_atomically(path, text.as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data-parallel steps compute what one whole-batch step does: on chunks of a real piece
    /// (of unequal lengths, so the shares weigh differently), one worker and two workers give
    /// the same losses and, after three AdamW steps, the same weights, to rounding (dropout
    /// off, so all see the same network).
    #[test]
    fn two_workers_train_as_one_does() {
        let dev = Device::Cpu;
        let config = Config {
            input: 8,
            hidden: 10,
            decoder: 6,
            prev_span: 3,
            below_span: 2,
            dropout: 0.0,
            ..Config::default()
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/piano/bach_prelude_bwv_846.mid");
        let grid = Grid {
            steps_per_beat: config.steps_per_beat as u32,
            onsets: true,
        };
        let pieces = read_files(&[path], grid, |_| {});
        assert_eq!(pieces.len(), 1, "the fixture reads");
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let chunks = epoch_chunks(&pieces, 40, 2, &mut rng);
        // Four full chunks and the piece's last, shorter one.
        let mut which: Vec<Chunk> = chunks[1..5].to_vec();
        which.push(chunks.last().unwrap().clone());
        let lens: Vec<u32> = which.iter().map(|c| c.len).collect();
        assert!(
            lens.iter().any(|&l| l != lens[0]),
            "unequal chunks: {lens:?}"
        );

        let first = VarMap::new();
        let _ = StepNetwork::new(&config, VarBuilder::from_varmap(&first, DType::F32, &dev));
        let weights = named_tensors(&first);
        let run = |workers: usize| {
            let mut varmap = VarMap::new();
            let net = StepNetwork::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev))
                .unwrap();
            for (name, t) in &weights {
                varmap.set_one(name, t).unwrap();
            }
            let mut opt = AdamW::new(&varmap, 1e-2, 0.01, 5.0).unwrap();
            let pool = Workers::new(workers).unwrap();
            let losses: Vec<f64> = (0..3)
                .map(|_| {
                    chunks_step(&pool, &net, &mut opt, &config, &pieces, &which, &dev).unwrap()
                })
                .collect();
            (losses, named_tensors(&varmap))
        };
        let (one, w1) = run(1);
        let (two, w2) = run(2);
        // The loss sums 88 keys' NLL per step (≈ 80 nats here): agreement relative to f32's.
        for (a, b) in one.iter().zip(&two) {
            assert!((a - b).abs() < 1e-6 * a.abs(), "losses {one:?} vs {two:?}");
        }
        crate::model::training::assert_same_weights(&w1, &w2, 1e-4);
        assert!(one[2] < one[0], "it did not learn: {one:?}");
    }
}
