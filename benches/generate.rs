//! Generation speed at batch 1 on one thread, tokens per second, for the embedded default model and
//! for the same weights at the reference sizes (the target: ≤ 1 ms per token at vocabulary
//! 4096, window 50), plus the stages of one token.

use std::path::Path;

use candle_core::Device;
use continuo::model::file;
use continuo::model::seed::fast::{FastNetwork, Scratch};
use continuo::model::{seed::data::prompt_ids, Model, SamplingOptions};
use continuo::roll::{notes_to_roll, DEFAULT_WINDOW};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn context(model: &Model) -> Vec<u32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bwv66.6.mid");
    let song = continuo::midi::read_file(&path, Default::default()).expect("fixture");
    prompt_ids(
        &notes_to_roll(&song.notes, model.grid()).steps,
        model.vocab(),
    )
}

/// The default model's weights at the reference design's sizes: the weights do not depend on the
/// window, so this is the shipped network run on a 50-step window (the speed target is
/// stated for these sizes: vocabulary 4096, window 50).
fn reference_sized() -> Model {
    let bytes = include_bytes!("../models/chorale-seed.safetensors");
    let mut loaded = file::decode(bytes, "default", &Device::Cpu).expect("embedded model");
    loaded.meta.config.window = DEFAULT_WINDOW;
    Model::from_parts(loaded.meta, loaded.tensors, "reference-sized", &Device::Cpu)
        .expect("reference-sized model")
}

fn bench(c: &mut Criterion) {
    // One thread for every matrix product (candle's and gemm's pools read this).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let model = chorale_seed();
    let label = format!("default model (window {})", model.config().window);
    bench_model(c, &label, &model);
    bench_model(c, "reference sizes (window 50)", &reference_sized());
}

fn bench_model(c: &mut Criterion, label: &str, model: &Model) {
    let ctx = context(model);
    let mut group = c.benchmark_group(format!("generate, {label}"));
    group.throughput(Throughput::Elements(32));
    let sampling = SamplingOptions {
        temperature: 1.0,
        top_k: None,
        seed: 1,
    };
    group.bench_function("32 tokens, batch 1, one thread", |b| {
        b.iter(|| model.generate(&ctx, 32, &sampling).unwrap())
    });
    group.finish();

    // Where the time goes: one token's forward pass, AVX-512 vs AVX2 vs portable kernels, vs
    // candle.
    let window = model.context_window(&ctx);
    let mut fast = FastNetwork::new(model.network()).unwrap();
    let mut scratch = Scratch::default();
    let mut logits = vec![0f32; model.config().vocab_size];
    let mut group = c.benchmark_group(format!("one token, {label}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("fast path (runtime-detected SIMD)", |b| {
        b.iter(|| fast.logits(&window, &mut scratch, &mut logits))
    });
    fast.force_avx2();
    group.bench_function("fast path (AVX2 kernels where present)", |b| {
        b.iter(|| fast.logits(&window, &mut scratch, &mut logits))
    });
    fast.force_portable();
    group.bench_function("fast path (portable kernels)", |b| {
        b.iter(|| fast.logits(&window, &mut scratch, &mut logits))
    });
    group.bench_function("candle network forward", |b| {
        b.iter(|| model.batch_logits(&window, 1).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);

/// The built-in round-1 seed model (chorales), the process's shared copy.
fn chorale_seed() -> std::sync::Arc<Model> {
    match continuo::model::builtin::Builtin::find("chorale-seed")
        .expect("built in")
        .shared()
        .expect("loads")
    {
        continuo::model::builtin::Shared::Seed(m) => m,
        _ => panic!("chorale-seed is a seed model"),
    }
}
