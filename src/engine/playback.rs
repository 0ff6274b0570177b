//! The scheduler and the sounding-note table: phrase events in beats become note events at
//! sample offsets, and every generated note that sounds is known so it can be ended.

use super::clock::BlockTime;
use super::phrase::Phrase;

/// A generated (or engine-made) note event at a sample offset of the current block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteOut {
    pub timing: u32,
    pub on: bool,
    /// 0..=15.
    pub channel: u8,
    pub pitch: u8,
    /// 1..=127 for note-ons, 0 for note-offs.
    pub velocity: u8,
}

/// Which (channel, pitch) pairs sound: one 16-bit channel mask per pitch.
#[derive(Debug, Clone)]
pub struct Sounding {
    channels: [u16; 128],
    count: u32,
}

impl Default for Sounding {
    fn default() -> Self {
        Self {
            channels: [0; 128],
            count: 0,
        }
    }
}

impl Sounding {
    pub fn contains(&self, channel: u8, pitch: u8) -> bool {
        self.channels[pitch as usize & 127] >> (channel & 15) & 1 == 1
    }
    pub fn set(&mut self, channel: u8, pitch: u8, on: bool) {
        let bit = 1u16 << (channel & 15);
        let slot = &mut self.channels[pitch as usize & 127];
        if on && *slot & bit == 0 {
            self.count += 1;
            *slot |= bit;
        } else if !on && *slot & bit != 0 {
            self.count -= 1;
            *slot &= !bit;
        }
    }
    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Ends every sounding note at `timing`, in pitch order.
    pub fn all_off(&mut self, timing: u32, mut emit: impl FnMut(NoteOut)) {
        if self.count == 0 {
            return;
        }
        for pitch in 0..128u8 {
            let mut mask = self.channels[pitch as usize];
            while mask != 0 {
                let channel = mask.trailing_zeros() as u8;
                mask &= mask - 1;
                emit(NoteOut {
                    timing,
                    on: false,
                    channel,
                    pitch,
                    velocity: 0,
                });
            }
            self.channels[pitch as usize] = 0;
        }
        self.count = 0;
    }
}

/// The phrase being played and how far it has got.
#[derive(Default)]
pub struct Playback {
    pub phrase: Option<Box<Phrase>>,
    /// Beat where the phrase's beat 0 falls.
    pub start: f64,
    /// Next event to play.
    cursor: usize,
    /// A phrase to follow the current one seamlessly (Continuous mode), with its start.
    next: Option<(Box<Phrase>, f64)>,
    /// Phrases done with this block, for the engine to hand back for freeing (never dropped
    /// here: that would free memory on the audio thread).
    retired: [Option<Box<Phrase>>; 4],
}

impl Playback {
    /// Plays `phrase` from `start`; returns the phrase it replaces (to be freed elsewhere).
    pub fn install(
        &mut self,
        phrase: Box<Phrase>,
        start: f64,
        time: &BlockTime,
    ) -> Option<Box<Phrase>> {
        let old = self.phrase.replace(phrase);
        self.start = start;
        self.seek(time);
        if let Some((next, _)) = self.next.take() {
            self.retire(next);
        }
        old
    }

