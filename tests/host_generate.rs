//! Generation through a real CLAP host, with the embedded default model: the phrase's notes
//! must leave at exactly the sample where the transport reaches their grid step (expected
//! offsets computed here from each block's tempo and position, zero samples of error), across
//! block boundaries and tempo changes; stop and loop end every generated note in that block; the
//! three trigger modes work; random parameters, transport, notes, block sizes and sample rates
//! never break the rules. The plugin is a debug build with nice-plug's `assert_process_allocs`:
//! any allocation inside `process()` aborts these tests.

mod common;

use std::time::{Duration, Instant};

use common::*;

const OUT: u8 = 2; // Output channel 3, so generated notes are told apart from pass-through (channel 1).

fn setup(mode: f64, length_bars: i32, quantize: f64) -> Vec<In> {
    vec![
        In::Param {
            time: 0,
            name: "Output channel",
            value: OUT as f64,
        },
        In::Param {
            time: 0,
            name: "Seed",
            value: 11.0,
        },
        In::Param {
            time: 0,
            name: "Length",
            value: (length_bars - 1) as f64,
        },
        In::Param {
            time: 0,
            name: "Start quantize",
            value: quantize,
        },
        In::Param {
            time: 0,
            name: "Mode",
            value: mode,
        },
        In::Param {
            time: 0,
            name: "Temperature",
            value: (0.8 - 0.05) / 1.95,
        },
    ]
}

/// Runs blocks (sizes from `size`) until `until` says so, giving the inference thread time while
/// nothing has come yet.
fn run(
    audio: &mut Audio,
    blocks: &mut Vec<Block>,
    mut size: impl FnMut(usize) -> u32,
    until: impl Fn(&[Block]) -> bool,
) {
    let started = Instant::now();
    let mut i = 0;
    while !until(blocks) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "timed out waiting for generated notes"
        );
        blocks.push(audio.block(size(i), &[]));
        i += 1;
        if generated(blocks, OUT).is_empty() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn any_generated(blocks: &[Block]) -> bool {
    !generated(blocks, OUT).is_empty()
}

#[test]
fn manual_generate_lands_on_the_grid_across_blocks_and_a_tempo_change() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    let blocks = host.audio(&mut transport, |audio| {
        let mut blocks = vec![audio.block(512, &setup(0.0, 2, 1.0))];
        play_chorale(audio, 8.0, &mut blocks);
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 1.0,
            }],
        ));
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 0.0,
            }],
        ));
        run(audio, &mut blocks, |_| 512, any_generated);
        // Random block sizes for two beats, then a slower tempo to the phrase's end and beyond.
        let mut rng = Rng(5);
        let until = audio.transport.pos + 2.0;
        run(audio, &mut blocks, |_| rng.below(4096) as u32 + 1, |_| true);
        while audio.transport.pos < until {
            blocks.push(audio.block(rng.below(4096) as u32 + 1, &[]));
        }
        audio.transport.tempo = 93.0;
        for _ in 0..600 {
            blocks.push(audio.block(rng.below(1024) as u32 + 1, &[]));
        }
        blocks
    });
    let phrase = wait_saved_phrase(&mut host);
    assert!(!phrase.notes.is_empty(), "the model generated no notes");
    assert_eq!(phrase.channel, OUT);
    let end = phrase.notes.iter().map(|n| n.end_beats).fold(0.0, f64::max);
    assert!(
        blocks.last().unwrap().pos > end,
        "the test should play past the phrase"
    );
    // The phrase starts on a beat (Start quantize: Beat), after the Generate press.
    assert_eq!(phrase.start_beats.fract(), 0.0);
    assert!(phrase.start_beats >= 8.0);
    let got = generated(&blocks, OUT);
    let expected = expected_events(&blocks, &phrase);
    assert_eq!(got.len(), phrase.notes.len() * 2);
    assert_eq!(got, expected);
    assert!(check_pairs(&got).is_empty(), "notes left sounding");
    // Every note sits on the model's grid (16ths).
    for n in &phrase.notes {
        assert_eq!((n.start_beats * 4.0).fract(), 0.0);
        assert_eq!((n.end_beats * 4.0).fract(), 0.0);
    }
}

