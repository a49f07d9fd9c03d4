//! Offline renders of a whole mix: measured (what a saved version's
//! loudness figures come from), and bounced to a file at a loudness target
//! (export).
//!
//! **How an export lands on its target.** The mix is rendered once, as
//! playback plays it (its own master chain included), and measured. The
//! delivery stage after it is a gain and then the engine's true-peak
//! limiter at the ceiling; both run over the rendered mix, which is kept,
//! so the tracks are never rendered twice. Limiting takes some loudness
//! off, so the stage runs again with the gain corrected by what the last
//! pass missed (a secant step: loudness against gain, measured), until the
//! result is within [`TARGET_TOLERANCE_LU`] (at most [`MAX_PASSES`]
//! passes; each costs a fraction of the render). The written samples are
//! measured again for the report.
//!
//! **Dither.** Integer formats are quantised with TPDF dither (two uniform
//! variables, ±1 LSB peak) from a seeded generator, so the same project
//! and settings give the same bytes wherever they are rendered.
//!
//! Runs on a worker or natively, never on the audio thread: it allocates.

use std::io::{Seek, Write};

use crate::device::{DeviceDesc, DeviceKind, LaneDevice, limiter};
use crate::lanes::LANES;
use crate::loudness::{LoudnessMeter, LoudnessReport, channel_weights};
use crate::mixer::Mixer;
use crate::project::ProjectDesc;
use crate::{CHANNELS, QUANTUM};

/// Frames rendered per step: a long song is never whole in memory.
const STEP: usize = 1 << 18;

/// Renders `frames` of `project` from the start, as playback would, and
/// measures it (EBU R128 integrated loudness, range, true and sample peak).
/// `parallel` renders tracks on the rayon pool.
pub fn measure_mix(project: &ProjectDesc, frames: usize, parallel: bool) -> LoudnessReport {
    let mut meter = LoudnessMeter::new(project.sample_rate, &channel_weights(CHANNELS));
    // Never cancelled: the closure always goes on.
    let _ = render_steps(project, 0, frames, parallel, &mut |block, _| {
        meter.process_interleaved(block);
        true
    });
    meter.report()
}

/// Renders `frames` of `project` from frame `start`, as playback would, in
/// steps of [`STEP`] frames handed to `each` (interleaved stereo) with the
/// fraction done with it; `each` returns false to stop.
fn render_steps(
    project: &ProjectDesc,
    start: u64,
    frames: usize,
    parallel: bool,
    each: &mut dyn FnMut(&[f32], f64) -> bool,
) -> Result<(), ExportError> {
    let mut mixer = Mixer::new(project);
    mixer.transport.playing = true;
    mixer.transport.position = start;
    let mut done = 0;
    while done < frames {
        let n = (frames - done).min(STEP);
        let block = mixer.render_offline(n, parallel);
        done += n;
        if !each(&block[..n * CHANNELS], done as f64 / frames as f64) {
            return Err(ExportError::Cancelled);
        }
    }
    Ok(())
}

/// Seconds rendered past the last clip, so reverb and delay tails count.
pub const TAIL_SECONDS: f64 = 3.0;

/// Frames of a whole song: to the end of its last clip plus the tails
/// (a second at least).
pub fn song_frames(end: u64, sample_rate: u32) -> usize {
    (end as f64 + TAIL_SECONDS * f64::from(sample_rate)).max(f64::from(sample_rate)) as usize
}

/// An export lands within this many LU of its loudness target.
pub const TARGET_TOLERANCE_LU: f64 = 0.2;
/// The delivery stage's gain stays within ± this (dB).
pub const MAX_GAIN_DB: f64 = 40.0;
/// Passes of the delivery stage at most.
pub const MAX_PASSES: usize = 8;

/// How the samples are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    Int16,
    Int24,
    Float32,
}

impl SampleFormat {
    pub fn bits(self) -> u16 {
        match self {
            SampleFormat::Int16 => 16,
            SampleFormat::Int24 => 24,
            SampleFormat::Float32 => 32,
        }
    }

