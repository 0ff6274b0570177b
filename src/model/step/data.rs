//! Music as the step model sees it: each step the 88 keys off / held / struck, with the step's
//! metrical position; training chunks (with transpositions) and their batches.

use std::path::{Path, PathBuf};

use super::network::{Batch, MASKED};
use super::{Config, HELD, KEYS, LOWEST_PITCH, MAX_BEATS, OFF, STATES, STRUCK};
use crate::midi::ReadOptions;
use crate::roll::{notes_to_roll, Chord, Grid};

/// One step: each key's state (`OFF`, `HELD`, `STRUCK`), key 0 = MIDI 21.
pub type Keys = [u8; KEYS];

/// The keys of a chord; pitches outside the piano are left out.
pub fn keys_of(chord: &Chord) -> Keys {
    let mut keys = [OFF; KEYS];
    for p in chord.pitches() {
        let Some(k) = (p as usize).checked_sub(LOWEST_PITCH as usize) else {
            continue;
        };
        if k < KEYS {
            keys[k] = if chord.is_struck(p) { STRUCK } else { HELD };
        }
    }
    keys
}

/// The chord of a step's keys.
pub fn chord_of(keys: &Keys) -> Chord {
    let mut chord = Chord::REST;
    for (k, &s) in keys.iter().enumerate() {
        if s != OFF {
            chord.add(LOWEST_PITCH + k as u8, s == STRUCK);
        }
    }
    chord
}

/// A step as it can follow `prev`: a key held but silent the step before is struck.
pub fn canonical(step: &Keys, prev: &Keys) -> Keys {
    let mut out = *step;
    for (s, &p) in out.iter_mut().zip(prev) {
        if *s == HELD && p == OFF {
            *s = STRUCK;
        }
    }
    out
}

/// A step with every sounding key marked struck: the binary model's on/off frame.
pub fn binary_keys(step: &Keys) -> Keys {
    std::array::from_fn(|k| if step[k] == OFF { OFF } else { STRUCK })
}

/// Every step of a roll as keys, each canonical after the one before (silence before step 0).
pub fn roll_keys(steps: &[Chord]) -> Vec<Keys> {
    let mut prev = [OFF; KEYS];
    steps
        .iter()
        .map(|c| {
            prev = canonical(&keys_of(c), &prev);
            prev
        })
        .collect()
}

/// Where a step falls in the bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// 0..steps_per_beat
    pub step_in_beat: u32,
    /// 0.. (clamped to the model's table)
    pub beat_in_bar: u32,
    /// Beats (quarter notes, rounded up) in the bar, 1..
    pub beats_per_bar: u32,
}

impl Position {
    /// The table rows: (step in beat, beat in bar, beats per bar − 1), clamped.
    pub fn rows(&self, steps_per_beat: usize) -> (usize, usize, usize) {
        (
            (self.step_in_beat as usize).min(steps_per_beat - 1),
            (self.beat_in_bar as usize).min(MAX_BEATS - 1),
            (self.beats_per_bar.max(1) as usize - 1).min(MAX_BEATS - 1),
        )
    }
}

/// A piece's meter on the grid: bars of `steps_per_bar` steps from step 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meter {
    pub steps_per_beat: u32,
    pub steps_per_bar: u32,
}

impl Meter {
    /// From a time signature (numerator, denominator): 3/4 at 4 steps per beat is 12 steps.
    pub fn new(steps_per_beat: u32, time_signature: (u8, u8)) -> Self {
        let (num, den) = (
            time_signature.0.max(1) as u32,
            time_signature.1.max(1) as u32,
        );
        let steps_per_bar = ((num * 4 * steps_per_beat) as f64 / den as f64).round() as u32;
        Self {
            steps_per_beat: steps_per_beat.max(1),
            steps_per_bar: steps_per_bar.max(1),
        }
    }

    pub fn position(&self, step: u64) -> Position {
        let spb = self.steps_per_beat as u64;
        let pos = step % self.steps_per_bar as u64;
        Position {
            step_in_beat: (pos % spb) as u32,
            beat_in_bar: (pos / spb) as u32,
            beats_per_bar: self.steps_per_bar.div_ceil(self.steps_per_beat),
        }
    }
}

