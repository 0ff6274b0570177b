//! The scalar and SIMD building blocks every CPU path uses: matrix–vector products, the
//! reset-after GRU gate update, and `exp`/`sigmoid`/`tanh` without libm calls. The seed model's
//! batch-1 path (`seed::fast`), the step model's (`step::fast`) and the fused training ops
//! (`kernels::recurrence`) all call these.

/// Whether the AVX2/FMA build of the kernels can run here.
pub fn simd_available() -> bool {
    super::simd::available()
}

/// `out[j] += Σ_k v[k] · wt[k·n + j]` (`n = out.len()`), with the AVX2 kernel when `avx2`.
pub(crate) fn matvec(avx2: bool, wt: &[f32], v: &[f32], out: &mut [f32]) {
    let n = out.len();
    assert!(wt.len() >= v.len() * n);
    #[cfg(target_arch = "x86_64")]
    let from = if avx2 {
        // Safety: `avx2` is only true when the CPU has AVX2 and FMA.
        unsafe { super::simd::avx2::matvec(wt, v, out) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let from = {
        let _ = avx2;
        0
    };
    for (k, &vk) in v.iter().enumerate() {
        let row = &wt[k * n..(k + 1) * n];
        for j in from..n {
            out[j] += vk * row[j];
        }
    }
}

/// Reset-after GRU gates in place for lanes `from..`: `h` is the previous state on entry, the new
/// one on return.
#[inline]
pub(crate) fn gates_scalar(gx: &[f32], gh: &[f32], h: &mut [f32], from: usize) {
    let n = h.len();
    for j in from..n {
        let r = sigmoid(gx[j] + gh[j]);
        let z = sigmoid(gx[n + j] + gh[n + j]);
        let c = tanh(gx[2 * n + j] + r * gh[2 * n + j]);
        h[j] = c + z * (h[j] - c);
    }
}

/// The gates of one row, vectorised where possible.
#[inline]
pub(crate) fn gates(avx2: bool, gx: &[f32], gh: &[f32], h: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    let from = if avx2 {
        // Safety: `avx2` is only true when the CPU has AVX2 and FMA.
        unsafe { super::simd::avx2::gates_row(gx, gh, h) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let from = {
        let _ = avx2;
        0
    };
    gates_scalar(gx, gh, h, from);
}

/// One reset-after GRU step of one direction: `gh` holds `b_hh` on entry; `h` is updated.
pub(crate) fn gru_step(avx2: bool, w_hh_t: &[f32], gx: &[f32], gh: &mut [f32], h: &mut [f32]) {
    matvec(avx2, w_hh_t, h, gh);
    gates(avx2, gx, gh, h);
}

/// `e^x` for f32 without a libm call, so loops over it vectorise: Cephes' `expf` (range
/// reduction by ln 2, degree-6 polynomial), ~1 ulp on [-87, 88], clamped outside.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
}
