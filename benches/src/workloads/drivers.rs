//! `drivers`: the driver decision of issue 18, measured. Each server
//! backend's two Rust drivers, each on one bare connection as its docs write
//! it, on the same statements: sqlx-postgres (`PgConnection`) against
//! `tokio-postgres` (`Client`, binary protocol, statements prepared once),
//! and sqlx-mysql (`MySqlConnection`) against `mysql_async` (`Conn`, its
//! statement cache). Both sides decode into the same plain struct.
//!
//! Cases (the peers' W1, W3 and W5 shapes, on a table of its own,
//! `bench_drv_users`, seeded here with 10,000 rows):
//! * `load N`: `SELECT .. WHERE id < $1` for 1, 100 and 10,000 rows;
//! * `insert N`: one multi-row INSERT of 100 or 10,000 rows, keys read back
//!   with RETURNING (MariaDB has it; a MySQL server would not);
//! * `update 1,000`: in one transaction, 1,000 single-row UPDATEs one after
//!   the other (what a flush does today), and on tokio-postgres the same
//!   UPDATEs pipelined (all sent before the first reply is read: its
//!   client pipelines requests polled concurrently), which sqlx cannot do
//!   on one connection.
//!
//! Each case runs 15 interleaved passes (a warm-up pass first, untimed);
//! the table shows each driver's median and the median of the per-pass
//! ratios (other driver / sqlx) with its min-max.

use std::error::Error;
use std::time::Instant;

use futures_util::future::try_join_all;
use sqlx::{Connection, QueryBuilder};

use super::Backend;
use crate::runner::median;

const PASSES: usize = 15;
const SEED: usize = 10_000;

type Res<T> = Result<T, Box<dyn Error>>;

#[derive(sqlx::FromRow)]
#[allow(dead_code)] // read only to be decoded, as an application would
struct Row {
    id: i64,
    name: String,
    email: String,
    age: i32,
    visits: i32,
}

/// One case's per-pass times in µs: sqlx, the other driver, and the other
/// driver pipelined where it can be.
#[derive(Default)]
struct Times {
    sqlx: Vec<f64>,
    other: Vec<f64>,
    pipelined: Vec<f64>,
}

impl Times {
    /// Keeps one pass's timings; pass 0 warms caches and statements up.
    fn record(&mut self, pass: usize, sqlx: f64, other: f64, pipelined: Option<f64>) {
        if pass > 0 {
            self.sqlx.push(sqlx);
            self.other.push(other);
            self.pipelined.extend(pipelined);
        }
    }
}

fn us(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e6
}

fn summary(name: &str, t: &Times) -> String {
    let ratio = |o: &[f64]| -> String {
        let r: Vec<f64> = o.iter().zip(&t.sqlx).map(|(o, s)| o / s).collect();
        let (lo, hi) = r.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        format!("{:.2}x ({lo:.2}-{hi:.2})", median(r))
    };
    let pipe = if t.pipelined.is_empty() {
        "-".to_string()
    } else {
        format!("{:.0} µs, {}", median(t.pipelined.clone()), ratio(&t.pipelined))
    };
    format!(
        "| {name} | {:.0} | {:.0} | {} | {pipe} |",
        median(t.sqlx.clone()),
        median(t.other.clone()),
        ratio(&t.other)
    )
}

fn new_rows(n: usize, pass: usize) -> Vec<(String, String, i32)> {
    (0..n).map(|i| (format!("new {pass} {i}"), format!("new{pass}.{i}@example.com"), (i % 80) as i32)).collect()
}

pub async fn drivers(backends: &[Backend]) -> Res<()> {
    for &b in backends {
        match b {
            Backend::Postgres => postgres(&b.url()).await?,
            Backend::Mysql => mysql(&b.url()).await?,
            Backend::Sqlite => eprintln!("drivers: SQLite's choice was measured in `peers` (orm vs orm (sqlx driver))"),
        }
    }
    Ok(())
}

const DDL_PG: &str = "DROP TABLE IF EXISTS bench_drv_users; \
    CREATE TABLE bench_drv_users (id BIGSERIAL PRIMARY KEY, name VARCHAR(64) NOT NULL, \
    email VARCHAR(128) NOT NULL, age INTEGER NOT NULL, visits INTEGER NOT NULL)";

