//! Schema migrations, as a user of Alembic or Flyway expects them: a schema
//! built by `create_all` diffs as empty; every kind of change generates,
//! applies (the database then equals the entities) and reverts (the
//! database equals them as before); destructive plans need an opt-in; two
//! processes migrating at once apply each migration once; a failed
//! migration leaves the database and the applied table consistent; a
//! changed applied file is refused; `check` reports drift.

use std::path::{Path, PathBuf};

use orm_core::migrate::{Change, GenerateOptions, Migration, MigrationConn, State, StepFuture};
use orm_core::prelude::*;
use orm_core::{ConnectOptions, Dialect, EntityMeta, Value};
use tests::{Backend, TestDb, backend_tests, numbered as ph};

/// The first version of the schema.
mod v1 {
    use orm_core::EntityMeta;
    use orm_core::prelude::*;

    #[entity(table = "mg_authors")]
    pub struct Author {
        #[key(auto)]
        pub id: i64,
        #[column(unique, len = 40)]
        pub name: String,
        pub bio: Option<String>,
    }

    #[entity(table = "mg_books")]
    pub struct Book {
        #[key(auto)]
        pub id: i64,
        #[column(references = Author, on_delete = "cascade")]
        pub author_id: i64,
        #[column(len = 60)]
        pub title: String,
        pub pages: i32,
    }

    pub fn all() -> Vec<&'static EntityMeta> {
        vec![Author::schema(), Book::schema()]
    }
}

/// The second: a NOT NULL column with a default, a nullable one, a rename,
/// a widened type, a multi-column unique constraint and index, a new table
/// with a many-to-many association, a new foreign key and index.
mod v2 {
    use orm_core::EntityMeta;
    use orm_core::prelude::*;

    #[entity(table = "mg_authors")]
    pub struct Author {
        #[key(auto)]
        pub id: i64,
        #[column(unique, len = 40)]
        pub name: String,
        pub bio: Option<String>,
        #[column(default = "0")]
        pub visits: i32,
        pub country: Option<String>,
    }

    #[entity(table = "mg_books", unique(author_id, name), index(pages, id))]
    pub struct Book {
        #[key(auto)]
        pub id: i64,
        #[column(references = Author, on_delete = "cascade")]
        pub author_id: i64,
        #[column(len = 120, renamed_from = "title")]
        pub name: String,
        pub pages: i32,
        #[column(index, references = Shelf, on_delete = "set_null")]
        pub shelf_id: Option<i64>,
        #[many_to_many(Tag, via = "mg_book_tags")]
        pub tags: Many<Tag>,
    }

    #[entity(table = "mg_shelves")]
    pub struct Shelf {
        #[key(auto)]
        pub id: i64,
        #[column(len = 20)]
        pub label: String,
    }

    #[entity(table = "mg_tags")]
    pub struct Tag {
        #[key(auto)]
        pub id: i64,
        #[column(unique, len = 30)]
        pub label: String,
    }

    pub fn all() -> Vec<&'static EntityMeta> {
        vec![
            Author::schema(),
            Shelf::schema(),
            Book::schema(),
            Tag::schema(),
        ]
    }
}

/// The third, destructive: `bio` dropped, `pages` made nullable and then
/// the unique constraint dropped; `visits` NOT NULL stays.
mod v3 {
    use orm_core::EntityMeta;
    use orm_core::prelude::*;

    #[entity(table = "mg_authors")]
    pub struct Author {
        #[key(auto)]
        pub id: i64,
        #[column(unique, len = 40)]
        pub name: String,
        #[column(default = "0")]
        pub visits: i32,
        pub country: Option<String>,
    }

    #[entity(table = "mg_books", index(pages, id))]
    pub struct Book {
        #[key(auto)]
        pub id: i64,
        #[column(references = Author, on_delete = "cascade")]
        pub author_id: i64,
        #[column(len = 120)]
        pub name: String,
        pub pages: Option<i32>,
        #[column(index, references = Shelf, on_delete = "set_null")]
        pub shelf_id: Option<i64>,
        #[many_to_many(Tag, via = "mg_book_tags")]
        pub tags: Many<Tag>,
    }

    pub use super::v2::{Shelf, Tag};

    pub fn all() -> Vec<&'static EntityMeta> {
        vec![
            Author::schema(),
            Shelf::schema(),
            Book::schema(),
            Tag::schema(),
        ]
    }
}

/// Every column type and constraint kind `create_all` writes.
mod rich {
    use orm_core::EntityMeta;
    use orm_core::prelude::*;

