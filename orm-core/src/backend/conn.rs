//! [`Conn`]: one connection checked out of a pool, in autocommit or holding
//! a transaction, and what happens to it when the future using it is dropped.
//!
//! Every statement the ORM runs goes through a `Conn`: autocommit
//! statements check one out for the statement's length, a session's
//! transaction holds one from BEGIN to COMMIT or ROLLBACK. It owns the
//! connection's fate, because a future may be dropped at any await point
//! (a timeout, a `select!` branch that lost, a client that went away) and
//! sqlx cannot always tell afterwards what state the connection is in:
//!
//! * A `Conn` is *busy* from the first poll of a statement (or BEGIN,
//!   COMMIT, ROLLBACK) until it returns. Dropped while busy, a PostgreSQL or
//!   MySQL connection may be mid-protocol, or inside a transaction whose
//!   BEGIN sqlx never counted (a cancelled `begin` leaves sqlx's own depth at
//!   zero while the server is in a transaction: the connection then returns
//!   to the pool *idle in transaction*, and every later autocommit statement
//!   on it vanishes with it). So a busy server connection is never given
//!   back: it is closed, and the server rolls back whatever it held. The
//!   pool (`pool.rs`, which has no ping of its own and trusts this
//!   verdict) opens a replacement when asked.
//! * Dropped inside a transaction but not busy, the transaction is rolled
//!   back before the connection is reused: on a server, a task sends the
//!   ROLLBACK at once and holds the connection until it returns; on
//!   sqlx's SQLite driver it is queued on the connection's worker.
//! * SQLite's connections are not cut: an in-memory database lives only as
//!   long as its one connection. sqlx's SQLite driver runs each connection
//!   on a worker thread that finishes a command even if nobody awaits it and
//!   counts transactions itself, so a queued rollback is always right there.
//!   The direct driver never suspends inside a statement (see
//!   `sqlite_direct.rs`) and rolls back synchronously when dropped.
//!
//! Whether a dropped statement ran is unknown to the client: the session,
//! which holds its transaction's `Conn`, learns that one was dropped busy
//! ([`Conn::is_busy`]) and treats the transaction as lost (see
//! `session::transaction`).
//!
//! What this module must not do: know about sessions or entities.
//!
//! Layer 1 (the backend seam): it uses only what is below it (see `crate::layers`).

use std::sync::Arc;

use futures_util::stream::BoxStream;
use sqlx::pool::PoolConnection;
use sqlx_core::transaction::TransactionManager;

use super::pool::{Pooled, Raw};
use super::{Done, Driver, mysql, mysql_native, postgres, sqlite, sqlite_direct};
use crate::error::{DbErrorKind, Result};
use crate::row::RowSet;
use crate::value::Value;

/// One checked-out connection of any backend.
#[derive(Debug)]
pub(crate) struct Conn {
    /// `None` only while being dropped.
    kind: Option<Kind>,
    /// A statement (or transaction control) started and has not returned.
    busy: bool,
    /// A transaction is open (BEGIN returned, no COMMIT/ROLLBACK yet).
    in_tx: bool,
    /// The connection failed at the I/O level: never reuse it.
    broken: bool,
    /// Holds session state a later user must not inherit: close on drop.
    discard: bool,
}

#[derive(Debug)]
enum Kind {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(Pooled<sqlx::PgConnection>),
    MySql(Pooled<sqlx::MySqlConnection>),
    SqliteDirect(sqlite_direct::Conn),
    MySqlAsync(Pooled<::mysql_async::Conn>),
}

/// Runs `$body` with `$c` bound to the sqlx connection and `$m` to its
/// backend module, `$direct` with `$d` bound to the direct SQLite one, or
/// `$native` with `$n` bound to the `mysql_async` one.
macro_rules! on_kind {
    ($kind:expr, |$c:ident, $m:ident| $body:expr, |$d:ident| $direct:expr, |$n:ident| $native:expr) => {
        match $kind {
            Kind::Sqlite(p) => {
                let $c = &mut **p;
                use sqlite as $m;
                $body
            }
            Kind::Postgres(p) => {
                let $c = &mut **p;
                use postgres as $m;
                $body
            }
            Kind::MySql(p) => {
                let $c = &mut **p;
                use mysql as $m;
                $body
            }
            Kind::SqliteDirect(p) => {
                let $d = p;
                $direct
            }
            Kind::MySqlAsync(p) => {
                let $n = &mut **p;
                $native
            }
        }
    };
}

/// The most runs of a repeated statement in one script for sqlx's SQLite
/// driver.
pub(crate) const RUNS_PER_SCRIPT: usize = 64;

