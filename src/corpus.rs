//! Finding and reading a folder of MIDI files into rolls: the shared first step of `continuo
//! corpus`, training, evaluation and the corpus benchmark. A bad file is reported and skipped;
//! a scan never stops on one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::midi::{self, MidiError, ReadOptions};
use crate::roll::{notes_to_roll, Chord, Grid, Roll};

/// One readable file on the grid.
#[derive(Debug, Clone)]
pub struct Piece {
    pub path: PathBuf,
    pub notes: usize,
    pub roll: Roll,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    pub pieces: Vec<Piece>,
    pub failed: Vec<MidiError>,
}

/// Every `.mid`/`.midi` file under the given files and folders (recursively), sorted so a scan
/// is repeatable. A path that does not exist is an error.
pub fn find_midi_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect_dir(path, &mut files)
                .map_err(|e| format!("{}: cannot list folder: {e}", path.display()))?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("{}: no such file or folder", path.display()));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_dir(&path, out)?;
        } else if is_midi_name(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_midi_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("mid") || e.eq_ignore_ascii_case("midi"))
}

/// Paths for a message: `a, b, c`.
pub fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads one file onto the grid.
pub fn read_piece(path: &Path, grid: Grid, options: ReadOptions) -> Result<Piece, MidiError> {
    let song = midi::read_file(path, options)?;
    Ok(Piece {
        path: path.to_owned(),
        notes: song.notes.len(),
        roll: notes_to_roll(&song.notes, grid),
    })
}

/// Reads every file; `progress` is called after each one.
pub fn scan(
    files: &[PathBuf],
    grid: Grid,
    options: ReadOptions,
    mut progress: impl FnMut(&Path),
) -> Scan {
    let mut result = Scan::default();
    for path in files {
        match read_piece(path, grid, options) {
            Ok(piece) => result.pieces.push(piece),
            Err(e) => result.failed.push(e),
        }
        progress(path);
    }
    result
}

/// Corpus statistics for `continuo corpus`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    pub steps: usize,
    pub notes: usize,
    pub distinct_chords: usize,
    /// Fraction of all steps that are a rest or one of the N most frequent chords, for
    /// N = 256, 1024, 4096: how much a vocabulary of that size covers.
    pub coverage_top_256: f64,
    pub coverage_top_1024: f64,
    pub coverage_top_4096: f64,
}

pub fn stats(pieces: &[Piece]) -> Stats {
    let mut counts: HashMap<Chord, usize> = HashMap::new();
    let mut steps = 0;
    let mut rests = 0;
    for piece in pieces {
        steps += piece.roll.steps.len();
        for chord in &piece.roll.steps {
            if chord.is_rest() {
                rests += 1;
            } else {
                *counts.entry(*chord).or_default() += 1;
            }
        }
    }
    let mut freq: Vec<usize> = counts.values().copied().collect();
    freq.sort_unstable_by(|a, b| b.cmp(a));
    let coverage = |n: usize| {
        if steps == 0 {
            return 0.0;
        }
        (rests + freq.iter().take(n).sum::<usize>()) as f64 / steps as f64
    };
    Stats {
        steps,
        notes: pieces.iter().map(|p| p.notes).sum(),
        distinct_chords: counts.len(),
        coverage_top_256: coverage(256),
        coverage_top_1024: coverage(1024),
        coverage_top_4096: coverage(4096),
    }
}
