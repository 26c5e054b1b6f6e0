//! What the session does with objects of a type it reaches only through
//! metadata: a relationship's target, met while walking relationships of
//! erased objects (a child created by a collection, a parent set through a
//! reference, a cascaded delete).
//!
//! The derive points each [`RelationMeta::target_ops`] at
//! [`type_ops::<Target>`](type_ops), which hands out this layer's
//! [`TypeOps`] for that type as an opaque `dyn Any` (the model below must
//! not name the session): the session downcasts it and gets, monomorphized
//! for the target, a way to make its tracker and to load the relationship.
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

use std::any::{Any, TypeId};

use super::Session;
use super::loading::{LoadFn, loader};
use super::tracker::{Tracked, TypeTracker};
use crate::error::Result;
use crate::model::entity::Entity;
use crate::model::fields::Obj;
use crate::model::relation::RelationMeta;

/// The session's operations on one entity type.
pub(crate) struct TypeOps {
    type_id: fn() -> TypeId,
    tracker: fn() -> Box<dyn TypeTracker>,
    /// Loads a relationship whose target is this type.
    pub(crate) load: LoadFn,
}

trait HasOps {
    const OPS: TypeOps;
}

impl<T: Entity> HasOps for T {
    const OPS: TypeOps = TypeOps {
        type_id: TypeId::of::<T>,
        tracker: || Box::new(Tracked::<T>::default()),
        load: loader::<T>,
    };
}

/// The operations on `T`, as the derive stores them in metadata.
#[doc(hidden)]
pub fn type_ops<T: Entity>() -> &'static (dyn Any + Send + Sync) {
    &<T as HasOps>::OPS
}

/// The operations on `rel`'s target type.
pub(crate) fn of(rel: &RelationMeta) -> &'static TypeOps {
    let any: &'static (dyn Any + Send + Sync) = (rel.target_ops)();
    any.downcast_ref::<TypeOps>()
        .expect("target_ops is set by the derive to type_ops::<Target>")
}

impl Session {
    /// The tracker of `rel`'s target type, made if the session has none yet.
    fn target_tracker(&mut self, rel: &RelationMeta) -> &mut dyn TypeTracker {
        let ops = of(rel);
        &mut **self
            .trackers
            .entry((ops.type_id)())
            .or_insert_with(ops.tracker)
    }

    /// Puts a new object a collection or reference created (of `rel`'s
    /// target type) into the session's new objects (cascade on save);
    /// nothing for other objects.
    pub(crate) fn enqueue(&mut self, rel: &RelationMeta, obj: &Obj) {
        self.target_tracker(rel).enqueue(obj);
    }

    /// Deletes an object of `rel`'s target type (a new one just leaves the
    /// session; a deleted or detached one is left alone).
    pub(crate) fn delete_object(&mut self, rel: &RelationMeta, obj: &Obj) -> Result<()> {
        self.target_tracker(rel).delete_erased(obj)
    }
}
