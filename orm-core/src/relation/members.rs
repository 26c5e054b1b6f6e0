//! [`Members<T>`]: the membership of one collection (loaded or not, its
//! children, its base) shared by [`super::Many`] and [`super::Keyed`], and
//! the other side's bookkeeping when a child joins or leaves.
//!
//! Keeping both sides in step happens here, at once, not at flush: adding a
//! child to a has-many collection sets the child's foreign key (when the
//! owner's key is known; a new owner's generated key reaches the child at
//! flush) and its belongs-to reference, and takes the child out of the
//! collection of the parent it had; adding to a many-to-many collection adds
//! the owner to the target's loaded inverse collection.
//!
//! Layer 2 (relationship collections): it uses only what is below it (see `crate::layers`).

use indexmap::IndexMap;
use std::any::Any;

use super::{RelationField, RelationKind, not_loaded};
use crate::error::Result;
use crate::model::entity::Entity;
use crate::model::fields::{Link, Obj};
use crate::object::erased::{obj, typed};
use crate::object::handle::Handle;

pub(crate) type Set<T> = IndexMap<usize, Handle<T>>;

/// A collection's membership. Unloaded is `state: None`: an object built
/// from a row pays one pointer per collection until it is loaded (every
/// loaded row has its collections, so their size is the row's size).
pub(crate) struct Members<T: Entity> {
    state: Option<Box<Loaded<T>>>,
    pub(crate) link: Option<Link>,
}

struct Loaded<T: Entity> {
    /// Children by address, in insertion order.
    items: Set<T>,
    /// Membership at the load or the last flush; `None` while unchanged.
    base: Option<Set<T>>,
    /// Children that joined after the base and left again before the next
    /// flush (a new child replaced under its key, added then removed). The
    /// base does not hold them, so the diff alone would never see them go
    /// and the flush would insert them as if nothing happened: they are
    /// removals too, and the orphan rule applies to them. A vector: it is
    /// nearly always empty, and a map here would cost every loaded
    /// collection its hasher.
    gone: Vec<Handle<T>>,
}

/// What [`Members::commit`] hands back to undo a flush: the base and the
/// children gone since it.
type Undo<T> = (Option<Set<T>>, Vec<Handle<T>>);

impl<T: Entity> Loaded<T> {
    fn new(items: Set<T>) -> Box<Self> {
        Box::new(Loaded {
            items,
            base: None,
            gone: Vec::new(),
        })
    }

    fn touch(&mut self) {
        if self.base.is_none() {
            self.base = Some(self.items.clone());
        }
    }

    /// Takes `addr` out (the base is taken first), remembering a child the
    /// base never had.
    fn take(&mut self, addr: usize) -> Option<Handle<T>> {
        self.touch();
        let h = self.items.shift_remove(&addr)?;
        if !self.base.as_ref().is_some_and(|b| b.contains_key(&addr))
            && !self.gone.iter().any(|g| g.addr() == addr)
        {
            self.gone.push(h.clone());
        }
        Some(h)
    }
}

impl<T: Entity> Members<T> {
    pub(crate) fn loaded() -> Self {
        Members {
            state: Some(Loaded::new(IndexMap::new())),
            link: None,
        }
    }

    pub(crate) fn unloaded() -> Self {
        Members {
            state: None,
            link: None,
        }
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.state.is_some()
    }

    /// The children, or `NotLoaded`.
    pub(crate) fn items(&self) -> Result<&Set<T>> {
        match &self.state {
            Some(s) => Ok(&s.items),
            None => Err(not_loaded(self.link.as_ref())),
        }
    }

