//! `continuo corpus`: what a folder of MIDI files looks like on the grid.

use std::path::PathBuf;
use std::time::Instant;

use crate::corpus;
use crate::midi::ReadOptions;
use crate::roll::{Grid, DEFAULT_STEPS_PER_BEAT};

#[derive(clap::Args)]
pub struct Args {
    /// MIDI files or folders (searched recursively for .mid/.midi).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Grid resolution: steps per quarter-note beat.
    #[arg(long, default_value_t = DEFAULT_STEPS_PER_BEAT, value_parser = clap::value_parser!(u32).range(1..=48))]
    steps_per_beat: u32,
    /// Also report how much of the corpus a vocabulary of this many chords covers.
    #[arg(long)]
    max_vocab: Option<usize>,
    /// Plain tokens without struck marks (the reference design's).
    #[arg(long)]
    no_onsets: bool,
    /// Ignore the sustain pedal (CC64) when reading note lengths.
    #[arg(long)]
    no_sustain: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Failure {
    path: String,
    error: String,
}

#[derive(serde::Serialize)]
struct Report {
    files_ok: usize,
    files_failed: Vec<Failure>,
    #[serde(flatten)]
    stats: corpus::Stats,
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage_max_vocab: Option<f64>,
    seconds: f64,
}

pub fn run(args: Args) -> Result<(), String> {
    let started = Instant::now();
    let files = corpus::find_midi_files(&args.paths)?;
    let grid = Grid {
        steps_per_beat: args.steps_per_beat,
        onsets: !args.no_onsets,
    };
    let options = ReadOptions {
        sustain_pedal: !args.no_sustain,
    };
    let bar = super::progress_bar(files.len() as u64, "scanning");
    let scan = corpus::scan(&files, grid, options, |_| bar.inc(1));
    bar.finish_and_clear();

    let stats = corpus::stats(&scan.pieces);
    let coverage_max_vocab = args.max_vocab.map(|n| {
        let steps = scan.pieces.iter().flat_map(|p| p.roll.steps.iter());
        let vocab = crate::roll::Vocab::build(
            steps,
            grid.onsets,
            crate::roll::VocabOptions {
                max_vocab: Some(n),
                min_count: 1,
            },
        );
        let (covered, total) = scan
            .pieces
            .iter()
            .flat_map(|p| p.roll.steps.iter())
            .fold((0usize, 0usize), |(c, t), chord| {
                (c + vocab.contains(chord) as usize, t + 1)
            });
        if total == 0 {
            0.0
        } else {
            covered as f64 / total as f64
        }
    });
    let report = Report {
        files_ok: scan.pieces.len(),
        files_failed: scan
            .failed
            .iter()
            .map(|e| Failure {
                path: e.path().display().to_string(),
                error: e.to_string(),
            })
            .collect(),
        stats,
        coverage_max_vocab,
        seconds: started.elapsed().as_secs_f64(),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_text(&report, args.max_vocab, grid);
    }
    if report.files_ok == 0 {
        return Err(format!("no readable MIDI file among {} found", files.len()));
    }
    Ok(())
}

fn print_text(r: &Report, max_vocab: Option<usize>, grid: Grid) {
    println!("files read:       {}", r.files_ok);
    println!("files failed:     {}", r.files_failed.len());
    for f in &r.files_failed {
        println!("  {}", f.error);
    }
    println!(
        "grid:             {} steps per beat, struck marks {}",
        grid.steps_per_beat,
        if grid.onsets { "on" } else { "off" }
    );
    println!("steps:            {}", r.stats.steps);
    println!("notes:            {}", r.stats.notes);
    println!("distinct chords:  {}", r.stats.distinct_chords);
    println!(
        "top 256 cover:    {:.1}% of steps",
        100.0 * r.stats.coverage_top_256
    );
    println!(
        "top 1024 cover:   {:.1}% of steps",
        100.0 * r.stats.coverage_top_1024
    );
    println!(
        "top 4096 cover:   {:.1}% of steps",
        100.0 * r.stats.coverage_top_4096
    );
    if let (Some(n), Some(c)) = (max_vocab, r.coverage_max_vocab) {
        println!("vocab {n} covers: {:.1}% of steps", 100.0 * c);
    }
    println!("time:             {:.2} s", r.seconds);
}
