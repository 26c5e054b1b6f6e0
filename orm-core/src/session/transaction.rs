//! The session's transaction: when it opens and ends, savepoints, what a
//! failure undoes, and what a dropped future leaves behind. This module is
//! the only owner of the transaction's lifetime.
//!
//! ## Lifetime
//!
//! A session opens a transaction (a pooled [`Conn`] that ran BEGIN) at its
//! first flush, or at [`Session::nested`], and holds it in `Session::tx`
//! until `commit` or `rollback`; while it is open every statement of the
//! session runs on it. Nothing else holds it.
//!
//! ## Failure
//!
//! A failed flush or commit (constraint violation, stale data, hook error,
//! lost connection) rolls the transaction back and puts the session back
//! where it was before the transaction's first flush (`tracker` keeps the
//! undo log), then refuses work with [`Error::SessionFailed`] until
//! `rollback()` acknowledges it. Inside [`Session::nested`] a failure rolls
//! back to the innermost savepoint only (SQLAlchemy's `begin_nested()`): the
//! objects go back to their state at the savepoint, the calls left in the
//! block get `SessionFailed`, `nested` returns the error, and the outer
//! transaction goes on. A failure that cost the connection fails the whole
//! transaction even inside a savepoint.
//!
//! ## Cancellation
//!
//! Any future the session returns may be dropped at any await point. The
//! rules, and how each is kept:
//!
//! * **A dropped statement never poisons the pool.** Its [`Conn`] is closed
//!   instead of given back when it was mid-statement (`backend::conn`).
//! * **A dropped call that was writing loses the transaction, visibly.** A
//!   flush or `nested` block holds a [`Writing`] guard while it runs; if its
//!   future is dropped the guard raises `Session::interrupted`, and a
//!   statement dropped on the transaction leaves its `Conn` busy. The
//!   session's next call sees either, gives the transaction up (the server
//!   rolls it back when the connection closes) and fails as for a failed
//!   flush: back to before the transaction's first flush, `SessionFailed`
//!   until `rollback()`. A call dropped while no transaction was open (a
//!   read, a flush that had not begun writing) leaves the session as it was.
//! * **A commit is never in doubt.** Once a commit reaches the statement
//!   that makes its work durable (COMMIT, or the one autocommit statement of
//!   a commit that is a single statement), that statement and what depends
//!   on it (reading back generated keys, invalidating cached results) run as
//!   a [`Finishing`] future the session owns. Dropping `commit()` leaves it
//!   in the session; the next call (or [`Session::settle`]) drives it to the
//!   end first, so the session learns whether the work was stored and
//!   becomes committed or failed accordingly. A session dropped with one
//!   pending hands it to the runtime to finish. (A connection *lost* during
//!   COMMIT is the one outcome no client can know; it is reported as
//!   `ConnectionLost` and the session treats the work as not stored.)
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Session, ordering, persist};
use crate::backend::Conn;
use crate::error::{Error, Result};
use crate::model::fields::Obj;
use crate::model::meta::EntityMeta;
use crate::runner::Autocommit;
use crate::session::hooks::ViewEvent;

/// Held by a call that writes to the transaction; raises the session's
/// `interrupted` flag if the call's future is dropped before it disarms.
pub(crate) struct Writing {
    flag: Option<Arc<AtomicBool>>,
}

impl Writing {
    pub(super) fn new(flag: &Arc<AtomicBool>) -> Writing {
        Writing {
            flag: Some(flag.clone()),
        }
    }

    pub(crate) fn disarm(mut self) {
        self.flag = None;
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        if let Some(flag) = self.flag.take() {
            flag.store(true, Ordering::Release);
        }
    }
}

/// The output of a finishing future: generated keys for a single-statement
/// commit, nothing for a COMMIT.
type Finished = Option<persist::Keys>;

/// The durable step of a commit, owned by the session until it has run.
pub(super) struct Finishing {
    work: Pin<Box<dyn Future<Output = Result<Finished>> + Send>>,
    then: Then,
}

/// What the session does once its finishing future has run.
enum Then {
    /// The transaction's COMMIT.
    Commit,
    /// The one statement of a single-statement commit: the objects take
    /// their keys and versions, the relationships their new bases.
    Statement {
        ids: Vec<std::any::TypeId>,
        commits: Vec<(Obj, usize)>,
    },
}

