//! Through a real CLAP host: pass-through, layouts, block sizes, state.

mod common;

use common::*;

/// Real notes: the opening of a Bach chorale from the fixtures, as (sample, key, on) at 120 BPM.
fn chorale_events(limit_beats: f64) -> Vec<(u64, u8, bool, u8)> {
    chorale("bwv66.6.mid", limit_beats, 120.0, 0)
}

/// Splits absolute-sample events into blocks of the given sizes; returns the inputs per block.
fn into_blocks(events: &[(u64, u8, bool, u8)], sizes: &[u32]) -> Vec<Vec<In>> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for &size in sizes {
        let end = start + size as u64;
        out.push(
            events
                .iter()
                .filter(|e| e.0 >= start && e.0 < end)
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
                .collect(),
        );
        start = end;
    }
    out
}

fn random_sizes(seed: u64, total: u64) -> Vec<u32> {
    let mut x = seed;
    let mut sizes = Vec::new();
    let mut sum = 0u64;
    while sum < total {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = (x % 4096) as u32 + 1;
        sizes.push(size);
        sum += size as u64;
    }
    sizes
}

fn check_pass_through(stereo: bool, sizes: &[u32]) {
    let mut host = Host::with_layout(stereo);
    let events = chorale_events(16.0);
    assert!(events.len() > 40, "the fixture should give a real phrase");
    let blocks = into_blocks(&events, sizes);
    let mut transport = Transport::default();
    let outs = host.audio(&mut transport, |audio| {
        blocks
            .iter()
            .zip(sizes)
            .map(|(input, &size)| audio.block(size, input))
            .collect::<Vec<_>>()
    });
    for (input, block) in blocks.iter().zip(&outs) {
        let expected: Vec<(u32, u8, bool)> = input
            .iter()
            .map(|e| match *e {
                In::On { time, key, .. } => (time, key, true),
                In::Off { time, key } => (time, key, false),
                In::Param { .. } | In::Midi { .. } => unreachable!(),
            })
            .collect();
        let got: Vec<(u32, u8, bool)> =
            block.events.iter().map(|e| (e.time, e.key, e.on)).collect();
        assert_eq!(got, expected, "block at beat {}", block.pos);
    }
}

#[test]
fn notes_pass_through_at_their_offsets_in_512_sample_blocks() {
    check_pass_through(true, &vec![512; 8 * 24_000 / 512 + 1]);
}

#[test]
fn notes_pass_through_with_random_block_sizes_and_no_audio_ports() {
    check_pass_through(false, &random_sizes(7, 8 * 24_000));
    check_pass_through(true, &random_sizes(99, 8 * 24_000));
}

#[test]
fn thru_off_passes_nothing_and_releases_held_notes() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    let (held, after) = host.audio(&mut transport, |audio| {
        let held = audio.block(
            512,
            &[In::On {
                time: 5,
                key: 60,
                velocity: 0.8,
            }],
        );
        let after = audio.block(
            512,
            &[
                In::Param {
                    time: 0,
                    name: "Thru",
                    value: 0.0,
                },
                In::On {
                    time: 9,
                    key: 64,
                    velocity: 0.8,
                },
            ],
        );
        (held, after)
    });
    assert_eq!(held.events.len(), 1);
    assert_eq!(
        after.events,
        vec![Out {
            time: 0,
            on: false,
            key: 60,
            channel: 0,
            velocity: 0.0
        }]
    );
}

#[test]
fn state_round_trips_byte_for_byte() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    host.audio(&mut transport, |audio| {
        audio.block(
            64,
            &[
                In::Param {
                    time: 0,
                    name: "Temperature",
                    value: 0.5,
                },
                In::Param {
                    time: 0,
                    name: "Length",
                    value: 7.0,
                },
                In::Param {
                    time: 0,
                    name: "Mode",
                    value: 2.0,
                },
                In::Param {
                    time: 0,
                    name: "Seed",
                    value: 42.0,
                },
                In::Param {
                    time: 0,
                    name: "Thru",
                    value: 0.0,
                },
            ],
        );
    });
    let saved = host.save_state();
    let text = state_text(&saved);
    assert!(text.contains("\"seed\":{\"i32\":42}"), "{text}");
    assert!(
        text.contains("\"mode\":{\"string\":\"continuous\"}"),
        "{text}"
    );
    let mut other = Host::new();
    other.load_state(&saved).expect("load");
    assert_eq!(other.save_state(), saved);
    // And loading into the same instance after changes restores it too.
    host.load_state(&saved).unwrap();
    assert_eq!(host.save_state(), saved);
}

