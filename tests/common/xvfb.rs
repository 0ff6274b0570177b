//! A private X server for one test process, for the tests that open the editor in a real X11
//! window (`editor_window`, `editor_teardown`, `editor_cost`). It is started with `-terminate`,
//! so it exits by itself when the last client (this process) disconnects: killing it while the
//! editor's thread still holds an Xlib connection would make Xlib end the whole test process
//! with status 1.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Xvfb {
    _child: Child,
    /// Keeps the server up until the process ends (see `-terminate`).
    _keepalive: x11rb::rust_connection::RustConnection,
    pub display: String,
}

impl Xvfb {
    /// Starts a server on display `base + pid % 200` (each test file its own `base`, so test
    /// binaries running at once never share a display); `None` when Xvfb is not installed.
    pub fn start(base: u32) -> Option<Xvfb> {
        let display = format!(":{}", base + std::process::id() % 200);
        let child = Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
                "+extension",
                "GLX",
                "-terminate",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok((keepalive, _)) = x11rb::connect(Some(&display)) {
                return Some(Xvfb {
                    _child: child,
                    _keepalive: keepalive,
                    display,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Xvfb {display} did not come up in 10 s");
    }
}

impl Xvfb {
    /// The server a test that opens the editor runs on, with `DISPLAY` set to it; `None` (the
    /// test says it skipped) where Xvfb is not installed, except in CI (`CI=true`), where a
    /// missing Xvfb fails the test. Call it only from a test binary with that one test: it sets
    /// the process's environment.
    pub fn for_editor_test(base: u32) -> Option<Xvfb> {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let Some(xvfb) = Xvfb::start(base) else {
            assert!(
                !in_ci,
                "Xvfb is not installed: .ci/run should have installed it"
            );
            eprintln!("skipped: Xvfb is not installed (apt-get install xvfb libgl1-mesa-dri)");
            return None;
        };
        // SAFETY: each editor test binary has one test, so no other thread reads the environment.
        unsafe { std::env::set_var("DISPLAY", &xvfb.display) };
        Some(xvfb)
    }
}
