//! [`Keyed<K, T>`]: a has-many collection indexed by one attribute of the
//! children (SQLAlchemy's attribute-keyed dict), and [`ValueView`], one
//! column of the children by key (its association proxy).
//!
//! The rules that keep one child per key are on [`Keyed`].
//!
//! The index is derived state: the children's key attribute is the truth.
//! It is rebuilt when an object of the child type was written since it was
//! built (the entity's write counter moved), so changing a child's key
//! attribute re-keys it without any event.
//!
//! Layer 2 (relationship collections): it uses only what is below it (see `crate::layers`).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use parking_lot::Mutex;

use super::members::{Collection, Members};
use crate::error::{Error, Result};
use crate::model::column::Column;
use crate::model::entity::Entity;
use crate::object::handle::Handle;
use crate::value::ColumnValue;

/// What a keyed collection's key type needs.
pub trait CollectionKey: ColumnValue + Eq + Hash + Clone + Send + Sync + 'static {}
impl<K: ColumnValue + Eq + Hash + Clone + Send + Sync + 'static> CollectionKey for K {}

struct Index<K> {
    /// Built at the first access (a collection that is never read by key
    /// costs no hash map): the first child (in collection order) per key.
    by_key: Option<HashMap<K, usize>>,
    /// Further children under a key `by_key` has already: only direct
    /// writes of key attributes make these, so usually empty.
    extra: Vec<(K, usize)>,
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

    /// Forgets every child under `key`.
    fn forget<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        if let Some(m) = &mut self.by_key {
            m.remove(key);
        }
        self.extra.retain(|(k, _)| k.borrow() != key);
    }

    fn lookup<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        self.by_key.as_ref().and_then(|m| m.get(key)).copied()
    }

    /// Every child under `key`, the first one first.
    fn holders<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Vec<usize>
    where
        K: Borrow<Q>,
    {
        let mut out: Vec<usize> = self.lookup(key).into_iter().collect();
        out.extend(
            self.extra
                .iter()
                .filter(|(k, _)| k.borrow() == key)
                .map(|(_, a)| *a),
        );
        out
    }

    /// How many children share `key`, if more than one.
    fn conflict<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        if self.extra.is_empty() {
            return None;
        }
        let n = self.extra.iter().filter(|(k, _)| k.borrow() == key).count();
        (n > 0).then_some(n + 1)
    }
}

