//! A small CLAP host for the tests, built on clack-host: it loads the built `libcontinuo.so`
//! exactly as a DAW does (main thread: load, create, activate; a separate audio thread: start,
//! process, stop), feeds real audio buffers, a transport, notes and parameter changes, and
//! collects the plugin's output events.
#![allow(dead_code)]

pub mod xvfb;

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;

use clack_extensions::audio_ports_config::PluginAudioPortsConfig;
use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{
    MidiEvent, NoteOffEvent, NoteOnEvent, ParamValueEvent, TransportEvent, TransportFlags,
};
use clack_host::events::{EventFlags, EventHeader, Match};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

pub const SAMPLE_RATE: f64 = 48_000.0;
pub const MAX_FRAMES: u32 = 4096;
const PLUGIN_ID: &std::ffi::CStr = c"org.continuo.continuo";

/// The built plugin next to the test binary: `target/<profile>/examples/libcontinuo_clap.so`,
/// the library's `clap_entry` in a cdylib that `cargo test` builds (it does not build the
/// library's own cdylib for tests; see `examples/continuo_clap.rs`).
///
/// `CONTINUO_CLAP=/path/to/Continuo.clap` tests another build instead, e.g. the release bundle.
pub fn plugin_path() -> PathBuf {
    if let Some(path) = std::env::var_os("CONTINUO_CLAP") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let name = if cfg!(target_os = "macos") {
        "libcontinuo_clap.dylib"
    } else if cfg!(windows) {
        "continuo_clap.dll"
    } else {
        "libcontinuo_clap.so"
    };
    let path = dir.join("examples").join(name);
    let hint = "run the whole `cargo test` (it builds examples) or `cargo build --examples` first";
    assert!(path.exists(), "{} is not built: {hint}", path.display());
    let built = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    assert!(
        built(&path) >= built(&dir.join("libcontinuo.rlib")),
        "{} is older than the library: {hint}",
        path.display()
    );
    path
}

/// A note or parameter change sent into a block.
#[derive(Debug, Clone, Copy)]
pub enum In {
    On {
        time: u32,
        key: u8,
        velocity: f64,
    },
    Off {
        time: u32,
        key: u8,
    },
    /// A parameter, by name, to a CLAP value (normalized for floats, steps from the minimum
    /// for integers, booleans and enums).
    Param {
        time: u32,
        name: &'static str,
        value: f64,
    },
    /// A raw MIDI 1.0 message (controllers, pitch bend...).
    Midi {
        time: u32,
        data: [u8; 3],
    },
}

impl In {
    /// The event's sample offset in its block.
    pub fn time(&self) -> u32 {
        match *self {
            In::On { time, .. }
            | In::Off { time, .. }
            | In::Param { time, .. }
            | In::Midi { time, .. } => time,
        }
    }
}

/// Plays `beats` of a chorale (bwv66.6) into the plugin in 512-sample blocks from the
/// transport's position.
pub fn play_chorale(audio: &mut Audio, beats: f64, blocks: &mut Vec<Block>) {
    let start = (audio.transport.pos * 60.0 / audio.transport.tempo * SAMPLE_RATE).round() as u64;
    let events = chorale("bwv66.6.mid", beats, audio.transport.tempo, start);
    let end = events.last().unwrap().0 + 1;
    let mut at = start;
    while at < end {
        blocks.push(audio.block(512, &events_in(&events, at, 512)));
        at += 512;
    }
}

/// An event the plugin sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Out {
    pub time: u32,
    pub on: bool,
    pub key: u8,
    pub channel: u8,
    pub velocity: f64,
}

/// What one block did.
#[derive(Debug, Clone)]
pub struct Block {
    /// The beat position the transport reported for this block.
    pub pos: f64,
    pub sample_rate: f64,
    pub tempo: f64,
    pub frames: u32,
    pub playing: bool,
    pub events: Vec<Out>,
    /// Events that were neither note-on nor note-off.
    pub other_events: usize,
    /// The raw MIDI messages among those, as (offset, bytes).
    pub midi: Vec<(u32, [u8; 3])>,
    /// Where the transport truly was (the block's start by the host's own sample count); `pos`
    /// is what it reported, rounded and jittered when the transport says so.
    pub true_pos: f64,
}