/// One piece: its keys per step and its meter (the file's first time signature).
#[derive(Debug, Clone)]
pub struct StepPiece {
    pub path: PathBuf,
    pub steps: Vec<Keys>,
    pub meter: Meter,
}

impl StepPiece {
    /// The piece transposed by `shift` semitones; keys pushed off the piano are dropped.
    pub fn transposed(&self, shift: i32) -> StepPiece {
        StepPiece {
            path: self.path.clone(),
            steps: self
                .steps
                .iter()
                .map(|k| transpose_keys(k, shift))
                .collect(),
            meter: self.meter,
        }
    }
}

/// Keys moved by `shift` semitones; keys pushed off the piano are dropped.
pub fn transpose_keys(keys: &Keys, shift: i32) -> Keys {
    let mut out = [OFF; KEYS];
    for (k, &s) in keys.iter().enumerate() {
        let to = k as i32 + shift;
        if s != OFF && (0..KEYS as i32).contains(&to) {
            out[to as usize] = s;
        }
    }
    out
}

/// Reads one MIDI file as a step piece.
pub fn read_piece(path: &Path, grid: Grid) -> Result<StepPiece, crate::midi::MidiError> {
    let song = crate::midi::read_file(path, ReadOptions::default())?;
    let roll = notes_to_roll(&song.notes, grid);
    Ok(StepPiece {
        path: path.to_owned(),
        steps: roll_keys(&roll.steps),
        meter: Meter::new(grid.steps_per_beat, song.time_signature),
    })
}

/// Reads every MIDI file among `files`; unreadable ones are reported on stderr and skipped.
pub fn read_files(
    files: &[PathBuf],
    grid: Grid,
    mut progress: impl FnMut(&Path),
) -> Vec<StepPiece> {
    let mut out = Vec::new();
    for f in files {
        match read_piece(f, grid) {
            Ok(p) => out.push(p),
            Err(e) => eprintln!("skipped: {e}"),
        }
        progress(f);
    }
    out
}

/// A stretch of a piece to train on: steps `start..start + len`, transposed by `shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub piece: u32,
    pub start: u32,
    pub len: u32,
    pub shift: i8,
}

/// The chunks of one epoch: every piece cut into stretches of `len` steps, the cuts moved by a
/// per-epoch offset so that every step sometime sees a long context; each chunk gets a random
/// transposition within ±`transpose` that keeps it on the piano.
pub fn epoch_chunks(
    pieces: &[StepPiece],
    len: usize,
    transpose: u32,
    rng: &mut impl rand::Rng,
) -> Vec<Chunk> {
    let mut out = Vec::new();
    for (p, piece) in pieces.iter().enumerate() {
        let n = piece.steps.len();
        if n == 0 {
            continue;
        }
        let offset = rng.random_range(0..len.min(n));
        let mut starts = Vec::new();
        if offset > 0 {
            starts.push((0, offset));
        }
        let mut s = offset;
        while s < n {
            starts.push((s, len.min(n - s)));
            s += len;
        }
        for (start, l) in starts {
            let (lo, hi) = key_range(&piece.steps[start..start + l]);
            let t = transpose as i32;
            let (min, max) = match (lo, hi) {
                (Some(lo), Some(hi)) => {
                    ((-t).max(-(lo as i32)), t.min(KEYS as i32 - 1 - hi as i32))
                }
                _ => (-t, t),
            };
            let shift = if max > min {
                rng.random_range(min..=max)
            } else {
                0
            };
            out.push(Chunk {
                piece: p as u32,
                start: start as u32,
                len: l as u32,
                shift: shift as i8,
            });
        }
    }
    out
}

/// Lowest and highest sounding key in some steps.
fn key_range(steps: &[Keys]) -> (Option<usize>, Option<usize>) {
    let (mut lo, mut hi) = (None, None);
    for keys in steps {
        for (k, &s) in keys.iter().enumerate() {
            if s != OFF {
                lo = Some(lo.map_or(k, |l: usize| l.min(k)));
                hi = Some(hi.map_or(k, |h: usize| h.max(k)));
            }
        }
    }
    (lo, hi)
}

