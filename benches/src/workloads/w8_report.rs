//! W8: the cached report query of a reporting dashboard: a GROUP BY over every user and post
//! (posts and views per age, 50 rows), run by raw sqlx (the floor, no
//! cache), by the ORM uncached (`db.sql(..).rows()`), and by the ORM through
//! a memory region and a Redis region (`.cached(region)`; the warm-up
//! operation is the miss that fills the region, every timed one is a hit:
//! what a dashboard that many users open sees). The regions are declared to
//! read both tables, so a commit that writes either invalidates them. They
//! live on a `Database` of their own (`Ctx::db_cached`): a database with
//! regions bumps the written tables' generations at every commit, and the
//! other workloads measure the ORM without a cache.
//!
//! Redis is found at `ORM_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`),
//! under a namespace of this process; a Redis that does not answer stops
//! the run with that message, never a silent skip.

use std::error::Error;

use orm_core::Database;
use orm_core::cache::{RedisOptions, RedisStore, Region};

use crate::peers::Outcome;
use crate::workloads::Ctx;

type R = Result<Outcome, Box<dyn Error>>;

/// The report. MySQL's SUM is DECIMAL: cast to a 64-bit integer everywhere.
pub fn report_sql(mysql: bool) -> String {
    let int = if mysql { "SIGNED" } else { "BIGINT" };
    format!(
        "SELECT u.age, COUNT(p.id) AS posts, CAST(COALESCE(SUM(p.views), 0) AS {int}) AS views \
         FROM bench_users u LEFT JOIN bench_posts p ON p.user_id = u.id GROUP BY u.age ORDER BY u.age"
    )
}

const TABLES: [&str; 2] = ["bench_users", "bench_posts"];

/// Declares the two regions on the ORM's database.
pub async fn regions(db: &Database) -> Result<(), Box<dyn Error>> {
    let url = std::env::var("ORM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let options = RedisOptions { namespace: format!("orm-bench:{}:", std::process::id()), ..RedisOptions::default() };
    let redis = RedisStore::new(&url, options)?;
    if !redis.ping().await {
        return Err(format!("W8: Redis did not answer at {url} (set ORM_TEST_REDIS_URL)").into());
    }
    db.cache().add(Region::memory("memory"))?;
    db.cache().add(Region::redis("redis", &redis))?;
    Ok(())
}

/// Empties both regions, so the case's first operation is a miss.
pub async fn reset(db: &Database) -> Result<(), Box<dyn Error>> {
    for region in ["memory", "redis"] {
        db.cache().invalidate_region(region).await?;
    }
    Ok(())
}

/// The ORM, uncached (`region` None) or through a region.
pub async fn orm(ctx: &Ctx, region: Option<&str>) -> R {
    let db = &ctx.db_cached;
    let before = db.stats().statements();
    let q = db.sql(report_sql(ctx.backend == crate::workloads::Backend::Mysql), vec![]).reads(TABLES);
    let rows = match region {
        Some(r) => q.cached(r).rows().await?,
        None => q.rows().await?,
    };
    // Read every cell, as the raw peer decodes every column.
    let mut total = 0i64;
    for row in &rows {
        total += row.get::<i64>("posts")? + row.get::<i64>("views")? + i64::from(row.get::<i32>("age")?);
    }
    std::hint::black_box(total);
    Ok(Outcome::new(rows.len(), db.stats().statements() - before))
}

/// Raw sqlx: the same SQL into tuples.
pub async fn sqlx(ctx: &Ctx) -> R {
    let rows = ctx.raw.report(report_sql(ctx.backend == crate::workloads::Backend::Mysql)).await?;
    std::hint::black_box(rows.iter().map(|r| i64::from(r.0) + r.1 + r.2).sum::<i64>());
    Ok(Outcome::new(rows.len(), 1))
}
