//! The beat-grid roll on real chorales and random music: round trips, merging rules, the
//! vocabulary and the nearest-chord mapping.

use std::path::{Path, PathBuf};

use continuo::midi::{read_file, read_smf, write_smf, Note, ReadOptions, WriteOptions};
use continuo::roll::{
    notes_to_roll, roll_to_notes, transpositions, Chord, Grid, Vocab, VocabOptions, REST_ID, UNK_ID,
};
use proptest::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "mid"));
    files.sort();
    assert!(files.len() >= 4, "fixtures missing");
    files
}

/// What the roll may do to on-grid notes: notes of one pitch that overlap become one stretch of
/// sound, cut where any of them strikes. (MIDI-in does the same with a key struck while held.)
fn expected_after_roll(notes: &[Note]) -> Vec<(u8, f64, f64)> {
    let mut out = Vec::new();
    for pitch in 0..128u8 {
        let mut spans: Vec<(f64, f64)> = notes
            .iter()
            .filter(|n| n.pitch == pitch)
            .map(|n| (n.start_beats, n.end_beats))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut i = 0;
        while i < spans.len() {
            let (start, mut end) = spans[i];
            let mut strikes = vec![start];
            let mut j = i + 1;
            while j < spans.len() && spans[j].0 < end {
                end = end.max(spans[j].1);
                strikes.push(spans[j].0);
                j += 1;
            }
            strikes.dedup();
            for (k, s) in strikes.iter().enumerate() {
                out.push((pitch, *s, strikes.get(k + 1).copied().unwrap_or(end)));
            }
            i = j;
        }
    }
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    out
}

fn on_grid(notes: &[Note], grid: Grid) -> bool {
    let spb = grid.steps_per_beat as f64;
    notes.iter().all(|n| {
        (n.start_beats * spb).fract() == 0.0
            && (n.end_beats * spb).fract() == 0.0
            && n.end_beats > n.start_beats
    })
}

fn file_round_trip(notes: &[Note], grid: Grid) -> Vec<(u8, f64, f64)> {
    let roll = notes_to_roll(notes, grid);
    let back = roll_to_notes(&roll.steps, grid, 0.0, 80);
    let bytes = write_smf(&back, &WriteOptions::default());
    let song = read_smf(&bytes, Path::new("round-trip.mid"), ReadOptions::default()).unwrap();
    song.notes
        .iter()
        .map(|n| (n.pitch, n.start_beats, n.end_beats))
        .collect()
}

