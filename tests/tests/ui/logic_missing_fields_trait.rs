use orm_core::{entity, fields};

#[fields]
pub trait AuditFields {
    fn updated_by(&self) -> &String;
}

pub trait Audited: AuditFields {
    fn who(&self) -> &str {
        self.updated_by()
    }
}

// `Audited` needs `AuditFields`, which the entity does not list in `fields(..)`.
#[entity(logic(Audited))]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    pub updated_by: String,
}

fn main() {}
