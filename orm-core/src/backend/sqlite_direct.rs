//! SQLite called directly (through `rusqlite`), on the calling task: the
//! default SQLite driver ([`SqliteDriver::Direct`](crate::SqliteDriver::Direct));
//! `sqlite.rs` (through sqlx) is the other choice.
//!
//! Why it exists: sqlx runs every SQLite connection on a worker thread and
//! sends each row back over a channel, so a read pays two thread hops per
//! statement plus a message per row, and every text or blob parameter is
//! copied into an owned argument buffer. SQLite is a library, not a server:
//! this driver steps the statement on the thread that polls the future,
//! binds text and blobs by reference, and decodes straight from SQLite's
//! buffers into [`Value`]s. Statements are prepared once per connection
//! (rusqlite's LRU statement cache, sized by `statement_cache_capacity`).
//!
//! What that costs, and how it is bounded:
//! * A statement blocks the executor thread while it runs. For the short
//!   statements an embedded database serves that is the right trade (it is
//!   how a synchronous driver is used from async code); a query that scans a
//!   large table for seconds is better served by the sqlx driver.
//! * Waiting for a lock must not block the thread: another task on the same
//!   thread may be the one holding it (a session with an open write
//!   transaction). So SQLite's own busy handler is off (`busy_timeout(0)`)
//!   and a statement that hits `SQLITE_BUSY` is reset and retried after an
//!   async sleep, for up to five seconds (sqlx's busy timeout).
//!   `SQLITE_BUSY_SNAPSHOT` (a read transaction that can no longer write) is
//!   never retried: the transaction must start again.
//! * The future never suspends while a statement is half stepped, so
//!   dropping it (a cancelled request) cannot leave a statement open.
//!   Inside a transaction each statement (COMMIT included) first yields
//!   once to the executor: a unit of work of many statements is then
//!   cancellable between them, as it is on the servers, and other tasks on
//!   the thread get a turn; statements in autocommit do not pay for it.
//!
//! Connections live in a small pool of their own: a semaphore bounds how
//! many are out, idle ones wait in a stack, a connection dropped inside a
//! transaction rolls back (synchronously) before it goes back. `sqlite::memory:` keeps exactly
//! one connection for the life of the pool (each connection to `:memory:`
//! would be a separate database). Not implemented here (the sqlx driver has
//! them): idle timeout and maximum lifetime of connections.
//!
//! Values are bound and decoded exactly as `sqlite.rs` does for sqlx (same
//! storage classes, same text formats for timestamps), so a database written
//! by one driver reads back identically through the other.
//!
//! Layer 1 (the backend seam): it uses only what is below it (see `crate::layers`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Capabilities, Done, PoolOptions};
use crate::error::{DbErrorKind, Error, Result};
use crate::row::RowSet;
use crate::value::Value;

/// How long a statement keeps retrying while the database is locked.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where connections are opened and how.
#[derive(Debug)]
struct Spec {
    path: String,
    flags: OpenFlags,
    in_memory: bool,
    /// `PRAGMA synchronous` from the URL (see `sqlite::SYNCHRONOUS`).
    synchronous: Option<&'static str>,
    statement_cache_capacity: usize,
    statement_timeout: Option<Duration>,
}

#[derive(Debug)]
struct Inner {
    spec: Spec,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    closed: AtomicBool,
}

/// A pool of direct SQLite connections.
#[derive(Debug, Clone)]
pub(crate) struct DirectPool {
    inner: Arc<Inner>,
}

