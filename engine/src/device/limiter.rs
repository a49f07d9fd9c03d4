//! True-peak limiter with look-ahead.
//!
//! For every input frame the detector estimates the inter-sample peak (4×
//! polyphase interpolation, as the loudness meter) and the gain that keeps it
//! under the ceiling. The gain applied to the delayed audio is the moving
//! average, over the look-ahead window, of the running minimum of those
//! requirements (with a release): every value averaged is at most what the
//! sample leaving the delay needs, so the average is too. No overshoot by
//! construction, and no step in the gain (no distortion from the limiter's
//! own gain changes).

use super::{LaneLinks, LaneSmoother, ParamSpec};
use crate::lanes::{LANES, Lanes, splat};
use crate::loudness::{PeakInterpolator, TRUE_PEAK_TAPS};

pub const CEILING: usize = 0;
pub const RELEASE: usize = 1;
pub const LOOKAHEAD: usize = 2;
pub const INPUT_GAIN: usize = 3;

pub static PARAMS: [ParamSpec; 4] = [
    ParamSpec::new("ceiling", -12.0, 0.0, -1.0, "dBTP"),
    ParamSpec::new("release", 1.0, 1_000.0, 100.0, "ms"),
    ParamSpec::new("lookahead", 0.5, MAX_LOOKAHEAD_MS, 5.0, "ms"),
    ParamSpec::new("input gain", 0.0, 24.0, 0.0, "dB"),
];

pub const MAX_LOOKAHEAD_MS: f32 = 10.0;
/// Frames between an input sample and its interpolated peaks leaving the detector.
pub(crate) const DETECTOR_DELAY: usize = TRUE_PEAK_TAPS / 2;
/// Headroom kept below the ceiling for the interpolation of a gain that
/// moves within the interpolator's span.
const SAFETY_DB: f32 = 0.02;

/// Per-lane state: the algorithm is sequential, so lanes run one by one.
struct Lane {
    history: [f32; 2 * TRUE_PEAK_TAPS],
    gain: GainComputer,
    /// The audio, delayed by the look-ahead plus the detector's delay.
    delay: Box<[f32]>,
}

/// From the gain each frame needs to the gain applied to the frame leaving
/// the look-ahead: the running minimum over the look-ahead, a release, and
/// a moving average. Shared by the real-time limiter and the export's
/// delivery stage (which detects once and runs this on every pass).
pub(crate) struct GainComputer {
    /// Sliding minimum: a monotonic queue of (frame, required gain).
    queue: Box<[(u64, f32)]>,
    queue_head: usize,
    queue_len: usize,
    released: f32,
    /// Moving average of the released gain.
    window: Box<[f32]>,
    window_sum: f64,
}

/// A look-ahead of `span - 1` frames: the gain computer's fixed terms.
#[derive(Clone, Copy)]
pub(crate) struct Span {
    span: usize,
    min_span: u64,
    inverse_span: f64,
}

impl Span {
    pub(crate) fn new(lookahead: usize) -> Self {
        Span {
            span: lookahead + 1,
            min_span: (lookahead + 2) as u64,
            inverse_span: 1.0 / (lookahead + 1) as f64,
        }
    }
}

impl GainComputer {
    /// Room for a look-ahead of up to `max` frames.
    pub(crate) fn new(max: usize) -> Self {
        GainComputer {
            queue: vec![(0, 1.0); max].into_boxed_slice(),
            queue_head: 0,
            queue_len: 0,
            released: 1.0,
            window: vec![1.0; max].into_boxed_slice(),
            window_sum: 0.0,
        }
    }

    /// Starts over at unity gain for a look-ahead of `span`.
    pub(crate) fn restart(&mut self, span: Span) {
        self.window.fill(1.0);
        self.window_sum = span.span as f64;
        self.queue_len = 0;
    }

