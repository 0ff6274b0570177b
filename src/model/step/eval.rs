//! Evaluating a step model: its exact NLL per step in nats of the full step state (every piece
//! heard from its first step with the running state, as in generation), next to the per-key
//! Markov baseline ([`crate::model::baseline`]).

use super::data::StepPiece;
use super::{StepModel, KEYS};
use crate::model::baseline::{KeyMarkov, MarkovScore};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepEvalReport {
    pub model: String,
    pub kind: &'static str,
    pub pieces: usize,
    pub steps: usize,
    /// Exact NLL of the full step state (88 keys), nats per step.
    pub nll_per_step: f64,
    /// The same per key and step (`nll_per_step / 88`).
    pub nll_per_key: f64,
    /// Share of steps whose every key is the model's most likely state given the keys below it
    /// (greedy decoding would give exactly that step).
    pub greedy_exact: f64,
    pub baselines: StepBaselines,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepBaselines {
    pub markov: MarkovScore,
}

/// Mean NLL per step of `model` over `pieces`, each heard from its first step; `progress` gets
/// the steps done after each piece.
pub fn model_nll(
    model: &StepModel,
    pieces: &[StepPiece],
    mut progress: impl FnMut(usize),
) -> (f64, f64, usize) {
    let (mut nll, mut exact, mut n) = (0f64, 0usize, 0usize);
    for piece in pieces {
        let mut state = model.start(0);
        for (t, step) in piece.steps.iter().enumerate() {
            let pos = piece.meter.position(t as u64);
            let (lp, greedy) = model.observe_scored(&mut state, step, pos);
            nll -= lp;
            exact += greedy as usize;
            n += 1;
        }
        progress(piece.steps.len());
    }
    (nll / n.max(1) as f64, exact as f64 / n.max(1) as f64, n)
}

/// Evaluates `model` on `pieces`, with the Markov baseline fitted on `baseline` (add-`k`).
pub fn evaluate(
    model: &StepModel,
    pieces: &[StepPiece],
    baseline: &[StepPiece],
    k: f64,
    progress: impl FnMut(usize),
) -> Result<StepEvalReport, String> {
    let markov = KeyMarkov::fit(baseline.iter().map(|p| p.steps.as_slice()), k);
    let (markov_nll, _) = markov.nll_per_step(pieces.iter().map(|p| p.steps.as_slice()));
    let (nll, exact, steps) = model_nll(model, pieces, progress);
    if steps == 0 {
        return Err("nothing to evaluate: the music has no steps".into());
    }
    Ok(StepEvalReport {
        model: model.name().to_string(),
        kind: crate::model::file::KIND_STEP,
        pieces: pieces.len(),
        steps,
        nll_per_step: nll,
        nll_per_key: nll / KEYS as f64,
        greedy_exact: exact,
        baselines: StepBaselines {
            markov: MarkovScore {
                nll_per_step: markov_nll,
                k,
                fit_steps: markov.fit_steps,
                fit_pieces: markov.fit_pieces,
            },
        },
    })
}
