//! Running a flush plan: each [`Step`] on a [`Runner`] (the session's
//! transaction, or the pool for a commit that is one statement), generated
//! keys collected per entity type, row counts checked.
//!
//! An UPDATE or DELETE that matched fewer rows than it named is stale data:
//! the caller rolls the transaction back (or back to its savepoint: the
//! rows the statement did match would look moved inside it), then one more
//! SELECT finds the first such row and the error names its entity, key and
//! versions. (MySQL reports *matched* rows here because sqlx sets
//! `CLIENT_FOUND_ROWS`, so an UPDATE that writes identical values still
//! counts its row.)
//!
//! A statement that fails leaves with the entity it wrote and, for a
//! constraint violation, what its rows tell ([`explain`]): the servers name
//! the value, SQLite does not, and only the flush knows which rows the
//! statement carried, so it can say which of them collided.
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

use super::ordering::{Kind, Step};
use crate::error::{DbErrorKind, Error, Result, describe_key};
use crate::model::meta::EntityMeta;
use crate::runner::Runner;
use crate::sql::Statement;
use crate::value::Value;

/// Generated keys of each entity type of a flush (by type index); `None`
/// for types whose keys are not generated.
pub(crate) type Keys = Vec<Option<Vec<Value>>>;

/// Why [`run_steps`] stopped.
pub(crate) enum StepError {
    Failed(Error),
    /// Step `step` matched fewer rows than it named: the caller rolls back
    /// what it must, then names the row with [`stale_error`].
    Stale {
        step: usize,
    },
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Failed(e)
    }
}

/// Runs `steps` on `runner`; returns the generated keys of each type.
pub(crate) async fn run_steps<R: Runner>(
    runner: &mut R,
    steps: &[Step],
    metas: &[&'static EntityMeta],
) -> Result<Keys, StepError> {
    let mut keys: Keys = metas
        .iter()
        .map(|m| m.auto_key().map(|_| Vec::new()))
        .collect();
    let mut step_size = None;
    for (n, step) in steps.iter().enumerate() {
        let meta = metas[step.type_index];
        match step.kind {
            Kind::Insert if step.returning => {
                let set = match runner.fetch(&step.stmt).await {
                    Ok(set) => set,
                    Err(e) => return Err(explain(runner, e, meta, step).await.into()),
                };
                if let Some(out) = &mut keys[step.type_index] {
                    out.extend(set.rows.into_iter().filter_map(|mut r| r.pop()));
                }
            }
            Kind::Insert => {
                let done = match runner.execute(&step.stmt).await {
                    Ok(done) => done,
                    Err(e) => return Err(explain(runner, e, meta, step).await.into()),
                };
                if let (Some(out), Some(first)) = (&mut keys[step.type_index], done.last_insert_id)
                {
                    let increment = match step_size {
                        Some(s) => s,
                        None => *step_size.insert(auto_increment_step(runner).await?),
                    };
                    out.extend((0..step.rows as i64).map(|i| Value::I64(first + i * increment)));
                }
            }
            Kind::Fixup | Kind::Update | Kind::Delete => {
                let done = match runner.execute(&step.stmt).await {
                    Ok(done) => done,
                    Err(e) => return Err(explain(runner, e, meta, step).await.into()),
                };
                if done.rows_affected != step.rows as u64 {
                    return Err(StepError::Stale { step: n });
                }
            }
        }
    }
    for (i, meta) in metas.iter().enumerate() {
        let expected: usize = steps
            .iter()
            .filter(|s| s.type_index == i && s.kind == Kind::Insert)
            .map(|s| s.rows)
            .sum();
        if let Some(k) = &keys[i]
            && k.len() != expected
        {
            return Err(StepError::Failed(Error::Internal {
                entity: Some(meta.name),
                message: format!(
                    "expected {expected} generated keys, the database returned {}",
                    k.len()
                ),
            }));
        }
    }
    Ok(keys)
}

/// MySQL's `auto_increment_increment` (1 unless replication says otherwise).
async fn auto_increment_step<R: Runner>(runner: &mut R) -> Result<i64> {
    let stmt = Statement::new("SELECT @@auto_increment_increment", vec![]);
    let set = runner.fetch(&stmt).await?;
    Ok(set
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64)
        .unwrap_or(1))
}

