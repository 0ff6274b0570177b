//! Continuous mode on the step model's running state: one session hears the player and its own
//! output as they happen and samples each step a few steps ahead of the playhead, phrase after
//! phrase, without replaying a context window.
//!
//! The step it samples must be ready before the playhead gets there, so it is sampled before the
//! player's input of the last few steps is known: those steps are heard as the model's own
//! output only. When the audio thread reports what the player played in a step
//! ([`super::worker::Notice::Heard`]), that step is heard again with the player's notes merged
//! in: the confirmed state moves on by one step, and the next sample starts from it and re-hears
//! the few unconfirmed steps. What was already sent to play never changes.

use std::collections::VecDeque;
use std::sync::Arc;

use super::controls::Controls;
use super::worker::BarPlacement;
use crate::model::step::{chord_of, keys_of, Meter, StepModel, StepSampling, StepState};
use crate::roll::Chord;

/// How many steps ahead of the playhead Continuous mode samples: the step it samples hears the
/// player up to this many steps before it. Three 16ths are 375 ms at 120 BPM, room for two
/// host blocks of 4096 samples and the queues.
pub const LOOKAHEAD_STEPS: i64 = 3;

/// A session on a model's running state (see the module docs). Host steps count on the host's
/// timeline in grid steps (beat × steps per beat).
pub trait RunningGenerator: Send {
    /// Starts over: hears `context` (oldest first), which ends just before host step `first`
    /// and begins `placement.first_step_in_bar` steps into a bar. The player is heard up to
    /// host step `heard_through`; the context's steps after it are the model's own output so
    /// far, heard again when the player's part of them is reported.
    fn start(&mut self, context: &[Chord], placement: BarPlacement, first: i64, heard_through: i64);
    /// Whether the session leads up to host step `first` (the next phrase follows it there).
    fn continues_at(&self, first: i64) -> bool;
    /// The controls for the steps sampled from now on; `heard` is what the player played
    /// (Follow key leans toward its pitch classes).
    fn set_sampling(&mut self, temperature: f32, controls: &Controls, heard: &[Chord]);
    /// What the player played in host step `step` (steps come in order; one already heard is
    /// ignored). Returns false for a jump (a step far from where the session is).
    fn hear(&mut self, step: i64, chord: Chord) -> bool;
    /// The last host step whose player input is heard.
    fn heard_through(&self) -> i64;
    /// Samples host step `step` (after every step sampled so far).
    fn sample(&mut self, step: i64) -> Chord;
}

/// The step model's session.
pub struct StepRunning {
    model: Arc<StepModel>,
    meter: Meter,
    /// A host step that begins a bar.
    bar_origin: i64,
    /// Everything before `next` heard for good.
    confirmed: StepState,
    next: i64,
    /// The model's own output for the steps from `next` on, in order.
    own: VecDeque<Chord>,
    /// The generator the samples draw from (the trial copies of `confirmed` borrow it).
    rng_holder: StepState,
    sampling: StepSampling,
}

/// Steps of silence or unreported input beyond which a report is taken for a jump.
const MAX_GAP: i64 = 64;

impl StepRunning {
    pub fn new(model: Arc<StepModel>, seed: u64) -> Self {
        let confirmed = model.start(seed);
        let rng_holder = model.start(seed);
        Self {
            meter: Meter {
                steps_per_beat: model.grid().steps_per_beat.max(1),
                steps_per_bar: 16,
            },
            model,
            bar_origin: 0,
            confirmed,
            next: 0,
            own: VecDeque::new(),
            rng_holder,
            sampling: StepSampling::default(),
        }
    }

    fn position(&self, step: i64) -> crate::model::step::Position {
        self.meter
            .position((step - self.bar_origin).rem_euclid(self.meter.steps_per_bar as i64) as u64)
    }

    /// Hears step `next` for good: the model's own output there (if any) with `player` merged.
    fn confirm(&mut self, player: Chord) {
        let own = self.own.pop_front().unwrap_or(Chord::REST);
        let merged = Chord::new(
            own.sounding_mask() | player.sounding_mask(),
            own.struck_mask() | player.struck_mask(),
        );
        let pos = self.position(self.next);
        self.model.hear(&mut self.confirmed, &keys_of(&merged), pos);
        self.next += 1;
    }
}

impl RunningGenerator for StepRunning {
    fn start(
        &mut self,
        context: &[Chord],
        placement: BarPlacement,
        first: i64,
        heard_through: i64,
    ) {
        self.meter.steps_per_bar = placement.steps_per_bar.max(1);
        let context_first = first - context.len() as i64;
        self.bar_origin = context_first - placement.first_step_in_bar as i64;
        self.confirmed = self.model.start(0);
        self.own.clear();
        // Leading silence is not heard: the running state starts where the player did.
        let silent = context
            .iter()
            .position(|c| !c.is_rest())
            .unwrap_or(context.len());
        self.next = context_first + silent as i64;
        let confirmed = (heard_through + 1 - self.next).clamp(0, (context.len() - silent) as i64);
        for (i, chord) in context[silent..].iter().enumerate() {
            if (i as i64) < confirmed {
                self.own.push_back(Chord::REST);
                self.confirm(*chord);
            } else {
                self.own.push_back(*chord);
            }
        }
    }

    fn continues_at(&self, first: i64) -> bool {
        first == self.next + self.own.len() as i64
    }

    fn set_sampling(&mut self, temperature: f32, controls: &Controls, heard: &[Chord]) {
        self.sampling = controls.step_sampling(temperature, heard);
    }

