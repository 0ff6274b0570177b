//! Any bytes as the plugin's persisted fields (what a project restores): the saved phrase and
//! the saved variations are validated before use and a valid one restores, plays back and saves
//! again; the model path is a string the inference thread only tries to open.
#![no_main]

use continuo::engine::phrase::{Phrase, SavedPhrase, MAX_VARIATIONS};
use continuo::engine::PhraseStore;
use continuo::roll::Grid;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(saved) = serde_json::from_slice::<SavedPhrase>(data) {
        if saved.problem().is_none() {
            let phrase = Phrase::restored(&saved, Grid::default());
            let again = phrase.to_saved(saved.start_beats, &Default::default());
            assert!(
                again.problem().is_none(),
                "a restored phrase saves an invalid one"
            );
        }
    }
    if let Ok(variations) = serde_json::from_slice::<Vec<SavedPhrase>>(data) {
        // The store keeps only valid variations, at most one of each number.
        let store = PhraseStore::default();
        store.load_variations(variations);
        let kept = store.variations();
        assert!(kept.len() <= MAX_VARIATIONS);
        assert!(kept.iter().all(|v| v.problem().is_none()));
        for (i, a) in kept.iter().enumerate() {
            assert!(kept[i + 1..].iter().all(|b| b.variation != a.variation));
        }
    }
    let _ = serde_json::from_slice::<String>(data);
});
