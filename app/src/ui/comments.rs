//! Comments anchored to the song: a time range (frames at the project's
//! rate), optionally about one track, with threads of replies, resolved
//! or open. They live in the `review` document (`stemroom_model::review`),
//! which commenters may write and the arrangement never touches.
//!
//! **Anchors stay at song time.** A comment on 0:08–0:16 stays on 0:08–0:16
//! whatever is moved, trimmed or deleted in the arrangement: a note says
//! what was heard at that moment of the song, and the mix engineer's
//! answer is about the same moment. (Tied to a track, it names the track,
//! not its clips.)
//!
//! Made by dragging on the ruler's comment strip or pressing `C` (the loop
//! range when looping, else the playhead); shown as pins and ranges in the
//! author's colour, and in the comments panel in song order.

use std::collections::HashSet;
use std::sync::Arc;

use leptos::prelude::*;
use stemroom_model::review::Thread;

use super::workspace::Workspace;
use crate::project;

/// Longest comment, in characters: plain text, never HTML.
pub const TEXT_MAX_CHARS: usize = 2_000;

/// Which threads the panel lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Open,
    Resolved,
    Mine,
    All,
}

impl Filter {
    const ALL: [(Filter, &'static str, &'static str); 4] = [
        (Filter::Open, "open", "Open"),
        (Filter::Resolved, "resolved", "Resolved"),
        (Filter::Mine, "mine", "Mine"),
        (Filter::All, "all", "All"),
    ];

    fn parse(key: &str) -> Filter {
        Filter::ALL
            .iter()
            .find(|(_, k, _)| *k == key)
            .map_or(Filter::Open, |(f, _, _)| *f)
    }

    fn keeps(self, thread: &Thread, me: &str) -> bool {
        match self {
            Filter::Open => !thread.comment.resolved,
            Filter::Resolved => thread.comment.resolved,
            Filter::Mine => {
                thread.comment.author == me || thread.replies.iter().any(|r| r.author == me)
            }
            Filter::All => true,
        }
    }
}

/// A comment being written: its range, and the track it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub start: u64,
    pub end: u64,
    pub track: Option<String>,
}

/// What the views share about comments. `Copy`: signals only.
#[derive(Clone, Copy)]
pub struct Comments {
    /// Threads in song order, as the review document has them now.
    pub threads: Memo<Arc<Vec<Thread>>>,
    pub draft: RwSignal<Option<Draft>>,
    pub open: RwSignal<bool>,
    pub filter: RwSignal<Filter>,
    /// Comment ids this user has seen; the rest are marked as new.
    seen: RwSignal<HashSet<String>>,
    /// Whether the first read is in (what was there then counts as seen).
    primed: StoredValue<bool>,
    /// This user's presence name: the author of what they write.
    pub me: RwSignal<String>,
}

impl Comments {
    /// Reads the review document again whenever `revision` changes.
    pub fn new(revision: RwSignal<u64>, me: RwSignal<String>) -> Self {
        let threads = Memo::new(move |_| {
            revision.get();
            Arc::new(
                project::with(|p| {
                    let txn = yrs::Transact::try_transact(p.review.doc()).ok()?;
                    Some(p.review.threads(&txn))
                })
                .flatten()
                .unwrap_or_default(),
            )
        });
        Comments {
            threads,
            draft: RwSignal::new(None),
            open: RwSignal::new(false),
            filter: RwSignal::new(Filter::Open),
            seen: RwSignal::new(HashSet::new()),
            primed: StoredValue::new(false),
            me,
        }
    }

    /// Whether `id` arrived from someone else since this page opened and
    /// has not been looked at.
    fn is_new(self, thread: &Thread) -> bool {
        let me = self.me.get();
        let ids = std::iter::once(&thread.comment).chain(&thread.replies);
        self.seen.with(|seen| {
            ids.filter(|c| c.author != me)
                .any(|c| !seen.contains(&c.id))
        })
    }

    fn mark_seen(self, thread: &Thread) {
        let ids: Vec<String> = std::iter::once(&thread.comment)
            .chain(&thread.replies)
            .map(|c| c.id.clone())
            .collect();
        if self
            .seen
            .with_untracked(|s| ids.iter().all(|i| s.contains(i)))
        {
            return;
        }
        self.seen.update(|s| s.extend(ids));
    }

