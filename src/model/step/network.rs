//! The step model's network in candle: what training runs (teacher forcing over chunks of
//! pieces); batch-1 inference runs the same arithmetic in plain Rust ([`super::fast`]).
//!
//! Per step `t` (every tensor row `n` is one step of one chunk):
//! ```text
//! x_t  = Σ_k E_held[k]·held_{t-1,k} + E_struck[k]·struck_{t-1,k}      the step before, 88 keys
//!        + M_step[step in beat] + M_beat[beat in bar] + M_bar[beats per bar] + b   where t is
//! h_t  = GRU(h_{t-1}, x_t)                                              the running state
//! a_tk = A h_t + K[k] + F_tk · W_f + Σ_{j<k} N[j, s_tj]                  key k's decoder input
//! P(s_tk | h_t, s_t,<k, s_t-1) = softmax(V relu(a_tk) + U_k h_t + u_k)   off / held / struck
//! ```
//! `F_tk` are local features of key `k`: the state (sounding, struck) of the keys within
//! `prev_span` of it the step before, and of the `below_span` keys just below it already decoded
//! in this step. `N[j, s]` is NADE's running sum over the keys decoded so far (RNN-NADE,
//! Boulanger-Lewandowski et al. 2012), with one row per key and state. "Held" is impossible for a
//! key silent the step before (its logit is masked), so the model's probabilities sum to one over
//! exactly the step states that can follow.

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Result, Shape, Tensor, D};
use candle_nn::{Init, Linear, VarBuilder};

use super::{Config, KEYS, MAX_BEATS, STATES};
use crate::model::gru::GruWeights;

/// The network's weights.
#[derive(Debug, Clone)]
pub struct StepNetwork {
    pub config: Config,
    /// `[2·88, I]`: rows 0..88 held keys, 88..176 struck keys.
    pub in_keys: Tensor,
    /// `[steps_per_beat, I]`
    pub in_step: Tensor,
    /// `[MAX_BEATS, I]`: beat in bar (clamped).
    pub in_beat: Tensor,
    /// `[MAX_BEATS, I]`: beats per bar − 1 (clamped).
    pub in_bar: Tensor,
    /// `[I]`
    pub in_bias: Tensor,
    pub gru: GruWeights,
    /// `H → D`
    pub dec_h: Linear,
    /// `[88, D]`
    pub dec_key: Tensor,
    /// `[F, D]`
    pub dec_feat: Tensor,
    /// `[88·3, D]`: row `3k + s`.
    pub dec_nade: Tensor,
    /// `[D, 3]`
    pub dec_out: Tensor,
    /// `H → 88·3`
    pub dec_direct: Linear,
}

/// One batch for the network: `n` steps (chunks laid end to end, each `len` long).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub chunks: usize,
    pub len: usize,
    /// `[n, 176]` 0/1: held and struck keys of the step before each step.
    pub prev_keys: Vec<f32>,
    /// `[n]` each: step in beat, beat in bar, beats per bar − 1 (all clamped to their tables).
    pub step_in_beat: Vec<u32>,
    pub beat_in_bar: Vec<u32>,
    pub bar_beats: Vec<u32>,
    /// `[n·88, F]` local features.
    pub features: Vec<f32>,
    /// `[n·88]`: `3k + s` of each key's state.
    pub nade: Vec<u32>,
    /// `[n·88]`: each key's state (0 off, 1 held, 2 struck).
    pub targets: Vec<u32>,
    /// `[n·88·3]`: 0, or a large negative number on "held" for a key silent the step before.
    pub mask: Vec<f32>,
    /// `[n]`: 1 for a real step, 0 for padding.
    pub weights: Vec<f32>,
}

impl Batch {
    pub fn steps(&self) -> usize {
        self.chunks * self.len
    }
}

/// What "impossible" adds to a logit in training (exp(-1e4) is 0 in f32).
pub const MASKED: f32 = -1e4;

fn randn(stdev: f64) -> Init {
    Init::Randn { mean: 0.0, stdev }
}

fn linear(input: usize, output: usize, vb: VarBuilder) -> Result<Linear> {
    let bound = 1.0 / (input as f64).sqrt();
    let init = Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let w = vb.get_with_hints((output, input), "weight", init)?;
    let b = vb.get_with_hints(output, "bias", Init::Const(0.0))?;
    Ok(Linear::new(w, Some(b)))
}

