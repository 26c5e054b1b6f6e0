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
    #[transient]
    pub cached_receiver_id: i64,
    #[belongs_to(Receiver, by = "reciever_id")]
    pub receiver: Ref<Receiver>,
    #[belongs_to(Receiver, by = "cached_receiver_id")]
    pub cached: Ref<Receiver>,
}

fn main() {}
