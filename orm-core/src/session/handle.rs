//! [`Handle<T>`]: the shared, identity-mapped reference to one object, and
//! the per-object state the unit of work keeps beside it.
//!
//! Within a session one primary key is one `Handle`; cloning a handle clones
//! the reference, never the object. Reads and writes go through a
//! `parking_lot::RwLock` (no poisoning). Do not hold a guard across an
//! `.await`: a temporary guard lives to the end of its statement
//! (`s.get::<T>(h.read().id).await` holds it; use [`Handle::key`]).
//!
//! ## Change tracking: snapshot on first write
//!
//! A loaded object keeps no copy of its row. The first [`Handle::write`]
//! after a load or a flush takes a *snapshot* of the column values (which
//! are still the database's at that moment). A flush compares the object's
//! values with that snapshot: only differing columns are written, and an
//! object written back to its loaded values is not dirty. Objects that are
//! only read never pay for a snapshot.
//!
//! Lock order: the value lock before the state lock, everywhere.

use std::fmt;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::entity::Entity;
use crate::value::Value;

/// Where an object stands in its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectState {
    /// Added, not yet inserted.
    New,
    /// Loaded or inserted; in the identity map.
    Persistent,
    /// Marked for deletion at the next flush (still in the identity map).
    Deleted,
    /// Not (or no longer) tracked by a session: expunged, deleted and
    /// flushed, or discarded by a rollback.
    Detached,
}

pub(crate) struct Tracking {
    pub(crate) status: ObjectState,
    /// The column values as last loaded or flushed, taken at the first write since.
    pub(crate) snapshot: Option<Vec<Value>>,
    /// The next row loaded for this key replaces the object's values.
    pub(crate) expired: bool,
    /// For a new object: whether it is in its session's list of new objects
    /// (a child created by a collection is not, until a flush cascades it in).
    pub(crate) queued: bool,
}

struct Slot<T> {
    value: RwLock<T>,
    tracking: Mutex<Tracking>,
}

/// A shared reference to an entity object tracked by a session.
pub struct Handle<T> {
    inner: Arc<Slot<T>>,
}

impl<T: Entity> Handle<T> {
    /// A handle for a new or loaded object. Its relationship fields learn
    /// their owner here (`crate::relation::object::Link`), so a collection
    /// can reach the object it belongs to.
    pub(crate) fn with_state(mut value: T, status: ObjectState) -> Handle<T> {
        let inner = Arc::new_cyclic(|weak: &Weak<Slot<T>>| {
            if !T::meta().relations.is_empty() {
                crate::relation::object::bind_all(
                    &mut value,
                    weak.clone() as Weak<dyn crate::relation::object::OwnerSlot>,
                    weak.as_ptr() as *const () as usize,
                    status,
                );
            }
            Slot {
                value: RwLock::new(value),
                tracking: Mutex::new(Tracking::new(status)),
            }
        });
        Handle { inner }
    }

    /// A new object created by a collection: not in the session's new
    /// objects until a flush cascades it in.
    pub(crate) fn created(value: T) -> Handle<T> {
        let h = Handle::with_state(value, ObjectState::New);
        h.tracking().queued = false;
        h
    }

    /// Refreshes the owner key the object's relationship fields know (after
    /// an insert assigned a generated key, or a key changed).
    pub(crate) fn rebind(&self) {
        if T::meta().relations.is_empty() {
            return;
        }
        let status = self.state();
        let weak = Arc::downgrade(&self.inner) as Weak<dyn crate::relation::object::OwnerSlot>;
        let addr = self.addr();
        crate::relation::object::bind_all(&mut *self.inner.value.write(), weak, addr, status);
    }

    /// Replaces the object's column values with `fresh`'s, keeping its
    /// relationship fields (they are not columns, and they know their owner).
    pub(crate) fn replace(&self, mut fresh: T) {
        let mut value = self.inner.value.write();
        // A write like any other for the keyed collections holding the
        // object: a rollback puts a key attribute back this way.
        T::meta().note_write();
        for i in 0..T::meta().relations.len() {
            if let (Some(old), Some(new)) = (value.relation_mut(i), fresh.relation_mut(i)) {
                old.swap_with(new.as_any_mut());
            }
        }
        *value = fresh;
    }
}

impl Tracking {
    fn new(status: ObjectState) -> Tracking {
        Tracking {
            status,
            snapshot: None,
            expired: false,
            queued: status == ObjectState::New,
        }
    }
}

impl<T: Entity> crate::relation::object::OwnerSlot for Slot<T> {
    fn object(self: Arc<Self>) -> crate::relation::object::Obj {
        Arc::new(Handle { inner: self })
    }
}

impl<T> Handle<T> {
    /// Borrows the object for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.inner.value.read()
    }

    /// Whether two handles refer to the same object (the identity-map test).
    pub fn ptr_eq(a: &Handle<T>, b: &Handle<T>) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// The object's address: identity for sets of handles.
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.inner) as *const () as usize
    }

    /// Where the object stands in its session.
    pub fn state(&self) -> ObjectState {
        self.inner.tracking.lock().status
    }

    pub(crate) fn tracking(&self) -> parking_lot::MutexGuard<'_, Tracking> {
        self.inner.tracking.lock()
    }

    /// Writes without taking a snapshot (the session's own bookkeeping).
    pub(crate) fn write_untracked(&self) -> RwLockWriteGuard<'_, T> {
        self.inner.value.write()
    }
}

impl<T: Entity> Handle<T> {
    /// Borrows the object for writing. The first write since the object was
    /// loaded or flushed snapshots its values for change tracking.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let guard = self.inner.value.write();
        T::meta().note_write();
        let mut tracking = self.inner.tracking.lock();
        if matches!(
            tracking.status,
            ObjectState::Persistent | ObjectState::Deleted
        ) && tracking.snapshot.is_none()
        {
            tracking.snapshot = Some(guard.to_row());
        }
        drop(tracking);
        guard
    }

    /// The object's primary key. Prefer this to `handle.read().id` inside an
    /// expression that awaits.
    pub fn key(&self) -> T::Key {
        self.inner.value.read().key()
    }

    /// The values the database holds for this object as far as the session
    /// knows: the snapshot if the object was written since its load or flush,
    /// else its current values.
    pub(crate) fn loaded_row(&self) -> Vec<Value> {
        let value = self.inner.value.read();
        let tracking = self.inner.tracking.lock();
        tracking.snapshot.clone().unwrap_or_else(|| value.to_row())
    }
}

impl<T: Clone> Handle<T> {
    /// A copy of the object's current state.
    pub fn get(&self) -> T {
        self.inner.value.read().clone()
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle {
            inner: self.inner.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.value.try_read() {
            Some(v) => f.debug_tuple("Handle").field(&*v).finish(),
            None => f.write_str("Handle(<locked>)"),
        }
    }
}
