//! Key finding by the Krumhansl–Schmuckler method: the duration-weighted pitch-class histogram
//! correlated with the Krumhansl–Kessler probe-tone profiles of all 24 keys; the best wins.

/// Krumhansl & Kessler (1982) major-key profile, tonic first.
const MAJOR: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
/// Krumhansl & Kessler (1982) minor-key profile, tonic first.
const MINOR: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

/// A key: tonic pitch class (0 = C) and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Key {
    pub tonic: u8,
    pub minor: bool,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [&str; 12] = [
            "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
        ];
        let mode = if self.minor { "minor" } else { "major" };
        write!(f, "{} {mode}", NAMES[self.tonic as usize % 12])
    }
}

/// The estimated key of a pitch-class histogram, or `None` for silence (or a histogram with no
/// contour, where every key correlates equally).
pub fn estimate(histogram: &[f64; 12]) -> Option<Key> {
    let mut best: Option<(f64, Key)> = None;
    for tonic in 0..12u8 {
        for (minor, profile) in [(false, &MAJOR), (true, &MINOR)] {
            let rotated: [f64; 12] =
                std::array::from_fn(|pc| profile[(pc + 12 - tonic as usize) % 12]);
            let Some(r) = correlation(histogram, &rotated) else {
                return None;
            };
            if best.is_none_or(|(b, _)| r > b) {
                best = Some((r, Key { tonic, minor }));
            }
        }
    }
    best.map(|(_, key)| key)
}

/// Pearson correlation, `None` when either side is constant.
fn correlation(a: &[f64; 12], b: &[f64; 12]) -> Option<f64> {
    let mean = |x: &[f64; 12]| x.iter().sum::<f64>() / 12.0;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..12 {
        let (da, db) = (a[i] - ma, b[i] - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(pcs: &[(usize, f64)]) -> [f64; 12] {
        let mut h = [0.0; 12];
        for &(pc, w) in pcs {
            h[pc] += w;
        }
        h
    }

    #[test]
    fn scales_and_triads_find_their_keys() {
        // C major scale with tonic and dominant weighted as a melody would.
        let c_major = histogram(&[
            (0, 4.0),
            (2, 1.0),
            (4, 2.0),
            (5, 1.0),
            (7, 3.0),
            (9, 1.0),
            (11, 1.0),
        ]);
        assert_eq!(
            estimate(&c_major),
            Some(Key {
                tonic: 0,
                minor: false
            })
        );
        // A harmonic minor, tonic triad weighted.
        let a_minor = histogram(&[
            (9, 4.0),
            (11, 1.0),
            (0, 3.0),
            (2, 1.0),
            (4, 3.0),
            (5, 1.0),
            (8, 1.0),
        ]);
        assert_eq!(
            estimate(&a_minor),
            Some(Key {
                tonic: 9,
                minor: true
            })
        );
        // The same shape a fifth up is G major.
        let g_major: [f64; 12] = std::array::from_fn(|pc| c_major[(pc + 12 - 7) % 12]);
        assert_eq!(
            estimate(&g_major),
            Some(Key {
                tonic: 7,
                minor: false
            })
        );
        assert_eq!(estimate(&[0.0; 12]), None);
        assert_eq!(
            Key {
                tonic: 3,
                minor: true
            }
            .to_string(),
            "Eb minor"
        );
    }
}
