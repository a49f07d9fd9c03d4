//! The project page: name, save state, presence, transport and meter, and
//! the arrange view (tracks, clips, import), all on the shared document.

use leptos::prelude::*;
use stemroom_engine::project::Fade;
use stemroom_model::project::{Clip, MASTER, Project};
use wasm_bindgen_futures::JsFuture;

use super::{EngineUi, meter, reload_engine, transport};
use crate::api::{self, ProjectLink};
use crate::project;
use crate::sync::SyncStatus;

/// One file being imported.
#[derive(Clone, Debug, PartialEq)]
struct Import {
    id: u32,
    name: String,
    /// 0..1 while uploading.
    progress: f64,
    stage: &'static str,
    error: Option<String>,
}

/// Pixels per second of the arrange view at zoom 1.
const PX_PER_SECOND: f64 = 40.0;

#[component]
pub fn ProjectPage(id: String, token: String) -> impl IntoView {
    let ui = expect_context::<EngineUi>();
    let link = ProjectLink {
        id: id.clone(),
        token: token.clone(),
        name: String::new(),
        role: String::new(),
    };
    let (project_sync, review_sync) = project::open(link.clone());
    let role = RwSignal::new(String::new());
    let can_edit = move || matches!(role.get().as_str(), "owner" | "edit");
    let revision = project_sync.revision;
    let status = project_sync.status;
    let review_status = review_sync.status;
    let peers = project_sync.peers;
    let zoom = RwSignal::new(1.0f64);
    let imports = RwSignal::new(Vec::<Import>::new());
    let error = RwSignal::new(None::<String>);
    let snap = RwSignal::new(true);
    let cursor = RwSignal::new(0u64);
    let selected = RwSignal::new(None::<String>);
    let drag = RwSignal::new(None::<Drag>);
    let help = RwSignal::new(false);

    // Dragging follows the pointer anywhere on the page (the clip's element
    // is redrawn as the document changes under it).
    let _ = window_event_listener(leptos::ev::pointermove, move |e| {
        let Some(d) = drag.get_untracked() else {
            return;
        };
        let Some(SnapshotEq(p)) = snapshot_now() else {
            return;
        };
        let rate = f64::from(p.meta.sample_rate);
        let frames =
            (f64::from(e.client_x()) - d.x0) / (PX_PER_SECOND * zoom.get_untracked()) * rate;
        drag_to(&d, frames as i64, snap.get_untracked());
    });
    let _ = window_event_listener(leptos::ev::pointerup, move |_| drag.set(None));
    let _ = window_event_listener(leptos::ev::keydown, move |e| {
        if typing(&e) || e.ctrl_key() || e.meta_key() {
            return;
        }
        let editing = !matches!(
            e.code().as_str(),
            "Slash" | "Escape" | "Home" | "Equal" | "Minus" | "NumpadAdd" | "NumpadSubtract"
        );
        if editing && !can_edit() {
            return;
        }
        match e.code().as_str() {
            "KeyS" => {
                if let Some(id) = selected.get_untracked() {
                    let at = cursor.get_untracked();
                    if let Some(right) =
                        project::edit(|p, txn| p.split_clip(txn, &id, at)).flatten()
                    {
                        selected.set(Some(right));
                    }
                }
            }
            "Delete" | "Backspace" => {
                if let Some(id) = selected.get_untracked() {
                    project::edit(|p, txn| p.delete_clip(txn, &id));
                    selected.set(None);
                }
            }
            "Equal" | "NumpadAdd" => zoom_by(zoom, 1.5),
            "Minus" | "NumpadSubtract" => zoom_by(zoom, 1.0 / 1.5),
            "KeyM" => {
                // Mute the selected clip's track.
                let Some(id) = selected.get_untracked() else {
                    return;
                };
                let Some(p) = project::snapshot() else { return };
                let Some(clip) = p.clips.iter().find(|c| c.id == id) else {
                    return;
                };
                let Some(track) = p.tracks.iter().find(|t| t.id == clip.track) else {
                    return;
                };
                let (track, mute) = (track.id.clone(), !track.strip.mute);
                project::edit(|p, txn| p.set_track_mute(txn, &track, mute));
            }
            "ArrowLeft" | "ArrowRight" => {
                // Nudge the selected clip by a beat.
                let Some(id) = selected.get_untracked() else {
                    return;
                };
                let Some(p) = project::snapshot() else { return };
                let Some(clip) = p.clips.iter().find(|c| c.id == id) else {
                    return;
                };
                let beat = (60.0 / p.meta.bpm * f64::from(p.meta.sample_rate)) as u64;
                let start = if e.code() == "ArrowLeft" {
                    clip.start.saturating_sub(beat)
                } else {
                    clip.start + beat
                };
                let (id, track) = (clip.id.clone(), clip.track.clone());
                e.prevent_default();
                project::edit(|p, txn| p.move_clip(txn, &id, &track, start));
            }
            "Home" => {
                cursor.set(0);
                if ui.state.get_untracked() == super::EngineState::Running {
                    ui.send(stemroom_engine::Command::Seek { frame: 0 });
                }
            }
            "Slash" if e.shift_key() => help.update(|h| *h = !*h),
            "Escape" => help.set(false),
            _ => {}
        }
    });

    // Who this tab is, for the others' presence lists.
    let me = display_name();
    project_sync.set_presence(serde_json::json!({ "name": me }).to_string());

    {
        let link = link.clone();
        leptos::task::spawn_local(async move {
            match api::project_info(&link.id, &link.token).await {
                Ok(info) => {
                    role.set(info.role.clone());
                    api::remember(&info);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    }

    // The document as read now; every change bumps `revision`.
    let snapshot = Memo::new(move |_| {
        revision.get();
        project::snapshot().map(SnapshotEq)
    });
    // After the first sync: migrate (editors), and keep the engine and the
    // recent-projects entry on the document.
    Effect::new(move |_| {
        let synced = matches!(status.get(), SyncStatus::Saved | SyncStatus::Saving);
        if synced
            && !role.get().is_empty()
            && let Err(e) = project::migrate_once(can_edit())
        {
            error.set(Some(e));
        }
    });
    Effect::new(move |_| {
        revision.get();
        reload_engine(ui);
    });
    Effect::new(move |_| {
        if let Some(SnapshotEq(p)) = snapshot.get()
            && !p.meta.name.is_empty()
        {
            set_title(&p.meta.name);
        }
    });

    let name = move || {
        snapshot
            .get()
            .map(|s| s.0.meta.name.clone())
            .unwrap_or_default()
    };
    let tracks = move || {
        snapshot
            .get()
            .map(|s| s.0.tracks.clone())
            .unwrap_or_default()
    };
    let save_state = move || combined(&status.get(), &review_status.get());

    let add_track = move || {
        let count = snapshot.get_untracked().map_or(0, |s| s.0.tracks.len());
        project::edit(|p, txn| p.add_track(txn, &format!("Track {}", count + 1), 2));
    };

    let import_files = move |files: web_sys::FileList| {
        for i in 0..files.length() {
            if let Some(file) = files.get(i) {
                import(file, imports, ui);
            }
        }
    };

    view! {
        <div class="project">
            <header class="project-bar">
                <input
                    class="project-name"
                    aria-label="Project name"
                    prop:value=name
                    disabled=move || !can_edit()
                    on:change=move |e| {
                        let value = event_target_value(&e);
                        project::edit(|p, txn| p.set_name(txn, value.trim()));
                    }
                />
                <span class="role-badge">{move || role.get()}</span>
                <span class="save-state" data-state=move || save_state().key() role="status">
                    {move || save_state().label()}
                </span>
                <ul class="presence" aria-label="Who is here">
                    <li class="me">{me.clone()}</li>
                    {move || {
                        let mut names: Vec<String> = peers
                            .get()
                            .values()
                            .filter_map(|json| {
                                serde_json::from_str::<serde_json::Value>(json)
                                    .ok()?
                                    .get("name")?
                                    .as_str()
                                    .map(str::to_string)
                            })
                            .collect();
                        names.sort();
                        names.into_iter().map(|n| view! { <li class="peer">{n}</li> }).collect_view()
                    }}
                </ul>
            </header>
            <Show when=move || error.get().is_some()>
                <div class="error" role="alert">{move || error.get()}</div>
            </Show>
            <Show when=move || help.get()>
                <div class="shortcuts" role="dialog" aria-label="Keyboard shortcuts" on:click=move |_| help.set(false)>
                    <h2>"Keyboard shortcuts"</h2>
                    <dl>
                        {SHORTCUTS
                            .iter()
                            .map(|(keys, what)| view! { <dt><kbd>{*keys}</kbd></dt><dd>{*what}</dd> })
                            .collect_view()}
                    </dl>
                </div>
            </Show>
            <div class="workspace">
                <transport::Transport />
                <meter::MasterMeter />
            </div>
            <section class="arrange" aria-label="Arrange">
                <div class="arrange-toolbar">
                    <button class="add-track" disabled=move || !can_edit() on:click=move |_| add_track()>
                        "+ Track"
                    </button>
                    <label class="import" class:disabled=move || !can_edit()>
                        "Import audio…"
                        <input
                            type="file"
                            class="import-input"
                            multiple=true
                            accept="audio/*,.wav,.flac,.mp3,.ogg"
                            disabled=move || !can_edit()
                            on:change=move |e| {
                                let input: web_sys::HtmlInputElement = event_target(&e);
                                if let Some(files) = input.files() {
                                    import_files(files);
                                }
                                input.set_value("");
                            }
                        />
                    </label>
                    <button class="snap" class:active=move || snap.get() on:click=move |_| snap.update(|s| *s = !*s) title="Snap to beats">
                        "Snap"
                    </button>
                    <button class="help-button" on:click=move |_| help.update(|h| *h = !*h) title="Keyboard shortcuts (?)">"?"</button>
                    <button on:click=move |_| zoom_by(zoom, 1.0 / 1.5) title="Zoom out (−)">"−"</button>
                    <button on:click=move |_| zoom_by(zoom, 1.5) title="Zoom in (+)">"+"</button>
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
                <div class="tracks">
                    <For
                        each=tracks
                        key=|t| (t.id.clone(), t.name.clone(), t.strip.mute, t.strip.solo)
                        children=move |track| {
                            let id = track.id.clone();
                            let (rename, mute, delete) = (id.clone(), id.clone(), id.clone());
                            let lane_id = id.clone();
                            let muted = track.strip.mute;
                            view! {
                                <div class="track" data-track-id=id.clone()>
                                    <div class="track-header">
                                        <input
                                            class="track-name"
                                            aria-label="Track name"
                                            prop:value=track.name.clone()
                                            disabled=move || !can_edit()
                                            on:change=move |e| {
                                                let value = event_target_value(&e);
                                                project::edit(|p, txn| p.set(txn, "tracks", &rename, "name", value.trim()));
                                            }
                                        />
                                        <button
                                            class="track-mute"
                                            class:active=muted
                                            title="Mute (M)"
                                            disabled=move || !can_edit()
                                            on:click=move |_| {
                                                project::edit(|p, txn| p.set_track_mute(txn, &mute, !muted));
                                            }
                                        >
                                            "M"
                                        </button>
                                        <button
                                            class="track-delete"
                                            title="Delete track"
                                            disabled=move || !can_edit()
                                            on:click=move |_| {
                                                project::edit(|p, txn| p.delete_track(txn, &delete));
                                            }
                                        >
                                            "✕"
                                        </button>
                                    </div>
                                    <div
                                        class="track-lane"
                                        on:pointerdown=move |e| {
                                            // A click on the lane itself (not a clip) moves the cursor.
                                            let on_lane = e
                                                .target()
                                                .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
                                                .is_some_and(|el| el.class_list().contains("track-lane"));
                                            if !on_lane {
                                                return;
                                            }
                                            let scale = PX_PER_SECOND * zoom.get_untracked();
                                            let rate = snapshot.get_untracked().map_or(48_000.0, |s| f64::from(s.0.meta.sample_rate));
                                            let frame = (f64::from(e.offset_x()).max(0.0) / scale * rate) as u64;
                                            let frame = if snap.get_untracked() { snap_frame(frame) } else { frame };
                                            cursor.set(frame);
                                            selected.set(None);
                                            if ui.state.get_untracked() == super::EngineState::Running {
                                                ui.send(stemroom_engine::Command::Seek { frame });
                                            }
                                        }
                                    >
                                        <div
                                            class="cursor-line"
                                            style=move || {
                                                let rate = snapshot.get().map_or(48_000.0, |s| f64::from(s.0.meta.sample_rate));
                                                let x = cursor.get() as f64 / rate * PX_PER_SECOND * zoom.get();
                                                format!("left:{x:.1}px")
                                            }
                                        ></div>
                                        {move || {
                                            let Some(SnapshotEq(p)) = snapshot.get() else { return Vec::new() };
                                            let rate = f64::from(p.meta.sample_rate);
                                            let scale = PX_PER_SECOND * zoom.get();
                                            let px = move |frames: u64| frames as f64 / rate * scale;
                                            p.clips
                                                .iter()
                                                .filter(|c| c.track == lane_id)
                                                .map(|c| {
                                                    let (left, width) = (px(c.start), px(c.length).max(2.0));
                                                    let begin = move |kind: DragKind, clip: Clip| {
                                                        move |e: web_sys::PointerEvent| {
                                                            e.stop_propagation();
                                                            e.prevent_default();
                                                            if !can_edit() {
                                                                return;
                                                            }
                                                            selected.set(Some(clip.id.clone()));
                                                            project::begin_step();
                                                            drag.set(Some(Drag { kind, x0: f64::from(e.client_x()), clip: clip.clone() }));
                                                        }
                                                    };
                                                    let id = c.id.clone();
                                                    view! {
                                                        <div
                                                            class="clip"
                                                            class:selected=move || selected.get().as_deref() == Some(id.as_str())
                                                            data-clip-id=c.id.clone()
                                                            style=format!("left:{left:.1}px;width:{width:.1}px")
                                                            on:pointerdown=begin(DragKind::Move, c.clone())
                                                        >
                                                            <div class="clip-trim clip-trim-start" on:pointerdown=begin(DragKind::TrimStart, c.clone())></div>
                                                            <div class="clip-trim clip-trim-end" on:pointerdown=begin(DragKind::TrimEnd, c.clone())></div>
                                                            <div
                                                                class="clip-fade clip-fade-in"
                                                                style=format!("left:{:.1}px", px(c.fade_in.frames))
                                                                title="Fade in"
                                                                on:pointerdown=begin(DragKind::FadeIn, c.clone())
                                                            ></div>
                                                            <div
                                                                class="clip-fade clip-fade-out"
                                                                style=format!("right:{:.1}px", px(c.fade_out.frames))
                                                                title="Fade out"
                                                                on:pointerdown=begin(DragKind::FadeOut, c.clone())
                                                            ></div>
                                                            <span class="clip-name">{if c.name.is_empty() { "clip".to_string() } else { c.name.clone() }}</span>
                                                        </div>
                                                    }
                                                })
                                                .collect::<Vec<_>>()
                                        }}
                                    </div>
                                </div>
                            }
                        }
                    />
                </div>
            </section>
            <section class="mixer" aria-label="Mixer">
                // Strips stay mounted while their values change (a fader
                // being dragged must not be redrawn under the pointer).
                <For
                    each=move || {
                        let mut ids: Vec<(String, String)> = snapshot
                            .get()
                            .map(|s| s.0.tracks.iter().map(|t| (t.id.clone(), t.name.clone())).collect())
                            .unwrap_or_default();
                        ids.push((MASTER.to_string(), "Master".to_string()));
                        ids
                    }
                    key=|strip| strip.clone()
                    children=move |(id, name)| {
                        let master = id == MASTER;
                        let read = {
                            let id = id.clone();
                            move || {
                                let p = snapshot.get()?.0;
                                if id == MASTER {
                                    return Some(p.master);
                                }
                                p.tracks.into_iter().find(|t| t.id == id).map(|t| t.strip)
                            }
                        };
                        let gain = {
                            let read = read.clone();
                            move || read().map_or(0.0, |s| s.gain_db)
                        };
                        let pan = {
                            let read = read.clone();
                            move || read().map_or(0.0, |s| s.pan)
                        };
                        let solo = move || read().is_some_and(|s| s.solo);
                        let (fader_id, pan_id, solo_id) = (id.clone(), id.clone(), id.clone());
                        let shown = gain.clone();
                        view! {
                            <div class="strip" data-strip=id.clone() class:master=master>
                                <span class="strip-name">{name}</span>
                                <input
                                    type="range"
                                    class="fader"
                                    aria-label="Fader (dB)"
                                    min="-60"
                                    max="6"
                                    step="0.1"
                                    prop:value=move || gain().max(-60.0).to_string()
                                    disabled=move || !can_edit()
                                    on:pointerdown=move |_| project::begin_step()
                                    on:input=move |e| {
                                        if let Ok(db) = event_target_value(&e).parse::<f64>() {
                                            project::gesture(|p, txn| p.set_strip(txn, &fader_id, "gainDb", db.clamp(-144.0, 24.0)));
                                        }
                                    }
                                />
                                <output class="fader-db">{move || format!("{:+.1} dB", shown())}</output>
                                <Show when=move || !master>
                                    <input
                                        type="range"
                                        class="pan"
                                        aria-label="Pan"
                                        min="-1"
                                        max="1"
                                        step="0.01"
                                        prop:value={
                                            let pan = pan.clone();
                                            move || pan().to_string()
                                        }
                                        disabled=move || !can_edit()
                                        on:pointerdown=move |_| project::begin_step()
                                        on:input={
                                            let pan_id = pan_id.clone();
                                            move |e| {
                                                if let Ok(pan) = event_target_value(&e).parse::<f64>() {
                                                    project::gesture(|p, txn| p.set_strip(txn, &pan_id, "pan", pan.clamp(-1.0, 1.0)));
                                                }
                                            }
                                        }
                                    />
                                    <button
                                        class="strip-solo"
                                        class:active={
                                            let solo = solo.clone();
                                            move || solo()
                                        }
                                        disabled=move || !can_edit()
                                        on:click={
                                            let solo_id = solo_id.clone();
                                            let solo = solo.clone();
                                            move |_| {
                                                let on = !solo();
                                                project::edit(|p, txn| p.set_strip(txn, &solo_id, "solo", on));
                                            }
                                        }
                                    >
                                        "S"
                                    </button>
                                </Show>
                            </div>
                        }
                    }
                />
            </section>
        </div>
    }
}

/// Zooms the arrange view by `factor`, within 1/20 and 64 times.
fn zoom_by(zoom: RwSignal<f64>, factor: f64) {
    zoom.update(|z| *z = (*z * factor).clamp(0.05, 64.0));
}

/// Every shortcut, as the overlay (`?`) lists them.
const SHORTCUTS: &[(&str, &str)] = &[
    ("Space", "Play / stop"),
    ("Home", "Return to start"),
    ("Click a lane", "Place the cursor"),
    ("S", "Split the selected clip at the cursor"),
    ("Delete", "Delete the selected clip"),
    ("M", "Mute the selected clip's track"),
    ("← →", "Move the selected clip by a beat"),
    ("+ / −", "Zoom in / out"),
    ("Ctrl+Z", "Undo your last edit"),
    ("Ctrl+Shift+Z", "Redo"),
    ("?", "Show or hide this list"),
];

/// What a pointer drag on a clip changes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DragKind {
    Move,
    TrimStart,
    TrimEnd,
    FadeIn,
    FadeOut,
}

#[derive(Clone, Debug, PartialEq)]
struct Drag {
    kind: DragKind,
    /// Pointer x where the drag began.
    x0: f64,
    /// The clip as it was then.
    clip: Clip,
}

fn snapshot_now() -> Option<SnapshotEq> {
    project::snapshot().map(SnapshotEq)
}

/// `frame` on the nearest beat of the project's tempo map.
fn snap_frame(frame: u64) -> u64 {
    let Some(p) = project::snapshot() else {
        return frame;
    };
    let desc = p.to_engine(p.meta.sample_rate, |_| None);
    desc.tempo
        .snap(frame, stemroom_engine::tempo::Grid::Beats(1.0))
}

/// Applies a drag moved by `delta` frames, as one gesture (one undo step).
fn drag_to(drag: &Drag, delta: i64, snap: bool) {
    let c = &drag.clip;
    // Positions first: snapping reads the project, which an edit holds.
    let shift = |frame: u64| {
        let moved = (frame as i64 + delta).max(0) as u64;
        if snap { snap_frame(moved) } else { moved }
    };
    let end = c.start + c.length;
    match drag.kind {
        DragKind::Move => {
            let start = shift(c.start);
            project::gesture(|p, txn| p.move_clip(txn, &c.id, &c.track, start));
        }
        DragKind::TrimStart => {
            // The left edge moves within the audio; the rest stays put.
            let earliest = c.start.saturating_sub(c.offset);
            let start = shift(c.start).clamp(earliest, end.saturating_sub(1));
            let offset = (c.offset as i64 + start as i64 - c.start as i64) as u64;
            project::gesture(|p, txn| p.trim_clip(txn, &c.id, start, offset, end - start));
        }
        DragKind::TrimEnd => {
            let new_end = shift(end).max(c.start + 1);
            project::gesture(|p, txn| {
                p.trim_clip(txn, &c.id, c.start, c.offset, new_end - c.start)
            });
        }
        DragKind::FadeIn | DragKind::FadeOut => {
            let fade_out = drag.kind == DragKind::FadeOut;
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

/// Whether a key event goes to a text field.
fn typing(e: &web_sys::KeyboardEvent) -> bool {
    use wasm_bindgen::JsCast;
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
}

/// A project snapshot compared by value, for memos.
#[derive(Clone, Debug)]
struct SnapshotEq(Project);

impl PartialEq for SnapshotEq {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// The save indicator for both documents: the least settled one wins.
fn combined(project: &SyncStatus, review: &SyncStatus) -> SyncStatus {
    let rank = |s: &SyncStatus| match s {
        SyncStatus::Refused(_) => 0,
        SyncStatus::Offline { .. } => 1,
        SyncStatus::Connecting => 2,
        SyncStatus::Saving => 3,
        SyncStatus::Saved => 4,
    };
    if rank(review) < rank(project) {
        review.clone()
    } else {
        project.clone()
    }
}

fn set_title(name: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(&format!("{name} — Stemroom"));
    }
}

/// This browser's display name (kept in local storage).
fn display_name() -> String {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    if let Some(name) = storage
        .as_ref()
        .and_then(|s| s.get_item("stemroom.name").ok().flatten())
    {
        return name;
    }
    let name = format!("Guest {}", (js_sys::Math::random() * 900.0) as u32 + 100);
    if let Some(storage) = storage {
        let _ = storage.set_item("stemroom.name", &name);
    }
    name
}

thread_local! {
    static NEXT_IMPORT: std::cell::Cell<u32> = const { std::cell::Cell::new(1) };
}

/// Imports one file: decode here (a file that is not audio changes
/// nothing), upload with progress, then a new track with the clip.
fn import(file: web_sys::File, imports: RwSignal<Vec<Import>>, ui: EngineUi) {
    let id = NEXT_IMPORT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let name = file.name();
    imports.update(|list| {
        list.push(Import {
            id,
            name: name.clone(),
            progress: 0.0,
            stage: "decoding",
            error: None,
        })
    });
    let set = move |f: &dyn Fn(&mut Import)| {
        imports.update(|list| {
            if let Some(item) = list.iter_mut().find(|i| i.id == id) {
                f(item);
            }
        })
    };
    leptos::task::spawn_local(async move {
        let fail = |message: String| {
            set(&|i: &mut Import| {
                i.stage = "failed";
                i.error = Some(message.clone());
            })
        };
        let bytes = match JsFuture::from(file.array_buffer()).await {
            Ok(buffer) => js_sys::Uint8Array::new(&buffer).to_vec(),
            Err(e) => return fail(crate::audio::js_error(e)),
        };
        let asset = match project::decode(bytes) {
            Ok(asset) => asset,
            Err(e) => return fail(format!("{name}: {e}")),
        };
        set(&|i: &mut Import| i.stage = "uploading");
        let Some(link) = project::with(|p| p.link.clone()) else {
            return;
        };
        let progress = move |p: f64| set(&|i: &mut Import| i.progress = p);
        let info = match api::upload_asset(&link.id, &link.token, &file, progress).await {
            Ok(info) => info,
            Err(e) => return fail(e),
        };
        let frames = asset.frames();
        let channels = asset.channel_count().min(2) as u32;
        project::add_asset(&info.sha256, asset);
        let stem = name
            .rsplit_once('.')
            .map_or(name.as_str(), |(stem, _)| stem)
            .to_string();
        project::edit(|p, txn| {
            let track = p.add_track(txn, &stem, channels);
            let clip = p.add_clip(txn, &track, &info.sha256, 0, frames);
            p.set(txn, "clips", &clip, "name", stem.as_str());
        });
        set(&|i: &mut Import| {
            i.stage = "done";
            i.progress = 1.0;
        });
        reload_engine(ui);
    });
}
