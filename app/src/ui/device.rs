//! The device panel: every parameter of the open insert, an interactive
//! frequency-response curve for the EQ (drag a band: frequency and gain;
//! wheel: Q; double-click: a new band), and a gain-reduction meter for the
//! compressor and limiter.

use leptos::html;
use leptos::prelude::*;
use stemroom_engine::device::eq::{self, BANDS, ENABLED, FREQUENCY, GAIN, Q, SHAPE, band_param};
use stemroom_engine::device::{DeviceDesc, DeviceKind, ParamSpec};
use stemroom_engine::meter::StripReading;
use stemroom_model::project::{Device, LaneTarget, MASTER};
use wasm_bindgen::JsCast;
use web_sys::CanvasRenderingContext2d;

use super::mixer::device_label;
use super::workspace::Workspace;
use crate::project;

/// The EQ graph: 20 Hz – 20 kHz across, ±24 dB up and down.
const GRAPH_W: f64 = 640.0;
const GRAPH_H: f64 = 220.0;
const MIN_HZ: f64 = 20.0;
const MAX_HZ: f64 = 20_000.0;
const RANGE_DB: f64 = 24.0;
/// How near (px) a press must be to grab a band.
const GRAB_PX: f64 = 14.0;

const SHAPES: [&str; 6] = [
    "Bell",
    "Low shelf",
    "High shelf",
    "Low pass",
    "High pass",
    "Notch",
];

fn x_of(hz: f64) -> f64 {
    (hz / MIN_HZ).ln() / (MAX_HZ / MIN_HZ).ln() * GRAPH_W
}
fn hz_of(x: f64) -> f64 {
    MIN_HZ * (MAX_HZ / MIN_HZ).powf((x / GRAPH_W).clamp(0.0, 1.0))
}
fn y_of(db: f64) -> f64 {
    GRAPH_H / 2.0 - db / RANGE_DB * (GRAPH_H / 2.0 - 8.0)
}
fn db_of(y: f64) -> f64 {
    (GRAPH_H / 2.0 - y) / (GRAPH_H / 2.0 - 8.0) * RANGE_DB
}

/// The device as the engine would build it (parameters clamped, defaults
/// filled in).
fn desc_of(d: &Device) -> DeviceDesc {
    let mut desc = DeviceDesc::new(d.kind);
    desc.bypass = d.bypass;
    for (i, v) in d.params.iter().enumerate() {
        desc = desc.with(i, *v);
    }
    desc
}

#[component]
pub fn DevicePanel() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let device = Memo::new(move |_| {
        let id = ws.device.get()?;
        ws.project.with(|p| {
            let p = p.as_ref()?;
            let d = p.devices.iter().find(|d| d.id == id)?.clone();
            let strip = if d.strip == MASTER {
                "Master".to_string()
            } else {
                p.tracks
                    .iter()
                    .find(|t| t.id == d.strip)
                    .map(|t| t.name.clone())
                    .or_else(|| {
                        p.buses
                            .iter()
                            .find(|b| b.id == d.strip)
                            .map(|b| b.name.clone())
                    })
                    .unwrap_or_default()
            };
            let meter = if d.strip == MASTER {
                Some(p.tracks.len() + p.buses.len())
            } else {
                p.tracks.iter().position(|t| t.id == d.strip).or_else(|| {
                    p.buses
                        .iter()
                        .position(|b| b.id == d.strip)
                        .map(|i| p.tracks.len() + i)
                })
            };
            Some((d, strip, meter))
        })
    });
    // The panel is rebuilt only when another device opens, never while a
    // parameter of this one moves (a drag on the curve must keep its canvas).
    let opened = Memo::new(move |_| {
        device.with(|d| {
            d.as_ref()
                .map(|(d, strip, meter)| (d.id.clone(), d.kind, strip.clone(), *meter))
        })
    });
    view! {
        <Show when=move || opened.with(Option::is_some)>
            {move || {
                let Some((id, kind, strip, meter)) = opened.get() else { return ().into_any() };
                let title = format!("{} — {}", device_label(kind), strip);
                let label = title.clone();
                view! {
                    <aside class="device-panel" data-device-kind=stemroom_model::project::kind_name(kind) aria-label=label>
                        <header class="device-header">
                            <h2>{title}</h2>
                            <button
                                class="device-bypass"
                                class:active=move || device.with(|d| d.as_ref().is_some_and(|d| !d.0.bypass))
                                disabled=move || !ws.can_edit()
                                on:click={
                                    let id = id.clone();
                                    move |_| {
                                        let bypass = device.with_untracked(|d| d.as_ref().is_some_and(|d| d.0.bypass));
                                        project::edit(|p, txn| p.set(txn, "devices", &id, "bypass", !bypass));
                                    }
                                }
                            >
                                {move || if device.with(|d| d.as_ref().is_some_and(|d| d.0.bypass)) { "Bypassed" } else { "On" }}
                            </button>
                            <button class="device-close" title="Close (Esc)" on:click=move |_| ws.device.set(None)>"✕"</button>
                        </header>
                        {(kind == DeviceKind::Eq).then(|| view! { <EqGraph device=device /> })}
                        {matches!(kind, DeviceKind::Compressor | DeviceKind::Limiter).then(|| view! { <ReductionMeter meter=meter /> })}
                        {if kind == DeviceKind::Eq {
                            view! { <EqBands device=device /> }.into_any()
                        } else {
                            view! { <Params device=device /> }.into_any()
                        }}
                    </aside>
                }
                .into_any()
            }}
        </Show>
    }
}

