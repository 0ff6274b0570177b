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

use super::data::key_features;
use super::{Config, Keys, KEYS, MAX_BEATS, OFF, STATES, STRUCK};
use crate::model::layers::gru::GruWeights;

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
    /// `[n]`: the step before each step, and the step itself.
    pub prev: Vec<Keys>,
    pub cur: Vec<Keys>,
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
        self.states_with(b, device, device.is_cpu())
    }

    /// `fused`: the recurrence as one CPU op ([`crate::model::kernels::recurrence::FusedGru`]) instead of
    /// candle's ops per step (any device).
    pub fn states_with(&self, b: &Batch, device: &Device, fused: bool) -> Result<Tensor> {
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
        if fused {
            // The fused recurrence adds b_ih itself.
            let gx = x
                .matmul(&self.gru.weight_ih.t()?)?
                .reshape((b.chunks, b.len, 3 * hd))?;
            let w = self.gru.weight_hh.t()?.contiguous()?;
            let bias = Tensor::stack(&[&self.gru.bias_ih, &self.gru.bias_hh], 0)?;
            return gx
                .apply_op3(&w, &bias, crate::model::kernels::recurrence::FusedGru)?
                .reshape((n, hd));
        }
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
        candle_nn::ops::log_softmax(&self.logits(b, device, train)?, 1)?.reshape((n, KEYS, STATES))
    }

    /// The masked logits `[n·88, 3]` of every key's state.
    pub fn logits(&self, b: &Batch, device: &Device, train: bool) -> Result<Tensor> {
        let n = b.steps();
        let (d, f) = (self.config.decoder, self.config.features());
        let mut h = self.states(b, device)?;
        if train && self.config.dropout > 0.0 {
            h = crate::model::layers::dropout(&h, self.config.dropout)?;
        }
        let state = self.dec_h.forward(&h)?;
        let z = if device.is_cpu() {
            let sk = Tensor::cat(&[&state, &self.dec_key], 0)?;
            self.dec_feat.apply_op3(
                &self.dec_nade,
                &sk,
                DecoderOp {
                    prev: b.prev.clone(),
                    cur: b.cur.clone(),
                    prev_span: self.config.prev_span,
                    below_span: self.config.below_span,
                },
            )?
        } else {
            let (feats, nade_ids) = dense_inputs(&self.config, b);
            let feats = Tensor::from_vec(feats, (n * KEYS, f), device)?;
            let nade = self
                .dec_nade
                .index_select(&Tensor::from_vec(nade_ids, n * KEYS, device)?, 0)?
                .reshape((n, KEYS, d))?;
            let local = feats.matmul(&self.dec_feat)?.reshape((n, KEYS, d))?;
            decoder_hidden(&local, &nade, &state, &self.dec_key)?
        };
        z.reshape((n * KEYS, d))?
            .matmul(&self.dec_out)?
            .add(&self.dec_direct.forward(&h)?.reshape((n * KEYS, STATES))?)?
            .add(&Tensor::from_slice(&b.mask, (n * KEYS, STATES), device)?)
    }

    /// Negative log-likelihood `[n]` of each step's full state, in nats.
    pub fn step_nll(&self, b: &Batch, device: &Device, train: bool) -> Result<Tensor> {
        let n = b.steps();
        let logits = self.logits(b, device, train)?;
        let key_nll = if device.is_cpu() {
            // One pass over each key's three logits (candle's log-softmax broadcasts over rows
            // of 3: a function call per row and op).
            let targets: Vec<f32> = b.targets.iter().map(|&t| t as f32).collect();
            let targets = Tensor::from_vec(targets, n * KEYS, device)?;
            logits.apply_op2(&targets, KeyNll)?
        } else {
            let targets = Tensor::from_slice(&b.targets, (n * KEYS, 1), device)?;
            candle_nn::ops::log_softmax(&logits, 1)?
                .gather(&targets, 1)?
                .neg()?
                .reshape(n * KEYS)?
        };
        key_nll.reshape((n, KEYS))?.sum(1)
    }

    /// Mean NLL per real step (padding weighs 0), the training loss.
    pub fn loss(&self, b: &Batch, device: &Device, train: bool) -> Result<Tensor> {
        let w = Tensor::from_slice(&b.weights, b.steps(), device)?;
        let total: f32 = b.weights.iter().sum();
        (self.step_nll(b, device, train)? * w)?.sum_all()? / total.max(1.0) as f64
    }
}

