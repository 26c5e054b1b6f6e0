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
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

pub(crate) mod assoc;
mod changes;
mod flush;
pub mod hooks;
mod identity;
pub(crate) mod loading;
mod merge;
pub(crate) mod ordering;
pub(crate) mod persist;
pub(crate) mod sync;
pub(crate) mod tracker;
pub(crate) mod transaction;
pub(crate) mod type_ops;
mod undo;
mod versioning;

use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use indexmap::IndexMap;

pub use crate::model::fields::ObjectState;
pub use crate::object::handle::{BORROW_WAIT, Handle, ReadGuard, WriteGuard, set_borrow_wait};
pub use changes::Change;
use tracker::{Tracked, TypeTracker};

use crate::backend::{Conn, Target};
use crate::engine::Engine;
use crate::error::{Error, Result, describe_key};
use crate::model::column::Node;
use crate::model::entity::Entity;
use crate::model::fields::Obj;
use crate::row::{Row, RowSet};
use crate::session::hooks::Hooks;
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
    /// The count of tracked writes of the mapped objects (the sum of the
    /// identity maps' `Journal::writes`) at which the last flush began and
    /// succeeded: while it is unchanged and no object is new or deleted, an
    /// autoflush has nothing to do.
    clean_at: Option<u64>,
    /// Tables the open transaction's flushes wrote: the result cache
    /// invalidates them at commit (`crate::cache`).
    written: Vec<&'static str>,
    /// Relationship fields whose base a flush of the open transaction moved
    /// on: (flush seq, owner, field, old base), undone like the trackers' log.
    undo_log: Vec<undo::Entry>,
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
            clean_at: None,
            written: Vec::new(),
            undo_log: Vec::new(),
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

    /// Every object of `T` the identity map holds.
    pub(crate) fn identity_handles<T: Entity>(&self) -> Vec<Handle<T>> {
        self.tracked_ref::<T>()
            .map_or_else(Vec::new, |t| t.map.values().cloned().collect())
    }

    /// Objects whose relationships the next flush looks at.
    pub(crate) fn relation_owners(&self) -> Vec<Obj> {
        self.trackers
            .values()
            .flat_map(|t| t.relation_owners())
            .collect()
    }

    /// The entity types the session has seen.
    pub(crate) fn tracked_metas(
        &self,
    ) -> impl Iterator<Item = &'static crate::model::meta::EntityMeta> + '_ {
        self.trackers.values().map(|t| t.meta())
    }

    /// The new objects and the persistent ones written since their load or
    /// last flush, of one entity type.
    pub(crate) fn written_objects(&self, meta: &crate::model::meta::EntityMeta) -> Vec<Obj> {
        self.trackers
            .values()
            .find(|t| t.meta().same(meta))
            .map_or_else(Vec::new, |t| t.written())
    }

    /// The object of type `meta` with this (single-column) key in the
    /// identity map.
    pub(crate) fn find_object(
        &self,
        meta: &crate::model::meta::EntityMeta,
        key: &Value,
    ) -> Option<Obj> {
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

    /// Runs a cacheable query-building function: `build` writes
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

    pub(crate) fn dialect(&self) -> crate::sql::dialect::Dialect {
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

    /// Runs a query and yields its rows in chunks of at most `batch` as they
    /// arrive, on the session's transaction if one is open (its own writes
    /// visible), else on one connection held for the stream's length.
    pub(crate) fn stream(
        &mut self,
        stmt: Statement,
        batch: usize,
    ) -> futures_util::stream::BoxStream<'_, Result<RowSet>> {
        use futures_util::StreamExt;
        Box::pin(async_stream::try_stream! {
            self.before_statement().await?;
            let target = match &mut self.tx {
                Some(tx) => Target::Conn(tx),
                None => Target::Pool(self.engine.pool()),
            };
            let mut record = crate::telemetry::StreamRecord::new(
                [&self.stats, self.engine.stats()],
                stmt.sql.clone(),
            );
            let mut rows = target.stream(stmt.sql.clone(), stmt.params, batch);
            while let Some(set) = rows.next().await {
                record.failed = set.is_err();
                let set = set.map_err(|e| e.for_statement(&stmt.sql))?;
                record.rows += set.len() as u64;
                yield set;
            }
        })
    }

    pub(crate) async fn execute(&mut self, stmt: &Statement) -> Result<crate::backend::Done> {
        self.before_statement().await?;
        let target = match &mut self.tx {
            Some(tx) => Target::Conn(tx),
            None => Target::Pool(self.engine.pool()),
        };
        let stats = [&self.stats, self.engine.stats()];
        let dialect = self.engine.dialect();
        match stmt.each {
            Some(width) => {
                let run = target.execute_each(&stmt.sql, &stmt.params, width);
                observe(&stats, dialect, &stmt.sql, run).await
            }
            None => {
                let run = target.execute(&stmt.sql, &stmt.params);
                observe(&stats, dialect, &stmt.sql, run).await
            }
        }
    }

    /// Flushes if autoflush is on and anything may be pending. A session
    /// with nothing new, nothing deleted and no tracked write since its last
    /// flush began is clean (SQLAlchemy's `_is_clean`): the query runs
    /// without a flush, so an autoflush costs a counter read and a look at
    /// each type's new and deleted lists, not a pass over every object, and
    /// `before_flush` hooks do not run for it (an explicit `flush` runs them).
    pub(crate) async fn autoflush(&mut self) -> Result<()> {
        self.ready().await?;
        if !self.autoflush {
            return Ok(());
        }
        let writes: u64 = self.trackers.values().map(|t| t.writes()).sum();
        let queued = || self.trackers.values().any(|t| t.has_queued());
        if self.clean_at == Some(writes) && !queued() {
            return Ok(());
        }
        self.flush().await?;
        self.clean_at = Some(writes);
        Ok(())
    }
}

impl crate::runner::Runner for Session {
    fn dialect(&self) -> crate::sql::dialect::Dialect {
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
