//! The server's HTTP API (docs/API.md) from the page, and the list of
//! recent projects this browser opened.

use js_sys::{Promise, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, Headers, ProgressEvent, RequestInit, Response, XmlHttpRequest};

use crate::js_error;

/// A project link: what opens a project in this browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectLink {
    pub id: String,
    pub token: String,
    pub name: String,
    pub role: String,
}

impl ProjectLink {
    /// The page address: the token stays in the fragment (never sent).
    pub fn url(&self) -> String {
        format!("/p/{}#{}", self.id, self.token)
    }

    /// The link this page was opened with, if any.
    pub fn from_location() -> Option<(String, String)> {
        let location = web_sys::window()?.location();
        let path = location.pathname().ok()?;
        let id = path.strip_prefix("/p/")?.trim_end_matches('/').to_string();
        let token = location.hash().ok()?.trim_start_matches('#').to_string();
        (!id.is_empty() && !token.is_empty()).then_some((id, token))
    }
}

/// What the server answered about an uploaded file.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetInfo {
    pub sha256: String,
    pub sample_rate: u32,
    pub channels: u32,
    pub frames: u64,
}

#[derive(Deserialize)]
struct ApiError {
    error: String,
}

/// A JSON request (`body` is JSON text).
async fn fetch(
    path: &str,
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<Response, String> {
    let body = body.map(JsValue::from_str);
    request(path, method, token, body.as_ref(), "application/json").await
}

/// A request with a body of `content_type`; `Err` only when the server
/// could not be reached (a refusal is a response: see [`failure`]).
pub(crate) async fn request(
    path: &str,
    method: &str,
    token: Option<&str>,
    body: Option<&JsValue>,
    content_type: &str,
) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = RequestInit::new();
    init.set_method(method);
    let headers = Headers::new().map_err(js_error)?;
    headers
        .set("content-type", content_type)
        .map_err(js_error)?;
    if let Some(token) = token {
        headers
            .set("authorization", &format!("Bearer {token}"))
            .map_err(js_error)?;
    }
    init.set_headers(&headers);
    if let Some(body) = body {
        init.set_body(body);
    }
    let response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(|e| format!("the server cannot be reached: {}", js_error(e)))?;
    Ok(response.unchecked_into())
}

pub(crate) async fn text(response: &Response) -> Result<String, String> {
    let text = JsFuture::from(response.text().map_err(js_error)?)
        .await
        .map_err(js_error)?;
    Ok(text.as_string().unwrap_or_default())
}

/// The error message of a failed response.
pub(crate) async fn failure(response: &Response) -> String {
    let body = text(response).await.unwrap_or_default();
    serde_json::from_str::<ApiError>(&body)
        .map(|e| e.error)
        .unwrap_or_else(|_| format!("the server answered {}", response.status()))
}

/// Creates a project; answers with its owner link.
pub async fn create_project(name: &str) -> Result<ProjectLink, String> {
    let body = serde_json::json!({ "name": name }).to_string();
    let response = fetch("/api/projects", "POST", None, Some(&body)).await?;
    if !response.ok() {
        return Err(failure(&response).await);
    }
    serde_json::from_str(&text(&response).await?).map_err(|e| e.to_string())
}

/// What the server says about the link this page holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectInfo {
    pub link: ProjectLink,
    /// Who shared it, as what and until when (`None` for an owner link
    /// made with the project).
    pub shared: Option<LinkInfo>,
}

/// The holder's view of their own link.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkInfo {
    pub label: String,
    pub shared_by: String,
    /// Unix seconds.
    pub expires_at: Option<i64>,
}

/// The role and name a link gives.
pub async fn project_info(id: &str, token: &str) -> Result<ProjectInfo, String> {
    let response = fetch(&format!("/api/projects/{id}"), "GET", Some(token), None).await?;
    if !response.ok() {
        return Err(failure(&response).await);
    }
    #[derive(Deserialize)]
    struct Info {
        name: Option<String>,
        role: String,
        link: Option<LinkInfo>,
    }
    let info: Info = serde_json::from_str(&text(&response).await?).map_err(|e| e.to_string())?;
    Ok(ProjectInfo {
        link: ProjectLink {
            id: id.to_string(),
            token: token.to_string(),
            name: info.name.unwrap_or_default(),
            role: info.role,
        },
        shared: info.link,
    })
}

/// A share link as its owner sees it (tokens are shown once, at creation).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareLink {
    pub id: String,
    pub role: String,
    pub label: String,
    #[serde(default)]
    pub shared_by: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub expired: bool,
    /// Only in the answer to [`create_link`].
    #[serde(default)]
    pub url: Option<String>,
}

