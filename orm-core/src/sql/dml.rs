//! DML: the INSERT, UPDATE and DELETE statements of a flush, written from
//! entity metadata and rows of values, through the template cache (one
//! protocol for every statement kind: `TemplateCache::resolve`).
//!
//! ## UPDATEs of many rows
//! Rows of one type that changed the same set of columns are written in the
//! dialect's form ([`UpdateBatch`]), each one the database runs as a lookup
//! by key per row *whatever its statistics say*: statistics read while a
//! table was empty or held one row (a long-lived connection that read them
//! early, an `ANALYZE` of a fresh database) must not turn a flush into a
//! scan of the table.
//!
//! PostgreSQL: rows share one statement,
//!
//! ```sql
//! UPDATE t SET a = CASE WHEN id = ? THEN ? WHEN id = ? THEN ? ELSE a END
//! WHERE id IN (?, ?)            -- or (id, version) IN ((?, ?), (?, ?))
//! ```
//!
//! with `version = version + 1` for a `#[version]` column (every row goes
//! from its checked version to the next). Its planner scales stale
//! statistics by the table's current size: the plan of 1,000 of 10,000
//! rows was the same after `ANALYZE` while empty as after a fresh one.
//!
//! MySQL/MariaDB: the same statement with `UPDATE t FORCE INDEX (PRIMARY)
//! SET ..`. MariaDB 10.11 plans `id IN (..)` (and `(id, version) IN (..)`)
//! as a range on PRIMARY with fresh statistics and with InnoDB's saying
//! the table is empty, but with engine-independent statistics taken while
//! it was empty (`ANALYZE TABLE .. PERSISTENT FOR ALL`, which the
//! optimizer prefers) as a full index scan (`type = index`, 1 row
//! expected), for 2 rows as for 1,000; with the hint it is a range on
//! PRIMARY in all three cases. A join with the rows as a derived table
//! (`UPDATE t JOIN (VALUES ..) v ON t.id = v.k`) becomes `t ALL` there too.
//!
//! SQLite: one `UPDATE t SET a = ? WHERE id = ? [AND version = ?]` run
//! for each row, as one *repeated* statement ([`Statement::runs`]): the
//! direct driver steps its one prepared statement per row, sqlx's driver
//! takes the runs as scripts of up to 64 statements, one round trip each.
//! An UPDATE of one table whose WHERE fixes the rowid (or every column of a
//! unique index) by `=` is planned before the cost-based planner runs
//! (`whereShortCut`), so its plan is a key lookup whatever the statistics
//! say; every batched form goes through the planner, which, when the
//! statistics say the table holds at most one row, estimates a full scan
//! cheaper than a lookup by key (16 against 17 in its log units), so each
//! becomes a scan. Measured with SQLite 3.51.3 (the bundled library;
//! rusqlite, release build), a 10,000-row file table in WAL mode with a
//! unique secondary index, 1,000 consecutive rows changed, median ms
//! without / with a version check; "stale" is `sqlite_stat1` saying the
//! table holds 1 row (0 rows: the same):
//!
//! | form | fresh | no statistics | stale | stale plan |
//! | --- | --- | --- | --- | --- |
//! | join: `FROM (VALUES ..) AS v WHERE t.id = v.column1` (before) | 0.32 / 0.38 | 0.34 / 0.41 | **291 / 287** | `SCAN t` under each VALUES row |
//! | the join and `AND t.id IN (..)` | 0.66 / 0.49 | 0.43 / 0.50 | 28 / 31 | `SCAN t` (a covering index) nested |
//! | CTE, `SET a = (SELECT .. WHERE k = t.id) WHERE id IN (SELECT k ..)` | 14.1 / 14.4 | 14.0 / 16.3 | 10.5 / 19.0 | `SCAN t` |
//! | CASE, `WHERE id IN (..)`, 1,000 rows a statement | 2.6 / 2.8 | 2.6 / 2.9 | 3.0 / 3.1 | `SCAN t` |
//! | the same, 100 rows a statement | 0.48 / 0.73 | 0.46 / 0.74 | 3.3 / 3.6 | `SCAN t` each |
//! | the same, 10 rows a statement | 0.42 / 0.78 | 0.42 / 0.83 | 37 / 73 | `SCAN t` each |
//! | one UPDATE per row, one prepared statement (chosen) | 0.45 / 0.57 | 0.46 / 0.59 | 0.49 / 0.59 | `SEARCH t USING INTEGER PRIMARY KEY` |
//!
//! The per-row form costs the database 0.1-0.2 ms more than the join at
//! its best and nothing at its worst. The whole unit of work (W5: load
//! 1,000 of 10,000 users in a transaction, bump a column on each, commit;
//! the same machine, the process on one core, median of 40), against raw
//! sqlx's per-row UPDATE loop (10.9-12.0 ms):
//!
//! | | fresh statistics | stale |
//! | --- | --- | --- |
//! | the join, direct driver (before) | 2.3-2.8 ms, 0.21-0.24x | 139 ms, 11.5x |
//! | the join, sqlx's driver (before) | 3.1-3.5 ms, 0.29-0.30x | 141 ms, 11.7x |
//! | repeated per-row UPDATE, direct driver | 2.3-2.4 ms, 0.21-0.22x | 2.7-3.0 ms, 0.24-0.25x |
//! | repeated per-row UPDATE, sqlx's driver | 3.9 ms, 0.35-0.37x | 4.9-5.3 ms, 0.44x |
//!
//! What stale statistics still cost is the load: `id >= ? AND id < ?` is
//! then a scan too (0.63 against 0.37 ms), a read the flush cannot choose.
//!
//! Every statement goes through the database's template cache, keyed by its
//! shape (kind, form, table, columns, row count, whether versions are
//! checked): a hit binds the cached text with the parameters the same
//! writer collects, so text and parameter order cannot drift apart. The
//! runs of a repeated UPDATE resolve their template once
//! ([`Writer::statements`]).
//!
//! A statement must match exactly as many rows as it names; fewer is stale
//! data (`crate::session::persist` finds which row). Rows whose key
//! changes are written one by one: MySQL evaluates SET assignments left to
//! right, so a later CASE would see the new key.
//!
//! Layer 1 (the SQL layer): no session, no objects; the values of a flush's
//! writes ([`TypeChanges`]) are plain data.

