//! Hand-vectorised AVX2/FMA kernels for the recurrent loop, shared by batch-1 inference
//! ([`super::fast`]) and the fused training op ([`super::recurrence`]).
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

#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use std::arch::x86_64::*;

    /// `e^x`, 8 lanes: Cephes' `expf` (as [`super::super::fast::exp`]).
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
