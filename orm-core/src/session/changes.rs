//! Change tracking: an object is dirty when its column values differ from
//! the snapshot taken at its first write since it was loaded or flushed (or
//! its `is_modified` says so). Here: the history of one object, and per
//! type the [`TypeChanges`] a flush writes (new rows, updates of only the
//! changed columns, deletes, row switches) with the handles they came from.
//!
//! Layer 3 (the session).

use std::collections::HashSet;

use super::tracker::Tracked;
use super::versioning::{bumped, version_one};
use crate::error::Result;
use crate::model::entity::Entity;
use crate::model::fields::ObjectState;
use crate::model::meta::EntityMeta;
use crate::object::handle::Handle;
use crate::session::hooks::{EntityEvent, Merged};
use crate::sql::dml::{RowDelete, RowUpdate, TypeChanges};
use crate::value::{Value, same};

/// A column change of one object: old and new value.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The column's SQL name.
    pub column: &'static str,
    /// Its value when loaded or last flushed.
    pub old: Value,
    /// Its value now.
    pub new: Value,
}

/// A dirty object's current row, its snapshot, and the changed columns.
pub(super) struct Dirty {
    pub(super) row: Vec<Value>,
    pub(super) snapshot: Vec<Value>,
    pub(super) changed: Vec<usize>,
}

/// A dirty object being updated by a flush.
pub(super) struct Updating<T: Entity> {
    pub(super) handle: Handle<T>,
    pub(super) key_before: T::Key,
    pub(super) snapshot: Vec<Value>,
    pub(super) row: Vec<Value>,
}

/// The fields an insert assigns (generated key, version), as they were.
pub(super) type Saved = Vec<(usize, Value)>;

/// A new object on its way into an INSERT: its handle, its saved fields, its row.
pub(super) type NewRow<T> = ((Handle<T>, Saved), Vec<Value>);

/// The handles behind a prepared [`TypeChanges`], in the same order.
pub(super) struct Flushing<T: Entity> {
    pub(super) inserted: Vec<(Handle<T>, Saved)>,
    pub(super) updated: Vec<Updating<T>>,
    pub(super) deleted: Vec<Handle<T>>,
    /// (new object, deleted object, new row) in the same order as their updates.
    pub(super) switched: Vec<(Handle<T>, Handle<T>, Vec<Value>)>,
}

pub(super) fn key_of(meta: &EntityMeta, row: &[Value]) -> Vec<Value> {
    meta.key_columns().map(|(i, _)| row[i].clone()).collect()
}

impl<T: Entity> Tracked<T> {
    /// The columns of `row` that differ from `snapshot`, the version column excluded.
    fn diff(row: &[Value], snapshot: &[Value]) -> Vec<usize> {
        let version = T::meta().version_column();
        (0..row.len())
            .filter(|&i| Some(i) != version && !same(&row[i], &snapshot[i]))
            .collect()
    }

    /// Whether a touched persistent object really changed, and which columns.
    fn changes_of(handle: &Handle<T>) -> Result<Option<Dirty>> {
        Self::inspect(handle, |row, snapshot, changed| Dirty {
            row,
            snapshot: snapshot.to_vec(),
            changed,
        })
    }

    /// Runs `f` on a changed object's current row, its snapshot and the
    /// changed columns, the snapshot borrowed (read under the object's
    /// state lock, taken after its value lock as everywhere): an object
    /// written back to its loaded values costs no copy of its snapshot.
    fn inspect<R>(
        handle: &Handle<T>,
        f: impl FnOnce(Vec<Value>, &[Value], Vec<usize>) -> R,
    ) -> Result<Option<R>> {
        let value = handle.read();
        let tracking = handle.tracking();
        let Some(snapshot) = tracking.snapshot.as_deref() else {
            return Ok(None);
        };
        // A user's `is_modified` sees plain values, never a handle: it
        // cannot reach this object's locks.
        if let Some(verdict) = value.is_modified(snapshot)
            && !verdict?
        {
            return Ok(None);
        }
        let row = value.to_row();
        let changed = Self::diff(&row, snapshot);
        if changed.is_empty() {
            return Ok(None);
        }
        Ok(Some(f(row, snapshot, changed)))
    }

    /// Public view: the changes of one object since its load or last flush.
    pub(crate) fn history(handle: &Handle<T>) -> Vec<Change> {
        let value = handle.read();
        let tracking = handle.tracking();
        let Some(snapshot) = &tracking.snapshot else {
            return Vec::new();
        };
        let row = value.to_row();
        let meta = T::meta();
        (0..row.len())
            .filter(|&i| !same(&row[i], &snapshot[i]))
            .map(|i| Change {
                column: meta.columns[i].name,
                old: snapshot[i].clone(),
                new: row[i].clone(),
            })
            .collect()
    }