#[test]
fn stop_and_loop_end_every_generated_note_in_that_block() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    host.audio(&mut transport, |audio| {
        let mut blocks = vec![audio.block(512, &setup(0.0, 2, 0.0))];
        play_chorale(audio, 4.0, &mut blocks);
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 1.0,
            }],
        ));
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 0.0,
            }],
        ));
        let sounding = |blocks: &[Block]| !check_pairs(&generated(blocks, OUT)).is_empty();
        run(audio, &mut blocks, |_| 512, sounding);
        // Loop back two bars.
        let held = check_pairs(&generated(&blocks, OUT));
        audio.transport.pos -= 8.0;
        let jump = audio.block(512, &[]);
        let offs: Vec<u8> = jump
            .events
            .iter()
            .filter(|e| e.channel == OUT && !e.on && e.time == 0)
            .map(|e| e.key)
            .collect();
        assert_eq!(
            offs, held,
            "the loop must end every sounding note at its first sample"
        );
        blocks.push(jump);
        run(audio, &mut blocks, |_| 300, sounding);
        // Stop.
        let held = check_pairs(&generated(&blocks, OUT));
        audio.transport.playing = false;
        let stop = audio.block(512, &[]);
        let gen: Vec<_> = stop.events.iter().filter(|e| e.channel == OUT).collect();
        assert!(gen.iter().all(|e| !e.on && e.time == 0));
        assert_eq!(gen.iter().map(|e| e.key).collect::<Vec<_>>(), held);
        blocks.push(stop);
        assert!(check_pairs(&generated(&blocks, OUT)).is_empty());
        // Stopped: nothing more from the old phrase.
        for _ in 0..50 {
            let b = audio.block(512, &[]);
            assert!(b.events.iter().all(|e| e.channel != OUT));
        }
    });
}

#[test]
fn auto_respond_answers_after_the_response_gap() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    let (blocks, released) = host.audio(&mut transport, |audio| {
        let mut input = setup(1.0, 1, 0.0);
        input.push(In::Param {
            time: 0,
            name: "Response gap",
            value: (1.0 - 0.5) / 7.5,
        });
        let mut blocks = vec![audio.block(512, &input)];
        play_chorale(audio, 4.0, &mut blocks);
        let released = audio.transport.pos;
        run(audio, &mut blocks, |_| 512, any_generated);
        for _ in 0..300 {
            blocks.push(audio.block(512, &[]));
        }
        (blocks, released)
    });
    let phrase = wait_saved_phrase(&mut host);
    assert!(!phrase.notes.is_empty());
    assert!(
        phrase.start_beats >= released + 1.0 - 512.0 / 24_000.0,
        "answered before the gap: {} vs {released}",
        phrase.start_beats
    );
    assert_eq!(
        (phrase.start_beats * 4.0).fract(),
        0.0,
        "the answer starts on a grid step"
    );
    let got = generated(&blocks, OUT);
    assert_eq!(got, expected_events(&blocks, &phrase));
    assert!(check_pairs(&got).is_empty());
}

