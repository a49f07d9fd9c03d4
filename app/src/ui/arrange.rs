//! The arrange view: ruler (bars:beats and time, loop range, markers),
//! the track rows (`track.rs`: headers, lanes with clips and their
//! waveforms, automation lanes under each strip), the playhead, and audio
//! import (`import.rs`; drawing in `canvas.rs`).
//!
//! Waveforms, clip bodies and the grid are drawn on one canvas per lane,
//! covering only the visible part of the timeline; clips also have light
//! DOM boxes for their handles, and only the clips near the visible part
//! get one, so a 64 × 50 arrangement stays fluid.

use std::collections::HashMap;
use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use stemroom_engine::project::Fade;
use stemroom_model::project::{Clip, MASTER, Marker, Track};
use wasm_bindgen::JsCast;

use super::automation::{LANE_H, ShowAutomation, StripLanes};
use super::canvas::{draw_ruler, prepare};
use super::import::{Import, import};
use super::workspace::{DeleteButton, PX_PER_SECOND, Workspace};
use crate::project;
use crate::project::TRACK_COLOURS;

/// Width of the track headers, height of a track row and of the ruler (px).
pub const HEADER_W: f64 = 232.0;
pub const ROW_H: f64 = 64.0;
pub const RULER_H: f64 = 44.0;
/// The ruler's top strip sets the loop range; below it, the playhead.
pub const LOOP_STRIP_H: f64 = 16.0;

/// What a pointer drag in the arrange view changes.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Drag {
    Clip {
        kind: ClipDrag,
        x0: f64,
        y0: f64,
        /// The clip as it was when the drag began.
        clip: Clip,
    },
    /// Scrubbing the playhead along the ruler.
    Playhead,
    /// Drawing the loop range from `anchor`.
    Loop { anchor: u64 },
    /// Reordering a track by its grip.
    Track { id: String, y0: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum ClipDrag {
    Move,
    TrimStart,
    TrimEnd,
    FadeIn,
    FadeOut,
}

/// The scroll position and size of the arrange viewport.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct View {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) width: f64,
    pub(super) height: f64,
}

