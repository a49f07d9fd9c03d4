//! Sharing a project: the owner's share dialog (links with a role, a label
//! and an expiry; copy, list, revoke), and what someone who was sent a
//! link sees of it — who shared it, their role, what it lets them do. The
//! server decides what each role may do (docs/API.md); this only shows it.

use leptos::prelude::*;

use crate::api::{self, LinkInfo, ShareLink};

/// Roles a share link can give, with what each lets its holder do.
const ROLES: [(&str, &str); 3] = [
    ("edit", "Edit: arrange, mix, record"),
    ("comment", "Comment: listen and comment"),
    ("listen", "Listen: play and read comments"),
];

/// Expiries on offer, in seconds (`None`: never).
const EXPIRIES: [(&str, Option<i64>); 5] = [
    ("1 hour", Some(3_600)),
    ("1 day", Some(86_400)),
    ("7 days", Some(7 * 86_400)),
    ("30 days", Some(30 * 86_400)),
    ("Never", None),
];

/// Longest label the server takes.
const LABEL_MAX_CHARS: usize = 200;

/// What a role lets its holder do, in one line (empty for editors).
pub fn role_explanation(role: &str) -> &'static str {
    match role {
        "comment" => "You can listen and comment",
        "listen" => "You can listen and read comments",
        _ => "",
    }
}

/// A date and time in the reader's locale, from Unix seconds.
fn when(seconds: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(seconds as f64 * 1000.0));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// The page address of a link path (`/p/{id}#{token}`) on this server.
fn full_url(path: &str) -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    format!("{origin}{path}")
}

/// The project bar's note for a shared link: the role's limits, who shared
/// it, until when.
#[component]
pub fn SharedWithYou(role: RwSignal<String>, shared: RwSignal<Option<LinkInfo>>) -> impl IntoView {
    let line = move || {
        let role = role.get();
        let mut parts: Vec<String> = Vec::new();
        let explanation = role_explanation(&role);
        if !explanation.is_empty() {
            parts.push(explanation.to_string());
        }
        // A refused link's page says so elsewhere (the banner).
        if let Some(info) = shared
            .get()
            .filter(|_| !matches!(role.as_str(), "owner" | "refused"))
        {
            let by = if info.shared_by.is_empty() {
                "Shared with you".to_string()
            } else {
                format!("Shared by {}", info.shared_by)
            };
            let label = if info.label.is_empty() {
                format!(" as {role}")
            } else {
                format!(" as {} ({role})", info.label)
            };
            let until = info
                .expires_at
                .map(|at| format!(", until {}", when(at)))
                .unwrap_or_default();
            parts.push(format!("{by}{label}{until}"));
        }
        parts.join(" · ")
    };
    view! {
        <Show when=move || !line().is_empty()>
            <span class="shared-with-you" data-role=move || role.get()>{line}</span>
        </Show>
    }
}

