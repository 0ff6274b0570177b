//! Where things go in the piano-roll view: beats to x, pitches to y, notes to rectangles, bar
//! lines and note names. Pure arithmetic, so it is unit-tested without a window.

use egui::{pos2, Rect};

use crate::midi::Note;
use crate::roll::{roll_to_notes, Chord, Grid};

/// Fewest semitones the view shows, so a single held note still has context around it.
const MIN_PITCH_SPAN: u8 = 24;

/// A rectangle of the screen showing beats `beat_start..beat_end` left to right and pitches
/// `pitch_low..=pitch_high` bottom to top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollGeometry {
    pub rect: Rect,
    pub beat_start: f64,
    pub beat_end: f64,
    pub pitch_low: u8,
    pub pitch_high: u8,
}

impl RollGeometry {
    /// Height of one pitch row in points.
    pub fn row_height(&self) -> f32 {
        self.rect.height() / (self.pitch_high as f32 - self.pitch_low as f32 + 1.0)
    }

    /// Points one beat takes across.
    pub fn points_per_beat(&self) -> f32 {
        self.rect.width() / (self.beat_end - self.beat_start).max(1e-9) as f32
    }

    /// The x of a time in beats (may be outside the rectangle).
    pub fn beat_to_x(&self, beat: f64) -> f32 {
        let span = (self.beat_end - self.beat_start).max(1e-9);
        self.rect.left() + ((beat - self.beat_start) / span) as f32 * self.rect.width()
    }

    /// The top of a pitch's row: higher pitches are higher up.
    pub fn pitch_to_y(&self, pitch: u8) -> f32 {
        self.rect.top() + (self.pitch_high as f32 - pitch as f32) * self.row_height()
    }

    /// The rectangle of a note, clipped to the view; `None` when no part of it is visible.
    pub fn note_rect(&self, note: &Note) -> Option<Rect> {
        if note.pitch < self.pitch_low || note.pitch > self.pitch_high {
            return None;
        }
        if note.end_beats <= self.beat_start || note.start_beats >= self.beat_end {
            return None;
        }
        let x0 = self.beat_to_x(note.start_beats.max(self.beat_start));
        let x1 = self.beat_to_x(note.end_beats.min(self.beat_end));
        let y = self.pitch_to_y(note.pitch);
        // A one-pixel gap on the right keeps repeated notes apart.
        Some(Rect::from_min_max(
            pos2(x0, y),
            pos2((x1 - 1.0).max(x0 + 1.0), y + self.row_height()),
        ))
    }
}

/// The pitch rows to show: every sounding pitch with a few semitones of air, at least two
/// octaves, centred on middle C when there is nothing to show.
pub fn visible_pitches<'a>(notes: impl IntoIterator<Item = &'a Note>) -> (u8, u8) {
    let (mut low, mut high) = (u8::MAX, 0u8);
    for n in notes {
        low = low.min(n.pitch);
        high = high.max(n.pitch);
    }
    if low > high {
        return (48, 48 + MIN_PITCH_SPAN);
    }
    let (mut low, mut high) = (low.saturating_sub(2), high.saturating_add(2).min(127));
    while high - low < MIN_PITCH_SPAN {
        if low > 0 {
            low -= 1;
        }
        if high - low < MIN_PITCH_SPAN && high < 127 {
            high += 1;
        }
    }
    (low, high)
}

/// Beats of the bar lines inside `start..=end`, for bars of `beats_per_bar` counted from beat 0.
pub fn bar_lines(start: f64, end: f64, beats_per_bar: f64) -> Vec<f64> {
    if beats_per_bar <= 0.0 || end <= start || (end - start) / beats_per_bar > 512.0 {
        return Vec::new();
    }
    let first = (start / beats_per_bar).ceil() as i64;
    let last = (end / beats_per_bar).floor() as i64;
    (first..=last)
        .map(|bar| bar as f64 * beats_per_bar)
        .collect()
}

/// The smallest of 1, 2, 4, 8, … bars whose lines (or numbers) are at least `min_gap` points
/// apart, so a zoomed-out roll thins its bar lines and numbers instead of crowding them.
pub fn bars_per_mark(points_per_bar: f32, min_gap: f32) -> i64 {
    let mut bars = 1;
    while (bars as f32) * points_per_bar < min_gap && bars < 1 << 20 {
        bars *= 2;
    }
    bars
}

/// Beats per bar of a time signature (a 6/8 bar is 3 quarter-note beats); 4 when unknown.
pub fn beats_per_bar(time_signature: Option<(u8, u8)>) -> f64 {
    match time_signature {
        Some((num, denom)) if num > 0 && denom > 0 => num as f64 * 4.0 / denom as f64,
        _ => 4.0,
    }
}

