//! The transport: return to start, play/pause, stop, loop, metronome, the
//! position in bars:beats and in time, tempo and time signature.

use leptos::prelude::*;
use stemroom_engine::tempo::TimeSignature;

use super::workspace::Workspace;
use crate::project;
use crate::session::{EngineState, EngineUi};

#[component]
pub fn Transport() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let ui = ws.ui;
    let playing = move || ws.playing();
    let at = Memo::new(move |_| ws.playhead_readout());
    let bars = move || {
        let p = ws.tempo().position_at_frame(at.get() as f64);
        format!(
            "{}.{}.{}",
            p.bar,
            p.beat,
            (p.fraction * 4.0).floor() as u32 + 1
        )
    };
    let time = move || format_time(at.get(), ws.sample_rate());
    let bpm = move || {
        ws.project
            .with(|p| p.as_ref().map_or(120.0, |p| p.meta.bpm))
    };
    let signature = move || {
        ws.project
            .with(|p| p.as_ref().map(|p| p.meta.signature))
            .unwrap_or(TimeSignature::FOUR_FOUR)
    };
    let set_signature = move |beats: Option<u32>, unit: Option<u32>| {
        let old = signature();
        let new = TimeSignature {
            beats_per_bar: beats.unwrap_or(old.beats_per_bar),
            beat_unit: unit.unwrap_or(old.beat_unit),
        };
        project::edit(|p, txn| p.set_signature(txn, new));
    };
    view! {
        <section class="transport" aria-label="Transport">
            <button class="transport-home" on:click=move |_| ws.seek(0) title="Return to start (Home)">
                "|◀"
            </button>
            <button
                class="transport-play"
                class:active=playing
                disabled=move || ui.state.get() == EngineState::Starting
                on:click=move |_| ws.play_pause()
                title="Play / Pause (Space)"
            >
                {move || if playing() { "❚❚ Pause" } else { "▶ Play" }}
            </button>
            <button class="transport-stop" on:click=move |_| ws.stop() title="Stop and return to where playback started">
                "■"
            </button>
            <button
                class="transport-loop"
                class:active=move || ws.looping.get()
                on:click=move |_| ws.toggle_loop()
                title="Loop (L)"
            >
                "⟲ Loop"
            </button>
            <button
                class="transport-metronome"
                class:active=move || ws.metronome.get()
                on:click=move |_| ws.metronome.update(|m| *m = !*m)
                title="Metronome (K)"
            >
                "♩ Click"
            </button>
            <super::record::RecordButton />
            <div class="transport-position">
                <output class="transport-bars" title="Bar.beat.sixteenth">{bars}</output>
                <output class="transport-time" title="Minutes:seconds">{time}</output>
            </div>
            <label class="transport-field">
                "BPM"
                <input
                    type="number"
                    class="transport-bpm"
                    min="20"
                    max="400"
                    step="0.1"
                    prop:value=move || format!("{:.1}", bpm())
                    disabled=move || !ws.can_edit()
                    on:change=move |e| {
                        if let Ok(v) = event_target_value(&e).parse::<f64>()
                            && v.is_finite()
                        {
                            project::edit(|p, txn| p.set_bpm(txn, v));
                        }
                    }
                />
            </label>
            <label class="transport-field">
                "Time"
                <input
                    type="number"
                    class="transport-beats"
                    min="1"
                    max="32"
                    aria-label="Beats per bar"
                    prop:value=move || signature().beats_per_bar.to_string()
                    disabled=move || !ws.can_edit()
                    on:change=move |e| set_signature(event_target_value(&e).parse().ok(), None)
                />
                "/"
                <select
                    class="transport-unit"
                    aria-label="Beat unit"
                    prop:value=move || signature().beat_unit.to_string()
                    disabled=move || !ws.can_edit()
                    on:change=move |e| set_signature(None, event_target_value(&e).parse().ok())
                >
                    <option value="2">"2"</option>
                    <option value="4">"4"</option>
                    <option value="8">"8"</option>
                    <option value="16">"16"</option>
                </select>
            </label>
        </section>
    }
}

/// The start page's audio check: play/stop of the engine's test tone.
#[component]
pub fn ToneCheck() -> impl IntoView {
    let ui = expect_context::<EngineUi>();
    let playing = move || ui.meters.get().playing;
    let position = ui.readout(|m, _| m.position);
    let position = move || format_time(position.get(), f64::from(ui.sample_rate.get()));
    view! {
        <section class="transport" aria-label="Audio check">
            <button
                class="transport-play"
                class:active=playing
                disabled=move || ui.state.get() == EngineState::Starting
                on:click=move |_| ui.toggle_play()
                title="Play / Stop (Space)"
            >
                {move || if playing() { "■ Stop" } else { "▶ Play" }}
            </button>
            <output class="transport-time">{position}</output>
        </section>
    }
}

/// `m:ss.mmm` of a frame position.
fn format_time(frames: u64, sample_rate: f64) -> String {
    let millis = (frames as f64 * 1000.0 / sample_rate.max(1.0)) as u64;
    format!(
        "{}:{:02}.{:03}",
        millis / 60_000,
        millis / 1000 % 60,
        millis % 1000
    )
}
