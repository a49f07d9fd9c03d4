//! Recordings uploaded while they are made, against a real server: chunks
//! out of order and twice, a conflicting chunk, an oversized one, a wrong
//! role, a finish with chunks missing, a recording that is not whole
//! frames, an acknowledged chunk surviving kill -9, and an abandoned
//! recording swept away.

mod common;

use common::{HttpResponse, Server, bearer};

const RATE: u32 = 48_000;

/// `n` frames of a stereo 24-bit ramp-and-tone, as a recorder sends them:
/// raw little-endian samples.
fn take(frames: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(frames * 6);
    for i in 0..frames {
        let x = (std::f64::consts::TAU * 440.0 * i as f64 / f64::from(RATE)).sin() * 0.5;
        let left = (x * 8_388_607.0) as i32;
        // A ramp that never repeats a second: no two chunks are alike.
        let right = (i as i32 * 37) % 2_000_000 - 1_000_000;
        for s in [left, right] {
            bytes.extend_from_slice(&s.to_le_bytes()[..3]);
        }
    }
    bytes
}

async fn start(server: &Server, project: &str, token: &str) -> HttpResponse {
    let body = serde_json::json!({ "name": "Vocal take 1", "sampleRate": RATE, "channels": 2, "format": "s24" });
    bearer(
        &server.addr,
        "POST",
        &format!("/api/projects/{project}/recordings"),
        token,
        body.to_string().as_bytes(),
    )
    .await
}

/// A recording's address on a server, and the token to reach it with
/// (the address stays the same when the server restarts).
struct Recording {
    addr: String,
    base: String,
    token: String,
}

impl Recording {
    /// Starts one in `project`.
    async fn start(server: &Server, project: &str, token: &str) -> (Recording, String) {
        let r = start(server, project, token).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().unwrap().to_string();
        let recording = Recording {
            addr: server.addr.clone(),
            base: format!("/api/projects/{project}/recordings/{id}"),
            token: token.to_string(),
        };
        (recording, id)
    }

    fn with_token(&self, token: &str) -> Recording {
        Recording {
            token: token.to_string(),
            addr: self.addr.clone(),
            base: self.base.clone(),
        }
    }

    async fn put(&self, n: u32, bytes: &[u8]) -> HttpResponse {
        let path = format!("{}/chunks/{n}", self.base);
        bearer(&self.addr, "PUT", &path, &self.token, bytes).await
    }

    async fn finish(&self, chunks: u32) -> HttpResponse {
        let body = serde_json::json!({ "chunks": chunks }).to_string();
        let path = format!("{}/finish", self.base);
        bearer(&self.addr, "POST", &path, &self.token, body.as_bytes()).await
    }

    async fn status(&self) -> HttpResponse {
        bearer(&self.addr, "GET", &self.base, &self.token, b"").await
    }

    async fn abandon(&self) -> HttpResponse {
        bearer(&self.addr, "DELETE", &self.base, &self.token, b"").await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_uploaded_in_chunks_becomes_an_asset_and_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Session").await;
    let (take_up, _) = Recording::start(&server, &project, &owner).await;

    // Three seconds in one-second chunks, sent 2, 0, 1, with 0 twice.
    let audio = take(3 * RATE as usize);
    let chunks: Vec<&[u8]> = audio.chunks(RATE as usize * 6).collect();
    for n in [2, 0] {
        let r = take_up.put(n, chunks[n as usize]).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let again = take_up.put(0, chunks[0]).await;
    assert_eq!(again.status, 200, "the same chunk again is fine");
    assert_eq!(again.json()["duplicate"], true);
    let other = take_up.put(0, chunks[1]).await;
    assert_eq!(other.status, 409, "other bytes under a number already used");
    assert!(other.text().contains("chunk 0"), "{}", other.text());

    // Finishing with a chunk missing says which.
    let r = take_up.finish(3).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.text().contains("chunks 1 have not arrived"),
        "{}",
        r.text()
    );

    // Chunk 1 is acknowledged, then the server dies without a word: what
    // it acknowledged is there when it comes back.
    assert_eq!(take_up.put(1, chunks[1]).await.status, 201);
    server.kill9();
    server.restart();
    let r = take_up.status().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["chunks"], serde_json::json!([0, 1, 2]));

