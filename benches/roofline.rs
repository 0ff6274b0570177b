//! What this machine can do at most, to read the speed benchmarks against: the fp32 FMA peak of
//! one core and of every core at once, and how fast one core reads a GRU direction's recurrent
//! weights (`[128, 384]` f32, 192 KiB: more than L1, inside L2) over and over, as every batch-1
//! recurrent step must.
//!
//! With [`continuo::model::seed::Arithmetic`] (the network's floating-point operations per token
//! and per trained window) these give the floors `benches/peers/report.py` prints beside the
//! measured times: no fp32 implementation of the network can go faster on this machine.
//!
//! The FMA loop keeps 10 independent zmm accumulators (more than latency × issue width), so it
//! runs at the issue rate; the read loop sums 64-byte lines into 8 accumulators. Both need
//! AVX-512F and print a note and measure nothing on other CPUs.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// FMA iterations per measured call (each: 10 zmm FMAs = 320 flops).
const FMA_ITERS: u64 = 1 << 20;
/// A GRU direction's recurrent weights at the reference sizes: `3H × H` f32, H = 128.
const RECURRENT_BYTES: usize = 3 * 128 * 128 * 4;
/// Reads of it per measured call.
const READS: usize = 64;

#[cfg(target_arch = "x86_64")]
mod kernels {
    use std::arch::x86_64::*;

    /// `iters` × 10 dependent-chain-free zmm FMAs; returns a value so nothing is optimised out.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma(iters: u64) -> f32 {
        let b = _mm512_set1_ps(1.000_000_1);
        let c = _mm512_set1_ps(1e-7);
        let mut a = [_mm512_setzero_ps(); 10];
        for (i, v) in a.iter_mut().enumerate() {
            *v = _mm512_set1_ps(i as f32);
        }
        for _ in 0..iters {
            // Written out so the accumulators stay in registers.
            a[0] = _mm512_fmadd_ps(a[0], b, c);
            a[1] = _mm512_fmadd_ps(a[1], b, c);
            a[2] = _mm512_fmadd_ps(a[2], b, c);
            a[3] = _mm512_fmadd_ps(a[3], b, c);
            a[4] = _mm512_fmadd_ps(a[4], b, c);
            a[5] = _mm512_fmadd_ps(a[5], b, c);
            a[6] = _mm512_fmadd_ps(a[6], b, c);
            a[7] = _mm512_fmadd_ps(a[7], b, c);
            a[8] = _mm512_fmadd_ps(a[8], b, c);
            a[9] = _mm512_fmadd_ps(a[9], b, c);
        }
        let mut s = _mm512_setzero_ps();
        for v in a {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }

    /// Sums `data` (a multiple of 128 floats) `reads` times, 8 zmm loads per step.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn read(data: &[f32], reads: usize) -> f32 {
        let mut acc = [_mm512_setzero_ps(); 8];
        for _ in 0..reads {
            for chunk in data.chunks_exact(128) {
                let p = chunk.as_ptr();
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_add_ps(*a, _mm512_loadu_ps(p.add(16 * k)));
                }
            }
        }
        let mut s = _mm512_setzero_ps();
        for v in acc {
            s = _mm512_add_ps(s, v);
        }
        _mm512_reduce_add_ps(s)
    }
}

fn bench(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut group = c.benchmark_group("roofline");
        // Throughput in flops: criterion's elem/s is flop/s.
        group.throughput(Throughput::Elements(FMA_ITERS * 320));
        group.bench_function("fp32 FMA peak, one core", |b| {
            // Safety: AVX-512F was detected above.
            b.iter(|| unsafe { kernels::fma(std::hint::black_box(FMA_ITERS)) })
        });
        group.throughput(Throughput::Elements(FMA_ITERS * 320 * cores as u64));
        group.bench_function(format!("fp32 FMA peak, {cores} cores at once"), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..cores)
                        // Safety: AVX-512F was detected above.
                        .map(|_| {
                            s.spawn(|| unsafe { kernels::fma(std::hint::black_box(FMA_ITERS)) })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).sum::<f32>()
                })
            })
        });
        let data: Vec<f32> = (0..RECURRENT_BYTES / 4)
            .map(|i| (i % 7) as f32 * 1e-3)
            .collect();
        // Throughput in bytes.
        group.throughput(Throughput::Bytes((RECURRENT_BYTES * READS) as u64));
        group.bench_function("read 192 KiB of recurrent weights, one core", |b| {
            // Safety: AVX-512F was detected above.
            b.iter(|| unsafe {
                kernels::read(std::hint::black_box(&data), std::hint::black_box(READS))
            })
        });
        group.finish();
        return;
    }
    let _ = c;
    eprintln!("roofline: this CPU has no AVX-512F; nothing measured");
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
