use orm_core::entity;

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    #[column(uniq)]
    pub name: String,
}

fn main() {}
