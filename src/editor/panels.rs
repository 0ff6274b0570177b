//! The controls around the roll: parameters (through `ParamSetter`, so host automation and undo
//! see every change), the Generate button, the model panel and the status line.

use egui::{Button, Color32, RichText, Ui};
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;

use super::theme;
use crate::engine::snapshot::{AudioSnapshot, Status, WorkerSnapshot};
use crate::model::builtin::{Builtin, BUILTINS};
use crate::params::{ContinuoParams, Mode, StartQuantize};

/// One labelled slider row.
fn slider_row<P: Param>(ui: &mut Ui, label: &str, param: &P, setter: &ParamSetter) {
    ui.horizontal(|ui| {
        ui.add_sized([86.0, 18.0], egui::Label::new(label));
        ui.add(ParamSlider::for_param(param, setter).with_width(150.0));
    });
}

/// A row of buttons, one per value of an enum parameter; the current one is highlighted.
fn choice_row<E: Enum + PartialEq + Copy + 'static>(
    ui: &mut Ui,
    label: &str,
    param: &EnumParam<E>,
    choices: &[(E, &str)],
    setter: &ParamSetter,
) {
    ui.horizontal(|ui| {
        ui.add_sized([86.0, 18.0], egui::Label::new(label));
        for &(value, text) in choices {
            if ui.selectable_label(param.value() == value, text).clicked() && param.value() != value
            {
                setter.begin_set_parameter(param);
                setter.set_parameter(param, value);
                setter.end_set_parameter(param);
            }
        }
    });
}

/// Toggles a boolean parameter from a checkbox.
fn toggle_row(ui: &mut Ui, label: &str, param: &BoolParam, setter: &ParamSetter) {
    let mut on = param.value();
    if ui.checkbox(&mut on, label).changed() {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, on);
        setter.end_set_parameter(param);
    }
}

/// Every parameter, grouped as a musician thinks of them.
pub fn controls(ui: &mut Ui, params: &ContinuoParams, setter: &ParamSetter) {
    ui.label(RichText::new("Generation").strong());
    choice_row(
        ui,
        "Mode",
        &params.mode,
        &[
            (Mode::Manual, "Manual"),
            (Mode::AutoRespond, "Auto-respond"),
            (Mode::Continuous, "Continuous"),
        ],
        setter,
    );
    slider_row(ui, "Temperature", &params.temperature, setter);
    slider_row(ui, "Density", &params.density, setter);
    slider_row(ui, "Lowest note", &params.lowest, setter);
    slider_row(ui, "Highest note", &params.highest, setter);
    slider_row(ui, "Polyphony", &params.polyphony, setter);
    slider_row(ui, "Follow key", &params.follow_key, setter);
    slider_row(ui, "Length", &params.length_bars, setter);
    slider_row(ui, "Variations", &params.variations_count, setter);
    slider_row(ui, "Response gap", &params.response_gap, setter);
    slider_row(ui, "Seed", &params.seed, setter);
    ui.add_space(6.0);
    ui.label(RichText::new("Output").strong());
    choice_row(
        ui,
        "Start on",
        &params.start_quantize,
        &[
            (StartQuantize::Step, "Step"),
            (StartQuantize::Beat, "Beat"),
            (StartQuantize::Bar, "Bar"),
        ],
        setter,
    );
    slider_row(ui, "Velocity", &params.velocity, setter);
    slider_row(ui, "Channel", &params.output_channel, setter);
    toggle_row(ui, "Thru (pass what you play)", &params.thru, setter);
}

/// Tracks the momentary Generate button so the parameter goes on while the button is held and
/// off when it is let go: the audio thread sees the on edge however short the click.
#[derive(Default)]
pub struct GenerateButton {
    held: bool,
}

impl GenerateButton {
    pub fn show(
        &mut self,
        ui: &mut Ui,
        params: &ContinuoParams,
        setter: &ParamSetter,
        status: Status,
    ) {
        let generating = status == Status::Generating;
        let fill = if generating {
            // Flash while the model works.
            let t = ui.input(|i| i.time);
            ui.ctx().request_repaint();
            if (t * 4.0).fract() < 0.5 {
                theme::GENERATE_FLASH
            } else {
                theme::GENERATE
            }
        } else {
            theme::GENERATE
        };
        let text = RichText::new(if generating {
            "Generating…"
        } else {
            "Generate"
        })
        .size(20.0)
        .strong()
        .color(Color32::BLACK);
        let response = ui.add_sized([240.0, 48.0], Button::new(text).fill(fill));
        let down = response.is_pointer_button_down_on();
        if down && !self.held {
            setter.begin_set_parameter(&params.generate);
            setter.set_parameter(&params.generate, true);
            self.held = true;
        } else if !down && self.held {
            setter.set_parameter(&params.generate, false);
            setter.end_set_parameter(&params.generate);
            self.held = false;
        }
    }
}

