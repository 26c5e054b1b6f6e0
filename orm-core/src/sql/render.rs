//! Rendering: filters, orderings and entity metadata become SQL text plus
//! bound parameters for one dialect, through sea-query.
//!
//! Values are always bound, never spliced: sea-query emits a placeholder per
//! value (`$n` on PostgreSQL, `?` elsewhere) and hands the values back, which
//! are converted to the ORM's [`Value`]s for the backend seam.
//! (The SQL-template cache of `orm-cache` will sit in front of this module;
//! until then every statement is built fresh.)
//!
//! Layer 1 (the SQL layer): it uses only what is below it (see `crate::layers`).

use std::sync::Arc;

use sea_query::{
    Alias, Asterisk, BinOper, CommonTableExpression, Condition, Expr, ExprTrait, Func,
    InsertStatement, JoinType, Order as SeaOrder, Query, QueryStatementWriter, SelectStatement,
    SubQueryOper, SubQueryStatement, UnionType, Values, WithClause,
};

use crate::model::column::{CmpOp, Direction, Node, SetOp};
use crate::model::expr::{AggFunc, DatePart, ExprNode, SubNode, Tree};
use crate::model::meta::EntityMeta;
use crate::sql::dialect::{Dialect, JsonLists};
use crate::value::{Elem, SqlType, Value};

/// A statement ready to run: SQL text and its parameters in placeholder
/// order. A flush on SQLite also writes *repeated* statements: one
/// single-row UPDATE run for each row in turn, every run binding the next
/// [`Statement::runs`]-th share of the parameters (one prepared statement,
/// executed many times, as `executemany` does).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sql: Arc<str>,
    pub(crate) params: Vec<Value>,
    /// For a repeated statement, the parameters of each run.
    pub(crate) each: Option<usize>,
}

impl Statement {
    /// Wraps hand-written SQL (placeholders in the backend's own style).
    pub fn new(sql: impl Into<Arc<str>>, params: Vec<Value>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
            each: None,
        }
    }

    /// `sql` run once for each `width` of `params`, in order.
    pub(crate) fn repeated(sql: Arc<str>, params: Vec<Value>, width: usize) -> Statement {
        debug_assert!(width > 0 && params.len().is_multiple_of(width));
        Statement {
            sql,
            params,
            each: Some(width),
        }
    }

    /// The SQL text, placeholders in the backend's style.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The bound values, in placeholder order (for a repeated statement,
    /// those of every run, one run after the other).
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// How many times the text runs: once, or once per row of a repeated
    /// statement.
    pub fn runs(&self) -> usize {
        match self.each {
            Some(width) => self.params.len() / width,
            None => 1,
        }
    }
}

/// The parts of a SELECT over one entity.
#[derive(Clone, Copy)]
pub(crate) struct SelectSpec<'a> {
    pub meta: &'static EntityMeta,
    pub filter: Option<&'a Node>,
    pub order: &'a [(&'static str, Direction)],
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

pub(crate) fn build(dialect: Dialect, stmt: &impl QueryStatementWriter) -> Statement {
    let (sql, values) = dialect.spec().build(stmt);
    Statement::new(sql, from_sea_values(values))
}

fn base_select(dialect: Dialect, spec: &SelectSpec<'_>) -> SelectStatement {
    let mut q = Query::select();
    q.from(spec.meta.table);
    if let Some(node) = spec.filter {
        q.cond_where(condition(node, dialect));
    }
    q
}

/// `SELECT <all columns> FROM <table> [WHERE] [ORDER BY] [LIMIT] [OFFSET]`.
pub(crate) fn select(dialect: Dialect, spec: &SelectSpec<'_>) -> Statement {
    let mut q = base_select(dialect, spec);
    q.columns(spec.meta.columns.iter().map(|c| c.name));
    order_and_page(dialect, spec, &[], &mut q);
    build(dialect, &q)
}

/// The spec's ORDER BY columns, then `then` (expressions), then LIMIT and
/// OFFSET.
fn order_and_page(
    dialect: Dialect,
    spec: &SelectSpec<'_>,
    then: &[(String, Direction)],
    q: &mut SelectStatement,
) {
    let dir = |d: &Direction| match d {
        Direction::Asc => SeaOrder::Asc,
        Direction::Desc => SeaOrder::Desc,
    };
    for (column, direction) in spec.order {
        q.order_by(*column, dir(direction));
    }
    for (sql, direction) in then {
        q.order_by_expr(Expr::cust(sql.clone()), dir(direction));
    }
    page(dialect, spec.limit, spec.offset, q);
}

/// LIMIT and OFFSET.
fn page(dialect: Dialect, limit: Option<u64>, offset: Option<u64>, q: &mut SelectStatement) {
    match (limit, offset) {
        (Some(l), _) => {
            q.limit(l);
        }
        // No OFFSET without LIMIT there: the largest LIMIT stands in for "all".
        (None, Some(_)) if dialect.spec().offset_needs_limit => {
            q.limit(i64::MAX as u64);
        }
        _ => {}
    }
    if let Some(o) = offset {
        q.offset(o);
    }
}

/// `SELECT COUNT(*) FROM <table> [WHERE]`.
pub(crate) fn count(dialect: Dialect, spec: &SelectSpec<'_>) -> Statement {
    let mut q = base_select(dialect, spec);
    q.expr(Func::count(Expr::col(Asterisk)));
    build(dialect, &q)
}

