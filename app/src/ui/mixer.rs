//! The mixer: a strip per track, bus and the master, each with its insert
//! chain, sends, output, pan, mute/solo, fader and the engine's meters; the
//! master also shows loudness (EBU R128).

use leptos::prelude::*;
use stemroom_engine::bounce::{LoudnessTarget, TARGET_PRESETS, platform_gains, platform_names};
use stemroom_engine::device::DeviceKind;
use stemroom_engine::{Command, amplitude_to_db};
use stemroom_model::project::{Device, LaneTarget, MASTER, Send, Strip};
use wasm_bindgen::JsCast;

use super::workspace::{DeleteButton, FieldInput, Workspace};
use crate::project;
use crate::session::{EngineState, EngineUi, sync_engine};

/// Insert devices a user can add, as the menu lists them.
pub const DEVICE_MENU: [(DeviceKind, &str); 6] = [
    (DeviceKind::Eq, "EQ"),
    (DeviceKind::Compressor, "Compressor"),
    (DeviceKind::Reverb, "Reverb"),
    (DeviceKind::Delay, "Delay"),
    (DeviceKind::Limiter, "Limiter"),
    (DeviceKind::Utility, "Utility"),
];

pub fn device_label(kind: DeviceKind) -> &'static str {
    DEVICE_MENU
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("Device", |(_, name)| name)
}

/// The meter scale: −60 dBFS to +6 dBFS.
const FLOOR_DB: f32 = -60.0;
const TOP_DB: f32 = 6.0;

fn meter_percent(amplitude: f32) -> f32 {
    ((amplitude_to_db(amplitude) - FLOOR_DB) / (TOP_DB - FLOOR_DB) * 100.0).clamp(0.0, 100.0)
}

