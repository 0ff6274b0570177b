//! Batch-1 CPU inference without tensor bookkeeping, for generation.
//!
//! The bidirectional GRUs mean every new token recomputes the whole window: per token, 3 layers ×
//! 2 directions × `window` sequential recurrent steps. A candle op costs microseconds of overhead
//! whatever its size, which dwarfs a 128 × 384 product, so this path keeps the weights as plain
//! `f32` and:
//! - looks the first layer's input projections up in a per-token table (its input is always an
//!   embedding row);
//! - does the other big products (input projections for the whole window, the attention products)
//!   with `gemm`, the kernel candle itself calls, on one thread — or, on CPUs with AVX-512, the
//!   weight products with a kernel on weights packed once at load;
//! - runs the recurrent matrix–vector products and the gates in plain Rust, register-tiled, with
//!   runtime-detected AVX2/FMA and AVX-512 builds (the latter fuses each step's product and
//!   gates, its 384 sums staying in registers) and a portable fallback;
//! - runs the attention's softmax only over the band (outside it the weights are exactly 0);
//! - uses a vectorisable `exp` (Cephes polynomial, ~1 ulp) for the sigmoid and tanh.
//!
//! It computes exactly what [`super::network::Network`] computes (tests compare them to 1e-4).

use candle_core::{Result, Tensor};

use super::attention::in_band;
use super::network::Network;
use crate::model::kernels::math::{exp, gru_step, matvec, sigmoid, simd_available};

/// One bidirectional GRU layer as plain arrays.
struct Layer {
    input: usize,
    /// `[I, 6H]`: forward then backward input weights, transposed, for `x · W`.
    w_ih_t: Vec<f32>,
    /// `[6H]`
    b_ih: Vec<f32>,
    /// Per direction `[H, 3H]` (transposed recurrent weights, for `h · W`).
    w_hh_t: [Vec<f32>; 2],
    /// Per direction `[3H]`.
    b_hh: [Vec<f32>; 2],
    /// Per direction, `w_hh_t` packed for the AVX-512 step kernel (empty when it is not used).
    w_hh_packed: [Vec<f32>; 2],
    /// `w_ih_t` packed for the AVX-512 product (empty when it is not used).
    w_ih_packed: Vec<f32>,
}

struct Attention {
    /// `[D, D]`
    wa: Vec<f32>,
    /// `wa` packed for the AVX-512 product (empty when it is not used).
    wa_packed: Vec<f32>,
    ba: f32,
    /// Per row `t` of the model's window, the band `lo..hi` of positions it attends to. Outside
    /// it the reference adds -10000 before the softmax, whose weights there are then exactly 0
    /// in f32, so the softmax here only runs over the band and writes zeros elsewhere.
    band: Vec<(usize, usize)>,
}

/// The network's weights, laid out for batch-1 CPU inference.
pub struct FastNetwork {
    window: usize,
    hidden: usize,
    vocab: usize,
    dense: usize,
    leaky: f32,
    /// `[vocab, 6H]`: each token's embedding already through the first layer's input
    /// projection (`b_ih + e · W_ih`, both directions). The first layer's input is always an
    /// embedding row, so this table turns its per-token `[T, E] · [E, 6H]` product (8% of a
    /// token's arithmetic) into row copies, for 12 MB at the reference sizes.
    embedded_gx: Vec<f32>,
    layers: [Layer; 3],
    attention: [Attention; 2],
    /// `[dense, 2H]`
    dense_w: Vec<f32>,
    dense_b: Vec<f32>,
    /// `[dense, vocab]` (transposed, for `y · W`).
    out_wt: Vec<f32>,
    out_b: Vec<f32>,
    avx2: bool,
    /// The fused AVX-512 recurrent step (the CPU has AVX-512F and `H` is a multiple of 16).
    avx512: bool,
}

/// Buffers reused between calls (one per generating thread).
#[derive(Default)]
pub struct Scratch {
    x: Vec<f32>,
    gx: Vec<f32>,
    seq: Vec<f32>,
    xw: Vec<f32>,
    e: Vec<f32>,
    att: Vec<f32>,
    gh: Vec<f32>,
    h: [Vec<f32>; 2],
    h_next: Vec<f32>,
    last: Vec<f32>,
    y: Vec<f32>,
}

fn flat(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()
}

fn transposed(t: &Tensor) -> Result<Vec<f32>> {
    flat(&t.t()?.contiguous()?)
}