use std::sync::Arc;

use orm_cache::template::{Mode, Placeholders, Resolved, ShapeKey, Template, TemplateCache};

use crate::error::{Error, Result};
use crate::model::meta::EntityMeta;
use crate::sql::dialect::{Dialect, UpdateBatch};
use crate::sql::{Statement, render};
use crate::value::Value;

/// The writes one flush makes for one entity type, as values.
#[derive(Debug, Default)]
pub(crate) struct TypeChanges {
    /// Full rows, in insert order (the version column already set to 1).
    pub inserts: Vec<Vec<Value>>,
    /// Self-referencing foreign keys inserted as NULL to break a cycle,
    /// written by an UPDATE once every row exists: (key, column, value).
    pub fixups: Vec<(Vec<Value>, usize, Value)>,
    pub updates: Vec<RowUpdate>,
    /// Deletes in order (rows referenced by other deleted rows of the same
    /// type come after them), each with its layer for self-references.
    pub deletes: Vec<RowDelete>,
}

impl TypeChanges {
    pub(crate) fn is_empty(&self) -> bool {
        self.inserts.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

/// One UPDATE of one row.
#[derive(Debug, Clone)]
pub(crate) struct RowUpdate {
    /// The key the row has in the database (before this update).
    pub key: Vec<Value>,
    /// Positions of the columns to set.
    pub columns: Vec<usize>,
    /// Their new values (the version column's is the bumped version).
    pub values: Vec<Value>,
    /// The version the row must still have.
    pub old_version: Option<Value>,
    /// Whether the update changes key columns (never batched).
    pub rekeys: bool,
}

/// One DELETE of one row.
#[derive(Debug, Clone)]
pub(crate) struct RowDelete {
    pub key: Vec<Value>,
    pub old_version: Option<Value>,
    /// Rows of a higher layer are deleted by a later statement (self-references).
    pub layer: usize,
}

/// Writes SQL with numbered or positional placeholders. With no text
/// (`params_only`), it only collects the parameters, in the same order: how
/// a cached template is bound with exactly the code that wrote it.
pub(crate) struct Sql {
    dialect: Dialect,
    text: Option<String>,
    params: Vec<Value>,
}

impl Sql {
    fn new(dialect: Dialect) -> Sql {
        Sql {
            dialect,
            text: Some(String::with_capacity(256)),
            params: Vec::new(),
        }
    }

    fn params_only(dialect: Dialect) -> Sql {
        Sql {
            dialect,
            text: None,
            params: Vec::new(),
        }
    }

    pub(crate) fn raw(&mut self, s: &str) -> &mut Self {
        if let Some(t) = &mut self.text {
            t.push_str(s);
        }
        self
    }

    pub(crate) fn ident(&mut self, name: &str) -> &mut Self {
        if let Some(t) = &mut self.text {
            t.push_str(&render::quote(self.dialect, name));
        }
        self
    }

    pub(crate) fn param(&mut self, v: Value) -> &mut Self {
        self.params.push(v);
        if let Some(t) = &mut self.text {
            match self.dialect.spec().placeholders {
                Placeholders::Dollar => {
                    t.push('$');
                    t.push_str(&self.params.len().to_string());
                }
                Placeholders::Question => t.push('?'),
            }
        }
        self
    }

    /// `k1 = ? AND k2 = ?`
    fn key_match(&mut self, meta: &EntityMeta, key: &[Value]) -> &mut Self {
        for (n, ((_, c), v)) in meta.key_columns().zip(key).enumerate() {
            if n > 0 {
                self.raw(" AND ");
            }
            self.ident(c.name).raw(" = ").param(v.clone());
        }
        self
    }

    /// `WHERE` clause selecting rows by key (and version).
    fn where_rows(&mut self, meta: &EntityMeta, rows: &[(&[Value], Option<&Value>)]) -> &mut Self {
        let version = meta.version_column();
        let keys: Vec<&'static str> = meta.key_columns().map(|(_, c)| c.name).collect();
        let versioned = version.is_some() && rows.iter().all(|(_, v)| v.is_some());
        self.raw(" WHERE ");
        if rows.len() == 1 {
            let (key, ver) = rows[0];
            self.key_match(meta, key);
            if let (Some(v), Some(ver)) = (version, ver.filter(|_| versioned)) {
                self.raw(" AND ")
                    .ident(meta.columns[v].name)
                    .raw(" = ")
                    .param(ver.clone());
            }
            return self;
        }
        let width = keys.len() + usize::from(versioned);
        if width == 1 {
            self.ident(keys[0]).raw(" IN (");
            for (n, (key, _)) in rows.iter().enumerate() {
                if n > 0 {
                    self.raw(", ");
                }
                self.param(key[0].clone());
            }
            return self.raw(")");
        }
        self.raw("(");
        for (n, k) in keys.iter().enumerate() {
            if n > 0 {
                self.raw(", ");
            }
            self.ident(k);
        }
        if let (Some(v), true) = (version, versioned) {
            self.raw(", ").ident(meta.columns[v].name);
        }
        self.raw(") IN (");
        for (n, (key, ver)) in rows.iter().enumerate() {
            self.raw(if n > 0 { ", (" } else { "(" });
            for (i, k) in key.iter().enumerate() {
                if i > 0 {
                    self.raw(", ");
                }
                self.param(k.clone());
            }
            if let (true, Some(ver)) = (versioned, ver) {
                self.raw(", ").param((*ver).clone());
            }
            self.raw(")");
        }
        self.raw(")")
    }

    fn finish(self) -> Statement {
        Statement::new(self.text.unwrap_or_default(), self.params)
    }
}

/// Where flush statements are written: the dialect and the template cache.
#[derive(Clone, Copy)]
pub(crate) struct Writer<'a> {
    pub dialect: Dialect,
    pub cache: &'a TemplateCache,
}

impl Writer<'_> {
    /// A statement through the template cache: on a hit `write` only
    /// collects parameters and the template supplies the text; on a miss the
    /// statement is written and compiled (its parameters are all scalars, in
    /// placeholder order). Paranoid mode writes the text every time and
    /// compares.
    pub(crate) fn statement(&self, key: ShapeKey, write: impl Fn(&mut Sql)) -> Result<Statement> {
        self.resolve(key, write).map(|(stmt, _)| stmt)
    }

