//! [`Session`]: the unit of work's façade. It owns the identity map, the
//! pending changes, the session's transaction, its hooks and its counters;
//! the work sits in named modules:
//!
//! * [`handle`]: shared references and per-object state (snapshot on first write);
//! * [`tracker`]: per entity type, the identity map, new and deleted objects,
//!   change computation, and the transaction's undo log;
//! * [`ordering`]: the ordered statements of a flush (pure), written by `crate::sql::dml`;
//! * [`persist`]: running them, reading keys back, detecting stale rows;
//! * [`transaction`]: the transaction's lifetime, savepoints, what a
//!   failure undoes, and what a dropped (cancelled) call leaves behind;
//! * `merge`: bringing detached or cached objects into the identity map.
//!
//! ## Object states
//!
//! [`ObjectState::New`] (added) → flush → `Persistent` (in the identity map;
//! *dirty* when its values differ from its snapshot) → `delete` →
//! `Deleted` → flush → `Detached`. `expunge`, and a rollback for new objects,
//! detach too. A detached copy comes back with [`Session::merge`].
//!
//! ## Transactions, failure, cancellation
//!
//! See [`transaction`]: a transaction opens at the first flush and lasts
//! until `commit` or `rollback`; a failed flush or commit rolls it back and
//! puts the session back where it was before its first flush (nothing
//! lost, nothing half-assigned), then refuses work until `rollback()`
//! acknowledges it; a failure inside [`Session::nested`] rolls back to its
//! savepoint only; a dropped call never leaves the pool or the session
//! lying about what is stored.
//!
//! Changes a failing `before_flush` hook made before it failed stay in memory.

pub(crate) mod assoc;
pub mod hooks;
pub(crate) mod loading;
mod merge;
pub(crate) mod ordering;
pub(crate) mod persist;
pub(crate) mod sync;
pub(crate) mod tracker;
pub(crate) mod transaction;
pub(crate) mod type_ops;

use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use indexmap::IndexMap;

pub use crate::model::fields::ObjectState;
pub use crate::object::handle::{BORROW_WAIT, Handle, ReadGuard, WriteGuard, set_borrow_wait};
use crate::sql::dml::TypeChanges;
pub use tracker::Change;
use tracker::{Tracked, TypeTracker};

use crate::backend::{Conn, Target};
use crate::engine::Engine;
use crate::error::{Error, Result, describe_key};
use crate::model::column::Node;
use crate::model::entity::Entity;
use crate::model::fields::Obj;
use crate::model::meta::dependency_order;
use crate::row::{Row, RowSet};
use crate::session::hooks::{
    EntityEvent, Hooks, MAX_BEFORE_FLUSH_ROUNDS, Merged, SessionEvent, ViewEvent,
};
use crate::sql::Statement;
use crate::telemetry::{Stats, observe};
use crate::value::Value;

/// A unit of work over one database.
///
/// ```
/// # use orm_core::prelude::*;
/// #[entity]
/// #[derive(Debug, Clone)]
/// pub struct Note {
///     #[key(auto)]
///     pub id: i64,
///     pub text: String,
///     #[version]
///     pub version: i64,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.create_all(&[Note::schema()]).await?;
/// let mut s = db.session();
/// let note = s.add(Note { id: 0, text: "hello".into(), version: 0 });
/// s.commit().await?;
/// assert_eq!(note.read().version, 1);
///
/// note.write().text = "hello".into();          // the same value: not dirty
/// assert!(!s.is_dirty(&note));
/// note.write().text = "bonjour".into();
/// assert_eq!(s.history(&note)[0].column, "text");
/// s.commit().await?;                            // UPDATE notes SET text = ?, version = 2 WHERE id = ? AND version = 1
/// assert_eq!(note.read().version, 2);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Session {
    /// The pool and what is shared with it.
    engine: Engine,
    /// The database's hooks (merged with the session's own).
    db_hooks: Arc<Hooks>,
    /// One tracker per entity type, in the order types were first seen.
    trackers: IndexMap<TypeId, Box<dyn TypeTracker>>,
    /// The open transaction's connection (`transaction` owns its lifetime).
    tx: Option<Conn>,
    /// Undo marks of open savepoints.
    savepoints: Vec<u64>,
    /// A flush or nested block was dropped before it finished (set by
    /// `transaction::Writing`).
    interrupted: Arc<AtomicBool>,
    /// A commit's durable step, left by a dropped `commit()` (see `transaction`).
    finishing: Option<transaction::Finishing>,
    /// A failure inside a savepoint that was rolled back: (its mark, the error),
    /// until its `nested` block ends.
    savepoint_error: Option<(u64, Error)>,
    /// Sequence number of flushes and savepoints in this session.
    seq: u64,
    /// Why the last flush or commit failed, until `rollback()`.
    failed: Option<String>,
    hooks: Hooks,
    stats: Stats,
    autoflush: bool,
    /// Tables the open transaction's flushes wrote: the result cache
    /// invalidates them at commit (`crate::cache`).
    written: Vec<&'static str>,
    /// Relationship fields whose base a flush of the open transaction moved
    /// on: (flush seq, owner, field, old base), undone like the trackers' log.
    relation_undo: Vec<RelationUndo>,
}

