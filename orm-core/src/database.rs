//! [`Database`]: the entry point. An [`Engine`] (the pool and what is
//! shared with it) plus the hooks every session of it runs, schema
//! management, raw SQL, and the factory for sessions and retried units of
//! work.
//!
//! A `Database` is cheap to clone (two `Arc`s); share one per process. Work
//! on entities happens in a [`Session`]. Layer 5: the top of orm-core.

use std::sync::Arc;

pub use crate::engine::ConnectOptions;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::meta::{EntityMeta, dependency_order};
use crate::query::batch::{self, BatchError, BatchQuery};
use crate::query::raw::SqlQuery;
use crate::row::Row;
use crate::runner::{Autocommit, Runner};
use crate::session::Session;
use crate::session::hooks::Hooks;
use crate::sql::dialect::Dialect;
use crate::sql::{Statement, ddl};
use crate::value::Value;

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
    engine: Engine,
    hooks: Arc<Hooks>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dialect", &self.dialect())
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
        Ok(Database {
            engine: Engine::connect(url, options).await?,
            hooks: Arc::new(Hooks::default()),
        })
    }

    /// The database a session works on.
    pub(crate) fn of(engine: Engine, hooks: Arc<Hooks>) -> Database {
        Database { engine, hooks }
    }

    /// The SQL dialect of this database.
    pub fn dialect(&self) -> Dialect {
        self.engine.dialect()
    }

    /// The driver this database's connections go through: `"rusqlite"` or
    /// `"sqlx-sqlite"`, `"sqlx-postgres"`, `"mysql_async"` or `"sqlx-mysql"`
    /// (see [`SqliteDriver`](crate::SqliteDriver) and
    /// [`MySqlDriver`](crate::MySqlDriver)).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = orm_core::Database::connect("sqlite::memory:").await?;
    /// assert_eq!(db.driver(), "rusqlite");
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn driver(&self) -> &'static str {
        self.engine.pool().driver()
    }

    /// Whether generated keys are read back with `INSERT ... RETURNING`.
    pub fn uses_insert_returning(&self) -> bool {
        self.engine.caps().insert_returning
    }

    /// The most parameters one statement may bind on this backend.
    pub fn bind_limit(&self) -> usize {
        self.engine.bind_limit()
    }

    /// Statements run through this database by every session, and by itself.
    pub fn stats(&self) -> &crate::telemetry::Stats {
        self.engine.stats()
    }

    /// The SQL template cache: statistics, and the run-time switches
    /// (`set_enabled`, `set_mode`).
    pub fn templates(&self) -> &orm_cache::template::TemplateCache {
        self.engine.templates()
    }

    /// The result-cache regions: set them up once (`add`), read through
    /// them with `.cached(region)` on a query; see [`crate::cache`].
    pub fn cache(&self) -> &crate::results::ResultCache {
        self.engine.cache()
    }

    /// Hooks that apply to every session of this database (merged with each
    /// session's own by priority, then registration order).
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
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
        Session::new(self.engine.clone(), self.hooks.clone())
    }

    /// Creates the tables (and indexes and foreign keys) of `entities` that do
    /// not exist yet, referenced tables first, then the association tables
    /// of their many-to-many relationships; on PostgreSQL first the enum
    /// types their columns use (`#[column_value(native_enum = "..")]`) that
    /// do not exist yet.
    pub async fn create_all(&self, entities: &[&'static EntityMeta]) -> Result<()> {
        for sql in self.create_all_sql(entities)? {
            self.execute_sql(sql, vec![]).await?;
        }
        Ok(())
    }

    /// Drops the tables of `entities` that exist, referencing tables first,
    /// then (PostgreSQL) the enum types their columns use that no other
    /// table uses.
    pub async fn drop_all(&self, entities: &[&'static EntityMeta]) -> Result<()> {
        let ordered = dependency_order(entities)?;
        for (table, _) in ddl::association_tables(self.dialect(), entities) {
            self.execute_sql(ddl::drop_named(self.dialect(), table), vec![])
                .await?;
        }
        for meta in ordered.into_iter().rev() {
            self.execute_sql(ddl::drop_table(self.dialect(), meta), vec![])
                .await?;
        }
        for ty in ddl::enum_types(entities) {
            if let Some(sql) = ddl::drop_enum(self.dialect(), ty) {
                self.execute_sql(sql, vec![]).await?;
            }
        }
        Ok(())
    }

    /// The DDL `create_all` would run, without running it.
    pub fn create_all_sql(&self, entities: &[&'static EntityMeta]) -> Result<Vec<String>> {
        let ordered = dependency_order(entities)?;
        ddl::check_enum_types(entities)?;
        // PostgreSQL's enum types first: the tables' columns use them.
        let mut sql: Vec<String> = ddl::enum_types(entities)
            .into_iter()
            .filter_map(|ty| ddl::create_enum(self.dialect(), ty))
            .collect();
        sql.extend(
            ordered
                .into_iter()
                .flat_map(|m| ddl::create_table(self.dialect(), m)),
        );
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
        let done = Autocommit::new(self.engine.clone(), None)
            .execute(&stmt)
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
        let set = Autocommit::new(self.engine.clone(), None)
            .fetch(&stmt)
            .await?;
        Ok(set.into_rows())
    }

    /// A migrator for the migrations in `dir` (`migrations/<version>_<name>/up.sql`
    /// and `down.sql`; a directory that does not exist yet holds none). See
    /// [`crate::migrate::Migrator`] for an example.
    pub fn migrator(&self, dir: impl AsRef<std::path::Path>) -> Result<crate::migrate::Migrator> {
        crate::migrate::Migrator::new(self.engine.clone(), Some(dir.as_ref()))
    }

    /// Closes every connection; later use fails with a connection error.
    pub async fn close(&self) {
        self.engine.pool().close().await;
    }
}

impl Database {
    /// A raw SELECT to run, cache or batch (see [`SqlQuery`]).
    pub fn sql(&self, sql: impl Into<Arc<str>>, params: Vec<Value>) -> SqlQuery {
        SqlQuery::new(self.engine.clone(), Statement::new(sql, params))
    }

    /// Runs independent queries concurrently over the pool, at most `limit`
    /// at a time; their rows in input order, each failure with its query.
    /// Entity queries give their plain rows here (use
    /// [`Session::concurrently`] for objects).
    pub async fn concurrently(
        &self,
        limit: usize,
        queries: Vec<BatchQuery>,
    ) -> Vec<Result<Vec<Row>, BatchError>> {
        batch::fetch_all(&self.engine, limit, queries, None)
            .await
            .into_iter()
            .enumerate()
            .map(|(i, (label, _, result))| {
                result
                    .map(|(set, _)| set.into_rows())
                    .map_err(batch::failure(i, label))
            })
            .collect()
    }
}

impl Session {
    /// The database this session works on.
    pub fn database(&self) -> Database {
        Database::of(self.engine().clone(), self.database_hooks().clone())
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
