//! The audio thread's cost per 512-frame block at 48 kHz (10.7 ms of audio): idle, with dense
//! chordal input, and while emitting a dense phrase; and the time from Generate to the first
//! scheduled note with the embedded default model on the CPU.
//!
//! These measure `Engine::process`, which is all the plugin's `process()` does besides copying
//! the host's events in and out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use continuo::engine::clock::HostTransport;
use continuo::engine::snapshot::{snapshot_channels, ModelInfo};
use continuo::engine::worker::{
    spawn, BarPlacement, ChordSink, GeneratorSource, PhraseGenerator, WorkerHandle, WorkerShared,
};
use continuo::engine::{Engine, Input, Live, Out, PhraseStore, Settings, Sink};
use continuo::params::StartQuantize;
use continuo::roll::{Chord, Grid};

const FRAMES: u32 = 512;
const SR: f64 = 48_000.0;

struct Discard(usize);
impl Sink<u32> for Discard {
    fn send(&mut self, _timing: u32, _event: &Out<u32>) -> bool {
        self.0 += 1;
        true
    }
}

/// Eight-note chords struck on every 16th, for the densest phrase the grid allows.
struct Dense;
impl PhraseGenerator for Dense {
    fn info(&self) -> ModelInfo {
        ModelInfo::default()
    }
    fn grid(&self) -> Grid {
        Grid::default()
    }
    fn window(&self) -> usize {
        50
    }
    fn generate_streaming(
        &self,
        _c: &[Chord],
        _p: BarPlacement,
        steps: usize,
        _t: f32,
        _controls: &continuo::engine::controls::Controls,
        _s: u64,
        out: &mut ChordSink<'_>,
    ) -> Result<(), String> {
        let a = Chord::struck_from(&[48, 52, 55, 60, 64, 67, 72, 76]);
        let b = Chord::struck_from(&[50, 53, 57, 62, 65, 69, 74, 77]);
        for i in 0..steps {
            if !out(if i % 2 == 0 { a } else { b }) {
                break;
            }
        }
        Ok(())
    }
}

struct Source(Option<Arc<dyn PhraseGenerator>>);
impl GeneratorSource for Source {
    fn default_generator(&self) -> Result<Arc<dyn PhraseGenerator>, String> {
        match &self.0 {
            Some(g) => Ok(g.clone()),
            None => continuo::engine::model_source::ModelSource.default_generator(),
        }
    }
    fn load(&self, path: &str) -> Result<Arc<dyn PhraseGenerator>, String> {
        Err(path.to_string())
    }
}

fn engine(generator: Option<Arc<dyn PhraseGenerator>>) -> (Engine<u32>, WorkerHandle) {
    let (audio, worker, _reader) = snapshot_channels();
    let shared = WorkerShared {
        model_path: Default::default(),
        phrase: Arc::new(PhraseStore::default()),
    };
    let (handle, link) = spawn(Box::new(Source(generator)), shared, worker).unwrap();
    let mut engine = Engine::new(Some(link), audio);
    engine.reset(SR);
    (engine, handle)
}

fn transport(pos: f64) -> HostTransport {
    HostTransport {
        playing: true,
        tempo: Some(120.0),
        pos_beats: Some(pos),
        time_signature: Some((4, 4)),
        bar_start_beats: None,
    }
}

const BLOCK_BEATS: f64 = FRAMES as f64 * 120.0 / 60.0 / SR;

