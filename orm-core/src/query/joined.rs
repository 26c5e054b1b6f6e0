//! Typed selects over two or three joined entities: columns, expressions
//! and aggregates of any side into tuples, with `GROUP BY`, `HAVING`,
//! `ORDER BY` and a limit (SQLAlchemy's `select(Account.bid,
//! func.sum(History.delta)).join(Account, History.aid == Account.aid)
//! .group_by(Account.bid)`).
//!
//! ```
//! # use orm_core::prelude::*;
//! # use orm_core::CountRows;
//! #[entity]
//! pub struct Shop { #[key] pub id: i64, pub city: String }
//! #[entity]
//! pub struct Sale { #[key(auto)] pub id: i64, pub shop_id: i64, pub amount: i64 }
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let db = Database::connect("sqlite::memory:").await?;
//! # db.create_all(&[Shop::schema(), Sale::schema()]).await?;
//! let mut s = db.session();
//! s.add(Shop { id: 1, city: "Oslo".into() });
//! s.add(Shop { id: 2, city: "Rome".into() });
//! for (shop_id, amount) in [(1, 10), (1, 5), (2, 7)] {
//!     s.add(Sale { id: 0, shop_id, amount });
//! }
//! let per_city: Vec<(String, i64, Option<i64>)> = s
//!     .query::<Sale>()
//!     .join_on(Sale::SHOP_ID, Shop::ID)
//!     .select((Shop::CITY, CountRows, Sale::AMOUNT.sum()))
//!     .group_by(Shop::CITY)
//!     .order_by_asc(Shop::CITY)
//!     .all()
//!     .await?;
//! assert_eq!(per_city, [("Oslo".to_string(), 2, Some(15)), ("Rome".to_string(), 1, Some(7))]);
//! # Ok::<(), orm_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! The decisions:
//!
//! - **Which side an item reads is inferred from its type.** An item is a
//!   [`SelectItem`] of one entity; [`JoinItem`] is implemented for the
//!   items of the query's entity with the marker [`FromLeft`] and for those
//!   of the joined entity with [`FromRight`], and the compiler picks the one
//!   that fits. A column of a third entity fits neither and does not
//!   compile; nor does an ON clause between columns of different types, and
//!   there is no join without an ON clause (explicit, or a declared
//!   relationship's). A self-join is ambiguous and refused the same way.
//!   `COUNT(*)` of the joined rows is [`CountRows`] (an `Agg::count()`
//!   could be either side's).
//! - **Each side is a derived table with its own filter**: `FROM (SELECT ..
//!   FROM sales WHERE ..) l JOIN (SELECT .. FROM shops WHERE ..) r ON
//!   l.shop_id = r.id`. The filters stay the typed filters of one entity
//!   (unqualified names cannot clash with the other side's), and every
//!   backend's planner merges such derived tables into the join. The
//!   query's own limit, offset and order apply to the joined rows.
//! - **A third entity** joins on a column of either earlier one
//!   ([`Join::then_join_on`]: a chain `Sale -> Shop -> Region` or a star
//!   `Sale -> Shop, Sale -> Product`). The joined side is then
//!   [`Also<B, C>`](Also), whose items carry the markers [`FromSecond`] and
//!   [`FromThird`] (aliases `r` and `s`), inferred the same way; each side
//!   keeps its own derived table and filter (`filter_joined` /
//!   `filter_second`, `filter_third`). Four or more entities are not
//!   offered: the markers would grow per arity, and past three a report
//!   reads better as two steps or raw SQL mapped by name. One entity twice
//!   (an origin and a destination airport) does not compile either: its
//!   items would fit two sides (type annotations needed), and there is no
//!   `aliased(..)` yet. The third join's ON is one column pair (or a
//!   relationship's: [`Join::then_join_along`]).
//! - **A LEFT JOIN's right side may be missing**: its columns are NULL
//!   there, so read them as `Option` items ([`Column::nullable`]) or
//!   through aggregates, which already are (`COUNT(col)` counts 0).
//! - These statements go through the template cache (rendered once per
//!   shape, both sides' filters and the HAVING values bound) and
//!   return plain values: no identity map (entity pairs are
//!   [`Query::left_join`]). A scalar subquery is not a join's item.
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::model::column::{CmpOp, Column, Comparable, Direction, Filter, Node};
use crate::model::entity::Entity;
use crate::model::expr::ExprNode;
use crate::model::meta::EntityMeta;
use crate::model::relation::{Relation, RelationKind, RelationMeta};
use crate::query::Query;
use crate::query::select::{Agg, Having, Labeled, SelectItem};
use crate::row::Row;
use crate::sql::render::{self, JoinSide, JoinSpec, JoinStep};
use crate::sql::templated::{self, Parts};
use crate::value::ColumnValue;
use orm_cache::template::ShapeKey;

/// The alias of the query's own entity in a join.
const LEFT: &str = "l";
/// The alias of the joined entity.
const RIGHT: &str = "r";
/// The alias of a third entity ([`Join::then_join_on`]).
const THIRD: &str = "s";
/// Item names by position, for a counted select (a list has at most
/// eight items).
const POSITIONS: [&str; 8] = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];

