//! Subqueries in filters and select lists: `col IN (SELECT ..)`, `EXISTS`,
//! scalar subqueries (in a comparison or as a select item), correlated or
//! not, and tree walks over a self-reference (`WITH RECURSIVE`), the
//! hierarchies of story 1.
//!
//! ```
//! # use orm_core::prelude::*;
//! # use orm_core::{Agg, Subquery};
//! #[entity]
//! pub struct Author { #[key(auto)] pub id: i64, pub name: String }
//! #[entity]
//! pub struct Book { #[key(auto)] pub id: i64, #[column(references = Author)] pub author_id: i64, pub year: i32 }
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let db = Database::connect("sqlite::memory:").await?;
//! # db.create_all(&[Author::schema(), Book::schema()]).await?;
//! let mut s = db.session();
//! let a = s.add(Author { id: 0, name: "Le Guin".into() });
//! s.add(Author { id: 0, name: "Nobody".into() });
//! s.flush().await?;
//! s.add(Book { id: 0, author_id: a.read().id, year: 1969 });
//! // Authors with a book before 1970: IN (SELECT ..).
//! let early = Subquery::of(Book::AUTHOR_ID).filter(Book::YEAR.lt(1970));
//! assert_eq!(s.query::<Author>().filter(Author::ID.in_subquery(early)).count().await?, 1);
//! // Authors without books: NOT EXISTS, correlated on the foreign key.
//! let books = Subquery::<Book, ()>::rows().correlate(Book::AUTHOR_ID, Author::ID);
//! let idle = s.query::<Author>().filter(Filter::not_exists(books)).all().await?;
//! assert_eq!(idle[0].read().name, "Nobody");
//! // Each author with a count of their books: a scalar subquery as an item.
//! let per_author = s
//!     .query::<Author>()
//!     .order_by(Author::NAME.asc())
//!     .select((Author::NAME, Subquery::of(Agg::<Book, i64>::count()).correlate(Book::AUTHOR_ID, Author::ID)))
//!     .all()
//!     .await?;
//! assert_eq!(per_author, [("Le Guin".to_string(), 1), ("Nobody".to_string(), 0)]);
//! # Ok::<(), orm_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! The decisions:
//! * A [`Subquery<S, T, O>`] selects values of type `T` from entity `S`'s
//!   table; `O` is the entity of the query it is correlated with
//!   ([`Uncorrelated`] until [`Subquery::correlate`]). A correlated
//!   subquery can only be used in a filter or select of `O` (the
//!   [`Outer`] bound), so referring to a table that is not in the FROM
//!   does not compile; an uncorrelated one fits anywhere.
//! * `col.in_subquery(sub)` needs `sub`'s values to have the column's type.
//! * In SQL, the subquery's unqualified columns name its own table and the
//!   outer column is qualified by its table. When both are the same table
//!   (a self-correlation) the inner one is aliased `_s`.
//! * Subqueries are plain data in the filter (`model::expr`), so a query
//!   holding one goes through the template cache like any other: its shape
//!   includes the subquery's, never its values.
//! * Backend notes: MySQL refuses a bulk UPDATE or DELETE whose subquery
//!   reads the table being changed (its error 1093); MySQL has no LIMIT in
//!   an `IN` subquery, so subqueries here take none.
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use std::marker::PhantomData;

use crate::model::column::{CmpOp, Column, Comparable, Filter, Node};
use crate::model::entity::Entity;
use crate::model::expr::{ExprNode, SubNode, Tree};
use crate::query::select::SelectItem;
use crate::value::ColumnValue;

/// The outer side of a subquery correlated with nothing: it fits in a
/// query of any entity.
#[derive(Debug, Clone, Copy)]
pub struct Uncorrelated;

/// What a subquery correlated with `Self` may be used in: a query of `E`.
/// An [`Uncorrelated`] subquery fits every entity; one correlated with an
/// entity fits only that entity's queries.
pub trait Outer<E> {}

impl<E> Outer<E> for Uncorrelated {}

impl<E: Entity> Outer<E> for E {}

