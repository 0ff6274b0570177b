//! How the window is arranged: the status line along the top; the controls in a column on the
//! left that scrolls when the window is shorter than they are; the model panel and the variation
//! thumbnails along the bottom of the right side; the roll in all the space left. Each part is an
//! egui panel with its own rectangle, so no part can push another out of the window.

use egui::{CentralPanel, Frame, Margin, Panel, ScrollArea, Ui};
use nice_plug::prelude::ParamSetter;
use nice_plug_egui::resizable_window::ResizableWindow;

use super::{panels, roll_view, variations, ContinuoEditor, MIN_SIZE};
use crate::engine::snapshot::{AudioSnapshot, WorkerSnapshot};
use crate::params::ContinuoParams;

/// Width of the control column: a label, a slider and the widest value ("2.00 beats"), plus
/// room for the column's scroll bar.
pub const COLUMN_WIDTH: f32 = 332.0;
/// Room on the column's right for the scroll bar, so it never covers a value.
const SCROLL_BAR_ROOM: i8 = 14;

impl ContinuoEditor {
    /// The whole window for one frame. Reads the engine's newest snapshots; parameter changes
    /// go through `setter`.
    pub(super) fn draw(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        // Only the GUI ever locks the reader; the writers publish through triple buffers.
        let snapshots = self.snapshots.clone();
        let mut reader = snapshots.lock();
        let worker = reader.worker().clone();
        let audio = reader.audio();

        let params = self.params.clone();
        ResizableWindow::new("continuo-window")
            .min_size(egui::vec2(MIN_SIZE.width, MIN_SIZE.height))
            .show(ui, |ui| {
                Panel::top("status")
                    .resizable(false)
                    .frame(Frame::new().inner_margin(Margin::symmetric(10, 6)))
                    .show(ui, |ui| {
                        ui.horizontal_wrapped(|ui| {
                            ui.heading("Continuo");
                            ui.add_space(12.0);
                            panels::status_line(ui, audio, &worker, self.save_note.as_deref());
                        });
                    });
                Panel::left("controls")
                    .resizable(false)
                    .exact_size(COLUMN_WIDTH)
                    .frame(Frame::new().inner_margin(Margin {
                        left: 10,
                        right: 0,
                        top: 8,
                        bottom: 6,
                    }))
                    .show(ui, |ui| {
                        ScrollArea::vertical()
                            .id_salt("controls")
                            .auto_shrink([false, false])
                            .show(ui, |ui| {
                                Frame::new()
                                    .inner_margin(Margin {
                                        right: SCROLL_BAR_ROOM,
                                        ..Margin::ZERO
                                    })
                                    .show(ui, |ui| self.control_column(ui, &params, setter, audio));
                            });
                    });
                Panel::bottom("model")
                    .resizable(false)
                    .frame(Frame::new().inner_margin(Margin::symmetric(10, 6)))
                    .show(ui, |ui| self.model_panel.show(ui, &params, &worker));
                if worker.variations.len() > 1 {
                    Panel::bottom("variations")
                        .resizable(false)
                        .show_separator_line(false)
                        .frame(Frame::new().inner_margin(Margin::symmetric(10, 4)))
                        .show(ui, |ui| {
                            self.variation_row(ui, &params, setter, &worker, audio)
                        });
                }
                CentralPanel::default()
                    .frame(Frame::new().inner_margin(Margin::symmetric(10, 6)))
                    .show(ui, |ui| {
                        let onsets = worker.model.as_ref().map(|m| m.grid.onsets).unwrap_or(true);
                        let mut view = *params.roll_view.read();
                        let before = view;
                        roll_view::show(ui, audio, onsets, &mut view);
                        if view != before {
                            *params.roll_view.write() = view;
                        }
                    });
            });
    }

    /// Generate, every parameter, and "Save phrase as MIDI".
    fn control_column(
        &mut self,
        ui: &mut Ui,
        params: &ContinuoParams,
        setter: &ParamSetter,
        audio: &AudioSnapshot,
    ) {
        self.generate.show(ui, params, setter, audio.status);
        ui.add_space(6.0);
        panels::controls(ui, params, setter);
        ui.add_space(6.0);
        let can_save = audio.phrase_end > audio.phrase_start && !audio.phrase_notes.is_empty();
        if ui
            .add_enabled(can_save, egui::Button::new("Save phrase as MIDI"))
            .clicked()
        {
            self.save_phrase(audio);
        }
    }

    /// The thumbnails of a press's variations, and saving one of them.
    fn variation_row(
        &mut self,
        ui: &mut Ui,
        params: &ContinuoParams,
        setter: &ParamSetter,
        worker: &WorkerSnapshot,
        audio: &AudioSnapshot,
    ) {
        if let Some(variations::Action::Save(v)) =
            variations::show(ui, &worker.variations, params, setter)
        {
            if let Some(view) = worker.variations.iter().find(|x| x.variation == v) {
                self.save_variation(view, audio);
            }
        }
    }
}
