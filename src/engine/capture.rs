//! Live notes onto the grid: the context the model hears.
//!
//! Steps are numbered by a capture index `k` that only moves forward: `k = host step + shift`,
//! and on a loop or jump the shift is changed so the next step follows the last one heard. So a
//! musician looping four bars keeps a continuous context instead of a scrambled one.
//! Storage is a fixed ring of steps (sized once), so capturing never allocates.
//!
//! Keys and the sustain pedal follow [`crate::midi::sustain`], the rule the file reader uses, one
//! [`Keys`] per MIDI channel: a pedalled performance played live gives the model the same context
//! as the same performance read from a file.

use crate::midi::sustain::Keys;
use crate::roll::Chord;

/// Steps remembered (a power of two, far more than any model's window).
pub const RING_STEPS: usize = 1024;

pub struct Capture {
    steps_per_beat: f64,
    /// `(k, chord)`; a slot whose tag is not the `k` asked for is an old step: a rest.
    ring: Vec<(i64, Chord)>,
    shift: i64,
    /// The newest step reached so far.
    last_k: i64,
    /// Per MIDI channel: the step where each sounding key (finger or pedal) started.
    keys: [Keys<i64>; 16],
    /// Notes sounding over all channels.
    held_count: u32,
    /// Running average of played velocities.
    velocity: Option<f32>,
    /// Monotonic beats of the last note-on or note-off.
    last_activity: f64,
    /// Something was played since the last Auto-respond answer.
    heard: bool,
}

impl Capture {
    pub fn new(steps_per_beat: u32) -> Self {
        Self {
            steps_per_beat: steps_per_beat.max(1) as f64,
            ring: vec![(i64::MIN, Chord::REST); RING_STEPS],
            shift: 0,
            last_k: -1,
            keys: [Keys::new(true); 16],
            held_count: 0,
            velocity: None,
            last_activity: 0.0,
            heard: false,
        }
    }

    /// Forgets everything (a model with another grid, or activation).
    pub fn clear(&mut self, steps_per_beat: u32) {
        self.steps_per_beat = steps_per_beat.max(1) as f64;
        self.ring
            .iter_mut()
            .for_each(|s| *s = (i64::MIN, Chord::REST));
        self.shift = 0;
        self.last_k = -1;
        self.keys.iter_mut().for_each(Keys::clear);
        self.held_count = 0;
        self.heard = false;
    }

    /// The nearest step to a beat, in capture numbering.
    pub fn k_at(&self, beat: f64) -> i64 {
        (beat * self.steps_per_beat).round() as i64 + self.shift
    }

    /// The host step of a capture step.
    pub fn host_step(&self, k: i64) -> i64 {
        k - self.shift
    }

    /// After a jump to `beat`: renumber so the step there follows the last one heard.
    pub fn resync(&mut self, beat: f64) {
        let host = (beat * self.steps_per_beat).floor() as i64;
        let next = self.last_k.max(-1) + 1;
        self.shift = next - host;
    }

    /// The playhead moved to `beat` (end of a block).
    pub fn advance(&mut self, beat: f64) {
        // The step holding the block's last sample, not the one starting at its end.
        let k = (beat * self.steps_per_beat).ceil() as i64 - 1 + self.shift;
        self.last_k = self.last_k.max(k);
    }

    fn chord(&self, k: i64) -> Chord {
        let (tag, chord) = self.ring[k.rem_euclid(RING_STEPS as i64) as usize];
        if tag == k {
            chord
        } else {
            Chord::REST
        }
    }

    /// A key goes down on `channel` (0..=15).
    pub fn note_on(&mut self, channel: u8, beat: f64, pitch: u8, velocity: u8, monotonic: f64) {
        let pitch = pitch.min(127);
        let k = self.k_at(beat);
        let (ring, count) = (&mut self.ring, &mut self.held_count);
        self.keys[channel as usize & 15].strike(pitch, k, |p, start| {
            *count = count.saturating_sub(1);
            mark(ring, p, start, k);
        });
        slot(ring, k).add(pitch, true);
        self.held_count += 1;
        let v = velocity.clamp(1, 127) as f32;
        self.velocity = Some(match self.velocity {
            None => v,
            Some(avg) => avg + 0.25 * (v - avg),
        });
        self.last_activity = monotonic;
        self.heard = true;
        self.last_k = self.last_k.max(k);
    }

    /// A key comes up on `channel`: its note ends, or rings on while the pedal is down.
    pub fn note_off(&mut self, channel: u8, beat: f64, pitch: u8, monotonic: f64) {
        let k = self.k_at(beat);
        let (ring, count) = (&mut self.ring, &mut self.held_count);
        let mut ended = false;
        self.keys[channel as usize & 15].release(pitch.min(127), |p, start| {
            *count = count.saturating_sub(1);
            mark(ring, p, start, k);
            ended = true;
        });
        if ended {
            self.last_activity = monotonic;
        }
    }

    /// A sustain pedal value (CC64) on `channel`: lifting it ends the notes it held.
    pub fn pedal(&mut self, channel: u8, beat: f64, value: u8, monotonic: f64) {
        let k = self.k_at(beat);
        let (ring, count) = (&mut self.ring, &mut self.held_count);
        let mut ended = false;
        self.keys[channel as usize & 15].pedal(value, |p, start| {
            *count = count.saturating_sub(1);
            mark(ring, p, start, k);
            ended = true;
        });
        if ended {
            self.last_activity = monotonic;
        }
    }

