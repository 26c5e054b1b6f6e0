//! Schema migrations: introspect the live schema, diff it against the
//! entities, write the difference as editable SQL files, and apply them
//! once each, safely from many processes at once.
//!
//! | module | owns |
//! |---|---|
//! | [`schema`] | the schema as data, both sides in one canonical spelling |
//! | `introspect` | reading it from SQLite, PostgreSQL and MySQL catalogues |
//! | [`diff`] | the typed changes between two schemas, and their risks |
//! | [`render`] | the changes as each backend's SQL, with what each statement locks |
//! | [`files`] | migration directories, checksums, statement splitting, Rust migrations |
//! | here | the [`Migrator`]: the applied table, the lock, up, down, status, check, generate |
//!
//! # How a migration runs
//!
//! **The lock.** PostgreSQL takes a session advisory lock (per schema,
//! polled with `pg_try_advisory_lock`: see `pg_lock` for the deadlock a
//! waiting `pg_advisory_lock` meets), MySQL `GET_LOCK` (per database), on
//! one connection held for the whole run
//! (closed afterwards, never returned to the pool still holding it, also
//! when the run is dropped half way). SQLite takes the database's write
//! lock at the start of each migration's transaction (an UPDATE of the
//! lock row) and reads the applied table again under it. So two processes
//! starting together apply each migration once: the second waits, then
//! finds it applied. (SQLite's wait is its 5 s busy timeout: a migration
//! longer than that makes the other process fail with `Busy`, never run it
//! twice.)
//!
//! **Transactions.** On PostgreSQL and SQLite a migration and its record
//! in the applied table commit together: a failed migration leaves neither.
//! MySQL commits implicitly around every DDL statement, so there the
//! record is written first (`running`), counts each statement as it
//! completes, and ends `applied` or `failed` with the error and how many
//! statements ran. A failed record stops later runs until it is repaired
//! ([`Migrator::repair`]) after the schema was fixed by hand. A migration
//! marked `-- orm:no-transaction` runs the MySQL way on every backend. Rust
//! migrations run in a transaction on every backend (they change data).
//!
//! **Checksums.** A migration file changed after it was applied is an
//! error for `up`, `down` and `status` alike, as is an applied migration
//! whose file is gone.
//!
//! **Generating.** [`Migrator::generate`] needs the database at the latest
//! migration, introspects it, diffs it against the entities and writes
//! `up.sql` (the diff) and `down.sql` (the reverse diff). A plan with a
//! change that can lose data or fail on existing rows ([`Change::risk`]) is
//! refused unless `allow_destructive` is set.
//!
//! Layer 4 (migrations): it uses only what is below it (see `crate::layers`).

pub mod diff;
pub mod files;
mod introspect;
pub mod render;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use diff::{Change, Rename};
pub use files::{Body, Migration, RustStep, StepFuture};
pub use render::{RenderOptions, Step};
pub use schema::Schema;

use crate::backend::Conn;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::meta::EntityMeta;
use crate::row::Row;
use crate::sql::dialect::Dialect;
use crate::value::Value;

/// The connection a Rust migration runs on (inside its transaction).
pub struct MigrationConn<'c> {
    conn: &'c mut Conn,
    dialect: Dialect,
}

impl MigrationConn<'_> {
    /// The backend (placeholders are its own: `$1` on PostgreSQL, `?` elsewhere).
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Runs a statement; returns the rows it affected.
    pub async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64> {
        let sql: Arc<str> = Arc::from(sql);
        Ok(self.conn.execute(&sql, &params).await?.rows_affected)
    }

    /// Runs a query; returns its rows.
    pub async fn fetch(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        let sql: Arc<str> = Arc::from(sql);
        Ok(self.conn.fetch(&sql, &params).await?.into_rows())
    }
}

/// Where a migration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not applied yet.
    Pending,
    /// Applied: when (UTC, RFC 3339) and how long it took.
    Applied {
        /// When it was applied (UTC, RFC 3339).
        applied_at: String,
        /// How long it took.
        duration_ms: i64,
    },
    /// MySQL or `no-transaction`: it stopped after `statements_run`.
    Failed {
        /// Statements that completed before the failure.
        statements_run: i64,
        /// The error.
        error: String,
    },
    /// A `running` record: the process applying it stopped (or still runs).
    Running {
        /// Statements completed so far.
        statements_run: i64,
    },
    /// Applied, but the file changed since.
    Changed,
    /// Applied, but no file or Rust migration has this version any more.
    Missing,
}

/// One line of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// `<timestamp>_<name>`.
    pub version: String,
    /// Where it stands.
    pub state: State,
}

