use orm_core::prelude::*;

#[entity]
pub struct Person {
    #[key(auto)]
    pub id: i64,
    #[many_to_many(Self, via = "friendships")]
    pub friends: Many<Person>,
}

fn main() {}
