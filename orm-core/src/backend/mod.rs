//! The backend seam: the only place that knows sqlx exists.
//!
//! Everything above this module speaks [`Value`] and [`RowSet`]; this module
//! turns them into driver arguments and back, runs statements on a pool or a
//! transaction, and classifies driver errors into [`DbErrorKind`]. Each
//! backend is one small file (`sqlite.rs`, `postgres.rs`, `mysql.rs`) with the
//! same pieces: `connect`, `bind`, `decode` and `classify`, offered to the
//! shared runner (`fetch`, `execute`) through the `Driver` trait.
//!
//! Two backends do not go through sqlx by default. `sqlite_direct.rs` calls
//! SQLite on the calling task (see its module doc for why and what it
//! trades); it is the default for `sqlite:` URLs, `sqlite.rs` (through sqlx)
//! the other choice (`SqliteDriver`). It has its own pool and transaction
//! types, the `SqliteDirect` variants below, binds through `sqlite.rs`'s
//! storage mapping and classifies with its result-code table.
//! `mysql_native.rs` speaks to MySQL/MariaDB through `mysql_async` (large
//! results decode faster, see its module doc); it is the default for
//! `mysql:` URLs, `mysql.rs` (through sqlx) the other choice
//! (`MySqlDriver`), and it shares `mysql.rs`'s set-up, cells and error
//! table. Nothing above this module can tell two drivers of one backend
//! apart except by speed.
//!
//! PostgreSQL stays on sqlx: `tokio-postgres` measured no faster per
//! statement or per row on this machine (`benches -- drivers`); what it
//! would add is pipelining, which the flush does not need while it sends
//! one statement per table and shape.
//!
//! Why an enum and not a trait object: async trait methods are not
//! object-safe, and the set of drivers is closed and small. A new driver (as
//! the direct SQLite one was, instead of going through sqlx's worker
//! thread) is a new variant of [`Pool`] and [`Tx`] plus one file here; the
//! session, queries and derive-generated code do not change.
//!
//! What this module must not do: know about entities, sessions or the
//! identity map.
//!
//! Layer 1 (the backend seam): it uses only what is below it (see `crate::layers`).

/// A backend file's side of the shared runner: its own `bind`, `plan`,
/// `decode` and `classify`, and how its query result reports rows and the
/// last generated key.
macro_rules! driver {
    ($db:ty, $args:ty, $row:ty, $plan:ty, $result:ty, |$r:ident| $last_id:expr) => {
        /// This backend's side of the shared runner in `backend/mod.rs`.
        pub(crate) struct Driver;

        impl super::Driver for Driver {
            type DB = $db;
            type Plan = $plan;

            fn bind(params: &[Value]) -> Result<$args> {
                bind(params)
            }

            fn plan(row: &$row) -> Result<Self::Plan> {
                plan(row)
            }

            fn decode(row: &$row, plan: &Self::Plan) -> Result<Vec<Value>> {
                decode(row, plan)
            }

            fn classify(err: sqlx::Error) -> Error {
                classify(err)
            }

            fn done($r: $result) -> Done {
                Done {
                    rows_affected: $r.rows_affected(),
                    last_insert_id: $last_id,
                }
            }
        }
    };
}

mod conn;
pub(crate) mod mysql;
pub(crate) mod mysql_native;
mod pool;
pub(crate) mod postgres;
pub(crate) mod sqlite;
pub(crate) mod sqlite_direct;

use std::sync::Arc;

pub use crate::sql::dialect::Dialect;
pub(crate) use conn::Conn;

use crate::error::{DbErrorKind, Error, Result};
use crate::row::RowSet;
use crate::value::Value;

/// What the backend can do, found out when the pool opens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Capabilities {
    /// `INSERT ... RETURNING` (PostgreSQL, SQLite >= 3.35, MariaDB >= 10.5).
    pub insert_returning: bool,
    /// The most bound parameters one statement may carry.
    pub bind_limit: usize,
}

/// A connection pool of one backend.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(pool::ServerPool<sqlx::PgConnection>),
    MySql(pool::ServerPool<sqlx::MySqlConnection>),
    /// SQLite without sqlx ([`SqliteDriver::Direct`]).
    SqliteDirect(sqlite_direct::DirectPool),
    /// MySQL/MariaDB without sqlx ([`MySqlDriver::MysqlAsync`]).
    MySqlAsync(pool::ServerPool<::mysql_async::Conn>),
}