    /// Dither is on by default for 16 bits only.
    pub fn dithered_by_default(self) -> bool {
        self == SampleFormat::Int16
    }
}

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

/// The file's container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Wav,
    /// FLAC (lossless; 16 or 24 bits only).
    Flac,
}

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExportSettings {
    pub format: SampleFormat,
    pub container: Container,
    /// TPDF dither before quantising to integers (ignored for float).
    pub dither: bool,
    /// `None`: the mix as it plays, untouched.
    pub target: Option<LoudnessTarget>,
    /// Seeds the dither: equal seeds, equal files.
    pub seed: u64,
    /// Where in the song the file starts (frames).
    pub start: u64,
}

/// The file formats offered, by the name the dialog and `stemroom render
/// --format` use: (name, label, samples, container).
pub const FILE_FORMATS: [(&str, &str, SampleFormat, Container); 5] = [
    (
        "wav16",
        "WAV 16-bit (dithered)",
        SampleFormat::Int16,
        Container::Wav,
    ),
    ("wav24", "WAV 24-bit", SampleFormat::Int24, Container::Wav),
    (
        "wav32f",
        "WAV 32-bit float",
        SampleFormat::Float32,
        Container::Wav,
    ),
    (
        "flac16",
        "FLAC 16-bit (dithered)",
        SampleFormat::Int16,
        Container::Flac,
    ),
    (
        "flac24",
        "FLAC 24-bit",
        SampleFormat::Int24,
        Container::Flac,
    ),
];

impl ExportSettings {
    /// The defaults for the file format named `name` (see [`FILE_FORMATS`]).
    pub fn named(name: &str) -> Option<Self> {
        let &(_, _, format, container) = FILE_FORMATS.iter().find(|f| f.0 == name)?;
        Some(ExportSettings {
            container,
            ..ExportSettings::new(format)
        })
    }

    /// The samples as written: FLAC has no float, so float goes as 24 bits.
    pub fn written_format(&self) -> SampleFormat {
        match (self.container, self.format) {
            (Container::Flac, SampleFormat::Float32) => SampleFormat::Int24,
            (_, format) => format,
        }
    }

    pub fn new(format: SampleFormat) -> Self {
        ExportSettings {
            format,
            container: Container::Wav,
            dither: format.dithered_by_default(),
            target: None,
            seed: 0x5354_454d_524f_4f4d,
            start: 0,
        }
    }
}

/// What an export wrote, measured from the written samples.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportReport {
    pub sample_rate: u32,
    pub frames: usize,
    pub format: SampleFormat,
    pub container: Container,
    pub loudness: LoudnessReport,
    /// Gain the delivery stage applied before its limiter (dB; 0 without a target).
    pub gain_db: f64,
    /// The mix as rendered, before the delivery stage.
    pub rendered: LoudnessReport,
    /// Passes the delivery stage took.
    pub passes: usize,
}

impl ExportReport {
    pub fn duration_seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate)
    }

    /// "name: 3:12.4, 48000 Hz, 24-bit WAV".
    pub fn file_line(&self, name: &str) -> String {
        let seconds = self.duration_seconds();
        format!(
            "{name}: {}:{:04.1}, {} Hz, {}",
            (seconds / 60.0).floor(),
            seconds % 60.0,
            self.sample_rate,
            format_name(self.format, self.container)
        )
    }

    /// "Integrated −14.0 LUFS · range 5.2 LU · true peak −1.0 dBTP · sample peak −1.3 dBFS".
    pub fn loudness_line(&self) -> String {
        let l = &self.loudness;
        format!(
            "Integrated {:.1} LUFS · range {:.1} LU · true peak {:.1} dBTP · sample peak {:.1} dBFS",
            l.integrated_lufs, l.range_lu, l.true_peak_dbtp, l.sample_peak_dbfs
        )
    }

    /// "Gain before the limiter +4.2 dB (the mix measured −18.2 LUFS)",
    /// when a target was met.
    pub fn gain_line(&self) -> Option<String> {
        (self.passes > 0).then(|| {
            format!(
                "Gain before the limiter {:+.1} dB (the mix measured {:.1} LUFS)",
                self.gain_db, self.rendered.integrated_lufs
            )
        })
    }

    /// What each platform's normalisation will do to this file.
    pub fn platforms(&self) -> Vec<PlatformGain> {
        platform_gains(self.loudness.integrated_lufs, self.loudness.true_peak_dbtp)
    }
}

