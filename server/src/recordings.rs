//! Recordings uploaded while they are made (issue 15): a take leaves the
//! browser in numbered chunks of raw samples as it is recorded, so a
//! closed tab, a crash or a lost network costs at most what was not sent.
//!
//! A recording is a directory `data/recordings/<id>/`: `meta.json` (the
//! project, the format, when it was last touched, and the asset once
//! finished) and one file per chunk, each written to a temporary file,
//! synced and renamed before it is acknowledged. Chunks may arrive in any
//! order and more than once (the same bytes again are accepted; other
//! bytes under the same number are refused). Finishing assembles the
//! chunks behind a WAV header into an upload, which is decoded and stored
//! like any upload; the chunks are then removed. A recording untouched
//! for a day is removed by a sweep, and its space reclaimed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use stemroom_engine::bounce::SampleFormat;

use crate::access::{self, Denied};
use crate::api::{ApiError, TokenQuery, token};
use crate::http::AppState;
use crate::store::AssetRecord;

/// Largest chunk accepted (bytes): a few seconds of a stereo 24-bit take.
pub const MAX_CHUNK_BYTES: usize = 4 << 20;
/// Chunks of one recording at most (2 hours of one-second chunks, twice).
pub const MAX_CHUNKS: u32 = 16_384;
/// An unfinished recording untouched this long is removed.
pub const DEFAULT_TTL_SECS: i64 = 24 * 3600;
/// Largest placement note (bytes of JSON).
pub const MAX_PLACEMENT_BYTES: usize = 4096;

/// How the samples of a recording are written: interleaved, little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PcmFormat {
    /// 32-bit float.
    F32,
    /// 24-bit integer, three bytes a sample.
    S24,
    S16,
}

impl PcmFormat {
    fn sample_bytes(self) -> usize {
        match self {
            PcmFormat::F32 => 4,
            PcmFormat::S24 => 3,
            PcmFormat::S16 => 2,
        }
    }

    fn sample_format(self) -> SampleFormat {
        match self {
            PcmFormat::F32 => SampleFormat::Float32,
            PcmFormat::S24 => SampleFormat::Int24,
            PcmFormat::S16 => SampleFormat::Int16,
        }
    }
}

/// What the server keeps of a recording.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub id: String,
    pub project: String,
    pub name: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub format: PcmFormat,
    pub created_at: i64,
    pub touched_at: i64,
    /// The asset it became, once finished.
    pub asset: Option<String>,
    /// The recorder's note of where the take belongs (track, position,
    /// latency, loop, punch: the client's own JSON object, kept as sent),
    /// so another browser can place it when the recorder's is gone.
    #[serde(default)]
    pub placement: Option<serde_json::Value>,
    /// When another browser last made an asset of what it held (a
    /// recovery): the recording stays open for its recorder, and is not
    /// offered again unless a chunk arrives after (in the same second
    /// or later).
    #[serde(default)]
    pub recovered_at: Option<i64>,
}

/// Why a recording request was refused.
#[derive(Debug)]
pub enum RecordingError {
    NotFound,
    /// The chunk number was used for other bytes.
    Conflict(u32),
    /// Chunks missing at finish.
    Missing(Vec<u32>),
    /// A start under an id already used otherwise.
    IdTaken,
    BadRequest(String),
    NotAudio(String),
    Storage(anyhow::Error),
}

impl From<RecordingError> for ApiError {
    fn from(e: RecordingError) -> ApiError {
        match e {
            RecordingError::NotFound => ApiError::not_found("this project has no such recording"),
            RecordingError::Conflict(n) => ApiError::new(
                StatusCode::CONFLICT,
                format!("chunk {n} was already received with other bytes"),
            ),
            RecordingError::Missing(missing) => ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "chunks {} have not arrived",
                    missing
                        .iter()
                        .take(20)
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            RecordingError::IdTaken => ApiError::new(
                StatusCode::CONFLICT,
                "that recording id is already in use for another recording",
            ),
            RecordingError::BadRequest(why) => ApiError::bad_request(why),
            RecordingError::NotAudio(why) => ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, why),
            RecordingError::Storage(e) => ApiError::internal(e),
        }
    }
}

fn storage(e: impl Into<anyhow::Error>) -> RecordingError {
    RecordingError::Storage(e.into())
}

/// An unfinished recording, as a recovery finds it.
pub struct Unfinished {
    pub meta: Meta,
    /// The chunk numbers received.
    pub chunks: Vec<u32>,
    /// Chunks from 0 without a gap, and their bytes.
    pub whole: u32,
    pub bytes: u64,
}

