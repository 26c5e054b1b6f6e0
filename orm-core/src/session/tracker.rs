//! The per-type registry of a session: one [`Tracked<T>`] per entity type,
//! behind the type-erased [`TypeTracker`] trait, so a session holds any mix
//! of entities while every operation on objects stays typed (keys hash as
//! themselves; no conversion to generic values on the hot path).
//!
//! This file holds the state and the erased face only; what is done with
//! them lives with its concept:
//!
//! * `identity`: the identity map, new and deleted objects;
//! * `changes`: what changed, and the writes a flush makes per type;
//! * `ordering`: rows of one type in the order they are written;
//! * `flush`: applying a flush that succeeded (keys, versions, states);
//! * `undo`: putting a rolled-back flush back;
//! * `hooks`: the per-entity hooks a flush runs.
//!
//! Layer 3 (the session).

use std::any::Any;
use std::collections::HashSet;

use super::changes::Flushing;
use super::identity::IdentityMap;
use super::undo::Undo;
use crate::error::Result;
use crate::model::entity::Entity;
use crate::model::fields::Obj;
use crate::model::meta::EntityMeta;
use crate::object::handle::Handle;
use crate::session::hooks::Merged;
use crate::sql::dml::TypeChanges;
use crate::value::Value;

/// The type-erased face of [`Tracked<T>`].
pub(crate) trait TypeTracker: Send + Sync {
    fn meta(&self) -> &'static EntityMeta;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// (new, touched, deleted) counts: how `before_flush` rounds detect new work.
    fn signature(&self) -> (usize, usize, usize);
    fn check_keys(&self) -> Result<()>;
    /// Whether any object of this type is new or deleted (queued for the
    /// next flush).
    fn has_queued(&self) -> bool;
    /// Tracked writes of this type's mapped objects so far.
    fn writes(&self) -> u64;
    /// Computes the type's changes, leaving out the objects in `held`
    /// (waiting for a parent's generated key: a later pass writes them).
    fn prepare(&mut self, hooks: &Merged, held: &HashSet<usize>) -> Result<TypeChanges>;
    /// Objects whose relationships a flush must look at: new, deleted, and
    /// written since their load or last flush (none if `T` has no relationships).
    fn relation_owners(&self) -> Vec<crate::model::fields::Obj>;
    /// New objects and persistent ones written since their load or last flush.
    fn written(&self) -> Vec<crate::model::fields::Obj>;
    /// The mapped object with this single-column key.
    fn find(&self, key: &Value) -> Option<crate::model::fields::Obj>;
    /// [`Error::Borrowed`] for an object of this type whose write guard this
    /// thread holds (new, mapped or deleted).
    fn check_borrows(&self) -> Result<()>;

    fn apply(&mut self, keys: Option<Vec<Value>>, seq: u64, hooks: &Merged) -> Result<()>;
    fn cancel(&mut self);
    /// The sequence number of its newest undo record.
    fn newest_undo(&self) -> Option<u64>;
    /// Undoes its newest record if it is flush `seq`'s (see `undo`).
    fn undo_last(&mut self, seq: u64);
    fn discard(&mut self);
    fn forget_undo(&mut self);
    fn expire_all(&mut self);
    /// Queues a new object a collection or reference created (see
    /// `Session::enqueue`).
    fn enqueue(&mut self, obj: &Obj);
    /// Deletes an object reached through a relationship (see
    /// `Session::delete_object`).
    fn delete_erased(&mut self, obj: &Obj) -> Result<()>;
    /// Expires the object whose key reads `key` (as errors describe keys).
    fn expire_described(&mut self, key: &str);
    fn clear(&mut self);
}

/// What a session tracks of one entity type.
pub(crate) struct Tracked<T: Entity> {
    pub(crate) map: IdentityMap<T::Key, Handle<T>>,
    pub(crate) new: Vec<Handle<T>>,
    pub(crate) deleted: Vec<Handle<T>>,
    pub(super) flushing: Option<Flushing<T>>,
    pub(super) undo: Vec<Undo<T>>,
    /// The mapped objects written since their load or last flush (see
    /// `object::handle::Journal`): where a flush looks for dirty objects
    /// and relationship owners, instead of at every mapped object.
    pub(crate) journal: std::sync::Arc<crate::object::handle::Journal>,
}

impl<T: Entity> Drop for Tracked<T> {
    fn drop(&mut self) {
        // The list holds its objects and they hold the list: let go.
        self.journal.clear::<T>();
    }
}

impl<T: Entity> Default for Tracked<T> {
    fn default() -> Self {
        Tracked {
            map: IdentityMap::default(),
            new: Vec::new(),
            deleted: Vec::new(),
            flushing: None,
            undo: Vec::new(),
            journal: Default::default(),
        }
    }
}

impl<T: Entity> TypeTracker for Tracked<T> {
    fn meta(&self) -> &'static EntityMeta {
        T::meta()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn signature(&self) -> (usize, usize, usize) {
        self.counts()
    }

    fn check_keys(&self) -> Result<()> {
        self.check_new_keys()
    }

    fn has_queued(&self) -> bool {
        !self.new.is_empty() || !self.deleted.is_empty()
    }

    fn writes(&self) -> u64 {
        self.journal.writes()
    }

    fn relation_owners(&self) -> Vec<crate::model::fields::Obj> {
        self.relation_owner_objects()
    }

    fn written(&self) -> Vec<crate::model::fields::Obj> {
        self.written_objects()
    }

    fn check_borrows(&self) -> Result<()> {
        self.borrowed()
    }

    fn find(&self, key: &Value) -> Option<crate::model::fields::Obj> {
        self.find_object(key)
    }

    fn prepare(&mut self, hooks: &Merged, held: &HashSet<usize>) -> Result<TypeChanges> {
        self.prepare_changes(hooks, held)
    }

    fn apply(&mut self, keys: Option<Vec<Value>>, seq: u64, hooks: &Merged) -> Result<()> {
        self.apply_flush(keys, seq, hooks)
    }

    fn cancel(&mut self) {
        self.cancel_changes()
    }

    fn newest_undo(&self) -> Option<u64> {
        Tracked::newest_undo(self)
    }

    fn undo_last(&mut self, seq: u64) {
        Tracked::undo_last(self, seq)
    }

    fn discard(&mut self) {
        self.discard_changes()
    }

    fn forget_undo(&mut self) {
        self.forget_undone()
    }

    fn expire_all(&mut self) {
        self.expire_every()
    }

    fn enqueue(&mut self, obj: &Obj) {
        self.enqueue_object(obj)
    }

    fn delete_erased(&mut self, obj: &Obj) -> Result<()> {
        self.delete_object(obj)
    }

    fn expire_described(&mut self, key: &str) {
        self.expire_key(key)
    }

    fn clear(&mut self) {
        self.forget_all()
    }
}
