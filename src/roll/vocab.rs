//! The chord vocabulary: token ids for the model, most frequent chord first.

use std::collections::HashMap;

use super::Chord;

/// Id of the silent step.
pub const REST_ID: u32 = 0;
/// Id of "a chord outside the vocabulary" (training targets only; live input is mapped to its
/// nearest chord instead, so no input is ever dropped).
pub const UNK_ID: u32 = 1;
const RESERVED: usize = 2;

/// How large a vocabulary to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VocabOptions {
    /// Total ids including REST and UNK; `None` keeps every chord that passes `min_count`.
    pub max_vocab: Option<usize>,
    /// Chords seen fewer times than this are left out.
    pub min_count: usize,
}

impl Default for VocabOptions {
    fn default() -> Self {
        Self {
            max_vocab: Some(4096),
            min_count: 1,
        }
    }
}

/// Ids ⇄ chords. Id 0 is REST, id 1 is UNK, then chords by falling corpus frequency (ties in
/// chord order, so the same corpus always gives the same ids).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "VocabRepr", into = "VocabRepr")]
pub struct Vocab {
    onsets: bool,
    /// `chords[id]`; the reserved ids hold REST.
    chords: Vec<Chord>,
    index: HashMap<Chord, u32>,
}

/// What a model file stores: the chords of the non-reserved ids, in id order.
#[derive(serde::Serialize, serde::Deserialize)]
struct VocabRepr {
    onsets: bool,
    chords: Vec<Chord>,
}

impl From<VocabRepr> for Vocab {
    fn from(repr: VocabRepr) -> Self {
        Vocab::from_chords(repr.chords, repr.onsets)
    }
}

impl From<Vocab> for VocabRepr {
    fn from(vocab: Vocab) -> Self {
        VocabRepr {
            onsets: vocab.onsets,
            chords: vocab.chords[RESERVED..].to_vec(),
        }
    }
}

impl Vocab {
    /// Builds a vocabulary from every step of a corpus.
    pub fn build<'a>(
        steps: impl IntoIterator<Item = &'a Chord>,
        onsets: bool,
        options: VocabOptions,
    ) -> Self {
        let mut counts: HashMap<Chord, usize> = HashMap::new();
        for chord in steps {
            let chord = if onsets {
                *chord
            } else {
                chord.without_onsets()
            };
            if !chord.is_rest() {
                *counts.entry(chord).or_default() += 1;
            }
        }
        let mut ranked: Vec<(Chord, usize)> = counts
            .into_iter()
            .filter(|(_, n)| *n >= options.min_count.max(1))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if let Some(max) = options.max_vocab {
            ranked.truncate(max.saturating_sub(RESERVED));
        }
        Self::from_chords(ranked.into_iter().map(|(c, _)| c).collect(), onsets)
    }

    /// A vocabulary whose ids 2.. are `chords` in order (duplicates and rests are dropped).
    pub fn from_chords(chords: Vec<Chord>, onsets: bool) -> Self {
        let mut all = vec![Chord::REST; RESERVED];
        let mut index = HashMap::with_capacity(chords.len() + 1);
        index.insert(Chord::REST, REST_ID);
        for chord in chords {
            let chord = if onsets {
                chord
            } else {
                chord.without_onsets()
            };
            if !chord.is_rest() && !index.contains_key(&chord) {
                index.insert(chord, all.len() as u32);
                all.push(chord);
            }
        }
        Self {
            onsets,
            chords: all,
            index,
        }
    }

    /// Number of ids, REST and UNK included: the model's output size.
    pub fn len(&self) -> usize {
        self.chords.len()
    }
    pub fn is_empty(&self) -> bool {
        self.chords.len() <= RESERVED
    }
    /// Whether the tokens carry struck marks.
    pub fn onsets(&self) -> bool {
        self.onsets
    }
    /// The chord of an id; REST for UNK and for ids out of range.
    pub fn chord(&self, id: u32) -> Chord {
        if id == UNK_ID {
            return Chord::REST;
        }
        self.chords.get(id as usize).copied().unwrap_or(Chord::REST)
    }
    /// The id of a chord, or UNK when the vocabulary lacks it.
    pub fn id(&self, chord: &Chord) -> u32 {
        let chord = self.normalise(chord);
        self.index.get(&chord).copied().unwrap_or(UNK_ID)
    }
    /// Whether the chord has an id of its own.
    pub fn contains(&self, chord: &Chord) -> bool {
        self.index.contains_key(&self.normalise(chord))
    }

    /// The id of a chord, or of the nearest chord in the vocabulary when it lacks it (never UNK).
    ///
    /// The distance between the wanted chord `q` and a candidate `c` is, in this order of weight:
    /// - 16 if their bass notes have different pitch classes, plus 1 per octave they differ
    ///   (the bass carries the harmony's function, so it is kept first);
    /// - 4 per pitch class in one and not the other (the harmony);
    /// - 2 per pitch struck in one and not the other, among the pitches both sound (the rhythm);
    /// - 1 per pitch in one and not the other (the voicing).
    ///
    /// Ties go to the more frequent chord (the lower id). A rest maps to REST; a sounding chord
    /// maps to REST only if the vocabulary has no chord at all.
    pub fn nearest_id(&self, chord: &Chord) -> u32 {
        let q = self.normalise(chord);
        if let Some(&id) = self.index.get(&q) {
            return id;
        }
        let mut best = (u32::MAX, REST_ID);
        for (id, c) in self.chords.iter().enumerate().skip(RESERVED) {
            let d = chord_distance(&q, c);
            if d < best.0 {
                best = (d, id as u32);
            }
        }
        best.1
    }

    /// Every chord with an id, in id order (REST twice: for REST and UNK).
    pub fn chords(&self) -> &[Chord] {
        &self.chords
    }

    fn normalise(&self, chord: &Chord) -> Chord {
        if self.onsets {
            *chord
        } else {
            chord.without_onsets()
        }
    }
}