    /// [`Writer::statement`] once per item, every item of one shape: the
    /// template is resolved once and bound for each item. A shape that is
    /// not cached, and every item in paranoid mode, take the whole way.
    pub(crate) fn statements<I>(
        &self,
        key: &ShapeKey,
        items: &[I],
        write: impl Fn(&mut Sql, &I),
    ) -> Result<Vec<Statement>> {
        let Some((first, rest)) = items.split_first() else {
            return Ok(Vec::new());
        };
        let (head, template) = self.resolve(key.clone(), |sql| write(sql, first))?;
        let mut out = Vec::with_capacity(items.len());
        out.push(head);
        let style = self.dialect.spec().placeholders;
        for item in rest {
            out.push(match &template {
                Some(t) if self.cache.mode() != Mode::Paranoid => {
                    let mut sql = Sql::params_only(self.dialect);
                    write(&mut sql, item);
                    let bound =
                        t.bind_in_order(style, sql.params)
                            .map_err(|e| Error::Template {
                                site: "flush".into(),
                                message: e.to_string(),
                            })?;
                    Statement::new(bound.sql, bound.params)
                }
                _ => self.statement(key.clone(), |sql| write(sql, item))?,
            });
        }
        Ok(out)
    }

    /// The statement, and the template it was bound from (none when built
    /// the plain way).
    fn resolve(
        &self,
        key: ShapeKey,
        write: impl Fn(&mut Sql),
    ) -> Result<(Statement, Option<Arc<Template>>)> {
        let style = self.dialect.spec().placeholders;
        // The plain build, made at most once per call (on a miss, and in
        // paranoid mode): what a template must bind to.
        let plain = std::cell::OnceCell::new();
        let plain = || {
            plain.get_or_init(|| {
                let mut sql = Sql::new(self.dialect);
                write(&mut sql);
                sql.finish()
            })
        };
        let bind = |t: &Template| {
            let mut sql = Sql::params_only(self.dialect);
            write(&mut sql);
            t.bind_in_order(style, sql.params)
        };
        let resolved = self.cache.resolve(
            &key,
            || {
                let stmt = plain();
                let order: Vec<usize> = (0..stmt.params.len()).collect();
                Template::compile(&stmt.sql, &order, &vec![false; order.len()])
            },
            |t| matches!(bind(t), Ok(b) if *b.sql == *plain().sql && crate::value::same_all(&b.params, &plain().params)),
        );
        match resolved {
            Ok(Resolved::Hit(t) | Resolved::Stored(t)) => {
                let bound = bind(&t).map_err(|e| Error::Template {
                    site: "flush".into(),
                    message: format!("{e}; statement: {}", plain().sql),
                })?;
                Ok((Statement::new(bound.sql, bound.params), Some(t)))
            }
            Ok(Resolved::Fresh) => Ok((plain().clone(), None)),
            Ok(Resolved::Rejected) => {
                tracing::warn!(
                    sql = &*plain().sql,
                    "a flush template differs from the plain build; not cached"
                );
                Ok((plain().clone(), None))
            }
            Ok(Resolved::Mismatch) => Err(Error::Template {
                site: "flush".into(),
                message: format!(
                    "paranoid check failed: the template and the plain build differ; statement: {}",
                    plain().sql
                ),
            }),
            // Text the template parser cannot take apart: build it fresh.
            Err(_) => {
                self.cache.mark_uncacheable(key);
                Ok((plain().clone(), None))
            }
        }
    }
}

