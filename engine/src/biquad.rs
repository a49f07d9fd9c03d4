//! Second-order IIR sections: RBJ "Audio EQ Cookbook" designs.
//!
//! Coefficients are designed in `f64` on the control thread; the realtime
//! filters run them in `f32` (devices) or `f64` (meters).

use std::f64::consts::PI;

/// Normalised biquad coefficients (`a0 = 1`):
/// `y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coefficients {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
    pub a1: f64,
    pub a2: f64,
}

/// The filter shapes of the cookbook that a parametric EQ band offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Peaking,
    LowShelf,
    HighShelf,
    LowPass,
    HighPass,
    Notch,
}

impl Shape {
    /// Every shape, in the order an EQ band's `shape` parameter numbers them.
    pub const ALL: [Shape; 6] = [
        Shape::Peaking,
        Shape::LowShelf,
        Shape::HighShelf,
        Shape::LowPass,
        Shape::HighPass,
        Shape::Notch,
    ];
}

impl Coefficients {
    /// Passes the signal unchanged.
    pub const IDENTITY: Coefficients = Coefficients {
        b0: 1.0,
        b1: 0.0,
        b2: 0.0,
        a1: 0.0,
        a2: 0.0,
    };

    fn normalised(b: [f64; 3], a: [f64; 3]) -> Self {
        Coefficients {
            b0: b[0] / a[0],
            b1: b[1] / a[0],
            b2: b[2] / a[0],
            a1: a[1] / a[0],
            a2: a[2] / a[0],
        }
    }

    /// Designs `shape` at `frequency_hz` with quality `q` and `gain_db`
    /// (the gain is ignored by the pass and notch shapes). The frequency is
    /// clamped below Nyquist and `q` to a sane range, so any input is stable.
    pub fn design(shape: Shape, sample_rate: f64, frequency_hz: f64, q: f64, gain_db: f64) -> Self {
        let nyquist = sample_rate / 2.0;
        let f0 = if frequency_hz.is_finite() {
            frequency_hz.clamp(1.0, nyquist * 0.999)
        } else {
            1000.0
        };
        let q = if q.is_finite() {
            q.clamp(0.025, 40.0)
        } else {
            std::f64::consts::FRAC_1_SQRT_2
        };
        let gain_db = if gain_db.is_finite() {
            gain_db.clamp(-48.0, 48.0)
        } else {
            0.0
        };
        let w0 = 2.0 * PI * f0 / sample_rate;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q);
        let a = 10f64.powf(gain_db / 40.0);
        match shape {
            Shape::Peaking => Self::normalised(
                [1.0 + alpha * a, -2.0 * cos, 1.0 - alpha * a],
                [1.0 + alpha / a, -2.0 * cos, 1.0 - alpha / a],
            ),
            Shape::LowShelf => {
                let k = 2.0 * a.sqrt() * alpha;
                Self::normalised(
                    [
                        a * ((a + 1.0) - (a - 1.0) * cos + k),
                        2.0 * a * ((a - 1.0) - (a + 1.0) * cos),
                        a * ((a + 1.0) - (a - 1.0) * cos - k),
                    ],
                    [
                        (a + 1.0) + (a - 1.0) * cos + k,
                        -2.0 * ((a - 1.0) + (a + 1.0) * cos),
                        (a + 1.0) + (a - 1.0) * cos - k,
                    ],
                )
            }
            Shape::HighShelf => {
                let k = 2.0 * a.sqrt() * alpha;
                Self::normalised(
                    [
                        a * ((a + 1.0) + (a - 1.0) * cos + k),
                        -2.0 * a * ((a - 1.0) + (a + 1.0) * cos),
                        a * ((a + 1.0) + (a - 1.0) * cos - k),
                    ],
                    [
                        (a + 1.0) - (a - 1.0) * cos + k,
                        2.0 * ((a - 1.0) - (a + 1.0) * cos),
                        (a + 1.0) - (a - 1.0) * cos - k,
                    ],
                )
            }
            Shape::LowPass => Self::normalised(
                [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0],
                [1.0 + alpha, -2.0 * cos, 1.0 - alpha],
            ),
            Shape::HighPass => Self::normalised(
                [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0],
                [1.0 + alpha, -2.0 * cos, 1.0 - alpha],
            ),
            Shape::Notch => Self::normalised(
                [1.0, -2.0 * cos, 1.0],
                [1.0 + alpha, -2.0 * cos, 1.0 - alpha],
            ),
        }
    }

    /// `|H(e^{jω})|` at `frequency_hz`: the analytic response, for tests and
    /// for drawing the EQ curve.
    pub fn magnitude(&self, sample_rate: f64, frequency_hz: f64) -> f64 {
        let w = 2.0 * PI * frequency_hz / sample_rate;
        let (s1, c1) = w.sin_cos();
        let (s2, c2) = (2.0 * w).sin_cos();
        let num_re = self.b0 + self.b1 * c1 + self.b2 * c2;
        let num_im = -(self.b1 * s1 + self.b2 * s2);
        let den_re = 1.0 + self.a1 * c1 + self.a2 * c2;
        let den_im = -(self.a1 * s1 + self.a2 * s2);
        (num_re.hypot(num_im)) / (den_re.hypot(den_im))
    }

    pub fn magnitude_db(&self, sample_rate: f64, frequency_hz: f64) -> f64 {
        20.0 * self.magnitude(sample_rate, frequency_hz).log10()
    }
}

