//! How much arithmetic the network is: multiply-adds per generated token and per trained window,
//! from its sizes. Why: a speed is only good or bad next to what the machine can do at most;
//! `benches/roofline.rs` measures the machine, this says what the network asks of it, and
//! `benches/peers/report.py` prints the floors the two give.
//!
//! Counted: the matrix products (GRU input and recurrent projections, the attention's `x·W_a`,
//! `(x·W_a)·xᵀ` and `a·x`, dense and output layers). Not counted: gates, sigmoids, softmaxes and
//! other per-element work, under 2% of the products at the reference sizes.

use super::Config;

/// Multiply-adds of the network's products (one multiply-add is 2 floating-point operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Arithmetic {
    /// One forward pass over a window, as candle's network and ONNX Runtime compute it.
    pub forward: u64,
    /// Of `forward`, the first layer's input projection: a table lookup in the fast path, whose
    /// first layer always reads an embedding row.
    pub first_projection: u64,
    /// Of `forward`, the recurrent products: 3 layers × 2 directions × `window` sequential
    /// matrix–vector products at batch 1, each reading all of a direction's recurrent weights.
    pub recurrent: u64,
    /// Bytes of recurrent weights one batch-1 forward pass reads (f32): each sequential step
    /// reads its direction's `[3H, H]` anew.
    pub recurrent_bytes: u64,
    /// One trained window: the forward pass and the two products of each backward product
    /// (gradient of the input and of the weight), `3 × forward`.
    pub training: u64,
}

impl Arithmetic {
    pub fn of(c: &Config) -> Self {
        let (t, e, h, d) = (
            c.window as u64,
            c.embedding as u64,
            c.hidden as u64,
            2 * c.hidden as u64,
        );
        let gates = 3 * h;
        let projection = |input: u64| 2 * t * input * gates;
        let recurrent_per_layer = 2 * t * h * gates;
        let attention = t * d * d + 2 * t * t * d;
        let forward = projection(e)
            + 2 * projection(d)
            + 3 * recurrent_per_layer
            + 2 * attention
            + d * c.dense as u64
            + c.dense as u64 * c.vocab_size as u64;
        Self {
            forward,
            first_projection: projection(e),
            recurrent: 3 * recurrent_per_layer,
            recurrent_bytes: 3 * 2 * t * gates * h * 4,
            training: 3 * forward,
        }
    }

    /// Multiply-adds of one token in the fast path (the first projection looked up).
    pub fn fast_token(&self) -> u64 {
        self.forward - self.first_projection
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    /// The count agrees with one made from the shapes of a real network's weights: each weight
    /// matrix times the positions it is applied to, plus the attention's two window-square
    /// products per layer.
    #[test]
    fn the_count_matches_the_networks_weights() {
        let config = Config {
            vocab_size: 37,
            window: 9,
            embedding: 5,
            hidden: 6,
            attention_width: 4,
            dense: 7,
            ..Config::default()
        };
        let varmap = VarMap::new();
        let _net = super::super::Network::new(
            &config,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )
        .unwrap();
        let t = config.window as u64;
        let mut per_window = 0u64;
        let mut recurrent = 0u64;
        for (name, var) in varmap.data().lock().unwrap().iter() {
            let dims = var.as_tensor().dims().to_vec();
            if dims.len() != 2 || name.contains("embedding") {
                continue; // biases, and the embedding (a lookup)
            }
            let size = (dims[0] * dims[1]) as u64;
            if name.contains("weight_hh") {
                recurrent += t * size;
                per_window += t * size;
            } else if name.contains("weight_ih") || name.contains("attention") {
                per_window += t * size;
            } else {
                per_window += size; // dense and output: the last states only
            }
        }
        let d = 2 * config.hidden as u64;
        per_window += 2 * 2 * t * t * d;
        let a = Arithmetic::of(&config);
        assert_eq!(a.forward, per_window);
        assert_eq!(a.recurrent, recurrent);
        assert_eq!(a.training, 3 * per_window);
    }

    /// The reference sizes, as README's performance section quotes them.
    #[test]
    fn reference_sizes() {
        let a = Arithmetic::of(&Config::default());
        assert_eq!(a.forward, 47_638_528);
        assert_eq!(a.fast_token(), 43_798_528);
        assert_eq!(a.recurrent, 14_745_600);
        assert_eq!(a.recurrent_bytes, 58_982_400);
    }
}