pub(crate) fn key(kind: u8, dialect: Dialect, meta: &'static EntityMeta) -> ShapeKey {
    let mut k = ShapeKey::new();
    k.tag(kind).tag(dialect as u8).name(meta.table);
    k
}

/// Refuses values the backend would store unfaithfully, naming the column.
pub(crate) fn check_values<'v>(
    dialect: Dialect,
    meta: &EntityMeta,
    cells: impl IntoIterator<Item = (usize, &'v Value)>,
) -> Result<()> {
    for (i, v) in cells {
        check_cell(dialect, meta, i, v)?;
    }
    Ok(())
}

/// [`check_values`] for one cell of column `i`: what the backend refuses
/// (NaN, NUL in text ..), and a decimal that its column's precision and
/// scale cannot hold. The server would round a decimal with more places
/// than the scale (PostgreSQL and MySQL both do, silently), so the object
/// in the session would differ from its row; it is refused instead, on
/// every backend alike (SQLite keeps no precision of its own).
pub(crate) fn check_cell(dialect: Dialect, meta: &EntityMeta, i: usize, v: &Value) -> Result<()> {
    let column = &meta.columns[i];
    let invalid = |reason: String| Error::InvalidValue {
        entity: meta.name,
        column: column.name,
        backend: dialect.name(),
        reason,
    };
    dialect.check_value(v).map_err(invalid)?;
    // Past i64::MAX a u64 travels as a decimal, which SQLite's INTEGER
    // column would keep as an inexact REAL.
    if column.sql_type == crate::value::SqlType::U64
        && dialect == Dialect::Sqlite
        && matches!(v, Value::Decimal(d) if *d > rust_decimal::Decimal::from(i64::MAX))
    {
        return Err(invalid(format!(
            "{} is past SQLite's largest integer, {}",
            v.describe(),
            i64::MAX
        )));
    }
    if let (Some((precision, scale)), Value::Decimal(d)) = (column.decimal, v) {
        let d = d.normalize();
        let places = d.scale();
        let whole = d.abs().trunc();
        let digits = if whole.is_zero() {
            0
        } else {
            whole.to_string().len() as u32
        };
        if places > scale {
            return Err(invalid(format!(
                "{d} has {places} digits after the point and the column keeps {scale} (precision {precision}, scale {scale}): the database would round it; round it first (Decimal::round_dp)"
            )));
        }
        if digits > precision - scale {
            return Err(invalid(format!(
                "{d} has {digits} digits before the point and the column holds {} (precision {precision}, scale {scale})",
                precision - scale
            )));
        }
    }
    Ok(())
}

