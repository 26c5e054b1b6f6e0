use orm_core::prelude::*;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[has_many(Plane, by = "receiver_id")]
    pub planes: Many<Group>,
}

#[entity]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
    #[belongs_to(Group, by = "receiver_id")]
    pub receiver: Ref<Receiver>,
}

#[entity]
pub struct Group {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
}

fn main() {}
