//! Export: the song (the loop range, or the selected clip's span) bounced
//! to a mix at a loudness target, stems of every track and bus, or both
//! in one pass, on the worker pool, with progress, Cancel and a report
//! measured from the written samples (`engine::bounce::export`, the same
//! code as `stemroom render`). The files stream to a file or folder the
//! user picks where the browser allows it, otherwise they download
//! (`crate::export_files`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use leptos::prelude::*;
use stemroom_engine::bounce::{
    self, ExportError, ExportFile, ExportJob, ExportReport, ExportSettings, ExportTarget,
    LoudnessTarget, StemReport, StemSettings,
};
use stemroom_engine::resample::EXPORT_RATES;

use super::workspace::Workspace;
use crate::export_files::{self, ChannelFile, Destination, Writer};
use crate::project;

/// What the dialog shows.
#[derive(Clone, Debug, PartialEq)]
enum Stage {
    Setting,
    /// Fraction done.
    Running(f64),
    Done(Box<Written>),
    Failed(String),
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq)]
struct Written {
    /// The mix's report and file name.
    mix: Option<(ExportReport, String)>,
    /// Each stem's report and file name.
    stems: Vec<(StemReport, String)>,
    /// Where the files went.
    place: String,
    /// Audio that could not be had: (hash, clips using it).
    missing: Vec<(String, usize)>,
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

/// Everything an export needs, read when Export is pressed.
struct Plan {
    settings: ExportSettings,
    frames: usize,
    mix: bool,
    stems: Option<StemSettings>,
    /// The version on show, if one is: it is what is exported.
    version: Option<Arc<stemroom_model::project::Project>>,
    project_name: String,
    version_name: Option<String>,
    /// "mix", "loop" or "selection".
    what: &'static str,
}

impl Plan {
    fn file_name(&self, what: &str) -> String {
        bounce::file_name(
            &self.project_name,
            self.version_name.as_deref(),
            what,
            self.settings.container,
        )
    }
}

#[component]
pub fn ExportPanel() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let open = RwSignal::new(false);
    let stage = RwSignal::new(Stage::Setting);
    let what = RwSignal::new("mix".to_string());
    let stems_master = RwSignal::new(false);
    let stems_sends = RwSignal::new(true);
    let format = RwSignal::new("wav24".to_string());
    let rate = RwSignal::new("project".to_string());
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

    // What Export would do, read from the dialog and the workspace.
    let plan = move || -> Option<Plan> {
        let song = ws.project.get_untracked()?;
        let project_rate = song.meta.sample_rate;
        let mut settings = ExportSettings::named(&format.get_untracked())?;
        settings.target = target_of(
            &loudness.get_untracked(),
            custom_lufs.get_untracked(),
            custom_ceiling.get_untracked(),
        );
        settings.rate = rate.get_untracked().parse().ok();
        let selected_span = ws.selected.get_untracked().and_then(|id| {
            song.clips
                .iter()
                .find(|c| c.id == id)
                .map(|c| (c.start, c.start + c.length))
        });
        let (from, to) = ws.loop_range.get_untracked();
        let (what_label, frames) = match range.get_untracked().as_str() {
            "loop" if to > from => {
                settings.start = from;
                ("loop", (to - from) as usize)
            }
            "selection" if selected_span.is_some() => {
                let (from, to) = selected_span.unwrap_or_default();
                settings.start = from;
                ("selection", (to - from) as usize)
            }
            _ => ("mix", bounce::song_frames(song.end(), project_rate)),
        };
        let kind = what.get_untracked();
        let version_name = crate::compare::showing_version()
            .then(|| crate::compare::view().get_untracked().map(|v| v.name))
            .flatten();
        Some(Plan {
            settings,
            frames,
            mix: kind != "stems",
            stems: (kind != "mix").then(|| StemSettings {
                master_chain: stems_master.get_untracked(),
                sends: stems_sends.get_untracked(),
            }),
            version: version_name.is_some().then(|| song.clone()),
            project_name: song.meta.name.clone(),
            version_name,
            what: what_label,
        })
    };

