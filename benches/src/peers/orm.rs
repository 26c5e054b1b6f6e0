//! This ORM, written the way its README shows: a fresh session per
//! operation, typed queries, `add_all` + `commit`, change tracking.

use std::error::Error;

use orm_core::prelude::*;

use super::Outcome;
use crate::schema::{NewUser, NewUserData, Post, User};
use crate::workloads::{Ctx, JOIN_MIN_AGE, JOIN_USERS, UPDATE_USERS};

type R = Result<Outcome, Box<dyn Error>>;

fn done(s: &Session, count: usize) -> R {
    Ok(Outcome { count, statements: s.stats().statements() })
}

/// W1: `n` users into entities (handles in the identity map).
pub async fn load(ctx: &Ctx, n: usize) -> R {
    let mut s = ctx.db.session();
    let users = s.query::<User>().filter(User::ID.lt(ctx.lo + n as i64)).all().await?;
    done(&s, users.len())
}

/// W2 the ORM way: two batched queries, the filtered users, then their
/// posts by `user_id IN (ids)` (no relationship loading exists yet). The
/// count is the join's row count (every user has posts), checked against
/// both queries.
pub async fn join(ctx: &Ctx) -> R {
    let mut s = ctx.db.session();
    let users = s
        .query::<User>()
        .filter(User::ID.lt(ctx.lo + JOIN_USERS).and(User::AGE.ge(JOIN_MIN_AGE)))
        .all()
        .await?;
    let ids: Vec<i64> = users.iter().map(|u| u.read().id).collect();
    let posts = s.query::<Post>().filter(Post::USER_ID.is_in(&ids)).all().await?;
    if users.len() != ctx.w2_users {
        return Err(format!("W2: {} users, expected {}", users.len(), ctx.w2_users).into());
    }
    done(&s, posts.len())
}

/// W3: `add_all` + `commit`; keys are read back into the handles.
pub async fn insert(ctx: &Ctx, data: &[NewUserData]) -> R {
    let mut s = ctx.db.session();
    let handles = s.add_all(data.iter().map(|d| NewUser {
        id: 0,
        name: d.name.clone(),
        email: d.email.clone(),
        age: d.age,
        visits: 0,
    }));
    s.commit().await?;
    let keyed = handles.iter().filter(|h| h.read().id > 0).count();
    done(&s, keyed)
}

/// W5: load 1,000 users, bump `visits` on each, commit (the flush batches
/// the 1,000 UPDATEs into one CASE statement).
pub async fn update(ctx: &Ctx) -> R {
    let mut s = ctx.db.session();
    let users = s.query::<User>().filter(User::ID.lt(ctx.lo + UPDATE_USERS)).all().await?;
    for u in &users {
        u.write().visits += 1;
    }
    let dirty = s.dirty_objects::<User>().len();
    s.commit().await?;
    if dirty != users.len() {
        return Err(format!("W5: {dirty} dirty of {}", users.len()).into());
    }
    done(&s, users.len())
}
