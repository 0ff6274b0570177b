//! The recurrent loop of a bidirectional GRU layer as one fused candle op (CPU), with a
//! hand-written backward pass (backpropagation through time).
//!
//! Why: written with candle's ordinary ops, each step slices its inputs out of the whole-window
//! tensor, and candle's backward of a slice writes a zero-padded gradient of the *whole* tensor,
//! so a window of T steps costs O(T²) memory traffic in training (10 windows/s measured). As one
//! op, the loop costs one `[B, H] × [H, 3H]` product and one pass over the gates per step and
//! direction, forward and backward.
//!
//! Inputs: `gx` `[B, T, 2, 3H]` (input projections `x · W_ih` of both directions, in input
//! time: exactly the `[B·T, I] × [I, 6H]` product's output), `w` `[2, H, 3H]` (transposed
//! recurrent weights), `b` `[2, 2, 3H]` (per direction `b_ih`, then `b_hh`; the op adds `b_ih` to
//! each projection row as it reads it, which spares candle a pass over the `[B, T, 6H]`
//! projections forward and a sum over them backward). Output: the states `[B, T, 2, H]` in input time
//! (the backward direction's state at `t` is the one after reading `x_{T-1} … x_t`), i.e. the
//! layer's `[B, T, 2H]` sequence output as it is. Gate order r, z, n; reset-after. The backward
//! pass recomputes the gates from the saved states instead of storing them.
//!
//! Taking and giving the layouts the surrounding products use, instead of a time-major one with
//! the backward direction pre-reversed, saves candle a permuted copy, a reversal and a stack of
//! the `[B, T, 6H]` projections and as many copies of the output, and the backward pass of each.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::math::{sigmoid, simd_available, tanh};

pub struct FusedBiGru;

/// The f32 elements of a fused op's operand, which must be contiguous (`op` and `what` name it in
/// the error).
pub(crate) fn contiguous_f32<'a>(
    op: &str,
    s: &'a CpuStorage,
    l: &Layout,
    what: &str,
) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: {what} must be f32")
    };
    if !l.is_contiguous() {
        candle_core::bail!("{op}: {what} must be contiguous");
    }
    Ok(&v[l.start_offset()..l.start_offset() + l.shape().elem_count()])
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    contiguous_f32("fused-bigru", s, l, what)
}

