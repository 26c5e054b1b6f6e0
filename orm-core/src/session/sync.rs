//! What a flush does with relationships, before the unit of work computes
//! rows (`Session::sync_relations`).
//!
//! First it checks that every keyed collection the flush may write through
//! holds one child per key ([`Error::KeyConflict`] before anything is
//! written; see `keyed`). Then it walks every object that may have
//! relationship changes (new objects, deleted ones, and persistent ones
//! written since their load or last flush, of these only those with a
//! relationship field whose membership changed: an untouched field has
//! nothing to say, so an object whose relationships were never used costs
//! the walk nothing) and, per relationship field:
//!
//! * **has-many**: new children join the session (cascade on save); each
//!   added child's foreign key is set from the owner's key, or, when the
//!   owner is new with a generated key, recorded as a [`PendingFk`] that the
//!   flush resolves after the owner's INSERT; removed children (including
//!   those that joined and left since the last flush: a replaced new child)
//!   are orphan candidates, handled at the end unless another collection
//!   took them or their foreign key names another parent by then: deleted
//!   (a new one just leaves the session, never inserted) or detached; a
//!   deleted owner's children are deleted, refused or
//!   detached as declared (an unloaded collection is loaded first, one
//!   query per relationship for all deleted owners);
//! * **many-to-many**: added and removed targets become association pairs;
//!   a deleted owner's rows all go;
//! * **belongs-to**: a changed reference sets the owner's foreign key (or a
//!   pending one).
//!
//! Objects reached this way are walked too, until nothing new appears.
//! What the walk decided is a [`FlushRelations`]: the pending foreign
//! keys, the association changes, and the fields whose base the flush
//! moves on once every statement succeeded.
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

use std::collections::HashSet;

use super::assoc::AssocChanges;
use crate::error::{Error, Result};
use crate::model::fields::Obj;
use crate::model::relation::{OnDeleteChildren, Orphans, RelationKind, RelationMeta};
use crate::session::{ObjectState, Session};
use crate::value::Value;

/// A foreign key that waits for its parent's generated key.
pub(crate) struct PendingFk {
    pub child: Obj,
    pub column: usize,
    pub parent: Obj,
}

#[derive(Default)]
pub(crate) struct FlushRelations {
    pub pending: Vec<PendingFk>,
    pub assoc: AssocChanges,
    /// Relationship fields (owner, index) whose base moves on after the flush.
    pub commits: Vec<(Obj, usize)>,
}

