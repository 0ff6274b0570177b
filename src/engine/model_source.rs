//! Models for the plugin: the embedded default and user files, wrapped as [`PhraseGenerator`]s.
//! (Placeholder until the model module lands; see the model-api note.)

use std::sync::Arc;

use super::worker::{GeneratorSource, PhraseGenerator};

pub struct ModelSource;

impl GeneratorSource for ModelSource {
    fn default_generator(&self) -> Result<Arc<dyn PhraseGenerator>, String> {
        Err("this build has no model".into())
    }
    fn load(&self, path: &str) -> Result<Arc<dyn PhraseGenerator>, String> {
        Err(format!("this build cannot read model files ({path})"))
    }
}
