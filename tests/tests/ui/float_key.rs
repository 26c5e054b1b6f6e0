use orm_core::entity;

#[entity]
pub struct Reading {
    #[key]
    pub value: f64,
}

fn main() {}
