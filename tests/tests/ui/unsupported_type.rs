use orm_core::entity;

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    pub tags: std::collections::HashMap<String, i32>,
}

fn main() {}