impl Session {
    /// Finishes what a dropped call left behind, and says whether the
    /// session can be used: a commit whose COMMIT (or single statement)
    /// was already on its way is driven to the end, so that the session
    /// knows whether it was stored; a transaction a dropped call was
    /// writing to is rolled back. Every async call of the session does
    /// this first; call it to learn the outcome of a cancelled commit.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Job {
    ///     #[key(auto)]
    ///     pub id: i64,
    ///     pub name: String,
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.create_all(&[Job::schema()]).await?;
    /// let mut s = db.session();
    /// s.add(Job { id: 0, name: "nightly".into() });
    /// let timed_out = tokio::time::timeout(std::time::Duration::ZERO, s.commit()).await.is_err();
    /// match s.settle().await {
    ///     Ok(()) => {}                              // stored, or never started
    ///     Err(_) => s.rollback().await?,            // not stored: the work is pending again
    /// }
    /// s.commit().await?;                            // stores it exactly once
    /// assert_eq!(s.query::<Job>().count().await?, 1);
    /// # let _ = timed_out;
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn settle(&mut self) -> Result<()> {
        if self.finishing.is_some() {
            let outcome = self.drive_finishing().await;
            if let Err(e) = outcome
                && !self.has_failed()
            {
                // The commit stands; only an after_commit hook failed.
                return Err(e);
            }
        }
        self.ensure_usable()
    }

    /// [`Session::settle`] at the start of a call: an `after_commit` hook
    /// error of a commit finished here is logged, not returned (the call
    /// asked for something else).
    pub(crate) async fn ready(&mut self) -> Result<()> {
        self.settle_quietly().await;
        self.ensure_usable()
    }

    pub(super) async fn settle_quietly(&mut self) {
        if self.finishing.is_some()
            && let Err(e) = self.drive_finishing().await
            && !self.has_failed()
        {
            tracing::warn!(error = %e, "after a cancelled commit finished");
        }
    }

    /// Runs the pending finishing future to its end, then what follows it.
    async fn drive_finishing(&mut self) -> Result<()> {
        let Some(finishing) = self.finishing.as_mut() else {
            return Ok(());
        };
        // Dropped here, the future stays in the session for the next call.
        let outcome = finishing.work.as_mut().await;
        let then = self.finishing.take().expect("present above").then;
        self.complete(then, outcome)
    }

    /// Refuses work after a failure; first gives up a transaction a dropped
    /// call left in doubt (see the module docs).
    pub(crate) fn ensure_usable(&mut self) -> Result<()> {
        self.recover();
        if let Some(cause) = &self.failed {
            return Err(Error::SessionFailed {
                cause: cause.clone(),
            });
        }
        if let Some((_, e)) = &self.savepoint_error {
            return Err(Error::SessionFailed {
                cause: format!("{e} (inside a savepoint that was rolled back)"),
            });
        }
        Ok(())
    }

    /// Whether the last flush or commit failed (or a dropped call lost the
    /// transaction) and `rollback()` has not acknowledged it.
    pub fn has_failed(&self) -> bool {
        self.failed.is_some() || self.savepoint_error.is_some() || self.in_doubt()
    }

