//! `cargo xtask bundle continuo --release` builds `target/bundled/Continuo.clap` and `.vst3`.
//! `cargo xtask soak --blocks N [--seed S]` drives the debug plugin (with nice-plug's
//! `assert_process_allocs`) through the test CLAP host for N random blocks (`tests/soak.rs`)
//! and prints blocks, generated notes and violations.

use std::process::{exit, Command};

fn main() -> nice_plug_xtask::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("soak") {
        exit(soak(&args[1..]));
    }
    nice_plug_xtask::main()
}

/// Runs the soak test with `CONTINUO_SOAK_BLOCKS`/`CONTINUO_SOAK_SEED` from the arguments.
fn soak(args: &[String]) -> i32 {
    let mut blocks = "1000000".to_string();
    let mut seed = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match (arg.as_str(), it.next()) {
            ("--blocks", Some(n)) => blocks = n.clone(),
            ("--seed", Some(s)) => seed = Some(s.clone()),
            _ => {
                eprintln!("usage: cargo xtask soak [--blocks N] [--seed S]");
                return 2;
            }
        }
    }
    if blocks.parse::<u64>().is_err() {
        eprintln!("--blocks wants a number, not {blocks:?}");
        return 2;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The host loads the example cdylib that `cargo test` alone builds only for a full run.
    match Command::new(&cargo)
        .args(["build", "-p", "continuo", "--examples"])
        .status()
    {
        Ok(s) if s.success() => {}
        Ok(s) => return s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            return 1;
        }
    }
    let mut command = Command::new(cargo);
    command
        .args([
            "test",
            "-p",
            "continuo",
            "--test",
            "soak",
            "--",
            "--nocapture",
        ])
        .env("CONTINUO_SOAK_BLOCKS", &blocks);
    if let Some(seed) = seed {
        command.env("CONTINUO_SOAK_SEED", seed);
    }
    match command.status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            1
        }
    }
}