/// A connection taken from the pool; goes back when dropped.
#[derive(Debug)]
pub(crate) struct Conn {
    conn: Option<Connection>,
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

/// Splits a `sqlite:` URL into a path and open flags. Accepts the forms the
/// sqlx driver accepts: `sqlite::memory:`, `sqlite:path`, `sqlite://path`,
/// `sqlite:///abs/path`, with `?mode=ro|rw|rwc|memory`.
fn parse_url(url: &str) -> Result<(String, OpenFlags, bool)> {
    let (url, _) = super::sqlite::take_synchronous(url)?;
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or_else(|| Error::Config(format!("not a sqlite: URL: {url:?}")))?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut mode = "rwc";
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("mode", m)) => mode = m,
            _ => {
                return Err(Error::Config(format!(
                    "the direct SQLite driver does not understand the URL parameter {pair:?} \
                     (it accepts mode=ro|rw|rwc|memory and synchronous=off|normal|full|extra)"
                )));
            }
        }
    }
    let in_memory = path == ":memory:" || path.is_empty() || mode == "memory";
    let base = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let flags = match mode {
        "ro" => base | OpenFlags::SQLITE_OPEN_READ_ONLY,
        "rw" => base | OpenFlags::SQLITE_OPEN_READ_WRITE,
        "rwc" | "memory" => {
            base | OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        }
        other => return Err(Error::Config(format!("unknown SQLite mode {other:?}"))),
    };
    let path = if in_memory {
        ":memory:".to_string()
    } else {
        path.to_string()
    };
    Ok((path, flags, in_memory))
}

impl Spec {
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(&self.path, self.flags)?;
        conn.set_prepared_statement_cache_capacity(self.statement_cache_capacity);
        // Lock waits happen in `retry_busy`, asynchronously (see module doc).
        conn.busy_timeout(Duration::ZERO)?;
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        if let Some(t) = self.statement_timeout {
            // SAFETY: `conn` is open and used on this thread only.
            unsafe { super::sqlite::set_statement_timeout(conn.handle(), t) };
        }
        if !self.in_memory && !self.flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        }
        if let Some(level) = self.synchronous {
            conn.execute_batch(&format!("PRAGMA synchronous = {level}"))?;
        }
        Ok(conn)
    }
}

pub(super) async fn connect(
    url: &str,
    options: &PoolOptions,
    timeouts: super::Timeouts,
) -> Result<(super::Pool, Capabilities)> {
    let connect_error = |message: String| Error::Connect {
        url: url.to_string(),
        message,
    };
    let (path, flags, in_memory) = parse_url(url)?;
    let (_, synchronous) = super::sqlite::take_synchronous(url)?;
    let spec = Spec {
        path,
        flags,
        in_memory,
        synchronous,
        statement_cache_capacity: options.statement_cache_capacity,
        statement_timeout: timeouts.statement,
    };
    let max = if in_memory {
        1
    } else {
        options.max_connections.max(1) as usize
    };
    let first = spec.open().map_err(|e| connect_error(e.to_string()))?;
    let caps = Capabilities {
        insert_returning: rusqlite::version_number() >= 3_035_000,
        // SAFETY: `first` is open and used on this thread only.
        bind_limit: unsafe { super::sqlite::limit_of(first.handle()) }
            .unwrap_or(super::sqlite::BIND_LIMIT),
    };
    let pool = DirectPool {
        inner: Arc::new(Inner {
            spec,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(max)),
            acquire_timeout: options.acquire_timeout,
            closed: AtomicBool::new(false),
        }),
    };
    Ok((super::Pool::SqliteDirect(pool), caps))
}

impl DirectPool {
    /// Takes a connection, waiting (asynchronously) for a free one.
    pub(crate) async fn acquire(&self) -> Result<Conn> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(pool_closed());
        }
        let permit = tokio::time::timeout(
            self.inner.acquire_timeout,
            self.inner.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            super::database_error(
                DbErrorKind::Timeout,
                None,
                "timed out waiting for a free SQLite connection",
            )
        })?
        .map_err(|_| pool_closed())?;
        let idle = self.inner.idle.lock().pop();
        let conn = match idle {
            Some(c) => c,
            None if self.inner.spec.in_memory => {
                // The only connection of an in-memory database was lost
                // (dropped after a failure): its data went with it.
                return Err(super::database_error(
                    DbErrorKind::ConnectionLost,
                    None,
                    "the in-memory SQLite database's connection was lost",
                ));
            }
            None => self.inner.spec.open().map_err(classify)?,
        };
        Ok(Conn {
            conn: Some(conn),
            pool: self.inner.clone(),
            _permit: permit,
        })
    }

    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.permits.close();
        self.inner.idle.lock().clear();
    }
}

