use orm_core::entity;

pub trait ReceiverLogic {}

// `logic` takes a parenthesised list of traits.
#[entity(logic = ReceiverLogic)]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
}

fn main() {}
