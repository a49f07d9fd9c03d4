//! The standard benchmark workload (docs/BENCHMARKS.md), shared by the
//! native benchmark, the worklet benchmark and the browser null test so all
//! of them render exactly the same project.

use crate::device::{DeviceDesc, DeviceKind, compressor, eq, limiter};
use crate::project::{AudioAsset, ClipDesc, ProjectDesc, StripDesc, TrackDesc};

/// `tracks` mono tracks, each a clip of `seconds` of its own signal through
/// a 4-band EQ, a compressor and a pan position, into a stereo master with
/// the true-peak limiter.
pub fn mixing_project(sample_rate: u32, tracks: usize, seconds: f64) -> ProjectDesc {
    let frames = (seconds * f64::from(sample_rate)) as usize;
    let mut project = ProjectDesc::new(sample_rate);
    project
        .master
        .inserts
        .push(DeviceDesc::new(DeviceKind::Limiter).with(limiter::CEILING, -1.0));
    project.master.inserts[0].id = u64::MAX;
    let mut seed = 0x9e37_79b9u32;
    for t in 0..tracks {
        // A tone per track plus a little noise: every filter and the
        // compressor have real work to do.
        let frequency = 55.0 * (1.0 + (t % 24) as f32 / 4.0);
        let samples = (0..frames)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let noise = seed as f32 / u32::MAX as f32 - 0.5;
                let phase = std::f64::consts::TAU * f64::from(frequency) * i as f64
                    / f64::from(sample_rate);
                0.3 * phase.sin() as f32 + 0.05 * noise
            })
            .collect();
        let mut eq = DeviceDesc::new(DeviceKind::Eq);
        for (band, (shape, freq, gain)) in [
            (1.0, 100.0, 3.0),
            (0.0, 400.0, -4.0),
            (0.0, 2_500.0, 2.0),
            (2.0, 9_000.0, 1.5),
        ]
        .into_iter()
        .enumerate()
        {
            eq = eq
                .with(eq::band_param(band, eq::ENABLED), 1.0)
                .with(eq::band_param(band, eq::SHAPE), shape)
                .with(
                    eq::band_param(band, eq::FREQUENCY),
                    freq * (1.0 + t as f32 * 0.01),
                )
                .with(eq::band_param(band, eq::GAIN), gain);
        }
        // Bands are disabled by default: the EQ runs exactly these four.
        let comp = DeviceDesc::new(DeviceKind::Compressor)
            .with(compressor::THRESHOLD, -24.0)
            .with(compressor::RATIO, 3.0)
            .with(compressor::ATTACK, 5.0)
            .with(compressor::RELEASE, 80.0);
        // Stable ids, as a document gives them: edits in the benchmarks
        // keep every other strip's state.
        let (mut eq, mut comp) = (eq, comp);
        eq.id = 2 * t as u64 + 1;
        comp.id = 2 * t as u64 + 2;
        project.tracks.push(TrackDesc {
            id: t as u64 + 1,
            channels: 1,
            strip: StripDesc {
                gain_db: -12.0,
                pan: ((t % 9) as f32 - 4.0) / 4.0,
                inserts: vec![eq, comp],
                ..StripDesc::default()
            },
            clips: vec![ClipDesc::whole(AudioAsset::new(vec![samples]), 0)],
        });
    }
    project
}

/// [`mixing_project`] with `tracks` tracks playing `recordings` distinct
/// signals between them (takes and loops are shared so): the same DSP
/// work, a fraction of the decoded audio. What the export benchmarks use
/// where memory is bounded (a wasm page) or measured.
pub fn shared_mixing_project(
    sample_rate: u32,
    tracks: usize,
    recordings: usize,
    seconds: f64,
) -> ProjectDesc {
    let recordings = recordings.clamp(1, tracks.max(1));
    let mut project = mixing_project(sample_rate, recordings, seconds);
    let first = project.tracks.clone();
    for t in recordings..tracks {
        let mut track = first[t % recordings].clone();
        track.id = t as u64 + 1;
        track.strip.pan = ((t % 9) as f32 - 4.0) / 4.0;
        project.tracks.push(track);
    }
    project
}

/// The export every benchmark runs (native, in the browser, for memory):
/// 24-bit WAV, the mix at −14 LUFS / −1 dBTP, files discarded
/// ([`crate::bounce::Discard`]), so the figure is the export's, not a
/// disk's. `rate`: the files' rate, `None` for the project's.
pub fn benchmark_export(
    project: &ProjectDesc,
    frames: usize,
    mix: bool,
    stems: bool,
    rate: Option<u32>,
    parallel: bool,
) -> Result<crate::bounce::ExportOutcome, crate::bounce::ExportError> {
    use crate::bounce::{
        self, Discard, ExportJob, ExportSettings, ExportTarget, LoudnessTarget, SampleFormat,
        StemSettings,
    };
    let settings = ExportSettings {
        target: Some(LoudnessTarget::STREAMING),
        rate,
        ..ExportSettings::new(SampleFormat::Int24)
    };
    let job = ExportJob {
        project,
        frames,
        settings,
        mix,
        stems: stems.then(StemSettings::default),
        parallel,
    };
    bounce::export(
        &job,
        &mut |_| Ok(Box::new(Discard::default()) as Box<dyn ExportTarget>),
        &mut |_| true,
    )
}
