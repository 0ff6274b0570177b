//! Reading Standard MIDI Files into a flat, time-sorted note list.

use std::path::{Path, PathBuf};

use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

use super::sustain::{Keys, CC_SUSTAIN};
use super::Note;

/// General MIDI's percussion channel (channel 10, zero-based 9): its "notes" are drum sounds, not
/// pitches, so they never enter the roll.
const GM_DRUM_CHANNEL: u8 = 9;
/// Largest file we accept. The whole shared corpus is under 1 MB per file; anything past this is
/// far more likely a wrong file than music.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// Notes further in than this many beats (28 hours at 120 BPM) are "absurd".
pub const MAX_SONG_BEATS: f64 = 200_000.0;
/// A declared chunk length above this is "absurd": no real MIDI track is that long.
const MAX_TRACK_EVENTS: usize = 10_000_000;

/// How a file's events become notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Let the sustain pedal (CC64 ≥ 64) hold notes released while it is down, until the pedal
    /// comes up, as a piano does. On by default because the model learns piano music; turn it off
    /// for data whose CC64 means something else, or to see the written note lengths.
    pub sustain_pedal: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            sustain_pedal: true,
        }
    }
}

/// The musical content of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Song {
    /// All notes of all tracks and channels (but drums), sorted by start, then pitch.
    pub notes: Vec<Note>,
    /// The first tempo in the file, 120 when there is none.
    pub tempo_bpm: f64,
    /// The first time signature (numerator, denominator), 4/4 when there is none.
    pub time_signature: (u8, u8),
    /// Where the last track ends, in beats.
    pub length_beats: f64,
}

/// Why a file could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum MidiError {
    #[error("{path}: cannot read the file: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: file is {size} bytes, more than the {max} a MIDI file may have here")]
    TooLarge {
        path: PathBuf,
        size: u64,
        max: usize,
    },
    #[error("{path}: not a valid Standard MIDI File: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "{path}: uses SMPTE time code division; only ticks-per-quarter-note files have a beat grid"
    )]
    Smpte { path: PathBuf },
    #[error("{path}: the header says 0 ticks per quarter note")]
    ZeroDivision { path: PathBuf },
}

impl MidiError {
    pub fn path(&self) -> &Path {
        match self {
            MidiError::Io { path, .. }
            | MidiError::TooLarge { path, .. }
            | MidiError::Malformed { path, .. }
            | MidiError::Smpte { path }
            | MidiError::ZeroDivision { path } => path,
        }
    }
}

