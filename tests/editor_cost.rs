//! What the open editor costs: the CPU time of its threads (the window's X11 thread, its
//! repaint watcher, Mesa's software-GL threads) over a few seconds, with nothing changing and
//! while a phrase plays, in a real X11 window under Xvfb (software GL: llvmpipe, so drawing is
//! dearer than on a GPU). An idle window must not redraw: it may take at most 3 % of one core;
//! while the phrase plays the playhead moves, so the window redraws, and costs more than idle.
//!
//! Needs Xvfb (`.ci/run` installs it). Without it the test says it skipped, except in CI
//! (`CI=true`), where a missing Xvfb is a failure.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use common::xvfb::Xvfb;
use common::*;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};

fn thread_ids() -> HashSet<u32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// CPU time (user + system) of these threads so far, in seconds (threads that ended count 0).
fn cpu_seconds(threads: &HashSet<u32>) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    threads
        .iter()
        .filter_map(|tid| std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok())
        .map(|stat| {
            // Fields after the command name (which is in parentheses): utime is the 12th, stime
            // the 13th.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / ticks
        })
        .sum()
}

fn setup() -> Vec<In> {
    vec![
        In::Param {
            time: 0,
            name: "Seed",
            value: 5.0,
        },
        In::Param {
            time: 0,
            name: "Output channel",
            value: 2.0,
        },
        In::Param {
            time: 0,
            name: "Length",
            value: 3.0, // 4 bars
        },
    ]
}

/// Plays `seconds` of blocks of 512 samples, each taking its own duration of wall time.
fn play_in_real_time(audio: &mut Audio, seconds: f64, input: &[In]) {
    let block_wall = Duration::from_secs_f64(512.0 / audio.sample_rate);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut next = Instant::now() + block_wall;
    let mut first = true;
    while Instant::now() < end {
        audio.block(512, if first { input } else { &[] });
        first = false;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        next += block_wall;
    }
}

#[test]
fn the_open_editor_costs_almost_nothing_idle_and_redraws_while_a_phrase_plays() {
    let Some(xvfb) = Xvfb::for_editor_test(520) else {
        return;
    };

    let mut host = Host::new();
    let mut transport = Transport::default();
    // A chorale heard, so the roll has notes to draw; the transport then stops.
    host.audio(&mut transport, |audio| {
        audio.block(512, &setup());
        let events = chorale("bwv66.6.mid", 8.0, audio.transport.tempo, 512);
        let end = events.last().unwrap().0 + 1;
        let mut at = 512;
        while at < end {
            audio.block(512, &events_in(&events, at, 512));
            at += 512;
        }
        audio.transport.playing = false;
        audio.block(512, &[]);
    });

    let (conn, screen_num) = x11rb::connect(Some(&xvfb.display)).unwrap();
    let screen = &conn.setup().roots[screen_num];
    let parent = conn.generate_id().unwrap();
    conn.create_window(
        screen.root_depth,
        parent,
        screen.root,
        0,
        0,
        900,
        620,
        0,
        WindowClass::INPUT_OUTPUT,
        screen.root_visual,
        &CreateWindowAux::new().background_pixel(screen.black_pixel),
    )
    .unwrap();
    conn.map_window(parent).unwrap();
    conn.flush().unwrap();

    let before = thread_ids();
    {
        let handle = host.main_thread();
        let gui: PluginGui = handle.get_extension().expect("the plugin has a GUI");
        let config = GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        };
        gui.create(&handle, config).expect("create the editor");
        // SAFETY: the parent window lives until after destroy().
        unsafe { gui.set_parent(&handle, Window::from_x11_handle(parent as _)) }
            .expect("embed the editor");
        gui.show(&handle).expect("show the editor");
    }
    // Let it draw its first frames (and Mesa start its threads).
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(100));
        host.idle();
    }
    let editor: HashSet<u32> = thread_ids().difference(&before).copied().collect();
    assert!(!editor.is_empty(), "the editor started no thread");

    // Idle: nothing plays, nothing changes.
    let seconds = 4.0;
    let c0 = cpu_seconds(&editor);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs_f64(seconds) {
        std::thread::sleep(Duration::from_millis(100));
        host.idle();
    }
    let idle = (cpu_seconds(&editor) - c0) / t0.elapsed().as_secs_f64();

    // A phrase plays: press Generate with the transport running, in real time.
    transport.playing = true;
    let c1 = cpu_seconds(&editor);
    let t1 = Instant::now();
    host.audio(&mut transport, |audio| {
        audio.transport.playing = true;
        let press = [In::Param {
            time: 0,
            name: "Generate",
            value: 1.0,
        }];
        let release = [In::Param {
            time: 0,
            name: "Generate",
            value: 0.0,
        }];
        play_in_real_time(audio, 0.05, &press);
        play_in_real_time(audio, seconds, &release);
    });
    let playing = (cpu_seconds(&editor) - c1) / t1.elapsed().as_secs_f64();

    {
        let handle = host.main_thread();
        let gui: PluginGui = handle.get_extension().unwrap();
        gui.destroy(&handle);
    }
    eprintln!(
        "editor CPU under Xvfb (software GL), {} threads: idle {:.1} % of one core, while a \
         phrase plays {:.1} %",
        editor.len(),
        idle * 100.0,
        playing * 100.0
    );
    assert!(
        idle < 0.03,
        "the idle editor took {:.1} % of a core: it redraws with nothing changing",
        idle * 100.0
    );
    assert!(
        playing > idle,
        "the editor did not redraw while a phrase played ({:.1} % vs idle {:.1} %)",
        playing * 100.0,
        idle * 100.0
    );
}
