//! Batch-1 inference of the step network in plain Rust on the CPU: one GRU step (the input
//! projection is a sum of a few precomputed rows: the step's keys and meter go through the
//! embedding and `W_ih` together) and the key-by-key decoder, with the same arithmetic as
//! [`super::network`] (tested against it).

use candle_core::{Result, Tensor};

use super::data::Position;
use super::network::StepNetwork;
use super::{Config, Keys, HELD, KEYS, OFF, STATES, STRUCK};
use crate::model::kernels::math::{gates, matvec, simd_available};

/// The network's weights laid out for batch-1 steps.
#[derive(Debug, Clone)]
pub struct Runner {
    config: Config,
    avx2: bool,
    /// `[176, 3H]`: each key row (held, then struck) through `W_ih`.
    gx_keys: Vec<f32>,
    gx_step: Vec<f32>,
    gx_beat: Vec<f32>,
    gx_bar: Vec<f32>,
    /// `[3H]`: the input bias through `W_ih`, plus `b_ih`.
    gx_bias: Vec<f32>,
    /// `[H, 3H]`
    w_hh_t: Vec<f32>,
    b_hh: Vec<f32>,
    /// `[H, D]`, `[D]`
    dec_h_t: Vec<f32>,
    dec_h_b: Vec<f32>,
    /// `[H, 264]`, `[264]`
    direct_t: Vec<f32>,
    direct_b: Vec<f32>,
    /// `[88, D]`, `[F, D]`, `[264, D]`, `[D, 3]`
    key: Vec<f32>,
    feat: Vec<f32>,
    nade: Vec<f32>,
    out: Vec<f32>,
}

/// Work buffers of one running state.
#[derive(Debug, Clone)]
pub struct Scratch {
    gx: Vec<f32>,
    gh: Vec<f32>,
    /// The decoder's state term and direct logits of the current step.
    c: Vec<f32>,
    u: Vec<f32>,
    a: Vec<f32>,
    pre: Vec<f32>,
    sounding: Vec<usize>,
}

impl Scratch {
    pub fn new(config: &Config) -> Self {
        let (h, d) = (config.hidden, config.decoder);
        Self {
            gx: vec![0.0; 3 * h],
            gh: vec![0.0; 3 * h],
            c: vec![0.0; d],
            u: vec![0.0; KEYS * STATES],
            a: vec![0.0; d],
            pre: vec![0.0; d],
            sounding: Vec::with_capacity(KEYS),
        }
    }
}

fn flat(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()
}

fn transposed(t: &Tensor) -> Result<Vec<f32>> {
    flat(&t.t()?.contiguous()?)
}

impl Runner {
    pub fn new(net: &StepNetwork) -> Result<Self> {
        let w_ih_t = net.gru.weight_ih.t()?;
        let through = |table: &Tensor| flat(&table.matmul(&w_ih_t)?);
        let gx_bias = flat(
            &net.in_bias
                .unsqueeze(0)?
                .matmul(&w_ih_t)?
                .squeeze(0)?
                .add(&net.gru.bias_ih)?,
        )?;
        Ok(Self {
            config: net.config.clone(),
            avx2: simd_available(),
            gx_keys: through(&net.in_keys)?,
            gx_step: through(&net.in_step)?,
            gx_beat: through(&net.in_beat)?,
            gx_bar: through(&net.in_bar)?,
            gx_bias,
            w_hh_t: transposed(&net.gru.weight_hh)?,
            b_hh: flat(&net.gru.bias_hh)?,
            dec_h_t: transposed(net.dec_h.weight())?,
            dec_h_b: flat(net.dec_h.bias().expect("bias"))?,
            direct_t: transposed(net.dec_direct.weight())?,
            direct_b: flat(net.dec_direct.bias().expect("bias"))?,
            key: flat(&net.dec_key)?,
            feat: flat(&net.dec_feat)?,
            nade: flat(&net.dec_nade)?,
            out: flat(&net.dec_out)?,
        })
    }