/// Reads and parses one file.
pub fn read_file(path: &Path, options: ReadOptions) -> Result<Song, MidiError> {
    let size = std::fs::metadata(path)
        .map_err(|source| MidiError::Io {
            path: path.to_owned(),
            source,
        })?
        .len();
    if size > MAX_FILE_BYTES as u64 {
        return Err(MidiError::TooLarge {
            path: path.to_owned(),
            size,
            max: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| MidiError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_smf(&bytes, path, options)
}

/// Parses SMF bytes; `path` only names the source in errors.
pub fn read_smf(bytes: &[u8], path: &Path, options: ReadOptions) -> Result<Song, MidiError> {
    let malformed = |reason: String| MidiError::Malformed {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() > MAX_FILE_BYTES {
        return Err(MidiError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            max: MAX_FILE_BYTES,
        });
    }
    if bytes.len() < 14 || &bytes[0..4] != b"MThd" {
        return Err(malformed("no MThd header chunk at the start".into()));
    }
    // The division is read from the header before midly so that the two unusable kinds get
    // their own message (midly reports a zero division as a generic error).
    let division = u16::from_be_bytes([bytes[12], bytes[13]]);
    if division & 0x8000 != 0 {
        return Err(MidiError::Smpte {
            path: path.to_owned(),
        });
    }
    if division == 0 {
        return Err(MidiError::ZeroDivision {
            path: path.to_owned(),
        });
    }
    check_chunks(bytes).map_err(malformed)?;
    let smf = Smf::parse(bytes).map_err(|e| malformed(describe_midly_error(&e)))?;
    let ticks_per_beat = match smf.header.timing {
        Timing::Metrical(t) => t.as_int() as f64,
        Timing::Timecode(..) => {
            return Err(MidiError::Smpte {
                path: path.to_owned(),
            })
        }
    };
    if smf.tracks.iter().map(|t| t.len()).sum::<usize>() > MAX_TRACK_EVENTS {
        return Err(malformed(format!("more than {MAX_TRACK_EVENTS} events")));
    }
    let song = collect_notes(&smf, ticks_per_beat, options);
    // Delta times of up to 2^28 ticks at 1 tick per beat would put a note years in: the grid
    // (4 steps a beat, 32 bytes a step) would need gigabytes. No piece is that long.
    let last_note = song.notes.iter().map(|n| n.end_beats).fold(0.0, f64::max);
    if last_note > MAX_SONG_BEATS {
        return Err(malformed(format!(
            "a note ends at beat {last_note:.0}, more than {MAX_SONG_BEATS:.0} beats in"
        )));
    }
    Ok(song)
}

/// Walks the chunk headers. midly is lenient and would read a truncated track as a short one; a
/// file cut off in the middle should be reported, not half-learned.
fn check_chunks(bytes: &[u8]) -> Result<(), String> {
    let header_len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    if header_len < 6 || header_len > bytes.len() - 8 {
        return Err(format!("header chunk declares {header_len} bytes"));
    }
    let declared_tracks = u16::from_be_bytes([bytes[10], bytes[11]]) as usize;
    let mut at = 8 + header_len;
    let mut tracks = 0;
    while at < bytes.len() {
        if bytes.len() - at < 8 {
            return Err(format!("truncated chunk header at byte {at}"));
        }
        let len = u32::from_be_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let remaining = bytes.len() - at - 8;
        if len > remaining {
            let kind = String::from_utf8_lossy(&bytes[at..at + 4]).into_owned();
            return Err(format!("truncated chunk: {kind:?} at byte {at} declares {len} bytes but only {remaining} remain"));
        }
        if &bytes[at..at + 4] == b"MTrk" {
            tracks += 1;
        }
        at += 8 + len;
    }
    if tracks < declared_tracks {
        return Err(format!(
            "truncated: the header announces {declared_tracks} tracks but the file holds {tracks}"
        ));
    }
    Ok(())
}

fn describe_midly_error(e: &midly::Error) -> String {
    // midly's Display gives the kind and a short description; keep the chain on one line.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A note-on seen on a key that has not been released yet.
#[derive(Clone, Copy)]
struct Sounding {
    start_tick: u64,
    velocity: u8,
}

struct NoteCollector {
    ticks_per_beat: f64,
    notes: Vec<Note>,
}

impl NoteCollector {
    fn finish(&mut self, pitch: u8, from: Sounding, end_tick: u64) {
        self.notes.push(Note {
            pitch,
            start_beats: from.start_tick as f64 / self.ticks_per_beat,
            // Zero-length notes are kept; the roll gives them one step.
            end_beats: end_tick.max(from.start_tick) as f64 / self.ticks_per_beat,
            velocity: from.velocity.max(1),
        });
    }
}

fn collect_notes(smf: &Smf, ticks_per_beat: f64, options: ReadOptions) -> Song {
    let mut collector = NoteCollector {
        ticks_per_beat,
        notes: Vec::new(),
    };
    let mut tempo_bpm = None;
    let mut time_signature = None;
    let mut track_start = 0u64;
    let mut song_end = 0u64;

    for track in &smf.tracks {
        // Format 2 files hold independent sequences one after another; 0 and 1 play together.
        let mut tick = if smf.header.format == Format::Sequential {
            track_start
        } else {
            0
        };
        let mut channels: Vec<Keys<Sounding>> =
            (0..16).map(|_| Keys::new(options.sustain_pedal)).collect();
        for event in track {
            tick += event.delta.as_int() as u64;
            match event.kind {
                TrackEventKind::Midi { channel, message } => {
                    let ch = channel.as_int();
                    if ch == GM_DRUM_CHANNEL {
                        continue;
                    }
                    let keys = &mut channels[ch as usize];
                    let mut end = |k: u8, prev: Sounding| collector.finish(k, prev, tick);
                    match message {
                        MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                            let start = Sounding {
                                start_tick: tick,
                                velocity: vel.as_int(),
                            };
                            keys.strike(key.as_int(), start, &mut end);
                        }
                        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                            keys.release(key.as_int(), &mut end)
                        }
                        MidiMessage::Controller { controller, value }
                            if controller.as_int() == CC_SUSTAIN =>
                        {
                            keys.pedal(value.as_int(), &mut end)
                        }
                        _ => {}
                    }
                }
                TrackEventKind::Meta(MetaMessage::Tempo(us_per_beat)) => {
                    let us = us_per_beat.as_int().max(1) as f64;
                    tempo_bpm.get_or_insert(60_000_000.0 / us);
                }
                TrackEventKind::Meta(MetaMessage::TimeSignature(num, denom_pow, _, _)) => {
                    let denom = 1u32.checked_shl(denom_pow as u32).unwrap_or(4).min(255) as u8;
                    time_signature.get_or_insert((num.max(1), denom.max(1)));
                }
                _ => {}
            }
        }
        // Notes never switched off (or held by a pedal never lifted) end at the end of the track.
        for keys in &mut channels {
            keys.finish_all(|k, prev| collector.finish(k, prev, tick));
        }
        track_start = tick;
        song_end = song_end.max(tick);
    }

    let mut notes = collector.notes;
    notes.sort_by(|a, b| {
        a.start_beats
            .total_cmp(&b.start_beats)
            .then(a.pitch.cmp(&b.pitch))
    });
    Song {
        notes,
        tempo_bpm: tempo_bpm.unwrap_or(120.0),
        time_signature: time_signature.unwrap_or((4, 4)),
        length_beats: song_end as f64 / ticks_per_beat,
    }
}
