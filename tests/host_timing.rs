//! Real hosts through a real CLAP host, with the embedded default model: transports whose
//! positions are rounded (1/1920, 1/960, 1/96 beat) and jittered (±16 samples) at 60–180 BPM and
//! block sizes from 32 to 4096; Ardour's bar starts outside 4/4; a session restore's controller
//! flood. The plugin is a debug build with `assert_process_allocs`.

mod common;

use std::time::{Duration, Instant};

use common::*;

const OUT: u8 = 2;

fn param(name: &'static str, value: f64) -> In {
    In::Param {
        time: 0,
        name,
        value,
    }
}

fn setup(quantize: f64, bars: i32) -> Vec<In> {
    vec![
        param("Output channel", OUT as f64),
        param("Seed", 23.0),
        param("Length", (bars - 1) as f64),
        param("Start quantize", quantize),
        param("Mode", 0.0),
    ]
}

/// Presses Generate, then gives the inference thread the wall time a real host's blocks would
/// (these tests process blocks as fast as they go, far faster than real time: a phrase that
/// streams would otherwise fall behind the playhead and wait, which `tests/host_streaming.rs`
/// tests on its own).
fn press(audio: &mut Audio, blocks: &mut Vec<Block>) {
    blocks.push(audio.block(64, &[param("Generate", 1.0)]));
    blocks.push(audio.block(64, &[param("Generate", 0.0)]));
    std::thread::sleep(std::time::Duration::from_millis(150));
}

/// Generated events as (true beat, key, on): where the host's own sample count was.
fn true_events(blocks: &[Block]) -> Vec<(f64, u8, bool)> {
    let mut out = Vec::new();
    for b in blocks {
        let bps = b.tempo / 60.0 / b.sample_rate;
        for e in b.events.iter().filter(|e| e.channel == OUT) {
            out.push((b.true_pos + e.time as f64 * bps, e.key, e.on));
        }
    }
    out
}

#[test]
fn generated_notes_stay_on_the_grid_when_the_host_rounds_and_jitters_its_position() {
    let cases = [
        (60.0, 1.0 / 1920.0, 32u32),
        (90.0, 1.0 / 960.0, 333),
        (120.0, 1.0 / 1920.0, 1024),
        (137.0, 1.0 / 96.0, 4096),
        (180.0, 1.0 / 960.0, 0),
    ];
    for (case, &(tempo, rounding, block)) in cases.iter().enumerate() {
        let mut host = Host::new();
        let mut transport = Transport {
            tempo,
            rounding,
            jitter_samples: 16,
            rng: Rng(case as u64 + 3),
            ..Transport::default()
        };
        let blocks = host.audio(&mut transport, |audio| {
            let mut blocks = vec![audio.block(512, &setup(0.0, 1))];
            play_chorale(audio, 4.0, &mut blocks);
            press(audio, &mut blocks);
            let mut rng = Rng(case as u64 + 100);
            let started = Instant::now();
            // Until the 1-bar phrase has come and gone: 5 beats after its first note, and on
            // until its last note has ended (a phrase that waited for its generation, on a busy
            // machine, lasts longer than its bar).
            let mut end = f64::INFINITY;
            let mut sounding = [false; 128];
            while audio.transport.pos < end || sounding.iter().any(|&s| s) {
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "no phrase, or notes still sounding after 120 s"
                );
                let frames = if block == 0 {
                    rng.below(4096) as u32 + 1
                } else {
                    block
                };
                let b = audio.block(frames, &[]);
                if end.is_infinite() && b.events.iter().any(|e| e.channel == OUT) {
                    end = b.true_pos + 5.0;
                }
                for e in b.events.iter().filter(|e| e.channel == OUT) {
                    sounding[e.key as usize] = e.on;
                }
                blocks.push(b);
                // Twice as fast as real time: the phrase streams from the inference thread,
                // which must stay ahead of the playhead however busy the machine is (played
                // unpaced, a loaded machine made it wait and outlast the test's window).
                std::thread::sleep(Duration::from_secs_f64(
                    frames as f64 / audio.sample_rate / 2.0,
                ));
            }
            blocks
        });
        let events = true_events(&blocks);
        let tag = format!(
            "{tempo} BPM, rounding 1/{:.0}, block {block}",
            1.0 / rounding
        );
        assert!(events.len() >= 4, "{tag}: only {} events", events.len());
        let samples_per_beat = 60.0 / tempo * SAMPLE_RATE;
        let allowed = rounding / 2.0 * samples_per_beat + 16.0 + 1.0;
        let mut on_at = [None::<f64>; 128];
        let mut max_deviation = 0.0f64;
        for &(beat, key, on) in &events {
            let step = (beat * 4.0).round() / 4.0;
            let deviation = (beat - step).abs() * samples_per_beat;
            max_deviation = max_deviation.max(deviation);
            assert!(
                deviation <= allowed,
                "{tag}: key {key} at beat {beat:.5}, {deviation:.1} samples off its step"
            );
            if on {
                assert!(on_at[key as usize].is_none(), "{tag}: {key} struck twice");
                on_at[key as usize] = Some(beat);
            } else {
                let start = on_at[key as usize]
                    .take()
                    .expect("note-off without note-on");
                let length = (beat - start) * samples_per_beat;
                let step = samples_per_beat / 4.0;
                let whole = (length / step).round() * step;
                assert!(
                    length >= step - 1.0 && (length - whole).abs() <= 1.0,
                    "{tag}: key {key} lasts {length:.1} samples, a step is {step:.1} \
                     (a phantom jump cuts notes)"
                );
            }
        }
        assert!(
            on_at.iter().all(Option::is_none),
            "{tag}: notes left sounding"
        );
        eprintln!(
            "{tag}: {} events, max {max_deviation:.1} samples from the true grid",
            events.len()
        );
    }
}

