//! The seed model's candle network on a CUDA device, when the binary is built with
//! `--features cuda` and a device is present (`cargo test --features cuda --test model_cuda`):
//! its batch logits agree with the CPU's, single-window inference agrees with the CPU's fast
//! path, and generation on the GPU gives a valid continuation. Elsewhere it says it skipped: no
//! machine this project builds on has a GPU, so CI only compiles the CUDA build.

use candle_core::Device;
use continuo::model::{AnyModel, Model, SamplingOptions};

fn seed_model(device: &Device) -> Model {
    match AnyModel::open("builtin:piano-seed", device).expect("the built-in seed model") {
        AnyModel::Seed(m) => m,
        AnyModel::Step(_) => panic!("builtin:piano-seed is a seed model"),
    }
}

fn cuda() -> Option<Device> {
    if !cfg!(feature = "cuda") {
        eprintln!("skipped: built without the cuda feature (cargo test --features cuda)");
        return None;
    }
    match Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

#[test]
fn the_seed_model_gives_the_same_logits_on_cuda_as_on_the_cpu() {
    let Some(gpu) = cuda() else { return };
    let cpu = seed_model(&Device::Cpu);
    let on_gpu = seed_model(&gpu);
    assert_eq!(on_gpu.device_name(), "CUDA");
    let w = cpu.config().window;
    let vocab = cpu.config().vocab_size as u32;
    // Eight windows of ids spread over the vocabulary.
    let n = 8;
    let windows: Vec<u32> = (0..n * w)
        .map(|i| (i as u32 * 2_654_435_761u32) % vocab)
        .collect();
    let a: Vec<Vec<f32>> = cpu.batch_logits(&windows, n).unwrap().to_vec2().unwrap();
    let b: Vec<Vec<f32>> = on_gpu
        .batch_logits(&windows, n)
        .unwrap()
        .to_device(&Device::Cpu)
        .unwrap()
        .to_vec2()
        .unwrap();
    let worst = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    eprintln!("batch logits, CPU vs CUDA: largest difference {worst:.2e}");
    assert!(worst < 1e-3, "CPU and CUDA logits differ by {worst}");
    // One window: the CPU's plain-Rust fast path against the GPU's candle network.
    let one_cpu = cpu.next_logits(&windows[..w]).unwrap();
    let one_gpu = on_gpu.next_logits(&windows[..w]).unwrap();
    let worst = one_cpu
        .iter()
        .zip(&one_gpu)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "fast CPU path and CUDA differ by {worst}");
}

#[test]
fn the_seed_model_generates_on_cuda() {
    let Some(gpu) = cuda() else { return };
    let model = seed_model(&gpu);
    let context: Vec<u32> = (0..40).map(|i| 2 + (i % 7)).collect();
    let sampling = SamplingOptions {
        seed: 3,
        ..SamplingOptions::default()
    };
    let ids = model.generate(&context, 32, &sampling).unwrap();
    assert_eq!(ids.len(), 32);
    assert!(ids
        .iter()
        .all(|&id| (id as usize) < model.config().vocab_size));
    // The same seed, the same continuation.
    assert_eq!(ids, model.generate(&context, 32, &sampling).unwrap());
}