    /// The gain for frame `frame`, which needs `required`; `w` is the
    /// moving average's slot (`frame` modulo the span), `release` the
    /// per-frame release coefficient.
    #[inline]
    pub(crate) fn next(
        &mut self,
        frame: u64,
        required: f32,
        release: f32,
        span: Span,
        w: usize,
    ) -> f32 {
        let wrap = |i: usize, len: usize| if i >= len { i - len } else { i };
        // Sliding minimum over the last `min_span` requirements.
        while self.queue_len > 0 {
            let last = wrap(self.queue_head + self.queue_len - 1, self.queue.len());
            if self.queue[last].1 >= required {
                self.queue_len -= 1;
            } else {
                break;
            }
        }
        let tail = wrap(self.queue_head + self.queue_len, self.queue.len());
        self.queue[tail] = (frame, required);
        self.queue_len += 1;
        // Wrapping: a lane taken over from another limiter keeps frames
        // counted back from this one's clock.
        while frame.wrapping_sub(self.queue[self.queue_head].0) >= span.min_span {
            self.queue_head = wrap(self.queue_head + 1, self.queue.len());
            self.queue_len -= 1;
        }
        let held = self.queue[self.queue_head].1;
        // Release: fall at once, recover exponentially.
        self.released = if held < self.released {
            held
        } else {
            held + release * (self.released - held)
        };
        // Moving average over `span` frames.
        self.window_sum += f64::from(self.released) - f64::from(self.window[w]);
        self.window[w] = self.released;
        (self.window_sum * span.inverse_span) as f32
    }
}

/// The ceiling the detector holds to (linear): `ceiling_db` less the
/// interpolation's safety margin.
pub(crate) fn ceiling_amplitude(ceiling_db: f32) -> f32 {
    crate::db_to_amplitude(ceiling_db - SAFETY_DB)
}

/// The per-frame release coefficient of a release of `ms`.
pub(crate) fn release_coefficient(ms: f32, sample_rate: f32) -> f32 {
    (-1.0 / f64::from(ms / 1000.0 * sample_rate)).exp() as f32
}

/// Look-ahead frames of `ms`, within what a limiter holds.
pub(crate) fn lookahead_frames(ms: f32, sample_rate: f32) -> usize {
    ((ms / 1000.0 * sample_rate).round() as usize).clamp(1, max_lookahead_frames(sample_rate))
}

fn max_lookahead_frames(sample_rate: f32) -> usize {
    (MAX_LOOKAHEAD_MS / 1000.0 * sample_rate).ceil() as usize
}

/// Frames a limiter's buffers hold: the longest look-ahead, the
/// detector's delay, and a margin.
fn buffer_frames(sample_rate: f32) -> usize {
    max_lookahead_frames(sample_rate) + DETECTOR_DELAY + 4
}

pub struct LimiterLanes {
    sample_rate: f32,
    pub(super) links: LaneLinks,
    interpolator: PeakInterpolator,
    lanes: [Lane; LANES],
    /// Lanes that carry a channel; the others are not computed.
    active: [bool; LANES],
    frame: u64,
    /// Write positions, advanced once per frame (no `%` on the audio path).
    delay_at: usize,
    history_at: usize,
    window_at: usize,
    ceiling: Lanes,
    release: Lanes,
    lookahead: usize,
    input_gain: LaneSmoother,
    deepest: Lanes,
}

impl LimiterLanes {
    pub fn new(sample_rate: f32, links: LaneLinks) -> Self {
        let max = buffer_frames(sample_rate);
        let lane = || Lane {
            history: [0.0; 2 * TRUE_PEAK_TAPS],
            gain: GainComputer::new(max),
            delay: vec![0.0; max].into_boxed_slice(),
        };
        let mut limiter = LimiterLanes {
            sample_rate,
            links,
            interpolator: PeakInterpolator::new(f64::from(sample_rate)),
            lanes: std::array::from_fn(|_| lane()),
            active: [false; LANES],
            delay_at: 0,
            history_at: 0,
            window_at: 0,
            frame: 0,
            ceiling: splat(crate::db_to_amplitude(-1.0)),
            release: splat(0.0),
            lookahead: 0,
            input_gain: LaneSmoother::new(sample_rate, splat(1.0)),
            deepest: splat(0.0),
        };
        limiter.set_lookahead(PARAMS[LOOKAHEAD].default);
        limiter
    }

    /// Look-ahead frames (the limiter's latency is this plus the detector's delay).
    pub fn latency(&self) -> usize {
        self.lookahead + DETECTOR_DELAY
    }

    fn set_lookahead(&mut self, ms: f32) {
        self.lookahead = lookahead_frames(ms, self.sample_rate);
        self.window_at = 0;
        // The window is restarted full of unity gain: its sum is its length.
        let span = Span::new(self.lookahead);
        for lane in &mut self.lanes {
            lane.gain.restart(span);
        }
    }