    let start = move || {
        let Some(plan) = plan() else {
            return;
        };
        let Some(song) = ws.project.get_untracked() else {
            return;
        };
        // The pickers need the click: asked now, awaited below.
        let picking = export_files::pick(plan.stems.is_some(), &plan.file_name(plan.what));
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
            let finished = run_export(plan, song, picking, progress, cancelled).await;
            if let Some(ticker) = ticker {
                ticker.clear();
            }
            cancel.set_value(None);
            stage.set(match finished {
                Ok(Some(written)) => Stage::Done(Box::new(written)),
                // The picker was dismissed: back to the settings.
                Ok(None) => Stage::Setting,
                Err(e) => Stage::Failed(e),
            });
        });
    };
    let running = move || matches!(stage.get(), Stage::Running(_));
    let has_selection = move || ws.selected.get().is_some();
    view! {
        <button class="export-toggle" class:active=move || open.get() title="Export the song as files" on:click=move |_| {
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
                <label>"What "
                    <select class="export-what" prop:value=move || what.get() on:change=move |e| what.set(event_target_value(&e)) disabled=running>
                        <option value="mix">"Mix"</option>
                        <option value="stems">"Stems (every track and bus)"</option>
                        <option value="both">"Mix and stems"</option>
                    </select>
                </label>
                <Show when=move || what.get() != "mix">
                    <label class="export-check">
                        <input class="export-stems-master" type="checkbox" prop:checked=move || stems_master.get() on:change=move |e| stems_master.set(event_target_checked(&e)) disabled=running />
                        "Stems through the master chain"
                    </label>
                    <label class="export-check">
                        <input class="export-stems-sends" type="checkbox" prop:checked=move || stems_sends.get() on:change=move |e| stems_sends.set(event_target_checked(&e)) disabled=running />
                        "Effect returns as stems"
                    </label>
                </Show>
                <label>"Range "
                    <select class="export-range" prop:value=move || range.get() on:change=move |e| range.set(event_target_value(&e)) disabled=running>
                        <option value="song">"Whole song (with tails)"</option>
                        <option value="loop">"Loop range"</option>
                        <option value="selection" disabled=move || !has_selection()>"Selected clip"</option>
                    </select>
                </label>
                <label>"Format "
                    <select class="export-format" prop:value=move || format.get() on:change=move |e| format.set(event_target_value(&e)) disabled=running>
                        {bounce::FILE_FORMATS.iter().map(|f| view! { <option value=f.0>{f.1}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Sample rate "
                    <select class="export-rate" prop:value=move || rate.get() on:change=move |e| rate.set(event_target_value(&e)) disabled=running>
                        <option value="project">{move || format!("As the project ({:.1} kHz)", ws.rate.get() / 1000.0)}</option>
                        {EXPORT_RATES.iter().map(|r| view! { <option value=r.to_string()>{format!("{:.1} kHz", f64::from(*r) / 1000.0)}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Loudness "
                    <select class="export-loudness" prop:value=move || loudness.get() on:change=move |e| loudness.set(event_target_value(&e)) disabled=move || running() || what.get() == "stems">
                        <option value="none">"As mixed"</option>
                        {bounce::TARGET_PRESETS.iter().map(|p| view! { <option value=p.0>{format!("{}, −1 dBTP", p.1)}</option> }).collect_view()}
                        <option value="custom">"Custom"</option>
                    </select>
                </label>
                <Show when=move || what.get() != "mix">
                    <p class="export-note">"Stems are written as mixed; a loudness target is the mix's."</p>
                </Show>
                <Show when=move || loudness.get() == "custom" && what.get() != "stems">
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
                    Stage::Done(written) => Some(view! { <ExportReportView written=*written /> }.into_any()),
                    Stage::Failed(e) => Some(view! { <p class="export-error" role="alert">{e}</p> }.into_any()),
                    _ => None,
                }}
            </aside>
        </Show>
    }
}

/// Runs one export: the place picked (`picking`), the audio settled, the
/// render on the pool, the files written as it goes. `Ok(None)`: the
/// picker was dismissed. A cancelled or failed export leaves no file.
async fn run_export(
    plan: Plan,
    song: Arc<stemroom_model::project::Project>,
    picking: Option<js_sys::Promise>,
    progress: Arc<AtomicU32>,
    cancelled: Arc<AtomicBool>,
) -> Result<Option<Written>, String> {
    let destination = match picking {
        None => Destination::Download,
        Some(promise) => match wasm_bindgen_futures::JsFuture::from(promise).await {
            Ok(handle) if plan.stems.is_some() => Destination::Folder(handle),
            Ok(handle) => Destination::File(handle),
            Err(_) => return Ok(None),
        },
    };
    let mut writer = Writer::new(destination);
    let project_rate = song.meta.sample_rate;
    let (desc, missing) =
        project::settled_desc(project_rate, plan.version.clone(), 60_000.0).await?;
    // Names, made here (the worker has no project): one per stem, then
    // the mix; a file's number in the channel is its place in this list.
    let stems = plan
        .stems
        .map(|s| bounce::stems_of(&desc, &s))
        .unwrap_or_default();
    let mut names: Vec<String> = stems
        .iter()
        .enumerate()
        .map(|(n, stem)| plan.file_name(&bounce::stem_title(n + 1, song.strip_name(stem.strip))))
        .collect();
    names.push(plan.file_name(plan.what));
    let (tx, rx) = export_files::channel(crate::background::parallel());
    let (settings, frames, mix, stem_settings) = (plan.settings, plan.frames, plan.mix, plan.stems);
    let job_names = names.clone();
    let flag = cancelled.clone();
    let job = crate::background::run(move |parallel| {
        let job = ExportJob {
            project: &desc,
            frames,
            settings,
            mix,
            stems: stem_settings,
            parallel,
        };
        bounce::export(
            &job,
            &mut |file| {
                let index = match file {
                    ExportFile::Stem(stem) => stems.iter().position(|s| s.strip == stem.strip),
                    ExportFile::Mix => Some(stems.len()),
                }
                .ok_or_else(|| ExportError::Write("a stem nobody named".into()))?;
                let opened = ChannelFile::open(index, job_names[index].clone(), tx.clone())
                    .map_err(|e| ExportError::Write(e.to_string()))?;
                Ok(Box::new(opened) as Box<dyn ExportTarget>)
            },
            &mut |done| {
                progress.store((done * 1000.0) as u32, Ordering::Relaxed);
                !flag.load(Ordering::Relaxed)
            },
        )
    });
    // The page writes what the worker sends while it renders; the drain
    // ends when the worker lets go of the channel.
    let drain = export_files::drain(rx, &mut writer, || cancelled.store(true, Ordering::Relaxed));
    let (result, drained) = futures_util::future::join(job, drain).await;
    let outcome = match (result, drained) {
        (Ok(outcome), Ok(())) => outcome,
        (result, drained) => {
            writer.discard().await;
            return Err(match (result, drained) {
                (Err(ExportError::Cancelled), Ok(())) => "Cancelled: nothing was written.".into(),
                (_, Err(e)) => format!("The files could not be written: {e}"),
                (Err(e), _) => e.to_string(),
                (Ok(_), Ok(())) => unreachable!("handled above"),
            });
        }
    };
    let mime = plan.settings.container.mime();
    writer.deliver(mime)?;
    Ok(Some(Written {
        mix: outcome.mix.map(|r| (r, names[names.len() - 1].clone())),
        stems: outcome.stems.into_iter().zip(names).collect(),
        place: writer.place(),
        missing,
    }))
}

/// What was written, measured from the written samples, and what each
/// streaming platform will do to the mix.
#[component]
fn ExportReportView(written: Written) -> impl IntoView {
    let Written {
        mix,
        stems,
        place,
        missing,
    } = written;
    let integrated = mix
        .as_ref()
        .map(|(r, _)| format!("{:.2}", r.loudness.integrated_lufs));
    let true_peak = mix
        .as_ref()
        .map(|(r, _)| format!("{:.2}", r.loudness.true_peak_dbtp));
    let stem_count = stems.len().to_string();
    view! {
        <div class="export-report" role="status" data-integrated=integrated data-true-peak=true_peak data-stems=stem_count>
            <p class="export-place">{place}</p>
            {mix.map(|(report, name)| view! {
                <p class="export-file">{report.file_line(&name)}</p>
                <p>{report.loudness_line()}</p>
                {report.gain_line().map(|line| view! { <p>{line}</p> })}
                <ul class="export-platforms">
                    {report.platforms().into_iter().map(|p| view! { <li>{p.sentence()}</li> }).collect_view()}
                </ul>
            })}
            {(!stems.is_empty()).then(|| view! {
                <details class="export-stems">
                    <summary>{format!("{} stems", stems.len())}</summary>
                    <ul>
                        {stems.into_iter().map(|(r, name)| view! {
                            <li>{format!("{name}: sample peak {:.1} dBFS", r.sample_peak_dbfs)}</li>
                        }).collect_view()}
                    </ul>
                </details>
            })}
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