/// One strip as the mixer shows it.
#[derive(Clone, Debug, PartialEq)]
struct StripView {
    strip: Strip,
    devices: Vec<Device>,
    sends: Vec<Send>,
    /// Buses this strip may route or send to: (id, name).
    buses: Vec<(String, String)>,
    /// Index of the strip's meters in the engine's plan.
    meter: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum StripKind {
    Track,
    Bus,
    Master,
}

#[component]
pub fn Mixer() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    // Tracks and buses in mixer order; the master is drawn after them.
    let strips = Memo::new(move |_| {
        ws.project.with(|p| {
            let Some(p) = p else { return Vec::new() };
            let mut list: Vec<(String, String, StripKind)> = p
                .tracks
                .iter()
                .map(|t| (t.id.clone(), t.name.clone(), StripKind::Track))
                .collect();
            list.extend(
                p.buses
                    .iter()
                    .map(|b| (b.id.clone(), b.name.clone(), StripKind::Bus)),
            );
            list
        })
    });
    let scroll_left = RwSignal::new(0.0_f64);
    let in_view = Memo::new(move |_| {
        let width = web_sys::window()
            .and_then(|w| w.inner_width().ok())
            .and_then(|w| w.as_f64())
            .unwrap_or(1920.0);
        strip_window(scroll_left.get(), width, strips.with(Vec::len))
    });
    let shown = move || {
        let range = in_view.get();
        strips.with(|list| list[range.start.min(list.len())..range.end.min(list.len())].to_vec())
    };
    let _ = window_event_listener(leptos::ev::resize, move |_| scroll_left.notify());
    let add_bus = move || {
        let count = ws
            .project
            .with_untracked(|p| p.as_ref().map_or(0, |p| p.buses.len()));
        project::edit(|p, txn| p.add_bus(txn, &format!("Bus {}", count + 1)));
    };
    let open = RwSignal::new(true);
    let strips_ref: NodeRef<leptos::html::Div> = NodeRef::new();
    let height = RwSignal::new(stored_mixer_height());
    // Pointer y and strips height where a resize began.
    let resizing = StoredValue::new(None::<(f64, f64)>);
    view! {
        <section class="mixer" class:collapsed=move || !open.get() aria-label="Mixer">
            // The edge between arrange and mixer: drag to give either more
            // room (kept for this browser); double-click for the default.
            <div
                class="mixer-resize"
                role="separator"
                aria-orientation="horizontal"
                title="Drag to resize the mixer; double-click to reset"
                on:pointerdown=move |e: web_sys::PointerEvent| {
                    let Some(strips) = strips_ref.get_untracked() else { return };
                    e.prevent_default();
                    if let Some(handle) = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
                        let _ = handle.set_pointer_capture(e.pointer_id());
                    }
                    resizing.set_value(Some((f64::from(e.client_y()), strips.get_bounding_client_rect().height())));
                }
                on:pointermove=move |e: web_sys::PointerEvent| {
                    if let Some((y0, h0)) = resizing.get_value() {
                        let most = web_sys::window()
                            .and_then(|w| w.inner_height().ok())
                            .and_then(|h| h.as_f64())
                            .map_or(600.0, |h| h * 0.75);
                        height.set(Some((h0 + y0 - f64::from(e.client_y())).clamp(MIXER_MIN_PX, most.max(MIXER_MIN_PX))));
                    }
                }
                on:pointerup=move |_| {
                    if resizing.get_value().is_some() {
                        resizing.set_value(None);
                        store_mixer_height(height.get_untracked());
                    }
                }
                on:dblclick=move |_| {
                    height.set(None);
                    store_mixer_height(None);
                }
            ></div>
            <div class="mixer-toolbar">
                <h2>"Mixer"</h2>
                <button class="add-bus" disabled=move || !ws.can_edit() on:click=move |_| add_bus()>"+ Bus"</button>
                <button class="mixer-toggle" on:click=move |_| open.update(|o| *o = !*o) title="Show or hide the mixer">
                    {move || if open.get() { "▾ Hide" } else { "▴ Show" }}
                </button>
            </div>
            <div
                class="mixer-strips"
                node_ref=strips_ref
                style=move || {
                    let height = height.get().map(|h| format!("height:{h:.0}px;")).unwrap_or_default();
                    format!("{height}--strip-width:{STRIP_WIDTH_PX}px;--strip-gap:{STRIP_GAP_PX}px")
                }
                on:scroll=move |_| {
                    if let Some(el) = strips_ref.get_untracked() {
                        scroll_left.set(f64::from(el.scroll_left()));
                    }
                }
            >
                // Only the strips in view (and a few either side) are
                // mounted; spacers keep the others' room, so the scroll
                // range is the whole console's. (At 64 tracks, all strips
                // mounted held frames at p95 33 ms while dragging or playing.)
                <div class="strip-spacer" style:width=move || format!("{}px", in_view.get().start as f64 * STRIP_PITCH_PX)></div>
                // Strips stay mounted while their values change (a fader
                // being dragged must not be redrawn under the pointer).
                <For
                    each=shown
                    key=|strip| strip.clone()
                    children=move |(id, name, kind)| view! { <MixerStrip id=id name=name kind=kind /> }
                />
                <div
                    class="strip-spacer"
                    style:width=move || {
                        let after = strips.with(Vec::len).saturating_sub(in_view.get().end);
                        format!("{}px", after as f64 * STRIP_PITCH_PX)
                    }
                ></div>
                <MixerStrip id=MASTER.to_string() name="Master".to_string() kind=StripKind::Master />
            </div>
        </section>
    }
}

/// Strips sit at a fixed pitch (the stylesheet reads these through
/// `--strip-width` and `--strip-gap`), so which are in view is arithmetic.
const STRIP_WIDTH_PX: f64 = 120.0;
const STRIP_GAP_PX: f64 = 6.0;
const STRIP_PITCH_PX: f64 = STRIP_WIDTH_PX + STRIP_GAP_PX;
/// Strips mounted beyond each edge of the view, so a short scroll shows
/// strips that are already there.
const STRIP_OVERSCAN: usize = 2;