#[test]
fn garbage_and_empty_state_are_refused_cleanly() {
    let mut host = Host::new();
    let before = host.save_state();
    assert!(host.load_state(b"").is_err());
    assert!(host.load_state(&[0xff, 0x00, 0x13, 0x37, 0x42]).is_err());
    assert!(host
        .load_state(b"{\"version\":\"0.1.0\",\"params\":{}, \"fields\":")
        .is_err());
    assert_eq!(host.save_state(), before);
    // A well-formed state with a broken phrase: the phrase is dropped, the rest loads.
    let text = state_text(&before);
    let bad = text.replace("\\\"notes\\\":[]", "\\\"notes\\\":[{\\\"pitch\\\":300}]");
    assert_ne!(bad, text);
    let _ = host.load_state(&state_from_text(&bad));
    assert_eq!(
        host.save_state(),
        before,
        "a broken phrase must leave the defaults"
    );
    // Still processes and passes notes.
    let mut transport = Transport::default();
    let block = host.audio(&mut transport, |audio| {
        audio.block(
            256,
            &[In::On {
                time: 3,
                key: 70,
                velocity: 0.5,
            }],
        )
    });
    assert_eq!(block.events.len(), 1);
}

#[test]
fn a_corrupt_model_path_in_state_leaves_a_working_plugin() {
    let mut host = Host::new();
    let text = state_text(&host.save_state());
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, b"this is not a model").unwrap();
    let json_path =
        serde_json::to_string(&serde_json::to_string(bad.to_str().unwrap()).unwrap()).unwrap();
    let modified = text.replace(
        "\"model-path\":\"\\\"\\\"\"",
        &format!("\"model-path\":{json_path}"),
    );
    assert_ne!(modified, text, "state layout changed: {text}");
    host.load_state(&state_from_text(&modified))
        .expect("a bad model path is still a valid state");
    let mut transport = Transport::default();
    let blocks = host.audio(&mut transport, |audio| {
        (0..40)
            .map(|i| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                audio.block(
                    512,
                    &[
                        In::On {
                            time: i,
                            key: 60 + i as u8 % 12,
                            velocity: 0.7,
                        },
                        In::Off {
                            time: 400,
                            key: 60 + i as u8 % 12,
                        },
                    ],
                )
            })
            .collect::<Vec<_>>()
    });
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(b.events.len(), 2, "block {i}");
        assert_eq!(b.events[0].time, i as u32);
    }
    // The path stays saved (the user may fix the file).
    assert!(state_text(&host.save_state()).contains("broken.safetensors"));
}

/// Notes sounding when the host deactivates the plugin end in the first block after it is
/// activated again (nothing can be sent while it is inactive); pass-through keeps working.
#[test]
fn notes_sounding_at_deactivation_end_in_the_first_block_after() {
    let phrase = chorale_phrase("bwv66.6.mid", 16.0, 2.0, 6);
    let (mut host, _) = host_with_phrase(&phrase);
    let mut transport = Transport::default();
    let held = host.audio(&mut transport, |audio| {
        let mut blocks = Vec::new();
        let_phrase_arrive(audio, &mut blocks);
        blocks.push(audio.block(
            512,
            &[In::On {
                time: 0,
                key: 40,
                velocity: 0.5,
            }],
        ));
        while check_pairs(&generated(&blocks, 6)).is_empty() {
            blocks.push(audio.block(512, &[]));
        }
        check_pairs(&generated(&blocks, 6))
    });
    host.deactivate();
    host.activate();
    let block = host.audio(&mut transport, |audio| {
        audio.block(512, &[In::Off { time: 1, key: 40 }])
    });
    let offs: Vec<u8> = block
        .events
        .iter()
        .filter(|e| e.channel == 6 && !e.on && e.time == 0)
        .map(|e| e.key)
        .collect();
    assert_eq!(offs, held);
    // The held pass-through key is released too (at 0), and the player's own note-off passes.
    assert!(block
        .events
        .iter()
        .any(|e| e.channel == 0 && !e.on && e.key == 40 && e.time == 0));
    assert!(block
        .events
        .iter()
        .any(|e| e.channel == 0 && !e.on && e.key == 40 && e.time == 1));
}

/// A chorale's opening (first `beats` beats) moved to start at `at`, as a saved phrase.
fn chorale_phrase(
    file: &str,
    beats: f64,
    at: f64,
    channel: u8,
) -> continuo::engine::phrase::SavedPhrase {
    let song = continuo::midi::read_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(file),
        Default::default(),
    )
    .unwrap();
    let notes: Vec<_> = song
        .notes
        .iter()
        .filter(|n| n.start_beats < beats)
        .map(|n| continuo::midi::Note {
            start_beats: n.start_beats + at,
            end_beats: n.end_beats.min(beats) + at,
            ..*n
        })
        .filter(|n| n.end_beats > n.start_beats)
        .collect();
    assert!(notes.len() > 10);
    continuo::engine::phrase::SavedPhrase {
        start_beats: at,
        length_beats: beats,
        timeline: continuo::engine::phrase::Timeline::Host,
        channel,
        variation: 0,
        notes,
    }
}

