//! The multiplicative `SeqSelfAttention` of the keras-self-attention package, as the reference
//! design uses it (sigmoid attention activation, band width 50, bias on):
//!
//! ```text
//! e[t, t'] = σ(x_t · W_a · x_t' + b_a)
//! e[t, t'] -= 10000   unless  t - width/2 <= t' < t - width/2 + width
//! a[t, ·]  = softmax(e[t, ·])
//! out_t    = Σ_t' a[t, t'] x_t'
//! ```

use candle_core::{DType, Device, Result, Tensor, D};
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
        let fused = xs.device().is_cpu() && xs.dtype() == DType::F32;
        self.forward_with(xs, fused)
    }

    /// `fused`: run the layer as the one fused CPU op of [`super::attention_op`] (the default on
    /// the CPU) instead of candle's ops (any device).
    pub fn forward_with(&self, xs: &Tensor, fused: bool) -> Result<Tensor> {
        if fused {
            return xs.contiguous()?.apply_op3(
                &self.wa.contiguous()?,
                &self.ba.contiguous()?,
                super::attention_op::FusedAttention::new(self.width),
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Var};

    use crate::model::max_diff;

    /// The fused CPU op and candle's ops agree, forward and backward, with a band narrower than
    /// the window (masked entries) and one wider than it.
    #[test]
    fn fused_attention_matches_candle_ops() {
        let dev = Device::Cpu;
        for (t, width) in [(9, 4), (6, 50)] {
            let (b, d) = (3, 5);
            let mut varmap = candle_nn::VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
            let att = SeqSelfAttention::new(d, width, vb).unwrap();
            // A non-zero bias, so a misplaced one shows in the forward pass.
            varmap
                .set_one("ba", Tensor::new(&[0.3f32], &dev).unwrap())
                .unwrap();
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, t, d), &dev).unwrap()).unwrap();
            let fused = att.forward_with(&x, true).unwrap();
            let plain = att.forward_with(&x, false).unwrap();
            let diff = max_diff(&fused, &plain);
            assert!(
                diff < 1e-5,
                "t {t} width {width}: forward differs by {diff}"
            );
            // A loss that weighs every output differently, so any misplaced gradient shows.
            let weights = Tensor::randn(0f32, 1.0, fused.shape(), &dev).unwrap();
            let gf = (&fused * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let gp = (&plain * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let mut vars: Vec<(String, Var)> = varmap
                .data()
                .lock()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            vars.push(("x".into(), x.clone()));
            assert_eq!(vars.len(), 3);
            for (name, var) in vars {
                let (a, b) = (
                    gf.get(var.as_tensor()).unwrap(),
                    gp.get(var.as_tensor()).unwrap(),
                );
                // Relative to the gradient's size: dba sums every entry of dE.
                let scale = b.abs().unwrap().flatten_all().unwrap().max(0).unwrap();
                let scale = scale.to_scalar::<f32>().unwrap().max(1.0);
                let diff = max_diff(a, b);
                assert!(
                    diff < 1e-4 * scale,
                    "t {t} width {width}: gradient of {name} differs by {diff} (scale {scale})"
                );
            }
        }
    }
}
