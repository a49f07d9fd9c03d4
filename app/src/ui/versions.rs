//! Versions: named states of the project saved for a review pass, each
//! with its loudness measured by a full offline render, what changed since,
//! and Restore (one undoable edit everyone sees).

use std::sync::Arc;

use leptos::prelude::*;
use stemroom_model::review::{MAX_VERSION_NAME, Version, VersionLoudness};
use stemroom_model::version::{Difference, differences, read_version};

use super::workspace::Workspace;
use crate::project;

/// The versions list, read again whenever the review document changes.
fn versions(revision: RwSignal<u64>) -> Memo<Arc<Vec<Version>>> {
    Memo::new(move |_| {
        revision.get();
        Arc::new(
            project::with(|p| {
                let txn = yrs::Transact::try_transact(p.review.doc()).ok()?;
                Some(p.review.versions(&txn))
            })
            .flatten()
            .unwrap_or_default(),
        )
    })
}

/// Renders the project as it is now, offline on the worker pool, and
/// measures it. Waits for every clip's audio first (a measurement of
/// missing audio would be wrong); `None` if it never arrives.
async fn measure_now() -> Option<VersionLoudness> {
    let rate = project::snapshot()?.meta.sample_rate;
    let desc = project::complete_desc(rate, 20_000.0).await.ok()?;
    let end = project::snapshot()?.end();
    let frames = stemroom_engine::bounce::song_frames(end, rate);
    let report = crate::background::run(move |parallel| {
        stemroom_engine::bounce::measure_mix(&desc, frames, parallel)
    })
    .await;
    Some(VersionLoudness {
        integrated_lufs: report.integrated_lufs,
        true_peak_dbtp: report.true_peak_dbtp,
    })
}

/// Saves the project as it is now under `name`, then measures it and
/// records the figures on the version. Returns the version's id.
fn save(name: &str, author: &str) -> Option<String> {
    let state = project::with(|p| {
        let txn = yrs::Transact::try_transact(p.project.doc()).ok()?;
        Some(yrs::ReadTxn::encode_state_as_update_v1(
            &txn,
            &yrs::StateVector::default(),
        ))
    })
    .flatten()?;
    let id = project::edit_review(|r, txn| {
        r.save_version(txn, name, author, js_sys::Date::now(), &state)
    })?;
    let measured = id.clone();
    leptos::task::spawn_local(async move {
        if let Some(loudness) = measure_now().await {
            project::edit_review(|r, txn| r.set_version_loudness(txn, &measured, loudness));
        }
    });
    Some(id)
}

fn saved_state(id: &str) -> Option<Vec<u8>> {
    project::with(|p| {
        let txn = yrs::Transact::try_transact(p.review.doc()).ok()?;
        p.review.version_state(&txn, id)
    })
    .flatten()
}

/// Makes the project equal version `id`, as one undo step of this user.
pub fn restore(id: &str) -> Result<usize, String> {
    let state = saved_state(id).ok_or("no such version")?;
    let written = project::edit(|p, txn| stemroom_model::version::restore(p, txn, &state))
        .ok_or("you cannot change the arrangement or mix")?
        .map_err(|e| e.to_string())?;
    project::begin_step();
    Ok(written)
}

/// What differs between version `id` and the project now.
fn changes_since(id: &str) -> Result<Vec<Difference>, String> {
    let state = saved_state(id).ok_or("no such version")?;
    let then = read_version(&state).map_err(|e| e.to_string())?;
    let now = project::snapshot().ok_or("no project is open")?;
    Ok(differences(&then, &now))
}

fn loudness_label(loudness: Option<VersionLoudness>) -> String {
    match loudness {
        None => "measuring…".into(),
        Some(l) if l.integrated_lufs <= -200.0 => "silent".into(),
        Some(l) => format!(
            "{:.1} LUFS · {:.1} dBTP",
            l.integrated_lufs, l.true_peak_dbtp
        ),
    }
}

