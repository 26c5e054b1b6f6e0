//! The result cache on every backend, with memory regions and a real Redis
//! (`ORM_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`): hits, misses
//! and expiry; one database query for 50 concurrent callers on a cold key,
//! in one process and across two caches sharing Redis; stale values served
//! while one refresh runs; commits invalidating here and in another cache;
//! a Redis on a closed port or frozen; a lock owner that never releases; a
//! damaged value. Statement counts come from `db.stats()`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::join_all;
use orm_core::cache::{CachedQuery, RedisOptions, RedisStore, Region, RegionConfig};
use orm_core::prelude::*;
use orm_core::{Dialect, Row};
use tests::{Backend, TestDb, TestResult, backend_tests, redis_url, slow_select};

#[entity(table = "accounts")]
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    #[key]
    pub id: i64,
    #[column(len = 32)]
    pub owner: String,
    pub balance: i64,
}

#[entity(table = "notes")]
#[derive(Debug, Clone)]
pub struct Note {
    #[key(auto)]
    pub id: i64,
    pub text: String,
}

const ACCOUNTS: i64 = 20;

async fn seed(db: &Database) -> orm_core::Result<()> {
    db.create_all(&[Account::schema(), Note::schema()]).await?;
    let mut s = db.session();
    s.add_all((1..=ACCOUNTS).map(|id| Account {
        id,
        owner: format!("o{}", id % 4),
        balance: id * 100,
    }));
    s.commit().await
}

/// A Redis namespace of this test alone (tests run in parallel on one server).
fn namespace() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "orm-test:{}:{}:{nanos}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on the test Redis, failing loudly if it does not answer.
async fn redis_store(deadline: Duration) -> Arc<RedisStore> {
    let store = RedisStore::new(
        &redis_url(),
        RedisOptions {
            deadline,
            namespace: namespace(),
            ..RedisOptions::default()
        },
    )
    .expect("Redis URL");
    assert!(
        store.ping().await,
        "Redis is required for this test and did not answer at {}; set ORM_TEST_REDIS_URL",
        redis_url()
    );
    store
}

/// The regions every scenario runs on: "mem" and "redis".
const KINDS: [&str; 2] = ["mem", "redis"];

async fn both_regions(
    db: &Database,
    configure: impl Fn(RegionConfig) -> RegionConfig,
) -> orm_core::Result<()> {
    // Generous deadline: these scenarios are about the protocol.
    let store = redis_store(Duration::from_millis(500)).await;
    db.cache().add(configure(Region::memory("mem")))?;
    db.cache().add(configure(Region::redis("redis", &store)))?;
    Ok(())
}

async fn raw_redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is required; set ORM_TEST_REDIS_URL")
}

fn statements(db: &Database) -> u64 {
    db.stats().statements()
}

/// Account `id`'s balance through `region`.
async fn balance(db: &Database, region: &str, id: i64) -> orm_core::Result<i64> {
    let mut s = db.session();
    let rows = s
        .query::<Account>()
        .filter(Account::ID.eq(id))
        .cached(region)
        .rows()
        .await?;
    rows[0].get("balance")
}

fn rich<'s>(s: &'s mut Session, region: &str) -> CachedQuery<'s, Account> {
    s.query::<Account>()
        .filter(Account::BALANCE.ge(1_500))
        .order_by(Account::ID.desc())
        .cached(region)
}

fn one<'s>(s: &'s mut Session, id: i64, region: &str) -> CachedQuery<'s, Account> {
    s.query::<Account>()
        .filter(Account::ID.eq(id))
        .cached(region)
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

