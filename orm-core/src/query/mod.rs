//! Typed queries over one entity: filters, order, limit/offset, and the
//! ways to run them (entities through the identity map, plain rows, count).
//!
//! A [`Query`] borrows the session mutably for its short life, so results
//! land in that session's identity map. Rendering to SQL lives in
//! [`render`]; this module only collects the parts and runs them.
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

pub(crate) mod batch;
mod bulk;
mod join;
mod joined;
mod page;
pub(crate) mod prepared;
pub(crate) mod raw;
mod select;
mod stream;
mod sub;
mod upsert;

use std::marker::PhantomData;

pub use crate::sql::Statement;
pub use crate::sql::builder::{Param, Shape};
pub use crate::sql::templated::TemplateOptions;
pub use bulk::Synchronize;
pub use joined::{
    Also, CountRows, FromBoth, FromLeft, FromRight, FromSecond, FromThird, Join, JoinHaving,
    JoinItem, JoinList, JoinSelect, Joined, OnColumn, OnRelation, Side,
};
pub use page::Page;
pub use select::{Agg, Case, Having, Item, Labeled, Select, SelectItem, SelectList, Summable};
pub use stream::STREAM_CHUNK;
pub use sub::{Outer, Subquery, Uncorrelated};
pub use upsert::Upsert;

use crate::error::{Error, Result};
use crate::model::column::{Direction, Filter, Node, Order};
use crate::model::entity::Entity;
use crate::model::relation::{Path, Relation, RelationMeta};
use crate::row::Row;
use crate::session::{Handle, Session};
use crate::sql::{render, templated};

