//! The inference thread: one per plugin instance, our own `std::thread` (a slow generation must
//! never hold up nice-plug's shared task pool or another instance). It owns the loaded model,
//! watches the model path and the restored phrase, and answers the audio thread's requests.
//!
//! The audio thread talks to it only through the lock-free queues in [`AudioLink`]: it
//! `force_push`es a [`Request`] into a one-slot queue (a newer request replaces one not yet
//! taken), pops [`Response`]s, and pushes [`Notice`]s (phrases it started, boxes to free). It
//! never waits: it wakes the thread with `Thread::unpark`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;

use super::phrase::{Delays, Phrase, SavedPhrase, Timeline, MAX_VARIATIONS};
use super::running::{RunningGenerator, LOOKAHEAD_STEPS};
use super::snapshot::{ModelInfo, VariationView, WorkerSnapshot, MAX_CONTEXT_STEPS};
use super::store::PhraseStore;
use super::stream::PhraseBuilder;
use crate::roll::{Chord, Grid};

/// Where the context sits in the host's bars, for models that hear the meter (the step model's
/// step-in-beat and beat-in-bar inputs). Plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarPlacement {
    /// Grid steps in a bar (16 for 4/4 in 16ths, 12 for 3/4, 14 for 7/8).
    pub steps_per_bar: u32,
    /// Which step of its bar the context's first step is (0..steps_per_bar).
    pub first_step_in_bar: u32,
}

impl Default for BarPlacement {
    fn default() -> Self {
        Self {
            steps_per_bar: 16,
            first_step_in_bar: 0,
        }
    }
}

/// Where a generator puts each chord the moment it is sampled. Returning `false` asks it to stop
/// early (the request was superseded, or the phrase is full); that is not an error.
pub type ChordSink<'a> = dyn FnMut(Chord) -> bool + 'a;

/// Something that continues a sequence of grid chords: the real model, or a scripted stand-in in
/// tests.
pub trait PhraseGenerator: Send + Sync {
    fn info(&self) -> ModelInfo;
    /// The grid the generator thinks in; the engine captures live input on it.
    fn grid(&self) -> Grid;
    /// How many steps of context it looks at.
    fn window(&self) -> usize;
    /// Up to `steps` chords continuing `context` (oldest first), which starts at `placement` in
    /// the host's bars, each handed to `out` as soon as it is sampled, so the phrase can start
    /// playing before it is finished. Same seed, same chords.
    #[allow(clippy::too_many_arguments)]
    fn generate_streaming(
        &self,
        context: &[Chord],
        placement: BarPlacement,
        steps: usize,
        temperature: f32,
        controls: &super::controls::Controls,
        seed: u64,
        out: &mut ChordSink<'_>,
    ) -> Result<(), String>;

    /// A session on the model's running state for Continuous mode, if the model keeps one (the
    /// step model); None keeps Continuous on whole phrases from the context window.
    fn running(&self, _seed: u64) -> Option<Box<dyn RunningGenerator>> {
        None
    }

    /// Exactly `steps` chords, all at once (the CLI, tests and benchmarks).
    fn generate(
        &self,
        context: &[Chord],
        placement: BarPlacement,
        steps: usize,
        temperature: f32,
        controls: &super::controls::Controls,
        seed: u64,
    ) -> Result<Vec<Chord>, String> {
        let mut chords = Vec::with_capacity(steps);
        self.generate_streaming(
            context,
            placement,
            steps,
            temperature,
            controls,
            seed,
            &mut |chord| {
                chords.push(chord);
                true
            },
        )?;
        Ok(chords)
    }
}

/// Where generators come from. Loading may take a while; it runs on the inference thread.
pub trait GeneratorSource: Send {
    /// The default (embedded) generator.
    fn default_generator(&self) -> Result<Arc<dyn PhraseGenerator>, String>;
    /// A generator from a user's model file.
    fn load(&self, path: &str) -> Result<Arc<dyn PhraseGenerator>, String>;
}