fn pool_closed() -> Error {
    super::database_error(DbErrorKind::ConnectionLost, None, "the pool is closed")
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !conn.is_autocommit() {
            // A transaction left open (only after a failed ROLLBACK): never
            // hand it to the next user.
            if conn.execute_batch("ROLLBACK").is_err() {
                return;
            }
        }
        if !self.pool.closed.load(Ordering::Acquire) {
            self.pool.idle.lock().push(conn);
        }
    }
}

impl Conn {
    fn raw(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a pooled connection is present until drop")
    }

    fn raw_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("a pooled connection is present until drop")
    }

    /// Runs a query. Inside a transaction the task first yields once: a
    /// statement never suspends half stepped, so this is the point where a
    /// caller waiting on a long unit of work can be cancelled (between its
    /// statements), and other tasks on this thread get a turn.
    pub(crate) async fn fetch(
        &mut self,
        sql: &str,
        params: &[Value],
        in_tx: bool,
    ) -> Result<RowSet> {
        if in_tx {
            tokio::task::yield_now().await;
        }
        retry_busy(self.raw_mut(), |c| fetch_now(c, sql, params)).await
    }

    /// Runs a query and yields its rows in chunks of at most `batch`, the
    /// statement stepped one chunk at a time (see `backend::stream`). Unlike
    /// [`Conn::fetch`] the statement stays half stepped between chunks: a
    /// dropped stream resets it (rusqlite's `Rows` does on drop), so the
    /// connection is clean again at once. A database locked at the first
    /// step is reported (`DbErrorKind::Busy`), not waited for.
    pub(crate) fn stream<'c>(
        &'c mut self,
        sql: Arc<str>,
        params: &[Value],
        batch: usize,
    ) -> impl futures_util::Stream<Item = Result<RowSet>> + Send + 'c {
        let params = params.to_vec();
        let conn = AssertSend(self.raw());
        // No rusqlite value may be live at a yield (`?` yields too), except
        // inside `AssertSend`: each fallible step is bound first.
        async_stream::try_stream! {
            let conn = conn;
            let prepared = conn.0.prepare_cached(&sql).map(AssertSend).map_err(classify);
            let mut stmt = prepared?;
            let bound = bind(&mut stmt.0, &params);
            bound?;
            drop(params);
            let n = stmt.0.column_count();
            let columns: Arc<[Box<str>]> =
                stmt.0.column_names().into_iter().map(Box::from).collect();
            let mut rows = AssertSend(stmt.0.raw_query());
            let mut chunk = super::Chunk::new(batch);
            chunk.set_columns(columns.clone());
            loop {
                // A chunk is stepped without suspending; the stream only
                // waits between chunks.
                let stepped = fill(&mut rows.0, &mut chunk, n, &columns);
                match stepped? {
                    Some(set) => yield set,
                    None => break,
                }
            }
            if let Some(rest) = chunk.finish() {
                yield rest;
            }
        }
    }

    /// Runs a statement that returns no rows (yielding first inside a
    /// transaction, as [`Conn::fetch`]).
    pub(crate) async fn execute(
        &mut self,
        sql: &str,
        params: &[Value],
        in_tx: bool,
    ) -> Result<Done> {
        if in_tx {
            tokio::task::yield_now().await;
        }
        retry_busy(self.raw_mut(), |c| execute_now(c, sql, params)).await
    }

    /// Runs `sql` once for each `width` of `params` (a repeated statement):
    /// one prepared statement stepped for every run, the task yielding
    /// once before them (they are one statement to a canceller). A locked
    /// database is waited for at the run that found it locked, so no run
    /// is repeated.
    pub(crate) async fn execute_each(
        &mut self,
        sql: &str,
        params: &[Value],
        width: usize,
        in_tx: bool,
    ) -> Result<Done> {
        if in_tx {
            tokio::task::yield_now().await;
        }
        let mut done = Done::default();
        for run in params.chunks(width) {
            let one = retry_busy(self.raw_mut(), |c| execute_now(c, sql, run)).await?;
            done.rows_affected += one.rows_affected;
            done.last_insert_id = one.last_insert_id;
        }
        Ok(done)
    }

    pub(crate) async fn begin(&mut self) -> Result<()> {
        self.execute("BEGIN", &[], false).await.map(|_| ())
    }

    /// Commits; on failure SQLite keeps the transaction open and the
    /// caller rolls back (or drop does).
    pub(crate) async fn commit(&mut self) -> Result<()> {
        self.execute("COMMIT", &[], true).await.map(|_| ())
    }

    pub(crate) async fn rollback(&mut self) -> Result<()> {
        if self.raw().is_autocommit() {
            // SQLite already rolled back (after SQLITE_FULL, IOERR, ...).
            return Ok(());
        }
        self.execute("ROLLBACK", &[], false).await.map(|_| ())
    }
}

