//! Result-cache regions: named caches of computed values (the ORM stores
//! encoded rows), each with a store, a default expiry and a key prefix.
//!
//! A region knows nothing of rows, SQL or entities: a value is opaque bytes
//! that the caller encodes, decodes and computes. What a region owns is
//! *when* a value may be served and *who* computes it:
//!
//! * **Keys.** `{namespace}{prefix}{id}`, where `id` is a SHA-1 of whatever
//!   identifies the value ([`KeyHasher`]; the ORM hashes the SQL, its
//!   parameters in order, and the tables read) or a name the caller chose.
//!   The namespace is the store's (Redis: `orm:` by default; memory: none).
//! * **Freshness.** A value is fresh for its expiry. With
//!   stale-while-revalidate, it is then served *stale* for a further window
//!   while one background task computes a new one; after that it is gone.
//! * **Generations.** A value records the generation counters it was
//!   computed under: its region's and one per table it read. A commit that
//!   writes a table bumps that table's counter, [`Region::invalidate_all`]
//!   bumps the region's; a value whose counters moved is a miss, never
//!   served, not even stale. The counters are read *before* the value is
//!   computed and the value is stored only if they are unchanged at store
//!   time (atomically, in the store), so a value computed by a transaction
//!   that started before a conflicting commit is never stored over the
//!   newer state. In Redis the counters are shared, so a commit in one
//!   process invalidates every process's values.
//! * **Dogpile lock.** On a miss exactly one caller computes: in this
//!   process the others wait for its bytes ([`crate::lock`]); across
//!   processes the computing caller holds a Redis lock (`SET NX PX` with a
//!   random token, released by a script only by its owner) and callers in
//!   other processes poll for the value until the lock is free or the lock
//!   timeout passes, then compute themselves. A lock whose owner died
//!   expires by itself; nobody waits past the lock timeout.
//! * **Faults.** A store that cannot be reached is skipped (see
//!   [`RedisStore`]): the caller computes, nothing is stored, the caller
//!   gets its value. Bytes that do not decode (a damaged value, an older
//!   format) are a miss, counted in [`RegionStats::corrupt`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use orm_cache::region::{KeyHasher, Origin, Region, Source};
//!
//! let region = Arc::new(Region::memory("squares").expiry(Duration::from_secs(60)).build());
//! let mut id = KeyHasher::new();
//! id.part(b"square of 7");
//! let key = region.hashed_key(id, &["numbers"]);
//! let decode = |b: &[u8]| b.try_into().ok().map(u64::from_le_bytes);
//! let compute = |_: Origin| async { Ok::<_, String>((49u64.to_le_bytes().to_vec(), 49u64)) };
//! let first = region.get_or_compute(&key, None, decode, compute).await.unwrap();
//! let again = region.get_or_compute(&key, None, decode, compute).await.unwrap();
//! assert_eq!((first.value, first.source), (49, Source::Computed));
//! assert_eq!((again.value, again.source), (49, Source::Hit));
//! # });
//! ```

mod breaker;
mod envelope;
mod memory;
mod redis;

use std::collections::HashSet;
use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub use self::redis::{RedisOptions, RedisStats, RedisStore};
pub use memory::MemoryStore;

use crate::lock::{self, Flights, Join};
use memory::Entry;

/// Why a region or store could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionError {
    /// A setting that cannot work (a Redis URL that does not parse).
    Config(String),
}

impl Display for RegionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegionError::Config(m) => write!(f, "cache region configuration: {m}"),
        }
    }
}

impl std::error::Error for RegionError {}

/// Where a region keeps its values.
#[derive(Debug, Clone)]
pub enum Store {
    /// In this process, bounded by bytes.
    Memory(Arc<MemoryStore>),
    /// In Redis, shared by processes.
    Redis(Arc<RedisStore>),
}

impl Store {
    fn namespace(&self) -> &str {
        match self {
            Store::Memory(_) => "",
            Store::Redis(r) => r.namespace(),
        }
    }

