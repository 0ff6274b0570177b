//! The models built into the binary, chosen by name: in the editor's list, as `--model
//! builtin:NAME` on the command line, and as `builtin:NAME` in a project's model field (an empty
//! field is the default, [`DEFAULT`]).
//!
//! Each is loaded once per process, on first use, and shared by every plugin instance.

use std::sync::{Arc, OnceLock};

use candle_core::Device;

use super::step::StepModel;
use super::{file, AnyModel, Model, ModelError};

/// What a project or `--model` writes before a built-in model's name.
pub const PREFIX: &str = "builtin:";

/// One model compiled into the binary.
pub struct Builtin {
    /// The name after `builtin:` (and the file stem in `models/`).
    pub id: &'static str,
    /// What the editor lists.
    pub label: &'static str,
    bytes: &'static [u8],
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Builtin({})", self.id)
    }
}

macro_rules! model_bytes {
    ($file:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/", $file))
    };
}

/// How many models are built in.
const COUNT: usize = 3;

/// Every built-in model; the first is the default. The README says how each was trained.
pub static BUILTINS: [Builtin; COUNT] = [
    Builtin {
        id: "piano-step",
        label: "Piano — step model, any chord (default)",
        bytes: model_bytes!("piano-step.safetensors"),
    },
    Builtin {
        id: "piano-seed",
        label: "Piano — seed model (reference design)",
        bytes: model_bytes!("piano-seed.safetensors"),
    },
    Builtin {
        id: "chorale-seed",
        label: "Chorales — seed model (round 1)",
        bytes: model_bytes!("chorale-seed.safetensors"),
    },
];

/// The default model: the best on held-out piano pieces (README, "Models").
pub const DEFAULT: &Builtin = &BUILTINS[0];

/// A shared, loaded model of either kind.
#[derive(Clone)]
pub enum Shared {
    Seed(Arc<Model>),
    Step(Arc<StepModel>),
}

impl Builtin {
    /// The built-in model called `id`.
    pub fn find(id: &str) -> Option<&'static Builtin> {
        BUILTINS.iter().find(|b| b.id == id)
    }

    /// The built-in model a model reference names: `builtin:NAME`, or the default for an
    /// empty reference. `None` for a file path; an error for an unknown name.
    pub fn named_by(reference: &str) -> Option<Result<&'static Builtin, ModelError>> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Some(Ok(DEFAULT));
        }
        let id = reference.strip_prefix(PREFIX)?;
        Some(Builtin::find(id).ok_or_else(|| ModelError::Invalid {
            name: reference.to_string(),
            reason: format!(
                "no built-in model of that name; the built-in models are {}",
                names()
            ),
        }))
    }

    /// `builtin:NAME`.
    pub fn reference(&self) -> String {
        format!("{PREFIX}{}", self.id)
    }

    /// The model's name in messages and the UI.
    pub fn name(&self) -> String {
        format!("{} (built in)", self.id)
    }

    /// Loaded anew: the seed kind on `device`, the step kind on the CPU.
    pub fn load(&self, device: &Device) -> Result<AnyModel, ModelError> {
        let name = self.name();
        match file::kind(self.bytes, &name)?.as_str() {
            file::KIND_STEP => StepModel::from_bytes_named(self.bytes, &name).map(AnyModel::Step),
            _ => Model::from_bytes_named(self.bytes, &name, device).map(AnyModel::Seed),
        }
    }

    /// The process's one CPU copy, loaded on first use.
    pub fn shared(&self) -> Result<Shared, ModelError> {
        static LOADED: [OnceLock<Result<Shared, String>>; COUNT] =
            [const { OnceLock::new() }; COUNT];
        let index = BUILTINS
            .iter()
            .position(|b| b.id == self.id)
            .expect("a built-in model is in BUILTINS");
        LOADED[index]
            .get_or_init(|| match self.load(&Device::Cpu) {
                Ok(AnyModel::Seed(m)) => Ok(Shared::Seed(Arc::new(m))),
                Ok(AnyModel::Step(m)) => Ok(Shared::Step(Arc::new(m))),
                Err(e) => Err(e.to_string()),
            })
            .clone()
            .map_err(|reason| ModelError::Invalid {
                name: self.name(),
                reason,
            })
    }
}

/// The built-in names, for messages: `piano-step, piano-seed, chorale-seed`.
pub fn names() -> String {
    BUILTINS.iter().map(|b| b.id).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_model_loads_as_the_kind_it_is_listed_as() {
        assert_eq!(BUILTINS.len(), 3);
        for b in &BUILTINS {
            let model = b.load(&Device::Cpu).unwrap();
            let expected = if b.id.ends_with("-step") {
                "step"
            } else {
                "seed"
            };
            assert_eq!(model.kind(), expected, "{}", b.id);
            assert!(model.summary().epochs > 0.0, "{} is trained", b.id);
            // No absolute path of the training machine in what the file says about itself.
            for path in model
                .summary()
                .data
                .iter()
                .chain(&model.summary().val_files)
            {
                assert!(!path.starts_with('/'), "{}: {path}", b.id);
            }
        }
        assert_eq!(DEFAULT.id, "piano-step");
    }

    #[test]
    fn references_name_built_in_models_or_files() {
        assert_eq!(Builtin::named_by("").unwrap().unwrap().id, DEFAULT.id);
        assert_eq!(
            Builtin::named_by("builtin:piano-seed").unwrap().unwrap().id,
            "piano-seed"
        );
        let unknown = Builtin::named_by("builtin:nope")
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("piano-step, piano-seed, chorale-seed"),
            "{unknown}"
        );
        assert!(Builtin::named_by("/home/me/model.safetensors").is_none());
        let a = DEFAULT.shared().unwrap();
        let b = DEFAULT.shared().unwrap();
        match (a, b) {
            (Shared::Step(a), Shared::Step(b)) => assert!(Arc::ptr_eq(&a, &b)),
            _ => panic!("the default is the step model"),
        }
    }
}
