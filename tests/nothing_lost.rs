//! Nothing a user made is lost: training on a folder with broken files carries on and names them;
//! a model, checkpoint or MIDI file that cannot be replaced — the path is blocked, or the disk
//! fills up mid-write (a file-size limit, which kills the process as a full disk can) — keeps
//! its previous contents.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const CHORALES: [&str; 4] = ["bwv165.6.mid", "bwv281.mid", "bwv323.mid", "bwv66.6.mid"];

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_continuo")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// Runs `continuo args` with the shell's file-size limit at `kib` KiB: a write past it fails
/// (and the default SIGXFSZ ends the process), as on a disk that fills up.
fn run_with_file_limit(kib: u64, args: &[&str]) -> Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -f {kib}; exec '{}' {}",
            bin(),
            quoted.join(" ")
        ))
        .output()
        .unwrap()
}

/// The run ended on a write past the limit: killed by SIGXFSZ, or it reported the failed write.
fn stopped_by_the_full_disk(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    const SIGXFSZ: i32 = 25;
    out.status.signal() == Some(SIGXFSZ)
        || (!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("cannot write"))
}

fn train_args<'a>(data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--data",
        data,
        "-o",
        out,
        "--epochs",
        "1",
        "--window",
        "8",
        "--hidden",
        "8",
        "--embedding",
        "8",
        "--dense",
        "8",
        "--batch",
        "64",
        "--val-fraction",
        "0.25",
        "--threads",
        "1",
        "--device",
        "cpu",
    ];
    args.extend_from_slice(extra);
    args
}

/// A folder with the chorale fixtures, a file that is not MIDI and a truncated MIDI file.
fn folder_with_broken_files(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    for f in CHORALES {
        std::fs::copy(Path::new(FIXTURES).join(f), data.join(f)).unwrap();
    }
    std::fs::write(data.join("not-midi.mid"), b"this is a text file").unwrap();
    let whole = std::fs::read(Path::new(FIXTURES).join("bwv281.mid")).unwrap();
    std::fs::write(data.join("truncated.mid"), &whole[..whole.len() / 3]).unwrap();
    data
}

#[test]
fn training_carries_on_past_broken_files_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = folder_with_broken_files(dir.path());
    let model = dir.path().join("m.safetensors");
    let out = run(&train_args(
        data.to_str().unwrap(),
        model.to_str().unwrap(),
        &[],
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(model.exists());
    for broken in ["not-midi.mid", "truncated.mid"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("skipped:") && l.contains(broken)),
            "{broken} not named in: {stderr}"
        );
    }
    // The step kind too.
    let step = dir.path().join("s.safetensors");
    let out = run(&[
        "train",
        "--kind",
        "step",
        "--data",
        data.to_str().unwrap(),
        "-o",
        step.to_str().unwrap(),
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--input",
        "8",
        "--decoder",
        "8",
        "--chunk",
        "32",
        "--val-fraction",
        "0.25",
        "--threads",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("not-midi.mid") && stderr.contains("truncated.mid"),
        "{stderr}"
    );
}

#[test]
fn a_model_and_checkpoint_that_cannot_be_replaced_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = format!("{FIXTURES}");
    let model = dir.path().join("m.safetensors");
    let m = model.to_str().unwrap();
    let first = run(&train_args(&data, m, &["--seed", "3"]));
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let checkpoint = dir.path().join("m.checkpoint.safetensors");
    let (model_before, checkpoint_before) = (
        std::fs::read(&model).unwrap(),
        std::fs::read(&checkpoint).unwrap(),
    );

    // The disk fills up: every write past 8 KiB fails while the files are being replaced.
    let full = run_with_file_limit(8, &train_args(&data, m, &["--seed", "4"]));
    assert!(
        !full.status.success(),
        "training must not report success on a full disk"
    );
    assert_eq!(
        std::fs::read(&model).unwrap(),
        model_before,
        "the model is intact"
    );
    assert_eq!(
        std::fs::read(&checkpoint).unwrap(),
        checkpoint_before,
        "the checkpoint is intact"
    );
    // It still loads.
    let info = run(&["info", "--model", m]);
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );

    // The path cannot be written (something is where the temporary file would go).
    let _ = std::fs::remove_file(dir.path().join("m.safetensors.tmp"));
    let _ = std::fs::remove_file(dir.path().join("m.checkpoint.safetensors.tmp"));
    std::fs::create_dir(dir.path().join("m.safetensors.tmp")).unwrap();
    std::fs::create_dir(dir.path().join("m.checkpoint.safetensors.tmp")).unwrap();
    let blocked = run(&train_args(&data, m, &["--seed", "5"]));
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert!(!blocked.status.success(), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains("m.")),
        "a one-line error naming the file: {stderr}"
    );
    assert_eq!(std::fs::read(&model).unwrap(), model_before);
    assert_eq!(std::fs::read(&checkpoint).unwrap(), checkpoint_before);
}

#[test]
fn a_midi_file_that_cannot_be_replaced_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("take.mid");
    std::fs::write(&out, b"the user's earlier take").unwrap();
    let prompt = format!("{FIXTURES}/bwv66.6.mid");
    let args = [
        "generate",
        "--prompt",
        &prompt,
        "-o",
        out.to_str().unwrap(),
        "--steps",
        "64",
    ];
    let full = run_with_file_limit(0, &args);
    assert!(
        stopped_by_the_full_disk(&full),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"the user's earlier take");
    // The killed write may leave its temporary file; the next write replaces it.
    let _ = std::fs::remove_file(dir.path().join("take.mid.tmp"));
    std::fs::create_dir(dir.path().join("take.mid.tmp")).unwrap();
    let blocked = run(&args);
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert!(!blocked.status.success());
    assert!(
        stderr.contains("take.mid") && stderr.contains("cannot write"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"the user's earlier take");
    // Once the path is free again the same command replaces it.
    std::fs::remove_dir(dir.path().join("take.mid.tmp")).unwrap();
    assert!(run(&args).status.success());
    assert_ne!(std::fs::read(&out).unwrap(), b"the user's earlier take");
}
