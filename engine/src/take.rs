//! Where a recorded take lands on the timeline (issue 15): from what was
//! captured (a take's start mark and its frames) to clips, with the
//! latency compensated, loop passes split into takes, and punch-in and
//! punch-out kept to.
//!
//! The performer plays what they hear, and what they play reaches the
//! engine `latency` frames after the engine sent out what they heard (the
//! output's latency, the input's, and the converters': measured by the
//! calibration). So the frame captured `i` frames into a take belongs
//! where the transport was `i − latency` frames into it. While the
//! transport loops, that position wraps at the loop's end as the
//! transport did, and each time round is a pass: a take of its own.

/// A stretch of a take placed on the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Which time round the loop (0 without a loop, or before the first wrap).
    pub pass: u32,
    /// Frames into the captured take where the stretch starts.
    pub source: u64,
    /// Timeline frame where it plays.
    pub start: u64,
    pub frames: u64,
}

/// How a take was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TakeSetup {
    /// Transport position of the take's first captured frame (its mark).
    pub position: u64,
    /// Round-trip latency to compensate (frames).
    pub latency: u64,
    /// The loop range, if the transport looped (`start..end`).
    pub looping: Option<(u64, u64)>,
    /// Keep only what falls in `in..out` (punch in and out).
    pub punch: Option<(u64, u64)>,
}

/// Places `captured` frames of a take recorded as `setup` says: one
/// stretch per loop pass (less what the punch range leaves out), in
/// order. The first `latency` frames answer what played before the take
/// began: they are dropped.
pub fn place_take(captured: u64, setup: &TakeSetup) -> Vec<Placed> {
    let mut placed = Vec::new();
    if captured <= setup.latency {
        return placed;
    }
    // The performer's frames: they heard positions from the take's start
    // on, and their playing of position p was captured latency later.
    let heard = captured - setup.latency;
    let source_of = |played: u64| played + setup.latency;
    let mut push = |pass: u32, played: u64, start: u64, frames: u64| {
        let (mut start, mut played, mut frames) = (start, played, frames);
        if let Some((punch_in, punch_out)) = setup.punch {
            let from = start.max(punch_in);
            let to = (start + frames).min(punch_out);
            if to <= from {
                return;
            }
            played += from - start;
            frames = to - from;
            start = from;
        }
        placed.push(Placed {
            pass,
            source: source_of(played),
            start,
            frames,
        });
    };
    match setup.looping {
        Some((loop_start, loop_end)) if loop_end > loop_start && setup.position < loop_end => {
            // Until the first wrap, then a loop's length each time round.
            let length = loop_end - loop_start;
            let first = (loop_end - setup.position).min(heard);
            push(0, 0, setup.position, first);
            let mut played = first;
            let mut pass = 1;
            while played < heard {
                let frames = length.min(heard - played);
                push(pass, played, loop_start, frames);
                played += frames;
                pass += 1;
            }
        }
        _ => push(0, 0, setup.position, heard),
    }
    placed
}

/// The calibration signal: eight clicks (a millisecond of a falling
/// chirp, broadband and unmistakable) a quarter of a second apart, then
/// half a second of silence for the last to come back.
pub fn calibration_clicks(sample_rate: u32) -> Vec<f32> {
    let rate = f64::from(sample_rate);
    let every = (rate / 4.0) as usize;
    let click = (rate / 1000.0) as usize;
    let mut out = vec![0.0f32; 8 * every + (rate / 2.0) as usize];
    for k in 0..8 {
        for i in 0..click {
            let t = i as f64 / rate;
            // From 12 kHz down to 1 kHz over the click: a sharp peak in
            // the cross-correlation, no neighbour close to it.
            let duration = click as f64 / rate;
            let phase = std::f64::consts::TAU * (12_000.0 * t - 5_500.0 * t * t / duration);
            let window = (std::f64::consts::PI * i as f64 / click as f64).sin();
            out[k * every + i] = (0.8 * window * phase.sin()) as f32;
        }
    }
    out
}

