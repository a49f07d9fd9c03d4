//! The open project of this tab: its two synced documents, per-user undo,
//! decoded audio, and keeping the engine playing what the document says.
//!
//! Main thread only. yrs documents, sockets and audio are not `Send`, so
//! they live here in a thread-local and the UI reaches them through the
//! functions below; the UI holds only signals.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use stemroom_engine::analysis::Peaks;
use stemroom_engine::project::{AudioAsset, ProjectDesc};
use stemroom_model::migrate;
use stemroom_model::project::{AutomationLane, Project, ProjectDoc};
use stemroom_model::reader::ProjectReader;
use stemroom_model::review::ReviewDoc;
use stemroom_model::undo::{LOCAL, LocalUndo};
use yrs::{Doc, Transact, TransactionMut};

use crate::api::{self, ProjectLink};
use crate::sync::DocSync;

/// Origin of schema migrations: neither undone by the user nor remote.
const MIGRATION: &str = "migration";

pub struct OpenProject {
    pub link: ProjectLink,
    pub project: ProjectDoc,
    pub review: ReviewDoc,
    pub project_sync: DocSync,
    pub review_sync: DocSync,
    undo: LocalUndo,
    /// Decoded audio and its waveform overview, by SHA-256.
    assets: HashMap<String, Arc<AudioAsset>>,
    peaks: HashMap<String, Arc<Peaks>>,
    /// Bumped whenever audio arrives (waveforms redraw).
    pub audio_revision: RwSignal<u64>,
    /// Reads the project again after a change, clips only where touched.
    reader: ProjectReader,
    /// The last read of the project, until the document changes.
    cached: Option<Arc<Project>>,
    stale: Rc<Cell<bool>>,
    /// Hashes being fetched or decoded.
    loading: HashSet<String>,
    /// The clips version whose missing audio was last looked for: a change
    /// that leaves the clips alone has nothing new to fetch.
    fetched_for: Option<u64>,
    migrated: bool,
    /// What this link's role lets this tab change, once the server has
    /// said (nothing before): edits it would refuse are never made, so
    /// nothing appears to work and is then refused.
    can_edit: bool,
    can_comment: bool,
}

thread_local! {
    static OPEN: RefCell<Option<OpenProject>> = const { RefCell::new(None) };
}

/// Opens a project: starts syncing both documents.
pub fn open(link: ProjectLink) -> (DocSync, DocSync) {
    let project_doc = Doc::new();
    let review_doc = Doc::new();
    let project_sync = DocSync::start(project_doc.clone(), &link.id, "project", &link.token);
    let review_sync = DocSync::start(review_doc.clone(), &link.id, "review", &link.token);
    let stale = Rc::new(Cell::new(true));
    {
        let stale = stale.clone();
        let _ = project_doc.observe_update_v1("snapshot", move |_, _| stale.set(true));
    }
    let project = ProjectDoc::new(project_doc);
    let reader = ProjectReader::new(&project);
    let clock: Arc<dyn yrs::sync::Clock> = Arc::new(|| js_sys::Date::now() as u64);
    let undo = LocalUndo::new(&project, clock, 500);
    let open = OpenProject {
        link,
        project,
        review: ReviewDoc::new(review_doc),
        project_sync: project_sync.clone(),
        review_sync: review_sync.clone(),
        undo,
        assets: HashMap::new(),
        peaks: HashMap::new(),
        audio_revision: RwSignal::new(0),
        reader,
        cached: None,
        stale,
        loading: HashSet::new(),
        fetched_for: None,
        migrated: false,
        can_edit: false,
        can_comment: false,
    };
    OPEN.set(Some(open));
    (project_sync, review_sync)
}

/// The role the server gave this page's link: what it may change from now.
pub fn set_role(role: &str) {
    with(|p| {
        p.can_edit = matches!(role, "owner" | "edit");
        p.can_comment = p.can_edit || role == "comment";
    });
}

/// Runs `f` with the open project, if any.
pub fn with<R>(f: impl FnOnce(&mut OpenProject) -> R) -> Option<R> {
    OPEN.with_borrow_mut(|open| open.as_mut().map(f))
}

