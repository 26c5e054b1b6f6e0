//! Typed selects of columns and aggregates: `COUNT`, `SUM`, `AVG`, `MIN`,
//! `MAX`, with `GROUP BY` and `HAVING`, into tuples of Rust values
//! (SQLAlchemy's `select(User.age, func.count()).group_by(User.age)`).
//!
//! ```
//! # use orm_core::prelude::*;
//! # use orm_core::Agg;
//! #[entity]
//! pub struct Order { #[key(auto)] pub id: i64, pub shop: String, pub total: i64 }
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let db = Database::connect("sqlite::memory:").await?;
//! # db.create_all(&[Order::schema()]).await?;
//! let mut s = db.session();
//! for (shop, total) in [("a", 10), ("a", 30), ("b", 5)] {
//!     s.add(Order { id: 0, shop: shop.into(), total });
//! }
//! s.flush().await?;
//! let per_shop: Vec<(String, i64, Option<i64>, Option<f64>)> = s
//!     .query::<Order>()
//!     .order_by(Order::SHOP.asc())
//!     .select((Order::SHOP, Agg::count(), Order::TOTAL.sum(), Order::TOTAL.avg()))
//!     .group_by(Order::SHOP)
//!     .having(Agg::<Order, i64>::count().gt(1))
//!     .all()
//!     .await?;
//! assert_eq!(per_shop, [("a".to_string(), 2, Some(40), Some(20.0))]);
//! # Ok::<(), orm_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! The decisions: each aggregate's SQL type is fixed per backend so that
//! it decodes to one Rust type everywhere: `COUNT` is `i64`; `SUM` of
//! integers is `Option<i64>` (PostgreSQL's `numeric` and MySQL's `DECIMAL`
//! sums are cast to a 64-bit integer) and of floats `Option<f64>`; `AVG` is
//! `Option<f64>` (PostgreSQL casts to `double precision`, MySQL adds `0e0`);
//! `MIN` / `MAX` have the column's type, as `Option` (no rows, no value).
//! These selects go through the template cache (`sql::templated::typed`:
//! the list, labels, grouping and order are the shape; filter, HAVING,
//! subquery, LIMIT and OFFSET values are bound), so one built in a loop is
//! rendered once per shape; they return plain values: no identity map.
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::model::column::{CmpOp, Column, Comparable};
use crate::model::entity::Entity;
use crate::model::expr::{AggFunc as Func, ExprNode};
use crate::query::Query;
use crate::row::Row;
use crate::session::Session;
use crate::sql::render;
use crate::sql::templated::{self, Parts};
use crate::value::{ColumnValue, Value};
use orm_cache::template::ShapeKey;

/// One item of a typed select list: a column, an aggregate, an expression
/// or a scalar subquery over entity `E`.
pub trait SelectItem<E> {
    /// The Rust type of its values.
    type Out: ColumnValue;
    /// What it is, for any dialect.
    #[doc(hidden)]
    fn expr(&self) -> ExprNode;
    /// Its `AS` name, if it was given one.
    #[doc(hidden)]
    fn label_of(&self) -> Option<&'static str> {
        None
    }

    /// `item AS name` (SQLAlchemy's `.label()`): the column name the row
    /// has for it, what a [`crate::FromRow`] struct's field of that name
    /// reads ([`Select::all_as`]). A plain column is named after itself
    /// without one; an expression or aggregate has a name only by label
    /// (the backends name them differently).
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Order { #[key(auto)] pub id: i64, pub shop: String, pub total: i64 }
    ///
    /// #[derive(FromRow, Debug, PartialEq)]
    /// struct PerShop { shop: String, orders: i64, revenue: Option<i64> }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Order::schema()]).await?;
    /// let mut s = db.session();
    /// s.add(Order { id: 0, shop: "a".into(), total: 10 });
    /// s.add(Order { id: 0, shop: "a".into(), total: 30 });
    /// let rows: Vec<PerShop> = s
    ///     .query::<Order>()
    ///     .select((
    ///         Order::TOTAL.sum().label("revenue"),
    ///         Order::SHOP,
    ///         orm_core::Agg::count().label("orders"),
    ///     ))
    ///     .group_by(Order::SHOP)
    ///     .all_as()
    ///     .await?;
    /// assert_eq!(rows, [PerShop { shop: "a".into(), orders: 2, revenue: Some(40) }]);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    fn label(self, name: &'static str) -> Labeled<Self>
    where
        Self: Sized,
    {
        Labeled { item: self, name }
    }
}

