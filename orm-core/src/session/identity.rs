//! The identity map: within a session one primary key is one object. Per
//! entity type, the objects loaded or flushed (by key), the new objects
//! waiting for an INSERT and the ones marked for deletion, and the
//! operations on them that do not need a flush.
//!
//! Layer 3 (the session).

use std::collections::{HashMap, HashSet};

use super::tracker::Tracked;
use crate::error::{Error, Result, describe_key};
use crate::model::entity::Entity;
use crate::model::fields::{Obj, ObjectState};
use crate::object::erased::typed;
use crate::object::handle::Handle;
use crate::value::Value;

/// The identity map of one type: keys hashed with foldhash (seeded per
/// process), several times cheaper than SipHash on the integer keys every
/// loaded row and every insert goes through.
pub(crate) type IdentityMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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

    pub(super) fn counts(&self) -> (usize, usize, usize) {
        (self.new.len(), self.journal.len(), self.deleted.len())
    }

    pub(super) fn check_new_keys(&self) -> Result<()> {
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

    /// Owners a flush's relationship walk must visit: deleted objects
    /// (their children cascade), and new or written ones with a
    /// relationship field whose membership changed. An object whose
    /// fields were never touched costs one read of its fields here (typed:
    /// no erased handle, no allocation) and nothing in the walk, which
    /// would find nothing to do for it (an unchanged field has an empty
    /// diff).
    pub(super) fn relation_owner_objects(&self) -> Vec<crate::model::fields::Obj> {
        let count = T::meta().relations.len();
        if count == 0 {
            return Vec::new();
        }
        let touched = |h: &Handle<T>| {
            let value = h.read();
            (0..count).any(|i| value.relation(i).is_some_and(|f| f.changed()))
        };
        let mut out: Vec<crate::model::fields::Obj> = self
            .new
            .iter()
            .filter(|h| touched(h))
            .chain(&self.deleted)
            .map(crate::object::erased::obj)
            .collect();
        out.extend(
            self.written_mapped()
                .iter()
                .filter(|h| h.state() == ObjectState::Persistent && touched(h))
                .map(crate::object::erased::obj),
        );
        out
    }

    pub(super) fn written_objects(&self) -> Vec<crate::model::fields::Obj> {
        let mut out: Vec<crate::model::fields::Obj> =
            self.new.iter().map(crate::object::erased::obj).collect();
        out.extend(self.written_mapped().iter().map(crate::object::erased::obj));
        out
    }

    /// The mapped objects (persistent or deleted) written since their load
    /// or last flush: the written list's, without a pass over the map.
    pub(super) fn written_mapped(&self) -> Vec<Handle<T>> {
        let mut out = self.journal.handles::<T>();
        out.retain(|h| {
            // The key it is mapped under is its key as loaded (the
            // snapshot's): a write may have changed the key attribute.
            let loaded_key = {
                let t = h.tracking();
                match (&t.snapshot, t.status) {
                    (Some(row), ObjectState::Persistent | ObjectState::Deleted) => {
                        T::key_from_row(row).ok()
                    }
                    _ => None,
                }
            };
            loaded_key
                .and_then(|k| self.map.get(&k))
                .is_some_and(|m| Handle::ptr_eq(m, h))
        });
        out
    }

    pub(super) fn borrowed(&self) -> Result<()> {
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

    pub(super) fn find_object(&self, key: &Value) -> Option<crate::model::fields::Obj> {
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

    pub(super) fn expire_every(&mut self) {
        for h in self.map.values() {
            h.tracking().expired = true;
        }
    }

    pub(super) fn enqueue_object(&mut self, obj: &Obj) {
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

    pub(super) fn delete_object(&mut self, obj: &Obj) -> Result<()> {
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

    pub(super) fn expire_key(&mut self, key: &str) {
        for h in self.map.values() {
            if describe_key(&T::key_values(&h.key())) == key {
                h.tracking().expired = true;
            }
        }
    }

    pub(super) fn forget_all(&mut self) {
        for h in self.map.values().chain(&self.new) {
            h.tracking().status = ObjectState::Detached;
        }
        self.map.clear();
        self.journal.clear::<T>();
        self.new.clear();
        self.deleted.clear();
        self.undo.clear();
        self.flushing = None;
    }
}
