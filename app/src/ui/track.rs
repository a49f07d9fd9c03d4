//! A track's row in the arrange view: its header (grip, colour, name,
//! mute, solo, delete), its lane (the canvas with clip bodies, waveforms
//! and the grid, and a box per clip near the view for its handles), and
//! the automation lanes under it.

use std::collections::HashMap;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use stemroom_model::project::{Clip, Track};
use wasm_bindgen::JsCast;

use super::arrange::{ClipDrag, Drag, HEADER_W, ROW_H, View};
use super::automation::{ShowAutomation, StripLanes};
use super::canvas::{LaneDrawing, draw_lane, prepare};
use super::workspace::{FieldInput, Workspace};
use crate::project;
use crate::project::TRACK_COLOURS;

#[component]
pub(super) fn TrackRow(
    index: usize,
    track: Track,
    tops: Memo<Vec<f64>>,
    lanes: Memo<HashMap<String, Arc<Vec<Clip>>>>,
    span: Memo<(f64, f64)>,
    band: Memo<(f64, f64)>,
    view: RwSignal<View>,
    timeline_px: Memo<f64>,
    drag: RwSignal<Option<Drag>>,
    track_offset: RwSignal<f64>,
) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let id = track.id.clone();
    let color = if track.color.is_empty() {
        TRACK_COLOURS[index % TRACK_COLOURS.len()].to_string()
    } else {
        track.color.clone()
    };
    let clips = {
        let id = id.clone();
        Memo::new_with_compare(
            move |_| lanes.with(|l| l.get(&id).cloned().unwrap_or_default()),
            |a, b| {
                !matches!((a, b), (Some(a), Some(b))
                    if Arc::ptr_eq(a, b) || a.is_empty() && b.is_empty())
            },
        )
    };
    // Rows in the drawn band get canvases and clip boxes; the others wait
    // until scrolled to.
    let near = Memo::new(move |_| {
        let (top, bottom) = band.get();
        let (y, end) = tops.with(|t| {
            (
                t.get(index).copied().unwrap_or(0.0),
                t.get(index + 1).copied().unwrap_or(0.0),
            )
        });
        end >= top && y <= bottom
    });
    // The span of the timeline this row draws and has clip boxes for: the
    // band's while the row is near the view. A row on screen whose drawing
    // no longer covers the view takes a new span at once; the others (rows
    // a screen away, or whose drawing still covers the view) wait their
    // turn, a few rows a frame, so crossing into the next screen never
    // redraws every row in one frame.
    let wanted = Memo::new(move |_| near.get().then(|| span.get()));
    let shown = RwSignal::new(wanted.get_untracked());
    let queued = StoredValue::new(false);
    Effect::new(move |_| {
        let want = wanted.get();
        let now = shown.get_untracked();
        if want == now {
            return;
        }
        let v = view.get_untracked();
        let (y, end) = tops.with_untracked(|t| {
            (
                t.get(index).copied().unwrap_or(0.0),
                t.get(index + 1).copied().unwrap_or(0.0),
            )
        });
        let on_screen = end + ROW_H >= v.y && y <= v.y + v.height;
        let covers = now.is_some_and(|(x0, w)| x0 <= v.x && v.x + v.width - HEADER_W <= x0 + w);
        if on_screen && !covers {
            shown.set(want);
        } else if !queued.get_value() {
            queued.set_value(true);
            super::deferred::queue(move || {
                // The row may be gone by now.
                let _ = queued.try_set_value(false);
                if let Some(want) = wanted.try_get_untracked() {
                    let _ = shown.try_set(want);
                }
            });
        }
    });
    // The clips that get DOM boxes: those in the shown span.
    let boxes = move || {
        let Some((x0, width)) = shown.get() else {
            return Vec::new();
        };
        let ppf = ws.px_per_frame();
        let (from, to) = ((x0 / ppf) as u64, ((x0 + width) / ppf) as u64);
        clips.with(|c| {
            c.iter()
                .filter(|c| c.start < to && c.start + c.length > from)
                .cloned()
                .collect::<Vec<_>>()
        })
    };

    let canvas: NodeRef<html::Canvas> = NodeRef::new();
    let color_lanes = color.clone();
    {
        let color = color.clone();
        Effect::new(move |_| {
            let Some(canvas) = canvas.get() else { return };
            let Some((x, width)) = shown.get() else {
                return;
            };
            ws.audio.get();
            let tempo = ws.tempo();
            let lane = LaneDrawing {
                ppf: ws.px_per_frame(),
                x0: x,
                width,
                loop_range: ws.looping.get().then(|| ws.loop_range.get()),
            };
            if let Some(ctx) = prepare(&canvas, width, ROW_H - 1.0) {
                let drawn = clips.with(|c| draw_lane(&ctx, &lane, &tempo, c, &color));
                // How many clips show their waveform: what tests wait for.
                let _ = canvas.set_attribute("data-waveforms", &drawn.to_string());
            }
        });
    }

    let (rename, mute_id, solo_id, delete, color_id, grip_id) = (
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
    );
    let (muted, soloed) = (track.strip.mute, track.strip.solo);
    let dragging_me = {
        let id = id.clone();
        move || matches!(drag.get(), Some(Drag::Track { id: ref d, .. }) if *d == id)
    };
    let offset_me = dragging_me.clone();
    view! {
        <div
            class="track"
            data-track-id=id.clone()
            class:reordering=dragging_me.clone()
            style=move || {
                if offset_me() { format!("transform:translateY({:.0}px)", track_offset.get()) } else { String::new() }
            }
        >
            <div class="track-main">
            <div class="track-header" style=format!("--track-colour:{color}")>
                <span
                    class="track-grip"
                    title="Drag to reorder"
                    on:pointerdown=move |e: web_sys::PointerEvent| {
                        if !ws.can_edit() {
                            return;
                        }
                        e.prevent_default();
                        track_offset.set(0.0);
                        drag.set(Some(Drag::Track { id: grip_id.clone(), y0: f64::from(e.client_y()) }));
                    }
                >
                    "⋮⋮"
                </span>
                <FieldInput kind="color" class="track-colour" label="Track colour" table="tracks" id=color_id field="color" value=color.clone() />
                <FieldInput class="track-name" label="Track name" table="tracks" id=rename field="name" value=track.name.clone() />
                <button
                    class="track-mute"
                    class:active=muted
                    title="Mute (M)"
                    disabled=move || !ws.can_edit()
                    on:click=move |_| {
                        project::edit(|p, txn| p.set_track_mute(txn, &mute_id, !muted));
                    }
                >
                    "M"
                </button>
                <button
                    class="track-solo"
                    class:active=soloed
                    title="Solo"
                    disabled=move || !ws.can_edit()
                    on:click=move |_| {
                        project::edit(|p, txn| p.set_strip(txn, &solo_id, "solo", !soloed));
                    }
                >
                    "S"
                </button>
                <ShowAutomation strip=id.clone() />
                <button
                    class="track-delete"
                    title="Delete track"
                    disabled=move || !ws.can_edit()
                    on:click=move |_| {
                        project::edit(|p, txn| p.delete_track(txn, &delete));
                    }
                >
                    "✕"
                </button>
                <super::record::TrackInput track=id.clone() />
            </div>
            <div
                class="track-lane"
                style=move || format!("width:{:.0}px", timeline_px.get())
                on:pointerdown=move |e: web_sys::PointerEvent| {
                    // A click on the lane itself (not a clip) moves the cursor.
                    let on_lane = e
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                        .is_some_and(|el| el.tag_name() == "CANVAS" || el.class_list().contains("track-lane"));
                    if !on_lane {
                        return;
                    }
                    let Some(lane) = e.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
                    let x = f64::from(e.client_x()) - lane.get_bounding_client_rect().left();
                    let frame = (x.max(0.0) / ws.px_per_frame_untracked()) as u64;
                    ws.selected.set(None);
                    ws.seek(ws.snapped(frame));
                }
            >
                // Only rows near the view hold a canvas: one scrolled far
                // away gives its pixels back.
                <Show when=move || shown.with(Option::is_some)>
                    <canvas class="lane-canvas" node_ref=canvas style:left=move || format!("{:.0}px", shown.get().map_or(0.0, |s| s.0))></canvas>
                </Show>
                <For
                    each=boxes
                    key=|c: &Clip| (c.id.clone(), c.start, c.length, c.offset, c.fade_in.frames, c.fade_out.frames, c.name.clone())
                    children=move |c: Clip| view! { <ClipBox clip=c drag=drag /> }
                />
            </div>
            </div>
            <div style=format!("--track-colour:{color_lanes}")>
                <StripLanes strip=id.clone() span=span timeline_px=timeline_px />
            </div>
        </div>
    }
}

