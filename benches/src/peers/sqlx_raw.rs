//! Raw sqlx, the floor of every ratio: one bare connection per backend
//! (`PgConnection::connect`, `MySqlConnection::connect`,
//! `SqliteConnection::connect_with` on the SQLite file in WAL mode with
//! `synchronous = NORMAL` and foreign keys on), no pool, so it pays no
//! acquire, no release and no ping; hand-written SQL,
//! `query_as` into `FromRow` structs, `QueryBuilder` for multi-row inserts
//! with `RETURNING id` (MariaDB has it too; a MySQL server takes
//! `LAST_INSERT_ID()`), and for W5 both the per-row UPDATE loop and one bulk
//! UPDATE (`FROM UNNEST` on PostgreSQL, `CASE` elsewhere). Lists of keys
//! (W4, W7) are one array parameter (`= ANY($1)`) on PostgreSQL, an IN list
//! built with `QueryBuilder` elsewhere.
//!
//! The connection sits behind a `tokio::sync::Mutex` (the runner's context
//! is shared by reference; one operation runs at a time, so the lock is
//! never contended: an uncontended lock is a few atomic operations, against
//! tens of microseconds for the cheapest statement). The runner's untimed
//! work (counts, cleanup, checks) uses this connection too.

use std::collections::HashMap;
use std::error::Error;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, MySqlConnection, PgConnection, QueryBuilder, SqliteConnection};
use tokio::sync::Mutex;

use super::Outcome;
use crate::schema::{
    CommentRow, NewUserData, PlaneRow, PostGraph, PostRow, ReadingRow, ReceiverRow, UserGraph, UserPostRow, UserRow,
};
use crate::workloads::receivers::{self, EDGE, NEW_FILTER};
use crate::workloads::{Backend, Ctx, GRAPH_USERS, JOIN_MIN_AGE, JOIN_USERS, UPDATE_USERS};

type R = Result<Outcome, Box<dyn Error>>;

pub enum Raw {
    Pg(Mutex<PgConnection>),
    My { conn: Mutex<MySqlConnection>, returning: bool },
    Lite(Mutex<SqliteConnection>),
}

/// The same tokens for each connection type (the SQL text is chosen per
/// backend): `$c` is the locked `&mut` connection.
macro_rules! each {
    ($raw:expr, $c:ident => $body:expr) => {
        match $raw {
            Raw::Pg(m) => {
                let mut guard = m.lock().await;
                let $c: &mut PgConnection = &mut guard;
                $body
            }
            Raw::My { conn: m, .. } => {
                let mut guard = m.lock().await;
                let $c: &mut MySqlConnection = &mut guard;
                $body
            }
            Raw::Lite(m) => {
                let mut guard = m.lock().await;
                let $c: &mut SqliteConnection = &mut guard;
                $body
            }
        }
    };
}

/// How every peer opens the SQLite file (each through its own API): WAL
/// journal, `synchronous = NORMAL` (WAL's usual setting: a commit is
/// durable at the next checkpoint, not fsynced on every commit), foreign
/// keys on, a 5 s busy timeout.
pub fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(sqlite_pragmas(SqliteConnectOptions::from_str(url)?.create_if_missing(true)))
}

/// The pragmas of [`sqlite_options`] on options built elsewhere (SeaORM's).
pub fn sqlite_pragmas(opts: SqliteConnectOptions) -> SqliteConnectOptions {
    opts.journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
}