/// The local features of key `k` (see [`super::network`]): prev-step keys within `prev_span`,
/// this step's `below_span` keys below it. Writes `config.features()` values into `out`.
pub fn key_features(config: &Config, prev: &Keys, cur: &Keys, k: usize, out: &mut [f32]) {
    out.iter_mut().for_each(|v| *v = 0.0);
    let p = config.prev_span as i32;
    for o in -p..=p {
        let j = k as i32 + o;
        if (0..KEYS as i32).contains(&j) {
            let s = prev[j as usize];
            if s != OFF {
                let at = 2 * (o + p) as usize;
                out[at] = 1.0;
                if s == STRUCK {
                    out[at + 1] = 1.0;
                }
            }
        }
    }
    let base = 2 * (2 * config.prev_span + 1);
    for o in 1..=config.below_span {
        if let Some(j) = k.checked_sub(o) {
            let s = cur[j];
            if s != OFF {
                let at = base + 2 * (o - 1);
                out[at] = 1.0;
                if s == STRUCK {
                    out[at + 1] = 1.0;
                }
            }
        }
    }
}

/// Fills `batch` with `chunks` (each padded to `len` steps).
pub fn fill_batch(
    config: &Config,
    pieces: &[StepPiece],
    chunks: &[Chunk],
    len: usize,
    batch: &mut Batch,
) {
    let n = chunks.len() * len;
    batch.chunks = chunks.len();
    batch.len = len;
    batch.prev_keys.clear();
    batch.prev_keys.resize(n * 2 * KEYS, 0.0);
    batch.mask.clear();
    batch.mask.resize(n * KEYS * STATES, 0.0);
    batch.step_in_beat.clear();
    batch.beat_in_bar.clear();
    batch.bar_beats.clear();
    batch.prev.clear();
    batch.cur.clear();
    batch.targets.clear();
    batch.weights.clear();
    let silence = [OFF; KEYS];
    for (c, chunk) in chunks.iter().enumerate() {
        let piece = &pieces[chunk.piece as usize];
        let shift = chunk.shift as i32;
        let step_at = |t: usize| -> Keys {
            let keys = &piece.steps[t];
            let keys = if shift == 0 {
                *keys
            } else {
                transpose_keys(keys, shift)
            };
            if config.binary {
                binary_keys(&keys)
            } else {
                keys
            }
        };
        let start = chunk.start as usize;
        let mut prev = if start > 0 {
            step_at(start - 1)
        } else {
            silence
        };
        for t in 0..len {
            let row = c * len + t;
            let real = t < chunk.len as usize;
            let cur = if real { step_at(start + t) } else { silence };
            let (sib, bib, bpb) = piece
                .meter
                .position((start + t) as u64)
                .rows(config.steps_per_beat);
            batch.step_in_beat.push(sib as u32);
            batch.beat_in_bar.push(bib as u32);
            batch.bar_beats.push(bpb as u32);
            batch.weights.push(if real { 1.0 } else { 0.0 });
            let pk = &mut batch.prev_keys[row * 2 * KEYS..(row + 1) * 2 * KEYS];
            for (k, &s) in prev.iter().enumerate() {
                if s == HELD {
                    pk[k] = 1.0;
                } else if s == STRUCK {
                    pk[KEYS + k] = 1.0;
                }
            }
            batch.prev.push(prev);
            batch.cur.push(cur);
            for k in 0..KEYS {
                batch.targets.push(cur[k] as u32);
                if !config.held_ok(prev[k]) {
                    batch.mask[(row * KEYS + k) * STATES + HELD as usize] = MASKED;
                }
            }
            prev = cur;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_canonical() {
        let chord: Chord = "45,*49,57".parse().unwrap();
        let keys = keys_of(&chord);
        assert_eq!(keys[45 - 21], HELD);
        assert_eq!(keys[49 - 21], STRUCK);
        assert_eq!(chord_of(&keys), chord);
        let c = canonical(&keys, &[OFF; KEYS]);
        assert_eq!(c[45 - 21], STRUCK);
    }

    #[test]
    fn meter_positions() {
        let m = Meter::new(4, (3, 4));
        assert_eq!(m.steps_per_bar, 12);
        let p = m.position(17);
        assert_eq!((p.step_in_beat, p.beat_in_bar, p.beats_per_bar), (1, 1, 3));
        assert_eq!(Meter::new(4, (6, 8)).steps_per_bar, 12);
    }
}
