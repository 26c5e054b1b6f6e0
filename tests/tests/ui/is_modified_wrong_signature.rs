use orm_core::entity;

#[entity(is_modified = tags_changed)]
pub struct Document {
    #[key(auto)]
    pub id: i64,
    pub tags: String,
}

// The test takes both objects; this one takes only one.
fn tags_changed(document: &Document) -> bool {
    document.tags.is_empty()
}

fn main() {}
