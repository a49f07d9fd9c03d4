//! Sync server benchmark (`cargo xtask bench`): the release `stemroom`
//! binary on loopback, real WebSocket clients in this process.
//!
//! - edit-to-remote-apply latency, p50/p99, with 2, 20 and 100 clients in
//!   one project (one editor, the others receive);
//! - updates per second one room makes durable and fans out;
//! - a 128-track × 200-clips-per-track project: cold load (room from
//!   SQLite → client synced) and the client's read + render plan, server
//!   memory;
//! - server memory with 1000 idle connections.
//!
//! With `STEMROOM_TEST_POSTGRES` (as `cargo xtask bench` runs it a second
//! time) the servers keep everything in PostgreSQL, and a second instance
//! on the same database takes half the receivers (issue 16); the
//! throughput is also measured over ten rooms at once.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, SyncClient, test_database_in_use};
use stemroom_model::project::ProjectDoc;
use stemroom_model::reader::ProjectReader;
use tokio::sync::Barrier;
use yrs::updates::decoder::Decode;
use yrs::{Doc, Map, ReadTxn, StateVector, Transact, WriteTxn};

const EDITS: u64 = 200;
const EDIT_EVERY: Duration = Duration::from_millis(10);

fn micros_since(epoch: Instant) -> f64 {
    epoch.elapsed().as_secs_f64() * 1e6
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Resident memory of a process, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One editor (on the first server) sends `EDITS` edits, each stamped
/// with its send time; every other client (spread over the servers in
/// turn) records when the edit is applied on its side.
async fn latency(servers: &[&Server], clients: usize) -> (f64, f64, usize) {
    let server = servers[0];
    let (project, token) = server.create_project("Latency").await;
    let epoch = Instant::now();
    let receivers = clients - 1;
    let barrier = Arc::new(Barrier::new(clients));
    let mut tasks = Vec::new();
    for r in 0..receivers {
        let (addr, project, token, barrier) = (
            servers[(r + 1) % servers.len()].addr.clone(),
            project.clone(),
            token.clone(),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut client = SyncClient::connect(&addr, &project, "project", &token, Doc::new())
                .await
                .expect("receiver connects");
            barrier.wait().await;
            let mut next = 0;
            let mut samples = Vec::with_capacity(EDITS as usize);
            while next < EDITS {
                if !tokio::time::timeout(Duration::from_secs(20), client.step())
                    .await
                    .unwrap_or(false)
                {
                    break;
                }
                let now = micros_since(epoch);
                let map = client.doc.get_or_insert_map("bench");
                let txn = client.doc.transact();
                while let Some(sent) = map
                    .get(&txn, &format!("s{next}"))
                    .and_then(|v| v.cast::<f64>().ok())
                {
                    samples.push(now - sent);
                    next += 1;
                }
            }
            samples
        }));
    }
    let mut editor = SyncClient::connect(&server.addr, &project, "project", &token, Doc::new())
        .await
        .unwrap();
    barrier.wait().await;
    let mut tick = tokio::time::interval(EDIT_EVERY);
    for seq in 0..EDITS {
        tick.tick().await;
        let sent = micros_since(epoch);
        editor
            .edit(move |txn| {
                txn.get_or_insert_map("bench")
                    .insert(txn, format!("s{seq}"), sent);
            })
            .await;
        // Read acknowledgements so the editor's socket never backs up.
        editor.pump_for(Duration::from_micros(100)).await;
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    let expected = receivers * EDITS as usize;
    assert_eq!(all.len(), expected, "every edit reached every client");
    (
        percentile(&all, 0.5) / 1e3,
        percentile(&all, 0.99) / 1e3,
        all.len(),
    )
}