type OpenDevice = Memo<Option<(Device, String, Option<usize>)>>;

/// Writes a parameter of the open device as part of a gesture.
fn set_param(device: OpenDevice, index: usize, value: f64) {
    if let Some(id) = device.with_untracked(|d| d.as_ref().map(|d| d.0.id.clone())) {
        project::gesture(|p, txn| p.set_param(txn, &id, index as u16, value));
    }
}

/// The strip of the open device and the lane target of its parameter `index`.
fn param_target(device: OpenDevice, index: usize) -> Option<(String, LaneTarget)> {
    device.with_untracked(|d| {
        d.as_ref().map(|d| {
            let target = LaneTarget::Param {
                device: d.0.id.clone(),
                param: index as u16,
            };
            (d.0.strip.clone(), target)
        })
    })
}

/// A parameter as its control shows it: the ride, the curve while playing,
/// or its setting (see `automation::shown`).
fn shown_param(ws: Workspace, device: OpenDevice, index: usize) -> f32 {
    let setting = param_value(device, index);
    match device.with(|d| d.as_ref().map(|d| (d.0.id.clone(), d.0.strip.clone()))) {
        Some((id, strip)) => {
            let target = LaneTarget::Param {
                device: id,
                param: index as u16,
            };
            super::automation::shown(ws, &strip, &target, f64::from(setting)) as f32
        }
        None => setting,
    }
}

fn param_value(device: OpenDevice, index: usize) -> f32 {
    device.with(|d| d.as_ref().map_or(0.0, |d| desc_of(&d.0).param(index)))
}

/// Whether a parameter spans decades (frequencies, times): its slider is
/// logarithmic.
fn logarithmic(spec: &ParamSpec) -> bool {
    spec.min > 0.0 && spec.max / spec.min >= 100.0
}

/// Slider position (0..1000) ↔ value.
fn to_slider(spec: &ParamSpec, v: f32) -> f64 {
    let (min, max, v) = (f64::from(spec.min), f64::from(spec.max), f64::from(v));
    if logarithmic(spec) {
        (v / min).ln() / (max / min).ln() * 1000.0
    } else {
        (v - min) / (max - min) * 1000.0
    }
}
fn from_slider(spec: &ParamSpec, t: f64) -> f64 {
    let (min, max, t) = (
        f64::from(spec.min),
        f64::from(spec.max),
        (t / 1000.0).clamp(0.0, 1.0),
    );
    if logarithmic(spec) {
        min * (max / min).powf(t)
    } else {
        min + (max - min) * t
    }
}

