//! The piano roll: a strip above it saying what it shows (with "Fit"), then the pitch axis with
//! note names, bar and beat lines, the context the model hears, the phrase it will play and the
//! moving playhead. The wheel zooms, a drag scrolls, a double click or "Fit" goes back to the
//! default view (`roll_viewport`).

use egui::{pos2, Align, Align2, FontId, Layout, Rect, Response, Sense, Stroke, Ui, Vec2};

use super::geometry::{
    bar_lines, bars_per_mark, beats_per_bar, context_notes, note_name, visible_pitches,
    RollGeometry,
};
use super::roll_viewport::{self, RollView, Timeline};
use super::theme;
use crate::engine::snapshot::AudioSnapshot;
use crate::midi::Note;
use crate::roll::Grid;

/// Width of the pitch axis on the left.
const AXIS_WIDTH: f32 = 34.0;
/// How much one point of wheel scrolling zooms (a wheel notch is about 50 points: ~20 %).
const ZOOM_PER_POINT: f64 = 0.004;
/// Bar numbers at least this far apart, so they never run into each other.
const BAR_NUMBER_GAP: f32 = 28.0;
/// Lines closer than this are left out (beat lines first, then every other bar line).
const LINE_GAP: f32 = 6.0;
/// Step lines (16ths at 4 steps a beat) appear once a step is this wide.
const STEP_LINE_GAP: f32 = 14.0;

/// Draws the header strip and the roll into the space left in `ui`; `view` is the musician's
/// zoom and scroll, changed by the wheel, a drag, a double click or "Fit".
pub fn show(ui: &mut Ui, audio: &AudioSnapshot, onsets: bool, view: &mut RollView) {
    let grid = Grid {
        steps_per_beat: audio.steps_per_beat.max(1),
        onsets,
    };
    let bar = beats_per_bar(audio.time_signature);
    let context_beats = audio.context.len() as f64 * grid.step_beats();
    let context_end =
        (audio.playhead_beats * grid.steps_per_beat as f64).floor() * grid.step_beats();
    let context = context_notes(&audio.context, context_end, grid);
    let has_phrase = audio.phrase_end > audio.phrase_start;
    let phrase: &[Note] = if has_phrase { &audio.phrase_notes } else { &[] };
    let timeline = Timeline {
        playhead: audio.playhead_beats,
        beats_per_bar: bar,
        step_beats: grid.step_beats(),
        phrase: has_phrase.then_some((audio.phrase_start, audio.phrase_end)),
        earliest: context_end - context_beats,
    };

    let header = ui.horizontal(|ui| header_strip(ui, view)).inner;
    let size = ui.available_size().max(Vec2::new(200.0, 120.0));
    let (response, painter) = ui.allocate_painter(size, Sense::click_and_drag());
    let full = response.rect;
    let rect = Rect::from_min_max(
        pos2(full.left() + AXIS_WIDTH, full.top() + 4.0),
        pos2(full.right() - 4.0, full.bottom() - 4.0),
    );
    let shown = roll_viewport::visible_beats(view, &timeline, rect.width());
    if let Some(changed) = navigate(ui, &response, rect, shown, view) {
        *view = changed;
    }
    let (beat_start, beat_end) = roll_viewport::visible_beats(view, &timeline, rect.width());
    header.fill(ui, view, (beat_end - beat_start) / bar);

    painter.rect_filled(full, 4.0, theme::ROLL_BACKGROUND);
    let (pitch_low, pitch_high) = visible_pitches(context.iter().chain(phrase.iter()));
    let g = RollGeometry {
        rect,
        beat_start,
        beat_end,
        pitch_low,
        pitch_high,
    };
    paint_rows(&painter, &g, full.left());
    paint_grid(&painter, &g, bar, grid.step_beats());
    if has_phrase {
        paint_phrase_span(&painter, &g, audio);
    }
    for note in &context {
        if let Some(r) = g.note_rect(note) {
            painter.rect_filled(r, 1.0, theme::CONTEXT_NOTE);
        }
    }
    for note in phrase {
        if let Some(r) = g.note_rect(note) {
            let played = note.end_beats <= audio.playhead_beats;
            let colour = if played {
                theme::PHRASE_NOTE_PLAYED
            } else {
                theme::PHRASE_NOTE
            };
            painter.rect_filled(r, 1.0, colour);
        }
    }
    let x = g.beat_to_x(audio.playhead_beats);
    if rect.x_range().contains(x) {
        painter.line_segment(
            [pos2(x, rect.top()), pos2(x, rect.bottom())],
            Stroke::new(2.0, theme::PLAYHEAD),
        );
    }
}

