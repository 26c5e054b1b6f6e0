//! Benchmarks, each printing its baseline measured in the same run.
//!
//! `cargo run --release --manifest-path benches/Cargo.toml -- templates`
//!
//! * `templates`: the time to produce SQL + parameters for one filtered
//!   query with an IN list of 1..1,000 ids, built fresh with sea-query
//!   (the baseline) vs served from the template cache, no database involved;
//!   then story 2's rule lookup (optional filters, several IN lists) on
//!   in-memory SQLite, lookups/s with templates off vs on.
//!
//! Timings are medians of several passes, interleaved so both sides see the
//! same machine state.

use std::time::{Duration, Instant};

use orm_core::prelude::*;

#[entity(table = "quality_rules")]
#[derive(Debug, Clone)]
pub struct Rule {
    #[key]
    pub id: i64,
    #[column(len = 32, index)]
    pub site: String,
    pub kind: i32,
    pub level: i32,
    pub partner: Option<i64>,
    pub body: String,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// ns per statement for `iters` builds, fresh or templated.
fn build_ns(s: &mut Session, ids: &[i64], iters: u32, templated: bool) -> f64 {
    let started = Instant::now();
    for i in 0..iters {
        let q = s
            .query::<Rule>()
            .filter(Rule::ID.is_in(ids))
            .filter(Rule::SITE.eq("site-3"))
            .filter(Rule::LEVEL.ge(i as i32 % 5))
            .order_by(Rule::ID.asc())
            .limit(100);
        let stmts = if templated { q.sql().expect("sql") } else { vec![q.without_template().statement()] };
        std::hint::black_box(stmts);
    }
    started.elapsed().as_nanos() as f64 / f64::from(iters)
}

async fn templates() -> Result<(), Error> {
    let db = Database::connect("sqlite::memory:").await?;
    db.create_all(&[Rule::schema()]).await?;
    let mut s = db.session();
    println!("## SQL + parameters for one query, fresh (sea-query) vs template\n");
    println!("| IN list | fresh ns | template ns | speed-up |");
    println!("|---:|---:|---:|---:|");
    for n in [1usize, 2, 5, 10, 50, 100, 1000] {
        let ids: Vec<i64> = (0..n as i64).collect();
        let iters = (200_000 / (n as u32 + 10)).max(200);
        build_ns(&mut s, &ids, iters / 10, true); // warm-up, and the first build stores the template
        build_ns(&mut s, &ids, iters / 10, false);
        let (mut fresh, mut tpl) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            fresh.push(Duration::from_nanos(build_ns(&mut s, &ids, iters, false) as u64));
            tpl.push(Duration::from_nanos(build_ns(&mut s, &ids, iters, true) as u64));
        }
        let (f, t) = (median(fresh), median(tpl));
        println!(
            "| {n} | {} | {} | {:.1}x |",
            f.as_nanos(),
            t.as_nanos(),
            f.as_nanos() as f64 / t.as_nanos().max(1) as f64
        );
    }
    let stats = db.templates().stats();
    println!("\ntemplate cache: {stats:?}\n");

    // Story 2: a rule lookup with optional filters and several IN lists.
    let mut w = db.session();
    w.add_all((0..5_000).map(|i| Rule {
        id: i,
        site: format!("site-{}", i % 50),
        kind: (i % 7) as i32,
        level: (i % 5) as i32,
        partner: (i % 3 == 0).then_some(i % 100),
        body: "x".repeat(40),
    }));
    w.commit().await?;
    println!("## quality_rules lookups on in-memory SQLite\n");
    println!("| templates | lookups/s |");
    println!("|---|---:|");
    let mut results = [Vec::new(), Vec::new()];
    for pass in 0..10 {
        for (slot, on) in [(0, false), (1, true)] {
            db.templates().set_enabled(on);
            let started = Instant::now();
            let lookups = 2_000;
            for i in 0..lookups {
                lookup(&mut s, i).await?;
            }
            if pass > 0 {
                results[slot].push(Duration::from_secs_f64(lookups as f64 / started.elapsed().as_secs_f64() / 1e6));
            }
        }
    }
    let off = median(results[0].clone()).as_secs_f64() * 1e6;
    let on = median(results[1].clone()).as_secs_f64() * 1e6;
    println!("| off | {off:.0} |\n| on | {on:.0} |\n\nratio on/off: {:.2}x", on / off);
    Ok(())
}

/// One lookup: which filters apply depends on the request (story 2).
async fn lookup(s: &mut Session, i: i64) -> Result<usize, Error> {
    let mut q = s.query::<Rule>().filter(Rule::SITE.eq(format!("site-{}", i % 50)));
    if i % 2 == 0 {
        q = q.filter(Rule::KIND.is_in([(i % 7) as i32, ((i + 1) % 7) as i32]));
    }
    if i % 3 == 0 {
        q = q.filter(Rule::LEVEL.is_in((0..(i % 5) as i32 + 1).collect::<Vec<_>>()));
    }
    if i % 5 == 0 {
        q = q.filter(Rule::PARTNER.is_null().or(Rule::PARTNER.is_in([i % 100, (i + 7) % 100])));
    }
    Ok(q.order_by(Rule::ID.asc()).limit(20).rows().await?.len())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "templates".into());
    match which.as_str() {
        "templates" => templates().await,
        "in-lists" => in_lists().await.map_err(|e| Error::Config(e.to_string())),
        other => {
            eprintln!("unknown benchmark {other:?}; available: templates, in-lists");
            std::process::exit(2);
        }
    }
}

/// `IN ($1, ..., $n)` (padded to a power of two) against one array bind
/// (`= ANY($1)`, PostgreSQL only) and against exact-length lists, with raw
/// sqlx on each server backend: the data behind the choice in
/// `orm-core/src/query/templated.rs`.
async fn in_lists() -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Executor};
    let pg_url = std::env::var("ORM_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
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
    Ok(())
}
