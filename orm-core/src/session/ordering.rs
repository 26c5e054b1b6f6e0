//! Flush ordering: the statements that write one flush's changes, in the
//! order they must run, as [`Step`]s (pure: nothing touches a connection).
//!
//! ## Order
//!
//! 1. INSERTs, entity types in foreign-key order (referenced tables first),
//!    rows in multi-row statements as large as the bind limit allows; rows
//!    of a self-referencing type parents first ([`order_inserts`]);
//! 2. UPDATEs that set self-referencing keys left NULL to break a cycle;
//! 3. UPDATEs of changed columns (and row switches), types in foreign-key
//!    order; rows that changed the same columns batched into one statement;
//! 4. DELETEs, types in reverse foreign-key order (referencing tables first),
//!    and within a self-referencing type, children before parents
//!    ([`layer_deletes`]).
//!
//! The statements themselves are written by `crate::sql::dml`.
//!
//! Layer 3 (the session).

use super::tracker::Tracked;
use crate::backend::Capabilities;
use crate::error::Error;
use crate::error::Result;
use crate::model::entity::Entity;
use crate::model::meta::EntityMeta;
use crate::sql::Statement;
use crate::sql::dml::{self, RowDelete, RowUpdate, TypeChanges, Writer, check_values};
use crate::value::Value;
use std::collections::{HashMap, HashSet};

use super::changes::{NewRow, key_of};
use crate::error::describe_key;

/// Most rows in one UPDATE or DELETE (a CASE with more arms costs the
/// server more than another statement saves). SQLite writes an UPDATE per
/// row (`crate::sql::dialect::UpdateBatch::PerRow`).
pub(crate) const MAX_ROWS: usize = 1000;

/// Most rows in one INSERT; the bind limit usually binds first.
pub(crate) const MAX_INSERT_ROWS: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Insert,
    Fixup,
    Update,
    Delete,
}

/// One statement of a flush.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub kind: Kind,
    /// Index of the entity type in the flush's type list.
    pub type_index: usize,
    pub stmt: Statement,
    /// Rows the statement inserts, or must match.
    pub rows: usize,
    /// Reads generated keys back with RETURNING.
    pub returning: bool,
    /// For UPDATE and DELETE: each row's key and expected version, to name
    /// the stale row when fewer rows matched.
    pub checks: Vec<(Vec<Value>, Option<Value>)>,
}

fn insert_steps(
    w: Writer<'_>,
    caps: Capabilities,
    meta: &'static EntityMeta,
    index: usize,
    rows: &[Vec<Value>],
) -> Result<Vec<Step>> {
    let dialect = w.dialect;
    let auto = meta.auto_key();
    let columns: Vec<usize> = (0..meta.columns.len())
        .filter(|&i| Some(i) != auto)
        .collect();
    for row in rows {
        check_values(dialect, meta, columns.iter().map(|&i| (i, &row[i])))?;
    }
    let returning = match auto {
        Some(i) if caps.insert_returning => Some(meta.columns[i].name),
        _ => None,
    };
    // Without RETURNING an insert of no columns cannot report a key per
    // row, and MySQL cannot insert several rows of DEFAULT VALUES at once.
    let per_statement = if columns.is_empty() {
        if returning.is_some() && dialect.spec().multi_row_default_values {
            MAX_ROWS
        } else {
            1
        }
    } else {
        // As many rows as the bind limit allows: fewer, larger statements
        // (measured: 10,000 rows in chunks of 1,000 took 1.7-2.7x raw sqlx's
        // bind-limit chunks on SQLite and MariaDB).
        (caps.bind_limit / columns.len()).clamp(1, MAX_INSERT_ROWS)
    };
    rows.chunks(per_statement)
        .map(|chunk| {
            let stmt = if columns.is_empty() {
                // Rare (a table of only a generated key): sea-query knows
                // each dialect's DEFAULT VALUES form.
                crate::sql::render::insert(dialect, meta, &columns, chunk, returning)
            } else {
                dml::insert(w, meta, &columns, chunk, returning)?
            };
            Ok(Step {
                kind: Kind::Insert,
                type_index: index,
                stmt,
                rows: chunk.len(),
                returning: returning.is_some(),
                checks: Vec::new(),
            })
        })
        .collect()
}

