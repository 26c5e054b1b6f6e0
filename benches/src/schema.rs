//! The benchmark schema: entities for the ORM, plain `FromRow` structs for
//! raw sqlx. Tables are prefixed `bench_` so they never meet the tests'
//! tables on the shared servers.

use orm_core::prelude::*;

#[entity(table = "bench_users")]
#[derive(Debug, Clone)]
pub struct User {
    #[key(auto)]
    pub id: i64,
    #[column(len = 64)]
    pub name: String,
    #[column(len = 128)]
    pub email: String,
    pub age: i32,
    pub visits: i32,
}

#[entity(table = "bench_posts")]
#[derive(Debug, Clone)]
pub struct Post {
    #[key(auto)]
    pub id: i64,
    #[column(references = User, index)]
    pub user_id: i64,
    #[column(len = 128)]
    pub title: String,
    pub views: i32,
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

/// The data W3 inserts, built untimed and shared by every peer.
#[derive(Debug, Clone)]
pub struct NewUserData {
    pub name: String,
    pub email: String,
    pub age: i32,
}

pub fn new_users(n: usize) -> Vec<NewUserData> {
    (0..n)
        .map(|i| NewUserData { name: format!("new-{i}"), email: format!("new-{i}@example.org"), age: 20 + (i % 50) as i32 })
        .collect()
}
