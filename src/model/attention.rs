//! The multiplicative `SeqSelfAttention` of the keras-self-attention package, as the reference
//! design uses it (sigmoid attention activation, band width 50, bias on):
//!
//! ```text
//! e[t, t'] = σ(x_t · W_a · x_t' + b_a)
//! e[t, t'] -= 10000   unless  t - width/2 <= t' < t - width/2 + width
//! a[t, ·]  = softmax(e[t, ·])
//! out_t    = Σ_t' a[t, t'] x_t'
//! ```

use candle_core::{Device, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

/// What keras-self-attention adds outside the band before the softmax.
pub const OUTSIDE_BAND: f32 = -10000.0;

#[derive(Debug, Clone)]
pub struct SeqSelfAttention {
    /// `[D, D]`
    pub wa: Tensor,
    /// `[1]`
    pub ba: Tensor,
    pub width: usize,
}

impl SeqSelfAttention {
    pub fn new(dim: usize, width: usize, vb: VarBuilder) -> Result<Self> {
        // keras-self-attention: glorot_normal kernel, zero bias.
        let stdev = (2.0 / (2 * dim) as f64).sqrt();
        Ok(Self {
            wa: vb.get_with_hints((dim, dim), "wa", Init::Randn { mean: 0.0, stdev })?,
            ba: vb.get_with_hints(1, "ba", Init::Const(0.0))?,
            width,
        })
    }

    /// `xs` `[B, T, D]` → `[B, T, D]`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, t, d) = xs.dims3()?;
        let xw = xs
            .reshape((b * t, d))?
            .matmul(&self.wa)?
            .reshape((b, t, d))?;
        let e = xw
            .matmul(&xs.transpose(1, 2)?.contiguous()?)?
            .broadcast_add(&self.ba)?;
        let e = candle_nn::ops::sigmoid(&e)?;
        let e = e.broadcast_add(&band_mask(t, self.width, xs.device())?)?;
        let a = candle_nn::ops::softmax(&e, D::Minus1)?;
        a.matmul(xs)
    }
}

/// Whether step `t` may attend to step `u` (the band of keras-self-attention, not history-only).
pub fn in_band(t: usize, u: usize, width: usize) -> bool {
    let lower = t as i64 - (width / 2) as i64;
    let u = u as i64;
    lower <= u && u < lower + width as i64
}

/// `[T, T]`: 0 inside the band, -10000 outside.
pub fn band_mask(t: usize, width: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t * t)
        .map(|i| {
            if in_band(i / t, i % t, width) {
                0.0
            } else {
                OUTSIDE_BAND
            }
        })
        .collect();
    Tensor::from_vec(mask, (t, t), device)
}