/// A query over entity `T`, built step by step and run with
/// [`all`](Query::all), [`first`](Query::first), [`one`](Query::one),
/// [`count`](Query::count) or [`rows`](Query::rows).
///
/// ```
/// # use orm_core::prelude::*;
/// #[entity]
/// pub struct City {
///     #[key(auto)]
///     pub id: i64,
///     pub name: String,
///     pub population: Option<i64>,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.create_all(&[City::schema()]).await?;
/// let mut s = db.session();
/// s.add(City { id: 0, name: "Lyon".into(), population: Some(522_000) });
/// s.add(City { id: 0, name: "Nowhere".into(), population: None });
/// let big = s
///     .query::<City>()
///     .filter(City::POPULATION.gt(100_000).or(City::NAME.like("N%")))
///     .order_by(City::NAME.asc())
///     .all()
///     .await?;
/// assert_eq!(big.len(), 2);
/// assert_eq!(s.query::<City>().filter(City::POPULATION.is_null()).count().await?, 1);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Query<'s, T: Entity> {
    session: &'s mut Session,
    /// Every condition so far: one node, or an AND of several (kept
    /// combined so that running the query never copies it).
    filter: Option<Node>,
    /// Inline up to two terms: no allocation for the usual ORDER BY.
    order: smallvec::SmallVec<[(&'static str, Direction); 2]>,
    limit: Option<u64>,
    offset: Option<u64>,
    use_template: bool,
    /// `for_update` / `for_share` and how they wait.
    lock: Option<RowLock>,
    /// Relationship paths to load for the results (`load`, `then`).
    loads: Vec<Vec<&'static RelationMeta>>,
    /// A `then` that did not fit the path before it, reported by `all`.
    load_error: Option<Error>,
    _marker: PhantomData<fn() -> T>,
}

impl<'s, T: Entity> Query<'s, T> {
    pub(crate) fn new(session: &'s mut Session) -> Self {
        Query {
            session,
            filter: None,
            order: smallvec::SmallVec::new(),
            limit: None,
            offset: None,
            use_template: true,
            lock: None,
            loads: Vec::new(),
            load_error: None,
            _marker: PhantomData,
        }
    }

    /// Loads a relationship (or a path) of every result, one query per
    /// level: `.load(Receiver::PLANES)`, `.load(Receiver::PLANES.then(Plane::PARTS))`.
    pub fn load<L>(mut self, path: impl Into<Path<T, L>>) -> Self {
        self.loads.push(path.into().steps);
        self
    }

    /// Loads `next` for the children the previous [`Query::load`] loads
    /// (`.load(A::B).then(B::C)`); `C`'s source must be that load's target.
    pub fn then<C: Entity, D: Entity>(mut self, next: Relation<C, D>) -> Self {
        match self.loads.last_mut() {
            Some(steps)
                if steps
                    .last()
                    .is_some_and(|r| r.target_meta().same(C::meta())) =>
            {
                steps.push(next.meta());
            }
            _ => {
                self.load_error.get_or_insert_with(|| Error::Usage {
                    entity: Some(C::meta().name),
                    relation: Some(next.meta().describe()),
                    message: format!(
                        "then() follows no load of {0}; load(..) a relationship to {0} first",
                        C::meta().name
                    ),
                });
            }
        }
        self
    }

    /// Adds a condition; several calls are combined with AND.
    pub fn filter(mut self, filter: Filter<T>) -> Self {
        self.push_filter(filter.node);
        self
    }

    fn push_filter(&mut self, node: Node) {
        self.filter = Some(match self.filter.take() {
            None => node,
            Some(Node::And(mut all)) => {
                all.push(node);
                Node::And(all)
            }
            Some(first) => {
                let mut all = Vec::with_capacity(4);
                all.push(first);
                all.push(node);
                Node::And(all)
            }
        });
    }

    /// Adds an ORDER BY term (terms apply in call order).
    pub fn order_by(mut self, order: Order<T>) -> Self {
        self.order.push((order.column, order.direction));
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips the first `n` rows.
    pub fn offset(mut self, n: u64) -> Self {
        self.offset = Some(n);
        self
    }

    /// Locks the rows read until the session's transaction ends (`SELECT ..
    /// FOR UPDATE`), opening the transaction first if none is open: other
    /// transactions wait to change or lock them. SQLite has no row locks (it
    /// takes a lock on the whole database at the first write; a second
    /// writer gets `DbErrorKind::Busy`, never a lost update): there the
    /// query only runs in the transaction.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Job { #[key(auto)] pub id: i64, pub done: bool }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Job::schema()]).await?;
    /// let mut s = db.session();
    /// let next = s.query::<Job>().filter(Job::DONE.eq(false)).limit(1).for_update().skip_locked();
    /// assert!(next.sql()?[0].sql().ends_with("LIMIT ?"));  // SQLite: no clause; PostgreSQL: .. FOR UPDATE SKIP LOCKED
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn for_update(mut self) -> Self {
        self.lock = Some(RowLock {
            share: false,
            ..self.lock.unwrap_or_default()
        });
        self
    }

    /// Locks the rows read against changes but not against other shared
    /// locks (`FOR SHARE` on PostgreSQL, `LOCK IN SHARE MODE` on MySQL), as
    /// [`Query::for_update`] otherwise.
    pub fn for_share(mut self) -> Self {
        self.lock = Some(RowLock {
            share: true,
            ..self.lock.unwrap_or_default()
        });
        self
    }

    /// With a lock: leaves out rows another transaction has locked instead
    /// of waiting for them (`SKIP LOCKED`: PostgreSQL, MariaDB 10.6+, MySQL
    /// 8): a queue's workers each take different rows.
    pub fn skip_locked(mut self) -> Self {
        self.lock = Some(RowLock {
            wait: LockWait::SkipLocked,
            ..self.lock.unwrap_or_default()
        });
        self
    }

    /// With a lock: fails at once (`DbErrorKind::Timeout`) instead of
    /// waiting when a row is locked (`NOWAIT`).
    pub fn nowait(mut self) -> Self {
        self.lock = Some(RowLock {
            wait: LockWait::NoWait,
            ..self.lock.unwrap_or_default()
        });
        self
    }

    /// Builds this query's SQL fresh instead of from the template cache.
    pub fn without_template(mut self) -> Self {
        self.use_template = false;
        self
    }

    fn filter_node(&self) -> Option<&Node> {
        self.filter.as_ref()
    }

    fn check_values(&self, node: Option<&Node>) -> Result<()> {
        match node {
            Some(n) => n.check_for(T::meta().name, self.session.dialect()),
            None => Ok(()),
        }
    }

    /// The statements this query runs (through the template cache unless
    /// [`Query::without_template`]): SQL and parameters, nothing executed.
    /// More than one when an `IN` list is split at the bind limit. Consumes
    /// the query, as running it does: the filter's values move into the
    /// parameters.
    pub fn sql(mut self) -> Result<Vec<Statement>> {
        self.statements_moving(templated::Kind::Rows)
    }

    /// The SELECT this query runs, built fresh with sea-query (no template).
    pub fn statement(&self) -> Statement {
        let node = self.filter_node();
        render::select(self.session.dialect(), &self.spec(node))
    }

    fn spec<'a>(&'a self, filter: Option<&'a Node>) -> render::SelectSpec<'a> {
        render::SelectSpec {
            meta: T::meta(),
            filter,
            order: &self.order[..],
            limit: self.limit,
            offset: self.offset,
        }
    }

    /// [`Query::statements`] for a query being consumed (values moved out of
    /// the filter on a template hit; the filter must not be used again).
    fn statements_moving(&mut self, kind: templated::Kind) -> Result<Vec<Statement>> {
        let db = self.session.engine();
        let mut filter = self.filter.take();
        let stmts = templated::statements_moving(
            db.template_env(),
            kind,
            &self.spec(None),
            filter.as_mut(),
            self.use_template,
        )?;
        Ok(self.locked(kind, stmts))
    }

    fn statements(&self, kind: templated::Kind, node: Option<&Node>) -> Result<Vec<Statement>> {
        let db = self.session.engine();
        let stmts =
            templated::statements(db.template_env(), kind, &self.spec(node), self.use_template)?;
        Ok(self.locked(kind, stmts))
    }

    /// The row lock's clause after each SELECT of rows (it ends the
    /// statement on every backend, after ORDER BY and LIMIT; counts take
    /// none: PostgreSQL refuses FOR UPDATE with an aggregate).
    fn locked(&self, kind: templated::Kind, mut stmts: Vec<Statement>) -> Vec<Statement> {
        let (Some(lock), templated::Kind::Rows) = (self.lock, kind) else {
            return stmts;
        };
        if let Some(clause) = lock.clause(self.session.dialect()) {
            for s in &mut stmts {
                s.sql = format!("{} {clause}", s.sql).into();
            }
        }
        stmts
    }

    async fn run(mut self) -> Result<(crate::row::RowSet, &'s mut Session)> {
        self.session.check_usable()?;
        self.check_values(self.filter_node())?;
        self.session.autoflush().await?;
        if self.lock.is_some() {
            // A lock lasts as long as its transaction: outside one it would
            // end with the statement.
            self.session.ensure_transaction().await?;
        }
        // The same path as cached and batched queries: split statements'
        // rows are combined and ordered again in `Prepared`.
        let set = self.prepare_moving()?.run(self.session).await?;
        Ok((set, self.session))
    }

    /// Every matching object, through the identity map, with the
    /// relationships asked for by [`Query::load`] loaded.
    pub async fn all(mut self) -> Result<Vec<Handle<T>>> {
        if let Some(e) = self.load_error.take() {
            return Err(e);
        }
        let loads = std::mem::take(&mut self.loads);
        let (set, session) = self.run().await?;
        let found = session.materialize(set)?;
        for steps in &loads {
            let level = found.iter().map(crate::object::erased::obj).collect();
            session.load_steps(level, steps).await?;
        }
        Ok(found)
    }

    /// The first matching object, if any.
    pub async fn first(self) -> Result<Option<Handle<T>>> {
        let mut found = self.limit(1).all().await?;
        Ok(found.pop())
    }

    /// Exactly one object: `NotFound` for none, `MultipleRows` for more.
    pub async fn one(self) -> Result<Handle<T>> {
        let mut found = self.limit(2).all().await?;
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::NotFound {
                entity: T::meta().name,
                key: "(query)".into(),
            }),
            n => Err(Error::MultipleRows {
                entity: T::meta().name,
                count: n,
            }),
        }
    }

    /// Plain rows of every column, bypassing the identity map (the hot read path).
    pub async fn rows(self) -> Result<Vec<Row>> {
        let (set, _) = self.run().await?;
        Ok(set.into_rows())
    }

    /// Number of matching rows (honouring limit and offset).
    pub async fn count(mut self) -> Result<i64> {
        self.session.check_usable()?;
        self.check_values(self.filter_node())?;
        self.session.autoflush().await?;
        let stmts = if self.limit.is_some() || self.offset.is_some() {
            // The page counted is the query's own SELECT, fitted to the bind
            // limit like any other; a limited query is never split.
            let mut inner = self.statements_moving(templated::Kind::Rows)?;
            let (Some(inner), None) = (inner.pop(), inner.pop()) else {
                return Err(Error::Internal {
                    entity: Some(T::meta().name),
                    message: "a count with LIMIT/OFFSET must be one statement".into(),
                });
            };
            let sql = format!("SELECT COUNT(*) FROM ({}) AS counted", inner.sql);
            vec![Statement::new(sql, inner.params)]
        } else {
            self.statements_moving(templated::Kind::Count)?
        };
        let mut total = 0;
        for stmt in &stmts {
            total += first_count(self.session.fetch(stmt).await?)?;
        }
        Ok(total)
    }
}