/// Which driver serves `sqlite:` URLs.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use orm_core::{ConnectOptions, Database, SqliteDriver};
/// let options = ConnectOptions { sqlite_driver: SqliteDriver::Direct, ..Default::default() };
/// let db = Database::connect_with("sqlite::memory:", options).await?;
/// let rows = db.fetch_sql("SELECT 40 + 2 AS n", vec![]).await?;
/// assert_eq!(rows[0].get::<i64>("n")?, 42);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteDriver {
    /// SQLite called directly on the calling task (rusqlite), the default:
    /// no thread hop per statement and no message per row, 2.5-10x faster
    /// reads than sqlx's driver in `docs/benchmarks.md`. A statement blocks
    /// the executor thread while it runs (see `backend/sqlite_direct.rs`).
    #[default]
    Direct,
    /// sqlx's SQLite driver: each connection on its own worker thread, so a
    /// long statement never blocks the executor. For databases that serve
    /// long scans next to latency-sensitive tasks.
    Sqlx,
}

/// Which driver serves `mysql:` (and `mariadb:`) URLs.
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use orm_core::{ConnectOptions, Database, MySqlDriver};
/// let options = ConnectOptions { mysql_driver: MySqlDriver::Sqlx, ..Default::default() };
/// let db = Database::connect_with("mysql://root@127.0.0.1:3306/test", options).await?;
/// let rows = db.fetch_sql("SELECT 40 + 2 AS n", vec![]).await?;
/// assert_eq!(rows[0].get::<i64>("n")?, 42);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MySqlDriver {
    /// `mysql_async`, the default: the same cost per round trip as sqlx's
    /// driver and large results decoded about 1.5x faster (see
    /// `backend/mysql_native.rs` and `docs/benchmarks.md`).
    #[default]
    MysqlAsync,
    /// sqlx's MySQL driver, which accepts sqlx's URL parameters
    /// (`ssl-mode`, `charset`, ...).
    Sqlx,
}

/// Where a statement runs: a connection taken from the pool for it alone
/// (autocommit), or one already held (the session's transaction).
pub(crate) enum Target<'a> {
    Pool(&'a Pool),
    Conn(&'a mut Conn),
}

/// What a statement that returns no rows reports back.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Done {
    pub rows_affected: u64,
    /// MySQL's `LAST_INSERT_ID()` after an INSERT (the first id of a multi-row insert).
    pub last_insert_id: Option<i64>,
}

/// What each backend file provides to the shared statement runner below:
/// how to bind, how to decode, how to classify errors.
pub(crate) trait Driver {
    type DB: sqlx::Database;
    /// How to decode the rows of one result, chosen from its first row.
    type Plan: Default;
    fn bind(params: &[Value]) -> Result<<Self::DB as sqlx::Database>::Arguments>;
    fn plan(row: &<Self::DB as sqlx::Database>::Row) -> Result<Self::Plan>;
    fn decode(row: &<Self::DB as sqlx::Database>::Row, plan: &Self::Plan) -> Result<Vec<Value>>;
    fn classify(err: sqlx::Error) -> Error;
    fn done(result: <Self::DB as sqlx::Database>::QueryResult) -> Done;
}

/// Runs a query and decodes every row, for any backend.
pub(crate) async fn fetch<'e, D, E>(e: E, sql: &Arc<str>, params: &[Value]) -> Result<RowSet>
where
    D: Driver,
    E: sqlx::Executor<'e, Database = D::DB>,
    <D::DB as sqlx::Database>::Arguments: sqlx::IntoArguments<D::DB>,
{
    use futures_util::TryStreamExt;
    use sqlx::Row;
    let args = D::bind(params)?;
    let mut stream = sqlx::query_with::<D::DB, _>(sqlx::AssertSqlSafe(sql.clone()), args).fetch(e);
    let mut set = RowSet::default();
    let mut plan = D::Plan::default();
    while let Some(row) = stream.try_next().await.map_err(D::classify)? {
        if set.rows.is_empty() {
            set.columns = column_names(row.columns());
            plan = D::plan(&row)?;
        }
        set.rows.push(D::decode(&row, &plan)?);
    }
    Ok(set)
}

