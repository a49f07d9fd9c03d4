//! The master level meter, fed from the engine's own meters.

use leptos::prelude::*;
use stemroom_engine::{CHANNELS, amplitude_to_db};

use super::EngineUi;

/// The meter's scale: −60 dBFS to 0 dBFS.
const FLOOR_DB: f32 = -60.0;

fn fill_percent(amplitude: f32) -> f32 {
    ((amplitude_to_db(amplitude) - FLOOR_DB) / -FLOOR_DB * 100.0).clamp(0.0, 100.0)
}

/// Machine-readable dB for `data-*` attributes: JavaScript's `Number()` parses it.
fn attribute(db: f32) -> String {
    if db.is_finite() {
        format!("{db:.2}")
    } else {
        "-Infinity".to_string()
    }
}

fn readout(db: f32) -> String {
    if db.is_finite() && db > -120.0 {
        format!("{db:.1}")
    } else {
        "−∞".to_string()
    }
}

#[component]
pub fn MasterMeter() -> impl IntoView {
    let ui = expect_context::<EngineUi>();
    let peak_db = move || {
        let m = ui.meters.get();
        amplitude_to_db(m.peak.into_iter().fold(0.0, f32::max))
    };
    let rms_db = move || {
        let m = ui.meters.get();
        amplitude_to_db(m.rms.into_iter().fold(0.0, f32::max))
    };
    let clipped = move || ui.meters.get().max_peak.iter().any(|p| *p >= 1.0);
    let bars = (0..CHANNELS)
        .map(|ch| {
            view! {
                <div class="meter-bar">
                    <div class="meter-rms" style:width=move || format!("{:.1}%", fill_percent(ui.meters.get().rms[ch]))></div>
                    <div class="meter-peak" style:left=move || format!("{:.1}%", fill_percent(ui.meters.get().peak[ch]))></div>
                </div>
            }
        })
        .collect_view();
    view! {
        <section
            class="meter"
            aria-label="Master level"
            data-peak-db=move || attribute(peak_db())
            data-rms-db=move || attribute(rms_db())
        >
            <h2>"Master"</h2>
            <div class="meter-bars">{bars}</div>
            <div class="meter-scale"><span>"−60"</span><span>"−40"</span><span>"−20"</span><span>"0 dBFS"</span></div>
            <dl class="meter-readout">
                <dt>"Peak"</dt><dd class="meter-peak-value">{move || readout(peak_db())}</dd>
                <dt>"RMS"</dt><dd class="meter-rms-value">{move || readout(rms_db())}</dd>
                <dt>"Clip"</dt><dd class="meter-clip" class:on=clipped>{move || if clipped() { "CLIP" } else { "—" }}</dd>
            </dl>
        </section>
    }
}