    /// Takes over lane `from` of `other` as lane `to` (see
    /// [`super::LaneDevice::copy_lane`]): its look-ahead audio, detector
    /// history, held minimum and release go on. The look-ahead is one per
    /// device, so a lane joining a limiter set to another one keeps the
    /// newest samples that fit.
    pub(super) fn copy_lane(&mut self, to: usize, other: &LimiterLanes, from: usize) {
        use crate::lanes::copy_ring;
        let (frame, other_frame) = (self.frame, other.frame);
        let (span, other_span) = (self.lookahead + 1, other.lookahead + 1);
        let (delay_at, history_at, window_at) = (self.delay_at, self.history_at, self.window_at);
        let dst = &mut self.lanes[to];
        let src = &other.lanes[from];
        for age in 1..=TRUE_PEAK_TAPS {
            let v = src.history[(other.history_at + TRUE_PEAK_TAPS - age) % TRUE_PEAK_TAPS];
            let at = (history_at + TRUE_PEAK_TAPS - age) % TRUE_PEAK_TAPS;
            dst.history[at] = v;
            dst.history[at + TRUE_PEAK_TAPS] = v;
        }
        copy_ring(&mut dst.delay, delay_at, &src.delay, other.delay_at);
        let (dst_gain, src_gain) = (&mut dst.gain, &src.gain);
        copy_ring(
            &mut dst_gain.window[..span],
            window_at,
            &src_gain.window[..other_span],
            other.window_at,
        );
        dst_gain.window_sum = dst_gain.window[..span].iter().map(|&g| f64::from(g)).sum();
        // The sliding minimum, its frames counted on this device's clock.
        let len = src_gain.queue_len.min(dst_gain.queue.len());
        for i in 0..len {
            let (f, g) = src_gain.queue[(src_gain.queue_head + i) % src_gain.queue.len()];
            dst_gain.queue[i] = (frame.wrapping_add(f.wrapping_sub(other_frame)), g);
        }
        dst_gain.queue_head = 0;
        dst_gain.queue_len = len;
        dst_gain.released = src_gain.released;
        self.active[to] = other.active[from];
        self.ceiling[to] = other.ceiling[from];
        self.release[to] = other.release[from];
        self.input_gain.copy_lane(to, &other.input_gain, from);
        self.deepest[to] = other.deepest[from];
    }

    pub fn set_param(&mut self, lane: usize, index: usize, value: f32, ramp: Option<u32>) {
        self.active[lane] = true;
        match index {
            CEILING => self.ceiling[lane] = ceiling_amplitude(value),
            RELEASE => self.release[lane] = release_coefficient(value, self.sample_rate),
            // Latency is one per device, not per lane: the last write wins.
            LOOKAHEAD => self.set_lookahead(value),
            INPUT_GAIN => self
                .input_gain
                .set_with(lane, crate::db_to_amplitude(value), ramp),
            _ => {}
        }
    }

    pub(super) fn settle(&mut self) {
        self.input_gain.settle();
    }

    /// Deepest gain reduction per lane in the last block (dB, ≤ 0).
    pub fn gain_reduction_db(&self) -> Lanes {
        self.deepest.map(crate::amplitude_to_db)
    }

    pub fn process(&mut self, block: &mut [Lanes]) {
        let input_gain = self.input_gain.advance(block.len());
        let span = Span::new(self.lookahead);
        let delay_len = self.lanes[0].delay.len();
        let out_delay = self.lookahead + DETECTOR_DELAY;
        let wrap = |i: usize, len: usize| if i >= len { i - len } else { i };
        let mut deepest = [1.0f32; LANES];
        for frame in block.iter_mut() {
            let (at, slot, w) = (self.delay_at, self.history_at, self.window_at);
            let read = wrap(at + delay_len - out_delay, delay_len);
            // Detect: the gain each lane's latest interpolated peaks need.
            let mut required = [1.0f32; LANES];
            for l in 0..LANES {
                if !self.active[l] {
                    continue;
                }
                let x = frame[l] * input_gain[l];
                let lane = &mut self.lanes[l];
                lane.delay[at] = x;
                lane.history[slot] = x;
                lane.history[slot + TRUE_PEAK_TAPS] = x;
                let window = &lane.history[slot + 1..slot + 1 + TRUE_PEAK_TAPS];
                let peak = self.interpolator.peak(window);
                if peak > self.ceiling[l] {
                    required[l] = self.ceiling[l] / peak;
                }
            }
            let raw = required;
            for a in 0..LANES {
                if self.active[a] {
                    for b in 0..LANES {
                        if self.active[b] && self.links[a] == self.links[b] {
                            required[a] = required[a].min(raw[b]);
                        }
                    }
                }
            }
            for l in 0..LANES {
                if !self.active[l] {
                    frame[l] = 0.0;
                    continue;
                }
                let lane = &mut self.lanes[l];
                let gain = lane
                    .gain
                    .next(self.frame, required[l], self.release[l], span, w);
                deepest[l] = deepest[l].min(gain);
                let delayed = lane.delay[read];
                frame[l] = delayed * gain.min(1.0);
            }
            self.frame += 1;
            self.delay_at = wrap(at + 1, delay_len);
            self.history_at = wrap(slot + 1, TRUE_PEAK_TAPS);
            self.window_at = wrap(w + 1, span.span);
        }
        self.deepest = deepest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DeviceDesc, DeviceKind, LaneDevice};
    use crate::loudness::TruePeakMeter;