/// Runs a query and yields its rows as the driver reads them, in chunks
/// of at most `batch` (memory bounded by a chunk, not by the result), for
/// any sqlx backend.
pub(crate) fn stream<'e, D, E>(
    e: E,
    sql: Arc<str>,
    params: &[Value],
    batch: usize,
) -> impl futures_util::Stream<Item = Result<RowSet>> + Send + 'e
where
    D: Driver,
    E: sqlx::Executor<'e, Database = D::DB> + 'e,
    <D::DB as sqlx::Database>::Arguments: sqlx::IntoArguments<D::DB> + Send,
    D::Plan: Send,
{
    use futures_util::TryStreamExt;
    use sqlx::Row;
    let args = D::bind(params);
    async_stream::try_stream! {
        let mut rows = sqlx::query_with::<D::DB, _>(sqlx::AssertSqlSafe(sql), args?).fetch(e);
        let mut chunk = Chunk::new(batch);
        let mut plan = D::Plan::default();
        while let Some(row) = rows.try_next().await.map_err(D::classify)? {
            if chunk.columns().is_none() {
                chunk.set_columns(column_names(row.columns()));
                plan = D::plan(&row)?;
            }
            if let Some(full) = chunk.push(D::decode(&row, &plan)?) {
                yield full;
            }
        }
        if let Some(rest) = chunk.finish() {
            yield rest;
        }
    }
}

/// The rows of a stream being gathered into chunks of `batch`.
pub(crate) struct Chunk {
    set: RowSet,
    batch: usize,
    named: bool,
}

impl Chunk {
    pub(crate) fn new(batch: usize) -> Chunk {
        let batch = batch.max(1);
        Chunk {
            set: RowSet {
                columns: Arc::from(Vec::new()),
                rows: Vec::with_capacity(batch),
            },
            batch,
            named: false,
        }
    }

    /// The column names, once known.
    pub(crate) fn columns(&self) -> Option<&Arc<[Box<str>]>> {
        self.named.then_some(&self.set.columns)
    }

    pub(crate) fn set_columns(&mut self, columns: Arc<[Box<str>]>) {
        self.set.columns = columns;
        self.named = true;
    }

    /// Adds a row; a full chunk comes back to be yielded.
    pub(crate) fn push(&mut self, row: Vec<Value>) -> Option<RowSet> {
        self.set.rows.push(row);
        (self.set.rows.len() >= self.batch).then(|| {
            let next = RowSet {
                columns: self.set.columns.clone(),
                rows: Vec::with_capacity(self.batch),
            };
            std::mem::replace(&mut self.set, next)
        })
    }

    /// The last, partial chunk, if it holds rows.
    pub(crate) fn finish(self) -> Option<RowSet> {
        (!self.set.rows.is_empty()).then_some(self.set)
    }
}

/// Runs a statement that returns no rows, for any backend.
pub(crate) async fn execute<'e, D, E>(e: E, sql: &Arc<str>, params: &[Value]) -> Result<Done>
where
    D: Driver,
    E: sqlx::Executor<'e, Database = D::DB>,
    <D::DB as sqlx::Database>::Arguments: sqlx::IntoArguments<D::DB>,
{
    let args = D::bind(params)?;
    let result = sqlx::query_with::<D::DB, _>(sqlx::AssertSqlSafe(sql.clone()), args)
        .execute(e)
        .await
        .map_err(D::classify)?;
    Ok(D::done(result))
}

// The pool's branch (take a connection, then run) is boxed: unboxed its
// future is ~9 KiB, which every statement on a held connection (each of a
// flush's) would carry and copy a few times; the connection's own is ~0.5 KiB.
impl Target<'_> {
    /// Runs a query and decodes every row into [`Value`]s.
    pub(crate) async fn fetch(self, sql: &Arc<str>, params: &[Value]) -> Result<RowSet> {
        match self {
            Target::Pool(pool) => {
                Box::pin(async move { pool.acquire().await?.fetch(sql, params).await }).await
            }
            Target::Conn(conn) => conn.fetch(sql, params).await,
        }
    }

    /// Runs a query and yields its rows in chunks of at most `batch` (see
    /// [`Conn::stream`]); on the pool, one connection is held until the
    /// stream ends or is dropped.
    pub(crate) fn stream<'a>(
        self,
        sql: Arc<str>,
        params: Vec<Value>,
        batch: usize,
    ) -> futures_util::stream::BoxStream<'a, Result<RowSet>>
    where
        Self: 'a,
    {
        use futures_util::StreamExt;
        match self {
            Target::Conn(conn) => conn.stream(sql, &params, batch),
            Target::Pool(pool) => Box::pin(async_stream::try_stream! {
                let mut conn = pool.acquire().await?;
                let mut rows = conn.stream(sql, &params, batch);
                while let Some(set) = rows.next().await {
                    yield set?;
                }
            }),
        }
    }

    /// Runs a statement that returns no rows.
    pub(crate) async fn execute(self, sql: &Arc<str>, params: &[Value]) -> Result<Done> {
        match self {
            Target::Pool(pool) => {
                Box::pin(async move { pool.acquire().await?.execute(sql, params).await }).await
            }
            Target::Conn(conn) => conn.execute(sql, params).await,
        }
    }

    /// Runs a repeated statement: `sql` once for each `width` of `params`
    /// (see [`Conn::execute_each`]).
    pub(crate) async fn execute_each(
        self,
        sql: &Arc<str>,
        params: &[Value],
        width: usize,
    ) -> Result<Done> {
        match self {
            Target::Pool(pool) => {
                Box::pin(async move {
                    let mut conn = pool.acquire().await?;
                    conn.execute_each(sql, params, width).await
                })
                .await
            }
            Target::Conn(conn) => conn.execute_each(sql, params, width).await,
        }
    }
}