    /// Whether two handles are the same store.
    pub fn same(&self, other: &Store) -> bool {
        match (self, other) {
            (Store::Memory(a), Store::Memory(b)) => Arc::ptr_eq(a, b),
            (Store::Redis(a), Store::Redis(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The generation counter of a table in this store.
    fn table_generation(&self, table: &str) -> String {
        format!("{}gen:{table}", self.namespace())
    }

    /// A commit wrote these tables: every value that read one of them is
    /// unreachable from now on. On Redis, for every process; if Redis cannot
    /// be reached the bumps are sent with its next lookup that gets through.
    pub async fn tables_written(&self, tables: &[&str]) {
        let gens: Vec<String> = tables.iter().map(|t| self.table_generation(t)).collect();
        match self {
            Store::Memory(m) => m.bump(&gens),
            Store::Redis(r) => {
                let _ = r.bump(&gens).await;
            }
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A fresh value from the store.
    Hit,
    /// An expired value within the stale-while-revalidate window (a
    /// background refresh was started).
    Stale,
    /// Computed by another caller in this process or another, while this
    /// one waited.
    Shared,
    /// Computed by this caller (and stored, unless a commit intervened).
    Computed,
    /// Computed by this caller because the store could not be reached.
    Bypassed,
}

/// Who asks for a computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A caller that waits for the value.
    Caller,
    /// The background refresh of a stale value.
    Refresh,
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub struct Fetched<V> {
    /// The value.
    pub value: V,
    /// Whether it was a hit, shared, computed, ...
    pub source: Source,
}

/// A key: the value's, its lock's, and the generation counters it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    full: String,
    lock: String,
    generations: Vec<String>,
}

impl CacheKey {
    /// The key the store keeps the value under.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

/// Builds the SHA-1 id of a value from its parts.
#[derive(Clone, Default)]
pub struct KeyHasher(sha1_smol::Sha1);

impl KeyHasher {
    /// A hasher with no parts yet.
    pub fn new() -> KeyHasher {
        KeyHasher(sha1_smol::Sha1::new())
    }

    /// Adds one part; parts are length-prefixed, so `("ab", "c")` and
    /// `("a", "bc")` differ.
    pub fn part(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// The id: 40 hex digits.
    pub fn finish(&self) -> String {
        self.0.digest().to_string()
    }
}

/// Counters of a region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegionStats {
    /// Fresh values served from the store.
    pub hits: u64,
    /// Stale values served while a refresh ran.
    pub stale_hits: u64,
    /// Lookups that found no usable value.
    pub misses: u64,
    /// Values computed by callers (refreshes not included).
    pub computed: u64,
    /// Values a caller got from another caller's computation.
    pub shared: u64,
    /// Values written to the store.
    pub stores: u64,
    /// Values not written because a commit moved a generation while they
    /// were computed.
    pub stores_refused: u64,
    /// Stored bytes that did not decode (counted as misses too).
    pub corrupt: u64,
    /// Lookups that could not reach the store.
    pub unavailable: u64,
    /// Misses that found another process computing (a held lock).
    pub lock_waits: u64,
    /// Waits that ended at the lock timeout.
    pub lock_timeouts: u64,
    /// Background refreshes run.
    pub refreshes: u64,
    /// Background refreshes that failed (logged; the stale value is not replaced).
    pub refresh_failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    computed: AtomicU64,
    shared: AtomicU64,
    stores: AtomicU64,
    stores_refused: AtomicU64,
    corrupt: AtomicU64,
    unavailable: AtomicU64,
    lock_waits: AtomicU64,
    lock_timeouts: AtomicU64,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// How a region is set up; [`RegionConfig::build`] makes the region.
#[derive(Debug, Clone)]
pub struct RegionConfig {
    name: String,
    prefix: Option<String>,
    expiry: Duration,
    stale: Option<Duration>,
    lock_timeout: Duration,
    store: StoreConfig,
}

#[derive(Debug, Clone)]
enum StoreConfig {
    Memory { max_bytes: u64 },
    Redis(Arc<RedisStore>),
}

impl RegionConfig {
    /// How long a value is fresh (default 5 minutes).
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }

    /// After its expiry, serve a value for up to `window` more while one
    /// background task computes a fresh one.
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale = Some(window);
        self
    }

    /// The longest a caller waits for another process's computation, and
    /// the life of the Redis lock (default 30 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The key prefix (default `"{name}:"`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The bound of a memory region (default 64 MiB); ignored for Redis.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        if let StoreConfig::Memory { max_bytes: m } = &mut self.store {
            *m = max_bytes;
        }
        self
    }

    /// The region's name, unique on a database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the region (a memory region gets its own store).
    pub fn build(self) -> Region {
        let store = match self.store {
            StoreConfig::Memory { max_bytes } => {
                Store::Memory(Arc::new(MemoryStore::new(max_bytes)))
            }
            StoreConfig::Redis(r) => Store::Redis(r),
        };
        let prefix = self.prefix.unwrap_or_else(|| format!("{}:", self.name));
        Region {
            name: self.name,
            prefix,
            expiry: self.expiry,
            stale: self.stale,
            lock_timeout: self.lock_timeout,
            store,
            flights: Flights::default(),
            refreshing: Mutex::new(HashSet::new()),
            counters: Counters::default(),
        }
    }
}

/// A named cache of values with a store, an expiry and a key prefix.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use orm_cache::region::{KeyHasher, Region, Source};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let region = Arc::new(Region::memory("short").expiry(Duration::from_secs(30)).build());
/// let mut id = KeyHasher::new();
/// id.part(b"SELECT 42");
/// let key = region.hashed_key(id, &["answers"]); // a write to `answers` invalidates it
/// let compute = |_| async { Ok::<_, String>((b"42".to_vec(), 42)) };
/// let decode = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<i32>().ok();
/// let first = region.get_or_compute(&key, None, decode, compute).await?;
/// let second = region.get_or_compute(&key, None, decode, compute).await?;
/// assert_eq!((first.value, first.source), (42, Source::Computed));
/// assert_eq!((second.value, second.source), (42, Source::Hit));
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
pub struct Region {
    name: String,
    prefix: String,
    expiry: Duration,
    stale: Option<Duration>,
    lock_timeout: Duration,
    store: Store,
    flights: Flights,
    /// Keys with a background refresh running in this process.
    refreshing: Mutex<HashSet<String>>,
    counters: Counters,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("expiry", &self.expiry)
            .field("stale", &self.stale)
            .field("store", &self.store)
            .finish()
    }
}

/// What a read found.
enum Found {
    Fresh(Arc<[u8]>),
    Stale(Arc<[u8]>),
    Missing,
    /// Bytes that are not a value of this format.
    Damaged,
}

struct Read {
    found: Found,
    /// The current generations, `None` if the store could not be reached.
    generations: Option<Vec<u64>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Removes a key from the set of running refreshes when the refresh ends.
struct Refreshing<'a>(&'a Region, String);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.refreshing.lock().remove(&self.1);
    }
}

