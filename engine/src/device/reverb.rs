//! Algorithmic reverb: eight damped comb filters in parallel, four allpass
//! diffusers in series (the Freeverb topology), with the decay set in
//! seconds: each comb's feedback is the gain that makes its own loop fall
//! 60 dB in the decay time.

use super::{LaneSmoother, ParamSpec};
use crate::lanes::{LANES, Lanes, splat};

pub const SIZE: usize = 0;
pub const DECAY: usize = 1;
pub const DAMPING: usize = 2;
pub const PRE_DELAY: usize = 3;
pub const MIX: usize = 4;

pub const MAX_PRE_DELAY_MS: f32 = 200.0;

pub static PARAMS: [ParamSpec; 5] = [
    ParamSpec::new("size", 0.1, 1.0, 0.6, ""),
    ParamSpec::new("decay", 0.1, 20.0, 2.0, "s"),
    ParamSpec::new("damping", 0.0, 1.0, 0.4, ""),
    ParamSpec::new("pre-delay", 0.0, MAX_PRE_DELAY_MS, 10.0, "ms"),
    ParamSpec::new("mix", 0.0, 1.0, 0.25, ""),
];

/// Comb and allpass lengths at 44.1 kHz and full size (Freeverb's tuning).
const COMBS: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
const ALLPASSES: [usize; 4] = [556, 441, 341, 225];
const ALLPASS_FEEDBACK: f32 = 0.5;
/// Keeps the wet signal near the dry level for a unit impulse.
const WET_GAIN: f32 = 0.2;

/// A delay line shared by all lanes (same write position, per-lane length).
struct Line {
    buffer: Box<[Lanes]>,
    write: usize,
}

impl Line {
    fn new(frames: usize) -> Self {
        Line {
            buffer: vec![[0.0; LANES]; frames.max(2)].into_boxed_slice(),
            write: 0,
        }
    }

    #[inline]
    fn read(&self, lane: usize, back: usize) -> f32 {
        let len = self.buffer.len();
        self.buffer[(self.write + len - back.min(len - 1)) % len][lane]
    }

    #[inline]
    fn push(&mut self, frame: Lanes) {
        self.buffer[self.write] = frame;
        self.write = (self.write + 1) % self.buffer.len();
    }
}

pub struct ReverbLanes {
    sample_rate: f32,
    combs: [Line; 8],
    comb_len: [[usize; LANES]; 8],
    comb_gain: [Lanes; 8],
    comb_filter: [Lanes; 8],
    allpasses: [Line; 4],
    allpass_len: [[usize; LANES]; 4],
    pre_delay: Line,
    pre_delay_len: [usize; LANES],
    size: Lanes,
    decay: Lanes,
    damping: Lanes,
    mix: LaneSmoother,
}

impl ReverbLanes {
    pub fn new(sample_rate: f32) -> Self {
        let scale = sample_rate / 44_100.0;
        let frames = |base: usize| (base as f32 * scale).ceil() as usize + 1;
        let mut reverb = ReverbLanes {
            sample_rate,
            combs: COMBS.map(|c| Line::new(frames(c))),
            comb_len: [[1; LANES]; 8],
            comb_gain: [splat(0.0); 8],
            comb_filter: [splat(0.0); 8],
            allpasses: ALLPASSES.map(|a| Line::new(frames(a))),
            allpass_len: [[1; LANES]; 4],
            pre_delay: Line::new((MAX_PRE_DELAY_MS / 1000.0 * sample_rate).ceil() as usize + 1),
            pre_delay_len: [0; LANES],
            size: splat(0.6),
            decay: splat(2.0),
            damping: splat(0.4),
            mix: LaneSmoother::new(sample_rate, splat(0.25)),
        };
        for lane in 0..LANES {
            reverb.retune(lane);
        }
        reverb
    }

    /// Lengths and feedback gains of one lane from its size and decay.
    fn retune(&mut self, lane: usize) {
        let scale = self.sample_rate / 44_100.0 * self.size[lane];
        for (c, base) in COMBS.iter().enumerate() {
            let len = ((*base as f32 * scale).round() as usize).max(1);
            self.comb_len[c][lane] = len;
            // 60 dB down after `decay` seconds: g^(decay·fs / len) = 10^-3.
            self.comb_gain[c][lane] = 10f64
                .powf(-3.0 * len as f64 / f64::from(self.decay[lane] * self.sample_rate))
                as f32;
        }
        for (a, base) in ALLPASSES.iter().enumerate() {
            self.allpass_len[a][lane] = ((*base as f32 * scale).round() as usize).max(1);
        }
    }

    /// Takes over lane `from` of `other` as lane `to` (see
    /// [`super::LaneDevice::copy_lane`]): the tail goes on ringing.
    pub(super) fn copy_lane(&mut self, to: usize, other: &ReverbLanes, from: usize) {
        let copy = |dst: &mut Line, src: &Line| {
            crate::lanes::copy_ring_lane(
                &mut dst.buffer,
                dst.write,
                to,
                &src.buffer,
                src.write,
                from,
            )
        };
        for c in 0..8 {
            copy(&mut self.combs[c], &other.combs[c]);
            self.comb_len[c][to] = other.comb_len[c][from];
            self.comb_gain[c][to] = other.comb_gain[c][from];
            self.comb_filter[c][to] = other.comb_filter[c][from];
        }
        for a in 0..4 {
            copy(&mut self.allpasses[a], &other.allpasses[a]);
            self.allpass_len[a][to] = other.allpass_len[a][from];
        }
        copy(&mut self.pre_delay, &other.pre_delay);
        self.pre_delay_len[to] = other.pre_delay_len[from];
        self.size[to] = other.size[from];
        self.decay[to] = other.decay[from];
        self.damping[to] = other.damping[from];
        self.mix.copy_lane(to, &other.mix, from);
    }

