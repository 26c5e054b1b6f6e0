use orm_core::entity;

#[entity]
pub struct Document {
    #[key]
    #[version]
    pub id: i64,
    pub title: String,
}

fn main() {}
