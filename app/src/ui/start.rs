//! The start page: create a project, or reopen a recent one.

use leptos::prelude::*;

use super::{meter, transport};
use crate::api;

#[component]
pub fn StartPage() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let recent = api::recent_projects();
    let create = move || {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let name = name.get_untracked();
        leptos::task::spawn_local(async move {
            match api::create_project(&name).await {
                Ok(link) => {
                    api::remember(&link);
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().assign(&link.url());
                    }
                }
                Err(e) => {
                    error.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <main class="start-page">
            <section class="start-new">
                <h2>"New project"</h2>
                <form on:submit=move |e| {
                    e.prevent_default();
                    create();
                }>
                    <input
                        class="start-name"
                        placeholder="Song title"
                        maxlength="200"
                        prop:value=name
                        on:input=move |e| name.set(event_target_value(&e))
                    />
                    <button class="start-create" type="submit" disabled=busy>
                        {move || if busy.get() { "Creating…" } else { "Create project" }}
                    </button>
                </form>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert">{move || error.get()}</p>
                </Show>
            </section>
            <section class="audio-check" aria-label="Audio check">
                <h2>"Audio check"</h2>
                <p class="muted">"Play a test tone to check your output before a session."</p>
                <transport::ToneCheck />
                <meter::MasterMeter />
            </section>
            <section class="start-recent">
                <h2>"Recent projects"</h2>
                {if recent.is_empty() {
                    view! { <p class="muted">"Projects you open appear here."</p> }.into_any()
                } else {
                    view! {
                        <ul class="recent-list">
                            {recent
                                .into_iter()
                                .map(|p| {
                                    let label = if p.name.is_empty() { "Untitled".to_string() } else { p.name.clone() };
                                    view! {
                                        <li>
                                            <a href=p.url()>{label}</a>
                                            <span class="role">{p.role.clone()}</span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }}
            </section>
        </main>
    }
}
