//! [`Handle<T>`]: the shared, identity-mapped reference to one object, and
//! the per-object state the unit of work keeps beside it.
//!
//! Within a session one primary key is one `Handle`; cloning a handle clones
//! the reference, never the object. Reads and writes go through a
//! `parking_lot::RwLock` (no poisoning). Do not hold a guard across an
//! `.await`: a temporary guard lives to the end of its statement
//! (`s.get::<T>(h.read().id).await` holds it; use [`Handle::key`]).
//!
//! ## A second borrow is an error, never a deadlock
//!
//! The lock is not re-entrant, and its guards are not `Send`: a future that
//! holds one across an `.await` stays on one thread, and anything on that
//! thread that then borrows the same object (the session's flush reading
//! it, a query putting a row into it, a keyed collection reading its key
//! attribute, another task of a current-thread runtime) would wait for
//! ever, and no timeout fires while the thread is blocked. So
//! [`Handle::read`] and [`Handle::write`] return guards ([`ReadGuard`],
//! [`WriteGuard`]) that record, per thread, which objects this thread
//! holds, and a borrow that cannot be had at once looks there:
//!
//! * this thread holds the object's write guard (any borrow), or a read
//!   guard of it (a write): a panic at once, naming the entity and the key;
//! * otherwise (another thread holds it, or this thread's guards are
//!   nested deeper than it records): a wait of up to [`BORROW_WAIT`] (see
//!   [`set_borrow_wait`]), then the same panic.
//!
//! The session checks before a flush and answers [`Error::Borrowed`]
//! instead when this thread writes one of its objects (nothing started,
//! the session as it was), and keyed collections return it when a
//! child's key attribute cannot be read. The key in the message comes
//! from the snapshot a persistent object takes at its first write (the
//! value cannot be read while it is written); a new object's key is not
//! known then, and the message says so.
//!
//! The fast paths are the lock's own plus a few thread-local loads and
//! stores: a read is one `try_read_recursive` (which, unlike `read`, also
//! lets a thread that already reads take a second read while a writer
//! waits, instead of deadlocking).
//!
//! [`Error::Borrowed`]: crate::Error::Borrowed
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
//!
//! Layer 2 (objects): it uses only what is below it (see `crate::layers`).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{Error, describe_key};
use crate::model::entity::Entity;
use crate::model::fields::ObjectState;
use crate::value::Value;

/// How long a borrow waits, by default, for a guard held elsewhere (by
/// another thread) before it panics instead of hanging: far longer than any
/// guard is held for real work, short enough that a deadlock between
/// threads is reported. Change it with [`set_borrow_wait`].
pub const BORROW_WAIT: Duration = Duration::from_secs(30);

/// The current bound, in milliseconds (read on the slow path only).
static WAIT_MS: AtomicU64 = AtomicU64::new(BORROW_WAIT.as_millis() as u64);

/// Sets, for the whole process, how long a borrow waits for a guard held
/// by another thread before it panics (default [`BORROW_WAIT`]). A borrow
/// this thread itself blocks never waits.
pub fn set_borrow_wait(wait: Duration) {
    WAIT_MS.store(wait.as_millis().max(1) as u64, Ordering::Relaxed);
}

fn borrow_wait() -> Duration {
    Duration::from_millis(WAIT_MS.load(Ordering::Relaxed))
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
    /// The written-objects list of the session whose identity map holds
    /// this object (see [`Journal`]); `None` while new or detached.
    pub(crate) journal: Option<Arc<Journal>>,
    /// Whether this object is on that list now (it goes there once).
    pub(crate) journaled: bool,
}

/// The objects of one type written since their session last looked: each
/// tracked write of an object whose [`Tracking::journal`] is set puts the
/// object here once (a relaxed flag check under the state lock the write
/// takes anyway, and an `Arc` clone the first time: no allocation beyond
/// the list's own growth). A flush finds the dirty objects and the
/// relationship owners here instead of scanning every object of its
/// identity map; entries are taken out when the session has seen what
/// they say (`Journal::take`), their flags cleared.
#[derive(Default)]
pub(crate) struct Journal {
    entries: Mutex<Vec<Arc<dyn std::any::Any + Send + Sync>>>,
    /// Tracked writes of the map's objects so far: a session that found
    /// nothing to flush when the count was `n` still has nothing to flush
    /// of these objects while it is `n` (see `Session::autoflush`).
    writes: AtomicU64,
}

