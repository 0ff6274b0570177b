//! The window laid out by egui itself, headless, over the same `ContinuoEditor::draw` the plugin
//! runs, at the default size and at the smallest the window allows: every control's label must be
//! on screen (in the control column: on screen or reachable by scrolling it), no text may be cut
//! off sideways, the roll's default view must be the bars heard and the whole phrase, and the
//! musician's zoom must be kept with the project. `tests/editor_window.rs` checks the real window
//! under X11 from its screenshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use egui::epaint::{ClippedShape, Shape};
use egui::{pos2, vec2, Event, Modifiers, MouseWheelSource, MouseWheelUnit, Pos2, Rect};
use egui::{RawInput, TouchPhase, Vec2};
use nice_plug::context::gui::GuiContextInner;
use nice_plug::context::PluginApi;
use nice_plug::params::internals::ParamPtr;
use nice_plug::plugin::PluginState;
use nice_plug::prelude::{ParamSetter, Params};
use parking_lot::Mutex;

use super::panels::{label_for, NOT_IN_THE_COLUMN};
use super::window::COLUMN_WIDTH;
use super::{theme, ContinuoEditor, RollView, INITIAL_SIZE, MIN_SIZE};
use crate::engine::snapshot::{
    snapshot_channels, AudioSnapshot, ModelInfo, Status, VariationView, WorkerSnapshot,
};
use crate::midi::Note;
use crate::params::ContinuoParams;
use crate::roll::{Chord, Grid};

/// A host that takes no parameter changes: these tests only scroll and zoom, never set one.
struct NoHost;

impl GuiContextInner for NoHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {}
    unsafe fn raw_set_parameter_normalized(&self, _param: ParamPtr, _normalized: f32) {}
    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {}
    fn get_state(&self) -> PluginState {
        PluginState {
            version: String::new(),
            params: BTreeMap::new(),
            fields: BTreeMap::new(),
        }
    }
    fn set_state(&self, _state: PluginState) {}
    fn request_restart(&self) {}
}

/// The scene of the X11 test: 4/4 at 4 steps a beat, 16 beats played (a chord each beat, the
/// rest of the 256-step context silent), a 4-bar phrase from beat 17 with the playhead just
/// inside it, the step model's real-length description, and `variations` thumbnails.
fn scene(variations: u8) -> (AudioSnapshot, WorkerSnapshot) {
    let mut audio = AudioSnapshot::new();
    audio.context = (0..256)
        .map(|k| match k {
            0..192 => Chord::REST,
            k if k % 4 == 0 => Chord::struck_from(&[55, 62, 67, 71]),
            _ => Chord::held_from(&[55, 62, 67, 71]),
        })
        .collect();
    let note = |pitch, start: f64, beats: f64| Note {
        pitch,
        start_beats: start,
        end_beats: start + beats,
        velocity: 80,
    };
    // A 16th-note run over a held bass, bar after bar.
    for bar in 0..4 {
        let start = 17.0 + 4.0 * bar as f64;
        audio.phrase_notes.push(note(48 + bar, start, 4.0));
        for step in 0..16 {
            audio.phrase_notes.push(note(
                67 + (step % 8) as u8,
                start + 0.25 * step as f64,
                0.25,
            ));
        }
    }
    audio.phrase_start = 17.0;
    audio.phrase_end = 33.0;
    audio.phrase_ready = 33.0;
    audio.playhead_beats = 17.5;
    audio.transport_playing = true;
    audio.time_signature = Some((4, 4));
    audio.status = Status::Playing;
    let worker = WorkerSnapshot {
        model: Some(ModelInfo {
            name: "default (embedded)".into(),
            architecture: "causal step model over the 88 keys: step (held/struck key embeddings \
                + meter) → Embedding(96) → GRU(384) over time → NADE decoder over the keys \
                low→high (width 128; local features: ±3 keys the step before, 12 keys below) → \
                off/held/struck per key"
                .into(),
            parameter_count: 1_234_567,
            vocab_size: 0,
            grid: Grid::default(),
            window: 256,
            training_summary: "trained 40 epochs on 1 276 piano pieces (MAESTRO v3, 4 steps a \
                beat), validation loss 0.0412 bits per key, 3 h 12 min on 2 CPU threads"
                .into(),
            device: "CPU (avx2)".into(),
        }),
        variations: (0..variations)
            .map(|v| VariationView {
                variation: v,
                notes: audio
                    .phrase_notes
                    .iter()
                    .map(|n| Note {
                        start_beats: n.start_beats - 17.0,
                        end_beats: n.end_beats - 17.0,
                        ..*n
                    })
                    .collect(),
                length_beats: 16.0,
                complete: true,
            })
            .collect(),
        ..Default::default()
    };
    (audio, worker)
}

