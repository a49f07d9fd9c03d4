//! `stemroom migrate-storage` (issue 16): an installation on SQLite, with
//! projects edited through real clients, share links (one revoked) and an
//! uploaded asset, copied into PostgreSQL; a server on the copy then
//! serves the same documents, links and audio. A second copy into the same
//! database is refused. Runs in the PostgreSQL pass of `cargo xtask test`.

mod common;

use std::process::Command;

use common::{Server, SyncClient, bearer, http, put, state, test_database};
use yrs::Doc;

/// A 16-bit mono WAV of a ramp.
fn wav(frames: u32) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
    for i in 0..frames {
        writer.write_sample(((i % 1000) as i16 - 500) * 30).unwrap();
    }
    writer.finalize().unwrap();
    bytes.into_inner()
}

fn migrate(from: &std::path::Path, to: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stemroom"))
        .args(["migrate-storage", "--from"])
        .arg(from)
        .args(["--to", to])
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_installation_moves_to_postgresql_whole() {
    let Some(target) = test_database() else {
        eprintln!("no PostgreSQL in this run: see the PostgreSQL pass");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let embedded = Server::start_on(dir.path(), None, &[]);
    let mut projects = Vec::new();
    for name in ["First song", "Second song"] {
        let (project, owner) = embedded.create_project(name).await;
        for (doc, n) in [("project", 30), ("review", 5)] {
            let mut client = SyncClient::connect(&embedded.addr, &project, doc, &owner, Doc::new())
                .await
                .unwrap();
            for i in 0..n {
                client.edit(put(format!("{doc}-{i}"), i as f64)).await;
            }
            client.saved().await;
        }
        let listen = embedded
            .share(
                &project,
                &owner,
                serde_json::json!({"role": "listen", "label": "Label"}),
            )
            .await;
        let link = listen.json()["id"].as_str().unwrap().to_string();
        let path = format!("/api/projects/{project}/links/{link}");
        let revoked = bearer(&embedded.addr, "DELETE", &path, &owner, b"").await;
        assert_eq!(revoked.status, 204);
        embedded.link(&project, &owner, "comment").await;
        projects.push((project, owner));
    }
    let (first, owner) = projects[0].clone();
    let upload = http(
        &embedded.addr,
        "POST",
        &format!("/api/projects/{first}/assets?name=bass.wav"),
        &[
            ("authorization", &format!("Bearer {owner}")),
            ("content-type", "application/octet-stream"),
        ],
        &wav(24_000),
    )
    .await;
    assert_eq!(upload.status, 201, "{}", upload.text());
    let sha = upload.json()["sha256"].as_str().unwrap().to_string();

    // What the embedded server serves, to compare with the copy's.
    let mut before = Vec::new();
    for (project, owner) in &projects {
        let mut docs = Vec::new();
        for doc in ["project", "review"] {
            let c = SyncClient::connect(&embedded.addr, project, doc, owner, Doc::new())
                .await
                .unwrap();
            docs.push(state(&c.doc));
        }
        let path = format!("/api/projects/{project}/links");
        let links = bearer(&embedded.addr, "GET", &path, owner, b"").await;
        assert_eq!(links.status, 200);
        before.push((docs, links.json()));
    }
    drop(embedded);

    let out = migrate(&dir.path().join("data"), &target);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("2 projects") && said.contains("6 links") && said.contains("1 asset"),
        "{said}"
    );

    // A server on the copy (the asset files stay in the data directory).
    let copy = Server::start_on(dir.path(), Some(target.clone()), &[]);
    for ((project, owner), (docs, links)) in projects.iter().zip(&before) {
        for (doc, expected) in ["project", "review"].into_iter().zip(docs) {
            let c = SyncClient::connect(&copy.addr, project, doc, owner, Doc::new())
                .await
                .unwrap();
            assert_eq!(&state(&c.doc), expected, "{project}/{doc}");
        }
        let path = format!("/api/projects/{project}/links");
        let now = bearer(&copy.addr, "GET", &path, owner, b"").await;
        assert_eq!(&now.json(), links, "the links of {project}");
    }
    let path = format!("/api/projects/{first}/assets/{sha}");
    let audio = bearer(&copy.addr, "GET", &path, &owner, b"").await;
    assert_eq!(audio.status, 200);
    assert_eq!(audio.body, wav(24_000), "the asset, byte for byte");

    // Not twice into the same database.
    drop(copy);
    let again = migrate(&dir.path().join("data"), &target);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds projects"));
}
