//! Lanes: several independent channels processed side by side.
//!
//! A biquad's per-sample recursion bounds a scalar loop; processing the
//! channels of several tracks together (one per lane) removes the bound. Code
//! written on [`Lanes`] arrays compiles to SIMD (wasm simd128, SSE/NEON)
//! without intrinsics, and stays bit-identical between targets that support
//! IEEE single precision.

/// Channels processed together. Eight: two 4-wide SIMD registers per
/// operation, so two independent recursions are in flight and a biquad's
/// latency no longer bounds its throughput.
pub const LANES: usize = 8;

/// One sample of every lane.
pub type Lanes = [f32; LANES];

/// A quantum of lanes, frame-major: `block[frame][lane]`.
pub type LaneBlock = [Lanes; crate::QUANTUM];

pub const SILENT_BLOCK: LaneBlock = [[0.0; LANES]; crate::QUANTUM];

/// Copies lane `from` of the ring `src` (next write at `src_at`) into lane
/// `to` of the ring `dst` (next write at `dst_at`), so that every sample
/// keeps its age: a delay line handed to another slot goes on sounding.
pub fn copy_ring_lane(
    dst: &mut [Lanes],
    dst_at: usize,
    to: usize,
    src: &[Lanes],
    src_at: usize,
    from: usize,
) {
    let (n, m) = (dst.len(), src.len());
    // The newest `len` samples (ages 1..=len behind each write position),
    // walked without a division per sample: both indices step back and
    // wrap at 0.
    let (mut d, mut s) = (dst_at % n.max(1), src_at % m.max(1));
    for _ in 0..n.min(m) {
        d = if d == 0 { n - 1 } else { d - 1 };
        s = if s == 0 { m - 1 } else { s - 1 };
        dst[d][to] = src[s][from];
    }
}

/// [`copy_ring_lane`] for one lane's own ring.
pub fn copy_ring(dst: &mut [f32], dst_at: usize, src: &[f32], src_at: usize) {
    let (n, m) = (dst.len(), src.len());
    let (mut d, mut s) = (dst_at % n.max(1), src_at % m.max(1));
    for _ in 0..n.min(m) {
        d = if d == 0 { n - 1 } else { d - 1 };
        s = if s == 0 { m - 1 } else { s - 1 };
        dst[d] = src[s];
    }
}

#[inline(always)]
pub fn splat(x: f32) -> Lanes {
    [x; LANES]
}

/// `log2(x)` for `x > 0`, accurate to about 1e-4: a wasm module has no
/// hardware log, and the compressor needs one per sample and lane.
#[inline(always)]
pub fn fast_log2(x: f32) -> f32 {
    // Signed integer conversions only: they map to single SIMD instructions.
    let bits = x.max(1e-30).to_bits() as i32;
    let exponent = ((bits >> 23) & 0xff) as f32 - 127.0;
    let m = f32::from_bits(((bits & 0x007f_ffff) | 0x3f80_0000) as u32); // mantissa in [1, 2)
    // Least-squares quintic for log2(m) on [1, 2): error below 3.2e-5.
    let p = -2.786_805_3
        + m * (5.046_852
            + m * (-3.492_465_3 + m * (1.593_884_3 + m * (-0.404_862_3 + m * 0.043_428_374))));
    exponent + p
}

/// `2^x`, accurate to about 1e-4 relative, for `x` in [-126, 126].
#[inline(always)]
pub fn fast_exp2(x: f32) -> f32 {
    let x = x.clamp(-126.0, 126.0);
    // floor() without a libm call (baseline x86-64 has no SSE4.1 round):
    // truncate, then step down for negative non-integers.
    // SAFETY: x is finite and within ±126 after the clamp (NaN was mapped
    // by `clamp` to NaN, which `max`/`min` below rule out), so the cast is exact.
    let x = if x.is_nan() { 0.0 } else { x };
    let truncated = unsafe { x.to_int_unchecked::<i32>() };
    let floor = (truncated - i32::from((truncated as f32) > x)) as f32;
    let f = x - floor;
    // Least-squares quartic for 2^f on [0, 1): error below 7.8e-6.
    let p = 1.000_007_3
        + f * (0.692_931_26 + f * (0.241_710_33 + f * (0.051_666_84 + f * 0.013_676_524)));
    // SAFETY: `floor` is an integer in −126..=126.
    let exponent = unsafe { floor.to_int_unchecked::<i32>() } + 127;
    f32::from_bits((exponent << 23) as u32) * p
}

/// Silences NaN and infinities in a lane block; returns how many it replaced.
#[inline]
pub fn sanitize_block(block: &mut [Lanes]) -> u32 {
    // `x * 0` is 0 for every finite x and NaN otherwise; one accumulator per
    // lane keeps the check vectorised.
    let mut check = [0.0f32; LANES];
    for frame in block.iter() {
        for l in 0..LANES {
            check[l] += frame[l] * 0.0;
        }
    }
    if check == [0.0; LANES] {
        return 0;
    }
    block.iter_mut().map(|frame| sanitize(frame)).sum()
}

/// `max` for level detection: a plain comparison, which wasm has as one
/// SIMD instruction (`pmax`), unlike `f32::max`'s NaN rules. Inputs are
/// magnitudes of sanitised audio, so NaN does not arise.
#[inline(always)]
pub fn peak_max(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// Replaces NaN and infinities by silence; returns how many it replaced.
#[inline]
pub fn sanitize(samples: &mut [f32]) -> u32 {
    let mut bad = 0;
    for s in samples {
        if !s.is_finite() {
            *s = 0.0;
            bad += 1;
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_log2_and_exp2_are_accurate_enough_for_gain_computation() {
        let mut worst_log = 0f32;
        let mut x = 1e-6f32;
        while x < 1e3 {
            worst_log = worst_log.max((fast_log2(x) - x.log2()).abs());
            x *= 1.013;
        }
        assert!(worst_log < 2e-4, "log2 error {worst_log}");
        let mut worst_exp = 0f32;
        let mut y = -40.0f32;
        while y < 10.0 {
            worst_exp = worst_exp.max((fast_exp2(y) / y.exp2() - 1.0).abs());
            y += 0.0173;
        }
        assert!(worst_exp < 2e-4, "exp2 relative error {worst_exp}");
    }

    #[test]
    fn sanitize_counts_and_silences_non_finite_samples() {
        let mut s = [0.5, f32::NAN, f32::INFINITY, -0.25, f32::NEG_INFINITY];
        assert_eq!(sanitize(&mut s), 3);
        assert_eq!(s, [0.5, 0.0, 0.0, -0.25, 0.0]);
    }
}