impl Block {
    /// `round((b - pos) * 60 / tempo * sample_rate)`: where beat `b` falls in this block.
    pub fn offset_of(&self, b: f64) -> f64 {
        ((b - self.pos) * 60.0 / self.tempo * self.sample_rate).round()
    }
    /// The beat of a sample offset.
    pub fn beat_at(&self, offset: u32) -> f64 {
        self.pos + offset as f64 * self.tempo / 60.0 / self.sample_rate
    }
}

pub struct Host {
    // Field order: the instance must drop before the entry.
    instance: PluginInstance<TestHost>,
    processor: Option<StoppedPluginAudioProcessor<TestHost>>,
    entry: PluginEntry,
    pub params: HashMap<String, ClapId>,
    /// Stereo pass-through (true) or the no-audio layout.
    pub stereo: bool,
    pub sample_rate: f64,
}

impl Host {
    /// Loads and creates the plugin and activates it at 48 kHz.
    pub fn new() -> Self {
        Self::with_layout(true)
    }

    pub fn with_layout(stereo: bool) -> Self {
        Self::with_config(stereo, SAMPLE_RATE)
    }

    pub fn with_config(stereo: bool, sample_rate: f64) -> Self {
        let path = plugin_path();
        // SAFETY: the plugin is our own build, loaded once per test process.
        let entry = unsafe { PluginEntry::load(&path) }.expect("load the plugin entry");
        let info = HostInfo::new(
            "continuo-test-host",
            "Continuo",
            "https://example.invalid",
            "1.0",
        )
        .unwrap();
        let mut instance = PluginInstance::<TestHost>::new(
            |_| TestShared,
            |_| TestMainThread,
            &entry,
            PLUGIN_ID,
            &info,
        )
        .expect("create the plugin");
        let mut params = HashMap::new();
        {
            let handle = instance.plugin_handle();
            let ext: PluginParams = handle.get_extension().expect("params extension");
            let mut buffer = ParamInfoBuffer::new();
            for i in 0..ext.count(&handle) {
                let info = ext.get_info(&handle, i, &mut buffer).expect("param info");
                params.insert(String::from_utf8_lossy(info.name).into_owned(), info.id);
            }
            if !stereo {
                let config: PluginAudioPortsConfig =
                    handle.get_extension().expect("audio ports config");
                config
                    .select(&handle, ClapId::new(1))
                    .expect("select the no-audio layout");
            }
        }
        let mut host = Host {
            instance,
            processor: None,
            entry,
            params,
            stereo,
            sample_rate,
        };
        host.activate();
        host
    }

    pub fn activate(&mut self) {
        let config = PluginAudioConfiguration {
            sample_rate: self.sample_rate,
            min_frames_count: 1,
            max_frames_count: MAX_FRAMES,
        };
        self.processor = Some(
            self.instance
                .activate(|_, _| TestAudio, config)
                .expect("activate"),
        );
    }

    pub fn deactivate(&mut self) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p);
        }
    }

    pub fn param(&self, name: &str) -> ClapId {
        *self
            .params
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name:?} in {:?}", self.params.keys()))
    }

    /// Runs `f` on a separate audio thread: start processing, `f`, stop processing.
    pub fn audio<R: Send>(
        &mut self,
        transport: &mut Transport,
        f: impl FnOnce(&mut Audio) -> R + Send,
    ) -> R {
        let processor = self.processor.take().expect("activated");
        let params = self.params.clone();
        let stereo = self.stereo;
        let sample_rate = self.sample_rate;
        let (processor, result) = std::thread::scope(|s| {
            s.spawn(move || {
                let started = processor.start_processing().expect("start processing");
                let mut audio = Audio::new(started, params, stereo, sample_rate, transport);
                let result = f(&mut audio);
                (audio.processor.stop_processing(), result)
            })
            .join()
            .expect("audio thread panicked")
        });
        self.processor = Some(processor);
        result
    }

    pub fn save_state(&mut self) -> Vec<u8> {
        let handle = self.instance.plugin_handle();
        let ext: PluginState = handle.get_extension().expect("state extension");
        let mut out = Vec::new();
        ext.save(&self.instance.plugin_handle(), &mut out)
            .expect("save state");
        out
    }

    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let handle = self.instance.plugin_handle();
        let ext: PluginState = handle.get_extension().expect("state extension");
        ext.load(&self.instance.plugin_handle(), &mut Cursor::new(bytes))
            .map_err(|e| e.to_string())
    }

    /// Runs the plugin's main-thread callbacks (GUI tasks nice-plug posts).
    pub fn idle(&mut self) {
        self.instance.call_on_main_thread_callback();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.deactivate();
    }
}

