//! Everything the plugin does at run time that is not nice-plug glue, testable without a host:
//! feed [`Engine::process`] a block's transport and input events, read the events it emits.
//!
//! Threads: the audio thread owns the [`Engine`] (capture, scheduler, sounding-note table); the
//! instance's inference thread ([`worker`]) owns the model. They talk through the lock-free
//! queues of [`worker::AudioLink`]; the editor reads [`snapshot`]s. Nothing here allocates,
//! locks or logs on the audio thread: every buffer is sized in [`Engine::new`].

pub mod capture;
pub mod clock;
pub mod controls;
pub mod model_source;
pub mod modes;
pub mod phrase;
pub mod playback;
pub mod running;
pub mod snapshot;
pub mod store;
pub mod stream;
pub mod take;
pub mod worker;

pub use store::{PhraseStore, VariationsField};

use capture::Capture;
use clock::{BlockTime, Clock, HostTransport};
use phrase::{Phrase, Timeline};
use playback::{NoteOut, Playback, Sounding};
use snapshot::{AudioSnapshot, Status, MAX_CONTEXT_STEPS, MAX_PHRASE_NOTES};
use worker::{AudioLink, BarPlacement, Notice, Request, Response};

use crate::midi::sustain::{pedal_is_down, CC_SUSTAIN};
use crate::roll::{Chord, Grid, DEFAULT_WINDOW};
pub use modes::{Mode, StartQuantize};

/// Most events the engine emits in one block (the rest wait for the next block).
pub const MAX_EVENTS_PER_BLOCK: usize = 1024;
/// Most input events a block may bring.
pub const MAX_INPUT_EVENTS: usize = 4096;

/// Parameter values for one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub mode: Mode,
    /// The momentary Generate button's current state (fires on off → on).
    pub generate: bool,
    /// How many times Generate was pressed so far (a change fires, even if the press and the
    /// release fell into one block).
    pub generate_presses: u32,
    pub temperature: f32,
    /// Density, Register, Polyphony, Follow key.
    pub controls: controls::Controls,
    pub length_bars: u32,
    /// Phrases per press, 1..=8 (Continuous mode makes one).
    pub variations: u8,
    /// Which variation plays, 0-based.
    pub variation: u8,
    /// Auto-respond's silence, in beats.
    pub response_gap: f64,
    /// 1..=127, or 0 to follow the player.
    pub velocity: u8,
    /// 0..=15.
    pub channel: u8,
    pub quantize: StartQuantize,
    /// 0 = random.
    pub seed: u64,
    pub thru: bool,
    pub bypass: bool,
    /// How many times the host loaded a state so far (a change re-arms the restore guard).
    pub state_loads: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Manual,
            generate: false,
            generate_presses: 0,
            temperature: 1.0,
            controls: controls::Controls::default(),
            length_bars: 4,
            variations: 1,
            variation: 0,
            response_gap: 2.0,
            velocity: 0,
            channel: 0,
            quantize: StartQuantize::Beat,
            seed: 0,
            thru: true,
            bypass: false,
            state_loads: 0,
        }
    }
}

impl Settings {
    /// Variations per press: Continuous mode follows one phrase with the next, so it makes one.
    pub fn variation_count(&self) -> u8 {
        if self.mode == Mode::Continuous {
            1
        } else {
            self.variations.clamp(1, phrase::MAX_VARIATIONS as u8)
        }
    }

    /// The variation that plays (0-based): the Variation parameter, within the count.
    pub fn chosen_variation(&self) -> u8 {
        self.variation.min(self.variation_count() - 1)
    }
}

/// What a live input event means to the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Live {
    NoteOn {
        channel: u8,
        pitch: u8,
        velocity: u8,
    },
    NoteOff {
        channel: u8,
        pitch: u8,
    },
    /// A controller change (CC 0..=127, value 0..=127). CC64 is the sustain pedal, which the
    /// capture honours.
    Control {
        channel: u8,
        controller: u8,
        value: u8,
    },
    /// Pitch bend, channel or key pressure, a program change: passed through.
    Expression,
    /// Anything else: passed through untouched.
    Other,
}