/// `−ln softmax(logits[m])[target[m]]` for rows of 3 logits: inputs logits `[M, 3]` and the
/// targets as f32 `[M]`; output `[M]`. The backward is `grad · (softmax − onehot)`.
struct KeyNll;

fn softmax3(l: &[f32]) -> [f32; 3] {
    let m = l[0].max(l[1]).max(l[2]);
    let e = [(l[0] - m).exp(), (l[1] - m).exp(), (l[2] - m).exp()];
    let s = e[0] + e[1] + e[2];
    [e[0] / s, e[1] / s, e[2] / s]
}

impl candle_core::CustomOp2 for KeyNll {
    fn name(&self) -> &'static str {
        "step-key-nll"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, three) = l1.shape().dims2()?;
        if three != STATES || l2.shape().dims() != [m] {
            candle_core::bail!("step-key-nll: shapes {:?} {:?}", l1.shape(), l2.shape());
        }
        let op = "step-key-nll";
        let logits = crate::model::kernels::recurrence::contiguous_f32(op, s1, l1, "logits")?;
        let targets = crate::model::kernels::recurrence::contiguous_f32(op, s2, l2, "targets")?;
        let out: Vec<f32> = logits
            .chunks_exact(STATES)
            .zip(targets)
            .map(|(l, &t)| {
                let mx = l[0].max(l[1]).max(l[2]);
                let lse = mx + ((l[0] - mx).exp() + (l[1] - mx).exp() + (l[2] - mx).exp()).ln();
                lse - l[t as usize]
            })
            .collect();
        Ok((CpuStorage::F32(out), Shape::from(m)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let l = logits.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let t = targets.to_vec1::<f32>()?;
        let g = grad.contiguous()?.to_vec1::<f32>()?;
        let mut d = vec![0f32; l.len()];
        for (i, (row, out)) in l
            .chunks_exact(STATES)
            .zip(d.chunks_exact_mut(STATES))
            .enumerate()
        {
            let p = softmax3(row);
            for s in 0..STATES {
                let hot = if s == t[i] as usize { 1.0 } else { 0.0 };
                out[s] = g[i] * (p[s] - hot);
            }
        }
        Ok((
            Some(Tensor::from_vec(d, logits.shape(), logits.device())?),
            None,
        ))
    }
}

/// The decoder's hidden units `relu(local + Σ_{j<k} nade[:, j] + state[n] + key[k])` `[N, K, D]`
/// from `local`, `nade` `[N, K, D]`, `state` `[N, D]` and `key` `[K, D]`, in candle ops (the
/// path for GPUs; the CPU runs [`DecoderOp`]).
pub fn decoder_hidden(
    local: &Tensor,
    nade: &Tensor,
    state: &Tensor,
    key: &Tensor,
) -> Result<Tensor> {
    local
        .add(&exclusive_cumsum(nade)?)?
        .broadcast_add(&state.unsqueeze(1)?)?
        .broadcast_add(&key.unsqueeze(0)?)?
        .relu()
}

/// The dense inputs of the candle-op decoder: local features `[n·88, F]` and NADE rows `3k + s`.
pub fn dense_inputs(config: &Config, b: &Batch) -> (Vec<f32>, Vec<u32>) {
    let f = config.features();
    let n = b.steps();
    let mut feats = vec![0f32; n * KEYS * f];
    let mut nade = Vec::with_capacity(n * KEYS);
    for row in 0..n {
        for k in 0..KEYS {
            let at = (row * KEYS + k) * f;
            key_features(config, &b.prev[row], &b.cur[row], k, &mut feats[at..at + f]);
            nade.push((k * STATES) as u32 + b.cur[row][k] as u32);
        }
    }
    (feats, nade)
}

