//! The controls beyond temperature that shape a phrase while it is sampled, for both model kinds:
//! Density, Register, Polyphony and Follow key. The engine reads them from the parameters each
//! block and sends them with every request; each generator applies them in its own terms (the
//! step model per key, a seed model over its vocabulary's chords).

use crate::model::step::StepSampling;
use crate::roll::{pitch_class_histogram, Chord};

/// Lowest and highest piano key (A0, C8).
pub const PIANO_LOWEST: u8 = 21;
pub const PIANO_HIGHEST: u8 = 108;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controls {
    /// -1..=1: fewer (below 0) or more (above 0) onsets per beat than the model's own tendency;
    /// 0 leaves it alone. One unit is one nat on every "strike" decision.
    pub density: f32,
    /// The register: no note below `lowest` or above `highest` (MIDI pitches).
    pub lowest: u8,
    pub highest: u8,
    /// Polyphony: most notes sounding at once.
    pub max_keys: u8,
    /// 0..=1: how strongly the phrase favours the pitch classes the player played (0 = free).
    pub follow_key: f32,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            density: 0.0,
            lowest: PIANO_LOWEST,
            highest: PIANO_HIGHEST,
            max_keys: 10,
            follow_key: 0.0,
        }
    }
}

impl Controls {
    /// Follow key's bias per pitch class, from what the player played (`heard`).
    pub fn key_bias(&self, heard: &[Chord]) -> [f32; 12] {
        StepSampling::follow(&pitch_class_histogram(heard), self.follow_key)
    }

    /// The controls in the step model's terms, applied per key while sampling.
    pub fn step_sampling(&self, temperature: f32, heard: &[Chord]) -> StepSampling {
        StepSampling {
            temperature,
            lowest: self.lowest,
            highest: self.highest,
            max_sounding: self.max_keys as usize,
            density: self.density,
            key_bias: self.key_bias(heard),
            ..StepSampling::default()
        }
    }

    /// The same controls with every value in range and `lowest <= highest` (a swapped register
    /// from automation is read the right way round).
    pub fn sanitized(&self) -> Controls {
        let finite = |x: f32, lo: f32, hi: f32| if x.is_finite() { x.clamp(lo, hi) } else { 0.0 };
        let (a, b) = (self.lowest.clamp(0, 127), self.highest.clamp(0, 127));
        Controls {
            density: finite(self.density, -1.0, 1.0),
            lowest: a.min(b),
            highest: a.max(b),
            max_keys: self.max_keys.max(1),
            follow_key: finite(self.follow_key, 0.0, 1.0),
        }
    }

    /// Whether `chord` keeps the register and polyphony limits.
    pub fn allows(&self, chord: &Chord) -> bool {
        chord.len() <= self.max_keys as usize
            && chord
                .pitches()
                .all(|p| (self.lowest..=self.highest).contains(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_controls_are_in_range() {
        let c = Controls {
            density: f32::NAN,
            lowest: 90,
            highest: 40,
            max_keys: 0,
            follow_key: 7.0,
        }
        .sanitized();
        assert_eq!(
            (c.density, c.lowest, c.highest, c.max_keys, c.follow_key),
            (0.0, 40, 90, 1, 1.0)
        );
        assert!(
            c.allows(&Chord::struck_from(&[40, 90])) == false,
            "two keys with polyphony 1"
        );
        let c = Controls { max_keys: 2, ..c };
        assert!(c.allows(&Chord::struck_from(&[40, 90])));
        assert!(!c.allows(&Chord::struck_from(&[39])));
        assert!(c.allows(&Chord::REST));
    }
}
