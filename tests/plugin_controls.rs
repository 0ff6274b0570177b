//! Density, Register, Polyphony and Follow key as the plugin's inference thread applies them, for
//! both built-in piano models (the step model and the seed model), on real piano prompts (the
//! fixtures): the limits are never exceeded, Density moves the onset rate monotonically, Follow
//! key raises the pitch-class similarity with what was played.

use std::path::Path;

use continuo::engine::controls::Controls;
use continuo::engine::model_source::ModelSource;
use continuo::engine::worker::{BarPlacement, GeneratorSource, PhraseGenerator};
use continuo::judge::measures::{cosine, texture};
use continuo::roll::{notes_to_roll, pitch_class_histogram, Chord, Grid};

const PIANO: [&str; 3] = [
    "bach_prelude_bwv_846.mid",
    "bach_prelude_bwv_868.mid",
    "beethoven_sonata_21-2.mid",
];

/// Two-bar contexts (4/4 at 4 steps per beat) from each fixture.
fn contexts() -> Vec<Vec<Chord>> {
    let mut out = Vec::new();
    for name in PIANO {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/piano")
            .join(name);
        let song = continuo::midi::read_file(&path, Default::default()).unwrap();
        let steps = notes_to_roll(&song.notes, Grid::default()).steps;
        for bar in [2usize, 6] {
            out.push(steps[(bar - 2) * 16..bar * 16].to_vec());
        }
    }
    out
}

fn phrases(
    generator: &dyn PhraseGenerator,
    controls: &Controls,
    seeds: u64,
) -> Vec<(Vec<Chord>, Vec<Chord>)> {
    let placement = BarPlacement {
        steps_per_bar: 16,
        first_step_in_bar: 0,
    };
    let mut out = Vec::new();
    for context in contexts() {
        for seed in 1..=seeds {
            let phrase = generator
                .generate(&context, placement, 32, 1.0, controls, seed)
                .unwrap();
            assert_eq!(phrase.len(), 32);
            out.push((context.clone(), phrase));
        }
    }
    out
}

fn onset_rate(generator: &dyn PhraseGenerator, density: f32) -> f64 {
    let controls = Controls {
        density,
        ..Controls::default()
    };
    let all = phrases(generator, &controls, 3);
    all.iter()
        .map(|(c, p)| texture(p, c.last().unwrap(), 4).onsets_per_beat)
        .sum::<f64>()
        / all.len() as f64
}

fn similarity(generator: &dyn PhraseGenerator, follow_key: f32) -> f64 {
    let controls = Controls {
        follow_key,
        ..Controls::default()
    };
    let all = phrases(generator, &controls, 3);
    all.iter()
        .map(|(c, p)| cosine(&pitch_class_histogram(c), &pitch_class_histogram(p)))
        .sum::<f64>()
        / all.len() as f64
}

fn each_kind(check: impl Fn(&str, &dyn PhraseGenerator)) {
    for name in ["builtin:piano-step", "builtin:piano-seed"] {
        let generator = ModelSource.load(name).unwrap();
        check(name, generator.as_ref());
    }
}

#[test]
fn register_and_polyphony_are_never_exceeded() {
    each_kind(|name, generator| {
        for (lowest, highest, max_keys) in [(48u8, 72u8, 3u8), (36, 60, 1), (55, 96, 6)] {
            let controls = Controls {
                lowest,
                highest,
                max_keys,
                ..Controls::default()
            };
            let mut notes = 0;
            for (_, phrase) in phrases(generator, &controls, 2) {
                for c in &phrase {
                    assert!(
                        controls.allows(c),
                        "{name}: {c} breaks {lowest}..={highest}, {max_keys} notes"
                    );
                    notes += c.len();
                }
            }
            assert!(notes > 0, "{name} still plays inside {lowest}..={highest}");
        }
    });
}

#[test]
fn density_moves_the_onset_rate_monotonically() {
    each_kind(|name, generator| {
        let rates: Vec<f64> = [-1.0f32, 0.0, 1.0]
            .iter()
            .map(|&d| onset_rate(generator, d))
            .collect();
        assert!(
            rates[0] < rates[1] && rates[1] < rates[2],
            "{name}: onsets per beat at density -1, 0, 1: {rates:?}"
        );
    });
}

#[test]
fn follow_key_raises_the_pitch_class_similarity() {
    each_kind(|name, generator| {
        let (free, follow) = (similarity(generator, 0.0), similarity(generator, 1.0));
        assert!(
            follow > free,
            "{name}: similarity free {free:.3}, following {follow:.3}"
        );
    });
}
