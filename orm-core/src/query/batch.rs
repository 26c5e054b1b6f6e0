//! Concurrent queries: a batch of independent queries run over the pool
//! with a bound on how many run at once (six slow report queries on six
//! connections instead of one after another).
//!
//! Each query of the batch runs as its own task, on its own pooled
//! connection, in autocommit; at most `limit` run at a time (the pool's own
//! size bounds them too). Results come back in input order, each a
//! `Result`: one failing query is reported with its index and SQL and the
//! others still return their rows. A batch item may read through a
//! result-cache region (`.cached(..)` before `.batched()`).
//!
//! Entity queries of a batch run by [`Session::concurrently`] land in that
//! session's one identity map: rows are fetched concurrently, then turned
//! into objects one query after another, in input order, so a key loaded by
//! two queries is one object. A session with an open transaction (it has
//! flushed writes) runs the batch one query after another inside the
//! transaction instead, so the queries see its writes.
//!
//! ```
//! # use orm_core::prelude::*;
//! #[entity]
//! pub struct Branch {
//!     #[key]
//!     pub id: i64,
//!     pub balance: i64,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.create_all(&[Branch::schema()]).await?;
//! let mut s = db.session();
//! s.add_all((1..=3).map(|id| Branch { id, balance: id * 10 }));
//! s.commit().await?;
//!
//! let batch = vec![
//!     s.query::<Branch>().filter(Branch::ID.le(2)).batched()?,
//!     db.sql("SELECT SUM(balance) AS total FROM branches", vec![]).batched()?,
//!     db.sql("SELECT nonsense", vec![]).batched()?,
//! ];
//! let mut results = s.concurrently(4, batch).await?.into_iter();
//! let branches = results.next().unwrap()?.entities::<Branch>().unwrap();
//! assert_eq!(branches.len(), 2);
//! let total = results.next().unwrap()?.rows().unwrap();
//! assert_eq!(total[0].get::<i64>("total")?, 60);
//! let failed = results.next().unwrap().unwrap_err();
//! assert_eq!((failed.index, failed.query.as_str()), (2, "SELECT nonsense"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use std::any::Any;

use futures_util::StreamExt;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::entity::Entity;
use crate::results::{self as cache, CacheSpec};
use crate::row::{Row, RowSet};
use crate::runner::Prepared;
use crate::session::{Handle, Session};
use crate::telemetry::Stats;

/// Objects of a batch item, made in the session that ran the batch:
/// `(session, rows, from the cache)`.
type Materialize = fn(&mut Session, RowSet, bool) -> Result<Box<dyn Any + Send>>;

/// One query of a batch, made by `.batched()` on a [`crate::Query`], a
/// [`crate::cache::CachedQuery`] or a [`crate::SqlQuery`].
#[derive(Debug)]
pub struct BatchQuery {
    label: String,
    prepared: Prepared,
    cache: Option<CacheSpec>,
    /// `None`: plain rows.
    materialize: Option<Materialize>,
}

/// What one query of a batch returned.
pub enum Batched {
    /// The rows of a plain-rows query.
    Rows(Vec<Row>),
    /// A `Vec<Handle<T>>` of the query's entity.
    Entities(Box<dyn Any + Send>),
}

impl std::fmt::Debug for Batched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Batched::Rows(rows) => f.debug_tuple("Rows").field(&rows.len()).finish(),
            Batched::Entities(_) => f.write_str("Entities(..)"),
        }
    }
}

impl Batched {
    /// The rows of a plain-rows query.
    pub fn rows(self) -> Option<Vec<Row>> {
        match self {
            Batched::Rows(rows) => Some(rows),
            Batched::Entities(_) => None,
        }
    }

    /// The objects of an entity query over `T`.
    pub fn entities<T: Entity>(self) -> Option<Vec<Handle<T>>> {
        match self {
            Batched::Entities(any) => any.downcast::<Vec<Handle<T>>>().ok().map(|b| *b),
            Batched::Rows(_) => None,
        }
    }
}

/// A query of a batch that failed: which one, and why.
#[derive(Debug)]
pub struct BatchError {
    /// Its position in the batch.
    pub index: usize,
    /// Its SQL (the first statement's, if an `IN` list was split).
    pub query: String,
    /// Boxed: a batch's results stay small however large an error is.
    pub error: Box<Error>,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "query {} of the batch failed ({}): {}",
            self.index, self.query, self.error
        )
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