/// The owner's "Share" button and dialog.
#[component]
pub fn ShareDialog(project: String, token: String, me: RwSignal<String>) -> impl IntoView {
    let open = RwSignal::new(false);
    let links = RwSignal::new(Vec::<ShareLink>::new());
    let made = RwSignal::new(None::<ShareLink>);
    let error = RwSignal::new(None::<String>);
    let copied = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let role = RwSignal::new("comment".to_string());
    let label = RwSignal::new(String::new());
    let expiry = RwSignal::new(2_usize);

    let refresh = {
        let (project, token) = (project.clone(), token.clone());
        move || {
            let (project, token) = (project.clone(), token.clone());
            leptos::task::spawn_local(async move {
                match api::list_links(&project, &token).await {
                    Ok(list) => links.set(list),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let create = {
        let (project, token, refresh) = (project.clone(), token.clone(), refresh.clone());
        move || {
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            copied.set(false);
            error.set(None);
            let (project, token, refresh) = (project.clone(), token.clone(), refresh.clone());
            let (role, label) = (role.get_untracked(), label.get_untracked());
            let expires_in = EXPIRIES[expiry.get_untracked().min(EXPIRIES.len() - 1)].1;
            let by = me.get_untracked();
            leptos::task::spawn_local(async move {
                match api::create_link(&project, &token, &role, label.trim(), expires_in, &by).await
                {
                    Ok(link) => {
                        made.set(Some(link));
                        refresh();
                    }
                    Err(e) => error.set(Some(e)),
                }
                busy.set(false);
            });
        }
    };
    let revoke = {
        let (project, token, refresh) = (project.clone(), token.clone(), refresh.clone());
        move |id: String| {
            let (project, token, refresh) = (project.clone(), token.clone(), refresh.clone());
            leptos::task::spawn_local(async move {
                match api::revoke_link(&project, &token, &id).await {
                    Ok(()) => refresh(),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let copy = move || {
        let Some(url) = made.with_untracked(|m| m.as_ref().and_then(|l| l.url.clone())) else {
            return;
        };
        let Some(window) = web_sys::window() else {
            return;
        };
        let promise = window.navigator().clipboard().write_text(&full_url(&url));
        leptos::task::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(_) => copied.set(true),
                Err(_) => error.set(Some(
                    "the browser did not allow copying: select the link and copy it".into(),
                )),
            }
        });
    };
    let toggle = {
        let refresh = refresh.clone();
        move |_| {
            let now = !open.get_untracked();
            open.set(now);
            if now {
                made.set(None);
                refresh();
            }
        }
    };

    view! {
        <button class="share-open" aria-expanded=move || open.get().to_string() on:click=toggle>"Share"</button>
        <Show when=move || open.get()>
            <section class="share-dialog" role="dialog" aria-label="Share this project">
                <header>
                    <h2>"Share this project"</h2>
                    <button class="share-close" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
                </header>
                <form class="share-form" on:submit={
                    let create = create.clone();
                    move |e| {
                        e.prevent_default();
                        create();
                    }
                }>
                    <label>
                        "Role"
                        <select class="share-role" prop:value=move || role.get() on:change=move |e| role.set(event_target_value(&e))>
                            {ROLES.iter().map(|(value, text)| view! { <option value=*value>{*text}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>
                        "Label"
                        <input
                            class="share-label"
                            placeholder="Mastering engineer"
                            maxlength=LABEL_MAX_CHARS.to_string()
                            prop:value=move || label.get()
                            on:input=move |e| label.set(event_target_value(&e))
                        />
                    </label>
                    <label>
                        "Expires"
                        <select
                            class="share-expiry"
                            prop:value=move || expiry.get().to_string()
                            on:change=move |e| expiry.set(event_target_value(&e).parse().unwrap_or(2))
                        >
                            {EXPIRIES
                                .iter()
                                .enumerate()
                                .map(|(i, (text, _))| view! { <option value=i.to_string()>{*text}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <button class="share-create" type="submit" disabled=move || busy.get()>"Create link"</button>
                </form>
                <Show when=move || made.with(Option::is_some)>
                    <div class="share-made">
                        <input
                            class="share-url"
                            readonly=true
                            aria-label="The new link"
                            prop:value=move || made.with(|m| m.as_ref().and_then(|l| l.url.clone()).map(|u| full_url(&u)).unwrap_or_default())
                            on:focus=move |e| {
                                let input: web_sys::HtmlInputElement = event_target(&e);
                                input.select();
                            }
                        />
                        <button class="share-copy" on:click=move |_| copy()>
                            {move || if copied.get() { "Copied" } else { "Copy" }}
                        </button>
                        <p class="share-once">"This is the only time the link is shown: copy it now."</p>
                    </div>
                </Show>
                <Show when=move || error.get().is_some()>
                    <p class="share-error" role="alert">{move || error.get()}</p>
                </Show>
                <table class="share-links">
                    <thead>
                        <tr><th>"Role"</th><th>"Label"</th><th>"Created"</th><th>"Expires"</th><th>"Status"</th><th></th></tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || links.get()
                            key=|l| (l.id.clone(), l.status())
                            children={
                                let revoke = revoke.clone();
                                move |link: ShareLink| {
                                    let revoke = revoke.clone();
                                    let id = link.id.clone();
                                    let can_revoke = link.status() == "active" && link.role != "owner";
                                    view! {
                                        <tr class="share-link" data-status=link.status() data-role=link.role.clone() data-link-id=link.id.clone()>
                                            <td>{link.role.clone()}</td>
                                            <td>{link.label.clone()}</td>
                                            <td>{when(link.created_at)}</td>
                                            <td>{link.expires_at.map_or_else(|| "never".to_string(), when)}</td>
                                            <td class="share-status">{link.status()}</td>
                                            <td>
                                                <Show when=move || can_revoke>
                                                    <button class="share-revoke" on:click={
                                                        let (revoke, id) = (revoke.clone(), id.clone());
                                                        move |_| revoke(id.clone())
                                                    }>"Revoke"</button>
                                                </Show>
                                            </td>
                                        </tr>
                                    }
                                }
                            }
                        />
                    </tbody>
                </table>
            </section>
        </Show>
    }
}
