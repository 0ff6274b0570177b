//! The persisted "last phrase" field. nice-plug sets it on the main thread when a project loads;
//! the inference thread notices the new version and hands the phrase to the audio thread.

use std::sync::atomic::{AtomicU64, Ordering};

use nice_plug::params::persist::PersistentField;

use super::phrase::SavedPhrase;

/// A [`SavedPhrase`] behind a lock that only non-audio threads take, plus a version number that
/// changes whenever a project load replaces it.
#[derive(Debug, Default)]
pub struct PhraseStore {
    phrase: parking_lot::RwLock<SavedPhrase>,
    /// Bumped by [`PersistentField::set`] (project load), not by [`PhraseStore::record`].
    loaded_version: AtomicU64,
}

impl PhraseStore {
    pub fn get(&self) -> SavedPhrase {
        self.phrase.read().clone()
    }
    /// Stores the phrase the engine is playing (so it is saved with the project).
    pub fn record(&self, phrase: SavedPhrase) {
        *self.phrase.write() = phrase;
    }
    /// Changes every time a project load sets the phrase.
    pub fn loaded_version(&self) -> u64 {
        self.loaded_version.load(Ordering::Acquire)
    }
    /// Validates untrusted state: a broken phrase is replaced by none, with a logged message.
    fn set_checked(&self, phrase: SavedPhrase) {
        let phrase = match phrase.problem() {
            None => phrase,
            Some(why) => {
                nice_plug::nice_warn!(
                    "Continuo: ignoring the saved phrase in this project ({why})"
                );
                SavedPhrase::default()
            }
        };
        *self.phrase.write() = phrase;
        self.loaded_version.fetch_add(1, Ordering::AcqRel);
    }
}

impl<'a> PersistentField<'a, SavedPhrase> for PhraseStore {
    fn set(&self, new_value: SavedPhrase) {
        self.set_checked(new_value);
    }
    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&SavedPhrase) -> R,
    {
        f(&self.phrase.read())
    }
}

impl<'a> PersistentField<'a, SavedPhrase> for std::sync::Arc<PhraseStore> {
    fn set(&self, new_value: SavedPhrase) {
        self.set_checked(new_value);
    }
    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&SavedPhrase) -> R,
    {
        f(&self.phrase.read())
    }
}
