//! The engine's trigger modes and phrase-start grids. They are the plugin's `Mode` and
//! `Start quantize` parameters too (nice-plug's `Enum` derive names them for hosts; the ids are
//! saved in projects, so never change them), but the engine owns them: it is what they steer.

use nice_plug::prelude::Enum;

/// When a continuation is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Mode {
    /// When "Generate" is pressed (a host button, automation or a controller).
    #[id = "manual"]
    Manual,
    /// When the player has been silent for "Response gap" beats.
    #[id = "auto-respond"]
    #[name = "Auto-respond"]
    AutoRespond,
    /// Keeps generating ahead of the playhead while the transport runs.
    #[id = "continuous"]
    Continuous,
}

/// Where a phrase may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum StartQuantize {
    /// The next grid step (a 16th note with the default grid).
    #[id = "step"]
    Step,
    #[id = "beat"]
    Beat,
    #[id = "bar"]
    Bar,
}
