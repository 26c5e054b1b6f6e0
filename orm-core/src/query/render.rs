//! Rendering: filters, orderings and entity metadata become SQL text plus
//! bound parameters for one dialect, through sea-query.
//!
//! Values are always bound, never spliced: sea-query emits a placeholder per
//! value (`$n` on PostgreSQL, `?` elsewhere) and hands the values back, which
//! are converted to the ORM's [`Value`]s for the backend seam.
//! (The SQL-template cache of `orm-cache` will sit in front of this module;
//! until then every statement is built fresh.)

use std::sync::Arc;

use sea_query::{
    Asterisk, Condition, Expr, ExprTrait, Func, InsertStatement, MysqlQueryBuilder,
    Order as SeaOrder, PostgresQueryBuilder, Query, QueryStatementWriter, SelectStatement,
    SqliteQueryBuilder, Values,
};

use crate::backend::Dialect;
use crate::column::{CmpOp, Direction, Node};
use crate::meta::EntityMeta;
use crate::value::{SqlType, Value};

/// A statement ready to run: SQL text and its parameters in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sql: Arc<str>,
    pub(crate) params: Vec<Value>,
}

impl Statement {
    /// Wraps hand-written SQL (placeholders in the backend's own style).
    pub fn new(sql: impl Into<Arc<str>>, params: Vec<Value>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
        }
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn params(&self) -> &[Value] {
        &self.params
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
    let (sql, values) = match dialect {
        Dialect::Postgres => stmt.build(PostgresQueryBuilder),
        Dialect::MySql => stmt.build(MysqlQueryBuilder),
        Dialect::Sqlite => stmt.build(SqliteQueryBuilder),
    };
    Statement {
        sql: sql.into(),
        params: from_sea_values(values),
    }
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
    for (column, direction) in spec.order {
        let dir = match direction {
            Direction::Asc => SeaOrder::Asc,
            Direction::Desc => SeaOrder::Desc,
        };
        q.order_by(*column, dir);
    }
    match (spec.limit, spec.offset) {
        (Some(l), _) => {
            q.limit(l);
        }
        // MySQL has no OFFSET without LIMIT; the largest LIMIT stands in for "all".
        (None, Some(_)) if dialect != Dialect::Postgres => {
            q.limit(i64::MAX as u64);
        }
        _ => {}
    }
    if let Some(o) = spec.offset {
        q.offset(o);
    }
    build(dialect, &q)
}

/// `SELECT COUNT(*) FROM <table> [WHERE]`.
pub(crate) fn count(dialect: Dialect, spec: &SelectSpec<'_>) -> Statement {
    let mut q = base_select(dialect, spec);
    q.expr(Func::count(Expr::col(Asterisk)));
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

/// Quotes an identifier for the dialect.
pub(crate) fn quote(dialect: Dialect, ident: &str) -> String {
    match dialect {
        Dialect::MySql => format!("`{}`", ident.replace('`', "``")),
        _ => format!("\"{}\"", ident.replace('"', "\"\"")),
    }
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
        Node::Compare(col, op, v) => {
            let (c, v) = (Expr::col(*col), to_sea(v));
            match op {
                CmpOp::Eq => c.eq(v),
                CmpOp::Ne => c.ne(v),
                CmpOp::Lt => c.lt(v),
                CmpOp::Le => c.lte(v),
                CmpOp::Gt => c.gt(v),
                CmpOp::Ge => c.gte(v),
            }
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
        Node::In(col, values, negated) if dialect == Dialect::Postgres && use_array(values) => {
            any_array(col, to_sea(&Value::Array(values.clone())), *negated)
        }
        Node::InArray(col, marker, negated) => any_array(col, to_sea(marker), *negated),
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

/// Lists at least this long travel as one array on PostgreSQL
/// (`= ANY($1)`): measured slower than an IN list up to about 100 values and
/// faster from about 1,000 (see `query/templated.rs`).
pub(crate) const ARRAY_MIN: usize = 512;

/// Whether a PostgreSQL IN list becomes one array parameter.
pub(crate) fn use_array(values: &[Value]) -> bool {
    values.len() >= ARRAY_MIN && crate::backend::postgres::array_element_supported(values)
}

/// `col = ANY($n)` / `col <> ALL($n)` (PostgreSQL only, so quoted its way).
fn any_array(col: &'static str, array: sea_query::Value, negated: bool) -> Expr {
    let op = if negated { "<> ALL($1)" } else { "= ANY($1)" };
    Expr::cust_with_values(format!("{} {op}", quote(Dialect::Postgres, col)), [array])
}

fn to_sea(v: &Value) -> sea_query::Value {
    use sea_query::Value as S;
    match v {
        Value::Null(t) => match t {
            SqlType::SmallInt => S::SmallInt(None),
            SqlType::Integer => S::Int(None),
            SqlType::BigInt => S::BigInt(None),
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
        Value::Json(j) => S::Json(Some(j.clone())),
        Value::Array(items) => {
            let ty = match items.first() {
                Some(Value::I32(_)) => sea_query::ArrayType::Int,
                Some(Value::I16(_)) => sea_query::ArrayType::SmallInt,
                Some(Value::Text(_)) => sea_query::ArrayType::String,
                Some(Value::Uuid(_)) => sea_query::ArrayType::Uuid,
                _ => sea_query::ArrayType::BigInt,
            };
            S::Array(ty, Some(Box::new(items.iter().map(to_sea).collect())))
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
        S::Unsigned(v) => or_null(v, SqlType::BigInt, |n| Value::I64(n.into())),
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
        S::Array(_, Some(items)) => Value::Array(items.into_iter().map(from_sea).collect()),
        // The ORM never creates other variants (enums, arrays): render them as text.
        other => Value::Text(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{EntityMeta, test_column};

    static USERS: EntityMeta = EntityMeta {
        name: "User",
        table: "users",
        columns: &[
            test_column("id", SqlType::BigInt),
            test_column("select", SqlType::Text),
        ],
        relations: &[],
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
        assert_eq!(pg.params()[0], Value::Array(long.clone()));
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
