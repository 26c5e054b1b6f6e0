//! A query apart from its session: its statements, owned, with what is
//! needed to run them anywhere (on the pool, in a concurrent batch, through
//! a result-cache region) and to combine their rows.
//!
//! [`Query::cached`] and [`Query::batched`] live here, next to the query's
//! private parts; the cache itself is [`crate::cache`], batches are
//! [`crate::BatchQuery`].
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use std::borrow::Cow;
use std::time::Duration;

use super::Query;
use crate::error::Result;
use crate::model::entity::Entity;
use crate::query::batch::BatchQuery;
use crate::results::{self as cache, CacheSpec};
use crate::row::{Row, RowSet};
use crate::runner::Prepared;
use crate::session::{Handle, Session};
use crate::sql::templated;

impl<'s, T: Entity> Query<'s, T> {
    /// The statements, nothing run (whether the session can run them is
    /// checked when it does).
    pub(super) fn prepare(&self) -> Result<Prepared> {
        let node = self.filter_node();
        self.check_values(node)?;
        let statements = self.statements(templated::Kind::Rows, node)?;
        Ok(self.prepared(statements))
    }

    /// [`Query::prepare`] for a query about to be consumed: the filter's
    /// values move into the statements (see `templated::statements_moving`).
    pub(super) fn prepare_moving(&mut self) -> Result<Prepared> {
        self.session.check_usable()?;
        self.check_values(self.filter_node())?;
        let statements = self.statements_moving(templated::Kind::Rows)?;
        Ok(self.prepared(statements))
    }

    fn prepared(&self, statements: Vec<crate::sql::Statement>) -> Prepared {
        let meta = T::meta();
        let declared_order = self.session.dialect() != crate::backend::Dialect::Sqlite;
        let resort = self
            .order
            .iter()
            .filter_map(|(c, d)| {
                let i = meta.columns.iter().position(|m| m.name == *c)?;
                let labels = match meta.columns[i].sql_type {
                    crate::value::SqlType::Enum(ty) if declared_order => Some(ty),
                    _ => None,
                };
                Some((i, *d, labels))
            })
            .collect();
        Prepared {
            statements,
            resort,
            nulls_last: self.session.dialect().spec().nulls_last,
            tables: vec![Cow::Borrowed(meta.table)],
        }
    }

    /// Runs this query through the result-cache region `region` (set up with
    /// `db.cache().add(..)`; see [`crate::cache`]). The key is the region's
    /// prefix and a SHA-1 of the SQL and parameters; a commit that writes
    /// `T`'s table invalidates it.
    pub fn cached(self, region: &str) -> CachedQuery<'s, T> {
        CachedQuery {
            query: self,
            spec: CacheSpec {
                region: region.to_string(),
                key: None,
                expiry: None,
            },
        }
    }

    /// This query as one item of a concurrent batch
    /// ([`Session::concurrently`]): its rows become `T`s in the session
    /// that runs the batch. Fails if the query's values are invalid.
    pub fn batched(self) -> Result<BatchQuery> {
        Ok(BatchQuery::entities::<T>(self.prepare()?, None))
    }
}

/// A query that reads through a result-cache region; made by
/// [`Query::cached`].
///
/// Cached rows become objects through the identity map with
/// [`Session::merge_loaded`]: an object with pending changes in the session keeps
/// them, an unchanged one takes the cached values. A session with an open
/// transaction (it has flushed writes) bypasses the cache: cached rows would
/// not show its writes, and rows read inside it must not be shown to others.
/// Entity `after_load` functions run on cached rows; the session's
/// `after_load` hooks do not.
///
/// ```
/// # use orm_core::prelude::*;
/// # use orm_core::cache::Region;
/// #[entity]
/// pub struct City {
///     #[key(auto)]
///     pub id: i64,
///     pub name: String,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.create_all(&[City::schema()]).await?;
/// db.cache().add(Region::memory("cities").expiry(std::time::Duration::from_secs(60)))?;
/// let mut s = db.session();
/// s.add(City { id: 0, name: "Lyon".into() });
/// s.commit().await?;
/// let first = s.query::<City>().cached("cities").all().await?;  // runs the query
/// let before = db.stats().statements();
/// let again = s.query::<City>().cached("cities").all().await?;  // served from the region
/// assert_eq!(db.stats().statements(), before);
/// assert!(Handle::ptr_eq(&first[0], &again[0]));
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
pub struct CachedQuery<'s, T: Entity> {
    query: Query<'s, T>,
    spec: CacheSpec,
}

impl<'s, T: Entity> CachedQuery<'s, T> {
    /// Stores the result under this name instead of a hash of the SQL
    /// (the caller makes sure one name means one result).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.spec.key = Some(key.into());
        self
    }

    /// Keeps the result fresh this long instead of the region's expiry.
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.spec.expiry = Some(expiry);
        self
    }

    /// The key the region stores this result under.
    pub fn cache_key(&self) -> Result<String> {
        cache::key_of(
            self.query.session.engine(),
            &self.query.prepare()?,
            &self.spec,
        )
    }

    /// Forgets this query's cached result.
    pub async fn invalidate(self) -> Result<()> {
        let db = self.query.session.engine().clone();
        cache::invalidate(&db, &self.query.prepare()?, &self.spec).await
    }

    /// Runs in the session (cache bypassed) if it has an open transaction.
    async fn start(self) -> Result<(Prepared, CacheSpec, &'s mut Session, Option<RowSet>)> {
        let prepared = self.query.prepare()?;
        let session = self.query.session;
        session.autoflush().await?;
        let direct = if session.in_transaction() {
            Some(prepared.run(session).await?)
        } else {
            None
        };
        Ok((prepared, self.spec, session, direct))
    }

    /// Every matching object, through the identity map.
    pub async fn all(self) -> Result<Vec<Handle<T>>> {
        let (prepared, spec, session, direct) = self.start().await?;
        if let Some(set) = direct {
            return session.materialize(set);
        }
        let stats = Some(session.stats().clone());
        let db = session.engine().clone();
        let fetched = cache::fetch(&db, prepared, &spec, stats, cache::entities::<T>).await?;
        Ok(fetched
            .value
            .into_iter()
            .map(|entity| session.merge_loaded(entity))
            .collect())
    }

    /// The first matching object, if any (the query gets `LIMIT 1`).
    pub async fn first(mut self) -> Result<Option<Handle<T>>> {
        self.query = self.query.limit(1);
        Ok(self.all().await?.pop())
    }

    /// Plain rows, bypassing the identity map.
    pub async fn rows(self) -> Result<Vec<Row>> {
        let (prepared, spec, session, direct) = self.start().await?;
        if let Some(set) = direct {
            return Ok(set.into_rows());
        }
        let stats = Some(session.stats().clone());
        let db = session.engine().clone();
        let fetched = cache::fetch(&db, prepared, &spec, stats, Ok).await?;
        Ok(fetched.value.into_rows())
    }

    /// This cached query as one item of a concurrent batch.
    pub fn batched(self) -> Result<BatchQuery> {
        Ok(BatchQuery::entities::<T>(
            self.query.prepare()?,
            Some(self.spec),
        ))
    }
}