    pub(crate) fn is_dirty(handle: &Handle<T>) -> bool {
        matches!(Self::inspect(handle, |_, _, _| ()), Ok(Some(())))
    }

    pub(super) fn prepare_changes(
        &mut self,
        hooks: &Merged,
        held: &HashSet<usize>,
    ) -> Result<TypeChanges> {
        let meta = T::meta();
        let version = meta.version_column();
        let auto = meta.auto_key();
        let ready: Vec<Handle<T>> = if held.is_empty() {
            self.new.clone()
        } else {
            self.new
                .iter()
                .filter(|h| !held.contains(&h.addr()))
                .cloned()
                .collect()
        };
        Self::run_hooks(hooks, EntityEvent::BeforeInsert, &ready)?;
        Self::run_hooks(hooks, EntityEvent::BeforeDelete, &self.deleted)?;
        // From the written list, not a pass over every mapped object.
        let dirty: Vec<Handle<T>> = self
            .written_mapped()
            .into_iter()
            .filter(|h| !held.contains(&h.addr()))
            .filter(|h| h.state() == ObjectState::Persistent && Self::is_dirty(h))
            .collect();
        Self::run_hooks(hooks, EntityEvent::BeforeUpdate, &dirty)?;

        let mut changes = TypeChanges::default();
        let mut flushing = Flushing {
            inserted: Vec::new(),
            updated: Vec::new(),
            deleted: Vec::new(),
            switched: Vec::new(),
        };

        // Row switches: a new object whose (assigned) key belongs to a row
        // being deleted updates that row instead.
        let mut deleted: Vec<Handle<T>> = self.deleted.clone();
        let mut new_rows = Vec::with_capacity(ready.len());
        for h in &ready {
            let mut row = h.read().to_row();
            let saved: Saved = auto
                .iter()
                .chain(version.iter())
                .map(|&i| (i, row[i].clone()))
                .collect();
            if let Some(v) = version {
                row[v] = version_one(&row[v]);
            }
            let switch = if auto.is_none() {
                let key = h.key();
                deleted.iter().position(|d| d.key() == key)
            } else {
                None
            };
            match switch {
                Some(pos) => {
                    let old = deleted.remove(pos);
                    let old_row = old.loaded_row();
                    let old_version = version.map(|v| old_row[v].clone());
                    if let Some(v) = version {
                        row[v] = bumped(&old_row[v]);
                    }
                    let columns: Vec<usize> = (0..row.len())
                        .filter(|&i| !meta.columns[i].primary_key)
                        .collect();
                    changes.updates.push(RowUpdate {
                        key: key_of(meta, &old_row),
                        values: columns.iter().map(|&i| row[i].clone()).collect(),
                        columns,
                        old_version,
                        rekeys: false,
                    });
                    flushing.switched.push((h.clone(), old, row));
                }
                None => new_rows.push(((h.clone(), saved), row)),
            }
        }
        for (h, row) in Self::order_inserts(new_rows, &mut changes.fixups)? {
            changes.inserts.push(row);
            flushing.inserted.push(h);
        }

        for h in dirty {
            let Some(Dirty {
                mut row,
                snapshot,
                mut changed,
            }) = Self::changes_of(&h)?
            else {
                continue;
            };
            let key_before = T::key_from_row(&snapshot)?;
            let rekeys = changed.iter().any(|&i| meta.columns[i].primary_key);
            let old_version = version.map(|v| snapshot[v].clone());
            if let Some(v) = version {
                row[v] = bumped(&snapshot[v]);
                changed.push(v);
            }
            changes.updates.push(RowUpdate {
                key: key_of(meta, &snapshot),
                values: changed.iter().map(|&i| row[i].clone()).collect(),
                columns: changed,
                old_version,
                rekeys,
            });
            flushing.updated.push(Updating {
                handle: h,
                key_before,
                snapshot,
                row,
            });
        }
        let delete_rows: Vec<Vec<Value>> = deleted.iter().map(|h| h.loaded_row()).collect();
        changes.deletes = delete_rows
            .iter()
            .map(|row| RowDelete {
                key: key_of(meta, row),
                old_version: version.map(|v| row[v].clone()),
                layer: 0,
            })
            .collect();
        Self::layer_deletes(&mut changes.deletes, &delete_rows);
        flushing.deleted = deleted;

        self.flushing = Some(flushing);
        Ok(changes)
    }

    pub(super) fn cancel_changes(&mut self) {
        self.flushing = None;
    }
}
