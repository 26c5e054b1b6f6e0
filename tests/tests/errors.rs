//! Failures name their cause: connecting to a server that is down fails at
//! once with the driver's reason, the connect and statement timeouts, and
//! database errors that carry their statement and, for constraint
//! violations, the constraint, key, value and object, on every backend.
//! Failures that are not the database's are told apart by variant:
//! configuration, schema, misuse, a query too large to send, a template
//! that does not fit, a broken invariant.

use std::time::Duration;

use orm_core::prelude::*;
use orm_core::{ConnectOptions, DbErrorKind, Dialect, Param, PoolOptions, SqliteDriver, Value};
use tests::{Backend, backend_tests, run_with, slow_select};

#[entity(table = "teams")]
pub struct Team {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 40)]
    pub name: String,
}

#[entity(table = "players")]
pub struct Player {
    #[key(auto)]
    pub id: i64,
    #[column(references = Team)]
    pub team_id: i64,
}

/// Assigned keys: the flush can name the object whose row failed.
#[entity(table = "tags")]
pub struct Tag {
    #[key]
    #[column(len = 20)]
    pub code: String,
    #[column(unique, len = 40)]
    pub label: String,
}

/// A keyed collection and its belongs-to side, for the misuse cases; the
/// internal-error case puts a trigger on `jars` that drops some rows.
#[entity(table = "shelves")]
#[derive(Debug)]
pub struct Shelf {
    #[key(auto)]
    pub id: i64,
    #[has_many(Jar, by = "shelf_id", keyed_by = "label")]
    pub jars: Keyed<String, Jar>,
}

#[entity(table = "jars")]
#[derive(Debug, Default)]
pub struct Jar {
    #[key(auto)]
    pub id: i64,
    #[column(references = Shelf)]
    pub shelf_id: i64,
    #[column(len = 40)]
    pub label: String,
    #[belongs_to(Shelf, by = "shelf_id")]
    pub shelf: Ref<Shelf>,
}

/// Two tables that reference each other: no order creates or fills them.
#[entity(table = "hens")]
#[derive(Debug)]
pub struct Hen {
    #[key(auto)]
    pub id: i64,
    #[column(references = Egg)]
    pub egg_id: i64,
}

#[entity(table = "eggs")]
#[derive(Debug)]
pub struct Egg {
    #[key(auto)]
    pub id: i64,
    #[column(references = Hen)]
    pub hen_id: i64,
}

/// A guard against a hang, not a timing assertion: everything here should
/// take well under a second.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

fn sqlite(driver: SqliteDriver) -> ConnectOptions {
    ConnectOptions {
        sqlite_driver: driver,
        ..ConnectOptions::default()
    }
}

/// A closed port and an unopenable file fail at once, before the pool's
/// 30 s acquire timeout, with the driver's cause in `Error::Connect`.
#[tokio::test]
async fn servers_that_are_down_fail_at_once_with_the_cause() {
    let unopenable = "sqlite:///nonexistent-orm-dir/sub/db.sqlite";
    let cases = [
        (
            "postgres://postgres:secret@127.0.0.1:1/test",
            ConnectOptions::default(),
            "refused",
        ),
        (
            "mysql://root:secret@127.0.0.1:1/test",
            ConnectOptions::default(),
            "refused",
        ),
        (unopenable, sqlite(SqliteDriver::Direct), "unable to open"),
        (unopenable, sqlite(SqliteDriver::Sqlx), "unable to open"),
    ];
    for (url, options, cause) in cases {
        assert_eq!(options.pool.acquire_timeout, Duration::from_secs(30));
        match within(url, Database::connect_with(url, options)).await {
            Err(Error::Connect {
                url: shown,
                message,
            }) => {
                assert!(message.to_lowercase().contains(cause), "{url}: {message}");
                assert!(
                    !shown.contains("secret"),
                    "the password must not leak: {shown}"
                );
            }
            other => panic!("{url}: expected a connect error, got {other:?}"),
        }
    }
}

