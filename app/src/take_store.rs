//! Takes in this browser's origin-private file system (OPFS) while they are
//! recorded and until the server has them: `stemroom-takes/<id>/` holds
//! `meta.json` (where the take belongs and how to place it) and the
//! chunks `chunk-00000`, … of raw samples, the same bytes the server is
//! sent. Files are written by a worker (`static/take-writer.js`) through
//! synchronous access handles, off the page's thread, each under a
//! temporary name then moved into place: a file exists whole or not at
//! all, so a closed tab or a crash loses only the chunk being filled;
//! reopening the project finds the rest here. Without the worker the page
//! writes them itself (a writable stream also commits whole on close).
//! Reading and listing happen on the page.
//!
//! Main thread only.

use js_sys::{Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use crate::call;
use crate::take_writer::{self, WriterError};

const ROOT: &str = "stemroom-takes";

/// What a take's directory says about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeMeta {
    pub id: String,
    pub project: String,
    pub track: String,
    pub name: String,
    pub sample_rate: u32,
    /// Channels in the chunks (1 or 2), 24-bit.
    pub channels: u16,
    /// Transport position of the first frame (None: not started yet).
    pub position: Option<u64>,
    /// Round-trip latency compensated (frames).
    pub latency: u64,
    pub looping: Option<(u64, u64)>,
    pub punch: Option<(u64, u64)>,
    /// Frames recorded, once stopped.
    pub frames: Option<u64>,
    /// The clips are in the document.
    #[serde(default)]
    pub placed: bool,
    /// When it began (ms since 1970), for the recovery offer.
    pub started_ms: f64,
}

impl TakeMeta {
    /// Bytes per frame in the chunks.
    pub fn frame_bytes(&self) -> usize {
        3 * usize::from(self.channels)
    }
}

/// A random id for a take: the server's recording is started under it.
pub fn new_take_id() -> String {
    // A JS array (the wasm memory may be shared, and `getRandomValues`
    // refuses shared memory).
    let random = Uint8Array::new_with_length(12);
    if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = crypto.get_random_values_with_array_buffer_view(&random);
    }
    let mut bytes = random.to_vec();
    // Never a fixed id, even without a crypto source.
    if bytes.iter().all(|b| *b == 0) {
        bytes = (0..12)
            .map(|_| (js_sys::Math::random() * 256.0) as u8)
            .collect();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("take-{hex}")
}

fn create(flag: bool) -> JsValue {
    let options = Object::new();
    let _ = Reflect::set(&options, &"create".into(), &flag.into());
    options.into()
}

/// The takes directory, made if missing.
async fn root() -> Result<JsValue, String> {
    let navigator: JsValue = web_sys::window().ok_or("no window")?.navigator().into();
    let storage = Reflect::get(&navigator, &"storage".into()).map_err(crate::js_error)?;
    if storage.is_undefined() {
        return Err("this browser has no file storage for takes".into());
    }
    let origin = call(&storage, "getDirectory", &[]).await?;
    call(&origin, "getDirectoryHandle", &[ROOT.into(), create(true)]).await
}

fn chunk_name(n: u32) -> String {
    format!("chunk-{n:05}")
}

/// One take's directory.
#[derive(Clone)]
pub struct TakeDir {
    id: String,
    dir: JsValue,
}

impl TakeDir {
    /// The directory of take `id` (made when `make`).
    pub async fn open(id: &str, make: bool) -> Result<TakeDir, String> {
        let root = root().await?;
        let dir = call(&root, "getDirectoryHandle", &[id.into(), create(make)]).await?;
        Ok(TakeDir { id: id.into(), dir })
    }

    async fn write(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        match take_writer::write(&self.id, name, bytes).await {
            Ok(()) => Ok(()),
            Err(WriterError::Failed(why)) => Err(why),
            Err(WriterError::Lost) => self.write_here(name, bytes).await,
        }
    }

    /// Writes a file on the page (when the worker is gone).
    async fn write_here(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let file = call(&self.dir, "getFileHandle", &[name.into(), create(true)]).await?;
        let writable = call(&file, "createWritable", &[]).await?;
        // A copy out of wasm memory (a shared memory cannot be written).
        let data = Uint8Array::new_with_length(bytes.len() as u32);
        data.copy_from(bytes);
        call(&writable, "write", &[data.into()]).await?;
        call(&writable, "close", &[]).await.map(drop)
    }

    async fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        let file = call(&self.dir, "getFileHandle", &[name.into()]).await?;
        let blob = call(&file, "getFile", &[]).await?;
        let buffer = call(&blob, "arrayBuffer", &[]).await?;
        Ok(Uint8Array::new(&buffer).to_vec())
    }

    pub async fn write_meta(&self, meta: &TakeMeta) -> Result<(), String> {
        let json = serde_json::to_vec(meta).map_err(|e| e.to_string())?;
        self.write("meta.json", &json).await
    }

    pub async fn read_meta(&self) -> Result<TakeMeta, String> {
        let bytes = self.read("meta.json").await?;
        serde_json::from_slice(&bytes).map_err(|e| format!("a take's notes are damaged: {e}"))
    }

    pub async fn write_chunk(&self, n: u32, bytes: &[u8]) -> Result<(), String> {
        self.write(&chunk_name(n), bytes).await
    }

    pub async fn read_chunk(&self, n: u32) -> Result<Vec<u8>, String> {
        self.read(&chunk_name(n)).await
    }

    /// The chunks present from 0 on without a gap, and their bytes.
    pub async fn chunks(&self) -> Result<(u32, u64), String> {
        let mut numbers: Vec<u32> = names(&self.dir)
            .await?
            .iter()
            .filter_map(|n| n.strip_prefix("chunk-")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        let mut count = 0;
        let mut bytes = 0u64;
        for n in numbers {
            if n != count {
                break;
            }
            let file = call(&self.dir, "getFileHandle", &[chunk_name(n).into()]).await?;
            let blob = call(&file, "getFile", &[]).await?;
            bytes += Reflect::get(&blob, &"size".into())
                .ok()
                .and_then(|s| s.as_f64())
                .unwrap_or(0.0) as u64;
            count += 1;
        }
        Ok((count, bytes))
    }
}

/// Removes take `id` from this browser (after every write to it).
pub async fn remove(id: &str) -> Result<(), String> {
    match take_writer::remove(id).await {
        Ok(()) => return Ok(()),
        Err(WriterError::Failed(why)) => return Err(why),
        Err(WriterError::Lost) => {}
    }
    let root = root().await?;
    let options = Object::new();
    let _ = Reflect::set(&options, &"recursive".into(), &true.into());
    call(&root, "removeEntry", &[id.into(), options.into()])
        .await
        .map(drop)
}

/// The takes kept in this browser, by id.
pub async fn list() -> Result<Vec<String>, String> {
    names(&root().await?).await
}

/// The names in a directory (its async `keys()` iterator, drained).
async fn names(dir: &JsValue) -> Result<Vec<String>, String> {
    let keys = call(dir, "keys", &[]).await?;
    let mut out = Vec::new();
    loop {
        let step = call(&keys, "next", &[]).await?;
        let done = Reflect::get(&step, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(out);
        }
        if let Some(name) = Reflect::get(&step, &"value".into())
            .ok()
            .and_then(|v| v.dyn_into::<js_sys::JsString>().ok())
        {
            out.push(name.into());
        }
    }
}