/// How many of `left` runs the next script takes: all of them up to
/// [`RUNS_PER_SCRIPT`], else the largest power of two that fits.
fn script_runs(left: usize) -> usize {
    if left >= RUNS_PER_SCRIPT {
        RUNS_PER_SCRIPT
    } else {
        1 << left.max(1).ilog2()
    }
}

/// Transaction control through sqlx's own manager for each backend, so its
/// transaction depth stays true (its pool and SQLite worker rely on it).
async fn control<DB: sqlx::Database>(conn: &mut DB::Connection, what: Control) -> sqlx::Result<()> {
    match what {
        Control::Begin(None) => DB::TransactionManager::begin(conn, None).await,
        Control::Begin(Some(sql)) => {
            DB::TransactionManager::begin(conn, Some(sqlx::SqlSafeStr::into_sql_str(sql))).await
        }
        Control::Commit => DB::TransactionManager::commit(conn).await,
        Control::Rollback => DB::TransactionManager::rollback(conn).await,
    }
}

#[derive(Debug, Clone, Copy)]
enum Control {
    /// BEGIN, or the statement given (isolation level, read only).
    Begin(Option<&'static str>),
    Commit,
    Rollback,
}

impl Control {
    fn sql(self) -> &'static str {
        match self {
            Control::Begin(sql) => sql.unwrap_or("BEGIN"),
            Control::Commit => "COMMIT",
            Control::Rollback => "ROLLBACK",
        }
    }
}

impl Conn {
    pub(super) fn sqlite(c: PoolConnection<sqlx::Sqlite>) -> Conn {
        Conn::of(Kind::Sqlite(c))
    }

    pub(super) fn postgres(c: Pooled<sqlx::PgConnection>) -> Conn {
        Conn::of(Kind::Postgres(c))
    }

    pub(super) fn mysql(c: Pooled<sqlx::MySqlConnection>) -> Conn {
        Conn::of(Kind::MySql(c))
    }

    pub(super) fn direct(c: sqlite_direct::Conn) -> Conn {
        Conn::of(Kind::SqliteDirect(c))
    }

    pub(super) fn mysql_async(c: Pooled<::mysql_async::Conn>) -> Conn {
        Conn::of(Kind::MySqlAsync(c))
    }

    fn of(kind: Kind) -> Conn {
        Conn {
            kind: Some(kind),
            busy: false,
            in_tx: false,
            broken: false,
            discard: false,
        }
    }

    fn kind(&mut self) -> &mut Kind {
        self.kind
            .as_mut()
            .expect("a connection is present until it is dropped")
    }

