//! Where each block is in musical time. The host's transport while it plays; otherwise our own
//! clock at the host's tempo (120 BPM when it gives none), advanced by the sample count. A block
//! whose start is not where the previous one ended (a loop, a jump, a start or stop) is flagged
//! so the engine can end its notes first.
//!
//! Real hosts do not report exact positions: Ardour rounds the beat position to 1/1920 beat
//! (12.5 samples at 120 BPM), others compute it from coarse ticks (1/960, 1/96 beat) or jitter by
//! a few samples. So while the host plays continuously the clock keeps its own count — the last
//! block's position plus its length at its tempo — and takes the host's report only as a check:
//! a report within [`Clock::jump_tolerance`] of the count is rounding, not a jump, and the count
//! stands (so note lengths and the capture stay exact); a report further off is a real jump and
//! the clock follows it. If the reports drift from the count on average (a tempo ramp the host
//! integrates, a host whose position runs at a slightly different rate), the count is pulled to
//! their mean in small steps, never flagged as a jump. When the tempo changes the host's report is
//! taken as it is (its tempo map may have changed inside the last block, where our count cannot
//! follow), again without a jump.

use super::phrase::Timeline;

/// The host's transport for one block, as far as the engine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HostTransport {
    pub playing: bool,
    pub tempo: Option<f64>,
    pub pos_beats: Option<f64>,
    pub time_signature: Option<(i32, i32)>,
    pub bar_start_beats: Option<f64>,
}

/// Musical time of one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockTime {
    pub timeline: Timeline,
    /// Beat position of the block's first sample.
    pub pos: f64,
    pub tempo: f64,
    pub sample_rate: f64,
    pub frames: u32,
    /// The block does not continue the previous one (jump, loop, start, stop).
    pub discontinuity: bool,
    /// Beats since activation, counted continuously through jumps (for silence timing).
    pub monotonic: f64,
    /// Quarter-note beats per bar (4 when the host does not say).
    pub bar_beats: f64,
    /// A beat where a bar starts, when known.
    pub bar_anchor: f64,
    pub time_signature: Option<(i32, i32)>,
}

impl BlockTime {
    pub fn samples_per_beat(&self) -> f64 {
        60.0 / self.tempo * self.sample_rate
    }
    pub fn beats_per_sample(&self) -> f64 {
        self.tempo / 60.0 / self.sample_rate
    }
    /// Beat position of the sample at `offset`.
    pub fn beat_at(&self, offset: u32) -> f64 {
        self.pos + offset as f64 * self.beats_per_sample()
    }
    /// The block's end (the next block's expected start).
    pub fn end(&self) -> f64 {
        self.beat_at(self.frames)
    }
    /// The sample offset at which the playhead reaches beat `b`:
    /// `round((b - pos) * 60 / tempo * sample_rate)` (may be negative or past the block).
    pub fn offset_of(&self, b: f64) -> f64 {
        ((b - self.pos) * 60.0 / self.tempo * self.sample_rate).round()
    }
    /// The first point at or after `beat` on a grid of `every` beats (bars count from the
    /// host's bar start).
    pub fn next_multiple(&self, beat: f64, every: f64, anchor: f64) -> f64 {
        // NaN and non-positive grids leave the beat as it is.
        if every.is_nan() || every <= 0.0 {
            return beat;
        }
        let n = ((beat - anchor) / every - 1e-9).ceil();
        anchor + n * every
    }
}

/// Keeps time between blocks.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    internal: f64,
    monotonic: f64,
    /// Timeline and expected start of the next block.
    expected: Option<(Timeline, f64)>,
    /// The last block's tempo.
    last_tempo: f64,
    /// Running mean of (host report − our count) while the host plays continuously, in beats.
    mean_deviation: f64,
    bars: BarAnchor,
}

/// The running mean's weight of each new report.
const DEVIATION_WEIGHT: f64 = 1.0 / 16.0;

impl Clock {
    pub fn reset(&mut self) {
        self.expected = None;
        self.mean_deviation = 0.0;
        self.bars = BarAnchor::default();
    }

