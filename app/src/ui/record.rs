//! Recording in the workspace (issue 15): arming tracks (R, and a button in
//! the track header and the mixer strip) with the input channels each
//! takes, the record button (Shift+R) with count-in and punch, the input
//! panel (device, meter, round-trip latency and its calibration), the bar
//! that shows takes uploading, offers back takes a closed tab left, and
//! chooses among the passes of a loop recording.

use std::collections::HashMap;
use std::rc::Rc;

use leptos::prelude::*;
use stemroom_engine::Command;

use super::workspace::Workspace;
use crate::input::{Device, InputChannels, InputInfo};
use crate::project;
use crate::recorder::{self, Armed, Progress, RecordSetup};
use crate::recorder::{Recoverable, TakeSource};
use crate::session::EngineState;

/// This tab's recording state. `Copy`: signals only.
#[derive(Clone, Copy)]
pub struct RecordState {
    /// Armed tracks, in the order they were armed.
    pub armed: RwSignal<Vec<String>>,
    /// Tracks playing the input through their strip (input monitoring).
    pub monitored: RwSignal<Vec<String>>,
    /// The input channels each track records (In 1 when not set).
    pub channels: RwSignal<HashMap<String, InputChannels>>,
    pub devices: RwSignal<Vec<Device>>,
    /// The device chosen ("" the browser's default).
    pub device: RwSignal<String>,
    /// The open input.
    pub input: RwSignal<Option<InputInfo>>,
    pub opening: RwSignal<bool>,
    /// This tab is recording now.
    pub recording: RwSignal<bool>,
    /// Bars of count-in before a take (0, 1 or 2).
    pub count_in: RwSignal<u32>,
    /// Record only inside the loop range.
    pub punch: RwSignal<bool>,
    /// The input's peaks since the last drain (linear, per channel).
    pub peaks: RwSignal<[f32; 2]>,
    pub progress: RwSignal<Progress>,
    pub message: RwSignal<Option<String>>,
    /// Takes a closed tab left in this browser.
    pub recoverable: RwSignal<Vec<Recoverable>>,
    pub panel: RwSignal<bool>,
    pub calibrating: RwSignal<bool>,
}

impl RecordState {
    pub fn new() -> Self {
        RecordState {
            armed: RwSignal::new(Vec::new()),
            monitored: RwSignal::new(Vec::new()),
            channels: RwSignal::new(HashMap::new()),
            devices: RwSignal::new(Vec::new()),
            device: RwSignal::new(stored_device()),
            input: RwSignal::new(None),
            opening: RwSignal::new(false),
            recording: RwSignal::new(false),
            count_in: RwSignal::new(0),
            punch: RwSignal::new(false),
            peaks: RwSignal::new([0.0; 2]),
            progress: RwSignal::new(Progress::default()),
            message: RwSignal::new(None),
            recoverable: RwSignal::new(Vec::new()),
            panel: RwSignal::new(false),
            calibrating: RwSignal::new(false),
        }
    }

    pub fn is_armed(self, track: &str) -> bool {
        self.armed.with(|a| a.iter().any(|t| t == track))
    }

    pub fn channels_of(self, track: &str) -> InputChannels {
        self.channels
            .with(|c| c.get(track).copied().unwrap_or_default())
    }

    /// The tracks this tab records on now (what presence publishes).
    pub fn recording_tracks(self) -> Vec<String> {
        if self.recording.get() {
            self.armed.get()
        } else {
            Vec::new()
        }
    }

    /// Arms or disarms `track`; arming opens the input the first time
    /// (a user gesture: the browser may ask for permission).
    pub fn toggle_arm(self, ws: Workspace, track: &str) {
        if self.recording.get_untracked() {
            return;
        }
        let armed = self.is_armed_untracked(track);
        self.armed.update(|a| {
            if armed {
                a.retain(|t| t != track);
            } else {
                a.push(track.to_string());
            }
        });
        if !armed && self.input.get_untracked().is_none() {
            self.open_input(ws);
        }
    }

    /// Input monitoring on or off for `track` (opening the input the
    /// first time).
    pub fn toggle_monitor(self, ws: Workspace, track: &str) {
        let on = !self
            .monitored
            .with_untracked(|m| m.iter().any(|t| t == track));
        self.monitored.update(|m| {
            if on {
                m.push(track.to_string());
            } else {
                m.retain(|t| t != track);
            }
        });
        if on && self.input.get_untracked().is_none() {
            self.open_input(ws);
        }
    }

