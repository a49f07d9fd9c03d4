//! A take's upload to the server's recordings API (docs/API.md): started
//! under the recorder's own id (so a start can be sent again, and a take
//! recorded while the server was away keeps its name), chunks of raw
//! samples each sent until the server has them on disk, and the finish
//! that makes the take an asset. Every call can be repeated: resuming after
//! a reload asks the server which chunks it holds and sends the rest.

use js_sys::Uint8Array;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::api::{AssetInfo, failure, request, text};

/// Tries of one request before it reports the server as unreachable.
const ATTEMPTS: u32 = 8;
/// Wait between tries: doubling from this, up to a second.
const FIRST_WAIT_MS: i32 = 50;

const JSON: &str = "application/json";

/// Why an upload call did not succeed.
#[derive(Clone, Debug, PartialEq)]
pub enum UploadError {
    /// The server refused (its reason): sending again will not help.
    Refused(String),
    /// The server could not be reached, or failed: try again later.
    Unreachable(String),
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadError::Refused(why) => write!(f, "{why}"),
            UploadError::Unreachable(why) => write!(f, "the server cannot be reached ({why})"),
        }
    }
}

/// A take on the server.
pub struct TakeUpload {
    project: String,
    token: String,
    pub id: String,
    /// Requests that failed and were tried again (for the UI and tests).
    pub retries: u32,
    /// Told `true` when the server cannot be reached and calls wait for it
    /// (then every call waits as long as it takes), `false` once it answers.
    /// Without it a call reports the server unreachable after a few tries.
    waiting: Option<Box<dyn Fn(bool)>>,
}

#[derive(Deserialize)]
struct Status {
    chunks: Vec<u32>,
}

impl TakeUpload {
    pub fn new(project: &str, token: &str, id: &str) -> TakeUpload {
        TakeUpload {
            project: project.into(),
            token: token.into(),
            id: id.into(),
            retries: 0,
            waiting: None,
        }
    }

    /// Calls wait for the server however long it is away (a take recorded
    /// while it is gone), telling `waiting` when that starts and ends.
    pub fn patient(mut self, waiting: impl Fn(bool) + 'static) -> TakeUpload {
        self.waiting = Some(Box::new(waiting));
        self
    }

    fn base(&self) -> String {
        format!("/api/projects/{}/recordings/{}", self.project, self.id)
    }

    /// `request` tried again while the server cannot be reached or fails
    /// (waiting longer each time, up to a second): a few times, or for as
    /// long as it takes when [`TakeUpload::patient`]. A refusal ends it at
    /// once.
    async fn persist(
        &mut self,
        path: &str,
        method: &str,
        body: Option<&JsValue>,
        content_type: &str,
    ) -> Result<web_sys::Response, UploadError> {
        let mut wait = FIRST_WAIT_MS;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let why = match request(path, method, Some(&self.token), body, content_type).await {
                Ok(response) if response.ok() || (400..500).contains(&response.status()) => {
                    if attempt > ATTEMPTS
                        && let Some(waiting) = &self.waiting
                    {
                        waiting(false);
                    }
                    if response.ok() {
                        return Ok(response);
                    }
                    return Err(UploadError::Refused(failure(&response).await));
                }
                Ok(response) => failure(&response).await,
                Err(e) => e,
            };
            match &self.waiting {
                None if attempt >= ATTEMPTS => return Err(UploadError::Unreachable(why)),
                Some(waiting) if attempt == ATTEMPTS => waiting(true),
                _ => {}
            }
            self.retries += 1;
            crate::background::sleep(wait).await;
            wait = (wait * 2).min(1_000);
        }
    }

    /// Starts (or finds again) the recording; answers the chunks the
    /// server holds. `format` is "f32", "s24" or "s16"; `placement` is
    /// where the take belongs (the server keeps it for a recovery from
    /// another browser).
    pub async fn start(
        &mut self,
        name: &str,
        sample_rate: u32,
        channels: u16,
        format: &str,
        placement: Option<serde_json::Value>,
    ) -> Result<Vec<u32>, UploadError> {
        let body = serde_json::json!({
            "id": self.id, "name": name, "sampleRate": sample_rate,
            "channels": channels, "format": format, "placement": placement,
        })
        .to_string();
        let path = format!("/api/projects/{}/recordings", self.project);
        let response = self
            .persist(&path, "POST", Some(&body.into()), JSON)
            .await?;
        let status: Status =
            serde_json::from_str(&text(&response).await.map_err(UploadError::Unreachable)?)
                .map_err(|e| UploadError::Refused(e.to_string()))?;
        Ok(status.chunks)
    }

    /// Sends chunk `n` until the server has it on disk.
    pub async fn send(&mut self, n: u32, bytes: &[u8]) -> Result<(), UploadError> {
        // A copy out of wasm memory (a shared memory cannot be a body).
        let data = Uint8Array::new_with_length(bytes.len() as u32);
        data.copy_from(bytes);
        let path = format!("{}/chunks/{n}", self.base());
        self.persist(&path, "PUT", Some(&data), "application/octet-stream")
            .await
            .map(drop)
    }

    /// Makes chunks `0..chunks` an asset of the project (the server
    /// checks it holds them all).
    pub async fn finish(&mut self, chunks: u32) -> Result<AssetInfo, UploadError> {
        self.finish_with(chunks, false).await
    }

    /// Makes an asset of chunks `0..chunks` of a take recovered from
    /// another browser, leaving the recording open: its recorder may be
    /// alive, still sending, and finishes the whole take itself.
    pub async fn recover(&mut self, chunks: u32) -> Result<AssetInfo, UploadError> {
        self.finish_with(chunks, true).await
    }

    async fn finish_with(&mut self, chunks: u32, keep: bool) -> Result<AssetInfo, UploadError> {
        let body = serde_json::json!({ "chunks": chunks, "keep": keep }).to_string();
        let path = format!("{}/finish", self.base());
        let response = self
            .persist(&path, "POST", Some(&body.into()), JSON)
            .await?;
        let answer = text(&response).await.map_err(UploadError::Unreachable)?;
        serde_json::from_str(&answer).map_err(|e| UploadError::Refused(e.to_string()))
    }

    /// Abandons the recording (a discarded take).
    pub async fn abandon(&mut self) -> Result<(), UploadError> {
        let path = self.base();
        self.persist(&path, "DELETE", None, JSON).await.map(drop)
    }
}

