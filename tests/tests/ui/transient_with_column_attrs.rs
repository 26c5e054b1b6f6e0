use orm_core::entity;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[transient]
    #[key]
    pub cache: String,
    #[transient]
    #[column(index)]
    #[version]
    pub derived: i64,
}

fn main() {}
