//! The page: transport, master meter, engine status and errors.

mod arrange;
mod automation;
mod canvas;
mod comments;
mod deferred;
mod device;
mod export;
mod import;
mod meter;
mod mixer;
mod presence;
mod record;
mod share;
mod start;
mod track;
mod transport;
mod versions;
mod workspace;

use leptos::prelude::*;
use stemroom_engine::MeterSnapshot;

use crate::audio::MemoryMode;
use crate::session::{EngineState, EngineUi};

#[component]
pub fn App() -> impl IntoView {
    let ui = EngineUi {
        state: RwSignal::new(EngineState::Idle),
        meters: RwSignal::new(MeterSnapshot::default()),
        strips: RwSignal::new(Vec::new()),
        readout: Trigger::new(),
        sample_rate: RwSignal::new(48_000.0),
        error: RwSignal::new(None),
    };
    provide_context(ui);

    // Space is play/stop everywhere but in text fields, also while a button
    // has focus: its keyup would otherwise click the button as well.
    let space = |event: &web_sys::KeyboardEvent| {
        let typing = event
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(t).ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        event.code() == "Space" && !typing
    };
    let opened = crate::api::ProjectLink::from_location();
    // The project page plays from its cursor; elsewhere Space plays the tone.
    let on_project = opened.is_some();
    let _ = window_event_listener(leptos::ev::keydown, move |event| {
        if space(&event) {
            event.prevent_default();
            if !event.repeat() && !on_project {
                ui.toggle_play();
            }
        }
    });
    let _ = window_event_listener(leptos::ev::keyup, move |event| {
        if space(&event) {
            event.prevent_default();
        }
    });
    // Undo and redo of this user's own edits.
    let _ = window_event_listener(leptos::ev::keydown, move |event| {
        let command = event.ctrl_key() || event.meta_key();
        if command && event.code() == "KeyZ" {
            event.prevent_default();
            if event.shift_key() {
                crate::project::redo();
            } else {
                crate::project::undo();
            }
        } else if command && event.code() == "KeyY" {
            event.prevent_default();
            crate::project::redo();
        }
    });

    let mode = MemoryMode::CURRENT;
    let mode_label = match mode {
        MemoryMode::Shared => "Engine on shared memory",
        MemoryMode::Fallback => "Engine in fallback mode (page not cross-origin isolated)",
    };

    view! {
        <div class="app">
            <header class="topbar">
                <h1 class="brand">"Stemroom"</h1>
                <span class="engine-mode" data-mode=mode.as_str() title=mode_label>{mode_label}</span>
                <span class="engine-state" data-state=move || ui.state.get().as_str()>
                    {move || match ui.state.get() {
                        EngineState::Idle => "Audio off — press Play",
                        EngineState::Starting => "Starting audio…",
                        EngineState::Running => "Audio running",
                        EngineState::Failed => "Audio failed",
                    }}
                </span>
            </header>
            <Show when=move || ui.error.get().is_some()>
                <div class="error" role="alert">{move || ui.error.get()}</div>
            </Show>
            {match opened {
                Some((id, token)) => view! { <workspace::ProjectPage id=id token=token /> }.into_any(),
                None => view! { <start::StartPage /> }.into_any(),
            }}
        </div>
    }
}