/// The strips (by index among `count`) that a mixer scrolled to
/// `scroll_left` and at most `width` wide shows, with the overscan.
fn strip_window(scroll_left: f64, width: f64, count: usize) -> std::ops::Range<usize> {
    let first = (scroll_left.max(0.0) / STRIP_PITCH_PX).floor() as usize;
    let last = ((scroll_left.max(0.0) + width.max(0.0)) / STRIP_PITCH_PX).ceil() as usize;
    first.saturating_sub(STRIP_OVERSCAN).min(count)..(last + STRIP_OVERSCAN).min(count)
}

/// The shortest the strips may be dragged: a fader and its readout.
const MIXER_MIN_PX: f64 = 150.0;
const MIXER_HEIGHT_KEY: &str = "stemroom.mixerHeight";

/// The mixer height this browser's user chose; `None`: the stylesheet's.
fn stored_mixer_height() -> Option<f64> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(MIXER_HEIGHT_KEY)
        .ok()??
        .parse::<f64>()
        .ok()
        .filter(|h| h.is_finite() && *h >= MIXER_MIN_PX)
}

fn store_mixer_height(height: Option<f64>) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = match height {
            Some(h) => storage.set_item(MIXER_HEIGHT_KEY, &format!("{h:.0}")),
            None => storage.remove_item(MIXER_HEIGHT_KEY),
        };
    }
}

