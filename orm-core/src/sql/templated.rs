//! SELECTs through the template cache of `orm-cache`.
//!
//! A query's *shape* is its entity, dialect, kind (rows or count), the
//! structure of its filter (node kinds, columns, operators, which arguments
//! are lists and which lists are empty), its ORDER BY and whether it has a
//! LIMIT and an OFFSET. Values are never part of it. On a miss the query is
//! rendered once by sea-query with a marker in place of every value and
//! compiled; binding then costs a walk over the filter to collect the values
//! and one pass over the template's pieces.
//!
//! Lists are padded to powers of two by default, so `IN` lists of 1 to 1,000
//! values make 11 statement texts per shape rather than 1,000 (the server's
//! and sqlx's prepared-statement caches stay small).
//!
//! On PostgreSQL a list of [`render::ARRAY_MIN`] (512) values or more of one
//! integer, text or uuid type travels as one array parameter, `col = ANY($1)`
//! or `col <> ALL($1)`: one statement text whatever the length, never split,
//! and faster for long lists. Measured with raw sqlx on this machine (median
//! µs per query, 100,000-row table, one connection; `benches -- in-lists`):
//!
//! | values | IN, exact | IN, padded | `= ANY($1)` |
//! |---:|---:|---:|---:|
//! | 1 | 122 | 130 | 157 |
//! | 10 | 127 | 129 | 148 |
//! | 100 | 251 | 247 | 251 |
//! | 1,000 | 1,203 | 1,194 | 930 |
//! | 10,000 | 14,220 | 16,412 | 10,234 |
//!
//! so short lists stay IN (ANY costs ~20% there) and long ones take the
//! array. Padding costs nothing measurable for short lists and ~15% at
//! 10,000 values, which the array path avoids. MySQL and SQLite have no array
//! parameters: they keep padded IN lists, split at the bind limit. Measured
//! the same way (exact vs padded IN, µs per query):
//!
//! | values | MariaDB exact | MariaDB padded | SQLite exact | SQLite padded |
//! |---:|---:|---:|---:|---:|
//! | 1 | 148 | 143 | 59 | 58 |
//! | 10 | 169 | 174 | 64 | 66 |
//! | 100 | 337 | 342 | 142 | 144 |
//! | 1,000 | 1,915 | 1,900 | 1,133 | 1,213 |
//! | 10,000 | 21,408 | 24,555 | 9,424 | 9,588 |
//!
//! Padding is free up to 1,000 values on both and costs up to ~15% (MariaDB)
//! and ~2% (SQLite) at 10,000; it buys a bounded statement cache, so it stays.
//!
//! Past the bind limit (SQLite 32,766, MySQL 65,535 parameters):
//!
//! * one positive `IN` outside OR/NOT, in a query without LIMIT/OFFSET, is
//!   split into several statements whose rows are combined (sorted again
//!   when the query has an ORDER BY; counts added up over de-duplicated
//!   values): splitting is a union, which is what IN means;
//! * every other long list (NOT IN, a list under OR or NOT, any list of a
//!   query with LIMIT/OFFSET or of a limited count) would be wrong split: a
//!   NOT IN is an intersection of its chunks, a page or a count of a union
//!   of pages is not the page or count of the query. Such a list becomes
//!   one JSON array parameter read by a subquery, `col NOT IN (SELECT value
//!   FROM json_each(?))` on SQLite, `col NOT IN (SELECT j.v FROM
//!   JSON_TABLE(?, '$[*]' COLUMNS (v BIGINT PATH '$')) AS j)` on MySQL
//!   (MariaDB 10.6+, MySQL 8.0.4+), so the query stays one statement and
//!   every predicate, order, page and count is the server's own. Values
//!   stay bound (one text parameter, each value written as the backend
//!   stores it, see [`render::json_list`]); the shape records which lists
//!   travel so and their element kind, never their values. Lists are
//!   converted longest first, only as many as needed (see [`fit`]).
//!
//! PostgreSQL needs neither: a list of 512 values or more of any scalar
//! type is one array. What is still refused, with a clear error rather
//! than sent to fail on the server, is a list of values JSON or a
//! PostgreSQL array cannot carry (mixed types, NaN in JSON).
//!
//! Layer 1 (the SQL layer): it uses only what is below it (see `crate::layers`).

use std::sync::Arc;

use orm_cache::template::{
    Arg, Mode, Padding, Placeholders, Resolved, ShapeKey, Template, TemplateCache,
};

use super::render::{self, SelectSpec, Statement};
use crate::backend::Dialect;
use crate::error::{Error, Result};
use crate::model::column::{CmpOp, Direction, Node};
use crate::model::expr::{ExprNode, SubNode};
use crate::value::{Elem, Value};

/// Template settings of a database.
#[derive(Debug, Clone)]
pub struct TemplateOptions {
    /// Shapes kept (least recently useful ones are evicted).
    pub capacity: usize,
    /// How much templates are checked (verify on store by default).
    pub mode: Mode,
    /// Padding of bound lists.
    pub padding: Padding,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            capacity: 4096,
            mode: Mode::VerifyOnStore,
            padding: Padding::PowerOfTwo,
        }
    }
}

/// Where a SELECT's statements come from: the database's template cache,
/// list padding and bind limit, and its dialect.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub cache: &'a TemplateCache,
    pub padding: Padding,
    pub bind_limit: usize,
    pub dialect: Dialect,
}

/// What kind of SELECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rows,
    Count,
}

fn placeholders(dialect: Dialect) -> Placeholders {
    dialect.spec().placeholders
}

fn op_tag(op: CmpOp) -> u8 {
    match op {
        CmpOp::Eq => 0,
        CmpOp::Ne => 1,
        CmpOp::Lt => 2,
        CmpOp::Le => 3,
        CmpOp::Gt => 4,
        CmpOp::Ge => 5,
    }
}

