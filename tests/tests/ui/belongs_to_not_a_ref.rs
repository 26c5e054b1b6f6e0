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
    #[belongs_to(Receiver, by = "receiver_id")]
    pub receiver: Option<Receiver>,
}

fn main() {}
