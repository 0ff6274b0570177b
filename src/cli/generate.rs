//! `continuo generate`: continues a MIDI file.

use std::path::PathBuf;

use crate::midi::{self, ReadOptions, SmfFormat, WriteOptions};
use crate::model::seed::data::prompt_ids;
use crate::model::step::{Meter, StepModel, StepSampling};
use crate::model::{AnyModel, SamplingOptions};
use crate::roll::{notes_to_roll, roll_to_notes};

#[derive(clap::Args)]
pub struct Args {
    /// The model file, of either kind, or `builtin:NAME` (piano-step, piano-seed, chorale-seed;
    /// default: piano-step).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The MIDI file to continue. The seed model hears its last `window` steps; the step model
    /// hears all of it.
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
    /// Seed model: sample only among the K most likely chords.
    #[arg(long)]
    top_k: Option<usize>,
    /// Step model: nucleus sampling of each key's state (keep the likeliest states up to this
    /// much probability).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Step model: lowest MIDI pitch that may sound.
    #[arg(long, default_value_t = 21)]
    lowest: u8,
    /// Step model: highest MIDI pitch that may sound.
    #[arg(long, default_value_t = 108)]
    highest: u8,
    /// Step model: most keys sounding at once.
    #[arg(long, default_value_t = 88)]
    max_keys: usize,
    /// Step model: more (above 0) or fewer (below 0) onsets than the model's own tendency, in
    /// nats added to each key's "struck" logit (-4 to 4).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    density: f32,
    /// Step model: how strongly to favour the pitch classes of the prompt (0 = free, 1 = in
    /// proportion to how much each sounded).
    #[arg(long, default_value_t = 0.0)]
    follow_key: f32,
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
    let model = match super::common::load_any(args.model.as_deref(), &args.device, 1)? {
        AnyModel::Seed(m) => m,
        AnyModel::Step(m) => return run_step(args, &m),
    };
    let song = midi::read_file(&args.prompt, ReadOptions::default()).map_err(|e| e.to_string())?;
    let grid = model.grid();
    let roll = notes_to_roll(&song.notes, grid);
    let (num, den) = song.time_signature;
    let beats_per_bar = num.max(1) as f64 * 4.0 / den.max(1) as f64;
    let steps = length(&args, grid.steps_per_beat, beats_per_bar)?;
    check_temperature(args.temperature)?;
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

fn check_temperature(temperature: f32) -> Result<(), String> {
    if temperature >= 0.0 && temperature.is_finite() {
        Ok(())
    } else {
        Err(format!("--temperature {temperature} must be 0 or more"))
    }
}

/// The length asked for, in steps.
fn length(args: &Args, steps_per_beat: u32, beats_per_bar: f64) -> Result<usize, String> {
    let steps = match (args.steps, args.bars) {
        (Some(s), _) => s,
        (None, Some(b)) if b > 0.0 && b.is_finite() => {
            (b * beats_per_bar * steps_per_beat as f64).round() as usize
        }
        (None, Some(b)) => return Err(format!("--bars {b} must be a positive number")),
        (None, None) => (4.0 * beats_per_bar * steps_per_beat as f64).round() as usize,
    };
    if steps == 0 || steps > 100_000 {
        return Err(format!("{steps} steps: choose between 1 and 100000"));
    }
    Ok(steps)
}

/// The step model hears the whole prompt, on the prompt's meter, and continues it. Without
/// --with-prompt the continuation still starts where it falls in the bar (after the prompt), so
/// its bar lines are the file's.
fn run_step(args: Args, model: &StepModel) -> Result<(), String> {
    let song = midi::read_file(&args.prompt, ReadOptions::default()).map_err(|e| e.to_string())?;
    let grid = model.grid();
    let roll = notes_to_roll(&song.notes, grid);
    let (num, den) = song.time_signature;
    let beats_per_bar = num.max(1) as f64 * 4.0 / den.max(1) as f64;
    let steps = length(&args, grid.steps_per_beat, beats_per_bar)?;
    check_temperature(args.temperature)?;
    if !(args.top_p > 0.0 && args.top_p <= 1.0) {
        return Err(format!("--top-p {} must be in (0, 1]", args.top_p));
    }
    if !(-4.0..=4.0).contains(&args.density) || !(0.0..=4.0).contains(&args.follow_key) {
        return Err(format!(
            "--density {} must be in [-4, 4] and --follow-key {} in [0, 4]",
            args.density, args.follow_key
        ));
    }
    if args.lowest > args.highest {
        return Err(format!(
            "--lowest {} is above --highest {}",
            args.lowest, args.highest
        ));
    }
    let meter = Meter::new(grid.steps_per_beat, song.time_signature);
    let sampling = StepSampling {
        temperature: args.temperature,
        top_p: args.top_p,
        lowest: args.lowest,
        highest: args.highest,
        max_sounding: args.max_keys,
        density: args.density,
        key_bias: StepSampling::follow(
            &crate::roll::pitch_class_histogram(&roll.steps),
            args.follow_key,
        ),
    };
    let started = std::time::Instant::now();
    let chords = model.generate(&roll.steps, meter, steps, &sampling, args.seed);
    let seconds = started.elapsed().as_secs_f64();
    let start_step = if args.with_prompt {
        roll.steps.len() as u64
    } else {
        roll.steps.len() as u64 % meter.steps_per_bar as u64
    };
    let start = grid.step_to_beats(start_step);
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
        "{}: {} prompt steps (all heard) → {} steps, {} notes, in {:.2} s ({:.3} ms/step) with {} (step model) → {}",
        args.prompt.display(),
        roll.steps.len(),
        steps,
        generated_count,
        seconds,
        1000.0 * seconds / (steps + roll.steps.len()).max(1) as f64,
        model.name(),
        args.output.display()
    );
    Ok(())
}
