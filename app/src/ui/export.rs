//! Export: the song (or the loop range) bounced to a WAV or FLAC file at a
//! loudness target, on the worker pool, with progress, Cancel and a report
//! measured from the written samples (`engine::bounce::export_mix`, the
//! same code as `stemroom render`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use leptos::prelude::*;
use stemroom_engine::bounce::{
    self, Container, ExportError, ExportReport, ExportSettings, LoudnessTarget,
};

use super::workspace::Workspace;
use crate::project;

/// What the dialog shows.
#[derive(Clone, Debug, PartialEq)]
enum Stage {
    Setting,
    /// Fraction done.
    Running(f64),
    /// The report, the file's name, and the audio that could not be had
    /// (hash, clips using it).
    Done(Box<ExportReport>, String, Vec<(String, usize)>),
    Failed(String),
}

fn target_of(value: &str, lufs: f64, ceiling: f64) -> Option<LoudnessTarget> {
    match value {
        "custom" => Some(LoudnessTarget {
            integrated_lufs: lufs,
            ceiling_dbtp: ceiling,
        }),
        preset => LoudnessTarget::preset(preset),
    }
}

/// A file name from the project's name: letters, digits, spaces and dashes.
fn file_name(project: &str, what: &str, container: Container) -> String {
    let clean: String = project
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim();
    let extension = match container {
        Container::Wav => "wav",
        Container::Flac => "flac",
    };
    format!(
        "{} - {what}.{extension}",
        if clean.is_empty() { "Untitled" } else { clean }
    )
}

