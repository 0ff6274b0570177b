//! Continuo: a MIDI effect that continues what a musician plays with a neural network trained on
//! classical piano music. See `DESIGN.md` in the shared notes for how the parts fit:
//! `midi` → `roll` → `model` → `engine` → the plugin shell in this file.
//!
//! This file is the nice-plug glue only: it turns the host's events and transport into the
//! engine's terms and the engine's events back into the host's. Everything else is in `engine`.

pub mod cli;
pub mod corpus;
pub mod editor;
pub mod engine;
pub mod fs_safe;
pub mod judge;
pub mod midi;
pub mod model;
pub mod params;
pub mod roll;

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

use engine::clock::HostTransport;
use engine::phrase::MAX_VARIATIONS;
use engine::snapshot::{snapshot_channels, AudioSnapshot, SnapshotReader, WorkerSnapshot};
use engine::worker::{GeneratorSource, WorkerHandle, WorkerShared};
use engine::{Engine, Input, Live, Out, Settings, Sink, MAX_INPUT_EVENTS};
use params::ContinuoParams;

/// One plugin instance.
pub struct Continuo {
    params: Arc<ContinuoParams>,
    /// The editor's end of the snapshots (only GUI code locks it).
    snapshots: Arc<parking_lot::Mutex<SnapshotReader>>,
    /// Writers handed to the engine and the inference thread at the first activation.
    audio_snapshot: Option<triple_buffer::Input<AudioSnapshot>>,
    worker_snapshot: Option<triple_buffer::Input<WorkerSnapshot>>,
    engine: Option<Engine<PluginNoteEvent<Self>>>,
    /// The inference thread; started at the first activation, never at scan time.
    worker: Option<WorkerHandle>,
    /// This block's input events (sized in `activate`).
    input: Vec<Input<PluginNoteEvent<Self>>>,
    sample_rate: f64,
}

impl Default for Continuo {
    fn default() -> Self {
        let (audio, worker, reader) = snapshot_channels();
        Self {
            params: Arc::new(ContinuoParams::default()),
            snapshots: Arc::new(parking_lot::Mutex::new(reader)),
            audio_snapshot: Some(audio),
            worker_snapshot: Some(worker),
            engine: None,
            worker: None,
            input: Vec::new(),
            sample_rate: 48_000.0,
        }
    }
}

impl Continuo {
    /// The editor's view of the engine (see `engine::snapshot`).
    pub fn snapshots(&self) -> Arc<parking_lot::Mutex<SnapshotReader>> {
        self.snapshots.clone()
    }

    fn settings(&self) -> Settings {
        let p = &self.params;
        Settings {
            mode: p.mode.value(),
            generate: p.generate.value(),
            generate_presses: p
                .generate_presses
                .load(std::sync::atomic::Ordering::Acquire),
            temperature: p.temperature.value(),
            controls: engine::controls::Controls {
                density: p.density.value(),
                lowest: p.lowest.value().clamp(0, 127) as u8,
                highest: p.highest.value().clamp(0, 127) as u8,
                max_keys: p.polyphony.value().clamp(1, 88) as u8,
                follow_key: p.follow_key.value(),
            },
            length_bars: p.length_bars.value().clamp(1, 32) as u32,
            variations: p.variations_count.value().clamp(1, MAX_VARIATIONS as i32) as u8,
            variation: (p.variation.value().clamp(1, MAX_VARIATIONS as i32) - 1) as u8,
            response_gap: p.response_gap.value() as f64,
            velocity: p.velocity.value().clamp(0, 127) as u8,
            channel: (p.output_channel.value().clamp(1, 16) - 1) as u8,
            quantize: p.start_quantize.value(),
            seed: p.seed.value().max(0) as u64,
            thru: p.thru.value(),
            bypass: p.bypass.value(),
            state_loads: p.phrase.loaded_version(),
        }
    }

    /// Starts the inference thread and the engine (main thread, first activation).
    fn start_engine(&mut self) {
        if self.engine.is_none() {
            let snapshot = self
                .audio_snapshot
                .take()
                .unwrap_or_else(|| snapshot_channels().0);
            self.engine = Some(Engine::new(None, snapshot));
        }
        if self.worker.is_none() {
            let snapshot = self
                .worker_snapshot
                .take()
                .unwrap_or_else(|| snapshot_channels().1);
            let shared = WorkerShared {
                model_path: self.params.model_path.clone(),
                phrase: self.params.phrase.clone(),
            };
            match engine::worker::spawn(generator_source(), shared, snapshot) {
                Ok((handle, link)) => {
                    self.worker = Some(handle);
                    if let Some(engine) = &mut self.engine {
                        engine.set_link(link);
                    }
                }
                Err(error) => nice_error!("Continuo: could not start the inference thread ({error}); passing notes through only"),
            }
        }
    }
}

/// Where models come from in the plugin.
fn generator_source() -> Box<dyn GeneratorSource> {
    Box::new(engine::model_source::ModelSource)
}

/// The host's output queue as the engine's sink.
struct HostSink<'a, C> {
    context: &'a mut C,
}