/// Children of a has-many relationship by the value of one of their
/// columns (`#[has_many(Plane, by = "receiver_id", keyed_by = "name")]`).
///
/// * [`Keyed::insert`] gets or creates: a key already present updates that
///   child, never adds a second row;
/// * [`Keyed::insert_handle`] and [`Keyed::add`] put a given child under a
///   key, replacing the child there;
/// * [`Keyed::remove`] (or replacing a key's child) makes an orphan;
/// * [`Keyed::view`] reads and writes one column of the children by key.
///
/// # One child per key
///
/// * **Replacing.** Every operation that puts a child under a key another
///   child holds replaces that child: [`Keyed::insert_handle`],
///   [`Keyed::add`] of a child whose key attribute is taken, the key
///   column's [`ValueView::set`], and a child moved in from the other side
///   (`Relation::set` of its belongs-to, or another parent's collection
///   giving it up). [`Keyed::insert`] never replaces: it gets or creates,
///   updating the child already there.
/// * **The replaced child is an orphan**, exactly as if it had been
///   [removed](Keyed::remove), on new and loaded owners alike. At the next
///   flush, unless some collection took it by then, the relationship's
///   orphan rule applies: `orphans = "delete"` (the default) deletes a
///   persistent child, and a new one is never inserted (it leaves the
///   session, as SQLAlchemy's delete-orphan cascade expunges a pending
///   orphan); `orphans = "detach"` keeps a persistent child's row with a
///   NULL foreign key, never inserts a new child the collection created
///   (`insert`, `view(..).set`), and inserts with a NULL foreign key a new
///   child the program added to the session itself (`session.add`), which
///   is the program's object, as it is for SQLAlchemy without delete-orphan.
/// * **Re-keying** a child (`insert_handle` with a child of the collection,
///   or writing its key attribute) moves it: one UPDATE, never a second row.
/// * **Two children with one key by a direct write** (`b.write().kind =
///   "a"` while `a` is under "a") is an error, not a replacement: reading
///   that key, [`Keyed::iter`] and [`Keyed::keys`], and the next flush
///   report [`Error::KeyConflict`] naming the owner, the relationship and
///   the key, and the flush writes nothing. Why not "the later one wins":
///   in SQLAlchemy only collection operations (`d[k] = v`, `del d[k]`)
///   orphan a child, an attribute write never deletes a row, and here the
///   default orphan rule is delete; and "later" is not well defined for an
///   index derived from attributes (two writes between two reads). The fix
///   is one call that says which child keeps the key: `insert_handle(key,
///   &child)` replaces the others.
///
/// A keyed collection works once its owner has a handle (after
/// `session.add` or a load): the handle tells it which column is the key.
///
/// ```
/// # use orm_core::prelude::*;
/// #[entity]
/// pub struct Receiver {
///     #[key(auto)]
///     pub id: i64,
///     #[has_many(Plane, by = "receiver_id", keyed_by = "kind")]
///     pub planes: Keyed<String, Plane>,
/// }
///
/// #[entity]
/// #[derive(Default)]
/// pub struct Plane {
///     #[key(auto)]
///     pub id: i64,
///     #[column(references = Receiver)]
///     pub receiver_id: i64,
///     pub kind: String,
///     pub config: String,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.create_all(&[Receiver::schema(), Plane::schema()]).await?;
/// let mut s = db.session();
/// let r = s.add(Receiver { id: 0, planes: Keyed::new() });
/// let plane = |config: &str| Plane { config: config.into(), ..Default::default() };
/// r.write().planes.insert("routing".into(), plane("via=a"))?;
/// // The same key again updates that child: still one plane.
/// r.write().planes.insert("routing".into(), plane("via=b"))?;
/// s.commit().await?; // the receiver, then its plane with the receiver's new key
/// let routing = r.read().planes.get("routing")?.expect("a routing plane");
/// assert_eq!((routing.read().kind.as_str(), routing.read().config.as_str()), ("routing", "via=b"));
/// assert_eq!(s.query::<Plane>().count().await?, 1);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Keyed<K, T: Entity> {
    members: Members<T>,
    index: Mutex<Index<K>>,
}

impl<K: CollectionKey, T: Entity> Keyed<K, T> {
    /// An empty, loaded collection (for a new object).
    pub fn new() -> Self {
        Keyed::from_members(Members::loaded())
    }

    /// Whether the children are loaded (always, for a new owner's collection).
    pub fn is_loaded(&self) -> bool {
        self.members.is_loaded()
    }

    fn key_column(&self) -> Result<usize> {
        let link = self.members.link.as_ref().ok_or_else(|| Error::Usage {
            entity: Some(T::meta().name),
            relation: None,
            message: "a keyed collection is used before its owner has a handle (add the owner to the session first)"
                .into(),
        })?;
        link.meta.keyed_column().ok_or_else(|| Error::Schema {
            entity: link.meta.owner_meta().name,
            relation: Some(link.meta.describe()),
            message: format!(
                "keyed_by names no column of {}",
                link.meta.target_meta().name
            ),
        })
    }

    fn key_of(child: &Handle<T>, column: usize) -> Result<K> {
        let value = child.read_checked()?.column_value(column);
        K::from_value(value).map_err(|f| Error::Decode {
            entity: T::meta().name,
            column: T::meta().columns[column].name.into(),
            expected: f.expected,
            found: f.found,
        })
    }

