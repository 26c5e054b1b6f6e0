use orm_core::entity;

#[entity]
pub struct Pair(i64, i64);

fn main() {}
