use orm_core::entity;

#[entity(table = 5)]
pub struct User {
    #[key]
    pub id: i64,
}

fn main() {}
