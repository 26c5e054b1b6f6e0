use orm_core::entity;

#[entity]
pub struct Membership {
    #[key(auto)]
    pub id: i64,
    #[key]
    pub user_id: i64,
}

fn main() {}