struct RelationUndo {
    seq: u64,
    owner: Obj,
    index: usize,
    base: Box<dyn std::any::Any + Send + Sync>,
}

impl Session {
    pub(crate) fn new(engine: Engine, db_hooks: Arc<Hooks>) -> Session {
        Session {
            engine,
            db_hooks,
            trackers: IndexMap::new(),
            tx: None,
            savepoints: Vec::new(),
            interrupted: Arc::new(AtomicBool::new(false)),
            finishing: None,
            savepoint_error: None,
            seq: 0,
            failed: None,
            hooks: Hooks::default(),
            stats: Stats::default(),
            autoflush: true,
            written: Vec::new(),
            relation_undo: Vec::new(),
        }
    }

    /// The database this session works on.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The database's hooks, which apply to this session too.
    pub(crate) fn database_hooks(&self) -> &Arc<Hooks> {
        &self.db_hooks
    }

    /// This session's statement counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// This session's hooks (merged with the database's; see [`crate::session::hooks`]).
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// Whether queries flush pending changes first (on by default).
    pub fn set_autoflush(&mut self, on: bool) {
        self.autoflush = on;
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    fn record_transaction(&self) {
        self.stats.record_transaction();
        self.engine.stats().record_transaction();
    }

    pub(crate) fn tracked<T: Entity>(&mut self) -> &mut Tracked<T> {
        self.trackers
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(Tracked::<T>::default()))
            .as_any_mut()
            .downcast_mut::<Tracked<T>>()
            .expect("tracker keyed by TypeId holds that type")
    }

    fn tracked_ref<T: Entity>(&self) -> Option<&Tracked<T>> {
        self.trackers
            .get(&TypeId::of::<T>())
            .and_then(|t| t.as_any().downcast_ref::<Tracked<T>>())
    }

    // ----- objects ---------------------------------------------------------

    /// Queues a new object for insertion at the next flush and returns its
    /// handle. A `#[key(auto)]` field is ignored on insert and set from the
    /// database; a `#[version]` field is set to 1.
    pub fn add<T: Entity>(&mut self, entity: T) -> Handle<T> {
        let handle = Handle::with_state(entity, ObjectState::New);
        self.tracked::<T>().new.push(handle.clone());
        handle
    }

    /// Queues several new objects.
    pub fn add_all<T: Entity>(&mut self, entities: impl IntoIterator<Item = T>) -> Vec<Handle<T>> {
        let handles: Vec<_> = entities
            .into_iter()
            .map(|e| Handle::with_state(e, ObjectState::New))
            .collect();
        self.tracked::<T>().new.extend(handles.iter().cloned());
        handles
    }

    /// Marks an object for deletion at the next flush (a new object is simply
    /// dropped from the session).
    pub fn delete<T: Entity>(&mut self, handle: &Handle<T>) -> Result<()> {
        self.tracked::<T>().delete(handle)
    }

