//! Real hosts' transports: positions rounded to 1/1920, 1/960 and 1/96 beat and jittered by
//! up to ±16 samples, at several tempos and block sizes. The engine must see no phantom jumps,
//! place every generated event where the host's own (true) position reaches its grid step
//! (within the host's rounding), keep every note at least one step long, and still end notes
//! on a real loop. Also: meters and the bar start, the session-restore guard, the sustain pedal.

use super::*;

/// Generated events of a run.
struct Played {
    /// (absolute sample, event)
    events: Vec<(u64, NoteOut)>,
}

/// The scripted phrase: notes of 1, 2, 3 and 4 steps, chords and a repeated strike.
const CYCLE: [&str; 12] = [
    "*60,*64", "60,64", "*67", "REST", "*48", "48", "48", "*50", "*50", "50", "50", "50",
];

/// Presses Generate on a rounded, jittered transport and plays `beats` beats with blocks of
/// `frames(i)` samples. Returns the generated events by absolute sample.
fn play_rounded(
    tempo: f64,
    rounding: f64,
    jitter: f64,
    beats: f64,
    seed: u64,
    frames: impl Fn(usize, &mut Rig) -> u32,
) -> (Rig, Played) {
    let mut rig = Rig::new(&CYCLE, false);
    rig.tempo = tempo;
    rig.rounding = rounding;
    rig.jitter = jitter;
    rig.rng ^= seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: 2,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    // Absolute samples count from beat 0 (the rig starts there and waited for the model in
    // whole blocks, so this is exact).
    let mut sample = (rig.pos * 60.0 / tempo * rig.sr).round() as u64;
    settings.generate = true;
    let mut events = Vec::new();
    let end = rig.pos + beats;
    let mut i = 0;
    let t = Instant::now();
    while rig.pos < end {
        assert!(t.elapsed() < Duration::from_secs(60), "too slow");
        let f = frames(i, &mut rig).clamp(1, 8192);
        i += 1;
        let (_, out) = rig.block(f, &settings, &[], None);
        settings.generate = false;
        for n in notes(&out) {
            assert!(n.timing < f);
            events.push((sample + n.timing as u64, n));
        }
        sample += f as u64;
        if rig.engine.pending.is_some() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    (rig, Played { events })
}

/// Checks the events against the true grid; returns the number of generated notes.
/// The true playhead is at beat `sample / samples_per_beat`.
fn check_on_grid(played: &Played, tempo: f64, sr: f64, allowed: f64) -> usize {
    let samples_per_beat = 60.0 / tempo * sr;
    let step_samples = samples_per_beat / 4.0;
    let mut on_at = [None::<u64>; 128];
    let mut notes = 0;
    for &(sample, n) in &played.events {
        let beat = sample as f64 / samples_per_beat;
        let step = (beat * 4.0).round() / 4.0;
        let want = step * samples_per_beat;
        assert!(
            (sample as f64 - want).abs() <= allowed,
            "{n:?} at sample {sample}, its grid step is at {want:.1} (allowed {allowed:.1})"
        );
        let k = n.pitch as usize;
        if n.on {
            assert!(on_at[k].is_none(), "{} struck while sounding", n.pitch);
            on_at[k] = Some(sample);
            notes += 1;
        } else {
            let start = on_at[k].take().expect("note-off without note-on");
            let length = (sample - start) as f64;
            assert!(
                length >= step_samples - 1.0,
                "note {} lasts {length} samples, a step is {step_samples}",
                n.pitch
            );
            let steps = (length / step_samples).round();
            assert!(
                (length - steps * step_samples).abs() <= 1.0,
                "note {} lasts {length} samples, not a whole number of steps",
                n.pitch
            );
        }
    }
    notes
}

#[test]
fn rounded_and_jittered_host_positions_are_not_jumps() {
    let sr = 48_000.0;
    let mut configs = 0;
    for (ti, &tempo) in [60.0, 90.0, 120.0, 137.0, 180.0].iter().enumerate() {
        for (ri, &rounding) in [1.0 / 1920.0, 1.0 / 960.0, 1.0 / 96.0].iter().enumerate() {
            for (bi, &block) in [32u32, 512, 1024, 4096, 0].iter().enumerate() {
                let seed = (ti * 100 + ri * 10 + bi) as u64;
                // Long enough for the whole 2-bar phrase and a little after it.
                let (rig, played) = play_rounded(tempo, rounding, 16.0, 10.0, seed, |_, rig| {
                    if block == 0 {
                        1 + (rig.random() * 4096.0) as u32
                    } else {
                        block
                    }
                });
                assert_eq!(
                    rig.engine.jumps(),
                    0,
                    "phantom jump at {tempo} BPM, rounding {rounding}, block {block}"
                );
                // The host's rounding (half a step of it) and the jitter, in samples.
                let samples_per_beat = 60.0 / tempo * sr;
                let allowed = rounding / 2.0 * samples_per_beat + 16.0 + 1.0;
                let n = check_on_grid(&played, tempo, sr, allowed);
                assert!(n >= 12, "only {n} notes at {tempo} BPM, block {block}");
                assert_eq!(rig.engine.sounding_notes(), 0, "notes left sounding");
                configs += 1;
            }
        }
    }
    assert_eq!(configs, 75);
}

#[test]
fn a_real_loop_or_seek_on_a_rounded_transport_still_ends_notes() {
    let (mut rig, _) = play_rounded(120.0, 1.0 / 1920.0, 16.0, 0.6, 7, |_, _| 1024);
    let settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: 2,
        ..Settings::default()
    };
    // Play into a held note of the phrase.
    let t = Instant::now();
    while rig.engine.sounding_notes() == 0 {
        assert!(t.elapsed() < Duration::from_secs(10));
        rig.block(256, &settings, &[], None);
    }
    assert_eq!(rig.engine.jumps(), 0);
    // A loop back one beat.
    rig.pos -= 1.0;
    let (_, events) = rig.block(1024, &settings, &[], None);
    assert!(notes(&events).iter().any(|n| !n.on && n.timing == 0));
    assert_eq!(rig.engine.jumps(), 1);
    // A seek forward by an eighth of a beat (far more than rounding allows) is a jump too.
    while rig.engine.sounding_notes() == 0 {
        assert!(t.elapsed() < Duration::from_secs(10));
        rig.block(256, &settings, &[], None);
    }
    rig.pos += 0.125;
    let (_, events) = rig.block(1024, &settings, &[], None);
    assert!(notes(&events).iter().any(|n| !n.on && n.timing == 0));
    assert_eq!(rig.engine.jumps(), 2);
}