#[component]
fn MixerStrip(id: String, name: String, kind: StripKind) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let ui = ws.ui;
    let read = {
        let id = id.clone();
        Memo::new(move |_| {
            ws.project.with(|p| {
                let p = p.as_ref()?;
                let (strip, meter) = match kind {
                    StripKind::Master => (p.master.clone(), p.tracks.len() + p.buses.len()),
                    StripKind::Track => {
                        let i = p.tracks.iter().position(|t| t.id == id)?;
                        (p.tracks[i].strip.clone(), i)
                    }
                    StripKind::Bus => {
                        let i = p.buses.iter().position(|b| b.id == id)?;
                        (p.buses[i].strip.clone(), p.tracks.len() + i)
                    }
                };
                Some(StripView {
                    strip,
                    devices: p
                        .devices
                        .iter()
                        .filter(|d| d.strip == id)
                        .cloned()
                        .collect(),
                    sends: p.sends.iter().filter(|s| s.from == id).cloned().collect(),
                    buses: p
                        .buses
                        .iter()
                        .filter(|b| b.id != id)
                        .map(|b| (b.id.clone(), b.name.clone()))
                        .collect(),
                    meter,
                })
            })
        })
    };
    let strip = move || read.with(|s| s.as_ref().map(|s| s.strip.clone()));
    let static_gain = move || strip().map_or(0.0, |s| s.gain_db);
    // What the fader shows: the ride, or the curve while playing, or its setting.
    let gain = {
        let id = id.clone();
        Memo::new(move |_| super::automation::shown(ws, &id, &LaneTarget::Gain, static_gain()))
    };
    let pan = {
        let id = id.clone();
        Memo::new(move |_| {
            let setting = strip().map_or(0.0, |s| s.pan);
            super::automation::shown(ws, &id, &LaneTarget::Pan, setting)
        })
    };
    let mode_id = id.clone();
    let write_mode = Memo::new(move |_| {
        crate::ride::revision();
        crate::ride::mode(&mode_id)
    });
    let meter = Memo::new(move |_| read.with(|s| s.as_ref().map(|s| s.meter)));
    let gain_reduction = ui.readout(move |_, strips| {
        meter
            .get()
            .and_then(|i| strips.get(i))
            .map_or(0.0, |r| r.gain_reduction_db)
    });
    let master = kind == StripKind::Master;
    let (fader_id, pan_id, mute_id, solo_id, out_id, name_id, delete_id) = (
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
    );
    let (inserts_id, sends_id) = (id.clone(), id.clone());
    view! {
        <div class="strip" data-strip=id.clone() class:master=master class:bus=kind == StripKind::Bus>
            {if kind == StripKind::Bus {
                view! {
                    <div class="strip-head">
                        <FieldInput class="strip-name bus-name" label="Bus name" table="buses" id=name_id field="name" value=name.clone() />
                        <DeleteButton class="bus-delete" title="Delete bus" table="buses" id=delete_id />
                    </div>
                }
                .into_any()
            } else if kind == StripKind::Track {
                view! {
                    <div class="strip-head">
                        <span class="strip-name">{name.clone()}</span>
                        <super::record::ArmButton track=id.clone() />
                    </div>
                }
                .into_any()
            } else {
                view! { <span class="strip-name">{name.clone()}</span> }.into_any()
            }}
            // Inserts, sends and output (the master: loudness) scroll inside
            // the strip when the mixer is short: the fader stays in view, as
            // on a console.
            <div class="strip-routing">
                <Inserts strip=inserts_id read=read />
                {master.then(|| view! { <Loudness /> <Delivery /> })}
                <Show when=move || !master>
                    <Sends strip=sends_id.clone() read=read />
                    {
                        let out_id = out_id.clone();
                        view! {
                        <select
                            class="strip-output"
                            aria-label="Output"
                            disabled=move || !ws.can_edit()
                            prop:value=move || strip().map(|s| s.output).unwrap_or_default()
                            on:change=move |e| {
                                let value = event_target_value(&e);
                                project::edit(|p, txn| p.set_output(txn, &out_id, &value));
                            }
                        >
                            <option value=MASTER>"→ Master"</option>
                            {move || {
                                read.with(|s| s.as_ref().map(|s| s.buses.clone()).unwrap_or_default())
                                    .into_iter()
                                    .map(|(bus, name)| view! { <option value=bus>{format!("→ {name}")}</option> })
                                    .collect_view()
                            }}
                        </select>
                        }
                    }
                </Show>
            </div>
            <Show when=move || !master>
                <div class="strip-controls">
                <input
                    type="range"
                    class="pan"
                    aria-label="Pan"
                    title="Pan (right-click: show automation)"
                    on:contextmenu={
                        let id = pan_id.clone();
                        move |e: web_sys::MouseEvent| {
                            e.prevent_default();
                            super::automation::show_lane(ws, &id, LaneTarget::Pan);
                        }
                    }
                    min="-1"
                    max="1"
                    step="0.01"
                    prop:value=move || pan.get().to_string()
                    disabled=move || !ws.can_edit()
                    on:pointerdown=move |_| project::begin_step()
                    on:dblclick={
                        let pan_id = pan_id.clone();
                        move |_| {
                            project::edit(|p, txn| p.set_strip(txn, &pan_id, "pan", 0.0));
                        }
                    }
                    on:input={
                        let pan_id = pan_id.clone();
                        move |e| {
                            if let Ok(pan) = event_target_value(&e).parse::<f64>() {
                                let pan = pan.clamp(-1.0, 1.0);
                                super::automation::control_moved(ws, &pan_id, &LaneTarget::Pan, pan, (-1.0, 1.0), || {
                                    project::gesture(|p, txn| p.set_strip(txn, &pan_id, "pan", pan));
                                });
                            }
                        }
                    }
                    on:change={
                        let pan_id = pan_id.clone();
                        move |_| super::automation::control_released(ws, &pan_id, &LaneTarget::Pan)
                    }
                />
                    <button
                        class="strip-mute"
                        class:active=move || strip().is_some_and(|s| s.mute)
                        disabled=move || !ws.can_edit()
                        on:click={
                            let mute_id = mute_id.clone();
                            move |_| {
                                let on = !strip().is_some_and(|s| s.mute);
                                project::edit(|p, txn| p.set_strip(txn, &mute_id, "mute", on));
                            }
                        }
                    >
                        "M"
                    </button>
                    <button
                        class="strip-solo"
                        class:active=move || strip().is_some_and(|s| s.solo)
                        disabled=move || !ws.can_edit()
                        on:click={
                            let solo_id = solo_id.clone();
                            move |_| {
                                let on = !strip().is_some_and(|s| s.solo);
                                project::edit(|p, txn| p.set_strip(txn, &solo_id, "solo", on));
                            }
                        }
                    >
                        "S"
                    </button>
                </div>
            </Show>
            <div class="strip-fader">
                <input
                    type="range"
                    class="fader"
                    aria-label="Fader (dB)"
                    title="Fader (right-click: show automation)"
                    on:contextmenu={
                        let id = fader_id.clone();
                        move |e: web_sys::MouseEvent| {
                            e.prevent_default();
                            super::automation::show_lane(ws, &id, LaneTarget::Gain);
                        }
                    }
                    min="-60"
                    max="6"
                    step="0.1"
                    prop:value=move || gain.get().max(-60.0).to_string()
                    disabled=move || !ws.can_edit()
                    on:pointerdown=move |_| project::begin_step()
                    on:dblclick={
                        let fader_id = fader_id.clone();
                        move |_| {
                            project::edit(|p, txn| p.set_strip(txn, &fader_id, "gainDb", 0.0));
                        }
                    }
                    on:input={
                        let fader_id = fader_id.clone();
                        move |e| {
                            if let Ok(db) = event_target_value(&e).parse::<f64>() {
                                let db = db.clamp(-144.0, 24.0);
                                super::automation::control_moved(ws, &fader_id, &LaneTarget::Gain, db, (-144.0, 24.0), || {
                                    project::gesture(|p, txn| p.set_strip(txn, &fader_id, "gainDb", db));
                                });
                            }
                        }
                    }
                    on:change={
                        let fader_id = fader_id.clone();
                        move |_| super::automation::control_released(ws, &fader_id, &LaneTarget::Gain)
                    }
                />
                <StripMeter meter=meter />
            </div>
            <div class="strip-readouts">
                <select
                    class="automation-mode"
                    title="Automation: Off, Read, Touch, Latch, Write (yours only)"
                    aria-label="Automation mode"
                    disabled=move || !ws.can_edit()
                    data-mode=move || write_mode.get().as_str()
                    prop:value=move || write_mode.get().as_str()
                    on:change={
                        let id = id.clone();
                        move |e| {
                            if let Some(mode) = crate::ride::WriteMode::parse(&event_target_value(&e)) {
                                crate::ride::set_mode(&id, mode);
                                sync_engine(ws.ui);
                            }
                        }
                    }
                >
                    {crate::ride::WriteMode::ALL
                        .into_iter()
                        .map(|m| view! { <option value=m.as_str()>{m.label()}</option> })
                        .collect_view()}
                </select>
                <output class="fader-db">{move || format!("{:+.1} dB", gain.get())}</output>
                <output class="strip-gr" title="Gain reduction">
                    {move || {
                        let gr = gain_reduction.get();
                        if gr < -0.05 { format!("GR {gr:.1}") } else { String::new() }
                    }}
                </output>
            </div>
        </div>
    }
}

