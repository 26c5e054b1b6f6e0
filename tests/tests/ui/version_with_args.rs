use orm_core::entity;

#[entity]
pub struct Document {
    #[key(auto)]
    pub id: i64,
    #[version(start = 1)]
    pub revision: i64,
}

fn main() {}
