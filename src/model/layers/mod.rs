//! Network layers both model kinds build from: the GRU (`gru`: weights, the bidirectional layer
//! the seed model stacks, the fused CPU op the step model's time GRU runs) and dropout.

pub mod gru;

use candle_core::{DType, Result, Tensor};
use rand::Rng;

/// Inverted dropout: each element kept with probability `1 - p` and scaled by `1 / (1 - p)`, as
/// `candle_nn::ops::dropout`. On the CPU the mask is drawn in one pass in plain Rust instead of
/// candle's five (uniform tensor, comparison, conversion, scaling, product), each a pass over the
/// `[B, T, 256]` activations with its own allocation.
pub fn dropout(x: &Tensor, p: f32) -> Result<Tensor> {
    if !x.device().is_cpu() || x.dtype() != DType::F32 {
        return candle_nn::ops::dropout(x, p);
    }
    if !(0.0..1.0).contains(&p) {
        candle_core::bail!("dropout probability has to be in [0, 1), got {p}")
    }
    let scale = (1.0 / (1.0 - p as f64)) as f32;
    let mut rng = rand::rng();
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| if rng.random::<f32>() >= p { scale } else { 0.0 })
        .collect();
    x * Tensor::from_vec(mask, x.shape(), x.device())?
}
