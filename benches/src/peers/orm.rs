//! This ORM, written the way its README shows: a fresh session per
//! operation, typed queries, `add_all` + `commit`, change tracking.

use std::collections::HashSet;
use std::error::Error;

use orm_core::prelude::*;

use orm_core::Database;

use super::Outcome;
use crate::schema::{Group, NewUser, NewUserData, Plane, Post, Reading, Receiver, User};
use crate::workloads::receivers::{self, EDGE, NEW_FILTER};
use crate::workloads::{Ctx, GRAPH_USERS, JOIN_MIN_AGE, JOIN_USERS, UPDATE_USERS};

type R = Result<Outcome, Box<dyn Error>>;

fn done(s: &Session, count: usize) -> R {
    Ok(Outcome::new(count, s.stats().statements()))
}

/// W1: `n` users into entities (handles in the identity map).
pub async fn load(ctx: &Ctx, db: &Database, n: usize) -> R {
    let mut s = db.session();
    let users = s.query::<User>().filter(User::ID.lt(ctx.lo + n as i64)).all().await?;
    done(&s, users.len())
}

/// W2 the ORM way: two batched queries, the filtered users, then their
/// posts by `user_id IN (ids)`, no assembly (W4 measures that). The
/// count is the join's row count (every user has posts), checked against
/// both queries.
pub async fn join(ctx: &Ctx, db: &Database) -> R {
    let mut s = db.session();
    let users =
        s.query::<User>().filter(User::ID.lt(ctx.lo + JOIN_USERS).and(User::AGE.ge(JOIN_MIN_AGE))).all().await?;
    let ids: Vec<i64> = users.iter().map(|u| u.read().id).collect();
    let posts = s.query::<Post>().filter(Post::USER_ID.is_in(&ids)).all().await?;
    if users.len() != ctx.w2_users {
        return Err(format!("W2: {} users, expected {}", users.len(), ctx.w2_users).into());
    }
    done(&s, posts.len())
}

/// W2 through the typed join: one LEFT JOIN along `User::POSTS` into
/// `(User, Option<Post>)` pairs, both sides through the identity map.
pub async fn typed_join(ctx: &Ctx, db: &Database) -> R {
    let mut s = db.session();
    let pairs = s
        .query::<User>()
        .filter(User::ID.lt(ctx.lo + JOIN_USERS).and(User::AGE.ge(JOIN_MIN_AGE)))
        .left_join(User::POSTS)
        .await?;
    done(&s, pairs.len())
}

/// W9: `stream()`, every reading as a plain value, one at a time.
pub async fn stream(db: &Database) -> R {
    use futures_util::TryStreamExt;
    let mut s = db.session();
    let mut n = 0;
    let mut rows = s.query::<Reading>().stream();
    while let Some(r) = rows.try_next().await? {
        n += usize::from(r.id > 0 && r.sensor >= 0 && !r.note.is_empty());
    }
    drop(rows);
    done(&s, n)
}

