//! Compressor: feed-forward, log-domain gain computer with a soft knee,
//! smoothed gain reduction, make-up gain and optional look-ahead.
//!
//! The gain is computed at control rate: every [`CONTROL_FRAMES`] frames
//! from the peak of that sub-block (so no transient slips through between
//! updates), then interpolated linearly per sample. A log, the knee curve
//! and an exp per sub-block instead of per sample is what makes 256 tracks
//! fit a quantum; [`crate::lanes`]'s fast approximations make them cheap
//! in wasm, which has neither in hardware.

use super::{LaneLinks, LaneSmoother, ParamSpec};
use crate::lanes::{LANES, Lanes, fast_exp2, fast_log2, peak_max, splat};

pub const THRESHOLD: usize = 0;
pub const RATIO: usize = 1;
pub const KNEE: usize = 2;
pub const ATTACK: usize = 3;
pub const RELEASE: usize = 4;
pub const MAKEUP: usize = 5;
pub const LOOKAHEAD: usize = 6;

pub static PARAMS: [ParamSpec; 7] = [
    ParamSpec::new("threshold", -60.0, 0.0, -18.0, "dB"),
    ParamSpec::new("ratio", 1.0, 20.0, 4.0, ":1"),
    ParamSpec::new("knee", 0.0, 24.0, 6.0, "dB"),
    ParamSpec::new("attack", 0.1, 200.0, 10.0, "ms"),
    ParamSpec::new("release", 5.0, 2_000.0, 100.0, "ms"),
    ParamSpec::new("makeup", 0.0, 24.0, 0.0, "dB"),
    ParamSpec::new("lookahead", 0.0, MAX_LOOKAHEAD_MS, 0.0, "ms"),
];

pub const MAX_LOOKAHEAD_MS: f32 = 10.0;
const DB_PER_LOG2: f32 = 6.020_6;
/// Frames per gain computation (0.33 ms at 48 kHz).
pub const CONTROL_FRAMES: usize = 16;

/// The static curve: gain change in dB for an input level in dB.
///
/// Branch-free (so it vectorises): the quadratic knee term saturates at the
/// knee's top, where the linear term takes over. With `knee = 0` it is the
/// hard-knee curve `slope · max(over, 0)`.
#[inline(always)]
pub fn gain_computer(level_db: f32, threshold: f32, slope: f32, knee: f32) -> f32 {
    let over = level_db - threshold;
    let knee = knee.max(1e-6);
    let inside = (over + 0.5 * knee).clamp(0.0, knee);
    slope * (inside * inside / (2.0 * knee) + (over - 0.5 * knee).max(0.0))
}

pub struct CompressorLanes {
    sample_rate: f32,
    pub(super) links: LaneLinks,
    pub(super) linked: bool,
    threshold: Lanes,
    /// `1/ratio - 1`: the slope of the gain curve above threshold.
    slope: Lanes,
    knee: Lanes,
    attack: Lanes,
    release: Lanes,
    makeup: LaneSmoother,
    /// Smoothed gain change in dB (≤ 0).
    envelope: Lanes,
    /// Linear gain reached at the end of the last sub-block.
    gain: Lanes,
    lookahead: [usize; LANES],
    delay: Box<[Lanes]>,
    delay_at: usize,
}

impl CompressorLanes {
    pub fn new(sample_rate: f32, links: LaneLinks) -> Self {
        let max_delay = (MAX_LOOKAHEAD_MS / 1000.0 * sample_rate).ceil() as usize + 1;
        CompressorLanes {
            sample_rate,
            links,
            linked: (0..LANES).any(|a| (0..LANES).any(|b| a != b && links[a] == links[b])),
            threshold: splat(-18.0),
            slope: splat(-0.75),
            knee: splat(6.0),
            attack: splat(0.0),
            release: splat(0.0),
            makeup: LaneSmoother::new(sample_rate, splat(0.0)),
            envelope: splat(0.0),
            gain: splat(1.0),
            lookahead: [0; LANES],
            delay: vec![[0.0; LANES]; max_delay].into_boxed_slice(),
            delay_at: 0,
        }
    }

