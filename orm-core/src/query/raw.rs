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

    /// The rows, each read into `R` by column name ([`crate::FromRow`];
    /// exactly, then ignoring ASCII case, as servers fold unquoted names).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use orm_core::FromRow;
    /// #[derive(FromRow)]
    /// struct Tally { n: i64, biggest: Option<i64> }
    /// let db = orm_core::Database::connect("sqlite::memory:").await?;
    /// db.execute_sql("CREATE TABLE t (x INTEGER)", vec![]).await?;
    /// db.execute_sql("INSERT INTO t VALUES (3), (9)", vec![]).await?;
    /// let t: Vec<Tally> = db.sql("SELECT MAX(x) AS biggest, COUNT(*) AS n FROM t", vec![]).all_as().await?;
    /// assert_eq!((t[0].n, t[0].biggest), (2, Some(9)));
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn all_as<R: crate::row::FromRow>(self) -> Result<Vec<R>> {
        self.rows().await?.iter().map(R::from_row).collect()
    }

    /// This query as one item of a concurrent batch.
    pub fn batched(self) -> Result<BatchQuery> {
        let spec = self.cache_spec()?;
        Ok(BatchQuery::rows(self.prepared, spec))
    }
}

impl crate::session::Session {
    /// Runs hand-written SQL and maps its rows to entities **by column
    /// name**, through the identity map (SQLAlchemy's
    /// `select(User).from_statement(text(..))`). Every column of the entity
    /// must be in the result, in any order; other columns are ignored. Runs
    /// in the session's transaction when one is open, after an autoflush.
    /// Placeholders are the backend's own (`$1` on PostgreSQL, `?`
    /// elsewhere).
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Town { #[key(auto)] pub id: i64, pub name: String, pub people: i64 }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Town::schema()]).await?;
    /// let mut s = db.session();
    /// let oslo = s.add(Town { id: 0, name: "Oslo".into(), people: 700_000 });
    /// s.flush().await?;
    /// let big = s
    ///     .query_sql::<Town>(
    ///         "SELECT people, name, id, people / 1000 AS thousands FROM towns WHERE people > ?",
    ///         vec![100_000i64.into()],
    ///     )
    ///     .await?;
    /// assert!(Handle::ptr_eq(&big[0], &oslo)); // one key, one object
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn query_sql<T: crate::model::entity::Entity>(
        &mut self,
        sql: impl Into<std::sync::Arc<str>>,
        params: Vec<crate::value::Value>,
    ) -> Result<Vec<crate::session::Handle<T>>> {
        self.check_usable()?;
        self.autoflush().await?;
        let stmt = Statement::new(sql, params);
        let set = self.fetch(&stmt).await?;
        let set = by_name(T::meta(), set)?;
        self.materialize(set)
    }
}

/// The rows of `set` with the entity's columns, in the entity's order,
/// found by name (exactly, then ignoring ASCII case: servers fold unquoted
/// names differently).
fn by_name(
    meta: &'static crate::model::meta::EntityMeta,
    set: crate::row::RowSet,
) -> Result<crate::row::RowSet> {
    let mut positions = Vec::with_capacity(meta.columns.len());
    for c in meta.columns {
        let found = set.columns.iter().position(|n| &**n == c.name).or_else(|| {
            set.columns
                .iter()
                .position(|n| n.eq_ignore_ascii_case(c.name))
        });
        match found {
            Some(i) => positions.push(i),
            None => {
                let got: Vec<&str> = set.columns.iter().map(|n| &**n).collect();
                return Err(Error::Decode {
                    entity: meta.name,
                    column: c.name.to_string(),
                    expected: "a column of this name in the raw query's result",
                    found: format!("only the columns {}", got.join(", ")),
                });
            }
        }
    }
    let in_order =
        positions.iter().enumerate().all(|(i, &p)| i == p) && set.columns.len() == positions.len();
    if in_order {
        return Ok(set);
    }
    let rows = set
        .rows
        .into_iter()
        .map(|mut row| {
            positions
                .iter()
                .map(|&p| {
                    std::mem::replace(
                        &mut row[p],
                        crate::value::Value::Null(crate::value::SqlType::Text),
                    )
                })
                .collect()
        })
        .collect();
    Ok(crate::row::RowSet {
        columns: meta.columns.iter().map(|c| Box::from(c.name)).collect(),
        rows,
    })
}