impl Journal {
    /// The count of tracked writes of the map's objects (see `writes`).
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// How many objects are on the list.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// The objects on the list of type `T`, leaving it as it is.
    pub(crate) fn handles<T: Entity>(&self) -> Vec<Handle<T>> {
        self.entries
            .lock()
            .iter()
            .filter_map(|e| e.clone().downcast::<Slot<T>>().ok())
            .map(|inner| Handle { inner })
            .collect()
    }

    /// Keeps on the list only the objects still written since their load
    /// or last flush (a snapshot, not detached); the others go on it again
    /// at their next write. The list's lock is never held while an
    /// object's state lock is taken (a write takes them the other way round).
    pub(crate) fn prune<T: Entity>(&self) {
        let entries = std::mem::take(&mut *self.entries.lock());
        let mut keep = Vec::with_capacity(entries.len());
        for e in entries {
            let Ok(slot) = e.downcast::<Slot<T>>() else {
                continue;
            };
            let mut t = slot.tracking.lock();
            if t.snapshot.is_some() && t.status != ObjectState::Detached {
                drop(t);
                keep.push(slot as Arc<dyn std::any::Any + Send + Sync>);
            } else {
                t.journaled = false;
            }
        }
        if !keep.is_empty() {
            self.entries.lock().extend(keep);
        }
    }

    /// Empties the list (the session lets go of its objects).
    pub(crate) fn clear<T: Entity>(&self) {
        let entries = std::mem::take(&mut *self.entries.lock());
        for e in entries {
            if let Ok(slot) = e.downcast::<Slot<T>>() {
                slot.tracking.lock().journaled = false;
            }
        }
    }
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal").field("len", &self.len()).finish()
    }
}

struct Slot<T> {
    value: RwLock<T>,
    tracking: Mutex<Tracking>,
}

thread_local! {
    /// The objects this thread holds read guards of.
    static READING: GuardStack = const { GuardStack::new() };
    /// The objects this thread holds write guards of.
    static WRITING: GuardStack = const { GuardStack::new() };
}

/// How many guards of each kind a thread records; guards nested deeper
/// are counted, not recorded (a borrow they block falls back to the
/// bounded wait).
const RECORDED: usize = 8;

/// The slot addresses of this thread's guards of one kind. Per thread, not
/// per object: an object pays nothing (a field per slot grew small
/// entities past an allocator size class: +7% instructions on a
/// 10,000-row load), and "does *this* thread hold it" is the only question
/// ever asked. A fixed array of cells (no allocation, no lazy
/// initialisation, nothing to drop), so recording a guard is a few plain
/// loads and stores; guards are nearly always dropped in reverse order,
/// which is the fast path. Guards are not `Send`, so each is dropped on
/// the thread that recorded it.
struct GuardStack {
    len: Cell<usize>,
    /// Guards alive beyond the recorded ones.
    extra: Cell<usize>,
    addrs: [Cell<usize>; RECORDED],
}

impl GuardStack {
    const fn new() -> GuardStack {
        GuardStack {
            len: Cell::new(0),
            extra: Cell::new(0),
            addrs: [const { Cell::new(0) }; RECORDED],
        }
    }

    #[inline]
    fn push(&self, addr: usize) {
        let n = self.len.get();
        if n < RECORDED {
            self.addrs[n].set(addr);
            self.len.set(n + 1);
        } else {
            self.extra.set(self.extra.get() + 1);
        }
    }

    #[inline]
    fn pop(&self, addr: usize) {
        let n = self.len.get();
        if n > 0 && self.addrs[n - 1].get() == addr {
            self.len.set(n - 1);
        } else {
            self.remove(addr);
        }
    }

    /// Out of order, or never recorded: one record of `addr` goes if there
    /// is one, so a dropped guard never looks alive (with two reads of one
    /// object, a live one may look dropped, which only costs the wait).
    #[cold]
    fn remove(&self, addr: usize) {
        let n = self.len.get();
        match (0..n).rev().find(|&i| self.addrs[i].get() == addr) {
            Some(i) => {
                for j in i..n - 1 {
                    self.addrs[j].set(self.addrs[j + 1].get());
                }
                self.len.set(n - 1);
            }
            None => self.extra.set(self.extra.get().saturating_sub(1)),
        }
    }

    fn holds(&self, addr: usize) -> bool {
        (0..self.len.get()).any(|i| self.addrs[i].get() == addr)
    }