    #[entity(table = "mg_kinds", unique(code, day), index(score, at))]
    pub struct Kind {
        #[key(auto)]
        pub id: i64,
        #[column(len = 10)]
        pub code: String,
        pub note: String,
        pub maybe: Option<String>,
        pub small: i16,
        pub int: i32,
        #[column(default = "7")]
        pub score: i64,
        pub ratio: f64,
        pub ratio32: f32,
        #[column(default = "false")]
        pub flag: bool,
        pub data: Vec<u8>,
        pub at: chrono::NaiveDateTime,
        pub at_tz: chrono::DateTime<chrono::Utc>,
        pub day: chrono::NaiveDate,
        pub time: chrono::NaiveTime,
        pub uid: uuid::Uuid,
        pub doc: serde_json::Value,
        pub price: rust_decimal::Decimal,
        pub byte: u8,
        pub port: u16,
        pub count: Option<u32>,
        pub host: std::net::IpAddr,
        pub subnet: Option<orm_core::IpNetwork>,
        pub rebate: Option<rust_decimal::Decimal>,
        #[column(precision = 12, scale = 2)]
        pub fee: Option<rust_decimal::Decimal>,
        pub route: Option<orm_core::types::Cidr>,
        pub labels: Vec<String>,
        #[column(len = 8)]
        pub codes: Option<Vec<String>>,
        pub counts: Vec<i64>,
        pub serial: u64,
        #[column(default = "'new'", len = 12)]
        pub status: String,
        #[column(index, references = Kind, on_delete = "set_null")]
        pub parent_id: Option<i64>,
        #[many_to_many(
            Kind,
            via = "mg_kind_links",
            owner_column = "from_id",
            target_column = "to_id"
        )]
        pub links: Many<Kind>,
    }

    #[entity(table = "mg_pairs")]
    pub struct Pair {
        #[key]
        pub a: i64,
        #[key]
        pub b: String,
        #[column(references = Kind)]
        pub kind_id: i64,
    }

    pub fn all() -> Vec<&'static EntityMeta> {
        vec![Kind::schema(), Pair::schema()]
    }
}

