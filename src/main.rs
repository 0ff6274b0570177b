//! The `continuo` command line: corpus statistics, quantizing, training, evaluation and
//! generation without a DAW.
fn main() -> std::process::ExitCode {
    continuo::cli::main()
}