/// An editor over `scene`, laid out frame by frame by a headless egui.
struct Harness {
    editor: ContinuoEditor,
    ctx: egui::Context,
    size: Vec2,
    time: f64,
}

impl Harness {
    fn new(size: Vec2, variations: u8, params: Arc<ContinuoParams>) -> Self {
        let (mut audio_in, mut worker_in, reader) = snapshot_channels();
        let (audio, worker) = scene(variations);
        audio_in.write(audio);
        worker_in.write(worker);
        let editor = ContinuoEditor::new(
            params,
            Arc::new(Mutex::new(reader)),
            nice_plug_egui::RepaintNotifier::new(),
        );
        let ctx = egui::Context::default();
        theme::apply(&ctx);
        let mut harness = Self {
            editor,
            ctx,
            size,
            time: 0.0,
        };
        // Panels size themselves from the frame before: let the layout settle.
        for _ in 0..3 {
            harness.frame(Vec::new());
        }
        harness
    }

    /// One frame with these input events; the texts it painted.
    fn frame(&mut self, events: Vec<Event>) -> Vec<PaintedText> {
        self.time += 1.0 / 60.0;
        let input = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, self.size)),
            time: Some(self.time),
            events,
            ..Default::default()
        };
        let host = NoHost;
        let setter = ParamSetter::new(&host);
        let editor = &mut self.editor;
        let mut output = self.ctx.run_ui(input, |ui| editor.draw(ui, &setter));
        // No renderer takes the font textures here.
        output.textures_delta.clear();
        let mut texts = Vec::new();
        for ClippedShape {
            clip_rect, shape, ..
        } in &output.shapes
        {
            collect_texts(shape, *clip_rect, &mut texts);
        }
        texts
    }

    /// A wheel turn of `delta` points at `at`, then frames until egui's smoothing has applied it.
    fn wheel(&mut self, at: Pos2, delta: Vec2, modifiers: Modifiers) -> Vec<Vec<PaintedText>> {
        let mut frames = vec![self.frame(vec![
            Event::PointerMoved(at),
            Event::MouseWheel {
                unit: MouseWheelUnit::Point,
                delta,
                phase: TouchPhase::Move,
                source: MouseWheelSource::Wheel,
                modifiers,
            },
        ])];
        for _ in 0..30 {
            frames.push(self.frame(vec![Event::PointerMoved(at)]));
        }
        frames
    }

    fn screen(&self) -> Rect {
        Rect::from_min_size(Pos2::ZERO, self.size)
    }
}

/// A text as painted: what it says, where, and the clip it was painted under.
#[derive(Debug, Clone)]
struct PaintedText {
    text: String,
    rect: Rect,
    clip: Rect,
}

impl PaintedText {
    /// Whole, unclipped and inside the window.
    fn fully_visible(&self, screen: Rect) -> bool {
        let inside = |outer: Rect| outer.expand(0.5).contains_rect(self.rect);
        inside(self.clip) && inside(screen)
    }
    /// Not cut off at the left or right (scroll areas here only scroll vertically, so a text
    /// cut sideways is a layout bug, never a scrolled-away one).
    fn whole_across(&self) -> bool {
        self.rect.left() >= self.clip.left() - 0.5 && self.rect.right() <= self.clip.right() + 0.5
    }
}

