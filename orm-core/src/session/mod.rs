//! [`Session`]: the unit of work's façade: identity map, pending objects,
//! the session's transaction, and its statement counters.
//!
//! The real work sits in named modules: [`identity`] (one object per key),
//! [`handle`] (shared references), [`pending`] (new objects and their
//! INSERTs). This file wires them to the database.
//!
//! ## Object states (this issue's subset)
//!
//! * **new**: passed to [`Session::add`], not yet inserted; not in the identity map.
//! * **persistent**: loaded, or inserted by a flush; in the identity map.
//! * **detached**: dropped from the session by a rollback (its handle still works).
//!
//! Dirty tracking, deletes, hooks and ordered flush across relationships are
//! the unit-of-work issue; they build on this split.
//!
//! ## Transactions
//!
//! A session opens a transaction at its first flush and keeps it until
//! [`Session::commit`] or [`Session::rollback`]. While it is open, every read
//! of the session runs inside it and so sees the flushed rows. Without one,
//! reads run on the pool in autocommit and hold no connection between
//! statements.
//!
//! ## Failure
//!
//! A flush that fails rolls the transaction back and leaves the session as it
//! was before the transaction's first flush: objects inserted by earlier
//! flushes of that transaction become new again with their pre-insert keys,
//! objects of the failed flush stay new, nothing is half-assigned. Fix the
//! cause and flush again.

pub(crate) mod handle;
pub(crate) mod identity;
pub(crate) mod pending;

use std::any::TypeId;
use std::sync::Arc;

use indexmap::IndexMap;

pub use handle::Handle;
use identity::IdentityMap;
use pending::{NewOf, NewSet, Persisted};

use crate::backend::{Target, Tx};
use crate::database::Database;
use crate::entity::Entity;
use crate::error::{Error, Result, describe_key};
use crate::meta::dependency_order;
use crate::query::{Query, Statement, render};
use crate::row::{Row, RowSet};
use crate::telemetry::{Stats, observe};
use crate::value::Value;

/// Most rows in one multi-row INSERT, below the bind limit: larger statements
/// stop paying for themselves and make a failing batch harder to read.
const MAX_INSERT_ROWS: usize = 1000;

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
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.create_all(&[Note::schema()]).await?;
/// let mut s = db.session();
/// let note = s.add(Note { id: 0, text: "hello".into() });
/// s.commit().await?;
/// let id = note.read().id;
/// let again = s.get::<Note>(id).await?;
/// assert!(Handle::ptr_eq(&note, &again));
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Session {
    db: Database,
    identity: IdentityMap,
    /// New objects by entity type, in the order types were first added.
    new: IndexMap<TypeId, Box<dyn NewSet>>,
    /// Objects inserted by the open transaction (undone if it rolls back).
    persisted: Vec<Box<dyn Persisted>>,
    tx: Option<Tx>,
    stats: Stats,
    autoflush: bool,
}

impl Session {
    pub(crate) fn new(db: Database) -> Session {
        Session {
            db,
            identity: IdentityMap::default(),
            new: IndexMap::new(),
            persisted: Vec::new(),
            tx: None,
            stats: Stats::default(),
            autoflush: true,
        }
    }

    fn record_transaction(&self) {
        self.stats.record_transaction();
        self.db.stats().record_transaction();
    }

