//! Training examples: `window` steps of context predict the next step.

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::{Chord, REST_ID};

/// The reference design's context length.
pub const DEFAULT_WINDOW: usize = 50;
/// The piano's range; transposition never leaves it.
const PIANO_LOW: u8 = 21;
const PIANO_HIGH: u8 = 108;

/// Writes the context for predicting step `target` of `ids` into `out`: the `window` ids before
/// it, left-padded with REST where the piece is shorter (so a piece's opening is learned too,
/// and a short live prompt looks like one).
pub fn window_at(ids: &[u32], target: usize, window: usize, out: &mut Vec<u32>) {
    out.clear();
    let target = target.min(ids.len());
    let from = target.saturating_sub(window);
    out.extend(std::iter::repeat_n(REST_ID, window - (target - from)));
    out.extend_from_slice(&ids[from..target]);
}

/// Splits piece indices `0..n` into (train, validation) by piece, never by window, so no
/// validation music is ever seen in training. The same seed gives the same split. At least one
/// piece goes to each side when `n >= 2` and `val_fraction > 0`.
pub fn split_pieces(n: usize, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut n_val = (n as f64 * val_fraction.clamp(0.0, 1.0)).round() as usize;
    if val_fraction > 0.0 && n >= 2 {
        n_val = n_val.clamp(1, n - 1);
    }
    let val = order[..n_val].to_vec();
    let mut train = order[n_val..].to_vec();
    train.sort_unstable();
    let mut val = val;
    val.sort_unstable();
    (train, val)
}

/// The piece itself and its transpositions by ±1..=`max_semitones` that keep every pitch inside
/// the piano's range (21..=108). A shift that would push any note out is skipped whole.
pub fn transpositions(steps: &[Chord], max_semitones: u32) -> Vec<Vec<Chord>> {
    let mut out = vec![steps.to_vec()];
    for magnitude in 1..=max_semitones as i32 {
        for shift in [magnitude, -magnitude] {
            let moved: Option<Vec<Chord>> = steps
                .iter()
                .map(|c| c.transposed(shift, PIANO_LOW, PIANO_HIGH))
                .collect();
            out.extend(moved);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_pad_with_rest() {
        let mut out = Vec::new();
        window_at(&[5, 6, 7, 8], 2, 4, &mut out);
        assert_eq!(out, vec![REST_ID, REST_ID, 5, 6]);
        window_at(&[5, 6, 7, 8], 4, 3, &mut out);
        assert_eq!(out, vec![6, 7, 8]);
    }

    #[test]
    fn split_is_by_piece_and_seeded() {
        let (train, val) = split_pieces(20, 0.1, 7);
        assert_eq!(val.len(), 2);
        assert_eq!(train.len(), 18);
        assert!(val.iter().all(|v| !train.contains(v)));
        assert_eq!(split_pieces(20, 0.1, 7), (train, val));
        assert_ne!(split_pieces(20, 0.1, 8).1, split_pieces(20, 0.1, 7).1);
    }

    #[test]
    fn transposition_stays_on_the_piano() {
        let piece = vec![Chord::struck_from(&[22]), Chord::struck_from(&[60, 64])];
        let all = transpositions(&piece, 2);
        // +1, -1, +2 fit; -2 would put 22 at 20.
        assert_eq!(all.len(), 4);
        for p in &all {
            assert!(p
                .iter()
                .all(|c| c.pitches().all(|x| (21..=108).contains(&x))));
        }
    }
}