    pub fn kernels(&self) -> &'static str {
        if self.avx2 {
            "AVX2"
        } else {
            "portable"
        }
    }

    /// The plain loops only (tests compare them with the vector kernels).
    pub fn force_portable(&mut self) {
        self.avx2 = false;
    }

    /// One GRU step: reads the step before (`prev`) and the position of the step to come, updates
    /// `h`, and leaves the decoder's state terms in the scratch.
    pub fn advance(&self, h: &mut [f32], prev: &Keys, pos: Position, s: &mut Scratch) {
        let hd = self.config.hidden;
        let h3 = 3 * hd;
        let (sib, bib, bpb) = pos.rows(self.config.steps_per_beat);
        s.gx.copy_from_slice(&self.gx_bias);
        let mut add_row = |table: &[f32], row: usize| {
            for (g, w) in s.gx.iter_mut().zip(&table[row * h3..(row + 1) * h3]) {
                *g += w;
            }
        };
        add_row(&self.gx_step, sib);
        add_row(&self.gx_beat, bib);
        add_row(&self.gx_bar, bpb);
        for (k, &st) in prev.iter().enumerate() {
            match st {
                HELD => add_row(&self.gx_keys, k),
                STRUCK => add_row(&self.gx_keys, KEYS + k),
                _ => {}
            }
        }
        s.gh.copy_from_slice(&self.b_hh);
        matvec(self.avx2, &self.w_hh_t, h, &mut s.gh);
        gates(self.avx2, &s.gx, &s.gh, h);
        s.c.copy_from_slice(&self.dec_h_b);
        matvec(self.avx2, &self.dec_h_t, h, &mut s.c);
        s.u.copy_from_slice(&self.direct_b);
        matvec(self.avx2, &self.direct_t, h, &mut s.u);
    }

    /// Decodes a step key by key from low to high after [`Runner::advance`]: `choose(k, logits,
    /// held_ok)` gets key `k`'s logits (off, held, struck; "held" is only possible when
    /// `held_ok`) and returns its state. Returns the step.
    pub fn decode(
        &self,
        prev: &Keys,
        s: &mut Scratch,
        mut choose: impl FnMut(usize, &[f32; 3], bool) -> u8,
    ) -> Keys {
        let d = self.config.decoder;
        let span = self.config.prev_span as isize;
        let below = self.config.below_span;
        let base = 2 * (2 * self.config.prev_span + 1);
        s.sounding.clear();
        s.sounding.extend((0..KEYS).filter(|&k| prev[k] != OFF));
        s.a.copy_from_slice(&s.c);
        let mut cur = [OFF; KEYS];
        let add = |pre: &mut [f32], table: &[f32], row: usize| {
            for (p, w) in pre.iter_mut().zip(&table[row * d..(row + 1) * d]) {
                *p += w;
            }
        };
        for k in 0..KEYS {
            s.pre.copy_from_slice(&s.a);
            add(&mut s.pre, &self.key, k);
            for &j in &s.sounding {
                let o = j as isize - k as isize;
                if o.abs() <= span {
                    let at = 2 * (o + span) as usize;
                    add(&mut s.pre, &self.feat, at);
                    if prev[j] == STRUCK {
                        add(&mut s.pre, &self.feat, at + 1);
                    }
                }
            }
            for o in 1..=below.min(k) {
                let st = cur[k - o];
                if st != OFF {
                    let at = base + 2 * (o - 1);
                    add(&mut s.pre, &self.feat, at);
                    if st == STRUCK {
                        add(&mut s.pre, &self.feat, at + 1);
                    }
                }
            }
            let mut logits = [s.u[k * STATES], s.u[k * STATES + 1], s.u[k * STATES + 2]];
            for (i, &p) in s.pre.iter().enumerate() {
                if p > 0.0 {
                    let row = &self.out[i * STATES..(i + 1) * STATES];
                    logits[0] += p * row[0];
                    logits[1] += p * row[1];
                    logits[2] += p * row[2];
                }
            }
            let held_ok = self.config.held_ok(prev[k]);
            let st = match choose(k, &logits, held_ok) {
                HELD if !held_ok => STRUCK,
                s if s as usize >= STATES => OFF,
                s => s,
            };
            cur[k] = st;
            add(&mut s.a, &self.nade, k * STATES + st as usize);
        }
        cur
    }
}

/// `ln P(state)` from a key's logits, "held" excluded unless `held_ok`.
pub fn log_prob(logits: &[f32; 3], held_ok: bool, state: u8) -> f64 {
    let allowed = |s: usize| s != HELD as usize || held_ok;
    let max = (0..STATES)
        .filter(|&s| allowed(s))
        .map(|s| logits[s] as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = (0..STATES)
        .filter(|&s| allowed(s))
        .map(|s| (logits[s] as f64 - max).exp())
        .sum();
    if !allowed(state as usize) {
        return f64::NEG_INFINITY;
    }
    logits[state as usize] as f64 - max - total.ln()
}