/// W3: `add_all` + `commit`; keys are read back into the handles.
pub async fn insert(db: &Database, data: &[NewUserData]) -> R {
    let mut s = db.session();
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
pub async fn update(ctx: &Ctx, db: &Database) -> R {
    let mut s = db.session();
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

/// W4: the users with their posts and the posts' comments, one batched
/// query per level (`load(User::POSTS.then(Post::COMMENTS))`), assembled
/// by the session (each post's `user` and each comment's `post` set too).
/// The count walks the graph: comments reached through users and posts.
pub async fn graph(ctx: &Ctx, db: &Database) -> R {
    let mut s = db.session();
    let users = s
        .query::<User>()
        .filter(User::ID.lt(ctx.lo + GRAPH_USERS))
        .load(User::POSTS.then(Post::COMMENTS))
        .all()
        .await?;
    let (mut posts, mut comments) = (0, 0);
    for u in &users {
        let u = u.read();
        for p in u.posts.iter()? {
            posts += 1;
            comments += p.read().comments.len()?;
        }
    }
    if users.len() != GRAPH_USERS as usize || posts != ctx.w4_posts {
        return Err(
            format!("W4: {} users, {posts} posts, expected {GRAPH_USERS}, {}", users.len(), ctx.w4_posts).into()
        );
    }
    done(&s, comments)
}

/// W7, the re-route command's unit of work (`unit_of_work` in examples/receivers): the
/// group, its receivers and their keyed planes in three batched queries,
/// changes in memory, one commit; the serial bump is the example's
/// before-flush hook. Returns the planes changed (re-routed, deleted, added).
pub async fn reroute(db: &Database) -> R {
    let mut s = db.session();
    s.hooks().before_flush(10, |s| {
        let touched: HashSet<i64> = s
            .new_objects::<Plane>()
            .iter()
            .chain(&s.dirty_objects::<Plane>())
            .chain(&s.deleted_objects::<Plane>())
            .map(|p| p.read().receiver_id)
            .collect();
        for id in touched {
            let Some(r) = s.cached::<Receiver>(&id) else {
                continue;
            };
            if !s.history(&r).iter().any(|c| c.column == "config_serial") {
                r.write().config_serial += 1;
            }
        }
        Ok(())
    });
    let edge =
        s.query::<Group>().filter(Group::NAME.eq(EDGE)).load(Group::RECEIVERS.then(Receiver::PLANES)).one().await?;
    let mut changes = 0;
    let group = edge.read().receivers.to_vec()?;
    for r in &group {
        let gateway = receivers::gateway(&r.read().address);
        let planes = r.read().planes.iter()?;
        for (kind, p) in planes {
            if receivers::is_legacy(&kind) {
                // Orphan removal: the flush deletes the plane.
                r.write().planes.remove(&kind)?;
                changes += 1;
            } else {
                let new = receivers::reroute(&kind, &p.read().config, gateway);
                if let Some(new) = new {
                    p.write().config = new;
                    changes += 1;
                }
            }
        }
        let present = r.read().planes.keys()?;
        for kind in receivers::missing_kinds(present.iter().map(String::as_str)) {
            r.write().planes.insert(kind.into(), receivers::plane(NEW_FILTER))?;
            changes += 1;
        }
    }
    s.commit().await?;
    done(&s, changes)
}

/// W7 the naive way (`naive` in examples/receivers): the members read from
/// the association table, then per receiver its planes, and per changed
/// plane its own session and commit, followed by a serial bump in another.
/// Statements are the database's count (many sessions).
pub async fn reroute_naive(db: &Database) -> R {
    let before = db.stats().statements();
    let edge = db.session().query::<Group>().filter(Group::NAME.eq(EDGE)).one().await?.key();
    let members =
        db.fetch_sql(format!("SELECT receiver_id FROM bench_receiver_groups WHERE group_id = {edge}"), vec![]).await?;
    let mut changes = 0;
    for m in members {
        let receiver_id: i64 = m.get("receiver_id")?;
        let mut s = db.session();
        let receiver = s.get::<Receiver>(receiver_id).await?;
        let planes = s.query::<Plane>().filter(Plane::RECEIVER_ID.eq(receiver_id)).all().await?;
        let kinds: Vec<String> = planes.iter().map(|p| p.read().kind.clone()).collect();
        let gateway = receivers::gateway(&receiver.read().address);
        for p in &planes {
            let mut s = db.session();
            let p = s.get::<Plane>(p.key()).await?;
            let kind = p.read().kind.clone();
            if receivers::is_legacy(&kind) {
                s.delete(&p)?;
            } else {
                let new = receivers::reroute(&kind, &p.read().config, gateway);
                match new {
                    Some(new) => p.write().config = new,
                    None => continue,
                }
            }
            s.commit().await?;
            changes += 1;
            bump_serial(db, receiver_id).await?;
        }
        for kind in receivers::missing_kinds(kinds.iter().map(String::as_str)) {
            let mut s = db.session();
            s.add(Plane { receiver_id, kind: kind.into(), ..receivers::plane(NEW_FILTER) });
            s.commit().await?;
            changes += 1;
            bump_serial(db, receiver_id).await?;
        }
    }
    Ok(Outcome::new(changes, db.stats().statements() - before))
}

async fn bump_serial(db: &Database, receiver_id: i64) -> Result<(), orm_core::Error> {
    let mut s = db.session();
    let r = s.get::<Receiver>(receiver_id).await?;
    r.write().config_serial += 1;
    s.commit().await
}
