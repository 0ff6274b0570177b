//! MIDI in: every format, the note-merging rules, the sustain pedal, and every kind of bad file.

use std::path::Path;

use continuo::midi::{
    read_file, read_smf, write_smf, MidiError, Note, ReadOptions, SmfFormat, WriteOptions,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Builds an SMF by hand so tests control every byte (running status, format, division).
fn smf(format: u16, division: u16, tracks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"MThd".to_vec();
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&format.to_be_bytes());
    out.extend_from_slice(&(tracks.len() as u16).to_be_bytes());
    out.extend_from_slice(&division.to_be_bytes());
    for t in tracks {
        let mut body = t.clone();
        body.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);
        out.extend_from_slice(b"MTrk");
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out
}

fn parse(bytes: &[u8]) -> Result<continuo::midi::Song, MidiError> {
    read_smf(bytes, Path::new("test.mid"), ReadOptions::default())
}

fn triples(notes: &[Note]) -> Vec<(u8, f64, f64)> {
    notes
        .iter()
        .map(|n| (n.pitch, n.start_beats, n.end_beats))
        .collect()
}

#[test]
fn real_chorales_parse_with_four_voices() {
    for name in ["bwv66.6.mid", "bwv323.mid", "bwv281.mid", "bwv165.6.mid"] {
        let song = read_file(&Path::new(FIXTURES).join(name), ReadOptions::default()).unwrap();
        assert!(song.notes.len() > 80, "{name}: {} notes", song.notes.len());
        assert!(
            song.notes.iter().all(|n| (30..100).contains(&n.pitch)),
            "{name}: chorale range"
        );
        assert!(song.notes.iter().all(|n| n.end_beats >= n.start_beats));
        assert!(song.tempo_bpm > 0.0);
        // Four voices: at the first beat a chorale sounds a 4-part chord (or 3 in unison).
        let at_start = song
            .notes
            .iter()
            .filter(|n| n.start_beats == song.notes[0].start_beats)
            .count();
        assert!(
            (3..=4).contains(&at_start),
            "{name}: {at_start} notes in the first chord"
        );
        assert!(
            song.notes
                .windows(2)
                .all(|w| w[0].start_beats <= w[1].start_beats),
            "sorted"
        );
    }
}

#[test]
fn format_0_with_running_status_sysex_and_meta() {
    // tpq 96; C4 on at 0, running-status E4 on at 0, sysex, text meta, both off (vel 0) at 96.
    let track = vec![
        0x00, 0x90, 60, 100, // note on
        0x00, 64, 90, // running status note on
        0x00, 0xF0, 0x03, 0x7E, 0x7F, 0xF7, // sysex
        0x00, 0xFF, 0x01, 0x02, b'h', b'i', // text meta
        0x60, 0x90, 60, 0, // note on vel 0 = off
        0x00, 64, 0, // running status off
    ];
    let song = parse(&smf(0, 96, &[track])).unwrap();
    assert_eq!(triples(&song.notes), vec![(60, 0.0, 1.0), (64, 0.0, 1.0)]);
    assert_eq!(song.notes[1].velocity, 90);
}