/// What the model panel's text field holds between frames.
#[derive(Default)]
pub struct ModelPanel {
    pub path_text: String,
    initialised: bool,
}

impl ModelPanel {
    pub fn show(&mut self, ui: &mut Ui, params: &ContinuoParams, worker: &WorkerSnapshot) {
        if !self.initialised {
            let current = params.model_path.read().clone();
            if Builtin::named_by(&current).is_none() {
                self.path_text = current;
            }
            self.initialised = true;
        }
        ui.label(RichText::new("Model").strong());
        match &worker.model {
            Some(m) => {
                // The default fonts have no arrow glyph.
                ui.label(format!(
                    "{} · {} · {}",
                    m.name,
                    m.device,
                    m.architecture.replace('→', "›")
                ));
                let vocabulary = match m.vocab_size {
                    0 => "any chord of the 88 keys".to_string(),
                    n => format!("vocabulary {n} chords"),
                };
                ui.label(format!(
                    "{} parameters · {vocabulary} · {} steps/beat{} · context {} steps",
                    group_thousands(m.parameter_count),
                    m.grid.steps_per_beat,
                    if m.grid.onsets {
                        " with struck marks"
                    } else {
                        ""
                    },
                    m.window
                ));
                ui.label(
                    RichText::new(&m.training_summary)
                        .color(theme::DIM_TEXT)
                        .small(),
                );
            }
            None if worker.loading => {
                ui.label("loading…");
            }
            None => {
                ui.label("no model loaded yet: notes pass through");
            }
        }
        ui.horizontal(|ui| {
            ui.label("Built-in");
            let current = params.model_path.read().clone();
            let selected = match Builtin::named_by(&current) {
                Some(Ok(b)) => b.label,
                Some(Err(_)) => "unknown built-in name",
                None => "a file (below)",
            };
            egui::ComboBox::from_id_salt("builtin-model")
                .selected_text(selected)
                .width(320.0)
                .show_ui(ui, |ui| {
                    for b in &BUILTINS {
                        if ui.selectable_label(selected == b.label, b.label).clicked() {
                            self.path_text.clear();
                            *params.model_path.write() = b.reference();
                        }
                    }
                });
        });
        ui.horizontal(|ui| {
            ui.label("File");
            ui.add(
                egui::TextEdit::singleline(&mut self.path_text)
                    .hint_text("path to a .safetensors model of either kind")
                    .desired_width(360.0),
            );
            if ui.button("Load").clicked() && !self.path_text.trim().is_empty() {
                *params.model_path.write() = self.path_text.trim().to_string();
            }
        });
    }
}

/// "idle / generating / playing", the last generation time and any error, in one line.
pub fn status_line(
    ui: &mut Ui,
    audio: &AudioSnapshot,
    worker: &WorkerSnapshot,
    note: Option<&str>,
) {
    ui.horizontal(|ui| {
        let status = match audio.status {
            Status::Idle => "idle",
            Status::Generating => "generating",
            Status::Playing => "playing",
        };
        ui.label(RichText::new(status).strong());
        ui.label(format!("{:.1} BPM", audio.tempo));
        ui.label(if audio.transport_playing {
            "host playing"
        } else {
            "host stopped"
        });
        if audio.phrase_streaming && audio.phrase_end > audio.phrase_start {
            let ready = ((audio.phrase_ready - audio.phrase_start)
                / (audio.phrase_end - audio.phrase_start))
                .clamp(0.0, 1.0);
            ui.label(format!("streaming: {:.0} % ready", ready * 100.0));
        }
        if let Some(ms) = audio.last_latency_ms {
            ui.label(format!("first notes {ms:.1} ms after the press"));
        }
        if let (Some(ms), Some(rate)) = (worker.last_generation_ms, worker.last_steps_per_second) {
            ui.label(format!("last phrase {ms:.0} ms ({rate:.0} steps/s)"));
        }
        if audio.waits > 0 {
            ui.label(
                RichText::new(format!(
                    "generation fell behind the playhead: waited {} times",
                    audio.waits
                ))
                .color(theme::ERROR),
            );
        }
        if let Some(error) = &worker.last_error {
            ui.label(RichText::new(error).color(theme::ERROR));
        } else if let Some(note) = note {
            ui.label(RichText::new(note).color(theme::DIM_TEXT));
        }
    });
}

/// 1234567 → "1 234 567".
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::group_thousands(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(super::group_thousands(999), "999");
    }
}
