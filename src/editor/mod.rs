//! The egui editor (filled in by the editor work; see /work/notes/plugin-status.md).