/// Writers (`writers` in each of `rooms` projects) send as fast as they
/// can; the rate at which the rooms make updates durable (and fan them
/// out to the other writers), all rooms together.
async fn throughput(server: &Server, rooms: usize, writers: usize, each: u64) -> f64 {
    let mut clients = Vec::new();
    for _ in 0..rooms {
        let (project, token) = server.create_project("Throughput").await;
        for _ in 0..writers {
            clients.push(
                SyncClient::connect(&server.addr, &project, "project", &token, Doc::new())
                    .await
                    .unwrap(),
            );
        }
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(w, mut client)| {
            tokio::spawn(async move {
                for i in 0..each {
                    client
                        .edit(move |txn| {
                            txn.get_or_insert_map("t")
                                .insert(txn, format!("{w}-{i}"), 1.0);
                        })
                        .await;
                    if i % 64 == 0 {
                        client.pump_for(Duration::from_micros(50)).await;
                    }
                }
                client.saved().await;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (rooms as u64 * writers as u64 * each) as f64 / started.elapsed().as_secs_f64()
}

/// A 128 × 200 project: stored, then loaded cold by a new client.
/// Figures of the 128 × 200 project (milliseconds, KiB, KiB of RSS).
struct BigProject {
    build_ms: f64,
    apply_ms: f64,
    room_ms: f64,
    synced_ms: f64,
    plan_ms: f64,
    /// Reading the project again after one clip moved, as a UI does on
    /// every pointer move of a drag (median of 21): in full, and through
    /// `ProjectReader`.
    reread_full_ms: f64,
    reread_incremental_ms: f64,
    update_kib: f64,
    rss_before_kib: u64,
    rss_after_kib: u64,
}

/// Moves one clip 21 times in `project` and returns the median time of
/// `read` after each move.
fn reread_ms(project: &ProjectDoc, mut read: impl FnMut(&yrs::Transaction) -> usize) -> f64 {
    let txn = project.doc().transact();
    let clip = project.clips(&txn).swap_remove(0);
    drop(txn);
    let mut times: Vec<f64> = (0..21u64)
        .map(|i| {
            project.move_clip(
                &mut project.doc().transact_mut(),
                &clip.id,
                &clip.track,
                i * 1_000,
            );
            let txn = project.doc().transact();
            let started = Instant::now();
            assert_eq!(read(&txn), 128 * 200);
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

async fn big_project(server: &mut Server) -> BigProject {
    let (project, token) = server.create_project("Big").await;
    let source = ProjectDoc::new(Doc::new());
    let built = Instant::now();
    for t in 0..128 {
        let mut txn = source.doc().transact_mut();
        let track = source.add_track(&mut txn, &format!("Track {t}"), 2);
        for c in 0..200u64 {
            let asset = format!("{:064x}", t * 1000 + c);
            source.add_clip(&mut txn, &track, &asset, c * 96_000, 48_000);
        }
    }
    let build_ms = built.elapsed().as_secs_f64() * 1e3;
    let state = source
        .doc()
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let applied = Instant::now();
    let local = Doc::new();
    local
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(&state).unwrap())
        .unwrap();
    let apply_ms = applied.elapsed().as_secs_f64() * 1e3;
    let local = ProjectDoc::new(local);
    let reread_full_ms = reread_ms(&local, |txn| local.read(txn).clips.len());
    let mut reader = ProjectReader::new(&local);
    let reread_incremental_ms = reread_ms(&local, |txn| reader.read(&local, txn).clips.len());
    let mut writer = SyncClient::connect(&server.addr, &project, "project", &token, Doc::new())
        .await
        .unwrap();
    writer
        .send(&stemroom_model::sync::Message::Sync(
            stemroom_model::sync::SyncMessage::Update(state.clone()),
        ))
        .await;
    writer.saved().await;
    writer.close().await;
    // Cold: a fresh server process loads the room from SQLite. Three
    // restarts; the median (this shared machine's speed varies by ~1.5×).
    let mut loads = Vec::new();
    let mut before = 0;
    for _ in 0..3 {
        server.kill9();
        server.restart();
        before = rss_kib(server.pid());
        // The info request opens the room: storage → in-memory documents.
        let started = Instant::now();
        let info = common::http(
            &server.addr,
            "GET",
            &format!("/api/projects/{project}"),
            &[("authorization", &format!("Bearer {token}"))],
            b"",
        )
        .await;
        assert_eq!(info.status, 200);
        loads.push(started.elapsed().as_secs_f64() * 1e3);
    }
    loads.sort_by(f64::total_cmp);
    let room_ms = loads[1];
    let pid = server.pid();
    let started = Instant::now();
    let reader = SyncClient::connect(&server.addr, &project, "project", &token, Doc::new())
        .await
        .unwrap();
    let synced_ms = started.elapsed().as_secs_f64() * 1e3;
    let planned = Instant::now();
    let replica = ProjectDoc::new(reader.doc.clone());
    let read = replica.read(&replica.doc().transact());
    let plan = read.to_engine(48_000, |_| None);
    let plan_ms = planned.elapsed().as_secs_f64() * 1e3;
    assert_eq!(plan.tracks.len(), 128);
    assert_eq!(read.clips.len(), 128 * 200);
    BigProject {
        build_ms,
        apply_ms,
        room_ms,
        synced_ms,
        plan_ms,
        reread_full_ms,
        reread_incremental_ms,
        update_kib: state.len() as f64 / 1024.0,
        rss_before_kib: before,
        rss_after_kib: rss_kib(pid),
    }
}

async fn idle_connections(server: &Server, count: usize) -> (u64, u64) {
    let pid = server.pid();
    let mut projects = Vec::new();
    for _ in 0..10 {
        projects.push(server.create_project("Idle").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let mut clients = Vec::with_capacity(count);
    for i in 0..count {
        let (project, token) = &projects[i % projects.len()];
        clients.push(
            SyncClient::connect(&server.addr, project, "project", token, Doc::new())
                .await
                .expect("connects"),
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid);
    drop(clients);
    (before, after)
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start(dir.path(), &["--max-connections-per-ip", "5000"]);
        let postgres = test_database_in_use();
        let storage = if postgres { "PostgreSQL" } else { "SQLite" };
        println!("== sync server (release binary, loopback, this machine; storage: {storage}) ==");
        println!(
            "{:<44} {:>10} {:>10} {:>12}",
            "edit → remote apply", "p50 ms", "p99 ms", "samples"
        );
        for clients in [2, 20, 100] {
            let (p50, p99, n) = latency(&[&server], clients).await;
            let note = if clients == 100 {
                format!("  (target p99 < 25 ms: {:.1}× headroom)", 25.0 / p99)
            } else {
                String::new()
            };
            println!(
                "{:<44} {p50:>10.2} {p99:>10.2} {n:>12}{note}",
                format!("{clients} clients, one edit per {} ms", EDIT_EVERY.as_millis())
            );
        }
        if postgres {
            let other_dir = tempfile::tempdir().unwrap();
            let other = Server::start_sharing(
                other_dir.path(),
                &server,
                &["--max-connections-per-ip", "5000"],
            );
            let (p50, p99, n) = latency(&[&server, &other], 100).await;
            println!(
                "{:<44} {p50:>10.2} {p99:>10.2} {n:>12}  (target p99 < 25 ms: {:.1}× headroom)",
                "100 clients over 2 instances (50 + 50)",
                25.0 / p99
            );
        }
        let rate = throughput(&server, 1, 4, 2_500).await;
        println!(
            "{:<44} {rate:>10.0} updates/s durable and fanned out",
            "one room, 4 writers × 2500 pipelined edits"
        );
        if postgres {
            let rate = throughput(&server, 10, 1, 1_000).await;
            println!(
                "{:<44} {rate:>10.0} updates/s durable (all rooms)",
                "ten rooms, 1 writer × 1000 pipelined edits each"
            );
        }
        let big = big_project(&mut server).await;
        println!(
            "128 tracks × 200 clips ({:.0} KiB as an update; built in {:.0} ms):",
            big.update_kib, big.build_ms
        );
        println!(
            "  server load, {storage} → documents in memory (fresh process, median of 3): {:.1} ms (target < {} ms: {:.2}×)",
            big.room_ms,
            if postgres { 150 } else { 100 },
            (if postgres { 150.0 } else { 100.0 }) / big.room_ms
        );
        println!(
            "  a client joins: connect → synced (encode, transfer, decode, apply): {:.1} ms",
            big.synced_ms
        );
        println!(
            "  decoding and applying the update in this process: {:.1} ms",
            big.apply_ms
        );
        println!(
            "  client read + repair + render plan: {:.1} ms",
            big.plan_ms
        );
        println!(
            "  read again after one clip moved: in full {:.1} ms, ProjectReader {:.1} ms ({:.1}× faster)",
            big.reread_full_ms,
            big.reread_incremental_ms,
            big.reread_full_ms / big.reread_incremental_ms
        );
        println!(
            "  server memory: {:.1} MiB before the load, {:.1} MiB with the project open",
            big.rss_before_kib as f64 / 1024.0,
            big.rss_after_kib as f64 / 1024.0
        );
        drop(server);
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), &["--max-connections-per-ip", "5000"]);
        let (before, after) = idle_connections(&server, 1000).await;
        println!(
            "1000 idle connections (10 projects): server memory {:.1} → {:.1} MiB ({:.1} KiB per connection)",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            after.saturating_sub(before) as f64 / 1000.0
        );
    });
}
