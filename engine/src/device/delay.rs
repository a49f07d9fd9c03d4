//! Delay: feedback echo with a damping filter in the loop.
//!
//! The delay time is smoothed and read with linear interpolation, so moving
//! it sweeps the echo (tape-like) instead of clicking.

use super::{LaneSmoother, ParamSpec};
use crate::lanes::{LANES, Lanes, splat};

pub const TIME: usize = 0;
pub const FEEDBACK: usize = 1;
pub const DAMPING: usize = 2;
pub const MIX: usize = 3;
/// Note length in beats (0.5: an eighth in 4/4); 0 uses `TIME` in ms.
pub const SYNC: usize = 4;

pub const MAX_TIME_MS: f32 = 2_000.0;

pub static PARAMS: [ParamSpec; 5] = [
    ParamSpec::new("time", 1.0, MAX_TIME_MS, 375.0, "ms"),
    ParamSpec::new("feedback", 0.0, 0.95, 0.35, ""),
    ParamSpec::new("damping", 500.0, 20_000.0, 8_000.0, "Hz"),
    ParamSpec::new("mix", 0.0, 1.0, 0.3, ""),
    ParamSpec::new("sync", 0.0, 8.0, 0.0, "beats"),
];

pub struct DelayLanes {
    sample_rate: f32,
    line: Box<[Lanes]>,
    write: usize,
    /// Delay in frames, smoothed.
    time: LaneSmoother,
    feedback: Lanes,
    /// One-pole low-pass coefficient in the feedback path.
    damping: Lanes,
    damped: Lanes,
    mix: LaneSmoother,
    /// Per lane: the time in ms, and the synced note length (0: not synced).
    time_ms: Lanes,
    sync_beats: Lanes,
    bpm: f64,
}

impl DelayLanes {
    pub fn new(sample_rate: f32) -> Self {
        let frames = (MAX_TIME_MS / 1000.0 * sample_rate).ceil() as usize + 2;
        DelayLanes {
            sample_rate,
            line: vec![[0.0; LANES]; frames].into_boxed_slice(),
            write: 0,
            time: LaneSmoother::new(sample_rate, splat(0.375 * sample_rate)),
            feedback: splat(0.35),
            damping: splat(0.0),
            damped: splat(0.0),
            mix: LaneSmoother::new(sample_rate, splat(0.3)),
            time_ms: splat(375.0),
            sync_beats: splat(0.0),
            bpm: 120.0,
        }
    }

    /// Takes over lane `from` of `other` as lane `to` (see
    /// [`super::LaneDevice::copy_lane`]): the echoes go on.
    pub(super) fn copy_lane(&mut self, to: usize, other: &DelayLanes, from: usize) {
        crate::lanes::copy_ring_lane(
            &mut self.line,
            self.write,
            to,
            &other.line,
            other.write,
            from,
        );
        self.time.copy_lane(to, &other.time, from);
        self.feedback[to] = other.feedback[from];
        self.damping[to] = other.damping[from];
        self.damped[to] = other.damped[from];
        self.mix.copy_lane(to, &other.mix, from);
        self.time_ms[to] = other.time_ms[from];
        self.sync_beats[to] = other.sync_beats[from];
        // A synced time was computed at the other device's tempo.
        if self.sync_beats[to] > 0.0 && self.bpm != other.bpm {
            self.retime(to, None);
        }
    }

    pub fn set_param(&mut self, lane: usize, index: usize, value: f32, ramp: Option<u32>) {
        match index {
            TIME => {
                self.time_ms[lane] = value;
                self.retime(lane, ramp);
            }
            SYNC => {
                self.sync_beats[lane] = value;
                self.retime(lane, ramp);
            }
            FEEDBACK => self.feedback[lane] = value,
            DAMPING => {
                self.damping[lane] =
                    (-std::f64::consts::TAU * f64::from(value / self.sample_rate)).exp() as f32;
            }
            MIX => self.mix.set_with(lane, value, ramp),
            _ => {}
        }
    }

