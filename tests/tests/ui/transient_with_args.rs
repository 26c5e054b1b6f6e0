use orm_core::entity;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[transient(skip)]
    pub cache: String,
    #[transient = true]
    #[transient]
    pub other: String,
}

fn main() {}
