//! The dedupe set, bounded: each delivery id as a 128-bit digest with the segment generation
//! that holds it, forgotten when that segment is pruned or when more than `max` ids are held.

use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};

/// A delivery id's digest: ids are up to 128 bytes, this is 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key(u128);

pub(super) fn key(id: &str) -> Key {
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    Key(u128::from_le_bytes(first))
}

pub(super) struct Seen {
    set: HashSet<Key>,
    /// Arrival order, with the generation of the segment each id was recorded in.
    order: VecDeque<(Key, u64)>,
    max: usize,
}

impl Seen {
    pub(super) fn new(max: usize) -> Seen {
        Seen {
            set: HashSet::new(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    pub(super) fn contains(&self, key: Key) -> bool {
        self.set.contains(&key)
    }

    /// `false` when the id was already there.
    pub(super) fn insert(&mut self, key: Key, generation: u64) -> bool {
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back((key, generation));
        while self.order.len() > self.max {
            if let Some((old, _)) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Takes back ids whose record never became durable.
    pub(super) fn remove(&mut self, key: Key) {
        self.set.remove(&key);
        if let Some(i) = self.order.iter().rposition(|(k, _)| *k == key) {
            self.order.remove(i);
        }
    }

    /// Forgets every id recorded in generation `generation` or before.
    pub(super) fn forget_through(&mut self, generation: u64) {
        while let Some((key, g)) = self.order.front().copied() {
            if g > generation {
                break;
            }
            self.order.pop_front();
            self.set.remove(&key);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_max_ids_and_forgets_the_oldest() {
        let mut seen = Seen::new(3);
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            assert!(seen.insert(key(id), i as u64));
        }
        assert!(!seen.insert(key("d"), 9));
        assert_eq!(seen.len(), 3);
        assert!(!seen.contains(key("a")) && seen.contains(key("b")));
        seen.forget_through(2);
        assert!(!seen.contains(key("c")) && seen.contains(key("d")));
        seen.remove(key("d"));
        assert_eq!(seen.len(), 0);
    }
}