/// A fresh migrations directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "orm-migrations-{}-{n}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&path).expect("create the migrations directory");
        Dir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn versions(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Writes a hand-written migration.
    fn write(&self, version: &str, up: &str, down: Option<&str>) {
        let dir = self.0.join(version);
        std::fs::create_dir_all(&dir).expect("create");
        std::fs::write(dir.join("up.sql"), up).expect("write up");
        if let Some(down) = down {
            std::fs::write(dir.join("down.sql"), down).expect("write down");
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish() % 1_000_000
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn summary(changes: &[Change]) -> Vec<String> {
    changes.iter().map(|c| c.to_string()).collect()
}

/// The database agrees with `entities`.
async fn assert_matches(db: &Database, dir: &Dir, entities: &[&'static EntityMeta], when: &str) {
    if entities.is_empty() {
        let live = db
            .migrator(dir.path())
            .expect("migrator")
            .introspect()
            .await
            .expect("introspect");
        let names: Vec<&str> = live.tables.iter().map(|t| t.name.as_str()).collect();
        assert!(names.is_empty(), "{when}: tables left: {names:?}");
        return;
    }
    let drift = db
        .migrator(dir.path())
        .expect("migrator")
        .entities(entities)
        .check()
        .await
        .expect("check");
    assert!(
        drift.is_empty(),
        "{when}: the database differs from the entities: {:#?}",
        summary(&drift)
    );
}

/// Generates a migration from the database to `to` and applies it, then
/// checks that the database equals `to`, reverts it and checks that it
/// equals `from`, and applies it again. Returns the migration's changes.
async fn round_trip(
    db: &Database,
    dir: &Dir,
    from: &[&'static EntityMeta],
    to: &[&'static EntityMeta],
    options: GenerateOptions,
) -> Result<Vec<Change>> {
    let made = db
        .migrator(dir.path())?
        .entities(to)
        .generate("step", options)
        .await?
        .expect("a change to write");
    let up = db.migrator(dir.path())?;
    let applied = up.up().await?;
    assert_eq!(applied, std::slice::from_ref(&made.version));
    assert_matches(db, dir, to, "after up").await;
    let reverted = db.migrator(dir.path())?.down(1).await?;
    assert_eq!(reverted, std::slice::from_ref(&made.version));
    assert_matches(db, dir, from, "after down").await;
    let again = db.migrator(dir.path())?.up().await?;
    assert_eq!(again, std::slice::from_ref(&made.version));
    assert_matches(db, dir, to, "after up again").await;
    Ok(made.changes)
}

/// A job table whose state is a native enum (`mg_state`) through four
/// versions: labels added in the middle and at the end (with new columns
/// of the type, one NOT NULL with a new label as its default), then one
/// removed and the rest reordered, then the type renamed.
macro_rules! job_version {
    ($name:ident, $type_name:tt, [$($label:ident),*] $(, $extra:ident, $default:tt)?) => {
        // Lowercase variants: the labels are their names.
        #[allow(non_camel_case_types, dead_code)]
        mod $name {
            use orm_core::EntityMeta;
            use orm_core::prelude::*;

            #[derive(Debug, Clone, Copy, PartialEq, ColumnValue)]
            #[column_value(native_enum = $type_name)]
            pub enum State {
                $($label),*
            }

            #[entity(table = "mg_jobs")]
            pub struct Job {
                #[key(auto)]
                pub id: i64,
                pub state: State,
                $(
                    pub $extra: Option<State>,
                    #[column(default = $default)]
                    pub stage: State,
                )?
            }

            pub fn all() -> Vec<&'static EntityMeta> {
                vec![Job::schema()]
            }
        }
    };
}

job_version!(e1, "mg_state", [queued, done]);
job_version!(
    e2,
    "mg_state",
    [queued, running, done, failed],
    previous,
    "'running'"
);
job_version!(e3, "mg_state", [done, queued, failed], previous, "'failed'");
job_version!(e4, "mg_phase", [done, queued, failed], previous, "'failed'");

/// Ten rows, 0-9 (MariaDB stops a recursive CTE at 1,000 iterations).
const DIGITS: &str = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                      UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";

async fn count(db: &Database, sql: &str) -> Result<i64> {
    let rows = db.fetch_sql(sql.to_string(), vec![]).await?;
    Ok(match &rows[0].values()[0] {
        Value::I64(n) => *n,
        Value::I32(n) => i64::from(*n),
        other => panic!("a count, got {other:?}"),
    })
}

backend_tests! {
    async fn a_schema_built_by_create_all_diffs_as_empty(db) {
        let dir = Dir::new();
        db.create_all(&rich::all()).await?;
        assert_matches(&db, &dir, &rich::all(), "after create_all").await;
        db.create_all(&v1::all()).await?;
        let both: Vec<_> = rich::all().into_iter().chain(v1::all()).collect();
        assert_matches(&db, &dir, &both, "after a second create_all").await;
        // Nothing to generate.
        let made = db.migrator(dir.path())?.entities(&both).generate("none", Default::default()).await?;
        assert!(made.is_none());
        assert!(dir.versions().is_empty());
        // Another program's table: the diff would drop it, unless told to
        // leave it alone.
        db.execute_sql("CREATE TABLE other_app_log (id INTEGER PRIMARY KEY)".to_string(), vec![]).await?;
        let drift = db.migrator(dir.path())?.entities(&both).check().await?;
        assert_eq!(summary(&drift), ["drop table other_app_log"]);
        assert!(drift[0].risk().is_some());
        assert!(db.migrator(dir.path())?.entities(&both).ignore_tables(&["other_*"]).check().await?.is_empty());
        assert!(db.migrator(dir.path())?.entities(&both).only_tables(&["mg_*"]).check().await?.is_empty());
        Ok(())
    }

    async fn native_enum_types_migrate_with_their_tables(db) {
        let dir = Dir::new();
        let d = db.dialect();
        let changes = round_trip(&db, &dir, &[], &e1::all(), Default::default()).await?;
        let s = summary(&changes);
        if d == Dialect::Postgres {
            assert_eq!(s, ["create enum type mg_state (queued, done)", "create table mg_jobs"]);
        } else {
            assert_eq!(s, ["create table mg_jobs"]);
        }
        db.execute_sql(ph(d, "INSERT INTO mg_jobs (state) VALUES (?)"), vec![orm_core::ColumnValue::to_value(&e1::State::done)]).await?;
        // Labels added, the old ones in their order: no risk, the rows kept.
        let changes = round_trip(&db, &dir, &e1::all(), &e2::all(), Default::default()).await?;
        let s = summary(&changes);
        match d {
            Dialect::Postgres => {
                assert_eq!(s[0], "add labels to enum type mg_state: running, failed", "{s:#?}");
                let last = dir.versions().pop().expect("a migration");
                let up = std::fs::read_to_string(dir.path().join(last).join("up.sql")).expect("up.sql");
                assert!(up.contains("ALTER TYPE \"mg_state\" ADD VALUE 'running' AFTER 'queued'"), "{up}");
                assert!(up.contains("ADD VALUE 'failed' AFTER 'done'"), "{up}");
            }
            _ => assert!(s.iter().any(|c| c.starts_with("alter column mg_jobs.state: type")), "{s:#?}"),
        }
        assert!(s.iter().any(|c| c.starts_with("add column mg_jobs.previous")), "{s:#?}");
        // The new labels are the column's now.
        db.execute_sql(ph(d, "INSERT INTO mg_jobs (state, previous) VALUES (?, ?)"), vec![orm_core::ColumnValue::to_value(&e2::State::running), orm_core::ColumnValue::to_value(&e2::State::failed)]).await?;
        let mut session = db.session();
        let jobs = session.query::<e2::Job>().order_by(e2::Job::ID.asc()).all().await?;
        let got: Vec<(e2::State, Option<e2::State>, e2::State)> = jobs.iter().map(|j| (j.read().state, j.read().previous, j.read().stage)).collect();
        assert_eq!(
            got,
            [(e2::State::done, None, e2::State::running), (e2::State::running, Some(e2::State::failed), e2::State::running)],
            "the old row has the new label as its default"
        );
        session.commit().await?;
        drop(session);
        db.execute_sql("DELETE FROM mg_jobs WHERE state = 'running'".to_string(), vec![]).await?;
        db.execute_sql("UPDATE mg_jobs SET stage = 'queued'".to_string(), vec![]).await?;

        // A label removed: destructive, so an opt-in; the rows that hold
        // kept labels survive the type's replacement.
        let err = db.migrator(dir.path())?.entities(&e3::all()).generate("replace", Default::default()).await.unwrap_err();
        assert!(err.to_string().contains("running"), "{err}");
        let opt_in = GenerateOptions { allow_destructive: true, ..Default::default() };
        let changes = round_trip(&db, &dir, &e2::all(), &e3::all(), opt_in).await?;
        let s = summary(&changes);
        if d == Dialect::Postgres {
            assert!(s[0].starts_with("replace enum type mg_state"), "{s:#?}");
        }
        let mut session = db.session();
        let jobs = session.query::<e3::Job>().filter(e3::Job::STATE.eq(e3::State::done)).all().await?;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].read().state, e3::State::done);
        session.commit().await?;
        drop(session);
        // Sorted as declared now: done < queued.
        if d != Dialect::Sqlite {
            db.execute_sql(ph(d, "INSERT INTO mg_jobs (state) VALUES (?)"), vec![orm_core::ColumnValue::to_value(&e3::State::queued)]).await?;
            let mut session = db.session();
            let sorted = session.query::<e3::Job>().order_by(e3::Job::STATE.desc()).all().await?;
            assert_eq!(sorted.iter().map(|j| j.read().state).collect::<Vec<_>>(), [e3::State::queued, e3::State::done]);
            assert_eq!(sorted[0].read().stage, e3::State::failed, "the new default");
            session.commit().await?;
        }

        // The type renamed (PostgreSQL; MySQL's and SQLite's enums have no
        // name): its columns convert through text, defaults kept. (A
        // change of a column's type is flagged: the diff does not compare
        // the two types' labels.)
        if d == Dialect::Postgres {
            let changes = round_trip(&db, &dir, &e3::all(), &e4::all(), opt_in).await?;
            let s = summary(&changes);
            assert_eq!(s[0], "create enum type mg_phase (done, queued, failed)", "{s:#?}");
            assert_eq!(s.last().map(String::as_str), Some("drop enum type mg_state"), "{s:#?}");
        } else {
            assert!(db.migrator(dir.path())?.entities(&e4::all()).check().await?.is_empty());
        }
        let mut session = db.session();
        assert_eq!(session.query::<e4::Job>().filter(e4::Job::STATE.eq(e4::State::done)).count().await?, 1);
        session.commit().await?;
        drop(session);

        // Down to nothing: the type goes after its table.
        db.migrator(dir.path())?.down_to(None).await?;
        assert_matches(&db, &dir, &[], "after down to nothing").await;
        let live = db.migrator(dir.path())?.introspect().await?;
        assert!(live.enums.is_empty(), "{:?}", live.enums);
        Ok(())
    }

    async fn every_kind_of_change_round_trips(db) {
        let dir = Dir::new();
        // Create from nothing: two tables, in foreign-key order.
        let changes = round_trip(&db, &dir, &[], &v1::all(), Default::default()).await?;
        assert_eq!(summary(&changes), ["create table mg_authors", "create table mg_books"]);
        // Rows survive what follows.
        let d = db.dialect();
        db.execute_sql(ph(d, "INSERT INTO mg_authors (name, bio) VALUES (?, ?)"), vec!["ann".into(), Value::Null(orm_core::SqlType::Text)]).await?;
        db.execute_sql(ph(d, "INSERT INTO mg_books (author_id, title, pages) VALUES (1, ?, 10)"), vec!["first".into()]).await?;

        let changes = round_trip(&db, &dir, &v1::all(), &v2::all(), Default::default()).await?;
        let s = summary(&changes);
        for want in [
            "create table mg_shelves",
            "create table mg_tags",
            "create table mg_book_tags",
            "rename column mg_books.title to name",
            "add column mg_authors.visits",
            "add column mg_authors.country",
            "add column mg_books.shelf_id",
            "add unique index mg_books (author_id, name)",
            "add index mg_books (pages, id)",
            "add index mg_books (shelf_id)",
            "add foreign key mg_books (shelf_id) -> mg_shelves (id) on delete SET NULL",
        ] {
            assert!(s.iter().any(|c| c.starts_with(want)), "{want} missing from {s:#?}");
        }
        if d != Dialect::Sqlite {
            // varchar(60) -> varchar(120) (SQLite's TEXT has no length).
            assert!(s.iter().any(|c| c.starts_with("alter column mg_books.name: type")), "{s:#?}");
        }
        // The renamed column kept its value; the new one has its default.
        let rows = db.fetch_sql("SELECT name FROM mg_books".to_string(), vec![]).await?;
        assert_eq!(rows[0].get::<String>("name")?, "first");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_authors WHERE visits = 0").await?, 1);

        // A row that points at the books: SQLite rebuilds mg_books below
        // (dropping the old table would cascade to it with foreign keys on).
        db.execute_sql("INSERT INTO mg_tags (label) VALUES ('sf')".to_string(), vec![]).await?;
        db.execute_sql("INSERT INTO mg_book_tags (book_id, tag_id) VALUES (1, 1)".to_string(), vec![]).await?;

        // Destructive: refused without the opt-in, nothing written.
        let before = dir.versions();
        let err = db.migrator(dir.path())?.entities(&v3::all()).generate("drop_bio", Default::default()).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Migration { .. }), "{err}");
        assert!(text.contains("drops column mg_authors.bio"), "{text}");
        assert!(text.contains("drops index") || text.contains("unique") || text.contains("bio"), "{text}");
        assert_eq!(dir.versions(), before, "a refused plan writes nothing");

        let opt_in = GenerateOptions { allow_destructive: true, ..Default::default() };
        let changes = round_trip(&db, &dir, &v2::all(), &v3::all(), opt_in).await?;
        let s = summary(&changes);
        assert!(s.iter().any(|c| c == "drop column mg_authors.bio"), "{s:#?}");
        assert!(s.iter().any(|c| c.starts_with("drop unique index")), "{s:#?}");
        assert!(s.iter().any(|c| c.starts_with("alter column mg_books.pages: NULL")), "{s:#?}");
        // Still the same rows.
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_books").await?, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_book_tags").await?, 1, "the association row survived");
        if d == Dialect::Sqlite {
            let last = dir.versions().pop().expect("a migration");
            let up = std::fs::read_to_string(dir.path().join(last).join("up.sql")).expect("up.sql");
            assert!(up.contains("-- orm:foreign-keys off") && up.contains("_orm_new_mg_books"), "{up}");
        }

        // All the way down and up again.
        let down = db.migrator(dir.path())?.down_to(None).await?;
        assert_eq!(down.len(), 3);
        assert_matches(&db, &dir, &[], "after down to nothing").await;
        let up = db.migrator(dir.path())?.up().await?;
        assert_eq!(up.len(), 3);
        assert_matches(&db, &dir, &v3::all(), "after up from nothing").await;
        let status = db.migrator(dir.path())?.status().await?;
        assert!(status.iter().all(|s| matches!(s.state, State::Applied { .. })), "{status:?}");
        Ok(())
    }

    async fn check_reports_drift_until_the_migration_is_applied(db) {
        let dir = Dir::new();
        db.create_all(&v1::all()).await?;
        let m = db.migrator(dir.path())?.entities(&v2::all());
        let drift = m.check().await?;
        assert!(!drift.is_empty());
        assert!(summary(&drift).iter().any(|c| c.starts_with("add column mg_authors.visits")));
        let made = m.generate("v2", Default::default()).await?.expect("a migration");
        // What `up` would run is the file, and nothing ran yet.
        let sql = db.migrator(dir.path())?.pending_sql().await?;
        assert!(sql.contains(&made.version) && sql.contains("visits"), "{sql}");
        assert!(!db.migrator(dir.path())?.entities(&v2::all()).check().await?.is_empty());
        db.migrator(dir.path())?.up().await?;
        assert!(db.migrator(dir.path())?.entities(&v2::all()).check().await?.is_empty());
        // Generating again while a migration is pending is refused.
        dir.write("99999999999999_later", "CREATE TABLE mg_later (id INTEGER PRIMARY KEY);", None);
        let err = db.migrator(dir.path())?.entities(&v3::all()).generate("x", GenerateOptions { allow_destructive: true, ..Default::default() }).await.unwrap_err();
        assert!(err.to_string().contains("not applied yet"), "{err}");
        Ok(())
    }

    async fn a_changed_applied_file_is_refused(db) {
        let dir = Dir::new();
        dir.write("20260101000000_one", "CREATE TABLE mg_one (id INTEGER PRIMARY KEY);", Some("DROP TABLE mg_one;"));
        db.migrator(dir.path())?.up().await?;
        std::fs::write(dir.path().join("20260101000000_one/up.sql"), "CREATE TABLE mg_one (id INTEGER PRIMARY KEY, x INTEGER);")
            .expect("edit");
        dir.write("20260102000000_two", "CREATE TABLE mg_two (id INTEGER PRIMARY KEY);", None);
        let m = db.migrator(dir.path())?;
        let err = m.up().await.unwrap_err();
        assert!(matches!(&err, Error::Migration { version: Some(v), .. } if v == "20260101000000_one"), "{err}");
        assert!(err.to_string().contains("checksum"), "{err}");
        let status = m.status().await?;
        assert_eq!(status[0].state, State::Changed);
        assert_eq!(status[1].state, State::Pending);
        // Nothing after it ran.
        assert!(db.fetch_sql("SELECT * FROM mg_two".to_string(), vec![]).await.is_err());
        // A migration with no down cannot be reverted, and says so.
        std::fs::write(dir.path().join("20260101000000_one/up.sql"), "CREATE TABLE mg_one (id INTEGER PRIMARY KEY);").expect("restore");
        db.migrator(dir.path())?.up().await?;
        let err = db.migrator(dir.path())?.down(1).await.unwrap_err();
        assert!(err.to_string().contains("no down migration"), "{err}");
        Ok(())
    }

    async fn a_failing_migration_leaves_the_database_and_the_record_consistent(db) {
        let dir = Dir::new();
        dir.write("20260101000000_ok", "CREATE TABLE mg_ok (id INTEGER PRIMARY KEY);", None);
        dir.write(
            "20260102000000_bad",
            "CREATE TABLE mg_half (id INTEGER PRIMARY KEY);\nINSERT INTO mg_missing (id) VALUES (1);\nCREATE TABLE mg_never (id INTEGER PRIMARY KEY);",
            None,
        );
        let err = db.migrator(dir.path())?.up().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(&err, Error::Migration { version: Some(v), .. } if v == "20260102000000_bad"), "{err}");
        assert!(text.contains("statement 2 of 3 failed"), "{text}");
        let status = db.migrator(dir.path())?.status().await?;
        assert!(matches!(status[0].state, State::Applied { .. }), "{status:?}");
        assert!(db.fetch_sql("SELECT * FROM mg_never".to_string(), vec![]).await.is_err());
        if db.dialect() == Dialect::MySql {
            // Implicit commits: the first statement stayed, and the record says so.
            assert!(text.contains("MySQL commits each DDL statement"), "{text}");
            assert_eq!(status[1].state, State::Failed { statements_run: 1, error: text.clone() });
            db.fetch_sql("SELECT * FROM mg_half".to_string(), vec![]).await?;
            // Later runs stop until it is repaired.
            let again = db.migrator(dir.path())?.up().await.unwrap_err();
            assert!(again.to_string().contains("failed after 1 statement"), "{again}");
            db.execute_sql("DROP TABLE mg_half".to_string(), vec![]).await?;
            assert!(db.migrator(dir.path())?.repair("20260102000000_bad").await?);
        } else {
            // One transaction: nothing of it, and no record.
            assert!(text.contains("rolled back"), "{text}");
            assert_eq!(status[1].state, State::Pending);
            assert!(db.fetch_sql("SELECT * FROM mg_half".to_string(), vec![]).await.is_err());
        }
        // Fixed, it applies.
        std::fs::write(
            dir.path().join("20260102000000_bad/up.sql"),
            "CREATE TABLE mg_half (id INTEGER PRIMARY KEY);\nCREATE TABLE mg_never (id INTEGER PRIMARY KEY);",
        )
        .expect("fix");
        let applied = db.migrator(dir.path())?.up().await?;
        assert_eq!(applied, ["20260102000000_bad"]);
        db.fetch_sql("SELECT * FROM mg_never".to_string(), vec![]).await?;
        Ok(())
    }

    async fn up_to_and_down_to_stop_at_a_version(db) {
        let dir = Dir::new();
        counted_migrations(&dir);
        let m = db.migrator(dir.path())?;
        assert_eq!(m.up_to(Some("20260102000000_two")).await?, ["20260101000000_cx", "20260102000000_two"]);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_cx").await?, 1);
        let pending = m.pending_sql().await?;
        assert!(pending.contains("20260103000000_three") && !pending.contains("_two"), "{pending}");
        assert_eq!(m.up().await?, ["20260103000000_three"]);
        assert_eq!(m.down_to(Some("20260101000000_cx")).await?, ["20260103000000_three", "20260102000000_two"]);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_cx").await?, 0);
        let err = m.up_to(Some("20991231000000_nope")).await.unwrap_err();
        assert!(err.to_string().contains("no such migration"), "{err}");
        let states: Vec<State> = m.status().await?.into_iter().map(|s| s.state).collect();
        assert!(matches!(states[0], State::Applied { .. }) && states[1] == State::Pending && states[2] == State::Pending, "{states:?}");
        Ok(())
    }

    async fn rust_migrations_change_data_in_the_migration_transaction(db) {
        fn fill<'a>(conn: &'a mut MigrationConn<'_>) -> StepFuture<'a> {
            Box::pin(async move {
                conn.execute("UPDATE mg_authors SET bio = 'filled' WHERE bio IS NULL", vec![]).await?;
                Ok(())
            })
        }
        fn fail<'a>(conn: &'a mut MigrationConn<'_>) -> StepFuture<'a> {
            Box::pin(async move {
                conn.execute("UPDATE mg_authors SET bio = 'half'", vec![]).await?;
                conn.execute("UPDATE mg_nowhere SET x = 1", vec![]).await?;
                Ok(())
            })
        }
        let dir = Dir::new();
        db.create_all(&v1::all()).await?;
        let d = db.dialect();
        db.execute_sql(ph(d, "INSERT INTO mg_authors (name) VALUES (?)"), vec!["ann".into()]).await?;
        let err = db.migrator(dir.path())?.with_migration(Migration::rust("20260101000000", "fail", fail, None)).up().await.unwrap_err();
        assert!(err.to_string().contains("rolled back"), "{err}");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_authors WHERE bio IS NULL").await?, 1, "the failed migration's UPDATE was rolled back");
        let m = db.migrator(dir.path())?.with_migration(Migration::rust("20260102000000", "fill", fill, None));
        assert_eq!(m.up().await?, ["20260102000000_fill"]);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_authors WHERE bio = 'filled'").await?, 1);
        assert!(m.up().await?.is_empty(), "applied once");
        Ok(())
    }

    async fn a_table_of_100000_rows_gets_a_not_null_column_with_a_default(db) {
        let dir = Dir::new();
        db.create_all(&v1::all()).await?;
        db.execute_sql("INSERT INTO mg_authors (name) VALUES ('ann')".to_string(), vec![]).await?;
        let fill = match db.dialect() {
            Dialect::Postgres => "INSERT INTO mg_books (author_id, title, pages) SELECT 1, 'b' || g, g FROM generate_series(1, 100000) g",
            Dialect::Sqlite => "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 100000) \
                                INSERT INTO mg_books (author_id, title, pages) SELECT 1, 'b' || n, n FROM seq",
            Dialect::MySql => &format!(
                "INSERT INTO mg_books (author_id, title, pages) SELECT 1, CONCAT('b', n), n FROM \
                 (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1 AS n \
                 FROM {DIGITS} a, {DIGITS} b, {DIGITS} c, {DIGITS} e, {DIGITS} f) seq"
            ),
        };
        db.execute_sql(fill.to_string(), vec![]).await?;
        let made = db.migrator(dir.path())?.entities(&with_rating::all()).generate("rating", Default::default()).await?.expect("a migration");
        assert_eq!(summary(&made.changes), ["add column mg_books.rating integer"]
            .map(|s| if db.dialect() == Dialect::MySql { s.replace("integer", "int") } else { s.to_string() }));
        if db.dialect() == Dialect::MySql {
            assert!(made.up.contains("ALGORITHM=INSTANT"), "{}", made.up);
        }
        db.migrator(dir.path())?.up().await?;
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_books").await?, 100_000);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM mg_books WHERE rating = 3").await?, 100_000);
        assert_matches(&db, &dir, &with_rating::all(), "after the migration").await;
        Ok(())
    }
}