fn update_steps(
    w: Writer<'_>,
    caps: Capabilities,
    meta: &'static EntityMeta,
    index: usize,
    updates: &[RowUpdate],
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    // Group by the set of changed columns, keeping first-seen order.
    let mut groups: Vec<(Vec<usize>, Vec<&RowUpdate>)> = Vec::new();
    for u in updates {
        check_values(w.dialect, meta, u.columns.iter().copied().zip(&u.values))?;
        if u.rekeys {
            steps.push(update_step(index, dml::update_single(w, meta, u)?, &[u]));
            continue;
        }
        match groups.iter_mut().find(|(cols, _)| *cols == u.columns) {
            Some((_, rows)) => rows.push(u),
            None => groups.push((u.columns.clone(), vec![u])),
        }
    }
    for (columns, rows) in groups {
        let keys = meta.key_columns().count();
        let per_row = columns.len() * (keys + 1) + keys + 1;
        // As many rows as a batch (and the stale check's SELECT of their
        // keys) can carry.
        let per_statement = (caps.bind_limit / per_row).clamp(1, MAX_ROWS);
        if dml::updates_per_row(w.dialect) {
            for chunk in rows.chunks(per_statement) {
                let stmts = dml::update_each(w, meta, chunk)?;
                for_runs(stmts, chunk, |stmt, now| {
                    steps.push(update_step(index, stmt, now))
                });
            }
            continue;
        }
        for chunk in rows.chunks(per_statement) {
            let stmt = if chunk.len() == 1 {
                dml::update_single(w, meta, chunk[0])?
            } else {
                dml::update_batch(w, meta, chunk)?
            };
            steps.push(update_step(index, stmt, chunk));
        }
    }
    Ok(steps)
}

/// Hands each repeated statement the rows it covers ([`Statement::runs`]
/// of them, in order).
fn for_runs<'r, R>(stmts: Vec<Statement>, rows: &'r [R], mut f: impl FnMut(Statement, &'r [R])) {
    let mut left = rows;
    for stmt in stmts {
        let (now, later) = left.split_at(stmt.runs().min(left.len()));
        f(stmt, now);
        left = later;
    }
}

fn update_step(index: usize, stmt: Statement, rows: &[&RowUpdate]) -> Step {
    Step {
        kind: Kind::Update,
        type_index: index,
        stmt,
        rows: rows.len(),
        returning: false,
        checks: rows
            .iter()
            .map(|u| (u.key.clone(), u.old_version.clone()))
            .collect(),
    }
}

fn fixup_steps(
    w: Writer<'_>,
    meta: &'static EntityMeta,
    index: usize,
    fixups: &[(Vec<Value>, usize, Value)],
) -> Result<Vec<Step>> {
    fixups
        .iter()
        .map(|(row_key, column, value)| {
            let stmt = dml::fixup(w, meta, row_key, *column, value)?;
            Ok(Step {
                kind: Kind::Fixup,
                type_index: index,
                stmt,
                rows: 1,
                returning: false,
                checks: vec![(row_key.clone(), None)],
            })
        })
        .collect()
}

fn delete_steps(
    w: Writer<'_>,
    caps: Capabilities,
    meta: &'static EntityMeta,
    index: usize,
    deletes: &[RowDelete],
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let top = deletes.iter().map(|d| d.layer).max().unwrap_or(0);
    let per_statement = (caps.bind_limit / (meta.key_columns().count() + 1)).clamp(1, MAX_ROWS);
    for layer in 0..=top {
        let rows: Vec<&RowDelete> = deletes.iter().filter(|d| d.layer == layer).collect();
        for chunk in rows.chunks(per_statement) {
            let targets: Vec<(&[Value], Option<&Value>)> = chunk
                .iter()
                .map(|d| (d.key.as_slice(), d.old_version.as_ref()))
                .collect();
            let step = |stmt, rows: &[&RowDelete]| Step {
                kind: Kind::Delete,
                type_index: index,
                stmt,
                rows: rows.len(),
                returning: false,
                checks: rows
                    .iter()
                    .map(|d| (d.key.clone(), d.old_version.clone()))
                    .collect(),
            };
            if dml::updates_per_row(w.dialect) {
                // One DELETE per row, as the UPDATEs (see `dml::delete_each`).
                let stmts = dml::delete_each(w, meta, &targets)?;
                for_runs(stmts, chunk, |stmt, now| steps.push(step(stmt, now)));
                continue;
            }
            steps.push(step(dml::delete(w, meta, &targets)?, chunk));
        }
    }
    Ok(steps)
}