/// The transport a test drives: beats advance with the sample count while playing.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub playing: bool,
    pub tempo: f64,
    /// Beat position of the next block (exact f64; sent as CLAP fixed point).
    pub pos: f64,
    pub time_signature: (u16, u16),
    /// Send no transport at all (a host without one).
    pub absent: bool,
    /// Report the position rounded to this many beats, as real hosts do (Ardour: 1/1920);
    /// 0 reports it exactly.
    pub rounding: f64,
    /// ... and jittered by up to this many samples either way.
    pub jitter_samples: u32,
    pub rng: Rng,
    /// Report the bar start as bars × 4 beats whatever the meter (as Ardour does).
    pub four_beat_bars: bool,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            playing: true,
            tempo: 120.0,
            pos: 0.0,
            time_signature: (4, 4),
            absent: false,
            rounding: 0.0,
            jitter_samples: 0,
            rng: Rng(0x5DEE_CE66_D1CE_4E5B),
            four_beat_bars: false,
        }
    }
}

impl Transport {
    /// The position the host reports for the next block.
    fn reported_pos(&mut self, sample_rate: f64) -> f64 {
        let mut pos = self.pos;
        if self.rounding > 0.0 {
            pos = (pos / self.rounding).round() * self.rounding;
        }
        if self.jitter_samples > 0 {
            let j = self.rng.below(2 * self.jitter_samples as u64 + 1) as f64
                - self.jitter_samples as f64;
            pos += j * self.tempo / 60.0 / sample_rate;
        }
        pos
    }
}

pub struct Audio<'t> {
    processor: StartedPluginAudioProcessor<TestHost>,
    params: HashMap<String, ClapId>,
    stereo: bool,
    pub sample_rate: f64,
    pub transport: &'t mut Transport,
    inputs: [Vec<f32>; 2],
    outputs: [Vec<f32>; 2],
    input_ports: AudioPorts,
    output_ports: AudioPorts,
    in_events: EventBuffer,
    out_events: EventBuffer,
    /// Test signal phase.
    phase: u64,
    pub steady_time: u64,
}

impl<'t> Audio<'t> {
    fn new(
        processor: StartedPluginAudioProcessor<TestHost>,
        params: HashMap<String, ClapId>,
        stereo: bool,
        sample_rate: f64,
        transport: &'t mut Transport,
    ) -> Self {
        Self {
            processor,
            params,
            stereo,
            sample_rate,
            transport,
            inputs: [
                vec![0.0; MAX_FRAMES as usize],
                vec![0.0; MAX_FRAMES as usize],
            ],
            outputs: [
                vec![0.0; MAX_FRAMES as usize],
                vec![0.0; MAX_FRAMES as usize],
            ],
            input_ports: AudioPorts::with_capacity(2, 1),
            output_ports: AudioPorts::with_capacity(2, 1),
            in_events: EventBuffer::with_capacity(1024),
            out_events: EventBuffer::with_capacity(4096),
            phase: 0,
            steady_time: 0,
        }
    }