/// A select item with an `AS` name ([`SelectItem::label`]).
#[derive(Debug, Clone, Copy)]
pub struct Labeled<I> {
    pub(crate) item: I,
    pub(crate) name: &'static str,
}

impl<E, I: SelectItem<E>> SelectItem<E> for Labeled<I> {
    type Out = I::Out;
    fn expr(&self) -> ExprNode {
        self.item.expr()
    }
    fn label_of(&self) -> Option<&'static str> {
        Some(self.name)
    }
}

impl<E, T: ColumnValue> SelectItem<E> for Column<E, T> {
    type Out = T;
    fn expr(&self) -> ExprNode {
        ExprNode::Column(self.name())
    }
}

/// An aggregate over a column of entity `E` whose values are `O`.
#[derive(Debug)]
pub struct Agg<E, O> {
    func: Func,
    column: &'static str,
    _marker: PhantomData<fn() -> (E, O)>,
}

impl<E, O> Clone for Agg<E, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, O> Copy for Agg<E, O> {}

impl<E> Agg<E, i64> {
    /// `COUNT(*)`: the rows (of each group).
    pub fn count() -> Agg<E, i64> {
        Agg {
            func: Func::CountAll,
            column: "",
            _marker: PhantomData,
        }
    }
}

impl<E, O: ColumnValue> Agg<E, O> {
    /// `aggregate = value`, for `having`.
    pub fn eq(self, value: O) -> Having<E> {
        self.cmp(CmpOp::Eq, value)
    }
    /// `aggregate > value`.
    pub fn gt(self, value: O) -> Having<E> {
        self.cmp(CmpOp::Gt, value)
    }
    /// `aggregate >= value`.
    pub fn ge(self, value: O) -> Having<E> {
        self.cmp(CmpOp::Ge, value)
    }
    /// `aggregate < value`.
    pub fn lt(self, value: O) -> Having<E> {
        self.cmp(CmpOp::Lt, value)
    }
    /// `aggregate <= value`.
    pub fn le(self, value: O) -> Having<E> {
        self.cmp(CmpOp::Le, value)
    }

    fn cmp(self, op: CmpOp, value: O) -> Having<E> {
        Having {
            func: self.func,
            column: self.column,
            op,
            value: value.to_value(),
            _marker: PhantomData,
        }
    }
}

/// A HAVING comparison on an aggregate (`Agg::gt` ..).
#[derive(Debug, Clone)]
pub struct Having<E> {
    func: Func,
    column: &'static str,
    op: CmpOp,
    value: Value,
    _marker: PhantomData<fn() -> E>,
}

impl<E> Having<E> {
    /// The same term, its entity forgotten (a join records the side).
    pub(crate) fn erase(self) -> Having<()> {
        Having {
            func: self.func,
            column: self.column,
            op: self.op,
            value: self.value,
            _marker: PhantomData,
        }
    }

    pub(crate) fn expr(&self) -> ExprNode {
        ExprNode::Agg(self.func, self.column)
    }

    pub(crate) fn op(&self) -> CmpOp {
        self.op
    }

    pub(crate) fn value(&self) -> &Value {
        &self.value
    }
}

impl<E, O: ColumnValue> SelectItem<E> for Agg<E, O> {
    type Out = O;
    fn expr(&self) -> ExprNode {
        ExprNode::Agg(self.func, self.column)
    }
}

/// The numeric column types `SUM` and `AVG` take, and the type of a sum.
pub trait Summable {
    /// `i64` for integers, `f64` for floats.
    type Sum: ColumnValue;
    #[doc(hidden)]
    const SUM: Func;
}

macro_rules! summable {
    ($($t:ty => $s:ty, $sum:expr);*) => {$(
        impl Summable for $t { type Sum = $s; const SUM: Func = $sum; }
        impl Summable for Option<$t> { type Sum = $s; const SUM: Func = $sum; }
    )*};
}

summable!(
    i16 => i64, Func::SumInt;
    i32 => i64, Func::SumInt;
    i64 => i64, Func::SumInt;
    u8 => i64, Func::SumInt;
    u16 => i64, Func::SumInt;
    u32 => i64, Func::SumInt;
    // A sum of u64 passes i64 quickly: exact, as a decimal (PostgreSQL's
    // numeric, MySQL's DECIMAL; SQLite's integer sum, which errors on
    // overflow rather than wrap).
    u64 => rust_decimal::Decimal, Func::SumExact;
    f32 => f64, Func::SumReal;
    f64 => f64, Func::SumReal;
    rust_decimal::Decimal => rust_decimal::Decimal, Func::SumExact
);

