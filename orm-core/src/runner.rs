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
//! [`Prepared`] is a read apart from whatever built it (an entity query, a
//! raw statement): its statements and how to combine their rows, runnable
//! on any runner (a session, the pool, a concurrent batch's task, a
//! result-cache region's computation).
//!
//! Layer 2. What this module must not do: know about entities or objects.

use std::borrow::Cow;
use std::future::Future;

use crate::backend::{Done, Target};
use crate::engine::Engine;
use crate::error::Result;
use crate::model::column::Direction;
use crate::row::RowSet;
use crate::sql::Statement;
use crate::telemetry::{Stats, observe};
use crate::value::{EnumType, Value, compare};

/// Runs statements somewhere, recording each in the right counters.
pub(crate) trait Runner: Send {
    fn dialect(&self) -> crate::sql::dialect::Dialect;

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
    db: Engine,
    session: Option<Stats>,
}

impl Autocommit {
    pub(crate) fn new(db: Engine, session: Option<Stats>) -> Autocommit {
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
    fn dialect(&self) -> crate::sql::dialect::Dialect {
        self.db.dialect()
    }

    fn fetch<'a>(
        &'a mut self,
        stmt: &'a Statement,
    ) -> impl Future<Output = Result<RowSet>> + Send + 'a {
        let run = Target::Pool(self.db.pool()).fetch(&stmt.sql, &stmt.params);
        self.observed(stmt, run)
    }

    async fn execute(&mut self, stmt: &Statement) -> Result<Done> {
        let target = Target::Pool(self.db.pool());
        match stmt.each {
            Some(width) => {
                let run = target.execute_each(&stmt.sql, &stmt.params, width);
                self.observed(stmt, run).await
            }
            None => {
                let run = target.execute(&stmt.sql, &stmt.params);
                self.observed(stmt, run).await
            }
        }
    }
}

/// Statements ready to run without their builder.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// More than one when an `IN` list was split at the bind limit.
    pub(crate) statements: Vec<Statement>,
    /// How to order the combined rows of split statements again: column
    /// positions and directions (empty: keep the order they came in).
    /// Column, direction, and the enum type a column of labels sorts by
    /// (PostgreSQL and MySQL order an enum by declaration, not by text).
    pub(crate) resort: Vec<(usize, Direction, Option<&'static EnumType>)>,
    pub(crate) nulls_last: bool,
    /// The tables the statements read (what invalidates a cached result).
    pub(crate) tables: Vec<Cow<'static, str>>,
}

impl Prepared {
    /// One hand-written statement.
    pub(crate) fn raw(statement: Statement, tables: Vec<Cow<'static, str>>) -> Prepared {
        Prepared {
            statements: vec![statement],
            resort: Vec::new(),
            nulls_last: false,
            tables,
        }
    }

    /// Statements whose combined rows need no order.
    pub(crate) fn unordered(statements: Vec<Statement>) -> Prepared {
        Prepared {
            statements,
            resort: Vec::new(),
            nulls_last: false,
            tables: Vec::new(),
        }
    }

    /// The SQL of the first statement (for messages).
    pub(crate) fn sql(&self) -> &str {
        self.statements.first().map_or("", |s| &s.sql)
    }

    /// Runs every statement on `runner` (a session, inside its transaction
    /// if one is open, or the pool) and combines their rows.
    pub(crate) async fn run<R: Runner>(&self, runner: &mut R) -> Result<RowSet> {
        let mut set = RowSet::default();
        for stmt in &self.statements {
            combine(&mut set, runner.fetch(stmt).await?);
        }
        Ok(self.finish(set))
    }

    /// Runs on the pool, in autocommit; counted in `stats` (a session's)
    /// and the engine's.
    pub(crate) async fn fetch(&self, engine: &Engine, stats: Option<&Stats>) -> Result<RowSet> {
        self.run(&mut Autocommit::new(engine.clone(), stats.cloned()))
            .await
    }

    fn finish(&self, mut set: RowSet) -> RowSet {
        if self.statements.len() > 1 && !self.resort.is_empty() {
            let nulls_last = self.nulls_last;
            set.rows.sort_by(|a, b| {
                self.resort
                    .iter()
                    .map(|&(i, d, labels)| {
                        let o = match labels {
                            Some(ty) => {
                                compare(&by_label(ty, &a[i]), &by_label(ty, &b[i]), nulls_last)
                            }
                            None => compare(&a[i], &b[i], nulls_last),
                        };
                        if d == Direction::Desc { o.reverse() } else { o }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        set
    }
}

/// A decoded label as the enum value it is (the backends return text;
/// an enum value is an address and an index: nothing is copied).
fn by_label<'v>(ty: &'static EnumType, v: &'v Value) -> Cow<'v, Value> {
    match v {
        Value::Text(t) => ty
            .index_of(t)
            .map_or(Cow::Borrowed(v), |i| Cow::Owned(Value::Enum(ty, i))),
        other => Cow::Borrowed(other),
    }
}

fn combine(set: &mut RowSet, part: RowSet) {
    if set.rows.is_empty() {
        set.columns = part.columns;
    }
    set.rows.extend(part.rows);
}