/// A request for a phrase. Plain data (no heap), so the audio thread can build and send it.
#[derive(Clone, Copy)]
pub struct Request {
    pub id: u64,
    pub context: [Chord; MAX_CONTEXT_STEPS],
    pub context_len: usize,
    pub steps: usize,
    pub temperature: f32,
    pub controls: super::controls::Controls,
    /// 0 = pick a random seed.
    pub seed: u64,
    pub velocity: u8,
    /// 0..=15.
    pub channel: u8,
    /// Where the phrase should start (beats of `timeline`).
    pub start: f64,
    /// If it arrives late, it starts at the next multiple of this many beats instead.
    pub quantize_beats: f64,
    pub timeline: Timeline,
    /// Where the context's first step falls in the host's bars.
    pub placement: BarPlacement,
    /// How many variations to generate (1..=8), each from the same context with its own seed.
    pub variations: u8,
    /// The one that plays, generated first (0-based).
    pub chosen: u8,
    /// Continuous mode: generate on the model's running state, paced by the playhead, where
    /// the model keeps one.
    pub continuous: bool,
    /// Host step (beat × steps per beat) where the phrase starts.
    pub first_step: i64,
    /// The last host step whose player input is final when the request is sent.
    pub heard_through: i64,
}

impl Request {
    pub fn context(&self) -> &[Chord] {
        &self.context[..self.context_len.min(MAX_CONTEXT_STEPS)]
    }
}

/// From the inference thread to the audio thread.
pub enum Response {
    /// A phrase, or a longer piece of one already sent (same `request_id`; see
    /// [`super::stream`]).
    Phrase(Box<Phrase>),
    /// A project's variation that did not play (restored beside the one that did).
    Variation(Box<Phrase>),
    /// The request could not be answered (error or panic; the text is in the snapshot).
    Failed { id: u64 },
    /// A model is now in use (the first one, or another one): end notes, adopt its grid.
    ModelReady { grid: Grid, window: usize },
}

/// From the audio thread to the inference thread.
pub enum Notice {
    /// Variation `variation` of the phrase answering `request_id` started playing at `start`
    /// beats (the first one, or another chosen while it played): save it.
    Scheduled {
        request_id: u64,
        variation: u8,
        start: f64,
    },
    /// Its playback waited `by` beats at phrase beat `from` for generation to catch up.
    Delayed {
        request_id: u64,
        variation: u8,
        from: f64,
        by: f64,
    },
    /// A phrase the audio thread is done with, to be freed off the audio thread.
    Free(Box<Phrase>),
    /// Continuous mode: what the player played in host step `step`, now that it is over.
    Heard { step: i64, chord: Chord },
}

/// The audio thread's end of the queues.
pub struct AudioLink {
    requests: Arc<ArrayQueue<Request>>,
    responses: Arc<ArrayQueue<Response>>,
    notices: Arc<ArrayQueue<Notice>>,
    thread: Thread,
}

impl AudioLink {
    /// Sends a request, replacing one the thread has not taken yet. Never blocks.
    pub fn request(&self, request: Request) {
        let _superseded = self.requests.force_push(request);
        self.thread.unpark();
    }
    pub fn try_response(&self) -> Option<Response> {
        self.responses.pop()
    }
    /// Tells the thread something; if its queue is full the phrase box is leaked rather than
    /// freed here (it never is in practice: the queue is drained every few milliseconds).
    pub fn notify(&self, notice: Notice) {
        if let Err(notice) = self.notices.push(notice) {
            std::mem::forget(notice);
        }
        self.thread.unpark();
    }
}

/// Owns the thread; dropping it stops and joins the thread.
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(join) = self.join.take() {
            join.thread().unpark();
            let _ = join.join();
        }
    }
}

/// What the thread watches besides its queues.
pub struct WorkerShared {
    /// The user's model file; empty = the default.
    pub model_path: Arc<parking_lot::RwLock<String>>,
    /// The phrase saved with the project.
    pub phrase: Arc<PhraseStore>,
}

