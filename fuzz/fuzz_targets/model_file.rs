//! Any bytes as a model file of every kind: a model or a clear error, never a panic.
#![no_main]

use continuo::model::step::StepModel;
use continuo::model::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = continuo::model::file::kind(data, "fuzz.safetensors");
    let _ = Model::from_bytes(data, &candle_core::Device::Cpu);
    let _ = StepModel::from_bytes_named(data, "fuzz.safetensors");
});
