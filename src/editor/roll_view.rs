//! Paints the piano roll: pitch axis with note names, bar and beat lines, the context the model
//! hears, the phrase it will play, and the moving playhead.

use egui::{pos2, Align2, FontId, Rect, Sense, Stroke, Ui, Vec2};

use super::geometry::{
    bar_lines, beats_per_bar, context_notes, note_name, visible_beats, visible_pitches,
    RollGeometry,
};
use super::theme;
use crate::engine::snapshot::AudioSnapshot;
use crate::roll::Grid;

/// Width of the pitch axis on the left.
const AXIS_WIDTH: f32 = 34.0;

/// Draws the roll into the space left in `ui`.
pub fn show(ui: &mut Ui, audio: &AudioSnapshot, onsets: bool) {
    let size = ui.available_size().max(Vec2::new(200.0, 120.0));
    let (response, painter) = ui.allocate_painter(size, Sense::hover());
    let full = response.rect;
    painter.rect_filled(full, 4.0, theme::ROLL_BACKGROUND);

    let grid = Grid {
        steps_per_beat: audio.steps_per_beat.max(1),
        onsets,
    };
    let context_beats = audio.context.len() as f64 * grid.step_beats();
    let context_end =
        (audio.playhead_beats * grid.steps_per_beat as f64).floor() * grid.step_beats();
    let context = context_notes(&audio.context, context_end, grid);
    let has_phrase = audio.phrase_end > audio.phrase_start;
    let phrase = if has_phrase {
        &audio.phrase_notes[..]
    } else {
        &[][..]
    };
    let (beat_start, beat_end) = visible_beats(
        audio.playhead_beats,
        context_beats.max(4.0),
        has_phrase.then_some((audio.phrase_start, audio.phrase_end)),
    );
    let (pitch_low, pitch_high) = visible_pitches(context.iter().chain(phrase.iter()));
    let rect = Rect::from_min_max(
        pos2(full.left() + AXIS_WIDTH, full.top() + 4.0),
        pos2(full.right() - 4.0, full.bottom() - 4.0),
    );
    let g = RollGeometry {
        rect,
        beat_start,
        beat_end,
        pitch_low,
        pitch_high,
    };

    // Rows: black keys darker, C rows labelled.
    for pitch in pitch_low..=pitch_high {
        let y = g.pitch_to_y(pitch);
        let row = Rect::from_min_max(pos2(rect.left(), y), pos2(rect.right(), y + g.row_height()));
        if matches!(pitch % 12, 1 | 3 | 6 | 8 | 10) {
            painter.rect_filled(row, 0.0, theme::BLACK_KEY_ROW);
        }
        if pitch % 12 == 0 || g.row_height() >= 11.0 {
            let font = FontId::proportional((g.row_height() * 0.8).clamp(7.0, 11.0));
            let color = if pitch % 12 == 0 {
                theme::TEXT
            } else {
                theme::DIM_TEXT
            };
            painter.text(
                pos2(full.left() + 4.0, y + g.row_height() / 2.0),
                Align2::LEFT_CENTER,
                note_name(pitch),
                font,
                color,
            );
        }
    }

    // Beat and bar lines.
    let bar = beats_per_bar(audio.time_signature);
    for beat in bar_lines(beat_start, beat_end, 1.0) {
        let x = g.beat_to_x(beat);
        painter.line_segment(
            [pos2(x, rect.top()), pos2(x, rect.bottom())],
            Stroke::new(1.0, theme::BEAT_LINE),
        );
    }
    for beat in bar_lines(beat_start, beat_end, bar) {
        let x = g.beat_to_x(beat);
        painter.line_segment(
            [pos2(x, rect.top()), pos2(x, rect.bottom())],
            Stroke::new(1.5, theme::BAR_LINE),
        );
        if beat < 0.0 {
            continue; // before the song's first bar
        }
        let label = format!("{}", (beat / bar).round() as i64 + 1);
        painter.text(
            pos2(x + 3.0, rect.top() + 1.0),
            Align2::LEFT_TOP,
            label,
            FontId::proportional(10.0),
            theme::DIM_TEXT,
        );
    }

    // The phrase's span, then the notes: context (what the model hears) and phrase (what it plays).
    if has_phrase {
        let x0 = g.beat_to_x(audio.phrase_start.max(beat_start));
        let x1 = g.beat_to_x(audio.phrase_end.min(beat_end));
        if x1 > x0 {
            painter.rect_filled(
                Rect::from_min_max(pos2(x0, rect.top()), pos2(x1, rect.bottom())),
                0.0,
                theme::PHRASE_SPAN,
            );
        }
        // While it streams: the part already generated, as a bar along the top.
        if audio.phrase_streaming {
            let xr = g.beat_to_x(
                audio
                    .phrase_ready
                    .clamp(audio.phrase_start, audio.phrase_end)
                    .min(beat_end),
            );
            if xr > x0 {
                painter.rect_filled(
                    Rect::from_min_max(pos2(x0, rect.top()), pos2(xr, rect.top() + 3.0)),
                    0.0,
                    theme::PHRASE_READY,
                );
            }
        }
    }
    for note in &context {
        if let Some(r) = g.note_rect(note) {
            painter.rect_filled(r, 2.0, theme::CONTEXT_NOTE);
        }
    }
    for note in phrase {
        if let Some(r) = g.note_rect(note) {
            let played = note.end_beats <= audio.playhead_beats;
            painter.rect_filled(
                r,
                2.0,
                if played {
                    theme::PHRASE_NOTE_PLAYED
                } else {
                    theme::PHRASE_NOTE
                },
            );
        }
    }

    // Playhead.
    let x = g.beat_to_x(audio.playhead_beats);
    if rect.x_range().contains(x) {
        painter.line_segment(
            [pos2(x, rect.top()), pos2(x, rect.bottom())],
            Stroke::new(2.0, theme::PLAYHEAD),
        );
    }
}