fn format_value(spec: &ParamSpec, v: f32) -> String {
    let number = if v.abs() >= 1000.0 {
        format!("{:.2}k", v / 1000.0)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    if spec.unit.is_empty() {
        number
    } else {
        format!("{number} {}", spec.unit)
    }
}

/// One slider per parameter.
#[component]
fn Params(device: OpenDevice) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let kind = device
        .with_untracked(|d| d.as_ref().map(|d| d.0.kind))
        .unwrap_or(DeviceKind::Utility);
    kind.params()
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let spec = *spec;
            view! {
                <label
                    class="param"
                    data-param=spec.name
                    title="Right-click: show automation"
                    on:contextmenu=move |e: web_sys::MouseEvent| {
                        e.prevent_default();
                        if let Some((device, strip)) = device.with_untracked(|d| d.as_ref().map(|d| (d.0.id.clone(), d.0.strip.clone()))) {
                            super::automation::show_lane(ws, &strip, LaneTarget::Param { device, param: index as u16 });
                        }
                    }
                >
                    <span class="param-name">{spec.name}</span>
                    <input
                        type="range"
                        class="param-slider"
                        min="0"
                        max="1000"
                        step="1"
                        prop:value=move || to_slider(&spec, shown_param(ws, device, index)).to_string()
                        disabled=move || !ws.can_edit()
                        on:pointerdown=move |_| project::begin_step()
                        on:input=move |e| {
                            if let Ok(t) = event_target_value(&e).parse::<f64>() {
                                let value = from_slider(&spec, t);
                                match param_target(device, index) {
                                    Some((strip, target)) => super::automation::control_moved(
                                        ws, &strip, &target, value, (spec.min, spec.max),
                                        || set_param(device, index, value),
                                    ),
                                    None => set_param(device, index, value),
                                }
                            }
                        }
                        on:change=move |_| {
                            if let Some((strip, target)) = param_target(device, index) {
                                super::automation::control_released(ws, &strip, &target);
                            }
                        }
                    />
                    <output class="param-value">{move || format_value(&spec, shown_param(ws, device, index))}</output>
                </label>
            }
        })
        .collect_view()
}

/// The band table under the EQ graph: on/off, shape, frequency, gain, Q.
#[component]
fn EqBands(device: OpenDevice) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let rows = (0..BANDS)
        .map(|band| {
            let enabled = move || param_value(device, band_param(band, ENABLED)) >= 0.5;
            let slider = move |field: usize| {
                let spec = eq::PARAMS[band_param(band, field)];
                view! {
                    <input
                        type="range"
                        class=format!("band-{}", spec.name.to_lowercase())
                        min="0"
                        max="1000"
                        step="1"
                        aria-label=format!("Band {} {}", band + 1, spec.name)
                        prop:value=move || to_slider(&spec, param_value(device, band_param(band, field))).to_string()
                        disabled=move || !ws.can_edit()
                        on:pointerdown=move |_| project::begin_step()
                        on:input=move |e| {
                            if let Ok(t) = event_target_value(&e).parse::<f64>() {
                                set_param(device, band_param(band, field), from_slider(&spec, t));
                            }
                        }
                    />
                    <output>{move || format_value(&spec, param_value(device, band_param(band, field)))}</output>
                }
            };
            view! {
                <div class="eq-band" data-band=band class:enabled=enabled>
                    <input
                        type="checkbox"
                        class="band-enabled"
                        aria-label=format!("Band {} on", band + 1)
                        prop:checked=enabled
                        disabled=move || !ws.can_edit()
                        on:change=move |e| {
                            let on: web_sys::HtmlInputElement = event_target(&e);
                            project::begin_step();
                            set_param(device, band_param(band, ENABLED), if on.checked() { 1.0 } else { 0.0 });
                        }
                    />
                    <select
                        class="band-shape"
                        aria-label=format!("Band {} shape", band + 1)
                        prop:value=move || (param_value(device, band_param(band, SHAPE)).round() as usize).to_string()
                        disabled=move || !ws.can_edit()
                        on:change=move |e| {
                            if let Ok(shape) = event_target_value(&e).parse::<f64>() {
                                project::begin_step();
                                set_param(device, band_param(band, SHAPE), shape);
                            }
                        }
                    >
                        {SHAPES.iter().enumerate().map(|(i, s)| view! { <option value=i.to_string()>{*s}</option> }).collect_view()}
                    </select>
                    {slider(FREQUENCY)}
                    {slider(GAIN)}
                    {slider(Q)}
                </div>
            }
        })
        .collect_view();
    let output = eq::PARAMS[eq::OUTPUT_GAIN];
    view! {
        <div class="eq-bands">{rows}</div>
        <label class="param" data-param="output gain">
            <span class="param-name">"output"</span>
            <input
                type="range"
                class="param-slider"
                min="0"
                max="1000"
                prop:value=move || to_slider(&output, param_value(device, eq::OUTPUT_GAIN)).to_string()
                disabled=move || !ws.can_edit()
                on:pointerdown=move |_| project::begin_step()
                on:input=move |e| {
                    if let Ok(t) = event_target_value(&e).parse::<f64>() {
                        set_param(device, eq::OUTPUT_GAIN, from_slider(&output, t));
                    }
                }
            />
            <output class="param-value">{move || format_value(&output, param_value(device, eq::OUTPUT_GAIN))}</output>
        </label>
    }
}

