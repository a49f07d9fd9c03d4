//! The delivery stage of an export: a loudness target reached by a gain
//! before the engine's true-peak limiter, and what streaming platforms'
//! normalisation will do to the result.

use super::ExportError;
use crate::device::{DeviceDesc, DeviceKind, LaneDevice, limiter};
use crate::lanes::LANES;
use crate::loudness::{LoudnessMeter, LoudnessReport, channel_weights};
use crate::{CHANNELS, QUANTUM};

/// An export lands within this many LU of its loudness target.
pub const TARGET_TOLERANCE_LU: f64 = 0.2;
/// The delivery stage's gain stays within ± this (dB).
pub const MAX_GAIN_DB: f64 = 40.0;
/// Passes of the delivery stage at most.
pub const MAX_PASSES: usize = 8;

/// A delivery loudness: integrated loudness and true-peak ceiling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoudnessTarget {
    pub integrated_lufs: f64,
    pub ceiling_dbtp: f64,
}

/// The delivery targets people pick by name: (key, label, target).
pub const TARGET_PRESETS: [(&str, &str, LoudnessTarget); 3] = [
    ("streaming", "Streaming −14 LUFS", LoudnessTarget::STREAMING),
    ("apple", "Apple Music −16 LUFS", LoudnessTarget::APPLE_MUSIC),
    ("ebu", "EBU R128 −23 LUFS", LoudnessTarget::EBU_R128),
];

impl LoudnessTarget {
    /// The preset of this key ("streaming", "apple", "ebu").
    pub fn preset(key: &str) -> Option<LoudnessTarget> {
        TARGET_PRESETS.iter().find(|p| p.0 == key).map(|p| p.2)
    }

    /// This target's preset key, if it is one.
    pub fn preset_key(self) -> Option<&'static str> {
        TARGET_PRESETS.iter().find(|p| p.2 == self).map(|p| p.0)
    }

    /// Streaming platforms (Spotify, YouTube, Tidal, Amazon).
    pub const STREAMING: LoudnessTarget = LoudnessTarget {
        integrated_lufs: -14.0,
        ceiling_dbtp: -1.0,
    };
    pub const APPLE_MUSIC: LoudnessTarget = LoudnessTarget {
        integrated_lufs: -16.0,
        ceiling_dbtp: -1.0,
    };
    /// Broadcast, EBU R128.
    pub const EBU_R128: LoudnessTarget = LoudnessTarget {
        integrated_lufs: -23.0,
        ceiling_dbtp: -1.0,
    };
}

/// The delivery stage: `gain_db`, then the true-peak limiter at
/// `ceiling_dbtp` (its latency compensated: the output lines up with the
/// input, frame for frame), run over the kept mix a chunk at a time.
struct Delivery<'a> {
    mix: &'a [f32],
    device: LaneDevice,
    latency: usize,
    gain: f32,
    /// Frames fed to the limiter, and samples it has given back.
    fed: usize,
    emitted: usize,
}

impl<'a> Delivery<'a> {
    fn new(mix: &'a [f32], sample_rate: u32, gain_db: f64, ceiling_dbtp: f64) -> Self {
        let desc = DeviceDesc::new(DeviceKind::Limiter).with(limiter::CEILING, ceiling_dbtp as f32);
        let mut descs: [Option<&DeviceDesc>; LANES] = [None; LANES];
        descs[..CHANNELS].fill(Some(&desc));
        // Both channels on one link: one gain, the stereo image kept.
        let device = LaneDevice::new(DeviceKind::Limiter, sample_rate as f32, descs, [0; LANES]);
        let latency = device
            .as_limiter()
            .map_or(0, limiter::LimiterLanes::latency);
        Delivery {
            mix,
            device,
            latency,
            gain: crate::db_to_amplitude(gain_db as f32),
            fed: 0,
            emitted: 0,
        }
    }

    /// The next `samples` of output at most (fewer at the end; empty when done).
    fn next(&mut self, samples: usize) -> Vec<f32> {
        let frames = self.mix.len() / CHANNELS;
        let end = (self.emitted + samples).min(self.mix.len());
        let mut out = Vec::with_capacity(end - self.emitted);
        let mut block = [[0.0f32; LANES]; QUANTUM];
        while self.emitted < end {
            for (i, frame) in block.iter_mut().enumerate() {
                let at = self.fed + i;
                *frame = [0.0; LANES];
                if at < frames {
                    for ch in 0..CHANNELS {
                        frame[ch] = self.mix[at * CHANNELS + ch] * self.gain;
                    }
                }
            }
            self.device.process(&mut block);
            for (i, frame) in block.iter().enumerate() {
                // The first `latency` frames out are the limiter's delay line.
                if self.fed + i >= self.latency && self.emitted < self.mix.len() {
                    out.extend_from_slice(&frame[..CHANNELS]);
                    self.emitted += CHANNELS;
                }
            }
            self.fed += QUANTUM;
        }
        out
    }
}

