use orm_core::entity;

pub trait ReceiverLogic {}

// The same trait twice in one list, and a second `logic(..)`.
#[entity(logic(ReceiverLogic, ReceiverLogic), logic(ReceiverLogic))]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
}

fn main() {}
