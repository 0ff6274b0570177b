//! The plugin's parameters and persisted fields. The names here are what hosts show in their
//! generic editors and what the editor binds to; ids are saved in projects, so never change them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use crate::engine::phrase::SavedPhrase;
use crate::engine::{PhraseStore, VariationsField};

pub use crate::engine::modes::{Mode, StartQuantize};

#[derive(Params)]
pub struct ContinuoParams {
    /// Sampling temperature: low is safe and repetitive, high is adventurous.
    #[id = "temperature"]
    pub temperature: FloatParam,
    /// Fewer (below 0) or more (above 0) onsets than the model's own tendency; 0 leaves it alone.
    #[id = "density"]
    pub density: FloatParam,
    /// Register: the lowest note a phrase may use.
    #[id = "lowest"]
    pub lowest: IntParam,
    /// Register: the highest note a phrase may use.
    #[id = "highest"]
    pub highest: IntParam,
    /// Polyphony: the most notes a phrase sounds at once.
    #[id = "polyphony"]
    pub polyphony: IntParam,
    /// Follow key: how strongly a phrase favours the pitch classes you played (0 = free).
    #[id = "follow-key"]
    pub follow_key: FloatParam,
    /// Length of a generated phrase in bars.
    #[id = "length"]
    pub length_bars: IntParam,
    /// How many phrases one press generates from the same context (1–8), to choose from.
    #[id = "variations"]
    pub variations_count: IntParam,
    /// Which of them plays (1–8); switching while it plays ends the old one's notes and goes
    /// on with the new one from the playhead. Automatable.
    #[id = "variation"]
    pub variation: IntParam,
    #[id = "mode"]
    pub mode: EnumParam<Mode>,
    /// Momentary: a phrase is asked for when this goes from off to on.
    #[id = "generate"]
    pub generate: BoolParam,
    /// Auto-respond waits for this much silence, in beats.
    #[id = "gap"]
    pub response_gap: FloatParam,
    /// Velocity of generated notes; 0 follows the player's average.
    #[id = "velocity"]
    pub velocity: IntParam,
    /// MIDI channel of generated notes, 1–16.
    #[id = "channel"]
    pub output_channel: IntParam,
    #[id = "quantize"]
    pub start_quantize: EnumParam<StartQuantize>,
    /// 0 = a new random seed each time; otherwise the same context gives the same phrase.
    #[id = "seed"]
    pub seed: IntParam,
    /// Pass incoming notes to the output (hosts swallow a MIDI effect's input).
    #[id = "thru"]
    pub thru: BoolParam,
    /// The host's bypass switch: input passes through, generated notes stop.
    #[id = "bypass"]
    pub bypass: BoolParam,

    /// The model: `builtin:NAME` (see `model::builtin`) or a file chosen by the user; empty = the
    /// built-in default.
    #[persist = "model-path"]
    pub model_path: Arc<parking_lot::RwLock<String>>,
    /// The last generated phrase, so it comes back with the project.
    #[persist = "phrase"]
    pub phrase: Arc<PhraseStore>,
    /// Every variation of the last press (the same store as `phrase`).
    #[persist = "variations"]
    pub variations: VariationsField,
    /// Counts Generate presses (off → on), so a press and release inside one block still
    /// counts. Not a parameter.
    pub generate_presses: Arc<AtomicU32>,
    /// The roll's zoom and scroll, so the project reopens the editor on the same view (the
    /// default follows the playhead). Only the editor writes it.
    #[persist = "roll-view"]
    pub roll_view: Arc<parking_lot::RwLock<crate::editor::RollView>>,
    /// The editor window's size. Not saved with the project: nice-plug-egui 0.6's
    /// `EguiEditorState` has no serde support and no setter, so it cannot be restored.
    pub editor_state: Arc<EguiEditorState>,
}

