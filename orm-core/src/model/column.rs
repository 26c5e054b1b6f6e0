//! Typed column handles and the filters and orderings built from them.
//!
//! `#[entity]` emits one constant per field (`User::NAME: Column<User, String>`).
//! A [`Filter<E>`] can only be applied to a query of the same entity `E`,
//! so a filter on the wrong table is a compile error, and an operand must
//! convert to the column's type, so `User::AGE.eq("x")` does not compile.
//! Filters hold [`Value`]s, not SQL: `crate::query` renders them for a
//! dialect, which keeps them reusable as cache keys later.
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

use std::fmt;
use std::marker::PhantomData;

use crate::model::expr::SubNode;
use crate::model::types::{ColumnType, Converter, With};
use crate::value::{ColumnValue, Value};

/// A column of entity `E` whose column type is `T`: the field's type for
/// built-in and [`ColumnValue`] types (`Column<User, Option<String>>`), and
/// [`With<C, F>`] for a field of type `F` stored through converter `C`
/// (`#[column(with = C)]`, see [`crate::model::types`]).
pub struct Column<E, T> {
    name: &'static str,
    index: usize,
    _marker: PhantomData<fn() -> (E, T)>,
}

impl<E, T> Clone for Column<E, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, T> Copy for Column<E, T> {}

impl<E, T> fmt::Debug for Column<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Column({})", self.name)
    }
}

/// `column = value` in a bulk update (`Column::set`).
#[derive(Debug, Clone)]
pub struct Assign<E> {
    pub(crate) column: &'static str,
    pub(crate) index: usize,
    pub(crate) value: Value,
    _marker: PhantomData<fn() -> E>,
}

impl<E, T> Column<E, T> {
    /// `column = value`, for [`Query::update`](crate::Query::update): the
    /// value converts as a filter operand does.
    pub fn set(self, value: impl Operand<T>) -> Assign<E> {
        Assign {
            column: self.name,
            index: self.index,
            value: value.into_value(),
            _marker: PhantomData,
        }
    }
}

/// A value usable where a column of type `T` is expected: `T` itself, `&T`,
/// and `&str` for text columns; for a converted column `With<C, F>`, the
/// field type `F` and `&F`, encoded by `C`.
pub trait Operand<T> {
    /// The value bound for it (encoded by the column's converter, if any).
    fn into_value(self) -> Value;
}

impl<C: Converter<F>, F> Operand<With<C, F>> for F {
    fn into_value(self) -> Value {
        C::to_value(&self)
    }
}

impl<C: Converter<F>, F> Operand<With<C, F>> for &F {
    fn into_value(self) -> Value {
        C::to_value(self)
    }
}

impl<T: ColumnValue> Operand<T> for T {
    fn into_value(self) -> Value {
        self.to_value()
    }
}

impl<T: ColumnValue> Operand<T> for &T {
    fn into_value(self) -> Value {
        self.to_value()
    }
}

impl Operand<String> for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Operand<String> for &&str {
    fn into_value(self) -> Value {
        Value::Text((*self).to_owned())
    }
}

/// The non-optional type of a column: `String` for both `String` and
/// `Option<String>` fields. Comparisons take operands of this type.
pub trait Comparable {
    /// `T` for `T` and `Option<T>`.
    type Base: ColumnType;
}

impl<T: ColumnValue + Scalar> Comparable for T {
    type Base = T;
}

impl<T: ColumnValue + Scalar> Comparable for Option<T> {
    type Base = T;
}

impl<C: Converter<F>, F> Comparable for With<C, F> {
    type Base = With<C, F>;
}

impl<C: Converter<F>, F> Comparable for Option<With<C, F>> {
    type Base = With<C, F>;
}

/// Marker for non-`Option` column value types (what tells `T` from
/// `Option<T>` in [`Comparable`]). `#[derive(ColumnValue)]` implements it.
pub trait Scalar {}

macro_rules! scalar {
    ($($t:ty),*) => { $(impl Scalar for $t {})* };
}