    fn any(&self) -> bool {
        self.len.get() > 0 || self.extra.get() > 0
    }
}

/// Whether this thread holds a write guard of any object.
pub(crate) fn this_thread_writes() -> bool {
    WRITING.with(GuardStack::any)
}

/// A read borrow of an object ([`Handle::read`]): derefs to it. Recorded
/// for this thread, so that a write of the same object here is a panic at
/// once rather than a deadlock. Not `Send`.
pub struct ReadGuard<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    addr: usize,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T> ReadGuard<'a, T> {
    #[inline]
    fn new(guard: RwLockReadGuard<'a, T>, addr: usize) -> Self {
        READING.with(|r| r.push(addr));
        ReadGuard {
            guard,
            addr,
            _not_send: PhantomData,
        }
    }
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        READING.with(|r| r.pop(self.addr));
    }
}

impl<T: fmt::Debug> fmt::Debug for ReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A write borrow of an object ([`Handle::write`]): derefs to it. Recorded
/// for this thread, so that a second borrow of the same object here is a
/// panic naming it rather than a deadlock (see the module docs). Not
/// `Send`, like the lock's own guard.
pub struct WriteGuard<'a, T> {
    guard: RwLockWriteGuard<'a, T>,
    addr: usize,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T> WriteGuard<'a, T> {
    #[inline]
    fn new(guard: RwLockWriteGuard<'a, T>, addr: usize) -> Self {
        WRITING.with(|w| w.push(addr));
        WriteGuard {
            guard,
            addr,
            _not_send: PhantomData,
        }
    }
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        WRITING.with(|w| w.pop(self.addr));
    }
}

impl<T: fmt::Debug> fmt::Debug for WriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A shared reference to an entity object tracked by a session. Clones are
/// the same object: the identity map hands out one handle per key, so
/// [`Handle::ptr_eq`] tells whether two are the same row. Read and write
/// through short-lived guards ([`Handle::read`], [`Handle::write`]); never
/// hold one across an `.await`.
///
/// ```
/// # use orm_core::prelude::*;
/// #[entity]
/// pub struct Counter {
///     #[key(auto)]
///     pub id: i64,
///     pub n: i64,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.create_all(&[Counter::schema()]).await?;
/// let mut s = db.session();
/// let c = s.add(Counter { id: 0, n: 1 });
/// assert_eq!(c.state(), ObjectState::New);
/// c.write().n += 1;
/// s.commit().await?;
/// let id = c.read().id; // the generated key, read back by the insert
/// let again = s.get::<Counter>(id).await?;
/// assert!(Handle::ptr_eq(&c, &again));
/// assert_eq!((again.state(), again.read().n), (ObjectState::Persistent, 2));
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Handle<T> {
    inner: Arc<Slot<T>>,
}

impl<T: Entity> Handle<T> {
    /// A handle for a new or loaded object. Its relationship fields learn
    /// their owner here (`crate::model::fields::Link`), so a collection
    /// can reach the object it belongs to.
    pub(crate) fn with_state(value: T, status: ObjectState) -> Handle<T> {
        Self::with_state_in(value, status, None)
    }

