//! Streaming: a query's results as they arrive, memory bounded by a chunk
//! of rows, not by the result (SQLAlchemy's `yield_per`, Diesel's
//! `load_iter`, sqlx's `fetch`).
//!
//! ```
//! # use orm_core::prelude::*;
//! use futures_util::TryStreamExt;
//! #[entity]
//! pub struct Event { #[key(auto)] pub id: i64, pub kind: String }
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let db = Database::connect("sqlite::memory:").await?;
//! # db.create_all(&[Event::schema()]).await?;
//! let mut s = db.session();
//! s.add_all((0..10).map(|i| Event { id: 0, kind: if i % 2 == 0 { "even" } else { "odd" }.into() }));
//! // The stream autoflushes first, then reads one chunk at a time.
//! let mut events = s.query::<Event>().filter(Event::KIND.eq("odd")).stream();
//! let mut seen = 0;
//! while let Some(event) = events.try_next().await? {
//!     assert_eq!(event.kind, "odd");
//!     seen += 1;
//! }
//! assert_eq!(seen, 5);
//! # Ok::<(), orm_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! The decisions:
//! * Streamed entities are plain values, **not** handles in the identity
//!   map: a map holding every object read would make the memory of a
//!   stream that of `all()`. Change one through the session by loading it
//!   (`s.get`) or merging it (`s.merge`). `after_load` hooks run. Pending
//!   changes are flushed first, as for any query.
//! * The rows come through the driver's own stream (a server sends them as
//!   the client reads, over one connection held for the stream's length;
//!   SQLite is stepped one chunk at a time), decoded one chunk at a time
//!   ([`STREAM_CHUNK`] rows unless `stream_chunks(n)` says otherwise).
//! * Inside the session's transaction the stream runs on its connection
//!   (its own writes are visible, the snapshot is the transaction's);
//!   outside one it holds a connection of its own, in autocommit: one
//!   statement, so one snapshot on PostgreSQL and MySQL (InnoDB's
//!   consistent read) and SQLite (a read holds its snapshot until reset).
//! * Dropping a stream before its end is a normal event: the rest of the
//!   result is read off (servers) or the statement reset (SQLite) before
//!   the connection's next statement, and the session's transaction
//!   stays usable (see `backend::conn`).
//! * The session is borrowed mutably while a stream lives, so nothing else
//!   runs on its connection meanwhile.
//! * One statement per stream: a query whose IN list would be split at
//!   the bind limit is refused (`Error::Usage`).
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::error::{Error, Result};
use crate::model::entity::Entity;
use crate::query::select::{Select, SelectList};
use crate::query::{Query, templated};
use crate::row::Row;
use crate::session::Session;
use crate::sql::Statement;

/// The rows a stream decodes at a time unless told otherwise.
pub const STREAM_CHUNK: usize = 1024;

impl<'s, T: Entity> Query<'s, T> {
    /// Every matching entity as a plain value, as the rows arrive (see the
    /// module doc): memory bounded by [`STREAM_CHUNK`] rows.
    pub fn stream(self) -> BoxStream<'s, Result<T>> {
        Box::pin(self.stream_chunks(STREAM_CHUNK).flat_map(|chunk| {
            futures_util::stream::iter(match chunk {
                Ok(values) => values.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
        }))
    }

    /// The matching entities in chunks of at most `rows` (the last may be
    /// shorter): for work done a batch at a time.
    pub fn stream_chunks(self, rows: usize) -> BoxStream<'s, Result<Vec<T>>> {
        Box::pin(async_stream::try_stream! {
            let (stmt, session) = self.stream_statement().await?;
            let load = session.detached_loader::<T>();
            let mut sets = session.stream(stmt, rows);
            while let Some(set) = sets.next().await {
                let values = set?.rows.into_iter().map(&load).collect::<Result<Vec<T>>>();
                yield values?;
            }
        })
    }

    /// Every matching row, bypassing the identity map, as the rows arrive.
    pub fn stream_rows(self) -> BoxStream<'s, Result<Row>> {
        Box::pin(async_stream::try_stream! {
            let (stmt, session) = self.stream_statement().await?;
            let mut sets = session.stream(stmt, STREAM_CHUNK);
            while let Some(set) = sets.next().await {
                for row in set?.into_rows() {
                    yield row;
                }
            }
        })
    }

    /// The checks and autoflush of any query, the lock's transaction, and
    /// the one statement the stream runs.
    async fn stream_statement(mut self) -> Result<(Statement, &'s mut Session)> {
        if let Some(e) = self.load_error.take() {
            return Err(e);
        }
        if !self.loads.is_empty() {
            return Err(stream_usage::<T>(
                "a stream yields plain values: it takes no load(..)",
            ));
        }
        self.session.check_usable()?;
        self.check_values(self.filter_node())?;
        self.session.autoflush().await?;
        if self.lock.is_some() {
            self.session.ensure_transaction().await?;
        }
        let mut stmts = self.statements_moving(templated::Kind::Rows)?;
        let (Some(stmt), None) = (stmts.pop(), stmts.pop()) else {
            return Err(stream_usage::<T>(
                "a stream runs one statement, and this query's IN list is split at the \
                 bind limit: shorten the list or read it with all()",
            ));
        };
        Ok((stmt, self.session))
    }
}

fn stream_usage<T: Entity>(message: &str) -> Error {
    Error::Usage {
        entity: Some(T::meta().name),
        relation: None,
        message: message.into(),
    }
}

impl<'s, T: Entity, L: SelectList<T> + Send + 's> Select<'s, T, L>
where
    L::Out: Send,
{
    /// Every row as a tuple, as the rows arrive: memory bounded by
    /// [`STREAM_CHUNK`] rows, after an autoflush.
    pub fn stream(self) -> BoxStream<'s, Result<L::Out>> {
        Box::pin(async_stream::try_stream! {
            let (stmt, session) = self.prepare_run().await?;
            let mut sets = session.stream(stmt, STREAM_CHUNK);
            while let Some(set) = sets.next().await {
                for row in set?.into_rows() {
                    let out = L::decode(&row);
                    yield out?;
                }
            }
        })
    }
}
