//! Writing notes to a Standard MIDI File that any DAW opens.

use std::path::Path;

use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use super::Note;

/// 480 ticks per quarter note: every DAW's default, and exact for every grid Continuo uses
/// (1..=16 steps per beat that divide 480, and triplets).
pub const TICKS_PER_BEAT: u16 = 480;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmfFormat {
    /// One track holding tempo, metre and notes.
    SingleTrack,
    /// A conductor track (tempo, metre) and a note track.
    MultiTrack,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteOptions {
    pub format: SmfFormat,
    pub tempo_bpm: f64,
    pub time_signature: (u8, u8),
    /// Zero-based MIDI channel for the notes.
    pub channel: u8,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            format: SmfFormat::MultiTrack,
            tempo_bpm: 120.0,
            time_signature: (4, 4),
            channel: 0,
        }
    }
}

/// Encodes notes (each with its own velocity) as SMF bytes.
pub fn write_smf(notes: &[Note], options: &WriteOptions) -> Vec<u8> {
    let to_tick = |beats: f64| (beats.max(0.0) * TICKS_PER_BEAT as f64).round() as u64;
    let channel = u4::new(options.channel.min(15));

    // (tick, order, message): note-offs sort before note-ons at the same tick so that a note
    // struck again right where it ends is not cut off by its own old note-off.
    let mut timed: Vec<(u64, u8, MidiMessage)> = Vec::with_capacity(notes.len() * 2);
    for n in notes {
        let start = to_tick(n.start_beats);
        let end = to_tick(n.end_beats).max(start + 1);
        let key = u7::new(n.pitch.min(127));
        timed.push((
            start,
            1,
            MidiMessage::NoteOn {
                key,
                vel: u7::new(n.velocity.clamp(1, 127)),
            },
        ));
        timed.push((
            end,
            0,
            MidiMessage::NoteOff {
                key,
                vel: u7::new(64),
            },
        ));
    }
    timed.sort_by_key(|(tick, order, msg)| (*tick, *order, message_key(msg)));

    let tempo_us = (60_000_000.0 / options.tempo_bpm.clamp(1.0, 1000.0)).round() as u32;
    let (num, denom) = options.time_signature;
    let denom_pow = (denom.max(1) as f64).log2().round() as u8;
    let conductor: Vec<TrackEvent> = vec![
        meta(0, MetaMessage::Tempo(u24::new(tempo_us.min(0xFF_FFFF)))),
        meta(0, MetaMessage::TimeSignature(num.max(1), denom_pow, 24, 8)),
    ];

    let mut note_events: Vec<TrackEvent> = Vec::with_capacity(timed.len() + 1);
    let mut last = 0u64;
    for (tick, _, message) in timed {
        let delta = (tick - last).min(u28::max_value().as_int() as u64) as u32;
        note_events.push(TrackEvent {
            delta: u28::new(delta),
            kind: TrackEventKind::Midi { channel, message },
        });
        last = tick;
    }

    let end_of_track = |events: &mut Vec<TrackEvent>| events.push(meta(0, MetaMessage::EndOfTrack));
    let (format, tracks) = match options.format {
        SmfFormat::SingleTrack => {
            let mut track = conductor;
            track.extend(note_events);
            end_of_track(&mut track);
            (Format::SingleTrack, vec![track])
        }
        SmfFormat::MultiTrack => {
            let mut conductor = conductor;
            end_of_track(&mut conductor);
            end_of_track(&mut note_events);
            (Format::Parallel, vec![conductor, note_events])
        }
    };
    let smf = Smf {
        header: Header::new(format, Timing::Metrical(u15::new(TICKS_PER_BEAT))),
        tracks,
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .expect("writing to a Vec cannot fail");
    bytes
}

/// Writes notes to a file; an existing file is replaced only once the new one is complete.
pub fn write_file(path: &Path, notes: &[Note], options: &WriteOptions) -> std::io::Result<()> {
    crate::fs_safe::write_atomically(path, &write_smf(notes, options))
}

fn meta(delta: u32, message: MetaMessage<'static>) -> TrackEvent<'static> {
    TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Meta(message),
    }
}

fn message_key(message: &MidiMessage) -> u8 {
    match message {
        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => key.as_int(),
        _ => 0,
    }
}