    // Finished: a WAV asset of exactly the samples sent, decoded to prove it.
    let r = take_up.finish(3).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let asset = r.json();
    assert_eq!(asset["frames"], 3 * RATE);
    assert_eq!(asset["channels"], 2);
    let sha = asset["sha256"].as_str().unwrap().to_string();
    let path = format!("/api/projects/{project}/assets/{sha}");
    let fetched = bearer(&server.addr, "GET", &path, &owner, b"").await;
    assert_eq!(fetched.status, 200);
    let mut reader = hound::WavReader::new(std::io::Cursor::new(fetched.body)).unwrap();
    assert_eq!(reader.spec().bits_per_sample, 24);
    let samples: Vec<i32> = reader.samples::<i32>().map(Result::unwrap).collect();
    let sent: Vec<i32> = audio
        .chunks(3)
        .map(|b| i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8)
        .collect();
    assert_eq!(samples, sent, "the asset holds exactly what was recorded");
    // Finishing again answers the same asset; the chunks are gone.
    assert_eq!(take_up.finish(3).await.json()["sha256"], sha.as_str());
    let r = take_up.status().await;
    assert_eq!(r.json()["chunks"], serde_json::json!([]));
    assert_eq!(r.json()["asset"], sha.as_str());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chunks_wrong_roles_and_broken_recordings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Session").await;
    let (other_project, _) = server.create_project("Elsewhere").await;
    let (rec, id) = Recording::start(&server, &project, &owner).await;

    // Roles: a commenter or a listener can neither start nor send.
    for role in ["comment", "listen"] {
        let token = server.link(&project, &owner, role).await;
        assert_eq!(start(&server, &project, &token).await.status, 403, "{role}");
        let r = rec.with_token(&token).put(0, &[1, 2, 3]).await;
        assert_eq!(r.status, 403, "{role}");
    }
    let editor = server.link(&project, &owner, "edit").await;
    assert_eq!(start(&server, &project, &editor).await.status, 201);
    // Another project's address does not reach this recording.
    let path = format!("/api/projects/{other_project}/recordings/{id}");
    let r = bearer(&server.addr, "GET", &path, &owner, b"").await;
    assert_eq!(r.status, 403, "the owner's token is this project's only");
    // Ids are the server's: a path names nothing.
    let path = format!("/api/projects/{project}/recordings/..%2Fx");
    let r = bearer(&server.addr, "GET", &path, &owner, b"").await;
    assert!(r.status == 404 || r.status == 400, "{}", r.status);

    // Oversized, numbered out of range, empty.
    let r = rec.put(0, &vec![0u8; (4 << 20) + 1]).await;
    assert_eq!(r.status, 413, "{}", r.text());
    let r = rec.put(99_999, &[0; 6]).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = rec.put(0, b"").await;
    assert_eq!(r.status, 400, "{}", r.text());

    // Not whole frames: refused with a reason, nothing stored.
    assert_eq!(rec.put(0, &[1, 2, 3, 4, 5, 6, 7]).await.status, 201);
    let r = rec.finish(1).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not whole frames"), "{}", r.text());

