//! What several model commands share: picking the device and the model.

use std::path::Path;

use crate::model::{device, AnyModel};

/// Opens the device (saying which on stderr) and loads `path` (a model file of either kind, or
/// `builtin:NAME`), or the built-in default model.
pub fn load_any(
    path: Option<&Path>,
    device_name: &str,
    threads: usize,
) -> Result<AnyModel, String> {
    device::set_threads(threads);
    let (device, said) = device::select(device_name)?;
    eprintln!("{said}");
    let reference = path
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    AnyModel::open(&reference, &device).map_err(|e| e.to_string())
}
