//! Moving a project between wasm instances that share no memory (the
//! fallback worklet): the description as JSON, the audio as a separate list
//! of assets that the browser can transfer without copying.
//!
//! Clips refer to assets by index into that list; the same asset used by
//! many clips travels once.

use std::cell::RefCell;
use std::sync::Arc;

use crate::project::{AudioAsset, ProjectDesc};

thread_local! {
    /// The asset list of the encode or decode running on this thread.
    static TABLE: RefCell<Option<Vec<Arc<AudioAsset>>>> = const { RefCell::new(None) };
}

/// Splits a project into its JSON description and its assets.
pub fn encode(desc: &ProjectDesc) -> (String, Vec<Arc<AudioAsset>>) {
    TABLE.set(Some(Vec::new()));
    let json = serde_json::to_string(desc);
    let assets = TABLE.take().unwrap_or_default();
    // Every field is plain data; serialising it cannot fail.
    (json.unwrap_or_default(), assets)
}

/// Rebuilds a project from [`encode`]'s parts. A clip pointing past the
/// asset list becomes a missing asset (silent, reported by the mixer).
pub fn decode(json: &str, assets: Vec<Arc<AudioAsset>>) -> Result<ProjectDesc, String> {
    TABLE.set(Some(assets));
    let result =
        serde_json::from_str(json).map_err(|e| format!("malformed project description: {e}"));
    TABLE.set(None);
    result
}

/// `#[serde(with)]` for a clip's asset: an index into the thread's table.
pub(crate) mod asset_ref {
    use super::*;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        asset: &Option<Arc<AudioAsset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let index = asset.as_ref().and_then(|asset| {
            TABLE.with_borrow_mut(|table| {
                let table = table.as_mut()?;
                let i = table
                    .iter()
                    .position(|a| Arc::ptr_eq(a, asset))
                    .unwrap_or_else(|| {
                        table.push(asset.clone());
                        table.len() - 1
                    });
                Some(i as u32)
            })
        });
        index.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Arc<AudioAsset>>, D::Error> {
        let index = Option::<u32>::deserialize(d)?;
        Ok(index.and_then(|i| TABLE.with_borrow(|table| table.as_ref()?.get(i as usize).cloned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mixer::Mixer;
    use crate::project::ClipDesc;

    #[test]
    fn a_project_survives_the_trip_and_renders_identically() {
        let mut desc = crate::workload::mixing_project(48_000, 5, 0.5);
        // The same asset on two clips travels once.
        let shared = desc.tracks[0].clips[0].asset.clone().unwrap();
        desc.tracks[1].clips.push(ClipDesc::whole(shared, 10_000));
        let (json, assets) = encode(&desc);
        assert_eq!(assets.len(), 5);
        let copies: Vec<Arc<AudioAsset>> = assets
            .iter()
            .map(|a| {
                AudioAsset::new(
                    (0..a.channel_count())
                        .map(|c| a.channel(c).to_vec())
                        .collect(),
                )
            })
            .collect();
        let back = decode(&json, copies).unwrap();
        assert_eq!(back, desc, "assets compare by content");
        let (mut a, mut b) = (Mixer::new(&desc), Mixer::new(&back));
        a.transport.playing = true;
        b.transport.playing = true;
        for _ in 0..100 {
            assert_eq!(a.process(), b.process());
        }
    }

    #[test]
    fn bad_input_is_an_error_or_a_missing_asset() {
        assert!(decode("{ not json", Vec::new()).is_err());
        let desc = crate::workload::mixing_project(48_000, 2, 0.1);
        let (json, _) = encode(&desc);
        let back = decode(&json, Vec::new()).unwrap();
        assert_eq!(Mixer::new(&back).report.missing_assets, 2);
    }
}
