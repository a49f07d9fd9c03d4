//! The HTTP API of a real server: projects, links, assets.

mod common;

use common::{Server, http};
use sha2::{Digest, Sha256};

/// A 16-bit stereo WAV of `frames` frames of a ramp.
fn wav(frames: u32, rate: u32) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
    for i in 0..frames {
        let v = ((i % 2000) as i32 - 1000) as i16 * 20;
        writer.write_sample(v).unwrap();
        writer.write_sample(-v).unwrap();
    }
    writer.finalize().unwrap();
    bytes.into_inner()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let r = http(
        &server.addr,
        "POST",
        "/api/projects",
        &[],
        br#"{"name":"  Night Drive  "}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    let created = r.json();
    let (project, owner) = (
        created["id"].as_str().unwrap().to_string(),
        created["token"].as_str().unwrap().to_string(),
    );
    assert_eq!(created["role"], "owner");
    assert_eq!(created["url"], format!("/p/{project}#{owner}"));
    // The link path serves the app.
    let page = http(&server.addr, "GET", &format!("/p/{project}"), &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<!doctype html>"));

    let (name, value) = bearer(&owner);
    let info = http(
        &server.addr,
        "GET",
        &format!("/api/projects/{project}"),
        &[(name, &value)],
        b"",
    )
    .await;
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(
        info.json()["name"],
        "Night Drive",
        "the name comes from the document"
    );
    assert_eq!(info.json()["role"], "owner");

    let listen = server.link(&project, &owner, "listen").await;
    let info = http(
        &server.addr,
        "GET",
        &format!("/api/projects/{project}?token={listen}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(info.json()["role"], "listen");
    // Only the owner lists or makes links, and never another owner link.
    let r = server
        .share(&project, &listen, serde_json::json!({"role": "edit"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("managing links")
    );
    let r = server
        .share(&project, &owner, serde_json::json!({"role": "owner"}))
        .await;
    assert_eq!(r.status, 400);
    let r = server
        .share(&project, &owner, serde_json::json!({"role": "root"}))
        .await;
    assert_eq!(r.status, 422, "unknown roles are rejected: {}", r.text());
    let r = server
        .share(&project, &owner, serde_json::json!({"role": "comment", "label": "Mastering engineer", "expiresIn": 3600, "sharedBy": "Ana"}))
        .await;
    assert_eq!(r.status, 201);
    assert!(r.json()["expiresAt"].as_i64().is_some());
    // Its holder learns who shared it, as what and until when; never more.
    let comment = r.json()["token"].as_str().unwrap().to_string();
    let info = http(
        &server.addr,
        "GET",
        &format!("/api/projects/{project}?token={comment}"),
        &[],
        b"",
    )
    .await
    .json();
    assert_eq!(info["role"], "comment");
    assert_eq!(info["link"]["sharedBy"], "Ana");
    assert_eq!(info["link"]["label"], "Mastering engineer");
    assert_eq!(info["link"]["expiresAt"], r.json()["expiresAt"]);
    assert!(info["link"].get("token").is_none() && info.get("links").is_none());
    let links = http(
        &server.addr,
        "GET",
        &format!("/api/projects/{project}/links"),
        &[(name, &value)],
        b"",
    )
    .await;
    let links = links.json();
    let roles: Vec<&str> = links["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.len(), 3);
    assert!(roles.contains(&"owner") && roles.contains(&"listen") && roles.contains(&"comment"));
    assert!(
        !links.to_string().contains(&listen),
        "tokens are shown once, never listed"
    );
    let r = http(&server.addr, "POST", "/api/projects", &[], b"{not json").await;
    assert!(r.status == 400 || r.status == 422, "{}", r.status);
    let r = http(
        &server.addr,
        "GET",
        "/api/projects/nope",
        &[(name, &value)],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_upload_once_fetch_by_range_and_refuse_what_is_not_audio() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-upload-mib", "1"]);
    let (project, owner) = server.create_project("Assets").await;
    let listen = server.link(&project, &owner, "listen").await;
    let comment = server.link(&project, &owner, "comment").await;
    let audio = wav(48_000, 48_000);
    let sha = hex(&Sha256::digest(&audio));
    let upload = format!("/api/projects/{project}/assets?name=take%201.wav");
    let (name, owner_auth) = bearer(&owner);
    let octet = ("content-type", "application/octet-stream");

    let r = http(
        &server.addr,
        "POST",
        &upload,
        &[(name, &owner_auth), octet],
        &audio,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let meta = r.json();
    assert_eq!(meta["sha256"], sha);
    assert_eq!(meta["sampleRate"], 48_000);
    assert_eq!(meta["duration"], 1.0);
    assert_eq!(meta["frames"], 48_000);
    assert_eq!(meta["channels"], 2);
    // The same bytes again: the same answer, one stored file.
    let r = http(
        &server.addr,
        "POST",
        &upload,
        &[(name, &owner_auth), octet],
        &audio,
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["sha256"], sha);
    let stored: Vec<_> = walk(&server.data_dir.join("assets"));
    assert_eq!(stored.len(), 1, "{stored:?}");

    // Not audio, empty, too large, or from a role that may not upload.
    let r = http(
        &server.addr,
        "POST",
        &upload,
        &[(name, &owner_auth), octet],
        b"<html>definitely not audio</html>",
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("not an audio file")
    );
    let mut corrupt = audio.clone();
    corrupt.truncate(44);
    let r = http(
        &server.addr,
        "POST",
        &upload,
        &[(name, &owner_auth), octet],
        &corrupt,
    )
    .await;
    assert_eq!(r.status, 415, "a header without audio: {}", r.text());
    let r = http(
        &server.addr,
        "POST",
        &upload,
        &[(name, &owner_auth), octet],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    let big = wav(300_000, 48_000);
    let r = http(
        &server.addr,
        "POST",
        &upload,
        &[(name, &owner_auth), octet],
        &big,
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text());
    for token in [&listen, &comment] {
        let (n, v) = bearer(token);
        let r = http(&server.addr, "POST", &upload, &[(n, &v), octet], &audio).await;
        assert_eq!(r.status, 403, "{}", r.text());
    }
    assert_eq!(
        walk(&server.data_dir.join("assets")).len(),
        1,
        "nothing else was kept"
    );

    // Any role fetches, with ranges and immutable caching.
    let fetch = format!("/api/projects/{project}/assets/{sha}");
    let (n, listen_auth) = bearer(&listen);
    let r = http(&server.addr, "GET", &fetch, &[(n, &listen_auth)], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, audio);
    assert!(r.header("cache-control").unwrap().contains("immutable"));
    let r = http(
        &server.addr,
        "GET",
        &fetch,
        &[(n, &listen_auth), ("range", "bytes=100-199")],
        b"",
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &audio[100..200]);
    let r = http(&server.addr, "GET", &fetch, &[], b"").await;
    assert_eq!(r.status, 401);
    // Another project cannot fetch it, even with its own valid link.
    let (other, other_owner) = server.create_project("Other").await;
    let (n, other_auth) = bearer(&other_owner);
    let r = http(
        &server.addr,
        "GET",
        &format!("/api/projects/{other}/assets/{sha}"),
        &[(n, &other_auth)],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);
    // Path tricks never reach the file system.
    for bad in ["..%2F..%2Fstemroom.db", "ABCDEF", &sha[..63]] {
        let r = http(
            &server.addr,
            "GET",
            &format!("/api/projects/{project}/assets/{bad}"),
            &[(n, &listen_auth)],
            b"",
        )
        .await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