impl<E, T> Column<E, T> {
    /// `COUNT(column)`: the non-NULL values.
    pub fn count(self) -> Agg<E, i64> {
        Agg {
            func: Func::Count,
            column: self.name(),
            _marker: PhantomData,
        }
    }

    /// `SUM(column)`, NULL (`None`) over no rows.
    pub fn sum(self) -> Agg<E, Option<T::Sum>>
    where
        T: Summable,
    {
        Agg {
            func: T::SUM,
            column: self.name(),
            _marker: PhantomData,
        }
    }

    /// `AVG(column)` as a float, NULL (`None`) over no rows.
    pub fn avg(self) -> Agg<E, Option<f64>>
    where
        T: Summable,
    {
        Agg {
            func: Func::Avg,
            column: self.name(),
            _marker: PhantomData,
        }
    }

    /// `MIN(column)`.
    pub fn min(self) -> Agg<E, Option<T::Base>>
    where
        T: Comparable,
        T::Base: ColumnValue,
    {
        Agg {
            func: Func::Min,
            column: self.name(),
            _marker: PhantomData,
        }
    }

    /// `MAX(column)`.
    pub fn max(self) -> Agg<E, Option<T::Base>>
    where
        T: Comparable,
        T::Base: ColumnValue,
    {
        Agg {
            func: Func::Max,
            column: self.name(),
            _marker: PhantomData,
        }
    }
}

/// An expression over columns of entity `E` with values of type `O`: text
/// functions, arithmetic between two columns, or hand-written SQL
/// ([`Item::sql`], the escape hatch for a backend-specific expression).
#[derive(Debug, Clone)]
pub struct Item<E, O> {
    kind: ExprNode,
    _marker: PhantomData<fn() -> (E, O)>,
}

impl<E, O> Item<E, O> {
    fn of(kind: ExprNode) -> Item<E, O> {
        Item {
            kind,
            _marker: PhantomData,
        }
    }

    /// Hand-written SQL for a select item, typed `O` by the caller (the
    /// escape hatch: quote identifiers yourself, and write a form every
    /// backend you run on takes, or branch on `session.dialect()`).
    pub fn sql(sql: impl Into<String>) -> Item<E, O> {
        Item::of(ExprNode::Raw(sql.into()))
    }
}

impl<E, O: ColumnValue> SelectItem<E> for Item<E, O> {
    type Out = O;
    fn expr(&self) -> ExprNode {
        self.kind.clone()
    }
}

impl<E, T> Column<E, T> {
    /// `LOWER(column)`.
    pub fn lower(self) -> Item<E, T>
    where
        T: ColumnValue + crate::model::types::TextLike,
    {
        Item::from(self).lower()
    }

    /// `UPPER(column)`.
    pub fn upper(self) -> Item<E, T>
    where
        T: ColumnValue + crate::model::types::TextLike,
    {
        Item::from(self).upper()
    }

    /// The column read as `Option` (its base type): for the joined side
    /// of a LEFT JOIN, NULL where no row matched.
    pub fn nullable(self) -> Item<E, Option<T::Base>>
    where
        T: Comparable,
        T::Base: ColumnValue,
    {
        Item::of(ExprNode::Column(self.name()))
    }

    /// `TRIM(column)`: spaces off both ends.
    pub fn trim(self) -> Item<E, T>
    where
        T: ColumnValue + crate::model::types::TextLike,
    {
        Item::from(self).trim()
    }

    /// `SUBSTR(column, start, length)`: `length` characters from the
    /// `start`th (the first is 1).
    pub fn substr(self, start: i64, length: i64) -> Item<E, T>
    where
        T: ColumnValue + crate::model::types::TextLike,
    {
        Item::from(self).substr(start, length)
    }

