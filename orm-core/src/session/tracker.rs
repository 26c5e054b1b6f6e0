//! Per entity type, everything the session tracks: the identity map, the
//! new and deleted objects, the changes a flush is writing, and the undo log
//! of the open transaction.
//!
//! The session keeps one [`Tracked<T>`] per entity type behind the
//! type-erased [`TypeTracker`] trait, so a session holds any mix of entities
//! while every operation on objects stays typed (keys hash as themselves;
//! no conversion to generic values on the hot path).
//!
//! ## A flush, per type
//!
//! 1. [`TypeTracker::prepare`] runs the before-insert/update/delete hooks,
//!    then computes the type's [`TypeChanges`]: new rows (sorted so that rows
//!    referenced through a self-referencing foreign key come first), updates
//!    of only the changed columns of dirty objects, deletes, and row switches
//!    (a deleted row and a new object with the same key become one UPDATE).
//!    It remembers which handles those changes came from.
//! 2. The session runs every type's statements (`ordering`, `persist`).
//! 3. Only if all of them succeeded, [`TypeTracker::apply`] assigns generated
//!    keys and versions, moves objects between states, clears snapshots, and
//!    pushes an undo record; otherwise [`TypeTracker::cancel`] forgets the
//!    prepared changes and nothing was assigned.
//!
//! ## Undo
//!
//! Each applied flush leaves an undo record tagged with its sequence number.
//! When the transaction rolls back, [`TypeTracker::restore_to`] replays the
//! records newer than a mark in reverse: inserted objects become new again
//! with their pre-insert keys, updated objects get back the snapshot of the
//! row before the flush (so they are dirty again, with the user's values),
//! deleted objects are pending deletion again. A savepoint is such a mark.

use std::any::Any;
use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result, describe_key};
use crate::model::entity::Entity;
use crate::model::fields::{Obj, ObjectState};
use crate::model::meta::EntityMeta;
use crate::object::erased::typed;
use crate::object::handle::Handle;
use crate::session::hooks::{EntityEvent, Merged};
use crate::sql::dml::{RowDelete, RowUpdate, TypeChanges};
use crate::value::{Value, same};

/// A column change of one object: old and new value.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub column: &'static str,
    pub old: Value,
    pub new: Value,
}

/// The type-erased face of [`Tracked<T>`].
pub(crate) trait TypeTracker: Send + Sync {
    fn meta(&self) -> &'static EntityMeta;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// (new, touched, deleted) counts: how `before_flush` rounds detect new work.
    fn signature(&self) -> (usize, usize, usize);
    fn check_keys(&self) -> Result<()>;
    /// Computes the type's changes, leaving out the objects in `held`
    /// (waiting for a parent's generated key: a later pass writes them).
    fn prepare(&mut self, hooks: &Merged, held: &HashSet<usize>) -> Result<TypeChanges>;
    /// Objects whose relationships a flush must look at: new, deleted, and
    /// written since their load or last flush (none if `T` has no relationships).
    fn relation_owners(&self) -> Vec<crate::model::fields::Obj>;
    /// New objects and persistent ones written since their load or last flush.
    fn written(&self) -> Vec<crate::model::fields::Obj>;
    /// The mapped object with this single-column key.
    fn find(&self, key: &Value) -> Option<crate::model::fields::Obj>;
    /// [`Error::Borrowed`] for an object of this type whose write guard this
    /// thread holds (new, mapped or deleted).
    fn check_borrows(&self) -> Result<()>;

    fn apply(&mut self, keys: Option<Vec<Value>>, seq: u64, hooks: &Merged) -> Result<()>;
    fn cancel(&mut self);
    fn restore_to(&mut self, seq: u64);
    fn discard(&mut self);
    fn forget_undo(&mut self);
    fn expire_all(&mut self);
    /// Queues a new object a collection or reference created (see
    /// `Session::enqueue`).
    fn enqueue(&mut self, obj: &Obj);
    /// Deletes an object reached through a relationship (see
    /// `Session::delete_object`).
    fn delete_erased(&mut self, obj: &Obj) -> Result<()>;
    /// Expires the object whose key reads `key` (as errors describe keys).
    fn expire_described(&mut self, key: &str);
    fn clear(&mut self);
}