/// Writes a filter's shape into `key`, and adds the parameters it binds
/// to `counts` (unpadded, padded).
fn walk(
    dialect: Dialect,
    node: &Node,
    key: &mut ShapeKey,
    padding: Padding,
    counts: &mut (usize, usize),
) {
    let scalar = |counts: &mut (usize, usize)| {
        counts.0 += 1;
        counts.1 += 1;
    };
    match node {
        // Long lists on PostgreSQL: one array parameter, a shape of its own.
        Node::In(c, values, neg) if render::as_array(dialect, values) => {
            key.tag(9).name(c).tag(u8::from(*neg));
            scalar(counts);
        }
        Node::InArray(c, _, neg) => {
            key.tag(9).name(c).tag(u8::from(*neg));
            scalar(counts);
        }
        Node::InJson(c, _, neg, elem) => {
            key.tag(10).name(c).tag(u8::from(*neg)).tag(elem.tag());
            scalar(counts);
        }
        Node::Compare(c, op, _) => {
            key.tag(1).name(c).tag(op_tag(*op));
            scalar(counts);
        }
        Node::Contains(c, _, neg) => {
            key.tag(14).name(c).tag(u8::from(*neg));
            scalar(counts);
        }
        Node::ArraySet(c, op, elem, _) => {
            key.tag(30)
                .name(c)
                .tag(*op as u8)
                .tag(u8::from(*elem == Elem::Text));
            scalar(counts);
        }
        Node::ArrayLen(c, op, _) => {
            key.tag(31).name(c).tag(op_tag(*op));
            scalar(counts);
        }
        Node::IsNull(c, neg) => {
            key.tag(2).name(c).tag(u8::from(*neg));
        }
        Node::Like(c, _, neg) => {
            key.tag(3).name(c).tag(u8::from(*neg));
            scalar(counts);
        }
        Node::In(c, values, neg) => {
            key.tag(4)
                .name(c)
                .tag(u8::from(*neg))
                .tag(u8::from(values.is_empty()));
            counts.0 += values.len();
            if !values.is_empty() {
                counts.1 += padding.slots(values.len());
            }
        }
        Node::And(ns) | Node::Or(ns) => {
            key.tag(if matches!(node, Node::And(_)) { 5 } else { 6 })
                .number(ns.len() as u64);
            for n in ns {
                walk(dialect, n, key, padding, counts);
            }
        }
        Node::Not(n) => {
            key.tag(7);
            walk(dialect, n, key, padding, counts);
        }
        Node::InSub(c, sub, neg) => {
            key.tag(11).name(c).tag(u8::from(*neg));
            walk_sub(dialect, sub, key, padding, counts);
        }
        Node::Exists(sub, neg) => {
            key.tag(12).tag(u8::from(*neg));
            walk_sub(dialect, sub, key, padding, counts);
        }
        Node::CmpSub(c, op, sub) => {
            key.tag(13).name(c).tag(op_tag(*op));
            walk_sub(dialect, sub, key, padding, counts);
        }
    }
}

/// A subquery's shape: table, item, correlation, tree walk, then its
/// filter's (values in that order: the item's subquery, then the filter).
fn walk_sub(
    dialect: Dialect,
    sub: &SubNode,
    key: &mut ShapeKey,
    padding: Padding,
    counts: &mut (usize, usize),
) {
    key.name(sub.table);
    if let ExprNode::Sub(inner) = &sub.item {
        key.tag(8);
        walk_sub(dialect, inner, key, padding, counts);
    } else {
        item_shape(&sub.item, key);
    }
    key.number(sub.correlate.len() as u64);
    for (inner, table, outer) in &sub.correlate {
        key.name(inner).name(table).name(outer);
    }
    match sub.tree {
        Some(t) => key.tag(1).name(t.key).name(t.parent).tag(u8::from(t.down)),
        None => key.tag(0),
    };
    match &sub.filter {
        Some(n) => {
            key.tag(1);
            walk(dialect, n, key, padding, counts);
        }
        None => {
            key.tag(0);
        }
    }
}

/// The shape of a select expression without subqueries.
fn item_shape(e: &ExprNode, key: &mut ShapeKey) {
    match e {
        ExprNode::Column(c) => drop(key.tag(0).name(c)),
        ExprNode::Agg(f, c) => drop(key.tag(1).tag(f.tag()).name(c)),
        ExprNode::Lower(e) => {
            key.tag(2);
            item_shape(e, key);
        }
        ExprNode::Upper(e) => {
            key.tag(3);
            item_shape(e, key);
        }
        ExprNode::Length(e) => {
            key.tag(4);
            item_shape(e, key);
        }
        ExprNode::Arith(a, op, b) => {
            key.tag(5);
            item_shape(a, key);
            key.tag(*op as u8);
            item_shape(b, key);
        }
        ExprNode::Raw(sql) => drop(key.tag(6).text(sql)),
        ExprNode::One => drop(key.tag(7)),
        // The typed API puts no subquery inside an expression.
        ExprNode::Sub(_) => drop(key.tag(8)),
        ExprNode::Int(n) => drop(key.tag(9).number(*n as u64)),
        ExprNode::Text(t) => drop(key.tag(10).text(t)),
        ExprNode::Concat(a, b) => {
            key.tag(11);
            item_shape(a, key);
            item_shape(b, key);
        }
        ExprNode::Trim(e) => {
            key.tag(12);
            item_shape(e, key);
        }
        ExprNode::Substr(e, start, len) => {
            key.tag(13).number(*start as u64).number(*len as u64);
            item_shape(e, key);
        }
        ExprNode::DatePart(part, c, zoned) => {
            key.tag(14).tag(part.tag()).tag(u8::from(*zoned));
            key.name(c);
        }
        // Its filters' values are literals in its text: all of it is shape.
        ExprNode::Case(..) => drop(key.tag(15).text(&format!("{e:?}"))),
    }
}

/// A filter's arguments in placeholder order (the order of [`walk`]),
/// moved out: the filter keeps its shape but not its values, so it must not
/// be bound again (a borrowed filter is copied first, see [`cloned_args`]).
fn take_args(dialect: Dialect, node: &mut Node, args: &mut Vec<Arg<Value>>) {
    let take = |v: &mut Value| std::mem::replace(v, Value::Null(crate::value::SqlType::Text));
    match node {
        Node::In(_, values, _) if render::as_array(dialect, values) => {
            args.push(Arg::Scalar(render::array_of(&std::mem::take(values))));
        }
        Node::Compare(_, op, v) => args.push(Arg::Scalar(render::compared(dialect, *op, take(v)))),
        Node::InArray(_, v, _) | Node::InJson(_, v, _, _) => {
            args.push(Arg::Scalar(take(v)));
        }
        Node::Contains(_, v, _) => args.push(Arg::Scalar(render::element_param(dialect, take(v)))),
        Node::ArraySet(_, _, _, v) | Node::ArrayLen(_, _, v) => args.push(Arg::Scalar(take(v))),
        Node::IsNull(..) => {}
        Node::Like(_, pattern, _) => args.push(Arg::Scalar(Value::Text(std::mem::take(pattern)))),
        Node::In(_, values, _) => {
            if !values.is_empty() {
                args.push(Arg::List(std::mem::take(values)));
            }
        }
        Node::And(ns) | Node::Or(ns) => ns.iter_mut().for_each(|n| take_args(dialect, n, args)),
        Node::Not(n) => take_args(dialect, n, args),
        Node::InSub(_, sub, _) | Node::Exists(sub, _) | Node::CmpSub(_, _, sub) => {
            take_sub_args(dialect, sub, args)
        }
    }
}

