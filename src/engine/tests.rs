//! Engine tests with a scripted generator: no host, no model. The events are checked against
//! offsets computed here from tempo and position.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clock::HostTransport;
use super::playback::NoteOut;
use super::snapshot::{snapshot_channels, ModelInfo, SnapshotReader};
use super::worker::{
    spawn, BarPlacement, ChordSink, GeneratorSource, PhraseGenerator, WorkerHandle, WorkerShared,
};
use super::*;
use crate::roll::Chord;

/// Answers with a fixed cycle of chords; records the contexts it was given.
struct Scripted {
    cycle: Vec<Chord>,
    panic: bool,
    contexts: Arc<parking_lot::Mutex<Vec<Vec<Chord>>>>,
    calls: Arc<AtomicUsize>,
    /// Microseconds of wall time per generated step (0: as fast as possible), to test a
    /// generator slower than real time.
    step_delay: AtomicUsize,
    /// Start the cycle `seed` steps in, so each variation (its own seed) differs.
    vary_by_seed: std::sync::atomic::AtomicBool,
    /// Offer a running session for Continuous mode (see [`ScriptedRunning`]).
    running: std::sync::atomic::AtomicBool,
    /// What running sessions heard: (host step, chord), and (step sampled, heard through then).
    heard: Arc<parking_lot::Mutex<Vec<(i64, Chord)>>>,
    sampled: Arc<parking_lot::Mutex<Vec<(i64, i64)>>>,
}

/// A running session that plays the cycle by host step and records what it hears.
struct ScriptedRunning {
    cycle: Vec<Chord>,
    next: i64,
    heard_through: i64,
    heard: Arc<parking_lot::Mutex<Vec<(i64, Chord)>>>,
    sampled: Arc<parking_lot::Mutex<Vec<(i64, i64)>>>,
}

impl super::running::RunningGenerator for ScriptedRunning {
    fn start(&mut self, _c: &[Chord], _p: BarPlacement, first: i64, heard_through: i64) {
        self.next = first;
        self.heard_through = heard_through;
    }
    fn continues_at(&self, first: i64) -> bool {
        first == self.next
    }
    fn set_sampling(&mut self, _t: f32, _c: &crate::engine::controls::Controls, _h: &[Chord]) {}
    fn hear(&mut self, step: i64, chord: Chord) -> bool {
        if step < self.heard_through - 2 {
            return false;
        }
        self.heard_through = self.heard_through.max(step);
        self.heard.lock().push((step, chord));
        true
    }
    fn heard_through(&self) -> i64 {
        self.heard_through
    }
    fn sample(&mut self, step: i64) -> Chord {
        self.sampled.lock().push((step, self.heard_through));
        self.next = step + 1;
        self.cycle[step.rem_euclid(self.cycle.len() as i64) as usize]
    }
}

impl PhraseGenerator for Scripted {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: "scripted".into(),
            window: 8,
            ..Default::default()
        }
    }
    fn grid(&self) -> Grid {
        Grid::default()
    }
    fn window(&self) -> usize {
        8
    }
    fn running(&self, _seed: u64) -> Option<Box<dyn super::running::RunningGenerator>> {
        self.running.load(Ordering::SeqCst).then(|| {
            Box::new(ScriptedRunning {
                cycle: self.cycle.clone(),
                next: 0,
                heard_through: 0,
                heard: self.heard.clone(),
                sampled: self.sampled.clone(),
            }) as Box<dyn super::running::RunningGenerator>
        })
    }
    fn generate_streaming(
        &self,
        context: &[Chord],
        _placement: BarPlacement,
        steps: usize,
        _t: f32,
        _controls: &crate::engine::controls::Controls,
        _seed: u64,
        out: &mut ChordSink<'_>,
    ) -> Result<(), String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.contexts.lock().push(context.to_vec());
        if self.panic {
            panic!("scripted failure");
        }
        for i in 0..steps {
            let delay = self.step_delay.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_micros(delay as u64));
            }
            let shift = if self.vary_by_seed.load(Ordering::SeqCst) {
                _seed as usize
            } else {
                0
            };
            if !out(self.cycle[(i + shift) % self.cycle.len()]) {
                break;
            }
        }
        Ok(())
    }
}

