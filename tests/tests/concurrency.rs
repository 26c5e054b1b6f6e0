//! Concurrency and lost connections on the real servers: racing writers
//! through the retry helper lose no update, and a connection killed in the
//! middle of a transaction is a typed error that loses nothing.

use futures_util::future::join_all;
use orm_core::prelude::*;
use orm_core::{ConnectOptions, DbErrorKind, Dialect, PoolOptions, Value};
use tests::Backend;

#[entity(table = "counters")]
#[derive(Debug, Clone)]
pub struct Counter {
    #[key]
    pub name: String,
    pub value: i64,
    #[version]
    pub version: i64,
}

#[entity(table = "events")]
#[derive(Debug, Clone)]
pub struct Event {
    #[key(auto)]
    pub id: i64,
    pub what: String,
}

const TASKS: usize = 8;
const INCREMENTS: usize = 200;

async fn racing_increments(backend: Backend) {
    let options = ConnectOptions {
        pool: PoolOptions {
            max_connections: TASKS as u32 + 2,
            ..PoolOptions::default()
        },
        ..ConnectOptions::default()
    };
    tests::run_with(backend, options, |db| async move {
        db.create_all(&[Counter::schema()]).await?;
        let mut s = db.session();
        s.add(Counter {
            name: "c".into(),
            value: 0,
            version: 0,
        });
        s.commit().await?;
        let tasks = (0..TASKS).map(|_| {
            let db = db.clone();
            async move {
                for _ in 0..INCREMENTS {
                    db.retry(1_000, async |s: &mut Session| {
                        let c = s.get::<Counter>("c".to_string()).await?;
                        c.write().value += 1;
                        Ok(())
                    })
                    .await?;
                }
                Ok::<_, Error>(())
            }
        });
        for r in join_all(tasks).await {
            r?;
        }
        let c = db.session().get::<Counter>("c".to_string()).await?;
        let (value, version) = (c.read().value, c.read().version);
        assert_eq!(
            value,
            (TASKS * INCREMENTS) as i64,
            "{backend:?}: no lost update"
        );
        assert_eq!(
            version,
            (TASKS * INCREMENTS) as i64 + 1,
            "{backend:?}: one bump per increment"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn racing_writers_lose_no_update_on_postgres() {
    racing_increments(Backend::Postgres).await;
}

#[tokio::test]
async fn racing_writers_lose_no_update_on_mysql() {
    racing_increments(Backend::MySql).await;
}

/// The direct (default) driver waits for SQLite's write lock
/// asynchronously: eight writers on this single-threaded test runtime would
/// deadlock if a waiting statement blocked the thread the lock holder needs
/// to commit.
#[tokio::test]
async fn racing_writers_lose_no_update_on_sqlite_files() {
    racing_increments(Backend::SqliteFile).await;
}

#[tokio::test]
async fn racing_writers_lose_no_update_on_sqlite_files_through_sqlx() {
    racing_increments(Backend::SqliteSqlxFile).await;
}

/// Kills the session's connection in the middle of its transaction.
async fn killed_connection(backend: Backend) {
    tests::run_with(backend, ConnectOptions::default(), |db| async move {
        db.create_all(&[Event::schema()]).await?;
        let mut s = db.session();
        let first = s.add(Event {
            id: 0,
            what: "first".into(),
        });
        s.flush().await?;
        let (pid_sql, kill_sql) = match db.dialect() {
            Dialect::Postgres => (
                "SELECT pg_backend_pid() AS pid",
                "SELECT pg_terminate_backend($1)",
            ),
            _ => ("SELECT CONNECTION_ID() AS pid", "KILL ?"),
        };
        let pid = s.fetch_sql(pid_sql, vec![]).await?[0].get_at::<i64>(0)?;
        let pid = if db.dialect() == Dialect::Postgres {
            Value::I32(pid as i32)
        } else {
            Value::I64(pid)
        };
        match db.dialect() {
            Dialect::Postgres => drop(db.fetch_sql(kill_sql, vec![pid]).await?),
            _ => drop(db.execute_sql(kill_sql, vec![pid]).await?),
        }
        let second = s.add(Event {
            id: 0,
            what: "second".into(),
        });
        let err = s.commit().await.expect_err("the connection is gone");
        assert_eq!(err.db_kind(), Some(DbErrorKind::ConnectionLost), "{err}");
        // Nothing lost: both objects are new again, with no key.
        assert_eq!((first.state(), first.read().id), (ObjectState::New, 0));
        assert_eq!((second.state(), second.read().id), (ObjectState::New, 0));
        assert!(matches!(s.flush().await, Err(Error::SessionFailed { .. })));
        s.rollback().await?;
        // A new connection, the same work.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match s.commit().await {
                Ok(()) => break,
                // The pool may hand out the dead connection once more before it notices.
                Err(e) if e.db_kind() == Some(DbErrorKind::ConnectionLost) && attempts < 3 => {
                    s.rollback().await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        assert!(first.read().id > 0 && second.read().id > 0);
        assert_eq!(db.session().query::<Event>().count().await?, 2);
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn killed_connection_on_postgres() {
    killed_connection(Backend::Postgres).await;
}

#[tokio::test]
async fn killed_connection_on_mysql() {
    killed_connection(Backend::MySql).await;
}

/// A statement timeout inside a flush: typed, and the session loses nothing.
async fn statement_timeout(backend: Backend) {
    tests::run_with(backend, ConnectOptions::default(), |db| async move {
        db.create_all(&[Event::schema()]).await?;
        // A trigger makes every insert slow.
        match db.dialect() {
            Dialect::Postgres => {
                db.execute_sql(
                    "CREATE FUNCTION slow() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$ LANGUAGE plpgsql",
                    vec![],
                )
                .await?;
                db.execute_sql("CREATE TRIGGER slow_insert BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION slow()", vec![])
                    .await?;
            }
            _ => {
                db.execute_sql("CREATE TRIGGER slow_insert BEFORE INSERT ON events FOR EACH ROW SET @slept = SLEEP(0.5)", vec![])
                    .await?;
            }
        }
        let mut s = db.session();
        let e = s.add(Event { id: 0, what: "slow".into() });
        s.nested(async |_s: &mut Session| Ok(())).await?; // opens the transaction
        let set_timeout = match db.dialect() {
            Dialect::Postgres => "SET LOCAL statement_timeout = 100",
            _ => "SET SESSION max_statement_time = 0.1",
        };
        s.execute_sql(set_timeout, vec![]).await?;
        s.add(Event { id: 0, what: "slower".into() });
        let err = s.flush().await.expect_err("the insert runs past the timeout");
        assert_eq!(err.db_kind(), Some(DbErrorKind::Timeout), "{err}");
        assert_eq!((e.state(), e.read().id), (ObjectState::New, 0), "nothing half-assigned");
        assert_eq!(s.pending_count(), 2);
        s.rollback().await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn statement_timeout_on_postgres() {
    statement_timeout(Backend::Postgres).await;
}

#[tokio::test]
async fn statement_timeout_on_mysql() {
    statement_timeout(Backend::MySql).await;
}

/// Two sessions update two rows in opposite orders: the server picks a
/// deadlock victim, whose session is restored; a retry then succeeds.
async fn deadlock(backend: Backend) {
    let options = ConnectOptions {
        pool: PoolOptions {
            max_connections: 4,
            ..PoolOptions::default()
        },
        ..ConnectOptions::default()
    };
    tests::run_with(backend, options, |db| async move {
        db.create_all(&[Counter::schema()]).await?;
        let mut s = db.session();
        s.add(Counter {
            name: "x".into(),
            value: 0,
            version: 0,
        });
        s.add(Counter {
            name: "y".into(),
            value: 0,
            version: 0,
        });
        s.commit().await?;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let run = |first: &'static str, second: &'static str| {
            let db = db.clone();
            let barrier = barrier.clone();
            async move {
                let mut s = db.session();
                let a = s.get::<Counter>(first.to_string()).await?;
                let b = s.get::<Counter>(second.to_string()).await?;
                a.write().value += 1;
                s.flush().await?; // holds the lock on `first`
                barrier.wait().await;
                b.write().value += 1;
                let result = s.commit().await;
                if result.is_err() {
                    // The victim: its changes are pending again, nothing lost.
                    assert!(s.is_dirty(&a) && s.is_dirty(&b));
                    s.rollback().await?;
                }
                result.map(|()| 1).or_else(|e| {
                    if e.db_kind() == Some(DbErrorKind::Deadlock) {
                        Ok(0)
                    } else {
                        Err(e)
                    }
                })
            }
        };
        let (r1, r2) = tokio::join!(run("x", "y"), run("y", "x"));
        let committed = r1? + r2?;
        assert_eq!(committed, 1, "exactly one session is the deadlock victim");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn deadlock_on_postgres() {
    deadlock(Backend::Postgres).await;
}

#[tokio::test]
async fn deadlock_on_mysql() {
    deadlock(Backend::MySql).await;
}
