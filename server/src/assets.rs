//! The asset store: audio files named by the SHA-256 of their bytes.
//!
//! An upload streams to a temporary file while it is hashed and counted (the
//! size limit holds without buffering), is decoded in full to prove it is
//! audio Stemroom can play, and is then moved into place under its hash —
//! the same bytes uploaded twice are stored once. Names never come from the
//! client, so no path trick can reach outside the store.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::StatusCode;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::store::AssetRecord;

/// Where asset bytes live. Files in the data directory by default; a
/// deployment could put them in S3-compatible storage behind this trait
/// (serving them by redirect instead of from a path).
pub trait AssetStore: Send + Sync {
    /// Where the bytes of `sha256` are (or would be).
    fn path(&self, sha256: &str) -> PathBuf;
    /// A fresh temporary file for an upload in progress.
    fn temp_file(&self) -> std::io::Result<(std::fs::File, PathBuf)>;
    /// Moves a verified upload into place (keeps the existing copy if any).
    fn commit(&self, temp: &Path, sha256: &str) -> std::io::Result<()>;
}

/// Assets as files: `assets/<first two hex digits>/<sha256>`.
pub struct AssetFiles {
    dir: PathBuf,
}

impl AssetFiles {
    pub fn open(data_dir: &Path) -> std::io::Result<AssetFiles> {
        let dir = data_dir.join("assets");
        std::fs::create_dir_all(dir.join("tmp"))?;
        // Uploads interrupted by a crash are never committed; clear them.
        for entry in std::fs::read_dir(dir.join("tmp"))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(AssetFiles { dir })
    }
}

/// Where the asset `sha256` of the data directory `data_dir` lives (for
/// readers that must not open the store: it clears interrupted uploads).
pub fn stored_path(data_dir: &Path, sha256: &str) -> PathBuf {
    path_in(&data_dir.join("assets"), sha256)
}

fn path_in(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(&sha256[..2]).join(sha256)
}

impl AssetStore for AssetFiles {
    fn path(&self, sha256: &str) -> PathBuf {
        path_in(&self.dir, sha256)
    }

    fn temp_file(&self) -> std::io::Result<(std::fs::File, PathBuf)> {
        let name = format!("upload-{}", crate::access::new_id());
        let path = self.dir.join("tmp").join(name);
        Ok((std::fs::File::create_new(&path)?, path))
    }

    fn commit(&self, temp: &Path, sha256: &str) -> std::io::Result<()> {
        let target = self.path(sha256);
        if target.is_file() {
            return std::fs::remove_file(temp);
        }
        std::fs::create_dir_all(target.parent().expect("under the store"))?;
        std::fs::File::open(temp)?.sync_all()?;
        std::fs::rename(temp, &target)
    }
}

/// Whether `s` is a SHA-256 in the store's spelling (64 lowercase hex).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an upload was refused.
#[derive(Debug)]
pub enum UploadError {
    TooLarge(u64),
    Empty,
    NotAudio(String),
    Interrupted(String),
    Storage(anyhow::Error),
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> ApiError {
        match e {
            UploadError::TooLarge(limit) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("files are at most {} MiB", limit >> 20),
            ),
            UploadError::Empty => ApiError::bad_request("the file is empty"),
            UploadError::NotAudio(why) => ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, why),
            UploadError::Interrupted(why) => {
                ApiError::bad_request(format!("the upload was interrupted: {why}"))
            }
            UploadError::Storage(e) => ApiError::internal(e),
        }
    }
}

/// Removes a temporary file unless it was committed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Receives an upload: stream to disk with hash and limit, decode, commit.
pub async fn receive(
    store: &std::sync::Arc<dyn AssetStore>,
    body: Body,
    limit: u64,
) -> Result<AssetRecord, UploadError> {
    let (file, path) = store
        .temp_file()
        .map_err(|e| UploadError::Storage(e.into()))?;
    let mut guard = TempGuard(Some(path.clone()));
    let mut file = std::io::BufWriter::new(file);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| UploadError::Interrupted(e.to_string()))?;
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(UploadError::TooLarge(limit));
        }
        hasher.update(&chunk);
        // Small synchronous writes to a buffered local file: cheaper than a
        // thread hop per chunk.
        file.write_all(&chunk)
            .map_err(|e| UploadError::Storage(e.into()))?;
    }
    if bytes == 0 {
        return Err(UploadError::Empty);
    }
    file.flush().map_err(|e| UploadError::Storage(e.into()))?;
    drop(file);
    let sha256 = hex(&hasher.finalize());
    let store = store.clone();
    let verify_path = path.clone();
    let digest = sha256.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let summary = stemroom_engine::decode::decode_file(&verify_path, |_| {})
            .map_err(|e| UploadError::NotAudio(e.to_string()))?;
        store
            .commit(&verify_path, &digest)
            .map_err(|e| UploadError::Storage(e.into()))?;
        Ok::<_, UploadError>(summary)
    })
    .await
    .map_err(|e| {
        if e.is_panic() {
            UploadError::NotAudio("the file could not be decoded".into())
        } else {
            UploadError::Storage(e.into())
        }
    })??;
    guard.0 = None;
    Ok(AssetRecord {
        sha256,
        bytes,
        sample_rate: summary.sample_rate,
        channels: summary.channels as u32,
        frames: summary.frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_hashes_name_assets() {
        let good = "a".repeat(64);
        assert!(is_sha256(&good));
        assert!(!is_sha256(&"A".repeat(64)));
        assert!(!is_sha256("../../etc/passwd"));
        assert!(!is_sha256(&format!("{}/", "a".repeat(63))));
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