    fn hear(&mut self, step: i64, chord: Chord) -> bool {
        if step < self.next {
            // Heard already (a report repeated around a block edge), or the transport went back.
            return step >= self.next - 2;
        }
        if step - self.next > MAX_GAP {
            return false;
        }
        // Steps not reported (a gap of a block or two): the player was silent there.
        while self.next < step {
            self.confirm(Chord::REST);
        }
        self.confirm(chord);
        true
    }

    fn heard_through(&self) -> i64 {
        self.next - 1
    }

    fn sample(&mut self, step: i64) -> Chord {
        // Steps between what is heard and `step` that were not sampled: silence.
        while self.next + (self.own.len() as i64) < step {
            self.own.push_back(Chord::REST);
        }
        let mut trial = self.confirmed.clone();
        for (i, own) in self.own.iter().enumerate() {
            let pos = self.position(self.next + i as i64);
            self.model.hear(&mut trial, &keys_of(own), pos);
        }
        StepModel::swap_rng(&mut trial, &mut self.rng_holder);
        let keys = self
            .model
            .sample(&mut trial, self.position(step), &self.sampling);
        StepModel::swap_rng(&mut trial, &mut self.rng_holder);
        let chord = chord_of(&keys);
        self.own.push_back(chord);
        chord
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::builtin::{self, Builtin};

    fn model() -> Arc<StepModel> {
        match Builtin::find("piano-step")
            .expect("built-in")
            .shared()
            .unwrap()
        {
            builtin::Shared::Step(m) => m,
            builtin::Shared::Seed(_) => panic!("piano-step is a step model"),
        }
    }

    fn context() -> Vec<Chord> {
        [
            "*48,*60,*64,*67",
            "48,60,64,67",
            "*55,*62,*67,*71",
            "55,62,67,71",
        ]
        .iter()
        .cycle()
        .take(32)
        .map(|s| s.parse().unwrap())
        .collect()
    }

    /// With a silent player, the session plays exactly what one-shot generation plays from the
    /// same context and seed: hearing steps again changes nothing when nothing new is heard.
    #[test]
    fn a_silent_player_gets_the_one_shot_continuation() {
        let m = model();
        let placement = BarPlacement {
            steps_per_bar: 16,
            first_step_in_bar: 0,
        };
        let controls = Controls::default();
        let ctx = context();
        let mut expected_state = m.start(9);
        let meter = Meter {
            steps_per_beat: 4,
            steps_per_bar: 16,
        };
        for (t, c) in ctx.iter().enumerate() {
            m.observe_chord(&mut expected_state, c, meter.position(t as u64));
        }
        let mut session = StepRunning::new(m.clone(), 9);
        session.start(&ctx, placement, 1000 + 32, 1000 + 31);
        session.set_sampling(1.0, &controls, &ctx);
        let opts = session.sampling;
        let first = 1000 + 32;
        for i in 0..40i64 {
            let step = first + i;
            // The player's reports lag LOOKAHEAD_STEPS behind, as in the plugin.
            if i >= LOOKAHEAD_STEPS {
                assert!(session.hear(step - LOOKAHEAD_STEPS, Chord::REST));
            }
            let got = session.sample(step);
            let want =
                chord_of(&m.sample(&mut expected_state, meter.position(32 + i as u64), &opts));
            assert_eq!(got, want, "step {i}");
        }
        assert!(session.continues_at(first + 40));
        assert!(!session.continues_at(first + 41));
    }

    /// What the player plays is heard: the continuation after it differs from the silent one's,
    /// and equals one-shot generation over the merged steps.
    #[test]
    fn the_player_is_heard_merged_with_the_models_own_output() {
        let m = model();
        let placement = BarPlacement {
            steps_per_bar: 16,
            first_step_in_bar: 0,
        };
        let ctx = context();
        let meter = Meter {
            steps_per_beat: 4,
            steps_per_bar: 16,
        };
        let run = |player: Chord| {
            let mut session = StepRunning::new(m.clone(), 3);
            session.start(&ctx, placement, 32, 31);
            session.set_sampling(1.0, &Controls::default(), &ctx);
            let mut out = Vec::new();
            for step in 32..64i64 {
                if step >= 32 + LOOKAHEAD_STEPS {
                    session.hear(step - LOOKAHEAD_STEPS, player);
                }
                out.push(session.sample(step));
            }
            (out, session)
        };
        let (silent, _) = run(Chord::REST);
        let low_c: Chord = "*24".parse().unwrap();
        let (heard, session) = run(low_c);
        assert_eq!(
            silent[..LOOKAHEAD_STEPS as usize + 1],
            heard[..LOOKAHEAD_STEPS as usize + 1]
        );
        assert_ne!(silent, heard, "the player's notes changed nothing");
        // The confirmed state is exactly one-shot hearing of context + merged steps.
        let mut state = m.start(0);
        for (t, c) in ctx.iter().enumerate() {
            m.hear(&mut state, &keys_of(c), meter.position(t as u64));
        }
        for (i, own) in heard.iter().enumerate().take((session.next - 32) as usize) {
            let merged = Chord::new(
                own.sounding_mask() | low_c.sounding_mask(),
                own.struck_mask() | low_c.struck_mask(),
            );
            m.hear(&mut state, &keys_of(&merged), meter.position(32 + i as u64));
        }
        assert_eq!(state.hidden(), session.confirmed.hidden());
    }

    #[test]
    fn a_far_report_is_a_jump() {
        let mut session = StepRunning::new(model(), 1);
        session.start(&context(), BarPlacement::default(), 100, 99);
        assert!(session.hear(99, Chord::REST), "an old step is ignored");
        assert!(!session.hear(90, Chord::REST), "the transport went back");
        session.start(&context(), BarPlacement::default(), 100, 99);
        assert!(session.hear(101, Chord::REST));
        assert_eq!(session.heard_through(), 101);
        assert!(!session.hear(101 + MAX_GAP + 2, Chord::REST));
    }
}