/// `UPDATE <table> SET <column> = <value>, .. [, <version> = <version> + 1]
/// [WHERE <filter>]`: a bulk update by filter.
pub(crate) fn update_where(
    dialect: Dialect,
    meta: &'static EntityMeta,
    set: &[(&'static str, Value)],
    bump_version: Option<&'static str>,
    filter: Option<&Node>,
) -> Statement {
    let mut q = Query::update();
    q.table(meta.table);
    for (column, value) in set {
        q.value(*column, Expr::val(to_sea(value)));
    }
    if let Some(v) = bump_version {
        // Written in, not bound: the constant is part of the statement.
        q.value(v, Expr::cust(format!("{} + 1", quote(dialect, v))));
    }
    if let Some(node) = filter {
        q.cond_where(condition(node, dialect));
    }
    build(dialect, &q)
}

/// `DELETE FROM <table> [WHERE <filter>]`: a bulk delete by filter.
pub(crate) fn delete_where(
    dialect: Dialect,
    meta: &'static EntityMeta,
    filter: Option<&Node>,
) -> Statement {
    let mut q = Query::delete();
    q.from_table(meta.table);
    if let Some(node) = filter {
        q.cond_where(condition(node, dialect));
    }
    build(dialect, &q)
}

/// A multi-row INSERT of `rows` into `columns` (positions in `meta.columns`),
/// with `RETURNING <key>` when asked.
pub(crate) fn insert(
    dialect: Dialect,
    meta: &'static EntityMeta,
    columns: &[usize],
    rows: &[Vec<Value>],
    returning: Option<&'static str>,
) -> Statement {
    let mut q: InsertStatement = Query::insert();
    q.into_table(meta.table);
    if columns.is_empty() {
        q.or_default_values_many(rows.len() as u32);
    } else {
        q.columns(columns.iter().map(|&i| meta.columns[i].name));
        for row in rows {
            q.values_panic(columns.iter().map(|&i| Expr::val(to_sea(&row[i]))));
        }
    }
    let mut stmt = build(dialect, &q);
    if let Some(key) = returning {
        // sea-query's MySQL writer has no RETURNING (MySQL lacks it); MariaDB
        // has it, so the clause is appended here for every dialect alike.
        stmt.sql = format!("{} RETURNING {}", stmt.sql, quote(dialect, key)).into();
    }
    stmt
}

/// A multi-row INSERT of `rows` (full rows, metadata order) into the
/// columns at `columns`, which on a conflict with an existing row on
/// `target` (PostgreSQL, SQLite; MySQL: any unique key) updates `update`
/// to the new row's values, and bumps `version` by one (`None` for
/// `update`: DO NOTHING).
pub(crate) fn upsert(
    dialect: Dialect,
    meta: &'static EntityMeta,
    columns: &[usize],
    rows: &[Vec<Value>],
    target: &[&'static str],
    update: Option<&[&'static str]>,
    version: Option<&'static str>,
) -> Statement {
    let mut q: InsertStatement = Query::insert();
    q.into_table(meta.table);
    q.columns(columns.iter().map(|&i| meta.columns[i].name));
    for row in rows {
        q.values_panic(columns.iter().map(|&i| Expr::val(to_sea(&row[i]))));
    }
    let mut on = sea_query::OnConflict::columns(target.iter().copied());
    match update {
        Some(cols) if !cols.is_empty() || version.is_some() => {
            on.update_columns(cols.iter().copied());
            if let Some(v) = version {
                let column = format!("{}.{}", quote(dialect, meta.table), quote(dialect, v));
                on.value(v, Expr::cust(format!("{column} + 1")));
            }
        }
        // Nothing to change, or DO NOTHING: MySQL's stand-in sets the
        // first target column to itself.
        _ => {
            on.do_nothing_on(target.iter().copied().take(1));
        }
    }
    q.on_conflict(on);
    build(dialect, &q)
}

/// `SELECT <all columns> FROM <table> WHERE (<columns>) IN (<tuples>)`.
pub(crate) fn select_tuples(
    dialect: Dialect,
    meta: &'static EntityMeta,
    columns: &[&'static str],
    tuples: &[Vec<Value>],
) -> Statement {
    let mut q = Query::select();
    q.from(meta.table);
    q.columns(meta.columns.iter().map(|c| c.name));
    let any = tuples.iter().fold(Condition::any(), |c, t| {
        c.add(
            columns
                .iter()
                .zip(t)
                .fold(Condition::all(), |all, (col, v)| {
                    all.add(Expr::col(*col).eq(Expr::val(to_sea(v))))
                }),
        )
    });
    q.cond_where(any);
    build(dialect, &q)
}

/// The GROUP BY and HAVING of a typed select.
pub(crate) struct Grouping<'a> {
    pub group_by: &'a [ExprNode],
    /// `aggregate op value`, the aggregate written for the dialect.
    pub having: &'a [(String, CmpOp, Value)],
    /// `a op b` between two items.
    pub having_items: &'a [(ExprNode, CmpOp, ExprNode)],
}

/// A SELECT of expressions (`items`: SQL fragments with quoted
/// identifiers) from an entity's table, with the query's filter, GROUP BY
/// columns, HAVING comparisons (`expression op value`), ORDER BY, LIMIT and
/// OFFSET.
pub(crate) fn select_items(
    dialect: Dialect,
    spec: &SelectSpec<'_>,
    items: &[ExprNode],
    labels: &[Option<&'static str>],
    grouping: &Grouping<'_>,
    distinct: bool,
    expr_order: &[(String, Direction)],
) -> Statement {
    let Grouping {
        group_by,
        having,
        having_items,
    } = grouping;
    let mut q = base_select(dialect, spec);
    if distinct {
        q.distinct();
    }
    for (e, label) in items.iter().zip(labels) {
        match label {
            Some(name) => q.expr_as(item(dialect, e), Alias::new(*name)),
            None => q.expr(item(dialect, e)),
        };
    }
    for g in group_by.iter() {
        q.add_group_by([item(dialect, g)]);
    }
    for (sql, op, value) in having.iter() {
        q.and_having(compare(
            Expr::cust(sql.clone()),
            *op,
            Expr::val(to_sea(value)),
        ));
    }
    for (a, op, b) in having_items.iter() {
        let sql = |e| Expr::cust(expr_sql(dialect, e, None));
        q.and_having(compare(sql(a), *op, sql(b)));
    }
    order_and_page(dialect, spec, expr_order, &mut q);
    build(dialect, &q)
}

/// One side of a typed join: its table's rows as a derived table named
/// `alias`, its own filter inside (so that the filter's unqualified column
/// names cannot clash with the other side's).
pub(crate) struct JoinSide<'a> {
    pub meta: &'static EntityMeta,
    pub filter: Option<&'a Node>,
    pub alias: &'static str,
}

/// How one more side joins the ones before it.
pub(crate) struct JoinStep<'a> {
    /// LEFT JOIN (the side may be missing) or INNER JOIN.
    pub outer: bool,
    /// `alias.a = side.b AND ..`: an earlier side's alias and column, the
    /// joined side's column.
    pub on: &'a [(&'static str, &'static str, &'static str)],
}

/// A typed select over joined entities (`query::joined`): every
/// expression comes with the alias of the side whose columns it reads.
pub(crate) struct JoinSpec<'a> {
    /// The query's own entity first, then each joined one.
    pub sides: &'a [JoinSide<'a>],
    /// How each side after the first joins (one fewer than `sides`).
    pub steps: &'a [JoinStep<'a>],
    pub items: &'a [(&'static str, ExprNode)],
    /// Each item's `AS` name, if any.
    pub labels: &'a [Option<&'static str>],
    pub group_by: &'a [(&'static str, ExprNode)],
    pub having: &'a [(&'static str, ExprNode, CmpOp, Value)],
    /// `HAVING a op b` between two items (an aggregate and a column ..).
    pub having_items: &'a [HavingItems],
    pub distinct: bool,
    pub order: &'a [(&'static str, ExprNode, Direction)],
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// `HAVING a op b`: each side an item with the alias of the entity it reads.
pub(crate) type HavingItems = ((&'static str, ExprNode), CmpOp, (&'static str, ExprNode));

/// `SELECT <items> FROM (SELECT .. FROM left WHERE ..) l [LEFT] JOIN
/// (SELECT .. FROM right WHERE ..) r ON l.a = r.b [[LEFT] JOIN (..) s ON
/// ..] [GROUP BY] [HAVING] [ORDER BY] [LIMIT]`. Every backend's planner merges such derived tables
/// into the join (PostgreSQL's subquery pull-up, MariaDB's derived_merge,
/// SQLite's flattener), so they cost nothing at run time.
pub(crate) fn select_joined(dialect: Dialect, spec: &JoinSpec<'_>) -> Statement {
    let side = |s: &JoinSide<'_>| {
        let mut q = Query::select();
        q.from(s.meta.table);
        q.columns(s.meta.columns.iter().map(|c| c.name));
        if let Some(node) = s.filter {
            q.cond_where(condition(node, dialect));
        }
        q
    };
    let sql = |alias: &str, e: &ExprNode| Expr::cust(expr_sql(dialect, e, Some(alias)));
    let mut q = Query::select();
    let (first, joined) = spec
        .sides
        .split_first()
        .expect("a join has its query's own side");
    q.from_subquery(side(first), first.alias);
    for (s, step) in joined.iter().zip(spec.steps) {
        let on = step.on.iter().fold(Condition::all(), |c, (alias, a, b)| {
            c.add(Expr::col((*alias, *a)).equals((s.alias, *b)))
        });
        let kind = if step.outer {
            JoinType::LeftJoin
        } else {
            JoinType::InnerJoin
        };
        q.join_subquery(kind, side(s), s.alias, on);
    }
    if spec.distinct {
        q.distinct();
    }
    for ((alias, e), label) in spec.items.iter().zip(spec.labels) {
        match label {
            Some(name) => q.expr_as(sql(alias, e), Alias::new(*name)),
            None => q.expr(sql(alias, e)),
        };
    }
    for (alias, e) in spec.group_by {
        q.add_group_by([sql(alias, e)]);
    }
    for (alias, e, op, value) in spec.having {
        q.and_having(compare(sql(alias, e), *op, Expr::val(to_sea(value))));
    }
    for ((la, le), op, (ra, re)) in spec.having_items {
        q.and_having(compare(sql(la, le), *op, sql(ra, re)));
    }
    for (alias, e, direction) in spec.order {
        let d = match direction {
            Direction::Asc => SeaOrder::Asc,
            Direction::Desc => SeaOrder::Desc,
        };
        q.order_by_expr(sql(alias, e), d);
    }
    page(dialect, spec.limit, spec.offset, &mut q);
    build(dialect, &q)
}