/// A locking read: `FOR UPDATE` or `FOR SHARE`, and how it waits.
#[derive(Debug, Clone, Copy, Default)]
struct RowLock {
    share: bool,
    wait: LockWait,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum LockWait {
    #[default]
    Wait,
    SkipLocked,
    NoWait,
}

impl RowLock {
    /// The clause for `dialect` (none on SQLite, which has no row locks).
    fn clause(self, dialect: crate::sql::dialect::Dialect) -> Option<&'static str> {
        use crate::sql::dialect::Dialect::*;
        use LockWait::*;
        Some(match (dialect, self.share, self.wait) {
            (Sqlite, ..) => return None,
            (_, false, Wait) => "FOR UPDATE",
            (_, false, SkipLocked) => "FOR UPDATE SKIP LOCKED",
            (_, false, NoWait) => "FOR UPDATE NOWAIT",
            (Postgres, true, Wait) => "FOR SHARE",
            (Postgres, true, SkipLocked) => "FOR SHARE SKIP LOCKED",
            (Postgres, true, NoWait) => "FOR SHARE NOWAIT",
            // MariaDB has no FOR SHARE; MySQL 8 still takes this form.
            (MySql, true, Wait) => "LOCK IN SHARE MODE",
            (MySql, true, SkipLocked) => "LOCK IN SHARE MODE SKIP LOCKED",
            (MySql, true, NoWait) => "LOCK IN SHARE MODE NOWAIT",
        })
    }
}

fn first_count(set: crate::row::RowSet) -> Result<i64> {
    set.into_rows()
        .first()
        .map(|r| r.get_at::<i64>(0))
        .unwrap_or(Ok(0))
}

impl Session {
    /// Starts a query over `T`.
    pub fn query<T: Entity>(&mut self) -> Query<'_, T> {
        Query::new(self)
    }
}
