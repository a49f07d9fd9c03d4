//! What to render: a plain-data description of a project, built by the app
//! from the shared document (or by tests and benchmarks directly). The
//! [`crate::mixer::Mixer`] compiles it into preallocated realtime state.

use std::sync::Arc;

use crate::automation::AutomationDesc;
use crate::device::DeviceDesc;
use crate::mixer::{StripChange, StripRef};
use crate::tempo::{TempoMap, TimeSignature};

/// Decoded audio in the engine's sample rate, planar, sanitised.
#[derive(Debug, PartialEq)]
pub struct AudioAsset {
    channels: Vec<Vec<f32>>,
    /// Non-finite samples replaced by silence when the asset was made.
    pub sanitised_samples: u32,
}

impl AudioAsset {
    /// Takes planar channels (1 or more, equal lengths), replacing NaN and
    /// infinities with silence.
    pub fn new(mut channels: Vec<Vec<f32>>) -> Arc<AudioAsset> {
        let frames = channels.iter().map(Vec::len).min().unwrap_or(0);
        let mut sanitised_samples = 0;
        for channel in &mut channels {
            channel.truncate(frames);
            sanitised_samples += crate::lanes::sanitize(channel);
        }
        Arc::new(AudioAsset {
            channels,
            sanitised_samples,
        })
    }

    pub fn frames(&self) -> u64 {
        self.channels.first().map_or(0, |c| c.len() as u64)
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    pub fn channel(&self, index: usize) -> &[f32] {
        &self.channels[index.min(self.channels.len() - 1)]
    }
}

/// The curve of a fade, as a gain from 0 to 1 over `t` in 0..1 (fade-in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FadeShape {
    /// `t`.
    Linear,
    /// `sin(t·π/2)`: constant power when crossfading with its mirror.
    EqualPower,
    /// `(2^(10t) − 1) / 1023`: slow start, fast finish (sounds even in dB).
    Exponential,
}

