//! `continuo quantize`: a MIDI file as the piano roll keeps it.

use std::path::PathBuf;

use crate::midi::{self, ReadOptions, SmfFormat, WriteOptions};
use crate::roll::{notes_to_roll, roll_to_notes, Grid, DEFAULT_STEPS_PER_BEAT};

#[derive(clap::Args)]
pub struct Args {
    /// The MIDI file to quantize.
    input: PathBuf,
    /// Where to write the result.
    #[arg(short, long)]
    output: PathBuf,
    /// Grid resolution: steps per quarter-note beat.
    #[arg(long, default_value_t = DEFAULT_STEPS_PER_BEAT, value_parser = clap::value_parser!(u32).range(1..=48))]
    steps_per_beat: u32,
    /// Plain tokens without struck marks: repeated notes merge, as in the reference design.
    #[arg(long)]
    no_onsets: bool,
    /// Ignore the sustain pedal (CC64) when reading note lengths.
    #[arg(long)]
    no_sustain: bool,
    /// Velocity of every written note (the roll keeps no dynamics).
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=127))]
    velocity: u8,
}

pub fn run(args: Args) -> Result<(), String> {
    let song = midi::read_file(
        &args.input,
        ReadOptions {
            sustain_pedal: !args.no_sustain,
        },
    )
    .map_err(|e| e.to_string())?;
    let grid = Grid {
        steps_per_beat: args.steps_per_beat,
        onsets: !args.no_onsets,
    };
    let roll = notes_to_roll(&song.notes, grid);
    let notes = roll_to_notes(&roll.steps, grid, 0.0, args.velocity);
    let options = WriteOptions {
        format: SmfFormat::MultiTrack,
        tempo_bpm: song.tempo_bpm,
        time_signature: song.time_signature,
        channel: 0,
    };
    midi::write_file(&args.output, &notes, &options)
        .map_err(|e| format!("{}: cannot write: {e}", args.output.display()))?;
    println!(
        "{}: {} notes in, {} steps, {} notes out -> {}",
        args.input.display(),
        song.notes.len(),
        roll.steps.len(),
        notes.len(),
        args.output.display()
    );
    Ok(())
}
