//! `continuo train`: trains a model (`--kind seed`, the default, or `--kind step`) on folders of
//! MIDI files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::model::seed::train::{self, ResumeChanges, TrainOptions};
use crate::model::{device, Config};
use crate::roll::{Grid, DEFAULT_STEPS_PER_BEAT, DEFAULT_WINDOW};

#[derive(clap::Args)]
pub struct Args {
    /// Which model: `seed` (the reference design's chord-token network) or `step` (the causal
    /// model over the 88 keys).
    #[arg(long, default_value = "seed", value_parser = ["seed", "step"])]
    kind: String,
    /// MIDI files or folders to learn from (searched recursively).
    #[arg(long, required_unless_present = "benchmark", num_args = 1..)]
    data: Vec<PathBuf>,
    /// Step: a set of the polyphonic-music benchmark (Boulanger-Lewandowski et al. 2012) as its
    /// JSON, e.g. ../shared/benchmarks/boulanger2012/Piano-midi.de.json, instead of --data:
    /// trains a binary model (keys on/off, one step per frame, no meter) on its `train` split and
    /// keeps the epoch best on `valid` [transpose default 0].
    #[arg(long, conflicts_with = "data")]
    benchmark: Option<PathBuf>,
    /// The model file to write (the best epoch); the checkpoint, CSV log and loss plot go beside it.
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Windows (seed) or chunks (step) per optimizer step [default: 256 seed, 8 step].
    #[arg(long)]
    batch: Option<usize>,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Context length in steps [default: 50]. With --resume: changes the checkpoint's.
    #[arg(long)]
    window: Option<usize>,
    /// Take every N-th step of each piece as a training target (each epoch takes the next
    /// phase) [default: 1]. With --resume: changes the checkpoint's.
    #[arg(long)]
    stride: Option<usize>,
    /// Vocabulary size, REST and UNK included (the most frequent chords are kept).
    #[arg(long, default_value_t = 4096)]
    max_vocab: usize,
    /// Seed: also train on every transposition by up to ±N semitones that stays on the piano
    /// [default: 0]. Step: transpose each chunk at random within ±N [default: 6]. With --resume:
    /// changes the checkpoint's.
    #[arg(long)]
    transpose: Option<u32>,
    /// Fraction of the pieces held out for validation (by piece, never by window).
    #[arg(long, default_value_t = 0.05)]
    val_fraction: f64,
    /// At most this many validation windows per epoch, evenly spread over the held-out pieces.
    #[arg(long, default_value_t = 20000)]
    max_val_windows: usize,
    /// Seed of the split, the shuffling and the initial weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// auto, cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    device: String,
    /// CPU cores to train on (0 = all): each batch is split over that many data-parallel
    /// workers, one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Continue from the checkpoint beside --output.
    #[arg(long)]
    resume: bool,
    /// Minutes between checkpoints inside an epoch.
    #[arg(long, default_value_t = 5.0)]
    checkpoint_minutes: f64,
    /// Grid resolution: steps per quarter-note beat.
    #[arg(long, default_value_t = DEFAULT_STEPS_PER_BEAT, value_parser = clap::value_parser!(u32).range(1..=48))]
    steps_per_beat: u32,
    /// Plain tokens without struck marks (the reference design's).
    #[arg(long)]
    no_onsets: bool,
    /// Hidden size of each GRU direction (seed) or of the time GRU (step) [default: 128 seed,
    /// 256 step].
    #[arg(long)]
    hidden: Option<usize>,
    /// Embedding width.
    #[arg(long, default_value_t = 100)]
    embedding: usize,
    /// Dense layer width.
    #[arg(long, default_value_t = 64)]
    dense: usize,
    /// Dropout probability [default: 0.3 seed, 0.1 step].
    #[arg(long)]
    dropout: Option<f32>,
    /// Step: steps per training chunk (each starts from a zero running state) [default: 256].
    /// With --resume: changes the checkpoint's.
    #[arg(long)]
    chunk: Option<usize>,
    /// Step: width of the step embedding the time GRU reads.
    #[arg(long, default_value_t = 128)]
    input: usize,
    /// Step: width of the key-by-key decoder.
    #[arg(long, default_value_t = 64)]
    decoder: usize,
    /// Step: each key sees the keys within this many semitones the step before.
    #[arg(long, default_value_t = 12)]
    prev_span: usize,
    /// Step: each key sees this many keys just below it in the same step.
    #[arg(long, default_value_t = 12)]
    below_span: usize,
    /// Step: at most this many held-out steps scored per validation (0 = all).
    #[arg(long, default_value_t = 0)]
    max_val_steps: usize,
    /// Early stopping: end training when the held-out loss has not improved for this many
    /// epochs (0 = run every epoch). The best epoch is the model file either way.
    #[arg(long, default_value_t = 0)]
    patience: usize,
}

