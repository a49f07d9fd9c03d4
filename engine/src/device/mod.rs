//! Insert devices: parameter descriptions and their lane processors.
//!
//! A device is described on the control side by a [`DeviceDesc`]: its kind,
//! a bypass flag and numbered parameters in natural units (Hz, dB, ms),
//! clamped to each parameter's [`ParamSpec`]. On the audio thread, a
//! [`LaneDevice`] runs one insert slot for every lane of a lane group; each
//! lane may belong to a different track with its own settings.

pub mod compressor;
pub mod delay;
pub mod eq;
pub mod limiter;
pub mod reverb;
pub mod utility;

use crate::lanes::{LANES, Lanes};

/// What a parameter accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub min: f32,
    pub max: f32,
    pub default: f32,
    pub unit: &'static str,
}

impl ParamSpec {
    pub const fn new(
        name: &'static str,
        min: f32,
        max: f32,
        default: f32,
        unit: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            min,
            max,
            default,
            unit,
        }
    }

    /// Clamps into range; NaN takes the default. Returns the value and
    /// whether it had to be sanitised (counted by the engine).
    pub fn sanitise(&self, value: f32) -> (f32, bool) {
        if value.is_nan() {
            (self.default, true)
        } else {
            let clamped = value.clamp(self.min, self.max);
            (clamped, clamped != value)
        }
    }
}

/// The kinds of insert device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DeviceKind {
    Eq,
    Compressor,
    Utility,
    Limiter,
    Reverb,
    Delay,
}

impl DeviceKind {
    pub fn params(self) -> &'static [ParamSpec] {
        match self {
            DeviceKind::Eq => &eq::PARAMS,
            DeviceKind::Compressor => &compressor::PARAMS,
            DeviceKind::Utility => &utility::PARAMS,
            DeviceKind::Limiter => &limiter::PARAMS,
            DeviceKind::Reverb => &reverb::PARAMS,
            DeviceKind::Delay => &delay::PARAMS,
        }
    }
}

/// A device in an insert chain, as the project describes it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceDesc {
    pub kind: DeviceKind,
    pub bypass: bool,
    /// One value per [`DeviceKind::params`] entry.
    pub params: Vec<f32>,
}

impl DeviceDesc {
    /// A device with every parameter at its default.
    pub fn new(kind: DeviceKind) -> Self {
        DeviceDesc {
            kind,
            bypass: false,
            params: kind.params().iter().map(|p| p.default).collect(),
        }
    }

    /// Sets parameter `index` (clamped); unknown indices are ignored.
    pub fn with(mut self, index: usize, value: f32) -> Self {
        if let Some(spec) = self.kind.params().get(index) {
            self.params[index] = spec.sanitise(value).0;
        }
        self
    }

    /// The value of parameter `index`, sanitised (missing ones take defaults).
    pub fn param(&self, index: usize) -> f32 {
        let spec = &self.kind.params()[index];
        self.params
            .get(index)
            .map_or(spec.default, |v| spec.sanitise(*v).0)
    }
}

/// Time for a parameter change to take full effect: long enough to avoid
/// zipper noise, short enough to feel immediate.
pub const SMOOTHING_SECONDS: f32 = 0.02;
/// Frames between recomputations of derived state while a parameter moves.
pub const SMOOTHING_CHUNK: usize = 32;

/// Linear ramps of one value per lane.
#[derive(Clone, Copy, Debug)]
pub struct LaneSmoother {
    current: Lanes,
    target: Lanes,
    step: Lanes,
    /// Frames left in each lane's ramp.
    remaining: [u32; LANES],
    ramp_frames: u32,
}

impl LaneSmoother {
    pub fn new(sample_rate: f32, value: Lanes) -> Self {
        LaneSmoother {
            current: value,
            target: value,
            step: [0.0; LANES],
            remaining: [0; LANES],
            ramp_frames: (SMOOTHING_SECONDS * sample_rate).max(1.0) as u32,
        }
    }

    /// Ramps `lane` to `target` over the smoothing time (a user's change).
    pub fn set(&mut self, lane: usize, target: f32) {
        if self.target[lane] != target {
            self.ramp(lane, target, self.ramp_frames);
        }
    }

    /// `set` with the default smoothing (`None`) or an exact ramp (`Some`).
    pub fn set_with(&mut self, lane: usize, target: f32, ramp: Option<u32>) {
        match ramp {
            None => self.set(lane, target),
            Some(frames) => self.ramp(lane, target, frames),
        }
    }