/// The EQ's response curve with a handle per enabled band.
#[component]
fn EqGraph(device: OpenDevice) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let canvas: NodeRef<html::Canvas> = NodeRef::new();
    let grabbed = RwSignal::new(None::<usize>);
    Effect::new(move |_| {
        let Some(canvas) = canvas.get() else { return };
        let Some(desc) = device.with(|d| d.as_ref().map(|d| desc_of(&d.0))) else {
            return;
        };
        let rate = ws.sample_rate();
        if let Some(ctx) = context(&canvas) {
            draw_eq(&ctx, &desc, rate, grabbed.get());
        }
    });
    let nearest = move |x: f64, y: f64| {
        let desc = device.with_untracked(|d| d.as_ref().map(|d| desc_of(&d.0)))?;
        (0..BANDS)
            .filter(|b| desc.param(band_param(*b, ENABLED)) >= 0.5)
            .map(|b| {
                let (hx, hy) = handle(&desc, b);
                (b, (hx - x).hypot(hy - y))
            })
            .filter(|(_, d)| *d <= GRAB_PX)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(b, _)| b)
    };
    view! {
        <canvas
            class="eq-graph"
            node_ref=canvas
            width=GRAPH_W as u32
            height=GRAPH_H as u32
            title="Drag a band: frequency and gain · Wheel: Q · Double-click: add a band"
            on:pointerdown=move |e: web_sys::PointerEvent| {
                if !ws.can_edit() {
                    return;
                }
                let Some((x, y)) = graph_point(&e) else { return };
                if let Some(band) = nearest(x, y) {
                    e.prevent_default();
                    if let Some(target) = e.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
                        let _ = target.set_pointer_capture(e.pointer_id());
                    }
                    project::begin_step();
                    grabbed.set(Some(band));
                }
            }
            on:pointermove=move |e: web_sys::PointerEvent| {
                let Some(band) = grabbed.get_untracked() else { return };
                let Some((x, y)) = graph_point(&e) else { return };
                set_param(device, band_param(band, FREQUENCY), hz_of(x).round());
                if takes_gain(device, band) {
                    set_param(device, band_param(band, GAIN), (db_of(y) * 10.0).round() / 10.0);
                }
            }
            on:pointerup=move |_| grabbed.set(None)
            on:dblclick=move |e: web_sys::MouseEvent| {
                if !ws.can_edit() {
                    return;
                }
                let Some((x, y)) = graph_point(&e) else { return };
                let free = (0..BANDS).find(|b| param_value(device, band_param(*b, ENABLED)) < 0.5);
                if let Some(band) = free {
                    project::begin_step();
                    set_param(device, band_param(band, SHAPE), 0.0);
                    set_param(device, band_param(band, FREQUENCY), hz_of(x).round());
                    set_param(device, band_param(band, GAIN), (db_of(y) * 10.0).round() / 10.0);
                    set_param(device, band_param(band, ENABLED), 1.0);
                }
            }
            on:wheel=move |e: web_sys::WheelEvent| {
                if !ws.can_edit() {
                    return;
                }
                let Some((x, y)) = graph_point(&e) else { return };
                if let Some(band) = nearest(x, y) {
                    e.prevent_default();
                    let q = f64::from(param_value(device, band_param(band, Q)));
                    let factor = if e.delta_y() < 0.0 { 1.15 } else { 1.0 / 1.15 };
                    project::begin_step();
                    set_param(device, band_param(band, Q), (q * factor).clamp(0.1, 18.0));
                }
            }
        ></canvas>
    }
}

/// Where on the graph (in its 640 × 220 units) a mouse event happened.
fn graph_point(e: &web_sys::MouseEvent) -> Option<(f64, f64)> {
    let target: web_sys::Element = e.current_target()?.dyn_into().ok()?;
    let r = target.get_bounding_client_rect();
    Some((
        (f64::from(e.client_x()) - r.left()) * GRAPH_W / r.width(),
        (f64::from(e.client_y()) - r.top()) * GRAPH_H / r.height(),
    ))
}