    fn is_armed_untracked(self, track: &str) -> bool {
        self.armed.with_untracked(|a| a.iter().any(|t| t == track))
    }

    /// Opens the chosen input into the engine (starting the engine).
    pub fn open_input(self, ws: Workspace) {
        if self.opening.get_untracked() {
            return;
        }
        self.opening.set(true);
        self.message.set(None);
        ws.ui.arm();
        let device = self.device.get_untracked();
        leptos::task::spawn_local(async move {
            let result = async {
                wait_for_engine(ws).await?;
                let info = crate::input::open(&device).await?;
                Ok::<_, String>(info)
            }
            .await;
            match result {
                Ok(info) => {
                    self.input.set(Some(info));
                    recorder::start_draining();
                    if let Ok(devices) = crate::input::devices().await {
                        self.devices.set(devices);
                    }
                }
                Err(e) => self.message.set(Some(e)),
            }
            self.opening.set(false);
        });
    }

    /// Chooses another input device (kept for this browser).
    pub fn choose_device(self, ws: Workspace, device: String) {
        store_device(&device);
        self.device.set(device);
        if self.input.get_untracked().is_some() {
            self.open_input(ws);
        }
    }

    /// Record on every armed track, or stop the take (Shift+R).
    pub fn toggle_record(self, ws: Workspace) {
        if self.recording.get_untracked() {
            recorder::stop();
            return;
        }
        match self.setup(ws) {
            Ok((setup, from)) => {
                let playing = ws.playing_untracked();
                let start = [Command::Seek { frame: from }, Command::Play];
                let transport: &[Command] = if playing { &[] } else { &start };
                if let Err(e) = recorder::record(setup, transport) {
                    self.message.set(Some(e));
                    return;
                }
                self.message.set(None);
                self.recording.set(true);
                // A count-in is counted by the click.
                if !playing && self.count_in.get_untracked() > 0 {
                    ws.metronome.set(true);
                }
                if !playing {
                    ws.presence.transport_action();
                    ws.play_from.set(ws.cursor.get_untracked());
                }
            }
            Err(e) => self.message.set(Some(e)),
        }
    }

    /// The take's setup from the workspace, and where the transport
    /// starts (before the cursor by the count-in).
    fn setup(self, ws: Workspace) -> Result<(RecordSetup, u64), String> {
        if !ws.can_edit() {
            return Err("your role cannot record into this project".into());
        }
        if ws.ui.state.get_untracked() != EngineState::Running {
            return Err("open an input first (arm a track)".into());
        }
        let info = self
            .input
            .get_untracked()
            .ok_or("open an input first (arm a track)")?;
        let link = project::with(|p| p.link.clone()).ok_or("no project is open")?;
        let project = ws.project.get_untracked().ok_or("no project is open")?;
        let armed = self.armed.get_untracked();
        let tracks: Vec<Armed> = project
            .tracks
            .iter()
            .filter(|t| armed.contains(&t.id))
            .map(|t| {
                let takes = project.clips.iter().filter(|c| c.track == t.id).count();
                Armed {
                    track: t.id.clone(),
                    name: format!("{} take {}", t.name, takes + 1),
                    channels: self.channels_of_untracked(&t.id),
                }
            })
            .collect();
        let rate = ws.ui.sample_rate.get_untracked();
        let latency = (info.round_trip() * f64::from(rate)).round().max(0.0) as u64;
        let (loop_start, loop_end) = ws.loop_range.get_untracked();
        let range = (loop_end > loop_start).then_some((loop_start, loop_end));
        let looping = range.filter(|_| ws.looping.get_untracked());
        let playing = ws.playing_untracked();
        let cursor = ws.cursor.get_untracked();
        let bars = if playing {
            0
        } else {
            self.count_in.get_untracked()
        };
        let from = if bars > 0 {
            let tempo = ws.tempo.get_untracked();
            let bar = tempo.position_at_frame(cursor as f64).bar;
            let bar_frames = tempo.frame_at_bar(bar + 1, 1.0) - tempo.frame_at_bar(bar, 1.0);
            cursor.saturating_sub((bar_frames * f64::from(bars)).round() as u64)
        } else {
            cursor
        };
        // The count-in is heard, not recorded.
        let punch = match (
            self.punch.get_untracked().then_some(range).flatten(),
            bars > 0,
        ) {
            (Some((a, b)), _) => Some((a.max(cursor.min(a)), b)),
            (None, true) => Some((cursor, u64::MAX)),
            (None, false) => None,
        };
        Ok((
            RecordSetup {
                project: link.id,
                token: link.token,
                tracks,
                sample_rate: rate as u32,
                latency,
                looping,
                punch,
            },
            from,
        ))
    }

