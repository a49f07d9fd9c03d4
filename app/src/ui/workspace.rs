//! The project page: the project bar (name, role, save state, presence),
//! transport, arrange view, mixer and device panel, and the state they
//! share ([`Workspace`]), all on the shared document.

use std::sync::Arc;

use leptos::prelude::*;
use stemroom_engine::Command;
use stemroom_engine::tempo::{Grid, TempoMap};
use stemroom_model::project::Project;

use super::{
    arrange, comments, device, export, meter, mixer, presence, record, share, transport, versions,
};
use crate::api::{self, ProjectLink};
use crate::project;
use crate::session::{EngineState, EngineUi, sync_engine};
use crate::sync::SyncStatus;

/// Pixels per second of the arrange view at zoom 1.
pub const PX_PER_SECOND: f64 = 40.0;

/// What the views of one open project share. `Copy`: signals only.
#[derive(Clone, Copy)]
pub struct Workspace {
    /// The document as read now (repaired); `None` before it opens.
    pub project: Memo<Option<Arc<Project>>>,
    /// The project's sample rate and tempo map, apart from the rest of the
    /// document: what the timeline's geometry depends on. Views that only
    /// place things in time read these, so a fader move elsewhere does not
    /// redraw them.
    pub rate: Memo<f64>,
    pub tempo: Memo<TempoMap>,
    pub role: RwSignal<String>,
    /// Arrange zoom: 1 is [`PX_PER_SECOND`].
    pub zoom: RwSignal<f64>,
    /// Where playback starts and edits happen while the engine is stopped.
    pub cursor: RwSignal<u64>,
    /// Where the last Play started (Stop returns there).
    pub play_from: RwSignal<u64>,
    pub selected: RwSignal<Option<String>>,
    pub snap: RwSignal<bool>,
    /// This user's loop range (frames) and whether the transport loops.
    pub loop_range: RwSignal<(u64, u64)>,
    pub looping: RwSignal<bool>,
    pub metronome: RwSignal<bool>,
    /// The arrange view scrolls to keep the playhead in sight.
    pub follow: RwSignal<bool>,
    /// The device whose panel is open.
    pub device: RwSignal<Option<String>>,
    /// Bumped when decoded audio arrives (waveforms redraw).
    pub audio: RwSignal<u64>,
    pub help: RwSignal<bool>,
    /// Where the next zoom holds the timeline still (see [`Workspace::zoom_by`]).
    pub zoom_anchor: StoredValue<Option<f64>>,
    /// Automation lanes this user has hidden, and the selected points.
    pub lanes: super::automation::Lanes,
    /// The review document's comments, and the one being written.
    pub comments: super::comments::Comments,
    /// The others here: their states, playheads, joins and leaves.
    pub presence: super::presence::Presence,
    /// Armed tracks, the input, and the take being recorded.
    pub record: super::record::RecordState,
    pub ui: EngineUi,
}

impl Workspace {
    /// Whether this user may change the arrangement and mix now: the role
    /// allows it, and the live document is on show (not a saved version).
    pub fn can_edit(self) -> bool {
        matches!(self.role.get().as_str(), "owner" | "edit")
            && crate::compare::view().with(|v| {
                v.as_ref()
                    .is_none_or(|v| v.side != crate::compare::Side::Version)
            })
    }

    /// Whether this user's role may comment (and reply, resolve).
    pub fn can_comment(self) -> bool {
        matches!(self.role.get().as_str(), "owner" | "edit" | "comment")
    }

    pub fn sample_rate(self) -> f64 {
        self.rate.get()
    }

    /// Pixels per frame at the current zoom.
    pub fn px_per_frame(self) -> f64 {
        PX_PER_SECOND * self.zoom.get() / self.sample_rate()
    }

    pub fn tempo(self) -> TempoMap {
        self.tempo.get()
    }

    /// `frame` on the nearest beat when snapping is on.
    pub fn snapped(self, frame: u64) -> u64 {
        if self.snap.get_untracked() {
            self.tempo
                .with_untracked(|t| t.snap(frame, Grid::Beats(1.0)))
        } else {
            frame
        }
    }

    pub fn playing(self) -> bool {
        self.ui.state.get() == EngineState::Running && self.ui.meters.get().playing
    }