/// A strip's vertical meter: RMS bar and peak line, post-fader, from the
/// engine's strip meter number `meter`.
#[component]
fn StripMeter(meter: Memo<Option<usize>>) -> impl IntoView {
    let ui = expect_context::<EngineUi>();
    // Every frame, but only strips whose reading changed touch the DOM.
    let reading = Memo::new(move |_| {
        meter
            .get()
            .and_then(|i| ui.strips.with(|m| m.get(i).copied()))
            .unwrap_or_default()
    });
    let peak_db = ui.readout(move |_, strips| {
        let peak = meter
            .get()
            .and_then(|i| strips.get(i))
            .map_or(0.0, |r| r.peak);
        amplitude_to_db(peak).max(-200.0)
    });
    view! {
        <div class="strip-meter" data-peak-db=move || format!("{:.1}", peak_db.get())>
            // Translations only: a meter moving every frame must not lay
            // out or repaint the mixer, and the compositor moves a
            // translated layer without the page's help. The scale is drawn
            // once; a cover slides up to reveal it up to the RMS level.
            // Percents of their own height, which is the meter's: the
            // meter grows with the mixer.
            <div class="strip-meter-rms" style:transform=move || format!("translateY({:.1}%)", -meter_percent(reading.get().rms))></div>
            <div class="strip-meter-peak" style:transform=move || format!("translateY(calc({:.1}% - 2px))", 100.0 - meter_percent(reading.get().peak))></div>
        </div>
    }
}

