//! Diesel 2.3, synchronous, written the way its documentation and guides
//! show: `table!` declarations, `joinable!`, structs deriving `Queryable`,
//! `Selectable`, `Identifiable`, `Associations` and `Insertable`,
//! `.select(T::as_select()).load(conn)`, `left_join` into `(User,
//! Option<Post>)` pairs, `insert_into(..).values(&rows)` (RETURNING with
//! `get_results` where Diesel has it), `belonging_to` + `grouped_by` for the
//! W4 graph, and `diesel::update(&row).set(..)` inside `conn.transaction`
//! for W5.
//!
//! One plain connection per backend (`PgConnection` over libpq,
//! `MysqlConnection` over libmariadb, `SqliteConnection` over the same
//! bundled SQLite as sqlx), as a simple application opens it, behind a
//! `std::sync::Mutex` in `Ctx`. Diesel is synchronous: the workload
//! functions call it directly and block the tokio worker while they run
//! (the runner runs one operation at a time). Diesel caches its prepared
//! statements per connection, but never UPDATEs, IN lists or multi-row
//! VALUES (its `statement_cache` module says why): each W5 UPDATE is
//! prepared again (prepare, execute, close on MariaDB; libpq's unnamed
//! statement on PostgreSQL), where raw sqlx reuses its cached one.
//!
//! PostgreSQL: `sslmode=disable` unless the URL sets it (libpq's default,
//! `prefer`, would negotiate TLS with this server; the bench's sqlx is built
//! without TLS, so raw sqlx, SeaORM and the ORM talk plain TCP).
//!
//! SQLite: the connection runs the floor's pragmas (`journal_mode = WAL`,
//! `synchronous = NORMAL`, `foreign_keys = ON`, a 5 s `busy_timeout`)
//! right after `establish`, as Diesel's SQLite documentation sets pragmas
//! (`batch_execute`). W3 uses `RETURNING` there (the
//! `returning_clauses_for_sqlite_3_35` feature).
//!
//! MySQL/MariaDB: Diesel's MySQL backend (MariaDB included) has no
//! `RETURNING`, and `insert_into`'s documentation offers `.get_results`
//! instead of `.execute` only where the backend has it; so W3 there is
//! `.execute`, rows inserted, no keys read back, as SeaORM does there (raw
//! sqlx and the ORM read keys back with MariaDB's `RETURNING`).

use std::error::Error;
use std::sync::{Mutex, MutexGuard};

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::Outcome;
use crate::schema::NewUserData;
use crate::workloads::{Backend, Ctx, GRAPH_USERS, JOIN_MIN_AGE, JOIN_USERS, UPDATE_USERS};

type R = Result<Outcome, Box<dyn Error>>;

/// The tables the seed creates (`crate::schema`; ids and foreign keys are
/// BIGINT, the counters INT, the strings VARCHAR(n); INTEGER and TEXT on SQLite).
mod tables {
    diesel::table! {
        bench_users (id) {
            id -> BigInt,
            name -> Varchar,
            email -> Varchar,
            age -> Integer,
            visits -> Integer,
        }
    }

    diesel::table! {
        bench_readings (id) {
            id -> BigInt,
            sensor -> BigInt,
            note -> Varchar,
        }
    }

    diesel::table! {
        bench_posts (id) {
            id -> BigInt,
            user_id -> BigInt,
            title -> Varchar,
            views -> Integer,
        }
    }

    diesel::table! {
        bench_comments (id) {
            id -> BigInt,
            post_id -> BigInt,
            body -> Varchar,
            likes -> Integer,
        }
    }

    diesel::table! {
        bench_new_users (id) {
            id -> BigInt,
            name -> Varchar,
            email -> Varchar,
            age -> Integer,
            visits -> Integer,
        }
    }

    diesel::joinable!(bench_posts -> bench_users (user_id));
    diesel::joinable!(bench_comments -> bench_posts (post_id));
    diesel::allow_tables_to_appear_in_same_query!(bench_users, bench_posts, bench_comments);
}

use tables::{bench_comments, bench_new_users, bench_posts, bench_readings, bench_users};

#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = bench_users)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::mysql::Mysql, diesel::sqlite::Sqlite))]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub age: i32,
    pub visits: i32,
}

#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = bench_posts, belongs_to(User))]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::mysql::Mysql, diesel::sqlite::Sqlite))]
pub struct Post {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub views: i32,
}

#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = bench_comments, belongs_to(Post))]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::mysql::Mysql, diesel::sqlite::Sqlite))]
pub struct Comment {
    pub id: i64,
    pub post_id: i64,
    pub body: String,
    pub likes: i32,
}