/// Shows and plays version `id` (see [`crate::compare::start`]), fetching
/// audio it uses that the live project no longer does.
fn open_version(
    ws: Workspace,
    id: &str,
    name: &str,
    then: stemroom_model::project::Project,
    loudness: Option<(f64, f64)>,
) {
    let ui = ws.ui;
    project::fetch_audio_of(&then, move || crate::session::sync_engine(ui));
    crate::compare::start(id, name, then, loudness);
    crate::session::sync_engine(ui);
}

/// What the A/B bar says: which side plays (a version is shown read-only)
/// and the gain applied to match loudness.
fn ab_label(a: &crate::compare::AbView) -> String {
    let (side, gain) = match a.side {
        crate::compare::Side::Version => (format!("“{}” (read-only)", a.name), a.version_gain_db),
        crate::compare::Side::Current => ("the current mix".to_string(), a.current_gain_db),
    };
    if a.matched {
        format!("A/B: hearing {side}, {gain:+.1} dB to match loudness")
    } else {
        format!("A/B: hearing {side}, not loudness-matched (not measured yet)")
    }
}

fn when(ms: f64) -> String {
    let date = js_sys::Date::new(&ms.into());
    String::from(date.to_locale_string("default", &js_sys::Object::new()))
}

#[component]
pub fn VersionsPanel(revision: RwSignal<u64>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let list = versions(revision);
    let open = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move || {
        let typed: String = name.get_untracked().trim().to_string();
        let typed = if typed.is_empty() {
            format!("Version {}", list.with_untracked(|l| l.len()) + 1)
        } else {
            typed
        };
        let me = ws.comments.me.get_untracked();
        match save(&typed, &me) {
            Some(_) => {
                name.set(String::new());
                error.set(None);
            }
            None => error.set(Some("The version could not be saved.".into())),
        }
    };
    let ab = crate::compare::view();
    let switch = move |_| {
        if crate::compare::toggle() {
            crate::session::sync_engine(ws.ui);
        }
    };
    let exit = move |_| {
        crate::compare::stop();
        crate::session::sync_engine(ws.ui);
    };
    view! {
        <Show when=move || ab.with(Option::is_some)>
            <div class="ab-bar" role="status" data-side=move || ab.with(|a| match a.as_ref().map(|a| a.side) {
                Some(crate::compare::Side::Version) => "version",
                _ => "current",
            })>
                {move || ab.get().map(|a| ab_label(&a))}
                <button class="ab-switch" title="Switch (B)" on:click=switch>"Switch"</button>
                <button class="ab-exit" on:click=exit>"Exit A/B"</button>
            </div>
        </Show>
        <button
            class="versions-toggle"
            class:active=move || open.get()
            title="Versions: saved states of the mix to compare and go back to"
            on:click=move |_| {
                open.update(|o| *o = !*o);
                if open.get_untracked() {
                    ws.comments.open.set(false);
                }
            }
        >
            "Versions "
            <span class="versions-count">{move || list.with(|l| l.len())}</span>
        </button>
        <Show when=move || open.get()>
            <aside class="versions-panel" aria-label="Versions">
                <header>
                    <h2>"Versions"</h2>
                    <button class="versions-close" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
                </header>
                <form class="version-save" on:submit=move |e| { e.prevent_default(); submit(); }>
                    <input
                        class="version-name"
                        aria-label="Version name"
                        placeholder="Mix v3: after label notes"
                        maxlength=MAX_VERSION_NAME.to_string()
                        disabled=move || !ws.can_comment()
                        prop:value=move || name.get()
                        on:input=move |e| name.set(event_target_value(&e))
                    />
                    <button class="version-save-button" type="submit" disabled=move || !ws.can_comment()>"Save version"</button>
                </form>
                <Show when=move || error.with(Option::is_some)>
                    <p class="version-error" role="alert">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <ol class="version-list">
                    <For
                        each=move || list.with(|l| l.iter().rev().cloned().collect::<Vec<_>>())
                        key=|v: &Version| (v.id.clone(), v.loudness.map(|l| (l.integrated_lufs.to_bits(), l.true_peak_dbtp.to_bits())))
                        children=move |v: Version| view! { <VersionRow version=v /> }
                    />
                </ol>
            </aside>
        </Show>
    }
}