impl Pool {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) | Pool::SqliteDirect(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::MySql(_) | Pool::MySqlAsync(_) => Dialect::MySql,
        }
    }

    /// The driver's name (`Database::driver`).
    pub(crate) fn driver(&self) -> &'static str {
        match self {
            Pool::Sqlite(_) => "sqlx-sqlite",
            Pool::SqliteDirect(_) => "rusqlite",
            Pool::Postgres(_) => "sqlx-postgres",
            Pool::MySql(_) => "sqlx-mysql",
            Pool::MySqlAsync(_) => "mysql_async",
        }
    }

    /// Takes a connection (see [`Conn`] for what dropping it does).
    pub(crate) async fn acquire(&self) -> Result<Conn> {
        Ok(match self {
            Pool::Sqlite(p) => Conn::sqlite(p.acquire().await.map_err(sqlite::classify)?),
            Pool::Postgres(p) => Conn::postgres(p.acquire().await?),
            Pool::MySql(p) => Conn::mysql(p.acquire().await?),
            Pool::MySqlAsync(p) => Conn::mysql_async(p.acquire().await?),
            Pool::SqliteDirect(p) => Conn::direct(p.acquire().await?),
        })
    }

    /// Takes a connection and opens a transaction on it. Dropping the
    /// future half way never leaves a transaction on a pooled connection.
    pub(crate) async fn begin(&self) -> Result<Conn> {
        self.begin_with(TxOptions::default()).await
    }

    /// [`Pool::begin`] with an isolation level or read-only access.
    pub(crate) async fn begin_with(&self, options: TxOptions) -> Result<Conn> {
        let (before, begin) = options.statements(self.dialect())?;
        let mut conn = self.acquire().await?;
        if let Some(sql) = before {
            // MySQL: SET TRANSACTION applies to the next transaction only.
            conn.execute(&Arc::from(sql), &[]).await?;
        }
        conn.begin_with(begin).await?;
        Ok(conn)
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
            Pool::MySqlAsync(p) => p.close().await,
            Pool::SqliteDirect(p) => p.close(),
        }
    }
}

/// A transaction's isolation level (`Session::begin_with`). SQLite runs
/// every transaction serializable, which every level allows (a level is the
/// least isolation asked for), so any level is accepted there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// `READ UNCOMMITTED` (PostgreSQL runs it as READ COMMITTED).
    ReadUncommitted,
    /// `READ COMMITTED`: each statement sees what was committed before it.
    ReadCommitted,
    /// `REPEATABLE READ`: the transaction sees one snapshot (MySQL's default).
    RepeatableRead,
    /// `SERIALIZABLE`: as if transactions ran one after another; a conflict
    /// fails with `DbErrorKind::Serialization` (retry with `Database::retry`).
    Serializable,
}

/// How a transaction is opened: its isolation level (the server's default
/// when `None`) and whether it may write.
///
/// ```
/// use orm_core::{Isolation, TxOptions};
/// let o: TxOptions = Isolation::Serializable.into();
/// assert_eq!(o, TxOptions { isolation: Some(Isolation::Serializable), read_only: false });
/// let ro = TxOptions::read_only();
/// assert!(ro.read_only && ro.isolation.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOptions {
    /// The isolation level; `None` keeps the server's default.
    pub isolation: Option<Isolation>,
    /// A read-only transaction: writes fail (PostgreSQL, MySQL); not
    /// available on SQLite (open the file with `?mode=ro` instead).
    pub read_only: bool,
}