#[test]
fn format_1_tracks_merge_and_drums_are_ignored() {
    let t1 = vec![0x00, 0x90, 60, 100, 0x83, 0x60, 0x80, 60, 0]; // 480 ticks = 1 beat at tpq 480
    let t2 = vec![0x00, 0x91, 67, 100, 0x83, 0x60, 0x81, 67, 0];
    let drums = vec![0x00, 0x99, 36, 100, 0x83, 0x60, 0x89, 36, 0];
    let song = read_smf(
        &smf(1, 480, &[t1, t2, drums]),
        Path::new("x.mid"),
        ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(triples(&song.notes), vec![(60, 0.0, 1.0), (67, 0.0, 1.0)]);
}

#[test]
fn format_2_sequences_play_one_after_another() {
    let t1 = vec![0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0];
    let t2 = vec![0x00, 0x90, 62, 100, 0x60, 0x80, 62, 0];
    let song = parse(&smf(2, 96, &[t1, t2])).unwrap();
    assert_eq!(triples(&song.notes), vec![(60, 0.0, 1.0), (62, 1.0, 2.0)]);
}

#[test]
fn restrike_ends_the_earlier_note_and_unended_notes_end_with_the_track() {
    let track = vec![
        0x00, 0x90, 60, 100, // on
        0x30, 0x90, 60, 100, // struck again at half a beat
        0x30, 0x80, 60, 0, // one off at 1 beat
        0x00, 0x90, 72, 100, // never switched off
        0x60, 0xB0, 10, 64, // some controller at 2 beats: the track ends here
    ];
    let song = parse(&smf(0, 96, &[track])).unwrap();
    assert_eq!(
        triples(&song.notes),
        vec![(60, 0.0, 0.5), (60, 0.5, 1.0), (72, 1.0, 2.0)]
    );
}

#[test]
fn sustain_pedal_extends_notes_only_when_enabled() {
    let track = vec![
        0x00, 0xB0, 64, 127, // pedal down
        0x00, 0x90, 60, 100, // C on
        0x30, 0x80, 60, 0, // C off at 0.5 (held by pedal)
        0x30, 0xB0, 64, 0, // pedal up at 1.0
    ];
    let bytes = smf(0, 96, &[track]);
    let with = read_smf(
        &bytes,
        Path::new("p.mid"),
        ReadOptions {
            sustain_pedal: true,
        },
    )
    .unwrap();
    assert_eq!(triples(&with.notes), vec![(60, 0.0, 1.0)]);
    let without = read_smf(
        &bytes,
        Path::new("p.mid"),
        ReadOptions {
            sustain_pedal: false,
        },
    )
    .unwrap();
    assert_eq!(triples(&without.notes), vec![(60, 0.0, 0.5)]);
}

#[test]
fn zero_length_notes_are_kept() {
    let track = vec![0x00, 0x90, 60, 100, 0x00, 0x80, 60, 0];
    let song = parse(&smf(0, 96, &[track])).unwrap();
    assert_eq!(triples(&song.notes), vec![(60, 0.0, 0.0)]);
}

#[test]
fn smpte_division_is_refused_by_name() {
    let err = parse(&smf(0, 0xE728, &[vec![]])).unwrap_err();
    assert!(matches!(err, MidiError::Smpte { .. }));
    assert!(
        err.to_string().contains("test.mid") && err.to_string().contains("SMPTE"),
        "{err}"
    );
}

#[test]
fn zero_division_is_refused() {
    let err = parse(&smf(0, 0, &[vec![]])).unwrap_err();
    assert!(matches!(err, MidiError::ZeroDivision { .. }), "{err}");
    assert!(err.to_string().contains("0 ticks per quarter"));
}

#[test]
fn truncated_chunk_is_refused() {
    let bytes = std::fs::read(Path::new(FIXTURES).join("bwv66.6.mid")).unwrap();
    for cut in [14, 30, bytes.len() / 2, bytes.len() - 3] {
        let err = parse(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, MidiError::Malformed { .. }),
            "cut {cut}: {err}"
        );
        assert!(err.to_string().starts_with("test.mid: "), "{err}");
    }
}

#[test]
fn absurd_chunk_length_is_refused() {
    let mut bytes = smf(0, 96, &[vec![0x00, 0x90, 60, 100]]);
    let at = 14 + 4;
    bytes[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, MidiError::Malformed { .. }), "{err}");
}

#[test]
fn random_bytes_and_empty_files_are_refused() {
    assert!(matches!(
        parse(b"").unwrap_err(),
        MidiError::Malformed { .. }
    ));
    assert!(matches!(
        parse(b"RIFF....WAVEfmt ").unwrap_err(),
        MidiError::Malformed { .. }
    ));
    let mut state = 0x1234_5678u32;
    for _ in 0..200 {
        let bytes: Vec<u8> = (0..300)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        assert!(parse(&bytes).is_err());
    }
}

#[test]
fn missing_file_names_the_path() {
    let err = read_file(Path::new("/no/such/dir/piece.mid"), ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("/no/such/dir/piece.mid"), "{err}");
}

#[test]
fn written_files_read_back_in_both_formats() {
    let notes = vec![
        Note {
            pitch: 60,
            start_beats: 0.0,
            end_beats: 1.0,
            velocity: 90,
        },
        Note {
            pitch: 67,
            start_beats: 0.25,
            end_beats: 3.0,
            velocity: 100,
        },
        Note {
            pitch: 60,
            start_beats: 1.0,
            end_beats: 1.5,
            velocity: 70,
        },
    ];
    for format in [SmfFormat::SingleTrack, SmfFormat::MultiTrack] {
        let options = WriteOptions {
            format,
            tempo_bpm: 90.0,
            time_signature: (3, 4),
            channel: 2,
        };
        let song = parse(&write_smf(&notes, &options)).unwrap();
        assert_eq!(song.notes, notes);
        assert!((song.tempo_bpm - 90.0).abs() < 1e-3);
        assert_eq!(song.time_signature, (3, 4));
    }
}

#[test]
fn a_note_years_into_the_file_is_refused_not_put_on_a_gigabyte_grid() {
    // Division 1 tick per beat; a note-on after a delta of 2^28 - 1 ticks (the largest VLQ).
    let far = vec![0xFF, 0xFF, 0xFF, 0x7F, 0x90, 60, 100, 0x01, 0x80, 60, 0];
    let err = parse(&smf(0, 1, &[far])).unwrap_err();
    assert!(err.to_string().contains("beats in"), "{err}");
    // A long but real piece still reads.
    let near = vec![0x83, 0xF4, 0x00, 0x90, 60, 100, 0x01, 0x80, 60, 0];
    let song = parse(&smf(0, 1, &[near])).unwrap();
    assert_eq!(song.notes[0].start_beats, 64_000.0);
}
