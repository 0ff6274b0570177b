//! `continuo judge`'s measurements: cut prompts from pieces a model never saw, let the model
//! continue them, and set what it plays beside what the composer wrote next — bass, texture,
//! onset rate, pitch classes, key, and whether it quotes its training data.
//!
//! The model is behind [`Continuer`], so this module knows music and not networks: the CLI
//! adapts either model kind, and the tests can judge any function.

pub mod copies;
pub mod key;
pub mod measures;

use crate::roll::Chord;
use measures::Texture;

/// A piece to cut prompts from: its steps on the model's grid and its (first) time signature.
#[derive(Debug, Clone)]
pub struct JudgePiece {
    pub name: String,
    pub steps: Vec<Chord>,
    pub time_signature: (u8, u8),
}

/// Something that continues a prompt: the steps heard (starting on a bar line of
/// `time_signature`), how many steps to add, and a seed.
pub trait Continuer {
    fn continue_prompt(
        &mut self,
        prompt: &[Chord],
        time_signature: (u8, u8),
        steps: usize,
        seed: u64,
    ) -> Result<Vec<Chord>, String>;
}

impl<F> Continuer for F
where
    F: FnMut(&[Chord], (u8, u8), usize, u64) -> Result<Vec<Chord>, String>,
{
    fn continue_prompt(
        &mut self,
        prompt: &[Chord],
        time_signature: (u8, u8),
        steps: usize,
        seed: u64,
    ) -> Result<Vec<Chord>, String> {
        self(prompt, time_signature, steps, seed)
    }
}

/// How prompts are cut and continued.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct JudgeOptions {
    /// Prompts in all, spread evenly over the pieces and, within each, over its bar lines.
    pub prompts: usize,
    /// Bars of music the model hears before each cut.
    pub prompt_bars: u32,
    /// Bars it continues (and of the real continuation it is compared with).
    pub continuation_bars: u32,
    pub steps_per_beat: u32,
    /// Seed of the first continuation; the i-th uses seed + i.
    pub seed: u64,
    /// The training data is searched for copies in every transposition up to ±this.
    pub copy_transpose: i32,
}

/// Where a prompt was cut.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cut {
    pub piece: String,
    /// First step of the continuation.
    pub at_step: usize,
    pub steps_per_bar: usize,
}

/// Means over a set of continuations (the model's, or the real ones).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    pub bass_share: f64,
    pub single_share: f64,
    pub onsets_per_beat: f64,
    pub polyphony: f64,
    pub range: f64,
    /// Cosine of the duration-weighted pitch-class histograms of prompt and continuation.
    pub pitch_class_similarity: f64,
    /// Share of continuations whose Krumhansl–Schmuckler key is the prompt's.
    pub same_key_share: f64,
    /// Longest run copied from the training data holding at least 3 chord changes, in bars (max
    /// over the continuations), and how many continuations hold one longer than 2 bars.
    pub longest_copy_bars: f64,
    pub copies_over_2_bars: usize,
}

/// How the model's distributions overlap the real continuations' (1 = the same).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Overlaps {
    pub onset_density: f64,
    pub polyphony: f64,
    pub range: f64,
}

/// The targets, checked.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Targets {
    /// Bass and single-note shares within 25 % of the real continuations'.
    pub bass_within_25_percent: bool,
    pub single_within_25_percent: bool,
    /// Same-key share at least 35 %.
    pub same_key_35_percent: bool,
    /// Onset-density overlap at least 0.7.
    pub onset_overlap_0_7: bool,
    /// No copied run with 3 or more chord changes longer than 2 bars.
    pub no_copy_over_2_bars: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JudgeReport {
    pub options: JudgeOptions,
    pub pieces: usize,
    pub cuts: Vec<Cut>,
    pub model: Summary,
    pub real: Summary,
    pub overlaps: Overlaps,
    pub targets: Targets,
}

/// Bar-line cut points of a piece, evenly spread: at most `count`, each with `prompt` steps
/// before and `continuation` steps after.
fn cut_points(
    len: usize,
    steps_per_bar: usize,
    prompt: usize,
    continuation: usize,
    count: usize,
) -> Vec<usize> {
    if count == 0 || len < prompt + continuation {
        return Vec::new();
    }
    let first_bar = prompt.div_ceil(steps_per_bar);
    let last_bar = (len - continuation) / steps_per_bar;
    if last_bar < first_bar {
        return Vec::new();
    }
    let bars = last_bar - first_bar + 1;
    let count = count.min(bars);
    (0..count)
        .map(|i| (first_bar + (i * bars + bars / 2) / count.max(1)).min(last_bar) * steps_per_bar)
        .collect()
}

