//! The soak: the built plugin (debug, with `assert_process_allocs`: any allocation in
//! `process()` aborts) driven through the CLAP host by random blocks — transport jumps, loops,
//! stops, tempo and time-signature changes, rounded and jittered host positions, bypass,
//! automation of every parameter, played notes with pedal and controllers, model swaps (the
//! default model as a file, a corrupt file, back to the built-in one), state save and load,
//! deactivation and sample rates from 22.05 to 192 kHz, blocks of 1 to 4096 samples.
//!
//! Checked every block: every generated note-on is followed by exactly one note-off before the
//! same key strikes again; nothing generated sounds after a stop, a bypass or a deactivation;
//! events are sorted and inside the block, audio has no NaN (the host checks both); the output
//! fits the host's queue. The run reports blocks, notes and violations; there must be none.
//!
//! `cargo test` runs 10⁵ blocks; `cargo xtask soak --blocks N` runs N (it sets `CONTINUO_SOAK_BLOCKS`).

mod common;

use std::time::{Duration, Instant};

use common::*;

/// What the soak found.
#[derive(Debug, Default)]
struct Report {
    blocks: u64,
    notes: u64,
    segments: u64,
    jumps: u64,
    violations: Vec<String>,
}

impl Report {
    fn violation(&mut self, what: String) {
        if self.violations.len() < 50 {
            self.violations.push(what);
        } else if self.violations.len() == 50 {
            self.violations.push("(more)".into());
        }
    }
}

/// Generated notes sounding, per channel and key (the soak keeps generated output on channels
/// 2–16, pass-through on channel 1).
struct Sounding([[bool; 128]; 16]);

impl Sounding {
    fn count(&self) -> usize {
        self.0.iter().flatten().filter(|s| **s).count()
    }
}

fn sounding_keys(sounding: &Sounding) -> Vec<(u8, u8)> {
    (0..16u8)
        .flat_map(|c| (0..128u8).map(move |k| (c, k)))
        .filter(|&(c, k)| sounding.0[c as usize][k as usize])
        .collect()
}

const PARAMS: [&str; 11] = [
    "Temperature",
    "Length",
    "Mode",
    "Generate",
    "Response gap",
    "Velocity",
    "Output channel",
    "Start quantize",
    "Seed",
    "Thru",
    "Bypass",
];

/// A random value for a parameter, in CLAP units (normalized floats, steps for the rest).
fn random_value(name: &str, rng: &mut Rng) -> f64 {
    match name {
        "Temperature" | "Response gap" => rng.unit(),
        "Length" => rng.below(8) as f64,
        "Mode" | "Start quantize" => rng.below(3) as f64,
        "Generate" | "Thru" => rng.below(2) as f64,
        "Velocity" => rng.below(128) as f64,
        // Channels 2–16: generated notes stay apart from pass-through on channel 1.
        "Output channel" => 1.0 + rng.below(15) as f64,
        "Seed" => rng.below(10_000) as f64,
        _ => (rng.below(6) == 0) as u8 as f64,
    }
}

