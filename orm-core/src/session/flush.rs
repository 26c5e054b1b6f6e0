//! The flush: every pending change written in one transaction, and what the
//! session does once the statements succeeded (generated keys and versions
//! assigned, objects moved between states, an undo record kept).
//!
//! Layer 3 (the session).

use super::Session;
use super::ordering;
use super::persist;
use super::transaction;
use crate::error::Error;
use crate::model::meta::dependency_order;
use crate::session::hooks::Hooks;
use crate::session::hooks::SessionEvent;
use crate::sql::Statement;
use crate::sql::dml::TypeChanges;
use std::any::TypeId;
use std::collections::HashSet;

use super::changes::Updating;
use super::tracker::Tracked;
use super::undo::Undo;
use super::versioning::version_one;
use crate::error::Result;
use crate::model::entity::Entity;
use crate::model::fields::ObjectState;
use crate::object::handle::Handle;
use crate::session::hooks::{EntityEvent, Merged};
use crate::value::Value;

impl<T: Entity> Tracked<T> {
    pub(super) fn apply_flush(
        &mut self,
        keys: Option<Vec<Value>>,
        seq: u64,
        hooks: &Merged,
    ) -> Result<()> {
        let Some(flushing) = self.flushing.take() else {
            return Ok(());
        };
        let meta = T::meta();
        let version = meta.version_column();
        let auto = meta.auto_key();
        let mut undo = Undo {
            seq,
            inserted: Vec::new(),
            updated: Vec::new(),
            deleted: Vec::new(),
            switched: Vec::new(),
        };
        // Assign generated keys and versions; if one key does not decode,
        // put back what was assigned so far (set_column leaves a field as it
        // was when it fails) and report it: nothing half-assigned.
        let mut keys = keys.map(Vec::into_iter);
        for (n, (h, saved)) in flushing.inserted.iter().enumerate() {
            let assigned = {
                let mut value = h.write_untracked();
                let mut result = Ok(());
                if let (Some(keys), Some(pos)) = (&mut keys, auto)
                    && let Some(k) = keys.next()
                {
                    result = value.set_column(pos, k);
                }
                if let (Ok(()), Some(v)) = (&result, version) {
                    let one = saved
                        .iter()
                        .find(|(i, _)| *i == v)
                        .map(|(_, old)| version_one(old));
                    if let Some(one) = one {
                        result = value.set_column(v, one);
                    }
                }
                result
            };
            if let Err(e) = assigned {
                for (h, saved) in &flushing.inserted[..=n] {
                    let mut value = h.write_untracked();
                    for (i, old) in saved {
                        let _ = value.set_column(*i, old.clone());
                    }
                }
                return Err(e);
            }
        }
        let mut done: HashSet<usize, foldhash::fast::RandomState> =
            HashSet::with_capacity_and_hasher(
                flushing.inserted.len() + flushing.switched.len(),
                Default::default(),
            );
        for (h, saved) in &flushing.inserted {
            let mut t = h.tracking();
            t.status = ObjectState::Persistent;
            t.snapshot = None;
            drop(t);
            h.join(&self.journal, false);
            self.map.insert(h.key(), h.clone());
            done.insert(h.addr());
            h.rebind();
            undo.inserted.push((h.clone(), saved.clone()));
        }

        for (new, old, row) in &flushing.switched {
            if let Some(v) = version {
                new.write_untracked().set_column(v, row[v].clone())?;
            }
            new.tracking().status = ObjectState::Persistent;
            old.tracking().status = ObjectState::Detached;
            new.join(&self.journal, false);
            self.map.insert(new.key(), new.clone());
            done.insert(new.addr());
            undo.switched.push((new.clone(), old.clone()));
        }
        // Usually every new object was written: no set lookups then. Else a
        // set, not a scan per object: a flush may insert tens of thousands.
        if done.len() == self.new.len() {
            self.new.clear();
        } else {
            self.new.retain(|h| !done.contains(&h.addr()));
        }

        for Updating {
            handle: h,
            key_before,
            snapshot,
            row,
        } in &flushing.updated
        {
            if let Some(v) = version {
                h.write_untracked().set_column(v, row[v].clone())?;
            }
            h.tracking().snapshot = None;
            let key_now = h.key();
            if key_now != *key_before {
                self.map.remove(key_before);
                self.map.insert(key_now, h.clone());
                h.rebind();
            }
            undo.updated
                .push((h.clone(), key_before.clone(), snapshot.clone()));
        }

        for h in &flushing.deleted {
            h.tracking().status = ObjectState::Detached;
            let key = T::key_from_row(&h.loaded_row())?;
            if self.map.get(&key).is_some_and(|m| Handle::ptr_eq(m, h)) {
                self.map.remove(&key);
            }
            undo.deleted.push(h.clone());
        }
        self.deleted.clear();

        // Flushed objects have no snapshot now: off the written list.
        self.journal.prune::<T>();
        // Recorded before the after-hooks run, so a failing hook can be undone.
        self.undo.push(undo);
        Self::run_view_hooks(
            hooks,
            EntityEvent::AfterInsert,
            flushing.inserted.iter().map(|(h, _)| h.clone()),
        )?;
        Self::run_view_hooks(
            hooks,
            EntityEvent::AfterUpdate,
            flushing.updated.iter().map(|u| u.handle.clone()),
        )?;
        Self::run_view_hooks(
            hooks,
            EntityEvent::AfterDelete,
            flushing.deleted.iter().cloned(),
        )?;
        Ok(())
    }
}

