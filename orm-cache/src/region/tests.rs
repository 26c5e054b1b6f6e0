//! Regions on their own (no database): memory and a real Redis
//! (`ORM_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`; a server that
//! cannot be reached fails these tests, it never skips them).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

fn redis_url() -> String {
    std::env::var("ORM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A namespace no other test (or run) uses.
fn namespace() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "orm-test:{}:{}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        now_ms()
    )
}

fn redis_store(options: RedisOptions) -> Arc<RedisStore> {
    RedisStore::new(
        &redis_url(),
        RedisOptions {
            namespace: namespace(),
            // Generous: these tests are about the protocol, not the deadline.
            deadline: Duration::from_millis(500),
            ..options
        },
    )
    .expect("Redis URL")
}

async fn raw_redis() -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(redis_url())
        .expect("Redis URL")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is required at {} ({e}); set ORM_TEST_REDIS_URL",
                redis_url()
            )
        })
}

type Computation = std::pin::Pin<Box<dyn Future<Output = Result<(Vec<u8>, u64), String>> + Send>>;

/// A value computed by counting computations, optionally slowly.
#[derive(Clone)]
struct Counting {
    runs: Arc<AtomicUsize>,
    delay: Duration,
    value: u64,
}

impl Counting {
    fn new(value: u64, delay: Duration) -> Counting {
        Counting {
            runs: Arc::new(AtomicUsize::new(0)),
            delay,
            value,
        }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    fn compute(&self) -> impl Fn(Origin) -> Computation + Send + Sync + 'static {
        let this = self.clone();
        move |_| {
            let this = this.clone();
            Box::pin(async move {
                this.runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(this.delay).await;
                Ok((this.value.to_le_bytes().to_vec(), this.value))
            })
        }
    }
}

fn decode(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_le_bytes)
}

async fn get(region: &Arc<Region>, key: &CacheKey, c: &Counting) -> Fetched<u64> {
    region
        .get_or_compute(key, None, decode, c.compute())
        .await
        .expect("computes")
}

fn memory(expiry: Duration) -> Arc<Region> {
    Arc::new(Region::memory("m").expiry(expiry).build())
}

fn key(region: &Region, text: &str) -> CacheKey {
    let mut id = KeyHasher::new();
    id.part(text.as_bytes());
    region.hashed_key(id, &["accounts"])
}

async fn hit_miss_expiry(region: Arc<Region>) {
    let k = key(&region, "q");
    let c = Counting::new(7, Duration::ZERO);
    assert_eq!(get(&region, &k, &c).await.source, Source::Computed);
    let hit = get(&region, &k, &c).await;
    assert_eq!((hit.value, hit.source), (7, Source::Hit));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        get(&region, &k, &c).await.source,
        Source::Computed,
        "expired"
    );
    assert_eq!(c.runs(), 2);
    let s = region.stats();
    assert_eq!(
        (s.hits, s.misses, s.computed, s.stores),
        (1, 2, 2, 2),
        "{s:?}"
    );
}

#[tokio::test]
async fn memory_hit_miss_expiry() {
    hit_miss_expiry(memory(Duration::from_millis(200))).await;
}

#[tokio::test]
async fn redis_hit_miss_expiry() {
    let store = redis_store(RedisOptions::default());
    hit_miss_expiry(Arc::new(
        Region::redis("r", &store)
            .expiry(Duration::from_millis(200))
            .build(),
    ))
    .await;
}

