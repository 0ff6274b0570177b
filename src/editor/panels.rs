//! The controls around the roll: parameters (through `ParamSetter`, so host automation and undo
//! see every change), the Generate button, the model panel and the status line.

use egui::{Button, Color32, RichText, Ui};
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;

use super::theme;
use crate::engine::snapshot::{AudioSnapshot, Status, WorkerSnapshot};
use crate::model::builtin::{Builtin, BUILTINS};
use crate::params::{ContinuoParams, Mode, StartQuantize};

/// Width of the control column's labels and sliders, so rows line up and fit the column
/// (`window::COLUMN_WIDTH`) with the widest value ("2.00 beats") beside them.
const LABEL_WIDTH: f32 = 88.0;
const SLIDER_WIDTH: f32 = 122.0;
/// The choice rows' labels are short ("Mode", "Start on") and their three choices wide.
const CHOICE_LABEL_WIDTH: f32 = 58.0;

/// Parameters the column has no row for: the host's own bypass switch, and the variation to
/// play, which is chosen by clicking its thumbnail under the roll. The layout test checks every
/// other parameter has a row on screen.
#[cfg(test)]
pub const NOT_IN_THE_COLUMN: [&str; 2] = ["Bypass", "Variation"];

/// The label a parameter's row shows: its host name, shortened where that is long for the
/// column (hosts show the full names in their automation lanes).
pub fn label_for(param_name: &str) -> &str {
    match param_name {
        "Start quantize" => "Start on",
        "Output channel" => "Channel",
        "Thru" => "Thru (pass what you play)",
        name => name,
    }
}

/// A row's label, left-aligned in a fixed width so the controls beside it line up.
fn row_label(ui: &mut Ui, text: &str, width: f32) {
    let size = egui::vec2(width, ui.spacing().interact_size.y);
    ui.allocate_ui_with_layout(
        size,
        egui::Layout::left_to_right(egui::Align::Center),
        |ui| {
            ui.set_min_size(size);
            ui.label(text);
        },
    );
}

/// One labelled slider row.
fn slider_row<P: Param>(ui: &mut Ui, param: &P, setter: &ParamSetter) {
    ui.horizontal(|ui| {
        // The slider stacks its parts vertically: no gaps between them, so a row is one line.
        ui.spacing_mut().item_spacing.y = 0.0;
        row_label(ui, label_for(param.name()), LABEL_WIDTH);
        ui.add(ParamSlider::for_param(param, setter).with_width(SLIDER_WIDTH));
    });
}

/// A row of buttons, one per value of an enum parameter; the current one is highlighted.
fn choice_row<E: Enum + PartialEq + Copy + 'static>(
    ui: &mut Ui,
    param: &EnumParam<E>,
    choices: &[(E, &str)],
    setter: &ParamSetter,
) {
    ui.horizontal(|ui| {
        row_label(ui, label_for(param.name()), CHOICE_LABEL_WIDTH);
        // Tighter than the other rows, so three choices fit beside the label.
        ui.spacing_mut().item_spacing.x = 3.0;
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
fn toggle_row(ui: &mut Ui, param: &BoolParam, setter: &ParamSetter) {
    let mut on = param.value();
    if ui.checkbox(&mut on, label_for(param.name())).changed() {
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
        &params.mode,
        &[
            (Mode::Manual, "Manual"),
            (Mode::AutoRespond, "Auto-respond"),
            (Mode::Continuous, "Continuous"),
        ],
        setter,
    );
    slider_row(ui, &params.temperature, setter);
    slider_row(ui, &params.density, setter);
    slider_row(ui, &params.lowest, setter);
    slider_row(ui, &params.highest, setter);
    slider_row(ui, &params.polyphony, setter);
    slider_row(ui, &params.follow_key, setter);
    slider_row(ui, &params.length_bars, setter);
    slider_row(ui, &params.variations_count, setter);
    slider_row(ui, &params.response_gap, setter);
    slider_row(ui, &params.seed, setter);
    ui.add_space(4.0);
    ui.label(RichText::new("Output").strong());
    choice_row(
        ui,
        &params.start_quantize,
        &[
            (StartQuantize::Step, "Step"),
            (StartQuantize::Beat, "Beat"),
            (StartQuantize::Bar, "Bar"),
        ],
        setter,
    );
    slider_row(ui, &params.velocity, setter);
    slider_row(ui, &params.output_channel, setter);
    toggle_row(ui, &params.thru, setter);
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
        let response = ui.add_sized(
            [
                ui.available_width().min(LABEL_WIDTH + SLIDER_WIDTH + 60.0),
                44.0,
            ],
            Button::new(text).fill(fill),
        );
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

/// Lines of model details the panel shows before it scrolls, so a long description never
/// pushes the roll or the model choice out of the window.
const DETAIL_LINES: f32 = 3.0;
/// Room the File row keeps for its Load button and, right of it, the window's resize corner.
const LOAD_BUTTON_WIDTH: f32 = 64.0;

impl ModelPanel {
    pub fn show(&mut self, ui: &mut Ui, params: &ContinuoParams, worker: &WorkerSnapshot) {
        if !self.initialised {
            let current = params.model_path.read().clone();
            if Builtin::named_by(&current).is_none() {
                self.path_text = current;
            }
            self.initialised = true;
        }
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Model").strong());
            match &worker.model {
                Some(m) => ui.label(format!("{} · {}", m.name, m.device)),
                None if worker.loading => ui.label("loading…"),
                None => ui.label("no model loaded yet: notes pass through"),
            };
        });
        if let Some(m) = &worker.model {
            let line = ui.text_style_height(&egui::TextStyle::Body);
            egui::ScrollArea::vertical()
                .id_salt("model-details")
                .max_height(DETAIL_LINES * line + ui.spacing().item_spacing.y)
                .auto_shrink([false, true])
                .show(ui, |ui| model_details(ui, m));
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
                .width((ui.available_width() - 4.0).min(320.0))
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
                    .desired_width((ui.available_width() - LOAD_BUTTON_WIDTH).min(360.0)),
            );
            if ui.button("Load").clicked() && !self.path_text.trim().is_empty() {
                *params.model_path.write() = self.path_text.trim().to_string();
            }
        });
    }
}

/// Architecture, size and training of the loaded model, wrapped to the panel's width.
fn model_details(ui: &mut Ui, m: &crate::engine::snapshot::ModelInfo) {
    // The default fonts have no arrow glyph.
    let readable = |text: &str| text.replace('→', "›");
    let vocabulary = match m.vocab_size {
        0 => "any chord of the 88 keys".to_string(),
        n => format!("vocabulary {n} chords"),
    };
    ui.add(egui::Label::new(readable(&m.architecture)).wrap());
    ui.add(
        egui::Label::new(format!(
            "{} parameters · {vocabulary} · {} steps/beat{} · context {} steps",
            group_thousands(m.parameter_count),
            m.grid.steps_per_beat,
            if m.grid.onsets {
                " with struck marks"
            } else {
                ""
            },
            m.window
        ))
        .wrap(),
    );
    ui.add(
        egui::Label::new(
            RichText::new(readable(&m.training_summary))
                .color(theme::DIM_TEXT)
                .small(),
        )
        .wrap(),
    );
}

/// "idle / generating / playing", the last generation time and any error, in one line.
pub fn status_line(
    ui: &mut Ui,
    audio: &AudioSnapshot,
    worker: &WorkerSnapshot,
    note: Option<&str>,
) {
    // Wraps rather than running off a narrow window.
    ui.horizontal_wrapped(|ui| {
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