/// Which way a migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Applying (`up.sql`).
    Up,
    /// Reverting (`down.sql`).
    Down,
}

/// What the migrator reports as it goes (see [`Migrator::on_progress`]).
#[derive(Debug, Clone)]
pub enum Progress {
    /// A migration started.
    Started {
        /// The migration.
        version: String,
        /// Up or down.
        direction: Direction,
        /// How many SQL statements it has.
        statements: usize,
    },
    /// A migration finished and was recorded.
    Finished {
        /// The migration.
        version: String,
        /// Up or down.
        direction: Direction,
        /// How long it took.
        elapsed: Duration,
    },
}

/// What [`Migrator::generate`] may write.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenerateOptions {
    /// Write plans with changes that can lose data or fail on rows.
    pub allow_destructive: bool,
    /// How the SQL is written.
    pub render: RenderOptions,
}

/// A migration [`Migrator::generate`] wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// `<timestamp>_<name>`.
    pub version: String,
    /// The directory written.
    pub path: PathBuf,
    /// The changes it makes.
    pub changes: Vec<Change>,
    /// The text of `up.sql`.
    pub up: String,
    /// The text of `down.sql`.
    pub down: String,
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Applies, reverts, checks and generates migrations on one database.
///
/// ```
/// # use orm_core::prelude::*;
/// #[entity]
/// pub struct Note {
///     #[key(auto)] pub id: i64,
///     pub text: String,
///     #[column(default = "0")] pub stars: i32,
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("orm-doc-migrations-{}", std::process::id()));
/// let db = Database::connect("sqlite::memory:").await?;
/// let migrator = db.migrator(&dir)?.entities(&[Note::schema()]);
/// let made = migrator.generate("notes", Default::default()).await?.expect("a new table");
/// assert!(made.up.contains("CREATE TABLE \"notes\""), "{}", made.up);
/// let migrator = db.migrator(&dir)?.entities(&[Note::schema()]); // reads the new file
/// migrator.up().await?;
/// assert!(migrator.check().await?.is_empty()); // entities and database agree
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Migrator {
    engine: Engine,
    dir: Option<PathBuf>,
    migrations: Vec<Migration>,
    entities: Vec<&'static EntityMeta>,
    progress: Option<ProgressFn>,
    /// `only_tables` patterns (empty: every table).
    only: Vec<String>,
    /// `ignore_tables` patterns.
    ignore: Vec<String>,
}

/// `pattern` matches `name`: exactly, or with one `*` for any run of characters.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
    }
}

/// PostgreSQL's advisory lock key: one per schema (the lock is
/// database-wide; applications in different schemas do not wait for each
/// other).
const PG_LOCK_KEY: &str = "hashtextextended('orm_migrations.' || current_schema(), 0)";

/// MySQL's lock name: one per database (GET_LOCK names are server-wide and
/// at most 64 characters).
const MYSQL_LOCK: &str = "CONCAT('orm_migrations.', LEFT(SHA1(DATABASE()), 40))";

/// Takes PostgreSQL's advisory lock by polling `pg_try_advisory_lock`, never
/// by waiting in `pg_advisory_lock`: a waiting statement holds a snapshot,
/// and the holder's `CREATE INDEX CONCURRENTLY` waits for every older
/// snapshot to go, so the two would deadlock (found by the tests: two
/// migrators, one building an index concurrently).
async fn pg_lock(conn: &mut Conn) -> Result<()> {
    let sql = format!("SELECT pg_try_advisory_lock({PG_LOCK_KEY})");
    let mut wait = Duration::from_millis(10);
    loop {
        let rows = run_fetch(conn, &sql, vec![]).await?;
        if matches!(
            rows.first().and_then(|r| r.values().first()),
            Some(Value::Bool(true))
        ) {
            return Ok(());
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(250));
    }
}

impl Migrator {
    pub(crate) fn new(engine: Engine, dir: Option<&Path>) -> Result<Migrator> {
        let migrations = match dir {
            Some(d) => files::read_dir(d)?,
            None => Vec::new(),
        };
        Ok(Migrator {
            engine,
            dir: dir.map(Path::to_path_buf),
            migrations,
            entities: Vec::new(),
            progress: None,
            only: Vec::new(),
            ignore: Vec::new(),
        })
    }

