//! Whole-file analysis built from the decoder and the meters.

use std::path::Path;

use crate::decode::{DecodeError, decode_file};
use crate::loudness::{LoudnessMeter, LoudnessReport, channel_weights};

/// Loudness of a file, with what was read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FileLoudness {
    pub report: LoudnessReport,
    pub sample_rate: u32,
    pub channels: usize,
    pub frames: u64,
    /// Damaged frames that were skipped; non-zero means the figures are of
    /// what could be decoded.
    pub corrupt_packets: u64,
}

impl FileLoudness {
    pub fn duration_seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Measures integrated loudness, loudness range, true and sample peak of a
/// file with the engine's own meters, streaming it block by block.
pub fn measure_file(path: &Path) -> Result<FileLoudness, DecodeError> {
    let mut meter: Option<LoudnessMeter> = None;
    let mut layout_changed = false;
    let summary = decode_file(path, |block| {
        let meter = meter.get_or_insert_with(|| {
            LoudnessMeter::new(block.sample_rate, &channel_weights(block.channels))
        });
        if meter.channels() != block.channels {
            layout_changed = true;
            return;
        }
        meter.process_interleaved(block.samples);
    })?;
    if layout_changed {
        return Err(DecodeError::Corrupt(
            "the channel layout changes inside the file".into(),
        ));
    }
    let meter = meter.ok_or(DecodeError::Empty)?;
    Ok(FileLoudness {
        report: meter.report(),
        sample_rate: summary.sample_rate,
        channels: summary.channels,
        frames: summary.frames,
        corrupt_packets: summary.corrupt_packets,
    })
}
