//! Cacheable query-building functions: hand-written SQL (a lookup whose
//! filters depend on the request) built once per *shape* of its
//! parameters, never per value.
//!
//! The builder closure never sees a value. It receives a [`Shape`] that says,
//! for each parameter, whether it is present (`None` vs `Some`), a list, an
//! empty list; it writes placeholders with [`Shape::param`] and
//! [`Shape::list`] (each returns `?`, numbered for PostgreSQL at bind time).
//! So the SQL can only branch on what is part of the cache key: branching on
//! a value is impossible by construction. A closure could still read
//! something it captured from its surroundings; verify-on-store builds every
//! new shape twice and keeps the template only if both builds agree, and
//! paranoid mode rebuilds on every call and fails on a difference.
//!
//! ```
//! # use orm_core::prelude::*;
//! # use orm_core::{Param, Value};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.execute_sql("CREATE TABLE rules (id INTEGER, site TEXT, level INTEGER)", vec![]).await?;
//! db.execute_sql("INSERT INTO rules VALUES (1, 'a', 1), (2, 'b', 2), (3, 'a', 3)", vec![]).await?;
//! let mut s = db.session();
//! let site: Option<&str> = Some("a");
//! let levels = vec![1, 3];
//! let rows = s
//!     .fetch_built(
//!         "rules.lookup",
//!         vec![Param::opt(site), Param::list(levels)],
//!         |p| {
//!             let mut sql = String::from("SELECT id FROM rules WHERE 1 = 1");
//!             if p.present(0) {
//!                 sql += &format!(" AND site = {}", p.param(0));
//!             }
//!             if p.is_empty_list(1) {
//!                 sql += " AND 1 = 0";
//!             } else {
//!                 sql += &format!(" AND level IN ({})", p.list(1));
//!             }
//!             sql + " ORDER BY id"
//!         },
//!     )
//!     .await?;
//! assert_eq!(rows.len(), 2);
//! # Ok::<(), orm_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! Layer 1 (the SQL layer): it uses only what is below it (see `crate::layers`).

use std::cell::RefCell;
use std::sync::Arc;

use orm_cache::template::{Arg, Placeholders, Resolved, ShapeKey, Template};

use super::render::Statement;
use crate::backend::Dialect;
use crate::error::{Error, Result};
use crate::value::Value;

/// A parameter of a built query.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A value (`Some`).
    Value(Value),
    /// No value (`None`): the builder leaves its condition out.
    Absent,
    /// A list for an `IN (...)` slot.
    List(Vec<Value>),
}

impl Param {
    /// A value, always present.
    pub fn value(v: impl Into<Value>) -> Param {
        Param::Value(v.into())
    }

    /// `Some(v)` is a value, `None` is absent.
    pub fn opt<V: Into<Value>>(v: Option<V>) -> Param {
        v.map_or(Param::Absent, |v| Param::Value(v.into()))
    }

    /// A list for an `IN` slot (empty is allowed: test `is_empty_list`).
    pub fn list<V: Into<Value>>(values: impl IntoIterator<Item = V>) -> Param {
        Param::List(values.into_iter().map(Into::into).collect())
    }
}

/// What a builder may know about its parameters: their shape, not their values.
pub struct Shape<'a> {
    params: &'a [Param],
    /// Argument index of each placeholder written so far, in order.
    order: RefCell<Vec<usize>>,
}

impl Shape<'_> {
    /// Whether parameter `i` has a value or a list (not `Absent`).
    pub fn present(&self, i: usize) -> bool {
        !matches!(self.params.get(i), Some(Param::Absent) | None)
    }

    /// Whether parameter `i` is a list.
    pub fn is_list(&self, i: usize) -> bool {
        matches!(self.params.get(i), Some(Param::List(_)))
    }

    /// Whether parameter `i` is an empty list (write a constant predicate).
    pub fn is_empty_list(&self, i: usize) -> bool {
        matches!(self.params.get(i), Some(Param::List(v)) if v.is_empty())
    }

    /// The placeholder of scalar parameter `i`.
    pub fn param(&self, i: usize) -> &'static str {
        self.order.borrow_mut().push(i);
        "?"
    }

    /// The placeholders of list parameter `i`, for inside `IN ( ... )`.
    pub fn list(&self, i: usize) -> &'static str {
        self.order.borrow_mut().push(i);
        "?"
    }
}