    /// The playhead: the engine's position while it runs, else the cursor.
    pub fn playhead(self) -> u64 {
        if self.ui.state.get() == EngineState::Running {
            self.ui.meters.get().position
        } else {
            self.cursor.get()
        }
    }

    /// Zooms the arrange view by `factor` (within 1/20 and 64 times),
    /// holding the time under `anchor` — px right of the lanes' left edge
    /// on screen — where it is; `None`: the playhead if it is in view, else
    /// the middle of the view.
    pub fn zoom_by(self, factor: f64, anchor: Option<f64>) {
        self.zoom_anchor.set_value(anchor);
        self.zoom.update(|z| *z = (*z * factor).clamp(0.05, 64.0));
    }

    /// [`Self::playhead`] for numbers on screen: at the readout rate while
    /// the engine runs.
    pub fn playhead_readout(self) -> u64 {
        if self.ui.state.get() == EngineState::Running {
            self.ui.readout.track();
            self.ui.meters.with_untracked(|m| m.position)
        } else {
            self.cursor.get()
        }
    }

    /// Moves the cursor, and the engine's playhead with it.
    pub fn seek(self, frame: u64) {
        self.presence.transport_action();
        self.presence.sought(frame);
        self.cursor.set(frame);
        self.play_from.set(frame);
        if self.ui.state.get_untracked() == EngineState::Running {
            self.ui.send(Command::Seek { frame });
        }
    }

    /// Play from the cursor, or pause where the playhead is (a take
    /// being recorded ends).
    pub fn play_pause(self) {
        self.presence.transport_action();
        if self.playing_untracked() {
            crate::recorder::stop();
            self.ui.send(Command::Stop);
            self.cursor.set(self.ui.meters.get_untracked().position);
        } else {
            let frame = self.cursor.get_untracked();
            self.play_from.set(frame);
            if self.ui.state.get_untracked() == EngineState::Running {
                self.ui.send(Command::Seek { frame });
                self.ui.send(Command::Play);
            } else {
                self.ui.start_project(vec![Command::Seek { frame }]);
            }
        }
    }

    /// Stop, back to where playback started.
    pub fn stop(self) {
        self.presence.transport_action();
        crate::recorder::stop();
        if self.playing_untracked() {
            self.ui.send(Command::Stop);
        }
        self.seek(self.play_from.get_untracked());
    }

    pub fn playing_untracked(self) -> bool {
        self.ui.state.get_untracked() == EngineState::Running
            && self.ui.meters.get_untracked().playing
    }

    /// Loop on or off; turning it on with no range loops the selected clip,
    /// or four bars from the playhead's bar.
    pub fn toggle_loop(self) {
        self.presence.transport_action();
        let (start, end) = self.loop_range.get_untracked();
        if !self.looping.get_untracked() && end <= start {
            let selected = self.selected.get_untracked();
            let range = self.project.with_untracked(|p| {
                let p = p.as_ref()?;
                let clip = p.clips.iter().find(|c| Some(&c.id) == selected.as_ref());
                if let Some(c) = clip {
                    return Some((c.start, c.start + c.length));
                }
                let tempo = p.tempo_map(p.meta.sample_rate);
                let bar = tempo
                    .position_at_frame(self.cursor.get_untracked() as f64)
                    .bar;
                Some((
                    tempo.frame_at_bar(bar, 1.0) as u64,
                    tempo.frame_at_bar(bar + 4, 1.0) as u64,
                ))
            });
            if let Some(range) = range {
                self.loop_range.set(range);
            }
        }
        self.looping.update(|l| *l = !*l);
    }