    /// [`Handle::with_state`] for an object entering a session's identity
    /// map: its writes are noted in that map's [`Journal`].
    pub(crate) fn with_state_in(
        mut value: T,
        status: ObjectState,
        journal: Option<&Arc<Journal>>,
    ) -> Handle<T> {
        let inner = Arc::new_cyclic(|weak: &Weak<Slot<T>>| {
            if !T::meta().relations.is_empty() {
                crate::object::erased::bind_all(
                    &mut value,
                    weak.clone() as Weak<dyn crate::model::fields::OwnerSlot>,
                    weak.as_ptr() as *const () as usize,
                    status,
                );
            }
            Slot {
                value: RwLock::new(value),
                tracking: Mutex::new(Tracking {
                    journal: journal.cloned(),
                    ..Tracking::new(status)
                }),
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
        let weak = Arc::downgrade(&self.inner) as Weak<dyn crate::model::fields::OwnerSlot>;
        let addr = self.addr();
        crate::object::erased::bind_all(&mut *self.lock_write(), weak, addr, status);
    }

    /// Replaces the object's column values with `fresh`'s, keeping its
    /// relationship fields (they are not columns, and they know their owner).
    pub(crate) fn replace(&self, mut fresh: T) {
        let mut value = self.lock_write();
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
            journal: None,
            journaled: false,
        }
    }
}

impl<T: Entity> crate::model::fields::OwnerSlot for Slot<T> {
    fn object(self: Arc<Self>) -> crate::model::fields::Obj {
        Arc::new(Handle { inner: self })
    }
}

impl<T> Handle<T> {
    /// Borrows the object for reading; any number of reads at once. Panics,
    /// naming the object, if this thread holds its write guard (waiting
    /// would be for ever), or if a write guard held elsewhere is not
    /// released within [`BORROW_WAIT`].
    #[inline]
    pub fn read(&self) -> ReadGuard<'_, T>
    where
        T: Entity,
    {
        let guard = match self.inner.value.try_read_recursive() {
            Some(g) => g,
            None => self.read_slow(),
        };
        ReadGuard::new(guard, self.addr())
    }

    #[cold]
    #[inline(never)]
    fn read_slow(&self) -> RwLockReadGuard<'_, T>
    where
        T: Entity,
    {
        if self.written_here() {
            self.borrow_panic("read");
        }
        match self.inner.value.try_read_recursive_for(borrow_wait()) {
            Some(g) => g,
            None => self.wait_panic("read"),
        }
    }

    /// The write lock, through the same checks as [`Handle::read`].
    #[inline]
    fn lock_write(&self) -> WriteGuard<'_, T>
    where
        T: Entity,
    {
        let guard = match self.inner.value.try_write() {
            Some(g) => g,
            None => self.write_slow(),
        };
        WriteGuard::new(guard, self.addr())
    }

    #[cold]
    #[inline(never)]
    fn write_slow(&self) -> RwLockWriteGuard<'_, T>
    where
        T: Entity,
    {
        if self.written_here() {
            self.borrow_panic("write");
        }
        if READING.with(|r| r.holds(self.addr())) {
            panic!(
                "{} {}: cannot write it: this thread holds a read guard of it (`h.write().x = \
                 h.read().y` keeps the read to the end of the statement: read into a local \
                 first); waiting would be for ever",
                T::meta().name,
                self.locked_key()
            );
        }
        match self.inner.value.try_write_for(borrow_wait()) {
            Some(g) => g,
            None => self.wait_panic("write"),
        }
    }

    /// Whether this thread holds the object's write guard.
    pub(crate) fn written_here(&self) -> bool {
        WRITING.with(|w| w.holds(self.addr()))
    }

    /// The object's key for messages while it may be locked: from the
    /// snapshot of its first write, or what is known without its value.
    pub(crate) fn locked_key(&self) -> String
    where
        T: Entity,
    {
        let meta = T::meta();
        // The tracking lock is never held across user code; still, a
        // message must not block.
        let Some(t) = self.inner.tracking.try_lock() else {
            return "(key not readable while it is written)".into();
        };
        if let Some(key) = t
            .snapshot
            .as_ref()
            .and_then(|row| T::key_from_row(row).ok())
        {
            return describe_key(&T::key_values(&key));
        }
        match t.status {
            ObjectState::New if meta.auto_key().is_some() => "(new, no key yet)".into(),
            ObjectState::New => "(new; its key is not readable while it is written)".into(),
            _ => "(key not readable while it is written)".into(),
        }
    }

    /// The typed form of the re-entrant borrow, for the session's own reads.
    pub(crate) fn borrowed_error(&self) -> Error
    where
        T: Entity,
    {
        Error::Borrowed {
            entity: T::meta().name,
            key: self.locked_key(),
        }
    }

    fn borrow_panic(&self, what: &str) -> !
    where
        T: Entity,
    {
        panic!(
            "{} {}: cannot {what} it: this thread holds its write guard (held across an .await, or \
             still alive in this scope); waiting would be for ever, drop the guard first",
            T::meta().name,
            self.locked_key()
        )
    }

    fn wait_panic(&self, what: &str) -> !
    where
        T: Entity,
    {
        panic!(
            "{} {}: cannot {what} it: a guard held by another thread was not released within \
             {:?}; giving up instead of waiting for ever",
            T::meta().name,
            self.locked_key(),
            borrow_wait()
        )
    }

    /// A read for the session's own bookkeeping: [`Error::Borrowed`] if
    /// this thread writes the object, instead of a panic.
    pub(crate) fn read_checked(&self) -> crate::error::Result<ReadGuard<'_, T>>
    where
        T: Entity,
    {
        let guard = match self.inner.value.try_read_recursive() {
            Some(g) => g,
            None if self.written_here() => return Err(self.borrowed_error()),
            None => self.read_slow(),
        };
        Ok(ReadGuard::new(guard, self.addr()))
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

    /// Puts the object in a session's identity map's written list: its
    /// writes from now on are noted there (see [`Journal`]). With `noted`
    /// it goes on the list at once (an object whose pending state came back
    /// without a write: an undone flush).
    pub(crate) fn join(&self, journal: &Arc<Journal>, noted: bool)
    where
        T: Entity,
    {
        let mut tracking = self.inner.tracking.lock();
        if !tracking
            .journal
            .as_ref()
            .is_some_and(|j| Arc::ptr_eq(j, journal))
        {
            tracking.journal = Some(journal.clone());
            tracking.journaled = false;
        }
        if noted && !tracking.journaled {
            journal.entries.lock().push(self.inner.clone());
            tracking.journaled = true;
        }
    }

    pub(crate) fn tracking(&self) -> parking_lot::MutexGuard<'_, Tracking> {
        self.inner.tracking.lock()
    }

    /// Writes without taking a snapshot (the session's own bookkeeping).
    pub(crate) fn write_untracked(&self) -> WriteGuard<'_, T>
    where
        T: Entity,
    {
        self.lock_write()
    }
}

impl<T: Entity> Handle<T> {
    /// Borrows the object for writing. The first write since the object was
    /// loaded or flushed snapshots its values for change tracking. Panics,
    /// naming the object, if this thread already holds its write guard, or
    /// if a guard held elsewhere is not released within [`BORROW_WAIT`]
    /// (see the module docs).
    pub fn write(&self) -> WriteGuard<'_, T> {
        let guard = self.write_quietly();
        T::meta().note_write();
        guard
    }

    /// A tracked write (the snapshot as for [`Handle::write`]) that keyed
    /// collections need not notice: the session's writes of relationship
    /// fields and foreign keys, which are never a key attribute. Counting
    /// them would make every keyed index of the child type stale whenever
    /// any collection gains or loses a child.
    pub(crate) fn write_quietly(&self) -> WriteGuard<'_, T> {
        let guard = self.lock_write();
        let mut tracking = self.inner.tracking.lock();
        if let Some(journal) = &tracking.journal {
            journal.writes.fetch_add(1, Ordering::Relaxed);
            if !tracking.journaled {
                journal.entries.lock().push(self.inner.clone());
                tracking.journaled = true;
            }
        }
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
        self.read().key()
    }

