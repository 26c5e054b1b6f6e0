use orm_core::prelude::*;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[has_many(Plane, by = "receiver_id")]
    #[column(index)]
    pub planes: Many<Plane>,
    #[transient]
    #[many_to_many(Plane, via = "receiver_planes")]
    pub others: Many<Plane>,
    #[has_many(Plane, by = "receiver_id")]
    #[many_to_many(Plane, via = "receiver_planes")]
    pub both: Many<Plane>,
}

#[entity]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
}

fn main() {}
