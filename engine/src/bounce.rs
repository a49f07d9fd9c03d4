//! Offline renders of a whole mix, measured: what a saved version's
//! loudness figures come from (and, later, export).
//!
//! Runs on a worker or natively, never on the audio thread: it allocates.

use crate::CHANNELS;
use crate::loudness::{LoudnessMeter, LoudnessReport, channel_weights};
use crate::mixer::Mixer;
use crate::project::ProjectDesc;

/// Frames rendered per step: a long song is never whole in memory.
const STEP: usize = 1 << 18;

/// Renders `frames` of `project` from the start, as playback would, and
/// measures it (EBU R128 integrated loudness, range, true and sample peak).
/// `parallel` renders tracks on the rayon pool.
pub fn measure_mix(project: &ProjectDesc, frames: usize, parallel: bool) -> LoudnessReport {
    let mut mixer = Mixer::new(project);
    mixer.transport.playing = true;
    let mut meter = LoudnessMeter::new(project.sample_rate, &channel_weights(CHANNELS));
    let mut done = 0;
    while done < frames {
        let n = (frames - done).min(STEP);
        let block = mixer.render_offline(n, parallel);
        meter.process_interleaved(&block[..n * CHANNELS]);
        done += n;
    }
    meter.report()
}

#[cfg(test)]
mod tests {
    use super::*;

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