impl Live {
    /// Controller-type input, which a host also sends when it restores a session (see
    /// [`RESTORE_GUARD_SECONDS`]).
    pub fn is_controller(&self) -> bool {
        matches!(self, Live::Control { .. } | Live::Expression)
    }
}

/// How long after activation or a state load controller-type input (CCs, pitch bend, pressure,
/// program changes) is taken for the host restoring a session, not for playing, and dropped.
///
/// VST3 hosts deliver MIDI controllers as parameters; Ardour saves nice-plug's hidden MIDI-CC
/// parameters with the session and sends all of them back on reopening (about 1,100 CCs and 10
/// pitch bends in the first 3 blocks: every controller on every channel at 64, sustain down
/// included). Passed through, they would leave the synth with its pedal down. No player moves a
/// controller in the first quarter second of a session; from then on every controller passes.
pub const RESTORE_GUARD_SECONDS: f64 = 0.25;
/// ... and at least this many blocks (hosts with large blocks send the restore over several).
pub const RESTORE_GUARD_BLOCKS: u32 = 4;

/// One input event: its sample offset, its meaning, and the host's own event to pass through.
#[derive(Debug, Clone, Copy)]
pub struct Input<E> {
    pub timing: u32,
    pub live: Live,
    pub raw: E,
}

/// An event leaving the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Out<E> {
    /// An input event passed through.
    Thru(E),
    /// A generated note (or an engine-made note-off).
    Note(NoteOut),
    /// The sustain pedal lifted on a channel whose pedal passed through down (Thru turned off,
    /// or the first block after reactivation), so the synth is not left sustaining.
    PedalUp { channel: u8 },
}

/// Where the engine's events go (the host's output queue). `send` returns false when the
/// queue is full; the engine then keeps the event for the next block.
pub trait Sink<E> {
    fn send(&mut self, timing: u32, event: &Out<E>) -> bool;
}

/// The audio thread's state of one plugin instance.
pub struct Engine<E: Copy> {
    link: Option<AudioLink>,
    snapshot: triple_buffer::Input<AudioSnapshot>,
    grid: Grid,
    window: usize,
    model_ready: bool,
    clock: Clock,
    capture: Capture,
    playback: Playback,
    sounding: Sounding,
    /// Pass-through notes sounding (so turning Thru off releases them).
    thru_sounding: Sounding,
    /// Channels whose sustain pedal passed through down (so turning Thru off lifts it).
    thru_pedal_down: [bool; 16],
    /// Pedals to lift at the start of this block's output.
    lift_pedals: [bool; 16],
    /// Samples and blocks left in which controller-type input is a session restore.
    guard_samples: u64,
    guard_blocks: u32,
    /// Events that did not fit last block.
    carry: Vec<Out<E>>,
    /// This block's generated events, in time order.
    generated: Vec<NoteOut>,
    next_request_id: u64,
    /// The request whose phrase has not fully arrived (it may be playing while it streams).
    pending: Option<u64>,
    /// The variations of the last press that are not playing.
    take: take::Take,
    /// Continuous mode: the last capture step reported heard.
    heard_k: Option<i64>,
    /// When `pending` was sent, until its first piece arrives.
    pressed_at: Option<std::time::Instant>,
    /// Wall time from the last request to its phrase's first piece being scheduled.
    last_latency_ms: Option<f32>,
    /// Times playback waited for the newest phrase's notes (generation behind the playhead).
    waits: u64,
    /// Manual presses before a model is ready.
    manual_waiting: bool,
    /// Continuous mode backs off after a failure until this monotonic beat.
    retry_after: f64,
    previous: Option<Settings>,
    /// End every generated note at the start of the next block (after deactivate/reset).
    flush_next: bool,
    /// Blocks taken for a transport jump since creation (diagnostics and tests).
    jumps: u64,
    samples_since_publish: u64,
    publish_every: u64,
    serial: u64,
    context_scratch: [Chord; MAX_CONTEXT_STEPS],
}

