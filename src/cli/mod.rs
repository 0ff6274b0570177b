//! `continuo` subcommands. Each is thin: it parses arguments and calls `midi`, `roll`, `corpus`
//! and `model`.

mod common;
mod corpus;
mod eval;
mod generate;
mod info;
mod judge;
mod quantize;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "continuo",
    version,
    about = "Continues what you play, with a network trained on classical piano music"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan MIDI files: what reads, what fails and why, and how the chords are distributed.
    Corpus(corpus::Args),
    /// Write what the piano roll keeps of a MIDI file, to hear what the grid does to the music.
    Quantize(quantize::Args),
    /// Train a model on folders of MIDI files.
    Train(train::Args),
    /// Measure a model on music: NLL per step, accuracy, and unigram/bigram baselines.
    Eval(eval::Args),
    /// Continue a MIDI file with a model.
    Generate(generate::Args),
    /// Continue prompts cut from pieces and compare with the real continuations: bass, texture,
    /// onsets, pitch classes, key, and copies of the training data.
    Judge(judge::Args),
    /// Show a model's architecture, vocabulary, grid and training summary.
    Info(info::Args),
}

/// Runs the command line; errors print as one line on stderr with a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Corpus(args) => corpus::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Info(args) => info::run(args),
        Command::Judge(args) => judge::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// A progress bar on stderr that hides itself when stderr is not a terminal.
pub(crate) fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