/// What applying one flush changed, to undo it.
struct Undo<T: Entity> {
    seq: u64,
    /// Objects inserted, with their row before the insert (keys, version).
    /// Objects inserted, with their generated-key and version fields before the insert.
    inserted: Vec<(Handle<T>, Saved)>,
    /// Objects updated: (handle, key before, snapshot before, version field before).
    updated: Vec<(Handle<T>, T::Key, Vec<Value>)>,
    deleted: Vec<Handle<T>>,
    /// Row switches: (the new object, the deleted object it replaced).
    switched: Vec<(Handle<T>, Handle<T>)>,
}

/// A dirty object being updated by a flush.
struct Updating<T: Entity> {
    handle: Handle<T>,
    key_before: T::Key,
    snapshot: Vec<Value>,
    row: Vec<Value>,
}

/// A dirty object's current row, its snapshot, and the changed columns.
struct Dirty {
    row: Vec<Value>,
    snapshot: Vec<Value>,
    changed: Vec<usize>,
}

/// The fields an insert assigns (generated key, version), as they were.
type Saved = Vec<(usize, Value)>;

/// A new object on its way into an INSERT: its handle, its saved fields, its row.
type NewRow<T> = ((Handle<T>, Saved), Vec<Value>);

/// The handles behind a prepared [`TypeChanges`], in the same order.
struct Flushing<T: Entity> {
    inserted: Vec<(Handle<T>, Saved)>,
    updated: Vec<Updating<T>>,
    deleted: Vec<Handle<T>>,
    /// (new object, deleted object, new row) in the same order as their updates.
    switched: Vec<(Handle<T>, Handle<T>, Vec<Value>)>,
}

/// The identity map of one type: keys hashed with foldhash (seeded per
/// process), several times cheaper than SipHash on the integer keys every
/// loaded row and every insert goes through.
pub(crate) type IdentityMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) struct Tracked<T: Entity> {
    pub(crate) map: IdentityMap<T::Key, Handle<T>>,
    pub(crate) new: Vec<Handle<T>>,
    pub(crate) deleted: Vec<Handle<T>>,
    flushing: Option<Flushing<T>>,
    undo: Vec<Undo<T>>,
}

impl<T: Entity> Tracked<T> {
    /// Whether this handle is the one the identity map holds for its key.
    pub(crate) fn holds(&self, handle: &Handle<T>) -> bool {
        self.map
            .get(&handle.key())
            .is_some_and(|h| Handle::ptr_eq(h, handle))
    }

    /// Marks an object for deletion at the next flush (a new object is
    /// simply dropped from the session).
    pub(crate) fn delete(&mut self, handle: &Handle<T>) -> Result<()> {
        let state = handle.state();
        match state {
            ObjectState::New if self.new.iter().any(|h| Handle::ptr_eq(h, handle)) => {
                self.new.retain(|h| !Handle::ptr_eq(h, handle));
                let mut t = handle.tracking();
                t.status = ObjectState::Detached;
                t.queued = false;
                Ok(())
            }
            ObjectState::Persistent if self.holds(handle) => {
                handle.tracking().status = ObjectState::Deleted;
                self.deleted.push(handle.clone());
                Ok(())
            }
            ObjectState::Deleted if self.holds(handle) => Ok(()),
            other => Err(Error::NotInSession {
                entity: T::meta().name,
                state: other.name(),
            }),
        }
    }
}

impl<T: Entity> Default for Tracked<T> {
    fn default() -> Self {
        Tracked {
            map: IdentityMap::default(),
            new: Vec::new(),
            deleted: Vec::new(),
            flushing: None,
            undo: Vec::new(),
        }
    }
}

fn key_of(meta: &EntityMeta, row: &[Value]) -> Vec<Value> {
    meta.key_columns().map(|(i, _)| row[i].clone()).collect()
}

fn version_one(current: &Value) -> Value {
    match current {
        Value::I32(_) => Value::I32(1),
        Value::I16(_) => Value::I16(1),
        _ => Value::I64(1),
    }
}