    fn retire(&mut self, phrase: Box<Phrase>) {
        match self.retired.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(phrase),
            // Four retirements in one block cannot happen; leaking beats freeing here.
            None => std::mem::forget(phrase),
        }
    }

    /// A phrase to free off the audio thread, if any.
    pub fn take_retired(&mut self) -> Option<Box<Phrase>> {
        self.retired.iter_mut().find_map(Option::take)
    }

    /// Whether a phrase starting at `start` can follow the current one without cutting it.
    pub fn can_follow(&self, start: f64, time: &BlockTime) -> bool {
        self.next.is_none()
            && self.is_playing(time)
            && self.phrase.as_ref().is_some_and(|p| {
                p.timeline == time.timeline && start >= self.start + p.length_beats - 1e-9
            })
    }

    /// Queues a phrase to start when the current one has played out (see [`Self::can_follow`]).
    pub fn follow(&mut self, phrase: Box<Phrase>, start: f64) {
        self.next = Some((phrase, start));
    }

    /// After a jump: continue with the first event the playhead has not passed. Notes the
    /// playhead lands inside are not started (their note-offs are skipped by the table).
    pub fn seek(&mut self, time: &BlockTime) {
        self.cursor = match &self.phrase {
            Some(p) if p.timeline == time.timeline => p
                .events
                .partition_point(|e| time.offset_of(self.start + e.beat) < 0.0),
            Some(p) => p.events.len(),
            None => 0,
        };
    }

    /// Stops playing (a Mode change, bypass, a new model). The phrase stays for display.
    pub fn stop(&mut self) {
        if let Some(p) = &self.phrase {
            self.cursor = p.events.len();
        }
        if let Some((next, _)) = self.next.take() {
            self.retire(next);
        }
    }

    pub fn is_playing(&self, time: &BlockTime) -> bool {
        match &self.phrase {
            Some(p) => p.timeline == time.timeline && self.cursor < p.events.len(),
            None => false,
        }
    }

    /// Beat where the phrase ends, if there is one on this timeline.
    pub fn end_on(&self, time: &BlockTime) -> Option<f64> {
        if let Some((next, start)) = &self.next {
            return Some(start + next.length_beats);
        }
        self.phrase
            .as_ref()
            .filter(|p| p.timeline == time.timeline)
            .map(|p| self.start + p.length_beats)
    }

    /// Emits this block's events, sorted by time. A pitch still sounding is ended before it is
    /// struck again; a note-off for a note that never started (after a jump) is skipped.
    pub fn schedule(
        &mut self,
        time: &BlockTime,
        sounding: &mut Sounding,
        max: usize,
        mut emit: impl FnMut(NoteOut),
    ) {
        let mut emitted = 0;
        self.schedule_current(time, sounding, max, &mut emitted, &mut emit);
        let done = self
            .phrase
            .as_ref()
            .is_some_and(|p| self.cursor >= p.events.len());
        if done && self.next.is_some() {
            let (next, start) = self.next.take().expect("checked");
            if let Some(old) = self.phrase.replace(next) {
                self.retire(old);
            }
            self.start = start;
            self.seek(time);
            self.schedule_current(time, sounding, max, &mut emitted, &mut emit);
        }
    }

    fn schedule_current(
        &mut self,
        time: &BlockTime,
        sounding: &mut Sounding,
        max: usize,
        emitted: &mut usize,
        emit: &mut impl FnMut(NoteOut),
    ) {
        let Some(phrase) = &self.phrase else { return };
        if phrase.timeline != time.timeline {
            return;
        }
        let channel = phrase.channel;
        while let Some(event) = phrase.events.get(self.cursor) {
            let offset = time.offset_of(self.start + event.beat);
            if offset >= time.frames as f64 || *emitted + 2 > max {
                break;
            }
            let timing = offset.max(0.0) as u32;
            if event.on {
                if sounding.contains(channel, event.pitch) {
                    emit(NoteOut {
                        timing,
                        on: false,
                        channel,
                        pitch: event.pitch,
                        velocity: 0,
                    });
                    *emitted += 1;
                }
                emit(NoteOut {
                    timing,
                    on: true,
                    channel,
                    pitch: event.pitch,
                    velocity: event.velocity,
                });
                sounding.set(channel, event.pitch, true);
                *emitted += 1;
            } else if sounding.contains(channel, event.pitch) {
                emit(NoteOut {
                    timing,
                    on: false,
                    channel,
                    pitch: event.pitch,
                    velocity: 0,
                });
                sounding.set(channel, event.pitch, false);
                *emitted += 1;
            }
            self.cursor += 1;
        }
    }
}