impl From<Isolation> for TxOptions {
    fn from(isolation: Isolation) -> TxOptions {
        TxOptions {
            isolation: Some(isolation),
            read_only: false,
        }
    }
}

impl TxOptions {
    /// A read-only transaction at the server's default level.
    pub fn read_only() -> TxOptions {
        TxOptions {
            isolation: None,
            read_only: true,
        }
    }

    /// The statement to run before BEGIN (MySQL's `SET TRANSACTION`) and
    /// the BEGIN statement (`None`: plain BEGIN), for `dialect`.
    pub(crate) fn statements(
        self,
        dialect: Dialect,
    ) -> Result<(Option<&'static str>, Option<&'static str>)> {
        use Isolation::*;
        if self == TxOptions::default() {
            return Ok((None, None));
        }
        Ok(match dialect {
            Dialect::Sqlite if self.read_only => {
                return Err(Error::Config(
                    "SQLite has no read-only transactions: open the database with ?mode=ro".into(),
                ));
            }
            Dialect::Sqlite => (None, None),
            Dialect::Postgres => (
                None,
                Some(match (self.isolation, self.read_only) {
                    (None, _) => "BEGIN READ ONLY",
                    (Some(ReadUncommitted), false) => "BEGIN ISOLATION LEVEL READ UNCOMMITTED",
                    (Some(ReadUncommitted), true) => {
                        "BEGIN ISOLATION LEVEL READ UNCOMMITTED READ ONLY"
                    }
                    (Some(ReadCommitted), false) => "BEGIN ISOLATION LEVEL READ COMMITTED",
                    (Some(ReadCommitted), true) => "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY",
                    (Some(RepeatableRead), false) => "BEGIN ISOLATION LEVEL REPEATABLE READ",
                    (Some(RepeatableRead), true) => {
                        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                    }
                    (Some(Serializable), false) => "BEGIN ISOLATION LEVEL SERIALIZABLE",
                    (Some(Serializable), true) => "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
                }),
            ),
            Dialect::MySql => (
                self.isolation.map(|i| match i {
                    ReadUncommitted => "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
                    ReadCommitted => "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
                    RepeatableRead => "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                    Serializable => "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                }),
                self.read_only.then_some("START TRANSACTION READ ONLY"),
            ),
        })
    }
}

/// Pool settings common to every backend.
///
/// PostgreSQL and MySQL use the ORM's own pool (`backend/pool.rs`), which
/// sends nothing but the statements: no ping when a connection is handed
/// out or comes back (sqlx's pool pings on every return, a round trip per
/// autocommit statement). Its connections are opened on demand, and one
/// idle past `idle_timeout` or older than `max_lifetime` is closed when the
/// pool next sees it (`min_connections` applies to SQLite only).
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections open at once (default 10; 1 for in-memory SQLite).
    pub max_connections: u32,
    /// Connections kept open while idle (default 0; 1 for in-memory SQLite,
    /// whose data lives only as long as a connection does).
    pub min_connections: u32,
    /// How long `acquire` waits for a free connection before failing.
    pub acquire_timeout: std::time::Duration,
    /// Close connections idle for longer than this.
    pub idle_timeout: Option<std::time::Duration>,
    /// Close connections older than this.
    pub max_lifetime: Option<std::time::Duration>,
    /// Ping each connection before handing it out. Off by default: it costs a
    /// round trip per statement, and a dead connection is reported as
    /// [`DbErrorKind::ConnectionLost`] anyway (and replaced for the next
    /// statement). On for networks that drop idle connections silently.
    pub test_before_acquire: bool,
    /// Prepared statements cached per connection.
    pub statement_cache_capacity: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: std::time::Duration::from_secs(30),
            idle_timeout: Some(std::time::Duration::from_secs(600)),
            max_lifetime: Some(std::time::Duration::from_secs(1800)),
            test_before_acquire: false,
            statement_cache_capacity: 256,
        }
    }
}

impl PoolOptions {
    pub(crate) fn sqlx<DB: sqlx::Database>(&self) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::new()
            .max_connections(self.max_connections)
            .min_connections(self.min_connections)
            .acquire_timeout(self.acquire_timeout)
            .idle_timeout(self.idle_timeout)
            .max_lifetime(self.max_lifetime)
            .test_before_acquire(self.test_before_acquire)
    }
}

/// The connect and statement timeouts of `ConnectOptions`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// Opening the first connection (the probe of `connect`).
    pub connect: std::time::Duration,
    pub statement: Option<std::time::Duration>,
}

