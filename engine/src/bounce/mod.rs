//! Offline renders of a whole song: measured (what a saved version's
//! loudness figures come from), and exported to files: the mix at a
//! loudness target, and stems, in one pass.
//!
//! **How an export lands on its target.** The mix is rendered once, as
//! playback plays it (its own master chain included), converted to the
//! file's rate, and measured. The delivery stage after it is a gain and
//! then the engine's true-peak limiter at the ceiling; both run over the
//! kept mix, so the tracks are never rendered twice. Limiting takes some
//! loudness off, so the stage runs again with the gain corrected by what
//! the last pass missed (a secant step: loudness against gain, measured),
//! until the result is within [`TARGET_TOLERANCE_LU`] (at most
//! [`MAX_PASSES`] passes; each costs a fraction of the render). The
//! written samples are measured again for the report. The delivery stage
//! runs at the file's rate, so its true-peak ceiling holds for the file.
//!
//! **Stems** (see [`stems`]) stream out as they are rendered, a few
//! seconds at a time: they are written as mixed, with no delivery stage
//! (a loudness target is the whole song's, and a stem file is complete
//! before the mix is).
//!
//! **Dither.** Integer formats are quantised with TPDF dither (two uniform
//! variables, ±1 LSB peak) from a seeded generator, so the same project
//! and settings give the same bytes wherever they are rendered.
//!
//! Runs on a worker or natively, never on the audio thread: it allocates.

mod delivery;
pub mod stems;
mod writer;

use std::io::{Seek, Write};

pub use delivery::{
    DeliveryLimiter, LoudnessTarget, MAX_GAIN_DB, MAX_PASSES, PlatformGain, TARGET_PRESETS,
    TARGET_TOLERANCE_LU, platform_gains, platform_names,
};
pub use stems::{Stem, StemSettings, stems_of};
pub use writer::{
    Container, Discard, FILE_FORMATS, FileWriter, SampleFormat, file_name, format_name, stem_title,
    wav_header,
};

use crate::loudness::{LoudnessMeter, LoudnessReport, channel_weights};
use crate::mixer::Mixer;
use crate::project::ProjectDesc;
use crate::resample::RateConverter;
use crate::{CHANNELS, QUANTUM};

/// Frames rendered per step of a mix: a long song is never whole in
/// memory more than once.
const STEP: usize = 1 << 18;
/// Frames per step when stems are written: 64 stems × 8 k frames of
/// stereo floats are 4 MiB in flight (kept in cache; measured fastest).
const STEM_STEP: usize = 1 << 13;

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
    /// The file's sample rate; `None`: the project's.
    pub rate: Option<u32>,
}

impl ExportSettings {
    /// The defaults for the file format named `name` (see [`FILE_FORMATS`]).
    pub fn named(name: &str) -> Option<Self> {
        let &(_, _, format, container) = FILE_FORMATS.iter().find(|f| f.0 == name)?;
        Some(ExportSettings {
            container,
            ..ExportSettings::new(format)
        })
    }