/// An unfinished recording on the server: what a recovery can make of it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTake {
    pub id: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub format: String,
    pub recoverable: Held,
    /// Seconds since a chunk last arrived.
    pub idle_secs: i64,
    /// The recorder's note (`take_store::TakeMeta`).
    #[serde(default)]
    pub placement: Option<serde_json::Value>,
}

/// Chunks held from 0 without a gap, and their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct Held {
    pub chunks: u32,
    pub bytes: u64,
}

#[derive(Deserialize)]
struct Unfinished {
    recordings: Vec<ServerTake>,
}

/// The unfinished recordings of `project` on the server.
pub async fn unfinished(project: &str, token: &str) -> Result<Vec<ServerTake>, String> {
    let path = format!("/api/projects/{project}/recordings");
    let response = request(&path, "GET", Some(token), None, JSON).await?;
    if !response.ok() {
        return Err(failure(&response).await);
    }
    let list: Unfinished =
        serde_json::from_str(&text(&response).await?).map_err(|e| e.to_string())?;
    Ok(list.recordings)
}

/// Test hook: uploads `seconds` of a stereo 24-bit test signal (a 440 Hz
/// tone left, a ramp right) as a take in one-second chunks. Answers
/// `{ sha256, frames, retries }`.
#[wasm_bindgen]
pub async fn upload_test_take(
    project: String,
    token: String,
    seconds: u32,
) -> Result<js_sys::Object, JsError> {
    let rate = 48_000u32;
    let failed = |e: UploadError| JsError::new(&e.to_string());
    let id = crate::take_store::new_take_id();
    let mut upload = TakeUpload::new(&project, &token, &id);
    upload
        .start("Test take", rate, 2, "s24", None)
        .await
        .map_err(failed)?;
    for second in 0..seconds {
        let mut bytes = Vec::with_capacity(rate as usize * 6);
        for i in 0..rate {
            let frame = second * rate + i;
            let tone = (std::f64::consts::TAU * 440.0 * f64::from(frame) / f64::from(rate)).sin();
            let left = (tone * 4_000_000.0) as i32;
            let right = (frame as i32 % 2_000_000) - 1_000_000;
            for sample in [left, right] {
                bytes.extend_from_slice(&sample.to_le_bytes()[..3]);
            }
        }
        upload.send(second, &bytes).await.map_err(failed)?;
    }
    let asset = upload.finish(seconds).await.map_err(failed)?;
    let result = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&result, &k.into(), &v);
    let _ = set("sha256", asset.sha256.into());
    let _ = set("frames", (asset.frames as f64).into());
    let _ = set("retries", upload.retries.into());
    Ok(result)
}
