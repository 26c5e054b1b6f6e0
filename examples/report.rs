//! Reporting: six slow queries on pgbench-like tables, serial vs
//! concurrent, and a slow query through the result cache.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --release --example report
//! cargo run --release --example report     # a SQLite file in the temp directory
//! ```
//!
//! (`mysql://` URLs work too.)
//!
//! It creates and fills `pgbench_branches`, `_tellers`, `_accounts` and
//! `_history` itself (scale `REPORT_SCALE`: 100,000 accounts per unit;
//! default 10 on a server, 2 on SQLite), then times:
//!
//! 1. the six report queries (built with the typed layer: aggregates, GROUP
//!    BY an expression, joins of history with accounts, a HAVING that
//!    compares a sum with a column, a count of groups) one after
//!    another, then concurrently on six pooled connections
//!    (`Database::concurrently`);
//! 2. the 100 most overdrawn accounts (an entity query that scans every
//!    account): uncached, first run through a cache region (a miss: the
//!    query runs and its rows are stored), second run (a hit), the objects
//!    merged into the session's identity map. The region is in Redis
//!    (`REDIS_URL`, default `redis://127.0.0.1:6379`) when Redis answers,
//!    in memory otherwise.

#[path = "report/pgbench.rs"]
mod pgbench;

use std::time::{Duration, Instant};

use orm_core::cache::{RedisOptions, RedisStore, Region};
use orm_core::prelude::*;
use orm_core::{ConnectOptions, Dialect, PoolOptions};

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn connect() -> Result<Database> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        let file = std::env::temp_dir().join("orm-report.sqlite");
        format!("sqlite://{}", file.display())
    });
    let options = ConnectOptions {
        pool: PoolOptions {
            max_connections: 8,
            ..PoolOptions::default()
        },
        ..ConnectOptions::default()
    };
    Database::connect_with(&url, options).await
}

/// The cache region "report": Redis if it answers, else memory.
async fn report_region(db: &Database) -> Result<&'static str> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let expiry = Duration::from_secs(600);
    let redis = RedisStore::new(&url, RedisOptions::default())?;
    if redis.ping().await {
        db.cache()
            .add(Region::redis("report", &redis).expiry(expiry))?;
        Ok("Redis")
    } else {
        db.cache().add(Region::memory("report").expiry(expiry))?;
        Ok("memory (Redis did not answer)")
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let db = connect().await?;
    let default_scale = if db.dialect() == Dialect::Sqlite {
        2
    } else {
        10
    };
    let factor = std::env::var("REPORT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_scale);
    let scale = pgbench::Scale::new(factor);
    let started = Instant::now();
    pgbench::create(&db, scale).await?;
    println!(
        "story 3 on {}: scale {factor} ({} branches, {} tellers, {} accounts, {} history rows), filled in {:.1} s\n",
        db.dialect().name(),
        scale.branches,
        scale.tellers,
        scale.accounts,
        scale.history,
        started.elapsed().as_secs_f64()
    );

    // 1. Six independent report queries, built with the typed layer.
    let titles: Vec<&str> = pgbench::report_queries(&db)?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let batch = || -> Result<Vec<_>> {
        Ok(pgbench::report_queries(&db)?
            .into_iter()
            .map(|(_, q)| q)
            .collect())
    };
    // Warm the server's caches and open the pool's connections first.
    db.concurrently(6, batch()?).await;
    println!("six report queries");
    let serial = Instant::now();
    for (title, query) in pgbench::report_queries(&db)? {
        let one = Instant::now();
        let mut results = db.concurrently(1, vec![query]).await;
        let rows = results.pop().expect("one result").map_err(|e| *e.error)?;
        let plural = if rows.len() == 1 { "" } else { "s" };
        println!(
            "  {title:<40} {:>10}  ({} row{plural})",
            ms(one.elapsed()),
            rows.len()
        );
    }
    let serial = serial.elapsed();
    let batch = batch()?;
    let concurrent = Instant::now();
    let results = db.concurrently(6, batch).await;
    let concurrent = concurrent.elapsed();
    for (r, title) in results.iter().zip(&titles) {
        if let Err(e) = r {
            println!("  {title}: {e}");
        }
    }
    println!("  {:<40} {:>10}", "serial, one after another", ms(serial));
    println!(
        "  {:<40} {:>10}  ({:.1}x)",
        "concurrent, 6 workers",
        ms(concurrent),
        serial.as_secs_f64() / concurrent.as_secs_f64()
    );
    // A typed select's rows are tuples of Rust values.
    let mut s = db.session();
    if let Some((bid, accounts, balance)) = pgbench::balance_by_branch(&mut s).first().await? {
        println!(
            "  branch {bid}: {accounts} accounts, balance {} (a typed row: (i32, i64, Option<i64>))\n",
            balance.unwrap_or(0)
        );
    }

    // 2. One slow query through the cache, into the session.
    let region = report_region(&db).await?;
    // The tables were filled with raw SQL, which the cache does not see.
    db.cache()
        .invalidate_tables(&["pgbench_accounts", "pgbench_history"])
        .await;
    println!("the 100 most overdrawn accounts (an entity query), region in {region}");
    let mut s = db.session();
    let uncached = Instant::now();
    let plain = pgbench::most_overdrawn(&mut s).all().await?;
    let uncached = uncached.elapsed();
    let mut s = db.session();
    let first = Instant::now();
    let miss = pgbench::most_overdrawn(&mut s)
        .cached("report")
        .all()
        .await?;
    let first = first.elapsed();
    let second = Instant::now();
    let hit = pgbench::most_overdrawn(&mut s)
        .cached("report")
        .all()
        .await?;
    let second = second.elapsed();
    println!("  {:<40} {:>10}", "uncached", ms(uncached));
    println!(
        "  {:<40} {:>10}",
        "cached, first run (miss, stored)",
        ms(first)
    );
    println!(
        "  {:<40} {:>10}  ({:.0}x)",
        "cached, second run (hit)",
        ms(second),
        uncached.as_secs_f64() / second.as_secs_f64()
    );
    let stats = db.cache().stats("report")?;
    assert_eq!((stats.misses, stats.hits), (1, 1));
    assert_eq!(plain.len(), hit.len());
    assert!(Handle::ptr_eq(&miss[0], &hit[0]));
    println!(
        "  merged into the session: {} objects in its identity map, the same handles both runs",
        s.identity_count::<pgbench::Account>()
    );
    Ok(())
}