/// Hands `bytes` to the browser as a download named `name`.
fn download(bytes: &[u8], name: &str, mime: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    // A copy out of wasm memory (a shared memory cannot back a Blob).
    let array = js_sys::Uint8Array::new_with_length(bytes.len() as u32);
    array.copy_from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(crate::js_error)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(crate::js_error)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(crate::js_error)?
        .dyn_into()
        .map_err(|_| "not an anchor")?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // The download has its own reference by now.
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

#[component]
pub fn ExportPanel() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let open = RwSignal::new(false);
    let stage = RwSignal::new(Stage::Setting);
    let format = RwSignal::new("wav24".to_string());
    let loudness = RwSignal::new("streaming".to_string());
    let custom_lufs = RwSignal::new(-14.0f64);
    let custom_ceiling = RwSignal::new(-1.0f64);
    // The project's loudness target, if the team set one, is where an
    // export starts.
    let from_target = move || {
        let Some((lufs, ceiling)) = ws
            .project
            .with_untracked(|p| p.as_ref().and_then(|p| p.meta.loudness_target))
        else {
            return;
        };
        let target = LoudnessTarget {
            integrated_lufs: lufs,
            ceiling_dbtp: ceiling,
        };
        let preset = target.preset_key().unwrap_or("custom");
        loudness.set(preset.to_string());
        custom_lufs.set(lufs);
        custom_ceiling.set(ceiling);
    };
    let range = RwSignal::new("song".to_string());
    let cancel: StoredValue<Option<Arc<AtomicBool>>> = StoredValue::new(None);

    let start = move || {
        let Some(song) = ws.project.get_untracked() else {
            return;
        };
        let rate = song.meta.sample_rate;
        let Some(mut settings) = ExportSettings::named(&format.get_untracked()) else {
            return;
        };
        settings.target = target_of(
            &loudness.get_untracked(),
            custom_lufs.get_untracked(),
            custom_ceiling.get_untracked(),
        );
        let (from, to) = ws.loop_range.get_untracked();
        let (what, frames) = if range.get_untracked() == "loop" && to > from {
            settings.start = from;
            ("loop", (to - from) as usize)
        } else {
            ("mix", bounce::song_frames(song.end(), rate))
        };
        let name = file_name(&song.meta.name, what, settings.container);
        let mime = match settings.container {
            Container::Wav => "audio/wav",
            Container::Flac => "audio/flac",
        };
        let progress = Arc::new(AtomicU32::new(0));
        let cancelled = Arc::new(AtomicBool::new(false));
        cancel.set_value(Some(cancelled.clone()));
        stage.set(Stage::Running(0.0));
        // The bar follows the workers' progress.
        let shown = progress.clone();
        let ticker = set_interval_with_handle(
            move || {
                if matches!(stage.get_untracked(), Stage::Running(_)) {
                    stage.set(Stage::Running(
                        f64::from(shown.load(Ordering::Relaxed)) / 1000.0,
                    ));
                }
            },
            std::time::Duration::from_millis(100),
        )
        .ok();
        leptos::task::spawn_local(async move {
            let mut missing = Vec::new();
            let result = match project::settled_desc(rate, 60_000.0).await {
                Err(e) => Err(e),
                Ok((desc, lost)) => {
                    missing = lost;
                    crate::background::run(move |parallel| {
                        let mut file = std::io::Cursor::new(Vec::new());
                        let report = bounce::export_mix(
                            &desc,
                            frames,
                            &settings,
                            parallel,
                            &mut file,
                            &mut |done| {
                                progress.store((done * 1000.0) as u32, Ordering::Relaxed);
                                !cancelled.load(Ordering::Relaxed)
                            },
                        );
                        report.map(|r| (r, file.into_inner()))
                    })
                    .await
                    .map_err(|e| match e {
                        ExportError::Cancelled => "Cancelled: nothing was written.".to_string(),
                        e => e.to_string(),
                    })
                }
            };
            if let Some(ticker) = ticker {
                ticker.clear();
            }
            cancel.set_value(None);
            stage.set(match result {
                Ok((report, bytes)) => match download(&bytes, &name, mime) {
                    Ok(()) => Stage::Done(Box::new(report), name, missing),
                    Err(e) => Stage::Failed(e),
                },
                Err(e) => Stage::Failed(e),
            });
        });
    };
    let running = move || matches!(stage.get(), Stage::Running(_));
    view! {
        <button class="export-toggle" class:active=move || open.get() title="Export the song as a file" on:click=move |_| {
            open.update(|o| *o = !*o);
            if open.get_untracked() && !running() {
                from_target();
            }
        }>
            "Export"
        </button>
        <Show when=move || open.get()>
            <aside class="export-panel" aria-label="Export">
                <header>
                    <h2>"Export"</h2>
                    <button class="export-close" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
                </header>
                <label>"Range "
                    <select class="export-range" prop:value=move || range.get() on:change=move |e| range.set(event_target_value(&e)) disabled=running>
                        <option value="song">"Whole song (with tails)"</option>
                        <option value="loop">"Loop range"</option>
                    </select>
                </label>
                <label>"Format "
                    <select class="export-format" prop:value=move || format.get() on:change=move |e| format.set(event_target_value(&e)) disabled=running>
                        {bounce::FILE_FORMATS.iter().map(|f| view! { <option value=f.0>{f.1}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Loudness "
                    <select class="export-loudness" prop:value=move || loudness.get() on:change=move |e| loudness.set(event_target_value(&e)) disabled=running>
                        <option value="none">"As mixed"</option>
                        {bounce::TARGET_PRESETS.iter().map(|p| view! { <option value=p.0>{format!("{}, −1 dBTP", p.1)}</option> }).collect_view()}
                        <option value="custom">"Custom"</option>
                    </select>
                </label>
                <Show when=move || loudness.get() == "custom">
                    <label>"LUFS "
                        <input class="export-lufs" type="number" step="0.1" min="-40" max="-5" prop:value=move || custom_lufs.get().to_string()
                            on:change=move |e| { if let Ok(v) = event_target_value(&e).parse::<f64>() { custom_lufs.set(v.clamp(-40.0, -5.0)) } } />
                    </label>
                    <label>"Ceiling dBTP "
                        <input class="export-ceiling" type="number" step="0.1" min="-12" max="0" prop:value=move || custom_ceiling.get().to_string()
                            on:change=move |e| { if let Ok(v) = event_target_value(&e).parse::<f64>() { custom_ceiling.set(v.clamp(-12.0, 0.0)) } } />
                    </label>
                </Show>
                <div class="export-actions">
                    <button class="export-start" disabled=running on:click=move |_| start()>"Export"</button>
                    <Show when=running>
                        <progress class="export-progress" max="1" value=move || match stage.get() { Stage::Running(f) => f, _ => 0.0 }></progress>
                    </Show>
                    // Always in the page (hidden when idle), so a Cancel
                    // right after Export reaches the flag the job checks.
                    <button class="export-cancel" hidden=move || !running() on:click=move |_| {
                        if let Some(flag) = cancel.get_value() {
                            flag.store(true, Ordering::Relaxed);
                        }
                    }>"Cancel"</button>
                </div>
                {move || match stage.get() {
                    Stage::Done(report, name, missing) => Some(view! { <ExportReportView report=*report name=name missing=missing /> }.into_any()),
                    Stage::Failed(e) => Some(view! { <p class="export-error" role="alert">{e}</p> }.into_any()),
                    _ => None,
                }}
            </aside>
        </Show>
    }
}

/// What was written, measured from the written samples, and what each
/// streaming platform will do to it.
#[component]
fn ExportReportView(
    report: ExportReport,
    name: String,
    missing: Vec<(String, usize)>,
) -> impl IntoView {
    let l = &report.loudness;
    view! {
        <div class="export-report" role="status" data-integrated=format!("{:.2}", l.integrated_lufs) data-true-peak=format!("{:.2}", l.true_peak_dbtp)>
            <p class="export-file">{report.file_line(&name)}</p>
            <p>{report.loudness_line()}</p>
            {report.gain_line().map(|line| view! { <p>{line}</p> })}
            <ul class="export-platforms">
                {report.platforms().into_iter().map(|p| view! { <li>{p.sentence()}</li> }).collect_view()}
            </ul>
            {(!missing.is_empty()).then(|| view! {
                <ul class="export-missing" role="alert">
                    {missing.into_iter().map(|(sha, clips)| view! {
                        <li>{format!("Audio {}… could not be had: {clips} clip{} silent", &sha[..sha.len().min(12)], if clips == 1 { "" } else { "s" })}</li>
                    }).collect_view()}
                </ul>
            })}
        </div>
    }
}
