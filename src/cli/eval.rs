//! `continuo eval`: how well a model predicts music, next to unigram and bigram baselines.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::corpus;
use crate::model::eval::{evaluate, EvalReport};
use crate::model::Model;
use crate::roll::Chord;

#[derive(clap::Args)]
pub struct Args {
    /// The model file (default: the model built into this program).
    #[arg(long)]
    model: Option<PathBuf>,
    /// MIDI files or folders to evaluate on.
    #[arg(long, num_args = 1.., required_unless_present = "held_out")]
    data: Vec<PathBuf>,
    /// Evaluate on exactly the pieces the model held out in training (listed in its summary).
    #[arg(long)]
    held_out: bool,
    /// MIDI files or folders to fit the baselines on (default: the model's training pieces, as
    /// listed in its summary).
    #[arg(long, num_args = 1..)]
    baseline_data: Vec<PathBuf>,
    /// The add-k constant of the baselines. The default was the best of 1e-4, 3e-4, 1e-3, 1e-2,
    /// 0.1 and 1 for the bigram on the default model's held-out pieces (in the baseline's favour).
    #[arg(long, default_value_t = 0.001)]
    bigram_k: f64,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// auto, cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    device: String,
    /// CPU threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn rolls(files: &[PathBuf], model: &Model) -> Result<Vec<Vec<Chord>>, String> {
    let scan = corpus::scan(
        files,
        model.grid(),
        crate::midi::ReadOptions::default(),
        |_| {},
    );
    for e in &scan.failed {
        eprintln!("skipped: {e}");
    }
    Ok(scan.pieces.into_iter().map(|p| p.roll.steps).collect())
}

pub fn run(args: Args) -> Result<(), String> {
    let model = super::common::load_model(args.model.as_deref(), &args.device, args.threads)?;
    let summary = model.summary().clone();
    let val_files: Vec<PathBuf> = summary.val_files.iter().map(PathBuf::from).collect();
    let mut eval_files = corpus::find_midi_files(&args.data)?;
    if args.held_out {
        if val_files.is_empty() {
            return Err(format!(
                "{} lists no held-out pieces in its training summary",
                model.name()
            ));
        }
        eval_files.extend(val_files.iter().cloned());
    }
    let baseline_files = if !args.baseline_data.is_empty() {
        corpus::find_midi_files(&args.baseline_data)?
    } else {
        // The model's own training pieces: everything under its training data but the held-out.
        let data: Vec<PathBuf> = summary.data.iter().map(PathBuf::from).collect();
        if data.is_empty() {
            return Err(
                "no --baseline-data given and the model's summary names no training data".into(),
            );
        }
        let held: HashSet<&PathBuf> = val_files.iter().collect();
        let all = corpus::find_midi_files(&data)
            .map_err(|e| format!("the model's training data: {e} (pass --baseline-data)"))?;
        all.into_iter().filter(|f| !held.contains(f)).collect()
    };
    let eval_rolls = rolls(&eval_files, &model)?;
    let baseline_rolls = rolls(&baseline_files, &model)?;
    if eval_rolls.is_empty() {
        return Err("no readable MIDI file to evaluate on".into());
    }
    let total: usize = eval_rolls.iter().map(|r| r.len()).sum();
    let bar = super::progress_bar(total as u64, "evaluating");
    let report = evaluate(
        &model,
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

fn print_text(r: &EvalReport, files: usize, baseline_files: usize) {
    println!("model:            {}", r.model);
    println!(
        "music:            {} pieces ({} files), {} steps",
        r.pieces, files, r.steps
    );
    println!(
        "NLL per step:     {:.4} nats (perplexity {:.1})",
        r.nll_per_step, r.perplexity
    );
    println!(
        "top-1 / top-5:    {:.2}% / {:.2}%",
        100.0 * r.top1,
        100.0 * r.top5
    );
    println!(
        "out of vocab:     {:.2}% of steps (each adds {:.2} nats of fallback on average)",
        100.0 * r.oov_rate,
        r.oov_fallback_nats
    );
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
