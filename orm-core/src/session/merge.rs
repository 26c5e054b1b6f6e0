//! Bringing objects from outside the session into its identity map:
//! [`Session::merge`] reconciles a detached copy with the database (what the
//! copy changed becomes dirty), [`Session::merge_loaded`] takes values that
//! already are the database's (a cached result, another session's clean
//! object) without a query.
//!
//! SQLAlchemy's `Session.merge()` is the model: with `load=True` (ours:
//! `merge`) the row is located (identity map, else a SELECT), the copy's
//! state is copied onto the session's object, and the flush writes what
//! differs; a versioned copy older than the row is refused at once
//! (`StaleData`), so a copy made before someone else's commit never
//! overwrites it. With `load=False` (ours: `merge_loaded`) the copy is
//! trusted to be the database's state. Unlike SQLAlchemy, merging a copy
//! whose row is gone is an error rather than an INSERT: a detached copy of a
//! row deleted meanwhile is a conflict to report, and `add` inserts.
//! Relationship fields of the copy are not merged.
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

use super::{Handle, ObjectState, Session};
use crate::error::{Error, Result, describe_key};
use crate::model::entity::Entity;
use crate::value::same as same_value;

impl Session {
    /// Reconciles a detached copy (from another session, a form, a
    /// message) with this session and the database, as SQLAlchemy's
    /// `merge()`: the object with the copy's key is found (in the identity
    /// map, else loaded), the copy's column values are written onto it, and
    /// those that differ are dirty, so the next flush writes them. Returns
    /// the session's object.
    ///
    /// Errors: no row has the key (`NotFound`; `add` inserts new objects);
    /// the object is deleted in this session (`NotInSession`); the copy
    /// carries a version other than the row's (`StaleData`: it was made
    /// before another commit, and writing it would overwrite that commit).
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// #[derive(Clone)]
    /// pub struct Doc {
    ///     #[key(auto)]
    ///     pub id: i64,
    ///     pub title: String,
    ///     #[version]
    ///     pub version: i64,
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.create_all(&[Doc::schema()]).await?;
    /// let mut s = db.session();
    /// let doc = s.add(Doc { id: 0, title: "draft".into(), version: 0 });
    /// s.commit().await?;
    /// let mut copy = doc.get();                // detached, e.g. sent to a client and back
    /// copy.title = "final".into();
    ///
    /// let mut other = db.session();
    /// let merged = other.merge(copy).await?;   // loads the row, copies the values
    /// assert!(other.is_dirty(&merged));
    /// other.commit().await?;                   // UPDATE docs SET title = 'final', version = 2 ...
    /// assert_eq!(merged.read().version, 2);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn merge<T: Entity>(&mut self, copy: T) -> Result<Handle<T>> {
        self.ready().await?;
        let key = copy.key();
        let meta = T::meta();
        if let Some(h) = self.cached::<T>(&key)
            && h.state() == ObjectState::Deleted
        {
            return Err(Error::NotInSession {
                entity: meta.name,
                state: "deleted",
            });
        }
        let Some(handle) = self.find::<T>(key.clone()).await? else {
            return Err(Error::NotFound {
                entity: meta.name,
                key: format!(
                    "{} (merge: no row has this key; add() inserts new objects)",
                    describe_key(&T::key_values(&key))
                ),
            });
        };
        let row = copy.to_row();
        if let Some(v) = meta.version_column() {
            let loaded = handle.loaded_row();
            if !same_value(&row[v], &loaded[v]) {
                return Err(Error::StaleData {
                    entity: meta.name,
                    key: describe_key(&T::key_values(&key)),
                    operation: "merge",
                    expected_version: row[v].as_i64(),
                    actual_version: loaded[v].as_i64(),
                    row_exists: true,
                });
            }
        }
        let current = handle.read().to_row();
        let changed: Vec<usize> = (0..row.len())
            .filter(|&i| !meta.columns[i].primary_key && !meta.columns[i].version)
            .filter(|&i| !same_value(&row[i], &current[i]))
            .collect();
        if !changed.is_empty() {
            let mut value = handle.write();
            for i in changed {
                value.set_column(i, row[i].clone())?;
            }
        }
        Ok(handle)
    }

    /// [`Session::merge`] of a handle from another session (its current values).
    pub async fn merge_handle<T: Entity + Clone>(
        &mut self,
        handle: &Handle<T>,
    ) -> Result<Handle<T>> {
        self.merge(handle.get()).await
    }

    /// Brings an object whose values *are* the database's (a cached
    /// result, a clean object of another session) into the identity map
    /// without a query (SQLAlchemy's `merge(load=False)`). If the session
    /// already holds that key, pending changes win: a changed or deleted
    /// object is returned untouched; an unchanged one takes the values.
    /// Nothing becomes dirty: use [`Session::merge`] for a copy that
    /// carries changes.
    pub fn merge_loaded<T: Entity>(&mut self, entity: T) -> Handle<T> {
        let key = entity.key();
        let tracked = self.tracked::<T>();
        if let Some(existing) = tracked.map.get(&key) {
            let clean = {
                let t = existing.tracking();
                t.snapshot.is_none() && t.status == ObjectState::Persistent
            };
            if clean {
                existing.replace(entity);
                existing.tracking().expired = false;
            }
            return existing.clone();
        }
        let handle = Handle::with_state_in(entity, ObjectState::Persistent, Some(&tracked.journal));
        tracked.map.insert(key, handle.clone());
        handle
    }
}
