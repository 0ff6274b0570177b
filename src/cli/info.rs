//! `continuo info`: what a model is and how it was trained.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The model file, or `builtin:NAME` (piano-step, piano-seed, chorale-seed; default:
    /// piano-step).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<(), String> {
    let model = match super::common::load_any(args.model.as_deref(), "cpu", 1)? {
        crate::model::AnyModel::Seed(m) => m,
        crate::model::AnyModel::Step(m) => return run_step(&args, &m),
    };
    let grid = model.grid();
    let arithmetic = crate::model::seed::Arithmetic::of(model.config());
    if args.json {
        let value = serde_json::json!({
            "name": model.name(),
            "kind": "seed",
            "architecture": model.architecture(),
            "parameters": model.parameter_count(),
            "vocab_size": model.vocab().len(),
            "grid": grid,
            "config": model.config(),
            "summary": model.summary(),
            "multiply_adds": arithmetic,
            "multiply_adds_fast_token": arithmetic.fast_token(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!("model:        {}", model.name());
    println!("kind:         seed (chord tokens)");
    println!("architecture: {}", model.architecture());
    println!("parameters:   {}", model.parameter_count());
    println!(
        "vocabulary:   {} ids (REST, UNK and {} chords{})",
        model.vocab().len(),
        model.vocab().len() - 2,
        if grid.onsets {
            ", with struck marks"
        } else {
            ""
        }
    );
    println!("grid:         {} steps per beat", grid.steps_per_beat);
    println!("context:      {} steps", model.config().window);
    println!(
        "arithmetic:   {:.1} M multiply-adds per generated token ({:.1} M in candle's forward \
         pass), {:.1} M per trained window",
        arithmetic.fast_token() as f64 / 1e6,
        arithmetic.forward as f64 / 1e6,
        arithmetic.training as f64 / 1e6
    );
    println!("training:     {}", model.summary());
    let s = model.summary();
    if !s.command.is_empty() {
        println!("command:      {}", s.command);
    }
    Ok(())
}

fn run_step(args: &Args, model: &crate::model::step::StepModel) -> Result<(), String> {
    let grid = model.grid();
    let arithmetic = crate::model::step::StepArithmetic::of(model.config());
    let s = model.summary();
    if args.json {
        let value = serde_json::json!({
            "name": model.name(),
            "kind": "step",
            "architecture": model.architecture(),
            "parameters": model.parameter_count(),
            "grid": grid,
            "config": model.config(),
            "summary": s,
            "benchmark": model.meta().benchmark,
            "multiply_adds": arithmetic,
            "multiply_adds_per_generated_step": arithmetic.generated_step,
            "multiply_adds_per_trained_step": arithmetic.trained_step,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!("model:        {}", model.name());
    if model.config().binary {
        println!("kind:         step, binary (the 88 keys on / off per frame)");
    } else {
        println!("kind:         step (the 88 keys, off / held / struck, any chord)");
    }
    if let Some(set) = &model.meta().benchmark {
        println!(
            "benchmark:    {set} (Boulanger-Lewandowski et al. 2012): trained on its train split, epoch chosen on valid; one step per frame, no meter"
        );
    }
    println!("architecture: {}", model.architecture());
    println!("parameters:   {}", model.parameter_count());
    if model.config().binary {
        println!("grid:         one step per frame (on / off keys, no meter)");
    } else {
        println!(
            "grid:         {} steps per beat, struck marks",
            grid.steps_per_beat
        );
    }
    println!("context:      everything heard since the start (running state)");
    println!(
        "arithmetic:   {:.3} M multiply-adds per generated step ({:.3} M per heard step), {:.3} M per trained step",
        arithmetic.generated_step as f64 / 1e6,
        arithmetic.heard_step as f64 / 1e6,
        arithmetic.trained_step as f64 / 1e6
    );
    if s.data.is_empty() && s.epochs == 0.0 {
        println!("training:     untrained or without a training summary");
    } else {
        println!(
            "training:     {} ({} pieces, {} held out), {:.2} epochs of {} steps, chunks transposed within ±{}, best epoch {}: held-out NLL {:.3} nats/step (exact, whole pieces), train loss {:.3}; {:.0} min, saved {}",
            s.data.join(", "),
            s.train_files,
            s.val_files.len(),
            s.epochs,
            s.train_windows,
            s.transpose,
            s.best_epoch,
            s.val_loss,
            s.train_loss,
            s.wall_seconds / 60.0,
            s.date
        );
    }
    if !s.command.is_empty() {
        println!("command:      {}", s.command);
    }
    Ok(())
}