    /// Adds a marker at the playhead.
    pub fn add_marker(self) {
        let at = self.playhead();
        let count = self
            .project
            .with_untracked(|p| p.as_ref().map_or(0, |p| p.markers.len()));
        project::edit(|p, txn| p.add_marker(txn, at, &format!("Marker {}", count + 1)));
    }
}

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
    let revision = project_sync.revision;
    let status = project_sync.status;
    let review_status = review_sync.status;
    let peers = project_sync.peers;
    let error = RwSignal::new(None::<String>);
    // The live document, or the saved version on show (read-only).
    let project = Memo::new(move |_| {
        revision.get();
        crate::compare::shown().or_else(project::snapshot)
    });
    // Who this tab is, for the others' presence lists and as the author of
    // comments; the user may rename themselves at any time (kept for this
    // browser).
    let me = RwSignal::new(display_name());
    let ws = Workspace {
        project,
        rate: Memo::new(move |_| {
            project
                .with(|p| p.as_ref().map(|p| f64::from(p.meta.sample_rate)))
                .unwrap_or(48_000.0)
        }),
        tempo: Memo::new(move |_| {
            project.with(|p| match p {
                Some(p) => p.tempo_map(p.meta.sample_rate),
                None => TempoMap::constant(
                    48_000,
                    120.0,
                    stemroom_engine::tempo::TimeSignature::FOUR_FOUR,
                ),
            })
        }),
        role: RwSignal::new(String::new()),
        zoom: RwSignal::new(1.0),
        cursor: RwSignal::new(0),
        play_from: RwSignal::new(0),
        selected: RwSignal::new(None),
        snap: RwSignal::new(true),
        loop_range: RwSignal::new((0, 0)),
        looping: RwSignal::new(false),
        metronome: RwSignal::new(false),
        follow: RwSignal::new(true),
        device: RwSignal::new(None),
        audio: project::audio_revision().unwrap_or_else(|| RwSignal::new(0)),
        help: RwSignal::new(false),
        zoom_anchor: StoredValue::new(None),
        lanes: super::automation::Lanes::new(),
        comments: super::comments::Comments::new(review_sync.revision, me),
        presence: super::presence::Presence::new(peers),
        record: super::record::RecordState::new(),
        ui,
    };
    provide_context(ws);
    ws.record.hook_up(ws);
    let role = ws.role;

    let _ = window_event_listener(leptos::ev::keydown, move |e| shortcut(ws, &e));

    let shared = RwSignal::new(None::<api::LinkInfo>);
    {
        let sync = project_sync.clone();
        presence::run(ws, me, move |json| sync.set_presence(json));
    }
    // The view this user works in, for the others' presence lists.
    let _ = window_event_listener(leptos::ev::pointerdown, move |e| {
        use wasm_bindgen::JsCast;
        if let Some(target) = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            let view = presence::view_of(&target);
            if !view.is_empty() {
                ws.presence.view.set(view);
            }
        }
    });

    {
        let link = link.clone();
        leptos::task::spawn_local(async move {
            match api::project_info(&link.id, &link.token).await {
                Ok(info) => {
                    project::set_role(&info.link.role);
                    role.set(info.link.role.clone());
                    shared.set(info.shared.clone());
                    api::remember(&info.link);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    }

    // After the first sync: migrate (editors), and keep the engine, its
    // transport settings and the title on the document.
    Effect::new(move |_| {
        let synced = matches!(status.get(), SyncStatus::Saved | SyncStatus::Saving);
        if synced
            && !role.get().is_empty()
            && let Err(e) = project::migrate_once(ws.can_edit())
        {
            error.set(Some(e));
        }
    });
    // Takes a closed tab left (in this browser or on the server), offered
    // back once.
    let looked = StoredValue::new(false);
    {
        let id = link.id.clone();
        let token = link.token.clone();
        Effect::new(move |_| {
            let synced = matches!(status.get(), SyncStatus::Saved | SyncStatus::Saving);
            if synced && ws.can_edit() && !looked.get_value() {
                looked.set_value(true);
                ws.record.look_for_takes(id.clone(), token.clone());
            }
        });
    }
    // A refused link (revoked, expired) changes nothing from here on.
    Effect::new(move |_| {
        if matches!(status.get(), SyncStatus::Refused(_)) {
            project::set_role("");
            role.set("refused".into());
        }
    });
    Effect::new(move |_| {
        revision.get();
        project::fetch_missing(move || sync_engine(ui));
        sync_engine(ui);
    });
    Effect::new(move |_| {
        let (start, end) = ws.loop_range.get();
        let enabled = ws.looping.get() && end > start;
        if ui.state.get() == EngineState::Running {
            ui.send(Command::SetLoop {
                start,
                end,
                enabled,
            });
        }
    });
    Effect::new(move |_| {
        let enabled = ws.metronome.get();
        if ui.state.get() == EngineState::Running {
            ui.send(Command::SetMetronome {
                enabled,
                gain_db: stemroom_engine::metronome::DEFAULT_GAIN_DB,
            });
        }
    });
    Effect::new(move |_| {
        if let Some(name) = ws
            .project
            .with(|p| p.as_ref().map(|p| p.meta.name.clone()))
            .filter(|n| !n.is_empty())
        {
            set_title(&name);
        }
    });

    let name = move || {
        ws.project
            .with(|p| p.as_ref().map(|p| p.meta.name.clone()))
            .unwrap_or_default()
    };
    let save_state = move || combined(&status.get(), &review_status.get());

    view! {
        <div class="project">
            <header class="project-bar">
                <input
                    class="project-name"
                    aria-label="Project name"
                    prop:value=name
                    disabled=move || !ws.can_edit()
                    on:change=move |e| {
                        let value = event_target_value(&e);
                        project::edit(|p, txn| p.set_name(txn, value.trim()));
                    }
                />
                <span class="role-badge">{move || role.get()}</span>
                <share::SharedWithYou role=role shared=shared />
                <Show when=move || role.get() == "owner">
                    <share::ShareDialog project=link.id.clone() token=link.token.clone() me=me />
                </Show>
                <comments::CommentsPanel synced=Signal::derive(move || {
                    matches!(review_status.get(), SyncStatus::Saved | SyncStatus::Saving)
                }) />
                <versions::VersionsPanel revision=review_sync.revision />
                <export::ExportPanel />
                <Show when=move || ws.can_edit()>
                    <record::InputToggle />
                </Show>
                <span class="save-state" data-state=move || save_state().key() role="status">
                    {move || save_state().label()}
                </span>
                <ul class="presence" aria-label="Who is here">
                    <li class="me">
                        <input
                            class="my-name"
                            aria-label="Your name, as the others see it"
                            title="Your name, as the others see it"
                            maxlength=NAME_MAX_CHARS.to_string()
                            prop:value=move || me.get()
                            style:width=move || format!("{}ch", me.with(|n| n.chars().count()).clamp(4, NAME_MAX_CHARS) + 1)
                            on:change=move |e| {
                                let name: String = event_target_value(&e).trim().chars().take(NAME_MAX_CHARS).collect();
                                if name.is_empty() {
                                    // Refused: show the name that stands.
                                    me.notify();
                                    return;
                                }
                                store_display_name(&name);
                                me.set(name);
                            }
                        />
                    </li>
                    <presence::PeerList />
                    <presence::FollowBar />
                </ul>
            </header>
            <Show when=move || error.get().is_some()>
                <div class="error" role="alert">{move || error.get()}</div>
            </Show>
            <presence::Announcements />

            <Show when=move || matches!(status.get(), SyncStatus::Refused(_))>
                <div class="refused" role="alert">
                    "This link no longer opens the project (revoked or expired): nothing here syncs any more. Ask the owner for a new link."
                </div>
            </Show>
            <Show when=move || ws.help.get()>
                <div class="shortcuts" role="dialog" aria-label="Keyboard shortcuts" on:click=move |_| ws.help.set(false)>
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
            <record::InputPanel />
            <record::RecordBar />
            <arrange::Arrange />
            <mixer::Mixer />
            <device::DevicePanel />
        </div>
    }
}

/// The arrange view's keys (Space, undo and redo are the app's).
fn shortcut(ws: Workspace, e: &web_sys::KeyboardEvent) {
    if typing(e) {
        return;
    }
    let command = e.ctrl_key() || e.meta_key();
    let code = e.code();
    if command {
        if code == "KeyD" && ws.can_edit() {
            e.prevent_default();
            duplicate_selected(ws);
        }
        return;
    }
    if code == "KeyC" && !e.shift_key() && !e.alt_key() {
        // A comment on the loop range when looping, else at the playhead.
        if ws.can_comment() {
            e.prevent_default();
            let (start, end) = ws.loop_range.get_untracked();
            let (start, end) = if ws.looping.get_untracked() && end > start {
                (start, end)
            } else {
                let at = ws.cursor_or_playhead();
                (at, at)
            };
            ws.comments.begin(start, end, None);
        }
        return;
    }
    if code == "KeyB" && !e.shift_key() && !e.alt_key() {
        // A/B: the other side, at the same position (anyone may listen).
        if crate::compare::toggle() {
            e.prevent_default();
            crate::session::sync_engine(ws.ui);
        }
        return;
    }
    let editing = matches!(
        code.as_str(),
        "KeyS" | "Delete" | "Backspace" | "KeyM" | "ArrowLeft" | "ArrowRight"
    );
    if editing && !ws.can_edit() {
        return;
    }
    let selected = || ws.selected.get_untracked();
    let clip = |id: &str| {
        ws.project
            .with_untracked(|p| p.as_ref()?.clips.iter().find(|c| c.id == id).cloned())
    };
    match code.as_str() {
        "KeyS" => {
            if let Some(id) = selected() {
                let at = ws.cursor_or_playhead();
                if let Some(right) = project::edit(|p, txn| p.split_clip(txn, &id, at)).flatten() {
                    ws.selected.set(Some(right));
                }
            }
        }
        "Delete" | "Backspace" => {
            if ws.lanes.delete_selected() {
                e.prevent_default();
            } else if let Some(id) = selected() {
                project::edit(|p, txn| p.delete_clip(txn, &id));
                ws.selected.set(None);
            }
        }
        "KeyM" if e.shift_key() => {
            if ws.can_edit() {
                ws.add_marker();
            }
        }
        "KeyM" => {
            // Mute the selected clip's track.
            let Some(c) = selected().and_then(|id| clip(&id)) else {
                return;
            };
            let mute = ws.project.with_untracked(|p| {
                p.as_ref()?
                    .tracks
                    .iter()
                    .find(|t| t.id == c.track)
                    .map(|t| !t.strip.mute)
            });
            if let Some(mute) = mute {
                project::edit(|p, txn| p.set_track_mute(txn, &c.track, mute));
            }
        }
        "ArrowLeft" | "ArrowRight" => {
            // Nudge the selected clip by a beat.
            let Some(c) = selected().and_then(|id| clip(&id)) else {
                return;
            };
            e.prevent_default();
            let tempo = ws.tempo();
            let beat = tempo.beat_at_frame(c.start as f64);
            let step = if code == "ArrowLeft" { -1.0 } else { 1.0 };
            let start = tempo.frame_at_beat((beat + step).max(0.0)).round() as u64;
            project::edit(|p, txn| p.move_clip(txn, &c.id, &c.track, start));
        }
        "Space" => {
            e.prevent_default();
            if !e.repeat() {
                ws.play_pause();
            }
        }
        "Home" => ws.seek(0),
        "KeyL" => ws.toggle_loop(),
        "KeyR" if e.shift_key() => {
            if ws.can_edit() && !e.repeat() {
                e.prevent_default();
                ws.record.toggle_record(ws);
            }
        }
        "KeyR" => {
            // Arm the selected clip's track, or the first track.
            if ws.can_edit() {
                let track = ws.project.with_untracked(|p| {
                    let p = p.as_ref()?;
                    selected()
                        .and_then(|id| p.clips.iter().find(|c| c.id == id).map(|c| c.track.clone()))
                        .or_else(|| p.tracks.first().map(|t| t.id.clone()))
                });
                if let Some(track) = track {
                    ws.record.toggle_arm(ws, &track);
                }
            }
        }
        "KeyK" => ws.metronome.update(|m| *m = !*m),
        "Equal" | "NumpadAdd" => ws.zoom_by(1.5, None),
        "Minus" | "NumpadSubtract" => ws.zoom_by(1.0 / 1.5, None),
        "Slash" if e.shift_key() => ws.help.update(|h| *h = !*h),
        "Escape" => {
            ws.help.set(false);
            ws.device.set(None);
        }
        _ => {}
    }
}

impl Workspace {
    /// Where S splits: the playhead while playing, else the cursor.
    fn cursor_or_playhead(self) -> u64 {
        if self.playing_untracked() {
            self.ui.meters.get_untracked().position
        } else {
            self.cursor.get_untracked()
        }
    }
}

/// Ctrl+D: a copy of the selected clip right after it, selected.
fn duplicate_selected(ws: Workspace) {
    let Some(id) = ws.selected.get_untracked() else {
        return;
    };
    let Some(c) = ws
        .project
        .with_untracked(|p| p.as_ref()?.clips.iter().find(|c| c.id == id).cloned())
    else {
        return;
    };
    if let Some(copy) =
        project::edit(|p, txn| p.duplicate_clip(txn, &c.id, &c.track, c.start + c.length)).flatten()
    {
        ws.selected.set(Some(copy));
    }
}

/// Every shortcut, as the overlay (`?`) lists them.
const SHORTCUTS: &[(&str, &str)] = &[
    ("Space", "Play / pause"),
    ("Home", "Return to start"),
    ("Click the ruler", "Move the playhead (drag to scrub)"),
    ("Drag the ruler's top strip", "Set the loop range"),
    ("L", "Loop on / off"),
    ("K", "Metronome on / off"),
    ("Click a lane", "Place the cursor"),
    ("S", "Split the selected clip at the playhead"),
    ("Ctrl+D", "Duplicate the selected clip"),
    ("Delete", "Delete the selected clip or automation points"),
    ("M", "Mute the selected clip's track"),
    ("R", "Arm the selected clip's track for recording"),
    ("Shift+R", "Record on the armed tracks / stop the take"),
    ("C", "Comment on the loop range, or at the playhead"),
    (
        "B",
        "A/B: switch between the current mix and the version compared",
    ),
    ("Shift+M", "Add a marker at the playhead"),
    ("← →", "Move the selected clip by a beat"),
    ("+ / −", "Zoom in / out (around the playhead)"),
    ("Ctrl+wheel", "Zoom around the pointer"),
    ("Ctrl+Z", "Undo your last edit"),
    ("Ctrl+Shift+Z", "Redo"),
    ("Esc", "Close panels"),
    ("?", "Show or hide this list"),
];

/// A ✕ that deletes row `id` of the document's `table` (closing its panel
/// if open); disabled for roles that may not edit. The click stays here:
/// a marker or strip beneath does not see it.
#[component]
pub fn DeleteButton(
    class: &'static str,
    title: &'static str,
    table: &'static str,
    id: String,
) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    view! {
        <button
            class=class
            title=title
            disabled=move || !ws.can_edit()
            on:click=move |e| {
                e.stop_propagation();
                if ws.device.get_untracked().as_deref() == Some(id.as_str()) {
                    ws.device.set(None);
                }
                project::edit(|p, txn| p.delete(txn, table, &id));
            }
        >
            "✕"
        </button>
    }
}

/// An input that edits one field of one row of the document (a track's
/// name or colour, a bus's name) when it changes; disabled for roles that
/// may not edit. Text is trimmed.
#[component]
pub fn FieldInput(
    class: &'static str,
    label: &'static str,
    table: &'static str,
    id: String,
    field: &'static str,
    value: String,
    #[prop(default = "text")] kind: &'static str,
) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    view! {
        <input
            type=kind
            class=class
            aria-label=label
            prop:value=value
            disabled=move || !ws.can_edit()
            on:change=move |e| {
                let value = event_target_value(&e);
                let value = if kind == "text" { value.trim() } else { value.as_str() };
                project::edit(|p, txn| p.set(txn, table, &id, field, value));
            }
        />
    }
}

/// Whether a key event goes to a text field.
pub fn typing(e: &web_sys::KeyboardEvent) -> bool {
    use wasm_bindgen::JsCast;
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        .is_some_and(|el| {
            matches!(el.tag_name().as_str(), "TEXTAREA" | "SELECT")
                || (el.tag_name() == "INPUT"
                    && !matches!(
                        el.get_attribute("type").as_deref(),
                        Some("range" | "checkbox" | "color" | "button")
                    ))
        })
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

const NAME_KEY: &str = "stemroom.name";
/// The longest display name, so a presence chip stays a chip.
const NAME_MAX_CHARS: usize = 32;

/// The awareness state the others' presence lists read.
/// This browser's display name (kept in local storage); a guest name the
/// first time.
fn display_name() -> String {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    if let Some(name) = storage
        .as_ref()
        .and_then(|s| s.get_item(NAME_KEY).ok().flatten())
        .filter(|n| !n.trim().is_empty())
    {
        return name;
    }
    let name = format!("Guest {}", (js_sys::Math::random() * 900.0) as u32 + 100);
    store_display_name(&name);
    name
}

fn store_display_name(name: &str) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(NAME_KEY, name);
    }
}