impl<E: Copy> Engine<E> {
    /// Sizes every buffer. `link` is the inference thread's queues (None: pass-through only).
    pub fn new(link: Option<AudioLink>, snapshot: triple_buffer::Input<AudioSnapshot>) -> Self {
        let grid = Grid::default();
        Self {
            link,
            snapshot,
            grid,
            window: DEFAULT_WINDOW,
            model_ready: false,
            clock: Clock::default(),
            capture: Capture::new(grid.steps_per_beat),
            playback: Playback::default(),
            sounding: Sounding::default(),
            thru_sounding: Sounding::default(),
            thru_pedal_down: [false; 16],
            lift_pedals: [false; 16],
            guard_samples: 0,
            guard_blocks: 0,
            carry: Vec::with_capacity(MAX_INPUT_EVENTS + MAX_EVENTS_PER_BLOCK),
            generated: Vec::with_capacity(MAX_EVENTS_PER_BLOCK + 256 * 16),
            next_request_id: 1,
            pending: None,
            take: take::Take::default(),
            heard_k: None,
            pressed_at: None,
            last_latency_ms: None,
            waits: 0,
            manual_waiting: false,
            retry_after: f64::NEG_INFINITY,
            previous: None,
            flush_next: false,
            jumps: 0,
            samples_since_publish: u64::MAX / 2,
            publish_every: 800,
            serial: 0,
            context_scratch: [Chord::REST; MAX_CONTEXT_STEPS],
        }
    }

    /// Replaces the inference link (after the thread is started).
    pub fn set_link(&mut self, link: AudioLink) {
        self.link = Some(link);
    }

    /// Called on (re)activation: keeps the sounding table so the next block ends those notes.
    pub fn reset(&mut self, sample_rate: f64) {
        self.clock.reset();
        self.flush_next = !self.sounding.is_empty()
            || !self.thru_sounding.is_empty()
            || self.thru_pedal_down.iter().any(|d| *d);
        self.previous = None;
        self.publish_every = (sample_rate / 60.0).max(1.0) as u64;
        self.arm_restore_guard(sample_rate);
    }

    /// Controller input is a session restore for the next [`RESTORE_GUARD_SECONDS`].
    fn arm_restore_guard(&mut self, sample_rate: f64) {
        let sr = if sample_rate.is_finite() && sample_rate > 0.0 {
            sample_rate.min(1e7)
        } else {
            48_000.0
        };
        self.guard_samples = (RESTORE_GUARD_SECONDS * sr).ceil() as u64;
        self.guard_blocks = RESTORE_GUARD_BLOCKS;
    }

    /// Whether this block's controller input is (still) taken for a session restore.
    pub fn restoring(&self) -> bool {
        self.guard_samples > 0 || self.guard_blocks > 0
    }

    /// Notes currently sounding that the engine generated.
    pub fn sounding_notes(&self) -> usize {
        self.sounding.len()
    }

    /// How many blocks were taken for a transport jump (loop, seek, start, stop).
    pub fn jumps(&self) -> u64 {
        self.jumps
    }

    pub fn model_ready(&self) -> bool {
        self.model_ready
    }

    /// Whether a request is with the inference thread (its phrase is not complete yet).
    pub fn waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether the last request's phrase has begun to arrive (it can be scheduled).
    pub fn phrase_arrived(&self) -> bool {
        self.pending.is_none() || self.take.id() == self.pending
    }

    /// Wall time from the last request to its first piece being scheduled, in milliseconds.
    pub fn last_latency_ms(&self) -> Option<f32> {
        self.last_latency_ms
    }

    /// Whether a phrase has been received (playing, finished or waiting for its start).
    pub fn has_phrase(&self) -> bool {
        self.playback.phrase.is_some()
    }

