//! SeaORM 2.0, written the way its documentation shows: entities with
//! `DeriveEntityModel` and `DeriveRelation`, `Entity::find().filter(..)`,
//! `find_also_related` for a LEFT JOIN, `insert_many(..)
//! .exec_with_returning_keys` for keys back, `LoaderTrait::load_many` for a
//! batched graph, and ActiveModel `update` inside `db.begin()` for W5.
//!
//! Its connection is what its documentation opens: `Database::connect`
//! with `ConnectOptions`, here `max_connections(1)` and
//! `min_connections(1)` (one connection, opened at connect),
//! `sqlx_logging(false)`, `test_before_acquire(false)` (SeaORM's default
//! pings the connection before every acquire: a round trip per statement
//! that its own options turn off), no idle timeout and no maximum lifetime
//! (the one connection lives through the run, so the pragmas set when it
//! opened stay), and on SQLite `map_sqlx_sqlite_opts` with the floor's
//! pragmas (`sqlx_raw::sqlite_pragmas`: WAL, `synchronous = NORMAL`,
//! foreign keys, 5 s busy timeout). What no option removes: SeaORM's sqlx
//! drivers (the ones its documentation connects with and this bench builds;
//! its `rusqlite` feature, a SQLite driver of its own, is not measured) hold
//! a sqlx pool, and sqlx 0.9 pings a connection when it
//! goes back to the pool (`PoolConnection`'s drop spawns the return, which
//! pings before the connection is idle again), so with one connection each
//! statement outside a transaction pays that ping before the next can
//! acquire (inside `begin()` .. `commit()` the transaction holds the
//! connection: one ping at the end). The floor, a bare connection, does not.
//!
//! Without `RETURNING` (a MySQL-protocol server: SeaORM's
//! `mariadb-use-returning` feature would also make ActiveModel updates send
//! `UPDATE .. RETURNING`, which MariaDB 10.x rejects, so it is off), W3
//! reads no keys back (`exec_without_returning`, rows affected, as raw sqlx
//! does on a MySQL server) and each W5 `update` is an UPDATE then a SELECT
//! of the row by key (SeaORM re-reads the model it returns).

use std::error::Error;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, LoaderTrait,
    QueryFilter, Set, TransactionTrait,
};

use super::Outcome;
use super::sqlx_raw::sqlite_pragmas;
use crate::schema::NewUserData;
use crate::workloads::{Backend, Ctx, GRAPH_USERS, JOIN_MIN_AGE, JOIN_USERS, UPDATE_USERS};

type R = Result<Outcome, Box<dyn Error>>;

pub mod users {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub email: String,
        pub age: i32,
        pub visits: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::posts::Entity")]
        Posts,
    }

    impl Related<super::posts::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Posts.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod posts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_posts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub title: String,
        pub views: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(belongs_to = "super::users::Entity", from = "Column::UserId", to = "super::users::Column::Id")]
        User,
        #[sea_orm(has_many = "super::comments::Entity")]
        Comments,
    }

    impl Related<super::users::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl Related<super::comments::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Comments.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod comments {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_comments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub post_id: i64,
        pub body: String,
        pub likes: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(belongs_to = "super::posts::Entity", from = "Column::PostId", to = "super::posts::Column::Id")]
        Post,
    }

    impl Related<super::posts::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// W3's table.
pub mod new_users {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_new_users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub email: String,
        pub age: i32,
        pub visits: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod readings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_readings")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub sensor: i64,
        pub note: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// W9: `Entity::find().stream(..)`, models as they arrive.
pub async fn stream(ctx: &Ctx) -> R {
    use futures_util::TryStreamExt;
    let mut rows = readings::Entity::find().stream(&ctx.sea).await?;
    let mut n = 0;
    while let Some(r) = rows.try_next().await? {
        n += usize::from(r.id > 0 && r.sensor >= 0 && !r.note.is_empty());
    }
    Ok(Outcome::new(n, 1))
}

/// The SeaORM connection: `Database::connect` on one connection (see the module doc).
pub async fn connect(url: &str) -> Result<DatabaseConnection, Box<dyn Error>> {
    let mut options = sea_orm::ConnectOptions::new(url);
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false)
        .test_before_acquire(false)
        .idle_timeout(None::<std::time::Duration>)
        .max_lifetime(None::<std::time::Duration>)
        .map_sqlx_sqlite_opts(|o| sqlite_pragmas(o.create_if_missing(true)));
    Ok(sea_orm::Database::connect(options).await?)
}

