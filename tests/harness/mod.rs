//! The scenario harness: runs one test body against SQLite, PostgreSQL and
//! MySQL/MariaDB, each in an isolated database.
//!
//! * SQLite: a fresh in-memory database per test (or a temp file, see
//!   [`Backend::SqliteFile`]), through the default (direct) driver and
//!   again through sqlx's ([`Backend::SqliteSqlx`]).
//! * PostgreSQL: a fresh schema per test (`search_path` points at it),
//!   dropped afterwards. Server URL from `ORM_TEST_POSTGRES_URL`
//!   (default `postgres://postgres@127.0.0.1:5432/test`).
//! * MySQL/MariaDB: a fresh database per test, dropped afterwards, through
//!   the default driver (`mysql_async`) and again through sqlx's
//!   ([`Backend::MySqlSqlx`]). Server URL from `ORM_TEST_MYSQL_URL`
//!   (default `mysql://root@127.0.0.1:3306/test`).
//!
//! A server that cannot be reached fails the test with a message naming the
//! variable: a missing server is never a silent skip.
//!
//! Write scenarios with [`backend_tests!`]: each becomes a module with one
//! test per backend (`identity_map::same_handle::postgres`).

pub mod cancel;
pub mod proxy;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::FutureExt;
use orm_core::{ConnectOptions, Database};

/// The result type of test bodies: `?` works on any error.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Which backend a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// SQLite in a temporary file (WAL mode, several connections).
    SqliteFile,
    /// In-memory SQLite through sqlx's driver ([`orm_core::SqliteDriver::Sqlx`]);
    /// the other two SQLite variants use the default (direct) driver.
    SqliteSqlx,
    /// A temporary SQLite file through sqlx's driver.
    SqliteSqlxFile,
    Postgres,
    /// MySQL/MariaDB through the default driver (`mysql_async`).
    MySql,
    /// MySQL/MariaDB through sqlx's driver ([`orm_core::MySqlDriver::Sqlx`]).
    MySqlSqlx,
}

impl Backend {
    /// Whether this is a server (PostgreSQL or MySQL/MariaDB, either driver).
    pub fn is_server(self) -> bool {
        matches!(
            self,
            Backend::Postgres | Backend::MySql | Backend::MySqlSqlx
        )
    }
}