/// A subquery over entity `S` selecting values of type `T`, correlated
/// with a query of `O` (see the module doc).
#[derive(Debug, Clone)]
pub struct Subquery<S, T, O = Uncorrelated> {
    node: SubNode,
    _marker: PhantomData<Types<S, T, O>>,
}

/// The phantom types of a [`Subquery`] (no ownership, always `Send`).
type Types<S, T, O> = fn() -> (S, T, O);

impl<S: Entity, T, O> Subquery<S, T, O> {
    fn with(node: SubNode) -> Self {
        Subquery {
            node,
            _marker: PhantomData,
        }
    }

    /// Adds a condition on `S`'s rows (several are combined with AND).
    pub fn filter(mut self, filter: Filter<S>) -> Self {
        self.node.filter = Some(match self.node.filter.take() {
            None => filter.node,
            Some(Node::And(mut all)) => {
                all.push(filter.node);
                Node::And(all)
            }
            Some(first) => Node::And(vec![first, filter.node]),
        });
        self
    }

    fn correlated<P>(mut self, inner: &'static str, outer: &'static str) -> Subquery<S, T, P>
    where
        P: Entity,
    {
        if self.node.tree.is_none() {
            self.node.correlate.push((inner, P::meta().table, outer));
        }
        Subquery::with(self.node)
    }
}

impl<S: Entity> Subquery<S, ()> {
    /// `SELECT 1 FROM <S>`: the rows of `S`, for [`Filter::exists`].
    pub fn rows() -> Self {
        Subquery::with(SubNode {
            table: S::meta().table,
            item: ExprNode::One,
            filter: None,
            correlate: Vec::new(),
            tree: None,
        })
    }
}

impl<S: Entity, T> Subquery<S, T> {
    /// `SELECT <item> FROM <S>`: a column, an aggregate or an expression.
    pub fn of<I: SelectItem<S, Out = T>>(item: I) -> Self {
        Subquery::with(SubNode {
            table: S::meta().table,
            item: item.expr(),
            filter: None,
            correlate: Vec::new(),
            tree: None,
        })
    }

    /// Correlates the subquery with the query it sits in: only `S`'s rows
    /// whose `inner` equals the outer row's `outer` (`books.author_id =
    /// authors.id`). Tree walks take no correlation.
    pub fn correlate<P: Entity, A, B>(
        self,
        inner: Column<S, A>,
        outer: Column<P, B>,
    ) -> Subquery<S, T, P>
    where
        A: Comparable,
        B: Comparable<Base = A::Base>,
    {
        self.correlated(inner.name(), outer.name())
    }

    /// The keys of the rows `start` picks and of every row below them in
    /// the tree that `parent` (a nullable reference to `key`) stores: a
    /// recursive CTE, one statement however deep the tree. A cycle in the
    /// data ends the walk (rows already seen are not followed again).
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// # use orm_core::Subquery;
    /// #[entity]
    /// pub struct Folder { #[key(auto)] pub id: i64, pub parent_id: Option<i64>, pub name: String }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Folder::schema()]).await?;
    /// let mut s = db.session();
    /// let root = s.add(Folder { id: 0, parent_id: None, name: "/".into() });
    /// s.flush().await?;
    /// let etc = s.add(Folder { id: 0, parent_id: Some(root.read().id), name: "etc".into() });
    /// s.flush().await?;
    /// s.add(Folder { id: 0, parent_id: Some(etc.read().id), name: "ssh".into() });
    /// s.add(Folder { id: 0, parent_id: None, name: "elsewhere".into() });
    /// s.flush().await?;
    /// let below_etc = Subquery::descendants(Folder::ID, Folder::PARENT_ID, Folder::NAME.eq("etc"));
    /// let found = s.query::<Folder>().filter(Folder::ID.in_subquery(below_etc)).order_by(Folder::ID.asc()).all().await?;
    /// assert_eq!(found.iter().map(|f| f.read().name.clone()).collect::<Vec<_>>(), ["etc", "ssh"]);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn descendants<P>(key: Column<S, T>, parent: Column<S, P>, start: Filter<S>) -> Self
    where
        T: Comparable,
        P: Comparable<Base = T::Base>,
    {
        Self::walk(key, parent, start, true)
    }