    /// The entities `generate` and `check` compare the database with.
    pub fn entities(mut self, entities: &[&'static EntityMeta]) -> Migrator {
        self.entities = entities.to_vec();
        self
    }

    /// Compares and generates only for these tables (`*` matches any run of
    /// characters: `"app_*"`): for a database shared with other programs,
    /// whose tables the diff would otherwise drop.
    pub fn only_tables(mut self, patterns: &[&str]) -> Migrator {
        self.only = patterns.iter().map(|p| p.to_string()).collect();
        self
    }

    /// Leaves these tables out of comparisons and generated migrations
    /// (patterns as in [`Migrator::only_tables`]).
    pub fn ignore_tables(mut self, patterns: &[&str]) -> Migrator {
        self.ignore = patterns.iter().map(|p| p.to_string()).collect();
        self
    }

    fn managed(&self, table: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| matches(p, table)))
            && !self.ignore.iter().any(|p| matches(p, table))
    }

    /// `schema` without the tables the migrator leaves alone.
    fn filtered(&self, mut schema: Schema) -> Schema {
        schema.tables.retain(|t| self.managed(&t.name));
        if !(self.only.is_empty() && self.ignore.is_empty()) {
            // An enum type is the managed tables' when one of them uses it.
            let used: Vec<String> = schema
                .enums
                .iter()
                .filter(|e| !schema.enum_columns(&e.name).is_empty())
                .map(|e| e.name.clone())
                .collect();
            schema.enums.retain(|e| used.contains(&e.name));
        }
        schema
    }

    /// Adds a migration (a Rust one, or SQL built in code).
    pub fn with_migration(mut self, migration: Migration) -> Migrator {
        self.migrations.push(migration);
        self.migrations.sort_by(|a, b| a.version.cmp(&b.version));
        self
    }

    /// Calls `f` as each migration starts and finishes.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Migrator {
        self.progress = Some(Arc::new(f));
        self
    }

    /// The migrations known, in version order.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    fn dialect(&self) -> Dialect {
        self.engine.dialect()
    }

    fn report(&self, p: Progress) {
        tracing::info!(target: "orm.migrate", ?p, "migration");
        if let Some(f) = &self.progress {
            f(&p);
        }
    }

    /// A connection for a run, with the lock taken where the lock is per
    /// connection, and the applied table made.
    async fn open(&self, lock: bool) -> Result<Conn> {
        let mut conn = self.engine.pool().acquire().await?;
        let d = self.dialect();
        if lock && d != Dialect::Sqlite {
            conn.close_on_drop(true);
            match d {
                Dialect::Postgres => pg_lock(&mut conn).await?,
                _ => {
                    let rows = run_fetch(
                        &mut conn,
                        &format!("SELECT GET_LOCK({MYSQL_LOCK}, 86400)"),
                        vec![],
                    )
                    .await?;
                    if rows
                        .first()
                        .and_then(|r| r.values().first())
                        .is_some_and(is_zero)
                    {
                        return Err(Error::Migration {
                            version: None,
                            message: "GET_LOCK on the migrations timed out after a day: another process holds it"
                                .into(),
                        });
                    }
                }
            }
        }
        for sql in applied_table_ddl(d) {
            run(&mut conn, sql, vec![]).await?;
        }
        Ok(conn)
    }

    async fn close(&self, mut conn: Conn) -> Result<()> {
        match self.dialect() {
            Dialect::Postgres => {
                run(
                    &mut conn,
                    &format!("SELECT pg_advisory_unlock({PG_LOCK_KEY})"),
                    vec![],
                )
                .await?;
            }
            Dialect::MySql => {
                run_fetch(
                    &mut conn,
                    &format!("SELECT RELEASE_LOCK({MYSQL_LOCK})"),
                    vec![],
                )
                .await?;
            }
            Dialect::Sqlite => {}
        }
        Ok(())
    }

    /// Every migration known or recorded, and where it stands.
    pub async fn status(&self) -> Result<Vec<MigrationStatus>> {
        let mut conn = self.open(false).await?;
        let applied = read_applied(&mut conn).await?;
        Ok(self.statuses(&applied))
    }

    fn statuses(&self, applied: &[Record]) -> Vec<MigrationStatus> {
        let mut out: Vec<MigrationStatus> = self
            .migrations
            .iter()
            .map(|m| {
                let state = match applied.iter().find(|r| r.version == m.version) {
                    None => State::Pending,
                    Some(r) => r.state(Some(m)),
                };
                MigrationStatus {
                    version: m.version.clone(),
                    state,
                }
            })
            .collect();
        for r in applied {
            if !self.migrations.iter().any(|m| m.version == r.version) {
                out.push(MigrationStatus {
                    version: r.version.clone(),
                    state: r.state(None),
                });
            }
        }
        out.sort_by(|a, b| a.version.cmp(&b.version));
        out
    }

    /// Refuses to go on past a changed or missing file, a failed or
    /// unfinished migration.
    fn verify(&self, applied: &[Record]) -> Result<()> {
        for s in self.statuses(applied) {
            let message = match s.state {
                State::Changed => {
                    "was changed after it was applied (its checksum differs): restore the file, \
                                   or write a new migration for the change"
                        .to_string()
                }
                State::Missing => {
                    "is applied but no migration has this version any more: restore its file".into()
                }
                State::Failed {
                    statements_run,
                    error,
                } => format!(
                    "failed after {statements_run} statement(s) ({error}); fix the schema by hand, then \
                     `migrate repair {}` (Migrator::repair) to forget the record",
                    s.version
                ),
                State::Running { statements_run } => format!(
                    "was left running after {statements_run} statement(s) (its process stopped); check the \
                     schema, then `migrate repair {}`",
                    s.version
                ),
                _ => continue,
            };
            return Err(Error::Migration {
                version: Some(s.version),
                message,
            });
        }
        Ok(())
    }

    /// Applies every pending migration, in order; returns the versions applied.
    pub async fn up(&self) -> Result<Vec<String>> {
        self.up_to(None).await
    }

    /// Applies the pending migrations up to and including `target`
    /// (every one when `None`).
    pub async fn up_to(&self, target: Option<&str>) -> Result<Vec<String>> {
        if let Some(t) = target
            && !self.migrations.iter().any(|m| m.version == t)
        {
            return Err(Error::Migration {
                version: Some(t.to_string()),
                message: "no such migration".into(),
            });
        }
        let mut conn = self.open(true).await?;
        let applied = read_applied(&mut conn).await?;
        self.verify(&applied)?;
        let mut done = Vec::new();
        for m in &self.migrations {
            if target.is_some_and(|t| m.version.as_str() > t) {
                break;
            }
            if applied.iter().any(|r| r.version == m.version) {
                continue;
            }
            if self.apply(&mut conn, m, Direction::Up).await? {
                done.push(m.version.clone());
            }
        }
        self.close(conn).await?;
        Ok(done)
    }

    /// Reverts the newest applied migration (`steps` of them).
    pub async fn down(&self, steps: usize) -> Result<Vec<String>> {
        let mut conn = self.open(true).await?;
        let applied = read_applied(&mut conn).await?;
        self.verify(&applied)?;
        let mut versions: Vec<&str> = applied.iter().map(|r| r.version.as_str()).collect();
        versions.sort();
        let keep = versions.len().saturating_sub(steps);
        let target = if keep == 0 {
            None
        } else {
            Some(versions[keep - 1].to_string())
        };
        self.revert(conn, &applied, target.as_deref()).await
    }

    /// Reverts every applied migration newer than `target` (all of them
    /// when `None`), newest first.
    pub async fn down_to(&self, target: Option<&str>) -> Result<Vec<String>> {
        let mut conn = self.open(true).await?;
        let applied = read_applied(&mut conn).await?;
        self.verify(&applied)?;
        self.revert(conn, &applied, target).await
    }

    async fn revert(
        &self,
        mut conn: Conn,
        applied: &[Record],
        target: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for m in self.migrations.iter().rev() {
            if target.is_some_and(|t| m.version.as_str() <= t) {
                break;
            }
            if !applied.iter().any(|r| r.version == m.version) {
                continue;
            }
            if self.apply(&mut conn, m, Direction::Down).await? {
                done.push(m.version.clone());
            }
        }
        self.close(conn).await?;
        Ok(done)
    }

    /// Forgets a failed or unfinished migration's record (after the schema
    /// was fixed by hand), so that `up` runs it again.
    pub async fn repair(&self, version: &str) -> Result<bool> {
        let mut conn = self.open(true).await?;
        let d = self.dialect();
        let sql = format!(
            "DELETE FROM {} WHERE version = {} AND status <> 'applied'",
            files::APPLIED_TABLE,
            placeholder(d, 1)
        );
        let n = run(&mut conn, &sql, vec![Value::Text(version.into())]).await?;
        self.close(conn).await?;
        Ok(n > 0)
    }

    /// The SQL `up` would run now, migration by migration.
    pub async fn pending_sql(&self) -> Result<String> {
        let mut conn = self.open(false).await?;
        let applied = read_applied(&mut conn).await?;
        self.verify(&applied)?;
        let mut out = String::new();
        for m in &self.migrations {
            if applied.iter().any(|r| r.version == m.version) {
                continue;
            }
            out.push_str(&format!("-- migration {}\n", m.version));
            match &m.body {
                Body::Sql { up, .. } => {
                    out.push_str(up.trim_end());
                    out.push('\n');
                }
                Body::Rust { .. } => out.push_str("-- (a Rust migration)\n"),
            }
            out.push('\n');
        }
        Ok(out)
    }

    /// The live schema (the tables the migrator manages).
    pub async fn introspect(&self) -> Result<Schema> {
        let mut conn = self.engine.pool().acquire().await?;
        Ok(self.filtered(introspect::schema(&mut conn, self.dialect()).await?))
    }

    /// The changes that would bring the database to the entities; empty
    /// when they agree (`migrate check`).
    pub async fn check(&self) -> Result<Vec<Change>> {
        self.need_entities("check")?;
        crate::sql::ddl::check_enum_types(&self.entities)?;
        let live = self.introspect().await?;
        let want = Schema::of_entities(self.dialect(), &self.entities);
        Ok(diff::diff(
            &live,
            &want,
            &Rename::of_entities(&self.entities),
        ))
    }

    fn need_entities(&self, what: &str) -> Result<()> {
        if self.entities.is_empty() {
            return Err(Error::Migration {
                version: None,
                message: format!(
                    "`{what}` compares with the entities: give them with Migrator::entities(&[..])"
                ),
            });
        }
        Ok(())
    }

    /// Writes a migration from the difference between the database (at the
    /// latest migration) and the entities; `None` when they agree.
    pub async fn generate(
        &self,
        name: &str,
        options: GenerateOptions,
    ) -> Result<Option<Generated>> {
        self.need_entities("generate")?;
        let Some(dir) = &self.dir else {
            return Err(Error::Migration {
                version: None,
                message: "`generate` writes files: make the migrator with db.migrator(dir)".into(),
            });
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Migration {
                version: None,
                message: format!("a migration name is letters, digits and `_`: {name:?}"),
            });
        }
        let mut conn = self.open(false).await?;
        let applied = read_applied(&mut conn).await?;
        self.verify(&applied)?;
        if let Some(p) = self
            .migrations
            .iter()
            .find(|m| !applied.iter().any(|r| r.version == m.version))
        {
            return Err(Error::Migration {
                version: Some(p.version.clone()),
                message: "is not applied yet: apply pending migrations before generating a new one"
                    .into(),
            });
        }
        let d = self.dialect();
        crate::sql::ddl::check_enum_types(&self.entities)?;
        let live = self.filtered(introspect::schema(&mut conn, d).await?);
        drop(conn);
        let want = self.filtered(Schema::of_entities(d, &self.entities));
        let renames = Rename::of_entities(&self.entities);
        let changes = diff::diff(&live, &want, &renames);
        if changes.is_empty() {
            return Ok(None);
        }
        let risks: Vec<String> = changes.iter().filter_map(Change::risk).collect();
        if !risks.is_empty() && !options.allow_destructive {
            return Err(Error::Migration {
                version: None,
                message: format!(
                    "the plan has changes that can lose data or fail on existing rows: {}; nothing was written \
                     (allow them with `--allow-destructive` / GenerateOptions::allow_destructive)",
                    risks.join("; ")
                ),
            });
        }
        let reversed: Vec<Rename> = renames.iter().map(Rename::reversed).collect();
        let back = diff::diff(&want, &live, &reversed);
        let up_steps = render::render(d, &changes, &live, &want, options.render);
        let down_steps = render::render(d, &back, &want, &live, options.render);
        let version = format!("{}_{name}", self.next_stamp());
        let up = file_text(d, &version, "up", &up_steps, &risks);
        let down = file_text(d, &version, "down", &down_steps, &[]);
        let path = files::write(dir, &version, &up, &down)?;
        Ok(Some(Generated {
            version,
            path,
            changes,
            up,
            down,
        }))
    }

    /// A UTC timestamp later than every known migration's.
    fn next_stamp(&self) -> String {
        let now: u64 = chrono::Utc::now()
            .format("%Y%m%d%H%M%S")
            .to_string()
            .parse()
            .expect("digits");
        let last = self
            .migrations
            .iter()
            .filter_map(|m| m.version.split('_').next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        now.max(last + 1).to_string()
    }

    /// Runs one migration one way and records it; `false` when another
    /// process did it first (SQLite: seen under the write lock).
    async fn apply(&self, conn: &mut Conn, m: &Migration, direction: Direction) -> Result<bool> {
        let d = self.dialect();
        if let Some(want) = m.dialect()
            && want != d.spec().name
        {
            return Err(Error::Migration {
                version: Some(m.version.clone()),
                message: format!(
                    "was written for {want}, and this database is {}",
                    d.spec().name
                ),
            });
        }
        let statements: Vec<Arc<str>> = match (&m.body, direction) {
            (Body::Sql { up, .. }, Direction::Up) => files::statements(up),
            (
                Body::Sql {
                    down: Some(down), ..
                },
                Direction::Down,
            ) => files::statements(down),
            (Body::Sql { down: None, .. }, Direction::Down)
            | (Body::Rust { down: None, .. }, Direction::Down) => {
                return Err(Error::Migration {
                    version: Some(m.version.clone()),
                    message: "has no down migration: it cannot be reverted".into(),
                });
            }
            (Body::Rust { .. }, _) => Vec::new(),
        };
        let rust = match (&m.body, direction) {
            (Body::Rust { up, .. }, Direction::Up) => Some(*up),
            (Body::Rust { down, .. }, Direction::Down) => *down,
            _ => None,
        };
        self.report(Progress::Started {
            version: m.version.clone(),
            direction,
            statements: statements.len(),
        });
        let started = Instant::now();
        let transactional = rust.is_some() || (d != Dialect::MySql && !m.outside_transaction());
        let ran = if transactional {
            self.apply_in_transaction(conn, m, direction, &statements, rust, started)
                .await?
        } else {
            self.apply_recorded(conn, m, direction, &statements, started)
                .await?;
            true
        };
        if ran {
            self.report(Progress::Finished {
                version: m.version.clone(),
                direction,
                elapsed: started.elapsed(),
            });
        }
        Ok(ran)
    }

    async fn apply_in_transaction(
        &self,
        conn: &mut Conn,
        m: &Migration,
        direction: Direction,
        statements: &[Arc<str>],
        rust: Option<RustStep>,
        started: Instant,
    ) -> Result<bool> {
        let d = self.dialect();
        let sqlite = d == Dialect::Sqlite;
        // Table rebuilds drop and rename tables others refer to: foreign
        // keys off around the transaction (SQLite ignores the pragma inside
        // one), checked by `foreign_key_check` before the commit.
        let fk_off = sqlite && m.foreign_keys_off();
        if fk_off {
            conn.close_on_drop(true);
            run(conn, "PRAGMA foreign_keys = OFF", vec![]).await?;
        }
        let result = async {
            conn.begin().await?;
            if sqlite {
                // The write lock, then the applied table as it is under it.
                run(conn, &format!("UPDATE {} SET n = n + 1 WHERE id = 1", files::LOCK_TABLE), vec![]).await?;
                let now = read_applied(conn).await?;
                let is_applied = now.iter().any(|r| r.version == m.version);
                if is_applied != (direction == Direction::Down) {
                    conn.rollback().await?;
                    return Ok(false);
                }
            }
            for (i, sql) in statements.iter().enumerate() {
                if let Err(e) = conn.execute(sql, &[]).await {
                    return Err(statement_failed(m, i, statements.len(), sql, e, "rolled back: nothing of it was applied"));
                }
            }
            if let Some(step) = rust {
                let mut mc = MigrationConn { conn: &mut *conn, dialect: d };
                step(&mut mc).await.map_err(|e| Error::Migration {
                    version: Some(m.version.clone()),
                    message: format!("failed: {e}; rolled back"),
                })?;
            }
            if fk_off {
                let bad = run_fetch(conn, "PRAGMA foreign_key_check", vec![]).await?;
                if !bad.is_empty() {
                    return Err(Error::Migration {
                        version: Some(m.version.clone()),
                        message: format!(
                            "leaves {} row(s) whose foreign key points at no row (first in table {:?}); rolled back",
                            bad.len(),
                            bad[0].values().first()
                        ),
                    });
                }
            }
            match direction {
                Direction::Up => insert_record(conn, d, m, "applied", statements.len(), started, None).await?,
                Direction::Down => delete_record(conn, d, &m.version).await?,
            }
            conn.commit().await?;
            Ok(true)
        }
        .await;
        if result.is_err() {
            let _ = conn.rollback().await;
        }
        if fk_off {
            run(conn, "PRAGMA foreign_keys = ON", vec![]).await?;
            conn.close_on_drop(false);
        }
        result
    }

    /// MySQL (implicit commits) and `no-transaction` migrations: the record
    /// first, then each statement counted as it completes.
    async fn apply_recorded(
        &self,
        conn: &mut Conn,
        m: &Migration,
        direction: Direction,
        statements: &[Arc<str>],
        started: Instant,
    ) -> Result<()> {
        let d = self.dialect();
        match direction {
            Direction::Up => insert_record(conn, d, m, "running", 0, started, None).await?,
            Direction::Down => set_record(conn, d, &m.version, "running", 0, None, started).await?,
        }
        for (i, sql) in statements.iter().enumerate() {
            if let Err(e) = conn.execute(sql, &[]).await {
                let note = if d == Dialect::MySql {
                    "MySQL commits each DDL statement, so the statements before it stay applied; the applied \
                     table records the migration as failed"
                } else {
                    "the migration runs outside a transaction, so the statements before it stay applied; the \
                     applied table records the migration as failed"
                };
                let err = statement_failed(m, i, statements.len(), sql, e, note);
                set_record(
                    conn,
                    d,
                    &m.version,
                    "failed",
                    i,
                    Some(&err.to_string()),
                    started,
                )
                .await?;
                return Err(err);
            }
            set_record(conn, d, &m.version, "running", i + 1, None, started).await?;
        }
        match direction {
            Direction::Up => {
                set_record(
                    conn,
                    d,
                    &m.version,
                    "applied",
                    statements.len(),
                    None,
                    started,
                )
                .await
            }
            Direction::Down => delete_record(conn, d, &m.version).await,
        }
    }
}

