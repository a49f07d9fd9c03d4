//! Who is here and what they are doing: each person's name, colour, role
//! and view in the project bar, their playheads moving on your timeline
//! while they play, their selected clip and loop range, and a line in the
//! page when someone joins or leaves (never a modal).
//!
//! It travels as the sync awareness state (JSON, docs/API.md), published on
//! every change and four times a second while playing. A playhead is drawn
//! from the position last published, moved on by the time since it
//! arrived here (clocks differ between machines; the arrival time does
//! not).

use std::collections::{BTreeMap, HashMap};

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::comments::author_colour;
use super::workspace::Workspace;

/// How often a playing tab publishes its position (ms).
const PLAYING_PUBLISH_MS: f64 = 250.0;

/// How long a join or leave line stays (ms).
const ANNOUNCE_MS: i32 = 6_000;

/// One person's presence as published.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerState {
    pub name: String,
    #[serde(default)]
    pub role: String,
    /// Where they work: "arrange", "mixer", "device", "comments".
    #[serde(default)]
    pub view: String,
    #[serde(default)]
    pub playing: bool,
    /// Their playhead (frames).
    #[serde(default)]
    pub position: u64,
    /// Frames per second their position advances at while playing.
    #[serde(default)]
    pub rate: f64,
    #[serde(default)]
    pub selected: Option<String>,
    /// Their loop range, when looping.
    #[serde(default, rename = "loop")]
    pub loop_range: Option<(u64, u64)>,
    /// Counts their transport actions (play, stop, seek, loop): a change
    /// tells their followers to catch up.
    #[serde(default)]
    pub transport: u32,
    /// "Play for everyone": they ask the others to follow them.
    #[serde(default)]
    pub invite: bool,
    /// The tracks they are recording on now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recording: Vec<String>,
}

/// A peer as this tab knows it: the state and when it arrived (ms).
#[derive(Clone, Debug, PartialEq)]
pub struct Peer {
    pub id: u64,
    pub state: PeerState,
    pub arrived: f64,
}

impl Peer {
    pub fn colour(&self) -> String {
        author_colour(&self.state.name)
    }

    /// Their playhead now: extrapolated while they play.
    pub fn playhead(&self, now: f64) -> u64 {
        if self.state.playing {
            let ahead = ((now - self.arrived).max(0.0) / 1000.0 * self.state.rate) as u64;
            self.state.position + ahead
        } else {
            self.state.position
        }
    }
}

/// What the views share about presence. `Copy`: signals only.
#[derive(Clone, Copy)]
pub struct Presence {
    /// The others, by awareness client id.
    pub peers: Memo<Vec<Peer>>,
    /// Ticks every display frame while someone else plays.
    pub now: RwSignal<f64>,
    /// Join and leave lines: (id, text).
    pub announcements: RwSignal<Vec<(u64, String)>>,
    /// Where this user works now.
    pub view: RwSignal<&'static str>,
    /// The person whose transport this tab follows.
    pub following: RwSignal<Option<u64>>,
    /// This user's transport actions (see [`PeerState::transport`]).
    pub transport: RwSignal<u32>,
    /// This user asks everyone to follow ("Play for everyone").
    pub inviting: RwSignal<bool>,
    /// Invitations this user turned down, by peer.
    declined: RwSignal<Vec<u64>>,
    /// Set while this tab applies its leader's transport (that is not an
    /// action of this user's: it neither counts nor ends the follow).
    applying: StoredValue<bool>,
    /// The last seek of this user's while playing: (frame, when, ms). The
    /// engine's meters show it a quantum or more later, so until then what
    /// goes out is the seek's target moved on by the time since.
    seek: StoredValue<Option<(u64, f64)>>,
}