fn take_sub_args(dialect: Dialect, sub: &mut SubNode, args: &mut Vec<Arg<Value>>) {
    if let ExprNode::Sub(inner) = &mut sub.item {
        take_sub_args(dialect, inner, args);
    }
    if let Some(n) = &mut sub.filter {
        take_args(dialect, n, args);
    }
}

/// The same walk, replacing every value by a marker (`I64(argument index)`).
fn skeleton(dialect: Dialect, node: &Node, next: &mut i64, lists: &mut Vec<bool>) -> Node {
    let mut marker = |list: bool| {
        let m = *next;
        *next += 1;
        lists.push(list);
        Value::I64(m)
    };
    match node {
        Node::Compare(c, op, _) => Node::Compare(c, *op, marker(false)),
        Node::Contains(c, _, neg) => Node::Contains(c, marker(false), *neg),
        Node::ArraySet(c, op, elem, _) => Node::ArraySet(c, *op, *elem, marker(false)),
        Node::ArrayLen(c, op, _) => Node::ArrayLen(c, *op, marker(false)),
        Node::IsNull(..) => node.clone(),
        Node::Like(c, _, neg) => {
            // A text marker: the pattern must stay a bound text value.
            let m = marker(false);
            let Value::I64(n) = m else { unreachable!() };
            Node::Like(c, format!("\u{1}{n}"), *neg)
        }
        Node::In(c, values, neg) if render::as_array(dialect, values) => {
            Node::InArray(c, marker(false), *neg)
        }
        Node::InArray(c, _, neg) => Node::InArray(c, marker(false), *neg),
        Node::InJson(c, _, neg, elem) => Node::InJson(c, marker(false), *neg, *elem),
        Node::In(c, values, neg) if values.is_empty() => Node::In(c, Vec::new(), *neg),
        Node::In(c, _, neg) => Node::In(c, vec![marker(true)], *neg),
        Node::And(ns) => Node::And(
            ns.iter()
                .map(|n| skeleton(dialect, n, next, lists))
                .collect(),
        ),
        Node::Or(ns) => Node::Or(
            ns.iter()
                .map(|n| skeleton(dialect, n, next, lists))
                .collect(),
        ),
        Node::Not(n) => Node::Not(Box::new(skeleton(dialect, n, next, lists))),
        Node::InSub(c, sub, neg) => {
            Node::InSub(c, Box::new(sub_skeleton(dialect, sub, next, lists)), *neg)
        }
        Node::Exists(sub, neg) => {
            Node::Exists(Box::new(sub_skeleton(dialect, sub, next, lists)), *neg)
        }
        Node::CmpSub(c, op, sub) => {
            Node::CmpSub(c, *op, Box::new(sub_skeleton(dialect, sub, next, lists)))
        }
    }
}

fn sub_skeleton(dialect: Dialect, sub: &SubNode, next: &mut i64, lists: &mut Vec<bool>) -> SubNode {
    let item = match &sub.item {
        ExprNode::Sub(inner) => ExprNode::Sub(Box::new(sub_skeleton(dialect, inner, next, lists))),
        other => other.clone(),
    };
    SubNode {
        item,
        filter: sub
            .filter
            .as_ref()
            .map(|n| skeleton(dialect, n, next, lists)),
        ..sub.clone()
    }
}

/// Reads the argument index back from a bound marker.
fn marker_index(v: &Value) -> Option<usize> {
    match v {
        Value::I64(n) => usize::try_from(*n).ok(),
        Value::Text(s) => s.strip_prefix('\u{1}').and_then(|n| n.parse().ok()),
        _ => None,
    }
}

fn fresh(dialect: Dialect, kind: Kind, spec: &SelectSpec<'_>) -> Statement {
    match kind {
        Kind::Rows => render::select(dialect, spec),
        Kind::Count => render::count(dialect, spec),
    }
}

fn compile(dialect: Dialect, kind: Kind, spec: &SelectSpec<'_>) -> Result<Template> {
    let mut next = 0;
    let mut lists = Vec::new();
    let node = spec
        .filter
        .map(|n| skeleton(dialect, n, &mut next, &mut lists));
    let mut limit = spec.limit;
    let mut offset = spec.offset;
    if kind == Kind::Rows {
        if limit.is_some() {
            limit = Some(next as u64);
            next += 1;
            lists.push(false);
        }
        if offset.is_some() {
            offset = Some(next as u64);
            lists.push(false);
        }
    }
    let marked = SelectSpec {
        meta: spec.meta,
        filter: node.as_ref(),
        order: spec.order,
        limit,
        offset,
    };
    let stmt = fresh(dialect, kind, &marked);
    let markers: Option<Vec<usize>> = stmt.params.iter().map(marker_index).collect();
    let markers = markers.ok_or_else(|| template_error(spec, "unexpected literal in the SQL"))?;
    Template::compile(&stmt.sql, &markers, &lists).map_err(|e| template_error(spec, e))
}

fn limit_args(kind: Kind, spec: &SelectSpec<'_>, args: &mut Vec<Arg<Value>>) {
    if kind == Kind::Rows {
        if let Some(l) = spec.limit {
            args.push(Arg::Scalar(Value::I64(
                i64::try_from(l).unwrap_or(i64::MAX),
            )));
        }
        if let Some(o) = spec.offset {
            args.push(Arg::Scalar(Value::I64(
                i64::try_from(o).unwrap_or(i64::MAX),
            )));
        }
    }
}

