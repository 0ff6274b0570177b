//! The variations of one press on the audio thread. The one playing lives in
//! [`super::playback::Playback`]; the others wait here, boxed, so choosing one swaps it in
//! without allocating. All variations of a press start at the same beat.

use super::phrase::{Phrase, MAX_VARIATIONS};

/// The press the variations answer, where they start, and the ones not playing.
#[derive(Default)]
pub struct Take {
    /// The request they answer (0 for a project's restored phrases); None before any.
    id: Option<u64>,
    /// Where they start, once the first of them has arrived.
    pub start: Option<f64>,
    slots: [Option<Box<Phrase>>; MAX_VARIATIONS],
}

impl Take {
    pub fn id(&self) -> Option<u64> {
        self.id
    }

    /// Starts a new take for request `id`; the old one's waiting phrases go to `free`.
    pub fn begin(&mut self, id: u64, start: Option<f64>, mut free: impl FnMut(Box<Phrase>)) {
        for slot in &mut self.slots {
            if let Some(old) = slot.take() {
                free(old);
            }
        }
        self.id = Some(id);
        self.start = start;
    }

    /// Keeps a variation that is not playing (a newer piece replaces an older one); returns
    /// the replaced box, to be freed elsewhere.
    pub fn store(&mut self, phrase: Box<Phrase>) -> Option<Box<Phrase>> {
        let slot = phrase.variation as usize % MAX_VARIATIONS;
        self.slots[slot].replace(phrase)
    }

    /// Takes variation `variation` out, if it has arrived.
    pub fn take(&mut self, variation: u8) -> Option<Box<Phrase>> {
        self.slots[variation as usize % MAX_VARIATIONS].take()
    }

    /// Whether variation `variation` is waiting here.
    pub fn has(&self, variation: u8) -> bool {
        self.slots[variation as usize % MAX_VARIATIONS].is_some()
    }

    /// Which variations are waiting here, one bit each.
    pub fn waiting_mask(&self) -> u8 {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .fold(0, |mask, (i, _)| mask | 1 << i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::phrase::Timeline;
    use crate::roll::{Chord, Grid};

    fn phrase(id: u64, variation: u8) -> Box<Phrase> {
        let mut p = Phrase::from_chords(
            id,
            Timeline::Host,
            0.0,
            0.25,
            Grid::default(),
            vec![Chord::struck_from(&[60])],
            90,
            0,
        );
        p.variation = variation;
        Box::new(p)
    }

    #[test]
    fn variations_wait_and_a_new_take_frees_the_old_one() {
        let mut take = Take::default();
        take.begin(1, Some(4.0), |_| panic!("nothing to free"));
        assert!(take.store(phrase(1, 2)).is_none());
        assert!(take.store(phrase(1, 5)).is_none());
        assert_eq!(take.waiting_mask(), 0b100100);
        assert!(
            take.store(phrase(1, 2)).is_some(),
            "a newer piece replaces the older"
        );
        assert_eq!(take.take(2).unwrap().variation, 2);
        assert!(!take.has(2));
        let mut freed = 0;
        take.begin(2, None, |_| freed += 1);
        assert_eq!((freed, take.id(), take.start), (1, Some(2), None));
    }
}