fn collect_texts(shape: &Shape, clip: Rect, out: &mut Vec<PaintedText>) {
    match shape {
        Shape::Vec(shapes) => shapes.iter().for_each(|s| collect_texts(s, clip, out)),
        Shape::Text(t) if !t.galley.text().trim().is_empty() => out.push(PaintedText {
            text: t.galley.text().to_string(),
            rect: t.galley.rect.translate(t.pos.to_vec2()),
            clip,
        }),
        _ => {}
    }
}

/// The label of every parameter row in the column: all parameters but the two the column
/// leaves out on purpose, so a new parameter without a row fails here.
fn column_labels(params: &ContinuoParams) -> Vec<String> {
    let mut labels: Vec<String> = params
        .param_map()
        .iter()
        .map(|(_, ptr, _)| unsafe { ptr.name() }.to_string())
        .filter(|name| !NOT_IN_THE_COLUMN.contains(&name.as_str()))
        .map(|name| label_for(&name).to_string())
        .collect();
    labels.push("Save phrase as MIDI".into());
    labels
}

/// Labels right of the column: the roll's Fit, the model panel's, the thumbnails'.
const RIGHT_SIDE_LABELS: [&str; 5] = ["Fit", "Model", "Built-in", "File", "Load"];

fn in_column(t: &PaintedText) -> bool {
    t.rect.center().x < COLUMN_WIDTH
}

/// The labels of `wanted` not fully visible in any of `frames` (`where_` picks the region).
fn missing(
    wanted: &[String],
    frames: &[Vec<PaintedText>],
    screen: Rect,
    where_: fn(&PaintedText) -> bool,
) -> Vec<String> {
    wanted
        .iter()
        .filter(|label| {
            !frames
                .iter()
                .flatten()
                .any(|t| t.text == **label && where_(t) && t.fully_visible(screen))
        })
        .cloned()
        .collect()
}

fn cut_sideways(frames: &[Vec<PaintedText>]) -> Vec<PaintedText> {
    frames
        .iter()
        .flatten()
        .filter(|t| !t.whole_across())
        .cloned()
        .collect()
}

fn size(s: nice_plug::editor::dpi::LogicalSize<f32>) -> Vec2 {
    vec2(s.width, s.height)
}

#[test]
fn at_the_default_size_every_label_is_on_screen_without_scrolling() {
    let params = Arc::new(ContinuoParams::default());
    let mut h = Harness::new(size(INITIAL_SIZE), 3, params.clone());
    let frames = vec![h.frame(Vec::new())];
    let screen = h.screen();
    let column = column_labels(&params);
    assert!(column.len() >= 16, "{column:?}");
    let missing_left = missing(&column, &frames, screen, in_column);
    assert!(missing_left.is_empty(), "not on screen: {missing_left:?}");
    let right: Vec<String> = RIGHT_SIDE_LABELS.iter().map(|s| s.to_string()).collect();
    let missing_right = missing(&right, &frames, screen, |t| !in_column(t));
    assert!(missing_right.is_empty(), "not on screen: {missing_right:?}");
    let saves = frames[0]
        .iter()
        .filter(|t| t.text == "Save" && t.fully_visible(screen))
        .count();
    assert_eq!(saves, 3, "one Save per variation thumbnail");
    let cut = cut_sideways(&frames);
    assert!(cut.is_empty(), "cut off sideways: {cut:#?}");
}

#[test]
fn at_the_smallest_size_every_label_is_on_screen_or_a_scroll_away() {
    let params = Arc::new(ContinuoParams::default());
    let mut h = Harness::new(size(MIN_SIZE), 3, params.clone());
    let screen = h.screen();
    let mut frames = vec![h.frame(Vec::new())];
    let right: Vec<String> = RIGHT_SIDE_LABELS.iter().map(|s| s.to_string()).collect();
    let missing_right = missing(&right, &frames, screen, |t| !in_column(t));
    assert!(missing_right.is_empty(), "not on screen: {missing_right:?}");
    // Scroll the column down a wheel notch at a time, to its end.
    for _ in 0..12 {
        frames.extend(h.wheel(
            pos2(COLUMN_WIDTH / 2.0, MIN_SIZE.height / 2.0),
            vec2(0.0, -50.0),
            Modifiers::NONE,
        ));
    }
    let column = column_labels(&params);
    let unreachable = missing(&column, &frames, screen, in_column);
    assert!(unreachable.is_empty(), "not reachable: {unreachable:?}");
    let first_frame = &frames[..1];
    assert!(
        !missing(&column, first_frame, screen, in_column).is_empty(),
        "the column fits unscrolled: this test no longer tests scrolling"
    );
    let cut = cut_sideways(&frames);
    assert!(cut.is_empty(), "cut off sideways: {cut:#?}");
}