/// `SELECT COUNT(*) FROM (<statement>) AS t`: the rows a select returns,
/// counted by the database (its parameters unchanged).
pub(crate) fn count_of(stmt: &Statement) -> Statement {
    Statement::new(
        format!("SELECT COUNT(*) FROM ({}) t", stmt.sql()),
        stmt.params().to_vec(),
    )
}

/// Quotes an identifier for the dialect.
pub(crate) fn quote(dialect: Dialect, ident: &str) -> String {
    dialect.spec().quote(ident)
}

fn condition(node: &Node, dialect: Dialect) -> Condition {
    match node {
        Node::And(nodes) => nodes
            .iter()
            .fold(Condition::all(), |c, n| c.add(condition(n, dialect))),
        Node::Or(nodes) => nodes
            .iter()
            .fold(Condition::any(), |c, n| c.add(condition(n, dialect))),
        Node::Not(inner) => condition(inner, dialect).not(),
        leaf => Condition::all().add(expr(leaf, dialect)),
    }
}

fn expr(node: &Node, dialect: Dialect) -> Expr {
    match node {
        Node::Compare(col, op, v) => compare(
            Expr::col(*col),
            *op,
            Expr::val(to_sea(&compared(dialect, *op, v.clone()))),
        ),
        Node::InSub(col, sub, negated) => Expr::col(*col).binary(
            if *negated {
                BinOper::NotIn
            } else {
                BinOper::In
            },
            Expr::SubQuery(None, Box::new(subquery(dialect, sub))),
        ),
        Node::Exists(sub, negated) => {
            let e = Expr::SubQuery(Some(SubQueryOper::Exists), Box::new(subquery(dialect, sub)));
            if *negated { e.not() } else { e }
        }
        Node::CmpSub(col, op, sub) => compare(
            Expr::col(*col),
            *op,
            Expr::SubQuery(None, Box::new(subquery(dialect, sub))),
        ),
        Node::Contains(col, element, negated) => {
            let c = quote(dialect, col);
            let sql = match dialect {
                // A NULL element makes `= ANY` NULL: not a match either way
                // (as JSON_CONTAINS and json_each see it).
                Dialect::Postgres if *negated => {
                    format!("({c} IS NOT NULL AND ($1 = ANY({c})) IS NOT TRUE)")
                }
                Dialect::Postgres => format!("$1 = ANY({c})"),
                Dialect::MySql => format!("JSON_CONTAINS({c}, JSON_ARRAY(?))"),
                // json_each(NULL) is empty: NOT EXISTS would match a NULL
                // array, which the other backends do not.
                Dialect::Sqlite if *negated => {
                    format!(
                        "({c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each({c}) WHERE value = ?))"
                    )
                }
                Dialect::Sqlite => format!("EXISTS (SELECT 1 FROM json_each({c}) WHERE value = ?)"),
            };
            let e = Expr::cust_with_values(sql, [to_sea(&element_param(dialect, element.clone()))]);
            if *negated && dialect == Dialect::MySql {
                e.not()
            } else {
                e
            }
        }
        Node::ArraySet(col, op, elem, set) => {
            let mut c = quote(dialect, col);
            if dialect == Dialect::Postgres && *elem == Elem::Text {
                // A `varchar(n)[]` column has no operator with the `text[]`
                // parameter: compare as text[] (a no-op on a text[] column,
                // whose index stays usable).
                c.push_str("::text[]");
            }
            let sql = match (dialect, op) {
                (Dialect::Postgres, SetOp::Overlaps) => format!("{c} && $1"),
                (Dialect::Postgres, SetOp::ContainsAll) => format!("{c} @> $1"),
                (Dialect::Postgres, SetOp::ContainedBy) => format!("{c} <@ $1"),
                (Dialect::MySql, SetOp::Overlaps) => format!("JSON_OVERLAPS({c}, ?)"),
                (Dialect::MySql, SetOp::ContainsAll) => format!("JSON_CONTAINS({c}, ?)"),
                (Dialect::MySql, SetOp::ContainedBy) => format!("JSON_CONTAINS(?, {c})"),
                // json_each(NULL) is empty: a NULL array is refused first,
                // as the servers' NULL result refuses it.
                (Dialect::Sqlite, SetOp::Overlaps) => format!(
                    "EXISTS (SELECT 1 FROM json_each({c}) AS a, json_each(?) AS b WHERE a.value = b.value)"
                ),
                (Dialect::Sqlite, SetOp::ContainsAll) => format!(
                    "({c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each(?) AS b \
                     WHERE NOT EXISTS (SELECT 1 FROM json_each({c}) AS a WHERE a.value = b.value)))"
                ),
                // A NULL element is in no set (as PostgreSQL's `<@` and
                // MySQL's JSON_CONTAINS see it).
                (Dialect::Sqlite, SetOp::ContainedBy) => format!(
                    "({c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each({c}) AS a \
                     WHERE a.value IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(?) AS b WHERE b.value = a.value)))"
                ),
            };
            Expr::cust_with_values(sql, [to_sea(set)])
        }
        Node::ArrayLen(col, op, n) => {
            let c = quote(dialect, col);
            let len = match dialect {
                Dialect::Postgres => format!("cardinality({c})"),
                Dialect::MySql => format!("JSON_LENGTH({c})"),
                Dialect::Sqlite => format!("json_array_length({c})"),
            };
            compare(Expr::cust(len), *op, Expr::val(to_sea(n)))
        }
        Node::IsNull(col, false) => Expr::col(*col).is_null(),
        Node::IsNull(col, true) => Expr::col(*col).is_not_null(),
        Node::Like(col, pattern, negated) => {
            let c = Expr::col(*col);
            let p = Expr::val(pattern.as_str());
            if *negated {
                c.binary(sea_query::BinOper::NotLike, p)
            } else {
                c.binary(sea_query::BinOper::Like, p)
            }
        }
        // An empty list is a constant predicate with no placeholder.
        Node::In(_, values, negated) if values.is_empty() => {
            Expr::cust(if *negated { "1 = 1" } else { "1 = 0" })
        }
        Node::In(col, values, negated) if as_array(dialect, values) => {
            any_array(dialect, col, to_sea(&array_of(values)), *negated)
        }
        Node::InArray(col, marker, negated) => any_array(dialect, col, to_sea(marker), *negated),
        Node::InJson(col, list, negated, elem) => {
            json_subquery(dialect, col, list, *negated, *elem)
        }
        Node::In(col, values, negated) => {
            let vals = values.iter().map(to_sea);
            if *negated {
                Expr::col(*col).is_not_in(vals)
            } else {
                Expr::col(*col).is_in(vals)
            }
        }
        Node::And(_) | Node::Or(_) | Node::Not(_) => {
            Expr::cust("1 = 1").and(condition(node, dialect))
        }
    }
}

