use orm_core::entity;

#[entity(after_load = derive_label)]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[transient]
    pub label: String,
}

// Must be `fn(&mut Receiver)`.
fn derive_label(r: &Receiver) -> String {
    format!("receiver {}", r.id)
}

fn main() {}
