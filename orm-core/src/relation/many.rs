//! [`Many<T>`]: a has-many or many-to-many collection of handles.
//!
//! Layer 2 (relationship collections): it uses only what is below it (see `crate::layers`).

use std::fmt;

use super::members::{Collection, Members};
use crate::error::Result;
use crate::model::entity::Entity;
use crate::object::handle::Handle;

/// The children of a has-many or many-to-many relationship, in insertion
/// (or load) order; each child once.
///
/// Adding a child keeps the other side in step at once (see
/// [`crate::relation`]); the flush inserts new children, sets foreign keys,
/// writes and deletes association rows, and deletes orphans.
///
/// A child is a member once: adding it again changes nothing, and moving
/// it to another owner's collection (loaded or new) takes it out of the
/// old owner's loaded collection when the child has the belongs-to side
/// (else the old collection keeps listing it until reloaded, but the flush
/// writes the new owner's key and never treats it as the old owner's
/// orphan). A has-many child removed and not put back by the flush is an
/// orphan: `orphans = "delete"` deletes it, or, if it is new, never inserts
/// it; `orphans = "detach"` sets its foreign key to NULL (a new child the
/// collection created is never inserted, one the program added to the
/// session is inserted detached). Removing and re-adding before the flush
/// leaves the child where it was.
///
/// ```
/// # use orm_core::prelude::*;
/// #[entity(table = "groups")]
/// pub struct Group {
///     #[key(auto)]
///     pub id: i64,
///     pub name: String,
///     #[many_to_many(Member, via = "group_members")]
///     pub members: Many<Member>,
/// }
///
/// #[entity(table = "members")]
/// pub struct Member {
///     #[key(auto)]
///     pub id: i64,
///     pub name: String,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.create_all(&[Group::schema(), Member::schema()]).await?; // and group_members
/// let mut s = db.session();
/// let g = s.add(Group { id: 0, name: "ops".into(), members: Many::new() });
/// let m = s.add(Member { id: 0, name: "ann".into() });
/// g.write().members.add(&m)?;
/// s.commit().await?;                        // groups, members, then one association row
/// let n = s.fetch_sql("SELECT * FROM group_members", vec![]).await?.len();
/// assert_eq!(n, 1);
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Many<T: Entity> {
    members: Members<T>,
}

impl<T: Entity> Many<T> {
    /// An empty, loaded collection (for a new object).
    pub fn new() -> Self {
        Many {
            members: Members::loaded(),
        }
    }

    /// Whether the children are known (loaded, or the owner is new).
    pub fn is_loaded(&self) -> bool {
        self.members.is_loaded()
    }

    /// Adds a child (a handle from the session, or one returned by
    /// [`Many::add_new`]). False if it was already there.
    pub fn add(&mut self, child: &Handle<T>) -> Result<bool> {
        self.members.insert(child)
    }

    /// Adds a new child; the flush inserts it (cascade on save).
    pub fn add_new(&mut self, child: T) -> Result<Handle<T>> {
        self.members.check()?;
        let h = Handle::created(child);
        self.members.insert(&h)?;
        Ok(h)
    }

    /// Removes a child. A has-many child in no collection at the flush is an
    /// orphan: deleted, or detached if the relationship says so.
    pub fn remove(&mut self, child: &Handle<T>) -> Result<bool> {
        Ok(self.members.remove(child.addr())?.is_some())
    }

    /// Removes every child.
    pub fn clear(&mut self) -> Result<()> {
        let all: Vec<usize> = self.members.items()?.keys().copied().collect();
        for a in all {
            self.members.remove(a)?;
        }
        Ok(())
    }

    /// Whether `child` is one of the children (the same object, not an equal one).
    pub fn contains(&self, child: &Handle<T>) -> Result<bool> {
        Ok(self.members.items()?.contains_key(&child.addr()))
    }

    /// How many children it has ([`Error::NotLoaded`](crate::Error::NotLoaded) if they are not loaded).
    pub fn len(&self) -> Result<usize> {
        Ok(self.members.items()?.len())
    }

    /// Whether it has no child ([`Error::NotLoaded`](crate::Error::NotLoaded) if they are not loaded).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The children, in order.
    pub fn iter(&self) -> Result<impl Iterator<Item = &Handle<T>>> {
        Ok(self.members.items()?.values())
    }

    /// The children as a vector of handles.
    pub fn to_vec(&self) -> Result<Vec<Handle<T>>> {
        Ok(self.iter()?.cloned().collect())
    }
}

impl<T: Entity> Default for Many<T> {
    fn default() -> Self {
        Many::new()
    }
}

impl<T: Entity> Clone for Many<T> {
    /// The same children; the copy belongs to no object until it is in a handle.
    fn clone(&self) -> Self {
        Many {
            members: self.members.copy(),
        }
    }
}

impl<T: Entity> fmt::Debug for Many<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.members.items() {
            Ok(items) => write!(f, "Many({} children)", items.len()),
            Err(_) => f.write_str("Many(unloaded)"),
        }
    }
}

impl<T: Entity> Collection for Many<T> {
    type Item = T;

    fn from_members(members: Members<T>) -> Self {
        Many { members }
    }

    fn members(&self) -> &Members<T> {
        &self.members
    }

    fn members_mut(&mut self) -> &mut Members<T> {
        &mut self.members
    }
}
