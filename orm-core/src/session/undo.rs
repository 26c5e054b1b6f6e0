//! The undo log of the open transaction: what each applied flush changed,
//! tagged with its sequence number, so that a rollback (or a rollback to a
//! savepoint, whose mark is such a number) puts the session back exactly.
//! Inserted objects become new again with their pre-insert keys, updated
//! ones get back the snapshot of the row before the flush (dirty again,
//! with the user's values), deleted ones are pending deletion again.
//!
//! Layer 3 (the session).

use std::any::TypeId;

use super::Session;
use super::changes::Saved;
use super::tracker::Tracked;
use crate::model::entity::Entity;
use crate::model::fields::Obj;
use crate::model::fields::ObjectState;
use crate::object::handle::Handle;
use crate::value::Value;

/// What applying one flush changed, to undo it.
pub(super) struct Undo<T: Entity> {
    pub(super) seq: u64,
    /// Objects inserted, with their row before the insert (keys, version).
    /// Objects inserted, with their generated-key and version fields before the insert.
    pub(super) inserted: Vec<(Handle<T>, Saved)>,
    /// Objects updated: (handle, key before, snapshot before, version field before).
    pub(super) updated: Vec<(Handle<T>, T::Key, Vec<Value>)>,
    pub(super) deleted: Vec<Handle<T>>,
    /// Row switches: (the new object, the deleted object it replaced).
    pub(super) switched: Vec<(Handle<T>, Handle<T>)>,
}

impl<T: Entity> Tracked<T> {
    /// The sequence number of the newest record, if any.
    pub(super) fn newest_undo(&self) -> Option<u64> {
        self.undo.last().map(|u| u.seq)
    }

    /// Undoes the newest record if it is flush `seq`'s.
    pub(super) fn undo_last(&mut self, seq: u64) {
        let meta = T::meta();
        if let Some(undo) = self.undo.pop_if(|u| u.seq == seq) {
            for h in undo.deleted.into_iter().rev() {
                h.tracking().status = ObjectState::Deleted;
                if let Ok(key) = T::key_from_row(&h.loaded_row()) {
                    self.map.insert(key, h.clone());
                }
                self.deleted.insert(0, h);
            }
            for (h, key_before, snapshot) in undo.updated.into_iter().rev() {
                if let Some(v) = meta.version_column() {
                    let _ = h.write_untracked().set_column(v, snapshot[v].clone());
                }
                let key_now = h.key();
                if key_now != key_before {
                    self.map.remove(&key_now);
                    self.map.insert(key_before, h.clone());
                }
                h.tracking().snapshot = Some(snapshot);
                // Dirty again without a write: back on the written list.
                h.join(&self.journal, true);
            }
            for (new, old) in undo.switched.into_iter().rev() {
                let key = new.key();
                old.tracking().status = ObjectState::Deleted;
                self.map.insert(key, old.clone());
                self.deleted.insert(0, old);
                // Switched in, then deleted before the rollback: as an
                // object inserted and deleted in one transaction, it leaves
                // the session instead of becoming new again.
                if let Some(pos) = self.deleted.iter().position(|d| Handle::ptr_eq(d, &new)) {
                    self.deleted.remove(pos);
                    new.tracking().status = ObjectState::Detached;
                    continue;
                }
                {
                    let mut t = new.tracking();
                    t.status = ObjectState::New;
                    t.queued = true;
                }
                self.new.insert(0, new);
            }
            for (h, before) in undo.inserted.into_iter().rev() {
                let key = h.key();
                if self.map.get(&key).is_some_and(|m| Handle::ptr_eq(m, &h)) {
                    self.map.remove(&key);
                }
                // Inserted, then deleted before the rollback: added and
                // deleted in one transaction, it leaves the session.
                if let Some(pos) = self.deleted.iter().position(|d| Handle::ptr_eq(d, &h)) {
                    self.deleted.remove(pos);
                    h.tracking().status = ObjectState::Detached;
                    continue;
                }
                {
                    let mut value = h.write_untracked();
                    for (i, old) in before {
                        let _ = value.set_column(i, old);
                    }
                }
                let mut t = h.tracking();
                t.status = ObjectState::New;
                t.snapshot = None;
                t.queued = true;
                drop(t);
                h.rebind();
                self.new.insert(0, h);
            }
        }
    }