/// 50 concurrent callers on a cold key: one computation.
async fn fifty_callers(regions: &[Arc<Region>]) -> Counting {
    let c = Counting::new(42, Duration::from_millis(150));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let region = regions[i % regions.len()].clone();
            let c = c.clone();
            tokio::spawn(async move {
                let k = key(&region, "cold");
                get(&region, &k, &c).await.value
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), 42);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_fifty_callers_compute_once() {
    let region = memory(Duration::from_secs(60));
    let c = fifty_callers(std::slice::from_ref(&region)).await;
    assert_eq!(c.runs(), 1);
    let s = region.stats();
    assert_eq!((s.computed, s.shared), (1, 49), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_fifty_callers_in_two_processes_compute_once() {
    let store_a = redis_store(RedisOptions::default());
    // A second store on the same namespace: another process's view.
    let store_b = RedisStore::new(&redis_url(), store_a.options().clone()).unwrap();
    let a = Arc::new(Region::redis("r", &store_a).build());
    let b = Arc::new(Region::redis("r", &store_b).build());
    let c = fifty_callers(&[a.clone(), b.clone()]).await;
    assert_eq!(c.runs(), 1, "a: {:?}, b: {:?}", a.stats(), b.stats());
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.computed + sb.computed, 1);
    assert!(
        sa.lock_waits + sb.lock_waits >= 1,
        "the other process waited on the lock"
    );
}

async fn stale_while_revalidate(region: Arc<Region>) {
    let k = key(&region, "swr");
    let old = Counting::new(1, Duration::ZERO);
    get(&region, &k, &old).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let new = Counting::new(2, Duration::from_millis(300));
    let started = Instant::now();
    let stale = get(&region, &k, &new).await;
    assert_eq!((stale.value, stale.source), (1, Source::Stale));
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "served at once, not after the refresh"
    );
    // A second stale read while the refresh runs starts no second refresh.
    assert_eq!(get(&region, &k, &new).await.source, Source::Stale);
    wait_until(|| region.refreshing() == 0 && new.runs() == 1).await;
    let fresh = get(&region, &k, &new).await;
    assert_eq!((fresh.value, fresh.source), (2, Source::Hit));
    assert_eq!(new.runs(), 1, "one background refresh");
    assert_eq!(region.stats().refreshes, 1);
}

async fn wait_until(done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "timed out waiting"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The refresh has stored its value before it ends; give its task a beat.
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn memory_stale_while_revalidate() {
    stale_while_revalidate(Arc::new(
        Region::memory("m")
            .expiry(Duration::from_millis(200))
            .stale_while_revalidate(Duration::from_secs(5))
            .build(),
    ))
    .await;
}

#[tokio::test]
async fn redis_stale_while_revalidate() {
    let store = redis_store(RedisOptions::default());
    stale_while_revalidate(Arc::new(
        Region::redis("r", &store)
            .expiry(Duration::from_millis(200))
            .stale_while_revalidate(Duration::from_secs(5))
            .build(),
    ))
    .await;
}

/// A commit during the computation: the value is not stored, the next
/// caller computes again, and invalidation reaches another process.
async fn commit_during_computation(a: Arc<Region>, b: Arc<Region>) {
    let k = key(&a, "q");
    let store = a.store().clone();
    let committing = move |_: Origin| {
        let store = store.clone();
        async move {
            store.tables_written(&["accounts"]).await;
            Ok::<_, String>((5u64.to_le_bytes().to_vec(), 5u64))
        }
    };
    let first = a
        .get_or_compute(&k, None, decode, committing)
        .await
        .unwrap();
    assert_eq!(first.value, 5, "the caller gets its rows");
    assert_eq!(a.stats().stores_refused, 1, "{:?}", a.stats());
    let c = Counting::new(6, Duration::ZERO);
    assert_eq!(get(&a, &k, &c).await.source, Source::Computed);
    assert_eq!(get(&b, &key(&b, "q"), &c).await.source, Source::Hit);
    a.store().tables_written(&["accounts"]).await;
    assert_eq!(get(&b, &key(&b, "q"), &c).await.value, 6);
    assert_eq!(c.runs(), 2, "the commit reached the other process");
    // A table the value did not read changes nothing.
    a.store().tables_written(&["other"]).await;
    assert_eq!(get(&b, &key(&b, "q"), &c).await.source, Source::Hit);
}

#[tokio::test]
async fn memory_commit_during_computation() {
    let a = memory(Duration::from_secs(60));
    commit_during_computation(a.clone(), a).await;
}

#[tokio::test]
async fn redis_commit_during_computation() {
    let store_a = redis_store(RedisOptions::default());
    let store_b = RedisStore::new(&redis_url(), store_a.options().clone()).unwrap();
    commit_during_computation(
        Arc::new(Region::redis("r", &store_a).build()),
        Arc::new(Region::redis("r", &store_b).build()),
    )
    .await;
}

#[tokio::test]
async fn invalidate_by_key_and_region() {
    let store = redis_store(RedisOptions::default());
    for region in [
        memory(Duration::from_secs(60)),
        Arc::new(Region::redis("r", &store).build()),
    ] {
        let c = Counting::new(1, Duration::ZERO);
        let (k1, k2) = (key(&region, "1"), region.named_key("two", &[]));
        get(&region, &k1, &c).await;
        get(&region, &k2, &c).await;
        region.invalidate(&k1).await;
        assert_eq!(get(&region, &k1, &c).await.source, Source::Computed);
        assert_eq!(get(&region, &k2, &c).await.source, Source::Hit);
        region.invalidate_all().await;
        assert_eq!(get(&region, &k1, &c).await.source, Source::Computed);
        assert_eq!(get(&region, &k2, &c).await.source, Source::Computed);
    }
}

#[tokio::test]
async fn undecodable_values_are_misses() {
    // The caller's decoder refuses the bytes (an older payload format).
    let region = memory(Duration::from_secs(60));
    let k = key(&region, "q");
    let c = Counting::new(3, Duration::ZERO);
    get(&region, &k, &c).await;
    let strict = |b: &[u8]| decode(b).filter(|v| *v != 3);
    let got = region.get_or_compute(&k, None, strict, c.compute()).await;
    assert_eq!(got.unwrap().source, Source::Computed);
    assert_eq!(region.stats().corrupt, 1);

    // Damaged bytes in Redis.
    let store = redis_store(RedisOptions::default());
    let region = Arc::new(Region::redis("r", &store).build());
    let k = key(&region, "q");
    get(&region, &k, &c).await;
    let mut raw = raw_redis().await;
    let _: () = ::redis::cmd("SETRANGE")
        .arg(k.as_str())
        .arg(20)
        .arg("garbage")
        .query_async(&mut raw)
        .await
        .unwrap();
    let again = get(&region, &k, &c).await;
    assert_eq!((again.value, again.source), (3, Source::Computed));
    assert_eq!(region.stats().corrupt, 1);
    assert_eq!(get(&region, &k, &c).await.source, Source::Hit, "rewritten");
}

#[tokio::test]
async fn a_lock_that_is_never_released_blocks_no_longer_than_the_timeout() {
    let store = redis_store(RedisOptions::default());
    let region = Arc::new(
        Region::redis("r", &store)
            .lock_timeout(Duration::from_millis(300))
            .build(),
    );
    let k = key(&region, "q");
    // A dead owner's lock with no expiry at all.
    let mut raw = raw_redis().await;
    let _: () = ::redis::cmd("SET")
        .arg(&k.lock)
        .arg("someone-else")
        .query_async(&mut raw)
        .await
        .unwrap();
    let c = Counting::new(9, Duration::ZERO);
    let started = Instant::now();
    let got = get(&region, &k, &c).await;
    let took = started.elapsed();
    assert_eq!(got.value, 9);
    assert!(
        took >= Duration::from_millis(300),
        "waited for the owner: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1_500),
        "but not past the timeout: {took:?}"
    );
    assert_eq!(region.stats().lock_timeouts, 1);
    let owner: String = ::redis::cmd("GET")
        .arg(&k.lock)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        owner, "someone-else",
        "another owner's lock is never released by us"
    );
}

/// A Redis that cannot help: the caller still gets its value, within the
/// deadline, and after a few failures the breaker skips Redis.
async fn unreachable(url: &str) {
    let deadline = Duration::from_millis(50);
    let store = RedisStore::new(
        url,
        RedisOptions {
            deadline,
            namespace: namespace(),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    let region = Arc::new(Region::redis("r", &store).build());
    let c = Counting::new(4, Duration::ZERO);
    for i in 0..6 {
        let k = key(&region, "q");
        let started = Instant::now();
        let got = get(&region, &k, &c).await;
        let took = started.elapsed();
        assert_eq!((got.value, got.source), (4, Source::Bypassed));
        assert!(
            took < deadline + Duration::from_millis(250),
            "query {i} took {took:?}"
        );
    }
    let s = store.stats();
    assert_eq!(s.errors, 3, "{s:?}");
    assert_eq!(s.skipped, 3, "{s:?}");
    assert!(s.breaker_open && s.breaker_opened == 1, "{s:?}");
    assert_eq!(c.runs(), 6);
}

#[tokio::test]
async fn redis_on_a_closed_port() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    unreachable(&format!("redis://127.0.0.1:{port}")).await;
}

#[tokio::test]
async fn redis_that_accepts_and_never_answers() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    unreachable(&format!("redis://127.0.0.1:{port}")).await;
}

/// A caller that holds the Redis lock and is dropped (it timed out) releases
/// the lock: the next caller computes at once instead of waiting out the
/// lock timeout (30 s by default).
#[tokio::test]
async fn redis_lock_of_a_dropped_computation_is_released() {
    let store = redis_store(RedisOptions::default());
    let region = Arc::new(
        Region::redis("r", &store)
            .lock_timeout(Duration::from_secs(20))
            .build(),
    );
    let k = key(&region, "dropped");
    let stuck = Counting::new(1, Duration::from_secs(3600));
    let dropped = tokio::time::timeout(Duration::from_millis(300), get(&region, &k, &stuck)).await;
    assert!(
        dropped.is_err(),
        "the computation never ends: the caller gives up"
    );
    assert_eq!(stuck.runs(), 1, "it held the lock and was computing");
    let quick = Counting::new(2, Duration::ZERO);
    // A hang guard well under the lock timeout, not a timing assertion.
    let next = tokio::time::timeout(Duration::from_secs(10), get(&region, &k, &quick))
        .await
        .expect("the dropped caller's lock was released");
    assert_eq!((next.value, next.source), (2, Source::Computed));
    assert_eq!(region.stats().lock_timeouts, 0);
}