impl FastNetwork {
    pub fn new(net: &Network) -> Result<Self> {
        let cfg = &net.config;
        let avx512 =
            crate::model::kernels::simd::available_avx512() && cfg.hidden.is_multiple_of(16);
        let pack = |w: &[f32]| -> Vec<f32> {
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                return crate::model::kernels::simd::avx512::pack_recurrent(w, cfg.hidden);
            }
            let _ = w;
            Vec::new()
        };
        let pack_panels = |w: &[f32], k: usize, n: usize| -> Vec<f32> {
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                return crate::model::kernels::simd::avx512::pack_panels(w, k, n);
            }
            let _ = (w, k, n);
            Vec::new()
        };
        let layer = |g: &crate::model::layers::gru::BiGru| -> Result<Layer> {
            let w = Tensor::cat(&[&g.forward.weight_ih, &g.backward.weight_ih], 0)?; // [6H, I]
            let w_hh_t = [
                transposed(&g.forward.weight_hh)?,
                transposed(&g.backward.weight_hh)?,
            ];
            let w_ih_t = transposed(&w)?;
            let input = w.dim(1)?;
            Ok(Layer {
                w_hh_packed: [pack(&w_hh_t[0]), pack(&w_hh_t[1])],
                w_ih_packed: pack_panels(&w_ih_t, input, 6 * cfg.hidden),
                input,
                w_ih_t,
                b_ih: flat(&Tensor::cat(&[&g.forward.bias_ih, &g.backward.bias_ih], 0)?)?,
                w_hh_t,
                b_hh: [flat(&g.forward.bias_hh)?, flat(&g.backward.bias_hh)?],
            })
        };
        let attention = |a: &super::attention::SeqSelfAttention| -> Result<Attention> {
            let t = cfg.window;
            let band = (0..t)
                .map(|row| {
                    let lo = (0..t).find(|&u| in_band(row, u, a.width)).unwrap_or(0);
                    let hi = (lo..t).find(|&u| !in_band(row, u, a.width)).unwrap_or(t);
                    // An empty band shifts the whole row alike: the softmax of the unmasked row.
                    if lo < hi {
                        (lo, hi)
                    } else {
                        (0, t)
                    }
                })
                .collect();
            let wa = flat(&a.wa)?;
            let d = 2 * cfg.hidden;
            Ok(Attention {
                wa_packed: pack_panels(&wa, d, d),
                wa,
                ba: flat(&a.ba)?[0],
                band,
            })
        };
        let layers = [layer(&net.gru1)?, layer(&net.gru2)?, layer(&net.gru3)?];
        let embedding = flat(net.embedding.embeddings())?;
        let (v, e, g) = (cfg.vocab_size, cfg.embedding, 6 * cfg.hidden);
        assert_eq!(layers[0].input, e, "the first layer reads embeddings");
        let mut embedded_gx = Vec::with_capacity(v * g);
        for _ in 0..v {
            embedded_gx.extend_from_slice(&layers[0].b_ih);
        }
        matmul(
            v,
            g,
            e,
            &mut embedded_gx,
            &embedding,
            e,
            1,
            &layers[0].w_ih_t,
            g,
            1,
        );
        Ok(Self {
            window: cfg.window,
            hidden: cfg.hidden,
            vocab: cfg.vocab_size,
            dense: cfg.dense,
            leaky: cfg.leaky_slope as f32,
            embedded_gx,
            layers,
            attention: [attention(&net.attention1)?, attention(&net.attention2)?],
            dense_w: flat(net.dense.weight())?,
            dense_b: flat(net.dense.bias().expect("dense has a bias"))?,
            out_wt: transposed(net.output.weight())?,
            out_b: flat(net.output.bias().expect("output has a bias"))?,
            avx2: simd_available(),
            avx512,
        })
    }

    /// Uses the portable code even where AVX2 is present (for tests and benchmarks).
    pub fn force_portable(&mut self) {
        self.avx2 = false;
        self.avx512 = false;
    }

    /// Uses the AVX2 kernels even where AVX-512 is present (for tests and benchmarks); no change
    /// on a CPU without AVX-512.
    pub fn force_avx2(&mut self) {
        self.avx512 = false;
    }

    /// The kernels in use: "avx512", "avx2" or "portable".
    pub fn kernels(&self) -> &'static str {
        if self.avx512 {
            "avx512"
        } else if self.avx2 {
            "avx2"
        } else {
            "portable"
        }
    }

    /// Logits for the step after `window` (exactly `window` ids, each < vocab) into `out`.
    pub fn logits(&self, window: &[u32], s: &mut Scratch, out: &mut [f32]) {
        assert_eq!(window.len(), self.window, "window length");
        assert_eq!(out.len(), self.vocab, "logits length");
        let (t, h) = (self.window, self.hidden);
        let g = 6 * h;
        s.gx.clear();
        for &id in window {
            let id = (id as usize).min(self.vocab - 1);
            s.gx.extend_from_slice(&self.embedded_gx[id * g..(id + 1) * g]);
        }
        self.bigru(0, t, s, true);
        self.attend(0, t, s);
        std::mem::swap(&mut s.x, &mut s.att);
        self.bigru(1, t, s, true);
        self.attend(1, t, s);
        std::mem::swap(&mut s.x, &mut s.att);
        self.bigru(2, t, s, false);
        // Dense + LeakyReLU on the last states, then the output layer.
        s.y.clear();
        for j in 0..self.dense {
            let row = &self.dense_w[j * 2 * h..(j + 1) * 2 * h];
            let v = self.dense_b[j] + row.iter().zip(&s.last).map(|(a, b)| a * b).sum::<f32>();
            s.y.push(if v >= 0.0 { v } else { v * self.leaky });
        }
        out.copy_from_slice(&self.out_b);
        matvec(self.avx2, &self.out_wt, &s.y, out);
    }

    /// One bidirectional layer on `s.x` `[T, I]` (the first layer: on `s.gx`, its input
    /// projections, already filled): into `s.seq` `[T, 2H]` (`sequence`) or `s.last` `[2H]`.
    fn bigru(&self, which: usize, t: usize, s: &mut Scratch, sequence: bool) {
        let layer = &self.layers[which];
        let h = self.hidden;
        let (i, g) = (layer.input, 6 * h);
        if which > 0 {
            s.gx.clear();
            for _ in 0..t {
                s.gx.extend_from_slice(&layer.b_ih);
            }
            if self.avx512 {
                #[cfg(target_arch = "x86_64")]
                // Safety: `avx512` is only true when the CPU has AVX-512F, AVX2 and FMA and the
                // weights were packed for it.
                unsafe {
                    crate::model::kernels::simd::avx512::gemm_packed(
                        t,
                        g,
                        i,
                        &s.x,
                        i,
                        &layer.w_ih_packed,
                        &mut s.gx,
                    )
                }
            } else {
                matmul(t, g, i, &mut s.gx, &s.x, i, 1, &layer.w_ih_t, g, 1);
            }
        }
        s.seq.resize(t * 2 * h, 0.0);
        s.gh.resize(3 * h, 0.0);
        for dir in 0..2 {
            s.h[dir].clear();
            s.h[dir].resize(h, 0.0);
            s.h_next.resize(h, 0.0);
            for step in 0..t {
                let time = if dir == 0 { step } else { t - 1 - step };
                let gx = &s.gx[time * g + dir * 3 * h..time * g + (dir + 1) * 3 * h];
                if self.avx512 {
                    #[cfg(target_arch = "x86_64")]
                    // Safety: `avx512` is only true when the CPU has AVX-512F, AVX2 and FMA and
                    // the weights were packed for it.
                    unsafe {
                        crate::model::kernels::simd::avx512::gru_step(
                            &layer.w_hh_packed[dir],
                            &layer.b_hh[dir],
                            gx,
                            &s.h[dir],
                            &mut s.h_next,
                            // Every other step reads the weights backwards, starting with the
                            // part the previous step left in L1 (~2% faster; sums in another
                            // order).
                            step % 2 == 1,
                        );
                    }
                    std::mem::swap(&mut s.h[dir], &mut s.h_next);
                } else {
                    s.gh.copy_from_slice(&layer.b_hh[dir]);
                    gru_step(self.avx2, &layer.w_hh_t[dir], gx, &mut s.gh, &mut s.h[dir]);
                }
                if sequence {
                    s.seq[time * 2 * h + dir * h..time * 2 * h + (dir + 1) * h]
                        .copy_from_slice(&s.h[dir]);
                }
            }
        }
        if !sequence {
            s.last.clear();
            s.last.extend_from_slice(&s.h[0]);
            s.last.extend_from_slice(&s.h[1]);
        }
    }

    /// Self-attention on `s.seq` `[T, D]` into `s.att`.
    fn attend(&self, which: usize, t: usize, s: &mut Scratch) {
        let a = &self.attention[which];
        let d = 2 * self.hidden;
        s.xw.clear();
        s.xw.resize(t * d, 0.0);
        if self.avx512 {
            #[cfg(target_arch = "x86_64")]
            // Safety: `avx512` is only true when the CPU has AVX-512F, AVX2 and FMA and the
            // weights were packed for it.
            unsafe {
                crate::model::kernels::simd::avx512::gemm_packed(
                    t,
                    d,
                    d,
                    &s.seq,
                    d,
                    &a.wa_packed,
                    &mut s.xw,
                )
            }
        } else {
            matmul(t, d, d, &mut s.xw, &s.seq, d, 1, &a.wa, d, 1);
        }
        s.e.clear();
        s.e.resize(t * t, 0.0);
        // e = xw · seqᵀ: the right operand is seq read column-wise.
        matmul(t, t, d, &mut s.e, &s.xw, d, 1, &s.seq, 1, d as isize);
        for (row, &(lo, hi)) in s.e.chunks_mut(t).zip(&a.band) {
            row[..lo].fill(0.0);
            row[hi..].fill(0.0);
            let row = &mut row[lo..hi];
            for v in row.iter_mut() {
                *v = sigmoid(*v + a.ba);
            }
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = exp(*v - max);
                sum += *v;
            }
            for v in row.iter_mut() {
                *v /= sum;
            }
        }
        s.att.clear();
        s.att.resize(t * d, 0.0);
        matmul(t, d, t, &mut s.att, &s.e, t, 1, &s.seq, d, 1);
    }
}

/// `dst[m×n] += lhs[m×k] · rhs[k×n]` (row-major dst; operand strides given), one thread.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: isize,
) {
    assert!(dst.len() >= m * n);
    assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(rhs.len() as isize > (k as isize - 1) * rhs_rs as isize + (n as isize - 1) * rhs_cs);
    // Safety: the asserts above keep every index gemm touches inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            true,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}