    /// The error for `children` children under `key`.
    fn conflict_error(&self, key: &K, children: usize) -> Error {
        let link = self.members.link.as_ref();
        Error::KeyConflict {
            relation: link.map_or_else(|| "keyed collection".into(), |l| l.meta.describe()),
            owner: link.map_or_else(|| "(unbound)".into(), |l| l.owner_key_description()),
            key: key.to_value().describe(),
            children,
        }
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
            let mut extra = Vec::new();
            for (addr, h) in items {
                let key = Self::key_of(h, column)?;
                match by_key.entry(key) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        extra.push((e.key().clone(), *addr));
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(*addr);
                    }
                }
            }
            index.by_key = Some(by_key);
            index.extra = extra;
            index.seen = Some(writes);
        }
        Ok(index)
    }

    /// The child under `key` from a fresh index, or the conflict.
    fn lookup<Q>(&self, key: &Q) -> Result<Option<Handle<T>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let index = self.fresh_index()?;
        if let Some(n) = index.conflict(key) {
            let key = index
                .extra
                .iter()
                .find(|(k, _)| k.borrow() == key)
                .map(|(k, _)| k.clone())
                .expect("a conflict has an extra entry");
            drop(index);
            return Err(self.conflict_error(&key, n));
        }
        Ok(index
            .lookup(key)
            .and_then(|a| self.members.items().ok()?.get(&a))
            .cloned())
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

    /// The child under `key`, if any; [`Error::KeyConflict`] if several
    /// children have that key attribute.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<Handle<T>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(key)
    }

    /// Whether a child is under `key`.
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
    /// which the flush inserts (unless it is replaced or removed first).
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
                    .filter(|&i| !crate::value::same(&row[i], &current[i]))
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

    /// Puts a child under `key`, setting its key attribute: a child of
    /// another parent moves here, a child of this collection is re-keyed.
    /// Every other child under `key` is replaced (an orphan at the flush);
    /// the same child under the same key changes nothing. With several
    /// children under `key` (see [`Error::KeyConflict`]), this says which
    /// one keeps it.
    pub fn insert_handle(&mut self, key: K, child: &Handle<T>) -> Result<()> {
        let column = self.key_column()?;
        let holders = self.fresh_index()?.holders(&key);
        let member = self.members.items()?.contains_key(&child.addr());
        if member && holders == [child.addr()] {
            return Ok(());
        }
        let had = Self::key_of(child, column)?;
        // A conflict being settled, or the child coming from one: the index
        // is rebuilt at the next read instead of patched.
        let tangled = holders.len() > 1 || {
            let index = self.index.lock();
            index.extra.iter().any(|(_, a)| *a == child.addr())
        };
        let out = self.keeping_fresh(|this| {
            for addr in holders.iter().filter(|a| **a != child.addr()) {
                this.members.remove(*addr)?;
            }
            this.index.lock().forget(&key);
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
        });
        if tangled {
            self.index.lock().seen = None;
        }
        out
    }

    /// Adds a child under its own key attribute, replacing the child there
    /// (see [`Keyed::insert_handle`]).
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

    /// How many children it has ([`Error::NotLoaded`] if they are not loaded).
    pub fn len(&self) -> Result<usize> {
        Ok(self.members.items()?.len())
    }

    /// Whether it has no child ([`Error::NotLoaded`] if they are not loaded).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The keys, in insertion (or load) order of their children.
    pub fn keys(&self) -> Result<Vec<K>> {
        Ok(self.iter()?.into_iter().map(|(k, _)| k).collect())
    }

    /// (key, child) pairs in insertion (or load) order;
    /// [`Error::KeyConflict`] if two children have one key.
    pub fn iter(&self) -> Result<Vec<(K, Handle<T>)>> {
        let column = self.key_column()?;
        let pairs: Vec<(K, Handle<T>)> = self
            .members
            .items()?
            .values()
            .map(|h| Ok((Self::key_of(h, column)?, h.clone())))
            .collect::<Result<_>>()?;
        // The keys are read anyway: check them here rather than build the
        // index (a flush's writes to any child make every index stale).
        if let Some((key, n)) = first_shared(pairs.iter().map(|(k, _)| k)) {
            return Err(self.conflict_error(key, n));
        }
        Ok(pairs)
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

    /// [`Error::KeyConflict`] for the first key several children share.
    /// A fresh index knows; a stale one is not rebuilt for this (the
    /// flush asks after writes to children, which make every index of the
    /// child type stale): the keys are compared directly.
    fn check_conflicts(&self) -> Result<()> {
        self.members.check()?;
        let column = self.key_column()?;
        {
            let index = self.index.lock();
            if index.by_key.is_some() && index.seen == Some(T::meta().write_count()) {
                let Some((key, _)) = index.extra.first() else {
                    return Ok(());
                };
                let key = key.clone();
                let n = index.conflict(&key).unwrap_or(2);
                drop(index);
                return Err(self.conflict_error(&key, n));
            }
        }
        let keys: Vec<K> = self
            .members
            .items()?
            .values()
            .map(|h| Self::key_of(h, column))
            .collect::<Result<_>>()?;
        match first_shared(keys.iter()) {
            Some((key, n)) => Err(self.conflict_error(key, n)),
            None => Ok(()),
        }
    }

    /// A child that came in from the other side replaces every other child
    /// under its key, as `insert_handle` would.
    fn evict_for(&mut self, child: &Handle<T>) -> Result<()> {
        let column = self.key_column()?;
        let key = Self::key_of(child, column)?;
        let holders = self.fresh_index()?.holders(&key);
        for addr in holders.iter().filter(|a| **a != child.addr()) {
            self.members.remove(*addr)?;
        }
        self.index.lock().seen = None;
        Ok(())
    }
}

