//! Which beats the roll shows. By default ("fit"): the last bars the musician played and the
//! whole phrase that answers them, following the playhead; or the musician's own zoom and scroll
//! ([`RollView`]), which the project keeps (`ContinuoParams::roll_view`). Pure arithmetic, so it is
//! unit-tested without a window.

use serde::{Deserialize, Serialize};

/// Beats of played context the default view aims for; rounded to whole bars of the host's meter
/// and kept within [`CONTEXT_BARS`] (4/4: 2 bars, 3/4 and 6/8: 3 bars, 2/4: 4 bars).
const CONTEXT_TARGET_BEATS: f64 = 8.0;
/// Fewest and most bars of played context the default view shows.
const CONTEXT_BARS: (f64, f64) = (2.0, 4.0);
/// The default view never squeezes a grid step below this many points, so the shortest note
/// stays visible at a glance; a phrase longer than fits runs past the right edge and the view
/// follows the playhead into it.
pub const MIN_POINTS_PER_STEP: f32 = 5.0;
/// While following, the playhead never passes this fraction of the roll's width: the view
/// scrolls with it instead.
const FOLLOW_AT: f64 = 0.75;
/// Zoom limits: from half a bar of 4/4 to 64 bars.
pub const MIN_SPAN_BEATS: f64 = 2.0;
pub const MAX_SPAN_BEATS: f64 = 256.0;

/// The musician's zoom and scroll. `Default` is "fit": the default view, following the playhead.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RollView {
    /// Beats across the roll once the musician zoomed; `None` = the default view's span.
    pub span_beats: Option<f64>,
    /// The roll's left edge in beats once the musician scrolled; `None` = follow the playhead.
    pub start_beat: Option<f64>,
}

/// What the engine's snapshot says about time, as far as the view is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    pub playhead: f64,
    pub beats_per_bar: f64,
    pub step_beats: f64,
    /// The current phrase's start and end, when there is one.
    pub phrase: Option<(f64, f64)>,
    /// The first beat the roll has notes for (the start of the context the engine keeps).
    pub earliest: f64,
}

impl Timeline {
    /// The last beat the roll has anything for: the playhead or the phrase's end.
    fn latest(&self) -> f64 {
        self.phrase
            .map_or(self.playhead, |(_, end)| end.max(self.playhead))
    }

    /// The phrase, while it is still to play or playing.
    fn current_phrase(&self) -> Option<(f64, f64)> {
        self.phrase
            .filter(|&(start, end)| end > start && self.playhead < end)
    }
}

/// Bars of played context the default view shows in this meter.
pub fn context_bars(beats_per_bar: f64) -> f64 {
    (CONTEXT_TARGET_BEATS / beats_per_bar.max(0.25))
        .round()
        .clamp(CONTEXT_BARS.0, CONTEXT_BARS.1)
}

/// The beats the default view would like to show, before any width limit: the bars heard up to
/// the phrase (or up to the playhead), then the whole phrase (or a bar of look-ahead).
pub fn wanted_beats(t: &Timeline) -> (f64, f64) {
    let context = context_bars(t.beats_per_bar) * t.beats_per_bar;
    match t.current_phrase() {
        // The phrase may start after the press (response gap): what was heard ends at the
        // playhead, which is then before the phrase.
        Some((start, end)) => (start.min(t.playhead) - context, end),
        None => (t.playhead - context, t.playhead + t.beats_per_bar),
    }
}

/// Most beats that fit `width` points without a step getting narrower than
/// [`MIN_POINTS_PER_STEP`].
pub fn widest_span(width: f32, step_beats: f64) -> f64 {
    (width / MIN_POINTS_PER_STEP) as f64 * step_beats
}

/// The beats `start..end` the roll shows, `width` points wide.
pub fn visible_beats(view: &RollView, t: &Timeline, width: f32) -> (f64, f64) {
    let (wanted_start, wanted_end) = wanted_beats(t);
    let span = view
        .span_beats
        .unwrap_or_else(|| (wanted_end - wanted_start).min(widest_span(width, t.step_beats)))
        .clamp(MIN_SPAN_BEATS, MAX_SPAN_BEATS);
    let start = match view.start_beat {
        Some(start) => clamp_scroll(start, span, t),
        None => {
            // Follow: keep the playhead left of FOLLOW_AT of the width.
            wanted_start.max(t.playhead - FOLLOW_AT * span)
        }
    };
    (start, start + span)
}

/// Keeps a scrolled view over the notes: at least half of it shows beats the roll has.
fn clamp_scroll(start: f64, span: f64, t: &Timeline) -> f64 {
    let low = t.earliest - span / 2.0;
    let high = (t.latest() - span / 2.0).max(low);
    start.clamp(low, high)
}

/// Zooms by `factor` (> 1 shows more beats) keeping the beat at `anchor` where it is on screen;
/// a view that follows the playhead keeps following, at the new span.
pub fn zoom(view: &RollView, shown: (f64, f64), factor: f64, anchor: f64) -> RollView {
    let (start, end) = shown;
    let span = ((end - start) * factor).clamp(MIN_SPAN_BEATS, MAX_SPAN_BEATS);
    let factor = span / (end - start);
    RollView {
        span_beats: Some(span),
        start_beat: view.start_beat.map(|_| anchor - (anchor - start) * factor),
    }
}