impl StepNetwork {
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        let (i, h, d, f) = (
            config.input,
            config.hidden,
            config.decoder,
            config.features(),
        );
        let vi = vb.pp("input");
        let vd = vb.pp("decoder");
        Ok(Self {
            config: config.clone(),
            in_keys: vi.get_with_hints((2 * KEYS, i), "keys", randn(0.1))?,
            in_step: vi.get_with_hints((config.steps_per_beat, i), "step_in_beat", randn(0.1))?,
            in_beat: vi.get_with_hints((MAX_BEATS, i), "beat_in_bar", randn(0.1))?,
            in_bar: vi.get_with_hints((MAX_BEATS, i), "beats_per_bar", randn(0.1))?,
            in_bias: vi.get_with_hints(i, "bias", Init::Const(0.0))?,
            gru: GruWeights::new(i, h, vb.pp("gru"))?,
            dec_h: linear(h, d, vd.pp("state"))?,
            dec_key: vd.get_with_hints((KEYS, d), "key", randn(0.1))?,
            dec_feat: vd.get_with_hints((f, d), "features", randn(0.1))?,
            dec_nade: vd.get_with_hints((KEYS * STATES, d), "nade", randn(0.05))?,
            dec_out: vd.get_with_hints((d, STATES), "out", randn(1.0 / (d as f64).sqrt()))?,
            dec_direct: linear(h, KEYS * STATES, vd.pp("direct"))?,
        })
    }

    /// The running states `[n, H]` for a batch (each chunk from a zero state).
    pub fn states(&self, b: &Batch, device: &Device) -> Result<Tensor> {
        let n = b.steps();
        let hd = self.config.hidden;
        let keys = Tensor::from_slice(&b.prev_keys, (n, 2 * KEYS), device)?;
        let idx = |v: &[u32]| Tensor::from_slice(v, n, device);
        let x = keys
            .matmul(&self.in_keys)?
            .add(&self.in_step.index_select(&idx(&b.step_in_beat)?, 0)?)?
            .add(&self.in_beat.index_select(&idx(&b.beat_in_bar)?, 0)?)?
            .add(&self.in_bar.index_select(&idx(&b.bar_beats)?, 0)?)?
            .broadcast_add(&self.in_bias)?;
        let gx = x
            .matmul(&self.gru.weight_ih.t()?)?
            .broadcast_add(&self.gru.bias_ih)?
            .reshape((b.chunks, b.len, 3 * hd))?;
        let w_hh = self.gru.weight_hh.t()?;
        let mut h = Tensor::zeros((b.chunks, hd), DType::F32, device)?;
        let mut out = Vec::with_capacity(b.len);
        for t in 0..b.len {
            let gx_t = gx.narrow(1, t, 1)?.squeeze(1)?;
            let gh = h.matmul(&w_hh)?.broadcast_add(&self.gru.bias_hh)?;
            let rz = candle_nn::ops::sigmoid(
                &(gx_t.narrow(D::Minus1, 0, 2 * hd)? + gh.narrow(D::Minus1, 0, 2 * hd)?)?,
            )?;
            let r = rz.narrow(D::Minus1, 0, hd)?;
            let z = rz.narrow(D::Minus1, hd, hd)?;
            let c = (gx_t.narrow(D::Minus1, 2 * hd, hd)?
                + (r * gh.narrow(D::Minus1, 2 * hd, hd)?)?)?
            .tanh()?;
            h = (&c + (z * (&h - &c)?)?)?;
            out.push(h.clone());
        }
        Tensor::stack(&out, 1)?.reshape((n, hd))
    }

    /// Log-probabilities `[n, 88, 3]` of every key's state given the running state and what the
    /// batch says was decoded before it. Dropout on the running state when `train`.
    pub fn log_probs(&self, b: &Batch, device: &Device, train: bool) -> Result<Tensor> {
        let n = b.steps();
        let (d, f) = (self.config.decoder, self.config.features());
        let mut h = self.states(b, device)?;
        if train && self.config.dropout > 0.0 {
            h = crate::model::network::dropout(&h, self.config.dropout)?;
        }
        let feats = Tensor::from_slice(&b.features, (n * KEYS, f), device)?;
        let nade_ids = Tensor::from_slice(&b.nade, n * KEYS, device)?;
        let below = exclusive_cumsum(
            &self
                .dec_nade
                .index_select(&nade_ids, 0)?
                .reshape((n, KEYS, d))?,
        )?;
        let a = feats
            .matmul(&self.dec_feat)?
            .reshape((n, KEYS, d))?
            .add(&below)?
            .broadcast_add(&self.dec_h.forward(&h)?.unsqueeze(1)?)?
            .broadcast_add(&self.dec_key.unsqueeze(0)?)?;
        let logits = a
            .relu()?
            .reshape((n * KEYS, d))?
            .matmul(&self.dec_out)?
            .add(&self.dec_direct.forward(&h)?.reshape((n * KEYS, STATES))?)?
            .add(&Tensor::from_slice(&b.mask, (n * KEYS, STATES), device)?)?;
        candle_nn::ops::log_softmax(&logits, 1)?.reshape((n, KEYS, STATES))
    }

    /// Negative log-likelihood `[n]` of each step's full state, in nats.
    pub fn step_nll(&self, b: &Batch, device: &Device, train: bool) -> Result<Tensor> {
        let n = b.steps();
        let lp = self
            .log_probs(b, device, train)?
            .reshape((n * KEYS, STATES))?;
        let targets = Tensor::from_slice(&b.targets, (n * KEYS, 1), device)?;
        lp.gather(&targets, 1)?.reshape((n, KEYS))?.sum(1)?.neg()
    }

    /// Mean NLL per real step (padding weighs 0), the training loss.
    pub fn loss(&self, b: &Batch, device: &Device, train: bool) -> Result<Tensor> {
        let w = Tensor::from_slice(&b.weights, b.steps(), device)?;
        let total: f32 = b.weights.iter().sum();
        (self.step_nll(b, device, train)? * w)?.sum_all()? / total.max(1.0) as f64
    }
}

