use orm_core::entity;

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    #[column(len = "x")]
    pub name: String,
}

fn main() {}