/// Scientific pitch name, middle C (60) = C4.
pub fn note_name(pitch: u8) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    format!("{}{}", NAMES[pitch as usize % 12], pitch as i32 / 12 - 1)
}

/// The context steps as notes, the last step ending at `end_beat`.
pub fn context_notes(context: &[Chord], end_beat: f64, grid: Grid) -> Vec<Note> {
    let start = end_beat - context.len() as f64 * grid.step_beats();
    roll_to_notes(context, grid, start, 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> RollGeometry {
        RollGeometry {
            rect: Rect::from_min_max(pos2(100.0, 50.0), pos2(500.0, 290.0)),
            beat_start: 8.0,
            beat_end: 16.0,
            pitch_low: 60,
            pitch_high: 71,
        }
    }

    fn note(pitch: u8, start: f64, end: f64) -> Note {
        Note {
            pitch,
            start_beats: start,
            end_beats: end,
            velocity: 80,
        }
    }

    #[test]
    fn beats_map_linearly_to_x() {
        let g = geometry();
        assert_eq!(g.beat_to_x(8.0), 100.0);
        assert_eq!(g.beat_to_x(16.0), 500.0);
        assert_eq!(g.beat_to_x(12.0), 300.0);
    }

    #[test]
    fn higher_pitches_are_higher_up() {
        let g = geometry();
        assert_eq!(g.row_height(), 20.0);
        assert_eq!(g.pitch_to_y(71), 50.0);
        assert_eq!(g.pitch_to_y(60), 270.0);
    }

    #[test]
    fn notes_become_clipped_rectangles() {
        let g = geometry();
        let r = g.note_rect(&note(64, 9.0, 10.0)).unwrap();
        assert_eq!(
            (r.left(), r.right(), r.top(), r.bottom()),
            (150.0, 199.0, 190.0, 210.0)
        );
        let clipped = g.note_rect(&note(64, 6.0, 9.0)).unwrap();
        assert_eq!(clipped.left(), 100.0);
        assert!(
            g.note_rect(&note(64, 16.0, 17.0)).is_none(),
            "starts at the right edge"
        );
        assert!(
            g.note_rect(&note(59, 9.0, 10.0)).is_none(),
            "below the rows"
        );
        assert!(
            g.note_rect(&note(64, 4.0, 8.0)).is_none(),
            "ends at the left edge"
        );
    }

    #[test]
    fn a_beat_is_a_fixed_width() {
        assert_eq!(geometry().points_per_beat(), 50.0);
    }

    #[test]
    fn zoomed_out_bars_are_marked_sparsely() {
        assert_eq!(bars_per_mark(100.0, 28.0), 1);
        assert_eq!(bars_per_mark(20.0, 28.0), 2);
        assert_eq!(bars_per_mark(8.0, 28.0), 4);
        assert_eq!(bars_per_mark(0.0, 28.0), 1 << 20, "a degenerate view stops");
    }

    #[test]
    fn pitch_rows_cover_the_notes_with_air() {
        assert_eq!(
            visible_pitches(&[note(60, 0.0, 1.0), note(84, 0.0, 1.0)]),
            (58, 86)
        );
        let (lo, hi) = visible_pitches(&[note(60, 0.0, 1.0)]);
        assert!(lo <= 58 && hi >= 62 && hi - lo >= 24);
        assert_eq!(visible_pitches(&[]), (48, 72));
        let (lo, hi) = visible_pitches(&[note(127, 0.0, 1.0)]);
        assert_eq!(hi, 127);
        assert!(hi - lo >= 24);
    }

    #[test]
    fn bar_lines_follow_the_metre() {
        assert_eq!(bar_lines(3.0, 13.0, 4.0), vec![4.0, 8.0, 12.0]);
        assert_eq!(
            bar_lines(0.0, 6.0, beats_per_bar(Some((6, 8)))),
            vec![0.0, 3.0, 6.0]
        );
        assert_eq!(beats_per_bar(None), 4.0);
        assert!(
            bar_lines(0.0, 1e9, 4.0).is_empty(),
            "absurd spans draw nothing"
        );
    }

    #[test]
    fn note_names_are_scientific() {
        assert_eq!(note_name(60), "C4");
        assert_eq!(note_name(69), "A4");
        assert_eq!(note_name(21), "A0");
        assert_eq!(note_name(61), "C#4");
    }

    #[test]
    fn context_steps_end_at_the_given_beat() {
        let grid = Grid::default();
        let context = [
            Chord::REST,
            Chord::struck_from(&[60]),
            Chord::held_from(&[60]),
        ];
        let notes = context_notes(&context, 10.0, grid);
        assert_eq!(notes, vec![note(60, 9.5, 10.0)]);
    }
}
