//! `continuo eval`: how well a model predicts music, next to baselines: the per-key Markov chain
//! for both kinds, and the unigram/bigram over the vocabulary for the seed model.

use std::path::PathBuf;

use crate::corpus;
use crate::model::seed::eval::{evaluate, EvalReport, MARKOV_K};
use crate::model::step::eval::StepEvalReport;
use crate::model::{AnyModel, Model};
use crate::roll::{Chord, Grid};

#[derive(clap::Args)]
pub struct Args {
    /// The model file, of either kind, or `builtin:NAME` (piano-step, piano-seed, chorale-seed;
    /// default: piano-step).
    #[arg(long)]
    model: Option<PathBuf>,
    /// MIDI files or folders to evaluate on.
    #[arg(long, num_args = 1.., required_unless_present_any = ["held_out", "benchmark"])]
    data: Vec<PathBuf>,
    /// A set of the polyphonic-music benchmark (its JSON) to score a binary step model on: the
    /// NLL per frame of `--split`, beside the per-key Markov chain fitted on its `train` split.
    #[arg(long, conflicts_with_all = ["data", "held_out", "baseline_data"])]
    benchmark: Option<PathBuf>,
    /// With --benchmark: the split to score (train, valid or test).
    #[arg(long, default_value = "test", value_parser = ["train", "valid", "test"])]
    split: String,
    /// Evaluate on exactly the pieces the model held out in training (listed in its summary).
    #[arg(long)]
    held_out: bool,
    /// MIDI files or folders to fit the baselines on (default: the model's training pieces, as
    /// listed in its summary). The model's held-out pieces are always left out of it.
    #[arg(long, num_args = 1..)]
    baseline_data: Vec<PathBuf>,
    /// The add-k constant of the unigram and bigram (seed model). The default was the best of
    /// 1e-4, 3e-4, 1e-3, 1e-2, 0.1 and 1 for the bigram on the default model's held-out pieces
    /// (in the baseline's favour). The per-key Markov baseline is always add-0.5.
    #[arg(long, default_value_t = 0.001)]
    bigram_k: f64,
    /// Windows per forward pass (seed model).
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// auto, cpu, cuda or metal (the step model always runs on the CPU).
    #[arg(long, default_value = "auto")]
    device: String,
    /// CPU threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn rolls(files: &[PathBuf], grid: Grid) -> Vec<Vec<Chord>> {
    let scan = corpus::scan(files, grid, crate::midi::ReadOptions::default(), |_| {});
    for e in &scan.failed {
        eprintln!("skipped: {e}");
    }
    scan.pieces.into_iter().map(|p| p.roll.steps).collect()
}

pub fn run(args: Args) -> Result<(), String> {
    crate::model::device::set_threads(args.threads);
    let (device, said) = crate::model::device::select(&args.device)?;
    eprintln!("{said}");
    let reference = args
        .model
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let model = AnyModel::open(&reference, &device).map_err(|e| e.to_string())?;
    if let Some(path) = &args.benchmark {
        return run_benchmark(&args, &model, path);
    }
    let files = super::common::measured_files(
        &model,
        &args.data,
        args.held_out,
        &args.baseline_data,
        "--baseline-data",
    )?;
    let (eval_files, baseline_files, left_out) = (files.measured, files.reference?, files.left_out);
    if left_out > 0 {
        eprintln!(
            "baselines: {left_out} of the candidate files are held-out or evaluated pieces and are left out"
        );
    }
    match model {
        AnyModel::Seed(model) => run_seed(&args, &model, &eval_files, &baseline_files),
        AnyModel::Step(model) => {
            let grid = model.grid();
            let pieces = crate::model::step::data::read_files(&eval_files, grid, |_| {});
            let baseline = crate::model::step::data::read_files(&baseline_files, grid, |_| {});
            if pieces.is_empty() {
                return Err("no readable MIDI file to evaluate on".into());
            }
            let total: usize = pieces.iter().map(|p| p.steps.len()).sum();
            let bar = super::progress_bar(total as u64, "evaluating");
            let report =
                crate::model::step::eval::evaluate(&model, &pieces, &baseline, MARKOV_K, |n| {
                    bar.inc(n as u64)
                })?;
            bar.finish_and_clear();
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                );
            } else {
                print_step(&report, eval_files.len(), baseline_files.len());
            }
            Ok(())
        }
    }
}

