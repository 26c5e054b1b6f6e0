//! [`RedisStore`]: cached values, generation counters and dogpile locks in
//! Redis, shared by every process that points at the same server and
//! namespace.
//!
//! ## Never slower than the database
//!
//! Redis is an optimisation, so it must never cost more than it saves:
//!
//! * Every call has a hard deadline ([`RedisOptions::deadline`], 50 ms by
//!   default) around the whole exchange, connection included. The client's
//!   own reconnect loop (the `redis` crate's connection manager retries with
//!   backoff, which can take seconds) is kept short and, whatever it does,
//!   cut by the deadline.
//! * A circuit breaker ([`super::breaker`]): after
//!   [`RedisOptions::failures_to_open`] failures in a row, calls are refused
//!   at once for [`RedisOptions::open_for`]; then one probe decides.
//! * Failures are counted ([`RedisStats`]) and logged at most once per
//!   [`RedisOptions::log_every`]; the caller never sees them: a region whose
//!   store is unavailable runs the query on the database.
//!
//! ## Keys
//!
//! Everything lives under the store's namespace (`orm:` by default): values
//! at `{namespace}{region prefix}{id}`, their locks at `{value key}#lock`,
//! table generations at `{namespace}gen:{table}`, a region's generation at
//! `{namespace}{region prefix}#gen`. Processes share cached values and see
//! each other's invalidations exactly when they share the namespace.
//!
//! ## Atomic steps
//!
//! A lookup is one round trip (`MGET` of the value and its generation
//! counters). Storing is one Lua script that writes the value only if the
//! counters still hold the generations it was computed under, and releases
//! the caller's lock only if the caller still owns it (its random token).
//! A lock is `SET key token NX PX timeout`: it expires by itself if its
//! owner dies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::RegionError;
use super::breaker::{Breaker, ThrottledLog};

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// The longest any one Redis call may take, connecting included.
    pub deadline: Duration,
    /// Failures in a row that open the circuit breaker.
    pub failures_to_open: u32,
    /// How long an open breaker skips Redis before probing it again.
    pub open_for: Duration,
    /// At most one warning per this interval while Redis fails.
    pub log_every: Duration,
    /// Prefix of every key this store writes.
    pub namespace: String,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            deadline: Duration::from_millis(50),
            failures_to_open: 3,
            open_for: Duration::from_secs(5),
            log_every: Duration::from_secs(10),
            namespace: "orm:".into(),
        }
    }
}

/// Counters of a [`RedisStore`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Calls sent to Redis.
    pub calls: u64,
    /// Calls that failed or timed out.
    pub errors: u64,
    /// Of those, calls cut by the deadline.
    pub timeouts: u64,
    /// Calls not sent because the breaker was open.
    pub skipped: u64,
    /// Times the breaker opened.
    pub breaker_opened: u64,
    /// Whether the breaker is open (or probing) now.
    pub breaker_open: bool,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    skipped: AtomicU64,
    opened: AtomicU64,
}

/// Redis could not be used for this call (error, deadline, open breaker);
/// already counted and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unavailable;

/// Writes the value if the generations are unchanged; releases the lock if
/// the token still owns it. KEYS: value, lock, generation counters...;
/// ARGV: payload, time to live (ms), token ('' for none), generations...
const STORE: &str = r"
local current = 1
for i = 3, #KEYS do
  local g = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if g ~= tonumber(ARGV[i + 1]) then current = 0 break end
end
if current == 1 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return current
";