/// Marks an item of the query's own entity (see [`JoinItem`]).
#[derive(Debug)]
pub enum FromLeft {}
/// Marks an item of the joined entity (see [`JoinItem`]).
#[derive(Debug)]
pub enum FromRight {}

/// A side of a join: the alias its columns are read under.
pub trait Side {
    #[doc(hidden)]
    const ALIAS: &'static str;
}

impl Side for FromLeft {
    const ALIAS: &'static str = LEFT;
}

impl Side for FromRight {
    const ALIAS: &'static str = RIGHT;
}

/// Marks an item of the first joined entity of a three-entity join
/// ([`Also`]).
#[derive(Debug)]
pub enum FromSecond {}
/// Marks an item of the third entity of a join ([`Also`]).
#[derive(Debug)]
pub enum FromThird {}

impl Side for FromSecond {
    const ALIAS: &'static str = RIGHT;
}

impl Side for FromThird {
    const ALIAS: &'static str = THIRD;
}

/// What a query's entity is joined with: one entity, or two ([`Also`]).
pub trait Joined: 'static {
    /// The joined entities' tables and aliases, in join order.
    #[doc(hidden)]
    fn sides() -> Vec<(&'static EntityMeta, &'static str)>;
}

impl<E: Entity> Joined for E {
    fn sides() -> Vec<(&'static EntityMeta, &'static str)> {
        vec![(E::meta(), RIGHT)]
    }
}

/// Two entities joined to a query's own: `B` first, then `C`
/// ([`Join::then_join_on`]). Items of `B` and `C` are read as
/// [`FromSecond`] and [`FromThird`], inferred like a two-entity join's.
pub struct Also<B, C>(PhantomData<fn() -> (B, C)>);

impl<B: Entity, C: Entity> Joined for Also<B, C> {
    fn sides() -> Vec<(&'static EntityMeta, &'static str)> {
        vec![(B::meta(), RIGHT), (C::meta(), THIRD)]
    }
}

/// A column the next entity of a join is joined on: of the query's
/// entity or of the one joined before (`S` inferred).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a column of `{L}` or `{R}`, the entities this join extends",
    label = "not a column of `{L}` or `{R}`"
)]
pub trait OnColumn<L, R, S> {
    /// The column's Rust type.
    type Of;
    #[doc(hidden)]
    fn side_column(&self) -> (&'static str, &'static str);
}

impl<L, R, A> OnColumn<L, R, FromLeft> for Column<L, A> {
    type Of = A;
    fn side_column(&self) -> (&'static str, &'static str) {
        (LEFT, self.name())
    }
}

impl<L, R, A> OnColumn<L, R, FromRight> for Column<R, A> {
    type Of = A;
    fn side_column(&self) -> (&'static str, &'static str) {
        (RIGHT, self.name())
    }
}

/// An item of a select over `L` joined with `R`: a [`SelectItem`] of
/// either, `S` saying which (inferred, never written).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a column, expression or aggregate of `{L}` or `{R}`, the entities of this join",
    label = "not an item of `{L}` or `{R}`"
)]
pub trait JoinItem<L, R, S> {
    /// The Rust type of its values.
    type Out: ColumnValue;
    #[doc(hidden)]
    fn side_expr(&self) -> (&'static str, ExprNode);
    /// Its `AS` name, if it was given one ([`SelectItem::label`]).
    #[doc(hidden)]
    fn side_label(&self) -> Option<&'static str> {
        None
    }
}

/// Each side's items and HAVING terms: a [`SelectItem`] (a [`Having`])
/// of that side's entity, read under the side's alias.
macro_rules! side_items {
    ($(impl<$($g:ident),+> $entity:ident in $joined:ty => $marker:ident;)*) => {$(
        impl<$($g,)+ I: SelectItem<$entity>> JoinItem<L, $joined, $marker> for I {
            type Out = I::Out;
            fn side_expr(&self) -> (&'static str, ExprNode) {
                (<$marker as Side>::ALIAS, self.expr())
            }
            fn side_label(&self) -> Option<&'static str> {
                self.label_of()
            }
        }

        impl<$($g),+> JoinHaving<L, $joined, $marker> for Having<$entity> {
            fn side_term(self) -> (&'static str, Having<()>) {
                (<$marker as Side>::ALIAS, self.erase())
            }
        }
    )*};
}

side_items! {
    impl<L, R> L in R => FromLeft;
    impl<L, R> R in R => FromRight;
    impl<L, B, C> B in Also<B, C> => FromSecond;
    impl<L, B, C> C in Also<B, C> => FromThird;
}

/// Marks an item of neither side in particular ([`CountRows`]).
#[derive(Debug)]
pub enum FromBoth {}

