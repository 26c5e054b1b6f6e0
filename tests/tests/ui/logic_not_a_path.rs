use orm_core::entity;

// A string or a reference is not a trait path; each is reported.
#[entity(logic("ReceiverLogic", &Audited))]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
}

fn main() {}