#[component]
pub fn Arrange() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let ui = ws.ui;
    let imports = RwSignal::new(Vec::<Import>::new());
    let drag = RwSignal::new(None::<Drag>);
    let track_offset = RwSignal::new(0.0f64);
    let view = RwSignal::new(View {
        width: 1200.0,
        height: 480.0,
        ..View::default()
    });
    let scroller: NodeRef<html::Div> = NodeRef::new();

    let measure = move || {
        if let Some(el) = scroller.get_untracked() {
            view.set(View {
                x: f64::from(el.scroll_left()),
                y: f64::from(el.scroll_top()),
                width: f64::from(el.client_width()),
                height: f64::from(el.client_height()),
            });
        }
    };
    Effect::new(move |_| {
        if scroller.get().is_some() {
            measure();
        }
    });
    let _ = window_event_listener(leptos::ev::resize, move |_| measure());

    // The rows: a change of a fader or pan (drawn by the mixer, not here)
    // leaves them as they are.
    let tracks = Memo::new_with_compare(
        move |_| {
            ws.project
                .with(|p| p.as_ref().map(|p| p.tracks.clone()))
                .unwrap_or_default()
        },
        rows_changed,
    );
    let automation = ws.lanes;
    // Where each track's row starts (its automation lanes make it taller),
    // and the end of the last.
    let tops = Memo::new(move |_| {
        ws.project.with(|p| {
            let Some(p) = p else { return vec![0.0] };
            let mut y = 0.0;
            let mut tops = Vec::with_capacity(p.tracks.len() + 1);
            for t in &p.tracks {
                tops.push(y);
                y += ROW_H + LANE_H * automation.visible(p, &t.id).len() as f64;
            }
            tops.push(y);
            tops
        })
    });
    // Buses and the master get a row when they have lanes to show.
    let strip_rows = Memo::new(move |_| {
        ws.project.with(|p| {
            let Some(p) = p else { return Vec::new() };
            p.buses
                .iter()
                .map(|b| (b.id.clone(), b.name.clone()))
                .chain([(MASTER.to_string(), "Master".to_string())])
                .filter(|(id, _)| !automation.visible(p, id).is_empty())
                .collect::<Vec<_>>()
        })
    });
    // Each lane's clips, shared so a lane redraws only when its own change.
    // A lane whose clips are as before keeps its list (nothing cloned): a
    // change elsewhere costs a comparison per clip, not a copy.
    let grouped: StoredValue<Option<Arc<Vec<Clip>>>> = StoredValue::new(None);
    let lanes = Memo::new_with_compare(
        move |previous: Option<&HashMap<String, Arc<Vec<Clip>>>>| {
            ws.project.with(|p| {
                // The read kept the clip list: nothing to group again.
                let clips = p.as_ref().map(|p| p.clips.clone());
                let same = grouped.with_value(|g| match (g, &clips) {
                    (Some(g), Some(c)) => Arc::ptr_eq(g, c),
                    _ => false,
                });
                if let (true, Some(previous)) = (same, previous) {
                    return previous.clone();
                }
                grouped.set_value(clips);
                let mut by_track: HashMap<&str, Vec<&Clip>> = HashMap::new();
                if let Some(p) = p {
                    // Of a loop take's passes, the chosen one shows.
                    for c in p
                        .clips
                        .iter()
                        .filter(|c| c.take.as_ref().is_none_or(|t| t.active))
                    {
                        by_track.entry(c.track.as_str()).or_default().push(c);
                    }
                }
                by_track
                    .into_iter()
                    .map(|(track, clips)| {
                        let kept = previous.and_then(|m| m.get(track)).filter(|old| {
                            old.len() == clips.len() && old.iter().zip(&clips).all(|(a, b)| a == *b)
                        });
                        let list = match kept {
                            Some(old) => old.clone(),
                            None => Arc::new(clips.into_iter().cloned().collect()),
                        };
                        (track.to_string(), list)
                    })
                    .collect::<HashMap<_, _>>()
            })
        },
        lists_changed,
    );
    // The timeline's width: the song plus a screen to grow into.
    let timeline_px = Memo::new(move |_| {
        let end = ws.project.with(|p| {
            p.as_ref().map_or(0, |p| {
                let clips = p.end();
                let markers = p.markers.iter().map(|m| m.frame).max().unwrap_or(0);
                clips.max(markers)
            })
        });
        let end = end.max(ws.loop_range.get().1);
        let width = view.get().width;
        (end as f64 * ws.px_per_frame() + width).max(2.0 * width)
    });

    // Canvases and clip boxes cover a band of the timeline a screen wider
    // than the view on each side (and rows a screen above and below), in
    // whole screens: scrolling moves drawn pixels and redraws only when it
    // crosses into the next screen.
    let span = Memo::new(move |_| {
        let v = view.get();
        let page = (v.width - HEADER_W).max(100.0);
        let first = (v.x / page).floor();
        let x0 = ((first - 1.0) * page).max(0.0);
        (x0, (first + 2.0) * page - x0)
    });
    let band = Memo::new(move |_| {
        let v = view.get();
        let page = (v.height - RULER_H).max(ROW_H);
        let first = (v.y / page).floor();
        (((first - 1.0) * page).max(0.0), (first + 2.0) * page)
    });

    // Dragging follows the pointer anywhere on the page.
    let _ = window_event_listener(leptos::ev::pointermove, move |e| {
        let Some(d) = drag.get_untracked() else {
            return;
        };
        let (x, y) = (f64::from(e.client_x()), f64::from(e.client_y()));
        match d {
            Drag::Clip { kind, x0, y0, clip } => {
                let frames = (x - x0) / ws.px_per_frame_untracked();
                let from = tracks.with_untracked(|t| t.iter().position(|t| t.id == clip.track));
                let rows = from.map_or(0, |from| {
                    tops.with_untracked(|tops| rows_moved(tops, from, y - y0))
                });
                drag_clip(ws, kind, &clip, frames as i64, rows);
            }
            Drag::Playhead => {
                if let Some(frame) = ruler_frame(ws, x) {
                    ws.seek(frame);
                }
            }
            Drag::Loop { anchor } => {
                if let Some(frame) = ruler_frame(ws, x) {
                    let frame = ws.snapped(frame);
                    ws.loop_range.set((anchor.min(frame), anchor.max(frame)));
                }
            }
            Drag::Track { y0, .. } => track_offset.set(y - y0),
        }
    });
    let _ = window_event_listener(leptos::ev::pointerup, move |_| {
        if let Some(Drag::Track { id, .. }) = drag.get_untracked() {
            let from = tracks.with_untracked(|t| t.iter().position(|t| t.id == id));
            let dy = track_offset.get_untracked();
            let rows = from.map_or(0, |from| {
                tops.with_untracked(|tops| rows_moved(tops, from, dy))
            });
            reorder_track(&tracks.get_untracked(), &id, rows);
            track_offset.set(0.0);
        }
        if let Some(Drag::Loop { .. }) = drag.get_untracked() {
            let (start, end) = ws.loop_range.get_untracked();
            if end > start && !ws.looping.get_untracked() {
                ws.looping.set(true);
            }
        }
        drag.set(None);
    });

    // A zoom holds one point of the timeline still on screen (see
    // `Workspace::zoom_by`). The new scroll position is set on the next
    // frame, before it is drawn, once the content has its new width.
    Effect::new(move |before: Option<f64>| {
        let zoom = ws.zoom.get();
        if let Some(before) = before.filter(|b| *b != zoom) {
            let v = view.get_untracked();
            let visible = v.width - HEADER_W;
            let anchor = ws.zoom_anchor.get_value().unwrap_or_else(|| {
                let x =
                    untrack(|| ws.playhead()) as f64 * ws.px_per_frame_untracked() * before / zoom;
                if (v.x..=v.x + visible).contains(&x) {
                    x - v.x
                } else {
                    visible / 2.0
                }
            });
            ws.zoom_anchor.set_value(None);
            let left = ((v.x + anchor) * zoom / before - anchor).max(0.0);
            // A pinch sends several zooms a frame: each builds on this one.
            view.update_untracked(|v| v.x = left);
            request_animation_frame(move || {
                if let Some(el) = scroller.get_untracked() {
                    el.set_scroll_left(left.round() as i32);
                }
            });
        }
        zoom
    });

    // While playing, page the view to keep the playhead in sight.
    Effect::new(move |_| {
        if !ws.follow.get() || !ws.playing() {
            return;
        }
        let x = ws.playhead() as f64 * ws.px_per_frame_untracked();
        let v = view.get_untracked();
        let visible = v.width - HEADER_W;
        if (x < v.x || x > v.x + visible - 24.0)
            && let Some(el) = scroller.get_untracked()
        {
            el.set_scroll_left((x - 24.0).max(0.0) as i32);
        }
    });

    let add_track = move || {
        let count = tracks.with_untracked(Vec::len);
        project::edit(|p, txn| {
            let id = p.add_track(txn, &format!("Track {}", count + 1), 2);
            p.set(
                txn,
                "tracks",
                &id,
                "color",
                TRACK_COLOURS[count % TRACK_COLOURS.len()],
            );
        });
    };
    let import_files = move |files: web_sys::FileList| {
        for i in 0..files.length() {
            if let Some(file) = files.get(i) {
                import(file, imports, ui);
            }
        }
    };

    let rows = move || tracks.get().into_iter().enumerate().collect::<Vec<_>>();
    view! {
        <section
            class="arrange"
            aria-label="Arrange"
            on:dragover=move |e: web_sys::DragEvent| e.prevent_default()
            on:drop=move |e: web_sys::DragEvent| {
                e.prevent_default();
                if ws.can_edit()
                    && let Some(files) = e.data_transfer().and_then(|d| d.files())
                {
                    import_files(files);
                }
            }
        >
            <div class="arrange-toolbar">
                <button class="add-track" disabled=move || !ws.can_edit() on:click=move |_| add_track()>
                    "+ Track"
                </button>
                <label class="import" class:disabled=move || !ws.can_edit()>
                    "Import audio…"
                    <input
                        type="file"
                        class="import-input"
                        multiple=true
                        accept="audio/*,.wav,.flac,.mp3,.ogg"
                        disabled=move || !ws.can_edit()
                        on:change=move |e| {
                            let input: web_sys::HtmlInputElement = event_target(&e);
                            if let Some(files) = input.files() {
                                import_files(files);
                            }
                            input.set_value("");
                        }
                    />
                </label>
                <button class="add-marker" disabled=move || !ws.can_edit() on:click=move |_| ws.add_marker() title="Add a marker at the playhead (Shift+M)">
                    "+ Marker"
                </button>
                <span class="toolbar-gap"></span>
                <button class="snap" class:active=move || ws.snap.get() on:click=move |_| ws.snap.update(|s| *s = !*s) title="Snap to beats">
                    "Snap"
                </button>
                <button class="follow" class:active=move || ws.follow.get() on:click=move |_| ws.follow.update(|f| *f = !*f) title="Follow the playhead">
                    "Follow"
                </button>
                <button class="zoom-out" on:click=move |_| ws.zoom_by(1.0 / 1.5, None) title="Zoom out (−)">"−"</button>
                <button class="zoom-in" on:click=move |_| ws.zoom_by(1.5, None) title="Zoom in (+)">"+"</button>
                <button class="help-button" on:click=move |_| ws.help.update(|h| *h = !*h) title="Keyboard shortcuts (?)">"?"</button>
            </div>
            <ul class="imports">
                <For
                    each=move || imports.get()
                    key=|i| (i.id, i.stage, i.error.clone(), (i.progress * 100.0) as u32)
                    children=move |i| {
                        view! {
                            <li class="import-item" data-stage=i.stage>
                                <span class="import-name">{i.name.clone()}</span>
                                <progress max="1" value=i.progress></progress>
                                <span class="import-stage">{i.error.clone().unwrap_or_else(|| i.stage.to_string())}</span>
                            </li>
                        }
                    }
                />
            </ul>
            <div
                class="arrange-scroll"
                node_ref=scroller
                on:scroll=move |_| measure()
                // Ctrl (⌘) + wheel, and a trackpad's pinch, zoom around the pointer.
                on:wheel=move |e: web_sys::WheelEvent| {
                    if !(e.ctrl_key() || e.meta_key()) {
                        return;
                    }
                    e.prevent_default();
                    let Some(el) = scroller.get_untracked() else { return };
                    let lanes_left = el.get_bounding_client_rect().left() + HEADER_W;
                    let anchor = (f64::from(e.client_x()) - lanes_left).max(0.0);
                    let pixels = match e.delta_mode() {
                        web_sys::WheelEvent::DOM_DELTA_LINE => e.delta_y() * 33.0,
                        web_sys::WheelEvent::DOM_DELTA_PAGE => e.delta_y() * 400.0,
                        _ => e.delta_y(),
                    };
                    ws.zoom_by((-pixels * 0.002).exp(), Some(anchor));
                }
            >
                <div
                    class="arrange-content"
                    style=move || format!("width:{:.0}px", HEADER_W + timeline_px.get())
                >
                    <div class="ruler-row">
                        <div class="ruler-corner">
                            <span class="ruler-legend">"Bar"</span>
                            <span class="ruler-legend">"Time"</span>
                        </div>
                        <Ruler span=span timeline_px=timeline_px drag=drag />
                    </div>
                    <div class="comment-row">
                        <div class="ruler-corner comment-corner">"Comments"</div>
                        <super::comments::CommentStrip timeline_px=timeline_px span=span />
                    </div>
                    <div class="tracks">
                        <For
                            each=rows
                            key=|(i, t)| (*i, t.id.clone(), t.name.clone(), t.color.clone(), t.strip.mute, t.strip.solo)
                            children=move |(index, track)| {
                                view! {
                                    <super::track::TrackRow
                                        index=index
                                        track=track
                                        tops=tops
                                        lanes=lanes
                                        span=span
                                        band=band
                                        view=view
                                        timeline_px=timeline_px
                                        drag=drag
                                        track_offset=track_offset
                                    />
                                }
                            }
                        />
                    </div>
                    <div class="strip-rows">
                        <For
                            each=move || strip_rows.get()
                            key=|row| row.clone()
                            children=move |(id, name)| {
                                let lanes_of = id.clone();
                                view! {
                                    <div class="strip-row" data-strip-id=id.clone()>
                                        <div class="strip-row-header">
                                            <span class="strip-row-name">{name}</span>
                                            <ShowAutomation strip=id.clone() />
                                        </div>
                                        <StripLanes strip=lanes_of span=span timeline_px=timeline_px />
                                    </div>
                                }
                            }
                        />
                    </div>
                    <div
                        class="playhead"
                        style:transform=move || format!("translateX({:.1}px)", HEADER_W + ws.playhead() as f64 * ws.px_per_frame())
                    ></div>
                    <super::presence::RemotePlayheads header_w=HEADER_W />
                </div>
            </div>
        </section>
    }
}