/// `COUNT(*)` of a join's rows (of each group). [`Agg::count`] belongs to
/// one entity, and in a join the compiler cannot tell which one is meant.
///
/// ```
/// # use orm_core::prelude::*;
/// # use orm_core::CountRows;
/// # #[entity] pub struct Shop { #[key] pub id: i64, pub city: String }
/// # #[entity] pub struct Sale { #[key(auto)] pub id: i64, pub shop_id: i64 }
/// # async fn f(s: &mut Session) -> Result<()> {
/// let busy: Vec<(String, i64)> = s
///     .query::<Sale>()
///     .join_on(Sale::SHOP_ID, Shop::ID)
///     .select((Shop::CITY, CountRows))
///     .group_by(Shop::CITY)
///     .having(CountRows.gt(100))
///     .all()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CountRows;

impl<L, R> JoinItem<L, R, FromBoth> for CountRows {
    type Out = i64;
    fn side_expr(&self) -> (&'static str, ExprNode) {
        (
            LEFT,
            ExprNode::Agg(crate::model::expr::AggFunc::CountAll, ""),
        )
    }
}

impl<L, R> JoinItem<L, R, FromBoth> for Labeled<CountRows> {
    type Out = i64;
    fn side_expr(&self) -> (&'static str, ExprNode) {
        JoinItem::<L, R, FromBoth>::side_expr(&self.item)
    }
    fn side_label(&self) -> Option<&'static str> {
        Some(self.name)
    }
}

impl CountRows {
    /// `COUNT(*) AS name` ([`SelectItem::label`]).
    pub fn label(self, name: &'static str) -> Labeled<CountRows> {
        Labeled { item: self, name }
    }

    /// `COUNT(*) = n`, for `having`.
    pub fn eq(self, n: i64) -> Having<CountRows> {
        Agg::count().eq(n)
    }
    /// `COUNT(*) > n`.
    pub fn gt(self, n: i64) -> Having<CountRows> {
        Agg::count().gt(n)
    }
    /// `COUNT(*) >= n`.
    pub fn ge(self, n: i64) -> Having<CountRows> {
        Agg::count().ge(n)
    }
    /// `COUNT(*) < n`.
    pub fn lt(self, n: i64) -> Having<CountRows> {
        Agg::count().lt(n)
    }
    /// `COUNT(*) <= n`.
    pub fn le(self, n: i64) -> Having<CountRows> {
        Agg::count().le(n)
    }
}

impl<L, R> JoinHaving<L, R, FromBoth> for Having<CountRows> {
    fn side_term(self) -> (&'static str, Having<()>) {
        (LEFT, self.erase())
    }
}

/// A `HAVING` term of any side's aggregate (`S` inferred).
pub trait JoinHaving<L, R, S> {
    #[doc(hidden)]
    fn side_term(self) -> (&'static str, Having<()>);
}

/// The select list of a join: a tuple of up to eight [`JoinItem`]s.
pub trait JoinList<L, R, S> {
    /// The tuple of their Rust types.
    type Out;
    #[doc(hidden)]
    fn side_exprs(&self) -> Vec<(&'static str, ExprNode)>;
    #[doc(hidden)]
    fn side_labels(&self) -> Vec<Option<&'static str>>;
    #[doc(hidden)]
    fn decode(row: &Row) -> Result<Self::Out>;
}

macro_rules! join_list {
    ($($name:ident $side:ident $i:tt),+) => {
        impl<L, R, $($side,)+ $($name: JoinItem<L, R, $side>),+> JoinList<L, R, ($($side,)+)>
            for ($($name,)+)
        {
            type Out = ($($name::Out,)+);
            fn side_exprs(&self) -> Vec<(&'static str, ExprNode)> {
                vec![$(self.$i.side_expr()),+]
            }
            fn side_labels(&self) -> Vec<Option<&'static str>> {
                vec![$(self.$i.side_label()),+]
            }
            fn decode(row: &Row) -> Result<Self::Out> {
                Ok(($(row.get_at::<$name::Out>($i)?,)+))
            }
        }
    };
}

join_list!(A SA 0);
join_list!(A SA 0, B SB 1);
join_list!(A SA 0, B SB 1, C SC 2);
join_list!(A SA 0, B SB 1, C SC 2, D SD 3);
join_list!(A SA 0, B SB 1, C SC 2, D SD 3, F SF 4);
join_list!(A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, G SG 5);
join_list!(A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, G SG 5, H SH 6);
join_list!(A SA 0, B SB 1, C SC 2, D SD 3, F SF 4, G SG 5, H SH 6, I SI 7);

/// The query's entity `L` joined with `R` (an entity, or two:
/// [`Also`]) on ON clauses, before its select list is given
/// ([`Join::select`]).
pub struct Join<'s, L: Entity, R: Joined> {
    query: Query<'s, L>,
    /// Per joined entity: LEFT or INNER, and its ON pairs (an earlier
    /// side's alias and column, its own column).
    steps: Vec<(bool, Vec<OnPair>)>,
    /// Per joined entity, its own filter.
    filters: Vec<Option<Node>>,
    _marker: PhantomData<fn() -> R>,
}