    fn channels_of_untracked(self, track: &str) -> InputChannels {
        self.channels
            .with_untracked(|c| c.get(track).copied().unwrap_or_default())
    }

    /// Connects the recorder's reports to these signals, and monitoring
    /// to the engine.
    pub fn hook_up(self, ws: Workspace) {
        let state = self;
        Effect::new(move |_| {
            let list = state.monitored.with(|m| {
                m.iter()
                    .map(|t| (t.clone(), state.channels_of(t)))
                    .collect::<Vec<_>>()
            });
            // Heard once the input is open.
            state.input.track();
            recorder::set_monitored(list);
            crate::session::sync_engine(ws.ui);
        });
        recorder::set_hooks(recorder::Hooks {
            progress: Rc::new(move |p| {
                let _ = state.progress.try_set(p);
            }),
            calibrated: Rc::new(move |result| {
                let _ = state.calibrating.try_set(false);
                let rate = f64::from(ws.ui.sample_rate.get_untracked());
                match result {
                    Ok(lag) => {
                        let measured = lag as f64 / rate;
                        state.input.update(|i| {
                            if let Some(i) = i {
                                let correction = measured - i.reported;
                                crate::input::store_correction(&i.device, correction);
                                i.correction = Some(correction);
                            }
                        });
                        state.message.set(Some(format!(
                            "Round trip measured: {:.1} ms",
                            measured * 1000.0
                        )));
                    }
                    Err(e) => state.message.set(Some(e)),
                }
            }),
            stopped: Rc::new(move || {
                let _ = state.recording.try_set(false);
            }),
            peaks: Rc::new(move |p| {
                let _ = state.peaks.try_set(p);
            }),
        });
    }

    /// Looks for takes a closed tab or a crash left (once the project is
    /// open), here and on the server; again while the server has
    /// recordings too fresh to tell from one still being made (for a
    /// minute at most).
    pub fn look_for_takes(self, project: String, token: String) {
        leptos::task::spawn_local(async move {
            for _ in 0..6 {
                let (found, again) = recorder::recoverable(&project, &token).await;
                if self.recoverable.try_set(found).is_some() {
                    return; // the workspace is gone
                }
                let Some(wait) = again else { return };
                crate::background::sleep((wait as i32 + 1) * 1000).await;
            }
        });
    }
}

impl Default for RecordState {
    fn default() -> Self {
        Self::new()
    }
}

/// Waits until the engine runs (it starts on the gesture that asked).
async fn wait_for_engine(ws: Workspace) -> Result<(), String> {
    for _ in 0..750 {
        match ws.ui.state.get_untracked() {
            EngineState::Running => return Ok(()),
            EngineState::Failed => {
                return Err(ws
                    .ui
                    .error
                    .get_untracked()
                    .unwrap_or_else(|| "the audio engine did not start".into()));
            }
            _ => crate::background::sleep(20).await,
        }
    }
    Err("the audio engine did not start".into())
}

const DEVICE_KEY: &str = "stemroom.inputDevice";

fn stored_device() -> String {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(DEVICE_KEY).ok().flatten())
        .unwrap_or_default()
}

fn store_device(device: &str) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item(DEVICE_KEY, device);
    }
}

/// A track's arm button (the track header and the mixer strip).
#[component]
pub fn ArmButton(track: String) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let rec = ws.record;
    let (arm_id, is_id) = (track.clone(), track.clone());
    view! {
        <button
            class="track-arm"
            class:active=move || rec.is_armed(&is_id)
            class:recording=move || rec.recording.get() && rec.is_armed(&track)
            title="Arm for recording (R)"
            disabled=move || !ws.can_edit() || rec.recording.get()
            on:click=move |_| rec.toggle_arm(ws, &arm_id)
        >
            "●"
        </button>
    }
}

