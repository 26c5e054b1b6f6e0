use orm_core::entity;

#[entity(table = "documents", is_modified = "same_document")]
pub struct Document {
    #[key(auto)]
    pub id: i64,
    pub tags: String,
}

fn main() {}
