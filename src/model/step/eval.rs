//! Evaluating a step model: its exact NLL per step in nats of the full step state (every piece
//! heard from its first step with the running state, as in generation), next to the per-key
//! Markov baseline: each key's state given the same key's state the step before, add-k.

use super::data::StepPiece;
use super::{Keys, StepModel, HELD, KEYS, OFF, STATES};

/// Per key, `P(state now | state the step before)` with add-`k` smoothing over the states that
/// can follow (after "off", "held" is impossible, as for the model).
#[derive(Debug, Clone)]
pub struct KeyMarkov {
    counts: Vec<[[f64; STATES]; STATES]>,
    pub k: f64,
    /// Steps and pieces fitted on.
    pub fit_steps: usize,
    pub fit_pieces: usize,
}

impl KeyMarkov {
    pub fn fit<'a>(pieces: impl IntoIterator<Item = &'a [Keys]>, k: f64) -> Self {
        let mut counts = vec![[[0f64; STATES]; STATES]; KEYS];
        let (mut steps, mut n) = (0, 0);
        for piece in pieces {
            n += 1;
            let mut prev = [OFF; KEYS];
            for step in piece {
                for key in 0..KEYS {
                    counts[key][prev[key] as usize][step[key] as usize] += 1.0;
                }
                prev = *step;
                steps += 1;
            }
        }
        Self {
            counts,
            k,
            fit_steps: steps,
            fit_pieces: n,
        }
    }

    /// `ln P(state | previous state)` of one key (−∞ for "held" after "off").
    pub fn key_log_prob(&self, key: usize, prev: u8, state: u8) -> f64 {
        let (p, s) = (prev as usize, state as usize);
        let row = &self.counts[key][p];
        if p == OFF as usize {
            if s == HELD as usize {
                return f64::NEG_INFINITY;
            }
            let total = row[OFF as usize] + row[2];
            return ((row[s] + self.k) / (total + 2.0 * self.k)).ln();
        }
        let total: f64 = row.iter().sum();
        ((row[s] + self.k) / (total + 3.0 * self.k)).ln()
    }

    /// `ln P(step | prev)`, the sum over the keys.
    pub fn log_prob(&self, prev: &Keys, step: &Keys) -> f64 {
        (0..KEYS)
            .map(|k| self.key_log_prob(k, prev[k], step[k]))
            .sum()
    }

    /// Mean NLL per step over pieces (each from silence).
    pub fn nll_per_step<'a>(&self, pieces: impl IntoIterator<Item = &'a [Keys]>) -> (f64, usize) {
        let (mut nll, mut n) = (0.0, 0);
        for piece in pieces {
            let mut prev = [OFF; KEYS];
            for step in piece {
                nll -= self.log_prob(&prev, step);
                prev = *step;
                n += 1;
            }
        }
        (nll / n.max(1) as f64, n)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MarkovScore {
    pub nll_per_step: f64,
    pub k: f64,
    pub fit_steps: usize,
    pub fit_pieces: usize,
}

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