fn shape_key(site: &'static str, salt: u64, dialect: Dialect, params: &[Param]) -> ShapeKey {
    let mut key = ShapeKey::new();
    key.tag(200).tag(dialect as u8).name(site).number(salt);
    for p in params {
        key.tag(match p {
            Param::Value(_) => 1,
            Param::Absent => 2,
            Param::List(v) if v.is_empty() => 3,
            Param::List(_) => 4,
        });
    }
    key
}

/// A built query's SQL that does not fit its shape (see [`Error::Template`]).
fn template_error(site: &str, message: impl std::fmt::Display) -> Error {
    Error::Template {
        site: site.to_string(),
        message: message.to_string(),
    }
}

/// Runs the builder and compiles what it wrote.
fn compile(
    site: &str,
    params: &[Param],
    build: &impl Fn(&Shape<'_>) -> String,
) -> Result<Template> {
    let shape = Shape {
        params,
        order: RefCell::new(Vec::new()),
    };
    let sql = build(&shape);
    let order = shape.order.into_inner();
    for &i in &order {
        match params.get(i) {
            Some(Param::Absent) | None => {
                return Err(template_error(
                    site,
                    format!("the builder wrote a placeholder for parameter {i}, which is absent"),
                ));
            }
            Some(Param::List(v)) if v.is_empty() => {
                return Err(template_error(
                    site,
                    format!(
                        "the builder wrote placeholders for parameter {i}, an empty list; test is_empty_list"
                    ),
                ));
            }
            _ => {}
        }
    }
    let lists: Vec<bool> = params.iter().map(|p| matches!(p, Param::List(_))).collect();
    Template::compile(&sql, &order, &lists).map_err(|e| template_error(site, e))
}

/// The statement for one call of a built query.
pub(crate) fn statement(
    cache: &orm_cache::template::TemplateCache,
    dialect: Dialect,
    site: &'static str,
    salt: u64,
    params: &[Param],
    build: impl Fn(&Shape<'_>) -> String,
) -> Result<Statement> {
    let args: Vec<Arg<Value>> = params
        .iter()
        .map(|p| match p {
            Param::Value(v) => Arg::Scalar(v.clone()),
            Param::Absent => Arg::Scalar(Value::Null(crate::value::SqlType::Text)),
            Param::List(v) => Arg::List(v.clone()),
        })
        .collect();
    // An absent or empty-list parameter has no placeholder: bind a stand-in
    // that the template never reads (its pieces name only present arguments).
    let style = dialect.spec().placeholders;
    let key = shape_key(site, salt, dialect, params);
    let mismatch = || {
        template_error(
            site,
            "paranoid check failed: the builder wrote different SQL for the same shape (does it read a value it captured?)",
        )
    };
    let resolved = cache.resolve(
        &key,
        || compile(site, params, &build),
        |t| compile(site, params, &build).is_ok_and(|again| again == *t),
    )?;
    let template = match resolved {
        Resolved::Hit(t) | Resolved::Stored(t) => t,
        Resolved::Fresh => Arc::new(compile(site, params, &build)?),
        Resolved::Rejected => {
            tracing::warn!(
                site,
                "a query builder wrote different SQL for one shape; not cached"
            );
            Arc::new(compile(site, params, &build)?)
        }
        Resolved::Mismatch => return Err(mismatch()),
    };
    let bound = bind(&template, style, &args).map_err(|e| template_error(site, e))?;
    Ok(Statement::new(bound.0, bound.1))
}

fn bind(
    template: &Template,
    style: Placeholders,
    args: &[Arg<Value>],
) -> Result<(std::sync::Arc<str>, Vec<Value>), orm_cache::template::TemplateError> {
    // Empty lists are never bound (the builder wrote no placeholder): give
    // them one stand-in so the template's shape check passes.
    let args: Vec<Arg<Value>> = args
        .iter()
        .map(|a| match a {
            Arg::List(v) if v.is_empty() => {
                Arg::List(vec![Value::Null(crate::value::SqlType::Text)])
            }
            other => other.clone(),
        })
        .collect();
    let b = template.bind(style, &args, orm_cache::template::Padding::PowerOfTwo)?;
    Ok((b.sql, b.params))
}
