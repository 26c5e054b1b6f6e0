use orm_core::entity;

// Logic traits are attached with an empty impl: every method needs a default body.
pub trait ReceiverLogic: ReceiverFields {
    fn label(&self) -> String {
        format!("receiver {}", self.id())
    }
    fn route(&self) -> String;
}

#[entity(logic(ReceiverLogic))]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
}

fn main() {}
