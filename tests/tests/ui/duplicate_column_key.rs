use orm_core::entity;

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    #[column(unique, unique)]
    pub name: String,
}

fn main() {}
