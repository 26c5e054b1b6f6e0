//! Typed queries over one entity: filters, order, limit/offset, and the
//! ways to run them (entities through the identity map, plain rows, count).
//!
//! A [`Query`] borrows the session mutably for its short life, so results
//! land in that session's identity map. Rendering to SQL lives in
//! [`render`]; this module only collects the parts and runs them.

pub(crate) mod render;

use std::marker::PhantomData;

pub use render::Statement;

use crate::column::{Direction, Filter, Node, Order};
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::row::Row;
use crate::session::{Handle, Session};

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
    filters: Vec<Node>,
    order: Vec<(&'static str, Direction)>,
    limit: Option<u64>,
    offset: Option<u64>,
    _marker: PhantomData<fn() -> T>,
}

impl<'s, T: Entity> Query<'s, T> {
    pub(crate) fn new(session: &'s mut Session) -> Self {
        Query {
            session,
            filters: Vec::new(),
            order: Vec::new(),
            limit: None,
            offset: None,
            _marker: PhantomData,
        }
    }

    /// Adds a condition; several calls are combined with AND.
    pub fn filter(mut self, filter: Filter<T>) -> Self {
        self.filters.push(filter.node);
        self
    }

    /// Restricts to the row with this primary key.
    pub(crate) fn key_filter(mut self, key: &T::Key) -> Self {
        let node = Node::And(
            T::meta()
                .key_columns()
                .zip(T::key_values(key))
                .map(|((_, c), v)| Node::Compare(c.name, crate::column::CmpOp::Eq, v))
                .collect(),
        );
        self.filters.push(node);
        self
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

    fn filter_node(&self) -> Option<Node> {
        match self.filters.len() {
            0 => None,
            1 => Some(self.filters[0].clone()),
            _ => Some(Node::And(self.filters.clone())),
        }
    }

    fn check_values(&self, node: Option<&Node>) -> Result<()> {
        let dialect = self.session.dialect();
        match node {
            Some(n) => n.check(&mut |column, v| {
                dialect
                    .check_value(v)
                    .map_err(|reason| Error::InvalidValue {
                        entity: T::meta().name,
                        column,
                        backend: dialect.name(),
                        reason,
                    })
            }),
            None => Ok(()),
        }
    }

    /// The SELECT this query runs, for this session's dialect.
    pub fn statement(&self) -> Statement {
        let node = self.filter_node();
        render::select(self.session.dialect(), &self.spec(node.as_ref()))
    }

    fn spec<'a>(&'a self, filter: Option<&'a Node>) -> render::SelectSpec<'a> {
        render::SelectSpec {
            meta: T::meta(),
            filter,
            order: &self.order,
            limit: self.limit,
            offset: self.offset,
        }
    }

    async fn run(self) -> Result<(crate::row::RowSet, &'s mut Session)> {
        self.session.check_usable()?;
        let node = self.filter_node();
        self.check_values(node.as_ref())?;
        self.session.autoflush().await?;
        let stmt = render::select(self.session.dialect(), &self.spec(node.as_ref()));
        let set = self.session.fetch(&stmt).await?;
        Ok((set, self.session))
    }

    /// Every matching object, through the identity map.
    pub async fn all(self) -> Result<Vec<Handle<T>>> {
        let (set, session) = self.run().await?;
        session.materialize(set)
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
    pub async fn count(self) -> Result<i64> {
        self.session.check_usable()?;
        let node = self.filter_node();
        self.check_values(node.as_ref())?;
        self.session.autoflush().await?;
        let dialect = self.session.dialect();
        let n: i64 = if self.limit.is_some() || self.offset.is_some() {
            let inner = render::select(dialect, &self.spec(node.as_ref()));
            let sql = format!("SELECT COUNT(*) FROM ({}) AS counted", inner.sql);
            let stmt = Statement::new(sql, inner.params);
            let set = self.session.fetch(&stmt).await?;
            first_count(set)?
        } else {
            let stmt = render::count(dialect, &self.spec(node.as_ref()));
            first_count(self.session.fetch(&stmt).await?)?
        };
        Ok(n)
    }
}

fn first_count(set: crate::row::RowSet) -> Result<i64> {
    set.into_rows()
        .first()
        .map(|r| r.get_at::<i64>(0))
        .unwrap_or(Ok(0))
}

impl Node {
    /// Visits every bound value with its column.
    pub(crate) fn check(
        &self,
        f: &mut impl FnMut(&'static str, &crate::Value) -> Result<()>,
    ) -> Result<()> {
        match self {
            Node::Compare(c, _, v) => f(c, v),
            Node::In(c, vs, _) => vs.iter().try_for_each(|v| f(c, v)),
            Node::IsNull(..) | Node::Like(..) => Ok(()),
            Node::And(ns) | Node::Or(ns) => ns.iter().try_for_each(|n| n.check(f)),
            Node::Not(n) => n.check(f),
        }
    }
}
