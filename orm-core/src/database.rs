//! [`Database`]: a connection pool, its dialect and capabilities, schema
//! management, and the factory for sessions.
//!
//! A `Database` is cheap to clone (an `Arc`); share one per process. Work on
//! entities happens in a [`Session`]; the database itself only runs DDL and
//! raw SQL.

use std::sync::Arc;

use crate::backend::{self, Capabilities, Dialect, Pool, PoolOptions, Target};
use crate::error::{Error, Result};
use crate::model::meta::{EntityMeta, dependency_order};
use crate::query::Statement;
use crate::row::Row;
use crate::session::Session;
use crate::session::hooks::Hooks;
use crate::sql::ddl;
use crate::telemetry::{Stats, observe};
use crate::value::Value;

/// Options for [`Database::connect_with`].
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use orm_core::{ConnectOptions, Database, DbErrorKind};
/// let options = ConnectOptions {
///     connect_timeout: Some(Duration::from_secs(5)),
///     statement_timeout: Some(Duration::from_millis(100)),
///     ..Default::default()
/// };
/// let db = Database::connect_with("sqlite::memory:", options).await?;
/// let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT MAX(x) FROM c";
/// let err = db.fetch_sql(endless, vec![]).await.unwrap_err();
/// assert_eq!(err.db_kind(), Some(DbErrorKind::Timeout));
/// assert!(err.to_string().contains("WITH RECURSIVE"), "the error names its statement: {err}");
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Pool sizing and timeouts.
    pub pool: PoolOptions,
    /// The SQL template cache (capacity, safety mode, list padding).
    pub templates: crate::query::TemplateOptions,
    /// Override the detection of `INSERT ... RETURNING`. `Some(false)` makes the
    /// ORM read generated keys with `LAST_INSERT_ID()` on MySQL (the path used
    /// by MySQL servers, which lack RETURNING); other backends require it.
    pub insert_returning: Option<bool>,
    /// Which driver serves `sqlite:` URLs (SQLite called directly by
    /// default; see [`SqliteDriver`](crate::SqliteDriver)).
    pub sqlite_driver: crate::SqliteDriver,
    /// How long opening the first connection may take before `connect`
    /// fails with [`Error::Connect`] (default: the pool's acquire timeout).
    /// A server that refuses connections fails at once whatever this says.
    /// Connections the pool opens later are bounded by its acquire timeout
    /// (sqlx's pool has no separate connect timeout). SQLite files open
    /// synchronously (the direct driver cannot be interrupted while it
    /// opens one; the sqlx driver's open is bounded by this).
    pub connect_timeout: Option<std::time::Duration>,
    /// The longest a statement may run before the backend cancels it, which
    /// is reported as [`DbErrorKind::Timeout`](crate::DbErrorKind) with the
    /// statement: PostgreSQL's `statement_timeout` and MariaDB's
    /// `max_statement_time` (MySQL's `max_execution_time`, which covers
    /// SELECTs only), set on every connection; on SQLite an interrupt from a
    /// progress handler, both drivers, which counts only the time SQLite
    /// works on the statement (not waits for a lock, which the busy timeout
    /// bounds). A cancelled write inside a transaction fails the flush as
    /// any failed statement does.
    pub statement_timeout: Option<std::time::Duration>,
}

/// A pool of connections to one database.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = orm_core::Database::connect("sqlite::memory:").await?;
/// assert_eq!(db.dialect(), orm_core::Dialect::Sqlite);
/// let rows = db.fetch_sql("SELECT 1 + 1 AS two", vec![]).await?;
/// assert_eq!(rows[0].get::<i64>("two")?, 2);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    hooks: Hooks,
    templates: orm_cache::template::TemplateCache,
    padding: orm_cache::template::Padding,
    pool: Pool,
    caps: Capabilities,
    dialect: Dialect,
    stats: Stats,
    /// Result-cache regions (`crate::cache`).
    cache: crate::cache::ResultCache,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dialect", &self.inner.dialect)
            .finish()
    }
}

