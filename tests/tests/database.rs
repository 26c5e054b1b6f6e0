//! Database: connecting, schema creation in foreign-key order, per-backend
//! settings (WAL, strict mode), error classification, bad input.

use orm_core::prelude::*;
use orm_core::{DbErrorKind, Dialect, Value};
use tests::{Backend, TestDb, backend_tests, numbered as params};

#[entity(table = "teams")]
pub struct Team {
    #[key(auto)]
    pub id: i32,
    #[column(unique, len = 40)]
    pub name: String,
}

#[entity(table = "players")]
pub struct Player {
    #[key(auto)]
    pub id: i64,
    #[column(references = Team, on_delete = "cascade")]
    pub team_id: i32,
    #[column(len = 5)]
    pub code: String,
    #[column(default = "0")]
    pub score: i16,
    #[column(references = Player, on_delete = "set_null")]
    pub mentor_id: Option<i64>,
}

/// A second mapping of `players` with a narrower type, to provoke decode errors.
#[entity(table = "players")]
#[derive(Debug)]
pub struct NarrowPlayer {
    #[key]
    pub id: i16,
    pub team_id: i32,
    pub code: String,
    pub score: i16,
    pub mentor_id: Option<i64>,
}

fn quoted(dialect: Dialect, sql: &str) -> String {
    if dialect == Dialect::MySql {
        sql.replace('"', "`")
    } else {
        sql.to_string()
    }
}

