//! The sustain pedal rule, in one place: the file reader (`midi::read`) and the plugin's live
//! capture (`engine::capture`) both keep one [`Keys`] per MIDI channel, so the notes the model
//! hears from a pedalled performance are the same whether it arrives as a file or live.
//!
//! The rule, as on a piano: while the pedal (CC64 ≥ 64) is down, a released key keeps sounding
//! until the pedal comes up; a key struck again while it sounds (held by the finger or by the
//! pedal) ends its earlier note first.
//!
//! `T` is what a sounding note remembers of its start (a tick for files, a grid step live).
//! Fixed arrays, no allocation: the audio thread uses this too.

/// The sustain pedal's controller number.
pub const CC_SUSTAIN: u8 = 64;

/// Whether a CC64 value puts the pedal down.
pub fn pedal_is_down(value: u8) -> bool {
    value >= 64
}

/// The keys of one MIDI channel and its sustain pedal.
#[derive(Debug, Clone, Copy)]
pub struct Keys<T: Copy> {
    /// Keys held by a finger.
    sounding: [Option<T>; 128],
    /// Keys released while the pedal is down: they end when the pedal comes up.
    held_by_pedal: [Option<T>; 128],
    pedal_down: bool,
    /// `false`: the pedal is ignored (`--no-sustain`).
    pedal_enabled: bool,
}

impl<T: Copy> Keys<T> {
    pub fn new(pedal_enabled: bool) -> Self {
        Self {
            sounding: [None; 128],
            held_by_pedal: [None; 128],
            pedal_down: false,
            pedal_enabled,
        }
    }

    /// A key goes down: an earlier note of the same key ends first (`end(key, its start)`).
    pub fn strike(&mut self, key: u8, start: T, mut end: impl FnMut(u8, T)) {
        let k = key.min(127) as usize;
        if let Some(prev) = self.sounding[k].take() {
            end(k as u8, prev);
        }
        if let Some(prev) = self.held_by_pedal[k].take() {
            end(k as u8, prev);
        }
        self.sounding[k] = Some(start);
    }

    /// A key comes up: its note ends now, or when the pedal lifts if it is down.
    pub fn release(&mut self, key: u8, mut end: impl FnMut(u8, T)) {
        let k = key.min(127) as usize;
        if let Some(prev) = self.sounding[k].take() {
            if self.pedal_enabled && self.pedal_down {
                self.held_by_pedal[k] = Some(prev);
            } else {
                end(k as u8, prev);
            }
        }
    }

    /// A CC64 value: lifting the pedal ends every note it held.
    pub fn pedal(&mut self, value: u8, mut end: impl FnMut(u8, T)) {
        if !self.pedal_enabled {
            return;
        }
        let down = pedal_is_down(value);
        if self.pedal_down && !down {
            for k in 0..128 {
                if let Some(prev) = self.held_by_pedal[k].take() {
                    end(k as u8, prev);
                }
            }
        }
        self.pedal_down = down;
    }

    /// Ends every sounding note (the end of a track, or forgetting the live state).
    pub fn finish_all(&mut self, mut end: impl FnMut(u8, T)) {
        for k in 0..128 {
            if let Some(prev) = self.sounding[k].take() {
                end(k as u8, prev);
            }
            if let Some(prev) = self.held_by_pedal[k].take() {
                end(k as u8, prev);
            }
        }
    }

    /// Forgets every note and lifts the pedal, ending nothing.
    pub fn clear(&mut self) {
        *self = Self::new(self.pedal_enabled);
    }

    /// The start of the note `key` sounds with (finger or pedal), if any.
    pub fn start_of(&self, key: u8) -> Option<T> {
        let k = key.min(127) as usize;
        self.sounding[k].or(self.held_by_pedal[k])
    }

    /// Every sounding note as `(key, start)`.
    pub fn each_sounding(&self, mut f: impl FnMut(u8, T)) {
        for k in 0..128 {
            if let Some(s) = self.start_of(k as u8) {
                f(k as u8, s);
            }
        }
    }

    pub fn pedal_down(&self) -> bool {
        self.pedal_enabled && self.pedal_down
    }

    /// Whether any note sounds (held by a finger or the pedal).
    pub fn any_sounding(&self) -> bool {
        self.sounding.iter().any(Option::is_some) || self.held_by_pedal.iter().any(Option::is_some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pedal_holds_released_keys_until_it_lifts() {
        let mut keys = Keys::<u32>::new(true);
        let mut ended = Vec::new();
        keys.pedal(127, |k, s| ended.push((k, s, 0)));
        keys.strike(60, 0, |k, s| ended.push((k, s, 0)));
        keys.release(60, |k, s| ended.push((k, s, 1)));
        assert!(ended.is_empty());
        assert_eq!(keys.start_of(60), Some(0));
        keys.pedal(0, |k, s| ended.push((k, s, 2)));
        assert_eq!(ended, [(60, 0, 2)]);
        assert!(!keys.any_sounding());
    }

    #[test]
    fn a_restrike_under_the_pedal_ends_the_held_note_and_a_disabled_pedal_does_nothing() {
        let mut keys = Keys::<u32>::new(true);
        let mut ended = Vec::new();
        keys.pedal(64, |_, _| {});
        keys.strike(60, 0, |k, s| ended.push((k, s)));
        keys.release(60, |k, s| ended.push((k, s)));
        keys.strike(60, 4, |k, s| ended.push((k, s)));
        assert_eq!(ended, [(60, 0)]);

        let mut keys = Keys::<u32>::new(false);
        keys.pedal(127, |_, _| {});
        keys.strike(62, 0, |_, _| {});
        let mut ended = Vec::new();
        keys.release(62, |k, s| ended.push((k, s)));
        assert_eq!(ended, [(62, 0)]);
        assert!(!keys.pedal_down());
    }
}