fn compare(left: Expr, op: CmpOp, right: Expr) -> Expr {
    match op {
        CmpOp::Eq => left.eq(right),
        CmpOp::Ne => left.ne(right),
        CmpOp::Lt => left.lt(right),
        CmpOp::Le => left.lte(right),
        CmpOp::Gt => left.gt(right),
        CmpOp::Ge => left.gte(right),
    }
}

/// An aggregate's SQL. Each has one SQL type per backend, so that it
/// decodes to one Rust type everywhere (see `query::select`).
pub(crate) fn agg_sql(dialect: Dialect, func: AggFunc, column: &str) -> String {
    match func {
        AggFunc::CountAll => "COUNT(*)".into(),
        f => agg_of(dialect, f, &quote(dialect, column)),
    }
}

/// An aggregate of `c`, an expression already written for `dialect`.
fn agg_of(dialect: Dialect, func: AggFunc, c: &str) -> String {
    match (func, dialect) {
        (AggFunc::CountAll, _) => "COUNT(*)".into(),
        (AggFunc::Count, _) => format!("COUNT({c})"),
        (AggFunc::SumInt, Dialect::Postgres) => format!("CAST(SUM({c}) AS BIGINT)"),
        (AggFunc::SumInt, Dialect::MySql) => format!("CAST(SUM({c}) AS SIGNED)"),
        (AggFunc::SumInt, Dialect::Sqlite) => format!("SUM({c})"),
        (AggFunc::SumReal, Dialect::Postgres) => format!("CAST(SUM({c}) AS DOUBLE PRECISION)"),
        (AggFunc::SumReal, Dialect::MySql) => format!("(SUM({c}) + 0e0)"),
        (AggFunc::SumReal, Dialect::Sqlite) => format!("(SUM({c}) + 0.0)"),
        // NUMERIC / DECIMAL sums stay exact on the servers; SQLite sums the
        // numbers it keeps.
        (AggFunc::SumExact, _) => format!("SUM({c})"),
        (AggFunc::Avg, Dialect::Postgres) => format!("CAST(AVG({c}) AS DOUBLE PRECISION)"),
        (AggFunc::Avg, Dialect::MySql) => format!("(AVG({c}) + 0e0)"),
        (AggFunc::Avg, Dialect::Sqlite) => format!("AVG({c})"),
        (AggFunc::Min, _) => format!("MIN({c})"),
        (AggFunc::Max, _) => format!("MAX({c})"),
    }
}

/// A select expression for `dialect`.
pub(crate) fn item(dialect: Dialect, e: &ExprNode) -> Expr {
    item_in(dialect, e, None)
}

/// A select expression whose columns are qualified by `table` (an alias
/// in a join), or unqualified.
pub(crate) fn item_in(dialect: Dialect, e: &ExprNode, table: Option<&str>) -> Expr {
    match (e, table) {
        (ExprNode::Column(c), None) => Expr::col(*c),
        (ExprNode::Sub(sub), _) => Expr::SubQuery(None, Box::new(subquery(dialect, sub))),
        _ => Expr::cust(expr_sql(dialect, e, table)),
    }
}

/// The SQL of an expression (identifiers quoted, qualified by `table`).
pub(crate) fn expr_sql(dialect: Dialect, e: &ExprNode, table: Option<&str>) -> String {
    let q = |c: &str| match table {
        Some(t) => format!("{}.{}", quote(dialect, t), quote(dialect, c)),
        None => quote(dialect, c),
    };
    match (e, dialect) {
        (ExprNode::Column(c), _) => q(c),
        (ExprNode::One, _) => "1".to_string(),
        (ExprNode::Int(n), _) => n.to_string(),
        (ExprNode::Agg(AggFunc::CountAll, _), _) => "COUNT(*)".into(),
        (ExprNode::Agg(f, c), _) => agg_of(dialect, *f, &q(c)),
        (ExprNode::Lower(e), _) => format!("LOWER({})", expr_sql(dialect, e, table)),
        (ExprNode::Upper(e), _) => format!("UPPER({})", expr_sql(dialect, e, table)),
        // Characters, not bytes, everywhere; a 64-bit count.
        (ExprNode::Length(e), Dialect::Postgres) => {
            format!("CAST(LENGTH({}) AS BIGINT)", expr_sql(dialect, e, table))
        }
        (ExprNode::Length(e), Dialect::MySql) => {
            format!("CHAR_LENGTH({})", expr_sql(dialect, e, table))
        }
        (ExprNode::Length(e), Dialect::Sqlite) => {
            format!("LENGTH({})", expr_sql(dialect, e, table))
        }
        (ExprNode::Arith(a, op, b), _) => format!(
            "({} {op} {})",
            expr_sql(dialect, a, table),
            expr_sql(dialect, b, table)
        ),
        (ExprNode::Raw(sql), _) => sql.clone(),
        (ExprNode::Text(t), _) => literal(dialect, Value::Text(t.clone())),
        (ExprNode::Concat(a, b), Dialect::MySql) => format!(
            "CONCAT({}, {})",
            expr_sql(dialect, a, table),
            expr_sql(dialect, b, table)
        ),
        (ExprNode::Concat(a, b), _) => format!(
            "({} || {})",
            expr_sql(dialect, a, table),
            expr_sql(dialect, b, table)
        ),
        (ExprNode::Trim(e), _) => format!("TRIM({})", expr_sql(dialect, e, table)),
        (ExprNode::Substr(e, start, len), _) => {
            format!("SUBSTR({}, {start}, {len})", expr_sql(dialect, e, table))
        }
        (ExprNode::DatePart(part, c, zoned), _) => date_part(dialect, *part, &q(c), *zoned),
        (ExprNode::Case(case), _) => {
            let mut sql = String::from("CASE");
            for (when, then) in &case.whens {
                sql.push_str(" WHEN ");
                sql.push_str(&inline_condition(dialect, when));
                sql.push_str(" THEN ");
                sql.push_str(&expr_sql(dialect, then, table));
            }
            if let Some(e) = &case.otherwise {
                sql.push_str(" ELSE ");
                sql.push_str(&expr_sql(dialect, e, table));
            }
            sql.push_str(" END");
            sql
        }
        // The typed API never puts a subquery inside an expression (a
        // scalar subquery is a select item or a comparison of its own).
        (ExprNode::Sub(_), _) => "NULL".to_string(),
    }
}

/// A value as a SQL literal, quoted and escaped by sea-query for the
/// dialect (MySQL's backslashes included).
fn literal(dialect: Dialect, v: Value) -> String {
    let mut q = Query::select();
    q.expr(enums::inline(|| Expr::val(to_sea(&v))));
    let sql = dialect.spec().inline(&q);
    sql.strip_prefix("SELECT ").unwrap_or(&sql).to_string()
}

/// A filter as SQL text, its values written in as literals (a CASE's
/// condition: a select expression has no parameters of its own).
fn inline_condition(dialect: Dialect, node: &Node) -> String {
    let mut q = Query::select();
    q.expr(Expr::cust("1"));
    q.cond_where(enums::inline(|| condition(node, dialect)));
    let sql = dialect.spec().inline(&q);
    // "SELECT 1 WHERE <condition>": the first WHERE is the statement's own.
    match sql.split_once(" WHERE ") {
        Some((_, cond)) => format!("({cond})"),
        None => "(1 = 1)".to_string(),
    }
}

