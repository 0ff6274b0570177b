//! The editor in a real X11 window, opened through the CLAP gui extension as a host opens it:
//! with a phrase in the engine, it must draw the roll (context notes, phrase notes) within a few
//! frames. The screenshot is written to `target/editor.png` (and to `docs/editor.png` with
//! `CONTINUO_UPDATE_SCREENSHOT=1`).
//!
//! Needs Xvfb (`.ci/run` installs it). Without it the test says it skipped, except in CI
//! (`CI=true`), where a missing Xvfb is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use common::*;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, ImageFormat, WindowClass};

const WIDTH: u16 = 900;
const HEIGHT: u16 = 620;
/// The theme's colours for context and phrase notes (src/editor/theme.rs).
const CONTEXT_NOTE: [u8; 3] = [86, 156, 214];
const PHRASE_NOTE: [u8; 3] = [240, 170, 60];
const PHRASE_NOTE_PLAYED: [u8; 3] = [150, 110, 50];

/// A private X server for this test process.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Option<Xvfb> {
        let display = format!(":{}", 70 + std::process::id() % 200);
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
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if x11rb::connect(Some(&display)).is_ok() {
                return Some(Xvfb { child, display });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Xvfb {display} did not come up in 10 s");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Plays half a chorale, presses Generate and runs until the phrase has begun to play.
fn generate_a_phrase(host: &mut Host) {
    let mut transport = Transport::default();
    host.audio(&mut transport, |audio| {
        let setup = [
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
        ];
        audio.block(512, &setup);
        let events = chorale("bwv66.6.mid", 16.0, audio.transport.tempo, 512);
        let end = events.last().unwrap().0 + 1;
        let mut at = 512;
        while at < end {
            audio.block(512, &events_in(&events, at, 512));
            at += 512;
        }
        audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 1.0,
            }],
        );
        audio.block(
            512,
            &[In::Param {
                time: 0,
                name: "Generate",
                value: 0.0,
            }],
        );
        let started = Instant::now();
        let mut generated = 0;
        while generated < 8 {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no generated notes within 120 s"
            );
            let block = audio.block(512, &[]);
            generated += block
                .events
                .iter()
                .filter(|e| e.on && e.channel == 2)
                .count();
            if generated == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
}

fn screenshot(conn: &impl Connection, window: u32) -> Vec<[u8; 3]> {
    let image = conn
        .get_image(ImageFormat::Z_PIXMAP, window, 0, 0, WIDTH, HEIGHT, !0)
        .unwrap()
        .reply()
        .unwrap();
    assert_eq!(image.depth, 24);
    // 32 bits per pixel, little-endian BGRX.
    image
        .data
        .chunks_exact(4)
        .map(|p| [p[2], p[1], p[0]])
        .collect()
}

fn write_png(path: &Path, pixels: &[[u8; 3]]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, WIDTH as u32, HEIGHT as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels.concat()).unwrap();
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (*x as i32 - y as i32).abs() <= 6)
}

#[test]
fn editor_draws_context_and_phrase_in_an_x11_window() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Some(xvfb) = Xvfb::start() else {
        assert!(
            !in_ci,
            "Xvfb is not installed: .ci/run should have installed it"
        );
        eprintln!("skipped: Xvfb is not installed (apt-get install xvfb libgl1-mesa-dri)");
        return;
    };
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe { std::env::set_var("DISPLAY", &xvfb.display) };

    let mut host = Host::new();
    generate_a_phrase(&mut host);

    // The host's window, into which the plugin embeds its editor.
    let (conn, screen_num) = x11rb::connect(Some(&xvfb.display)).unwrap();
    let screen = &conn.setup().roots[screen_num];
    let parent = conn.generate_id().unwrap();
    conn.create_window(
        screen.root_depth,
        parent,
        screen.root,
        0,
        0,
        WIDTH,
        HEIGHT,
        0,
        WindowClass::INPUT_OUTPUT,
        screen.root_visual,
        &CreateWindowAux::new().background_pixel(screen.black_pixel),
    )
    .unwrap();
    conn.map_window(parent).unwrap();
    conn.flush().unwrap();

    {
        let handle = host.main_thread();
        let gui: PluginGui = handle.get_extension().expect("the plugin has a GUI");
        let config = GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        };
        assert!(gui.is_api_supported(&handle, config));
        gui.create(&handle, config).expect("create the editor");
        let size = gui.get_size(&handle).expect("editor size");
        assert!(size.width >= 700 && size.height >= 450, "{size:?}");
        // SAFETY: the parent window lives until the end of the test, after destroy().
        unsafe { gui.set_parent(&handle, Window::from_x11_handle(parent as _)) }
            .expect("embed the editor");
        gui.show(&handle).expect("show the editor");
    }

    // Let it draw: egui repaints on its own timer; the host's main thread runs GUI tasks.
    let mut pixels = Vec::new();
    let started = Instant::now();
    let (mut context, mut phrase, mut distinct) = (0, 0, 0);
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(250));
        host.idle();
        pixels = screenshot(&conn, parent);
        context = pixels.iter().filter(|p| near(**p, CONTEXT_NOTE)).count();
        phrase = pixels
            .iter()
            .filter(|p| near(**p, PHRASE_NOTE) || near(**p, PHRASE_NOTE_PLAYED))
            .count();
        distinct = pixels
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        if context > 200
            && phrase > 200
            && distinct > 20
            && started.elapsed() > Duration::from_secs(2)
        {
            break;
        }
    }
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/editor.png");
    write_png(&target, &pixels);
    if std::env::var("CONTINUO_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        write_png(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/editor.png"),
            &pixels,
        );
    }
    {
        let handle = host.main_thread();
        let gui: PluginGui = handle.get_extension().unwrap();
        gui.destroy(&handle);
    }
    eprintln!("screenshot {}: {distinct} colours, {context} context-note pixels, {phrase} phrase-note pixels", target.display());
    assert!(distinct > 20, "the window looks blank: {distinct} colours");
    assert!(context > 200, "context notes not drawn: {context} pixels");
    assert!(phrase > 200, "phrase notes not drawn: {phrase} pixels");
}