/// Scrolls by `beats` (> 0 shows later beats); the view stops following the playhead.
pub fn scroll(shown: (f64, f64), beats: f64, view: &RollView) -> RollView {
    let (start, end) = shown;
    RollView {
        span_beats: view.span_beats.or(Some(end - start)),
        start_beat: Some(start + beats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4/4 song at 4 steps a beat: the context the engine keeps starts 64 beats back, a 4-bar
    /// phrase starts at beat 17, and the playhead has just entered it.
    fn timeline() -> Timeline {
        Timeline {
            playhead: 17.5,
            beats_per_bar: 4.0,
            step_beats: 0.25,
            phrase: Some((17.0, 33.0)),
            earliest: 17.5 - 64.0,
        }
    }

    #[test]
    fn context_follows_the_meter() {
        assert_eq!(context_bars(4.0), 2.0, "4/4");
        assert_eq!(context_bars(3.0), 3.0, "3/4 and 6/8");
        assert_eq!(context_bars(2.0), 4.0, "2/4");
        assert_eq!(context_bars(6.0), 2.0, "12/8");
        assert_eq!(context_bars(1.5), 4.0, "3/8");
    }

    #[test]
    fn default_view_is_the_bars_heard_and_the_whole_phrase() {
        let t = timeline();
        let (start, end) = visible_beats(&RollView::default(), &t, 560.0);
        assert_eq!((start, end), (9.0, 33.0));
        let phrase_share = (33.0 - 17.0) / (end - start);
        assert!(phrase_share > 0.6, "{phrase_share}");
        // 24 beats over 560 points: a 16th note is 5.8 points.
        assert!(560.0 / ((end - start) / t.step_beats) >= MIN_POINTS_PER_STEP as f64);
    }

    #[test]
    fn a_phrase_after_a_gap_keeps_the_bars_heard_before_the_press() {
        let t = Timeline {
            playhead: 16.2,
            phrase: Some((18.0, 34.0)),
            ..timeline()
        };
        let (start, end) = visible_beats(&RollView::default(), &t, 560.0);
        assert!(
            (start - 8.2).abs() < 1e-9 && (end - 34.0).abs() < 1e-9,
            "{start}..{end}"
        );
    }

    #[test]
    fn without_a_phrase_the_view_ends_a_bar_past_the_playhead() {
        let t = Timeline {
            phrase: None,
            ..timeline()
        };
        assert_eq!(visible_beats(&RollView::default(), &t, 560.0), (9.5, 21.5));
        // A phrase that is over counts as none.
        let t = Timeline {
            playhead: 40.0,
            ..timeline()
        };
        assert_eq!(visible_beats(&RollView::default(), &t, 560.0), (32.0, 44.0));
    }

    #[test]
    fn a_long_phrase_runs_past_the_edge_and_the_view_follows_the_playhead() {
        let t = Timeline {
            phrase: Some((17.0, 17.0 + 64.0)),
            ..timeline()
        };
        let (start, end) = visible_beats(&RollView::default(), &t, 400.0);
        let span = widest_span(400.0, 0.25);
        assert_eq!(span, 20.0);
        assert_eq!((start, end), (9.0, 29.0), "starts on the bars heard");
        let later = Timeline {
            playhead: 60.0,
            ..t
        };
        let (start, end) = visible_beats(&RollView::default(), &later, 400.0);
        assert_eq!((start, end), (45.0, 65.0), "playhead at 3/4 of the width");
    }

    #[test]
    fn zoom_keeps_the_beat_under_the_pointer() {
        let t = timeline();
        let scrolled = RollView {
            span_beats: Some(24.0),
            start_beat: Some(9.0),
        };
        let shown = visible_beats(&scrolled, &t, 560.0);
        let zoomed = zoom(&scrolled, shown, 0.5, 21.0);
        assert_eq!(zoomed.span_beats, Some(12.0));
        assert_eq!(zoomed.start_beat, Some(15.0));
        // The beat at 21 was at half the width, and still is.
        let (s, e) = visible_beats(&zoomed, &t, 560.0);
        assert_eq!((21.0 - s) / (e - s), 0.5);
    }

    #[test]
    fn zooming_a_following_view_keeps_it_following() {
        let t = timeline();
        let shown = visible_beats(&RollView::default(), &t, 560.0);
        let zoomed = zoom(&RollView::default(), shown, 2.0, 20.0);
        assert_eq!(
            zoomed,
            RollView {
                span_beats: Some(48.0),
                start_beat: None
            }
        );
        assert_eq!(visible_beats(&zoomed, &t, 560.0), (9.0, 57.0));
    }

    #[test]
    fn zoom_stays_within_limits() {
        let v = zoom(&RollView::default(), (0.0, 8.0), 0.01, 4.0);
        assert_eq!(v.span_beats, Some(MIN_SPAN_BEATS));
        let v = zoom(&RollView::default(), (0.0, 200.0), 10.0, 4.0);
        assert_eq!(v.span_beats, Some(MAX_SPAN_BEATS));
    }

    #[test]
    fn scrolling_pins_the_view_and_stays_near_the_notes() {
        let t = timeline();
        let shown = visible_beats(&RollView::default(), &t, 560.0);
        let back = scroll(shown, -4.0, &RollView::default());
        assert_eq!(
            back,
            RollView {
                span_beats: Some(24.0),
                start_beat: Some(5.0)
            }
        );
        assert_eq!(visible_beats(&back, &t, 560.0), (5.0, 29.0));
        // Far into the past or the future, the view stops half over the notes.
        let past = RollView {
            start_beat: Some(-1000.0),
            ..back
        };
        assert_eq!(visible_beats(&past, &t, 560.0).0, t.earliest - 12.0);
        let future = RollView {
            start_beat: Some(1000.0),
            ..back
        };
        assert_eq!(visible_beats(&future, &t, 560.0).0, 33.0 - 12.0);
    }
}