impl ShareLink {
    pub fn status(&self) -> &'static str {
        if self.revoked {
            "revoked"
        } else if self.expired {
            "expired"
        } else {
            "active"
        }
    }
}

/// The project's links, oldest first (owner).
pub async fn list_links(project: &str, token: &str) -> Result<Vec<ShareLink>, String> {
    let path = format!("/api/projects/{project}/links");
    let response = fetch(&path, "GET", Some(token), None).await?;
    if !response.ok() {
        return Err(failure(&response).await);
    }
    #[derive(Deserialize)]
    struct Links {
        links: Vec<ShareLink>,
    }
    let links: Links = serde_json::from_str(&text(&response).await?).map_err(|e| e.to_string())?;
    Ok(links.links)
}

/// Makes a link for `role` (owner); `expires_in` in seconds, `None` never.
pub async fn create_link(
    project: &str,
    token: &str,
    role: &str,
    label: &str,
    expires_in: Option<i64>,
    shared_by: &str,
) -> Result<ShareLink, String> {
    let body = serde_json::json!({
        "role": role,
        "label": label,
        "expiresIn": expires_in,
        "sharedBy": shared_by,
    })
    .to_string();
    let path = format!("/api/projects/{project}/links");
    let response = fetch(&path, "POST", Some(token), Some(&body)).await?;
    if !response.ok() {
        return Err(failure(&response).await);
    }
    serde_json::from_str(&text(&response).await?).map_err(|e| e.to_string())
}

/// Revokes a link (owner): its open pages stop syncing.
pub async fn revoke_link(project: &str, token: &str, link: &str) -> Result<(), String> {
    let path = format!("/api/projects/{project}/links/{link}");
    let response = fetch(&path, "DELETE", Some(token), None).await?;
    if !response.ok() {
        return Err(failure(&response).await);
    }
    Ok(())
}

/// The bytes of an asset.
pub async fn fetch_asset(project: &str, token: &str, sha256: &str) -> Result<Vec<u8>, String> {
    let path = format!("/api/projects/{project}/assets/{sha256}");
    let response = fetch(&path, "GET", Some(token), None).await?;
    if !response.ok() {
        return Err(failure(&response).await);
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(js_error)?)
        .await
        .map_err(js_error)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Uploads a file, reporting progress from 0 to 1 (XMLHttpRequest: fetch
/// has no upload progress).
pub async fn upload_asset(
    project: &str,
    token: &str,
    file: &File,
    progress: impl Fn(f64) + 'static,
) -> Result<AssetInfo, String> {
    let xhr = XmlHttpRequest::new().map_err(js_error)?;
    let path = format!(
        "/api/projects/{project}/assets?name={}",
        js_sys::encode_uri_component(&file.name())
    );
    xhr.open("POST", &path).map_err(js_error)?;
    xhr.set_request_header("authorization", &format!("Bearer {token}"))
        .map_err(js_error)?;
    xhr.set_request_header("content-type", "application/octet-stream")
        .map_err(js_error)?;
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
        if e.length_computable() && e.total() > 0.0 {
            progress(e.loaded() / e.total());
        }
    });
    if let Ok(upload) = xhr.upload() {
        upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    let done = Promise::new(&mut |resolve, reject| {
        xhr.set_onload(Some(&resolve));
        xhr.set_onerror(Some(&reject));
    });
    xhr.send_with_opt_blob(Some(file)).map_err(js_error)?;
    JsFuture::from(done)
        .await
        .map_err(|_| "the upload failed: the server cannot be reached".to_string())?;
    drop(on_progress);
    let body = xhr.response_text().ok().flatten().unwrap_or_default();
    if !(200..300).contains(&xhr.status().unwrap_or(0)) {
        return Err(serde_json::from_str::<ApiError>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| "the upload failed".into()));
    }
    serde_json::from_str(&body).map_err(|e| e.to_string())
}

const RECENT: &str = "stemroom.recent";

/// Projects this browser opened, most recent first.
pub fn recent_projects() -> Vec<ProjectLink> {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(RECENT).ok().flatten())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Puts a project first in the recent list (kept to 20).
pub fn remember(link: &ProjectLink) {
    let mut recent = recent_projects();
    recent.retain(|p| p.id != link.id);
    recent.insert(0, link.clone());
    recent.truncate(20);
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(RECENT, &serde_json::to_string(&recent).unwrap_or_default());
    }
}