/// Orphan candidates: (relationship, child, the owner's key if it has one).
type Orphan = (&'static RelationMeta, Obj, Option<Value>);

impl Session {
    /// Cascade on save, alone: new objects added to collections or
    /// references join the session's new objects, so `before_flush` hooks
    /// see them (`new_objects`). The full walk runs after the hooks.
    pub(crate) fn cascade_new(&mut self) {
        let mut seen: HashSet<usize> = HashSet::new();
        loop {
            let owners: Vec<Obj> = self
                .relation_owners()
                .into_iter()
                .filter(|o| o.state() != ObjectState::Deleted && seen.insert(o.addr()))
                .collect();
            if owners.is_empty() {
                return;
            }
            for o in owners {
                for (index, rel) in o.meta().relations.iter().enumerate() {
                    let mut added = Vec::new();
                    o.peek_relation(index, &mut |f| added = f.diff().0);
                    for c in added {
                        self.enqueue(rel, &c);
                    }
                }
            }
        }
    }

    pub(crate) async fn sync_relations(&mut self) -> Result<FlushRelations> {
        let owners = self.relation_owners();
        self.check_keyed(&owners)?;
        // The walk's first round starts from the same owners.
        let mut first = Some(owners);
        let mut out = FlushRelations::default();
        let mut visited: HashSet<(usize, ObjectState)> = HashSet::new();
        let mut orphans: Vec<Orphan> = Vec::new();
        // Children some collection added in this flush: not orphans.
        let mut claimed: HashSet<usize> = HashSet::new();
        // References set to nothing: the foreign key becomes NULL unless the
        // object is deleted (an orphan) by then.
        let mut nulls: Vec<(Obj, usize, &'static RelationMeta)> = Vec::new();
        loop {
            let owners: Vec<Obj> = first
                .take()
                .unwrap_or_else(|| self.relation_owners())
                .into_iter()
                .filter(|o| !visited.contains(&(o.addr(), o.state())))
                .collect();
            if owners.is_empty() {
                if orphans.is_empty() {
                    break;
                }
                for (rel, child, owner_key) in std::mem::take(&mut orphans) {
                    if claimed.contains(&child.addr()) {
                        continue;
                    }
                    self.orphan(rel, &child, owner_key.as_ref())?;
                }
                continue;
            }
            // Deleted owners need their owned collections to cascade.
            let mut to_load: Vec<(&'static RelationMeta, Vec<Obj>)> = Vec::new();
            for o in &owners {
                if o.state() != ObjectState::Deleted {
                    continue;
                }
                for (i, rel) in o.meta().relations.iter().enumerate() {
                    if rel.kind == RelationKind::HasMany && !o.relation_loaded(i) {
                        match to_load.iter_mut().find(|(r, _)| std::ptr::eq(*r, rel)) {
                            Some((_, list)) => list.push(o.clone()),
                            None => to_load.push((rel, vec![o.clone()])),
                        }
                    }
                }
            }
            if !to_load.is_empty() {
                for (rel, list) in to_load {
                    (super::type_ops::of(rel).load)(self, rel, list, false).await?;
                }
                continue;
            }
            for o in owners {
                visited.insert((o.addr(), o.state()));
                self.sync_owner(&o, &mut out, &mut orphans, &mut claimed, &mut nulls)?;
            }
        }
        for (o, fk, rel) in nulls {
            if !matches!(o.state(), ObjectState::Deleted | ObjectState::Detached) {
                o.set_column(fk, null_for(&o, fk, rel)?)?;
            }
        }
        Ok(out)
    }

    fn sync_owner(
        &mut self,
        owner: &Obj,
        out: &mut FlushRelations,
        orphans: &mut Vec<Orphan>,
        claimed: &mut HashSet<usize>,
        nulls: &mut Vec<(Obj, usize, &'static RelationMeta)>,
    ) -> Result<()> {
        let state = owner.state();
        let owner_key = owner.key_value();
        for (index, rel) in owner.meta().relations.iter().enumerate() {
            if !owner.relation_loaded(index) {
                // Nothing changed in an unloaded field; a deleted owner's
                // association rows go whether loaded or not.
                if state == ObjectState::Deleted && rel.kind == RelationKind::ManyToMany {
                    out.assoc.owner_deleted(rel, owner);
                }
                continue;
            }
            let (changed, added, removed) = peek(owner, index);
            match rel.kind {
                RelationKind::HasMany => {
                    let fk = rel.fk_column()?;
                    if state == ObjectState::Deleted {
                        let children = owner.relation_children(index);
                        self.cascade_delete(owner, rel, fk, &children)?;
                        // Children taken out before the delete are orphans.
                        orphans.extend(removed.into_iter().map(|c| (rel, c, owner_key.clone())));
                        continue;
                    }
                    for child in &added {
                        self.enqueue(rel, child);
                        claimed.insert(child.addr());
                        match &owner_key {
                            Some(k) => child.set_column(fk, k.clone())?,
                            None => out.pending.push(PendingFk {
                                child: child.clone(),
                                column: fk,
                                parent: owner.clone(),
                            }),
                        }
                    }
                    orphans.extend(removed.into_iter().map(|c| (rel, c, owner_key.clone())));
                }
                RelationKind::ManyToMany => {
                    if state == ObjectState::Deleted {
                        out.assoc.owner_deleted(rel, owner);
                        continue;
                    }
                    for target in &added {
                        self.enqueue(rel, target);
                        out.assoc.pair(rel, owner, target, true);
                    }
                    for target in &removed {
                        out.assoc.pair(rel, owner, target, false);
                    }
                }
                RelationKind::BelongsTo => {
                    if state == ObjectState::Deleted || !changed {
                        continue;
                    }
                    let fk = rel.fk_column()?;
                    match added.first() {
                        Some(parent) => {
                            // A child pointed at a new parent is no orphan
                            // of the old one, loaded or not.
                            claimed.insert(owner.addr());
                            self.enqueue(rel, parent);
                            match parent.key_value() {
                                Some(k) => owner.set_column(fk, k)?,
                                None => out.pending.push(PendingFk {
                                    child: owner.clone(),
                                    column: fk,
                                    parent: parent.clone(),
                                }),
                            }
                        }
                        None => nulls.push((owner.clone(), fk, rel)),
                    }
                }
            }
            if changed {
                out.commits.push((owner.clone(), index));
            }
        }
        Ok(())
    }

    /// A deleted owner's has-many children.
    fn cascade_delete(
        &mut self,
        owner: &Obj,
        rel: &'static RelationMeta,
        fk: usize,
        children: &[Obj],
    ) -> Result<()> {
        let live: Vec<&Obj> = children
            .iter()
            .filter(|c| !matches!(c.state(), ObjectState::Deleted | ObjectState::Detached))
            .filter(|c| c.addr() != owner.addr())
            .collect();
        match rel.on_delete {
            OnDeleteChildren::Delete => {
                for c in live {
                    self.delete_object(rel, c)?;
                }
            }
            OnDeleteChildren::Refuse => {
                if !live.is_empty() {
                    return Err(Error::Restricted {
                        entity: owner.meta().name,
                        key: owner.key_description(),
                        relation: rel.describe(),
                        children: live.len(),
                    });
                }
            }
            OnDeleteChildren::Detach => {
                for c in live {
                    c.set_column(fk, null_for(c, fk, rel)?)?;
                }
            }
        }
        Ok(())
    }

    /// A child removed from a has-many collection and taken by no other
    /// collection in this flush.
    fn orphan(
        &mut self,
        rel: &'static RelationMeta,
        child: &Obj,
        owner_key: Option<&Value>,
    ) -> Result<()> {
        if matches!(child.state(), ObjectState::Deleted | ObjectState::Detached) {
            return Ok(());
        }
        // Its foreign key names another parent: it moved there (a child
        // without a belongs-to cannot take itself out of the old parent's
        // loaded collection, or its foreign key was written), so it is that
        // parent's child, not an orphan.
        if let Some(k) = owner_key {
            let now = child.column_value(rel.fk_column()?);
            if !matches!(now, Value::Null(_)) && !crate::value::same(&now, k) {
                return Ok(());
            }
        }
        match rel.orphans {
            Orphans::Delete => self.delete_object(rel, child),
            Orphans::Detach => {
                let fk = rel.fk_column()?;
                child.set_column(fk, null_for(child, fk, rel)?)
            }
        }
    }

    /// Resolves pending foreign keys whose parent has a key now; returns
    /// the addresses of the objects still waiting (held out of this pass).
    pub(crate) fn resolve_pending(
        &mut self,
        pending: &mut Vec<PendingFk>,
    ) -> Result<HashSet<usize>> {
        let mut waiting = HashSet::new();
        let mut left = Vec::new();
        for p in pending.drain(..) {
            if matches!(
                p.child.state(),
                ObjectState::Deleted | ObjectState::Detached
            ) {
                continue;
            }
            match p.parent.key_value() {
                Some(k) => p.child.set_column(p.column, k)?,
                None => {
                    if p.parent.state() == ObjectState::Detached {
                        return Err(Error::Usage {
                            entity: Some(p.child.meta().name),
                            relation: None,
                            message: format!(
                                "a {} refers to a {} that left the session before it was inserted",
                                p.child.meta().name,
                                p.parent.meta().name
                            ),
                        });
                    }
                    waiting.insert(p.child.addr());
                    left.push(p);
                }
            }
        }
        *pending = left;
        Ok(waiting)
    }
}

impl Session {
    /// One child per key, before anything is written, else
    /// [`Error::KeyConflict`]. Two children share a key only if a collection
    /// gained a child (its key is checked by the operation, but may be
    /// written directly afterwards, and a new object keeps no snapshot to
    /// tell) or a persistent child's key attribute changed since its
    /// snapshot. So: the keyed collections of the owners the flush walks
    /// that gained children (every collection of a new owner), and the
    /// loaded parents, found by foreign key, of the persistent children
    /// whose key attribute or foreign key changed. Not every loaded
    /// collection: the index of one is rebuilt whenever any object of the
    /// child type was written, which would make every flush pay for every
    /// collection in the session.
    fn check_keyed(&self, owners: &[Obj]) -> Result<()> {
        let keyed: Vec<(usize, &'static RelationMeta)> = self
            .tracked_metas()
            .flat_map(|m| m.relations.iter().enumerate())
            .filter(|(_, r)| r.kind == RelationKind::HasMany && r.keyed_by.is_some())
            .collect();
        if keyed.is_empty() {
            return Ok(());
        }
        // A deleted owner's children go with it, whatever their keys.
        for o in owners.iter().filter(|o| o.state() != ObjectState::Deleted) {
            for (index, rel) in o.meta().relations.iter().enumerate() {
                if rel.keyed_by.is_some() {
                    validate(o, index, false)?;
                }
            }
        }
        let mut checked: HashSet<(usize, usize)> = HashSet::new();
        for (index, rel) in keyed {
            let target = rel.target_meta();
            let (Some(key), Ok(fk)) = (rel.keyed_column(), rel.fk_column()) else {
                continue;
            };
            // Every written child, whether or not its own relationship
            // fields changed (the owners are only those whose did).
            for child in self.written_objects(target) {
                if child.state() != ObjectState::Persistent || !child.columns_changed(&[key, fk]) {
                    continue;
                }
                let parent_key = child.column_value(fk);
                if matches!(parent_key, Value::Null(_)) {
                    continue;
                }
                if let Some(parent) = self.find_object(rel.owner_meta(), &parent_key)
                    && parent.state() != ObjectState::Deleted
                    && checked.insert((parent.addr(), index))
                {
                    validate(&parent, index, true)?;
                }
            }
        }
        Ok(())
    }
}

fn validate(owner: &Obj, index: usize, all: bool) -> Result<()> {
    let mut result = Ok(());
    owner.peek_relation(index, &mut |f| result = f.validate(all));
    result
}

/// (changed, added, removed) of one field, read without a snapshot.
fn peek(owner: &Obj, index: usize) -> (bool, Vec<Obj>, Vec<Obj>) {
    let mut result = (false, Vec::new(), Vec::new());
    owner.peek_relation(index, &mut |f| {
        let (added, removed) = f.diff();
        result = (f.changed(), added, removed);
    });
    result
}

fn null_for(o: &Obj, fk: usize, rel: &RelationMeta) -> Result<Value> {
    let column = &o.meta().columns[fk];
    if !column.nullable {
        return Err(Error::Schema {
            entity: rel.owner_meta().name,
            relation: Some(rel.describe()),
            message: format!(
                "detaching a {} needs a nullable foreign key, and {}.{} is not",
                o.meta().name,
                o.meta().table,
                column.name
            ),
        });
    }
    Ok(Value::Null(column.sql_type))
}
