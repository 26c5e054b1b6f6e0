use orm_core::entity;

#[entity]
pub struct User {
    pub id: i64,
    pub name: String,
}

fn main() {}
