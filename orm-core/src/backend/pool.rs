//! [`ServerPool`]: the pool of PostgreSQL and MySQL connections, without a
//! round trip per checkout.
//!
//! sqlx's pool pings every connection when it goes back (and, unless told
//! not to, before it is handed out), because it cannot tell whether a
//! future using the connection was dropped mid-protocol. On a server that
//! is one extra round trip per autocommit statement: +68 µs on a 1-row
//! PostgreSQL load on this machine, a third of the statement. The ORM
//! *can* tell: every statement goes through a [`Conn`](super::Conn), which
//! knows whether it was dropped busy (state unknown: the connection is
//! closed, never reused), idle inside a transaction (rolled back before
//! reuse) or idle and clean (reused as it is). So this pool trusts that
//! verdict and keeps no ping at all; `PoolOptions::test_before_acquire`
//! turns a ping before each checkout back on for networks that drop idle
//! connections silently.
//!
//! What a checkout costs: one uncontended semaphore permit, one mutex pop,
//! one clock read. Idle connections are handed out newest first (their
//! prepared statements and the server's caches are warm; the oldest age out
//! by `idle_timeout`). A connection older than `max_lifetime` or idle for
//! longer than `idle_timeout` is closed when it is next seen (on checkout
//! or return); there is no reaper task, so an idle pool keeps at most the
//! connections it had at its busiest until it is used or closed.
//!
//! A dead idle connection (the server restarted, a proxy cut it) is found
//! by the first statement on it, which fails with
//! [`DbErrorKind::ConnectionLost`](crate::DbErrorKind::ConnectionLost); the
//! connection is dropped and the next statement gets a new one. The error
//! is not marked retryable, as for any lost connection: the client cannot
//! know whether a write on it was committed. Where a network drops idle
//! connections silently, `test_before_acquire` finds them before use at
//! the price of a round trip per checkout.
//!
//! Layer 1 (the backend seam): it uses only what is below it (see `crate::layers`).

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::PoolOptions;
use crate::error::{DbErrorKind, Error, Result};

/// Opens one connection (with its session set-up done).
pub(crate) type Connector<C> =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<C>> + Send>> + Send + Sync>;

/// The connection types this pool holds: sqlx's bare connections and
/// `mysql_async`'s. All it needs of one is a ping (only for
/// `test_before_acquire`) and a polite close.
pub(crate) trait Raw: Send + 'static {
    /// One round trip that proves the connection alive.
    fn ping(&mut self) -> impl Future<Output = Result<()>> + Send + '_;
    /// Says goodbye to the server (Terminate / COM_QUIT).
    fn close(self) -> impl Future<Output = ()> + Send;
}

macro_rules! sqlx_raw {
    ($($conn:ty => $classify:path),*) => {$(
        impl Raw for $conn {
            async fn ping(&mut self) -> Result<()> {
                sqlx::Connection::ping(self).await.map_err($classify)
            }
            async fn close(self) {
                let _ = sqlx::Connection::close(self).await;
            }
        }
    )*};
}

sqlx_raw!(
    sqlx::PgConnection => super::postgres::classify,
    sqlx::MySqlConnection => super::mysql::classify
);

impl Raw for mysql_async::Conn {
    async fn ping(&mut self) -> Result<()> {
        mysql_async::prelude::Queryable::ping(self)
            .await
            .map_err(super::mysql_native::classify)
    }
    async fn close(self) {
        let _ = self.disconnect().await;
    }
}

struct Idle<C> {
    conn: C,
    created: Instant,
    since: Instant,
}

struct Inner<C> {
    connect: Connector<C>,
    idle: Mutex<Vec<Idle<C>>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    test_before_acquire: bool,
    closed: AtomicBool,
}

/// A pool of server connections (see the module doc).
pub(crate) struct ServerPool<C: Raw> {
    inner: Arc<Inner<C>>,
}

impl<C: Raw> Clone for ServerPool<C> {
    fn clone(&self) -> Self {
        ServerPool {
            inner: self.inner.clone(),
        }
    }
}

impl<C: Raw> std::fmt::Debug for ServerPool<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPool")
            .field("idle", &self.inner.idle.lock().len())
            .field("free_permits", &self.inner.permits.available_permits())
            .finish()
    }
}

/// A connection checked out of a [`ServerPool`]: goes back to it when
/// dropped, unless [`discard`](Pooled::discard)ed.
pub(crate) struct Pooled<C: Raw> {
    conn: Option<C>,
    created: Instant,
    pool: Arc<Inner<C>>,
    /// Held until the connection is back in the idle list (or closed), so
    /// the pool never opens more than `max_connections`.
    _permit: OwnedSemaphorePermit,
}