/// Bells and shelves have a gain; passes and notches do not.
fn takes_gain(device: OpenDevice, band: usize) -> bool {
    param_value(device, band_param(band, SHAPE)).round() < 3.0
}

/// Where a band's handle sits on the graph.
fn handle(desc: &DeviceDesc, band: usize) -> (f64, f64) {
    let hz = f64::from(desc.param(band_param(band, FREQUENCY)));
    let gain = if desc.param(band_param(band, SHAPE)).round() < 3.0 {
        f64::from(desc.param(band_param(band, GAIN)))
    } else {
        0.0
    };
    (x_of(hz), y_of(gain))
}

fn context(canvas: &web_sys::HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok()??.dyn_into().ok()
}

fn draw_eq(ctx: &CanvasRenderingContext2d, desc: &DeviceDesc, rate: f64, grabbed: Option<usize>) {
    ctx.set_fill_style_str("#15171c");
    ctx.fill_rect(0.0, 0.0, GRAPH_W, GRAPH_H);
    ctx.set_font("10px system-ui, sans-serif");
    ctx.set_line_width(1.0);
    for hz in [
        50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0,
    ] {
        let x = x_of(hz).round() + 0.5;
        ctx.set_fill_style_str("#272b33");
        ctx.fill_rect(x, 0.0, 1.0, GRAPH_H);
        ctx.set_fill_style_str("#6d7585");
        let label = if hz >= 1000.0 {
            format!("{}k", hz / 1000.0)
        } else {
            format!("{hz}")
        };
        let _ = ctx.fill_text(&label, x + 3.0, GRAPH_H - 4.0);
    }
    for db in [-18.0, -12.0, -6.0, 0.0, 6.0, 12.0, 18.0] {
        let y = y_of(db).round() + 0.5;
        ctx.set_fill_style_str(if db == 0.0 { "#3a404b" } else { "#23262d" });
        ctx.fill_rect(0.0, y, GRAPH_W, 1.0);
        ctx.set_fill_style_str("#6d7585");
        let _ = ctx.fill_text(&format!("{db:+}"), 3.0, y - 3.0);
    }
    // The curve, one point per two pixels.
    ctx.begin_path();
    let mut x = 0.0;
    while x <= GRAPH_W {
        let db = eq::curve_db(desc, rate, hz_of(x)).clamp(-RANGE_DB * 1.5, RANGE_DB * 1.5);
        if x == 0.0 {
            ctx.move_to(x, y_of(db));
        } else {
            ctx.line_to(x, y_of(db));
        }
        x += 2.0;
    }
    ctx.set_stroke_style_str(if desc.bypass { "#6d7585" } else { "#7cc46a" });
    ctx.set_line_width(2.0);
    ctx.stroke();
    for band in 0..BANDS {
        if desc.param(band_param(band, ENABLED)) < 0.5 {
            continue;
        }
        let (x, y) = handle(desc, band);
        ctx.begin_path();
        let _ = ctx.arc(
            x,
            y,
            if grabbed == Some(band) { 8.0 } else { 6.0 },
            0.0,
            std::f64::consts::TAU,
        );
        ctx.set_fill_style_str("#e0a030");
        ctx.fill();
        ctx.set_fill_style_str("#15171c");
        let _ = ctx.fill_text(&(band + 1).to_string(), x - 3.0, y + 3.5);
    }
}

/// Gain reduction of the strip's dynamics, from the engine's meters.
#[component]
fn ReductionMeter(meter: Option<usize>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let ui = ws.ui;
    let reading = move |strips: &[StripReading]| {
        meter
            .and_then(|i| strips.get(i))
            .map_or(0.0, |r| r.gain_reduction_db)
    };
    // The bar every frame (a transform), the numbers at the readout rate.
    let bar = Memo::new(move |_| ui.strips.with(|s| reading(s)));
    let reduction = ui.readout(move |_, strips| reading(strips));
    view! {
        <div class="reduction" data-gr-db=move || format!("{:.2}", reduction.get())>
            <span class="reduction-label">"Gain reduction"</span>
            <div class="reduction-bar">
                <div class="reduction-fill" style:transform=move || format!("scaleX({:.3})", (-bar.get() / 24.0).clamp(0.0, 1.0))></div>
            </div>
            <output class="reduction-value">{move || format!("{:.1} dB", reduction.get())}</output>
        </div>
    }
}
