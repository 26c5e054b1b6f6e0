use orm_core::entity;

#[entity]
pub struct User {
    #[key(auto)]
    pub id: String,
}

fn main() {}