impl Region {
    /// A region in this process's memory.
    pub fn memory(name: impl Into<String>) -> RegionConfig {
        RegionConfig::new(
            name.into(),
            StoreConfig::Memory {
                max_bytes: 64 << 20,
            },
        )
    }

    /// A region in Redis; regions may share one store.
    pub fn redis(name: impl Into<String>, store: &Arc<RedisStore>) -> RegionConfig {
        RegionConfig::new(name.into(), StoreConfig::Redis(store.clone()))
    }

    /// The region's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What every key of this region starts with (after the store's namespace).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long a stored value is fresh, unless a query gives its own.
    pub fn expiry(&self) -> Duration {
        self.expiry
    }

    /// Where the region keeps its values.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The key of a value identified by a hash, depending on `tables`.
    pub fn hashed_key(&self, id: KeyHasher, tables: &[&str]) -> CacheKey {
        self.key_for(&id.finish(), tables)
    }

    /// The key of a value the caller named, depending on `tables`.
    pub fn named_key(&self, name: &str, tables: &[&str]) -> CacheKey {
        self.key_for(&format!("key:{name}"), tables)
    }

    fn key_for(&self, id: &str, tables: &[&str]) -> CacheKey {
        let ns = self.store.namespace();
        let full = format!("{ns}{}{id}", self.prefix);
        let mut tables = tables.to_vec();
        tables.sort_unstable();
        tables.dedup();
        let mut generations = Vec::with_capacity(tables.len() + 1);
        generations.push(self.region_generation());
        generations.extend(tables.iter().map(|t| self.store.table_generation(t)));
        CacheKey {
            lock: format!("{full}#lock"),
            full,
            generations,
        }
    }

    /// The counter [`Region::invalidate_all`] bumps.
    fn region_generation(&self) -> String {
        format!("{}{}#gen", self.store.namespace(), self.prefix)
    }

