//! Fractional indexing: order keys that always have room between them.
//!
//! Items in a list (tracks, devices in a chain) carry an order key; moving
//! one is a single field write of a key between its new neighbours. yrs has
//! no move, and delete-then-insert duplicates items under concurrent moves.
//! Two replicas may pick the same key concurrently: readers sort by (key,
//! id), which every replica computes the same way.

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE: u32 = DIGITS.len() as u32;

fn digit(c: u8) -> u32 {
    DIGITS.iter().position(|d| *d == c).unwrap_or(0) as u32
}

/// A key strictly between `low` and `high` (`None`: the open ends). Keys are
/// compared as strings; the result never ends in the lowest digit, so there
/// is always room below it.
pub fn between(low: Option<&str>, high: Option<&str>) -> String {
    let low = low.unwrap_or("").as_bytes();
    let high = high.map(str::as_bytes);
    let mut key = Vec::new();
    let mut bounded = high.is_some();
    for i in 0.. {
        let l = low.get(i).map_or(0, |c| digit(*c));
        let h = match (bounded, high) {
            (true, Some(h)) => h.get(i).map_or(BASE, |c| digit(*c)),
            _ => BASE,
        };
        if h > l + 1 {
            key.push(DIGITS[((l + h) / 2) as usize]);
            break;
        }
        key.push(DIGITS[l as usize]);
        if h == l + 1 {
            // Equal so far to `low`; anything longer stays below `high`.
            bounded = false;
        }
    }
    String::from_utf8(key).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fall_strictly_between_their_neighbours() {
        let first = between(None, None);
        let after = between(Some(&first), None);
        let before = between(None, Some(&first));
        assert!(before < first && first < after);
        // Repeatedly inserting at the same spot keeps working (and stays short).
        let (mut low, high) = (first.clone(), after.clone());
        for _ in 0..200 {
            let mid = between(Some(&low), Some(&high));
            assert!(low < mid && mid < high, "{low} < {mid} < {high}");
            low = mid;
        }
        assert!(low.len() < 80, "{}", low.len());
        let mut high = first;
        for _ in 0..200 {
            let mid = between(None, Some(&high));
            assert!(mid < high && !mid.is_empty());
            high = mid;
        }
    }
}