fn materialize<T: Entity>(
    session: &mut Session,
    set: RowSet,
    cached: bool,
) -> Result<Box<dyn Any + Send>> {
    let handles: Vec<Handle<T>> = if cached {
        // Cached rows may be older than the session's objects: merge keeps
        // pending changes (see CachedQuery).
        cache::entities::<T>(set)?
            .into_iter()
            .map(|e| session.merge_loaded(e))
            .collect()
    } else {
        session.materialize(set)?
    };
    Ok(Box::new(handles))
}

impl BatchQuery {
    pub(crate) fn entities<T: Entity>(prepared: Prepared, cache: Option<CacheSpec>) -> BatchQuery {
        BatchQuery {
            label: prepared.sql().to_string(),
            prepared,
            cache,
            materialize: Some(materialize::<T>),
        }
    }

    pub(crate) fn rows(prepared: Prepared, cache: Option<CacheSpec>) -> BatchQuery {
        BatchQuery {
            label: prepared.sql().to_string(),
            prepared,
            cache,
            materialize: None,
        }
    }

    /// Its SQL.
    pub fn sql(&self) -> &str {
        &self.label
    }

    /// Its rows, and whether they came through a cache region.
    async fn fetch(self, db: Engine, stats: Option<Stats>) -> Result<(RowSet, bool)> {
        match &self.cache {
            Some(spec) => {
                let fetched = cache::fetch(&db, self.prepared, spec, stats, Ok).await?;
                Ok((fetched.value, true))
            }
            None => Ok((self.prepared.fetch(&db, stats.as_ref()).await?, false)),
        }
    }
}

/// Runs the queries' fetches, at most `limit` at a time, each in its own
/// task; results in input order.
pub(crate) async fn fetch_all(
    db: &Engine,
    limit: usize,
    queries: Vec<BatchQuery>,
    stats: Option<Stats>,
) -> Vec<(String, Option<Materialize>, Result<(RowSet, bool)>)> {
    let tasks = queries.into_iter().map(|q| {
        let (db, stats) = (db.clone(), stats.clone());
        let (label, into) = (q.label.clone(), q.materialize);
        async move {
            // Spawned when the stream polls it, so at most `limit` exist.
            let result = match tokio::spawn(q.fetch(db, stats)).await {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(Error::Internal {
                    entity: None,
                    message: format!("the query's task was cancelled: {e}"),
                }),
            };
            (label, into, result)
        }
    });
    futures_util::stream::iter(tasks)
        .buffered(limit.max(1))
        .collect()
        .await
}

pub(crate) fn failure(index: usize, query: String) -> impl FnOnce(Error) -> BatchError {
    move |error| BatchError {
        index,
        query,
        error: Box::new(error),
    }
}

impl Session {
    /// Runs independent queries concurrently over the pool, at most `limit`
    /// at a time, and turns the rows of entity queries into objects of this
    /// session (one identity map). Results in input order, each failure with
    /// its query; the outer error is the session's own (it failed earlier,
    /// or the autoflush did). See [`crate::BatchQuery`].
    pub async fn concurrently(
        &mut self,
        limit: usize,
        queries: Vec<BatchQuery>,
    ) -> Result<Vec<Result<Batched, BatchError>>> {
        self.check_usable()?;
        self.autoflush().await?;
        let fetched = if self.in_transaction() {
            // Inside the transaction, so the queries see its writes; one
            // connection, so one after another.
            let mut out = Vec::with_capacity(queries.len());
            for q in queries {
                let result = q.prepared.run(self).await.map(|set| (set, false));
                out.push((q.label, q.materialize, result));
            }
            out
        } else {
            let stats = Some(self.stats().clone());
            fetch_all(self.engine(), limit, queries, stats).await
        };
        Ok(fetched
            .into_iter()
            .enumerate()
            .map(|(i, (label, into, result))| {
                let (set, cached) = result.map_err(failure(i, label.clone()))?;
                match into {
                    Some(materialize) => materialize(self, set, cached)
                        .map(Batched::Entities)
                        .map_err(failure(i, label)),
                    None => Ok(Batched::Rows(set.into_rows())),
                }
            })
            .collect())
    }
}
