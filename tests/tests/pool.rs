//! The server pool (PostgreSQL, MySQL/MariaDB): one round trip per
//! autocommit statement (no ping on checkout or return), a transaction
//! dropped idle rolled back at once with its connection reused, idle and
//! old connections replaced, a dead idle connection reported and replaced
//! (or found by the opt-in ping before it is used).
//!
//! Each test runs through a [`Proxy`] that counts what the client sends:
//! a client that waits for each reply sends once per round trip. SQLite
//! has no round trips to count and is not in this file.

use std::time::Duration;

use orm_core::prelude::*;
use orm_core::{ConnectOptions, DbErrorKind};
use tests::proxy::{self, Proxy};
use tests::{Backend, TestDb, TestResult};

#[entity(table = "pool_items")]
pub struct Item {
    #[key]
    pub id: i64,
    pub label: String,
}

/// The database under test through a proxy (a pool of one connection with
/// `tune` applied), an observer connected directly, and the proxy.
async fn through_proxy(
    backend: Backend,
    tune: impl FnOnce(&mut ConnectOptions),
) -> (TestDb, Database, Proxy) {
    let test_db = TestDb::new(backend).await;
    test_db
        .db
        .create_all(&[Item::schema()])
        .await
        .expect("create the table");
    let proxy = Proxy::start(&proxy::host_port(&test_db.url)).await;
    let mut options = ConnectOptions::default();
    options.pool.max_connections = 1;
    tune(&mut options);
    let db = Database::connect_with(&proxy::through(&test_db.url, &proxy), options)
        .await
        .expect("connect through the proxy");
    (test_db, db, proxy)
}

/// The server's id of the connection a statement runs on.
async fn connection_id(db: &Database, backend: Backend) -> Result<i64> {
    let sql = match backend {
        Backend::Postgres => "SELECT CAST(pg_backend_pid() AS BIGINT) AS id",
        _ => "SELECT CAST(CONNECTION_ID() AS SIGNED) AS id",
    };
    db.fetch_sql(sql, vec![]).await?[0].get::<i64>("id")
}

async fn one_round_trip_per_statement(backend: Backend) -> TestResult {
    let (test_db, db, proxy) = through_proxy(backend, |_| {}).await;
    let mut s = db.session();
    s.add(Item {
        id: 1,
        label: "one".into(),
    });
    s.commit().await?;
    // Warm: the statements are prepared on the connection.
    db.session().get::<Item>(1).await?;
    db.fetch_sql("SELECT 1 AS n", vec![]).await?;

    let (sends, statements) = (proxy.sends(), db.stats().statements());
    for _ in 0..20 {
        let mut s = db.session();
        assert_eq!(s.get::<Item>(1).await?.read().label, "one");
        db.fetch_sql("SELECT 1 AS n", vec![]).await?;
    }
    // Give a background release (sqlx's pool pings there) time to show.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sent = proxy.sends() - sends;
    assert_eq!(db.stats().statements() - statements, 40);
    // 40 statements, 40 round trips: a ping on checkout or return would be 80.
    assert_eq!(
        sent, 40,
        "{backend:?}: 40 autocommit statements took {sent} sends"
    );
    db.close().await;
    test_db.cleanup().await;
    Ok(())
}

async fn dropped_transaction_rolls_back_at_once(backend: Backend) -> TestResult {
    let (test_db, db, _proxy) = through_proxy(backend, |_| {}).await;
    let observer = test_db.db.clone();
    observer
        .execute_sql(
            "INSERT INTO pool_items (id, label) VALUES (1, 'one')",
            vec![],
        )
        .await?;
    let before = connection_id(&db, backend).await?;
    {
        let mut s = db.session();
        let item = s.get::<Item>(1).await?;
        item.write().label = "changed".into();
        s.flush().await?; // BEGIN, UPDATE: the row is locked
        assert!(s.in_transaction());
    } // dropped idle inside its transaction

    // The lock goes at once (the ROLLBACK is sent on drop, not when the
    // connection is next used): the observer's write does not wait.
    let sql = "UPDATE pool_items SET label = 'observer' WHERE id = 1";
    let done = tokio::time::timeout(Duration::from_secs(5), observer.execute_sql(sql, vec![]))
        .await
        .map_err(|_| Error::Config("the dropped transaction still holds the row".into()))??;
    assert_eq!(done, 1);
    // Nothing of the dropped transaction is stored, and its connection
    // came back to the pool (rolled back, not closed).
    let mut s = db.session();
    assert_eq!(s.get::<Item>(1).await?.read().label, "observer");
    assert_eq!(connection_id(&db, backend).await?, before);
    db.close().await;
    test_db.cleanup().await;
    Ok(())
}