fn statement_failed(m: &Migration, i: usize, n: usize, sql: &str, e: Error, note: &str) -> Error {
    let first: String = sql.chars().take(200).collect();
    Error::Migration {
        version: Some(m.version.clone()),
        message: format!(
            "statement {} of {n} failed: {e} (statement: {first}); {note}",
            i + 1
        ),
    }
}

fn is_zero(v: &Value) -> bool {
    matches!(
        v,
        Value::I64(0) | Value::I32(0) | Value::I16(0) | Value::Bool(false)
    ) || matches!(v, Value::Text(t) if t == "0")
}

fn placeholder(d: Dialect, n: usize) -> String {
    if d == Dialect::Postgres {
        format!("${n}")
    } else {
        "?".into()
    }
}

async fn run(conn: &mut Conn, sql: &str, params: Vec<Value>) -> Result<u64> {
    let text: Arc<str> = Arc::from(sql);
    let done = conn
        .execute(&text, &params)
        .await
        .map_err(|e| e.for_statement(sql))?;
    Ok(done.rows_affected)
}

async fn run_fetch(conn: &mut Conn, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
    let text: Arc<str> = Arc::from(sql);
    let set = conn
        .fetch(&text, &params)
        .await
        .map_err(|e| e.for_statement(sql))?;
    Ok(set.into_rows())
}