/// A strip's insert chain: open, bypass, move up, remove; add from a menu.
#[component]
fn Inserts(strip: String, read: Memo<Option<StripView>>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let devices = move || read.with(|s| s.as_ref().map(|s| s.devices.clone()).unwrap_or_default());
    let add_to = strip.clone();
    let chain = move || devices().into_iter().enumerate().collect::<Vec<_>>();
    view! {
        <div class="inserts" aria-label="Inserts">
            <For
                each=chain
                key=|(i, d)| (*i, d.id.clone(), d.bypass, d.order.clone())
                children=move |(index, d)| {
                    let (open_id, bypass_id, up_id, remove_id) = (d.id.clone(), d.id.clone(), d.id.clone(), d.id.clone());
                    let bypass = d.bypass;
                    let selected = d.id.clone();
                    view! {
                        <div class="insert" class:bypassed=bypass data-device-kind=stemroom_model::project::kind_name(d.kind)>
                            <button
                                class="insert-open"
                                class:active=move || ws.device.get().as_deref() == Some(selected.as_str())
                                on:click=move |_| ws.device.set(Some(open_id.clone()))
                            >
                                {device_label(d.kind)}
                            </button>
                            <button
                                class="insert-bypass"
                                class:active=!bypass
                                title=if bypass { "Bypassed: click to enable" } else { "On: click to bypass" }
                                disabled=move || !ws.can_edit()
                                on:click=move |_| {
                                    project::edit(|p, txn| p.set(txn, "devices", &bypass_id, "bypass", !bypass));
                                }
                            >
                                "●"
                            </button>
                            <button
                                class="insert-up"
                                title="Move up the chain"
                                disabled=move || !ws.can_edit() || index == 0
                                on:click=move |_| {
                                    let chain = devices();
                                    if index == 0 {
                                        return;
                                    }
                                    let after = index.checked_sub(2).map(|i| chain[i].order.clone());
                                    let before = chain[index - 1].order.clone();
                                    project::edit(|p, txn| p.move_device(txn, &up_id, after.as_deref(), Some(&before)));
                                }
                            >
                                "▲"
                            </button>
                            <DeleteButton class="insert-remove" title="Remove" table="devices" id=remove_id />
                        </div>
                    }
                }
            />
            <select
                class="insert-add"
                aria-label="Add an insert"
                disabled=move || !ws.can_edit()
                on:change=move |e| {
                    let choice = event_target_value(&e);
                    let input: web_sys::HtmlSelectElement = event_target(&e);
                    input.set_value("");
                    let Some((kind, _)) = DEVICE_MENU.iter().find(|(_, n)| *n == choice) else { return };
                    if let Some(id) = project::edit(|p, txn| p.add_device(txn, &add_to, *kind)) {
                        ws.device.set(Some(id));
                    }
                }
            >
                <option value="">"+ Insert"</option>
                {DEVICE_MENU.iter().map(|(_, name)| view! { <option value=*name>{*name}</option> }).collect_view()}
            </select>
        </div>
    }
}