/// `INSERT INTO t (columns) VALUES (..), (..) [RETURNING key]` of `rows`
/// (full rows in column order; `columns` are the ones written).
pub(crate) fn insert(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    columns: &[usize],
    rows: &[Vec<Value>],
    returning: Option<&'static str>,
) -> Result<Statement> {
    let mut k = key(100, w.dialect, meta);
    k.number(rows.len() as u64)
        .tag(u8::from(returning.is_some()));
    for &c in columns {
        k.number(c as u64);
    }
    w.statement(k, |sql| {
        sql.raw("INSERT INTO ").ident(meta.table).raw(" (");
        for (n, &c) in columns.iter().enumerate() {
            if n > 0 {
                sql.raw(", ");
            }
            sql.ident(meta.columns[c].name);
        }
        sql.raw(") VALUES ");
        for (r, row) in rows.iter().enumerate() {
            sql.raw(if r > 0 { ", (" } else { "(" });
            for (n, &c) in columns.iter().enumerate() {
                if n > 0 {
                    sql.raw(", ");
                }
                sql.param(row[c].clone());
            }
            sql.raw(")");
        }
        if let Some(k) = returning {
            sql.raw(" RETURNING ").ident(k);
        }
    })
}

pub(crate) fn all_versioned<'r>(
    meta: &EntityMeta,
    mut versions: impl Iterator<Item = Option<&'r Value>>,
) -> bool {
    meta.version_column().is_some() && versions.all(|v| v.is_some())
}

pub(crate) fn update_single(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    u: &RowUpdate,
) -> Result<Statement> {
    w.statement(update_single_key(w, meta, u), |sql| {
        write_update_single(sql, meta, u)
    })
}