/// The whole decoder up to its hidden units in one CPU op, sparse where the music is: inputs the
/// feature weights `W_f` `[F, D]`, the NADE table `[264, D]` and the state term stacked on the key
/// biases `[n + 88, D]`; output `relu(a)` `[n·88, D]`. Each key adds the `W_f` rows of its few
/// active features (sounding neighbours) instead of a dense `[n·88, F]` product, and the running
/// NADE sum is one pass; the backward scatters into `W_f` and the table directly.
struct DecoderOp {
    prev: Vec<Keys>,
    cur: Vec<Keys>,
    prev_span: usize,
    below_span: usize,
}

impl DecoderOp {
    /// The active feature rows of key `k` of step `row` (`sounding`: the keys sounding the step
    /// before), as in [`key_features`].
    fn active(&self, row: usize, k: usize, sounding: &[usize], out: &mut Vec<usize>) {
        out.clear();
        let span = self.prev_span as isize;
        let (prev, cur) = (&self.prev[row], &self.cur[row]);
        for &j in sounding {
            let o = j as isize - k as isize;
            if o.abs() <= span {
                let at = 2 * (o + span) as usize;
                out.push(at);
                if prev[j] == STRUCK {
                    out.push(at + 1);
                }
            }
        }
        let base = 2 * (2 * self.prev_span + 1);
        for o in 1..=self.below_span.min(k) {
            let st = cur[k - o];
            if st != OFF {
                let at = base + 2 * (o - 1);
                out.push(at);
                if st == STRUCK {
                    out.push(at + 1);
                }
            }
        }
    }

    fn sounding(&self, row: usize, out: &mut Vec<usize>) {
        out.clear();
        out.extend((0..KEYS).filter(|&j| self.prev[row][j] != OFF));
    }
}