    fn transport_event(&self, reported: f64) -> TransportEvent {
        let t = &self.transport;
        let mut flags = TransportFlags::HAS_TEMPO
            | TransportFlags::HAS_BEATS_TIMELINE
            | TransportFlags::HAS_TIME_SIGNATURE;
        if t.playing {
            flags |= TransportFlags::IS_PLAYING;
        }
        let bar = t.time_signature.0 as f64 * 4.0 / t.time_signature.1 as f64;
        let bar_number = (t.pos / bar + 1e-9).floor();
        let bar_start = if t.four_beat_bars {
            bar_number * 4.0
        } else {
            bar_number * bar
        };
        TransportEvent {
            header: EventHeader::new_core(0, EventFlags::empty()),
            flags,
            song_pos_beats: BeatTime::from_float(reported),
            song_pos_seconds: SecondsTime::from_int(0),
            tempo: t.tempo,
            tempo_inc: 0.0,
            loop_start_beats: BeatTime::from_int(0),
            loop_end_beats: BeatTime::from_int(0),
            loop_start_seconds: SecondsTime::from_int(0),
            loop_end_seconds: SecondsTime::from_int(0),
            bar_start: BeatTime::from_float(bar_start),
            bar_number: bar_number as i32,
            time_signature_numerator: t.time_signature.0,
            time_signature_denominator: t.time_signature.1,
        }
    }

    /// Processes one block of `frames` samples with these inputs; advances the transport.
    pub fn block(&mut self, frames: u32, input: &[In]) -> Block {
        assert!((1..=MAX_FRAMES).contains(&frames));
        // The position the plugin will see (CLAP beat time is fixed point).
        let reported = self.transport.reported_pos(self.sample_rate);
        let sent_pos = BeatTime::from_float(reported).to_float();
        let true_pos = self.transport.pos;
        self.in_events.clear();
        for event in input {
            match *event {
                In::On {
                    time,
                    key,
                    velocity,
                } => self.in_events.push(&NoteOnEvent::new(
                    time,
                    Pckn::new(0u16, 0u16, key as u16, Match::All),
                    velocity,
                )),
                In::Off { time, key } => self.in_events.push(&NoteOffEvent::new(
                    time,
                    Pckn::new(0u16, 0u16, key as u16, Match::All),
                    0.0,
                )),
                In::Midi { time, data } => self.in_events.push(&MidiEvent::new(time, 0, data)),
                In::Param { time, name, value } => {
                    let id = *self
                        .params
                        .get(name)
                        .unwrap_or_else(|| panic!("no parameter {name:?}"));
                    self.in_events
                        .push(&ParamValueEvent::new(time, id, Pckn::match_all(), value))
                }
            }
        }
        self.in_events.sort();
        self.out_events.clear();
        // A test signal in, so pass-through audio can be checked.
        let n = frames as usize;
        for i in 0..n {
            let x = ((self.phase + i as u64) % 97) as f32 / 97.0 - 0.5;
            self.inputs[0][i] = x;
            self.inputs[1][i] = -x;
            self.outputs[0][i] = f32::NAN;
            self.outputs[1][i] = f32::NAN;
        }
        self.phase += frames as u64;
        let transport = (!self.transport.absent).then(|| self.transport_event(reported));
        let status = if self.stereo {
            let [in_l, in_r] = &mut self.inputs;
            let input_audio = self.input_ports.with_input_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only([
                    InputChannel::variable(&mut in_l[..n]),
                    InputChannel::variable(&mut in_r[..n]),
                ]),
            }]);
            let [out_l, out_r] = &mut self.outputs;
            let mut output_audio = self.output_ports.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    [&mut out_l[..n], &mut out_r[..n]].into_iter(),
                ),
            }]);
            self.processor.process(
                &input_audio,
                &mut output_audio,
                &self.in_events.as_input(),
                &mut self.out_events.as_output(),
                Some(self.steady_time),
                transport.as_ref(),
            )
        } else {
            // Zero ports, but the right frame count.
            let input_audio = unsafe { InputAudioBuffers::from_raw_buffers(&[], frames) };
            let mut no_outputs = [];
            let mut output_audio =
                unsafe { OutputAudioBuffers::from_raw_buffers(&mut no_outputs, frames) };
            self.processor.process(
                &input_audio,
                &mut output_audio,
                &self.in_events.as_input(),
                &mut self.out_events.as_output(),
                Some(self.steady_time),
                transport.as_ref(),
            )
        };
        status.expect("process");
        if self.stereo {
            for i in 0..n {
                assert!(
                    !self.outputs[0][i].is_nan() && !self.outputs[1][i].is_nan(),
                    "NaN in the audio output"
                );
                assert_eq!(
                    self.outputs[0][i], self.inputs[0][i],
                    "audio is not passed through"
                );
                assert_eq!(
                    self.outputs[1][i], self.inputs[1][i],
                    "audio is not passed through"
                );
            }
        }
        let mut events = Vec::new();
        let mut other = 0;
        let mut midi = Vec::new();
        let mut last_time = 0;
        for event in self.out_events.iter() {
            let time = event.header().time();
            assert!(
                time < frames,
                "event at {time} outside a {frames}-frame block"
            );
            assert!(time >= last_time, "output events out of order");
            last_time = time;
            if let Some(e) = event.as_event::<NoteOnEvent>() {
                let raw = e.as_raw();
                events.push(Out {
                    time,
                    on: true,
                    key: raw.key as u8,
                    channel: raw.channel as u8,
                    velocity: raw.velocity,
                });
            } else if let Some(e) = event.as_event::<NoteOffEvent>() {
                let raw = e.as_raw();
                events.push(Out {
                    time,
                    on: false,
                    key: raw.key as u8,
                    channel: raw.channel as u8,
                    velocity: raw.velocity,
                });
            } else {
                if let Some(e) = event.as_event::<MidiEvent>() {
                    midi.push((time, e.data()));
                }
                other += 1;
            }
        }
        let block = Block {
            pos: sent_pos,
            sample_rate: self.sample_rate,
            tempo: self.transport.tempo,
            frames,
            playing: self.transport.playing,
            events,
            other_events: other,
            midi,
            true_pos,
        };
        if self.transport.playing {
            self.transport.pos += frames as f64 * self.transport.tempo / 60.0 / self.sample_rate;
        }
        self.steady_time += frames as u64;
        block
    }
}