/// See [`Vocab::nearest_id`].
pub(crate) fn chord_distance(q: &Chord, c: &Chord) -> u32 {
    let bass = match (q.bass(), c.bass()) {
        (Some(a), Some(b)) => {
            let class = if a % 12 != b % 12 { 16 } else { 0 };
            class + (a as i32 / 12 - b as i32 / 12).unsigned_abs()
        }
        (None, None) => 0,
        _ => 64,
    };
    let classes = (q.pitch_classes() ^ c.pitch_classes()).count_ones() * 4;
    let common = q.sounding_mask() & c.sounding_mask();
    let struck = ((q.struck_mask() ^ c.struck_mask()) & common).count_ones() * 2;
    let voicing = (q.sounding_mask() ^ c.sounding_mask()).count_ones();
    bass + classes + struck + voicing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Chord {
        s.parse().unwrap()
    }

    #[test]
    fn ids_follow_frequency() {
        let steps = [
            c("60"),
            c("60"),
            c("*64"),
            c("60"),
            c("*64"),
            c("67"),
            Chord::REST,
        ];
        let v = Vocab::build(&steps, true, VocabOptions::default());
        assert_eq!(v.len(), 5);
        assert_eq!(v.id(&c("60")), 2);
        assert_eq!(v.id(&c("*64")), 3);
        assert_eq!(v.id(&c("67")), 4);
        assert_eq!(v.id(&Chord::REST), REST_ID);
        assert_eq!(v.id(&c("61")), UNK_ID);
        assert_eq!(v.chord(UNK_ID), Chord::REST);
    }

    #[test]
    fn caps_apply() {
        let steps = [c("60"), c("60"), c("62"), c("64")];
        let v = Vocab::build(
            &steps,
            true,
            VocabOptions {
                max_vocab: Some(3),
                min_count: 1,
            },
        );
        assert_eq!(v.len(), 3);
        let v = Vocab::build(
            &steps,
            true,
            VocabOptions {
                max_vocab: None,
                min_count: 2,
            },
        );
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn plain_vocab_ignores_struck_marks() {
        let steps = [c("*60"), c("60")];
        let v = Vocab::build(&steps, false, VocabOptions::default());
        assert_eq!(v.len(), 3);
        assert_eq!(v.id(&c("*60")), v.id(&c("60")));
    }

    #[test]
    fn nearest_keeps_bass_then_classes_then_struck() {
        let v = Vocab::from_chords(
            vec![
                c("*50,*65,*69"),
                c("*48,*64,*67"),
                c("*48,*52,*55"),
                c("48,64,67"),
            ],
            true,
        );
        // C major in another voicing: same bass, same classes → the C chord with the closest voicing.
        assert_eq!(
            v.chord(v.nearest_id(&c("*48,*55,*64"))).to_string(),
            "*48,*64,*67"
        );
        // Held C major prefers the held token.
        assert_eq!(
            v.chord(v.nearest_id(&c("48,55,64"))).to_string(),
            "48,64,67"
        );
        // A D in the bass keeps the D-bass chord even though it shares fewer pitches.
        assert_eq!(
            v.chord(v.nearest_id(&c("*38,*62,*65"))).to_string(),
            "*50,*65,*69"
        );
        assert_eq!(v.nearest_id(&Chord::REST), REST_ID);
    }

    #[test]
    fn serde_round_trip() {
        let v = Vocab::from_chords(vec![c("*60,64"), c("67")], true);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"{"onsets":true,"chords":["*60,64","67"]}"#);
        let back: Vocab = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
    }
}
