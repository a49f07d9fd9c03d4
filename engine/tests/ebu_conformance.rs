//! EBU Tech 3341 and Tech 3342 conformance, with every test signal generated
//! here, at 44.1 and 48 kHz. Tolerances are the specifications' own:
//! ±0.1 LU (loudness), +0.2/−0.4 dB (true peak), ±1 LU (loudness range; we
//! assert ±0.1 because the meter can).

use std::f64::consts::PI;

use stemroom_engine::loudness::{LoudnessMeter, channel_weights};

const RATES: [u32; 2] = [44_100, 48_000];

/// Feeds `meter` a 1 kHz sine per channel at the given dBFS levels (peak)
/// in 128-frame quanta, as the audio thread would; `on_quantum` sees the
/// meter after each quantum. `None` levels are silence.
fn feed(
    meter: &mut LoudnessMeter,
    fs: u32,
    seconds: f64,
    levels: &[Option<f64>],
    mut on_quantum: impl FnMut(&LoudnessMeter),
) {
    let frames = (seconds * f64::from(fs)).round() as usize;
    let mut planar = vec![vec![0f32; 128]; levels.len()];
    let mut done = 0;
    while done < frames {
        let n = (frames - done).min(128);
        for (channel, level) in planar.iter_mut().zip(levels) {
            for (i, sample) in channel[..n].iter_mut().enumerate() {
                *sample = level.map_or(0.0, |db| {
                    let t = (done + i) as f64 / f64::from(fs);
                    (10f64.powf(db / 20.0) * (2.0 * PI * 1000.0 * t).sin()) as f32
                });
            }
        }
        let slices: Vec<&[f32]> = planar.iter().map(|c| &c[..n]).collect();
        meter.process(&slices);
        on_quantum(meter);
        done += n;
    }
}

fn stereo(db: f64) -> [Option<f64>; 2] {
    [Some(db), Some(db)]
}

const SILENCE: [Option<f64>; 2] = [None, None];

fn stereo_meter(fs: u32) -> LoudnessMeter {
    LoudnessMeter::new(fs, &channel_weights(2))
}

fn assert_near(what: &str, measured: f64, expected: f64, tolerance: f64) {
    assert!(
        (measured - expected).abs() <= tolerance,
        "{what}: measured {measured:.3}, expected {expected} ± {tolerance}"
    );
}

#[test]
fn k_weighting_matches_the_published_48_khz_coefficients() {
    let [shelf, hp] = stemroom_engine::loudness::k_weighting(48_000.0);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-10;
    assert!(close(shelf.b0, 1.53512485958697) && close(shelf.b1, -2.69169618940638));
    assert!(close(shelf.b2, 1.19839281085285) && close(shelf.a1, -1.69065929318241));
    assert!(close(shelf.a2, 0.73248077421585));
    assert!(close(hp.a1, -1.99004745483398) && close(hp.a2, 0.99007225036621));
}

/// A test case: name, segments of (seconds, dBFS), expected LUFS.
type Sequence = (&'static str, &'static [(f64, f64)], f64);

/// Tech 3341 cases 1–5: stereo 1 kHz sequences, integrated loudness.
#[test]
fn tech_3341_cases_1_to_5_integrated() {
    let cases: [Sequence; 5] = [
        ("case 1", &[(20.0, -23.0)], -23.0),
        ("case 2", &[(20.0, -33.0)], -33.0),
        (
            "case 3",
            &[(10.0, -36.0), (60.0, -23.0), (10.0, -36.0)],
            -23.0,
        ),
        (
            "case 4",
            &[
                (10.0, -72.0),
                (10.0, -36.0),
                (60.0, -23.0),
                (10.0, -36.0),
                (10.0, -72.0),
            ],
            -23.0,
        ),
        (
            "case 5",
            &[(20.0, -26.0), (20.1, -20.0), (20.0, -26.0)],
            -23.0,
        ),
    ];
    for fs in RATES {
        for (name, segments, expected) in cases {
            let mut meter = stereo_meter(fs);
            for &(seconds, db) in segments {
                feed(&mut meter, fs, seconds, &stereo(db), |_| {});
            }
            assert_near(
                &format!("{name} at {fs} Hz"),
                meter.integrated(),
                expected,
                0.1,
            );
            if segments.len() == 1 {
                assert_near(
                    &format!("{name} momentary"),
                    meter.momentary(),
                    expected,
                    0.1,
                );
                assert_near(
                    &format!("{name} short-term"),
                    meter.short_term(),
                    expected,
                    0.1,
                );
            }
        }
    }
}

