//! Continuo in a real DAW: headless Ardour 7 (`ardour7-lua`, the dummy audio backend, 48 kHz,
//! 1024-sample blocks) runs the bundled VST3 on a MIDI track, fed a played 2-bar chord phrase by
//! a Lua DSP script, presses Generate (Manual mode) and records the track's MIDI output on a
//! second, armed MIDI track. The takes are read back with Continuo's own MIDI reader
//! (`continuo::midi`), and a Lua DSP logger right after Continuo gives every event it sends at
//! the exact timeline sample. See `tests/ardour/session.lua` for what Ardour is asked to do.
//!
//! Asserted: every generated note starts and ends on the 16th-note grid, to the sample the
//! host's tempo gives (allowing Ardour's own rounding of positions to 1/1920 beat), and lasts at
//! least one step, at 120 BPM and across a 120 → 90 BPM change; stopping the transport in the
//! middle of a phrase ends every sounding note; reopening the saved session sends no CC, pitch
//! bend or pressure.
//!
//! Needs Ardour 7 (`apt-get install --no-install-recommends ardour`) and the bundle
//! (`cargo xtask bundle continuo --release`, found through `CONTINUO_VST3_BUNDLE`, else
//! `$CARGO_TARGET_DIR/bundled` or `target/bundled`). Without either the test says it skipped,
//! except in CI (`CI=true`), where that is a failure. `.ci/run` provides both.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use continuo::midi::{self, Note, ReadOptions};

const LUA: &str = "/usr/bin/ardour7-lua";
const ARDOUR_LIB: &str = "/usr/lib/ardour7";
const SCANNER: &str = "/usr/lib/ardour7/ardour-vst3-scanner";
const RATE: f64 = 48_000.0;
/// Ardour's musical time unit: positions it gives plugins and the MIDI it records are in ticks
/// of 1/1920 beat.
const TICKS_PER_BEAT: f64 = 1920.0;
/// 16th notes.
const STEPS_PER_BEAT: f64 = 4.0;
/// The player's phrase ends at beat 8; Generate is pressed at beat 7.5, so every note from beat
/// 7.75 on is Continuo's.
const GENERATED_FROM_BEAT: f64 = 7.75;
/// The tempo change of take 2.
const TEMPO_CHANGE_BEAT: f64 = 10.0;
/// Each Ardour run must finish within this.
const RUN_TIMEOUT: Duration = Duration::from_secs(150);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// In CI a missing prerequisite is a failure; elsewhere the test says it skipped.
fn skip(reason: &str) {
    assert!(!in_ci(), "{reason}; CI=true, so this test must run");
    eprintln!("skipped: {reason}");
}

fn find_bundle() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CONTINUO_VST3_BUNDLE") {
        return Some(PathBuf::from(p));
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(manifest.join(t).join("bundled/Continuo.vst3"));
    }
    candidates.push(manifest.join("target/bundled/Continuo.vst3"));
    candidates.into_iter().find(|p| p.is_dir())
}

fn newest_mtime(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| newest_mtime(&e.ok()?.path()))
        .max()
}