fn soak(blocks: u64, seed: u64) -> Report {
    let mut rng = Rng(seed);
    let mut report = Report::default();
    let dir = tempfile::tempdir().unwrap();
    let model_file = dir.path().join("default-copy.safetensors");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/chorale-seed.safetensors"),
        &model_file,
    )
    .unwrap();
    let corrupt = dir.path().join("corrupt.safetensors");
    let mut bytes = std::fs::read(&model_file).unwrap();
    bytes.truncate(bytes.len() / 3);
    std::fs::write(&corrupt, bytes).unwrap();

    let mut host = Host::with_config(true, 48_000.0);
    let mut sounding = Sounding([[false; 128]; 16]);
    let mut transport = Transport {
        rounding: 1.0 / 1920.0,
        jitter_samples: 8,
        ..Transport::default()
    };
    let started = Instant::now();
    while report.blocks < blocks {
        report.segments += 1;
        // The main thread's turn: nice-plug's queued GUI tasks run.
        host.idle();
        // Between segments, as a host would: maybe a new sample rate (deactivate, activate),
        // a state saved and loaded back, a model swap through the state.
        match rng.below(6) {
            0 | 1 => {
                host.deactivate();
                host.sample_rate = [22_050.0, 44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0]
                    [rng.below(6) as usize];
                host.activate();
            }
            2 | 3 => {
                let mut state: serde_json::Value =
                    serde_json::from_str(&state_text(&host.save_state())).expect("state JSON");
                let path = match rng.below(4) {
                    0 => model_file.to_str().unwrap().to_string(),
                    1 => corrupt.to_str().unwrap().to_string(),
                    _ => String::new(),
                };
                // Persisted fields are JSON strings holding JSON.
                state["fields"]["model-path"] =
                    serde_json::Value::String(serde_json::to_string(&path).unwrap());
                let modified = serde_json::to_string(&state).unwrap();
                if host.load_state(&state_from_text(&modified)).is_err() {
                    report.violation("the plugin refused its own state".into());
                }
            }
            _ => {}
        }
        let segment_blocks = (200 + rng.below(3000)).min(blocks - report.blocks);
        let was_sounding = sounding_keys(&sounding);
        let mut seg_rng = Rng(rng.next());
        let (done, notes, jumps, violations) = host.audio(&mut transport, |audio| {
            let rng = &mut seg_rng;
            let mut violations = Vec::new();
            let mut notes = 0u64;
            let mut jumps = 0u64;
            let mut held_input = [false; 128];
            for i in 0..segment_blocks {
                let frames = match rng.below(4) {
                    0 => 1 + rng.below(64) as u32,
                    1 => 1 + rng.below(4096) as u32,
                    _ => [32, 64, 128, 256, 512, 1024, 2048, 4096][rng.below(8) as usize],
                };
                let mut input = Vec::new();
                for _ in 0..rng.below(3) {
                    let time = rng.below(frames as u64) as u32;
                    let key = 21 + rng.below(88) as u8;
                    if held_input[key as usize] {
                        input.push(In::Off { time, key });
                    } else {
                        input.push(In::On {
                            time,
                            key,
                            velocity: 0.1 + 0.9 * rng.unit(),
                        });
                    }
                    held_input[key as usize] = !held_input[key as usize];
                }
                if rng.below(40) == 0 {
                    let time = rng.below(frames as u64) as u32;
                    let data = match rng.below(3) {
                        0 => [0xB0, 64, if rng.below(2) == 0 { 0 } else { 127 }],
                        1 => [0xB0, rng.below(120) as u8, rng.below(128) as u8],
                        _ => [0xE0, 0, rng.below(128) as u8],
                    };
                    input.push(In::Midi { time, data });
                }
                for _ in 0..(rng.below(40) == 0) as u8 + (rng.below(40) == 0) as u8 {
                    let name = PARAMS[rng.below(PARAMS.len() as u64) as usize];
                    let value = random_value(name, rng);
                    input.push(In::Param {
                        time: 0,
                        name,
                        value,
                    });
                }
                // Mostly Generate presses and musical playing; now and then the transport moves.
                if rng.below(500) == 0 {
                    input.push(In::Param {
                        time: 0,
                        name: "Generate",
                        value: 1.0,
                    });
                }
                let was_playing = audio.transport.playing;
                let mut jumped = false;
                match rng.below(400) {
                    0 => audio.transport.playing = !audio.transport.playing,
                    1 => {
                        audio.transport.pos = rng.below(256) as f64 / 4.0;
                        jumped = true;
                    }
                    2 => {
                        // A loop back by a bar.
                        audio.transport.pos = (audio.transport.pos - 4.0).max(0.0);
                        jumped = true;
                    }
                    3 => audio.transport.tempo = 40.0 + rng.unit() * 200.0,
                    4 => {
                        audio.transport.time_signature =
                            [(4, 4), (3, 4), (6, 8), (7, 8), (5, 4)][rng.below(5) as usize];
                        audio.transport.four_beat_bars = rng.below(2) == 0;
                    }
                    5 => {
                        audio.transport.rounding =
                            [0.0, 1.0 / 1920.0, 1.0 / 960.0, 1.0 / 96.0][rng.below(4) as usize];
                        audio.transport.jitter_samples = rng.below(17) as u32;
                    }
                    6 => audio.transport.absent = !audio.transport.absent,
                    _ => {}
                }
                input.sort_by_key(In::time);
                if i == 0 {
                    input.insert(
                        0,
                        In::Param {
                            time: 0,
                            name: "Bypass",
                            value: 0.0,
                        },
                    );
                }
                let bypass_on = input
                    .iter()
                    .any(|e| matches!(e, In::Param { name: "Bypass", value, .. } if *value > 0.5));
                let before: Vec<(u8, u8)> = sounding_keys(&sounding);
                let block = audio.block(frames, &input);
                let ended = |c: u8, k: u8| {
                    block
                        .events
                        .iter()
                        .any(|e| !e.on && e.channel == c && e.key == k && e.time == 0)
                };
                if block.events.len() + block.other_events > 1024 + input.len() {
                    violations.push(format!(
                        "block {i}: {} events do not fit the host's queue",
                        block.events.len()
                    ));
                }
                for e in block.events.iter().filter(|e| e.channel != 0) {
                    let s = &mut sounding.0[e.channel as usize & 15][e.key as usize];
                    if e.on {
                        if *s {
                            violations.push(format!(
                                "block {i}: key {} on channel {} struck while sounding",
                                e.key, e.channel
                            ));
                        }
                        notes += 1;
                    } else if !*s {
                        violations.push(format!(
                            "block {i}: note-off for silent key {} on channel {}",
                            e.key, e.channel
                        ));
                    }
                    *s = e.on;
                }
                let playing_stopped =
                    was_playing && !audio.transport.playing && !audio.transport.absent;
                if jumped {
                    jumps += 1;
                }
                if playing_stopped || bypass_on {
                    // The stop or bypass block ends, at its first sample, every generated note
                    // that sounded before it (a stopped transport may start new ones on the
                    // internal clock later in the block; a bypass never).
                    for &(c, k) in &before {
                        if !ended(c, k) {
                            violations.push(format!(
                                "block {i}: key {k} on channel {c} not ended by the {}",
                                if bypass_on { "bypass" } else { "stop" }
                            ));
                        }
                    }
                    if bypass_on && sounding.count() > 0 {
                        violations.push(format!("block {i}: notes struck while bypassed"));
                    }
                }
                if i == 0 {
                    // The first block after an activation ends what sounded before it.
                    for &(c, k) in &was_sounding {
                        if !ended(c, k) {
                            violations.push(format!(
                                "segment start: key {k} on channel {c} still sounds from before"
                            ));
                        }
                    }
                }
                // Give the inference thread time: blocks here run far faster than real time.
                std::thread::sleep(Duration::from_micros(150));
            }
            // Half the segments end bypassed (nothing generated may sound after it); the
            // others leave notes sounding into the deactivation and the next segment.
            if rng.below(2) == 0 {
                let before = sounding_keys(&sounding);
                let b = audio.block(
                    64,
                    &[In::Param {
                        time: 0,
                        name: "Bypass",
                        value: 1.0,
                    }],
                );
                for e in b.events.iter().filter(|e| e.channel != 0) {
                    sounding.0[e.channel as usize & 15][e.key as usize] = e.on;
                }
                for (c, k) in before {
                    if !b
                        .events
                        .iter()
                        .any(|e| !e.on && e.channel == c && e.key == k)
                    {
                        violations.push(format!(
                            "segment end: key {k} on channel {c} outlives the bypass"
                        ));
                    }
                }
            }
            (segment_blocks, notes, jumps, violations)
        });
        report.blocks += done;
        report.notes += notes;
        report.jumps += jumps;
        for v in violations {
            report.violation(v);
        }
    }
    eprintln!(
        "soak: {} blocks in {} segments, {} generated notes, {} transport jumps, {} violations, {:.0} s",
        report.blocks,
        report.segments,
        report.notes,
        report.jumps,
        report.violations.len(),
        started.elapsed().as_secs_f64()
    );
    report
}

#[test]
fn soak_the_plugin_through_a_clap_host() {
    let blocks = std::env::var("CONTINUO_SOAK_BLOCKS")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(100_000);
    let seed = std::env::var("CONTINUO_SOAK_SEED")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(20_261_201);
    let report = soak(blocks, seed);
    assert!(
        report.notes > 100,
        "the soak generated only {} notes",
        report.notes
    );
    assert!(
        report.violations.is_empty(),
        "{} violations:\n{}",
        report.violations.len(),
        report.violations.join("\n")
    );
}
