//! Property test of the sync frame decoder, the first code that touches a
//! client's bytes: on any input it returns messages or an error, never
//! panics; and every valid frame, however packed, decodes to what was sent.

mod common;

use common::Rng;
use stemroom_model::sync::{self, Message, SyncMessage};
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::{Doc, Map, ReadTxn, StateVector, Transact};

/// Valid messages of every kind, with real update payloads.
fn samples() -> Vec<Message> {
    let doc = Doc::new();
    let map = doc.get_or_insert_map("tracks");
    let update = {
        let mut txn = doc.transact_mut();
        map.insert(&mut txn, "t1", "Drums");
        map.insert(&mut txn, "t2", 0.5);
        txn.encode_update_v1()
    };
    let sv = doc.transact().state_vector();
    let awareness = AwarenessUpdate {
        clients: [(
            yrs::block::ClientID::new(42),
            AwarenessUpdateEntry {
                clock: 3,
                json: r#"{"name":"Ana","playhead":1.5}"#.into(),
            },
        )]
        .into(),
    };
    vec![
        Message::Sync(SyncMessage::SyncStep1(sv)),
        Message::Sync(SyncMessage::SyncStep1(StateVector::default())),
        Message::Sync(SyncMessage::SyncStep2(update.clone())),
        Message::Sync(SyncMessage::Update(update)),
        Message::Awareness(awareness),
        Message::AwarenessQuery,
        Message::Auth(Some("denied".into())),
        sync::durable(123_456),
    ]
}

#[test]
fn packed_valid_frames_decode_to_what_was_sent() {
    let samples = samples();
    let mut rng = Rng(0x1234_5678);
    for _ in 0..2_000 {
        let count = 1 + rng.below(6);
        let messages: Vec<Message> = (0..count)
            .map(|_| samples[rng.below(samples.len())].clone())
            .collect();
        let frame: Vec<u8> = messages.iter().flat_map(sync::encode).collect();
        assert_eq!(sync::decode_frame(&frame).unwrap(), messages);
    }
}

#[test]
fn any_bytes_decode_or_fail_cleanly() {
    let samples = samples();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    // yrs asserts some invariants with debug panics that decode_frame turns
    // into errors; keep their messages out of the test output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..100_000 {
        let frame: Vec<u8> = if i % 2 == 0 {
            // Pure noise of random length.
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            // A valid frame with a few bytes flipped, cut, or inserted.
            let mut frame = sync::encode(&samples[rng.below(samples.len())]);
            for _ in 0..1 + rng.below(3) {
                match rng.below(3) {
                    0 if !frame.is_empty() => {
                        let at = rng.below(frame.len());
                        frame[at] = rng.next() as u8;
                    }
                    1 if !frame.is_empty() => {
                        let at = rng.below(frame.len());
                        frame.truncate(at);
                    }
                    _ => {
                        let at = rng.below(frame.len() + 1);
                        frame.insert(at, rng.next() as u8);
                    }
                }
            }
            frame
        };
        // What the server does next with a decoded update: decode it too.
        if let Ok(messages) = sync::decode_frame(&frame) {
            decoded += 1;
            for message in messages {
                if let Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u)) = message {
                    let _ = sync::decode_update(&u);
                }
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(
        decoded > 1_000,
        "mutations still reach the decoder's inner paths"
    );
}

/// Resident pages the process touched so far (minor faults), from /proc.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    fields.get(7).and_then(|f| f.parse().ok()).unwrap_or(0)
}

#[test]
fn a_few_hostile_bytes_cannot_make_the_decoder_touch_much_memory() {
    // An awareness message claiming ~93 million entries in 9 bytes (found by
    // the property test above: it made yrs write a 128 MiB hash table), and
    // a state vector and an update claiming millions of clients.
    let hostile: [&[u8]; 3] = [
        &[1, 9, 229, 214, 153, 44, 190, 17, 175, 184, 183],
        &[0, 0, 5, 0xff, 0xff, 0xff, 0x7f, 1],
        &[0, 2, 5, 0xff, 0xff, 0xff, 0x7f, 1],
    ];
    for frame in hostile {
        let before = minor_faults();
        assert!(sync::decode_frame(frame).is_err(), "{frame:?} is refused");
        let touched = minor_faults() - before;
        assert!(touched < 256, "{frame:?} touched {touched} pages");
    }
    assert!(sync::decode_update(&[0xff, 0xff, 0xff, 0x7f, 0, 0]).is_err());
}
