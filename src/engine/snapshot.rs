//! What the editor may see of a running instance, read without locks.
//!
//! Two writers, one reader each way, so two triple buffers:
//! - [`AudioSnapshot`] is written by the audio thread (about 60 times a second) into buffers
//!   allocated up front; the audio thread only copies into them, never allocates.
//! - [`WorkerSnapshot`] is written by the instance's inference thread whenever a model loads or a
//!   generation ends (it holds strings, so the audio thread never touches it).
//!
//! The editor holds the [`SnapshotReader`] (shared as `Arc<parking_lot::Mutex<SnapshotReader>>`;
//! only GUI code ever locks it) and calls [`SnapshotReader::audio`] / [`SnapshotReader::worker`]
//! each frame; both return the newest published value.

use crate::midi::Note;
use crate::roll::{Chord, Grid};

/// Most context steps the snapshot (and a request) carries.
pub const MAX_CONTEXT_STEPS: usize = 256;
/// Most notes of one phrase; longer phrases are cut (32 bars of dense chords fit).
pub const MAX_PHRASE_NOTES: usize = 8192;

/// What the engine is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// Waiting for a trigger (or for a model).
    #[default]
    Idle,
    /// A request is with the inference thread.
    Generating,
    /// A phrase is being played.
    Playing,
}

/// The audio thread's view, republished about 60 times a second.
#[derive(Debug)]
pub struct AudioSnapshot {
    /// The context the model would hear now: the last `window` grid steps (oldest first).
    pub context: Vec<Chord>,
    /// The current phrase's notes, in beats of `phrase_timeline` (host beats while the host
    /// plays).
    pub phrase_notes: Vec<Note>,
    /// Start and end of the current phrase in beats (equal when there is none).
    pub phrase_start: f64,
    pub phrase_end: f64,
    /// Where the steps generated so far end (`phrase_end` once the phrase is complete).
    pub phrase_ready: f64,
    /// Whether the phrase is still being generated while it plays.
    pub phrase_streaming: bool,
    /// Times playback has waited for the newest phrase's generation to catch up.
    pub waits: u64,
    /// Wall time from the last request to its first notes being scheduled, in milliseconds.
    pub last_latency_ms: Option<f32>,
    /// Whether the phrase counts on the host's timeline (else on the internal clock).
    pub phrase_on_host_timeline: bool,
    /// Where the playhead is (host beats while the transport plays, internal clock otherwise).
    pub playhead_beats: f64,
    /// Whether the host transport is playing (so `playhead_beats` is the host's).
    pub transport_playing: bool,
    pub tempo: f64,
    pub steps_per_beat: u32,
    /// Numerator and denominator, when the host says.
    pub time_signature: Option<(u8, u8)>,
    pub status: Status,
    /// Increases every publish, so a reader can tell a fresh value.
    pub serial: u64,
}

impl AudioSnapshot {
    pub fn new() -> Self {
        Self {
            context: Vec::with_capacity(MAX_CONTEXT_STEPS),
            phrase_notes: Vec::with_capacity(MAX_PHRASE_NOTES),
            phrase_start: 0.0,
            phrase_end: 0.0,
            phrase_ready: 0.0,
            phrase_streaming: false,
            waits: 0,
            last_latency_ms: None,
            phrase_on_host_timeline: true,
            playhead_beats: 0.0,
            transport_playing: false,
            tempo: 120.0,
            steps_per_beat: Grid::default().steps_per_beat,
            time_signature: None,
            status: Status::Idle,
            serial: 0,
        }
    }
}

impl Default for AudioSnapshot {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps the full capacity, so the triple buffer's three copies never need to grow on the audio
/// thread (a derived `Clone` would shrink the vectors to their length).
impl Clone for AudioSnapshot {
    fn clone(&self) -> Self {
        let mut s = Self::new();
        s.context.extend_from_slice(&self.context);
        s.phrase_notes.extend_from_slice(&self.phrase_notes);
        s.phrase_start = self.phrase_start;
        s.phrase_end = self.phrase_end;
        s.phrase_ready = self.phrase_ready;
        s.phrase_streaming = self.phrase_streaming;
        s.waits = self.waits;
        s.last_latency_ms = self.last_latency_ms;
        s.phrase_on_host_timeline = self.phrase_on_host_timeline;
        s.playhead_beats = self.playhead_beats;
        s.transport_playing = self.transport_playing;
        s.tempo = self.tempo;
        s.steps_per_beat = self.steps_per_beat;
        s.time_signature = self.time_signature;
        s.status = self.status;
        s.serial = self.serial;
        s
    }
}

/// What the UI shows about the loaded model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelInfo {
    /// File stem, or "default (embedded)".
    pub name: String,
    /// One line, e.g. "embedding 100 → LSTM 128 → attention 50 → dense 64".
    pub architecture: String,
    pub parameter_count: usize,
    pub vocab_size: usize,
    pub grid: Grid,
    /// Context length in steps.
    pub window: usize,
    /// One paragraph about how it was trained.
    pub training_summary: String,
    /// "CPU", "CUDA", "Metal".
    pub device: String,
}

/// One variation as the editor's thumbnail shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VariationView {
    /// 0-based.
    pub variation: u8,
    /// Notes relative to the phrase start.
    pub notes: Vec<Note>,
    pub length_beats: f64,
    pub complete: bool,
}

impl VariationView {
    pub fn of(phrase: &super::phrase::Phrase) -> Self {
        Self {
            variation: phrase.variation,
            notes: phrase.notes.clone(),
            length_beats: phrase.length_beats,
            complete: phrase.complete,
        }
    }
}

/// The inference thread's view.
#[derive(Debug, Clone, Default)]
pub struct WorkerSnapshot {
    /// Every variation of the last press (or of the project's phrase), in variation order.
    pub variations: Vec<VariationView>,
    /// The model in use, once one is loaded.
    pub model: Option<ModelInfo>,
    /// True while a model file is being read.
    pub loading: bool,
    /// Wall time of the last generation, in milliseconds.
    pub last_generation_ms: Option<f64>,
    /// Steps the last generation made per second of wall time.
    pub last_steps_per_second: Option<f64>,
    /// The last error (bad model file, failed or panicked generation), for the status line.
    pub last_error: Option<String>,
    /// Number of phrases generated by this instance.
    pub generations: u64,
    /// Continuous-mode sessions on the model's running state started so far (one lasts from
    /// the first phrase until a jump, a stop or a model change).
    pub running_sessions: u64,
}

/// The editor's end of both triple buffers.
pub struct SnapshotReader {
    audio: triple_buffer::Output<AudioSnapshot>,
    worker: triple_buffer::Output<WorkerSnapshot>,
}

impl SnapshotReader {
    /// The newest audio-thread snapshot.
    pub fn audio(&mut self) -> &AudioSnapshot {
        self.audio.read()
    }
    /// The newest inference-thread snapshot.
    pub fn worker(&mut self) -> &WorkerSnapshot {
        self.worker.read()
    }
}

/// Creates the buffers: the audio thread's writer, the inference thread's writer, the reader.
pub fn snapshot_channels() -> (
    triple_buffer::Input<AudioSnapshot>,
    triple_buffer::Input<WorkerSnapshot>,
    SnapshotReader,
) {
    let (audio_in, audio_out) = triple_buffer::triple_buffer(&AudioSnapshot::new());
    let (worker_in, worker_out) = triple_buffer::triple_buffer(&WorkerSnapshot::default());
    (
        audio_in,
        worker_in,
        SnapshotReader {
            audio: audio_out,
            worker: worker_out,
        },
    )
}
