//! Drawing the arrange view on canvas: the ruler, and a track's lane —
//! grid, loop, clip bodies, waveforms (from the decoded peaks) and fades.

use stemroom_engine::db_to_amplitude;
use stemroom_engine::tempo::TempoMap;
use stemroom_model::project::Clip;
use wasm_bindgen::JsCast;
use web_sys::CanvasRenderingContext2d;

use super::arrange::{LOOP_STRIP_H, ROW_H, RULER_H};
use crate::project;

/// Sizes a canvas for `width` × `height` CSS pixels at the screen's pixel
/// ratio and returns its context, scaled to CSS pixels and cleared.
pub fn prepare(
    canvas: &web_sys::HtmlCanvasElement,
    width: f64,
    height: f64,
) -> Option<CanvasRenderingContext2d> {
    let ratio = web_sys::window()
        .map_or(1.0, |w| w.device_pixel_ratio())
        .max(1.0);
    let (w, h) = (
        (width * ratio).round() as u32,
        (height * ratio).round() as u32,
    );
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
        let style = web_sys::HtmlElement::style(canvas);
        let _ = style.set_property("width", &format!("{width}px"));
        let _ = style.set_property("height", &format!("{height}px"));
    }
    let ctx: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let _ = ctx.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
    ctx.clear_rect(0.0, 0.0, width, height);
    Some(ctx)
}

/// Bars and beats along the top, times along the bottom, and the loop.
#[allow(clippy::too_many_arguments)]
pub fn draw_ruler(
    ctx: &CanvasRenderingContext2d,
    tempo: &TempoMap,
    rate: f64,
    ppf: f64,
    x0: f64,
    width: f64,
    (loop_start, loop_end): (u64, u64),
    looping: bool,
) {
    ctx.set_fill_style_str("#1d2026");
    ctx.fill_rect(0.0, 0.0, width, RULER_H);
    ctx.set_fill_style_str("#262a32");
    ctx.fill_rect(0.0, 0.0, width, LOOP_STRIP_H);
    if loop_end > loop_start {
        let (a, b) = (loop_start as f64 * ppf - x0, loop_end as f64 * ppf - x0);
        ctx.set_fill_style_str(if looping {
            "rgba(79,163,224,0.85)"
        } else {
            "rgba(79,163,224,0.3)"
        });
        ctx.fill_rect(a, 2.0, b - a, LOOP_STRIP_H - 4.0);
    }
    ctx.set_font("11px system-ui, sans-serif");
    ctx.set_text_baseline("middle");
    // Bars: label every bar that has room (at least 36 px apart).
    let (first_frame, last_frame) = (x0 / ppf, (x0 + width) / ppf);
    let first_bar = tempo.position_at_frame(first_frame).bar;
    let last_bar = tempo.position_at_frame(last_frame).bar + 1;
    let bar_px =
        (tempo.frame_at_bar(first_bar + 1, 1.0) - tempo.frame_at_bar(first_bar, 1.0)) * ppf;
    let label_every = (36.0 / bar_px.max(1.0)).ceil().max(1.0) as i64;
    let beats = tempo.signature().beats_per_bar;
    for bar in first_bar.max(1)..=last_bar {
        let x = tempo.frame_at_bar(bar, 1.0) * ppf - x0;
        ctx.set_fill_style_str("#8a93a3");
        ctx.fill_rect(x.round(), LOOP_STRIP_H, 1.0, 12.0);
        if (bar - 1) % label_every == 0 {
            ctx.set_fill_style_str("#d7dce4");
            let _ = ctx.fill_text(&bar.to_string(), x + 3.0, LOOP_STRIP_H + 7.0);
        }
        if bar_px / f64::from(beats) >= 8.0 {
            ctx.set_fill_style_str("#4b5260");
            for beat in 2..=beats {
                let x = tempo.frame_at_bar(bar, f64::from(beat)) * ppf - x0;
                ctx.fill_rect(x.round(), LOOP_STRIP_H, 1.0, 5.0);
            }
        }
    }
    // Times: a step that leaves at least 60 px between labels.
    let steps = [
        0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ];
    let px_per_second = ppf * rate;
    let step = steps
        .iter()
        .copied()
        .find(|s| s * px_per_second >= 60.0)
        .unwrap_or(600.0);
    let mut t = (x0 / px_per_second / step).floor() * step;
    ctx.set_fill_style_str("#8a93a3");
    while t * px_per_second - x0 <= width {
        let x = t * px_per_second - x0;
        ctx.fill_rect(x.round(), RULER_H - 5.0, 1.0, 5.0);
        let label = if step < 1.0 {
            format!("{}:{:04.1}", (t / 60.0) as u64, t % 60.0)
        } else {
            format!("{}:{:02}", (t / 60.0) as u64, (t % 60.0) as u64)
        };
        let _ = ctx.fill_text(&label, x + 3.0, RULER_H - 8.0);
        t += step;
    }
}

