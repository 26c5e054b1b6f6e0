//! `pool-cost`: what one statement in autocommit costs on a bare sqlx
//! connection against the same statement on a sqlx pool of one connection
//! (no ping before acquire), and what `Connection::ping` costs alone: the
//! difference the peers' floor (a bare connection) removes. sqlx 0.9 pings a
//! connection when it goes back to a pool (`PoolConnection`'s drop spawns
//! the return, which pings before the connection is idle again), so with
//! one connection every statement waits for the previous one's ping.
//!
//! Runs on the `bench_users` table the peers' seed leaves (run `peers`
//! first: keys 1..1,000 are the first users of a fresh seed), one key per statement; median of 7 interleaved passes of 2,000
//! statements, in µs per statement.

use std::error::Error;
use std::time::Instant;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database, Executor, IntoArguments, Pool};

use super::Backend;
use crate::peers::sqlx_raw::sqlite_options;
use crate::runner::median;

const STATEMENTS: usize = 2_000;
const PASSES: usize = 7;

/// µs per statement: the bare connection, the pool of one, and a ping alone.
struct Row {
    bare: Vec<f64>,
    pooled: Vec<f64>,
    ping: Vec<f64>,
}

async fn measure<DB>(bare: &mut DB::Connection, pool: &Pool<DB>, sql: &'static str) -> Result<Row, Box<dyn Error>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    i64: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    let mut row = Row { bare: Vec::new(), pooled: Vec::new(), ping: Vec::new() };
    let per = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / STATEMENTS as f64;
    for pass in 0..=PASSES {
        let t = Instant::now();
        for i in 0..STATEMENTS {
            sqlx::query(sql).bind(1 + (i % 1000) as i64).fetch_all(&mut *bare).await?;
        }
        let b = per(t);
        let t = Instant::now();
        for i in 0..STATEMENTS {
            sqlx::query(sql).bind(1 + (i % 1000) as i64).fetch_all(pool).await?;
        }
        let p = per(t);
        let t = Instant::now();
        for _ in 0..STATEMENTS {
            bare.ping().await?;
        }
        let g = per(t);
        if pass > 0 {
            row.bare.push(b);
            row.pooled.push(p);
            row.ping.push(g);
        }
    }
    Ok(row)
}

fn pool_options<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new().max_connections(1).min_connections(1).test_before_acquire(false)
}

pub async fn pool_cost(backends: &[Backend]) -> Result<(), Box<dyn Error>> {
    println!("## One statement in autocommit: bare sqlx connection vs a sqlx pool of one (µs per statement)\n");
    println!(
        "`SELECT id, name, email, age, visits FROM bench_users WHERE id = ?`, {STATEMENTS} statements a pass, \
         median of {PASSES} passes (min-max of the pool's extra cost).\n"
    );
    println!("| backend | bare connection | pool of one | pool - bare | `ping` alone |");
    println!("|---|---:|---:|---:|---:|");
    for &backend in backends {
        let url = backend.url();
        let row = match backend {
            Backend::Postgres => {
                let mut bare = sqlx::PgConnection::connect(&url).await?;
                let pool = pool_options::<sqlx::Postgres>().connect(&url).await?;
                let sql = "SELECT id, name, email, age, visits FROM bench_users WHERE id = $1";
                measure(&mut bare, &pool, sql).await?
            }
            Backend::Mysql => {
                let mut bare = sqlx::MySqlConnection::connect(&url).await?;
                let pool = pool_options::<sqlx::MySql>().connect(&url).await?;
                let sql = "SELECT id, name, email, age, visits FROM bench_users WHERE id = ?";
                measure(&mut bare, &pool, sql).await?
            }
            Backend::Sqlite => {
                let opts = sqlite_options(&url)?;
                let mut bare = sqlx::SqliteConnection::connect_with(&opts).await?;
                let pool = pool_options::<sqlx::Sqlite>().connect_with(opts).await?;
                let sql = "SELECT id, name, email, age, visits FROM bench_users WHERE id = ?";
                measure(&mut bare, &pool, sql).await?
            }
        };
        let extra: Vec<f64> = row.pooled.iter().zip(&row.bare).map(|(p, b)| p - b).collect();
        let (lo, hi) = extra.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        println!(
            "| {} | {:.1} | {:.1} | {:.1} ({:.1} to {:.1}) | {:.1} |",
            backend.name(),
            median(row.bare),
            median(row.pooled),
            median(extra),
            lo,
            hi,
            median(row.ping)
        );
    }
    Ok(())
}
