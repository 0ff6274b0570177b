//! The polyphonic-music benchmark of Boulanger-Lewandowski, Bengio & Vincent (ICML 2012) as the
//! step model reads it: each set is one JSON file `{"train": [...], "valid": [...], "test": [...]}`
//! whose pieces are lists of frames, each frame the MIDI pitches sounding in it. The data is
//! binary (a held key cannot be told from a re-struck one), so a binary step model
//! ([`super::Config::binary`]) reads every sounding key as struck, and a frame is one step. The
//! frames carry no meter (they follow the files' beats), so every step has the same metrical
//! position and the network's meter tables act as one constant input.
//!
//! Scores are the field's: the NLL of each frame's whole 88-key on/off vector given the earlier
//! frames of its piece, in nats, summed over a split and divided by its frames, first frames
//! included (each piece starts from silence and a zero running state).

use std::path::{Path, PathBuf};

use super::data::{Meter, StepPiece};
use super::{eval, Keys, StepModel, HIGHEST_PITCH, KEYS, LOWEST_PITCH, OFF, STRUCK};
use crate::model::baseline::{KeyMarkov, MarkovScore};

/// The three splits of a benchmark set.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// The add-k of the per-key Markov chain beside the model (as everywhere in Continuo).
pub const MARKOV_K: f64 = 0.5;

/// One benchmark set, its splits as step pieces of binary frames.
#[derive(Debug, Clone)]
pub struct BenchmarkSet {
    /// The set's name: the file's stem (`Piano-midi.de`, `JSB_Chorales`).
    pub name: String,
    pub path: PathBuf,
    pub train: Vec<StepPiece>,
    pub valid: Vec<StepPiece>,
    pub test: Vec<StepPiece>,
}

#[derive(serde::Deserialize)]
struct Raw {
    train: Vec<Vec<Vec<i64>>>,
    valid: Vec<Vec<Vec<i64>>>,
    test: Vec<Vec<Vec<i64>>>,
}

/// The meter every benchmark frame has: one step per "beat", one beat per bar (no metrical
/// information).
pub const FRAME_METER: Meter = Meter {
    steps_per_beat: 1,
    steps_per_bar: 1,
};

impl BenchmarkSet {
    pub fn read(path: &Path) -> Result<BenchmarkSet, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses a set's JSON; `path` names it (its stem is the set's name).
    pub fn parse(text: &str, path: &Path) -> Result<BenchmarkSet, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| {
            format!(
                "{}: not a benchmark set ({{\"train\", \"valid\", \"test\"}} of pieces of frames of MIDI pitches): {e}",
                path.display()
            )
        })?;
        let pieces = |split: &str, raw: Vec<Vec<Vec<i64>>>| -> Result<Vec<StepPiece>, String> {
            raw.into_iter()
                .enumerate()
                .map(|(i, frames)| {
                    let steps = frames
                        .iter()
                        .enumerate()
                        .map(|(t, pitches)| {
                            frame_keys(pitches).map_err(|e| {
                                format!("{}: {split} piece {i} frame {t}: {e}", path.display())
                            })
                        })
                        .collect::<Result<Vec<Keys>, String>>()?;
                    Ok(StepPiece {
                        path: PathBuf::from(format!("{}#{split}/{i}", path.display())),
                        steps,
                        meter: FRAME_METER,
                    })
                })
                .collect()
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(BenchmarkSet {
            name,
            path: path.to_owned(),
            train: pieces("train", raw.train)?,
            valid: pieces("valid", raw.valid)?,
            test: pieces("test", raw.test)?,
        })
    }

    /// The pieces of a split by name (`train`, `valid`, `test`).
    pub fn split(&self, name: &str) -> Result<&[StepPiece], String> {
        match name {
            "train" => Ok(&self.train),
            "valid" => Ok(&self.valid),
            "test" => Ok(&self.test),
            other => Err(format!(
                "unknown split {other:?}: the benchmark's splits are {}",
                SPLITS.join(", ")
            )),
        }
    }
}

/// A frame's pitches as binary keys (every sounding key struck).
pub fn frame_keys(pitches: &[i64]) -> Result<Keys, String> {
    let mut keys = [OFF; KEYS];
    for &p in pitches {
        if p < LOWEST_PITCH as i64 || p > HIGHEST_PITCH as i64 {
            return Err(format!(
                "pitch {p} is off the piano ({LOWEST_PITCH}–{HIGHEST_PITCH})"
            ));
        }
        keys[(p - LOWEST_PITCH as i64) as usize] = STRUCK;
    }
    Ok(keys)
}

