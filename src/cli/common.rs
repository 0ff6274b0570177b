//! What several model commands share: picking the device and the model.

use std::path::Path;

use crate::model::{device, Model};

/// Opens the device (saying which on stderr) and loads `path`, or the embedded default model.
pub fn load_model(path: Option<&Path>, device_name: &str, threads: usize) -> Result<Model, String> {
    device::set_threads(threads);
    let (device, said) = device::select(device_name)?;
    eprintln!("{said}");
    match path {
        Some(p) => Model::from_file(p, &device).map_err(|e| e.to_string()),
        None => Model::embedded_on(&device).map_err(|e| e.to_string()),
    }
}