/// Processes blocks until the engine has a model.
fn wait_ready(engine: &mut Engine<u32>, pos: &mut f64, settings: &Settings) {
    let t = Instant::now();
    while !engine.model_ready() {
        assert!(t.elapsed() < Duration::from_secs(120), "no model");
        engine.process(&transport(*pos), 64, SR, settings, &[], &mut Discard(0));
        *pos += 64.0 * 120.0 / 60.0 / SR;
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn process_block(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_512_frames");
    let settings = Settings::default();

    let (mut idle, _w1) = engine(Some(Arc::new(Dense)));
    let mut pos = 0.0;
    wait_ready(&mut idle, &mut pos, &settings);
    group.bench_function("idle", |b| {
        b.iter(|| {
            idle.process(&transport(pos), FRAMES, SR, &settings, &[], &mut Discard(0));
            pos += BLOCK_BEATS;
        })
    });

    // 96 events a block: 8-note chords struck and released every 128 samples, passed through
    // and captured.
    let (mut listening, _w2) = engine(Some(Arc::new(Dense)));
    let mut pos = 0.0;
    wait_ready(&mut listening, &mut pos, &settings);
    let mut chordal = Vec::new();
    for k in 0..4u32 {
        for (j, p) in [48u8, 52, 55, 60, 64, 67, 72, 76].iter().enumerate() {
            let p = p + (k as u8 % 2) * 2;
            chordal.push(Input {
                timing: k * 128,
                live: Live::NoteOn {
                    channel: 0,
                    pitch: p,
                    velocity: 90,
                },
                raw: j as u32,
            });
        }
        for p in [48u8, 52, 55, 60, 64, 67, 72, 76] {
            let p = p + (k as u8 % 2) * 2;
            chordal.push(Input {
                timing: k * 128 + 100,
                live: Live::NoteOff {
                    channel: 0,
                    pitch: p,
                },
                raw: 0,
            });
        }
    }
    group.bench_function("dense_chordal_input", |b| {
        b.iter(|| {
            listening.process(
                &transport(pos),
                FRAMES,
                SR,
                &settings,
                &chordal,
                &mut Discard(0),
            );
            pos += BLOCK_BEATS;
        })
    });

    // A 32-bar phrase of 8-note chords on every 16th: 64 events per 16th.
    let (mut playing, _w3) = engine(Some(Arc::new(Dense)));
    let mut pos = 0.0;
    let mut gen_settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: 32,
        ..settings
    };
    wait_ready(&mut playing, &mut pos, &gen_settings);
    gen_settings.generate = true;
    playing.process(
        &transport(pos),
        FRAMES,
        SR,
        &gen_settings,
        &[],
        &mut Discard(0),
    );
    gen_settings.generate = false;
    while !playing.has_phrase() {
        playing.process(
            &transport(pos),
            FRAMES,
            SR,
            &gen_settings,
            &[],
            &mut Discard(0),
        );
        pos += BLOCK_BEATS;
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = pos;
    // It must emit something, or the benchmark measures nothing.
    let mut probe = Discard(0);
    let mut at = pos;
    for _ in 0..64 {
        playing.process(&transport(at), FRAMES, SR, &gen_settings, &[], &mut probe);
        at += BLOCK_BEATS;
    }
    assert!(probe.0 > 0, "the dense phrase emitted nothing");
    let mut emitted = Discard(0);
    group.bench_function("emitting_dense_phrase", |b| {
        b.iter(|| {
            // Loop over the phrase's 128 beats (a loop jump every 120 beats).
            if pos > start + 120.0 {
                pos = start;
            }
            playing.process(
                &transport(pos),
                FRAMES,
                SR,
                &gen_settings,
                &[],
                &mut emitted,
            );
            pos += BLOCK_BEATS;
        })
    });
    group.finish();
}

/// Four bars of a player's chords (a I–vi–IV–V in C, struck on every beat, with a bass), for
/// the model to hear before the press.
fn played_bars() -> Vec<Input<u32>> {
    let bars: [[u8; 4]; 4] = [
        [36, 60, 64, 67],
        [33, 57, 60, 64],
        [29, 57, 60, 65],
        [31, 55, 59, 62],
    ];
    let mut out = Vec::new();
    for (bar, chord) in bars.iter().enumerate() {
        for beat in 0..4u32 {
            for &p in chord {
                let at = ((bar as u32 * 4 + beat) as f64 * 60.0 / 120.0 * SR) as u32;
                out.push((at, true, p));
                out.push((at + 20_000, false, p));
            }
        }
    }
    out.sort_by_key(|e| (e.0, e.1));
    out.into_iter()
        .map(|(timing, on, pitch)| Input {
            timing,
            live: if on {
                Live::NoteOn {
                    channel: 0,
                    pitch,
                    velocity: 80,
                }
            } else {
                Live::NoteOff { channel: 0, pitch }
            },
            raw: 0,
        })
        .collect()
}

/// Plays [`played_bars`] into the engine, 512 frames a block.
fn hear_bars(engine: &mut Engine<u32>, pos: &mut f64, settings: &Settings) {
    let played = played_bars();
    let total = (16.0 * 60.0 / 120.0 * SR) as u32;
    let mut at = 0;
    while at < total {
        let block: Vec<Input<u32>> = played
            .iter()
            .filter(|e| (at..at + FRAMES).contains(&e.timing))
            .map(|e| Input {
                timing: e.timing - at,
                ..*e
            })
            .collect();
        engine.process(
            &transport(*pos),
            FRAMES,
            SR,
            settings,
            &block,
            &mut Discard(0),
        );
        *pos += BLOCK_BEATS;
        at += FRAMES;
    }
}

/// 64-frame blocks (1.3 ms) as fast as they go, at least one, until `done` says so.
fn small_blocks_until(
    engine: &mut Engine<u32>,
    pos: &mut f64,
    settings: &Settings,
    done: impl Fn(&Engine<u32>) -> bool,
) {
    loop {
        engine.process(&transport(*pos), 64, SR, settings, &[], &mut Discard(0));
        *pos += 64.0 * 120.0 / 60.0 / SR;
        if done(engine) {
            return;
        }
        std::thread::yield_now();
    }
}

/// Press → first note scheduled, and press → whole phrase, for each built-in model kind: the
/// engine and its inference thread as in the plugin, 4 bars heard, a 4-bar phrase asked for
/// with Start quantize = Step, 64-frame blocks (1.3 ms) processed as fast as they go.
fn press_to_first_note(c: &mut Criterion) {
    let mut group = c.benchmark_group("press_to_first_note");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    for name in ["piano-step", "piano-seed"] {
        let generator = continuo::engine::model_source::ModelSource
            .load(&format!("builtin:{name}"))
            .expect("built-in model");
        let (mut engine, _w) = engine(Some(generator));
        let mut pos = 0.0;
        let mut settings = Settings {
            quantize: StartQuantize::Step,
            length_bars: 4,
            seed: 0,
            ..Settings::default()
        };
        wait_ready(&mut engine, &mut pos, &settings);
        for (what, whole) in [("first_note", false), ("whole_phrase", true)] {
            group.bench_function(format!("{what}/{name}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        // The same four bars heard before every press.
                        hear_bars(&mut engine, &mut pos, &settings);
                        let started = Instant::now();
                        settings.generate_presses += 1;
                        small_blocks_until(&mut engine, &mut pos, &settings, |e| {
                            if whole {
                                !e.waiting()
                            } else {
                                e.phrase_arrived()
                            }
                        });
                        total += started.elapsed();
                        // Let the rest of the phrase finish before the next press.
                        small_blocks_until(&mut engine, &mut pos, &settings, |e| !e.waiting());
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

/// What a host's plugin scan pays per instance: creating the plugin (no model is loaded here;
/// that happens on the inference thread after activation).
fn create_instance(c: &mut Criterion) {
    use nice_plug::prelude::Plugin;
    c.bench_function("create_instance", |b| {
        b.iter(|| {
            let plugin = continuo::Continuo::default();
            std::hint::black_box(plugin.params());
        })
    });
}

// Run with `cargo bench --bench plugin -- --noplot` where system fonts are missing (criterion's
// plotters backend needs them).
criterion_group!(benches, create_instance, process_block, press_to_first_note);
criterion_main!(benches);
