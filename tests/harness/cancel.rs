//! Cancellation: drop a future after its 1st, 2nd, ... n-th poll, the way a
//! timeout, a lost `select!` branch or a client that went away drops it.
//!
//! [`poll_at_most`] polls a future until it is ready or has returned
//! `Pending` a given number of times, then drops it. [`every_poll`] runs a
//! scenario once per poll count (1, 2, 3, ...) until a run completes without
//! being cancelled, so every await point the operation has is a point it is
//! cancelled at, and returns how many there were (what the closing notes
//! report per backend).
//!
//! The scenarios run on databases with a pool of **one** connection: a
//! connection a cancelled operation left in a bad state is the one the next
//! operation gets. They check their outcome on an *observer*, a second
//! database with its own pool, so what they see is what another process
//! would see.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use std::sync::Arc;

use orm_core::{ConnectOptions, Database};

use crate::proxy::{self, Proxy};
use crate::{Backend, TestDb, TestResult};

/// Polls `fut` until it is ready (`Some`) or has been pending `polls` times
/// (then drops it and returns `None`).
pub async fn poll_at_most<F: Future>(polls: usize, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut seen = 0;
    std::future::poll_fn(move |cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => {
            seen += 1;
            if seen >= polls {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        }
    })
    .await
}

/// What one run of a scenario did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Dropped after this many polls.
    Cancelled(usize),
    /// Finished within the poll budget.
    Completed,
}

/// Runs `scenario(polls)` for polls = 1, 2, 3, ... until it reports
/// [`Run::Completed`]; returns the number of cancellation points (runs
/// that were cancelled). Fails if an operation needs more than `limit`
/// polls (a hang guard, not a timing assertion).
pub async fn every_poll<F, Fut>(limit: usize, mut scenario: F) -> Result<usize, String>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<Run, String>>,
{
    // A run may take a few polls more or less than the last (a reply in
    // one segment or two): stop only after three budgets in a row were
    // enough, so the points of a longer run are not skipped.
    let mut cancelled = 0;
    let mut completed_in_a_row = 0;
    for polls in 1..=limit {
        match scenario(polls).await? {
            Run::Completed => {
                completed_in_a_row += 1;
                if completed_in_a_row == 3 {
                    return Ok(cancelled);
                }
            }
            Run::Cancelled(n) => {
                assert_eq!(n, polls);
                cancelled += 1;
                completed_in_a_row = 0;
            }
        }
    }
    Err(format!(
        "the operation was still pending after {limit} polls"
    ))
}

thread_local! {
    static BACKEND: std::cell::Cell<Option<Backend>> = const { std::cell::Cell::new(None) };
}

/// The backend the running [`run_observed`] scenario is on (each test runs
/// on its own thread), for reports.
pub fn current_backend() -> Option<Backend> {
    BACKEND.with(|b| b.get())
}

/// Runs `body` with the database under test (a pool of one connection,
/// through a [`Proxy`] on the servers) and an observer on the same
/// database (its own pool, connected directly). SQLite runs on files here:
/// an in-memory database has no second connection to observe from.
pub async fn run_observed<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Database, Database, Option<Arc<Proxy>>) -> Fut,
    Fut: Future<Output = TestResult>,
{
    BACKEND.with(|b| b.set(Some(backend)));
    let test_db = TestDb::with_options(backend, ConnectOptions::default()).await;
    let observer = test_db.db.clone();
    let proxy = match backend {
        b if b.is_server() => Some(Arc::new(
            Proxy::start(&proxy::host_port(&test_db.url)).await,
        )),
        _ => None,
    };
    let url = match &proxy {
        Some(p) => proxy::through(&test_db.url, p),
        None => test_db.url.clone(),
    };
    let mut options = ConnectOptions::default();
    options.pool.max_connections = 1;
    options.pool.acquire_timeout = std::time::Duration::from_secs(20);
    test_db.same_drivers(&mut options);
    let db = Database::connect_with(&url, options)
        .await
        .expect("a pool of one connection to the test database");
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body(
        db.clone(),
        observer,
        proxy.clone(),
    )))
    .await;
    // The pool must get every connection back: a connection a cancelled
    // operation leaked would make this hang.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(30), db.close()).await;
    drop(proxy);
    test_db.cleanup().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{backend:?}: {e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    assert!(closed.is_ok(), "{backend:?}: Database::close() hung");
}

/// Declares scenarios that need an observer: each becomes a module with one
/// test per backend, SQLite on files through both drivers.
#[macro_export]
macro_rules! observed_tests {
    ($($(#[$meta:meta])* async fn $name:ident($db:ident, $observer:ident, $proxy:ident) $body:block)*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            async fn scenario(
                $db: ::orm_core::Database,
                $observer: ::orm_core::Database,
                $proxy: Option<::std::sync::Arc<$crate::proxy::Proxy>>,
            ) -> $crate::TestResult $body

            #[tokio::test]
            async fn sqlite() {
                $crate::cancel::run_observed($crate::Backend::SqliteFile, scenario).await
            }

            #[tokio::test]
            async fn sqlite_sqlx() {
                $crate::cancel::run_observed($crate::Backend::SqliteSqlxFile, scenario).await
            }

            #[tokio::test]
            async fn postgres() {
                $crate::cancel::run_observed($crate::Backend::Postgres, scenario).await
            }

            #[tokio::test]
            async fn mysql() {
                $crate::cancel::run_observed($crate::Backend::MySql, scenario).await
            }

            #[tokio::test]
            async fn mysql_sqlx() {
                $crate::cancel::run_observed($crate::Backend::MySqlSqlx, scenario).await
            }
        }
    )*};
}
