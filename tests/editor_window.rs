//! The editor in a real X11 window, opened through the CLAP gui extension as a host opens it:
//! with a phrase in the engine, it must draw the roll (context notes, phrase notes) within a few
//! frames, and read as a musician reads it: the phrase takes at least a third of the roll's width
//! and its shortest notes are several pixels long, at the default size and at the smallest the
//! window allows. The screenshots are written to `target/editor.png` and
//! `target/editor-min.png` (and the first to `docs/editor.png` with
//! `CONTINUO_UPDATE_SCREENSHOT=1`). That every control is on screen is checked on egui's own
//! layout of the same window (`src/editor/window_tests.rs`).
//!
//! Needs Xvfb (`.ci/run` installs it). Without it the test says it skipped, except in CI
//! (`CI=true`), where a missing Xvfb is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clack_extensions::gui::{GuiApiType, GuiConfiguration, GuiSize, PluginGui, Window};
use common::xvfb::Xvfb;
use common::*;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, ImageFormat, WindowClass};

/// The editor's default and smallest sizes.
const WIDTH: u16 = continuo::editor::INITIAL_SIZE.width as u16;
const HEIGHT: u16 = continuo::editor::INITIAL_SIZE.height as u16;
const MIN_WIDTH: u16 = continuo::editor::MIN_SIZE.width as u16;
const MIN_HEIGHT: u16 = continuo::editor::MIN_SIZE.height as u16;
/// The theme's colours for the roll, context and phrase notes (src/editor/theme.rs).
const ROLL_BACKGROUND: [u8; 3] = [24, 26, 31];
const CONTEXT_NOTE: [u8; 3] = [86, 156, 214];
const PHRASE_NOTE: [u8; 3] = [240, 170, 60];
const PHRASE_NOTE_PLAYED: [u8; 3] = [150, 110, 50];

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

fn screenshot(conn: &impl Connection, window: u32, width: u16, height: u16) -> Vec<[u8; 3]> {
    let image = conn
        .get_image(ImageFormat::Z_PIXMAP, window, 0, 0, width, height, !0)
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

fn write_png(path: &Path, pixels: &[[u8; 3]], width: u16) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let height = pixels.len() / width as usize;
    let mut encoder = png::Encoder::new(file, width as u32, height as u32);
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

fn is_phrase_note(p: [u8; 3]) -> bool {
    near(p, PHRASE_NOTE) || near(p, PHRASE_NOTE_PLAYED)
}

/// A phrase note's colour blended about half and half with the roll behind it (the roll and
/// the phrase's tinted span are greys with red − blue under 30).
fn mostly_orange([r, g, b]: [u8; 3]) -> bool {
    r > g && g > b && r as i32 - b as i32 > 40
}

/// What a musician reads off the roll in a screenshot, in pixels.
#[derive(Debug)]
struct RollReading {
    /// Left and right edge of the roll, pitch names included (its background colour; the test
    /// makes one variation, so no thumbnails share the colour).
    roll: (usize, usize),
    /// Leftmost and rightmost pixel of a phrase note.
    phrase: (usize, usize),
    /// Width of the narrowest phrase note: the shortest run of note colour that two rows in a
    /// row repeat exactly (the body of a note; its rounded corners are shorter, blended runs),
    /// with its anti-aliased ends where they are mostly note colour.
    smallest_note: usize,
}

impl RollReading {
    /// Share of the roll's width from the phrase's first note to its last.
    fn phrase_share(&self) -> f64 {
        (self.phrase.1 - self.phrase.0 + 1) as f64 / (self.roll.1 - self.roll.0 + 1) as f64
    }
}

fn read_roll(pixels: &[[u8; 3]], width: usize) -> RollReading {
    let height = pixels.len() / width;
    let at = |x: usize, y: usize| pixels[y * width + x];
    // The roll's background colour, exactly: the window's own background is a near grey.
    let (mut left, mut right, mut top) = (usize::MAX, 0, usize::MAX);
    for y in 0..height {
        for x in 0..width {
            if at(x, y) == ROLL_BACKGROUND {
                (left, right, top) = (left.min(x), right.max(x), top.min(y));
            }
        }
    }
    assert!(right > left, "no roll on screen");
    let mut phrase = (usize::MAX, 0);
    // (first x, last x) of a run → (last row it was seen on, rows in a row it was seen on)
    let mut runs: std::collections::HashMap<(usize, usize), (usize, usize)> = Default::default();
    let mut smallest_note = usize::MAX;
    // Below the bar of a streaming phrase's progress, along the roll's top.
    for y in top + 8..height {
        let mut x = left;
        while x <= right {
            if !is_phrase_note(at(x, y)) {
                x += 1;
                continue;
            }
            let start = x;
            while x <= right && is_phrase_note(at(x, y)) {
                x += 1;
            }
            phrase = (phrase.0.min(start), phrase.1.max(x - 1));
            let seen = runs.entry((start, x - 1)).or_insert((y, 0));
            *seen = if seen.0 + 1 == y {
                (y, seen.1 + 1)
            } else {
                (y, 1)
            };
            // A note cut by the roll's right edge is not a short note.
            let cut_by_the_edge = x + 6 >= right;
            if seen.1 >= 2 && !cut_by_the_edge {
                // The anti-aliased pixel at each end counts when it is mostly note colour.
                let edges = [start.checked_sub(1), Some(x).filter(|&e| e <= right)]
                    .into_iter()
                    .flatten()
                    .filter(|&e| mostly_orange(at(e, y)))
                    .count();
                smallest_note = smallest_note.min(x - start + edges);
            }
        }
    }
    RollReading {
        roll: (left, right),
        phrase,
        smallest_note,
    }
}

/// A screenshot's pixels, with its counts of context-note pixels, phrase-note pixels and
/// distinct colours.
type Screenshot = (Vec<[u8; 3]>, usize, usize, usize);

/// Screenshots until the roll shows context and phrase notes (egui repaints on its own timer;
/// the host's main thread runs GUI tasks) and `ready` says so, at most 20 s.
fn screenshot_when_drawn(
    host: &mut Host,
    conn: &impl Connection,
    window: u32,
    (width, height): (u16, u16),
    ready: impl Fn(&[[u8; 3]]) -> bool,
) -> Screenshot {
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        host.idle();
        let pixels = screenshot(conn, window, width, height);
        let context = pixels.iter().filter(|p| near(**p, CONTEXT_NOTE)).count();
        let phrase = pixels.iter().filter(|p| is_phrase_note(**p)).count();
        let distinct = pixels
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        let drawn = context > 200 && phrase > 200 && distinct > 20 && ready(&pixels);
        if (drawn && started.elapsed() > Duration::from_secs(2))
            || started.elapsed() > Duration::from_secs(20)
        {
            return (pixels, context, phrase, distinct);
        }
    }
}