/// The shape key of a SELECT (whose filter is `filter`, not `spec.filter`)
/// and the parameters it binds (unpadded, padded with `padding`).
fn shape_key(
    dialect: Dialect,
    kind: Kind,
    spec: &SelectSpec<'_>,
    filter: Option<&Node>,
    padding: Padding,
) -> (ShapeKey, (usize, usize)) {
    let mut key = ShapeKey::new();
    key.tag(kind as u8).tag(dialect as u8).name(spec.meta.table);
    let mut counts = (0, 0);
    if let Some(n) = filter {
        walk(dialect, n, &mut key, padding, &mut counts);
    }
    for (c, d) in spec.order {
        key.tag(8).name(c).tag(u8::from(*d == Direction::Desc));
    }
    key.tag(u8::from(spec.limit.is_some()))
        .tag(u8::from(spec.offset.is_some()));
    let limits = usize::from(kind == Kind::Rows)
        * (usize::from(spec.limit.is_some()) + usize::from(spec.offset.is_some()));
    (key, (counts.0 + limits, counts.1 + limits))
}

/// The shape key of a SELECT and its arguments in placeholder order.
#[cfg(test)]
fn shape(dialect: Dialect, kind: Kind, spec: &SelectSpec<'_>) -> (ShapeKey, Vec<Arg<Value>>) {
    let (key, _) = shape_key(dialect, kind, spec, spec.filter, Padding::None);
    (key, cloned_args(dialect, kind, spec))
}

/// Every argument of a SELECT in placeholder order, copied (the filter is
/// copied and its copy's values taken: one walk for both paths).
fn cloned_args(dialect: Dialect, kind: Kind, spec: &SelectSpec<'_>) -> Vec<Arg<Value>> {
    let mut args = Vec::with_capacity(8);
    if let Some(n) = spec.filter {
        take_args(dialect, &mut n.clone(), &mut args);
    }
    limit_args(kind, spec, &mut args);
    args
}

/// MySQL and SQLite have no OFFSET without LIMIT: such a query gets a
/// stand-in LIMIT (see [`statements`]).
fn needs_stand_in_limit(dialect: Dialect, kind: Kind, spec: &SelectSpec<'_>) -> bool {
    kind == Kind::Rows
        && spec.offset.is_some()
        && spec.limit.is_none()
        && dialect.spec().offset_needs_limit
}

/// [`statements`] for a query that is consumed by running it: on a template
/// hit (the common case) the filter's values are moved into the statement's
/// parameters instead of copied, and `filter` is left without values. Any
/// other case (a miss, paranoid mode, a split list) takes the copying path.
/// `spec.filter` is ignored; `filter` is the query's filter.
pub(crate) fn statements_moving(
    env: Env<'_>,
    kind: Kind,
    spec: &SelectSpec<'_>,
    mut filter: Option<&mut Node>,
    use_cache: bool,
) -> Result<Vec<Statement>> {
    let Env {
        cache,
        padding,
        bind_limit,
        dialect,
    } = env;
    let usual = !needs_stand_in_limit(dialect, kind, spec);
    if use_cache && cache.enabled() && usual {
        let (key, (total, padded)) = shape_key(dialect, kind, spec, filter.as_deref(), padding);
        if total <= bind_limit && padded <= bind_limit {
            let template = {
                let spec = SelectSpec {
                    filter: filter.as_deref(),
                    ..*spec
                };
                match resolve(env, kind, &spec, &key)? {
                    Some(t) => t,
                    None => return Ok(vec![fresh(dialect, kind, &spec)]),
                }
            };
            // The template binds the filter's values, moved out of it.
            let mut args = Vec::with_capacity(8);
            if let Some(n) = filter.as_deref_mut() {
                take_args(dialect, n, &mut args);
            }
            limit_args(kind, spec, &mut args);
            let b = template
                .bind_owned(placeholders(dialect), args, padding)
                .map_err(|e| template_error(spec, e))?;
            return Ok(vec![Statement::new(b.sql, b.params)]);
        }
    }
    let spec = SelectSpec {
        filter: filter.as_deref(),
        ..*spec
    };
    statements(env, kind, &spec, use_cache)
}

/// Statements for a SELECT (several when a list is split at the bind limit).
pub(crate) fn statements(
    env: Env<'_>,
    kind: Kind,
    spec: &SelectSpec<'_>,
    use_cache: bool,
) -> Result<Vec<Statement>> {
    let Env { cache, dialect, .. } = env;
    // MySQL and SQLite have no OFFSET without LIMIT: make the stand-in LIMIT
    // an ordinary argument, as the plain renderer would bind it.
    let normalized;
    let spec = if needs_stand_in_limit(dialect, kind, spec) {
        normalized = SelectSpec {
            limit: Some(i64::MAX as u64),
            ..*spec
        };
        &normalized
    } else {
        spec
    };
    let fitted: Node;
    let mut spec = *spec;
    let (mut key, (total, _)) = shape_key(dialect, kind, &spec, spec.filter, Padding::None);
    if total > env.bind_limit
        && let Some(filter) = spec.filter
    {
        // Duplicates change no IN or NOT IN: without them a list may fit.
        let mut node = filter.clone();
        dedupe(&mut node);
        let (_, (total, _)) = shape_key(dialect, kind, &spec, Some(&node), Padding::None);
        if let Some(json) = fit(
            dialect,
            kind,
            &SelectSpec {
                filter: Some(&node),
                ..spec
            },
            env.bind_limit,
            total,
        ) {
            node = json;
        }
        fitted = node;
        spec.filter = Some(&fitted);
        key = shape_key(dialect, kind, &spec, spec.filter, Padding::None).0;
    }
    let args = cloned_args(dialect, kind, &spec);
    let cacheable = use_cache && cache.enabled();
    finish(env, kind, &spec, cacheable, key, args)
}

/// Sorts every IN list and drops its duplicates.
fn dedupe(node: &mut Node) {
    match node {
        Node::In(_, values, _) => {
            values.sort_by(|a, b| crate::value::compare(a, b, false));
            values.dedup_by(|a, b| crate::value::compare(a, b, false).is_eq() && a == b);
        }
        Node::And(ns) | Node::Or(ns) => ns.iter_mut().for_each(dedupe),
        Node::Not(n) => dedupe(n),
        _ => {}
    }
}

/// The IN lists of a filter that bind a parameter per value, in walk
/// order: (length, whether the query's rows could be split on it: a
/// positive IN outside any OR and NOT).
fn lists(dialect: Dialect, node: &Node, guarded: bool, out: &mut Vec<(usize, bool)>) {
    match node {
        Node::In(_, v, _) if v.is_empty() || render::as_array(dialect, v) => {}
        Node::In(_, v, neg) => out.push((v.len(), !neg && !guarded)),
        Node::And(ns) => ns.iter().for_each(|n| lists(dialect, n, guarded, out)),
        Node::Or(ns) => ns.iter().for_each(|n| lists(dialect, n, true, out)),
        Node::Not(n) => lists(dialect, n, true, out),
        _ => {}
    }
}

