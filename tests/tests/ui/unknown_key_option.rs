use orm_core::entity;

#[entity]
pub struct User {
    #[key(generated)]
    pub id: i64,
}

fn main() {}