/// Whether the track rows differ in what a row shows or is ordered by.
fn rows_changed(a: Option<&Vec<Track>>, b: Option<&Vec<Track>>) -> bool {
    fn row(t: &Track) -> (&str, &str, &str, &str, u32, bool, bool) {
        (
            &t.id,
            &t.name,
            &t.order,
            &t.color,
            t.channels,
            t.strip.mute,
            t.strip.solo,
        )
    }
    match (a, b) {
        (Some(a), Some(b)) => a.len() != b.len() || a.iter().zip(b).any(|(x, y)| row(x) != row(y)),
        _ => true,
    }
}

/// Whether a lane's clip lists changed: a list kept from the last read is
/// the same `Arc` (see `lanes` in [`Arrange`]).
fn lists_changed(
    a: Option<&HashMap<String, Arc<Vec<Clip>>>>,
    b: Option<&HashMap<String, Arc<Vec<Clip>>>>,
) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.len() != b.len()
                || a.iter()
                    .any(|(k, v)| b.get(k).is_none_or(|w| !Arc::ptr_eq(v, w)))
        }
        _ => true,
    }
}

impl Workspace {
    pub(super) fn px_per_frame_untracked(self) -> f64 {
        PX_PER_SECOND * self.zoom.get_untracked() / self.rate.get_untracked()
    }
}

