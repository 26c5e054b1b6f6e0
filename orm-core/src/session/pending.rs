//! New objects waiting for their INSERT, grouped by entity type.
//!
//! The session holds one [`NewSet`] per entity type (type-erased so that a
//! session can hold any mix of entities). A flush asks each set for its rows,
//! writes them in multi-row INSERTs, and only when *every* statement of the
//! flush has succeeded assigns the generated keys and moves the objects into
//! the identity map. A failed flush therefore leaves no half-assigned key.
//!
//! Generated keys come back with `INSERT ... RETURNING` in VALUES order
//! (PostgreSQL, SQLite and MariaDB return rows of a multi-row VALUES insert in
//! that order, though none documents it as a guarantee). MySQL, which has no
//! RETURNING, reports the first id of a multi-row insert; InnoDB allocates
//! the ids of one "simple insert" consecutively, `auto_increment_increment` apart.

use std::any::{Any, TypeId};

use super::handle::Handle;
use super::identity::IdentityMap;
use crate::entity::Entity;
use crate::error::{Error, Result, describe_key};
use crate::meta::EntityMeta;
use crate::value::Value;

/// The type-erased face of [`NewOf<T>`].
pub(crate) trait NewSet: Send + Sync {
    fn meta(&self) -> &'static EntityMeta;
    fn len(&self) -> usize;
    /// Every object's full row, in add order.
    fn rows(&self) -> Vec<Vec<Value>>;
    /// Refuses keys that collide with the identity map or with each other
    /// (only for keys the user assigns).
    fn check_keys(&self, identity: &IdentityMap) -> Result<()>;
    /// Assigns generated keys (if any), maps the objects, and returns what
    /// undoing that needs.
    fn persist(
        self: Box<Self>,
        keys: Option<Vec<Value>>,
        identity: &mut IdentityMap,
    ) -> Result<Box<dyn Persisted>>;
    /// Adds another set of the same type to this one.
    fn absorb(&mut self, other: Box<dyn NewSet>);
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// `TypeId` of the entity type (the session's key for this set).
    fn entity_type(&self) -> TypeId;
}

/// Objects inserted by an uncommitted transaction: if it rolls back, they
/// become new again, with their keys as they were before the insert.
pub(crate) trait Persisted: Send + Sync {
    fn undo(self: Box<Self>, identity: &mut IdentityMap) -> Box<dyn NewSet>;
}

pub(crate) struct NewOf<T: Entity> {
    pub(crate) handles: Vec<Handle<T>>,
}

struct PersistedOf<T: Entity> {
    handles: Vec<Handle<T>>,
    /// The generated-key field's value before the insert, per object.
    old_keys: Option<Vec<Value>>,
}

impl<T: Entity> NewSet for NewOf<T> {
    fn meta(&self) -> &'static EntityMeta {
        T::meta()
    }

    fn len(&self) -> usize {
        self.handles.len()
    }

    fn rows(&self) -> Vec<Vec<Value>> {
        self.handles.iter().map(|h| h.read().to_row()).collect()
    }

    fn check_keys(&self, identity: &IdentityMap) -> Result<()> {
        if T::meta().auto_key().is_some() {
            return Ok(());
        }
        let mut seen = std::collections::HashSet::with_capacity(self.handles.len());
        for h in &self.handles {
            let key = h.read().key();
            if identity.get::<T>(&key).is_some() || !seen.insert(key.clone()) {
                return Err(Error::DuplicateKey {
                    entity: T::meta().name,
                    key: describe_key(&T::key_values(&key)),
                });
            }
        }
        Ok(())
    }

    fn persist(
        self: Box<Self>,
        keys: Option<Vec<Value>>,
        identity: &mut IdentityMap,
    ) -> Result<Box<dyn Persisted>> {
        let old_keys = match (keys, T::meta().auto_key()) {
            (Some(keys), Some(pos)) => {
                let mut old = Vec::with_capacity(keys.len());
                // Decode every key before assigning any, so a bad key
                // leaves every object untouched.
                for (h, key) in self.handles.iter().zip(&keys) {
                    let mut probe = h.read().to_row();
                    old.push(std::mem::replace(&mut probe[pos], key.clone()));
                    T::key_from_row(&probe)?;
                }
                for (h, key) in self.handles.iter().zip(keys) {
                    h.write().set_generated_key(key)?;
                }
                Some(old)
            }
            _ => None,
        };
        let map = identity.typed_mut::<T>();
        for h in &self.handles {
            let key = h.read().key();
            map.insert(key, h.clone());
        }
        Ok(Box::new(PersistedOf {
            handles: self.handles,
            old_keys,
        }))
    }

    fn absorb(&mut self, other: Box<dyn NewSet>) {
        if let Ok(other) = other.into_any().downcast::<NewOf<T>>() {
            self.handles.extend(other.handles);
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn entity_type(&self) -> TypeId {
        TypeId::of::<T>()
    }
}

impl<T: Entity> Persisted for PersistedOf<T> {
    fn undo(self: Box<Self>, identity: &mut IdentityMap) -> Box<dyn NewSet> {
        let map = identity.typed_mut::<T>();
        for h in &self.handles {
            let key = h.read().key();
            if map
                .get(&key)
                .is_some_and(|mapped| Handle::ptr_eq(mapped, h))
            {
                map.remove(&key);
            }
        }
        if let Some(old) = self.old_keys {
            for (h, key) in self.handles.iter().zip(old) {
                // The old value was decodable before; restoring it cannot fail.
                let _ = h.write().set_generated_key(key);
            }
        }
        Box::new(NewOf {
            handles: self.handles,
        })
    }
}
