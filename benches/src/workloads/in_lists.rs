//! `IN (...)` vs `= ANY($1)` on PostgreSQL with raw sqlx (the data behind
//! the ORM's switch to an array parameter for long lists).

use std::time::{Duration, Instant};

use crate::runner::median;

/// `IN ($1, ..., $n)` (padded to a power of two) against one array bind
/// (`= ANY($1)`, PostgreSQL only) and against exact-length lists, with raw
/// sqlx on each server backend: the data behind the choice in
/// `orm-core/src/query/templated.rs`.
pub async fn in_lists() -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Executor};
    let pg_url =
        std::env::var("ORM_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut pg = sqlx::PgConnection::connect(&pg_url).await?;
    pg.execute("DROP TABLE IF EXISTS bench_in").await?;
    pg.execute("CREATE TABLE bench_in (id bigint PRIMARY KEY, v text)").await?;
    pg.execute("INSERT INTO bench_in SELECT g, 'x' FROM generate_series(0, 99999) g").await?;
    pg.execute("ANALYZE bench_in").await?;
    println!("## PostgreSQL: IN list vs = ANY($1), one connection, median of 7 passes (µs per query)\n");
    println!("| values | IN exact | IN padded | = ANY($1) |");
    println!("|---:|---:|---:|---:|");
    for n in [1usize, 10, 100, 1000, 10000] {
        let ids: Vec<i64> = (0..n as i64).map(|i| i * 7 % 100_000).collect();
        let iters = (20_000 / n).clamp(20, 2000);
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for pass in 0..8 {
            for (k, times) in times.iter_mut().enumerate() {
                let started = Instant::now();
                for i in 0..iters {
                    // Vary the length a little so "exact" sees several texts, as real traffic does.
                    let len = if k == 0 { n - (i % n.min(8)) } else { n };
                    let part = &ids[..len];
                    let rows = match k {
                        2 => {
                            sqlx::query("SELECT id, v FROM bench_in WHERE id = ANY($1)")
                                .bind(part)
                                .fetch_all(&mut pg)
                                .await?
                        }
                        _ => {
                            let slots = if k == 1 { len.next_power_of_two() } else { len };
                            let list: Vec<String> = (1..=slots).map(|p| format!("${p}")).collect();
                            let sql = format!("SELECT id, v FROM bench_in WHERE id IN ({})", list.join(", "));
                            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                            for p in 0..slots {
                                q = q.bind(part[p.min(len - 1)]);
                            }
                            q.fetch_all(&mut pg).await?
                        }
                    };
                    std::hint::black_box(rows);
                }
                if pass > 0 {
                    times.push(started.elapsed() / iters as u32);
                }
            }
        }
        let us = |v: &Vec<Duration>| median(v.clone()).as_secs_f64() * 1e6;
        println!("| {n} | {:.0} | {:.0} | {:.0} |", us(&times[0]), us(&times[1]), us(&times[2]));
    }
    pg.execute("DROP TABLE bench_in").await?;

    // MySQL and SQLite have no array parameters: only exact vs padded IN.
    let my_url = std::env::var("ORM_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let mut my = sqlx::MySqlConnection::connect(&my_url).await?;
    my.execute("DROP TABLE IF EXISTS bench_in").await?;
    my.execute("CREATE TABLE bench_in (id BIGINT PRIMARY KEY, v TEXT)").await?;
    my.execute("SET SESSION max_recursive_iterations = 200000").await?;
    my.execute("INSERT INTO bench_in WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 99999) SELECT n, 'x' FROM g")
        .await?;
    exact_vs_padded!("MariaDB", my);
    my.execute("DROP TABLE bench_in").await?;

    let mut lite = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
    lite.execute("CREATE TABLE bench_in (id INTEGER PRIMARY KEY, v TEXT)").await?;
    lite.execute("INSERT INTO bench_in WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 99999) SELECT n, 'x' FROM g")
        .await?;
    exact_vs_padded!("SQLite (in memory)", lite);
    Ok(())
}

/// Exact-length against power-of-two-padded `IN (?, ...)` lists on one
/// connection with `?` placeholders, median µs per query.
macro_rules! exact_vs_padded {
    ($name:expr, $conn:ident) => {{
        println!("\n## {}: IN list exact vs padded, one connection, median of 7 passes (µs per query)\n", $name);
        println!("| values | IN exact | IN padded |");
        println!("|---:|---:|---:|");
        for n in [1usize, 10, 100, 1000, 10000] {
            let ids: Vec<i64> = (0..n as i64).map(|i| i * 7 % 100_000).collect();
            let iters = (20_000 / n).clamp(20, 2000);
            let mut times = [Vec::new(), Vec::new()];
            for pass in 0..8 {
                for (k, times) in times.iter_mut().enumerate() {
                    let started = Instant::now();
                    for i in 0..iters {
                        let len = if k == 0 { n - (i % n.min(8)) } else { n };
                        let slots = if k == 1 { len.next_power_of_two() } else { len };
                        let sql = format!("SELECT id, v FROM bench_in WHERE id IN ({})", vec!["?"; slots].join(", "));
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for p in 0..slots {
                            q = q.bind(ids[p.min(len - 1)]);
                        }
                        std::hint::black_box(q.fetch_all(&mut $conn).await?);
                    }
                    if pass > 0 {
                        times.push(started.elapsed() / iters as u32);
                    }
                }
            }
            let us = |v: &Vec<Duration>| median(v.clone()).as_secs_f64() * 1e6;
            println!("| {n} | {:.0} | {:.0} |", us(&times[0]), us(&times[1]));
        }
    }};
}
use exact_vs_padded;