struct Source(Arc<Scripted>);
impl GeneratorSource for Source {
    fn default_generator(&self) -> Result<Arc<dyn PhraseGenerator>, String> {
        Ok(self.0.clone())
    }
    fn load(&self, path: &str) -> Result<Arc<dyn PhraseGenerator>, String> {
        Err(format!("no such model {path}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Raw(u32);

#[derive(Default)]
struct Collect {
    events: Vec<(u32, Out<Raw>)>,
    /// Refuse after this many per block (a small host queue).
    limit: Option<usize>,
}
impl Sink<Raw> for Collect {
    fn send(&mut self, timing: u32, event: &Out<Raw>) -> bool {
        if self.limit.is_some_and(|l| self.events.len() >= l) {
            return false;
        }
        self.events.push((timing, *event));
        true
    }
}

struct Rig {
    engine: Engine<Raw>,
    _worker: WorkerHandle,
    reader: SnapshotReader,
    scripted: Arc<Scripted>,
    shared_path: Arc<parking_lot::RwLock<String>>,
    /// What the worker saves with the project.
    store: Arc<PhraseStore>,
    sr: f64,
    /// The true playhead (what the host's own sample count says).
    pos: f64,
    tempo: f64,
    playing: bool,
    /// The host reports its position rounded to this many beats (0: exact) ...
    rounding: f64,
    /// ... and jittered by up to this many samples either way.
    jitter: f64,
    rng: u64,
    time_signature: (i32, i32),
    /// The bar start the host reports (None: none).
    bar_start: Option<f64>,
}

mod host_time;
mod streaming;
mod variations;

fn c(s: &str) -> Chord {
    s.parse().unwrap()
}

impl Rig {
    fn new(cycle: &[&str], panic: bool) -> Self {
        let scripted = Arc::new(Scripted {
            cycle: cycle.iter().map(|s| c(s)).collect(),
            panic,
            contexts: Default::default(),
            calls: Default::default(),
            step_delay: AtomicUsize::new(0),
            vary_by_seed: Default::default(),
            running: Default::default(),
            heard: Default::default(),
            sampled: Default::default(),
        });
        let (audio, worker, reader) = snapshot_channels();
        let shared_path = Arc::new(parking_lot::RwLock::new(String::new()));
        let store = Arc::new(PhraseStore::default());
        let shared = WorkerShared {
            model_path: shared_path.clone(),
            phrase: store.clone(),
        };
        let (handle, link) = spawn(Box::new(Source(scripted.clone())), shared, worker).unwrap();
        let mut engine = Engine::new(Some(link), audio);
        engine.reset(48_000.0);
        Rig {
            engine,
            _worker: handle,
            reader,
            scripted,
            shared_path,
            store,
            sr: 48_000.0,
            pos: 0.0,
            tempo: 120.0,
            playing: true,
            rounding: 0.0,
            jitter: 0.0,
            rng: 0x9E37_79B9_7F4A_7C15,
            time_signature: (4, 4),
            bar_start: None,
        }
    }

    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn transport(&mut self) -> HostTransport {
        let mut reported = self.pos;
        if self.rounding > 0.0 {
            reported = (reported / self.rounding).round() * self.rounding;
        }
        if self.jitter > 0.0 {
            let samples = (self.random() * 2.0 - 1.0) * self.jitter;
            reported += samples.round() * self.tempo / 60.0 / self.sr;
        }
        HostTransport {
            playing: self.playing,
            tempo: Some(self.tempo),
            pos_beats: Some(reported),
            time_signature: Some(self.time_signature),
            bar_start_beats: self.bar_start,
        }
    }

    /// One block; returns (block start beat, events).
    fn block(
        &mut self,
        frames: u32,
        settings: &Settings,
        input: &[Input<Raw>],
        limit: Option<usize>,
    ) -> (f64, Vec<(u32, Out<Raw>)>) {
        let mut sink = Collect {
            limit,
            ..Default::default()
        };
        let start = self.pos;
        let transport = self.transport();
        self.engine
            .process(&transport, frames, self.sr, settings, input, &mut sink);
        if self.playing {
            self.pos += frames as f64 * self.tempo / 60.0 / self.sr;
        }
        (start, sink.events)
    }

    fn wait_model(&mut self, settings: &Settings) {
        let t = Instant::now();
        while !self.engine.model_ready() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "model never became ready"
            );
            std::thread::sleep(Duration::from_millis(2));
            self.block(64, settings, &[], None);
        }
    }
}

fn notes(events: &[(u32, Out<Raw>)]) -> Vec<NoteOut> {
    events
        .iter()
        .filter_map(|(t, e)| match e {
            Out::Note(n) => {
                assert_eq!(*t, n.timing);
                Some(*n)
            }
            _ => None,
        })
        .collect()
}

fn on(timing: u32, pitch: u8) -> Input<Raw> {
    Input {
        timing,
        live: Live::NoteOn {
            channel: 0,
            pitch,
            velocity: 100,
        },
        raw: Raw(timing),
    }
}
fn off(timing: u32, pitch: u8) -> Input<Raw> {
    Input {
        timing,
        live: Live::NoteOff { channel: 0, pitch },
        raw: Raw(timing),
    }
}

/// Plays blocks until the engine has emitted `count` note-ons; checks every generated event
/// sits on a grid step, at `round((step_beat - pos) * 60 / tempo * sr)`. Returns all notes with
/// their absolute beat.
fn play_until(
    rig: &mut Rig,
    settings: &Settings,
    count: usize,
    frames: impl Fn(usize) -> u32,
) -> Vec<(f64, NoteOut)> {
    let mut out = Vec::new();
    let t = Instant::now();
    let mut i = 0;
    while out.iter().filter(|(_, n): &&(f64, NoteOut)| n.on).count() < count {
        assert!(t.elapsed() < Duration::from_secs(20), "no phrase played");
        let f = frames(i);
        i += 1;
        let (start, events) = rig.block(f, settings, &[], None);
        for n in notes(&events) {
            // Which step does this offset belong to? It must be exact.
            let spb = 60.0 / rig.tempo * rig.sr;
            let step = ((start + n.timing as f64 / spb) * 4.0).round();
            let expected = ((step / 4.0 - start) * 60.0 / rig.tempo * rig.sr).round();
            assert_eq!(
                n.timing as f64, expected,
                "event {n:?} off the grid in block at {start}"
            );
            assert!(n.timing < f);
            out.push((step / 4.0, n));
        }
        if rig.engine.pending.is_some() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    out
}

#[test]
fn pass_through_keeps_offsets_and_thru_off_passes_nothing() {
    let mut rig = Rig::new(&["*60"], false);
    let settings = Settings::default();
    let input = [
        on(3, 60),
        off(200, 60),
        Input {
            timing: 300,
            live: Live::Other,
            raw: Raw(300),
        },
    ];
    let (_, events) = rig.block(512, &settings, &input, None);
    assert_eq!(
        events,
        vec![
            (3, Out::Thru(Raw(3))),
            (200, Out::Thru(Raw(200))),
            (300, Out::Thru(Raw(300)))
        ]
    );
    let off_settings = Settings {
        thru: false,
        ..settings
    };
    let (_, events) = rig.block(512, &off_settings, &input[..1], None);
    assert!(events.is_empty());
}

#[test]
fn turning_thru_off_releases_held_input_notes() {
    let mut rig = Rig::new(&["*60"], false);
    let settings = Settings::default();
    rig.block(512, &settings, &[on(10, 64)], None);
    let (_, events) = rig.block(
        512,
        &Settings {
            thru: false,
            ..settings
        },
        &[],
        None,
    );
    assert_eq!(
        notes(&events),
        vec![NoteOut {
            timing: 0,
            on: false,
            channel: 0,
            pitch: 64,
            velocity: 0
        }]
    );
}

#[test]
fn manual_generate_plays_on_the_grid_across_blocks_and_tempo_changes() {
    let mut rig = Rig::new(&["*60,*64", "60,64", "*67", "REST"], false);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    // The player's phrase.
    rig.block(512, &settings, &[on(0, 48), on(100, 55)], None);
    rig.block(512, &settings, &[off(50, 48), off(60, 55)], None);
    settings.generate = true;
    rig.block(512, &settings, &[], None);
    settings.generate = false;
    let first = play_until(&mut rig, &settings, 4, |i| [512, 1, 4096, 333, 77][i % 5]);
    rig.tempo = 97.0;
    let later = play_until(&mut rig, &settings, 8, |i| [100, 512, 2049][i % 3]);
    let all: Vec<_> = first.into_iter().chain(later).collect();
    // Scripted cycle: 60+64 struck, held, 67 struck, rest: every 4 steps.
    let ons: Vec<u8> = all
        .iter()
        .filter(|(_, n)| n.on)
        .map(|(_, n)| n.pitch)
        .collect();
    assert_eq!(&ons[..5], &[60, 64, 67, 60, 64]);
    let contexts = rig.scripted.contexts.lock();
    assert_eq!(contexts.len(), 1);
    // The played C3 and G3 are in the context.
    assert!(contexts[0].iter().any(|c| c.contains(48) && c.contains(55)));
    // Phrase steps relative to its start follow the cycle: 60 at 0, 67 at 0.5 beats, 60 at 1.0.
    let start = all.iter().find(|(_, n)| n.on).unwrap().0;
    let rel: Vec<(f64, u8, bool)> = all
        .iter()
        .map(|(b, n)| (b - start, n.pitch, n.on))
        .take(6)
        .collect();
    assert_eq!(
        rel,
        vec![
            (0.0, 60, true),
            (0.0, 64, true),
            (0.5, 60, false),
            (0.5, 64, false),
            (0.5, 67, true),
            (0.75, 67, false)
        ]
    );
}

#[test]
fn stop_and_loop_end_every_note_in_that_block() {
    let mut rig = Rig::new(&["*60,*64,*67", "60,64,67", "60,64,67", "60,64,67"], false);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    settings.generate = true;
    rig.block(512, &settings, &[], None);
    settings.generate = false;
    play_until(&mut rig, &settings, 3, |_| 256);
    assert_eq!(rig.engine.sounding_notes(), 3);
    // Loop: jump back two beats.
    rig.pos -= 2.0;
    let (_, events) = rig.block(512, &settings, &[], None);
    let offs: Vec<_> = notes(&events)
        .into_iter()
        .filter(|n| !n.on && n.timing == 0)
        .map(|n| n.pitch)
        .collect();
    assert_eq!(offs, vec![60, 64, 67]);
    // Play on into the phrase again, then stop the transport.
    play_until(&mut rig, &settings, 3, |_| 256);
    assert!(rig.engine.sounding_notes() > 0);
    rig.playing = false;
    let (_, events) = rig.block(512, &settings, &[], None);
    assert!(notes(&events).iter().all(|n| !n.on && n.timing == 0));
    assert_eq!(rig.engine.sounding_notes(), 0);
}

#[test]
fn every_note_on_gets_its_note_off_and_restrikes_release_first() {
    let mut rig = Rig::new(&["*60", "*60", "60", "REST"], false);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: 1,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    settings.generate = true;
    // Every block's notes count, the press block's too.
    let (start, events) = rig.block(512, &settings, &[], None);
    let mut all: Vec<(f64, NoteOut)> = notes(&events).into_iter().map(|n| (start, n)).collect();
    settings.generate = false;
    all.extend(play_until(&mut rig, &settings, 8, |_| 300));
    // Play past the phrase end (1 bar).
    for _ in 0..200 {
        let (start, events) = rig.block(300, &settings, &[], None);
        all.extend(notes(&events).into_iter().map(|n| (start, n)));
    }
    let mut sounding = [false; 128];
    for (_, n) in &all {
        if n.on {
            assert!(
                !sounding[n.pitch as usize],
                "pitch {} struck while sounding",
                n.pitch
            );
        }
        sounding[n.pitch as usize] = n.on;
    }
    assert!(sounding.iter().all(|s| !s));
    assert_eq!(rig.engine.sounding_notes(), 0);
}

#[test]
fn mode_change_and_new_phrase_end_notes() {
    let mut rig = Rig::new(&["*72", "72", "72", "72"], false);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    settings.generate = true;
    rig.block(512, &settings, &[], None);
    settings.generate = false;
    play_until(&mut rig, &settings, 1, |_| 128);
    assert_eq!(rig.engine.sounding_notes(), 1);
    // A second phrase replaces the first: the old note ends in the block the new one arrives.
    settings.generate = true;
    rig.block(128, &settings, &[], None);
    settings.generate = false;
    let t = Instant::now();
    loop {
        let (_, events) = rig.block(128, &settings, &[], None);
        let n = notes(&events);
        if n.iter().any(|n| !n.on && n.timing == 0) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1));
    }
    play_until(&mut rig, &settings, 1, |_| 128);
    let (_, events) = rig.block(
        128,
        &Settings {
            mode: Mode::AutoRespond,
            ..settings
        },
        &[],
        None,
    );
    assert!(notes(&events).iter().any(|n| !n.on && n.timing == 0));
    assert_eq!(rig.engine.sounding_notes(), 0);
}

#[test]
fn a_panicking_generator_is_reported_and_notes_still_pass() {
    let mut rig = Rig::new(&["*60"], true);
    let mut settings = Settings::default();
    rig.wait_model(&settings);
    settings.generate = true;
    rig.block(512, &settings, &[], None);
    settings.generate = false;
    let t = Instant::now();
    while rig.engine.pending.is_some() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2));
        rig.block(64, &settings, &[], None);
    }
    let error = rig.reader.worker().last_error.clone().unwrap();
    assert!(error.contains("scripted failure"), "{error}");
    let (_, events) = rig.block(512, &settings, &[on(7, 61)], None);
    assert_eq!(events, vec![(7, Out::Thru(Raw(7)))]);
}