impl Database {
    /// Opens a pool for `sqlite:` (a file path or `:memory:`), `postgres://`
    /// or `mysql://` (MariaDB too) with default options.
    pub async fn connect(url: &str) -> Result<Database> {
        Database::connect_with(url, ConnectOptions::default()).await
    }

    /// Opens a pool with explicit options.
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Database> {
        let timeouts = backend::Timeouts {
            connect: options
                .connect_timeout
                .unwrap_or(options.pool.acquire_timeout),
            statement: options.statement_timeout,
        };
        let (pool, mut caps) =
            backend::connect(url, &options.pool, options.sqlite_driver, timeouts).await?;
        let dialect = pool.dialect();
        if let Some(returning) = options.insert_returning {
            if !returning && dialect != Dialect::MySql {
                return Err(Error::Config(format!(
                    "{} needs INSERT ... RETURNING to read generated keys",
                    dialect.name()
                )));
            }
            caps.insert_returning = returning;
        }
        Ok(Database {
            inner: Arc::new(Inner {
                hooks: Hooks::default(),
                templates: orm_cache::template::TemplateCache::new(
                    options.templates.capacity,
                    options.templates.mode,
                ),
                padding: options.templates.padding,
                pool,
                caps,
                dialect,
                stats: Stats::default(),
                cache: crate::cache::ResultCache::default(),
            }),
        })
    }

    /// The SQL dialect of this database.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// Whether generated keys are read back with `INSERT ... RETURNING`.
    pub fn uses_insert_returning(&self) -> bool {
        self.inner.caps.insert_returning
    }

    /// The most parameters one statement may bind on this backend.
    pub fn bind_limit(&self) -> usize {
        self.inner.caps.bind_limit
    }

    /// Statements run through this database by every session, and by itself.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The SQL template cache: statistics, and the run-time switches
    /// (`set_enabled`, `set_mode`).
    pub fn templates(&self) -> &orm_cache::template::TemplateCache {
        &self.inner.templates
    }

    /// The result-cache regions: set them up once (`add`), read through
    /// them with `.cached(region)` on a query; see [`crate::cache`].
    pub fn cache(&self) -> &crate::cache::ResultCache {
        &self.inner.cache
    }