/// The project as read now (repaired), if one is open and readable. Read
/// once per change of the document, however often it is asked for.
pub fn snapshot() -> Option<Arc<Project>> {
    with(|p| {
        if p.stale.get() || p.cached.is_none() {
            let txn = p.project.doc().try_transact().ok()?;
            p.cached = Some(Arc::new(p.reader.read(&p.project, &txn)));
            p.stale.set(false);
        }
        p.cached.clone()
    })
    .flatten()
}

/// What the clips of an engine description depend on: the clips as read
/// ([`ProjectReader::clips_version`]) and the audio decoded so far. Equal
/// keys, equal clip descriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipsKey {
    clips: u64,
    audio: u64,
}

/// The key of the clips as read now (call after [`snapshot`]).
pub fn clips_key() -> Option<ClipsKey> {
    with(|p| ClipsKey {
        clips: p.reader.clips_version(),
        audio: p.audio_revision.get_untracked(),
    })
}

/// The waveform overview of an asset, once its audio is here.
pub fn peaks(sha256: &str) -> Option<Arc<Peaks>> {
    with(|p| p.peaks.get(sha256).cloned()).flatten()
}

/// Bumped whenever audio arrives, for views that draw waveforms.
pub fn audio_revision() -> Option<RwSignal<u64>> {
    with(|p| p.audio_revision)
}

/// One local edit of the project document: one transaction, its own undo
/// step however soon it follows the last one. Refused (`None`) without the
/// role to edit, and while a saved version is on show.
pub fn edit<R>(f: impl FnOnce(&ProjectDoc, &mut TransactionMut) -> R) -> Option<R> {
    begin_step();
    gesture(f)
}

/// Starts a new undo step (a drag calls this when it begins).
pub fn begin_step() {
    with(|p| p.undo.new_step());
}

/// One edit of a continuous gesture (a drag, after [`begin_step`]): its
/// edits within half a second of each other undo as one step.
pub fn gesture<R>(f: impl FnOnce(&ProjectDoc, &mut TransactionMut) -> R) -> Option<R> {
    if crate::compare::showing_version() {
        return None;
    }
    with(|p| {
        if !p.can_edit {
            return None;
        }
        let mut txn = p.project.doc().try_transact_mut_with(LOCAL).ok()?;
        Some(f(&p.project, &mut txn))
    })
    .flatten()
}

/// An edit of this tab's that is not a step of its undo history: a
/// finished recording's asset filled into the clips that wait for it
/// (undoing that would leave them silent). Synced like any other.
pub fn fill_in<R>(f: impl FnOnce(&ProjectDoc, &mut TransactionMut) -> R) -> Option<R> {
    with(|p| {
        if !p.can_edit {
            return None;
        }
        let mut txn = p.project.doc().try_transact_mut_with("recorder").ok()?;
        Some(f(&p.project, &mut txn))
    })
    .flatten()
}

/// One local edit of the review document.
pub fn edit_review<R>(f: impl FnOnce(&ReviewDoc, &mut TransactionMut) -> R) -> Option<R> {
    with(|p| {
        if !p.can_comment {
            return None;
        }
        let mut txn = p.review.doc().try_transact_mut_with(LOCAL).ok()?;
        Some(f(&p.review, &mut txn))
    })
    .flatten()
}

pub fn undo() -> bool {
    !crate::compare::showing_version() && with(|p| p.can_edit && p.undo.undo()).unwrap_or(false)
}

pub fn redo() -> bool {
    !crate::compare::showing_version() && with(|p| p.can_edit && p.undo.redo()).unwrap_or(false)
}