    /// One-pole coefficient per sub-block, reaching 1 - 1/e of a step in `ms`.
    fn coefficient(&self, ms: f32) -> f32 {
        (-(CONTROL_FRAMES as f64) / f64::from(ms / 1000.0 * self.sample_rate)).exp() as f32
    }

    /// Takes over lane `from` of `other` as lane `to` (see [`super::LaneDevice::copy_lane`]).
    pub(super) fn copy_lane(&mut self, to: usize, other: &CompressorLanes, from: usize) {
        self.threshold[to] = other.threshold[from];
        self.slope[to] = other.slope[from];
        self.knee[to] = other.knee[from];
        self.attack[to] = other.attack[from];
        self.release[to] = other.release[from];
        self.makeup.copy_lane(to, &other.makeup, from);
        self.envelope[to] = other.envelope[from];
        self.gain[to] = other.gain[from];
        self.lookahead[to] = other.lookahead[from];
        crate::lanes::copy_ring_lane(
            &mut self.delay,
            self.delay_at,
            to,
            &other.delay,
            other.delay_at,
            from,
        );
    }

    pub fn set_param(&mut self, lane: usize, index: usize, value: f32, ramp: Option<u32>) {
        match index {
            THRESHOLD => self.threshold[lane] = value,
            RATIO => self.slope[lane] = 1.0 / value - 1.0,
            KNEE => self.knee[lane] = value,
            ATTACK => self.attack[lane] = self.coefficient(value),
            RELEASE => self.release[lane] = self.coefficient(value),
            MAKEUP => self.makeup.set_with(lane, value, ramp),
            LOOKAHEAD => {
                self.lookahead[lane] =
                    ((value / 1000.0 * self.sample_rate) as usize).min(self.delay.len() - 1)
            }
            _ => {}
        }
    }

    pub(super) fn settle(&mut self) {
        self.makeup.settle();
        self.gain = self.makeup.current().map(crate::db_to_amplitude);
    }

    /// Current gain reduction per lane (dB, ≤ 0).
    pub fn gain_reduction_db(&self) -> Lanes {
        self.envelope
    }

    pub fn process(&mut self, block: &mut [Lanes]) {
        let makeup = self.makeup.advance(block.len());
        let uses_delay = self.lookahead.iter().any(|&d| d > 0);
        let len = self.delay.len();
        let mut env = self.envelope;
        let mut gain_from = self.gain;
        for sub in block.chunks_mut(CONTROL_FRAMES) {
            // Detector: the sub-block's peak per lane.
            let mut peak = [0.0f32; LANES];
            for frame in sub.iter() {
                for l in 0..LANES {
                    peak[l] = peak_max(peak[l], frame[l].abs());
                }
            }
            if self.linked {
                // Linked lanes (a stereo track) follow their loudest channel.
                let raw = peak;
                for a in 0..LANES {
                    for b in 0..LANES {
                        if self.links[a] == self.links[b] {
                            peak[a] = peak[a].max(raw[b]);
                        }
                    }
                }
            }
            let mut gain_to = [0.0; LANES];
            for l in 0..LANES {
                let level = DB_PER_LOG2 * fast_log2(peak[l]);
                let target = gain_computer(level, self.threshold[l], self.slope[l], self.knee[l]);
                let c = if target < env[l] {
                    self.attack[l]
                } else {
                    self.release[l]
                };
                env[l] = target + c * (env[l] - target);
                gain_to[l] = fast_exp2((env[l] + makeup[l]) / DB_PER_LOG2);
            }
            let step: Lanes =
                std::array::from_fn(|l| (gain_to[l] - gain_from[l]) / sub.len() as f32);
            for (i, frame) in sub.iter_mut().enumerate() {
                let x = *frame;
                let input = if uses_delay {
                    self.delay[self.delay_at] = x;
                    let mut delayed = [0.0; LANES];
                    for l in 0..LANES {
                        delayed[l] = self.delay[(self.delay_at + len - self.lookahead[l]) % len][l];
                    }
                    self.delay_at = (self.delay_at + 1) % len;
                    delayed
                } else {
                    x
                };
                let k = (i + 1) as f32;
                for l in 0..LANES {
                    frame[l] = input[l] * (gain_from[l] + step[l] * k);
                }
            }
            gain_from = gain_to;
        }
        self.gain = gain_from;
        self.envelope = env;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DeviceDesc, DeviceKind, LaneDevice};