    /// One block. `input` must be sorted by timing (hosts send it so).
    pub fn process(
        &mut self,
        transport: &HostTransport,
        frames: u32,
        sample_rate: f64,
        settings: &Settings,
        input: &[Input<E>],
        sink: &mut impl Sink<E>,
    ) {
        let time = self.clock.begin(transport, frames, sample_rate);
        self.generated.clear();
        let previous = self.previous.unwrap_or(*settings);
        if settings.state_loads != previous.state_loads {
            self.arm_restore_guard(time.sample_rate);
        }
        let restoring = self.restoring();

        // 1. Everything that ends all generated notes at the block's first sample.
        let flush = std::mem::take(&mut self.flush_next);
        let mut end_all = flush;
        if time.discontinuity {
            self.jumps += 1;
            end_all = true;
            self.capture.resync(time.pos);
            self.playback.seek(&time);
        }
        if settings.mode != previous.mode || (settings.bypass && !previous.bypass) {
            end_all = true;
            self.playback.stop();
            self.pending = None;
        }
        let chosen = settings.chosen_variation();
        self.receive(&time, chosen, &mut end_all);
        if !settings.bypass {
            self.choose_variation(&time, chosen, &mut end_all);
        }
        if end_all {
            let generated = &mut self.generated;
            self.sounding.all_off(0, |n| generated.push(n));
        }
        if flush || (!settings.thru && previous.thru && !settings.bypass) {
            let generated = &mut self.generated;
            self.thru_sounding.all_off(0, |n| generated.push(n));
            self.lift_pedals = std::mem::take(&mut self.thru_pedal_down);
        }

        // 2. Listen.
        let passing = settings.thru || settings.bypass;
        if !settings.bypass {
            let bps = time.beats_per_sample();
            for event in input {
                let beat = time.pos + event.timing as f64 * bps;
                let mono = time.monotonic + event.timing as f64 * bps;
                match event.live {
                    Live::NoteOn {
                        channel,
                        pitch,
                        velocity,
                    } if velocity > 0 => self.capture.note_on(channel, beat, pitch, velocity, mono),
                    Live::NoteOn { channel, pitch, .. } | Live::NoteOff { channel, pitch } => {
                        self.capture.note_off(channel, beat, pitch, mono)
                    }
                    Live::Control {
                        channel,
                        controller: CC_SUSTAIN,
                        value,
                    } if !restoring => self.capture.pedal(channel, beat, value, mono),
                    Live::Control { .. } | Live::Expression | Live::Other => {}
                }
            }
        }

        // Continuous mode on a running state hears each step once it is over.
        self.report_heard(&time, settings);

        // 3. Triggers.
        if !settings.bypass {
            self.trigger(&time, settings, &previous);
        }

        // 4. Play.
        if !settings.bypass {
            let generated = &mut self.generated;
            let room = MAX_EVENTS_PER_BLOCK.saturating_sub(generated.len());
            self.playback
                .schedule(&time, &mut self.sounding, room, |n| generated.push(n));
        }
        if let Some(link) = &self.link {
            while let Some(done) = self.playback.take_retired() {
                link.notify(Notice::Free(done));
            }
            if let Some((request_id, variation, from, by)) = self.playback.take_wait() {
                self.waits += 1;
                link.notify(Notice::Delayed {
                    request_id,
                    variation,
                    from,
                    by,
                });
            }
        }

        // 5. Out, in time order: last block's leftovers, then generated and passed-through
        //    events merged by timing (generated first on a tie, so note-offs lead).
        self.emit(input, passing, restoring, sink);
        self.guard_samples = self.guard_samples.saturating_sub(frames as u64);
        self.guard_blocks = self.guard_blocks.saturating_sub(1);

        self.capture.advance(time.end());
        self.clock.end(&time);
        self.previous = Some(*settings);
        self.publish(&time, frames);
    }