impl<C: Raw> std::fmt::Debug for Pooled<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled")
            .field("created", &self.created)
            .finish()
    }
}

impl<C: Raw> ServerPool<C> {
    /// A pool that opens connections with `connect`; `first` (the probe
    /// `connect` opened to report a refused connection at once) becomes its
    /// first idle connection.
    pub(crate) fn new(options: &PoolOptions, connect: Connector<C>, first: Option<C>) -> Self {
        let now = Instant::now();
        let idle = first
            .into_iter()
            .map(|conn| Idle {
                conn,
                created: now,
                since: now,
            })
            .collect();
        ServerPool {
            inner: Arc::new(Inner {
                connect,
                idle: Mutex::new(idle),
                permits: Arc::new(Semaphore::new(options.max_connections.max(1) as usize)),
                acquire_timeout: options.acquire_timeout,
                idle_timeout: options.idle_timeout,
                max_lifetime: options.max_lifetime,
                test_before_acquire: options.test_before_acquire,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Takes a connection: an idle one if there is one, else a new one,
    /// waiting (up to `acquire_timeout`) while `max_connections` are out.
    /// Dropping this future at any point leaks nothing: the permit and any
    /// connection it popped are owned by locals.
    pub(crate) async fn acquire(&self) -> Result<Pooled<C>> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(pool_closed());
        }
        let permit = match inner.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                tokio::time::timeout(inner.acquire_timeout, inner.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| {
                        super::database_error(
                            DbErrorKind::Timeout,
                            None,
                            &format!(
                                "no free connection within the acquire timeout of {:?}",
                                inner.acquire_timeout
                            ),
                        )
                    })?
                    .map_err(|_| pool_closed())?
            }
        };
        let now = Instant::now();
        while let Some(mut idle) = self.pop_idle() {
            if inner.expired(idle.created, now) || inner.idle_too_long(idle.since, now) {
                close_in_background(idle.conn);
                continue;
            }
            // Dropped during the ping, the connection (a local) just closes.
            if inner.test_before_acquire && idle.conn.ping().await.is_err() {
                continue;
            }
            return Ok(Pooled {
                conn: Some(idle.conn),
                created: idle.created,
                pool: inner.clone(),
                _permit: permit,
            });
        }
        self.open(permit).await
    }

    fn pop_idle(&self) -> Option<Idle<C>> {
        self.inner.idle.lock().pop()
    }

    async fn open(&self, permit: OwnedSemaphorePermit) -> Result<Pooled<C>> {
        let conn = tokio::time::timeout(self.inner.acquire_timeout, (self.inner.connect)())
            .await
            .map_err(|_| {
                super::database_error(
                    DbErrorKind::Timeout,
                    None,
                    "no new connection within the acquire timeout",
                )
            })??;
        Ok(Pooled {
            conn: Some(conn),
            created: Instant::now(),
            pool: self.inner.clone(),
            _permit: permit,
        })
    }

    /// Refuses new checkouts and closes the idle connections; connections
    /// out are closed when they come back.
    pub(crate) async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.permits.close();
        let idle: Vec<Idle<C>> = std::mem::take(&mut *self.inner.idle.lock());
        for i in idle {
            let _ = i.conn.close().await;
        }
    }
}

impl<C> Inner<C> {
    fn expired(&self, created: Instant, now: Instant) -> bool {
        self.max_lifetime
            .is_some_and(|l| now.duration_since(created) >= l)
    }

    fn idle_too_long(&self, since: Instant, now: Instant) -> bool {
        self.idle_timeout
            .is_some_and(|t| now.duration_since(since) >= t)
    }
}

impl<C: Raw> Pooled<C> {
    /// Closes the connection instead of giving it back: its state is
    /// unknown (a statement was cut) or it failed. The server rolls back
    /// whatever it held when the socket closes.
    pub(crate) fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            // A cut connection may be mid-message: no graceful close.
            drop(conn);
        }
    }
}

impl<C: Raw> Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl<C: Raw> DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl<C: Raw> Drop for Pooled<C> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let now = Instant::now();
        if self.pool.closed.load(Ordering::Acquire) || self.pool.expired(self.created, now) {
            close_in_background(conn);
            return;
        }
        self.pool.idle.lock().push(Idle {
            conn,
            created: self.created,
            since: now,
        });
    }
}

/// Says goodbye to the server (Terminate / COM_QUIT) on a task when there
/// is a runtime; otherwise the socket just closes.
fn close_in_background<C: Raw>(conn: C) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.close()).await;
        });
    }
}

fn pool_closed() -> Error {
    super::database_error(DbErrorKind::ConnectionLost, None, "the pool is closed")
}
