//! The GRU of the reference design in its reset-after form (PyTorch's, and Keras 2's with
//! `reset_after=True`), and the bidirectional wiring around it.
//!
//! One direction, input `x_t`, state `h`:
//! ```text
//! r = σ(W_ir x + b_ir + W_hr h + b_hr)
//! z = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//! h' = (1 - z) ⊙ n + z ⊙ h
//! ```
//! Weights are stored as PyTorch does: `weight_ih` `[3H, I]`, `weight_hh` `[3H, H]`, biases
//! `[3H]`, gates in the order r, z, n.
//!
//! Speed: the input projections of both directions for the whole sequence are one matrix product.
//! On the CPU the recurrent loop is then one fused op ([`crate::model::kernels::recurrence`]); elsewhere it runs
//! both directions together as one batched `[2, B, H] × [2, H, 3H]` product per step plus a
//! handful of element-wise ops.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

/// The weights of one direction.
#[derive(Debug, Clone)]
pub struct GruWeights {
    pub weight_ih: Tensor,
    pub weight_hh: Tensor,
    pub bias_ih: Tensor,
    pub bias_hh: Tensor,
}

impl GruWeights {
    pub fn new(input: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        // PyTorch's initialisation: U(-1/√H, 1/√H) for every weight and bias.
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Ok(Self {
            weight_ih: vb.get_with_hints((3 * hidden, input), "weight_ih", init)?,
            weight_hh: vb.get_with_hints((3 * hidden, hidden), "weight_hh", init)?,
            bias_ih: vb.get_with_hints(3 * hidden, "bias_ih", init)?,
            bias_hh: vb.get_with_hints(3 * hidden, "bias_hh", init)?,
        })
    }

    pub fn hidden(&self) -> usize {
        self.weight_hh.dim(1).unwrap_or(0)
    }

    /// One step of one direction: `x` `[B, I]`, `h` `[B, H]` → `[B, H]`. The plain form of the
    /// equations above, used by tests as the reference for the batched loop.
    pub fn step(&self, x: &Tensor, h: &Tensor) -> Result<Tensor> {
        let hidden = self.hidden();
        let gx = x
            .matmul(&self.weight_ih.t()?)?
            .broadcast_add(&self.bias_ih)?;
        let gh = h
            .matmul(&self.weight_hh.t()?)?
            .broadcast_add(&self.bias_hh)?;
        let r = candle_nn::ops::sigmoid(&(gx.narrow(1, 0, hidden)? + gh.narrow(1, 0, hidden)?)?)?;
        let z = candle_nn::ops::sigmoid(
            &(gx.narrow(1, hidden, hidden)? + gh.narrow(1, hidden, hidden)?)?,
        )?;
        let n = (gx.narrow(1, 2 * hidden, hidden)? + (r * gh.narrow(1, 2 * hidden, hidden)?)?)?
            .tanh()?;
        let one_minus_z = z.affine(-1.0, 1.0)?;
        (one_minus_z * n)? + (z * h)?
    }
}

/// What a bidirectional layer hands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BiOutput {
    /// Every step: `[B, T, 2H]`, forward outputs then the backward outputs (realigned to the
    /// input's time order).
    Sequence,
    /// The last state of each direction, `[B, 2H]`: the forward one after step T-1, the backward
    /// one after it has read the whole reversed sequence (i.e. at step 0).
    LastStates,
}

/// A bidirectional GRU: the backward GRU reads the reversed sequence and its outputs are reversed
/// back before concatenation (Keras' `Bidirectional`, PyTorch's `bidirectional=True`).
#[derive(Debug, Clone)]
pub struct BiGru {
    pub forward: GruWeights,
    pub backward: GruWeights,
    hidden: usize,
}