    /// How far a host's report may sit from our count and still be rounding or jitter: 1/48 beat
    /// (twice the coarsest host rounding we know, 1/96 beat) plus 32 samples of jitter. Anything
    /// further is a jump. At 120 BPM and 48 kHz that is 532 samples (11 ms).
    pub fn jump_tolerance(tempo: f64, sample_rate: f64) -> f64 {
        1.0 / 48.0 + 32.0 * tempo / 60.0 / sample_rate
    }

    /// The time of a block of `frames` samples.
    pub fn begin(&mut self, transport: &HostTransport, frames: u32, sample_rate: f64) -> BlockTime {
        let tempo = transport
            .tempo
            .filter(|t| t.is_finite() && *t > 1.0 && *t < 2000.0)
            .unwrap_or(120.0);
        let sample_rate = if sample_rate.is_finite() && sample_rate > 0.0 {
            sample_rate
        } else {
            48_000.0
        };
        let host_pos = transport
            .pos_beats
            .filter(|p| p.is_finite() && p.abs() < 1e12);
        let (timeline, reported) = match (transport.playing, host_pos) {
            (true, Some(pos)) => (Timeline::Host, pos),
            _ => (Timeline::Internal, self.internal),
        };
        let (pos, discontinuity) = match self.expected {
            None => (reported, false),
            Some((t, _)) if t != timeline => (reported, true),
            Some((_, expected)) if timeline == Timeline::Internal => (expected, false),
            Some((_, expected)) => {
                let deviation = reported - expected;
                let tolerance = Self::jump_tolerance(tempo, sample_rate);
                if deviation.abs() > tolerance {
                    (reported, true)
                } else if tempo != self.last_tempo {
                    // A tempo change: the host's position follows its tempo map, which may have
                    // changed inside the last block (Ardour: 120 -> 90 BPM mid-block puts the
                    // count 200 samples off). Its report is the better estimate; not a jump.
                    self.mean_deviation = 0.0;
                    (reported, false)
                } else {
                    // Rounding or jitter: keep the count; follow a lasting drift in small steps.
                    self.mean_deviation += DEVIATION_WEIGHT * (deviation - self.mean_deviation);
                    if self.mean_deviation.abs() > 0.5 * tolerance {
                        let correction = self.mean_deviation;
                        self.mean_deviation = 0.0;
                        (expected + correction, false)
                    } else {
                        (expected, false)
                    }
                }
            }
        };
        if discontinuity || self.expected.is_none() {
            self.mean_deviation = 0.0;
        }
        let (num, den) = transport
            .time_signature
            .filter(|(n, d)| *n > 0 && *d > 0 && *n <= 64 && *d <= 64)
            .unwrap_or((4, 4));
        let bar_beats = num as f64 * 4.0 / den as f64;
        let bar_anchor = match timeline {
            Timeline::Host => self.bars.anchor(pos, bar_beats, transport.bar_start_beats),
            Timeline::Internal => 0.0,
        };
        BlockTime {
            timeline,
            pos,
            tempo,
            sample_rate,
            frames,
            discontinuity,
            monotonic: self.monotonic,
            bar_beats,
            bar_anchor,
            time_signature: transport.time_signature,
        }
    }

    /// Moves the clocks past a block.
    pub fn end(&mut self, time: &BlockTime) {
        let length = time.frames as f64 * time.beats_per_sample();
        self.monotonic += length;
        if time.timeline == Timeline::Internal {
            self.internal = time.pos + length;
        }
        self.expected = Some((time.timeline, time.pos + length));
        self.last_tempo = time.tempo;
    }
}

/// Where bars start, from the host's bar-start report checked against the time signature.
///
/// Ardour reports the bar start as bars × 4 beats whatever the meter (in 3/4 the bar starting at
/// beat 3 is reported at beat 4). A bar start after the playhead, or a bar further back than one
/// bar, contradicts the time signature; when bars × the bar's real length fits instead, the host
/// counts 4-beat bars, and from then on its reports are read that way (a consistent-looking
/// report is ambiguous: in 7/8 the bar at 3.5 is reported as 4 while the playhead is past 4).
#[derive(Debug, Clone, Copy, Default)]
struct BarAnchor {
    bar_beats: f64,
    /// The host reports bars × 4 beats.
    four_beat_bars: bool,
}

