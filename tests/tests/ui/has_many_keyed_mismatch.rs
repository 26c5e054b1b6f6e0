use orm_core::prelude::*;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[has_many(Plane, by = "receiver_id")]
    pub planes: Keyed<String, Plane>,
    #[has_many(Plane, by = "receiver_id", keyed_by = "name")]
    pub by_name: Many<Plane>,
    #[has_many(Plane, by = "receiver_id")]
    pub list: Vec<Plane>,
}

#[entity]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
    pub name: String,
}

fn main() {}