    /// The keys of the rows `start` picks and of every row above them (their
    /// parent, its parent, .. up to the roots), as [`Subquery::descendants`].
    pub fn ancestors<P>(key: Column<S, T>, parent: Column<S, P>, start: Filter<S>) -> Self
    where
        T: Comparable,
        P: Comparable<Base = T::Base>,
    {
        Self::walk(key, parent, start, false)
    }

    fn walk<P>(key: Column<S, T>, parent: Column<S, P>, start: Filter<S>, down: bool) -> Self {
        Subquery::with(SubNode {
            table: S::meta().table,
            item: ExprNode::Column(key.name()),
            filter: Some(start.node),
            correlate: Vec::new(),
            tree: Some(Tree {
                key: key.name(),
                parent: parent.name(),
                down,
            }),
        })
    }
}

impl<S: Entity, T, O: Entity> Subquery<S, T, O> {
    /// One more correlation with the same outer entity (composite keys).
    pub fn and_correlate<A, B>(self, inner: Column<S, A>, outer: Column<O, B>) -> Self
    where
        A: Comparable,
        B: Comparable<Base = A::Base>,
    {
        self.correlated(inner.name(), outer.name())
    }
}

/// A scalar subquery as a select item: its one value per outer row. An
/// aggregate always has a row (`COUNT` is never NULL); a subquery of a
/// column that finds no row gives NULL, so select it as an `Option` column
/// (or through `MAX`).
impl<E, S, T: ColumnValue, O: Outer<E>> SelectItem<E> for Subquery<S, T, O> {
    type Out = T;
    fn expr(&self) -> ExprNode {
        ExprNode::Sub(Box::new(self.node.clone()))
    }
}

macro_rules! scalar_comparisons {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name<S, U, O: Outer<E>>(self, sub: Subquery<S, U, O>) -> Filter<E>
        where
            U: Comparable<Base = T::Base>,
        {
            Filter::from_node(Node::CmpSub(self.name(), CmpOp::$op, Box::new(sub.node)))
        }
    )*};
}

impl<E, T: Comparable> Column<E, T> {
    /// `column IN (SELECT ..)`.
    pub fn in_subquery<S, U, O: Outer<E>>(self, sub: Subquery<S, U, O>) -> Filter<E>
    where
        U: Comparable<Base = T::Base>,
    {
        Filter::from_node(Node::InSub(self.name(), Box::new(sub.node), false))
    }

    /// `column NOT IN (SELECT ..)`. As in SQL, a NULL among the subquery's
    /// values makes it match no row: filter them out in the subquery.
    pub fn not_in_subquery<S, U, O: Outer<E>>(self, sub: Subquery<S, U, O>) -> Filter<E>
    where
        U: Comparable<Base = T::Base>,
    {
        Filter::from_node(Node::InSub(self.name(), Box::new(sub.node), true))
    }

    scalar_comparisons! {
        /// `column = (SELECT ..)`, a scalar subquery (one row, one value).
        eq_subquery => Eq,
        /// `column <> (SELECT ..)`.
        ne_subquery => Ne,
        /// `column < (SELECT ..)`.
        lt_subquery => Lt,
        /// `column <= (SELECT ..)`.
        le_subquery => Le,
        /// `column > (SELECT ..)`.
        gt_subquery => Gt,
        /// `column >= (SELECT ..)`.
        ge_subquery => Ge,
    }
}

impl<E> Filter<E> {
    /// `EXISTS (SELECT ..)`: true when the subquery finds a row (correlate
    /// it to ask per outer row).
    pub fn exists<S, T, O: Outer<E>>(sub: Subquery<S, T, O>) -> Filter<E> {
        Filter::from_node(Node::Exists(Box::new(sub.node), false))
    }

    /// `NOT EXISTS (SELECT ..)`.
    pub fn not_exists<S, T, O: Outer<E>>(sub: Subquery<S, T, O>) -> Filter<E> {
        Filter::from_node(Node::Exists(Box::new(sub.node), true))
    }
}