    fn state_mut(&mut self) -> Result<&mut Loaded<T>> {
        match &mut self.state {
            Some(s) => Ok(s),
            None => Err(not_loaded(self.link.as_ref())),
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        self.items().map(|_| ())
    }

    /// Adds a child, keeping the other side in step. False if already there.
    pub(crate) fn insert(&mut self, h: &Handle<T>) -> Result<bool> {
        let state = self.state_mut()?;
        if state.items.contains_key(&h.addr()) {
            return Ok(false);
        }
        state.touch();
        state.items.insert(h.addr(), h.clone());
        if let Some(link) = &self.link {
            joined(link, &obj(h));
        }
        Ok(true)
    }

    /// Removes a child, keeping the other side in step.
    pub(crate) fn remove(&mut self, addr: usize) -> Result<Option<Handle<T>>> {
        let state = self.state_mut()?;
        if !state.items.contains_key(&addr) {
            return Ok(None);
        }
        let h = state.take(addr);
        if let (Some(link), Some(h)) = (&self.link, &h) {
            left(link, &obj(h));
        }
        Ok(h)
    }

    /// Adds or removes a child for the other side (no bookkeeping back).
    pub(crate) fn attach(&mut self, child: &Obj) -> Option<Handle<T>> {
        let h = typed::<T>(child)?;
        let state = self.state.as_mut()?;
        if state.items.contains_key(&h.addr()) {
            return None;
        }
        state.touch();
        state.items.insert(h.addr(), h.clone());
        Some(h)
    }

    pub(crate) fn detach(&mut self, child: &Obj) -> Option<Handle<T>> {
        let state = self.state.as_mut()?;
        if !state.items.contains_key(&child.addr()) {
            return None;
        }
        state.take(child.addr())
    }

    pub(crate) fn changed(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.base.is_some())
    }

    /// Whether a child joined since the base (every child of a new owner).
    pub(crate) fn gained(&self) -> bool {
        match self.state.as_deref() {
            Some(Loaded {
                items,
                base: Some(base),
                ..
            }) => items.keys().any(|a| !base.contains_key(a)),
            _ => false,
        }
    }

    /// (added, removed) since the base; removed includes the children that
    /// joined and left since (see `Loaded::gone`).
    pub(crate) fn diff(&self) -> (Vec<Obj>, Vec<Obj>) {
        let Some(Loaded {
            items,
            base: Some(base),
            gone,
        }) = self.state.as_deref()
        else {
            return (Vec::new(), Vec::new());
        };
        let added = items
            .iter()
            .filter(|(a, _)| !base.contains_key(*a))
            .map(|(_, h)| obj(h))
            .collect();
        let removed = base
            .values()
            .chain(gone)
            .filter(|h| !items.contains_key(&h.addr()))
            .map(obj)
            .collect();
        (added, removed)
    }

    /// The current children (none while unloaded).
    pub(crate) fn children(&self) -> Vec<Obj> {
        self.state
            .as_ref()
            .map_or_else(Vec::new, |s| s.items.values().map(obj).collect())
    }

    pub(crate) fn commit(&mut self) -> Box<dyn Any + Send + Sync> {
        let undo: Undo<T> = match self.state.as_mut() {
            Some(s) => (s.base.take(), std::mem::take(&mut s.gone)),
            None => (None, Vec::new()),
        };
        Box::new(undo)
    }

    pub(crate) fn uncommit(&mut self, base: Box<dyn Any + Send + Sync>) {
        if let (Ok(undo), Some(state)) = (base.downcast::<Undo<T>>(), self.state.as_mut()) {
            let (base, gone) = *undo;
            state.base = base;
            // The flush being undone dealt with these; the next one must again.
            for h in gone {
                if !state.gone.iter().any(|g| Handle::ptr_eq(g, &h)) {
                    state.gone.push(h);
                }
            }
        }
    }

    /// Back to the base; true if the membership changed.
    pub(crate) fn discard(&mut self) -> bool {
        match self
            .state
            .as_mut()
            .and_then(|s| s.base.take().map(|b| (s, b)))
        {
            Some((state, base)) => {
                state.items = base;
                state.gone.clear();
                true
            }
            None => false,
        }
    }

    pub(crate) fn set_loaded(&mut self, children: Box<dyn Any>) -> bool {
        if self.state.is_some() {
            return false;
        }
        let Ok(children) = children.downcast::<Vec<Handle<T>>>() else {
            return false;
        };
        self.state = Some(Loaded::new(
            children.into_iter().map(|h| (h.addr(), h)).collect(),
        ));
        true
    }

    pub(crate) fn bind(&mut self, link: Link, new_owner: bool) {
        if new_owner && self.link.is_none() {
            match &mut self.state {
                None => self.state = Some(Loaded::new(IndexMap::new())),
                // Children given before the owner had a handle are all additions.
                Some(state) if !state.items.is_empty() && state.base.is_none() => {
                    state.base = Some(IndexMap::new());
                }
                Some(_) => {}
            }
        }
        self.link = Some(link);
    }

    /// A copy for `Clone` of the owner: same children, no owner, unchanged.
    pub(crate) fn copy(&self) -> Self {
        Members {
            state: self.state.as_ref().map(|s| Loaded::new(s.items.clone())),
            link: None,
        }
    }
}