/// Checks what a musician checks in a screenshot of `width` pixels: the roll is drawn, the
/// phrase takes at least a third of its width, its shortest notes are several pixels long.
/// Says what it measured first, so a failure shows every size's figures.
fn assert_readable(shots: &[(String, Screenshot, u16)]) {
    let readings: Vec<Option<RollReading>> = shots
        .iter()
        .map(|(name, shot, width)| {
            let has_notes = shot.0.iter().any(|p| is_phrase_note(*p));
            let roll = has_notes.then(|| read_roll(&shot.0, *width as usize))?;
            eprintln!(
                "{name}: roll x {}..{}, phrase x {}..{}: {:.0} % of the roll's width; \
                 smallest note {} px",
                roll.roll.0,
                roll.roll.1,
                roll.phrase.0,
                roll.phrase.1,
                roll.phrase_share() * 100.0,
                roll.smallest_note
            );
            Some(roll)
        })
        .collect();
    for ((name, (_, context, phrase, distinct), _), roll) in shots.iter().zip(readings) {
        assert!(
            *distinct > 20,
            "{name}: the window looks blank: {distinct} colours"
        );
        assert!(
            *context > 200,
            "{name}: context notes not drawn: {context} pixels"
        );
        assert!(
            *phrase > 200,
            "{name}: phrase notes not drawn: {phrase} pixels"
        );
        let roll = roll.expect("phrase notes on screen");
        assert!(
            roll.phrase_share() >= 1.0 / 3.0,
            "{name}: the phrase takes {:.0} % of the roll's width, under a third: {roll:?}",
            roll.phrase_share() * 100.0
        );
        assert!(
            (3..usize::MAX).contains(&roll.smallest_note),
            "{name}: the shortest phrase notes are {} px long: {roll:?}",
            roll.smallest_note
        );
    }
}

#[test]
fn editor_draws_context_and_phrase_in_an_x11_window() {
    let Some(xvfb) = Xvfb::for_editor_test(70) else {
        return;
    };

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

    let default = screenshot_when_drawn(&mut host, &conn, parent, (WIDTH, HEIGHT), |_| true);
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    write_png(&target.join("editor.png"), &default.0, WIDTH);
    if std::env::var("CONTINUO_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        write_png(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/editor.png"),
            &default.0,
            WIDTH,
        );
    }

    // The smallest size the window allows, as a host's resize sets it.
    {
        let handle = host.main_thread();
        let gui: PluginGui = handle.get_extension().unwrap();
        assert!(gui.can_resize(&handle), "the editor is resizable");
        gui.set_size(
            &handle,
            GuiSize {
                width: MIN_WIDTH as u32,
                height: MIN_HEIGHT as u32,
            },
        )
        .expect("resize the editor to its smallest");
    }
    // Drawn at the new size: the roll's background ends inside the smaller window.
    let resized = |pixels: &[[u8; 3]]| {
        let row = &pixels[(MIN_HEIGHT as usize / 2) * WIDTH as usize..][..WIDTH as usize];
        !row[MIN_WIDTH as usize..]
            .iter()
            .any(|p| near(*p, ROLL_BACKGROUND))
    };
    let smallest = screenshot_when_drawn(&mut host, &conn, parent, (WIDTH, HEIGHT), &resized);
    assert!(
        resized(&smallest.0),
        "the editor did not shrink to {MIN_WIDTH} x {MIN_HEIGHT}"
    );
    let smallest_pixels: Vec<[u8; 3]> = smallest
        .0
        .chunks_exact(WIDTH as usize)
        .take(MIN_HEIGHT as usize)
        .flat_map(|row| row[..MIN_WIDTH as usize].iter().copied())
        .collect();
    write_png(&target.join("editor-min.png"), &smallest_pixels, MIN_WIDTH);
    {
        let handle = host.main_thread();
        let gui: PluginGui = handle.get_extension().unwrap();
        gui.destroy(&handle);
    }
    // Let the editor's window thread close its X connection before the process ends.
    std::thread::sleep(Duration::from_millis(300));
    let smallest = (smallest_pixels, smallest.1, smallest.2, smallest.3);
    assert_readable(&[
        (format!("{WIDTH} x {HEIGHT}"), default, WIDTH),
        (format!("{MIN_WIDTH} x {MIN_HEIGHT}"), smallest, MIN_WIDTH),
    ]);
}
