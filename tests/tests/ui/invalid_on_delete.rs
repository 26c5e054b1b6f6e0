use orm_core::entity;

#[entity]
pub struct Team {
    #[key]
    pub id: i64,
}

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    #[column(references = Team, on_delete = "nullify")]
    pub team_id: Option<i64>,
}

fn main() {}
