//! Importing audio files: each is decoded off the page's thread first (a
//! file that is not audio gets a message and changes nothing), uploaded
//! with progress, and lands as a new coloured track with its clip in one
//! undo step.

use leptos::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::api;
use crate::project::{self, TRACK_COLOURS};
use crate::session::{EngineUi, sync_engine};

/// One file being imported.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub id: u32,
    pub name: String,
    /// 0..1 while uploading.
    pub progress: f64,
    pub stage: &'static str,
    pub error: Option<String>,
}

thread_local! {
    static NEXT_IMPORT: std::cell::Cell<u32> = const { std::cell::Cell::new(1) };
}

/// Imports one file: decode (off the page's thread; a file that is not
/// audio changes nothing), upload with progress, then a new track with the
/// clip.
pub fn import(file: web_sys::File, imports: RwSignal<Vec<Import>>, ui: EngineUi) {
    let id = NEXT_IMPORT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let name = file.name();
    imports.update(|list| {
        list.push(Import {
            id,
            name: name.clone(),
            progress: 0.0,
            stage: "decoding",
            error: None,
        })
    });
    let set = move |f: &dyn Fn(&mut Import)| {
        imports.update(|list| {
            if let Some(item) = list.iter_mut().find(|i| i.id == id) {
                f(item);
            }
        })
    };
    leptos::task::spawn_local(async move {
        let fail = |message: String| {
            set(&|i: &mut Import| {
                i.stage = "failed";
                i.error = Some(message.clone());
            })
        };
        let bytes = match JsFuture::from(file.array_buffer()).await {
            Ok(buffer) => js_sys::Uint8Array::new(&buffer).to_vec(),
            Err(e) => return fail(crate::js_error(e)),
        };
        let (asset, peaks) = match project::decode(bytes).await {
            Ok(decoded) => decoded,
            Err(e) => return fail(format!("{name}: {e}")),
        };
        set(&|i: &mut Import| i.stage = "uploading");
        let Some(link) = project::with(|p| p.link.clone()) else {
            return;
        };
        let progress = move |p: f64| set(&|i: &mut Import| i.progress = p);
        let info = match api::upload_asset(&link.id, &link.token, &file, progress).await {
            Ok(info) => info,
            Err(e) => return fail(e),
        };
        let frames = asset.frames();
        let channels = asset.channel_count().min(2) as u32;
        project::add_asset(&info.sha256, asset, peaks);
        let stem = name
            .rsplit_once('.')
            .map_or(name.as_str(), |(stem, _)| stem)
            .to_string();
        project::edit(|p, txn| {
            let count = p.tracks(txn).len();
            let track = p.add_track(txn, &stem, channels);
            p.set(
                txn,
                "tracks",
                &track,
                "color",
                TRACK_COLOURS[count % TRACK_COLOURS.len()],
            );
            let clip = p.add_clip(txn, &track, &info.sha256, 0, frames);
            p.set(txn, "clips", &clip, "name", stem.as_str());
        });
        set(&|i: &mut Import| {
            i.stage = "done";
            i.progress = 1.0;
        });
        sync_engine(ui);
    });
}
