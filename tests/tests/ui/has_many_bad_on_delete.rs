use orm_core::prelude::*;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[has_many(Plane, by = "receiver_id", on_delete = "cascade", orphans = "keep")]
    pub planes: Many<Plane>,
    #[has_many(Plane, by = "receiver_id", on_delete = detach, by = "id")]
    pub others: Many<Plane>,
}

#[entity]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
}

fn main() {}