#[test]
fn continuous_keeps_generating_on_the_grid() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    let blocks = host.audio(&mut transport, |audio| {
        let mut blocks = vec![audio.block(512, &setup(2.0, 1, 1.0))];
        play_chorale(audio, 4.0, &mut blocks);
        run(audio, &mut blocks, |_| 512, any_generated);
        let mut rng = Rng(77);
        let until = audio.transport.pos + 12.0;
        // In real time, as a host would: the next phrase is asked for a bar ahead.
        let t0 = Instant::now();
        let mut played = 0u64;
        while audio.transport.pos < until {
            let frames = rng.below(2048) as u32 + 1;
            blocks.push(audio.block(frames, &[]));
            played += frames as u64;
            let due = Duration::from_secs_f64(played as f64 / SAMPLE_RATE);
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        audio.transport.playing = false;
        blocks.push(audio.block(512, &[]));
        blocks
    });
    let got = generated(&blocks, OUT);
    assert!(check_pairs(&got).is_empty(), "stop must end every note");
    // Every event sits exactly on a 16th of the host's beat grid.
    for &(i, offset, key, on) in &got {
        let block = &blocks[i];
        if !block.playing {
            continue; // the stop block's note-offs come at its first sample
        }
        let step = (block.beat_at(offset) * 4.0).round() / 4.0;
        assert_eq!(
            offset as f64,
            block.offset_of(step),
            "key {key} on={on} off the grid in block {i}"
        );
    }
    // More than one phrase: generated notes in at least three different bars.
    let mut bars: Vec<i64> = got
        .iter()
        .filter(|e| e.3)
        .map(|&(i, o, _, _)| (blocks[i].beat_at(o) / 4.0).floor() as i64)
        .collect();
    bars.dedup();
    assert!(bars.len() >= 3, "continuous mode played only bars {bars:?}");
}

#[test]
fn fuzzing_parameters_transport_notes_block_sizes_and_sample_rates() {
    for (round, &sample_rate) in [44_100.0, 96_000.0, 22_050.0].iter().enumerate() {
        let mut host = Host::with_config(round % 2 == 0, sample_rate);
        let mut transport = Transport::default();
        let mut rng = Rng(1234 + round as u64);
        host.audio(&mut transport, |audio| {
            let mut events = Vec::new();
            for i in 0..1500usize {
                let frames = rng.below(4096) as u32 + 1;
                let mut input = Vec::new();
                for _ in 0..rng.below(4) {
                    let time = rng.below(frames as u64) as u32;
                    let key = 36 + rng.below(48) as u8;
                    input.push(if rng.below(2) == 0 {
                        In::On {
                            time,
                            key,
                            velocity: rng.unit(),
                        }
                    } else {
                        In::Off { time, key }
                    });
                }
                if rng.below(20) == 0 {
                    let (name, value) = match rng.below(9) {
                        0 => ("Mode", rng.below(3) as f64),
                        1 => ("Generate", rng.below(2) as f64),
                        2 => ("Temperature", rng.unit()),
                        3 => ("Length", rng.below(4) as f64),
                        4 => ("Thru", rng.below(2) as f64),
                        5 => ("Velocity", rng.below(128) as f64),
                        6 => ("Output channel", 1.0 + rng.below(15) as f64),
                        7 => ("Start quantize", rng.below(3) as f64),
                        _ => ("Bypass", (rng.below(4) == 0) as u8 as f64),
                    };
                    input.push(In::Param {
                        time: 0,
                        name,
                        value,
                    });
                }
                match rng.below(60) {
                    0 => audio.transport.playing = !audio.transport.playing,
                    1 => audio.transport.pos = rng.below(64) as f64 / 4.0,
                    2 => audio.transport.tempo = 40.0 + rng.unit() * 200.0,
                    3 => audio.transport.absent = !audio.transport.absent,
                    _ => {}
                }
                input.sort_by_key(In::time);
                let block = audio.block(frames, &input);
                events.extend(
                    block
                        .events
                        .iter()
                        .filter(|e| e.channel != 0)
                        .map(|e| (i, e.time, e.channel, e.key, e.on)),
                );
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            // Generated notes pair up per channel; a stop ends them all. Every block's events are
            // kept: a note the plugin starts in the block that lifts Bypass with the transport
            // playing is ended by the stop in the last one, and dropping the first block's events
            // would make that note-off look unpaired (it did, whenever a phrase was ready there).
            audio.transport.absent = false;
            audio.transport.playing = true;
            let tail = [
                audio.block(
                    256,
                    &[In::Param {
                        time: 0,
                        name: "Bypass",
                        value: 0.0,
                    }],
                ),
                {
                    audio.transport.playing = false;
                    audio.block(256, &[])
                },
            ];
            for (n, block) in tail.iter().enumerate() {
                events.extend(
                    block
                        .events
                        .iter()
                        .filter(|e| e.channel != 0)
                        .map(|e| (99_998 + n, e.time, e.channel, e.key, e.on)),
                );
            }
            for channel in 1..16u8 {
                let stream: Vec<_> = events
                    .iter()
                    .filter(|e| e.2 == channel)
                    .map(|e| (e.0, e.1, e.3, e.4))
                    .collect();
                assert!(
                    check_pairs(&stream).is_empty(),
                    "channel {channel}: notes left sounding"
                );
            }
        });
    }
}

#[test]
fn a_corrupt_model_file_keeps_the_current_model_generating() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    // Let the default model load first.
    host.audio(&mut transport, |audio| {
        for _ in 0..20 {
            audio.block(512, &[]);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, vec![0x42u8; 4096]).unwrap();
    let text = state_text(&host.save_state());
    let json_path =
        serde_json::to_string(&serde_json::to_string(bad.to_str().unwrap()).unwrap()).unwrap();
    let modified = text.replace(
        "\"model-path\":\"\\\"\\\"\"",
        &format!("\"model-path\":{json_path}"),
    );
    assert_ne!(modified, text);
    host.load_state(&state_from_text(&modified))
        .expect("a bad model path is still a valid state");
    let blocks = host.audio(&mut transport, |audio| {
        // Give the inference thread time to try the file.
        for _ in 0..20 {
            audio.block(512, &[]);
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut blocks = vec![audio.block(512, &setup(0.0, 1, 0.0))];
        play_chorale(audio, 4.0, &mut blocks);
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 1.0,
            }],
        ));
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 0.0,
            }],
        ));
        run(audio, &mut blocks, |_| 512, any_generated);
        blocks
    });
    assert!(!generated(&blocks, OUT).is_empty());
    assert!(state_text(&host.save_state()).contains("broken.safetensors"));
}