    /// Takes the inference thread's answers.
    fn receive(&mut self, time: &BlockTime, chosen: u8, end_all: &mut bool) {
        let Some(link) = &self.link else { return };
        while let Some(response) = link.try_response() {
            match response {
                Response::ModelReady { grid, window } => {
                    // A model *change* ends what the old one generated; the first model only
                    // arrives (a phrase restored from the project keeps playing).
                    if self.model_ready {
                        *end_all = true;
                        self.playback.stop();
                        self.pending = None;
                    }
                    if grid != self.grid {
                        self.grid = grid;
                        self.capture.clear(grid.steps_per_beat);
                    }
                    self.window = window.clamp(1, MAX_CONTEXT_STEPS);
                    self.model_ready = true;
                }
                Response::Failed { id } => {
                    if self.pending == Some(id) {
                        self.pending = None;
                        self.retry_after = time.monotonic + 1.0;
                    }
                    // A phrase that failed while streaming was ended where it was (the worker
                    // sends that piece first); should it still be open, end its notes now.
                    if self.playback.streaming() == Some(id) {
                        *end_all = true;
                        self.playback.stop();
                    }
                }
                Response::Phrase(phrase) => {
                    // A longer piece of the phrase playing or queued: swapped in place.
                    let phrase = match self.playback.update(phrase) {
                        Ok(old) => {
                            if self.pending == Some(old.request_id)
                                && self.playback.complete(old.request_id)
                            {
                                self.pending = None;
                            }
                            link.notify(Notice::Free(old));
                            continue;
                        }
                        Err(phrase) => phrase,
                    };
                    let id = phrase.request_id;
                    let restored = phrase.fixed_start;
                    if !restored && self.pending != Some(id) && self.take.id() != Some(id) {
                        // Superseded.
                        link.notify(Notice::Free(phrase));
                        continue;
                    }
                    if !restored && self.pending == Some(id) && phrase.complete {
                        self.pending = None;
                    }
                    if !restored && self.take.id() != Some(id) {
                        // The first piece of a press's first variation.
                        self.take
                            .begin(id, None, |old| link.notify(Notice::Free(old)));
                        self.waits = 0;
                        if let Some(at) = self.pressed_at.take() {
                            self.last_latency_ms = Some(at.elapsed().as_secs_f32() * 1000.0);
                        }
                    }
                    // Restored phrases keep their place; a phrase for the other timeline waits
                    // for it; an answer in time starts where it was asked to.
                    let on_time = restored
                        || phrase.timeline != time.timeline
                        || time.offset_of(phrase.wanted_start) >= 0.0;
                    let start = match self.take.start {
                        Some(start) if !restored => start,
                        _ if on_time => phrase.wanted_start,
                        _ => {
                            // Inference came back after the wanted start: the next quantize
                            // point (bars count from the host's bar start; steps and beats from
                            // beat 0).
                            let bars = (phrase.quantize_beats - time.bar_beats).abs() < 1e-9;
                            let anchor = if bars { time.bar_anchor } else { 0.0 };
                            time.next_multiple(time.pos, phrase.quantize_beats, anchor)
                        }
                    };
                    if restored {
                        self.take
                            .begin(0, Some(start), |old| link.notify(Notice::Free(old)));
                    }
                    self.take.start = Some(start);
                    if phrase.variation != chosen && !restored {
                        // Waits beside the one playing, to be chosen.
                        if let Some(old) = self.take.store(phrase) {
                            link.notify(Notice::Free(old));
                        }
                        continue;
                    }
                    let variation = phrase.variation;
                    if !restored && self.playback.can_follow(start, time) {
                        // Continuous mode: the next phrase follows the one playing, uncut.
                        self.playback.follow(phrase, start);
                    } else {
                        // A new phrase replaces the old one: end its notes first.
                        *end_all = true;
                        if let Some(old) = self.playback.install(phrase, start, time) {
                            link.notify(Notice::Free(old));
                        }
                    }
                    if !restored {
                        link.notify(Notice::Scheduled {
                            request_id: id,
                            variation,
                            start,
                        });
                    }
                }
                Response::Variation(phrase) => {
                    // A project's variation that did not play: waits to be chosen.
                    if self.take.id() == Some(0) {
                        if let Some(old) = self.take.store(phrase) {
                            link.notify(Notice::Free(old));
                        }
                    } else {
                        link.notify(Notice::Free(phrase));
                    }
                }
            }
        }
    }

    /// Plays the chosen variation if another of the same press is playing and the chosen one
    /// has arrived: the old one's notes end, the new one goes on from the playhead.
    fn choose_variation(&mut self, time: &BlockTime, chosen: u8, end_all: &mut bool) {
        let Some(link) = &self.link else { return };
        let Some(start) = self.take.start else { return };
        let playing = self
            .playback
            .phrase
            .as_ref()
            .map(|p| (p.request_id, p.variation));
        let same_take = playing.is_none_or(|(id, _)| Some(id) == self.take.id());
        if !same_take || playing.is_some_and(|(_, v)| v == chosen) || !self.take.has(chosen) {
            return;
        }
        let Some(new) = self.take.take(chosen) else {
            return;
        };
        *end_all = true;
        if let Some(old) = self.playback.take_phrase() {
            if let Some(replaced) = self.take.store(old) {
                link.notify(Notice::Free(replaced));
            }
        }
        let id = new.request_id;
        if let Some(old) = self.playback.install(new, start, time) {
            link.notify(Notice::Free(old));
        }
        if id != 0 {
            link.notify(Notice::Scheduled {
                request_id: id,
                variation: chosen,
                start,
            });
        }
    }