fn applied_table_ddl(d: Dialect) -> Vec<&'static str> {
    match d {
        Dialect::Sqlite => vec![
            "CREATE TABLE IF NOT EXISTS orm_migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, \
             checksum TEXT NOT NULL, applied_at TEXT NOT NULL, duration_ms INTEGER NOT NULL, status TEXT NOT NULL, \
             statements_run INTEGER NOT NULL, error TEXT)",
            "CREATE TABLE IF NOT EXISTS orm_migrations_lock (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
            "INSERT OR IGNORE INTO orm_migrations_lock (id, n) VALUES (1, 0)",
        ],
        Dialect::Postgres => vec![
            "CREATE TABLE IF NOT EXISTS orm_migrations (version varchar(255) PRIMARY KEY, name text NOT NULL, \
             checksum varchar(64) NOT NULL, applied_at text NOT NULL, duration_ms bigint NOT NULL, \
             status varchar(16) NOT NULL, statements_run bigint NOT NULL, error text)",
        ],
        Dialect::MySql => vec![
            "CREATE TABLE IF NOT EXISTS orm_migrations (version VARCHAR(255) PRIMARY KEY, name VARCHAR(255) NOT NULL, \
             checksum VARCHAR(64) NOT NULL, applied_at VARCHAR(40) NOT NULL, duration_ms BIGINT NOT NULL, \
             status VARCHAR(16) NOT NULL, statements_run BIGINT NOT NULL, error LONGTEXT) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ],
    }
}