/// Steps in a bar of `time_signature` (3/4 at 4 steps per beat is 12).
fn steps_per_bar(time_signature: (u8, u8), steps_per_beat: u32) -> usize {
    let (num, den) = (
        time_signature.0.max(1) as f64,
        time_signature.1.max(1) as f64,
    );
    ((num * 4.0 * steps_per_beat.max(1) as f64 / den).round() as usize).max(1)
}

/// One set of continuations measured against their prompts.
struct Measured {
    textures: Vec<Texture>,
    similarity: Vec<f64>,
    same_key: Vec<bool>,
    copies: Vec<usize>,
}

fn measure(
    prompts: &[&[Chord]],
    continuations: &[Vec<Chord>],
    training: &[&[Chord]],
    options: &JudgeOptions,
) -> Measured {
    let mut m = Measured {
        textures: Vec::new(),
        similarity: Vec::new(),
        same_key: Vec::new(),
        copies: copies::longest_copies(
            continuations,
            training.iter().copied(),
            options.copy_transpose,
        ),
    };
    for (prompt, cont) in prompts.iter().zip(continuations) {
        let before = prompt.last().copied().unwrap_or(Chord::REST);
        m.textures
            .push(measures::texture(cont, &before, options.steps_per_beat));
        let (hp, hc) = (
            measures::pitch_classes(prompt),
            measures::pitch_classes(cont),
        );
        m.similarity.push(measures::cosine(&hp, &hc));
        let (kp, kc) = (key::estimate(&hp), key::estimate(&hc));
        m.same_key.push(kp.is_some() && kp == kc);
    }
    m
}

fn summarize(m: &Measured, cuts: &[Cut]) -> Summary {
    let n = m.textures.len().max(1) as f64;
    let mean = |f: fn(&Texture) -> f64| m.textures.iter().map(f).sum::<f64>() / n;
    let bars: Vec<f64> = m
        .copies
        .iter()
        .zip(cuts)
        .map(|(&steps, cut)| steps as f64 / cut.steps_per_bar.max(1) as f64)
        .collect();
    Summary {
        bass_share: mean(|t| t.bass_share),
        single_share: mean(|t| t.single_share),
        onsets_per_beat: mean(|t| t.onsets_per_beat),
        polyphony: mean(|t| t.polyphony),
        range: mean(|t| t.range),
        pitch_class_similarity: m.similarity.iter().sum::<f64>() / n,
        same_key_share: m.same_key.iter().filter(|&&s| s).count() as f64 / n,
        longest_copy_bars: bars.iter().copied().fold(0.0, f64::max),
        copies_over_2_bars: bars.iter().filter(|&&b| b > 2.0).count(),
    }
}

/// Within 25 % of the real figure (relative), or both under one percentage point.
fn within_25_percent(model: f64, real: f64) -> bool {
    (model - real).abs() <= 0.25 * real.abs() || (model < 0.01 && real < 0.01)
}

