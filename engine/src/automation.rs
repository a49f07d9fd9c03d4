//! Automation: a strip's fader, pan or any device parameter following a
//! breakpoint curve over the timeline.
//!
//! The mixer evaluates curves at every 32-frame boundary of a quantum and
//! ramps the parameter linearly between them, so a parameter is never more
//! than 32 frames behind its curve, and linear segments are followed exactly.

/// One point of a curve.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Breakpoint {
    /// Timeline frame.
    pub frame: u64,
    /// In the target parameter's own units (dB, pan position, Hz, …).
    pub value: f32,
    /// Shape of the segment that starts here: 0 is a straight line; positive
    /// values start slowly and finish fast, negative ones the reverse.
    pub curve: f32,
}

/// Breakpoints in timeline order.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Curve {
    points: Vec<Breakpoint>,
}

/// What a curve drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AutomationTarget {
    /// Fader, in dB.
    Gain,
    /// Pan position, −1 to +1.
    Pan,
    /// A parameter of the insert in `slot`, in the parameter's units.
    Device { slot: u16, param: u16 },
    /// The level of the strip's send `send` (in the strip's order), in dB.
    Send { send: u16 },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AutomationDesc {
    pub target: AutomationTarget,
    pub curve: Curve,
}

impl Curve {
    /// Sorts the points by frame; points with a non-finite value or shape are
    /// dropped (an automation lane must never feed NaN into the mix).
    pub fn new(mut points: Vec<Breakpoint>) -> Self {
        points.retain(|p| p.value.is_finite() && p.curve.is_finite());
        points.sort_by_key(|p| p.frame);
        Curve { points }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The value at a timeline frame: the first point's value before it,
    /// the last one's after it.
    pub fn value_at(&self, frame: u64) -> Option<f32> {
        let after = self.points.partition_point(|p| p.frame <= frame);
        match (
            after.checked_sub(1).map(|i| &self.points[i]),
            self.points.get(after),
        ) {
            (None, None) => None,
            (None, Some(next)) => Some(next.value),
            (Some(at), None) => Some(at.value),
            (Some(at), Some(next)) => {
                let t = (frame - at.frame) as f64 / (next.frame - at.frame) as f64;
                let shaped = shape(t, f64::from(at.curve));
                Some(
                    (f64::from(at.value) + (f64::from(next.value) - f64::from(at.value)) * shaped)
                        as f32,
                )
            }
        }
    }
}

/// Breakpoints that follow `samples` — a recorded ride, (frame, value)
/// with frames rising — within `tolerance` everywhere: each straight
/// segment stands for every sample it passes within `tolerance` of. The
/// first and last samples are always kept; a jump between two samples
/// becomes a segment one sample apart.
pub fn thin(samples: &[(u64, f32)], tolerance: f32) -> Vec<Breakpoint> {
    let point = |(frame, value): (u64, f32)| Breakpoint {
        frame,
        value,
        curve: 0.0,
    };
    let Some(&first) = samples.first() else {
        return Vec::new();
    };
    let mut points = vec![point(first)];
    let mut anchor = 0;
    for end in 2..samples.len() {
        let (f0, v0) = samples[anchor];
        let (f1, v1) = samples[end];
        let span = f1.saturating_sub(f0).max(1) as f64;
        let fits = samples[anchor + 1..end].iter().all(|&(f, v)| {
            let t = f.saturating_sub(f0) as f64 / span;
            let on_line = f64::from(v0) + (f64::from(v1) - f64::from(v0)) * t;
            (f64::from(v) - on_line).abs() <= f64::from(tolerance)
        });
        if !fits {
            anchor = end - 1;
            points.push(point(samples[anchor]));
        }
    }
    if samples.len() > 1 {
        points.push(point(samples[samples.len() - 1]));
    }
    points
}

/// Maps 0..1 onto 0..1: a straight line, or an exponential bend.
fn shape(t: f64, curve: f64) -> f64 {
    if curve.abs() < 1e-6 {
        t
    } else {
        ((curve * t).exp() - 1.0) / (curve.exp() - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thinned_ride_stays_within_its_tolerance_with_few_points() {
        // A fader ride sampled once per display frame (800 frames at 48 kHz):
        // a slow sine sweep, a hold, and a jump.
        let mut ride = Vec::new();
        for i in 0..600u64 {
            let frame = i * 800;
            let value = if i < 300 {
                -10.0 + 6.0 * ((i as f32) / 40.0).sin()
            } else if i < 450 {
                -3.0
            } else {
                -18.0
            };
            ride.push((frame, value));
        }
        let points = thin(&ride, 0.1);
        let curve = Curve::new(points.clone());
        for &(frame, value) in &ride {
            let got = curve.value_at(frame).unwrap();
            assert!(
                (got - value).abs() <= 0.1 + 1e-4,
                "at {frame}: {got} for {value}"
            );
        }
        assert!(
            points.len() < 120,
            "{} points for 600 samples",
            points.len()
        );
        assert_eq!(points.first().unwrap().frame, 0);
        assert_eq!(points.last().unwrap().frame, 599 * 800);
        // A hold needs only its ends.
        let held: Vec<_> = (0..100u64).map(|i| (i * 800, -6.0)).collect();
        assert_eq!(thin(&held, 0.1).len(), 2);
        assert_eq!(thin(&held[..1], 0.1).len(), 1);
        assert!(thin(&[], 0.1).is_empty());
    }

    fn point(frame: u64, value: f32, curve: f32) -> Breakpoint {
        Breakpoint {
            frame,
            value,
            curve,
        }
    }

    #[test]
    fn linear_segments_interpolate_and_ends_hold() {
        let c = Curve::new(vec![
            point(2000, 10.0, 0.0),
            point(1000, 0.0, 0.0),
            point(3000, 10.0, 0.0),
        ]);
        assert_eq!(c.value_at(0), Some(0.0), "before the first point");
        assert_eq!(c.value_at(1500), Some(5.0));
        assert_eq!(c.value_at(2500), Some(10.0));
        assert_eq!(c.value_at(1_000_000), Some(10.0), "after the last point");
        assert_eq!(Curve::default().value_at(5), None);
    }

    #[test]
    fn curved_segments_bend_but_keep_their_ends() {
        let slow = Curve::new(vec![point(0, 0.0, 4.0), point(100, 1.0, 0.0)]);
        let fast = Curve::new(vec![point(0, 0.0, -4.0), point(100, 1.0, 0.0)]);
        assert!(slow.value_at(50).unwrap() < 0.5 && fast.value_at(50).unwrap() > 0.5);
        assert!((slow.value_at(99).unwrap() - 0.99).abs() < 0.05);
        assert_eq!(slow.value_at(100), Some(1.0));
        let mut previous = -1.0;
        for f in 0..=100 {
            let v = slow.value_at(f).unwrap();
            assert!(v >= previous, "monotone");
            previous = v;
        }
    }

    #[test]
    fn non_finite_points_are_dropped() {
        let c = Curve::new(vec![
            point(0, f32::NAN, 0.0),
            point(10, 1.0, f32::INFINITY),
            point(20, 2.0, 0.0),
        ]);
        assert_eq!(c.value_at(0), Some(2.0));
    }
}
