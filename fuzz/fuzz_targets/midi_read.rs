//! Any bytes as a Standard MIDI File: `midi::read_smf` returns notes or a clear error, never
//! panics, never runs away; what it returns goes onto the grid and back to notes.
#![no_main]

use std::path::Path;

use continuo::midi::{read_smf, ReadOptions};
use continuo::roll::{notes_to_roll, roll_to_notes, Grid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for sustain_pedal in [true, false] {
        if let Ok(song) = read_smf(data, Path::new("fuzz.mid"), ReadOptions { sustain_pedal }) {
            assert!(song.tempo_bpm.is_finite() && song.tempo_bpm > 0.0);
            for n in &song.notes {
                assert!(n.start_beats.is_finite() && n.end_beats >= n.start_beats);
            }
            let roll = notes_to_roll(&song.notes, Grid::default());
            let _ = roll_to_notes(&roll.steps, roll.grid, 0.0, 80);
        }
    }
});