#[test]
fn chorales_round_trip_exactly_through_the_roll() {
    let grid = Grid::default();
    let mut checked = 0;
    for path in fixtures() {
        let song = read_file(&path, ReadOptions::default()).unwrap();
        if !on_grid(&song.notes, grid) {
            continue;
        }
        assert_eq!(
            file_round_trip(&song.notes, grid),
            expected_after_roll(&song.notes),
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} fixtures lie on the 16th grid");
}

#[test]
fn plain_tokens_merge_repeated_notes_that_onset_tokens_keep() {
    let path = Path::new(FIXTURES).join("bwv66.6.mid");
    let song = read_file(&path, ReadOptions::default()).unwrap();
    let with = notes_to_roll(
        &song.notes,
        Grid {
            steps_per_beat: 4,
            onsets: true,
        },
    );
    let plain = notes_to_roll(
        &song.notes,
        Grid {
            steps_per_beat: 4,
            onsets: false,
        },
    );
    assert_eq!(with.steps.len(), plain.steps.len());
    assert!(with
        .steps
        .iter()
        .zip(&plain.steps)
        .all(|(a, b)| a.without_onsets() == *b));
    let n_with = roll_to_notes(&with.steps, with.grid, 0.0, 80).len();
    let n_plain = roll_to_notes(&plain.steps, plain.grid, 0.0, 80).len();
    // Chorale voices repeat pitches constantly: the plain roll loses those repetitions.
    assert!(n_plain < n_with, "plain {n_plain} vs onsets {n_with}");
    assert_eq!(n_with, expected_after_roll(&song.notes).len());
}

#[test]
fn tokens_display_in_the_reference_form() {
    let song = read_file(
        &Path::new(FIXTURES).join("bwv66.6.mid"),
        ReadOptions::default(),
    )
    .unwrap();
    let roll = notes_to_roll(
        &song.notes,
        Grid {
            steps_per_beat: 4,
            onsets: false,
        },
    );
    let first = roll
        .steps
        .iter()
        .find(|c| !c.is_rest())
        .unwrap()
        .to_string();
    assert!(
        first.split(',').count() >= 3 && !first.contains('*'),
        "{first}"
    );
    let marked = notes_to_roll(&song.notes, Grid::default());
    let first = marked
        .steps
        .iter()
        .find(|c| !c.is_rest())
        .unwrap()
        .to_string();
    assert!(
        first.split(',').all(|p| p.starts_with('*')),
        "every pitch of the first chord is struck: {first}"
    );
}

#[test]
fn vocabulary_from_chorales_maps_every_chord_somewhere() {
    let mut rolls = Vec::new();
    for path in fixtures() {
        rolls.push(notes_to_roll(
            &read_file(&path, ReadOptions::default()).unwrap().notes,
            Grid::default(),
        ));
    }
    let (train, held_out) = rolls.split_at(rolls.len() - 1);
    let vocab = Vocab::build(
        train.iter().flat_map(|r| r.steps.iter()),
        true,
        VocabOptions {
            max_vocab: Some(64),
            min_count: 1,
        },
    );
    assert_eq!(vocab.len(), 64);
    let (mut unknown, mut kept_bass, mut kept_classes) = (0, 0, 0);
    for chord in &held_out[0].steps {
        let id = vocab.nearest_id(chord);
        assert_ne!(id, UNK_ID);
        if vocab.id(chord) == UNK_ID {
            unknown += 1;
            let near = vocab.chord(id);
            // The nearest chord of a sounding chord is a sounding chord that keeps the bass pitch
            // class or the harmony (all pitch classes): the two things the distance weighs most.
            assert!(!near.is_rest());
            let bass_kept = near.bass().map(|b| b % 12) == chord.bass().map(|b| b % 12);
            kept_bass += bass_kept as usize;
            kept_classes += (near.pitch_classes() == chord.pitch_classes()) as usize;
        } else {
            assert_eq!(vocab.chord(id).to_string(), chord.to_string());
        }
    }
    assert!(
        unknown > 0,
        "a 64-chord vocabulary should miss some chords of an unseen chorale"
    );
    eprintln!("{unknown} unknown steps: bass class kept {kept_bass}, all pitch classes kept {kept_classes}");
    assert!(
        kept_bass * 10 >= unknown * 7,
        "bass kept in {kept_bass} of {unknown}"
    );
    let json = serde_json::to_string(&vocab).unwrap();
    assert_eq!(serde_json::from_str::<Vocab>(&json).unwrap(), vocab);
}

#[test]
fn shared_corpus_parses_and_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if !dir.is_dir() {
        eprintln!(
            "skipped: {} not found (the shared corpus is optional; the fixtures cover the rest)",
            dir.display()
        );
        return;
    }
    let files = continuo::corpus::find_midi_files(&[dir]).unwrap();
    assert!(files.len() > 400, "{} files", files.len());
    let grid = Grid::default();
    let mut on_grid_files = 0;
    for path in &files {
        let song = read_file(path, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        // Off-grid files (triplets, ornaments) still round-trip once quantized.
        let quantized = roll_to_notes(&notes_to_roll(&song.notes, grid).steps, grid, 0.0, 80);
        assert_eq!(
            file_round_trip(&quantized, grid),
            expected_after_roll(&quantized),
            "{}",
            path.display()
        );
        if on_grid(&song.notes, grid) {
            assert_eq!(
                file_round_trip(&song.notes, grid),
                expected_after_roll(&song.notes),
                "{}",
                path.display()
            );
            on_grid_files += 1;
        }
    }
    eprintln!(
        "{} files parsed and round-tripped; {on_grid_files} lie wholly on the 16th grid",
        files.len()
    );
}

fn arb_notes() -> impl Strategy<Value = Vec<Note>> {
    prop::collection::vec((21u8..=108, 0u32..64, 1u32..16), 0..40).prop_map(|raw| {
        raw.into_iter()
            .map(|(pitch, start, len)| Note {
                pitch,
                start_beats: start as f64 / 4.0,
                end_beats: (start + len) as f64 / 4.0,
                velocity: 80,
            })
            .collect()
    })
}

fn arb_chord() -> impl Strategy<Value = Chord> {
    prop::collection::vec((21u8..=108, any::<bool>()), 0..6).prop_map(|ps| {
        let mut c = Chord::REST;
        for (p, s) in ps {
            c.add(p, s);
        }
        c
    })
}

proptest! {
    #[test]
    fn on_grid_notes_round_trip_through_roll_and_file(notes in arb_notes()) {
        let mut sorted = notes.clone();
        sorted.sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats).then(a.pitch.cmp(&b.pitch)));
        prop_assert_eq!(file_round_trip(&sorted, Grid::default()), expected_after_roll(&sorted));
    }

    #[test]
    fn roll_tokens_notes_roll_is_identity(notes in arb_notes()) {
        let grid = Grid::default();
        let roll = notes_to_roll(&notes, grid);
        let again = notes_to_roll(&roll_to_notes(&roll.steps, grid, 0.0, 80), grid);
        prop_assert_eq!(roll.steps, again.steps);
    }

    #[test]
    fn every_note_sounds_at_least_one_step(pitch in 0u8..128, start in 0.0f64..16.0, len in 0.0f64..0.2) {
        let roll = notes_to_roll(&[Note { pitch, start_beats: start, end_beats: start + len, velocity: 1 }], Grid::default());
        prop_assert!(roll.steps.iter().filter(|c| c.contains(pitch)).count() >= 1);
        prop_assert!(roll.steps.iter().any(|c| c.is_struck(pitch)));
    }

    #[test]
    fn chord_display_parses_back(chord in arb_chord()) {
        prop_assert_eq!(chord.to_string().parse::<Chord>().unwrap(), chord);
    }

    #[test]
    fn nearest_is_identity_on_members_and_never_unknown(members in prop::collection::vec(arb_chord(), 1..30), query in arb_chord()) {
        let vocab = Vocab::from_chords(members.clone(), true);
        for m in &members {
            prop_assert_eq!(vocab.chord(vocab.nearest_id(m)), *m);
        }
        let id = vocab.nearest_id(&query);
        prop_assert_ne!(id, UNK_ID);
        prop_assert_eq!(id == REST_ID, query.is_rest() || vocab.len() == 2);
    }

    #[test]
    fn transpositions_keep_the_shape(chords in prop::collection::vec(arb_chord(), 1..10), n in 0u32..4) {
        for moved in transpositions(&chords, n) {
            prop_assert_eq!(moved.len(), chords.len());
            for (a, b) in moved.iter().zip(&chords) {
                prop_assert_eq!(a.len(), b.len());
                prop_assert!(a.pitches().all(|p| (21..=108).contains(&p)));
            }
        }
    }
}