    /// The delay in frames of one lane: its note length at the tempo, or its ms.
    fn retime(&mut self, lane: usize, ramp: Option<u32>) {
        let ms = if self.sync_beats[lane] > 0.0 {
            (f64::from(self.sync_beats[lane]) * 60_000.0 / self.bpm).min(f64::from(MAX_TIME_MS))
                as f32
        } else {
            self.time_ms[lane]
        };
        self.time
            .set_with(lane, ms / 1000.0 * self.sample_rate, ramp);
    }

    /// The song's tempo changed: synced lanes glide to their new time.
    pub fn set_tempo(&mut self, bpm: f64) {
        if bpm != self.bpm {
            self.bpm = bpm;
            for lane in 0..LANES {
                if self.sync_beats[lane] > 0.0 {
                    self.retime(lane, None);
                }
            }
        }
    }

    pub(super) fn settle(&mut self) {
        self.time.settle();
        self.mix.settle();
    }

    pub fn process(&mut self, block: &mut [Lanes]) {
        let len = self.line.len();
        for chunk in block.chunks_mut(super::SMOOTHING_CHUNK) {
            let time = self.time.advance(chunk.len());
            let mix = self.mix.advance(chunk.len());
            for frame in chunk.iter_mut() {
                let x = *frame;
                let mut input = [0.0; LANES];
                for l in 0..LANES {
                    // Read `time` frames back, between two stored frames.
                    let back = time[l].clamp(1.0, (len - 2) as f32);
                    let whole = back as usize;
                    let frac = back - whole as f32;
                    let a = self.line[(self.write + len - whole) % len][l];
                    let b = self.line[(self.write + len - whole - 1) % len][l];
                    let echo = a + frac * (b - a);
                    self.damped[l] = echo + self.damping[l] * (self.damped[l] - echo);
                    input[l] = x[l] + self.feedback[l] * self.damped[l];
                    frame[l] = x[l] + mix[l] * (echo - x[l]);
                }
                self.line[self.write] = input;
                self.write = (self.write + 1) % len;
            }
        }
        // Feedback below 1 keeps it stable; flush what decays to denormals.
        for l in 0..LANES {
            if self.damped[l].abs() < 1e-25 {
                self.damped[l] = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::testing::{impulse_response, on_every_lane};
    use crate::device::{DeviceDesc, DeviceKind};

    #[test]
    fn an_impulse_comes_back_at_the_delay_time_scaled_by_the_feedback() {
        let fs = 48_000.0;
        let desc = DeviceDesc::new(DeviceKind::Delay)
            .with(TIME, 10.0)
            .with(FEEDBACK, 0.5)
            .with(DAMPING, 20_000.0)
            .with(MIX, 1.0);
        let mut d = on_every_lane(&desc, fs);
        let out = impulse_response(&mut d, 3, 10);
        let echo = |n: usize| out[480 * n];
        assert!(
            (echo(1) - 1.0).abs() < 0.02,
            "first echo at 10 ms: {}",
            echo(1)
        );
        // The damping filter is nearly open; each repeat is half the last.
        assert!(
            (echo(2) / echo(1) - 0.5).abs() < 0.05,
            "{} {}",
            echo(1),
            echo(2)
        );
        assert!(
            out[..480].iter().all(|x| x.abs() < 1e-6),
            "fully wet: silence before the echo"
        );
    }

    #[test]
    fn maximum_feedback_stays_bounded() {
        let desc = DeviceDesc::new(DeviceKind::Delay)
            .with(TIME, 1.0)
            .with(FEEDBACK, 10.0)
            .with(MIX, 1.0);
        let mut d = on_every_lane(&desc, 48_000.0);
        let mut max = 0f32;
        for _ in 0..2_000 {
            let mut block = [[0.5f32; LANES]; crate::QUANTUM];
            d.process(&mut block);
            max = block.iter().flatten().fold(max, |m, x| m.max(x.abs()));
        }
        assert!(max.is_finite() && max < 0.5 / (1.0 - 0.95) + 1.0, "{max}");
    }
}
