use orm_core::prelude::*;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[has_many(Plane, by = "reciever_id", keyed_by = "title")]
    pub planes: Keyed<String, Plane>,
}

#[entity]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
    pub name: String,
}

fn main() {}