fn run_benchmark(args: &Args, model: &AnyModel, path: &std::path::Path) -> Result<(), String> {
    use crate::model::step::benchmark::{self, BenchmarkSet};
    let AnyModel::Step(model) = model else {
        return Err(
            "--benchmark scores a binary step model; this is a seed model (chord tokens)".into(),
        );
    };
    let set = BenchmarkSet::read(path)?;
    let frames: usize = set.split(&args.split)?.iter().map(|p| p.steps.len()).sum();
    let bar = super::progress_bar(frames as u64, "evaluating");
    let report = benchmark::evaluate(model, &set, &args.split, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "{} on {} ({} split: {} pieces, {} frames, first frames included)",
        report.model, report.set, report.split, report.pieces, report.frames
    );
    println!(
        "  model:                     {:.4} nats per frame ({:.1}% of frames exactly greedy)",
        report.nll_per_frame,
        100.0 * report.greedy_exact
    );
    println!(
        "  per-key Markov (add-{}):   {:.4} nats per frame (fitted on train: {} pieces, {} frames)",
        report.markov.k,
        report.markov.nll_per_step,
        report.markov.fit_pieces,
        report.markov.fit_steps
    );
    Ok(())
}

fn run_seed(
    args: &Args,
    model: &Model,
    eval_files: &[PathBuf],
    baseline_files: &[PathBuf],
) -> Result<(), String> {
    let eval_rolls = rolls(eval_files, model.grid());
    let baseline_rolls = rolls(baseline_files, model.grid());
    if eval_rolls.is_empty() {
        return Err("no readable MIDI file to evaluate on".into());
    }
    let total: usize = eval_rolls.iter().map(|r| r.len()).sum();
    let bar = super::progress_bar(total as u64, "evaluating");
    let report = evaluate(
        model,
        &eval_rolls,
        &baseline_rolls,
        args.bigram_k,
        args.batch,
        |n| bar.inc(n as u64),
    )
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_text(&report, eval_files.len(), baseline_files.len());
    }
    Ok(())
}

fn print_step(r: &StepEvalReport, files: usize, baseline_files: usize) {
    let m = &r.baselines.markov;
    println!(
        "model:            {} (step model over the 88 keys)",
        r.model
    );
    println!(
        "music:            {} pieces ({} files), {} steps",
        r.pieces, files, r.steps
    );
    println!(
        "NLL per step:     {:.4} nats of the full 88-key state ({:.4} per key)",
        r.nll_per_step, r.nll_per_key
    );
    println!(
        "per-key Markov:   {:.4} nats per step (add-{}, fitted on {} files, {} steps); model / Markov = {:.3}",
        m.nll_per_step,
        m.k,
        baseline_files,
        m.fit_steps,
        r.nll_per_step / m.nll_per_step
    );
    println!(
        "greedy-exact:     {:.2}% of steps (every key the most likely state given the keys below)",
        100.0 * r.greedy_exact
    );
}

fn print_text(r: &EvalReport, files: usize, baseline_files: usize) {
    println!("model:            {} (seed model, chord tokens)", r.model);
    println!(
        "music:            {} pieces ({} files), {} steps",
        r.pieces, files, r.steps
    );
    println!(
        "NLL per step:     {:.4} nats, out-of-vocabulary fallback included (perplexity {:.1})",
        r.nll_per_step, r.perplexity
    );
    println!(
        "top-1 / top-5:    {:.2}% / {:.2}% of all steps (an out-of-vocabulary step is a miss)",
        100.0 * r.top1,
        100.0 * r.top5
    );
    println!(
        "out of vocab:     {:.2}% of steps (each adds {:.2} nats of fallback on average)",
        100.0 * r.oov_rate,
        r.oov_fallback_nats
    );
    if let Some(m) = &r.baselines.markov {
        println!(
            "per-key Markov:   {:.4} nats per step (add-{}, over the 88 keys, fitted on {} files); model / Markov = {:.3}",
            m.nll_per_step,
            m.k,
            baseline_files,
            r.nll_per_step / m.nll_per_step
        );
    }
    println!(
        "unigram baseline: {:.4} nats per step",
        r.baselines.unigram.nll_per_step
    );
    println!(
        "bigram baseline:  {:.4} nats per step (add-{} smoothing, fitted on {} files, {} steps)",
        r.baselines.bigram.nll_per_step, r.baselines.k, baseline_files, r.baselines.fit_steps
    );
    println!(
        "without the (shared) fallback term, nats per step over the vocabulary's ids: model {:.4}, unigram {:.4}, bigram {:.4}",
        r.id_nll_per_step, r.baselines.unigram.id_nll_per_step, r.baselines.bigram.id_nll_per_step
    );
}
