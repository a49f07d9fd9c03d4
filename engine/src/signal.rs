//! Signal generators.

/// A sine oscillator: the engine's built-in test tone.
///
/// The phase is kept in `f64` so the frequency stays exact over hours of
/// playback (an `f32` phase accumulator drifts audibly after minutes).
#[derive(Clone, Debug)]
pub struct SineOscillator {
    phase: f64,
    increment: f64,
    amplitude: f32,
}

impl SineOscillator {
    pub fn new(sample_rate: f32, frequency_hz: f32, amplitude: f32) -> Self {
        let mut osc = SineOscillator {
            phase: 0.0,
            increment: 0.0,
            amplitude,
        };
        osc.set_frequency(sample_rate, frequency_hz);
        osc
    }

    /// Frequencies are clamped to `0..=sample_rate / 2`; NaN becomes 0 Hz.
    pub fn set_frequency(&mut self, sample_rate: f32, frequency_hz: f32) {
        let nyquist = f64::from(sample_rate) / 2.0;
        let f = f64::from(frequency_hz);
        let f = if f.is_nan() {
            0.0
        } else {
            f.clamp(0.0, nyquist)
        };
        self.increment = f / f64::from(sample_rate);
    }

    /// Amplitudes are clamped to `0..=1`; NaN becomes silence.
    pub fn set_amplitude(&mut self, amplitude: f32) {
        self.amplitude = if amplitude.is_nan() {
            0.0
        } else {
            amplitude.clamp(0.0, 1.0)
        };
    }

    /// Restarts at phase zero, so a render is reproducible from its first frame.
    pub fn reset(&mut self) {
        self.phase = 0.0;
    }

    /// Writes the next `out.len()` samples into `out`.
    #[inline]
    pub fn fill(&mut self, out: &mut [f32]) {
        for sample in out {
            *sample = self.amplitude * (std::f64::consts::TAU * self.phase).sin() as f32;
            self.phase += self.increment;
            if self.phase >= 1.0 {
                self.phase -= 1.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_of_440_hz_has_440_cycles_and_the_sine_rms() {
        let sr = 48_000.0;
        let mut osc = SineOscillator::new(sr, 440.0, 0.5);
        let mut buf = vec![0.0f32; 48_000];
        osc.fill(&mut buf);
        // Interpolated rising zero crossings: cycles between the first and last.
        let crossings: Vec<f64> = buf
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
            .map(|(i, w)| i as f64 + f64::from(w[0] / (w[0] - w[1])))
            .collect();
        let span = crossings.last().unwrap() - crossings[0];
        let frequency = (crossings.len() - 1) as f64 * f64::from(sr) / span;
        assert!((frequency - 440.0).abs() < 1e-3, "measured {frequency} Hz");
        let rms =
            (buf.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / buf.len() as f64).sqrt();
        assert!((rms - 0.5 / 2f64.sqrt()).abs() < 1e-6, "rms {rms}");
    }

    #[test]
    fn bad_parameters_are_clamped() {
        let mut osc = SineOscillator::new(48_000.0, f32::NAN, 2.0);
        osc.set_amplitude(f32::NAN);
        let mut buf = [1.0f32; 16];
        osc.fill(&mut buf);
        assert!(buf.iter().all(|s| *s == 0.0));
        osc.set_frequency(48_000.0, 1e9);
        assert_eq!(osc.increment, 0.5);
    }
}