/// One pair of an ON clause: an earlier side's alias and column, the
/// joined side's column.
type OnPair = (&'static str, &'static str, &'static str);

/// The ON pair (owner's column, target's column) of a has-many (the
/// owner's key, the target's foreign key) or belongs-to (the owner's
/// foreign key, the target's key) over single-column keys.
fn relation_on(
    rel: &'static RelationMeta,
    owner: &'static EntityMeta,
    target: &'static EntityMeta,
) -> Option<(&'static str, &'static str)> {
    let key = |m: &'static EntityMeta| {
        let mut keys = m.key_columns();
        match (keys.next(), keys.next()) {
            (Some((_, k)), None) => Some(k.name),
            _ => None,
        }
    };
    match (rel.kind, rel.fk_column()) {
        (RelationKind::HasMany, Ok(fk)) => key(owner).map(|k| (k, target.columns[fk].name)),
        (RelationKind::BelongsTo, Ok(fk)) => key(target).map(|k| (owner.columns[fk].name, k)),
        _ => None,
    }
}

/// Where a relationship joins the next entity: the earlier side's alias,
/// the ON pair if the relationship has one, the relationship.
type SideOn = (
    &'static str,
    Option<(&'static str, &'static str)>,
    &'static RelationMeta,
);

/// The usage error of a typed join along a relationship it cannot follow.
fn along_error<L: Entity>(rel: &'static RelationMeta) -> Error {
    Error::Usage {
        entity: Some(L::meta().name),
        relation: Some(rel.describe()),
        message: "a typed join follows a belongs-to or has-many relationship \
                  over single-column keys (join a many-to-many's association \
                  entity with join_on)"
            .into(),
    }
}

/// A relationship the next entity of a join is joined along: of the
/// query's entity or of the one joined before (`S` inferred).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a relationship of `{L}` or `{R}`, the entities this join extends",
    label = "not a relationship of `{L}` or `{R}`"
)]
pub trait OnRelation<L, R, C, S> {
    #[doc(hidden)]
    fn side_on(&self) -> SideOn;
}

impl<L: Entity, R, C: Entity> OnRelation<L, R, C, FromLeft> for Relation<L, C> {
    fn side_on(&self) -> SideOn {
        (
            LEFT,
            relation_on(self.meta(), L::meta(), C::meta()),
            self.meta(),
        )
    }
}

impl<L, R: Entity, C: Entity> OnRelation<L, R, C, FromRight> for Relation<R, C> {
    fn side_on(&self) -> SideOn {
        (
            RIGHT,
            relation_on(self.meta(), R::meta(), C::meta()),
            self.meta(),
        )
    }
}

/// `filter` ANDed onto `slot`.
fn and_into(slot: &mut Option<Node>, filter: Node) {
    *slot = Some(match slot.take() {
        None => filter,
        Some(Node::And(mut all)) => {
            all.push(filter);
            Node::And(all)
        }
        Some(first) => Node::And(vec![first, filter]),
    });
}

impl<'s, L: Entity> Query<'s, L> {
    /// `INNER JOIN R ON left = right`, for a typed select of both
    /// entities' columns (the two columns' types must match; a nullable
    /// column matches its plain type).
    pub fn join_on<R: Entity, A, B>(self, left: Column<L, A>, right: Column<R, B>) -> Join<'s, L, R>
    where
        A: Comparable,
        B: Comparable<Base = A::Base>,
    {
        Join::new(self, false, vec![(left.name(), right.name())])
    }

    /// `LEFT JOIN R ON left = right`: every row of the query's entity,
    /// the joined entity's columns NULL where none matches.
    pub fn left_join_on<R: Entity, A, B>(
        self,
        left: Column<L, A>,
        right: Column<R, B>,
    ) -> Join<'s, L, R>
    where
        A: Comparable,
        B: Comparable<Base = A::Base>,
    {
        Join::new(self, true, vec![(left.name(), right.name())])
    }

    /// `INNER JOIN` along a declared relationship (its ON clause: a
    /// has-many's foreign key, a belongs-to's key), for a typed select.
    pub fn join_along<R: Entity>(self, relation: Relation<L, R>) -> Join<'s, L, R> {
        Join::along(self, relation, false)
    }

    /// `LEFT JOIN` along a declared relationship, for a typed select.
    pub fn left_join_along<R: Entity>(self, relation: Relation<L, R>) -> Join<'s, L, R> {
        Join::along(self, relation, true)
    }
}

impl<'s, L: Entity, R: Entity> Join<'s, L, R> {
    fn new(query: Query<'s, L>, outer: bool, on: Vec<(&'static str, &'static str)>) -> Self {
        Join {
            query,
            steps: vec![(outer, on.into_iter().map(|(a, b)| (LEFT, a, b)).collect())],
            filters: vec![None],
            _marker: PhantomData,
        }
    }

    fn along(mut query: Query<'s, L>, relation: Relation<L, R>, outer: bool) -> Self {
        match relation_on(relation.meta(), L::meta(), R::meta()) {
            Some(on) => Join::new(query, outer, vec![on]),
            None => {
                // Reported when the select runs, like a query's other usage errors.
                query
                    .load_error
                    .get_or_insert(along_error::<L>(relation.meta()));
                Join::new(query, outer, Vec::new())
            }
        }
    }

