//! Hand-vectorised AVX2/FMA kernels for the recurrent loop, shared by batch-1 inference
//! ([`super::math`]) and the fused training op ([`super::recurrence`]).
//!
//! The compiler does not vectorise the gate loops on its own (the clamped, float-to-int `exp`
//! stays scalar) and spills the matrix–vector accumulators to the stack on every step, so these
//! are written with intrinsics. Callers check [`available`] once; every function here has a
//! scalar twin in the caller that handles what these do not (sizes not a multiple of 8, CPUs
//! without AVX2). Both are tested against candle's network.

/// Whether the CPU has AVX2 and FMA.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU has AVX-512F (plus AVX2 and FMA) for the [`avx512`] kernels.
pub fn available_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        available() && is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use std::arch::x86_64::*;

    /// `e^x`, 8 lanes: Cephes' `expf` (as [`super::super::math::exp`]).
    /// # Safety
    /// The CPU must have AVX2 and FMA ([`super::available`]); so for every function here.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::excessive_precision)]
    pub unsafe fn exp8(x: __m256) -> __m256 {
        let x = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(-87.0)),
            _mm256_set1_ps(88.0),
        );
        let n = _mm256_floor_ps(_mm256_fmadd_ps(
            x,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(0.5),
        ));
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.987_569_1e-4);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666_666_5e-1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.000_000_1e-1));
        let r2 = _mm256_mul_ps(r, r);
        let y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0));
        let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
            23,
        ));
        _mm256_mul_ps(y, pow2n)
    }

    /// # Safety
    /// AVX2 and FMA (see [`exp8`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sigmoid8(x: __m256) -> __m256 {
        let one = _mm256_set1_ps(1.0);
        _mm256_div_ps(
            one,
            _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))),
        )
    }

    /// # Safety
    /// AVX2 and FMA (see [`exp8`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tanh8(x: __m256) -> __m256 {
        let two = _mm256_set1_ps(2.0);
        _mm256_sub_ps(
            _mm256_mul_ps(two, sigmoid8(_mm256_mul_ps(two, x))),
            _mm256_set1_ps(1.0),
        )
    }

    /// `out[j] += Σ_k v[k] · wt[k·n + j]` for `j` in `0..n8`, `n8 = out.len()` rounded down to
    /// 8 (the caller finishes the rest). Tiles of 64 columns keep 8 accumulators in registers.
    /// Pointers advance with `wrapping_add` (the bounds are asserted once up front), so debug
    /// builds carry no per-iteration precondition checks in the inner loop.
    ///
    /// # Safety
    /// AVX2 and FMA (see [`exp8`]).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec(wt: &[f32], v: &[f32], out: &mut [f32]) -> usize {
        let n = out.len();
        assert!(wt.len() >= v.len() * n);
        let o = out.as_mut_ptr();
        let mut j = 0;
        while j + 64 <= n {
            let mut a0 = _mm256_loadu_ps(o.wrapping_add(j));
            let mut a1 = _mm256_loadu_ps(o.wrapping_add(j + 8));
            let mut a2 = _mm256_loadu_ps(o.wrapping_add(j + 16));
            let mut a3 = _mm256_loadu_ps(o.wrapping_add(j + 24));
            let mut a4 = _mm256_loadu_ps(o.wrapping_add(j + 32));
            let mut a5 = _mm256_loadu_ps(o.wrapping_add(j + 40));
            let mut a6 = _mm256_loadu_ps(o.wrapping_add(j + 48));
            let mut a7 = _mm256_loadu_ps(o.wrapping_add(j + 56));
            let mut row = wt.as_ptr().wrapping_add(j);
            for &vk in v {
                let b = _mm256_set1_ps(vk);
                a0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(row), a0);
                a1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(row.wrapping_add(8)), a1);
                a2 = _mm256_fmadd_ps(b, _mm256_loadu_ps(row.wrapping_add(16)), a2);
                a3 = _mm256_fmadd_ps(b, _mm256_loadu_ps(row.wrapping_add(24)), a3);
                a4 = _mm256_fmadd_ps(b, _mm256_loadu_ps(row.wrapping_add(32)), a4);
                a5 = _mm256_fmadd_ps(b, _mm256_loadu_ps(row.wrapping_add(40)), a5);
                a6 = _mm256_fmadd_ps(b, _mm256_loadu_ps(row.wrapping_add(48)), a6);
                a7 = _mm256_fmadd_ps(b, _mm256_loadu_ps(row.wrapping_add(56)), a7);
                row = row.wrapping_add(n);
            }
            _mm256_storeu_ps(o.wrapping_add(j), a0);
            _mm256_storeu_ps(o.wrapping_add(j + 8), a1);
            _mm256_storeu_ps(o.wrapping_add(j + 16), a2);
            _mm256_storeu_ps(o.wrapping_add(j + 24), a3);
            _mm256_storeu_ps(o.wrapping_add(j + 32), a4);
            _mm256_storeu_ps(o.wrapping_add(j + 40), a5);
            _mm256_storeu_ps(o.wrapping_add(j + 48), a6);
            _mm256_storeu_ps(o.wrapping_add(j + 56), a7);
            j += 64;
        }
        while j + 8 <= n {
            let mut acc = _mm256_loadu_ps(o.wrapping_add(j));
            let mut row = wt.as_ptr().wrapping_add(j);
            for &vk in v {
                acc = _mm256_fmadd_ps(_mm256_set1_ps(vk), _mm256_loadu_ps(row), acc);
                row = row.wrapping_add(n);
            }
            _mm256_storeu_ps(o.wrapping_add(j), acc);
            j += 8;
        }
        j
    }

    /// Reset-after GRU gates for one row, in place, lanes `0..h8` (`h8` = `h.len()` rounded
    /// down to 8; returns it): `gx`, `gh` `[3H]` (r, z, n); `h` `[H]` is the previous state on
    /// entry and the new one on return.
    ///
    /// # Safety
    /// AVX2 and FMA (see [`exp8`]).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gates_row(gx: &[f32], gh: &[f32], h: &mut [f32]) -> usize {
        let n = h.len();
        assert!(gx.len() >= 3 * n && gh.len() >= 3 * n);
        let (x, g, p) = (gx.as_ptr(), gh.as_ptr(), h.as_mut_ptr());
        let mut j = 0;
        while j + 8 <= n {
            let r = sigmoid8(_mm256_add_ps(
                _mm256_loadu_ps(x.add(j)),
                _mm256_loadu_ps(g.add(j)),
            ));
            let z = sigmoid8(_mm256_add_ps(
                _mm256_loadu_ps(x.add(n + j)),
                _mm256_loadu_ps(g.add(n + j)),
            ));
            let c = tanh8(_mm256_fmadd_ps(
                r,
                _mm256_loadu_ps(g.add(2 * n + j)),
                _mm256_loadu_ps(x.add(2 * n + j)),
            ));
            let hp = _mm256_loadu_ps(p.add(j));
            _mm256_storeu_ps(p.add(j), _mm256_fmadd_ps(z, _mm256_sub_ps(hp, c), c));
            j += 8;
        }
        j
    }

    /// The backward of [`gates_row`] for one row, lanes `0..h8` (returns `h8`): from `dh` to
    /// `dgx` `[3h]`, `dgh` `[3h]` and the direct part of `dhprev` `[h]`.
    ///
    /// # Safety
    /// AVX2 and FMA (see [`exp8`]).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gates_row_backward(
        gx: &[f32],
        gh: &[f32],
        hprev: &[f32],
        dh: &[f32],
        dgx: &mut [f32],
        dgh: &mut [f32],
        dhprev: &mut [f32],
        h: usize,
    ) -> usize {
        assert!(gx.len() >= 3 * h && gh.len() >= 3 * h && dgx.len() >= 3 * h && dgh.len() >= 3 * h);
        assert!(hprev.len() >= h && dh.len() >= h && dhprev.len() >= h);
        let one = _mm256_set1_ps(1.0);
        let mut j = 0;
        while j + 8 <= h {
            let ld = |s: &[f32], at: usize| _mm256_loadu_ps(s.as_ptr().add(at));
            let r = sigmoid8(_mm256_add_ps(ld(gx, j), ld(gh, j)));
            let z = sigmoid8(_mm256_add_ps(ld(gx, h + j), ld(gh, h + j)));
            let ghn = ld(gh, 2 * h + j);
            let n = tanh8(_mm256_fmadd_ps(r, ghn, ld(gx, 2 * h + j)));
            let hp = ld(hprev, j);
            let d = ld(dh, j);
            let dn = _mm256_mul_ps(d, _mm256_sub_ps(one, z));
            let dz = _mm256_mul_ps(d, _mm256_sub_ps(hp, n));
            let dan = _mm256_mul_ps(dn, _mm256_fnmadd_ps(n, n, one));
            let dar = _mm256_mul_ps(
                _mm256_mul_ps(dan, ghn),
                _mm256_mul_ps(r, _mm256_sub_ps(one, r)),
            );
            let daz = _mm256_mul_ps(dz, _mm256_mul_ps(z, _mm256_sub_ps(one, z)));
            _mm256_storeu_ps(dgx.as_mut_ptr().add(j), dar);
            _mm256_storeu_ps(dgx.as_mut_ptr().add(h + j), daz);
            _mm256_storeu_ps(dgx.as_mut_ptr().add(2 * h + j), dan);
            _mm256_storeu_ps(dgh.as_mut_ptr().add(j), dar);
            _mm256_storeu_ps(dgh.as_mut_ptr().add(h + j), daz);
            _mm256_storeu_ps(dgh.as_mut_ptr().add(2 * h + j), _mm256_mul_ps(dan, r));
            _mm256_storeu_ps(dhprev.as_mut_ptr().add(j), _mm256_mul_ps(d, z));
            j += 8;
        }
        j
    }
}

