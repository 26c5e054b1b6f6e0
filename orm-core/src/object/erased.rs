//! The type-erased face of a [`Handle`]: what the session needs to walk
//! relationships between entities of any types (a key, a state, relationship
//! fields, a way back into the session), and the [`Link`] a relationship
//! field keeps to its owner.
//!
//! Layer 2 (objects): it uses only what is below it (see `crate::layers`).

use std::any::Any;
use std::sync::{Arc, Weak};

use crate::error::{Result, describe_key};
use crate::model::entity::Entity;
use crate::model::fields::{Link, Obj, Object, ObjectState, OwnerSlot, RelationField};
use crate::model::meta::EntityMeta;
use crate::object::handle::Handle;
use crate::value::Value;

impl<T: Entity> Object for Handle<T> {
    fn addr(&self) -> usize {
        Handle::addr(self)
    }

    fn meta(&self) -> &'static EntityMeta {
        T::meta()
    }

    fn state(&self) -> ObjectState {
        Handle::state(self)
    }

    fn key_value(&self) -> Option<Value> {
        let value = self.read();
        key_column_value(&*value, Handle::state(self))
    }

    fn key_description(&self) -> String {
        if has_key::<T>(Handle::state(self)) {
            describe_key(&T::key_values(&self.key()))
        } else {
            "(new)".into()
        }
    }

    fn handle_any(&self) -> Box<dyn Any> {
        Box::new(self.clone())
    }

    fn column_value(&self, index: usize) -> Value {
        self.read().column_value(index)
    }

    fn columns_changed(&self, columns: &[usize]) -> bool {
        let value = self.read();
        let tracking = self.tracking();
        let Some(snapshot) = &tracking.snapshot else {
            return false;
        };
        columns.iter().any(|&i| {
            snapshot
                .get(i)
                .is_some_and(|was| !crate::value::same(was, &value.column_value(i)))
        })
    }

    fn set_column(&self, index: usize, value: Value) -> Result<()> {
        let same = crate::value::same(&self.read().column_value(index), &value);
        if same {
            return Ok(());
        }
        self.write_quietly().set_column(index, value)
    }

    fn with_relation(&self, index: usize, f: &mut dyn FnMut(&mut dyn RelationField)) {
        // A relationship field is no column: keyed indexes stay fresh (a
        // collection's own membership changes tell it through `moved`).
        let mut value = self.write_quietly();
        if let Some(field) = value.relation_mut(index) {
            f(field);
        }
    }

    fn with_relation_untracked(&self, index: usize, f: &mut dyn FnMut(&mut dyn RelationField)) {
        if let Some(field) = self.write_untracked().relation_mut(index) {
            f(field);
        }
    }

    fn relation_loaded(&self, index: usize) -> bool {
        self.read().relation(index).is_some_and(|f| f.is_loaded())
    }

    fn peek_relation(&self, index: usize, f: &mut dyn FnMut(&dyn RelationField)) {
        if let Some(field) = self.read().relation(index) {
            f(field);
        }
    }

    fn relation_children(&self, index: usize) -> Vec<Obj> {
        self.read()
            .relation(index)
            .map_or_else(Vec::new, |f| f.children())
    }

    fn load_relation(&self, index: usize, children: Box<dyn Any>) {
        if let Some(f) = self.write_untracked().relation_mut(index) {
            f.set_loaded(children);
        }
    }
}

/// Binds every relationship field of `value` to its owner.
pub(crate) fn bind_all<T: Entity>(
    value: &mut T,
    owner: Weak<dyn OwnerSlot>,
    owner_addr: usize,
    status: ObjectState,
) {
    let meta = T::meta();
    let key = match status {
        ObjectState::New if meta.auto_key().is_some() => None,
        ObjectState::Detached => None,
        // Relationships join on a single-column key: read that column alone.
        _ => meta
            .key_columns()
            .next()
            .map(|(i, _)| value.column_value(i)),
    };
    for (index, rel) in meta.relations.iter().enumerate() {
        if let Some(field) = value.relation_mut(index) {
            field.bind(
                Link {
                    owner: owner.clone(),
                    owner_addr,
                    meta: rel,
                    index,
                    key: key.clone(),
                },
                status == ObjectState::New,
            );
        }
    }
}

/// Whether an object in this state has its key: not a new one whose key
/// the database generates, not a detached one.
fn has_key<T: Entity>(status: ObjectState) -> bool {
    match status {
        ObjectState::New => T::meta().auto_key().is_none(),
        ObjectState::Detached => false,
        _ => true,
    }
}

/// The (first) key column's value when the object has its key.
fn key_column_value<T: Entity>(value: &T, status: ObjectState) -> Option<Value> {
    let (i, _) = T::meta().key_columns().next()?;
    has_key::<T>(status).then(|| value.column_value(i))
}

/// Erases a typed handle.
pub(crate) fn obj<T: Entity>(h: &Handle<T>) -> Obj {
    Arc::new(h.clone())
}

/// A typed handle back from an erased one, if it is of type `T`.
pub(crate) fn typed<T: Entity>(o: &Obj) -> Option<Handle<T>> {
    o.handle_any().downcast::<Handle<T>>().ok().map(|b| *b)
}