impl Presence {
    /// `raw`: the sync layer's peers (client id → state JSON).
    pub fn new(raw: RwSignal<HashMap<u64, String>>) -> Self {
        let arrivals = StoredValue::new(HashMap::<u64, (String, f64)>::new());
        let peers = Memo::new(move |_| {
            let now = js_sys::Date::now();
            raw.with(|raw| {
                let mut peers: Vec<Peer> = raw
                    .iter()
                    .filter_map(|(id, json)| {
                        let state: PeerState = serde_json::from_str(json).ok()?;
                        // The arrival time of this exact state, kept while it lasts.
                        let arrived = arrivals
                            .with_value(|a| a.get(id).filter(|(j, _)| j == json).map(|(_, t)| *t));
                        let arrived = arrived.unwrap_or_else(|| {
                            arrivals.update_value(|a| {
                                a.insert(*id, (json.clone(), now));
                            });
                            now
                        });
                        Some(Peer {
                            id: *id,
                            state,
                            arrived,
                        })
                    })
                    .collect();
                peers.sort_by(|a, b| (&a.state.name, a.id).cmp(&(&b.state.name, b.id)));
                peers
            })
        });
        Presence {
            peers,
            now: RwSignal::new(js_sys::Date::now()),
            announcements: RwSignal::new(Vec::new()),
            view: RwSignal::new("arrange"),
            following: RwSignal::new(None),
            transport: RwSignal::new(0),
            inviting: RwSignal::new(false),
            declined: RwSignal::new(Vec::new()),
            applying: StoredValue::new(false),
            seek: StoredValue::new(None),
        }
    }

    /// This user moved the transport: the followers catch up, and a
    /// follow of theirs ends (called by every transport action).
    pub fn transport_action(self) {
        if self.applying.get_value() {
            return;
        }
        self.transport.update(|t| *t = t.wrapping_add(1));
        if self.following.get_untracked().is_some() {
            self.following.set(None);
        }
    }

    /// This user sought to `frame` (while playing, the engine follows a
    /// little later).
    pub fn sought(self, frame: u64) {
        self.seek.set_value(Some((frame, js_sys::Date::now())));
    }

    /// Starts following `peer` (a user gesture: the audio may start here).
    pub fn follow(self, ws: Workspace, peer: u64) {
        ws.ui.arm();
        self.following.set(Some(peer));
        LAST_APPLIED.set(None);
        catch_up(ws);
    }

    fn announce(self, text: String) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.announcements.update(|a| a.push((id, text)));
        set_timeout(
            move || self.announcements.update(|a| a.retain(|(i, _)| *i != id)),
            std::time::Duration::from_millis(ANNOUNCE_MS as u64),
        );
    }
}