    pub fn new(format: SampleFormat) -> Self {
        ExportSettings {
            format,
            container: Container::Wav,
            dither: format.dithered_by_default(),
            target: None,
            seed: 0x5354_454d_524f_4f4d,
            start: 0,
            rate: None,
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
    /// Integrated loudness of the mix as rendered, before the delivery
    /// stage (LUFS).
    pub rendered_lufs: f64,
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
                self.gain_db, self.rendered_lufs
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

/// A stem as written.
#[derive(Clone, Debug, PartialEq)]
pub struct StemReport {
    pub stem: Stem,
    /// Frames written (at the file's rate).
    pub frames: usize,
    /// Highest sample written (dBFS).
    pub sample_peak_dbfs: f64,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOutcome {
    pub mix: Option<ExportReport>,
    pub stems: Vec<StemReport>,
}

/// A file an export writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExportFile<'a> {
    Mix,
    Stem(&'a Stem),
}

/// Where a file goes: anything written in order, with a seek back to
/// the start for the header's lengths.
pub trait ExportTarget: Write + Seek + Send {}
impl<T: Write + Seek + Send> ExportTarget for T {}

/// Opens the file an export writes next.
pub type OpenFile<'w> =
    dyn FnMut(ExportFile) -> Result<Box<dyn ExportTarget + 'w>, ExportError> + 'w;

/// What an export renders.
#[derive(Clone, Debug)]
pub struct ExportJob<'a> {
    pub project: &'a ProjectDesc,
    /// Frames from `settings.start`, at the project's rate.
    pub frames: usize,
    pub settings: ExportSettings,
    /// Write the mix.
    pub mix: bool,
    /// Write stems, and which.
    pub stems: Option<StemSettings>,
    /// Render tracks (and write stems) on the rayon pool.
    pub parallel: bool,
}

/// A stem file being written.
struct StemFile<'w> {
    writer: FileWriter<Box<dyn ExportTarget + 'w>>,
    converter: RateConverter,
    converted: Vec<f32>,
    frames: usize,
    peak: f32,
}

impl StemFile<'_> {
    /// Converts and writes `samples` (empty at the end: then flushes the
    /// converter).
    fn write(&mut self, samples: &[f32], last: bool) -> Result<(), ExportError> {
        let converted = if self.converter.is_identity() {
            samples
        } else {
            self.converted.clear();
            self.converter.push(samples, &mut self.converted);
            if last {
                self.converter.finish(&mut self.converted);
            }
            &self.converted
        };
        self.frames += converted.len() / CHANNELS;
        self.peak = self.peak.max(self.writer.write(converted, None)?);
        Ok(())
    }
}

/// The dither seed of one stem's file: the export's, moved by the strip.
fn stem_seed(seed: u64, stem: &Stem) -> u64 {
    seed ^ ((stem.strip as u64 + 1) << 40 ^ stem.id).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Renders `job` once and writes its files, each opened through `files`
/// (stems before the render starts, the mix when it is ready).
/// `progress` gets the fraction done and returns false to cancel; a
/// cancelled export stops at once, and files it opened are incomplete
/// (the caller removes them; the mix's is never opened by then).
pub fn export<'w>(
    job: &ExportJob,
    files: &mut OpenFile<'w>,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<ExportOutcome, ExportError> {
    let settings = &job.settings;
    let project_rate = job.project.sample_rate;
    let rate = settings.rate.unwrap_or(project_rate);
    if !progress(0.0) {
        return Err(ExportError::Cancelled);
    }
    let mut mixer = Mixer::new(job.project);
    mixer.transport.playing = true;
    mixer.transport.position = settings.start;
    let mut taps = job.stems.map(|stem_settings| {
        let stems = stems_of(job.project, &stem_settings);
        stems::StemTaps::new(job.project, &mut mixer, stems, &stem_settings)
    });
    let mut stem_files = Vec::new();
    for stem in taps.as_ref().map_or(&[][..], |t| t.stems()) {
        stem_files.push(StemFile {
            writer: FileWriter::new(
                files(ExportFile::Stem(stem))?,
                settings.container,
                settings.format,
                settings.dither,
                stem_seed(settings.seed, stem),
                rate,
            )?,
            converter: RateConverter::new(project_rate, rate, CHANNELS),
            converted: Vec::new(),
            frames: 0,
            peak: 0.0,
        });
    }
    let render_share = if job.mix { 0.9 } else { 1.0 };
    let step = if taps.is_some() { STEM_STEP } else { STEP };
    let mut mix = Vec::with_capacity(if job.mix { job.frames * CHANNELS } else { 0 });
    // The stems of the last step, written while the next renders.
    let mut pending: Vec<Vec<f32>> = vec![Vec::new(); stem_files.len()];
    let mut done = 0;
    while done < job.frames {
        let n = (job.frames - done).min(step);
        let mut render = || {
            let mut taken = 0;
            mixer.render_offline_with(n, job.parallel, &mut |m| {
                if let Some(taps) = &mut taps {
                    let frames = (n - taken).min(QUANTUM);
                    taps.take(m, frames);
                    taken += frames;
                }
            })
        };
        let (written, block) = if job.parallel {
            rayon::join(
                || write_stems(&mut stem_files, &mut pending, false, true),
                render,
            )
        } else {
            (
                write_stems(&mut stem_files, &mut pending, false, false),
                render(),
            )
        };
        written?;
        if let Some(taps) = &mut taps {
            std::mem::swap(&mut taps.buffers, &mut pending);
        }
        if job.mix {
            mix.extend_from_slice(&block[..n * CHANNELS]);
        }
        done += n;
        if !progress(render_share * done as f64 / job.frames as f64) {
            return Err(ExportError::Cancelled);
        }
    }
    write_stems(&mut stem_files, &mut pending, true, job.parallel)?;
    let mut stems = Vec::new();
    for (file, stem) in stem_files
        .into_iter()
        .zip(taps.as_ref().map_or(&[][..], |t| t.stems()))
    {
        stems.push(StemReport {
            stem: stem.clone(),
            frames: file.frames,
            sample_peak_dbfs: 20.0 * f64::from(file.peak).log10(),
        });
        file.writer.finish()?;
    }
    let mix = if job.mix {
        Some(deliver_mix(mix, rate, job, files, &mut |f| {
            progress(render_share + (1.0 - render_share) * f)
        })?)
    } else {
        None
    };
    progress(1.0);
    Ok(ExportOutcome { mix, stems })
}

/// Writes each stem's new samples (and flushes, if `last`), on the pool
/// when `parallel`.
fn write_stems(
    files: &mut [StemFile],
    buffers: &mut [Vec<f32>],
    last: bool,
    parallel: bool,
) -> Result<(), ExportError> {
    use rayon::prelude::*;
    let write = |(file, buffer): (&mut StemFile, &mut Vec<f32>)| {
        let result = file.write(buffer, last);
        buffer.clear();
        result
    };
    if parallel {
        files
            .par_iter_mut()
            .zip(buffers.par_iter_mut())
            .try_for_each(write)
    } else {
        files.iter_mut().zip(buffers.iter_mut()).try_for_each(write)
    }
}

/// The rendered mix at the file's rate, through the delivery stage to its
/// target, written and measured.
fn deliver_mix<'w>(
    mix: Vec<f32>,
    rate: u32,
    job: &ExportJob,
    files: &mut OpenFile<'w>,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<ExportReport, ExportError> {
    let settings = &job.settings;
    let project_rate = job.project.sample_rate;
    let mix = if rate == project_rate {
        mix
    } else {
        crate::resample::convert(&mix, CHANNELS, project_rate, rate)
    };
    // Only its loudness is needed: where the search starts.
    let rendered_lufs = delivery::integrated_of(&mix, rate);
    let (delivered, gain_db, passes) = delivery::reach_target(
        mix,
        rate,
        settings.target,
        rendered_lufs,
        job.parallel,
        &mut |f| progress(0.8 * f),
    )?;
    if !progress(0.8) {
        return Err(ExportError::Cancelled);
    }
    let mut writer = FileWriter::new(
        files(ExportFile::Mix)?,
        settings.container,
        settings.format,
        settings.dither,
        settings.seed,
        rate,
    )?;
    // A second at a time: the quantiser's buffers stay small.
    let mut written = Vec::with_capacity(delivered.len());
    let mut part = Vec::new();
    for chunk in delivered.chunks(rate as usize * CHANNELS) {
        writer.write(chunk, Some(&mut part))?;
        written.extend_from_slice(&part);
    }
    let frames = delivered.len() / CHANNELS;
    drop(delivered);
    let format = writer.format();
    writer.finish()?;
    Ok(ExportReport {
        sample_rate: rate,
        frames,
        format,
        container: settings.container,
        loudness: measure(rate, &written, job.parallel),
        gain_db,
        rendered_lufs,
        passes,
    })
}