/// A bundle older than the sources tests old code: say so (the test cannot rebuild it).
fn warn_if_stale(bundle: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if let (Some(built), Some(edited)) = (newest_mtime(bundle), newest_mtime(&src)) {
        if edited > built {
            eprintln!(
                "warning: {} is older than src/; run `cargo xtask bundle continuo --release` \
                 to test the current code",
                bundle.display()
            );
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs a command with Ardour's environment confined to the scratch `home`; returns its output.
fn run(mut cmd: Command, home: &Path, what: &str) -> String {
    cmd.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("LD_LIBRARY_PATH", ARDOUR_LIB)
        .stdin(Stdio::null());
    let log = home.join(format!("{what}.log"));
    let file = std::fs::File::create(&log).unwrap();
    cmd.stdout(file.try_clone().unwrap()).stderr(file);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after {RUN_TIMEOUT:?}, killed; its output:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!(
        "{what}: {status} after {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "{what} failed ({status}); its output:\n{output}"
    );
    output
}

/// One MIDI event Continuo sent, as the logger behind it saw it.
#[derive(Debug, Clone, Copy)]
struct Event {
    sample: i64,
    rolling: bool,
    cycle: i64,
    status: u8,
    data1: u8,
    data2: u8,
}

impl Event {
    fn kind(&self) -> u8 {
        self.status & 0xf0
    }
    fn is_note_on(&self) -> bool {
        self.kind() == 0x90 && self.data2 > 0
    }
    fn is_note_off(&self) -> bool {
        self.kind() == 0x80 || (self.kind() == 0x90 && self.data2 == 0)
    }
}

#[derive(Debug, Clone)]
struct Take {
    path: PathBuf,
    position: i64,
    start: i64,
}

/// What one Ardour run wrote (see the format at the top of `tests/ardour/session.lua`).
#[derive(Debug, Default)]
struct Results {
    info: Vec<Vec<String>>,
    params: Vec<String>,
    /// label -> (timeline sample, logger cycle, last logger cycle that was rolling)
    marks: HashMap<String, (i64, i64, i64)>,
    takes: HashMap<String, Take>,
    events: HashMap<String, Vec<Event>>,
    /// (beat, samples at that beat), integer beats 0..=40 of take 2's tempo map
    tempo: Vec<(f64, f64)>,
    done: bool,
    error: Option<String>,
}

fn parse_results(text: &str) -> Results {
    let mut r = Results::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let num = |i: usize| -> i64 {
            f[i].parse::<f64>()
                .unwrap_or_else(|_| panic!("bad number in {line:?}")) as i64
        };
        match f[0] {
            "info" => r.info.push(f[1..].iter().map(|s| s.to_string()).collect()),
            "param" => r.params.push(f[1..].join(" ")),
            "mark" => {
                r.marks.insert(f[1].to_string(), (num(2), num(3), num(4)));
            }
            "take" => {
                r.takes.insert(
                    f[1].to_string(),
                    Take {
                        path: PathBuf::from(f[2]),
                        position: num(3),
                        start: num(4),
                    },
                );
            }
            "ev" => r.events.entry(f[1].to_string()).or_default().push(Event {
                sample: num(2),
                rolling: num(3) != 0,
                cycle: num(4),
                status: num(5) as u8,
                data1: num(6) as u8,
                data2: num(7) as u8,
            }),
            "tempo" => r.tempo.push((num(1) as f64, f[3].parse().unwrap())),
            "done" => r.done = true,
            "error" => r.error = Some(f[1..].join(" ")),
            _ => panic!("unknown result line {line:?}"),
        }
    }
    r
}

/// Samples <-> beats of a piecewise-constant tempo map given at integer beats.
struct TempoMap {
    /// (beat, sample) at every integer beat, ascending
    points: Vec<(f64, f64)>,
}

impl TempoMap {
    fn constant(bpm: f64) -> Self {
        let spb = RATE * 60.0 / bpm;
        TempoMap {
            points: (0..=200).map(|b| (b as f64, b as f64 * spb)).collect(),
        }
    }

    fn segment(&self, beat: f64) -> usize {
        let i = beat.floor().max(0.0) as usize;
        i.min(self.points.len() - 2)
    }

    fn sample_at(&self, beat: f64) -> f64 {
        let i = self.segment(beat);
        let (b0, s0) = self.points[i];
        let (b1, s1) = self.points[i + 1];
        s0 + (beat - b0) * (s1 - s0) / (b1 - b0)
    }

    fn beat_at(&self, sample: f64) -> f64 {
        let i = self
            .points
            .windows(2)
            .position(|w| sample < w[1].1)
            .unwrap_or(self.points.len() - 2);
        let (b0, s0) = self.points[i];
        let (b1, s1) = self.points[i + 1];
        b0 + (sample - s0) * (b1 - b0) / (s1 - s0)
    }

    /// Samples per beat where `beat` lies.
    fn samples_per_beat(&self, beat: f64) -> f64 {
        let i = self.segment(beat);
        self.points[i + 1].1 - self.points[i].1
    }

    /// How far (in samples) `beat` is from the nearest 16th, and that grid beat.
    fn grid_deviation(&self, beat: f64) -> (f64, f64) {
        let grid = (beat * STEPS_PER_BEAT).round() / STEPS_PER_BEAT;
        ((self.sample_at(beat) - self.sample_at(grid)).abs(), grid)
    }

    /// Ardour's rounding (1/1920 beat) in samples where `beat` lies, plus one sample.
    fn tolerance(&self, beat: f64) -> f64 {
        self.samples_per_beat(beat) / TICKS_PER_BEAT + 1.0
    }
}

/// Figures for a set of generated notes on the timeline (beats).
#[derive(Debug, Default)]
struct GridReport {
    notes: usize,
    max_start_dev: f64,
    max_end_dev: f64,
    shortest_samples: f64,
    shortest_steps: f64,
    /// human-readable problems, one per bad note
    problems: Vec<String>,
}

fn check_grid(notes: &[Note], map: &TempoMap) -> GridReport {
    let mut r = GridReport {
        notes: notes.len(),
        shortest_samples: f64::INFINITY,
        shortest_steps: f64::INFINITY,
        ..Default::default()
    };
    for n in notes {
        let (ds, gs) = map.grid_deviation(n.start_beats);
        let (de, ge) = map.grid_deviation(n.end_beats);
        let len = map.sample_at(n.end_beats) - map.sample_at(n.start_beats);
        let step = map.samples_per_beat(n.start_beats) / STEPS_PER_BEAT;
        r.max_start_dev = r.max_start_dev.max(ds);
        r.max_end_dev = r.max_end_dev.max(de);
        r.shortest_samples = r.shortest_samples.min(len);
        r.shortest_steps = r.shortest_steps.min((ge - gs) * STEPS_PER_BEAT);
        let mut bad = Vec::new();
        if ds > map.tolerance(n.start_beats) {
            bad.push(format!("starts {ds:.1} samples off the grid"));
        }
        if de > map.tolerance(n.end_beats) {
            bad.push(format!("ends {de:.1} samples off the grid"));
        }
        if len + map.tolerance(n.start_beats) < step {
            bad.push(format!(
                "lasts {len:.0} samples, less than a step ({step:.0})"
            ));
        }
        if !bad.is_empty() {
            r.problems.push(format!(
                "pitch {} beats {:.4}..{:.4} (samples {:.0}..{:.0}): {}",
                n.pitch,
                n.start_beats,
                n.end_beats,
                map.sample_at(n.start_beats),
                map.sample_at(n.end_beats),
                bad.join(", ")
            ));
        }
    }
    r
}

impl std::fmt::Display for GridReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} generated notes, max deviation from the 16th grid {:.1} samples (starts) / {:.1} \
             (ends), shortest note {:.0} samples ({:.2} steps on the grid), {} bad notes",
            self.notes,
            self.max_start_dev,
            self.max_end_dev,
            self.shortest_samples,
            self.shortest_steps,
            self.problems.len()
        )
    }
}