/// Turns the `nth` list of [`lists`] into one JSON parameter; false if its
/// values cannot travel as JSON.
fn to_json(dialect: Dialect, node: &mut Node, nth: usize, seen: &mut usize) -> bool {
    match node {
        Node::In(_, v, _) if v.is_empty() || render::as_array(dialect, v) => false,
        Node::In(c, v, neg) => {
            *seen += 1;
            if *seen - 1 != nth {
                return false;
            }
            match render::json_list(dialect, v) {
                Some((list, elem)) => {
                    *node = Node::InJson(c, list, *neg, elem);
                    true
                }
                None => false,
            }
        }
        // A list converted before: it keeps its place in the count.
        Node::InJson(..) => {
            *seen += 1;
            false
        }
        Node::And(ns) | Node::Or(ns) => ns.iter_mut().any(|n| to_json(dialect, n, nth, seen)),
        Node::Not(n) => to_json(dialect, n, nth, seen),
        _ => false,
    }
}

/// A filter rewritten to fit the bind limit, or `None` to keep it (it fits,
/// or nothing can be done and [`check_splittable`] will say why).
///
/// Splitting a query into several statements and adding up their rows is
/// sound only for one positive IN outside OR/NOT, with no LIMIT/OFFSET (a
/// NOT IN split would be a union where an intersection is meant, and a
/// split page or count is wrong). So on SQLite and MySQL, longest first,
/// every other list becomes one JSON parameter read by a subquery
/// ([`render::json_list`]) until the statement fits, or until what stays
/// beside the list being split takes at most half the limit (each part
/// then carries at least half the limit of the split list). PostgreSQL
/// needs none of this: long lists are already one array parameter.
fn fit(
    dialect: Dialect,
    kind: Kind,
    spec: &SelectSpec<'_>,
    bind_limit: usize,
    mut total: usize,
) -> Option<Node> {
    let filter = spec.filter?;
    if dialect.spec().array_lists {
        return None;
    }
    let splits = kind == Kind::Count || (spec.limit.is_none() && spec.offset.is_none());
    let mut found = Vec::new();
    lists(dialect, filter, false, &mut found);
    let split = (0..found.len())
        .filter(|&i| splits && found[i].1)
        .max_by_key(|&i| found[i].0);
    let beside = |total: usize| total - split.map_or(0, |i| found[i].0);
    let mut order: Vec<usize> = (0..found.len()).filter(|&i| Some(i) != split).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(found[i].0));
    let mut node = None;
    for i in order {
        if total <= bind_limit || (split.is_some() && beside(total) <= bind_limit / 2) {
            break;
        }
        let n = node.get_or_insert_with(|| filter.clone());
        if to_json(dialect, n, i, &mut 0) {
            total -= found[i].0 - 1;
        }
    }
    node
}

/// A shape's template by the cache's protocol (`TemplateCache::resolve`):
/// verified on store against the plain build, and on every use in paranoid
/// mode. `None`: build this statement the plain way.
fn resolve(
    env: Env<'_>,
    kind: Kind,
    spec: &SelectSpec<'_>,
    key: &ShapeKey,
) -> Result<Option<Arc<Template>>> {
    let dialect = env.dialect;
    let matches = |t: &Template| {
        let args = cloned_args(dialect, kind, spec);
        let plain = fresh(dialect, kind, spec);
        matches!(t.bind(placeholders(dialect), &args, Padding::None),
            Ok(b) if *b.sql == *plain.sql && crate::value::same_all(&b.params, &plain.params))
    };
    match env
        .cache
        .resolve(key, || compile(dialect, kind, spec), matches)?
    {
        Resolved::Hit(t) | Resolved::Stored(t) => Ok(Some(t)),
        Resolved::Fresh => Ok(None),
        Resolved::Rejected => {
            tracing::warn!(
                entity = spec.meta.name,
                "SQL template differs from the plain build; caching disabled for this shape"
            );
            Ok(None)
        }
        Resolved::Mismatch => Err(template_error(
            spec,
            "paranoid check failed: the template and the plain build differ",
        )),
    }
}

/// The rest of [`statements`] once the shape is known.
fn finish(
    env: Env<'_>,
    kind: Kind,
    spec: &SelectSpec<'_>,
    cacheable: bool,
    key: ShapeKey,
    mut args: Vec<Arg<Value>>,
) -> Result<Vec<Statement>> {
    let Env {
        padding,
        bind_limit,
        dialect,
        ..
    } = env;
    let total = Padding::None.params(&args);
    let template = match cacheable
        .then(|| resolve(env, kind, spec, &key))
        .transpose()?
    {
        Some(Some(t)) => t,
        _ if total <= bind_limit => return Ok(vec![fresh(dialect, kind, spec)]),
        // Too many values for one statement: a template splits them.
        _ => Arc::new(compile(dialect, kind, spec)?),
    };
    if total > bind_limit {
        check_splittable(dialect, kind, spec, bind_limit, total)?;
        // Split parts are added up (rows concatenated, counts summed): a
        // value in two parts would count twice. `IN` ignores duplicates, so
        // dropping them changes nothing else.
        for arg in &mut args {
            if let Arg::List(values) = arg {
                values.sort_by(|a, b| crate::value::compare(a, b, false));
                values.dedup_by(|a, b| crate::value::compare(a, b, false).is_eq() && a == b);
            }
        }
    }
    if total <= bind_limit && padding.params(&args) <= bind_limit {
        let b = template
            .bind_owned(placeholders(dialect), args, padding)
            .map_err(|e| template_error(spec, e))?;
        return Ok(vec![Statement::new(b.sql, b.params)]);
    }
    let bound = {
        template
            .bind_split(placeholders(dialect), &args, padding, bind_limit)
            .map_err(|e| template_error(spec, e))?
    };
    Ok(bound
        .into_iter()
        .map(|b| Statement::new(b.sql, b.params))
        .collect())
}

/// A template of an entity query that does not fit (see [`Error::Template`]).
fn template_error(spec: &SelectSpec<'_>, what: impl std::fmt::Display) -> Error {
    Error::Template {
        site: spec.meta.name.to_string(),
        message: what.to_string(),
    }
}