impl candle_core::CustomOp3 for DecoderOp {
    fn name(&self) -> &'static str {
        "step-decoder"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, d) = l1.shape().dims2()?;
        let n = self.prev.len();
        if l2.shape().dims() != [KEYS * STATES, d] || l3.shape().dims() != [n + KEYS, d] {
            candle_core::bail!(
                "step-decoder: shapes {:?} {:?} {:?} do not fit {n} steps",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        let op = "step-decoder";
        let wf = crate::model::kernels::recurrence::contiguous_f32(op, s1, l1, "features")?;
        let table = crate::model::kernels::recurrence::contiguous_f32(op, s2, l2, "nade")?;
        let sk = crate::model::kernels::recurrence::contiguous_f32(op, s3, l3, "state")?;
        let (state, key) = sk.split_at(n * d);
        let mut out = vec![0f32; n * KEYS * d];
        let mut acc = vec![0f32; d];
        let (mut sounding, mut active) = (Vec::with_capacity(KEYS), Vec::with_capacity(64));
        for row in 0..n {
            self.sounding(row, &mut sounding);
            acc.copy_from_slice(&state[row * d..(row + 1) * d]);
            for k in 0..KEYS {
                let o = &mut out[(row * KEYS + k) * d..(row * KEYS + k + 1) * d];
                for ((o, a), kk) in o.iter_mut().zip(&acc).zip(&key[k * d..(k + 1) * d]) {
                    *o = a + kk;
                }
                self.active(row, k, &sounding, &mut active);
                for &f in &active {
                    for (o, w) in o.iter_mut().zip(&wf[f * d..(f + 1) * d]) {
                        *o += w;
                    }
                }
                o.iter_mut().for_each(|v| *v = v.max(0.0));
                let t = (k * STATES + self.cur[row][k] as usize) * d;
                for (a, w) in acc.iter_mut().zip(&table[t..t + d]) {
                    *a += w;
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n * KEYS, d))))
    }

    fn bwd(
        &self,
        wf: &Tensor,
        table: &Tensor,
        sk: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = wf.dim(1)?;
        let n = self.prev.len();
        let g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let z = res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut dwf = vec![0f32; wf.elem_count()];
        let mut dtable = vec![0f32; table.elem_count()];
        let mut dsk = vec![0f32; sk.elem_count()];
        let (mut acc, mut ga) = (vec![0f32; d], vec![0f32; d]);
        let (mut sounding, mut active) = (Vec::with_capacity(KEYS), Vec::with_capacity(64));
        for row in 0..n {
            self.sounding(row, &mut sounding);
            acc.iter_mut().for_each(|a| *a = 0.0);
            for k in (0..KEYS).rev() {
                let at = (row * KEYS + k) * d;
                // Through the relu: no gradient where it was 0.
                for ((ga, &g), &z) in ga.iter_mut().zip(&g[at..at + d]).zip(&z[at..at + d]) {
                    *ga = if z > 0.0 { g } else { 0.0 };
                }
                // The table row of key k reaches every key above it.
                let t = (k * STATES + self.cur[row][k] as usize) * d;
                for (dt, a) in dtable[t..t + d].iter_mut().zip(&acc) {
                    *dt += a;
                }
                for (a, g) in acc.iter_mut().zip(&ga) {
                    *a += g;
                }
                let dk = &mut dsk[(n + k) * d..(n + k + 1) * d];
                for (dk, g) in dk.iter_mut().zip(&ga) {
                    *dk += g;
                }
                self.active(row, k, &sounding, &mut active);
                for &f in &active {
                    for (dw, g) in dwf[f * d..(f + 1) * d].iter_mut().zip(&ga) {
                        *dw += g;
                    }
                }
            }
            // acc now sums every key's gradient: the state term's.
            dsk[row * d..(row + 1) * d].copy_from_slice(&acc);
        }
        let dev = wf.device();
        Ok((
            Some(Tensor::from_vec(dwf, wf.shape(), dev)?),
            Some(Tensor::from_vec(dtable, table.shape(), dev)?),
            Some(Tensor::from_vec(dsk, sk.shape(), dev)?),
        ))
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
        let x =
            crate::model::kernels::recurrence::contiguous_f32("exclusive-cumsum", s, l, "input")?;
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

    /// The fused per-key NLL and candle's log-softmax agree, forward and backward.
    #[test]
    fn key_nll_matches_log_softmax() {
        let dev = Device::Cpu;
        let logits = Var::from_tensor(&Tensor::randn(0f32, 2.0, (11, 3), &dev).unwrap()).unwrap();
        let t: Vec<u32> = (0..11).map(|i| (i * 7 % 3) as u32).collect();
        let tf: Vec<f32> = t.iter().map(|&x| x as f32).collect();
        let w = Tensor::randn(0f32, 1.0, 11, &dev).unwrap();
        let a = logits
            .apply_op2(&Tensor::from_vec(tf, 11, &dev).unwrap(), KeyNll)
            .unwrap();
        let b = candle_nn::ops::log_softmax(&logits, 1)
            .unwrap()
            .gather(&Tensor::from_vec(t, (11, 1), &dev).unwrap(), 1)
            .unwrap()
            .neg()
            .unwrap()
            .reshape(11)
            .unwrap();
        assert!(crate::model::max_diff(&a, &b) < 1e-5);
        let ga = (&a * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&b * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let d = crate::model::max_diff(
            ga.get(logits.as_tensor()).unwrap(),
            gb.get(logits.as_tensor()).unwrap(),
        );
        assert!(d < 1e-5, "{d}");
    }

    /// The sparse CPU decoder op and the dense candle ops agree on real-looking steps, forward
    /// and backward (gradients of every weight).
    #[test]
    fn decoder_op_matches_dense_ops() {
        use rand::{Rng, SeedableRng};
        let dev = Device::Cpu;
        let config = Config {
            input: 8,
            hidden: 10,
            decoder: 6,
            prev_span: 3,
            below_span: 2,
            dropout: 0.0,
            ..Config::default()
        };
        let varmap = candle_nn::VarMap::new();
        let net =
            StepNetwork::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let n = 5;
        let mut b = Batch {
            chunks: 1,
            len: n,
            ..Batch::default()
        };
        let mut prev = [OFF; KEYS];
        for _ in 0..n {
            let mut cur = [OFF; KEYS];
            for (k, c) in cur.iter_mut().enumerate() {
                let r: f32 = rng.random();
                *c = if r < 0.1 {
                    STRUCK
                } else if r < 0.2 && prev[k] != OFF {
                    super::super::HELD
                } else {
                    OFF
                };
            }
            b.prev.push(prev);
            b.cur.push(cur);
            prev = cur;
        }
        let sk = Tensor::cat(
            &[
                &Tensor::randn(0f32, 1.0, (n, 6), &dev).unwrap(),
                &net.dec_key,
            ],
            0,
        )
        .unwrap();
        let sk = Var::from_tensor(&sk).unwrap();
        let a = net
            .dec_feat
            .apply_op3(
                &net.dec_nade,
                &sk,
                DecoderOp {
                    prev: b.prev.clone(),
                    cur: b.cur.clone(),
                    prev_span: 3,
                    below_span: 2,
                },
            )
            .unwrap();
        let (feats, ids) = dense_inputs(&config, &b);
        let f = config.features();
        let local = Tensor::from_vec(feats, (n * KEYS, f), &dev)
            .unwrap()
            .matmul(&net.dec_feat)
            .unwrap()
            .reshape((n, KEYS, 6))
            .unwrap();
        let nade = net
            .dec_nade
            .index_select(&Tensor::from_vec(ids, n * KEYS, &dev).unwrap(), 0)
            .unwrap()
            .reshape((n, KEYS, 6))
            .unwrap();
        let bb = decoder_hidden(
            &local,
            &nade,
            &sk.narrow(0, 0, n).unwrap(),
            &sk.narrow(0, n, KEYS).unwrap(),
        )
        .unwrap()
        .reshape((n * KEYS, 6))
        .unwrap();
        assert!(crate::model::max_diff(&a, &bb) < 1e-5);
        let w = Tensor::randn(0f32, 1.0, (n * KEYS, 6), &dev).unwrap();
        let ga = (&a * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&bb * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, x) in [
            ("features", net.dec_feat.clone()),
            ("nade", net.dec_nade.clone()),
            ("state", sk.as_tensor().clone()),
        ] {
            let d = crate::model::max_diff(ga.get(&x).unwrap(), gb.get(&x).unwrap());
            assert!(d < 1e-4, "gradient of {name} differs by {d}");
        }
    }

    /// The fused time GRU and candle's per-step ops agree, forward and backward.
    #[test]
    fn fused_time_gru_matches_candle_ops() {
        let dev = Device::Cpu;
        let config = Config {
            input: 8,
            hidden: 20,
            decoder: 6,
            dropout: 0.0,
            ..Config::default()
        };
        let varmap = candle_nn::VarMap::new();
        let net =
            StepNetwork::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
        let (chunks, len) = (3, 7);
        let n = chunks * len;
        let b = Batch {
            chunks,
            len,
            prev_keys: (0..n * 2 * KEYS)
                .map(|i| if i % 13 == 0 { 1.0 } else { 0.0 })
                .collect(),
            step_in_beat: (0..n as u32).map(|i| i % 4).collect(),
            beat_in_bar: (0..n as u32).map(|i| i / 4 % 4).collect(),
            bar_beats: vec![3; n],
            ..Batch::default()
        };
        let a = net.states_with(&b, &dev, true).unwrap();
        let c = net.states_with(&b, &dev, false).unwrap();
        assert!(crate::model::max_diff(&a, &c) < 1e-5);
        let w = Tensor::randn(0f32, 1.0, a.shape(), &dev).unwrap();
        let ga = (&a * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gc = (&c * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, var) in varmap.data().lock().unwrap().iter() {
            let (x, y) = (ga.get(var.as_tensor()), gc.get(var.as_tensor()));
            if let (Some(x), Some(y)) = (x, y) {
                let d = crate::model::max_diff(x, y);
                assert!(d < 1e-4, "gradient of {name} differs by {d}");
            }
        }
    }

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