/// `out[n, k, :] = Σ_{j<k} x[n, j, :]` over dim 1 of `[N, K, D]`: NADE's running sum. One plain
/// pass on the CPU (a custom op with its own backward); a product with a triangular matrix
/// elsewhere.
pub fn exclusive_cumsum(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        return x.contiguous()?.apply_op1(Cumsum { reverse: false });
    }
    let (_, k, _) = x.dims3()?;
    // tri[j, k] = 1 when j < k: out = xᵀ · tri along dim 1.
    let tri: Vec<f32> = (0..k * k)
        .map(|i| if i / k < i % k { 1.0 } else { 0.0 })
        .collect();
    let tri = Tensor::from_vec(tri, (k, k), x.device())?.to_dtype(x.dtype())?;
    x.transpose(1, 2)?
        .contiguous()?
        .broadcast_matmul(&tri)?
        .transpose(1, 2)?
        .contiguous()
}

/// Exclusive running sum over dim 1 of a contiguous `[N, K, D]` f32 tensor; `reverse` sums the
/// keys above instead (the backward of the forward sum).
struct Cumsum {
    reverse: bool,
}

impl CustomOp1 for Cumsum {
    fn name(&self) -> &'static str {
        "exclusive-cumsum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, k, d) = l.shape().dims3()?;
        let x = crate::model::recurrence::contiguous_f32("exclusive-cumsum", s, l, "input")?;
        let mut out = vec![0f32; n * k * d];
        let mut acc = vec![0f32; d];
        for row in 0..n {
            acc.iter_mut().for_each(|a| *a = 0.0);
            let base = row * k * d;
            for step in 0..k {
                let j = if self.reverse { k - 1 - step } else { step };
                let at = base + j * d;
                out[at..at + d].copy_from_slice(&acc);
                for (a, v) in acc.iter_mut().zip(&x[at..at + d]) {
                    *a += v;
                }
            }
        }
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Cumsum {
            reverse: !self.reverse,
        })?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    /// The CPU op and the triangular product agree, forward and backward.
    #[test]
    fn cumsum_op_matches_product() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 7, 5), &dev).unwrap()).unwrap();
        let a = exclusive_cumsum(&x).unwrap();
        let (_, k, _) = x.dims3().unwrap();
        let tri: Vec<f32> = (0..k * k)
            .map(|i| if i / k < i % k { 1.0 } else { 0.0 })
            .collect();
        let tri = Tensor::from_vec(tri, (k, k), &dev).unwrap();
        let b = x
            .transpose(1, 2)
            .unwrap()
            .broadcast_matmul(&tri)
            .unwrap()
            .transpose(1, 2)
            .unwrap();
        assert!(crate::model::max_diff(&a, &b) < 1e-5);
        let w = Tensor::randn(0f32, 1.0, (3, 7, 5), &dev).unwrap();
        let ga = (&a * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&b * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let (ga, gb) = (
            ga.get(x.as_tensor()).unwrap(),
            gb.get(x.as_tensor()).unwrap(),
        );
        assert!(crate::model::max_diff(ga, gb) < 1e-5);
        // Key 0 sees nothing below it.
        let first = a.narrow(1, 0, 1).unwrap().abs().unwrap().sum_all().unwrap();
        assert_eq!(first.to_scalar::<f32>().unwrap(), 0.0);
    }
}