/// The recordings of a data directory.
pub struct Recordings {
    dir: PathBuf,
    ttl_secs: i64,
    /// A recording's record is read, changed and written under the lock
    /// of its stripe (by id), so concurrent requests lose no change.
    locks: [std::sync::Mutex<()>; LOCK_STRIPES],
}

const LOCK_STRIPES: usize = 64;

/// Ids are the server's own (base64url): anything else names nothing.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Writes `bytes` to `path` durably: a temporary file, synced, renamed,
/// and the directory synced.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Recordings {
    pub fn open(data_dir: &Path, ttl_secs: i64) -> std::io::Result<Recordings> {
        let dir = data_dir.join("recordings");
        std::fs::create_dir_all(&dir)?;
        Ok(Recordings {
            dir,
            ttl_secs,
            locks: std::array::from_fn(|_| std::sync::Mutex::new(())),
        })
    }

    /// Holds recording `id`'s lock: its record changes under it.
    pub fn lock(&self, id: &str) -> std::sync::MutexGuard<'_, ()> {
        let stripe = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        self.locks[stripe % LOCK_STRIPES]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn chunk_path(&self, id: &str, n: u32) -> PathBuf {
        self.dir_of(id).join(format!("chunk-{n:05}"))
    }

    /// Starts a recording; true when it is new. Under an id the client
    /// chose (so a start whose answer was lost can be sent again, and a
    /// take recorded offline keeps its name): the same start again answers
    /// the recording it made, anything else under that id is a conflict.
    pub fn start(&self, mut meta: Meta) -> Result<(Meta, bool), RecordingError> {
        if meta.id.is_empty() {
            meta.id = access::new_id();
        }
        let _held = self.lock(&meta.id);
        match std::fs::create_dir(self.dir_of(&meta.id)) {
            Ok(()) => {
                self.save(&meta)?;
                Ok((meta, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut held = self
                    .meta(&meta.project, &meta.id)
                    .map_err(|_| RecordingError::IdTaken)?;
                let same = (held.sample_rate, held.channels, held.format)
                    == (meta.sample_rate, meta.channels, meta.format);
                if !same {
                    return Err(RecordingError::IdTaken);
                }
                // A newer note replaces the one held.
                let newer = meta.placement.is_some() && meta.placement != held.placement;
                if newer && held.asset.is_none() {
                    held.placement = meta.placement;
                    held.touched_at = meta.touched_at;
                    self.save(&held)?;
                }
                Ok((held, false))
            }
            Err(e) => Err(storage(e)),
        }
    }

    fn save(&self, meta: &Meta) -> Result<(), RecordingError> {
        let bytes = serde_json::to_vec(meta).map_err(storage)?;
        write_durably(&self.dir_of(&meta.id).join("meta.json"), &bytes).map_err(storage)
    }

    /// The recording `id` of `project`.
    pub fn meta(&self, project: &str, id: &str) -> Result<Meta, RecordingError> {
        if !valid_id(id) {
            return Err(RecordingError::NotFound);
        }
        let bytes = match std::fs::read(self.dir_of(id).join("meta.json")) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RecordingError::NotFound);
            }
            Err(e) => return Err(storage(e)),
        };
        let meta: Meta = serde_json::from_slice(&bytes).map_err(storage)?;
        if meta.project != project {
            return Err(RecordingError::NotFound);
        }
        Ok(meta)
    }

    /// The unfinished recordings of `project`, with the chunks each holds,
    /// and how many of them from 0 without a gap and their bytes: what can
    /// be recovered.
    pub fn unfinished(&self, project: &str) -> Result<Vec<Unfinished>, RecordingError> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(storage)? {
            let name = entry.map_err(storage)?.file_name();
            let Some(id) = name.to_str() else { continue };
            // Directories being removed, or never started properly.
            let Ok(meta) = self.meta(project, id) else {
                continue;
            };
            let recovered = meta.recovered_at.is_some_and(|at| at > meta.touched_at);
            if meta.asset.is_some() || recovered {
                continue;
            }
            let chunks = self.chunks(id).unwrap_or_default();
            let mut whole = 0u32;
            let mut bytes = 0u64;
            for &n in &chunks {
                if n != whole {
                    break;
                }
                match std::fs::metadata(self.chunk_path(id, n)) {
                    Ok(m) => bytes += m.len(),
                    Err(_) => break,
                }
                whole += 1;
            }
            found.push(Unfinished {
                meta,
                chunks,
                whole,
                bytes,
            });
        }
        found.sort_by_key(|u| u.meta.created_at);
        Ok(found)
    }

    /// The chunk numbers received, in order.
    pub fn chunks(&self, id: &str) -> Result<Vec<u32>, RecordingError> {
        let mut chunks = Vec::new();
        for entry in std::fs::read_dir(self.dir_of(id)).map_err(storage)? {
            let name = entry.map_err(storage)?.file_name();
            if let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_prefix("chunk-"))
                .and_then(|n| n.parse::<u32>().ok())
            {
                chunks.push(n);
            }
        }
        chunks.sort_unstable();
        Ok(chunks)
    }

    /// Stores chunk `n`; true if it was new, false if the same bytes were
    /// already there.
    pub fn put_chunk(
        &self,
        meta: &mut Meta,
        n: u32,
        bytes: &[u8],
        now: i64,
    ) -> Result<bool, RecordingError> {
        if meta.asset.is_some() {
            return Err(RecordingError::BadRequest(
                "this recording is finished".into(),
            ));
        }
        if n >= MAX_CHUNKS {
            return Err(RecordingError::BadRequest(format!(
                "chunks are numbered 0 to {}",
                MAX_CHUNKS - 1
            )));
        }
        if bytes.is_empty() {
            return Err(RecordingError::BadRequest("the chunk is empty".into()));
        }
        let path = self.chunk_path(&meta.id, n);
        match std::fs::read(&path) {
            Ok(existing) if existing == bytes => return Ok(false),
            Ok(_) => return Err(RecordingError::Conflict(n)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(storage(e)),
        }
        write_durably(&path, bytes).map_err(storage)?;
        meta.touched_at = now;
        self.save(meta)?;
        Ok(true)
    }

    /// Chunks `0..count` behind a WAV header, into `out`; returns the
    /// file's SHA-256 and length.
    fn assemble(
        &self,
        meta: &Meta,
        count: u32,
        out: &mut impl Write,
    ) -> Result<(String, u64), RecordingError> {
        let have = self.chunks(&meta.id)?;
        let missing: Vec<u32> = (0..count)
            .filter(|n| have.binary_search(n).is_err())
            .collect();
        if !missing.is_empty() {
            return Err(RecordingError::Missing(missing));
        }
        let mut data = 0u64;
        for n in 0..count {
            data += std::fs::metadata(self.chunk_path(&meta.id, n))
                .map_err(storage)?
                .len();
        }
        let frame = meta.format.sample_bytes() as u64 * u64::from(meta.channels);
        if data == 0 || !data.is_multiple_of(frame) {
            return Err(RecordingError::BadRequest(format!(
                "the recording's {data} bytes are not whole frames of {frame} bytes"
            )));
        }
        let header = stemroom_engine::bounce::wav_header(
            meta.sample_rate,
            meta.channels,
            meta.format.sample_format(),
            data,
        )
        .map_err(|e| RecordingError::BadRequest(e.to_string()))?;
        let mut hasher = Sha256::new();
        hasher.update(&header);
        out.write_all(&header).map_err(storage)?;
        for n in 0..count {
            let bytes = std::fs::read(self.chunk_path(&meta.id, n)).map_err(storage)?;
            hasher.update(&bytes);
            out.write_all(&bytes).map_err(storage)?;
        }
        let sha: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((sha, header.len() as u64 + data))
    }

    /// Removes a recording's chunks (and, with `all`, its record).
    pub fn remove(&self, id: &str, all: bool) -> std::io::Result<()> {
        if all {
            return std::fs::remove_dir_all(self.dir_of(id));
        }
        for n in self.chunks(id).unwrap_or_default() {
            std::fs::remove_file(self.chunk_path(id, n))?;
        }
        Ok(())
    }

    /// Removes unfinished recordings untouched for the time to live, and
    /// finished ones' records after as long; returns how many.
    pub fn sweep(&self, now: i64) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let meta: Option<Meta> = std::fs::read(path.join("meta.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            // A directory without a readable record was never started
            // properly: it goes too, once old.
            let touched = meta.as_ref().map_or_else(
                || {
                    entry
                        .metadata()
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_secs() as i64)
                },
                |m| m.touched_at,
            );
            if now - touched >= self.ttl_secs && std::fs::remove_dir_all(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

/// `POST /api/projects/{id}/recordings` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartRecording {
    /// The client's own id for the recording (random, 16 to 64 of
    /// `A-Za-z0-9-_`); the server makes one when it is missing.
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: String,
    sample_rate: u32,
    channels: u16,
    format: PcmFormat,
    /// Where the take belongs, for a recovery elsewhere (a JSON object of
    /// at most 4 KiB; a start again with a newer one replaces it).
    #[serde(default)]
    placement: Option<serde_json::Value>,
}

fn meta_json(meta: &Meta, chunks: &[u32]) -> serde_json::Value {
    json!({
        "id": meta.id,
        "name": meta.name,
        "sampleRate": meta.sample_rate,
        "channels": meta.channels,
        "format": meta.format,
        "chunks": chunks,
        "maxChunkBytes": MAX_CHUNK_BYTES,
        "asset": meta.asset,
        "createdAt": meta.created_at,
        "touchedAt": meta.touched_at,
        "placement": meta.placement,
        "recoveredAt": meta.recovered_at,
    })
}

/// The recordings, for a request that may record into `project` (edit or
/// owner).
async fn recorder(
    state: &AppState,
    project: &str,
    headers: &HeaderMap,
    query: &TokenQuery,
) -> Result<Arc<Recordings>, ApiError> {
    let grant = state.authorize(project, token(headers, query)).await?;
    if !grant.role.can_upload() {
        return Err(ApiError::denied(&Denied::Forbidden("recording audio")));
    }
    Ok(state.recordings().clone())
}

/// `POST /api/projects/{id}/recordings`: starts a recording.
pub async fn start(
    State(state): State<AppState>,
    UrlPath(project): UrlPath<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    Json(body): Json<StartRecording>,
) -> Result<Response, ApiError> {
    let recordings = recorder(&state, &project, &headers, &query).await?;
    if !(8_000..=384_000).contains(&body.sample_rate) || !(1..=8).contains(&body.channels) {
        return Err(ApiError::bad_request(
            "a recording is 8 to 384 kHz, with 1 to 8 channels",
        ));
    }
    let id = match body.id {
        Some(id) if id.len() >= 16 && valid_id(&id) => id,
        Some(_) => {
            return Err(ApiError::bad_request(
                "a recording's id is 16 to 64 letters, digits, - or _",
            ));
        }
        None => String::new(),
    };
    if let Some(placement) = &body.placement {
        let size = serde_json::to_vec(placement).map_or(usize::MAX, |b| b.len());
        if !placement.is_object() || size > MAX_PLACEMENT_BYTES {
            return Err(ApiError::bad_request(format!(
                "a recording's placement is a JSON object of at most {MAX_PLACEMENT_BYTES} bytes"
            )));
        }
    }
    let now = access::now();
    let meta = Meta {
        id,
        project,
        name: crate::api::asset_name(&body.name),
        sample_rate: body.sample_rate,
        channels: body.channels,
        format: body.format,
        created_at: now,
        touched_at: now,
        asset: None,
        placement: body.placement,
        recovered_at: None,
    };
    let (meta, created) = run(move || {
        let (meta, created) = recordings.start(meta)?;
        let chunks = if created {
            Vec::new()
        } else {
            recordings.chunks(&meta.id)?
        };
        Ok((meta_json(&meta, &chunks), created))
    })
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(meta)).into_response())
}

