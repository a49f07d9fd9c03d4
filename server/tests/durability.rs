//! kill -9 at random moments while clients stream edits: after every
//! restart, each update the server reported durable is there.

mod common;

use std::time::Duration;

use common::{Server, SyncClient, next};
use yrs::{Doc, Map, Transact, WriteTxn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_durable_update_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let (project, owner) = server.create_project("Crash").await;
    let mut seed = 0x5eed_u64;
    let trials = 20;
    let mut total_durable = 0;
    for trial in 0..trials {
        // Two writers stream edits; one of them on the review doc.
        let mut writers = Vec::new();
        for doc in ["project", "review"] {
            writers.push(
                SyncClient::connect(&server.addr, &project, doc, &owner, Doc::new())
                    .await
                    .unwrap(),
            );
        }
        let kill_after = Duration::from_millis(20 + next(&mut seed) % 200);
        let deadline = tokio::time::Instant::now() + kill_after;
        // Each edit writes key "t{trial}-{n}"; the durable count says which
        // prefix of a writer's edits is stored.
        let mut n = [0u64; 2];
        // Messages counted before the first edit (the sync answer).
        let base: Vec<u64> = writers.iter().map(|w| w.sent).collect();
        while tokio::time::Instant::now() < deadline {
            for (w, writer) in writers.iter_mut().enumerate() {
                let key = format!("t{trial}-{}", n[w]);
                writer
                    .edit(move |txn| {
                        let map = txn.get_or_insert_map("log");
                        map.insert(txn, key, 1.0);
                    })
                    .await;
                n[w] += 1;
                // Read whatever acknowledgements have arrived, without waiting.
                writer.pump_for(Duration::from_micros(200)).await;
            }
        }
        server.kill9();
        // Acknowledgements sent just before the kill are still in the
        // socket buffers: read them all, so a premature one is caught.
        for writer in &mut writers {
            writer.pump_for(Duration::from_millis(500)).await;
        }
        let durable: Vec<u64> = writers
            .iter()
            .zip(&base)
            .map(|(w, base)| w.durable.saturating_sub(*base))
            .collect();
        drop(writers);
        server.restart();
        for (w, doc) in ["project", "review"].into_iter().enumerate() {
            let reader = SyncClient::connect(&server.addr, &project, doc, &owner, Doc::new())
                .await
                .unwrap();
            let map = reader.doc.get_or_insert_map("log");
            let txn = reader.doc.transact();
            for i in 0..durable[w] {
                assert!(
                    map.contains_key(&txn, &format!("t{trial}-{i}")),
                    "trial {trial} (kill after {kill_after:?}): {doc} edit {i} of {} acknowledged durable is lost",
                    durable[w]
                );
            }
            total_durable += durable[w];
        }
    }
    assert!(
        total_durable > trials as u64 * 10,
        "the trials exercised real traffic ({total_durable} durable edits)"
    );
}
