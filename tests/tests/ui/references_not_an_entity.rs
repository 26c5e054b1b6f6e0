use orm_core::entity;

pub struct Team {
    pub id: i64,
}

#[entity]
pub struct User {
    #[key]
    pub id: i64,
    #[column(references = Team)]
    pub team_id: i64,
}

fn main() {}
