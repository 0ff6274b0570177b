//! Opening and closing the editor many times through the CLAP gui extension, as a host does
//! whenever the user clicks the plugin: each round the host makes a window, the plugin embeds
//! its editor in it, draws for a moment, and is closed (`gui.destroy()`), then the host destroys
//! its window. After every close: the editor's X11 thread has ended (the process has as many
//! threads as before it opened), its window is gone (the X server holds as many windows as
//! before), and over all rounds the plugin logged no X11 error, no failed request to its X11
//! thread and no other warning (its log goes to a file through `NICE_LOG`).
//!
//! This is what baseview 0.4.2 got wrong (see vendor/README.md): its teardown asked the stopping
//! X11 thread to show the window, gave up when that failed, and returned without waiting for the
//! thread, which then destroyed its window after the host had destroyed the parent (BadWindow on
//! PresentSelectInput and DestroyWindow).
//!
//! Needs Xvfb (`.ci/run` installs it). Without it the test says it skipped, except in CI
//! (`CI=true`), where a missing Xvfb is a failure.

mod common;

use std::time::{Duration, Instant};

use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use common::xvfb::Xvfb;
use common::*;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};

const ROUNDS: usize = 30;

/// Threads of this process, from /proc.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Every window on the X server: the root and all its descendants.
fn windows(conn: &impl Connection, root: u32) -> usize {
    let mut count = 0;
    let mut todo = vec![root];
    while let Some(w) = todo.pop() {
        count += 1;
        // A window may vanish between listing and querying (another client's teardown).
        if let Ok(tree) = conn.query_tree(w).unwrap().reply() {
            todo.extend(tree.children);
        }
    }
    count
}

/// The plugin's warnings and errors in its log (nice-plug's tracing output).
fn complaints(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains(" WARN ")
                || l.contains(" ERROR ")
                || l.contains("X11 error")
                || l.contains("X11Error")
                || l.contains("X11 thread")
                || l.contains("panicked")
        })
        .collect()
}

#[test]
fn the_editor_opens_and_closes_many_times_without_x11_errors_threads_or_windows_left() {
    let Some(xvfb) = Xvfb::for_editor_test(300) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("plugin.log");
    // SAFETY: this test binary has this one test, so no other thread reads the environment; it
    // is read when the plugin loads (below).
    unsafe { std::env::set_var("NICE_LOG", &log_path) };

    let mut host = Host::new();
    // The engine's own threads are up; let them settle before counting.
    host.idle();
    std::thread::sleep(Duration::from_millis(200));
    let (conn, screen_num) = x11rb::connect(Some(&xvfb.display)).unwrap();
    let screen = &conn.setup().roots[screen_num];
    let root = screen.root;
    let threads_before = threads();
    let windows_before = windows(&conn, root);

    let started = Instant::now();
    let mut open_time = Duration::ZERO;
    let mut close_time = Duration::ZERO;
    for round in 0..ROUNDS {
        let parent = conn.generate_id().unwrap();
        conn.create_window(
            screen.root_depth,
            parent,
            root,
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

        let t = Instant::now();
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
        open_time += t.elapsed();
        assert!(
            threads() > threads_before,
            "round {round}: no editor thread"
        );
        let children = conn.query_tree(parent).unwrap().reply().unwrap().children;
        assert_eq!(children.len(), 1, "round {round}: the editor's window");
        // Let it draw a few frames, the host's main thread running GUI tasks; some rounds close
        // at once (a double click), some after a while.
        let dwell = [0u64, 20, 150][round % 3];
        let until = Instant::now() + Duration::from_millis(dwell);
        loop {
            host.idle();
            if Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }

        let t = Instant::now();
        {
            let handle = host.main_thread();
            let gui: PluginGui = handle.get_extension().unwrap();
            gui.destroy(&handle);
        }
        close_time += t.elapsed();
        // destroy() has returned: the editor's thread and window are gone now, not later.
        assert_eq!(
            threads(),
            threads_before,
            "round {round}: a thread outlived the editor"
        );
        let children = conn.query_tree(parent).unwrap().reply().unwrap().children;
        assert!(
            children.is_empty(),
            "round {round}: the editor's window outlived destroy(): {children:?}"
        );
        // The host destroys its own window once the plugin has closed.
        conn.destroy_window(parent).unwrap();
        conn.flush().unwrap();
        host.idle();
        conn.get_input_focus().unwrap().reply().unwrap(); // the server has done it
        assert_eq!(
            windows(&conn, root),
            windows_before,
            "round {round}: windows leaked"
        );
    }
    let total = started.elapsed();
    // Anything the editor's threads would still log after a late teardown.
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let bad = complaints(&log);
    eprintln!(
        "{ROUNDS} open/close rounds in {:.2} s (open {:.1} ms, close {:.1} ms on average); \
         threads {threads_before} before, {} after; windows {windows_before} before, {} after; \
         {} log lines, {} warnings",
        total.as_secs_f64(),
        open_time.as_secs_f64() * 1e3 / ROUNDS as f64,
        close_time.as_secs_f64() * 1e3 / ROUNDS as f64,
        threads(),
        windows(&conn, root),
        log.lines().count(),
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "the plugin logged {} warnings or errors, the first ones:\n{}",
        bad.len(),
        bad.iter().take(12).copied().collect::<Vec<_>>().join("\n")
    );
}