    /// Counts as seen everything there when the document first arrives.
    fn prime(self, synced: bool) {
        if synced && !self.primed.get_value() {
            self.primed.set_value(true);
            let all: Vec<String> = self.threads.with_untracked(|t| {
                t.iter()
                    .flat_map(|t| std::iter::once(&t.comment).chain(&t.replies))
                    .map(|c| c.id.clone())
                    .collect()
            });
            self.seen.update(|s| s.extend(all));
        }
    }

    /// Starts a comment on `start..end` and opens the panel to write it.
    pub fn begin(self, start: u64, end: u64, track: Option<String>) {
        self.draft.set(Some(Draft {
            start: start.min(end),
            end: start.max(end),
            track,
        }));
        self.open.set(true);
    }
}

/// A colour for an author, the same on every screen (FNV-1a of the name).
pub fn author_colour(name: &str) -> String {
    let hue = stemroom_engine::project::stable_id(name) % 360;
    format!("hsl({hue} 70% 62%)")
}

/// "bar.beat" of a frame, for a comment's range.
fn bar_beat(ws: Workspace, frame: u64) -> String {
    let p = ws.tempo.with(|t| t.position_at_frame(frame as f64));
    format!("{}.{}", p.bar, p.beat)
}

/// Seeks to a thread's range, loops it and plays.
fn play_thread(ws: Workspace, start: u64, end: u64) {
    if end > start {
        ws.loop_range.set((start, end));
        ws.looping.set(true);
    }
    ws.seek(start);
    if !ws.playing_untracked() {
        ws.play_pause();
    }
}