/// The JSON inside a saved state (nice-plug writes its length as a little-endian u64 first).
pub fn state_text(bytes: &[u8]) -> String {
    assert!(bytes.len() >= 8, "state too short");
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(len, bytes.len() - 8, "state length prefix");
    String::from_utf8(bytes[8..].to_vec()).expect("state is JSON")
}

/// A state from JSON text, framed as nice-plug frames it.
pub fn state_from_text(text: &str) -> Vec<u8> {
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out
}

/// The phrase saved in a state (the last one generated), notes in absolute beats.
pub fn saved_phrase(state: &[u8]) -> continuo::engine::phrase::SavedPhrase {
    let json: serde_json::Value = serde_json::from_str(&state_text(state)).expect("state JSON");
    let field = json["fields"]["phrase"].as_str().expect("phrase field");
    serde_json::from_str(field).expect("phrase JSON")
}

/// The generated events (those on `channel`) of each block, as (block, offset, key, on).
pub fn generated(blocks: &[Block], channel: u8) -> Vec<(usize, u32, u8, bool)> {
    blocks
        .iter()
        .enumerate()
        .flat_map(|(i, b)| {
            b.events
                .iter()
                .filter(|e| e.channel == channel)
                .map(move |e| (i, e.time, e.key, e.on))
        })
        .collect()
}

/// Where the phrase's note-ons and note-offs must fall in these blocks: in block `i` at
/// `round((beat - pos) * 60 / tempo * sample_rate)` when that is inside the block.
pub fn expected_events(
    blocks: &[Block],
    phrase: &continuo::engine::phrase::SavedPhrase,
) -> Vec<(usize, u32, u8, bool)> {
    let mut beats: Vec<(f64, bool, u8)> = phrase
        .notes
        .iter()
        .flat_map(|n| {
            [
                (n.start_beats, true, n.pitch),
                (n.end_beats, false, n.pitch),
            ]
        })
        .collect();
    beats.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut out = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        for &(beat, on, key) in &beats {
            let offset = block.offset_of(beat);
            if offset >= 0.0 && offset < block.frames as f64 {
                out.push((i, offset as u32, key, on));
            }
        }
    }
    out.sort_by_key(|e| (e.0, e.1, e.3, e.2));
    out
}