/// A connection's statement (and the rows being stepped) held across a
/// stream's await points.
///
/// SAFETY: rusqlite's `Connection` is `Send` but not `Sync`, so a
/// `&Connection`, a `Statement` and its `Rows` are not `Send`. The stream
/// holding them also holds the `&mut` borrow of the connection they point
/// into: while it lives nothing else can reach that connection, and the
/// stream moves between threads only as a whole (SQLite itself is built
/// thread-safe, and a connection may be used from one thread after
/// another). Nothing here is ever shared between two threads at once.
struct AssertSend<T>(T);

unsafe impl<T> Send for AssertSend<T> {}

/// Runs `attempt` until it does not report the database locked, sleeping
/// asynchronously in between (see the module doc for why not SQLite's own
/// busy handler). The connection is held as `&mut` across the sleep, not
/// borrowed by the closure: a `Connection` is `Send` but not `Sync`, and the
/// session's futures must stay `Send`.
async fn retry_busy<T>(
    conn: &mut Connection,
    mut attempt: impl FnMut(&Connection) -> Result<T, Failure>,
) -> Result<T> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        match attempt(conn) {
            Ok(v) => return Ok(v),
            Err(Failure::Busy(_)) if started.elapsed() < BUSY_TIMEOUT => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(Failure::Busy(e)) => return Err(classify(e)),
            Err(Failure::Other(e)) => return Err(e),
        }
    }
}

/// A failed attempt: retryable (plain `SQLITE_BUSY`) or final.
enum Failure {
    Busy(rusqlite::Error),
    Other(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            // 5 = SQLITE_BUSY exactly; BUSY_SNAPSHOT (517) and BUSY_RECOVERY
            // are extended codes and final.
            rusqlite::Error::SqliteFailure(f, _) if f.extended_code == 5 => Failure::Busy(e),
            _ => Failure::Other(classify(e)),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e)
    }
}

/// One parameter, bound as `sqlite.rs` stores it, text and bytes by
/// reference.
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use super::sqlite::Stored;
        use rusqlite::types::Value as Owned;
        use std::borrow::Cow;
        let stored = super::sqlite::stored(self.0)
            .map_err(|why| rusqlite::Error::ToSqlConversionFailure(why.into()))?;
        Ok(match stored {
            Stored::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Stored::Integer(n) => ToSqlOutput::Owned(Owned::Integer(n)),
            Stored::Real(f) => ToSqlOutput::Owned(Owned::Real(f)),
            Stored::Text(Cow::Borrowed(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Stored::Text(Cow::Owned(s)) => ToSqlOutput::Owned(Owned::Text(s)),
            Stored::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<()> {
    for (i, v) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Param(v))
            .map_err(|e| super::bind_error(i + 1, e))?;
    }
    Ok(())
}

fn fetch_now(conn: &Connection, sql: &str, params: &[Value]) -> Result<RowSet, Failure> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, params)?;
    let n = stmt.column_count();
    let columns: Arc<[Box<str>]> = stmt.column_names().into_iter().map(Box::from).collect();
    let mut set = RowSet {
        columns,
        rows: Vec::new(),
    };
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(decode(row.get_ref(i)?, || set.columns[i].to_string())?);
        }
        set.rows.push(out);
    }
    Ok(set)
}