scalar!(
    rust_decimal::Decimal,
    ipnetwork::IpNetwork,
    std::net::IpAddr,
    u8,
    u16,
    u32,
    u64,
    i16,
    i32,
    i64,
    f32,
    f64,
    bool,
    String,
    Vec<u8>,
    chrono::NaiveDateTime,
    chrono::DateTime<chrono::Utc>,
    chrono::NaiveDate,
    chrono::NaiveTime,
    uuid::Uuid,
    serde_json::Value
);

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A condition on rows of entity `E`, made from the entity's typed column
/// constants and combined with [`Filter::and`], [`Filter::or`], `!`,
/// [`Filter::all`] and [`Filter::any`]. A filter on another entity's
/// columns does not compile.
///
/// ```
/// # use orm_core::prelude::*;
/// #[entity]
/// pub struct Book {
///     #[key(auto)]
///     pub id: i64,
///     pub title: String,
///     pub year: Option<i32>,
/// }
///
/// let recent = Book::YEAR.ge(2000).and(Book::TITLE.like("The %"));
/// let undated_or_old = Filter::any([Book::YEAR.is_null(), Book::YEAR.lt(1900)]);
/// let neither: Filter<Book> = !recent.or(undated_or_old);
/// # let _ = neither;
/// ```
pub struct Filter<E> {
    pub(crate) node: Node,
    _marker: PhantomData<fn() -> E>,
}

impl<E> Clone for Filter<E> {
    fn clone(&self) -> Self {
        Filter::from_node(self.node.clone())
    }
}

impl<E> fmt::Debug for Filter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.node.fmt(f)
    }
}

