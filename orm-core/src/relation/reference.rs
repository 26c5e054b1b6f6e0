//! [`Ref<T>`]: the object a belongs-to relationship points at.
//!
//! Layer 2 (relationship collections): it uses only what is below it (see `crate::layers`).

use std::any::Any;
use std::fmt;

use super::{Relation, RelationField, RelationKind, not_loaded};
use crate::error::{Error, Result};
use crate::model::entity::Entity;
use crate::model::fields::{Link, Obj};
use crate::object::erased::{obj, typed};
use crate::object::handle::Handle;
use crate::value::Value;

/// The parent of a belongs-to relationship
/// (`#[belongs_to(Receiver, by = "receiver_id")] receiver: Ref<Receiver>`).
///
/// Built from a row it is unloaded: [`Ref::get`] is an error until
/// `session.load(&planes, Plane::RECEIVER)` (one query for all of them).
/// [`Relation::set`] changes it with both sides in step at once;
/// [`Ref::set`] changes only this side and the flush sets the foreign key.
pub struct Ref<T: Entity> {
    loaded: bool,
    target: Option<Handle<T>>,
    /// (loaded, target) at the load or the last flush; `None` while unchanged.
    base: Option<(bool, Option<Handle<T>>)>,
    link: Option<Link>,
}

impl<T: Entity> Ref<T> {
    /// No parent, loaded (for a new object; set it with [`Ref::set`]).
    pub fn new() -> Self {
        Ref {
            loaded: true,
            target: None,
            base: None,
            link: None,
        }
    }

    /// Pointing at `parent`.
    pub fn to(parent: &Handle<T>) -> Self {
        Ref {
            target: Some(parent.clone()),
            base: Some((true, None)),
            ..Ref::new()
        }
    }

    /// Whether the parent is loaded (or was set); a NULL foreign key loads as `None`.
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// The parent, or `None` for a NULL foreign key.
    pub fn get(&self) -> Result<Option<Handle<T>>> {
        if !self.loaded {
            return Err(not_loaded(self.link.as_ref()));
        }
        Ok(self.target.clone())
    }

    /// Points this side at `parent`; the flush sets the foreign key from
    /// it (after inserting a new parent). Use [`Relation::set`] to update
    /// the parent's loaded collection at once too.
    pub fn set(&mut self, parent: Option<&Handle<T>>) {
        self.touch();
        self.target = parent.cloned();
        self.loaded = true;
    }

    fn touch(&mut self) {
        if self.base.is_none() {
            self.base = Some((self.loaded, self.target.clone()));
        }
    }
}

impl<C: Entity, P: Entity> Relation<C, P> {
    /// Sets a belongs-to relationship with both sides in step: the child's
    /// reference and foreign key (at the flush if `parent` is new with a
    /// generated key), and the old and new parents' loaded collections.
    pub fn set(&self, child: &Handle<C>, parent: Option<&Handle<P>>) -> Result<()> {
        let rel = self.meta();
        if rel.kind != RelationKind::BelongsTo {
            return Err(Error::Usage {
                entity: Some(rel.owner_meta().name),
                relation: Some(rel.describe()),
                message: "set() is for belongs-to relationships; use the collection's add/remove"
                    .into(),
            });
        }
        let fk = rel.fk_column()?;
        let mut old: Option<Handle<P>> = None;
        {
            let mut w = child.write();
            if let Some(f) = w
                .relation_mut(self.index())
                .and_then(|f| f.as_any_mut().downcast_mut::<Ref<P>>())
            {
                old = f.target.clone();
                f.set(parent);
            }
            let value = match parent.map(obj) {
                Some(p) => p.key_value(),
                None => Some(Value::Null(C::meta().columns[fk].sql_type)),
            };
            if let Some(v) = value
                && !crate::value::same(&w.column_value(fk), &v)
            {
                w.set_column(fk, v)?;
            }
        }
        let same = match (&old, parent) {
            (Some(a), Some(b)) => Handle::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if let (false, Some((inverse, _))) = (same, rel.inverse()) {
            let child = obj(child);
            if let Some(old) = old {
                obj(&old).with_relation(inverse, &mut |f| f.detach(&child));
            }
            if let Some(new) = parent {
                obj(new).with_relation(inverse, &mut |f| f.attach(&child));
            }
        }
        Ok(())
    }
}

impl<T: Entity> Default for Ref<T> {
    fn default() -> Self {
        Ref::new()
    }
}

impl<T: Entity> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Ref {
            loaded: self.loaded,
            target: self.target.clone(),
            base: None,
            link: None,
        }
    }
}

impl<T: Entity> fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.loaded, &self.target) {
            (false, _) => f.write_str("Ref(unloaded)"),
            (true, None) => f.write_str("Ref(None)"),
            (true, Some(h)) => write!(f, "Ref({})", obj(h).key_description()),
        }
    }
}

impl<T: Entity> RelationField for Ref<T> {
    fn unloaded() -> Self {
        Ref {
            loaded: false,
            ..Ref::new()
        }
    }

    fn is_loaded(&self) -> bool {
        self.loaded
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn bind(&mut self, link: Link, new_owner: bool) {
        if new_owner && self.link.is_none() {
            self.loaded = true;
            if self.target.is_some() && self.base.is_none() {
                self.base = Some((true, None));
            }
        }
        self.link = Some(link);
    }

    fn swap_with(&mut self, other: &mut dyn Any) {
        if let Some(other) = other.downcast_mut::<Self>() {
            std::mem::swap(self, other);
        }
    }

    fn changed(&self) -> bool {
        self.base.is_some()
    }

    /// The current parent, if any.
    fn children(&self) -> Vec<Obj> {
        self.target.iter().map(obj).collect()
    }

    fn diff(&self) -> (Vec<Obj>, Vec<Obj>) {
        match &self.base {
            None => (Vec::new(), Vec::new()),
            Some((_, old)) => (
                self.target.iter().map(obj).collect(),
                old.iter()
                    .filter(|o| !self.target.as_ref().is_some_and(|t| Handle::ptr_eq(t, o)))
                    .map(obj)
                    .collect(),
            ),
        }
    }

    fn commit(&mut self) -> Box<dyn Any + Send + Sync> {
        Box::new(self.base.take())
    }

    fn uncommit(&mut self, base: Box<dyn Any + Send + Sync>) {
        if let Ok(base) = base.downcast::<Option<(bool, Option<Handle<T>>)>>() {
            self.base = *base;
        }
    }

    fn discard(&mut self) {
        if let Some((loaded, target)) = self.base.take() {
            self.loaded = loaded;
            self.target = target;
        }
    }

    fn set_loaded(&mut self, children: Box<dyn Any>) {
        if self.loaded {
            return;
        }
        if let Ok(children) = children.downcast::<Vec<Handle<T>>>() {
            self.target = children.into_iter().next();
            self.loaded = true;
        }
    }

    fn set_parent(&mut self, parent: &dyn Any) {
        if !self.loaded
            && let Some(h) = parent.downcast_ref::<Handle<T>>()
        {
            self.target = Some(h.clone());
            self.loaded = true;
        }
    }

    fn attach(&mut self, parent: &Obj) {
        if let Some(h) = typed::<T>(parent) {
            if self.target.as_ref().is_some_and(|t| Handle::ptr_eq(t, &h)) && self.loaded {
                return;
            }
            self.touch();
            self.target = Some(h);
            self.loaded = true;
        }
    }

    fn detach(&mut self, parent: &Obj) {
        if self
            .target
            .as_ref()
            .is_some_and(|t| t.addr() == parent.addr())
        {
            self.touch();
            self.target = None;
        }
    }
}