impl Session {
    /// The row statements the next flush would run for the objects the
    /// session already tracks as new, changed or deleted, in order, without
    /// running anything: INSERTs (batched), UPDATEs of changed columns,
    /// DELETEs, exactly as the flush writes them if nothing else changes.
    ///
    /// It leaves out what a flush works out first, because working it out
    /// changes the session: the work of `before_flush` hooks (they run
    /// only in a flush); relationship bookkeeping: children or targets
    /// added to collections that are not in the session yet (cascade on
    /// save), rows that wait for a parent's generated key, orphan and
    /// cascaded deletes, and association-table rows.
    pub fn plan_rows(&mut self) -> Result<Vec<Statement>> {
        self.ensure_usable()?;
        if self.finishing.is_some() {
            return Err(Error::Usage {
                entity: None,
                relation: None,
                message: "a cancelled commit is still finishing: await settle() first".into(),
            });
        }
        let empty = Merged::of(&Hooks::default(), &Hooks::default());
        let (ids, changes) = self.prepare_all(&empty, &Default::default())?;
        let steps = self.build_steps(&ids, &changes);
        self.cancel_all();
        Ok(steps?.into_iter().map(|s| s.stmt).collect())
    }

    /// Writes every pending change in one transaction (opened here if none
    /// is open): inserts, updates of changed columns, deletes, in foreign-key
    /// order. On failure see the module docs.
    pub async fn flush(&mut self) -> Result<()> {
        self.ready().await?;
        match self.flush_with(false).await? {
            None => Ok(()),
            Some(_) => unreachable!("only a commit's flush is sent alone"),
        }
    }

    /// `autocommit`: a commit whose flush is one statement, with no
    /// transaction open and no `after_flush` hook, sends that statement alone
    /// (one statement is atomic on every backend): one round trip instead of
    /// BEGIN, statement, COMMIT. That statement is returned, unsent, as a
    /// [`transaction::Finishing`] for the commit to run.
    pub(super) async fn flush_with(
        &mut self,
        autocommit: bool,
    ) -> Result<Option<transaction::Finishing>> {
        self.ensure_usable()?;
        // A write guard this thread holds on one of the session's objects
        // (across an .await) would stop the flush for ever at its first
        // read of it: said before anything starts, the session untouched.
        // Free unless this thread holds some write guard.
        if crate::object::handle::this_thread_writes() {
            for t in self.trackers.values() {
                t.check_borrows()?;
            }
        }
        // Until disarmed, dropping this future marks the session's
        // transaction as one a call was writing to (see `transaction`).
        let writing = transaction::Writing::new(&self.interrupted);
        let outcome = match self.flush_inner(autocommit).await {
            Ok(finishing) => Ok(finishing),
            Err(e) => {
                self.fail(&e).await;
                Err(e)
            }
        };
        writing.disarm();
        outcome
    }

    pub(super) async fn flush_inner(
        &mut self,
        autocommit: bool,
    ) -> Result<Option<transaction::Finishing>> {
        let hooks = self.merged_hooks();
        self.cascade_new();
        self.run_before_flush(&hooks)?;
        let mut relations = self.sync_relations().await?;
        let assoc_deletes = relations.assoc.deletes(self.writer())?;
        let mut first = true;
        loop {
            let held = self.resolve_pending(&mut relations.pending)?;
            let (ids, changes) = self.prepare_all(&hooks, &held)?;
            let nothing = changes.iter().all(TypeChanges::is_empty);
            if nothing && !held.is_empty() {
                self.cancel_all();
                return Err(Error::Usage {
                    entity: None,
                    relation: None,
                    message: format!(
                        "{} object(s) wait for the generated key of a parent that is not being inserted",
                        held.len()
                    ),
                });
            }
            if nothing && first && assoc_deletes.is_empty() && !relations.assoc.has_inserts() {
                self.cancel_all();
                self.commit_relations(&relations.commits, self.seq);
                return Ok(None);
            }
            let steps = match self.build_steps(&ids, &changes) {
                Ok(s) => s,
                Err(e) => {
                    self.cancel_all();
                    return Err(e);
                }
            };
            let metas: Vec<_> = ids.iter().map(|id| self.trackers[id].meta()).collect();
            let tables: Vec<&'static str> = metas
                .iter()
                .zip(&changes)
                .filter(|(_, c)| !c.is_empty())
                .map(|(m, _)| m.table)
                .collect();
            // Only a statement that cannot half-succeed may run alone: an
            // INSERT, or an UPDATE/DELETE of one row. A batched UPDATE that
            // matched fewer rows than it named (stale data) must roll back
            // the rows it did change.
            let single = autocommit
                && first
                && self.tx.is_none()
                && held.is_empty()
                && relations.assoc.is_empty()
                && steps.len() == 1
                && (steps[0].kind == ordering::Kind::Insert || steps[0].rows <= 1)
                && hooks.session(SessionEvent::AfterFlush).is_empty();
            if single {
                return Ok(Some(self.single_statement(
                    ids,
                    steps,
                    metas,
                    tables,
                    std::mem::take(&mut relations.commits),
                )));
            }
            if self.tx.is_none() {
                match self.engine.pool().begin().await {
                    Ok(tx) => self.tx = Some(tx),
                    Err(e) => {
                        self.cancel_all();
                        return Err(e);
                    }
                }
                self.record_transaction();
            }
            if first {
                for stmt in &assoc_deletes {
                    if let Err(e) = self.execute(stmt).await {
                        self.cancel_all();
                        return Err(e);
                    }
                }
            }
            first = false;
            let keys = match persist::run_steps(self, &steps, &metas).await {
                Ok(k) => k,
                Err(e) => {
                    self.cancel_all();
                    return Err(self.step_error(e, &steps, &metas).await);
                }
            };
            crate::results::note_written(&mut self.written, tables);
            self.apply_all(&ids, keys, &hooks)?;
            if held.is_empty() {
                break;
            }
        }
        for stmt in relations
            .assoc
            .inserts(self.writer(), self.engine.bind_limit())?
        {
            self.execute(&stmt).await?;
        }
        crate::results::note_written(&mut self.written, relations.assoc.tables());
        self.commit_relations(&relations.commits, self.seq);
        self.run_after_flush(&hooks)?;
        Ok(None)
    }

