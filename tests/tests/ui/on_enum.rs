use orm_core::entity;

#[entity]
pub enum Status {
    Active,
    Banned,
}

fn main() {}
