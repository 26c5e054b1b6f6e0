use orm_core::prelude::*;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
}

#[entity]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
    #[belongs_to(Receiver, by = "receiver_id", on_delete = "delete")]
    pub receiver: Ref<Receiver>,
    #[has_many(Part, by = "plane_id", via = "plane_parts", cascade)]
    pub parts: Many<Part>,
}

#[entity]
pub struct Part {
    #[key(auto)]
    pub id: i64,
    pub plane_id: i64,
}

fn main() {}
