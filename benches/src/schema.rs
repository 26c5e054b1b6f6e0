//! The benchmark schema: entities for the ORM, plain `FromRow` structs for
//! raw sqlx. Tables are prefixed `bench_` so they never meet the tests'
//! tables on the shared servers.

use std::net::IpAddr;

use orm_core::prelude::*;
use orm_core::{AsText, Keyed, Many, Ref};

#[entity(table = "bench_users")]
#[derive(Debug, Clone, Default)]
pub struct User {
    #[key(auto)]
    pub id: i64,
    #[column(len = 64)]
    pub name: String,
    #[column(len = 128)]
    pub email: String,
    pub age: i32,
    pub visits: i32,
    /// W4's first level.
    #[has_many(Post, by = "user_id")]
    pub posts: Many<Post>,
}

#[entity(table = "bench_posts")]
#[derive(Debug, Clone, Default)]
pub struct Post {
    #[key(auto)]
    pub id: i64,
    #[column(references = User, index)]
    pub user_id: i64,
    #[column(len = 128)]
    pub title: String,
    pub views: i32,
    #[belongs_to(User, by = "user_id")]
    pub user: Ref<User>,
    /// W4's second level.
    #[has_many(Comment, by = "post_id")]
    pub comments: Many<Comment>,
}

/// W4's leaves: 2-3 comments per post of the first users (seeded untimed).
#[entity(table = "bench_comments")]
#[derive(Debug, Clone, Default)]
pub struct Comment {
    #[key(auto)]
    pub id: i64,
    #[column(references = Post, index)]
    pub post_id: i64,
    #[column(len = 128)]
    pub body: String,
    pub likes: i32,
    #[belongs_to(Post, by = "post_id")]
    pub post: Ref<Post>,
}

/// W9 streams this table's 1,000,000 rows (seeded untimed with one
/// INSERT .. SELECT).
#[entity(table = "bench_readings")]
#[derive(Debug, Clone, Default)]
pub struct Reading {
    #[key(auto)]
    pub id: i64,
    pub sensor: i64,
    #[column(len = 40)]
    pub note: String,
}

/// One row of W9's stream.
#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, sqlx::FromRow)]
pub struct ReadingRow {
    pub id: i64,
    pub sensor: i64,
    pub note: String,
}

/// W3 inserts here (emptied, untimed, after every operation).
#[entity(table = "bench_new_users")]
#[derive(Debug, Clone)]
pub struct NewUser {
    #[key(auto)]
    pub id: i64,
    #[column(len = 64)]
    pub name: String,
    #[column(len = 128)]
    pub email: String,
    pub age: i32,
    pub visits: i32,
}

// W7: the configuration service's receivers (examples/receivers/schema.rs), own tables.

#[entity(table = "bench_receivers")]
#[derive(Debug)]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 64)]
    pub name: String,
    /// An IP address, stored as text (a custom column type).
    #[column(with = AsText, len = 45)]
    pub address: IpAddr,
    /// Bumped once per command for every receiver with a changed plane.
    pub config_serial: i64,
    #[version]
    pub version: i64,
    #[has_many(Plane, by = "receiver_id", keyed_by = "kind")]
    pub planes: Keyed<String, Plane>,
    #[many_to_many(Group, via = "bench_receiver_groups")]
    pub groups: Many<Group>,
}

#[entity(table = "bench_groups")]
#[derive(Debug, Default)]
pub struct Group {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 64)]
    pub name: String,
    #[many_to_many(Receiver, via = "bench_receiver_groups")]
    pub receivers: Many<Receiver>,
}

#[entity(table = "bench_planes")]
#[derive(Debug, Default)]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    #[column(references = Receiver, index)]
    pub receiver_id: i64,
    #[column(len = 32)]
    pub kind: String,
    pub config: String,
    #[version]
    pub version: i64,
    #[belongs_to(Receiver, by = "receiver_id")]
    pub receiver: Ref<Receiver>,
}

#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub age: i32,
    pub visits: i32,
}

/// One row of W2's LEFT JOIN.
#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, sqlx::FromRow)]
pub struct UserPostRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub age: i32,
    pub visits: i32,
    pub post_id: Option<i64>,
    pub title: Option<String>,
    pub views: Option<i32>,
}

#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, sqlx::FromRow)]
pub struct PostRow {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub views: i32,
}

#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, sqlx::FromRow)]
pub struct CommentRow {
    pub id: i64,
    pub post_id: i64,
    pub body: String,
    pub likes: i32,
}

/// W4 by hand: a user with its posts, each with its comments.
#[allow(dead_code)] // assembled to be measured, not read
#[derive(Debug)]
pub struct UserGraph {
    pub user: UserRow,
    pub posts: Vec<PostGraph>,
}

#[allow(dead_code)] // assembled to be measured, not read
#[derive(Debug)]
pub struct PostGraph {
    pub post: PostRow,
    pub comments: Vec<CommentRow>,
}

/// W7 by hand: a receiver as the command reads it.
#[allow(dead_code)] // decoded to be measured, not read
#[derive(Debug, sqlx::FromRow)]
pub struct ReceiverRow {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub config_serial: i64,
    pub version: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct PlaneRow {
    pub id: i64,
    pub receiver_id: i64,
    pub kind: String,
    pub config: String,
    pub version: i64,
}

/// The data W3 inserts, built untimed and shared by every peer.
#[derive(Debug, Clone)]
pub struct NewUserData {
    pub name: String,
    pub email: String,
    pub age: i32,
}

pub fn new_users(n: usize) -> Vec<NewUserData> {
    (0..n)
        .map(|i| NewUserData {
            name: format!("new-{i}"),
            email: format!("new-{i}@example.org"),
            age: 20 + (i % 50) as i32,
        })
        .collect()
}
