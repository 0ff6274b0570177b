//! The whole network of the reference design as one candle module, built from a `VarBuilder` in
//! the style of candle-transformers so the same code trains, loads and runs on CPU, CUDA or Metal.
//!
//! ```text
//! ids [B, T] → Embedding(vocab, 100)
//!   → BiGRU(128) → SeqSelfAttention → Dropout(0.3)
//!   → BiGRU(128) → SeqSelfAttention → Dropout(0.3)
//!   → BiGRU(128), last states → Dropout(0.3)
//!   → Dense(64) → LeakyReLU(0.3) → Dense(vocab)          (logits; softmax is the caller's)
//! ```
//!
//! Tensor names: `embedding.weight`, `gru{1,2,3}.{fwd,bwd}.{weight_ih,weight_hh,bias_ih,bias_hh}`,
//! `attention{1,2}.{wa,ba}`, `dense.{weight,bias}`, `output.{weight,bias}`.

use candle_core::{Result, Tensor};
use candle_nn::{Embedding, Init, Linear, Module, VarBuilder};

use super::attention::SeqSelfAttention;
use super::Config;
use crate::model::layers::dropout;
use crate::model::layers::gru::{BiGru, BiOutput};

#[derive(Debug, Clone)]
pub struct Network {
    pub embedding: Embedding,
    pub gru1: BiGru,
    pub attention1: SeqSelfAttention,
    pub gru2: BiGru,
    pub attention2: SeqSelfAttention,
    pub gru3: BiGru,
    pub dense: Linear,
    pub output: Linear,
    pub config: Config,
}

impl Network {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h2 = 2 * cfg.hidden;
        // Keras' Embedding initialiser: U(-0.05, 0.05).
        let table = vb.pp("embedding").get_with_hints(
            (cfg.vocab_size, cfg.embedding),
            "weight",
            Init::Uniform {
                lo: -0.05,
                up: 0.05,
            },
        )?;
        Ok(Self {
            embedding: Embedding::new(table, cfg.embedding),
            gru1: BiGru::new(cfg.embedding, cfg.hidden, vb.pp("gru1"))?,
            attention1: SeqSelfAttention::new(h2, cfg.attention_width, vb.pp("attention1"))?,
            gru2: BiGru::new(h2, cfg.hidden, vb.pp("gru2"))?,
            attention2: SeqSelfAttention::new(h2, cfg.attention_width, vb.pp("attention2"))?,
            gru3: BiGru::new(h2, cfg.hidden, vb.pp("gru3"))?,
            dense: candle_nn::linear(h2, cfg.dense, vb.pp("dense"))?,
            output: candle_nn::linear(cfg.dense, cfg.vocab_size, vb.pp("output"))?,
            config: cfg.clone(),
        })
    }

    /// `ids` `[B, T]` (u32) → logits `[B, vocab]`. Dropout only when `train`.
    pub fn forward_t(&self, ids: &Tensor, train: bool) -> Result<Tensor> {
        let drop = |x: Tensor| {
            if train && self.config.dropout > 0.0 {
                dropout(&x, self.config.dropout)
            } else {
                Ok(x)
            }
        };
        let x = self.embedding.forward(ids)?;
        let x = self.gru1.forward(&x, BiOutput::Sequence)?;
        let x = drop(self.attention1.forward(&x)?)?;
        let x = self.gru2.forward(&x, BiOutput::Sequence)?;
        let x = drop(self.attention2.forward(&x)?)?;
        let x = drop(self.gru3.forward(&x, BiOutput::LastStates)?)?;
        let x = candle_nn::ops::leaky_relu(&self.dense.forward(&x)?, self.config.leaky_slope)?;
        self.output.forward(&x)
    }
}

impl Module for Network {
    /// Inference: no dropout.
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.forward_t(ids, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Every element is either dropped or kept scaled by 1 / (1 - p), about a fraction p is
    /// dropped, and the gradient goes through the same mask.
    #[test]
    fn dropout_keeps_and_scales() {
        let p = 0.3f32;
        let n = 20_000;
        let x = Var::from_tensor(&Tensor::rand(1f32, 2.0, n, &Device::Cpu).unwrap()).unwrap();
        let y = dropout(&x, p).unwrap();
        let (xs, ys) = (x.to_vec1::<f32>().unwrap(), y.to_vec1::<f32>().unwrap());
        let scale = 1.0 / (1.0 - p);
        let mut dropped = 0;
        for (a, b) in xs.iter().zip(&ys) {
            if *b == 0.0 {
                dropped += 1;
            } else {
                assert!((b - a * scale).abs() < 1e-5, "{a} became {b}");
            }
        }
        let fraction = dropped as f32 / n as f32;
        assert!((fraction - p).abs() < 0.02, "dropped {fraction}");
        let grad = y.sum_all().unwrap().backward().unwrap();
        let g = grad.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        for (g, y) in g.iter().zip(&ys) {
            assert_eq!(*g == 0.0, *y == 0.0);
        }
    }
}