/// A track's input row under its name: arm, monitoring, the input
/// channels it records (while armed or monitoring), and who else records
/// on it now.
#[component]
pub fn TrackInput(track: String) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let rec = ws.record;
    let (monitor_id, monitoring_id, shown_id, ch_id, sel_id, by_id) = (
        track.clone(),
        track.clone(),
        track.clone(),
        track.clone(),
        track.clone(),
        track.clone(),
    );
    let monitoring = move || rec.monitored.with(|m| m.contains(&monitoring_id));
    let monitor_title = move || {
        let late = rec
            .input
            .get()
            .map(|i| {
                format!(
                    " (heard {:.1} ms late: the round trip)",
                    i.round_trip() * 1000.0
                )
            })
            .unwrap_or_default();
        format!("Input monitoring through the track's strip{late}")
    };
    view! {
        <div class="track-input-row">
            <ArmButton track=track.clone() />
            <button
                class="track-monitor"
                class:active=monitoring
                title=monitor_title
                disabled=move || !ws.can_edit()
                on:click=move |_| rec.toggle_monitor(ws, &monitor_id)
            >
                "I"
            </button>
            <Show when=move || rec.is_armed(&shown_id) || rec.monitored.with(|m| m.contains(&shown_id))>
                <select
                    class="track-input"
                    aria-label="Input channels"
                    prop:value={
                        let ch_id = ch_id.clone();
                        move || rec.channels_of(&ch_id).key()
                    }
                    disabled=move || rec.recording.get()
                    on:change={
                        let sel_id = sel_id.clone();
                        move |e| {
                            let choice = InputChannels::from_key(&event_target_value(&e));
                            rec.channels.update(|c| {
                                c.insert(sel_id.clone(), choice);
                            });
                        }
                    }
                >
                    {InputChannels::ALL
                        .into_iter()
                        .map(|c| view! { <option value=c.key()>{c.label()}</option> })
                        .collect_view()}
                </select>
            </Show>
            {move || {
                let names = super::presence::recording_on(ws, &by_id);
                (!names.is_empty())
                    .then(|| {
                        view! {
                            <span class="track-recording-by" title="Recording on this track now">
                                {format!("● {} recording", names.join(", "))}
                            </span>
                        }
                    })
            }}
        </div>
    }
}

/// The transport's record button.
#[component]
pub fn RecordButton() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let rec = ws.record;
    view! {
        <button
            class="transport-record"
            class:active=move || rec.recording.get()
            disabled=move || !ws.can_edit()
            on:click=move |_| rec.toggle_record(ws)
            title="Record on the armed tracks (Shift+R)"
        >
            "●"
        </button>
    }
}

/// The project bar's toggle of the input panel.
#[component]
pub fn InputToggle() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let rec = ws.record;
    view! {
        <button
            class="input-toggle"
            class:active=move || rec.panel.get()
            data-input=move || if rec.input.get().is_some() { "open" } else { "closed" }
            on:click=move |_| rec.panel.update(|p| *p = !*p)
            title="Input: device, level, latency, count-in, punch"
        >
            "Input"
        </button>
    }
}

