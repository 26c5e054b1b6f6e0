use orm_core::entity;

// `ReceiverFields` would get `set_name` twice: the setter of `name` and the accessor of `set_name`.
#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    pub name: String,
    pub set_name: bool,
}

fn main() {}