/// Releases a lock only for its owner. KEYS: lock; ARGV: token.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// A Redis server (through a reconnecting connection manager) as a store for
/// cache regions. Share one per server and namespace between regions.
pub struct RedisStore {
    url: String,
    client: redis::Client,
    /// Created on first use: the manager needs the Tokio runtime it runs on.
    manager: Mutex<Option<ConnectionManager>>,
    options: RedisOptions,
    breaker: Breaker,
    log: ThrottledLog,
    /// Generation bumps that could not be sent; sent with the next lookup.
    pending: Mutex<Vec<String>>,
    counters: Counters,
    store_script: redis::Script,
    unlock_script: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("namespace", &self.options.namespace)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    match url[scheme_end..].find('@') {
        Some(at) => {
            let auth = &url[scheme_end..scheme_end + at];
            let user = auth.split(':').next().unwrap_or("");
            format!(
                "{}{user}:***{}",
                &url[..scheme_end],
                &url[scheme_end + at..]
            )
        }
        None => url.to_string(),
    }
}

impl RedisStore {
    /// A store for the server at `url` (`redis://host:port/db`). Nothing is
    /// sent until a region uses it; a server that is down then only sends
    /// queries to the database.
    pub fn new(url: &str, options: RedisOptions) -> Result<Arc<RedisStore>, RegionError> {
        let client = redis::Client::open(url)
            .map_err(|e| RegionError::Config(format!("Redis URL {}: {e}", redact(url))))?;
        Ok(Arc::new(RedisStore {
            url: redact(url),
            client,
            manager: Mutex::new(None),
            breaker: Breaker::new(
                options.failures_to_open,
                options.open_for,
                options.deadline * 2,
            ),
            log: ThrottledLog::new(options.log_every),
            options,
            pending: Mutex::new(Vec::new()),
            counters: Counters::default(),
            store_script: redis::Script::new(STORE),
            unlock_script: redis::Script::new(UNLOCK),
        }))
    }

    /// The prefix of every key of this store.
    pub fn namespace(&self) -> &str {
        &self.options.namespace
    }

    /// The options it was made with.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    /// Its counters since it was made.
    pub fn stats(&self) -> RedisStats {
        let c = &self.counters;
        RedisStats {
            calls: c.calls.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            breaker_opened: c.opened.load(Ordering::Relaxed),
            breaker_open: self.breaker.is_open(),
        }
    }

