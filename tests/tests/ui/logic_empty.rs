use orm_core::entity;

#[entity(logic(), fields())]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
}

fn main() {}
