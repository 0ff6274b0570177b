//! Music as the network sees it: pieces read onto the grid, turned into ids, cut into
//! (context window, next step) examples.
//!
//! Inputs and targets are encoded differently on purpose: a context chord the vocabulary lacks is
//! replaced by its nearest chord (as live input and prompts are at generation time, so training
//! sees what inference will see), while a target the vocabulary lacks is UNK (so the model learns
//! how likely "something else" is, and evaluation can score it honestly).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::corpus::{self, Piece};
use crate::midi::ReadOptions;
use crate::roll::{window_at, Chord, Grid, Vocab, REST_ID};

/// One piece as ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Context ids (nearest chord for out-of-vocabulary steps; never UNK).
    pub inputs: Vec<u32>,
    /// Target ids (UNK for out-of-vocabulary steps).
    pub targets: Vec<u32>,
}

/// Maps chords to ids, remembering nearest-chord searches (they scan the whole vocabulary).
pub struct Encoder<'a> {
    vocab: &'a Vocab,
    nearest: HashMap<Chord, u32>,
}

impl<'a> Encoder<'a> {
    pub fn new(vocab: &'a Vocab) -> Self {
        Self {
            vocab,
            nearest: HashMap::new(),
        }
    }

    pub fn input_id(&mut self, chord: &Chord) -> u32 {
        let id = self.vocab.id(chord);
        if id != crate::roll::UNK_ID {
            return id;
        }
        let vocab = self.vocab;
        *self
            .nearest
            .entry(*chord)
            .or_insert_with(|| vocab.nearest_id(chord))
    }

    pub fn encode(&mut self, steps: &[Chord]) -> Encoded {
        Encoded {
            inputs: steps.iter().map(|c| self.input_id(c)).collect(),
            targets: steps.iter().map(|c| self.vocab.id(c)).collect(),
        }
    }
}

/// (piece, target step) examples over encoded pieces.
pub struct Examples {
    pub pieces: Vec<Encoded>,
    pub window: usize,
    pub examples: Vec<(u32, u32)>,
}

impl Examples {
    /// Every `stride`-th step of every piece is a target.
    pub fn new(pieces: Vec<Encoded>, window: usize, stride: usize) -> Self {
        let stride = stride.max(1);
        let examples = pieces
            .iter()
            .enumerate()
            .flat_map(|(p, e)| {
                (0..e.targets.len())
                    .step_by(stride)
                    .map(move |t| (p as u32, t as u32))
            })
            .collect();
        Self {
            pieces,
            window,
            examples,
        }
    }

    pub fn len(&self) -> usize {
        self.examples.len()
    }
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Contexts (row-major, `window` per example) and targets of the chosen examples.
    pub fn batch(
        &self,
        which: impl IntoIterator<Item = usize>,
        contexts: &mut Vec<u32>,
        targets: &mut Vec<u32>,
    ) {
        contexts.clear();
        targets.clear();
        let mut row = Vec::with_capacity(self.window);
        for i in which {
            let (p, t) = self.examples[i];
            let piece = &self.pieces[p as usize];
            window_at(&piece.inputs, t as usize, self.window, &mut row);
            contexts.extend_from_slice(&row);
            targets.push(piece.targets[t as usize]);
        }
    }
}

/// Reads every MIDI file under `paths` onto `grid`; unreadable files are reported on stderr and
/// skipped. Errors when nothing is readable.
pub fn read_pieces(
    paths: &[PathBuf],
    grid: Grid,
    progress: impl FnMut(&Path),
) -> Result<Vec<Piece>, String> {
    let files = corpus::find_midi_files(paths)?;
    let scan = corpus::scan(&files, grid, ReadOptions::default(), progress);
    for e in &scan.failed {
        eprintln!("skipped: {e}");
    }
    if scan.pieces.is_empty() {
        return Err(format!(
            "no readable MIDI file among the {} found under {}",
            files.len(),
            crate::corpus::display_paths(paths)
        ));
    }
    Ok(scan.pieces)
}

/// The left-padded context before step `t` of a piece (for tests and evaluation).
pub fn context_before(inputs: &[u32], t: usize, window: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(window);
    window_at(inputs, t, window, &mut out);
    out
}

/// Prompt chords to ids for generation: nearest chord for anything the vocabulary lacks.
pub fn prompt_ids(steps: &[Chord], vocab: &Vocab) -> Vec<u32> {
    let mut enc = Encoder::new(vocab);
    steps
        .iter()
        .map(|c| {
            if c.is_rest() {
                REST_ID
            } else {
                enc.input_id(c)
            }
        })
        .collect()
}
