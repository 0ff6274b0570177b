//! Variations through a real CLAP host with the embedded default model: one press makes three;
//! switching the automatable Variation parameter while one plays ends its sounding notes in
//! that block and goes on with the chosen one, sample-accurately, from the playhead; all three
//! and the choice are saved with the project, round-trip through the state byte for byte, and
//! a reopened project plays the chosen one where it was. A debug build with
//! `assert_process_allocs`: an allocation in `process()` aborts these tests.

mod common;

use std::time::{Duration, Instant};

use common::*;
use continuo::engine::phrase::SavedPhrase;

const OUT: u8 = 3;

fn setup() -> Vec<In> {
    let param = |name, value| In::Param {
        time: 0,
        name,
        value,
    };
    vec![
        param("Output channel", OUT as f64),
        param("Seed", 21.0),
        param("Length", 1.0),
        param("Variations", 2.0),
        param("Variation", 0.0),
        param("Start quantize", 1.0),
    ]
}

/// The saved variations once all three are complete.
fn wait_variations(host: &mut Host) -> (SavedPhrase, Vec<SavedPhrase>) {
    let started = Instant::now();
    loop {
        let text = state_text(&host.save_state());
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let variations: Vec<SavedPhrase> =
            serde_json::from_str(json["fields"]["variations"].as_str().unwrap()).unwrap();
        let phrase: SavedPhrase =
            serde_json::from_str(json["fields"]["phrase"].as_str().unwrap()).unwrap();
        if variations.len() == 3 && phrase.variation == 2 {
            return (phrase, variations);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} variations saved, playing {}",
            variations.len(),
            phrase.variation
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn three_variations_switching_while_playing_and_the_project_round_trip() {
    let mut host = Host::new();
    let mut transport = Transport::default();
    let (blocks, switch) = host.audio(&mut transport, |audio| {
        let mut blocks = vec![audio.block(512, &setup())];
        play_chorale(audio, 8.0, &mut blocks);
        std::thread::sleep(Duration::from_millis(300));
        let press = |value| In::Param {
            time: 0,
            name: "Generate",
            value,
        };
        blocks.push(audio.block(512, &[press(1.0)]));
        blocks.push(audio.block(512, &[press(0.0)]));
        // Let all three arrive (a few milliseconds each), then play into the phrase.
        std::thread::sleep(Duration::from_millis(300));
        while audio.transport.pos < 10.3 {
            blocks.push(audio.block(512, &[]));
        }
        let switch = blocks.len();
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Variation",
                value: 2.0,
            }],
        ));
        while audio.transport.pos < 20.0 {
            blocks.push(audio.block(512, &[]));
        }
        (blocks, switch)
    });
    let (played, variations) = wait_variations(&mut host);
    assert_eq!(
        variations.iter().map(|v| v.variation).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(played, variations[2]);
    let start = variations[0].start_beats;
    assert!(variations
        .iter()
        .all(|v| v.start_beats == start && !v.notes.is_empty()));
    assert!(
        start <= blocks[switch].pos,
        "the switch should fall inside the phrase"
    );
    assert_ne!(
        variations[0].notes, variations[2].notes,
        "variations differ"
    );

    // Before the switch block: exactly variation 1. After it: exactly variation 3's events.
    let got = generated(&blocks, OUT);
    let first = expected_events(&blocks, &variations[0]);
    let before: Vec<_> = got.iter().filter(|e| e.0 < switch).copied().collect();
    assert_eq!(
        before,
        first
            .iter()
            .filter(|e| e.0 < switch)
            .copied()
            .collect::<Vec<_>>()
    );
    // From the switch block on: first the old notes end at its first sample, then variation 3
    // plays every note that starts from the playhead on (one the playhead landed inside is not
    // started, so neither is its note-off sent).
    let old_sounding = check_pairs(&before);
    let mut after: Vec<_> = got.iter().filter(|e| e.0 >= switch).copied().collect();
    let ended: Vec<u8> = after
        .iter()
        .take(old_sounding.len())
        .filter(|e| e.0 == switch && e.1 == 0 && !e.3)
        .map(|e| e.2)
        .collect();
    let mut ended_sorted = ended.clone();
    ended_sorted.sort();
    assert_eq!(
        ended_sorted, old_sounding,
        "the old notes end first: {after:?}"
    );
    after.drain(..ended.len());
    let from = blocks[switch].pos;
    let late = SavedPhrase {
        notes: variations[2]
            .notes
            .iter()
            .filter(|n| n.start_beats >= from)
            .copied()
            .collect(),
        ..variations[2].clone()
    };
    let expected_after: Vec<_> = expected_events(&blocks, &late)
        .into_iter()
        .filter(|e| e.0 >= switch)
        .collect();
    assert_eq!(after, expected_after);
    assert!(!expected_after.is_empty());
    assert!(check_pairs(&got).is_empty(), "notes left sounding");

    // The project: byte for byte through a reload, and the chosen one plays again.
    let state = host.save_state();
    drop(host);
    let mut reopened = Host::new();
    reopened.load_state(&state).expect("load");
    assert_eq!(reopened.save_state(), state, "state round trip");
    let mut transport = Transport::default();
    let blocks = reopened.audio(&mut transport, |audio| {
        let mut blocks = Vec::new();
        for _ in 0..40 {
            blocks.push(audio.block(64, &[]));
            std::thread::sleep(Duration::from_millis(5));
        }
        while audio.transport.pos < 20.0 {
            blocks.push(audio.block(777, &[]));
        }
        blocks
    });
    let got = generated(&blocks, OUT);
    assert_eq!(got, expected_events(&blocks, &variations[2]));
    assert_eq!(
        reopened.save_state(),
        state,
        "playing it back changed nothing"
    );
}