/// Steps rows into `chunk` until it is full (returned) or the rows end.
fn fill(
    rows: &mut rusqlite::Rows<'_>,
    chunk: &mut super::Chunk,
    n: usize,
    columns: &[Box<str>],
) -> Result<Option<RowSet>> {
    while let Some(row) = rows.next().map_err(classify)? {
        let mut out = Vec::with_capacity(n);
        for (i, name) in columns.iter().enumerate().take(n) {
            out.push(decode(row.get_ref(i).map_err(classify)?, || {
                name.to_string()
            })?);
        }
        if let Some(full) = chunk.push(out) {
            return Ok(Some(full));
        }
    }
    Ok(None)
}

/// Decodes one cell by its storage class, as `sqlite.rs` does.
fn decode(cell: ValueRef<'_>, name: impl Fn() -> String) -> Result<Value> {
    Ok(match cell {
        ValueRef::Null => Value::Null(crate::value::SqlType::Text),
        ValueRef::Integer(i) => Value::I64(i),
        ValueRef::Real(f) => Value::F64(f),
        ValueRef::Text(t) => Value::Text(
            std::str::from_utf8(t)
                .map_err(|e| super::cell_error(&name(), e))?
                .to_owned(),
        ),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    })
}

fn execute_now(conn: &Connection, sql: &str, params: &[Value]) -> Result<Done, Failure> {
    let mut stmt = match conn.prepare_cached(sql) {
        Ok(stmt) => stmt,
        // A script of several statements without parameters (DDL), which
        // the sqlx driver also accepts.
        Err(rusqlite::Error::MultipleStatement) if params.is_empty() => {
            conn.execute_batch(sql)?;
            return Ok(Done {
                rows_affected: conn.changes(),
                last_insert_id: Some(conn.last_insert_rowid()),
            });
        }
        Err(e) => return Err(e.into()),
    };
    bind(&mut stmt, params)?;
    let readonly = stmt.readonly();
    // Stepped to the end rather than `raw_execute`, so a statement that
    // returns rows (a PRAGMA, an INSERT .. RETURNING run for its effect)
    // runs the way the sqlx driver runs it.
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    drop(rows);
    Ok(Done {
        rows_affected: if readonly { 0 } else { conn.changes() },
        last_insert_id: Some(conn.last_insert_rowid()),
    })
}

/// Classifies by SQLite's extended result code, as `sqlite.rs` does.
pub(crate) fn classify(err: rusqlite::Error) -> Error {
    match err {
        rusqlite::Error::SqliteFailure(f, message) => {
            let message = message.unwrap_or_else(|| f.to_string());
            super::sqlite::error_of(f.extended_code, Some(f.extended_code.to_string()), &message)
        }
        rusqlite::Error::Utf8Error(..) | rusqlite::Error::InvalidColumnType(..) => {
            super::database_error(DbErrorKind::InvalidValue, None, &err.to_string())
        }
        other => super::database_error(DbErrorKind::Other, None, &other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls_parse_like_the_sqlx_driver() {
        assert!(parse_url("sqlite::memory:").unwrap().2);
        assert!(parse_url("sqlite://:memory:").unwrap().2);
        let (path, _, mem) = parse_url("sqlite:///tmp/a.db?mode=rwc").unwrap();
        assert_eq!((path.as_str(), mem), ("/tmp/a.db", false));
        assert_eq!(parse_url("sqlite://rel.db").unwrap().0, "rel.db");
        assert!(parse_url("sqlite:x.db?cache=shared").is_err());
        let (path, _, _) = parse_url("sqlite:///tmp/a.db?synchronous=normal&mode=rwc").unwrap();
        assert_eq!(path, "/tmp/a.db");
        assert!(parse_url("sqlite:x.db?synchronous=sometimes").is_err());
    }
}