/// Starts the inference thread of one instance.
pub fn spawn(
    source: Box<dyn GeneratorSource>,
    shared: WorkerShared,
    snapshot: triple_buffer::Input<WorkerSnapshot>,
) -> std::io::Result<(WorkerHandle, AudioLink)> {
    let requests = Arc::new(ArrayQueue::new(1));
    let responses = Arc::new(ArrayQueue::new(16));
    let notices = Arc::new(ArrayQueue::new(64));
    let stop = Arc::new(AtomicBool::new(false));
    let mut worker = Worker {
        source,
        shared,
        snapshot,
        state: WorkerSnapshot::default(),
        requests: requests.clone(),
        responses: responses.clone(),
        notices: notices.clone(),
        stop: stop.clone(),
        generator: None,
        attempted_path: None,
        phrase_version: 0,
        sent: Vec::new(),
        backlog: Vec::new(),
        step_delay: step_delay_from_env(),
        playing: None,
        running: None,
        last_heard: None,
        sessions: 0,
    };
    let join = std::thread::Builder::new()
        .name("continuo-inference".into())
        .spawn(move || worker.run())?;
    let thread = join.thread().clone();
    Ok((
        WorkerHandle {
            stop,
            join: Some(join),
        },
        AudioLink {
            requests,
            responses,
            notices,
            thread,
        },
    ))
}

/// A phrase sent to the audio thread, as the project will save it.
struct Sent {
    id: u64,
    variation: u8,
    /// The newest piece.
    phrase: Phrase,
    /// Where it started playing, once the audio thread says.
    start: Option<f64>,
    delays: Delays,
}

struct Worker {
    source: Box<dyn GeneratorSource>,
    shared: WorkerShared,
    snapshot: triple_buffer::Input<WorkerSnapshot>,
    state: WorkerSnapshot,
    requests: Arc<ArrayQueue<Request>>,
    responses: Arc<ArrayQueue<Response>>,
    notices: Arc<ArrayQueue<Notice>>,
    stop: Arc<AtomicBool>,
    generator: Option<Arc<dyn PhraseGenerator>>,
    /// The model path last tried (loaded or failed), so a bad file is not retried in a loop.
    attempted_path: Option<String>,
    phrase_version: u64,
    /// Recently sent phrases, newest last, kept to be saved with the project as they play.
    sent: Vec<Sent>,
    /// Responses the full queue would not take yet.
    backlog: Vec<Response>,
    /// Extra wall time per generated step ([`STEP_DELAY_ENV`]), to try a slow machine.
    step_delay: Option<Duration>,
    /// The phrase playing (request id, variation), as the audio thread last said.
    playing: Option<(u64, u8)>,
    /// Continuous mode's session on the model's running state.
    running: Option<Box<dyn RunningGenerator>>,
    /// When the audio thread last reported a heard step.
    last_heard: Option<Instant>,
    /// Running sessions started (Continuous mode), for the editor and tests.
    sessions: u64,
}

/// How long Continuous mode waits for the audio thread to report a heard step before it takes
/// the transport for stopped and ends the phrase there.
const RUNNING_GIVE_UP: Duration = Duration::from_secs(2);

/// Environment variable that slows every generated step by this many milliseconds (0–1000), to
/// see and test what a machine slower than real time does: the phrase waits for its notes and
/// goes on. Read once when an instance starts.
pub const STEP_DELAY_ENV: &str = "CONTINUO_STEP_DELAY_MS";

fn step_delay_from_env() -> Option<Duration> {
    let ms: f64 = std::env::var(STEP_DELAY_ENV).ok()?.trim().parse().ok()?;
    (ms.is_finite() && ms > 0.0).then(|| Duration::from_secs_f64(ms.min(1000.0) / 1000.0))
}

impl Worker {
    fn run(&mut self) {
        self.publish();
        while !self.stop.load(Ordering::Acquire) {
            self.drain_notices();
            self.flush_backlog();
            // A project's phrase first: it must not wait for a model to load.
            self.check_restored_phrase();
            self.check_model();
            if let Some(request) = self.requests.pop() {
                self.answer(&request);
                continue;
            }
            std::thread::park_timeout(Duration::from_millis(4));
        }
    }

    fn publish(&mut self) {
        self.snapshot.write(self.state.clone());
    }

    fn send(&mut self, response: Response) {
        if let Err(response) = self.responses.push(response) {
            self.backlog.push(response);
        }
    }

    fn flush_backlog(&mut self) {
        while !self.backlog.is_empty() {
            let response = self.backlog.remove(0);
            if let Err(response) = self.responses.push(response) {
                self.backlog.insert(0, response);
                break;
            }
        }
    }

