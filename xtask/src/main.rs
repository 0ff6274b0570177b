//! `cargo xtask bundle continuo --release` builds `target/bundled/Continuo.clap` and `.vst3`.
fn main() -> nice_plug_xtask::Result<()> {
    nice_plug_xtask::main()
}