/// Pins and ranges under the ruler; dragging on the strip starts a comment.
#[component]
pub fn CommentStrip(timeline_px: Memo<f64>, span: Memo<(f64, f64)>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let comments = ws.comments;
    let anchor = RwSignal::new(None::<(f64, u64)>);
    let preview = RwSignal::new(None::<(u64, u64)>);
    let frame_at = move |e: &web_sys::PointerEvent| {
        let strip: web_sys::Element = event_target(e);
        let left = strip.get_bounding_client_rect().left();
        let x = (f64::from(e.client_x()) - left).max(0.0);
        ws.snapped((x / ws.px_per_frame_untracked()) as u64)
    };
    // Pins in the drawn band of the timeline (`span`, px) only: a song
    // with hundreds of comments keeps the strip light to scroll.
    let pins = move || {
        let (x0, width) = span.get();
        let ppf = ws.px_per_frame();
        let (from, to) = ((x0 / ppf) as u64, ((x0 + width) / ppf) as u64);
        comments.threads.with(|threads| {
            threads
                .iter()
                .filter(|t| t.comment.start <= to && t.comment.end.max(t.comment.start + 1) >= from)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let title = move || {
        if ws.can_comment() {
            "Drag to comment on a range (C: at the playhead)"
        } else {
            "Comments"
        }
    };
    view! {
        <div
            class="comment-strip"
            title=title
            style=move || format!("width:{:.0}px", timeline_px.get())
            on:pointerdown=move |e: web_sys::PointerEvent| {
                let on_strip = e.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok()).is_some_and(|t| t.class_list().contains("comment-strip"));
                if !on_strip || !ws.can_comment() || e.button() != 0 {
                    return;
                }
                e.prevent_default();
                let frame = frame_at(&e);
                anchor.set(Some((f64::from(e.client_x()), frame)));
                preview.set(Some((frame, frame)));
                if let Some(strip) = e.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok()) {
                    let _ = strip.set_pointer_capture(e.pointer_id());
                }
            }
            on:pointermove=move |e: web_sys::PointerEvent| {
                if let Some((_, from)) = anchor.get_untracked() {
                    preview.set(Some((from, frame_at(&e))));
                }
            }
            on:pointerup=move |e: web_sys::PointerEvent| {
                if let Some((_, from)) = anchor.get_untracked() {
                    anchor.set(None);
                    preview.set(None);
                    let to = frame_at(&e);
                    comments.begin(from, to, None);
                }
            }
        >
            <super::presence::RemoteLoops />
            <Show when=move || preview.get().is_some()>
                <div
                    class="comment-range-preview"
                    style=move || {
                        let (a, b) = preview.get().unwrap_or_default();
                        let ppf = ws.px_per_frame();
                        format!("left:{:.1}px;width:{:.1}px", a.min(b) as f64 * ppf, (a.abs_diff(b) as f64 * ppf).max(2.0))
                    }
                ></div>
            </Show>
            <For
                each=pins
                key=|t: &Thread| (t.comment.id.clone(), t.comment.start, t.comment.end, t.comment.resolved, t.replies.len())
                children=move |t: Thread| {
                    let (start, end) = (t.comment.start, t.comment.end);
                    let colour = author_colour(&t.comment.author);
                    let id = t.comment.id.clone();
                    let title = format!("{}: {}", t.comment.author, t.comment.text);
                    view! {
                        <div
                            class="comment-pin"
                            class:resolved=t.comment.resolved
                            data-comment-id=id.clone()
                            title=title
                            style=move || {
                                let ppf = ws.px_per_frame();
                                format!("left:{:.1}px;width:{:.1}px;--author:{colour}", start as f64 * ppf, ((end - start) as f64 * ppf).max(6.0))
                            }
                            on:click=move |_| {
                                comments.open.set(true);
                                play_thread(ws, start, end);
                            }
                        ></div>
                    }
                }
            />
        </div>
    }
}

/// The comments panel: the draft being written, then the threads in song
/// order with replies, resolve and reopen, and a filter.
#[component]
pub fn CommentsPanel(synced: Signal<bool>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let comments = ws.comments;
    Effect::new(move |_| comments.prime(synced.get()));
    let text = RwSignal::new(String::new());
    // A new draft takes the keyboard: type, Enter posts.
    let text_box: NodeRef<leptos::html::Textarea> = NodeRef::new();
    Effect::new(move |_| {
        if comments.draft.with(Option::is_some)
            && let Some(el) = text_box.get()
        {
            let _ = el.focus();
        }
    });
    let post = move || {
        let Some(draft) = comments.draft.get_untracked() else {
            return;
        };
        let body: String = text
            .get_untracked()
            .trim()
            .chars()
            .take(TEXT_MAX_CHARS)
            .collect();
        if body.is_empty() {
            return;
        }
        let me = comments.me.get_untracked();
        let made = project::edit_review(|r, txn| {
            r.add_comment(
                txn,
                draft.start,
                draft.end,
                draft.track.as_deref(),
                &me,
                &body,
                js_sys::Date::now(),
            )
        });
        if made.is_some() {
            comments.draft.set(None);
            text.set(String::new());
        }
    };
    let shown = move || {
        let me = comments.me.get();
        let filter = comments.filter.get();
        comments.threads.with(|t| {
            t.iter()
                .filter(|t| filter.keeps(t, &me))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let unseen = move || {
        comments
            .threads
            .with(|t| t.iter().filter(|t| comments.is_new(t)).count())
    };
    let tracks = move || {
        ws.project
            .with(|p| {
                p.as_ref().map(|p| {
                    p.tracks
                        .iter()
                        .map(|t| (t.id.clone(), t.name.clone()))
                        .collect::<Vec<_>>()
                })
            })
            .unwrap_or_default()
    };
    view! {
        <button
            class="comments-toggle"
            class:active=move || comments.open.get()
            title="Comments (C: comment at the playhead)"
            on:click=move |_| comments.open.update(|o| *o = !*o)
        >
            "Comments "
            <span class="comments-count">{move || comments.threads.with(|t| t.len())}</span>
            <Show when=move || { unseen() > 0 }>
                <span class="comments-new" data-count=move || unseen().to_string()>{move || format!("{} new", unseen())}</span>
            </Show>
        </button>
        <Show when=move || comments.open.get()>
            <aside class="comments-panel" aria-label="Comments">
                <header>
                    <h2>"Comments"</h2>
                    <select
                        class="comments-filter"
                        aria-label="Show"
                        on:change=move |e| comments.filter.set(Filter::parse(&event_target_value(&e)))
                    >
                        {Filter::ALL.iter().map(|(f, key, label)| view! { <option value=*key selected=move || comments.filter.get() == *f>{*label}</option> }).collect_view()}
                    </select>
                    <button class="comments-close" aria-label="Close" on:click=move |_| comments.open.set(false)>"×"</button>
                </header>
                <Show when=move || comments.draft.with(Option::is_some)>
                    <form class="comment-composer" on:submit=move |e| { e.prevent_default(); post(); }>
                        <p class="comment-draft-range">
                            {move || comments.draft.get().map(|d| format!("Bars {} – {}", bar_beat(ws, d.start), bar_beat(ws, d.end))).unwrap_or_default()}
                        </p>
                        <select
                            class="comment-track"
                            aria-label="About a track"
                            on:change=move |e| {
                                let value = event_target_value(&e);
                                comments.draft.update(|d| if let Some(d) = d { d.track = (!value.is_empty()).then_some(value) });
                            }
                        >
                            <option value="">"The whole mix"</option>
                            {move || tracks().into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                        </select>
                        <textarea
                            node_ref=text_box
                            class="comment-text"
                            aria-label="Comment"
                            placeholder="What do you hear here?"
                            maxlength=TEXT_MAX_CHARS.to_string()
                            prop:value=move || text.get()
                            on:input=move |e| text.set(event_target_value(&e))
                            on:keydown=move |e: web_sys::KeyboardEvent| {
                                if e.key() == "Enter" && !e.shift_key() {
                                    e.prevent_default();
                                    post();
                                }
                            }
                        ></textarea>
                        <button class="comment-post" type="submit">"Comment"</button>
                        <button class="comment-cancel" type="button" on:click=move |_| comments.draft.set(None)>"Cancel"</button>
                    </form>
                </Show>
                <ol class="comment-threads">
                    <For
                        each=shown
                        key=|t: &Thread| (t.comment.id.clone(), t.comment.resolved, t.comment.text.clone(), t.replies.len())
                        children=move |t: Thread| view! { <ThreadView thread=t /> }
                    />
                </ol>
            </aside>
        </Show>
    }
}

#[component]
fn ThreadView(thread: Thread) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let comments = ws.comments;
    let reply = RwSignal::new(String::new());
    let c = thread.comment.clone();
    let (start, end, id) = (c.start, c.end, c.id.clone());
    let resolved = c.resolved;
    let track = c.track.as_ref().and_then(|t| {
        ws.project.with_untracked(|p| {
            p.as_ref()?
                .tracks
                .iter()
                .find(|x| x.id == *t)
                .map(|x| x.name.clone())
        })
    });
    let fresh = {
        let thread = thread.clone();
        move || comments.is_new(&thread)
    };
    let seen = {
        let thread = thread.clone();
        move || comments.mark_seen(&thread)
    };
    let send_reply = {
        let id = id.clone();
        move || {
            let body: String = reply
                .get_untracked()
                .trim()
                .chars()
                .take(TEXT_MAX_CHARS)
                .collect();
            if body.is_empty() {
                return;
            }
            let me = comments.me.get_untracked();
            if project::edit_review(|r, txn| r.reply(txn, &id, &me, &body, js_sys::Date::now()))
                .flatten()
                .is_some()
            {
                reply.set(String::new());
            }
        }
    };
    let toggle = {
        let id = id.clone();
        move |_| {
            project::edit_review(|r, txn| r.set_resolved(txn, &id, !resolved));
        }
    };
    view! {
        <li
            class="comment-thread"
            class:resolved=resolved
            class:new=fresh
            data-comment-id=id.clone()
            data-resolved=resolved.to_string()
            style=format!("--author:{}", author_colour(&c.author))
            on:pointerenter={
                let seen = seen.clone();
                move |_| seen()
            }
        >
            <button
                class="comment-play"
                title="Play this range, looped"
                on:click={
                let seen = seen.clone();
                move |_| {
                    seen();
                    play_thread(ws, start, end);
                }}
            >
                <span class="comment-range">{format!("{} – {}", bar_beat(ws, start), bar_beat(ws, end))}</span>
                {track.map(|t| view! { <span class="comment-about">{t}</span> })}
            </button>
            <p class="comment-body"><b class="comment-author">{c.author.clone()}</b>" "{c.text.clone()}</p>
            <ol class="comment-replies">
                {thread
                    .replies
                    .iter()
                    .map(|r| view! { <li class="comment-reply" data-comment-id=r.id.clone()><b class="comment-author">{r.author.clone()}</b>" "{r.text.clone()}</li> })
                    .collect_view()}
            </ol>
            <Show when=move || ws.can_comment()>
                <form class="comment-reply-form" on:submit={
                    let send_reply = send_reply.clone();
                    move |e| { e.prevent_default(); send_reply(); }
                }>
                    <input
                        class="reply-input"
                        aria-label="Reply"
                        placeholder="Reply"
                        maxlength=TEXT_MAX_CHARS.to_string()
                        prop:value=move || reply.get()
                        on:input=move |e| reply.set(event_target_value(&e))
                    />
                    <button class="comment-resolve" type="button" on:click=toggle.clone()>
                        {if resolved { "Reopen" } else { "Resolve" }}
                    </button>
                </form>
            </Show>
        </li>
    }
}
