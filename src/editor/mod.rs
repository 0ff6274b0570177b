//! The plugin window (egui through nice-plug-egui): what Continuo hears and what it will play,
//! with every control a musician needs. It only reads the engine through lock-free snapshots
//! (`engine::snapshot`), so the audio thread never waits on it; parameter changes go through
//! nice-plug's `ParamSetter`, so host automation and undo see them.
//!
//! - `geometry`: beats/pitches to screen coordinates (pure, unit-tested)
//! - `roll_view`: paints the roll
//! - `panels`: parameters, Generate button, model panel, status line
//! - `save`: "Save phrase as MIDI"
//! - `variations`: the thumbnails of a press's variations
//! - `theme`: colours

pub mod geometry;
mod panels;
mod roll_view;
pub mod save;
mod theme;
mod variations;

use std::sync::Arc;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier,
};
use parking_lot::Mutex;

use crate::engine::snapshot::SnapshotReader;
use crate::params::ContinuoParams;

/// The window's size when it first opens, and the smallest it may become.
pub const INITIAL_SIZE: LogicalSize<f32> = LogicalSize::new(900.0, 620.0);
pub const MIN_SIZE: LogicalSize<f32> = LogicalSize::new(720.0, 480.0);

/// The editor state the params hold (window size, open flag).
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(INITIAL_SIZE, 1.0)
}

/// The plugin's editor.
pub type ContinuoEditorHandle = EguiEditor<ContinuoEditor>;

/// Builds the editor for `Plugin::editor()`.
pub fn create(
    params: Arc<ContinuoParams>,
    snapshots: Arc<Mutex<SnapshotReader>>,
) -> Option<ContinuoEditorHandle> {
    let settings = EguiNiceSettings::new()
        .with_tile("Continuo")
        .with_resize_hint(ResizeHint::resizable().with_min_logical_size(MIN_SIZE));
    let state = params.editor_state.clone();
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        settings,
        ContinuoEditor::new(params, snapshots),
    )
}

/// The egui app behind the window.
pub struct ContinuoEditor {
    params: Arc<ContinuoParams>,
    snapshots: Arc<Mutex<SnapshotReader>>,
    gui: Option<GuiContext>,
    generate: panels::GenerateButton,
    model_panel: panels::ModelPanel,
    /// The result of the last "Save phrase as MIDI", shown in the status line.
    save_note: Option<String>,
}

impl ContinuoEditor {
    fn new(params: Arc<ContinuoParams>, snapshots: Arc<Mutex<SnapshotReader>>) -> Self {
        Self {
            params,
            snapshots,
            gui: None,
            generate: Default::default(),
            model_panel: Default::default(),
            save_note: None,
        }
    }

    fn save_phrase(&mut self, audio: &crate::engine::snapshot::AudioSnapshot) {
        self.save_notes(&audio.phrase_notes, audio);
    }

    /// Saves one variation (its notes are relative to the press's start).
    fn save_variation(
        &mut self,
        view: &crate::engine::snapshot::VariationView,
        audio: &crate::engine::snapshot::AudioSnapshot,
    ) {
        let notes: Vec<crate::midi::Note> = view
            .notes
            .iter()
            .map(|n| crate::midi::Note {
                start_beats: n.start_beats + audio.phrase_start,
                end_beats: n.end_beats + audio.phrase_start,
                ..*n
            })
            .collect();
        self.save_notes(&notes, audio);
    }

    fn save_notes(
        &mut self,
        notes: &[crate::midi::Note],
        audio: &crate::engine::snapshot::AudioSnapshot,
    ) {
        let export = save::PhraseExport {
            notes,
            phrase_start: audio.phrase_start,
            tempo_bpm: audio.tempo,
            time_signature: audio.time_signature.unwrap_or((4, 4)),
        };
        self.save_note = Some(
            match save::save_phrase(
                &export,
                &save::default_folder(),
                chrono::Local::now().naive_local(),
            ) {
                Ok(path) => format!("saved {}", path.display()),
                Err(e) => e,
            },
        );
    }
}

impl NiceEguiApp for ContinuoEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        theme::apply(&egui_ctx);
        self.gui = Some(gui);
        Ok(())
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let Some(gui) = self.gui.clone() else { return };
        let setter = gui.param_setter();
        // Only the GUI ever locks the reader; the writers publish through triple buffers.
        let snapshots = self.snapshots.clone();
        let mut reader = snapshots.lock();
        let worker = reader.worker().clone();
        let audio = reader.audio();
        let onsets = worker.model.as_ref().map(|m| m.grid.onsets).unwrap_or(true);
        // Keep the playhead moving while the window is open.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(33));

        let params = self.params.clone();
        ResizableWindow::new("continuo-window")
            .min_size(egui::vec2(MIN_SIZE.width, MIN_SIZE.height))
            .show(ui, |ui| {
                egui::Frame::new()
                    .inner_margin(egui::Margin::same(10))
                    .show(ui, |ui| {
                        ui.horizontal(|ui| {
                            ui.heading("Continuo");
                            ui.add_space(12.0);
                            panels::status_line(ui, audio, &worker, self.save_note.as_deref());
                        });
                        ui.separator();
                        ui.horizontal_top(|ui| {
                            ui.vertical(|ui| {
                                ui.set_width(270.0);
                                self.generate.show(ui, &params, &setter, audio.status);
                                ui.add_space(8.0);
                                panels::controls(ui, &params, &setter);
                                ui.add_space(8.0);
                                let can_save = audio.phrase_end > audio.phrase_start
                                    && !audio.phrase_notes.is_empty();
                                if ui
                                    .add_enabled(can_save, egui::Button::new("Save phrase as MIDI"))
                                    .clicked()
                                {
                                    self.save_phrase(audio);
                                }
                            });
                            ui.separator();
                            ui.vertical(|ui| {
                                let thumbs = if worker.variations.len() > 1 {
                                    78.0
                                } else {
                                    0.0
                                };
                                let roll_height =
                                    (ui.available_height() - 110.0 - thumbs).max(160.0);
                                ui.allocate_ui(
                                    egui::vec2(ui.available_width(), roll_height),
                                    |ui| roll_view::show(ui, audio, onsets),
                                );
                                ui.add_space(6.0);
                                if let Some(variations::Action::Save(v)) =
                                    variations::show(ui, &worker.variations, &params, &setter)
                                {
                                    if let Some(view) =
                                        worker.variations.iter().find(|x| x.variation == v)
                                    {
                                        self.save_variation(view, audio);
                                    }
                                }
                                self.model_panel.show(ui, &params, &worker);
                            });
                        });
                    });
            });
    }
}
