//! Hooks: ordered callbacks around flush, commit and rollback, and per entity.
//!
//! ## Order
//!
//! Hooks run by **priority, lowest first, then in registration order**. Hooks
//! registered on a [`crate::Database`] apply to every session of it and are
//! merged with the session's own by the same rule (registration order is
//! global: a database hook registered before a session hook of the same
//! priority runs first). The order is deterministic and tested
//! (`tests/tests/hooks.rs`).
//!
//! ## Events
//!
//! | event | receives | when |
//! |---|---|---|
//! | `before_flush` | `&mut Session` | before a flush computes its changes; may add, change or delete objects, which the same flush writes. If the hooks keep producing new work, they run again (they see it) up to [`MAX_BEFORE_FLUSH_ROUNDS`] rounds, then the flush fails |
//! | `after_flush` | `&mut Session` | after the flush's statements ran, inside the transaction; an error fails the flush |
//! | `before_commit` | `&mut Session` | at `commit()`, before its final flush; may change objects |
//! | `after_commit` | `&Session` | after the transaction committed. It cannot write through that transaction (it is gone, and the hook gets a shared borrow): it may read objects and the stats, notify, or enqueue work elsewhere; an error is returned to the caller, the commit stands |
//! | `after_rollback` | `&Session` | after `rollback()` or a failed flush rolled the transaction back |
//! | `after_load::<T>` | `&mut T` | when an object is built from a row (not when a row maps to an object already in the session) |
//! | `before_insert/update/delete::<T>` | `&mut T` | during a flush, for each object about to be written; changes made here are written |
//! | `after_insert/update/delete::<T>` | `&T` | after the flush's statements succeeded |
//!
//! A hook returns `Result<()>`; an error aborts the flush like a database
//! error does (the transaction rolls back, the session is as before).
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::model::entity::Entity;
use crate::object::handle::Handle;
use crate::session::Session;
use crate::session::tracker::Tracked;