impl Raw {
    /// One bare connection (sqlx's defaults otherwise: statement cache of
    /// 100, statement logging at a level no logger listens to).
    pub async fn connect(backend: Backend, url: &str) -> Result<Raw, Box<dyn Error>> {
        Ok(match backend {
            Backend::Postgres => Raw::Pg(Mutex::new(PgConnection::connect(url).await?)),
            Backend::Mysql => {
                let mut conn = MySqlConnection::connect(url).await?;
                let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&mut conn).await?;
                Raw::My { conn: Mutex::new(conn), returning: version.contains("MariaDB") }
            }
            Backend::Sqlite => Raw::Lite(Mutex::new(SqliteConnection::connect_with(&sqlite_options(url)?).await?)),
        })
    }

    fn pg(&self) -> bool {
        matches!(self, Raw::Pg(_))
    }

    /// `pg` on PostgreSQL, `other` (with `?` placeholders) elsewhere.
    fn sql(&self, pg: &'static str, other: &'static str) -> &'static str {
        if self.pg() { pg } else { other }
    }

    pub async fn scalar_i64(&self, sql: &str) -> Result<i64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        each!(self, c => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await)
    }

    /// A one-column text answer (`PRAGMA journal_mode`, versions).
    pub async fn scalar_text(&self, sql: &str) -> Result<String, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        each!(self, c => sqlx::query_scalar::<_, String>(sql).fetch_one(c).await)
    }

    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        each!(self, c => Ok(sqlx::query(sql).execute(c).await?.rows_affected()))
    }

    pub async fn version(&self) -> Result<String, sqlx::Error> {
        let sql = match self {
            Raw::Pg(_) => "SHOW server_version",
            Raw::My { .. } => "SELECT VERSION()",
            Raw::Lite(_) => "SELECT sqlite_version()",
        };
        self.scalar_text(sql).await
    }

    /// SQLite's `EXPLAIN QUERY PLAN` rows (their `detail` column).
    pub async fn plan(&self, sql: &str) -> Result<Vec<String>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        let rows: Vec<(i64, i64, i64, String)> = each!(self, c => sqlx::query_as(sql).fetch_all(c).await?);
        Ok(rows.into_iter().map(|r| r.3).collect())
    }

    /// W8's report into tuples.
    pub async fn report(&self, sql: String) -> Result<Vec<(i32, i64, i64)>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql);
        each!(self, c => sqlx::query_as(sql).fetch_all(c).await)
    }
}

/// W1: `n` users into structs.
pub async fn load(ctx: &Ctx, n: usize) -> R {
    let raw = &ctx.raw;
    let sql = raw.sql(
        "SELECT id, name, email, age, visits FROM bench_users WHERE id < $1",
        "SELECT id, name, email, age, visits FROM bench_users WHERE id < ?",
    );
    let hi = ctx.lo + n as i64;
    let rows: Vec<UserRow> = each!(raw, c => sqlx::query_as(sql).bind(hi).fetch_all(c).await?);
    Ok(Outcome::new(rows.len(), 1))
}

/// W2: one LEFT JOIN into flat rows.
pub async fn join(ctx: &Ctx) -> R {
    let raw = &ctx.raw;
    let sql = raw.sql(
        "SELECT u.id, u.name, u.email, u.age, u.visits, p.id AS post_id, p.title, p.views \
         FROM bench_users u LEFT JOIN bench_posts p ON p.user_id = u.id WHERE u.id < $1 AND u.age >= $2",
        "SELECT u.id, u.name, u.email, u.age, u.visits, p.id AS post_id, p.title, p.views \
         FROM bench_users u LEFT JOIN bench_posts p ON p.user_id = u.id WHERE u.id < ? AND u.age >= ?",
    );
    let hi = ctx.lo + JOIN_USERS;
    let rows: Vec<UserPostRow> = each!(raw, c => sqlx::query_as(sql).bind(hi).bind(JOIN_MIN_AGE).fetch_all(c).await?);
    Ok(Outcome::new(rows.len(), 1))
}

/// W9: `fetch`, sqlx's row stream, each row decoded into a struct.
pub async fn stream(ctx: &Ctx) -> R {
    use futures_util::TryStreamExt;
    let raw = &ctx.raw;
    let sql = "SELECT id, sensor, note FROM bench_readings";
    let n = each!(raw, c => {
        let mut rows = sqlx::query_as::<_, ReadingRow>(sql).fetch(c);
        let mut n = 0;
        while let Some(r) = rows.try_next().await? {
            n += usize::from(r.id > 0 && r.sensor >= 0 && !r.note.is_empty());
        }
        n
    });
    Ok(Outcome::new(n, 1))
}

