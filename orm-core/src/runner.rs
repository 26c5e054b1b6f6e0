//! [`Runner`]: where a statement runs, counted and traced, seen by code that
//! does not care whether that is a session (inside its transaction when one
//! is open) or the pool in autocommit.
//!
//! The flush's statement loop (`session::persist`) is written once over a
//! `Runner`: the session runs it on its transaction, and a commit whose
//! flush is a single statement runs it on an [`Autocommit`] runner that it
//! owns outright, so the statement can finish even when the commit's future
//! is dropped (see `session::transaction`).
//!
//! What this module must not do: know about entities or objects.

use std::future::Future;

use crate::backend::{Done, Target};
use crate::database::Database;
use crate::error::Result;
use crate::query::Statement;
use crate::row::RowSet;
use crate::telemetry::{Stats, observe};

/// Runs statements somewhere, recording each in the right counters.
pub(crate) trait Runner: Send {
    fn dialect(&self) -> crate::Dialect;

    fn fetch<'a>(
        &'a mut self,
        stmt: &'a Statement,
    ) -> impl Future<Output = Result<RowSet>> + Send + 'a;

    fn execute<'a>(
        &'a mut self,
        stmt: &'a Statement,
    ) -> impl Future<Output = Result<Done>> + Send + 'a;
}

/// Statements on the pool in autocommit, each on a connection of its own,
/// counted in a session's counters (if any) and the database's.
pub(crate) struct Autocommit {
    db: Database,
    session: Option<Stats>,
}

impl Autocommit {
    pub(crate) fn new(db: Database, session: Option<Stats>) -> Autocommit {
        Autocommit { db, session }
    }

    async fn observed<T: crate::telemetry::RowCount>(
        &self,
        stmt: &Statement,
        run: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let db = self.db.stats();
        match &self.session {
            Some(s) => observe(&[s, db], self.db.dialect(), &stmt.sql, run).await,
            None => observe(&[db], self.db.dialect(), &stmt.sql, run).await,
        }
    }
}

impl Runner for Autocommit {
    fn dialect(&self) -> crate::Dialect {
        self.db.dialect()
    }

    fn fetch<'a>(
        &'a mut self,
        stmt: &'a Statement,
    ) -> impl Future<Output = Result<RowSet>> + Send + 'a {
        let run = Target::Pool(self.db.pool()).fetch(&stmt.sql, &stmt.params);
        self.observed(stmt, run)
    }

    fn execute<'a>(
        &'a mut self,
        stmt: &'a Statement,
    ) -> impl Future<Output = Result<Done>> + Send + 'a {
        let run = Target::Pool(self.db.pool()).execute(&stmt.sql, &stmt.params);
        self.observed(stmt, run)
    }
}
