//! The step model's speed at batch 1 on one thread (the target: ≤ 0.3 ms per generated
//! step): one sampled step from a running state (time GRU + the 88-key decoder + sampling), one
//! heard step (the same network, scoring a given step), and a 4-bar phrase after a prompt as
//! `continuo generate` and the plugin make it.

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
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