    /// The values the database holds for this object as far as the session
    /// knows: the snapshot if the object was written since its load or flush,
    /// else its current values.
    pub(crate) fn loaded_row(&self) -> Vec<Value> {
        let value = self.read();
        let tracking = self.inner.tracking.lock();
        tracking.snapshot.clone().unwrap_or_else(|| value.to_row())
    }
}

impl<T: Entity + Clone> Handle<T> {
    /// A copy of the object's current state.
    pub fn get(&self) -> T {
        self.read().clone()
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

#[cfg(test)]
mod tests {
    use super::{GuardStack, RECORDED};

    #[test]
    fn guards_dropped_in_any_order_are_forgotten() {
        let s = GuardStack::new();
        s.push(1);
        s.push(2);
        s.push(3);
        s.pop(2); // out of order
        assert!(s.holds(1) && !s.holds(2) && s.holds(3));
        s.pop(3);
        s.pop(1);
        assert!(!s.any());
    }

    #[test]
    fn guards_past_the_recorded_ones_are_counted() {
        let s = GuardStack::new();
        for a in 1..=RECORDED + 2 {
            s.push(a);
        }
        assert!(!s.holds(RECORDED + 1), "not recorded");
        // The recorded ones dropped first, out of order: never look alive.
        for a in 1..=RECORDED {
            s.pop(a);
            assert!(!s.holds(a));
        }
        assert!(s.any(), "two unrecorded guards are still alive");
        s.pop(RECORDED + 1);
        s.pop(RECORDED + 2);
        assert!(!s.any());
    }

    #[test]
    fn two_reads_of_one_object() {
        let s = GuardStack::new();
        s.push(7);
        s.push(7);
        s.pop(7);
        assert!(s.holds(7), "one read is still alive");
        s.pop(7);
        assert!(!s.holds(7) && !s.any());
    }
}
