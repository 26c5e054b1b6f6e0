use orm_core::entity;

#[entity]
pub struct Document {
    #[key(auto)]
    pub id: i64,
    #[version]
    pub revision: String,
}

fn main() {}
