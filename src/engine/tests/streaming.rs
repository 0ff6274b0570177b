//! Streaming: a phrase starts playing after its first generated step, plays what has arrived,
//! and when generation is slower than real time it waits at the ready boundary, holding what
//! sounds, and goes on on the grid: never a stuck, doubled or lost note, and the project saves
//! exactly what played. The blocks here run at the pace of real time (the generator's speed is
//! wall time).

use super::*;

/// Notes of 1, 2 and 3 steps, a chord, a rest and a repeated strike across step boundaries.
const CYCLE: [&str; 8] = ["*60,*64", "60,64", "*67", "REST", "*48", "48", "48", "*48"];

/// What a run played: (absolute beat, event), plus the rig.
fn play_streaming(step_delay_us: usize, tempo: f64, bars: u32) -> (Rig, Vec<(f64, NoteOut)>) {
    let mut rig = Rig::new(&CYCLE, false);
    rig.tempo = tempo;
    rig.scripted
        .step_delay
        .store(step_delay_us, Ordering::SeqCst);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: bars,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    settings.generate = true;
    let frames = 256u32;
    let block_wall = Duration::from_secs_f64(frames as f64 / rig.sr);
    let mut played = Vec::new();
    let t = Instant::now();
    let mut next = Instant::now();
    let mut started_streaming = false;
    loop {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the phrase never ended"
        );
        let (start, out) = rig.block(frames, &settings, &[], None);
        settings.generate = false;
        let bps = rig.tempo / 60.0 / rig.sr;
        for n in notes(&out) {
            // On the grid, to the sample.
            let step = (start + n.timing as f64 * bps) * 4.0;
            assert!(
                (step - step.round()).abs() * 0.25 < bps,
                "{n:?} off the grid"
            );
            played.push((step.round() / 4.0, n));
        }
        if let Some(p) = &rig.engine.playback.phrase {
            started_streaming |= !p.complete;
        }
        let ended = rig.engine.playback.phrase.as_ref().is_some_and(|p| {
            p.complete
                && rig.pos
                    > rig.engine.playback.start + rig.engine.playback.delays.map(p.length_beats)
        });
        if ended && rig.engine.pending.is_none() && rig.engine.sounding_notes() == 0 {
            break;
        }
        next += block_wall;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    assert!(
        started_streaming,
        "the phrase was only installed once complete"
    );
    (rig, played)
}

/// Pairs every note-on with its note-off; fails on a doubled note-on or an orphan note-off.
fn pair_notes(played: &[(f64, NoteOut)]) -> Vec<(u8, f64, f64)> {
    let mut open: [Option<f64>; 128] = [None; 128];
    let mut notes = Vec::new();
    for &(beat, n) in played {
        let slot = &mut open[n.pitch as usize];
        if n.on {
            assert!(
                slot.is_none(),
                "pitch {} struck while sounding at {beat}",
                n.pitch
            );
            *slot = Some(beat);
        } else {
            let from = slot.take().expect("a note-off without its note-on");
            notes.push((n.pitch, from, beat));
        }
    }
    assert!(open.iter().all(Option::is_none), "a note left sounding");
    notes.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    notes
}

/// The phrase the project saved, as (pitch, start, end) in time order.
fn saved_notes(rig: &Rig) -> Vec<(u8, f64, f64)> {
    let mut notes: Vec<(u8, f64, f64)> = rig
        .store
        .get()
        .notes
        .iter()
        .map(|n| (n.pitch, n.start_beats, n.end_beats))
        .collect();
    notes.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    notes
}

#[test]
fn a_phrase_faster_than_real_time_streams_without_a_wait() {
    // 1 ms per step against 125 ms per step of music.
    let (mut rig, played) = play_streaming(1_000, 120.0, 1);
    let notes = pair_notes(&played);
    // 16 steps of the cycle: two of it, each with 5 notes.
    assert_eq!(notes.len(), 10);
    assert_eq!(rig.reader.audio().waits, 0);
    let first = notes[0].1;
    let expected: Vec<(u8, f64, f64)> = [
        (60, 0.0, 0.5),
        (64, 0.0, 0.5),
        (67, 0.5, 0.75),
        (48, 1.0, 1.75),
        (48, 1.75, 2.0),
    ]
    .iter()
    .flat_map(|&(p, a, b)| [(p, a, b), (p, a + 2.0, b + 2.0)])
    .map(|(p, a, b)| (p, first + a, first + b))
    .collect::<Vec<_>>();
    let mut expected = expected;
    expected.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    assert_eq!(notes, expected);
    // The project saves what played.
    let saved_notes = saved_notes(&rig);
    assert_eq!(saved_notes, notes);
}

#[test]
fn a_phrase_slower_than_real_time_waits_for_its_notes_and_goes_on_seamlessly() {
    // 480 BPM: a step is 31 ms of music; generating one takes 45 ms.
    let (mut rig, played) = play_streaming(45_000, 480.0, 1);
    let notes = pair_notes(&played);
    let audio = rig.reader.audio();
    assert!(
        audio.waits > 0,
        "generation was slower than real time, yet no wait"
    );
    // Every note of the phrase played, in the phrase's order, each on the grid and no shorter
    // than it was generated (a wait holds what sounds).
    assert_eq!(notes.len(), 10);
    let pitches: Vec<u8> = notes.iter().map(|n| n.0).collect();
    assert_eq!(pitches, [60, 64, 67, 48, 48, 60, 64, 67, 48, 48]);
    let written = [2.0, 2.0, 1.0, 3.0, 1.0, 2.0, 2.0, 1.0, 3.0, 1.0];
    for (n, steps) in notes.iter().zip(written) {
        for beat in [n.1, n.2] {
            let step = beat * 4.0;
            assert!((step - step.round()).abs() < 1e-6, "{n:?} off the grid");
        }
        assert!(
            n.2 - n.1 >= steps / 4.0 - 1e-9,
            "{n:?} shorter than {steps} steps"
        );
    }
    // The saved phrase is what played, waits included.
    let saved_notes = saved_notes(&rig);
    for (s, p) in saved_notes.iter().zip(&notes) {
        assert_eq!(s.0, p.0);
        assert!(
            (s.1 - p.1).abs() < 1e-6 && (s.2 - p.2).abs() < 1e-6,
            "{s:?} vs {p:?}"
        );
    }
    assert_eq!(saved_notes.len(), notes.len());
}

#[test]
fn a_new_press_while_streaming_ends_the_old_phrase_cleanly() {
    let mut rig = Rig::new(&CYCLE, false);
    rig.scripted.step_delay.store(20_000, Ordering::SeqCst);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: 4,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    let mut played = Vec::new();
    let t = Instant::now();
    let mut presses = 0;
    while t.elapsed() < Duration::from_secs(3) {
        // A press every 300 ms: each supersedes a phrase still being generated.
        let press = t.elapsed().as_millis() / 300;
        settings.generate_presses = press as u32;
        presses = press;
        let (start, out) = rig.block(512, &settings, &[], None);
        let bps = rig.tempo / 60.0 / rig.sr;
        played.extend(
            notes(&out)
                .into_iter()
                .map(|n| (start + n.timing as f64 * bps, n)),
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(presses >= 5);
    // Stop: everything ends.
    settings.mode = Mode::AutoRespond;
    let (start, out) = rig.block(512, &settings, &[], None);
    played.extend(notes(&out).into_iter().map(|n| (start, n)));
    assert_eq!(rig.engine.sounding_notes(), 0);
    let notes = pair_notes(&played);
    assert!(notes.len() > 5, "only {} notes", notes.len());
}