/// The first key that appears more than once, and how many times. Pairwise
/// for the few children a keyed collection usually has (no hashing, no
/// allocation), a set beyond that.
fn first_shared<'k, K: Hash + Eq + 'k>(
    keys: impl Iterator<Item = &'k K> + Clone,
) -> Option<(&'k K, usize)> {
    let n = keys.clone().count();
    let dup = if n <= 16 {
        keys.clone()
            .enumerate()
            .find(|(i, k)| keys.clone().skip(i + 1).any(|o| o == *k))
            .map(|(_, k)| k)
    } else {
        let mut seen = std::collections::HashSet::with_capacity(n);
        keys.clone().find(|k| !seen.insert(*k))
    }?;
    Some((dup, keys.filter(|k| *k == dup).count()))
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
    /// `T::default()`) when there is none. The key column's view re-keys:
    /// the child moves to the key `value`, replacing the child there as
    /// [`Keyed::insert_handle`] does (a child it creates goes under `value`).
    pub fn set(&mut self, key: K, value: V) -> Result<Handle<T>>
    where
        T: Default,
    {
        let index = self.column.index();
        if self.keyed.key_column()? == index {
            let to = K::from_value(value.to_value()).map_err(|f| Error::Decode {
                entity: T::meta().name,
                column: self.column.name().into(),
                expected: f.expected,
                found: f.found,
            })?;
            return match self.keyed.get(&key)? {
                Some(h) => self.keyed.insert_handle(to, &h).map(|()| h),
                None => self.keyed.insert(to, T::default()),
            };
        }
        match self.keyed.get(&key)? {
            Some(h) => {
                let v = value.to_value();
                if !crate::value::same(&h.read().column_value(index), &v) {
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
                extra: Vec::new(),
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

    fn attached(&mut self, child: &Handle<T>) {
        // A key that cannot be read now (say it does not decode) leaves the
        // children as they are; the flush's validate reports what is wrong.
        let _ = self.evict_for(child);
    }

    fn validate(&self, all: bool) -> Result<()> {
        if !self.members.is_loaded() || self.members.link.is_none() {
            return Ok(());
        }
        if !all && !self.members.gained() {
            return Ok(());
        }
        self.check_conflicts()
    }
}