/// What a lane draws across.
pub struct LaneDrawing {
    /// Pixels per frame.
    pub ppf: f64,
    /// Timeline pixel at the canvas's left edge.
    pub x0: f64,
    pub width: f64,
    pub loop_range: Option<(u64, u64)>,
}

/// The lane's grid, loop, clip bodies, waveforms and fades; returns how
/// many clips were drawn with their waveform.
pub fn draw_lane(
    ctx: &CanvasRenderingContext2d,
    lane: &LaneDrawing,
    tempo: &TempoMap,
    clips: &[Clip],
    color: &str,
) -> usize {
    let mut waveforms = 0;
    let h = ROW_H - 1.0;
    let (ppf, x0, width) = (lane.ppf, lane.x0, lane.width);
    if let Some((a, b)) = lane.loop_range {
        ctx.set_fill_style_str("rgba(79,163,224,0.08)");
        ctx.fill_rect(a as f64 * ppf - x0, 0.0, (b - a) as f64 * ppf, h);
    }
    // Bar lines.
    let first = tempo.position_at_frame(x0 / ppf).bar.max(1);
    let last = tempo.position_at_frame((x0 + width) / ppf).bar + 1;
    ctx.set_fill_style_str("#262a31");
    for bar in first..=last {
        let x = tempo.frame_at_bar(bar, 1.0) * ppf - x0;
        ctx.fill_rect(x.round(), 0.0, 1.0, h);
    }
    let mid = h / 2.0;
    let half = h / 2.0 - 3.0;
    for c in clips {
        let (cx, cw) = (c.start as f64 * ppf - x0, c.length as f64 * ppf);
        if cx + cw < 0.0 || cx > width {
            continue;
        }
        ctx.set_global_alpha(0.28);
        ctx.set_fill_style_str(color);
        ctx.fill_rect(cx, 0.0, cw, h);
        ctx.set_global_alpha(1.0);
        let Some(peaks) = project::peaks(&c.asset) else {
            ctx.set_fill_style_str("#8a93a3");
            let _ = ctx.fill_text("loading audio…", cx.max(0.0) + 6.0, mid);
            continue;
        };
        waveforms += 1;
        let gain = db_to_amplitude(c.gain_db as f32);
        let frames_per_px = 1.0 / ppf;
        let loop_len = peaks.frames.saturating_sub(c.offset).max(1);
        ctx.set_fill_style_str(color);
        let (from, to) = (
            cx.max(0.0).floor() as i64,
            (cx + cw).min(width).ceil() as i64,
        );
        for px in from..to {
            let t = ((px as f64 - cx) * frames_per_px).max(0.0) as u64;
            let t_end = (((px + 1) as f64 - cx) * frames_per_px).max(1.0) as u64;
            let (a, b) = if c.looped {
                let a = c.offset + t % loop_len;
                (a, a + (t_end - t).max(1))
            } else {
                (c.offset + t, c.offset + t_end.max(t + 1))
            };
            let Some((min, max)) = peaks.range(a, b) else {
                continue;
            };
            let g = gain * fade_gain(c, t);
            let top = mid - f64::from(max * g).clamp(-1.0, 1.0) * half;
            let bottom = mid - f64::from(min * g).clamp(-1.0, 1.0) * half;
            ctx.fill_rect(px as f64, top, 1.0, (bottom - top).max(1.0));
        }
        // Fade curves.
        ctx.set_stroke_style_str("#f0f3f7");
        ctx.set_line_width(1.0);
        for (fade, out) in [(c.fade_in, false), (c.fade_out, true)] {
            if fade.frames == 0 {
                continue;
            }
            ctx.begin_path();
            let steps = 24;
            for i in 0..=steps {
                let u = f64::from(i) / f64::from(steps);
                let frame = (u * fade.frames as f64) as u64;
                let (x, g) = if out {
                    (
                        cx + cw - fade.frames as f64 * ppf + frame as f64 * ppf,
                        fade.shape.gain(1.0 - u as f32),
                    )
                } else {
                    (cx + frame as f64 * ppf, fade.shape.gain(u as f32))
                };
                let y = h - 2.0 - f64::from(g) * (h - 4.0);
                if i == 0 {
                    ctx.move_to(x, y)
                } else {
                    ctx.line_to(x, y)
                }
            }
            ctx.stroke();
        }
    }
    waveforms
}

/// The fade gain at `t` frames into a clip.
fn fade_gain(c: &Clip, t: u64) -> f32 {
    let mut g = 1.0;
    if t < c.fade_in.frames {
        g *= c.fade_in.shape.gain(t as f32 / c.fade_in.frames as f32);
    }
    let remaining = c.length.saturating_sub(t);
    if remaining <= c.fade_out.frames && c.fade_out.frames > 0 {
        g *= c
            .fade_out
            .shape
            .gain(remaining.saturating_sub(1) as f32 / c.fade_out.frames as f32);
    }
    g
}
