use orm_core::{entity, fields};

#[fields]
pub trait AuditFields {
    fn updated_by(&self) -> &str;
}

// The accessor returns the entity's field type, `&String`, not `&str`.
#[entity(fields(AuditFields))]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    pub updated_by: String,
}

fn main() {}