/// A query whose values exceed the bind limit (after [`fit`]) can be split
/// only if the longest list is a positive `IN` and the query has no
/// LIMIT/OFFSET. What is left to refuse: lists JSON cannot carry on SQLite
/// and MySQL (values of mixed types, NaN), and on PostgreSQL lists of a
/// type with no array parameter.
fn check_splittable(
    dialect: Dialect,
    kind: Kind,
    spec: &SelectSpec<'_>,
    limit: usize,
    total: usize,
) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::QueryTooLarge {
            entity: spec.meta.name,
            values: total,
            limit,
            reason: why.to_string(),
        })
    };
    if kind == Kind::Rows && (spec.limit.is_some() || spec.offset.is_some()) {
        return refuse(
            "a query with LIMIT/OFFSET cannot be split (and its lists cannot be sent as one parameter)",
        );
    }
    let mut longest: Option<(usize, bool, bool)> = None; // (len, negated, under an OR/NOT)
    let arrays = dialect.spec().array_lists;
    fn find(node: &Node, guarded: bool, arrays: bool, best: &mut Option<(usize, bool, bool)>) {
        match node {
            Node::In(_, v, neg)
                if best.is_none_or(|(l, ..)| v.len() > l) && !(arrays && render::use_array(v)) =>
            {
                *best = Some((v.len(), *neg, guarded));
            }
            Node::And(ns) => ns.iter().for_each(|n| find(n, guarded, arrays, best)),
            Node::Or(ns) => ns.iter().for_each(|n| find(n, true, arrays, best)),
            Node::Not(n) => find(n, true, arrays, best),
            _ => {}
        }
    }
    if let Some(n) = spec.filter {
        find(n, false, arrays, &mut longest);
    }
    match longest {
        Some((_, false, false)) => Ok(()),
        Some((_, true, _)) => {
            refuse("a NOT IN list of these values cannot be split or sent as one parameter")
        }
        Some((_, _, true)) => {
            refuse("a list of these values under OR/NOT cannot be split or sent as one parameter")
        }
        None => refuse("there is no list to split"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::meta::{EntityMeta, test_column};
    use crate::value::SqlType;

    static T: EntityMeta = EntityMeta {
        name: "T",
        table: "t",
        columns: &[
            test_column("id", SqlType::BigInt),
            test_column("n", SqlType::BigInt),
        ],
        relations: &[],
        indexes: &[],
        writes: std::sync::atomic::AtomicU64::new(0),
    };

    fn spec(filter: &Node) -> SelectSpec<'_> {
        SelectSpec {
            meta: &T,
            filter: Some(filter),
            order: &[],
            limit: None,
            offset: None,
        }
    }

    #[test]
    fn paranoid_mode_catches_a_wrong_template() {
        let filter = Node::Compare("id", CmpOp::Eq, Value::I64(1));
        let cache = TemplateCache::new(16, Mode::Paranoid);
        let (key, _) = shape(Dialect::Postgres, Kind::Rows, &spec(&filter));
        // A template that does not belong to this shape.
        let wrong =
            Template::compile(r#"SELECT "id" FROM "t" WHERE "n" = $1"#, &[0], &[false]).unwrap();
        cache.insert(key, Arc::new(wrong));
        let err = statements(
            Env {
                cache: &cache,
                padding: Padding::None,
                bind_limit: 100,
                dialect: Dialect::Postgres,
            },
            Kind::Rows,
            &spec(&filter),
            true,
        )
        .unwrap_err();
        assert!(err.to_string().contains("paranoid"), "{err}");
        assert_eq!(cache.stats().verify_failures, 1);
        // Verify-on-store trusts what it stored (it checked it when storing).
        cache.set_mode(Mode::VerifyOnStore);
        assert!(
            statements(
                Env {
                    cache: &cache,
                    padding: Padding::None,
                    bind_limit: 100,
                    dialect: Dialect::Postgres
                },
                Kind::Rows,
                &spec(&filter),
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn values_are_not_part_of_the_shape_but_list_emptiness_is() {
        let a = Node::In("id", vec![Value::I64(1)], false);
        let b = Node::In("id", vec![Value::I64(2), Value::I64(3)], false);
        let empty = Node::In("id", vec![], false);
        let key = |n: &Node| shape(Dialect::Sqlite, Kind::Rows, &spec(n)).0;
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&empty));
        assert_ne!(
            shape(Dialect::Postgres, Kind::Rows, &spec(&a)).0,
            key(&a),
            "the dialect is part of the shape"
        );
    }

    /// The moving path binds exactly what the copying path binds, for every
    /// kind of node, and looks the shape up once.
    #[test]
    fn moving_and_copying_bind_the_same() {
        let filter = || {
            Node::And(vec![
                Node::In("id", (0..5).map(Value::I64).collect(), false),
                Node::Or(vec![
                    Node::Like("n", "a%".into(), false),
                    Node::IsNull("n", true),
                    Node::Not(Box::new(Node::Compare("n", CmpOp::Ge, Value::I64(3)))),
                ]),
                Node::In("n", vec![], true),
                Node::In("n", (0..600).map(Value::I64).collect(), true),
            ])
        };
        for dialect in [Dialect::Postgres, Dialect::Sqlite, Dialect::MySql] {
            let cache = TemplateCache::new(16, Mode::VerifyOnStore);
            let f = filter();
            let base = SelectSpec {
                limit: Some(10),
                ..spec(&f)
            };
            let env = Env {
                cache: &cache,
                padding: Padding::PowerOfTwo,
                bind_limit: 5_000,
                dialect,
            };
            let copied = statements(env, Kind::Rows, &base, true).unwrap();
            let mut owned = filter();
            let moved = statements_moving(env, Kind::Rows, &base, Some(&mut owned), true).unwrap();
            assert_eq!(copied, moved, "{dialect:?}");
            assert_ne!(
                owned,
                filter(),
                "{dialect:?}: the values were moved, not copied"
            );
            let s = cache.stats();
            assert_eq!((s.misses, s.hits), (1, 1), "{dialect:?}");
        }
    }

    #[test]
    fn verify_on_store_hits_after_the_first_build() {
        let cache = TemplateCache::new(16, Mode::VerifyOnStore);
        for n in 1..=5 {
            let f = Node::In("id", (0..n).map(Value::I64).collect(), false);
            let stmts = statements(
                Env {
                    cache: &cache,
                    padding: Padding::PowerOfTwo,
                    bind_limit: 100,
                    dialect: Dialect::Postgres,
                },
                Kind::Rows,
                &spec(&f),
                true,
            )
            .unwrap();
            assert_eq!(stmts.len(), 1);
            assert_eq!(stmts[0].params().len(), (n as usize).next_power_of_two());
        }
        let s = cache.stats();
        assert_eq!(
            (s.misses, s.hits, s.shapes, s.verify_failures),
            (1, 4, 1, 0)
        );
    }

    fn env(cache: &TemplateCache, dialect: Dialect, bind_limit: usize) -> Env<'_> {
        Env {
            cache,
            padding: Padding::PowerOfTwo,
            bind_limit,
            dialect,
        }
    }

    fn ids(n: i64) -> Vec<Value> {
        (0..n).map(Value::I64).collect()
    }

    /// Past the bind limit a NOT IN is one JSON parameter on SQLite and
    /// MySQL, one statement whatever the length, one shape whatever the
    /// values; paranoid mode agrees with the plain build.
    #[test]
    fn long_not_in_lists_are_one_json_parameter() {
        for (dialect, needle) in [
            (
                Dialect::Sqlite,
                r#""id" NOT IN (SELECT value FROM json_each(?))"#,
            ),
            (
                Dialect::MySql,
                "`id` NOT IN (SELECT j.v FROM JSON_TABLE(?, '$[*]' COLUMNS (v BIGINT PATH '$')) AS j)",
            ),
        ] {
            let cache = TemplateCache::new(16, Mode::Paranoid);
            for n in [101, 150, 1_000] {
                let f = Node::And(vec![
                    Node::Compare("n", CmpOp::Ge, Value::I64(0)),
                    Node::In("id", ids(n), true),
                ]);
                let stmts =
                    statements(env(&cache, dialect, 100), Kind::Rows, &spec(&f), true).unwrap();
                assert_eq!(stmts.len(), 1, "{dialect:?}");
                assert!(stmts[0].sql().contains(needle), "{}", stmts[0].sql());
                assert_eq!(stmts[0].params().len(), 2);
                let Value::Text(json) = &stmts[0].params()[1] else {
                    panic!()
                };
                assert!(json.starts_with("[0,1,2,") && json.ends_with(&format!(",{}]", n - 1)));
            }
            let s = cache.stats();
            assert_eq!(
                (s.shapes, s.verify_failures),
                (1, 0),
                "{dialect:?}: one shape, three lengths"
            );
        }
    }

    /// A positive IN is still split (its parts are a union); a NOT IN next
    /// to it travels as JSON in every part; with LIMIT even the IN is JSON.
    #[test]
    fn only_a_sound_split_is_split() {
        let cache = TemplateCache::new(16, Mode::VerifyOnStore);
        let both = Node::And(vec![
            Node::In("id", ids(300), false),
            Node::In("n", ids(250), true),
        ]);
        let parts = statements(
            env(&cache, Dialect::Sqlite, 100),
            Kind::Rows,
            &spec(&both),
            true,
        )
        .unwrap();
        assert_eq!(parts.len(), 5, "300 ids in parts of 64");
        assert!(parts.iter().all(|p| {
            p.sql()
                .contains(r#""n" NOT IN (SELECT value FROM json_each(?))"#)
                && p.params().len() <= 100
        }));
        let paged = SelectSpec {
            limit: Some(10),
            ..spec(&both)
        };
        let one = statements(env(&cache, Dialect::Sqlite, 100), Kind::Rows, &paged, true).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0].sql().matches("json_each").count(),
            2,
            "{}",
            one[0].sql()
        );
        // Under OR or NOT a list cannot be split either.
        let or = Node::Or(vec![
            Node::In("id", ids(300), false),
            Node::IsNull("n", false),
        ]);
        let one = statements(
            env(&cache, Dialect::MySql, 100),
            Kind::Count,
            &spec(&or),
            true,
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert!(
            one[0].sql().contains("`id` IN (SELECT j.v FROM JSON_TABLE"),
            "{}",
            one[0].sql()
        );
        // Short lists stay IN lists.
        let short = Node::And(vec![
            Node::In("id", ids(3), true),
            Node::In("n", ids(300), true),
        ]);
        let one = statements(
            env(&cache, Dialect::Sqlite, 100),
            Kind::Rows,
            &spec(&short),
            true,
        )
        .unwrap();
        assert!(
            one[0].sql().contains(r#""id" NOT IN (?, ?, ?, ?)"#),
            "{}",
            one[0].sql()
        );
    }

    #[test]
    fn json_lists_write_values_as_the_backend_stores_them() {
        let (text, elem) = render::json_list(
            Dialect::Sqlite,
            &[
                Value::Text("a\"b".into()),
                Value::Null(crate::value::SqlType::Text),
            ],
        )
        .unwrap();
        assert_eq!(
            (text, elem),
            (
                Value::Text(r#"["a\"b",null]"#.into()),
                render::JsonElem::Text(0)
            )
        );
        let u = uuid::Uuid::from_u128(0xff);
        let (text, elem) = render::json_list(Dialect::MySql, &[Value::Uuid(u)]).unwrap();
        assert_eq!(elem, render::JsonElem::Hex(32));
        let (_, elem) = render::json_list(
            Dialect::MySql,
            &[Value::Text("é".repeat(17)), Value::Text("x".into())],
        )
        .unwrap();
        assert_eq!(
            elem,
            render::JsonElem::Text(32),
            "characters, not bytes, rounded up to a power of two"
        );
        let (_, elem) =
            render::json_list(Dialect::MySql, &[Value::Text("x".repeat(20_000))]).unwrap();
        assert_eq!(elem, render::JsonElem::Text(0), "LONGTEXT");
        assert_eq!(
            text,
            Value::Text(format!("[\"{}\"]", "0".repeat(30) + "ff"))
        );
        let (text, _) = render::json_list(
            Dialect::Sqlite,
            &[Value::F64(0.1), Value::F64(f64::INFINITY)],
        )
        .unwrap();
        assert_eq!(text, Value::Text("[0.1,9e999]".into()));
        assert!(
            render::json_list(Dialect::Sqlite, &[Value::I64(1), Value::Text("x".into())]).is_none(),
            "mixed kinds"
        );
        assert!(render::json_list(Dialect::MySql, &[Value::F64(f64::NAN)]).is_none());
    }
}

/// The values of a typed select or join, apart from its text ([`typed`]):
/// its filters (one per side of a join), the subqueries among its items,
/// its `HAVING` values, LIMIT and OFFSET. A renderer given these (the real
/// ones, or [`typed`]'s markers in their place) writes the statement.
#[derive(Clone)]
pub(crate) struct Parts<'a> {
    pub filters: Vec<Option<&'a Node>>,
    pub subs: Vec<SubNode>,
    /// Scalar values: HAVING terms, a bulk UPDATE's SET values, an
    /// upsert's cells.
    pub values: Vec<&'a Value>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// A typed select's or join's statement through the template cache.
///
/// The decision: the caller owns the statement's structure and writes it
/// into `key` (its items, labels, grouping, order: everything that is
/// text); this function adds the structure of the values' places (the
/// filters' shapes, which lists are long or empty, whether there is a LIMIT
/// and an OFFSET) and binds the values. On a miss `render` runs once with a
/// marker in place of every value, and the template is checked against a
/// plain `render(parts)` before it is stored, and on every use in paranoid
/// mode, as for entity queries. What a template cannot carry is built
/// fresh, as before: a query whose values pass the bind limit, and an
/// OFFSET without LIMIT on MySQL and SQLite (a stand-in LIMIT).
pub(crate) fn typed(
    env: Env<'_>,
    mut key: ShapeKey,
    parts: &Parts<'_>,
    render: &dyn Fn(&Parts<'_>) -> Statement,
    site: &'static str,
    use_cache: bool,
) -> Result<Statement> {
    let Env {
        cache,
        padding,
        bind_limit,
        dialect,
    } = env;
    let stand_in =
        parts.offset.is_some() && parts.limit.is_none() && dialect.spec().offset_needs_limit;
    if !use_cache || !cache.enabled() || stand_in {
        return Ok(render(parts));
    }
    key.tag(30).tag(dialect as u8);
    let mut counts = (0, 0);
    for filter in &parts.filters {
        match filter {
            Some(n) => walk(dialect, n, key.tag(1), padding, &mut counts),
            None => drop(key.tag(0)),
        }
    }
    for sub in &parts.subs {
        walk_sub(dialect, sub, key.tag(2), padding, &mut counts);
    }
    let fixed = parts.values.len()
        + usize::from(parts.limit.is_some())
        + usize::from(parts.offset.is_some());
    key.number(parts.values.len() as u64)
        .tag(u8::from(parts.limit.is_some()))
        .tag(u8::from(parts.offset.is_some()));
    if counts.0 + fixed > bind_limit || counts.1 + fixed > bind_limit {
        return Ok(render(parts));
    }
    let error = |what: &dyn std::fmt::Display| Error::Template {
        site: site.to_string(),
        message: what.to_string(),
    };
    let matches = |t: &Template| {
        let plain = render(parts);
        matches!(t.bind(placeholders(dialect), &typed_args(dialect, parts), Padding::None),
            Ok(b) if *b.sql == *plain.sql && crate::value::same_all(&b.params, &plain.params))
    };
    let compile = || {
        let (mut next, mut lists) = (0i64, Vec::new());
        let filters: Vec<Option<Node>> = parts
            .filters
            .iter()
            .map(|f| f.map(|n| skeleton(dialect, n, &mut next, &mut lists)))
            .collect();
        let subs: Vec<SubNode> = parts
            .subs
            .iter()
            .map(|s| sub_skeleton(dialect, s, &mut next, &mut lists))
            .collect();
        let mut marker = || {
            lists.push(false);
            next += 1;
            next - 1
        };
        let values: Vec<Value> = parts.values.iter().map(|_| Value::I64(marker())).collect();
        let limit = parts.limit.map(|_| marker() as u64);
        let offset = parts.offset.map(|_| marker() as u64);
        let marked = Parts {
            filters: filters.iter().map(Option::as_ref).collect(),
            subs,
            values: values.iter().collect(),
            limit,
            offset,
        };
        let stmt = render(&marked);
        let markers: Option<Vec<usize>> = stmt.params.iter().map(marker_index).collect();
        let markers = markers.ok_or_else(|| error(&"unexpected literal in the SQL"))?;
        Template::compile(&stmt.sql, &markers, &lists).map_err(|e| error(&e))
    };
    let resolved = match cache.resolve(&key, compile, matches) {
        Ok(r) => r,
        // A statement the compiler cannot take apart (a constant bound as
        // a parameter, say) is built fresh from now on; in paranoid mode it
        // is an error, so that tests find it.
        Err(e) if cache.mode() != orm_cache::template::Mode::Paranoid => {
            tracing::warn!(entity = site, error = %e, "SQL template not compiled; caching disabled for this shape");
            cache.mark_uncacheable(key);
            return Ok(render(parts));
        }
        Err(e) => return Err(e),
    };
    let template = match resolved {
        Resolved::Hit(t) | Resolved::Stored(t) => t,
        Resolved::Fresh => return Ok(render(parts)),
        Resolved::Rejected => {
            tracing::warn!(
                entity = site,
                "SQL template differs from the plain build; caching disabled for this shape"
            );
            return Ok(render(parts));
        }
        Resolved::Mismatch => {
            return Err(error(
                &"paranoid check failed: the template and the plain build differ",
            ));
        }
    };
    let b = template
        .bind_owned(placeholders(dialect), typed_args(dialect, parts), padding)
        .map_err(|e| error(&e))?;
    Ok(Statement::new(b.sql, b.params))
}

/// [`Parts`]' values in marker order (the order of [`typed`]'s compile).
fn typed_args(dialect: Dialect, parts: &Parts<'_>) -> Vec<Arg<Value>> {
    let mut args = Vec::with_capacity(8);
    for n in parts.filters.iter().flatten() {
        take_args(dialect, &mut (*n).clone(), &mut args);
    }
    for s in &parts.subs {
        take_sub_args(dialect, &mut s.clone(), &mut args);
    }
    args.extend(parts.values.iter().map(|v| Arg::Scalar((*v).clone())));
    for n in [parts.limit, parts.offset].into_iter().flatten() {
        args.push(Arg::Scalar(Value::I64(
            i64::try_from(n).unwrap_or(i64::MAX),
        )));
    }
    args
}

/// Writes a select item's structure into a shape key (its subqueries'
/// structure is [`Parts::subs`]'s, walked by [`typed`]).
pub(crate) fn expr_shape(e: &ExprNode, key: &mut ShapeKey) {
    item_shape(e, key);
}