/// Runs `f` off the async threads, keeping a refusal's status.
async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RecordingError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map_err(ApiError::from)
}

/// `GET /api/projects/{id}/recordings`: the project's unfinished
/// recordings, what each holds from its first chunk on, and how long it
/// has been idle: a recording nobody sends to any more is one a closed tab
/// or a crash left, which another browser may recover.
pub async fn list(
    State(state): State<AppState>,
    UrlPath(project): UrlPath<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let recordings = recorder(&state, &project, &headers, &query).await?;
    let found = run(move || recordings.unfinished(&project)).await?;
    let now = access::now();
    let listed: Vec<serde_json::Value> = found
        .iter()
        .map(|u| {
            let mut record = meta_json(&u.meta, &u.chunks);
            record["recoverable"] = json!({ "chunks": u.whole, "bytes": u.bytes });
            record["idleSecs"] = json!((now - u.meta.touched_at).max(0));
            record
        })
        .collect();
    Ok(Json(json!({ "recordings": listed })).into_response())
}

/// `GET /api/projects/{id}/recordings/{rec}`: what the server has.
pub async fn status(
    State(state): State<AppState>,
    UrlPath((project, id)): UrlPath<(String, String)>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let recordings = recorder(&state, &project, &headers, &query).await?;
    let (meta, chunks) = run(move || {
        let meta = recordings.meta(&project, &id)?;
        let chunks = recordings.chunks(&meta.id)?;
        Ok((meta, chunks))
    })
    .await?;
    Ok(Json(meta_json(&meta, &chunks)).into_response())
}

