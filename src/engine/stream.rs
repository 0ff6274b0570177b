//! A phrase as it streams out of the inference thread: the chords so far, when to send the next
//! piece, and the note budget the audio thread's buffers allow.
//!
//! The first piece goes out after the first step, so a phrase can be scheduled a millisecond or
//! so after the press; later pieces go out every [`SEND_EVERY`] of wall time, or when the phrase
//! is complete. Each piece is the whole phrase so far ([`Phrase::partial`]): the audio thread
//! swaps it in and keeps its place, and frees the old one through the inference thread.

use std::time::{Duration, Instant};

use super::phrase::{Phrase, Timeline};
use super::snapshot::MAX_PHRASE_NOTES;
use super::worker::Request;
use crate::roll::{Chord, Grid};

/// Wall time between two pieces of one phrase. Short against a grid step (125 ms at 120 BPM), so
/// a phrase generated faster than real time is always ready well ahead of the playhead.
pub const SEND_EVERY: Duration = Duration::from_millis(4);

/// Collects one request's chords and cuts them into pieces.
pub struct PhraseBuilder {
    variation: u8,
    id: u64,
    timeline: Timeline,
    start: f64,
    quantize_beats: f64,
    grid: Grid,
    velocity: u8,
    channel: u8,
    planned: usize,
    chords: Vec<Chord>,
    notes: usize,
    last_sent: Option<Instant>,
    sent_steps: usize,
    sent_final: bool,
}

impl PhraseBuilder {
    /// A builder for variation `variation` (0-based) of `request`.
    pub fn new(request: &Request, grid: Grid, variation: u8) -> Self {
        Self {
            variation,
            id: request.id,
            timeline: request.timeline,
            start: request.start,
            quantize_beats: request.quantize_beats,
            grid,
            velocity: request.velocity,
            channel: request.channel,
            planned: request.steps,
            chords: Vec::with_capacity(request.steps),
            notes: 0,
            last_sent: None,
            sent_steps: 0,
            sent_final: false,
        }
    }

    /// Adds the next generated chord. Returns false once the phrase is full: its planned length,
    /// or as many notes as the engine's buffers hold (the phrase then ends before that chord).
    pub fn push(&mut self, chord: Chord) -> bool {
        if self.chords.len() >= self.planned {
            return false;
        }
        let previous = self.chords.last().map_or(0, Chord::sounding_mask);
        // A note starts where a key is struck, or sounds without having sounded the step before
        // (the rule of `roll_to_notes`).
        let starts = chord.sounding_mask() & (chord.struck_mask() | !previous);
        let notes = self.notes + starts.count_ones() as usize;
        if notes > MAX_PHRASE_NOTES {
            self.planned = self.chords.len();
            return false;
        }
        self.notes = notes;
        self.chords.push(chord);
        self.chords.len() < self.planned
    }

    /// Steps generated so far.
    pub fn ready(&self) -> usize {
        self.chords.len()
    }

    /// Whether every planned step is here.
    pub fn is_complete(&self) -> bool {
        self.chords.len() >= self.planned
    }

    /// Ends the phrase where it is (superseded, or generation failed): what was generated plays,
    /// and every note it holds ends at the last step.
    pub fn finish_here(&mut self) {
        self.planned = self.chords.len();
    }

    /// Whether a piece is due now: the first step, the complete phrase, or [`SEND_EVERY`] since
    /// the last piece with something new.
    pub fn due(&self, now: Instant) -> bool {
        if self.sent_final {
            return false;
        }
        if self.is_complete() {
            return true;
        }
        self.chords.len() > self.sent_steps
            && self
                .last_sent
                .is_none_or(|at| now.duration_since(at) >= SEND_EVERY)
    }

    /// The phrase so far, and marks it sent.
    pub fn piece(&mut self, now: Instant) -> Phrase {
        self.last_sent = Some(now);
        self.sent_steps = self.chords.len();
        self.sent_final = self.is_complete();
        let mut phrase = Phrase::partial(
            self.id,
            self.timeline,
            self.start,
            self.quantize_beats,
            self.grid,
            self.chords.clone(),
            self.planned,
            self.velocity,
            self.channel,
        );
        phrase.variation = self.variation;
        phrase
    }

    /// Whether the last piece sent was the complete phrase.
    pub fn sent_complete(&self) -> bool {
        self.sent_final
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::controls::Controls;
    use crate::engine::snapshot::MAX_CONTEXT_STEPS;
    use crate::engine::worker::BarPlacement;

    fn request(steps: usize) -> Request {
        Request {
            id: 5,
            context: [Chord::REST; MAX_CONTEXT_STEPS],
            context_len: 0,
            steps,
            temperature: 1.0,
            controls: Controls::default(),
            seed: 1,
            velocity: 90,
            channel: 0,
            start: 4.0,
            quantize_beats: 0.25,
            timeline: Timeline::Host,
            placement: BarPlacement::default(),
            variations: 1,
            chosen: 0,
            continuous: false,
            first_step: 16,
            heard_through: 0,
        }
    }

    #[test]
    fn first_step_is_sent_at_once_then_pieces_until_complete() {
        let mut b = PhraseBuilder::new(&request(3), Grid::default(), 0);
        let t0 = Instant::now();
        assert!(!b.due(t0));
        assert!(b.push("*60".parse().unwrap()));
        assert!(b.due(t0));
        let first = b.piece(t0);
        assert_eq!((first.ready_steps(), first.complete), (1, false));
        assert!(b.push("60".parse().unwrap()));
        assert!(!b.due(t0), "a second piece waits for SEND_EVERY");
        assert!(b.due(t0 + SEND_EVERY));
        assert!(
            !b.push("*62".parse().unwrap()),
            "full after the planned steps"
        );
        assert!(b.due(t0), "the complete phrase goes at once");
        let last = b.piece(t0);
        assert!(last.complete && b.sent_complete());
        assert_eq!(last.notes.len(), 2);
        assert!(!b.due(t0 + SEND_EVERY * 10));
    }

    #[test]
    fn superseded_phrase_ends_where_it_is() {
        let mut b = PhraseBuilder::new(&request(64), Grid::default(), 0);
        b.push("*60,*64".parse().unwrap());
        b.push("60,64".parse().unwrap());
        b.finish_here();
        assert!(b.due(Instant::now()));
        let p = b.piece(Instant::now());
        assert!(p.complete);
        assert_eq!(p.length_beats, 0.5);
        assert_eq!(p.events.iter().filter(|e| !e.on).count(), 2);
    }

    #[test]
    fn note_budget_ends_the_phrase() {
        let mut b = PhraseBuilder::new(&request(100_000), Grid::default(), 0);
        let chord = Chord::struck_from(&[40, 50, 60, 70]);
        let mut pushed = 0;
        while b.push(chord) {
            pushed += 1;
        }
        assert_eq!(pushed, MAX_PHRASE_NOTES / 4);
        assert!(b.is_complete());
        assert_eq!(b.piece(Instant::now()).notes.len(), MAX_PHRASE_NOTES);
    }
}