/// Publishes this tab's presence whenever it changes, and four times a
/// second while playing; announces joins and leaves; ticks the remote
/// playheads. `publish` sends the JSON (the sync layer).
pub fn run(ws: Workspace, me: RwSignal<String>, publish: impl Fn(String) + Clone + 'static) {
    let presence = ws.presence;
    let state = Memo::new(move |_| {
        let playing = ws.playing();
        // While playing, the position goes out at most every 250 ms; the
        // receivers move it on between.
        let position = if playing {
            // (A seek bumps `transport`, read below: this runs again then.)
            ws.ui.readout.track();
            let since = presence
                .seek
                .get_value()
                .map(|(frame, at)| (frame, js_sys::Date::now() - at));
            match since {
                // A seek the meters may not show yet.
                Some((frame, ms)) if ms < PLAYING_PUBLISH_MS => {
                    let rate = f64::from(ws.ui.sample_rate.get_untracked());
                    frame + (ms / 1000.0 * rate) as u64
                }
                _ => ws.ui.meters.with_untracked(|m| m.position),
            }
        } else {
            ws.cursor.get()
        };
        PeerState {
            name: me.get(),
            role: ws.role.get(),
            view: presence.view.get().to_string(),
            playing,
            position,
            rate: ws.ui.sample_rate.get() as f64,
            selected: ws.selected.get(),
            loop_range: ws.looping.get().then(|| ws.loop_range.get()),
            transport: presence.transport.get(),
            invite: presence.inviting.get(),
            recording: ws.record.recording_tracks(),
        }
    });
    let last_sent = StoredValue::new((0.0_f64, PeerState::default()));
    Effect::new(move |_| {
        let state = state.get();
        // Not before the server has said who this is: the others' first
        // sight of us (their join line) names the role.
        if state.role.is_empty() {
            return;
        }
        let now = js_sys::Date::now();
        let (at, sent) = last_sent.get_value();
        // Only the position moved while playing: not before 250 ms.
        let only_position = sent.playing
            && state.playing
            && PeerState {
                position: sent.position,
                ..state.clone()
            } == sent;
        if only_position && now - at < PLAYING_PUBLISH_MS {
            return;
        }
        last_sent.set_value((now, state.clone()));
        if let Ok(json) = serde_json::to_string(&state) {
            publish(json);
        }
    });

    // Joins and leaves, once the first presence list is in.
    let known = StoredValue::new(None::<BTreeMap<u64, String>>);
    Effect::new(move |_| {
        let now: BTreeMap<u64, String> = presence
            .peers
            .with(|p| p.iter().map(|p| (p.id, p.state.name.clone())).collect());
        if let Some(before) = known.get_value() {
            let role = |id: u64| {
                presence.peers.with_untracked(|p| {
                    p.iter()
                        .find(|p| p.id == id)
                        .map(|p| p.state.role.clone())
                        .unwrap_or_default()
                })
            };
            for (id, name) in &now {
                if !before.contains_key(id) {
                    let role = role(*id);
                    let text = if role.is_empty() {
                        format!("{name} joined")
                    } else {
                        format!("{name} joined ({role})")
                    };
                    presence.announce(text);
                }
            }
            for (id, name) in &before {
                if !now.contains_key(id) {
                    presence.announce(format!("{name} left"));
                }
            }
        }
        known.set_value(Some(now));
    });

    // Following: catch up whenever the leader's transport changes, and
    // end the follow when they leave.
    Effect::new(move |_| {
        presence.peers.track();
        if presence.following.get().is_some() {
            catch_up(ws);
        }
    });
    // Drift: once a second, a follower more than 50 ms off re-syncs (the
    // timer ends with the project page).
    let drift = set_interval_with_handle(
        move || {
            if presence.following.get_untracked().is_some() && ws.playing_untracked() {
                LAST_APPLIED.set(None);
                catch_up(ws);
            }
        },
        std::time::Duration::from_millis(1_000),
    );
    if let Ok(handle) = drift {
        on_cleanup(move || handle.clear());
    }

    // Remote playheads move every frame while someone plays.
    let ticking = StoredValue::new(false);
    Effect::new(move |_| {
        let anyone = presence.peers.with(|p| p.iter().any(|p| p.state.playing));
        if anyone && !ticking.get_value() {
            ticking.set_value(true);
            tick(presence, ticking);
        }
    });
}

thread_local! {
    /// The leader's (transport count, playing) last brought over.
    static LAST_APPLIED: std::cell::Cell<Option<(u32, bool)>> = const { std::cell::Cell::new(None) };
}

/// How far off a follower may drift before it re-syncs (ms).
const DRIFT_MS: f64 = 50.0;

/// Brings this tab's transport to its leader's: play or stop, position,
/// loop. Only when the leader acted (or on a re-sync), and only as far as
/// needed: a playing follower within [`DRIFT_MS`] is left alone.
fn catch_up(ws: Workspace) {
    let presence = ws.presence;
    let Some(id) = presence.following.get_untracked() else {
        return;
    };
    let Some(leader) = presence
        .peers
        .with_untracked(|p| p.iter().find(|p| p.id == id).cloned())
    else {
        presence.following.set(None);
        return;
    };
    let key = (leader.state.transport, leader.state.playing);
    let now = js_sys::Date::now();
    let target = leader.playhead(now);
    presence.applying.set_value(true);
    let (range, looping) = match leader.state.loop_range {
        Some(r) => (r, true),
        None => (ws.loop_range.get_untracked(), false),
    };
    if ws.loop_range.get_untracked() != range {
        ws.loop_range.set(range);
    }
    if ws.looping.get_untracked() != looping {
        ws.looping.set(looping);
    }
    let playing = ws.playing_untracked();
    let position = ws.ui.meters.with_untracked(|m| m.position);
    let rate = f64::from(ws.ui.sample_rate.get_untracked()).max(1.0);
    let off = (position as f64 - target as f64).abs() / rate * 1000.0;
    if LAST_APPLIED.get() != Some(key) || (playing && leader.state.playing && off > DRIFT_MS) {
        LAST_APPLIED.set(Some(key));
        if leader.state.playing {
            ws.seek(target);
            if !playing {
                ws.play_pause();
            }
        } else {
            if playing {
                ws.play_pause();
            }
            ws.seek(target);
        }
    }
    presence.applying.set_value(false);
}

