//! Shared pieces of the model's tests.

// Each test file uses some of them.
#![allow(dead_code)]

use stemroom_model::project::ProjectDoc;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, Transact, Update};

/// A small deterministic generator (xorshift), so failures reproduce from
/// their seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Copies everything `from` has that `to` lacks, as a remote update.
pub fn sync(from: &ProjectDoc, to: &ProjectDoc) {
    let missing = to.doc().transact().state_vector();
    let update = from.doc().transact().encode_state_as_update_v1(&missing);
    to.doc()
        .transact_mut_with("remote")
        .apply_update(Update::decode_v1(&update).unwrap())
        .unwrap();
}