    /// Hard-clipped, full-scale material driven 12 dB into the limiter: the
    /// output's true peak never exceeds the ceiling.
    #[test]
    fn never_exceeds_the_ceiling_in_true_peak_on_clipped_material() {
        for fs in [44_100.0f32, 48_000.0] {
            for ceiling in [-1.0f32, -0.1, -6.0] {
                let desc = DeviceDesc::new(DeviceKind::Limiter)
                    .with(CEILING, ceiling)
                    .with(INPUT_GAIN, 12.0)
                    .with(RELEASE, 50.0);
                let mut limiter = LaneDevice::new(
                    DeviceKind::Limiter,
                    fs,
                    std::array::from_fn(|l| (l < 2).then_some(&desc)),
                    std::array::from_fn(|l| l.saturating_sub(1) as u8),
                );
                let mut meter = TruePeakMeter::new(f64::from(fs), 2);
                let mut seed = 0x2545_f491u32;
                let mut noise = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as f32 / u32::MAX as f32 * 2.0 - 1.0
                };
                for q in 0..(fs as usize * 4 / crate::QUANTUM) {
                    let mut block = [[0.0f32; LANES]; crate::QUANTUM];
                    for (i, frame) in block.iter_mut().enumerate() {
                        let t = (q * crate::QUANTUM + i) as f32 / fs;
                        // A loud sine with noise, clipped hard at full scale, plus
                        // a 11 kHz tone whose peaks fall between samples.
                        let s = 3.0 * (std::f32::consts::TAU * 97.0 * t).sin() + noise();
                        let high = 0.7 * (std::f32::consts::TAU * 11_025.0 * t + 0.7).sin();
                        frame[0] = s.clamp(-1.0, 1.0);
                        frame[1] = (high + 0.5 * s).clamp(-1.0, 1.0);
                    }
                    limiter.process(&mut block);
                    for frame in &block {
                        meter.push_frame([frame[0], frame[1]].into_iter());
                    }
                }
                let peak = 20.0 * meter.peak().log10();
                assert!(
                    peak <= ceiling,
                    "{fs} Hz, ceiling {ceiling}: true peak {peak:.3} dBTP"
                );
                assert!(
                    peak > ceiling - 0.5,
                    "{fs} Hz: the limiter drives up to its ceiling ({peak:.3})"
                );
            }
        }
    }

    #[test]
    fn quiet_material_passes_untouched_after_the_latency() {
        let fs = 48_000.0;
        let desc = DeviceDesc::new(DeviceKind::Limiter).with(LOOKAHEAD, 1.0);
        let mut limiter = LaneDevice::new(
            DeviceKind::Limiter,
            fs,
            [Some(&desc); LANES],
            std::array::from_fn(|l| l as u8),
        );
        let latency = limiter.as_limiter().unwrap().latency();
        let input: Vec<f32> = (0..1024).map(|i| 0.25 * (i as f32 * 0.01).sin()).collect();
        let mut output = Vec::new();
        for chunk in input.chunks(crate::QUANTUM) {
            let mut block = [[0.0; LANES]; crate::QUANTUM];
            for (f, x) in block.iter_mut().zip(chunk) {
                *f = [*x; LANES];
            }
            limiter.process(&mut block);
            output.extend(block.iter().map(|f| f[2]));
        }
        for i in latency..1024 {
            assert!((output[i] - input[i - latency]).abs() < 1e-6, "frame {i}");
        }
    }
}
