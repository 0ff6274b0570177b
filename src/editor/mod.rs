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
//!
//! It repaints only when something it shows may have changed: input (egui-baseview repaints on
//! every event), the host changing a parameter or the state (nice-plug-egui's repaint
//! notifier), egui's own animations, or a change in the engine's snapshots, which a watcher
//! thread looks for every [`WATCH_EVERY`] while the window is open ([`RepaintWatcher`]). A
//! moving playhead changes the snapshot, so a playing phrase is drawn at about 30 frames a
//! second; an idle window is not redrawn.

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

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier,
};
use parking_lot::Mutex;

use crate::engine::snapshot::{
    AudioSnapshot, ModelInfo, SnapshotReader, Status, VariationView, WorkerSnapshot,
};
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
    let repaint = RepaintNotifier::new();
    create_egui_editor(
        state,
        repaint.clone(),
        settings,
        ContinuoEditor::new(params, snapshots, repaint),
    )
}

/// How often the watcher compares the engine's snapshots with what it saw last: one frame at
/// 30 Hz, the rate a moving playhead is drawn at.
pub const WATCH_EVERY: Duration = Duration::from_millis(33);

/// The numbers of the snapshots that the window shows (everything but the publish counter).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct ShownNumbers {
    phrase: [f64; 3],
    phrase_streaming: bool,
    waits: u64,
    last_latency_ms: Option<f32>,
    phrase_on_host_timeline: bool,
    playhead_beats: f64,
    transport_playing: bool,
    tempo: f64,
    steps_per_beat: u32,
    time_signature: Option<(u8, u8)>,
    status: Status,
    loading: bool,
    last_generation: (Option<f64>, Option<f64>),
    generations: u64,
}

/// What the window shows of the engine's snapshots, to tell whether a repaint would draw
/// anything new.
#[derive(Debug, Default)]
pub struct Shown {
    numbers: ShownNumbers,
    context: Vec<crate::roll::Chord>,
    phrase_notes: Vec<crate::midi::Note>,
    variations: Vec<VariationView>,
    model: Option<ModelInfo>,
    last_error: Option<String>,
}

impl Shown {
    /// Takes in the snapshots; true when anything the window shows differs from last time.
    pub fn update(&mut self, audio: &AudioSnapshot, worker: &WorkerSnapshot) -> bool {
        let numbers = ShownNumbers {
            phrase: [audio.phrase_start, audio.phrase_end, audio.phrase_ready],
            phrase_streaming: audio.phrase_streaming,
            waits: audio.waits,
            last_latency_ms: audio.last_latency_ms,
            phrase_on_host_timeline: audio.phrase_on_host_timeline,
            playhead_beats: audio.playhead_beats,
            transport_playing: audio.transport_playing,
            tempo: audio.tempo,
            steps_per_beat: audio.steps_per_beat,
            time_signature: audio.time_signature,
            status: audio.status,
            loading: worker.loading,
            last_generation: (worker.last_generation_ms, worker.last_steps_per_second),
            generations: worker.generations,
        };
        let same = self.numbers == numbers
            && self.context == audio.context
            && self.phrase_notes == audio.phrase_notes
            && self.variations == worker.variations
            && self.model == worker.model
            && self.last_error == worker.last_error;
        if !same {
            self.numbers = numbers;
            self.context.clear();
            self.context.extend_from_slice(&audio.context);
            self.phrase_notes.clear();
            self.phrase_notes.extend_from_slice(&audio.phrase_notes);
            self.variations.clone_from(&worker.variations);
            self.model.clone_from(&worker.model);
            self.last_error.clone_from(&worker.last_error);
        }
        !same
    }
}

/// The thread that asks for a repaint when the engine's snapshots change while the window is
/// open. It lives in the window's egui context (its data), so it ends, and is joined, when the
/// window's thread drops the context on closing, before the host's `gui.destroy()` returns
/// (nice-plug-egui 0.6 never calls `NiceEguiApp::editor_closed`).
pub struct RepaintWatcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RepaintWatcher {
    pub fn start(snapshots: Arc<Mutex<SnapshotReader>>, repaint: RepaintNotifier) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("continuo-editor-watch".into())
            .spawn(move || {
                let mut shown = Shown::default();
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(WATCH_EVERY) {
                    let changed = {
                        let mut reader = snapshots.lock();
                        let worker = reader.worker().clone();
                        shown.update(reader.audio(), &worker)
                    };
                    if changed {
                        repaint.request_repaint();
                    }
                }
            })
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for RepaintWatcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The egui app behind the window.
pub struct ContinuoEditor {
    params: Arc<ContinuoParams>,
    snapshots: Arc<Mutex<SnapshotReader>>,
    gui: Option<GuiContext>,
    repaint: RepaintNotifier,
    generate: panels::GenerateButton,
    model_panel: panels::ModelPanel,
    /// The result of the last "Save phrase as MIDI", shown in the status line.
    save_note: Option<String>,
}

impl ContinuoEditor {
    fn new(
        params: Arc<ContinuoParams>,
        snapshots: Arc<Mutex<SnapshotReader>>,
        repaint: RepaintNotifier,
    ) -> Self {
        Self {
            params,
            snapshots,
            gui: None,
            repaint,
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
        // One watcher per open window, dropped (and joined) with the window's context.
        let watcher = Arc::new(RepaintWatcher::start(
            self.snapshots.clone(),
            self.repaint.clone(),
        ));
        egui_ctx.data_mut(|d| d.insert_temp(egui::Id::unique("continuo-repaint-watcher"), watcher));
        Ok(())
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let Some(gui) = self.gui.clone() else { return };
        // No timed repaint: the watcher asks for one when the snapshots change (a moving
        // playhead too).
        self.draw(ui, &gui.param_setter());
    }
}
