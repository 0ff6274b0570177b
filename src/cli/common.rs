//! What several model commands share: picking the device and the model.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

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
    let reference = path
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let model = AnyModel::open(&reference, &device).map_err(|e| e.to_string())?;
    let gpu = (!device.is_cpu()).then(|| device::name(&device));
    let step = matches!(model, AnyModel::Step(_));
    eprintln!("{}", device::said_for_model(&said, gpu, step));
    Ok(model)
}

/// The same file, however it was named.
pub fn same_file(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// What `eval` and `judge` measure a model on, and what they compare it with.
pub struct MeasuredFiles {
    /// `--data`, plus the model's held-out pieces with `--held-out`.
    pub measured: Vec<PathBuf>,
    /// The reference music (baselines, or the training data searched for copies): `reference`
    /// if given, else the training data the model's summary names; never a held-out or measured
    /// piece. `Err` says why there is none (`flag` is the option that would give it).
    pub reference: Result<Vec<PathBuf>, String>,
    /// How many candidate reference files were left out as held-out or measured.
    pub left_out: usize,
}

pub fn measured_files(
    model: &AnyModel,
    data: &[PathBuf],
    held_out: bool,
    reference: &[PathBuf],
    flag: &str,
) -> Result<MeasuredFiles, String> {
    let summary = model.summary();
    let val_files: Vec<PathBuf> = summary.val_files.iter().map(PathBuf::from).collect();
    let mut measured = crate::corpus::find_midi_files(data)?;
    if held_out {
        if val_files.is_empty() {
            return Err(format!(
                "{} lists no held-out pieces in its training summary",
                model.name()
            ));
        }
        measured.extend(val_files.iter().cloned());
    }
    let candidates = if !reference.is_empty() {
        crate::corpus::find_midi_files(reference)
    } else if summary.data.is_empty() {
        Err(format!(
            "no {flag} given and the model's summary names no training data"
        ))
    } else {
        let data: Vec<PathBuf> = summary.data.iter().map(PathBuf::from).collect();
        crate::corpus::find_midi_files(&data)
            .map_err(|e| format!("the model's training data: {e} (pass {flag})"))
    };
    let excluded: HashSet<PathBuf> = val_files
        .iter()
        .chain(&measured)
        .map(|p| same_file(p))
        .collect();
    let mut left_out = 0;
    let reference = candidates.map(|files| {
        let total = files.len();
        let kept: Vec<PathBuf> = files
            .into_iter()
            .filter(|f| !excluded.contains(&same_file(f)))
            .collect();
        left_out = total - kept.len();
        kept
    });
    Ok(MeasuredFiles {
        measured,
        reference,
        left_out,
    })
}
