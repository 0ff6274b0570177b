//! Streaming through a real CLAP host with the embedded default model (the piano step model),
//! blocks paced like real time: with Start quantize = Step the phrase starts on the first grid
//! step after the press; and when generation is slowed below real time
//! (`CONTINUO_STEP_DELAY_MS`), the phrase waits for its notes on the grid and goes on, every
//! note-on gets its note-off, and the project saves exactly what played. The plugin is a debug
//! build with `assert_process_allocs`: an allocation in `process()` aborts these tests.

mod common;

use std::time::{Duration, Instant};

use common::*;

const OUT: u8 = 2;

/// The slow-down is read from the environment when an instance starts, so the tests here take
/// turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup(length_bars: i32) -> Vec<In> {
    vec![
        In::Param {
            time: 0,
            name: "Output channel",
            value: OUT as f64,
        },
        In::Param {
            time: 0,
            name: "Seed",
            value: 5.0,
        },
        In::Param {
            time: 0,
            name: "Length",
            value: (length_bars - 1) as f64,
        },
        // Step.
        In::Param {
            time: 0,
            name: "Start quantize",
            value: 0.0,
        },
    ]
}

/// A host whose plugin generates `delay_ms` slower per step than it can.
fn host_with_step_delay(delay_ms: Option<u32>) -> Host {
    match delay_ms {
        Some(ms) => std::env::set_var("CONTINUO_STEP_DELAY_MS", ms.to_string()),
        None => std::env::remove_var("CONTINUO_STEP_DELAY_MS"),
    }
    let host = Host::new();
    std::env::remove_var("CONTINUO_STEP_DELAY_MS");
    host
}

/// Plays a few beats of a chorale, presses Generate, and plays on, each block of 512 samples
/// taking its own duration of wall time, until `beats_after` beats after the press. Returns the
/// blocks and the index of the press block.
fn press_and_play(host: &mut Host, tempo: f64, beats_after: f64) -> (Vec<Block>, usize) {
    let mut transport = Transport {
        tempo,
        ..Transport::default()
    };
    host.audio(&mut transport, |audio| {
        let mut blocks = vec![audio.block(512, &setup(1))];
        play_chorale(audio, 4.0, &mut blocks);
        // The model is loaded by now (the chorale took longer than loading the default); give
        // it a moment more on a slow machine.
        std::thread::sleep(Duration::from_millis(300));
        let press = blocks.len();
        blocks.push(audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 1.0,
            }],
        ));
        let release = [In::Param {
            time: 0,
            name: "Generate",
            value: 0.0,
        }];
        let end = audio.transport.pos + beats_after;
        let block_wall = Duration::from_secs_f64(512.0 / audio.sample_rate);
        let mut next = Instant::now() + block_wall;
        let mut first = true;
        while audio.transport.pos < end {
            let input: &[In] = if first { &release } else { &[] };
            first = false;
            blocks.push(audio.block(512, input));
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            next += block_wall;
        }
        (blocks, press)
    })
}

/// The saved phrase once the inference thread has recorded the complete one.
fn final_phrase(host: &mut Host) -> continuo::engine::phrase::SavedPhrase {
    let started = Instant::now();
    let mut last = wait_saved_phrase(host);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = saved_phrase(&host.save_state());
        if now == last || started.elapsed() > Duration::from_secs(5) {
            return now;
        }
        last = now;
    }
}

#[test]
fn a_streamed_phrase_starts_on_the_first_step_after_the_press() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut host = host_with_step_delay(None);
    let (blocks, press) = press_and_play(&mut host, 120.0, 6.0);
    let phrase = final_phrase(&mut host);
    assert!(!phrase.notes.is_empty(), "the model generated no notes");
    let pressed_at = blocks[press].pos;
    let first_step = (pressed_at * 4.0).ceil() / 4.0;
    let latest = first_step + 0.25;
    println!(
        "press at beat {pressed_at:.4}: the phrase starts at {} (first grid step after the press: {first_step})",
        phrase.start_beats
    );
    // The first step after the block of the press (a step is 125 ms at 120 BPM; the first piece
    // of the phrase is ready in about a millisecond). The block of the press itself is 10.7 ms
    // long, so its step may already have begun when the answer arrives: one step later then.
    assert!(
        phrase.start_beats >= first_step && phrase.start_beats <= latest,
        "started at {}, press at {pressed_at}",
        phrase.start_beats
    );
    let got = generated(&blocks, OUT);
    assert_eq!(got, expected_events(&blocks, &phrase));
    assert!(check_pairs(&got).is_empty(), "notes left sounding");
}

#[test]
fn a_phrase_generated_slower_than_real_time_waits_on_the_grid_and_plays_every_note() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 240 BPM: a 16th lasts 62.5 ms; each step now takes 90 ms to generate.
    let mut host = host_with_step_delay(Some(90));
    let (blocks, _) = press_and_play(&mut host, 240.0, 14.0);
    let phrase = final_phrase(&mut host);
    assert!(!phrase.notes.is_empty(), "the model generated no notes");
    println!(
        "one bar generated at 90 ms a step played in {} beats ({} notes, from beat {})",
        phrase.length_beats,
        phrase.notes.len(),
        phrase.start_beats
    );
    // One bar is 4 beats; the waits made it longer.
    assert!(
        phrase.length_beats > 4.0 + 1e-9,
        "length {}: no wait",
        phrase.length_beats
    );
    let end = phrase.start_beats + phrase.length_beats;
    assert!(
        blocks.last().unwrap().pos > end,
        "the test ended before the phrase"
    );
    // What played is exactly the saved phrase, waits included, to the sample; on the grid.
    let got = generated(&blocks, OUT);
    assert_eq!(got, expected_events(&blocks, &phrase));
    assert!(check_pairs(&got).is_empty(), "notes left sounding");
    for n in &phrase.notes {
        assert_eq!((n.start_beats * 4.0).fract(), 0.0, "{n:?}");
        assert_eq!((n.end_beats * 4.0).fract(), 0.0, "{n:?}");
    }
}