    /// The database this session works on.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// This session's statement counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether queries flush pending objects first (on by default), so they
    /// see what was added.
    pub fn set_autoflush(&mut self, on: bool) {
        self.autoflush = on;
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues a new object for insertion at the next flush and returns its handle.
    /// A `#[key(auto)]` field is ignored on insert and set from the database.
    pub fn add<T: Entity>(&mut self, entity: T) -> Handle<T> {
        let handle = Handle::new(entity);
        self.new_of::<T>().handles.push(handle.clone());
        handle
    }

    /// Queues several new objects.
    pub fn add_all<T: Entity>(&mut self, entities: impl IntoIterator<Item = T>) -> Vec<Handle<T>> {
        let handles: Vec<_> = entities.into_iter().map(Handle::new).collect();
        self.new_of::<T>().handles.extend(handles.iter().cloned());
        handles
    }

    fn new_of<T: Entity>(&mut self) -> &mut NewOf<T> {
        let set = self.new.entry(TypeId::of::<T>()).or_insert_with(|| {
            Box::new(NewOf::<T> {
                handles: Vec::new(),
            })
        });
        set.as_any_mut()
            .downcast_mut::<NewOf<T>>()
            .expect("pending set keyed by TypeId holds that type")
    }

    /// Number of new objects waiting for a flush.
    pub fn pending_count(&self) -> usize {
        self.new.values().map(|s| s.len()).sum()
    }

    /// Whether this handle is the one the identity map holds for its key.
    pub fn contains<T: Entity>(&self, handle: &Handle<T>) -> bool {
        let key = handle.read().key();
        self.identity
            .get::<T>(&key)
            .is_some_and(|h| Handle::ptr_eq(&h, handle))
    }

    /// Number of objects of type `T` in the identity map.
    pub fn identity_count<T: Entity>(&self) -> usize {
        self.identity.len_of::<T>()
    }

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

    /// Like [`Session::get`], but `None` when no row has the key.
    pub async fn find<T: Entity>(&mut self, key: impl Into<T::Key>) -> Result<Option<Handle<T>>> {
        let key = key.into();
        if let Some(h) = self.identity.get::<T>(&key) {
            return Ok(Some(h));
        }
        let meta = T::meta();
        let values = T::key_values(&key);
        let filter = crate::column::Node::And(
            meta.key_columns()
                .zip(values)
                .map(|((_, c), v)| {
                    crate::column::Node::Compare(c.name, crate::column::CmpOp::Eq, v)
                })
                .collect(),
        );
        let mut found = self.query::<T>().with_node(filter).all().await?;
        Ok(found.pop())
    }

    /// Starts a query over `T`.
    pub fn query<T: Entity>(&mut self) -> Query<'_, T> {
        Query::new(self)
    }

    /// Runs raw SQL returning rows inside the session's transaction (if open).
    /// Placeholders are the backend's own.
    pub async fn fetch_sql(
        &mut self,
        sql: impl Into<Arc<str>>,
        params: Vec<Value>,
    ) -> Result<Vec<Row>> {
        let stmt = Statement::new(sql, params);
        Ok(self.fetch(&stmt).await?.into_rows())
    }

    /// Runs raw SQL returning no rows inside the session's transaction (if open).
    pub async fn execute_sql(
        &mut self,
        sql: impl Into<Arc<str>>,
        params: Vec<Value>,
    ) -> Result<u64> {
        let stmt = Statement::new(sql, params);
        Ok(self.execute(&stmt).await?.rows_affected)
    }

    pub(crate) fn dialect(&self) -> crate::Dialect {
        self.db.dialect()
    }

    pub(crate) async fn fetch(&mut self, stmt: &Statement) -> Result<RowSet> {
        let target = match &mut self.tx {
            Some(tx) => Target::Tx(tx),
            None => Target::Pool(self.db.pool()),
        };
        let stats = [&self.stats, self.db.stats()];
        observe(
            &stats,
            self.db.dialect(),
            &stmt.sql,
            target.fetch(&stmt.sql, &stmt.params),
        )
        .await
    }

    async fn execute(&mut self, stmt: &Statement) -> Result<crate::backend::Done> {
        let target = match &mut self.tx {
            Some(tx) => Target::Tx(tx),
            None => Target::Pool(self.db.pool()),
        };
        let stats = [&self.stats, self.db.stats()];
        observe(
            &stats,
            self.db.dialect(),
            &stmt.sql,
            target.execute(&stmt.sql, &stmt.params),
        )
        .await
    }

