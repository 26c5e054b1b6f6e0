//! A stream's memory is bounded by a chunk, not by the result: 200,000
//! rows read through `stream()` raise the heap's peak far less than the same
//! rows through `all()` (plain values) or `rows()`, on every backend. The
//! heap is counted by this test binary's global allocator, so the test runs
//! alone in its binary, one backend after another. (The 1,000,000-row
//! figures against sqlx's own stream are in the benchmarks, W9.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::TryStreamExt;
use orm_core::Dialect;
use orm_core::prelude::*;
use tests::{Backend, run};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The heap's growth at its peak while `f` runs.
async fn peak_growth<F: std::future::Future<Output = Result<u64>>>(f: F) -> Result<(usize, u64)> {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f.await?;
    Ok((PEAK.load(Ordering::Relaxed).saturating_sub(base), out))
}

#[entity(table = "sm_rows")]
pub struct Reading {
    #[key(auto)]
    pub id: i64,
    pub sensor: i64,
    #[column(len = 40)]
    pub note: String,
}

const ROWS: i64 = 200_000;

const DIGITS: &str = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                      UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";

async fn fill(db: &Database) -> Result<()> {
    db.create_all(&[Reading::schema()]).await?;
    let sql = match db.dialect() {
        Dialect::Postgres => format!(
            "INSERT INTO sm_rows (sensor, note) SELECT g % 97, 'reading number ' || g FROM generate_series(1, {ROWS}) g"
        ),
        Dialect::Sqlite => format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {ROWS}) \
             INSERT INTO sm_rows (sensor, note) SELECT n % 97, 'reading number ' || n FROM seq"
        ),
        Dialect::MySql => format!(
            "INSERT INTO sm_rows (sensor, note) SELECT n % 97, CONCAT('reading number ', n) FROM \
             (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d + 1 AS n \
             FROM {DIGITS} a, {DIGITS} b, {DIGITS} c, {DIGITS} e, {DIGITS} f, {DIGITS} g) seq WHERE n <= {ROWS}"
        ),
    };
    db.execute_sql(sql, vec![]).await?;
    Ok(())
}

async fn measure(backend: Backend) {
    run(backend, |db| async move {
        fill(&db).await?;
        let (streamed, seen) = peak_growth(async {
            let mut s = db.session();
            let mut n = 0u64;
            let mut stream = s.query::<Reading>().stream();
            while let Some(r) = stream.try_next().await? {
                n += u64::from(!r.note.is_empty());
            }
            Ok(n)
        })
        .await?;
        assert_eq!(seen, ROWS as u64);
        let (rows, n) = peak_growth(async {
            let mut s = db.session();
            Ok(s.query::<Reading>().rows().await?.len() as u64)
        })
        .await?;
        assert_eq!(n, ROWS as u64);
        let (entities, n) = peak_growth(async {
            let mut s = db.session();
            Ok(s.query::<Reading>().all().await?.len() as u64)
        })
        .await?;
        assert_eq!(n, ROWS as u64);
        println!(
            "stream memory: {backend:?}: peak heap growth for {ROWS} rows: stream() {} KiB, rows() {} KiB, all() {} KiB",
            streamed / 1024,
            rows / 1024,
            entities / 1024
        );
        // A chunk of 1,024 rows is ~0.5% of the result; allow for the
        // driver's buffers and the allocator's noise.
        assert!(streamed * 20 < rows, "stream() {streamed} bytes, rows() {rows} bytes");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_stream_holds_a_chunk_not_the_result() {
    for backend in [
        Backend::Sqlite,
        Backend::SqliteSqlx,
        Backend::Postgres,
        Backend::MySql,
        Backend::MySqlSqlx,
    ] {
        measure(backend).await;
    }
}