/// A date part as a 64-bit integer on every backend; a `DateTime<Utc>`
/// read in UTC (PostgreSQL's `timestamptz` would follow the session zone).
fn date_part(dialect: Dialect, part: DatePart, c: &str, zoned: bool) -> String {
    let (pg, my, lite) = match part {
        DatePart::Year => ("YEAR", "YEAR", "%Y"),
        DatePart::Month => ("MONTH", "MONTH", "%m"),
        DatePart::Day => ("DAY", "DAYOFMONTH", "%d"),
        DatePart::Hour => ("HOUR", "HOUR", "%H"),
    };
    match dialect {
        Dialect::Postgres if zoned => {
            format!("CAST(EXTRACT({pg} FROM {c} AT TIME ZONE 'UTC') AS BIGINT)")
        }
        Dialect::Postgres => format!("CAST(EXTRACT({pg} FROM {c}) AS BIGINT)"),
        Dialect::MySql => format!("CAST({my}({c}) AS SIGNED)"),
        Dialect::Sqlite => format!("CAST(strftime('{lite}', {c}) AS INTEGER)"),
    }
}

/// The alias of a subquery's table when it is correlated with a query of
/// its own table (see [`SubNode::aliased`]).
const SUB_ALIAS: &str = "_s";

/// A subquery: a SELECT of its item, or a tree walk.
fn subquery(dialect: Dialect, sub: &SubNode) -> SubQueryStatement {
    if let Some(tree) = sub.tree {
        return SubQueryStatement::WithStatement(tree_walk(dialect, sub, tree));
    }
    let mut q = Query::select();
    if sub.aliased() {
        q.from_as(sub.table, Alias::new(SUB_ALIAS));
    } else {
        q.from(sub.table);
    }
    q.expr(item(dialect, &sub.item));
    let mut cond = Condition::all();
    if let Some(f) = &sub.filter {
        cond = cond.add(condition(f, dialect));
    }
    // Unqualified inner columns name the innermost table (SQL's scoping);
    // the outer one is named by its table.
    for (inner, table, outer) in &sub.correlate {
        cond = cond.add(Expr::col(*inner).equals((*table, *outer)));
    }
    if !cond.is_empty() {
        q.cond_where(cond);
    }
    SubQueryStatement::SelectStatement(q)
}

/// `WITH RECURSIVE _tree(_k, _p) AS (SELECT key, parent FROM t WHERE
/// <start> UNION SELECT c.key, c.parent FROM t AS c JOIN _tree ON <step>)
/// SELECT _k FROM _tree`. UNION (not UNION ALL) drops rows already seen,
/// so a cycle in the data ends the walk instead of looping.
fn tree_walk(dialect: Dialect, sub: &SubNode, tree: Tree) -> sea_query::WithQuery {
    let (cte, k, p, c) = ("_tree", "_k", "_p", "_c");
    let mut start = Query::select();
    start
        .from(sub.table)
        .expr_as(Expr::col(tree.key), Alias::new(k))
        .expr_as(Expr::col(tree.parent), Alias::new(p));
    if let Some(f) = &sub.filter {
        start.cond_where(condition(f, dialect));
    }
    let on = if tree.down {
        Expr::col((c, tree.parent)).equals((cte, k))
    } else {
        Expr::col((c, tree.key)).equals((cte, p))
    };
    let mut step = Query::select();
    step.from_as(sub.table, Alias::new(c))
        .expr(Expr::col((c, tree.key)))
        .expr(Expr::col((c, tree.parent)))
        .join(JoinType::InnerJoin, cte, on);
    start.union(UnionType::Distinct, step);
    let cte_expr = CommonTableExpression::new()
        .query(start)
        .columns([Alias::new(k), Alias::new(p)])
        .table_name(Alias::new(cte))
        .to_owned();
    let mut with = WithClause::new();
    with.recursive(true).cte(cte_expr);
    let mut outer = Query::select();
    outer.column(Alias::new(k)).from(Alias::new(cte));
    with.query(outer)
}

/// Lists at least this long travel as one array on PostgreSQL
/// (`= ANY($1)`): measured slower than an IN list up to about 100 values and
/// faster from about 1,000 (see `query/templated.rs`).
pub(crate) const ARRAY_MIN: usize = 512;

/// Whether a list long enough to travel as one array parameter can (its
/// elements are of one type the backend's arrays hold).
pub(crate) fn use_array(values: &[Value]) -> bool {
    values.len() >= ARRAY_MIN && crate::backend::postgres::array_element_supported(values)
}

/// Whether this IN list becomes one array parameter in `dialect`.
pub(crate) fn as_array(dialect: Dialect, values: &[Value]) -> bool {
    dialect.spec().array_lists && use_array(values)
}

/// How the elements of a JSON list parameter ([`json_list`]) become values
/// of the column's type, which the SQL around `json_each` / `JSON_TABLE`
/// must say (it is part of a query's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum JsonElem {
    /// Integers and booleans (0/1).
    Integer,
    Real,
    /// Text, and on SQLite every type it stores as text (timestamps, dates,
    /// times, JSON). On MySQL, with the `VARCHAR` width of its column in
    /// `JSON_TABLE` (see [`varchar_width`]; 0 on SQLite).
    Text(u16),
    /// Bytes and uuids: hex strings decoded by `unhex` / `UNHEX`; width as
    /// for text.
    Hex(u16),
    /// MySQL only: `DATETIME(6)`, `DATE`, `TIME(6)` text.
    DateTime,
    Date,
    Time,
}

impl JsonElem {
    /// A byte for shape keys: the kind and, for text, its width class.
    pub(crate) fn tag(self) -> u8 {
        let width = |w: u16| {
            if w == 0 {
                0
            } else {
                w.trailing_zeros() as u8 + 1
            }
        };
        match self {
            JsonElem::Integer => 0,
            JsonElem::Real => 1,
            JsonElem::DateTime => 2,
            JsonElem::Date => 3,
            JsonElem::Time => 4,
            JsonElem::Text(w) => 32 + width(w),
            JsonElem::Hex(w) => 64 + width(w),
        }
    }
}

/// A list as one JSON array text, each value written as the backend stores
/// it (`backend::sqlite::stored` on SQLite: a subquery over `json_each`
/// then yields exactly the values a bound list would), and the kind of its
/// elements. `None` when the list cannot travel as JSON: values of several
/// kinds, or one JSON has no form for (NaN).
pub(crate) fn json_list(dialect: Dialect, values: &[Value]) -> Option<(Value, JsonElem)> {
    let mut out = String::with_capacity(values.len() * 8 + 2);
    let mut kind: Option<JsonElem> = None;
    let mut widest = 0;
    out.push('[');
    // A JSON element is text or a double: a decimal would not compare
    // exactly with its column (a plain IN list carries it instead).
    if values
        .iter()
        .any(|v| matches!(v, Value::Decimal(_) | Value::Inet(_)))
    {
        return None;
    }
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let elem = match dialect.spec().json_lists? {
            JsonLists::JsonEach => json_sqlite(v, &mut out)?,
            JsonLists::JsonTable => json_mysql(v, &mut out)?,
        };
        let Some((elem, chars)) = elem else { continue };
        widest = std::cmp::max(widest, chars);
        match kind {
            None => kind = Some(elem),
            Some(k) if std::mem::discriminant(&k) == std::mem::discriminant(&elem) => {}
            Some(_) => return None,
        }
    }
    out.push(']');
    let width = if dialect.spec().json_lists == Some(JsonLists::JsonTable) {
        varchar_width(widest)
    } else {
        0
    };
    let kind = match kind.unwrap_or(JsonElem::Integer) {
        JsonElem::Text(_) => JsonElem::Text(width),
        JsonElem::Hex(_) => JsonElem::Hex(width),
        other => other,
    };
    Some((Value::Text(out), kind))
}