    /// `AND left = right` in the ON clause (composite keys).
    pub fn on<A, B>(mut self, left: Column<L, A>, right: Column<R, B>) -> Self
    where
        A: Comparable,
        B: Comparable<Base = A::Base>,
    {
        self.steps[0].1.push((LEFT, left.name(), right.name()));
        self
    }

    /// A condition on the joined entity (the query's own `filter` is on
    /// its entity); several are combined with AND. In a LEFT JOIN it picks
    /// which joined rows match, not which rows of the left side appear.
    pub fn filter_joined(mut self, filter: Filter<R>) -> Self {
        and_into(&mut self.filters[0], filter.node);
        self
    }

    /// `INNER JOIN C ON left = right`, a third entity joined on a column
    /// of the query's entity or of `R` (SQLAlchemy's second `.join(..)`):
    /// a typed select then reads items of all three.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// # use orm_core::CountRows;
    /// #[entity]
    /// pub struct Shop { #[key] pub id: i64, pub city: String }
    /// #[entity]
    /// pub struct Product { #[key] pub id: i64, pub name: String }
    /// #[entity]
    /// pub struct Sale { #[key(auto)] pub id: i64, pub shop_id: i64, pub product_id: i64, pub amount: i64 }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Shop::schema(), Product::schema(), Sale::schema()]).await?;
    /// let mut s = db.session();
    /// s.add(Shop { id: 1, city: "Oslo".into() });
    /// s.add(Product { id: 7, name: "tea".into() });
    /// s.add(Sale { id: 0, shop_id: 1, product_id: 7, amount: 3 });
    /// let rows: Vec<(String, String, Option<i64>)> = s
    ///     .query::<Sale>()
    ///     .join_on(Sale::SHOP_ID, Shop::ID)
    ///     .then_join_on(Sale::PRODUCT_ID, Product::ID)
    ///     .select((Shop::CITY, Product::NAME, Sale::AMOUNT.sum()))
    ///     .group_by(Shop::CITY)
    ///     .group_by(Product::NAME)
    ///     .all()
    ///     .await?;
    /// assert_eq!(rows, [("Oslo".to_string(), "tea".to_string(), Some(3))]);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn then_join_on<C: Entity, X, O, B>(
        self,
        left: O,
        right: Column<C, B>,
    ) -> Join<'s, L, Also<R, C>>
    where
        O: OnColumn<L, R, X>,
        O::Of: Comparable,
        B: Comparable<Base = <O::Of as Comparable>::Base>,
    {
        let (alias, column) = left.side_column();
        self.then(false, vec![(alias, column, right.name())])
    }

    /// `LEFT JOIN C ON left = right`: [`Join::then_join_on`], every row of
    /// the join so far kept, `C`'s columns NULL where none matches.
    pub fn then_left_join_on<C: Entity, X, O, B>(
        self,
        left: O,
        right: Column<C, B>,
    ) -> Join<'s, L, Also<R, C>>
    where
        O: OnColumn<L, R, X>,
        O::Of: Comparable,
        B: Comparable<Base = <O::Of as Comparable>::Base>,
    {
        let (alias, column) = left.side_column();
        self.then(true, vec![(alias, column, right.name())])
    }

    /// `INNER JOIN C` along a declared relationship of the query's entity
    /// or of `R` (its ON clause, as [`Query::join_along`]'s):
    /// `s.query::<Sale>().join_along(Sale::SHOP).then_join_along(Shop::REGION)`.
    pub fn then_join_along<C: Entity, X>(
        self,
        relation: impl OnRelation<L, R, C, X>,
    ) -> Join<'s, L, Also<R, C>> {
        self.then_along(false, relation.side_on())
    }

    /// `LEFT JOIN C` along a declared relationship of the query's entity
    /// or of `R`.
    pub fn then_left_join_along<C: Entity, X>(
        self,
        relation: impl OnRelation<L, R, C, X>,
    ) -> Join<'s, L, Also<R, C>> {
        self.then_along(true, relation.side_on())
    }

    fn then_along<C: Entity>(
        mut self,
        outer: bool,
        (alias, on, rel): SideOn,
    ) -> Join<'s, L, Also<R, C>> {
        let on = match on {
            Some((column, right)) => vec![(alias, column, right)],
            None => {
                // Reported when the select runs, like `join_along`'s.
                self.query.load_error.get_or_insert(along_error::<L>(rel));
                Vec::new()
            }
        };
        self.then(outer, on)
    }

    fn then<C: Entity>(self, outer: bool, on: Vec<OnPair>) -> Join<'s, L, Also<R, C>> {
        let Join {
            query,
            mut steps,
            mut filters,
            ..
        } = self;
        steps.push((outer, on));
        filters.push(None);
        Join {
            query,
            steps,
            filters,
            _marker: PhantomData,
        }
    }
}

impl<'s, L: Entity, B: Entity, C: Entity> Join<'s, L, Also<B, C>> {
    /// A condition on the second entity, `B` (see [`Join::filter_joined`]).
    pub fn filter_second(mut self, filter: Filter<B>) -> Self {
        and_into(&mut self.filters[0], filter.node);
        self
    }