    fn trigger(&mut self, time: &BlockTime, settings: &Settings, previous: &Settings) {
        let end = time.end();
        let mono_end = time.monotonic + time.frames as f64 * time.beats_per_sample();
        let step = self.grid.step_beats();
        let fire = match settings.mode {
            Mode::Manual => {
                let pressed = (settings.generate && !previous.generate)
                    || settings.generate_presses != previous.generate_presses;
                if pressed || self.manual_waiting {
                    self.manual_waiting = !self.model_ready;
                    self.model_ready.then(|| {
                        let every = quantize_beats(settings.quantize, self.grid, time.bar_beats);
                        let anchor = if settings.quantize == StartQuantize::Bar {
                            time.bar_anchor
                        } else {
                            0.0
                        };
                        (time.next_multiple(time.pos, every, anchor), every)
                    })
                } else {
                    None
                }
            }
            Mode::AutoRespond => {
                let ready = self.model_ready
                    && self.capture.heard_since_answer()
                    && self.capture.silence(mono_end) >= settings.response_gap;
                ready.then(|| {
                    self.capture.mark_answered();
                    (time.next_multiple(end, step, 0.0), step)
                })
            }
            Mode::Continuous => {
                let lookahead = time.bar_beats.max(1.0);
                let due = match self.playback.end_on(time) {
                    Some(phrase_end) => phrase_end - end <= lookahead,
                    None => true,
                };
                let ready = self.model_ready
                    && time.timeline == Timeline::Host
                    && self.pending.is_none()
                    && time.monotonic >= self.retry_after
                    && due;
                ready.then(|| {
                    let every = quantize_beats(settings.quantize, self.grid, time.bar_beats);
                    let anchor = if settings.quantize == StartQuantize::Bar {
                        time.bar_anchor
                    } else {
                        0.0
                    };
                    match self.playback.end_on(time) {
                        Some(phrase_end) if phrase_end >= end => (phrase_end, every),
                        _ => (time.next_multiple(end, every, anchor), every),
                    }
                })
            }
        };
        if let Some((start, quantize_beats)) = fire {
            self.request(time, settings, start, quantize_beats);
        }
    }

    fn request(&mut self, time: &BlockTime, settings: &Settings, start: f64, quantize_beats: f64) {
        let Some(link) = &self.link else { return };
        let window = self.window.min(MAX_CONTEXT_STEPS);
        let end_k = self.capture.k_at(start);
        self.capture
            .context(end_k, &mut self.context_scratch[..window]);
        // Continuous mode hears its own phrase too.
        if let Some(phrase) = self
            .playback
            .phrase
            .as_ref()
            .filter(|p| p.timeline == time.timeline)
        {
            let spb = self.grid.steps_per_beat as f64;
            let first = (self.playback.start * spb).round() as i64;
            for (i, slot) in self.context_scratch[..window].iter_mut().enumerate() {
                let k = end_k - window as i64 + i as i64;
                let j = self.capture.host_step(k) - first;
                if let Some(chord) = usize::try_from(j).ok().and_then(|j| phrase.chords.get(j)) {
                    *slot = Chord::new(
                        slot.sounding_mask() | chord.sounding_mask(),
                        slot.struck_mask() | chord.struck_mask(),
                    );
                }
            }
        }
        let steps = (settings.length_bars.clamp(1, 32) as f64
            * time.bar_beats
            * self.grid.steps_per_beat as f64)
            .round() as usize;
        let velocity = match settings.velocity {
            0 => self.capture.average_velocity().unwrap_or(80),
            v => v.min(127),
        };
        let mut request = Request {
            id: self.next_request_id,
            context: [Chord::REST; MAX_CONTEXT_STEPS],
            context_len: window,
            steps: steps.max(1),
            temperature: settings.temperature,
            controls: settings.controls.sanitized(),
            seed: settings.seed,
            velocity,
            channel: settings.channel.min(15),
            start,
            quantize_beats,
            timeline: time.timeline,
            placement: BarPlacement::default(),
            variations: settings.variation_count(),
            chosen: settings.chosen_variation(),
            continuous: settings.mode == Mode::Continuous,
            first_step: (start * self.grid.steps_per_beat as f64).round() as i64,
            heard_through: self.capture.host_step(self.final_step(time)),
        };
        request.context[..window].copy_from_slice(&self.context_scratch[..window]);
        request.placement = self.placement(time, start, window);
        self.next_request_id += 1;
        self.pending = Some(request.id);
        // A clock read (vDSO, no system call, no allocation) for the latency display.
        self.pressed_at = Some(std::time::Instant::now());
        link.request(request);
    }