/// The strip above the roll: what it shows on the left, "Fit" on the right. The text needs the
/// view after this frame's input, so the strip reserves its place and [`HeaderStrip::fill`]
/// writes it.
struct HeaderStrip {
    text_rect: Rect,
}

fn header_strip(ui: &mut Ui, view: &mut RollView) -> HeaderStrip {
    let height = ui.spacing().interact_size.y;
    let (text_rect, _) = ui.allocate_exact_size(
        Vec2::new((ui.available_width() - 60.0).max(0.0), height),
        Sense::hover(),
    );
    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
        let fit = ui
            .add_enabled(*view != RollView::default(), egui::Button::new("Fit"))
            .on_hover_text(
                "Back to the last bars heard and the whole phrase, following the playhead \
                 (wheel: zoom, drag: scroll, double click: fit)",
            );
        if fit.clicked() {
            *view = RollView::default();
        }
    });
    HeaderStrip { text_rect }
}

impl HeaderStrip {
    fn fill(&self, ui: &Ui, view: &RollView, bars: f64) {
        let how = if view.start_beat.is_some() {
            "scrolled"
        } else {
            "following the playhead"
        };
        let bars = if (bars - bars.round()).abs() < 0.05 {
            format!("{:.0}", bars.round())
        } else {
            format!("{bars:.1}")
        };
        ui.painter().text(
            self.text_rect.left_center(),
            Align2::LEFT_CENTER,
            format!("{bars} bars, {how}"),
            FontId::proportional(12.0),
            theme::DIM_TEXT,
        );
    }
}

/// Applies this frame's wheel, drag and double click over the roll to the view; `None` when the
/// musician did nothing.
fn navigate(
    ui: &Ui,
    response: &Response,
    rect: Rect,
    shown: (f64, f64),
    view: &RollView,
) -> Option<RollView> {
    if response.double_clicked() {
        return Some(RollView::default());
    }
    let points_per_beat = rect.width() as f64 / (shown.1 - shown.0).max(1e-9);
    let mut changed = None;
    if response.dragged() && response.drag_delta().x != 0.0 {
        let beats = -response.drag_delta().x as f64 / points_per_beat;
        changed = Some(roll_viewport::scroll(shown, beats, view));
    }
    if response.hovered() {
        let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta(), i.zoom_delta()));
        let anchor = response.hover_pos().map_or(shown.0, |p| {
            shown.0 + ((p.x - rect.left()).max(0.0) as f64) / points_per_beat
        });
        // Wheel up (content down) or a pinch outwards zoom in.
        let factor = (-(scroll.y as f64) * ZOOM_PER_POINT).exp() / zoom as f64;
        if (factor - 1.0).abs() > 1e-6 {
            changed = Some(roll_viewport::zoom(view, shown, factor, anchor));
        }
        if scroll.x != 0.0 {
            // Shift+wheel or a sideways swipe: content right shows earlier beats.
            let base = changed.unwrap_or(*view);
            let beats = -(scroll.x as f64) / points_per_beat;
            changed = Some(roll_viewport::scroll(shown, beats, &base));
        }
        if scroll != Vec2::ZERO {
            ui.ctx().input_mut(|i| i.smooth_scroll_delta = Vec2::ZERO);
        }
    }
    changed
}