    fn drain_notices(&mut self) {
        while let Some(notice) = self.notices.pop() {
            match notice {
                Notice::Free(phrase) => drop(phrase),
                Notice::Heard { step, chord } => {
                    self.last_heard = Some(Instant::now());
                    if let Some(session) = &mut self.running {
                        if !session.hear(step, chord) {
                            // A jump: the next phrase starts a new session.
                            self.running = None;
                        }
                    }
                }
                Notice::Scheduled {
                    request_id,
                    variation,
                    start,
                } => {
                    // Older phrases will not play any more.
                    self.sent.retain(|s| s.id >= request_id);
                    for sent in self.sent.iter_mut().filter(|s| s.id == request_id) {
                        sent.start = Some(start);
                    }
                    self.playing = Some((request_id, variation));
                    self.record(request_id);
                }
                Notice::Delayed {
                    request_id,
                    variation,
                    from,
                    by,
                } => {
                    if let Some(sent) = self
                        .sent
                        .iter_mut()
                        .find(|s| s.id == request_id && s.variation == variation)
                    {
                        sent.delays.add(from, by);
                    }
                    self.record(request_id);
                }
            }
        }
    }

    /// Saves the phrases answering `id` with the project, as they play, once they have started:
    /// the one playing as the phrase, and every variation.
    fn record(&self, id: u64) {
        let saved = |s: &Sent| s.start.map(|start| s.phrase.to_saved(start, &s.delays));
        let mut variations: Vec<SavedPhrase> = self
            .sent
            .iter()
            .filter(|s| s.id == id)
            .filter_map(saved)
            .collect();
        if variations.is_empty() {
            return;
        }
        variations.sort_by_key(|v| v.variation);
        if let Some((_, playing)) = self.playing.filter(|(p, _)| *p == id) {
            if let Some(phrase) = variations.iter().find(|v| v.variation == playing) {
                self.shared.phrase.record(phrase.clone());
            }
        }
        self.shared.phrase.record_variations(variations);
    }

    /// Keeps the newest piece of a phrase for saving.
    fn remember(&mut self, phrase: &Phrase) {
        let (id, variation) = (phrase.request_id, phrase.variation);
        match self
            .sent
            .iter_mut()
            .find(|s| s.id == id && s.variation == variation)
        {
            Some(sent) => sent.phrase = phrase.clone(),
            None => {
                let start = self.sent.iter().find(|s| s.id == id).and_then(|s| s.start);
                self.sent.push(Sent {
                    id,
                    variation,
                    phrase: phrase.clone(),
                    start,
                    delays: Delays::default(),
                });
                // The newest two presses' variations.
                let keep_from = self.sent.len().saturating_sub(2 * MAX_VARIATIONS);
                self.sent.drain(..keep_from);
            }
        }
        if phrase.complete {
            self.record(id);
            self.publish_variations(id);
        }
    }

    /// Shows the editor every variation of request `id` generated so far.
    fn publish_variations(&mut self, id: u64) {
        let mut views: Vec<VariationView> = self
            .sent
            .iter()
            .filter(|s| s.id == id)
            .map(|s| VariationView::of(&s.phrase))
            .collect();
        views.sort_by_key(|v| v.variation);
        self.state.variations = views;
        self.publish();
    }

    /// Loads the default at start, and whatever path the project or the editor sets later. A
    /// file that fails leaves the current model in use (or the default if there is none).
    fn check_model(&mut self) {
        let wanted = self.shared.model_path.read().clone();
        if self.attempted_path.as_deref() == Some(wanted.as_str()) {
            return;
        }
        self.attempted_path = Some(wanted.clone());
        self.state.loading = true;
        self.publish();
        let loaded = if wanted.trim().is_empty() {
            self.source.default_generator()
        } else {
            self.source
                .load(&wanted)
                .map_err(|e| format!("Could not load model {wanted:?}: {e}"))
        };
        let loaded = match loaded {
            Ok(generator) => Ok(generator),
            Err(error) if self.generator.is_none() && !wanted.trim().is_empty() => {
                // Nothing to keep: fall back to the default so the plugin still generates.
                self.state.last_error = Some(error.clone());
                self.source
                    .default_generator()
                    .map_err(|e| format!("{error}; the default model failed too: {e}"))
            }
            Err(error) => Err(error),
        };
        match loaded {
            Ok(generator) => {
                let (grid, window) = (generator.grid(), generator.window());
                self.state.model = Some(generator.info());
                if !wanted.trim().is_empty()
                    && self
                        .state
                        .last_error
                        .as_deref()
                        .is_some_and(|e| e.contains(&wanted))
                {
                    // The fallback path above: keep the message about the bad file.
                } else {
                    self.state.last_error = None;
                }
                self.generator = Some(generator);
                self.running = None;
                self.send(Response::ModelReady { grid, window });
            }
            Err(error) => {
                nice_plug::nice_warn!("Continuo: {error}");
                self.state.last_error = Some(error);
            }
        }
        self.state.loading = false;
        self.publish();
    }