    /// Removes an object from the session without touching the database.
    pub fn expunge<T: Entity>(&mut self, handle: &Handle<T>) {
        let key = handle.key();
        let tracked = self.tracked::<T>();
        if tracked
            .map
            .get(&key)
            .is_some_and(|h| Handle::ptr_eq(h, handle))
        {
            tracked.map.remove(&key);
        }
        tracked.new.retain(|h| !Handle::ptr_eq(h, handle));
        tracked.deleted.retain(|h| !Handle::ptr_eq(h, handle));
        let mut t = handle.tracking();
        t.status = ObjectState::Detached;
        t.snapshot = None;
    }

    /// Marks an object so that the next row loaded for it replaces its values.
    pub fn expire<T: Entity>(&mut self, handle: &Handle<T>) {
        handle.tracking().expired = true;
    }

    /// Expires every object in the session.
    pub fn expire_all(&mut self) {
        for t in self.trackers.values_mut() {
            t.expire_all();
        }
    }

    /// Reloads an object's row now, discarding its unflushed changes.
    pub async fn refresh<T: Entity>(&mut self, handle: &Handle<T>) -> Result<()> {
        self.ensure_usable()?;
        let key = T::key_from_row(&handle.loaded_row())?;
        let node = Node::key::<T>(&key);
        let stmt = crate::sql::render::select(
            self.dialect(),
            &crate::sql::render::SelectSpec {
                meta: T::meta(),
                filter: Some(&node),
                order: &[],
                limit: None,
                offset: None,
            },
        );
        let set = self.fetch(&stmt).await?;
        let Some(values) = set.rows.into_iter().next() else {
            return Err(Error::NotFound {
                entity: T::meta().name,
                key: describe_key(&T::key_values(&key)),
            });
        };
        let fresh = T::from_row(values)?;
        handle.replace(fresh);
        let mut t = handle.tracking();
        t.snapshot = None;
        t.expired = false;
        Ok(())
    }

    /// The object with this key if the identity map holds it; never queries
    /// (for hooks, which cannot await).
    pub fn cached<T: Entity>(&self, key: &T::Key) -> Option<Handle<T>> {
        self.tracked_ref::<T>()
            .and_then(|t| t.map.get(key))
            .cloned()
    }

    /// Whether this handle is the one the identity map holds for its key.
    pub fn contains<T: Entity>(&self, handle: &Handle<T>) -> bool {
        let key = handle.key();
        self.tracked_ref::<T>()
            .and_then(|t| t.map.get(&key))
            .is_some_and(|h| Handle::ptr_eq(h, handle))
    }

    /// Whether a persistent object's values differ from what was loaded or
    /// last flushed (or its `is_modified` says so).
    pub fn is_dirty<T: Entity>(&self, handle: &Handle<T>) -> bool {
        handle.state() == ObjectState::Persistent && Tracked::<T>::is_dirty(handle)
    }

    /// The changed columns of an object with old and new values.
    pub fn history<T: Entity>(&self, handle: &Handle<T>) -> Vec<Change> {
        Tracked::<T>::history(handle)
    }

    /// New objects of type `T`, in add order.
    pub fn new_objects<T: Entity>(&self) -> Vec<Handle<T>> {
        self.tracked_ref::<T>()
            .map(|t| t.new.clone())
            .unwrap_or_default()
    }

