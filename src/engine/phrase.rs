//! A generated phrase: the model's chords turned into note-on/note-off events in beats, ready for
//! the scheduler, plus the form in which it is saved with the project.
//!
//! A phrase streams: the inference thread sends it again each time more steps are ready (see
//! [`Phrase::partial`]). A partial phrase holds only the events before its ready boundary, and
//! those never change as it grows, so the audio thread can swap in the longer one and keep its
//! place. [`Delays`] records where playback had to wait for a phrase that fell behind.

use crate::midi::Note;

/// Most variations one press can ask for (the Variations parameter's range).
pub const MAX_VARIATIONS: usize = 8;
use crate::roll::{notes_to_roll, roll_to_notes, Chord, Grid};

/// Which clock a phrase's beats count on. The host's timeline while its transport plays; our own
/// free-running clock while it is stopped. A phrase only plays on the clock it was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timeline {
    #[default]
    Host,
    Internal,
}

/// One scheduled MIDI event of a phrase, relative to the phrase start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhraseEvent {
    /// Beats after the phrase start.
    pub beat: f64,
    pub on: bool,
    pub pitch: u8,
    pub velocity: u8,
}

/// A phrase as the inference thread hands it to the audio thread (boxed, so moving it through a
/// queue never copies or allocates; the audio thread sends the box back to be freed).
#[derive(Debug, Clone, PartialEq)]
pub struct Phrase {
    /// The request this answers (0 for a phrase restored from the project).
    pub request_id: u64,
    pub timeline: Timeline,
    /// Where the request wanted it to start. The audio thread starts it there, or at the next
    /// quantize point if inference came back later than that.
    pub wanted_start: f64,
    /// Quantize step in beats used when the phrase must be moved later (see `wanted_start`).
    pub quantize_beats: f64,
    /// True for a restored phrase, which keeps its saved start whatever the time.
    pub fixed_start: bool,
    pub grid: Grid,
    /// One chord per step (the model's output; fed back as context in Continuous mode).
    pub chords: Vec<Chord>,
    /// Notes relative to the phrase start.
    pub notes: Vec<Note>,
    /// Note-ons and note-offs relative to the start, sorted by beat, offs before ons.
    pub events: Vec<PhraseEvent>,
    /// Length in beats (the last step's end, even when it is a rest). For a partial phrase, the
    /// length it will have when it is complete.
    pub length_beats: f64,
    /// Output channel 0..=15.
    pub channel: u8,
    /// All steps are here: every note-on has its note-off.
    pub complete: bool,
    /// Which of the request's variations this is (0-based).
    pub variation: u8,
}

impl Phrase {
    /// Builds a phrase from generated chords: held pitches become one note, struck pitches start a
    /// new one (the grid's rule, see [`roll_to_notes`]).
    #[allow(clippy::too_many_arguments)]
    pub fn from_chords(
        request_id: u64,
        timeline: Timeline,
        wanted_start: f64,
        quantize_beats: f64,
        grid: Grid,
        chords: Vec<Chord>,
        velocity: u8,
        channel: u8,
    ) -> Self {
        let notes = roll_to_notes(&chords, grid, 0.0, velocity.clamp(1, 127));
        let length_beats = grid.step_to_beats(chords.len() as u64);
        Self::assemble(
            request_id,
            timeline,
            wanted_start,
            quantize_beats,
            false,
            grid,
            chords,
            notes,
            length_beats,
            channel,
        )
    }

    /// The first `chords.len()` steps of a phrase of `planned_steps`, as it streams: the notes so
    /// far (those still sounding end at the ready boundary, for display) and every event before
    /// the boundary. A note-off at the boundary waits for the next step, which says whether the
    /// key is held on.
    #[allow(clippy::too_many_arguments)]
    pub fn partial(
        request_id: u64,
        timeline: Timeline,
        wanted_start: f64,
        quantize_beats: f64,
        grid: Grid,
        chords: Vec<Chord>,
        planned_steps: usize,
        velocity: u8,
        channel: u8,
    ) -> Self {
        let ready_steps = chords.len();
        let mut phrase = Self::from_chords(
            request_id,
            timeline,
            wanted_start,
            quantize_beats,
            grid,
            chords,
            velocity,
            channel,
        );
        if ready_steps < planned_steps {
            let ready = phrase.ready_beats();
            phrase.events.retain(|e| e.beat < ready - 1e-9);
            phrase.length_beats = grid.step_to_beats(planned_steps as u64);
            phrase.complete = false;
        }
        phrase
    }

    /// Where the steps generated so far end, in beats after the start.
    pub fn ready_beats(&self) -> f64 {
        self.grid.step_to_beats(self.ready_steps() as u64)
    }

    /// Steps generated so far; the events before the start of the next one are final.
    pub fn ready_steps(&self) -> usize {
        self.chords.len()
    }

