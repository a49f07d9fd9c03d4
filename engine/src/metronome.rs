//! The click: a short tone on every beat of the tempo map while playing,
//! higher on the first beat of each bar.
//!
//! It is added to what the engine plays after the meters have measured it,
//! so the click is heard but never metered (nor bounced: offline renders do
//! not run it).

use crate::tempo::TempoMap;
use crate::{CHANNELS, QUANTUM, StereoQuantum, db_to_amplitude};

/// Pitch of the click on the first beat of a bar and on the other beats.
pub const DOWNBEAT_HZ: f64 = 1760.0;
pub const BEAT_HZ: f64 = 1320.0;
/// How long a click rings (it decays exponentially to −60 dB by then).
pub const CLICK_SECONDS: f64 = 0.03;
/// The click's level relative to full scale at its default setting.
pub const DEFAULT_GAIN_DB: f32 = -10.0;

/// Click state. Created on the control thread; [`Metronome::render`] runs on
/// the audio thread and only touches these fields.
#[derive(Clone, Debug)]
pub struct Metronome {
    pub enabled: bool,
    gain: f32,
    sample_rate: f64,
    /// Oscillator of the ringing click: sine phase and its step per frame.
    phase: f64,
    step: f64,
    /// Current amplitude and its per-frame decay factor.
    level: f32,
    decay: f32,
}

impl Metronome {
    pub fn new(sample_rate: f32) -> Self {
        let sample_rate = f64::from(sample_rate.max(1.0));
        Metronome {
            enabled: false,
            gain: db_to_amplitude(DEFAULT_GAIN_DB),
            sample_rate,
            phase: 0.0,
            step: 0.0,
            level: 0.0,
            // e^(−6.9) ≈ 0.001 (−60 dB) after CLICK_SECONDS.
            decay: (-6.9 / (CLICK_SECONDS * sample_rate)).exp() as f32,
        }
    }

    pub fn set_gain_db(&mut self, gain_db: f32) {
        self.gain = db_to_amplitude(gain_db.clamp(-60.0, 6.0));
    }

    /// Adds clicks for the beats that fall in `segments` of this quantum
    /// ((block offset, timeline frame, frames), as the mixer played them,
    /// split where a loop wraps). Audio thread; never allocates.
    pub fn render(
        &mut self,
        segments: &[(usize, u64, usize)],
        tempo: &TempoMap,
        out: &mut StereoQuantum,
    ) {
        if !self.enabled {
            self.level = 0.0;
            return;
        }
        // Click onsets in this quantum: at most one per segment frame range;
        // a quantum (2.7 ms) never holds two beats below 999 BPM × 8.
        let mut onsets = [(usize::MAX, false); 8];
        for (slot, &(offset, frame, frames)) in onsets.iter_mut().zip(segments) {
            let first = tempo.beat_at_frame(frame as f64).ceil();
            let at = tempo.frame_at_beat(first).round() as u64;
            // The segment's end is exclusive; rounding may land a beat one
            // frame early, which the next segment's ceil() would skip.
            let at = at.max(frame);
            if at < frame + frames as u64 {
                let per_bar = f64::from(tempo.signature().beats_per_bar);
                let downbeat = first.rem_euclid(per_bar) == 0.0;
                *slot = (offset + (at - frame) as usize, downbeat);
            }
        }
        for i in 0..QUANTUM {
            if let Some(&(_, downbeat)) = onsets.iter().find(|(at, _)| *at == i) {
                let hz = if downbeat { DOWNBEAT_HZ } else { BEAT_HZ };
                self.phase = 0.0;
                self.step = std::f64::consts::TAU * hz / self.sample_rate;
                self.level = self.gain;
            }
            if self.level < 1e-5 {
                self.level = 0.0;
                continue;
            }
            let sample = (self.phase.sin() as f32) * self.level;
            self.phase += self.step;
            self.level *= self.decay;
            for channel in out.iter_mut().take(CHANNELS) {
                channel[i] += sample;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tempo::TimeSignature;

    /// Frames where a click starts sounding, over 400 quanta.
    fn onsets(tempo: &TempoMap) -> Vec<u64> {
        let mut m = Metronome::new(48_000.0);
        m.enabled = true;
        m.set_gain_db(0.0);
        let mut found = Vec::new();
        let mut quiet = usize::MAX;
        for q in 0..400u64 {
            let mut out = [[0.0; QUANTUM]; CHANNELS];
            m.render(&[(0, q * QUANTUM as u64, QUANTUM)], tempo, &mut out);
            for (i, s) in out[0].iter().enumerate() {
                // An onset: 100 frames of silence, then sound.
                if s.abs() > 1e-6 {
                    if quiet >= 100 {
                        found.push(q * QUANTUM as u64 + i as u64);
                    }
                    quiet = 0;
                } else {
                    quiet = quiet.saturating_add(1);
                }
            }
        }
        found
    }

    #[test]
    fn clicks_on_every_beat_at_the_tempo() {
        // 120 BPM at 48 kHz: a beat every 24 000 frames.
        let tempo = TempoMap::constant(48_000, 120.0, TimeSignature::FOUR_FOUR);
        // The sine starts at phase 0, so the first audible sample is the
        // onset's second frame.
        assert_eq!(onsets(&tempo), vec![1, 24_001, 48_001]);
    }

    #[test]
    fn downbeats_ring_higher() {
        let tempo = TempoMap::constant(48_000, 120.0, TimeSignature::FOUR_FOUR);
        let mut m = Metronome::new(48_000.0);
        m.enabled = true;
        let mut zero_crossings = |frame: u64| {
            let mut out = [[0.0; QUANTUM]; CHANNELS];
            m.render(&[(0, frame, QUANTUM)], &tempo, &mut out);
            out[0]
                .windows(2)
                .filter(|w| w[0] <= 0.0 && w[1] > 0.0)
                .count()
        };
        // Bar 1 beat 1 (frame 0) against bar 1 beat 2 (frame 24 000).
        let downbeat = zero_crossings(0);
        let beat = zero_crossings(24_000);
        // 128 frames: 1760 Hz ≈ 4.7 cycles, 1320 Hz ≈ 3.5.
        assert!(downbeat > beat, "{downbeat} vs {beat}");
    }

    #[test]
    fn a_loop_wrap_inside_a_quantum_clicks_at_the_loop_start() {
        // Loop 1 beat .. 2 beats (24 000..48 000) entered at 47 936: the
        // quantum plays 64 frames to the loop end, then wraps to 24 000,
        // which is a beat.
        let tempo = TempoMap::constant(48_000, 120.0, TimeSignature::FOUR_FOUR);
        let mut m = Metronome::new(48_000.0);
        m.enabled = true;
        let mut out = [[0.0; QUANTUM]; CHANNELS];
        m.render(&[(0, 47_936, 64), (64, 24_000, 64)], &tempo, &mut out);
        let first = out[0].iter().position(|s| s.abs() > 1e-6);
        assert_eq!(first, Some(65));
    }

    #[test]
    fn silent_when_off() {
        let tempo = TempoMap::constant(48_000, 120.0, TimeSignature::FOUR_FOUR);
        let mut m = Metronome::new(48_000.0);
        let mut out = [[0.0; QUANTUM]; CHANNELS];
        m.render(&[(0, 0, QUANTUM)], &tempo, &mut out);
        assert!(out.iter().flatten().all(|s| *s == 0.0));
    }
}
