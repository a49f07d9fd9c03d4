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

/// Frames per peak at each level of a [`Peaks`] pyramid.
pub const PEAK_LEVELS: [usize; 3] = [64, 1024, 16_384];

/// Waveform overview of an asset: the minimum and maximum sample (over all
/// channels) of every block of [`PEAK_LEVELS`] frames, at three
/// resolutions, so drawing a clip at any zoom reads a few values per pixel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Peaks {
    pub frames: u64,
    /// Per level: `(min, max)` per block.
    levels: [Vec<(f32, f32)>; 3],
}

impl Peaks {
    /// Computes the overview; with `parallel`, the finest level on the
    /// rayon pool (in the browser, only from a pool job: the page's thread
    /// must not wait for workers).
    pub fn of(asset: &crate::project::AudioAsset, parallel: bool) -> Peaks {
        use rayon::prelude::*;
        let frames = asset.frames() as usize;
        let channels: Vec<&[f32]> = (0..asset.channel_count())
            .map(|c| asset.channel(c))
            .collect();
        let block_range = |block: usize| {
            let from = block * PEAK_LEVELS[0];
            let to = (from + PEAK_LEVELS[0]).min(frames);
            let mut range = (f32::INFINITY, f32::NEG_INFINITY);
            for channel in &channels {
                for s in &channel[from..to] {
                    range = (range.0.min(*s), range.1.max(*s));
                }
            }
            range
        };
        let blocks = 0..frames.div_ceil(PEAK_LEVELS[0]);
        let finest: Vec<(f32, f32)> = if parallel {
            blocks
                .into_par_iter()
                .with_min_len(256)
                .map(block_range)
                .collect()
        } else {
            blocks.map(block_range).collect()
        };
        let coarser = |finer: &[(f32, f32)], factor: usize| -> Vec<(f32, f32)> {
            finer
                .chunks(factor)
                .map(|c| {
                    c.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |a, b| {
                        (a.0.min(b.0), a.1.max(b.1))
                    })
                })
                .collect()
        };
        let middle = coarser(&finest, PEAK_LEVELS[1] / PEAK_LEVELS[0]);
        let coarsest = coarser(&middle, PEAK_LEVELS[2] / PEAK_LEVELS[1]);
        Peaks {
            frames: frames as u64,
            levels: [finest, middle, coarsest],
        }
    }

    /// `(min, max)` of the asset's frames `from..to`, read from the
    /// coarsest level whose blocks fit the span (so the answer may reach
    /// one block beyond it at either end); `None` outside the audio.
    pub fn range(&self, from: u64, to: u64) -> Option<(f32, f32)> {
        let to = to.min(self.frames);
        if from >= to {
            return None;
        }
        let span = (to - from) as usize;
        let level = PEAK_LEVELS.iter().rposition(|&n| n <= span).unwrap_or(0);
        let size = PEAK_LEVELS[level] as u64;
        let blocks = &self.levels[level];
        let (first, last) = ((from / size) as usize, ((to - 1) / size) as usize);
        let found = blocks[first..=last.min(blocks.len() - 1)]
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |a, b| {
                (a.0.min(b.0), a.1.max(b.1))
            });
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::AudioAsset;

    #[test]
    fn peaks_find_the_extremes_at_every_zoom() {
        // One second of a 0.5 sine with a single −0.9 click at frame 30 000
        // on the second channel.
        let sine: Vec<f32> = (0..48_000)
            .map(|i| 0.5 * (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin())
            .collect();
        let mut right = vec![0.0; 48_000];
        right[30_000] = -0.9;
        let asset = AudioAsset::new(vec![sine, right]);
        let peaks = Peaks::of(&asset, true);
        assert_eq!(peaks, Peaks::of(&asset, false));
        assert_eq!(peaks.frames, 48_000);
        // The whole file (coarsest level), a pixel's worth around the click
        // (middle level), a few frames (finest level).
        let (min, max) = peaks.range(0, 48_000).unwrap();
        assert!(
            (max - 0.5).abs() < 1e-3 && (min + 0.9).abs() < 1e-6,
            "{min} {max}"
        );
        let (min, _) = peaks.range(29_500, 30_600).unwrap();
        assert_eq!(min, -0.9);
        let (min, _) = peaks.range(20_000, 29_000).unwrap();
        assert!(min > -0.51, "the click is not before it: {min}");
        let (min, max) = peaks.range(0, 10).unwrap();
        assert!(min <= 0.0 && max > 0.0 && max < 0.5);
        assert_eq!(peaks.range(48_000, 50_000), None);
        assert_eq!(peaks.range(100, 100), None);
    }
}