/// Cuts `options.prompts` prompts from `pieces`, continues each with `continuer`, and measures
/// both the model's and the real continuations. `training` is the model's training data, searched
/// for copied runs.
pub fn judge(
    continuer: &mut dyn Continuer,
    pieces: &[JudgePiece],
    training: &[&[Chord]],
    options: &JudgeOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<JudgeReport, String> {
    // Spread the prompts: each piece gets its share (more to pieces with more room).
    let per_piece = options.prompts.div_ceil(pieces.len().max(1));
    let mut cuts = Vec::new();
    for piece in pieces {
        let bar = steps_per_bar(piece.time_signature, options.steps_per_beat);
        let prompt = bar * options.prompt_bars as usize;
        let cont = bar * options.continuation_bars as usize;
        for at in cut_points(piece.steps.len(), bar, prompt, cont, per_piece) {
            cuts.push((piece, at, bar));
        }
    }
    // Keep `prompts` of them, evenly over the list.
    if cuts.len() > options.prompts {
        let total = cuts.len();
        cuts = (0..options.prompts)
            .map(|i| cuts[i * total / options.prompts])
            .collect();
    }
    if cuts.is_empty() {
        return Err(format!(
            "no piece is long enough for a {}-bar prompt and a {}-bar continuation",
            options.prompt_bars, options.continuation_bars
        ));
    }
    let mut prompts: Vec<&[Chord]> = Vec::new();
    let mut generated = Vec::new();
    let mut real = Vec::new();
    let mut report_cuts = Vec::new();
    for (i, &(piece, at, bar)) in cuts.iter().enumerate() {
        let prompt = &piece.steps[at - bar * options.prompt_bars as usize..at];
        let len = bar * options.continuation_bars as usize;
        let cont = continuer.continue_prompt(
            prompt,
            piece.time_signature,
            len,
            options.seed + i as u64,
        )?;
        if cont.len() != len {
            return Err(format!(
                "the model gave {} steps where {len} were asked",
                cont.len()
            ));
        }
        prompts.push(prompt);
        generated.push(cont);
        real.push(piece.steps[at..at + len].to_vec());
        report_cuts.push(Cut {
            piece: piece.name.clone(),
            at_step: at,
            steps_per_bar: bar,
        });
        progress(i + 1, cuts.len());
    }
    let model_m = measure(&prompts, &generated, training, options);
    let real_m = measure(&prompts, &real, training, options);
    let model = summarize(&model_m, &report_cuts);
    let real_s = summarize(&real_m, &report_cuts);
    let values =
        |m: &Measured, f: fn(&Texture) -> f64| m.textures.iter().map(f).collect::<Vec<f64>>();
    const BINS: usize = 20;
    let overlaps = Overlaps {
        onset_density: measures::overlap(
            &values(&model_m, |t| t.onsets_per_beat),
            &values(&real_m, |t| t.onsets_per_beat),
            BINS,
        ),
        polyphony: measures::overlap(
            &values(&model_m, |t| t.polyphony),
            &values(&real_m, |t| t.polyphony),
            BINS,
        ),
        range: measures::overlap(
            &values(&model_m, |t| t.range),
            &values(&real_m, |t| t.range),
            BINS,
        ),
    };
    let targets = Targets {
        bass_within_25_percent: within_25_percent(model.bass_share, real_s.bass_share),
        single_within_25_percent: within_25_percent(model.single_share, real_s.single_share),
        same_key_35_percent: model.same_key_share >= 0.35,
        onset_overlap_0_7: overlaps.onset_density >= 0.7,
        no_copy_over_2_bars: model.copies_over_2_bars == 0,
    };
    Ok(JudgeReport {
        options: *options,
        pieces: pieces.len(),
        cuts: report_cuts,
        model,
        real: real_s,
        overlaps,
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_points_sit_on_bar_lines_with_room_on_both_sides() {
        let cuts = cut_points(16 * 20, 16, 16 * 4, 16 * 4, 5);
        assert_eq!(cuts.len(), 5);
        for &c in &cuts {
            assert_eq!(c % 16, 0);
            assert!(c >= 64 && c + 64 <= 320, "{c}");
        }
        assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        assert!(cut_points(100, 16, 64, 64, 3).is_empty());
        assert_eq!(cut_points(128, 16, 64, 64, 3), vec![64]);
    }

    /// A continuer that plays the prompt's last bar again and again matches the real music when
    /// the piece is itself one bar repeated, and is caught copying when that bar is in training.
    #[test]
    fn a_repeating_piece_judged_against_a_repeating_continuer() {
        let bar: Vec<Chord> = [43u8, 55, 64, 67, 72, 67, 64, 55]
            .iter()
            .flat_map(|&p| [Chord::struck_from(&[p]), Chord::held_from(&[p])])
            .collect();
        let steps: Vec<Chord> = bar.iter().cycle().take(16 * 24).copied().collect();
        let pieces = vec![JudgePiece {
            name: "arpeggio".into(),
            steps: steps.clone(),
            time_signature: (4, 4),
        }];
        let mut repeat =
            |prompt: &[Chord], _: (u8, u8), n: usize, _: u64| -> Result<Vec<Chord>, String> {
                Ok(prompt[prompt.len() - 16..]
                    .iter()
                    .cycle()
                    .take(n)
                    .copied()
                    .collect())
            };
        let options = JudgeOptions {
            prompts: 4,
            prompt_bars: 2,
            continuation_bars: 4,
            steps_per_beat: 4,
            seed: 0,
            copy_transpose: 0,
        };
        let r = judge(
            &mut repeat,
            &pieces,
            &[steps.as_slice()],
            &options,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(r.cuts.len(), 4);
        assert_eq!(r.model, r.real);
        assert_eq!(r.model.bass_share, 0.125);
        assert_eq!(r.model.onsets_per_beat, 2.0);
        assert_eq!(r.model.same_key_share, 1.0);
        assert!((r.model.pitch_class_similarity - 1.0).abs() < 1e-9);
        assert_eq!(r.model.longest_copy_bars, 4.0);
        assert!(!r.targets.no_copy_over_2_bars);
        assert_eq!(r.overlaps.onset_density, 1.0);
        // Silence is judged too: no bass, no key, no copy.
        let mut silent = |_: &[Chord], _: (u8, u8), n: usize, _: u64| Ok(vec![Chord::REST; n]);
        let r = judge(
            &mut silent,
            &pieces,
            &[steps.as_slice()],
            &options,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(r.model.bass_share, 0.0);
        assert_eq!(r.model.same_key_share, 0.0);
        assert_eq!(r.model.copies_over_2_bars, 0);
        assert!(!r.targets.bass_within_25_percent);
    }
}
