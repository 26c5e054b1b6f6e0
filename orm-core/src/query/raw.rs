//! [`SqlQuery`]: hand-written SQL as a value that can be run, cached in a
//! result-cache region, or sent in a concurrent batch (the hot read path of
//! reports: aggregates that map to no entity).
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use std::time::Duration;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::query::batch::BatchQuery;
use crate::results::{self as cache, CacheSpec};
use crate::row::Row;
use crate::runner::Prepared;
use crate::sql::Statement;

/// A raw SELECT on a database, made by [`Database::sql`](crate::Database::sql). Placeholders are
/// the backend's own (`$1` on PostgreSQL, `?` elsewhere). It runs on the
/// pool in autocommit.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use orm_core::cache::Region;
/// let db = orm_core::Database::connect("sqlite::memory:").await?;
/// db.execute_sql("CREATE TABLE t (x INTEGER)", vec![]).await?;
/// db.cache().add(Region::memory("r"))?;
/// let q = || db.sql("SELECT COUNT(*) AS n FROM t", vec![]).cached("r").reads(["t"]);
/// assert_eq!(q().rows().await?[0].get::<i64>("n")?, 0);
/// db.execute_sql("INSERT INTO t VALUES (1)", vec![]).await?;  // raw SQL: the cache does not see it
/// assert_eq!(q().rows().await?[0].get::<i64>("n")?, 0);
/// db.cache().invalidate_tables(&["t"]).await;
/// assert_eq!(q().rows().await?[0].get::<i64>("n")?, 1);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqlQuery {
    db: Engine,
    prepared: Prepared,
    region: Option<String>,
    key: Option<String>,
    expiry: Option<Duration>,
}

impl SqlQuery {
    pub(crate) fn new(db: Engine, statement: Statement) -> SqlQuery {
        SqlQuery {
            db,
            prepared: Prepared::raw(statement, Vec::new()),
            region: None,
            key: None,
            expiry: None,
        }
    }
}

impl SqlQuery {
    /// Reads through the result-cache region `region`.
    pub fn cached(mut self, region: &str) -> Self {
        self.region = Some(region.to_string());
        self
    }

    /// The tables the statement reads: a commit that writes one of them
    /// invalidates its cached result.
    pub fn reads<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.prepared.tables.extend(cache::tables(tables));
        self
    }

    /// Caches under this name instead of a hash of the SQL (with `cached`).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Keeps the result fresh this long instead of the region's expiry
    /// (with `cached`).
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.expiry = Some(expiry);
        self
    }

    pub(crate) fn cache_spec(&self) -> Result<Option<CacheSpec>> {
        match &self.region {
            Some(region) => Ok(Some(CacheSpec {
                region: region.clone(),
                key: self.key.clone(),
                expiry: self.expiry,
            })),
            None if self.key.is_some() || self.expiry.is_some() => Err(Error::Usage {
                entity: None,
                relation: None,
                message: format!(
                    "a cache key or expiry without a region (call cached(region)): {}",
                    self.prepared.sql()
                ),
            }),
            None => Ok(None),
        }
    }

    /// The key its region stores the result under (`None` when not cached).
    pub fn cache_key(&self) -> Result<Option<String>> {
        self.cache_spec()?
            .map(|spec| cache::key_of(&self.db, &self.prepared, &spec))
            .transpose()
    }

    /// The rows, by name or position.
    pub async fn rows(self) -> Result<Vec<Row>> {
        match self.cache_spec()? {
            Some(spec) => Ok(cache::fetch(&self.db, self.prepared, &spec, None, Ok)
                .await?
                .value
                .into_rows()),
            None => Ok(self.prepared.fetch(&self.db, None).await?.into_rows()),
        }
    }

    /// This query as one item of a concurrent batch.
    pub fn batched(self) -> Result<BatchQuery> {
        let spec = self.cache_spec()?;
        Ok(BatchQuery::rows(self.prepared, spec))
    }
}