    /// Dirty objects of type `T`.
    pub fn dirty_objects<T: Entity>(&self) -> Vec<Handle<T>> {
        self.tracked_ref::<T>()
            .map(|t| {
                t.map
                    .values()
                    .filter(|h| self.is_dirty(h))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Objects of type `T` marked for deletion.
    pub fn deleted_objects<T: Entity>(&self) -> Vec<Handle<T>> {
        self.tracked_ref::<T>()
            .map(|t| t.deleted.clone())
            .unwrap_or_default()
    }

    /// Number of new objects waiting for a flush.
    pub fn pending_count(&self) -> usize {
        self.trackers.values().map(|t| t.signature().0).sum()
    }

    /// Number of objects of type `T` in the identity map.
    pub fn identity_count<T: Entity>(&self) -> usize {
        self.tracked_ref::<T>().map_or(0, |t| t.map.len())
    }

    /// Objects whose relationships the next flush looks at.
    pub(crate) fn relation_owners(&self) -> Vec<Obj> {
        self.trackers
            .values()
            .flat_map(|t| t.relation_owners())
            .collect()
    }

    /// The entity types the session has seen.
    pub(crate) fn tracked_metas(&self) -> impl Iterator<Item = &'static crate::EntityMeta> + '_ {
        self.trackers.values().map(|t| t.meta())
    }

    /// The new objects and the persistent ones written since their load or
    /// last flush, of one entity type.
    pub(crate) fn written_objects(&self, meta: &crate::EntityMeta) -> Vec<Obj> {
        self.trackers
            .values()
            .find(|t| t.meta().same(meta))
            .map_or_else(Vec::new, |t| t.written())
    }

    /// The object of type `meta` with this (single-column) key in the
    /// identity map.
    pub(crate) fn find_object(&self, meta: &crate::EntityMeta, key: &Value) -> Option<Obj> {
        self.trackers
            .values()
            .find(|t| t.meta().same(meta))
            .and_then(|t| t.find(key))
    }

    /// Forgets every object (they become detached). The transaction stays open.
    pub fn clear(&mut self) {
        for t in self.trackers.values_mut() {
            t.clear();
        }
    }

    // ----- reads -----------------------------------------------------------

    /// The object with this key: from the identity map without a query if it
    /// is there, else loaded. `NotFound` if no row has the key.
    pub async fn get<T: Entity>(&mut self, key: impl Into<T::Key>) -> Result<Handle<T>> {
        let key = key.into();
        match self.find::<T>(key.clone()).await? {
            Some(h) => Ok(h),
            None => Err(Error::NotFound {
                entity: T::meta().name,
                key: describe_key(&T::key_values(&key)),
            }),
        }
    }

    /// Like [`Session::get`], but `None` when no row has the key (or the
    /// object is deleted in this session).
    pub async fn find<T: Entity>(&mut self, key: impl Into<T::Key>) -> Result<Option<Handle<T>>> {
        self.ensure_usable()?;
        let key = key.into();
        if let Some(h) = self
            .tracked_ref::<T>()
            .and_then(|t| t.map.get(&key))
            .cloned()
        {
            let (state, expired) = {
                let t = h.tracking();
                (t.status, t.expired)
            };
            if state == ObjectState::Deleted {
                return Ok(None);
            }
            if !expired {
                return Ok(Some(h));
            }
        }
        self.autoflush().await?;
        let mut found = self.select_where::<T>(Node::key::<T>(&key)).await?;
        if found.is_empty()
            && let Some(gone) = self.cached::<T>(&key)
        {
            // An expired object whose row is gone leaves the session.
            self.expunge(&gone);
        }
        Ok(found.pop())
    }

    /// Runs raw SQL returning rows inside the session's transaction (if open).
    /// Placeholders are the backend's own.
    pub async fn fetch_sql(
        &mut self,
        sql: impl Into<Arc<str>>,
        params: Vec<Value>,
    ) -> Result<Vec<Row>> {
        self.ensure_usable()?;
        let stmt = Statement::new(sql, params);
        Ok(self.fetch(&stmt).await?.into_rows())
    }

    /// Runs a cacheable query-building function (story 2): `build` writes
    /// SQL from the *shape* of `params` (present or absent, list or not)
    /// and is called once per shape; values are bound. `site` names the
    /// query (the cache key is the site plus the shape, never the values).
    /// See [`crate::sql::builder`](crate::Shape) for an example.
    pub async fn fetch_built(
        &mut self,
        site: &'static str,
        params: Vec<crate::sql::builder::Param>,
        build: impl Fn(&crate::sql::builder::Shape<'_>) -> String,
    ) -> Result<Vec<Row>> {
        Ok(self
            .fetch_built_set(site, 0, params, build)
            .await?
            .into_rows())
    }

    /// `fetch_built` returning the row set; `salt` tells apart sites that
    /// share a name (relationship loads use their metadata's address).
    pub(crate) async fn fetch_built_set(
        &mut self,
        site: &'static str,
        salt: u64,
        params: Vec<crate::sql::builder::Param>,
        build: impl Fn(&crate::sql::builder::Shape<'_>) -> String,
    ) -> Result<RowSet> {
        self.ensure_usable()?;
        let stmt = crate::sql::builder::statement(
            self.engine.templates(),
            self.dialect(),
            site,
            salt,
            &params,
            build,
        )?;
        self.fetch(&stmt).await
    }

    /// Runs raw SQL returning no rows inside the session's transaction (if open).
    pub async fn execute_sql(
        &mut self,
        sql: impl Into<Arc<str>>,
        params: Vec<Value>,
    ) -> Result<u64> {
        self.ensure_usable()?;
        let stmt = Statement::new(sql, params);
        Ok(self.execute(&stmt).await?.rows_affected)
    }

    pub(crate) fn dialect(&self) -> crate::Dialect {
        self.engine.dialect()
    }

    pub(crate) fn check_usable(&mut self) -> Result<()> {
        self.ensure_usable()
    }

    /// Before a statement: a commit a dropped call left finishing is
    /// finished, a transaction a dropped call left in doubt is given up.
    async fn before_statement(&mut self) -> Result<()> {
        if self.finishing.is_some() {
            self.settle_quietly().await;
        }
        self.ensure_usable()
    }

    pub(crate) async fn fetch(&mut self, stmt: &Statement) -> Result<RowSet> {
        self.before_statement().await?;
        let target = match &mut self.tx {
            Some(tx) => Target::Conn(tx),
            None => Target::Pool(self.engine.pool()),
        };
        let stats = [&self.stats, self.engine.stats()];
        let run = target.fetch(&stmt.sql, &stmt.params);
        observe(&stats, self.engine.dialect(), &stmt.sql, run).await
    }

    async fn execute(&mut self, stmt: &Statement) -> Result<crate::backend::Done> {
        self.before_statement().await?;
        let target = match &mut self.tx {
            Some(tx) => Target::Conn(tx),
            None => Target::Pool(self.engine.pool()),
        };
        let stats = [&self.stats, self.engine.stats()];
        let run = target.execute(&stmt.sql, &stmt.params);
        observe(&stats, self.engine.dialect(), &stmt.sql, run).await
    }

    fn merged_hooks(&self) -> Merged {
        Merged::of(&self.db_hooks, &self.hooks)
    }

    /// Turns a result into handles through the identity map: a row whose key
    /// is mapped yields the mapped object, unchanged, unless it was expired.
    pub(crate) fn materialize<T: Entity>(&mut self, set: RowSet) -> Result<Vec<Handle<T>>> {
        let after_load = if self.db_hooks.is_empty() && self.hooks.is_empty() {
            Vec::new()
        } else {
            self.merged_hooks().entity::<T>(EntityEvent::AfterLoad)
        };
        let run_after_load = |value: &mut T| -> Result<()> {
            for hook in &after_load {
                hook(value).map_err(|e| Error::Hook {
                    event: "after_load",
                    message: format!("{}: {e}", T::meta().name),
                })?;
            }
            Ok(())
        };
        let map = &mut self.tracked::<T>().map;
        // Room for every row up front: a large load would otherwise rehash
        // the identity map several times on the way (seen in profiles of
        // 10,000-row loads).
        map.reserve(set.rows.len());
        let mut out = Vec::with_capacity(set.rows.len());
        for values in set.rows {
            let key = T::key_from_row(&values)?;
            let handle = match map.get(&key) {
                Some(h) => {
                    if h.tracking().expired {
                        let mut fresh = T::from_row(values)?;
                        run_after_load(&mut fresh)?;
                        h.replace(fresh);
                        let mut t = h.tracking();
                        t.expired = false;
                        t.snapshot = None;
                    }
                    h.clone()
                }
                None => {
                    let mut value = T::from_row(values)?;
                    run_after_load(&mut value)?;
                    let h = Handle::with_state(value, ObjectState::Persistent);
                    map.insert(key, h.clone());
                    h
                }
            };
            out.push(handle);
        }
        Ok(out)
    }

    /// Flushes if autoflush is on.
    pub(crate) async fn autoflush(&mut self) -> Result<()> {
        self.ready().await?;
        if self.autoflush {
            self.flush().await?;
        }
        Ok(())
    }

    // ----- the unit of work -------------------------------------------------

    fn signature(&self) -> Vec<(usize, usize, usize)> {
        self.trackers.values().map(|t| t.signature()).collect()
    }

    /// Runs the `before_flush` hooks until they stop adding work.
    fn run_before_flush(&mut self, hooks: &Merged) -> Result<()> {
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

    /// Computes every type's changes; the order is foreign-key order.
    fn prepare_all(
        &mut self,
        hooks: &Merged,
        held: &std::collections::HashSet<usize>,
    ) -> Result<(Vec<TypeId>, Vec<TypeChanges>)> {
        for t in self.trackers.values() {
            t.check_keys()?;
        }
        let metas: Vec<_> = self.trackers.values().map(|t| t.meta()).collect();
        let order = dependency_order(&metas).map_err(Error::Config)?;
        let ids: Vec<TypeId> = order
            .iter()
            .filter_map(|m| {
                self.trackers
                    .iter()
                    .find(|(_, t)| t.meta().same(m))
                    .map(|(id, _)| *id)
            })
            .collect();
        let mut changes = Vec::with_capacity(ids.len());
        for id in &ids {
            let tracker = self.trackers.get_mut(id).expect("id from the trackers");
            match tracker.prepare(hooks, held) {
                Ok(c) => changes.push(c),
                Err(e) => {
                    self.cancel_all();
                    return Err(e);
                }
            }
        }
        Ok((ids, changes))
    }

    fn cancel_all(&mut self) {
        for t in self.trackers.values_mut() {
            t.cancel();
        }
    }

    fn build_steps(&self, ids: &[TypeId], changes: &[TypeChanges]) -> Result<Vec<ordering::Step>> {
        let types: Vec<_> = ids
            .iter()
            .zip(changes)
            .map(|(id, c)| (self.trackers[id].meta(), c))
            .collect();
        ordering::build(self.writer(), self.engine.caps(), &types)
    }

    /// Where flush statements are written: the dialect and the template cache.
    fn writer(&self) -> crate::sql::dml::Writer<'_> {
        crate::sql::dml::Writer {
            dialect: self.dialect(),
            cache: self.engine.templates(),
        }
    }

    /// The row statements the next flush would run for the objects the
    /// session already tracks as new, changed or deleted, in order, without
    /// running anything: INSERTs (batched), UPDATEs of changed columns,
    /// DELETEs, exactly as the flush writes them if nothing else changes.
    ///
    /// It leaves out what a flush works out first, because working it out
    /// changes the session: the work of `before_flush` hooks (they run
    /// only in a flush); relationship bookkeeping: children or targets
    /// added to collections that are not in the session yet (cascade on
    /// save), rows that wait for a parent's generated key, orphan and
    /// cascaded deletes, and association-table rows.
    pub fn plan_rows(&mut self) -> Result<Vec<Statement>> {
        self.ensure_usable()?;
        if self.finishing.is_some() {
            return Err(Error::Config(
                "a cancelled commit is still finishing: await settle() first".into(),
            ));
        }
        let empty = Merged::of(&Hooks::default(), &Hooks::default());
        let (ids, changes) = self.prepare_all(&empty, &Default::default())?;
        let steps = self.build_steps(&ids, &changes);
        self.cancel_all();
        Ok(steps?.into_iter().map(|s| s.stmt).collect())
    }

    /// Writes every pending change in one transaction (opened here if none
    /// is open): inserts, updates of changed columns, deletes, in foreign-key
    /// order. On failure see the module docs.
    pub async fn flush(&mut self) -> Result<()> {
        self.ready().await?;
        match self.flush_with(false).await? {
            None => Ok(()),
            Some(_) => unreachable!("only a commit's flush is sent alone"),
        }
    }

    /// `autocommit`: a commit whose flush is one statement, with no
    /// transaction open and no `after_flush` hook, sends that statement alone
    /// (one statement is atomic on every backend): one round trip instead of
    /// BEGIN, statement, COMMIT. That statement is returned, unsent, as a
    /// [`transaction::Finishing`] for the commit to run.
    async fn flush_with(&mut self, autocommit: bool) -> Result<Option<transaction::Finishing>> {
        self.ensure_usable()?;
        // A write guard this thread holds on one of the session's objects
        // (across an .await) would stop the flush for ever at its first
        // read of it: said before anything starts, the session untouched.
        // Free unless this thread holds some write guard.
        if crate::object::handle::this_thread_writes() {
            for t in self.trackers.values() {
                t.check_borrows()?;
            }
        }
        // Until disarmed, dropping this future marks the session's
        // transaction as one a call was writing to (see `transaction`).
        let writing = transaction::Writing::new(&self.interrupted);
        let outcome = match self.flush_inner(autocommit).await {
            Ok(finishing) => Ok(finishing),
            Err(e) => {
                self.fail(&e).await;
                Err(e)
            }
        };
        writing.disarm();
        outcome
    }

    async fn flush_inner(&mut self, autocommit: bool) -> Result<Option<transaction::Finishing>> {
        let hooks = self.merged_hooks();
        self.cascade_new();
        self.run_before_flush(&hooks)?;
        let mut relations = self.sync_relations().await?;
        let assoc_deletes = relations.assoc.deletes(self.writer())?;
        let mut first = true;
        loop {
            let held = self.resolve_pending(&mut relations.pending)?;
            let (ids, changes) = self.prepare_all(&hooks, &held)?;
            let nothing = changes.iter().all(TypeChanges::is_empty);
            if nothing && !held.is_empty() {
                self.cancel_all();
                return Err(Error::Config(format!(
                    "{} object(s) wait for the generated key of a parent that is not being inserted",
                    held.len()
                )));
            }
            if nothing && first && assoc_deletes.is_empty() && !relations.assoc.has_inserts() {
                self.cancel_all();
                self.commit_relations(&relations.commits, self.seq);
                return Ok(None);
            }
            let steps = match self.build_steps(&ids, &changes) {
                Ok(s) => s,
                Err(e) => {
                    self.cancel_all();
                    return Err(e);
                }
            };
            let metas: Vec<_> = ids.iter().map(|id| self.trackers[id].meta()).collect();
            let tables: Vec<&'static str> = metas
                .iter()
                .zip(&changes)
                .filter(|(_, c)| !c.is_empty())
                .map(|(m, _)| m.table)
                .collect();
            // Only a statement that cannot half-succeed may run alone: an
            // INSERT, or an UPDATE/DELETE of one row. A batched UPDATE that
            // matched fewer rows than it named (stale data) must roll back
            // the rows it did change.
            let single = autocommit
                && first
                && self.tx.is_none()
                && held.is_empty()
                && relations.assoc.is_empty()
                && steps.len() == 1
                && (steps[0].kind == ordering::Kind::Insert || steps[0].rows <= 1)
                && hooks.session(SessionEvent::AfterFlush).is_empty();
            if single {
                return Ok(Some(self.single_statement(
                    ids,
                    steps,
                    metas,
                    tables,
                    std::mem::take(&mut relations.commits),
                )));
            }
            if self.tx.is_none() {
                match self.engine.pool().begin().await {
                    Ok(tx) => self.tx = Some(tx),
                    Err(e) => {
                        self.cancel_all();
                        return Err(e);
                    }
                }
                self.record_transaction();
            }
            if first {
                for stmt in &assoc_deletes {
                    if let Err(e) = self.execute(stmt).await {
                        self.cancel_all();
                        return Err(e);
                    }
                }
            }
            first = false;
            let keys = match persist::run_steps(self, &steps, &metas).await {
                Ok(k) => k,
                Err(e) => {
                    self.cancel_all();
                    return Err(self.step_error(e, &steps, &metas).await);
                }
            };
            crate::results::note_written(&mut self.written, tables);
            self.apply_all(&ids, keys, &hooks)?;
            if held.is_empty() {
                break;
            }
        }
        for stmt in relations
            .assoc
            .inserts(self.writer(), self.engine.bind_limit())?
        {
            self.execute(&stmt).await?;
        }
        crate::results::note_written(&mut self.written, relations.assoc.tables());
        self.commit_relations(&relations.commits, self.seq);
        for hook in hooks.session(SessionEvent::AfterFlush) {
            hook(self).map_err(|e| hook_error("after_flush", e))?;
        }
        Ok(None)
    }

    /// A flush's statements ran: every type takes its generated keys and
    /// versions, and records its undo (see `tracker`).
    fn apply_all(&mut self, ids: &[TypeId], keys: persist::Keys, hooks: &Merged) -> Result<()> {
        self.seq += 1;
        let seq = self.seq;
        for (id, keys) in ids.iter().zip(keys) {
            let tracker = self.trackers.get_mut(id).expect("id from the trackers");
            tracker.apply(keys, seq, hooks)?;
        }
        Ok(())
    }

    /// Turns a failed step into the flush's error: stale data is named
    /// after the transaction (or its innermost savepoint) rolled back, so
    /// the rows read are the committed ones.
    async fn step_error(
        &mut self,
        e: persist::StepError,
        steps: &[ordering::Step],
        metas: &[&'static crate::model::meta::EntityMeta],
    ) -> Error {
        match e {
            persist::StepError::Failed(e) => e,
            persist::StepError::Stale { step } => {
                let step = &steps[step];
                if let Err(e) = self.rewind_database().await {
                    return e;
                }
                let dialect = self.dialect();
                persist::stale_error(self, dialect, metas[step.type_index], step).await
            }
        }
    }

    /// Every relationship change of a successful flush is now in the
    /// database: the fields' bases move on (undoable until commit).
    fn commit_relations(&mut self, commits: &[(Obj, usize)], seq: u64) {
        for (owner, index) in commits {
            let mut base = None;
            owner.with_relation_untracked(*index, &mut |f| base = Some(f.commit()));
            if let Some(base) = base
                && self.tx.is_some()
            {
                self.relation_undo.push(RelationUndo {
                    seq,
                    owner: owner.clone(),
                    index: *index,
                    base,
                });
            }
        }
    }

    /// Puts back the bases of relationship fields committed by flushes
    /// since `mark`.
    fn restore_relations(&mut self, mark: u64) {
        while self.relation_undo.last().is_some_and(|u| u.seq >= mark) {
            let u = self.relation_undo.pop().expect("checked non-empty");
            let mut base = Some(u.base);
            u.owner.with_relation_untracked(u.index, &mut |f| {
                if let Some(b) = base.take() {
                    f.uncommit(b);
                }
            });
        }
    }

    /// A discarded transaction: collections go back to their bases.
    fn discard_relations(&mut self) {
        for o in self.relation_owners() {
            for i in 0..o.meta().relations.len() {
                o.with_relation_untracked(i, &mut |f| f.discard());
            }
        }
    }

    fn run_view_hooks(&self, event: ViewEvent) -> Option<Error> {
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

impl crate::runner::Runner for Session {
    fn dialect(&self) -> crate::Dialect {
        Session::dialect(self)
    }

    fn fetch<'a>(
        &'a mut self,
        stmt: &'a Statement,
    ) -> impl std::future::Future<Output = Result<RowSet>> + Send + 'a {
        Session::fetch(self, stmt)
    }

    fn execute<'a>(
        &'a mut self,
        stmt: &'a Statement,
    ) -> impl std::future::Future<Output = Result<crate::backend::Done>> + Send + 'a {
        Session::execute(self, stmt)
    }
}

fn hook_error(event: &'static str, e: Error) -> Error {
    match e {
        e @ Error::Hook { .. } => e,
        other => Error::Hook {
            event,
            message: other.to_string(),
        },
    }
}