/// W9's rows: every column decoded, as the other peers decode them.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = bench_readings)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::mysql::Mysql, diesel::sqlite::Sqlite))]
pub struct Reading {
    pub id: i64,
    pub sensor: i64,
    pub note: String,
}

#[derive(Insertable)]
#[diesel(table_name = bench_new_users)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub age: i32,
    pub visits: i32,
}

pub enum Conn {
    Pg(PgConnection),
    My(MysqlConnection),
    Lite(SqliteConnection),
}

/// The peer's one connection, locked for each operation.
pub struct Diesel(Mutex<Conn>);

/// The same tokens for each connection type (Diesel picks the SQL dialect).
macro_rules! each {
    ($conn:expr, $c:ident => $body:expr) => {
        match &mut *$conn {
            Conn::Pg($c) => $body,
            Conn::My($c) => $body,
            Conn::Lite($c) => $body,
        }
    };
}

impl Diesel {
    /// `Connection::establish` on the bench's URL (a plain path for SQLite).
    pub fn connect(backend: Backend, url: &str) -> Result<Diesel, Box<dyn Error>> {
        let conn = match backend {
            Backend::Postgres => {
                // libpq's default `sslmode=prefer` would run TLS here; the sqlx build has no TLS.
                let url = if url.contains("sslmode=") {
                    url.to_string()
                } else {
                    format!("{url}{}sslmode=disable", if url.contains('?') { '&' } else { '?' })
                };
                Conn::Pg(PgConnection::establish(&url)?)
            }
            Backend::Mysql => Conn::My(MysqlConnection::establish(url)?),
            Backend::Sqlite => {
                let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
                let path = path.split('?').next().unwrap_or(path);
                let mut c = SqliteConnection::establish(path)?;
                c.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA busy_timeout = 5000;",
                )?;
                Conn::Lite(c)
            }
        };
        Ok(Diesel(Mutex::new(conn)))
    }

    /// A one-column answer of the connection (the runner's check of the
    /// SQLite pragmas: `PRAGMA synchronous`, `PRAGMA journal_mode`).
    pub fn pragma(&self, name: &str) -> Result<String, Box<dyn Error>> {
        #[derive(QueryableByName)]
        struct Answer {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        let mut conn = self.lock()?;
        let Conn::Lite(c) = &mut *conn else {
            return Err("pragmas are SQLite's".into());
        };
        let sql = format!("SELECT CAST({name} AS TEXT) AS value FROM pragma_{name}");
        let rows: Vec<Answer> = diesel::sql_query(sql).load(c)?;
        rows.into_iter().next().map(|a| a.value).ok_or_else(|| format!("PRAGMA {name}: no answer").into())
    }

    /// `SELECT COUNT(*) FROM bench_users` (the runner's first use of the connection).
    pub fn count_users(&self) -> Result<i64, Box<dyn Error>> {
        let mut conn = self.lock()?;
        Ok(each!(conn, c => bench_users::table.count().get_result::<i64>(c)?))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Conn>, Box<dyn Error>> {
        self.0.lock().map_err(|_| "diesel connection poisoned".into())
    }
}

/// Rows per multi-row INSERT under the bind limit (4 binds a row), as the other peers chunk.
fn chunk(backend: Backend) -> usize {
    if backend == Backend::Sqlite { 32_766 / 4 } else { 65_535 / 4 }
}

/// W1: `n` users into structs.
pub async fn load(ctx: &Ctx, n: usize) -> R {
    let mut conn = ctx.diesel.lock()?;
    let hi = ctx.lo + n as i64;
    let users: Vec<User> = each!(conn, c => bench_users::table
        .filter(bench_users::id.lt(hi))
        .select(User::as_select())
        .load(c)?);
    Ok(Outcome::new(users.len(), 1))
}

/// W9: `load_iter`, Diesel's row-by-row loading (`DefaultLoadingMode`:
/// libpq and libmysqlclient buffer the result client-side, SQLite steps).
pub async fn stream(ctx: &Ctx) -> R {
    use diesel::connection::DefaultLoadingMode;
    let mut conn = ctx.diesel.lock()?;
    let n = each!(conn, c => {
        let mut n = 0;
        for r in bench_readings::table.select(Reading::as_select()).load_iter::<Reading, DefaultLoadingMode>(c)? {
            let r = r?;
            n += usize::from(r.id > 0 && r.sensor >= 0 && !r.note.is_empty());
        }
        n
    });
    Ok(Outcome::new(n, 1))
}

/// W2: `left_join`, one LEFT JOIN into `(User, Option<Post>)` pairs.
pub async fn join(ctx: &Ctx) -> R {
    let mut conn = ctx.diesel.lock()?;
    let hi = ctx.lo + JOIN_USERS;
    let rows: Vec<(User, Option<Post>)> = each!(conn, c => bench_users::table
        .left_join(bench_posts::table)
        .filter(bench_users::id.lt(hi))
        .filter(bench_users::age.ge(JOIN_MIN_AGE))
        .select((User::as_select(), Option::<Post>::as_select()))
        .load(c)?);
    Ok(Outcome::new(rows.len(), 1))
}

/// W3: `insert_into(..).values(&rows)`, one multi-row INSERT per bind-limit
/// chunk, in autocommit; keys read back with `.returning(id).get_results`
/// on PostgreSQL and SQLite, rows affected (`execute`) on MySQL/MariaDB.
pub async fn insert(ctx: &Ctx, data: &[NewUserData]) -> R {
    let mut conn = ctx.diesel.lock()?;
    let chunk = chunk(ctx.backend);
    let mut count = 0;
    for part in data.chunks(chunk) {
        let rows: Vec<NewUser> =
            part.iter().map(|d| NewUser { name: &d.name, email: &d.email, age: d.age, visits: 0 }).collect();
        let insert = diesel::insert_into(bench_new_users::table).values(&rows);
        count += match &mut *conn {
            Conn::Pg(c) => {
                let ids: Vec<i64> = insert.returning(bench_new_users::id).get_results(c)?;
                ids.iter().filter(|id| **id > 0).count()
            }
            Conn::Lite(c) => {
                let ids: Vec<i64> = insert.returning(bench_new_users::id).get_results(c)?;
                ids.iter().filter(|id| **id > 0).count()
            }
            Conn::My(c) => insert.execute(c)?,
        };
    }
    Ok(Outcome::new(count, data.len().div_ceil(chunk) as u64))
}

/// W4's graph as the associations API gives it: a user with its posts, each with its comments.
type UserGraph = (User, Vec<(Post, Vec<Comment>)>);

/// W4, as Diesel's associations documentation writes it: the users, their
/// posts with `Post::belonging_to(&users)`, those posts' comments with
/// `Comment::belonging_to(&posts)` (one query per level: `= ANY($1)` on
/// PostgreSQL, `IN (..)` elsewhere), then `grouped_by` twice and `zip`.
/// The count walks the graph.
pub async fn graph(ctx: &Ctx) -> R {
    let mut conn = ctx.diesel.lock()?;
    let hi = ctx.lo + GRAPH_USERS;
    let (users, posts, comments) = each!(conn, c => {
        let users: Vec<User> = bench_users::table.filter(bench_users::id.lt(hi)).select(User::as_select()).load(c)?;
        let posts: Vec<Post> = Post::belonging_to(&users).select(Post::as_select()).load(c)?;
        let comments: Vec<Comment> = Comment::belonging_to(&posts).select(Comment::as_select()).load(c)?;
        (users, posts, comments)
    });
    drop(conn);
    let grouped_comments: Vec<Vec<Comment>> = comments.grouped_by(&posts);
    let posts_and_comments: Vec<Vec<(Post, Vec<Comment>)>> = posts.into_iter().zip(grouped_comments).grouped_by(&users);
    let graph: Vec<UserGraph> = users.into_iter().zip(posts_and_comments).collect();
    crate::workloads::graph_outcome(ctx, &graph, 3)
}

/// W5: in `conn.transaction`, the users, then for each
/// `diesel::update(&user).set(visits.eq(..))` (one `UPDATE .. SET visits
/// = ? WHERE id = ?` per row, as raw sqlx's loop; `save_changes` would write
/// every column and return the row: RETURNING, or a SELECT on MySQL), commit.
pub async fn update(ctx: &Ctx) -> R {
    let mut conn = ctx.diesel.lock()?;
    let hi = ctx.lo + UPDATE_USERS;
    let (n, changed) = each!(conn, c => c.transaction::<_, diesel::result::Error, _>(|c| {
        let mut users: Vec<User> =
            bench_users::table.filter(bench_users::id.lt(hi)).select(User::as_select()).load(c)?;
        let mut changed = 0;
        for u in &mut users {
            u.visits += 1;
            changed += diesel::update(&*u).set(bench_users::visits.eq(u.visits)).execute(c)?;
        }
        Ok((users.len() as u64, changed))
    })?);
    Ok(Outcome::new(changed, 1 + n))
}
