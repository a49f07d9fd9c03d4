//! The JSON HTTP API (documented in `docs/API.md`): projects, share links,
//! assets. Every handler authorizes its own request from the link token
//! (`Authorization: Bearer …` or `?token=…`); the UI hides nothing the
//! server would allow.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use stemroom_model::DocKind;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::access::{self, Denied, Grant, Role};
use crate::assets::{self, UploadError};
use crate::http::AppState;
use crate::store::{AssetRecord, LinkRecord};

/// A refusal or failure, answered as `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found(message: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn too_many(message: &str) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
    }

    pub fn internal(error: anyhow::Error) -> ApiError {
        tracing::error!(error = %format!("{error:#}"), "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed; try again",
        )
    }

    pub fn denied(denied: &Denied) -> ApiError {
        let status = match denied {
            Denied::Missing => StatusCode::UNAUTHORIZED,
            Denied::Expired | Denied::Revoked => StatusCode::GONE,
            Denied::Invalid | Denied::Forbidden(_) => StatusCode::FORBIDDEN,
        };
        ApiError::new(status, denied.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> ApiError {
        ApiError::internal(error)
    }
}

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    pub token: Option<String>,
}

/// The token of a request: the bearer header, else the query.
pub(crate) fn token<'a>(headers: &'a HeaderMap, query: &'a TokenQuery) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or(query.token.as_deref())
}

impl AppState {
    /// Checks a link token for `project` (off the async executor).
    pub async fn authorize(&self, project: &str, token: Option<&str>) -> Result<Grant, ApiError> {
        let store = self.store().clone();
        let project = project.to_string();
        let token = token.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            access::authorize(&store, &project, token.as_deref(), access::now())
        })
        .await
        .map_err(|e| ApiError::internal(e.into()))??
        .map_err(|d| ApiError::denied(&d))
    }
}

/// Runs a store call off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map_err(ApiError::internal)
}

/// The path part of a project link; the token rides in the fragment, which
/// browsers never send to a server.
fn link_url(project: &str, token: &str) -> String {
    format!("/p/{project}#{token}")
}

#[derive(Deserialize)]
pub struct CreateProject {
    #[serde(default)]
    name: Option<String>,
}

/// Longest project name and link label.
const MAX_NAME: usize = 200;

/// The name an asset is listed under: no control characters, at most
/// [`MAX_NAME`] characters (an upload's file name, a recording's name).
pub(crate) fn asset_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect()
}

fn clean_name(name: Option<&str>, default: &str) -> Result<String, ApiError> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(default);
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::bad_request(format!(
            "names are at most {MAX_NAME} characters"
        )));
    }
    Ok(name.to_string())
}