    /// The last capture step whose input is final at the end of this block (a note played
    /// within half a step of the next step's start counts for that step).
    fn final_step(&self, time: &BlockTime) -> i64 {
        self.capture.k_at(time.end() - 0.5 * self.grid.step_beats()) - 1
    }

    /// Continuous mode: tells the inference thread what the player played in each step that
    /// ended in this block (at most a bar's worth per block).
    fn report_heard(&mut self, time: &BlockTime, settings: &Settings) {
        let Some(link) = &self.link else { return };
        if settings.mode != Mode::Continuous
            || settings.bypass
            || time.timeline != Timeline::Host
            || !self.model_ready
        {
            self.heard_k = None;
            return;
        }
        let through = self.final_step(time);
        let from = self.heard_k.map_or(through, |k| k + 1).max(through - 15);
        for k in from..=through {
            let mut chord = [Chord::REST];
            self.capture.context(k + 1, &mut chord);
            link.notify(Notice::Heard {
                step: self.capture.host_step(k),
                chord: chord[0],
            });
        }
        if through >= from {
            self.heard_k = Some(through);
        }
    }

    /// `restoring`: controller-type input is a session restore and is not passed on.
    /// Where a context of `len` steps ending at beat `start` sits in the host's bars.
    fn placement(&self, time: &BlockTime, start: f64, len: usize) -> BarPlacement {
        let spb = self.grid.steps_per_beat as f64;
        let steps_per_bar = (time.bar_beats * spb).round().clamp(1.0, 1024.0) as i64;
        let first = ((start - time.bar_anchor) * spb).round() as i64 - len as i64;
        BarPlacement {
            steps_per_bar: steps_per_bar as u32,
            first_step_in_bar: first.rem_euclid(steps_per_bar) as u32,
        }
    }

    fn emit(
        &mut self,
        input: &[Input<E>],
        passing: bool,
        restoring: bool,
        sink: &mut impl Sink<E>,
    ) {
        let mut sent = 0usize;
        let mut full = false;
        // Leftovers from the last block go first, at the block's start.
        let carried = self.carry.len();
        let mut kept = 0;
        for i in 0..carried {
            let event = self.carry[i];
            if !full && sent < MAX_EVENTS_PER_BLOCK && sink.send(0, &event) {
                sent += 1;
            } else {
                full = true;
                self.carry[kept] = event;
                kept += 1;
            }
        }
        self.carry.truncate(kept);
        for channel in 0..16u8 {
            if std::mem::take(&mut self.lift_pedals[channel as usize]) {
                let event = Out::PedalUp { channel };
                if !full && sent < MAX_EVENTS_PER_BLOCK && sink.send(0, &event) {
                    sent += 1;
                } else if self.carry.len() < self.carry.capacity() {
                    full = true;
                    self.carry.push(event);
                }
            }
        }

        let mut g = 0;
        let mut t = 0;
        let thru_len = if passing { input.len() } else { 0 };
        while g < self.generated.len() || t < thru_len {
            // Skip what a session restore sends.
            if t < thru_len && restoring && input[t].live.is_controller() {
                t += 1;
                continue;
            }
            let take_generated =
                match (self.generated.get(g), input.get(t).filter(|_| t < thru_len)) {
                    (Some(n), Some(i)) => n.timing <= i.timing,
                    (Some(_), None) => true,
                    _ => false,
                };
            let (timing, event) = if take_generated {
                let n = self.generated[g];
                g += 1;
                (n.timing, Out::Note(n))
            } else {
                let i = input[t];
                t += 1;
                match i.live {
                    Live::NoteOn {
                        channel,
                        pitch,
                        velocity,
                    } if velocity > 0 => self.thru_sounding.set(channel, pitch, true),
                    Live::NoteOn { channel, pitch, .. } | Live::NoteOff { channel, pitch } => {
                        self.thru_sounding.set(channel, pitch, false)
                    }
                    Live::Control {
                        channel,
                        controller: CC_SUSTAIN,
                        value,
                    } => self.thru_pedal_down[channel as usize & 15] = pedal_is_down(value),
                    Live::Control { .. } | Live::Expression | Live::Other => {}
                }
                (i.timing, Out::Thru(i.raw))
            };
            if !full && sent < MAX_EVENTS_PER_BLOCK && sink.send(timing, &event) {
                sent += 1;
            } else {
                full = true;
                if self.carry.len() < self.carry.capacity() {
                    self.carry.push(event);
                }
            }
        }
    }

