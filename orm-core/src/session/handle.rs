//! [`Handle<T>`]: the shared, identity-mapped reference to one object.
//!
//! Within a session one primary key is one `Handle`; cloning a handle clones
//! the reference, never the object. Reads and writes go through a
//! `parking_lot::RwLock` (no poisoning, so a panicking user closure cannot
//! make the object unreadable). Do not hold a guard across an `.await`.
//!
//! Design note for the unit-of-work issue: dirty tracking will hook into
//! [`Handle::write`], snapshotting the loaded values on the first write
//! since the last flush, so objects that are only read cost no snapshot.

use std::fmt;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A shared reference to an entity object tracked by a session.
pub struct Handle<T> {
    inner: Arc<RwLock<T>>,
}

impl<T> Handle<T> {
    pub(crate) fn new(value: T) -> Handle<T> {
        Handle {
            inner: Arc::new(RwLock::new(value)),
        }
    }

    /// Borrows the object for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.inner.read()
    }

    /// Borrows the object for writing.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.inner.write()
    }

    /// Whether two handles refer to the same object (the identity-map test).
    pub fn ptr_eq(a: &Handle<T>, b: &Handle<T>) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

impl<T: crate::Entity> Handle<T> {
    /// The object's primary key. Prefer this to `handle.read().id` inside an
    /// expression that awaits: a guard temporary lives to the end of the
    /// statement, across the `.await`.
    pub fn key(&self) -> T::Key {
        self.inner.read().key()
    }
}

impl<T: Clone> Handle<T> {
    /// A copy of the object's current state.
    pub fn get(&self) -> T {
        self.inner.read().clone()
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
        match self.inner.try_read() {
            Some(v) => f.debug_tuple("Handle").field(&*v).finish(),
            None => f.write_str("Handle(<locked>)"),
        }
    }
}
