use orm_core::entity;

#[entity(after_load = "derive_label", after_load)]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
}

fn main() {}
