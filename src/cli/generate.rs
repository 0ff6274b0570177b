//! `continuo generate`: continues a MIDI file.

use std::path::PathBuf;

use crate::midi::{self, ReadOptions, SmfFormat, WriteOptions};
use crate::model::data::prompt_ids;
use crate::model::SamplingOptions;
use crate::roll::{notes_to_roll, roll_to_notes};

#[derive(clap::Args)]
pub struct Args {
    /// The model file (default: the model built into this program).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The MIDI file to continue; its last `window` steps are the context.
    #[arg(long)]
    prompt: PathBuf,
    /// Where to write the continuation.
    #[arg(short, long)]
    output: PathBuf,
    /// Length in bars of the prompt's time signature.
    #[arg(long, conflicts_with = "steps")]
    bars: Option<f64>,
    /// Length in grid steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Sampling temperature; 0 takes the most likely chord every step.
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Sample only among the K most likely chords.
    #[arg(long)]
    top_k: Option<usize>,
    /// The same seed gives the same output.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the prompt too, followed by the continuation.
    #[arg(long)]
    with_prompt: bool,
    /// Velocity of the generated notes.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=127))]
    velocity: u8,
    /// auto, cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    device: String,
}

pub fn run(args: Args) -> Result<(), String> {
    let model = super::common::load_model(args.model.as_deref(), &args.device, 1)?;
    let song = midi::read_file(&args.prompt, ReadOptions::default()).map_err(|e| e.to_string())?;
    let grid = model.grid();
    let roll = notes_to_roll(&song.notes, grid);
    let (num, den) = song.time_signature;
    let beats_per_bar = num.max(1) as f64 * 4.0 / den.max(1) as f64;
    let steps = match (args.steps, args.bars) {
        (Some(s), _) => s,
        (None, Some(b)) if b > 0.0 && b.is_finite() => {
            (b * beats_per_bar * grid.steps_per_beat as f64).round() as usize
        }
        (None, Some(b)) => return Err(format!("--bars {b} must be a positive number")),
        (None, None) => (4.0 * beats_per_bar * grid.steps_per_beat as f64).round() as usize,
    };
    if steps == 0 || steps > 100_000 {
        return Err(format!("{steps} steps: choose between 1 and 100000"));
    }
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        return Err(format!(
            "--temperature {} must be 0 or more",
            args.temperature
        ));
    }
    let context = prompt_ids(&roll.steps, model.vocab());
    let sampling = SamplingOptions {
        temperature: args.temperature,
        top_k: args.top_k,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let ids = model
        .generate(&context, steps, &sampling)
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let chords: Vec<_> = ids.iter().map(|&id| model.vocab().chord(id)).collect();
    let start = if args.with_prompt {
        grid.step_to_beats(roll.steps.len() as u64)
    } else {
        0.0
    };
    let mut notes = if args.with_prompt {
        song.notes.clone()
    } else {
        Vec::new()
    };
    let generated = roll_to_notes(&chords, grid, start, args.velocity);
    let generated_count = generated.len();
    notes.extend(generated);
    let options = WriteOptions {
        format: SmfFormat::MultiTrack,
        tempo_bpm: song.tempo_bpm,
        time_signature: song.time_signature,
        channel: 0,
    };
    midi::write_file(&args.output, &notes, &options)
        .map_err(|e| format!("{}: cannot write: {e}", args.output.display()))?;
    println!(
        "{}: {} prompt steps ({} used as context) → {} steps, {} notes, in {:.2} s ({:.2} ms/step) with {} → {}",
        args.prompt.display(),
        roll.steps.len(),
        roll.steps.len().min(model.config().window),
        steps,
        generated_count,
        seconds,
        1000.0 * seconds / steps as f64,
        model.name(),
        args.output.display()
    );
    Ok(())
}