impl FadeShape {
    #[inline]
    pub fn gain(self, t: f32) -> f32 {
        let t = t.clamp(0.0, 1.0);
        match self {
            FadeShape::Linear => t,
            FadeShape::EqualPower => (f64::from(t) * std::f64::consts::FRAC_PI_2).sin() as f32,
            FadeShape::Exponential => (((10.0 * f64::from(t)).exp2() - 1.0) / 1023.0) as f32,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fade {
    pub frames: u64,
    pub shape: FadeShape,
}

impl Fade {
    pub const NONE: Fade = Fade {
        frames: 0,
        shape: FadeShape::Linear,
    };
}

/// A region of an asset placed on a track.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClipDesc {
    /// `None`: the asset is missing (not uploaded yet, or failed); the clip
    /// plays silence and the engine reports it.
    #[serde(with = "crate::wire::asset_ref")]
    pub asset: Option<Arc<AudioAsset>>,
    /// Timeline position of the clip's first frame.
    pub start: u64,
    /// First frame of the asset that plays.
    pub offset: u64,
    /// Frames the clip lasts on the timeline.
    pub length: u64,
    pub gain_db: f32,
    pub fade_in: Fade,
    pub fade_out: Fade,
    /// Repeat the asset from `offset` to its end until `length` is filled.
    pub looped: bool,
}

impl ClipDesc {
    /// The whole asset at `start`, no fades.
    pub fn whole(asset: Arc<AudioAsset>, start: u64) -> Self {
        ClipDesc {
            length: asset.frames(),
            asset: Some(asset),
            start,
            offset: 0,
            gain_db: 0.0,
            fade_in: Fade::NONE,
            fade_out: Fade::NONE,
            looped: false,
        }
    }
}

/// Where a strip sends its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Output {
    Master,
    Bus(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SendDesc {
    pub bus: usize,
    pub level_db: f32,
    /// Taken before the fader (a cue mix), otherwise after it (an effect send).
    pub pre_fader: bool,
}

/// Fader, pan, mute/solo, polarity, inserts and routing: what every mixer
/// strip has.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StripDesc {
    pub gain_db: f32,
    /// −1 (left) to +1 (right).
    pub pan: f32,
    pub mute: bool,
    pub solo: bool,
    pub polarity_invert: bool,
    pub inserts: Vec<DeviceDesc>,
    pub sends: Vec<SendDesc>,
    pub output: Output,
    /// Curves for the fader, pan and insert parameters.
    pub automation: Vec<AutomationDesc>,
}

impl Default for StripDesc {
    fn default() -> Self {
        StripDesc {
            gain_db: 0.0,
            pan: 0.0,
            mute: false,
            solo: false,
            polarity_invert: false,
            inserts: Vec::new(),
            sends: Vec::new(),
            output: Output::Master,
            automation: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackDesc {
    /// Stable identity across edits (see [`stable_id`]); 0: none, the
    /// track starts afresh in every new plan.
    #[serde(default)]
    pub id: u64,
    /// 1 (mono, panned) or 2 (stereo, balanced).
    pub channels: usize,
    pub strip: StripDesc,
    pub clips: Vec<ClipDesc>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BusDesc {
    /// Stable identity across edits; 0: none.
    #[serde(default)]
    pub id: u64,
    pub strip: StripDesc,
    /// Stays audible when something else is soloed (effect returns).
    pub solo_safe: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjectDesc {
    pub sample_rate: u32,
    pub tracks: Vec<TrackDesc>,
    pub buses: Vec<BusDesc>,
    /// The master strip; its output and sends are ignored.
    pub master: StripDesc,
    pub tempo: TempoMap,
    /// Tracks that play the live input through their strip (input
    /// monitoring while recording): this listener's own, never bounced.
    #[serde(default)]
    pub monitor: Vec<Monitor>,
}

/// A track monitoring the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Monitor {
    /// Index into [`ProjectDesc::tracks`].
    pub track: usize,
    pub input: MonitorInput,
}

/// Which of the input's channels a monitoring track hears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MonitorInput {
    First,
    Second,
    /// Both: a stereo track gets one each, a mono track their mean.
    Both,
}

/// The stable id of the master strip (a document has exactly one).
pub const MASTER_ID: u64 = u64::MAX;

impl ProjectDesc {
    /// Every strip in the mixer's order: tracks, buses, the master.
    pub fn strips(&self) -> impl Iterator<Item = &StripDesc> {
        self.tracks
            .iter()
            .map(|t| &t.strip)
            .chain(self.buses.iter().map(|b| &b.strip))
            .chain([&self.master])
    }

    /// The stable ids of [`ProjectDesc::strips`], in the same order.
    pub fn strip_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.tracks
            .iter()
            .map(|t| t.id)
            .chain(self.buses.iter().map(|b| b.id))
            .chain([MASTER_ID])
    }

    /// Records a change sent to the engine as a command, so the
    /// description stays what the playing plan renders. Unknown strips,
    /// sends and slots are ignored, as the engine does.
    pub fn apply(&mut self, strip: StripRef, change: StripChange) {
        let strip = match strip {
            StripRef::Track(i) => self.tracks.get_mut(i as usize).map(|t| &mut t.strip),
            StripRef::Bus(i) => self.buses.get_mut(i as usize).map(|b| &mut b.strip),
            StripRef::Master => Some(&mut self.master),
        };
        let Some(strip) = strip else { return };
        match change {
            StripChange::GainDb(v) => strip.gain_db = v,
            StripChange::Pan(v) => strip.pan = v,
            StripChange::Mute(v) => strip.mute = v,
            StripChange::Solo(v) => strip.solo = v,
            StripChange::Polarity(v) => strip.polarity_invert = v,
            StripChange::SendLevelDb { send, level_db } => {
                if let Some(send) = strip.sends.get_mut(usize::from(send)) {
                    send.level_db = level_db;
                }
            }
            StripChange::DeviceParam { slot, param, value } => {
                if let Some(device) = strip.inserts.get_mut(usize::from(slot)) {
                    let specs = device.kind.params();
                    if usize::from(param) < specs.len() {
                        let missing = &specs[device.params.len().min(specs.len())..];
                        device.params.extend(missing.iter().map(|p| p.default));
                        device.params[usize::from(param)] = value;
                    }
                }
            }
            StripChange::DeviceBypass { slot, bypass } => {
                if let Some(device) = strip.inserts.get_mut(usize::from(slot)) {
                    device.bypass = bypass;
                }
            }
        }
    }

    pub fn new(sample_rate: u32) -> Self {
        ProjectDesc {
            sample_rate,
            tracks: Vec::new(),
            buses: Vec::new(),
            master: StripDesc::default(),
            tempo: TempoMap::constant(sample_rate, 120.0, TimeSignature::FOUR_FOUR),
            monitor: Vec::new(),
        }
    }
}

/// The engine's identity for a document id: 64-bit FNV-1a, never 0 (which
/// means "no identity"). The same on every platform, so the page and the
/// worklet agree.
pub fn stable_id(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fade_shapes_run_from_silence_to_unity_along_their_formulas() {
        for shape in [
            FadeShape::Linear,
            FadeShape::EqualPower,
            FadeShape::Exponential,
        ] {
            assert_eq!(shape.gain(0.0), 0.0);
            assert!((shape.gain(1.0) - 1.0).abs() < 1e-6);
        }
        assert_eq!(FadeShape::Linear.gain(0.25), 0.25);
        assert!((FadeShape::EqualPower.gain(0.5) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((FadeShape::Exponential.gain(0.5) - 31.0 / 1023.0).abs() < 1e-6);
    }

    #[test]
    fn assets_are_sanitised_and_trimmed_to_their_shortest_channel() {
        let a = AudioAsset::new(vec![vec![0.5, f32::NAN, 0.25], vec![f32::INFINITY, 0.0]]);
        assert_eq!(a.frames(), 2);
        assert_eq!(a.sanitised_samples, 2);
        assert_eq!(a.channel(0), &[0.5, 0.0]);
        assert_eq!(
            a.channel(5),
            &[0.0, 0.0],
            "a missing channel reads the last one"
        );
    }
}