/// v1 with a NOT NULL column added to the books, with a default.
mod with_rating {
    use orm_core::EntityMeta;
    use orm_core::prelude::*;

    pub use super::v1::Author;

    #[entity(table = "mg_books")]
    pub struct Book {
        #[key(auto)]
        pub id: i64,
        #[column(references = Author, on_delete = "cascade")]
        pub author_id: i64,
        #[column(len = 60)]
        pub title: String,
        pub pages: i32,
        #[column(default = "3")]
        pub rating: i32,
    }

    pub fn all() -> Vec<&'static EntityMeta> {
        vec![Author::schema(), Book::schema()]
    }
}

/// Two migrators on separate pools start `up` at once: each migration runs
/// once (each INSERT below would otherwise count twice).
async fn two_processes_apply_each_migration_once(backend: Backend) {
    let test = TestDb::new(backend).await;
    let mut options = ConnectOptions::default();
    test.same_drivers(&mut options);
    let other = Database::connect_with(&test.url, options)
        .await
        .expect("a second pool");
    let dir = Dir::new();
    dir.write(
        "20260101000000_runs",
        "CREATE TABLE mg_runs (n INTEGER NOT NULL);",
        None,
    );
    for i in 2..=6 {
        dir.write(
            &format!("2026010{i}000000_run{i}"),
            &format!("INSERT INTO mg_runs (n) VALUES ({i});"),
            None,
        );
    }
    let a = test.db.migrator(dir.path()).expect("migrator");
    let b = other.migrator(dir.path()).expect("migrator");
    let (ra, rb) = tokio::join!(a.up(), b.up());
    let (ra, rb) = (ra.expect("first"), rb.expect("second"));
    let mut all: Vec<String> = ra.iter().chain(rb.iter()).cloned().collect();
    all.sort();
    assert_eq!(
        all,
        dir.versions(),
        "each migration applied by exactly one of them: {ra:?} / {rb:?}"
    );
    assert_eq!(
        count(&test.db, "SELECT COUNT(*) FROM mg_runs")
            .await
            .expect("count"),
        5
    );
    assert_eq!(
        count(&test.db, "SELECT COUNT(*) FROM orm_migrations")
            .await
            .expect("count"),
        6
    );
    other.close().await;
    test.cleanup().await;
}