    /// The context for a phrase starting at capture step `end` (exclusive): the `len` steps
    /// before it, held notes carried up to it. Writes into `out[..len]`.
    pub fn context(&self, end: i64, out: &mut [Chord]) {
        let len = out.len() as i64;
        // Usually nothing or a chord is held: visit only those pitches, not all 128.
        let mut held = [(0u8, 0i64); 128];
        let mut n = 0;
        if self.held_count > 0 {
            for keys in &self.keys {
                keys.each_sounding(|pitch, start| {
                    // The same key on two channels: the earlier start covers both.
                    match held[..n].iter().position(|(p, _)| *p == pitch) {
                        Some(i) => held[i].1 = held[i].1.min(start),
                        None if n < 128 => {
                            held[n] = (pitch, start);
                            n += 1;
                        }
                        None => {}
                    }
                });
            }
        }
        for (i, slot) in out.iter_mut().enumerate() {
            let k = end - len + i as i64;
            let mut chord = self.chord(k);
            for &(pitch, start) in &held[..n] {
                if start <= k {
                    chord.add(pitch, false);
                }
            }
            *slot = chord;
        }
    }

    pub fn any_held(&self) -> bool {
        self.held_count > 0
    }
    /// The player's average velocity, if they played.
    pub fn average_velocity(&self) -> Option<u8> {
        self.velocity.map(|v| v.round().clamp(1.0, 127.0) as u8)
    }
    /// Beats of silence at monotonic time `now` (0 while a note is held).
    pub fn silence(&self, now: f64) -> f64 {
        if self.any_held() {
            0.0
        } else {
            now - self.last_activity
        }
    }
    pub fn heard_since_answer(&self) -> bool {
        self.heard
    }
    pub fn mark_answered(&mut self) {
        self.heard = false;
    }
    pub fn last_k(&self) -> i64 {
        self.last_k
    }
}

/// The ring slot of step `k`, cleared if it held an older step.
fn slot(ring: &mut [(i64, Chord)], k: i64) -> &mut Chord {
    let i = k.rem_euclid(RING_STEPS as i64) as usize;
    if ring[i].0 != k {
        ring[i] = (k, Chord::REST);
    }
    &mut ring[i].1
}

/// A note of `pitch` sounded in steps `[start, end)` (at least one step; its strike was marked
/// when it started).
fn mark(ring: &mut [(i64, Chord)], pitch: u8, start: i64, end: i64) {
    let end = end.max(start + 1);
    let from = start.max(end - RING_STEPS as i64);
    for k in from..end {
        slot(ring, k).add(pitch, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(c: &Capture, end: i64, len: usize) -> Vec<String> {
        let mut out = vec![Chord::REST; len];
        c.context(end, &mut out);
        out.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn notes_land_on_the_nearest_step_with_struck_marks() {
        let mut c = Capture::new(4);
        c.note_on(0, 0.02, 60, 90, 0.0);
        c.note_on(0, 0.26, 64, 70, 0.26);
        c.note_off(0, 0.49, 64, 0.49);
        c.note_off(0, 0.74, 60, 0.74);
        assert_eq!(ctx(&c, 4, 4), ["*60", "60,*64", "60", "REST"]);
        assert_eq!(c.average_velocity(), Some(85));
    }

    #[test]
    fn held_notes_extend_to_the_context_end() {
        let mut c = Capture::new(4);
        c.note_on(0, 0.0, 48, 80, 0.0);
        assert_eq!(ctx(&c, 3, 3), ["*48", "48", "48"]);
        assert!(c.any_held());
        assert_eq!(c.silence(5.0), 0.0);
    }

    #[test]
    fn a_loop_keeps_the_context_continuous() {
        let mut c = Capture::new(4);
        c.note_on(0, 3.5, 60, 80, 3.5);
        c.note_off(0, 3.75, 60, 3.75);
        c.advance(4.0);
        // The host loops back to beat 0.
        c.resync(0.0);
        c.note_on(0, 0.0, 62, 80, 4.0);
        c.note_off(0, 0.25, 62, 4.25);
        let end = c.k_at(0.25);
        assert_eq!(ctx(&c, end, 4), ["REST", "*60", "REST", "*62"]);
    }

    #[test]
    fn the_pedal_holds_released_keys_on_its_own_channel_only() {
        let mut c = Capture::new(4);
        c.pedal(0, 0.0, 127, 0.0);
        c.note_on(0, 0.0, 60, 80, 0.0);
        c.note_off(0, 0.25, 60, 0.25);
        c.note_on(1, 0.0, 67, 80, 0.0);
        c.note_off(1, 0.25, 67, 0.25);
        assert!(c.any_held());
        c.pedal(0, 0.75, 0, 0.75);
        assert!(!c.any_held());
        assert_eq!(ctx(&c, 4, 4), ["*60,*67", "60", "60", "REST"]);
    }

    #[test]
    fn silence_counts_from_the_last_release() {
        let mut c = Capture::new(4);
        c.note_on(0, 0.0, 60, 80, 10.0);
        c.note_off(0, 1.0, 60, 11.0);
        assert_eq!(c.silence(13.0), 2.0);
        assert!(c.heard_since_answer());
    }
}