/// `POST /api/projects {"name"}` → the project and its owner link.
pub async fn create_project(
    State(state): State<AppState>,
    Json(body): Json<CreateProject>,
) -> Result<Response, ApiError> {
    let name = clean_name(body.name.as_deref(), "Untitled song")?;
    let id = access::new_id();
    let (owner, token) = access::new_link(&id, Role::Owner, "owner", None);
    let store = state.store().clone();
    let (project, initial) = (id.clone(), name.clone());
    blocking(move || {
        use crate::store::DocumentLog;
        store.create_project(&project, &owner)?;
        for kind in DocKind::ALL {
            let update = stemroom_model::initial_update(kind, &initial);
            store.append(&project, kind, &[&update])?;
        }
        Ok(())
    })
    .await?;
    tracing::info!(project = %id, "project created");
    let body = json!({
        "id": id,
        "name": name,
        "role": Role::Owner,
        "token": token,
        "url": link_url(&id, &token),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/projects/{id}`: what the link holder may know.
pub async fn project_info(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let grant = state.authorize(&project, token(&headers, &query)).await?;
    let store = state.store().clone();
    let id = project.clone();
    let link_id = grant.link.clone();
    let (created_at, link) =
        blocking(move || Ok((store.project_created_at(&id)?, store.link(&id, &link_id)?))).await?;
    let info = state.rooms().info(&project).await?;
    Ok(Json(json!({
        "id": project,
        "name": info.name,
        "role": grant.role,
        "createdAt": created_at,
        "connections": info.connections,
        // The holder's own link: who shared it, as what, until when.
        "link": link.map(|l| json!({
            "label": l.label,
            "sharedBy": l.shared_by,
            "expiresAt": l.expires_at,
        })),
    }))
    .into_response())
}

async fn owner(
    state: &AppState,
    project: &str,
    headers: &HeaderMap,
    query: &TokenQuery,
) -> Result<Grant, ApiError> {
    let grant = state.authorize(project, token(headers, query)).await?;
    if !grant.role.can_manage_links() {
        return Err(ApiError::denied(&Denied::Forbidden("managing links")));
    }
    Ok(grant)
}

fn link_json(link: &LinkRecord, now: i64) -> serde_json::Value {
    json!({
        "id": link.id,
        "role": link.role,
        "label": link.label,
        "createdAt": link.created_at,
        "expiresAt": link.expires_at,
        "sharedBy": link.shared_by,
        "revoked": link.revoked_at.is_some(),
        "expired": link.expires_at.is_some_and(|at| at <= now),
    })
}

/// `GET /api/projects/{id}/links` (owner).
pub async fn list_links(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    owner(&state, &project, &headers, &query).await?;
    let store = state.store().clone();
    let links = blocking(move || store.links(&project)).await?;
    let now = access::now();
    let links: Vec<_> = links.iter().map(|l| link_json(l, now)).collect();
    Ok(Json(json!({ "links": links })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLink {
    role: Role,
    #[serde(default)]
    label: Option<String>,
    /// Seconds from now until the link stops working.
    #[serde(default)]
    expires_in: Option<i64>,
    /// The sharer's name, shown to whoever opens the link.
    #[serde(default)]
    shared_by: Option<String>,
}

/// `POST /api/projects/{id}/links {"role","label","expiresIn"}` (owner).
pub async fn create_link(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    Json(body): Json<CreateLink>,
) -> Result<Response, ApiError> {
    owner(&state, &project, &headers, &query).await?;
    if body.role == Role::Owner {
        return Err(ApiError::bad_request(
            "share links are edit, comment or listen",
        ));
    }
    let expires_at = match body.expires_in {
        Some(s) if !(1..=10 * 365 * 86_400).contains(&s) => {
            return Err(ApiError::bad_request(
                "expiresIn is between 1 second and 10 years",
            ));
        }
        Some(s) => Some(access::now() + s),
        None => None,
    };
    let label = clean_name(body.label.as_deref(), "")?;
    let shared_by = clean_name(body.shared_by.as_deref(), "")?;
    let (mut link, token) = access::new_link(&project, body.role, &label, expires_at);
    link.shared_by = shared_by;
    let store = state.store().clone();
    let record = link.clone();
    blocking(move || store.insert_link(&record)).await?;
    let mut body = link_json(&link, access::now());
    body["token"] = json!(token);
    body["url"] = json!(link_url(&project, &token));
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/projects/{id}/links/{link}` (owner): the link stops working,
/// live sessions included.
pub async fn revoke_link(
    State(state): State<AppState>,
    Path((project, link)): Path<(String, String)>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    owner(&state, &project, &headers, &query).await?;
    let store = state.store().clone();
    let revoked = blocking(move || store.revoke_link(&project, &link, access::now())).await?;
    if !revoked {
        return Err(ApiError::not_found("no such link"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct UploadQuery {
    token: Option<String>,
    /// The file's name, kept for display only.
    name: Option<String>,
}

/// `POST /api/projects/{id}/assets?name=…` with the file as the body
/// (editors): stored once per content, answered with its SHA-256.
pub async fn upload_asset(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let token_query = TokenQuery {
        token: query.token.clone(),
    };
    let grant = state
        .authorize(&project, token(&headers, &token_query))
        .await?;
    if !grant.role.can_upload() {
        return Err(ApiError::denied(&Denied::Forbidden("uploading audio")));
    }
    let limit = state.max_upload_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(UploadError::TooLarge(limit).into());
    }
    let name = asset_name(query.name.as_deref().unwrap_or(""));
    let asset = assets::receive(state.assets(), body, limit).await?;
    let store = state.store().clone();
    let record = asset.clone();
    blocking(move || store.add_asset(&project, &record, &name, access::now())).await?;
    asset_created(&asset)
}

/// **201** with an asset as the API describes it (an upload's answer,
/// and a finished recording's).
pub(crate) fn asset_created(asset: &AssetRecord) -> Result<Response, ApiError> {
    let mut body = serde_json::to_value(asset).map_err(|e| ApiError::internal(e.into()))?;
    body["duration"] = json!(asset.frames as f64 / f64::from(asset.sample_rate.max(1)));
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/projects/{id}/assets/{sha256}`: the bytes, immutable, with
/// range requests (any role of the project).
pub async fn fetch_asset(
    State(state): State<AppState>,
    Path((project, sha256)): Path<(String, String)>,
    Query(query): Query<TokenQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    if !assets::is_sha256(&sha256) {
        return Err(ApiError::bad_request(
            "an asset is named by its SHA-256 (64 lowercase hex digits)",
        ));
    }
    state
        .authorize(&project, token(request.headers(), &query))
        .await?;
    let store = state.store().clone();
    let (p, s) = (project.clone(), sha256.clone());
    if blocking(move || store.project_asset(&p, &s))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("this project has no such asset"));
    }
    let path = state.assets().path(&sha256);
    let mut response = ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map(Body::new);
    let headers = response.headers_mut();
    // Content-addressed: the bytes behind this URL never change. Private:
    // fetching needs a link.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}
