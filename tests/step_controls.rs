//! The step model's sampling controls on real prompts (the piano fixtures, continued by the
//! built-in piano model): the register and polyphony limits are never exceeded, Density moves
//! the onset rate monotonically, Follow key raises the pitch-class similarity with the prompt.

use std::path::Path;

use continuo::judge::measures::{cosine, texture};
use continuo::model::builtin::{Builtin, Shared};
use continuo::model::step::{Meter, StepModel, StepSampling};
use continuo::roll::{notes_to_roll, pitch_class_histogram, Chord};

const PIANO: [&str; 3] = [
    "bach_prelude_bwv_846.mid",
    "bach_prelude_bwv_868.mid",
    "beethoven_sonata_21-2.mid",
];

fn model() -> std::sync::Arc<StepModel> {
    match Builtin::find("piano-step").unwrap().shared().unwrap() {
        Shared::Step(m) => m,
        Shared::Seed(_) => unreachable!("piano-step is a step model"),
    }
}

/// Two-bar prompts cut at bar lines of each fixture, with their meters.
fn prompts(model: &StepModel) -> Vec<(Vec<Chord>, Meter)> {
    let mut out = Vec::new();
    for name in PIANO {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/piano")
            .join(name);
        let song = continuo::midi::read_file(&path, Default::default()).unwrap();
        let steps = notes_to_roll(&song.notes, model.grid()).steps;
        let meter = Meter::new(model.grid().steps_per_beat, song.time_signature);
        let bar = meter.steps_per_bar as usize;
        for cut in [2, 4, 6] {
            if steps.len() >= cut * bar {
                out.push((steps[(cut - 2) * bar..cut * bar].to_vec(), meter));
            }
        }
    }
    assert!(out.len() >= 6, "fixtures give prompts");
    out
}

/// Mean onsets per beat and pitch-class similarity of 2-bar continuations of every prompt,
/// over `seeds` seeds each.
fn measure(model: &StepModel, opts: &dyn Fn(&[Chord]) -> StepSampling, seeds: u64) -> (f64, f64) {
    let (mut onsets, mut similarity, mut n) = (0.0, 0.0, 0.0);
    for (prompt, meter) in prompts(model) {
        for seed in 0..seeds {
            let sampling = opts(&prompt);
            let cont = model.generate(
                &prompt,
                meter,
                2 * meter.steps_per_bar as usize,
                &sampling,
                seed,
            );
            onsets += texture(&cont, prompt.last().unwrap(), meter.steps_per_beat).onsets_per_beat;
            similarity += cosine(
                &pitch_class_histogram(&prompt),
                &pitch_class_histogram(&cont),
            );
            n += 1.0;
        }
    }
    (onsets / n, similarity / n)
}

#[test]
fn register_and_polyphony_limits_hold_on_real_prompts() {
    let model = model();
    for (lowest, highest, most) in [(48u8, 72u8, 3usize), (36, 60, 1), (60, 96, 6)] {
        let opts = StepSampling {
            lowest,
            highest,
            max_sounding: most,
            ..StepSampling::default()
        };
        let mut sounded = 0;
        for (prompt, meter) in prompts(&model) {
            for seed in 0..3 {
                for c in model.generate(&prompt, meter, 32, &opts, seed) {
                    assert!(c.len() <= most, "{c} has more than {most} keys");
                    assert!(
                        c.pitches().all(|p| (lowest..=highest).contains(&p)),
                        "{c} outside {lowest}..={highest}"
                    );
                    sounded += c.len();
                }
            }
        }
        assert!(sounded > 0, "the limits leave room to play");
    }
}

#[test]
fn density_moves_the_onset_rate_monotonically() {
    let model = model();
    let rates: Vec<f64> = [-1.0f32, -0.5, 0.0, 0.5, 1.0]
        .iter()
        .map(|&density| {
            measure(
                &model,
                &|_| StepSampling {
                    density,
                    ..StepSampling::default()
                },
                3,
            )
            .0
        })
        .collect();
    for w in rates.windows(2) {
        assert!(w[0] < w[1], "onsets per beat by density -1..1: {rates:?}");
    }
}

#[test]
fn follow_key_raises_the_pitch_class_similarity_with_the_prompt() {
    let model = model();
    let similarity = |strength: f32| {
        measure(
            &model,
            &|prompt| StepSampling {
                key_bias: StepSampling::follow(&pitch_class_histogram(prompt), strength),
                ..StepSampling::default()
            },
            3,
        )
        .1
    };
    let (free, half, full) = (similarity(0.0), similarity(0.5), similarity(1.0));
    assert!(
        free < half && half < full,
        "free {free:.3}, 0.5 {half:.3}, 1 {full:.3}"
    );
    // Off is exactly free sampling.
    assert_eq!(StepSampling::follow(&[1.0; 12], 0.0), [0.0; 12]);
    assert_eq!(StepSampling::follow(&[0.0; 12], 1.0), [0.0; 12]);
    // Uniform pitch classes give no bias; a played class is favoured over an unplayed one.
    assert!(StepSampling::follow(&[2.0; 12], 1.0)
        .iter()
        .all(|b| b.abs() < 1e-6));
    let mut c_only = [0.0; 12];
    c_only[0] = 10.0;
    let bias = StepSampling::follow(&c_only, 1.0);
    assert!(bias[0] > 0.0 && bias[1] < 0.0);
}