backend_tests! {
    async fn hit_miss_expiry(db) {
        seed(&db).await?;
        both_regions(&db, |r| r.expiry(Duration::from_millis(200))).await?;
        for region in KINDS {
            let mut s = db.session();
            let before = statements(&db);
            let first = rich(&mut s, region).all().await?;
            assert_eq!(statements(&db) - before, 1, "{region}: a miss runs the query");
            assert_eq!(
                first.iter().map(|a| a.read().id).collect::<Vec<_>>(),
                (15..=ACCOUNTS).rev().collect::<Vec<_>>(),
                "{region}: rows and order"
            );
            let again = rich(&mut s, region).all().await?;
            assert_eq!(statements(&db) - before, 1, "{region}: a hit runs nothing");
            assert!(Handle::ptr_eq(&first[0], &again[0]), "{region}: through the identity map");
            let rows = rich(&mut s, region).rows().await?;
            assert_eq!(statements(&db) - before, 1, "{region}: the same rows, as plain rows");
            assert_eq!(rows[0].get::<i64>("balance")?, 2_000);
            tokio::time::sleep(Duration::from_millis(250)).await;
            assert_eq!(rich(&mut s, region).all().await?.len(), 6);
            assert_eq!(statements(&db) - before, 2, "{region}: expired");
            let stats = db.cache().stats(region)?;
            assert_eq!((stats.hits, stats.misses, stats.stores), (2, 2, 2), "{region}: {stats:?}");
        }
        Ok(())
    }

    async fn fifty_callers_on_a_cold_key_run_one_query(db) {
        seed(&db).await?;
        both_regions(&db, |r| r).await?;
        for region in KINDS {
            let before = statements(&db);
            let callers = (0..50).map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut s = db.session();
                    let found = s
                        .query::<Account>()
                        .filter(Account::OWNER.eq("o1"))
                        .cached(region)
                        .all()
                        .await?;
                    Ok::<_, Error>(found.iter().map(|a| a.read().id).collect::<Vec<_>>())
                })
            });
            for ids in join_all(callers).await {
                assert_eq!(ids??, [1, 5, 9, 13, 17]);
            }
            assert_eq!(statements(&db) - before, 1, "{region}: one database query");
            let stats = db.cache().stats(region)?;
            assert_eq!(stats.computed, 1, "{region}: {stats:?}");
            assert_eq!(stats.shared + stats.hits, 49, "{region}: {stats:?}");
        }
        Ok(())
    }

    async fn stale_while_revalidate_serves_stale_then_fresh(db) {
        seed(&db).await?;
        both_regions(&db, |r| {
            r.expiry(Duration::from_millis(200))
                .stale_while_revalidate(Duration::from_secs(30))
        })
        .await?;
        for region in KINDS {
            let old = balance(&db, region, 1).await?;
            // Raw SQL: the cache does not see this write.
            db.execute_sql("UPDATE accounts SET balance = balance + 1 WHERE id = 1", vec![])
                .await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
            let before = statements(&db);
            let started = Instant::now();
            assert_eq!(balance(&db, region, 1).await?, old, "{region}: stale, served at once");
            assert_eq!(balance(&db, region, 1).await?, old, "{region}: still stale");
            let served_in = started.elapsed();
            let r = db.cache().region(region)?;
            wait_until("the background refresh", || {
                r.refreshing() == 0 && statements(&db) > before
            })
            .await;
            assert_eq!(balance(&db, region, 1).await?, old + 1, "{region}: fresh");
            assert_eq!(statements(&db) - before, 1, "{region}: one refresh query");
            let stats = r.stats();
            assert_eq!((stats.stale_hits, stats.refreshes), (2, 1), "{region}: {stats:?}");
            // Served from the stale value: the statement count and the stats
            // below prove it; no timing bound (this machine is shared).
            let _ = served_in;
        }
        Ok(())
    }

    async fn a_commit_invalidates_the_tables_it_wrote(db) {
        seed(&db).await?;
        both_regions(&db, |r| r).await?;
        for region in KINDS {
            let old = balance(&db, region, 2).await?;
            let before = statements(&db);
            assert_eq!(balance(&db, region, 2).await?, old);
            assert_eq!(statements(&db), before, "{region}: cached");

            let mut s = db.session();
            s.get::<Account>(2).await?.write().balance += 10;
            s.commit().await?;
            let before = statements(&db);
            assert_eq!(balance(&db, region, 2).await?, old + 10, "{region}: invalidated");
            assert_eq!(statements(&db) - before, 1);

            // A commit that wrote another table leaves it cached.
            s.add(Note { id: 0, text: "unrelated".into() });
            s.commit().await?;
            let before = statements(&db);
            assert_eq!(balance(&db, region, 2).await?, old + 10);
            assert_eq!(statements(&db), before, "{region}: still cached");
        }
        Ok(())
    }

    async fn cached_rows_never_overwrite_pending_changes(db) {
        seed(&db).await?;
        both_regions(&db, |r| r).await?;
        for region in KINDS {
            let mut s = db.session();
            s.set_autoflush(false);
            let a = one(&mut s, 3, region).all().await?.remove(0);
            a.write().owner = "changed".into();
            let before = statements(&db);
            let again = one(&mut s, 3, region).all().await?.remove(0);
            assert_eq!(statements(&db), before, "{region}: from the cache");
            assert!(Handle::ptr_eq(&a, &again), "{region}: one object per key");
            assert_eq!(again.read().owner, "changed", "{region}: the pending change is kept");
            assert!(s.is_dirty(&a));

            // Another session gets the cached row as its own object.
            let mut other = db.session();
            let theirs = one(&mut other, 3, region).all().await?.remove(0);
            assert_eq!(theirs.read().owner, "o3");
            assert!(!Handle::ptr_eq(&a, &theirs));
            assert_eq!(statements(&db), before);

            // With autoflush the change is flushed: the open transaction
            // bypasses the cache and reads its own write, storing nothing.
            s.set_autoflush(true);
            let inside = one(&mut s, 3, region).rows().await?;
            assert_eq!(inside[0].get::<String>("owner")?, "changed");
            assert_eq!(statements(&db) - before, 2, "{region}: UPDATE, then SELECT in the transaction");
            s.rollback().await?;
            assert_eq!(balance(&db, region, 3).await?, 300);
        }
        Ok(())
    }

    async fn a_result_read_before_a_commit_is_not_stored(db) {
        seed(&db).await?;
        both_regions(&db, |r| r).await?;
        let sql = slow_select(db.dialect(), 500, "(SELECT COUNT(*) FROM accounts) AS n");
        let count = |db: Database, region: &'static str| {
            let sql = sql.clone();
            async move {
                let rows: Vec<Row> = db.sql(sql, vec![]).cached(region).reads(["accounts"]).rows().await?;
                rows[0].get::<i64>("n")
            }
        };
        for (i, region) in KINDS.into_iter().enumerate() {
            let total = ACCOUNTS + i as i64;
            let reader = tokio::spawn(count(db.clone(), region));
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut s = db.session();
            s.add(Account { id: 100 + i as i64, owner: "new".into(), balance: 0 });
            s.commit().await?;
            let seen = reader.await??;
            if db.dialect() == Dialect::Postgres {
                assert_eq!(seen, total, "{region}: the statement's snapshot predates the commit");
            }
            if db.dialect() != Dialect::Sqlite {
                // (In-memory SQLite has one connection: the commit waits
                // for the read, so there is no race to lose.)
                let stats = db.cache().stats(region)?;
                assert_eq!(stats.stores_refused, 1, "{region}: {stats:?}");
            }
            assert_eq!(count(db.clone(), region).await?, total + 1, "{region}: the newer state");
        }
        Ok(())
    }

    async fn invalidate_by_key_and_by_region(db) {
        seed(&db).await?;
        both_regions(&db, |r| r).await?;
        for region in KINDS {
            let total = || {
                db.sql("SELECT COUNT(*) AS total FROM accounts", vec![])
                    .cached(region)
                    .key("total")
                    .rows()
            };
            let runs = |expected: u64, before: u64, why: &str| {
                assert_eq!(statements(&db) - before, expected, "{region}: {why}");
            };
            let before = statements(&db);
            total().await?;
            total().await?;
            runs(1, before, "named key, cached");
            db.cache().invalidate(region, "total").await?;
            total().await?;
            runs(2, before, "invalidated by key");
            let mut s = db.session();
            s.query::<Account>().cached(region).all().await?;
            s.query::<Account>().cached(region).invalidate().await?;
            s.query::<Account>().cached(region).all().await?;
            runs(4, before, "a query's own entry invalidated");
            db.cache().invalidate_region(region).await?;
            total().await?;
            s.query::<Account>().cached(region).all().await?;
            runs(6, before, "the whole region invalidated");
        }
        Ok(())
    }

    async fn redis_on_a_closed_port_still_gives_rows(db) {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        redis_unreachable(&db, &format!("redis://127.0.0.1:{port}")).await
    }

    async fn redis_that_never_answers_still_gives_rows(db) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        std::thread::spawn(move || {
            // Accepts, holds the sockets, never says a word.
            let held: Vec<_> = listener.incoming().flatten().collect();
            drop(held);
        });
        redis_unreachable(&db, &format!("redis://127.0.0.1:{port}")).await
    }

    async fn a_lock_owner_that_never_releases_blocks_no_longer_than_the_timeout(db) {
        seed(&db).await?;
        let store = redis_store(Duration::from_millis(500)).await;
        db.cache()
            .add(Region::redis("r", &store).lock_timeout(Duration::from_millis(300)))?;
        let mut s = db.session();
        let key = s.query::<Account>().filter(Account::ID.eq(4)).cached("r").cache_key()?;
        // A dead owner's lock, with no expiry at all.
        let mut raw = raw_redis().await;
        let _: () = redis::cmd("SET")
            .arg(format!("{key}#lock"))
            .arg("a-dead-process")
            .query_async(&mut raw)
            .await?;
        let started = Instant::now();
        let rows = s.query::<Account>().filter(Account::ID.eq(4)).cached("r").rows().await?;
        let took = started.elapsed();
        assert_eq!(rows[0].get::<i64>("balance")?, 400);
        assert!(took >= Duration::from_millis(300), "waited for the owner first: {took:?}");
        // Generous upper bound (the machine is shared): the dead owner's lock
        // has no expiry, so without the lock timeout this would never return.
        assert!(took < Duration::from_secs(5), "but not past the lock timeout: {took:?}");
        assert_eq!(db.cache().stats("r")?.lock_timeouts, 1);
        Ok(())
    }

    async fn a_damaged_cached_value_is_a_miss(db) {
        seed(&db).await?;
        let store = redis_store(Duration::from_millis(500)).await;
        db.cache().add(Region::redis("r", &store))?;
        let mut s = db.session();
        let key = one(&mut s, 5, "r").key("fifth").cache_key()?;
        assert_eq!(one(&mut s, 5, "r").key("fifth").all().await?[0].read().balance, 500);
        let mut raw = raw_redis().await;
        for damage in ["garbage", ""] {
            let _: () = redis::cmd("SET").arg(&key).arg(damage).query_async(&mut raw).await?;
            let before = statements(&db);
            let mut fresh = db.session();
            assert_eq!(one(&mut fresh, 5, "r").key("fifth").all().await?[0].read().balance, 500);
            assert_eq!(statements(&db) - before, 1, "{damage:?}: a miss, not an error");
        }
        assert_eq!(db.cache().stats("r")?.corrupt, 2);
        let before = statements(&db);
        one(&mut s, 5, "r").key("fifth").all().await?;
        assert_eq!(statements(&db), before, "stored again");
        Ok(())
    }
}

