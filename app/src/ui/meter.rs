//! The master level meter, fed from the engine's own meters.

use leptos::prelude::*;
use stemroom_engine::{CHANNELS, amplitude_to_db};

use crate::session::EngineUi;

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
    let max = |channels: [f32; CHANNELS]| amplitude_to_db(channels.into_iter().fold(0.0, f32::max));
    let peak_db = ui.readout(move |m, _| max(m.peak));
    let rms_db = ui.readout(move |m, _| max(m.rms));
    let clipped = ui.readout(|m, _| m.max_peak.iter().any(|p| *p >= 1.0));
    // Bars move by transforms every frame: a cover shrinks towards the
    // right to reveal the scale up to the RMS level; the peak line is the
    // left edge of a bar-wide box, so percents of its own width are of
    // the bar's.
    let bars = (0..CHANNELS)
        .map(|ch| {
            view! {
                <div class="meter-bar">
                    <div class="meter-rms" style:transform=move || format!("scaleX({:.3})", 1.0 - fill_percent(ui.meters.get().rms[ch]) / 100.0)></div>
                    <div class="meter-peak" style:transform=move || format!("translateX({:.1}%)", fill_percent(ui.meters.get().peak[ch]))></div>
                </div>
            }
        })
        .collect_view();
    view! {
        <section
            class="meter"
            aria-label="Master level"
            data-peak-db=move || attribute(peak_db.get())
            data-rms-db=move || attribute(rms_db.get())
        >
            <h2>"Master"</h2>
            <div class="meter-bars">{bars}</div>
            <div class="meter-scale"><span>"−60"</span><span>"−40"</span><span>"−20"</span><span>"0 dBFS"</span></div>
            <dl class="meter-readout">
                <dt>"Peak"</dt><dd class="meter-peak-value">{move || readout(peak_db.get())}</dd>
                <dt>"RMS"</dt><dd class="meter-rms-value">{move || readout(rms_db.get())}</dd>
                <dt>"Clip"</dt><dd class="meter-clip" class:on=clipped>{move || if clipped.get() { "CLIP" } else { "—" }}</dd>
            </dl>
        </section>
    }
}