/// The UPDATEs of `rows` (rows that changed the same columns) as repeated
/// statements (the dialect's `UpdateBatch::PerRow`): one `UPDATE .. WHERE
/// <key>` run for each row, its template resolved once. Consecutive rows of
/// one shape (the same columns, checked versions or not) share a
/// statement; [`Statement::runs`] says how many rows each covers.
pub(crate) fn update_each(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    rows: &[&RowUpdate],
) -> Result<Vec<Statement>> {
    let versioned = |u: &RowUpdate| all_versioned(meta, std::iter::once(u.old_version.as_ref()));
    repeated_runs(
        w,
        meta,
        rows,
        |a, b| a.columns == b.columns && versioned(a) == versioned(b),
        |u| update_single_key(w, meta, u),
        |sql, u| write_update_single(sql, meta, u),
    )
}

/// Single-row statements of `rows`, one repeated statement per run of
/// consecutive rows of one shape (`same`), each run's template resolved
/// once under `key` of its first row.
fn repeated_runs<R>(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    rows: &[R],
    same: impl Fn(&R, &R) -> bool,
    key: impl Fn(&R) -> ShapeKey,
    write: impl Fn(&mut Sql, &R),
) -> Result<Vec<Statement>> {
    let mut out = Vec::new();
    let mut rest = rows;
    while let Some(first) = rest.first() {
        let n = rest.iter().take_while(|r| same(first, r)).count();
        let (now, later) = rest.split_at(n);
        let runs = w.statements(&key(first), now, &write)?;
        out.push(repeat(meta, runs)?);
        rest = later;
    }
    Ok(out)
}

/// One repeated statement of single-row statements of one text.
fn repeat(meta: &'static EntityMeta, runs: Vec<Statement>) -> Result<Statement> {
    let mut runs = runs.into_iter();
    let Some(first) = runs.next() else {
        return Err(Error::Internal {
            entity: Some(meta.name),
            message: "a repeated statement of no rows".into(),
        });
    };
    let width = first.params.len();
    let (sql, mut params) = (first.sql, first.params);
    for run in runs {
        if *run.sql != *sql || run.params.len() != width {
            return Err(Error::Internal {
                entity: Some(meta.name),
                message: format!(
                    "the rows of a repeated UPDATE differ: {} and {}",
                    sql, run.sql
                ),
            });
        }
        params.extend(run.params);
    }
    if width == 0 || params.len() == width {
        return Ok(Statement::new(sql, params));
    }
    Ok(Statement::repeated(sql, params, width))
}

fn update_single_key(w: Writer<'_>, meta: &'static EntityMeta, u: &RowUpdate) -> ShapeKey {
    let mut k = key(101, w.dialect, meta);
    k.tag(u8::from(all_versioned(
        meta,
        std::iter::once(u.old_version.as_ref()),
    )));
    for &c in &u.columns {
        k.number(c as u64);
    }
    k
}

/// `UPDATE t SET a = ?, .. WHERE <key> [AND version = ?]`
fn write_update_single(sql: &mut Sql, meta: &EntityMeta, u: &RowUpdate) {
    sql.raw("UPDATE ").ident(meta.table).raw(" SET ");
    for (n, (&c, v)) in u.columns.iter().zip(&u.values).enumerate() {
        if n > 0 {
            sql.raw(", ");
        }
        sql.ident(meta.columns[c].name).raw(" = ").param(v.clone());
    }
    sql.where_rows(meta, &[(&u.key, u.old_version.as_ref())]);
}

/// Whether the dialect writes one UPDATE per row ([`update_each`]) rather
/// than batches ([`update_batch`]).
pub(crate) fn updates_per_row(dialect: Dialect) -> bool {
    dialect.spec().update_batch == UpdateBatch::PerRow
}

