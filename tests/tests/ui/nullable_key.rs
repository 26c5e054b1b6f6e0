use orm_core::entity;

#[entity]
pub struct User {
    #[key(auto)]
    pub id: Option<i64>,
}

#[entity]
pub struct Tag {
    #[key]
    pub name: std::option::Option<String>,
}

fn main() {}
