//! Training speed at the reference sizes (vocabulary 4096, window 50): windows per second for one
//! AdamW step (forward, backward through time, update) on all cores, two ways: the products
//! split over the cores (round 1's way), and the batch split over data-parallel workers with
//! serial products inside (what `continuo train` does for a seed model), at batch 128 and 500.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use continuo::model::seed::train::batch_step;
use continuo::model::training::AdamW;
use continuo::model::workers::Workers;
use continuo::model::{Config, Network};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// `batch` windows of deterministic pseudo-random ids and their targets (a real corpus is not
/// needed to time the arithmetic).
fn batch_of(config: &Config, batch: usize) -> (Vec<u32>, Vec<u32>) {
    let ids = (0..batch * config.window)
        .map(|i| ((i as u64 * 2_654_435_761) % config.vocab_size as u64) as u32)
        .collect();
    let targets = (0..batch)
        .map(|i| (i * 31 % config.vocab_size) as u32)
        .collect();
    (ids, targets)
}

fn bench(c: &mut Criterion) {
    // As `continuo train` does.
    continuo::model::device::serial_elementwise();
    continuo::model::training::keep_freed_memory();
    let config = Config::default();
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let net = Network::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
    let mut opt = AdamW::new(&varmap, 1e-3, 0.01, 5.0).unwrap();
    let batch = 128;
    let (ids, targets) = batch_of(&config, batch);
    let ids = Tensor::from_slice(&ids, (batch, config.window), &dev).unwrap();
    let targets = Tensor::from_slice(&targets, batch, &dev).unwrap();
    let mut group = c.benchmark_group("train");
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("AdamW step, batch 128, reference sizes", |b| {
        b.iter(|| {
            let loss =
                candle_nn::loss::cross_entropy(&net.forward_t(&ids, true).unwrap(), &targets)
                    .unwrap();
            opt.update(&loss).unwrap()
        })
    });
    group.bench_function("forward only (no dropout), batch 128", |b| {
        b.iter(|| net.forward_t(&ids, false).unwrap())
    });
    group.finish();

    // Data-parallel: one worker per core, each with serial products (candle reads
    // RAYON_NUM_THREADS at every product).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = Workers::new(cores).unwrap();
    std::env::set_var("RAYON_NUM_THREADS", "1");
    for batch in [128usize, 500] {
        let (ids, targets) = batch_of(&config, batch);
        let mut group = c.benchmark_group("train");
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(
            format!("AdamW step, batch {batch}, reference sizes, {cores} workers"),
            |b| {
                b.iter(|| {
                    batch_step(
                        &workers,
                        &net,
                        &mut opt,
                        &ids,
                        &targets,
                        config.window,
                        &dev,
                    )
                    .unwrap()
                })
            },
        );
        group.finish();
    }
    std::env::remove_var("RAYON_NUM_THREADS");
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(10).measurement_time(std::time::Duration::from_secs(20));
    targets = bench
}
criterion_main!(benches);