/// The timeline frame under client x on the ruler.
fn ruler_frame(ws: Workspace, client_x: f64) -> Option<u64> {
    let ruler = web_sys::window()?
        .document()?
        .query_selector(".ruler-lane")
        .ok()??;
    let left = ruler.get_bounding_client_rect().left();
    Some(((client_x - left).max(0.0) / ws.px_per_frame_untracked()) as u64)
}

#[component]
fn Ruler(
    span: Memo<(f64, f64)>,
    timeline_px: Memo<f64>,
    drag: RwSignal<Option<Drag>>,
) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let canvas: NodeRef<html::Canvas> = NodeRef::new();
    Effect::new(move |_| {
        let Some(canvas) = canvas.get() else { return };
        let (x0, width) = span.get();
        let tempo = ws.tempo();
        let ppf = ws.px_per_frame();
        let rate = ws.sample_rate();
        let loop_range = ws.loop_range.get();
        let looping = ws.looping.get();
        if let Some(ctx) = prepare(&canvas, width, RULER_H) {
            draw_ruler(&ctx, &tempo, rate, ppf, x0, width, loop_range, looping);
        }
    });
    let markers = move || {
        ws.project
            .with(|p| p.as_ref().map(|p| p.markers.clone()))
            .unwrap_or_default()
    };
    view! {
        <div
            class="ruler-lane"
            style=move || format!("width:{:.0}px", timeline_px.get())
            on:pointerdown=move |e: web_sys::PointerEvent| {
                let on_canvas = e
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .is_some_and(|el| el.tag_name() == "CANVAS");
                if !on_canvas {
                    return;
                }
                e.prevent_default();
                let Some(frame) = ruler_frame(ws, f64::from(e.client_x())) else { return };
                if f64::from(e.offset_y()) < LOOP_STRIP_H {
                    let anchor = ws.snapped(frame);
                    ws.loop_range.set((anchor, anchor));
                    drag.set(Some(Drag::Loop { anchor }));
                } else {
                    ws.seek(frame);
                    drag.set(Some(Drag::Playhead));
                }
            }
        >
            <canvas class="ruler-canvas" node_ref=canvas style:left=move || format!("{:.0}px", span.get().0)></canvas>
            <For
                each=markers
                key=|m: &Marker| (m.id.clone(), m.frame, m.name.clone())
                children=move |m: Marker| {
                    let (id, rename, frame) = (m.id.clone(), m.id.clone(), m.frame);
                    view! {
                        <div
                            class="marker"
                            data-marker-id=m.id.clone()
                            style=move || format!("left:{:.1}px", frame as f64 * ws.px_per_frame())
                            title="Click: go here · Double-click: rename"
                            on:click=move |_| ws.seek(frame)
                            on:dblclick=move |_| {
                                if !ws.can_edit() {
                                    return;
                                }
                                let name = web_sys::window()
                                    .and_then(|w| w.prompt_with_message("Marker name").ok().flatten());
                                if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
                                    project::edit(|p, txn| p.set(txn, "markers", &rename, "name", name.trim()));
                                }
                            }
                        >
                            <span class="marker-name">{m.name.clone()}</span>
                            <DeleteButton class="marker-delete" title="Delete marker" table="markers" id=id />
                        </div>
                    }
                }
            />
        </div>
    }
}