/// `PUT /api/projects/{id}/recordings/{rec}/chunks/{n}`: one chunk.
pub async fn put_chunk(
    State(state): State<AppState>,
    UrlPath((project, id, n)): UrlPath<(String, String, u32)>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let recordings = recorder(&state, &project, &headers, &query).await?;
    let bytes = axum::body::to_bytes(body, MAX_CHUNK_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a chunk is at most {} MiB", MAX_CHUNK_BYTES >> 20),
            )
        })?;
    let new = run(move || {
        let _held = recordings.lock(&id);
        let mut meta = recordings.meta(&project, &id)?;
        recordings.put_chunk(&mut meta, n, &bytes, access::now())
    })
    .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "chunk": n, "duplicate": !new }))).into_response())
}

/// `POST /api/projects/{id}/recordings/{rec}/finish` body.
#[derive(Deserialize)]
pub struct Finish {
    chunks: u32,
    /// A recovery from another browser: make the asset of chunks
    /// `0..chunks` but leave the recording open (its recorder may be alive
    /// and still sending; its own finish makes the whole take later).
    #[serde(default)]
    keep: bool,
}

/// `POST /api/projects/{id}/recordings/{rec}/finish`: chunks `0..chunks`
/// become an asset of the project (decoded to prove it, as any upload).
/// Finishing again answers the same asset.
pub async fn finish(
    State(state): State<AppState>,
    UrlPath((project, id)): UrlPath<(String, String)>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    Json(body): Json<Finish>,
) -> Result<Response, ApiError> {
    let recordings = recorder(&state, &project, &headers, &query).await?;
    let assets = state.assets().clone();
    let store = state.store().clone();
    let record = run(move || {
        let _held = recordings.lock(&id);
        let mut meta = recordings.meta(&project, &id)?;
        if let Some(sha) = &meta.asset {
            return store
                .project_asset(&project, sha)
                .map_err(RecordingError::Storage)?
                .ok_or(RecordingError::NotFound);
        }
        if body.chunks == 0 || body.chunks > MAX_CHUNKS {
            return Err(RecordingError::BadRequest(format!(
                "a recording has 1 to {MAX_CHUNKS} chunks"
            )));
        }
        let (file, temp) = assets.temp_file().map_err(storage)?;
        let mut out = std::io::BufWriter::new(file);
        let assembled = recordings.assemble(&meta, body.chunks, &mut out);
        let flushed = out.flush();
        let (sha256, bytes) = match (assembled, flushed) {
            (Ok(done), Ok(())) => done,
            (Err(e), _) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
            (_, Err(e)) => {
                let _ = std::fs::remove_file(&temp);
                return Err(storage(e));
            }
        };
        drop(out);
        let summary = match stemroom_engine::decode::decode_file(&temp, |_| {}) {
            Ok(summary) => summary,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(RecordingError::NotAudio(format!(
                    "the recording does not decode: {e}"
                )));
            }
        };
        assets.commit(&temp, &sha256).map_err(storage)?;
        let record = AssetRecord {
            sha256: sha256.clone(),
            bytes,
            sample_rate: summary.sample_rate,
            channels: summary.channels as u32,
            frames: summary.frames,
        };
        store
            .add_asset(&project, &record, &meta.name, access::now())
            .map_err(RecordingError::Storage)?;
        if body.keep {
            // A recovery: the recorder may still be sending.
            meta.recovered_at = Some(access::now());
            recordings.save(&meta)?;
            return Ok(record);
        }
        meta.asset = Some(sha256);
        meta.touched_at = access::now();
        recordings.save(&meta)?;
        recordings.remove(&meta.id, false).map_err(storage)?;
        Ok(record)
    })
    .await?;
    crate::api::asset_created(&record)
}

/// `DELETE /api/projects/{id}/recordings/{rec}`: abandons a recording.
pub async fn abandon(
    State(state): State<AppState>,
    UrlPath((project, id)): UrlPath<(String, String)>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let recordings = recorder(&state, &project, &headers, &query).await?;
    run(move || {
        let _held = recordings.lock(&id);
        let meta = recordings.meta(&project, &id)?;
        recordings.remove(&meta.id, true).map_err(storage)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_ids_name_recordings() {
        assert!(valid_id("AbC-12_x"));
        assert!(!valid_id("../meta"));
        assert!(!valid_id(""));
        assert!(!valid_id(&"a".repeat(65)));
    }
}