backend_tests! {
    async fn create_all_orders_by_foreign_keys_and_is_idempotent(db) {
        // Children listed first: create_all must still create teams first.
        db.create_all(&[Player::schema(), Team::schema()]).await?;
        db.create_all(&[Player::schema(), Team::schema()]).await?;
        let ddl = db.create_all_sql(&[Player::schema(), Team::schema()])?;
        assert!(ddl[0].contains("teams"), "{}", ddl[0]);
        let mut s = db.session();
        let team = s.add(Team { id: 0, name: "red".into() });
        s.flush().await?;
        let team_id = team.read().id;
        s.add(Player { id: 0, team_id, code: "p1".into(), score: 3, mentor_id: None });
        s.commit().await?;
        // The column default applies to rows written without the column.
        let sql = quoted(db.dialect(), &params(db.dialect(), r#"INSERT INTO "players" ("team_id", "code") VALUES (?, ?)"#));
        db.execute_sql(sql, vec![Value::I32(team_id), Value::Text("p2".into())]).await?;
        let rows = db.fetch_sql(quoted(db.dialect(), r#"SELECT "score" FROM "players" ORDER BY "id""#), vec![]).await?;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].get::<i16>("score")?, 0);
        // ON DELETE CASCADE was declared.
        db.execute_sql(quoted(db.dialect(), r#"DELETE FROM "teams""#), vec![]).await?;
        assert_eq!(db.session().query::<Player>().count().await?, 0);
        db.drop_all(&[Team::schema(), Player::schema()]).await?;
        db.drop_all(&[Team::schema(), Player::schema()]).await?;
        Ok(())
    }

    async fn database_errors_are_classified(db) {
        db.create_all(&[Team::schema(), Player::schema()]).await?;
        let d = db.dialect();
        let err = db.execute_sql("SELEC nonsense", vec![]).await.expect_err("syntax");
        assert_eq!(err.db_kind(), Some(DbErrorKind::Syntax), "{err}");
        let sql = quoted(d, &params(d, r#"INSERT INTO "teams" ("name") VALUES (?)"#));
        db.execute_sql(sql.clone(), vec![Value::Text("x".into())]).await?;
        let err = db.execute_sql(sql, vec![Value::Text("x".into())]).await.expect_err("unique");
        assert_eq!(err.db_kind(), Some(DbErrorKind::UniqueViolation), "{err}");
        let sql = quoted(d, &params(d, r#"INSERT INTO "teams" ("name") VALUES (?)"#));
        let err = db.execute_sql(sql, vec![Value::Null(orm_core::SqlType::Text)]).await.expect_err("not null");
        assert_eq!(err.db_kind(), Some(DbErrorKind::NotNullViolation), "{err}");
        if d != Dialect::Sqlite {
            // SQLite does not enforce VARCHAR lengths; the servers (MySQL in strict mode) do.
            let mut s = db.session();
            let team = s.add(Team { id: 0, name: "t".into() });
            s.flush().await?;
            let team_id = team.read().id;
            s.add(Player { id: 0, team_id, code: "too long".into(), score: 0, mentor_id: None });
            let err = s.commit().await.expect_err("code is VARCHAR(5)");
            assert_eq!(err.db_kind(), Some(DbErrorKind::InvalidValue), "{err}");
        }
        Ok(())
    }

    async fn out_of_range_rows_are_decode_errors(db) {
        db.create_all(&[Team::schema(), Player::schema()]).await?;
        let mut s = db.session();
        let team = s.add(Team { id: 0, name: "t".into() });
        s.flush().await?;
        let team_id = team.read().id;
        s.add(Player { id: 0, team_id, code: "a".into(), score: 1, mentor_id: None });
        s.commit().await?;
        let d = db.dialect();
        let sql = quoted(d, &params(d, r#"UPDATE "players" SET "id" = ?"#));
        db.execute_sql(sql, vec![Value::I64(1 << 40)]).await?;
        let mut s = db.session();
        match s.query::<NarrowPlayer>().all().await {
            Err(Error::Decode { entity, column, expected, found }) => {
                assert_eq!((entity, column.as_str(), expected), ("NarrowPlayer", "id", "i16"));
                assert!(found.contains("1099511627776"), "{found}");
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
        // The wide mapping still reads it.
        assert_eq!(s.query::<Player>().one().await?.read().id, 1 << 40);
        Ok(())
    }

    async fn lost_connection_is_typed(db) {
        db.create_all(&[Team::schema()]).await?;
        db.close().await;
        let err = db.session().query::<Team>().count().await.expect_err("closed pool");
        assert_eq!(err.db_kind(), Some(DbErrorKind::ConnectionLost), "{err}");
        Ok(())
    }
}

#[tokio::test]
async fn unsupported_urls_and_unreachable_servers_are_errors() {
    match Database::connect("oracle://x").await {
        Err(Error::Config(msg)) => assert!(msg.contains("oracle"), "{msg}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    let options = orm_core::ConnectOptions {
        pool: orm_core::PoolOptions {
            acquire_timeout: std::time::Duration::from_secs(2),
            ..Default::default()
        },
        ..Default::default()
    };
    // Port 9 (discard) has no PostgreSQL server.
    match Database::connect_with("postgres://user:hunter2@127.0.0.1:9/x", options).await {
        Err(Error::Connect { url, .. }) => {
            assert!(
                !url.contains("hunter2"),
                "the password must not leak: {url}"
            );
            assert!(url.contains("127.0.0.1:9"));
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_files_use_wal_and_several_connections_through_sqlx() {
    let t = TestDb::new(Backend::SqliteSqlxFile).await;
    let mode =
        t.db.fetch_sql("PRAGMA journal_mode", vec![])
            .await
            .expect("pragma");
    assert_eq!(
        mode[0].get_at::<String>(0).expect("text").to_lowercase(),
        "wal"
    );
    let timeout =
        t.db.fetch_sql("PRAGMA busy_timeout", vec![])
            .await
            .expect("pragma");
    assert_eq!(timeout[0].get_at::<i64>(0).expect("int"), 5000);
    let fks =
        t.db.fetch_sql("PRAGMA foreign_keys", vec![])
            .await
            .expect("pragma");
    assert_eq!(fks[0].get_at::<i64>(0).expect("int"), 1);
    t.cleanup().await;
}

/// The direct driver sets up a file as the sqlx driver does, except that
/// SQLite's own busy handler is off: the driver waits for locks itself,
/// asynchronously (`racing_writers_lose_no_update_on_sqlite_files`).
#[tokio::test]
async fn sqlite_files_use_wal_and_foreign_keys() {
    let t = TestDb::new(Backend::SqliteFile).await;
    let pragma = |sql: &'static str| {
        let db = t.db.clone();
        async move { db.fetch_sql(sql, vec![]).await.expect("pragma") }
    };
    let mode = pragma("PRAGMA journal_mode").await;
    assert_eq!(
        mode[0].get_at::<String>(0).expect("text").to_lowercase(),
        "wal"
    );
    let fks = pragma("PRAGMA foreign_keys").await;
    assert_eq!(fks[0].get_at::<i64>(0).expect("int"), 1);
    let timeout = pragma("PRAGMA busy_timeout").await;
    assert_eq!(timeout[0].get_at::<i64>(0).expect("int"), 0);
    t.cleanup().await;
}

/// A transaction dropped without commit rolls back, and the connection goes
/// back to the pool clean: the next session neither sees the row nor runs
/// inside the abandoned transaction.
#[tokio::test]
async fn sqlite_dropped_transactions_roll_back() {
    let t = TestDb::new(Backend::Sqlite).await;
    let db = t.db.clone();
    db.create_all(&[Team::schema()]).await.expect("schema");
    {
        let mut s = db.session();
        s.add(Team {
            id: 0,
            name: "lost".into(),
        });
        s.flush().await.expect("flush opens the transaction");
        assert!(s.in_transaction());
    }
    let count = |db: Database| async move {
        let rows = db
            .fetch_sql("SELECT COUNT(*) FROM teams", vec![])
            .await
            .expect("count");
        rows[0].get_at::<i64>(0).expect("int")
    };
    assert_eq!(count(db.clone()).await, 0);
    // The pool's only connection is usable for a new transaction.
    let mut s = db.session();
    s.add(Team {
        id: 0,
        name: "kept".into(),
    });
    s.flush().await.expect("flush");
    s.commit().await.expect("commit");
    assert_eq!(count(db.clone()).await, 1);
    t.cleanup().await;
}

/// Every connection of either MySQL driver runs the same session set-up:
/// strict SQL mode, UTC, utf8mb4. Two statements at once, so the pool's
/// second connection (set up as it opens, not as the probe was) is checked
/// too.
#[tokio::test]
async fn mysql_sessions_run_in_strict_mode_on_both_drivers() {
    for (backend, driver) in [
        (Backend::MySql, "mysql_async"),
        (Backend::MySqlSqlx, "sqlx-mysql"),
    ] {
        let t = TestDb::new(backend).await;
        assert_eq!(t.db.driver(), driver);
        let sql = "SELECT @@SESSION.sql_mode AS m, @@SESSION.time_zone AS tz, \
                   @@character_set_client AS cs, CONNECTION_ID() AS id, SLEEP(0.05) AS pause";
        let (a, b) = tokio::join!(t.db.fetch_sql(sql, vec![]), t.db.fetch_sql(sql, vec![]));
        let (a, b) = (a.expect("first"), b.expect("second"));
        assert_ne!(
            a[0].get::<i64>("id").expect("id"),
            b[0].get::<i64>("id").expect("id"),
            "{driver}: two connections"
        );
        for rows in [a, b] {
            let mode = rows[0].get::<String>("m").expect("text");
            assert!(mode.contains("STRICT_ALL_TABLES"), "{driver}: {mode}");
            assert_eq!(
                rows[0].get::<String>("tz").expect("tz"),
                "+00:00",
                "{driver}"
            );
            assert_eq!(
                rows[0].get::<String>("cs").expect("cs"),
                "utf8mb4",
                "{driver}"
            );
        }
        t.cleanup().await;
    }
}

/// `?synchronous=..` in a SQLite URL sets the level on every connection of
/// both drivers; SQLite's durable default (`FULL`) stands without it; an
/// unknown level is a configuration error naming it.
#[tokio::test]
async fn sqlite_urls_set_the_synchronous_level() {
    let dir = std::env::temp_dir().join(format!("orm-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("db.sqlite");
    for driver in [orm_core::SqliteDriver::Direct, orm_core::SqliteDriver::Sqlx] {
        let options = || orm_core::ConnectOptions {
            sqlite_driver: driver,
            ..Default::default()
        };
        for (query, want) in [
            ("", 2),
            ("?synchronous=normal", 1),
            ("?mode=rwc&synchronous=OFF", 0),
        ] {
            let url = format!("sqlite://{}{query}", file.display());
            let db = Database::connect_with(&url, options())
                .await
                .expect("connect");
            // Two connections at once: the level is every connection's.
            let (a, b) = tokio::join!(
                db.fetch_sql("PRAGMA synchronous", vec![]),
                db.fetch_sql("PRAGMA synchronous", vec![])
            );
            for rows in [a.expect("pragma"), b.expect("pragma")] {
                assert_eq!(
                    rows[0].get::<i64>("synchronous").unwrap(),
                    want,
                    "{driver:?} {url}"
                );
            }
            db.close().await;
        }
        let url = format!("sqlite://{}?synchronous=sometimes", file.display());
        match Database::connect_with(&url, options()).await {
            Err(Error::Config(m)) => assert!(m.contains("sometimes"), "{m}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