/// A strip's sends: level per bus, remove; add from the buses.
#[component]
fn Sends(strip: String, read: Memo<Option<StripView>>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let sends = move || read.with(|s| s.as_ref().map(|s| s.sends.clone()).unwrap_or_default());
    let bus_name = move |bus: &str| {
        read.with(|s| {
            s.as_ref()
                .and_then(|s| {
                    s.buses
                        .iter()
                        .find(|(id, _)| id == bus)
                        .map(|(_, n)| n.clone())
                })
                .unwrap_or_default()
        })
    };
    let from = strip.clone();
    let owner = strip.clone();
    view! {
        <div class="sends" aria-label="Sends">
            <For
                each=sends
                key=|s: &Send| (s.id.clone(), s.bus.clone())
                children=move |s: Send| {
                    let (level_id, remove_id, shown_id) = (s.id.clone(), s.id.clone(), s.id.clone());
                    let level = {
                        let (from, target) = (owner.clone(), LaneTarget::Send { send: s.id.clone() });
                        Memo::new(move |_| {
                            let setting = read.with(|v| {
                                v.as_ref()
                                    .and_then(|v| v.sends.iter().find(|x| x.id == shown_id).map(|x| x.level_db))
                                    .unwrap_or(0.0)
                            });
                            super::automation::shown(ws, &from, &target, setting)
                        })
                    };
                    view! {
                        <div class="send">
                            <span class="send-bus">{bus_name(&s.bus)}</span>
                            <input
                                type="range"
                                class="send-level"
                                aria-label="Send level (dB)"
                                min="-60"
                                max="6"
                                step="0.1"
                                prop:value=move || level.get().max(-60.0).to_string()
                                disabled=move || !ws.can_edit()
                                on:pointerdown=move |_| project::begin_step()
                                on:contextmenu={
                                    let (from, send) = (owner.clone(), s.id.clone());
                                    move |e: web_sys::MouseEvent| {
                                        e.prevent_default();
                                        super::automation::show_lane(ws, &from, LaneTarget::Send { send: send.clone() });
                                    }
                                }
                                on:input={
                                    let (from, send) = (owner.clone(), s.id.clone());
                                    move |e| {
                                        if let Ok(db) = event_target_value(&e).parse::<f64>() {
                                            let db = db.clamp(-144.0, 24.0);
                                            let target = LaneTarget::Send { send: send.clone() };
                                            super::automation::control_moved(ws, &from, &target, db, (-144.0, 24.0), || {
                                                project::gesture(|p, txn| p.set(txn, "sends", &level_id, "levelDb", db));
                                            });
                                        }
                                    }
                                }
                                on:change={
                                    let (from, send) = (owner.clone(), s.id.clone());
                                    move |_| super::automation::control_released(ws, &from, &LaneTarget::Send { send: send.clone() })
                                }
                            />
                            <output class="send-db">{move || format!("{:+.0}", level.get())}</output>
                            <DeleteButton class="send-remove" title="Remove send" table="sends" id=remove_id />
                        </div>
                    }
                }
            />
            <select
                class="send-add"
                aria-label="Add a send"
                disabled=move || !ws.can_edit()
                on:change=move |e| {
                    let bus = event_target_value(&e);
                    let input: web_sys::HtmlSelectElement = event_target(&e);
                    input.set_value("");
                    if !bus.is_empty() {
                        project::edit(|p, txn| p.add_send(txn, &from, &bus, -12.0, false));
                    }
                }
            >
                <option value="">"+ Send"</option>
                {move || {
                    read.with(|s| s.as_ref().map(|s| s.buses.clone()).unwrap_or_default())
                        .into_iter()
                        .map(|(bus, name)| view! { <option value=bus>{name}</option> })
                        .collect_view()
                }}
            </select>
        </div>
    }
}

/// The master's loudness: momentary, short-term and integrated LUFS,
/// loudness range and true peak, as the engine measures them.
#[component]
fn Loudness() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let ui = ws.ui;
    let lufs = |v: f32| {
        if v.is_finite() && v > -70.0 {
            format!("{v:.1}")
        } else {
            "−∞".to_string()
        }
    };
    let m = ui.readout(|m, _| *m);
    let m = move || m.get();
    let running = move || ui.state.get() == EngineState::Running;
    let lufs = move |v: f32| {
        if running() {
            lufs(v)
        } else {
            "—".to_string()
        }
    };
    view! {
        <dl class="loudness" aria-label="Loudness">
            <dt>"M"</dt><dd class="loudness-momentary">{move || lufs(m().momentary_lufs)}</dd>
            <dt>"S"</dt><dd class="loudness-short">{move || lufs(m().short_term_lufs)}</dd>
            <dt>"I"</dt><dd class="loudness-integrated">{move || lufs(m().integrated_lufs)}</dd>
            <dt>"LRA"</dt><dd class="loudness-range">{move || if running() { format!("{:.1}", m().range_lu) } else { "—".to_string() }}</dd>
            <dt>"TP"</dt>
            <dd class="loudness-true-peak" class:over={move || running() && m().true_peak_dbtp > -1.0}>{move || lufs(m().true_peak_dbtp)}</dd>
        </dl>
        <button class="loudness-reset" title="Start a new loudness measurement" on:click=move |_| ui.send(Command::ResetLoudness)>
            "Reset"
        </button>
    }
}

