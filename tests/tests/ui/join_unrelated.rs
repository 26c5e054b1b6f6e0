use orm_core::prelude::*;

#[entity]
pub struct User {
    #[key(auto)]
    pub id: i64,
    #[has_many(Post, by = "user_id")]
    pub posts: Many<Post>,
}

#[entity]
pub struct Post {
    #[key(auto)]
    pub id: i64,
    pub user_id: i64,
}

#[entity]
pub struct Tag {
    #[key(auto)]
    pub id: i64,
}

async fn joins(s: &mut Session) {
    // A join needs a relationship of the queried entity: Tag has none to Post.
    let _ = s.query::<Tag>().left_join(User::POSTS).await;
}

fn main() {}