    /// Whether the server answers a PING within the deadline.
    pub async fn ping(&self) -> bool {
        self.call("PING", async |mut c| {
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await
        .is_ok()
    }

    fn connection(&self) -> Result<ConnectionManager, String> {
        let mut manager = self.manager.lock();
        if let Some(m) = &*manager {
            return Ok(m.clone());
        }
        let deadline = Some(self.options.deadline);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(deadline)
            .set_response_timeout(deadline)
            // A short reconnect loop: the deadline bounds every call anyway,
            // and the breaker spaces out attempts while the server is down.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(5))
            .set_max_delay(Duration::from_millis(100));
        let m = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| e.to_string())?;
        *manager = Some(m.clone());
        Ok(m)
    }

    /// Runs one exchange under the deadline and the breaker.
    async fn call<T>(
        &self,
        what: &'static str,
        exchange: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, Unavailable> {
        if !self.breaker.allow() {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Unavailable);
        }
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let conn = match self.connection() {
            Ok(c) => c,
            Err(e) => return Err(self.failed(what, &e, false)),
        };
        match tokio::time::timeout(self.options.deadline, exchange(conn)).await {
            Ok(Ok(v)) => {
                self.breaker.success();
                Ok(v)
            }
            Ok(Err(e)) => Err(self.failed(what, &e.to_string(), false)),
            Err(_) => {
                let message = format!("no answer within {:?}", self.options.deadline);
                Err(self.failed(what, &message, true))
            }
        }
    }

    fn failed(&self, what: &'static str, error: &str, timeout: bool) -> Unavailable {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if timeout {
            self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        let opened = self.breaker.failure();
        if opened {
            self.counters.opened.fetch_add(1, Ordering::Relaxed);
        }
        self.log.warn(|held| {
            tracing::warn!(
                redis = %self.url,
                command = what,
                error,
                breaker_open = self.breaker.is_open(),
                similar_errors_not_logged = held,
                "Redis cache unavailable; queries run on the database"
            );
        });
        Unavailable
    }

    /// The value under `key` (raw bytes) and the current generations of
    /// `gens` (0 for a counter never bumped). Sends pending bumps first, in
    /// the same round trip.
    pub(crate) async fn lookup(
        &self,
        key: &str,
        gens: &[String],
    ) -> Result<(Option<Vec<u8>>, Vec<u64>), Unavailable> {
        let pending = std::mem::take(&mut *self.pending.lock());
        let mut pipe = redis::pipe();
        for g in &pending {
            pipe.cmd("INCR").arg(g).ignore();
        }
        pipe.cmd("MGET").arg(key).arg(gens);
        let result = self
            .call("MGET", async |mut c| {
                pipe.query_async::<(Vec<Option<Vec<u8>>>,)>(&mut c).await
            })
            .await;
        let (mut values,) = match result {
            Ok(v) => v,
            Err(e) => {
                self.pending.lock().extend(pending);
                return Err(e);
            }
        };
        if values.len() != gens.len() + 1 {
            return Err(self.failed("MGET", "unexpected reply length", false));
        }
        let current = values
            .drain(1..)
            .map(|v| {
                v.and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        Ok((values.pop().flatten(), current))
    }

    /// Takes the lock `lock` for `ttl` unless someone holds it.
    pub(crate) async fn try_lock(
        &self,
        lock: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, Unavailable> {
        let ms = ttl.as_millis().max(1) as u64;
        self.call("SET NX", async |mut c| {
            redis::cmd("SET")
                .arg(lock)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query_async::<Option<String>>(&mut c)
                .await
        })
        .await
        .map(|ok| ok.is_some())
    }

    /// Stores `bytes` for `ttl` if `gens` still hold `expected`, and releases
    /// `lock` if `token` owns it. True if the value was written.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn store(
        &self,
        key: &str,
        gens: &[String],
        expected: &[u64],
        bytes: Vec<u8>,
        ttl: Duration,
        lock: &str,
        token: Option<&str>,
    ) -> Result<bool, Unavailable> {
        let mut invocation = self.store_script.key(key);
        invocation.key(lock);
        for g in gens {
            invocation.key(g);
        }
        invocation
            .arg(bytes)
            .arg(ttl.as_millis().max(1) as u64)
            .arg(token.unwrap_or(""));
        for e in expected {
            invocation.arg(*e);
        }
        self.call("EVALSHA store", async |mut c| {
            invocation.invoke_async::<i64>(&mut c).await
        })
        .await
        .map(|stored| stored == 1)
    }

    /// Releases `lock` if `token` owns it.
    pub(crate) async fn unlock(&self, lock: &str, token: &str) -> Result<(), Unavailable> {
        let mut invocation = self.unlock_script.key(lock);
        invocation.arg(token);
        self.call("EVALSHA unlock", async |mut c| {
            invocation.invoke_async::<i64>(&mut c).await
        })
        .await
        .map(drop)
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), Unavailable> {
        self.call("DEL", async |mut c| {
            redis::cmd("DEL").arg(key).query_async::<i64>(&mut c).await
        })
        .await
        .map(drop)
    }

    /// Bumps generation counters. If Redis cannot be reached they are kept
    /// and sent with the next lookup that gets through.
    pub(crate) async fn bump(&self, gens: &[String]) -> Result<(), Unavailable> {
        if gens.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for g in gens {
            pipe.cmd("INCR").arg(g).ignore();
        }
        let result = self
            .call("INCR", async |mut c| pipe.query_async::<()>(&mut c).await)
            .await;
        if result.is_err() {
            let mut pending = self.pending.lock();
            for g in gens {
                if !pending.contains(g) {
                    pending.push(g.clone());
                }
            }
        }
        result
    }

    /// Generation bumps waiting for Redis to come back.
    pub fn pending_bumps(&self) -> usize {
        self.pending.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn a_bad_url_is_a_config_error() {
        assert!(matches!(
            RedisStore::new("http://nope", RedisOptions::default()),
            Err(RegionError::Config(_))
        ));
    }
}