/// The untyped tree behind a [`Filter`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Compare(&'static str, CmpOp, Value),
    IsNull(&'static str, bool),
    Like(&'static str, String, bool),
    In(&'static str, Vec<Value>, bool),
    /// A long PostgreSQL IN list as one array parameter (`= ANY`, `<> ALL`);
    /// only the template compiler builds it (the marker stands for the array).
    InArray(&'static str, Value, bool),
    /// A list past the bind limit on SQLite or MySQL as one JSON array
    /// parameter read by a subquery (`col IN (SELECT value FROM
    /// json_each(?))`); only the query compiler builds it
    /// (`query/templated.rs`), the value is the JSON text or a marker.
    InJson(&'static str, Value, bool, crate::sql::render::JsonElem),
    /// `col [NOT] IN (SELECT ..)`.
    InSub(&'static str, Box<SubNode>, bool),
    /// `[NOT] EXISTS (SELECT 1 ..)`.
    Exists(Box<SubNode>, bool),
    /// `col op (SELECT ..)`: a scalar subquery.
    CmpSub(&'static str, CmpOp, Box<SubNode>),
    /// An array column holds an element (`[NOT] contains`).
    Contains(&'static str, Value, bool),
    /// An array column of these elements against a set of them, one
    /// array parameter (`overlaps`, `contains_all`, `contained_by`).
    ArraySet(&'static str, SetOp, crate::value::Elem, Value),
    /// An array column's length compared with a number (`len().gt(2)`).
    ArrayLen(&'static str, CmpOp, Value),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

impl<E> Filter<E> {
    pub(crate) fn from_node(node: Node) -> Self {
        Filter {
            node,
            _marker: PhantomData,
        }
    }

    /// Both conditions.
    pub fn and(self, other: Filter<E>) -> Filter<E> {
        Filter::all([self, other])
    }

    /// Either condition.
    pub fn or(self, other: Filter<E>) -> Filter<E> {
        Filter::any([self, other])
    }

    /// Every condition (true when there are none).
    pub fn all(filters: impl IntoIterator<Item = Filter<E>>) -> Filter<E> {
        Filter::from_node(Node::And(filters.into_iter().map(|f| f.node).collect()))
    }

    /// At least one condition (false when there are none).
    pub fn any(filters: impl IntoIterator<Item = Filter<E>>) -> Filter<E> {
        Filter::from_node(Node::Or(filters.into_iter().map(|f| f.node).collect()))
    }
}

impl<E> std::ops::Not for Filter<E> {
    type Output = Filter<E>;

    fn not(self) -> Filter<E> {
        Filter::from_node(Node::Not(Box::new(self.node)))
    }
}

/// Sort direction of an [`Order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first (`ASC`).
    Asc,
    /// Largest first (`DESC`).
    Desc,
}

/// One ORDER BY term for entity `E`.
pub struct Order<E> {
    pub(crate) column: &'static str,
    pub(crate) direction: Direction,
    _marker: PhantomData<fn() -> E>,
}

impl<E> Clone for Order<E> {
    fn clone(&self) -> Self {
        Order {
            column: self.column,
            direction: self.direction,
            _marker: PhantomData,
        }
    }
}

impl<E> fmt::Debug for Order<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.column, self.direction)
    }
}

impl<E, T> Column<E, T> {
    /// Used by `#[entity]`; `index` is the column's position in the entity's metadata.
    #[doc(hidden)]
    pub const fn new(name: &'static str, index: usize) -> Self {
        Column {
            name,
            index,
            _marker: PhantomData,
        }
    }

    /// The SQL column name.
    pub const fn name(self) -> &'static str {
        self.name
    }

    /// The position in the entity's metadata (and in its rows).
    pub const fn index(self) -> usize {
        self.index
    }

    /// `column IS NULL`.
    pub fn is_null(self) -> Filter<E> {
        Filter::from_node(Node::IsNull(self.name, false))
    }

    /// `column IS NOT NULL`.
    pub fn is_not_null(self) -> Filter<E> {
        Filter::from_node(Node::IsNull(self.name, true))
    }

    /// `ORDER BY column ASC` (where NULLs go is the backend's rule).
    pub fn asc(self) -> Order<E> {
        Order {
            column: self.name,
            direction: Direction::Asc,
            _marker: PhantomData,
        }
    }

    /// `ORDER BY column DESC`.
    pub fn desc(self) -> Order<E> {
        Order {
            column: self.name,
            direction: Direction::Desc,
            _marker: PhantomData,
        }
    }
}

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(self, value: impl Operand<T::Base>) -> Filter<E> {
            Filter::from_node(Node::Compare(self.name, CmpOp::$op, value.into_value()))
        }
    )*};
}

impl<E, T: Comparable> Column<E, T> {
    comparisons! {
        /// `column = value` (use [`Column::is_null`] for NULL).
        eq => Eq,
        /// `column <> value`.
        ne => Ne,
        /// `column < value`.
        lt => Lt,
        /// `column <= value`.
        le => Le,
        /// `column > value`.
        gt => Gt,
        /// `column >= value`.
        ge => Ge,
    }

    /// `column IN (...)` over any number of values; an empty list matches no row.
    pub fn is_in<I>(self, values: I) -> Filter<E>
    where
        I: IntoIterator,
        I::Item: Operand<T::Base>,
    {
        self.in_list(values, false)
    }

    /// `column NOT IN (...)`; an empty list matches every row.
    pub fn not_in<I>(self, values: I) -> Filter<E>
    where
        I: IntoIterator,
        I::Item: Operand<T::Base>,
    {
        self.in_list(values, true)
    }

    fn in_list<I>(self, values: I, negated: bool) -> Filter<E>
    where
        I: IntoIterator,
        I::Item: Operand<T::Base>,
    {
        Filter::from_node(Node::In(
            self.name,
            values.into_iter().map(Operand::into_value).collect(),
            negated,
        ))
    }
}

impl<E, T: Comparable<Base = String>> Column<E, T> {
    /// `column LIKE pattern` (`%` and `_` are wildcards; the pattern is bound,
    /// never spliced). Case sensitivity follows the backend: SQLite's LIKE
    /// ignores ASCII case, PostgreSQL's and (with the ORM's binary collation)
    /// MySQL's do not.
    pub fn like(self, pattern: impl Into<String>) -> Filter<E> {
        Filter::from_node(Node::Like(self.name, pattern.into(), false))
    }

    /// `column NOT LIKE pattern`.
    pub fn not_like(self, pattern: impl Into<String>) -> Filter<E> {
        Filter::from_node(Node::Like(self.name, pattern.into(), true))
    }
}

/// An element type whose arrays can be searched with
/// [`Column::contains`]: integers, text, decimals and UUIDs (floats and
/// booleans are left out: their equality inside MySQL's and SQLite's JSON
/// arrays is not the column's).
#[diagnostic::on_unimplemented(
    message = "arrays of `{Self}` cannot be searched with `contains`",
    note = "arrays of integers, String, Uuid and Decimal can be searched (float and boolean equality inside JSON arrays is not the column's)"
)]
pub trait ArrayElement: ColumnValue {}

impl ArrayElement for i16 {}
impl ArrayElement for i32 {}
impl ArrayElement for i64 {}
impl ArrayElement for String {}
impl ArrayElement for uuid::Uuid {}
impl ArrayElement for rust_decimal::Decimal {}

/// The array columns (`Vec<T>`, `Option<Vec<T>>`) of element `T`.
#[diagnostic::on_unimplemented(
    message = "`contains` needs an array column of `{T}` elements; this column holds `{Self}`",
    label = "not an array of `{T}`",
    note = "arrays of integers, String, Uuid and Decimal can be searched"
)]
pub trait ArrayOf<T> {}
impl<T: ArrayElement> ArrayOf<T> for Vec<T> where Vec<T>: ColumnValue {}
impl<T: ArrayElement> ArrayOf<T> for Option<Vec<T>> where Vec<T>: ColumnValue {}
impl<T: ArrayElement> ArrayOf<T> for Vec<Option<T>> where Vec<Option<T>>: ColumnValue {}
impl<T: ArrayElement> ArrayOf<T> for Option<Vec<Option<T>>> where Vec<Option<T>>: ColumnValue {}

