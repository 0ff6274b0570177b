//! Continuo: a MIDI effect that continues what a musician plays with a neural network trained on
//! classical piano music. See `DESIGN.md` in the shared notes for how the parts fit:
//! `midi` → `roll` → `model` → `engine` → the plugin shell in this file.

pub mod cli;
pub mod corpus;
pub mod midi;
pub mod model;
pub mod roll;
