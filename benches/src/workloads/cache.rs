//! The reporting workload (`examples/report.rs`, the same tables and
//! queries) on PostgreSQL (`DATABASE_URL`, default the test server;
//! `--backend sqlite` for a SQLite file):
//!
//! * the six report queries one after another vs concurrently on six
//!   pooled connections (`Database::concurrently`), interleaved passes;
//! * one query's latency uncached, on a miss (the query, plus encoding and
//!   storing the rows) and on a hit, for a memory region and a Redis region,
//!   for the report's entity query (100 objects merged into a session) and
//!   for a small plain-rows report query.
//!
//! Medians of interleaved passes.

// The example's own file (formatted with the examples, not by the benches' rustfmt.toml).
#[path = "../../../examples/report/pgbench.rs"]
#[rustfmt::skip]
mod pgbench;

use std::time::{Duration, Instant};

use orm_core::cache::{RedisOptions, RedisStore, Region};
use orm_core::{ConnectOptions, Database, Dialect, PoolOptions, Result};

use crate::runner::median;
use crate::workloads::Backend;

const PASSES: usize = 7;

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

/// One of the two queries timed through the cache.
#[derive(Clone, Copy)]
enum Probe {
    /// `pgbench::most_overdrawn`: objects merged into a fresh session.
    Entities,
    /// "balance by branch": plain rows.
    Rows,
}

impl Probe {
    fn name(self) -> &'static str {
        match self {
            Probe::Entities => "100 most overdrawn accounts (entities)",
            Probe::Rows => "balance by branch (rows)",
        }
    }

    /// Runs once, through `region` or uncached; returns the row count.
    async fn run(self, db: &Database, region: Option<&str>) -> Result<usize> {
        match self {
            Probe::Entities => {
                let mut s = db.session();
                let q = pgbench::most_overdrawn(&mut s);
                Ok(match region {
                    Some(r) => q.cached(r).all().await?.len(),
                    None => q.all().await?.len(),
                })
            }
            Probe::Rows => {
                // The first report query, built by the typed layer, through the cache as SQL.
                let stmt = pgbench::balance_by_branch(&mut db.session()).statement();
                let q = db.sql(stmt.sql().to_string(), stmt.params().to_vec()).reads(["pgbench_accounts"]);
                Ok(match region {
                    Some(r) => q.cached(r).rows().await?.len(),
                    None => q.rows().await?.len(),
                })
            }
        }
    }
}

async fn connect(url: &str) -> Result<Database> {
    let pool = PoolOptions { max_connections: 8, ..PoolOptions::default() };
    Database::connect_with(url, ConnectOptions { pool, ..ConnectOptions::default() }).await
}

fn default_label(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "PostgreSQL defaults (parallel query: 2 workers per query)",
        Dialect::Sqlite => "SQLite file (WAL, one connection per query)",
        Dialect::MySql => "MariaDB defaults",
    }
}

/// Medians of the six report queries run one after another and as one
/// concurrent batch, passes interleaved.
async fn serial_vs_concurrent(db: &Database) -> Result<(Duration, Duration)> {
    let batch =
        || Ok::<_, orm_core::Error>(pgbench::report_queries(db)?.into_iter().map(|(_, q)| q).collect::<Vec<_>>());
    db.concurrently(6, batch()?).await; // warm-up: server caches, pool connections
    let (mut serial, mut concurrent) = (Vec::new(), Vec::new());
    for _ in 0..PASSES {
        let started = Instant::now();
        for q in batch()? {
            for r in db.concurrently(1, vec![q]).await {
                r.map_err(|e| *e.error)?;
            }
        }
        serial.push(started.elapsed());
        let started = Instant::now();
        for r in db.concurrently(6, batch()?).await {
            r.map_err(|e| *e.error)?;
        }
        concurrent.push(started.elapsed());
    }
    Ok((median(serial), median(concurrent)))
}

pub async fn cache(backend: Backend) -> Result<()> {
    let url = match backend {
        Backend::Postgres => std::env::var("DATABASE_URL").unwrap_or_else(|_| backend.url()),
        _ => backend.url(),
    };
    let db = connect(&url).await?;
    let factor = if db.dialect() == Dialect::Sqlite { 2 } else { 5 };
    let scale = pgbench::Scale::new(factor);
    pgbench::create(&db, scale).await?;
    println!(
        "## Story 3 on {} (pgbench-like, scale {factor}: {} accounts, {} history rows)\n",
        db.dialect().name(),
        scale.accounts,
        scale.history
    );

    // Serial vs concurrent. On PostgreSQL also with parallel query off:
    // with it on, each query already spreads over the cores by itself.
    println!("| six report queries | serial ms | concurrent ms (6 workers) | speed-up |\n|---|---:|---:|---:|");
    let mut runs = vec![(default_label(db.dialect()), db.clone())];
    if db.dialect() == Dialect::Postgres {
        let sep = if url.contains('?') { '&' } else { '?' };
        let one_core = format!("{url}{sep}options[max_parallel_workers_per_gather]=0");
        runs.push(("parallel query off (one process per query)", connect(&one_core).await?));
    }
    for (label, db) in runs {
        let (s, c) = serial_vs_concurrent(&db).await?;
        println!("| {label} | {} | {} | {:.2}x |", ms(s), ms(c), s.as_secs_f64() / c.as_secs_f64());
    }
    println!();

    // Cached vs uncached.
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = RedisStore::new(
        &redis_url,
        RedisOptions { namespace: format!("orm-bench:{}:", std::process::id()), ..RedisOptions::default() },
    )?;
    if !redis.ping().await {
        return Err(orm_core::Error::Config(format!("Redis did not answer at {redis_url} (set REDIS_URL)")));
    }
    db.cache().add(Region::memory("memory"))?;
    db.cache().add(Region::redis("redis", &redis))?;
    println!("| query | region | uncached µs | miss µs | hit µs | uncached / hit |\n|---|---|---:|---:|---:|---:|");
    for probe in [Probe::Entities, Probe::Rows] {
        for region in ["memory", "redis"] {
            let (mut plain, mut miss, mut hit) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..PASSES {
                let started = Instant::now();
                let n = probe.run(&db, None).await?;
                plain.push(started.elapsed());
                db.cache().invalidate_region(region).await?;
                let started = Instant::now();
                assert_eq!(probe.run(&db, Some(region)).await?, n);
                miss.push(started.elapsed());
                let started = Instant::now();
                assert_eq!(probe.run(&db, Some(region)).await?, n);
                hit.push(started.elapsed());
            }
            let (p, m, h) = (median(plain), median(miss), median(hit));
            println!(
                "| {} | {region} | {} | {} | {} | {:.0}x |",
                probe.name(),
                us(p),
                us(m),
                us(h),
                p.as_secs_f64() / h.as_secs_f64()
            );
        }
    }
    let (m, r) = (db.cache().stats("memory")?, db.cache().stats("redis")?);
    println!(
        "\nregion stats: memory {} hits / {} misses, redis {} hits / {} misses; Redis errors {}",
        m.hits,
        m.misses,
        r.hits,
        r.misses,
        redis.stats().errors
    );
    Ok(())
}
