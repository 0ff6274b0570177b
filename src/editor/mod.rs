//! The plugin window (egui through nice-plug-egui): what Continuo hears and what it will play,
//! with every control a musician needs. It only reads the engine through lock-free snapshots
//! (`engine::snapshot`), so the audio thread never waits on it; parameter changes go through
//! nice-plug's `ParamSetter`, so host automation and undo see them.
//!
//! - `window`: how the window is arranged (status line, control column, roll, model panel)
//! - `roll_viewport`: which beats the roll shows, zoom and scroll (pure, unit-tested)
//! - `geometry`: beats/pitches to screen coordinates (pure, unit-tested)
//! - `roll_view`: paints the roll and turns wheel and drag into zoom and scroll
//! - `panels`: parameters, Generate button, model panel, status line
//! - `save`: "Save phrase as MIDI"
//! - `variations`: the thumbnails of a press's variations
//! - `theme`: colours

pub mod geometry;
mod panels;
mod roll_view;
mod roll_viewport;
pub mod save;
mod theme;
mod variations;
mod window;
#[cfg(test)]
mod window_tests;

pub use roll_viewport::RollView;

use std::sync::Arc;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
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
        // Keep the playhead moving while the window is open.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(33));
        self.draw(ui, &gui.param_setter());
    }
}
