//! [`Keyed<K, T>`]: a has-many collection indexed by one attribute of the
//! children (SQLAlchemy's attribute-keyed dict), and [`ValueView`], one
//! column of the children by key (its association proxy).
//!
//! The index is derived state: the children's key attribute is the truth.
//! It is rebuilt when an object of the child type was written since it was
//! built (the entity's write counter moved), so changing a child's key
//! attribute re-keys it without any event.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use parking_lot::Mutex;

use super::members::{Collection, Members};
use crate::column::Column;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::session::Handle;
use crate::value::ColumnValue;

/// What a keyed collection's key type needs.
pub trait CollectionKey: ColumnValue + Eq + Hash + Clone + Send + Sync + 'static {}
impl<K: ColumnValue + Eq + Hash + Clone + Send + Sync + 'static> CollectionKey for K {}

struct Index<K> {
    /// Built at the first access (a collection that is never read by key
    /// costs no hash map).
    by_key: Option<HashMap<K, usize>>,
    /// The child type's write count when the index was built.
    seen: Option<u64>,
}

impl<K: Hash + Eq> Index<K> {
    /// Records a key; an index not built yet is built whole at its first use.
    fn put(&mut self, key: K, addr: usize) {
        if let Some(m) = &mut self.by_key {
            m.insert(key, addr);
        }
    }

    fn forget<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        if let Some(m) = &mut self.by_key {
            m.remove(key);
        }
    }

    fn lookup<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        self.by_key.as_ref().and_then(|m| m.get(key)).copied()
    }
}

/// Children of a has-many relationship by the value of one of their
/// columns (`#[has_many(Plane, by = "receiver_id", keyed_by = "name")]`).
///
/// * [`Keyed::insert`] gets or creates: a key already present updates that
///   child, never adds a second row;
/// * inserting a child under the key it already has changes nothing;
/// * [`Keyed::remove`] (or replacing a key's child) makes an orphan, which
///   the flush deletes;
/// * [`Keyed::view`] reads and writes one column of the children by key.
///
/// A keyed collection works once its owner has a handle (after
/// `session.add` or a load): the handle tells it which column is the key.
pub struct Keyed<K, T: Entity> {
    members: Members<T>,
    index: Mutex<Index<K>>,
}

impl<K: CollectionKey, T: Entity> Keyed<K, T> {
    /// An empty, loaded collection (for a new object).
    pub fn new() -> Self {
        Keyed::from_members(Members::loaded())
    }

    pub fn is_loaded(&self) -> bool {
        self.members.is_loaded()
    }

    fn key_column(&self) -> Result<usize> {
        let link = self.members.link.as_ref().ok_or_else(|| {
            Error::Config(
                "a keyed collection is used before its owner has a handle (add the owner to the session first)"
                    .into(),
            )
        })?;
        link.meta.keyed_column().ok_or_else(|| {
            Error::Config(format!(
                "{}: keyed_by names no column of {}",
                link.meta.describe(),
                link.meta.target_meta().name
            ))
        })
    }

    fn key_of(child: &Handle<T>, column: usize) -> Result<K> {
        let value = child.read().column_value(column);
        K::from_value(value).map_err(|f| Error::Decode {
            entity: T::meta().name,
            column: T::meta().columns[column].name.into(),
            expected: f.expected,
            found: f.found,
        })
    }

