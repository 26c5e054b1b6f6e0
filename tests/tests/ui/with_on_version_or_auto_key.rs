use orm_core::prelude::*;

#[entity]
pub struct Receiver {
    #[key(auto)]
    #[column(with = AsText)]
    pub id: i64,
    #[version]
    #[column(with = AsText)]
    pub version: i64,
}

fn main() {}