/// A server that accepts the connection and never answers: the connect
/// timeout ends the wait.
#[tokio::test]
async fn the_connect_timeout_bounds_a_server_that_never_answers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    for url in [
        format!("postgres://postgres@127.0.0.1:{port}/test"),
        format!("mysql://root@127.0.0.1:{port}/test"),
    ] {
        let options = ConnectOptions {
            connect_timeout: Some(Duration::from_millis(300)),
            ..ConnectOptions::default()
        };
        match within(&url, Database::connect_with(&url, options)).await {
            Err(Error::Connect { message, .. }) => {
                assert!(
                    message.contains("connect timeout of 300ms"),
                    "{url}: {message}"
                );
            }
            other => panic!("{url}: expected a connect timeout, got {other:?}"),
        }
    }
    silent.abort();
}

/// A statement past the statement timeout is cancelled by the backend and
/// reported as a timeout naming the statement; the connection stays usable
/// and statements that follow, however long after, are not cut short.
async fn statement_timeout(backend: Backend) {
    let options = ConnectOptions {
        statement_timeout: Some(Duration::from_millis(700)),
        pool: PoolOptions {
            max_connections: 1,
            ..PoolOptions::default()
        },
        ..ConnectOptions::default()
    };
    run_with(backend, options, |db| async move {
        db.create_all(&[Team::schema()]).await?;
        let d = db.dialect();
        let slow = slow_select(d, 20_000, "1 AS one");
        let err = within("a slow statement", db.fetch_sql(slow.clone(), vec![]))
            .await
            .expect_err("cancelled");
        assert_eq!(err.db_kind(), Some(DbErrorKind::Timeout), "{err}");
        match &err {
            Error::Database { statement, .. } => {
                assert_eq!(statement.as_deref(), Some(slow.as_str()))
            }
            other => panic!("{other:?}"),
        }
        // Idle past the timeout, then work: nothing is cut short.
        tokio::time::sleep(Duration::from_millis(900)).await;
        let mut s = db.session();
        s.add(Team {
            id: 0,
            name: "after".into(),
        });
        s.commit().await?;
        assert_eq!(s.query::<Team>().count().await?, 1);
        // Inside a session's transaction too: the flush is there, the slow
        // read fails, and the session can roll back and go on.
        s.add(Team {
            id: 0,
            name: "pending".into(),
        });
        s.flush().await?;
        let err = within(
            "a slow statement in a transaction",
            s.fetch_sql(slow.clone(), vec![]),
        )
        .await
        .expect_err("cancelled");
        assert_eq!(err.db_kind(), Some(DbErrorKind::Timeout), "{err}");
        s.rollback().await?;
        assert_eq!(db.session().query::<Team>().count().await?, 1);
        // A slow write inside the transaction: cancelled, rolled back
        // (SQLite rolls an interrupted write's transaction back itself).
        let mut s = db.session();
        s.add(Team {
            id: 0,
            name: "pending".into(),
        });
        s.flush().await?;
        let quote = |sql: &str| {
            if d == Dialect::MySql {
                sql.replace('"', "`")
            } else {
                sql.to_string()
            }
        };
        let write = format!(
            "{} {}",
            quote(r#"INSERT INTO "teams" ("name")"#),
            slow_select(d, 20_000, "'slow'")
        );
        let err = within("a slow write", s.execute_sql(write.clone(), vec![]))
            .await
            .expect_err("cancelled");
        assert_eq!(err.db_kind(), Some(DbErrorKind::Timeout), "{err}");
        assert_eq!(statement(&err), write);
        s.rollback().await?;
        s.add(Team {
            id: 0,
            name: "again".into(),
        });
        s.commit().await?;
        let names: Vec<String> = db
            .session()
            .query::<Team>()
            .order_by(Team::ID.asc())
            .all()
            .await?
            .iter()
            .map(|t| t.read().name.clone())
            .collect();
        assert_eq!(names, ["after", "again"]);
        let rows = db.fetch_sql(slow_select(d, 1, "2 AS two"), vec![]).await?;
        assert_eq!(rows[0].get::<i64>("two")?, 2);
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn statement_timeout_sqlite() {
    statement_timeout(Backend::Sqlite).await;
}

#[tokio::test]
async fn statement_timeout_sqlite_sqlx() {
    statement_timeout(Backend::SqliteSqlx).await;
}

#[tokio::test]
async fn statement_timeout_postgres() {
    statement_timeout(Backend::Postgres).await;
}

#[tokio::test]
async fn statement_timeout_mysql() {
    statement_timeout(Backend::MySql).await;
}

fn violation(err: &Error) -> &orm_core::Violation {
    err.violation()
        .unwrap_or_else(|| panic!("no violation in {err}"))
}

fn statement(err: &Error) -> &str {
    match err {
        Error::Database {
            statement: Some(s), ..
        } => s,
        other => panic!("no statement in {other:?}"),
    }
}

fn params(dialect: Dialect, sql: &str) -> String {
    match dialect {
        Dialect::Postgres => sql.replacen('?', "$1", 1),
        Dialect::MySql => sql.replace('"', "`"),
        Dialect::Sqlite => sql.to_string(),
    }
}

backend_tests! {
    async fn errors_carry_their_statement_but_not_its_values(db) {
        db.create_all(&[Team::schema()]).await?;
        let err = db.execute_sql("SELEC nonsense", vec![]).await.expect_err("syntax");
        assert_eq!(statement(&err), "SELEC nonsense");
        assert!(err.to_string().contains("statement: SELEC nonsense"), "{err}");
        let mut s = db.session();
        let err = s.fetch_sql("SELECT nope FROM teams", vec![]).await.expect_err("no column");
        assert_eq!(statement(&err), "SELECT nope FROM teams");
        // A not-null violation names its column on every backend.
        let sql = params(db.dialect(), r#"INSERT INTO "teams" ("name") VALUES (?)"#);
        let err = db.execute_sql(sql.clone(), vec![Value::Null(orm_core::SqlType::Text)]).await.expect_err("not null");
        assert_eq!(err.db_kind(), Some(DbErrorKind::NotNullViolation));
        assert_eq!(violation(&err).columns, ["name"]);
        assert_eq!(statement(&err), sql);
        Ok(())
    }

    async fn unique_violations_name_constraint_key_and_value(db) {
        db.create_all(&[Team::schema(), Player::schema()]).await?;
        let d = db.dialect();
        let mut s = db.session();
        s.add(Team { id: 0, name: "red".into() });
        s.commit().await?;
        // 300 new rows, the 151st collides with a stored one.
        s.add_all((0..300).map(|i| Team { id: 0, name: if i == 150 { "red".into() } else { format!("t{i}") } }));
        let before = s.stats().statements();
        let err = s.commit().await.expect_err("red exists");
        let statements = s.stats().statements() - before;
        assert_eq!(err.db_kind(), Some(DbErrorKind::UniqueViolation), "{err}");
        let v = violation(&err);
        assert_eq!((v.columns.as_slice(), v.value.as_deref()), (&["name".to_string()][..], Some("red")), "{err}");
        assert_eq!(v.object_key, None, "a new object with a generated key has none yet");
        match d {
            Dialect::Postgres => assert_eq!(v.constraint.as_deref(), Some("teams_name_key")),
            Dialect::MySql => assert_eq!(v.constraint.as_deref(), Some("name")),
            Dialect::Sqlite => assert_eq!(v.table.as_deref(), Some("teams")),
        }
        // SQLite names no value: the flush looked the batch up once.
        assert_eq!(statements, if d == Dialect::Sqlite { 2 } else { 1 });
        // The statement, never its values; the message stays short.
        let sql = statement(&err);
        assert!(sql.starts_with("INSERT INTO") && !sql.contains("t149"), "{}", &sql[..80]);
        let message = err.to_string();
        assert!(message.contains("while writing Team") && message.contains("key (name)=(red)"), "{message}");
        assert!(message.len() < 1_500 && sql.len() > 1_500, "{} vs {}", message.len(), sql.len());
        s.rollback().await?;
        s.rollback().await?;
        // Two new rows with one value: the value, on every backend.
        s.add(Team { id: 0, name: "twin".into() });
        s.add(Team { id: 0, name: "twin".into() });
        let err = s.commit().await.expect_err("twins");
        assert_eq!(violation(&err).value.as_deref(), Some("twin"), "{err}");
        s.rollback().await?;
        s.rollback().await?;
        // A foreign key: its column everywhere but SQLite, which names nothing.
        s.add(Player { id: 0, team_id: 999 });
        let err = s.commit().await.expect_err("no team 999");
        assert_eq!(err.db_kind(), Some(DbErrorKind::ForeignKeyViolation), "{err}");
        let v = violation(&err);
        match d {
            Dialect::Sqlite => assert!(v.columns.is_empty()),
            _ => assert_eq!(v.columns, ["team_id"], "{err}"),
        }
        if d == Dialect::Postgres {
            assert_eq!(v.value.as_deref(), Some("999"));
        }
        s.rollback().await?;
        Ok(())
    }

    async fn violations_name_the_object_with_an_assigned_key(db) {
        db.create_all(&[Tag::schema()]).await?;
        let mut s = db.session();
        s.add(Tag { code: "a".into(), label: "one".into() });
        s.commit().await?;
        s.add(Tag { code: "b".into(), label: "two".into() });
        s.add(Tag { code: "c".into(), label: "one".into() });
        let err = s.commit().await.expect_err("label one exists");
        let v = violation(&err);
        assert_eq!((v.value.as_deref(), v.object_key.as_deref()), (Some("one"), Some("\"c\"")), "{err}");
        s.rollback().await?;
        s.rollback().await?;
        // A primary key the table holds (another session: this one's
        // identity map refuses a second "a" before any SQL): MariaDB's
        // PRIMARY becomes the key columns.
        let mut other = db.session();
        other.add(Tag { code: "a".into(), label: "other".into() });
        let err = other.commit().await.expect_err("key a exists");
        let v = violation(&err);
        assert_eq!((v.columns.as_slice(), v.object_key.as_deref()), (&["code".to_string()][..], Some("\"a\"")), "{err}");
        // An UPDATE of one row: its object, on every backend; the value
        // where the server names it.
        let b = s.add(Tag { code: "b".into(), label: "two".into() });
        s.commit().await?;
        b.write().label = "one".into();
        let err = s.commit().await.expect_err("label one exists");
        let v = violation(&err);
        assert_eq!((v.columns.as_slice(), v.object_key.as_deref()), (&["label".to_string()][..], Some("\"b\"")), "{err}");
        match db.dialect() {
            Dialect::Sqlite => assert_eq!(v.value, None),
            _ => assert_eq!(v.value.as_deref(), Some("one")),
        }
        assert!(statement(&err).starts_with("UPDATE"), "{}", statement(&err));
        s.rollback().await?;
        Ok(())
    }

    async fn failures_that_are_not_the_databases_are_told_apart(db) {
        // Configuration: a region that was never set up.
        match db.cache().region("nowhere") {
            Err(Error::Config(message)) => assert!(message.contains("nowhere"), "{message}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
        // Schema: tables that reference each other, for the DDL and a flush alike.
        let err = db.create_all(&[Hen::schema(), Egg::schema()]).await.expect_err("a cycle");
        assert!(matches!(&err, Error::Schema { entity: "Hen", relation: None, .. }), "{err:?}");
        assert_eq!(err.to_string(), "schema error in Hen: foreign-key cycle between Hen, Egg");
        let mut s = db.session();
        s.add(Hen { id: 0, egg_id: 0 });
        s.add(Egg { id: 0, hen_id: 0 });
        let err = s.flush().await.expect_err("a cycle");
        assert!(matches!(&err, Error::Schema { message, .. } if message.contains("cycle")), "{err:?}");
        assert_eq!(s.stats().statements(), 0, "refused before any SQL");
        drop(s);

        db.create_all(&[Shelf::schema(), Jar::schema()]).await?;
        let mut s = db.session();
        // Usage: a keyed collection whose owner has no handle, then() after
        // no load, set() on a has-many.
        let mut loose = Shelf { id: 0, jars: Keyed::new() };
        let err = loose.jars.insert("jam".into(), Jar::default()).expect_err("no owner yet");
        assert!(matches!(&err, Error::Usage { entity: Some("Jar"), .. }), "{err:?}");
        let err = s.query::<Shelf>().then(Jar::SHELF).all().await.expect_err("no load before then");
        assert!(matches!(&err, Error::Usage { relation: Some(r), .. } if r == "Jar.shelf"), "{err:?}");
        assert_eq!(err.to_string(), "Jar.shelf: then() follows no load of Jar; load(..) a relationship to Jar first");
        let shelf = s.add(Shelf { id: 0, jars: Keyed::new() });
        let jar = s.add(Jar { label: "jam".into(), ..Jar::default() });
        let err = Shelf::JARS.set(&shelf, Some(&jar)).expect_err("set is for belongs-to");
        assert!(matches!(&err, Error::Usage { relation: Some(r), .. } if r == "Shelf.jars"), "{err:?}");
        Jar::SHELF.set(&jar, Some(&shelf))?;
        s.commit().await?;

        // A query too large: more bound values than the backend takes, and
        // no list to split or send as one parameter.
        let limit = db.bind_limit();
        // In groups of 256: one OR of 65,536 terms overflows a test thread's
        // 2 MiB stack before the query is refused.
        let many = || {
            let ids: Vec<i64> = (0..=limit as i64).collect();
            Filter::any(ids.chunks(256).map(|c| Filter::any(c.iter().map(|&i| Jar::ID.eq(i)))))
        };
        let err = s.query::<Jar>().filter(many()).all().await.expect_err("too many values");
        match &err {
            Error::QueryTooLarge { entity: "Jar", values, limit: l, reason } => {
                assert_eq!((*values, *l), (limit + 1, limit));
                assert!(reason.contains("no list to split"), "{reason}");
            }
            other => panic!("expected QueryTooLarge, got {other:?}"),
        }
        let err = s.query::<Jar>().filter(many()).limit(5).all().await.expect_err("a page is never split");
        assert!(matches!(&err, Error::QueryTooLarge { reason, .. } if reason.contains("LIMIT/OFFSET")), "{err:?}");

        // A template that does not fit: a builder writes a placeholder for
        // an absent parameter.
        let err = s
            .fetch_built("jars.by_label", vec![Param::opt(None::<&str>)], |p| {
                format!("SELECT id FROM jars WHERE label = {}", p.param(0))
            })
            .await
            .expect_err("parameter 0 is absent");
        match &err {
            Error::Template { site, message } => {
                assert_eq!(site, "jars.by_label");
                assert!(message.contains("absent"), "{message}");
            }
            other => panic!("expected a template error, got {other:?}"),
        }

        // Internal: the database inserts fewer rows than it was sent (a
        // trigger that drops rows; MariaDB's triggers cannot).
        let trigger: &[&str] = match db.dialect() {
            Dialect::Sqlite => &["CREATE TRIGGER drop_jars BEFORE INSERT ON jars \
                WHEN NEW.label LIKE 'drop%' BEGIN SELECT RAISE(IGNORE); END"],
            Dialect::Postgres => &[
                "CREATE FUNCTION drop_jars() RETURNS trigger AS $$ BEGIN \
                 IF NEW.label LIKE 'drop%' THEN RETURN NULL; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER drop_jars BEFORE INSERT ON jars FOR EACH ROW EXECUTE FUNCTION drop_jars()",
            ],
            Dialect::MySql => &[],
        };
        if !trigger.is_empty() {
            for sql in trigger {
                db.execute_sql(*sql, vec![]).await?;
            }
            let id = shelf.read().id;
            s.add_all(["keep", "drop-1", "drop-2"].map(|l| Jar { shelf_id: id, label: l.into(), ..Jar::default() }));
            // A flush, in a transaction (a commit of one statement would send it alone, in autocommit).
            let err = s.flush().await.expect_err("two rows dropped");
            assert!(matches!(&err, Error::Internal { entity: Some("Jar"), .. }), "{err:?}");
            assert_eq!(err.to_string(), "internal error in Jar: expected 3 generated keys, the database returned 1");
            s.rollback().await?;
            s.rollback().await?;
            assert_eq!(s.query::<Jar>().count().await?, 1, "the flush rolled back");
        }
        Ok(())
    }
}
