use orm_core::entity;

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    #[column(on_delete = "cascade")]
    pub team_id: i64,
}

fn main() {}
