//! What several model commands share: picking the device and the model.

use std::path::Path;

use crate::model::{device, AnyModel, Model};

/// Opens the device (saying which on stderr) and loads `path` (a model of either kind), or the
/// embedded default model.
pub fn load_any(
    path: Option<&Path>,
    device_name: &str,
    threads: usize,
) -> Result<AnyModel, String> {
    device::set_threads(threads);
    let (device, said) = device::select(device_name)?;
    eprintln!("{said}");
    match path {
        Some(p) => AnyModel::from_file(p, &device).map_err(|e| e.to_string()),
        None => Model::embedded_on(&device)
            .map(AnyModel::Seed)
            .map_err(|e| e.to_string()),
    }
}