impl BarAnchor {
    fn anchor(&mut self, pos: f64, bar_beats: f64, reported: Option<f64>) -> f64 {
        if self.bar_beats != bar_beats {
            *self = Self {
                bar_beats,
                four_beat_bars: false,
            };
        }
        let Some(reported) = reported.filter(|b| b.is_finite() && b.abs() < 1e12) else {
            return 0.0;
        };
        // Fits: a bar start at or before the playhead, less than a bar back (allowing rounding).
        let eps = 1.0 / 32.0;
        let fits = |b: f64| b <= pos + eps && pos - b < bar_beats + eps;
        let bars = reported / 4.0;
        let four_beat = (bar_beats - 4.0).abs() > 1e-9 && (bars - bars.round()).abs() < 1e-6;
        let rescaled = bars.round() * bar_beats;
        if four_beat && (self.four_beat_bars || !fits(reported)) && fits(rescaled) {
            self.four_beat_bars = true;
            return rescaled;
        }
        if fits(reported) {
            return reported;
        }
        // Nothing the host says fits: bars from beat 0.
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(pos: f64, tempo: f64) -> HostTransport {
        HostTransport {
            playing: true,
            tempo: Some(tempo),
            pos_beats: Some(pos),
            ..Default::default()
        }
    }

    #[test]
    fn continuous_blocks_are_not_jumps_even_after_a_tempo_change() {
        let mut clock = Clock::default();
        let t = clock.begin(&host(0.0, 120.0), 24_000, 48_000.0);
        clock.end(&t);
        let t = clock.begin(&host(1.0, 90.0), 512, 48_000.0);
        assert!(!t.discontinuity);
        clock.end(&t);
        let t = clock.begin(
            &host(1.0 + 512.0 * 90.0 / 60.0 / 48_000.0, 90.0),
            512,
            48_000.0,
        );
        assert!(!t.discontinuity);
    }

    #[test]
    fn loops_stops_and_starts_are_discontinuities() {
        let mut clock = Clock::default();
        let t = clock.begin(&host(7.0, 120.0), 512, 48_000.0);
        clock.end(&t);
        assert!(clock.begin(&host(0.0, 120.0), 512, 48_000.0).discontinuity);
        // A small seek is still a jump: more than host rounding allows.
        let t = clock.begin(&host(0.0, 120.0), 512, 48_000.0);
        clock.end(&t);
        let seek = t.end() + 0.05;
        assert!(clock.begin(&host(seek, 120.0), 512, 48_000.0).discontinuity);
        let stopped = HostTransport {
            playing: false,
            ..host(7.0, 120.0)
        };
        let t = clock.begin(&stopped, 512, 48_000.0);
        assert!(t.discontinuity);
        assert_eq!(t.timeline, Timeline::Internal);
    }

    #[test]
    fn internal_clock_runs_at_120_without_a_tempo() {
        let mut clock = Clock::default();
        let none = HostTransport::default();
        let t = clock.begin(&none, 24_000, 48_000.0);
        clock.end(&t);
        let t = clock.begin(&none, 1, 48_000.0);
        assert_eq!(t.pos, 1.0);
        assert_eq!(t.tempo, 120.0);
    }

    #[test]
    fn offsets_round_to_the_nearest_sample() {
        let mut clock = Clock::default();
        let t = clock.begin(&host(1.0, 120.0), 512, 48_000.0);
        assert_eq!(t.offset_of(1.0), 0.0);
        assert_eq!(t.offset_of(1.0 + 100.4 / 24_000.0), 100.0);
        assert_eq!(t.next_multiple(1.1, 4.0, 0.0), 4.0);
        assert_eq!(t.next_multiple(4.0, 4.0, 0.0), 4.0);
        assert_eq!(t.next_multiple(1.1, 0.25, 0.0), 1.25);
    }
}