/// Bar quantize in 3/4, 6/8 and 7/8 with a host that reports the bar start correctly and with
/// one that reports it as bars × 4 beats (Ardour): the phrase starts on a real bar line and its
/// length is `Length` bars of the meter.
#[test]
fn bar_quantize_and_bar_lengths_follow_the_meter_even_when_the_host_counts_four_beat_bars() {
    for (num, den) in [(3, 4), (6, 8), (7, 8), (4, 4)] {
        let bar = num as f64 * 4.0 / den as f64;
        for ardour in [false, true] {
            let mut rig = Rig::new(&["*60", "60", "60", "60"], false);
            rig.time_signature = (num, den);
            rig.rounding = 1.0 / 1920.0;
            let mut settings = Settings {
                quantize: StartQuantize::Bar,
                length_bars: 2,
                ..Settings::default()
            };
            rig.wait_model(&settings);
            // Play into the second bar, reporting the bar start each block.
            let mut events = Vec::new();
            let mut pressed = false;
            let t = Instant::now();
            while rig.pos < 7.0 * bar {
                assert!(t.elapsed() < Duration::from_secs(20));
                let bars = (rig.pos / bar + 1e-9).floor();
                rig.bar_start = Some(if ardour { bars * 4.0 } else { bars * bar });
                if rig.pos > 1.3 * bar && !pressed {
                    settings.generate = true;
                    pressed = true;
                }
                let (start, out) = rig.block(480, &settings, &[], None);
                settings.generate = false;
                let bps = rig.tempo / 60.0 / rig.sr;
                events.extend(
                    notes(&out)
                        .into_iter()
                        .map(|n| (start + n.timing as f64 * bps, n)),
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            let ons: Vec<f64> = events
                .iter()
                .filter(|(_, n)| n.on)
                .map(|(b, _)| *b)
                .collect();
            assert!(!ons.is_empty(), "{num}/{den}: nothing played");
            let first = ons[0];
            let last_off = events.iter().filter(|(_, n)| !n.on).map(|(b, _)| *b).last();
            let tag = format!("{num}/{den} ardour={ardour}");
            // Starts on a bar line after the press (bars at multiples of `bar`).
            assert!(
                ((first / bar) - (first / bar).round()).abs() < 1e-3,
                "{tag}: phrase starts at beat {first}, not on a bar line"
            );
            assert!(first > 1.3 * bar, "{tag}: starts before the press");
            // Two bars long: the last note ends at start + 2 bars.
            let end = last_off.unwrap();
            assert!(
                (end - (first + 2.0 * bar)).abs() < 1e-3,
                "{tag}: phrase from {first} ends at {end}, want {}",
                first + 2.0 * bar
            );
        }
    }
}

fn cc(timing: u32, controller: u8, value: u8) -> Input<Raw> {
    Input {
        timing,
        live: Live::Control {
            channel: 0,
            controller,
            value,
        },
        raw: Raw(10_000 + timing),
    }
}

fn thru_raw(events: &[(u32, Out<Raw>)]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Out::Thru(Raw(r)) => Some(*r),
            _ => None,
        })
        .collect()
}