/// A row of the applied table.
#[derive(Debug, Clone)]
struct Record {
    version: String,
    checksum: String,
    applied_at: String,
    duration_ms: i64,
    status: String,
    statements_run: i64,
    error: Option<String>,
}

impl Record {
    fn state(&self, migration: Option<&Migration>) -> State {
        match self.status.as_str() {
            "failed" => State::Failed {
                statements_run: self.statements_run,
                error: self.error.clone().unwrap_or_default(),
            },
            "running" => State::Running {
                statements_run: self.statements_run,
            },
            _ => match migration {
                None => State::Missing,
                Some(m) if m.checksum != self.checksum => State::Changed,
                Some(_) => State::Applied {
                    applied_at: self.applied_at.clone(),
                    duration_ms: self.duration_ms,
                },
            },
        }
    }
}

async fn read_applied(conn: &mut Conn) -> Result<Vec<Record>> {
    let rows = run_fetch(
        conn,
        "SELECT version, checksum, applied_at, duration_ms, status, statements_run, error FROM orm_migrations \
         ORDER BY version",
        vec![],
    )
    .await?;
    let text = introspect::text;
    let int = |r: &Row, i: usize| text(r, i).and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
    Ok(rows
        .iter()
        .map(|r| Record {
            version: text(r, 0).unwrap_or_default(),
            checksum: text(r, 1).unwrap_or_default(),
            applied_at: text(r, 2).unwrap_or_default(),
            duration_ms: int(r, 3),
            status: text(r, 4).unwrap_or_default(),
            statements_run: int(r, 5),
            error: text(r, 6),
        })
        .collect())
}