#[test]
fn a_bad_model_path_keeps_the_current_model() {
    let mut rig = Rig::new(&["*60"], false);
    let settings = Settings::default();
    rig.wait_model(&settings);
    *rig.shared_path.write() = "/nonexistent/model.safetensors".into();
    let t = Instant::now();
    while rig.reader.worker().last_error.is_none() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(rig
        .reader
        .worker()
        .last_error
        .clone()
        .unwrap()
        .contains("/nonexistent/model.safetensors"));
    assert_eq!(rig.reader.worker().model.as_ref().unwrap().name, "scripted");
    assert!(rig.engine.model_ready());
}

#[test]
fn auto_respond_answers_after_the_gap_at_the_next_step() {
    let mut rig = Rig::new(&["*62", "REST"], false);
    let settings = Settings {
        mode: Mode::AutoRespond,
        response_gap: 1.0,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    rig.block(480, &settings, &[on(0, 50)], None);
    rig.block(480, &settings, &[off(0, 50)], None);
    let released = rig.pos - 480.0 * 120.0 / 60.0 / 48_000.0;
    assert_eq!(rig.scripted.calls.load(Ordering::SeqCst), 0);
    let played = play_until(&mut rig, &settings, 1, |_| 480);
    assert_eq!(rig.scripted.calls.load(Ordering::SeqCst), 1);
    // No answer before the gap has passed.
    assert!(played[0].0 >= released + 1.0);
    // Silence again does not trigger again without new playing.
    for _ in 0..200 {
        rig.block(480, &settings, &[], None);
    }
    assert_eq!(rig.scripted.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn continuous_keeps_generating_and_hears_itself() {
    let mut rig = Rig::new(&["*65", "65", "REST", "REST"], false);
    let settings = Settings {
        mode: Mode::Continuous,
        length_bars: 1,
        quantize: StartQuantize::Beat,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    let played = play_until(&mut rig, &settings, 10, |_| 512);
    assert!(rig.scripted.calls.load(Ordering::SeqCst) >= 2);
    // Phrases follow each other without a gap: a 65 on every beat.
    let ons: Vec<f64> = played
        .iter()
        .filter(|(_, n)| n.on)
        .map(|(b, _)| *b)
        .collect();
    for pair in ons.windows(2) {
        assert_eq!(pair[1] - pair[0], 1.0);
    }
    // The second request heard the first phrase.
    let contexts = rig.scripted.contexts.lock();
    assert!(contexts[1].iter().any(|c| c.contains(65)));
    drop(contexts);
    // Transport stopped: no more requests, and the sounding note ends, with a note-off sent (every
    // note-on of the whole run pairs with one).
    rig.playing = false;
    let calls = rig.scripted.calls.load(Ordering::SeqCst);
    let mut all: Vec<NoteOut> = played.iter().map(|(_, n)| *n).collect();
    for _ in 0..50 {
        let (_, events) = rig.block(512, &settings, &[], None);
        let stopped = notes(&events);
        assert!(
            stopped.iter().all(|n| !n.on),
            "a note struck after the stop"
        );
        all.extend(stopped);
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut sounding = [false; 128];
    for n in &all {
        assert_ne!(sounding[n.pitch as usize], n.on, "unpaired {n:?}");
        sounding[n.pitch as usize] = n.on;
    }
    assert!(sounding.iter().all(|s| !s), "notes left sounding");
    assert_eq!(rig.engine.sounding_notes(), 0);
    assert!(rig.scripted.calls.load(Ordering::SeqCst) <= calls + 1);
}

/// Continuous mode on a running state: one session for phrase after phrase, each step sampled
/// a few steps ahead of the playhead once the player is heard up to then, every step the
/// player plays reported to it, and the phrases follow each other without a gap.
#[test]
fn continuous_runs_one_session_paced_by_the_playhead_and_hears_the_player() {
    let mut rig = Rig::new(&["*65", "65", "REST", "REST"], false);
    rig.scripted.running.store(true, Ordering::SeqCst);
    let settings = Settings {
        mode: Mode::Continuous,
        length_bars: 1,
        quantize: StartQuantize::Beat,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    // Play three bars; the player strikes a 40 on beat 6.
    let mut played = Vec::new();
    let t = Instant::now();
    let mut struck = false;
    while rig.pos < 14.0 {
        assert!(t.elapsed() < Duration::from_secs(30), "too slow");
        let input: Vec<Input<Raw>> = if !struck && rig.pos >= 6.0 {
            struck = true;
            vec![on(0, 40), off(400, 40)]
        } else {
            Vec::new()
        };
        let (start, out) = rig.block(512, &settings, &input, None);
        let bps = rig.tempo / 60.0 / rig.sr;
        for n in notes(&out) {
            played.push((((start + n.timing as f64 * bps) * 4.0).round() / 4.0, n));
        }
        // Let the inference thread keep up, as real time would.
        std::thread::sleep(Duration::from_micros(300));
    }
    assert_eq!(
        rig.reader.worker().running_sessions,
        1,
        "one session for every phrase"
    );
    assert_eq!(
        rig.scripted.calls.load(Ordering::SeqCst),
        0,
        "no window was regenerated"
    );
    // A 65 on every beat from the first phrase on: the phrases follow each other seamlessly.
    let ons: Vec<f64> = played
        .iter()
        .filter(|(_, n)| n.on)
        .map(|(b, _)| *b)
        .collect();
    assert!(ons.len() >= 8, "{ons:?}");
    for pair in ons.windows(2) {
        assert_eq!(pair[1] - pair[0], 1.0, "{ons:?}");
    }
    // Each step was sampled once the player was heard up to LOOKAHEAD_STEPS before it.
    let sampled = rig.scripted.sampled.lock().clone();
    assert!(sampled.len() >= 32);
    for &(step, heard) in &sampled[16..] {
        assert!(
            heard >= step - super::running::LOOKAHEAD_STEPS - 1,
            "step {step} heard {heard}"
        );
        assert!(heard < step, "step {step} was sampled after its time");
    }
    // The struck 40 was reported at its step (beat 6 = host step 24), and only there.
    let heard = rig.scripted.heard.lock().clone();
    let with_40: Vec<i64> = heard
        .iter()
        .filter(|(_, c)| c.contains(40))
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(with_40, vec![24]);
    // Steps are reported once each, in order.
    for pair in heard.windows(2) {
        assert_eq!(pair[1].0, pair[0].0 + 1);
    }
}

#[test]
fn a_full_host_queue_carries_events_over_in_order() {
    let mut rig = Rig::new(&["*60,*62,*64,*65,*67,*69,*71,*72"], false);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: 1,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    settings.generate = true;
    rig.block(64, &settings, &[], None);
    settings.generate = false;
    let mut seen = Vec::new();
    let t = Instant::now();
    while seen.len() < 8 * 2 * 16 {
        assert!(t.elapsed() < Duration::from_secs(20));
        let (_, events) = rig.block(512, &settings, &[], Some(5));
        assert!(events.len() <= 5);
        seen.extend(notes(
            &events
                .iter()
                .map(|(_, e)| (0, *e))
                .collect::<Vec<_>>()
                .iter()
                .map(|(_, e)| match e {
                    Out::Note(n) => (n.timing, *e),
                    x => (0, *x),
                })
                .collect::<Vec<_>>(),
        ));
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut sounding = [false; 128];
    for n in &seen {
        if n.on {
            assert!(!sounding[n.pitch as usize]);
        } else {
            assert!(sounding[n.pitch as usize]);
        }
        sounding[n.pitch as usize] = n.on;
    }
}

#[test]
fn snapshot_shows_context_and_phrase() {
    let mut rig = Rig::new(&["*60", "REST"], false);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    rig.block(512, &settings, &[on(0, 57)], None);
    settings.generate = true;
    rig.block(512, &settings, &[], None);
    settings.generate = false;
    play_until(&mut rig, &settings, 1, |_| 1024);
    let audio = rig.reader.audio();
    assert_eq!(audio.context.len(), 8);
    assert!(audio.context.iter().any(|c| c.contains(57)));
    assert!(!audio.phrase_notes.is_empty());
    assert!(audio
        .phrase_notes
        .iter()
        .all(|n| n.pitch == 60 && n.start_beats >= audio.phrase_start));
    assert_eq!(audio.steps_per_beat, 4);
    assert_eq!(rig.reader.worker().generations, 1);
}

#[test]
fn velocity_follows_the_player_or_is_fixed_and_channel_is_used() {
    let mut rig = Rig::new(&["*60", "REST"], false);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        channel: 9,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    let soft = |timing, pitch| Input {
        timing,
        live: Live::NoteOn {
            channel: 0,
            pitch,
            velocity: 40,
        },
        raw: Raw(timing),
    };
    rig.block(512, &settings, &[soft(0, 50), soft(10, 53)], None);
    settings.generate = true;
    rig.block(512, &settings, &[], None);
    settings.generate = false;
    let played = play_until(&mut rig, &settings, 1, |_| 512);
    let first = played.iter().find(|(_, n)| n.on).unwrap().1;
    assert_eq!((first.velocity, first.channel), (40, 9));
    settings.velocity = 111;
    settings.generate = true;
    rig.block(512, &settings, &[], None);
    settings.generate = false;
    let t = Instant::now();
    loop {
        assert!(t.elapsed() < Duration::from_secs(10));
        let (_, events) = rig.block(512, &settings, &[], None);
        if let Some(n) = notes(&events)
            .into_iter()
            .find(|n| n.on && n.velocity == 111)
        {
            assert_eq!(n.channel, 9);
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_newer_request_supersedes_an_older_one() {
    let mut rig = Rig::new(&["*64"], false);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    // Three presses in a row before any answer: only the last request's phrase is played.
    for _ in 0..3 {
        settings.generate = true;
        rig.block(16, &settings, &[], None);
        settings.generate = false;
        rig.block(16, &settings, &[], None);
    }
    play_until(&mut rig, &settings, 1, |_| 256);
    let calls = rig.scripted.calls.load(Ordering::SeqCst);
    assert!((1..=3).contains(&calls));
    // The engine waits for nothing more, and only one phrase plays (one note per step).
    assert!(rig.engine.pending.is_none());
    let mut ons_per_block = Vec::new();
    for _ in 0..20 {
        let (_, events) = rig.block(256, &settings, &[], None);
        ons_per_block.push(notes(&events).iter().filter(|n| n.on).count());
    }
    assert!(ons_per_block.iter().all(|&n| n <= 1), "{ons_per_block:?}");
}