tests::on_backends!(
    two_processes_apply_each_migration_once:
    sqlite_file => SqliteFile,
    sqlite_sqlx_file => SqliteSqlxFile,
    postgres => Postgres,
    mysql => MySql,
    mysql_sqlx => MySqlSqlx,
);

/// PostgreSQL's online-safe index: built CONCURRENTLY outside a transaction.
#[tokio::test]
async fn postgres_builds_indexes_concurrently_when_asked() {
    tests::run(Backend::Postgres, |db| async move {
        let dir = Dir::new();
        db.create_all(&v1::all()).await?;
        let options = GenerateOptions {
            render: orm_core::migrate::RenderOptions {
                concurrent_indexes: true,
            },
            ..Default::default()
        };
        let made = db
            .migrator(dir.path())?
            .entities(&indexed::all())
            .generate("ix", options)
            .await?
            .expect("a migration");
        assert!(made.up.contains("CREATE INDEX CONCURRENTLY"), "{}", made.up);
        assert!(made.up.contains("-- orm:no-transaction"), "{}", made.up);
        db.migrator(dir.path())?.up().await?;
        assert_matches(&db, &dir, &indexed::all(), "after the concurrent index").await;
        db.migrator(dir.path())?.down(1).await?;
        assert_matches(&db, &dir, &v1::all(), "after down").await;
        Ok(())
    })
    .await
}

