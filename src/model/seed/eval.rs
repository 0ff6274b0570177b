//! Honest evaluation on music: negative log-likelihood per step in nats, with out-of-vocabulary
//! steps scored as `P(UNK) × fallback(chord)` (never skipped), top-1/top-5 accuracy (an
//! out-of-vocabulary step always counts as a miss: no id names it), and the same NLL for a
//! unigram and an add-k bigram baseline over the model's vocabulary.

use std::collections::HashMap;

use candle_core::DType;

use super::data::Encoder;
use super::{Model, ModelError, PitchFallback};
use crate::roll::{window_at, Chord, Vocab, REST_ID, UNK_ID};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BaselineScore {
    pub nll_per_step: f64,
    /// The same without the fallback term: cross-entropy over the vocabulary's ids, UNK counted as
    /// a class (the part where models differ; the fallback is the same for all).
    pub id_nll_per_step: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Baselines {
    pub unigram: BaselineScore,
    pub bigram: BaselineScore,
    /// The add-k constant of both baselines.
    pub k: f64,
    /// Steps the baselines were fitted on.
    pub fit_steps: usize,
    /// The per-key Markov chain over the 88 keys (each key's off/held/struck given its state
    /// the step before, add-0.5; see [`crate::model::baseline::KeyMarkov`]), fitted on the same
    /// pieces: the baseline both kinds of model are compared with. Only with struck marks.
    pub markov: Option<crate::model::baseline::MarkovScore>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalReport {
    pub model: String,
    pub pieces: usize,
    pub steps: usize,
    pub nll_per_step: f64,
    /// Perplexity per step, `exp(nll_per_step)`.
    pub perplexity: f64,
    pub top1: f64,
    pub top5: f64,
    pub oov_rate: f64,
    /// Mean `-ln fallback(chord)` over the out-of-vocabulary steps (what they add beyond P(UNK)).
    pub oov_fallback_nats: f64,
    /// `nll_per_step` without the fallback term (see [`BaselineScore::id_nll_per_step`]).
    pub id_nll_per_step: f64,
    pub baselines: Baselines,
}

/// Unigram and bigram counts over a vocabulary, add-k smoothed.
pub struct NGram {
    vocab: usize,
    k: f64,
    unigram: Vec<f64>,
    total: f64,
    bigram: HashMap<(u32, u32), f64>,
    context: Vec<f64>,
    pub fit_steps: usize,
}

impl NGram {
    /// Fits on pieces; the bigram's previous token is the context id (nearest chord, REST before
    /// the first step), the next is the target id (UNK when out of vocabulary), as the model sees.
    pub fn fit(pieces: &[Vec<Chord>], vocab: &Vocab, k: f64) -> Self {
        let v = vocab.len();
        let mut encoder = Encoder::new(vocab);
        let (mut unigram, mut context, mut bigram, mut total, mut steps) =
            (vec![0f64; v], vec![0f64; v], HashMap::new(), 0f64, 0);
        for piece in pieces {
            let enc = encoder.encode(piece);
            let mut prev = REST_ID;
            for (i, &t) in enc.targets.iter().enumerate() {
                unigram[t as usize] += 1.0;
                context[prev as usize] += 1.0;
                *bigram.entry((prev, t)).or_insert(0.0) += 1.0;
                total += 1.0;
                steps += 1;
                prev = enc.inputs[i];
            }
        }
        Self {
            vocab: v,
            k,
            unigram,
            total,
            bigram,
            context,
            fit_steps: steps,
        }
    }

    pub fn unigram_logp(&self, t: u32) -> f64 {
        ((self.unigram[t as usize] + self.k) / (self.total + self.k * self.vocab as f64)).ln()
    }

    pub fn bigram_logp(&self, prev: u32, t: u32) -> f64 {
        let c = self.bigram.get(&(prev, t)).copied().unwrap_or(0.0);
        ((c + self.k) / (self.context[prev as usize] + self.k * self.vocab as f64)).ln()
    }
}

/// Evaluates `model` on `pieces` (rolls on the model's grid); baselines are fitted on
/// `baseline_pieces` with add-`k` smoothing. `progress` gets the steps done after each batch.
pub fn evaluate(
    model: &Model,
    pieces: &[Vec<Chord>],
    baseline_pieces: &[Vec<Chord>],
    k: f64,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Result<EvalReport, ModelError> {
    let vocab = model.vocab();
    let onsets = vocab.onsets();
    let fallback: &PitchFallback = model.fallback();
    let ngram = NGram::fit(baseline_pieces, vocab, k);
    let w = model.config().window;
    let mut encoder = Encoder::new(vocab);
    let (mut nll, mut uni, mut bi, mut top1, mut top5, mut oov, mut oov_nats, mut steps) =
        (0f64, 0f64, 0f64, 0usize, 0usize, 0usize, 0f64, 0usize);
    let mut row = Vec::with_capacity(w);
    for piece in pieces {
        let enc = encoder.encode(piece);
        let n = enc.targets.len();
        for start in (0..n).step_by(batch.max(1)) {
            let end = (start + batch).min(n);
            let mut windows = Vec::with_capacity((end - start) * w);
            for t in start..end {
                window_at(&enc.inputs, t, w, &mut row);
                windows.extend_from_slice(&row);
            }
            let logits = model.batch_logits(&windows, end - start)?;
            let logp = candle_nn::ops::log_softmax(&logits, 1)
                .and_then(|l| l.to_dtype(DType::F32))
                .and_then(|l| l.to_vec2::<f32>())
                .map_err(ModelError::candle(model.name(), "evaluation failed"))?;
            for (i, lp) in logp.iter().enumerate() {
                let t = start + i;
                let target = enc.targets[t];
                let prev = if t == 0 { REST_ID } else { enc.inputs[t - 1] };
                let extra = if target == UNK_ID {
                    oov += 1;
                    let nats = -fallback.log_prob(&piece[t], onsets);
                    oov_nats += nats;
                    nats
                } else {
                    0.0
                };
                let lt = lp[target as usize];
                nll += -(lt as f64) + extra;
                uni += -ngram.unigram_logp(target) + extra;
                bi += -ngram.bigram_logp(prev, target) + extra;
                if target != UNK_ID {
                    let better = lp.iter().filter(|&&l| l > lt).count();
                    top1 += (better == 0) as usize;
                    top5 += (better < 5) as usize;
                }
            }
            steps += end - start;
            progress(end - start);
        }
    }
    if steps == 0 {
        return Err(ModelError::Invalid {
            name: model.name().to_string(),
            reason: "nothing to evaluate: the music has no steps".into(),
        });
    }
    let s = steps as f64;
    Ok(EvalReport {
        model: model.name().to_string(),
        pieces: pieces.len(),
        steps,
        nll_per_step: nll / s,
        perplexity: (nll / s).exp(),
        top1: top1 as f64 / s,
        top5: top5 as f64 / s,
        oov_rate: oov as f64 / s,
        oov_fallback_nats: if oov > 0 { oov_nats / oov as f64 } else { 0.0 },
        id_nll_per_step: (nll - oov_nats) / s,
        baselines: Baselines {
            unigram: BaselineScore {
                nll_per_step: uni / s,
                id_nll_per_step: (uni - oov_nats) / s,
            },
            bigram: BaselineScore {
                nll_per_step: bi / s,
                id_nll_per_step: (bi - oov_nats) / s,
            },
            k,
            fit_steps: ngram.fit_steps,
            markov: onsets.then(|| markov_score(pieces, baseline_pieces)),
        },
    })
}

/// The per-key Markov baseline (add-0.5) fitted on `baseline` and scored on `pieces` (pitches
/// outside the piano's 88 keys are left out of both).
pub fn markov_score(
    pieces: &[Vec<Chord>],
    baseline: &[Vec<Chord>],
) -> crate::model::baseline::MarkovScore {
    use crate::model::baseline::KeyMarkov;
    use crate::model::step::data::roll_keys;
    let fit: Vec<_> = baseline.iter().map(|p| roll_keys(p)).collect();
    let markov = KeyMarkov::fit(fit.iter().map(|p| p.as_slice()), MARKOV_K);
    let eval: Vec<_> = pieces.iter().map(|p| roll_keys(p)).collect();
    let (nll, _) = markov.nll_per_step(eval.iter().map(|p| p.as_slice()));
    crate::model::baseline::MarkovScore {
        nll_per_step: nll,
        k: MARKOV_K,
        fit_steps: markov.fit_steps,
        fit_pieces: markov.fit_pieces,
    }
}

/// The add-k constant of the per-key Markov baseline.
pub const MARKOV_K: f64 = 0.5;