async fn insert_record(
    conn: &mut Conn,
    d: Dialect,
    m: &Migration,
    status: &str,
    statements_run: usize,
    started: Instant,
    error: Option<&str>,
) -> Result<()> {
    let p: Vec<String> = (1..=8).map(|n| placeholder(d, n)).collect();
    let sql = format!(
        "INSERT INTO orm_migrations (version, name, checksum, applied_at, duration_ms, status, statements_run, error) \
         VALUES ({})",
        p.join(", ")
    );
    run(
        conn,
        &sql,
        vec![
            Value::Text(m.version.clone()),
            Value::Text(m.name.clone()),
            Value::Text(m.checksum.clone()),
            Value::Text(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            Value::I64(started.elapsed().as_millis() as i64),
            Value::Text(status.into()),
            Value::I64(statements_run as i64),
            error.map_or(Value::Null(crate::value::SqlType::Text), |e| {
                Value::Text(e.into())
            }),
        ],
    )
    .await?;
    Ok(())
}

async fn set_record(
    conn: &mut Conn,
    d: Dialect,
    version: &str,
    status: &str,
    statements_run: usize,
    error: Option<&str>,
    started: Instant,
) -> Result<()> {
    let sql = format!(
        "UPDATE orm_migrations SET status = {}, statements_run = {}, error = {}, duration_ms = {} WHERE version = {}",
        placeholder(d, 1),
        placeholder(d, 2),
        placeholder(d, 3),
        placeholder(d, 4),
        placeholder(d, 5)
    );
    run(
        conn,
        &sql,
        vec![
            Value::Text(status.into()),
            Value::I64(statements_run as i64),
            error.map_or(Value::Null(crate::value::SqlType::Text), |e| {
                Value::Text(e.into())
            }),
            Value::I64(started.elapsed().as_millis() as i64),
            Value::Text(version.into()),
        ],
    )
    .await?;
    Ok(())
}

async fn delete_record(conn: &mut Conn, d: Dialect, version: &str) -> Result<()> {
    let sql = format!(
        "DELETE FROM orm_migrations WHERE version = {}",
        placeholder(d, 1)
    );
    run(conn, &sql, vec![Value::Text(version.into())]).await?;
    Ok(())
}

/// A migration file: a header, then each statement under the change it
/// belongs to and what it locks.
fn file_text(d: Dialect, version: &str, which: &str, steps: &[Step], risks: &[String]) -> String {
    let mut out = format!(
        "-- {which} migration {version}, generated by orm for {}; edit freely before it is applied.\n\
         -- orm:dialect {}\n",
        d.spec().name,
        d.spec().name
    );
    if d == Dialect::Sqlite && steps.iter().any(|s| s.change.starts_with("rebuild ")) {
        out.push_str("-- orm:foreign-keys off (a table is rebuilt; checked before the commit)\n");
    }
    if steps.iter().any(|s| s.outside_transaction) {
        out.push_str(
            "-- orm:no-transaction (CREATE INDEX CONCURRENTLY cannot run in a transaction)\n",
        );
    }
    match d {
        Dialect::MySql => out.push_str(
            "-- MySQL commits each DDL statement: this migration is not one transaction; the applied table\n\
             -- records how many statements ran if one fails.\n",
        ),
        _ => out.push_str("-- Runs in one transaction with its record in orm_migrations.\n"),
    }
    for r in risks {
        out.push_str(&format!("-- DESTRUCTIVE: {r}\n"));
    }
    let mut last_change = String::new();
    for s in steps {
        out.push('\n');
        if s.change != last_change {
            out.push_str(&format!("-- {}\n", s.change));
            last_change = s.change.clone();
        }
        out.push_str(&format!("-- locks: {}\n{};\n", s.locks, s.sql));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn table_patterns() {
        assert!(matches("users", "users"));
        assert!(!matches("users", "users2"));
        assert!(matches("app_*", "app_users"));
        assert!(matches("*_log", "audit_log"));
        assert!(matches("a*z", "az"));
        assert!(!matches("ab*ba", "aba"));
    }
}