    // Abandoned by its recorder: gone.
    assert_eq!(rec.abandon().await.status, 204);
    assert_eq!(rec.status().await.status, 404);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_recording_is_removed_after_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--recording-ttl-secs", "2"]);
    let (project, owner) = server.create_project("Session").await;
    let (rec, id) = Recording::start(&server, &project, &owner).await;
    assert_eq!(rec.put(0, &take(4800)).await.status, 201);
    let on_disk = server.data_dir.join("recordings").join(&id);
    assert!(on_disk.join("chunk-00000").is_file());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while on_disk.exists() {
        assert!(std::time::Instant::now() < deadline, "never swept");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(rec.status().await.status, 404);
    drop(server);
}

/// A take recorded offline keeps the id its recorder gave it: the same
/// start again (its answer was lost) answers the recording it made with
/// the chunks it holds; another start under that id, a malformed id, or
/// the id from another project are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_under_the_recorders_own_id_can_be_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Session").await;
    let (other_project, other_owner) = server.create_project("Other").await;
    let path = format!("/api/projects/{project}/recordings");
    let body = |id: &str, channels: u16| {
        serde_json::json!({ "id": id, "name": "Vocal", "sampleRate": RATE, "channels": channels, "format": "s24" })
            .to_string()
    };
    let id = "take-0123456789abcdef";
    let r = bearer(&server.addr, "POST", &path, &owner, body(id, 2).as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["id"], id);
    let put = bearer(
        &server.addr,
        "PUT",
        &format!("{path}/{id}/chunks/0"),
        &owner,
        &take(100),
    )
    .await;
    assert_eq!(put.status, 201);
    let again = bearer(&server.addr, "POST", &path, &owner, body(id, 2).as_bytes()).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["chunks"], serde_json::json!([0]));
    let different = bearer(&server.addr, "POST", &path, &owner, body(id, 1).as_bytes()).await;
    assert_eq!(different.status, 409, "{}", different.text());
    let elsewhere = bearer(
        &server.addr,
        "POST",
        &format!("/api/projects/{other_project}/recordings"),
        &other_owner,
        body(id, 2).as_bytes(),
    )
    .await;
    assert_eq!(
        elsewhere.status,
        409,
        "another project's id: {}",
        elsewhere.text()
    );
    for bad in ["short", "../../etc/passwd-xxxxxxxxxx", &"a".repeat(65)] {
        let r = bearer(&server.addr, "POST", &path, &owner, body(bad, 2).as_bytes()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}

/// What another browser recovers from: a project's unfinished recordings
/// listed with the recorder's placement note (replaced by a newer start),
/// the chunks held from 0 without a gap and their bytes, and how long each
/// has been idle. Finished recordings and other projects' are not listed;
/// only an editor may list; a note that is not a small object is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_recordings_are_listed_with_their_placement() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Session").await;
    let (other_project, other_owner) = server.create_project("Other").await;
    let path = format!("/api/projects/{project}/recordings");
    let body = |id: &str, placement: serde_json::Value| {
        serde_json::json!({ "id": id, "name": "Vocal", "sampleRate": RATE, "channels": 2,
            "format": "s24", "placement": placement })
        .to_string()
    };
    let list = |project: String, token: String| {
        let addr = server.addr.clone();
        async move {
            let r = bearer(
                &addr,
                "GET",
                &format!("/api/projects/{project}/recordings"),
                &token,
                b"",
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["recordings"].as_array().unwrap().clone()
        }
    };

    let id = "take-aaaaaaaaaaaaaaaa";
    let first = serde_json::json!({ "track": "t1", "position": null });
    let r = bearer(
        &server.addr,
        "POST",
        &path,
        &owner,
        body(id, first).as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // The position came with the start mark: the start again says so.
    let placed = serde_json::json!({ "track": "t1", "position": 96_000, "latency": 480 });
    let r = bearer(
        &server.addr,
        "POST",
        &path,
        &owner,
        body(id, placed.clone()).as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Chunks 0, 1 and 3: two are recoverable.
    let chunk = take(24_000);
    for n in [0, 1, 3] {
        let put = format!("{path}/{id}/chunks/{n}");
        assert_eq!(
            bearer(&server.addr, "PUT", &put, &owner, &chunk)
                .await
                .status,
            201
        );
    }
    // A finished one and another project's are not listed.
    let (done, _) = Recording::start(&server, &project, &owner).await;
    assert_eq!(done.put(0, &chunk).await.status, 201);
    assert_eq!(done.finish(1).await.status, 201);
    let (elsewhere, _) = Recording::start(&server, &other_project, &other_owner).await;
    assert_eq!(elsewhere.put(0, &chunk).await.status, 201);

    let listed = list(project.clone(), owner.clone()).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let held = &listed[0];
    assert_eq!(held["id"], id);
    assert_eq!(held["placement"], placed);
    assert_eq!(held["chunks"], serde_json::json!([0, 1, 3]));
    assert_eq!(held["recoverable"]["chunks"], 2);
    assert_eq!(held["recoverable"]["bytes"], 2 * chunk.len());
    assert_eq!(held["sampleRate"], RATE);
    assert!(held["idleSecs"].as_i64().unwrap() >= 0);
    assert_eq!(list(other_project, other_owner).await.len(), 1);
    // Tried on an idle recording before it waited long enough: the chunks
    // are touched when sent, and the list says how long ago.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let listed = list(project.clone(), owner.clone()).await;
    assert!(listed[0]["idleSecs"].as_i64().unwrap() >= 1, "{listed:?}");

    // Recovered elsewhere: an asset of what is held, the recording left
    // open for its recorder, and no longer offered.
    let rec = Recording {
        addr: server.addr.clone(),
        base: format!("{path}/{id}"),
        token: owner.clone(),
    };
    let body_keep = serde_json::json!({ "chunks": 2, "keep": true }).to_string();
    let r = bearer(
        &server.addr,
        "POST",
        &format!("{path}/{id}/finish"),
        &owner,
        body_keep.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["frames"], 48_000);
    assert!(
        list(project.clone(), owner.clone()).await.is_empty(),
        "offered once"
    );
    // The recorder was alive after all: it goes on, is listed again while
    // it sends, and its own finish makes the whole take.
    assert_eq!(rec.put(2, &take(24_000)[..]).await.status, 201);
    assert_eq!(list(project.clone(), owner.clone()).await.len(), 1);
    let r = rec.finish(4).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["frames"], 96_000);
    assert!(list(project.clone(), owner.clone()).await.is_empty());

    // Only an editor recovers.
    for role in ["comment", "listen"] {
        let token = server.link(&project, &owner, role).await;
        let r = bearer(&server.addr, "GET", &path, &token, b"").await;
        assert_eq!(r.status, 403, "{role}");
    }
    // (An editor lists: `list` asserts 200. Nothing is unfinished now.)
    let editor = server.link(&project, &owner, "edit").await;
    assert!(list(project.clone(), editor).await.is_empty());
    // A note is a small object.
    let huge = serde_json::json!({ "pad": "x".repeat(5000) });
    for bad in [serde_json::json!([1, 2]), serde_json::json!("t1"), huge] {
        let r = bearer(
            &server.addr,
            "POST",
            &path,
            &owner,
            body("take-bbbbbbbbbbbbbbbb", bad).as_bytes(),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text());
    }
}