    /// Turns a result into handles through the identity map: a row whose key
    /// is mapped yields the mapped object, undecoded and unchanged.
    pub(crate) fn materialize<T: Entity>(&mut self, set: RowSet) -> Result<Vec<Handle<T>>> {
        let map = self.identity.typed_mut::<T>();
        let mut out = Vec::with_capacity(set.rows.len());
        for values in set.rows {
            let key = T::key_from_row(&values)?;
            let handle = match map.get(&key) {
                Some(h) => h.clone(),
                None => {
                    let h = Handle::new(T::from_row(values)?);
                    map.insert(key, h.clone());
                    h
                }
            };
            out.push(handle);
        }
        Ok(out)
    }

    /// Flushes if autoflush is on and objects are pending.
    pub(crate) async fn autoflush(&mut self) -> Result<()> {
        if self.autoflush && !self.new.is_empty() {
            self.flush().await?;
        }
        Ok(())
    }

    /// The INSERT statements the next flush would run, in order, without running them.
    pub fn plan(&self) -> Result<Vec<Statement>> {
        let sets = self.ordered_new()?;
        let mut out = Vec::new();
        for set in sets {
            let rows = set.rows();
            out.extend(
                self.insert_statements(set, &rows)?
                    .into_iter()
                    .map(|(s, _)| s),
            );
        }
        Ok(out)
    }

    fn ordered_new(&self) -> Result<Vec<&dyn NewSet>> {
        let metas: Vec<_> = self.new.values().map(|s| s.meta()).collect();
        let order = dependency_order(&metas).map_err(Error::Config)?;
        Ok(order
            .iter()
            .filter_map(|m| self.new.values().find(|s| s.meta().same(m)).map(|s| &**s))
            .collect())
    }

    /// Validates the rows of one set and renders its INSERTs, each with its row count.
    fn insert_statements(
        &self,
        set: &dyn NewSet,
        rows: &[Vec<Value>],
    ) -> Result<Vec<(Statement, usize)>> {
        let meta = set.meta();
        let dialect = self.dialect();
        let caps = self.db.caps();
        let auto = meta.auto_key();
        let columns: Vec<usize> = (0..meta.columns.len())
            .filter(|&i| Some(i) != auto)
            .collect();
        for row in rows {
            for &i in &columns {
                dialect
                    .check_value(&row[i])
                    .map_err(|reason| Error::InvalidValue {
                        entity: meta.name,
                        column: meta.columns[i].name,
                        backend: dialect.name(),
                        reason,
                    })?;
            }
        }
        let returning = match auto {
            Some(i) if caps.insert_returning => Some(meta.columns[i].name),
            _ => None,
        };
        // Without RETURNING an insert of no columns cannot report a key per
        // row, and MySQL cannot insert several rows of DEFAULT VALUES at once.
        let per_statement = if columns.is_empty() {
            if returning.is_some() && dialect != crate::Dialect::MySql {
                MAX_INSERT_ROWS
            } else {
                1
            }
        } else {
            (caps.bind_limit / columns.len()).clamp(1, MAX_INSERT_ROWS)
        };
        Ok(rows
            .chunks(per_statement)
            .map(|chunk| {
                (
                    render::insert(dialect, meta, &columns, chunk, returning),
                    chunk.len(),
                )
            })
            .collect())
    }