/// Why an export stopped.
#[derive(Debug)]
pub enum ExportError {
    Cancelled,
    Write(String),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Cancelled => f.write_str("the export was cancelled"),
            ExportError::Write(e) => write!(f, "the file could not be written: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// Renders `frames` of `project` from frame `start` as interleaved stereo.
/// `progress` gets the fraction done and returns false to cancel.
pub fn render_mix(
    project: &ProjectDesc,
    start: u64,
    frames: usize,
    parallel: bool,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Vec<f32>, ExportError> {
    let mut out = Vec::with_capacity(frames * CHANNELS);
    if !progress(0.0) {
        return Err(ExportError::Cancelled);
    }
    render_steps(project, start, frames, parallel, &mut |block, done| {
        out.extend_from_slice(block);
        progress(done)
    })?;
    Ok(out)
}

fn measure(sample_rate: u32, samples: &[f32]) -> LoudnessReport {
    let mut meter = LoudnessMeter::new(sample_rate, &channel_weights(CHANNELS));
    meter.process_interleaved(samples);
    meter.report()
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

/// Renders the mix, brings it to `settings.target` if any, and writes it
/// as a WAV file to `out`. `progress` gets the fraction done (the render
/// is most of it) and returns false to cancel; a cancelled export has
/// written nothing to `out`.
pub fn export_mix<W: Write + Seek>(
    project: &ProjectDesc,
    frames: usize,
    settings: &ExportSettings,
    parallel: bool,
    out: W,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<ExportReport, ExportError> {
    let rate = project.sample_rate;
    let mix = render_mix(project, settings.start, frames, parallel, &mut |f| {
        progress(f * 0.9)
    })?;
    let rendered = measure(rate, &mix);
    let (delivered, gain_db, passes) = match settings.target {
        None => (mix, 0.0, 0),
        Some(target) if rendered.integrated_lufs.is_finite() => {
            let mut gain_db = (target.integrated_lufs - rendered.integrated_lufs)
                .clamp(-MAX_GAIN_DB, MAX_GAIN_DB);
            // The mix as rendered is the curve's point at no gain (exact
            // where the limiter does not touch it): the first correction is
            // already a secant step.
            let mut last: Option<(f64, f64)> = Some((0.0, rendered.integrated_lufs));
            let mut passes = 0;
            loop {
                if !progress(0.9 + 0.01 * passes as f64) {
                    return Err(ExportError::Cancelled);
                }
                let (delivered, measured) =
                    deliver(&mix, rate, gain_db, target.ceiling_dbtp, parallel);
                passes += 1;
                let lufs = measured.integrated_lufs;
                let missed = target.integrated_lufs - lufs;
                if missed.abs() <= TARGET_TOLERANCE_LU || passes == MAX_PASSES {
                    break (delivered, gain_db, passes);
                }
                // Secant step: a limited mix gains less than a dB of
                // loudness per dB of gain, and less the harder it is pushed.
                let slope = match last {
                    Some((g, l)) if (gain_db - g).abs() > 1e-6 => {
                        ((lufs - l) / (gain_db - g)).clamp(0.05, 1.0)
                    }
                    _ => 1.0,
                };
                last = Some((gain_db, lufs));
                gain_db = (gain_db + missed / slope).clamp(-MAX_GAIN_DB, MAX_GAIN_DB);
            }
        }
        // Silence has no loudness to move; the ceiling still holds.
        Some(target) => (
            deliver(&mix, rate, 0.0, target.ceiling_dbtp, parallel).0,
            0.0,
            1,
        ),
    };
    if !progress(0.98) {
        return Err(ExportError::Cancelled);
    }
    let written = match settings.container {
        Container::Wav => write_wav(&delivered, rate, settings, out)?,
        Container::Flac => write_flac(&delivered, rate, settings, out)?,
    };
    progress(1.0);
    Ok(ExportReport {
        sample_rate: rate,
        frames: delivered.len() / CHANNELS,
        format: settings.written_format(),
        container: settings.container,
        loudness: measure(rate, &written),
        gain_db,
        rendered,
        passes,
    })
}

/// TPDF dither: the sum of two uniform variables in [−½, ½) LSB, from a
/// seeded xorshift64* generator (the same sequence on every machine).
pub struct Dither {
    state: u64,
}

impl Dither {
    pub fn new(seed: u64) -> Self {
        Dither { state: seed | 1 }
    }

    fn uniform(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let x = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// The next dither value, in LSB.
    pub fn sample(&mut self) -> f64 {
        self.uniform() + self.uniform()
    }
}

/// Quantises `samples` (interleaved stereo) as `settings` says and writes
/// them as WAV. Returns the samples as written, back in floats (what the
/// report measures).
pub fn write_wav<W: Write + Seek>(
    samples: &[f32],
    sample_rate: u32,
    settings: &ExportSettings,
    out: W,
) -> Result<Vec<f32>, ExportError> {
    let spec = hound::WavSpec {
        channels: CHANNELS as u16,
        sample_rate,
        bits_per_sample: settings.format.bits(),
        sample_format: match settings.format {
            SampleFormat::Float32 => hound::SampleFormat::Float,
            _ => hound::SampleFormat::Int,
        },
    };
    let error = |e: hound::Error| ExportError::Write(e.to_string());
    let mut writer = hound::WavWriter::new(out, spec).map_err(error)?;
    let written = match settings.format {
        SampleFormat::Float32 => {
            for &x in samples {
                writer.write_sample(x).map_err(error)?;
            }
            samples.to_vec()
        }
        format => {
            let (ints, floats) = quantise(samples, format, settings.dither, settings.seed);
            for q in ints {
                writer.write_sample(q).map_err(error)?;
            }
            floats
        }
    };
    writer.finalize().map_err(error)?;
    Ok(written)
}

/// `samples` quantised to the integer `format` (dithered if `dither`):
/// the integers, and the same values as floats.
fn quantise(
    samples: &[f32],
    format: SampleFormat,
    dither: bool,
    seed: u64,
) -> (Vec<i32>, Vec<f32>) {
    let full = f64::from(1u32 << (format.bits() - 1));
    let mut noise = Dither::new(seed);
    samples
        .iter()
        .map(|&x| {
            let d = if dither { noise.sample() } else { 0.0 };
            let q = (f64::from(x) * full + d).round().clamp(-full, full - 1.0);
            (q as i32, (q / full) as f32)
        })
        .unzip()
}

/// Quantises `samples` (16 or 24 bits: float is written as 24) and
/// writes them as FLAC. Returns the samples as written, back in floats.
pub fn write_flac<W: Write>(
    samples: &[f32],
    sample_rate: u32,
    settings: &ExportSettings,
    mut out: W,
) -> Result<Vec<f32>, ExportError> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    let format = settings.written_format();
    let failed = |e: &dyn std::fmt::Debug| ExportError::Write(format!("FLAC: {e:?}"));
    let (ints, written) = quantise(samples, format, settings.dither, settings.seed);
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| failed(&e))?;
    let source = flacenc::source::MemSource::from_samples(
        &ints,
        CHANNELS,
        usize::from(format.bits()),
        sample_rate as usize,
    );
    let mut stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| failed(&e))?;
    // The minimum block size excludes the last block (a shorter one), as
    // the format says: a decoder reads a stream whose minimum and maximum
    // differ as variable-blocked, and symphonia then rejects every frame.
    stream
        .stream_info_mut()
        .set_block_sizes(config.block_size, config.block_size)
        .map_err(|e| failed(&e))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| failed(&e))?;
    out.write_all(sink.as_slice())
        .map_err(|e| ExportError::Write(e.to_string()))?;
    Ok(written)
}

/// "24-bit WAV", "16-bit FLAC", "32-bit float WAV".
pub fn format_name(format: SampleFormat, container: Container) -> String {
    let container = match container {
        Container::Wav => "WAV",
        Container::Flac => "FLAC",
    };
    match format {
        SampleFormat::Float32 => format!("32-bit float {container}"),
        f => format!("{}-bit {container}", f.bits()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::project::{AudioAsset, ClipDesc, TrackDesc};
    use std::io::Cursor;

    const RATE: u32 = 48_000;

    /// Exports `project` and reads the file back: (report, samples as
    /// floats, raw integer samples when the format has them).
    fn export(
        project: &ProjectDesc,
        frames: usize,
        settings: &ExportSettings,
    ) -> (ExportReport, Vec<f32>, Vec<i32>) {
        let mut file = Cursor::new(Vec::new());
        let report =
            export_mix(project, frames, settings, false, &mut file, &mut |_| true).unwrap();
        let mut reader = hound::WavReader::new(Cursor::new(file.into_inner())).unwrap();
        let spec = reader.spec();
        assert_eq!((spec.channels, spec.sample_rate), (2, RATE));
        assert_eq!(spec.bits_per_sample, settings.format.bits());
        match settings.format {
            SampleFormat::Float32 => {
                let floats = reader.samples::<f32>().map(Result::unwrap).collect();
                (report, floats, Vec::new())
            }
            format => {
                let full = f64::from(1u32 << (format.bits() - 1));
                let ints: Vec<i32> = reader.samples::<i32>().map(Result::unwrap).collect();
                let floats = ints.iter().map(|&q| (f64::from(q) / full) as f32).collect();
                (report, floats, ints)
            }
        }
    }

    /// The EBU-conformance-tested meter over decoded samples.
    fn loudness_of(samples: &[f32]) -> LoudnessReport {
        measure(RATE, samples)
    }

    /// A loud master: four busy tracks pushed 12 dB into the master.
    fn loud_project() -> ProjectDesc {
        let mut project = crate::workload::mixing_project(RATE, 4, 8.0);
        project.master.gain_db += 12.0;
        project
    }

    /// Drum-like: loud 5 ms bursts four times a second over a quiet bed,
    /// so limiting to a loud target takes loudness off and the delivery
    /// stage needs more than one pass.
    fn spiky_project() -> ProjectDesc {
        let mut seed = 0x2545_f491u32;
        let signal = (0..8 * RATE as usize)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let noise = seed as f32 / u32::MAX as f32 - 0.5;
                let burst = i % (RATE as usize / 4) < RATE as usize / 200;
                if burst { 1.6 * noise } else { 0.01 * noise }
            })
            .collect();
        one_track(signal)
    }

    /// A project of one mono track playing `signal` from the start.
    fn one_track(signal: Vec<f32>) -> ProjectDesc {
        let mut project = ProjectDesc::new(RATE);
        project.tracks.push(TrackDesc {
            id: 1,
            channels: 1,
            strip: Default::default(),
            clips: vec![ClipDesc::whole(AudioAsset::new(vec![signal]), 0)],
        });
        project
    }

    #[test]
    fn an_export_lands_on_its_loudness_target_under_its_ceiling() {
        let frames = 8 * RATE as usize;
        let spiky = spiky_project();
        let mut settings = ExportSettings::new(SampleFormat::Int24);
        settings.target = Some(LoudnessTarget::STREAMING);
        let (report, samples, _) = export(&spiky, frames, &settings);
        let measured = loudness_of(&samples);
        assert!(report.passes > 1, "limiting took loudness off: {report:?}");
        assert!(
            (measured.integrated_lufs + 14.0).abs() <= 0.3,
            "{measured:?} {report:?}"
        );
        assert!(measured.true_peak_dbtp <= -1.0, "{measured:?}");

        let project = loud_project();
        for target in [LoudnessTarget::STREAMING, LoudnessTarget::EBU_R128] {
            let mut settings = ExportSettings::new(SampleFormat::Int24);
            settings.target = Some(target);
            let (report, samples, _) = export(&project, frames, &settings);
            let measured = loudness_of(&samples);
            assert!(
                (measured.integrated_lufs - target.integrated_lufs).abs() <= 0.3,
                "{measured:?} for {target:?} (rendered {:?}, gain {} dB over {} passes)",
                report.rendered,
                report.gain_db,
                report.passes
            );
            assert!(
                measured.true_peak_dbtp <= target.ceiling_dbtp,
                "{measured:?}"
            );
            // The report is the file's.
            assert!((report.loudness.integrated_lufs - measured.integrated_lufs).abs() < 1e-9);
            assert_eq!(report.frames, frames);
        }
    }

    #[test]
    fn without_a_target_float_is_the_render_exactly_and_24_bits_within_half_an_lsb() {
        let project = crate::workload::mixing_project(RATE, 2, 2.0);
        let frames = 2 * RATE as usize;
        let render = render_mix(&project, 0, frames, false, &mut |_| true).unwrap();
        let (_, floats, _) = export(
            &project,
            frames,
            &ExportSettings::new(SampleFormat::Float32),
        );
        assert_eq!(floats, render, "32-bit float is the render, bit for bit");
        let settings = ExportSettings::new(SampleFormat::Int24);
        assert!(!settings.dither, "24 bits are not dithered by default");
        let (_, _, ints) = export(&project, frames, &settings);
        let worst = ints
            .iter()
            .zip(&render)
            .map(|(&q, &x)| (f64::from(q) - f64::from(x) * 8_388_608.0).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 0.5, "24-bit error {worst} LSB");
    }

    /// A 16-bit export of silence, then a −80 dBFS 1 kHz tone: TPDF noise
    /// at its analytic level, and the tone kept.
    #[test]
    fn sixteen_bits_are_dithered_with_tpdf_noise_and_keep_a_tone_at_minus_80() {
        let second = RATE as usize;
        let amplitude = crate::db_to_amplitude(-80.0);
        let tone =
            |i: usize| amplitude * (std::f32::consts::TAU * 1_000.0 * i as f32 / RATE as f32).sin();
        let mut signal = vec![0.0f32; 2 * second];
        for (i, x) in signal[second..].iter_mut().enumerate() {
            *x = tone(i);
        }
        let project = one_track(signal);
        let frames = 2 * second;
        let settings = ExportSettings::new(SampleFormat::Int16);
        assert!(settings.dither, "16 bits are dithered by default");
        let (_, dithered, ints) = export(&project, frames, &settings);
        // Silence: each sample is 0 + d rounded, d TPDF in (−1, 1) LSB, so
        // ±1 LSB with probability ¼: 0.5 LSB RMS, −96.3 dBFS (the dither
        // itself, before rounding, is √(1/6) LSB: −98.1 dBFS).
        let silent = &dithered[..second * CHANNELS];
        let rms = (silent.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / silent.len() as f64)
            .sqrt();
        let expected = 20.0 * (0.5f64 / 32_768.0).log10();
        assert!(
            ((20.0 * rms.log10()) - expected).abs() < 0.2,
            "{} dBFS vs {expected}",
            20.0 * rms.log10()
        );
        assert!(
            ints[..second * CHANNELS].iter().all(|q| q.abs() <= 1),
            "TPDF peaks at ±1 LSB"
        );
        // Undithered, the tone (±3.3 LSB) would be a stepped wave; dithered,
        // its 1 kHz component is kept at its level.
        let (_, float, _) = export(
            &project,
            frames,
            &ExportSettings::new(SampleFormat::Float32),
        );
        let component = |x: &[f32]| {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (i, frame) in x[second * CHANNELS..].chunks(CHANNELS).enumerate() {
                let phase = std::f64::consts::TAU * 1_000.0 * i as f64 / f64::from(RATE);
                re += f64::from(frame[0]) * phase.sin();
                im += f64::from(frame[0]) * phase.cos();
            }
            2.0 * (re * re + im * im).sqrt() / second as f64
        };
        let kept = 20.0 * (component(&dithered) / component(&float)).log10();
        assert!(kept.abs() < 0.2, "the tone is {kept:+.2} dB off");
        // The same seed, the same bytes; another seed, other noise.
        let (_, again, _) = export(&project, frames, &settings);
        assert_eq!(again, dithered);
        let other = ExportSettings {
            seed: 7,
            ..settings
        };
        assert_ne!(export(&project, frames, &other).1, dithered);
    }

    /// FLAC is lossless: decoded, it is the WAV export's samples exactly
    /// (the same dither), at 16 and 24 bits.
    #[test]
    fn flac_decodes_to_exactly_the_samples_of_the_wav() {
        let project = crate::workload::mixing_project(RATE, 2, 2.0);
        let frames = 2 * RATE as usize;
        for format in [SampleFormat::Int16, SampleFormat::Int24] {
            let mut settings = ExportSettings::new(format);
            settings.target = Some(LoudnessTarget::STREAMING);
            let (wav_report, wav, _) = export(&project, frames, &settings);
            settings.container = Container::Flac;
            let mut file = Cursor::new(Vec::new());
            let report =
                export_mix(&project, frames, &settings, false, &mut file, &mut |_| true).unwrap();
            assert_eq!(report.loudness, wav_report.loudness);
            let bytes = file.into_inner();
            assert_eq!(&bytes[..4], b"fLaC");
            let decoded =
                crate::decode::decode_asset(Box::new(Cursor::new(bytes)), Some("flac")).unwrap();
            assert_eq!(decoded.frames(), frames as u64);
            for (i, frame) in wav.chunks(CHANNELS).enumerate() {
                for (ch, x) in frame.iter().enumerate() {
                    assert_eq!(
                        decoded.channel(ch)[i],
                        *x,
                        "{format:?} frame {i} channel {ch}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_cancelled_export_writes_nothing() {
        let project = crate::workload::mixing_project(RATE, 2, 4.0);
        let mut file = Cursor::new(Vec::new());
        let mut calls = 0;
        let result = export_mix(
            &project,
            4 * RATE as usize,
            &ExportSettings::new(SampleFormat::Int16),
            false,
            &mut file,
            &mut |_| {
                calls += 1;
                calls < 2
            },
        );
        assert!(matches!(result, Err(ExportError::Cancelled)));
        assert!(file.into_inner().is_empty());
    }

    #[test]
    fn platforms_turn_loud_files_down_and_some_quiet_ones_up_within_their_peak() {
        let loud = platform_gains(-10.0, -0.5);
        assert_eq!(loud[0].sentence(), "Spotify will turn this down 4.0 dB");
        assert_eq!(loud[1].sentence(), "Apple Music will turn this down 6.0 dB");
        let quiet = platform_gains(-20.0, -6.0);
        assert_eq!(
            quiet[0].sentence(),
            "Spotify will turn this up 5.0 dB",
            "up to −1 dBTP"
        );
        assert_eq!(quiet[2].sentence(), "YouTube will play this as it is");
    }

    #[test]
    fn a_measured_mix_equals_the_meter_on_one_render_and_follows_the_fader() {
        let project = crate::workload::mixing_project(48_000, 4, 6.0);
        let frames = 6 * 48_000;
        let report = measure_mix(&project, frames, false);
        let mut mixer = Mixer::new(&project);
        mixer.transport.playing = true;
        let whole = mixer.render_offline(frames, false);
        let mut meter = LoudnessMeter::new(48_000, &channel_weights(CHANNELS));
        meter.process_interleaved(&whole[..frames * CHANNELS]);
        assert!(report.integrated_lufs.is_finite());
        assert!((report.integrated_lufs - meter.integrated()).abs() < 1e-9);
        // The master 6 dB down measures 6 LU quieter (no limiter in the way).
        let mut quieter = project.clone();
        quieter.master.gain_db -= 6.0;
        let down = measure_mix(&quieter, frames, false);
        assert!(
            (report.integrated_lufs - down.integrated_lufs - 6.0).abs() < 0.05,
            "{} vs {}",
            report.integrated_lufs,
            down.integrated_lufs
        );
    }
}