pub(crate) fn update_batch(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    rows: &[&RowUpdate],
) -> Result<Statement> {
    let mut k = key(102, w.dialect, meta);
    k.tag(w.dialect.spec().update_batch as u8);
    k.number(rows.len() as u64).tag(u8::from(all_versioned(
        meta,
        rows.iter().map(|u| u.old_version.as_ref()),
    )));
    for &c in &rows[0].columns {
        k.number(c as u64);
    }
    // Every row's version goes from the checked one to the next (the
    // tracker bumps by one): `version = version + 1` instead of a CASE arm
    // per row, which the server plans and evaluates once.
    let versioned = all_versioned(meta, rows.iter().map(|u| u.old_version.as_ref()));
    let plus_one = meta.version_column().filter(|_| versioned);
    if let Some(v) = plus_one {
        let by_one = rows.iter().all(|u| {
            let n = u.columns.iter().position(|&c| c == v);
            match (n, &u.old_version) {
                (Some(n), Some(old)) => {
                    old.as_i64().map(|o| o.wrapping_add(1)) == u.values[n].as_i64()
                }
                (None, _) => true,
                _ => false,
            }
        });
        if !by_one {
            return Err(Error::Internal {
                entity: Some(meta.name),
                message: "a batched update does not bump the version by one".into(),
            });
        }
    }
    let form = w.dialect.spec().update_batch;
    if form == UpdateBatch::PerRow {
        return Err(Error::Internal {
            entity: Some(meta.name),
            message: "a batched update on a dialect that writes one UPDATE per row".into(),
        });
    }
    w.statement(k, |sql| {
        sql.raw("UPDATE ").ident(meta.table);
        if form == UpdateBatch::CaseArmsOnPrimary {
            sql.raw(" FORCE INDEX (PRIMARY)");
        }
        sql.raw(" SET ");
        for (n, &c) in rows[0].columns.iter().enumerate() {
            if n > 0 {
                sql.raw(", ");
            }
            let name = meta.columns[c].name;
            if Some(c) == plus_one {
                sql.ident(name).raw(" = ").ident(name).raw(" + 1");
                continue;
            }
            sql.ident(name).raw(" = CASE");
            for u in rows {
                sql.raw(" WHEN ")
                    .key_match(meta, &u.key)
                    .raw(" THEN ")
                    .param(u.values[n].clone());
            }
            sql.raw(" ELSE ").ident(name).raw(" END");
        }
        let targets: Vec<(&[Value], Option<&Value>)> = rows
            .iter()
            .map(|u| (u.key.as_slice(), u.old_version.as_ref()))
            .collect();
        sql.where_rows(meta, &targets);
    })
}

/// `UPDATE t SET column = value WHERE <key>`: a self-referencing key left
/// NULL by an INSERT to break a cycle.
pub(crate) fn fixup(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    row_key: &[Value],
    column: usize,
    value: &Value,
) -> Result<Statement> {
    let mut k = key(104, w.dialect, meta);
    k.number(column as u64);
    w.statement(k, |sql| {
        sql.raw("UPDATE ")
            .ident(meta.table)
            .raw(" SET ")
            .ident(meta.columns[column].name)
            .raw(" = ")
            .param(value.clone())
            .raw(" WHERE ")
            .key_match(meta, row_key);
    })
}

/// `DELETE FROM t WHERE <keys (and versions)>`.
pub(crate) fn delete(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    targets: &[(&[Value], Option<&Value>)],
) -> Result<Statement> {
    let mut k = key(103, w.dialect, meta);
    k.number(targets.len() as u64).tag(u8::from(all_versioned(
        meta,
        targets.iter().map(|(_, v)| *v),
    )));
    w.statement(k, |sql| {
        sql.raw("DELETE FROM ").ident(meta.table);
        sql.where_rows(meta, targets);
    })
}

/// The DELETEs of `rows` as repeated single-row statements, for the
/// dialects that write one UPDATE per row (SQLite): `DELETE FROM t WHERE
/// <key> [AND version = ?]` run for each row, a key lookup whatever the
/// connection's statistics say (a `WHERE id IN (..)` batch is planned as a
/// scan when they say the table is tiny, as the batched UPDATE was).
/// Consecutive rows of one shape (versions checked or not) share a
/// statement; [`Statement::runs`] says how many rows each covers.
pub(crate) fn delete_each(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    rows: &[(&[Value], Option<&Value>)],
) -> Result<Vec<Statement>> {
    let versioned = |t: &(&[Value], Option<&Value>)| all_versioned(meta, std::iter::once(t.1));
    repeated_runs(
        w,
        meta,
        rows,
        |a, b| versioned(a) == versioned(b),
        |t| {
            let mut k = key(105, w.dialect, meta);
            k.tag(u8::from(versioned(t)));
            k
        },
        |sql, t| {
            sql.raw("DELETE FROM ").ident(meta.table);
            sql.where_rows(meta, std::slice::from_ref(t));
        },
    )
}