/// Pitch rows: black keys darker; names on every row when there is room, else on the Cs.
fn paint_rows(painter: &egui::Painter, g: &RollGeometry, axis_left: f32) {
    let rect = g.rect;
    let row_height = g.row_height();
    let font = FontId::proportional((row_height * 0.8).clamp(8.0, 11.0));
    for pitch in g.pitch_low..=g.pitch_high {
        let y = g.pitch_to_y(pitch);
        let row = Rect::from_min_max(pos2(rect.left(), y), pos2(rect.right(), y + row_height));
        if matches!(pitch % 12, 1 | 3 | 6 | 8 | 10) {
            painter.rect_filled(row, 0.0, theme::BLACK_KEY_ROW);
        }
        let is_c = pitch % 12 == 0;
        if is_c || row_height >= 11.0 {
            painter.text(
                pos2(axis_left + 4.0, y + row_height / 2.0),
                Align2::LEFT_CENTER,
                note_name(pitch),
                font.clone(),
                if is_c { theme::TEXT } else { theme::DIM_TEXT },
            );
        }
    }
}

/// Step, beat and bar lines, thinned as the roll zooms out, and bar numbers.
fn paint_grid(painter: &egui::Painter, g: &RollGeometry, bar: f64, step_beats: f64) {
    let rect = g.rect;
    let points_per_beat = g.points_per_beat();
    let vertical = |x: f32, stroke: Stroke| {
        painter.line_segment([pos2(x, rect.top()), pos2(x, rect.bottom())], stroke);
    };
    if points_per_beat * step_beats as f32 >= STEP_LINE_GAP {
        for beat in bar_lines(g.beat_start, g.beat_end, step_beats) {
            vertical(g.beat_to_x(beat), Stroke::new(1.0, theme::STEP_LINE));
        }
    }
    if points_per_beat >= LINE_GAP {
        for beat in bar_lines(g.beat_start, g.beat_end, 1.0) {
            vertical(g.beat_to_x(beat), Stroke::new(1.0, theme::BEAT_LINE));
        }
    }
    let points_per_bar = points_per_beat * bar as f32;
    let line_every = bars_per_mark(points_per_bar, LINE_GAP);
    let number_every = bars_per_mark(points_per_bar, BAR_NUMBER_GAP);
    for beat in bar_lines(g.beat_start, g.beat_end, bar * line_every as f64) {
        let x = g.beat_to_x(beat);
        vertical(x, Stroke::new(1.5, theme::BAR_LINE));
        let index = (beat / bar).round() as i64;
        if beat < 0.0 || index % number_every != 0 {
            continue; // before the song's first bar, or no room for the number
        }
        // Only whole numbers: one that would run past the right edge is left out.
        let number = painter.layout_no_wrap(
            format!("{}", index + 1),
            FontId::proportional(11.0),
            theme::TEXT,
        );
        if x + 3.0 + number.size().x <= rect.right() {
            painter.galley(pos2(x + 3.0, rect.top() + 1.0), number, theme::TEXT);
        }
    }
}

/// The phrase's span, and while it streams the part already generated as a bar along the top.
fn paint_phrase_span(painter: &egui::Painter, g: &RollGeometry, audio: &AudioSnapshot) {
    let rect = g.rect;
    let x0 = g.beat_to_x(audio.phrase_start.max(g.beat_start));
    let x1 = g.beat_to_x(audio.phrase_end.min(g.beat_end));
    if x1 <= x0 {
        return;
    }
    painter.rect_filled(
        Rect::from_min_max(pos2(x0, rect.top()), pos2(x1, rect.bottom())),
        0.0,
        theme::PHRASE_SPAN,
    );
    if audio.phrase_streaming {
        let ready = audio
            .phrase_ready
            .clamp(audio.phrase_start, audio.phrase_end)
            .min(g.beat_end);
        let xr = g.beat_to_x(ready);
        if xr > x0 {
            painter.rect_filled(
                Rect::from_min_max(pos2(x0, rect.top()), pos2(xr, rect.top() + 3.0)),
                0.0,
                theme::PHRASE_READY,
            );
        }
    }
}
