//! Variations: one press makes several phrases from the same context; the chosen one plays,
//! switching while it plays ends the old one's notes and goes on with the new one from the
//! playhead, on the same start; all of them and the one that played are saved.

use super::*;

/// Eight single notes; variation v (seed 10 + v) starts the cycle 10 + v steps in.
const CYCLE: [&str; 8] = ["*60", "*62", "*64", "*65", "*67", "*69", "*71", "*72"];

fn pitch_at(step: usize, variation: usize) -> u8 {
    [60, 62, 64, 65, 67, 69, 71, 72][(step + 10 + variation) % 8]
}

#[test]
fn three_variations_and_switching_while_one_plays() {
    let mut rig = Rig::new(&CYCLE, false);
    rig.scripted.vary_by_seed.store(true, Ordering::SeqCst);
    let mut settings = Settings {
        quantize: StartQuantize::Step,
        length_bars: 2,
        variations: 3,
        variation: 0,
        seed: 10,
        ..Settings::default()
    };
    rig.wait_model(&settings);
    settings.generate = true;
    let mut played: Vec<(f64, NoteOut)> = Vec::new();
    let mut switched_at = None;
    let t = Instant::now();
    // Two bars = 8 beats; switch to variation 3 after 3 beats of the phrase.
    loop {
        assert!(t.elapsed() < Duration::from_secs(20), "never finished");
        let (start, out) = rig.block(512, &settings, &[], None);
        settings.generate = false;
        let bps = rig.tempo / 60.0 / rig.sr;
        for n in notes(&out) {
            let beat = ((start + n.timing as f64 * bps) * 4.0).round() / 4.0;
            played.push((beat, n));
        }
        let Some(phrase_start) = rig.engine.take.start else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        if switched_at.is_none() && rig.pos > phrase_start + 3.0 {
            // All three have arrived by now (the generator is instant).
            assert_eq!(rig.engine.take.waiting_mask(), 0b110);
            settings.variation = 2;
            switched_at = Some(played.len());
        }
        if rig.pos > phrase_start + 9.0 {
            break;
        }
    }
    let phrase_start = rig.engine.take.start.unwrap();
    let switch = switched_at.unwrap();
    // Before the switch: variation 1's notes, one per step from the start.
    for (beat, n) in played[..switch].iter().filter(|(_, n)| n.on) {
        let step = ((beat - phrase_start) * 4.0).round() as usize;
        assert_eq!(n.pitch, pitch_at(step, 0), "step {step}");
    }
    // At the switch the old note ends (first event of that block), then variation 3 plays on.
    let (switch_beat, first) = played[switch];
    assert!(!first.on, "the switch must end the sounding note first");
    assert_eq!(
        first.pitch,
        played[..switch]
            .iter()
            .rev()
            .find(|(_, n)| n.on)
            .unwrap()
            .1
            .pitch
    );
    let after: Vec<&(f64, NoteOut)> = played[switch..].iter().filter(|(_, n)| n.on).collect();
    assert!(
        after.len() >= 16,
        "only {} notes after the switch",
        after.len()
    );
    for (beat, n) in after {
        assert!(*beat >= switch_beat);
        let step = ((beat - phrase_start) * 4.0).round() as usize;
        assert_eq!(n.pitch, pitch_at(step, 2), "step {step}");
    }
    // Every note-on got its note-off; none doubled.
    let mut sounding = [false; 128];
    for (_, n) in &played {
        assert_ne!(sounding[n.pitch as usize], n.on, "{n:?}");
        sounding[n.pitch as usize] = n.on;
    }
    assert!(sounding.iter().all(|s| !s));
    assert_eq!(rig.engine.sounding_notes(), 0);
    // Saved: all three, and the one playing at the end.
    let t = Instant::now();
    while rig.store.get().variation != 2 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the switch was not saved"
        );
        rig.block(64, &settings, &[], None);
        std::thread::sleep(Duration::from_millis(2));
    }
    let saved = rig.store.variations();
    assert_eq!(
        saved.iter().map(|v| v.variation).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    for v in &saved {
        assert_eq!(v.start_beats, phrase_start);
        assert_eq!(v.notes.len(), 32);
        for (step, n) in v.notes.iter().enumerate() {
            assert_eq!(n.pitch, pitch_at(step, v.variation as usize));
        }
    }
    assert_eq!(rig.store.get(), saved[2]);
    // The editor sees all three.
    let views = &rig.reader.worker().variations;
    assert_eq!(views.len(), 3);
    assert!(views.iter().all(|v| v.complete && v.notes.len() == 32));
}