/// A Redis region that cannot help: every query still returns the right
/// rows, each within the deadline (plus the query), and after three
/// failures the breaker skips Redis.
async fn redis_unreachable(db: &Database, url: &str) -> TestResult {
    seed(db).await?;
    let deadline = RedisOptions::default().deadline;
    let store = RedisStore::new(
        url,
        RedisOptions {
            namespace: namespace(),
            ..RedisOptions::default()
        },
    )?;
    db.cache().add(Region::redis("down", &store))?;
    let mut s = db.session();
    let expected = s
        .query::<Account>()
        .filter(Account::OWNER.eq("o2"))
        .rows()
        .await?;
    for i in 0..6 {
        let started = Instant::now();
        let mut s = db.session();
        let rows = s
            .query::<Account>()
            .filter(Account::OWNER.eq("o2"))
            .cached("down")
            .rows()
            .await?;
        let took = started.elapsed();
        assert_eq!(rows, expected, "query {i}: correct rows");
        assert!(
            // Generous (shared machine): a client retry loop left alone takes
            // about 10 s; the deadline keeps each query near the query's own time.
            took < deadline + Duration::from_secs(2),
            "query {i} took {took:?} (deadline {deadline:?})"
        );
    }
    let stats = store.stats();
    assert_eq!(stats.errors, 3, "{stats:?}");
    assert_eq!(stats.skipped, 3, "the breaker skips Redis: {stats:?}");
    assert!(stats.breaker_open && stats.breaker_opened == 1, "{stats:?}");
    assert_eq!(db.cache().stats("down")?.unavailable, 6);
    Ok(())
}