/// The input panel: device, level, latency and its calibration, count-in
/// and punch.
#[component]
pub fn InputPanel() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let rec = ws.record;
    let db = |x: f32| {
        if x > 0.0 {
            20.0 * x.log10()
        } else {
            f32::NEG_INFINITY
        }
    };
    let bar = move |ch: usize| {
        let level = db(rec.peaks.get()[ch]);
        let width = ((level + 60.0) / 60.0).clamp(0.0, 1.0) * 100.0;
        format!("width:{width:.0}%")
    };
    let latency = move || {
        rec.input.get().map(|i| {
            let corrected = i
                .correction
                .map(|c| format!(", calibrated {:+.1} ms", c * 1000.0))
                .unwrap_or_else(|| ", not calibrated".into());
            format!(
                "Round trip {:.1} ms (reported {:.1} ms{corrected})",
                i.round_trip() * 1000.0,
                i.reported * 1000.0
            )
        })
    };
    view! {
        <Show when=move || rec.panel.get()>
            <aside class="input-panel" aria-label="Input">
                <header>
                    <h2>"Input"</h2>
                    <button class="panel-close" title="Close" on:click=move |_| rec.panel.set(false)>"✕"</button>
                </header>
                <label>
                    "Device "
                    <select
                        class="input-device"
                        prop:value=move || rec.device.get()
                        on:change=move |e| rec.choose_device(ws, event_target_value(&e))
                    >
                        <option value="">"Default input"</option>
                        {move || {
                            rec.devices
                                .get()
                                .into_iter()
                                .filter(|d| d.id != "default")
                                .map(|d| view! { <option value=d.id.clone()>{d.label.clone()}</option> })
                                .collect_view()
                        }}
                    </select>
                </label>
                <button
                    class="input-open"
                    disabled=move || rec.opening.get()
                    on:click=move |_| rec.open_input(ws)
                >
                    {move || if rec.input.get().is_some() { "Reopen input" } else { "Open input" }}
                </button>
                <div class="input-meter" data-peak=move || format!("{:.1}", db(rec.peaks.get()[0].max(rec.peaks.get()[1])))>
                    <div class="input-meter-bar" style=move || bar(0)></div>
                    <div class="input-meter-bar" style=move || bar(1)></div>
                </div>
                <p class="input-latency" data-round-trip-ms=move || rec.input.get().map(|i| format!("{:.3}", i.round_trip() * 1000.0)).unwrap_or_default()>
                    {latency}
                </p>
                <button
                    class="input-calibrate"
                    title="Connect the output to the input (a loopback cable), then measure"
                    disabled=move || rec.input.get().is_none() || rec.calibrating.get() || rec.recording.get()
                    on:click=move |_| {
                        rec.calibrating.set(true);
                        rec.message.set(Some("Measuring: clicks play and come back through the loopback…".into()));
                        if let Err(e) = recorder::calibrate() {
                            rec.calibrating.set(false);
                            rec.message.set(Some(e));
                        }
                    }
                >
                    "Calibrate latency"
                </button>
                <label>
                    "Count-in "
                    <select
                        class="input-count-in"
                        prop:value=move || rec.count_in.get().to_string()
                        on:change=move |e| rec.count_in.set(event_target_value(&e).parse().unwrap_or(0))
                    >
                        <option value="0">"Off"</option>
                        <option value="1">"1 bar"</option>
                        <option value="2">"2 bars"</option>
                    </select>
                </label>
                <label>
                    <input
                        type="checkbox"
                        class="input-punch"
                        prop:checked=move || rec.punch.get()
                        on:change=move |e| rec.punch.set(event_target_checked(&e))
                    />
                    " Punch in and out on the loop range"
                </label>
            </aside>
        </Show>
    }
}

/// Above the arrange view: recording messages, takes uploading, takes to
/// recover, and the passes of the selected loop take.
#[component]
pub fn RecordBar() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let rec = ws.record;
    let status = move || {
        let p = rec.progress.get();
        let mut parts = Vec::new();
        if rec.recording.get() {
            parts.push(format!(
                "Recording {:.1} s",
                p.frames as f64 / f64::from(ws.ui.sample_rate.get())
            ));
        }
        if p.uploading > 0 {
            parts.push(format!(
                "{} take{} uploading{}",
                p.uploading,
                if p.uploading == 1 { "" } else { "s" },
                if p.offline {
                    " (server away: kept in this browser)"
                } else {
                    ""
                }
            ));
        }
        if p.dropped > 0 {
            parts.push(format!("{} frames dropped", p.dropped));
        }
        parts.join(" · ")
    };
    let uploading = move || rec.progress.get().uploading;
    view! {
        <div
            class="record-bar"
            data-uploading=uploading
            data-frames=move || rec.progress.get().frames
            data-dropped=move || rec.progress.get().dropped
            data-made=move || rec.progress.get().made
            data-sent=move || rec.progress.get().sent
            data-offline=move || rec.progress.get().offline.to_string()
            data-recording=move || rec.recording.get().to_string()
        >
            <span class="record-status" role="status">{status}</span>
            {move || rec.message.get().map(|m| view! { <span class="record-message">{m}</span> })}
            {move || rec.progress.get().error.map(|m| view! { <span class="record-error">{m}</span> })}
            <For
                each=move || {
                    rec.recoverable
                        .get()
                        .into_iter()
                        .filter(|take| {
                            take.source == TakeSource::Browser
                                || super::presence::recording_on(ws, &take.meta.track).is_empty()
                        })
                        .collect::<Vec<_>>()
                }
                key=|take| take.meta.id.clone()
                let:take
            >
                <RecoverOffer take=take />
            </For>
            <TakeChooser />
        </div>
    }
}