impl Default for ContinuoParams {
    fn default() -> Self {
        let generate_presses = Arc::new(AtomicU32::new(0));
        let phrase = Arc::new(PhraseStore::default());
        let presses = generate_presses.clone();
        Self {
            generate_presses,
            temperature: FloatParam::new(
                "Temperature",
                1.0,
                FloatRange::Linear {
                    min: 0.05,
                    max: 2.0,
                },
            )
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            density: FloatParam::new(
                "Density",
                0.0,
                FloatRange::Linear {
                    min: -1.0,
                    max: 1.0,
                },
            )
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            lowest: note_param("Lowest note", crate::engine::controls::PIANO_LOWEST),
            highest: note_param("Highest note", crate::engine::controls::PIANO_HIGHEST),
            polyphony: IntParam::new("Polyphony", 10, IntRange::Linear { min: 1, max: 16 })
                .with_value_to_string(Arc::new(|n| format!("{n} notes")))
                .with_string_to_value(Arc::new(|s| {
                    s.trim().trim_end_matches("notes").trim().parse().ok()
                })),
            follow_key: FloatParam::new(
                "Follow key",
                0.5,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_step_size(0.01)
            .with_unit("%")
            .with_value_to_string(formatters::v2s_f32_percentage(0))
            .with_string_to_value(formatters::s2v_f32_percentage()),
            length_bars: IntParam::new("Length", 4, IntRange::Linear { min: 1, max: 32 })
                .with_value_to_string(Arc::new(|bars| {
                    if bars == 1 {
                        "1 bar".to_string()
                    } else {
                        format!("{bars} bars")
                    }
                }))
                .with_string_to_value(Arc::new(|s| {
                    s.trim()
                        .trim_end_matches("bars")
                        .trim_end_matches("bar")
                        .trim()
                        .parse()
                        .ok()
                })),
            variations_count: IntParam::new(
                "Variations",
                1,
                IntRange::Linear {
                    min: 1,
                    max: crate::engine::phrase::MAX_VARIATIONS as i32,
                },
            ),
            variation: IntParam::new(
                "Variation",
                1,
                IntRange::Linear {
                    min: 1,
                    max: crate::engine::phrase::MAX_VARIATIONS as i32,
                },
            ),
            mode: EnumParam::new("Mode", Mode::Manual),
            generate: BoolParam::new("Generate", false)
                .with_callback(Arc::new(move |on| {
                    if on {
                        presses.fetch_add(1, Ordering::AcqRel);
                    }
                }))
                .with_value_to_string(Arc::new(|on| {
                    if on { "Generating" } else { "Off" }.to_string()
                }))
                // Every string the value-to-string side writes must parse back to its value
                // (hosts and clap-validator round-trip them).
                .with_string_to_value(Arc::new(|s| {
                    let s = s.trim();
                    if ["generating", "on", "1", "true"]
                        .iter()
                        .any(|w| s.eq_ignore_ascii_case(w))
                    {
                        Some(true)
                    } else if ["off", "0", "false"]
                        .iter()
                        .any(|w| s.eq_ignore_ascii_case(w))
                    {
                        Some(false)
                    } else {
                        None
                    }
                })),
            response_gap: FloatParam::new(
                "Response gap",
                2.0,
                FloatRange::Linear { min: 0.5, max: 8.0 },
            )
            .with_step_size(0.25)
            .with_unit(" beats")
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            velocity: IntParam::new("Velocity", 0, IntRange::Linear { min: 0, max: 127 })
                .with_value_to_string(Arc::new(|v| {
                    if v == 0 {
                        "Follow".to_string()
                    } else {
                        v.to_string()
                    }
                }))
                .with_string_to_value(Arc::new(|s| {
                    let s = s.trim();
                    if s.eq_ignore_ascii_case("follow") {
                        Some(0)
                    } else {
                        s.parse().ok()
                    }
                })),
            output_channel: IntParam::new(
                "Output channel",
                1,
                IntRange::Linear { min: 1, max: 16 },
            )
            .with_value_to_string(Arc::new(|c| format!("Ch {c}")))
            .with_string_to_value(Arc::new(|s| {
                s.trim().trim_start_matches("Ch").trim().parse().ok()
            })),
            start_quantize: EnumParam::new("Start quantize", StartQuantize::Beat),
            seed: IntParam::new("Seed", 0, IntRange::Linear { min: 0, max: 9999 })
                .with_value_to_string(Arc::new(|s| {
                    if s == 0 {
                        "Random".to_string()
                    } else {
                        s.to_string()
                    }
                }))
                .with_string_to_value(Arc::new(|s| {
                    let s = s.trim();
                    if s.eq_ignore_ascii_case("random") {
                        Some(0)
                    } else {
                        s.parse().ok()
                    }
                })),
            thru: BoolParam::new("Thru", true),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            model_path: Arc::new(parking_lot::RwLock::new(String::new())),
            variations: VariationsField(phrase.clone()),
            phrase,
            roll_view: Default::default(),
            editor_state: crate::editor::default_state(),
        }
    }
}

impl ContinuoParams {
    /// The saved phrase, if any.
    pub fn saved_phrase(&self) -> SavedPhrase {
        self.phrase.get()
    }
}

/// A MIDI note on the piano's range, shown as `60 (C4)`; reads back `60`, `60 (C4)` or `C4`.
fn note_param(name: &str, default: u8) -> IntParam {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    IntParam::new(
        name,
        default as i32,
        IntRange::Linear {
            min: crate::engine::controls::PIANO_LOWEST as i32,
            max: crate::engine::controls::PIANO_HIGHEST as i32,
        },
    )
    .with_value_to_string(Arc::new(|n| {
        format!(
            "{n} ({}{})",
            NAMES[n.rem_euclid(12) as usize],
            n.div_euclid(12) - 1
        )
    }))
    .with_string_to_value(Arc::new(|s| {
        let s = s.trim();
        let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() {
            return digits.parse().ok();
        }
        // A note name: letter, optional sharp, octave (C4 = 60).
        let upper = s.to_ascii_uppercase();
        let (name, octave) = upper.split_at(upper.find(|c: char| c == '-' || c.is_ascii_digit())?);
        let pc = NAMES.iter().position(|&n| n == name)? as i32;
        Some((octave.parse::<i32>().ok()? + 1) * 12 + pc)
    }))
}
