//! Choosing where the network runs: `--device auto|cpu|cuda|metal`.

use candle_core::Device;

/// Parses a device name and opens it. `auto` takes a GPU when this binary was built with one
/// (the `cuda` or `metal` feature) and a device is present, else the CPU. Returns the device and
/// a sentence saying which was taken and why.
pub fn select(name: &str) -> Result<(Device, String), String> {
    match name.to_ascii_lowercase().as_str() {
        "cpu" => Ok((Device::Cpu, "device: CPU".into())),
        "cuda" => Device::new_cuda(0)
            .map(|d| (d, "device: CUDA 0".into()))
            .map_err(|e| gpu_error("cuda", e)),
        "metal" => Device::new_metal(0)
            .map(|d| (d, "device: Metal 0".into()))
            .map_err(|e| gpu_error("metal", e)),
        "auto" => {
            if cfg!(feature = "cuda") {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok((d, "device: CUDA 0 (auto)".into()));
                }
            }
            if cfg!(feature = "metal") {
                if let Ok(d) = Device::new_metal(0) {
                    return Ok((d, "device: Metal 0 (auto)".into()));
                }
            }
            let why = if cfg!(any(feature = "cuda", feature = "metal")) {
                "no GPU found"
            } else {
                "built without GPU support"
            };
            Ok((Device::Cpu, format!("device: CPU (auto: {why})")))
        }
        other => Err(format!(
            "unknown device {other:?}: use auto, cpu, cuda or metal"
        )),
    }
}

/// What to say about the device once the model is known. The step model always runs on the
/// CPU: its inference is the plain-Rust batch-1 path (about 50 µs a step on one core), where a
/// GPU would pay a kernel launch for each of its many small products per step and copy every
/// sampled key back before the next one. So a GPU chosen by `--device auto` (or named) is not
/// used for it, and the sentence says so; for a seed model, `said` as `select` gave it.
pub fn said_for_model(said: &str, gpu: Option<&str>, step_model: bool) -> String {
    match (gpu, step_model) {
        (Some(gpu), true) => format!(
            "device: CPU for the step model ({gpu} not used: the step model runs its batch-1 \
             steps on the CPU, where they are faster than a GPU's kernel launches)"
        ),
        _ => said.to_string(),
    }
}

fn gpu_error(kind: &str, e: candle_core::Error) -> String {
    let built = match kind {
        "cuda" => cfg!(feature = "cuda"),
        _ => cfg!(feature = "metal"),
    };
    if built {
        format!("cannot open the {kind} device: {e}")
    } else {
        format!("this binary was built without {kind} support (rebuild with `--features {kind}`)")
    }
}

/// "CPU", "CUDA" or "Metal".
pub fn name(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "CPU",
        Device::Cuda(_) => "CUDA",
        Device::Metal(_) => "Metal",
    }
}

/// Sets the number of CPU threads candle's matrix products use. Must run before the first
/// product (the thread pool reads it once).
pub fn set_threads(threads: usize) {
    if threads > 0 {
        // Safety: called at start-up by the CLI, before any other thread exists.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
}

/// Runs candle's element-wise CPU ops on the calling thread only (`CANDLE_NUM_THREADS=1`, unless
/// already set), leaving the matrix products their `--threads`. Must run before the first tensor
/// op (candle reads it once) and before any other thread exists.
///
/// Why: candle splits every element-wise op over 64K elements (and in the backward pass each
/// gradient is accumulated by one such op) over its barrier pool, whose threads spin-wait for
/// each other, and in training those waits cost more than the split saves: with it off the
/// training benchmark went from 109 to 130 windows/s on 2 cores (and from 29 to 35 under heavy
/// load, where a descheduled pool thread leaves the others spinning).
pub fn serial_elementwise() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Safety: called at start-up by the CLI, before any other thread exists.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_without_a_gpu_build_takes_the_cpu_and_says_why() {
        let (device, said) = select("auto").unwrap();
        if !cfg!(any(feature = "cuda", feature = "metal")) {
            assert!(device.is_cpu());
            assert_eq!(said, "device: CPU (auto: built without GPU support)");
        }
        assert!(select("gpu").is_err());
        if !cfg!(feature = "cuda") {
            assert!(select("cuda").unwrap_err().contains("--features cuda"));
        }
    }

    #[test]
    fn the_step_model_stays_on_the_cpu_and_says_why() {
        let gpu = said_for_model("device: CUDA 0 (auto)", Some("CUDA"), true);
        assert!(
            gpu.starts_with("device: CPU for the step model (CUDA not used"),
            "{gpu}"
        );
        assert_eq!(
            said_for_model("device: CUDA 0 (auto)", Some("CUDA"), false),
            "device: CUDA 0 (auto)"
        );
        assert_eq!(said_for_model("device: CPU", None, true), "device: CPU");
    }
}
