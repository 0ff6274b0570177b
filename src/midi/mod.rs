//! Standard MIDI Files in and out. This is the only module that reads or writes SMF bytes; the
//! rest of Continuo sees [`Note`]s in beats.

mod read;
pub mod sustain;
mod write;

pub use read::{read_file, read_smf, MidiError, ReadOptions, Song};
pub use write::{write_file, write_smf, SmfFormat, WriteOptions};

/// One note in musical time. Beats are quarter notes counted from the start of the file (or of
/// the host's timeline), so the grid lines up with a DAW's bars and beats whatever the tempo.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    /// MIDI key number, 0..=127.
    pub pitch: u8,
    pub start_beats: f64,
    pub end_beats: f64,
    /// MIDI velocity, 1..=127.
    pub velocity: u8,
}

impl Note {
    pub fn duration_beats(&self) -> f64 {
        self.end_beats - self.start_beats
    }
}
