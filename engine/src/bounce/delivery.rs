//! The delivery stage of an export: a loudness target reached by a gain
//! before the engine's true-peak limiter, and what streaming platforms'
//! normalisation will do to the result.

use super::ExportError;
use crate::CHANNELS;
use crate::device::limiter;
use crate::loudness::{LoudnessMeter, PeakInterpolator, TRUE_PEAK_TAPS, channel_weights};

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

/// The delivery stage: a gain, then the engine's true-peak limiter (its
/// default release and look-ahead) at a ceiling, latency compensated: the
/// output lines up with the input, frame for frame.
///
/// The limiter's detector sees the mix times the gain, so its peaks are
/// the mix's peaks times the gain: they are found once (in stretches on
/// the pool: the interpolator is an FIR, so stretches started early give
/// exactly the sequential peaks), and each pass of the loudness search
/// only runs the gain computer the real-time limiter uses.
pub struct DeliveryLimiter {
    /// Per frame (the mix, then the look-ahead's worth of silence), the
    /// larger interpolated peak of the two channels.
    peaks: Vec<f32>,
    lookahead: usize,
    release: f32,
}

/// Frames per stretch of the peak detection.
const STRETCH: usize = 1 << 16;

impl DeliveryLimiter {
    /// Detects the peaks of `mix` (interleaved stereo).
    pub fn new(mix: &[f32], sample_rate: u32, parallel: bool) -> Self {
        use rayon::prelude::*;
        let fs = sample_rate as f32;
        let lookahead = limiter::lookahead_frames(limiter::PARAMS[limiter::LOOKAHEAD].default, fs);
        let release = limiter::release_coefficient(limiter::PARAMS[limiter::RELEASE].default, fs);
        let frames = mix.len() / CHANNELS;
        let total = frames + lookahead + limiter::DETECTOR_DELAY;
        let interpolator = PeakInterpolator::new(f64::from(sample_rate));
        let sample = |f: usize, ch: usize| {
            if f < frames {
                mix[f * CHANNELS + ch]
            } else {
                0.0
            }
        };
        let stretch = |(k, out): (usize, &mut [f32])| {
            let start = k * STRETCH;
            let mut windows = [[0.0f32; TRUE_PEAK_TAPS]; CHANNELS];
            for (i, peak) in out.iter_mut().enumerate() {
                let f = start + i;
                *peak = 0.0;
                for (ch, window) in windows.iter_mut().enumerate() {
                    // The last TRUE_PEAK_TAPS samples, oldest first (silence
                    // before the start, as the limiter begins).
                    for (t, x) in window.iter_mut().enumerate() {
                        let at = (f + t + 1).checked_sub(TRUE_PEAK_TAPS);
                        *x = at.map_or(0.0, |at| sample(at, ch));
                    }
                    *peak = peak.max(interpolator.peak(window));
                }
            }
        };
        let mut peaks = vec![0.0f32; total];
        if parallel {
            peaks.par_chunks_mut(STRETCH).enumerate().for_each(stretch);
        } else {
            peaks.chunks_mut(STRETCH).enumerate().for_each(stretch);
        }
        DeliveryLimiter {
            peaks,
            lookahead,
            release,
        }
    }

    /// `mix` × `gain_db`, limited at `ceiling_dbtp`.
    pub fn run(&self, mix: &[f32], gain_db: f64, ceiling_dbtp: f64) -> Vec<f32> {
        let gain = crate::db_to_amplitude(gain_db as f32);
        let ceiling = limiter::ceiling_amplitude(ceiling_dbtp as f32);
        let span = limiter::Span::new(self.lookahead);
        let mut computer = limiter::GainComputer::new(self.lookahead + 2);
        computer.restart(span);
        let out_delay = self.lookahead + limiter::DETECTOR_DELAY;
        let mut out = vec![0.0f32; mix.len()];
        let mut w = 0;
        for (f, &peak) in self.peaks.iter().enumerate() {
            let peak = peak * gain;
            let required = if peak > ceiling { ceiling / peak } else { 1.0 };
            let applied = computer
                .next(f as u64, required, self.release, span, w)
                .min(1.0);
            w = if w + 1 == self.lookahead + 1 {
                0
            } else {
                w + 1
            };
            // The frame leaving the look-ahead now.
            if let Some(at) = f.checked_sub(out_delay)
                && at * CHANNELS < mix.len()
            {
                for ch in 0..CHANNELS {
                    out[at * CHANNELS + ch] = mix[at * CHANNELS + ch] * gain * applied;
                }
            }
        }
        out
    }
}