    /// A project's phrase and its variations: the one that played goes back where it was, the
    /// others wait beside it to be chosen.
    fn check_restored_phrase(&mut self) {
        let version = self.shared.phrase.loaded_version();
        if version == self.phrase_version {
            return;
        }
        self.phrase_version = version;
        let saved = self.shared.phrase.get();
        if saved.is_empty() {
            return;
        }
        let grid = self
            .generator
            .as_ref()
            .map(|g| g.grid())
            .unwrap_or_default();
        let played = Phrase::restored(&saved, grid);
        let mut views = vec![VariationView::of(&played)];
        self.send(Response::Phrase(Box::new(played)));
        for other in self.shared.phrase.variations() {
            if other.variation != saved.variation && !other.is_empty() {
                let phrase = Phrase::restored(&other, grid);
                views.push(VariationView::of(&phrase));
                self.send(Response::Variation(Box::new(phrase)));
            }
        }
        views.sort_by_key(|v| v.variation);
        self.state.variations = views;
        self.publish();
    }

    /// Generates the phrase a request asks for and streams it to the audio thread: the first
    /// piece after the first step, then a longer one every [`super::stream::SEND_EVERY`]. A newer
    /// request (or the plugin closing) stops it; what was generated then ends there, cleanly.
    fn answer(&mut self, request: &Request) {
        let Some(generator) = self.generator.clone() else {
            self.state.last_error = Some("No model is loaded yet".into());
            self.publish();
            self.send(Response::Failed { id: request.id });
            return;
        };
        let seed = if request.seed == 0 {
            rand::random::<u64>() | 1
        } else {
            request.seed
        };
        let started = Instant::now();
        if request.continuous {
            if let Some(steps) = self.answer_running(&generator, request, seed) {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                self.state.last_generation_ms = Some(ms);
                self.state.last_steps_per_second = None;
                self.state.generations += 1;
                self.state.running_sessions = self.sessions;
                if steps > 0 {
                    self.state.last_error = None;
                }
                self.publish();
                return;
            }
        }
        let count = request.variations.clamp(1, MAX_VARIATIONS as u8);
        let chosen = request.chosen.min(count - 1);
        // The one that plays first, so it streams at once; then the others in order.
        let order = std::iter::once(chosen).chain((0..count).filter(|&v| v != chosen));
        let mut steps = 0;
        for variation in order {
            let seed = seed.wrapping_add(variation as u64);
            match self.generate_variation(&generator, request, variation, seed) {
                Ok((generated, superseded)) => {
                    steps += generated;
                    if superseded {
                        break;
                    }
                }
                Err(error) => return self.fail(request.id, error),
            }
        }
        if steps == 0 {
            return self.fail(request.id, "The model generated nothing".into());
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.state.last_generation_ms = Some(ms);
        self.state.last_steps_per_second = Some(steps as f64 / (ms / 1000.0).max(1e-9));
        self.state.generations += 1;
        self.state.last_error = None;
        self.publish();
    }

    /// Continuous mode on the model's running state: each step of the phrase is sampled
    /// [`LOOKAHEAD_STEPS`] ahead of the playhead, once the audio thread has reported what the
    /// player played up to then, and streamed at once. Returns None if the model keeps no
    /// running state (then the phrase is generated from the context window as in the other
    /// modes), else the steps generated.
    fn answer_running(
        &mut self,
        generator: &Arc<dyn PhraseGenerator>,
        request: &Request,
        seed: u64,
    ) -> Option<usize> {
        let first = request.first_step;
        let reuse = self
            .running
            .as_ref()
            .is_some_and(|session| session.continues_at(first));
        if !reuse {
            let mut session = generator.running(seed)?;
            session.start(
                request.context(),
                request.placement,
                first,
                request.heard_through,
            );
            self.running = Some(session);
            self.sessions += 1;
        }
        let session = self.running.as_mut().expect("just set");
        session.set_sampling(request.temperature, &request.controls, request.context());
        let mut builder = PhraseBuilder::new(request, generator.grid(), 0);
        self.last_heard.get_or_insert_with(Instant::now);
        for step in first..first + request.steps as i64 {
            // Wait until the player is heard up to LOOKAHEAD_STEPS before this step.
            loop {
                self.drain_notices();
                self.flush_backlog();
                let superseded = self.superseded();
                // No report for a while: the transport stopped or the mode changed.
                let silent = self
                    .last_heard
                    .is_none_or(|at| at.elapsed() > RUNNING_GIVE_UP);
                let Some(session) = self.running.as_ref() else {
                    break;
                };
                if superseded || silent {
                    builder.finish_here();
                    break;
                }
                if session.heard_through() >= step - LOOKAHEAD_STEPS - 1 {
                    break;
                }
                std::thread::park_timeout(Duration::from_millis(1));
            }
            if builder.is_complete() {
                break;
            }
            // A jump dropped the session: what is generated so far ends here.
            let Some(session) = self.running.as_mut() else {
                builder.finish_here();
                break;
            };
            if let Some(delay) = self.step_delay {
                std::thread::sleep(delay);
            }
            let chord = session.sample(step);
            builder.push(chord);
            self.send_piece_if_due(&mut builder);
        }
        self.end_stream(&mut builder);
        if builder.ready() == 0 {
            self.send(Response::Failed { id: request.id });
        }
        Some(builder.ready())
    }

    /// Generates and streams one variation. Returns the steps generated and whether a newer
    /// request (or closing) stopped it.
    fn generate_variation(
        &mut self,
        generator: &Arc<dyn PhraseGenerator>,
        request: &Request,
        variation: u8,
        seed: u64,
    ) -> Result<(usize, bool), String> {
        let mut builder = PhraseBuilder::new(request, generator.grid(), variation);
        let step_delay = self.step_delay;
        let mut superseded = false;
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            generator.generate_streaming(
                request.context(),
                request.placement,
                request.steps,
                request.temperature,
                &request.controls,
                seed,
                &mut |chord| {
                    if let Some(delay) = step_delay {
                        std::thread::sleep(delay);
                    }
                    let more = builder.push(chord);
                    self.send_piece_if_due(&mut builder);
                    superseded = self.superseded();
                    more && !superseded
                },
            )
        }));
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(format!("Generation failed: {error}")),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Some(format!("Generation panicked: {what}"))
            }
        };
        // Whatever stopped it, what was sent ends cleanly.
        self.end_stream(&mut builder);
        match error {
            Some(error) => Err(error),
            None => Ok((builder.ready(), superseded)),
        }
    }

    /// Whether a newer request is waiting or the plugin is closing: generation stops.
    fn superseded(&self) -> bool {
        !self.requests.is_empty() || self.stop.load(Ordering::Acquire)
    }

    /// Sends the phrase so far when a piece is due ([`PhraseBuilder::due`]), then frees what
    /// the audio thread is done with while generation goes on.
    fn send_piece_if_due(&mut self, builder: &mut PhraseBuilder) {
        let now = Instant::now();
        if builder.due(now) {
            let piece = builder.piece(now);
            self.remember(&piece);
            self.send(Response::Phrase(Box::new(piece)));
            self.flush_backlog();
            self.drain_notices();
        }
    }

    /// Ends a phrase where it is (complete, superseded, failed) and sends it complete if it was
    /// not yet, so every note sent gets its note-off.
    fn end_stream(&mut self, builder: &mut PhraseBuilder) {
        builder.finish_here();
        if builder.ready() > 0 {
            self.send_piece_if_due(builder);
        }
    }

    fn fail(&mut self, id: u64, error: String) {
        nice_plug::nice_warn!("Continuo: {error}");
        self.state.last_error = Some(error);
        self.publish();
        self.send(Response::Failed { id });
    }
}