/// The master's delivery view: the project's loudness target (in the
/// document, so the whole team works to it) and the gap to it, live; and
/// "preview as streamed": this listener hears the mix with the gain the
/// chosen platform's normalisation would apply, after every meter.
#[component]
fn Delivery() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let ui = ws.ui;
    let target = Memo::new(move |_| {
        ws.project
            .with(|p| p.as_ref().and_then(|p| p.meta.loudness_target))
    });
    let target_value = move || match target.get() {
        None => "none",
        Some((integrated_lufs, ceiling_dbtp)) => LoudnessTarget {
            integrated_lufs,
            ceiling_dbtp,
        }
        .preset_key()
        .unwrap_or("custom"),
    };
    let m = ui.readout(|m, _| (m.short_term_lufs, m.integrated_lufs, m.true_peak_dbtp));
    let running = move || ui.state.get() == EngineState::Running;
    let gap = move || {
        let (lufs, _) = target.get()?;
        let (short, integrated, _) = m.get();
        let show = |v: f32| {
            if running() && v.is_finite() && v > -70.0 {
                format!("{:+.1}", f64::from(v) - lufs)
            } else {
                "—".to_string()
            }
        };
        Some(format!("S {} · I {} LU", show(short), show(integrated)))
    };
    let preview = RwSignal::new("off".to_string());
    // The platform's gain for the mix as measured so far.
    let preview_gain = Memo::new(move |_| {
        let platform = preview.get();
        if platform == "off" || !running() {
            return None;
        }
        let (_, integrated, true_peak) = m.get();
        if !integrated.is_finite() || integrated < -70.0 {
            return Some(0.0);
        }
        platform_gains(f64::from(integrated), f64::from(true_peak))
            .into_iter()
            .find(|p| p.platform == platform)
            .map(|p| p.gain_db)
    });
    Effect::new(move |_| ui.set_listening_gain_db(preview_gain.get().unwrap_or(0.0)));
    view! {
        <div class="delivery" aria-label="Delivery">
            <label title="The loudness the team delivers at: export starts from it">
                "Target "
                <select
                    class="loudness-target"
                    prop:value=target_value
                    disabled=move || !ws.can_edit()
                    on:change=move |e| {
                        let chosen = event_target_value(&e);
                        let value = LoudnessTarget::preset(&chosen).map(|t| (t.integrated_lufs, t.ceiling_dbtp));
                        if chosen != "custom" {
                            project::edit(|p, txn| p.set_loudness_target(txn, value));
                        }
                    }
                >
                    <option value="none">"None"</option>
                    {TARGET_PRESETS.iter().map(|p| view! { <option value=p.0>{p.1}</option> }).collect_view()}
                    <option value="custom" disabled=true>"Custom"</option>
                </select>
            </label>
            <span class="target-gap" title="Short-term and integrated loudness against the target">{gap}</span>
            <label title="Hear the mix as a streaming platform will play it (only you hear this)">
                "Preview "
                <select class="stream-preview" prop:value=move || preview.get() on:change=move |e| preview.set(event_target_value(&e))>
                    <option value="off">"Off"</option>
                    {platform_names().map(|p| view! { <option value=p>{p}</option> }).collect_view()}
                </select>
            </label>
            <span class="preview-gain">{move || preview_gain.get().map(|g| format!("{g:+.1} dB")).unwrap_or_default()}</span>
        </div>
    }
}
