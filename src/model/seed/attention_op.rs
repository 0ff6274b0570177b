//! [`SeqSelfAttention`](super::attention::SeqSelfAttention) as one fused candle op (CPU, f32),
//! with a hand-written backward pass.
//!
//! Why: with candle's ordinary ops each layer is two batched `[T, D] × [D, T]`-sized products
//! that candle runs as B separate tiny gemm calls (each synchronising the gemm threads), plus a
//! transposed copy of the input, six element-wise passes and their backward graph (the backward of
//! a batched product is again two batched products). As one op, the per-window products run
//! single-threaded with the windows split over the threads, and the two `[B·T, D] × [D, D]`
//! products run as one large gemm each.
//!
//! Inputs: `x` `[B, T, D]`, `wa` `[D, D]`, `ba` `[1]`. Output `[B, T, D]`. Per window:
//! ```text
//! XW = X · Wa                   E = XW · Xᵀ + ba          S = σ(E)
//! A  = softmax_rows(S + mask)   out = A · X               (mask: 0 in the band, -10000 outside)
//! ```
//! Backward, from `G = ∂L/∂out`:
//! ```text
//! dA = G · Xᵀ     dS = A ⊙ (dA − rowsum(dA ⊙ A))     dE = dS ⊙ S ⊙ (1 − S)     dba = Σ dE
//! dXW = dE · X    dWa = Σ_windows Xᵀ · dXW
//! dX = Aᵀ · G + dEᵀ · XW + dXW · Waᵀ
//! ```
//! The forward pass keeps `XW`, `S` and `A` in the op for the backward pass instead of recomputing
//! them.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::attention::{in_band, OUTSIDE_BAND};
use crate::model::kernels::recurrence::{contiguous_f32, gemm_acc, parallelism};

/// What the forward pass leaves for the backward pass.
struct Saved {
    /// `[B, T, D]`
    xw: Vec<f32>,
    /// `[B, T, T]`: σ(E).
    s: Vec<f32>,
    /// `[B, T, T]`: the attention weights.
    a: Vec<f32>,
}

pub struct FusedAttention {
    width: usize,
    saved: Mutex<Option<Saved>>,
}

impl FusedAttention {
    pub fn new(width: usize) -> Self {
        Self {
            width,
            saved: Mutex::new(None),
        }
    }
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    contiguous_f32("fused-attention", s, l, what)
}

/// `[T, T]`: 0 inside the band, -10000 outside (what the candle-op path adds).
fn mask(t: usize, width: usize) -> Vec<f32> {
    (0..t * t)
        .map(|i| {
            if in_band(i / t, i % t, width) {
                0.0
            } else {
                OUTSIDE_BAND
            }
        })
        .collect()
}

/// The forward pass on plain slices: `(out, saved)`.
fn forward(
    x: &[f32],
    wa: &[f32],
    ba: f32,
    (b, t, d): (usize, usize, usize),
    width: usize,
) -> (Vec<f32>, Saved) {
    let mut xw = vec![0f32; b * t * d];
    gemm_acc(
        parallelism(1),
        b * t,
        d,
        d,
        &mut xw,
        false,
        x,
        d,
        1,
        wa,
        d,
        1,
    );
    let mask = mask(t, width);
    let mut out = vec![0f32; b * t * d];
    let mut s = vec![0f32; b * t * t];
    let mut a = vec![0f32; b * t * t];
    out.par_chunks_mut(t * d)
        .zip(s.par_chunks_mut(t * t))
        .zip(a.par_chunks_mut(t * t))
        .enumerate()
        .for_each(|(i, ((out, s), a))| {
            let xi = &x[i * t * d..(i + 1) * t * d];
            let xwi = &xw[i * t * d..(i + 1) * t * d];
            // E = XW · Xᵀ, into s.
            gemm_acc(Parallelism::None, t, t, d, s, false, xwi, d, 1, xi, 1, d);
            for ((row_s, row_a), row_m) in s
                .chunks_exact_mut(t)
                .zip(a.chunks_exact_mut(t))
                .zip(mask.chunks_exact(t))
            {
                // As candle: σ(e) = 1 / (1 + exp(-e)), then softmax as exp(v - max) / Σ.
                let mut max = f32::NEG_INFINITY;
                for ((e, v), m) in row_s.iter_mut().zip(row_a.iter_mut()).zip(row_m) {
                    *e = 1.0 / (1.0 + (-(*e + ba)).exp());
                    *v = *e + m;
                    max = max.max(*v);
                }
                let mut sum = 0f32;
                for v in row_a.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                for v in row_a.iter_mut() {
                    *v /= sum;
                }
            }
            // out = A · X
            gemm_acc(Parallelism::None, t, d, t, out, false, a, t, 1, xi, d, 1);
        });
    (out, Saved { xw, s, a })
}

