//! `continuo judge`: what a musician would hear. Cuts prompts from pieces the model never saw,
//! continues them, and prints the model's bass, texture, rhythm, key and copying next to the real
//! continuations'.

use std::path::PathBuf;

use crate::judge::{judge, JudgeOptions, JudgePiece, JudgeReport};
use crate::midi::{self, ReadOptions};
use crate::model::seed::data::prompt_ids;
use crate::model::step::{Meter, StepSampling};
use crate::model::{AnyModel, SamplingOptions};
use crate::roll::{notes_to_roll, Chord, Grid};

#[derive(clap::Args)]
pub struct Args {
    /// The model file, of either kind, or `builtin:NAME` (piano-step, piano-seed, chorale-seed;
    /// default: piano-step).
    #[arg(long)]
    model: Option<PathBuf>,
    /// MIDI files or folders to cut prompts from.
    #[arg(long, num_args = 1.., required_unless_present = "held_out")]
    data: Vec<PathBuf>,
    /// Cut prompts from the pieces the model held out in training (listed in its summary).
    #[arg(long)]
    held_out: bool,
    /// The model's training data, searched for copied runs (default: the folders its summary
    /// names, without its held-out pieces and without the pieces judged).
    #[arg(long, num_args = 1..)]
    train_data: Vec<PathBuf>,
    /// Prompts in all, spread evenly over the pieces.
    #[arg(long, default_value_t = 100)]
    prompts: usize,
    /// Bars the model hears before each cut.
    #[arg(long, default_value_t = 4)]
    prompt_bars: u32,
    /// Bars it continues.
    #[arg(long, default_value_t = 4)]
    bars: u32,
    /// Sampling temperature (the plugin's default is 1).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Step model: nucleus sampling of each key's state (1 = off).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Step model: onset bias in nats on each key's "struck" logit (0 = the model's own).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    density: f32,
    /// Step model: bias toward the prompt's pitch classes (0 = free).
    #[arg(long, default_value_t = 0.0)]
    follow_key: f32,
    /// Seed of the first continuation; the i-th uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Search the training data for copies in every transposition up to ±N semitones (the step
    /// model trains on ±6).
    #[arg(long, default_value_t = 6)]
    copy_transpose: i32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// auto, cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Reads pieces onto `grid`, saying on stderr which files failed.
fn read_pieces(files: &[PathBuf], grid: Grid) -> Vec<JudgePiece> {
    files
        .iter()
        .filter_map(|path| match midi::read_file(path, ReadOptions::default()) {
            Ok(song) => Some(JudgePiece {
                name: path.display().to_string(),
                steps: notes_to_roll(&song.notes, grid).steps,
                time_signature: song.time_signature,
            }),
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        })
        .collect()
}

pub fn run(args: Args) -> Result<(), String> {
    if args.prompts == 0 || args.bars == 0 || args.prompt_bars == 0 {
        return Err("--prompts, --prompt-bars and --bars must be at least 1".into());
    }
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        return Err(format!(
            "--temperature {} must be 0 or more",
            args.temperature
        ));
    }
    if !(args.top_p > 0.0 && args.top_p <= 1.0) {
        return Err(format!("--top-p {} must be in (0, 1]", args.top_p));
    }
    let model = super::common::load_any(args.model.as_deref(), &args.device, 1)?;
    let files = super::common::measured_files(
        &model,
        &args.data,
        args.held_out,
        &args.train_data,
        "--train-data",
    )?;
    let judged = files.measured;
    let training_files = files.reference.unwrap_or_else(|e| {
        eprintln!("copies: not searched ({e})");
        Vec::new()
    });
    let grid = model.grid();
    let pieces = read_pieces(&judged, grid);
    if pieces.is_empty() {
        return Err("no readable MIDI file to judge on".into());
    }
    let training = read_pieces(&training_files, grid);
    let training_steps: Vec<&[Chord]> = training.iter().map(|p| p.steps.as_slice()).collect();
    let options = JudgeOptions {
        prompts: args.prompts,
        prompt_bars: args.prompt_bars,
        continuation_bars: args.bars,
        steps_per_beat: grid.steps_per_beat,
        seed: args.seed,
        copy_transpose: args.copy_transpose,
    };
    let bar = super::progress_bar(args.prompts as u64, "continuing");
    let temperature = args.temperature;
    let report = match &model {
        AnyModel::Seed(m) => {
            let mut continuer = |prompt: &[Chord], _: (u8, u8), steps: usize, seed: u64| {
                let context = prompt_ids(prompt, m.vocab());
                let sampling = SamplingOptions {
                    temperature,
                    top_k: None,
                    seed,
                };
                let ids = m
                    .generate(&context, steps, &sampling)
                    .map_err(|e| e.to_string())?;
                Ok(ids.iter().map(|&id| m.vocab().chord(id)).collect())
            };
            judge(
                &mut continuer,
                &pieces,
                &training_steps,
                &options,
                |i, n| {
                    bar.set_length(n as u64);
                    bar.set_position(i as u64)
                },
            )?
        }
        AnyModel::Step(m) => {
            let sampling = StepSampling {
                temperature,
                top_p: args.top_p,
                ..StepSampling::default()
            };
            let (density, follow) = (args.density, args.follow_key);
            let mut continuer = |prompt: &[Chord], ts: (u8, u8), steps: usize, seed: u64| {
                let meter = Meter::new(grid.steps_per_beat, ts);
                let sampling = StepSampling {
                    density,
                    key_bias: StepSampling::follow(
                        &crate::roll::pitch_class_histogram(prompt),
                        follow,
                    ),
                    ..sampling
                };
                Ok(m.generate(prompt, meter, steps, &sampling, seed))
            };
            judge(
                &mut continuer,
                &pieces,
                &training_steps,
                &options,
                |i, n| {
                    bar.set_length(n as u64);
                    bar.set_position(i as u64)
                },
            )?
        }
    };
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_text(&report, model.name(), training.len());
    }
    Ok(())
}