impl<E, A> Column<E, A> {
    /// The array holds `element`: `$1 = ANY(col)` on PostgreSQL,
    /// `JSON_CONTAINS(col, JSON_ARRAY(?))` on MySQL, `EXISTS (SELECT 1 FROM
    /// json_each(col) WHERE value = ?)` on SQLite. A NULL array holds
    /// nothing (and, as in SQL, is not matched by `not_contains` either).
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Post { #[key(auto)] pub id: i64, pub tags: Vec<String> }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Post::schema()]).await?;
    /// let mut s = db.session();
    /// s.add(Post { id: 0, tags: vec!["rust".into(), "orm".into()] });
    /// s.add(Post { id: 0, tags: vec!["sql".into()] });
    /// assert_eq!(s.query::<Post>().filter(Post::TAGS.contains("orm")).count().await?, 1);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn contains<T: ArrayElement>(self, element: impl Into<T>) -> Filter<E>
    where
        A: ArrayOf<T>,
    {
        Filter::from_node(Node::Contains(
            self.name,
            element_value(&element.into()),
            false,
        ))
    }

    /// The array does not hold `element`: a NULL array is not matched, a
    /// NULL element is not `element` (the same on every backend).
    pub fn not_contains<T: ArrayElement>(self, element: impl Into<T>) -> Filter<E>
    where
        A: ArrayOf<T>,
    {
        Filter::from_node(Node::Contains(
            self.name,
            element_value(&element.into()),
            true,
        ))
    }
}

/// How an array column is compared with a set of elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetOp {
    /// Some element is in both (PostgreSQL's `&&`).
    Overlaps,
    /// Every element of the set is in the array (`@>`).
    ContainsAll,
    /// Every element of the array is in the set (`<@`).
    ContainedBy,
}

impl<E, A> Column<E, A> {
    /// The array and `elements` share an element: `col && $1` on
    /// PostgreSQL, `JSON_OVERLAPS(col, ?)` on MariaDB (10.9+) and MySQL
    /// (8.0.17+), a join of two `json_each` on SQLite; one array parameter
    /// whatever the number of elements. An empty set overlaps nothing; a
    /// NULL array matches no set filter.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Post { #[key(auto)] pub id: i64, pub tags: Vec<String> }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Post::schema()]).await?;
    /// let mut s = db.session();
    /// s.add(Post { id: 0, tags: vec!["rust".into(), "orm".into()] });
    /// s.add(Post { id: 0, tags: vec!["sql".into()] });
    /// assert_eq!(s.query::<Post>().filter(Post::TAGS.overlaps(["orm", "sql"])).count().await?, 2);
    /// assert_eq!(s.query::<Post>().filter(Post::TAGS.contains_all(["orm", "rust"])).count().await?, 1);
    /// assert_eq!(s.query::<Post>().filter(Post::TAGS.contained_by(["sql", "go"])).count().await?, 1);
    /// assert_eq!(s.query::<Post>().filter(Post::TAGS.len().ge(2)).count().await?, 1);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn overlaps<T: ArrayElement>(
        self,
        elements: impl IntoIterator<Item = impl Into<T>>,
    ) -> Filter<E>
    where
        A: ArrayOf<T>,
    {
        self.set_filter(SetOp::Overlaps, elements)
    }

    /// The array holds every one of `elements` (PostgreSQL's `@>`,
    /// `JSON_CONTAINS(col, ?)` on MySQL): every array contains the empty
    /// set.
    pub fn contains_all<T: ArrayElement>(
        self,
        elements: impl IntoIterator<Item = impl Into<T>>,
    ) -> Filter<E>
    where
        A: ArrayOf<T>,
    {
        self.set_filter(SetOp::ContainsAll, elements)
    }

    /// Every element of the array is one of `elements` (PostgreSQL's
    /// `<@`): an empty array is contained by any set; an array holding a
    /// NULL element by none.
    pub fn contained_by<T: ArrayElement>(
        self,
        elements: impl IntoIterator<Item = impl Into<T>>,
    ) -> Filter<E>
    where
        A: ArrayOf<T>,
    {
        self.set_filter(SetOp::ContainedBy, elements)
    }

    fn set_filter<T: ArrayElement>(
        self,
        op: SetOp,
        elements: impl IntoIterator<Item = impl Into<T>>,
    ) -> Filter<E> {
        let items: Vec<Value> = elements
            .into_iter()
            .map(|e| element_value(&e.into()))
            .collect();
        // Typed by the element type even when empty (PostgreSQL needs it).
        let elem = crate::value::Elem::for_type(T::SQL_TYPE).unwrap_or(crate::value::Elem::Text);
        Filter::from_node(Node::ArraySet(
            self.name,
            op,
            elem,
            Value::Array(elem, items),
        ))
    }

    /// The array's length, to compare: `Post::TAGS.len().gt(2)`
    /// (`cardinality(col)` on PostgreSQL, `JSON_LENGTH` on MySQL,
    /// `json_array_length` on SQLite). A NULL array has no length: it
    /// matches no comparison.
    pub fn len(self) -> ArrayLen<E>
    where
        A: ArrayColumn,
    {
        ArrayLen {
            column: self.name,
            _marker: PhantomData,
        }
    }
}