pub fn postgres_url() -> String {
    std::env::var("ORM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn mysql_url() -> String {
    std::env::var("ORM_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The Redis server of the result-cache tests (`ORM_TEST_REDIS_URL`,
/// default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("ORM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `sql` with its `?` placeholders as the backend writes them: `$1, $2 ..`
/// on PostgreSQL, unchanged elsewhere (raw SQL uses the backend's own).
pub fn numbered(dialect: orm_core::Dialect, sql: &str) -> String {
    if dialect != orm_core::Dialect::Postgres {
        return sql.to_string();
    }
    let mut n = 0;
    sql.chars()
        .map(|c| {
            if c == '?' {
                n += 1;
                format!("${n}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A SELECT of `columns` (an expression list, may read tables) that takes
/// about `millis` on `dialect`: the server sleeps on PostgreSQL and MySQL;
/// SQLite, which cannot sleep, counts through a recursive CTE (roughly
/// calibrated, CPU-bound).
pub fn slow_select(dialect: orm_core::Dialect, millis: u64, columns: &str) -> String {
    let secs = millis as f64 / 1000.0;
    match dialect {
        orm_core::Dialect::Postgres => {
            format!("SELECT {columns} FROM (SELECT pg_sleep({secs})) AS pause")
        }
        orm_core::Dialect::MySql => {
            format!("SELECT {columns} FROM (SELECT SLEEP({secs})) AS pause")
        }
        orm_core::Dialect::Sqlite => format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {}) \
             SELECT {columns} FROM (SELECT MAX(x) FROM c) AS pause",
            millis * 2_000
        ),
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

/// Replaces the database name (the URL path) of a server URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// An isolated database for one test, removed by [`TestDb::cleanup`].
pub struct TestDb {
    pub db: Database,
    pub backend: Backend,
    /// The URL the test database is reachable at (for a second pool).
    pub url: String,
    admin: Option<(Database, String)>,
    _dir: Option<TempDir>,
}

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn connect(url: &str, what: &str, var: &str, options: ConnectOptions) -> Database {
    match Database::connect_with(url, options).await {
        Ok(db) => db,
        Err(e) => panic!(
            "{what} is required for this test and could not be reached ({e}); set {var} to its URL"
        ),
    }
}

impl TestDb {
    /// Creates an isolated database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        TestDb::with_options(backend, ConnectOptions::default()).await
    }

    /// Like [`TestDb::new`] with explicit connect options.
    pub async fn with_options(backend: Backend, mut options: ConnectOptions) -> TestDb {
        if options.pool.max_connections == orm_core::PoolOptions::default().max_connections {
            // Tests run two at a time per binary; keep the servers' connection counts low.
            options.pool.max_connections = 4;
        }
        let name = unique_name();
        match backend {
            Backend::Sqlite | Backend::SqliteSqlx => {
                if backend == Backend::SqliteSqlx {
                    options.sqlite_driver = orm_core::SqliteDriver::Sqlx;
                }
                let url = "sqlite::memory:".to_string();
                let db = connect(&url, "SQLite", "-", options).await;
                TestDb {
                    db,
                    backend,
                    url,
                    admin: None,
                    _dir: None,
                }
            }
            Backend::SqliteFile | Backend::SqliteSqlxFile => {
                if backend == Backend::SqliteSqlxFile {
                    options.sqlite_driver = orm_core::SqliteDriver::Sqlx;
                }
                let dir = std::env::temp_dir().join(format!("orm-test-{name}"));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                let url = format!("sqlite://{}", dir.join("db.sqlite").display());
                let db = connect(&url, "SQLite", "-", options).await;
                TestDb {
                    db,
                    backend,
                    url,
                    admin: None,
                    _dir: Some(TempDir(dir)),
                }
            }
            Backend::Postgres => {
                let server = postgres_url();
                let admin = connect(
                    &server,
                    "PostgreSQL",
                    "ORM_TEST_POSTGRES_URL",
                    ConnectOptions::default(),
                )
                .await;
                admin
                    .execute_sql(format!("CREATE SCHEMA \"{name}\""), vec![])
                    .await
                    .expect("create test schema");
                let url = with_param(&server, &format!("options[search_path]={name}"));
                let db = connect(&url, "PostgreSQL", "ORM_TEST_POSTGRES_URL", options).await;
                TestDb {
                    db,
                    backend,
                    url,
                    admin: Some((admin, format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))),
                    _dir: None,
                }
            }
            Backend::MySql | Backend::MySqlSqlx => {
                if backend == Backend::MySqlSqlx {
                    options.mysql_driver = orm_core::MySqlDriver::Sqlx;
                }
                let server = mysql_url();
                let admin = connect(
                    &server,
                    "MySQL/MariaDB",
                    "ORM_TEST_MYSQL_URL",
                    ConnectOptions::default(),
                )
                .await;
                admin
                    .execute_sql(
                        format!(
                            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                        ),
                        vec![],
                    )
                    .await
                    .expect("create test database");
                let url = with_database(&server, &name);
                let db = connect(&url, "MySQL/MariaDB", "ORM_TEST_MYSQL_URL", options).await;
                TestDb {
                    db,
                    backend,
                    url,
                    admin: Some((admin, format!("DROP DATABASE IF EXISTS `{name}`"))),
                    _dir: None,
                }
            }
        }
    }

    /// The SQLite driver of this backend (for a second pool on the same file).
    pub fn sqlite_driver(&self) -> orm_core::SqliteDriver {
        match self.backend {
            Backend::SqliteSqlx | Backend::SqliteSqlxFile => orm_core::SqliteDriver::Sqlx,
            _ => orm_core::SqliteDriver::Direct,
        }
    }

    /// The MySQL driver of this backend (for a second pool on the same database).
    pub fn mysql_driver(&self) -> orm_core::MySqlDriver {
        match self.backend {
            Backend::MySqlSqlx => orm_core::MySqlDriver::Sqlx,
            _ => orm_core::MySqlDriver::MysqlAsync,
        }
    }

    /// Both drivers of this backend, set on `options` (for a second pool).
    pub fn same_drivers(&self, options: &mut ConnectOptions) {
        options.sqlite_driver = self.sqlite_driver();
        options.mysql_driver = self.mysql_driver();
    }

    /// Drops the test schema or database.
    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some((admin, drop)) = self.admin {
            if let Err(e) = admin.execute_sql(drop, vec![]).await {
                eprintln!("warning: could not drop the test database: {e}");
            }
            admin.close().await;
        }
    }
}

/// Runs `body` on a fresh database of `backend`, cleans up, and fails the
/// test if the body panicked or returned an error.
pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Database) -> Fut,
    Fut: Future<Output = TestResult>,
{
    run_with(backend, ConnectOptions::default(), body).await
}

/// [`run`] with explicit connect options (pool size, RETURNING, templates).
pub async fn run_with<F, Fut>(backend: Backend, options: ConnectOptions, body: F)
where
    F: FnOnce(Database) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let test_db = TestDb::with_options(backend, options).await;
    let outcome = AssertUnwindSafe(body(test_db.db.clone()))
        .catch_unwind()
        .await;
    test_db.cleanup().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{backend:?}: {e}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Runs `scenario(backend)`, an `async fn(Backend)`, as one test per
/// backend named, in a module of the scenario's name (as
/// [`backend_tests!`] names its tests), for scenarios that set up their
/// own databases (a second pool, a file):
///
/// ```ignore
/// on_backends!(locks_hold: postgres => Postgres, mysql => MySql);
/// ```
#[macro_export]
macro_rules! on_backends {
    ($scenario:ident: $($test:ident => $backend:ident),+ $(,)?) => {
        mod $scenario {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$scenario($crate::Backend::$backend).await
                }
            )+
        }
    };
}

/// Declares scenarios that run on every backend:
///
/// ```ignore
/// backend_tests! {
///     async fn same_handle(db) {
///         let mut s = db.session();
///         ...
///         Ok(())
///     }
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($(#[$meta:meta])* async fn $name:ident($db:ident) $body:block)*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($db: ::orm_core::Database) -> $crate::TestResult $body

            #[tokio::test]
            async fn sqlite() {
                $crate::run($crate::Backend::Sqlite, scenario).await
            }

            #[tokio::test]
            async fn sqlite_sqlx() {
                $crate::run($crate::Backend::SqliteSqlx, scenario).await
            }

            #[tokio::test]
            async fn postgres() {
                $crate::run($crate::Backend::Postgres, scenario).await
            }

            #[tokio::test]
            async fn mysql() {
                $crate::run($crate::Backend::MySql, scenario).await
            }

            #[tokio::test]
            async fn mysql_sqlx() {
                $crate::run($crate::Backend::MySqlSqlx, scenario).await
            }
        }
    )*};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("mysql://root@h:3306/test", "t_1"),
            "mysql://root@h:3306/t_1"
        );
        assert_eq!(
            with_database("mysql://root@h:3306", "t_1"),
            "mysql://root@h:3306/t_1"
        );
        assert_eq!(
            with_database("mysql://h/test?ssl-mode=disabled", "x"),
            "mysql://h/x?ssl-mode=disabled"
        );
    }
}
