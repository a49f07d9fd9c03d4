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

use crate::lanes::{LANES, LaneBlock, Lanes, SILENT_BLOCK};

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
    /// Stable identity across edits: a device keeps its state while its id
    /// stays on the same strip; 0: none.
    #[serde(default)]
    pub id: u64,
    pub kind: DeviceKind,
    pub bypass: bool,
    /// One value per [`DeviceKind::params`] entry.
    pub params: Vec<f32>,
}

impl DeviceDesc {
    /// A device with every parameter at its default.
    pub fn new(kind: DeviceKind) -> Self {
        DeviceDesc {
            id: 0,
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

    /// Takes lane `from_lane` of `other` (value, target and ramp) as lane `to`.
    pub fn copy_lane(&mut self, to: usize, other: &LaneSmoother, from_lane: usize) {
        self.current[to] = other.current[from_lane];
        self.target[to] = other.target[from_lane];
        self.step[to] = other.step[from_lane];
        self.remaining[to] = other.remaining[from_lane];
    }

    /// Starts `lane` from `value` and ramps it to its target over `frames`
    /// (a strip or device that joins a playing mix fades in).
    pub fn start_from(&mut self, lane: usize, value: f32, frames: u32) {
        self.current[lane] = value;
        let target = self.target[lane];
        self.ramp(lane, target, frames);
    }

    /// Jumps to the targets (a new plan, a reset).
    pub fn settle(&mut self) {
        self.current = self.target;
        self.remaining = [0; LANES];
    }

    /// Where `lane` is heading.
    pub fn target(&self, lane: usize) -> f32 {
        self.target[lane]
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

/// The processor of one insert slot, by kind.
enum Processor {
    Eq(Box<eq::EqLanes>),
    Compressor(Box<compressor::CompressorLanes>),
    Utility(Box<utility::UtilityLanes>),
    Limiter(Box<limiter::LimiterLanes>),
    Reverb(Box<reverb::ReverbLanes>),
    Delay(Box<delay::DelayLanes>),
}

/// One insert slot of a lane group, on the audio thread: the device's
/// processor, and the bypass every slot has (a per-lane crossfade between
/// the dry input and the processed signal).
pub struct LaneDevice {
    processor: Processor,
    /// Per lane: 1 processed, 0 bypassed.
    wet: LaneSmoother,
    dry: Box<LaneBlock>,
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
        let processor = match kind {
            DeviceKind::Eq => Processor::Eq(Box::new(eq::EqLanes::new(sample_rate))),
            DeviceKind::Compressor => Processor::Compressor(Box::new(
                compressor::CompressorLanes::new(sample_rate, links),
            )),
            DeviceKind::Utility => {
                Processor::Utility(Box::new(utility::UtilityLanes::new(sample_rate, links)))
            }
            DeviceKind::Limiter => {
                Processor::Limiter(Box::new(limiter::LimiterLanes::new(sample_rate, links)))
            }
            DeviceKind::Reverb => {
                Processor::Reverb(Box::new(reverb::ReverbLanes::new(sample_rate)))
            }
            DeviceKind::Delay => Processor::Delay(Box::new(delay::DelayLanes::new(sample_rate))),
        };
        let mut device = LaneDevice {
            processor,
            wet: LaneSmoother::new(sample_rate, [1.0; LANES]),
            dry: Box::new(SILENT_BLOCK),
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
        match &mut self.processor {
            Processor::Eq(d) => d.set_param(lane, index, value, ramp),
            Processor::Compressor(d) => d.set_param(lane, index, value, ramp),
            Processor::Utility(d) => d.set_param(lane, index, value, ramp),
            Processor::Limiter(d) => d.set_param(lane, index, value, ramp),
            Processor::Reverb(d) => d.set_param(lane, index, value, ramp),
            Processor::Delay(d) => d.set_param(lane, index, value, ramp),
        }
    }

    /// The EQ in this slot, if it is one (its response draws the EQ curve).
    pub fn as_eq(&self) -> Option<&eq::EqLanes> {
        match &self.processor {
            Processor::Eq(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_limiter(&self) -> Option<&limiter::LimiterLanes> {
        match &self.processor {
            Processor::Limiter(d) => Some(d),
            _ => None,
        }
    }

    /// Tells tempo-synced devices the song's tempo.
    pub fn set_tempo(&mut self, bpm: f64) {
        if let Processor::Delay(d) = &mut self.processor {
            d.set_tempo(bpm);
        }
    }

    /// The kind of device in this slot.
    pub fn kind(&self) -> DeviceKind {
        match &self.processor {
            Processor::Eq(_) => DeviceKind::Eq,
            Processor::Compressor(_) => DeviceKind::Compressor,
            Processor::Utility(_) => DeviceKind::Utility,
            Processor::Limiter(_) => DeviceKind::Limiter,
            Processor::Reverb(_) => DeviceKind::Reverb,
            Processor::Delay(_) => DeviceKind::Delay,
        }
    }

    pub fn set_bypass(&mut self, lane: usize, bypass: bool) {
        self.wet.set(lane, if bypass { 0.0 } else { 1.0 });
    }

    /// Jumps every smoothed parameter to its target.
    pub(crate) fn settle(&mut self) {
        self.wet.settle();
        match &mut self.processor {
            Processor::Eq(d) => d.settle(),
            Processor::Compressor(d) => d.settle(),
            Processor::Utility(d) => d.settle(),
            Processor::Limiter(d) => d.settle(),
            Processor::Reverb(d) => d.settle(),
            Processor::Delay(d) => d.settle(),
        }
    }

    /// Audio thread: processes a block in place, crossfading with the dry
    /// signal on lanes that are (or are becoming) bypassed.
    pub fn process(&mut self, block: &mut [Lanes]) {
        let bypassing = self.wet.is_moving() || self.wet.current() != [1.0; LANES];
        if bypassing {
            self.dry[..block.len()].copy_from_slice(block);
        }
        match &mut self.processor {
            Processor::Eq(d) => d.process(block),
            Processor::Compressor(d) => d.process(block),
            Processor::Utility(d) => d.process(block),
            Processor::Limiter(d) => d.process(block),
            Processor::Reverb(d) => d.process(block),
            Processor::Delay(d) => d.process(block),
        }
        if bypassing {
            apply_bypass(&mut self.wet, &self.dry[..block.len()], block);
        }
    }

    /// Audio thread: takes over lane `from_lane` of `other` as lane `to`:
    /// settings, smoothers and signal memory (filter states, envelopes,
    /// delay and reverb lines, each sample at its age). Both slots hold the
    /// same kind of device at the same rate; otherwise nothing changes.
    /// Never allocates.
    pub fn copy_lane(&mut self, to: usize, other: &LaneDevice, from_lane: usize) {
        self.wet.copy_lane(to, &other.wet, from_lane);
        match (&mut self.processor, &other.processor) {
            (Processor::Eq(a), Processor::Eq(b)) => a.copy_lane(to, b, from_lane),
            (Processor::Compressor(a), Processor::Compressor(b)) => a.copy_lane(to, b, from_lane),
            (Processor::Utility(a), Processor::Utility(b)) => a.copy_lane(to, b, from_lane),
            (Processor::Limiter(a), Processor::Limiter(b)) => a.copy_lane(to, b, from_lane),
            (Processor::Reverb(a), Processor::Reverb(b)) => a.copy_lane(to, b, from_lane),
            (Processor::Delay(a), Processor::Delay(b)) => a.copy_lane(to, b, from_lane),
            _ => {}
        }
    }

    /// Audio thread: takes which lanes are linked (stereo pairs) from
    /// `other`, a device built for this slot's new members.
    pub fn take_links(&mut self, other: &LaneDevice) {
        match (&mut self.processor, &other.processor) {
            (Processor::Compressor(a), Processor::Compressor(b)) => {
                a.links = b.links;
                a.linked = b.linked;
            }
            (Processor::Utility(a), Processor::Utility(b)) => a.partner = b.partner,
            (Processor::Limiter(a), Processor::Limiter(b)) => a.links = b.links,
            _ => {}
        }
    }

    /// Control thread, on a device built for a playing mix: `lanes` start
    /// bypassed and fade the device in (no click when it is inserted).
    pub fn fade_in(&mut self, lanes: std::ops::Range<usize>, frames: u32) {
        for lane in lanes {
            self.wet.start_from(lane, 0.0, frames);
        }
    }

    /// Gain reduction of each lane in dB (≤ 0), for dynamics devices.
    pub fn gain_reduction_db(&self) -> Lanes {
        match &self.processor {
            Processor::Compressor(d) => d.gain_reduction_db(),
            Processor::Limiter(d) => d.gain_reduction_db(),
            _ => [0.0; LANES],
        }
    }
}

/// Mixes the processed block with the dry input by the per-lane wet amount
/// (1 = processed, 0 = bypassed); skipped when every lane is fully wet.
#[inline]
fn apply_bypass(bypass: &mut LaneSmoother, dry: &[Lanes], wet: &mut [Lanes]) {
    if !bypass.is_moving() && bypass.current() == [1.0; LANES] {
        return;
    }
    // The wet amount moves sample by sample from where it was to where the
    // smoother is after this block: a smooth crossfade, no steps.
    let from = bypass.current();
    let to = bypass.advance(wet.len());
    let step: Lanes = std::array::from_fn(|l| (to[l] - from[l]) / wet.len() as f32);
    for (i, (w, d)) in wet.iter_mut().zip(dry).enumerate() {
        for l in 0..LANES {
            let mix = from[l] + step[l] * (i + 1) as f32;
            w[l] = d[l] + mix * (w[l] - d[l]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::on_every_lane;
    use super::*;

    /// Bypassing crossfades to the dry signal over the smoothing time, on
    /// the bypassed lane only, and back.
    #[test]
    fn bypass_crossfades_one_lane_to_dry_and_back() {
        let fs = 48_000.0;
        let boost = DeviceDesc::new(DeviceKind::Utility).with(utility::GAIN, 6.0);
        let mut device = on_every_lane(&boost, fs);
        let gain = crate::db_to_amplitude(6.0);
        let run = |device: &mut LaneDevice, quanta: usize| {
            let mut out = Vec::new();
            for _ in 0..quanta {
                let mut block = [[0.5f32; LANES]; crate::QUANTUM];
                device.process(&mut block);
                out.extend(block.iter().map(|f| (f[0], f[1])));
            }
            out
        };
        run(&mut device, 2);
        device.set_bypass(0, true);
        let fading = run(&mut device, 10);
        let steps = fading
            .windows(2)
            .map(|w| (w[1].0 - w[0].0).abs())
            .fold(0f32, f32::max);
        assert!(steps < 0.01, "a crossfade, not a jump ({steps})");
        let last = *fading.last().unwrap();
        assert!(
            (last.0 - 0.5).abs() < 1e-6,
            "bypassed lane is dry: {}",
            last.0
        );
        assert!(
            (last.1 - 0.5 * gain).abs() < 1e-5,
            "the other lane still processed"
        );
        device.set_bypass(0, false);
        let back = run(&mut device, 10);
        assert!((back.last().unwrap().0 - 0.5 * gain).abs() < 1e-5);
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
