//! [`MemoryStore`]: cached values in this process, bounded by bytes.
//!
//! Entries live in a `quick_cache` (sharded, CLOCK-Pro eviction) weighed by
//! their size, so a region's memory is bounded whatever its rows. Expiry is
//! checked on read; an expired entry stays until it is evicted or
//! overwritten. The store also keeps its generation counters (see
//! [`super`]): a value is stored only if the generations it was computed
//! under are still current, checked and written under one lock, so a commit
//! that bumps a generation either comes before the check (the value is
//! refused) or after the write (the value is unreachable from then on).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// One value with its freshness and the generations it was computed under.
#[derive(Debug)]
pub(crate) struct Entry {
    pub payload: Arc<[u8]>,
    pub fresh_until_ms: u64,
    /// After this the entry is gone (fresh + stale-while-revalidate window).
    pub hard_until_ms: u64,
    pub generations: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct ByteWeighter;

impl Weighter<String, Arc<Entry>> for ByteWeighter {
    fn weight(&self, key: &String, entry: &Arc<Entry>) -> u64 {
        // Key, payload, and a fixed allowance for the entry's bookkeeping.
        (key.len() + entry.payload.len() + entry.generations.len() * 8 + 96) as u64
    }
}

/// In-process values of one region.
pub struct MemoryStore {
    entries: Cache<String, Arc<Entry>, ByteWeighter>,
    generations: Mutex<HashMap<String, u64>>,
    max_bytes: u64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entries.len())
            .field("bytes", &self.entries.weight())
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl MemoryStore {
    /// A store of at most about `max_bytes` of keys and values.
    pub fn new(max_bytes: u64) -> MemoryStore {
        // quick_cache wants an estimate of the item count; assume ~1 KiB values.
        let items = (max_bytes / 1024).clamp(16, 1 << 20) as usize;
        MemoryStore {
            entries: Cache::with_weighter(items, max_bytes, ByteWeighter),
            generations: Mutex::new(HashMap::new()),
            max_bytes,
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held now (as weighed).
    pub fn bytes(&self) -> u64 {
        self.entries.weight()
    }

    fn current(map: &HashMap<String, u64>, keys: &[String]) -> Vec<u64> {
        keys.iter()
            .map(|k| map.get(k).copied().unwrap_or(0))
            .collect()
    }

    /// The entry under `key` (unless past its hard expiry) and the current
    /// values of the generation counters `gens`.
    pub(crate) fn lookup(
        &self,
        key: &str,
        gens: &[String],
        now_ms: u64,
    ) -> (Option<Arc<Entry>>, Vec<u64>) {
        let current = Self::current(&self.generations.lock(), gens);
        let entry = self.entries.get(key).filter(|e| now_ms < e.hard_until_ms);
        (entry, current)
    }

    /// Stores `entry` if the counters `gens` still have the values it was
    /// computed under; false if a commit moved one in the meantime.
    pub(crate) fn store_if_current(&self, key: &str, gens: &[String], entry: Entry) -> bool {
        let map = self.generations.lock();
        if Self::current(&map, gens) != entry.generations {
            return false;
        }
        self.entries.insert(key.to_string(), Arc::new(entry));
        true
    }

    pub(crate) fn delete(&self, key: &str) {
        self.entries.remove(key);
    }

    /// Bumps generation counters: values computed under the old ones are
    /// unreachable from now on.
    pub(crate) fn bump(&self, gens: &[String]) {
        let mut map = self.generations.lock();
        for key in gens {
            *map.entry(key.clone()).or_insert(0) += 1;
        }
    }

    /// Drops every entry (counters are kept).
    pub(crate) fn clear(&self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(payload: &[u8], generations: Vec<u64>) -> Entry {
        Entry {
            payload: Arc::from(payload),
            fresh_until_ms: 100,
            hard_until_ms: 200,
            generations,
        }
    }

    #[test]
    fn stored_only_under_current_generations() {
        let store = MemoryStore::new(1 << 20);
        let gens = vec!["gen:t".to_string()];
        let (none, current) = store.lookup("k", &gens, 0);
        assert!(none.is_none());
        assert_eq!(current, [0]);
        assert!(store.store_if_current("k", &gens, entry(b"v", current.clone())));
        assert!(
            store.lookup("k", &gens, 150).0.is_some(),
            "stale but present"
        );
        assert!(
            store.lookup("k", &gens, 200).0.is_none(),
            "past hard expiry"
        );
        store.bump(&gens);
        assert!(
            !store.store_if_current("k", &gens, entry(b"old", current)),
            "computed before the bump: refused"
        );
        assert_eq!(store.lookup("k", &gens, 0).1, [1]);
    }

    #[test]
    fn bounded_by_bytes() {
        let store = MemoryStore::new(64 * 1024);
        for i in 0..1_000 {
            store.store_if_current(&format!("k{i}"), &[], entry(&[0u8; 1000], vec![]));
        }
        assert!(store.bytes() <= 64 * 1024, "{store:?}");
        assert!(store.len() < 100, "{store:?}");
    }
}
