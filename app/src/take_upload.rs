//! A take's upload while it is recorded (issue 15; the recorder that feeds
//! it is not built yet): chunks of raw samples go to the server's
//! recordings API in order, each sent again until the server has it on
//! disk, so a lost network costs a wait, never a chunk. Finishing asks the
//! server which chunks it holds, sends what it lacks, and turns the take
//! into an asset.

use std::collections::BTreeMap;

use js_sys::Uint8Array;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::api::{AssetInfo, failure, request, text};

/// Tries of one request before the upload reports the network as lost.
const ATTEMPTS: u32 = 60;
/// Wait between tries: doubling from this, up to a second.
const FIRST_WAIT_MS: i32 = 50;

/// A take being uploaded.
pub struct TakeUpload {
    project: String,
    token: String,
    id: String,
    /// Chunks not yet acknowledged, by number.
    pending: BTreeMap<u32, Vec<u8>>,
    next: u32,
    /// Requests that failed and were tried again (for the UI and tests).
    pub retries: u32,
}

#[derive(Deserialize)]
struct Started {
    id: String,
}

#[derive(Deserialize)]
struct Status {
    chunks: Vec<u32>,
}

const JSON: &str = "application/json";

impl TakeUpload {
    /// Starts a recording on the server: `format` is "f32", "s24" or "s16".
    pub async fn start(
        project: &str,
        token: &str,
        name: &str,
        sample_rate: u32,
        channels: u16,
        format: &str,
    ) -> Result<TakeUpload, String> {
        let body = serde_json::json!({
            "name": name, "sampleRate": sample_rate, "channels": channels, "format": format,
        })
        .to_string();
        let path = format!("/api/projects/{project}/recordings");
        let response = request(&path, "POST", Some(token), Some(&body.into()), JSON).await?;
        if !response.ok() {
            return Err(failure(&response).await);
        }
        let started: Started =
            serde_json::from_str(&text(&response).await?).map_err(|e| e.to_string())?;
        Ok(TakeUpload {
            project: project.into(),
            token: token.into(),
            id: started.id,
            pending: BTreeMap::new(),
            next: 0,
            retries: 0,
        })
    }

    /// Queues the next chunk; returns its number.
    pub fn push(&mut self, bytes: Vec<u8>) -> u32 {
        let n = self.next;
        self.pending.insert(n, bytes);
        self.next += 1;
        n
    }

    /// Sends every queued chunk, each tried again (waiting longer each
    /// time) until the server has it. Fails only when the server refuses
    /// one (its reason) or cannot be reached for a minute.
    pub async fn flush(&mut self) -> Result<(), String> {
        while let Some((&n, bytes)) = self.pending.first_key_value() {
            let path = format!(
                "/api/projects/{}/recordings/{}/chunks/{n}",
                self.project, self.id
            );
            // A copy out of wasm memory (a shared memory cannot be a body).
            let data = Uint8Array::new_with_length(bytes.len() as u32);
            data.copy_from(bytes);
            let mut wait = FIRST_WAIT_MS;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let sent = request(
                    &path,
                    "PUT",
                    Some(&self.token),
                    Some(&data),
                    "application/octet-stream",
                )
                .await;
                match sent {
                    Ok(response) if response.ok() => break,
                    // Refused: sending again will not help.
                    Ok(response) if (400..500).contains(&response.status()) => {
                        return Err(failure(&response).await);
                    }
                    // Unreachable, or the server failed: wait and try again.
                    Ok(_) | Err(_) if attempt < ATTEMPTS => {
                        self.retries += 1;
                        crate::background::sleep(wait).await;
                        wait = (wait * 2).min(1_000);
                    }
                    Ok(response) => return Err(failure(&response).await),
                    Err(e) => return Err(e),
                }
            }
            self.pending.remove(&n);
        }
        Ok(())
    }

    /// Sends what is left, checks what the server holds, and makes the
    /// take an asset of the project.
    pub async fn finish(mut self) -> Result<AssetInfo, String> {
        self.flush().await?;
        let base = format!("/api/projects/{}/recordings/{}", self.project, self.id);
        let response = request(&base, "GET", Some(&self.token), None, JSON).await?;
        if !response.ok() {
            return Err(failure(&response).await);
        }
        let status: Status =
            serde_json::from_str(&text(&response).await?).map_err(|e| e.to_string())?;
        if status.chunks.len() != self.next as usize {
            return Err(format!(
                "the server holds {} of {} chunks",
                status.chunks.len(),
                self.next
            ));
        }
        let body = serde_json::json!({ "chunks": self.next }).to_string();
        let finish = format!("{base}/finish");
        let response =
            request(&finish, "POST", Some(&self.token), Some(&body.into()), JSON).await?;
        if !response.ok() {
            return Err(failure(&response).await);
        }
        serde_json::from_str(&text(&response).await?).map_err(|e| e.to_string())
    }
}

/// Test hook: uploads `seconds` of a stereo 24-bit test signal (a 440 Hz
/// tone left, a ramp right) as a take in one-second chunks, as the
/// recorder will. Answers `{ sha256, frames, retries }`.
#[wasm_bindgen]
pub async fn upload_test_take(
    project: String,
    token: String,
    seconds: u32,
) -> Result<js_sys::Object, JsError> {
    let rate = 48_000u32;
    let mut upload = TakeUpload::start(&project, &token, "Test take", rate, 2, "s24")
        .await
        .map_err(|e| JsError::new(&e))?;
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
        upload.push(bytes);
        upload.flush().await.map_err(|e| JsError::new(&e))?;
    }
    let retries = upload.retries;
    let asset = upload.finish().await.map_err(|e| JsError::new(&e))?;
    let result = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&result, &k.into(), &v);
    let _ = set("sha256", asset.sha256.into());
    let _ = set("frames", (asset.frames as f64).into());
    let _ = set("retries", retries.into());
    Ok(result)
}
