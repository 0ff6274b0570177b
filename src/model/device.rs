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
