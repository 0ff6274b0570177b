//! The step model's speed at batch 1 on one thread (the target: ≤ 0.3 ms per generated
//! step): one sampled step from a running state (time GRU + the 88-key decoder + sampling), one
//! heard step (the same network, scoring a given step), and a 4-bar phrase after a prompt as
//! `continuo generate` and the plugin make it. And its training speed: steps per second of one
//! AdamW step as `continuo train --kind step` takes it (8 chunks of 256 steps of the piano
//! fixtures, teacher forcing): products on one thread, products on every core, and the chunks
//! split over one data-parallel worker per core.

use std::path::Path;

use continuo::model::builtin::{Builtin, Shared};
use continuo::model::step::{Meter, StepModel, StepSampling};
use continuo::roll::notes_to_roll;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn piano_step() -> std::sync::Arc<StepModel> {
    match Builtin::find("piano-step")
        .expect("built in")
        .shared()
        .expect("loads")
    {
        Shared::Step(m) => m,
        Shared::Seed(_) => panic!("piano-step is a step model"),
    }
}

fn bench(c: &mut Criterion) {
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let model = piano_step();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/piano/bach_prelude_bwv_846.mid");
    let song = continuo::midi::read_file(&path, Default::default()).expect("fixture");
    let prompt = notes_to_roll(&song.notes, model.grid()).steps;
    let prompt = &prompt[..prompt.len().min(64)];
    let meter = Meter::new(model.grid().steps_per_beat, song.time_signature);
    let sampling = StepSampling::default();

    let mut group = c.benchmark_group(format!(
        "step model ({}, {})",
        model.name(),
        model.kernels()
    ));
    group.throughput(Throughput::Elements(1));
    let mut state = model.start(1);
    for (t, chord) in prompt.iter().enumerate() {
        model.observe_chord(&mut state, chord, meter.position(t as u64));
    }
    let heard = state.clone();
    let mut t = prompt.len() as u64;
    group.bench_function("one generated step, batch 1, one thread", |b| {
        b.iter(|| {
            // Restart from the prompt every bar so the state stays in the music's range.
            if t % 16 == 0 {
                state = heard.clone();
            }
            t += 1;
            model.sample(&mut state, meter.position(t), &sampling)
        })
    });
    let step = continuo::model::step::keys_of(&prompt[prompt.len() / 2]);
    let mut scoring = heard.clone();
    group.bench_function("one heard step (scored), batch 1, one thread", |b| {
        b.iter(|| model.observe(&mut scoring, &step, meter.position(7)))
    });
    group.finish();

    let mut group = c.benchmark_group("step model phrase");
    group.throughput(Throughput::Elements(64));
    group.bench_function("64-step prompt heard + 64 steps generated", |b| {
        b.iter(|| model.generate(prompt, meter, 64, &sampling, 1))
    });
    group.finish();
    std::env::remove_var("RAYON_NUM_THREADS");
}

/// One optimizer step of the shipped model's sizes (fresh weights) on real music.
fn bench_training(c: &mut Criterion) {
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use continuo::model::step::data::{epoch_chunks, fill_batch, read_files};
    use continuo::model::step::network::{Batch, StepNetwork};
    use continuo::model::step::train::chunks_step;
    use continuo::model::training::AdamW;
    use continuo::model::workers::Workers;
    use rand::SeedableRng;

    continuo::model::device::serial_elementwise();
    continuo::model::training::keep_freed_memory();
    let model = piano_step();
    let config = model.network().config.clone();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/piano");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mid"))
        .collect();
    files.sort();
    let pieces = read_files(&files, model.grid(), |_| {});
    let defaults = continuo::model::step::train::StepTrainOptions::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let chunks = epoch_chunks(&pieces, defaults.chunk_len, defaults.transpose, &mut rng);
    let which = &chunks[..defaults.batch.min(chunks.len())];
    let len = which.iter().map(|c| c.len as usize).max().unwrap_or(1);
    let real: usize = which.iter().map(|c| c.len as usize).sum();
    let mut batch = Batch::default();
    fill_batch(&config, &pieces, which, len, &mut batch);

    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let net = StepNetwork::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev))
        .expect("network");
    let mut opt = AdamW::new(
        &varmap,
        defaults.lr,
        defaults.weight_decay,
        defaults.clip_norm,
    )
    .expect("optimizer");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group(format!(
        "step model training ({}, {} chunks of {len} steps)",
        model.name(),
        which.len()
    ));
    group.throughput(Throughput::Elements(real as u64));
    // Round 1's way: the products split over the threads.
    for threads in [1, cores] {
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
        group.bench_function(
            format!("AdamW step, products on {threads} thread(s)"),
            |b| {
                b.iter(|| {
                    let loss = net.loss(&batch, &dev, true).unwrap();
                    opt.update(&loss).unwrap()
                })
            },
        );
    }
    // What `continuo train --kind step` does: the chunks split over data-parallel workers.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let workers = Workers::new(cores).expect("workers");
    group.bench_function(format!("AdamW step, {cores} workers"), |b| {
        b.iter(|| chunks_step(&workers, &net, &mut opt, &config, &pieces, which, &dev).unwrap())
    });
    std::env::remove_var("RAYON_NUM_THREADS");
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = bench, bench_training
}
criterion_main!(benches);