/// The backward pass: gradients of `x`, `wa` and `ba` given the output's gradient `g`.
fn backward(
    x: &[f32],
    wa: &[f32],
    saved: &Saved,
    g: &[f32],
    (b, t, d): (usize, usize, usize),
) -> (Vec<f32>, Vec<f32>, f32) {
    let mut dx = vec![0f32; b * t * d];
    let mut dxw = vec![0f32; b * t * d];
    // Each window's Σ dE, summed in window order afterwards so the result does not depend on how
    // the windows were split over threads.
    let mut dba = vec![0f32; b];
    dx.par_chunks_mut(t * d)
        .zip(dxw.par_chunks_mut(t * d))
        .zip(dba.par_iter_mut())
        .enumerate()
        .for_each_init(
            || vec![0f32; t * t],
            |de, (i, ((dx, dxw), dba))| {
                let (r_td, r_tt) = (i * t * d..(i + 1) * t * d, i * t * t..(i + 1) * t * t);
                let (xi, xwi, gi) = (&x[r_td.clone()], &saved.xw[r_td.clone()], &g[r_td]);
                let (si, ai) = (&saved.s[r_tt.clone()], &saved.a[r_tt]);
                // dA = G · Xᵀ, into de.
                gemm_acc(Parallelism::None, t, t, d, de, false, gi, d, 1, xi, 1, d);
                // dX = Aᵀ · G
                gemm_acc(Parallelism::None, t, d, t, dx, false, ai, 1, t, gi, d, 1);
                let mut sum = 0f32;
                for ((row_de, row_a), row_s) in de
                    .chunks_exact_mut(t)
                    .zip(ai.chunks_exact(t))
                    .zip(si.chunks_exact(t))
                {
                    let c: f32 = row_de.iter().zip(row_a).map(|(da, a)| da * a).sum();
                    for ((v, a), s) in row_de.iter_mut().zip(row_a).zip(row_s) {
                        *v = a * (*v - c) * s * (1.0 - s);
                        sum += *v;
                    }
                }
                *dba = sum;
                // dXW = dE · X;  dX += dEᵀ · XW
                gemm_acc(Parallelism::None, t, d, t, dxw, false, de, t, 1, xi, d, 1);
                gemm_acc(Parallelism::None, t, d, t, dx, true, de, 1, t, xwi, d, 1);
            },
        );
    // dWa = Xᵀ · dXW over all windows at once;  dX += dXW · Waᵀ
    let mut dwa = vec![0f32; d * d];
    let par = parallelism(1);
    gemm_acc(par, d, d, b * t, &mut dwa, false, x, 1, d, &dxw, d, 1);
    gemm_acc(par, b * t, d, d, &mut dx, true, &dxw, d, 1, wa, 1, d);
    (dx, dwa, dba.iter().sum())
}

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-attention"
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
        let (b, t, d) = l1.shape().dims3()?;
        if l2.shape().dims() != [d, d] || l3.shape().elem_count() != 1 {
            candle_core::bail!(
                "fused-attention: shapes {:?} {:?} {:?} do not fit",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        let ba = slice(s3, l3, "ba")?[0];
        let (out, saved) = forward(
            slice(s1, l1, "x")?,
            slice(s2, l2, "wa")?,
            ba,
            (b, t, d),
            self.width,
        );
        *self.saved.lock().expect("fused-attention lock") = Some(saved);
        Ok((CpuStorage::F32(out), Shape::from((b, t, d))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        wa: &Tensor,
        ba: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dims = x.dims3()?;
        let v = |x: &Tensor| x.flatten_all().and_then(|x| x.to_vec1::<f32>());
        let (xv, wav) = (v(x)?, v(wa)?);
        let mut saved = self.saved.lock().expect("fused-attention lock");
        if saved.is_none() {
            // cpu_fwd always leaves it; recomputing keeps the op correct whatever candle does.
            *saved = Some(forward(&xv, &wav, v(ba)?[0], dims, self.width).1);
        }
        let saved = saved.as_ref().expect("just set");
        let (dx, dwa, dba) = backward(&xv, &wav, saved, &v(grad)?, dims);
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dwa, wa.shape(), dev)?),
            Some(Tensor::from_vec(vec![dba], ba.shape(), dev)?),
        ))
    }
}
