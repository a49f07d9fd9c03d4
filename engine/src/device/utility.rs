//! Utility: gain, stereo width and mono fold-down.

use super::{LaneLinks, LaneSmoother, ParamSpec, SMOOTHING_CHUNK};
use crate::lanes::{LANES, Lanes, splat};

pub const GAIN: usize = 0;
pub const WIDTH: usize = 1;
pub const MONO: usize = 2;

pub static PARAMS: [ParamSpec; 3] = [
    ParamSpec::new("gain", -60.0, 24.0, 0.0, "dB"),
    ParamSpec::new("width", 0.0, 2.0, 1.0, "×"),
    ParamSpec::new("mono", 0.0, 1.0, 0.0, ""),
];

pub struct UtilityLanes {
    /// For each lane, its stereo partner (itself on a mono track).
    pub(super) partner: [usize; LANES],
    gain: LaneSmoother,
    width: LaneSmoother,
}

impl UtilityLanes {
    pub fn new(sample_rate: f32, links: LaneLinks) -> Self {
        let partner = std::array::from_fn(|a| {
            (0..LANES)
                .find(|&b| b != a && links[b] == links[a])
                .unwrap_or(a)
        });
        UtilityLanes {
            partner,
            gain: LaneSmoother::new(sample_rate, splat(1.0)),
            width: LaneSmoother::new(sample_rate, splat(1.0)),
        }
    }

    /// Takes over lane `from` of `other` as lane `to` (see [`super::LaneDevice::copy_lane`]).
    pub(super) fn copy_lane(&mut self, to: usize, other: &UtilityLanes, from: usize) {
        self.gain.copy_lane(to, &other.gain, from);
        self.width.copy_lane(to, &other.width, from);
    }

    pub fn set_param(&mut self, lane: usize, index: usize, value: f32, ramp: Option<u32>) {
        match index {
            GAIN => self
                .gain
                .set_with(lane, crate::db_to_amplitude(value), ramp),
            // Mono is width 0; the two parameters combine by taking mono first.
            WIDTH => self.width.set_with(lane, value, ramp),
            MONO if value >= 0.5 => self.width.set_with(lane, 0.0, ramp),
            _ => {}
        }
    }

    pub(super) fn settle(&mut self) {
        self.gain.settle();
        self.width.settle();
    }

    pub fn process(&mut self, block: &mut [Lanes]) {
        for chunk in block.chunks_mut(SMOOTHING_CHUNK) {
            let gain = self.gain.advance(chunk.len());
            let width = self.width.advance(chunk.len());
            for frame in chunk.iter_mut() {
                let x = *frame;
                for l in 0..LANES {
                    // Mid/side on a stereo pair; the partner of a mono lane is itself.
                    let p = self.partner[l];
                    let mid = 0.5 * (x[l] + x[p]);
                    let side = 0.5 * (x[l] - x[p]);
                    frame[l] = gain[l] * (mid + width[l] * side);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DeviceDesc, DeviceKind, LaneDevice};

    #[test]
    fn width_zero_folds_a_stereo_pair_to_mono_and_leaves_mono_tracks_alone() {
        let desc = DeviceDesc::new(DeviceKind::Utility)
            .with(WIDTH, 0.0)
            .with(GAIN, -6.0);
        let mut d = LaneDevice::new(
            DeviceKind::Utility,
            48_000.0,
            [Some(&desc); LANES],
            std::array::from_fn(|l| l.saturating_sub(1) as u8),
        );
        let mut frame = [0.0; LANES];
        frame[..4].copy_from_slice(&[1.0, 0.0, 0.5, -0.5]);
        let mut block = [frame; crate::QUANTUM];
        d.process(&mut block);
        let g = crate::db_to_amplitude(-6.0);
        let f = block[0];
        assert!((f[0] - 0.5 * g).abs() < 1e-6 && (f[1] - 0.5 * g).abs() < 1e-6);
        assert!((f[2] - 0.5 * g).abs() < 1e-6 && (f[3] + 0.5 * g).abs() < 1e-6);
    }
}