/// A biquad running in `f64` (transposed direct form II): meters and
/// anything where precision beats speed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Biquad64 {
    s1: f64,
    s2: f64,
}

impl Biquad64 {
    #[inline]
    pub fn process(&mut self, c: &Coefficients, x: f64) -> f64 {
        let y = c.b0 * x + self.s1;
        self.s1 = c.b1 * x - c.a1 * y + self.s2;
        self.s2 = c.b2 * x - c.a2 * y;
        y
    }

    pub fn reset(&mut self) {
        *self = Biquad64::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = 48_000.0;

    #[test]
    fn peaking_gain_at_f0_equals_its_setting() {
        for gain in [-18.0, -6.0, 3.0, 12.0] {
            for q in [0.3, 0.707, 2.0, 10.0] {
                let c = Coefficients::design(Shape::Peaking, FS, 1000.0, q, gain);
                assert!(
                    (c.magnitude_db(FS, 1000.0) - gain).abs() < 1e-9,
                    "gain {gain} q {q}"
                );
                assert!(c.magnitude_db(FS, 20.0).abs() < 0.05 * gain.abs().max(1.0));
            }
        }
    }

    #[test]
    fn shelves_reach_half_their_gain_at_f0_and_all_of_it_far_away() {
        for gain in [-12.0, 6.0, 15.0] {
            let low = Coefficients::design(Shape::LowShelf, FS, 200.0, 0.707, gain);
            let high = Coefficients::design(Shape::HighShelf, FS, 5000.0, 0.707, gain);
            assert!((low.magnitude_db(FS, 200.0) - gain / 2.0).abs() < 1e-9);
            assert!((high.magnitude_db(FS, 5000.0) - gain / 2.0).abs() < 1e-9);
            assert!((low.magnitude_db(FS, 1.0) - gain).abs() < 1e-3);
            assert!((high.magnitude_db(FS, 23_999.0) - gain).abs() < 0.05);
        }
    }

    #[test]
    fn pass_filters_have_magnitude_q_at_f0_and_the_notch_zero() {
        for q in [0.5, 0.707, 1.0, 4.0] {
            let lp = Coefficients::design(Shape::LowPass, FS, 2000.0, q, 0.0);
            let hp = Coefficients::design(Shape::HighPass, FS, 2000.0, q, 0.0);
            assert!((lp.magnitude(FS, 2000.0) - q).abs() < 1e-9);
            assert!((hp.magnitude(FS, 2000.0) - q).abs() < 1e-9);
            assert!((lp.magnitude(FS, 0.0) - 1.0).abs() < 1e-12);
            assert!((hp.magnitude(FS, 24_000.0) - 1.0).abs() < 1e-9);
        }
        let notch = Coefficients::design(Shape::Notch, FS, 60.0, 10.0, 0.0);
        assert!(notch.magnitude(FS, 60.0) < 1e-9);
    }

    #[test]
    fn a_filtered_sine_has_the_analytic_gain() {
        // The time-domain filter agrees with the analytic response.
        let c = Coefficients::design(Shape::Peaking, FS, 3000.0, 1.5, 9.0);
        let mut f = Biquad64::default();
        let (mut peak_in, mut peak_out) = (0f64, 0f64);
        for n in 0..48_000 {
            let x = (2.0 * PI * 3000.0 * n as f64 / FS).sin();
            let y = f.process(&c, x);
            if n > 24_000 {
                peak_in = peak_in.max(x.abs());
                peak_out = peak_out.max(y.abs());
            }
        }
        let measured = 20.0 * (peak_out / peak_in).log10();
        assert!((measured - 9.0).abs() < 0.01, "{measured} dB");
    }

    #[test]
    fn wild_parameters_still_give_a_stable_filter() {
        for (f, q, g) in [
            (f64::NAN, 0.0, 1e9),
            (1e9, f64::INFINITY, -1e9),
            (-5.0, -1.0, f64::NAN),
        ] {
            for shape in Shape::ALL {
                let c = Coefficients::design(shape, FS, f, q, g);
                // Poles inside the unit circle: |a2| < 1 and |a1| < 1 + a2.
                assert!(
                    c.a2.abs() < 1.0 && c.a1.abs() < 1.0 + c.a2,
                    "{shape:?} {c:?}"
                );
                assert!([c.b0, c.b1, c.b2].iter().all(|v| v.is_finite()));
            }
        }
    }
}