#[test]
fn a_session_restore_sends_no_controllers_but_played_ones_pass() {
    let mut rig = Rig::new(&["*60"], false);
    let mut settings = Settings::default();
    // What Ardour sends on reopening: every controller on every channel, in the first blocks.
    let flood: Vec<Input<Raw>> = (0..16u8)
        .flat_map(|ch| {
            (0..128u8).map(move |c| Input {
                timing: 0,
                live: Live::Control {
                    channel: ch,
                    controller: c,
                    value: 64,
                },
                raw: Raw(10_000),
            })
        })
        .chain((0..10).map(|_| Input {
            timing: 0,
            live: Live::Expression,
            raw: Raw(10_000),
        }))
        .take(MAX_INPUT_EVENTS)
        .collect();
    for _ in 0..3 {
        let (_, out) = rig.block(1024, &settings, &flood, None);
        assert!(
            thru_raw(&out).is_empty(),
            "restored controllers passed through"
        );
    }
    // The restored sustain-on is not heard either: a key released now ends.
    for _ in 0..20 {
        rig.block(1024, &settings, &[], None);
    }
    assert!(!rig.engine.restoring());
    let (_, out) = rig.block(1024, &settings, &[cc(5, 64, 127), cc(9, 1, 30)], None);
    assert_eq!(
        thru_raw(&out),
        [10_005, 10_009],
        "played controllers must pass"
    );
    // A state load re-arms the guard.
    settings.state_loads += 1;
    let (_, out) = rig.block(1024, &settings, &flood[..100], None);
    assert!(thru_raw(&out).is_empty());
    // Thru off lifts a pedal that passed through down.
    for _ in 0..20 {
        rig.block(1024, &settings, &[], None);
    }
    let (_, out) = rig.block(64, &settings, &[cc(0, 64, 127)], None);
    assert_eq!(thru_raw(&out), [10_000]);
    settings.thru = false;
    let (_, out) = rig.block(64, &settings, &[], None);
    assert!(out
        .iter()
        .any(|(t, e)| *t == 0 && matches!(e, Out::PedalUp { channel: 0 })));
}

/// Ardour changes tempo inside a block: its next position follows the new tempo from the change
/// on, which the engine's count (the old tempo for the whole block) cannot know. After a tempo
/// change the host's report is taken, so later events sit on the true grid again.
#[test]
fn a_tempo_change_inside_a_block_is_followed_without_a_jump() {
    let mut rig = Rig::new(&CYCLE, false);
    rig.rounding = 1.0 / 1920.0;
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: 4,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    settings.generate = true;
    let frames = 1024u32;
    let mut events = Vec::new();
    let mut changed = false;
    let t = Instant::now();
    while rig.pos < 14.0 {
        assert!(t.elapsed() < Duration::from_secs(20));
        let start = rig.pos;
        let tempo = rig.tempo;
        let (_, out) = rig.block(frames, &settings, &[], None);
        settings.generate = false;
        if !changed && rig.pos > 4.0 {
            // The change to 90 BPM falls 300 samples into this block: the true position moved
            // on at 90 BPM for the rest of it.
            changed = true;
            rig.tempo = 90.0;
            rig.pos = start + 300.0 * tempo / 60.0 / rig.sr + (frames - 300) as f64 * 1.5 / rig.sr;
            continue;
        }
        let bps = tempo / 60.0 / rig.sr;
        events.extend(
            notes(&out)
                .into_iter()
                .map(|n| (start + n.timing as f64 * bps, n, tempo)),
        );
        if rig.engine.pending.is_some() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(changed);
    assert_eq!(rig.engine.jumps(), 0);
    let after: Vec<_> = events.iter().filter(|(b, _, _)| *b > 4.5).collect();
    assert!(
        after.len() >= 8,
        "only {} events after the change",
        after.len()
    );
    for (beat, n, tempo) in after {
        let samples_per_beat = 60.0 / tempo * rig.sr;
        let deviation = (beat - (beat * 4.0).round() / 4.0).abs() * samples_per_beat;
        // Within the host's rounding (1/3840 beat) and a sample.
        assert!(
            deviation <= samples_per_beat / 3840.0 + 1.0,
            "{n:?} at beat {beat:.5} is {deviation:.1} samples off the grid after the change"
        );
    }
}
