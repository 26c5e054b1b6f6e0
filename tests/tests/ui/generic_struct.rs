use orm_core::entity;

#[entity]
pub struct Wrapper<T> {
    #[key]
    pub id: i64,
    pub value: T,
}

fn main() {}