    /// `column || other` (MySQL `CONCAT`): another text column or
    /// expression, or a constant (`User::FIRST.concat(" ").concat(User::LAST)`);
    /// NULL if either is.
    pub fn concat(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: ColumnValue + crate::model::types::TextLike,
    {
        Item::from(self).concat(other)
    }

    /// The year of a date or timestamp, as an integer (a `DateTime<Utc>`
    /// in UTC, whatever the session's time zone).
    pub fn year(self) -> Item<E, T::Part>
    where
        T: crate::model::types::DateLike,
    {
        self.date_part(crate::model::expr::DatePart::Year)
    }

    /// The month (1-12).
    pub fn month(self) -> Item<E, T::Part>
    where
        T: crate::model::types::DateLike,
    {
        self.date_part(crate::model::expr::DatePart::Month)
    }

    /// The day of the month (1-31).
    pub fn day(self) -> Item<E, T::Part>
    where
        T: crate::model::types::DateLike,
    {
        self.date_part(crate::model::expr::DatePart::Day)
    }

    /// The hour (0-23; 0 for a date).
    pub fn hour(self) -> Item<E, T::Part>
    where
        T: crate::model::types::DateLike,
    {
        self.date_part(crate::model::expr::DatePart::Hour)
    }

    fn date_part<P>(self, part: crate::model::expr::DatePart) -> Item<E, P>
    where
        T: crate::model::types::DateLike,
    {
        Item::of(ExprNode::DatePart(part, self.name(), T::ZONED))
    }

    /// The length in characters (`LENGTH`, MySQL `CHAR_LENGTH`).
    pub fn length(self) -> Item<E, T::Len>
    where
        T: crate::model::types::TextLike,
    {
        Item::from(self).length()
    }

    /// `column + other`: another column or expression of the same numeric
    /// type, or a constant (`Order::ITEMS.plus(1)`).
    pub fn plus(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: Summable,
    {
        Item::from(self).plus(other)
    }

    /// `column - other`.
    pub fn minus(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: Summable,
    {
        Item::from(self).minus(other)
    }

    /// `column * other`.
    pub fn times(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: Summable,
    {
        Item::from(self).times(other)
    }

    /// `column % other`, the remainder of integers (its sign is the
    /// dividend's on every backend).
    pub fn modulo(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: Integer,
    {
        Item::from(self).modulo(other)
    }
}

impl<E, T> From<Column<E, T>> for Item<E, T> {
    fn from(c: Column<E, T>) -> Item<E, T> {
        Item::of(ExprNode::Column(c.name()))
    }
}

impl<E, T> Item<E, T> {
    fn arith(self, op: char, other: impl Into<Item<E, T>>) -> Item<E, T> {
        Item::of(ExprNode::Arith(
            Box::new(self.kind),
            op,
            Box::new(other.into().kind),
        ))
    }

    /// `self + other` (an expression, a column or a constant).
    pub fn plus(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: Summable,
    {
        self.arith('+', other)
    }

    /// `self - other`.
    pub fn minus(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: Summable,
    {
        self.arith('-', other)
    }

    /// `self * other`.
    pub fn times(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: Summable,
    {
        self.arith('*', other)
    }

    /// `LOWER(self)`.
    pub fn lower(self) -> Item<E, T>
    where
        T: crate::model::types::TextLike,
    {
        Item::of(ExprNode::Lower(Box::new(self.kind)))
    }

    /// `UPPER(self)`.
    pub fn upper(self) -> Item<E, T>
    where
        T: crate::model::types::TextLike,
    {
        Item::of(ExprNode::Upper(Box::new(self.kind)))
    }

    /// The length in characters.
    pub fn length(self) -> Item<E, T::Len>
    where
        T: crate::model::types::TextLike,
    {
        Item::of(ExprNode::Length(Box::new(self.kind)))
    }

    /// `TRIM(self)`.
    pub fn trim(self) -> Item<E, T>
    where
        T: crate::model::types::TextLike,
    {
        Item::of(ExprNode::Trim(Box::new(self.kind)))
    }

    /// `SUBSTR(self, start, length)` (characters, the first is 1).
    pub fn substr(self, start: i64, length: i64) -> Item<E, T>
    where
        T: crate::model::types::TextLike,
    {
        Item::of(ExprNode::Substr(Box::new(self.kind), start, length))
    }

    /// `self || other` (MySQL `CONCAT`).
    pub fn concat(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: crate::model::types::TextLike,
    {
        Item::of(ExprNode::Concat(
            Box::new(self.kind),
            Box::new(other.into().kind),
        ))
    }

    /// `self % other`, integers only.
    pub fn modulo(self, other: impl Into<Item<E, T>>) -> Item<E, T>
    where
        T: Integer,
    {
        self.arith('%', other)
    }
}

/// The integer column types (`%` takes no floats on PostgreSQL).
pub trait Integer: Summable {}

macro_rules! integer_literals {
    ($($t:ty),*) => {$(
        impl Integer for $t {}
        impl Integer for Option<$t> {}
        /// A constant operand, written into the SQL as a number.
        impl<E> From<$t> for Item<E, $t> {
            fn from(n: $t) -> Item<E, $t> {
                Item::of(ExprNode::Int(i64::from(n)))
            }
        }
        /// A constant operand of a nullable column's arithmetic.
        impl<E> From<$t> for Item<E, Option<$t>> {
            fn from(n: $t) -> Item<E, Option<$t>> {
                Item::of(ExprNode::Int(i64::from(n)))
            }
        }
    )*};
}

integer_literals!(i16, i32, i64);

/// A text constant, written into the SQL as a quoted literal.
impl<E> From<&str> for Item<E, String> {
    fn from(t: &str) -> Item<E, String> {
        Item::of(ExprNode::Text(t.to_string()))
    }
}

/// A text constant for a nullable text expression.
impl<E> From<&str> for Item<E, Option<String>> {
    fn from(t: &str) -> Item<E, Option<String>> {
        Item::of(ExprNode::Text(t.to_string()))
    }
}

/// `CASE WHEN filter THEN value .. ELSE value END` over entity `E`, its
/// values of type `O` (SQLAlchemy's `case((cond, value), .., else_=..)`).
///
/// ```
/// # use orm_core::prelude::*;
/// # use orm_core::{Agg, Case};
/// #[entity]
/// pub struct Order { #[key(auto)] pub id: i64, pub total: i64 }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let db = Database::connect("sqlite::memory:").await?;
/// # db.create_all(&[Order::schema()]).await?;
/// let mut s = db.session();
/// s.add_all([5, 50, 500].map(|total| Order { id: 0, total }));
/// let size = || {
///     Case::new()
///         .when(Order::TOTAL.ge(100), "large")
///         .when(Order::TOTAL.ge(10), "medium")
///         .otherwise("small")
/// };
/// let sizes: Vec<(String, i64)> = s
///     .query::<Order>()
///     .select((size(), Agg::count()))
///     .group_by(size())
///     .order_by_asc(size())
///     .all()
///     .await?;
/// assert_eq!(sizes, [("large".into(), 1), ("medium".into(), 1), ("small".into(), 1)]);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
///
/// The filters' values are written into the SQL as literals (quoted and
/// escaped for the backend), since a select expression takes no
/// parameters of its own here; in a join, a condition's columns are
/// unqualified, so name columns whose names the two entities do not share.
#[derive(Debug, Clone)]
pub struct Case<E, O> {
    whens: Vec<(crate::model::column::Node, ExprNode)>,
    _marker: PhantomData<fn() -> (E, O)>,
}

impl<E, O> Default for Case<E, O> {
    fn default() -> Self {
        Case {
            whens: Vec::new(),
            _marker: PhantomData,
        }
    }
}

impl<E, O> Case<E, O> {
    /// An empty CASE: add its branches with [`Case::when`].
    pub fn new() -> Self {
        Self::default()
    }

    /// `WHEN filter THEN value`: the branches are tried in order.
    pub fn when(
        mut self,
        filter: crate::model::column::Filter<E>,
        then: impl Into<Item<E, O>>,
    ) -> Self {
        self.whens.push((filter.node, then.into().kind));
        self
    }

    /// `ELSE value END`.
    pub fn otherwise(self, value: impl Into<Item<E, O>>) -> Item<E, O> {
        Item::of(ExprNode::Case(Box::new(crate::model::expr::CaseNode {
            whens: self.whens,
            otherwise: Some(value.into().kind),
        })))
    }

    /// `END` with no ELSE: NULL where no branch matched, so the values are
    /// read as `Option`.
    pub fn end(self) -> Item<E, Option<O>> {
        Item::of(ExprNode::Case(Box::new(crate::model::expr::CaseNode {
            whens: self.whens,
            otherwise: None,
        })))
    }
}

/// A list of select items: a tuple of up to eight.
pub trait SelectList<E> {
    /// The tuple of their Rust types.
    type Out;
    #[doc(hidden)]
    fn exprs(&self) -> Vec<ExprNode>;
    /// Each item's `AS` name, if any.
    #[doc(hidden)]
    fn labels(&self) -> Vec<Option<&'static str>>;
    #[doc(hidden)]
    fn decode(row: &Row) -> Result<Self::Out>;
}

macro_rules! select_list {
    ($($name:ident $i:tt),+) => {
        impl<E, $($name: SelectItem<E>),+> SelectList<E> for ($($name,)+) {
            type Out = ($($name::Out,)+);
            fn exprs(&self) -> Vec<ExprNode> {
                vec![$(self.$i.expr()),+]
            }
            fn labels(&self) -> Vec<Option<&'static str>> {
                vec![$(self.$i.label_of()),+]
            }
            fn decode(row: &Row) -> Result<Self::Out> {
                Ok(($(row.get_at::<$name::Out>($i)?,)+))
            }
        }
    };
}

select_list!(A 0);
select_list!(A 0, B 1);
select_list!(A 0, B 1, C 2);
select_list!(A 0, B 1, C 2, D 3);
select_list!(A 0, B 1, C 2, D 3, F 4);
select_list!(A 0, B 1, C 2, D 3, F 4, G 5);
select_list!(A 0, B 1, C 2, D 3, F 4, G 5, H 6);
select_list!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7);

/// Rows whose first columns are entity `T`'s: each entity through the
/// identity map, paired with the rest decoded by `decode`.
pub(crate) fn with_entities<T: Entity, O>(
    session: &mut Session,
    set: crate::row::RowSet,
    decode: impl Fn(&Row) -> Result<O>,
) -> Result<Vec<(crate::session::Handle<T>, O)>> {
    let meta = T::meta();
    let n = meta.columns.len();
    // A result with no row may carry no column names either (sqlx reads
    // them from the first row).
    if set.rows.is_empty() {
        return Ok(Vec::new());
    }
    let rest_columns: std::sync::Arc<[Box<str>]> = set.columns[n..].into();
    let mut entities = Vec::with_capacity(set.rows.len());
    let mut rest = Vec::with_capacity(set.rows.len());
    for mut row in set.rows {
        rest.push(row.split_off(n));
        entities.push(row);
    }
    let handles = session.materialize::<T>(crate::row::RowSet {
        columns: meta.columns.iter().map(|c| Box::from(c.name)).collect(),
        rows: entities,
    })?;
    handles
        .into_iter()
        .zip(rest)
        .map(|(h, values)| Ok((h, decode(&Row::shared(rest_columns.clone(), values))?)))
        .collect()
}

/// The count a `SELECT COUNT(*) FROM (..) t` returned (0 for no row).
pub(crate) fn count_in(set: crate::row::RowSet) -> Result<i64> {
    match set.into_rows().first() {
        Some(row) => row.get_at::<i64>(0),
        None => Ok(0),
    }
}

/// A typed select being set up ([`Query::select`]).
pub struct Select<'s, T: Entity, L: SelectList<T>> {
    query: Query<'s, T>,
    list: L,
    group_by: Vec<ExprNode>,
    having: Vec<Having<T>>,
    having_items: Vec<(ExprNode, CmpOp, ExprNode)>,
    distinct: bool,
    /// ORDER BY aggregates, after the query's column order.
    agg_order: Vec<(ExprNode, crate::model::column::Direction)>,
    /// The entity's own columns come first ([`Select::entities`]).
    entity: bool,
}

impl<'s, T: Entity> Query<'s, T> {
    /// Selects columns and aggregates instead of whole entities, into
    /// tuples; the query's filter, order, limit and offset apply.
    pub fn select<L: SelectList<T>>(self, list: L) -> Select<'s, T, L> {
        Select {
            query: self,
            list,
            group_by: Vec::new(),
            having: Vec::new(),
            having_items: Vec::new(),
            distinct: false,
            agg_order: Vec::new(),
            entity: false,
        }
    }
}

impl<'s, T: Entity, L: SelectList<T>> Select<'s, T, L> {
    /// `GROUP BY column` (repeatable, in call order).
    /// `GROUP BY` a column or an expression (`Account::ABALANCE.minus(
    /// Account::ABALANCE.modulo(1000))`), repeatable, in call order.
    pub fn group_by<C>(mut self, key: impl Into<Item<T, C>>) -> Self {
        self.group_by.push(key.into().kind);
        self
    }

    /// `HAVING aggregate op value` (several are combined with AND).
    pub fn having(mut self, having: Having<T>) -> Self {
        self.having.push(having);
        self
    }

    /// `HAVING a op b` between two items (an aggregate and a grouped
    /// column, two aggregates ..) of matching types.
    pub fn having_cmp<A, B>(mut self, a: A, op: CmpOp, b: B) -> Self
    where
        A: SelectItem<T>,
        B: SelectItem<T>,
        A::Out: Comparable,
        B::Out: Comparable<Base = <A::Out as Comparable>::Base>,
    {
        self.having_items.push((a.expr(), op, b.expr()));
        self
    }

    /// `SELECT DISTINCT`: each distinct tuple once.
    pub fn distinct(mut self) -> Self {
        self.distinct = true;
        self
    }

    /// `ORDER BY item ASC` (after the query's own `order_by` columns): an
    /// aggregate, an expression or a column of the list, e.g. the groups by
    /// an aggregate's value.
    pub fn order_by_asc(mut self, item: impl SelectItem<T>) -> Self {
        self.agg_order
            .push((item.expr(), crate::model::column::Direction::Asc));
        self
    }

    /// `ORDER BY item DESC`: the largest first (top-n reports).
    pub fn order_by_desc(mut self, item: impl SelectItem<T>) -> Self {
        self.agg_order
            .push((item.expr(), crate::model::column::Direction::Desc));
        self
    }

    /// The statement it runs, built fresh with sea-query (running it takes
    /// the same text from the template cache, see [`Select::sql`]).
    pub fn statement(&self) -> crate::sql::Statement {
        self.render(&self.parts())
    }

    /// The statement it runs, through the template cache (unless the query
    /// was made [`Query::without_template`]): a select built in a loop is
    /// rendered once per shape, its values bound each time.
    pub fn sql(&self) -> Result<crate::sql::Statement> {
        let env = self.query.session.engine().template_env();
        // A subquery outside the items (ordered or grouped by) has values
        // the parts do not carry: such a select is built fresh.
        let sub = |e: &ExprNode| matches!(e, ExprNode::Sub(_));
        let elsewhere = self.group_by.iter().any(sub)
            || self.agg_order.iter().any(|(e, _)| sub(e))
            || self.having_items.iter().any(|(a, _, b)| sub(a) || sub(b));
        templated::typed(
            env,
            self.shape(),
            &self.parts(),
            &|parts| self.render(parts),
            T::meta().name,
            self.query.use_template && !elsewhere,
        )
    }

    /// Its values, apart from its text.
    fn parts(&self) -> Parts<'_> {
        Parts {
            filters: vec![self.query.filter_node()],
            // Scalar subqueries among the items: their values are bound.
            subs: self
                .list
                .exprs()
                .into_iter()
                .filter_map(|e| match e {
                    ExprNode::Sub(sub) => Some(*sub),
                    _ => None,
                })
                .collect(),
            values: self.having.iter().map(|h| &h.value).collect(),
            limit: self.query.limit,
            offset: self.query.offset,
        }
    }

    /// Everything of its text but the filter's and the values' places.
    fn shape(&self) -> ShapeKey {
        let mut key = ShapeKey::new();
        key.tag(1).name(T::meta().table).tag(u8::from(self.entity));
        for e in self.list.exprs() {
            templated::expr_shape(&e, key.tag(1));
        }
        for label in self.list.labels() {
            match label {
                Some(l) => drop(key.tag(1).text(l)),
                None => drop(key.tag(0)),
            }
        }
        for g in &self.group_by {
            templated::expr_shape(g, key.tag(2));
        }
        for h in &self.having {
            key.tag(3).tag(h.func.tag()).name(h.column).tag(h.op as u8);
        }
        for (a, op, b) in &self.having_items {
            templated::expr_shape(a, key.tag(4).tag(*op as u8));
            templated::expr_shape(b, &mut key);
        }
        key.tag(u8::from(self.distinct));
        for (c, d) in &self.query.order {
            key.tag(5).name(c).tag(*d as u8);
        }
        for (e, d) in &self.agg_order {
            templated::expr_shape(e, key.tag(6).tag(*d as u8));
        }
        key
    }

    /// The statement with these values (or a template's markers).
    fn render(&self, parts: &Parts<'_>) -> crate::sql::Statement {
        let dialect = self.query.session.dialect();
        let having: Vec<(String, CmpOp, Value)> = self
            .having
            .iter()
            .zip(&parts.values)
            .map(|(h, v)| {
                let sql = render::agg_sql(dialect, h.func, h.column);
                (sql, h.op, (*v).clone())
            })
            .collect();
        let spec = render::SelectSpec {
            limit: parts.limit,
            offset: parts.offset,
            ..self.query.spec(parts.filters[0])
        };
        let mut subs = parts.subs.iter();
        let columns = T::meta().columns.iter().filter(|_| self.entity);
        let mut labels = vec![None; columns.clone().count()];
        labels.extend(self.list.labels());
        let items: Vec<ExprNode> = columns
            .map(|c| ExprNode::Column(c.name))
            .chain(self.list.exprs())
            .map(|e| match e {
                ExprNode::Sub(_) => {
                    let sub = subs.next().expect("one part per subquery item");
                    ExprNode::Sub(Box::new(sub.clone()))
                }
                e => e,
            })
            .collect();
        render::select_items(
            dialect,
            &spec,
            &items,
            &labels,
            &render::Grouping {
                group_by: &self.group_by,
                having: &having,
                having_items: &self.having_items,
            },
            self.distinct,
            &self
                .agg_order
                .iter()
                .map(|(e, d)| (render::expr_sql(dialect, e, None), *d))
                .collect::<Vec<_>>(),
        )
    }

    /// Every row, as a tuple (after an autoflush; in the session's
    /// transaction when one is open).
    pub async fn all(self) -> Result<Vec<L::Out>> {
        let (stmt, session) = self.prepare_run().await?;
        let set = session.fetch(&stmt).await?;
        set.into_rows().iter().map(L::decode).collect()
    }

    /// Every row, each read into `R` by column name ([`crate::FromRow`]):
    /// labelled items by their label, plain columns by their own name
    /// ([`SelectItem::label`] has an example).
    pub async fn all_as<R: crate::row::FromRow>(self) -> Result<Vec<R>> {
        self.rows().await?.iter().map(R::from_row).collect()
    }

    /// Each row's entity, through the identity map, with the list's values
    /// (SQLAlchemy's `session.query(User, expression)`): the entity's
    /// columns are selected first, so the list holds what goes with it,
    /// e.g. a scalar subquery per row, or aggregates grouped by the
    /// entity's key.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// # use orm_core::{Agg, Subquery};
    /// #[entity]
    /// pub struct Author { #[key(auto)] pub id: i64, pub name: String }
    /// #[entity]
    /// pub struct Book { #[key(auto)] pub id: i64, #[column(references = Author)] pub author_id: i64 }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Author::schema(), Book::schema()]).await?;
    /// let mut s = db.session();
    /// let a = s.add(Author { id: 0, name: "Le Guin".into() });
    /// s.flush().await?;
    /// s.add(Book { id: 0, author_id: a.read().id });
    /// let books = Subquery::of(Agg::<Book, i64>::count()).correlate(Book::AUTHOR_ID, Author::ID);
    /// let rows: Vec<(Handle<Author>, (i64,))> = s.query::<Author>().select((books,)).entities().await?;
    /// assert!(Handle::ptr_eq(&rows[0].0, &a)); // the session's own object
    /// assert_eq!(rows[0].1, (1,));
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn entities(mut self) -> Result<Vec<(crate::session::Handle<T>, L::Out)>> {
        self.entity = true;
        let (stmt, session) = self.prepare_run().await?;
        let set = session.fetch(&stmt).await?;
        with_entities::<T, _>(session, set, L::decode)
    }

    /// Every row as a plain [`Row`], readable by label or position.
    pub async fn rows(self) -> Result<Vec<Row>> {
        let (stmt, session) = self.prepare_run().await?;
        Ok(session.fetch(&stmt).await?.into_rows())
    }

    /// The first row read into `R` by column name, if any.
    pub async fn first_as<R: crate::row::FromRow>(mut self) -> Result<Option<R>> {
        self.query.limit = Some(1);
        self.rows().await?.first().map(R::from_row).transpose()
    }

    /// This select as one item of a concurrent batch ([`crate::Database::
    /// concurrently`]): plain rows, their columns in the list's order
    /// (`row.get_at::<T>(i)`), in autocommit on a pooled connection.
    pub fn batched(mut self) -> Result<crate::query::batch::BatchQuery> {
        self.check()?;
        let stmt = self.sql()?;
        Ok(crate::query::batch::BatchQuery::rows(
            crate::runner::Prepared::raw(stmt, vec![T::meta().table.into()]),
            None,
        ))
    }

    fn check(&mut self) -> Result<()> {
        if !self.query.loads.is_empty() || self.query.lock.is_some() {
            return Err(Error::Usage {
                entity: Some(T::meta().name),
                relation: None,
                message: "a select of columns takes no load(..) or lock".into(),
            });
        }
        self.query.session.check_usable()?;
        self.query.check_values(self.query.filter_node())
    }

    /// How many rows this select returns, counted by the database
    /// (`SELECT COUNT(*) FROM (..) t`: the groups of a grouped select).
    pub async fn count(self) -> Result<i64> {
        let (stmt, session) = self.prepare_run().await?;
        count_in(session.fetch(&render::count_of(&stmt)).await?)
    }

    /// The checks and autoflush before running, and the statement.
    pub(crate) async fn prepare_run(mut self) -> Result<(crate::sql::Statement, &'s mut Session)> {
        self.check()?;
        let stmt = self.sql()?;
        let session = self.query.session;
        session.autoflush().await?;
        Ok((stmt, session))
    }

    /// The first row, if any.
    pub async fn first(mut self) -> Result<Option<L::Out>> {
        self.query.limit = Some(1);
        Ok(self.all().await?.pop())
    }
}
