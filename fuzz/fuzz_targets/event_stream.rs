//! Bytes become blocks for the engine: transport (playing, tempo, position with jumps, rounding
//! and jitter, time signature, bar start), block sizes and sample rates, played notes, pedal and
//! controllers, and parameter changes (every setting), with a generator that answers every
//! request. Checked every block: events inside the block and in time order, every generated
//! note-on has exactly one note-off before its key strikes again, a stop or a bypass ends every
//! generated note, no more events than the host's queue takes.
#![no_main]

use std::sync::{Arc, OnceLock};

use continuo::engine::clock::HostTransport;
use continuo::engine::snapshot::{snapshot_channels, ModelInfo};
use continuo::engine::worker::{
    spawn, BarPlacement, ChordSink, GeneratorSource, PhraseGenerator, WorkerShared,
};
use continuo::engine::{
    Engine, Input, Live, Mode, Out, PhraseStore, Settings, Sink, StartQuantize,
    MAX_EVENTS_PER_BLOCK,
};
use continuo::roll::{Chord, Grid};
use libfuzzer_sys::fuzz_target;

/// Continues any context with a fixed pattern of chords, repeats and held notes.
struct Pattern;

impl PhraseGenerator for Pattern {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: "pattern".into(),
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
    fn generate_streaming(
        &self,
        _: &[Chord],
        _: BarPlacement,
        steps: usize,
        _: f32,
        _: &continuo::engine::controls::Controls,
        seed: u64,
        out: &mut ChordSink<'_>,
    ) -> Result<(), String> {
        let cycle: [Chord; 6] =
            ["*60,*64", "60,64", "*60", "*72", "REST", "*48,67"].map(|s| s.parse().expect("chord"));
        for i in 0..steps {
            if !out(cycle[(i + seed as usize) % cycle.len()]) {
                break;
            }
        }
        Ok(())
    }
}

struct Source;
impl GeneratorSource for Source {
    fn default_generator(&self) -> Result<Arc<dyn PhraseGenerator>, String> {
        static G: OnceLock<Arc<Pattern>> = OnceLock::new();
        Ok(G.get_or_init(|| Arc::new(Pattern)).clone())
    }
    fn load(&self, path: &str) -> Result<Arc<dyn PhraseGenerator>, String> {
        Err(format!("{path}: not in the fuzzer"))
    }
}

struct Check {
    frames: u32,
    last: u32,
    sent: usize,
    events: Vec<(u32, bool, u8, u8)>,
}

impl Sink<u32> for Check {
    fn send(&mut self, timing: u32, event: &Out<u32>) -> bool {
        assert!(
            timing < self.frames.max(1),
            "event at {timing} in a {}-frame block",
            self.frames
        );
        assert!(timing >= self.last, "events out of order");
        self.last = timing;
        if self.sent >= 64 + MAX_EVENTS_PER_BLOCK {
            return false; // a full host queue: the engine must keep the rest for later
        }
        self.sent += 1;
        if let Out::Note(n) = event {
            self.events.push((timing, n.on, n.channel, n.pitch));
        }
        true
    }
}