/// Registration methods of session hooks: `mut` ones receive
/// `&mut Session` (they may change objects), `view` ones `&Session`.
macro_rules! session_hooks {
    (mut { $($(#[$md:meta])* $mname:ident => $mevent:ident,)* } view { $($(#[$vd:meta])* $vname:ident => $vevent:ident,)* }) => {
        $(
            $(#[$md])*
            pub fn $mname(
                &self,
                priority: i32,
                f: impl Fn(&mut Session) -> Result<()> + Send + Sync + 'static,
            ) -> &Self {
                self.push(priority, Callback::Session(SessionEvent::$mevent, Arc::new(f)))
            }
        )*
        $(
            $(#[$vd])*
            pub fn $vname(
                &self,
                priority: i32,
                f: impl Fn(&Session) -> Result<()> + Send + Sync + 'static,
            ) -> &Self {
                self.push(priority, Callback::View(ViewEvent::$vevent, Arc::new(f)))
            }
        )*
    };
}

/// Registration methods of per-entity hooks: one per event, `mut` ones
/// receive `&mut T` (they may change the object), `view` ones `&T`.
macro_rules! entity_hooks {
    (mut { $($(#[$md:meta])* $mname:ident => $mevent:ident,)* } view { $($(#[$vd:meta])* $vname:ident => $vevent:ident,)* }) => {
        $(
            $(#[$md])*
            pub fn $mname<T: Entity>(
                &self,
                priority: i32,
                f: impl Fn(&mut T) -> Result<()> + Send + Sync + 'static,
            ) -> &Self {
                self.entity::<T>(priority, EntityEvent::$mevent, Arc::new(f))
            }
        )*
        $(
            $(#[$vd])*
            pub fn $vname<T: Entity>(
                &self,
                priority: i32,
                f: impl Fn(&T) -> Result<()> + Send + Sync + 'static,
            ) -> &Self {
                self.entity_view::<T>(priority, EntityEvent::$vevent, Arc::new(f))
            }
        )*
    };
}

/// How often `before_flush` hooks may run in one flush while they keep adding work.
pub const MAX_BEFORE_FLUSH_ROUNDS: usize = 10;

type SessionHook = Arc<dyn Fn(&mut Session) -> Result<()> + Send + Sync>;
type ViewHook = Arc<dyn Fn(&Session) -> Result<()> + Send + Sync>;
pub(crate) type EntityHook<T> = Arc<dyn Fn(&mut T) -> Result<()> + Send + Sync>;
pub(crate) type EntityViewHook<T> = Arc<dyn Fn(&T) -> Result<()> + Send + Sync>;

/// Session-level events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEvent {
    BeforeFlush,
    AfterFlush,
    BeforeCommit,
}

/// Events that only read the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViewEvent {
    AfterCommit,
    AfterRollback,
}

/// Per-entity events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityEvent {
    /// An object was built from a row.
    AfterLoad,
    /// A new object is about to be inserted by a flush.
    BeforeInsert,
    /// A changed object is about to be updated by a flush.
    BeforeUpdate,
    /// A deleted object's row is about to be deleted by a flush.
    BeforeDelete,
    /// The flush's statements succeeded and inserted this object.
    AfterInsert,
    /// The flush's statements succeeded and updated this object.
    AfterUpdate,
    /// The flush's statements succeeded and deleted this object's row.
    AfterDelete,
}

impl EntityEvent {
    /// The event's name in messages (`before_insert`).
    pub fn name(self) -> &'static str {
        match self {
            EntityEvent::AfterLoad => "after_load",
            EntityEvent::BeforeInsert => "before_insert",
            EntityEvent::BeforeUpdate => "before_update",
            EntityEvent::BeforeDelete => "before_delete",
            EntityEvent::AfterInsert => "after_insert",
            EntityEvent::AfterUpdate => "after_update",
            EntityEvent::AfterDelete => "after_delete",
        }
    }
}

#[derive(Clone)]
enum Callback {
    Session(SessionEvent, SessionHook),
    View(ViewEvent, ViewHook),
    /// `EntityHook<T>` or `EntityViewHook<T>`, boxed as `Any`.
    Entity(TypeId, EntityEvent, Arc<dyn Any + Send + Sync>),
}

#[derive(Clone)]
struct Entry {
    priority: i32,
    seq: u64,
    callback: Callback,
}

/// A registry of hooks, on a database or a session. Registration takes
/// `&self`. Hooks run by priority, lowest first, then in registration order,
/// a database's and a session's merged by that rule.
///
/// ```
/// # use orm_core::prelude::*;
/// use std::sync::{Arc, Mutex};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// let ran = Arc::new(Mutex::new(Vec::new()));
/// let log = ran.clone();
/// db.hooks().before_commit(10, move |_| {
///     log.lock().unwrap().push("database, 10");
///     Ok(())
/// });
/// let mut s = db.session();
/// let log = ran.clone();
/// s.hooks().before_commit(0, move |_| {
///     log.lock().unwrap().push("session, 0");
///     Ok(())
/// });
/// s.commit().await?;
/// assert_eq!(*ran.lock().unwrap(), ["session, 0", "database, 10"]);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Default)]
pub struct Hooks {
    entries: RwLock<Vec<Entry>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hooks({} registered)", self.entries.read().len())
    }
}

/// Registration order across every registry, so database and session hooks
/// of one priority interleave by the time they were registered.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Hooks {
    fn push(&self, priority: i32, callback: Callback) -> &Self {
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        self.entries.write().push(Entry {
            priority,
            seq,
            callback,
        });
        self
    }

    /// Before a flush computes its changes (see the module docs).
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// # async fn demo(db: Database) {
    /// let mut s = db.session();
    /// s.hooks().before_flush(10, |s| {
    ///     println!("{} new objects", s.pending_count());
    ///     Ok(())
    /// });
    /// # }
    /// ```
    pub fn before_flush(
        &self,
        priority: i32,
        f: impl Fn(&mut Session) -> Result<()> + Send + Sync + 'static,
    ) -> &Self {
        self.push(
            priority,
            Callback::Session(SessionEvent::BeforeFlush, Arc::new(f)),
        )
    }

    session_hooks! {
        mut {
            /// After a flush's statements ran, inside its transaction.
            after_flush => AfterFlush,
            /// At commit, before the final flush.
            before_commit => BeforeCommit,
        }
        view {
            /// After the transaction committed (read-only: see the module docs).
            after_commit => AfterCommit,
            /// After the transaction rolled back.
            after_rollback => AfterRollback,
        }
    }

    fn entity<T: Entity>(&self, priority: i32, event: EntityEvent, f: EntityHook<T>) -> &Self {
        self.push(
            priority,
            Callback::Entity(TypeId::of::<T>(), event, Arc::new(f)),
        )
    }

    fn entity_view<T: Entity>(
        &self,
        priority: i32,
        event: EntityEvent,
        f: EntityViewHook<T>,
    ) -> &Self {
        self.push(
            priority,
            Callback::Entity(TypeId::of::<T>(), event, Arc::new(f)),
        )
    }

    entity_hooks! {
        // Hooks that may change the object (`&mut T`).
        mut {
        /// When a `T` is built from a row (the reconstructor).
        after_load => AfterLoad,
        /// Before a new `T` is inserted.
        before_insert => BeforeInsert,
        /// Before a changed `T` is updated.
        before_update => BeforeUpdate,
        /// Before a `T` is deleted.
        before_delete => BeforeDelete,
        }
        // Hooks that see the object as written (`&T`).
        view {
        /// After a `T` was inserted (keys and version assigned).
        after_insert => AfterInsert,
        /// After a `T` was updated.
        after_update => AfterUpdate,
        /// After a `T` was deleted.
        after_delete => AfterDelete,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.read().is_empty()
    }
}

/// The hooks of a database and a session, merged and ordered once per use.
pub(crate) struct Merged {
    entries: Vec<Entry>,
}

impl Merged {
    pub(crate) fn of(database: &Hooks, session: &Hooks) -> Merged {
        let mut entries: Vec<Entry> = database.entries.read().clone();
        entries.extend(session.entries.read().iter().cloned());
        entries.sort_by_key(|e| (e.priority, e.seq));
        Merged { entries }
    }

    pub(crate) fn session(&self, event: SessionEvent) -> Vec<SessionHook> {
        self.entries
            .iter()
            .filter_map(|e| match &e.callback {
                Callback::Session(ev, f) if *ev == event => Some(f.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn view(&self, event: ViewEvent) -> Vec<ViewHook> {
        self.entries
            .iter()
            .filter_map(|e| match &e.callback {
                Callback::View(ev, f) if *ev == event => Some(f.clone()),
                _ => None,
            })
            .collect()
    }

    fn entity_any(
        &self,
        type_id: TypeId,
        event: EntityEvent,
    ) -> impl Iterator<Item = &Arc<dyn Any + Send + Sync>> {
        self.entries.iter().filter_map(move |e| match &e.callback {
            Callback::Entity(t, ev, f) if *t == type_id && *ev == event => Some(f),
            _ => None,
        })
    }

    /// The `&mut T` hooks of one event for `T`.
    pub(crate) fn entity<T: Entity>(&self, event: EntityEvent) -> Vec<EntityHook<T>> {
        self.entity_any(TypeId::of::<T>(), event)
            .filter_map(|f| f.downcast_ref::<EntityHook<T>>().cloned())
            .collect()
    }

    /// The `&T` hooks of one event for `T`.
    pub(crate) fn entity_view<T: Entity>(&self, event: EntityEvent) -> Vec<EntityViewHook<T>> {
        self.entity_any(TypeId::of::<T>(), event)
            .filter_map(|f| f.downcast_ref::<EntityViewHook<T>>().cloned())
            .collect()
    }
}

impl<T: Entity> Tracked<T> {
    pub(super) fn run_hooks(
        hooks: &Merged,
        event: EntityEvent,
        handles: &[Handle<T>],
    ) -> Result<()> {
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

    pub(super) fn run_view_hooks(
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
}

/// Hook dispatch: every hook the session runs is called from here.
impl Session {
    /// `after_flush` hooks, inside the transaction; an error fails the flush.
    pub(super) fn run_after_flush(&mut self, hooks: &Merged) -> Result<()> {
        for hook in hooks.session(SessionEvent::AfterFlush) {
            hook(self).map_err(|e| hook_error("after_flush", e))?;
        }
        Ok(())
    }

    /// `before_commit` hooks, before the commit's flush.
    pub(super) fn run_before_commit(&mut self, hooks: &Merged) -> Result<()> {
        for hook in hooks.session(SessionEvent::BeforeCommit) {
            hook(self).map_err(|e| hook_error("before_commit", e))?;
        }
        Ok(())
    }

    /// The `after_load` hooks of `T` (none when no hook is registered
    /// anywhere: the common case costs nothing per row).
    pub(super) fn after_load_hooks<T: Entity>(&self) -> Vec<EntityHook<T>> {
        if self.db_hooks.is_empty() && self.hooks.is_empty() {
            return Vec::new();
        }
        self.merged_hooks().entity::<T>(EntityEvent::AfterLoad)
    }

    pub(super) fn merged_hooks(&self) -> Merged {
        Merged::of(&self.db_hooks, &self.hooks)
    }

    pub(super) fn signature(&self) -> Vec<(usize, usize, usize)> {
        self.trackers.values().map(|t| t.signature()).collect()
    }

    /// Runs the `before_flush` hooks until they stop adding work.
    pub(super) fn run_before_flush(&mut self, hooks: &Merged) -> Result<()> {
        let list = hooks.session(SessionEvent::BeforeFlush);
        if list.is_empty() {
            return Ok(());
        }
        for _ in 0..MAX_BEFORE_FLUSH_ROUNDS {
            let before = self.signature();
            for hook in &list {
                hook(self).map_err(|e| hook_error("before_flush", e))?;
            }
            if self.signature() == before {
                return Ok(());
            }
        }
        Err(Error::Hook {
            event: "before_flush",
            message: format!(
                "the hooks were still adding work after {MAX_BEFORE_FLUSH_ROUNDS} rounds"
            ),
        })
    }

    pub(super) fn run_view_hooks(&self, event: ViewEvent) -> Option<Error> {
        let hooks = self.merged_hooks();
        let mut first = None;
        for hook in hooks.view(event) {
            if let Err(e) = hook(self) {
                let name = match event {
                    ViewEvent::AfterCommit => "after_commit",
                    ViewEvent::AfterRollback => "after_rollback",
                };
                first.get_or_insert(hook_error(name, e));
            }
        }
        first
    }
}

pub(super) fn hook_error(event: &'static str, e: Error) -> Error {
    match e {
        e @ Error::Hook { .. } => e,
        other => Error::Hook {
            event,
            message: other.to_string(),
        },
    }
}

/// Runs `after_load` hooks on an object built from a row.
pub(super) fn run_after_load<T: Entity>(hooks: &[EntityHook<T>], value: &mut T) -> Result<()> {
    for hook in hooks {
        hook(value).map_err(|e| Error::Hook {
            event: "after_load",
            message: format!("{}: {e}", T::meta().name),
        })?;
    }
    Ok(())
}