pub fn run(args: Args) -> Result<(), String> {
    // Both kinds split each batch over the cores (data-parallel workers, each on one core,
    // products serial inside; see model::workers).
    let workers = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    device::set_threads(1);
    device::serial_elementwise();
    let (device, said) = device::select(&args.device)?;
    eprintln!("{said}");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: quitting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!(
                "\nCtrl-C: writing a checkpoint after this batch (Ctrl-C again to quit at once)"
            );
        })
        .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    }
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create folder: {e}", dir.display()))?;
    }
    if args.benchmark.is_some() && args.kind != "step" {
        return Err("--benchmark trains a binary step model: add --kind step".into());
    }
    if args.kind == "step" {
        return run_step(args, workers, &device, &stop);
    }
    let config = Config {
        window: args.window.unwrap_or(DEFAULT_WINDOW),
        hidden: args.hidden.unwrap_or(128),
        embedding: args.embedding,
        dense: args.dense,
        dropout: args.dropout.unwrap_or(0.3),
        ..Config::default()
    };
    let opts = TrainOptions {
        data: args.data,
        output: args.output,
        epochs: args.epochs,
        batch: args.batch.unwrap_or(256),
        lr: args.lr,
        stride: args.stride.unwrap_or(1),
        max_vocab: args.max_vocab,
        transpose: args.transpose.unwrap_or(0),
        val_fraction: args.val_fraction,
        max_val_windows: args.max_val_windows,
        seed: args.seed,
        resume: args.resume,
        grid: Grid {
            steps_per_beat: args.steps_per_beat,
            onsets: !args.no_onsets,
        },
        config,
        checkpoint_minutes: args.checkpoint_minutes,
        command: command_line(),
        changes: ResumeChanges {
            window: args.window,
            stride: args.stride,
            transpose: args.transpose,
        },
        workers,
        patience: args.patience,
        ..TrainOptions::default()
    };
    let report = train::train(&opts, &device, &stop)?;
    if report.interrupted {
        println!(
            "interrupted; continue with the same command plus --resume (checkpoint {})",
            report.checkpoint.display()
        );
    }
    println!("{}", report.summary);
    println!("model: {}", report.model.display());
    Ok(())
}

fn run_step(
    args: Args,
    workers: usize,
    device: &candle_core::Device,
    stop: &AtomicBool,
) -> Result<(), String> {
    use crate::model::step::{self, train::StepTrainOptions};
    if args.no_onsets {
        return Err("the step model needs struck marks: drop --no-onsets".into());
    }
    let binary = args.benchmark.is_some();
    // A benchmark frame is one step with no metrical position.
    let steps_per_beat = if binary { 1 } else { args.steps_per_beat };
    let defaults = step::Config::default();
    let config = step::Config {
        steps_per_beat: steps_per_beat as usize,
        input: args.input,
        hidden: args.hidden.unwrap_or(defaults.hidden),
        decoder: args.decoder,
        prev_span: args.prev_span,
        below_span: args.below_span,
        dropout: args.dropout.unwrap_or(defaults.dropout),
        binary,
    };
    let d = StepTrainOptions::default();
    let transpose_default = if binary { 0 } else { d.transpose };
    let opts = StepTrainOptions {
        data: args.data,
        benchmark: args.benchmark,
        output: args.output,
        epochs: args.epochs,
        batch: args.batch.unwrap_or(d.batch),
        chunk_len: args.chunk.unwrap_or(d.chunk_len),
        lr: args.lr,
        transpose: args.transpose.unwrap_or(transpose_default),
        val_fraction: args.val_fraction,
        max_val_steps: args.max_val_steps,
        seed: args.seed,
        resume: args.resume,
        grid: Grid {
            steps_per_beat,
            onsets: true,
        },
        config,
        checkpoint_minutes: args.checkpoint_minutes,
        command: command_line(),
        change_transpose: args.transpose,
        change_chunk_len: args.chunk,
        workers,
        patience: args.patience,
        ..d
    };
    let report = step::train::train(&opts, device, stop)?;
    if report.interrupted {
        println!(
            "interrupted; continue with the same command plus --resume (checkpoint {})",
            report.checkpoint.display()
        );
    }
    println!("{}", report.summary);
    println!("model: {}", report.model.display());
    Ok(())
}

/// The command line as typed, with the program named `continuo` (the model file keeps it, and
/// must not hold the training machine's paths to the binary).
fn command_line() -> String {
    std::iter::once("continuo".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}
