//! `continuo train`: trains a model on folders of MIDI files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::model::train::{self, ResumeChanges, TrainOptions};
use crate::model::{device, Config};
use crate::roll::{Grid, DEFAULT_STEPS_PER_BEAT, DEFAULT_WINDOW};

#[derive(clap::Args)]
pub struct Args {
    /// MIDI files or folders to learn from (searched recursively).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// The model file to write (the best epoch); the checkpoint, CSV log and loss plot go beside it.
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Windows per optimizer step.
    #[arg(long, default_value_t = 256)]
    batch: usize,
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
    /// Also train on every transposition by up to ±N semitones that stays on the piano
    /// [default: 0]. With --resume: changes the checkpoint's.
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
    /// CPU threads for the matrix products (0 = all cores).
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
    /// Hidden size of each GRU direction.
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Embedding width.
    #[arg(long, default_value_t = 100)]
    embedding: usize,
    /// Dense layer width.
    #[arg(long, default_value_t = 64)]
    dense: usize,
    /// Dropout probability.
    #[arg(long, default_value_t = 0.3)]
    dropout: f32,
}

pub fn run(args: Args) -> Result<(), String> {
    device::set_threads(args.threads);
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
    let config = Config {
        window: args.window.unwrap_or(DEFAULT_WINDOW),
        hidden: args.hidden,
        embedding: args.embedding,
        dense: args.dense,
        dropout: args.dropout,
        ..Config::default()
    };
    let opts = TrainOptions {
        data: args.data,
        output: args.output,
        epochs: args.epochs,
        batch: args.batch,
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
        command: std::env::args().collect::<Vec<_>>().join(" "),
        changes: ResumeChanges {
            window: args.window,
            stride: args.stride,
            transpose: args.transpose,
        },
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
