//! Turning the network's logits into the next token: temperature, top-k, a seeded generator.

use rand::Rng;

use crate::roll::UNK_ID;

/// How to pick each next token.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SamplingOptions {
    /// Softmax temperature. At or below [`ARGMAX_BELOW`] the most likely token is taken.
    pub temperature: f32,
    /// Keep only the k most likely tokens before sampling.
    pub top_k: Option<usize>,
    /// The same seed with the same context gives the same output.
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: None,
            seed: 0,
        }
    }
}

/// Temperatures at or below this mean "argmax" (the limit of T → 0).
pub const ARGMAX_BELOW: f32 = 1e-3;

/// Picks a token from `logits` (one per id). UNK is never picked: it stands for "some chord the
/// vocabulary lacks", which cannot be played. Non-finite logits are treated as impossible.
pub fn sample(
    logits: &[f32],
    options: &SamplingOptions,
    rng: &mut impl Rng,
    scratch: &mut Vec<(f32, u32)>,
) -> u32 {
    scratch.clear();
    scratch.extend(
        logits
            .iter()
            .enumerate()
            .filter(|&(id, l)| id as u32 != UNK_ID && l.is_finite())
            .map(|(id, &l)| (l, id as u32)),
    );
    if scratch.is_empty() {
        return crate::roll::REST_ID;
    }
    if options.temperature.is_nan() || options.temperature <= ARGMAX_BELOW {
        // NaN temperature also lands here: argmax is the safe reading.
        return scratch
            .iter()
            .fold((f32::NEG_INFINITY, 0u32), |best, &(l, id)| {
                if l > best.0 {
                    (l, id)
                } else {
                    best
                }
            })
            .1;
    }
    if let Some(k) = options.top_k.filter(|&k| k > 0 && k < scratch.len()) {
        scratch.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scratch.truncate(k);
        scratch.sort_unstable_by_key(|&(_, id)| id);
    }
    let max = scratch
        .iter()
        .map(|p| p.0)
        .fold(f32::NEG_INFINITY, f32::max);
    let t = options.temperature as f64;
    let weights: f64 = scratch.iter().map(|p| ((p.0 - max) as f64 / t).exp()).sum();
    let mut u = rng.random::<f64>() * weights;
    for &(l, id) in scratch.iter() {
        u -= ((l - max) as f64 / t).exp();
        if u <= 0.0 {
            return id;
        }
    }
    scratch.last().map(|p| p.1).unwrap_or(crate::roll::REST_ID)
}