async fn seed<DB: sqlx::Database>(c: &mut DB::Connection) -> Res<()>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments: sqlx::IntoArguments<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i32: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for part in new_rows(SEED, 0).chunks(2_000) {
        let mut qb = QueryBuilder::<DB>::new("INSERT INTO bench_drv_users (name, email, age, visits) ");
        qb.push_values(part, |mut b, (n, e, a)| {
            b.push_bind(n.clone()).push_bind(e.clone()).push_bind(*a).push_bind(0i32);
        });
        qb.build().execute(&mut *c).await?;
    }
    Ok(())
}

async fn postgres(url: &str) -> Res<()> {
    use sqlx::PgConnection;
    let mut sx = PgConnection::connect(url).await?;
    sqlx::raw_sql(DDL_PG).execute(&mut sx).await?;
    seed::<sqlx::Postgres>(&mut sx).await?;
    sqlx::raw_sql("ANALYZE bench_drv_users").execute(&mut sx).await?;
    let (tp, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);

    println!("\n## PostgreSQL: sqlx-postgres vs tokio-postgres, one bare connection each (µs per operation)\n");
    println!("| case | sqlx | tokio-postgres | tokio-postgres / sqlx | pipelined |");
    println!("|---|---:|---:|---:|---:|");

    let select = "SELECT id, name, email, age, visits FROM bench_drv_users WHERE id < $1";
    let sel = tp.prepare(select).await?;
    for n in [1usize, 100, 10_000] {
        let hi = 1 + n as i64;
        let mut t = Times::default();
        for pass in 0..=PASSES {
            let s = Instant::now();
            let rows: Vec<Row> = sqlx::query_as(select).bind(hi).fetch_all(&mut sx).await?;
            let a = us(s);
            assert_eq!(rows.len(), n);
            let s = Instant::now();
            let rows: Vec<Row> = tp
                .query(&sel, &[&hi])
                .await?
                .iter()
                .map(|r| Row { id: r.get(0), name: r.get(1), email: r.get(2), age: r.get(3), visits: r.get(4) })
                .collect();
            let b = us(s);
            assert_eq!(rows.len(), n);
            t.record(pass, a, b, None);
        }
        println!("{}", summary(&format!("load {n}"), &t));
    }

    for n in [100usize, 10_000] {
        let mut t = Times::default();
        // The multi-row statement text, built once per size as a user's
        // helper would, prepared once on tokio-postgres (sqlx caches it).
        let mut sql = String::from("INSERT INTO bench_drv_users (name, email, age, visits) VALUES ");
        for i in 0..n {
            let p = 4 * i;
            sql.push_str(&format!("{}(${}, ${}, ${}, ${})", if i > 0 { ", " } else { "" }, p + 1, p + 2, p + 3, p + 4));
        }
        sql.push_str(" RETURNING id");
        let ins = tp.prepare(&sql).await?;
        for pass in 0..=PASSES {
            let data = new_rows(n, pass + 1);
            let s = Instant::now();
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str()));
            for (name, email, age) in &data {
                q = q.bind(name).bind(email).bind(age).bind(0i32);
            }
            let ids = q.fetch_all(&mut sx).await?;
            let a = us(s);
            assert_eq!(ids.len(), n);
            let zero = 0i32;
            let s = Instant::now();
            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::with_capacity(4 * n);
            for (name, email, age) in &data {
                type P<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
                params.extend::<[P<'_>; 4]>([name, email, age, &zero]);
            }
            let ids: Vec<i64> = tp.query(&ins, &params).await?.iter().map(|r| r.get(0)).collect();
            let b = us(s);
            assert_eq!(ids.len(), n);
            sqlx::query("DELETE FROM bench_drv_users WHERE id > $1").bind(SEED as i64).execute(&mut sx).await?;
            t.record(pass, a, b, None);
        }
        println!("{}", summary(&format!("insert {n}"), &t));
    }

    let update = "UPDATE bench_drv_users SET visits = visits + 1 WHERE id = $1";
    let upd = tp.prepare(update).await?;
    let mut t = Times::default();
    for pass in 0..=PASSES {
        let s = Instant::now();
        let mut tx = sx.begin().await?;
        for id in 1..=1_000i64 {
            sqlx::query(update).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let a = us(s);
        let s = Instant::now();
        tp.batch_execute("BEGIN").await?;
        for id in 1..=1_000i64 {
            tp.execute(&upd, &[&id]).await?;
        }
        tp.batch_execute("COMMIT").await?;
        let b = us(s);
        let s = Instant::now();
        tp.batch_execute("BEGIN").await?;
        let ids: Vec<i64> = (1..=1_000).collect();
        let n: u64 = try_join_all(ids.iter().map(|id| tp.execute_raw(&upd, [id]))).await?.into_iter().sum();
        tp.batch_execute("COMMIT").await?;
        let c = us(s);
        assert_eq!(n, 1_000);
        t.record(pass, a, b, Some(c));
    }
    println!("{}", summary("update 1,000 (one tx)", &t));
    sqlx::raw_sql("DROP TABLE bench_drv_users").execute(&mut sx).await?;
    Ok(())
}

