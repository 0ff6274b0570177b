//! The baseline every model kind is measured against on the same steps: the per-key Markov
//! chain, each piano key's state (off, held, struck) given the same key's state the step before,
//! add-k. It is defined on the 88-key state, so a seed model's steps are converted to keys
//! (`step::data::roll_keys`) to be scored beside it.

use super::step::{Keys, HELD, KEYS, OFF, STATES};

/// Per key, `P(state now | state the step before)` with add-`k` smoothing over the states that
/// can follow (after "off", "held" is impossible, as for the model).
#[derive(Debug, Clone)]
pub struct KeyMarkov {
    counts: Vec<[[f64; STATES]; STATES]>,
    pub k: f64,
    /// On/off keys (the benchmark's frames): "held" never happens, each key's chain has two
    /// states, on given on or off one step before.
    pub binary: bool,
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
            binary: false,
            fit_steps: steps,
            fit_pieces: n,
        }
    }

    /// The two-state chain of on/off keys (every sounding key marked struck, as
    /// [`super::step::data::binary_keys`] does), add-`k`.
    pub fn fit_binary<'a>(pieces: impl IntoIterator<Item = &'a [Keys]>, k: f64) -> Self {
        let binary: Vec<Vec<Keys>> = pieces
            .into_iter()
            .map(|p| p.iter().map(super::step::data::binary_keys).collect())
            .collect();
        Self {
            binary: true,
            ..Self::fit(binary.iter().map(|p| p.as_slice()), k)
        }
    }

    /// `ln P(state | previous state)` of one key (−∞ for "held" after "off").
    pub fn key_log_prob(&self, key: usize, prev: u8, state: u8) -> f64 {
        let (p, s) = (prev as usize, state as usize);
        if self.binary {
            // On is "struck" whatever came before.
            let on = |x: usize| if x == OFF as usize { 0 } else { 2 };
            let row = &self.counts[key][on(p)];
            let total = row[OFF as usize] + row[2];
            return ((row[on(s)] + self.k) / (total + 2.0 * self.k)).ln();
        }
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
