//! Notes ⇄ steps on the beat grid.

use super::Chord;
use crate::midi::Note;

/// 16th notes: four steps per quarter-note beat.
pub const DEFAULT_STEPS_PER_BEAT: u32 = 4;

/// How notes are put on the grid. Stored with every model: a model only understands the grid it
/// was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grid {
    /// Steps per quarter-note beat (4 = 16th notes).
    pub steps_per_beat: u32,
    /// Mark struck pitches in each token (`45,*49,57`). Off gives the reference design's plain
    /// tokens, which cannot tell a held chord from a repeated one.
    pub onsets: bool,
}

impl Default for Grid {
    fn default() -> Self {
        Self {
            steps_per_beat: DEFAULT_STEPS_PER_BEAT,
            onsets: true,
        }
    }
}

impl Grid {
    pub fn step_beats(&self) -> f64 {
        1.0 / self.steps_per_beat as f64
    }
    /// The nearest step to a time in beats (halves round away from zero), never before step 0.
    pub fn nearest_step(&self, beats: f64) -> u64 {
        (beats * self.steps_per_beat as f64).round().max(0.0) as u64
    }
    pub fn step_to_beats(&self, step: u64) -> f64 {
        step as f64 / self.steps_per_beat as f64
    }
}

/// A piece on the grid: one chord per step, from beat 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roll {
    pub grid: Grid,
    pub steps: Vec<Chord>,
}

/// Puts notes on the grid. Starts and ends round to the nearest step; a note lasts at least one
/// step and sounds in steps `[start, end)`. Notes of one pitch that overlap merge (the roll has
/// one bit per pitch), but each start keeps its struck mark when `grid.onsets` is on.
pub fn notes_to_roll(notes: &[Note], grid: Grid) -> Roll {
    let spans: Vec<(u8, usize, usize)> = notes
        .iter()
        .map(|n| {
            let start = grid.nearest_step(n.start_beats) as usize;
            let end = (grid.nearest_step(n.end_beats) as usize).max(start + 1);
            (n.pitch.min(127), start, end)
        })
        .collect();
    let len = spans.iter().map(|s| s.2).max().unwrap_or(0);
    let mut steps = vec![Chord::REST; len];
    for &(pitch, start, end) in &spans {
        for (i, chord) in steps[start..end].iter_mut().enumerate() {
            chord.add(pitch, grid.onsets && i == 0);
        }
    }
    Roll { grid, steps }
}

/// Turns steps back into notes starting at `start_beats`. A pitch present in consecutive steps
/// is one held note; a pitch that stops and comes back, or that is struck (with onset marks), is
/// a new note. Every note gets `velocity`.
pub fn roll_to_notes(steps: &[Chord], grid: Grid, start_beats: f64, velocity: u8) -> Vec<Note> {
    let mut notes = Vec::new();
    let mut open: [Option<usize>; 128] = [None; 128];
    let to_beats = |step: usize| start_beats + grid.step_to_beats(step as u64);
    let close = |pitch: usize, from: usize, to: usize, notes: &mut Vec<Note>| {
        notes.push(Note {
            pitch: pitch as u8,
            start_beats: to_beats(from),
            end_beats: to_beats(to),
            velocity,
        });
    };
    for (i, chord) in steps.iter().enumerate() {
        for pitch in 0..128usize {
            let here = chord.contains(pitch as u8);
            let restrike = here && chord.is_struck(pitch as u8);
            match open[pitch] {
                Some(from) if !here || restrike => {
                    close(pitch, from, i, &mut notes);
                    open[pitch] = here.then_some(i);
                }
                None if here => open[pitch] = Some(i),
                _ => {}
            }
        }
    }
    for (pitch, from) in open.iter().enumerate() {
        if let Some(from) = *from {
            close(pitch, from, steps.len(), &mut notes);
        }
    }
    notes.sort_by(|a, b| {
        a.start_beats
            .total_cmp(&b.start_beats)
            .then(a.pitch.cmp(&b.pitch))
    });
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(pitch: u8, start: f64, end: f64) -> Note {
        Note {
            pitch,
            start_beats: start,
            end_beats: end,
            velocity: 80,
        }
    }

    #[test]
    fn steps_are_half_open_and_rounded() {
        let grid = Grid::default();
        let roll = notes_to_roll(&[note(60, 0.0, 0.5), note(64, 0.26, 0.49)], grid);
        assert_eq!(roll.steps.len(), 2);
        assert_eq!(roll.steps[0].to_string(), "*60");
        assert_eq!(roll.steps[1].to_string(), "60,*64");
    }

    #[test]
    fn zero_length_note_lasts_one_step() {
        let roll = notes_to_roll(&[note(60, 1.0, 1.0)], Grid::default());
        assert_eq!(roll.steps.len(), 5);
        assert_eq!(roll.steps[4].to_string(), "*60");
        assert!(roll.steps[..4].iter().all(Chord::is_rest));
    }

    #[test]
    fn repeated_note_is_two_notes_with_onsets_and_one_without() {
        let notes = [note(60, 0.0, 1.0), note(60, 1.0, 2.0)];
        let with = notes_to_roll(&notes, Grid::default());
        assert_eq!(
            roll_to_notes(&with.steps, with.grid, 0.0, 80),
            notes.to_vec()
        );
        let plain_grid = Grid {
            onsets: false,
            ..Grid::default()
        };
        let plain = notes_to_roll(&notes, plain_grid);
        assert_eq!(
            roll_to_notes(&plain.steps, plain_grid, 0.0, 80),
            vec![note(60, 0.0, 2.0)]
        );
    }

    #[test]
    fn gap_makes_a_new_note_even_without_onsets() {
        let grid = Grid {
            onsets: false,
            ..Grid::default()
        };
        let notes = [note(60, 0.0, 1.0), note(60, 1.25, 2.0)];
        let roll = notes_to_roll(&notes, grid);
        assert_eq!(roll_to_notes(&roll.steps, grid, 0.0, 80), notes.to_vec());
    }

    #[test]
    fn output_is_offset_by_start_beat() {
        let grid = Grid::default();
        let steps = [Chord::struck_from(&[62])];
        assert_eq!(
            roll_to_notes(&steps, grid, 8.0, 90),
            vec![Note {
                pitch: 62,
                start_beats: 8.0,
                end_beats: 8.25,
                velocity: 90
            }]
        );
    }
}