    /// The region's counters since it was made.
    pub fn stats(&self) -> RegionStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RegionStats {
            hits: get(&c.hits),
            stale_hits: get(&c.stale_hits),
            misses: get(&c.misses),
            computed: get(&c.computed),
            shared: get(&c.shared),
            stores: get(&c.stores),
            stores_refused: get(&c.stores_refused),
            corrupt: get(&c.corrupt),
            unavailable: get(&c.unavailable),
            lock_waits: get(&c.lock_waits),
            lock_timeouts: get(&c.lock_timeouts),
            refreshes: get(&c.refreshes),
            refresh_failures: get(&c.refresh_failures),
        }
    }

    /// Background refreshes running now.
    pub fn refreshing(&self) -> usize {
        self.refreshing.lock().len()
    }

    /// Forgets one value.
    pub async fn invalidate(&self, key: &CacheKey) {
        match &self.store {
            Store::Memory(m) => m.delete(&key.full),
            Store::Redis(r) => {
                let _ = r.delete(&key.full).await;
            }
        }
    }

    /// Forgets every value of the region (bumps its generation; a memory
    /// region also frees its entries).
    pub async fn invalidate_all(&self) {
        let generation = [self.region_generation()];
        match &self.store {
            Store::Memory(m) => {
                m.bump(&generation);
                m.clear();
            }
            Store::Redis(r) => {
                let _ = r.bump(&generation).await;
            }
        }
    }

    /// Reads a key and judges what it found.
    async fn read(&self, key: &CacheKey) -> Read {
        let now = now_ms();
        let (entry, current) = match &self.store {
            Store::Memory(m) => {
                let (entry, current) = m.lookup(&key.full, &key.generations, now);
                let entry = entry
                    .map(|e| Some((e.payload.clone(), e.fresh_until_ms, e.generations.clone())));
                (entry, current)
            }
            Store::Redis(r) => match r.lookup(&key.full, &key.generations).await {
                Ok((raw, current)) => {
                    let entry = raw.map(|bytes| {
                        envelope::decode(&bytes)
                            .map(|e| (e.payload, e.fresh_until_ms, e.generations))
                    });
                    (entry, current)
                }
                Err(_) => {
                    bump(&self.counters.unavailable);
                    return Read {
                        found: Found::Missing,
                        generations: None,
                    };
                }
            },
        };
        let found = match entry {
            Some(None) => Found::Damaged,
            Some(Some((payload, fresh_until, gens))) if gens == current => {
                if now < fresh_until {
                    Found::Fresh(payload)
                } else if self.stale.is_some() {
                    Found::Stale(payload)
                } else {
                    Found::Missing
                }
            }
            _ => Found::Missing,
        };
        Read {
            found,
            generations: Some(current),
        }
    }

    /// Writes a value computed under `generations` (refused if they moved),
    /// releasing the Redis lock `token` owns. True if written.
    async fn put(
        &self,
        key: &CacheKey,
        generations: Vec<u64>,
        bytes: &Arc<[u8]>,
        expiry: Duration,
        token: Option<&str>,
    ) -> bool {
        let now = now_ms();
        let fresh_until_ms = now + expiry.as_millis() as u64;
        let keep = expiry + self.stale.unwrap_or(Duration::ZERO);
        let stored = match &self.store {
            Store::Memory(m) => m.store_if_current(
                &key.full,
                &key.generations,
                Entry {
                    payload: bytes.clone(),
                    fresh_until_ms,
                    hard_until_ms: now + keep.as_millis() as u64,
                    generations,
                },
            ),
            Store::Redis(r) => {
                let envelope = envelope::encode(fresh_until_ms, &generations, bytes);
                let written = r
                    .store(
                        &key.full,
                        &key.generations,
                        &generations,
                        envelope,
                        keep,
                        &key.lock,
                        token,
                    )
                    .await;
                match written {
                    Ok(w) => w,
                    Err(_) => return false,
                }
            }
        };
        bump(if stored {
            &self.counters.stores
        } else {
            &self.counters.stores_refused
        });
        stored
    }

    /// The value under `key`: from the store if fresh (or stale, with a
    /// refresh started), else computed by exactly one caller (see the
    /// module docs). `decode` turns stored bytes into a value (`None` is a
    /// miss); `compute` makes the bytes and the value. `expiry` overrides
    /// the region's.
    pub async fn get_or_compute<V, E, D, C, F>(
        self: &Arc<Self>,
        key: &CacheKey,
        expiry: Option<Duration>,
        decode: D,
        compute: C,
    ) -> Result<Fetched<V>, E>
    where
        V: Send + 'static,
        E: Display + Send + 'static,
        D: Fn(&[u8]) -> Option<V>,
        C: Fn(Origin) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(Vec<u8>, V), E>> + Send + 'static,
    {
        let expiry = expiry.unwrap_or(self.expiry);
        let compute = Arc::new(compute);
        let mut first = true;
        loop {
            let read = self.read(key).await;
            match &read.found {
                Found::Fresh(bytes) => match decode(bytes) {
                    Some(value) => {
                        bump(&self.counters.hits);
                        return Ok(Fetched {
                            value,
                            source: Source::Hit,
                        });
                    }
                    None => bump(&self.counters.corrupt),
                },
                Found::Stale(bytes) => match decode(bytes) {
                    Some(value) => {
                        bump(&self.counters.stale_hits);
                        self.refresh_in_background(key, expiry, compute.clone());
                        return Ok(Fetched {
                            value,
                            source: Source::Stale,
                        });
                    }
                    None => bump(&self.counters.corrupt),
                },
                Found::Damaged => bump(&self.counters.corrupt),
                Found::Missing => {}
            }
            if std::mem::take(&mut first) {
                bump(&self.counters.misses);
            }
            match self.flights.join(&key.full) {
                Join::Follower(follower) => {
                    // The leader's bytes; if it ended without any, try again.
                    if let Some(value) = follower.wait().await.and_then(|b| decode(&b)) {
                        bump(&self.counters.shared);
                        return Ok(Fetched {
                            value,
                            source: Source::Shared,
                        });
                    }
                }
                Join::Leader(leader) => {
                    let (bytes, fetched) = self
                        .lead(key, expiry, read.generations.is_none(), &decode, &*compute)
                        .await?;
                    leader.publish(bytes);
                    return Ok(fetched);
                }
            }
        }
    }

    /// The one caller in this process that computes `key`.
    async fn lead<V, E, D, C, F>(
        &self,
        key: &CacheKey,
        expiry: Duration,
        unreachable: bool,
        decode: &D,
        compute: &C,
    ) -> Result<(Arc<[u8]>, Fetched<V>), E>
    where
        D: Fn(&[u8]) -> Option<V>,
        C: Fn(Origin) -> F,
        F: Future<Output = Result<(Vec<u8>, V), E>>,
    {
        let run = async |source| {
            let (bytes, value) = compute(Origin::Caller).await?;
            bump(&self.counters.computed);
            Ok::<_, E>((Arc::<[u8]>::from(bytes), Fetched { value, source }))
        };
        if unreachable {
            return run(Source::Bypassed).await;
        }
        let token = match &self.store {
            Store::Redis(r) => match self.lock_or_value(r, key, decode).await {
                Lock::Value(bytes, value) => {
                    bump(&self.counters.shared);
                    let source = Source::Shared;
                    return Ok((bytes, Fetched { value, source }));
                }
                Lock::Held(token) => Some(token),
                Lock::NotHeld => None,
            },
            Store::Memory(_) => None,
        };
        // If this future is dropped while it holds the Redis lock (a caller
        // that timed out), the lock is released at once instead of making
        // every process wait out its timeout.
        let held = match (&self.store, &token) {
            (Store::Redis(r), Some(t)) => Some(lock::Held::new(r.clone(), &key.lock, t)),
            _ => None,
        };
        // Read again now that we lead: a value stored since our first read
        // is served, and the generations read here are the ones the value
        // will be computed under.
        let read = self.read(key).await;
        if let Found::Fresh(bytes) = &read.found
            && let Some(value) = decode(bytes)
        {
            if let (Store::Redis(r), Some(t)) = (&self.store, &token) {
                let _ = r.unlock(&key.lock, t).await;
            }
            if let Some(h) = held {
                h.disarm();
            }
            bump(&self.counters.hits);
            let source = Source::Hit;
            return Ok((bytes.clone(), Fetched { value, source }));
        }
        let computed = run(Source::Computed).await;
        // From here the lock is released (or handed to `put`) on every path.
        if let Some(h) = held {
            h.disarm();
        }
        match (computed, read.generations) {
            (Ok((bytes, fetched)), Some(generations)) => {
                self.put(key, generations, &bytes, expiry, token.as_deref())
                    .await;
                Ok((bytes, fetched))
            }
            (result, _) => {
                if let (Store::Redis(r), Some(t)) = (&self.store, &token) {
                    let _ = r.unlock(&key.lock, t).await;
                }
                result
            }
        }
    }

    /// Takes the Redis lock for `key`, or waits (polling, with backoff) for
    /// the value another process is computing, at most the lock timeout.
    async fn lock_or_value<V>(
        &self,
        r: &RedisStore,
        key: &CacheKey,
        decode: &impl Fn(&[u8]) -> Option<V>,
    ) -> Lock<V> {
        let token = lock::token();
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        let mut waiting = false;
        loop {
            match r.try_lock(&key.lock, &token, self.lock_timeout).await {
                Ok(true) => return Lock::Held(token),
                Ok(false) => {}
                Err(_) => return Lock::NotHeld,
            }
            if !std::mem::replace(&mut waiting, true) {
                bump(&self.counters.lock_waits);
            }
            let waited = started.elapsed();
            if waited >= self.lock_timeout {
                // The owner is slow or dead and its lock never expired:
                // compute without it rather than wait any longer.
                bump(&self.counters.lock_timeouts);
                return Lock::NotHeld;
            }
            tokio::time::sleep(pause.min(self.lock_timeout - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
            let read = self.read(key).await;
            match &read.found {
                Found::Fresh(bytes) => {
                    if let Some(value) = decode(bytes) {
                        return Lock::Value(bytes.clone(), value);
                    }
                }
                _ if read.generations.is_none() => return Lock::NotHeld,
                _ => {}
            }
        }
    }

    fn refresh_in_background<V, E, C, F>(
        self: &Arc<Self>,
        key: &CacheKey,
        expiry: Duration,
        compute: Arc<C>,
    ) where
        V: Send + 'static,
        E: Display + Send + 'static,
        C: Fn(Origin) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(Vec<u8>, V), E>> + Send + 'static,
    {
        if !self.refreshing.lock().insert(key.full.clone()) {
            return; // this process refreshes it already
        }
        let region = self.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let _running = Refreshing(&region, key.full.clone());
            bump(&region.counters.refreshes);
            if let Err(e) = region.refresh(&key, expiry, &*compute).await {
                bump(&region.counters.refresh_failures);
                tracing::warn!(region = %region.name, error = %e, "background refresh failed");
            }
        });
    }

    /// Computes and stores a fresh value for a stale one, unless another
    /// process is doing so (its lock is held) or did (the value is fresh).
    async fn refresh<V, E, C, F>(
        &self,
        key: &CacheKey,
        expiry: Duration,
        compute: &C,
    ) -> Result<(), E>
    where
        C: Fn(Origin) -> F,
        F: Future<Output = Result<(Vec<u8>, V), E>>,
    {
        let token = match &self.store {
            Store::Redis(r) => {
                let token = lock::token();
                match r.try_lock(&key.lock, &token, self.lock_timeout).await {
                    Ok(true) => Some(token),
                    Ok(false) | Err(_) => return Ok(()),
                }
            }
            Store::Memory(_) => None,
        };
        let read = self.read(key).await;
        let generations = match (&read.found, read.generations) {
            (Found::Fresh(_), _) | (_, None) => None,
            (_, Some(generations)) => Some(generations),
        };
        let result = match generations {
            Some(generations) => match compute(Origin::Refresh).await {
                Ok((bytes, _)) => {
                    let bytes = Arc::from(bytes);
                    self.put(key, generations, &bytes, expiry, token.as_deref())
                        .await;
                    return Ok(());
                }
                Err(e) => Err(e),
            },
            None => Ok(()),
        };
        if let (Store::Redis(r), Some(t)) = (&self.store, &token) {
            let _ = r.unlock(&key.lock, t).await;
        }
        result
    }
}

/// What waiting for the Redis lock gave.
enum Lock<V> {
    /// We hold it, with this token.
    Held(String),
    /// Another process computed the value meanwhile.
    Value(Arc<[u8]>, V),
    /// Redis failed or the wait timed out: compute without the lock.
    NotHeld,
}

impl RegionConfig {
    fn new(name: String, store: StoreConfig) -> RegionConfig {
        RegionConfig {
            name,
            prefix: None,
            expiry: Duration::from_secs(300),
            stale: None,
            lock_timeout: Duration::from_secs(30),
            store,
        }
    }
}

#[cfg(test)]
mod tests;