    /// A flush's statements ran: every type takes its generated keys and
    /// versions, and records its undo (see `tracker`).
    pub(super) fn apply_all(
        &mut self,
        ids: &[TypeId],
        keys: persist::Keys,
        hooks: &Merged,
    ) -> Result<()> {
        self.seq += 1;
        let seq = self.seq;
        let mut applied = Vec::with_capacity(ids.len());
        let mut outcome = Ok(());
        for (id, keys) in ids.iter().zip(keys) {
            applied.push(*id);
            let tracker = self.trackers.get_mut(id).expect("id from the trackers");
            // An after-hook may fail once the type's record is kept: it
            // joins the log all the same, so the failure can undo it.
            if let Err(e) = tracker.apply(keys, seq, hooks) {
                outcome = Err(e);
                break;
            }
        }
        self.log_rows(seq, &applied);
        outcome
    }

    /// Turns a failed step into the flush's error: stale data is named
    /// after the transaction (or its innermost savepoint) rolled back, so
    /// the rows read are the committed ones.
    pub(super) async fn step_error(
        &mut self,
        e: persist::StepError,
        steps: &[ordering::Step],
        metas: &[&'static crate::model::meta::EntityMeta],
    ) -> Error {
        match e {
            persist::StepError::Failed(e) => e,
            persist::StepError::Stale { step } => {
                let step = &steps[step];
                if let Err(e) = self.rewind_database().await {
                    return e;
                }
                let dialect = self.dialect();
                super::versioning::stale_error(self, dialect, metas[step.type_index], step).await
            }
        }
    }

    /// Computes every type's changes; the order is foreign-key order.
    pub(super) fn prepare_all(
        &mut self,
        hooks: &Merged,
        held: &std::collections::HashSet<usize>,
    ) -> Result<(Vec<TypeId>, Vec<TypeChanges>)> {
        for t in self.trackers.values() {
            t.check_keys()?;
        }
        let metas: Vec<_> = self.trackers.values().map(|t| t.meta()).collect();
        let order = dependency_order(&metas)?;
        let ids: Vec<TypeId> = order
            .iter()
            .filter_map(|m| {
                self.trackers
                    .iter()
                    .find(|(_, t)| t.meta().same(m))
                    .map(|(id, _)| *id)
            })
            .collect();
        let mut changes = Vec::with_capacity(ids.len());
        for id in &ids {
            let tracker = self.trackers.get_mut(id).expect("id from the trackers");
            match tracker.prepare(hooks, held) {
                Ok(c) => changes.push(c),
                Err(e) => {
                    self.cancel_all();
                    return Err(e);
                }
            }
        }
        Ok((ids, changes))
    }

    pub(super) fn cancel_all(&mut self) {
        for t in self.trackers.values_mut() {
            t.cancel();
        }
    }

    pub(super) fn build_steps(
        &self,
        ids: &[TypeId],
        changes: &[TypeChanges],
    ) -> Result<Vec<ordering::Step>> {
        let types: Vec<_> = ids
            .iter()
            .zip(changes)
            .map(|(id, c)| (self.trackers[id].meta(), c))
            .collect();
        ordering::build(self.writer(), self.engine.caps(), &types)
    }

    /// Where flush statements are written: the dialect and the template cache.
    pub(super) fn writer(&self) -> crate::sql::dml::Writer<'_> {
        crate::sql::dml::Writer {
            dialect: self.dialect(),
            cache: self.engine.templates(),
        }
    }
}