    /// A condition on the third entity, `C`; in a LEFT JOIN it picks
    /// which of its rows match.
    pub fn filter_third(mut self, filter: Filter<C>) -> Self {
        and_into(&mut self.filters[1], filter.node);
        self
    }
}

impl<'s, L: Entity, R: Joined> Join<'s, L, R> {
    /// The select list: columns, expressions and aggregates of any side.
    pub fn select<S, T: JoinList<L, R, S>>(self, list: T) -> JoinSelect<'s, L, R, T, S> {
        JoinSelect {
            join: self,
            list,
            group_by: Vec::new(),
            having: Vec::new(),
            having_items: Vec::new(),
            distinct: false,
            order: Vec::new(),
            entity: false,
            positional: false,
            _marker: PhantomData,
        }
    }
}

/// A typed select over a join being set up ([`Join::select`]).
pub struct JoinSelect<'s, L: Entity, R: Joined, T, S> {
    join: Join<'s, L, R>,
    list: T,
    group_by: Vec<(&'static str, ExprNode)>,
    having: Vec<(&'static str, Having<()>)>,
    having_items: Vec<render::HavingItems>,
    distinct: bool,
    order: Vec<(&'static str, ExprNode, Direction)>,
    /// The left entity's columns come first ([`JoinSelect::left_entities`]).
    entity: bool,
    /// Every item named by its position (`c0`, `c1` ..): counted in a
    /// derived table, which MySQL refuses with two columns of one name
    /// (both sides' `id`).
    positional: bool,
    _marker: PhantomData<fn() -> S>,
}

impl<'s, L: Entity, R: Joined, T: JoinList<L, R, S>, S> JoinSelect<'s, L, R, T, S> {
    /// `GROUP BY` a column or expression of any side (repeatable).
    pub fn group_by<X>(mut self, key: impl JoinItem<L, R, X>) -> Self {
        self.group_by.push(key.side_expr());
        self
    }

    /// `HAVING aggregate op value`, an aggregate of any side (several
    /// are combined with AND).
    pub fn having<X>(mut self, having: impl JoinHaving<L, R, X>) -> Self {
        self.having.push(having.side_term());
        self
    }

    /// `HAVING a op b` between two items of any sides, e.g. an
    /// aggregate of one entity and a grouped column of the other
    /// (`History::DELTA.sum()`, `CmpOp::Ne`, `Account::ABALANCE`); their
    /// types must match (a nullable one matches its plain type).
    pub fn having_cmp<X, Y, A, B>(mut self, a: A, op: CmpOp, b: B) -> Self
    where
        A: JoinItem<L, R, X>,
        B: JoinItem<L, R, Y>,
        A::Out: Comparable,
        B::Out: Comparable<Base = <A::Out as Comparable>::Base>,
    {
        self.having_items.push((a.side_expr(), op, b.side_expr()));
        self
    }

    /// `SELECT DISTINCT`.
    pub fn distinct(mut self) -> Self {
        self.distinct = true;
        self
    }

    /// `GROUP BY` every column of the left entity: one group per left
    /// row, for aggregates of the joined rows beside it
    /// ([`JoinSelect::left_entities`]: each customer with its order count).
    /// Every column, not only the key, because the planners see no key of
    /// a derived table to infer the others from.
    pub fn group_by_left(mut self) -> Self {
        self.group_by.extend(
            L::meta()
                .columns
                .iter()
                .map(|c| (LEFT, ExprNode::Column(c.name))),
        );
        self
    }

    /// `ORDER BY item ASC`, an item of any side (after the query's own
    /// `order_by` columns).
    pub fn order_by_asc<X>(mut self, item: impl JoinItem<L, R, X>) -> Self {
        let (alias, e) = item.side_expr();
        self.order.push((alias, e, Direction::Asc));
        self
    }

    /// `ORDER BY item DESC`.
    pub fn order_by_desc<X>(mut self, item: impl JoinItem<L, R, X>) -> Self {
        let (alias, e) = item.side_expr();
        self.order.push((alias, e, Direction::Desc));
        self
    }

    /// The statement it runs, built fresh with sea-query (running it takes
    /// the same text from the template cache, see [`JoinSelect::sql`]).
    pub fn statement(&self) -> crate::sql::Statement {
        self.render(&self.parts())
    }

    /// The statement it runs, through the template cache (unless the query
    /// was made [`Query::without_template`]): rendered once per shape, its
    /// values bound each time.
    pub fn sql(&self) -> Result<crate::sql::Statement> {
        let q = &self.join.query;
        templated::typed(
            q.session.engine().template_env(),
            self.shape(),
            &self.parts(),
            &|parts| self.render(parts),
            L::meta().name,
            q.use_template,
        )
    }

    /// Its values, apart from its text: each side's filter, the HAVING
    /// values, LIMIT and OFFSET.
    fn parts(&self) -> Parts<'_> {
        let q = &self.join.query;
        let mut filters = vec![q.filter_node()];
        filters.extend(self.join.filters.iter().map(Option::as_ref));
        Parts {
            filters,
            subs: Vec::new(),
            values: self.having.iter().map(|(_, h)| h.value()).collect(),
            limit: q.limit,
            offset: q.offset,
        }
    }

    /// Everything of its text but the filters' and the values' places.
    fn shape(&self) -> ShapeKey {
        let q = &self.join.query;
        let mut key = ShapeKey::new();
        key.tag(2)
            .name(L::meta().table)
            .tag(u8::from(self.entity))
            .tag(u8::from(self.positional));
        for ((meta, _), (outer, on)) in R::sides().iter().zip(&self.join.steps) {
            key.tag(7)
                .name(meta.table)
                .tag(u8::from(*outer))
                .number(on.len() as u64);
            for (alias, a, b) in on {
                key.name(alias).name(a).name(b);
            }
        }
        let side = |key: &mut ShapeKey, tag: u8, (alias, e): &(&'static str, ExprNode)| {
            templated::expr_shape(e, key.tag(tag).name(alias));
        };
        for item in self.list.side_exprs() {
            side(&mut key, 1, &item);
        }
        for label in self.list.side_labels() {
            match label {
                Some(l) => drop(key.tag(1).text(l)),
                None => drop(key.tag(0)),
            }
        }
        for g in &self.group_by {
            side(&mut key, 2, g);
        }
        for (alias, h) in &self.having {
            side(&mut key, 3, &(*alias, h.expr()));
            key.tag(h.op() as u8);
        }
        for (a, op, b) in &self.having_items {
            side(&mut key, 4, a);
            side(key.tag(*op as u8), 4, b);
        }
        key.tag(u8::from(self.distinct));
        for (c, d) in &q.order {
            key.tag(5).name(c).tag(*d as u8);
        }
        for (alias, e, d) in &self.order {
            side(key.tag(*d as u8), 6, &(*alias, e.clone()));
        }
        key
    }

    /// The statement with these values (or a template's markers).
    fn render(&self, parts: &Parts<'_>) -> crate::sql::Statement {
        let q = &self.join.query;
        let columns = L::meta().columns.iter().filter(|_| self.entity);
        let mut labels = vec![None; columns.clone().count()];
        labels.extend(self.list.side_labels());
        if self.positional {
            labels = (0..labels.len())
                .map(|i| POSITIONS.get(i).copied())
                .collect();
        }
        let items: Vec<_> = columns
            .map(|c| (LEFT, ExprNode::Column(c.name)))
            .chain(self.list.side_exprs())
            .collect();
        let having: Vec<_> = self
            .having
            .iter()
            .zip(&parts.values)
            .map(|((alias, h), v)| (*alias, h.expr(), h.op(), (*v).clone()))
            .collect();
        let mut order: Vec<_> = q
            .order
            .iter()
            .map(|(c, d)| (LEFT, ExprNode::Column(c), *d))
            .collect();
        order.extend(self.order.iter().cloned());
        let mut sides = vec![JoinSide {
            meta: L::meta(),
            filter: parts.filters[0],
            alias: LEFT,
        }];
        for (i, (meta, alias)) in R::sides().into_iter().enumerate() {
            sides.push(JoinSide {
                meta,
                filter: parts.filters.get(i + 1).copied().flatten(),
                alias,
            });
        }
        let steps: Vec<JoinStep<'_>> = self
            .join
            .steps
            .iter()
            .map(|(outer, on)| JoinStep { outer: *outer, on })
            .collect();
        render::select_joined(
            q.session.dialect(),
            &JoinSpec {
                sides: &sides,
                steps: &steps,
                items: &items,
                labels: &labels,
                group_by: &self.group_by,
                having: &having,
                having_items: &self.having_items,
                distinct: self.distinct,
                order: &order,
                limit: parts.limit,
                offset: parts.offset,
            },
        )
    }

    /// Every row, as a tuple (after an autoflush; in the session's
    /// transaction when one is open).
    pub async fn all(mut self) -> Result<Vec<T::Out>> {
        let stmt = self.checked_statement()?;
        let session = self.join.query.session;
        session.autoflush().await?;
        let set = session.fetch(&stmt).await?;
        set.into_rows().iter().map(T::decode).collect()
    }

    /// Every row, each read into `R` by column name ([`crate::FromRow`]):
    /// labelled items by their label, plain columns by their own name. Two
    /// columns of one name (both sides' `id`) are an error for a field
    /// reading that name: label one of them.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// # use orm_core::SelectItem;
    /// # #[entity] pub struct Shop { #[key] pub id: i64, pub city: String }
    /// # #[entity] pub struct Sale { #[key(auto)] pub id: i64, pub shop_id: i64, pub amount: i64 }
    /// #[derive(FromRow)]
    /// struct CitySales { city: String, sold: Option<i64> }
    /// # async fn f(s: &mut Session) -> Result<()> {
    /// let per_city: Vec<CitySales> = s
    ///     .query::<Sale>()
    ///     .join_on(Sale::SHOP_ID, Shop::ID)
    ///     .select((Shop::CITY, Sale::AMOUNT.sum().label("sold")))
    ///     .group_by(Shop::CITY)
    ///     .all_as()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn all_as<X: crate::row::FromRow>(self) -> Result<Vec<X>> {
        self.rows().await?.iter().map(X::from_row).collect()
    }

    /// Each row's left entity, through the identity map, with the list's
    /// values: SQLAlchemy's `session.query(Customer, func.count(Order.id))
    /// .join(..).group_by(Customer.id)`. With [`JoinSelect::group_by_left`]
    /// one row per left entity and aggregates of its joined rows; without,
    /// one per joined row (an entity joined twice is one handle twice).
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// # use orm_core::CountRows;
    /// # #[entity] pub struct Shop { #[key] pub id: i64, pub city: String }
    /// # #[entity] pub struct Sale { #[key(auto)] pub id: i64, pub shop_id: i64, pub amount: i64 }
    /// # async fn f(s: &mut Session) -> Result<()> {
    /// // Every shop, with how many sales it made and their total.
    /// let shops: Vec<(Handle<Shop>, (i64, Option<i64>))> = s
    ///     .query::<Shop>()
    ///     .left_join_on(Shop::ID, Sale::SHOP_ID)
    ///     .select((Sale::ID.count(), Sale::AMOUNT.sum()))
    ///     .group_by_left()
    ///     .left_entities()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn left_entities(mut self) -> Result<Vec<(crate::session::Handle<L>, T::Out)>> {
        self.entity = true;
        let stmt = self.checked_statement()?;
        let session = self.join.query.session;
        session.autoflush().await?;
        let set = session.fetch(&stmt).await?;
        crate::query::select::with_entities::<L, _>(session, set, T::decode)
    }

    /// Every row as a plain [`Row`], readable by label or position.
    pub async fn rows(mut self) -> Result<Vec<Row>> {
        let stmt = self.checked_statement()?;
        let session = self.join.query.session;
        session.autoflush().await?;
        Ok(session.fetch(&stmt).await?.into_rows())
    }

    /// The first row read into `R` by column name, if any.
    pub async fn first_as<X: crate::row::FromRow>(mut self) -> Result<Option<X>> {
        self.join.query.limit = Some(1);
        self.rows().await?.first().map(X::from_row).transpose()
    }

    /// This select as one item of a concurrent batch ([`crate::Database::
    /// concurrently`]): plain rows, their columns in the list's order
    /// (`row.get_at::<T>(i)`), in autocommit on a pooled connection.
    pub fn batched(mut self) -> Result<crate::query::batch::BatchQuery> {
        let stmt = self.checked_statement()?;
        Ok(Self::batch_item(stmt))
    }

    /// How many rows this select returns, counted by the database
    /// (`SELECT COUNT(*) FROM (..) t`: the groups of a grouped select).
    pub async fn count(mut self) -> Result<i64> {
        self.positional = true;
        let stmt = render::count_of(&self.checked_statement()?);
        let session = self.join.query.session;
        session.autoflush().await?;
        crate::query::select::count_in(session.fetch(&stmt).await?)
    }

    /// [`JoinSelect::count`] as one item of a concurrent batch: one row,
    /// the count at position 0.
    pub fn count_batched(mut self) -> Result<crate::query::batch::BatchQuery> {
        self.positional = true;
        let stmt = render::count_of(&self.checked_statement()?);
        Ok(Self::batch_item(stmt))
    }

    fn batch_item(stmt: crate::sql::Statement) -> crate::query::batch::BatchQuery {
        let mut tables = vec![L::meta().table.into()];
        tables.extend(R::sides().into_iter().map(|(m, _)| m.table.into()));
        crate::query::batch::BatchQuery::rows(crate::runner::Prepared::raw(stmt, tables), None)
    }

    /// The usage and value checks, then the statement.
    fn checked_statement(&mut self) -> Result<crate::sql::Statement> {
        let q = &mut self.join.query;
        if let Some(e) = q.load_error.take() {
            return Err(e);
        }
        let usage = |message: &str| Error::Usage {
            entity: Some(L::meta().name),
            relation: None,
            message: message.into(),
        };
        if !q.loads.is_empty() || q.lock.is_some() {
            return Err(usage("a typed join takes no load(..) or lock"));
        }
        let items = self.list.side_exprs();
        let exprs = items.iter().chain(&self.group_by).map(|(_, e)| e);
        if exprs
            .chain(self.order.iter().map(|(_, e, _)| e))
            .any(|e| matches!(e, ExprNode::Sub(_)))
        {
            return Err(usage("a scalar subquery is not an item of a typed join"));
        }
        q.session.check_usable()?;
        q.check_values(q.filter_node())?;
        for ((meta, _), node) in R::sides().iter().zip(&self.join.filters) {
            if let Some(node) = node {
                node.check_for(meta.name, q.session.dialect())?;
            }
        }
        self.sql()
    }

    /// The first row, if any.
    pub async fn first(mut self) -> Result<Option<T::Out>> {
        self.join.query.limit = Some(1);
        Ok(self.all().await?.pop())
    }
}