    /// Brings the index up to date with the children's key attributes.
    fn fresh_index(&self) -> Result<parking_lot::MutexGuard<'_, Index<K>>> {
        self.members.check()?;
        let column = self.key_column()?;
        let mut index = self.index.lock();
        let writes = T::meta().write_count();
        if index.seen != Some(writes) || index.by_key.is_none() {
            let items = self.members.items()?;
            let mut by_key = HashMap::with_capacity(items.len());
            for (addr, h) in items {
                by_key.insert(Self::key_of(h, column)?, *addr);
            }
            index.by_key = Some(by_key);
            index.seen = Some(writes);
        }
        Ok(index)
    }

    /// Runs `f`, then marks the index fresh if it was before: the
    /// collection's own writes (foreign keys, back references) never change
    /// a key attribute without updating the index.
    fn keeping_fresh<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let before = T::meta().write_count();
        let was_fresh = self.index.lock().seen == Some(before);
        let out = f(self);
        if was_fresh && out.is_ok() {
            self.index.lock().seen = Some(T::meta().write_count());
        }
        out
    }

    /// The child under `key`, if any.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<Handle<T>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let index = self.fresh_index()?;
        Ok(index
            .lookup(key)
            .and_then(|a| self.members.items().ok()?.get(&a))
            .cloned())
    }

    pub fn contains_key<Q>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Ok(self.get(key)?.is_some())
    }

    /// Gets or creates the child under `key`: an existing child takes
    /// `value`'s columns (all but its key, foreign key and version); else
    /// `value` becomes a new child with its key attribute set to `key`,
    /// which the flush inserts.
    pub fn insert(&mut self, key: K, mut value: T) -> Result<Handle<T>> {
        let column = self.key_column()?;
        let existing = self.get(&key)?;
        self.keeping_fresh(|this| {
            if let Some(h) = existing {
                let skip = this
                    .members
                    .link
                    .as_ref()
                    .and_then(|l| l.meta.fk_column().ok());
                let row = value.to_row();
                let meta = T::meta();
                let current = h.read().to_row();
                let changed: Vec<usize> = (0..row.len())
                    .filter(|&i| {
                        let c = &meta.columns[i];
                        !c.primary_key && !c.version && Some(i) != skip && i != column
                    })
                    .filter(|&i| !crate::session::same_value(&row[i], &current[i]))
                    .collect();
                if !changed.is_empty() {
                    let mut w = h.write();
                    for i in changed {
                        w.set_column(i, row[i].clone())?;
                    }
                }
                return Ok(h);
            }
            value.set_column(column, key.to_value())?;
            let h = Handle::created(value);
            this.members.insert(&h)?;
            this.index.lock().put(key, h.addr());
            Ok(h)
        })
    }

    /// Puts an existing child under `key` (setting its key attribute). The
    /// child already under `key`, if another, is replaced (an orphan); the
    /// same child under the same key changes nothing.
    pub fn insert_handle(&mut self, key: K, child: &Handle<T>) -> Result<()> {
        let column = self.key_column()?;
        let current = self.get(&key)?;
        if current.as_ref().is_some_and(|c| Handle::ptr_eq(c, child)) {
            return Ok(());
        }
        self.keeping_fresh(|this| {
            if let Some(old) = current {
                this.members.remove(old.addr())?;
                this.index.lock().forget(&key);
            }
            let had = Self::key_of(child, column)?;
            if had != key {
                child.write().set_column(column, key.to_value())?;
                let mut index = this.index.lock();
                if index.lookup(&had) == Some(child.addr()) {
                    index.forget(&had);
                }
            }
            this.members.insert(child)?;
            this.index.lock().put(key, child.addr());
            Ok(())
        })
    }

    /// Adds a child under its own key attribute.
    pub fn add(&mut self, child: &Handle<T>) -> Result<()> {
        let column = self.key_column()?;
        let key = Self::key_of(child, column)?;
        self.insert_handle(key, child)
    }

    /// Removes the child under `key`; at the flush it is an orphan.
    pub fn remove<Q>(&mut self, key: &Q) -> Result<Option<Handle<T>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(h) = self.get(key)? else {
            return Ok(None);
        };
        self.keeping_fresh(|this| {
            this.members.remove(h.addr())?;
            this.index.lock().forget(key);
            Ok(Some(h))
        })
    }

    pub fn len(&self) -> Result<usize> {
        Ok(self.members.items()?.len())
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The keys, in insertion (or load) order of their children.
    pub fn keys(&self) -> Result<Vec<K>> {
        Ok(self.iter()?.into_iter().map(|(k, _)| k).collect())
    }

    /// (key, child) pairs in insertion (or load) order.
    pub fn iter(&self) -> Result<Vec<(K, Handle<T>)>> {
        let column = self.key_column()?;
        self.members
            .items()?
            .values()
            .map(|h| Ok((Self::key_of(h, column)?, h.clone())))
            .collect()
    }

    /// The children, in order.
    pub fn values(&self) -> Result<impl Iterator<Item = &Handle<T>>> {
        Ok(self.members.items()?.values())
    }

    /// One column of the children by key, without naming the child type
    /// where it is used: `planes.view(Plane::CONFIG).set("routing".into(), cfg)`.
    pub fn view<V: ColumnValue>(&mut self, column: Column<T, V>) -> ValueView<'_, K, T, V> {
        ValueView {
            keyed: self,
            column,
        }
    }
}

/// One column of a keyed collection's children, by key (see [`Keyed::view`]).
pub struct ValueView<'a, K, T: Entity, V> {
    keyed: &'a mut Keyed<K, T>,
    column: Column<T, V>,
}

impl<K: CollectionKey, T: Entity, V: ColumnValue> ValueView<'_, K, T, V> {
    /// The column of the child under `key`.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(h) = self.keyed.get(key)? else {
            return Ok(None);
        };
        let value = h.read().column_value(self.column.index());
        V::from_value(value).map(Some).map_err(|f| Error::Decode {
            entity: T::meta().name,
            column: self.column.name().into(),
            expected: f.expected,
            found: f.found,
        })
    }

    /// Sets the column of the child under `key`, creating the child (from
    /// `T::default()`) when there is none.
    pub fn set(&mut self, key: K, value: V) -> Result<Handle<T>>
    where
        T: Default,
    {
        let index = self.column.index();
        match self.keyed.get(&key)? {
            Some(h) => {
                let v = value.to_value();
                if !crate::session::same_value(&h.read().column_value(index), &v) {
                    h.write().set_column(index, v)?;
                }
                Ok(h)
            }
            None => {
                let mut child = T::default();
                child.set_column(index, value.to_value())?;
                self.keyed.insert(key, child)
            }
        }
    }

    /// Removes the child under `key` (an orphan at the flush).
    pub fn remove<Q>(&mut self, key: &Q) -> Result<Option<Handle<T>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.keyed.remove(key)
    }
}

impl<K: CollectionKey, T: Entity> Default for Keyed<K, T> {
    fn default() -> Self {
        Keyed::new()
    }
}

impl<K: CollectionKey, T: Entity> Clone for Keyed<K, T> {
    /// The same children; the copy belongs to no object until it is in a handle.
    fn clone(&self) -> Self {
        Keyed::from_members(self.members.copy())
    }
}

impl<K, T: Entity> fmt::Debug for Keyed<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.members.items() {
            Ok(items) => write!(f, "Keyed({} children)", items.len()),
            Err(_) => f.write_str("Keyed(unloaded)"),
        }
    }
}

impl<K: CollectionKey, T: Entity> Collection for Keyed<K, T> {
    type Item = T;

    fn from_members(members: Members<T>) -> Self {
        Keyed {
            members,
            index: Mutex::new(Index {
                by_key: None,
                seen: None,
            }),
        }
    }

    fn members(&self) -> &Members<T> {
        &self.members
    }

    fn members_mut(&mut self) -> &mut Members<T> {
        &mut self.members
    }

    /// The index is rebuilt at the next access.
    fn moved(&mut self) {
        self.index.lock().seen = None;
    }
}
