//! [`Engine`]: one database as every layer above the SQL layer sees it: the
//! connection pool, its dialect and capabilities, the SQL template cache,
//! the result-cache regions and the statement counters. Sessions, queries,
//! the result cache and the statement runner hold an `Engine`;
//! [`crate::Database`] is an engine plus the hooks and the factory for
//! sessions.
//!
//! Layer 2: it knows the backend, the SQL layer and the result-cache
//! regions, never sessions, queries or entities.

use std::sync::Arc;

use crate::backend::{self, Capabilities, Dialect, Pool, PoolOptions};
use crate::error::{Error, Result};
use crate::telemetry::Stats;

/// Options for [`Database::connect_with`](crate::Database::connect_with).
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
    pub templates: crate::sql::templated::TemplateOptions,
    /// Override the detection of `INSERT ... RETURNING`. `Some(false)` makes the
    /// ORM read generated keys with `LAST_INSERT_ID()` on MySQL (the path used
    /// by MySQL servers, which lack RETURNING); other backends require it.
    pub insert_returning: Option<bool>,
    /// Which driver serves `sqlite:` URLs (SQLite called directly by
    /// default; see [`SqliteDriver`](crate::SqliteDriver)).
    pub sqlite_driver: crate::backend::SqliteDriver,
    /// Which driver serves `mysql:` URLs (`mysql_async` by default; see
    /// [`MySqlDriver`](crate::MySqlDriver)).
    pub mysql_driver: crate::backend::MySqlDriver,
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

/// A connection pool and what is shared with it (cheap to clone: an `Arc`).
#[derive(Clone)]
pub(crate) struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    templates: orm_cache::template::TemplateCache,
    padding: orm_cache::template::Padding,
    pool: Pool,
    caps: Capabilities,
    dialect: Dialect,
    stats: Stats,
    /// Result-cache regions (`crate::cache`).
    cache: crate::results::ResultCache,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dialect", &self.inner.dialect)
            .finish()
    }
}

impl Engine {
    /// Opens a pool with explicit options and probes its capabilities.
    pub(crate) async fn connect(url: &str, options: ConnectOptions) -> Result<Engine> {
        let timeouts = backend::Timeouts {
            connect: options
                .connect_timeout
                .unwrap_or(options.pool.acquire_timeout),
            statement: options.statement_timeout,
        };
        let (pool, mut caps) = backend::connect(
            url,
            &options.pool,
            (options.sqlite_driver, options.mysql_driver),
            timeouts,
        )
        .await?;
        let dialect = pool.dialect();
        if let Some(returning) = options.insert_returning {
            if !returning && !dialect.spec().last_insert_id {
                return Err(Error::Config(format!(
                    "{} needs INSERT ... RETURNING to read generated keys",
                    dialect.name()
                )));
            }
            caps.insert_returning = returning;
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                templates: orm_cache::template::TemplateCache::new(
                    options.templates.capacity,
                    options.templates.mode,
                ),
                padding: options.templates.padding,
                pool,
                caps,
                dialect,
                stats: Stats::default(),
                cache: crate::results::ResultCache::default(),
            }),
        })
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    pub(crate) fn caps(&self) -> Capabilities {
        self.inner.caps
    }

    pub(crate) fn bind_limit(&self) -> usize {
        self.inner.caps.bind_limit
    }

    /// Statements run through this engine by every session and by itself.
    pub(crate) fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    pub(crate) fn templates(&self) -> &orm_cache::template::TemplateCache {
        &self.inner.templates
    }

    pub(crate) fn cache(&self) -> &crate::results::ResultCache {
        &self.inner.cache
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
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
}