/// Renders the mix, brings it to `settings.target` if any, and writes it
/// to `out` ([`export`] of the mix alone). A cancelled export has written
/// nothing to `out`.
pub fn export_mix<W: Write + Seek + Send>(
    project: &ProjectDesc,
    frames: usize,
    settings: &ExportSettings,
    parallel: bool,
    out: W,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<ExportReport, ExportError> {
    let mut out = Some(out);
    let job = ExportJob {
        project,
        frames,
        settings: *settings,
        mix: true,
        stems: None,
        parallel,
    };
    let outcome = export(
        &job,
        &mut |_| {
            let out = out
                .take()
                .ok_or(ExportError::Write("one file only".into()))?;
            Ok(Box::new(out) as Box<dyn ExportTarget>)
        },
        progress,
    )?;
    Ok(outcome.mix.expect("the mix was asked for"))
}

/// The full measurement of interleaved stereo: loudness on this thread,
/// the true peak in stretches on the pool when `parallel` (exactly the
/// sequential figure).
fn measure(sample_rate: u32, samples: &[f32], parallel: bool) -> LoudnessReport {
    let loudness = || {
        let mut meter =
            LoudnessMeter::new(sample_rate, &channel_weights(CHANNELS)).without_true_peak();
        meter.process_interleaved(samples);
        meter.report()
    };
    let true_peak =
        || crate::loudness::true_peak_of(samples, CHANNELS, f64::from(sample_rate), parallel);
    let (mut report, peak) = if parallel {
        rayon::join(loudness, true_peak)
    } else {
        (loudness(), true_peak())
    };
    report.true_peak_dbtp = 20.0 * f64::from(peak).log10();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::device::{DeviceDesc, DeviceKind};
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

    /// The mix as playback plays it, whole.
    fn render_mix(project: &ProjectDesc, frames: usize) -> Vec<f32> {
        let mut mix = Vec::new();
        render_steps(project, 0, frames, false, &mut |block, _| {
            mix.extend_from_slice(block);
            true
        })
        .unwrap();
        mix
    }

    /// The EBU-conformance-tested meter over decoded samples.
    fn loudness_of(samples: &[f32]) -> LoudnessReport {
        let mut meter = LoudnessMeter::new(RATE, &channel_weights(CHANNELS));
        meter.process_interleaved(samples);
        meter.report()
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
                "{measured:?} for {target:?} (rendered {:.2} LUFS, gain {} dB over {} passes)",
                report.rendered_lufs,
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
        let render = render_mix(&project, frames);
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

    /// An in-memory file the test keeps a handle on.
    #[derive(Clone, Default)]
    struct SharedFile(std::sync::Arc<std::sync::Mutex<Cursor<Vec<u8>>>>);

    impl Write for SharedFile {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for SharedFile {
        fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
            self.0.lock().unwrap().seek(to)
        }
    }

    impl SharedFile {
        fn floats(&self) -> Vec<f32> {
            let bytes = self.0.lock().unwrap().get_ref().clone();
            let mut reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
            reader.samples::<f32>().map(Result::unwrap).collect()
        }
    }

    /// Runs `job`, keeping every file: (outcome, mix file, stem files).
    fn run(job: &ExportJob) -> (ExportOutcome, SharedFile, Vec<SharedFile>) {
        let mix = SharedFile::default();
        let mut stems = Vec::new();
        let outcome = super::export(
            job,
            &mut |file| {
                let f = match file {
                    ExportFile::Mix => mix.clone(),
                    ExportFile::Stem(_) => {
                        stems.push(SharedFile::default());
                        stems.last().unwrap().clone()
                    }
                };
                Ok(Box::new(f) as Box<dyn ExportTarget>)
            },
            &mut |_| true,
        )
        .unwrap();
        (outcome, mix, stems)
    }

    /// Six tracks: four send to a reverb return (bus 0), two are routed
    /// into a compressed group bus (bus 1).
    fn routed_project(seconds: f64) -> ProjectDesc {
        use crate::device::{compressor, reverb};
        use crate::project::{BusDesc, Output, SendDesc};
        let mut project = crate::workload::mixing_project(RATE, 6, seconds);
        project.master.inserts.clear();
        for (b, device) in [
            DeviceDesc::new(DeviceKind::Reverb).with(reverb::MIX, 1.0),
            DeviceDesc::new(DeviceKind::Compressor).with(compressor::THRESHOLD, -30.0),
        ]
        .into_iter()
        .enumerate()
        {
            project.buses.push(BusDesc {
                id: 100 + b as u64,
                strip: crate::project::StripDesc {
                    inserts: vec![device],
                    ..Default::default()
                },
                solo_safe: b == 0,
            });
        }
        for (t, track) in project.tracks.iter_mut().enumerate() {
            if t < 4 {
                track.strip.sends.push(SendDesc {
                    bus: 0,
                    level_db: -8.0,
                    pre_fader: false,
                });
            } else {
                track.strip.output = Output::Bus(1);
            }
        }
        project
    }

    /// The largest difference between the mix and the sum of the stems of
    /// what feeds the master (dBFS).
    fn null_of(project: &ProjectDesc, mix: &[f32], stems: &[(Stem, Vec<f32>)]) -> f64 {
        use crate::project::Output;
        let feeds_master = |stem: &Stem| {
            let strip = if stem.bus {
                &project.buses[stem.strip - project.tracks.len()].strip
            } else {
                &project.tracks[stem.strip].strip
            };
            strip.output == Output::Master
        };
        let mut sum = vec![0.0f64; mix.len()];
        for (_, samples) in stems.iter().filter(|(s, _)| feeds_master(s)) {
            assert_eq!(samples.len(), mix.len());
            for (acc, x) in sum.iter_mut().zip(samples) {
                *acc += f64::from(*x);
            }
        }
        let worst = sum
            .iter()
            .zip(mix)
            .map(|(a, b)| (a - f64::from(*b)).abs())
            .fold(0.0, f64::max);
        20.0 * worst.log10()
    }

    fn stem_job(project: &ProjectDesc, frames: usize, stems: StemSettings) -> ExportJob<'_> {
        ExportJob {
            project,
            frames,
            settings: ExportSettings::new(SampleFormat::Float32),
            mix: true,
            stems: Some(stems),
            parallel: false,
        }
    }

    #[test]
    fn stems_of_what_feeds_the_master_sum_to_the_mix() {
        let project = routed_project(3.0);
        let frames = 3 * RATE as usize;
        let (outcome, mix, files) = run(&stem_job(&project, frames, StemSettings::default()));
        let stems: Vec<(Stem, Vec<f32>)> = outcome
            .stems
            .iter()
            .zip(&files)
            .map(|(r, f)| (r.stem.clone(), f.floats()))
            .collect();
        assert_eq!(stems.len(), 8, "six tracks and two buses");
        assert!(outcome.stems.iter().all(|s| s.frames == frames));
        let mix = mix.floats();
        let render = render_mix(&project, frames);
        assert_eq!(mix, render, "the mix is the mix, stems or not");
        let null = null_of(&project, &mix, &stems);
        assert!(null < -90.0, "stems sum to the mix within {null:.1} dBFS");
        // The reverb return carries the effect; the group bus its tracks.
        for (stem, samples) in &stems[6..] {
            let peak = samples.iter().fold(0.0f32, |p, x| p.max(x.abs()));
            assert!(peak > 0.01, "{stem:?} is silent");
        }
        // Leaving a stem out breaks the null: the test can fail.
        assert!(null_of(&project, &mix, &stems[1..]) > -40.0);
        // Dry stems: the return bus is not a stem; the group bus is.
        let dry = StemSettings {
            sends: false,
            ..StemSettings::default()
        };
        let ids: Vec<u64> = stems_of(&project, &dry).iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 101]);
    }

    /// Through copies of a linear master strip (EQ, fader, pan), each stem
    /// is as the mix plays it, and they still sum to the mix.
    #[test]
    fn stems_through_the_master_chain_sum_to_the_mix_of_a_linear_master() {
        use crate::device::eq;
        let mut project = routed_project(2.0);
        project.master.inserts.push(
            DeviceDesc::new(DeviceKind::Eq)
                .with(eq::band_param(1, eq::ENABLED), 1.0)
                .with(eq::band_param(1, eq::FREQUENCY), 800.0)
                .with(eq::band_param(1, eq::GAIN), 6.0),
        );
        project.master.gain_db = -4.0;
        project.master.pan = 0.3;
        let frames = 2 * RATE as usize;
        let chained = StemSettings {
            master_chain: true,
            sends: true,
        };
        let (outcome, mix, files) = run(&stem_job(&project, frames, chained));
        let stems: Vec<(Stem, Vec<f32>)> = outcome
            .stems
            .iter()
            .zip(&files)
            .map(|(r, f)| (r.stem.clone(), f.floats()))
            .collect();
        let null = null_of(&project, &mix.floats(), &stems);
        assert!(null < -90.0, "{null:.1} dBFS");
        let (_, _, plain) = run(&stem_job(&project, frames, StemSettings::default()));
        let (a, b) = (plain[0].floats(), &stems[0].1);
        let ratio = b.iter().map(|x| x.abs()).sum::<f32>() / a.iter().map(|x| x.abs()).sum::<f32>();
        assert!(
            (ratio - 1.0).abs() > 0.1,
            "the master chain changed the stem: {ratio}"
        );
    }

    /// A 1 kHz tone exported at 44.1 kHz from a 48 kHz project keeps its
    /// frequency and level; the file is the song's length at the new rate,
    /// and a target is still met there.
    #[test]
    fn an_export_at_another_rate_keeps_a_tone_and_meets_its_target() {
        let amplitude = 0.25f32;
        let signal: Vec<f32> = (0..2 * RATE as usize)
            .map(|i| amplitude * (std::f32::consts::TAU * 1_000.0 * i as f32 / RATE as f32).sin())
            .collect();
        let project = one_track(signal);
        let frames = 2 * RATE as usize;
        let mut job = ExportJob {
            project: &project,
            frames,
            settings: ExportSettings {
                rate: Some(44_100),
                ..ExportSettings::new(SampleFormat::Float32)
            },
            mix: true,
            stems: None,
            parallel: false,
        };
        let (outcome, mix, _) = run(&job);
        let report = outcome.mix.unwrap();
        assert_eq!((report.sample_rate, report.frames), (44_100, 88_200));
        let samples = mix.floats();
        assert_eq!(samples.len(), 2 * 88_200);
        // A mono track in the centre: −3 dB in each channel.
        let expected = f64::from(amplitude) * std::f64::consts::FRAC_1_SQRT_2;
        let level = |hz: f64| {
            let skip = 4_410; // the tone's clip starts at 0: skip its onset
            let (mut re, mut im) = (0.0f64, 0.0f64);
            let n = 44_100;
            for i in 0..n {
                let phase = std::f64::consts::TAU * hz * (i + skip) as f64 / 44_100.0;
                re += f64::from(samples[2 * (i + skip)]) * phase.sin();
                im += f64::from(samples[2 * (i + skip)]) * phase.cos();
            }
            2.0 * (re * re + im * im).sqrt() / n as f64
        };
        let db = 20.0 * (level(1_000.0) / expected).log10();
        assert!(db.abs() < 0.01, "1 kHz at {db:+.4} dB");
        assert!(level(1_001.0) < 1e-3 * expected, "the tone moved");
        job.settings.target = Some(LoudnessTarget::EBU_R128);
        job.settings.format = SampleFormat::Int24;
        let (outcome, _, _) = run(&job);
        let l = outcome.mix.unwrap().loudness;
        assert!((l.integrated_lufs + 23.0).abs() <= 0.3, "{l:?}");
        assert!(l.true_peak_dbtp <= -1.0);
    }

    /// A cancelled stem export stops, and the mix file is never opened.
    #[test]
    fn a_cancelled_stem_export_never_opens_the_mix() {
        let project = routed_project(2.0);
        let mut opened = Vec::new();
        let mut calls = 0;
        let result = super::export(
            &stem_job(&project, 2 * RATE as usize, StemSettings::default()),
            &mut |file| {
                opened.push(matches!(file, ExportFile::Mix));
                Ok(Box::new(Cursor::new(Vec::new())) as Box<dyn ExportTarget>)
            },
            &mut |_| {
                calls += 1;
                calls < 3
            },
        );
        assert!(matches!(result, Err(ExportError::Cancelled)));
        assert_eq!(opened, vec![false; 8]);
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