impl BiGru {
    pub fn new(input: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            forward: GruWeights::new(input, hidden, vb.pp("fwd"))?,
            backward: GruWeights::new(input, hidden, vb.pp("bwd"))?,
            hidden,
        })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// For the element-wise path: input projections of both directions for every step,
    /// time-major and with the backward direction already in reversed time: `[T, 2, B, 3H]`, so
    /// step `s` of the loop reads one contiguous `[2, B, 3H]` slice.
    fn input_projections(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, t, i) = xs.dims3()?;
        let h3 = 3 * self.hidden;
        let w = Tensor::cat(&[&self.forward.weight_ih, &self.backward.weight_ih], 0)?; // [6H, I]
        let bias = Tensor::cat(&[&self.forward.bias_ih, &self.backward.bias_ih], 0)?;
        let gx = xs
            .reshape((b * t, i))?
            .matmul(&w.t()?)?
            .broadcast_add(&bias)?; // [B*T, 6H]
        let gx = gx
            .reshape((b, t, 2, h3))?
            .permute((2, 1, 0, 3))?
            .contiguous()?; // [2, T, B, 3H]
        let fwd = gx.get(0)?;
        let bwd = gx
            .get(1)?
            .index_select(&reversed_indices(t, xs.device())?, 0)?;
        Tensor::stack(&[&fwd, &bwd], 1) // [T, 2, B, 3H]
    }

    pub fn forward(&self, xs: &Tensor, output: BiOutput) -> Result<Tensor> {
        let fused = xs.device().is_cpu() && xs.dtype() == DType::F32;
        self.forward_with(xs, output, fused)
    }

    /// `fused`: run the recurrent loop as the one fused CPU op of [`crate::model::kernels::recurrence`] (the
    /// default on the CPU) instead of candle's element-wise ops (any device).
    pub fn forward_with(&self, xs: &Tensor, output: BiOutput, fused: bool) -> Result<Tensor> {
        let (b, t, i) = xs.dims3()?;
        let hdim = self.hidden;
        // [2, H, 3H]: both directions' recurrent weights, transposed for h · W.
        let w_hh = Tensor::stack(
            &[&self.forward.weight_hh.t()?, &self.backward.weight_hh.t()?],
            0,
        )?
        .contiguous()?;
        if fused {
            // The fused op reads the projections and writes the states in the batch-major,
            // input-time layouts of the products around it (see `recurrence`).
            let w = Tensor::cat(&[&self.forward.weight_ih, &self.backward.weight_ih], 0)?; // [6H, I]
            let gx = xs
                .reshape((b * t, i))?
                .matmul(&w.t()?)?
                .reshape((b, t, 2, 3 * hdim))?;
            // [2, 2, 3H]: per direction b_ih, b_hh.
            let biases = Tensor::stack(
                &[
                    &self.forward.bias_ih,
                    &self.forward.bias_hh,
                    &self.backward.bias_ih,
                    &self.backward.bias_hh,
                ],
                0,
            )?
            .reshape((2, 2, 3 * hdim))?;
            // [B, T, 2, H]
            let states = gx.apply_op3(
                &w_hh,
                &biases,
                crate::model::kernels::recurrence::FusedBiGru,
            )?;
            return match output {
                BiOutput::Sequence => states.reshape((b, t, 2 * hdim)),
                // The forward direction's state after step T-1, the backward one's at time 0.
                BiOutput::LastStates => Tensor::cat(
                    &[
                        states.narrow(1, t - 1, 1)?.narrow(2, 0, 1)?,
                        states.narrow(1, 0, 1)?.narrow(2, 1, 1)?,
                    ],
                    2,
                )?
                .reshape((b, 2 * hdim)),
            };
        }
        let gx = self.input_projections(xs)?;
        let b_hh = Tensor::stack(&[&self.forward.bias_hh, &self.backward.bias_hh], 0)?; // [2, 3H]
        let states = {
            let b_hh = b_hh.unsqueeze(1)?; // [2, 1, 3H]
            let mut h = Tensor::zeros((2, b, hdim), xs.dtype(), xs.device())?;
            let mut states = Vec::with_capacity(t);
            for s in 0..t {
                let gx_s = gx.get(s)?; // [2, B, 3H]
                let gh = h.matmul(&w_hh)?.broadcast_add(&b_hh)?;
                let rz = candle_nn::ops::sigmoid(
                    &(gx_s.narrow(D::Minus1, 0, 2 * hdim)? + gh.narrow(D::Minus1, 0, 2 * hdim)?)?,
                )?;
                let r = rz.narrow(D::Minus1, 0, hdim)?;
                let z = rz.narrow(D::Minus1, hdim, hdim)?;
                let n = (gx_s.narrow(D::Minus1, 2 * hdim, hdim)?
                    + (r * gh.narrow(D::Minus1, 2 * hdim, hdim)?)?)?
                .tanh()?;
                // (1 - z) n + z h = n + z (h - n)
                h = (&n + (z * (&h - &n)?)?)?;
                states.push(h.clone());
            }
            Tensor::stack(&states, 0)? // [T, 2, B, H]
        };
        match output {
            BiOutput::LastStates => states.get(t - 1)?.transpose(0, 1)?.reshape((b, 2 * hdim)),
            BiOutput::Sequence => {
                let all = states.permute((1, 0, 2, 3))?.contiguous()?; // [2, T, B, H]
                let fwd = all.get(0)?;
                let bwd = all
                    .get(1)?
                    .index_select(&reversed_indices(t, xs.device())?, 0)?;
                Tensor::cat(&[&fwd, &bwd], 2)?.transpose(0, 1)?.contiguous() // [B, T, 2H]
            }
        }
    }
}

impl Module for BiGru {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        BiGru::forward(self, xs, BiOutput::Sequence)
    }
}

pub(crate) fn reversed_indices(t: usize, device: &Device) -> Result<Tensor> {
    Tensor::from_vec((0..t as u32).rev().collect::<Vec<u32>>(), t, device)?.to_dtype(DType::U32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    fn random_bigru(input: usize, hidden: usize) -> (candle_nn::VarMap, BiGru) {
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let gru = BiGru::new(input, hidden, vb).unwrap();
        (varmap, gru)
    }

    use crate::model::max_diff;

    /// The fused CPU recurrence and candle's element-wise loop agree, forward and backward, in
    /// both output modes.
    #[test]
    fn fused_recurrence_matches_elementwise_ops() {
        // Hidden 4 runs the scalar gates only; 20 runs the AVX2 kernels on 16 lanes and the
        // scalar ones on the rest.
        for (hidden, output) in [
            (4, BiOutput::Sequence),
            (4, BiOutput::LastStates),
            (20, BiOutput::Sequence),
            (20, BiOutput::LastStates),
        ] {
            let (varmap, gru) = random_bigru(5, hidden);
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 6, 5), &Device::Cpu).unwrap())
                .unwrap();
            let a = gru.forward_with(&x, output, true).unwrap();
            let b = gru.forward_with(&x, output, false).unwrap();
            assert!(
                max_diff(&a, &b) < 1e-5,
                "{output:?} forward differs by {}",
                max_diff(&a, &b)
            );
            // A loss that weighs every output differently, so any misplaced gradient shows.
            let weights = Tensor::randn(0f32, 1.0, a.shape(), &Device::Cpu).unwrap();
            let ga = (&a * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let gb = (&b * &weights)
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
            for (name, var) in vars {
                let (da, db) = (
                    ga.get(var.as_tensor()).unwrap(),
                    gb.get(var.as_tensor()).unwrap(),
                );
                assert!(
                    max_diff(da, db) < 1e-4,
                    "{output:?} gradient of {name} differs by {}",
                    max_diff(da, db)
                );
            }
        }
    }
}