mod indexed {
    use orm_core::EntityMeta;
    use orm_core::prelude::*;

    pub use super::v1::Author;

    #[entity(table = "mg_books", index(pages, title))]
    pub struct Book {
        #[key(auto)]
        pub id: i64,
        #[column(references = Author, on_delete = "cascade")]
        pub author_id: i64,
        #[column(len = 60)]
        pub title: String,
        pub pages: i32,
    }

    pub fn all() -> Vec<&'static EntityMeta> {
        vec![Author::schema(), Book::schema()]
    }
}

/// A migrator waiting for the lock while another builds an index
/// CONCURRENTLY: the builder waits for every older snapshot, so a waiter
/// that held one (a blocking `pg_advisory_lock`) would deadlock with it.
#[tokio::test]
async fn postgres_waiting_for_the_lock_does_not_block_a_concurrent_index() {
    let test = TestDb::new(Backend::Postgres).await;
    let other = Database::connect(&test.url).await.expect("a second pool");
    let dir = Dir::new();
    test.db.create_all(&v1::all()).await.expect("create");
    dir.write(
        "20260101000000_ix",
        "-- orm:no-transaction\nSELECT pg_sleep(0.5);\nCREATE INDEX CONCURRENTLY ix_mg_books_pages ON mg_books (pages);",
        None,
    );
    let a = test.db.migrator(dir.path()).expect("migrator");
    let b = other.migrator(dir.path()).expect("migrator");
    let late = async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        b.up().await
    };
    let (ra, rb) = tokio::join!(a.up(), late);
    assert_eq!(ra.expect("the builder"), ["20260101000000_ix"]);
    assert!(
        rb.expect("the waiter").is_empty(),
        "applied once, by the first"
    );
    other.close().await;
    test.cleanup().await;
}