/// The `VARCHAR` width of a text column of `JSON_TABLE` for values of at
/// most `chars` characters: a power of two from 16 (so a shape has a
/// handful of widths, not one per length), never less than the longest
/// value (a narrower column truncates with only a warning, and a truncated
/// value could match a row it should not), 0 for `LONGTEXT` past
/// `VARCHAR`'s 16,383 characters. Why not always `LONGTEXT`: MariaDB then
/// cannot index the materialized subquery and compares every row with
/// every value (65,535 names against 3,000 rows: 52 s, against 48 ms for
/// `VARCHAR(32)`, MariaDB 10.11).
fn varchar_width(chars: usize) -> u16 {
    const MAX: usize = 16_383;
    match chars.max(16).next_power_of_two() {
        w if w <= MAX => w as u16,
        _ if chars <= MAX => MAX as u16,
        _ => 0,
    }
}

/// Writes a JSON string.
fn json_text(s: &str, out: &mut String) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

/// Writes a JSON number for a float (`None` for NaN, which JSON has not).
fn json_real(f: f64, out: &mut String) -> Option<()> {
    use std::fmt::Write;
    if f.is_nan() {
        return None;
    }
    if f.is_infinite() {
        // Out of range for a double: SQLite's JSON parser reads it as infinity.
        out.push_str(if f > 0.0 { "9e999" } else { "-9e999" });
        return Some(());
    }
    // `{:?}` is the shortest text that reads back as the same double.
    let _ = write!(out, "{f:?}");
    Some(())
}

fn json_hex(bytes: &[u8], out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out.push('"');
}

/// One element as SQLite stores the value; its kind (`None` for NULL).
fn json_sqlite(v: &Value, out: &mut String) -> Option<Option<(JsonElem, usize)>> {
    use crate::backend::sqlite::{Stored, stored};
    use std::fmt::Write;
    Some(Some((
        match stored(v).ok()? {
            Stored::Null => {
                out.push_str("null");
                return Some(None);
            }
            Stored::Integer(n) => {
                let _ = write!(out, "{n}");
                JsonElem::Integer
            }
            Stored::Real(f) => {
                json_real(f, out)?;
                JsonElem::Real
            }
            Stored::Text(t) => {
                json_text(&t, out);
                JsonElem::Text(0)
            }
            Stored::Blob(b) => {
                json_hex(b, out);
                JsonElem::Hex(0)
            }
        },
        0,
    )))
}

/// One element as MySQL receives the bound value; its kind (`None` for NULL).
fn json_mysql(v: &Value, out: &mut String) -> Option<Option<(JsonElem, usize)>> {
    use std::fmt::Write;
    const DATETIME: &str = "%Y-%m-%d %H:%M:%S%.6f";
    let mut chars = 0;
    let elem = match v {
        Value::Null(_) => {
            out.push_str("null");
            return Some(None);
        }
        Value::Bool(b) => {
            out.push_str(if *b { "1" } else { "0" });
            JsonElem::Integer
        }
        Value::I16(n) => {
            let _ = write!(out, "{n}");
            JsonElem::Integer
        }
        Value::I32(n) => {
            let _ = write!(out, "{n}");
            JsonElem::Integer
        }
        Value::I64(n) => {
            let _ = write!(out, "{n}");
            JsonElem::Integer
        }
        Value::F32(f) => {
            json_real(f64::from(*f), out).filter(|()| f.is_finite())?;
            JsonElem::Real
        }
        Value::F64(f) => {
            json_real(*f, out).filter(|()| f.is_finite())?;
            JsonElem::Real
        }
        Value::Text(t) => {
            json_text(t, out);
            chars = t.chars().count();
            JsonElem::Text(0)
        }
        Value::Json(j) => {
            let t = j.to_string();
            json_text(&t, out);
            chars = t.chars().count();
            JsonElem::Text(0)
        }
        // Compared with an ENUM column as its label.
        Value::Enum(t, i) => {
            let label = t.label(*i);
            json_text(label, out);
            chars = label.chars().count();
            JsonElem::Text(0)
        }
        Value::Bytes(b) => {
            json_hex(b, out);
            chars = b.len() * 2;
            JsonElem::Hex(0)
        }
        Value::Uuid(u) => {
            json_hex(u.as_bytes(), out);
            chars = 32;
            JsonElem::Hex(0)
        }
        Value::Timestamp(t) => {
            json_text(&t.format(DATETIME).to_string(), out);
            JsonElem::DateTime
        }
        // DATETIME(6) holds UTC, as the MySQL binder sends it.
        Value::TimestampTz(t) => {
            json_text(&t.naive_utc().format(DATETIME).to_string(), out);
            JsonElem::DateTime
        }
        Value::Date(d) => {
            json_text(&d.format("%Y-%m-%d").to_string(), out);
            JsonElem::Date
        }
        Value::Time(t) => {
            json_text(&t.format("%H:%M:%S%.6f").to_string(), out);
            JsonElem::Time
        }
        Value::Array(..) | Value::Decimal(_) | Value::Inet(_) => return None,
    };
    Some(Some((elem, chars)))
}

/// `col [NOT] IN (SELECT .. FROM json_each(?))` on SQLite,
/// `col [NOT] IN (SELECT .. FROM JSON_TABLE(?, ..))` on MySQL: a list of any
/// length as one parameter, and a predicate like any other (it can sit
/// under OR and NOT, beside LIMIT and ORDER BY), with IN's NULL semantics
/// (a NULL in a NOT IN list matches no row, as in a literal list).
fn json_subquery(
    dialect: Dialect,
    col: &'static str,
    list: &Value,
    negated: bool,
    elem: JsonElem,
) -> Expr {
    let not = if negated { "NOT " } else { "" };
    let column = quote(dialect, col);
    let sql = match dialect.spec().json_lists.unwrap_or(JsonLists::JsonEach) {
        JsonLists::JsonTable => {
            // The binary collation of the ORM's tables: equality is exact,
            // as with bound text.
            let text = |w: u16| match w {
                0 => "LONGTEXT".to_string(),
                w => format!("VARCHAR({w})"),
            };
            let ty = match elem {
                JsonElem::Integer => "BIGINT".to_string(),
                JsonElem::Real => "DOUBLE".to_string(),
                JsonElem::Text(w) => {
                    format!("{} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", text(w))
                }
                JsonElem::Hex(w) => format!("{} CHARACTER SET ascii", text(w)),
                JsonElem::DateTime => "DATETIME(6)".to_string(),
                JsonElem::Date => "DATE".to_string(),
                JsonElem::Time => "TIME(6)".to_string(),
            };
            let value = if matches!(elem, JsonElem::Hex(_)) {
                "UNHEX(j.v)"
            } else {
                "j.v"
            };
            format!(
                "{column} {not}IN (SELECT {value} FROM JSON_TABLE(?, '$[*]' COLUMNS (v {ty} PATH '$')) AS j)"
            )
        }
        JsonLists::JsonEach => {
            let value = if matches!(elem, JsonElem::Hex(_)) {
                "unhex(value)"
            } else {
                "value"
            };
            format!("{column} {not}IN (SELECT {value} FROM json_each(?))")
        }
    };
    Expr::cust_with_values(sql, [to_sea(list)])
}

/// `col = ANY($n)` / `col <> ALL($n)` (PostgreSQL only, so quoted its way).
fn any_array(dialect: Dialect, col: &'static str, array: sea_query::Value, negated: bool) -> Expr {
    let op = if negated { "<> ALL($1)" } else { "= ANY($1)" };
    Expr::cust_with_values(format!("{} {op}", quote(dialect, col)), [array])
}

