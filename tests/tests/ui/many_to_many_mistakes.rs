use orm_core::prelude::*;

#[entity]
pub struct Person {
    #[key(auto)]
    pub id: i64,
    #[many_to_many(Group, via = "")]
    pub groups: Ref<Group>,
    #[many_to_many(Group, via = "person_groups", target_column = "person_id")]
    pub more_groups: Many<Group>,
}

#[entity]
pub struct Group {
    #[key(auto)]
    pub id: i64,
}

fn main() {}
