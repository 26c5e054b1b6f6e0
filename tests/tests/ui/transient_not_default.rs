use orm_core::entity;

pub struct Connection;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    // Filled with Default::default() when built from a row.
    #[transient]
    pub connection: Connection,
}

fn main() {}
