//! Select expressions and subqueries as plain data, the same for every
//! dialect: what a typed select item, a `HAVING` term or a subquery in a
//! filter *is*, before `crate::sql::render` writes it for one backend.
//!
//! The decision: expressions are data (an enum of columns, aggregates,
//! functions and subqueries), not SQL text, so that a filter holding a
//! subquery stays a value the template cache can take the shape of (its
//! entity, item, correlation and inner filter; never its values) and
//! render for any dialect. Hand-written SQL ([`ExprNode::Raw`]) is part of
//! the shape as text.
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

use crate::model::column::Node;

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub enum AggFunc {
    /// `COUNT(*)`.
    CountAll,
    /// `COUNT(column)`.
    Count,
    /// `SUM` of an integer column, as a 64-bit integer everywhere.
    SumInt,
    /// `SUM` of a float column, as a double everywhere.
    SumReal,
    /// `SUM` of a decimal column, exact (no cast).
    SumExact,
    /// `AVG`, as a double everywhere.
    Avg,
    Min,
    Max,
}

impl AggFunc {
    pub(crate) fn tag(self) -> u8 {
        self as u8
    }
}

/// One expression of a select list (or the item of a subquery).
#[derive(Debug, Clone, PartialEq)]
#[doc(hidden)]
pub enum ExprNode {
    /// A column of the statement's own table.
    Column(&'static str),
    /// An aggregate of a column (`""` for `COUNT(*)`).
    Agg(AggFunc, &'static str),
    Lower(Box<ExprNode>),
    Upper(Box<ExprNode>),
    /// Characters, not bytes.
    Length(Box<ExprNode>),
    /// `a op b`, `op` one of `+ - * %`.
    Arith(Box<ExprNode>, char, Box<ExprNode>),
    /// An integer constant, written as a number (never a bound value: it
    /// is part of the statement's text and shape).
    Int(i64),
    /// Hand-written SQL (the escape hatch).
    Raw(String),
    /// A text constant, written into the SQL as a quoted literal (escaped
    /// per dialect), so it is part of the statement's text and shape.
    Text(String),
    /// `a || b` (MySQL `CONCAT(a, b)`): NULL if either is.
    Concat(Box<ExprNode>, Box<ExprNode>),
    /// `TRIM(e)`: spaces off both ends.
    Trim(Box<ExprNode>),
    /// `SUBSTR(e, start, length)`: characters, from 1.
    Substr(Box<ExprNode>, i64, i64),
    /// A part of a date or timestamp column as an integer; `zoned`: a
    /// `DateTime<Utc>` column, read in UTC whatever the session's zone.
    DatePart(DatePart, &'static str, bool),
    /// `CASE WHEN <filter> THEN <e> .. [ELSE <e>] END`; the filters'
    /// values are written in as literals.
    Case(Box<CaseNode>),
    /// The constant 1 (what an `EXISTS` subquery selects).
    One,
    /// A scalar subquery: its one row's one value.
    Sub(Box<SubNode>),
}

/// The branches of a CASE: `WHEN filter THEN e`, then the ELSE if any.
#[derive(Debug, Clone, PartialEq)]
#[doc(hidden)]
pub struct CaseNode {
    pub(crate) whens: Vec<(Node, ExprNode)>,
    pub(crate) otherwise: Option<ExprNode>,
}

/// A part of a date or a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub enum DatePart {
    Year,
    Month,
    Day,
    Hour,
}

impl DatePart {
    pub(crate) fn tag(self) -> u8 {
        self as u8
    }
}

/// A subquery over one entity's table: `SELECT <item> FROM <table> [WHERE
/// <filter> AND <correlations>]`, or the keys of a tree walk.
#[derive(Debug, Clone, PartialEq)]
#[doc(hidden)]
pub struct SubNode {
    pub(crate) table: &'static str,
    pub(crate) item: ExprNode,
    pub(crate) filter: Option<Node>,
    /// `inner column = outer table.outer column`, for a correlated
    /// subquery (the outer table is the enclosing query's entity).
    pub(crate) correlate: Vec<(&'static str, &'static str, &'static str)>,
    /// A recursive walk over a self-reference instead of a plain SELECT:
    /// the filter picks the start rows, the item is the key.
    pub(crate) tree: Option<Tree>,
}

/// A walk of a tree stored as a parent column (`WITH RECURSIVE`): the
/// start rows and every row below them (`down`), or above them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub struct Tree {
    pub(crate) key: &'static str,
    pub(crate) parent: &'static str,
    pub(crate) down: bool,
}

impl SubNode {
    /// Whether the subquery's table needs an alias: it is correlated with
    /// a query of its own table, whose name must then mean the outer one.
    pub(crate) fn aliased(&self) -> bool {
        self.correlate.iter().any(|(_, t, _)| *t == self.table)
    }
}
