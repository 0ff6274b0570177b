//! What a musician hears in a stretch of steps, as numbers: bass, texture, onset rate, range,
//! pitch classes. Each works on the piano roll alone, so generated and real music are measured
//! the same way.

use crate::roll::Chord;

/// MIDI pitch of C3 (middle C is C4 = 60): "bass" is any note below it.
pub const BASS_BELOW: u8 = 48;

/// The measures of one continuation (or one real continuation).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Texture {
    /// Share of steps with a sounding note below C3.
    pub bass_share: f64,
    /// Share of steps on which exactly one note sounds.
    pub single_share: f64,
    /// Notes started per beat.
    pub onsets_per_beat: f64,
    /// Mean number of sounding notes over the steps that are not silent.
    pub polyphony: f64,
    /// Highest minus lowest pitch used, in semitones (0 for silence).
    pub range: f64,
}

/// Whether `pitch` starts a note at `chord` after `prev`: struck, or sounding and not sounding
/// before (so plain tokens without struck marks count their onsets too).
fn onsets(prev: &Chord, chord: &Chord) -> u32 {
    (chord.struck_mask() | (chord.sounding_mask() & !prev.sounding_mask())).count_ones()
}

/// The measures of `steps` (a grid of `steps_per_beat` steps per beat), starting after `before`
/// (the step before the first, for onsets; `Chord::REST` when there is none).
pub fn texture(steps: &[Chord], before: &Chord, steps_per_beat: u32) -> Texture {
    if steps.is_empty() {
        return Texture {
            bass_share: 0.0,
            single_share: 0.0,
            onsets_per_beat: 0.0,
            polyphony: 0.0,
            range: 0.0,
        };
    }
    let n = steps.len() as f64;
    let bass = steps
        .iter()
        .filter(|c| c.bass().is_some_and(|b| b < BASS_BELOW))
        .count();
    let single = steps.iter().filter(|c| c.len() == 1).count();
    let mut started = 0u32;
    let mut prev = *before;
    for c in steps {
        started += onsets(&prev, c);
        prev = *c;
    }
    let sounding: Vec<&Chord> = steps.iter().filter(|c| !c.is_rest()).collect();
    let polyphony = if sounding.is_empty() {
        0.0
    } else {
        sounding.iter().map(|c| c.len()).sum::<usize>() as f64 / sounding.len() as f64
    };
    let low = sounding.iter().filter_map(|c| c.bass()).min();
    let high = sounding.iter().filter_map(|c| c.top()).max();
    let range = match (low, high) {
        (Some(l), Some(h)) => (h - l) as f64,
        _ => 0.0,
    };
    Texture {
        bass_share: bass as f64 / n,
        single_share: single as f64 / n,
        onsets_per_beat: started as f64 / (n / steps_per_beat.max(1) as f64),
        polyphony,
        range,
    }
}

/// Duration-weighted pitch-class histogram: each sounding note adds one per step to its class.
pub use crate::roll::pitch_class_histogram as pitch_classes;

/// Cosine similarity of two histograms; 0 when either is silent.
pub fn cosine(a: &[f64; 12], b: &[f64; 12]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Overlapping area of two samples' distributions: histograms over `bins` equal bins spanning both
/// samples, each normalised to 1, and the sum of the bin-wise minima. 1 is the same
/// distribution, 0 disjoint. Two empty samples overlap fully; one empty sample not at all.
pub fn overlap(a: &[f64], b: &[f64], bins: usize) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let all = a.iter().chain(b).copied();
    let lo = all.clone().fold(f64::INFINITY, f64::min);
    let hi = all.fold(f64::NEG_INFINITY, f64::max);
    if hi <= lo {
        return 1.0;
    }
    let bins = bins.max(1);
    let histogram = |x: &[f64]| {
        let mut h = vec![0.0; bins];
        for &v in x {
            let i = (((v - lo) / (hi - lo)) * bins as f64) as usize;
            h[i.min(bins - 1)] += 1.0 / x.len() as f64;
        }
        h
    };
    let (ha, hb) = (histogram(a), histogram(b));
    ha.iter().zip(&hb).map(|(x, y)| x.min(*y)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texture_of_a_bass_and_a_melody() {
        // Beat 1: C2 held under E4 struck each step; beat 2: E4 alone, one onset; 4 steps/beat.
        let mut steps = Vec::new();
        for i in 0..4 {
            let mut c = Chord::held_from(&[]);
            c.add(36, i == 0);
            c.add(64, true);
            steps.push(c);
        }
        let mut e = Chord::REST;
        e.add(64, true);
        steps.push(e);
        steps.extend(std::iter::repeat_n(Chord::held_from(&[64]), 3));
        let t = texture(&steps, &Chord::REST, 4);
        assert_eq!(t.bass_share, 0.5);
        assert_eq!(t.single_share, 0.5);
        // 1 bass onset + 5 melody strikes over 2 beats.
        assert_eq!(t.onsets_per_beat, 3.0);
        assert_eq!(t.polyphony, 1.5);
        assert_eq!(t.range, 28.0);
        // Without struck marks a note is heard starting where it was not sounding before.
        let plain: Vec<Chord> = steps.iter().map(|c| c.without_onsets()).collect();
        assert_eq!(texture(&plain, &Chord::REST, 4).onsets_per_beat, 1.0);
    }

    #[test]
    fn cosine_and_overlap() {
        let c = pitch_classes(&[Chord::held_from(&[60, 64, 67]), Chord::held_from(&[72])]);
        assert_eq!(c[0], 2.0);
        assert!((cosine(&c, &c) - 1.0).abs() < 1e-12);
        let fsharp = pitch_classes(&[Chord::held_from(&[66])]);
        assert_eq!(cosine(&c, &fsharp), 0.0);
        assert_eq!(overlap(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], 10), 1.0);
        assert_eq!(overlap(&[0.0, 0.1], &[5.0, 5.1], 10), 0.0);
        let half = overlap(&[0.0, 0.0, 1.0, 1.0], &[1.0, 1.0, 1.0, 1.0], 2);
        assert!((half - 0.5).abs() < 1e-12);
    }
}