/// "A take was not finished": recover or discard. A take only the server
/// holds is hidden while someone records on its track (it may be theirs,
/// waiting for their network).
#[component]
fn RecoverOffer(take: Recoverable) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let rec = ws.record;
    let busy = RwSignal::new(false);
    let id = take.meta.id.clone();
    let remove = move |id: &str| rec.recoverable.update(|r| r.retain(|t| t.meta.id != id));
    let track = ws.project.with_untracked(|p| {
        p.as_ref()
            .and_then(|p| p.tracks.iter().find(|t| t.id == take.meta.track))
            .map(|t| t.name.clone())
    });
    let source = match take.source {
        TakeSource::Browser => "browser",
        TakeSource::Server { .. } => "server",
    };
    let from = match take.source {
        TakeSource::Browser => String::new(),
        TakeSource::Server { bytes, .. } => format!(
            " The server holds {:.1} s of it.",
            bytes as f64 / take.meta.frame_bytes() as f64 / f64::from(take.meta.sample_rate)
        ),
    };
    let text = format!(
        "“{}” on {} was not finished when its tab closed.{from}",
        take.meta.name,
        track.unwrap_or_else(|| "a deleted track".into())
    );
    // Recover (true) or discard the take; the offer goes once it is done.
    let take = StoredValue::new(take);
    let act = move |recover: bool| {
        busy.set(true);
        let take = take.get_value();
        let token = project::with(|p| p.link.token.clone()).unwrap_or_default();
        leptos::task::spawn_local(async move {
            let id = take.meta.id.clone();
            let done = if recover {
                recorder::recover(take, token).await.map(drop)
            } else {
                recorder::discard(take, token).await
            };
            match done {
                Ok(()) => remove(&id),
                Err(e) => rec.message.set(Some(e)),
            }
            let _ = busy.try_set(false);
        });
    };
    view! {
        <span class="recover-offer" data-take=id data-source=source>
            {text}
            <button
                class="recover-take"
                disabled=move || busy.get() || !ws.can_edit()
                on:click=move |_| act(true)
            >
                "Recover"
            </button>
            <button class="discard-take" disabled=move || busy.get() on:click=move |_| act(false)>
                "Discard"
            </button>
        </span>
    }
}

/// The passes of the selected clip's loop take: choose the one that
/// plays, or keep them all as clips on tracks of their own.
#[component]
fn TakeChooser() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let group = Memo::new(move |_| {
        let selected = ws.selected.get()?;
        ws.project.with(|p| {
            let p = p.as_ref()?;
            let take = p.clips.iter().find(|c| c.id == selected)?.take.clone()?;
            let mut passes: Vec<(u32, bool)> = p
                .clips
                .iter()
                .filter_map(|c| c.take.as_ref().filter(|t| t.group == take.group))
                .map(|t| (t.pass, t.active))
                .collect();
            passes.sort_unstable();
            Some((take.group, passes))
        })
    });
    view! {
        {move || group.get().map(|(group, passes)| {
            let keep = group.clone();
            view! {
                <span class="take-chooser">
                    "Takes: "
                    {passes.into_iter().map(|(pass, active)| {
                        let group = group.clone();
                        view! {
                            <button
                                class="take-pass"
                                class:active=active
                                data-pass=pass
                                disabled=move || !ws.can_edit()
                                on:click=move |_| {
                                    project::edit(|p, txn| p.choose_take(txn, &group, pass));
                                }
                            >
                                {(pass + 1).to_string()}
                            </button>
                        }
                    }).collect_view()}
                    <button
                        class="take-keep-all"
                        disabled=move || !ws.can_edit()
                        on:click=move |_| {
                            project::edit(|p, txn| p.keep_all_takes(txn, &keep));
                        }
                    >
                        "Keep all as clips"
                    </button>
                </span>
            }
        })}
    }
}