fn tick(presence: Presence, ticking: StoredValue<bool>) {
    presence.now.set(js_sys::Date::now());
    if presence
        .peers
        .with_untracked(|p| p.iter().any(|p| p.state.playing))
    {
        request_animation_frame(move || tick(presence, ticking));
    } else {
        ticking.set_value(false);
    }
}

/// Which view an element is in, for what this user publishes.
pub fn view_of(target: &web_sys::Element) -> &'static str {
    for (selector, view) in [
        (".comments-panel", "comments"),
        (".device-panel", "device"),
        (".mixer", "mixer"),
        (".arrange", "arrange"),
    ] {
        if target.closest(selector).ok().flatten().is_some() {
            return view;
        }
    }
    ""
}

/// The project bar's list of the others: colour, name, role, view.
#[component]
pub fn PeerList() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let presence = ws.presence;
    view! {
        <For
            each=move || presence.peers.get()
            key=|p: &Peer| (p.id, p.state.name.clone(), p.state.role.clone(), p.state.view.clone(), p.state.playing)
            children=move |p: Peer| {
                let title = format!(
                    "{} · {}{}",
                    p.state.name,
                    if p.state.role.is_empty() { "guest" } else { p.state.role.as_str() },
                    if p.state.view.is_empty() { String::new() } else { format!(" · in the {}", p.state.view) },
                );
                view! {
                    <li
                        class="peer"
                        data-peer=p.id.to_string()
                        data-role=p.state.role.clone()
                        data-view=p.state.view.clone()
                        class:playing=p.state.playing
                        style=format!("--peer:{}", p.colour())
                        title=title
                    >
                        <span class="peer-dot"></span>
                        <span class="peer-name">{p.state.name.clone()}</span>
                        <button
                            class="peer-follow"
                            class:active={
                                let id = p.id;
                                move || presence.following.get() == Some(id)
                            }
                            title="Follow: your transport follows theirs"
                            on:click={
                                let id = p.id;
                                move |_| {
                                    if presence.following.get_untracked() == Some(id) {
                                        presence.following.set(None);
                                    } else {
                                        presence.follow(ws, id);
                                    }
                                }
                            }
                        >
                            {
                                let id = p.id;
                                move || if presence.following.get() == Some(id) { "Following" } else { "Follow" }
                            }
                        </button>
                        <span class="peer-where">
                            {[p.state.role.clone(), p.state.view.clone()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" · ")}
                        </span>
                    </li>
                }
            }
        />
    }
}

/// Join and leave lines, read out politely.
#[component]
pub fn Announcements() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    view! {
        <div class="announcements" role="status" aria-live="polite">
            <For
                each=move || ws.presence.announcements.get()
                key=|(id, _)| *id
                children=|(_, text)| view! { <p class="announcement">{text}</p> }
            />
        </div>
    }
}

/// The others' playheads and loop ranges, over the arrange view's lanes.
#[component]
pub fn RemotePlayheads(header_w: f64) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let presence = ws.presence;
    view! {
        <For
            each=move || presence.peers.get()
            key=|p: &Peer| (p.id, p.state.name.clone())
            children=move |p: Peer| {
                let id = p.id;
                let colour = p.colour();
                let me = move || presence.peers.with(|all| all.iter().find(|x| x.id == id).cloned());
                let me_too = me;
                view! {
                    <div
                        class="remote-playhead"
                        data-peer=id.to_string()
                        data-name=p.state.name.clone()
                        style=format!("--peer:{colour}")
                        style:transform=move || {
                            let now = presence.now.get();
                            let frame = me().map_or(0, |p| p.playhead(now));
                            format!("translateX({:.1}px)", header_w + frame as f64 * ws.px_per_frame())
                        }
                        data-frame=move || {
                            let now = presence.now.get();
                            me_too().map_or(0, |p| p.playhead(now)).to_string()
                        }
                    >
                        <span class="remote-playhead-name">{p.state.name.clone()}</span>
                    </div>
                }
            }
        />
    }
}

