//! The `continuo corpus` and `continuo quantize` commands, run as a user runs them.

use std::path::Path;
use std::process::Command;

use continuo::midi::{read_file, ReadOptions};

mod common;

use common::{chorale_folder, CHORALE_FIXTURES};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn continuo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_continuo"))
}

#[test]
fn corpus_json_reports_files_steps_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.mid");
    std::fs::write(
        &bad,
        b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\xff\xff",
    )
    .unwrap();
    let out = continuo()
        .args(["corpus", chorale_folder(), "--json"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["files_ok"], 4);
    let failed = report["files_failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["path"].as_str().unwrap().ends_with("broken.mid"));
    assert!(failed[0]["error"].as_str().unwrap().contains("broken.mid"));
    let notes: u64 = CHORALE_FIXTURES
        .iter()
        .map(|f| {
            read_file(&Path::new(FIXTURES).join(f), ReadOptions::default())
                .unwrap()
                .notes
                .len() as u64
        })
        .sum();
    assert_eq!(report["notes"].as_u64().unwrap(), notes);
    assert!(report["steps"].as_u64().unwrap() > 400);
    let distinct = report["distinct_chords"].as_u64().unwrap();
    assert!(distinct > 50 && distinct < report["steps"].as_u64().unwrap());
    assert!(report["coverage_top_256"].as_f64().unwrap() > 0.9);
}

#[test]
fn corpus_text_report_and_missing_path_error() {
    let out = continuo()
        .args(["corpus", chorale_folder()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("files read:       4"), "{text}");
    let out = continuo()
        .args(["corpus", "/no/such/folder"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/folder"));
}

#[test]
fn quantize_writes_what_the_roll_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("q.mid");
    let input = Path::new(FIXTURES).join("bwv323.mid");
    let out = continuo()
        .arg("quantize")
        .arg(&input)
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let original = read_file(&input, ReadOptions::default()).unwrap();
    let quantized = read_file(&out_path, ReadOptions::default()).unwrap();
    assert!((quantized.tempo_bpm - original.tempo_bpm).abs() < 0.01);
    assert_eq!(quantized.time_signature, original.time_signature);
    assert!(quantized
        .notes
        .iter()
        .all(|n| (n.start_beats * 4.0).fract() == 0.0 && (n.end_beats * 4.0).fract() == 0.0));
    let pitches =
        |notes: &[continuo::midi::Note]| notes.iter().map(|n| n.pitch as u32).sum::<u32>();
    assert!(quantized.notes.len() <= original.notes.len());
    assert!(
        pitches(&quantized.notes) * 10 > pitches(&original.notes) * 9,
        "most notes survive"
    );
}

#[test]
fn quantize_refuses_a_bad_file_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("noise.mid");
    std::fs::write(&bad, [7u8; 100]).unwrap();
    let out = continuo()
        .arg("quantize")
        .arg(&bad)
        .arg("-o")
        .arg(dir.path().join("x.mid"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1);
    assert!(err.contains("noise.mid"), "{err}");
}
