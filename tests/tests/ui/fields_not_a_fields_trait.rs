use orm_core::entity;

// A trait without #[fields] has no macro for #[entity] to call.
pub trait AuditFields {
    fn updated_by(&self) -> &String;
}

#[entity(fields(AuditFields))]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    pub updated_by: String,
}

fn main() {}
