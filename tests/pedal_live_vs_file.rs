//! The sustain pedal is one rule (`midi::sustain`) for files and for the live capture: the same
//! pedalled performance, read as a .mid or played into the plugin's capture, gives the model the
//! same steps.
//!
//! The performance: Bach's C major prelude (BWV 846, score MIDI from the piano corpus) with a
//! pianist's pedalling added — the pedal changes at every bar line (up on the beat, down an
//! eighth later) — so nearly every note is held by the pedal past its written end.

use std::path::Path;

use continuo::engine::capture::Capture;
use continuo::midi::{read_smf, ReadOptions};
use continuo::roll::{notes_to_roll, Chord, Grid};
use midly::num::{u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// (tick, channel, message) of every channel event of a file, merged over its tracks in time order.
fn merged_events(bytes: &[u8]) -> (u16, Vec<(u64, u8, MidiMessage)>) {
    let smf = Smf::parse(bytes).expect("fixture parses");
    let Timing::Metrical(tpq) = smf.header.timing else {
        panic!("metrical fixture")
    };
    let mut events = Vec::new();
    for (t, track) in smf.tracks.iter().enumerate() {
        let mut tick = 0u64;
        for (i, event) in track.iter().enumerate() {
            tick += event.delta.as_int() as u64;
            if let TrackEventKind::Midi { channel, message } = event.kind {
                events.push((tick, t, i, channel.as_int(), message));
            }
        }
    }
    // Stable by time; at the same tick note-offs before note-ons keep repeated keys apart.
    events.sort_by_key(|&(tick, t, i, _, m)| {
        let on = matches!(m, MidiMessage::NoteOn { vel, .. } if vel.as_int() > 0);
        (tick, on, t, i)
    });
    let events = events
        .into_iter()
        .map(|(tick, _, _, c, m)| (tick, c, m))
        .collect();
    (tpq.as_int(), events)
}

/// Adds pedal changes at every bar line of 4/4 on each channel that plays.
fn pedalled(events: &[(u64, u8, MidiMessage)], tpq: u16) -> Vec<(u64, u8, MidiMessage)> {
    let bar = 4 * tpq as u64;
    let end = events.iter().map(|e| e.0).max().unwrap_or(0);
    let mut channels: Vec<u8> = events.iter().map(|e| e.1).collect();
    channels.sort();
    channels.dedup();
    let pedal = |value: u8| MidiMessage::Controller {
        controller: u7::new(64),
        value: u7::new(value),
    };
    let mut out = Vec::new();
    for &ch in &channels {
        let mut at = 0;
        while at <= end {
            out.push((at, ch, pedal(0), 0));
            out.push((at + tpq as u64 / 2, ch, pedal(127), 2));
            at += bar;
        }
        out.push((end, ch, pedal(0), 3));
    }
    // Order at one tick: pedal up, then the score's events, then pedal down.
    out.extend(events.iter().map(|&(t, c, m)| (t, c, m, 1)));
    out.sort_by_key(|e| (e.0, e.3));
    out.into_iter().map(|(t, c, m, _)| (t, c, m)).collect()
}

/// A format-0 file of these events (one stream, as a live performance is).
fn write_format0(events: &[(u64, u8, MidiMessage)], tpq: u16) -> Vec<u8> {
    let mut track = vec![TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::Tempo(midly::num::u24::new(500_000))),
    }];
    let mut last = 0;
    for &(tick, ch, message) in events {
        track.push(TrackEvent {
            delta: u28::new((tick - last) as u32),
            kind: TrackEventKind::Midi {
                channel: u4::new(ch),
                message,
            },
        });
        last = tick;
    }
    track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let smf = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(tpq.into())),
        tracks: vec![track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).expect("write");
    bytes
}

/// Plays the events into the live capture at their beats; returns its steps from 0 to `len`.
fn live_steps(events: &[(u64, u8, MidiMessage)], tpq: u16, len: usize) -> Vec<Chord> {
    let mut capture = Capture::new(Grid::default().steps_per_beat);
    for &(tick, ch, message) in events {
        let beat = tick as f64 / tpq as f64;
        match message {
            MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                capture.note_on(ch, beat, key.as_int(), vel.as_int(), beat)
            }
            MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                capture.note_off(ch, beat, key.as_int(), beat)
            }
            MidiMessage::Controller { controller, value } if controller.as_int() == 64 => {
                capture.pedal(ch, beat, value.as_int(), beat)
            }
            _ => {}
        }
        capture.advance(beat);
    }
    let mut steps = vec![Chord::REST; len];
    capture.context(len as i64, &mut steps);
    steps
}

fn file_steps(bytes: &[u8], sustain_pedal: bool) -> Vec<Chord> {
    let song = read_smf(
        bytes,
        Path::new("performance.mid"),
        ReadOptions { sustain_pedal },
    )
    .expect("reads");
    notes_to_roll(&song.notes, Grid::default()).steps
}

#[test]
fn a_pedalled_performance_gives_the_same_steps_live_and_from_a_file() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/piano/bach_prelude_bwv_846.mid");
    let (tpq, score) = merged_events(&std::fs::read(fixture).unwrap());
    let performance = pedalled(&score, tpq);
    let file = write_format0(&performance, tpq);
    let from_file = file_steps(&file, true);
    assert!(from_file.len() > 500, "the prelude is 35 bars");
    let live = live_steps(&performance, tpq, from_file.len());
    let text = |s: &[Chord]| s.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let (f, l) = (text(&from_file), text(&live));
    let first_difference = f.iter().zip(&l).position(|(a, b)| a != b);
    assert_eq!(
        first_difference, None,
        "live and file differ at step {first_difference:?}"
    );

    // The pedal matters: without it the steps differ (the score's notes end at their written
    // lengths), and pedalled steps hold more keys.
    let unpedalled = file_steps(&file, false);
    let sounding = |s: &[Chord]| s.iter().map(|c| c.len()).sum::<usize>();
    assert!(
        sounding(&from_file) as f64 > 1.5 * sounding(&unpedalled) as f64,
        "pedalled {} vs unpedalled {} key-steps",
        sounding(&from_file),
        sounding(&unpedalled)
    );
    // Same strikes either way: the pedal only lengthens notes.
    let strikes = |s: &[Chord]| s.iter().map(|c| c.struck_mask().count_ones()).sum::<u32>();
    assert_eq!(strikes(&from_file), strikes(&unpedalled));
}