    /// Builds a phrase from notes saved with a project (absolute beats), to be played where it
    /// was.
    pub fn restored(saved: &SavedPhrase, grid: Grid) -> Self {
        let start = saved.start_beats;
        let notes: Vec<Note> = saved
            .notes
            .iter()
            .map(|n| Note {
                start_beats: n.start_beats - start,
                end_beats: n.end_beats - start,
                ..*n
            })
            .collect();
        let chords = notes_to_roll(&notes, grid).steps;
        let length_beats = saved
            .length_beats
            .max(notes.iter().map(|n| n.end_beats).fold(0.0, f64::max));
        let mut phrase = Self::assemble(
            0,
            saved.timeline,
            start,
            grid.step_beats(),
            true,
            grid,
            chords,
            notes,
            length_beats,
            saved.channel.min(15),
        );
        phrase.variation = saved.variation.min(MAX_VARIATIONS as u8 - 1);
        phrase
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        request_id: u64,
        timeline: Timeline,
        wanted_start: f64,
        quantize_beats: f64,
        fixed_start: bool,
        grid: Grid,
        chords: Vec<Chord>,
        notes: Vec<Note>,
        length_beats: f64,
        channel: u8,
    ) -> Self {
        let mut events = Vec::with_capacity(notes.len() * 2);
        for n in &notes {
            events.push(PhraseEvent {
                beat: n.start_beats,
                on: true,
                pitch: n.pitch,
                velocity: n.velocity,
            });
            events.push(PhraseEvent {
                beat: n.end_beats,
                on: false,
                pitch: n.pitch,
                velocity: 0,
            });
        }
        // Offs before ons at the same beat, so a repeated pitch is released before it is struck.
        events.sort_by(|a, b| {
            a.beat
                .total_cmp(&b.beat)
                .then(a.on.cmp(&b.on))
                .then(a.pitch.cmp(&b.pitch))
        });
        Self {
            request_id,
            timeline,
            wanted_start,
            quantize_beats,
            fixed_start,
            grid,
            complete: true,
            variation: 0,
            chords,
            notes,
            events,
            length_beats,
            channel,
        }
    }

    /// The saved form of this phrase started at `start` beats, as it played: with the waits in
    /// `delays`.
    pub fn to_saved(&self, start: f64, delays: &Delays) -> SavedPhrase {
        SavedPhrase {
            start_beats: start,
            length_beats: delays.map(self.length_beats),
            timeline: self.timeline,
            channel: self.channel,
            variation: self.variation,
            notes: self
                .notes
                .iter()
                .map(|n| Note {
                    start_beats: delays.map(n.start_beats) + start,
                    end_beats: delays.map(n.end_beats) + start,
                    ..*n
                })
                .collect(),
        }
    }
}

/// Where a streaming phrase's playback waited because generation fell behind the playhead: from
/// each recorded beat of the phrase on, everything is later by that many beats. Notes sounding
/// at a wait are held through it. A fixed array, so the audio thread can add to it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Delays {
    /// (phrase beat, delay in beats), in increasing beat order.
    waits: [(f64, f64); Delays::CAPACITY],
    len: usize,
}

impl Delays {
    const CAPACITY: usize = 16;

    /// Where a phrase beat plays after the waits.
    pub fn map(&self, beat: f64) -> f64 {
        beat + self.waits[..self.len]
            .iter()
            .filter(|(from, _)| beat >= *from - 1e-9)
            .map(|(_, by)| by)
            .sum::<f64>()
    }

    /// Everything from `from` on plays `by` beats later. `from` is never before an earlier
    /// wait's (playback only waits at the growing ready boundary); past the capacity a wait is
    /// merged into the last one, which only moves notes that have already played.
    pub fn add(&mut self, from: f64, by: f64) {
        match self.waits[..self.len].last_mut() {
            Some(last) if (last.0 - from).abs() < 1e-9 || self.len == Self::CAPACITY => {
                last.1 += by
            }
            _ => {
                self.waits[self.len] = (from, by);
                self.len += 1;
            }
        }
    }

