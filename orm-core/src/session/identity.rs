//! The identity map: per session, one object per (entity type, primary key).
//!
//! One typed `HashMap<T::Key, Handle<T>>` per entity type, found by `TypeId`,
//! so lookups hash the key itself (no conversion to a generic value) and a
//! result set of N rows costs one type lookup plus N hash lookups.
//! A row whose key is already mapped is *not* decoded again and does not
//! overwrite the mapped object: unflushed changes survive re-queries.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use super::handle::Handle;
use crate::entity::Entity;

type Typed<T> = HashMap<<T as Entity>::Key, Handle<T>>;

#[derive(Default)]
pub(crate) struct IdentityMap {
    by_type: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl IdentityMap {
    pub(crate) fn typed<T: Entity>(&self) -> Option<&Typed<T>> {
        self.by_type
            .get(&TypeId::of::<T>())
            .and_then(|m| m.downcast_ref())
    }

    pub(crate) fn typed_mut<T: Entity>(&mut self) -> &mut Typed<T> {
        self.by_type
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(Typed::<T>::new()))
            .downcast_mut()
            .expect("identity map entry keyed by TypeId holds that type")
    }

    pub(crate) fn get<T: Entity>(&self, key: &T::Key) -> Option<Handle<T>> {
        self.typed::<T>().and_then(|m| m.get(key)).cloned()
    }

    /// Objects of type `T` in the map.
    pub(crate) fn len_of<T: Entity>(&self) -> usize {
        self.typed::<T>().map_or(0, HashMap::len)
    }

    pub(crate) fn clear(&mut self) {
        self.by_type.clear();
    }
}
