//! Colours of the editor: a dark theme in which the context (what the model hears) and the
//! phrase (what it plays) are told apart at a glance.

use egui::Color32;

pub const ROLL_BACKGROUND: Color32 = Color32::from_rgb(24, 26, 31);
pub const BLACK_KEY_ROW: Color32 = Color32::from_rgb(18, 19, 23);
/// Grid steps (16ths), drawn only when zoomed in far enough for them to be apart.
pub const STEP_LINE: Color32 = Color32::from_rgb(31, 33, 39);
pub const BEAT_LINE: Color32 = Color32::from_rgb(40, 43, 50);
pub const BAR_LINE: Color32 = Color32::from_rgb(78, 83, 96);
pub const CONTEXT_NOTE: Color32 = Color32::from_rgb(86, 156, 214);
pub const PHRASE_SPAN: Color32 = Color32::from_rgba_premultiplied(40, 30, 10, 40);
/// How much of a streaming phrase is generated.
pub const PHRASE_READY: Color32 = Color32::from_rgb(240, 170, 60);
pub const PHRASE_NOTE: Color32 = Color32::from_rgb(240, 170, 60);
pub const PHRASE_NOTE_PLAYED: Color32 = Color32::from_rgb(150, 110, 50);
pub const PLAYHEAD: Color32 = Color32::from_rgb(235, 80, 80);
pub const TEXT: Color32 = Color32::from_rgb(220, 222, 228);
pub const DIM_TEXT: Color32 = Color32::from_rgb(130, 135, 148);
pub const ERROR: Color32 = Color32::from_rgb(255, 110, 100);
pub const GENERATE: Color32 = Color32::from_rgb(200, 120, 30);
pub const GENERATE_FLASH: Color32 = Color32::from_rgb(255, 190, 80);

/// Dark visuals with slightly larger text, readable on a studio screen.
pub fn apply(ctx: &egui::Context) {
    ctx.set_visuals(egui::Visuals::dark());
    ctx.set_theme(egui::Theme::Dark);
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.visuals.override_text_color = Some(TEXT);
    });
}