    pub(super) fn discard_changes(&mut self) {
        for h in self.new.drain(..) {
            let mut t = h.tracking();
            t.status = ObjectState::Detached;
            t.queued = false;
        }
        for h in self.deleted.drain(..) {
            h.tracking().status = ObjectState::Persistent;
        }
        for h in self.map.values() {
            let snapshot = h.tracking().snapshot.take();
            if let Some(snapshot) = snapshot
                && let Ok(original) = T::from_row(snapshot)
            {
                h.replace(original);
            }
        }
    }

    pub(super) fn forget_undone(&mut self) {
        self.undo.clear();
    }
}

/// One entry of the undo log, newest last.
pub(super) enum Entry {
    /// Flush `seq` applied rows of one entity type; the typed record is
    /// that type's newest (`Tracked::undo_last`).
    Rows { seq: u64, ty: TypeId },
    /// Flush `seq` moved a relationship field's base on; `base` is the one
    /// before it.
    Relation {
        seq: u64,
        owner: Obj,
        index: usize,
        base: Box<dyn std::any::Any + Send + Sync>,
    },
}

impl Entry {
    fn seq(&self) -> u64 {
        match self {
            Entry::Rows { seq, .. } | Entry::Relation { seq, .. } => *seq,
        }
    }
}

impl Session {
    /// Flush `seq` applied: the types whose trackers kept a record for it
    /// join the log (in the flush's type order).
    pub(super) fn log_rows(&mut self, seq: u64, types: &[TypeId]) {
        if self.tx.is_none() {
            // Nothing to roll back: a single-statement commit is stored.
            for ty in types {
                if let Some(t) = self.trackers.get_mut(ty) {
                    t.forget_undo();
                }
            }
            return;
        }
        for &ty in types {
            if self.trackers.get(&ty).and_then(|t| t.newest_undo()) == Some(seq) {
                self.undo_log.push(Entry::Rows { seq, ty });
            }
        }
    }

    /// Every relationship change of a successful flush is now in the
    /// database: the fields' bases move on (undoable until commit).
    pub(super) fn commit_relations(&mut self, commits: &[(Obj, usize)], seq: u64) {
        for (owner, index) in commits {
            let mut base = None;
            owner.with_relation_untracked(*index, &mut |f| base = Some(f.commit()));
            if let Some(base) = base
                && self.tx.is_some()
            {
                self.undo_log.push(Entry::Relation {
                    seq,
                    owner: owner.clone(),
                    index: *index,
                    base,
                });
            }
        }
    }

    /// Undoes every flush since `mark` (0: the whole transaction), newest
    /// first, rows and relationships in the order they were applied.
    pub(super) fn undo_since(&mut self, mark: u64) {
        // Objects get their pending state back without a tracked write.
        self.clean_at = None;
        while self.undo_log.last().is_some_and(|e| e.seq() >= mark) {
            match self.undo_log.pop().expect("checked non-empty") {
                Entry::Rows { seq, ty } => {
                    if let Some(t) = self.trackers.get_mut(&ty) {
                        t.undo_last(seq);
                    }
                }
                Entry::Relation {
                    owner, index, base, ..
                } => {
                    let mut base = Some(base);
                    owner.with_relation_untracked(index, &mut |f| {
                        if let Some(b) = base.take() {
                            f.uncommit(b);
                        }
                    });
                }
            }
        }
    }

    /// The transaction is stored: nothing is undoable any more.
    pub(super) fn forget_undo_log(&mut self) {
        self.undo_log.clear();
        for t in self.trackers.values_mut() {
            t.forget_undo();
        }
    }

    /// A discarded transaction: collections go back to their bases.
    pub(super) fn discard_relations(&mut self) {
        for o in self.relation_owners() {
            for i in 0..o.meta().relations.len() {
                o.with_relation_untracked(i, &mut |f| f.discard());
            }
        }
    }
}
