//! The plugin's CLAP entry again, as a cdylib example, so that a plain `cargo test` (which builds
//! examples but not the library's own cdylib) produces a loadable plugin for the host tests in
//! `tests/`. It is the same code and the same `clap_entry` as `libcontinuo.so`.

/// Keeps the library's exported `clap_entry` in this shared object.
#[used]
static CLAP_ENTRY: &nice_plug::wrapper::clap::clap_plugin_entry = &continuo::clap_entry;