/// Three migrations, each one statement, whose effects count: a run that
/// applied one twice, or recorded one it did not apply, shows in the rows.
fn counted_migrations(dir: &Dir) {
    dir.write(
        "20260101000000_cx",
        "CREATE TABLE mg_cx (n INTEGER NOT NULL);",
        Some("DROP TABLE mg_cx;"),
    );
    dir.write(
        "20260102000000_two",
        "INSERT INTO mg_cx (n) VALUES (2);",
        Some("DELETE FROM mg_cx WHERE n = 2;"),
    );
    dir.write(
        "20260103000000_three",
        "INSERT INTO mg_cx (n) VALUES (3);",
        Some("DELETE FROM mg_cx WHERE n = 3;"),
    );
}

async fn reset(observer: &Database) -> std::result::Result<(), String> {
    for t in ["mg_cx", "orm_migrations", "orm_migrations_lock"] {
        observer
            .execute_sql(format!("DROP TABLE IF EXISTS {t}"), vec![])
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

tests::observed_tests! {
    /// `up` dropped at every await point, then run again: on PostgreSQL and
    /// SQLite each migration is applied exactly once with its record (the
    /// dropped one rolled back with its transaction, the lock released with
    /// its connection); on MySQL a migration cut between its statement and
    /// its record is left `running`, and `up` refuses until it is repaired.
    async fn up_cancelled_at_every_await_point(db, observer, proxy) {
        use tests::cancel::{Run, every_poll, poll_at_most};
        let dir = Dir::new();
        counted_migrations(&dir);
        let mysql = db.dialect() == Dialect::MySql;
        let left_running = std::cell::Cell::new(0);
        let points = every_poll(400, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            let dir = &dir;
            let left_running = &left_running;
            async move {
                reset(&observer).await?;
                let m = db.migrator(dir.path()).map_err(|e| e.to_string())?;
                let run = poll_at_most(polls, m.up()).await;
                let completed = run.is_some();
                if let Some(result) = run {
                    result.map_err(|e| e.to_string())?;
                }
                // Finish (a leaked lock would hang here: bounded).
                let again = tokio::time::timeout(std::time::Duration::from_secs(30), m.up())
                    .await
                    .map_err(|_| format!("up after a drop at poll {polls} hung: the lock leaked"))?;
                if let Err(e) = again {
                    let text = e.to_string();
                    if !(mysql && text.contains("was left running")) {
                        return Err(format!("after a drop at poll {polls}: {text}"));
                    }
                    left_running.set(left_running.get() + 1);
                    return Ok(Run::Cancelled(polls));
                }
                let rows = observer.fetch_sql("SELECT n FROM mg_cx ORDER BY n".to_string(), vec![]).await.map_err(|e| e.to_string())?;
                let ns: Vec<i64> = rows.iter().map(|r| match &r.values()[0] {
                    Value::I64(n) => *n,
                    Value::I32(n) => i64::from(*n),
                    other => panic!("{other:?}"),
                }).collect();
                if ns != [2, 3] {
                    return Err(format!("after a drop at poll {polls}: rows {ns:?}, not each migration once"));
                }
                let recorded = count(&observer, "SELECT COUNT(*) FROM orm_migrations WHERE status = 'applied'").await.map_err(|e| e.to_string())?;
                if recorded != 3 {
                    return Err(format!("after a drop at poll {polls}: {recorded} records"));
                }
                Ok(if completed { Run::Completed } else { Run::Cancelled(polls) })
            }
        })
        .await?;
        println!("cancellation: migrate up on {:?}: {points} cancellation points, {} left running (MySQL)", db.dialect(), left_running.get());
        assert!(points >= 1, "up was never cancelled: {points}");
        if !mysql {
            assert_eq!(left_running.get(), 0);
        }
        Ok(())
    }
}