/// `SELECT <key columns>[, <version>] FROM t WHERE <keys>`: what a stale
/// check reads to name the row that no longer matched.
pub(crate) fn select_versions(
    dialect: Dialect,
    meta: &EntityMeta,
    keys: &[Vec<Value>],
) -> Statement {
    let mut sql = Sql::new(dialect);
    sql.raw("SELECT ");
    let mut columns: Vec<&str> = meta.key_columns().map(|(_, c)| c.name).collect();
    if let Some(v) = meta.version_column() {
        columns.push(meta.columns[v].name);
    }
    for (n, c) in columns.iter().enumerate() {
        if n > 0 {
            sql.raw(", ");
        }
        sql.ident(c);
    }
    sql.raw(" FROM ").ident(meta.table);
    let targets: Vec<(&[Value], Option<&Value>)> =
        keys.iter().map(|k| (k.as_slice(), None)).collect();
    sql.where_rows(meta, &targets);
    sql.finish()
}

#[cfg(test)]
mod tests {
    use orm_cache::template::{Cached, Mode, ShapeKey, TemplateCache};

    use super::{Sql, Writer};
    use crate::sql::dialect::Dialect;
    use crate::value::Value;

    fn shape(tag: u8) -> ShapeKey {
        let mut k = ShapeKey::new();
        k.tag(tag).name("t");
        k
    }

    /// A writer whose parameters depend on whether it writes text: the
    /// kind of bug a template would hide, since a hit only collects
    /// parameters.
    fn inconsistent(sql: &mut Sql) {
        sql.raw("UPDATE t SET a = ").param(Value::I64(1));
        if sql.text.is_none() {
            sql.param(Value::I64(2));
        }
    }

    fn consistent(sql: &mut Sql) {
        sql.raw("UPDATE t SET a = ").param(Value::I64(1));
    }

    #[test]
    fn a_flush_template_that_differs_from_the_plain_build_is_never_stored() {
        let cache = TemplateCache::new(16, Mode::VerifyOnStore);
        let w = Writer {
            dialect: Dialect::Postgres,
            cache: &cache,
        };
        let first = w.statement(shape(1), inconsistent).unwrap();
        assert_eq!(
            (&*first.sql, first.params.as_slice()),
            ("UPDATE t SET a = $1", &[Value::I64(1)][..])
        );
        assert_eq!(cache.stats().verify_failures, 1, "caught when storing");
        assert!(matches!(cache.get(&shape(1)), Some(Cached::Uncacheable)));
        let again = w.statement(shape(1), inconsistent).unwrap();
        assert_eq!(
            again.params,
            [Value::I64(1)],
            "built the plain way from then on"
        );
        // A consistent writer is stored, then served from the template.
        w.statement(shape(2), consistent).unwrap();
        assert!(matches!(cache.get(&shape(2)), Some(Cached::Template(_))));
        let hit = w.statement(shape(2), consistent).unwrap();
        assert_eq!(
            (&*hit.sql, hit.params.as_slice()),
            ("UPDATE t SET a = $1", &[Value::I64(1)][..])
        );
    }

    #[test]
    fn paranoid_mode_checks_every_flush_statement() {
        let cache = TemplateCache::new(16, Mode::VerifyOnStore);
        let w = Writer {
            dialect: Dialect::Sqlite,
            cache: &cache,
        };
        w.statement(shape(3), consistent).unwrap();
        cache.set_mode(Mode::Paranoid);
        // The same shape now writes something else: a hit that verify
        // mode would serve from the stale template is refused.
        let err = w.statement(shape(3), inconsistent).unwrap_err();
        assert!(err.to_string().contains("paranoid check failed"), "{err}");
        assert_eq!(cache.stats().verify_failures, 1);
    }
}