/// The roll's strip says how many bars it shows.
fn roll_caption(texts: &[PaintedText]) -> String {
    texts
        .iter()
        .find(|t| t.text.contains(" bars, "))
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

#[test]
fn the_default_view_is_the_bars_heard_and_the_phrase_at_both_sizes() {
    let params = Arc::new(ContinuoParams::default());
    let mut h = Harness::new(size(INITIAL_SIZE), 1, params.clone());
    // 2 bars heard + the 4-bar phrase.
    assert_eq!(
        roll_caption(&h.frame(Vec::new())),
        "6 bars, following the playhead"
    );
    // The narrowest roll keeps 16ths 5 points wide, so the phrase runs past the right edge.
    let mut h = Harness::new(size(MIN_SIZE), 1, params);
    let caption = roll_caption(&h.frame(Vec::new()));
    let bars: f64 = caption.split(' ').next().unwrap().parse().unwrap();
    assert!((3.0..6.0).contains(&bars), "{caption}");
}

#[test]
fn the_wheel_zooms_a_drag_scrolls_fit_goes_back_and_the_project_keeps_the_view() {
    let params = Arc::new(ContinuoParams::default());
    let mut h = Harness::new(size(INITIAL_SIZE), 1, params.clone());
    let over_the_roll = pos2(COLUMN_WIDTH + 250.0, 250.0);
    // Wheel down: zoom out, still following.
    let frames = h.wheel(over_the_roll, vec2(0.0, -100.0), Modifiers::NONE);
    let zoomed = *params.roll_view.read();
    assert!(zoomed.span_beats.is_some_and(|s| s > 24.0), "{zoomed:?}");
    assert_eq!(zoomed.start_beat, None, "zooming keeps following");
    assert!(roll_caption(frames.last().unwrap()).ends_with("following the playhead"));

    // A drag to the right shows earlier beats and stops following.
    h.frame(vec![Event::PointerMoved(over_the_roll)]);
    h.frame(vec![Event::PointerButton {
        pos: over_the_roll,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Modifiers::NONE,
    }]);
    for dx in 1..=10 {
        h.frame(vec![Event::PointerMoved(
            over_the_roll + vec2(10.0 * dx as f32, 0.0),
        )]);
    }
    let end = over_the_roll + vec2(100.0, 0.0);
    let texts = h.frame(vec![Event::PointerButton {
        pos: end,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    }]);
    let scrolled = *params.roll_view.read();
    assert_eq!(scrolled.span_beats, zoomed.span_beats);
    let start = scrolled.start_beat.expect("a drag pins the view");
    assert!(start < 9.0, "dragged right shows earlier beats: {start}");
    assert!(roll_caption(&texts).ends_with("scrolled"));

    // The project keeps it: saved fields restored into a fresh instance.
    let saved = params.serialize_fields();
    let restored = Arc::new(ContinuoParams::default());
    restored.deserialize_fields(&saved);
    assert_eq!(*restored.roll_view.read(), scrolled);

    // Fit goes back to the default view.
    let fit = texts
        .iter()
        .find(|t| t.text == "Fit")
        .expect("a Fit button")
        .rect
        .center();
    h.frame(vec![Event::PointerMoved(fit)]);
    for pressed in [true, false] {
        h.frame(vec![Event::PointerButton {
            pos: fit,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        }]);
    }
    assert_eq!(*params.roll_view.read(), RollView::default());
    assert_eq!(
        roll_caption(&h.frame(Vec::new())),
        "6 bars, following the playhead"
    );
}
