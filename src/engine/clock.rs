//! Where each block is in musical time. The host's transport while it plays; otherwise our own
//! clock at the host's tempo (120 BPM when it gives none), advanced by the sample count. A block
//! whose start is not where the previous one ended (a loop, a jump, a start or stop) is flagged
//! so the engine can end its notes first.

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
}

impl Clock {
    pub fn reset(&mut self) {
        self.expected = None;
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
        let host_pos = transport.pos_beats.filter(|p| p.is_finite());
        let (timeline, pos) = match (transport.playing, host_pos) {
            (true, Some(pos)) => (Timeline::Host, pos),
            _ => (Timeline::Internal, self.internal),
        };
        let discontinuity = match self.expected {
            None => false,
            Some((t, _)) if t != timeline => true,
            Some((_, expected)) => {
                // Half a sample or a millionth of a beat, whichever is larger: the host's
                // fixed-point positions are exact to far better than that.
                let tolerance = (0.5 * tempo / 60.0 / sample_rate).max(1e-6);
                (pos - expected).abs() > tolerance
            }
        };
        let (num, den) = transport
            .time_signature
            .filter(|(n, d)| *n > 0 && *d > 0 && *n <= 64 && *d <= 64)
            .unwrap_or((4, 4));
        let bar_beats = num as f64 * 4.0 / den as f64;
        let bar_anchor = match (timeline, transport.bar_start_beats) {
            (Timeline::Host, Some(b)) if b.is_finite() => b,
            _ => 0.0,
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