/// `child` joined `link`'s collection: set its foreign key and belongs-to
/// reference (has-many), or add the owner to its inverse collection
/// (many-to-many).
fn joined(link: &Link, child: &Obj) {
    if child.addr() == link.owner_addr {
        return;
    }
    let rel = link.meta;
    match rel.kind {
        RelationKind::HasMany => {
            if let (Ok(fk), Some(v)) = (rel.fk_column(), link.key.clone()) {
                // A value the column cannot hold is reported by the flush.
                let _ = child.set_column(fk, v);
            }
            let Some((inverse, _)) = rel.inverse() else {
                return;
            };
            let Some(owner) = link.owner() else { return };
            let mut previous: Option<Obj> = None;
            child.with_relation(inverse, &mut |f| {
                previous = f.children().into_iter().next();
                f.attach(&owner);
            });
            // Moving between parents: the old parent's loaded collection
            // lets go (never the owner, whose lock the caller holds).
            if let Some(old) = previous
                && old.addr() != link.owner_addr
            {
                old.with_relation(link.index, &mut |f| f.detach(child));
            }
        }
        RelationKind::ManyToMany => {
            if let (Some((inverse, _)), Some(owner)) = (rel.inverse(), link.owner()) {
                child.with_relation(inverse, &mut |f| f.attach(&owner));
            }
        }
        RelationKind::BelongsTo => {}
    }
}

/// `child` left `link`'s collection.
fn left(link: &Link, child: &Obj) {
    if child.addr() == link.owner_addr {
        return;
    }
    let Some((inverse, _)) = link.meta.inverse() else {
        return;
    };
    let Some(owner) = link.owner() else { return };
    child.with_relation(inverse, &mut |f| f.detach(&owner));
}

/// A collection type built on [`Members`]: [`super::Many`] and
/// [`super::Keyed`] share their [`RelationField`] implementation through it.
pub(crate) trait Collection: Send + Sync + Sized + 'static {
    type Item: Entity;
    fn from_members(members: Members<Self::Item>) -> Self;
    fn members(&self) -> &Members<Self::Item>;
    fn members_mut(&mut self) -> &mut Members<Self::Item>;
    /// The membership changed from outside (a load, the other side, a rollback).
    fn moved(&mut self) {}
    /// `child` joined from the other side of the relationship (its
    /// belongs-to was pointed at the owner).
    fn attached(&mut self, _child: &Handle<Self::Item>) {}
    /// What a flush checks before it writes anything (a keyed collection:
    /// one child per key); see [`RelationField::validate`].
    fn validate(&self, _all: bool) -> Result<()> {
        Ok(())
    }
}

impl<C: Collection> RelationField for C {
    fn unloaded() -> Self {
        C::from_members(Members::unloaded())
    }

    fn is_loaded(&self) -> bool {
        self.members().is_loaded()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn bind(&mut self, link: Link, new_owner: bool) {
        self.members_mut().bind(link, new_owner);
    }

    fn swap_with(&mut self, other: &mut dyn Any) {
        if let Some(other) = other.downcast_mut::<Self>() {
            std::mem::swap(self, other);
        }
    }

    fn changed(&self) -> bool {
        self.members().changed()
    }

    fn children(&self) -> Vec<Obj> {
        self.members().children()
    }

    fn diff(&self) -> (Vec<Obj>, Vec<Obj>) {
        self.members().diff()
    }

    fn commit(&mut self) -> Box<dyn Any + Send + Sync> {
        self.members_mut().commit()
    }

    fn uncommit(&mut self, base: Box<dyn Any + Send + Sync>) {
        self.members_mut().uncommit(base);
    }

    fn discard(&mut self) {
        if self.members_mut().discard() {
            self.moved();
        }
    }

    fn set_loaded(&mut self, children: Box<dyn Any>) {
        if self.members_mut().set_loaded(children) {
            self.moved();
        }
    }

    fn attach(&mut self, child: &Obj) {
        if let Some(h) = self.members_mut().attach(child) {
            self.moved();
            self.attached(&h);
        }
    }

    fn validate(&self, all: bool) -> Result<()> {
        Collection::validate(self, all)
    }

    fn detach(&mut self, child: &Obj) {
        if self.members_mut().detach(child).is_some() {
            self.moved();
        }
    }
}