    /// Writes every pending object in one transaction (opened here if none is
    /// open), parents before children, in multi-row INSERTs.
    pub async fn flush(&mut self) -> Result<()> {
        if self.new.is_empty() {
            return Ok(());
        }
        for set in self.new.values() {
            set.check_keys(&self.identity)?;
        }
        if self.tx.is_none() {
            self.tx = Some(self.db.pool().begin().await?);
            self.record_transaction();
        }
        match self.write_new().await {
            Ok(keys) => self.finish_flush(keys),
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    /// Runs the INSERTs; returns the generated keys per entity type.
    async fn write_new(&mut self) -> Result<Vec<(TypeId, Option<Vec<Value>>)>> {
        let caps = self.db.caps();
        let mut plan = Vec::new();
        for set in self.ordered_new()? {
            let rows = set.rows();
            let stmts = self.insert_statements(set, &rows)?;
            plan.push((set.entity_type(), set.meta(), rows.len(), stmts));
        }
        let mut keys = Vec::with_capacity(plan.len());
        let mut step = None;
        for (type_id, meta, count, stmts) in plan {
            let auto = meta.auto_key();
            let mut generated = auto.map(|_| Vec::with_capacity(count));
            for (stmt, rows) in &stmts {
                if let (Some(out), Some(_), true) = (&mut generated, auto, caps.insert_returning) {
                    let set = self
                        .fetch(stmt)
                        .await
                        .map_err(|e| e.for_entity(meta.name))?;
                    out.extend(set.rows.into_iter().filter_map(|mut r| r.pop()));
                } else {
                    let done = self
                        .execute(stmt)
                        .await
                        .map_err(|e| e.for_entity(meta.name))?;
                    if let (Some(out), Some(first)) = (&mut generated, done.last_insert_id) {
                        let step = match step {
                            Some(s) => s,
                            None => *step.insert(self.auto_increment_step().await?),
                        };
                        out.extend((0..*rows as i64).map(|i| Value::I64(first + i * step)));
                    }
                }
            }
            if let Some(g) = &generated
                && g.len() != count
            {
                return Err(Error::Config(format!(
                    "{}: expected {count} generated keys, the database returned {}",
                    meta.name,
                    g.len()
                )));
            }
            keys.push((type_id, generated));
        }
        Ok(keys)
    }

    /// MySQL's `auto_increment_increment` (1 unless replication says otherwise).
    async fn auto_increment_step(&mut self) -> Result<i64> {
        let stmt = Statement::new("SELECT @@auto_increment_increment", vec![]);
        let set = self.fetch(&stmt).await?;
        Ok(set
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .unwrap_or(1))
    }

    fn finish_flush(&mut self, keys: Vec<(TypeId, Option<Vec<Value>>)>) -> Result<()> {
        for (type_id, generated) in keys {
            if let Some(set) = self.new.shift_remove(&type_id) {
                let persisted = set.persist(generated, &mut self.identity)?;
                self.persisted.push(persisted);
            }
        }
        Ok(())
    }

    /// Rolls back after a failure and puts objects inserted by the
    /// transaction back into the pending sets.
    async fn abort(&mut self) {
        if let Some(tx) = self.tx.take() {
            // The transaction is already failed; a rollback error (e.g. the
            // connection is gone) changes nothing for the session.
            let _ = tx.rollback().await;
            self.record_transaction();
        }
        for persisted in std::mem::take(&mut self.persisted).into_iter().rev() {
            let set = persisted.undo(&mut self.identity);
            let type_id = set.entity_type();
            match self.new.shift_remove(&type_id) {
                Some(current) => {
                    let mut earlier = set;
                    earlier.absorb(current);
                    self.new.shift_insert(0, type_id, earlier);
                }
                None => {
                    self.new.shift_insert(0, type_id, set);
                }
            }
        }
    }

    /// Flushes, then commits the transaction. On failure the session is as
    /// before the transaction's first flush (see the module docs).
    pub async fn commit(&mut self) -> Result<()> {
        self.flush().await?;
        if let Some(tx) = self.tx.take() {
            self.record_transaction();
            if let Err(e) = tx.commit().await {
                self.abort().await;
                return Err(e);
            }
        }
        self.persisted.clear();
        Ok(())
    }

    /// Discards the transaction and every pending object. Objects the
    /// transaction inserted leave the session (their handles stay usable,
    /// with the keys they had before the insert).
    pub async fn rollback(&mut self) -> Result<()> {
        let result = match self.tx.take() {
            Some(tx) => {
                self.record_transaction();
                tx.rollback().await
            }
            None => Ok(()),
        };
        for persisted in std::mem::take(&mut self.persisted) {
            drop(persisted.undo(&mut self.identity));
        }
        self.new.clear();
        result
    }

    /// Forgets every object: empties the identity map and the pending sets.
    /// The transaction, if any, stays open.
    pub fn clear(&mut self) {
        self.identity.clear();
        self.new.clear();
    }
}