    #[test]
    fn the_static_curve_has_threshold_ratio_and_a_continuous_knee() {
        let slope = 1.0 / 4.0 - 1.0;
        assert_eq!(gain_computer(-30.0, -20.0, slope, 6.0), 0.0);
        assert!(
            (gain_computer(-8.0, -20.0, slope, 6.0) - (-9.0)).abs() < 1e-6,
            "12 dB over at 4:1 → −9 dB"
        );
        for knee in [0.0f32, 6.0, 12.0] {
            for edge in [-knee / 2.0, knee / 2.0] {
                let below = gain_computer(-20.0 + edge - 1e-3, -20.0, slope, knee);
                let above = gain_computer(-20.0 + edge + 1e-3, -20.0, slope, knee);
                assert!(
                    (below - above).abs() < 1e-2,
                    "continuous at the knee edge {edge}"
                );
            }
        }
    }

    /// Steady sines settle on the static curve: output level = input + curve + makeup.
    #[test]
    fn steady_tones_settle_on_the_curve() {
        let fs = 48_000.0;
        let desc = DeviceDesc::new(DeviceKind::Compressor)
            .with(THRESHOLD, -20.0)
            .with(RATIO, 4.0)
            .with(KNEE, 0.0)
            .with(ATTACK, 1.0)
            .with(RELEASE, 50.0)
            .with(MAKEUP, 3.0);
        let mut device = LaneDevice::new(
            DeviceKind::Compressor,
            fs,
            [Some(&desc); LANES],
            std::array::from_fn(|l| l as u8),
        );
        let input_db: [f32; LANES] = std::array::from_fn(|l| [-30.0f32, -20.0, -8.0, 0.0][l % 4]);
        let amplitude = input_db.map(crate::db_to_amplitude);
        let mut peak = [0f32; LANES];
        for q in 0..600 {
            let mut block = [[0.0f32; LANES]; crate::QUANTUM];
            for (i, frame) in block.iter_mut().enumerate() {
                // A square wave: its level is its amplitude, so the detector is steady.
                let s = if ((q * crate::QUANTUM + i) / 24).is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                };
                *frame = std::array::from_fn(|l| amplitude[l] * s);
            }
            device.process(&mut block);
            if q > 500 {
                for frame in &block {
                    for l in 0..LANES {
                        peak[l] = peak[l].max(frame[l].abs());
                    }
                }
            }
        }
        for l in 0..LANES {
            let expected = input_db[l] + gain_computer(input_db[l], -20.0, -0.75, 0.0) + 3.0;
            let measured = crate::amplitude_to_db(peak[l]);
            assert!(
                (measured - expected).abs() < 0.05,
                "lane {l}: {measured} vs {expected}"
            );
        }
        assert!(
            (device.gain_reduction_db()[3] + 15.0).abs() < 0.1,
            "0 dBFS at 4:1 from −20 → 15 dB GR"
        );
    }

    #[test]
    fn linked_lanes_share_the_louder_channels_gain() {
        let fs = 48_000.0;
        let desc = DeviceDesc::new(DeviceKind::Compressor)
            .with(THRESHOLD, -20.0)
            .with(ATTACK, 0.1);
        // Lanes 0 and 1 are one stereo track; lanes 2 and 3 are two mono tracks.
        let mut device = LaneDevice::new(
            DeviceKind::Compressor,
            fs,
            [Some(&desc); LANES],
            std::array::from_fn(|l| if l < 2 { 7 } else { 8 + l as u8 }),
        );
        let mut frame = [0.0; LANES];
        frame[..4].copy_from_slice(&[1.0, 0.01, 1.0, 0.01]);
        let mut block = [frame; crate::QUANTUM];
        for _ in 0..50 {
            block = [frame; crate::QUANTUM];
            device.process(&mut block);
        }
        let last = block[crate::QUANTUM - 1];
        assert!(
            (last[0] / 1.0 - last[1] / 0.01).abs() < 1e-3,
            "the stereo pair keeps its balance"
        );
        assert!(
            (last[3] - 0.01).abs() < 1e-4,
            "a quiet mono track is untouched"
        );
    }
}