    /// How many beats of waiting in all.
    pub fn total(&self) -> f64 {
        self.waits[..self.len].iter().map(|(_, by)| by).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The last generated phrase as saved with the project: notes in absolute beats of its timeline.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SavedPhrase {
    pub start_beats: f64,
    pub length_beats: f64,
    pub timeline: Timeline,
    /// Output channel 0..=15.
    pub channel: u8,
    /// Which variation of its press it is (0-based; projects from before variations have 0).
    #[serde(default)]
    pub variation: u8,
    pub notes: Vec<Note>,
}

impl SavedPhrase {
    /// Why this phrase cannot be used, if it cannot (restored state is untrusted input).
    pub fn problem(&self) -> Option<String> {
        let finite = |x: f64| x.is_finite() && x.abs() < 1e9;
        if !finite(self.start_beats) || !finite(self.length_beats) || self.length_beats < 0.0 {
            return Some(format!(
                "bad start {} or length {}",
                self.start_beats, self.length_beats
            ));
        }
        if self.channel > 15 {
            return Some(format!("channel {} out of range", self.channel));
        }
        if self.variation as usize >= MAX_VARIATIONS {
            return Some(format!("variation {} out of range", self.variation + 1));
        }
        if self.notes.len() > super::snapshot::MAX_PHRASE_NOTES {
            return Some(format!(
                "{} notes, more than {}",
                self.notes.len(),
                super::snapshot::MAX_PHRASE_NOTES
            ));
        }
        self.notes.iter().find_map(|n| {
            let ok = n.pitch <= 127
                && (1..=127).contains(&n.velocity)
                && finite(n.start_beats)
                && finite(n.end_beats)
                && n.end_beats > n.start_beats
                && n.start_beats >= self.start_beats;
            (!ok).then(|| format!("bad note {n:?}"))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_release_before_restrike() {
        let grid = Grid::default();
        let chords = vec![
            Chord::struck_from(&[60]),
            Chord::struck_from(&[60]),
            Chord::held_from(&[60]),
            Chord::REST,
        ];
        let p = Phrase::from_chords(1, Timeline::Host, 4.0, 0.25, grid, chords, 90, 0);
        let ev: Vec<(f64, bool)> = p.events.iter().map(|e| (e.beat, e.on)).collect();
        assert_eq!(
            ev,
            vec![(0.0, true), (0.25, false), (0.25, true), (0.75, false)]
        );
        assert_eq!(p.length_beats, 1.0);
    }

    #[test]
    fn saved_round_trip_keeps_notes() {
        let grid = Grid::default();
        let chords = vec![
            Chord::struck_from(&[60, 64]),
            Chord::held_from(&[60]),
            Chord::struck_from(&[67]),
        ];
        let p = Phrase::from_chords(1, Timeline::Host, 8.0, 0.25, grid, chords.clone(), 90, 2);
        let saved = p.to_saved(8.0, &Delays::default());
        assert!(saved.problem().is_none());
        let back = Phrase::restored(&saved, grid);
        assert_eq!(back.notes, p.notes);
        assert_eq!(back.chords, chords);
        assert_eq!(back.wanted_start, 8.0);
        assert_eq!(back.channel, 2);
    }

    /// Every partial phrase's events are exactly the complete phrase's events before its ready
    /// boundary, so the audio thread can swap in a longer one and keep its place.
    #[test]
    fn partial_phrases_are_prefixes_of_the_complete_one() {
        let grid = Grid::default();
        let chords: Vec<Chord> = ["*60,*64", "60,64", "*60,67", "REST", "*48", "48,*72", "*48"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let full = Phrase::from_chords(3, Timeline::Host, 0.0, 0.25, grid, chords.clone(), 90, 0);
        for ready in 1..chords.len() {
            let part = Phrase::partial(
                3,
                Timeline::Host,
                0.0,
                0.25,
                grid,
                chords[..ready].to_vec(),
                chords.len(),
                90,
                0,
            );
            assert!(!part.complete);
            assert_eq!(part.length_beats, full.length_beats);
            let boundary = grid.step_to_beats(ready as u64);
            let before: Vec<_> = full
                .events
                .iter()
                .filter(|e| e.beat < boundary - 1e-9)
                .copied()
                .collect();
            assert_eq!(part.events, before, "ready {ready}");
        }
        let last = Phrase::partial(3, Timeline::Host, 0.0, 0.25, grid, chords, 7, 90, 0);
        assert!(last.complete);
        assert_eq!(last, full);
    }

    #[test]
    fn delays_move_what_follows_a_wait() {
        let mut d = Delays::default();
        assert_eq!(d.map(3.0), 3.0);
        d.add(1.0, 0.25);
        d.add(1.0, 0.25);
        d.add(2.0, 1.0);
        assert_eq!(d.map(0.5), 0.5);
        assert_eq!(d.map(1.0), 1.5);
        assert_eq!(d.map(2.0), 3.5);
        assert_eq!(d.total(), 1.5);
        for i in 0..40 {
            d.add(3.0 + i as f64, 0.25);
        }
        assert_eq!(d.total(), 1.5 + 40.0 * 0.25);
    }

    #[test]
    fn garbage_saved_phrase_is_refused() {
        let mut s = SavedPhrase {
            notes: vec![Note {
                pitch: 60,
                start_beats: 1.0,
                end_beats: 0.5,
                velocity: 80,
            }],
            ..Default::default()
        };
        assert!(s.problem().is_some());
        s.notes[0].end_beats = 2.0;
        assert!(s.problem().is_none());
        s.start_beats = f64::NAN;
        assert!(s.problem().is_some());
    }
}