/// The parallelism for a product run by one of `ways` concurrent tasks: the threads candle may
/// use (`RAYON_NUM_THREADS`, `--threads`) shared out among the tasks.
pub(crate) fn parallelism(ways: usize) -> gemm::Parallelism {
    match candle_core::utils::get_num_threads() / ways.max(1) {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// Runs `f(0)` and `f(1)` (the two directions) concurrently on rayon's pool when candle may use
/// more than one thread, else one after the other.
///
/// Why: the directions are independent recurrences, so giving each its own thread replaces a
/// thread hand-off in every one of the loop's small matrix products (50 steps × 2 directions × 1
/// forward + 3 backward products per layer, each synchronising the gemm threads) by one join per
/// layer.
fn both_directions<R: Send>(f: impl Fn(usize) -> R + Sync) -> [R; 2] {
    if candle_core::utils::get_num_threads() > 1 {
        let (a, b) = rayon::join(|| f(0), || f(1));
        [a, b]
    } else {
        [f(0), f(1)]
    }
}

/// `dst[m×n] (+)= lhs · rhs` with explicit strides (row stride, column stride) for each operand.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_acc(
    par: gemm::Parallelism,
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    assert!(dst.len() >= m * n);
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // Safety: the asserts keep every access inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// The gate pass of one backward step over a batch: from `dh` (gradient wrt the new state) to
/// the gradients of the step's pre-activations (`dgx`; `dgh` equals it but for the n gate's `r ⊙`
/// factor) and the direct part of `dh_prev`. Lanes `from..` of each row.
#[allow(clippy::too_many_arguments)]
fn gates_backward_scalar(
    gx: &[f32],
    gh: &[f32],
    hprev: &[f32],
    dh: &[f32],
    dgx: &mut [f32],
    dgh: &mut [f32],
    dhprev: &mut [f32],
    h: usize,
    from: usize,
) {
    for j in from..h {
        let r = sigmoid(gx[j] + gh[j]);
        let z = sigmoid(gx[h + j] + gh[h + j]);
        let ghn = gh[2 * h + j];
        let n = tanh(gx[2 * h + j] + r * ghn);
        let d = dh[j];
        let dn = d * (1.0 - z);
        let dz = d * (hprev[j] - n);
        let dan = dn * (1.0 - n * n);
        let dar = dan * ghn * r * (1.0 - r);
        let daz = dz * z * (1.0 - z);
        dgx[j] = dar;
        dgx[h + j] = daz;
        dgx[2 * h + j] = dan;
        dgh[j] = dar;
        dgh[h + j] = daz;
        dgh[2 * h + j] = dan * r;
        dhprev[j] = d * z;
    }
}

/// The gate pass of one forward step over a batch: `gx_at(bi)` is the offset of window `bi`'s
/// `3H` input projections in `gx`.
fn forward_gates(
    gx: &[f32],
    gx_at: impl Fn(usize) -> usize,
    b_ih: &[f32],
    gh: &[f32],
    hprev: &[f32],
    hout: &mut [f32],
    h: usize,
) {
    let avx2 = simd_available();
    let mut row = vec![0f32; 3 * h];
    for (bi, out) in hout.chunks_exact_mut(h).enumerate() {
        out.copy_from_slice(&hprev[bi * h..(bi + 1) * h]);
        let at = gx_at(bi);
        with_bias(&mut row, &gx[at..at + 3 * h], b_ih);
        super::math::gates(avx2, &row, &gh[bi * 3 * h..(bi + 1) * 3 * h], out);
    }
}

/// `row = gx + b_ih`.
fn with_bias(row: &mut [f32], gx: &[f32], b_ih: &[f32]) {
    for ((r, x), b) in row.iter_mut().zip(gx).zip(b_ih) {
        *r = x + b;
    }
}

/// The gate pass of one backward step over a batch (see [`forward_gates`] for `gx_at`).
#[allow(clippy::too_many_arguments)]
fn backward_gates(
    gx: &[f32],
    gx_at: impl Fn(usize) -> usize,
    b_ih: &[f32],
    gh: &[f32],
    hprev: &[f32],
    dh: &[f32],
    dgx: &mut [f32],
    dgh: &mut [f32],
    dhprev: &mut [f32],
    h: usize,
) {
    let avx2 = simd_available();
    let rows = dh.len() / h;
    let mut row = vec![0f32; 3 * h];
    for bi in 0..rows {
        let (r3, r1) = (bi * 3 * h..(bi + 1) * 3 * h, bi * h..(bi + 1) * h);
        let at = gx_at(bi);
        with_bias(&mut row, &gx[at..at + 3 * h], b_ih);
        let (gx, gh, hp, d) = (
            &row[..],
            &gh[r3.clone()],
            &hprev[r1.clone()],
            &dh[r1.clone()],
        );
        let (dgx, dgh, dhp) = (&mut dgx[r3.clone()], &mut dgh[r3], &mut dhprev[r1]);
        #[cfg(target_arch = "x86_64")]
        let from = if avx2 {
            // Safety: the CPU has AVX2 and FMA.
            unsafe { super::simd::avx2::gates_row_backward(gx, gh, hp, d, dgx, dgh, dhp, h) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let from = {
            let _ = avx2;
            0
        };
        gates_backward_scalar(gx, gh, hp, d, dgx, dgh, dhp, h, from);
    }
}

/// `gh = b + hprev · w` for one direction: `hprev` `[B, H]`, `w` `[H, 3H]`.
#[allow(clippy::too_many_arguments)]
fn recurrent(
    par: gemm::Parallelism,
    gh: &mut [f32],
    hprev: &[f32],
    w: &[f32],
    b: &[f32],
    batch: usize,
    h: usize,
) {
    for row in gh.chunks_exact_mut(3 * h) {
        row.copy_from_slice(b);
    }
    gemm_acc(par, batch, 3 * h, h, gh, true, hprev, h, 1, w, 3 * h, 1);
}

/// The sizes of one layer: steps, batch, hidden.
#[derive(Clone, Copy)]
struct Dims {
    t: usize,
    batch: usize,
    h: usize,
    /// Directions laid side by side in the `gx` and state layouts (2 for the BiGRU, 1 for the
    /// one-directional GRU).
    dirs: usize,
}

impl Dims {
    /// The input time of loop step `s` of direction `d`.
    fn time(&self, d: usize, s: usize) -> usize {
        if d == 0 {
            s
        } else {
            self.t - 1 - s
        }
    }

    /// Offset of window `bi`'s `3H` input projections of direction `d` at input time `tt` in `gx`
    /// `[B, T, 2, 3H]`.
    fn gx_at(&self, d: usize, tt: usize, bi: usize) -> usize {
        ((bi * self.t + tt) * self.dirs + d) * 3 * self.h
    }

    /// Offset of window `bi`'s state of direction `d` at input time `tt` in `[B, T, 2, H]`.
    fn state_at(&self, d: usize, tt: usize, bi: usize) -> usize {
        ((bi * self.t + tt) * self.dirs + d) * self.h
    }
}

/// The forward loop of direction `d`: its states `[T, B, H]` in loop order.
fn forward_direction(d: usize, gx: &[f32], w: &[f32], b: &[f32], dims: Dims) -> Vec<f32> {
    let Dims { t, batch, h, .. } = dims;
    let (h3, bh) = (3 * h, batch * h);
    let par = parallelism(2);
    let wd = &w[d * h * h3..(d + 1) * h * h3];
    let (b_ih, b_hh) = (
        &b[2 * d * h3..(2 * d + 1) * h3],
        &b[(2 * d + 1) * h3..(2 * d + 2) * h3],
    );
    let mut out = vec![0f32; t * bh];
    let mut gh = vec![0f32; batch * h3];
    let zeros = vec![0f32; bh];
    for s in 0..t {
        let (before, rest) = out.split_at_mut(s * bh);
        let hprev: &[f32] = if s == 0 {
            &zeros
        } else {
            &before[(s - 1) * bh..]
        };
        recurrent(par, &mut gh, hprev, wd, b_hh, batch, h);
        let tt = dims.time(d, s);
        forward_gates(
            gx,
            |bi| dims.gx_at(d, tt, bi),
            b_ih,
            &gh,
            hprev,
            &mut rest[..bh],
            h,
        );
    }
    out
}

/// The forward loop on plain slices; returns the states `[B, T, 2, H]`.
pub fn forward(gx: &[f32], w: &[f32], b: &[f32], t: usize, batch: usize, h: usize) -> Vec<f32> {
    let dims = Dims {
        t,
        batch,
        h,
        dirs: 2,
    };
    let dirs = both_directions(|d| forward_direction(d, gx, w, b, dims));
    let mut out = vec![0f32; t * 2 * batch * h];
    for (d, states) in dirs.iter().enumerate() {
        for s in 0..t {
            let tt = dims.time(d, s);
            for bi in 0..batch {
                let at = dims.state_at(d, tt, bi);
                let from = (s * batch + bi) * h;
                out[at..at + h].copy_from_slice(&states[from..from + h]);
            }
        }
    }
    out
}

/// The backward loop of direction `d`: the gradients of its `gx` (`[T, B, 3H]`, loop order), `w`
/// and `b`. `states` and `dstates` `[B, T, 2, H]`.
fn backward_direction(
    d: usize,
    gx: &[f32],
    w: &[f32],
    b: &[f32],
    states: &[f32],
    dstates: &[f32],
    dims: Dims,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let Dims { t, batch, h, .. } = dims;
    let (h3, bh) = (3 * h, batch * h);
    let par = parallelism(2);
    let wd = &w[d * h * h3..(d + 1) * h * h3];
    let (b_ih, b_hh) = (
        &b[2 * d * h3..(2 * d + 1) * h3],
        &b[(2 * d + 1) * h3..(2 * d + 2) * h3],
    );
    let mut dgx = vec![0f32; t * batch * h3];
    let mut dw = vec![0f32; h * h3];
    // d b_ih, then d b_hh
    let mut db = vec![0f32; 2 * h3];
    let mut gh = vec![0f32; batch * h3];
    let mut dgh = vec![0f32; batch * h3];
    let mut dh = vec![0f32; bh];
    let mut dh_next = vec![0f32; bh];
    let mut hprev = vec![0f32; bh];
    for s in (0..t).rev() {
        let tt = dims.time(d, s);
        // The state before this step, gathered contiguous for the products.
        if s == 0 {
            hprev.iter_mut().for_each(|v| *v = 0.0);
        } else {
            let tp = dims.time(d, s - 1);
            for (bi, row) in hprev.chunks_exact_mut(h).enumerate() {
                let at = dims.state_at(d, tp, bi);
                row.copy_from_slice(&states[at..at + h]);
            }
        }
        recurrent(par, &mut gh, &hprev, wd, b_hh, batch, h);
        for (bi, (x, n)) in dh
            .chunks_exact_mut(h)
            .zip(dh_next.chunks_exact(h))
            .enumerate()
        {
            let at = dims.state_at(d, tt, bi);
            for ((x, g), n) in x.iter_mut().zip(&dstates[at..at + h]).zip(n) {
                *x = g + n;
            }
        }
        let dgxs = &mut dgx[s * batch * h3..(s + 1) * batch * h3];
        backward_gates(
            gx,
            |bi| dims.gx_at(d, tt, bi),
            b_ih,
            &gh,
            &hprev,
            &dh,
            dgxs,
            &mut dgh,
            &mut dh_next,
            h,
        );
        let (db_ih, db_hh) = db.split_at_mut(h3);
        for (gxrow, ghrow) in dgxs.chunks_exact(h3).zip(dgh.chunks_exact(h3)) {
            for (acc, v) in db_ih.iter_mut().zip(gxrow) {
                *acc += v;
            }
            for (acc, v) in db_hh.iter_mut().zip(ghrow) {
                *acc += v;
            }
        }
        // dW_d += hprevᵀ · dgh;  dh_prev += dgh · W_dᵀ
        gemm_acc(par, h, h3, batch, &mut dw, true, &hprev, 1, h, &dgh, h3, 1);
        gemm_acc(
            par,
            batch,
            h,
            h3,
            &mut dh_next,
            true,
            &dgh,
            h3,
            1,
            wd,
            1,
            h3,
        );
    }
    (dgx, dw, db)
}

/// The backward loop: gradients of `gx`, `w`, `b` given the states and their gradient.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    gx: &[f32],
    w: &[f32],
    b: &[f32],
    states: &[f32],
    dstates: &[f32],
    t: usize,
    batch: usize,
    h: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let dims = Dims {
        t,
        batch,
        h,
        dirs: 2,
    };
    let h3 = 3 * h;
    let dirs = both_directions(|d| backward_direction(d, gx, w, b, states, dstates, dims));
    let mut dgx = vec![0f32; gx.len()];
    for (d, (dgx_d, _, _)) in dirs.iter().enumerate() {
        for s in 0..t {
            let tt = dims.time(d, s);
            for bi in 0..batch {
                let at = dims.gx_at(d, tt, bi);
                let from = (s * batch + bi) * h3;
                dgx[at..at + h3].copy_from_slice(&dgx_d[from..from + h3]);
            }
        }
    }
    let [(_, dw0, db0), (_, dw1, db1)] = dirs;
    (dgx, [dw0, dw1].concat(), [db0, db1].concat())
}

impl CustomOp3 for FusedBiGru {
    fn name(&self) -> &'static str {
        "fused-bigru"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, t, two, h3) = l1.shape().dims4()?;
        let h = h3 / 3;
        if two != 2
            || h3 % 3 != 0
            || l2.shape().dims() != [2, h, h3]
            || l3.shape().dims() != [2, 2, h3]
        {
            candle_core::bail!(
                "fused-bigru: shapes {:?} {:?} {:?} do not fit",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        let out = forward(
            slice(s1, l1, "gx")?,
            slice(s2, l2, "w")?,
            slice(s3, l3, "b")?,
            t,
            batch,
            h,
        );
        Ok((CpuStorage::F32(out), Shape::from((batch, t, 2, h))))
    }

    fn bwd(
        &self,
        gx: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, t, _, h3) = gx.dims4()?;
        let h = h3 / 3;
        let v = |x: &Tensor| x.flatten_all().and_then(|x| x.to_vec1::<f32>());
        let (dgx, dw, db) = backward(&v(gx)?, &v(w)?, &v(b)?, &v(res)?, &v(grad)?, t, batch, h);
        let dev = gx.device();
        Ok((
            Some(Tensor::from_vec(dgx, gx.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, b.shape(), dev)?),
        ))
    }
}

/// A one-directional GRU as one fused CPU op (the step model's time GRU): `gx` `[B, T, 3H]`
/// (input projections, `b_ih` not added), `w` `[H, 3H]` (`W_hhᵀ`), `b` `[2, 3H]` (`b_ih`,
/// `b_hh`) → states `[B, T, H]`, each sequence from a zero state. The same loops as the BiGRU's
/// forward direction, so its backward is one pass instead of candle's per-step ops (whose
/// `narrow` of the projections costs a full-size gradient per step).
pub struct FusedGru;

impl CustomOp3 for FusedGru {
    fn name(&self) -> &'static str {
        "fused-gru"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, t, h3) = l1.shape().dims3()?;
        let h = h3 / 3;
        if h3 % 3 != 0 || l2.shape().dims() != [h, h3] || l3.shape().dims() != [2, h3] {
            candle_core::bail!(
                "fused-gru: shapes {:?} {:?} {:?} do not fit",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        let dims = Dims {
            t,
            batch,
            h,
            dirs: 1,
        };
        let (gx, w, b) = (
            contiguous_f32("fused-gru", s1, l1, "gx")?,
            contiguous_f32("fused-gru", s2, l2, "w")?,
            contiguous_f32("fused-gru", s3, l3, "b")?,
        );
        let states = forward_direction(0, gx, w, b, dims);
        // Loop order [T, B, H] → [B, T, H].
        let mut out = vec![0f32; t * batch * h];
        for s in 0..t {
            for bi in 0..batch {
                let at = dims.state_at(0, s, bi);
                let from = (s * batch + bi) * h;
                out[at..at + h].copy_from_slice(&states[from..from + h]);
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, t, h))))
    }

    fn bwd(
        &self,
        gx: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, t, h3) = gx.dims3()?;
        let h = h3 / 3;
        let dims = Dims {
            t,
            batch,
            h,
            dirs: 1,
        };
        let v = |x: &Tensor| x.contiguous()?.flatten_all()?.to_vec1::<f32>();
        let (dgx_loop, dw, db) =
            backward_direction(0, &v(gx)?, &v(w)?, &v(b)?, &v(res)?, &v(grad)?, dims);
        let mut dgx = vec![0f32; batch * t * h3];
        for s in 0..t {
            for bi in 0..batch {
                let at = dims.gx_at(0, s, bi);
                let from = (s * batch + bi) * h3;
                dgx[at..at + h3].copy_from_slice(&dgx_loop[from..from + h3]);
            }
        }
        let dev = gx.device();
        Ok((
            Some(Tensor::from_vec(dgx, gx.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, b.shape(), dev)?),
        ))
    }
}
