use orm_core::entity;

#[entity(tabel = "users")]
pub struct User {
    #[key]
    pub id: i64,
}

fn main() {}