/// The array columns, whatever their element (see [`Column::len`]).
#[diagnostic::on_unimplemented(
    message = "`len()` needs an array column; this column holds `{Self}`",
    label = "not an array"
)]
pub trait ArrayColumn {}
impl<T> ArrayColumn for Vec<T> where Vec<T>: ColumnValue {}
impl<T> ArrayColumn for Option<Vec<T>> where Vec<T>: ColumnValue {}

/// An array column's length, compared by its methods into a filter.
pub struct ArrayLen<E> {
    column: &'static str,
    _marker: PhantomData<fn() -> E>,
}

macro_rules! len_comparisons {
    ($($(#[$doc:meta])* $name:ident => $op:ident),*) => {
        impl<E> ArrayLen<E> {
            $(
                $(#[$doc])*
                pub fn $name(self, n: i64) -> Filter<E> {
                    Filter::from_node(Node::ArrayLen(self.column, CmpOp::$op, Value::I64(n)))
                }
            )*
        }
    };
}

len_comparisons! {
    /// The length is `n`.
    eq => Eq,
    /// The length is not `n`.
    ne => Ne,
    /// The length is less than `n`.
    lt => Lt,
    /// The length is at most `n`.
    le => Le,
    /// The length is more than `n`.
    gt => Gt,
    /// The length is at least `n`.
    ge => Ge
}

/// An element as a searched value: a decimal without trailing zeros, as
/// MySQL's and SQLite's JSON arrays hold it (PostgreSQL compares numbers).
fn element_value<T: ColumnValue>(element: &T) -> Value {
    match element.to_value() {
        Value::Decimal(d) => Value::Decimal(d.normalize()),
        v => v,
    }
}

impl Node {
    /// The filter selecting the row with primary key `key`.
    pub(crate) fn key<T: crate::model::entity::Entity>(key: &T::Key) -> Node {
        Node::And(
            T::meta()
                .key_columns()
                .zip(T::key_values(key))
                .map(|((_, c), v)| Node::Compare(c.name, CmpOp::Eq, v))
                .collect(),
        )
    }

    /// Refuses values `dialect` would store unfaithfully, naming `entity`
    /// and the column (before anything is sent).
    pub(crate) fn check_for(
        &self,
        entity: &'static str,
        dialect: crate::backend::Dialect,
    ) -> crate::error::Result<()> {
        self.check(&mut |column, v| {
            dialect
                .check_value(v)
                .map_err(|reason| crate::error::Error::InvalidValue {
                    entity,
                    column,
                    backend: dialect.name(),
                    reason,
                })
        })
    }

    /// Visits every bound value with its column.
    pub(crate) fn check(
        &self,
        f: &mut impl FnMut(&'static str, &Value) -> crate::error::Result<()>,
    ) -> crate::error::Result<()> {
        match self {
            Node::Compare(c, _, v) => f(c, v),
            Node::In(c, vs, _) => vs.iter().try_for_each(|v| f(c, v)),
            Node::InArray(c, v, _)
            | Node::Contains(c, v, _)
            | Node::ArraySet(c, _, _, v)
            | Node::ArrayLen(c, _, v) => f(c, v),
            // Built from checked values (see `templated::fit`).
            Node::InJson(..) => Ok(()),
            Node::IsNull(..) | Node::Like(..) => Ok(()),
            Node::InSub(_, sub, _) | Node::Exists(sub, _) | Node::CmpSub(_, _, sub) => {
                sub.filter.as_ref().map_or(Ok(()), |n| n.check(f))
            }
            Node::And(ns) | Node::Or(ns) => ns.iter().try_for_each(|n| n.check(f)),
            Node::Not(n) => n.check(f),
        }
    }
}