/// W3: one multi-row INSERT per bind-limit chunk, in autocommit, keys read back with RETURNING (or
/// LAST_INSERT_ID + row count on a MySQL server).
pub async fn insert(ctx: &Ctx, data: &[NewUserData]) -> R {
    let raw = &ctx.raw;
    let returning = !matches!(raw, Raw::My { returning: false, .. });
    // Rows per statement under the bind limit (SQLite's is 32,766, 4 binds a row).
    let chunk = if matches!(raw, Raw::Lite(_)) { 32_766 / 4 } else { 65_535 / 4 };
    let mut count = 0;
    for part in data.chunks(chunk) {
        count += each!(raw, c => {
            let mut qb = QueryBuilder::new("INSERT INTO bench_new_users (name, email, age, visits) ");
            qb.push_values(part, |mut b, d| {
                b.push_bind(&d.name).push_bind(&d.email).push_bind(d.age).push_bind(0i32);
            });
            if returning {
                qb.push(" RETURNING id");
                let ids: Vec<(i64,)> = qb.build_query_as().fetch_all(c).await?;
                ids.iter().filter(|(id,)| *id > 0).count()
            } else {
                qb.build().execute(c).await?.rows_affected() as usize
            }
        });
    }
    Ok(Outcome::new(count, data.len().div_ceil(chunk) as u64))
}

/// W5: in one transaction, SELECT 1,000 users, bump `visits` on each, write
/// back (one UPDATE per row, or one bulk UPDATE), commit.
pub async fn update(ctx: &Ctx, bulk: bool) -> R {
    let raw = &ctx.raw;
    let select = raw.sql(
        "SELECT id, name, email, age, visits FROM bench_users WHERE id < $1",
        "SELECT id, name, email, age, visits FROM bench_users WHERE id < ?",
    );
    let update =
        raw.sql("UPDATE bench_users SET visits = $1 WHERE id = $2", "UPDATE bench_users SET visits = ? WHERE id = ?");
    let hi = ctx.lo + UPDATE_USERS;
    let (changed, statements) = each!(raw, c => {
        let mut tx = c.begin().await?;
        let mut users: Vec<UserRow> = sqlx::query_as(select).bind(hi).fetch_all(&mut *tx).await?;
        for u in &mut users {
            u.visits += 1;
        }
        let mut changed = 0u64;
        let statements;
        if !bulk {
            for u in &users {
                changed += sqlx::query(update).bind(u.visits).bind(u.id).execute(&mut *tx).await?.rows_affected();
            }
            statements = 1 + users.len() as u64;
        } else {
            changed = bulk_update(&mut tx, &users).await?;
            statements = 2;
        }
        tx.commit().await?;
        (changed, statements)
    });
    Ok(Outcome::new(changed as usize, statements))
}

/// One UPDATE for every row: `FROM UNNEST` with two array binds on
/// PostgreSQL, `SET visits = CASE id WHEN .. THEN .. END WHERE id IN (..)`
/// elsewhere (the same shape the ORM's flush writes).
async fn bulk_update<'c, DB>(tx: &mut sqlx::Transaction<'c, DB>, users: &[UserRow]) -> Result<u64, sqlx::Error>
where
    DB: BulkUpdate,
{
    DB::bulk_update(tx, users).await
}

