//! Statement telemetry: a `tracing` span per statement and the counters a
//! test asserts against ("this took 2 queries").
//!
//! [`Stats`] is cheap to clone (an `Arc` of atomics). A [`crate::Database`]
//! keeps one for everything it runs; each [`crate::Session`] keeps its own,
//! so a test can count one session's statements while others run.
//! `statements` counts the SQL the ORM sends for data and schema work;
//! transaction control (BEGIN, COMMIT, ROLLBACK, savepoints) is not a
//! statement, so "2 queries" means two data statements (a repeated
//! statement, one UPDATE run for each of many rows, counts once);
//! `transactions` counts the transactions opened (one per BEGIN).
//!
//! Layer 1 (telemetry): it uses only what is below it (see `crate::layers`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::backend::Dialect;

/// Counters of statements, rows and time.
#[derive(Debug, Clone, Default)]
pub struct Stats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    /// SQL of each statement, kept only while `log_statements(true)`.
    log: parking_lot::Mutex<Option<Vec<String>>>,
    /// Whether `log` is on, read without its lock by every statement.
    logging: std::sync::atomic::AtomicBool,
    statements: AtomicU64,
    rows: AtomicU64,
    transactions: AtomicU64,
    errors: AtomicU64,
    nanos: AtomicU64,
}

/// A point-in-time copy of [`Stats`], subtractable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Data and schema statements sent.
    pub statements: u64,
    /// Rows returned by queries plus rows affected by writes.
    pub rows: u64,
    /// Transactions opened (BEGIN sent; a commit that is one statement
    /// needs none).
    pub transactions: u64,
    /// Statements that failed.
    pub errors: u64,
    /// Time spent waiting for statements.
    pub elapsed: Duration,
}

impl std::ops::Sub for StatsSnapshot {
    type Output = StatsSnapshot;

    fn sub(self, before: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            statements: self.statements - before.statements,
            rows: self.rows - before.rows,
            transactions: self.transactions - before.transactions,
            errors: self.errors - before.errors,
            elapsed: self.elapsed.saturating_sub(before.elapsed),
        }
    }
}

impl Stats {
    /// Data and schema statements so far.
    pub fn statements(&self) -> u64 {
        self.0.statements.load(Ordering::Relaxed)
    }

    /// Rows so far.
    pub fn rows(&self) -> u64 {
        self.0.rows.load(Ordering::Relaxed)
    }

    /// Transactions opened so far (one per BEGIN; savepoints are not
    /// transactions, and a commit that is one statement needs none).
    pub fn transactions(&self) -> u64 {
        self.0.transactions.load(Ordering::Relaxed)
    }

    /// Every counter now, as one copy (subtract two to measure a stretch).
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.0;
        StatsSnapshot {
            statements: c.statements.load(Ordering::Relaxed),
            rows: c.rows.load(Ordering::Relaxed),
            transactions: c.transactions.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            elapsed: Duration::from_nanos(c.nanos.load(Ordering::Relaxed)),
        }
    }

    /// Starts (or stops) keeping the SQL text of every statement, for tests
    /// that compare what ran with what was planned.
    pub fn log_statements(&self, on: bool) {
        let mut log = self.0.log.lock();
        *log = on.then(Vec::new);
        self.0.logging.store(on, Ordering::Relaxed);
    }

    /// The statements logged since the last call (empty when logging is off).
    pub fn take_log(&self) -> Vec<String> {
        self.0
            .log
            .lock()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn record(&self, sql: &str, rows: u64, elapsed: Duration, ok: bool) {
        let c = &self.0;
        if c.logging.load(Ordering::Relaxed)
            && let Some(log) = c.log.lock().as_mut()
        {
            log.push(sql.to_string());
        }
        c.statements.fetch_add(1, Ordering::Relaxed);
        c.rows.fetch_add(rows, Ordering::Relaxed);
        c.nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        if !ok {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_transaction(&self) {
        self.0.transactions.fetch_add(1, Ordering::Relaxed);
    }
}

/// Something a statement returns that says how many rows it touched.
pub(crate) trait RowCount {
    fn row_count(&self) -> u64;
}

impl RowCount for crate::row::RowSet {
    fn row_count(&self) -> u64 {
        self.len() as u64
    }
}

impl RowCount for crate::backend::Done {
    fn row_count(&self) -> u64 {
        self.rows_affected
    }
}

/// Runs one statement inside an `orm.statement` span and records it in every
/// `Stats` given (the session's and the database's). A database error leaves
/// with the statement's SQL attached: every statement passes here, and
/// only here are the error and the text side by side.
/// The record of one streamed statement: counted once, with the rows read
/// and the time from start to end, when the stream ends or is dropped.
pub(crate) struct StreamRecord<'a> {
    stats: [&'a Stats; 2],
    sql: Arc<str>,
    started: Instant,
    /// Rows read so far.
    pub rows: u64,
    /// Whether it failed.
    pub failed: bool,
}

impl<'a> StreamRecord<'a> {
    pub(crate) fn new(stats: [&'a Stats; 2], sql: Arc<str>) -> StreamRecord<'a> {
        StreamRecord {
            stats,
            sql,
            started: Instant::now(),
            rows: 0,
            failed: false,
        }
    }
}

impl Drop for StreamRecord<'_> {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        for s in self.stats {
            s.record(&self.sql, self.rows, elapsed, !self.failed);
        }
    }
}

pub(crate) async fn observe<T, F>(
    stats: &[&Stats],
    dialect: Dialect,
    sql: &str,
    fut: F,
) -> crate::error::Result<T>
where
    T: RowCount,
    F: Future<Output = crate::error::Result<T>>,
{
    let span = tracing::debug_span!(
        "orm.statement",
        db.system = dialect.name(),
        db.statement = sql,
        rows = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = fut
        .instrument(span.clone())
        .await
        .map_err(|e| e.for_statement(sql));
    let elapsed = started.elapsed();
    let rows = result.as_ref().map(RowCount::row_count).unwrap_or(0);
    span.record("rows", rows);
    for s in stats {
        s.record(sql, rows, elapsed, result.is_ok());
    }
    if let Err(e) = &result {
        tracing::debug!(parent: &span, error = %e, "statement failed");
    }
    result
}
