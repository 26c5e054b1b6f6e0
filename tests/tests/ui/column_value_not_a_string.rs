use orm_core::entity;

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    #[column(rename = 3)]
    pub name: String,
    #[column(default = 1)]
    pub score: i32,
}

fn main() {}
