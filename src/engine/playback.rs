//! The scheduler and the sounding-note table: phrase events in beats become note events at
//! sample offsets, and every generated note that sounds is known so it can be ended.

use super::clock::BlockTime;
use super::phrase::{Delays, Phrase};

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
///
/// A phrase may still be streaming: then it plays up to its ready boundary and a longer piece
/// replaces it in place ([`Playback::update`]). If the playhead reaches the boundary before the
/// next piece, playback waits there ([`Delays`]): the notes sounding are held and the rest of
/// the phrase follows from the next grid step after the notes arrive.
#[derive(Default)]
pub struct Playback {
    pub phrase: Option<Box<Phrase>>,
    /// Beat where the phrase's beat 0 falls.
    pub start: f64,
    /// Where the current phrase waited for generation.
    pub delays: Delays,
    /// Next event to play.
    cursor: usize,
    /// Stopped (mode change, bypass, new model): plays nothing more of this phrase until a
    /// jump seeks into it again.
    stopped: bool,
    /// A phrase to follow the current one seamlessly (Continuous mode), with its start.
    next: Option<(Box<Phrase>, f64)>,
    /// Phrases done with this block, for the engine to hand back for freeing (never dropped
    /// here: that would free memory on the audio thread).
    retired: [Option<Box<Phrase>>; 4],
    /// A wait begun this block: (request id, variation, phrase beat, beats), for the engine to
    /// report.
    waited: Option<(u64, u8, f64, f64)>,
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
        self.delays = Delays::default();
        self.stopped = false;
        self.seek(time);
        if let Some((next, _)) = self.next.take() {
            self.retire(next);
        }
        old
    }

    /// A longer piece of the phrase playing or queued (same request): swapped in, keeping the
    /// place. Returns the piece it replaces, or gives `piece` back if it belongs to neither
    /// (or playback was stopped).
    pub fn update(&mut self, piece: Box<Phrase>) -> Result<Box<Phrase>, Box<Phrase>> {
        let (id, variation) = (piece.request_id, piece.variation);
        if id == 0 || piece.fixed_start {
            return Err(piece);
        }
        let same = |p: &Phrase| p.request_id == id && p.variation == variation;
        if let Some((next, _)) = self.next.as_mut().filter(|(n, _)| same(n)) {
            return Ok(std::mem::replace(next, piece));
        }
        match self.phrase.as_mut() {
            Some(current) if same(current) && !self.stopped => {
                debug_assert!(piece.events.len() >= self.cursor);
                Ok(std::mem::replace(current, piece))
            }
            _ => Err(piece),
        }
    }

    /// The id of the phrase playing, if it is still streaming.
    pub fn streaming(&self) -> Option<u64> {
        self.phrase
            .as_ref()
            .filter(|p| !p.complete && !self.stopped)
            .map(|p| p.request_id)
    }

    /// Whether the phrase of request `id` (playing or queued) has all its steps.
    pub fn complete(&self, id: u64) -> bool {
        let next = self.next.as_ref().map(|(p, _)| p);
        self.phrase
            .iter()
            .chain(next)
            .any(|p| p.request_id == id && p.complete)
    }

    /// A wait begun this block, to be reported (request id, variation, phrase beat, beats).
    pub fn take_wait(&mut self) -> Option<(u64, u8, f64, f64)> {
        self.waited.take()
    }

    /// Takes the phrase out (another variation replaces it); its notes must be ended by the
    /// caller.
    pub fn take_phrase(&mut self) -> Option<Box<Phrase>> {
        self.cursor = 0;
        self.phrase.take()
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
                p.timeline == time.timeline
                    && start >= self.start + self.delays.map(p.length_beats) - 1e-9
            })
    }

    /// Queues a phrase to start when the current one has played out (see [`Self::can_follow`]).
    pub fn follow(&mut self, phrase: Box<Phrase>, start: f64) {
        self.next = Some((phrase, start));
    }

    /// After a jump: continue with the first event the playhead has not passed. Notes the
    /// playhead lands inside are not started (their note-offs are skipped by the table). A
    /// stopped phrase plays again from there (a jump back into it after a bypass).
    pub fn seek(&mut self, time: &BlockTime) {
        self.stopped = false;
        let (start, delays) = (self.start, self.delays);
        self.cursor = match &self.phrase {
            Some(p) if p.timeline == time.timeline => p
                .events
                .partition_point(|e| time.offset_of(start + delays.map(e.beat)) < 0.0),
            Some(p) => p.events.len(),
            None => 0,
        };
    }

    /// Stops playing (a Mode change, bypass, a new model). The phrase stays for display.
    pub fn stop(&mut self) {
        if let Some(p) = &self.phrase {
            self.cursor = p.events.len();
        }
        self.stopped = true;
        if let Some((next, _)) = self.next.take() {
            self.retire(next);
        }
    }

    /// Whether the phrase has more to play on this timeline (including steps still being
    /// generated).
    pub fn is_playing(&self, time: &BlockTime) -> bool {
        match &self.phrase {
            Some(p) => {
                !self.stopped
                    && p.timeline == time.timeline
                    && (self.cursor < p.events.len() || !p.complete)
            }
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
            .map(|p| self.start + self.delays.map(p.length_beats))
    }

    /// Where the steps generated so far end (absolute beats), if a phrase is streaming.
    pub fn ready_until(&self) -> Option<f64> {
        let p = self.phrase.as_ref()?;
        Some(self.start + self.delays.map(p.ready_beats().min(p.length_beats)))
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
            .is_some_and(|p| p.complete && self.cursor >= p.events.len());
        if done && self.next.is_some() {
            let (next, start) = self.next.take().expect("checked");
            if let Some(old) = self.phrase.replace(next) {
                self.retire(old);
            }
            self.start = start;
            self.delays = Delays::default();
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
        if phrase.timeline != time.timeline || self.stopped {
            return;
        }
        let channel = phrase.channel;
        // A note-on this late (a piece that arrived after its time, past a jump) is not started;
        // a note-off is always played, so nothing is left sounding.
        let late = -0.5 * phrase.grid.step_beats() / time.beats_per_sample().max(1e-12);
        while let Some(event) = phrase.events.get(self.cursor) {
            let offset = time.offset_of(self.start + self.delays.map(event.beat));
            if offset >= time.frames as f64 || *emitted + 2 > max {
                break;
            }
            let timing = offset.max(0.0) as u32;
            if event.on && offset < late {
                // Skipped.
            } else if event.on {
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
        // Everything ready has played and the next steps are not here: wait at the boundary if
        // the playhead reaches it in this block, so the phrase goes on from the next grid step
        // after they arrive (the notes sounding are held meanwhile).
        if !phrase.complete && self.cursor >= phrase.events.len() {
            let ready = phrase.ready_beats();
            let at = self.start + self.delays.map(ready);
            let offset = time.offset_of(at);
            if (0.0..time.frames as f64).contains(&offset) {
                let step = phrase.grid.step_beats();
                let by = ((time.end() - at) / step).ceil().max(1.0) * step;
                self.delays.add(ready, by);
                let (id, v) = (phrase.request_id, phrase.variation);
                self.waited = Some(match self.waited {
                    Some((i, w, from, b)) if i == id && w == v && from == ready => {
                        (id, v, ready, b + by)
                    }
                    _ => (id, v, ready, by),
                });
            }
        }
    }
}
