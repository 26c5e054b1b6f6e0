use orm_core::prelude::*;

pub struct Plane {
    pub id: i64,
    pub receiver_id: i64,
}

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[has_many(Plane, by = "receiver_id")]
    pub planes: Many<Plane>,
}

fn main() {}