async fn mysql(url: &str) -> Res<()> {
    use mysql_async::prelude::*;
    use sqlx::MySqlConnection;
    let mut sx = MySqlConnection::connect(url).await?;
    sqlx::raw_sql("DROP TABLE IF EXISTS bench_drv_users").execute(&mut sx).await?;
    sqlx::raw_sql(
        "CREATE TABLE bench_drv_users (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, \
         email VARCHAR(128) NOT NULL, age INT NOT NULL, visits INT NOT NULL)",
    )
    .execute(&mut sx)
    .await?;
    seed::<sqlx::MySql>(&mut sx).await?;
    sqlx::raw_sql("ANALYZE TABLE bench_drv_users").execute(&mut sx).await?;
    // TCP as sqlx uses: mysql_async's default (`prefer_socket`) asks the
    // server for its socket and reconnects through it when it is local.
    let opts = mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(url)?).prefer_socket(false);
    let mut my = mysql_async::Conn::new(opts).await?;

    println!("\n## MariaDB: sqlx-mysql vs mysql_async, one bare connection each (µs per operation)\n");
    println!("| case | sqlx | mysql_async | mysql_async / sqlx | pipelined |");
    println!("|---|---:|---:|---:|---:|");

    let select = "SELECT id, name, email, age, visits FROM bench_drv_users WHERE id < ?";
    for n in [1usize, 100, 10_000] {
        let hi = 1 + n as i64;
        let mut t = Times::default();
        for pass in 0..=PASSES {
            let s = Instant::now();
            let rows: Vec<Row> = sqlx::query_as(select).bind(hi).fetch_all(&mut sx).await?;
            let a = us(s);
            assert_eq!(rows.len(), n);
            let s = Instant::now();
            let rows: Vec<Row> = my
                .exec_map(select, (hi,), |(id, name, email, age, visits)| Row { id, name, email, age, visits })
                .await?;
            let b = us(s);
            assert_eq!(rows.len(), n);
            t.record(pass, a, b, None);
        }
        println!("{}", summary(&format!("load {n}"), &t));
    }

    for n in [100usize, 10_000] {
        let mut t = Times::default();
        let mut sql = String::from("INSERT INTO bench_drv_users (name, email, age, visits) VALUES ");
        for i in 0..n {
            sql.push_str(if i > 0 { ", (?, ?, ?, ?)" } else { "(?, ?, ?, ?)" });
        }
        sql.push_str(" RETURNING id");
        for pass in 0..=PASSES {
            let data = new_rows(n, pass + 1);
            let s = Instant::now();
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str()));
            for (name, email, age) in &data {
                q = q.bind(name).bind(email).bind(age).bind(0i32);
            }
            let ids = q.fetch_all(&mut sx).await?;
            let a = us(s);
            assert_eq!(ids.len(), n);
            let s = Instant::now();
            let mut params: Vec<mysql_async::Value> = Vec::with_capacity(4 * n);
            for (name, email, age) in &data {
                params.extend([name.as_str().into(), email.as_str().into(), (*age).into(), 0i32.into()]);
            }
            let ids: Vec<i64> = my.exec(sql.as_str(), params).await?;
            let b = us(s);
            assert_eq!(ids.len(), n);
            sqlx::query("DELETE FROM bench_drv_users WHERE id > ?").bind(SEED as i64).execute(&mut sx).await?;
            t.record(pass, a, b, None);
        }
        println!("{}", summary(&format!("insert {n}"), &t));
    }

    let update = "UPDATE bench_drv_users SET visits = visits + 1 WHERE id = ?";
    let mut t = Times::default();
    for pass in 0..=PASSES {
        let s = Instant::now();
        let mut tx = sx.begin().await?;
        for id in 1..=1_000i64 {
            sqlx::query(update).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let a = us(s);
        let s = Instant::now();
        my.query_drop("BEGIN").await?;
        for id in 1..=1_000i64 {
            my.exec_drop(update, (id,)).await?;
        }
        my.query_drop("COMMIT").await?;
        let b = us(s);
        t.record(pass, a, b, None);
    }
    println!("{}", summary("update 1,000 (one tx)", &t));
    sqlx::raw_sql("DROP TABLE bench_drv_users").execute(&mut sx).await?;
    Ok(())
}