/// Register and Polyphony set through the host's parameters hold for every note the plugin
/// sends: a 2-bar phrase after a chorale, with notes only in 48..=72 and at most 3 at once.
#[test]
fn register_and_polyphony_parameters_hold_for_every_generated_note() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    let blocks = host.audio(&mut transport, |audio| {
        let mut setup = setup(0.0, 2, 1.0);
        // Integer parameters take steps from their minimum: notes from 21, polyphony from 1.
        for (name, value) in [
            ("Lowest note", 48 - 21),
            ("Highest note", 72 - 21),
            ("Polyphony", 3 - 1),
        ] {
            setup.push(In::Param {
                time: 0,
                name,
                value: value as f64,
            });
        }
        let mut blocks = vec![audio.block(512, &setup)];
        play_chorale(audio, 8.0, &mut blocks);
        for value in [1.0, 0.0] {
            blocks.push(audio.block(
                512,
                &[In::Param {
                    time: 0,
                    name: "Generate",
                    value,
                }],
            ));
        }
        run(audio, &mut blocks, |_| 512, any_generated);
        for _ in 0..400 {
            blocks.push(audio.block(512, &[]));
        }
        blocks
    });
    let phrase = wait_saved_phrase(&mut host);
    assert!(!phrase.notes.is_empty(), "the model generated no notes");
    let got = generated(&blocks, OUT);
    assert!(check_pairs(&got).is_empty(), "notes left sounding");
    // Notes that end where others start count as ended first.
    let mut ordered = got.clone();
    ordered.sort_by_key(|&(block, time, _, on)| (block, time, on));
    let mut sounding = std::collections::BTreeSet::new();
    let mut most = 0;
    for &(_, _, key, on) in &ordered {
        assert!(
            (48..=72).contains(&key),
            "note {key} outside the register 48..=72"
        );
        if on {
            sounding.insert(key);
        } else {
            sounding.remove(&key);
        }
        most = most.max(sounding.len());
    }
    assert!(
        most <= 3,
        "{most} generated notes sounded at once (Polyphony 3)"
    );
}