/// Reads bytes as numbers; zeros once they run out.
struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let (audio, worker, _reader) = snapshot_channels();
    let shared = WorkerShared {
        model_path: Arc::new(parking_lot::RwLock::new(String::new())),
        phrase: Arc::new(PhraseStore::default()),
    };
    let Ok((_handle, link)) = spawn(Box::new(Source), shared, worker) else {
        return;
    };
    let mut engine: Engine<u32> = Engine::new(Some(link), audio);
    let mut sample_rate = [44_100.0, 48_000.0, 96_000.0, 22_050.0][(b.u8() % 4) as usize];
    engine.reset(sample_rate);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        channel: 1,
        ..Settings::default()
    };
    let mut transport = HostTransport {
        playing: true,
        tempo: Some(120.0),
        pos_beats: Some(0.0),
        time_signature: Some((4, 4)),
        bar_start_beats: Some(0.0),
    };
    let mut true_pos = 0.0f64;
    let mut sounding = [[false; 128]; 16];
    let mut blocks = 0;
    let mut was_host = false;
    while !b.done() && blocks < 2000 {
        blocks += 1;
        let frames = (b.u16() % 4096) as u32 + 1;
        let mut input: Vec<Input<u32>> = Vec::new();
        let mut stop = false;
        let mut bypass = false;
        match b.u8() {
            0..=9 => transport.playing = !transport.playing,
            10..=14 => true_pos = b.u16() as f64 / 64.0,
            15..=17 => transport.tempo = Some(20.0 + b.u16() as f64 / 100.0),
            18 => transport.tempo = None,
            19..=21 => transport.time_signature = Some(((b.u8() % 13) as i32, 1 << (b.u8() % 4))),
            22 => transport.pos_beats = None,
            23..=40 => {
                settings.generate = !settings.generate;
                settings.generate_presses += settings.generate as u32;
            }
            41..=44 => {
                settings.mode =
                    [Mode::Manual, Mode::AutoRespond, Mode::Continuous][(b.u8() % 3) as usize]
            }
            45..=47 => {
                settings.bypass = !settings.bypass;
                bypass = settings.bypass;
            }
            48..=49 => settings.thru = !settings.thru,
            50..=52 => settings.length_bars = (b.u8() % 33) as u32,
            53 => {
                settings.quantize = [StartQuantize::Step, StartQuantize::Beat, StartQuantize::Bar]
                    [(b.u8() % 3) as usize]
            }
            54 => settings.channel = b.u8() % 16,
            55 => settings.velocity = b.u8(),
            56 => settings.temperature = b.u8() as f32 / 64.0,
            57 => settings.seed = b.u8() as u64,
            58 => settings.response_gap = b.u8() as f64 / 16.0,
            59 => settings.state_loads += 1,
            60 => {
                sample_rate = [22_050.0, 44_100.0, 48_000.0, 192_000.0][(b.u8() % 4) as usize];
                engine.reset(sample_rate);
            }
            _ => {}
        }
        for _ in 0..(b.u8() % 6) {
            let timing = b.u16() as u32 % frames;
            let (kind, x, y) = (b.u8(), b.u8() & 127, b.u8() & 127);
            let live = match kind % 5 {
                0 | 1 => Live::NoteOn {
                    channel: kind % 3,
                    pitch: x,
                    velocity: y,
                },
                2 => Live::NoteOff {
                    channel: kind % 3,
                    pitch: x,
                },
                3 => Live::Control {
                    channel: kind % 3,
                    controller: if y % 2 == 0 { 64 } else { x },
                    value: y,
                },
                _ => Live::Expression,
            };
            input.push(Input {
                timing,
                live,
                raw: timing,
            });
        }
        input.sort_by_key(|i| i.timing);
        // The host's position: rounded to 1/960 beat and jittered, as real hosts report it.
        let tempo = transport.tempo.unwrap_or(120.0);
        if transport.pos_beats.is_some() || b.u8() == 0 {
            let jitter = (b.u8() % 17) as f64 - 8.0;
            transport.pos_beats =
                Some((true_pos * 960.0).round() / 960.0 + jitter * tempo / 60.0 / sample_rate);
        }
        // Leaving the host's timeline (a stop, or the position vanishing) ends every note.
        let host = transport.playing && transport.pos_beats.is_some_and(f64::is_finite);
        stop |= was_host && !host;
        was_host = host;
        let before: Vec<(u8, u8)> = (0..16u8)
            .flat_map(|c| (0..128u8).map(move |k| (c, k)))
            .filter(|&(c, k)| sounding[c as usize][k as usize])
            .collect();
        let mut sink = Check {
            frames,
            last: 0,
            sent: 0,
            events: Vec::new(),
        };
        engine.process(
            &transport,
            frames,
            sample_rate,
            &settings,
            &input,
            &mut sink,
        );
        // Engine notes: generated ones on `settings.channel` and note-offs of passed-through
        // keys when Thru goes off; only the engine's own notes are paired here.
        for &(_, on, ch, key) in &sink.events {
            let s = &mut sounding[ch as usize & 15][key as usize];
            if on {
                assert!(!*s, "key {key} on channel {ch} struck while sounding");
            }
            *s = on;
        }
        if stop || bypass {
            for (c, k) in before {
                let ended = sink
                    .events
                    .iter()
                    .any(|e| e.0 == 0 && !e.1 && e.2 == c && e.3 == k);
                assert!(
                    ended,
                    "key {k} on channel {c} still sounds after a stop or bypass"
                );
            }
        }
        if transport.playing && transport.pos_beats.is_some() {
            true_pos += frames as f64 * tempo / 60.0 / sample_rate;
        }
        if engine.waiting() {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }
});