/// Checks a stream of note events: no pitch struck while it sounds, every note-off ends a
/// sounding note. Returns the pitches still sounding.
pub fn check_pairs(events: &[(usize, u32, u8, bool)]) -> Vec<u8> {
    let mut sounding = [false; 128];
    for &(block, offset, key, on) in events {
        if on {
            assert!(
                !sounding[key as usize],
                "key {key} struck while sounding (block {block}, offset {offset})"
            );
        } else {
            assert!(
                sounding[key as usize],
                "note-off for silent key {key} (block {block}, offset {offset})"
            );
        }
        sounding[key as usize] = on;
    }
    (0..128u8).filter(|k| sounding[*k as usize]).collect()
}

/// Real notes: the opening `beats` of a Bach chorale from the fixtures, as
/// (sample, key, on, velocity) at `tempo` and 48 kHz, starting at sample `from`.
pub fn chorale(file: &str, beats: f64, tempo: f64, from: u64) -> Vec<(u64, u8, bool, u8)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    let song = continuo::midi::read_file(&path, Default::default()).expect("fixture");
    let samples = |b: f64| from + (b * 60.0 / tempo * SAMPLE_RATE).round() as u64;
    let mut events: Vec<(u64, u8, bool, u8)> = song
        .notes
        .iter()
        .filter(|n| n.start_beats < beats)
        .flat_map(|n| {
            [
                (samples(n.start_beats), n.pitch, true, n.velocity),
                (samples(n.end_beats.min(beats)), n.pitch, false, 0),
            ]
        })
        .collect();
    events.sort_by_key(|e| (e.0, e.2, e.1));
    events
}

/// The events of `events` that fall in the block `[start, start + frames)`.
pub fn events_in(events: &[(u64, u8, bool, u8)], start: u64, frames: u32) -> Vec<In> {
    events
        .iter()
        .filter(|e| e.0 >= start && e.0 < start + frames as u64)
        .map(|e| {
            let time = (e.0 - start) as u32;
            if e.2 {
                In::On {
                    time,
                    key: e.1,
                    velocity: e.3 as f64 / 127.0,
                }
            } else {
                In::Off { time, key: e.1 }
            }
        })
        .collect()
}

/// A small deterministic random source for block sizes and fuzzing.
#[derive(Debug, Clone, Copy)]
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Host {
    /// The plugin's main-thread handle, for extensions a test drives itself (the GUI).
    pub fn main_thread(&mut self) -> PluginMainThreadHandle<'_> {
        self.instance.plugin_handle()
    }
}

/// The test host's callbacks. Like a DAW, it offers the GUI extension (nice-plug's editor needs
/// the host side of it to open); other requests are acknowledged and ignored.
pub struct TestHost;
pub struct TestShared;
pub struct TestMainThread;
pub struct TestAudio;

impl<'a> SharedHandler<'a> for TestShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

impl HostGuiImpl for TestShared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {}
}

impl<'a> MainThreadHandler<'a> for TestMainThread {}
impl<'a> AudioProcessorHandler<'a> for TestAudio {}

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = TestMainThread;
    type AudioProcessor<'a> = TestAudio;

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGui>();
    }
}

/// The last generated phrase from the plugin's state, once the inference thread has recorded
/// it (it does so a few milliseconds after the audio thread schedules the phrase).
pub fn wait_saved_phrase(host: &mut Host) -> continuo::engine::phrase::SavedPhrase {
    let started = std::time::Instant::now();
    loop {
        let phrase = saved_phrase(&host.save_state());
        if !phrase.notes.is_empty() || started.elapsed() > std::time::Duration::from_secs(10) {
            return phrase;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The chorale fixtures, as a folder of their own (tests/fixtures also holds other pieces):
/// what the CLI tests train and evaluate on.
pub fn chorale_folder() -> &'static str {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in CHORALE_FIXTURES {
            std::fs::copy(fixtures.join(name), dir.path().join(name)).expect("copy fixture");
        }
        dir
    });
    dir.path().to_str().expect("UTF-8 temp path")
}

/// The Bach chorales in tests/fixtures.
pub const CHORALE_FIXTURES: [&str; 4] = ["bwv66.6.mid", "bwv323.mid", "bwv281.mid", "bwv165.6.mid"];