#[test]
fn bar_quantize_in_three_four_follows_the_meter_when_the_host_counts_four_beat_bars() {
    let mut host = Host::new();
    let mut transport = Transport {
        time_signature: (3, 4),
        four_beat_bars: true,
        rounding: 1.0 / 1920.0,
        ..Transport::default()
    };
    let blocks = host.audio(&mut transport, |audio| {
        // Bar quantize (2), a 2-bar phrase.
        let mut blocks = vec![audio.block(512, &setup(2.0, 2))];
        play_chorale(audio, 4.0, &mut blocks);
        press(audio, &mut blocks);
        let started = Instant::now();
        let mut end = f64::INFINITY;
        while audio.transport.pos < end {
            assert!(started.elapsed() < Duration::from_secs(120), "no phrase");
            let b = audio.block(512, &[]);
            if end.is_infinite() && b.events.iter().any(|e| e.channel == OUT) {
                end = b.true_pos + 8.0;
            }
            blocks.push(b);
            std::thread::sleep(Duration::from_millis(1));
        }
        blocks
    });
    let events = true_events(&blocks);
    let first = events.iter().find(|e| e.2).expect("a note").0;
    assert!(
        (first / 3.0 - (first / 3.0).round()).abs() < 1e-3,
        "the phrase starts at beat {first}, not on a 3/4 bar line"
    );
    let last = events.iter().map(|e| e.0).fold(0.0, f64::max);
    assert!(
        last <= first + 6.0 + 1e-3,
        "a 2-bar phrase in 3/4 ends by {}",
        first + 6.0
    );
}

#[test]
fn a_restored_state_and_a_controller_flood_reach_nobody_but_played_controllers_pass() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    host.audio(&mut transport, |audio| {
        audio.block(512, &[]);
    });
    let state = host.save_state();
    // Reopen: a new instance loads the state and the host sends every controller at 64.
    let mut host = Host::new();
    host.load_state(&state).expect("state loads");
    let mut transport = Transport::default();
    let flood: Vec<In> = (0..16u8)
        .flat_map(|ch| {
            (0..120u8).map(move |cc| In::Midi {
                time: 0,
                data: [0xB0 | ch, cc, 64],
            })
        })
        .chain((0..16u8).map(|ch| In::Midi {
            time: 0,
            data: [0xE0 | ch, 0, 64],
        }))
        .collect();
    let (restored, played) = host.audio(&mut transport, |audio| {
        let mut restored = 0;
        for chunk in flood.chunks(400) {
            restored += audio.block(1024, chunk).midi.len();
        }
        // A quarter second later the player's pedal and bend pass through. Nothing of the
        // restore may come out in between either.
        for _ in 0..16 {
            restored += audio.block(1024, &[]).midi.len();
        }
        let b = audio.block(
            1024,
            &[
                In::Midi {
                    time: 10,
                    data: [0xB0, 64, 127],
                },
                In::Midi {
                    time: 20,
                    data: [0xE0, 0, 80],
                },
                In::Midi {
                    time: 30,
                    data: [0xB0, 64, 0],
                },
            ],
        );
        (restored, b.midi)
    });
    assert_eq!(
        restored, 0,
        "the session restore's controllers were passed on"
    );
    let kinds: Vec<(u32, u8, u8)> = played.iter().map(|(t, d)| (*t, d[0], d[1])).collect();
    assert_eq!(kinds, [(10, 0xB0, 64), (20, 0xE0, 0), (30, 0xB0, 64)]);
}