/// A model's score on one split, beside the per-key Markov chain fitted on `train`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchmarkReport {
    pub model: String,
    pub set: String,
    pub split: String,
    pub pieces: usize,
    pub frames: usize,
    /// Mean NLL per frame in nats, each frame's whole 88-key vector, first frames included.
    pub nll_per_frame: f64,
    pub first_frames_included: bool,
    /// Share of frames whose every key is the model's most likely state given the keys below it.
    pub greedy_exact: f64,
    /// The two-state chain per key (on given on/off one frame before), add-0.5, fitted on train.
    pub markov: MarkovScore,
}

/// Scores `model` on `split` of `set`. The model must be binary: a model of held and struck keys
/// would be scored on frames it cannot tell apart.
pub fn evaluate(
    model: &StepModel,
    set: &BenchmarkSet,
    split: &str,
    progress: impl FnMut(usize),
) -> Result<BenchmarkReport, String> {
    if !model.config().binary {
        return Err(format!(
            "{} is not a binary step model: the benchmark's frames are on/off keys; train one with `continuo train --kind step --benchmark FILE.json`",
            model.name()
        ));
    }
    let pieces = set.split(split)?;
    let markov = KeyMarkov::fit_binary(set.train.iter().map(|p| p.steps.as_slice()), MARKOV_K);
    let (markov_nll, _) = markov.nll_per_step(pieces.iter().map(|p| p.steps.as_slice()));
    let (nll, exact, frames) = eval::model_nll(model, pieces, progress);
    if frames == 0 {
        return Err(format!("{}: the {split} split has no frames", set.name));
    }
    Ok(BenchmarkReport {
        model: model.name().to_string(),
        set: set.name.clone(),
        split: split.to_string(),
        pieces: pieces.len(),
        frames,
        nll_per_frame: nll,
        first_frames_included: true,
        greedy_exact: exact,
        markov: MarkovScore {
            nll_per_step: markov_nll,
            k: MARKOV_K,
            fit_steps: markov.fit_steps,
            fit_pieces: markov.fit_pieces,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_splits_and_rejects_pitches_off_the_piano() {
        let text = r#"{"train": [[[60, 64], [], [21, 108]]], "valid": [[[48]]], "test": []}"#;
        let set = BenchmarkSet::parse(text, Path::new("x/Tiny.json")).unwrap();
        assert_eq!(set.name, "Tiny");
        assert_eq!(set.train[0].steps.len(), 3);
        assert_eq!(set.train[0].steps[0][60 - 21], STRUCK);
        assert_eq!(set.train[0].steps[1], [OFF; KEYS]);
        assert_eq!(set.train[0].steps[2][0], STRUCK);
        assert_eq!(set.train[0].steps[2][87], STRUCK);
        assert_eq!(set.valid.len(), 1);
        assert!(set.test.is_empty());
        assert!(set.split("dev").unwrap_err().contains("train, valid, test"));
        let bad = r#"{"train": [[[20]]], "valid": [], "test": []}"#;
        let e = BenchmarkSet::parse(bad, Path::new("b.json")).unwrap_err();
        assert!(
            e.contains("train piece 0 frame 0") && e.contains("pitch 20"),
            "{e}"
        );
        assert!(BenchmarkSet::parse("[1, 2]", Path::new("c.json")).is_err());
    }

    /// The binary Markov chain normalises over on and off only: a key always on scores
    /// ln((n + k) / (n + 2k)) per frame after its first.
    #[test]
    fn binary_markov_is_a_two_state_chain() {
        let on = frame_keys(&[60]).unwrap();
        let piece = vec![on; 5];
        let m = KeyMarkov::fit_binary([piece.as_slice()], 0.5);
        // Key 60 after on: 4 transitions on→on, none on→off.
        let lp = m.key_log_prob(60 - 21, STRUCK, STRUCK);
        assert!((lp - (4.5f64 / 5.0).ln()).abs() < 1e-12, "{lp}");
        // Any other key, off after off: 5 transitions off→off.
        let lp = m.key_log_prob(0, OFF, OFF);
        assert!((lp - (5.5f64 / 6.0).ln()).abs() < 1e-12, "{lp}");
    }
}