/// Tech 3341 case 6: 5.0 channels, surrounds weighted by 1.41.
#[test]
fn tech_3341_case_6_five_channels() {
    for fs in RATES {
        let mut meter = LoudnessMeter::new(fs, &channel_weights(5));
        let levels = [
            Some(-28.0),
            Some(-28.0),
            Some(-24.0),
            Some(-30.0),
            Some(-30.0),
        ];
        feed(&mut meter, fs, 20.0, &levels, |_| {});
        assert_near(
            &format!("case 6 at {fs} Hz"),
            meter.integrated(),
            -23.0,
            0.1,
        );
    }
}

/// Tech 3341 case 9: 1.34 s at −20 and 1.66 s at −30, five times: the
/// short-term loudness is −23 at every boundary once 3 s have passed.
#[test]
fn tech_3341_case_9_short_term_constant() {
    for fs in RATES {
        let mut meter = stereo_meter(fs);
        for i in 0..5 {
            feed(&mut meter, fs, 1.34, &stereo(-20.0), |_| {});
            if i > 0 {
                assert_near(
                    &format!("case 9 at {fs} Hz, burst {i}"),
                    meter.short_term(),
                    -23.0,
                    0.1,
                );
            }
            feed(&mut meter, fs, 1.66, &stereo(-30.0), |_| {});
            assert_near(
                &format!("case 9 at {fs} Hz, gap {i}"),
                meter.short_term(),
                -23.0,
                0.1,
            );
        }
    }
}

/// Cases 10 and 13: a burst exactly as long as the window, starting at
/// offsets that share no grid with the meter; its maximum must still read
/// the burst's loudness.
fn max_over_offset_bursts(window_seconds: f64, read: fn(&LoudnessMeter) -> f64, name: &str) {
    for fs in RATES {
        let mut meter = stereo_meter(fs);
        for i in 0..20 {
            meter.reset();
            let mut max = f64::NEG_INFINITY;
            feed(
                &mut meter,
                fs,
                0.5 + 0.0173 * f64::from(i),
                &SILENCE,
                |_| {},
            );
            feed(&mut meter, fs, window_seconds, &stereo(-23.0), |m| {
                max = max.max(read(m))
            });
            feed(&mut meter, fs, 1.0, &SILENCE, |m| max = max.max(read(m)));
            assert_near(&format!("{name} at {fs} Hz, burst {i}"), max, -23.0, 0.1);
        }
    }
}

#[test]
fn tech_3341_case_10_max_short_term_of_offset_bursts() {
    max_over_offset_bursts(3.0, LoudnessMeter::short_term, "case 10");
}

#[test]
fn tech_3341_case_13_max_momentary_of_offset_bursts() {
    max_over_offset_bursts(0.4, LoudnessMeter::momentary, "case 13");
}

/// Case 12: 0.18 s at −20 and 0.22 s at −30, 25 times: momentary −23.
#[test]
fn tech_3341_case_12_momentary_constant() {
    for fs in RATES {
        let mut meter = stereo_meter(fs);
        for i in 0..25 {
            feed(&mut meter, fs, 0.18, &stereo(-20.0), |_| {});
            if i > 1 {
                assert_near(
                    &format!("case 12 at {fs} Hz, burst {i}"),
                    meter.momentary(),
                    -23.0,
                    0.1,
                );
            }
            feed(&mut meter, fs, 0.22, &stereo(-30.0), |_| {});
            if i > 1 {
                assert_near(
                    &format!("case 12 at {fs} Hz, gap {i}"),
                    meter.momentary(),
                    -23.0,
                    0.1,
                );
            }
        }
    }
}

/// A 20 ms raised-cosine fade at both ends of a 1 s signal. An abrupt start
/// really does overshoot once reconstructed (Gibbs), so without it the
/// expected true peak of these signals would be ambiguous.
fn fade(t: f64) -> f64 {
    let edge = t.min(1.0 - t).clamp(0.0, 0.02) / 0.02;
    0.5 - 0.5 * (PI * edge).cos()
}

/// Runs a stereo signal `x(t)` (t in seconds, 1 s long, faded) through a
/// fresh meter and returns its true peak (dBTP) and sample peak (dBFS).
fn true_peak_dbtp(fs: u32, x: impl Fn(f64) -> f64) -> (f64, f64) {
    let mut meter = stereo_meter(fs);
    let n = fs as usize;
    let samples: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(fs);
            (fade(t) * x(t)) as f32
        })
        .collect();
    meter.process(&[&samples, &samples]);
    (
        20.0 * f64::from(meter.true_peak()).log10(),
        20.0 * f64::from(meter.sample_peak()).log10(),
    )
}

fn assert_true_peak(name: &str, measured: f64, expected: f64) {
    assert!(
        measured <= expected + 0.2 && measured >= expected - 0.4,
        "{name}: {measured:.3} dBTP, expected {expected} +0.2/−0.4"
    );
}