/// How far behind `played` the `recorded` loopback of it is (frames, up
/// to `max_latency`), by cross-correlation: first on envelopes decimated
/// 16 times (the search), then at full rate around the best (the
/// answer). `None` when no lag stands out (nothing came back, or only
/// noise): the calibration asks again rather than guess.
pub fn measure_latency(played: &[f32], recorded: &[f32], max_latency: usize) -> Option<u64> {
    const STEP: usize = 16;
    let envelope = |x: &[f32]| -> Vec<f32> {
        x.chunks(STEP)
            .map(|c| c.iter().fold(0.0f32, |m, v| m.max(v.abs())))
            .collect()
    };
    let (p, r) = (envelope(played), envelope(recorded));
    let correlate = |a: &[f32], b: &[f32], lag: usize| -> f64 {
        a.iter()
            .zip(b.iter().skip(lag))
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    };
    let lags = (max_latency / STEP + 1).min(r.len());
    let scores: Vec<f64> = (0..lags).map(|lag| correlate(&p, &r, lag)).collect();
    let (coarse, &best) = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    // It must stand out: well above the typical lag's score.
    let mut sorted = scores.clone();
    sorted.sort_by(f64::total_cmp);
    let typical = sorted[sorted.len() / 2];
    if best <= 0.0 || best < 4.0 * typical.max(f64::MIN_POSITIVE) {
        return None;
    }
    let from = (coarse * STEP).saturating_sub(2 * STEP);
    let to = (coarse * STEP + 2 * STEP).min(max_latency);
    (from..=to)
        .map(|lag| (lag, correlate(played, recorded, lag)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(lag, _)| lag as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_is_moved_back_by_the_latency() {
        let setup = TakeSetup {
            position: 48_000,
            latency: 480,
            ..TakeSetup::default()
        };
        // The first 480 captured frames answer what played before the take.
        assert_eq!(
            place_take(96_480, &setup),
            [Placed {
                pass: 0,
                source: 480,
                start: 48_000,
                frames: 96_000
            }]
        );
        assert!(place_take(400, &setup).is_empty(), "nothing but latency");
    }

    #[test]
    fn loop_recording_makes_one_take_a_pass_from_where_it_started() {
        // Started a beat before the loop (pre-roll into 10 000..20 000),
        // three times round and a bit.
        let setup = TakeSetup {
            position: 8_000,
            latency: 100,
            looping: Some((10_000, 20_000)),
            punch: None,
        };
        let placed = place_take(2_000 + 3 * 10_000 + 500 + 100, &setup);
        assert_eq!(
            placed,
            [
                Placed {
                    pass: 0,
                    source: 100,
                    start: 8_000,
                    frames: 12_000
                },
                Placed {
                    pass: 1,
                    source: 12_100,
                    start: 10_000,
                    frames: 10_000
                },
                Placed {
                    pass: 2,
                    source: 22_100,
                    start: 10_000,
                    frames: 10_000
                },
                Placed {
                    pass: 3,
                    source: 32_100,
                    start: 10_000,
                    frames: 500
                },
            ]
        );
        // Every captured frame after the latency is placed exactly once.
        let total: u64 = placed.iter().map(|p| p.frames).sum();
        assert_eq!(total, 2_000 + 3 * 10_000 + 500);
        // Started after the loop's end, the transport never wraps.
        let after = TakeSetup {
            position: 30_000,
            ..setup
        };
        assert_eq!(place_take(5_100, &after).len(), 1);
    }

    #[test]
    fn punch_in_and_out_keep_only_their_range_in_every_pass() {
        let setup = TakeSetup {
            position: 10_000,
            latency: 0,
            looping: Some((10_000, 20_000)),
            punch: Some((12_000, 15_000)),
        };
        let placed = place_take(25_000, &setup);
        assert_eq!(
            placed,
            [
                Placed {
                    pass: 0,
                    source: 2_000,
                    start: 12_000,
                    frames: 3_000
                },
                Placed {
                    pass: 1,
                    source: 12_000,
                    start: 12_000,
                    frames: 3_000
                },
                // The third pass stopped at 15 000: all of it is in.
                Placed {
                    pass: 2,
                    source: 22_000,
                    start: 12_000,
                    frames: 3_000
                },
            ]
        );
        // A punch range the take never reached places nothing.
        let missed = TakeSetup {
            punch: Some((50_000, 60_000)),
            looping: None,
            ..setup
        };
        assert!(place_take(25_000, &missed).is_empty());
    }
}

#[cfg(test)]
mod calibration_tests {
    use super::*;

    /// A loopback: the clicks `latency` frames late, quieter, through a
    /// converter's gentle low-pass, with noise at −50 dBFS.
    fn loopback(played: &[f32], latency: usize, noise: f32) -> Vec<f32> {
        let mut seed = 0x2545_f491u32;
        let mut low = 0.0f32;
        (0..played.len() + latency)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let x = if i >= latency {
                    0.4 * played[i - latency]
                } else {
                    0.0
                };
                low += 0.6 * (x - low);
                low + noise * (seed as f32 / u32::MAX as f32 - 0.5)
            })
            .collect()
    }

    #[test]
    fn the_round_trip_is_found_to_the_frame_and_noise_alone_is_refused() {
        let played = calibration_clicks(48_000);
        for latency in [0usize, 37, 1_234, 9_999] {
            let recorded = loopback(&played, latency, 0.006);
            let found = measure_latency(&played, &recorded, 12_000).unwrap();
            // The low-pass delays by under a frame.
            assert!(
                (found as i64 - latency as i64).abs() <= 1,
                "{latency} measured as {found}"
            );
        }
        let silence = loopback(&vec![0.0; played.len()], 0, 0.006);
        assert_eq!(measure_latency(&played, &silence, 12_000), None);
    }
}