/// Integrated loudness of interleaved stereo (no true peak: the search
/// needs only this).
pub(super) fn integrated_of(samples: &[f32], sample_rate: u32) -> f64 {
    let mut meter = LoudnessMeter::new(sample_rate, &channel_weights(CHANNELS)).without_true_peak();
    meter.process_interleaved(samples);
    meter.integrated()
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
    let limiter = DeliveryLimiter::new(&mix, sample_rate, parallel);
    if !rendered_lufs.is_finite() {
        // Silence has no loudness to move; the ceiling still holds.
        return Ok((limiter.run(&mix, 0.0, target.ceiling_dbtp), 0.0, 1));
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
        let delivered = limiter.run(&mix, gain_db, target.ceiling_dbtp);
        passes += 1;
        let lufs = integrated_of(&delivered, sample_rate);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DeviceDesc, DeviceKind, LaneDevice};
    use crate::lanes::LANES;
    use crate::{QUANTUM, db_to_amplitude};

    /// The delivery stage is the engine's limiter: run as a device over the
    /// mix times the gain (latency removed), it gives the same samples, up
    /// to float rounding, and never passes the ceiling.
    #[test]
    fn the_delivery_limiter_is_the_engine_limiter() {
        let rate = 48_000;
        let mut seed = 0x9e37_79b9u32;
        let mix: Vec<f32> = (0..3 * rate as usize)
            .flat_map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let noise = seed as f32 / u32::MAX as f32 - 0.5;
                let burst = if i % 12_000 < 300 { 1.5 } else { 0.2 };
                let tone = (i as f32 * 0.05).sin();
                [burst * (tone + noise), burst * (tone - noise)]
            })
            .collect();
        let (gain_db, ceiling) = (6.0, -1.0);
        let offline = DeliveryLimiter::new(&mix, rate, true).run(&mix, gain_db, ceiling);
        let serial = DeliveryLimiter::new(&mix, rate, false).run(&mix, gain_db, ceiling);
        assert_eq!(offline, serial, "stretches on the pool are exact");

        let desc = DeviceDesc::new(DeviceKind::Limiter).with(limiter::CEILING, ceiling as f32);
        let mut descs: [Option<&DeviceDesc>; LANES] = [None; LANES];
        descs[..CHANNELS].fill(Some(&desc));
        let mut device = LaneDevice::new(DeviceKind::Limiter, rate as f32, descs, [0; LANES]);
        let latency = device.as_limiter().map_or(0, |l| l.latency());
        let gain = db_to_amplitude(gain_db as f32);
        let frames = mix.len() / CHANNELS;
        let mut device_out = Vec::new();
        let mut fed = 0;
        while device_out.len() < mix.len() {
            let mut block = [[0.0f32; LANES]; QUANTUM];
            for (i, frame) in block.iter_mut().enumerate() {
                if fed + i < frames {
                    frame[0] = mix[(fed + i) * CHANNELS] * gain;
                    frame[1] = mix[(fed + i) * CHANNELS + 1] * gain;
                }
            }
            device.process(&mut block);
            for (i, frame) in block.iter().enumerate() {
                if fed + i >= latency && device_out.len() < mix.len() {
                    device_out.extend_from_slice(&frame[..CHANNELS]);
                }
            }
            fed += QUANTUM;
        }
        let worst = offline
            .iter()
            .zip(&device_out)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "the two limiters differ by {worst}");
        let reduced = offline
            .iter()
            .zip(&mix)
            .any(|(y, x)| (y - x * gain).abs() > 0.1);
        assert!(reduced, "the limiter worked");
        let peak = crate::loudness::true_peak_of(&offline, CHANNELS, f64::from(rate), false);
        assert!(20.0 * peak.log10() <= ceiling as f32, "{peak}");
    }

    /// The true peak measured in stretches is the one meter's, exactly.
    #[test]
    fn true_peak_in_stretches_is_the_sequential_figure() {
        use crate::loudness::{TruePeakMeter, true_peak_of};
        let signal: Vec<f32> = (0..300_000)
            .map(|i| (i as f32 * 0.7).sin() * (1.0 + (i % 65_536) as f32 / 65_536.0))
            .collect();
        let mut meter = TruePeakMeter::new(48_000.0, 2);
        for frame in signal.chunks_exact(2) {
            meter.push_frame(frame.iter().copied());
        }
        assert_eq!(true_peak_of(&signal, 2, 48_000.0, true), meter.peak());
        assert_eq!(true_peak_of(&signal, 2, 48_000.0, false), meter.peak());
    }
}
