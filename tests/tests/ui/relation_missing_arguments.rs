use orm_core::prelude::*;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    pub owner_id: i64,
    #[belongs_to(Owner)]
    pub owner: Ref<Owner>,
    #[has_many(Plane)]
    pub planes: Many<Plane>,
    #[many_to_many(Group)]
    pub groups: Many<Group>,
    #[many_to_many(via = "receiver_groups")]
    pub other_groups: Many<Group>,
    #[has_many]
    pub more_planes: Many<Plane>,
}

#[entity]
pub struct Owner {
    #[key(auto)]
    pub id: i64,
}

#[entity]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub receiver_id: i64,
}

#[entity]
pub struct Group {
    #[key(auto)]
    pub id: i64,
}

fn main() {}