/// Brings an older document up to this build's schema, once, after the
/// first sync (an editor's job; readers leave the document as it is).
pub fn migrate_once(can_edit: bool) -> Result<(), String> {
    with(|p| {
        if p.migrated || !can_edit {
            return Ok(());
        }
        p.migrated = true;
        let Ok(mut txn) = p.project.doc().try_transact_mut_with(MIGRATION) else {
            return Ok(());
        };
        migrate::migrate(&p.project, &mut txn)
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .unwrap_or(Ok(()))
}

/// Colours a new track cycles through.
pub const TRACK_COLOURS: [&str; 8] = [
    "#e0a030", "#4fa3e0", "#7cc46a", "#d2617e", "#a58be8", "#47c2b1", "#e07a4f", "#c9c257",
];

/// The engine's description of the project at `sample_rate`, with the
/// audio decoded so far, playing the automation lanes `plays` accepts.
/// Assets not yet here are fetched and decoded; `on_asset` runs when one
/// arrives (the caller updates the engine).
pub fn engine_desc(
    sample_rate: u32,
    on_asset: impl Fn() + Clone + 'static,
    plays: impl Fn(&AutomationLane) -> bool,
) -> Option<ProjectDesc> {
    let project = snapshot()?;
    fetch_missing(on_asset);
    with(|p| project.to_engine_with(sample_rate, |sha| p.assets.get(sha).cloned(), plays))
}

impl OpenProject {
    /// The engine's description of another state of this project (a
    /// version) with the audio decoded here, every lane playing.
    pub fn describe(&self, project: &Project, sample_rate: u32) -> ProjectDesc {
        project.to_engine_with(sample_rate, |sha| self.assets.get(sha).cloned(), |_| true)
    }
}

/// The engine's description of the document as it is (every lane plays,
/// whatever this user's write modes) once every clip's audio is decoded:
/// what offline renders and measurements need. Fails after `timeout_ms`.
pub async fn complete_desc(sample_rate: u32, timeout_ms: f64) -> Result<ProjectDesc, String> {
    let started = js_sys::Date::now();
    loop {
        let desc = engine_desc(sample_rate, || {}, |_| true).ok_or("no project is open")?;
        if !assets_pending() {
            return Ok(desc);
        }
        if js_sys::Date::now() - started > timeout_ms {
            return Err("the project's audio did not arrive".into());
        }
        crate::background::sleep(20).await;
    }
}

/// The engine's description of the document (or of `of`, a saved
/// version's read) once every fetch of its audio has ended, arrived or
/// failed (an export goes on without what cannot be had: those clips play
/// silent), with the hashes still missing and how many clips use each.
/// Fails after `timeout_ms` of fetching.
pub async fn settled_desc(
    sample_rate: u32,
    of: Option<Arc<Project>>,
    timeout_ms: f64,
) -> Result<(ProjectDesc, Vec<(String, usize)>), String> {
    let started = js_sys::Date::now();
    loop {
        let (desc, project) = match &of {
            Some(version) => (
                with(|p| p.describe(version, sample_rate)).ok_or("no project is open")?,
                version.clone(),
            ),
            None => (
                engine_desc(sample_rate, || {}, |_| true).ok_or("no project is open")?,
                snapshot().ok_or("no project is open")?,
            ),
        };
        let missing = with(|p| {
            if !p.loading.is_empty() {
                return None;
            }
            let mut missing = std::collections::BTreeMap::<String, usize>::new();
            for clip in project.clips.iter().filter(|c| !c.asset.is_empty()) {
                if !p.assets.contains_key(&clip.asset) {
                    *missing.entry(clip.asset.clone()).or_default() += 1;
                }
            }
            Some(missing.into_iter().collect::<Vec<_>>())
        })
        .flatten();
        if let Some(missing) = missing {
            return Ok((desc, missing));
        }
        if js_sys::Date::now() - started > timeout_ms {
            return Err("the project's audio did not arrive".into());
        }
        crate::background::sleep(20).await;
    }
}

/// Fetches and decodes (off the page's thread) the audio of every clip
/// this tab does not have yet; `on_asset` runs as each one arrives. The
/// waveforms need the audio whether or not this tab plays. Looks again only
/// when the clips changed (a failed fetch is tried again then).
pub fn fetch_missing(on_asset: impl Fn() + Clone + 'static) {
    let Some(project) = snapshot() else { return };
    let changed = with(|p| {
        let version = Some(p.reader.clips_version());
        let changed = p.fetched_for != version;
        p.fetched_for = version;
        changed
    });
    if changed == Some(true) {
        fetch_audio_of(&project, on_asset);
    }
}

/// Fetches and decodes the audio of `project`'s clips (the live document
/// or a saved version) that this tab has neither decoded nor is loading;
/// `on_asset` runs as each one arrives.
pub fn fetch_audio_of(project: &Project, on_asset: impl Fn() + Clone + 'static) {
    let Some((missing, link)) = with(|p| {
        let missing: Vec<String> = project
            .clips
            .iter()
            .map(|c| &c.asset)
            // A recorded clip's asset is empty until its upload finishes.
            .filter(|sha| !sha.is_empty())
            .filter(|sha| !p.assets.contains_key(*sha) && !p.loading.contains(*sha))
            .collect::<HashSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        p.loading.extend(missing.iter().cloned());
        (missing, p.link.clone())
    }) else {
        return;
    };
    for sha in missing {
        let link = link.clone();
        let on_asset = on_asset.clone();
        leptos::task::spawn_local(async move {
            let decoded = match api::fetch_asset(&link.id, &link.token, &sha).await {
                Ok(bytes) => decode(bytes).await,
                Err(e) => Err(e),
            };
            with(|p| p.loading.remove(&sha));
            match decoded {
                Ok((asset, peaks)) => add_asset(&sha, asset, peaks),
                Err(e) => {
                    web_sys::console::error_1(&format!("cannot load audio {sha}: {e}").into())
                }
            }
            on_asset();
        });
    }
}

/// Whether some clip's audio is not decoded yet (being fetched, or failed).
pub fn assets_pending() -> bool {
    let Some(project) = snapshot() else {
        return false;
    };
    with(|p| {
        !p.loading.is_empty()
            || project
                .clips
                .iter()
                .any(|c| !p.assets.contains_key(&c.asset))
    })
    .unwrap_or(false)
}

/// Decodes a file's bytes and computes its waveform overview, off the
/// page's thread.
pub async fn decode(bytes: Vec<u8>) -> Result<(Arc<AudioAsset>, Arc<Peaks>), String> {
    crate::background::run(move |parallel| {
        let asset = decode_now(bytes)?;
        let peaks = Arc::new(Peaks::of(&asset, parallel));
        Ok((asset, peaks))
    })
    .await
}

/// Decodes a file's bytes to planar audio, on this thread.
fn decode_now(bytes: Vec<u8>) -> Result<Arc<AudioAsset>, String> {
    stemroom_engine::decode::decode_asset(Box::new(std::io::Cursor::new(bytes)), None)
        .map_err(|e| e.to_string())
}

/// Remembers decoded audio (an import decodes locally before it uploads).
pub fn add_asset(sha256: &str, asset: Arc<AudioAsset>, peaks: Arc<Peaks>) {
    let revision = with(|p| {
        p.assets.insert(sha256.to_string(), asset);
        p.peaks.insert(sha256.to_string(), peaks);
        p.audio_revision
    });
    if let Some(revision) = revision {
        revision.update(|r| *r += 1);
    }
}

/// Fills the open project with `tracks` tracks of `clips_per_track` clips
/// of `asset`, each `clip_frames` long with a quarter of that between
/// them, in one edit: how the browser benchmarks and tests build a song of
/// a given size. Returns the number of clips added.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn add_arrangement(
    tracks: u32,
    clips_per_track: u32,
    asset: &str,
    clip_frames: f64,
) -> Result<u32, wasm_bindgen::JsError> {
    let length = clip_frames.max(1.0) as u64;
    edit(|p, txn| {
        for t in 0..tracks {
            let track = p.add_track(txn, &format!("Track {}", t + 1), 1);
            let colour = TRACK_COLOURS[t as usize % TRACK_COLOURS.len()];
            p.set(txn, "tracks", &track, "color", colour);
            for c in 0..clips_per_track {
                let start = u64::from(c) * (length + length / 4);
                let clip = p.add_clip(txn, &track, asset, start, length);
                p.set(
                    txn,
                    "clips",
                    &clip,
                    "name",
                    format!("Take {}", c + 1).as_str(),
                );
            }
        }
        tracks * clips_per_track
    })
    .ok_or_else(|| wasm_bindgen::JsError::new("no project is open"))
}

/// The open project's clips as JSON, as this tab reads the document
/// (tests): `[{ id, track, asset, recording, name, start, offset, length,
/// take: { group, pass, active } | null }]`.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn project_clips() -> String {
    let clips = snapshot().map_or_else(Vec::new, |p| {
        p.clips
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id, "track": c.track, "asset": c.asset, "recording": c.recording,
                    "name": c.name, "start": c.start, "offset": c.offset, "length": c.length,
                    "take": c.take.as_ref().map(|t| serde_json::json!({
                        "group": t.group, "pass": t.pass, "active": t.active,
                    })),
                })
            })
            .collect()
    });
    serde_json::Value::Array(clips).to_string()
}