/// The value a comparison binds. MySQL orders an ENUM column by its
/// index but compares it with text as text: `<`, `>` .. bind the label's
/// 1-based index, which MySQL compares with the column's (equality keeps
/// the label, which an index on the column serves).
pub(crate) fn compared(dialect: Dialect, op: CmpOp, v: Value) -> Value {
    match (dialect, op, v) {
        (Dialect::MySql, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge, Value::Enum(_, i)) => {
            Value::I64(i64::from(i) + 1)
        }
        (_, _, v) => v,
    }
}

fn to_sea(v: &Value) -> sea_query::Value {
    use sea_query::Value as S;
    match v {
        Value::Null(t) => match t {
            SqlType::SmallInt | SqlType::U8 => S::SmallInt(None),
            SqlType::Integer | SqlType::U16 => S::Int(None),
            SqlType::BigInt | SqlType::U32 => S::BigInt(None),
            SqlType::U64 => S::Decimal(None),
            SqlType::Real => S::Float(None),
            SqlType::Double => S::Double(None),
            SqlType::Boolean => S::Bool(None),
            SqlType::Text => S::String(None),
            SqlType::Bytes => S::Bytes(None),
            SqlType::Timestamp => S::ChronoDateTime(None),
            SqlType::TimestampTz => S::ChronoDateTimeUtc(None),
            SqlType::Date => S::ChronoDate(None),
            SqlType::Time => S::ChronoTime(None),
            SqlType::Uuid => S::Uuid(None),
            SqlType::Json => S::Json(None),
            SqlType::Decimal => S::Decimal(None),
            SqlType::Inet | SqlType::Cidr => S::IpNetwork(None),
            SqlType::Array(elem) => S::Array(array_type(*elem), None),
            SqlType::Enum(ty) => enums::to_sea(ty, None),
        },
        Value::Bool(b) => S::Bool(Some(*b)),
        Value::I16(n) => S::SmallInt(Some(*n)),
        Value::I32(n) => S::Int(Some(*n)),
        Value::I64(n) => S::BigInt(Some(*n)),
        Value::F32(f) => S::Float(Some(*f)),
        Value::F64(f) => S::Double(Some(*f)),
        Value::Text(s) => S::String(Some(s.clone())),
        Value::Bytes(b) => S::Bytes(Some(b.clone())),
        Value::Timestamp(t) => S::ChronoDateTime(Some(*t)),
        Value::TimestampTz(t) => S::ChronoDateTimeUtc(Some(*t)),
        Value::Date(d) => S::ChronoDate(Some(*d)),
        Value::Time(t) => S::ChronoTime(Some(*t)),
        Value::Uuid(u) => S::Uuid(Some(*u)),
        Value::Decimal(d) => S::Decimal(Some(*d)),
        Value::Inet(n) => S::IpNetwork(Some(*n)),
        Value::Json(j) => S::Json(Some(j.clone())),
        Value::Enum(ty, i) => enums::to_sea(ty, Some(*i)),
        Value::Array(elem, items) => S::Array(
            array_type(*elem),
            Some(Box::new(items.iter().map(to_sea).collect())),
        ),
    }
}

/// An array element as the parameter of a `contains` filter: a UUID is
/// text in MySQL's and SQLite's JSON arrays (everything else binds as is;
/// a template's integer markers pass through unchanged).
pub(crate) fn element_param(dialect: Dialect, v: Value) -> Value {
    match (dialect, v) {
        (Dialect::MySql | Dialect::Sqlite, Value::Uuid(u)) => Value::Text(u.to_string()),
        (_, v) => v,
    }
}

/// A list as one array value, typed by its first element (the typed API
/// puts one type in a list; an empty list never travels as an array).
pub(crate) fn array_of(values: &[Value]) -> Value {
    let elem = values.first().and_then(Elem::of).unwrap_or(Elem::BigInt);
    Value::Array(elem, values.to_vec())
}

fn array_type(elem: Elem) -> sea_query::ArrayType {
    use sea_query::ArrayType as A;
    match elem {
        Elem::SmallInt => A::SmallInt,
        Elem::Integer => A::Int,
        Elem::BigInt => A::BigInt,
        Elem::Real => A::Float,
        Elem::Double => A::Double,
        Elem::Boolean => A::Bool,
        Elem::Text => A::String,
        Elem::Bytes => A::Bytes,
        Elem::Timestamp => A::ChronoDateTime,
        Elem::TimestampTz => A::ChronoDateTimeUtc,
        Elem::Date => A::ChronoDate,
        Elem::Time => A::ChronoTime,
        Elem::Uuid => A::Uuid,
        Elem::Decimal => A::Decimal,
        Elem::Inet => A::IpNetwork,
    }
}

fn elem_of(ty: &sea_query::ArrayType) -> Elem {
    use sea_query::ArrayType as A;
    match ty {
        A::SmallInt | A::TinyInt => Elem::SmallInt,
        A::Int => Elem::Integer,
        A::Float => Elem::Real,
        A::Double => Elem::Double,
        A::Bool => Elem::Boolean,
        A::String | A::Char => Elem::Text,
        A::Bytes => Elem::Bytes,
        A::ChronoDateTime => Elem::Timestamp,
        A::ChronoDateTimeUtc => Elem::TimestampTz,
        A::ChronoDate => Elem::Date,
        A::ChronoTime => Elem::Time,
        A::Uuid => Elem::Uuid,
        A::Decimal => Elem::Decimal,
        A::IpNetwork => Elem::Inet,
        _ => Elem::BigInt,
    }
}

/// Enum values through sea-query and back. The ORM binds an enum value
/// with its type (PostgreSQL: as the enum type, by name), never casts it in
/// the SQL: a template (rendered with markers) and a plain build of the
/// same statement must be the same text. sea-query's own enum value would
/// be written `$1::"type"` with a text parameter on PostgreSQL, so enum
/// values travel through sea-query as a code in `Value::Unsigned`, a
/// variant the ORM never creates otherwise: the noted type's index and
/// the label's index (`NULL_LABEL` for a typed NULL). Rendered inline (a
/// CASE's literal, see [`inline`]) they are their label's text instead.
mod enums {
    use std::cell::Cell;
    use std::sync::RwLock;

    use crate::value::{EnumType, SqlType, Value};

    static NOTED: RwLock<Vec<&'static EnumType>> = RwLock::new(Vec::new());

    const NULL_LABEL: u32 = 0xFFFF;