/// The others' loop ranges, on the comment strip's row.
#[component]
pub fn RemoteLoops() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let presence = ws.presence;
    let loops = move || {
        presence.peers.with(|p| {
            p.iter()
                .filter_map(|p| {
                    p.state
                        .loop_range
                        .filter(|(s, e)| e > s)
                        .map(|r| (p.id, p.colour(), r))
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <For
            each=loops
            key=|l| l.clone()
            children=move |(id, colour, (start, end))| {
                view! {
                    <div
                        class="remote-loop"
                        data-peer=id.to_string()
                        style=move || {
                            let ppf = ws.px_per_frame();
                            format!("left:{:.1}px;width:{:.1}px;--peer:{colour}", start as f64 * ppf, (end - start) as f64 * ppf)
                        }
                    ></div>
                }
            }
        />
    }
}

/// The colour of whoever else has `clip` selected, if anyone.
pub fn selected_by(ws: Workspace, clip: &str) -> Option<String> {
    ws.presence.peers.with(|p| {
        p.iter()
            .find(|p| p.state.selected.as_deref() == Some(clip))
            .map(Peer::colour)
    })
}

/// "Play for everyone" for this user, the line while following someone,
/// and others' invitations to follow them: in the presence list, shown
/// once someone else is here (in the page, never a modal).
#[component]
pub fn FollowBar() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let presence = ws.presence;
    let leader = move || {
        let id = presence.following.get()?;
        presence
            .peers
            .with(|p| p.iter().find(|p| p.id == id).map(|p| p.state.name.clone()))
    };
    let invitation = move || {
        let declined = presence.declined.get();
        let following = presence.following.get();
        presence.peers.with(|p| {
            p.iter()
                .find(|p| p.state.invite && following != Some(p.id) && !declined.contains(&p.id))
                .map(|p| (p.id, p.state.name.clone()))
        })
    };
    let others = move || presence.peers.with(|p| !p.is_empty());
    view! {
        <Show when=others>
        <li class="listen-together">
        <button
            class="play-for-everyone"
            class:active=move || presence.inviting.get()
            title="Ask everyone here to follow your transport"
            on:click=move |_| presence.inviting.update(|i| *i = !*i)
        >
            {move || if presence.inviting.get() { "Playing for everyone" } else { "Play for everyone" }}
        </button>
        <Show when=move || leader().is_some()>
            <div class="following" role="status">
                {move || format!("Following {} — any transport action of yours ends it", leader().unwrap_or_default())}
                <button class="stop-following" on:click=move |_| presence.following.set(None)>"Stop following"</button>
            </div>
        </Show>
        <Show when=move || invitation().is_some()>
            <div class="follow-invite" role="status">
                {move || format!("{} asks everyone to follow", invitation().map(|i| i.1).unwrap_or_default())}
                <button class="accept-follow" on:click=move |_| {
                    if let Some((id, _)) = invitation() {
                        presence.follow(ws, id);
                    }
                }>"Follow"</button>
                <button class="decline-follow" on:click=move |_| {
                    if let Some((id, _)) = invitation() {
                        presence.declined.update(|d| d.push(id));
                    }
                }>"Not now"</button>
            </div>
        </Show>
        </li>
        </Show>
    }
}

/// Who else is recording on `track` now (their names).
pub fn recording_on(ws: Workspace, track: &str) -> Vec<String> {
    ws.presence.peers.with(|peers| {
        peers
            .iter()
            .filter(|p| p.state.recording.iter().any(|t| t == track))
            .map(|p| p.state.name.clone())
            .collect()
    })
}