/// The take's notes on the timeline: the file counts beats from the start of its source.
fn take_notes(take: &Take, map: &TempoMap) -> Vec<Note> {
    let song = midi::read_file(
        &take.path,
        ReadOptions {
            sustain_pedal: false,
        },
    )
    .unwrap_or_else(|e| panic!("cannot read the take: {e}"));
    let origin = map.beat_at((take.position - take.start) as f64);
    song.notes
        .iter()
        .map(|n| Note {
            start_beats: n.start_beats + origin,
            end_beats: n.end_beats + origin,
            ..*n
        })
        .collect()
}

/// Notes from the logger's events (note-on/off pairs while rolling), on the timeline.
fn logged_notes(events: &[Event], map: &TempoMap) -> Vec<Note> {
    let mut open: HashMap<(u8, u8), Vec<(i64, u8)>> = HashMap::new();
    let mut notes = Vec::new();
    for e in events {
        let key = (e.status & 0x0f, e.data1);
        if e.is_note_on() {
            open.entry(key).or_default().push((e.sample, e.data2));
        } else if e.is_note_off() {
            if let Some(list) = open.get_mut(&key) {
                if !list.is_empty() {
                    let (s, v) = list.remove(0);
                    notes.push(Note {
                        pitch: e.data1,
                        start_beats: map.beat_at(s as f64),
                        end_beats: map.beat_at(e.sample as f64),
                        velocity: v,
                    });
                }
            }
        }
    }
    notes.sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats));
    notes
}

fn generated(notes: &[Note]) -> Vec<Note> {
    notes
        .iter()
        .filter(|n| n.start_beats >= GENERATED_FROM_BEAT)
        .copied()
        .collect()
}