    thread_local! {
        static INLINE: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` with enum values rendered as their labels' text literals.
    pub(super) fn inline<T>(f: impl FnOnce() -> T) -> T {
        /// Restores the mode, also when `f` panics.
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                INLINE.with(|i| i.set(self.0));
            }
        }
        let _restore = Restore(INLINE.with(|i| i.replace(true)));
        f()
    }

    fn index(ty: &'static EnumType) -> u32 {
        let same = |t: &&'static EnumType| std::ptr::eq(*t, ty);
        if let Some(i) = NOTED
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .position(same)
        {
            return i as u32;
        }
        let mut noted = NOTED.write().unwrap_or_else(|e| e.into_inner());
        match noted.iter().position(same) {
            Some(i) => i as u32,
            None => {
                noted.push(ty);
                (noted.len() - 1) as u32
            }
        }
    }

    /// An enum value (`label: None`, a NULL of the type) for sea-query.
    pub(super) fn to_sea(ty: &'static EnumType, label: Option<u16>) -> sea_query::Value {
        if INLINE.with(Cell::get) {
            return sea_query::Value::String(label.map(|i| ty.label(i).to_string()));
        }
        let label = label.map_or(NULL_LABEL, u32::from);
        sea_query::Value::Unsigned(Some((index(ty) << 16) | label))
    }

    /// The ORM's value of a code [`to_sea`] made.
    pub(super) fn back(code: u32) -> Value {
        let noted = NOTED.read().unwrap_or_else(|e| e.into_inner());
        match noted.get((code >> 16) as usize) {
            Some(ty) if code & 0xFFFF == NULL_LABEL => Value::Null(SqlType::Enum(ty)),
            Some(ty) => Value::Enum(ty, (code & 0xFFFF) as u16),
            // Never: only `to_sea` makes the variant.
            None => Value::I64(i64::from(code)),
        }
    }
}

fn from_sea_values(values: Values) -> Vec<Value> {
    values.0.into_iter().map(from_sea).collect()
}

fn from_sea(v: sea_query::Value) -> Value {
    use sea_query::Value as S;
    fn or_null<T>(v: Option<T>, t: SqlType, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null(t), f)
    }
    match v {
        S::Bool(v) => or_null(v, SqlType::Boolean, Value::Bool),
        S::TinyInt(v) => or_null(v, SqlType::SmallInt, |n| Value::I16(n.into())),
        S::SmallInt(v) => or_null(v, SqlType::SmallInt, Value::I16),
        S::Int(v) => or_null(v, SqlType::Integer, Value::I32),
        S::BigInt(v) => or_null(v, SqlType::BigInt, Value::I64),
        S::TinyUnsigned(v) => or_null(v, SqlType::SmallInt, |n| Value::I16(n.into())),
        S::SmallUnsigned(v) => or_null(v, SqlType::Integer, |n| Value::I32(n.into())),
        // Only an enum value travels as this variant (see `enums`).
        S::Unsigned(Some(code)) => enums::back(code),
        S::Unsigned(None) => Value::Null(SqlType::BigInt),
        // sea-query emits these for LIMIT/OFFSET; clamp, as no table is that large.
        S::BigUnsigned(v) => or_null(v, SqlType::BigInt, |n| {
            Value::I64(i64::try_from(n).unwrap_or(i64::MAX))
        }),
        S::Float(v) => or_null(v, SqlType::Real, Value::F32),
        S::Double(v) => or_null(v, SqlType::Double, Value::F64),
        S::String(v) => or_null(v, SqlType::Text, Value::Text),
        S::Char(v) => or_null(v, SqlType::Text, |c| Value::Text(c.to_string())),
        S::Bytes(v) => or_null(v, SqlType::Bytes, Value::Bytes),
        S::Json(v) => or_null(v, SqlType::Json, Value::Json),
        S::ChronoDate(v) => or_null(v, SqlType::Date, Value::Date),
        S::ChronoTime(v) => or_null(v, SqlType::Time, Value::Time),
        S::ChronoDateTime(v) => or_null(v, SqlType::Timestamp, Value::Timestamp),
        S::ChronoDateTimeUtc(v) => or_null(v, SqlType::TimestampTz, Value::TimestampTz),
        S::ChronoDateTimeLocal(v) => {
            or_null(v, SqlType::TimestampTz, |d| Value::TimestampTz(d.to_utc()))
        }
        S::ChronoDateTimeWithTimeZone(v) => {
            or_null(v, SqlType::TimestampTz, |d| Value::TimestampTz(d.to_utc()))
        }
        S::Uuid(v) => or_null(v, SqlType::Uuid, Value::Uuid),
        S::Decimal(v) => or_null(v, SqlType::Decimal, Value::Decimal),
        S::IpNetwork(v) => or_null(v, SqlType::Inet, Value::Inet),
        S::Array(t, Some(items)) => {
            Value::Array(elem_of(&t), items.into_iter().map(from_sea).collect())
        }
        S::Array(t, None) => Value::Null(SqlType::Array(elem_of(&t))),
        // The ORM never creates sea-query's own enum values (see `enums`).
        other => Value::Text(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::meta::{EntityMeta, test_column};

    static USERS: EntityMeta = EntityMeta {
        name: "User",
        table: "users",
        columns: &[
            test_column("id", SqlType::BigInt),
            test_column("select", SqlType::Text),
        ],
        relations: &[],
        indexes: &[],
        writes: std::sync::atomic::AtomicU64::new(0),
    };

    fn spec(filter: Option<&Node>) -> SelectSpec<'_> {
        SelectSpec {
            meta: &USERS,
            filter,
            order: &[("select", Direction::Desc)],
            limit: Some(10),
            offset: Some(5),
        }
    }

    #[test]
    fn keywords_are_quoted_and_values_bound() {
        let f = Node::And(vec![
            Node::Compare("select", CmpOp::Eq, Value::Text("it's".into())),
            Node::In("id", vec![Value::I64(1), Value::I64(2)], false),
        ]);
        let pg = select(Dialect::Postgres, &spec(Some(&f)));
        assert_eq!(
            pg.sql(),
            r#"SELECT "id", "select" FROM "users" WHERE "select" = $1 AND "id" IN ($2, $3) ORDER BY "select" DESC LIMIT $4 OFFSET $5"#
        );
        assert_eq!(pg.params()[0], Value::Text("it's".into()));
        let my = select(Dialect::MySql, &spec(Some(&f)));
        assert!(
            my.sql()
                .starts_with("SELECT `id`, `select` FROM `users` WHERE `select` = ?"),
            "{}",
            my.sql()
        );
    }

    #[test]
    fn empty_in_lists_are_constant_predicates() {
        let none = Node::In("id", vec![], false);
        let all = Node::In("id", vec![], true);
        let s = select(Dialect::Sqlite, &spec(Some(&none)));
        assert!(s.sql().contains("WHERE 1 = 0"), "{}", s.sql());
        let s = select(Dialect::Sqlite, &spec(Some(&all)));
        assert!(s.sql().contains("WHERE 1 = 1"), "{}", s.sql());
    }

    #[test]
    fn long_postgres_lists_are_one_array() {
        let long: Vec<Value> = (0..ARRAY_MIN as i64).map(Value::I64).collect();
        let f = Node::In("id", long.clone(), false);
        let pg = select(Dialect::Postgres, &spec(Some(&f)));
        assert!(pg.sql().contains(r#""id" = ANY($1)"#), "{}", pg.sql());
        assert_eq!(pg.params()[0], Value::Array(Elem::BigInt, long.clone()));
        let not = Node::In("id", long.clone(), true);
        assert!(
            select(Dialect::Postgres, &spec(Some(&not)))
                .sql()
                .contains(r#""id" <> ALL($1)"#)
        );
        // Other dialects, and short lists, keep IN.
        assert!(
            select(Dialect::MySql, &spec(Some(&f)))
                .sql()
                .contains("IN (?, ?")
        );
        let short = Node::In("id", long[..3].to_vec(), false);
        assert!(
            select(Dialect::Postgres, &spec(Some(&short)))
                .sql()
                .contains("IN ($1, $2, $3)")
        );
    }

    #[test]
    fn insert_appends_returning() {
        let rows = vec![
            vec![Value::I64(0), Value::Text("a".into())],
            vec![Value::I64(0), Value::Text("b".into())],
        ];
        let s = insert(Dialect::Postgres, &USERS, &[1], &rows, Some("id"));
        assert_eq!(
            s.sql(),
            r#"INSERT INTO "users" ("select") VALUES ($1), ($2) RETURNING "id""#
        );
        assert_eq!(s.params().len(), 2);
    }
}
