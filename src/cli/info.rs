//! `continuo info`: what a model is and how it was trained.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The model file (default: the model built into this program).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<(), String> {
    let model = super::common::load_model(args.model.as_deref(), "cpu", 1)?;
    let grid = model.grid();
    if args.json {
        let value = serde_json::json!({
            "name": model.name(),
            "architecture": model.architecture(),
            "parameters": model.parameter_count(),
            "vocab_size": model.vocab().len(),
            "grid": grid,
            "config": model.config(),
            "summary": model.summary(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!("model:        {}", model.name());
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
    println!("training:     {}", model.summary());
    let s = model.summary();
    if !s.command.is_empty() {
        println!("command:      {}", s.command);
    }
    Ok(())
}