    pub fn set_param(&mut self, lane: usize, index: usize, value: f32, ramp: Option<u32>) {
        match index {
            SIZE => self.size[lane] = value,
            DECAY => self.decay[lane] = value,
            DAMPING => self.damping[lane] = value,
            PRE_DELAY => self.pre_delay_len[lane] = (value / 1000.0 * self.sample_rate) as usize,
            MIX => {
                self.mix.set_with(lane, value, ramp);
                return;
            }
            _ => return,
        }
        self.retune(lane);
    }

    pub(super) fn settle(&mut self) {
        self.mix.settle();
    }

    pub fn process(&mut self, block: &mut [Lanes]) {
        for chunk in block.chunks_mut(super::SMOOTHING_CHUNK) {
            let mix = self.mix.advance(chunk.len());
            for frame in chunk.iter_mut() {
                let x = *frame;
                self.pre_delay.push(x);
                let mut input = [0.0; LANES];
                for l in 0..LANES {
                    input[l] = if self.pre_delay_len[l] == 0 {
                        x[l]
                    } else {
                        self.pre_delay.read(l, self.pre_delay_len[l])
                    };
                }
                // Parallel combs, each with a one-pole low-pass in its loop.
                let mut wet = [0.0; LANES];
                for c in 0..8 {
                    let mut feed = [0.0; LANES];
                    for l in 0..LANES {
                        let y = self.combs[c].read(l, self.comb_len[c][l]);
                        wet[l] += y;
                        let f = &mut self.comb_filter[c][l];
                        *f = y + self.damping[l] * (*f - y);
                        feed[l] = input[l] + self.comb_gain[c][l] * *f;
                    }
                    self.combs[c].push(feed);
                }
                // Series allpasses diffuse the echoes into a smooth tail.
                for a in 0..4 {
                    let mut feed = [0.0; LANES];
                    for l in 0..LANES {
                        let delayed = self.allpasses[a].read(l, self.allpass_len[a][l]);
                        let v = wet[l] + ALLPASS_FEEDBACK * delayed;
                        feed[l] = v;
                        wet[l] = delayed - ALLPASS_FEEDBACK * v;
                    }
                    self.allpasses[a].push(feed);
                }
                for l in 0..LANES {
                    frame[l] = x[l] + mix[l] * (WET_GAIN * wet[l] - x[l]);
                }
            }
        }
        for comb in &mut self.comb_filter {
            for f in comb.iter_mut() {
                if f.abs() < 1e-25 {
                    *f = 0.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::testing::{impulse_response, on_every_lane};
    use crate::device::{DeviceDesc, DeviceKind};

    /// Measures RT60 from an impulse response by Schroeder backward
    /// integration (T30: the −5 to −35 dB slope, extrapolated to 60 dB).
    fn rt60(response: &[f32], fs: f32) -> f32 {
        let mut energy: Vec<f64> = response
            .iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .collect();
        for i in (0..energy.len() - 1).rev() {
            energy[i] += energy[i + 1];
        }
        let total = energy[0];
        let db = |i: usize| 10.0 * (energy[i] / total).log10();
        let t5 = (0..energy.len()).find(|&i| db(i) <= -5.0).unwrap();
        let t35 = (0..energy.len()).find(|&i| db(i) <= -35.0).unwrap();
        2.0 * (t35 - t5) as f32 / fs
    }

    #[test]
    fn the_tail_decays_in_the_set_time() {
        let fs = 48_000.0;
        for decay in [0.8f32, 2.0, 4.0] {
            let desc = DeviceDesc::new(DeviceKind::Reverb)
                .with(DECAY, decay)
                .with(DAMPING, 0.0)
                .with(PRE_DELAY, 0.0)
                .with(MIX, 1.0);
            let mut reverb = on_every_lane(&desc, fs);
            let response =
                impulse_response(&mut reverb, 5, (fs * decay * 1.5) as usize / crate::QUANTUM);
            let measured = rt60(&response, fs);
            assert!(
                (measured / decay - 1.0).abs() < 0.15,
                "decay {decay} s: measured RT60 {measured:.2} s"
            );
        }
    }

    #[test]
    fn pre_delay_holds_the_tail_back_and_mix_zero_is_dry() {
        let fs = 48_000.0;
        let desc = DeviceDesc::new(DeviceKind::Reverb)
            .with(PRE_DELAY, 50.0)
            .with(MIX, 1.0);
        let out = impulse_response(&mut on_every_lane(&desc, fs), 0, 40);
        let first = out.iter().position(|x| x.abs() > 1e-6).unwrap();
        let expected = (0.05 * fs) as usize + (1116.0 * 0.6 * fs / 44_100.0).round() as usize;
        assert!(
            first >= expected - 2 && first <= expected + 2,
            "first reflection at {first}, expected ~{expected}"
        );

        let dry = DeviceDesc::new(DeviceKind::Reverb).with(MIX, 0.0);
        let mut reverb = on_every_lane(&dry, fs);
        let mut block = [[0.25f32; LANES]; crate::QUANTUM];
        reverb.process(&mut block);
        assert!(block.iter().flatten().all(|x| *x == 0.25));
    }
}