    /// What a SELECT needs to come from the template cache.
    pub(crate) fn template_env(&self) -> crate::sql::templated::Env<'_> {
        crate::sql::templated::Env {
            cache: &self.inner.templates,
            padding: self.inner.padding,
            bind_limit: self.bind_limit(),
            dialect: self.inner.dialect,
        }
    }

    /// Hooks that apply to every session of this database (merged with each
    /// session's own by priority, then registration order).
    pub fn hooks(&self) -> &Hooks {
        &self.inner.hooks
    }

    /// Runs a unit of work in a fresh session and commits it, retrying up to
    /// `attempts` times in all when it fails with stale data, a deadlock, a
    /// serialization failure or a busy SQLite file. Each attempt starts from
    /// a new session, so it reloads what it reads.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Counter {
    ///     #[key]
    ///     pub name: String,
    ///     pub value: i64,
    ///     #[version]
    ///     pub version: i64,
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.create_all(&[Counter::schema()]).await?;
    /// let mut s = db.session();
    /// s.add(Counter { name: "hits".into(), value: 0, version: 0 });
    /// s.commit().await?;
    /// let value = db
    ///     .retry(5, async |s: &mut Session| {
    ///         let c = s.get::<Counter>("hits".to_string()).await?;
    ///         c.write().value += 1;
    ///         let v = c.read().value;
    ///         Ok(v)
    ///     })
    ///     .await?;
    /// assert_eq!(value, 1);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn retry<T>(
        &self,
        attempts: u32,
        mut work: impl AsyncFnMut(&mut Session) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut session = self.session();
            let result = match work(&mut session).await {
                Ok(value) => session.commit().await.map(|()| value),
                Err(e) => Err(e),
            };
            match result {
                Ok(value) => return Ok(value),
                Err(e) => {
                    // Acknowledge a failure, or discard the attempt's transaction.
                    let _ = session.rollback().await;
                    let _ = session.rollback().await;
                    if !e.is_retryable() || attempt >= attempts {
                        return Err(e);
                    }
                    tracing::debug!(attempt, error = %e, "retrying unit of work");
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }

    /// A new session: its own identity map, pending objects and transaction.
    pub fn session(&self) -> Session {
        Session::new(self.clone())
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn caps(&self) -> Capabilities {
        self.inner.caps
    }

    /// Creates the tables (and indexes and foreign keys) of `entities` that do
    /// not exist yet, referenced tables first, then the association tables
    /// of their many-to-many relationships.
    pub async fn create_all(&self, entities: &[&'static EntityMeta]) -> Result<()> {
        let ordered = dependency_order(entities).map_err(Error::Config)?;
        for meta in ordered {
            for sql in ddl::create_table(self.dialect(), meta) {
                self.execute_sql(sql, vec![]).await?;
            }
        }
        for (_, statements) in ddl::association_tables(self.dialect(), entities) {
            for sql in statements {
                self.execute_sql(sql, vec![]).await?;
            }
        }
        Ok(())
    }

    /// Drops the tables of `entities` that exist, referencing tables first.
    pub async fn drop_all(&self, entities: &[&'static EntityMeta]) -> Result<()> {
        let ordered = dependency_order(entities).map_err(Error::Config)?;
        for (table, _) in ddl::association_tables(self.dialect(), entities) {
            self.execute_sql(ddl::drop_named(self.dialect(), table), vec![])
                .await?;
        }
        for meta in ordered.into_iter().rev() {
            self.execute_sql(ddl::drop_table(self.dialect(), meta), vec![])
                .await?;
        }
        Ok(())
    }

    /// The DDL `create_all` would run, without running it.
    pub fn create_all_sql(&self, entities: &[&'static EntityMeta]) -> Result<Vec<String>> {
        let ordered = dependency_order(entities).map_err(Error::Config)?;
        let mut sql: Vec<String> = ordered
            .into_iter()
            .flat_map(|m| ddl::create_table(self.dialect(), m))
            .collect();
        sql.extend(
            ddl::association_tables(self.dialect(), entities)
                .into_iter()
                .flat_map(|(_, s)| s),
        );
        Ok(sql)
    }

    /// Runs raw SQL that returns no rows, in autocommit. Placeholders are the
    /// backend's own (`$1` on PostgreSQL, `?` elsewhere). Returns rows affected.
    pub async fn execute_sql(&self, sql: impl Into<Arc<str>>, params: Vec<Value>) -> Result<u64> {
        let stmt = Statement::new(sql, params);
        let done = observe(
            &[&self.inner.stats],
            self.dialect(),
            &stmt.sql,
            Target::Pool(self.pool()).execute(&stmt.sql, &stmt.params),
        )
        .await?;
        Ok(done.rows_affected)
    }

    /// Runs raw SQL that returns rows, in autocommit, as plain [`Row`]s.
    pub async fn fetch_sql(
        &self,
        sql: impl Into<Arc<str>>,
        params: Vec<Value>,
    ) -> Result<Vec<Row>> {
        let stmt = Statement::new(sql, params);
        let set = observe(
            &[&self.inner.stats],
            self.dialect(),
            &stmt.sql,
            Target::Pool(self.pool()).fetch(&stmt.sql, &stmt.params),
        )
        .await?;
        Ok(set.into_rows())
    }

    /// Closes every connection; later use fails with a connection error.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }
}

/// Exponential backoff with jitter: about 1, 2, 4 ... ms, at most 50 ms, so
/// that racing retries spread out.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 1u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    let jitter = nanos % (base * 1000);
    std::time::Duration::from_micros((base * 500 + jitter).min(50_000))
}
