//! Raw sqlx, the floor for anything built on sqlx: hand-written SQL,
//! `query_as` into `FromRow` structs, `QueryBuilder` for multi-row inserts
//! with `RETURNING id` (MariaDB has it too; a MySQL server takes
//! `LAST_INSERT_ID()`), and for W5 both the per-row UPDATE loop and one bulk
//! UPDATE (`FROM UNNEST` on PostgreSQL, `CASE` elsewhere).

use std::error::Error;
use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{MySqlPool, PgPool, QueryBuilder, SqlitePool};

use super::Outcome;
use crate::schema::{NewUserData, UserPostRow, UserRow};
use crate::workloads::{Backend, Ctx, JOIN_MIN_AGE, JOIN_USERS, UPDATE_USERS};

type R = Result<Outcome, Box<dyn Error>>;

pub enum Raw {
    Pg(PgPool),
    My { pool: MySqlPool, returning: bool },
    Lite(SqlitePool),
}

/// The same tokens for each pool type (the SQL text is chosen per backend).
macro_rules! each {
    ($raw:expr, $p:ident => $body:expr) => {
        match $raw {
            Raw::Pg($p) => $body,
            Raw::My { pool: $p, .. } => $body,
            Raw::Lite($p) => $body,
        }
    };
}

impl Raw {
    /// Pools as the ORM's: no ping before each acquire (sqlx's default pings,
    /// which would charge the baseline a round trip per statement).
    pub async fn connect(backend: Backend, url: &str) -> Result<Raw, Box<dyn Error>> {
        Ok(match backend {
            Backend::Postgres => Raw::Pg(PgPoolOptions::new().max_connections(4).test_before_acquire(false).connect(url).await?),
            Backend::Mysql => {
                let pool = MySqlPoolOptions::new().max_connections(4).test_before_acquire(false).connect(url).await?;
                let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&pool).await?;
                Raw::My { pool, returning: version.contains("MariaDB") }
            }
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .journal_mode(SqliteJournalMode::Wal)
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                Raw::Lite(SqlitePoolOptions::new().max_connections(4).test_before_acquire(false).connect_with(opts).await?)
            }
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
        each!(self, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await)
    }

    pub async fn execute(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        each!(self, p => Ok(sqlx::query(sql).execute(p).await?.rows_affected()))
    }

    pub async fn version(&self) -> Result<String, sqlx::Error> {
        match self {
            Raw::Pg(p) => sqlx::query_scalar("SHOW server_version").fetch_one(p).await,
            Raw::My { pool, .. } => sqlx::query_scalar("SELECT VERSION()").fetch_one(pool).await,
            Raw::Lite(p) => sqlx::query_scalar("SELECT sqlite_version()").fetch_one(p).await,
        }
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
    let rows: Vec<UserRow> = each!(raw, p => sqlx::query_as(sql).bind(hi).fetch_all(p).await?);
    Ok(Outcome { count: rows.len(), statements: 1 })
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
    let rows: Vec<UserPostRow> =
        each!(raw, p => sqlx::query_as(sql).bind(hi).bind(JOIN_MIN_AGE).fetch_all(p).await?);
    Ok(Outcome { count: rows.len(), statements: 1 })
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
        count += each!(raw, p => {
            let mut qb = QueryBuilder::new("INSERT INTO bench_new_users (name, email, age, visits) ");
            qb.push_values(part, |mut b, d| {
                b.push_bind(&d.name).push_bind(&d.email).push_bind(d.age).push_bind(0i32);
            });
            if returning {
                qb.push(" RETURNING id");
                let ids: Vec<(i64,)> = qb.build_query_as().fetch_all(p).await?;
                ids.iter().filter(|(id,)| *id > 0).count()
            } else {
                qb.build().execute(p).await?.rows_affected() as usize
            }
        });
    }
    Ok(Outcome { count, statements: data.len().div_ceil(chunk) as u64 })
}

/// W5: in one transaction, SELECT 1,000 users, bump `visits` on each, write
/// back (one UPDATE per row, or one bulk UPDATE), commit.
pub async fn update(ctx: &Ctx, bulk: bool) -> R {
    let raw = &ctx.raw;
    let select = raw.sql(
        "SELECT id, name, email, age, visits FROM bench_users WHERE id < $1",
        "SELECT id, name, email, age, visits FROM bench_users WHERE id < ?",
    );
    let update = raw.sql(
        "UPDATE bench_users SET visits = $1 WHERE id = $2",
        "UPDATE bench_users SET visits = ? WHERE id = ?",
    );
    let hi = ctx.lo + UPDATE_USERS;
    let (changed, statements) = each!(raw, p => {
        let mut tx = p.begin().await?;
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
    Ok(Outcome { count: changed as usize, statements })
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