/// A fresh instance with `phrase` loaded as if from a project; returns the state too.
fn host_with_phrase(phrase: &continuo::engine::phrase::SavedPhrase) -> (Host, Vec<u8>) {
    let mut host = Host::new();
    let text = state_text(&host.save_state());
    let field = serde_json::to_string(&serde_json::to_string(phrase).unwrap()).unwrap();
    let start = text.find("\"phrase\":").unwrap() + "\"phrase\":".len();
    let end = start + text[start..].find("}\"").unwrap() + 2;
    let state = state_from_text(&format!("{}{}{}", &text[..start], field, &text[end..]));
    host.load_state(&state).expect("load a state with a phrase");
    (host, state)
}

/// The inference thread hands a restored phrase over within a few milliseconds.
fn let_phrase_arrive(audio: &mut Audio, blocks: &mut Vec<Block>) {
    for _ in 0..40 {
        blocks.push(audio.block(64, &[]));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A project saved with a phrase plays it again where it was, sample-accurately (random block
/// sizes, a tempo change inside the phrase), and saves it back unchanged.
#[test]
fn a_saved_phrase_is_restored_and_plays_at_its_beats() {
    let phrase = chorale_phrase("bwv323.mid", 6.0, 4.0, 4);
    let (mut host, state) = host_with_phrase(&phrase);
    assert_eq!(
        host.save_state(),
        state,
        "the restored phrase saves back byte for byte"
    );
    let mut transport = Transport::default();
    let mut rng = Rng(3);
    let blocks = host.audio(&mut transport, |audio| {
        let mut blocks = Vec::new();
        let_phrase_arrive(audio, &mut blocks);
        while audio.transport.pos < 12.0 {
            if audio.transport.pos > 7.0 {
                audio.transport.tempo = 87.5;
            }
            blocks.push(audio.block(rng.below(4096) as u32 + 1, &[]));
        }
        blocks
    });
    let got = generated(&blocks, 4);
    assert_eq!(got, expected_events(&blocks, &phrase));
    assert_eq!(got.len(), phrase.notes.len() * 2);
}

/// Loop, stop, bypass and a Mode change each end every sounding generated note in that block.
#[test]
fn loop_stop_bypass_and_mode_change_end_every_note_in_that_block() {
    let phrase = chorale_phrase("bwv66.6.mid", 16.0, 2.0, 5);
    let (mut host, _) = host_with_phrase(&phrase);
    let mut transport = Transport::default();
    host.audio(&mut transport, |audio| {
        let mut blocks = Vec::new();
        let_phrase_arrive(audio, &mut blocks);
        let sounding = |blocks: &[Block]| check_pairs(&generated(blocks, 5));
        let interrupt = |audio: &mut Audio,
                         blocks: &mut Vec<Block>,
                         what: &str,
                         change: &dyn Fn(&mut Audio) -> Vec<In>| {
            // Play until notes sound, then interrupt.
            while sounding(blocks).is_empty() {
                assert!(
                    audio.transport.pos < 40.0,
                    "{what}: the phrase never sounded"
                );
                blocks.push(audio.block(333, &[]));
            }
            let held = sounding(blocks);
            let input = change(audio);
            let block = audio.block(512, &input);
            let offs: Vec<u8> = block
                .events
                .iter()
                .filter(|e| e.channel == 5 && !e.on && e.time == 0)
                .map(|e| e.key)
                .collect();
            assert_eq!(
                offs, held,
                "{what} must end every sounding note at the block's first sample"
            );
            blocks.push(block);
        };
        interrupt(audio, &mut blocks, "a loop", &|audio| {
            audio.transport.pos -= 3.0;
            vec![]
        });
        interrupt(audio, &mut blocks, "a jump forward", &|audio| {
            audio.transport.pos += 1.5;
            vec![]
        });
        interrupt(audio, &mut blocks, "bypass", &|_| {
            vec![In::Param {
                time: 0,
                name: "Bypass",
                value: 1.0,
            }]
        });
        // Bypassed: nothing generated; then back, and back to the phrase's start.
        for _ in 0..20 {
            let b = audio.block(512, &[]);
            assert!(b.events.iter().all(|e| e.channel != 5));
            blocks.push(b);
        }
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Bypass",
                value: 0.0,
            }],
        ));
        audio.transport.pos = 2.0;
        blocks.push(audio.block(512, &[]));
        interrupt(audio, &mut blocks, "a Mode change", &|_| {
            vec![In::Param {
                time: 0,
                name: "Mode",
                value: 1.0,
            }]
        });
        // A Mode change stops the phrase; go back to replay it, then stop the transport.
        audio.transport.pos = 2.0;
        blocks.push(audio.block(512, &[]));
        interrupt(audio, &mut blocks, "stop", &|audio| {
            audio.transport.playing = false;
            vec![]
        });
        assert!(sounding(&blocks).is_empty());
    });
}
