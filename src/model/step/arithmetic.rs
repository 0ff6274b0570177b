//! How much arithmetic the step network is: multiply-adds per generated step, per heard step and
//! per trained step, from its sizes. Why: a speed is only good or bad next to what the machine can
//! do at most (`benches/roofline.rs`); this says what the network asks of it, as
//! [`crate::model::seed::Arithmetic`] does for the seed model.
//!
//! Counted: the matrix products — the step's keys through the input embedding (`[176, I]`, in
//! training; batch-1 inference sums precomputed rows instead), `W_ih`, the recurrent `W_hh`, the
//! decoder's state projection and direct logits, and each key's output layer (`[D, 3]` per key,
//! all of its units: the fast path skips the units a relu zeroed, so this is its upper bound).
//! Not counted: table lookups and the sparse sums of the local features and the NADE rows
//! (additions of a few rows per key), gates and softmaxes.

use super::{Config, KEYS, STATES};

/// Multiply-adds of the step network's products (one multiply-add is 2 floating-point
/// operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StepArithmetic {
    /// One sampled step at batch 1 (the fast path): the recurrent product, the decoder's state
    /// terms and every key's output layer. The input projection is a sum of precomputed rows.
    pub generated_step: u64,
    /// One heard step without scoring (Continuous re-hearing the player): the running state and
    /// the decoder's state terms, no key decoded.
    pub heard_step: u64,
    /// One step of candle's forward pass in training (the input embedding and `W_ih` products
    /// included).
    pub forward_step: u64,
    /// One trained step: the forward pass and the two products of each backward product
    /// (gradient of the input and of the weight), `3 × forward_step`.
    pub trained_step: u64,
    /// Bytes of recurrent weights one batch-1 step reads (f32 `[H, 3H]`).
    pub recurrent_bytes: u64,
}

impl StepArithmetic {
    pub fn of(c: &Config) -> Self {
        let (i, h, d) = (c.input as u64, c.hidden as u64, c.decoder as u64);
        let outputs = (KEYS * STATES) as u64;
        let recurrent = 3 * h * h;
        let state_terms = h * d + h * outputs;
        let keys_out = KEYS as u64 * d * STATES as u64;
        let forward_step = 2 * KEYS as u64 * i + 3 * h * i + recurrent + state_terms + keys_out;
        Self {
            generated_step: recurrent + state_terms + keys_out,
            heard_step: recurrent + state_terms,
            forward_step,
            trained_step: 3 * forward_step,
            recurrent_bytes: recurrent * 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    /// The count agrees with one made from the shapes of a real network's weights: every weight
    /// matrix applied once per step, the output layer once per key, lookup tables not at all.
    #[test]
    fn the_count_matches_the_networks_weights() {
        let config = Config {
            input: 5,
            hidden: 7,
            decoder: 3,
            prev_span: 2,
            below_span: 2,
            ..Config::default()
        };
        let varmap = VarMap::new();
        let _net = super::super::StepNetwork::new(
            &config,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )
        .unwrap();
        let (mut forward, mut generated) = (0u64, 0u64);
        let mut seen = 0;
        for (name, var) in varmap.data().lock().unwrap().iter() {
            let dims = var.as_tensor().dims().to_vec();
            let size = dims.iter().product::<usize>() as u64;
            match name.as_str() {
                // The step's keys through the embedding, then W_ih: training only.
                "input.keys" | "gru.weight_ih" => forward += size,
                "gru.weight_hh" | "decoder.state.weight" | "decoder.direct.weight" => {
                    forward += size;
                    generated += size;
                }
                "decoder.out" => {
                    forward += KEYS as u64 * size;
                    generated += KEYS as u64 * size;
                }
                _ => {
                    // Biases and lookup tables.
                    assert!(
                        dims.len() == 1
                            || name.starts_with("input.")
                            || ["decoder.key", "decoder.features", "decoder.nade"]
                                .contains(&name.as_str()),
                        "uncounted weight {name} {dims:?}"
                    );
                    continue;
                }
            }
            seen += 1;
        }
        assert_eq!(seen, 6, "every product's weight was found");
        let a = StepArithmetic::of(&config);
        assert_eq!(a.forward_step, forward);
        assert_eq!(a.generated_step, generated);
        assert_eq!(a.trained_step, 3 * forward);
        assert_eq!(
            a.heard_step,
            generated - KEYS as u64 * config.decoder as u64 * STATES as u64
        );
    }

    /// The shipped piano-step sizes (256/128/64), as README's performance section quotes them.
    #[test]
    fn piano_step_sizes() {
        let a = StepArithmetic::of(&Config::default());
        assert_eq!(a.generated_step, 196_608 + 16_384 + 67_584 + 16_896);
        assert_eq!(a.forward_step, 22_528 + 98_304 + a.generated_step);
        assert_eq!(a.recurrent_bytes, 786_432);
    }
}