impl<C: ProcessContext<Continuo>> Sink<PluginNoteEvent<Continuo>> for HostSink<'_, C> {
    fn send(&mut self, timing: u32, event: &Out<PluginNoteEvent<Continuo>>) -> bool {
        let event = match *event {
            Out::Thru(mut raw) => {
                let late = raw.timing().saturating_sub(timing);
                raw.subtract_timing(late);
                raw
            }
            Out::Note(n) if n.on => NoteEvent::NoteOn {
                timing,
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(n.channel),
                key: Key::Number(n.pitch),
                velocity: n.velocity as f32 / 127.0,
            },
            Out::Note(n) => NoteEvent::NoteOff {
                timing,
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(n.channel),
                key: Key::Number(n.pitch),
                velocity: 0.0,
            },
            Out::PedalUp { channel } => NoteEvent::MidiCC {
                timing,
                channel,
                cc: midi::sustain::CC_SUSTAIN,
                value: 0.0,
            },
        };
        self.context.try_send_event(event).is_ok()
    }
}

/// What an incoming event means to the engine.
fn live(event: &PluginNoteEvent<Continuo>) -> Live {
    // A note without a channel (CLAP allows -1) is heard as channel 1.
    let note = |channel: Channel, key: Key| {
        Some((
            channel.number().unwrap_or(0).min(15),
            key.number()?.min(127),
        ))
    };
    match *event {
        NoteEvent::NoteOn {
            channel,
            key,
            velocity,
            ..
        } => match note(channel, key) {
            Some((channel, pitch)) if velocity > 0.0 => Live::NoteOn {
                channel,
                pitch,
                velocity: (velocity * 127.0).round().clamp(1.0, 127.0) as u8,
            },
            Some((channel, pitch)) => Live::NoteOff { channel, pitch },
            None => Live::Other,
        },
        NoteEvent::NoteOff { channel, key, .. } | NoteEvent::Choke { channel, key, .. } => {
            match note(channel, key) {
                Some((channel, pitch)) => Live::NoteOff { channel, pitch },
                None => Live::Other,
            }
        }
        NoteEvent::MidiCC {
            channel, cc, value, ..
        } => Live::Control {
            channel: channel.min(15),
            controller: cc.min(127),
            value: (value * 127.0).round().clamp(0.0, 127.0) as u8,
        },
        NoteEvent::MidiPitchBend { .. }
        | NoteEvent::MidiChannelPressure { .. }
        | NoteEvent::PolyPressure { .. }
        | NoteEvent::MidiProgramChange { .. } => Live::Expression,
        _ => Live::Other,
    }
}

impl Plugin for Continuo {
    const NAME: &'static str = "Continuo";
    const VENDOR: &'static str = "Continuo";
    const URL: &'static str = "https://github.com/continuo-music/continuo";
    const EMAIL: &'static str = "continuo@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    // Stereo pass-through first (Ableton will not open a VST3 without audio), then no audio.
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: None,
            main_output_channels: None,
            ..AudioIOLayout::const_default()
        },
    ];

    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;
    const INPUT_EVENT_CAPACITY: usize = MAX_INPUT_EVENTS;

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = editor::ContinuoEditorHandle;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.snapshots.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.sample_rate = config.sample_rate as f64;
        if self.input.capacity() < MAX_INPUT_EVENTS {
            self.input = Vec::with_capacity(MAX_INPUT_EVENTS);
        }
        self.start_engine();
        if let Some(engine) = &mut self.engine {
            engine.reset(self.sample_rate);
        }
        true
    }

    fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.reset(self.sample_rate);
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // Audio passes through untouched (the buffer already holds the input).
        let frames = buffer.samples() as u32;
        let settings = self.settings();
        let transport = context.transport();
        let host = HostTransport {
            playing: transport.playing,
            tempo: transport.tempo,
            pos_beats: transport.pos_beats(),
            time_signature: transport
                .time_sig_numerator
                .zip(transport.time_sig_denominator),
            bar_start_beats: transport.bar_start_pos_beats(),
        };
        self.input.clear();
        while let Some(event) = context.next_event() {
            if self.input.len() < self.input.capacity() {
                self.input.push(Input {
                    timing: event.timing(),
                    live: live(&event),
                    raw: event,
                });
            }
        }
        if let Some(engine) = &mut self.engine {
            let mut sink = HostSink { context };
            engine.process(
                &host,
                frames,
                self.sample_rate,
                &settings,
                &self.input,
                &mut sink,
            );
        }
        ProcessStatus::KeepAlive
    }

    /// Nothing can be sent while inactive: the engine keeps its sounding-note table and ends
    /// those notes in the first block after the next activation (see `Engine::reset`).
    fn deactivate(&mut self) {}
}

impl ClapPlugin for Continuo {
    const CLAP_ID: &'static str = "org.continuo.continuo";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Continues what you play with a network trained on classical piano music");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[ClapFeature::NoteEffect, ClapFeature::Utility];
}

impl Vst3Plugin for Continuo {
    const VST3_CLASS_ID: [u8; 16] = *b"ContinuoMidiFx01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Instrument, Vst3SubCategory::Fx];
}

nice_export_clap!(Continuo);
nice_export_vst3!(Continuo);
