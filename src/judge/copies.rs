//! Does a continuation copy its training data? The longest run of steps that occurs, exactly,
//! somewhere in the training pieces (in any of the transpositions the model trained on), counted
//! only when it holds at least [`MIN_CHANGES`] chord changes: a held chord or a rest repeated
//! is not a quotation, a progression is.
//!
//! Runs are found with rolling hashes. Every substring of the continuations is hashed first (a
//! few hundred thousand); then each training position is extended step by step while its run is
//! still one of those substrings, so the training data is read once per transposition and most
//! positions stop after a step or two.

use std::collections::HashSet;

use crate::roll::Chord;

/// Chord changes a copied run must hold to count.
pub const MIN_CHANGES: usize = 3;

const BASE: u64 = 0x9E37_79B9_7F4A_7C15 | 1;

fn step_hash(c: &Chord) -> u64 {
    let mix = |x: u64| {
        let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    };
    let (s, t) = (c.sounding_mask(), c.struck_mask());
    mix(mix(s as u64) ^ mix((s >> 64) as u64).rotate_left(17))
        ^ mix(mix(t as u64).rotate_left(29) ^ mix((t >> 64) as u64).rotate_left(43))
}

/// Prefix hashes: `p[i]` covers steps `[0, i)`.
fn prefixes(steps: &[Chord]) -> Vec<u64> {
    let mut p = Vec::with_capacity(steps.len() + 1);
    p.push(0u64);
    for c in steps {
        let last = *p.last().expect("non-empty");
        p.push(last.wrapping_mul(BASE).wrapping_add(step_hash(c)));
    }
    p
}

/// Hash of steps `[i, i + len)` from prefix hashes and `powers[len] = BASE^len`.
fn span(p: &[u64], powers: &[u64], i: usize, len: usize) -> u64 {
    p[i + len].wrapping_sub(p[i].wrapping_mul(powers[len]))
}

/// Chord changes inside `steps`: steps (after the first) whose sounding notes differ from the
/// step before, or that strike a note.
pub fn changes(steps: &[Chord]) -> usize {
    steps
        .windows(2)
        .filter(|w| w[1].sounding_mask() != w[0].sounding_mask() || w[1].struck_mask() != 0)
        .count()
}

/// The longest copied run of each continuation, in steps (0 when none holds enough changes).
pub fn longest_copies<'a>(
    continuations: &[Vec<Chord>],
    training: impl IntoIterator<Item = &'a [Chord]>,
    transpose: i32,
) -> Vec<usize> {
    let longest = continuations.iter().map(|c| c.len()).max().unwrap_or(0);
    let powers: Vec<u64> = std::iter::successors(Some(1u64), |p| Some(p.wrapping_mul(BASE)))
        .take(longest + 1)
        .collect();
    // Every substring of every continuation, keyed by (length, hash).
    let mut wanted: HashSet<(u32, u64)> = HashSet::new();
    let cont_prefixes: Vec<Vec<u64>> = continuations.iter().map(|c| prefixes(c)).collect();
    for (c, p) in continuations.iter().zip(&cont_prefixes) {
        for i in 0..c.len() {
            for len in 1..=c.len() - i {
                wanted.insert((len as u32, span(p, &powers, i, len)));
            }
        }
    }
    // Which of them occur in the training data.
    let mut found: HashSet<(u32, u64)> = HashSet::new();
    let mut shifted = Vec::new();
    for piece in training {
        for shift in -transpose..=transpose {
            shifted.clear();
            let ok = piece.iter().try_for_each(|c| {
                c.transposed(shift, 0, 127)
                    .map(|t| shifted.push(t))
                    .ok_or(())
            });
            if ok.is_err() {
                // Some note would leave MIDI's range: transpose the parts that fit, apart.
                shifted.clear();
                shifted.extend(
                    piece
                        .iter()
                        .map(|c| c.transposed(shift, 0, 127).unwrap_or(Chord::REST)),
                );
            }
            let p = prefixes(&shifted);
            for i in 0..shifted.len() {
                let mut len = 1;
                while len <= longest && i + len <= shifted.len() {
                    let key = (len as u32, span(&p, &powers, i, len));
                    if !wanted.contains(&key) {
                        break;
                    }
                    found.insert(key);
                    len += 1;
                }
            }
        }
    }
    // For each start, the longest run found; the run counts if it holds enough changes.
    continuations
        .iter()
        .zip(&cont_prefixes)
        .map(|(c, p)| {
            let mut best = 0;
            for i in 0..c.len() {
                let mut len = 0;
                while i + len < c.len()
                    && found.contains(&((len + 1) as u32, span(p, &powers, i, len + 1)))
                {
                    len += 1;
                }
                if len > best && changes(&c[i..i + len]) >= MIN_CHANGES {
                    best = len;
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pitches: &[u8]) -> Vec<Chord> {
        pitches.iter().map(|&p| Chord::struck_from(&[p])).collect()
    }

    #[test]
    fn finds_a_planted_quotation_also_transposed() {
        let training = line(&[60, 62, 64, 65, 67, 69, 71, 72, 50, 51]);
        // Steps 2..9 of the training piece, a whole tone up, inside other material.
        let mut copy = line(&[30, 31]);
        copy.extend(line(&[66, 67, 69, 71, 73, 74]));
        copy.extend(line(&[33]));
        let fresh = line(&[40, 47, 41, 46, 42, 45]);
        let got = longest_copies(&[copy.clone(), fresh.clone()], [training.as_slice()], 2);
        assert_eq!(got, vec![6, 0]);
        // Without transposition the quotation is not exact.
        let got = longest_copies(&[copy, fresh], [training.as_slice()], 0);
        assert_eq!(got, vec![0, 0]);
    }

    #[test]
    fn held_chords_and_rests_are_no_quotation() {
        let held = vec![Chord::held_from(&[48, 52, 55]); 32];
        let rests = vec![Chord::REST; 32];
        let training: Vec<Chord> = held.iter().chain(&rests).copied().collect();
        let got = longest_copies(&[held.clone(), rests], [training.as_slice()], 0);
        assert_eq!(got, vec![0, 0]);
        assert_eq!(changes(&held), 0);
        assert_eq!(changes(&line(&[60, 60, 62])), 2);
    }
}
