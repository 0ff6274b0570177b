//! One time step's token: which pitches sound, and which of them are struck at that step.

use std::fmt;
use std::str::FromStr;

/// A set of sounding MIDI pitches plus the subset struck (attacked) at this step.
///
/// Stored as two 128-bit masks so a chord is `Copy`, hashes fast and compares in two words.
/// Invariant: `struck ⊆ sounding`. With onset marks off (the reference design's plain tokens),
/// `struck` is always empty.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Chord {
    sounding: u128,
    struck: u128,
}

impl Chord {
    /// The empty chord: silence.
    pub const REST: Chord = Chord {
        sounding: 0,
        struck: 0,
    };

    pub fn new(sounding: u128, struck: u128) -> Self {
        Self {
            sounding,
            struck: struck & sounding,
        }
    }

    /// A chord with every given pitch struck.
    pub fn struck_from(pitches: &[u8]) -> Self {
        let mask = pitches.iter().fold(0u128, |m, &p| m | 1u128 << (p & 127));
        Self::new(mask, mask)
    }

    /// A chord with the given pitches held, none struck.
    pub fn held_from(pitches: &[u8]) -> Self {
        let mask = pitches.iter().fold(0u128, |m, &p| m | 1u128 << (p & 127));
        Self::new(mask, 0)
    }

    pub fn sounding_mask(&self) -> u128 {
        self.sounding
    }
    pub fn struck_mask(&self) -> u128 {
        self.struck
    }
    pub fn is_rest(&self) -> bool {
        self.sounding == 0
    }
    pub fn len(&self) -> usize {
        self.sounding.count_ones() as usize
    }
    pub fn is_empty(&self) -> bool {
        self.sounding == 0
    }
    pub fn contains(&self, pitch: u8) -> bool {
        pitch < 128 && self.sounding >> pitch & 1 == 1
    }
    pub fn is_struck(&self, pitch: u8) -> bool {
        pitch < 128 && self.struck >> pitch & 1 == 1
    }
    /// Adds a pitch; `struck` marks it as attacked at this step (a struck mark is never removed by
    /// adding the same pitch again unstruck: two voices, one striking, make a strike).
    pub fn add(&mut self, pitch: u8, struck: bool) {
        let bit = 1u128 << (pitch & 127);
        self.sounding |= bit;
        if struck {
            self.struck |= bit;
        }
    }
    /// The same chord with no struck marks (the reference design's token).
    pub fn without_onsets(&self) -> Self {
        Self {
            sounding: self.sounding,
            struck: 0,
        }
    }
    /// Lowest sounding pitch.
    pub fn bass(&self) -> Option<u8> {
        (self.sounding != 0).then(|| self.sounding.trailing_zeros() as u8)
    }
    /// Highest sounding pitch.
    pub fn top(&self) -> Option<u8> {
        (self.sounding != 0).then(|| 127 - self.sounding.leading_zeros() as u8)
    }
    /// The twelve pitch classes present, as a 12-bit mask (bit 0 = C).
    pub fn pitch_classes(&self) -> u16 {
        let mut classes = 0u16;
        let mut m = self.sounding;
        while m != 0 {
            let p = m.trailing_zeros();
            classes |= 1 << (p % 12);
            m &= m - 1;
        }
        classes
    }
    /// Sounding pitches, low to high.
    pub fn pitches(&self) -> impl Iterator<Item = u8> + '_ {
        let mut m = self.sounding;
        std::iter::from_fn(move || {
            (m != 0).then(|| {
                let p = m.trailing_zeros() as u8;
                m &= m - 1;
                p
            })
        })
    }
    /// The chord moved by `semitones`, or `None` if a pitch would leave `lowest..=highest`.
    pub fn transposed(&self, semitones: i32, lowest: u8, highest: u8) -> Option<Chord> {
        if self.is_rest() || semitones == 0 {
            return Some(*self);
        }
        let (bass, top) = (self.bass()? as i32, self.top()? as i32);
        if bass + semitones < lowest as i32 || top + semitones > highest as i32 {
            return None;
        }
        let shift = |m: u128| {
            if semitones > 0 {
                m << semitones
            } else {
                m >> -semitones
            }
        };
        Some(Chord {
            sounding: shift(self.sounding),
            struck: shift(self.struck),
        })
    }
}

/// Duration-weighted pitch-class histogram (index 0 = C): each sounding note adds one per step
/// to its class. What "the key the player is in" is measured from, by `judge` and by the
/// Follow key control.
pub fn pitch_class_histogram(steps: &[Chord]) -> [f64; 12] {
    let mut h = [0.0; 12];
    for c in steps {
        for p in c.pitches() {
            h[p as usize % 12] += 1.0;
        }
    }
    h
}

/// The display form of the reference design, `45,49,57,61`, with `*` before a struck pitch:
/// `45,*49,57`. The rest is `REST`.
impl fmt::Display for Chord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_rest() {
            return f.write_str("REST");
        }
        for (i, p) in self.pitches().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if self.is_struck(p) {
                f.write_str("*")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Chord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Chord({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a chord token: {0:?} (expected e.g. `45,*49,57` or `REST`)")]
pub struct ParseChordError(pub String);

impl FromStr for Chord {
    type Err = ParseChordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "REST" || s.is_empty() {
            return Ok(Chord::REST);
        }
        let mut chord = Chord::REST;
        for part in s.split(',') {
            let (struck, digits) = match part.strip_prefix('*') {
                Some(rest) => (true, rest),
                None => (false, part),
            };
            let pitch: u8 = digits.parse().map_err(|_| ParseChordError(s.to_string()))?;
            if pitch > 127 {
                return Err(ParseChordError(s.to_string()));
            }
            chord.add(pitch, struck);
        }
        Ok(chord)
    }
}

impl serde::Serialize for Chord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Chord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_reference_form() {
        assert_eq!(
            Chord::held_from(&[61, 45, 57, 49]).to_string(),
            "45,49,57,61"
        );
        let mut c = Chord::held_from(&[45, 57]);
        c.add(49, true);
        assert_eq!(c.to_string(), "45,*49,57");
        assert_eq!(Chord::REST.to_string(), "REST");
    }

    #[test]
    fn parse_round_trips_display() {
        for s in ["REST", "60", "*60", "45,*49,57", "0,*127"] {
            assert_eq!(s.parse::<Chord>().unwrap().to_string(), s);
        }
        assert!("60,x".parse::<Chord>().is_err());
        assert!("128".parse::<Chord>().is_err());
    }

    #[test]
    fn bass_top_and_classes() {
        let c = Chord::held_from(&[48, 64, 67]);
        assert_eq!(c.bass(), Some(48));
        assert_eq!(c.top(), Some(67));
        assert_eq!(c.pitch_classes(), 1 | 1 << 4 | 1 << 7);
    }

    #[test]
    fn transposition_respects_range() {
        let c = Chord::struck_from(&[21, 60]);
        assert_eq!(c.transposed(-1, 21, 108), None);
        assert_eq!(c.transposed(2, 21, 108).unwrap().to_string(), "*23,*62");
    }
}