trait BulkUpdate: sqlx::Database {
    async fn bulk_update(tx: &mut sqlx::Transaction<'_, Self>, users: &[UserRow]) -> Result<u64, sqlx::Error>;
}

impl BulkUpdate for sqlx::Postgres {
    async fn bulk_update(tx: &mut sqlx::Transaction<'_, Self>, users: &[UserRow]) -> Result<u64, sqlx::Error> {
        let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
        let visits: Vec<i32> = users.iter().map(|u| u.visits).collect();
        Ok(sqlx::query(
            "UPDATE bench_users AS u SET visits = v.visits \
             FROM UNNEST($1::bigint[], $2::int[]) AS v(id, visits) WHERE u.id = v.id",
        )
        .bind(ids)
        .bind(visits)
        .execute(&mut **tx)
        .await?
        .rows_affected())
    }
}

macro_rules! case_update {
    ($db:ty) => {
        impl BulkUpdate for $db {
            async fn bulk_update(tx: &mut sqlx::Transaction<'_, Self>, users: &[UserRow]) -> Result<u64, sqlx::Error> {
                let mut qb = QueryBuilder::<$db>::new("UPDATE bench_users SET visits = CASE id");
                for u in users {
                    qb.push(" WHEN ").push_bind(u.id).push(" THEN ").push_bind(u.visits);
                }
                qb.push(" END WHERE id IN (");
                let mut sep = qb.separated(", ");
                for u in users {
                    sep.push_bind(u.id);
                }
                qb.push(")");
                Ok(qb.build().execute(&mut **tx).await?.rows_affected())
            }
        }
    };
}
case_update!(sqlx::MySql);
case_update!(sqlx::Sqlite);

/// W4: three queries on one connection (the users by key range, their posts
/// by the users' keys, those posts' comments by the posts' keys), then the
/// graph assembled in hash maps: comments grouped by post, posts (with their
/// comments) grouped by user. The count walks the assembled graph.
pub async fn graph(ctx: &Ctx) -> R {
    let raw = &ctx.raw;
    let sql = raw.sql(
        "SELECT id, name, email, age, visits FROM bench_users WHERE id < $1",
        "SELECT id, name, email, age, visits FROM bench_users WHERE id < ?",
    );
    let hi = ctx.lo + GRAPH_USERS;
    let (users, posts, comments) = each!(raw, c => {
        let users: Vec<UserRow> = sqlx::query_as(sql).bind(hi).fetch_all(&mut *c).await?;
        let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
        let posts = c.posts_of(&ids).await?;
        let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
        let comments = c.comments_of(&ids).await?;
        (users, posts, comments)
    });
    let graph = assemble(users, posts, comments);
    let posts: usize = graph.iter().map(|u| u.posts.len()).sum();
    let comments = graph.iter().flat_map(|u| &u.posts).map(|p| p.comments.len()).sum();
    if graph.len() != GRAPH_USERS as usize || posts != ctx.w4_posts {
        return Err(
            format!("W4: {} users, {posts} posts, expected {GRAPH_USERS}, {}", graph.len(), ctx.w4_posts).into()
        );
    }
    Ok(Outcome::new(comments, 3))
}

fn assemble(users: Vec<UserRow>, posts: Vec<PostRow>, comments: Vec<CommentRow>) -> Vec<UserGraph> {
    let mut by_post: HashMap<i64, Vec<CommentRow>> = HashMap::with_capacity(posts.len());
    for c in comments {
        by_post.entry(c.post_id).or_default().push(c);
    }
    let mut by_user: HashMap<i64, Vec<PostGraph>> = HashMap::with_capacity(users.len());
    for p in posts {
        let comments = by_post.remove(&p.id).unwrap_or_default();
        by_user.entry(p.user_id).or_default().push(PostGraph { post: p, comments });
    }
    users
        .into_iter()
        .map(|u| {
            let posts = by_user.remove(&u.id).unwrap_or_default();
            UserGraph { user: u, posts }
        })
        .collect()
}

/// What W7's command writes, decided in memory from the rows it read.
#[derive(Default)]
struct Writes {
    /// (id, version read, new config) of each re-routed plane.
    reroute: Vec<(i64, i64, String)>,
    /// (id, version read) of each legacy plane.
    delete: Vec<(i64, i64)>,
    /// (receiver id, kind) of each missing plane.
    insert: Vec<(i64, &'static str)>,
    /// (id, version read) of each receiver with a changed plane.
    bump: Vec<(i64, i64)>,
}

impl Writes {
    fn plan(receivers: &[ReceiverRow], planes: Vec<PlaneRow>) -> Result<Writes, Box<dyn Error>> {
        let mut by_receiver: HashMap<i64, Vec<PlaneRow>> = HashMap::with_capacity(receivers.len());
        for p in planes {
            by_receiver.entry(p.receiver_id).or_default().push(p);
        }
        let mut w = Writes::default();
        for r in receivers {
            let gateway = receivers::gateway(&r.address.parse()?);
            let planes = by_receiver.remove(&r.id).unwrap_or_default();
            let before = w.reroute.len() + w.delete.len() + w.insert.len();
            for p in &planes {
                if receivers::is_legacy(&p.kind) {
                    w.delete.push((p.id, p.version));
                } else if let Some(new) = receivers::reroute(&p.kind, &p.config, gateway) {
                    w.reroute.push((p.id, p.version, new));
                }
            }
            let present = planes.iter().filter(|p| !receivers::is_legacy(&p.kind)).map(|p| p.kind.as_str());
            for kind in receivers::missing_kinds(present) {
                w.insert.push((r.id, kind));
            }
            if w.reroute.len() + w.delete.len() + w.insert.len() > before {
                w.bump.push((r.id, r.version));
            }
        }
        Ok(w)
    }
}

/// W7 by hand, its best effort, in one transaction: the group's receivers
/// in one join, their planes by the receivers' keys, then one statement per
/// kind of write: re-routed planes (version checked and bumped), legacy
/// planes deleted (version checked), missing planes in one multi-row INSERT
/// (no keys read back: the command does not use them), the serials of the
/// touched receivers (version checked and bumped). Bulk statements are
/// `UNNEST` on PostgreSQL, `CASE` and row-value `IN` elsewhere.
pub async fn reroute(ctx: &Ctx) -> R {
    let raw = &ctx.raw;
    let sql = raw.sql(
        "SELECT r.id, r.name, r.address, r.config_serial, r.version FROM bench_receivers r \
         JOIN bench_receiver_groups rg ON rg.receiver_id = r.id \
         JOIN bench_groups g ON g.id = rg.group_id WHERE g.name = $1",
        "SELECT r.id, r.name, r.address, r.config_serial, r.version FROM bench_receivers r \
         JOIN bench_receiver_groups rg ON rg.receiver_id = r.id \
         JOIN bench_groups g ON g.id = rg.group_id WHERE g.name = ?",
    );
    let (changes, statements) = each!(raw, c => {
        let mut tx = c.begin().await?;
        let group: Vec<ReceiverRow> = sqlx::query_as(sql).bind(EDGE).fetch_all(&mut *tx).await?;
        let ids: Vec<i64> = group.iter().map(|r| r.id).collect();
        let planes = tx.planes_of(&ids).await?;
        let w = Writes::plan(&group, planes)?;
        let mut statements = 2u64;
        let expect = |what: &str, done: u64, want: usize| -> Result<(), Box<dyn Error>> {
            if done == want as u64 { Ok(()) } else { Err(format!("W7 {what}: {done} rows, expected {want} (stale data)").into()) }
        };
        if !w.reroute.is_empty() {
            expect("re-route", tx.reroute_planes(&w.reroute).await?, w.reroute.len())?;
            statements += 1;
        }
        if !w.delete.is_empty() {
            expect("delete", tx.delete_planes(&w.delete).await?, w.delete.len())?;
            statements += 1;
        }
        if !w.insert.is_empty() {
            expect("insert", tx.insert_planes(&w.insert).await?, w.insert.len())?;
            statements += 1;
        }
        if !w.bump.is_empty() {
            expect("bump", tx.bump_receivers(&w.bump).await?, w.bump.len())?;
            statements += 1;
        }
        tx.commit().await?;
        (w.reroute.len() + w.delete.len() + w.insert.len(), statements)
    });
    Ok(Outcome::new(changes, statements))
}

/// W4's and W7's list statements, written per backend (the text differs:
/// array parameters on PostgreSQL, IN lists elsewhere), on a connection.
trait Hand {
    async fn posts_of(&mut self, users: &[i64]) -> Result<Vec<PostRow>, sqlx::Error>;
    async fn comments_of(&mut self, posts: &[i64]) -> Result<Vec<CommentRow>, sqlx::Error>;
    async fn planes_of(&mut self, receivers: &[i64]) -> Result<Vec<PlaneRow>, sqlx::Error>;
    async fn reroute_planes(&mut self, rows: &[(i64, i64, String)]) -> Result<u64, sqlx::Error>;
    async fn delete_planes(&mut self, rows: &[(i64, i64)]) -> Result<u64, sqlx::Error>;
    async fn insert_planes(&mut self, rows: &[(i64, &'static str)]) -> Result<u64, sqlx::Error>;
    async fn bump_receivers(&mut self, rows: &[(i64, i64)]) -> Result<u64, sqlx::Error>;
}

impl Hand for PgConnection {
    async fn posts_of(&mut self, users: &[i64]) -> Result<Vec<PostRow>, sqlx::Error> {
        sqlx::query_as("SELECT id, user_id, title, views FROM bench_posts WHERE user_id = ANY($1)")
            .bind(users)
            .fetch_all(self)
            .await
    }

    async fn comments_of(&mut self, posts: &[i64]) -> Result<Vec<CommentRow>, sqlx::Error> {
        sqlx::query_as("SELECT id, post_id, body, likes FROM bench_comments WHERE post_id = ANY($1)")
            .bind(posts)
            .fetch_all(self)
            .await
    }

    async fn planes_of(&mut self, receivers: &[i64]) -> Result<Vec<PlaneRow>, sqlx::Error> {
        sqlx::query_as("SELECT id, receiver_id, kind, config, version FROM bench_planes WHERE receiver_id = ANY($1)")
            .bind(receivers)
            .fetch_all(self)
            .await
    }

    async fn reroute_planes(&mut self, rows: &[(i64, i64, String)]) -> Result<u64, sqlx::Error> {
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let versions: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let configs: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
        Ok(sqlx::query(
            "UPDATE bench_planes AS p SET config = v.config, version = p.version + 1 \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) AS v(id, version, config) \
             WHERE p.id = v.id AND p.version = v.version",
        )
        .bind(ids)
        .bind(versions)
        .bind(configs)
        .execute(self)
        .await?
        .rows_affected())
    }

    async fn delete_planes(&mut self, rows: &[(i64, i64)]) -> Result<u64, sqlx::Error> {
        let (ids, versions): (Vec<i64>, Vec<i64>) = rows.iter().copied().unzip();
        Ok(sqlx::query(
            "DELETE FROM bench_planes AS p USING UNNEST($1::bigint[], $2::bigint[]) AS v(id, version) \
             WHERE p.id = v.id AND p.version = v.version",
        )
        .bind(ids)
        .bind(versions)
        .execute(self)
        .await?
        .rows_affected())
    }

    async fn insert_planes(&mut self, rows: &[(i64, &'static str)]) -> Result<u64, sqlx::Error> {
        let (receivers, kinds): (Vec<i64>, Vec<&str>) = rows.iter().copied().unzip();
        Ok(sqlx::query(
            "INSERT INTO bench_planes (receiver_id, kind, config, version) \
             SELECT v.receiver_id, v.kind, $3, 1 FROM UNNEST($1::bigint[], $2::text[]) AS v(receiver_id, kind)",
        )
        .bind(receivers)
        .bind(kinds)
        .bind(NEW_FILTER)
        .execute(self)
        .await?
        .rows_affected())
    }

    async fn bump_receivers(&mut self, rows: &[(i64, i64)]) -> Result<u64, sqlx::Error> {
        let (ids, versions): (Vec<i64>, Vec<i64>) = rows.iter().copied().unzip();
        Ok(sqlx::query(
            "UPDATE bench_receivers AS r SET config_serial = r.config_serial + 1, version = r.version + 1 \
             FROM UNNEST($1::bigint[], $2::bigint[]) AS v(id, version) WHERE r.id = v.id AND r.version = v.version",
        )
        .bind(ids)
        .bind(versions)
        .execute(self)
        .await?
        .rows_affected())
    }
}

/// MySQL/MariaDB and SQLite: IN lists, one `CASE` UPDATE, row-value IN for
/// the version checks (the same shapes the ORM's flush writes).
macro_rules! hand_in_lists {
    ($conn:ty, $db:ty) => {
        impl Hand for $conn {
            async fn posts_of(&mut self, users: &[i64]) -> Result<Vec<PostRow>, sqlx::Error> {
                if users.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new("SELECT id, user_id, title, views FROM bench_posts WHERE user_id IN (");
                let mut sep = qb.separated(", ");
                for id in users {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(self).await
            }

            async fn comments_of(&mut self, posts: &[i64]) -> Result<Vec<CommentRow>, sqlx::Error> {
                if posts.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new("SELECT id, post_id, body, likes FROM bench_comments WHERE post_id IN (");
                let mut sep = qb.separated(", ");
                for id in posts {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(self).await
            }

            async fn planes_of(&mut self, receivers: &[i64]) -> Result<Vec<PlaneRow>, sqlx::Error> {
                if receivers.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new(
                    "SELECT id, receiver_id, kind, config, version FROM bench_planes WHERE receiver_id IN (",
                );
                let mut sep = qb.separated(", ");
                for id in receivers {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(self).await
            }

            async fn reroute_planes(&mut self, rows: &[(i64, i64, String)]) -> Result<u64, sqlx::Error> {
                let mut qb = QueryBuilder::<$db>::new("UPDATE bench_planes SET config = CASE id");
                for (id, _, config) in rows {
                    qb.push(" WHEN ").push_bind(*id).push(" THEN ").push_bind(config.as_str());
                }
                qb.push(" END, version = version + 1 WHERE (id, version) IN (");
                let mut sep = qb.separated(", ");
                for (id, version, _) in rows {
                    sep.push("(").push_bind_unseparated(*id).push_unseparated(", ").push_bind_unseparated(*version).push_unseparated(")");
                }
                qb.push(")");
                Ok(qb.build().execute(self).await?.rows_affected())
            }

            async fn delete_planes(&mut self, rows: &[(i64, i64)]) -> Result<u64, sqlx::Error> {
                let mut qb = QueryBuilder::<$db>::new("DELETE FROM bench_planes WHERE (id, version) IN (");
                let mut sep = qb.separated(", ");
                for (id, version) in rows {
                    sep.push("(").push_bind_unseparated(*id).push_unseparated(", ").push_bind_unseparated(*version).push_unseparated(")");
                }
                qb.push(")");
                Ok(qb.build().execute(self).await?.rows_affected())
            }

            async fn insert_planes(&mut self, rows: &[(i64, &'static str)]) -> Result<u64, sqlx::Error> {
                let mut qb = QueryBuilder::<$db>::new("INSERT INTO bench_planes (receiver_id, kind, config, version) ");
                qb.push_values(rows, |mut b, (receiver, kind)| {
                    b.push_bind(*receiver).push_bind(*kind).push_bind(NEW_FILTER).push_bind(1i64);
                });
                Ok(qb.build().execute(self).await?.rows_affected())
            }

            async fn bump_receivers(&mut self, rows: &[(i64, i64)]) -> Result<u64, sqlx::Error> {
                let mut qb = QueryBuilder::<$db>::new(
                    "UPDATE bench_receivers SET config_serial = config_serial + 1, version = version + 1 WHERE (id, version) IN (",
                );
                let mut sep = qb.separated(", ");
                for (id, version) in rows {
                    sep.push("(").push_bind_unseparated(*id).push_unseparated(", ").push_bind_unseparated(*version).push_unseparated(")");
                }
                qb.push(")");
                Ok(qb.build().execute(self).await?.rows_affected())
            }
        }
    };
}
hand_in_lists!(MySqlConnection, sqlx::MySql);
hand_in_lists!(SqliteConnection, sqlx::Sqlite);