/// A clip's box over the lane canvas: selection, handles, name.
#[component]
fn ClipBox(clip: Clip, drag: RwSignal<Option<Drag>>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let begin = move |kind: ClipDrag, clip: Clip| {
        move |e: web_sys::PointerEvent| {
            e.stop_propagation();
            e.prevent_default();
            ws.selected.set(Some(clip.id.clone()));
            ws.lanes.selection.set(None);
            if !ws.can_edit() {
                return;
            }
            project::begin_step();
            drag.set(Some(Drag::Clip {
                kind,
                x0: f64::from(e.client_x()),
                y0: f64::from(e.client_y()),
                clip: clip.clone(),
            }));
        }
    };
    let c = clip.clone();
    let id = c.id.clone();
    let (start, length, fade_in, fade_out) =
        (c.start, c.length, c.fade_in.frames, c.fade_out.frames);
    let name = if c.name.is_empty() {
        "clip".to_string()
    } else {
        c.name.clone()
    };
    view! {
        <div
            class="clip"
            class:selected={
                let id = id.clone();
                move || ws.selected.get().as_deref() == Some(id.as_str())
            }
            data-clip-id=c.id.clone()
            class:remote-selected={
                let id = id.clone();
                move || super::presence::selected_by(ws, &id).is_some()
            }
            style={
                let id = id.clone();
                move || {
                    let ppf = ws.px_per_frame();
                    // Someone else's selection shows in their colour.
                    let peer = super::presence::selected_by(ws, &id)
                        .map(|c| format!(";--peer:{c}"))
                        .unwrap_or_default();
                    format!("left:{:.1}px;width:{:.1}px{peer}", start as f64 * ppf, (length as f64 * ppf).max(2.0))
                }
            }
            on:pointerdown=begin(ClipDrag::Move, c.clone())
        >
            <div class="clip-trim clip-trim-start" on:pointerdown=begin(ClipDrag::TrimStart, c.clone())></div>
            <div class="clip-trim clip-trim-end" on:pointerdown=begin(ClipDrag::TrimEnd, c.clone())></div>
            <div
                class="clip-fade clip-fade-in"
                style=move || format!("left:{:.1}px", fade_in as f64 * ws.px_per_frame())
                title="Fade in"
                on:pointerdown=begin(ClipDrag::FadeIn, c.clone())
            ></div>
            <div
                class="clip-fade clip-fade-out"
                style=move || format!("right:{:.1}px", fade_out as f64 * ws.px_per_frame())
                title="Fade out"
                on:pointerdown=begin(ClipDrag::FadeOut, c.clone())
            ></div>
            <span class="clip-name">{name}</span>
        </div>
    }
}