/// The delivery stage over `mix` (see [`Delivery`]), and the result's
/// measurement. `parallel`: the meter measures each second on the rayon
/// pool while the limiter makes the next (the two cost about the same).
pub fn deliver(
    mix: &[f32],
    sample_rate: u32,
    gain_db: f64,
    ceiling_dbtp: f64,
    parallel: bool,
) -> (Vec<f32>, LoudnessReport) {
    let mut stage = Delivery::new(mix, sample_rate, gain_db, ceiling_dbtp);
    let mut meter = LoudnessMeter::new(sample_rate, &channel_weights(CHANNELS));
    let chunk = sample_rate as usize * CHANNELS;
    let mut out = Vec::with_capacity(mix.len());
    let mut last = stage.next(chunk);
    while !last.is_empty() {
        let next = if parallel {
            rayon::join(|| meter.process_interleaved(&last), || stage.next(chunk)).1
        } else {
            meter.process_interleaved(&last);
            stage.next(chunk)
        };
        out.extend_from_slice(&last);
        last = next;
    }
    (out, meter.report())
}

/// What a streaming platform's loudness normalisation does to a file.
#[derive(Clone, Debug, PartialEq)]
pub struct PlatformGain {
    pub platform: &'static str,
    /// Gain it applies on playback (dB; negative turns it down).
    pub gain_db: f64,
}

/// Platforms' normalisation as they document it: (name, reference LUFS,
/// whether quiet files are turned up, up to a true peak of −1 dBTP).
const PLATFORMS: [(&str, f64, bool); 5] = [
    ("Spotify", -14.0, true),
    ("Apple Music", -16.0, true),
    ("YouTube", -14.0, false),
    ("Tidal", -14.0, false),
    ("Amazon Music", -14.0, false),
];

/// The platforms whose normalisation is known, by name.
pub fn platform_names() -> impl Iterator<Item = &'static str> {
    PLATFORMS.iter().map(|p| p.0)
}

/// What each platform will do to a file of this loudness and true peak.
pub fn platform_gains(integrated_lufs: f64, true_peak_dbtp: f64) -> Vec<PlatformGain> {
    PLATFORMS
        .iter()
        .map(|&(platform, reference, turns_up)| {
            let mut gain = reference - integrated_lufs;
            if gain > 0.0 {
                gain = if turns_up {
                    gain.min((-1.0 - true_peak_dbtp).max(0.0))
                } else {
                    0.0
                };
            }
            PlatformGain {
                platform,
                gain_db: if integrated_lufs.is_finite() {
                    gain
                } else {
                    0.0
                },
            }
        })
        .collect()
}

impl PlatformGain {
    /// "Spotify will turn this down 2.1 dB".
    pub fn sentence(&self) -> String {
        if self.gain_db.abs() < 0.05 {
            format!("{} will play this as it is", self.platform)
        } else if self.gain_db < 0.0 {
            format!(
                "{} will turn this down {:.1} dB",
                self.platform, -self.gain_db
            )
        } else {
            format!("{} will turn this up {:.1} dB", self.platform, self.gain_db)
        }
    }
}

/// Brings `mix` (measured `rendered_lufs`) to `target`, if any: the
/// delivery stage, run again with a secant step on the gain until the
/// result is within [`TARGET_TOLERANCE_LU`]. Returns the delivered mix,
/// the gain and the passes taken. `progress` gets the passes' fraction of
/// [`MAX_PASSES`] and returns false to cancel.
pub(super) fn reach_target(
    mix: Vec<f32>,
    sample_rate: u32,
    target: Option<LoudnessTarget>,
    rendered_lufs: f64,
    parallel: bool,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<(Vec<f32>, f64, usize), ExportError> {
    let Some(target) = target else {
        return Ok((mix, 0.0, 0));
    };
    if !rendered_lufs.is_finite() {
        // Silence has no loudness to move; the ceiling still holds.
        let (delivered, _) = deliver(&mix, sample_rate, 0.0, target.ceiling_dbtp, parallel);
        return Ok((delivered, 0.0, 1));
    }
    let mut gain_db = (target.integrated_lufs - rendered_lufs).clamp(-MAX_GAIN_DB, MAX_GAIN_DB);
    // The mix as rendered is the curve's point at no gain (exact where the
    // limiter does not touch it): the first correction is already a
    // secant step.
    let mut last = (0.0, rendered_lufs);
    let mut passes = 0;
    loop {
        if !progress(passes as f64 / MAX_PASSES as f64) {
            return Err(ExportError::Cancelled);
        }
        let (delivered, measured) =
            deliver(&mix, sample_rate, gain_db, target.ceiling_dbtp, parallel);
        passes += 1;
        let lufs = measured.integrated_lufs;
        let missed = target.integrated_lufs - lufs;
        if missed.abs() <= TARGET_TOLERANCE_LU || passes == MAX_PASSES {
            return Ok((delivered, gain_db, passes));
        }
        // A limited mix gains less than a dB of loudness per dB of gain,
        // and less the harder it is pushed.
        let slope = if (gain_db - last.0).abs() > 1e-6 {
            ((lufs - last.1) / (gain_db - last.0)).clamp(0.05, 1.0)
        } else {
            1.0
        };
        last = (gain_db, lufs);
        gain_db = (gain_db + missed / slope).clamp(-MAX_GAIN_DB, MAX_GAIN_DB);
    }
}
