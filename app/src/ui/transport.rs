//! Play/stop, return to start, and the position readout.

use leptos::prelude::*;
use stemroom_engine::Command;

use super::{EngineState, EngineUi};

#[component]
pub fn Transport() -> impl IntoView {
    let ui = expect_context::<EngineUi>();
    let playing = move || ui.meters.get().playing;
    let position = move || format_time(ui.meters.get().position, ui.sample_rate.get());
    view! {
        <section class="transport" aria-label="Transport">
            <button
                class="transport-play"
                class:active=playing
                disabled=move || ui.state.get() == EngineState::Starting
                on:click=move |_| ui.toggle_play()
                title="Play / Stop (Space)"
            >
                {move || if playing() { "■ Stop" } else { "▶ Play" }}
            </button>
            <button
                class="transport-home"
                disabled=move || ui.state.get() != EngineState::Running
                on:click=move |_| ui.send(Command::Seek { frame: 0 })
                title="Return to start (Home)"
            >
                "|◀"
            </button>
            <output class="transport-position">{position}</output>
        </section>
    }
}

/// `m:ss.mmm` of a frame position.
fn format_time(frames: u64, sample_rate: f32) -> String {
    let millis = (frames as f64 * 1000.0 / f64::from(sample_rate.max(1.0))) as u64;
    format!(
        "{}:{:02}.{:03}",
        millis / 60_000,
        millis / 1000 % 60,
        millis % 1000
    )
}
