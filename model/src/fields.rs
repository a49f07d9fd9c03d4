//! Reading typed fields from yrs maps, forgivingly: a field a collaborator
//! never wrote, or wrote with the wrong type, reads as its default, so a
//! document from any peer always yields a playable project.

use yrs::{Any, Map, MapRef, Out, ReadTxn};

pub fn number(map: &MapRef, txn: &impl ReadTxn, key: &str) -> Option<f64> {
    map.get(txn, key)?
        .cast::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

pub fn number_or(map: &MapRef, txn: &impl ReadTxn, key: &str, default: f64) -> f64 {
    number(map, txn, key).unwrap_or(default)
}

pub fn text(map: &MapRef, txn: &impl ReadTxn, key: &str) -> Option<String> {
    map.get(txn, key)?.cast::<String>().ok()
}

pub fn text_or_default(map: &MapRef, txn: &impl ReadTxn, key: &str) -> String {
    text(map, txn, key).unwrap_or_default()
}

pub fn flag(map: &MapRef, txn: &impl ReadTxn, key: &str) -> bool {
    map.get(txn, key)
        .and_then(|v| v.cast::<bool>().ok())
        .unwrap_or(false)
}

/// A non-negative frame position (fractions truncated).
pub fn frames(map: &MapRef, txn: &impl ReadTxn, key: &str) -> u64 {
    number(map, txn, key).map_or(0, |v| v.max(0.0) as u64)
}

/// The nested map at `key`, if it is one.
pub fn submap(map: &MapRef, txn: &impl ReadTxn, key: &str) -> Option<MapRef> {
    match map.get(txn, key)? {
        Out::YMap(m) => Some(m),
        _ => None,
    }
}

/// The numbers of an array value (non-numbers skipped).
pub fn numbers(map: &MapRef, txn: &impl ReadTxn, key: &str) -> Vec<f64> {
    match map.get(txn, key) {
        Some(Out::Any(Any::Array(items))) => items
            .iter()
            .filter_map(|v| v.clone().cast::<f64>().ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// Every entry of a root map that is itself a map, by id.
pub fn entities<'a, T: ReadTxn>(
    root: &'a MapRef,
    txn: &'a T,
) -> impl Iterator<Item = (String, MapRef)> + 'a {
    root.iter(txn).filter_map(|(id, value)| match value {
        Out::YMap(map) => Some((id.to_string(), map)),
        _ => None,
    })
}