    /// Ramps `lane` to `target` over exactly `frames` (automation, which
    /// must not lag behind its curve).
    pub fn ramp(&mut self, lane: usize, target: f32, frames: u32) {
        self.target[lane] = target;
        let frames = frames.max(1);
        self.step[lane] = (target - self.current[lane]) / frames as f32;
        self.remaining[lane] = frames;
    }

    /// Jumps to the targets (a new plan, a reset).
    pub fn settle(&mut self) {
        self.current = self.target;
        self.remaining = [0; LANES];
    }

    pub fn is_moving(&self) -> bool {
        self.remaining != [0; LANES]
    }

    pub fn current(&self) -> Lanes {
        self.current
    }

    /// Advances by `frames` and returns the value to use for them.
    pub fn advance(&mut self, frames: usize) -> Lanes {
        for l in 0..LANES {
            if self.remaining[l] > 0 {
                let n = (frames as u32).min(self.remaining[l]);
                self.remaining[l] -= n;
                self.current[l] = if self.remaining[l] == 0 {
                    self.target[l]
                } else {
                    self.current[l] + self.step[l] * n as f32
                };
            }
        }
        self.current
    }
}

/// One insert slot of a lane group, on the audio thread.
pub enum LaneDevice {
    Eq(Box<eq::EqLanes>),
    Compressor(Box<compressor::CompressorLanes>),
    Utility(Box<utility::UtilityLanes>),
    Limiter(Box<limiter::LimiterLanes>),
    Reverb(Box<reverb::ReverbLanes>),
    Delay(Box<delay::DelayLanes>),
}

/// Which lanes belong to the same track: lanes with equal ids are linked
/// (stereo pairs share dynamics and width).
pub type LaneLinks = [u8; LANES];

impl LaneDevice {
    /// Control thread: builds the slot for lanes described by `descs`
    /// (`None` lanes are unused and pass silence).
    pub fn new(
        kind: DeviceKind,
        sample_rate: f32,
        descs: [Option<&DeviceDesc>; LANES],
        links: LaneLinks,
    ) -> Self {
        let mut device = match kind {
            DeviceKind::Eq => LaneDevice::Eq(Box::new(eq::EqLanes::new(sample_rate))),
            DeviceKind::Compressor => LaneDevice::Compressor(Box::new(
                compressor::CompressorLanes::new(sample_rate, links),
            )),
            DeviceKind::Utility => {
                LaneDevice::Utility(Box::new(utility::UtilityLanes::new(sample_rate, links)))
            }
            DeviceKind::Limiter => {
                LaneDevice::Limiter(Box::new(limiter::LimiterLanes::new(sample_rate, links)))
            }
            DeviceKind::Reverb => {
                LaneDevice::Reverb(Box::new(reverb::ReverbLanes::new(sample_rate)))
            }
            DeviceKind::Delay => LaneDevice::Delay(Box::new(delay::DelayLanes::new(sample_rate))),
        };
        for (lane, desc) in descs.iter().enumerate() {
            if let Some(desc) = desc {
                device.set_bypass(lane, desc.bypass);
                for index in 0..kind.params().len() {
                    device.set_param(lane, index, desc.param(index));
                }
            }
        }
        device.settle();
        device
    }

    /// Audio thread: sets one (already sanitised) parameter of one lane,
    /// smoothed as a user's change.
    pub fn set_param(&mut self, lane: usize, index: usize, value: f32) {
        self.set_param_with(lane, index, value, None);
    }

    /// Audio thread: moves a parameter along an automation curve, reaching
    /// `value` in exactly `frames`.
    pub fn automate(&mut self, lane: usize, index: usize, value: f32, frames: u32) {
        self.set_param_with(lane, index, value, Some(frames));
    }

    fn set_param_with(&mut self, lane: usize, index: usize, value: f32, ramp: Option<u32>) {
        match self {
            LaneDevice::Eq(d) => d.set_param(lane, index, value, ramp),
            LaneDevice::Compressor(d) => d.set_param(lane, index, value, ramp),
            LaneDevice::Utility(d) => d.set_param(lane, index, value, ramp),
            LaneDevice::Limiter(d) => d.set_param(lane, index, value, ramp),
            LaneDevice::Reverb(d) => d.set_param(lane, index, value, ramp),
            LaneDevice::Delay(d) => d.set_param(lane, index, value, ramp),
        }
    }

    /// Tells tempo-synced devices the song's tempo.
    pub fn set_tempo(&mut self, bpm: f64) {
        if let LaneDevice::Delay(d) = self {
            d.set_tempo(bpm);
        }
    }