/// W1: `n` users into models.
pub async fn load(ctx: &Ctx, n: usize) -> R {
    let users = users::Entity::find().filter(users::Column::Id.lt(ctx.lo + n as i64)).all(&ctx.sea).await?;
    Ok(Outcome::new(users.len(), 1))
}

/// W2: `find_also_related`, one LEFT JOIN into `(user, Option<post>)` pairs.
pub async fn join(ctx: &Ctx) -> R {
    let rows = users::Entity::find()
        .find_also_related(posts::Entity)
        .filter(users::Column::Id.lt(ctx.lo + JOIN_USERS))
        .filter(users::Column::Age.gte(JOIN_MIN_AGE))
        .all(&ctx.sea)
        .await?;
    Ok(Outcome::new(rows.len(), 1))
}

/// W3: `insert_many` of ActiveModels (id `NotSet`), one statement per
/// bind-limit chunk, in autocommit, keys read back with RETURNING
/// (`exec_with_returning_keys`); rows affected where SeaORM has no RETURNING.
pub async fn insert(ctx: &Ctx, data: &[NewUserData]) -> R {
    let db = &ctx.sea;
    let chunk = if ctx.backend == Backend::Sqlite { 32_766 / 4 } else { 65_535 / 4 };
    let mut count = 0;
    for part in data.chunks(chunk) {
        let models = part.iter().map(|d| new_users::ActiveModel {
            name: Set(d.name.clone()),
            email: Set(d.email.clone()),
            age: Set(d.age),
            visits: Set(0),
            ..Default::default()
        });
        let insert = new_users::Entity::insert_many(models);
        count += if db.support_returning() {
            insert.exec_with_returning_keys(db).await?.iter().filter(|id| **id > 0).count()
        } else {
            insert.exec_without_returning(db).await? as usize
        };
    }
    Ok(Outcome::new(count, data.len().div_ceil(chunk) as u64))
}

/// W4's graph as the loader gives it: a user with its posts, each with its comments.
type UserGraph = (users::Model, Vec<(posts::Model, Vec<comments::Model>)>);

/// W4: the users, then `load_many` for their posts and again for those
/// posts' comments (one `IN (..)` query per level), then the graph kept as
/// the loader returns it: each user with its posts, each post with its
/// comments. The count walks the graph.
pub async fn graph(ctx: &Ctx) -> R {
    let db = &ctx.sea;
    let users = users::Entity::find().filter(users::Column::Id.lt(ctx.lo + GRAPH_USERS)).all(db).await?;
    let posts: Vec<Vec<posts::Model>> = users.load_many(posts::Entity, db).await?;
    let lens: Vec<usize> = posts.iter().map(Vec::len).collect();
    let flat: Vec<posts::Model> = posts.into_iter().flatten().collect();
    let comments: Vec<Vec<comments::Model>> = flat.load_many(comments::Entity, db).await?;
    let mut pairs = flat.into_iter().zip(comments);
    let graph: Vec<UserGraph> =
        users.into_iter().zip(lens).map(|(u, n)| (u, pairs.by_ref().take(n).collect())).collect();
    crate::workloads::graph_outcome(ctx, &graph, 3)
}

/// W5: in `db.begin()`, the users, then for each an ActiveModel with
/// `visits` set and `update` (one UPDATE .. RETURNING the row on PostgreSQL
/// and SQLite; UPDATE then SELECT by key on MySQL/MariaDB), commit.
pub async fn update(ctx: &Ctx) -> R {
    let txn = ctx.sea.begin().await?;
    let users = users::Entity::find().filter(users::Column::Id.lt(ctx.lo + UPDATE_USERS)).all(&txn).await?;
    let (n, mut changed) = (users.len() as u64, 0);
    for u in users {
        let visits = u.visits + 1;
        let mut am = u.into_active_model();
        am.visits = Set(visits);
        let after = am.update(&txn).await?;
        changed += usize::from(after.visits == visits);
    }
    let per_row = if txn.support_returning() { 1 } else { 2 };
    txn.commit().await?;
    Ok(Outcome::new(changed, 1 + per_row * n))
}