fn print_text(r: &JudgeReport, model: &str, training_pieces: usize) {
    let (m, real) = (&r.model, &r.real);
    println!(
        "model: {model}; {} continuations of {} bars after {}-bar prompts, cut from {} pieces",
        r.cuts.len(),
        r.options.continuation_bars,
        r.options.prompt_bars,
        r.pieces
    );
    println!("{:<44} {:>9} {:>9}", "", "model", "real");
    let row = |name: &str, a: f64, b: f64| println!("{name:<44} {a:>9.3} {b:>9.3}");
    row("steps with a note below C3", m.bass_share, real.bass_share);
    row(
        "steps with a single note",
        m.single_share,
        real.single_share,
    );
    row("onsets per beat", m.onsets_per_beat, real.onsets_per_beat);
    row(
        "notes sounding (non-silent steps)",
        m.polyphony,
        real.polyphony,
    );
    row("pitch range (semitones)", m.range, real.range);
    row(
        "pitch-class similarity with the prompt",
        m.pitch_class_similarity,
        real.pitch_class_similarity,
    );
    row(
        "in the prompt's key (Krumhansl-Schmuckler)",
        m.same_key_share,
        real.same_key_share,
    );
    row(
        "longest copied run, >=3 changes (bars)",
        m.longest_copy_bars,
        real.longest_copy_bars,
    );
    println!(
        "{:<44} {:>9} {:>9}",
        "continuations copying more than 2 bars", m.copies_over_2_bars, real.copies_over_2_bars
    );
    println!(
        "overlap with the real continuations: onset density {:.3}, polyphony {:.3}, range {:.3}",
        r.overlaps.onset_density, r.overlaps.polyphony, r.overlaps.range
    );
    println!(
        "copies searched in {training_pieces} training pieces, transposed up to ±{}",
        r.options.copy_transpose
    );
    let t = &r.targets;
    let mark = |ok: bool| if ok { "pass" } else { "FAIL" };
    println!(
        "targets: bass within 25% {}, single notes within 25% {}, same key >= 35% {}, onset overlap >= 0.7 {}, no copy > 2 bars {}",
        mark(t.bass_within_25_percent),
        mark(t.single_within_25_percent),
        mark(t.same_key_35_percent),
        mark(t.onset_overlap_0_7),
        mark(t.no_copy_over_2_bars)
    );
}