    /// The kind of device in this slot.
    pub fn kind(&self) -> DeviceKind {
        match self {
            LaneDevice::Eq(_) => DeviceKind::Eq,
            LaneDevice::Compressor(_) => DeviceKind::Compressor,
            LaneDevice::Utility(_) => DeviceKind::Utility,
            LaneDevice::Limiter(_) => DeviceKind::Limiter,
            LaneDevice::Reverb(_) => DeviceKind::Reverb,
            LaneDevice::Delay(_) => DeviceKind::Delay,
        }
    }

    pub fn set_bypass(&mut self, lane: usize, bypass: bool) {
        match self {
            LaneDevice::Eq(d) => d.bypass.set(lane, if bypass { 0.0 } else { 1.0 }),
            LaneDevice::Compressor(d) => d.bypass.set(lane, if bypass { 0.0 } else { 1.0 }),
            LaneDevice::Utility(d) => d.bypass.set(lane, if bypass { 0.0 } else { 1.0 }),
            LaneDevice::Limiter(d) => d.bypass.set(lane, if bypass { 0.0 } else { 1.0 }),
            LaneDevice::Reverb(d) => d.bypass.set(lane, if bypass { 0.0 } else { 1.0 }),
            LaneDevice::Delay(d) => d.bypass.set(lane, if bypass { 0.0 } else { 1.0 }),
        }
    }

    /// Jumps every smoothed parameter to its target.
    pub(crate) fn settle(&mut self) {
        match self {
            LaneDevice::Eq(d) => d.settle(),
            LaneDevice::Compressor(d) => d.settle(),
            LaneDevice::Utility(d) => d.settle(),
            LaneDevice::Limiter(d) => d.settle(),
            LaneDevice::Reverb(d) => d.settle(),
            LaneDevice::Delay(d) => d.settle(),
        }
    }

    /// Audio thread: processes a block in place.
    pub fn process(&mut self, block: &mut [Lanes]) {
        match self {
            LaneDevice::Eq(d) => d.process(block),
            LaneDevice::Compressor(d) => d.process(block),
            LaneDevice::Utility(d) => d.process(block),
            LaneDevice::Limiter(d) => d.process(block),
            LaneDevice::Reverb(d) => d.process(block),
            LaneDevice::Delay(d) => d.process(block),
        }
    }

    /// Gain reduction of each lane in dB (≤ 0), for dynamics devices.
    pub fn gain_reduction_db(&self) -> Lanes {
        match self {
            LaneDevice::Compressor(d) => d.gain_reduction_db(),
            LaneDevice::Limiter(d) => d.gain_reduction_db(),
            _ => [0.0; LANES],
        }
    }
}

/// Mixes the processed block with the dry input by the per-lane wet amount
/// (1 = processed, 0 = bypassed); skipped when every lane is fully wet.
#[inline]
pub(crate) fn apply_bypass(bypass: &mut LaneSmoother, dry: &[Lanes], wet: &mut [Lanes]) {
    if !bypass.is_moving() && bypass.current() == [1.0; LANES] {
        return;
    }
    let mut offset = 0;
    while offset < wet.len() {
        let n = (wet.len() - offset).min(SMOOTHING_CHUNK);
        let mix = bypass.advance(n);
        for (w, d) in wet[offset..offset + n]
            .iter_mut()
            .zip(&dry[offset..offset + n])
        {
            for l in 0..LANES {
                w[l] = d[l] + mix[l] * (w[l] - d[l]);
            }
        }
        offset += n;
    }
}

/// Test helpers shared by the device tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{DeviceDesc, LaneDevice};
    use crate::lanes::LANES;

    /// `desc` on every lane, each lane its own track.
    pub fn on_every_lane(desc: &DeviceDesc, sample_rate: f32) -> LaneDevice {
        LaneDevice::new(
            desc.kind,
            sample_rate,
            [Some(desc); LANES],
            std::array::from_fn(|l| l as u8),
        )
    }

    /// Lane `lane`'s response to a unit impulse on every lane, `quanta` long.
    pub fn impulse_response(device: &mut LaneDevice, lane: usize, quanta: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(quanta * crate::QUANTUM);
        for q in 0..quanta {
            let mut block = [[0.0f32; LANES]; crate::QUANTUM];
            if q == 0 {
                block[0] = [1.0; LANES];
            }
            device.process(&mut block);
            out.extend(block.iter().map(|f| f[lane]));
        }
        out
    }
}
