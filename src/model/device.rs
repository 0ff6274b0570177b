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
