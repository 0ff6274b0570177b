//! The persisted "last phrase" and "variations" fields. nice-plug sets them on the main thread
//! when a project loads; the inference thread notices the new version and hands the phrases to
//! the audio thread.

use std::sync::atomic::{AtomicU64, Ordering};

use nice_plug::params::persist::PersistentField;

use super::phrase::{SavedPhrase, MAX_VARIATIONS};

/// The phrase that played and all variations of its press, behind locks that only non-audio
/// threads take, plus a version number that changes whenever a project load replaces them.
#[derive(Debug, Default)]
pub struct PhraseStore {
    phrase: parking_lot::RwLock<SavedPhrase>,
    variations: parking_lot::RwLock<Vec<SavedPhrase>>,
    /// Bumped by [`PersistentField::set`] (project load), not by [`PhraseStore::record`].
    loaded_version: AtomicU64,
}

impl PhraseStore {
    pub fn get(&self) -> SavedPhrase {
        self.phrase.read().clone()
    }
    /// Every variation of the last press (the played one among them), in variation order.
    pub fn variations(&self) -> Vec<SavedPhrase> {
        self.variations.read().clone()
    }
    /// Stores the phrase the engine is playing (so it is saved with the project).
    pub fn record(&self, phrase: SavedPhrase) {
        *self.phrase.write() = phrase;
    }
    /// Stores every variation of the last press.
    pub fn record_variations(&self, variations: Vec<SavedPhrase>) {
        *self.variations.write() = variations;
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

impl PhraseStore {
    /// Sets the variations from untrusted state (a project load): broken ones, and a second
    /// one of the same number, are dropped with a logged message.
    pub fn load_variations(&self, variations: Vec<SavedPhrase>) {
        let mut seen = [false; MAX_VARIATIONS];
        let mut kept = Vec::with_capacity(variations.len().min(MAX_VARIATIONS));
        for v in variations.into_iter().take(MAX_VARIATIONS) {
            match v.problem() {
                Some(why) => nice_plug::nice_warn!(
                    "Continuo: ignoring a saved variation in this project ({why})"
                ),
                None if std::mem::replace(&mut seen[v.variation as usize], true) => {
                    nice_plug::nice_warn!(
                        "Continuo: ignoring a second saved variation {}",
                        v.variation + 1
                    )
                }
                None => kept.push(v),
            }
        }
        *self.variations.write() = kept;
        self.loaded_version.fetch_add(1, Ordering::AcqRel);
    }
}

/// The "variations" persisted field: a view of the same [`PhraseStore`].
#[derive(Debug, Clone, Default)]
pub struct VariationsField(pub std::sync::Arc<PhraseStore>);

impl<'a> PersistentField<'a, Vec<SavedPhrase>> for VariationsField {
    fn set(&self, new_value: Vec<SavedPhrase>) {
        self.0.load_variations(new_value);
    }
    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&Vec<SavedPhrase>) -> R,
    {
        f(&self.0.variations.read())
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