/// How many rows a drag that started on track `from` and moved `dy` pixels
/// has crossed, with rows of the heights `tops` gives.
fn rows_moved(tops: &[f64], from: usize, dy: f64) -> i64 {
    let Some(&top) = tops.get(from) else { return 0 };
    let y = top + ROW_H / 2.0 + dy;
    let last = tops.len().saturating_sub(2);
    let to = tops[..tops.len().saturating_sub(1)]
        .iter()
        .rposition(|&t| t <= y)
        .unwrap_or(0)
        .min(last);
    to as i64 - from as i64
}

/// Applies a clip drag moved by `delta` frames and `rows` tracks, as one
/// gesture (one undo step).
fn drag_clip(ws: Workspace, kind: ClipDrag, c: &Clip, delta: i64, rows: i64) {
    // Positions first: snapping reads the project, which an edit holds.
    let shift = |frame: u64| ws.snapped((frame as i64 + delta).max(0) as u64);
    let end = c.start + c.length;
    match kind {
        ClipDrag::Move => {
            let start = shift(c.start);
            let track = ws
                .project
                .with_untracked(|p| {
                    let tracks = &p.as_ref()?.tracks;
                    let from = tracks.iter().position(|t| t.id == c.track)? as i64;
                    let to = (from + rows).clamp(0, tracks.len() as i64 - 1);
                    Some(tracks[to as usize].id.clone())
                })
                .unwrap_or_else(|| c.track.clone());
            project::gesture(|p, txn| p.move_clip(txn, &c.id, &track, start));
        }
        ClipDrag::TrimStart => {
            // The left edge moves within the audio; the rest stays put.
            let earliest = c.start.saturating_sub(c.offset);
            let start = shift(c.start).clamp(earliest, end.saturating_sub(1));
            let offset = (c.offset as i64 + start as i64 - c.start as i64) as u64;
            project::gesture(|p, txn| p.trim_clip(txn, &c.id, start, offset, end - start));
        }
        ClipDrag::TrimEnd => {
            let new_end = shift(end).max(c.start + 1);
            project::gesture(|p, txn| {
                p.trim_clip(txn, &c.id, c.start, c.offset, new_end - c.start)
            });
        }
        ClipDrag::FadeIn | ClipDrag::FadeOut => {
            let fade_out = kind == ClipDrag::FadeOut;
            let (old, delta) = if fade_out {
                (c.fade_out, -delta)
            } else {
                (c.fade_in, delta)
            };
            let frames = (old.frames as i64 + delta).clamp(0, c.length as i64) as u64;
            let fade = Fade {
                frames,
                shape: old.shape,
            };
            project::gesture(|p, txn| p.set_fade(txn, &c.id, fade_out, fade));
        }
    }
}

/// Moves a track `rows` places up (negative) or down.
fn reorder_track(tracks: &[Track], id: &str, rows: i64) {
    let Some(from) = tracks.iter().position(|t| t.id == id) else {
        return;
    };
    let to = (from as i64 + rows).clamp(0, tracks.len() as i64 - 1) as usize;
    if to == from {
        return;
    }
    let others: Vec<&Track> = tracks.iter().filter(|t| t.id != id).collect();
    let after = to
        .checked_sub(1)
        .and_then(|i| others.get(i))
        .map(|t| t.order.clone());
    let before = others.get(to).map(|t| t.order.clone());
    project::edit(|p, txn| p.move_track(txn, id, after.as_deref(), before.as_deref()));
}
