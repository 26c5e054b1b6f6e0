use orm_core::prelude::*;

#[entity]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
}

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[has_many("Plane", by = "receiver_id")]
    pub planes: Many<Plane>,
    #[belongs_to(&Plane, by = "id")]
    pub plane: Ref<Plane>,
}

fn main() {}