#[test]
fn continuo_in_ardour() {
    if !Path::new(LUA).exists() || !Path::new(SCANNER).exists() {
        skip("Ardour 7 is not installed (apt-get install --no-install-recommends ardour)");
        return;
    }
    let Some(bundle) = find_bundle().filter(|b| b.is_dir()) else {
        skip("no Continuo.vst3 bundle (cargo xtask bundle continuo --release, or set CONTINUO_VST3_BUNDLE)");
        return;
    };
    let started = Instant::now();
    eprintln!("bundle: {}", bundle.display());
    warn_if_stale(&bundle);

    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    // Ardour's Lua DSP scripts (the player, the logger) come from its user script folder.
    let scripts = home.join(".config/ardour7/scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ardour");
    for s in ["continuo_test_player.lua", "continuo_test_logger.lua"] {
        std::fs::copy(here.join(s), scripts.join(s)).unwrap();
    }
    let installed = home.join(".vst3/Continuo.vst3");
    copy_dir(&bundle, &installed);
    // Ardour trusts a scan cache only if it is newer, in whole seconds, than the module.
    std::thread::sleep(Duration::from_millis(1100));
    let mut scan = Command::new(SCANNER);
    scan.arg(&installed);
    let scan_out = run(scan, &home, "ardour-vst3-scanner");
    eprintln!("scan: {}", scan_out.trim().replace('\n', " | "));

    let session = |phase: &str| -> Results {
        let result = work.join(format!("{phase}.txt"));
        let mut cmd = Command::new(LUA);
        cmd.arg(here.join("session.lua"))
            .env("CONTINUO_ARDOUR_PHASE", phase)
            .env("CONTINUO_ARDOUR_DIR", &work)
            .env("CONTINUO_ARDOUR_RESULT", &result);
        let output = run(cmd, &home, &format!("ardour7-lua session.lua ({phase})"));
        let results = parse_results(&std::fs::read_to_string(&result).unwrap_or_default());
        assert!(
            results.error.is_none() && results.done,
            "session.lua ({phase}) did not finish: {:?}; Ardour's output:\n{output}",
            results.error
        );
        results
    };

    let created = session("create");
    for i in &created.info {
        eprintln!("  {}", i.join(" "));
    }
    for p in &created.params {
        eprintln!("  param {p}");
    }
    let reopened = session("reopen");

    let mut report = String::new();
    let mut failures: Vec<String> = Vec::new();

    // -- take 1: 120 BPM
    let map120 = TempoMap::constant(120.0);
    let take1 = &created.takes["take1"];
    let notes1 = generated(&take_notes(take1, &map120));
    let grid1 = check_grid(&notes1, &map120);
    writeln!(report, "take 1 (120 BPM), recorded: {grid1}").unwrap();
    let logged1 = generated(&logged_notes(&created.events["take1"], &map120));
    let lgrid1 = check_grid(&logged1, &map120);
    writeln!(report, "take 1 (120 BPM), at Continuo's output: {lgrid1}").unwrap();
    if notes1.len() < 4 {
        failures.push(format!(
            "take 1 has {} generated notes; Generate did not produce a phrase",
            notes1.len()
        ));
    }
    for (label, g) in [("take 1", &grid1), ("take 1 (output)", &lgrid1)] {
        for p in g.problems.iter().take(12) {
            failures.push(format!("{label}: {p}"));
        }
    }

    // -- stop in the middle of the phrase (session.lua stops as soon as a generated note sounds)
    {
        let events = &created.events["stop"];
        let (stop_sample, _, last_rolling) = created.marks["stop_stopped"];
        // note-ons while rolling that no note-off followed while rolling: sounding at the stop
        let mut open: HashMap<(u8, u8), Vec<i64>> = HashMap::new();
        for e in events.iter().filter(|e| e.rolling) {
            let key = (e.status & 0x0f, e.data1);
            if e.is_note_on() {
                open.entry(key).or_default().push(e.sample);
            } else if e.is_note_off() {
                open.entry(key).or_default().pop();
            }
        }
        let at_stop: usize = open.values().map(Vec::len).sum();
        let mut ended = 0;
        let mut ended_late = 0;
        let mut latest_cycles = 0;
        for e in events.iter().filter(|e| !e.rolling && e.is_note_off()) {
            let key = (e.status & 0x0f, e.data1);
            if open.get_mut(&key).and_then(Vec::pop).is_some() {
                ended += 1;
                latest_cycles = latest_cycles.max(e.cycle - last_rolling);
                // in the first block after the last rolling one, or the next
                if e.cycle > last_rolling + 2 {
                    ended_late += 1;
                }
            }
        }
        let hanging: usize = open.values().map(Vec::len).sum();
        writeln!(
            report,
            "stop at sample {stop_sample} (beat {:.3}): {at_stop} notes sounding, {ended} ended \
             after the stop (the last {latest_cycles} blocks after the last rolling one), \
             {ended_late} of them late, {hanging} left sounding 1 s later",
            map120.beat_at(stop_sample as f64)
        )
        .unwrap();
        if hanging > 0 {
            failures.push(format!(
                "stop: {hanging} notes still sounding 1 s after the transport stopped"
            ));
        }
        if ended_late > 0 {
            failures.push(format!(
                "stop: {ended_late} notes ended later than the second block after the stop"
            ));
        }
        if at_stop == 0 {
            failures.push(
                "stop: no generated note was sounding when the transport stopped (none sounded \
                 long enough to stop while it did), so stopping was not tested"
                    .into(),
            );
        }
    }

    // -- take 2: 120 -> 90 BPM at beat 10
    let map2 = TempoMap {
        points: created.tempo.clone(),
    };
    assert!(
        (map2.samples_per_beat(TEMPO_CHANGE_BEAT + 0.5) - 32_000.0).abs() < 1.0
            && (map2.samples_per_beat(TEMPO_CHANGE_BEAT - 0.5) - 24_000.0).abs() < 1.0,
        "take 2's tempo map is not 120 then 90 BPM: {:?}",
        created.tempo
    );
    let take2 = &created.takes["take2"];
    let notes2 = generated(&take_notes(take2, &map2));
    let grid2 = check_grid(&notes2, &map2);
    let after_change = notes2
        .iter()
        .filter(|n| n.start_beats >= TEMPO_CHANGE_BEAT)
        .count();
    writeln!(
        report,
        "take 2 (120 -> 90 BPM at beat 10), recorded: {grid2}; {after_change} notes start after the change"
    )
    .unwrap();
    let logged2 = generated(&logged_notes(&created.events["take2"], &map2));
    let lgrid2 = check_grid(&logged2, &map2);
    writeln!(report, "take 2, at Continuo's output: {lgrid2}").unwrap();
    if after_change == 0 {
        failures.push("take 2: no generated note starts after the tempo change".into());
    }
    for (label, g) in [("take 2", &grid2), ("take 2 (output)", &lgrid2)] {
        for p in g.problems.iter().take(12) {
            failures.push(format!("{label}: {p}"));
        }
    }

    // -- reopening the saved session
    {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut first = Vec::new();
        for label in ["reopen_stopped", "reopen_rolling"] {
            for e in reopened.events.get(label).into_iter().flatten() {
                let kind = match e.kind() {
                    0xb0 => "CC",
                    0xe0 => "pitch bend",
                    0xd0 => "channel pressure",
                    0xa0 => "poly pressure",
                    0x80 | 0x90 => "note",
                    _ => "other",
                };
                *counts.entry(kind).or_default() += 1;
                if first.len() < 8 {
                    first.push(format!(
                        "{:02x} {} {} (cycle {})",
                        e.status, e.data1, e.data2, e.cycle
                    ));
                }
            }
        }
        let n = |k: &str| counts.get(k).copied().unwrap_or(0);
        writeln!(
            report,
            "reopen: {} CC, {} pitch bend, {} channel pressure, {} poly pressure, {} note events, \
             {} other{}",
            n("CC"),
            n("pitch bend"),
            n("channel pressure"),
            n("poly pressure"),
            n("note"),
            n("other"),
            if first.is_empty() {
                String::new()
            } else {
                format!(" (first: {})", first.join(", "))
            }
        )
        .unwrap();
        let unplayed = n("CC") + n("pitch bend") + n("channel pressure") + n("poly pressure");
        if unplayed > 0 {
            failures.push(format!(
                "reopen: the restored session sent {unplayed} CC/pitch bend/pressure events \
                 nobody played"
            ));
        }
    }

    eprintln!(
        "{report}Ardour test took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "Continuo in Ardour:\n{report}failures:\n  {}",
        failures.join("\n  ")
    );
}