/// Runs a scenario with two pools (two "processes", each with its own
/// result cache) on one database: a SQLite file, PostgreSQL, MariaDB.
async fn with_two<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Database, Database) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let t = TestDb::new(backend).await;
    let other = Database::connect(&t.url).await.expect("a second pool");
    let outcome = AssertUnwindSafe(body(t.db.clone(), other.clone()))
        .catch_unwind()
        .await;
    other.close().await;
    t.cleanup().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{backend:?}: {e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

macro_rules! two_process_tests {
    ($(async fn $name:ident($a:ident, $b:ident) $body:block)*) => {$(
        mod $name {
            use super::*;

            async fn scenario($a: Database, $b: Database) -> TestResult $body

            #[tokio::test]
            async fn sqlite_file() {
                with_two(Backend::SqliteFile, scenario).await
            }

            #[tokio::test]
            async fn sqlite_sqlx_file() {
                with_two(Backend::SqliteSqlxFile, scenario).await
            }

            #[tokio::test]
            async fn postgres() {
                with_two(Backend::Postgres, scenario).await
            }

            #[tokio::test]
            async fn mysql() {
                with_two(Backend::MySql, scenario).await
            }
        }
    )*};
}

/// One Redis region named "shared" on each database, on one namespace.
async fn share_redis(a: &Database, b: &Database) -> orm_core::Result<()> {
    let one = redis_store(Duration::from_millis(500)).await;
    let two = RedisStore::new(&redis_url(), one.options().clone())?;
    a.cache().add(Region::redis("shared", &one))?;
    b.cache().add(Region::redis("shared", &two))?;
    Ok(())
}

two_process_tests! {
    async fn fifty_callers_in_two_processes_run_one_query(a, b) {
        seed(&a).await?;
        share_redis(&a, &b).await?;
        let sql = slow_select(a.dialect(), 200, "(SELECT COUNT(*) FROM accounts) AS n");
        let before = statements(&a) + statements(&b);
        let callers = (0..50).map(|i| {
            let db = if i % 2 == 0 { a.clone() } else { b.clone() };
            let sql = sql.clone();
            tokio::spawn(async move {
                let rows = db.sql(sql, vec![]).cached("shared").reads(["accounts"]).rows().await?;
                rows[0].get::<i64>("n")
            })
        });
        for n in join_all(callers).await {
            assert_eq!(n??, ACCOUNTS);
        }
        assert_eq!(statements(&a) + statements(&b) - before, 1, "one query for both processes");
        let (sa, sb) = (a.cache().stats("shared")?, b.cache().stats("shared")?);
        assert_eq!(sa.computed + sb.computed, 1, "{sa:?} {sb:?}");
        Ok(())
    }

    async fn a_commit_invalidates_another_process_cache(a, b) {
        seed(&a).await?;
        share_redis(&a, &b).await?;
        assert_eq!(balance(&b, "shared", 6).await?, 600);
        let before = statements(&a);
        assert_eq!(balance(&a, "shared", 6).await?, 600);
        assert_eq!(statements(&a), before, "stored by the other process");

        let mut s = a.session();
        s.get::<Account>(6).await?.write().balance = 606;
        s.commit().await?;
        let before = statements(&b);
        assert_eq!(balance(&b, "shared", 6).await?, 606, "invalidated through Redis");
        assert_eq!(statements(&b) - before, 1);
        Ok(())
    }
}