/// The statements of one flush. `types` is in foreign-key order (referenced first).
pub(crate) fn build(
    w: Writer<'_>,
    caps: Capabilities,
    types: &[(&'static EntityMeta, &TypeChanges)],
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for (i, (meta, changes)) in types.iter().enumerate() {
        steps.extend(insert_steps(w, caps, meta, i, &changes.inserts)?);
    }
    for (i, (meta, changes)) in types.iter().enumerate() {
        steps.extend(fixup_steps(w, meta, i, &changes.fixups)?);
    }
    for (i, (meta, changes)) in types.iter().enumerate() {
        steps.extend(update_steps(w, caps, meta, i, &changes.updates)?);
    }
    for (i, (meta, changes)) in types.iter().enumerate().rev() {
        steps.extend(delete_steps(w, caps, meta, i, &changes.deletes)?);
    }
    Ok(steps)
}

impl<T: Entity> Tracked<T> {
    /// Orders new rows so that a row referenced through a self-referencing
    /// foreign key is inserted before the rows referencing it; rows in a
    /// cycle get the cyclic column as NULL and an UPDATE afterwards.
    pub(super) fn order_inserts(
        rows: Vec<NewRow<T>>,
        fixups: &mut Vec<(Vec<Value>, usize, Value)>,
    ) -> Result<Vec<NewRow<T>>> {
        let meta = T::meta();
        let self_refs = meta.self_references();
        // Only assigned keys are known before the insert.
        if self_refs.is_empty()
            || rows.len() < 2
            || meta.key_columns().count() != 1
            || meta.auto_key().is_some()
        {
            return Ok(rows);
        }
        let key_col = meta.key_columns().next().map(|(i, _)| i).unwrap_or(0);
        let position: HashMap<String, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, (_, r))| (r[key_col].describe(), i))
            .collect();
        // deps[i]: rows that must be inserted before row i.
        let deps: Vec<Vec<(usize, usize)>> = rows
            .iter()
            .enumerate()
            .map(|(i, (_, r))| {
                self_refs
                    .iter()
                    .filter(|&&c| !r[c].is_null())
                    .filter_map(|&c| position.get(&r[c].describe()).map(|&j| (j, c)))
                    .filter(|&(j, _)| j != i)
                    .collect()
            })
            .collect();
        let mut placed = vec![false; rows.len()];
        let mut order = Vec::with_capacity(rows.len());
        loop {
            let before = order.len();
            for i in 0..rows.len() {
                if !placed[i] && deps[i].iter().all(|&(j, _)| placed[j]) {
                    placed[i] = true;
                    order.push(i);
                }
            }
            if order.len() == rows.len() {
                break;
            }
            if order.len() == before {
                // A cycle: insert the first stuck row with its self-references
                // NULL and set them once every row exists.
                let i = (0..rows.len()).find(|&i| !placed[i]).unwrap_or(0);
                for &(_, c) in &deps[i] {
                    if !meta.columns[c].nullable {
                        return Err(Error::Schema {
                            entity: meta.name,
                            relation: None,
                            message: format!(
                                "rows {} form a foreign-key cycle through the non-nullable column {}",
                                describe_key(&key_of(meta, &rows[i].1)),
                                meta.columns[c].name
                            ),
                        });
                    }
                }
                placed[i] = true;
                order.push(i);
            }
        }
        let mut slots: Vec<Option<NewRow<T>>> = rows.into_iter().map(Some).collect();
        let mut done = HashSet::new();
        let mut out = Vec::with_capacity(slots.len());
        for i in order {
            let (h, mut row) = slots[i].take().expect("each row placed once");
            for &(j, c) in &deps[i] {
                if !done.contains(&j) {
                    let value =
                        std::mem::replace(&mut row[c], Value::Null(meta.columns[c].sql_type));
                    fixups.push((key_of(meta, &row), c, value));
                }
            }
            done.insert(i);
            out.push((h, row));
        }
        Ok(out)
    }

    /// Assigns delete layers: a row referenced (through a self-reference) by
    /// another deleted row goes in a later layer than it.
    pub(super) fn layer_deletes(deletes: &mut [RowDelete], rows: &[Vec<Value>]) {
        let meta = T::meta();
        let self_refs = meta.self_references();
        if self_refs.is_empty() || deletes.len() < 2 || meta.key_columns().count() != 1 {
            return;
        }
        let key_col = meta.key_columns().next().map(|(i, _)| i).unwrap_or(0);
        let keys: HashMap<String, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r[key_col].describe(), i))
            .collect();
        // parent[i] = rows that row i references.
        let parents: Vec<Vec<usize>> = rows
            .iter()
            .map(|r| {
                self_refs
                    .iter()
                    .filter_map(|&c| keys.get(&r[c].describe()).copied())
                    .collect()
            })
            .collect();
        // A parent's layer is above every child's; iterate to a fixed point
        // (bounded: a cycle stops at the row count).
        for _ in 0..rows.len() {
            let mut changed = false;
            for child in 0..rows.len() {
                for &p in &parents[child] {
                    if p != child && deletes[p].layer <= deletes[child].layer {
                        deletes[p].layer = deletes[child].layer + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
}