/// AVX-512 kernels for batch-1 inference. A recurrent step streams its whole `[H, 3H]` weight
/// matrix from L2, so it is bound by load bandwidth; with 32 registers of 16 lanes a block of
/// 128 hidden units keeps all of its 384 gate sums in registers for the whole pass over the
/// matrix (read once, sequentially, from a packed copy) and applies the gates straight from
/// them, instead of writing `gh` out and reading it back.
#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    use std::arch::x86_64::*;

    /// Hidden units per register group (one `__m512`).
    pub const LANES: usize = 16;
    /// Register groups per block: 3 gates × 8 groups = 24 accumulators.
    pub const GROUPS: usize = 8;

    /// `e^x`, 16 lanes: the same Cephes `expf` as [`super::avx2::exp8`], step for step.
    /// # Safety
    /// The CPU must have AVX-512F ([`super::available_avx512`]); so for every function here.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::excessive_precision)]
    pub unsafe fn exp16(x: __m512) -> __m512 {
        let x = _mm512_min_ps(
            _mm512_max_ps(x, _mm512_set1_ps(-87.0)),
            _mm512_set1_ps(88.0),
        );
        let n =
            _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_fmadd_ps(
                x,
                _mm512_set1_ps(std::f32::consts::LOG2_E),
                _mm512_set1_ps(0.5),
            ));
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm512_set1_ps(1.987_569_1e-4);
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.398_199_9e-3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.333_452e-3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.166_579_6e-2));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.666_666_5e-1));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.000_000_1e-1));
        let r2 = _mm512_mul_ps(r, r);
        let y = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.0));
        let pow2n = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(
            _mm512_cvtps_epi32(n),
            _mm512_set1_epi32(127),
        )));
        _mm512_mul_ps(y, pow2n)
    }

    /// # Safety
    /// AVX-512F (see [`exp16`]).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn sigmoid16(x: __m512) -> __m512 {
        let one = _mm512_set1_ps(1.0);
        _mm512_div_ps(
            one,
            _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))),
        )
    }

    /// # Safety
    /// AVX-512F (see [`exp16`]).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn tanh16(x: __m512) -> __m512 {
        let two = _mm512_set1_ps(2.0);
        _mm512_sub_ps(
            _mm512_mul_ps(two, sigmoid16(_mm512_mul_ps(two, x))),
            _mm512_set1_ps(1.0),
        )
    }

    /// Repacks transposed recurrent weights `w_hh_t` `[H, 3H]` (gates r, z, n) for [`gru_step`]:
    /// blocks of `16·GROUPS` hidden units; within a block, for each input `k`, the block's r,
    /// then z, then n columns. `H` must be a multiple of 16.
    pub fn pack_recurrent(w_hh_t: &[f32], h: usize) -> Vec<f32> {
        assert!(h.is_multiple_of(LANES) && w_hh_t.len() == 3 * h * h);
        let mut out = Vec::with_capacity(w_hh_t.len());
        for u0 in (0..h).step_by(LANES * GROUPS) {
            let width = (h - u0).min(LANES * GROUPS);
            for k in 0..h {
                for gate in 0..3 {
                    let at = k * 3 * h + gate * h + u0;
                    out.extend_from_slice(&w_hh_t[at..at + width]);
                }
            }
        }
        out
    }

    /// One reset-after GRU step of one direction: `h_new = GRU(gx, h_prev)` with
    /// `gh = b_hh + h_prev · W_hh` summed bias first, then `k` ascending (the order of the other
    /// kernels) or descending with `reverse`. `packed` comes from [`pack_recurrent`];
    /// `H = h_prev.len()`, a multiple of 16. `reverse` walks the weights from their end: a step
    /// streams ~200 KB from L2 and the last 32 KB it read are still in L1, so alternating
    /// directions from one step to the next starts each step on cached weights.
    ///
    /// # Safety
    /// AVX-512F (see [`exp16`]).
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn gru_step(
        packed: &[f32],
        b_hh: &[f32],
        gx: &[f32],
        h_prev: &[f32],
        h_new: &mut [f32],
        reverse: bool,
    ) {
        let h = h_prev.len();
        assert!(h.is_multiple_of(LANES) && packed.len() == 3 * h * h);
        assert!(b_hh.len() == 3 * h && gx.len() == 3 * h && h_new.len() == h);
        let blocks = h.div_ceil(LANES * GROUPS);
        for b in 0..blocks {
            let u0 = LANES * GROUPS * if reverse { blocks - 1 - b } else { b };
            let block = &packed[3 * h * u0..];
            let r = reverse;
            match (h - u0) / LANES {
                1 => block_step::<1>(block, b_hh, gx, h_prev, h_new, u0, r),
                2 => block_step::<2>(block, b_hh, gx, h_prev, h_new, u0, r),
                3 => block_step::<3>(block, b_hh, gx, h_prev, h_new, u0, r),
                4 => block_step::<4>(block, b_hh, gx, h_prev, h_new, u0, r),
                5 => block_step::<5>(block, b_hh, gx, h_prev, h_new, u0, r),
                6 => block_step::<6>(block, b_hh, gx, h_prev, h_new, u0, r),
                7 => block_step::<7>(block, b_hh, gx, h_prev, h_new, u0, r),
                _ => block_step::<GROUPS>(block, b_hh, gx, h_prev, h_new, u0, r),
            }
        }
    }

    /// [`gru_step`] for the `16·G` hidden units from `u0`; `block` starts at their packed weights.
    /// # Safety
    /// AVX-512F (see [`exp16`]); the caller checked the lengths.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn block_step<const G: usize>(
        block: &[f32],
        b_hh: &[f32],
        gx: &[f32],
        h_prev: &[f32],
        h_new: &mut [f32],
        u0: usize,
        reverse: bool,
    ) {
        let h = h_prev.len();
        let width = LANES * G;
        assert!(block.len() >= h * 3 * width && u0 + width <= h);
        let (b, x) = (b_hh.as_ptr(), gx.as_ptr());
        let mut acc = [[_mm512_setzero_ps(); G]; 3];
        for (gate, row) in acc.iter_mut().enumerate() {
            for (g, a) in row.iter_mut().enumerate() {
                *a = _mm512_loadu_ps(b.add(gate * h + u0 + g * LANES));
            }
        }
        let w = block.as_ptr();
        for i in 0..h {
            let k = if reverse { h - 1 - i } else { i };
            let v = _mm512_set1_ps(*h_prev.get_unchecked(k));
            let wk = w.add(k * 3 * width);
            for (gate, row) in acc.iter_mut().enumerate() {
                for (g, a) in row.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(v, _mm512_loadu_ps(wk.add((gate * G + g) * LANES)), *a);
                }
            }
        }
        let [sr, sz, sn] = acc;
        for (g, ((ar, az), an)) in sr.into_iter().zip(sz).zip(sn).enumerate() {
            let j = u0 + g * LANES;
            let r = sigmoid16(_mm512_add_ps(_mm512_loadu_ps(x.add(j)), ar));
            let z = sigmoid16(_mm512_add_ps(_mm512_loadu_ps(x.add(h + j)), az));
            let c = tanh16(_mm512_fmadd_ps(r, an, _mm512_loadu_ps(x.add(2 * h + j))));
            let hp = _mm512_loadu_ps(h_prev.as_ptr().add(j));
            _mm512_storeu_ps(
                h_new.as_mut_ptr().add(j),
                _mm512_fmadd_ps(z, _mm512_sub_ps(hp, c), c),
            );
        }
    }

    /// Columns per packed panel of [`gemm_packed`] (two registers).
    pub const PANEL: usize = 32;
    /// Rows of the left operand per register tile: 10 × 2 accumulators, 2 weight loads and 10
    /// broadcasts per step of `k`.
    const ROWS: usize = 10;

    /// Repacks `w` `[k, n]` (row-major) into column panels of [`PANEL`] for [`gemm_packed`]:
    /// panel `p`, row `kk` at `(p·k + kk)·PANEL`; the last panel is padded with zeros.
    pub fn pack_panels(w: &[f32], k: usize, n: usize) -> Vec<f32> {
        assert_eq!(w.len(), k * n);
        let panels = n.div_ceil(PANEL);
        let mut out = vec![0.0; panels * k * PANEL];
        for p in 0..panels {
            let width = (n - p * PANEL).min(PANEL);
            for kk in 0..k {
                let to = (p * k + kk) * PANEL;
                out[to..to + width].copy_from_slice(&w[kk * n + p * PANEL..][..width]);
            }
        }
        out
    }

    /// `dst[m×n] += a[m×k] · w` (`dst` row-major with `n` columns, `a` rows `lda` apart, `w`
    /// from [`pack_panels`]), each sum in the order `dst`, then `k` ascending. The weights are
    /// packed once, so unlike a general gemm nothing is repacked per call, and the tile uses 20
    /// of the 32 registers.
    ///
    /// # Safety
    /// AVX-512F (see [`exp16`]).
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm_packed(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        lda: usize,
        w: &[f32],
        dst: &mut [f32],
    ) {
        if m == 0 || n == 0 {
            return;
        }
        assert!(lda >= k && a.len() >= (m - 1) * lda + k && dst.len() >= m * n);
        assert!(w.len() >= n.div_ceil(PANEL) * k * PANEL);
        for p in 0..n.div_ceil(PANEL) {
            let cols = (n - p * PANEL).min(PANEL);
            let panel = w.as_ptr().add(p * k * PANEL);
            let mut r0 = 0;
            while r0 < m {
                let a0 = a.as_ptr().add(r0 * lda);
                let d0 = dst.as_mut_ptr().add(r0 * n + p * PANEL);
                match m - r0 {
                    1 => tile::<1>(a0, lda, panel, k, d0, n, cols),
                    2 => tile::<2>(a0, lda, panel, k, d0, n, cols),
                    3 => tile::<3>(a0, lda, panel, k, d0, n, cols),
                    4 => tile::<4>(a0, lda, panel, k, d0, n, cols),
                    5 => tile::<5>(a0, lda, panel, k, d0, n, cols),
                    6 => tile::<6>(a0, lda, panel, k, d0, n, cols),
                    7 => tile::<7>(a0, lda, panel, k, d0, n, cols),
                    8 => tile::<8>(a0, lda, panel, k, d0, n, cols),
                    9 => tile::<9>(a0, lda, panel, k, d0, n, cols),
                    _ => tile::<ROWS>(a0, lda, panel, k, d0, n, cols),
                }
                r0 += ROWS;
            }
        }
    }

    /// `R` rows × `cols` (≤ 32) columns of [`gemm_packed`].
    /// # Safety
    /// AVX-512F; `a` has `R` rows of `k` readable, `panel` `k` rows of 32, `d` `R` rows of `cols`
    /// writable (rows `ldd` apart).
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        a: *const f32,
        lda: usize,
        panel: *const f32,
        k: usize,
        d: *mut f32,
        ldd: usize,
        cols: usize,
    ) {
        let m0: __mmask16 = if cols >= 16 { 0xffff } else { (1 << cols) - 1 };
        let m1: __mmask16 = if cols >= 32 {
            0xffff
        } else if cols > 16 {
            (1 << (cols - 16)) - 1
        } else {
            0
        };
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for (r, row) in acc.iter_mut().enumerate() {
            row[0] = _mm512_maskz_loadu_ps(m0, d.add(r * ldd));
            row[1] = _mm512_maskz_loadu_ps(m1, d.add(r * ldd + 16));
        }
        for kk in 0..k {
            let b0 = _mm512_loadu_ps(panel.add(kk * PANEL));
            let b1 = _mm512_loadu_ps(panel.add(kk * PANEL + 16));
            for (r, row) in acc.iter_mut().enumerate() {
                let v = _mm512_set1_ps(*a.add(r * lda + kk));
                row[0] = _mm512_fmadd_ps(v, b0, row[0]);
                row[1] = _mm512_fmadd_ps(v, b1, row[1]);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(d.add(r * ldd), m0, row[0]);
            _mm512_mask_storeu_ps(d.add(r * ldd + 16), m1, row[1]);
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    /// Ragged sizes exercise the partial row tiles and the masked last panel.
    #[test]
    fn avx512_gemm_packed_matches_naive_product() {
        if !super::available_avx512() {
            return;
        }
        for (m, n, k) in [(13, 40, 7), (50, 256, 33), (1, 5, 1), (20, 32, 3)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1)
                .collect();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 13) as f32 - 6.0) * 0.1)
                .collect();
            let mut want: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.01).collect();
            let mut got = want.clone();
            for r in 0..m {
                for c in 0..n {
                    for kk in 0..k {
                        want[r * n + c] += a[r * k + kk] * w[kk * n + c];
                    }
                }
            }
            let packed = super::avx512::pack_panels(&w, k, n);
            // Safety: checked that the CPU has AVX-512F.
            unsafe { super::avx512::gemm_packed(m, n, k, &a, k, &packed, &mut got) };
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{m}x{n}x{k}: {g} vs {w}");
            }
        }
    }
}
