//! Any bytes as the plugin's persisted fields (what a project restores): the saved phrase is
//! validated before use and a valid one restores, plays back and saves again; the model path
//! is a string the inference thread only tries to open.
#![no_main]

use continuo::engine::phrase::{Phrase, SavedPhrase};
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
    let _ = serde_json::from_slice::<String>(data);
});