    fn publish(&mut self, time: &BlockTime, frames: u32) {
        self.samples_since_publish = self.samples_since_publish.saturating_add(frames as u64);
        if self.samples_since_publish < self.publish_every {
            return;
        }
        self.samples_since_publish = 0;
        self.serial += 1;
        let window = self.window.min(MAX_CONTEXT_STEPS);
        let end_k = self.capture.k_at(time.end());
        let generating = !self.phrase_arrived();
        let s = self.snapshot.input_buffer_mut();
        s.context.clear();
        s.context.resize(window, Chord::REST);
        self.capture.context(end_k, &mut s.context[..window]);
        s.phrase_notes.clear();
        match &self.playback.phrase {
            Some(p) => {
                let start = self.playback.start;
                let delays = self.playback.delays;
                let n = p.notes.len().min(MAX_PHRASE_NOTES);
                s.phrase_notes
                    .extend(p.notes[..n].iter().map(|note| crate::midi::Note {
                        start_beats: delays.map(note.start_beats) + start,
                        end_beats: delays.map(note.end_beats) + start,
                        ..*note
                    }));
                s.phrase_start = start;
                s.phrase_end = start + delays.map(p.length_beats);
                s.phrase_ready = self.playback.ready_until().unwrap_or(s.phrase_end);
                s.phrase_streaming = !p.complete;
                s.phrase_on_host_timeline = p.timeline == Timeline::Host;
            }
            None => {
                s.phrase_start = 0.0;
                s.phrase_end = 0.0;
                s.phrase_ready = 0.0;
                s.phrase_streaming = false;
                s.phrase_on_host_timeline = true;
            }
        }
        s.waits = self.waits;
        s.last_latency_ms = self.last_latency_ms;
        s.playhead_beats = time.end();
        s.transport_playing = time.timeline == Timeline::Host;
        s.tempo = time.tempo;
        s.steps_per_beat = self.grid.steps_per_beat;
        s.time_signature = time
            .time_signature
            .map(|(n, d)| (n.clamp(0, 255) as u8, d.clamp(0, 255) as u8));
        s.status = if generating {
            Status::Generating
        } else if self.playback.is_playing(time) {
            Status::Playing
        } else {
            Status::Idle
        };
        s.serial = self.serial;
        self.snapshot.publish();
    }
}

/// The phrase-start grid of a quantize setting, in beats.
pub fn quantize_beats(quantize: StartQuantize, grid: Grid, bar_beats: f64) -> f64 {
    match quantize {
        StartQuantize::Step => grid.step_beats(),
        StartQuantize::Beat => 1.0,
        StartQuantize::Bar => bar_beats,
    }
}

/// The plugin moves the engine between threads (nice-plug requires `Plugin: Send`); this fails
/// to compile if the engine ever stops being `Send`.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Engine<u32>>();
    is_send::<Box<Phrase>>();
};

#[cfg(test)]
mod tests;
