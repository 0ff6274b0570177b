//! The variations of the last press as small piano-roll thumbnails under the main roll: a
//! click chooses which one plays (through the Variation parameter, so hosts record and automate
//! the choice), and each can be saved as a MIDI file.

use egui::{pos2, vec2, Rect, Sense, Stroke, StrokeKind, Ui};
use nice_plug::prelude::*;

use super::theme;
use crate::engine::snapshot::VariationView;
use crate::midi::Note;
use crate::params::ContinuoParams;

/// What the user asked of a thumbnail this frame.
pub enum Action {
    /// Save variation (0-based) as MIDI.
    Save(u8),
}

/// A thumbnail's size, and the narrowest it gets when many variations share a narrow window
/// (past that the row scrolls sideways).
const THUMB: egui::Vec2 = vec2(84.0, 44.0);
const THUMB_MIN_WIDTH: f32 = 48.0;

/// One row of thumbnails. Returns a save request, if any.
pub fn show(
    ui: &mut Ui,
    variations: &[VariationView],
    params: &ContinuoParams,
    setter: &ParamSetter,
) -> Option<Action> {
    if variations.len() < 2 {
        return None;
    }
    let chosen = (params.variation.value() - 1).max(0) as u8;
    let mut action = None;
    ui.horizontal(|ui| {
        ui.label("Variations");
        let spacing = ui.spacing().item_spacing.x;
        let width = (ui.available_width() / variations.len() as f32 - spacing)
            .clamp(THUMB_MIN_WIDTH, THUMB.x);
        egui::ScrollArea::horizontal()
            .id_salt("variations")
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    for v in variations {
                        if let Some(a) =
                            thumbnail(ui, v, vec2(width, THUMB.y), chosen, params, setter)
                        {
                            action = Some(a);
                        }
                    }
                });
            });
    });
    action
}

/// One variation: its notes (a click plays it), its number and a Save button.
fn thumbnail(
    ui: &mut Ui,
    v: &VariationView,
    size: egui::Vec2,
    chosen: u8,
    params: &ContinuoParams,
    setter: &ParamSetter,
) -> Option<Action> {
    let mut action = None;
    ui.vertical(|ui| {
        let (rect, response) = ui.allocate_exact_size(size, Sense::click());
        paint(ui, rect, v, v.variation == chosen);
        let response = response.on_hover_text(format!(
            "Variation {}: {} notes{}",
            v.variation + 1,
            v.notes.len(),
            if v.complete { "" } else { " (generating)" }
        ));
        if response.clicked() && v.variation != chosen {
            setter.begin_set_parameter(&params.variation);
            setter.set_parameter(&params.variation, v.variation as i32 + 1);
            setter.end_set_parameter(&params.variation);
        }
        ui.horizontal(|ui| {
            ui.label(format!("{}", v.variation + 1));
            if ui
                .add_enabled(
                    v.complete && !v.notes.is_empty(),
                    egui::Button::new("Save").small(),
                )
                .on_hover_text("Save this variation as a MIDI file")
                .clicked()
            {
                action = Some(Action::Save(v.variation));
            }
        });
    });
    action
}

/// The notes of one variation scaled into `rect` (time across, pitch up).
fn paint(ui: &Ui, rect: Rect, v: &VariationView, chosen: bool) {
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, theme::ROLL_BACKGROUND);
    let (low, high) = pitch_span(&v.notes);
    let length = v.length_beats.max(1e-6);
    let row = rect.height() / (high - low + 1) as f32;
    for n in &v.notes {
        let x0 = rect.left() + (n.start_beats / length) as f32 * rect.width();
        let x1 = rect.left() + (n.end_beats / length) as f32 * rect.width();
        let y = rect.bottom() - (n.pitch - low + 1) as f32 * row;
        painter.rect_filled(
            Rect::from_min_max(pos2(x0, y), pos2(x1.max(x0 + 1.0), y + row.max(1.0))),
            0.0,
            theme::PHRASE_NOTE,
        );
    }
    let stroke = if chosen {
        Stroke::new(2.0, theme::PHRASE_NOTE)
    } else {
        Stroke::new(1.0, theme::BAR_LINE)
    };
    painter.rect_stroke(rect, 3.0, stroke, StrokeKind::Inside);
}

/// Lowest and highest pitch, with a little room; a default span for no notes.
fn pitch_span(notes: &[Note]) -> (u8, u8) {
    let low = notes.iter().map(|n| n.pitch).min().unwrap_or(48);
    let high = notes.iter().map(|n| n.pitch).max().unwrap_or(72);
    (low.saturating_sub(2), high.saturating_add(2).min(127))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pitch_span_has_room_and_a_default() {
        assert_eq!(super::pitch_span(&[]), (46, 74));
        let n = |pitch| crate::midi::Note {
            pitch,
            start_beats: 0.0,
            end_beats: 1.0,
            velocity: 90,
        };
        assert_eq!(super::pitch_span(&[n(60), n(40)]), (38, 62));
    }
}
