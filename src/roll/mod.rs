//! The beat-grid piano roll: the one representation Continuo learns from and generates in.
//! Notes in beats become steps of `1 / steps_per_beat` beats; each step's set of sounding pitches
//! (with the struck ones marked) is one [`Chord`] token; a [`Vocab`] numbers the tokens for the
//! model. Pure functions, no I/O.

mod chord;
mod grid;
mod vocab;
mod windows;

pub use chord::{pitch_class_histogram, Chord, ParseChordError};
pub use grid::{notes_to_roll, roll_to_notes, Grid, Roll, DEFAULT_STEPS_PER_BEAT};
pub use vocab::{Vocab, VocabOptions, REST_ID, UNK_ID};
pub use windows::{split_pieces, transpositions, window_at, DEFAULT_WINDOW};