/// Cases 15–19: sines at fractions of the sample rate whose samples miss the peak.
#[test]
fn tech_3341_cases_15_to_19_true_peak() {
    let cases = [
        ("case 15", 4.0, 0.0f64, 0.5, -6.0),
        ("case 16", 4.0, 45.0, 0.5, -6.0),
        ("case 17", 6.0, 60.0, 0.5, -6.0),
        ("case 18", 8.0, 67.5, 0.5, -6.0),
        ("case 19", 4.0, 45.0, 1.41, 3.0),
    ];
    for fs in RATES {
        for (name, divisor, phase_deg, amplitude, expected) in cases {
            let f = f64::from(fs) / divisor;
            let (tp, sample) = true_peak_dbtp(fs, |t| {
                amplitude * (2.0 * PI * f * t + phase_deg.to_radians()).sin()
            });
            assert_true_peak(&format!("{name} at {fs} Hz"), tp, expected);
            if phase_deg > 0.0 {
                // The closest sample to the crest sits `phase_deg` away from it
                // (cases 16–19 put the crest halfway between two samples).
                let closest = 20.0 * (amplitude * phase_deg.to_radians().sin()).log10();
                assert!(
                    (sample - closest).abs() < 0.01,
                    "{name}: sample peak {sample:.3}, expected {closest:.3}"
                );
                assert!(
                    tp > sample + 0.5,
                    "{name}: the true peak is above the samples"
                );
            }
        }
    }
}

/// In the spirit of cases 20–23 (whose EBU files are recordings): band-limited
/// signals normalised so that their continuous-time peak, found by evaluating
/// them 256 times per sample, is exactly 0 dBTP.
#[test]
fn generated_signals_normalised_to_0_dbtp_read_0_dbtp() {
    type Partials = Vec<(f64, f64, f64)>; // (Hz, amplitude, phase)
    let signals: [(&str, Partials); 4] = [
        ("two tones", vec![(997.0, 0.6, 0.0), (3001.0, 0.4, 1.3)]),
        (
            "band-limited square",
            (0..10)
                .map(|k| (1000.0 * (2 * k + 1) as f64, 1.0 / (2 * k + 1) as f64, 0.0))
                .collect(),
        ),
        ("high sine off the grid", vec![(15_013.0, 1.0, 0.37)]),
        (
            "five partials",
            vec![
                (220.0, 0.5, 0.1),
                (1_760.0, 0.3, 2.0),
                (5_300.0, 0.25, 4.0),
                (9_870.0, 0.2, 0.7),
                (14_100.0, 0.15, 5.5),
            ],
        ),
    ];
    for fs in RATES {
        for (name, partials) in &signals {
            let x = |t: f64| {
                partials
                    .iter()
                    .map(|(f, a, p)| a * (2.0 * PI * f * t + p).sin())
                    .sum::<f64>()
            };
            let dense = 256 * fs as usize;
            let peak = (0..dense)
                .map(|i| {
                    let t = i as f64 / dense as f64;
                    (fade(t) * x(t)).abs()
                })
                .fold(0.0, f64::max);
            let (tp, _) = true_peak_dbtp(fs, |t| x(t) / peak);
            assert_true_peak(&format!("{name} at {fs} Hz"), tp, 0.0);
        }
    }
}

/// Tech 3342 cases 1–4: loudness range of stepped sines.
#[test]
fn tech_3342_cases_1_to_4_loudness_range() {
    let cases: [(&str, &[f64], f64); 4] = [
        ("case 1", &[-20.0, -30.0], 10.0),
        ("case 2", &[-20.0, -15.0], 5.0),
        ("case 3", &[-40.0, -20.0], 20.0),
        ("case 4", &[-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),
    ];
    for fs in RATES {
        for (name, levels, expected) in cases {
            let mut meter = stereo_meter(fs);
            for &db in levels {
                feed(&mut meter, fs, 20.0, &stereo(db), |_| {});
            }
            assert_near(
                &format!("{name} at {fs} Hz"),
                meter.loudness_range(),
                expected,
                0.1,
            );
        }
    }
}

#[test]
fn silence_and_very_quiet_signals_read_minus_infinity() {
    let mut meter = stereo_meter(48_000);
    feed(&mut meter, 48_000, 5.0, &SILENCE, |_| {});
    assert_eq!(meter.integrated(), f64::NEG_INFINITY);
    assert_eq!(meter.loudness_range(), 0.0);
    feed(&mut meter, 48_000, 5.0, &stereo(-80.0), |_| {});
    assert_eq!(
        meter.integrated(),
        f64::NEG_INFINITY,
        "below the absolute gate"
    );
    assert!(
        (meter.momentary() + 80.0).abs() < 0.2,
        "ungated readings still show it"
    );
}