    /// A dropped call was writing to the transaction, or dropped a
    /// statement on it.
    fn in_doubt(&self) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.is_busy() || self.interrupted.load(Ordering::Acquire))
    }

    fn recover(&mut self) {
        let dropped_writer = self.interrupted.swap(false, Ordering::AcqRel);
        let busy = self.tx.as_ref().is_some_and(Conn::is_busy);
        if !dropped_writer && !busy {
            return;
        }
        self.cancel_all();
        if self.tx.is_none() {
            // Nothing was written: the session is as before the call.
            return;
        }
        let cause = if busy {
            "a call was cancelled while a statement of the transaction was running"
        } else {
            "a call was cancelled while it was writing to the transaction"
        };
        // Dropping the connection rolls the transaction back (`backend::conn`).
        drop(self.tx.take());
        self.abandon(format!("{cause}; the transaction was rolled back"));
    }

    /// The transaction is gone (rolled back, or its connection closed):
    /// undo everything it applied and refuse work until `rollback()`.
    fn abandon(&mut self, cause: String) {
        self.cancel_all();
        self.failed = Some(cause);
        self.undo_transaction();
    }

    /// The in-memory side of a transaction that is gone.
    fn undo_transaction(&mut self) {
        self.undo_since(0);
        self.savepoints.clear();
        self.savepoint_error = None;
        self.written.clear();
        self.run_view_hooks(ViewEvent::AfterRollback);
    }

    /// The row a stale-data error names is not what the session holds (it
    /// changed, or is gone): its object is expired, so the next load
    /// replaces it (or finds it gone) instead of the identity map serving
    /// the stale state.
    fn expire_stale(&mut self, error: &Error) {
        if let Error::StaleData { entity, key, .. } = error {
            for t in self.trackers.values_mut() {
                if t.meta().name == *entity {
                    t.expire_described(key);
                }
            }
        }
    }

    /// After a failure: roll back to the innermost savepoint if the
    /// connection allows (see the module docs), else the whole transaction.
    /// A guard for a call that writes to the transaction and then brings
    /// the session in line (a bulk statement, an upsert): dropped before
    /// `disarm`, it leaves the transaction in doubt, and the next call
    /// rolls it back.
    pub(crate) fn writing(&self) -> Writing {
        Writing::new(&self.interrupted)
    }

    /// A statement the session ran on its transaction outside a flush (a
    /// bulk update or delete) failed: the transaction goes as after a
    /// failed flush (to the innermost savepoint when there is one).
    pub(crate) async fn fail_statement(&mut self, error: &Error) {
        if self.tx.is_some() {
            self.fail(error).await;
        }
    }

    pub(super) async fn fail(&mut self, error: &Error) {
        self.cancel_all();
        self.expire_stale(error);
        let connection_lost = error.db_kind() == Some(crate::error::DbErrorKind::ConnectionLost);
        if let Some(&mark) = self.savepoints.last()
            && !connection_lost
            && self.tx.as_ref().is_some_and(|tx| !tx.is_busy())
            && self.control(&rollback_to(mark)).await.is_ok()
        {
            self.rewind_to(mark);
            self.savepoint_error = Some((mark, error.clone()));
            return;
        }
        let tx = self.tx.take();
        self.abandon(error.to_string());
        if let Some(mut tx) = tx {
            // The transaction failed already; a rollback error (say the
            // connection is gone) changes nothing for the session, and if
            // this is dropped the connection rolls back by itself.
            let _ = tx.rollback().await;
        }
    }

    /// Before a stale row is named: the database goes back to the
    /// innermost savepoint, or the whole transaction is rolled back.
    pub(super) async fn rewind_database(&mut self) -> Result<()> {
        if let Some(&mark) = self.savepoints.last() {
            return self.control(&rollback_to(mark)).await;
        }
        if let Some(mut tx) = self.tx.take() {
            let _ = tx.rollback().await;
        }
        Ok(())
    }

    /// The session goes back to savepoint `mark`: flushes since then are
    /// undone, then everything changed since is discarded (objects added
    /// leave, changed ones get their values at the savepoint back).
    fn rewind_to(&mut self, mark: u64) {
        self.cancel_all();
        self.undo_since(mark);
        // After the undo: an object a flush updated has its snapshot back
        // only now, and with it its place among the relationship owners.
        self.discard_relations();
        for t in self.trackers.values_mut() {
            t.discard();
        }
    }

    /// The durable step of a single-statement commit, as a future that
    /// owns everything it needs (see [`Finishing`]).
    pub(super) fn single_statement(
        &mut self,
        ids: Vec<std::any::TypeId>,
        steps: Vec<ordering::Step>,
        metas: Vec<&'static EntityMeta>,
        tables: Vec<&'static str>,
        commits: Vec<(Obj, usize)>,
    ) -> Finishing {
        let mut runner = Autocommit::new(self.engine.clone(), Some(self.stats.clone()));
        let db = self.engine.clone();
        let work = async move {
            let keys = match persist::run_steps(&mut runner, &steps, &metas).await {
                Ok(keys) => keys,
                Err(persist::StepError::Failed(e)) => return Err(e),
                Err(persist::StepError::Stale { step }) => {
                    let step = &steps[step];
                    let meta = metas[step.type_index];
                    return Err(super::versioning::stale_error(
                        &mut runner,
                        db.dialect(),
                        meta,
                        step,
                    )
                    .await);
                }
            };
            db.cache().committed(&tables).await;
            Ok(Some(keys))
        };
        Finishing {
            work: Box::pin(work),
            then: Then::Statement { ids, commits },
        }
    }

    /// The transaction's COMMIT, then the invalidation of cached results
    /// that read what it wrote.
    fn commit_transaction(&mut self, mut tx: Conn) -> Finishing {
        let db = self.engine.clone();
        let written = std::mem::take(&mut self.written);
        let work = async move {
            let span = tracing::debug_span!("orm.transaction", db.statement = "COMMIT");
            tracing::Instrument::instrument(tx.commit(), span).await?;
            drop(tx);
            db.cache().committed(&written).await;
            Ok(None)
        };
        Finishing {
            work: Box::pin(work),
            then: Then::Commit,
        }
    }

    /// What follows a finishing future, whatever call drove it.
    fn complete(&mut self, then: Then, outcome: Result<Finished>) -> Result<()> {
        match (then, outcome) {
            (Then::Statement { ids, commits }, Ok(keys)) => {
                let hooks = self.merged_hooks();
                let keys = keys.expect("a statement's finishing returns keys");
                if let Err(e) = self.apply_all(&ids, keys, &hooks) {
                    // Stored, but the objects could not take their keys.
                    self.cancel_all();
                    self.failed = Some(format!(
                        "the commit was stored but its objects could not be updated: {e}"
                    ));
                    return Err(e);
                }
                self.commit_relations(&commits, self.seq);
                self.committed()
            }
            (Then::Commit, Ok(_)) => self.committed(),
            (_, Err(e)) => {
                self.expire_stale(&e);
                self.abandon(e.to_string());
                Err(e)
            }
        }
    }

    /// The transaction is stored: nothing is undoable any more.
    fn committed(&mut self) -> Result<()> {
        self.forget_undo_log();
        self.savepoints.clear();
        match self.run_view_hooks(ViewEvent::AfterCommit) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs `before_commit` hooks, flushes, then commits. On failure see the
    /// module docs. An `after_commit` hook error is returned, but the commit
    /// stands. Dropped half way, see the module docs on cancellation.
    pub async fn commit(&mut self) -> Result<()> {
        self.ready().await?;
        let hooks = self.merged_hooks();
        if let Err(e) = self.run_before_commit(&hooks) {
            self.fail(&e).await;
            return Err(e);
        }
        let finishing = match self.flush_with(true).await? {
            Some(statement) => statement,
            None => match self.tx.take() {
                Some(tx) => self.commit_transaction(tx),
                None => return self.committed(),
            },
        };
        self.finishing = Some(finishing);
        self.drive_finishing().await
    }

    /// After a failure: acknowledges it, keeping the pending work (the
    /// transaction was already rolled back). Otherwise: rolls the
    /// transaction back and discards every uncommitted change: new objects
    /// leave the session, deleted ones are restored, changed ones get their
    /// loaded values back.
    pub async fn rollback(&mut self) -> Result<()> {
        // A commit already on its way cannot be rolled back: finish it, so
        // that what follows starts from what the database holds.
        self.settle_quietly().await;
        self.recover();
        self.savepoint_error = None;
        if self.failed.take().is_some() {
            return Ok(());
        }
        let tx = self.tx.take();
        self.undo_since(0);
        // After the undo, as in `rewind_to`.
        self.discard_relations();
        for t in self.trackers.values_mut() {
            t.discard();
        }
        self.savepoints.clear();
        self.written.clear();
        let hook = self.run_view_hooks(ViewEvent::AfterRollback);
        if let Some(mut tx) = tx {
            // Dropped before it returns, the connection rolls back itself.
            let span = tracing::debug_span!("orm.transaction", db.statement = "ROLLBACK");
            match tracing::Instrument::instrument(tx.rollback(), span).await {
                // A transaction whose connection is gone was rolled back by
                // the server: what was asked for is done.
                Err(e) if e.db_kind() == Some(crate::error::DbErrorKind::ConnectionLost) => {
                    tracing::debug!(error = %e, "rollback on a lost connection");
                }
                other => other?,
            }
        }
        hook.map_or(Ok(()), Err)
    }

    /// Opens the session's (plain) transaction if none is open: for reads
    /// whose effect lasts as long as it (row locks).
    pub(crate) async fn ensure_transaction(&mut self) -> Result<()> {
        if self.tx.is_none() {
            self.open_transaction(crate::backend::TxOptions::default())
                .await?;
        }
        Ok(())
    }

    async fn open_transaction(&mut self, options: crate::backend::TxOptions) -> Result<()> {
        self.tx = Some(self.engine.pool().begin_with(options).await?);
        self.record_transaction();
        Ok(())
    }

    /// Opens the session's transaction now, at an isolation level or read
    /// only (SQLAlchemy's `connection(execution_options={"isolation_level":
    /// ..})`); every statement of the session runs in it until `commit` or
    /// `rollback`. Without it a session opens a plain transaction at its
    /// first flush. Refused while a transaction is open.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// # use orm_core::Isolation;
    /// #[entity]
    /// pub struct Seat { #[key(auto)] pub id: i64, pub taken: bool }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.create_all(&[Seat::schema()]).await?;
    /// let mut s = db.session();
    /// s.begin_with(Isolation::Serializable).await?;
    /// s.add(Seat { id: 0, taken: true });
    /// s.commit().await?;
    /// assert_eq!(db.session().query::<Seat>().count().await?, 1);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn begin_with(
        &mut self,
        options: impl Into<crate::backend::TxOptions>,
    ) -> Result<()> {
        self.ready().await?;
        if self.tx.is_some() {
            return Err(Error::Usage {
                entity: None,
                relation: None,
                message: "a transaction is open already: begin_with opens the next one; commit or roll back first"
                    .into(),
            });
        }
        self.open_transaction(options.into()).await
    }

    /// Runs `work` under a SAVEPOINT, as SQLAlchemy's `begin_nested()`. If
    /// it returns an error, or a flush inside fails, the database and the
    /// session go back to the savepoint (objects added inside leave, changes
    /// made inside are undone) and the error is returned; the outer
    /// transaction goes on. After a failed flush inside, the block's other
    /// calls get [`Error::SessionFailed`]. Pending changes are flushed
    /// first. Blocks nest; each failure rolls back its own level.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Tag {
    ///     #[key]
    ///     pub name: String,
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.create_all(&[Tag::schema()]).await?;
    /// let mut s = db.session();
    /// s.add(Tag { name: "a".into() });
    /// let dup = s
    ///     .nested(async |s: &mut Session| {
    ///         s.add(Tag { name: "b".into() });
    ///         s.execute_sql("INSERT INTO tags (name) VALUES ('a')", vec![]).await // a unique violation
    ///     })
    ///     .await;
    /// assert!(dup.is_err());                       // "b" left with the savepoint
    /// s.commit().await?;                           // "a" is stored
    /// assert_eq!(s.query::<Tag>().count().await?, 1);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn nested<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut Session) -> Result<T>,
    ) -> Result<T> {
        self.ready().await?;
        self.flush().await?;
        let writing = Writing::new(&self.interrupted);
        let outcome = self.nested_inner(work).await;
        writing.disarm();
        outcome
    }

    async fn nested_inner<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut Session) -> Result<T>,
    ) -> Result<T> {
        self.ensure_transaction().await?;
        self.seq += 1;
        let mark = self.seq;
        if let Err(e) = self
            .control(&format!("SAVEPOINT {}", savepoint(mark)))
            .await
        {
            self.fail(&e).await;
            return Err(e);
        }
        self.savepoints.push(mark);
        let result = work(self).await;
        if self.failed.is_some() || !self.savepoints.contains(&mark) {
            // The whole transaction failed inside (or was rolled back).
            return Err(result.err().unwrap_or_else(|| Error::SessionFailed {
                cause: self.failed.clone().unwrap_or_default(),
            }));
        }
        // Failures inside deeper blocks were theirs; this level's is here.
        let failed_here = match self.savepoint_error.take() {
            Some((m, e)) if m == mark => Some(e),
            other => {
                self.savepoint_error = other;
                None
            }
        };
        self.savepoints.retain(|&m| m < mark);
        let outcome = match (result, failed_here) {
            (Ok(value), None) => Ok(value),
            // Rolled back to the savepoint when the flush failed.
            (Err(e), Some(_)) | (Ok(_), Some(e)) => Err(e),
            (Err(e), None) => match self.control(&rollback_to(mark)).await {
                Ok(()) => {
                    self.rewind_to(mark);
                    Err(e)
                }
                Err(lost) => {
                    self.fail(&lost).await;
                    Err(e)
                }
            },
        };
        if let Err(e) = self
            .control(&format!("RELEASE SAVEPOINT {}", savepoint(mark)))
            .await
        {
            self.fail(&e).await;
            return Err(match outcome {
                Err(first) => first,
                Ok(_) => e,
            });
        }
        outcome
    }

    /// Transaction control inside the open transaction (SAVEPOINT ...): a
    /// span of its own, not counted as a statement.
    pub(super) async fn control(&mut self, sql: &str) -> Result<()> {
        let Some(tx) = &mut self.tx else {
            return Ok(());
        };
        let sql: Arc<str> = sql.into();
        let span = tracing::debug_span!("orm.transaction", db.statement = &*sql);
        tracing::Instrument::instrument(tx.execute(&sql, &[]), span)
            .await
            .map(drop)
            .map_err(|e| e.for_statement(&sql))
    }
}

impl Drop for Session {
    /// A commit left finishing by a dropped call is handed to the runtime,
    /// so that it ends and its connection goes back to the pool cleanly.
    /// An open transaction rolls back with its connection.
    fn drop(&mut self) {
        if let Some(finishing) = self.finishing.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(finishing.work);
        }
    }
}

fn savepoint(mark: u64) -> String {
    format!("orm_sp_{mark}")
}

fn rollback_to(mark: u64) -> String {
    format!("ROLLBACK TO SAVEPOINT {}", savepoint(mark))
}