/// Opens a pool for `url` and probes its capabilities.
///
/// The servers' `connect` opens one connection itself before it builds the
/// pool: sqlx's pool retries a refused connection until its acquire
/// timeout and then reports only "pool timed out", while the probe reports
/// the driver's cause ("connection refused") at once. It costs one more
/// connection per `Database::connect`.
pub(crate) async fn connect(
    url: &str,
    options: &PoolOptions,
    drivers: (SqliteDriver, MySqlDriver),
    timeouts: Timeouts,
) -> Result<(Pool, Capabilities)> {
    let (sqlite_driver, mysql_driver) = drivers;
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" if sqlite_driver == SqliteDriver::Direct => {
            sqlite_direct::connect(url, options, timeouts).await
        }
        "sqlite" => sqlite::connect(url, options, timeouts).await,
        "postgres" | "postgresql" => postgres::connect(url, options, timeouts).await,
        "mysql" | "mariadb" if mysql_driver == MySqlDriver::MysqlAsync => {
            mysql_native::connect(url, options, timeouts).await
        }
        "mysql" | "mariadb" => mysql::connect(url, options, timeouts).await,
        _ => Err(Error::Config(format!(
            "unsupported database URL scheme {scheme:?} (expected sqlite:, postgres:// or mysql://)"
        ))),
    }
}

/// Opens one connection within `timeout`: the probe of a server's
/// `connect` (see [`connect`]).
pub(crate) async fn probe<C>(
    opts: &C,
    timeout: std::time::Duration,
    url: &str,
) -> Result<C::Connection>
where
    C: sqlx::ConnectOptions,
    C::Connection: Sized,
{
    match tokio::time::timeout(timeout, opts.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_error(url, &e)),
        Err(_) => Err(Error::Connect {
            url: redact(url),
            message: format!("no connection within the connect timeout of {timeout:?}"),
        }),
    }
}

/// A driver error while connecting: the driver's own words, which name the
/// cause ("Connection refused", "password authentication failed").
pub(crate) fn connect_error(url: &str, e: &sqlx::Error) -> Error {
    Error::Connect {
        url: redact(url),
        message: e.to_string(),
    }
}

/// Hides the password of a URL for error messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Maps a driver error that is not a database error (I/O, pool, protocol).
pub(crate) fn classify_other(err: sqlx::Error) -> Error {
    let kind = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbErrorKind::ConnectionLost,
        sqlx::Error::PoolTimedOut => DbErrorKind::Timeout,
        _ => DbErrorKind::Other,
    };
    Error::Database {
        kind,
        code: None,
        message: err.to_string(),
        entity: None,
        statement: None,
        violation: None,
    }
}

/// Builds the ORM error for a database error with the backend's code.
pub(crate) fn database_error(kind: DbErrorKind, code: Option<String>, message: &str) -> Error {
    violation_error(kind, code, message, None)
}

/// [`database_error`] with what the backend said about a violated
/// constraint.
pub(crate) fn violation_error(
    kind: DbErrorKind,
    code: Option<String>,
    message: &str,
    violation: Option<crate::error::Violation>,
) -> Error {
    Error::Database {
        kind,
        code,
        message: message.to_string(),
        entity: None,
        statement: None,
        violation: violation.map(Box::new),
    }
}

/// A bind failure: the driver refused a value (the ORM checks values first,
/// so this is a last line of defence).
pub(crate) fn bind_error(index: usize, err: impl std::fmt::Display) -> Error {
    Error::Database {
        kind: DbErrorKind::InvalidValue,
        code: None,
        message: format!("parameter {index} could not be bound: {err}"),
        entity: None,
        statement: None,
        violation: None,
    }
}

/// A column whose SQL type the ORM cannot decode.
pub(crate) fn unsupported_column(name: &str, type_name: &str) -> Error {
    Error::Decode {
        entity: "row",
        column: name.to_string(),
        expected: "a supported SQL type",
        found: format!("SQL type {type_name}"),
    }
}

/// A cell the driver could not decode as the type its column declared.
pub(crate) fn cell_error(name: &str, err: impl std::fmt::Display) -> Error {
    Error::Decode {
        entity: "row",
        column: name.to_string(),
        expected: "a value of the column's declared type",
        found: err.to_string(),
    }
}

/// Column names of a result, shared by all its rows.
pub(crate) fn column_names<C: sqlx::Column>(columns: &[C]) -> Arc<[Box<str>]> {
    columns.iter().map(|c| Box::from(c.name())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
    }
}