fn bumped(current: &Value) -> Value {
    match *current {
        Value::I32(v) => Value::I32(v.wrapping_add(1)),
        Value::I16(v) => Value::I16(v.wrapping_add(1)),
        Value::I64(v) => Value::I64(v.wrapping_add(1)),
        ref other => other.clone(),
    }
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
        let value = handle.read();
        let tracking = handle.tracking();
        let Some(snapshot) = tracking.snapshot.clone() else {
            return Ok(None);
        };
        drop(tracking);
        if let Some(verdict) = value.is_modified(&snapshot)
            && !verdict?
        {
            return Ok(None);
        }
        let row = value.to_row();
        let changed = Self::diff(&row, &snapshot);
        Ok((!changed.is_empty()).then_some(Dirty {
            row,
            snapshot,
            changed,
        }))
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
        matches!(Self::changes_of(handle), Ok(Some(_)))
    }

    fn run_hooks(hooks: &Merged, event: EntityEvent, handles: &[Handle<T>]) -> Result<()> {
        let list = hooks.entity::<T>(event);
        if list.is_empty() {
            return Ok(());
        }
        for h in handles {
            // `write` so that changes made by the hook are tracked like any other.
            let mut value = h.write();
            for hook in &list {
                hook(&mut value).map_err(|e| Error::Hook {
                    event: event.name(),
                    message: format!("{}: {e}", T::meta().name),
                })?;
            }
        }
        Ok(())
    }

    fn run_view_hooks(
        hooks: &Merged,
        event: EntityEvent,
        handles: impl Iterator<Item = Handle<T>>,
    ) -> Result<()> {
        let list = hooks.entity_view::<T>(event);
        if list.is_empty() {
            return Ok(());
        }
        for h in handles {
            let value = h.read();
            for hook in &list {
                hook(&value).map_err(|e| Error::Hook {
                    event: event.name(),
                    message: format!("{}: {e}", T::meta().name),
                })?;
            }
        }
        Ok(())
    }

    /// Orders new rows so that a row referenced through a self-referencing
    /// foreign key is inserted before the rows referencing it; rows in a
    /// cycle get the cyclic column as NULL and an UPDATE afterwards.
    fn order_inserts(
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
                        return Err(Error::Config(format!(
                            "{}: rows {} form a foreign-key cycle through the non-nullable column {}",
                            meta.name,
                            describe_key(&key_of(meta, &rows[i].1)),
                            meta.columns[c].name
                        )));
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
    fn layer_deletes(deletes: &mut [RowDelete], rows: &[Vec<Value>]) {
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

impl<T: Entity> TypeTracker for Tracked<T> {
    fn meta(&self) -> &'static EntityMeta {
        T::meta()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn signature(&self) -> (usize, usize, usize) {
        let touched = self
            .map
            .values()
            .filter(|h| h.tracking().snapshot.is_some())
            .count();
        (self.new.len(), touched, self.deleted.len())
    }

    fn check_keys(&self) -> Result<()> {
        if T::meta().auto_key().is_some() {
            return Ok(());
        }
        let mut seen = HashSet::with_capacity(self.new.len());
        for h in &self.new {
            let key = h.key();
            let taken = self
                .map
                .get(&key)
                .is_some_and(|mapped| mapped.state() != ObjectState::Deleted);
            if taken || !seen.insert(key.clone()) {
                return Err(Error::DuplicateKey {
                    entity: T::meta().name,
                    key: describe_key(&T::key_values(&key)),
                });
            }
        }
        Ok(())
    }

    fn relation_owners(&self) -> Vec<crate::model::fields::Obj> {
        if T::meta().relations.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<crate::model::fields::Obj> =
            self.new.iter().map(crate::object::erased::obj).collect();
        out.extend(
            self.map
                .values()
                .filter(|h| {
                    let t = h.tracking();
                    t.status == ObjectState::Deleted || t.snapshot.is_some()
                })
                .map(crate::object::erased::obj),
        );
        out
    }

    fn written(&self) -> Vec<crate::model::fields::Obj> {
        let mut out: Vec<crate::model::fields::Obj> =
            self.new.iter().map(crate::object::erased::obj).collect();
        out.extend(
            self.map
                .values()
                .filter(|h| h.tracking().snapshot.is_some())
                .map(crate::object::erased::obj),
        );
        out
    }

    fn check_borrows(&self) -> Result<()> {
        match self
            .new
            .iter()
            .chain(self.map.values())
            .chain(&self.deleted)
            .find(|h| h.written_here())
        {
            Some(h) => Err(h.borrowed_error()),
            None => Ok(()),
        }
    }

    fn find(&self, key: &Value) -> Option<crate::model::fields::Obj> {
        let meta = T::meta();
        let mut columns = meta.key_columns();
        let (i, _) = columns.next()?;
        if columns.next().is_some() {
            return None;
        }
        // key_from_row reads the key columns alone.
        let mut row = vec![Value::Null(crate::value::SqlType::Text); meta.columns.len()];
        row[i] = key.clone();
        let key = T::key_from_row(&row).ok()?;
        self.map.get(&key).map(crate::object::erased::obj)
    }

    fn prepare(&mut self, hooks: &Merged, held: &HashSet<usize>) -> Result<TypeChanges> {
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
        let dirty: Vec<Handle<T>> = self
            .map
            .values()
            .filter(|h| !held.contains(&h.addr()))
            .filter(|h| h.state() == ObjectState::Persistent && Self::is_dirty(h))
            .cloned()
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

    fn apply(&mut self, keys: Option<Vec<Value>>, seq: u64, hooks: &Merged) -> Result<()> {
        let Some(flushing) = self.flushing.take() else {
            return Ok(());
        };
        let meta = T::meta();
        let version = meta.version_column();
        let auto = meta.auto_key();
        let mut undo = Undo {
            seq,
            inserted: Vec::new(),
            updated: Vec::new(),
            deleted: Vec::new(),
            switched: Vec::new(),
        };
        // Assign generated keys and versions; if one key does not decode,
        // put back what was assigned so far (set_column leaves a field as it
        // was when it fails) and report it: nothing half-assigned.
        let mut keys = keys.map(Vec::into_iter);
        for (n, (h, saved)) in flushing.inserted.iter().enumerate() {
            let assigned = {
                let mut value = h.write_untracked();
                let mut result = Ok(());
                if let (Some(keys), Some(pos)) = (&mut keys, auto)
                    && let Some(k) = keys.next()
                {
                    result = value.set_column(pos, k);
                }
                if let (Ok(()), Some(v)) = (&result, version) {
                    let one = saved
                        .iter()
                        .find(|(i, _)| *i == v)
                        .map(|(_, old)| version_one(old));
                    if let Some(one) = one {
                        result = value.set_column(v, one);
                    }
                }
                result
            };
            if let Err(e) = assigned {
                for (h, saved) in &flushing.inserted[..=n] {
                    let mut value = h.write_untracked();
                    for (i, old) in saved {
                        let _ = value.set_column(*i, old.clone());
                    }
                }
                return Err(e);
            }
        }
        let mut done: HashSet<usize, foldhash::fast::RandomState> =
            HashSet::with_capacity_and_hasher(
                flushing.inserted.len() + flushing.switched.len(),
                Default::default(),
            );
        for (h, saved) in &flushing.inserted {
            let mut t = h.tracking();
            t.status = ObjectState::Persistent;
            t.snapshot = None;
            drop(t);
            self.map.insert(h.key(), h.clone());
            done.insert(h.addr());
            h.rebind();
            undo.inserted.push((h.clone(), saved.clone()));
        }

        for (new, old, row) in &flushing.switched {
            if let Some(v) = version {
                new.write_untracked().set_column(v, row[v].clone())?;
            }
            new.tracking().status = ObjectState::Persistent;
            old.tracking().status = ObjectState::Detached;
            self.map.insert(new.key(), new.clone());
            done.insert(new.addr());
            undo.switched.push((new.clone(), old.clone()));
        }
        // Usually every new object was written: no set lookups then. Else a
        // set, not a scan per object: a flush may insert tens of thousands.
        if done.len() == self.new.len() {
            self.new.clear();
        } else {
            self.new.retain(|h| !done.contains(&h.addr()));
        }

        for Updating {
            handle: h,
            key_before,
            snapshot,
            row,
        } in &flushing.updated
        {
            if let Some(v) = version {
                h.write_untracked().set_column(v, row[v].clone())?;
            }
            h.tracking().snapshot = None;
            let key_now = h.key();
            if key_now != *key_before {
                self.map.remove(key_before);
                self.map.insert(key_now, h.clone());
                h.rebind();
            }
            undo.updated
                .push((h.clone(), key_before.clone(), snapshot.clone()));
        }

        for h in &flushing.deleted {
            h.tracking().status = ObjectState::Detached;
            let key = T::key_from_row(&h.loaded_row())?;
            if self.map.get(&key).is_some_and(|m| Handle::ptr_eq(m, h)) {
                self.map.remove(&key);
            }
            undo.deleted.push(h.clone());
        }
        self.deleted.clear();

        // Recorded before the after-hooks run, so a failing hook can be undone.
        self.undo.push(undo);
        Self::run_view_hooks(
            hooks,
            EntityEvent::AfterInsert,
            flushing.inserted.iter().map(|(h, _)| h.clone()),
        )?;
        Self::run_view_hooks(
            hooks,
            EntityEvent::AfterUpdate,
            flushing.updated.iter().map(|u| u.handle.clone()),
        )?;
        Self::run_view_hooks(
            hooks,
            EntityEvent::AfterDelete,
            flushing.deleted.iter().cloned(),
        )?;
        Ok(())
    }

    fn cancel(&mut self) {
        self.flushing = None;
    }

    fn restore_to(&mut self, seq: u64) {
        let meta = T::meta();
        while self.undo.last().is_some_and(|u| u.seq >= seq) {
            let undo = self.undo.pop().expect("checked non-empty");
            for h in undo.deleted.into_iter().rev() {
                h.tracking().status = ObjectState::Deleted;
                if let Ok(key) = T::key_from_row(&h.loaded_row()) {
                    self.map.insert(key, h.clone());
                }
                self.deleted.insert(0, h);
            }
            for (h, key_before, snapshot) in undo.updated.into_iter().rev() {
                if let Some(v) = meta.version_column() {
                    let _ = h.write_untracked().set_column(v, snapshot[v].clone());
                }
                let key_now = h.key();
                if key_now != key_before {
                    self.map.remove(&key_now);
                    self.map.insert(key_before, h.clone());
                }
                h.tracking().snapshot = Some(snapshot);
            }
            for (new, old) in undo.switched.into_iter().rev() {
                let key = new.key();
                {
                    let mut t = new.tracking();
                    t.status = ObjectState::New;
                    t.queued = true;
                }
                old.tracking().status = ObjectState::Deleted;
                self.map.insert(key, old.clone());
                self.deleted.insert(0, old);
                self.new.insert(0, new);
            }
            for (h, before) in undo.inserted.into_iter().rev() {
                let key = h.key();
                if self.map.get(&key).is_some_and(|m| Handle::ptr_eq(m, &h)) {
                    self.map.remove(&key);
                }
                // Inserted, then deleted before the rollback: added and
                // deleted in one transaction, it leaves the session.
                if let Some(pos) = self.deleted.iter().position(|d| Handle::ptr_eq(d, &h)) {
                    self.deleted.remove(pos);
                    h.tracking().status = ObjectState::Detached;
                    continue;
                }
                {
                    let mut value = h.write_untracked();
                    for (i, old) in before {
                        let _ = value.set_column(i, old);
                    }
                }
                let mut t = h.tracking();
                t.status = ObjectState::New;
                t.snapshot = None;
                t.queued = true;
                drop(t);
                h.rebind();
                self.new.insert(0, h);
            }
        }
    }

    fn discard(&mut self) {
        for h in self.new.drain(..) {
            let mut t = h.tracking();
            t.status = ObjectState::Detached;
            t.queued = false;
        }
        for h in self.deleted.drain(..) {
            h.tracking().status = ObjectState::Persistent;
        }
        for h in self.map.values() {
            let snapshot = h.tracking().snapshot.take();
            if let Some(snapshot) = snapshot
                && let Ok(original) = T::from_row(snapshot)
            {
                h.replace(original);
            }
        }
    }

    fn forget_undo(&mut self) {
        self.undo.clear();
    }

    fn expire_all(&mut self) {
        for h in self.map.values() {
            h.tracking().expired = true;
        }
    }

    fn enqueue(&mut self, obj: &Obj) {
        let Some(h) = typed::<T>(obj) else { return };
        let queue = {
            let mut t = h.tracking();
            let queue = t.status == ObjectState::New && !t.queued;
            if queue {
                t.queued = true;
            }
            queue
        };
        if queue {
            self.new.push(h);
        }
    }

    fn delete_erased(&mut self, obj: &Obj) -> Result<()> {
        let Some(h) = typed::<T>(obj) else {
            return Ok(());
        };
        let (status, queued) = {
            let t = h.tracking();
            (t.status, t.queued)
        };
        match status {
            ObjectState::New if !queued => {
                h.tracking().status = ObjectState::Detached;
                Ok(())
            }
            ObjectState::Deleted | ObjectState::Detached => Ok(()),
            _ => self.delete(&h),
        }
    }

    fn expire_described(&mut self, key: &str) {
        for h in self.map.values() {
            if describe_key(&T::key_values(&h.key())) == key {
                h.tracking().expired = true;
            }
        }
    }

    fn clear(&mut self) {
        for h in self.map.values().chain(&self.new) {
            h.tracking().status = ObjectState::Detached;
        }
        self.map.clear();
        self.new.clear();
        self.deleted.clear();
        self.undo.clear();
        self.flushing = None;
    }
}