    /// Whether a call on this connection was dropped before it returned:
    /// its effect is unknown, and so is the transaction's.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy
    }

    /// Whether the connection is closed when it is dropped instead of
    /// returned to the pool: on while it holds session state a later user
    /// must not inherit (the migrator's advisory lock, SQLite's foreign
    /// keys turned off), off again once that state is undone.
    pub(crate) fn close_on_drop(&mut self, on: bool) {
        self.discard = on;
    }

    /// Marks the start of a call; `done` marks its end.
    fn start(&mut self) {
        self.busy = true;
    }

    fn done<T>(&mut self, result: &Result<T>) {
        self.busy = false;
        if let Err(e) = result
            && closes(e)
        {
            self.broken = true;
        }
    }

    /// Runs a query and decodes every row.
    pub(crate) async fn fetch(&mut self, sql: &Arc<str>, params: &[Value]) -> Result<RowSet> {
        self.start();
        let in_tx = self.in_tx;
        let result = on_kind!(
            self.kind(),
            |c, m| super::fetch::<m::Driver, _>(c, sql, params).await,
            |d| d.fetch(sql, params, in_tx).await,
            |n| mysql_native::fetch(n, sql, params).await
        );
        self.done(&result);
        result
    }

    /// Runs a query and yields its rows in chunks of at most `batch` as the
    /// driver reads them. The connection counts as busy only while the
    /// driver is polled: a stream dropped there leaves it mid-protocol, as
    /// any dropped statement does. Between chunks, where a consumer that has
    /// seen enough drops the stream, every driver can take the next
    /// statement: sqlx and `mysql_async` first read the rest of an abandoned
    /// result off the connection, the direct SQLite driver resets its
    /// statement on drop. So ending a stream early costs the unread rows'
    /// transfer (on a server), never the connection or its transaction.
    pub(crate) fn stream(
        &mut self,
        sql: Arc<str>,
        params: &[Value],
        batch: usize,
    ) -> BoxStream<'_, Result<RowSet>> {
        use futures_util::StreamExt;
        let Conn {
            kind, busy, broken, ..
        } = self;
        let kind = kind
            .as_mut()
            .expect("a connection is present until it is dropped");
        let inner: BoxStream<'_, Result<RowSet>> = match kind {
            Kind::Sqlite(p) => {
                super::stream::<sqlite::Driver, _>(&mut **p, sql, params, batch).boxed()
            }
            Kind::Postgres(p) => {
                super::stream::<postgres::Driver, _>(&mut **p, sql, params, batch).boxed()
            }
            Kind::MySql(p) => {
                super::stream::<mysql::Driver, _>(&mut **p, sql, params, batch).boxed()
            }
            Kind::SqliteDirect(d) => d.stream(sql, params, batch).boxed(),
            Kind::MySqlAsync(n) => mysql_native::stream(n, sql, params, batch).boxed(),
        };
        Box::pin(async_stream::stream! {
            let mut inner = inner;
            loop {
                *busy = true;
                let next = inner.next().await;
                *busy = false;
                match next {
                    None => break,
                    Some(Ok(set)) => yield Ok(set),
                    Some(Err(e)) => {
                        if closes(&e) {
                            *broken = true;
                        }
                        yield Err(e);
                        break;
                    }
                }
            }
        })
    }

    /// Runs a statement that returns no rows.
    pub(crate) async fn execute(&mut self, sql: &Arc<str>, params: &[Value]) -> Result<Done> {
        self.start();
        let in_tx = self.in_tx;
        let result = on_kind!(
            self.kind(),
            |c, m| super::execute::<m::Driver, _>(c, sql, params).await,
            |d| d.execute(sql, params, in_tx).await,
            |n| mysql_native::execute(n, sql, params).await
        );
        self.done(&result);
        result
    }

    /// Runs `sql`, a statement of `width` parameters returning no rows,
    /// once for each `width` of `params` in turn (a repeated statement,
    /// see `crate::sql::Statement`); the rows affected add up. The direct
    /// driver steps its one prepared statement for each run; sqlx's SQLite
    /// driver gets the runs as scripts of up to [`RUNS_PER_SCRIPT`]
    /// statements, one round trip to its worker thread each (a power of
    /// two, so a connection caches a handful of script texts per
    /// statement); the servers run them one by one.
    pub(crate) async fn execute_each(
        &mut self,
        sql: &Arc<str>,
        params: &[Value],
        width: usize,
    ) -> Result<Done> {
        self.start();
        let in_tx = self.in_tx;
        let result = match self.kind() {
            Kind::Sqlite(c) => {
                let mut done = Done::default();
                let mut rest = params;
                let mut result = Ok(());
                while !rest.is_empty() {
                    let runs = script_runs(rest.len() / width);
                    let (now, later) = rest.split_at(runs * width);
                    let script: Arc<str> = format!("{sql};").repeat(runs).into();
                    match super::execute::<sqlite::Driver, _>(&mut **c, &script, now).await {
                        Ok(d) => done.rows_affected += d.rows_affected,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                    rest = later;
                }
                result.map(|()| done)
            }
            Kind::SqliteDirect(d) => d.execute_each(sql, params, width, in_tx).await,
            kind => {
                let mut done = Done::default();
                let mut result = Ok(());
                for run in params.chunks(width) {
                    let one = on_kind!(
                        kind,
                        |c, m| super::execute::<m::Driver, _>(c, sql, run).await,
                        |d| d.execute(sql, run, in_tx).await,
                        |n| mysql_native::execute(n, sql, run).await
                    );
                    match one {
                        Ok(d) => done.rows_affected += d.rows_affected,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result.map(|()| done)
            }
        };
        self.done(&result);
        result
    }

    async fn control(&mut self, what: Control) -> Result<()> {
        self.start();
        if let (Control::Rollback, Some(Kind::Sqlite(c))) = (what, self.kind.as_mut()) {
            // SQLite may have rolled back by itself (see the function).
            sqlite::resync_rolled_back(c).await;
        }
        let result = on_kind!(
            self.kind(),
            |c, m| control::<<m::Driver as Driver>::DB>(c, what)
                .await
                .map_err(<m::Driver as Driver>::classify),
            |d| match what {
                // SQLite is serializable; `TxOptions` refuses read only there.
                Control::Begin(_) => d.begin().await,
                Control::Commit => d.commit().await,
                Control::Rollback => d.rollback().await,
            },
            |n| mysql_native::control(n, what.sql()).await
        );
        self.done(&result);
        result.map_err(|e| e.for_statement(what.sql()))
    }

    /// Opens a transaction on this connection.
    pub(crate) async fn begin(&mut self) -> Result<()> {
        self.begin_with(None).await
    }

    /// Opens a transaction with `BEGIN` or the statement given.
    pub(crate) async fn begin_with(&mut self, sql: Option<&'static str>) -> Result<()> {
        self.control(Control::Begin(sql)).await?;
        self.in_tx = true;
        Ok(())
    }

    /// Commits the open transaction. On failure the transaction is over
    /// too (the server rolled it back, or the connection is gone): the
    /// connection is not reused.
    pub(crate) async fn commit(&mut self) -> Result<()> {
        let result = self.control(Control::Commit).await;
        self.in_tx = false;
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Rolls the open transaction back; a connection whose rollback failed
    /// is not reused.
    pub(crate) async fn rollback(&mut self) -> Result<()> {
        if !self.in_tx {
            return Ok(());
        }
        let result = self.control(Control::Rollback).await;
        self.in_tx = false;
        if result.is_err() {
            self.broken = true;
        }
        result
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(kind) = self.kind.take() else { return };
        let unknown = self.busy || self.broken || self.discard;
        match kind {
            // The direct driver's own drop rolls back an open transaction.
            Kind::SqliteDirect(c) => drop(c),
            Kind::Sqlite(mut c) => {
                type Manager = <sqlx::Sqlite as sqlx::Database>::TransactionManager;
                match tokio::runtime::Handle::try_current() {
                    // Idle inside a transaction: roll back as `rollback`
                    // does (SQLite may have rolled back by itself), then
                    // the connection goes back to the pool.
                    Ok(runtime) if self.in_tx && !self.busy => {
                        runtime.spawn(async move {
                            sqlite::resync_rolled_back(&mut c).await;
                            let _ = Manager::rollback(&mut c).await;
                        });
                    }
                    // Mid-statement: the worker finishes what it was given,
                    // then this rollback (of its own count of transactions).
                    _ if self.in_tx || self.busy => Manager::start_rollback(&mut c),
                    _ => {}
                }
            }
            Kind::Postgres(c) => release(c, unknown, self.in_tx),
            Kind::MySql(c) => release(c, unknown, self.in_tx),
            Kind::MySqlAsync(c) => release_native(c, unknown, self.in_tx),
        }
    }
}

/// Gives a server connection back to the pool, rolling back an open
/// transaction first, or closes it when its state is unknown.
/// Whether an error leaves the connection unfit for the next statement:
/// it was lost, or its cached view of the schema is stale (PostgreSQL's
/// type OIDs, which sqlx keeps per connection).
fn closes(e: &crate::error::Error) -> bool {
    matches!(
        e.db_kind(),
        Some(DbErrorKind::ConnectionLost | DbErrorKind::SchemaChanged)
    )
}

fn release<C: Raw + sqlx::Connection>(mut c: Pooled<C>, unknown: bool, in_tx: bool) {
    if unknown {
        // Closing the socket makes the server roll back; the pool opens a
        // replacement when one is needed.
        c.discard();
        return;
    }
    if !in_tx {
        // Clean and idle: back to the pool as it is (drop), no ping.
        return;
    }
    type Manager<C> = <<C as sqlx::Connection>::Database as sqlx::Database>::TransactionManager;
    match tokio::runtime::Handle::try_current() {
        // The ROLLBACK runs now, on a task that holds the connection (and
        // its pool slot) until it returns, so the transaction's locks go at
        // once and nobody else gets the connection inside it.
        Ok(runtime) => {
            runtime.spawn(async move {
                match Manager::<C>::rollback(&mut c).await {
                    Ok(()) => drop(c),
                    Err(_) => c.discard(),
                }
            });
        }
        // No runtime to run it on: closing the socket rolls back.
        Err(_) => c.discard(),
    }
}

/// [`release`] for a `mysql_async` connection.
fn release_native(mut c: Pooled<::mysql_async::Conn>, unknown: bool, in_tx: bool) {
    if unknown {
        c.discard();
        return;
    }
    if !in_tx {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                match mysql_native::control(&mut c, "ROLLBACK").await {
                    Ok(()) => drop(c),
                    Err(_) => c.discard(),
                }
            });
        }
        Err(_) => c.discard(),
    }
}

#[cfg(test)]
mod tests {
    use super::{RUNS_PER_SCRIPT, script_runs};

    #[test]
    fn scripts_take_powers_of_two_up_to_the_cap() {
        let split = |mut left: usize| {
            let mut out = Vec::new();
            while left > 0 {
                let n = script_runs(left);
                out.push(n);
                left -= n;
            }
            out
        };
        assert_eq!(split(1), [1]);
        assert_eq!(split(7), [4, 2, 1]);
        assert_eq!(split(200), [64, 64, 64, 8]);
        let thousand = split(1000);
        assert_eq!(thousand.iter().sum::<usize>(), 1000);
        assert!(
            thousand
                .iter()
                .all(|&n| n <= RUNS_PER_SCRIPT && n.is_power_of_two())
        );
        assert_eq!(thousand.len(), 17, "15 of 64, then 32 and 8");
    }
}