#[component]
fn VersionRow(version: Version) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let changes = RwSignal::new(None::<Result<Vec<Difference>, String>>);
    let status = RwSignal::new(None::<String>);
    let id = version.id.clone();
    let show_changes = {
        let id = id.clone();
        move |_| {
            if changes.with_untracked(Option::is_some) {
                changes.set(None);
            } else {
                changes.set(Some(changes_since(&id)));
            }
        }
    };
    let restore_it = {
        let id = id.clone();
        move |_| match restore(&id) {
            Ok(0) => status.set(Some("Already the same as this version.".into())),
            Ok(_) => {
                status.set(Some("Restored. Ctrl+Z brings back what was there.".into()));
                changes.set(None);
            }
            Err(e) => status.set(Some(e)),
        }
    };
    let measured = version.loudness.is_some();
    let compare = {
        let (id, name, loudness) = (id.clone(), version.name.clone(), version.loudness);
        move |_| {
            let (id, name) = (id.clone(), name.clone());
            let Some(loudness) = loudness else { return };
            let Some(then) = saved_state(&id).and_then(|s| read_version(&s).ok()) else {
                status.set(Some("This version cannot be read.".into()));
                return;
            };
            status.set(Some("Measuring the current mix…".into()));
            leptos::task::spawn_local(async move {
                let Some(now) = measure_now().await else {
                    status.set(Some("The current mix could not be measured.".into()));
                    return;
                };
                status.set(None);
                open_version(
                    ws,
                    &id,
                    &name,
                    then,
                    Some((now.integrated_lufs, loudness.integrated_lufs)),
                );
            });
        }
    };
    // Open: look at and listen to the version as it was, read-only, at
    // its own level (A/B matches loudness).
    let open = {
        let (id, name) = (id.clone(), version.name.clone());
        move |_| {
            let Some(then) = saved_state(&id).and_then(|s| read_version(&s).ok()) else {
                status.set(Some("This version cannot be read.".into()));
                return;
            };
            open_version(ws, &id, &name, then, None);
        }
    };
    view! {
        <li class="version" data-id=id.clone() data-measured=measured.to_string()>
            <p class="version-title">{version.name.clone()}</p>
            <p class="version-meta">
                <span class="version-author">{version.author.clone()}</span>
                " · "
                <time>{when(version.created)}</time>
            </p>
            <p class="version-loudness">{loudness_label(version.loudness)}</p>
            <div class="version-actions">
                <button class="version-changes" on:click=show_changes>"What changed"</button>
                <button class="version-open" title="Open this version to look at and listen to, read-only (B switches to the current mix)" on:click=open>"Open"</button>
                <button class="version-compare" disabled=!measured title="Compare with the current mix, loudness-matched (B switches)" on:click=compare>"A/B"</button>
                <button class="version-restore" disabled=move || !ws.can_edit() on:click=restore_it>"Restore"</button>
            </div>
            <Show when=move || status.with(Option::is_some)>
                <p class="version-status" role="status">{move || status.get().unwrap_or_default()}</p>
            </Show>
            {move || changes.get().map(|c| match c {
                Err(e) => view! { <p class="version-error">{e}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="version-same">"Nothing changed since."</p> }.into_any(),
                Ok(list) => view! {
                    <ul class="version-diff">
                        {list.into_iter().map(|d| view! { <li><b>{d.subject}</b>": "{d.change}</li> }).collect_view()}
                    </ul>
                }.into_any(),
            })}
        </li>
    }
}