/// A failed step's error with what the flush knows: the entity, and for
/// a constraint violation what the statement's rows tell about it (see
/// [`crate::Violation`] for what is certain and what each backend says).
async fn explain<R: Runner>(
    runner: &mut R,
    e: Error,
    meta: &'static EntityMeta,
    step: &Step,
) -> Error {
    let mut e = e.for_entity(meta.name);
    let Error::Database {
        kind,
        violation: Some(v),
        ..
    } = &mut e
    else {
        return e;
    };
    let unique = *kind == DbErrorKind::UniqueViolation;
    // MariaDB names the violated key, not its columns; `create_all`
    // names a unique column's key after the column.
    if v.columns.is_empty()
        && let Some(c) = &v.constraint
    {
        if c == "PRIMARY" {
            v.columns = meta
                .key_columns()
                .map(|(_, c)| c.name.to_string())
                .collect();
        } else if meta.columns.iter().any(|m| m.name == c) {
            v.columns = vec![c.clone()];
        }
    }
    if step.kind != Kind::Insert {
        if let [(key, _)] = step.checks.as_slice() {
            v.object_key = Some(describe_key(key));
        }
        return e;
    }
    let Some(rows) = inserted_rows(meta, step) else {
        return e;
    };
    let positions: Option<Vec<usize>> = v
        .columns
        .iter()
        .map(|c| meta.columns.iter().position(|m| m.name == c))
        .collect();
    let mut offender = None;
    match positions {
        Some(cols) if !cols.is_empty() => {
            let sep = runner.dialect().spec().duplicate_value.unwrap_or(", ");
            let text = |row: &[&Value]| {
                let cells: Vec<String> = cols.iter().map(|&c| plain(row[c])).collect();
                cells.join(sep)
            };
            if let Some(value) = &v.value {
                // The server's value: the second row holding it, if two
                // do (the first was written), else the one.
                let holding: Vec<usize> = (0..rows.len())
                    .filter(|&r| text(&rows[r]) == *value)
                    .collect();
                offender = holding.get(1).or(holding.first()).copied();
            } else if unique {
                offender = match rows.len() {
                    1 => Some(0),
                    _ => match twice(&rows, text) {
                        Some(r) => Some(r),
                        // A backend that names no value (SQLite).
                        None if runner.dialect().spec().duplicate_value.is_none() => {
                            already_stored(runner, meta, &cols, &rows).await
                        }
                        None => None,
                    },
                };
                if let Some(r) = offender {
                    v.value = Some(
                        cols.iter()
                            .map(|&c| plain(rows[r][c]))
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                }
            }
        }
        _ => {}
    }
    if rows.len() == 1 {
        offender = Some(0);
    }
    if let (Some(r), None) = (offender, meta.auto_key()) {
        let key: Vec<Value> = meta
            .key_columns()
            .map(|(i, _)| rows[r][i].clone())
            .collect();
        v.object_key = Some(describe_key(&key));
    }
    e
}

/// SQLite, which names no value: the first of `rows` whose `cols` the
/// table already holds (one SELECT, inside the failed statement's
/// transaction, which SQLite keeps usable after a failed statement;
/// written in SQLite's syntax: its VALUES name their columns `column1`..).
async fn already_stored<R: Runner>(
    runner: &mut R,
    meta: &'static EntityMeta,
    cols: &[usize],
    rows: &[Vec<&Value>],
) -> Option<usize> {
    let dialect = runner.dialect();
    let q = |name: &str| crate::sql::render::quote(dialect, name);
    let mut sql = String::from("SELECT v.column1 FROM (VALUES ");
    let mut params = Vec::with_capacity(rows.len() * cols.len());
    for (r, row) in rows.iter().enumerate() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        sql.push_str(&r.to_string());
        for &c in cols {
            sql.push_str(", ?");
            params.push(row[c].clone());
        }
        sql.push(')');
    }
    sql.push_str(") AS v WHERE EXISTS (SELECT 1 FROM ");
    sql.push_str(&q(meta.table));
    sql.push_str(" AS t WHERE ");
    for (n, &c) in cols.iter().enumerate() {
        if n > 0 {
            sql.push_str(" AND ");
        }
        sql.push_str(&format!(
            "t.{} = v.column{}",
            q(meta.columns[c].name),
            n + 2
        ));
    }
    sql.push_str(") ORDER BY v.column1 LIMIT 1");
    let set = runner.fetch(&Statement::new(sql, params)).await.ok()?;
    let found = set.rows.first()?.first()?.as_i64()?;
    usize::try_from(found).ok().filter(|&r| r < rows.len())
}

/// The rows an INSERT step wrote, each as wide as the entity (the
/// generated key's cell is a stand-in): its parameters, row by row, in the
/// columns' order without the generated key (`ordering::insert_steps`).
fn inserted_rows<'s>(meta: &EntityMeta, step: &'s Step) -> Option<Vec<Vec<&'s Value>>> {
    static NONE: Value = Value::Null(crate::value::SqlType::BigInt);
    let auto = meta.auto_key();
    let width = meta.columns.len() - usize::from(auto.is_some());
    let params = step.stmt.params();
    if width == 0 || params.len() != step.rows * width {
        return None;
    }
    let rows = params
        .chunks(width)
        .map(|cells| {
            let mut cells = cells.iter();
            (0..meta.columns.len())
                .map(|i| {
                    if Some(i) == auto {
                        &NONE
                    } else {
                        cells.next().unwrap_or(&NONE)
                    }
                })
                .collect()
        })
        .collect();
    Some(rows)
}

/// The index of the first row whose key text an earlier row already had.
fn twice(rows: &[Vec<&Value>], text: impl Fn(&[&Value]) -> String) -> Option<usize> {
    let mut seen = std::collections::HashSet::new();
    (0..rows.len()).find(|&r| !seen.insert(text(&rows[r])))
}

/// A value as the servers print one in a message: text as it is, numbers
/// and uuids in their usual form.
fn plain(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::I16(n) => n.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::Uuid(u) => u.to_string(),
        other => other.describe(),
    }
}