async fn idle_and_old_connections_are_replaced(backend: Backend) -> TestResult {
    let (test_db, db, _proxy) = through_proxy(backend, |o| {
        o.pool.idle_timeout = Some(Duration::from_millis(200));
    })
    .await;
    let first = connection_id(&db, backend).await?;
    assert_eq!(
        connection_id(&db, backend).await?,
        first,
        "reused while fresh"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = connection_id(&db, backend).await?;
    assert_ne!(second, first, "idle past idle_timeout: a new connection");
    db.close().await;

    let (old, proxy) = (
        test_db.url.clone(),
        Proxy::start(&proxy::host_port(&test_db.url)).await,
    );
    let mut options = ConnectOptions::default();
    options.pool.max_connections = 1;
    options.pool.max_lifetime = Some(Duration::from_millis(200));
    let db = Database::connect_with(&proxy::through(&old, &proxy), options).await?;
    let first = connection_id(&db, backend).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_ne!(
        connection_id(&db, backend).await?,
        first,
        "past max_lifetime"
    );
    db.close().await;
    test_db.cleanup().await;
    Ok(())
}

async fn a_dead_idle_connection_is_reported_then_replaced(backend: Backend) -> TestResult {
    // Without the ping: the first statement finds the connection dead.
    let (test_db, db, proxy) = through_proxy(backend, |_| {}).await;
    connection_id(&db, backend).await?;
    assert_eq!(proxy.sever(), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = db
        .fetch_sql("SELECT 1 AS n", vec![])
        .await
        .expect_err("the idle connection was cut");
    assert_eq!(err.db_kind(), Some(DbErrorKind::ConnectionLost), "{err}");
    // The dead connection is gone from the pool: the next statement works.
    assert_eq!(
        db.fetch_sql("SELECT 1 AS n", vec![]).await?[0].get::<i64>("n")?,
        1
    );
    db.close().await;
    drop(proxy);

    // With `test_before_acquire`: the ping finds it, the statement runs on
    // a new connection, and each checkout costs one more round trip.
    let proxy = Proxy::start(&proxy::host_port(&test_db.url)).await;
    let mut options = ConnectOptions::default();
    options.pool.max_connections = 1;
    options.pool.test_before_acquire = true;
    let db = Database::connect_with(&proxy::through(&test_db.url, &proxy), options).await?;
    let first = connection_id(&db, backend).await?;
    proxy.sever();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_ne!(connection_id(&db, backend).await?, first);
    // Warm: a statement new to a connection is prepared first (a round trip).
    db.fetch_sql("SELECT 1 AS n", vec![]).await?;
    let sends = proxy.sends();
    for _ in 0..10 {
        db.fetch_sql("SELECT 1 AS n", vec![]).await?;
    }
    assert_eq!(
        proxy.sends() - sends,
        20,
        "a ping and a statement per checkout"
    );
    db.close().await;
    test_db.cleanup().await;
    Ok(())
}

macro_rules! server_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn postgres() {
                super::$name(tests::Backend::Postgres).await.unwrap()
            }

            #[tokio::test]
            async fn mysql() {
                super::$name(tests::Backend::MySql).await.unwrap()
            }
        }
    )*};
}

server_tests! {
    one_round_trip_per_statement,
    dropped_transaction_rolls_back_at_once,
    idle_and_old_connections_are_replaced,
    a_dead_idle_connection_is_reported_then_replaced,
}
